//! An in-memory `LeadStore`: the reference semantics, for tests and benchmarks.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use futures::{StreamExt, TryStreamExt};

use super::segments::{self, Bounds, SegmentPage};
use super::split::{self, Entry, PiecePage, Plan};
use super::{
    unique_in_order, Attributes, Batch, Chunk, Chunks, LeadPages, LeadStore, Progress, Start,
    StoreError, Tally, Walked,
};
use crate::auth::OrgId;
use crate::filters::CompiledFilter;
use crate::model::Lead;

/// Leads keyed by organization, then by id (ascending, like the table's sort key).
#[derive(Default)]
pub struct MemoryStore {
    leads: RwLock<BTreeMap<String, BTreeMap<String, Lead>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces leads of `org`.
    pub fn insert(&self, org: &str, leads: impl IntoIterator<Item = Lead>) {
        let mut all = self.leads.write().expect("lock poisoned");
        let partition = all.entry(org.to_string()).or_default();
        for lead in leads {
            partition.insert(lead.id.clone(), lead);
        }
    }
}

/// Items read (before the filter) per page of a segment's count: small, so
/// that the tests' few hundred leads take several pages.
pub const MEMORY_SEGMENT_PAGE: usize = 7;

impl MemoryStore {
    /// One page of a segment's count: up to [`MEMORY_SEGMENT_PAGE`] leads
    /// within `bounds` after `resume`.
    fn segment_page(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        bounds: &Bounds,
        resume: Option<String>,
    ) -> SegmentPage {
        let all = self.leads.read().expect("lock poisoned");
        let mut page = SegmentPage::default();
        let Some(partition) = all.get(org.as_str()) else {
            return page;
        };
        let lower = match resume.or_else(|| bounds.after.clone()) {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let upper = match &bounds.upto {
            Some(key) => Bound::Included(key.clone()),
            None => Bound::Unbounded,
        };
        let mut last = None;
        for (read, (id, lead)) in partition.range((lower, upper)).enumerate() {
            if read == MEMORY_SEGMENT_PAGE {
                page.resume = last;
                return page;
            }
            last = Some(id.clone());
            if filter.matches(lead) {
                page.matches.push(Some(id.clone()));
            }
        }
        page
    }

    /// One page of a piece of a range ([`split::read_pieces`]): up to
    /// [`MEMORY_SEGMENT_PAGE`] leads within `bounds` after `resume`, the
    /// matches of `filter` among them.
    fn piece_page(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        bounds: &Bounds,
        resume: Option<String>,
    ) -> PiecePage {
        let (leads, resume) = self.page_after(
            org,
            resume.as_deref().or(bounds.after.as_deref()),
            bounds.upto.as_deref(),
        );
        PiecePage {
            scanned: leads.len() as u64,
            entries: leads
                .into_iter()
                .filter(|lead| filter.matches(lead))
                .map(Entry::Lead)
                .collect(),
            resume,
            ..PiecePage::default()
        }
    }

    /// Up to [`MEMORY_SEGMENT_PAGE`] leads of `org` after the key `after`
    /// (from the first without one) up to and including `upto`, and the
    /// last key read when more follow (as a `LastEvaluatedKey`).
    fn page_after(
        &self,
        org: &OrgId,
        after: Option<&str>,
        upto: Option<&str>,
    ) -> (Vec<Lead>, Option<String>) {
        let all = self.leads.read().expect("lock poisoned");
        let Some(partition) = all.get(org.as_str()) else {
            return (Vec::new(), None);
        };
        let lower = match after {
            Some(key) => Bound::Excluded(key.to_string()),
            None => Bound::Unbounded,
        };
        let upper = match upto {
            Some(key) => Bound::Included(key.to_string()),
            None => Bound::Unbounded,
        };
        let mut range = partition.range((lower, upper));
        let leads: Vec<Lead> = range
            .by_ref()
            .take(MEMORY_SEGMENT_PAGE)
            .map(|(_, lead)| lead.clone())
            .collect();
        let more = range.next().is_some();
        let resume = if more {
            leads.last().map(|lead| lead.id.clone())
        } else {
            None
        };
        (leads, resume)
    }
}

/// Ids per chunk of [`MemoryStore::get_many`] and leads per page of
/// [`MemoryStore::find_range`] (the sizes DynamoDB's BatchGetItem allows).
pub const MEMORY_CHUNK: usize = 100;

impl LeadStore for MemoryStore {
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        _attributes: &'a Attributes,
    ) -> Chunks<'a> {
        let chunks: Vec<Vec<String>> = unique_in_order(ids)
            .chunks(MEMORY_CHUNK)
            .map(<[_]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(move |ids| {
                let all = self.leads.read().expect("lock poisoned");
                let leads = all
                    .get(org.as_str())
                    .map(|partition| {
                        ids.iter()
                            .filter_map(|id| partition.get(id).cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Chunk {
                    ids,
                    leads,
                    skipped: Vec::new(),
                })
            })
            .boxed()
    }

    fn find_range<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &'a Attributes,
    ) -> LeadPages<'a> {
        self.find_range_from(
            org,
            filter,
            Start::default(),
            skip,
            take,
            attributes,
            Tally::new(),
        )
    }

    fn locate<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        progress: &'a Progress,
    ) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(segments::locate(
            move |_, bounds, resume| {
                let page = self.segment_page(org, filter, &bounds, resume);
                async move { Ok(page) }
            },
            progress,
            skip,
        ))
    }

    /// Walks pages of [`MEMORY_SEGMENT_PAGE`] leads after `from.after`
    /// (from the first lead without one) up to the `skip`-th match.
    fn walk<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        pages: u32,
        tally: Tally,
    ) -> futures::future::BoxFuture<'a, Result<Walked, StoreError>> {
        let all = self.leads.read().expect("lock poisoned");
        let mut walked = Walked::default();
        let mut position = from.position;
        if let Some(partition) = all.get(org.as_str()) {
            let lower = match &from.after {
                Some(id) => Bound::Excluded(id.clone()),
                None => Bound::Unbounded,
            };
            let mut leads = partition.range((lower, Bound::Unbounded)).peekable();
            while position < skip && walked.pages < pages {
                walked.pages += 1;
                for (_, lead) in leads.by_ref().take(MEMORY_SEGMENT_PAGE) {
                    if filter.matches(lead) {
                        position += 1;
                        tally.matched(position, &lead.id);
                        if position == skip {
                            break;
                        }
                    }
                }
                if leads.peek().is_none() {
                    walked.done = true;
                    break;
                }
            }
        } else {
            walked.done = true;
        }
        walked.done |= position >= skip;
        Box::pin(async move { Ok(walked) })
    }

    /// Reads the leads after `from.after` (from the first lead without
    /// one) in pages of [`MEMORY_SEGMENT_PAGE`] leads, counting the matches
    /// from `from.position`, up to the `skip + take`-th match; `tally`
    /// hears of each. Once in the range, a page after which the rest of the
    /// range is more than a few pages away ([`split::worth_splitting`])
    /// hands the rest to [`split::read_pieces`], as the DynamoDB store
    /// does.
    fn find_range_from<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        _attributes: &'a Attributes,
        tally: Tally,
    ) -> LeadPages<'a> {
        let needed = skip.saturating_add(take);
        Box::pin(async_stream::try_stream! {
            let mut position = from.position;
            let mut after = from.after.clone();
            let (mut scanned, mut accepted) = (0u64, 0u64);
            let mut plan = None;
            while position < needed {
                let page_start = after.clone();
                let (leads, resume) = self.page_after(org, page_start.as_deref(), None);
                scanned += leads.len() as u64;
                let page_items = leads.len() as u64;
                let mut batch = Batch::default();
                for lead in leads {
                    if position >= needed {
                        break;
                    }
                    if !filter.matches(&lead) {
                        continue;
                    }
                    accepted += 1;
                    position += 1;
                    tally.matched(position, &lead.id);
                    if position > skip {
                        batch.leads.push(lead);
                    }
                }
                if !batch.leads.is_empty() {
                    yield batch;
                }
                let Some(end) = resume else { break };
                if position >= skip
                    && split::worth_splitting(needed - position, accepted, scanned, page_items)
                {
                    plan = Plan::after_page(
                        page_start.as_deref(),
                        &end,
                        page_items,
                        accepted,
                        scanned,
                    );
                    if plan.is_some() {
                        break;
                    }
                }
                after = Some(end);
            }
            if let Some(plan) = plan.filter(|_| position < needed) {
                let mut pieces = std::pin::pin!(split::read_pieces(
                    move |bounds, resume| {
                        let page = self.piece_page(org, filter, &bounds, resume);
                        async move { Ok(page) }
                    },
                    plan,
                    needed - position
                ));
                while let Some((entries, _)) = pieces.try_next().await? {
                    yield split::in_order(entries, &mut position, &tally);
                }
            }
        })
    }
}
