//! Observability: what one request did ([`Outcome`]), the DynamoDB calls it
//! made (a task-local counter), the one structured log line per request and
//! the CloudWatch Embedded Metric Format (EMF) line per export.
//!
//! Nothing here carries lead data, a token or the `sub` claim: the log line
//! and the metrics hold ids, counts, sizes, durations and codes only.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::deliver::{ObjectMeta, ObjectStore, ObjectStoreError};
use crate::error::ExportError;
use crate::reply::Reply;

/// The EMF namespace of the metrics.
pub const METRICS_NAMESPACE: &str = "LeadExport";

/// What one request did, filled in by the export use case as it goes: who (once
/// authenticated), which selection, how many leads, how many bytes, where.
/// [`crate::export::run`] turns it into the audit record, the log line and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The authenticated caller; `None` before (or without) authentication.
    pub caller: Option<Caller>,
    /// `manual` or `bulk`, once the request parsed.
    pub mode: Option<&'static str>,
    /// SHA-256 (hex) of the canonical selection (see
    /// [`crate::audit::selection_hash`]).
    pub selection_hash: Option<String>,
    /// The exported field ids, in column order.
    pub fields: Vec<&'static str>,
    /// The file format (`csv`).
    pub format: Option<&'static str>,
    /// Leads in the file.
    pub count: Option<usize>,
    /// Stored items of the selection skipped because they could not be
    /// read into a lead, once the selection was read.
    pub skipped: Option<usize>,
    /// Bytes of the file delivered (after gzip when the response is gzip).
    pub bytes: Option<u64>,
    /// Inline, or the S3 object key.
    pub destination: Option<Destination>,
    /// The export job the request created, read or finished, if any.
    pub job_id: Option<String>,
}

/// Where an export went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// In the response body.
    Inline,
    /// Uploaded to S3 under this key (a link was returned).
    S3 {
        /// The object key.
        key: String,
    },
}

impl Destination {
    /// `inline` or `s3`: the metrics dimension and the log field.
    pub fn label(&self) -> &'static str {
        match self {
            Destination::Inline => "inline",
            Destination::S3 { .. } => "s3",
        }
    }

    /// The S3 key, if any.
    pub fn s3_key(&self) -> Option<&str> {
        match self {
            Destination::Inline => None,
            Destination::S3 { key } => Some(key),
        }
    }
}

/// The status and error code of a result: `OK`, the body's `error.code`,
/// or `NO_DATA` for the reference's plain `No data to export`.
pub fn status_and_code(result: &Result<Reply, ExportError>) -> (u16, String) {
    match result {
        Ok(reply) => (reply.status, "OK".into()),
        Err(err) => (err.status().as_u16(), error_code(err)),
    }
}

/// The code of an error's body (`VALIDATION_ERROR`, ...), `NO_DATA` for the
/// plain `{"error":"No data to export"}`.
pub fn error_code(err: &ExportError) -> String {
    err.body()["error"]["code"]
        .as_str()
        .unwrap_or("NO_DATA")
        .to_string()
}

// ------------------------------------------------------------ DynamoDB ----

tokio::task_local! {
    static DYNAMO: Arc<Counters>;
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    items_read: AtomicU64,
    items_scanned: AtomicU64,
}

/// The DynamoDB calls of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynamoUsage {
    /// Calls that returned (Query pages, BatchGetItem chunks and retries).
    pub requests: u64,
    /// Items returned to us (Query `Count`, BatchGetItem responses).
    pub items_read: u64,
    /// Items DynamoDB read to answer (Query `ScannedCount`).
    pub items_scanned: u64,
}

/// Runs `work` with a fresh DynamoDB counter and returns its output and what
/// it counted. Futures polled within `work` (such as concurrent
/// BatchGetItem chunks) see the counter; tasks it spawns do not.
pub async fn counting<F: Future>(work: F) -> (F::Output, DynamoUsage) {
    let counters = Arc::new(Counters::default());
    let out = DYNAMO.scope(counters.clone(), work).await;
    let usage = DynamoUsage {
        requests: counters.requests.load(Ordering::Relaxed),
        items_read: counters.items_read.load(Ordering::Relaxed),
        items_scanned: counters.items_scanned.load(Ordering::Relaxed),
    };
    (out, usage)
}

/// Counts one DynamoDB call that returned `items` items after reading
/// `scanned` (called at each SDK call site of the store). Outside
/// [`counting`] (the import tool, seeding) it does nothing.
pub fn dynamo_call(items: u64, scanned: u64) {
    let _ = DYNAMO.try_with(|c| {
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.items_read.fetch_add(items, Ordering::Relaxed);
        c.items_scanned.fetch_add(scanned, Ordering::Relaxed);
    });
}

// ------------------------------------------------------------ Log line ----

/// Whether the audit record of a request was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditState {
    /// Written.
    Written,
    /// The write failed (a served export became a 503).
    Failed,
    /// Not written: the request was refused before authentication.
    None,
}

impl AuditState {
    /// `written`, `failed` or `none`.
    pub fn label(self) -> &'static str {
        match self {
            AuditState::Written => "written",
            AuditState::Failed => "failed",
            AuditState::None => "none",
        }
    }
}

/// Everything the request's log line and metrics say.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// What the export did.
    pub outcome: &'a Outcome,
    /// The final answer: status and code (`OK` or the error code).
    pub status: u16,
    /// `OK` or the error's code.
    pub code: &'a str,
    /// The error's cause, for the log (never sent to the client; see
    /// [`ExportError::log_cause`]).
    pub error: Option<String>,
    /// The request's duration.
    pub duration: Duration,
    /// Its DynamoDB calls.
    pub dynamo: DynamoUsage,
    /// The audit record's fate.
    pub audit: AuditState,
}

/// Logs the one line of a request: `export served` (info), `export refused`
/// (4xx, info) or `export failed` (5xx, error), with the request id,
/// organization, mode, format, count, skipped (unreadable stored items), bytes, destination, duration,
/// DynamoDB requests and items, status, code and audit state. In Lambda
/// (JSON logs) it is one JSON object.
pub fn log_request(r: &Report<'_>) {
    let o = r.outcome;
    let org = o.caller.as_ref().map(|c| c.org.as_str());
    let destination = o.destination.as_ref().map(Destination::label);
    let s3_key = o.destination.as_ref().and_then(Destination::s3_key);
    let duration_ms = r.duration.as_millis() as u64;
    let count = o.count.map(|c| c as u64);
    let skipped = o.skipped.map(|c| c as u64);
    macro_rules! line {
        ($level:ident, $message:literal) => {
            tracing::$level!(
                request_id = r.request_id,
                org,
                mode = o.mode,
                format = o.format,
                count,
                skipped,
                bytes = o.bytes,
                destination,
                s3_key,
                duration_ms,
                dynamo_requests = r.dynamo.requests,
                dynamo_items_read = r.dynamo.items_read,
                dynamo_items_scanned = r.dynamo.items_scanned,
                status = r.status,
                code = r.code,
                audit = r.audit.label(),
                error = r.error.as_deref(),
                $message
            )
        };
    }
    if r.status >= 500 {
        line!(error, "export failed");
    } else if r.status >= 400 {
        line!(info, "export refused");
    } else {
        line!(info, "export served");
    }
}

// ------------------------------------------------------------- Metrics ----

/// Where EMF lines go: stdout in Lambda (CloudWatch Logs extracts the
/// metrics), a buffer in tests.
pub trait MetricsSink: Send + Sync {
    /// Writes one line (no trailing newline in `line`).
    fn emit(&self, line: &str);
}

/// Writes each line to stdout in one locked write.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutMetrics;

impl MetricsSink for StdoutMetrics {
    fn emit(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(format!("{line}\n").as_bytes());
        let _ = out.flush();
    }
}

/// Keeps the lines in memory.
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    lines: Mutex<Vec<String>>,
}

impl MemoryMetrics {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines emitted so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock poisoned").clone()
    }
}

impl MetricsSink for MemoryMetrics {
    fn emit(&self, line: &str) {
        self.lines
            .lock()
            .expect("lock poisoned")
            .push(line.to_string());
    }
}

/// The EMF line of a served export: `ExportCount` (leads), `ExportBytes`,
/// `DurationMs` and `DynamoItemsRead` under [`METRICS_NAMESPACE`], by
/// `Mode` and `Destination`; `None` when the request served no export.
pub fn emf_line(r: &Report<'_>, at: OffsetDateTime) -> Option<String> {
    let o = r.outcome;
    if r.code != "OK" {
        return None;
    }
    let (mode, destination, count) = (o.mode?, o.destination.as_ref()?, o.count?);
    let timestamp = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    let line = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Mode", "Destination"]],
                "Metrics": [
                    {"Name": "ExportCount", "Unit": "Count"},
                    {"Name": "ExportBytes", "Unit": "Bytes"},
                    {"Name": "DurationMs", "Unit": "Milliseconds"},
                    {"Name": "DynamoItemsRead", "Unit": "Count"},
                ],
            }],
        },
        "Mode": mode,
        "Destination": destination.label(),
        "ExportCount": count,
        "ExportBytes": o.bytes.unwrap_or(0),
        "DurationMs": r.duration.as_millis() as u64,
        "DynamoItemsRead": r.dynamo.items_read,
        "requestId": r.request_id,
    });
    Some(line.to_string())
}

/// What an ended export job's metrics say.
#[derive(Debug, Clone, Copy)]
pub struct JobEnd<'a> {
    /// The job id.
    pub job_id: &'a str,
    /// `OK`, or the job's error code (`NO_DATA`, `INTERNAL_ERROR`, ...).
    pub code: &'a str,
    /// Rows in the file (0 when it failed).
    pub rows: u64,
    /// Bytes of the file (0 when it failed).
    pub bytes: u64,
    /// From its acceptance to its end.
    pub duration: Duration,
    /// Steps committed, the last one included.
    pub steps: u64,
}

/// The EMF line of an export job that ended: `JobRows`, `JobBytes`,
/// `JobDurationMs` (from its acceptance) and `JobSteps` under
/// [`METRICS_NAMESPACE`], by `Outcome` (`OK` or the error code). A failed
/// job has one too: how many fail, and why, is what the operators watch.
pub fn job_emf_line(end: &JobEnd<'_>, at: OffsetDateTime) -> String {
    let timestamp = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Outcome"]],
                "Metrics": [
                    {"Name": "JobRows", "Unit": "Count"},
                    {"Name": "JobBytes", "Unit": "Bytes"},
                    {"Name": "JobDurationMs", "Unit": "Milliseconds"},
                    {"Name": "JobSteps", "Unit": "Count"},
                ],
            }],
        },
        "Outcome": end.code,
        "JobRows": end.rows,
        "JobBytes": end.bytes,
        "JobDurationMs": end.duration.as_millis() as u64,
        "JobSteps": end.steps,
        "jobId": end.job_id,
    })
    .to_string()
}

// ---------------------------------------------------- Counting uploads ----

/// An object store that counts the bytes of the parts uploaded through it.
pub struct CountingObjects<'a> {
    inner: &'a dyn ObjectStore,
    bytes: AtomicU64,
}

impl<'a> CountingObjects<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn ObjectStore) -> Self {
        CountingObjects {
            inner,
            bytes: AtomicU64::new(0),
        }
    }

    /// Bytes of the parts uploaded so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl ObjectStore for CountingObjects<'_> {
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
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        let len = body.len() as u64;
        let etag = self.inner.upload_part(key, upload_id, number, body).await?;
        self.bytes.fetch_add(len, Ordering::Relaxed);
        Ok(etag)
    }
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.inner.complete(key, upload_id, parts).await
    }
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ObjectStoreError> {
        self.inner.abort(key, upload_id).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::OrgId;

    #[tokio::test]
    async fn the_counter_sees_concurrent_futures_of_the_task_only() {
        let ((), usage) = counting(async {
            let calls = (0..16).map(|i| async move {
                tokio::task::yield_now().await;
                dynamo_call(i, i + 1);
            });
            futures::future::join_all(calls).await;
            // A spawned task does not inherit the task-local.
            tokio::spawn(async { dynamo_call(1000, 1000) })
                .await
                .unwrap();
        })
        .await;
        assert_eq!(usage.requests, 16);
        assert_eq!(usage.items_read, (0..16).sum::<u64>());
        assert_eq!(usage.items_scanned, (1..17).sum::<u64>());
        // Outside a scope: nothing counted, no panic.
        dynamo_call(5, 5);
        let ((), fresh) = counting(async {}).await;
        assert_eq!(fresh, DynamoUsage::default());
    }

    #[test]
    fn the_emf_line_follows_the_specification() {
        let outcome = Outcome {
            caller: Some(Caller {
                org: OrgId::new("org-1").unwrap(),
                user: Some("u".into()),
            }),
            mode: Some("bulk"),
            format: Some("csv"),
            count: Some(25),
            bytes: Some(4096),
            destination: Some(Destination::S3 {
                key: "exports/x/1.csv".into(),
            }),
            ..Outcome::default()
        };
        let report = Report {
            request_id: "req-1",
            outcome: &outcome,
            status: 303,
            code: "OK",
            error: None,
            duration: Duration::from_millis(1234),
            dynamo: DynamoUsage {
                requests: 3,
                items_read: 30,
                items_scanned: 90,
            },
            audit: AuditState::Written,
        };
        let at = time::macros::datetime!(2026-11-27 10:00:00.123 UTC);
        let line = emf_line(&report, at).unwrap();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_795_773_600_123i64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "LeadExport");
        assert_eq!(directive["Dimensions"], json!([["Mode", "Destination"]]));
        // Every metric and dimension named in the directive is a member.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} in {line}");
        }
        assert_eq!(v["Mode"], "bulk");
        assert_eq!(v["Destination"], "s3");
        assert_eq!(v["ExportCount"], 25);
        assert_eq!(v["ExportBytes"], 4096);
        assert_eq!(v["DurationMs"], 1234);
        assert_eq!(v["DynamoItemsRead"], 30);
        // No line for a refused request.
        let refused = Report {
            status: 400,
            code: "VALIDATION_ERROR",
            ..report
        };
        assert_eq!(emf_line(&refused, at), None);
    }

    #[test]
    fn codes_come_from_the_error_bodies() {
        assert_eq!(error_code(&ExportError::NoData), "NO_DATA");
        assert_eq!(
            error_code(&ExportError::Validation("x".into())),
            "VALIDATION_ERROR"
        );
        assert_eq!(
            error_code(&ExportError::Unavailable("x".into())),
            "SERVICE_UNAVAILABLE"
        );
    }
}
