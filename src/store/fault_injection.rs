//! The real `DynamoStore` over a fake DynamoDB at the SDK's HTTP layer, for
//! what moto never does: `UnprocessedKeys`, `UnprocessedItems`, empty pages
//! that carry a `LastEvaluatedKey`, throttling.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use serde_json::{json, Value};

use super::dynamodb::DynamoStore;
use super::LeadStore;
use crate::auth::OrgId;
use crate::filters;
use crate::model::Lead;

/// A scripted DynamoDB: the log of calls (operation, request body) and a
/// responder that sees the call number of its operation.
type Responder = dyn Fn(&str, usize, &Value) -> (u16, Value) + Send + Sync;

struct Fake {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

fn store(responder: Arc<Responder>) -> (DynamoStore, Fake) {
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
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .http_client(http)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    (DynamoStore::new(client, "leads"), Fake { calls })
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
        .get_many(&org(), &ids, &BTreeSet::from(["firstName"]))
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
        .get_many(&org(), &["a".to_string()], &BTreeSet::new())
        .await
        .unwrap_err();
    assert!(err.0.contains("unprocessed"), "{err}");
    assert_eq!(fake.calls.lock().unwrap().len(), 8, "max attempts");
}

#[tokio::test]
async fn an_empty_query_page_with_a_key_is_followed() {
    let responder: Arc<Responder> = Arc::new(|op, n, body| {
        assert_eq!(op, "Query");
        assert_eq!(body["KeyConditionExpression"], "#pk = :pk");
        assert_eq!(body["ExpressionAttributeValues"][":pk"]["S"], "org-a");
        match n {
            1 => (
                200,
                json!({"Items": [], "Count": 0, "ScannedCount": 40,
                "LastEvaluatedKey": {"orgId": {"S": "org-a"}, "leadId": {"S": "k1"}}}),
            ),
            2 => {
                assert_eq!(body["ExclusiveStartKey"]["leadId"]["S"], "k1");
                (
                    200,
                    json!({"Items": [item("b"), item("c")], "Count": 2, "ScannedCount": 2,
                    "LastEvaluatedKey": {"orgId": {"S": "org-a"}, "leadId": {"S": "c"}}}),
                )
            }
            _ => (
                200,
                json!({"Items": [item("d")], "Count": 1, "ScannedCount": 1}),
            ),
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
    assert_eq!(stats.pages, 3);
    assert_eq!(fake.calls.lock().unwrap().len(), 3);
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
    assert!(err.0.contains("another organization"), "{err}");
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
}
