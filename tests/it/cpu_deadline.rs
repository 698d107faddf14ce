//! CPU-bound work keeps the deadline: rendering rows, gzip and the XLSX
//! workbook run on the runtime's one thread, where no timer can cut them,
//! so they check the deadline as they go. Over in-memory stores (the reads
//! are instant; the time goes to the CPU work), an export of 10,000 manual
//! ids with every field and 3 s to the invocation's deadline answers 504
//! `EXPORT_TIMEOUT` before that deadline, as XLSX and as gzip CSV.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::{Context, RequestExt};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::demo::demo_leads;
use lead_export::error::TIMEOUT_MESSAGE;
use lead_export::fields::Field;
use lead_export::http::handle;
use lead_export::store::MemoryStore;
use serde_json::json;
use support::*;

/// The most ids a manual selection takes (docs/contract.md).
const ROWS: usize = 10_000;
/// Time to the invocation's deadline: the answer is due 2 s before it.
const INVOCATION: Duration = Duration::from_secs(3);

/// `leads` of org A with every field, exported with `format` and
/// `accept_encoding`, 3 s before the invocation's deadline: the answer and
/// when it came, with the objects it left.
async fn export_with_3_seconds_left(
    leads: Vec<lead_export::model::Lead>,
    format: serde_json::Value,
    accept_encoding: &str,
) -> (
    lambda_http::Response<lambda_http::Body>,
    Duration,
    Arc<MemoryObjects>,
) {
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.id()).collect();
    let body = json!({"selection": {"mode": "manual", "includedIds": ids},
        "exportFields": fields, "format": format});
    let store = MemoryStore::new();
    store.insert(ORG_A, leads.clone());
    let objects = Arc::new(MemoryObjects::new());
    let app = app_with(&config(&[]), Arc::new(store), objects.clone());
    let auth = format!("Bearer {}", token(ORG_A));
    let req = post(
        &body.to_string(),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("accept-encoding", accept_encoding),
        ],
    );
    let mut context = Context::default();
    let end = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + INVOCATION;
    context.deadline = end.as_millis() as u64;
    let started = Instant::now();
    let resp = handle(&app, req.with_lambda_context(context)).await;
    (resp, started.elapsed(), objects)
}

fn assert_cut_in_time(
    what: &str,
    resp: &lambda_http::Response<lambda_http::Body>,
    elapsed: Duration,
    objects: &MemoryObjects,
) {
    assert_eq!(
        resp.status(),
        504,
        "{what}: {} after {elapsed:?}",
        String::from_utf8_lossy(&body_bytes(resp))
            .chars()
            .take(200)
            .collect::<String>()
    );
    assert_eq!(
        body_json(resp),
        json!({"error": {"code": "EXPORT_TIMEOUT", "message": TIMEOUT_MESSAGE}}),
        "{what}"
    );
    assert!(
        elapsed < INVOCATION,
        "{what}: answered after {elapsed:?}, past the invocation's deadline"
    );
    assert!(objects.keys().is_empty(), "{what}: no object");
    assert_eq!(objects.open_uploads(), 0, "{what}: no open upload");
}

#[tokio::test]
async fn a_10000_row_workbook_is_cut_by_the_deadline() {
    let (resp, elapsed, objects) =
        export_with_3_seconds_left(demo_leads(1, ROWS), json!({"type": "xlsx"}), "").await;
    assert_cut_in_time("xlsx", &resp, elapsed, &objects);
}

/// Leads whose job title is `BIG_CELL` bytes of text (a kilobyte of its
/// own, repeated: it compresses well, so the gzip answer stays inline):
/// each page of the store (100 leads) is many megabytes of CSV to render
/// and compress at once.
fn big_leads(n: usize) -> Vec<lead_export::model::Lead> {
    demo_leads(1, n)
        .into_iter()
        .enumerate()
        .map(|(i, mut lead)| {
            let mut unit = String::new();
            let mut k = i as u64;
            while unit.len() < 1024 {
                k = k
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                unit.push_str(&format!("{:x} ", k >> 40));
            }
            lead.job_title = Some(unit.repeat(BIG_CELL / unit.len()).into());
            lead
        })
        .collect()
}

/// Bytes of each big lead's job title.
const BIG_CELL: usize = 600_000;

#[tokio::test]
async fn a_large_gzip_csv_is_cut_by_the_deadline() {
    let (resp, elapsed, objects) =
        export_with_3_seconds_left(big_leads(200), json!({"type": "csv"}), "gzip").await;
    assert_cut_in_time("csv+gzip", &resp, elapsed, &objects);
}
