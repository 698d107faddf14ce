//! The audit trail: one record per request that passed authentication, in
//! its own DynamoDB table (`AUDIT_TABLE`), written before the answer goes
//! out. Fail closed: a served export whose record cannot be written becomes
//! a 503 and nothing of it is returned.
//!
//! A record says who (organization, `sub`), when, which request, what was
//! asked (mode, a hash of the selection, the fields, the format), what came
//! of it (count, bytes, inline or the S3 key, status and code). Never lead
//! data, never the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use sha2::Digest;
use time::OffsetDateTime;

use crate::deadline::Deadline;
use crate::error::{ExportError, FaultKind};
use crate::observe::{AuditState, Destination, Outcome};
use crate::reply::Reply;

/// The partition key attribute: the organization.
pub const PARTITION_KEY: &str = "orgId";
/// The sort key attribute: `<time>#<request id>`.
pub const SORT_KEY: &str = "sk";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The caller's organization.
    pub org: String,
    /// The token's `sub`, when it has one.
    pub user: Option<String>,
    /// When the request came in (UTC).
    pub time: OffsetDateTime,
    /// The Lambda request id (the local server: a generated UUID).
    pub request_id: String,
    /// `manual` or `bulk`, when the request parsed.
    pub mode: Option<String>,
    /// SHA-256 (hex) of the canonical selection ([`selection_hash`]).
    pub selection_hash: Option<String>,
    /// The field ids exported, in column order.
    pub fields: Vec<String>,
    /// The file format (`csv`).
    pub format: Option<String>,
    /// Leads in the file.
    pub count: Option<u64>,
    /// Stored items of the selection left out because they could not be
    /// read into a lead (once the selection was read).
    pub skipped: Option<u64>,
    /// Bytes delivered.
    pub bytes: Option<u64>,
    /// `inline` or `s3`, for a served export.
    pub destination: Option<String>,
    /// The S3 object key, for an export through S3.
    pub s3_key: Option<String>,
    /// The export job of the record (created, read, or its outcome).
    pub job_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `OK` or the error code (`VALIDATION_ERROR`, `NO_DATA`, ...).
    pub code: String,
    /// When DynamoDB may delete the record (TTL, epoch seconds).
    pub expires_at: i64,
}

impl AuditRecord {
    /// The record of a request whose caller is known, answered with
    /// `status` / `code`, kept `retention_days`.
    pub fn new(
        outcome: &Outcome,
        org: &str,
        request_id: &str,
        time: OffsetDateTime,
        retention_days: u32,
        status: u16,
        code: &str,
    ) -> Self {
        AuditRecord {
            org: org.to_string(),
            user: outcome.caller.as_ref().and_then(|c| c.user.clone()),
            time,
            request_id: request_id.to_string(),
            mode: outcome.mode.map(str::to_string),
            selection_hash: outcome.selection_hash.clone(),
            fields: outcome.fields.iter().map(|f| f.to_string()).collect(),
            format: outcome.format.map(str::to_string),
            count: outcome.count.map(|c| c as u64),
            skipped: outcome.skipped.map(|c| c as u64),
            bytes: outcome.bytes,
            destination: outcome.destination.as_ref().map(|d| d.label().to_string()),
            s3_key: outcome
                .destination
                .as_ref()
                .and_then(Destination::s3_key)
                .map(str::to_string),
            job_id: outcome.job_id.clone(),
            status,
            code: code.to_string(),
            expires_at: time.unix_timestamp() + i64::from(retention_days) * 86_400,
        }
    }

    /// `2026-11-27T10:00:00.123Z`: fixed width, so text order is time order.
    pub fn time_text(&self) -> String {
        format_time(self.time)
    }

    /// The sort key: `<time>#<request id>`.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.time_text(), self.request_id)
    }

    /// The DynamoDB item.
    pub fn to_item(&self) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_string());
        let n = |v: i64| AttributeValue::N(v.to_string());
        let mut item = HashMap::from([
            (PARTITION_KEY.to_string(), s(&self.org)),
            (SORT_KEY.to_string(), s(&self.sort_key())),
            ("time".to_string(), s(&self.time_text())),
            ("requestId".to_string(), s(&self.request_id)),
            (
                "fields".to_string(),
                AttributeValue::L(self.fields.iter().map(|f| s(f)).collect()),
            ),
            ("status".to_string(), n(i64::from(self.status))),
            ("code".to_string(), s(&self.code)),
            (TTL_ATTRIBUTE.to_string(), n(self.expires_at)),
        ]);
        let optional = [
            ("user", self.user.as_deref().map(s)),
            ("mode", self.mode.as_deref().map(s)),
            ("selectionHash", self.selection_hash.as_deref().map(s)),
            ("format", self.format.as_deref().map(s)),
            ("count", self.count.map(|c| n(c as i64))),
            ("skipped", self.skipped.map(|c| n(c as i64))),
            ("bytes", self.bytes.map(|b| n(b as i64))),
            ("destination", self.destination.as_deref().map(s)),
            ("s3Key", self.s3_key.as_deref().map(s)),
            ("jobId", self.job_id.as_deref().map(s)),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                item.insert(name.to_string(), value);
            }
        }
        item
    }

    /// The record of a DynamoDB item (`make audit`, tests).
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Self, String> {
        let text =
            |name: &str| -> Option<String> { item.get(name).and_then(|v| v.as_s().ok()).cloned() };
        let number = |name: &str| -> Result<Option<i64>, String> {
            match item.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_n()
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .map(Some)
                    .ok_or_else(|| format!("{name} is not a number")),
            }
        };
        let required = |name: &str| text(name).ok_or_else(|| format!("{name} is missing"));
        let time_text = required("time")?;
        let time =
            OffsetDateTime::parse(&time_text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("time {time_text:?}: {e}"))?;
        let fields = match item.get("fields") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| v.as_s().cloned().map_err(|_| "fields holds a non-string"))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        Ok(AuditRecord {
            org: required(PARTITION_KEY)?,
            user: text("user"),
            time,
            request_id: required("requestId")?,
            mode: text("mode"),
            selection_hash: text("selectionHash"),
            fields,
            format: text("format"),
            count: number("count")?.map(|c| c as u64),
            skipped: number("skipped")?.map(|c| c as u64),
            bytes: number("bytes")?.map(|b| b as u64),
            destination: text("destination"),
            s3_key: text("s3Key"),
            job_id: text("jobId"),
            status: number("status")?.unwrap_or_default() as u16,
            code: required("code")?,
            expires_at: number(TTL_ATTRIBUTE)?.unwrap_or_default(),
        })
    }
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn format_time(time: OffsetDateTime) -> String {
    let t = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A failed audit write: whether a retry may help, and a message for the
/// log only.
#[derive(Debug, thiserror::Error)]
#[error("audit trail: {message}")]
pub struct AuditError {
    /// Transient (throttling, timeout, 5xx) or not (a missing table, a
    /// permission).
    pub kind: FaultKind,
    /// What failed, for the log.
    pub message: String,
}

impl From<crate::error::Fault> for AuditError {
    fn from(fault: crate::error::Fault) -> Self {
        AuditError {
            kind: fault.kind,
            message: fault.message,
        }
    }
}

/// Where audit records are written.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Writes one record; an error means it is not stored.
    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError>;
}

/// The audit log of the `App`: where records go and how long they are kept.
#[derive(Clone)]
pub struct Audit {
    /// The log.
    pub log: Arc<dyn AuditLog>,
    /// `AUDIT_RETENTION_DAYS`: each record's TTL.
    pub retention_days: u32,
}

/// The audit table in DynamoDB (one PutItem per record).
pub struct DynamoAuditLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoAuditLog {
    /// Records go to `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoAuditLog {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl AuditLog for DynamoAuditLog {
    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.to_item()))
            .send()
            .await
            .map_err(crate::aws::sdk_error(format!("PutItem {}", self.table)))?;
        Ok(())
    }
}

/// Creates the audit table (on-demand; [`PARTITION_KEY`] / [`SORT_KEY`]
/// keys, TTL on [`TTL_ATTRIBUTE`]) if it is missing, and waits until it is
/// active. For local runs and tests; `template.yaml` declares it for a
/// deployment.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    crate::aws::ensure_keyed_table_with_ttl(client, table, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE)
        .await
}

/// Records kept in memory (tests, local tools).
#[derive(Debug, Default)]
pub struct MemoryAuditLog {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records written so far, oldest first.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().expect("lock poisoned").clone()
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.records
            .lock()
            .expect("lock poisoned")
            .push(record.clone());
        Ok(())
    }
}

/// Writes the audit record of a request and decides the answer (fail
/// closed):
///
/// - no authenticated caller (401, 403, 405 before authentication): no
///   record, the answer stands;
/// - a served export (2xx, 303): the record is written before the answer
///   goes out; if the write fails (or does not finish by the time the
///   answer is due) the answer becomes a 503 and the file or link is
///   dropped;
/// - a refused request (4xx, 5xx after authentication): the record is
///   written with its status and code; if that fails, the refusal stands
///   (no personal data leaves) and the failure is logged.
pub async fn settle(
    audit: &Audit,
    deadline: &Deadline,
    outcome: &Outcome,
    request_id: &str,
    time: OffsetDateTime,
    result: Result<Reply, ExportError>,
) -> (Result<Reply, ExportError>, AuditState) {
    let Some(caller) = &outcome.caller else {
        return (result, AuditState::None);
    };
    let (status, code) = crate::observe::status_and_code(&result);
    let record = AuditRecord::new(
        outcome,
        caller.org.as_str(),
        request_id,
        time,
        audit.retention_days,
        status,
        &code,
    );
    let write = async {
        audit.log.write(&record).await.map_err(|e| {
            tracing::error!(request_id, error = %e, "audit record not written");
            ExportError::from_fault(e.kind, e)
        })
    };
    // Until the answer is due: a stage cut by the deadline stops
    // `FINISH_RESERVE` before it, which leaves the record of the 504 that time.
    match deadline
        .run("writing the audit record", std::time::Duration::ZERO, write)
        .await
    {
        Ok(()) => (result, AuditState::Written),
        Err(err) => match result {
            Ok(_) => (
                Err(ExportError::Unavailable(format!(
                    "the export was not returned because its audit record could not be written: {err}"
                ))),
                AuditState::Failed,
            ),
            Err(refusal) => {
                tracing::error!(
                    request_id,
                    error = %err,
                    "audit record of a refused request not written; the refusal stands"
                );
                (Err(refusal), AuditState::Failed)
            }
        },
    }
}

/// SHA-256 (hex) of the canonical form of the body's `selection`, or `None`
/// when the body has no `selection` object. The canonical form is JSON with
/// sorted keys, no spaces, `null` members dropped, and:
///
/// - manual: `mode` and `includedIds` (first occurrence of each id kept, in
///   order); the ignored members are left out;
/// - bulk: `mode`, `filters`, `startIndex` (default 0), `targetCount`,
///   `excludedIds` (sorted, each once) and `includedIds` (first occurrence
///   kept);
/// - any other mode: the whole object.
///
/// So two requests for the same selection written differently (key order,
/// spacing, repeated ids, a default spelled out) hash the same.
pub fn selection_hash(body: &[u8]) -> Option<String> {
    let root: Value = serde_json::from_slice(body).ok()?;
    let selection = root.get("selection")?.as_object()?;
    let member = |key: &str| selection.get(key).filter(|v| !v.is_null());
    let first_each = |v: Option<&Value>| -> Value {
        match v {
            Some(Value::Array(items)) => {
                let mut seen = std::collections::HashSet::new();
                Value::Array(
                    items
                        .iter()
                        .filter(|i| seen.insert(canonical_json(i)))
                        .cloned()
                        .collect(),
                )
            }
            Some(other) => other.clone(),
            None => Value::Null,
        }
    };
    let mut canonical = serde_json::Map::new();
    match member("mode").and_then(Value::as_str) {
        Some("manual") => {
            canonical.insert("mode".into(), "manual".into());
            canonical.insert("includedIds".into(), first_each(member("includedIds")));
        }
        Some("bulk") => {
            canonical.insert("mode".into(), "bulk".into());
            canonical.insert(
                "filters".into(),
                member("filters").cloned().unwrap_or(Value::Null),
            );
            canonical.insert(
                "startIndex".into(),
                member("startIndex").cloned().unwrap_or(Value::from(0)),
            );
            canonical.insert(
                "targetCount".into(),
                member("targetCount").cloned().unwrap_or(Value::Null),
            );
            let excluded = match member("excludedIds") {
                Some(Value::Array(items)) => {
                    let mut ids: Vec<String> = items.iter().map(canonical_json).collect();
                    ids.sort();
                    ids.dedup();
                    Value::Array(
                        ids.iter()
                            .map(|i| serde_json::from_str(i).expect("canonical JSON parses"))
                            .collect(),
                    )
                }
                Some(other) => other.clone(),
                None => Value::Array(Vec::new()),
            };
            canonical.insert("excludedIds".into(), excluded);
            let included = match member("includedIds") {
                None => Value::Array(Vec::new()),
                some => first_each(some),
            };
            canonical.insert("includedIds".into(), included);
        }
        _ => {
            canonical = selection.clone();
        }
    }
    let text = canonical_json(&Value::Object(canonical));
    Some(hex(&sha2::Sha256::digest(text.as_bytes())))
}

/// JSON with object keys sorted (by their UTF-8 bytes), `null` members
/// dropped, no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, OrgId};
    use serde_json::json;

    fn hash(v: Value) -> String {
        selection_hash(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_same_selection_written_differently_hashes_the_same() {
        let a = hash(json!({"selection": {"mode": "manual", "includedIds": ["a", "b", "a"]}}));
        let b = hash(json!({"exportFields": ["name"], "selection": {
            "includedIds": ["a", "b"], "excludedIds": ["z"], "mode": "manual", "filters": {"x": 1}}}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            hash(json!({"selection": {"mode": "manual", "includedIds": ["b", "a"]}})),
            "order matters in manual mode"
        );
        let bulk = |extra: Value| {
            let mut s = json!({"mode": "bulk", "targetCount": 10,
                "filters": {"contact": {"skill": {"any": {"include": ["rust"]}}}, "account": {}}});
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            hash(json!({ "selection": s }))
        };
        let base = bulk(json!({}));
        assert_eq!(base, bulk(json!({"startIndex": 0, "includedIds": []})));
        assert_eq!(
            bulk(json!({"excludedIds": ["b", "a", "b"]})),
            bulk(json!({"excludedIds": ["a", "b"]}))
        );
        assert_ne!(base, bulk(json!({"startIndex": 1})));
        assert_ne!(base, bulk(json!({"excludedIds": ["a"]})));
        assert_ne!(base, bulk(json!({"includedIds": ["a"]})));
        assert_ne!(base, bulk(json!({"targetCount": 11})));
        // Key order inside the filter does not matter (serde_json may keep
        // insertion order: the canonical form sorts).
        let text1 = r#"{"selection":{"mode":"bulk","targetCount":5,"filters":{"a":{"x":1,"y":2},"b":[1]}}}"#;
        let text2 = r#"{ "selection" : {"filters":{"b":[1],"a":{"y":2,"x":1}},"targetCount":5,"mode":"bulk"}}"#;
        assert_eq!(
            selection_hash(text1.as_bytes()),
            selection_hash(text2.as_bytes())
        );
        assert_eq!(selection_hash(b"not json"), None);
        assert_eq!(selection_hash(br#"{"selection": 3}"#), None);
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn the_canonical_form_is_what_sha256_hashes() {
        let body = json!({"selection": {"includedIds": ["x"], "mode": "manual"}});
        assert_eq!(
            canonical_json(&json!({"mode": "manual", "includedIds": ["x"], "n": null})),
            r#"{"includedIds":["x"],"mode":"manual"}"#
        );
        assert_eq!(hash(body), EXPECTED_MANUAL_X);
    }

    /// `printf '%s' '{"includedIds":["x"],"mode":"manual"}' | sha256sum`
    const EXPECTED_MANUAL_X: &str =
        "172876af1cb52e09d38b547258ebb3861d5d39473c8f0dc7c78c0046bc30a4ee";

    fn outcome() -> Outcome {
        Outcome {
            caller: Some(Caller {
                org: OrgId::new("org-1").unwrap(),
                user: Some("user-1".into()),
            }),
            mode: Some("manual"),
            selection_hash: Some("ab".repeat(32)),
            fields: vec!["name", "emails"],
            format: Some("csv"),
            count: Some(2),
            skipped: Some(3),
            bytes: Some(120),
            destination: Some(Destination::S3 {
                key: "exports/k/2026/11/27/u.csv".into(),
            }),
            job_id: Some("job-1".into()),
        }
    }

    #[test]
    fn records_round_trip_through_items() {
        let at = time::macros::datetime!(2026-11-27 10:00:00.123456 UTC);
        let record = AuditRecord::new(&outcome(), "org-1", "req-1", at, 400, 303, "OK");
        assert_eq!(record.sort_key(), "2026-11-27T10:00:00.123Z#req-1");
        assert_eq!(record.expires_at, at.unix_timestamp() + 400 * 86_400);
        let item = record.to_item();
        assert_eq!(item["orgId"].as_s().unwrap(), "org-1");
        assert_eq!(item["s3Key"].as_s().unwrap(), "exports/k/2026/11/27/u.csv");
        assert_eq!(item["destination"].as_s().unwrap(), "s3");
        assert_eq!(item["skipped"].as_n().unwrap(), "3");
        assert_eq!(item["jobId"].as_s().unwrap(), "job-1");
        let back = AuditRecord::from_item(&item).unwrap();
        let expected = AuditRecord {
            time: time::macros::datetime!(2026-11-27 10:00:00.123 UTC),
            ..record
        };
        assert_eq!(back, expected);
        // A refusal before parsing: only what is known.
        let bare = Outcome {
            caller: outcome().caller,
            ..Outcome::default()
        };
        let item = AuditRecord::new(&bare, "org-1", "r", at, 1, 400, "VALIDATION_ERROR").to_item();
        for absent in [
            "mode",
            "count",
            "skipped",
            "bytes",
            "destination",
            "s3Key",
            "format",
            "jobId",
        ] {
            assert!(!item.contains_key(absent), "{absent}");
        }
        assert_eq!(item["code"].as_s().unwrap(), "VALIDATION_ERROR");
        assert_eq!(item["user"].as_s().unwrap(), "user-1");
    }
}
