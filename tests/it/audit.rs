//! The audit trail through the handler: one record per authenticated
//! request, with what the export did; fail closed when the record cannot be
//! written (503, nothing returned, inline or through S3). In memory, and
//! against moto (`#[ignore]`d: `make test` runs them).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Response};
use lead_export::app::App;
use lead_export::audit::{
    selection_hash, Audit, AuditError, AuditLog, AuditRecord, DynamoAuditLog, MemoryAuditLog,
};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::demo::demo_leads;
use lead_export::error::FaultKind;
use lead_export::http::handle;
use lead_export::observe::MemoryMetrics;
use serde_json::json;
use support::*;

/// An audit log whose writes always fail.
struct FailingAudit;

#[async_trait]
impl AuditLog for FailingAudit {
    async fn write(&self, _: &AuditRecord) -> Result<(), AuditError> {
        Err(AuditError {
            kind: FaultKind::Transient,
            message: "injected: ProvisionedThroughputExceededException".into(),
        })
    }
}

/// An app over the demo data with in-memory objects, `log` as its audit log
/// and `vars` as its configuration.
fn app(log: Arc<dyn AuditLog>, vars: &[(&str, &str)]) -> (App, Arc<MemoryObjects>) {
    let objects = Arc::new(MemoryObjects::new());
    let config = config(vars);
    let mut app = app_with(&config, demo_store(), objects.clone());
    app.audit = Audit {
        log,
        retention_days: config.audit_retention_days,
    };
    (app, objects)
}

fn ids(n: usize) -> Vec<String> {
    demo_leads(1, 3000)[..n]
        .iter()
        .map(|l| l.id.clone())
        .collect()
}

fn manual(n: usize) -> serde_json::Value {
    json!({"selection": {"mode": "manual", "includedIds": ids(n)},
           "exportFields": ["name", "emails", "phones"]})
}

fn bulk() -> serde_json::Value {
    json!({"selection": {"mode": "bulk", "targetCount": 40, "filters": {}}})
}

fn with_headers(body: &serde_json::Value, extra: &[(&str, &str)]) -> lambda_http::Request {
    let auth = format!("Bearer {}", token(ORG_A));
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    post(&body.to_string(), &headers)
}

fn only(log: &MemoryAuditLog) -> AuditRecord {
    let records = log.records();
    assert_eq!(records.len(), 1, "{records:?}");
    records.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_served_export_leaves_one_record() {
    let log = Arc::new(MemoryAuditLog::new());
    let (app, objects) = app(log.clone(), &[("AUDIT_RETENTION_DAYS", "30")]);

    // Inline.
    let body = manual(3);
    let before = time::OffsetDateTime::now_utc();
    let resp = handle(&app, with_headers(&body, &[])).await;
    let after = time::OffsetDateTime::now_utc();
    assert_eq!(resp.status(), 200);
    let r = only(&log);
    assert_eq!(r.org, ORG_A);
    assert_eq!(r.user.as_deref(), Some("dev-user"));
    assert!(r.time >= before - Duration::from_millis(1) && r.time <= after);
    assert_eq!(r.request_id.len(), 36, "a generated UUID: {}", r.request_id);
    assert_eq!(r.mode.as_deref(), Some("manual"));
    assert_eq!(
        r.selection_hash,
        selection_hash(body.to_string().as_bytes())
    );
    assert_eq!(r.fields, ["name", "emails", "phones"]);
    assert_eq!(r.format.as_deref(), Some("csv"));
    assert_eq!(r.count, Some(3));
    assert_eq!(r.bytes, Some(body_bytes(&resp).len() as u64));
    assert_eq!(r.destination.as_deref(), Some("inline"));
    assert_eq!(r.s3_key, None);
    assert_eq!((r.status, r.code.as_str()), (200, "OK"));
    assert_eq!(r.expires_at, r.time.unix_timestamp() + 30 * 86_400);
    assert_eq!(r.sort_key(), format!("{}#{}", r.time_text(), r.request_id));

    // Through S3: the JSON link, then a 303.
    let resp = handle(
        &app,
        with_headers(&bulk(), &[("accept", "application/json")]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (small, small_objects) = self::app(log.clone(), &[("INLINE_MAX_BYTES", "2000")]);
    let resp303 = handle(&small, with_headers(&bulk(), &[])).await;
    assert_eq!(resp303.status(), 303);
    let records = log.records();
    assert_eq!(records.len(), 3);
    for (record, store, status, days) in [
        (&records[1], &objects, 200, 30),
        (&records[2], &small_objects, 303, 400),
    ] {
        let key = record.s3_key.clone().expect("an S3 key");
        let (_, bytes) = store.get(&key).expect("the object of the record");
        assert_eq!(record.destination.as_deref(), Some("s3"));
        assert_eq!(record.bytes, Some(bytes.len() as u64));
        assert_eq!(record.count, Some(40));
        assert_eq!(record.mode.as_deref(), Some("bulk"));
        assert_eq!(record.fields.len(), 8, "the default fields");
        assert_eq!((record.status, record.code.as_str()), (status, "OK"));
        assert_eq!(
            record.expires_at - record.time.unix_timestamp(),
            days * 86_400
        );
    }
    assert_ne!(records[1].request_id, records[2].request_id);
    // Same selection, same hash; a different one, another.
    assert_eq!(records[1].selection_hash, records[2].selection_hash);
    assert_ne!(records[0].selection_hash, records[1].selection_hash);
    // Never lead data: no name, email or phone of the exported leads.
    let text = format!("{records:?}");
    for lead in &demo_leads(1, 3000)[..40] {
        for value in lead
            .emails
            .iter()
            .flatten()
            .chain(lead.phones.iter().flatten())
            .chain([&lead.first_name, &lead.last_name])
        {
            assert!(!text.contains(value.as_str()), "{value} in {text}");
        }
    }
}

/// A 503 with `Retry-After` and the generic body: no CSV, no link.
fn assert_nothing_returned(resp: &Response<Body>, what: &str) {
    assert_eq!(resp.status(), 503, "{what}");
    assert_eq!(header(resp, "retry-after"), "2", "{what}");
    assert!(resp.headers().get("location").is_none(), "{what}");
    assert!(resp.headers().get("x-export-count").is_none(), "{what}");
    let body = body_json(resp);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{what}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{what}: {body}");
}

#[tokio::test]
async fn a_failed_audit_write_returns_nothing_inline_or_through_s3() {
    let (app, objects) = app(Arc::new(FailingAudit), &[]);
    let metrics = Arc::new(MemoryMetrics::new());
    let app = App {
        metrics: metrics.clone(),
        ..app
    };
    let resp = handle(&app, with_headers(&manual(5), &[])).await;
    assert_nothing_returned(&resp, "inline");
    let resp = handle(
        &app,
        with_headers(&manual(5), &[("accept-encoding", "gzip")]),
    )
    .await;
    assert_nothing_returned(&resp, "inline gzip");
    assert!(objects.keys().is_empty(), "inline exports upload nothing");

    let resp = handle(
        &app,
        with_headers(&bulk(), &[("accept", "application/json")]),
    )
    .await;
    assert_nothing_returned(&resp, "JSON link");
    // The object was uploaded before the audit write; its key and link are
    // not returned, and the bucket's lifecycle rule deletes it.
    assert_eq!(objects.keys().len(), 1);
    assert_eq!(objects.open_uploads(), 0);

    let mut small = app.clone();
    small.inline_limit = 2000;
    let resp = handle(&small, with_headers(&bulk(), &[])).await;
    assert_nothing_returned(&resp, "303");
    assert_eq!(objects.keys().len(), 2);
    // No export was served: no metrics line.
    assert!(metrics.lines().is_empty(), "{:?}", metrics.lines());
}

#[tokio::test]
async fn refusals_after_authentication_are_audited_with_their_outcome() {
    let log = Arc::new(MemoryAuditLog::new());
    let (app, _) = app(log.clone(), &[]);
    let cases = [
        (
            json!({"selection": {"mode": "bulk", "targetCount": 0, "filters": {}}}),
            400,
            "VALIDATION_ERROR",
            None,
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": ["no-such-lead"]}}),
            400,
            "NO_DATA",
            Some("manual"),
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": ["x"]}, "exportFields": ["nope"]}),
            500,
            "INTERNAL_ERROR",
            Some("manual"),
        ),
    ];
    for (body, status, code, mode) in &cases {
        let resp = handle(&app, with_headers(body, &[])).await;
        assert_eq!(resp.status(), *status, "{body}");
        let r = log.records().pop().unwrap();
        assert_eq!((r.status, r.code.as_str()), (*status, *code), "{body}");
        assert_eq!(r.mode.as_deref(), *mode, "{body}");
        assert_eq!(r.count, None);
        assert_eq!(r.destination, None);
        assert_eq!(r.user.as_deref(), Some("dev-user"));
        assert_eq!(
            r.selection_hash,
            selection_hash(body.to_string().as_bytes())
        );
    }
    assert_eq!(log.records().len(), cases.len());

    // The deadline: a 504, audited.
    let mut slow = app.clone();
    // Serves nothing before the deadline.
    slow.store = Arc::new(FakeStore {
        delay: Duration::from_secs(30),
        ..FakeStore::over(Arc::new(lead_export::store::MemoryStore::new()))
    });
    slow.timeout = Duration::from_millis(2500);
    let resp = handle(&slow, with_headers(&manual(2), &[])).await;
    assert_eq!(resp.status(), 504);
    let r = log.records().pop().unwrap();
    assert_eq!((r.status, r.code.as_str()), (504, "EXPORT_TIMEOUT"));
    assert_eq!(r.fields, ["name", "emails", "phones"]);

    // No organization, no record: 401, 403, 405.
    let before = log.records().len();
    let resp = handle(&app, post(&manual(2).to_string(), &[])).await;
    assert_eq!(resp.status(), 401);
    let no_org =
        lead_export::auth::sign_hs256(DEV_SECRET.as_bytes(), "tenant", "x", 60, None, None)
            .unwrap();
    let resp = handle(
        &app,
        post(
            &manual(2).to_string(),
            &[("authorization", &format!("Bearer {no_org}"))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let mut get = with_headers(&manual(2), &[]);
    *get.method_mut() = http::Method::GET;
    assert_eq!(handle(&app, get).await.status(), 405);
    assert_eq!(log.records().len(), before);
}

#[tokio::test]
async fn a_refusal_stands_when_its_record_cannot_be_written() {
    let (app, _) = app(Arc::new(FailingAudit), &[]);
    let body = json!({"selection": {"mode": "manual", "includedIds": ["no-such-lead"]}});
    let resp = handle(&app, with_headers(&body, &[])).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({"error": "No data to export"}));
    let resp = handle(&app, with_headers(&json!({"selection": 1}), &[])).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"]["code"], "VALIDATION_ERROR");
}

// ---------------------------------------------------------------- moto ----

/// The audit table `table` in the test DynamoDB and a client of it.
async fn dynamodb_audit(table: Option<&str>) -> (aws_sdk_dynamodb::Client, String) {
    let client = dynamodb_client().await;
    let name = unique("audit");
    if table.is_none() {
        lead_export::audit::ensure_table(&client, &name)
            .await
            .unwrap();
    }
    (client, table.map(str::to_string).unwrap_or(name))
}

/// An app whose audit log is `table` in the test DynamoDB, keeping records `days`.
fn dynamo_app(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    days: &str,
) -> (App, Arc<MemoryObjects>) {
    let log = Arc::new(DynamoAuditLog::new(client.clone(), table));
    app(log, &[("AUDIT_RETENTION_DAYS", days)])
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn records_are_written_to_the_audit_table() {
    let (client, table) = dynamodb_audit(None).await;
    let (app, objects) = dynamo_app(&client, &table, "30");
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    if dynamodb_is_moto() {
        assert_eq!(ttl.attribute_name(), Some("expiresAt"));
        assert_eq!(
            ttl.time_to_live_status(),
            Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
        );
    } else {
        // dynalite answers UpdateTimeToLive with UnknownOperationException:
        // the table is made without time to live (and a warning).
        assert_eq!(
            ttl.time_to_live_status(),
            Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Disabled)
        );
    }

    let resp = handle(&app, with_headers(&manual(4), &[])).await;
    assert_eq!(resp.status(), 200);
    let resp = handle(
        &app,
        with_headers(&bulk(), &[("accept", "application/json")]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let refused = json!({"selection": {"mode": "bulk", "targetCount": 5000, "filters": {}}});
    assert_eq!(
        handle(&app, with_headers(&refused, &[])).await.status(),
        400
    );

    let out = client
        .query()
        .table_name(&table)
        .key_condition_expression("orgId = :o")
        .expression_attribute_values(
            ":o",
            aws_sdk_dynamodb::types::AttributeValue::S(ORG_A.into()),
        )
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    let items = out.items();
    assert_eq!(items.len(), 3);
    let records: Vec<AuditRecord> = items
        .iter()
        .map(|i| AuditRecord::from_item(i).unwrap())
        .collect();
    // Newest first: the refusal, the S3 export, the inline one.
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        [400, 200, 200]
    );
    for (item, r) in items.iter().zip(&records) {
        assert_eq!(item["orgId"].as_s().unwrap(), ORG_A);
        let sk = item["sk"].as_s().unwrap();
        assert_eq!(sk, &r.sort_key());
        let (time, request) = sk.split_once('#').unwrap();
        assert_eq!(time.len(), "2026-11-27T10:00:00.123Z".len(), "{sk}");
        assert!(time.ends_with('Z'));
        assert_eq!(request, r.request_id);
        let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
        assert_eq!(expires - r.time.unix_timestamp(), 30 * 86_400);
        assert_eq!(r.user.as_deref(), Some("dev-user"));
        assert!(!item.contains_key("token") && !item.contains_key("leads"));
    }
    let (refusal, s3, inline) = (&records[0], &records[1], &records[2]);
    assert_eq!(refusal.code, "VALIDATION_ERROR");
    assert_eq!(inline.fields, ["name", "emails", "phones"]);
    assert_eq!(
        (inline.count, inline.destination.as_deref()),
        (Some(4), Some("inline"))
    );
    assert_eq!(s3.count, Some(40));
    assert_eq!(
        s3.s3_key.as_deref(),
        objects.keys().first().map(String::as_str)
    );
    assert_eq!(
        items[1]["fields"].as_l().unwrap().len(),
        8,
        "fields are a list of ids"
    );
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_missing_audit_table_fails_every_export_closed() {
    let missing = unique("no-such-audit");
    let (client, table) = dynamodb_audit(Some(&missing)).await;
    let (app, objects) = dynamo_app(&client, &table, "400");
    let resp = handle(&app, with_headers(&manual(3), &[])).await;
    assert_nothing_returned(&resp, "inline");
    let resp = handle(
        &app,
        with_headers(&bulk(), &[("accept", "application/json")]),
    )
    .await;
    assert_nothing_returned(&resp, "JSON link");
    assert_eq!(objects.keys().len(), 1, "uploaded, never linked");
    let mut small = app.clone();
    small.inline_limit = 2000;
    assert_nothing_returned(&handle(&small, with_headers(&bulk(), &[])).await, "303");
    // A refusal keeps its answer.
    let body = json!({"selection": {"mode": "manual", "includedIds": ["no-such-lead"]}});
    assert_eq!(handle(&app, with_headers(&body, &[])).await.status(), 400);
}
