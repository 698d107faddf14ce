//! `make run` end to end, as a newcomer runs it: start it on free ports with
//! a small seed, wait for the printed curl, run that curl exactly as printed,
//! check its CSV against the printed count and the spec's header, exercise
//! the local server's own code (404, 413, a gzip body passing through), then
//! Ctrl-C (SIGINT to the process group, as a terminal sends it) and check
//! that every process it started is gone and its three ports (server,
//! moto, dynalite) are free.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use lead_export::request::MAX_BODY_BYTES;

/// Demo leads seeded in `org-demo-a` (the default of `make run` is 3000).
const SEED_LEADS: &str = "200";
/// How long `make run` may take to print the curl.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// The spec's column labels (`export-to-csv.md`) of the fields the printed
/// curl asks for.
const LABELS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("emails", "Email(s)"),
    ("phones", "Phone(s)"),
    ("jobTitle", "Job Title"),
    ("city", "City"),
    ("country", "Country"),
    ("companyName", "Company Name"),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `(pid, name, state)` of a process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(String, char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let name = text[text.find('(')? + 1..text.rfind(')')?].to_string();
    let mut rest = text[text.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let pgrp = rest.nth(1)?.parse().ok()?;
    Some((name, state, pgrp))
}

/// The live processes of process group `pgid`: `(pid, name)`.
fn group_members(pgid: u32) -> Vec<(u32, String)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some((name, state, pgrp)) = stat(pid) {
            if pgrp == pgid && state != 'Z' {
                members.push((pid, name));
            }
        }
    }
    members
}

/// Whether `pid` is still running (a zombie has exited).
fn running(pid: u32) -> bool {
    matches!(stat(pid), Some((_, state, _)) if state != 'Z')
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pgid}")])
        .status();
}

/// `make run` in its own process group; killed with everything it started
/// if the test fails before its Ctrl-C.
struct MakeRun {
    child: Child,
    pgid: u32,
    lines: mpsc::Receiver<String>,
    output: Arc<Mutex<String>>,
}

impl MakeRun {
    fn start(port: u16, moto_port: u16, dynalite_port: u16) -> Self {
        let mut child = Command::new("make")
            .arg("run")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PORT", port.to_string())
            .env("MOTO_PORT", moto_port.to_string())
            .env("DYNALITE_PORT", dynalite_port.to_string())
            .env("SEED_LEADS", SEED_LEADS)
            // The binaries cargo just built for this test: a nested `cargo
            // build` would resolve dev-dependency features differently and
            // rebuild the AWS SDK, twice per `make test`.
            .env("BUILD", "0")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_ENDPOINT_URL_SQS")
            .env_remove("JOBS_QUEUE_URL")
            .env_remove("JOBS_TABLE")
            .env_remove("JOBS_QUEUE")
            .env_remove("LEADS_TABLE")
            .env_remove("EXPORTS_BUCKET")
            .env_remove("JWT_SECRET")
            .env_remove("SEED")
            .env_remove("MAKEFLAGS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("make run starts");
        let pgid = child.id();
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let log = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let log = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        MakeRun {
            child,
            pgid,
            lines,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Reads the output until the printed curl is complete: the command
    /// text (with its `\` continuations) and the printed expected count.
    fn printed_curl(&self) -> (String, usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut count, mut curl): (Option<usize>, Vec<String>) = (None, Vec::new());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => panic!(
                    "no complete curl from `make run` ({e:?}); output:\n{}",
                    self.output()
                ),
            };
            if let Some(at) = line.find("X-Export-Count: ") {
                let digits: String = line[at + 16..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                count = digits.parse().ok();
            }
            if line.starts_with("curl ") || curl.last().is_some_and(|l| l.ends_with('\\')) {
                curl.push(line);
                if !curl.last().unwrap().ends_with('\\') {
                    let count = count
                        .unwrap_or_else(|| panic!("no expected count printed:\n{}", self.output()));
                    return (curl.join("\n"), count);
                }
            }
        }
    }
}

impl Drop for MakeRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal_group(self.pgid, "KILL");
            let _ = self.child.wait();
        }
    }
}

/// An HTTP response as `curl -D -` prints it: status, headers, body.
struct Printed {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Printed {
    fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header block in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Printed {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: char) -> &'a str {
    let from = s
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {s}"))
        + start.len();
    let len = s[from..]
        .find(end)
        .unwrap_or_else(|| panic!("unclosed {start:?} in {s}"));
    &s[from..from + len]
}

/// A request the printed curl does not make, straight to the local server.
fn call(req: ureq::Request, body: &[u8]) -> (u16, ureq::Response) {
    match req.timeout(Duration::from_secs(60)).send_bytes(body) {
        Ok(resp) => (resp.status(), resp),
        Err(ureq::Error::Status(code, resp)) => (code, resp),
        Err(e) => panic!("request failed: {e}"),
    }
}

fn read_body(resp: ureq::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    resp.into_reader().read_to_end(&mut bytes).unwrap();
    bytes
}

fn refuses_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
#[ignore = "slow: run by make test"]
fn make_run_serves_the_printed_curl_and_ctrl_c_stops_everything() {
    let (port, moto_port, dynalite_port) = (free_port(), free_port(), free_port());
    let run = MakeRun::start(port, moto_port, dynalite_port);
    let (curl, count) = run.printed_curl();
    println!("printed curl (expects {count} rows):\n{curl}");

    // The curl exactly as printed.
    let out = Command::new("bash").arg("-c").arg(&curl).output().unwrap();
    assert!(
        out.status.success(),
        "the printed curl failed ({}): {}\nmake run output:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        run.output()
    );
    let resp = Printed::parse(&out.stdout);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(resp.header("x-export-count"), count.to_string());
    assert!(
        (1..=25).contains(&count),
        "a small seed has fewer than 25 Berlin leads, and some: {count}"
    );
    let body: serde_json::Value =
        serde_json::from_str(between(&curl, "-d '", '\'')).expect("the printed body is JSON");
    let labels: Vec<&str> = body["exportFields"]
        .as_array()
        .expect("the printed curl names its fields")
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap();
            let (_, label) = LABELS
                .iter()
                .find(|(known, _)| *known == id)
                .unwrap_or_else(|| panic!("add the spec's label of {id} to LABELS"));
            *label
        })
        .collect();
    let rows = csv_rows(&resp.body);
    assert_eq!(rows[0], labels, "the header row");
    assert_eq!(rows.len(), count + 1, "a header row and {count} rows");
    assert!(
        resp.body.windows(2).filter(|w| w == b"\r\n").count() > count,
        "CRLF line ends"
    );
    if let Some(city) = labels.iter().position(|l| *l == "City") {
        for row in &rows[1..] {
            assert!(
                row[city] == "Berlin" || row[city].is_empty(),
                "a lead outside Berlin: {row:?}"
            );
        }
    }
    let members = group_members(run.pgid);
    let names: Vec<&str> = members.iter().map(|(_, n)| n.as_str()).collect();
    // dynalite (DynamoDB) runs as `node`, moto (S3) as `moto_server`.
    for expected in ["make", "local-server", "node", "moto_server"] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }

    // The local server's own code, around the handler.
    let route = format!("http://127.0.0.1:{port}/api/v1/operations/export");
    let token = between(&curl, "Authorization: Bearer ", '\'');
    let (status, other) = call(
        ureq::post(&format!("http://127.0.0.1:{port}/api/v1/operations/other")),
        b"{}",
    );
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_slice(&read_body(other)).unwrap();
    assert_eq!(json["error"]["code"], "NOT_FOUND");
    // Over 1 MiB without a token: the server's own limit answers (the
    // handler would say 401); exactly 1 MiB reaches the handler.
    let (status, big) = call(ureq::post(&route), &vec![b' '; MAX_BODY_BYTES + 1]);
    assert_eq!(status, 413);
    let json: serde_json::Value = serde_json::from_slice(&read_body(big)).unwrap();
    assert_eq!(json["error"]["code"], "VALIDATION_ERROR");
    let (status, _) = call(ureq::post(&route), &vec![b' '; MAX_BODY_BYTES]);
    assert_eq!(status, 401, "1 MiB passes the server's limit");
    // A gzip body passes through intact: it decodes to the curl's CSV.
    let (status, gz) = call(
        ureq::post(&route)
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .set("Accept-Encoding", "gzip"),
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let compressed = read_body(gz);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .expect("a valid gzip stream");
    assert_eq!(decoded, resp.body, "gunzipped = the curl's CSV");

    // An export job of the whole search, run by the in-process worker on
    // moto's SQS: POST, GET until it succeeds, download its link.
    let jobs = format!("http://127.0.0.1:{port}/api/v1/operations/export-jobs");
    let job_body = r#"{"selection":{"mode":"bulk","filters":{}},"exportFields":["name","emails","jobTitle","city","companyName"]}"#;
    assert!(
        run.output().contains(job_body),
        "make run prints the job's curl"
    );
    let (status, accepted) = call(
        ureq::post(&jobs)
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json"),
        job_body.as_bytes(),
    );
    assert_eq!(status, 202);
    let location = accepted.header("location").unwrap().to_string();
    let job: serde_json::Value = serde_json::from_slice(&read_body(accepted)).unwrap();
    assert_eq!(
        location,
        format!(
            "/api/v1/operations/export-jobs/{}",
            job["jobId"].as_str().unwrap()
        )
    );
    let waited = Instant::now();
    let done = loop {
        let (status, got) = call(
            ureq::get(&format!("http://127.0.0.1:{port}{location}"))
                .set("Authorization", &format!("Bearer {token}")),
            b"",
        );
        assert_eq!(status, 200);
        let got: serde_json::Value = serde_json::from_slice(&read_body(got)).unwrap();
        if got["status"] != "PENDING" && got["status"] != "RUNNING" {
            break got;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the job is not done: {got}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let seeded: usize = SEED_LEADS.parse().unwrap();
    assert_eq!(done["count"], seeded);
    let file = read_body(ureq::get(done["url"].as_str().unwrap()).call().unwrap());
    let rows = csv_rows(&file);
    assert_eq!(
        rows[0],
        ["Name", "Email(s)", "Job Title", "City", "Company Name"]
    );
    assert_eq!(rows.len(), seeded + 1);

    // Ctrl-C, as a terminal sends it: SIGINT to the foreground group.
    signal_group(run.pgid, "INT");
    let mut run = run;
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "make run still running 30 s after Ctrl-C; output:\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = members.iter().filter(|(pid, _)| running(*pid)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running after Ctrl-C: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        group_members(run.pgid).is_empty(),
        "{:?}",
        group_members(run.pgid)
    );
    for p in [port, moto_port, dynalite_port] {
        assert!(refuses_connections(p), "port {p} still answers");
        TcpListener::bind(("127.0.0.1", p)).unwrap_or_else(|e| panic!("port {p} not free: {e}"));
    }
}
