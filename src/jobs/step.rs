//! One step of a job: claim it, continue from the committed position until
//! the step's stop time (or the end), then commit the next position, or
//! finish the file.
//!
//! The protocol (`docs/jobs.md`):
//!
//! 1. **Claim**: the record is replaced on condition that its `seq` is the
//!    one read, no lease holds it and it is not final; the new record holds
//!    this step's lease (owner id, until its deadline plus
//!    [`super::LEASE_MARGIN`]). A step that loses the claim does nothing.
//! 2. **Work**: the request is read back and parsed by the export's parser;
//!    the leads from the committed position are rendered by the export's
//!    CSV writer into the bytes after the last full part (the tail the last
//!    step left); every full part ([`super::JobSettings::part_size`]
//!    bytes, the same byte range of the file whichever step writes it) is
//!    uploaded under its number. A step reads at least one page and stops
//!    between pages once its stop time has come.
//! 3. **Commit**: the tail goes to a staging object of its own (a key of
//!    this attempt), and the record takes the new position on condition
//!    that `seq` and the lease are still this step's. A step killed before
//!    its commit leaves the record as it was: the retry starts from the same
//!    position and uploads the same parts again (UploadPart of a number
//!    replaces it), so no row is written twice or lost.
//! 4. **Finish**: at the end of the selection the tail is the last part,
//!    the upload is completed, the outcome's audit record is written (fail
//!    closed: without it the job fails and the file is deleted), and the
//!    record becomes `SUCCEEDED`. A selection without a row fails the job
//!    with `NO_DATA`.

use std::collections::HashSet;

use futures::{TryFutureExt, TryStreamExt};
use tokio::time::Instant;

use super::{
    now_ms, Expect, JobFailure, JobMessage, JobRecord, JobStatus, Jobs, Part, Phase, Progress,
    JOB_LIMITS,
};
use crate::audit::AuditRecord;
use crate::auth::OrgId;
use crate::csv_export::RowWriter;
use crate::deadline::{Deadline, FINISH_RESERVE};
use crate::deliver::ObjectMeta;
use crate::error::ExportError;
use crate::filters::CompiledFilter;
use crate::model::Lead;
use crate::reply::{content_disposition, CSV_CONTENT_TYPE};
use crate::request::{self, Selection};
use crate::store::{Attributes, Positions, Start, Tally};

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// No such job (or no longer): nothing to do.
    Gone,
    /// The job is final already: nothing to do.
    Final,
    /// Another step holds the job (or committed first): nothing done.
    Busy,
    /// Committed a position; the next step is queued.
    Continued,
    /// The file is complete: the job succeeded.
    Succeeded,
    /// The job failed (its record says why).
    Failed,
    /// A transient failure: nothing committed, the lease released; the
    /// message is to be delivered again.
    Retry,
}

/// Runs one step of `job_id` of `org`: reads until `stop` (at least one
/// page), every call within `deadline`.
pub async fn run_step(
    jobs: &Jobs,
    org: &str,
    job_id: &str,
    stop: Instant,
    deadline: &Deadline,
) -> StepOutcome {
    match step(jobs, org, job_id, stop, deadline).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::warn!(job_id, error = ?err.log_cause(), "job step not run");
            StepOutcome::Retry
        }
    }
}

async fn step(
    jobs: &Jobs,
    org: &str,
    job_id: &str,
    stop: Instant,
    deadline: &Deadline,
) -> Result<StepOutcome, ExportError> {
    let Some(record) = jobs.store.get(org, job_id).await? else {
        return Ok(StepOutcome::Gone);
    };
    if record.status.is_final() {
        return Ok(StepOutcome::Final);
    }
    let now = now_ms();
    let free = Expect::Free {
        seq: record.seq,
        now_ms: now,
    };
    if record.attempts >= jobs.settings.max_attempts {
        if !free.holds(&record) {
            return Ok(StepOutcome::Busy);
        }
        fail(jobs, &record, &free, &too_many_attempts()).await?;
        return Ok(StepOutcome::Failed);
    }
    let owner = uuid::Uuid::new_v4().simple().to_string();
    let mut claimed = record.clone();
    claimed.status = JobStatus::Running;
    claimed.lease_owner = Some(owner.clone());
    let lease = deadline.remaining() + jobs.settings.lease_margin;
    claimed.lease_until = Some(now + lease.as_millis() as i64);
    claimed.attempts += 1;
    claimed.updated_at = now;
    if !jobs.store.replace(&claimed, &free).await? {
        return Ok(StepOutcome::Busy);
    }
    let held = Expect::Held {
        seq: claimed.seq,
        owner: owner.clone(),
    };
    tracing::info!(job_id, seq = claimed.seq, "job step started");
    let work = Work::run(jobs, &claimed, &owner, stop, deadline).await;
    match work {
        Ok(Worked::More(progress)) => {
            let mut next = claimed.clone();
            next.progress = progress;
            next.seq += 1;
            next.lease_owner = None;
            next.lease_until = None;
            next.attempts = 0;
            next.updated_at = now_ms();
            if !jobs.store.replace(&next, &held).await? {
                // The lease ran out and another step went on: this one's
                // tail is its own key, never committed.
                drop_staged(jobs, next.progress.tail_key.as_deref()).await;
                return Ok(StepOutcome::Busy);
            }
            if claimed.progress.tail_key != next.progress.tail_key {
                drop_staged(jobs, claimed.progress.tail_key.as_deref()).await;
            }
            tracing::info!(
                job_id,
                seq = next.seq,
                rows = next.progress.rows,
                "job step committed"
            );
            let Some(queue) = &jobs.queue else {
                return Err(ExportError::Unavailable(
                    "no job queue is configured".into(),
                ));
            };
            queue
                .send(&JobMessage {
                    org_id: next.org_id.clone(),
                    job_id: next.job_id.clone(),
                    seq: next.seq,
                })
                .await?;
            Ok(StepOutcome::Continued)
        }
        Ok(Worked::Complete(progress)) => {
            let mut done = claimed.clone();
            done.progress = progress;
            if claimed.progress.phase != Phase::Completing {
                // Every part recorded before the completion: a retry after
                // it completes nothing twice and reads nothing again.
                done.updated_at = now_ms();
                if !jobs.store.replace(&done, &held).await? {
                    return Ok(StepOutcome::Busy);
                }
            }
            if let Err(err) = complete_upload(jobs, &done, deadline).await {
                return settle(jobs, &done, &held, err).await;
            }
            let at = time::OffsetDateTime::now_utc();
            let audit = AuditRecord {
                count: Some(done.progress.rows),
                skipped: Some(done.progress.skipped),
                bytes: Some(done.progress.bytes),
                destination: Some("s3".into()),
                s3_key: Some(done.key.clone()),
                ..outcome_record(jobs, &done, at, 200, "OK")
            };
            let written = deadline
                .run("writing the audit record", FINISH_RESERVE, async {
                    jobs.app
                        .audit
                        .log
                        .write(&audit)
                        .await
                        .map_err(|e| ExportError::from_fault(e.kind, e))
                })
                .await;
            if let Err(err) = written {
                tracing::error!(job_id, error = ?err.log_cause(), "the job's audit record was not written; the file is deleted");
                drop_staged(jobs, Some(&done.key)).await;
                let err = ExportError::Unavailable(format!(
                    "the job's file was not kept because its audit record could not be written: {err}"
                ));
                fail_without_audit(jobs, &done, &held, &err).await?;
                return Ok(StepOutcome::Failed);
            }
            let old_tail = done.progress.tail_key.take();
            let now = now_ms();
            done.status = JobStatus::Succeeded;
            done.finished_at = Some(now);
            done.updated_at = now;
            done.lease_owner = None;
            done.lease_until = None;
            done.seq += 1;
            if !jobs.store.replace(&done, &held).await? {
                return Ok(StepOutcome::Busy);
            }
            emit_end(jobs, &done, "OK");
            drop_staged(jobs, old_tail.as_deref()).await;
            drop_staged(jobs, Some(&done.request_key)).await;
            tracing::info!(
                job_id,
                rows = done.progress.rows,
                bytes = done.progress.bytes,
                "job succeeded"
            );
            Ok(StepOutcome::Succeeded)
        }
        Ok(Worked::Empty(progress)) => {
            let mut done = claimed.clone();
            done.progress = progress;
            fail(jobs, &done, &held, &ExportError::NoData).await?;
            Ok(StepOutcome::Failed)
        }
        Err(err) => settle(jobs, &claimed, &held, err).await,
    }
}

/// A step that failed with `err` while holding `record`: a transient
/// failure (or the deadline) releases the lease, leaving the message for
/// redelivery, unless this was the job's last attempt
/// ([`super::JobSettings::max_attempts`]): then, as any other failure, it
/// fails the job now. Waiting for one more delivery to fail it would leave
/// the job `RUNNING` for good once the queue dead-letters the message.
async fn settle(
    jobs: &Jobs,
    record: &JobRecord,
    held: &Expect,
    err: ExportError,
) -> Result<StepOutcome, ExportError> {
    let job_id = record.job_id.as_str();
    if retry_later(&err) {
        if record.attempts >= jobs.settings.max_attempts {
            tracing::error!(job_id, attempts = record.attempts, error = ?err.log_cause(), "job step failed on its last attempt; the job fails");
            fail(jobs, record, held, &too_many_attempts()).await?;
            return Ok(StepOutcome::Failed);
        }
        tracing::warn!(job_id, error = ?err.log_cause(), "job step failed; to be retried");
        let mut released = record.clone();
        released.lease_owner = None;
        released.lease_until = None;
        released.updated_at = now_ms();
        jobs.store.replace(&released, held).await?;
        Ok(StepOutcome::Retry)
    } else {
        tracing::error!(job_id, error = ?err.log_cause(), "job failed");
        fail(jobs, record, held, &err).await?;
        Ok(StepOutcome::Failed)
    }
}

/// The failure of a job whose steps failed
/// [`super::JobSettings::max_attempts`] times in a row.
fn too_many_attempts() -> ExportError {
    ExportError::Unavailable("the job's steps failed too many times".into())
}

/// A transient failure or the deadline: the step may pass when run again.
fn retry_later(err: &ExportError) -> bool {
    matches!(
        err,
        ExportError::Unavailable(_) | ExportError::Timeout { .. }
    )
}

/// The audit record of a job's outcome (`status`, `code`), before its
/// counts.
fn outcome_record(
    jobs: &Jobs,
    record: &JobRecord,
    at: time::OffsetDateTime,
    status: u16,
    code: &str,
) -> AuditRecord {
    AuditRecord {
        org: record.org_id.clone(),
        user: record.user.clone(),
        time: at,
        request_id: record.request_id.clone(),
        mode: Some(record.mode.clone()),
        selection_hash: record.selection_hash.clone(),
        fields: record.fields.clone(),
        format: Some(record.format.clone()),
        count: None,
        skipped: None,
        bytes: None,
        destination: None,
        s3_key: None,
        job_id: Some(record.job_id.clone()),
        status,
        code: code.to_string(),
        expires_at: at.unix_timestamp() + i64::from(jobs.app.audit.retention_days) * 86_400,
    }
}

/// Fails the job with `err` (its code and client message), writes the
/// outcome's audit record, and removes what it left (the open upload, the
/// staged objects).
async fn fail(
    jobs: &Jobs,
    record: &JobRecord,
    expect: &Expect,
    err: &ExportError,
) -> Result<(), ExportError> {
    let (status, code) = (err.status().as_u16(), crate::observe::error_code(err));
    let audit = AuditRecord {
        count: Some(0),
        skipped: Some(record.progress.skipped),
        ..outcome_record(jobs, record, time::OffsetDateTime::now_utc(), status, &code)
    };
    if let Err(e) = jobs.app.audit.log.write(&audit).await {
        // The job fails either way and hands out nothing.
        tracing::error!(job_id = %record.job_id, error = %e, "the failed job's audit record was not written");
    }
    fail_without_audit(jobs, record, expect, err).await
}

async fn fail_without_audit(
    jobs: &Jobs,
    record: &JobRecord,
    expect: &Expect,
    err: &ExportError,
) -> Result<(), ExportError> {
    let mut failed = record.clone();
    let now = now_ms();
    failed.status = JobStatus::Failed;
    failed.error = Some(failure_of(err));
    failed.finished_at = Some(now);
    failed.updated_at = now;
    failed.lease_owner = None;
    failed.lease_until = None;
    failed.seq += 1;
    let tail = failed.progress.tail_key.take();
    let upload = failed.progress.upload_id.take();
    failed.progress.parts.clear();
    if !jobs.store.replace(&failed, expect).await? {
        return Ok(());
    }
    let code = failed
        .error
        .as_ref()
        .map_or("INTERNAL_ERROR", |e| e.code.as_str());
    emit_end(jobs, &failed, code);
    // The committed upload, and any a step started and never committed
    // (the key is the job's own).
    let mut uploads: Vec<String> = upload.into_iter().collect();
    match jobs.app.objects.uploads_of(&record.key).await {
        Ok(open) => {
            for id in open {
                if !uploads.contains(&id) {
                    uploads.push(id);
                }
            }
        }
        Err(e) => {
            tracing::warn!(job_id = %record.job_id, error = %e, "the failed job's uploads were not listed")
        }
    }
    for upload_id in uploads {
        if let Err(e) = jobs.app.objects.abort(&record.key, &upload_id).await {
            tracing::warn!(job_id = %record.job_id, error = %e, "the failed job's upload was not aborted");
        }
    }
    drop_staged(jobs, tail.as_deref()).await;
    drop_staged(jobs, Some(&record.request_key)).await;
    Ok(())
}

/// The EMF line of a job that ended with `code` (`OK` or its error code):
/// its rows and bytes when it succeeded, its duration from acceptance, its
/// steps ([`crate::observe::job_emf_line`]).
fn emit_end(jobs: &Jobs, record: &JobRecord, code: &str) {
    let ended = record.finished_at.unwrap_or_else(now_ms);
    let duration = std::time::Duration::from_millis(
        u64::try_from(ended.saturating_sub(record.created_at)).unwrap_or(0),
    );
    let (rows, bytes) = if code == "OK" {
        (record.progress.rows, record.progress.bytes)
    } else {
        (0, 0)
    };
    let end = crate::observe::JobEnd {
        job_id: &record.job_id,
        code,
        rows,
        bytes,
        duration,
        steps: record.seq,
    };
    jobs.app.metrics.emit(&crate::observe::job_emf_line(
        &end,
        time::OffsetDateTime::now_utc(),
    ));
}

/// The code and client message of `err`, as an error body has them.
pub fn failure_of(err: &ExportError) -> JobFailure {
    let body = err.body();
    let message = match body["error"]["message"].as_str() {
        Some(message) => message.to_string(),
        // `No data to export`: the reference's plain body.
        None => err.to_string(),
    };
    JobFailure {
        code: crate::observe::error_code(err),
        message,
    }
}

/// Deletes a staged object, logging a failure (the bucket's lifecycle
/// rule removes what is left).
async fn drop_staged(jobs: &Jobs, key: Option<&str>) {
    if let Some(key) = key {
        if let Err(e) = jobs.staging.delete(key).await {
            tracing::warn!(error = %e.message, "a staged object of a job was not deleted");
        }
    }
}

/// What the work of a step came to.
enum Worked {
    /// Stopped before the end: the position to commit.
    More(Progress),
    /// Every row is read and every part uploaded ([`Phase::Completing`]):
    /// the upload is to be completed.
    Complete(Progress),
    /// The selection holds no row.
    Empty(Progress),
}

/// The work of one step: the rows from the committed position into parts.
struct Work<'a> {
    jobs: &'a Jobs,
    record: &'a JobRecord,
    deadline: &'a Deadline,
    progress: Progress,
    /// The bytes after the last full part.
    tail: Vec<u8>,
}

impl<'a> Work<'a> {
    async fn run(
        jobs: &'a Jobs,
        record: &'a JobRecord,
        owner: &'a str,
        stop: Instant,
        deadline: &'a Deadline,
    ) -> Result<Worked, ExportError> {
        if record.progress.phase == Phase::Completing {
            // Every part is uploaded: only the completion is left.
            return Ok(Worked::Complete(record.progress.clone()));
        }
        let body = jobs.staging.get(&record.request_key).await?;
        // Validated when the job was accepted; a stored body that no longer
        // parses is a fault (its message may quote the request: not logged).
        let request = request::parse_with(&body, &JOB_LIMITS)
            .map_err(|_| ExportError::internal("the job's stored request does not parse"))?;
        let fields = request.fields.clone().ok_or(ExportError::NoValidFields)?;
        let org = OrgId::new(record.org_id.clone())
            .ok_or_else(|| ExportError::internal("the job's organization is empty"))?;
        let tail = match &record.progress.tail_key {
            Some(key) => jobs.staging.get(key).await?,
            None => Vec::new(),
        };
        let mut work = Work {
            jobs,
            record,
            deadline,
            progress: record.progress.clone(),
            tail,
        };
        // The header (after the BOM, when asked for) goes with the file's
        // first row only (`Work::row`).
        let mut csv = RowWriter::new(&fields, &request.format);
        let attributes = fields.lead_attributes();
        let ended = match &request.selection {
            Selection::Manual { ids } => {
                work.progress.phase = Phase::Ids;
                work.ids(&mut csv, &org, ids, &attributes, None, stop)
                    .await?
            }
            Selection::Bulk(bulk) => {
                let mut ended = true;
                if work.progress.phase == Phase::Range {
                    ended = work.range(&mut csv, &org, bulk, &attributes, stop).await?;
                    if ended {
                        work.progress.phase = Phase::Ids;
                        ended = Instant::now() < stop || bulk.included.is_empty();
                    }
                }
                if work.progress.phase == Phase::Ids && ended {
                    let range = InRange {
                        filter: &bulk.filter,
                        first: work.progress.range_first.clone(),
                        last: work.progress.range_after.clone(),
                    };
                    ended = work
                        .ids(
                            &mut csv,
                            &org,
                            &bulk.included,
                            &attributes,
                            Some(&range),
                            stop,
                        )
                        .await?;
                }
                ended
            }
        };
        if !ended {
            let key = super::tail_key(&record.key, record.seq + 1, owner);
            let tail = std::mem::take(&mut work.tail);
            if tail.is_empty() {
                work.progress.tail_key = None;
            } else {
                jobs.staging.put(&key, tail).await?;
                work.progress.tail_key = Some(key);
            }
            return Ok(Worked::More(work.progress));
        }
        if work.progress.rows == 0 {
            return Ok(Worked::Empty(work.progress));
        }
        work.last_part().await?;
        work.progress.phase = Phase::Completing;
        Ok(Worked::Complete(work.progress))
    }

    /// The bulk range from the committed position; `true` once it has
    /// ended (`false`: stopped at `stop`).
    async fn range(
        &mut self,
        csv: &mut RowWriter<'_>,
        org: &OrgId,
        bulk: &crate::request::BulkSelection,
        attributes: &Attributes,
        stop: Instant,
    ) -> Result<bool, ExportError> {
        let app = &self.jobs.app;
        let end = bulk.start.saturating_add(bulk.count);
        let window = self.jobs.settings.read_size.max(1);
        loop {
            let (from, skip) = match self.progress.range_position {
                Some(position) => (
                    Start {
                        position: position as usize,
                        after: self.progress.range_after.clone(),
                    },
                    position as usize,
                ),
                // The first read starts from the filter's nearest position
                // checkpoint at or before `startIndex`, as an export does.
                None => {
                    let positions = Positions::new(app.cursors.clone());
                    let (_, from) = positions
                        .load(org, &bulk.filter.fingerprint(), bulk.start)
                        .await;
                    (from, bulk.start)
                }
            };
            if skip >= end {
                return Ok(true);
            }
            // A read of at most `window` matches, page by page.
            let take = (end - skip).min(window);
            let mut pages = app.store.find_range_from(
                org,
                &bulk.filter,
                from,
                skip,
                take,
                attributes,
                Tally::new(),
            );
            let mut position = skip;
            loop {
                let next = pages.try_next().map_err(ExportError::from);
                let Some(page) = self
                    .deadline
                    .run("reading the leads", FINISH_RESERVE, next)
                    .await?
                else {
                    break;
                };
                // The page's matches (leads and unreadable items that keep
                // their position), in lead id order.
                let ids = page
                    .leads
                    .iter()
                    .map(|l| l.id.as_str())
                    .chain(page.skipped.iter().filter_map(|s| s.id.as_deref()));
                let (first, last) = ids.fold((None::<&str>, None::<&str>), |(lo, hi), id| {
                    (
                        Some(lo.map_or(id, |lo| lo.min(id))),
                        Some(hi.map_or(id, |hi| hi.max(id))),
                    )
                });
                if self.progress.range_first.is_none() {
                    self.progress.range_first = first.map(str::to_string);
                }
                if let Some(last) = last {
                    self.progress.range_after = Some(last.to_string());
                }
                position += page.leads.len() + page.skipped.len();
                self.progress.skipped += page
                    .skipped
                    .iter()
                    .filter(|s| s.id.as_ref().is_none_or(|id| !bulk.excluded.contains(id)))
                    .count() as u64;
                for lead in &page.leads {
                    if !bulk.excluded.contains(&lead.id) {
                        self.row(csv, lead).await?;
                    }
                }
                self.progress.range_position = Some(position as u64);
                if position >= end {
                    return Ok(true);
                }
                if Instant::now() >= stop {
                    return Ok(false);
                }
            }
            // Fewer matches than asked for: the search has ended.
            if position < skip + take {
                return Ok(true);
            }
        }
    }

    /// The ids of `ids` from the committed count, in order, each once;
    /// with `range`, those the range held are left out. `true` once all
    /// are done (`false`: stopped at `stop`).
    async fn ids(
        &mut self,
        csv: &mut RowWriter<'_>,
        org: &OrgId,
        ids: &[String],
        attributes: &Attributes,
        range: Option<&InRange<'_>>,
        stop: Instant,
    ) -> Result<bool, ExportError> {
        let store = self.jobs.app.store.clone();
        loop {
            let done = self.progress.ids_done as usize;
            if done >= ids.len() {
                return Ok(true);
            }
            let chunk = &ids[done..ids.len().min(done + self.jobs.settings.read_size.max(1))];
            let read = store
                .get_many(org, chunk, attributes)
                .map_err(ExportError::from)
                .try_collect::<Vec<_>>();
            let chunks = self
                .deadline
                .run("reading the leads", FINISH_RESERVE, read)
                .await?;
            let mut found = std::collections::HashMap::new();
            for c in chunks {
                self.progress.skipped += c.skipped.len() as u64;
                for lead in c.leads {
                    found.insert(lead.id.clone(), lead);
                }
            }
            let mut seen = HashSet::new();
            for id in chunk {
                if !seen.insert(id) {
                    continue;
                }
                if let Some(lead) = found.get(id) {
                    if range.is_none_or(|r| !r.holds(lead)) {
                        self.row(csv, lead).await?;
                    }
                }
            }
            self.progress.ids_done = (done + chunk.len()) as u64;
            if Instant::now() >= stop && (self.progress.ids_done as usize) < ids.len() {
                return Ok(false);
            }
        }
    }

    /// Writes the row of `lead` (the header first, for the file's first
    /// row) and uploads each full part.
    async fn row(&mut self, csv: &mut RowWriter<'_>, lead: &Lead) -> Result<(), ExportError> {
        let before = self.tail.len();
        if self.progress.rows == 0 && csv.rows() == 0 {
            csv.header_into(&mut self.tail);
        }
        csv.row_into(lead, &mut self.tail);
        self.progress.bytes += (self.tail.len() - before) as u64;
        self.progress.rows += 1;
        let size = self.jobs.settings.part_size;
        while self.tail.len() >= size {
            let rest = self.tail.split_off(size);
            let part = std::mem::replace(&mut self.tail, rest);
            self.upload(part).await?;
        }
        Ok(())
    }

    /// Uploads `body` as the next part (starting the upload first).
    async fn upload(&mut self, body: Vec<u8>) -> Result<(), ExportError> {
        let objects = self.jobs.app.objects.clone();
        let key = &self.record.key;
        let upload_id = match &self.progress.upload_id {
            Some(id) => id.clone(),
            None => {
                let meta = ObjectMeta {
                    content_type: CSV_CONTENT_TYPE.into(),
                    content_disposition: content_disposition(&self.record.filename),
                };
                let started = time::OffsetDateTime::now_utc().unix_timestamp();
                let id = self
                    .deadline
                    .run("starting the upload", FINISH_RESERVE, async {
                        objects
                            .create_multipart(key, &meta)
                            .await
                            .map_err(ExportError::from)
                    })
                    .await?;
                self.progress.upload_id = Some(id.clone());
                self.progress.upload_started = Some(started);
                id
            }
        };
        let number = self.progress.parts.len() as i32 + 1;
        let etag = self
            .deadline
            .run("uploading the file", FINISH_RESERVE, async {
                objects
                    .upload_part(key, &upload_id, number, body)
                    .await
                    .map_err(ExportError::from)
            })
            .await?;
        self.progress.parts.push(Part { number, etag });
        Ok(())
    }

    /// The tail as the last part.
    async fn last_part(&mut self) -> Result<(), ExportError> {
        let last = std::mem::take(&mut self.tail);
        if !last.is_empty() || self.progress.parts.is_empty() {
            self.upload(last).await?;
        }
        Ok(())
    }
}

/// Completes the upload of `record`'s file from its committed parts. When
/// S3 refuses (the upload no longer exists: an earlier step of this job
/// completed it and was killed, or lost the answer, before its commit), the
/// file is looked up: an object at the job's key (its own, a fresh UUID)
/// of the size of the rows written is that completion's, and the job goes
/// on; anything else keeps the refusal.
async fn complete_upload(
    jobs: &Jobs,
    record: &JobRecord,
    deadline: &Deadline,
) -> Result<(), ExportError> {
    let objects = jobs.app.objects.clone();
    let key = &record.key;
    let upload_id = record.progress.upload_id.clone().unwrap_or_default();
    let parts: Vec<(i32, String)> = record
        .progress
        .parts
        .iter()
        .map(|p| (p.number, p.etag.clone()))
        .collect();
    let completed = deadline
        .run("completing the upload", FINISH_RESERVE, async {
            objects
                .complete(key, &upload_id, parts)
                .await
                .map_err(ExportError::from)
        })
        .await;
    let Err(refused) = completed else {
        return Ok(());
    };
    let size = deadline
        .run("looking the file up", FINISH_RESERVE, async {
            objects.size_of(key).await.map_err(ExportError::from)
        })
        .await;
    match size {
        Ok(Some(size)) if size == record.progress.bytes => {
            tracing::info!(
                job_id = %record.job_id,
                "the job's upload was already completed; its file is there"
            );
            Ok(())
        }
        _ => Err(refused),
    }
}

/// Whether a lead of a bulk job's `includedIds` was in its range: it
/// matches the filter and lies between the range's first and last match
/// (the range is every match between them, in lead id order).
struct InRange<'a> {
    filter: &'a CompiledFilter,
    first: Option<String>,
    last: Option<String>,
}

impl InRange<'_> {
    fn holds(&self, lead: &Lead) -> bool {
        match (&self.first, &self.last) {
            (Some(first), Some(last)) => {
                first.as_str() <= lead.id.as_str()
                    && lead.id.as_str() <= last.as_str()
                    && self.filter.matches(lead)
            }
            _ => false,
        }
    }
}
