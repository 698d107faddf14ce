//! The `lead-export` binary through the real Lambda runtime loop: a stand-in
//! Lambda Runtime API on loopback hands it API Gateway events (every
//! top-level `events/*.json` fixture, read from the directory, with gzip and
//! XLSX variants, and an S3-sized one) and receives what it posts back, the
//! JSON API Gateway would read: status, headers (`multiValueHeaders` for
//! REST v1, `headers` for HTTP API v2), `isBase64Encoded` and the body. Also
//! an invocation with 3 s to its deadline (504 in time), an event the
//! runtime cannot read as a request (`/error`, then the next one served),
//! and a configuration the binary refuses at start (`/init/error`, a
//! non-zero exit). Data in moto (`make test` starts it). The fixture
//! helpers here serve `tests/it/emulator.rs` too.

use crate::support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lead_export::auth::{sign_hs256, OrgId};
use lead_export::aws;
use lead_export::demo::demo_leads;
use lead_export::fields::Field;
use lead_export::model::Lead;
use lead_export::store::DynamoStore;
use rand::RngCore;
use serde_json::{json, Value};
use support::*;
use tokio::sync::mpsc;

/// Leads seeded in org A: the fixtures' ids are among the first three.
const LEADS_A: usize = 300;
/// Low enough that the S3-sized event goes to S3, high enough for the fixtures.
const INLINE_MAX_BYTES: &str = "32768";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the binary posted to the Runtime API.
#[derive(Debug)]
struct Posted {
    /// `response`, `error` or `init/error`.
    kind: String,
    request_id: String,
    body: Vec<u8>,
}

/// An invocation: request id, event, deadline (ms since the epoch).
type Invocation = (String, String, i64);

struct State {
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    posted: mpsc::UnboundedSender<Posted>,
}

/// The Runtime API's three routes, as Lambda serves them.
async fn runtime_api(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let reply = |status: u16, body: &str| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    if req.method() == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let next = state.next.lock().await.recv().await;
        let Some((id, event, deadline)) = next else {
            // No more events: the runtime waits, as it would on Lambda.
            return std::future::pending().await;
        };
        return Ok(hyper::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("Lambda-Runtime-Aws-Request-Id", &id)
            .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:lead-export",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap());
    }
    if req.method() != hyper::Method::POST {
        return Ok(reply(404, r#"{"errorMessage":"unknown route"}"#));
    }
    let (kind, request_id) = if path == "/2018-06-01/runtime/init/error" {
        ("init/error".to_string(), String::new())
    } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        match rest.rsplit_once('/') {
            Some((id, kind @ ("response" | "error"))) => (kind.to_string(), id.to_string()),
            _ => return Ok(reply(404, r#"{"errorMessage":"unknown route"}"#)),
        }
    } else {
        return Ok(reply(404, r#"{"errorMessage":"unknown route"}"#));
    };
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec());
    let _ = state.posted.send(Posted {
        kind,
        request_id,
        body: body.unwrap_or_default(),
    });
    Ok(reply(202, r#"{"status":"OK"}"#))
}

/// The stand-in Runtime API and the `lead-export` process it serves (or
/// another binary of the crate: [`Lambda::start_bin`]).
pub(crate) struct Lambda {
    events: mpsc::UnboundedSender<Invocation>,
    posted: mpsc::UnboundedReceiver<Posted>,
    child: Child,
    logs: Arc<Mutex<String>>,
    invocations: usize,
}

impl Lambda {
    async fn start(app_env: &[(&str, &str)]) -> Lambda {
        Self::start_bin(env!("CARGO_BIN_EXE_lead-export"), app_env).await
    }

    /// The binary at `bin` (the export jobs' worker, say) under the
    /// stand-in Runtime API, with `app_env`.
    pub(crate) async fn start_bin(bin: &str, app_env: &[(&str, &str)]) -> Lambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events, next) = mpsc::unbounded_channel();
        let (posted_tx, posted) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            next: tokio::sync::Mutex::new(next),
            posted: posted_tx,
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| runtime_api(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let mut command = Command::new(bin);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "lead-export")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/27/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/lead-export")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in app_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("lead-export starts");
        let logs = gather(&mut child);
        Lambda {
            events,
            posted,
            child,
            logs,
            invocations: 0,
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Hands `event` to the binary, `left` before its deadline, and returns
    /// its request id and what the binary posts back.
    async fn invoke_raw(&mut self, name: &str, event: String, left: Duration) -> (String, Posted) {
        self.invocations += 1;
        // The id goes into the runtime's URLs: letters, digits, `.`, `-`.
        let tag: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let id = format!("{:08}-0000-4000-8000-{tag}", self.invocations);
        let ends = time::OffsetDateTime::now_utc() + left;
        let ends_ms = (ends.unix_timestamp_nanos() / 1_000_000) as i64;
        self.events.send((id.clone(), event, ends_ms)).unwrap();
        (id, self.posted(name).await)
    }

    /// The next thing the binary posts, failing if it exits or posts
    /// nothing within `INVOKE_TIMEOUT`.
    async fn posted(&mut self, name: &str) -> Posted {
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        loop {
            match tokio::time::timeout(Duration::from_millis(200), self.posted.recv()).await {
                Ok(Some(posted)) => return posted,
                Ok(None) => unreachable!("the Runtime API outlives the test"),
                Err(_) => {}
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{name}: lead-export exited ({status}); output:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no answer; output:\n{}",
                self.logs()
            );
        }
    }

    /// Hands `event` to the binary (60 s before its deadline) and returns
    /// the JSON it posts back as the invocation's response.
    pub(crate) async fn invoke(&mut self, name: &str, event: &Value) -> Value {
        let (id, posted) = self
            .invoke_raw(name, event.to_string(), INVOKE_TIMEOUT)
            .await;
        assert_eq!(
            (posted.kind.as_str(), posted.request_id.as_str()),
            ("response", id.as_str()),
            "{name}: {}\noutput:\n{}",
            String::from_utf8_lossy(&posted.body),
            self.logs()
        );
        serde_json::from_slice(&posted.body)
            .unwrap_or_else(|e| panic!("{name}: the posted response is not JSON: {e}"))
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as API Gateway reads the posted JSON.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) base64: bool,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// REST APIs (v1) take `multiValueHeaders` (a name in both maps would be
    /// sent twice); HTTP APIs (v2) take `headers`.
    pub(crate) fn read(name: &str, json: &Value, rest: bool) -> Answer {
        let object = |key: &str| {
            json.get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (single, multi) = (object("headers"), object("multiValueHeaders"));
        let headers: BTreeMap<String, String> = if rest {
            for name in single.keys() {
                assert!(
                    !multi.contains_key(name),
                    "{name}: duplicated in headers: {json}"
                );
            }
            multi
                .iter()
                .map(|(k, v)| {
                    let values = v
                        .as_array()
                        .unwrap_or_else(|| panic!("{name}: {k} not a list"));
                    assert_eq!(values.len(), 1, "{name}: {k}");
                    (k.clone(), values[0].as_str().unwrap().to_string())
                })
                .collect()
        } else {
            assert!(
                multi.is_empty(),
                "{name}: v2 has no multiValueHeaders: {json}"
            );
            single
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        };
        let base64 = json["isBase64Encoded"]
            .as_bool()
            .unwrap_or_else(|| panic!("{name}: no isBase64Encoded: {json}"));
        let text = json["body"].as_str().unwrap_or_default();
        let body = if base64 {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_else(|e| panic!("{name}: body is not base64: {e}"))
        } else {
            text.as_bytes().to_vec()
        };
        Answer {
            status: json["statusCode"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: no statusCode: {json}"))
                as u16,
            headers,
            base64,
            body,
        }
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Sets header `name` in `headers` and, for REST events, `multiValueHeaders`,
/// replacing any spelling of it.
pub(crate) fn set_header(event: &mut Value, name: &str, value: &str) {
    for key in ["headers", "multiValueHeaders"] {
        let Some(map) = event.get_mut(key).and_then(Value::as_object_mut) else {
            continue;
        };
        let spelled = map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let value = if key == "headers" {
            json!(value)
        } else {
            json!([value])
        };
        map.insert(spelled, value);
    }
}

/// The fixture with its dev-secret token replaced by `token`; the rest as is.
pub(crate) fn signed(name: &str, token: &str) -> Value {
    let mut event = fixture(name);
    let has_token = event["headers"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.eq_ignore_ascii_case("authorization"));
    if has_token {
        set_header(&mut event, "Authorization", &format!("Bearer {token}"));
    }
    event
}

/// The request body of an event, decoded.
pub(crate) fn event_body(event: &Value) -> Value {
    let text = event["body"].as_str().unwrap();
    if event["isBase64Encoded"] == json!(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    } else {
        serde_json::from_str(text).unwrap()
    }
}

pub(crate) fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name(lead: &Lead) -> String {
    format!("{} {}", lead.first_name, lead.last_name)
}

/// The API Gateway proxy events of `events/`: the top-level `*.json` files,
/// read from the directory (a new fixture is picked up as it is; subfolders
/// hold events of other sources), sorted by name.
pub(crate) fn api_gateway_fixtures() -> Vec<String> {
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixture in {dir}");
    names
}

/// Whether `event` is a REST API (v1) event; HTTP API (v2) events carry
/// `"version": "2.0"`.
pub(crate) fn is_rest(event: &Value) -> bool {
    event["version"] != json!("2.0")
}

/// The leads and resources both runtime tests serve: org A's first demo
/// leads and the org-B leads the fixtures name, in moto and in memory.
pub(crate) struct Seeded {
    pub(crate) endpoints: [(&'static str, String); 2],
    pub(crate) table: String,
    pub(crate) bucket: String,
    pub(crate) audit: String,
    pub(crate) cursors: String,
    pub(crate) a: Vec<Lead>,
    pub(crate) b: Vec<Lead>,
}

impl Seeded {
    /// New tables and a bucket in moto, seeded.
    pub(crate) async fn new() -> Seeded {
        let endpoints = endpoint_vars();
        let (table, bucket) = (unique("rt-leads"), unique("rt-exports"));
        let audit = unique("rt-audit");
        // Checkpoints of its own: organization names are shared across tests.
        let cursors = unique("rt-cursors");
        let cfg = endpoint_config(&[("LEADS_TABLE", &table), ("EXPORTS_BUCKET", &bucket)]);
        let (dynamodb, s3) = aws::clients(&cfg).await;
        aws::ensure_table(&dynamodb, &table).await.unwrap();
        lead_export::audit::ensure_table(&dynamodb, &audit)
            .await
            .unwrap();
        lead_export::store::cursors::ensure_table(&dynamodb, &cursors)
            .await
            .unwrap();
        aws::ensure_bucket(&s3, &bucket).await.unwrap();
        let a = demo_leads(1, LEADS_A);
        let fixture_ids: Vec<String> = api_gateway_fixtures()
            .iter()
            .flat_map(|name| {
                let body = event_body(&fixture(name));
                let ids = body["selection"]["includedIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                ids.into_iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
            })
            .collect();
        let b: Vec<Lead> = demo_leads(2, 1000)
            .into_iter()
            .filter(|l| fixture_ids.contains(&l.id))
            .collect();
        for id in &fixture_ids {
            assert!(
                a.iter().chain(&b).any(|l| &l.id == id),
                "fixture id {id} is not among the seeded demo leads"
            );
        }
        assert!(!b.is_empty(), "the fixtures name a lead of org B");
        let store = DynamoStore::new(dynamodb, &table);
        store
            .put_leads(&OrgId::new(ORG_A).unwrap(), &a)
            .await
            .unwrap();
        store
            .put_leads(&OrgId::new(ORG_B).unwrap(), &b)
            .await
            .unwrap();
        Seeded {
            endpoints,
            table,
            bucket,
            audit,
            cursors,
            a,
            b,
        }
    }

    /// The binary's environment: these resources, `secret`, `INLINE_MAX_BYTES`.
    pub(crate) fn env<'a>(&'a self, secret: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut env: Vec<(&str, &str)> = self
            .endpoints
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        env.extend([
            ("LEADS_TABLE", self.table.as_str()),
            ("EXPORTS_BUCKET", &self.bucket),
            ("AUDIT_TABLE", &self.audit),
            ("CURSORS_TABLE", &self.cursors),
            ("JWT_SECRET", secret),
            ("INLINE_MAX_BYTES", INLINE_MAX_BYTES),
        ]);
        env
    }

    /// The oracle: the same leads in memory, the same secret and inline
    /// limit, the handler called in process.
    pub(crate) fn in_process(&self, secret: &str) -> lead_export::app::App {
        let store = lead_export::store::MemoryStore::new();
        store.insert(ORG_A, self.a.clone());
        store.insert(ORG_B, self.b.clone());
        app_with(
            &config(&[
                ("JWT_SECRET", secret),
                ("INLINE_MAX_BYTES", INLINE_MAX_BYTES),
            ]),
            std::sync::Arc::new(store),
            std::sync::Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
        )
    }
}

/// One event to send: every fixture re-signed with `token`, and of each a
/// gzip-accepting and an XLSX variant.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) event: Value,
    pub(crate) rest: bool,
}

/// The cases of every fixture in `events/`.
pub(crate) fn fixture_cases(token: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for name in api_gateway_fixtures() {
        let event = signed(&name, token);
        let rest = is_rest(&event);
        let mut gzip = event.clone();
        set_header(&mut gzip, "Accept-Encoding", "gzip, deflate, br");
        let mut xlsx = event.clone();
        let mut body = event_body(&event);
        if body.is_object() {
            body["format"] = json!({"type": "xlsx"});
            xlsx["body"] = json!(body.to_string());
            xlsx["isBase64Encoded"] = json!(false);
        }
        cases.push(Case {
            name: format!("{name} (gzip)"),
            event: gzip,
            rest,
        });
        cases.push(Case {
            name: format!("{name} (xlsx)"),
            event: xlsx,
            rest,
        });
        cases.push(Case { name, event, rest });
    }
    cases
}

/// How the handler answers `event` in process (lambda_http's own parsing,
/// no Lambda context).
pub(crate) async fn in_process_answer(app: &lead_export::app::App, event: &Value) -> Answer {
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
    let resp = lead_export::http::handle(app, request).await;
    Answer {
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect(),
        base64: matches!(resp.body(), lambda_http::Body::Binary(_)),
        body: body_bytes(&resp),
    }
}

/// The rows of a file answer: CSV (gunzipped when gzip-encoded) or the
/// workbook's cells.
pub(crate) fn file_rows(answer: &Answer) -> Vec<Vec<String>> {
    if answer.headers.get("content-type").map(String::as_str)
        == Some(lead_export::xlsx::XLSX_CONTENT_TYPE)
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(answer.body.clone())).expect("a workbook");
        let range = book
            .worksheet_range("Prospects")
            .expect("the Prospects sheet");
        return range
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
    }
    if answer.headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        return csv_rows(&gunzip(&answer.body));
    }
    csv_rows(&answer.body)
}

/// `got` (the binary's answer, as API Gateway reads it) against `want` (the
/// handler's in process) and the contract: a file's `X-Export-Count` is its
/// rows less the header, a refusal is the contract's JSON error. Returns the
/// status.
pub(crate) fn check_case(name: &str, got: &Answer, want: &Answer) -> u16 {
    assert_eq!(
        got.status,
        want.status,
        "{name}: {}",
        String::from_utf8_lossy(&got.body)
    );
    assert_eq!(got.headers, want.headers, "{name}");
    assert_eq!(got.base64, want.base64, "{name}: isBase64Encoded");
    match got.status {
        200 => {
            // A workbook holds its creation time: compared cell by cell.
            let rows = file_rows(got);
            assert_eq!(rows, file_rows(want), "{name}");
            assert!(rows.len() > 1, "{name}: a header and rows");
            assert_eq!(
                got.header("x-export-count"),
                (rows.len() - 1).to_string(),
                "{name}"
            );
            assert!(
                got.header("content-disposition")
                    .starts_with("attachment; filename=\"lance-prospects-"),
                "{name}"
            );
            let binary = got.headers.contains_key("content-encoding")
                || got.header("content-type") == lead_export::xlsx::XLSX_CONTENT_TYPE;
            assert_eq!(got.base64, binary, "{name}: binary bodies are base64");
        }
        400..=499 => {
            assert_eq!(got.body, want.body, "{name}");
            assert_eq!(got.header("content-type"), "application/json", "{name}");
            let error = &got.json()["error"];
            match got.status {
                401 => {
                    assert_eq!(got.header("www-authenticate"), "Bearer", "{name}");
                    assert_eq!(error["code"], "UNAUTHORIZED", "{name}");
                }
                // The reference's two 400 bodies.
                400 if error.is_string() => assert_eq!(error, "No data to export", "{name}"),
                400 => assert_eq!(error["code"], "VALIDATION_ERROR", "{name}"),
                _ => assert!(error["code"].is_string(), "{name}: {error}"),
            }
            if error.is_object() {
                assert!(error["message"].is_string(), "{name}: {error}");
            }
        }
        other => panic!("{name}: {other}: a fixture is an inline export or a refusal"),
    }
    got.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn every_fixture_through_the_lambda_runtime_loop() {
    let seeded = Seeded::new().await;
    let Seeded { a, bucket, .. } = &seeded;
    let bucket = bucket.clone();

    // The binary, with a strong secret of its own (not the fixtures' dev one).
    let secret = random_secret();
    let token = sign_hs256(secret.as_bytes(), "org_id", ORG_A, 600, None, None).unwrap();
    let mut lambda = Lambda::start(&seeded.env(&secret)).await;
    let today = lead_export::export::naming::file_name(time::OffsetDateTime::now_utc(), "csv");

    // Manual: the org-B id skipped, the repeat once, order kept.
    let mut plain = BTreeMap::new();
    for (fixture, rest) in [
        ("rest-manual-export.json", true),
        ("http-manual-export.json", false),
    ] {
        let resp = Answer::read(
            fixture,
            &lambda.invoke(fixture, &signed(fixture, &token)).await,
            rest,
        );
        assert_eq!(resp.status, 200, "{fixture}: {resp:?}");
        assert!(!resp.base64, "{fixture}: text is not base64-encoded");
        assert_eq!(resp.header("content-type"), "text/csv; charset=utf-8");
        assert_eq!(
            resp.header("content-disposition"),
            format!("attachment; filename=\"{today}\"")
        );
        assert_eq!(resp.header("x-export-count"), "2");
        assert_eq!(resp.header("cache-control"), "no-store");
        assert!(!resp.headers.contains_key("content-encoding"));
        let rows = csv_rows(&resp.body);
        assert_eq!(rows[0], ["Name", "Email(s)", "Company Name"], "{fixture}");
        assert_eq!(rows[1][0], name(&a[2]), "{fixture}");
        assert_eq!(rows[2][0], name(&a[0]), "{fixture}");
        assert_eq!(rows.len(), 3, "{fixture}");
        plain.insert(rest, resp.body);
    }

    // Bulk: the first 10 Berlin leads in id order, then an inclusion.
    let mut berlin: Vec<&Lead> = a
        .iter()
        .filter(|l| l.city.as_deref() == Some("Berlin") || l.state.as_deref() == Some("Berlin"))
        .collect();
    berlin.sort_by(|x, y| x.id.cmp(&y.id));
    assert!(berlin.len() > 10, "enough Berlin leads in the seed");
    let mut expected: Vec<&Lead> = berlin[..10].to_vec();
    if !expected.iter().any(|l| l.id == a[1].id) {
        expected.push(&a[1]);
    }
    let emails: Vec<String> = expected
        .iter()
        .map(|l| l.emails.clone().unwrap_or_default().join(", "))
        .collect();
    for (fixture, rest) in [
        ("rest-bulk-export.json", true),
        ("http-bulk-export.json", false),
    ] {
        let resp = Answer::read(
            fixture,
            &lambda.invoke(fixture, &signed(fixture, &token)).await,
            rest,
        );
        assert_eq!(
            resp.status,
            200,
            "{fixture}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        assert!(!resp.base64);
        assert_eq!(resp.header("x-export-count"), expected.len().to_string());
        let rows = csv_rows(&resp.body);
        let labels: Vec<&str> = lead_export::fields::FieldList::defaults()
            .fields()
            .iter()
            .map(|f| f.label())
            .collect();
        assert_eq!(rows[0], labels, "{fixture}: the default fields");
        let got: Vec<String> = rows[1..].iter().map(|r| r[1].clone()).collect();
        assert_eq!(got, emails, "{fixture}");
    }

    for (fixture, rest) in [
        ("rest-validation-error.json", true),
        ("http-validation-error.json", false),
    ] {
        let resp = Answer::read(
            fixture,
            &lambda.invoke(fixture, &signed(fixture, &token)).await,
            rest,
        );
        assert_eq!(resp.status, 400, "{fixture}");
        assert!(!resp.base64);
        assert_eq!(resp.header("content-type"), "application/json");
        assert_eq!(
            resp.json(),
            json!({"error": {"code": "VALIDATION_ERROR",
                "message": "selection.targetCount must be between 1 and 1000"}})
        );
    }

    for (fixture, rest) in [
        ("rest-missing-token.json", true),
        ("http-missing-token.json", false),
    ] {
        let resp = Answer::read(
            fixture,
            &lambda.invoke(fixture, &signed(fixture, &token)).await,
            rest,
        );
        assert_eq!(resp.status, 401, "{fixture}");
        assert_eq!(resp.header("www-authenticate"), "Bearer");
        assert_eq!(resp.json()["error"]["code"], "UNAUTHORIZED");
    }

    // The dev-secret tokens the fixtures carry do not pass this function.
    let resp = Answer::read(
        "dev token",
        &lambda
            .invoke("dev-token", &fixture("http-manual-export.json"))
            .await,
        false,
    );
    assert_eq!(resp.status, 401);

    // Gzip accepted: a base64-encoded body that gunzips to the plain CSV.
    for (fixture, rest) in [
        ("rest-manual-export.json", true),
        ("http-manual-export.json", false),
    ] {
        let mut event = signed(fixture, &token);
        set_header(&mut event, "Accept-Encoding", "gzip, deflate, br");
        let resp = Answer::read(fixture, &lambda.invoke("gzip", &event).await, rest);
        assert_eq!(resp.status, 200, "{fixture}");
        assert!(resp.base64, "{fixture}: a binary body is base64-encoded");
        assert_eq!(resp.header("content-encoding"), "gzip");
        assert!(resp.header("vary").contains("Accept-Encoding"));
        assert_eq!(resp.header("x-export-count"), "2");
        assert_eq!(gunzip(&resp.body), plain[&rest], "{fixture}");
    }

    // XLSX: a base64-encoded workbook whose cells are the CSV's.
    for (fixture, rest) in [
        ("rest-manual-export.json", true),
        ("http-manual-export.json", false),
    ] {
        let mut event = signed(fixture, &token);
        let mut body = event_body(&event);
        body["format"] = json!({"type": "xlsx"});
        event["body"] = json!(body.to_string());
        event["isBase64Encoded"] = json!(false);
        let resp = Answer::read(fixture, &lambda.invoke("xlsx", &event).await, rest);
        assert_eq!(resp.status, 200, "{fixture}");
        assert!(resp.base64, "{fixture}: a workbook is base64-encoded");
        assert_eq!(
            resp.header("content-type"),
            lead_export::xlsx::XLSX_CONTENT_TYPE
        );
        assert_eq!(
            resp.header("content-disposition"),
            format!(
                "attachment; filename=\"{}\"",
                today.replace(".csv", ".xlsx")
            )
        );
        assert_eq!(resp.header("x-export-count"), "2");
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(resp.body.clone())).unwrap();
        let range = book.worksheet_range("Prospects").unwrap();
        let cells: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(cells, csv_rows(&plain[&rest]), "{fixture}");
    }

    // Over INLINE_MAX_BYTES: 303 to a presigned S3 URL serving the file.
    let mut event = signed("http-manual-export.json", &token);
    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.id()).collect();
    event["body"] = json!(json!({"selection": {"mode": "bulk", "startIndex": 0,
        "targetCount": LEADS_A, "filters": {}}, "exportFields": fields})
    .to_string());
    let resp = Answer::read("s3", &lambda.invoke("s3", &event).await, false);
    assert_eq!(resp.status, 303, "{}", String::from_utf8_lossy(&resp.body));
    assert!(!resp.base64);
    let link = resp.json();
    assert_eq!(resp.header("location"), link["url"]);
    assert_eq!(resp.header("x-export-count"), LEADS_A.to_string());
    assert_eq!(link["count"], LEADS_A);
    assert_eq!(link["filename"], today);
    let url = link["url"].as_str().unwrap();
    assert!(
        url.contains(&format!(
            "/{bucket}/exports/{}/",
            lead_export::export::naming::org_key_part(
                &lead_export::auth::OrgId::new(ORG_A).unwrap()
            )
        )),
        "{url}"
    );
    let mut file = Vec::new();
    ureq::get(url)
        .call()
        .expect("the presigned URL serves the file")
        .into_reader()
        .read_to_end(&mut file)
        .unwrap();
    let rows = csv_rows(&file);
    let labels: Vec<&str> = Field::ALL.iter().map(|f| f.label()).collect();
    assert_eq!(rows[0], labels);
    assert_eq!(rows.len(), LEADS_A + 1);
    assert!(file.len() > 32768, "the file is over INLINE_MAX_BYTES");

    // Every fixture in events/ and its gzip and XLSX variants, as the
    // handler answers them in process over the same leads.
    let oracle = seeded.in_process(&secret);
    let mut statuses = std::collections::BTreeSet::new();
    for case in fixture_cases(&token) {
        let got = Answer::read(
            &case.name,
            &lambda.invoke(&case.name, &case.event).await,
            case.rest,
        );
        let want = in_process_answer(&oracle, &case.event).await;
        statuses.insert(check_case(&case.name, &got, &want));
    }
    assert!(
        statuses.is_superset(&[200, 400, 401].into()),
        "the fixtures cover an export, a 400 and a 401: {statuses:?}"
    );

    // 3 s to the deadline for an export that cannot finish in 3 s (10,000
    // ids, every field, a workbook): 504 before the deadline.
    let mut event = signed("http-manual-export.json", &token);
    let mut ids: Vec<String> = a.iter().map(|l| l.id.clone()).collect();
    ids.extend((ids.len()..10_000).map(|_| uuid::Uuid::new_v4().to_string()));
    event["body"] = json!(json!({"selection": {"mode": "manual", "includedIds": ids},
        "exportFields": fields, "format": {"type": "xlsx"}})
    .to_string());
    let sent = Instant::now();
    let (id, posted) = lambda
        .invoke_raw("deadline", event.to_string(), Duration::from_secs(3))
        .await;
    let took = sent.elapsed();
    assert_eq!(
        (posted.kind.as_str(), posted.request_id.as_str()),
        ("response", id.as_str())
    );
    let resp = Answer::read(
        "deadline",
        &serde_json::from_slice(&posted.body).unwrap(),
        false,
    );
    assert_eq!(resp.status, 504, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["error"]["code"], "EXPORT_TIMEOUT");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    // An event the runtime cannot read as an API Gateway request (no input
    // makes the handler panic: this is the failure that reaches `/error`):
    // the runtime reports it, and the next invocation is served.
    let (id, posted) = lambda
        .invoke_raw(
            "not-a-request",
            json!({"hello": "world"}).to_string(),
            INVOKE_TIMEOUT,
        )
        .await;
    assert_eq!(
        (posted.kind.as_str(), posted.request_id.as_str()),
        ("error", id.as_str())
    );
    let error: Value = serde_json::from_slice(&posted.body).expect("a JSON error");
    assert!(error["errorType"].is_string(), "{error}");
    assert!(error["errorMessage"].is_string(), "{error}");
    let next = Answer::read(
        "after the error",
        &lambda
            .invoke("after-error", &signed("http-missing-token.json", &token))
            .await,
        false,
    );
    assert_eq!(next.status, 401);

    // The logs name no token, secret or email.
    let logs = lambda.logs();
    assert!(logs.contains("export served"), "the binary logs: {logs}");
    assert!(
        !logs.contains(&token) && !logs.contains(&secret),
        "a secret in the logs"
    );
    for lead in &a[..3] {
        for email in lead.emails.iter().flatten() {
            assert!(!logs.contains(email.as_str()), "{email} in the logs");
        }
    }
}

#[tokio::test]
async fn a_configuration_refused_at_start_is_posted_to_init_error() {
    // No moto: the binary stops before any AWS call.
    let mut lambda = Lambda::start(&[
        ("JWT_SECRET", &random_secret()),
        ("EXPORT_URL_TTL_SECONDS", "0"),
    ])
    .await;
    let posted = lambda.posted("init").await;
    assert_eq!(posted.kind, "init/error");
    let error: Value = serde_json::from_slice(&posted.body).expect("a JSON error");
    assert_eq!(error["errorType"], "Runtime.ConfigurationError", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains("EXPORT_URL_TTL_SECONDS"), "{message}");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = lambda.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < INVOKE_TIMEOUT,
            "lead-export did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "exit status {status}");
}

/// A child's stdout and stderr, gathered as they come.
pub(crate) fn gather(child: &mut Child) -> Arc<Mutex<String>> {
    let logs = Arc::new(Mutex::new(String::new()));
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for mut pipe in pipes {
        let logs = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                logs.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    logs
}
