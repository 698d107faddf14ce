//! The handler's dependencies, assembled in one place: [`App::new`] from the
//! typed configuration and the backends, [`App::from_config`] on DynamoDB and
//! S3. The binaries call `from_config`; the tests call `new` with in-memory
//! backends.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{Audit, AuditLog, DynamoAuditLog};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::deliver::{inline_limit, s3::S3Objects, ObjectStore};
use crate::observe::{MetricsSink, StdoutMetrics};
use crate::store::{CursorStore, DynamoCursors, DynamoStore, LeadStore};

/// What the handler needs, built once at start-up.
#[derive(Clone)]
pub struct App {
    /// Token verification.
    pub auth: Authenticator,
    /// Where leads are read.
    pub store: Arc<dyn LeadStore>,
    /// The position checkpoints of bulk ranges.
    pub cursors: Arc<dyn CursorStore>,
    /// How long the answer may wait for the checkpoints still being saved
    /// ([`crate::store::cursors::SETTLE_BOUND`] unless changed).
    pub cursors_settle: Duration,
    /// How long one save of checkpoints may take
    /// ([`crate::store::cursors::SAVE_BOUND`] unless changed).
    pub cursors_save: Duration,
    /// Where large exports are uploaded.
    pub objects: Arc<dyn ObjectStore>,
    /// The largest serialized response sent inline.
    pub inline_limit: usize,
    /// How long a presigned link stays valid.
    pub url_ttl: Duration,
    /// The invocation's timeout when the request carries no usable Lambda
    /// deadline (the local server: `EXPORT_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Where each request's audit record goes (fail closed, see
    /// [`crate::audit::settle`]).
    pub audit: Audit,
    /// Where each export's EMF metrics line goes (stdout in Lambda).
    pub metrics: Arc<dyn MetricsSink>,
}

/// The I/O behind an [`App`]: real (DynamoDB, S3, stdout) or in memory.
pub struct Backends {
    /// Where leads are read.
    pub store: Arc<dyn LeadStore>,
    /// The position checkpoints of bulk ranges.
    pub cursors: Arc<dyn CursorStore>,
    /// Where large exports are uploaded.
    pub objects: Arc<dyn ObjectStore>,
    /// Where audit records are written.
    pub audit_log: Arc<dyn AuditLog>,
    /// Where EMF metrics lines go.
    pub metrics: Arc<dyn MetricsSink>,
}

impl App {
    /// The app of `config` over `backends`: the one place an `App` is
    /// assembled.
    pub fn new(config: &Config, backends: Backends) -> App {
        App {
            auth: Authenticator::new(config.jwt.clone()),
            store: backends.store,
            cursors: backends.cursors,
            cursors_settle: crate::store::cursors::SETTLE_BOUND,
            cursors_save: crate::store::cursors::SAVE_BOUND,
            objects: backends.objects,
            inline_limit: inline_limit(config.inline_max_bytes),
            url_ttl: config.export_url_ttl,
            timeout: config.export_timeout,
            audit: Audit {
                log: backends.audit_log,
                retention_days: config.audit_retention_days,
            },
            metrics: backends.metrics,
        }
    }

    /// The app of `config` on DynamoDB and S3 (clients built once), metrics
    /// on stdout.
    pub async fn from_config(config: &Config) -> App {
        let (dynamodb, s3) = crate::aws::clients(config).await;
        App::from_clients(config, dynamodb, s3)
    }

    /// The app of `config` on these DynamoDB and S3 clients, metrics on
    /// stdout (for a binary that builds other clients from the same SDK
    /// configuration).
    pub fn from_clients(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
    ) -> App {
        App::new(
            config,
            Backends {
                store: Arc::new(DynamoStore::new(dynamodb.clone(), &config.leads_table)),
                cursors: Arc::new(DynamoCursors::new(dynamodb.clone(), &config.cursors_table)),
                objects: Arc::new(S3Objects::new(s3, &config.exports_bucket)),
                audit_log: Arc::new(DynamoAuditLog::new(dynamodb, &config.audit_table)),
                metrics: Arc::new(StdoutMetrics),
            },
        )
    }
}
