//! Where leads are read from: the `LeadStore` trait, with a DynamoDB
//! implementation and an in-memory one (tests, benchmarks).

use std::collections::BTreeSet;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::TryStreamExt;

use crate::auth::OrgId;
use crate::error::{ExportError, FaultKind};
use crate::filters::CompiledFilter;
use crate::model::Lead;

pub mod cursors;
pub mod dynamodb;
pub mod expression;
pub mod memory;

pub use cursors::{CursorStore, DynamoCursors, MemoryCursors, Positions, Start, Tally};
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

impl From<crate::error::Fault> for StoreError {
    fn from(fault: crate::error::Fault) -> Self {
        StoreError {
            kind: fault.kind,
            message: fault.message,
        }
    }
}

impl From<StoreError> for ExportError {
    /// Transient → 503, anything else → 500.
    fn from(err: StoreError) -> Self {
        ExportError::from_fault(err.kind, &err)
    }
}

/// Leads as they arrive from the store, a page (or chunk) at a time.
pub type LeadPages<'a> = BoxStream<'a, Result<Vec<Lead>, StoreError>>;

/// One completed read of some ids: the ids asked (each decided by this
/// chunk) and the leads of the organization found among them, in any order.
#[derive(Debug, Default, Clone)]
pub struct Chunk {
    /// The ids this chunk looked up.
    pub ids: Vec<String>,
    /// The leads of the organization among `ids`.
    pub leads: Vec<Lead>,
}

/// Chunks of a lookup by id, in the order they complete.
pub type Chunks<'a> = BoxStream<'a, Result<Chunk, StoreError>>;

/// Reads an organization's leads. Implementations never return a lead of
/// another organization. Reads are streams: leads are handed out as they
/// arrive, so that nobody has to hold a whole selection.
#[async_trait]
pub trait LeadStore: Send + Sync {
    /// The leads of `org` among `ids`, as chunks of ids complete (in any
    /// order); each id is asked once, in exactly one chunk; ids that are not
    /// leads of `org` are in a chunk's `ids` but not in its `leads`.
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a>;

    /// The leads of `org` that `filter` matches, at positions
    /// `[skip, skip + take)` in ascending lead id order, page by page.
    fn find_range<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
    ) -> LeadPages<'a>;

    /// [`LeadStore::find_range`] read from `from` (a checkpoint at or
    /// before `skip`: `from.position` matches lie up to and including the
    /// lead `from.after`), telling `tally` of each match read (its position
    /// and id). A store that cannot start mid-way reads from the first key
    /// (the default).
    #[allow(clippy::too_many_arguments)]
    fn find_range_from<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
        tally: Tally,
    ) -> LeadPages<'a> {
        let _ = (from, tally);
        self.find_range(org, filter, skip, take, attributes)
    }

    /// All of [`LeadStore::get_many`] at once, in any order (tools, tests).
    async fn get_all(
        &self,
        org: &OrgId,
        ids: &[String],
        attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError> {
        let chunks: Vec<Chunk> = self.get_many(org, ids, attributes).try_collect().await?;
        Ok(chunks.into_iter().flat_map(|c| c.leads).collect())
    }

    /// All of [`LeadStore::find_range`] at once, in order (tools, tests).
    async fn find_all(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError> {
        let pages: Vec<Vec<Lead>> = self
            .find_range(org, filter, skip, take, attributes)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }
}

/// `ids` without repeats, first occurrences kept in order.
pub fn unique_in_order(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}
