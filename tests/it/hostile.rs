//! Malformed and hostile requests and tokens, as one table, through
//! `http::handle` over the in-memory demo data. Each row states the status,
//! the error code and the message the client gets (the message is one column
//! of one row). No row answers 500, every error body is JSON with the code
//! and message, 401s carry `WWW-Authenticate: Bearer`, 405s `Allow: POST`.
//!
//! The filter-limit rows also name what the service answered before the
//! limits existed (a 400 only by chance, a CSV, or an echo of a 100 KB key):
//! each of those rows failed then. Every token failure answers the one
//! [`UNAUTHORIZED_MESSAGE`]; a row names the reason, which its request's log
//! line must carry (`token rejected: <reason>`, captured as JSON).
//!
//! A UTF-8 byte order mark before the JSON is refused like any other byte
//! that is not JSON (400 `VALIDATION_ERROR`, serde_json's position); clients
//! send JSON without a BOM (RFC 8259 section 8.1).

use crate::support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use lambda_http::{Body, Request, Response};
use lead_export::app::App;
use lead_export::demo::demo_leads;
use lead_export::error::UNAUTHORIZED_MESSAGE;
use lead_export::http::handle;
use serde_json::{json, Value};
use support::*;

/// What the client must get.
#[derive(Debug, Clone)]
enum Expect {
    /// An error with this status, code and message.
    Error(u16, &'static str, Msg),
    /// The reference's plain `{"error": "No data to export"}` (400).
    NoData,
    /// A CSV with this many rows.
    Csv(usize),
    /// The 401 of every token failure, logged with this reason.
    Unauthorized(&'static str),
}

/// How the message is checked.
#[derive(Debug, Clone)]
enum Msg {
    Exact(String),
    StartsWith(String),
    /// Starts with the text and is at most this many characters long.
    Short(String, usize),
}

fn exact(m: impl Into<String>) -> Msg {
    Msg::Exact(m.into())
}

fn starts(m: impl Into<String>) -> Msg {
    Msg::StartsWith(m.into())
}

fn bad(message: Msg) -> Expect {
    Expect::Error(400, "VALIDATION_ERROR", message)
}

/// A token failure: the client gets the one message whatever the reason;
/// the reason goes to the log only, where the request's line must carry it
/// (so that a 401 for another reason fails the row).
fn unauthorized(reason: &'static str) -> Expect {
    Expect::Unauthorized(reason)
}

/// Which app serves the row.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// HS256 with the dev secret (the demo app).
    Hs256,
    /// RS256 with `tests/data/rsa_public.pem`.
    Rs256,
}

struct Case {
    name: &'static str,
    keys: Keys,
    request: Request,
    /// What the client must get.
    expect: Expect,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hs(claims: Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(data("rsa_private.pem").as_bytes()).unwrap(),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn claims() -> Value {
    json!({"org_id": ORG_A, "exp": now() + 600})
}

/// A request with these raw body bytes and headers.
fn raw(method: &str, body: Vec<u8>, headers: &[(&str, &[u8])]) -> Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri("https://api.example.com/api/v1/operations/export");
    for (k, v) in headers {
        builder = builder.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    builder.body(Body::Binary(body)).unwrap()
}

/// A POST of `body` with a valid token of org A.
fn as_a(body: impl Into<Vec<u8>>) -> Request {
    let auth = format!("Bearer {}", token(ORG_A));
    raw("POST", body.into(), &[("authorization", auth.as_bytes())])
}

fn json_as_a(body: Value) -> Request {
    as_a(body.to_string())
}

/// A valid manual export of one existing lead of org A, with this
/// `Authorization` header (or none).
fn with_auth(authorization: Option<&str>) -> Request {
    let id = demo_leads(1, 1)[0].id.clone();
    let body = json!({"selection": {"mode": "manual", "includedIds": [id]}}).to_string();
    match authorization {
        Some(a) => raw("POST", body.into(), &[("authorization", a.as_bytes())]),
        None => raw("POST", body.into(), &[]),
    }
}

fn bearer(token: &str) -> Request {
    with_auth(Some(&format!("Bearer {token}")))
}

fn bulk(filters: Value) -> Value {
    json!({"selection": {"mode": "bulk", "targetCount": 10, "filters": filters}})
}

fn selection(fields: Value) -> Value {
    let mut s = json!({"mode": "bulk", "targetCount": 10, "filters": {}});
    for (k, v) in fields.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({ "selection": s })
}

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let inner = format!(
        "{{\"selection\":{}1{}}}",
        open.repeat(depth),
        close.repeat(depth)
    );
    inner.into_bytes()
}

fn case(name: &'static str, request: Request, expect: Expect) -> Case {
    Case {
        name,
        keys: Keys::Hs256,
        request,
        expect,
    }
}

/// A row over a filter limit: `_before` is what the service answered before
/// the limits (documentation of why the row failed then), `expect` what it
/// answers now.
fn limit(name: &'static str, request: Request, _before: Expect, expect: Expect) -> Case {
    case(name, request, expect)
}

fn rows() -> Vec<Case> {
    let a_ids: Vec<String> = demo_leads(1, 3000)[..3]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    let b_ids: Vec<String> = demo_leads(2, 1000)[..3]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    let secret = DEV_SECRET.as_bytes();
    let valid_body = json!({"selection": {"mode": "manual", "includedIds": [a_ids[0]]}});
    let huge_key = "k".repeat(100 * 1024);
    let no_json = "request body is not valid JSON: ";
    vec![
        // ---- tokens and the Authorization header
        case(
            "no Authorization header",
            with_auth(None),
            unauthorized("no Authorization header"),
        ),
        case(
            "empty Authorization header",
            with_auth(Some("")),
            unauthorized("no Authorization header"),
        ),
        case(
            "Bearer without a token",
            with_auth(Some("Bearer   ")),
            unauthorized("malformed Authorization header (expected: Bearer <token>)"),
        ),
        case(
            "a token without the Bearer scheme",
            with_auth(Some(&token(ORG_A))),
            unauthorized("malformed Authorization header (expected: Bearer <token>)"),
        ),
        case(
            "Basic credentials",
            with_auth(Some("Basic dXNlcjpwYXNz")),
            unauthorized("Authorization scheme is not Bearer"),
        ),
        case(
            "not a JWT",
            bearer("not.a.jwt"),
            unauthorized("malformed token (not base64url)"),
        ),
        case(
            "two segments",
            bearer("eyJhbGciOiJIUzI1NiJ9.e30"),
            unauthorized("malformed token"),
        ),
        case(
            "alg none, no signature",
            bearer(&format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(claims().to_string().as_bytes())
            )),
            unauthorized("malformed token (not JSON)"),
        ),
        case(
            "alg NONE, HS256 signature",
            bearer(&{
                let t = hs(claims(), secret);
                let rest = t.split_once('.').unwrap().1;
                format!("{}.{rest}", b64(br#"{"alg":"NONE","typ":"JWT"}"#))
            }),
            unauthorized("malformed token (not JSON)"),
        ),
        case(
            "RS256 token while HS256 is configured",
            bearer(&rs(claims())),
            unauthorized("algorithm not accepted"),
        ),
        Case {
            keys: Keys::Rs256,
            ..case(
                "HS256 signed with the RSA public key while RS256 is configured",
                bearer(&hs(
                    json!({"org_id": ORG_A, "exp": now() + 600,
                           "iss": "https://idp.example", "aud": "lead-export"}),
                    data("rsa_public.pem").as_bytes(),
                )),
                unauthorized("algorithm not accepted"),
            )
        },
        case(
            "a 100 KB token",
            bearer(&format!(
                "{}.{}.{}",
                b64(br#"{"alg":"HS256"}"#),
                "A".repeat(100 * 1024),
                "B".repeat(43)
            )),
            unauthorized("malformed token (not base64url)"),
        ),
        case(
            "a 100 KB claim, validly signed",
            bearer(&hs(
                json!({"org_id": ORG_A, "exp": now() + 600, "pad": "x".repeat(100 * 1024)}),
                secret,
            )),
            Expect::Csv(1),
        ),
        case(
            "expired",
            bearer(&hs(json!({"org_id": ORG_A, "exp": now() - 60}), secret)),
            unauthorized("expired"),
        ),
        case(
            "not yet valid",
            bearer(&hs(
                json!({"org_id": ORG_A, "exp": now() + 600, "nbf": now() + 300}),
                secret,
            )),
            unauthorized("not yet valid (nbf)"),
        ),
        case(
            "no exp",
            bearer(&hs(json!({"org_id": ORG_A}), secret)),
            unauthorized("missing required claim exp"),
        ),
        case(
            "exp as a string",
            bearer(&hs(json!({"org_id": ORG_A, "exp": "4102444800"}), secret)),
            unauthorized("missing required claim exp"),
        ),
        case(
            "wrong signature",
            bearer(&hs(claims(), b"another-secret")),
            unauthorized("bad signature"),
        ),
        case(
            "signature of another token",
            bearer(&{
                let t = hs(claims(), secret);
                let other = hs(json!({"org_id": ORG_B, "exp": now() + 600}), secret);
                let (head, _) = t.rsplit_once('.').unwrap();
                format!("{head}.{}", other.rsplit_once('.').unwrap().1)
            }),
            unauthorized("bad signature"),
        ),
        case(
            "non-ASCII bytes in the Authorization header",
            raw(
                "POST",
                valid_body.to_string().into(),
                &[("authorization", b"Bearer \xff\xfe")],
            ),
            unauthorized("no Authorization header"),
        ),
        case(
            "no organization claim",
            bearer(&hs(json!({"exp": now() + 600}), secret)),
            Expect::Error(
                403,
                "FORBIDDEN",
                exact("The token carries no organization (org_id claim)"),
            ),
        ),
        case(
            "organization claim a number",
            bearer(&hs(json!({"org_id": 42, "exp": now() + 600}), secret)),
            Expect::Error(
                403,
                "FORBIDDEN",
                exact("The token carries no organization (org_id claim)"),
            ),
        ),
        case(
            "organization claim of 2 KB",
            bearer(&hs(
                json!({"org_id": "o".repeat(2048), "exp": now() + 600}),
                secret,
            )),
            Expect::Error(
                403,
                "FORBIDDEN",
                exact("The token's organization is empty or too long"),
            ),
        ),
        // ---- methods
        case(
            "GET",
            raw("GET", Vec::new(), &[]),
            Expect::Error(
                405,
                "METHOD_NOT_ALLOWED",
                exact("method GET is not allowed; use POST"),
            ),
        ),
        case(
            "DELETE with a valid token",
            {
                let auth = format!("Bearer {}", token(ORG_A));
                raw("DELETE", Vec::new(), &[("authorization", auth.as_bytes())])
            },
            Expect::Error(
                405,
                "METHOD_NOT_ALLOWED",
                exact("method DELETE is not allowed; use POST"),
            ),
        ),
        // ---- the body as bytes
        case(
            "empty body",
            as_a(Vec::new()),
            bad(exact("request body is empty; expected a JSON object")),
        ),
        case(
            "a UTF-8 BOM before valid JSON",
            as_a([&b"\xef\xbb\xbf"[..], valid_body.to_string().as_bytes()].concat()),
            bad(exact(format!(
                "{no_json}expected value at line 1 column 1"
            ))),
        ),
        case(
            "invalid UTF-8 in a string",
            as_a(&b"{\"selection\":{\"mode\":\"manual\",\"includedIds\":[\"\xff\xfe\"]}}"[..]),
            bad(starts(no_json)),
        ),
        case(
            "invalid UTF-8 outside strings",
            as_a(&b"\xff{}"[..]),
            bad(exact(format!(
                "{no_json}expected value at line 1 column 1"
            ))),
        ),
        case(
            "arrays nested 5,000 deep",
            as_a(nested(5000, "[", "]")),
            bad(starts(format!("{no_json}recursion limit exceeded"))),
        ),
        case(
            "objects nested 5,000 deep",
            as_a(nested(5000, "{\"a\":", "}")),
            bad(starts(format!("{no_json}recursion limit exceeded"))),
        ),
        case(
            "truncated JSON",
            as_a(&b"{\"selection\":{\"mode\":\"man"[..]),
            bad(starts(format!("{no_json}EOF while parsing a string"))),
        ),
        case(
            "trailing bytes after the object",
            as_a(format!("{valid_body} x")),
            bad(starts(format!("{no_json}trailing characters"))),
        ),
        case(
            "a top-level array",
            as_a("[{}]"),
            bad(exact("request body must be a JSON object")),
        ),
        case(
            "NUL bytes",
            as_a(&b"\0\0\0\0"[..]),
            bad(starts(no_json)),
        ),
        case(
            "body over 1 MiB",
            as_a(format!("{{\"pad\":\"{}\"}}", " ".repeat(1 << 20))),
            Expect::Error(
                413,
                "VALIDATION_ERROR",
                exact("request body exceeds 1048576 bytes"),
            ),
        ),
        case(
            "a repeated key: the last one counts",
            as_a(format!(
                "{{\"selection\":{},\"selection\":{{\"mode\":\"smart\"}}}}",
                valid_body["selection"]
            )),
            bad(exact("Invalid selection mode")),
        ),
        // ---- the selection
        case(
            "selection a string",
            json_as_a(json!({"selection": "all"})),
            bad(exact("selection must be an object")),
        ),
        case(
            "mode in capitals",
            json_as_a(json!({"selection": {"mode": "MANUAL", "includedIds": a_ids}})),
            bad(exact("Invalid selection mode")),
        ),
        case(
            "targetCount as a string",
            json_as_a(selection(json!({"targetCount": "10"}))),
            bad(exact("selection.targetCount must be between 1 and 1000")),
        ),
        case(
            "targetCount 2.5 (not a whole number)",
            json_as_a(selection(json!({"targetCount": 2.5}))),
            bad(exact("selection.targetCount must be between 1 and 1000")),
        ),
        case(
            // JSON (and JSON Schema's `integer`) count 10.0 as the integer 10.
            "targetCount 1e1 (a whole number written as a float)",
            json_as_a(selection(json!({"targetCount": 1e1}))),
            Expect::Csv(10),
        ),
        case(
            "targetCount 1001",
            json_as_a(selection(json!({"targetCount": 1001}))),
            bad(exact("selection.targetCount must be between 1 and 1000")),
        ),
        case(
            "targetCount -1",
            json_as_a(selection(json!({"targetCount": -1}))),
            bad(exact("selection.targetCount must be between 1 and 1000")),
        ),
        case(
            "startIndex -1",
            json_as_a(selection(json!({"startIndex": -1}))),
            bad(exact("selection.startIndex must be an integer >= 0")),
        ),
        case(
            "startIndex as a string",
            json_as_a(selection(json!({"startIndex": "0"}))),
            bad(exact("selection.startIndex must be an integer >= 0")),
        ),
        case(
            "startIndex 2^64",
            as_a(
                r#"{"selection":{"mode":"bulk","targetCount":1,"filters":{},"startIndex":18446744073709551616}}"#,
            ),
            bad(exact("selection.startIndex must be an integer >= 0")),
        ),
        case(
            "startIndex 1e300",
            json_as_a(selection(json!({"startIndex": 1e300}))),
            bad(exact("selection.startIndex must be an integer >= 0")),
        ),
        case(
            "startIndex past the end",
            json_as_a(selection(json!({"startIndex": u64::MAX}))),
            Expect::NoData,
        ),
        case(
            "manual with 10,001 ids",
            json_as_a(json!({"selection": {"mode": "manual",
                "includedIds": (0..10_001).map(|i| format!("id-{i}")).collect::<Vec<_>>()}})),
            bad(exact(
                "selection.includedIds holds 10001 ids; at most 10000 are allowed",
            )),
        ),
        case(
            "bulk excluding 10,001 ids",
            json_as_a(selection(json!({
                "excludedIds": (0..10_001).map(|i| format!("id-{i}")).collect::<Vec<_>>()}))),
            bad(exact(
                "selection.excludedIds holds 10001 ids; at most 10000 are allowed",
            )),
        ),
        case(
            "an id of 1,025 bytes",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": ["x".repeat(1025)]}})),
            bad(exact(
                "selection.includedIds[0] must be a non-empty id of at most 1024 bytes",
            )),
        ),
        case(
            "an id that is a number",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": [a_ids[0], 7]}})),
            bad(exact("selection.includedIds[1] must be a string")),
        ),
        case(
            "ids with control characters",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": ["\u{0}", "a\r\nb", "\u{202e}"]}})),
            Expect::NoData,
        ),
        case(
            "another organization's ids",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": b_ids}})),
            Expect::NoData,
        ),
        case(
            "an orgId in the body is ignored",
            json_as_a(json!({"orgId": ORG_B, "selection": {"mode": "manual",
                "includedIds": b_ids, "orgId": ORG_B}})),
            Expect::NoData,
        ),
        case(
            "exportFields of 10,000 repeats",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": a_ids},
                "exportFields": vec!["name"; 10_000]})),
            Expect::Csv(3),
        ),
        case(
            "exportFields an object",
            json_as_a(json!({"selection": {"mode": "manual", "includedIds": a_ids},
                "exportFields": {"name": true}})),
            bad(exact("exportFields must be an array of strings")),
        ),
        // ---- filters: today's messages
        case(
            "filters an array",
            json_as_a(bulk(json!([]))),
            bad(exact("filters: expected an object")),
        ),
        case(
            "an unknown section",
            json_as_a(bulk(json!({"people": {}}))),
            bad(exact("filters.people: unknown section (expected contact, account)")),
        ),
        case(
            "an unknown filter",
            json_as_a(bulk(json!({"contact": {"skil": {}}}))),
            bad(exact("filters.contact.skil: unknown filter")),
        ),
        case(
            "an unsupported filter",
            json_as_a(bulk(json!({"account": {"technology": {"any": {"include": ["rust"]}}}}))),
            bad(exact("filters.account.technology: unsupported filter")),
        ),
        case(
            "an unknown mode",
            json_as_a(bulk(
                json!({"contact": {"skill": {"any": {"include": {"mode": "FUZZY", "content": ["rust"]}}}}}),
            )),
            bad(exact(
                "filters.contact.skill.any.include.mode: unknown mode \"FUZZY\" (expected SMART, WORD or STRICT)",
            )),
        ),
        case(
            "a range bound as a string",
            json_as_a(bulk(json!({"account": {"employeeSize": {"range": [{"start": "10"}]}}}))),
            bad(exact(
                "filters.account.employeeSize.range[0].start: expected a number",
            )),
        ),
        case(
            "a term that is a number",
            json_as_a(bulk(json!({"contact": {"skill": {"any": {"include": ["rust", 1]}}}}))),
            bad(exact("filters.contact.skill.any.include[1]: expected a string")),
        ),
        // ---- filters over the limits (behavior changes with the limits)
        limit(
            "1,001 terms in skill.all.include",
            json_as_a(bulk(json!({"contact": {"skill": {"all": {"include":
                (0..1001).map(|i| format!("t{i}")).collect::<Vec<_>>()}}}}))),
            Expect::NoData,
            bad(starts("filters.contact.skill.all.include")),
        ),
        limit(
            "2,001 terms in one filter",
            json_as_a(bulk(json!({"contact": {"skill": {
                "any": {"include": (0..1000).map(|i| format!("a{i}")).collect::<Vec<_>>(),
                        "exclude": ["c"]},
                "all": {"include": (0..1000).map(|i| format!("b{i}")).collect::<Vec<_>>()}}}}))),
            Expect::NoData,
            bad(starts("filters.contact.skill")),
        ),
        limit(
            "one 40 KB location term of 20,000 components",
            json_as_a(bulk(
                json!({"contact": {"location": {"any": {"include": ["a,".repeat(20_000)]}}}}),
            )),
            Expect::NoData,
            bad(starts("filters.contact.location.any.include")),
        ),
        limit(
            "one 40 KB WORD term of 20,000 words",
            json_as_a(bulk(json!({"contact": {"skill": {"all": {"include":
                {"mode": "WORD", "content": ["a ".repeat(20_000)]}}}}}))),
            Expect::NoData,
            bad(starts("filters.contact.skill.all.include")),
        ),
        limit(
            "a term of 900,000 characters",
            json_as_a(bulk(
                json!({"contact": {"skill": {"any": {"include": ["x".repeat(900_000)]}}}}),
            )),
            Expect::NoData,
            bad(starts("filters.contact.skill.any.include")),
        ),
        limit(
            "a range bound of 1e200",
            json_as_a(bulk(json!({"account": {"employeeSize": {"range": [{"start": 1e200}]}}}))),
            Expect::NoData,
            bad(starts("filters.account.employeeSize.range[0].start")),
        ),
        limit(
            "21 ranges",
            json_as_a(bulk(
                json!({"account": {"employeeSize": {"range": vec![json!({"start": 0}); 21]}}}),
            )),
            Expect::Csv(10),
            bad(starts("filters.account.employeeSize.range")),
        ),
        limit(
            "an unknown filter key of 100 KB",
            json_as_a(bulk(json!({"contact": {huge_key.clone(): {}}}))),
            bad(exact(format!("filters.contact.{huge_key}: unknown filter"))),
            bad(Msg::Short(
                format!("filters.contact.{}", &huge_key[..100]),
                200,
            )),
        ),
    ]
}

fn app(keys: Keys, hs: &App, rs: &App) -> App {
    match keys {
        Keys::Hs256 => hs.clone(),
        Keys::Rs256 => rs.clone(),
    }
}

/// The status, code and message of a response, and whether it matches.
fn check(name: &str, resp: &Response<Body>, expected: &Expect) -> Result<(), String> {
    let status = resp.status().as_u16();
    let body = body_bytes(resp);
    let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
    let fail = |what: String| Err(format!("{name}: {what}; got {status} {shown}"));
    if status == 500 {
        return fail("a 500".into());
    }
    let expected = match expected {
        Expect::Unauthorized(_) => &Expect::Error(401, "UNAUTHORIZED", exact(UNAUTHORIZED_MESSAGE)),
        other => other,
    };
    match expected {
        Expect::Unauthorized(_) => unreachable!("mapped above"),
        Expect::Csv(rows) => {
            if status != 200 {
                return fail(format!("expected 200 with {rows} rows"));
            }
            let got = csv_rows(&body).len() - 1;
            if got != *rows {
                return fail(format!("expected {rows} rows, got {got}"));
            }
        }
        Expect::NoData => {
            let json: Value = serde_json::from_slice(&body).unwrap_or_default();
            if status != 400 || json != json!({"error": "No data to export"}) {
                return fail("expected 400 No data to export".into());
            }
        }
        Expect::Error(want, code, msg) => {
            let json: Value = serde_json::from_slice(&body).unwrap_or_default();
            if status != *want || json["error"]["code"] != *code {
                return fail(format!("expected {want} {code}"));
            }
            if resp.headers().get("content-type").map(|v| v.as_bytes())
                != Some(&b"application/json"[..])
            {
                return fail("expected Content-Type application/json".into());
            }
            let message = json["error"]["message"].as_str().unwrap_or_default();
            let ok = match msg {
                Msg::Exact(m) => message == m,
                Msg::StartsWith(m) => message.starts_with(m.as_str()),
                Msg::Short(m, max) => {
                    message.starts_with(m.as_str()) && message.chars().count() <= *max
                }
            };
            if !ok {
                return fail(format!("expected message {msg:?}"));
            }
            if status == 401 && header(resp, "www-authenticate") != "Bearer" {
                return fail("a 401 without WWW-Authenticate: Bearer".into());
            }
            if status == 405 && header(resp, "allow") != "POST" {
                return fail("a 405 without Allow: POST".into());
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn hostile_requests_get_the_documented_answer() {
    let (hs_app, _) = demo_app();
    let rs_app = app_with(
        &config(&[
            ("JWT_PUBLIC_KEY", &data("rsa_public.pem")),
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_ISSUER", "https://idp.example"),
            ("JWT_AUDIENCE", "lead-export"),
        ]),
        demo_store(),
        std::sync::Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
    );
    let rows = rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    // The log lines of each row, as JSON (as tests/it/observe.rs captures
    // them): a token row's reason is checked in its request line.
    let captured = crate::log_capture::Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut reasons = 0;
    for row in rows {
        assert!(names.insert(row.name), "two rows named {}", row.name);
        let expected = row.expect.clone();
        captured.clear();
        let resp = handle(&app(row.keys, &hs_app, &rs_app), row.request).await;
        if let Err(e) = check(row.name, &resp, &expected) {
            failures.push(e);
        }
        if let Expect::Unauthorized(reason) = expected {
            reasons += 1;
            let lines = captured.json_lines();
            let refused: Vec<&Value> = lines
                .iter()
                .filter(|l| l["fields"]["message"] == "export refused")
                .collect();
            match refused[..] {
                [line]
                    if line["fields"]["status"] == 401
                        && line["fields"]["error"] == format!("token rejected: {reason}") => {}
                _ => failures.push(format!(
                    "{}: expected one request line, 401, with the reason {reason:?}; logged {refused:?}",
                    row.name
                )),
            }
        }
    }
    assert!(reasons >= 15, "only {reasons} token rows");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
