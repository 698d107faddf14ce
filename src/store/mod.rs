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
pub mod doc;
pub mod dynamodb;
pub mod expression;
pub mod memory;
pub mod packed;
pub mod segments;
pub mod split;
pub mod wire;

pub use cursors::{CursorStore, DynamoCursors, MemoryCursors, Positions, Start, Tally};
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;
pub use segments::Progress;

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

/// Why a stored item of the organization could not be read into a lead.
/// Its label is all the log says of the item's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemFault {
    /// `doc` is not JSON (cut short, not text a parser accepts) or not a
    /// JSON object.
    BadJson,
    /// `d` is binary but not a packed document (`store::packed`): another
    /// format byte, cut short, an unknown member, text that is not UTF-8.
    BadPacked,
    /// A value of the wrong type: in `doc` (a string where a list is due,
    /// `null` for a name, ...), `doc` itself not a string, an attribute of
    /// the earlier layout, or the `leadId` key not a string.
    WrongType,
    /// Something the lead needs is missing: the `leadId` key, or a member
    /// that the document requires.
    MissingKey,
    /// The search attributes were written by a version this reader does
    /// not know (`s_v` other than the current version, when present).
    UnknownVersion,
}

impl ItemFault {
    /// `bad_json`, `bad_packed`, `wrong_type`, `missing_key` or
    /// `unknown_version`.
    pub fn label(self) -> &'static str {
        match self {
            ItemFault::BadJson => "bad_json",
            ItemFault::BadPacked => "bad_packed",
            ItemFault::WrongType => "wrong_type",
            ItemFault::MissingKey => "missing_key",
            ItemFault::UnknownVersion => "unknown_version",
        }
    }
}

/// A stored item of the organization that could not be read into a lead:
/// the export goes on without it. Holds no stored value but the lead id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The item's `leadId`, when it has one.
    pub id: Option<String>,
    /// What is wrong with it.
    pub fault: ItemFault,
    /// Where in `doc` the JSON parser stopped (line, column), for a fault
    /// found there.
    pub at: Option<(usize, usize)>,
}

impl Skipped {
    /// An item without a position in `doc`.
    pub fn new(id: Option<String>, fault: ItemFault) -> Self {
        Skipped {
            id,
            fault,
            at: None,
        }
    }
}

/// A page of leads as they arrive from the store, with the items of the
/// same read that could not be read into a lead.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// The leads, in the order of the read.
    pub leads: Vec<Lead>,
    /// The items skipped.
    pub skipped: Vec<Skipped>,
}

impl From<Vec<Lead>> for Batch {
    fn from(leads: Vec<Lead>) -> Self {
        Batch {
            leads,
            skipped: Vec::new(),
        }
    }
}

/// How far a walk toward a range's start got ([`LeadStore::walk`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walked {
    /// Pages read.
    pub pages: u32,
    /// The walk reached the start, or the partition's end (the range starts
    /// where the walk stopped, or is empty).
    pub done: bool,
}

/// Leads as they arrive from the store, a page (or chunk) at a time.
pub type LeadPages<'a> = BoxStream<'a, Result<Batch, StoreError>>;

/// One completed read of some ids: the ids asked (each decided by this
/// chunk) and the leads of the organization found among them, in any order.
#[derive(Debug, Default, Clone)]
pub struct Chunk {
    /// The ids this chunk looked up.
    pub ids: Vec<String>,
    /// The leads of the organization among `ids`.
    pub leads: Vec<Lead>,
    /// The items of the organization among `ids` that could not be read.
    pub skipped: Vec<Skipped>,
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
    /// leads of `org` are in a chunk's `ids` but not in its `leads`; an
    /// item of `org` that cannot be read into a lead is in its `skipped`.
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a>;

    /// The leads of `org` that `filter` matches, at positions
    /// `[skip, skip + take)` in ascending lead id order, page by page. An
    /// item that cannot be read into a lead keeps its position (when the
    /// store cannot rule out that it matches) and is handed out in a
    /// page's `skipped`: the range is not backfilled.
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

    /// Reads the matches of `filter` from `from` toward the position `skip`
    /// one page after another, as [`LeadStore::find_range_from`] reads the
    /// pages before its range, at most `pages` pages, and stops at the
    /// `skip`-th match (its range is not read). `tally` hears of every match
    /// read, so its last match is where the walk got. A store that cannot
    /// walk reads nothing (the default).
    #[allow(clippy::too_many_arguments)]
    fn walk<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        pages: u32,
        tally: Tally,
    ) -> futures::future::BoxFuture<'a, Result<Walked, StoreError>> {
        let _ = (org, filter, from, skip, pages, tally);
        Box::pin(async { Ok(Walked::default()) })
    }

    /// Counts the matches of `filter` in the key segments of `org`'s
    /// partition ([`segments`]), in parallel, into `progress` (which may
    /// hold the counts of an earlier request), until the position `skip`
    /// is located ([`Progress::locates`]) or every segment is counted. A
    /// store that cannot count segments counts nothing (the default): the
    /// range is then walked from its nearest checkpoint.
    fn locate<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        progress: &'a Progress,
    ) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
        let _ = (org, filter, skip, progress);
        Box::pin(async { Ok(()) })
    }

    /// All of [`LeadStore::get_many`] at once, in any order, without the
    /// skipped items (tools, tests).
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
        let pages: Vec<Batch> = self
            .find_range(org, filter, skip, take, attributes)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flat_map(|b| b.leads).collect())
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
