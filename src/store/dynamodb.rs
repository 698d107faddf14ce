//! The DynamoDB `LeadStore`: table `LEADS_TABLE`, partition key `orgId`, sort
//! key `leadId`. An item holds the lead document packed
//! ([`super::packed`]) in one binary attribute, [`COMPACT_DOC_ATTR`],
//! beside the normalized search attributes of `filters::search_attributes`
//! (`s_v` 2). Items of the earlier layouts still read: the document as
//! JSON text with one-character keys in [`COMPACT_DOC_ATTR`]
//! ([`json_text_item`]), the camelCase document in [`DOC_ATTR`] with the
//! search attributes of `s_v` 1 ([`previous_item`]), and the document as nested attributes
//! ([`legacy_item`]).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::{Stream, StreamExt, TryFutureExt, TryStreamExt};
use rand::Rng;

pub use super::doc::COMPACT_DOC_ATTR;
use super::expression::{projection, render_filter, FilterExpr};
use super::segments::{self, Bounds, SegmentPage};
use super::split::{self, Entry, PiecePage, PieceStats, Plan};
use super::wire::{self, WireItem};
use super::{
    unique_in_order, Attributes, Batch, Chunk, Chunks, ItemFault, LeadPages, LeadStore, Progress,
    Skipped, Start, StoreError, Tally, Walked,
};
use crate::auth::OrgId;
use crate::aws::sdk_error;
use crate::error::FaultKind;
use crate::filters::{
    search_attributes, search_attributes_v1, CompiledFilter, Cond, SearchAttrs, SearchValue,
    SEARCH_VERSION, SEARCH_VERSION_ATTR,
};
use crate::model::Lead;

/// The attribute of the earlier layout holding the lead document (without
/// its `id`, which is the sort key) as camelCase JSON text; still read.
pub const DOC_ATTR: &str = "doc";

/// The search versions this reader knows: 2 (written today) and 1 (the
/// earlier layout: its items are decided by the Rust predicate alone).
pub const KNOWN_SEARCH_VERSIONS: [i64; 2] = [1, SEARCH_VERSION];

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Keys per BatchGetItem request (the service maximum).
pub const BATCH_GET_KEYS: usize = 100;
/// Items per BatchWriteItem request (the service maximum).
pub const BATCH_WRITE_ITEMS: usize = 25;
/// BatchGetItem requests in flight at once for one export.
const BATCH_GET_CONCURRENCY: usize = 16;
/// BatchWriteItem requests in flight at once in `put_leads`.
const BATCH_WRITE_CONCURRENCY: usize = 8;

/// Capped exponential backoff with full jitter, for unprocessed batch items.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay ceiling of the first retry.
    pub base: Duration,
    /// Largest delay ceiling.
    pub cap: Duration,
    /// Calls made before giving up (the first one included).
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// A random delay in `[0, min(cap, base * 2^(retry-1))]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// What a bulk Query read, for logs and the efficiency benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueryStats {
    /// Query calls made.
    pub pages: u32,
    /// Items DynamoDB returned (sum of `Count`), after its FilterExpression.
    pub count: u64,
    /// Items DynamoDB read (sum of `ScannedCount`).
    pub scanned_count: u64,
    /// Returned items the Rust predicate accepted.
    pub accepted: u64,
    /// Items read by the last page (`ScannedCount`).
    pub last_page_scanned: u64,
    /// Of `pages`, those read while skimming (keys and `s_v` only).
    pub skim_pages: u32,
    /// Of `scanned_count`, the items read while skimming.
    pub skim_scanned: u64,
    /// Items read by the last skimming page.
    pub last_skim_page_scanned: u64,
    /// Bytes of the Query response bodies received.
    pub bytes: u64,
    /// Of `accepted`, the items in the range that could not be read into a
    /// lead (handed out as skipped).
    pub skipped: u64,
    /// The last page read ended the partition (it carried no
    /// `LastEvaluatedKey`).
    pub ended: bool,
    /// Of `pages`, those the SDK read (not [`wire`]): a page holding an
    /// item of an earlier layout. Many of them say the partition is worth
    /// importing again in the current layout.
    pub sdk_pages: u32,
}

/// How a Query page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Before the range, when the FilterExpression decides exactly: keys and
    /// `s_v` only.
    Skim,
    /// The lead documents (and, for items of the earlier layout, the
    /// attributes the export and the filter read).
    Full,
}

/// One item of a page: of the current layout and read straight from the
/// response body ([`wire`]), or as the SDK read it (any other response).
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Read by [`wire`]: of the caller's organization (the reader declines
    /// a response holding an item of another one).
    Wire(WireItem),
    /// Read by the SDK.
    Attributes(Item),
}

impl From<Item> for Stored {
    fn from(item: Item) -> Self {
        Stored::Attributes(item)
    }
}

impl Stored {
    /// Its `leadId`.
    fn lead_id(&self) -> Result<&str, StoreError> {
        match self {
            Stored::Wire(item) => Ok(&item.lead_id),
            Stored::Attributes(item) => lead_id_of(item),
        }
    }

    /// An error unless it belongs to `org`.
    fn check_owner(&self, org: &OrgId) -> Result<(), StoreError> {
        match self {
            Stored::Wire(_) => Ok(()),
            Stored::Attributes(item) => check_owner(org, item),
        }
    }

    /// Whether its search attributes were written by the current
    /// [`SEARCH_VERSION`].
    fn has_current_search_version(&self) -> bool {
        match self {
            Stored::Wire(item) => item.version == Some(SEARCH_VERSION),
            Stored::Attributes(item) => has_current_search_version(item),
        }
    }

    /// Its key (`org`'s, for an item read by [`wire`]).
    fn key(&self, org: &OrgId) -> Result<Item, StoreError> {
        match self {
            Stored::Wire(item) => Ok(key(org, &item.lead_id)),
            Stored::Attributes(item) => key_of(item),
        }
    }

    /// Its lead, as [`lead_from_item`] reads it.
    pub fn into_lead(self, org: &OrgId) -> Result<Lead, ItemError> {
        match self {
            Stored::Wire(item) => lead_from_wire(org, item),
            Stored::Attributes(item) => lead_from_item(org, item),
        }
    }
}

/// One page of a Query.
#[derive(Debug, Default)]
pub struct Page {
    /// The items that passed the filter.
    pub items: Vec<Stored>,
    /// Where the next page starts; `None` on the last page.
    pub last_evaluated_key: Option<Item>,
    /// `Count`: items returned.
    pub count: u64,
    /// `ScannedCount`: items read before the filter.
    pub scanned_count: u64,
    /// Size of the response body.
    pub bytes: u64,
    /// The SDK sent the request more than once (a throttle or a transient
    /// error was retried).
    pub throttled: bool,
    /// The SDK read the response, not [`wire`] (see
    /// [`QueryStats::sdk_pages`]).
    pub by_sdk: bool,
}

/// What every Query page of one bulk read shares: the projections of a
/// skimmed and of a full page, the pushed FilterExpression with its names
/// and values (the partition key's among them), and whether the filter
/// decides exactly.
struct Shape {
    org: OrgId,
    full: (String, HashMap<String, String>),
    skim: (String, HashMap<String, String>),
    filter_text: Option<String>,
    filter_names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    exact: bool,
}

impl Shape {
    fn new(org: &OrgId, filter: &CompiledFilter, attributes: &Attributes) -> Self {
        let (pushed, exact) = pushed_filter(filter);
        let mut attrs = attributes.clone();
        attrs.extend(filter.lead_attributes());
        attrs.insert(COMPACT_DOC_ATTR);
        attrs.insert(DOC_ATTR);
        attrs.insert(SEARCH_VERSION_ATTR);
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(org.to_string()))]);
        let mut filter_names = HashMap::from([("#pk".to_string(), "orgId".to_string())]);
        let filter_text = pushed.map(|p| {
            filter_names.extend(p.names);
            values.extend(p.values);
            p.text
        });
        Shape {
            org: org.clone(),
            full: projection(attrs.iter().copied()),
            skim: projection([SEARCH_VERSION_ATTR]),
            filter_text,
            filter_names,
            values,
            exact,
        }
    }
}

/// A Query that failed, and whether DynamoDB refused it for throughput.
struct Refused {
    error: StoreError,
    throttled: bool,
}

/// The `leadId` of an item.
fn lead_id_of(item: &Item) -> Result<&str, StoreError> {
    match item.get("leadId") {
        Some(AttributeValue::S(id)) => Ok(id),
        _ => Err(StoreError::other("an item without a string leadId")),
    }
}

/// Whether `item` is the lead at `bounds`' lower end: `BETWEEN` is
/// inclusive, and that lead belongs to the piece or segment before (which
/// reads it), so a read within `bounds` drops it. Looked up only when there
/// is a lower end.
fn is_lower_bound(bounds: &Bounds, item: &Stored) -> Result<bool, StoreError> {
    match bounds.after.as_deref() {
        Some(after) => Ok(item.lead_id()? == after),
        None => Ok(false),
    }
}

/// The lead id of a page's `LastEvaluatedKey`: where the next page starts
/// (`None`: the read has ended).
fn resume_of(page: &Page) -> Result<Option<String>, StoreError> {
    page.last_evaluated_key
        .as_ref()
        .map(|k| lead_id_of(k).map(String::from))
        .transpose()
}

/// Reads (and, for the import tool, writes) leads in DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    backoff: Backoff,
    recheck: bool,
}

impl DynamoStore {
    /// A store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            backoff: Backoff::default(),
            recheck: true,
        }
    }

    /// The same store, retrying unprocessed batch items with `backoff`.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The same store, for diagnosing the push-down: bulk reads hand out
    /// every item the DynamoDB FilterExpression lets through, without
    /// applying the exact predicate ([`CompiledFilter::matches`]) to it.
    /// The leads are then a superset of the matches (every item without the
    /// current search attributes passes, and a push-down that is not exact
    /// lets near misses through), so `[skip, skip + take)` counts them, not
    /// the matches; each page asks for what is still missing (`Limit`) as
    /// if unfiltered. Never for serving exports: [`DynamoStore::new`]
    /// re-checks every item, and `App` builds its store that way.
    pub fn without_recheck(mut self) -> Self {
        self.recheck = false;
        self
    }

    /// The bulk range read at once, with what it cost. Pages before the
    /// range are skimmed (keys and `s_v` only) when the pushed
    /// FilterExpression decides exactly ([`CompiledFilter::pushdown_exact`],
    /// all of it rendered); the range itself is read with the documents.
    /// `attributes` only matters for items of the earlier layout (it is
    /// projected beside [`DOC_ATTR`]; a compact item is read whole).
    pub async fn query_range(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &Attributes,
    ) -> Result<(Vec<Lead>, QueryStats), StoreError> {
        collect_pages(self.query_pages(
            org,
            filter,
            Start::default(),
            skip,
            take,
            attributes,
            Tally::new(),
        ))
        .await
    }

    /// The bulk range read page by page from `from` (see
    /// [`range_pages`]): each page's leads in the range, with what was read
    /// so far.
    #[allow(clippy::too_many_arguments)]
    pub fn query_pages<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        attributes: &Attributes,
        tally: Tally,
    ) -> impl Stream<Item = Result<(Batch, QueryStats), StoreError>> + Send + 'a {
        self.pages_from(org, filter, from, skip, take, attributes, tally, None)
    }

    /// [`DynamoStore::query_pages`]; with `handoff`, the read stops after a
    /// page of the range when the rest is worth reading in pieces
    /// ([`split::worth_splitting`]) and leaves where and how in `handoff`.
    #[allow(clippy::too_many_arguments)]
    fn pages_from<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        take: usize,
        attributes: &Attributes,
        tally: Tally,
        handoff: Option<Handoff>,
    ) -> impl Stream<Item = Result<(Batch, QueryStats), StoreError>> + Send + 'a {
        let shape = Shape::new(org, filter, attributes);
        let exact = shape.exact;
        let fetch = move |start: Option<Item>, limit: Option<i32>, reading: Reading| {
            self.fetch(&shape, &Bounds::default(), start, limit, reading, true)
                .map_err(|refused| refused.error)
        };
        // Without the re-check, the predicate applied to each item is the
        // empty filter, which every lead passes.
        let check = if self.recheck { filter } else { pass_all() };
        pages_within(
            fetch, org, check, exact, from, skip, take, tally, None, handoff,
        )
    }

    /// One page of a piece of the range ([`split::read_pieces`]): a 1 MB
    /// Query page within `bounds` after `resume`, read in full and
    /// re-checked by `check`, as [`range_pages`] reads the range: an
    /// unreadable item the FilterExpression let through keeps its position.
    /// A throttle or another transient failure reads nothing: the page is
    /// asked again after a pause.
    async fn piece_page(
        &self,
        org: &OrgId,
        check: &CompiledFilter,
        shape: &Shape,
        bounds: Bounds,
        resume: Option<String>,
    ) -> Result<PiecePage, StoreError> {
        let start = resume.as_deref().map(|id| key(org, id));
        let page = match self
            .fetch(shape, &bounds, start, None, Reading::Full, false)
            .await
        {
            Ok(page) => page,
            Err(refused) if refused.throttled || refused.error.kind == FaultKind::Transient => {
                return Ok(PiecePage {
                    throttled: true,
                    retry: true,
                    ..PiecePage::default()
                })
            }
            Err(refused) => return Err(refused.error),
        };
        let mut out = PiecePage {
            scanned: page.scanned_count,
            bytes: page.bytes,
            throttled: page.throttled,
            resume: resume_of(&page)?,
            ..PiecePage::default()
        };
        for item in page.items {
            if is_lower_bound(&bounds, &item)? {
                continue;
            }
            match item.into_lead(org) {
                Ok(lead) => {
                    if check.matches(&lead) {
                        out.entries.push(Entry::Lead(lead));
                    }
                }
                Err(ItemError::Unreadable(skipped)) => out.entries.push(Entry::Skipped(skipped)),
                Err(foreign) => Err(foreign)?,
            }
        }
        Ok(out)
    }

    /// One Query page of `org`'s partition within `bounds` (sort-key
    /// conditions with the caller's organization as the partition key),
    /// after `start`.
    ///
    /// With `sdk_retries` false the SDK sends it once: a throttle comes back
    /// as [`Refused::throttled`], for the caller to pace itself.
    fn fetch(
        &self,
        shape: &Shape,
        bounds: &Bounds,
        start: Option<Item>,
        limit: Option<i32>,
        reading: Reading,
        sdk_retries: bool,
    ) -> impl Future<Output = Result<Page, Refused>> + Send + 'static {
        let (projection_text, projection_names) = match reading {
            Reading::Skim => &shape.skim,
            Reading::Full => &shape.full,
        };
        let mut names = shape.filter_names.clone();
        names.extend(projection_names.clone());
        let mut values = shape.values.clone();
        let mut key_condition = "#pk = :pk".to_string();
        match (&bounds.after, &bounds.upto) {
            (None, None) => {}
            (Some(after), None) => {
                key_condition.push_str(" AND #sk > :lo");
                values.insert(":lo".into(), AttributeValue::S(after.clone()));
            }
            (None, Some(upto)) => {
                key_condition.push_str(" AND #sk <= :hi");
                values.insert(":hi".into(), AttributeValue::S(upto.clone()));
            }
            // BETWEEN is inclusive: the lead whose id is the lower bound
            // belongs to the segment before (`segment_page` drops it).
            (Some(after), Some(upto)) => {
                key_condition.push_str(" AND #sk BETWEEN :lo AND :hi");
                values.insert(":lo".into(), AttributeValue::S(after.clone()));
                values.insert(":hi".into(), AttributeValue::S(upto.clone()));
            }
        }
        if bounds.after.is_some() || bounds.upto.is_some() {
            names.insert("#sk".into(), "leadId".into());
        }
        let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let capture = wire::Capture::query(shape.org.as_str());
        let org = shape.org.clone();
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_condition)
            .projection_expression(projection_text)
            .set_filter_expression(shape.filter_text.clone())
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .customize()
            .interceptor(BodyBytes(bytes.clone()))
            .interceptor(Attempts(attempts.clone()))
            .interceptor(capture.clone());
        let request = if sdk_retries {
            request
        } else {
            request.config_override(
                aws_sdk_dynamodb::config::Builder::new()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            )
        };
        async move {
            let out = request.send().await.map_err(|err| {
                use aws_sdk_dynamodb::error::ProvideErrorMetadata;
                let throttled = matches!(
                    err.code(),
                    Some(
                        "ProvisionedThroughputExceededException"
                            | "ThrottlingException"
                            | "RequestLimitExceeded"
                    )
                );
                Refused {
                    error: sdk_error("Query")(err).into(),
                    throttled,
                }
            })?;
            let count = out.count().max(0) as u64;
            let scanned_count = out.scanned_count().max(0) as u64;
            crate::observe::dynamo_call(count, scanned_count);
            let (items, last_evaluated_key, by_sdk) = match capture.take() {
                Some(wire::Read::Query(page)) => (
                    page.items.into_iter().map(Stored::Wire).collect(),
                    page.last_key.map(|id| key(&org, &id)),
                    false,
                ),
                _ => (
                    out.items
                        .unwrap_or_default()
                        .into_iter()
                        .map(Stored::Attributes)
                        .collect(),
                    out.last_evaluated_key,
                    true,
                ),
            };
            Ok(Page {
                count,
                scanned_count,
                last_evaluated_key,
                items,
                bytes: bytes.load(std::sync::atomic::Ordering::Relaxed),
                throttled: attempts.load(std::sync::atomic::Ordering::Relaxed) > 1,
                by_sdk,
            })
        }
    }

    /// One page of a segment's count (see [`segments::locate`]): a 1 MB
    /// Query page within `bounds` after `resume`, skimmed when the
    /// FilterExpression decides exactly (a page holding an item without
    /// the current `s_v` is read again in full from the last match before
    /// it), else read in full and re-checked by `check`. Counts as
    /// [`range_pages`] does: an unreadable item the FilterExpression let
    /// through is a match.
    async fn segment_page(
        &self,
        org: &OrgId,
        check: &CompiledFilter,
        shape: &Shape,
        bounds: Bounds,
        resume: Option<String>,
    ) -> Result<SegmentPage, StoreError> {
        let reading = if shape.exact {
            Reading::Skim
        } else {
            Reading::Full
        };
        let start = resume.as_deref().map(|id| key(org, id));
        // A throttle: nothing counted, the same page again after a pause.
        let again = |resume: Option<String>| SegmentPage {
            resume,
            throttled: true,
            retry: true,
            ..SegmentPage::default()
        };
        let mut page = match self
            .fetch(shape, &bounds, start, None, reading, false)
            .await
        {
            Ok(page) => page,
            Err(refused) if refused.throttled => return Ok(again(resume)),
            Err(refused) => return Err(refused.error),
        };
        let mut out = SegmentPage {
            throttled: page.throttled,
            ..SegmentPage::default()
        };
        if reading == Reading::Skim {
            let mut counted = resume.clone();
            let mut undecided = false;
            for item in &page.items {
                item.check_owner(org)?;
                let id = item.lead_id()?;
                if bounds.after.as_deref() == Some(id) {
                    continue;
                }
                if !item.has_current_search_version() {
                    undecided = true;
                    break;
                }
                out.matches.push(Some(id.to_string()));
                counted = Some(id.to_string());
            }
            if !undecided {
                out.resume = resume_of(&page)?;
                return Ok(out);
            }
            // Decided from the documents, from the last match counted.
            let start = counted.as_deref().map(|id| key(org, id));
            page = match self
                .fetch(shape, &bounds, start, None, Reading::Full, false)
                .await
            {
                Ok(page) => page,
                Err(refused) if refused.throttled => return Ok(again(resume)),
                Err(refused) => return Err(refused.error),
            };
            out.throttled |= page.throttled;
        }
        out.resume = resume_of(&page)?;
        for item in page.items {
            if is_lower_bound(&bounds, &item)? {
                continue;
            }
            match item.into_lead(org) {
                Ok(lead) => {
                    if check.matches(&lead) {
                        out.matches.push(Some(lead.id));
                    }
                }
                Err(ItemError::Unreadable(skipped)) => out.matches.push(skipped.id),
                Err(foreign) => Err(foreign)?,
            }
        }
        Ok(out)
    }

    /// Writes leads of `org` with their search attributes: BatchWriteItem
    /// requests of 25, up to 8 in flight, unprocessed items retried with
    /// backoff. A lead id given twice is written once, the last one winning.
    pub async fn put_leads(&self, org: &OrgId, leads: &[Lead]) -> Result<(), StoreError> {
        // A batch may not write the same key twice, and concurrent batches
        // must not race on one key: keep each id's last lead.
        let mut seen = std::collections::HashSet::new();
        let mut requests = Vec::with_capacity(leads.len());
        for lead in leads.iter().rev() {
            if seen.insert(lead.id.as_str()) {
                let put = PutRequest::builder()
                    .set_item(Some(lead_to_item(org, lead)?))
                    .build()
                    .map_err(|_| StoreError::other("a PutRequest could not be built"))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
        }
        requests.reverse();
        let batches: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_ITEMS)
            .map(<[_]>::to_vec)
            .collect();
        futures::stream::iter(batches)
            .map(|batch| self.write_batch(batch))
            .buffer_unordered(BATCH_WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        retry_unprocessed(requests, self.backoff, |requests| {
            let call = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send();
            let table = &self.table;
            async move {
                let mut out = call.await.map_err(sdk_error("BatchWriteItem"))?;
                let unprocessed = out
                    .unprocessed_items
                    .as_mut()
                    .and_then(|u| u.remove(table))
                    .unwrap_or_default();
                Ok((Vec::<()>::new(), unprocessed))
            }
        })
        .await?;
        Ok(())
    }

    async fn get_chunk(
        &self,
        org: &OrgId,
        ids: &[String],
        projection_text: &str,
        names: &HashMap<String, String>,
    ) -> Result<Vec<Stored>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(|id| key(org, id)).collect();
        retry_unprocessed(keys, self.backoff, |keys| {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression(projection_text)
                .set_expression_attribute_names(Some(names.clone()))
                .consistent_read(false)
                .build();
            let table = &self.table;
            let client = &self.client;
            async move {
                let request = request
                    .map_err(|_| StoreError::other("a BatchGetItem request could not be built"))?;
                let capture = wire::Capture::batch_get(org.as_str(), table);
                let mut out = client
                    .batch_get_item()
                    .request_items(table, request)
                    .customize()
                    .interceptor(capture.clone())
                    .send()
                    .await
                    .map_err(sdk_error("BatchGetItem"))?;
                let items: Vec<Stored> = match capture.take() {
                    Some(wire::Read::BatchGet(items)) => {
                        items.into_iter().map(Stored::Wire).collect()
                    }
                    _ => out
                        .responses
                        .as_mut()
                        .and_then(|r| r.remove(table))
                        .unwrap_or_default()
                        .into_iter()
                        .map(Stored::Attributes)
                        .collect(),
                };
                crate::observe::dynamo_call(items.len() as u64, items.len() as u64);
                let unprocessed = out
                    .unprocessed_keys
                    .as_mut()
                    .and_then(|u| u.remove(table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                Ok((items, unprocessed))
            }
        })
        .await
    }
}

impl LeadStore for DynamoStore {
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a> {
        // In the requested order, so that the first chunks hold the first ids.
        let unique = unique_in_order(ids);
        // The document of a compact item; `attributes` for an item of the
        // earlier layout.
        // `s_v`, to know the version that wrote the item.
        let (projection_text, names) = projection(
            [COMPACT_DOC_ATTR, DOC_ATTR, SEARCH_VERSION_ATTR]
                .into_iter()
                .chain(attributes.iter().copied()),
        );
        let chunks: Vec<Vec<String>> = unique.chunks(BATCH_GET_KEYS).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(move |ids| {
                let (projection_text, names) = (projection_text.clone(), names.clone());
                async move {
                    let items = self.get_chunk(org, &ids, &projection_text, &names).await?;
                    let mut chunk = Chunk {
                        ids,
                        // A lead is about 1 KB: no regrowth copies.
                        leads: Vec::with_capacity(items.len()),
                        ..Chunk::default()
                    };
                    for item in items {
                        match item.into_lead(org) {
                            Ok(lead) => chunk.leads.push(lead),
                            Err(ItemError::Unreadable(skipped)) => chunk.skipped.push(skipped),
                            Err(foreign) => Err(foreign)?,
                        }
                    }
                    Ok(chunk)
                }
            })
            .buffer_unordered(BATCH_GET_CONCURRENCY)
            .boxed()
    }

    fn walk<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        from: Start,
        skip: usize,
        pages: u32,
        tally: Tally,
    ) -> futures::future::BoxFuture<'a, Result<Walked, StoreError>> {
        Box::pin(async move {
            let shape = Shape::new(org, filter, &Attributes::new());
            let exact = shape.exact;
            let shape = &shape;
            let fetch = move |start: Option<Item>, limit: Option<i32>, reading: Reading| {
                self.fetch(shape, &Bounds::default(), start, limit, reading, true)
                    .map_err(|refused| refused.error)
            };
            let check = if self.recheck { filter } else { pass_all() };
            let reached = from.position >= skip;
            let mut walk = std::pin::pin!(pages_within(
                fetch,
                org,
                check,
                exact,
                from.clone(),
                skip,
                0,
                tally,
                Some(pages),
                None
            ));
            let mut stats = QueryStats::default();
            while let Some((_, so_far)) = walk.try_next().await? {
                stats = so_far;
            }
            let walked_to = from.position + stats.accepted as usize;
            Ok(Walked {
                pages: stats.pages,
                done: reached || walked_to >= skip || stats.ended,
            })
        })
    }

    fn locate<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        progress: &'a Progress,
    ) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let shape = Shape::new(org, filter, &Attributes::new());
            let check = if self.recheck { filter } else { pass_all() };
            let shape = &shape;
            segments::locate(
                move |_, bounds, resume| self.segment_page(org, check, shape, bounds, resume),
                progress,
                skip,
            )
            .await
        })
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
        let from_position = from.position;
        Box::pin(async_stream::try_stream! {
            let handoff = Handoff::default();
            let mut pages = std::pin::pin!(self.pages_from(
                org,
                filter,
                from,
                skip,
                take,
                attributes,
                tally.clone(),
                Some(handoff.clone())
            ));
            let mut stats = QueryStats::default();
            while let Some((batch, so_far)) = pages.try_next().await? {
                stats = so_far;
                if !batch.leads.is_empty() || !batch.skipped.is_empty() {
                    yield batch;
                }
            }
            // The rest of the range in pieces, when the pages read show it
            // is still several pages long.
            let split = handoff.lock().expect("lock poisoned").take();
            let mut pieces = PieceStats::default();
            if let Some(Split { matched, plan }) = split {
                let shape = Shape::new(org, filter, attributes);
                let check = if self.recheck { filter } else { pass_all() };
                let shape = &shape;
                let needed = skip.saturating_add(take);
                let mut read = std::pin::pin!(split::read_pieces(
                    move |bounds, resume| self.piece_page(org, check, shape, bounds, resume),
                    plan,
                    needed - matched
                ));
                let mut position = matched;
                while let Some((entries, so_far)) = read.try_next().await? {
                    pieces = so_far;
                    yield split::in_order(entries, &mut position, &tally);
                }
            }
            tracing::info!(
                from_position,
                pages = stats.pages,
                count = stats.count,
                scanned_count = stats.scanned_count,
                accepted = stats.accepted,
                skipped = stats.skipped,
                skim_pages = stats.skim_pages,
                skim_scanned = stats.skim_scanned,
                bytes = stats.bytes,
                sdk_pages = stats.sdk_pages,
                pieces = pieces.pieces,
                piece_pages = pieces.pages,
                piece_scanned = pieces.scanned,
                piece_bytes = pieces.bytes,
                piece_throttled = pieces.throttled,
                "bulk query done"
            );
        })
    }
}

/// Where a range read one page after another hands over to pieces: the
/// matches read so far (positions) and the split of the key space after
/// the last page read.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    /// Matches up to and including the last key read.
    pub(crate) matched: usize,
    /// The pieces after it.
    pub(crate) plan: Plan,
}

/// Shared by the sequential read, which fills it, and its caller.
pub(crate) type Handoff = std::sync::Arc<std::sync::Mutex<Option<Split>>>;

/// All pages of [`range_pages`] at once: the leads (the skipped items are
/// counted in the stats).
async fn collect_pages(
    pages: impl Stream<Item = Result<(Batch, QueryStats), StoreError>>,
) -> Result<(Vec<Lead>, QueryStats), StoreError> {
    let mut pages = std::pin::pin!(pages);
    let mut leads = Vec::new();
    let mut stats = QueryStats::default();
    while let Some((page, so_far)) = pages.try_next().await? {
        leads.extend(page.leads);
        stats = so_far;
    }
    Ok((leads, stats))
}

/// The filter `{}`: every lead passes (the re-check of a store built
/// [`DynamoStore::without_recheck`]).
fn pass_all() -> &'static CompiledFilter {
    static EMPTY: std::sync::OnceLock<CompiledFilter> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| {
        crate::filters::compile(&serde_json::Value::Object(Default::default()))
            .expect("{} is a valid filter")
    })
}

/// The rendered push-down of `filter` (`None`: no FilterExpression), and
/// whether it decides exactly for items with the current `s_v`: the push-down
/// is exact and all of it was rendered.
pub fn pushed_filter(filter: &CompiledFilter) -> (Option<FilterExpr>, bool) {
    let cond = filter.pushdown();
    let pushed = render_filter(&cond);
    let exact = filter.pushdown_exact()
        && match &pushed {
            Some(p) => p.complete,
            None => cond == Cond::True,
        };
    (pushed, exact)
}

/// Reads pages until the `skip + take`-th match is found or the partition
/// ends, handing out each page's leads in the range (with the stats so
/// far) as it arrives. An empty page that carries a `LastEvaluatedKey` is
/// not the end. Each page asks for about what is still needed (`Limit`,
/// see [`page_limit`]), so the read stops near the last needed lead.
///
/// With `exact` (the FilterExpression decides exactly for items with the
/// current `s_v`), the pages before the range are [`Reading::Skim`]: each
/// returned item with the current `s_v` is a match, counted without its
/// document. At the `skip`-th match the Query starts again after that
/// item's key with [`Reading::Full`]. An item without the current `s_v`
/// cannot be decided from its key: the Query starts again just before it
/// and reads one page in full.
///
/// An item read in full that cannot be read into a lead
/// ([`ItemError::Unreadable`]) cannot be tested by the Rust predicate; the
/// FilterExpression let it through, so it keeps its position as a match:
/// in the range it is handed out in the page's `skipped`, never replaced
/// by the next lead (as a skimmed item of the current `s_v` counts without
/// its document). An item of another organization fails the read.
///
/// The read starts from the checkpoint `from` (at or before `skip`):
/// after the key of `from.after` in the caller's partition (the key
/// condition keeps every page in it), counting matches from
/// `from.position`. `tally` hears of every match read.
#[allow(clippy::too_many_arguments)]
pub fn range_pages<'a, F, Fut>(
    fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    exact: bool,
    from: Start,
    skip: usize,
    take: usize,
    tally: Tally,
) -> impl Stream<Item = Result<(Batch, QueryStats), StoreError>> + 'a
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    pages_within(
        fetch, org, filter, exact, from, skip, take, tally, None, None,
    )
}

/// [`range_pages`], or with `walk` (a number of pages) the walk of
/// [`LeadStore::walk`]: the pages before the range only, at most `walk` of
/// them, stopping at the `skip`-th match; it ends with the stats of all
/// its pages. With `handoff`, a page of the range cut by the 1 MB (not by
/// its `Limit`) after which the rest of the range is worth reading in
/// pieces ([`split::worth_splitting`]: more than a few pages at the rate of
/// matches read so far) ends the read, leaving in `handoff` the matches
/// read and the split of the key space after that page.
#[allow(clippy::too_many_arguments)]
fn pages_within<'a, F, Fut>(
    mut fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    exact: bool,
    from: Start,
    skip: usize,
    take: usize,
    tally: Tally,
    walk: Option<u32>,
    handoff: Option<Handoff>,
) -> impl Stream<Item = Result<(Batch, QueryStats), StoreError>> + 'a
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    async_stream::try_stream! {
        let take = if walk.is_some() { 0 } else { take };
        let needed = skip.saturating_add(take);
        let mut stats = QueryStats::default();
        // A checkpoint past `skip` (or none) reads from the first key.
        let (mut matched, mut start): (usize, Option<Item>) = match &from.after {
            Some(id) if from.position <= skip => (from.position, Some(key(org, id))),
            _ => (0, None),
        };
        let mut full_page = false;
        let mut more = take > 0 || (walk.is_some() && matched < skip);
        while more {
            if let Some(pages) = walk {
                if matched >= skip || stats.pages >= pages {
                    break;
                }
            }
            let reading = if exact && matched < skip && !full_page {
                Reading::Skim
            } else {
                Reading::Full
            };
            full_page = false;
            let target = match reading {
                Reading::Skim => skip,
                Reading::Full => needed,
            };
            let limit = page_limit(filter.is_empty(), target - matched, &stats);
            let page_start = start.take();
            let page = fetch(page_start.clone(), Some(limit), reading).await?;
            stats.pages += 1;
            stats.count += page.count;
            stats.scanned_count += page.scanned_count;
            stats.last_page_scanned = page.scanned_count;
            stats.bytes += page.bytes;
            stats.sdk_pages += u32::from(page.by_sdk);
            stats.ended = page.last_evaluated_key.is_none();
            if reading == Reading::Skim {
                stats.skim_pages += 1;
                stats.skim_scanned += page.scanned_count;
                stats.last_skim_page_scanned = page.scanned_count;
                // The key after which the next page starts when this one is cut.
                let mut resume = page_start;
                let mut cut = false;
                for item in page.items {
                    item.check_owner(org)?;
                    if !item.has_current_search_version() {
                        full_page = true;
                        cut = true;
                        break;
                    }
                    stats.accepted += 1;
                    matched += 1;
                    let item_key = item.key(org)?;
                    if let Some(AttributeValue::S(id)) = item_key.get("leadId") {
                        tally.matched(matched, id);
                    }
                    resume = Some(item_key);
                    if matched == skip {
                        cut = true;
                        break;
                    }
                }
                if cut {
                    start = resume;
                    continue;
                }
                start = page.last_evaluated_key;
                more = start.is_some();
            } else {
                let mut batch = Batch {
                    // A lead is about 1 KB: no regrowth copies (and no
                    // room for more than the range still wants).
                    leads: Vec::with_capacity(
                        page.items.len().min(needed.saturating_sub(matched.max(skip))),
                    ),
                    ..Batch::default()
                };
                for item in page.items {
                    match item.into_lead(org) {
                        Ok(lead) => {
                            if !filter.matches(&lead) {
                                continue;
                            }
                            tally.matched(matched + 1, &lead.id);
                            if matched >= skip {
                                batch.leads.push(lead);
                            }
                        }
                        // An unreadable item that the FilterExpression let
                        // through may be a match: it keeps its position.
                        Err(ItemError::Unreadable(skipped)) => {
                            if let Some(id) = &skipped.id {
                                tally.matched(matched + 1, id);
                            }
                            if matched >= skip {
                                stats.skipped += 1;
                                batch.skipped.push(skipped);
                            }
                        }
                        Err(foreign) => Err(foreign)?,
                    }
                    stats.accepted += 1;
                    matched += 1;
                    if matched == needed {
                        break;
                    }
                }
                start = page.last_evaluated_key;
                more = matched < needed && start.is_some();
                let by_limit = page.scanned_count >= u64::try_from(limit).unwrap_or(0);
                if let (Some(handoff), true, false, Some(end)) = (&handoff, more, by_limit, &start) {
                    if matched >= skip
                        && split::worth_splitting(
                            needed - matched,
                            stats.accepted,
                            stats.scanned_count,
                            page.scanned_count,
                        )
                    {
                        let from = match page_start.as_ref() {
                            Some(k) => Some(lead_id_of(k)?.to_string()),
                            None => None,
                        };
                        let plan = Plan::after_page(
                            from.as_deref(),
                            lead_id_of(end)?,
                            page.scanned_count,
                            stats.accepted,
                            stats.scanned_count,
                        );
                        if let Some(plan) = plan {
                            *handoff.lock().expect("lock poisoned") = Some(Split { matched, plan });
                            more = false;
                        }
                    }
                }
                yield (batch, stats);
            }
        }
        if walk.is_some() || (stats.pages > 0 && stats.pages == stats.skim_pages) {
            // A walk's stats; or only skimmed pages: the range starts past
            // the end.
            yield (Batch::default(), stats);
        }
    }
}

/// Smallest and largest `Limit` of a filtered page.
const MIN_PAGE: u64 = 100;
const MAX_PAGE: u64 = 10_000;

/// How many items the next page should read. Without a filter every item
/// matches, so exactly what is missing. With one, what is missing divided by
/// the share of items accepted so far (a 10% guess before the first page),
/// with 25% headroom, between 100 and 10,000. DynamoDB also ends a page at
/// 1 MB.
pub fn page_limit(unfiltered: bool, missing: usize, stats: &QueryStats) -> i32 {
    let missing = missing as u64;
    let limit = if unfiltered {
        missing
    } else {
        let estimate = if stats.scanned_count == 0 {
            missing.saturating_mul(10)
        } else {
            let accepted = stats.accepted.max(1);
            missing.saturating_mul(stats.scanned_count) / accepted
        };
        estimate
            .saturating_add(estimate / 4)
            .clamp(MIN_PAGE, MAX_PAGE)
    };
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}

/// Calls `call` with `pending`, then again with what it reports unprocessed,
/// sleeping with capped exponential backoff and full jitter in between; an
/// error when items are still unprocessed after `max_attempts` calls.
pub async fn retry_unprocessed<T, R, F, Fut>(
    mut pending: Vec<T>,
    backoff: Backoff,
    mut call: F,
) -> Result<Vec<R>, StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<(Vec<R>, Vec<T>), StoreError>>,
{
    let mut done = Vec::new();
    let mut attempt = 1;
    loop {
        let (items, unprocessed) = call(pending).await?;
        done.extend(items);
        if unprocessed.is_empty() {
            return Ok(done);
        }
        if attempt >= backoff.max_attempts {
            // DynamoDB leaves items unprocessed when it is short of capacity:
            // a retry later may succeed.
            return Err(StoreError::transient(format!(
                "{} items still unprocessed after {attempt} attempts",
                unprocessed.len()
            )));
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt += 1;
        pending = unprocessed;
    }
}

fn key(org: &OrgId, id: &str) -> Item {
    HashMap::from([
        ("orgId".to_string(), AttributeValue::S(org.to_string())),
        ("leadId".to_string(), AttributeValue::S(id.to_string())),
    ])
}

/// The key attributes of an item.
fn key_of(item: &Item) -> Result<Item, StoreError> {
    ["orgId", "leadId"]
        .into_iter()
        .map(|name| match item.get(name) {
            Some(value) => Ok((name.to_string(), value.clone())),
            None => Err(StoreError::other(format!("an item without {name}"))),
        })
        .collect()
}

/// An error unless the item belongs to `org`.
fn check_owner(org: &OrgId, item: &Item) -> Result<(), StoreError> {
    match item.get("orgId") {
        Some(AttributeValue::S(owner)) if owner == org.as_str() => Ok(()),
        _ => Err(StoreError::other(
            "an item of another organization was returned",
        )),
    }
}

/// Whether the item's search attributes were written by the current
/// [`SEARCH_VERSION`].
fn has_current_search_version(item: &Item) -> bool {
    matches!(item.get(SEARCH_VERSION_ATTR), Some(AttributeValue::N(n))
        if n.parse::<i64>() == Ok(SEARCH_VERSION))
}

/// Whether an item's `s_v` is absent or one this reader knows.
fn is_known_search_version(version: Option<&AttributeValue>) -> bool {
    match version {
        None => true,
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .is_ok_and(|v| KNOWN_SEARCH_VERSIONS.contains(&v)),
        Some(_) => false,
    }
}

/// Search attributes as DynamoDB attributes.
fn search_items(attrs: SearchAttrs) -> impl Iterator<Item = (String, AttributeValue)> {
    attrs.into_iter().map(|(name, value)| {
        let value = match value {
            SearchValue::Str(s) => AttributeValue::S(s),
            SearchValue::StrSet(set) => AttributeValue::Ss(set.into_iter().collect()),
            SearchValue::Num(n) => AttributeValue::N(n.to_string()),
        };
        (name, value)
    })
}

/// The stored item of a lead: the keys, the document without its `id`
/// packed ([`super::packed`]) in the binary [`COMPACT_DOC_ATTR`], and the
/// search attributes (`s_v` 2).
pub fn lead_to_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut item = key(org, &lead.id);
    item.insert(
        COMPACT_DOC_ATTR.to_string(),
        AttributeValue::B(super::packed::encode(lead).into()),
    );
    item.extend(search_items(search_attributes(lead)));
    Ok(item)
}

/// The item of a lead as the layout before the packed document wrote it:
/// the document as JSON text with one-character keys in
/// [`COMPACT_DOC_ATTR`] (a string), and the search attributes of `s_v` 2.
/// Still read by [`lead_from_item`]; written only to test that.
pub fn json_text_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let doc = super::doc::to_json(lead)
        .map_err(|_| StoreError::other("a lead could not be written as JSON"))?;
    let mut item = key(org, &lead.id);
    item.insert(COMPACT_DOC_ATTR.to_string(), AttributeValue::S(doc));
    item.extend(search_items(search_attributes(lead)));
    Ok(item)
}

/// The item of a lead in the previous layout (what imports wrote before the
/// search attributes of `s_v` 2): the keys, the camelCase document without
/// its `id` in [`DOC_ATTR`], and the search attributes of `s_v` 1. Still
/// read by [`lead_from_item`]; written only to test that.
pub fn previous_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut doc = serde_json::to_value(lead)
        .map_err(|_| StoreError::other("a lead could not be written as JSON"))?;
    if let Some(fields) = doc.as_object_mut() {
        fields.remove("id");
    }
    let mut item = key(org, &lead.id);
    item.insert(DOC_ATTR.to_string(), AttributeValue::S(doc.to_string()));
    item.extend(search_items(search_attributes_v1(lead)));
    Ok(item)
}

/// DynamoDB's largest item, 400 KB: a larger one is refused with a
/// `ValidationException` (and with it the whole `BatchWriteItem`).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size of `item` as DynamoDB counts it against [`MAX_ITEM_BYTES`], or a
/// little more: every attribute's name and value in UTF-8 bytes, a number
/// as its text (DynamoDB stores about half of that), a list or map 3 bytes
/// plus one per member, a map's member names too.
pub fn item_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.iter().map(String::len).sum(),
            AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value(v))
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// The item of a lead in the earliest layout (what imports wrote before the
/// document was JSON text): the document as nested attributes (its `id` as
/// the sort key `leadId`), the partition key and the search attributes of
/// `s_v` 1. Still read by [`lead_from_item`]; written only to test that.
pub fn legacy_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(lead)
        .map_err(|_| StoreError::other("a lead could not be written as attributes"))?;
    item.remove("id");
    item.extend(key(org, &lead.id));
    item.extend(search_items(search_attributes_v1(lead)));
    Ok(item)
}

/// Why a stored item did not become a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemError {
    /// The item is not one of the organization asked: a safety check
    /// failed, and the read fails with it.
    Foreign,
    /// The item of the organization cannot be read into a lead: it is
    /// skipped, and the read goes on.
    Unreadable(Skipped),
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemError::Foreign => f.write_str("an item of another organization was returned"),
            ItemError::Unreadable(skipped) => {
                write!(f, "an unreadable item ({})", skipped.fault.label())
            }
        }
    }
}

impl std::error::Error for ItemError {}

impl From<ItemError> for StoreError {
    fn from(err: ItemError) -> Self {
        StoreError::other(err.to_string())
    }
}

/// The lead of a stored item. An item of another organization is
/// [`ItemError::Foreign`]; an item of `org` that cannot be read (see
/// [`ItemFault`]) is [`ItemError::Unreadable`], with its lead id when it has
/// one and never a stored value. An item's [`COMPACT_DOC_ATTR`] is
/// unpacked ([`super::packed`]) when binary, parsed as JSON text when a
/// string (the layout before; as its [`DOC_ATTR`], the one before that: a
/// JSON object) straight into the lead; an item of the earliest layout (neither) is read
/// from its attributes. An item whose `s_v` is present but not one of
/// [`KNOWN_SEARCH_VERSIONS`] was written by a version this reader does not
/// know.
pub fn lead_from_item(org: &OrgId, mut item: Item) -> Result<Lead, ItemError> {
    let mut keep = Kept::default();
    let format = if item.keys().any(|name| name == COMPACT_DOC_ATTR) {
        // The current layouts: the few attributes read are taken in one
        // pass over the item, with no hashing per name (looking each up
        // was a measurable share of an export's CPU).
        for (name, value) in item.drain() {
            match name.as_str() {
                "orgId" => keep.owner = Some(value),
                "leadId" => keep.id = Some(value),
                SEARCH_VERSION_ATTR => keep.version = Some(value),
                COMPACT_DOC_ATTR => keep.doc = Some(value),
                _ => {}
            }
        }
        DocFormat::Compact
    } else {
        keep.owner = item.remove("orgId");
        keep.id = item.remove("leadId");
        keep.version = item.remove(SEARCH_VERSION_ATTR);
        keep.doc = item.remove(DOC_ATTR);
        DocFormat::CamelCase
    };
    if !matches!(&keep.owner, Some(AttributeValue::S(owner)) if owner == org.as_str()) {
        return Err(ItemError::Foreign);
    }
    let id = match keep.id {
        Some(AttributeValue::S(id)) => id,
        Some(_) => return Err(unreadable(None, ItemFault::WrongType)),
        None => return Err(unreadable(None, ItemFault::MissingKey)),
    };
    if !is_known_search_version(keep.version.as_ref()) {
        return Err(unreadable(Some(id), ItemFault::UnknownVersion));
    }
    let mut lead: Lead = match keep.doc {
        Some(AttributeValue::B(packed)) if matches!(format, DocFormat::Compact) => {
            return unpack(id, packed.as_ref());
        }
        Some(AttributeValue::S(doc)) => match parse_doc(&doc, format) {
            Ok(lead) => lead,
            Err((fault, at)) => {
                return Err(ItemError::Unreadable(Skipped {
                    id: Some(id),
                    fault,
                    at,
                }))
            }
        },
        Some(_) => return Err(unreadable(Some(id), ItemFault::WrongType)),
        // serde_dynamo's messages may quote a value: only the kind is kept.
        // Every member of a lead is optional, so only a wrong type fails.
        // (The keys and `s_v` are out of the item: no member of a lead.)
        None => match serde_dynamo::from_item(item) {
            Ok(lead) => lead,
            Err(_) => return Err(unreadable(Some(id), ItemFault::WrongType)),
        },
    };
    lead.id = id;
    Ok(lead)
}

/// The lead `id` of a packed document ([`super::packed`]).
fn unpack(id: String, packed: &[u8]) -> Result<Lead, ItemError> {
    match super::packed::decode(packed) {
        Ok(mut lead) => {
            lead.id = id;
            Ok(lead)
        }
        Err(fault) => {
            let fault = match fault {
                super::packed::Fault::Malformed => ItemFault::BadPacked,
                super::packed::Fault::MissingName => ItemFault::MissingKey,
            };
            Err(unreadable(Some(id), fault))
        }
    }
}

/// The lead of an item read by [`wire`], as [`lead_from_item`] reads the
/// same item's attributes (the reader made sure of its owner and of its
/// attributes' types).
pub fn lead_from_wire(org: &OrgId, item: WireItem) -> Result<Lead, ItemError> {
    let Some(doc) = &item.doc else {
        // No document (a projection without it): as the SDK's map.
        return lead_from_item(org, wire_attributes(org, item));
    };
    if item
        .version
        .is_some_and(|v| !KNOWN_SEARCH_VERSIONS.contains(&v))
    {
        return Err(unreadable(Some(item.lead_id), ItemFault::UnknownVersion));
    }
    unpack(item.lead_id, doc)
}

/// The attributes of an item read by [`wire`], as the SDK reads them.
pub fn wire_attributes(org: &OrgId, item: WireItem) -> Item {
    let mut attrs = key(org, &item.lead_id);
    if let Some(version) = item.version {
        attrs.insert(
            SEARCH_VERSION_ATTR.to_string(),
            AttributeValue::N(version.to_string()),
        );
    }
    if let Some(doc) = item.doc {
        attrs.insert(COMPACT_DOC_ATTR.to_string(), AttributeValue::B(doc.into()));
    }
    attrs
}

/// The attributes of an item that [`lead_from_item`] reads besides the
/// lead's own (in the earliest layout, those stay in the item).
#[derive(Default)]
struct Kept {
    owner: Option<AttributeValue>,
    id: Option<AttributeValue>,
    version: Option<AttributeValue>,
    doc: Option<AttributeValue>,
}

fn unreadable(id: Option<String>, fault: ItemFault) -> ItemError {
    ItemError::Unreadable(Skipped::new(id, fault))
}

/// How a stored document spells its members.
#[derive(Debug, Clone, Copy)]
enum DocFormat {
    /// One-character keys ([`COMPACT_DOC_ATTR`]).
    Compact,
    /// The lead's camelCase names ([`DOC_ATTR`]).
    CamelCase,
}

/// A lead document parsed, or its fault and where the parser stopped.
/// serde_json's message quotes what it could not read, so only its
/// category and position are kept. A document is a JSON object holding
/// `firstName` and `lastName` (the members `lead_to_item` always writes).
fn parse_doc(doc: &str, format: DocFormat) -> Result<Lead, (ItemFault, Option<(usize, usize)>)> {
    // A struct also deserializes from a JSON array: a document is an object.
    if !doc.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(doc) {
            Ok(_) => Err((ItemFault::WrongType, None)),
            Err(e) => Err((ItemFault::BadJson, Some((e.line(), e.column())))),
        };
    }
    let (parsed, names) = match format {
        DocFormat::Compact => (super::doc::from_json(doc), super::doc::NAME_KEYS),
        DocFormat::CamelCase => (serde_json::from_str(doc), ["firstName", "lastName"]),
    };
    let lead: Lead = parsed.map_err(|e| {
        let fault = match e.classify() {
            serde_json::error::Category::Data if e.to_string().starts_with("missing field") => {
                ItemFault::MissingKey
            }
            serde_json::error::Category::Data => ItemFault::WrongType,
            _ => ItemFault::BadJson,
        };
        (fault, Some((e.line(), e.column())))
    })?;
    // A name may be empty, never absent; only an empty one is looked up.
    if lead.first_name.is_empty() || lead.last_name.is_empty() {
        let value: serde_json::Value =
            serde_json::from_str(doc).map_err(|_| (ItemFault::BadJson, None))?;
        if names.iter().any(|name| value.get(name).is_none()) {
            return Err((ItemFault::MissingKey, None));
        }
    }
    Ok(lead)
}

/// Adds the size of each response body to a counter (the Query statistics).
#[derive(Debug)]
struct BodyBytes(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl aws_sdk_dynamodb::config::Intercept for BodyBytes {
    fn name(&self) -> &'static str {
        "BodyBytes"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let len = context.response().body().bytes().map_or(0, <[u8]>::len);
        self.0
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Counts the attempts of one request (the SDK retries throttles and
/// transient errors itself): more than one tells the segment count to back
/// off.
#[derive(Debug)]
struct Attempts(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl aws_sdk_dynamodb::config::Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_attempt(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
