//! Differential test: random filters over a random corpus in DynamoDB
//! (the moto server of `make test`), against a brute-force evaluator
//! written from the documents (`tests/it/filter_oracle.rs`, which calls
//! none of the crate's filter code).
//!
//! Each case is checked twice:
//! - through the store as exports use it (the FilterExpression, then the
//!   exact predicate on every item): the bulk range equals the oracle's,
//!   and the whole selection equals the in-memory store's;
//! - through [`DynamoStore::without_recheck`] (what the FilterExpression
//!   alone lets through, the whole partition): it holds every lead the
//!   oracle matches (the push-down is sound), every item without search
//!   attributes, and, where the store claims the push-down decides exactly
//!   (`pushed_filter`'s flag: `pushdown_exact` and all of it rendered),
//!   nothing else among the items with search attributes.
//!
//! The cases come from a random seed, printed; `DIFFERENTIAL_SEED=N`
//! replays one. Filters are redrawn until they match some leads, and start
//! indexes reach the end of the matches, so that most cases compare
//! non-empty ranges (asserted), including deep ones. The corpus mixes
//! compact items with items of the earlier layout, with and without search
//! attributes, so deep ranges skim over both.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use lead_export::auth::OrgId;
use lead_export::model::Lead;
use lead_export::request::{parse, Selection};
use lead_export::resolve::resolve_all;
use lead_export::store::dynamodb::{json_text_item, legacy_item, previous_item, pushed_filter};
use lead_export::store::{DynamoStore, LeadStore, MemoryStore};

use crate::filter_oracle::passes;
use crate::support::testgen::{arb_filter_json, arb_lead, arb_single_filter_json};

const CORPUS: usize = 400;
const CASES: usize = 48;
/// Draws of a filter until one matches at least `MIN_MATCHES` leads.
const DRAWS: usize = 50;
const MIN_MATCHES: usize = 5;

/// The seed of this run: `DIFFERENTIAL_SEED`, or a random one.
fn seed() -> u64 {
    match std::env::var("DIFFERENTIAL_SEED") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("DIFFERENTIAL_SEED={s:?} is not a u64")),
        _ => rand::random(),
    }
}

fn runner_from(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.wrapping_add(i as u64).to_le_bytes());
    }
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

fn sample<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).expect("generate").current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn dynamodb_and_memory_give_the_same_bulk_ranges() {
    let client = crate::support::dynamodb_client().await;
    let table = format!("diff-{}", uuid::Uuid::new_v4().simple());
    lead_export::aws::ensure_table(&client, &table)
        .await
        .unwrap();
    let dynamo = DynamoStore::new(client.clone(), &table);
    let raw = DynamoStore::new(client.clone(), &table).without_recheck();
    let memory = MemoryStore::new();
    let org = OrgId::new("org-diff").unwrap();
    let other = OrgId::new("org-other").unwrap();

    let seed = seed();
    eprintln!("differential: seed {seed} (replay with DIFFERENTIAL_SEED={seed})");
    let mut runner = runner_from(seed);
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
    // Every 10th lead is an item of the earlier layout (the document as
    // attributes) without search attributes (from before the search index):
    // the Rust predicate must still decide it; every 10th from the 5th is of
    // the earlier layout with search attributes (of `s_v` 1); every 10th
    // from the 3rd is of the previous layout (camelCase `doc`, the search
    // attributes of `s_v` 1); every 10th from the 7th has its document as
    // JSON text in `d` (the layout before the packed one). The rest are of
    // today's layout (the packed document).
    let layout = |i: usize| i % 10;
    let compact: Vec<Lead> = corpus
        .iter()
        .enumerate()
        .filter(|(i, _)| ![0, 3, 5, 7].contains(&layout(*i)))
        .map(|(_, l)| l.clone())
        .collect();
    dynamo.put_leads(&org, &compact).await.unwrap();
    let legacy_writes = corpus
        .iter()
        .enumerate()
        .filter(|(i, _)| [0, 3, 5, 7].contains(&layout(*i)))
        .map(|(i, lead)| {
            let item: HashMap<String, AttributeValue> = if layout(i) == 7 {
                json_text_item(&org, lead).unwrap()
            } else if layout(i) == 3 {
                previous_item(&org, lead).unwrap()
            } else {
                legacy_item(&org, lead)
                    .unwrap()
                    .into_iter()
                    .filter(|(k, _)| layout(i) == 5 || !k.starts_with("s_"))
                    .collect()
            };
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
        });
    futures::stream::iter(legacy_writes)
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    memory.insert(org.as_str(), corpus.clone());
    // Another organization holding some of the same ids: never seen.
    let foreign: Vec<Lead> = corpus[..100].to_vec();
    dynamo.put_leads(&other, &foreign).await.unwrap();

    // A third of the cases combine several keys, the rest exercise one key
    // alone. The generators often give filters that match nothing or, with
    // empty parts, everything: seven cases in ten redraw until the filter
    // matches at least MIN_MATCHES leads but not all, two until it matches
    // at least MIN_MATCHES, the tenth takes the first draw.
    let combined = arb_filter_json();
    let single = arb_single_filter_json(false);
    let ids: Vec<String> = corpus.iter().map(|l| l.id.clone()).collect();
    // Items the FilterExpression decides (those with the current search
    // attributes); the others always pass it.
    let searchable: HashSet<&str> = corpus
        .iter()
        .enumerate()
        .filter(|(i, _)| ![0, 3, 5].contains(&layout(*i)))
        .map(|(_, l)| l.id.as_str())
        .collect();
    let mut selective = 0;
    let mut non_empty = 0;
    let mut deep = 0;
    let mut exact_cases = 0;
    let mut loose = 0;
    for case in 0..CASES {
        let draw = |runner: &mut TestRunner| -> Value {
            if case % 3 == 0 {
                sample(runner, &combined)
            } else {
                sample(runner, &single)
            }
        };
        let mut filters = draw(&mut runner);
        let mut matching = matching_ids(&corpus, &filters);
        let wanted = |n: usize| match case % 10 {
            0..=6 => n >= MIN_MATCHES && n < corpus.len(),
            7 | 8 => n >= MIN_MATCHES,
            _ => true,
        };
        for _ in 1..DRAWS {
            if wanted(matching.len()) {
                break;
            }
            filters = draw(&mut runner);
            matching = matching_ids(&corpus, &filters);
        }
        let matches = matching.len();
        let count = sample(&mut runner, &(1usize..=400));
        // The start: anywhere in the matches, the last few matches (deep in
        // the organization's partition), 0, or up to 50 past the end.
        let start = match case % 4 {
            0 => sample(&mut runner, &(0..matches.max(1))),
            1 => matches.saturating_sub(sample(&mut runner, &(1..=count.min(50)))),
            2 => 0,
            _ => sample(&mut runner, &(0..=matches + 50)),
        };
        let pick = proptest::sample::subsequence(ids.clone(), 0..20);
        let excluded = sample(&mut runner, &pick);
        let mut included = sample(&mut runner, &pick);
        included.push("not-a-lead".into());
        included.extend(sample(&mut runner, &pick).into_iter().take(3));
        let mut body = json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
            "filters": filters, "excludedIds": excluded, "includedIds": included}});
        // Three cases in five export the name only, so that the Query
        // projects little more than what the filter reads (which must then
        // be enough for the Rust predicate); the others the default fields.
        if case % 5 < 3 {
            body["exportFields"] = json!(["name"]);
        }
        let request = parse(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("case {case}: generated filter refused: {e:?}\n{body}"));
        let selection: &Selection = &request.selection;
        let attrs = request.fields.unwrap().lead_attributes();
        let from_dynamo = resolve_all(&dynamo, &org, selection, &attrs).await.unwrap();
        let from_memory = resolve_all(&memory, &org, selection, &attrs).await.unwrap();
        let a: Vec<&str> = from_dynamo.iter().map(|l| l.id.as_str()).collect();
        let b: Vec<&str> = from_memory.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(a, b, "seed {seed}, case {case}: {body}");

        // The bulk range part (before the included ids), from the corpus.
        let excluded: HashSet<&str> = excluded.iter().map(String::as_str).collect();
        let range: Vec<&str> = matching
            .iter()
            .skip(start)
            .take(count)
            .map(String::as_str)
            .filter(|id| !excluded.contains(id))
            .collect();
        assert!(
            a.len() >= range.len() && a[..range.len()] == range[..],
            "seed {seed}, case {case}: the bulk range is {:?}, the oracle's {range:?}\n{body}",
            &a[..range.len().min(a.len())]
        );

        // What the FilterExpression alone lets through, the whole partition.
        let compiled = lead_export::filters::compile(&filters).unwrap();
        let exact = pushed_filter(&compiled).1;
        let through: HashSet<String> = raw
            .find_all(&org, &compiled, 0, CORPUS + 1, &attrs)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        let expected: HashSet<String> = matching.iter().cloned().collect();
        let missed: Vec<&String> = expected.difference(&through).collect();
        assert!(
            missed.is_empty(),
            "seed {seed}, case {case}: the push-down drops matches {missed:?}\n{filters}"
        );
        let unfiltered: Vec<&str> = corpus
            .iter()
            .map(|l| l.id.as_str())
            .filter(|id| !searchable.contains(id) && !through.contains(*id))
            .collect();
        assert!(
            unfiltered.is_empty(),
            "seed {seed}, case {case}: items without the current search attributes were dropped: {unfiltered:?}"
        );
        let extra: Vec<&str> = through
            .iter()
            .map(String::as_str)
            .filter(|id| searchable.contains(id) && !expected.contains(*id))
            .collect();
        if exact {
            exact_cases += 1;
            assert!(
                extra.is_empty(),
                "seed {seed}, case {case}: the push-down claims to be exact but lets through {extra:?}\n{filters}"
            );
        } else if !extra.is_empty() {
            loose += 1;
        }
        if !range.is_empty() {
            non_empty += 1;
            if start > 0 && start + count >= matches {
                deep += 1;
            }
        }
        if matches > 0 && matches < corpus.len() {
            selective += 1;
        }
    }
    eprintln!(
        "differential (seed {seed}): {CASES} cases compared, {non_empty} with a non-empty bulk range \
         ({deep} of them reading to the last match from a start > 0), \
         {selective} with a filter matching some but not all leads; \
         without the re-check: {exact_cases} exact push-downs equal to the oracle, \
         {loose} inexact ones letting non-matches through"
    );
    assert!(
        non_empty * 10 >= CASES * 7,
        "seed {seed}: only {non_empty} of {CASES} cases compared a non-empty range"
    );
    assert!(
        deep >= CASES / 5,
        "seed {seed}: only {deep} cases read to the end of the matches"
    );
    assert!(
        selective >= CASES / 2,
        "seed {seed}: too few selective filters: {selective}"
    );
}

/// The ids of the corpus leads `filters` matches by the oracle, in id order.
fn matching_ids(corpus: &[Lead], filters: &Value) -> Vec<String> {
    let mut ids: Vec<String> = corpus
        .iter()
        .filter(|l| passes(filters, l))
        .map(|l| l.id.clone())
        .collect();
    ids.sort_unstable();
    ids
}
