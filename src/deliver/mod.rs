//! Getting the CSV to the client: inline (maybe gzip) when the serialized
//! Lambda response fits, otherwise a streamed S3 multipart upload and a
//! presigned link.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use flate2::{write::GzEncoder, Compression};

use crate::csv_export;
use crate::deadline::{Deadline, ABORT_RESERVE, FINISH_RESERVE};
use crate::error::{ExportError, FaultKind};
use crate::fields::FieldList;
use crate::model::Lead;
use crate::request::CsvFormat;

pub mod memory;
pub mod s3;

/// Lambda's limit on a serialized synchronous response, in bytes.
pub const LAMBDA_RESPONSE_LIMIT: usize = 6_291_556;
/// Room kept for what our estimate of the response envelope may miss.
pub const SAFETY_MARGIN: usize = 64 * 1024;
/// S3's smallest part (but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The largest serialized response sent inline: the Lambda limit less the
/// safety margin, or `INLINE_MAX_BYTES` when that is lower.
pub fn inline_limit(configured: Option<usize>) -> usize {
    let hard = LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN;
    configured.map_or(hard, |c| c.min(hard))
}

/// What the serialized response costs besides its body: status, flags and
/// each header twice (REST APIs get `headers` and `multiValueHeaders`).
pub fn envelope_bytes<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    let headers: usize = headers
        .into_iter()
        .map(|(name, value)| {
            2 * (json_string_len(name.as_bytes()) + json_string_len(value.as_bytes()) + 4)
        })
        .sum();
    256 + headers
}

/// Length of `bytes` as a JSON string (with its quotes), escaped the way
/// serde_json escapes it (non-ASCII UTF-8 is left as it is).
pub fn json_string_len(bytes: &[u8]) -> usize {
    2 + bytes
        .iter()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Length of `n` bytes in base64 (a binary body).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The CSV, row by row, into `out`; after each row `keep_going` sees the
/// sink and may stop the rendering (then `None`).
fn render<W: Write>(
    out: W,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    mut keep_going: impl FnMut(&W) -> bool,
) -> Result<Option<W>, ExportError> {
    let mut w = csv_export::writer(out, format).map_err(ExportError::internal)?;
    csv_export::write_header(&mut w, fields).map_err(ExportError::internal)?;
    for lead in leads {
        csv_export::write_row(&mut w, fields, lead, format).map_err(ExportError::internal)?;
        w.flush().map_err(ExportError::internal)?;
        if !keep_going(w.get_ref()) {
            return Ok(None);
        }
    }
    w.into_inner()
        .map(Some)
        .map_err(|e| ExportError::internal(e.error()))
}

/// The plain CSV if its JSON-escaped size stays within `budget`.
pub fn inline_text(
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    budget: usize,
) -> Result<Option<Vec<u8>>, ExportError> {
    let mut escaped = 2usize;
    let mut seen = 0usize;
    let out = render(Vec::new(), fields, leads, format, |buf: &Vec<u8>| {
        escaped += json_string_len(&buf[seen..]) - 2;
        seen = buf.len();
        escaped <= budget
    })?;
    Ok(out.filter(|csv| json_string_len(csv) <= budget))
}

/// The gzip-encoded CSV if its base64 size stays within `budget`.
pub fn inline_gzip(
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    budget: usize,
) -> Result<Option<Vec<u8>>, ExportError> {
    let encoder = GzEncoder::new(Vec::new(), Compression::fast());
    let out = render(
        encoder,
        fields,
        leads,
        format,
        |enc: &GzEncoder<Vec<u8>>| base64_len(enc.get_ref().len()) <= budget,
    )?;
    match out {
        None => Ok(None),
        Some(enc) => {
            let gz = enc.finish().map_err(ExportError::internal)?;
            Ok((base64_len(gz.len()) <= budget).then_some(gz))
        }
    }
}

/// A failure of the object store: whether a retry may help, and a message
/// for the log only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("object store: {message}")]
pub struct ObjectStoreError {
    /// Transient (throttling such as `SlowDown`, timeout, 5xx) or not.
    pub kind: FaultKind,
    /// What failed, for the log.
    pub message: String,
}

impl ObjectStoreError {
    /// A failure a retry will not fix.
    pub fn other(message: impl Into<String>) -> Self {
        ObjectStoreError {
            kind: FaultKind::Other,
            message: message.into(),
        }
    }

    /// A failure that may pass when retried later.
    pub fn transient(message: impl Into<String>) -> Self {
        ObjectStoreError {
            kind: FaultKind::Transient,
            message: message.into(),
        }
    }

    /// The error prefixed with the step that failed, kind kept.
    fn during(self, step: impl std::fmt::Display) -> ExportError {
        ExportError::from_fault(self.kind, format!("{step}: {}", self.message))
    }
}

impl From<ObjectStoreError> for ExportError {
    /// Transient → 503, anything else → 500.
    fn from(err: ObjectStoreError) -> Self {
        ExportError::from_fault(err.kind, &err)
    }
}

/// The object store an export is uploaded to (S3, or a fake in tests).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Starts a multipart upload; returns its id.
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError>;
    /// Uploads part `number` (from 1); returns its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError>;
    /// Completes the upload from its parts' numbers and ETags.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError>;
    /// Aborts the upload, discarding its parts.
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ObjectStoreError>;
    /// A URL that lets anyone holding it GET the object for `ttl`.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError>;
}

/// The headers and metadata stored with an uploaded export.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub content_type: String,
    pub content_disposition: String,
    pub count: usize,
}

/// Streams the CSV to `key` as a multipart upload in parts of at least
/// `part_size` bytes (memory holds about one part). Any failure, or the
/// `deadline` coming ([`ABORT_RESERVE`] before the answer is due, so that
/// the abort fits), aborts the upload: no object and no open upload is left
/// behind.
// One argument per independent input; the one-pass rendering planned in
// issue 9 will gather them into a sink.
#[allow(clippy::too_many_arguments)]
pub async fn upload_csv(
    store: &dyn ObjectStore,
    key: &str,
    meta: &ObjectMeta,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    part_size: usize,
    deadline: &Deadline,
) -> Result<(), ExportError> {
    let part_size = part_size.max(MIN_PART_SIZE);
    let upload_id = deadline
        .run("starting the upload", ABORT_RESERVE, async {
            store
                .create_multipart(key, meta)
                .await
                .map_err(|e| e.during("CreateMultipartUpload"))
        })
        .await?;
    let parts = upload_parts(store, key, &upload_id, fields, leads, format, part_size);
    let result = deadline
        .run("uploading the file", ABORT_RESERVE, parts)
        .await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "export upload failed; aborting it");
        let abort = deadline
            .run("aborting the upload", FINISH_RESERVE, async {
                store
                    .abort(key, &upload_id)
                    .await
                    .map_err(ExportError::from)
            })
            .await;
        if let Err(abort) = abort {
            tracing::error!(error = %abort, "AbortMultipartUpload failed");
        }
    }
    result
}

async fn upload_parts(
    store: &dyn ObjectStore,
    key: &str,
    upload_id: &str,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    part_size: usize,
) -> Result<(), ExportError> {
    let buffer = PartBuffer::default();
    let mut w = csv_export::writer(buffer.clone(), format).map_err(ExportError::internal)?;
    csv_export::write_header(&mut w, fields).map_err(ExportError::internal)?;
    let mut parts = Vec::new();
    let mut rows = leads.iter().peekable();
    while let Some(lead) = rows.next() {
        csv_export::write_row(&mut w, fields, lead, format).map_err(ExportError::internal)?;
        w.flush().map_err(ExportError::internal)?;
        let last = rows.peek().is_none();
        if buffer.len() >= part_size || last {
            let number = parts.len() as i32 + 1;
            let etag = store
                .upload_part(key, upload_id, number, buffer.take())
                .await
                .map_err(|e| e.during(format!("UploadPart {number}")))?;
            parts.push((number, etag));
        }
    }
    if parts.is_empty() {
        // Only the header row: still one part.
        w.flush().map_err(ExportError::internal)?;
        let etag = store
            .upload_part(key, upload_id, 1, buffer.take())
            .await
            .map_err(|e| e.during("UploadPart 1"))?;
        parts.push((1, etag));
    }
    store
        .complete(key, upload_id, parts)
        .await
        .map_err(|e| e.during("CompleteMultipartUpload"))
}

/// Uploads a file already rendered in memory (an XLSX workbook) to `key`
/// as a multipart upload in parts of at least `part_size` bytes, with the
/// same deadline and abort rules as [`upload_csv`]: any failure leaves no
/// object and no open upload. (Kept apart from the CSV path: the one-pass
/// sink of issue 9 is to take this over.)
pub async fn upload_bytes(
    store: &dyn ObjectStore,
    key: &str,
    meta: &ObjectMeta,
    bytes: &[u8],
    part_size: usize,
    deadline: &Deadline,
) -> Result<(), ExportError> {
    let part_size = part_size.max(MIN_PART_SIZE);
    let upload_id = deadline
        .run("starting the upload", ABORT_RESERVE, async {
            store
                .create_multipart(key, meta)
                .await
                .map_err(|e| e.during("CreateMultipartUpload"))
        })
        .await?;
    let parts = async {
        let mut parts = Vec::new();
        // An empty file is still one (empty) part.
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![bytes]
        } else {
            bytes.chunks(part_size).collect()
        };
        for (number, chunk) in (1..).zip(chunks) {
            let etag = store
                .upload_part(key, &upload_id, number, chunk.to_vec())
                .await
                .map_err(|e| e.during(format!("UploadPart {number}")))?;
            parts.push((number, etag));
        }
        store
            .complete(key, &upload_id, parts)
            .await
            .map_err(|e| e.during("CompleteMultipartUpload"))
    };
    let result = deadline
        .run("uploading the file", ABORT_RESERVE, parts)
        .await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "export upload failed; aborting it");
        let abort = deadline
            .run("aborting the upload", FINISH_RESERVE, async {
                store
                    .abort(key, &upload_id)
                    .await
                    .map_err(ExportError::from)
            })
            .await;
        if let Err(abort) = abort {
            tracing::error!(error = %abort, "AbortMultipartUpload failed");
        }
    }
    result
}

/// The bytes of the part being filled, shared with the CSV writer.
#[derive(Clone, Default)]
struct PartBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl PartBuffer {
    fn len(&self) -> usize {
        self.0.lock().expect("lock poisoned").len()
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("lock poisoned"))
    }
}

impl Write for PartBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn json_length_counts_escapes() {
        assert_eq!(json_string_len(b"abc"), 5);
        assert_eq!(json_string_len(b"a\"b\n"), 2 + 6);
        assert_eq!(json_string_len(b"\x01"), 2 + 6);
        assert_eq!(json_string_len("é".as_bytes()), 2 + 2);
        for s in ["plain", "quote\"d", "line\r\nend", "tab\tx\u{1}", "ünï"] {
            assert_eq!(
                json_string_len(s.as_bytes()),
                serde_json::to_string(s).unwrap().len(),
                "{s:?}"
            );
        }
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(4), 8);
    }

    #[test]
    fn inline_limit_never_exceeds_lambdas() {
        assert_eq!(inline_limit(None), LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN);
        assert_eq!(inline_limit(Some(1000)), 1000);
        assert_eq!(
            inline_limit(Some(usize::MAX)),
            LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN
        );
    }

    fn leads(n: usize) -> Vec<Lead> {
        (0..n)
            .map(|i| Lead {
                id: format!("id-{i:05}"),
                first_name: format!("First \"{i}\""),
                last_name: "Last".into(),
                job_title: Some(format!("Title\n{i}")),
                ..Lead::default()
            })
            .collect()
    }

    #[test]
    fn inline_text_respects_the_budget_exactly() {
        let fields = FieldList::defaults();
        let all = leads(50);
        let fmt = CsvFormat::default();
        let full = crate::csv_export::to_csv(&fields, &all, &fmt);
        let need = json_string_len(&full);
        assert_eq!(
            inline_text(&fields, &all, &fmt, need).unwrap(),
            Some(full.clone())
        );
        assert_eq!(inline_text(&fields, &all, &fmt, need - 1).unwrap(), None);
    }

    #[test]
    fn inline_gzip_decodes_to_the_csv() {
        use std::io::Read;
        let fields = FieldList::defaults();
        let all = leads(500);
        let fmt = CsvFormat::default();
        let gz = inline_gzip(&fields, &all, &fmt, usize::MAX)
            .unwrap()
            .unwrap();
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut csv)
            .unwrap();
        assert_eq!(csv, crate::csv_export::to_csv(&fields, &all, &fmt));
        assert_eq!(
            inline_gzip(&fields, &all, &fmt, base64_len(gz.len()) - 4).unwrap(),
            None
        );
    }

    /// The in-memory object store, failing a chosen step.
    #[derive(Default)]
    struct Failing {
        inner: memory::MemoryObjects,
        fail_part: Option<i32>,
        fail_complete: bool,
        slow_part: Option<Duration>,
        part_sizes: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl ObjectStore for Failing {
        async fn create_multipart(
            &self,
            key: &str,
            meta: &ObjectMeta,
        ) -> Result<String, ObjectStoreError> {
            self.inner.create_multipart(key, meta).await
        }
        async fn upload_part(
            &self,
            key: &str,
            id: &str,
            number: i32,
            body: Vec<u8>,
        ) -> Result<String, ObjectStoreError> {
            if self.fail_part == Some(number) {
                return Err(ObjectStoreError::other("injected part failure"));
            }
            if let Some(delay) = self.slow_part {
                tokio::time::sleep(delay).await;
            }
            self.part_sizes.lock().unwrap().push(body.len());
            self.inner.upload_part(key, id, number, body).await
        }
        async fn complete(
            &self,
            key: &str,
            id: &str,
            parts: Vec<(i32, String)>,
        ) -> Result<(), ObjectStoreError> {
            if self.fail_complete {
                return Err(ObjectStoreError::transient("injected complete failure"));
            }
            self.inner.complete(key, id, parts).await
        }
        async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
            self.inner.abort(key, id).await
        }
        async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
            self.inner.presign_get(key, ttl).await
        }
    }

    fn meta(count: usize) -> ObjectMeta {
        ObjectMeta {
            content_type: "text/csv; charset=utf-8".into(),
            content_disposition: "attachment".into(),
            count,
        }
    }

    #[tokio::test]
    async fn multipart_parts_are_at_least_5_mib_and_rebuild_the_csv() {
        let fields = FieldList::from_ids(crate::fields::Field::ALL.iter().map(|f| f.id())).unwrap();
        let all = leads(120_000);
        let fmt = CsvFormat::default();
        let store = Failing::default();
        upload_csv(
            &store,
            "k",
            &meta(all.len()),
            &fields,
            &all,
            &fmt,
            0,
            &later(),
        )
        .await
        .unwrap();
        let sizes = store.part_sizes.lock().unwrap().clone();
        assert!(sizes.len() >= 2, "{sizes:?}");
        for size in &sizes[..sizes.len() - 1] {
            assert!(
                *size >= MIN_PART_SIZE && *size < MIN_PART_SIZE + 64 * 1024,
                "{sizes:?}"
            );
        }
        let (_, bytes) = store.inner.get("k").unwrap();
        assert_eq!(bytes, crate::csv_export::to_csv(&fields, &all, &fmt));
    }

    #[tokio::test]
    async fn a_failed_part_or_completion_aborts_the_upload() {
        let fields = FieldList::defaults();
        let all = leads(10);
        for (store, status) in [
            (
                Failing {
                    fail_part: Some(1),
                    ..Failing::default()
                },
                500,
            ),
            (
                Failing {
                    fail_complete: true,
                    ..Failing::default()
                },
                503,
            ),
        ] {
            let err = upload_csv(
                &store,
                "k",
                &meta(10),
                &fields,
                &all,
                &CsvFormat::default(),
                0,
                &later(),
            )
            .await
            .unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(store.inner.open_uploads(), 0, "upload left open");
            assert!(store.inner.keys().is_empty(), "object left behind");
        }
    }

    fn later() -> Deadline {
        Deadline::after(Duration::from_secs(60))
    }

    #[tokio::test]
    async fn an_upload_cut_by_the_deadline_is_aborted_in_time() {
        let fields = FieldList::defaults();
        let all = leads(10);
        let store = Failing {
            slow_part: Some(Duration::from_secs(30)),
            ..Failing::default()
        };
        let deadline = Deadline::after(
            crate::deadline::RESPONSE_MARGIN + ABORT_RESERVE + Duration::from_millis(200),
        );
        let err = upload_csv(
            &store,
            "k",
            &meta(10),
            &fields,
            &all,
            &CsvFormat::default(),
            0,
            &deadline,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::Timeout {
                    stage: "uploading the file"
                }
            ),
            "{err}"
        );
        assert!(tokio::time::Instant::now() < deadline.answer_by());
        assert_eq!(store.inner.open_uploads(), 0, "upload left open");
        assert!(store.inner.keys().is_empty(), "object left behind");
        // No time left for an upload: nothing is started.
        let none = Deadline::after(crate::deadline::RESPONSE_MARGIN);
        let err = upload_csv(
            &store,
            "k2",
            &meta(10),
            &fields,
            &all,
            &CsvFormat::default(),
            0,
            &none,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ExportError::Timeout { .. }), "{err}");
        assert_eq!(store.inner.open_uploads(), 0);
    }

    #[tokio::test]
    async fn uploaded_bytes_come_back_whole_in_parts_of_at_least_5_mib() {
        let bytes: Vec<u8> = (0..MIN_PART_SIZE * 2 + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        let store = Failing::default();
        upload_bytes(&store, "k.xlsx", &meta(3), &bytes, 0, &later())
            .await
            .unwrap();
        let sizes = store.part_sizes.lock().unwrap().clone();
        assert_eq!(sizes, [MIN_PART_SIZE, MIN_PART_SIZE, 123]);
        let (stored_meta, stored) = store.inner.get("k.xlsx").unwrap();
        assert_eq!(stored_meta, meta(3));
        assert_eq!(stored, bytes);
    }

    #[tokio::test]
    async fn a_failed_byte_upload_is_aborted() {
        let bytes = vec![7u8; MIN_PART_SIZE + 1];
        for (store, status) in [
            (
                Failing {
                    fail_part: Some(2),
                    ..Failing::default()
                },
                500,
            ),
            (
                Failing {
                    fail_complete: true,
                    ..Failing::default()
                },
                503,
            ),
        ] {
            let err = upload_bytes(&store, "k", &meta(1), &bytes, 0, &later())
                .await
                .unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(store.inner.open_uploads(), 0, "upload left open");
            assert!(store.inner.keys().is_empty(), "object left behind");
        }
    }
}
