//! Table provisioning (`aws::ensure_keyed_table_with_ttl`) over a scripted
//! DynamoDB at the SDK's HTTP layer: a DynamoDB without the time-to-live
//! API (dynalite answers `UpdateTimeToLive` with
//! `UnknownOperationException`) gets its table; any other refusal of
//! `UpdateTimeToLive` fails the provisioning.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use serde_json::{json, Value};

/// A client whose DynamoDB has an active table, time to live off, and
/// answers `UpdateTimeToLive` with a 400 of `update_error` (or success when
/// `None`); the operations called, in order.
fn scripted(
    update_error: Option<&'static str>,
) -> (aws_sdk_dynamodb::Client, Arc<Mutex<Vec<String>>>) {
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = calls.clone();
    let http = infallible_client_fn(move |req| {
        let op = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_start_matches("DynamoDB_20120810.")
            .to_string();
        log.lock().unwrap().push(op.clone());
        let (status, body): (u16, Value) = match (op.as_str(), update_error) {
            ("DescribeTable", _) => (
                200,
                json!({"Table": {"TableName": "audit", "TableStatus": "ACTIVE"}}),
            ),
            ("DescribeTimeToLive", _) => (
                200,
                json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
            ),
            ("UpdateTimeToLive", None) => (
                200,
                json!({"TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": true}}),
            ),
            ("UpdateTimeToLive", Some(code)) => (400, json!({"__type": code, "message": "no"})),
            (other, _) => panic!("unexpected call {other}"),
        };
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(body.to_string())
            .unwrap()
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .http_client(http)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), calls)
}

async fn ensure(client: &aws_sdk_dynamodb::Client) -> Result<(), String> {
    lead_export::aws::ensure_keyed_table_with_ttl(client, "audit", "pk", "sk", "expiresAt").await
}

#[tokio::test]
async fn only_a_missing_time_to_live_api_is_tolerated() {
    let (client, calls) = scripted(None);
    ensure(&client).await.unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "DescribeTable",
            "DescribeTable",
            "DescribeTimeToLive",
            "UpdateTimeToLive"
        ]
    );

    let (client, calls) = scripted(Some("com.amazon.coral.service#UnknownOperationException"));
    ensure(&client).await.unwrap();
    assert_eq!(calls.lock().unwrap().last().unwrap(), "UpdateTimeToLive");

    for refusal in [
        "com.amazon.coral.validate#ValidationException",
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
    ] {
        let (client, _) = scripted(Some(refusal));
        let e = ensure(&client).await.unwrap_err();
        assert!(e.starts_with("UpdateTimeToLive audit:"), "{refusal}: {e}");
    }
}
