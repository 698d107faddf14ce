//! Getting the CSV to the client: inline (maybe gzip) when the serialized
//! Lambda response fits, otherwise a streamed S3 multipart upload and a
//! presigned link.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use flate2::{write::GzEncoder, Compression};

use crate::csv_export;
use crate::error::ExportError;
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
    let mut w = csv_export::writer(out);
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

/// The object store an export is uploaded to (S3, or a fake in tests).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Starts a multipart upload; returns its id.
    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String, String>;
    /// Uploads part `number` (from 1); returns its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, String>;
    /// Completes the upload from its parts' numbers and ETags.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), String>;
    /// Aborts the upload, discarding its parts.
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), String>;
    /// A URL that lets anyone holding it GET the object for `ttl`.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, String>;
}

/// The headers and metadata stored with an uploaded export.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub content_type: String,
    pub content_disposition: String,
    pub count: usize,
}

/// Streams the CSV to `key` as a multipart upload in parts of at least
/// `part_size` bytes (memory holds about one part). Any failure aborts the
/// upload, so no object and no open upload is left behind.
pub async fn upload_csv(
    store: &dyn ObjectStore,
    key: &str,
    meta: &ObjectMeta,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
    part_size: usize,
) -> Result<(), ExportError> {
    let part_size = part_size.max(MIN_PART_SIZE);
    let upload_id = store
        .create_multipart(key, meta)
        .await
        .map_err(|e| ExportError::internal(format!("CreateMultipartUpload: {e}")))?;
    let result = upload_parts(store, key, &upload_id, fields, leads, format, part_size).await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "export upload failed; aborting it");
        if let Err(abort) = store.abort(key, &upload_id).await {
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
    let mut w = csv_export::writer(buffer.clone());
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
                .map_err(|e| ExportError::internal(format!("UploadPart {number}: {e}")))?;
            parts.push((number, etag));
        }
    }
    if parts.is_empty() {
        // Only the header row: still one part.
        w.flush().map_err(ExportError::internal)?;
        let etag = store
            .upload_part(key, upload_id, 1, buffer.take())
            .await
            .map_err(|e| ExportError::internal(format!("UploadPart 1: {e}")))?;
        parts.push((1, etag));
    }
    store
        .complete(key, upload_id, parts)
        .await
        .map_err(|e| ExportError::internal(format!("CompleteMultipartUpload: {e}")))
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
        part_sizes: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl ObjectStore for Failing {
        async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String, String> {
            self.inner.create_multipart(key, meta).await
        }
        async fn upload_part(
            &self,
            key: &str,
            id: &str,
            number: i32,
            body: Vec<u8>,
        ) -> Result<String, String> {
            if self.fail_part == Some(number) {
                return Err("injected part failure".into());
            }
            self.part_sizes.lock().unwrap().push(body.len());
            self.inner.upload_part(key, id, number, body).await
        }
        async fn complete(
            &self,
            key: &str,
            id: &str,
            parts: Vec<(i32, String)>,
        ) -> Result<(), String> {
            if self.fail_complete {
                return Err("injected complete failure".into());
            }
            self.inner.complete(key, id, parts).await
        }
        async fn abort(&self, key: &str, id: &str) -> Result<(), String> {
            self.inner.abort(key, id).await
        }
        async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, String> {
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
        upload_csv(&store, "k", &meta(all.len()), &fields, &all, &fmt, 0)
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
        for store in [
            Failing {
                fail_part: Some(1),
                ..Failing::default()
            },
            Failing {
                fail_complete: true,
                ..Failing::default()
            },
        ] {
            let err = upload_csv(
                &store,
                "k",
                &meta(10),
                &fields,
                &all,
                &CsvFormat::default(),
                0,
            )
            .await
            .unwrap_err();
            assert!(matches!(err, ExportError::Internal(_)));
            assert_eq!(store.inner.open_uploads(), 0, "upload left open");
            assert!(store.inner.keys().is_empty(), "object left behind");
        }
    }
}
