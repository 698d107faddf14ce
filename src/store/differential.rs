//! Differential test: random filters over a random corpus give exactly the
//! same bulk selections from the DynamoDB path (against the moto server of
//! `make test`, with the push-down FilterExpression) as from the in-memory
//! predicate.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::json;

use super::dynamodb::lead_to_item;
use super::{DynamoStore, MemoryStore};
use crate::auth::OrgId;
use crate::filters::testgen::{arb_filter_json, arb_lead, arb_single_filter_json};
use crate::model::Lead;
use crate::request::{parse, Selection};
use crate::resolve::resolve;

const CORPUS: usize = 2_500;
const CASES: usize = 60;

fn moto() -> Option<String> {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var("REQUIRE_MOTO").is_ok() => {
            panic!("REQUIRE_MOTO set without MOTO_ENDPOINT")
        }
        _ => {
            eprintln!("MOTO_ENDPOINT not set: skipping the differential test (run `make test`)");
            None
        }
    }
}

fn sample<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).expect("generate").current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_and_memory_give_the_same_bulk_ranges() {
    let Some(endpoint) = moto() else { return };
    let sdk = crate::aws::sdk_config_for(Some(&endpoint)).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("diff-{}", uuid::Uuid::new_v4().simple());
    crate::aws::ensure_table(&client, &table).await.unwrap();
    let dynamo = DynamoStore::new(client.clone(), &table);
    let memory = MemoryStore::new();
    let org = OrgId::new("org-diff").unwrap();
    let other = OrgId::new("org-other").unwrap();

    let mut runner = TestRunner::deterministic();
    let lead_strategy = arb_lead();
    let corpus: Vec<Lead> = (0..CORPUS)
        .map(|i| {
            let mut lead = sample(&mut runner, &lead_strategy);
            // Unique ids whose order is unrelated to insertion order.
            lead.id = format!(
                "{:08x}-{i}",
                (i as u64).wrapping_mul(0x9E37_79B9) % (1 << 32)
            );
            lead
        })
        .collect();
    // Every 10th lead is written without search attributes (an item from
    // before the search index): the Rust predicate must still decide it.
    let plain: Vec<&Lead> = corpus.iter().step_by(10).collect();
    let indexed: Vec<&Lead> = corpus
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 0)
        .map(|(_, l)| l)
        .collect();
    let indexed: Vec<Lead> = indexed.into_iter().cloned().collect();
    for chunk in indexed.chunks(250) {
        let writes = chunk.chunks(25).map(|c| dynamo.put_leads(&org, c));
        futures::future::try_join_all(writes).await.unwrap();
    }
    for lead in &plain {
        let item: HashMap<String, AttributeValue> = lead_to_item(&org, lead)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("s_"))
            .collect();
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    memory.insert(org.as_str(), corpus.clone());
    // Another organization holding some of the same ids: never seen.
    let foreign: Vec<Lead> = corpus[..200].to_vec();
    dynamo.put_leads(&other, &foreign).await.unwrap();

    // A third of the cases combine several keys, the rest exercise one key
    // alone (more often selective).
    let combined = arb_filter_json();
    let single = arb_single_filter_json(false);
    let ids: Vec<String> = corpus.iter().map(|l| l.id.clone()).collect();
    let mut compared = 0;
    let mut selective = 0;
    for case in 0..CASES {
        let filters = if case % 3 == 0 {
            sample(&mut runner, &combined)
        } else {
            sample(&mut runner, &single)
        };
        let start = sample(&mut runner, &(0usize..CORPUS / 4));
        let count = sample(&mut runner, &(1usize..=400));
        let pick = proptest::sample::subsequence(ids.clone(), 0..20);
        let excluded = sample(&mut runner, &pick);
        let mut included = sample(&mut runner, &pick);
        included.push("not-a-lead".into());
        included.extend(sample(&mut runner, &pick).into_iter().take(3));
        let body = json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
            "filters": filters, "excludedIds": excluded, "includedIds": included}});
        let request = parse(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("case {case}: generated filter refused: {e:?}\n{body}"));
        let selection: &Selection = &request.selection;
        let attrs = request.fields.unwrap().lead_attributes();
        let from_dynamo = resolve(&dynamo, &org, selection, &attrs).await.unwrap();
        let from_memory = resolve(&memory, &org, selection, &attrs).await.unwrap();
        let a: Vec<&str> = from_dynamo.iter().map(|l| l.id.as_str()).collect();
        let b: Vec<&str> = from_memory.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(a, b, "case {case}: {body}");
        compared += 1;
        if let Selection::Bulk(bulk) = selection {
            let matching = corpus.iter().filter(|l| bulk.filter.matches(l)).count();
            if matching > 0 && matching < corpus.len() {
                selective += 1;
            }
        }
    }
    eprintln!("differential: {compared} cases compared, {selective} with a filter matching some but not all leads");
    assert!(
        selective >= CASES / 3,
        "too few selective filters: {selective}"
    );
}
