//! The real `DynamoStore` over a fake DynamoDB at the SDK's HTTP layer, for
//! what moto never does: `UnprocessedKeys`, `UnprocessedItems`, empty pages
//! that carry a `LastEvaluatedKey`, throttling, 5xx, and how each failure
//! is classified (transient → 503, other → 500) and answered in time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_http_client::test_util::infallible_client_fn;
use serde_json::{json, Value};

use lead_export::auth::OrgId;
use lead_export::error::FaultKind;
use lead_export::filters;
use lead_export::model::Lead;
use lead_export::store::dynamodb::{Backoff, DynamoStore};
use lead_export::store::LeadStore;

/// A scripted DynamoDB: the log of calls (operation, request body) and a
/// responder that sees the call number of its operation.
type Responder = dyn Fn(&str, usize, &Value) -> (u16, Value) + Send + Sync;

struct Fake {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

/// The store over a scripted DynamoDB; SDK retries and unprocessed-key
/// retries wait a few milliseconds at most.
fn store(responder: Arc<Responder>) -> (DynamoStore, Fake) {
    store_with(
        responder,
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
            ..Backoff::default()
        },
    )
}

fn store_with(responder: Arc<Responder>, backoff: Backoff) -> (DynamoStore, Fake) {
    let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let log = calls.clone();
    let http = infallible_client_fn(move |req| {
        let op = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_start_matches("DynamoDB_20120810.")
            .to_string();
        let body: Value =
            serde_json::from_slice(req.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        let n = {
            let mut log = log.lock().unwrap();
            log.push((op.clone(), body.clone()));
            log.iter().filter(|(o, _)| *o == op).count()
        };
        let (status, out) = responder(&op, n, &body);
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(out.to_string())
            .unwrap()
    });
    let client = crate::support::dynamodb_over(
        http,
        lead_export::aws::retry_config().with_initial_backoff(Duration::from_millis(1)),
    );
    (
        DynamoStore::new(client, "leads").with_backoff(backoff),
        Fake { calls },
    )
}

fn org() -> OrgId {
    OrgId::new("org-a").unwrap()
}

fn item(id: &str) -> Value {
    json!({"orgId": {"S": "org-a"}, "leadId": {"S": id}, "firstName": {"S": "F"}, "lastName": {"S": id}})
}

fn requested_ids(body: &Value) -> Vec<String> {
    body["RequestItems"]["leads"]["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["leadId"]["S"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn unprocessed_keys_from_dynamodb_are_fetched_again() {
    // Each BatchGetItem answers the first half of its keys and leaves the
    // rest unprocessed, until a call carries 10 keys or fewer.
    let responder: Arc<Responder> = Arc::new(|op, _, body| {
        assert_eq!(op, "BatchGetItem");
        let ids = requested_ids(body);
        let cut = if ids.len() <= 10 {
            ids.len()
        } else {
            ids.len() / 2
        };
        let (done, rest) = ids.split_at(cut);
        let keys: Vec<Value> = rest
            .iter()
            .map(|id| json!({"orgId": {"S": "org-a"}, "leadId": {"S": id}}))
            .collect();
        let mut out =
            json!({"Responses": {"leads": done.iter().map(|id| item(id)).collect::<Vec<_>>()}});
        if !keys.is_empty() {
            out["UnprocessedKeys"] = json!({"leads": {"Keys": keys}});
        }
        (200, out)
    });
    let (store, fake) = store(responder);
    let ids: Vec<String> = (0..250).map(|i| format!("id-{i:03}")).collect();
    let leads = store
        .get_all(&org(), &ids, &BTreeSet::from(["firstName"]))
        .await
        .unwrap();
    let got: BTreeSet<String> = leads.into_iter().map(|l| l.id).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>());
    let calls = fake.calls.lock().unwrap();
    let first_sizes: Vec<usize> = calls
        .iter()
        .map(|(_, b)| requested_ids(b).len())
        .filter(|n| *n > 50)
        .collect();
    assert_eq!(
        first_sizes.iter().filter(|n| **n == 100).count(),
        2,
        "chunks of 100"
    );
    assert!(calls.len() > 3, "retries happened: {}", calls.len());
    assert!(calls
        .iter()
        .all(|(_, b)| b["RequestItems"]["leads"]["ProjectionExpression"].is_string()));
}

#[tokio::test]
async fn keys_never_processed_end_in_an_error() {
    let responder: Arc<Responder> = Arc::new(|_, _, body| {
        let keys: Vec<Value> = requested_ids(body)
            .iter()
            .map(|id| json!({"orgId": {"S": "org-a"}, "leadId": {"S": id}}))
            .collect();
        (
            200,
            json!({"Responses": {"leads": []}, "UnprocessedKeys": {"leads": {"Keys": keys}}}),
        )
    });
    let (store, fake) = store(responder);
    let err = store
        .get_all(&org(), &["a".to_string()], &BTreeSet::new())
        .await
        .unwrap_err();
    assert!(err.message.contains("unprocessed"), "{err}");
    assert_eq!(err.kind, FaultKind::Transient, "answered 503, not 500");
    assert_eq!(fake.calls.lock().unwrap().len(), 8, "max attempts");
}

/// The attribute names a request's ProjectionExpression names.
fn projected(body: &Value) -> BTreeSet<String> {
    let names = &body["ExpressionAttributeNames"];
    body["ProjectionExpression"]
        .as_str()
        .unwrap()
        .split(", ")
        .map(|p| names[p].as_str().unwrap().to_string())
        .collect()
}

fn compact(id: &str) -> Value {
    json!({"orgId": {"S": "org-a"}, "leadId": {"S": id}, "s_v": {"N": "2"},
           "d": {"S": format!(r#"{{"f":"F","l":"{id}"}}"#)}})
}

#[tokio::test]
async fn an_empty_query_page_with_a_key_is_followed() {
    // Skimming (keys and s_v): an empty page with a key, then the first
    // match, where the range starts: read in full from its key.
    let responder: Arc<Responder> = Arc::new(|op, n, body| {
        assert_eq!(op, "Query");
        assert_eq!(body["KeyConditionExpression"], "#pk = :pk");
        assert_eq!(body["ExpressionAttributeValues"][":pk"]["S"], "org-a");
        let skim = BTreeSet::from(["orgId".to_string(), "leadId".into(), "s_v".into()]);
        match n {
            1 => {
                assert_eq!(projected(body), skim);
                (
                    200,
                    json!({"Items": [], "Count": 0, "ScannedCount": 40,
                    "LastEvaluatedKey": {"orgId": {"S": "org-a"}, "leadId": {"S": "k1"}}}),
                )
            }
            2 => {
                assert_eq!(projected(body), skim);
                assert_eq!(body["ExclusiveStartKey"]["leadId"]["S"], "k1");
                (
                    200,
                    json!({"Items": [
                        {"orgId": {"S": "org-a"}, "leadId": {"S": "b"}, "s_v": {"N": "2"}},
                        {"orgId": {"S": "org-a"}, "leadId": {"S": "c"}, "s_v": {"N": "2"}}],
                    "Count": 2, "ScannedCount": 2,
                    "LastEvaluatedKey": {"orgId": {"S": "org-a"}, "leadId": {"S": "c"}}}),
                )
            }
            3 => {
                assert!(projected(body).contains("doc"));
                assert_eq!(body["ExclusiveStartKey"]["leadId"]["S"], "b");
                (
                    200,
                    json!({"Items": [], "Count": 0, "ScannedCount": 0,
                    "LastEvaluatedKey": {"orgId": {"S": "org-a"}, "leadId": {"S": "b2"}}}),
                )
            }
            4 => {
                assert_eq!(body["ExclusiveStartKey"]["leadId"]["S"], "b2");
                (
                    200,
                    json!({"Items": [compact("c"), item("d")], "Count": 2, "ScannedCount": 2}),
                )
            }
            _ => panic!("read past the end"),
        }
    });
    let (store, fake) = store(responder);
    let filter = filters::compile(&json!({})).unwrap();
    let (leads, stats) = store
        .query_range(&org(), &filter, 1, 5, &BTreeSet::new())
        .await
        .unwrap();
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["c", "d"]);
    assert_eq!(leads[0].last_name, "c", "the compact item's document");
    assert_eq!(leads[1].last_name, "d", "the earlier layout's attributes");
    assert_eq!((stats.pages, stats.skim_pages), (4, 2));
    assert!(stats.bytes > 0, "{stats:?}");
    assert_eq!(fake.calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_a_foreign_item_is_refused() {
    let responder: Arc<Responder> = Arc::new(|_, n, _| match n {
        1 => (
            400,
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"}),
        ),
        _ => (
            200,
            json!({"Items": [{"orgId": {"S": "org-b"}, "leadId": {"S": "x"}}], "Count": 1, "ScannedCount": 1}),
        ),
    });
    let (store, fake) = store(responder);
    let filter = filters::compile(&json!({})).unwrap();
    let err = store
        .query_range(&org(), &filter, 0, 5, &BTreeSet::new())
        .await
        .unwrap_err();
    assert!(err.message.contains("another organization"), "{err}");
    assert_eq!(err.kind, FaultKind::Other);
    assert_eq!(
        fake.calls.lock().unwrap().len(),
        2,
        "one throttled call retried"
    );
}

#[tokio::test]
async fn unprocessed_writes_are_written_again() {
    let responder: Arc<Responder> = Arc::new(|op, n, body| {
        assert_eq!(op, "BatchWriteItem");
        let requests = body["RequestItems"]["leads"].as_array().unwrap().clone();
        if n == 1 {
            (
                200,
                json!({"UnprocessedItems": {"leads": requests[..3].to_vec()}}),
            )
        } else {
            (200, json!({"UnprocessedItems": {}}))
        }
    });
    let (store, fake) = store(responder);
    let leads: Vec<Lead> = (0..10)
        .map(|i| Lead {
            id: format!("w{i}"),
            first_name: "A".into(),
            last_name: "B".into(),
            ..Lead::default()
        })
        .collect();
    store.put_leads(&org(), &leads).await.unwrap();
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].1["RequestItems"]["leads"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let first = &calls[0].1["RequestItems"]["leads"][0]["PutRequest"]["Item"];
    assert_eq!(first["orgId"]["S"], "org-a");
    assert!(
        first["s_v"]["N"].is_string(),
        "search attributes are written"
    );
    // The packed document of firstName "A", lastName "B": format 1, tag 1,
    // 1 byte "A", tag 2, 1 byte "B", end; in base64 on the wire.
    assert_eq!(
        first["d"]["B"], "AQEBQQIBQgA=",
        "the document in one binary attribute"
    );
    assert_eq!(first["s_v"]["N"], "2");
    assert!(first.get("firstName").is_none(), "{first}");
}

fn error(status: u16, type_: &str) -> (u16, Value) {
    (status, json!({"__type": type_, "message": "injected"}))
}

/// The kind of the error of a BatchGetItem and of a Query that always get
/// `(status, body)`, and how many calls each made.
async fn fail_both_ways(answer: (u16, Value)) -> Vec<(FaultKind, usize)> {
    let responder: Arc<Responder> = Arc::new(move |_, _, _| answer.clone());
    let (store, fake) = store(responder);
    let filter = filters::compile(&json!({})).unwrap();
    let mut got = Vec::new();
    let err = store
        .get_all(&org(), &["a".to_string()], &BTreeSet::new())
        .await
        .unwrap_err();
    got.push((err.kind, fake.calls.lock().unwrap().len()));
    fake.calls.lock().unwrap().clear();
    let err = store
        .find_all(&org(), &filter, 0, 5, &BTreeSet::new())
        .await
        .unwrap_err();
    got.push((err.kind, fake.calls.lock().unwrap().len()));
    got
}

/// Each answer, given to every call, and the kind and the number of calls
/// expected of both a BatchGetItem and a Query: throttling codes past the
/// SDK's retries and 5xx are transient (retried by the SDK first); client
/// errors are neither transient nor retried.
#[tokio::test]
async fn each_failure_is_classified_and_retried_or_not() {
    let attempts = lead_export::aws::SDK_MAX_ATTEMPTS as usize;
    let transient = (FaultKind::Transient, attempts);
    let other = (FaultKind::Other, 1);
    let cases = [
        (
            error(
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            ),
            transient,
        ),
        (
            error(400, "com.amazon.coral.availability#ThrottlingException"),
            transient,
        ),
        (
            error(400, "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"),
            transient,
        ),
        (
            error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
            transient,
        ),
        ((503, json!({})), transient),
        ((502, Value::Null), transient),
        (
            error(400, "com.amazon.coral.validate#ValidationException"),
            other,
        ),
        (
            error(
                400,
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            ),
            other,
        ),
        (
            error(400, "com.amazon.coral.service#AccessDeniedException"),
            other,
        ),
    ];
    for (answer, expected) in cases {
        let got = fail_both_ways(answer.clone()).await;
        assert_eq!(got, [expected, expected], "{answer:?}");
    }
}

/// An app over the scripted store, with in-memory objects and an
/// invocation timeout of `timeout`.
fn app(store: DynamoStore, timeout: Duration) -> lead_export::app::App {
    let config = lead_export::config::Config::from_lookup(|k| match k {
        "JWT_SECRET" => Some("test-secret".to_string()),
        "EXPORT_URL_TTL_SECONDS" => Some("60".to_string()),
        _ => None,
    })
    .unwrap();
    let mut app = lead_export::app::App::new(
        &config,
        lead_export::app::Backends {
            store: Arc::new(store),
            cursors: Arc::new(lead_export::store::MemoryCursors::new()),
            objects: Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
            audit_log: Arc::new(lead_export::audit::MemoryAuditLog::new()),
            metrics: Arc::new(lead_export::observe::MemoryMetrics::new()),
        },
    );
    app.timeout = timeout;
    app
}

fn manual_export(ids: &[&str]) -> lambda_http::Request {
    let token =
        lead_export::auth::sign_hs256(b"test-secret", "org_id", "org-a", 600, None, None).unwrap();
    let body = json!({"selection": {"mode": "manual", "includedIds": ids}});
    http::Request::builder()
        .method("POST")
        .header("authorization", format!("Bearer {token}"))
        .body(lambda_http::Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn throttled_dynamodb_answers_503_with_retry_after() {
    let responder: Arc<Responder> = Arc::new(|_, _, _| {
        error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        )
    });
    let (store, _) = store(responder);
    let resp = lead_export::http::handle(
        &app(store, Duration::from_secs(25)),
        manual_export(&["a", "b"]),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(!body.to_string().contains("Throughput"), "{body}");
}

#[tokio::test]
async fn unprocessed_key_retries_stop_at_the_deadline() {
    // Keys never processed, retried after up to 1 s each: the 8 attempts
    // would take seconds; the answer is due 0.4 s after the start.
    let responder: Arc<Responder> = Arc::new(|_, _, body| {
        let keys: Vec<Value> = requested_ids(body)
            .iter()
            .map(|id| json!({"orgId": {"S": "org-a"}, "leadId": {"S": id}}))
            .collect();
        (
            200,
            json!({"Responses": {"leads": []}, "UnprocessedKeys": {"leads": {"Keys": keys}}}),
        )
    });
    let slow = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        ..Backoff::default()
    };
    let (store, fake) = store_with(responder, slow);
    let timeout = lead_export::deadline::RESPONSE_MARGIN + Duration::from_millis(400);
    let started = std::time::Instant::now();
    let resp = lead_export::http::handle(&app(store, timeout), manual_export(&["a"])).await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert!(
        elapsed < Duration::from_millis(400),
        "answered {elapsed:?} after the start"
    );
    assert!(fake.calls.lock().unwrap().len() < 8);
}
