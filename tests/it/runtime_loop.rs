//! The `lead-export` binary through the real Lambda runtime loop: a stand-in
//! Lambda Runtime API on loopback hands it API Gateway events (every
//! `events/*.json` fixture, gzip-accepting ones and an S3-sized one) and
//! receives what it posts back, the JSON API Gateway would read: status,
//! headers (`multiValueHeaders` for REST v1, `headers` for HTTP API v2),
//! `isBase64Encoded` and the body. Data in moto (`make test` starts it).

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

struct State {
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>,
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
        let Some((id, event)) = next else {
            // No more events: the runtime waits, as it would on Lambda.
            return std::future::pending().await;
        };
        let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 60_000;
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

/// The stand-in Runtime API and the `lead-export` process it serves.
struct Lambda {
    events: mpsc::UnboundedSender<(String, String)>,
    posted: mpsc::UnboundedReceiver<Posted>,
    child: Child,
    logs: Arc<Mutex<String>>,
    invocations: usize,
}

impl Lambda {
    async fn start(app_env: &[(&str, &str)]) -> Lambda {
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_lead-export"));
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

    /// Hands `event` to the binary and returns the JSON it posts back.
    async fn invoke(&mut self, name: &str, event: &Value) -> Value {
        self.invocations += 1;
        let id = format!("{:08}-0000-4000-8000-{name}", self.invocations);
        self.events.send((id.clone(), event.to_string())).unwrap();
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        let posted = loop {
            match tokio::time::timeout(Duration::from_millis(200), self.posted.recv()).await {
                Ok(Some(posted)) => break posted,
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
        };
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
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    base64: bool,
    body: Vec<u8>,
}

impl Answer {
    /// REST APIs (v1) take `multiValueHeaders` (a name in both maps would be
    /// sent twice); HTTP APIs (v2) take `headers`.
    fn read(name: &str, json: &Value, rest: bool) -> Answer {
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

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Sets header `name` in `headers` and, for REST events, `multiValueHeaders`,
/// replacing any spelling of it.
fn set_header(event: &mut Value, name: &str, value: &str) {
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
fn signed(name: &str, token: &str) -> Value {
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
fn event_body(event: &Value) -> Value {
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

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name(lead: &Lead) -> String {
    format!("{} {}", lead.first_name, lead.last_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn every_fixture_through_the_lambda_runtime_loop() {
    // Data: org A's first demo leads, and org B's leads the fixtures name.
    let (table, bucket) = (unique("rt-leads"), unique("rt-exports"));
    let audit = unique("rt-audit");
    let cfg = endpoint_config(&[("LEADS_TABLE", &table), ("EXPORTS_BUCKET", &bucket)]);
    let (dynamodb, s3) = aws::clients(&cfg).await;
    aws::ensure_table(&dynamodb, &table).await.unwrap();
    lead_export::audit::ensure_table(&dynamodb, &audit)
        .await
        .unwrap();
    aws::ensure_bucket(&s3, &bucket).await.unwrap();
    let a = demo_leads(1, LEADS_A);
    let fixture_ids: Vec<String> =
        std::fs::read_dir(format!("{}/events", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .flat_map(|e| {
                let body = event_body(&fixture(e.unwrap().file_name().to_str().unwrap()));
                let ids = body["selection"]["includedIds"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                ids.into_iter().map(|id| id.as_str().unwrap().to_string())
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

    // The binary, with a strong secret of its own (not the fixtures' dev one).
    let secret = random_secret();
    let token = sign_hs256(secret.as_bytes(), "org_id", ORG_A, 600, None, None).unwrap();
    let endpoints = endpoint_vars();
    let mut lambda_env: Vec<(&str, &str)> =
        endpoints.iter().map(|(k, v)| (*k, v.as_str())).collect();
    lambda_env.extend([
        ("LEADS_TABLE", table.as_str()),
        ("EXPORTS_BUCKET", &bucket),
        ("AUDIT_TABLE", &audit),
        ("JWT_SECRET", &secret),
        ("INLINE_MAX_BYTES", INLINE_MAX_BYTES),
    ]);
    let mut lambda = Lambda::start(&lambda_env).await;
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
