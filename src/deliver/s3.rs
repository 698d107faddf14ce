//! The S3 `ObjectStore`: multipart upload with server-side encryption and
//! presigned GET URLs.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_sdk_s3::Client;

use super::{ObjectMeta, ObjectStore, ObjectStoreError};
use crate::aws::sdk_error;

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

#[async_trait]
impl ObjectStore for S3Objects {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&meta.content_type)
            .content_disposition(&meta.content_disposition)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(sdk_error("CreateMultipartUpload"))?;
        out.upload_id
            .ok_or_else(|| ObjectStoreError::other("CreateMultipartUpload returned no upload id"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
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
            .map_err(sdk_error("UploadPart"))?;
        out.e_tag
            .ok_or_else(|| ObjectStoreError::other("UploadPart returned no ETag"))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
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
            .map_err(sdk_error("CompleteMultipartUpload"))?;
        Ok(())
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ObjectStoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(sdk_error("AbortMultipartUpload"))?;
        Ok(())
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(err)
                if err.as_service_error().is_some_and(
                    aws_sdk_s3::operation::head_object::HeadObjectError::is_not_found,
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(sdk_error("HeadObject")(err).into()),
        }
    }

    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        // An export's key is its own (a fresh UUID): one upload at most,
        // far below a page of 1,000.
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await
            .map_err(sdk_error("ListMultipartUploads"))?;
        Ok(out
            .uploads()
            .iter()
            .filter(|u| u.key() == Some(key))
            .filter_map(|u| u.upload_id().map(str::to_string))
            .collect())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| ObjectStoreError::other(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(sdk_error("presign GetObject"))?;
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

    /// S3 calls seen by a scripted S3: (operation, part number).
    type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<i32>)>>>;

    /// An `S3Objects` over a scripted S3 at the SDK's HTTP layer: every
    /// UploadPart answers `part_status` with the error `part_code`; the
    /// other multipart calls succeed. SDK retries wait about 1 ms.
    fn scripted(part_status: u16, part_code: &'static str) -> (S3Objects, Calls) {
        use aws_smithy_http_client::test_util::infallible_client_fn;
        let calls: Calls = Default::default();
        let log = calls.clone();
        let http = infallible_client_fn(move |req| {
            let query = req.uri().query().unwrap_or_default().to_string();
            let part = query
                .split('&')
                .find_map(|p| p.strip_prefix("partNumber="))
                .and_then(|n| n.parse().ok());
            let op = match (req.method().as_str(), part.is_some()) {
                ("POST", _) if query.contains("uploads") => "CreateMultipartUpload",
                ("PUT", true) => "UploadPart",
                ("POST", _) => "CompleteMultipartUpload",
                ("DELETE", _) => "AbortMultipartUpload",
                (other, _) => panic!("unexpected S3 call {other} ?{query}"),
            };
            log.lock().unwrap().push((op.to_string(), part));
            let xml = |status: u16, body: String| {
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/xml")
                    .header("etag", "\"etag-1\"")
                    .body(body)
                    .unwrap()
            };
            match op {
                "CreateMultipartUpload" => xml(
                    200,
                    "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                     <UploadId>up-1</UploadId></InitiateMultipartUploadResult>"
                        .into(),
                ),
                "UploadPart" => xml(
                    part_status,
                    format!(
                        "<Error><Code>{part_code}</Code>\
                         <Message>injected pii-leak@x.example</Message></Error>"
                    ),
                ),
                "CompleteMultipartUpload" => xml(
                    200,
                    "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                     <ETag>\"e\"</ETag></CompleteMultipartUploadResult>"
                        .into(),
                ),
                _ => xml(204, String::new()),
            }
        });
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .retry_config(crate::aws::retry_config().with_initial_backoff(Duration::from_millis(1)))
            .http_client(http)
            .build();
        (S3Objects::new(Client::from_conf(config), "b"), calls)
    }

    async fn upload(s3: &S3Objects) -> crate::error::ExportError {
        let deadline = crate::deadline::Deadline::after(Duration::from_secs(60));
        let target = super::super::Target {
            objects: s3,
            key: "k".into(),
            meta: ObjectMeta {
                content_type: "text/csv; charset=utf-8".into(),
                content_disposition: "attachment".into(),
            },
            inline: None,
            part_size: 0,
            deadline: &deadline,
        };
        let mut sink = super::super::Sink::new(target);
        let result = async {
            sink.write(b"First Name\r\nAda\r\n").await?;
            sink.finish().await
        }
        .await;
        if result.is_err() {
            sink.abort().await;
        }
        result.unwrap_err()
    }

    fn ops(calls: &Calls) -> Vec<String> {
        calls
            .lock()
            .unwrap()
            .iter()
            .map(|(op, _)| op.clone())
            .collect()
    }

    #[tokio::test]
    async fn throttled_or_failing_parts_are_a_503_and_the_upload_is_aborted() {
        for (status, code) in [
            (503, "SlowDown"),
            (503, "ServiceUnavailable"),
            (500, "InternalError"),
        ] {
            let (s3, calls) = scripted(status, code);
            let err = upload(&s3).await;
            assert_eq!(err.status().as_u16(), 503, "{code}: {err}");
            assert!(err.to_string().contains(code), "the cause is logged: {err}");
            assert!(
                err.to_string()
                    .contains(&format!("UploadPart: {code} (HTTP {status})")),
                "by code and status: {err}"
            );
            assert!(
                !err.to_string().contains("pii-leak"),
                "never the service's message, which may quote the request: {err}"
            );
            assert_eq!(
                ops(&calls),
                [
                    "CreateMultipartUpload",
                    "UploadPart",
                    "UploadPart",
                    "UploadPart",
                    "AbortMultipartUpload"
                ],
                "{code}: the SDK retries the part, then the upload is aborted"
            );
        }
    }

    #[tokio::test]
    async fn access_denied_is_a_500_and_the_upload_is_aborted() {
        let (s3, calls) = scripted(403, "AccessDenied");
        let err = upload(&s3).await;
        assert_eq!(err.status().as_u16(), 500, "{err}");
        assert_eq!(
            ops(&calls),
            [
                "CreateMultipartUpload",
                "UploadPart",
                "AbortMultipartUpload"
            ],
            "not retried"
        );
    }
}
