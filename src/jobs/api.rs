//! The two routes of export jobs, transport-neutral like
//! [`crate::export::run`]: `POST /api/v1/operations/export-jobs` accepts a
//! job (`202 Accepted`, `Location` of its status, the status body);
//! `GET /api/v1/operations/export-jobs/{id}` answers its status. Both
//! authenticate as the export does, and write an audit record (fail
//! closed: a `202` or a link whose record cannot be written is a `503`).

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{now_ms, JobMessage, JobRecord, JobStatus, Jobs, Progress, JOB_LIMITS};
use crate::audit::format_time;
use crate::error::ExportError;
use crate::export::{naming, negotiate, Input};
use crate::observe::{Destination, Outcome};
use crate::reply::{Reply, ReplyBody};
use crate::request::{self, FileType, Selection};

/// The route of `POST` (and the prefix of each job's status).
pub const JOBS_ROUTE: &str = "/api/v1/operations/export-jobs";

/// The status route of `job_id` (the `Location` of a `202`).
pub fn status_location(job_id: &str) -> String {
    format!("{JOBS_ROUTE}/{job_id}")
}

/// Accepts an export job: validates the body as the export does (bulk
/// `targetCount` up to [`super::MAX_JOB_TARGET_COUNT`], or absent for the
/// whole search; CSV only), stores it and the job's record, writes the
/// audit record, queues the first step; `202` with `Location` and the
/// status body. Never fails: every error is a reply.
pub async fn submit(jobs: &Jobs, input: Input<'_>) -> Reply {
    let at = OffsetDateTime::now_utc();
    let mut outcome = Outcome::default();
    let accepted = accept(jobs, &input, &mut outcome).await;
    let (reply, record) = match accepted {
        Ok(record) => (Ok(accepted_reply(&record)), Some(record)),
        Err(err) => (Err(err), None),
    };
    let (result, _) = crate::audit::settle(
        &jobs.app.audit,
        &input.deadline,
        &outcome,
        &input.request_id,
        at,
        reply,
    )
    .await;
    let result = match (result, record) {
        (Ok(reply), Some(record)) => enqueue(jobs, &record).await.map(|()| reply),
        (Err(err), Some(record)) => {
            // The record of the 202 was not written: the job never runs.
            abandon(jobs, &record, &err).await;
            Err(err)
        }
        (result, None) => result,
    };
    log(
        &input.request_id,
        outcome.job_id.as_deref(),
        "submit",
        &result,
    );
    result.unwrap_or_else(|err| Reply::error(&err))
}

/// Validates the request and stores the job (its body, then its record).
async fn accept(
    jobs: &Jobs,
    input: &Input<'_>,
    outcome: &mut Outcome,
) -> Result<JobRecord, ExportError> {
    if input.method != "POST" {
        return Err(ExportError::MethodNotAllowed(input.method.to_string()));
    }
    let caller = jobs.app.auth.authenticate_caller(input.authorization)?;
    let org = caller.org.clone();
    let user = caller.user.clone();
    outcome.caller = Some(caller);
    outcome.selection_hash = crate::audit::selection_hash(input.body);
    let parsed = request::parse_with(input.body, &JOB_LIMITS)?;
    let mode = match parsed.selection {
        Selection::Manual { .. } => "manual",
        Selection::Bulk(_) => "bulk",
    };
    outcome.mode = Some(mode);
    let file_type = parsed.file_type(negotiate::accepts_xlsx(input.accept))?;
    if file_type == FileType::Xlsx {
        return Err(ExportError::Validation(
            "format.type: an export job writes CSV; an XLSX workbook is built in one request, \
             by POST /api/v1/operations/export"
                .into(),
        ));
    }
    outcome.format = Some(file_type.name());
    let fields = parsed.fields.ok_or(ExportError::NoValidFields)?;
    outcome.fields = fields.fields().iter().map(|f| f.id()).collect();
    let Some(_) = &jobs.queue else {
        return Err(ExportError::Unavailable(
            "no job queue is configured (JOBS_QUEUE_URL)".into(),
        ));
    };
    let now = OffsetDateTime::now_utc();
    let job_id = uuid::Uuid::new_v4().to_string();
    outcome.job_id = Some(job_id.clone());
    let key = naming::object_key(&org, now, &job_id, "csv");
    let request_key = super::request_key(&key);
    jobs.staging.put(&request_key, input.body.to_vec()).await?;
    let created = now_ms();
    let record = JobRecord {
        org_id: org.as_str().to_string(),
        job_id,
        status: JobStatus::Pending,
        created_at: created,
        updated_at: created,
        finished_at: None,
        expires_at: now.unix_timestamp() + jobs.settings.retention.as_secs() as i64,
        user,
        request_id: input.request_id.clone(),
        mode: mode.to_string(),
        selection_hash: outcome.selection_hash.clone(),
        fields: outcome.fields.iter().map(|f| f.to_string()).collect(),
        format: "csv".into(),
        filename: naming::file_name(now, "csv"),
        key,
        request_key,
        seq: 0,
        lease_owner: None,
        lease_until: None,
        attempts: 0,
        progress: Progress::default(),
        error: None,
    };
    jobs.store.create(&record).await?;
    Ok(record)
}

/// Queues the job's first step; a job that cannot be queued is failed.
async fn enqueue(jobs: &Jobs, record: &JobRecord) -> Result<(), ExportError> {
    let message = JobMessage {
        org_id: record.org_id.clone(),
        job_id: record.job_id.clone(),
        seq: record.seq,
    };
    let sent = match &jobs.queue {
        Some(queue) => queue.send(&message).await.map_err(ExportError::from),
        None => Err(ExportError::Unavailable(
            "no job queue is configured".into(),
        )),
    };
    if let Err(err) = sent {
        abandon(jobs, record, &err).await;
        return Err(err);
    }
    Ok(())
}

/// Fails a job that was stored but not accepted (its audit record or its
/// message could not be written).
async fn abandon(jobs: &Jobs, record: &JobRecord, err: &ExportError) {
    let mut failed = record.clone();
    failed.status = JobStatus::Failed;
    failed.error = Some(super::step::failure_of(err));
    failed.finished_at = Some(now_ms());
    let expect = super::Expect::Free {
        seq: record.seq,
        now_ms: now_ms(),
    };
    if let Err(e) = jobs.store.replace(&failed, &expect).await {
        tracing::error!(job_id = %record.job_id, error = %e.message, "an abandoned job was not marked failed");
    }
    if let Err(e) = jobs.staging.delete(&record.request_key).await {
        tracing::warn!(job_id = %record.job_id, error = %e.message, "an abandoned job's request was not deleted");
    }
}

fn accepted_reply(record: &JobRecord) -> Reply {
    let body = status_fields(record, record.status.name());
    Reply {
        status: 202,
        headers: vec![
            ("content-type", "application/json".into()),
            ("location", status_location(&record.job_id)),
            ("cache-control", "no-store".into()),
        ],
        body: ReplyBody::Text(body.to_string()),
    }
}

/// Answers the status of job `job_id` of the caller's organization: a job
/// of another organization, or none, is the same `404`. A `SUCCEEDED` job
/// carries a link presigned now, valid for the configured lifetime but
/// never past its file's expiry; past that, the job is `EXPIRED`.
pub async fn status(jobs: &Jobs, input: Input<'_>, job_id: &str) -> Reply {
    let at = OffsetDateTime::now_utc();
    let mut outcome = Outcome::default();
    let result = read_status(jobs, &input, job_id, &mut outcome).await;
    let (result, _) = crate::audit::settle(
        &jobs.app.audit,
        &input.deadline,
        &outcome,
        &input.request_id,
        at,
        result,
    )
    .await;
    log(
        &input.request_id,
        outcome.job_id.as_deref(),
        "status",
        &result,
    );
    result.unwrap_or_else(|err| Reply::error(&err))
}

/// The message of a `404` for a job.
pub const NOT_FOUND_MESSAGE: &str = "No export job with this id in your organization";

async fn read_status(
    jobs: &Jobs,
    input: &Input<'_>,
    job_id: &str,
    outcome: &mut Outcome,
) -> Result<Reply, ExportError> {
    if input.method != "GET" {
        return Err(ExportError::MethodNotAllowedUse {
            method: input.method.to_string(),
            allow: "GET",
        });
    }
    let caller = jobs.app.auth.authenticate_caller(input.authorization)?;
    let org = caller.org.clone();
    outcome.caller = Some(caller);
    // Job ids are UUIDs: anything else is no job (and no lookup).
    let Ok(id) = uuid::Uuid::parse_str(job_id) else {
        return Err(ExportError::NotFound(NOT_FOUND_MESSAGE));
    };
    let id = id.to_string();
    let record = jobs
        .store
        .get(org.as_str(), &id)
        .await?
        .ok_or(ExportError::NotFound(NOT_FOUND_MESSAGE))?;
    outcome.job_id = Some(id);
    outcome.mode = Some(if record.mode == "manual" {
        "manual"
    } else {
        "bulk"
    });
    outcome.selection_hash = record.selection_hash.clone();
    outcome.fields = record
        .fields
        .iter()
        .filter_map(|id| crate::fields::Field::ALL.iter().find(|f| f.id() == id))
        .map(|f| f.id())
        .collect();
    outcome.format = Some("csv");
    let mut body = status_fields(&record, record.status.name());
    if record.status == JobStatus::Succeeded {
        let now = OffsetDateTime::now_utc();
        let file_expires = file_expiry(jobs, &record);
        if now >= file_expires {
            body = status_fields(&record, "EXPIRED");
            body["expiredAt"] = format_time(file_expires).into();
        } else {
            let left = (file_expires - now).unsigned_abs();
            let ttl = jobs.app.url_ttl.min(left);
            let url = jobs.app.objects.presign_get(&record.key, ttl).await?;
            let expires_at = now + ttl;
            body["url"] = url.into();
            body["expiresAt"] = format_time(expires_at).into();
            outcome.count = Some(record.progress.rows as usize);
            outcome.bytes = Some(record.progress.bytes);
            outcome.destination = Some(Destination::S3 {
                key: record.key.clone(),
            });
        }
    }
    Ok(Reply {
        status: 200,
        headers: vec![
            ("content-type", "application/json".into()),
            ("cache-control", "no-store".into()),
        ],
        body: ReplyBody::Text(body.to_string()),
    })
}

/// When a succeeded job's file expires: its upload's start plus the file
/// lifetime.
pub fn file_expiry(jobs: &Jobs, record: &JobRecord) -> OffsetDateTime {
    let started = record
        .progress
        .upload_started
        .unwrap_or(record.created_at / 1000);
    OffsetDateTime::from_unix_timestamp(started).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        + jobs.settings.file_lifetime
}

fn millis(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| Value::from(format_time(t)))
        .unwrap_or(Value::Null)
}

/// The status body of `record`, as `status`: what every status has, and
/// what its own adds (rows so far; the counts; the error).
fn status_fields(record: &JobRecord, status: &str) -> Value {
    let mut body = json!({
        "jobId": record.job_id,
        "status": status,
        "format": record.format,
        "createdAt": millis(record.created_at),
        "updatedAt": millis(record.updated_at),
        "rows": record.progress.rows,
    });
    if let Some(finished) = record.finished_at {
        body["finishedAt"] = millis(finished);
    }
    match record.status {
        JobStatus::Succeeded => {
            body["count"] = record.progress.rows.into();
            body["skipped"] = record.progress.skipped.into();
            body["bytes"] = record.progress.bytes.into();
            body["filename"] = record.filename.clone().into();
        }
        JobStatus::Failed => {
            if let Some(error) = &record.error {
                body["error"] = json!({"code": error.code, "message": error.message});
            }
        }
        JobStatus::Pending | JobStatus::Running => {}
    }
    body
}

fn log(request_id: &str, job_id: Option<&str>, route: &str, result: &Result<Reply, ExportError>) {
    let (status, code) = crate::observe::status_and_code(result);
    tracing::info!(
        request_id,
        job_id,
        route,
        status,
        code = %code,
        error = result.as_ref().err().and_then(ExportError::log_cause),
        "export job request"
    );
}
