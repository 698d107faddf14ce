//! Fuzzing (`make fuzz`): proptest over request parsing, filter compilation,
//! push-down rendering and CSV writing, on arbitrary and on structure-aware
//! inputs, including inputs far over the documented limits.
//!
//! What must hold for every input: no panic; a refused request is a
//! `VALIDATION_ERROR` (or 413 over 1 MiB), a refused filter names a path under
//! `filters`; a valid request or filter (built to be valid) is accepted with
//! the values given; a rendered `FilterExpression` stays within DynamoDB's
//! limits (4 KB of text, placeholders all defined and all used, at most 2 MB
//! of substitution variables); a CSV reads back, with the `csv` crate's
//! reader, to the same cells.
//!
//! The tests are `#[ignore]`d in `cargo test`; `make fuzz` runs them with
//! `PROPTEST_CASES=100000` (proptest's default of 256 otherwise).

use std::collections::{BTreeSet, HashSet};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

use lead_export::csv_export::{escape_formula, to_csv};
use lead_export::error::ExportError;
use lead_export::fields::{Field, FieldList};
use lead_export::filters::{compile, CompiledFilter};
use lead_export::model::{Company, Lead, Text};
use lead_export::request::{
    parse, CsvFormat, Selection, MAX_BODY_BYTES, MAX_IDS, MAX_ID_BYTES, MAX_TARGET_COUNT,
};
use lead_export::store::expression::{render_filter, FilterExpr};

use crate::support::testgen::{arb_filter_json, arb_lead};

/// DynamoDB's limit on an expression string.
const MAX_EXPRESSION_BYTES: usize = 4096;
/// DynamoDB's limit on all `ExpressionAttributeNames` and
/// `ExpressionAttributeValues` of a request together.
const MAX_SUBSTITUTION_BYTES: usize = 2 * 1024 * 1024;

/// Keys of the request and filter schemas, so arbitrary JSON often reaches
/// deep into the parsers.
const KEYS: &[&str] = &[
    "selection",
    "exportFields",
    "mode",
    "includedIds",
    "excludedIds",
    "startIndex",
    "targetCount",
    "filters",
    "contact",
    "account",
    "fullName",
    "location",
    "seniority",
    "departmentAndFunction",
    "skill",
    "language",
    "certification",
    "education",
    "school",
    "degree",
    "fieldOfStudy",
    "experience",
    "current",
    "previous",
    "title",
    "company",
    "nameOrDomain",
    "industry",
    "employeeSize",
    "revenue",
    "foundedYear",
    "type",
    "any",
    "all",
    "include",
    "exclude",
    "content",
    "range",
    "start",
    "end",
    "contact.skill",
    "account.type",
    "keyword",
    "",
];

/// The filter keys of both sections.
const FILTER_KEYS: &[&str] = &[
    "fullName",
    "location",
    "seniority",
    "departmentAndFunction",
    "skill",
    "language",
    "certification",
    "nameOrDomain",
    "industry",
    "type",
];

/// Strings that matter to some parser: modes, range types, field ids,
/// separators, characters that expand under NFKD, quotes and line breaks.
const STRINGS: &[&str] = &[
    "manual",
    "bulk",
    "SMART",
    "word",
    "STRICT",
    "RANGE",
    "ALL",
    "NONE",
    "name",
    "emails",
    "companyName",
    "acme.com",
    "https://www.acme.com/x",
    "San Francisco, CA",
    ",,,",
    "a a a a",
    "\u{fdfa}",
    "\u{fb03}",
    "é",
    "\u{feff}",
    "\u{1f}",
    "\"",
    "\r\n",
    "=1+1",
    "",
    " ",
];

/// Numbers at and around every bound the parsers check.
const NUMBERS: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, 2.5, 999.0, 1000.0, 1001.0, 10000.0, 10001.0, 1e15, -1e15, 1e16, 1e200,
    -1e200, 1.7e308, 5e-324,
];

fn arb_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(STRINGS).prop_map(str::to_string),
        3 => "[a-zA-Z0-9 ,.\\-_é]{0,12}",
        2 => any::<String>(),
        1 => (select(STRINGS), 1..400usize).prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

fn arb_number() -> BoxedStrategy<Value> {
    prop_oneof![
        select(NUMBERS).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
    ]
    .boxed()
}

fn arb_key() -> BoxedStrategy<String> {
    prop_oneof![
        9 => select(KEYS).prop_map(str::to_string),
        1 => arb_string(),
    ]
    .boxed()
}

/// Any JSON value: edge scalars, and arrays and objects (keys mostly from the
/// schemas) nested a few levels.
fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((arb_key(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A filter-shaped value whose leaves are sometimes arbitrary: section →
/// key → quantifier → side → terms, each level possibly replaced by any JSON.
fn arb_filter_shaped() -> BoxedStrategy<Value> {
    let terms = prop_oneof![
        4 => vec(arb_string(), 0..6).prop_map(|t| json!(t)),
        2 => (select(&["SMART", "WORD", "STRICT", "smart", "Fuzzy"][..]), vec(arb_string(), 0..6))
            .prop_map(|(mode, t)| json!({"mode": mode, "content": t})),
        1 => arb_json(),
    ];
    let range = prop_oneof![
        (
            select(&["RANGE", "ALL", "NONE", "range", "SOME"][..]),
            vec((option::of(arb_number()), option::of(arb_number())), 0..4)
        )
            .prop_map(|(kind, spans)| {
                let spans: Vec<Value> = spans
                    .into_iter()
                    .map(|(s, e)| {
                        let mut m = Map::new();
                        if let Some(s) = s {
                            m.insert("start".into(), s);
                        }
                        if let Some(e) = e {
                            m.insert("end".into(), e);
                        }
                        Value::Object(m)
                    })
                    .collect();
                json!({"type": kind, "range": spans})
            }),
        arb_json(),
    ]
    .boxed();
    let side = vec(
        (
            prop_oneof![8 => select(&["include", "exclude"][..]), 1 => Just("other")],
            terms,
        ),
        0..3,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect()));
    let parts = prop_oneof![
        12 => vec((prop_oneof![8 => select(&["any", "all"][..]), 1 => Just("none")], side), 0..3)
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        1 => range,
        1 => arb_json(),
    ]
    .boxed();
    let nested = vec((arb_key(), parts.clone()), 0..3)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    let filter = prop_oneof![8 => parts, 1 => nested];
    let filter_key = prop_oneof![
        6 => select(FILTER_KEYS).prop_map(str::to_string),
        1 => arb_key(),
    ];
    let section =
        vec((filter_key, filter), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect()));
    prop_oneof![
        6 => vec((prop_oneof![8 => select(&["contact", "account"][..]), 1 => Just("other")], section), 0..3)
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        1 => arb_json(),
    ]
    .boxed()
}

/// Characters of all terms of one generated over-the-limits filter.
const MAX_BIG_FILTER_CHARS: usize = 30_000;

/// Filters over the limits the spec implies (another helper adds them: at
/// most 1,000 terms per list, 2,000 per filter, 256 characters per term, 20
/// ranges, bounds within ±1e15): many terms, long terms, many words or
/// location components in one term, many ranges, huge bounds. They must be
/// refused or compiled, never panic; once compiled, they must render within
/// DynamoDB's limits.
fn arb_big_filter() -> BoxedStrategy<Value> {
    let count = prop_oneof![0..4usize, 4..60usize, 60..1500usize].boxed();
    let length = prop_oneof![0..8usize, 8..300usize, 300..3000usize];
    let units = select(&["a", "ab ", "a,", "\u{fdfa}", "é", "x y z "][..]);
    // At most MAX_BIG_FILTER_CHARS characters in all, so that a case stays
    // fast; `nfkd_expansion_stays_within_the_substitution_limit` covers
    // whole bodies.
    let terms = (units, length, count.clone()).prop_map(|(unit, len, n)| {
        let len = len.min(MAX_BIG_FILTER_CHARS / n.max(1));
        let unit_chars = unit.chars().count();
        vec![unit.repeat(len.div_ceil(unit_chars)); n]
    });
    let key = select(
        &[
            ("contact", "skill", true),
            ("contact", "location", false),
            ("contact", "seniority", false),
            ("contact", "fullName", true),
            ("account", "nameOrDomain", true),
            ("account", "location", false),
            ("account", "industry", false),
        ][..],
    );
    let part = (
        select(&["any", "all"][..]),
        select(&["include", "exclude"][..]),
    );
    let mode = select(&["SMART", "WORD", "STRICT"][..]);
    let list =
        (key, part, mode, terms).prop_map(|((section, key, text), (q, side), mode, terms)| {
            let value = if text {
                json!({"mode": mode, "content": terms})
            } else {
                json!(terms)
            };
            json!({ section: { key: { q: { side: value } } } })
        });
    let bound = prop_oneof![
        select(NUMBERS).prop_map(|n| json!(n)),
        (-1e6..1e6f64).prop_map(|n| json!(n)),
    ]
    .boxed();
    let span = (bound.clone(), bound);
    let spans = prop_oneof![
        vec(span.clone(), 0..4),
        vec(span.clone(), 4..30),
        vec(span, 30..200)
    ];
    let ranges = (
        select(&["employeeSize", "revenue", "foundedYear"][..]),
        spans,
    )
        .prop_map(|(key, spans)| {
            let spans: Vec<Value> = spans
                .into_iter()
                .map(|(s, e)| json!({"start": s, "end": e}))
                .collect();
            json!({"account": {key: {"range": spans}}})
        });
    prop_oneof![3 => list, 1 => ranges].boxed()
}

/// A lead id: mostly short, sometimes at or over the 1,024-byte limit.
fn arb_id() -> BoxedStrategy<String> {
    prop_oneof![
        60 => "[a-z0-9-]{1,12}",
        1 => Just("é".repeat(MAX_ID_BYTES / 2)),
        1 => Just("x".repeat(MAX_ID_BYTES + 1)),
        1 => Just(String::new()),
    ]
    .boxed()
}

fn arb_ids() -> BoxedStrategy<Value> {
    prop_oneof![
        40 => vec(arb_id(), 0..20).prop_map(|ids| json!(ids)),
        1 => (arb_id(), prop_oneof![Just(MAX_IDS), Just(MAX_IDS + 1)])
            .prop_map(|(id, n)| json!(vec![id; n])),
        4 => arb_json(),
    ]
    .boxed()
}

/// A request body built from the schema with hostile parts: each key absent,
/// well-formed, at a limit, or any JSON.
fn arb_body() -> BoxedStrategy<Value> {
    let mode = prop_oneof![
        4 => select(&["manual", "bulk"][..]).prop_map(|m| json!(m)),
        1 => arb_json(),
    ];
    let number = prop_oneof![
        12 => (1..=1000u64).prop_map(|n| json!(n)),
        3 => (0..2000u64).prop_map(|n| json!(n)),
        1 => arb_number(),
        1 => arb_json(),
    ]
    .boxed();
    let filters = prop_oneof![
        // Filters over the limits have their own target (their rendering
        // is slow: see a_thousand_all_include_terms_render_in_bounded_time).
        1 => arb_filter_json(),
        1 => arb_filter_shaped(),
    ];
    let fields = prop_oneof![
        12 => vec(select(Field::ALL).prop_map(|f| f.id().to_string()), 0..10).prop_map(|f| json!(f)),
        1 => vec(arb_string(), 0..4).prop_map(|f| json!(f)),
        1 => arb_json(),
    ];
    let selection = (
        option::weighted(0.95, mode),
        option::weighted(0.9, arb_ids()),
        option::of(arb_ids()),
        option::of(number.clone()),
        option::weighted(0.9, number),
        option::weighted(0.9, filters),
    )
        .prop_map(|(mode, inc, exc, start, count, filters)| {
            let mut m = Map::new();
            for (k, v) in [
                ("mode", mode),
                ("includedIds", inc),
                ("excludedIds", exc),
                ("startIndex", start),
                ("targetCount", count),
                ("filters", filters),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        });
    let selection = prop_oneof![6 => selection, 1 => arb_json()];
    (option::weighted(0.95, selection), option::of(fields))
        .prop_map(|(selection, fields)| {
            let mut m = Map::new();
            if let Some(s) = selection {
                m.insert("selection".into(), s);
            }
            if let Some(f) = fields {
                m.insert("exportFields".into(), f);
            }
            Value::Object(m)
        })
        .boxed()
}

/// A request that is valid by construction, with what parsing must give.
#[derive(Debug, Clone)]
enum Valid {
    Manual(Vec<String>),
    Bulk {
        start: u64,
        count: u64,
        filter: Value,
        excluded: Vec<String>,
        included: Vec<String>,
    },
}

fn arb_valid() -> BoxedStrategy<(Valid, Vec<&'static str>)> {
    let ids = || vec("[a-z0-9]{1,6}", 0..12);
    let selection = prop_oneof![
        vec("[a-z0-9]{1,6}", 1..12).prop_map(Valid::Manual),
        (
            0..u64::from(u32::MAX),
            1..=MAX_TARGET_COUNT as u64,
            arb_filter_json(),
            ids(),
            ids()
        )
            .prop_map(|(start, count, filter, excluded, included)| Valid::Bulk {
                start,
                count,
                filter,
                excluded,
                included,
            }),
    ];
    let fields = vec(select(Field::ALL).prop_map(Field::id), 0..8);
    (selection, fields).boxed()
}

fn valid_json(valid: &Valid, fields: &[&str]) -> Value {
    let selection = match valid {
        Valid::Manual(ids) => json!({"mode": "manual", "includedIds": ids}),
        Valid::Bulk {
            start,
            count,
            filter,
            excluded,
            included,
        } => json!({"mode": "bulk", "startIndex": start, "targetCount": count,
            "filters": filter, "excludedIds": excluded, "includedIds": included}),
    };
    json!({"selection": selection, "exportFields": fields})
}

/// First occurrences in order, leaving out `skip`.
fn first_occurrences(ids: &[String], skip: &HashSet<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| !skip.contains(*id) && seen.insert(id.to_string()))
        .cloned()
        .collect()
}

/// Byte-level damage to a valid body: inserted, removed, replaced bytes,
/// truncation, a BOM.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, u8),
    Remove(usize),
    Replace(usize, u8),
    Truncate(usize),
    Bom,
}

fn arb_mutation() -> BoxedStrategy<Mutation> {
    let byte = prop_oneof![select(&b"{}[]\",:0-9e.\\ \xff\xc3\x00"[..]), any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        Just(Mutation::Bom),
    ]
    .boxed()
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Replace(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            Mutation::Bom => bytes.splice(0..0, [0xef, 0xbb, 0xbf]).for_each(drop),
            _ => {}
        }
    }
    bytes
}

/// What every outcome of `parse` must satisfy: an accepted request is within
/// the limits; a refused one is a validation error (413 only over 1 MiB).
fn check_parse(body: &[u8]) -> Result<(), TestCaseError> {
    match parse(body) {
        Ok(req) => match req.selection {
            Selection::Manual { ids } => {
                prop_assert!(ids.len() <= MAX_IDS);
                check_ids(&ids)?;
            }
            Selection::Bulk(b) => {
                prop_assert!((1..=MAX_TARGET_COUNT).contains(&b.count));
                prop_assert!(b.included.len() <= MAX_IDS && b.excluded.len() <= MAX_IDS);
                check_ids(&b.included)?;
                prop_assert!(b.included.iter().all(|id| !b.excluded.contains(id)));
                check_rendered(&b.filter)?;
            }
        },
        Err(ExportError::Validation(message)) => prop_assert!(!message.is_empty()),
        Err(ExportError::PayloadTooLarge { .. }) => prop_assert!(body.len() > MAX_BODY_BYTES),
        Err(other) => prop_assert!(false, "parse gave {other:?}"),
    }
    Ok(())
}

fn check_ids(ids: &[String]) -> Result<(), TestCaseError> {
    let mut seen = HashSet::new();
    for id in ids {
        prop_assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES, "id {id:?}");
        prop_assert!(seen.insert(id), "repeated id {id:?}");
    }
    Ok(())
}

/// The placeholders (`#f0`, `:f1`) an expression text uses.
fn placeholders(text: &str, sigil: char) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(sigil) {
        let tail = &rest[i + 1..];
        let end = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        out.insert(format!("{sigil}{}", &tail[..end]));
        rest = &tail[end..];
    }
    out
}

fn substitution_bytes(expr: &FilterExpr) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let names: usize = expr.names.iter().map(|(k, v)| k.len() + v.len()).sum();
    let values: usize = expr
        .values
        .iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    other => format!("{other:?}").len(),
                }
        })
        .sum();
    names + values
}

/// The push-down of `filter` renders within DynamoDB's expression limits,
/// with every placeholder defined and every definition used.
fn check_rendered(filter: &CompiledFilter) -> Result<(), TestCaseError> {
    let Some(expr) = render_filter(&filter.pushdown()) else {
        return Ok(());
    };
    prop_assert!(
        expr.text.len() <= MAX_EXPRESSION_BYTES,
        "expression of {} bytes",
        expr.text.len()
    );
    let names: BTreeSet<String> = expr.names.keys().cloned().collect();
    let values: BTreeSet<String> = expr.values.keys().cloned().collect();
    prop_assert_eq!(placeholders(&expr.text, '#'), names, "{}", expr.text);
    prop_assert_eq!(placeholders(&expr.text, ':'), values, "{}", expr.text);
    let bytes = substitution_bytes(&expr);
    prop_assert!(
        bytes <= MAX_SUBSTITUTION_BYTES,
        "{bytes} bytes of substitution variables"
    );
    Ok(())
}

fn check_compile(value: &Value) -> Result<(), TestCaseError> {
    match compile(value) {
        Ok(filter) => check_rendered(&filter),
        Err(e) => {
            prop_assert!(e.path == "filters" || e.path.starts_with("filters."), "{e}");
            prop_assert!(!e.message.is_empty());
            Ok(())
        }
    }
}

/// A string a CSV writer must get right: quotes, separators, line breaks,
/// control characters, any Unicode.
fn arb_cell_text() -> BoxedStrategy<Text> {
    prop_oneof![
        2 => "[a-z\",\r\n ;=+@\t-]{0,10}".prop_map(Text::from),
        2 => any::<String>().prop_map(Text::from),
        1 => select(STRINGS).prop_map(Text::from),
    ]
    .boxed()
}

/// A lead of the shared generator with hostile text in the exported fields.
fn arb_hostile_lead() -> BoxedStrategy<Lead> {
    (
        arb_lead(),
        vec(arb_cell_text(), 8),
        vec(arb_cell_text(), 0..3),
        vec(arb_cell_text(), 0..3),
    )
        .prop_map(|(mut lead, t, emails, phones)| {
            lead.first_name = t[0].clone();
            lead.last_name = t[1].clone();
            lead.job_title = Some(t[2].clone());
            lead.city = Some(t[3].clone());
            lead.country = Some(t[4].clone());
            lead.linkedin_url = Some(t[5].clone());
            lead.emails = Some(emails);
            lead.phones = Some(phones);
            let company = lead.company.get_or_insert_with(Company::default);
            company.name = Some(t[6].clone());
            company.website_url = Some(t[7].clone());
            lead
        })
        .boxed()
}

fn fuzz_config() -> ProptestConfig {
    // `ProptestConfig::default()` reads PROPTEST_CASES.
    ProptestConfig {
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    #[ignore = "run by make fuzz"]
    fn parse_arbitrary_bytes(body in vec(any::<u8>(), 0..300)) {
        check_parse(&body)?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn parse_damaged_valid_bodies(
        (valid, fields) in arb_valid(),
        mutations in vec(arb_mutation(), 1..6),
    ) {
        let bytes = valid_json(&valid, &fields).to_string().into_bytes();
        check_parse(&mutate(bytes, &mutations))?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn parse_structured_hostile_bodies(body in arb_body()) {
        check_parse(body.to_string().as_bytes())?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn parse_accepts_valid_bodies_as_given((valid, fields) in arb_valid()) {
        let body = valid_json(&valid, &fields).to_string();
        let req = parse(body.as_bytes());
        prop_assert!(req.is_ok(), "{body}: {req:?}");
        let req = req.unwrap();
        let expected_fields = if fields.is_empty() {
            Some(FieldList::defaults())
        } else {
            FieldList::from_ids(fields.iter().copied())
        };
        prop_assert_eq!(req.fields, expected_fields);
        match (valid, req.selection) {
            (Valid::Manual(ids), Selection::Manual { ids: got }) => {
                prop_assert_eq!(got, first_occurrences(&ids, &HashSet::new()));
            }
            (Valid::Bulk { start, count, excluded, included, .. }, Selection::Bulk(b)) => {
                prop_assert_eq!(b.start as u64, start);
                prop_assert_eq!(b.count as u64, count);
                let excluded: HashSet<String> = excluded.into_iter().collect();
                prop_assert_eq!(&b.excluded, &excluded);
                prop_assert_eq!(b.included, first_occurrences(&included, &excluded));
                check_rendered(&b.filter)?;
            }
            (valid, got) => prop_assert!(false, "{valid:?} parsed as {got:?}"),
        }
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn compile_accepts_valid_filters(filter in arb_filter_json()) {
        let compiled = compile(&filter);
        prop_assert!(compiled.is_ok(), "{filter}: {compiled:?}");
        check_rendered(&compiled.unwrap())?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn compile_arbitrary_json(value in arb_json()) {
        check_compile(&value)?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn compile_filter_shaped_json(value in arb_filter_shaped()) {
        check_compile(&value)?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn compile_and_render_filters_over_the_limits(value in arb_big_filter()) {
        check_compile(&value)?;
    }

    #[test]
    #[ignore = "run by make fuzz"]
    fn csv_reads_back_cell_for_cell(
        leads in vec(arb_hostile_lead(), 0..4),
        ids in vec(select(Field::ALL).prop_map(Field::id), 0..12),
        escape_formulas in any::<bool>(),
    ) {
        let fields = FieldList::from_ids(ids).unwrap_or_else(FieldList::defaults);
        let format = CsvFormat {
            escape_formulas,
            ..CsvFormat::default()
        };
        let bytes = to_csv(&fields, &leads, &format);
        prop_assert!(bytes.ends_with(b"\r\n"));
        let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice())
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("unreadable CSV: {e}")))?;
        let labels: Vec<String> = fields.fields().iter().map(|f| f.label().to_string()).collect();
        let mut expected = vec![labels];
        for lead in &leads {
            expected.push(
                fields
                    .fields()
                    .iter()
                    .map(|f| {
                        let cell = f.cell(lead);
                        if escape_formulas {
                            escape_formula(&cell).into_owned()
                        } else {
                            cell.into_owned()
                        }
                    })
                    .collect(),
            );
        }
        prop_assert_eq!(rows, expected);
    }
}

/// The worst case of term expansion within one request body: U+FDFA is 3
/// bytes of UTF-8 and 33 bytes after NFKD. Terms of a location filter (each
/// pushed down as a value) filling a body of under 1 MiB must still render
/// within DynamoDB's 2 MB of substitution variables (or push nothing).
#[test]
#[ignore = "run by make fuzz"]
fn nfkd_expansion_stays_within_the_substitution_limit() {
    for (terms, chars) in [(64, 1000), (300, 1000), (1000, 256), (2, 150_000)] {
        let term = "\u{fdfa}".repeat(chars);
        let filter = json!({"contact": {"location": {"any": {"include": vec![term; terms]}}}});
        let body = json!({"selection": {"mode": "bulk", "targetCount": 1, "filters": filter}});
        assert!(body.to_string().len() <= MAX_BODY_BYTES);
        let result = compile(&filter).map(|f| check_rendered(&f));
        assert!(
            matches!(result, Err(_) | Ok(Ok(()))),
            "{terms} terms of {chars} x U+FDFA: {result:?}"
        );
    }
}

/// A filter within the limits (1,000 terms of one list, 1,000 conjuncts)
/// renders within 4 KB; its time is printed (the bound on time is shown by
/// `cargo bench --bench filter_limits`, not asserted here).
#[test]
#[ignore = "run by make fuzz"]
fn a_thousand_all_include_terms_render_in_bounded_time() {
    let terms: Vec<String> = (0..1000).map(|i| format!("skill number {i}")).collect();
    let filter = json!({"contact": {"skill": {"all": {"include": terms}}}});
    let compiled = compile(&filter).unwrap();
    let started = std::time::Instant::now();
    let rendered = render_filter(&compiled.pushdown());
    let elapsed = started.elapsed();
    eprintln!("1,000 all.include terms rendered in {elapsed:?}");
    assert!(rendered.is_some_and(|r| r.text.len() <= MAX_EXPRESSION_BYTES));
}

/// The hostile generators reach both outcomes: structured bodies are
/// sometimes accepted and sometimes refused; filter-shaped JSON sometimes
/// compiles to a filter, sometimes to an empty one, often not at all.
/// Runs in `cargo test`.
#[test]
fn generators_reach_both_outcomes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..200 {
        let body = arb_body().new_tree(&mut runner).unwrap().current();
        match parse(body.to_string().as_bytes()) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(
        ok > 5 && err > 5,
        "structured bodies: {ok} accepted, {err} refused"
    );
    let (mut nonempty, mut empty, mut err) = (0, 0, 0);
    for _ in 0..200 {
        let value = arb_filter_shaped().new_tree(&mut runner).unwrap().current();
        match compile(&value) {
            Ok(f) if !f.is_empty() => nonempty += 1,
            Ok(_) => empty += 1,
            Err(_) => err += 1,
        }
    }
    assert!(
        nonempty > 0 && empty > 5 && err > 5,
        "filter-shaped: {nonempty} compiled, {empty} empty, {err} refused"
    );
}
