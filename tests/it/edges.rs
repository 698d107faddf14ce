//! Every documented limit through the handler (`http::handle` over the
//! in-memory demo data), exactly at the limit (accepted: the file, or the
//! reference's `No data to export` where nothing matches) and one past it
//! (refused with the documented status and the exact message naming the
//! path). The limits and messages are those of `docs/contract.md`
//! (errors), `docs/filters.md` (limits) and `docs/security.md`, written
//! here as literals: the body (1 MiB), the ids of a list (10,000), an id
//! (1,024 bytes), `targetCount` (1..1000), `startIndex` (below 2^64), the
//! terms of a list (1,000) and of a filter (2,000, a `WORD` term's words
//! counting one each), a term (256 characters after normalization), the
//! ranges of a filter (20) and their bounds (±1e15), the client strings
//! echoed in messages (100 characters), and the nesting of the JSON body
//! (127 levels).

use crate::support;

use lambda_http::{Body, Response};
use lead_export::demo::demo_leads;
use lead_export::http::handle;
use serde_json::{json, Value};
use support::*;

/// What the client must get.
#[derive(Debug)]
enum Expect {
    /// 200 with a CSV of this many rows.
    Rows(usize),
    /// The reference's plain `{"error": "No data to export"}` (400).
    NoData,
    /// An error with this status, code and exact message.
    Error(u16, &'static str, String),
}

fn refused(message: impl Into<String>) -> Expect {
    Expect::Error(400, "VALIDATION_ERROR", message.into())
}

async fn send(app: &lead_export::app::App, body: Vec<u8>) -> Response<Body> {
    let auth = format!("Bearer {}", token(ORG_A));
    let req = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/api/v1/operations/export")
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    handle(app, req).await
}

/// `Err` naming the case when the answer is not `expect`.
fn check(name: &str, resp: &Response<Body>, expect: &Expect) -> Result<(), String> {
    let status = resp.status().as_u16();
    let body = body_bytes(resp);
    let shown = String::from_utf8_lossy(&body[..body.len().min(400)]).to_string();
    let json: Value = serde_json::from_slice(&body).unwrap_or_default();
    let ok = match expect {
        Expect::Rows(n) => status == 200 && csv_rows(&body).len() == n + 1,
        Expect::NoData => status == 400 && json == json!({"error": "No data to export"}),
        Expect::Error(s, code, message) => {
            status == *s && json == json!({"error": {"code": code, "message": message}})
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{name}: expected {expect:?}, got {status} {shown}"))
    }
}

fn demo_ids(n: usize) -> Vec<String> {
    demo_leads(1, 3000)[..n]
        .iter()
        .map(|l| l.id.clone())
        .collect()
}

/// A manual selection of `ids` as a body.
fn manual(ids: Vec<String>) -> Vec<u8> {
    json!({"selection": {"mode": "manual", "includedIds": ids}, "exportFields": ["name"]})
        .to_string()
        .into_bytes()
}

/// One real id then `n - 1` unknown ones.
fn one_real_of(n: usize) -> Vec<String> {
    let mut ids = demo_ids(1);
    ids.extend((1..n).map(|i| format!("unknown-{i}")));
    ids
}

/// A bulk selection of `count` leads from `start` over `filters`, with
/// `extra` merged into the selection.
fn bulk_with(start: Value, count: Value, filters: Value, extra: Value) -> Vec<u8> {
    let mut selection = json!({"mode": "bulk", "startIndex": start, "targetCount": count,
        "filters": filters});
    for (k, v) in extra.as_object().unwrap() {
        selection[k] = v.clone();
    }
    json!({"selection": selection, "exportFields": ["name"]})
        .to_string()
        .into_bytes()
}

fn bulk(filters: Value) -> Vec<u8> {
    bulk_with(json!(0), json!(1), filters, json!({}))
}

/// `n` distinct terms no demo lead holds, `chars` characters each.
fn terms(n: usize, chars: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let t = format!("zq{i}x");
            format!("{t}{}", "q".repeat(chars.saturating_sub(t.len())))
        })
        .collect()
}

/// `body` padded with spaces (outside the JSON value) to `len` bytes.
fn padded(body: Vec<u8>, len: usize) -> Vec<u8> {
    let mut b = body;
    assert!(b.len() <= len);
    b.resize(len, b' ');
    b
}

/// A valid manual body whose `pad` key holds `depth` nested arrays (the
/// whole body nests `depth + 1` levels).
fn nested(depth: usize) -> Vec<u8> {
    let ids = demo_ids(1);
    format!(
        r#"{{"pad":{}{},"selection":{{"mode":"manual","includedIds":["{}"]}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth),
        ids[0]
    )
    .into_bytes()
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let skill = |part: Value| json!({"contact": {"skill": {"any": part}}});
    let revenue = |range: Value| json!({"account": {"revenue": {"range": range}}});
    let span = |i: usize| json!({"start": i * 10, "end": i * 10 + 5});
    let long_key = |n: usize| json!({"contact": {"k".repeat(n): {}}});
    // 1,000 WORD terms of two words: 2,000 terms in the filter.
    let mut words: Vec<String> = (0..1000).map(|i| format!("zq{i} zz{i}")).collect();
    let word =
        |content: &Vec<String>| skill(json!({"exclude": {"mode": "WORD", "content": content}}));
    let at_2000 = word(&words);
    words[999].push_str(" zy");
    let past_2000 = word(&words);
    let ids_msg =
        |key: &str, n: usize| format!("selection.{key} holds {n} ids; at most 10000 are allowed");
    let id_msg = |i: usize| {
        format!("selection.includedIds[{i}] must be a non-empty id of at most 1024 bytes")
    };
    let no_json = "request body is not valid JSON: ";
    vec![
        // ---- the body: 1 MiB (1,048,576 bytes)
        (
            "a body of exactly 1 MiB",
            padded(manual(demo_ids(2)), 1 << 20),
            Expect::Rows(2),
        ),
        (
            "a body one byte over 1 MiB",
            padded(manual(demo_ids(2)), (1 << 20) + 1),
            Expect::Error(
                413,
                "VALIDATION_ERROR",
                "request body exceeds 1048576 bytes".into(),
            ),
        ),
        // ---- ids per list: 10,000
        (
            "10,000 included ids",
            manual(one_real_of(10_000)),
            Expect::Rows(1),
        ),
        (
            "10,001 included ids",
            manual(one_real_of(10_001)),
            refused(ids_msg("includedIds", 10_001)),
        ),
        (
            "10,000 excluded ids",
            bulk_with(
                json!(0),
                json!(1),
                json!({}),
                json!({"excludedIds": one_real_of(10_000)}),
            ),
            Expect::Rows(1),
        ),
        (
            "10,001 excluded ids",
            bulk_with(
                json!(0),
                json!(1),
                json!({}),
                json!({"excludedIds": one_real_of(10_001)}),
            ),
            refused(ids_msg("excludedIds", 10_001)),
        ),
        (
            "10,000 included ids in bulk",
            bulk_with(
                json!(0),
                json!(1),
                json!({}),
                json!({"includedIds": (0..10_000).map(|i| format!("unknown-{i}")).collect::<Vec<_>>()}),
            ),
            Expect::Rows(1),
        ),
        (
            "10,001 included ids in bulk",
            bulk_with(
                json!(0),
                json!(1),
                json!({}),
                json!({"includedIds": one_real_of(10_001)}),
            ),
            refused(ids_msg("includedIds", 10_001)),
        ),
        // ---- an id: 1,024 bytes (not characters)
        (
            "an id of 1,024 bytes",
            manual(vec!["a".repeat(1024), demo_ids(1)[0].clone()]),
            Expect::Rows(1),
        ),
        (
            "an id of 1,025 bytes",
            manual(vec![demo_ids(1)[0].clone(), "a".repeat(1025)]),
            refused(id_msg(1)),
        ),
        (
            "an id of 512 two-byte characters (1,024 bytes)",
            manual(vec!["é".repeat(512), demo_ids(1)[0].clone()]),
            Expect::Rows(1),
        ),
        (
            "an id of 513 characters, 1,025 bytes",
            manual(vec![format!("a{}", "é".repeat(512))]),
            refused(id_msg(0)),
        ),
        (
            "an empty id",
            manual(vec![demo_ids(1)[0].clone(), String::new()]),
            refused(id_msg(1)),
        ),
        // ---- targetCount: 1..1000
        (
            "targetCount 1000",
            bulk_with(json!(0), json!(1000), json!({}), json!({})),
            Expect::Rows(1000),
        ),
        (
            "targetCount 1001",
            bulk_with(json!(0), json!(1001), json!({}), json!({})),
            refused("selection.targetCount must be between 1 and 1000"),
        ),
        (
            "targetCount 1",
            bulk_with(json!(0), json!(1), json!({}), json!({})),
            Expect::Rows(1),
        ),
        (
            "targetCount 0",
            bulk_with(json!(0), json!(0), json!({}), json!({})),
            refused("selection.targetCount must be between 1 and 1000"),
        ),
        // ---- startIndex: a whole number below 2^64
        (
            "startIndex 2^64 - 1",
            bulk_with(
                json!(18_446_744_073_709_551_615u64),
                json!(1),
                json!({}),
                json!({}),
            ),
            Expect::NoData,
        ),
        (
            "startIndex 2^64",
            br#"{"selection":{"mode":"bulk","startIndex":18446744073709551616,"targetCount":1,"filters":{}}}"#.to_vec(),
            refused("selection.startIndex must be an integer >= 0"),
        ),
        (
            "startIndex -1",
            bulk_with(json!(-1), json!(1), json!({}), json!({})),
            refused("selection.startIndex must be an integer >= 0"),
        ),
        // ---- terms per list: 1,000
        (
            "1,000 terms in a list",
            bulk(skill(json!({"exclude": terms(1000, 8)}))),
            Expect::Rows(1),
        ),
        (
            "1,001 terms in a list",
            bulk(skill(json!({"exclude": terms(1001, 8)}))),
            refused(
                "filters.contact.skill.any.exclude: at most 1000 terms are allowed in one list (got 1001)",
            ),
        ),
        // ---- terms per filter: 2,000 (each word of a WORD term counts one)
        ("2,000 terms in the filter", bulk(at_2000), Expect::Rows(1)),
        (
            "2,001 terms in the filter",
            bulk(past_2000),
            refused(
                "filters.contact.skill.any.exclude.content[999]: at most 2000 terms are allowed in the whole filter \
                 (each part of a location and each word of a WORD term counts one)",
            ),
        ),
        // ---- a term: 256 characters after normalization
        (
            "a term of 256 characters",
            bulk(skill(json!({"exclude": terms(2, 256)}))),
            Expect::Rows(1),
        ),
        (
            "a term of 257 characters",
            bulk(skill(json!({"exclude": terms(2, 257)}))),
            refused("filters.contact.skill.any.exclude[0]: a term may hold at most 256 characters"),
        ),
        (
            "a term of 256 accented characters and spaces around",
            bulk(skill(json!({"exclude": [format!("  {}  ", "É".repeat(256))]}))),
            Expect::Rows(1),
        ),
        (
            "a term of 86 ligatures, 258 characters once normalized",
            bulk(skill(json!({"exclude": ["zq", "\u{fb03}".repeat(86)]}))),
            refused("filters.contact.skill.any.exclude[1]: a term may hold at most 256 characters"),
        ),
        // ---- ranges: 20, bounds within ±1e15
        (
            "20 ranges",
            bulk(revenue(json!((0..20).map(span).collect::<Vec<_>>()))),
            Expect::NoData,
        ),
        (
            "21 ranges",
            bulk(revenue(json!((0..21).map(span).collect::<Vec<_>>()))),
            refused("filters.account.revenue.range: at most 20 ranges are allowed (got 21)"),
        ),
        (
            "bounds of -1e15 and 1e15",
            bulk(revenue(json!({"start": -1e15, "end": 1e15}))),
            Expect::Rows(1),
        ),
        (
            "a start of 1e15 + 1",
            bulk(revenue(json!({"start": 1_000_000_000_000_001u64}))),
            refused("filters.account.revenue.range.start: expected a number between -1e15 and 1e15"),
        ),
        (
            "an end of -1e15 - 1",
            bulk(revenue(json!([{"end": -1_000_000_000_000_001i64}]))),
            refused("filters.account.revenue.range[0].end: expected a number between -1e15 and 1e15"),
        ),
        // ---- client strings echoed: 100 characters, then …
        (
            "an unknown key of 100 characters",
            bulk(long_key(100)),
            refused(format!("filters.contact.{}: unknown filter", "k".repeat(100))),
        ),
        (
            "an unknown key of 101 characters",
            bulk(long_key(101)),
            refused(format!("filters.contact.{}…: unknown filter", "k".repeat(100))),
        ),
        // ---- JSON nesting: 127 levels (serde_json's limit)
        ("a body nested 127 deep", nested(126), Expect::Rows(1)),
        (
            "a body nested 128 deep",
            nested(127),
            refused(format!(
                "{no_json}recursion limit exceeded at line 1 column {}",
                r#"{"pad":"#.len() + 127
            )),
        ),
    ]
}

#[tokio::test]
async fn every_limit_is_accepted_at_the_edge_and_refused_one_past_it() {
    let cases = cases();
    let (app, _) = demo_app();
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (name, body, expect) in &cases {
        assert!(names.insert(*name), "two cases named {name}");
        let resp = send(&app, body.clone()).await;
        if let Err(e) = check(name, &resp, expect) {
            failures.push(e);
        }
    }
    assert!(cases.len() >= 36, "{} cases", cases.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
