//! Position checkpoints (`docs/scale.md`): the filter fingerprint, paging a
//! search through the handler over in-memory stores (each page starts where
//! the last one ended; a version bump starts again from the first key), the
//! DynamoDB cursor store on moto, and a property test against a brute-force
//! oracle.

use std::sync::{Arc, Mutex};

use lead_export::auth::OrgId;
use lead_export::filters::{self, CompiledFilter};
use lead_export::http::handle;
use lead_export::model::Lead;
use lead_export::request::{self, Selection};
use lead_export::store::{
    Attributes, Chunks, CursorStore, LeadPages, LeadStore, MemoryCursors, MemoryStore, Start, Tally,
};
use serde_json::json;

use crate::support::{self, header, post_as, ORG_A};

fn fingerprint(filter: serde_json::Value) -> String {
    filters::compile(&filter).unwrap().fingerprint()
}

#[test]
fn two_bodies_that_mean_the_same_filter_share_a_fingerprint() {
    let written = fingerprint(json!({
        "contact": {"skill": {"any": {"include": ["Rust", "Go"]}}},
        "account": {"industry": {"any": {"include": ["Software"]}}}
    }));
    // Keys in another order, spacing, case and accents that normalization
    // folds, a term twice, the default mode spelled out.
    let respelled = fingerprint(json!({
        "account": {"industry": {"any": {"include": ["  SOFTWARE "]}}},
        "contact": {"skill": {"any": {"include": {"mode": "SMART", "content": ["go", "rüst", "RUST"]}}}}
    }));
    assert_eq!(written, respelled);
    assert_eq!(written.len(), 64, "a hex SHA-256");
    // Other meanings, other fingerprints.
    let word = fingerprint(json!({
        "contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["rust", "go"]}}}},
        "account": {"industry": {"any": {"include": ["Software"]}}}
    }));
    let all = fingerprint(json!({
        "contact": {"skill": {"all": {"include": ["Rust", "Go"]}}},
        "account": {"industry": {"any": {"include": ["Software"]}}}
    }));
    let fewer = fingerprint(json!({"contact": {"skill": {"any": {"include": ["Rust", "Go"]}}}}));
    let none = fingerprint(json!({}));
    let distinct: std::collections::HashSet<&String> =
        [&written, &word, &all, &fewer, &none].into_iter().collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(none, fingerprint(json!(null)), "null filters are {{}}");
}

#[test]
fn exclusions_and_inclusions_do_not_change_the_fingerprint() {
    let body = |extra: serde_json::Value| {
        let mut selection = json!({"mode": "bulk", "startIndex": 0, "targetCount": 10,
            "filters": {"contact": {"location": {"any": {"include": ["Germany"]}}}}});
        selection
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let parsed =
            request::parse(json!({"selection": selection}).to_string().as_bytes()).unwrap();
        match parsed.selection {
            Selection::Bulk(bulk) => bulk.filter.fingerprint(),
            Selection::Manual { .. } => panic!("a bulk selection"),
        }
    };
    let plain = body(json!({}));
    assert_eq!(plain, body(json!({"excludedIds": ["a", "b"]})));
    assert_eq!(plain, body(json!({"includedIds": ["c"]})));
}

/// A `MemoryStore` that records where each range read started and the ids
/// it handed out.
struct Recording {
    inner: Arc<MemoryStore>,
    starts: Mutex<Vec<Start>>,
    handed: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    fn new(inner: Arc<MemoryStore>) -> Self {
        Recording {
            inner,
            starts: Mutex::default(),
            handed: Arc::default(),
        }
    }

    /// The starts and ids recorded since the last call.
    fn take(&self) -> (Vec<Start>, Vec<String>) {
        (
            std::mem::take(&mut *self.starts.lock().unwrap()),
            std::mem::take(&mut *self.handed.lock().unwrap()),
        )
    }
}

impl LeadStore for Recording {
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a> {
        self.inner.get_many(org, ids, attributes)
    }

    fn find_range<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
    ) -> LeadPages<'a> {
        self.find_range_from(
            org,
            filter,
            Start::default(),
            skip,
            take,
            attributes,
            Tally::new(),
        )
    }

    fn find_range_from<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
        tally: Tally,
    ) -> LeadPages<'a> {
        use futures::StreamExt;
        self.starts.lock().unwrap().push(from.clone());
        let handed = self.handed.clone();
        self.inner
            .find_range_from(org, filter, from, skip, take, attributes, tally)
            .inspect(move |page| {
                if let Ok(batch) = page {
                    handed
                        .lock()
                        .unwrap()
                        .extend(batch.leads.iter().map(|l| l.id.clone()));
                }
            })
            .boxed()
    }
}

const GERMANY: &str = r#"{"contact": {"location": {"any": {"include": ["Germany"]}}}}"#;

fn bulk_body(start: usize, count: usize) -> serde_json::Value {
    let filters: serde_json::Value = serde_json::from_str(GERMANY).unwrap();
    json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
        "filters": filters}, "exportFields": ["name", "emails"]})
}

/// The ids of the demo leads of org A matching `GERMANY`, from the lead
/// documents: a person location (city, state, state code, country, country
/// code) with a part equal to "Germany", case aside (`docs/filters.md`,
/// location terms).
fn german_ids(store: &MemoryStore) -> Vec<String> {
    let org = OrgId::new(ORG_A).unwrap();
    let all = futures::executor::block_on(store.find_all(
        &org,
        &filters::compile(&json!({})).unwrap(),
        0,
        usize::MAX,
        &Attributes::new(),
    ))
    .unwrap();
    all.into_iter()
        .filter(|l| {
            [
                &l.city,
                &l.state,
                &l.state_code,
                &l.country,
                &l.country_code,
            ]
            .into_iter()
            .flatten()
            .any(|part| part.trim().eq_ignore_ascii_case("germany"))
        })
        .map(|l| l.id)
        .collect()
}

fn recording_app(store: Arc<MemoryStore>) -> (lead_export::app::App, Arc<Recording>) {
    let recording = Arc::new(Recording::new(store));
    let app = support::app_with(
        &support::config(&[]),
        recording.clone(),
        Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
    );
    (app, recording)
}

#[tokio::test]
async fn each_page_of_a_search_starts_where_the_last_one_ended() {
    let store = support::demo_store();
    let expected = german_ids(&store);
    assert!(expected.len() > 120, "{} German demo leads", expected.len());
    let (app, recording) = recording_app(store);
    let count = 40;
    for (k, page) in expected.chunks(count).enumerate() {
        let resp = handle(&app, post_as(ORG_A, &bulk_body(k * count, count))).await;
        assert_eq!(resp.status(), 200, "page {k}");
        assert_eq!(header(&resp, "x-export-count"), page.len().to_string());
        let (starts, handed) = recording.take();
        assert_eq!(handed, page, "page {k}");
        let want = if k == 0 {
            Start::default()
        } else {
            Start {
                position: k * count,
                after: Some(expected[k * count - 1].clone()),
            }
        };
        assert_eq!(starts, [want], "page {k}");
    }
}

#[tokio::test]
async fn a_bumped_version_starts_from_the_first_key_and_a_missed_bump_is_the_window() {
    let store = support::demo_store();
    let (app, recording) = recording_app(store.clone());
    let org = OrgId::new(ORG_A).unwrap();
    assert_eq!(
        handle(&app, post_as(ORG_A, &bulk_body(0, 30)))
            .await
            .status(),
        200
    );
    recording.take();
    // A new German lead before all the others.
    let before = german_ids(&store);
    let mut first = Lead {
        id: "00000000-0000-0000-0000-000000000000".into(),
        ..Lead::default()
    };
    first.country = Some("Germany".into());
    store.insert(ORG_A, [first.clone()]);
    let after = german_ids(&store);
    assert_eq!(after[0], first.id);
    assert_eq!(after[1..], before[..]);

    // Without a bump (the window between a write and its stream record) the
    // checkpoint still counts the old positions: the page is off by one.
    assert_eq!(
        handle(&app, post_as(ORG_A, &bulk_body(30, 10)))
            .await
            .status(),
        200
    );
    let (starts, handed) = recording.take();
    assert_eq!(starts[0].position, 30);
    assert_eq!(handed, before[30..40]);

    // With the bump, the next request reads from the first key: exact.
    app.cursors.bump(&org).await.unwrap();
    assert_eq!(
        handle(&app, post_as(ORG_A, &bulk_body(30, 10)))
            .await
            .status(),
        200
    );
    let (starts, handed) = recording.take();
    assert_eq!(starts, [Start::default()]);
    assert_eq!(handed, after[30..40]);
    // ... and recorded new checkpoints for the new version.
    let saved = app
        .cursors
        .load(
            &org,
            &filters::compile(&serde_json::from_str(GERMANY).unwrap())
                .unwrap()
                .fingerprint(),
        )
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    assert_eq!(saved.entries.get(&40), Some(&after[39]));
}

#[tokio::test]
async fn another_organization_never_sees_the_checkpoints() {
    let cursors = MemoryCursors::new();
    let a = OrgId::new("org-a").unwrap();
    let b = OrgId::new("org-b").unwrap();
    let mut saved = lead_export::store::cursors::Checkpoints::empty(0);
    saved.entries.insert(250, "lead-250".into());
    cursors.save(&a, "f", &saved).await.unwrap();
    assert_eq!(cursors.load(&a, "f").await.unwrap(), saved);
    assert!(cursors.load(&b, "f").await.unwrap().entries.is_empty());
    assert!(cursors.load(&a, "g").await.unwrap().entries.is_empty());
}

// ------------------------------------------------------------- on moto ----

/// Items of a 1 MB Query page at about 2,100 bytes an item: how far a
/// request may read past what its range needs (its last page).
const PAGE_ITEMS: u64 = 500;

/// The DynamoDB cursor store on a new table of moto.
async fn moto_cursors() -> (
    lead_export::store::DynamoCursors,
    aws_sdk_dynamodb::Client,
    String,
) {
    let table = support::unique("cursors");
    let config = support::endpoint_config(&[("CURSORS_TABLE", &table)]);
    let (client, _) = lead_export::aws::clients(&config).await;
    lead_export::store::cursors::ensure_table(&client, &table)
        .await
        .unwrap();
    (
        lead_export::store::DynamoCursors::new(client.clone(), &table),
        client,
        table,
    )
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn dynamo_cursors_keep_checkpoints_per_version_and_organization() {
    use lead_export::store::cursors::Checkpoints;
    let (cursors, _, _) = moto_cursors().await;
    let a = OrgId::new("org-a").unwrap();
    let b = OrgId::new("org-b").unwrap();
    assert_eq!(cursors.load(&a, "f1").await.unwrap(), Checkpoints::empty(0));
    let mut at0 = Checkpoints::empty(0);
    at0.entries.insert(250, "lead-0250".into());
    at0.entries.insert(1000, "lead-1000".into());
    cursors.save(&a, "f1", &at0).await.unwrap();
    assert_eq!(cursors.load(&a, "f1").await.unwrap(), at0);
    assert_eq!(cursors.load(&a, "f2").await.unwrap(), Checkpoints::empty(0));
    assert_eq!(cursors.load(&b, "f1").await.unwrap(), Checkpoints::empty(0));
    // A write: the checkpoints of version 0 are no longer used.
    cursors.bump(&a).await.unwrap();
    assert_eq!(cursors.load(&a, "f1").await.unwrap(), Checkpoints::empty(1));
    assert_eq!(cursors.load(&b, "f1").await.unwrap(), Checkpoints::empty(0));
    let mut at1 = Checkpoints::empty(1);
    at1.entries.insert(500, "lead-0499".into());
    cursors.save(&a, "f1", &at1).await.unwrap();
    // A late save of version 0 does not replace them.
    cursors.save(&a, "f1", &at0).await.unwrap();
    assert_eq!(cursors.load(&a, "f1").await.unwrap(), at1);
    // The largest item: the cap of entries, each id of the longest length
    // recorded, fits DynamoDB's 400 KB (moto enforces it).
    use lead_export::store::cursors::{MAX_CHECKPOINTS, MAX_CHECKPOINT_ID_BYTES};
    let mut largest = Checkpoints::empty(1);
    for i in 1..=MAX_CHECKPOINTS {
        let id = format!("{i:0width$}", width = MAX_CHECKPOINT_ID_BYTES);
        largest.entries.insert(i * 250_000, id);
    }
    // With the counts of every segment, each with keys of the longest
    // length stored.
    use lead_export::store::cursors::MAX_MARK_ID_BYTES;
    use lead_export::store::segments::{Mark, SEGMENTS};
    for j in 0..SEGMENTS {
        let id = format!("{j:0width$}", width = MAX_MARK_ID_BYTES);
        largest.segments.insert(
            j,
            Mark {
                count: 1_000_000 + j as u64,
                resume: Some(id.clone()),
                last: Some(id),
                done: j % 2 == 0,
            },
        );
    }
    cursors.save(&a, "f3", &largest).await.unwrap();
    assert_eq!(cursors.load(&a, "f3").await.unwrap(), largest);
    // A mark with a longer key is not stored: that segment is counted again.
    let mut long = Checkpoints::empty(1);
    long.segments.insert(
        3,
        Mark {
            count: 1,
            resume: Some("x".repeat(MAX_MARK_ID_BYTES + 1)),
            last: None,
            done: false,
        },
    );
    long.segments.insert(4, Mark::default());
    cursors.save(&a, "f4", &long).await.unwrap();
    let loaded = cursors.load(&a, "f4").await.unwrap();
    assert_eq!(loaded.segments.keys().collect::<Vec<_>>(), [&4]);
}

/// A `DynamoStore` that counts, per range read, the DynamoDB items read
/// (the `observe` counters of the Query pages), where it started and the
/// ids it handed out.
struct Counted {
    inner: lead_export::store::DynamoStore,
    reads: Mutex<Vec<(Start, Vec<String>, lead_export::observe::DynamoUsage)>>,
}

impl LeadStore for Counted {
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a> {
        self.inner.get_many(org, ids, attributes)
    }

    fn find_range<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
    ) -> LeadPages<'a> {
        self.find_range_from(
            org,
            filter,
            Start::default(),
            skip,
            take,
            attributes,
            Tally::new(),
        )
    }

    fn find_range_from<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
        tally: Tally,
    ) -> LeadPages<'a> {
        use futures::TryStreamExt;
        Box::pin(async_stream::try_stream! {
            let read = self
                .inner
                .find_range_from(org, filter, from.clone(), skip, take, attributes, tally)
                .try_collect::<Vec<lead_export::store::Batch>>();
            let (pages, usage) = lead_export::observe::counting(read).await;
            let leads: Vec<Lead> = pages?.into_iter().flat_map(|b| b.leads).collect();
            self.reads
                .lock()
                .unwrap()
                .push((from, leads.iter().map(|l| l.id.clone()).collect(), usage));
            yield lead_export::store::Batch::from(leads);
        })
    }
}

/// The ids of `leads` whose person location has a part equal to "France",
/// case aside (`docs/filters.md`, location terms), in id order.
fn french_ids(leads: &[Lead]) -> Vec<String> {
    let mut ids: Vec<String> = leads
        .iter()
        .filter(|l| {
            [
                &l.city,
                &l.state,
                &l.state_code,
                &l.country,
                &l.country_code,
            ]
            .into_iter()
            .flatten()
            .any(|part| part.trim().eq_ignore_ascii_case("france"))
        })
        .map(|l| l.id.clone())
        .collect();
    ids.sort();
    ids
}

const FRANCE: &str = r#"{"contact": {"location": {"any": {"include": ["France"]}}}}"#;

fn france_body(start: usize, count: usize) -> serde_json::Value {
    let filters: serde_json::Value = serde_json::from_str(FRANCE).unwrap();
    json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
        "filters": filters}, "exportFields": ["name", "emails", "city", "country"]})
}

/// `CURSORS_LEADS` leads (default 2,000; about 17 ms each to seed on moto)
/// of which about 10% match; the search is paged 50 leads' worth at a
/// time (`targetCount` = leads / 50, at most 1,000) through the handler.
/// After the first request, each request reads at most one page of items
/// more than its range needs (from the previous range's last match to its
/// own last match), and every answer equals the reference: the same request
/// over an in-memory store, and the oracle's ids.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn paging_a_search_on_moto_reads_about_its_range_each_page() {
    let n: usize = std::env::var("CURSORS_LEADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let leads_table = support::unique("leads");
    let (cursors, client, cursors_table) = moto_cursors().await;
    let config = support::endpoint_config(&[
        ("LEADS_TABLE", &leads_table),
        ("CURSORS_TABLE", &cursors_table),
        ("EXPORT_TIMEOUT_SECONDS", "900"),
    ]);
    lead_export::aws::ensure_table(&client, &leads_table)
        .await
        .unwrap();
    let org = OrgId::new(ORG_A).unwrap();
    let leads = lead_export::demo::demo_leads(11, n);
    let dynamo = lead_export::store::DynamoStore::new(client.clone(), &leads_table);
    dynamo.put_leads(&org, &leads).await.unwrap();
    cursors.bump(&org).await.unwrap();
    let counted = Arc::new(Counted {
        inner: dynamo,
        reads: Mutex::default(),
    });
    let mut app = lead_export::app::App::new(
        &config,
        lead_export::app::Backends {
            store: counted.clone(),
            cursors: Arc::new(cursors),
            objects: Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
            audit_log: Arc::new(lead_export::audit::MemoryAuditLog::new()),
            metrics: Arc::new(lead_export::observe::MemoryMetrics::new()),
        },
    );
    // moto on a loaded machine (other tests query it meanwhile): let every
    // save finish, so that each page finds the previous one's end.
    app.cursors_settle = std::time::Duration::from_secs(10);
    app.cursors_save = std::time::Duration::from_secs(10);
    let memory = Arc::new(MemoryStore::new());
    memory.insert(ORG_A, leads.clone());
    let (reference, _) = recording_app(memory);

    let mut all: Vec<&String> = leads.iter().map(|l| &l.id).collect();
    all.sort();
    let index = |id: &String| all.binary_search(&id).unwrap() as u64;
    let expected = french_ids(&leads);
    assert!(
        expected.len() * 20 > n && expected.len() * 5 < n,
        "{} of {n}",
        expected.len()
    );
    let count = (n / 50).clamp(1, 1000);
    let mut total = 0;
    let mut from_first_key = 0;
    for (k, page) in expected.chunks(count).enumerate() {
        let body = france_body(k * count, count);
        let resp = handle(&app, post_as(ORG_A, &body)).await;
        assert_eq!(resp.status(), 200, "page {k}");
        let want = handle(&reference, post_as(ORG_A, &body)).await;
        assert_eq!(
            support::body_bytes(&resp),
            support::body_bytes(&want),
            "page {k}"
        );
        let (from, handed, usage) = counted.reads.lock().unwrap().pop().unwrap();
        assert_eq!(handed, page, "page {k}");
        let last = index(page.last().unwrap()) + 1;
        let needed = if k == 0 {
            last
        } else {
            let after = &expected[k * count - 1];
            assert_eq!(
                from,
                Start {
                    position: k * count,
                    after: Some(after.clone())
                },
                "page {k}"
            );
            last - (index(after) + 1)
        };
        assert!(
            usage.items_scanned <= needed + PAGE_ITEMS,
            "page {k}: read {} items, its range needs {needed}",
            usage.items_scanned
        );
        total += usage.items_scanned;
        from_first_key += last;
    }
    println!(
        "{n} leads, {} matches, pages of {count}: {total} items read ({:.2}x the organization); from the first key each time at least {from_first_key}",
        expected.len(),
        total as f64 / n as f64
    );
    assert!(total < from_first_key || expected.len() <= count);
}

// ------------------------------------------------------ property test ----

/// The filters of the property test, each with its rule from
/// `docs/filters.md` written here over the lead document (not the crate's
/// matcher): (filters JSON, oracle).
type Rule = fn(&Lead) -> bool;

fn location_parts(l: &Lead) -> impl Iterator<Item = &lead_export::model::Text> {
    [
        &l.city,
        &l.state,
        &l.state_code,
        &l.country,
        &l.country_code,
    ]
    .into_iter()
    .flatten()
}

fn oracle_filters() -> Vec<(serde_json::Value, Rule)> {
    vec![
        (json!({}), |_| true),
        // A location term matches a lead with a location part equal to it.
        (
            json!({"contact": {"location": {"any": {"include": ["France"]}}}}),
            |l| location_parts(l).any(|p| p.trim().eq_ignore_ascii_case("france")),
        ),
        // An excluded location: no part equal to it (no location passes).
        (
            json!({"contact": {"location": {"any": {"exclude": ["Germany"]}}}}),
            |l| !location_parts(l).any(|p| p.trim().eq_ignore_ascii_case("germany")),
        ),
        // A SMART term (a plain array) is a substring of a skill, case aside.
        (
            json!({"contact": {"skill": {"any": {"include": ["rust"]}}}}),
            |l| {
                l.skills
                    .iter()
                    .flatten()
                    .any(|s| s.to_lowercase().contains("rust"))
            },
        ),
    ]
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// Writes a lead (a new id, or one already there) with a country and a
    /// skill, then bumps the organization's data version.
    Write {
        id: u16,
        country: Option<&'static str>,
        skill: Option<&'static str>,
    },
    /// A version bump alone (a stream record of another write).
    Bump,
    /// An export of `[start, start + count)` with filter `filter`.
    Range {
        filter: usize,
        start: usize,
        count: usize,
    },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let country = prop::option::of(prop::sample::select(vec!["France", "Germany", "Canada"]));
    let skill = prop::option::of(prop::sample::select(vec!["Rust", "Trusty", "Go"]));
    prop_oneof![
        3 => (0u16..400, country, skill)
            .prop_map(|(id, country, skill)| Step::Write { id, country, skill }),
        1 => Just(Step::Bump),
        8 => (0usize..4, 0usize..330, 1usize..80)
            .prop_map(|(filter, start, count)| Step::Range { filter, start, count }),
    ]
}

/// The ids of `[start, start + count)` among `leads` (in id order) that
/// `rule` accepts.
fn oracle(
    leads: &std::collections::BTreeMap<String, Lead>,
    rule: Rule,
    start: usize,
    count: usize,
) -> Vec<String> {
    leads
        .values()
        .filter(|l| rule(l))
        .skip(start)
        .take(count)
        .map(|l| l.id.clone())
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(48))]

    /// Writes (each followed by its version bump), bumps and range reads
    /// through the checkpoints, interleaved: every range equals the
    /// brute-force oracle. A range whose nearest checkpoint is `near`
    /// matches or more before it is located by counting the key segments
    /// (the memory store's pages of 7 items), the counts kept from one
    /// request to the next of the same version.
    #[test]
    fn ranges_read_through_checkpoints_stay_exact_under_writes(
        base in 250usize..700,
        near in 1usize..400,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let org = OrgId::new(ORG_A).unwrap();
            let store = MemoryStore::new();
            let cursors: Arc<dyn CursorStore> = Arc::new(MemoryCursors::new());
            let mut model: std::collections::BTreeMap<String, Lead> =
                lead_export::demo::demo_leads(3, base)
                    .into_iter()
                    .map(|l| (l.id.clone(), l))
                    .collect();
            store.insert(ORG_A, model.values().cloned());
            cursors.bump(&org).await.unwrap();
            let filters = oracle_filters();
            let compiled: Vec<CompiledFilter> =
                filters.iter().map(|(f, _)| filters::compile(f).unwrap()).collect();
            for step in steps {
                match step {
                    Step::Write { id, country, skill } => {
                        // Ids interleave with the demo leads' UUIDs.
                        let id = format!("{:x}-{id:03}", id % 16);
                        let lead = Lead {
                            id: id.clone(),
                            first_name: "P".into(),
                            last_name: id.as_str().into(),
                            country: country.map(lead_export::model::Text::from),
                            skills: skill.map(|s| vec![s.into()]),
                            ..Lead::default()
                        };
                        store.insert(ORG_A, [lead.clone()]);
                        model.insert(id, lead);
                        cursors.bump(&org).await.unwrap();
                    }
                    Step::Bump => cursors.bump(&org).await.unwrap(),
                    Step::Range { filter, start, count } => {
                        let selection = Selection::Bulk(lead_export::request::BulkSelection {
                            start,
                            count,
                            filter: compiled[filter].clone(),
                            excluded: Default::default(),
                            included: Vec::new(),
                        });
                        let positions =
                            lead_export::store::Positions::new(cursors.clone()).with_near(near);
                        let attrs = Attributes::new();
                        let pages: Vec<lead_export::store::Batch> = {
                            use futures::TryStreamExt;
                            lead_export::resolve::resolve(&store, Some(&positions), &org, &selection, &attrs)
                                .try_collect()
                                .await
                                .unwrap()
                        };
                        positions.settle(std::time::Duration::from_secs(5)).await;
                        let got: Vec<String> = pages.into_iter().flat_map(|b| b.leads).map(|l| l.id).collect();
                        let want = oracle(&model, filters[filter].1, start, count);
                        proptest::prop_assert_eq!(got, want, "filter {} at {}+{}", filters[filter].0, start, count);
                    }
                }
            }
            Ok(())
        })?;
    }
}

// ------------------------------------------------- best effort, bounded ----

/// A cursor store whose load and save fail, or take `delay` first.
struct Unreliable {
    fail: bool,
    load_delay: std::time::Duration,
    save_delay: std::time::Duration,
    saves: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl CursorStore for Unreliable {
    async fn load(
        &self,
        _: &OrgId,
        _: &str,
    ) -> Result<lead_export::store::cursors::Checkpoints, lead_export::store::StoreError> {
        tokio::time::sleep(self.load_delay).await;
        if self.fail {
            return Err(lead_export::store::StoreError::transient("throttled"));
        }
        Ok(lead_export::store::cursors::Checkpoints::empty(0))
    }

    async fn save(
        &self,
        _: &OrgId,
        _: &str,
        _: &lead_export::store::cursors::Checkpoints,
    ) -> Result<(), lead_export::store::StoreError> {
        self.saves
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(self.save_delay).await;
        if self.fail {
            return Err(lead_export::store::StoreError::other("denied"));
        }
        Ok(())
    }

    async fn bump(&self, _: &OrgId) -> Result<(), lead_export::store::StoreError> {
        Ok(())
    }
}

#[tokio::test]
async fn failing_or_slow_checkpoints_never_fail_or_hold_an_export() {
    use std::time::{Duration, Instant};
    let slow = Duration::from_secs(30);
    for (what, fail, load_delay, save_delay) in [
        ("failing", true, Duration::ZERO, Duration::ZERO),
        ("slow load", false, slow, Duration::ZERO),
        ("slow save", false, Duration::ZERO, slow),
    ] {
        let store = support::demo_store();
        let expected = german_ids(&store);
        let cursors = Arc::new(Unreliable {
            fail,
            load_delay,
            save_delay,
            saves: Default::default(),
        });
        let recording = Arc::new(Recording::new(store));
        let mut app = support::app_with(
            &support::config(&[]),
            recording.clone(),
            Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
        );
        app.cursors = cursors.clone();
        let started = Instant::now();
        let resp = handle(&app, post_as(ORG_A, &bulk_body(10, 20))).await;
        let took = started.elapsed();
        assert_eq!(resp.status(), 200, "{what}");
        assert_eq!(recording.take().1, expected[10..30], "{what}");
        // The load waits at most 500 ms, the save 100 ms before the answer.
        // (About 40, 540 and 130 ms on a loaded 2-core machine, debug.)
        assert!(took < Duration::from_secs(3), "{what}: {took:?}");
        let saved = cursors.saves.load(std::sync::atomic::Ordering::Relaxed);
        // Nothing is saved when the checkpoints could not be loaded.
        assert_eq!(saved, usize::from(!fail && load_delay.is_zero()), "{what}");
    }
}

/// The key segments counted on DynamoDB (moto, or dynalite in `make test`'s
/// second pass): sort-key conditions (`<=`, `BETWEEN`, `>`) with the
/// caller's partition, 1 MB pages, skimmed for an exact filter and read in
/// full for a `WORD` term. Per segment, the same count and last match as
/// the memory store's count (pages of 7 items), for ids on a boundary (it
/// ends the segment below), just past one, and not UUIDs (the last
/// segment); and a deep range located by them equals the memory store's.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn segments_counted_on_dynamodb_equal_the_memory_stores() {
    use futures::TryStreamExt;
    use lead_export::store::segments::{boundary, SEGMENTS};
    use lead_export::store::Progress;
    let leads_table = support::unique("leads");
    let (cursors, client, _) = moto_cursors().await;
    lead_export::aws::ensure_table(&client, &leads_table)
        .await
        .unwrap();
    let org = OrgId::new(ORG_A).unwrap();
    let mut leads = lead_export::demo::demo_leads(13, 300);
    let extra = [
        boundary(1).unwrap(),
        "01000000-0000-0000-0000-000000000001".to_string(),
        boundary(SEGMENTS / 2).unwrap(),
        "lead-a".to_string(),
        "lead-b".to_string(),
    ];
    for (k, id) in extra.iter().enumerate() {
        let mut lead = leads[k].clone();
        lead.id = id.clone();
        lead.country = Some("France".into());
        lead.skills = Some(vec!["Rust".into(), "head sales".into()]);
        leads.push(lead);
    }
    let dynamo = lead_export::store::DynamoStore::new(client.clone(), &leads_table);
    dynamo.put_leads(&org, &leads).await.unwrap();
    let memory = MemoryStore::new();
    memory.insert(ORG_A, leads.clone());
    let cursors: Arc<dyn CursorStore> = Arc::new(cursors);
    // An exact push-down (skimmed) and a WORD term (read in full): each
    // count is 256 Queries or more, seconds on moto.
    let filters = [
        serde_json::from_str(FRANCE).unwrap(),
        json!({"contact": {"skill": {"any": {"include":
            {"mode": "WORD", "content": ["sales"]}}}}}),
    ];
    for json in filters {
        let filter = filters::compile(&json).unwrap();
        let (on_dynamo, in_memory) = (Progress::default(), Progress::default());
        dynamo
            .locate(&org, &filter, usize::MAX, &on_dynamo)
            .await
            .unwrap();
        memory
            .locate(&org, &filter, usize::MAX, &in_memory)
            .await
            .unwrap();
        let summary = |p: &Progress| -> Vec<(usize, u64, Option<String>, bool)> {
            p.marks()
                .into_iter()
                .map(|(j, m)| (j, m.count, m.last, m.done))
                .collect()
        };
        assert_eq!(summary(&on_dynamo), summary(&in_memory), "{json}");
        assert_eq!(on_dynamo.marks().len(), SEGMENTS, "{json}");
        let total: u64 = on_dynamo.marks().values().map(|m| m.count).sum();
        let all = memory
            .find_all(&org, &filter, 0, usize::MAX, &Attributes::new())
            .await
            .unwrap();
        assert_eq!(total as usize, all.len(), "{json}");

        // A deep range located by counting segments, its counts saved (no
        // walk first: the 305 leads are one page, which a walk would read
        // to the start without a count).
        let (start, count) = (all.len() / 2, 20);
        let selection = Selection::Bulk(lead_export::request::BulkSelection {
            start,
            count,
            filter: filter.clone(),
            excluded: Default::default(),
            included: Vec::new(),
        });
        let positions = lead_export::store::Positions::new(cursors.clone())
            .with_near(1)
            .with_walk(0);
        let attrs = Attributes::new();
        let pages: Vec<lead_export::store::Batch> =
            lead_export::resolve::resolve(&dynamo, Some(&positions), &org, &selection, &attrs)
                .try_collect()
                .await
                .unwrap();
        positions.settle(std::time::Duration::from_secs(10)).await;
        let got: Vec<&String> = pages.iter().flat_map(|b| &b.leads).map(|l| &l.id).collect();
        let want: Vec<&String> = all.iter().skip(start).take(count).map(|l| &l.id).collect();
        assert_eq!(got, want, "{json}");
        let saved = cursors.load(&org, &filter.fingerprint()).await.unwrap();
        assert!(!saved.segments.is_empty(), "{json}: the counts were saved");
    }
}

/// A range read in pieces on DynamoDB (moto, or dynalite in `make test`'s
/// second pass): leads of about 30 KB each (a long `linkedinUrl`), so that
/// a 1 MB page holds about 33 of them and a range of 150 is read in pieces
/// after its first page (`BETWEEN` bounds from that page's last key, 1 MB
/// pages within them). Ids that are not UUIDs (the last piece) and an
/// unreadable item (its position kept, handed out as skipped) among them;
/// every range equals the memory store's (its matches in order, and the
/// last position its tally heard of), and no lead of the other
/// organization holding the same ids comes back.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_range_read_in_pieces_on_dynamodb_equals_the_memory_stores() {
    use lead_export::store::DynamoStore;
    let leads_table = support::unique("leads");
    let client = support::dynamodb_client().await;
    lead_export::aws::ensure_table(&client, &leads_table)
        .await
        .unwrap();
    let org = OrgId::new(ORG_A).unwrap();
    let other = OrgId::new("org-pieces-other").unwrap();
    let mut leads = lead_export::demo::demo_leads(17, 200);
    for (k, id) in ["lead-a", "lead-b", "lead-c"].iter().enumerate() {
        leads[k].id = id.to_string();
    }
    for lead in &mut leads {
        lead.linkedin_url = Some(compact_str::format_compact!(
            "https://example.com/{}",
            "x".repeat(30_000)
        ));
    }
    let conditions = Arc::new(Mutex::new(Vec::new()));
    let watched = aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(KeyConditions(conditions.clone()))
            .build(),
    );
    let dynamo = DynamoStore::new(watched, &leads_table);
    dynamo.put_leads(&org, &leads).await.unwrap();
    dynamo.put_leads(&other, &leads[..50]).await.unwrap();
    // An unreadable item of the organization (its packed document cut
    // short) in the middle of the key space.
    let mut sorted: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    sorted.sort();
    let bad = sorted[120].clone();
    let bad_lead = leads.iter().find(|l| l.id == bad).unwrap().clone();
    let mut item = lead_export::store::dynamodb::lead_to_item(&org, &bad_lead).unwrap();
    item.insert(
        lead_export::store::dynamodb::COMPACT_DOC_ATTR.to_string(),
        aws_sdk_dynamodb::types::AttributeValue::B(vec![0xff, 0x01].into()),
    );
    client
        .put_item()
        .table_name(&leads_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let memory = MemoryStore::new();
    memory.insert(ORG_A, leads.clone());
    let all = filters::compile(&json!({})).unwrap();
    for (skip, take) in [(0, 200), (10, 150), (100, 100), (190, 50)] {
        conditions.lock().unwrap().clear();
        let (got, got_end) = read_from_first_key(&dynamo, &org, &all, skip, take).await;
        let (want, want_end) = read_from_first_key(&memory, &org, &all, skip, take).await;
        let want: Vec<String> = want
            .iter()
            .flat_map(|b| &b.leads)
            .map(|l| l.id.clone())
            .collect();
        let skipped: Vec<String> = got
            .iter()
            .flat_map(|b| &b.skipped)
            .map(|s| s.id.clone().unwrap())
            .collect();
        let mut ids: Vec<String> = got
            .iter()
            .flat_map(|b| &b.leads)
            .map(|l| l.id.clone())
            .chain(skipped.iter().cloned())
            .collect();
        ids.sort();
        assert_eq!(ids, want, "{take} at {skip}");
        let expect_bad = want.contains(&bad);
        assert_eq!(
            skipped,
            if expect_bad {
                vec![bad.clone()]
            } else {
                vec![]
            },
            "{take} at {skip}"
        );
        assert_eq!(got_end, want_end, "{take} at {skip}");
        // Read in pieces: Queries within sort-key bounds after the first.
        let asked = conditions.lock().unwrap().clone();
        let within = asked.iter().filter(|c| c.contains("#sk")).count();
        if want.len() >= 150 {
            assert!(within >= 2, "{take} at {skip}: {asked:?}");
        }
        assert_eq!(
            asked.first().map(String::as_str),
            Some("#pk = :pk"),
            "{take} at {skip}"
        );
        // The leads in key order, each lead whole (the long field intact).
        let leads_got: Vec<&Lead> = got.iter().flat_map(|b| &b.leads).collect();
        assert!(
            leads_got.windows(2).all(|w| w[0].id < w[1].id),
            "{take} at {skip}"
        );
        assert!(leads_got
            .iter()
            .all(|l| l.linkedin_url.as_ref().is_some_and(|u| u.len() > 30_000)));
    }
}

/// `store.find_range_from` the first key: its pages, and the last match its
/// tally heard of.
async fn read_from_first_key(
    store: &dyn LeadStore,
    org: &OrgId,
    filter: &CompiledFilter,
    skip: usize,
    take: usize,
) -> (Vec<lead_export::store::Batch>, Option<(usize, String)>) {
    use futures::TryStreamExt;
    let tally = lead_export::store::Tally::new();
    let attrs = Attributes::new();
    let pages = store
        .find_range_from(
            org,
            filter,
            Start::default(),
            skip,
            take,
            &attrs,
            tally.clone(),
        )
        .try_collect()
        .await
        .unwrap();
    (pages, tally.learned().end)
}

/// Records the key condition of every Query a client sends.
#[derive(Debug)]
struct KeyConditions(Arc<Mutex<Vec<String>>>);

impl aws_sdk_dynamodb::config::Intercept for KeyConditions {
    fn name(&self) -> &'static str {
        "KeyConditions"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(query) = context
            .input()
            .downcast_ref::<aws_sdk_dynamodb::operation::query::QueryInput>()
        {
            self.0.lock().unwrap().push(
                query
                    .key_condition_expression()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        Ok(())
    }
}
