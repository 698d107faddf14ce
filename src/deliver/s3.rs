//! The S3 `ObjectStore`: multipart upload with server-side encryption and
//! presigned GET URLs.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_sdk_s3::Client;

use super::{ObjectMeta, ObjectStore};

/// Exports uploaded to one bucket.
#[derive(Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    /// Uploads go to `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Objects {
            client,
            bucket: bucket.into(),
        }
    }
}

fn err<E, R>(op: &'static str) -> impl Fn(aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| {
        format!(
            "{op}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String, String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&meta.content_type)
            .content_disposition(&meta.content_disposition)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata("export-count", meta.count.to_string())
            .send()
            .await
            .map_err(err("CreateMultipartUpload"))?;
        out.upload_id
            .ok_or_else(|| "CreateMultipartUpload returned no upload id".to_string())
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, String> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(err("UploadPart"))?;
        out.e_tag
            .ok_or_else(|| "UploadPart returned no ETag".to_string())
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), String> {
        let parts = parts
            .into_iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(err("CompleteMultipartUpload"))?;
        Ok(())
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), String> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(err("AbortMultipartUpload"))?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, String> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| e.to_string())?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(err("presign GetObject"))?;
        Ok(request.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn client(endpoint: Option<&str>) -> Client {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ));
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Client::from_conf(config.build())
    }

    #[tokio::test]
    async fn presigned_url_expires_and_signs_only_the_host() {
        let s3 = S3Objects::new(client(None), "exports-bucket");
        let url = s3
            .presign_get("exports/org-1/2026/11/26/abc.csv", Duration::from_secs(900))
            .await
            .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            parsed.host_str(),
            Some("exports-bucket.s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(parsed.path(), "/exports/org-1/2026/11/26/abc.csv");
        assert_eq!(q["X-Amz-Expires"], "900");
        assert_eq!(q["X-Amz-SignedHeaders"], "host");
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert!(q["X-Amz-Credential"].starts_with("AKIDEXAMPLE/"));
        assert!(q["X-Amz-Credential"].ends_with("/eu-west-1/s3/aws4_request"));
        assert_eq!(q["X-Amz-Signature"].len(), 64);
    }

    #[tokio::test]
    async fn presigning_refuses_more_than_seven_days() {
        let s3 = S3Objects::new(client(None), "b");
        assert!(s3
            .presign_get("k", Duration::from_secs(7 * 24 * 3600 + 1))
            .await
            .is_err());
        assert!(s3
            .presign_get("k", Duration::from_secs(7 * 24 * 3600))
            .await
            .is_ok());
    }
}
