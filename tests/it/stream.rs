//! The leads table's stream handler: a batch of `KEYS_ONLY` records bumps
//! the data version of each of its organizations once (fixtures in
//! `events/stream/`).

use lead_export::auth::OrgId;
use lead_export::store::{CursorStore, MemoryCursors};
use lead_export::stream::{handle_batch, organizations};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/stream/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn org(name: &str) -> OrgId {
    OrgId::new(name).unwrap()
}

#[test]
fn a_batch_names_each_organization_once_in_first_seen_order() {
    let orgs = organizations(&fixture("leads-batch.json")).unwrap();
    let names: Vec<&str> = orgs.iter().map(|o| o.as_str()).collect();
    // Five records: org-demo-a three times (insert, remove, insert).
    assert_eq!(names, ["org-demo-a", "org-demo-b", "org-c"]);
}

#[tokio::test]
async fn a_batch_bumps_each_organization_once() {
    let cursors = MemoryCursors::new();
    assert_eq!(
        handle_batch(&cursors, &fixture("leads-batch.json"))
            .await
            .unwrap(),
        3
    );
    for name in ["org-demo-a", "org-demo-b", "org-c"] {
        assert_eq!(
            cursors.load(&org(name), "f").await.unwrap().version,
            1,
            "{name}"
        );
    }
    assert_eq!(cursors.load(&org("org-d"), "f").await.unwrap().version, 0);
}

#[tokio::test]
async fn a_record_without_an_organization_fails_the_batch_before_any_bump() {
    let mut event = fixture("leads-batch.json");
    event["Records"][3]["dynamodb"]["Keys"] = json!({"leadId": {"S": "x"}});
    let cursors = MemoryCursors::new();
    let err = handle_batch(&cursors, &event).await.unwrap_err();
    assert_eq!(err.to_string(), "stream batch: record 3 has no orgId key");
    assert_eq!(
        cursors.load(&org("org-demo-a"), "f").await.unwrap().version,
        0
    );
    assert!(organizations(&json!({"records": []})).is_err());
}
