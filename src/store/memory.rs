//! An in-memory `LeadStore`: the reference semantics, for tests and benchmarks.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use futures::StreamExt;

use super::segments::{self, Bounds, SegmentPage};
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

    /// Walks the matches after `from.after` (from the first lead without
    /// one), counting positions from `from.position`, up to the
    /// `skip + take`-th match; `tally` hears of each.
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
        let all = self.leads.read().expect("lock poisoned");
        let mut leads = Vec::new();
        if let Some(partition) = all.get(org.as_str()) {
            let lower = match &from.after {
                Some(id) => Bound::Excluded(id.clone()),
                None => Bound::Unbounded,
            };
            let mut position = from.position;
            for lead in partition
                .range((lower, Bound::Unbounded))
                .map(|(_, lead)| lead)
                .filter(|lead| filter.matches(lead))
            {
                if position >= needed {
                    break;
                }
                if position >= skip {
                    leads.push(lead.clone());
                }
                position += 1;
                tally.matched(position, &lead.id);
            }
        }
        let pages: Vec<Batch> = leads
            .chunks(MEMORY_CHUNK)
            .map(|page| Batch::from(page.to_vec()))
            .collect();
        futures::stream::iter(pages.into_iter().map(Ok)).boxed()
    }
}
