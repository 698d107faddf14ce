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
                if let Ok(leads) = page {
                    handed
                        .lock()
                        .unwrap()
                        .extend(leads.iter().map(|l| l.id.clone()));
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
