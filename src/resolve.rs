//! Selection semantics: which leads an export holds, and in which order,
//! handed out as they arrive from the store.

use std::collections::{HashMap, HashSet};

use async_stream::try_stream;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::auth::OrgId;
use crate::model::Lead;
use crate::request::{BulkSelection, Selection};
use crate::store::segments::still_far;
use crate::store::{
    Attributes, Batch, Chunk, LeadPages, LeadStore, Positions, Progress, Skipped, Start,
    StoreError, Tally, Walked,
};

/// The leads of `selection`, in export order, reading only `attributes`
/// (plus what the filter needs), as a stream of batches released as soon
/// as the order allows.
///
/// - manual: the given ids in order, each once, ids that are not leads of
///   `org` skipped; a lead is released once it and every earlier id are
///   decided (found, or known absent), so only what the order must wait
///   for is held;
/// - bulk: the matching leads at `[start, start + count)` in ascending id
///   order, page by page, minus `excluded` (no backfill), then `included`
///   in order, skipping ids already present or excluded and ids that are
///   not leads of `org`. The included ids are read alongside the range and
///   released when the range has ended. With `positions`, the range is read
///   from the nearest position checkpoint of the filter at or before
///   `start` (located first by counting the key segments in parallel when
///   that checkpoint is far: [`LeadStore::locate`]), and what the read
///   learned is saved when the range has ended, or when the answer is
///   settled if it did not (`docs/scale.md`); the exclusions and inclusions
///   do not change positions.
///
/// Items of `org` the store could not read into a lead are handed out in
/// the batches' `skipped` as they are met, each once (an id both in the
/// range and included is reported once), and never when excluded; a
/// skipped item of the range keeps its position (no backfill).
pub fn resolve<'a>(
    store: &'a dyn LeadStore,
    positions: Option<&'a Positions>,
    org: &'a OrgId,
    selection: &'a Selection,
    attributes: &'a Attributes,
) -> LeadPages<'a> {
    match selection {
        Selection::Manual { ids } => Box::pin(try_stream! {
            let mut order = InOrder::new(ids);
            let mut chunks = store.get_many(org, ids, attributes);
            while let Some(mut chunk) = chunks.try_next().await? {
                let skipped = std::mem::take(&mut chunk.skipped);
                order.add(chunk);
                let leads = order.release(|_| true);
                if !leads.is_empty() || !skipped.is_empty() {
                    yield Batch { leads, skipped };
                }
            }
            let rest = order.flush(|_| true);
            if !rest.is_empty() {
                yield Batch::from(rest);
            }
        }),
        Selection::Bulk(bulk) => resolve_bulk(store, positions, org, bulk, attributes),
    }
}

/// All the leads of `selection` at once (tools, tests): [`resolve`]
/// collected, without the skipped items.
pub async fn resolve_all(
    store: &dyn LeadStore,
    org: &OrgId,
    selection: &Selection,
    attributes: &Attributes,
) -> Result<Vec<Lead>, StoreError> {
    let pages: Vec<Batch> = resolve(store, None, org, selection, attributes)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flat_map(|b| b.leads).collect())
}

/// What the bulk resolution waits on: a range page, the range's end, or a
/// chunk of the included ids.
enum Event {
    Page(Batch),
    RangeDone,
    Included(Chunk),
}

fn resolve_bulk<'a>(
    store: &'a dyn LeadStore,
    positions: Option<&'a Positions>,
    org: &'a OrgId,
    bulk: &'a BulkSelection,
    attributes: &'a Attributes,
) -> LeadPages<'a> {
    Box::pin(try_stream! {
        let fingerprint = positions.map(|_| bulk.filter.fingerprint());
        let (loaded, from) = match (positions, &fingerprint) {
            (Some(positions), Some(fingerprint)) => {
                positions.load(org, fingerprint, bulk.start).await
            }
            _ => (None, Start::default()),
        };
        let tally = Tally::starting_at(bulk.start);
        let progress = Progress::from_marks(
            &loaded.as_ref().map(|l| l.segments.clone()).unwrap_or_default(),
        );
        if let (Some(positions), Some(fingerprint), Some(loaded)) =
            (positions, &fingerprint, &loaded)
        {
            positions.track(org, fingerprint, loaded.clone(), &tally, &progress);
        }
        let wanted: Vec<&String> = bulk
            .included
            .iter()
            .filter(|id| !bulk.excluded.contains(*id))
            .collect();
        let mut order = InOrder::new(wanted.iter().copied());
        let near = positions.map(Positions::near);
        let walk_pages = positions.map_or(0, Positions::walk_pages);
        let range = try_stream! {
            let mut from = from;
            // Far from its nearest checkpoint, the range is walked toward a
            // few pages first (a small organization is past its start by
            // then), and only when it is still far located by counting the
            // key segments in parallel from where the walk got (what they
            // count is kept, for this read's start and for the next
            // requests).
            if let Some(near) = near.filter(|&near| bulk.start - from.position >= near) {
                // Segments counted before for this filter and data version:
                // the organization was found large enough to count, and a
                // walk would read again what their marks hold.
                let walked = if progress.is_empty() {
                    store
                        .walk(org, &bulk.filter, from.clone(), bulk.start, walk_pages, tally.clone())
                        .await?
                } else {
                    Walked::default()
                };
                let before = from.position;
                if let Some((position, id)) = tally.learned().end {
                    if position > from.position && position <= bulk.start {
                        from = Start { position, after: Some(id) };
                    }
                }
                let far = !walked.done
                    && still_far(bulk.start - from.position, near, walked.pages, from.position - before);
                if far {
                    progress.start_at(&from);
                }
                let count = async {
                    if far {
                        store.locate(org, &bulk.filter, bulk.start, &progress).await
                    } else {
                        Ok(())
                    }
                };
                match positions.and_then(Positions::count_until) {
                    None => count.await?,
                    Some(stop) => match tokio::time::timeout_at(stop, count).await {
                        Ok(counted) => counted?,
                        Err(_) => {
                            // Out of time: what was counted is saved now,
                            // while the answer (a 504) waits for its cut.
                            if let Some(positions) = positions {
                                positions.save_progress();
                            }
                            futures::future::pending::<()>().await;
                        }
                    },
                }
                let mut known = loaded.clone().unwrap_or_default();
                known.absorb(&progress);
                let counted = known.start_for(bulk.start);
                if counted.position > from.position {
                    from = counted;
                }
            }
            let mut pages = store.find_range_from(
                org,
                &bulk.filter,
                from,
                bulk.start,
                bulk.count,
                attributes,
                tally.clone(),
            );
            while let Some(page) = pages.try_next().await? {
                yield Event::Page(page);
            }
            yield Event::RangeDone;
        }
        .boxed();
        let included = if bulk.included.is_empty() {
            stream::empty().boxed()
        } else {
            store
                .get_many(org, &bulk.included, attributes)
                .map_ok(Event::Included)
                .boxed()
        };
        // Both are read concurrently; the range is handed out page by page.
        let mut events = stream::select(range, included);
        // Included ids that the range holds.
        let mut present: HashSet<String> = HashSet::new();
        // Ids of the skipped items reported so far.
        let mut reported: HashSet<String> = HashSet::new();
        let mut report = |skipped: Vec<Skipped>| -> Vec<Skipped> {
            skipped
                .into_iter()
                .filter(|s| match &s.id {
                    Some(id) => !bulk.excluded.contains(id) && reported.insert(id.clone()),
                    None => true,
                })
                .collect()
        };
        let mut range_done = false;
        while let Some(event) = events.try_next().await? {
            let mut skipped = Vec::new();
            let ready: Vec<Lead> = match event {
                Event::Page(page) => {
                    skipped = report(page.skipped);
                    page.leads
                    .into_iter()
                    .filter(|lead| !bulk.excluded.contains(&lead.id))
                    .inspect(|lead| {
                        if order.wants(&lead.id) {
                            present.insert(lead.id.clone());
                        }
                    })
                    .collect()
                }
                Event::RangeDone => {
                    range_done = true;
                    if let Some(positions) = positions {
                        positions.finish();
                    }
                    order.release(|lead| !present.contains(&lead.id))
                }
                Event::Included(mut chunk) => {
                    skipped = report(std::mem::take(&mut chunk.skipped));
                    order.add(chunk);
                    if range_done {
                        order.release(|lead| !present.contains(&lead.id))
                    } else {
                        Vec::new()
                    }
                }
            };
            if !ready.is_empty() || !skipped.is_empty() {
                yield Batch { leads: ready, skipped };
            }
        }
        let rest = order.flush(|lead| !present.contains(&lead.id));
        if !rest.is_empty() {
            yield Batch::from(rest);
        }
    })
}

/// Releases leads in the order of a list of ids as chunks of them are
/// decided: holds only the leads that wait for an earlier, undecided id.
struct InOrder {
    /// Position of each id (first occurrence). foldhash instead of the
    /// standard SipHash: each lead is looked up two or three times, and
    /// SipHash on these keys showed in the export's profile; the keys
    /// come from the client, so the hasher stays randomly seeded.
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Whether each position is decided (its chunk has completed).
    decided: Vec<bool>,
    /// Leads found and not yet released, by position.
    held: Vec<Option<Lead>>,
    /// How many of `held` are `Some`.
    holding: usize,
    /// The first position not yet released.
    next: usize,
}

impl InOrder {
    fn new<'s>(ids: impl IntoIterator<Item = &'s String>) -> Self {
        let ids = ids.into_iter();
        let mut index = HashMap::with_capacity_and_hasher(ids.size_hint().0, Default::default());
        for id in ids {
            let at = index.len();
            index.entry(id.clone()).or_insert(at);
        }
        InOrder {
            decided: vec![false; index.len()],
            held: std::iter::repeat_with(|| None).take(index.len()).collect(),
            holding: 0,
            index,
            next: 0,
        }
    }

    fn wants(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Records a completed chunk: its ids are decided, its leads held.
    fn add(&mut self, chunk: Chunk) {
        for id in &chunk.ids {
            if let Some(&at) = self.index.get(id) {
                self.decided[at] = true;
            }
        }
        for lead in chunk.leads {
            if let Some(&at) = self.index.get(&lead.id) {
                if at >= self.next && self.held[at].is_none() {
                    self.held[at] = Some(lead);
                    self.holding += 1;
                }
            }
        }
    }

    /// The held leads from the first unreleased position up to the first
    /// undecided one, those that `keep` accepts.
    fn release(&mut self, keep: impl Fn(&Lead) -> bool) -> Vec<Lead> {
        // Allocated at its size: growing it moved each lead (about 1 KB)
        // again, 0.6% of a manual export's samples in its profile.
        let end = self.decided[self.next..]
            .iter()
            .position(|d| !d)
            .map_or(self.decided.len(), |n| self.next + n);
        let ready = self.held[self.next..end].iter().flatten().count();
        let mut out = Vec::with_capacity(ready);
        while self.next < end {
            if let Some(lead) = self.held[self.next].take() {
                self.holding -= 1;
                if keep(&lead) {
                    out.push(lead);
                }
            }
            self.next += 1;
        }
        out
    }

    /// Everything still held, in order (the store has answered for all
    /// ids; an id it never reported is absent).
    fn flush(&mut self, keep: impl Fn(&Lead) -> bool) -> Vec<Lead> {
        self.decided.iter_mut().for_each(|d| *d = true);
        self.release(keep)
    }

    /// Leads held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.holding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters;
    use crate::store::MemoryStore;
    use std::collections::HashSet;

    fn lead(id: &str) -> Lead {
        Lead {
            id: id.into(),
            first_name: "F".into(),
            last_name: id.into(),
            ..Lead::default()
        }
    }

    fn store() -> MemoryStore {
        let s = MemoryStore::new();
        s.insert("a", ["l01", "l02", "l03", "l04", "l05", "l06"].map(lead));
        s.insert("b", ["l02", "l99"].map(lead));
        s
    }

    fn bulk(start: usize, count: usize, excluded: &[&str], included: &[&str]) -> Selection {
        let excluded: HashSet<String> = excluded.iter().map(|s| s.to_string()).collect();
        Selection::Bulk(BulkSelection {
            start,
            count,
            filter: filters::compile(&serde_json::json!({})).unwrap(),
            included: included
                .iter()
                .map(|s| s.to_string())
                .filter(|s| !excluded.contains(s))
                .collect(),
            excluded,
        })
    }

    async fn ids(org: &str, selection: Selection) -> Vec<String> {
        let org = OrgId::new(org).unwrap();
        resolve_all(&store(), &org, &selection, &Attributes::new())
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect()
    }

    #[tokio::test]
    async fn manual_keeps_the_given_order_and_skips_foreign_ids() {
        let sel = Selection::Manual {
            ids: vec!["l03".into(), "l99".into(), "l01".into(), "nope".into()],
        };
        assert_eq!(ids("a", sel.clone()).await, ["l03", "l01"]);
        assert_eq!(ids("b", sel).await, ["l99"]);
    }

    #[tokio::test]
    async fn bulk_range_exclusions_have_no_backfill() {
        assert_eq!(ids("a", bulk(1, 3, &[], &[])).await, ["l02", "l03", "l04"]);
        assert_eq!(ids("a", bulk(1, 3, &["l03"], &[])).await, ["l02", "l04"]);
    }

    #[tokio::test]
    async fn bulk_inclusions_come_after_the_range_once() {
        let got = ids(
            "a",
            bulk(0, 2, &["l05"], &["l06", "l01", "l05", "l99", "l04"]),
        )
        .await;
        assert_eq!(got, ["l01", "l02", "l06", "l04"]);
    }

    #[tokio::test]
    async fn a_range_past_the_end_is_empty() {
        assert!(ids("a", bulk(6, 10, &[], &[])).await.is_empty());
        assert!(ids("zzz", bulk(0, 10, &[], &[])).await.is_empty());
    }

    /// A store over `store()` whose lookups by id come back in chunks of 2
    /// ids, last chunk first; counts the leads it hands out.
    struct Reversed {
        inner: MemoryStore,
        handed: std::sync::Mutex<HashMap<String, usize>>,
    }

    impl Reversed {
        fn new() -> Self {
            Reversed {
                inner: store(),
                handed: Default::default(),
            }
        }
    }

    impl LeadStore for Reversed {
        fn get_many<'a>(
            &'a self,
            org: &'a OrgId,
            ids: &'a [String],
            attributes: &'a Attributes,
        ) -> crate::store::Chunks<'a> {
            Box::pin(try_stream! {
                let mut chunks = Vec::new();
                for ids in crate::store::unique_in_order(ids).chunks(2) {
                    let ids = ids.to_vec();
                    let leads = self.inner.get_all(org, &ids, attributes).await?;
                    chunks.push(Chunk { ids, leads, skipped: Vec::new() });
                }
                for chunk in chunks.into_iter().rev() {
                    for lead in &chunk.leads {
                        *self.handed.lock().unwrap().entry(lead.id.clone()).or_default() += 1;
                    }
                    yield chunk;
                }
            })
        }

        fn find_range<'a>(
            &'a self,
            org: &'a OrgId,
            filter: &'a crate::filters::CompiledFilter,
            skip: usize,
            take: usize,
            attributes: &'a Attributes,
        ) -> LeadPages<'a> {
            self.inner.find_range(org, filter, skip, take, attributes)
        }
    }

    #[tokio::test]
    async fn manual_order_holds_only_what_waits_for_an_earlier_chunk() {
        let store = Reversed::new();
        let org = OrgId::new("a").unwrap();
        let sel = Selection::Manual {
            ids: ["l05", "l01", "nope", "l03", "l01", "l99", "l02", "l06"]
                .map(String::from)
                .to_vec(),
        };
        let attrs = Attributes::new();
        let mut pages = resolve(&store, None, &org, &sel, &attrs);
        let mut got = Vec::new();
        while let Some(page) = pages.try_next().await.unwrap() {
            got.push(page.leads.into_iter().map(|l| l.id).collect::<Vec<_>>());
        }
        // Chunks [l05 l01] [nope l03] [l99 l02] [l06] arrive last first:
        // nothing can go before the first chunk, then everything at once.
        assert_eq!(got, [vec!["l05", "l01", "l03", "l02", "l06"]]);
        let handed = store.handed.lock().unwrap();
        assert!(handed.values().all(|n| *n == 1), "{handed:?}");
        assert_eq!(handed.len(), 5);
    }

    #[test]
    fn in_order_releases_each_lead_once_its_predecessors_are_decided() {
        let ids: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let mut order = InOrder::new(&ids);
        let chunk = |ids: &[&str], found: &[&str]| Chunk {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            leads: found.iter().map(|id| lead(id)).collect(),
            skipped: Vec::new(),
        };
        let names = |leads: Vec<Lead>| leads.into_iter().map(|l| l.id).collect::<Vec<_>>();
        order.add(chunk(&["d", "e"], &["d", "e"]));
        assert!(order.release(|_| true).is_empty());
        assert_eq!(order.held(), 2, "d and e wait for a, b, c");
        order.add(chunk(&["a"], &[]));
        assert!(order.release(|_| true).is_empty(), "a is absent");
        order.add(chunk(&["b", "c"], &["c", "b"]));
        assert_eq!(names(order.release(|_| true)), ["b", "c", "d", "e"]);
        assert_eq!(order.held(), 0);
        assert!(order.flush(|_| true).is_empty());
    }

    /// `store()`, where the leads `l02` and `l05` of `a` are unreadable:
    /// reported as skipped where they are met, keeping their positions.
    struct Unreadable(MemoryStore);

    impl Unreadable {
        fn split(leads: Vec<Lead>) -> Batch {
            let (bad, leads): (Vec<Lead>, Vec<Lead>) = leads
                .into_iter()
                .partition(|l| ["l02", "l05"].contains(&l.id.as_str()));
            Batch {
                leads,
                skipped: bad
                    .into_iter()
                    .map(|l| Skipped::new(Some(l.id), crate::store::ItemFault::BadJson))
                    .collect(),
            }
        }
    }

    impl LeadStore for Unreadable {
        fn get_many<'a>(
            &'a self,
            org: &'a OrgId,
            ids: &'a [String],
            attributes: &'a Attributes,
        ) -> crate::store::Chunks<'a> {
            Box::pin(self.0.get_many(org, ids, attributes).map_ok(|chunk| {
                let batch = Self::split(chunk.leads);
                Chunk {
                    ids: chunk.ids,
                    leads: batch.leads,
                    skipped: batch.skipped,
                }
            }))
        }

        fn find_range<'a>(
            &'a self,
            org: &'a OrgId,
            filter: &'a crate::filters::CompiledFilter,
            skip: usize,
            take: usize,
            attributes: &'a Attributes,
        ) -> LeadPages<'a> {
            Box::pin(
                self.0
                    .find_range(org, filter, skip, take, attributes)
                    .map_ok(|page| Self::split(page.leads)),
            )
        }
    }

    /// The ids of the leads and of the skipped items of `selection`.
    async fn with_skipped(selection: Selection) -> (Vec<String>, Vec<String>) {
        let store = Unreadable(store());
        let org = OrgId::new("a").unwrap();
        let attrs = Attributes::new();
        let pages: Vec<Batch> = resolve(&store, None, &org, &selection, &attrs)
            .try_collect()
            .await
            .unwrap();
        let leads = pages.iter().flat_map(|b| &b.leads).map(|l| l.id.clone());
        let skipped = pages.iter().flat_map(|b| &b.skipped);
        (
            leads.collect(),
            skipped.map(|s| s.id.clone().unwrap()).collect(),
        )
    }

    #[tokio::test]
    async fn skipped_items_are_reported_once_and_never_when_excluded() {
        let manual = Selection::Manual {
            ids: ["l05", "l01", "l02", "l03", "l05"]
                .map(String::from)
                .to_vec(),
        };
        assert_eq!(
            with_skipped(manual).await,
            (
                vec!["l01".into(), "l03".into()],
                vec!["l05".into(), "l02".into()]
            )
        );
        // The store keeps l02's position in the range [0, 3): l01 l02 l03.
        assert_eq!(
            with_skipped(bulk(0, 3, &[], &[])).await,
            (vec!["l01".into(), "l03".into()], vec!["l02".into()])
        );
        // l02 in the range and included: once; l05 excluded: not at all.
        let (leads, skipped) = with_skipped(bulk(0, 3, &["l05"], &["l02", "l05", "l06"])).await;
        assert_eq!(leads, ["l01", "l03", "l06"]);
        assert_eq!(skipped, ["l02"]);
        let (leads, skipped) = with_skipped(bulk(0, 6, &["l02"], &["l05"])).await;
        assert_eq!(leads, ["l01", "l03", "l04", "l06"]);
        assert_eq!(skipped, ["l05"]);
    }

    #[tokio::test]
    async fn bulk_inclusions_read_out_of_order_still_come_after_the_range_in_order() {
        let store = Reversed::new();
        let org = OrgId::new("a").unwrap();
        let sel = bulk(0, 2, &["l05"], &["l06", "l01", "l05", "l99", "l04", "l03"]);
        let got: Vec<String> = resolve_all(&store, &org, &sel, &Attributes::new())
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(got, ["l01", "l02", "l06", "l04", "l03"]);
    }
}
