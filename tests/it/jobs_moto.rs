//! Export jobs against moto (DynamoDB, SQS, S3; `#[ignore]`d, `make test`
//! runs them): a job from `POST` to the downloaded file through the real
//! queue, records, staging objects and multipart upload, in steps of one
//! page each (a job larger than one step's deadline), with a message
//! delivered twice and a step killed halfway; tenancy; a failed job; the
//! link's lifetime; 10 concurrent jobs of 3 organizations. The leads are
//! written here, and so are the rows expected of them.

use crate::jobs::{get_job, post_job};
use crate::support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lead_export::audit::AuditRecord;
use lead_export::auth::OrgId;
use lead_export::aws;
use lead_export::config::Config;
use lead_export::deadline::Deadline;
use lead_export::http::serve;
use lead_export::jobs::sqs::{ensure_queue, SqsQueue};
use lead_export::jobs::worker::{handle_message, Disposition};
use lead_export::jobs::{dynamodb as job_table, Jobs, Phase};
use lead_export::model::Lead;
use lead_export::store::DynamoStore;
use serde_json::{json, Value};
use support::*;

fn org(k: usize) -> String {
    format!("org-jobs-{k}")
}

/// Leads of organization `k`: `n` of them, each cell saying whose it is.
fn leads(k: usize, n: usize) -> Vec<Lead> {
    (0..n)
        .map(|i| Lead {
            id: format!("lead-{i:03}-{k}"),
            first_name: compact_str::format_compact!("Org{k}"),
            last_name: compact_str::format_compact!("Person{i:03}"),
            job_title: Some(compact_str::format_compact!("Title {i}")),
            city: Some(compact_str::format_compact!("City of {k}")),
            ..Lead::default()
        })
        .collect()
}

/// The rows of leads `range` of organization `k` (a header, then one row
/// per lead, in id order): written out from the data above.
fn expected(k: usize, range: std::ops::Range<usize>) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "Name".to_string(),
        "Job Title".to_string(),
        "City".to_string(),
    ]];
    rows.extend(range.map(|i| {
        vec![
            format!("Org{k} Person{i:03}"),
            format!("Title {i}"),
            format!("City of {k}"),
        ]
    }));
    rows
}

fn bulk(start: usize, count: usize) -> Value {
    json!({
        "selection": {"mode": "bulk", "startIndex": start, "targetCount": count, "filters": {}},
        "exportFields": ["name", "jobTitle", "city"]
    })
}

struct Env {
    config: Config,
    sdk: aws_config::SdkConfig,
    jobs: Jobs,
    queue: SqsQueue,
}

impl Env {
    /// Tables, bucket and queue of their own; `per_org[k]` leads in
    /// organization `k`; reads of `read_size` leads.
    async fn new(per_org: &[usize], read_size: usize) -> Env {
        let (leads_table, jobs_table, audit, cursors, bucket, queue) = (
            unique("leads"),
            unique("jobs"),
            unique("audit"),
            unique("cursors"),
            unique("exports"),
            unique("jobs-queue"),
        );
        let sdk = aws::sdk_config().await;
        let sqs = aws::sqs(&sdk, Some(&moto_endpoint()));
        let url = ensure_queue(&sqs, &queue, 30).await.unwrap();
        let config = endpoint_config(&[
            ("LEADS_TABLE", leads_table.as_str()),
            ("JOBS_TABLE", jobs_table.as_str()),
            ("AUDIT_TABLE", audit.as_str()),
            ("CURSORS_TABLE", cursors.as_str()),
            ("EXPORTS_BUCKET", bucket.as_str()),
            ("JOBS_QUEUE_URL", url.as_str()),
            ("AWS_ENDPOINT_URL_SQS", moto_endpoint().as_str()),
            ("EXPORT_TIMEOUT_SECONDS", "900"),
        ]);
        let dynamodb = aws::dynamodb(&sdk, config.dynamodb_endpoint.as_deref());
        aws::ensure_table(&dynamodb, &leads_table).await.unwrap();
        job_table::ensure_table(&dynamodb, &jobs_table)
            .await
            .unwrap();
        lead_export::audit::ensure_table(&dynamodb, &audit)
            .await
            .unwrap();
        lead_export::store::cursors::ensure_table(&dynamodb, &cursors)
            .await
            .unwrap();
        aws::ensure_bucket(&aws::s3(&sdk, config.s3_endpoint.as_deref()), &bucket)
            .await
            .unwrap();
        let store = DynamoStore::new(dynamodb, &leads_table);
        for (k, n) in per_org.iter().enumerate() {
            let org = OrgId::new(org(k)).unwrap();
            let all = leads(k, *n);
            let writes = all.chunks(25).map(|c| store.put_leads(&org, c));
            futures::future::try_join_all(writes).await.unwrap();
        }
        let mut jobs = Jobs::from_config(&config).await;
        jobs.settings.read_size = read_size;
        jobs.settings.lease_margin = Duration::from_millis(300);
        Env {
            queue: SqsQueue::new(sqs, url),
            config,
            sdk,
            jobs,
        }
    }

    async fn submit(&self, k: usize, body: &Value) -> String {
        let resp = serve(&self.jobs, post_job(&org(k), body)).await;
        let text = String::from_utf8_lossy(&body_bytes(&resp)).to_string();
        assert_eq!(resp.status(), 202, "{text}");
        body_json(&resp)["jobId"].as_str().unwrap().to_string()
    }

    async fn status(&self, k: usize, id: &str) -> (u16, Value) {
        let resp = serve(&self.jobs, get_job(&org(k), id)).await;
        (resp.status().as_u16(), body_json(&resp))
    }

    /// Receives and runs steps until the queue stays empty, each step
    /// reading one page (its stop time is now); the messages handled.
    async fn work(&self, twice: bool) -> usize {
        let mut handled = 0;
        let mut idle = 0;
        while idle < 2 {
            let received = self.queue.receive(10, 0).await.unwrap();
            if received.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            for (receipt, body) in received {
                handled += 1;
                assert!(handled < 2_000, "the jobs never end");
                let rounds = if twice { 2 } else { 1 };
                let mut done = Disposition::Done;
                for _ in 0..rounds {
                    let deadline = Deadline::after(Duration::from_secs(60));
                    let stop = tokio::time::Instant::now();
                    done = handle_message(&self.jobs, &body, stop, &deadline).await;
                }
                if done == Disposition::Done {
                    self.queue.delete(&receipt).await.unwrap();
                }
            }
        }
        handled
    }

    /// The downloaded file of a succeeded job's status.
    fn download(&self, status: &Value) -> Vec<Vec<String>> {
        let url = status["url"].as_str().expect("a link");
        let got = ureq::get(url).call().unwrap();
        assert_eq!(got.header("content-type"), Some("text/csv; charset=utf-8"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut got.into_reader(), &mut bytes).unwrap();
        csv_rows(&bytes)
    }

    /// The audit records of job `id` of organization `k`.
    async fn audit_of(&self, k: usize, id: &str) -> Vec<AuditRecord> {
        let out = aws::dynamodb(&self.sdk, self.config.dynamodb_endpoint.as_deref())
            .query()
            .table_name(&self.config.audit_table)
            .key_condition_expression("orgId = :o")
            .expression_attribute_values(":o", AttributeValue::S(org(k)))
            .send()
            .await
            .unwrap();
        out.items()
            .iter()
            .map(|item| AuditRecord::from_item(item).unwrap())
            .filter(|r| r.job_id.as_deref() == Some(id))
            .collect()
    }
}

/// `X-Amz-Expires` of a presigned URL.
fn link_seconds(url: &str) -> u64 {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-Expires="))
        .expect("a presigned URL")
        .parse()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_job_runs_from_post_to_download_in_steps_through_sqs_dynamodb_and_s3() {
    // 120 leads in org 0, 20 in org 1; reads of 25 leads.
    let env = Env::new(&[120, 20], 25).await;
    let id = env.submit(0, &bulk(10, 100)).await;
    let (code, pending) = env.status(0, &id).await;
    assert_eq!((code, pending["status"].as_str()), (200, Some("PENDING")));
    // Tenancy: the other organization's GET is the 404 of no job.
    let (code, theirs) = env.status(1, &id).await;
    let (_, none) = env.status(1, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!((code, &theirs), (404, &none));
    // The first step only, twice (the same message delivered twice).
    let (receipt, body) = env.queue.receive(1, 0).await.unwrap().remove(0);
    for _ in 0..2 {
        let deadline = Deadline::after(Duration::from_secs(60));
        let done = handle_message(&env.jobs, &body, tokio::time::Instant::now(), &deadline).await;
        assert_eq!(done, Disposition::Done);
    }
    env.queue.delete(&receipt).await.unwrap();
    let (_, running) = env.status(0, &id).await;
    assert_eq!(running["status"], "RUNNING", "{running}");
    assert_eq!(running["rows"], 50, "two steps of 25 rows: {running}");
    // A step killed halfway: cut after 150 ms while it reads on without a
    // stop time; its lease ends a second later.
    let (receipt, body) = env.queue.receive(1, 0).await.unwrap().remove(0);
    let deadline = Deadline::after(Duration::from_millis(2_700));
    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    let cut = tokio::time::timeout(
        Duration::from_millis(150),
        handle_message(&env.jobs, &body, far, &deadline),
    )
    .await;
    let record = env.jobs.store.get(&org(0), &id).await.unwrap().unwrap();
    if record.lease_owner.is_some() {
        assert!(cut.is_err());
        // Cut while reading: nothing of it committed. Cut while completing
        // the file: every row read and every part recorded, the lease still
        // its own (the retry only completes the upload).
        if record.progress.phase == Phase::Completing {
            assert_eq!(record.progress.rows, 100, "every row before completing");
        } else {
            assert_eq!(record.progress.rows, 50, "the cut step committed nothing");
        }
    }
    if cut.is_err() {
        // Its message comes back once the lease is over.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let deadline = Deadline::after(Duration::from_secs(60));
        handle_message(&env.jobs, &body, tokio::time::Instant::now(), &deadline).await;
    }
    env.queue.delete(&receipt).await.unwrap();
    // The rest, every message delivered twice.
    // (How many steps are left depends on how far the cut step got: on a
    // fast DynamoDB it may have finished the job before its cut.)
    env.work(true).await;
    let (code, done) = env.status(0, &id).await;
    assert_eq!(code, 200);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["count"], 100);
    assert_eq!(env.download(&done), expected(0, 10..110));
    assert_eq!(link_seconds(done["url"].as_str().unwrap()), 900);
    // The audit trail: the 202, the GETs (404s are not the job's), the
    // outcome with the file's key and counts.
    let records = env.audit_of(0, &id).await;
    assert_eq!(records.iter().filter(|r| r.status == 202).count(), 1);
    let outcome: Vec<_> = records
        .iter()
        .filter(|r| {
            r.s3_key.is_some()
                && r.destination.is_some()
                && r.bytes.is_some()
                && r.count == Some(100)
        })
        .collect();
    assert!(!outcome.is_empty(), "{records:?}");
    // The link's lifetime: a file whose upload started a day less 120 s
    // ago gets a link of 120 s at most; a day ago, the job is EXPIRED.
    let mut record = env.jobs.store.get(&org(0), &id).await.unwrap().unwrap();
    assert!(
        record.seq >= 3,
        "two steps, then at least the last: {}",
        record.seq
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let dynamodb = aws::dynamodb(&env.sdk, env.config.dynamodb_endpoint.as_deref());
    for (started, expect) in [(now - 86_400 + 120, "SUCCEEDED"), (now - 86_400, "EXPIRED")] {
        record.progress.upload_started = Some(started);
        dynamodb
            .put_item()
            .table_name(&env.config.jobs_table)
            .set_item(Some(job_table::to_item(&record).unwrap()))
            .send()
            .await
            .unwrap();
        let (_, status) = env.status(0, &id).await;
        assert_eq!(status["status"], expect, "{status}");
        if expect == "SUCCEEDED" {
            let seconds = link_seconds(status["url"].as_str().unwrap());
            assert!((110..=120).contains(&seconds), "{seconds}");
        } else {
            assert!(status.get("url").is_none());
        }
    }
    // A failed job: nothing to export.
    let id = env
        .submit(
            1,
            &json!({"selection": {"mode": "manual", "includedIds": ["lead-000-0"]}}),
        )
        .await;
    env.work(false).await;
    let (_, failed) = env.status(1, &id).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"]["code"], "NO_DATA");
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn ten_concurrent_jobs_of_three_organizations_each_get_their_own_rows() {
    let per_org = [60, 45, 30];
    let env = Env::new(&per_org, 20).await;
    // (organization, start, count): 4 + 3 + 3 jobs, counts all different.
    let asked: Vec<(usize, usize, usize)> = vec![
        (0, 0, 60),
        (0, 5, 41),
        (0, 30, 23),
        (0, 59, 1),
        (1, 0, 45),
        (1, 7, 31),
        (1, 40, 5),
        (2, 0, 30),
        (2, 11, 17),
        (2, 28, 2),
    ];
    let bodies: Vec<Value> = asked.iter().map(|(_, s, c)| bulk(*s, *c)).collect();
    let ids = futures::future::join_all(
        asked
            .iter()
            .zip(&bodies)
            .map(|((k, _, _), body)| env.submit(*k, body)),
    )
    .await;
    // Two workers at once.
    let (a, b) = tokio::join!(env.work(false), env.work(false));
    assert!(a + b >= 10);
    let mut seen = HashMap::new();
    for ((k, start, count), id) in asked.iter().zip(&ids) {
        let (code, done) = env.status(*k, id).await;
        assert_eq!(
            (code, done["status"].as_str()),
            (200, Some("SUCCEEDED")),
            "{done}"
        );
        assert_eq!(done["count"], *count);
        assert_eq!(env.download(&done), expected(*k, *start..start + count));
        for other in 0..3 {
            if other != *k {
                assert_eq!(env.status(other, id).await.0, 404);
            }
        }
        assert!(seen.insert(id.clone(), k).is_none());
    }
}

/// The `export-worker` binary through the Lambda runtime loop: an SQS event
/// of the job's message (and a record that is not a job message) runs the
/// job to its end and answers no batch item failure.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn the_worker_binary_runs_a_job_from_an_sqs_event() {
    let env = Env::new(&[30], 1000).await;
    let id = env.submit(0, &bulk(3, 20)).await;
    let (receipt, body) = env.queue.receive(1, 0).await.unwrap().remove(0);
    let c = &env.config;
    let vars = [
        ("LEADS_TABLE", c.leads_table.clone()),
        ("JOBS_TABLE", c.jobs_table.clone()),
        ("AUDIT_TABLE", c.audit_table.clone()),
        ("CURSORS_TABLE", c.cursors_table.clone()),
        ("EXPORTS_BUCKET", c.exports_bucket.clone()),
        ("JOBS_QUEUE_URL", c.jobs_queue_url.clone().unwrap()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            c.dynamodb_endpoint.clone().unwrap(),
        ),
        ("AWS_ENDPOINT_URL_S3", c.s3_endpoint.clone().unwrap()),
        ("AWS_ENDPOINT_URL_SQS", c.sqs_endpoint.clone().unwrap()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut lambda =
        crate::runtime_loop::Lambda::start_bin(env!("CARGO_BIN_EXE_export-worker"), &vars).await;
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id, "receiptHandle": receipt, "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"
        })
    };
    let event = json!({"Records": [record("m-1", &body), record("m-2", "not a job message")]});
    let answer = lambda.invoke("sqs-job-step", &event).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let (_, done) = env.status(0, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(env.download(&done), expected(0, 3..23));
}
