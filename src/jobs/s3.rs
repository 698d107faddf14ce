//! The staged objects of the jobs in S3: beside each job's file in the
//! exports bucket (under `exports/`, so the bucket's lifecycle rule
//! removes what a job leaves), encrypted like the files.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;

use super::Staging;
use crate::aws::sdk_error;
use crate::error::{Fault, FaultKind};

/// Staged objects in `bucket`.
pub struct S3Staging {
    client: Client,
    bucket: String,
}

impl S3Staging {
    /// Objects go to `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Staging {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl Staging for S3Staging {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Fault> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_error("PutObject"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, Fault> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error("GetObject"))?;
        let body = out.body.collect().await.map_err(|_| Fault {
            kind: FaultKind::Transient,
            message: "GetObject: the body was cut".into(),
        })?;
        Ok(body.into_bytes().to_vec())
    }

    async fn delete(&self, key: &str) -> Result<(), Fault> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error("DeleteObject"))?;
        Ok(())
    }
}
