//! 32 concurrent requests of 4 organizations through the built
//! `local-server` over moto (`#[ignore]`d; `make test` runs it). Each
//! organization holds 40 leads whose name, email domain and company name
//! spell the organization, 30 of their ids shared by all four (so a read
//! by id that ignored the organization would show). Each request asks for
//! a count of its own (1..=32: manual ids, some of them other
//! organizations' own ids, or a bulk range), all sent at once; then:
//! - every row of every answer belongs to the caller's organization, and
//!   the answer holds exactly the rows asked for;
//! - every audit record (read from the audit table) matches one request:
//!   its organization, its count, status 200, and the request id of that
//!   request's log line; one record per request, request ids distinct;
//! - every `export served` log line of the server carries its request's
//!   organization and count, and DynamoDB counters that are its own (a
//!   manual request: one BatchGetItem request, its own leads found; a bulk
//!   one: at least its count and at most its start plus its count read).

use crate::support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lead_export::audit::AuditRecord;
use lead_export::auth::{sign_hs256, OrgId};
use lead_export::aws;
use lead_export::model::{Company, Lead};
use lead_export::store::DynamoStore;
use serde_json::{json, Value};
use support::*;

const ORGS: usize = 4;
const PER_ORG: usize = 8;
const SHARED: usize = 30;
const OWN: usize = 10;
/// The bulk ranges start here.
const BULK_START: usize = 2;

fn org(k: usize) -> String {
    format!("org-conc-{k}")
}

/// The leads of organization `k`: shared ids, then its own.
fn leads(k: usize) -> Vec<Lead> {
    let ids = (0..SHARED)
        .map(|i| format!("shared-{i:02}"))
        .chain((0..OWN).map(|i| format!("own-{k}-{i:02}")));
    ids.enumerate()
        .map(|(i, id)| Lead {
            id,
            first_name: compact_str::format_compact!("Org{k}"),
            last_name: compact_str::format_compact!("Person{i:02}"),
            emails: Some(vec![compact_str::format_compact!("p{i}@org{k}.example")]),
            company: Some(Company {
                name: Some(compact_str::format_compact!("Company of org {k}")),
                ..Company::default()
            }),
            ..Lead::default()
        })
        .collect()
}

/// Request `j` of organization `k`: its count (distinct over all 32), and
/// its body; even `j` manual, odd `j` bulk.
fn request(k: usize, j: usize) -> (usize, bool, Value) {
    let count = j * ORGS + k + 1;
    let fields = json!(["name", "emails", "companyName"]);
    if j % 2 == 0 {
        // `count` of the organization's ids (own ones first), and two own
        // ids of the other organizations, which it does not hold.
        let mine = leads(k);
        let mut ids: Vec<String> = mine
            .iter()
            .rev()
            .take(count)
            .map(|l| l.id.clone())
            .collect();
        ids.push(format!("own-{}-00", (k + 1) % ORGS));
        ids.push(format!("own-{}-01", (k + 2) % ORGS));
        (
            count,
            true,
            json!({"selection": {"mode": "manual", "includedIds": ids}, "exportFields": fields}),
        )
    } else {
        (
            count,
            false,
            json!({"selection": {"mode": "bulk", "startIndex": BULK_START, "targetCount": count,
                "filters": {}}, "exportFields": fields}),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server, its stdout and stderr lines collected by a thread.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_local-server"));
        command
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("local-server starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "local-server did not listen: {:?}",
                lines.lock().unwrap()
            );
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "local-server exited ({status}): {:?}",
                    lines.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, lines, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key=value` of a text log line (the value unquoted).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[at..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split(' ').next()?,
    })
}

fn number(line: &str, key: &str) -> u64 {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn concurrent_requests_of_four_organizations_stay_apart() {
    let endpoints = endpoint_vars();
    let (table, audit, bucket, cursors) = (
        unique("conc-leads"),
        unique("conc-audit"),
        unique("conc-exports"),
        unique("conc-cursors"),
    );
    let cfg = endpoint_config(&[("LEADS_TABLE", &table), ("EXPORTS_BUCKET", &bucket)]);
    let (dynamo, s3) = aws::clients(&cfg).await;
    aws::ensure_table(&dynamo, &table).await.unwrap();
    lead_export::audit::ensure_table(&dynamo, &audit)
        .await
        .unwrap();
    // Checkpoints of its own: organization names are shared across tests.
    lead_export::store::cursors::ensure_table(&dynamo, &cursors)
        .await
        .unwrap();
    aws::ensure_bucket(&s3, &bucket).await.unwrap();
    let store = DynamoStore::new(dynamo.clone(), &table);
    for k in 0..ORGS {
        store
            .put_leads(&OrgId::new(org(k)).unwrap(), &leads(k))
            .await
            .unwrap();
    }
    let secret = uuid::Uuid::new_v4().simple().to_string().repeat(2);
    let mut env: Vec<(&str, &str)> = endpoints.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("LEADS_TABLE", table.as_str()),
        ("AUDIT_TABLE", &audit),
        ("EXPORTS_BUCKET", &bucket),
        ("CURSORS_TABLE", &cursors),
        ("JWT_SECRET", &secret),
    ]);
    let server = Server::start(&env);

    // All 32 at once, each from its own thread and connection.
    let url = format!("http://127.0.0.1:{}/api/v1/operations/export", server.port);
    let barrier = Arc::new(std::sync::Barrier::new(ORGS * PER_ORG));
    let threads: Vec<_> = (0..ORGS)
        .flat_map(|k| (0..PER_ORG).map(move |j| (k, j)))
        .map(|(k, j)| {
            let (url, barrier, secret) = (url.clone(), barrier.clone(), secret.clone());
            std::thread::spawn(move || {
                let token =
                    sign_hs256(secret.as_bytes(), "org_id", &org(k), 600, None, None).unwrap();
                let (count, manual, body) = request(k, j);
                barrier.wait();
                let resp = ureq::post(&url)
                    .set("authorization", &format!("Bearer {token}"))
                    .set("content-type", "application/json")
                    .send_string(&body.to_string())
                    .unwrap_or_else(|e| panic!("org {k} request {j}: {e}"));
                let exported: usize = resp.header("x-export-count").unwrap().parse().unwrap();
                let csv = resp.into_string().unwrap();
                (k, count, manual, exported, csv)
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    // Every row is the caller's, and the answer holds what was asked.
    let mut by_count = HashMap::new();
    for (k, count, manual, exported, csv) in &answers {
        let rows = csv_rows(csv.as_bytes());
        assert_eq!(rows[0], ["Name", "Email(s)", "Company Name"]);
        assert_eq!(
            (rows.len() - 1, *exported),
            (*count, *count),
            "org {k} count {count}"
        );
        for row in &rows[1..] {
            assert!(
                row[0].starts_with(&format!("Org{k} "))
                    && row[1].ends_with(&format!("@org{k}.example"))
                    && row[2] == format!("Company of org {k}"),
                "org {k} got {row:?}"
            );
        }
        by_count.insert(*count, (*k, *manual));
    }
    assert_eq!(by_count.len(), ORGS * PER_ORG, "distinct counts");

    // The server's request lines: one per request, with its own counters.
    let started = Instant::now();
    let served = loop {
        let lines = server.lines.lock().unwrap().clone();
        let served: Vec<String> = lines
            .into_iter()
            .filter(|l| l.contains("export served"))
            .collect();
        if served.len() >= ORGS * PER_ORG || started.elapsed() > Duration::from_secs(10) {
            break served;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(served.len(), ORGS * PER_ORG, "{served:#?}");
    let mut request_ids = HashMap::new();
    for line in &served {
        let count = number(line, "count") as usize;
        let (k, manual) = by_count[&count];
        assert_eq!(field(line, "org"), Some(org(k).as_str()), "{line}");
        let read = number(line, "dynamo_items_read") as usize;
        let requests = number(line, "dynamo_requests");
        if manual {
            assert_eq!(
                (requests, read),
                (1, count),
                "manual, count {count}: {line}"
            );
        } else {
            assert!(
                (count..=BULK_START + count).contains(&read) && (1..=3).contains(&requests),
                "bulk, count {count}: {line}"
            );
        }
        let id = field(line, "request_id").unwrap().to_string();
        assert!(
            request_ids.insert(count, id).is_none(),
            "two lines for count {count}"
        );
    }
    let distinct: HashSet<&String> = request_ids.values().collect();
    assert_eq!(distinct.len(), ORGS * PER_ORG, "request ids are distinct");

    // The audit records: one per request, each its request's.
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let page = dynamo
            .scan()
            .table_name(&audit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            records.push(AuditRecord::from_item(item).unwrap());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(records.len(), ORGS * PER_ORG);
    for record in &records {
        let count = record.count.expect("a served export has a count") as usize;
        let (k, manual) = by_count[&count];
        assert_eq!(record.org, org(k), "{record:?}");
        assert_eq!((record.status, record.code.as_str()), (200, "OK"));
        assert_eq!(
            record.mode.as_deref(),
            Some(if manual { "manual" } else { "bulk" })
        );
        assert_eq!(&record.request_id, &request_ids[&count], "{record:?}");
    }
    let audited: HashSet<usize> = records.iter().map(|r| r.count.unwrap() as usize).collect();
    assert_eq!(audited.len(), ORGS * PER_ORG, "one record per request");
}
