//! Export jobs: an export too large for one request, run outside it
//! (`POST /api/v1/operations/export-jobs`, then
//! `GET /api/v1/operations/export-jobs/{id}` until it is done). The request
//! is validated by the export's own parser and stored; a queue carries the
//! job's steps to the worker; each step continues from the position the
//! last one committed and stops at its deadline; the file is one S3 object
//! written by one multipart upload across the steps. `docs/jobs.md` is the
//! contract and the design.
//!
//! The pieces, each behind a small trait with a real and an in-memory
//! implementation, like the lead store: [`JobStore`] (the records, with
//! conditional replacement), [`JobQueue`] (the steps' messages),
//! [`Staging`] (the stored request and the tail carried between steps).
//! [`api`] answers the two routes, [`step`] runs one step, [`worker`]
//! turns queue messages into steps.

pub mod api;
pub mod dynamodb;
pub mod memory;
pub mod s3;
pub mod sqs;
pub mod step;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::config::Config;
use crate::error::Fault;
use crate::request::Limits;

/// The most leads a bulk job's `targetCount` may ask for; without a
/// `targetCount` a job exports every match from `startIndex` on.
pub const MAX_JOB_TARGET_COUNT: usize = 1_000_000;

/// The request limits of an export job: `targetCount` up to
/// [`MAX_JOB_TARGET_COUNT`], or absent for the whole search.
pub const JOB_LIMITS: Limits = Limits {
    max_target_count: MAX_JOB_TARGET_COUNT,
    whole_search: true,
};

/// How long a job's file can be downloaded, from the start of its upload:
/// the bucket's lifecycle rule deletes `exports/` objects one day after
/// they are created (a multipart object is created when its upload
/// starts), so a link never outlives its object.
pub const FILE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Size of each part of a job's upload but the last (S3's smallest is
/// 5 MiB).
pub const JOB_PART_SIZE: usize = crate::export::PART_SIZE;

/// Leads a step asks the store for at a time: the ids of one lookup
/// (BatchGetItem reads them 100 at a time, several at once), the matches of
/// one range read. A step may stop between two reads (and between two
/// pages of a range).
pub const READ_SIZE: usize = 1000;

/// Steps of a job that may fail in a row (throttling, a timeout, a killed
/// step) before the job is failed: the step that fails last fails it. A
/// step killed on its last attempt fails nothing itself; the next delivery
/// does, before it starts, which is why the queue's `maxReceiveCount`
/// (`template.yaml`) is one more than this.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long past its own deadline a step's lease lasts: a step killed
/// before it committed is retried once its lease is over.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// The state of a job as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Accepted, no step has started.
    Pending,
    /// A step has started; more to do.
    Running,
    /// The file is uploaded and its audit record written.
    Succeeded,
    /// Ended without a file ([`JobRecord::error`] says why).
    Failed,
}

impl JobStatus {
    /// `PENDING`, `RUNNING`, `SUCCEEDED` or `FAILED`.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
        }
    }

    /// Whether no step will run any more.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// Which part of the selection a job is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A bulk selection's range (the first phase of a bulk job).
    #[default]
    Range,
    /// A list of ids: a manual selection's ids, or a bulk selection's
    /// `includedIds` after its range.
    Ids,
    /// Every row read and every part uploaded, committed before the upload
    /// is completed: a step retried after the completion (killed, or its
    /// answer lost) finds the file there instead of an upload that no
    /// longer exists.
    Completing,
}

/// Where a job stands: what its committed steps have read and written.
/// A step starts from it and commits the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The phase being read.
    pub phase: Phase,
    /// Range: the matches of the filter read so far, counted from the
    /// first (skipped or not); `None` before the range's first read.
    pub range_position: Option<u64>,
    /// Range: the lead id of the last match read.
    pub range_after: Option<String>,
    /// Range: the lead id of the first match of the range.
    pub range_first: Option<String>,
    /// Ids: how many ids of the list are done.
    pub ids_done: u64,
    /// Rows written (leads in the file).
    pub rows: u64,
    /// Stored items of the selection skipped (unreadable).
    pub skipped: u64,
    /// Bytes of the file written so far (parts and tail).
    pub bytes: u64,
    /// The multipart upload, once started.
    pub upload_id: Option<String>,
    /// When the upload started (Unix seconds): its object expires a day
    /// later.
    pub upload_started: Option<i64>,
    /// The uploaded parts: number and ETag.
    pub parts: Vec<Part>,
    /// The staged bytes after the last full part, written by the last
    /// step (a key of [`Staging`]); `None` when there are none.
    pub tail_key: Option<String>,
}

/// An uploaded part of a job's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Part number, from 1.
    pub number: i32,
    /// Its ETag.
    pub etag: String,
}

/// Why a job failed: an error code and message of the export's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// `NO_DATA`, `SERVICE_UNAVAILABLE`, `INTERNAL_ERROR`.
    pub code: String,
    /// The message for the client (never an internal cause).
    pub message: String,
}

/// A job's record (table `JOBS_TABLE`, keys `orgId` and `jobId`, TTL on
/// `expiresAt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The organization (partition key): a job is found only with it.
    pub org_id: String,
    /// The job id (sort key), a UUID.
    pub job_id: String,
    /// Its state.
    pub status: JobStatus,
    /// When it was accepted (Unix milliseconds).
    pub created_at: i64,
    /// When it last changed (Unix milliseconds).
    pub updated_at: i64,
    /// When it ended (Unix milliseconds).
    pub finished_at: Option<i64>,
    /// When DynamoDB may delete the record (TTL, Unix seconds).
    pub expires_at: i64,
    /// The token's `sub` of the caller who created it.
    pub user: Option<String>,
    /// The request id of the `POST`.
    pub request_id: String,
    /// `manual` or `bulk`.
    pub mode: String,
    /// SHA-256 of the canonical selection (the audit record's).
    pub selection_hash: Option<String>,
    /// The exported field ids, in column order.
    pub fields: Vec<String>,
    /// `csv`.
    pub format: String,
    /// The file's object key.
    pub key: String,
    /// The file's name.
    pub filename: String,
    /// The stored request body (a key of [`Staging`]).
    pub request_key: String,
    /// Steps committed so far.
    pub seq: u64,
    /// The step holding the job, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    /// Until when its lease holds (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    /// Steps started since the last commit.
    pub attempts: u32,
    /// Where the job stands.
    pub progress: Progress,
    /// Why it failed.
    pub error: Option<JobFailure>,
}

/// What a conditional replacement of a record expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A step claims the job: `seq` unchanged, no step holds it (no lease,
    /// or its lease ended before `now_ms`), and not final.
    Free {
        /// The `seq` read.
        seq: u64,
        /// Now (Unix milliseconds).
        now_ms: i64,
    },
    /// A step commits: `seq` unchanged and the lease still its own.
    Held {
        /// The `seq` the step started from.
        seq: u64,
        /// The step's lease owner id.
        owner: String,
    },
}

impl Expect {
    /// Whether `current` meets the expectation (the in-memory store's
    /// check; DynamoDB's condition expression says the same).
    pub fn holds(&self, current: &JobRecord) -> bool {
        match self {
            Expect::Free { seq, now_ms } => {
                current.seq == *seq
                    && !current.status.is_final()
                    && current.lease_until.is_none_or(|until| until < *now_ms)
            }
            Expect::Held { seq, owner } => {
                current.seq == *seq && current.lease_owner.as_deref() == Some(owner.as_str())
            }
        }
    }
}

/// Where job records are kept.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new record; fails when its key is taken.
    async fn create(&self, record: &JobRecord) -> Result<(), Fault>;
    /// The record of `job_id` in `org`, read consistently; `None` when
    /// there is none (in that organization).
    async fn get(&self, org: &str, job_id: &str) -> Result<Option<JobRecord>, Fault>;
    /// Replaces the record when the stored one meets `expect`; `false`
    /// (nothing written) when it does not.
    async fn replace(&self, record: &JobRecord, expect: &Expect) -> Result<bool, Fault>;
}

/// A step to run: the job, and the step count its sender saw (for the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMessage {
    /// The organization.
    pub org_id: String,
    /// The job.
    pub job_id: String,
    /// The job's `seq` when the message was sent.
    pub seq: u64,
}

/// Where the steps' messages go (SQS, or memory in tests).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends one message.
    async fn send(&self, message: &JobMessage) -> Result<(), Fault>;
}

/// Small objects a job keeps beside its file: the request body and the
/// tail of bytes carried from one step to the next.
#[async_trait]
pub trait Staging: Send + Sync {
    /// Stores `bytes` at `key`.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Fault>;
    /// The bytes at `key`.
    async fn get(&self, key: &str) -> Result<Vec<u8>, Fault>;
    /// Deletes `key` (nothing when it is absent).
    async fn delete(&self, key: &str) -> Result<(), Fault>;
}

/// The settings of the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// Bytes of each part but the last.
    pub part_size: usize,
    /// How long a record is kept (its TTL).
    pub retention: Duration,
    /// How long a job's file lives from its upload's start.
    pub file_lifetime: Duration,
    /// Failed steps in a row before the job fails.
    pub max_attempts: u32,
    /// A step's lease past its deadline.
    pub lease_margin: Duration,
    /// Leads asked for at a time ([`READ_SIZE`]).
    pub read_size: usize,
}

impl JobSettings {
    /// The settings of `config`.
    pub fn of(config: &Config) -> Self {
        JobSettings {
            part_size: JOB_PART_SIZE,
            retention: Duration::from_secs(u64::from(config.job_retention_days) * 86_400),
            file_lifetime: FILE_LIFETIME,
            max_attempts: MAX_ATTEMPTS,
            lease_margin: LEASE_MARGIN,
            read_size: READ_SIZE,
        }
    }
}

/// What the jobs need: the export's [`App`] (authentication, the lead
/// store, the object store, the audit log, the link lifetime) and their
/// own backends.
#[derive(Clone)]
pub struct Jobs {
    /// The export's dependencies.
    pub app: App,
    /// The records.
    pub store: Arc<dyn JobStore>,
    /// The steps' queue; `None` when none is configured (the routes then
    /// answer 503).
    pub queue: Option<Arc<dyn JobQueue>>,
    /// The request bodies and tails.
    pub staging: Arc<dyn Staging>,
    /// The settings.
    pub settings: JobSettings,
}

/// The I/O behind [`Jobs`]: real (DynamoDB, SQS, S3) or in memory.
pub struct JobBackends {
    /// The records.
    pub store: Arc<dyn JobStore>,
    /// The steps' queue.
    pub queue: Option<Arc<dyn JobQueue>>,
    /// The request bodies and tails.
    pub staging: Arc<dyn Staging>,
}

impl Jobs {
    /// The jobs of `app` over `backends`.
    pub fn new(app: App, config: &Config, backends: JobBackends) -> Jobs {
        Jobs {
            app,
            store: backends.store,
            queue: backends.queue,
            staging: backends.staging,
            settings: JobSettings::of(config),
        }
    }

    /// The jobs of `config` on DynamoDB, SQS and S3, beside
    /// [`App::from_config`].
    pub async fn from_config(config: &Config) -> Jobs {
        let sdk = crate::aws::sdk_config().await;
        let dynamodb = crate::aws::dynamodb(&sdk, config.dynamodb_endpoint.as_deref());
        let s3 = crate::aws::s3(&sdk, config.s3_endpoint.as_deref());
        let app = App::from_clients(config, dynamodb.clone(), s3.clone());
        let queue: Option<Arc<dyn JobQueue>> = config.jobs_queue_url.as_ref().map(|url| {
            Arc::new(sqs::SqsQueue::new(
                crate::aws::sqs(&sdk, config.sqs_endpoint.as_deref()),
                url,
            )) as Arc<dyn JobQueue>
        });
        Jobs::new(
            app,
            config,
            JobBackends {
                store: Arc::new(dynamodb::DynamoJobs::new(dynamodb, &config.jobs_table)),
                queue,
                staging: Arc::new(s3::S3Staging::new(s3, &config.exports_bucket)),
            },
        )
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The staging key of a job's request body: beside its file, under the
/// organization's prefix of `exports/` (the bucket's lifecycle rule
/// removes it with the file).
pub fn request_key(file_key: &str) -> String {
    format!("{}.request.json", staging_prefix(file_key))
}

/// The staging key of the tail a step of `seq` leaves, unique to the
/// step's attempt (`owner`): a late write of a killed attempt never lands
/// on the key a later step committed.
pub fn tail_key(file_key: &str, seq: u64, owner: &str) -> String {
    format!("{}.tail-{seq}-{owner}", staging_prefix(file_key))
}

fn staging_prefix(file_key: &str) -> String {
    let stem = file_key.strip_suffix(".csv").unwrap_or(file_key);
    format!("{stem}.staging/job")
}
