//! The DynamoDB store's item layout (compact and earlier layouts, owner
//! checks), its unprocessed-key retries, and how `range_pages` pages a
//! range (skimming by key, page limits) over a fake table: through the
//! public API of `lead_export::store::dynamodb`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;
use lead_export::store::{Start, StoreError, Tally};

use aws_sdk_dynamodb::types::AttributeValue;
use lead_export::auth::OrgId;
use lead_export::filters::{self, search_attributes, CompiledFilter};
use lead_export::model::Lead;
use lead_export::store::dynamodb::*;
use std::sync::atomic::{AtomicU32, Ordering};

fn org() -> OrgId {
    OrgId::new("org-a").unwrap()
}

fn item(id: &str) -> Item {
    lead_to_item(
        &org(),
        &Lead {
            id: id.into(),
            first_name: "F".into(),
            last_name: id.into(),
            ..Lead::default()
        },
    )
    .unwrap()
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        max_attempts: 5,
    }
}

#[test]
fn item_round_trip_keeps_the_document() {
    let lead: Lead = serde_json::from_str(include_str!("../data/spec_lead.json")).unwrap();
    let item = lead_to_item(&org(), &lead).unwrap();
    assert_eq!(item["leadId"], AttributeValue::S(lead.id.clone()));
    assert!(!item.contains_key("id"));
    assert!(item.contains_key(filters::SEARCH_VERSION_ATTR));
    assert_eq!(lead_from_item(&org(), item).unwrap(), lead);
}

#[test]
fn a_compact_item_is_the_keys_the_doc_and_the_search_attributes() {
    let lead: Lead = serde_json::from_str(include_str!("../data/spec_lead.json")).unwrap();
    let item = lead_to_item(&org(), &lead).unwrap();
    let search = search_attributes(&lead);
    let mut names: Vec<&str> = item
        .keys()
        .map(String::as_str)
        .filter(|k| !search.contains_key(*k))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["d", "leadId", "orgId"]);
    let AttributeValue::B(doc) = &item[COMPACT_DOC_ATTR] else {
        panic!("doc is not binary")
    };
    let id = lead.id.as_bytes();
    assert!(
        !doc.as_ref().windows(id.len()).any(|w| w == id),
        "the id is the key, not in the document"
    );
    assert_eq!(
        search_attributes(&lead).len(),
        item.len() - 3,
        "every search attribute"
    );
}

/// On the demo leads, compact items hold fewer attributes than those of
/// the earlier layout; prints the sizes (the figures in the README).
#[test]
fn compact_demo_items_have_fewer_attributes() {
    let leads = lead_export::demo::demo_leads(1, 3000);
    let (mut compact_attrs, mut legacy_attrs, mut compact_bytes, mut legacy_bytes) = (0, 0, 0, 0);
    for lead in &leads {
        let compact = lead_to_item(&org(), lead).unwrap();
        let legacy = legacy_item(&org(), lead).unwrap();
        assert!(compact.len() < legacy.len(), "{}", lead.id);
        compact_attrs += compact.len();
        legacy_attrs += legacy.len();
        compact_bytes += item_size(&compact);
        legacy_bytes += item_size(&legacy);
    }
    let n = leads.len() as f64;
    println!(
        "demo items: compact {:.1} attributes, {:.0} bytes; earlier layout {:.1} attributes, {:.0} bytes",
        compact_attrs as f64 / n,
        compact_bytes as f64 / n,
        legacy_attrs as f64 / n,
        legacy_bytes as f64 / n
    );
    assert!(compact_attrs * 3 < legacy_attrs * 2, "a third fewer");
}

/// An item written in the previous layout (camelCase `doc`, the search
/// attributes of `s_v` 1) reads back into the same lead, as do the demo
/// leads; its document is today's one-character-key document's content.
#[test]
fn an_item_of_the_previous_layout_still_reads() {
    let lead: Lead = serde_json::from_str(include_str!("../data/spec_lead.json")).unwrap();
    let item = previous_item(&org(), &lead).unwrap();
    assert!(item.contains_key(DOC_ATTR) && !item.contains_key(COMPACT_DOC_ATTR));
    assert_eq!(item["s_v"], AttributeValue::N("1".into()));
    assert!(item.contains_key("s_sk") && item.contains_key("s_skj"));
    assert_eq!(lead_from_item(&org(), item).unwrap(), lead);
    for lead in lead_export::demo::demo_leads(1, 300) {
        let previous = previous_item(&org(), &lead).unwrap();
        let current = lead_to_item(&org(), &lead).unwrap();
        assert_eq!(lead_from_item(&org(), previous).unwrap(), lead);
        assert_eq!(lead_from_item(&org(), current).unwrap(), lead);
    }
}

/// The layout before the packed document spelled each member of the JSON
/// text with one character (the table of `store::doc`); it still reads.
#[test]
fn the_json_text_document_has_one_character_keys_and_still_reads() {
    let lead = ada();
    let item = json_text_item(&org(), &lead).unwrap();
    assert_eq!(
        item[COMPACT_DOC_ATTR],
        AttributeValue::S(
            r#"{"f":"Ada","l":"Byron","x":["Math"],"o":{"n":"Analytical","f":1843}}"#.into()
        )
    );
    assert_eq!(lead_from_item(&org(), item).unwrap(), lead);
    for lead in lead_export::demo::demo_leads(1, 300) {
        let text = json_text_item(&org(), &lead).unwrap();
        assert_eq!(lead_from_item(&org(), text).unwrap(), lead);
    }
}

/// Today's document is packed (`store::packed`, the format in
/// docs/design.md): these bytes are written out by hand from that format.
#[test]
fn the_packed_document_is_the_documented_bytes() {
    let lead = ada();
    let item = lead_to_item(&org(), &lead).unwrap();
    let mut expected = vec![1u8]; // the format
    expected.extend([1, 3]); // firstName, 3 bytes
    expected.extend(b"Ada");
    expected.extend([2, 5]); // lastName
    expected.extend(b"Byron");
    expected.extend([18, 1, 4]); // skills, one, 4 bytes
    expected.extend(b"Math");
    expected.extend([23, 2, 10]); // company: name, 10 bytes
    expected.extend(b"Analytical");
    // foundedYear 1843: zigzag 3,686 = 0x66 + 0x1C << 7; the company's end
    // and the lead's.
    expected.extend([18, 0xE6, 0x1C, 0, 0]);
    assert_eq!(item[COMPACT_DOC_ATTR], AttributeValue::B(expected.into()));
    assert_eq!(lead_from_item(&org(), item).unwrap(), lead);
}

fn ada() -> Lead {
    Lead {
        id: "l1".into(),
        first_name: "Ada".into(),
        last_name: "Byron".into(),
        skills: Some(vec!["Math".into()]),
        company: Some(lead_export::model::Company {
            name: Some("Analytical".into()),
            founded_year: Some(1843),
            ..Default::default()
        }),
        ..Lead::default()
    }
}

#[test]
fn an_item_of_the_earlier_layout_still_reads() {
    let lead: Lead = serde_json::from_str(include_str!("../data/spec_lead.json")).unwrap();
    let item = legacy_item(&org(), &lead).unwrap();
    assert!(!item.contains_key(DOC_ATTR));
    assert!(item.contains_key("firstName") && item.contains_key("company"));
    assert_eq!(lead_from_item(&org(), item.clone()).unwrap(), lead);
    let other = OrgId::new("org-b").unwrap();
    assert!(lead_from_item(&other, item).is_err(), "the org check too");
}

#[test]
fn a_doc_that_is_not_a_lead_is_an_error() {
    let mut bad = item("x");
    bad.insert(
        COMPACT_DOC_ATTR.into(),
        AttributeValue::S("{\"e\": 3}".into()),
    );
    assert!(lead_from_item(&org(), bad).is_err());
    let mut bad = item("x");
    bad.insert(COMPACT_DOC_ATTR.into(), AttributeValue::N("3".into()));
    assert!(lead_from_item(&org(), bad).is_err());
    let mut bad = item("x");
    bad.remove(COMPACT_DOC_ATTR);
    bad.insert(DOC_ATTR.into(), AttributeValue::S("{\"emails\": 3}".into()));
    assert!(lead_from_item(&org(), bad).is_err());
}

/// Values that must not come out of a read's error.
const SECRETS: [&str; 4] = [
    "pii-leak@x.example",
    "+1-555-0199",
    "Zelphine",
    "Quorrington",
];

/// Items of `org()` that cannot be read into a lead, each with the fault
/// kind the contract names for it (`docs/contract.md`): with the document
/// of today's layout, then of the earlier one (camelCase, `s_v` 1).
fn unreadable_items() -> Vec<(&'static str, Item, &'static str)> {
    let mut items = unreadable_items_in(COMPACT_DOC_ATTR);
    items.extend(unreadable_items_in(DOC_ATTR));
    items.extend(unreadable_packed_items());
    items
}

/// Items of today's layout whose packed document cannot be read.
fn unreadable_packed_items() -> Vec<(&'static str, Item, &'static str)> {
    let lead = Lead {
        id: "p".into(),
        first_name: "Zelphine".into(),
        last_name: "Quorrington".into(),
        emails: Some(vec!["pii-leak@x.example".into()]),
        phones: Some(vec!["+1-555-0199".into()]),
        ..Lead::default()
    };
    let with_doc = |id: &str, doc: Vec<u8>| {
        let mut item = lead_to_item(
            &org(),
            &Lead {
                id: id.into(),
                ..lead.clone()
            },
        )
        .unwrap();
        item.insert(COMPACT_DOC_ATTR.into(), AttributeValue::B(doc.into()));
        item
    };
    let AttributeValue::B(full) = &lead_to_item(&org(), &lead).unwrap()[COMPACT_DOC_ATTR] else {
        panic!("doc is not binary")
    };
    let full = full.as_ref().to_vec();
    let mut other_format = full.clone();
    other_format[0] = 2;
    let mut no_last_name = vec![1u8, 1, 8];
    no_last_name.extend(b"Zelphine");
    no_last_name.push(0);
    vec![
        (
            "a packed doc cut short",
            with_doc("p1", full[..full.len() / 2].to_vec()),
            "bad_packed",
        ),
        (
            "a packed doc of a format this reader does not know",
            with_doc("p2", other_format),
            "bad_packed",
        ),
        (
            "a packed doc without a lastName",
            with_doc("p3", no_last_name),
            "missing_key",
        ),
        (
            "a doc that is text but not JSON, beside a binary layout",
            with_doc("p4", b"Zelphine".to_vec()),
            "bad_packed",
        ),
    ]
}

/// The document's keys as the layout of `doc_attr` spells them.
fn spelled(doc_attr: &str, text: &str) -> String {
    if doc_attr == DOC_ATTR {
        return text.to_string();
    }
    [
        ("\"firstName\"", "\"f\""),
        ("\"lastName\"", "\"l\""),
        ("\"emails\"", "\"e\""),
        ("\"phones\"", "\"p\""),
    ]
    .iter()
    .fold(text.to_string(), |t, (long, short)| t.replace(long, short))
}

fn unreadable_items_in(doc_attr: &'static str) -> Vec<(&'static str, Item, &'static str)> {
    let with = |id: &str, changes: Vec<(&str, Option<AttributeValue>)>| {
        let mut it = if doc_attr == DOC_ATTR {
            previous_item(
                &org(),
                &Lead {
                    id: id.into(),
                    first_name: "F".into(),
                    last_name: id.into(),
                    ..Lead::default()
                },
            )
            .unwrap()
        } else {
            item(id)
        };
        for (name, value) in changes {
            let name = if name == DOC_ATTR { doc_attr } else { name };
            match value {
                Some(v) => it.insert(name.to_string(), v),
                None => it.remove(name),
            };
        }
        it
    };
    let doc = |text: &str| Some(AttributeValue::S(spelled(doc_attr, text)));
    let full = r#"{"firstName":"Zelphine","lastName":"Quorrington","emails":["pii-leak@x.example"],"phones":["+1-555-0199"]}"#;
    vec![
        (
            "the user's report: a string where a list is due",
            with(
                "a",
                vec![(
                    DOC_ATTR,
                    doc(
                        r#"{"firstName":"Zelphine","lastName":"Quorrington","emails":"pii-leak@x.example"}"#,
                    ),
                )],
            ),
            "wrong_type",
        ),
        (
            "a truncated doc",
            with("b", vec![(DOC_ATTR, doc(&full[..70]))]),
            "bad_json",
        ),
        (
            "not JSON at all",
            with(
                "c",
                vec![(DOC_ATTR, doc("Zelphine Quorrington +1-555-0199"))],
            ),
            "bad_json",
        ),
        (
            "JSON but not an object",
            with(
                "d",
                vec![(
                    DOC_ATTR,
                    doc(r#"["Zelphine","Quorrington","pii-leak@x.example"]"#),
                )],
            ),
            "wrong_type",
        ),
        (
            "a null name",
            with(
                "e",
                vec![(
                    DOC_ATTR,
                    doc(r#"{"firstName":null,"lastName":"Quorrington"}"#),
                )],
            ),
            "wrong_type",
        ),
        (
            "a doc that is a number",
            with("f", vec![(DOC_ATTR, Some(AttributeValue::N("3".into())))]),
            "wrong_type",
        ),
        (
            "a doc without a lastName",
            with(
                "g",
                vec![(
                    DOC_ATTR,
                    doc(r#"{"firstName":"Zelphine","emails":["pii-leak@x.example"]}"#),
                )],
            ),
            "missing_key",
        ),
        (
            "no leadId",
            with("h", vec![("leadId", None), (DOC_ATTR, doc(full))]),
            "missing_key",
        ),
        (
            "a leadId that is not a string",
            with(
                "i",
                vec![
                    ("leadId", Some(AttributeValue::N("7".into()))),
                    (DOC_ATTR, doc(full)),
                ],
            ),
            "wrong_type",
        ),
        (
            "search attributes of a later version",
            with(
                "j",
                vec![
                    (
                        filters::SEARCH_VERSION_ATTR,
                        Some(AttributeValue::N("3".into())),
                    ),
                    (DOC_ATTR, doc(full)),
                ],
            ),
            "unknown_version",
        ),
        (
            "a version that is not a number",
            with(
                "k",
                vec![(
                    filters::SEARCH_VERSION_ATTR,
                    Some(AttributeValue::S("Zelphine".into())),
                )],
            ),
            "unknown_version",
        ),
        (
            "the earlier layout with a string for a list",
            {
                let mut it = item("l");
                it.remove(COMPACT_DOC_ATTR);
                it.insert("firstName".into(), AttributeValue::S("Zelphine".into()));
                it.insert("lastName".into(), AttributeValue::S("Quorrington".into()));
                it.insert("phones".into(), AttributeValue::S("+1-555-0199".into()));
                it
            },
            "wrong_type",
        ),
    ]
}

#[test]
fn unreadable_items_are_named_by_kind_and_never_by_value() {
    for (what, it, fault) in unreadable_items() {
        let id = match it.get("leadId") {
            Some(AttributeValue::S(id)) => Some(id.clone()),
            _ => None,
        };
        let err = lead_from_item(&org(), it).expect_err(what);
        let ItemError::Unreadable(skipped) = &err else {
            panic!("{what}: {err:?}")
        };
        assert_eq!(skipped.fault.label(), fault, "{what}");
        assert_eq!(skipped.id, id, "{what}");
        let shown = format!("{err} {err:?} {}", StoreError::from(err.clone()));
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{what}: {shown}");
        }
    }
    // Still read: a doc with empty names, an item without `s_v`.
    let mut ok = item("m");
    ok.insert(
        DOC_ATTR.into(),
        AttributeValue::S(r#"{"firstName":"","lastName":""}"#.into()),
    );
    ok.remove(filters::SEARCH_VERSION_ATTR);
    assert_eq!(lead_from_item(&org(), ok).unwrap().id, "m");
}

#[test]
fn an_item_of_another_organization_is_foreign_not_skipped() {
    let other = OrgId::new("org-b").unwrap();
    for (what, it, _) in unreadable_items() {
        assert_eq!(
            lead_from_item(&other, it),
            Err(ItemError::Foreign),
            "{what}: the owner is checked first"
        );
    }
    let mut no_owner = item("x");
    no_owner.remove("orgId");
    assert_eq!(lead_from_item(&org(), no_owner), Err(ItemError::Foreign));
}

#[test]
fn an_item_of_another_organization_is_an_error() {
    let other = OrgId::new("org-b").unwrap();
    assert!(lead_from_item(&other, item("x")).is_err());
}

#[test]
fn backoff_is_capped_and_jittered() {
    let b = Backoff::default();
    for retry in 1..30 {
        assert!(b.delay(retry) <= b.cap);
    }
    assert!(b.delay(1) <= b.base);
}

#[tokio::test]
async fn unprocessed_keys_are_retried_until_done() {
    let calls = AtomicU32::new(0);
    let got = retry_unprocessed(vec!["a", "b", "c"], fast(), |keys| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            // Each call processes only the first pending key.
            let (first, rest) = keys.split_first().unwrap();
            let _ = n;
            Ok((vec![item(first)], rest.to_vec()))
        }
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn persistent_unprocessed_keys_fail_instead_of_a_partial_file() {
    let calls = AtomicU32::new(0);
    let err = retry_unprocessed(vec!["a", "b"], fast(), |keys| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok((vec![item("z")], keys)) }
    })
    .await
    .unwrap_err();
    assert!(err.message.contains("unprocessed"), "{err}");
    assert_eq!(err.kind, lead_export::error::FaultKind::Transient);
    assert_eq!(calls.load(Ordering::SeqCst), fast().max_attempts);
}

/// How a lead of the fake table is stored.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Compact,
    Legacy,
    /// The earlier layout without search attributes.
    LegacyPlain,
    /// The previous layout (camelCase `doc`, search attributes of `s_v` 1).
    Previous,
    /// The compact layout with a `doc` cut short (unreadable).
    Broken,
}

/// A Query over an in-memory partition: `ExclusiveStartKey`, `Limit`,
/// the push-down evaluated as DynamoDB would (items without the current
/// `s_v` always pass) and the projection of `reading`.
struct FakeTable {
    rows: Vec<(Lead, Layout)>,
}

impl FakeTable {
    fn new(mut rows: Vec<(Lead, Layout)>) -> Self {
        rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        FakeTable { rows }
    }

    fn query(
        &self,
        filter: &CompiledFilter,
        start: Option<Item>,
        limit: i32,
        reading: Reading,
    ) -> Page {
        let from = match start {
            None => 0,
            Some(key) => {
                let AttributeValue::S(id) = &key["leadId"] else {
                    panic!()
                };
                self.rows.partition_point(|(l, _)| l.id <= *id)
            }
        };
        let end = (from + limit as usize).min(self.rows.len());
        let cond = filter.pushdown();
        let items: Vec<Item> = self.rows[from..end]
            .iter()
            .filter(|(lead, layout)| {
                // Items of an earlier `s_v` always pass.
                !matches!(layout, Layout::Compact | Layout::Broken)
                    || cond.eval(&search_attributes(lead))
            })
            .map(|(lead, layout)| {
                let mut item = match layout {
                    Layout::Compact => lead_to_item(&org(), lead).unwrap(),
                    Layout::Legacy => legacy_item(&org(), lead).unwrap(),
                    Layout::Previous => previous_item(&org(), lead).unwrap(),
                    Layout::LegacyPlain => legacy_item(&org(), lead)
                        .unwrap()
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with("s_"))
                        .collect(),
                    Layout::Broken => {
                        let mut item = lead_to_item(&org(), lead).unwrap();
                        let AttributeValue::B(doc) = &item[COMPACT_DOC_ATTR] else {
                            panic!()
                        };
                        let cut = AttributeValue::B(
                            doc.as_ref()[..doc.as_ref().len() / 2].to_vec().into(),
                        );
                        item.insert(COMPACT_DOC_ATTR.into(), cut);
                        item
                    }
                };
                if reading == Reading::Skim {
                    item.retain(|k, _| ["orgId", "leadId", "s_v"].contains(&k.as_str()));
                }
                item
            })
            .collect();
        Page {
            count: items.len() as u64,
            scanned_count: (end - from) as u64,
            items: items.into_iter().map(Stored::from).collect(),
            last_evaluated_key: (end < self.rows.len())
                .then(|| key(&org(), &self.rows[end - 1].0.id)),
            bytes: 0,
            throttled: false,
            by_sdk: true,
        }
    }
}

/// The ids `collect_range` returns over the fake table, the expected
/// ones, and each fetch's (start id, reading).
async fn skim_run(
    table: &FakeTable,
    filter: &serde_json::Value,
    skip: usize,
    take: usize,
) -> (Vec<String>, Vec<String>, Vec<(Option<String>, Reading)>) {
    let filter = filters::compile(filter).unwrap();
    let (_, exact) = pushed_filter(&filter);
    let mut calls = Vec::new();
    let (leads, _) = collect_range(
        |start: Option<Item>, limit, reading| {
            let id = start.as_ref().map(|k| match &k["leadId"] {
                AttributeValue::S(id) => id.clone(),
                _ => panic!(),
            });
            calls.push((id, reading));
            let page = table.query(&filter, start, limit.unwrap(), reading);
            async move { Ok(page) }
        },
        &org(),
        &filter,
        exact,
        skip,
        take,
    )
    .await
    .unwrap();
    let expected: Vec<String> = table
        .rows
        .iter()
        .filter(|(l, _)| filter.matches(l))
        .skip(skip)
        .take(take)
        .map(|(l, _)| l.id.clone())
        .collect();
    (leads.into_iter().map(|l| l.id).collect(), expected, calls)
}

fn demo_rows(layout: impl Fn(usize) -> Layout) -> FakeTable {
    let rows = lead_export::demo::demo_leads(5, 600)
        .into_iter()
        .enumerate()
        .map(|(i, l)| (l, layout(i)))
        .collect();
    FakeTable::new(rows)
}

#[tokio::test]
async fn skimming_skips_by_key_then_reads_the_range_in_full() {
    let table = demo_rows(|_| Layout::Compact);
    let (got, expected, calls) = skim_run(&table, &serde_json::json!({}), 250, 20).await;
    assert_eq!(got, expected);
    // One skimming page of exactly 250 items, then the range in full
    // from the 250th lead's key.
    assert_eq!(
        calls,
        [
            (None, Reading::Skim),
            (Some(table.rows[249].0.id.clone()), Reading::Full)
        ]
    );
    let germany = serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}});
    let (got, expected, calls) = skim_run(&table, &germany, 30, 10).await;
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    assert_eq!(calls[0].1, Reading::Skim);
    let first_full = calls.iter().position(|c| c.1 == Reading::Full).unwrap();
    assert!(calls[first_full..].iter().all(|c| c.1 == Reading::Full));
    let word = serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}});
    let (got, expected, calls) = skim_run(&table, &word, 30, 10).await;
    assert_eq!(got, expected);
    assert!(
        calls.iter().all(|c| c.1 == Reading::Full),
        "an inexact push-down never skims"
    );
}

#[tokio::test]
async fn skimming_over_mixed_layouts_reads_the_earlier_items_in_full() {
    let table = demo_rows(|i| match i % 7 {
        0 => Layout::LegacyPlain,
        1 => Layout::Legacy,
        2 => Layout::Previous,
        _ => Layout::Compact,
    });
    let filters = [
        serde_json::json!({}),
        serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "STRICT", "content": ["Salesforce"]}}}}}),
        serde_json::json!({"contact": {"skill": {"any": {"exclude": ["learn"]}}}}),
        serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}}),
        serde_json::json!({"contact": {"seniority": {"any": {"exclude": ["VP"]}}}}),
        serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}}),
    ];
    for filter in &filters {
        for (skip, take) in [(0, 5), (1, 1), (40, 7), (199, 50), (590, 30), (5000, 1)] {
            let (got, expected, calls) = skim_run(&table, filter, skip, take).await;
            assert_eq!(got, expected, "{filter} skip {skip} take {take}");
            if skip > 40 && filter.as_object().unwrap().is_empty() {
                assert!(calls.iter().any(|c| c.1 == Reading::Skim));
            }
        }
    }
}

/// The range over `table` read by `range_pages`: each position's lead id
/// and whether it was skipped (unreadable).
async fn positions(
    table: &FakeTable,
    filter: &CompiledFilter,
    skip: usize,
    take: usize,
) -> (Vec<(String, bool)>, QueryStats) {
    let (_, exact) = pushed_filter(filter);
    let org = org();
    let mut pages = std::pin::pin!(range_pages(
        |start: Option<Item>, limit, reading| {
            let page = table.query(filter, start, limit.unwrap(), reading);
            async move { Ok(page) }
        },
        &org,
        filter,
        exact,
        Start::default(),
        skip,
        take,
        Tally::new(),
    ));
    let mut got = Vec::new();
    let mut stats = QueryStats::default();
    while let Some((batch, so_far)) = pages.try_next().await.unwrap() {
        got.extend(batch.leads.into_iter().map(|l| (l.id, false)));
        got.extend(batch.skipped.into_iter().map(|s| (s.id.unwrap(), true)));
        stats = so_far;
    }
    got.sort();
    (got, stats)
}

/// An unreadable item that the FilterExpression lets through keeps its
/// position in the range (no backfill), whether the pages before the range
/// are skimmed by key or read in full: consecutive ranges tile the
/// positions, each lead and each skipped item once.
#[tokio::test]
async fn an_unreadable_item_keeps_its_position_skimmed_or_read() {
    let table = demo_rows(|i| match i % 9 {
        0 => Layout::Broken,
        4 => Layout::LegacyPlain,
        _ => Layout::Compact,
    });
    let filters = [
        serde_json::json!({}),
        serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}}),
        serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}}),
    ];
    for filter in &filters {
        let compiled = filters::compile(filter).unwrap();
        let cond = compiled.pushdown();
        // The positions: a readable lead when it matches, an unreadable
        // one when the push-down lets it through.
        let expected: Vec<(String, bool)> = table
            .rows
            .iter()
            .filter_map(|(lead, layout)| match layout {
                Layout::Broken => cond
                    .eval(&search_attributes(lead))
                    .then(|| (lead.id.clone(), true)),
                _ => compiled.matches(lead).then(|| (lead.id.clone(), false)),
            })
            .collect();
        assert!(expected.iter().any(|(_, skipped)| *skipped), "{filter}");
        let mut tiled = Vec::new();
        for skip in (0..expected.len() + 20).step_by(97) {
            let (got, stats) = positions(&table, &compiled, skip, 97).await;
            let mut want: Vec<(String, bool)> =
                expected.iter().skip(skip).take(97).cloned().collect();
            want.sort();
            assert_eq!(got, want, "{filter} skip {skip}");
            let skipped = want.iter().filter(|(_, s)| *s).count() as u64;
            assert_eq!(stats.skipped, skipped, "{filter} skip {skip}");
            tiled.extend(got);
        }
        tiled.sort();
        let mut all = expected.clone();
        all.sort();
        assert_eq!(tiled, all, "{filter}: each position once");
    }
}

fn pages(pages: Vec<(Vec<&'static str>, bool)>) -> Vec<Page> {
    pages
        .into_iter()
        .map(|(ids, more)| Page {
            count: ids.len() as u64,
            scanned_count: ids.len() as u64,
            items: ids.into_iter().map(|id| Stored::from(item(id))).collect(),
            last_evaluated_key: more.then(|| item("k")),
            bytes: 0,
            throttled: false,
            by_sdk: true,
        })
        .collect()
}

async fn run_pages(
    all: Vec<Page>,
    skip: usize,
    take: usize,
) -> (Vec<String>, QueryStats, Vec<Option<i32>>) {
    let filter = filters::compile(&serde_json::json!({})).unwrap();
    let mut queue = all.into_iter();
    let mut limits = Vec::new();
    let (leads, stats) = collect_range(
        |_, limit, reading| {
            assert_eq!(reading, Reading::Full, "not exact: never skims");
            limits.push(limit);
            let page = queue.next().expect("asked for a page past the end");
            async move { Ok(page) }
        },
        &org(),
        &filter,
        false,
        skip,
        take,
    )
    .await
    .unwrap();
    (leads.into_iter().map(|l| l.id).collect(), stats, limits)
}

#[tokio::test]
async fn an_empty_page_with_a_key_is_not_the_end() {
    let all = pages(vec![
        (vec!["a", "b"], true),
        (vec![], true),
        (vec!["c", "d"], false),
    ]);
    let (ids, stats, _) = run_pages(all, 1, 10).await;
    assert_eq!(ids, ["b", "c", "d"]);
    assert_eq!(stats.pages, 3);
}

#[tokio::test]
async fn stops_at_the_page_holding_the_last_needed_lead() {
    let all = pages(vec![
        (vec!["a", "b"], true),
        (vec!["c", "d"], true),
        (vec!["e", "f"], false),
    ]);
    let (ids, stats, limits) = run_pages(all, 1, 2).await;
    assert_eq!(ids, ["b", "c"]);
    assert_eq!(stats.pages, 2, "the third page is never read");
    assert_eq!(limits, [Some(3), Some(1)], "asks only for what is missing");
}

#[test]
fn filtered_pages_follow_the_observed_selectivity() {
    let fresh = QueryStats::default();
    assert_eq!(page_limit(true, 7, &fresh), 7);
    assert_eq!(page_limit(false, 50, &fresh), 625, "10% guess + 25%");
    assert_eq!(page_limit(false, 1, &fresh), 100, "at least 100");
    let seen = QueryStats {
        scanned_count: 2000,
        accepted: 100,
        ..QueryStats::default()
    };
    assert_eq!(
        page_limit(false, 40, &seen),
        1000,
        "5% observed: 40 / 0.05 * 1.25"
    );
    let none_yet = QueryStats {
        scanned_count: 10_000,
        accepted: 0,
        ..QueryStats::default()
    };
    assert_eq!(page_limit(false, 1000, &none_yet), 10_000, "at most 10,000");
    // A range far past any partition (`startIndex` near 2^64, which the
    // request allows): the largest page, not an overflow (schemathesis
    // found the panic with `startIndex` 18446744073709551614).
    assert_eq!(page_limit(false, usize::MAX, &fresh), 10_000);
    assert_eq!(page_limit(false, usize::MAX, &none_yet), 10_000);
    assert_eq!(page_limit(true, usize::MAX, &fresh), i32::MAX);
}

/// The key of lead `id` in `org`'s partition, as DynamoDB returns it in
/// `LastEvaluatedKey`.
fn key(org: &OrgId, id: &str) -> Item {
    HashMap::from([
        ("orgId".to_string(), AttributeValue::S(org.to_string())),
        ("leadId".to_string(), AttributeValue::S(id.to_string())),
    ])
}

/// The leads of [`range_pages`] in the range, with the stats after the last
/// page: what `DynamoStore::query_range` does with its Query pages.
async fn collect_range<'a, F, Fut>(
    fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    exact: bool,
    skip: usize,
    take: usize,
) -> Result<(Vec<Lead>, QueryStats), StoreError>
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    collect_from(
        fetch,
        org,
        filter,
        exact,
        Start::default(),
        skip,
        take,
        Tally::new(),
    )
    .await
}

/// [`collect_range`] from the checkpoint `from`, telling `tally`.
#[allow(clippy::too_many_arguments)]
async fn collect_from<'a, F, Fut>(
    fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    exact: bool,
    from: Start,
    skip: usize,
    take: usize,
    tally: Tally,
) -> Result<(Vec<Lead>, QueryStats), StoreError>
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    let mut pages = std::pin::pin!(range_pages(
        fetch, org, filter, exact, from, skip, take, tally
    ));
    let mut leads = Vec::new();
    let mut stats = QueryStats::default();
    while let Some((page, so_far)) = pages.try_next().await? {
        leads.extend(page.leads);
        stats = so_far;
    }
    Ok((leads, stats))
}

/// Over the fake table with `filter`: the range `[skip, skip + take)` read
/// from `from`, the ids it returned, the expected ones (from the table by
/// `matches`), the start key of each Query and the items read.
async fn run_from(
    table: &FakeTable,
    filter: &serde_json::Value,
    from: Start,
    skip: usize,
    take: usize,
    tally: Tally,
) -> (Vec<String>, Vec<String>, Vec<Option<String>>, u64) {
    let filter = filters::compile(filter).unwrap();
    let (_, exact) = pushed_filter(&filter);
    let mut calls = Vec::new();
    let (leads, stats) = collect_from(
        |start: Option<Item>, limit, reading| {
            calls.push(start.as_ref().map(|k| match (&k["orgId"], &k["leadId"]) {
                (AttributeValue::S(o), AttributeValue::S(id)) if *o == org().to_string() => {
                    id.clone()
                }
                _ => panic!("a start key outside the caller's partition"),
            }));
            let page = table.query(&filter, start, limit.unwrap(), reading);
            async move { Ok(page) }
        },
        &org(),
        &filter,
        exact,
        from,
        skip,
        take,
        tally,
    )
    .await
    .unwrap();
    let expected: Vec<String> = table
        .rows
        .iter()
        .filter(|(l, _)| filter.matches(l))
        .skip(skip)
        .take(take)
        .map(|(l, _)| l.id.clone())
        .collect();
    (
        leads.into_iter().map(|l| l.id).collect(),
        expected,
        calls,
        stats.scanned_count,
    )
}

#[tokio::test]
async fn a_range_read_from_a_checkpoint_starts_after_its_key_and_counts_from_its_position() {
    let table = demo_rows(|i| {
        if i % 11 == 0 {
            Layout::Legacy
        } else {
            Layout::Compact
        }
    });
    for filter in [
        serde_json::json!({}),
        serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}}),
        serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}}),
    ] {
        let compiled = filters::compile(&filter).unwrap();
        let all: Vec<String> = table
            .rows
            .iter()
            .filter(|(l, _)| compiled.matches(l))
            .map(|(l, _)| l.id.clone())
            .collect();
        assert!(all.len() >= 40, "{filter}: {} matches", all.len());
        // The first page learns where it ended.
        let tally = Tally::new();
        let (got, expected, _, _) =
            run_from(&table, &filter, Start::default(), 0, 20, tally.clone()).await;
        assert_eq!(got, expected);
        assert_eq!(tally.learned().end, Some((20, all[19].clone())), "{filter}");
        // The next page starts just after that lead, counting from 20.
        let from = Start {
            position: 20,
            after: Some(all[19].clone()),
        };
        let (got, expected, calls, scanned) =
            run_from(&table, &filter, from, 20, 20, Tally::new()).await;
        assert_eq!(got, expected, "{filter}");
        assert_eq!(got, all[20..40]);
        assert_eq!(calls[0].as_deref(), Some(all[19].as_str()), "{filter}");
        let (_, _, calls_from_first, scanned_from_first) =
            run_from(&table, &filter, Start::default(), 20, 20, Tally::new()).await;
        assert_eq!(calls_from_first[0], None);
        assert!(
            scanned < scanned_from_first,
            "{filter}: {scanned} >= {scanned_from_first}"
        );
        // A checkpoint further on than the range's start is not used.
        let late = Start {
            position: 30,
            after: Some(all[29].clone()),
        };
        let (got, expected, calls, _) = run_from(&table, &filter, late, 20, 5, Tally::new()).await;
        assert_eq!(got, expected);
        assert_eq!(calls[0], None);
    }
    // Every 250th match is recorded on the way.
    let tally = Tally::new();
    let everything = serde_json::json!({});
    let (got, _, _, _) = run_from(
        &table,
        &everything,
        Start::default(),
        490,
        20,
        tally.clone(),
    )
    .await;
    assert_eq!(got.len(), 20);
    let ids: Vec<&String> = table.rows.iter().map(|(l, _)| &l.id).collect();
    assert_eq!(
        tally.learned().grid,
        [(250, ids[249].clone()), (500, ids[499].clone())]
    );
    assert_eq!(tally.learned().end, Some((510, ids[509].clone())));
}

mod packed_properties {
    use lead_export::model::{Company, Dates, Education, Language, Lead, NamedOrg, WorkExperience};
    use lead_export::store::dynamodb::{lead_from_item, lead_from_wire, lead_to_item, ItemError};
    use lead_export::store::packed::{decode, encode};
    use lead_export::store::wire;
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = lead_export::model::Text> {
        // Any Unicode, empty included, now and then past 127 bytes (a
        // two-byte length), and over 24 (kept apart from the lead).
        prop_oneof![".{0,12}", ".{20,30}", ".{120,140}"].prop_map(lead_export::model::Text::from)
    }

    fn texts() -> impl Strategy<Value = Option<Vec<lead_export::model::Text>>> {
        of(vec(text(), 0..3))
    }

    fn named() -> impl Strategy<Value = Option<NamedOrg>> {
        of(of(text()).prop_map(|name| NamedOrg { name }))
    }

    fn dates() -> impl Strategy<Value = Option<Dates>> {
        of((of(text()), of(text())).prop_map(|(start, end)| Dates { start, end }))
    }

    fn company() -> BoxedStrategy<Company> {
        (
            (
                of(text()),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
            ),
            (
                texts(),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
            ),
            (of(text()), of(text()), of(text()), of(text()), of(text())),
            (of(any::<i64>()), of(text())),
        )
            .prop_map(|(a, b, c, d)| Company {
                id: a.0,
                name: a.1,
                legal_name: a.2,
                domain: a.3,
                website_url: a.4,
                linkedin_url: a.5,
                phones: b.0,
                city: b.1,
                state: b.2,
                state_code: b.3,
                postal_code: b.4,
                country: b.5,
                country_code: c.0,
                industry: c.1,
                company_type: c.2,
                headcount: c.3,
                revenue: c.4,
                founded_year: d.0,
                summary: d.1,
            })
            .boxed()
    }

    /// Every member of the model, each present or absent, any text.
    fn any_lead() -> BoxedStrategy<Lead> {
        let languages = of(vec(
            (of(text()), of(text())).prop_map(|(language, level)| Language { language, level }),
            0..3,
        ));
        let educations = of(vec(
            (named(), of(text()), of(text()), dates()).prop_map(|(i, d, f, dt)| Education {
                institution: i,
                degree_name: d,
                field_of_study: f,
                dates: dt,
            }),
            0..3,
        ));
        let jobs = of(vec(
            (named(), of(text()), dates()).prop_map(|(company, title, dates)| WorkExperience {
                company,
                title,
                dates,
            }),
            0..3,
        ));
        (
            (
                text(),
                text(),
                texts(),
                texts(),
                of(text()),
                of(text()),
                of(text()),
            ),
            (
                of(text()),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
                of(text()),
            ),
            (texts(), texts(), texts(), of(text()), texts(), texts()),
            (languages, educations, jobs, of(company())),
        )
            .prop_map(|(a, b, c, d)| Lead {
                id: String::new(),
                first_name: a.0,
                last_name: a.1,
                emails: a.2,
                phones: a.3,
                linkedin_url: a.4,
                city: a.5,
                state: a.6,
                state_code: b.0,
                postal_code: b.1,
                country: b.2,
                country_code: b.3,
                job_title: b.4,
                seniority: b.5,
                departments: c.0,
                sub_departments: c.1,
                functions: c.2,
                industry: c.3,
                skills: c.4,
                certifications: c.5,
                languages: d.0,
                educations: d.1,
                work_experiences: d.2,
                company: d.3,
            })
            .boxed()
    }

    proptest! {
        /// Any lead reads back as itself, absent and empty members apart.
        #[test]
        fn any_lead_packs_and_unpacks_to_itself(lead in any_lead()) {
            prop_assert_eq!(decode(&encode(&lead)), Ok(lead));
        }

        /// A packed document cut, or with a byte changed, is refused or
        /// read, never a panic; cut short it is always refused.
        #[test]
        fn damaged_documents_never_panic((lead, at, byte) in (any_lead(), any::<prop::sample::Index>(), any::<u8>()).boxed()) {
            let bytes = encode(&lead);
            let i = at.index(bytes.len());
            prop_assert!(decode(&bytes[..i]).is_err());
            let mut changed = bytes.clone();
            changed[i] = byte;
            let _ = decode(&changed);
        }

        /// Arbitrary bytes after the format byte: no panic.
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in vec(any::<u8>(), 0..200)) {
            bytes.insert(0, 1);
            let _ = decode(&bytes);
        }

        /// Any lead, under any id (JSON escapes, any Unicode), read from a
        /// BatchGetItem and a Query answer by `store::wire` is itself, as
        /// the SDK's map of the same item reads.
        #[test]
        fn any_lead_read_from_an_answer_is_itself((lead, id) in (any_lead(), ".{1,40}")) {
            let org = super::org();
            let mut lead = lead;
            lead.id = id;
            let item = crate::wire::projected(lead_to_item(&org, &lead).unwrap());
            prop_assert_eq!(lead_from_item(&org, item.clone()), Ok(lead.clone()));
            let json = crate::wire::wire_json(&item);
            let batch = serde_json::json!({"Responses": {"leads": [json.clone()]}, "UnprocessedKeys": {}});
            let read = wire::read_batch_get(batch.to_string().as_bytes(), org.as_str(), "leads")
                .expect("a current item is read");
            prop_assert_eq!(read.len(), 1);
            prop_assert_eq!(lead_from_wire(&org, read[0].clone()), Ok(lead.clone()));
            let key = serde_json::json!({"orgId": {"S": org.as_str()}, "leadId": {"S": lead.id}});
            let page = serde_json::json!({"Count": 1, "Items": [json], "ScannedCount": 3, "LastEvaluatedKey": key});
            let page = wire::read_query(page.to_string().as_bytes(), org.as_str())
                .expect("a current page is read");
            prop_assert_eq!(page.last_key.as_deref(), Some(lead.id.as_str()));
            prop_assert_eq!((page.count, page.scanned_count), (1, 3));
            prop_assert_eq!(lead_from_wire(&org, page.items[0].clone()), Ok(lead));
        }

        /// An answer cut, or with a byte changed, is declined or read,
        /// never a panic; every item it reads becomes a lead or a skipped
        /// item of the organization.
        #[test]
        fn damaged_answers_never_panic((lead, at, byte) in (any_lead(), any::<prop::sample::Index>(), any::<u8>()).boxed()) {
            let org = super::org();
            let mut lead = lead;
            lead.id = "lead-1".into();
            let json = crate::wire::wire_json(&crate::wire::projected(lead_to_item(&org, &lead).unwrap()));
            let page = serde_json::json!({"Count": 1, "Items": [json], "ScannedCount": 1}).to_string();
            let bytes = page.as_bytes();
            let i = at.index(bytes.len());
            prop_assert!(wire::read_query(&bytes[..i], org.as_str()).is_none());
            let mut changed = bytes.to_vec();
            changed[i] = byte;
            if let Some(page) = wire::read_query(&changed, org.as_str()) {
                for item in page.items {
                    match lead_from_wire(&org, item) {
                        Ok(_) | Err(ItemError::Unreadable(_)) => {}
                        Err(other) => prop_assert!(false, "{other:?}"),
                    }
                }
            }
        }

        /// Arbitrary bytes as an answer: declined, never a panic.
        #[test]
        fn arbitrary_answers_never_panic(bytes in vec(any::<u8>(), 0..300)) {
            let _ = wire::read_query(&bytes, "org-a");
            let _ = wire::read_batch_get(&bytes, "org-a", "leads");
        }
    }
}
