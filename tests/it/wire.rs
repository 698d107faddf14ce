//! The store's reads through the SDK with `store::wire` in front of its
//! deserializer, over a fake HTTP client: a response of the current layout
//! is read from its body, anything else (an earlier layout, an error) by
//! the SDK as before, and both give the same leads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_smithy_http_client::test_util::infallible_client_fn;
use futures::TryStreamExt;
use serde_json::{json, Value};

use lead_export::auth::OrgId;
use lead_export::demo::demo_leads;
use lead_export::model::Lead;
use lead_export::store::dynamodb::{json_text_item, lead_to_item, Item};
use lead_export::store::wire::{Capture, Read};
use lead_export::store::{DynamoStore, LeadStore};

const TABLE: &str = "leads";

fn org() -> OrgId {
    OrgId::new("org-wire").unwrap()
}

pub(crate) use crate::support::wire_json::wire_json;

/// The item as the export's projection returns it (keys, `d`, `s_v`).
pub(crate) fn projected(item: Item) -> Item {
    item.into_iter()
        .filter(|(k, _)| ["orgId", "leadId", "d", "s_v"].contains(&k.as_str()))
        .collect()
}

/// A client whose HTTP answers are `answers` in turn (the last one again
/// after that), counting the requests, retrying at once.
fn fake_client(answers: Vec<(u16, String)>) -> (aws_sdk_dynamodb::Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let http = infallible_client_fn(move |_| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let (status, body) = answers[n.min(answers.len() - 1)].clone();
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .unwrap()
    });
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    (crate::support::dynamodb_over(http, retry), calls)
}

fn batch_body(items: Vec<Value>) -> String {
    json!({"Responses": {TABLE: items}, "UnprocessedKeys": {}}).to_string()
}

/// Demo leads, one with an id and texts JSON must escape.
fn leads() -> Vec<Lead> {
    let mut leads = demo_leads(11, 40);
    leads[3].id = "zoë \"quoted\" \\ id".into();
    leads[3].first_name = "Zoë \"Z\"\n".into();
    leads
}

async fn get_all(store: &DynamoStore, ids: &[String]) -> Vec<Lead> {
    let attrs = Default::default();
    let chunks: Vec<_> = store
        .get_many(&org(), ids, &attrs)
        .try_collect()
        .await
        .unwrap();
    let mut leads: Vec<Lead> = chunks.into_iter().flat_map(|c| c.leads).collect();
    leads.sort_by(|a, b| a.id.cmp(&b.id));
    leads
}

/// A BatchGetItem through the SDK, answered `body`, with a [`Capture`] on
/// the request: the SDK's output and what the reader took.
async fn batch_get_through_capture(
    body: &str,
) -> (
    aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput,
    Capture,
) {
    let (client, _) = fake_client(vec![(200, body.to_string())]);
    let capture = Capture::batch_get(org().as_str(), TABLE);
    let keys = KeysAndAttributes::builder()
        .keys(Item::from([(
            "leadId".into(),
            AttributeValue::S("x".into()),
        )]))
        .build()
        .unwrap();
    let out = client
        .batch_get_item()
        .request_items(TABLE, keys)
        .customize()
        .interceptor(capture.clone())
        .send()
        .await
        .unwrap();
    (out, capture)
}

/// A Query of the organization's partition through the SDK, answered
/// `answers` in turn, with a [`Capture`] on the request: what the SDK
/// returned, the requests sent, what the reader took.
async fn query_through_capture(
    answers: Vec<(u16, String)>,
) -> (
    Result<
        aws_sdk_dynamodb::operation::query::QueryOutput,
        aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::query::QueryError>,
    >,
    Arc<AtomicUsize>,
    Capture,
) {
    let (client, calls) = fake_client(answers);
    let capture = Capture::query(org().as_str());
    let sent = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("orgId = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(org().to_string()))
        .customize()
        .interceptor(capture.clone())
        .send()
        .await;
    (sent, calls, capture)
}

/// The store's leads of `leads`' ids over an SDK answered `body`.
async fn store_reads(body: String, leads: &[Lead]) -> Vec<Lead> {
    let (client, _) = fake_client(vec![(200, body)]);
    let store = DynamoStore::new(client, TABLE);
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    get_all(&store, &ids).await
}

fn sorted(mut leads: Vec<Lead>) -> Vec<Lead> {
    leads.sort_by(|a, b| a.id.cmp(&b.id));
    leads
}

#[tokio::test]
async fn a_batch_of_the_current_layout_is_read_from_the_body() {
    let leads = leads();
    let items: Vec<Value> = leads
        .iter()
        .map(|l| wire_json(&projected(lead_to_item(&org(), l).unwrap())))
        .collect();
    let body = batch_body(items);

    // The reader took the response: the SDK's output holds no items.
    let (out, capture) = batch_get_through_capture(&body).await;
    assert!(out.responses.is_none());
    let Some(Read::BatchGet(items)) = capture.take() else {
        panic!("the reader did not read the response")
    };
    let ids: Vec<&str> = items.iter().map(|i| i.lead_id.as_str()).collect();
    let expected: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, expected);

    // The store's leads are the leads written, every member of each.
    assert_eq!(store_reads(body, &leads).await, sorted(leads));
}

#[tokio::test]
async fn an_earlier_layout_is_left_to_the_sdk_and_reads_the_same() {
    let leads = leads();
    // One item of the layout before (the document as JSON text) among
    // current ones: the whole response is the SDK's.
    let items: Vec<Value> = leads
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let item = if i == 7 {
                json_text_item(&org(), l).unwrap()
            } else {
                lead_to_item(&org(), l).unwrap()
            };
            wire_json(&projected(item))
        })
        .collect();
    let body = batch_body(items);
    let (out, capture) = batch_get_through_capture(&body).await;
    assert!(capture.take().is_none());
    assert_eq!(out.responses.unwrap()[TABLE].len(), leads.len());

    assert_eq!(store_reads(body, &leads).await, sorted(leads));
}

#[tokio::test]
async fn an_error_is_the_sdks_and_a_retried_throttle_then_reads_the_page() {
    let throttle = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "slow down"
    })
    .to_string();
    let leads = leads();
    let page = json!({
        "Count": 2,
        "Items": [
            wire_json(&projected(lead_to_item(&org(), &leads[0]).unwrap())),
            wire_json(&projected(lead_to_item(&org(), &leads[1]).unwrap())),
        ],
        "ScannedCount": 5,
        "LastEvaluatedKey": {"orgId": {"S": org().as_str()}, "leadId": {"S": leads[1].id}},
    })
    .to_string();

    // Every attempt throttled: the SDK's error, with its code.
    let (sent, calls, capture) = query_through_capture(vec![(400, throttle.clone())]).await;
    let err = sent.unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the SDK retried the throttle"
    );
    assert!(capture.take().is_none());

    // A throttle, then the page: retried by the SDK, read by the reader.
    let (sent, calls, capture) = query_through_capture(vec![(400, throttle), (200, page)]).await;
    let out = sent.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!((out.count(), out.scanned_count()), (2, 5));
    let Some(Read::Query(read)) = capture.take() else {
        panic!("the reader did not read the page")
    };
    assert_eq!(read.items.len(), 2);
    assert_eq!(read.last_key.as_deref(), Some(leads[1].id.as_str()));
}

#[tokio::test]
async fn an_item_of_another_organization_still_fails_the_read() {
    let lead = &leads()[0];
    let other = OrgId::new("org-other").unwrap();
    let body = batch_body(vec![wire_json(&projected(
        lead_to_item(&other, lead).unwrap(),
    ))]);
    let (client, _) = fake_client(vec![(200, body)]);
    let store = DynamoStore::new(client, TABLE);
    let attrs = Default::default();
    let ids = vec![lead.id.clone()];
    let got: Result<Vec<_>, _> = store.get_many(&org(), &ids, &attrs).try_collect().await;
    let err = got.expect_err("a lead of another organization");
    assert!(err.message.contains("another organization"), "{err}");
}
