//! The simulated DynamoDB (`support/simdb.rs`) on its own, and a small
//! `make simulate`: the real handler over it for an organization of 20,000
//! leads, 10% of which match. Counts and exactness only, never wall time:
//! expected values come from the synthetic data's definition (`Matches`,
//! `lead_id`, the 1 MB page of 2,100-byte items).

use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use lead_export::auth::OrgId;
use lead_export::deadline::RESPONSE_MARGIN;
use lead_export::store::cursors::CHECKPOINT_EVERY;
use lead_export::store::dynamodb::{lead_to_item, previous_item};
use lead_export::store::segments::{MAX_IN_FLIGHT, SEGMENTS, WALK_PAGES};

use crate::support::simdb::{
    self, dynamodb_item_size, export, index_after, lead_id, matches, sim_app, Matches, OrgSpec,
    SimDb, ITEM_BYTES, LEADS_TABLE, PAGE_BYTES,
};

const SEED: u64 = 7;
const ORG: &str = "org-sim";
const SPEC: OrgSpec = OrgSpec {
    n: 20_000,
    selectivity: 0.1,
};

/// Items in a full 1 MB page: the first count of items whose size reaches 1 MB.
const PAGE_ITEMS: u64 = PAGE_BYTES.div_ceil(ITEM_BYTES);

fn db() -> SimDb {
    db_of(SPEC)
}

/// A simulated DynamoDB of [`SEED`] holding [`ORG`] as `spec` says.
fn db_of(spec: OrgSpec) -> SimDb {
    let db = SimDb::new(SEED);
    db.add_org(ORG, spec);
    db
}

fn key(i: u64) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("orgId".to_string(), AttributeValue::S(ORG.into())),
        ("leadId".to_string(), AttributeValue::S(lead_id(i, SPEC.n))),
    ])
}

#[test]
fn ids_increase_and_a_key_finds_the_next_lead() {
    let n = 5_000_000;
    let ids: Vec<String> = [0, 1, 2, 2_499_999, 4_999_998, 4_999_999]
        .iter()
        .map(|&i| lead_id(i, n))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
    assert_eq!(ids[0], "00000000-0000-0000-0000-000000000000");
    assert_eq!(index_after(&lead_id(41, n), n), Some(42));
    assert_eq!(index_after(&lead_id(n - 1, n), n), Some(n));
    // A key between two leads: the next lead.
    let mut between = lead_id(41, n);
    between.replace_range(35..36, "f");
    assert_eq!(index_after(&between, n), Some(42));
    assert_eq!(index_after("not-a-uuid", n), None);
}

#[test]
fn the_share_of_matches_is_the_selectivity() {
    for selectivity in [0.5, 0.05, 0.005] {
        let hits = (0..200_000)
            .filter(|&i| matches(SEED, i, selectivity))
            .count();
        let share = hits as f64 / 200_000.0;
        assert!(
            (share - selectivity).abs() < selectivity * 0.1,
            "{share} for {selectivity}"
        );
    }
    assert!(!matches(SEED, 3, 0.0));
    assert!(matches(SEED, 3, 1.0));
}

/// The constant item size is today's average stored lead: the demo leads
/// (`make bench`'s data) in the compact layout, by DynamoDB's size rules.
#[test]
fn the_item_size_is_the_demo_leads_average() {
    let org = OrgId::new("org-bench").unwrap();
    let leads = lead_export::demo::demo_leads(1, 1_000);
    let total: u64 = leads
        .iter()
        .map(|l| dynamodb_item_size(&lead_to_item(&org, l).unwrap()))
        .sum();
    let average = total / leads.len() as u64;
    eprintln!("average stored demo lead: {average} bytes");
    assert!(
        average.abs_diff(ITEM_BYTES) <= ITEM_BYTES / 10,
        "average stored demo lead: {average} bytes, ITEM_BYTES {ITEM_BYTES}"
    );
}

/// The stored lead is at most 1,600 bytes on average by DynamoDB's size
/// rules (the demo leads `make bench` stores; 2,098 in the previous layout,
/// which [`previous_item`] still writes for the tests), so that a 1 MB Query
/// page holds at least 655 of them.
#[test]
fn the_demo_leads_average_at_most_1600_bytes() {
    let org = OrgId::new("org-bench").unwrap();
    let leads = lead_export::demo::demo_leads(1, 3_000);
    let size = |item: &std::collections::HashMap<String, AttributeValue>| dynamodb_item_size(item);
    let total: u64 = leads
        .iter()
        .map(|l| size(&lead_to_item(&org, l).unwrap()))
        .sum();
    let previous: u64 = leads
        .iter()
        .map(|l| size(&previous_item(&org, l).unwrap()))
        .sum();
    let (average, before) = (total / leads.len() as u64, previous / leads.len() as u64);
    eprintln!(
        "average stored demo lead (3,000): {average} bytes, {} per 1 MB page; previous layout {before} bytes, {} per page",
        PAGE_BYTES / average,
        PAGE_BYTES / before
    );
    assert!(
        average <= 1_600,
        "average stored demo lead: {average} bytes"
    );
    assert!(before > 2_000, "the previous layout: {before} bytes");
}

#[tokio::test(start_paused = true)]
async fn a_query_honours_limit_the_page_the_filter_and_the_projection() {
    let db = db();
    let client = db.client("simulate-query");
    let query = || {
        client
            .query()
            .table_name(LEADS_TABLE)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "orgId")
            .expression_attribute_values(":pk", AttributeValue::S(ORG.into()))
    };
    // Limit, no filter: every item read is returned.
    let out = query().limit(100).send().await.unwrap();
    assert_eq!((out.count(), out.scanned_count()), (100, 100));
    assert_eq!(out.last_evaluated_key(), Some(&key(99)));
    assert_eq!(
        out.items()[0]["leadId"],
        AttributeValue::S(lead_id(0, SPEC.n))
    );

    // No Limit: the page ends when the items read reach 1 MB.
    let out = query()
        .exclusive_start_key("orgId", AttributeValue::S(ORG.into()))
        .exclusive_start_key("leadId", AttributeValue::S(lead_id(99, SPEC.n)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.scanned_count() as u64, PAGE_ITEMS);
    assert_eq!(out.last_evaluated_key(), Some(&key(99 + PAGE_ITEMS)));

    // A filter with a projection of keys and s_v (a skim): the matches only.
    let out = query()
        .filter_expression("contains(#sk, :sk)")
        .expression_attribute_names("#sk", "sk")
        .expression_attribute_values(":sk", AttributeValue::S(simdb::SKILL.into()))
        .projection_expression("#pk, #id, #v")
        .expression_attribute_names("#id", "leadId")
        .expression_attribute_names("#v", "s_v")
        .limit(1_000)
        .send()
        .await
        .unwrap();
    let expected: Vec<String> = (0..PAGE_ITEMS)
        .filter(|&i| matches(SEED, i, SPEC.selectivity))
        .map(|i| lead_id(i, SPEC.n))
        .collect();
    let got: Vec<String> = out
        .items()
        .iter()
        .map(|item| item["leadId"].as_s().unwrap().clone())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        out.scanned_count() as u64,
        PAGE_ITEMS,
        "cut by the 1 MB page first"
    );
    assert!(
        out.items().iter().all(|item| item.len() == 3),
        "keys and s_v"
    );

    // A page past the end carries no key.
    let out = query()
        .exclusive_start_key("orgId", AttributeValue::S(ORG.into()))
        .exclusive_start_key("leadId", AttributeValue::S(lead_id(SPEC.n - 10, SPEC.n)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.scanned_count(), 9);
    assert!(out.last_evaluated_key().is_none());
    // A Limit that ends at the last item still carries a key.
    let out = query()
        .exclusive_start_key("orgId", AttributeValue::S(ORG.into()))
        .exclusive_start_key("leadId", AttributeValue::S(lead_id(SPEC.n - 10, SPEC.n)))
        .limit(9)
        .send()
        .await
        .unwrap();
    assert_eq!(out.scanned_count(), 9);
    assert_eq!(out.last_evaluated_key(), Some(&key(SPEC.n - 1)));

    let stats = db.take_window();
    assert_eq!(stats.calls("Query"), 5);
    assert_eq!(stats.items_read, 100 + 2 * PAGE_ITEMS + 2 * 9);
    // 0.5 unit per 4 KB read, rounded up per request.
    let half = |items: u64| (items * ITEM_BYTES).div_ceil(4096);
    assert_eq!(
        stats.half_units,
        half(100) + 2 * half(PAGE_ITEMS) + 2 * half(9)
    );
    assert_eq!(stats.depth, 5, "one after the other");
    assert_eq!(stats.segments, 4, "only the second continued from a key");
    assert_eq!(stats.throttles, 0);
}

#[tokio::test(start_paused = true)]
async fn a_partition_in_debt_throttles() {
    let db = db().with_latency(simdb::Latency {
        fixed: Duration::ZERO,
        per_mb: Duration::ZERO,
        sigma: 0.0,
    });
    let client = db.client("simulate-throttle");
    // Full pages of 500 items cost 257 half units each: the 3,000-unit burst
    // is in debt after 24 pages, and nothing refills while no time passes.
    let page_units = (PAGE_ITEMS * ITEM_BYTES).div_ceil(4096) as f64 / 2.0;
    let served_before_debt = (simdb::PARTITION_BURST / page_units).ceil() as u64;
    let mut codes = Vec::new();
    for _ in 0..served_before_debt + 1 {
        let result = client
            .query()
            .table_name(LEADS_TABLE)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "orgId")
            .expression_attribute_values(":pk", AttributeValue::S(ORG.into()))
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Config::builder()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        codes.push(result.err().and_then(|e| e.code().map(str::to_string)));
    }
    let throttled = codes.iter().filter(|c| c.is_some()).count();
    assert_eq!(throttled, 1, "{codes:?}");
    assert_eq!(
        codes.last().unwrap().as_deref(),
        Some("ProvisionedThroughputExceededException")
    );
    // A second later the bucket holds 3,000 more units.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ok = client
        .query()
        .table_name(LEADS_TABLE)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", "orgId")
        .expression_attribute_values(":pk", AttributeValue::S(ORG.into()))
        .send()
        .await;
    assert!(ok.is_ok());
    assert_eq!(db.take_window().throttles, 1);
}

#[tokio::test(start_paused = true)]
async fn other_tables_are_a_key_value_store() {
    let db = db();
    let client = db.client("simulate-kv");
    let k = |p: &str| {
        std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S(p.into())),
            ("sk".to_string(), AttributeValue::S("s".into())),
        ])
    };
    db.declare_table("cursors", &["pk", "sk"]);
    client
        .put_item()
        .table_name("cursors")
        .set_item(Some(k("a")))
        .item("pos", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        client
            .update_item()
            .table_name("cursors")
            .set_key(Some(k("b")))
            .update_expression("SET #at = :at ADD #hits :one")
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#hits", "hits")
            .expression_attribute_values(":at", AttributeValue::S("x".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
    // A conditional put: written when the stored version is not newer.
    let put_if_not_newer = |version: &str| {
        client
            .put_item()
            .table_name("cursors")
            .set_item(Some(k("a")))
            .item("v", AttributeValue::N(version.into()))
            .item("pos", AttributeValue::N("5".into()))
            .condition_expression("attribute_not_exists(#v) OR #v <= :v")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::N(version.into()))
            .send()
    };
    put_if_not_newer("3").await.unwrap();
    let err = put_if_not_newer("2").await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "{err:?}"
    );
    put_if_not_newer("3").await.unwrap();
    let mut items = out_of(&client, &k).await;
    items.sort_by_key(|i| i["pk"].as_s().unwrap().clone());
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["pos"], AttributeValue::N("5".into()));
    assert_eq!(items[0]["v"], AttributeValue::N("3".into()));
    assert_eq!(items[1]["hits"], AttributeValue::N("2".into()));
    assert_eq!(items[1]["at"], AttributeValue::S("x".into()));

    let err = client
        .scan()
        .table_name("cursors")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(
        err.message().unwrap().starts_with("not simulated: "),
        "{err:?}"
    );
    let stats = db.take_window();
    assert_eq!(stats.calls("UpdateItem"), 2);
    assert_eq!(stats.calls("BatchGetItem"), 1);
    assert_eq!(stats.calls("PutItem"), 4);
    assert_eq!(stats.not_simulated, 1);
    assert!(stats.half_units >= 2, "reads of other tables are charged");
}

/// The items of keys `a`, `b` and a missing one, by one consistent
/// BatchGetItem (as a checkpoint store reads them).
async fn out_of(
    client: &aws_sdk_dynamodb::Client,
    k: &dyn Fn(&str) -> std::collections::HashMap<String, AttributeValue>,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = client
        .batch_get_item()
        .request_items(
            "cursors",
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .keys(k("a"))
                .keys(k("b"))
                .keys(k("missing"))
                .consistent_read(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.responses().unwrap()["cursors"].clone()
}

#[tokio::test(start_paused = true)]
async fn the_handler_answers_exactly_over_the_simulated_dynamodb() {
    fastrand::seed(SEED);
    let db = db();
    let app = sim_app(&db, "simulate-handler");
    let oracle = Matches::new(SEED, SPEC);
    let total = oracle.indices.len() as u64;
    assert!((1_800..2_200).contains(&total), "{total} matches");

    // The first page: read in full from the first key, its first Query
    // page alone, then (about 10,000 items, 11 pages, to go) in pieces of
    // the key space read concurrently: at most one page past its last lead
    // per Query chain (docs/scale.md).
    let answer = export(&app, ORG, 0, 1_000).await;
    let stats = db.take_window();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids, oracle.range_ids(0, 1_000));
    let through = oracle.items_through(0, 1_000);
    assert!(
        (through..=through + stats.segments * PAGE_ITEMS).contains(&stats.items_read),
        "read {} items, the range ends at item {through}: {stats:?}",
        stats.items_read
    );
    assert!(
        stats.depth * 2 <= stats.calls("Query"),
        "the Queries overlapped: {stats:?}"
    );
    // Every Query read at most 1 MB: its units are its items' 4 KB blocks.
    let low = (stats.items_read * ITEM_BYTES).div_ceil(4096);
    assert!(
        (low..=low + stats.calls("Query")).contains(&stats.half_units),
        "{stats:?}"
    );

    // The second page and a deep range.
    for (start, count) in [(1_000, 1_000), (1_500, 300)] {
        let answer = export(&app, ORG, start, count).await;
        let stats = db.take_window();
        assert_eq!(answer.status, 200, "range at {start}");
        assert_eq!(
            answer.ids,
            oracle.range_ids(start, count),
            "range at {start}"
        );
        // The read starts from the position checkpoint at `start` (the
        // first page left one at its end and every 250th match, 1,000 and
        // 1,500 among them, docs/scale.md): at least every item after the
        // `start`-th match up to the range's last lead; past it, at most
        // one page per Query chain (the first page, then the pieces: both
        // ranges are more than 3 pages long).
        let from = oracle.items_through(0, start);
        let through = oracle.items_through(start, count) - from;
        assert!(
            (through..=through + stats.segments * PAGE_ITEMS).contains(&stats.items_read),
            "range at {start}: read {} items, the range ends {through} items after the checkpoint: {stats:?}",
            stats.items_read
        );
        assert!(
            stats.depth < stats.calls("Query"),
            "range at {start}: {stats:?}"
        );
        assert_eq!(stats.not_simulated, 0);
    }

    // A range past the end: nothing to export (400, docs/contract.md),
    // after reading the rest of the partition from the last checkpoint (the
    // end of the second page).
    let answer = export(&app, ORG, total + 10, 50).await;
    let stats = db.take_window();
    assert!(oracle.range_ids(total + 10, 50).is_empty());
    assert_eq!(answer.status, 400);
    let rest = SPEC.n - oracle.items_through(0, total.min(2_000));
    assert!(
        (rest..=rest + PAGE_ITEMS).contains(&stats.items_read),
        "past the end: read {} items, {rest} lie after the checkpoint",
        stats.items_read
    );
    // No lead is read by id; each of the four bulk exports read its data
    // version and checkpoints in one round trip (one BatchGetItem of the
    // cursors table).
    assert_eq!(db.total().calls("BatchGetItem"), 4);
}

/// The items of the organization that a range at `start` needs read when
/// it starts from a checkpoint at most `CHECKPOINT_EVERY` matches before it:
/// from that match's lead to the range's last lead.
fn walked_from_the_grid(oracle: &Matches, start: u64, count: u64) -> u64 {
    let grid = start.saturating_sub(CHECKPOINT_EVERY as u64 - 1);
    // `items_through(0, 0)` is the whole organization: nothing lies before 0.
    let before = if grid == 0 {
        0
    } else {
        oracle.items_through(0, grid)
    };
    oracle.items_through(0, start + count) - before
}

#[tokio::test(start_paused = true)]
async fn a_cold_deep_request_counts_the_segments_in_parallel_and_answers_exactly() {
    fastrand::seed(SEED);
    let db = db();
    let app = sim_app(&db, "simulate-segments");
    let oracle = Matches::new(SEED, SPEC);
    // Deep into the matches, no checkpoint: the range is located by
    // counting the key segments (every segment before the one holding the
    // start, and the pages in flight past it).
    let (start, count) = (1_700, 200);
    let answer = export(&app, ORG, start, count).await;
    let stats = db.take_window();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids, oracle.range_ids(start, count));
    assert_eq!(stats.not_simulated, 0);
    let through = oracle.items_through(0, start + count);
    // Each of 256 segments holds about 78 of the 20,000 leads: at least
    // the segments before the start, each its own Query chain, in parallel,
    // but those the first pages walked (the start is too far after them).
    let walked = u64::from(WALK_PAGES) * PAGE_ITEMS;
    let before = (oracle.items_through(0, start) - walked) * SEGMENTS as u64 / SPEC.n;
    assert!(stats.segments >= before, "{stats:?}");
    assert!(
        stats.depth * 2 < stats.calls("Query"),
        "the Queries overlapped: {stats:?}"
    );
    // Read: the segments up to the start (and at most one page of each
    // segment in flight past it), then the range from the checkpoint of the
    // grid below it.
    let most = through
        + walked_from_the_grid(&oracle, start, count)
        + (MAX_IN_FLIGHT as u64 + 1) * PAGE_ITEMS;
    assert!(
        (through..=most).contains(&stats.items_read),
        "read {} items, the range ends at item {through}, at most {most}",
        stats.items_read
    );

    // The same range again, and one near it: the counts were saved as
    // checkpoints, each read walks from the grid below its start.
    for (start, count) in [(start, count), (start - 300, 100)] {
        let answer = export(&app, ORG, start, count).await;
        let stats = db.take_window();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.ids, oracle.range_ids(start, count));
        let most = walked_from_the_grid(&oracle, start, count) + 2 * PAGE_ITEMS;
        assert!(
            stats.items_read <= most,
            "warm at {start}: read {} items, at most {most}",
            stats.items_read
        );
        assert_eq!(stats.depth, stats.calls("Query"), "sequential Queries");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_cut_by_its_deadline_keeps_its_count_and_the_retry_goes_further() {
    fastrand::seed(SEED);
    let spec = OrgSpec {
        n: 100_000,
        selectivity: 0.1,
    };
    let db = db_of(spec);
    let mut app = sim_app(&db, "simulate-cut");
    // A second before the answer is due (2 s before the invocation's end),
    // of which the count of segments stops 400 ms early to save what it
    // counted: about 40 pages of 1 MB at most an attempt, a fifth of the
    // 100,000 leads.
    app.timeout = Duration::from_millis(3_000);
    let oracle = Matches::new(SEED, spec);
    let (start, count) = (9_000, 100);
    let mut attempts = Vec::new();
    let answer = loop {
        let answer = export(&app, ORG, start, count).await;
        let stats = db.take_window();
        // A 504 too goes out when due, 2 s before the invocation's end:
        // its count was saved before.
        assert!(
            answer.elapsed <= app.timeout - RESPONSE_MARGIN,
            "attempt {}: answered after {:?}, later than due",
            attempts.len() + 1,
            answer.elapsed
        );
        attempts.push((answer.status, stats.items_read));
        if answer.status != 504 || attempts.len() == 40 {
            break answer;
        }
    };
    assert_eq!(answer.status, 200, "{attempts:?}");
    assert_eq!(answer.ids, oracle.range_ids(start, count));
    assert!(attempts.len() >= 3, "{attempts:?}: the test wants a cut");
    // Every attempt went further: the attempts read the items before the
    // range about once in all (each cut loses at most the pages in flight).
    let read: u64 = attempts.iter().map(|(_, items)| items).sum();
    let through = oracle.items_through(0, start + count);
    let most = through
        + walked_from_the_grid(&oracle, start, count)
        + attempts.len() as u64 * (MAX_IN_FLIGHT as u64 + 1) * PAGE_ITEMS;
    assert!(
        (through..=most).contains(&read),
        "{attempts:?}: read {read} items in all; the range ends at item {through}, at most {most}"
    );
}

/// A small organization (8,000 leads, half of them matching) asked a deep
/// range with no checkpoint: its first pages come within a few pages of
/// the start, so the range is read one page after another from the first
/// key, and no segment is counted (a count is at least one Query per
/// segment, 256).
#[tokio::test(start_paused = true)]
async fn a_small_organizations_cold_deep_range_is_read_without_a_count() {
    fastrand::seed(SEED);
    let spec = OrgSpec {
        n: 8_000,
        selectivity: 0.5,
    };
    let db = db_of(spec);
    let app = sim_app(&db, "simulate-small");
    let oracle = Matches::new(SEED, spec);
    let total = oracle.indices.len() as u64;
    // The deep range of `make side-by-side`: the matches less 600, rounded
    // down to a hundred.
    let start = (total - 600) / 100 * 100;
    let answer = export(&app, ORG, start, 1_000).await;
    let stats = db.take_window();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids, oracle.range_ids(start, 1_000));
    assert_eq!(stats.not_simulated, 0);
    // Sequential Queries, about the pages up to the range's end (the walk
    // restarts from its last match, the range from its start): no count.
    let through = oracle.items_through(0, start + 1_000);
    assert_eq!(stats.depth, stats.calls("Query"), "{stats:?}");
    assert!(
        stats.calls("Query") <= through.div_ceil(PAGE_ITEMS) + 3,
        "{stats:?}: {through} items up to the range's end"
    );
    assert!(
        (through..=through + PAGE_ITEMS).contains(&stats.items_read),
        "read {} items, the range ends at item {through}",
        stats.items_read
    );
}

/// Paging left checkpoints up to position 1,000 (the first page of a
/// search); a request at 90% of the matches is far from them: the count of
/// segments starts where those checkpoints and its first pages end, never
/// counting again the segments before them.
#[tokio::test(start_paused = true)]
async fn a_count_starts_from_the_checkpoints_paging_left() {
    fastrand::seed(SEED);
    let spec = OrgSpec {
        n: 100_000,
        selectivity: 0.1,
    };
    let db = db_of(spec);
    let app = sim_app(&db, "simulate-base");
    let oracle = Matches::new(SEED, spec);
    let first = export(&app, ORG, 0, 1_000).await;
    assert_eq!(first.ids, oracle.range_ids(0, 1_000));
    db.take_window();

    let (start, count) = (9_000, 100);
    let answer = export(&app, ORG, start, count).await;
    let stats = db.take_window();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids, oracle.range_ids(start, count));
    assert_eq!(stats.not_simulated, 0);
    let paged = oracle.items_through(0, 1_000);
    let through = oracle.items_through(0, start + count);
    // A segment holds about 390 of the 100,000 leads (39 matches): the
    // range is read from the end of the segment before it at worst, and
    // the pages in flight when the start was located are read past it.
    let segment = spec.n / SEGMENTS as u64;
    let most = through - paged + 2 * segment + (MAX_IN_FLIGHT as u64 + 1) * PAGE_ITEMS;
    assert!(
        (through - paged..=most).contains(&stats.items_read),
        "read {} items; {} lie between the checkpoint and the range's end, at most {most}",
        stats.items_read,
        through - paged
    );
    // The segments before the checkpoint's are not asked: fewer Query
    // chains than the segments from it on (and the walk's and the range's).
    let counted_before = paged * SEGMENTS as u64 / spec.n;
    assert!(
        stats.segments <= SEGMENTS as u64 - counted_before + 3,
        "{stats:?}: the segments before {counted_before} were counted"
    );
    // And a count it was: a Query chain per segment from the walk's end to
    // the start's segment.
    let walked = u64::from(WALK_PAGES) * PAGE_ITEMS;
    let counted = (oracle.items_through(0, start) - paged - walked) * SEGMENTS as u64 / spec.n;
    assert!(stats.segments >= counted, "{stats:?}: {counted} segments");
}

/// A warm deep range at a low selectivity in a large organization (1% of
/// 200,000 leads), the same request again after a cold one left a
/// checkpoint at its start, the partition's burst full again: after its
/// first page the range is read in pieces of the key space, concurrently,
/// at most one page per Query chain past its last lead. 200 matches span
/// about 20,000 items, 22 pages of 1 MB, within the partition's burst: the
/// longest chain of Queries is well under the pages a sequential read asks
/// one after another. 1,000 matches (about 108 pages, 4.5 s of the
/// partition's read units) stay within a page per chain too; their time is
/// the partition's, whoever asks (docs/scale.md).
#[tokio::test(start_paused = true)]
async fn a_warm_deep_range_is_read_in_parallel_pieces_within_a_page_each() {
    fastrand::seed(SEED);
    let spec = OrgSpec {
        n: 200_000,
        selectivity: 0.01,
    };
    let db = db_of(spec);
    let app = sim_app(&db, "simulate-pieces");
    let oracle = Matches::new(SEED, spec);
    for (start, count) in [(900, 200), (900, 1_000)] {
        let cold = export(&app, ORG, start, count).await;
        assert_eq!(cold.status, 200);
        assert_eq!(cold.ids, oracle.range_ids(start, count));
        db.take_window();
        // A partition's full burst again, as after a pause.
        db.refill();

        let answer = export(&app, ORG, start, count).await;
        let stats = db.take_window();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.ids, oracle.range_ids(start, count));
        assert_eq!(stats.not_simulated, 0);
        // The items from the `start`-th match's lead to the range's last
        // one (about count / selectivity).
        let span = oracle.items_through(start, count) - oracle.items_through(0, start);
        let needed = (count as f64 / spec.selectivity) as u64;
        let most = span.max(needed) + stats.segments * PAGE_ITEMS;
        assert!(
            (span..=most).contains(&stats.items_read),
            "{count} at {start}: read {} items; the range spans {span}, at most {most}: {stats:?}",
            stats.items_read
        );
        assert!(stats.segments > 1, "{count} at {start}: pieces: {stats:?}");
        eprintln!(
            "{count} at {start}: {} items read, the range spans {span}; {} Queries, {} chains, depth {}, {} throttled, {:?}",
            stats.items_read,
            stats.calls("Query"),
            stats.segments,
            stats.depth,
            stats.throttles,
            answer.elapsed
        );
        // A sequential read asks at least a page per 1 MB of the span, one
        // after another.
        let sequential = span.div_ceil(PAGE_ITEMS);
        if count == 200 {
            assert!(sequential >= 20, "{sequential} pages");
            assert!(
                stats.depth * 2 < sequential,
                "a chain of {} Queries, {sequential} pages one after another: {stats:?}",
                stats.depth
            );
        }
    }
}
