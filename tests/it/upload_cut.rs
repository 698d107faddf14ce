//! No upload left open when the deadline cuts a call that reached S3:
//! a slow `ObjectStore` in front of the real `S3Objects` (moto) lets
//! `CreateMultipartUpload` or `UploadPart` through to S3, then holds the
//! answer past the deadline. The export answers 504 in time, and listing
//! the bucket's multipart uploads afterwards finds none open, and no object.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lead_export::aws;
use lead_export::deadline::RESPONSE_MARGIN;
use lead_export::deliver::s3::S3Objects;
use lead_export::deliver::{ObjectMeta, ObjectStore, ObjectStoreError};
use lead_export::demo::demo_leads;
use lead_export::http::handle;
use lead_export::store::MemoryStore;
use serde_json::json;
use support::*;

/// Which call reaches S3 and then answers late.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Late {
    Create,
    Part,
}

/// `S3Objects`, one kind of call answered `HOLD` after S3 has done it.
struct LateAnswers {
    inner: S3Objects,
    late: Late,
    /// Calls of the late kind that S3 carried out.
    reached: AtomicUsize,
}

/// Far past any deadline here.
const HOLD: Duration = Duration::from_secs(30);

#[async_trait]
impl ObjectStore for LateAnswers {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        let id = self.inner.create_multipart(key, meta).await?;
        if self.late == Late::Create {
            self.reached.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(HOLD).await;
        }
        Ok(id)
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        n: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        let etag = self.inner.upload_part(key, id, n, body).await?;
        if self.late == Late::Part {
            self.reached.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(HOLD).await;
        }
        Ok(etag)
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.inner.complete(key, id, parts).await
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.inner.abort(key, id).await
    }
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        self.inner.size_of(key).await
    }
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        self.inner.uploads_of(key).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.inner.presign_get(key, ttl).await
    }
}

async fn a_late_answer_leaves_no_upload_open(late: Late) {
    let endpoint = moto_endpoint();
    let bucket = unique("cut-exports");
    let cfg = config(&[("AWS_ENDPOINT_URL", &endpoint), ("EXPORTS_BUCKET", &bucket)]);
    let (_, s3) = aws::clients(&cfg).await;
    aws::ensure_bucket(&s3, &bucket).await.unwrap();
    let objects = Arc::new(LateAnswers {
        inner: S3Objects::new(s3.clone(), &bucket),
        late,
        reached: AtomicUsize::new(0),
    });
    let leads = demo_leads(1, 20);
    let store = MemoryStore::new();
    store.insert(ORG_A, leads.clone());
    let mut app = app_with(&cfg, Arc::new(store), objects.clone());
    // The answer is due 1.5 s after the start; uploads stop 1 s earlier.
    let timeout = RESPONSE_MARGIN + Duration::from_millis(1500);
    app.timeout = timeout;
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    let mut req = post_as(
        ORG_A,
        &json!({"selection": {"mode": "manual", "includedIds": ids}}),
    );
    // The JSON link: the file goes to S3 whatever its size.
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let started = Instant::now();
    let resp = handle(&app, req).await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 504, "{late:?}: {}", body_json(&resp));
    assert_eq!(body_json(&resp)["error"]["code"], "EXPORT_TIMEOUT");
    assert!(
        elapsed < timeout - RESPONSE_MARGIN,
        "{late:?}: answered after {elapsed:?}"
    );
    assert_eq!(
        objects.reached.load(Ordering::SeqCst),
        1,
        "{late:?}: the late call reached S3"
    );
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let open: Vec<_> = uploads
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default(),
                u.upload_id().unwrap_or_default(),
            )
        })
        .collect();
    assert!(open.is_empty(), "{late:?}: uploads left open: {open:?}");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{late:?}: no object");
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_create_cut_after_s3_created_the_upload_leaves_none_open() {
    a_late_answer_leaves_no_upload_open(Late::Create).await;
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_part_cut_after_s3_stored_it_leaves_no_upload_open() {
    a_late_answer_leaves_no_upload_open(Late::Part).await;
}
