//! Export jobs over in-memory backends: the two routes, the steps across
//! deadlines, redelivered and killed steps, tenancy, failures, the link's
//! lifetime. The expected rows come from the generated demo leads, written
//! out here cell by cell; the moto tier is `tests/it/jobs_moto.rs`.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Request, Response};
use lead_export::app::App;
use lead_export::audit::MemoryAuditLog;
use lead_export::deadline::Deadline;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::deliver::{ObjectMeta, ObjectStore, ObjectStoreError};
use lead_export::demo::demo_leads;
use lead_export::http::serve;
use lead_export::jobs::memory::{MemoryJobs, MemoryQueue, MemoryStaging};
use lead_export::jobs::worker::{handle_message, Disposition};
use lead_export::jobs::{now_ms, Expect, JobBackends, JobStatus, Jobs};
use lead_export::model::Lead;
use lead_export::observe::MemoryMetrics;
use serde_json::{json, Value};
use support::*;

/// The in-memory world of a jobs test.
pub struct World {
    pub jobs: Jobs,
    pub records: Arc<MemoryJobs>,
    pub queue: Arc<MemoryQueue>,
    pub objects: Arc<MemoryObjects>,
    pub audit: Arc<MemoryAuditLog>,
    pub staging: Arc<MemoryStaging>,
    pub metrics: Arc<MemoryMetrics>,
}

/// Jobs over the demo data (3,000 leads in org A, 1,000 in org B), with
/// parts of `part_size` bytes, the objects behind `wrap`.
fn world_with(
    part_size: usize,
    wrap: impl FnOnce(Arc<MemoryObjects>) -> Arc<dyn ObjectStore>,
) -> World {
    world_over(demo_store(), part_size, wrap)
}

fn world_over(
    store: Arc<dyn lead_export::store::LeadStore>,
    part_size: usize,
    wrap: impl FnOnce(Arc<MemoryObjects>) -> Arc<dyn ObjectStore>,
) -> World {
    let config = config(&[]);
    let objects = Arc::new(MemoryObjects::new());
    let audit = Arc::new(MemoryAuditLog::new());
    let metrics = Arc::new(MemoryMetrics::new());
    let app = App::new(
        &config,
        lead_export::app::Backends {
            store,
            cursors: Arc::new(lead_export::store::MemoryCursors::new()),
            objects: wrap(objects.clone()),
            audit_log: audit.clone(),
            metrics: metrics.clone(),
        },
    );
    let records = Arc::new(MemoryJobs::new());
    let queue = Arc::new(MemoryQueue::new());
    let staging = Arc::new(MemoryStaging::new());
    let mut jobs = Jobs::new(
        app,
        &config,
        JobBackends {
            store: records.clone(),
            queue: Some(queue.clone()),
            staging: staging.clone(),
        },
    );
    jobs.settings.part_size = part_size;
    jobs.settings.lease_margin = Duration::from_millis(200);
    World {
        jobs,
        records,
        queue,
        objects,
        audit,
        staging,
        metrics,
    }
}

/// The EMF lines of ended jobs (`observe::job_emf_line`) for `id`.
fn job_metrics(w: &World, id: &str) -> Vec<Value> {
    w.metrics
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["jobId"] == id)
        .collect()
}

/// The part size of the tests: a file of 2,000 rows of three fields
/// (about 85 KB) takes five parts.
const PART: usize = 16 * 1024;

fn world() -> World {
    world_with(PART, |o| o)
}

pub fn post_job(org: &str, body: &Value) -> Request {
    let mut req = post_as(org, body);
    *req.uri_mut() = "https://api.example.com/api/v1/operations/export-jobs"
        .parse()
        .unwrap();
    req
}

pub fn get_job(org: &str, id: &str) -> Request {
    http::Request::builder()
        .method("GET")
        .uri(format!(
            "https://api.example.com/api/v1/operations/export-jobs/{id}"
        ))
        .header("authorization", format!("Bearer {}", token(org)))
        .body(Body::Empty)
        .unwrap()
}

/// Runs the queued steps until none is left, each with `budget` to read
/// (at least a page); the steps run.
async fn drain(w: &World, budget: Duration) -> usize {
    let mut steps = 0;
    while let Some(message) = w.queue.pop() {
        steps += 1;
        assert!(steps < 10_000, "the job never ends");
        let deadline = Deadline::after(Duration::from_secs(30));
        let stop = tokio::time::Instant::now() + budget;
        let body = serde_json::to_string(&message).unwrap();
        if handle_message(&w.jobs, &body, stop, &deadline).await == Disposition::Retry {
            tokio::time::sleep(Duration::from_millis(50)).await;
            lead_export::jobs::JobQueue::send(w.queue.as_ref(), &message)
                .await
                .unwrap();
        }
    }
    steps
}

/// `POST` of `body` as `org`: the 202's job id.
async fn submit(w: &World, org: &str, body: &Value) -> String {
    let resp = serve(&w.jobs, post_job(org, body)).await;
    assert_eq!(
        resp.status(),
        202,
        "{}",
        String::from_utf8_lossy(&body_bytes(&resp))
    );
    let status = body_json(&resp);
    let id = status["jobId"].as_str().unwrap().to_string();
    assert_eq!(
        header(&resp, "location"),
        format!("/api/v1/operations/export-jobs/{id}")
    );
    assert_eq!(status["status"], "PENDING");
    assert_eq!(status["rows"], 0);
    id
}

async fn status_of(w: &World, org: &str, id: &str) -> (u16, Value) {
    let resp: Response<Body> = serve(&w.jobs, get_job(org, id)).await;
    (resp.status().as_u16(), body_json(&resp))
}

/// The file of a succeeded job, from its link.
fn download(w: &World, status: &Value) -> Vec<u8> {
    let url = status["url"].as_str().expect("a link");
    let key = url
        .strip_prefix("memory://objects/")
        .and_then(|rest| rest.split('?').next())
        .expect("a memory link");
    w.objects.get(key).expect("the object").1
}

/// The cells of the test's fields (`name`, `jobTitle`, `city`) of a lead,
/// as the contract defines them (no formula guard: `escapeFormulas` off).
fn expected_row(lead: &Lead) -> Vec<String> {
    let name = match (lead.first_name.is_empty(), lead.last_name.is_empty()) {
        (false, false) => format!("{} {}", lead.first_name, lead.last_name),
        (false, true) => lead.first_name.to_string(),
        _ => lead.last_name.to_string(),
    };
    vec![
        name,
        lead.job_title.as_deref().unwrap_or_default().to_string(),
        lead.city.as_deref().unwrap_or_default().to_string(),
    ]
}

const HEADER: [&str; 3] = ["Name", "Job Title", "City"];

/// Org A's demo leads in lead id order (the range order).
fn org_a_sorted() -> Vec<Lead> {
    let mut leads = demo_leads(1, 3000);
    leads.sort_by(|a, b| a.id.cmp(&b.id));
    leads
}

fn bulk(start: usize, count: Option<usize>) -> Value {
    let mut selection = json!({"mode": "bulk", "startIndex": start, "filters": {}});
    if let Some(count) = count {
        selection["targetCount"] = count.into();
    }
    json!({
        "selection": selection,
        "exportFields": ["name", "jobTitle", "city"],
        "format": {"escapeFormulas": false}
    })
}

fn expected_file(leads: &[Lead]) -> Vec<Vec<String>> {
    let mut rows = vec![HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    rows.extend(leads.iter().map(expected_row));
    rows
}

#[tokio::test]
async fn a_job_of_2000_leads_runs_in_many_steps_and_its_file_holds_each_row_once() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(100, Some(2000))).await;
    assert_eq!(w.queue.len(), 1, "the first step is queued");
    let (code, pending) = status_of(&w, ORG_A, &id).await;
    assert_eq!((code, pending["status"].as_str()), (200, Some("PENDING")));
    // Each step reads one page (100 leads in memory) and stops.
    let steps = drain(&w, Duration::ZERO).await;
    assert!(steps >= 20, "{steps} steps");
    let (code, done) = status_of(&w, ORG_A, &id).await;
    assert_eq!(code, 200);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["count"], 2000);
    assert_eq!(done["rows"], 2000);
    let file = download(&w, &done);
    assert_eq!(done["bytes"], file.len());
    let expected = expected_file(&org_a_sorted()[100..2100]);
    assert_eq!(csv_rows(&file), expected);
    // The synchronous export's two pages of the same range, one header.
    let mut pages = Vec::new();
    for start in [100, 1100] {
        let page = serve(&w.jobs, post_as(ORG_A, &bulk(start, Some(1000)))).await;
        assert_eq!(page.status(), 200);
        pages.push(csv_rows(&body_bytes(&page)));
    }
    let mut sync = pages[0].clone();
    sync.extend(pages[1][1..].iter().cloned());
    assert_eq!(csv_rows(&file), sync);
    assert!(file.len() > 3 * PART, "several parts: {} bytes", file.len());
    // One metrics line for the job, when it ended: its rows, bytes and
    // steps (the file's rows and bytes; every step committed a seq, the
    // one that recorded the parts before the completion did not).
    let record = lead_export::jobs::JobStore::get(w.records.as_ref(), ORG_A, &id)
        .await
        .unwrap()
        .unwrap();
    let lines = job_metrics(&w, &id);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["Outcome"], "OK");
    assert_eq!(line["JobRows"], 2000);
    assert_eq!(line["JobBytes"], file.len());
    assert_eq!(line["JobSteps"], steps);
    assert_eq!(line["JobSteps"], record.seq);
    assert_eq!(
        line["JobDurationMs"],
        record.finished_at.unwrap() - record.created_at
    );
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "LeadExport");
    assert_eq!(directive["Dimensions"], json!([["Outcome"]]));
    // The staged request and tails are gone, the upload closed.
    assert_eq!(w.staging.keys(), Vec::<String>::new());
    assert_eq!(w.objects.open_uploads(), 0);
    // The audit trail: the 202, the two GETs, the outcome.
    let records = w.audit.records();
    let of_job: Vec<_> = records
        .iter()
        .filter(|r| r.job_id.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(
        of_job.iter().map(|r| r.status).collect::<Vec<_>>(),
        [202, 200, 200, 200]
    );
    for record in &of_job {
        assert_eq!(record.fields, ["name", "jobTitle", "city"], "{record:?}");
        assert_eq!(record.mode.as_deref(), Some("bulk"));
    }
    let outcome = of_job
        .iter()
        .find(|r| r.count == Some(2000) && r.s3_key.is_some() && r.destination.is_some())
        .expect("the outcome's record");
    assert_eq!(outcome.code, "OK");
    assert_eq!(outcome.bytes, Some(file.len() as u64));
}

#[tokio::test]
async fn a_job_equals_the_synchronous_exports_of_the_same_selection() {
    let w = world();
    let a = org_a_sorted();
    // Exclusions inside the range, inclusions inside it, outside it, of
    // another organization, unknown, repeated.
    let b = demo_leads(2, 5);
    let excluded = vec![a[3].id.clone(), a[250].id.clone(), a[2000].id.clone()];
    let included = vec![
        a[2500].id.clone(),
        a[10].id.clone(),
        a[3].id.clone(),
        b[0].id.clone(),
        "no-such-lead".to_string(),
        a[2999].id.clone(),
        a[2500].id.clone(),
    ];
    let body = |start: usize, count: usize| {
        json!({
            "selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
                          "filters": {}, "excludedIds": excluded, "includedIds": included},
            "exportFields": ["name", "jobTitle", "city"],
            "format": {"escapeFormulas": false}
        })
    };
    let id = submit(&w, ORG_A, &body(0, 300)).await;
    drain(&w, Duration::ZERO).await;
    let (_, done) = status_of(&w, ORG_A, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let job_rows = csv_rows(&download(&w, &done));
    // The synchronous export of the same body.
    let sync = serve(&w.jobs, post_as(ORG_A, &body(0, 300))).await;
    assert_eq!(sync.status(), 200);
    assert_eq!(job_rows, csv_rows(&body_bytes(&sync)));
    // And as the contract says: the range less the exclusions, then the
    // included leads of the organization outside the range, once each.
    let mut expected: Vec<Lead> = a[..300]
        .iter()
        .filter(|l| !excluded.contains(&l.id))
        .cloned()
        .collect();
    expected.push(a[2500].clone());
    expected.push(a[2999].clone());
    assert_eq!(job_rows, expected_file(&expected));
}

#[tokio::test]
async fn manual_jobs_keep_the_order_of_their_ids_across_steps() {
    let w = world();
    let a = demo_leads(1, 3000);
    let ids: Vec<String> = a.iter().rev().take(1200).map(|l| l.id.clone()).collect();
    let body = json!({"selection": {"mode": "manual", "includedIds": ids},
                      "exportFields": ["name", "jobTitle", "city"],
                      "format": {"escapeFormulas": false}});
    let id = submit(&w, ORG_A, &body).await;
    let steps = drain(&w, Duration::ZERO).await;
    assert_eq!(steps, 2, "1,000 ids per read, one read per step");
    let (_, done) = status_of(&w, ORG_A, &id).await;
    let expected: Vec<Lead> = a.iter().rev().take(1200).cloned().collect();
    assert_eq!(csv_rows(&download(&w, &done)), expected_file(&expected));
}

#[tokio::test]
async fn a_job_without_target_count_exports_the_whole_search_from_its_start() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(2900, None)).await;
    drain(&w, Duration::ZERO).await;
    let (_, done) = status_of(&w, ORG_A, &id).await;
    assert_eq!(done["count"], 100);
    assert_eq!(
        csv_rows(&download(&w, &done)),
        expected_file(&org_a_sorted()[2900..])
    );
}

#[tokio::test]
async fn another_organizations_job_is_a_404_like_no_job_at_all() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(0, Some(10))).await;
    let (code, theirs) = status_of(&w, ORG_B, &id).await;
    assert_eq!(code, 404);
    let (code, none) = status_of(&w, ORG_B, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(code, 404);
    assert_eq!(theirs, none, "the same answer: nothing says the job exists");
    assert_eq!(theirs["error"]["code"], "NOT_FOUND");
    let (code, _) = status_of(&w, ORG_B, "not-a-job-id").await;
    assert_eq!(code, 404);
    // Without a token: 401, as the export.
    let mut req = get_job(ORG_A, &id);
    req.headers_mut().remove("authorization");
    assert_eq!(serve(&w.jobs, req).await.status(), 401);
    // Org B's step of org A's job does not exist either.
    let deadline = Deadline::after(Duration::from_secs(30));
    let body = json!({"orgId": ORG_B, "jobId": id, "seq": 0}).to_string();
    let done = handle_message(&w.jobs, &body, tokio::time::Instant::now(), &deadline).await;
    assert_eq!(done, Disposition::Done);
    let (_, status) = status_of(&w, ORG_A, &id).await;
    assert_eq!(status["status"], "PENDING");
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_queued() {
    let w = world();
    for (body, message) in [
        (
            bulk(0, Some(1_000_001)),
            "selection.targetCount must be between 1 and 1000000",
        ),
        (
            json!({"selection": {"mode": "bulk", "targetCount": 10, "filters": {}},
                   "format": {"type": "xlsx"}}),
            "format.type: an export job writes CSV",
        ),
        (
            json!({"selection": {"mode": "manual"}}),
            "selection.includedIds is required for manual mode",
        ),
    ] {
        let resp = serve(&w.jobs, post_job(ORG_A, &body)).await;
        assert_eq!(resp.status(), 400, "{body}");
        let got = body_json(&resp);
        assert_eq!(got["error"]["code"], "VALIDATION_ERROR");
        assert!(
            got["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{got}"
        );
    }
    assert!(w.queue.is_empty());
    // Beyond the synchronous export's 1,000: accepted.
    submit(&w, ORG_A, &bulk(0, Some(5000))).await;
    // GET on the POST route, POST on a job's: 405 with Allow.
    let mut req = post_job(ORG_A, &bulk(0, Some(1)));
    *req.method_mut() = http::Method::GET;
    let resp = serve(&w.jobs, req).await;
    assert_eq!(
        (resp.status().as_u16(), header(&resp, "allow")),
        (405, "POST")
    );
    let mut req = get_job(ORG_A, &uuid::Uuid::new_v4().to_string());
    *req.method_mut() = http::Method::POST;
    let resp = serve(&w.jobs, req).await;
    assert_eq!(
        (resp.status().as_u16(), header(&resp, "allow")),
        (405, "GET")
    );
}

#[tokio::test]
async fn a_job_with_nothing_to_export_fails_with_no_data() {
    let w = world();
    let body = json!({"selection": {"mode": "manual", "includedIds": ["nope-1", "nope-2"]}});
    let id = submit(&w, ORG_A, &body).await;
    drain(&w, Duration::ZERO).await;
    let (code, failed) = status_of(&w, ORG_A, &id).await;
    assert_eq!(code, 200);
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(
        failed["error"],
        json!({"code": "NO_DATA", "message": "No data to export"})
    );
    assert!(failed.get("url").is_none());
    let outcome: Vec<_> = w
        .audit
        .records()
        .into_iter()
        .filter(|r| r.job_id.as_deref() == Some(id.as_str()) && r.code == "NO_DATA")
        .collect();
    assert_eq!(outcome.len(), 1, "the failure's audit record");
    let lines = job_metrics(&w, &id);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["Outcome"], "NO_DATA");
    assert_eq!(lines[0]["JobRows"], 0);
    assert_eq!(lines[0]["JobBytes"], 0);
}

/// An object store whose part uploads (or, with `.1`, whose completions)
/// fail `AccessDenied` (a fault a retry does not fix).
struct Denied(Arc<MemoryObjects>, bool);

#[async_trait]
impl ObjectStore for Denied {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        self.0.create_multipart(key, meta).await
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        n: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        if self.1 {
            return self.0.upload_part(key, id, n, body).await;
        }
        Err(ObjectStoreError::other(
            "UploadPart: AccessDenied (HTTP 403)",
        ))
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        if self.1 {
            return Err(ObjectStoreError::other(
                "CompleteMultipartUpload: AccessDenied (HTTP 403)",
            ));
        }
        self.0.complete(key, id, parts).await
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.0.abort(key, id).await
    }
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        self.0.size_of(key).await
    }
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        self.0.uploads_of(key).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.0.presign_get(key, ttl).await
    }
}

#[tokio::test]
async fn a_job_whose_upload_is_refused_fails_with_an_internal_error_and_leaves_nothing() {
    // Its parts refused, or its completion once every part is uploaded and
    // recorded (no file at the key: the lookup that finishes a completed
    // upload finds nothing, and the refusal stands).
    for completion in [false, true] {
        let w = world_with(PART, |o| Arc::new(Denied(o, completion)));
        let id = submit(&w, ORG_A, &bulk(0, Some(1000))).await;
        drain(&w, Duration::ZERO).await;
        let (_, failed) = status_of(&w, ORG_A, &id).await;
        assert_eq!(failed["status"], "FAILED", "{completion}");
        assert!(failed.get("url").is_none(), "{failed}");
        assert_eq!(failed["error"]["code"], "INTERNAL_ERROR");
        assert_eq!(
            failed["error"]["message"],
            "An internal error occurred while generating the export"
        );
        assert_eq!(w.objects.open_uploads(), 0, "the upload is aborted");
        assert!(w.objects.keys().is_empty());
        assert_eq!(w.staging.keys(), Vec::<String>::new());
        let lines = job_metrics(&w, &id);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["Outcome"], "INTERNAL_ERROR");
    }
}

#[tokio::test]
async fn the_same_message_delivered_twice_writes_each_row_once() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(0, Some(1500))).await;
    let first = w.queue.pop().unwrap();
    let body = serde_json::to_string(&first).unwrap();
    let deadline = Deadline::after(Duration::from_secs(30));
    let stop = tokio::time::Instant::now();
    // Twice at once: one step claims the job, the other finds it held.
    let (one, two) = tokio::join!(
        handle_message(&w.jobs, &body, stop, &deadline),
        handle_message(&w.jobs, &body, stop, &deadline)
    );
    assert_eq!((one, two), (Disposition::Done, Disposition::Done));
    // Each ran a step, or found the job held: the next step is queued.
    assert!(!w.queue.is_empty());
    // Once more, late (its step long committed), then every step's
    // message again after it ran.
    assert_eq!(
        handle_message(&w.jobs, &body, stop, &deadline).await,
        Disposition::Done
    );
    while let Some(message) = w.queue.pop() {
        let body = serde_json::to_string(&message).unwrap();
        for _ in 0..2 {
            handle_message(&w.jobs, &body, tokio::time::Instant::now(), &deadline).await;
        }
    }
    let (_, done) = status_of(&w, ORG_A, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        csv_rows(&download(&w, &done)),
        expected_file(&org_a_sorted()[..1500])
    );
}

/// An object store whose uploads of part `hang_at` never answer while
/// `armed` (a step killed in the middle of its work); with
/// `after_complete`, its completions never answer instead (a step killed
/// once S3 has completed its file).
struct Hanging {
    inner: Arc<MemoryObjects>,
    hang_at: i32,
    after_complete: bool,
    armed: Arc<AtomicUsize>,
}

#[async_trait]
impl ObjectStore for Hanging {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        self.inner.create_multipart(key, meta).await
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        n: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        let etag = self.inner.upload_part(key, id, n, body).await?;
        if n == self.hang_at && !self.after_complete && self.armed.load(Ordering::SeqCst) == 1 {
            // The part landed; the step never learns it.
            futures::future::pending::<()>().await;
        }
        Ok(etag)
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.inner.complete(key, id, parts).await?;
        if self.after_complete && self.armed.load(Ordering::SeqCst) == 1 {
            // The file is there; the step never learns it.
            futures::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.inner.abort(key, id).await
    }
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        self.inner.size_of(key).await
    }
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        self.inner.uploads_of(key).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.inner.presign_get(key, ttl).await
    }
}

/// A world over a [`Hanging`] object store (armed), and its switch: store
/// 0 in it to disarm the store.
fn hanging_world(hang_at: i32, after_complete: bool) -> (World, Arc<AtomicUsize>) {
    let armed = Arc::new(AtomicUsize::new(1));
    let hanging = armed.clone();
    let w = world_with(PART, move |inner| {
        Arc::new(Hanging {
            inner,
            hang_at,
            after_complete,
            armed: hanging,
        })
    });
    (w, armed)
}

/// Runs the step of `body` with a deadline 2.6 s away (its last 0.5 s
/// are where a step gives up) and no stop for reading, cut after 300 ms:
/// whether it was cut (a step killed) rather than ending.
async fn run_cut(w: &World, body: &str) -> bool {
    let deadline = Deadline::after(Duration::from_millis(2_600));
    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    tokio::time::timeout(
        Duration::from_millis(300),
        handle_message(&w.jobs, body, far, &deadline),
    )
    .await
    .is_err()
}

/// Once a killed step's lease is over (the store no longer hangs), the
/// redelivery of `body` and the steps after it: the job `id` succeeds with
/// the first `rows` leads of organization A, each once.
async fn redelivered_after_the_lease(
    w: &World,
    armed: &AtomicUsize,
    body: &str,
    id: &str,
    rows: usize,
) {
    tokio::time::sleep(Duration::from_millis(900)).await;
    armed.store(0, Ordering::SeqCst);
    let now = tokio::time::Instant::now();
    let redelivered = Deadline::after(Duration::from_secs(30));
    assert_eq!(
        handle_message(&w.jobs, body, now, &redelivered).await,
        Disposition::Done
    );
    drain(w, Duration::ZERO).await;
    let (_, done) = status_of(w, ORG_A, id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        csv_rows(&download(w, &done)),
        expected_file(&org_a_sorted()[..rows])
    );
}

#[tokio::test]
async fn a_step_killed_after_its_file_was_completed_is_finished_by_the_retry() {
    let (w, armed) = hanging_world(0, true);
    let id = submit(&w, ORG_A, &bulk(0, Some(300))).await;
    // The steps run until the last one, killed once S3 has completed the
    // file (its completion never answers).
    let mut steps = 0;
    let body = loop {
        let Some(message) = w.queue.pop() else {
            let (_, status) = status_of(&w, ORG_A, &id).await;
            panic!("no step left to run: {status}");
        };
        let body = serde_json::to_string(&message).unwrap();
        steps += 1;
        assert!(steps < 100, "the job never completes its file");
        if run_cut(&w, &body).await {
            break body;
        }
    };
    let stored = w.records.clone();
    let record = lead_export::jobs::JobStore::get(stored.as_ref(), ORG_A, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, JobStatus::Running, "not committed as done");
    assert_eq!(
        record.progress.phase,
        lead_export::jobs::Phase::Completing,
        "every part recorded before the completion"
    );
    // Once the lease is over, the message comes back: the upload no longer
    // exists, the file is there, and the job succeeds with it.
    redelivered_after_the_lease(&w, &armed, &body, &id, 300).await;
}

#[tokio::test]
async fn a_step_killed_halfway_is_retried_from_the_last_commit_without_losing_or_repeating_a_row() {
    let (w, armed) = hanging_world(3, false);
    let id = submit(&w, ORG_A, &bulk(0, Some(2000))).await;
    let message = w.queue.pop().unwrap();
    let body = serde_json::to_string(&message).unwrap();
    // A step with all the time it wants, killed while part 3 uploads
    // (parts 1 and 2 uploaded, nothing committed).
    assert!(run_cut(&w, &body).await, "the step was cut");
    let stored = w.records.clone();
    let record = lead_export::jobs::JobStore::get(stored.as_ref(), ORG_A, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.seq, 0, "nothing committed");
    assert_eq!(record.progress.rows, 0);
    assert!(record.lease_owner.is_some(), "its lease holds");
    // Redelivered while the lease holds: nothing runs.
    let now = tokio::time::Instant::now();
    let redelivered = Deadline::after(Duration::from_secs(30));
    assert_eq!(
        handle_message(&w.jobs, &body, now, &redelivered).await,
        Disposition::Done
    );
    assert!(w.queue.is_empty(), "no step ran");
    // Once the lease is over, the message's next delivery runs the step
    // again from the start: parts 1 to 3 are uploaded again (replaced).
    redelivered_after_the_lease(&w, &armed, &body, &id, 2000).await;
}

#[tokio::test]
async fn the_link_never_outlives_the_file_and_an_old_file_is_expired() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(0, Some(10))).await;
    drain(&w, Duration::ZERO).await;
    let (_, done) = status_of(&w, ORG_A, &id).await;
    // The configured lifetime (900 s) when the file lives longer.
    assert!(
        done["url"].as_str().unwrap().ends_with("?expires-in=900"),
        "{done}"
    );
    let store = w.records.clone();
    let mut record = lead_export::jobs::JobStore::get(store.as_ref(), ORG_A, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, JobStatus::Succeeded);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Its upload started a day less 60 s ago: the link lasts 60 s at most.
    record.progress.upload_started = Some(now - 86_400 + 60);
    w.records.overwrite(&record);
    let (_, soon) = status_of(&w, ORG_A, &id).await;
    assert_eq!(soon["status"], "SUCCEEDED");
    let url = soon["url"].as_str().unwrap();
    let ttl: u64 = url.rsplit('=').next().unwrap().parse().unwrap();
    assert!((55..=60).contains(&ttl), "{url}");
    // A day ago: expired, no link.
    record.progress.upload_started = Some(now - 86_400);
    w.records.overwrite(&record);
    let (code, expired) = status_of(&w, ORG_A, &id).await;
    assert_eq!(code, 200);
    assert_eq!(expired["status"], "EXPIRED");
    assert!(expired.get("url").is_none(), "{expired}");
}

#[tokio::test]
async fn the_worker_reports_steps_to_retry_and_a_job_failing_five_times_fails_unavailable() {
    use lead_export::error::FaultKind;
    use lead_export::jobs::worker::handle_sqs_event;
    let store = Arc::new(FakeStore::failing(
        FaultKind::Transient,
        "Query: ThrottlingException (HTTP 400)",
    ));
    let w = world_over(store, PART, |o| o);
    let id = submit(&w, ORG_A, &bulk(0, Some(10))).await;
    let message = serde_json::to_string(&w.queue.pop().unwrap()).unwrap();
    let event = json!({"Records": [
        {"messageId": "m-1", "body": message},
        {"messageId": "m-2", "body": "not a job message"},
    ]});
    let deadline = Deadline::after(Duration::from_secs(30));
    // Throttled: m-1 is to be delivered again; m-2 is dropped (never ours).
    let answer = handle_sqs_event(&w.jobs, &event, &deadline).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
    let (_, status) = status_of(&w, ORG_A, &id).await;
    assert_eq!(status["status"], "RUNNING", "its lease released: {status}");
    // Three more deliveries fail the same way, each left to be delivered
    // again; the fifth failed step fails the job itself (the queue
    // dead-letters a message after its sixth receive: no later delivery
    // may be counted on).
    for _ in 0..3 {
        let answer = handle_sqs_event(&w.jobs, &event, &deadline).await;
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
    }
    let answer = handle_sqs_event(&w.jobs, &event, &deadline).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let (_, failed) = status_of(&w, ORG_A, &id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(w.queue.is_empty());
}

#[tokio::test]
async fn a_step_killed_on_the_last_attempt_leaves_the_next_delivery_to_fail_the_job() {
    let w = world();
    let id = submit(&w, ORG_A, &bulk(0, Some(10))).await;
    let body = serde_json::to_string(&w.queue.pop().unwrap()).unwrap();
    // The record as five killed steps leave it: five attempts, the last
    // lease over.
    let mut record = w.jobs.store.get(ORG_A, &id).await.unwrap().unwrap();
    let free = Expect::Free {
        seq: record.seq,
        now_ms: now_ms(),
    };
    record.status = JobStatus::Running;
    record.attempts = 5;
    record.lease_owner = Some("killed".into());
    record.lease_until = Some(now_ms() - 1);
    assert!(w.jobs.store.replace(&record, &free).await.unwrap());
    let deadline = Deadline::after(Duration::from_secs(30));
    let now = tokio::time::Instant::now();
    assert_eq!(
        handle_message(&w.jobs, &body, now, &deadline).await,
        Disposition::Done
    );
    let (_, failed) = status_of(&w, ORG_A, &id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(failed["rows"], 0, "nothing read: {failed}");
    assert!(w.queue.is_empty());
}

#[tokio::test]
async fn the_bom_and_the_header_come_once_at_the_start_of_a_many_step_file() {
    let w = world();
    let mut body = bulk(0, Some(300));
    body["format"] =
        json!({"escapeFormulas": false, "bom": true, "delimiter": ";", "lineEnding": "\n"});
    let id = submit(&w, ORG_A, &body).await;
    assert!(drain(&w, Duration::ZERO).await >= 3);
    let (_, done) = status_of(&w, ORG_A, &id).await;
    let file = download(&w, &done);
    assert!(file.starts_with(b"\xEF\xBB\xBFName;Job Title;City\n"));
    assert_eq!(file.windows(3).filter(|w| w == b"\xEF\xBB\xBF").count(), 1);
    assert_eq!(file.windows(5).filter(|w| w == b"Name;").count(), 1);
    assert_eq!(file.iter().filter(|b| **b == b'\n').count(), 301);
    assert!(!file.contains(&b'\r'));
}
