//! Deadlines and transient faults through the handler, over in-memory fakes:
//! a transient store failure is a 503 with `Retry-After`, a slow store or a
//! slow upload a 504 sent at least 2 s before the invocation's deadline, with
//! no object and no open upload left.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::{Context, RequestExt};
use lead_export::app::App;
use lead_export::deadline::RESPONSE_MARGIN;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::deliver::ObjectStore;
use lead_export::demo::demo_leads;
use lead_export::error::{FaultKind, TIMEOUT_MESSAGE, UNAVAILABLE_MESSAGE};
use lead_export::http::handle;
use lead_export::store::{LeadStore, MemoryStore};
use serde_json::json;
use support::*;

/// What a failing store logs (never in a body).
const STORE_FAILURE: &str =
    "BatchGetItem failed: ProvisionedThroughputExceededException at 10.1.2.3";

/// The demo data, served after `delay`.
fn slow_store(delay: Duration) -> FakeStore {
    FakeStore {
        delay,
        ..FakeStore::over(small_store())
    }
}

/// Leads of org A (a few, to keep the tests fast).
const LEADS: usize = 100;

fn small_store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(ORG_A, demo_leads(1, LEADS));
    Arc::new(store)
}

fn manual(n: usize) -> serde_json::Value {
    let ids: Vec<String> = demo_leads(1, LEADS)[..n]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    json!({"selection": {"mode": "manual", "includedIds": ids}})
}

fn bulk() -> serde_json::Value {
    json!({"selection": {"mode": "bulk", "startIndex": 0, "targetCount": 50, "filters": {}}})
}

/// A request asking for the JSON link, so the export always goes to S3.
fn as_link(body: &serde_json::Value) -> lambda_http::Request {
    let mut req = post_as(ORG_A, body);
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    req
}

fn app(store: Arc<dyn LeadStore>, objects: Arc<dyn ObjectStore>, timeout: Duration) -> App {
    let mut app = app_with(&config(&[]), store, objects);
    app.timeout = timeout;
    app
}

#[tokio::test]
async fn a_transient_store_failure_is_a_503_with_retry_after() {
    let objects = Arc::new(MemoryObjects::new());
    let app = app(
        Arc::new(FakeStore::failing(FaultKind::Transient, STORE_FAILURE)),
        objects.clone(),
        Duration::from_secs(25),
    );
    for body in [manual(5), bulk()] {
        let resp = handle(&app, as_link(&body)).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(header(&resp, "retry-after"), "2");
        assert_eq!(header(&resp, "content-type"), "application/json");
        assert_eq!(
            body_json(&resp),
            json!({"error": {"code": "SERVICE_UNAVAILABLE", "message": UNAVAILABLE_MESSAGE}})
        );
    }
    assert!(objects.keys().is_empty());
    assert_eq!(objects.open_uploads(), 0);
}

#[tokio::test]
async fn any_other_store_failure_stays_a_generic_500() {
    let app = app(
        Arc::new(FakeStore::failing(FaultKind::Other, STORE_FAILURE)),
        Arc::new(MemoryObjects::new()),
        Duration::from_secs(25),
    );
    let resp = handle(&app, post_as(ORG_A, &manual(5))).await;
    assert_eq!(resp.status(), 500);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(body_json(&resp)["error"]["code"], "INTERNAL_ERROR");
    assert!(!body_json(&resp).to_string().contains("10.1.2.3"));
}

#[tokio::test]
async fn a_slow_store_is_a_504_two_seconds_before_the_configured_deadline() {
    let objects = Arc::new(MemoryObjects::new());
    let slow = slow_store(Duration::from_secs(30));
    let timeout = RESPONSE_MARGIN + Duration::from_millis(500);
    let app = app(Arc::new(slow), objects.clone(), timeout);
    for body in [manual(5), bulk()] {
        let req = as_link(&body);
        let started = Instant::now();
        let resp = handle(&app, req).await;
        let elapsed = started.elapsed();
        assert_eq!(resp.status(), 504);
        assert_eq!(header(&resp, "retry-after"), "1");
        assert_eq!(
            body_json(&resp),
            json!({"error": {"code": "EXPORT_TIMEOUT", "message": TIMEOUT_MESSAGE}})
        );
        assert!(
            elapsed < timeout - RESPONSE_MARGIN,
            "answered after {elapsed:?}"
        );
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    }
    assert!(objects.keys().is_empty(), "no file");
    assert_eq!(objects.open_uploads(), 0);
}

fn epoch_millis_in(d: Duration) -> u64 {
    (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + d).as_millis() as u64
}

#[tokio::test]
async fn the_lambda_context_deadline_wins_over_the_configured_timeout() {
    let slow = slow_store(Duration::from_secs(30));
    let app = app(
        Arc::new(slow),
        Arc::new(MemoryObjects::new()),
        Duration::from_secs(25),
    );
    let mut context = Context::default();
    let invocation = RESPONSE_MARGIN + Duration::from_millis(500);
    let req = post_as(ORG_A, &bulk());
    context.deadline = epoch_millis_in(invocation);
    let started = Instant::now();
    let resp = handle(&app, req.with_lambda_context(context)).await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert!(
        elapsed < invocation - RESPONSE_MARGIN,
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_context_without_a_deadline_falls_back_to_the_configured_timeout() {
    let app = app(
        small_store(),
        Arc::new(MemoryObjects::new()),
        Duration::from_secs(25),
    );
    let req = post_as(ORG_A, &manual(3)).with_lambda_context(Context::default());
    let resp = handle(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-export-count"), "3");
}

#[tokio::test]
async fn a_slow_upload_is_a_504_and_the_upload_is_aborted() {
    let objects = Arc::new(FakeObjects::slow(Duration::from_secs(30)));
    // The answer is due after 1.5 s; parts stop 1 s earlier for the abort.
    let timeout = RESPONSE_MARGIN + Duration::from_millis(1500);
    let app = app(small_store(), objects.clone(), timeout);
    let req = as_link(&manual(20));
    let started = Instant::now();
    let resp = handle(&app, req).await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert_eq!(body_json(&resp)["error"]["code"], "EXPORT_TIMEOUT");
    assert!(
        elapsed < timeout - RESPONSE_MARGIN,
        "answered after {elapsed:?}"
    );
    assert_eq!(objects.aborts(), 1, "aborted");
    assert_eq!(objects.inner.open_uploads(), 0, "no open upload");
    assert!(objects.inner.keys().is_empty(), "no object");
}

#[tokio::test]
async fn a_throttled_upload_is_a_503_and_the_upload_is_aborted() {
    let objects = Arc::new(FakeObjects::failing_from(1, FaultKind::Transient));
    let app = app(small_store(), objects.clone(), Duration::from_secs(25));
    let resp = handle(&app, as_link(&manual(20))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(header(&resp, "retry-after"), "2");
    assert_eq!(body_json(&resp)["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(objects.aborts(), 1);
    assert_eq!(objects.inner.open_uploads(), 0);
    assert!(objects.inner.keys().is_empty());
}
