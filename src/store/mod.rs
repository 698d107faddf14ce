//! Where leads are read from: the `LeadStore` trait, with a DynamoDB
//! implementation and an in-memory one (tests, benchmarks).

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::auth::OrgId;
use crate::error::{ExportError, FaultKind};
use crate::filters::CompiledFilter;
use crate::model::Lead;

pub mod dynamodb;
pub mod expression;
pub mod memory;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod fault_injection;

pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

/// The top-level lead attributes a read must return (a projection). The id is
/// always returned.
pub type Attributes = BTreeSet<&'static str>;

/// A failure of the backing store: whether a retry may help, and a message
/// for the log only.
#[derive(Debug, thiserror::Error)]
#[error("lead store: {message}")]
pub struct StoreError {
    /// Transient (throttling, timeout, 5xx, unprocessed keys) or not.
    pub kind: FaultKind,
    /// What failed, for the log.
    pub message: String,
}

impl StoreError {
    /// A failure a retry will not fix.
    pub fn other(message: impl Into<String>) -> Self {
        StoreError {
            kind: FaultKind::Other,
            message: message.into(),
        }
    }

    /// A failure that may pass when retried later.
    pub fn transient(message: impl Into<String>) -> Self {
        StoreError {
            kind: FaultKind::Transient,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ExportError {
    /// Transient → 503, anything else → 500.
    fn from(err: StoreError) -> Self {
        ExportError::from_fault(err.kind, &err)
    }
}

/// Reads an organization's leads. Implementations never return a lead of
/// another organization.
#[async_trait]
pub trait LeadStore: Send + Sync {
    /// The leads of `org` among `ids`, in any order; ids that are not leads of
    /// `org` are absent from the result.
    async fn get_many(
        &self,
        org: &OrgId,
        ids: &[String],
        attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError>;

    /// The leads of `org` that `filter` matches, at positions
    /// `[skip, skip + take)` in ascending lead id order.
    async fn find_range(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError>;
}
