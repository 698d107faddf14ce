//! The DynamoDB `LeadStore`: table `LEADS_TABLE`, partition key `orgId`, sort
//! key `leadId`. An item holds the lead document as JSON text in one
//! attribute, [`DOC_ATTR`], beside the normalized search attributes of
//! `filters::search_attributes` (the compact layout). Items of the earlier
//! layout (the document as nested attributes) still read.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::{Stream, StreamExt, TryStreamExt};
use rand::Rng;

use super::expression::{projection, render_filter, FilterExpr};
use super::{unique_in_order, Attributes, Chunk, Chunks, LeadPages, LeadStore, StoreError};
use crate::auth::OrgId;
use crate::aws::sdk_error;
use crate::filters::{
    search_attributes, CompiledFilter, Cond, SearchValue, SEARCH_VERSION, SEARCH_VERSION_ATTR,
};
use crate::model::Lead;

/// The attribute holding the lead document (without its `id`, which is the
/// sort key) as JSON text.
pub const DOC_ATTR: &str = "doc";

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

/// One page of a Query.
#[derive(Debug, Default)]
pub struct Page {
    /// The items that passed the filter.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` on the last page.
    pub last_evaluated_key: Option<Item>,
    /// `Count`: items returned.
    pub count: u64,
    /// `ScannedCount`: items read before the filter.
    pub scanned_count: u64,
    /// Size of the response body.
    pub bytes: u64,
}

/// Reads (and, for the import tool, writes) leads in DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    backoff: Backoff,
}

impl DynamoStore {
    /// A store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            backoff: Backoff::default(),
        }
    }

    /// The same store, retrying unprocessed batch items with `backoff`.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
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
        collect_pages(self.query_pages(org, filter, skip, take, attributes)).await
    }

    /// The bulk range read page by page: each page's leads in the range,
    /// with what was read so far.
    pub fn query_pages<'a>(
        &'a self,
        org: &'a OrgId,
        filter: &'a CompiledFilter,
        skip: usize,
        take: usize,
        attributes: &Attributes,
    ) -> impl Stream<Item = Result<(Vec<Lead>, QueryStats), StoreError>> + Send + 'a {
        let (pushed, exact) = pushed_filter(filter);
        let mut attrs = attributes.clone();
        attrs.extend(filter.lead_attributes());
        attrs.insert(DOC_ATTR);
        let full = projection(attrs.iter().copied());
        let skim = projection([SEARCH_VERSION_ATTR]);
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(org.to_string()))]);
        let mut filter_names = HashMap::from([("#pk".to_string(), "orgId".to_string())]);
        let filter_text = pushed.map(|p| {
            filter_names.extend(p.names);
            values.extend(p.values);
            p.text
        });
        let fetch = move |start: Option<Item>, limit: Option<i32>, reading: Reading| {
            let (projection_text, projection_names) = match reading {
                Reading::Skim => &skim,
                Reading::Full => &full,
            };
            let mut names = filter_names.clone();
            names.extend(projection_names.clone());
            let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .projection_expression(projection_text)
                .set_filter_expression(filter_text.clone())
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .set_limit(limit)
                .customize()
                .interceptor(BodyBytes(bytes.clone()));
            async move {
                let out = request.send().await.map_err(sdk_error("Query"))?;
                crate::observe::dynamo_call(
                    out.count().max(0) as u64,
                    out.scanned_count().max(0) as u64,
                );
                Ok(Page {
                    count: out.count().max(0) as u64,
                    scanned_count: out.scanned_count().max(0) as u64,
                    last_evaluated_key: out.last_evaluated_key,
                    items: out.items.unwrap_or_default(),
                    bytes: bytes.load(std::sync::atomic::Ordering::Relaxed),
                })
            }
        };
        range_pages(fetch, org, filter, exact, skip, take)
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
                    .map_err(|e| StoreError::other(e.to_string()))?;
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
                Ok((Vec::new(), unprocessed))
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
    ) -> Result<Vec<Item>, StoreError> {
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
                let request = request.map_err(|e| StoreError::other(e.to_string()))?;
                let mut out = client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(sdk_error("BatchGetItem"))?;
                let items = out
                    .responses
                    .as_mut()
                    .and_then(|r| r.remove(table))
                    .unwrap_or_default();
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
        let (projection_text, names) =
            projection(std::iter::once(DOC_ATTR).chain(attributes.iter().copied()));
        let chunks: Vec<Vec<String>> = unique.chunks(BATCH_GET_KEYS).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(move |ids| {
                let (projection_text, names) = (projection_text.clone(), names.clone());
                async move {
                    let items = self.get_chunk(org, &ids, &projection_text, &names).await?;
                    let leads = items
                        .into_iter()
                        .map(|item| lead_from_item(org, item))
                        .collect::<Result<_, _>>()?;
                    Ok(Chunk { ids, leads })
                }
            })
            .buffer_unordered(BATCH_GET_CONCURRENCY)
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
        Box::pin(async_stream::try_stream! {
            let mut pages = std::pin::pin!(self.query_pages(org, filter, skip, take, attributes));
            let mut stats = QueryStats::default();
            while let Some((leads, so_far)) = pages.try_next().await? {
                stats = so_far;
                if !leads.is_empty() {
                    yield leads;
                }
            }
            tracing::info!(
                pages = stats.pages,
                count = stats.count,
                scanned_count = stats.scanned_count,
                accepted = stats.accepted,
                skim_pages = stats.skim_pages,
                skim_scanned = stats.skim_scanned,
                bytes = stats.bytes,
                "bulk query done"
            );
        })
    }
}

/// All pages of [`range_pages`] at once.
async fn collect_pages(
    pages: impl Stream<Item = Result<(Vec<Lead>, QueryStats), StoreError>>,
) -> Result<(Vec<Lead>, QueryStats), StoreError> {
    let mut pages = std::pin::pin!(pages);
    let mut leads = Vec::new();
    let mut stats = QueryStats::default();
    while let Some((page, so_far)) = pages.try_next().await? {
        leads.extend(page);
        stats = so_far;
    }
    Ok((leads, stats))
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
pub fn range_pages<'a, F, Fut>(
    mut fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    exact: bool,
    skip: usize,
    take: usize,
) -> impl Stream<Item = Result<(Vec<Lead>, QueryStats), StoreError>> + 'a
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    async_stream::try_stream! {
        let needed = skip.saturating_add(take);
        let mut stats = QueryStats::default();
        let mut matched = 0usize;
        let mut start: Option<Item> = None;
        let mut full_page = false;
        let mut more = take > 0;
        while more {
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
            if reading == Reading::Skim {
                stats.skim_pages += 1;
                stats.skim_scanned += page.scanned_count;
                stats.last_skim_page_scanned = page.scanned_count;
                // The key after which the next page starts when this one is cut.
                let mut resume = page_start;
                let mut cut = false;
                for item in page.items {
                    check_owner(org, &item)?;
                    if !has_current_search_version(&item) {
                        full_page = true;
                        cut = true;
                        break;
                    }
                    stats.accepted += 1;
                    matched += 1;
                    resume = Some(key_of(&item)?);
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
                let mut leads = Vec::new();
                for item in page.items {
                    let lead = lead_from_item(org, item)?;
                    if !filter.matches(&lead) {
                        continue;
                    }
                    stats.accepted += 1;
                    if matched >= skip {
                        leads.push(lead);
                    }
                    matched += 1;
                    if matched == needed {
                        break;
                    }
                }
                start = page.last_evaluated_key;
                more = matched < needed && start.is_some();
                yield (leads, stats);
            }
        }
        if stats.pages > 0 && stats.pages == stats.skim_pages {
            // Only skimmed pages: the range starts past the end.
            yield (Vec::new(), stats);
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
        (estimate + estimate / 4).clamp(MIN_PAGE, MAX_PAGE)
    };
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}

/// Calls `call` with `pending`, then again with what it reports unprocessed,
/// sleeping with capped exponential backoff and full jitter in between; an
/// error when items are still unprocessed after `max_attempts` calls.
pub async fn retry_unprocessed<T, F, Fut>(
    mut pending: Vec<T>,
    backoff: Backoff,
    mut call: F,
) -> Result<Vec<Item>, StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<(Vec<Item>, Vec<T>), StoreError>>,
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

/// The search attributes of a lead as DynamoDB attributes.
fn search_items(lead: &Lead) -> impl Iterator<Item = (String, AttributeValue)> {
    search_attributes(lead).into_iter().map(|(name, value)| {
        let value = match value {
            SearchValue::Str(s) => AttributeValue::S(s),
            SearchValue::StrSet(set) => AttributeValue::Ss(set.into_iter().collect()),
            SearchValue::Num(n) => AttributeValue::N(n.to_string()),
        };
        (name, value)
    })
}

/// The stored item of a lead (the compact layout): the keys, the document
/// without its `id` as JSON text in [`DOC_ATTR`], and the search attributes.
pub fn lead_to_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut doc = serde_json::to_value(lead).map_err(|e| StoreError::other(e.to_string()))?;
    if let Some(fields) = doc.as_object_mut() {
        fields.remove("id");
    }
    let mut item = key(org, &lead.id);
    item.insert(DOC_ATTR.to_string(), AttributeValue::S(doc.to_string()));
    item.extend(search_items(lead));
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

/// The item of a lead in the earlier layout (what imports wrote before the
/// compact layout): the document as nested attributes (its `id` as the
/// sort key `leadId`), the partition key and the search attributes. Still
/// read by [`lead_from_item`]; written only to test that.
pub fn legacy_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(lead).map_err(|e| StoreError::other(e.to_string()))?;
    item.remove("id");
    item.extend(key(org, &lead.id));
    item.extend(search_items(lead));
    Ok(item)
}

/// The lead of a stored item, refusing an item of another organization. A
/// compact item's [`DOC_ATTR`] is parsed straight into the lead; an item of
/// the earlier layout (no `doc`) is read from its attributes.
pub fn lead_from_item(org: &OrgId, mut item: Item) -> Result<Lead, StoreError> {
    check_owner(org, &item)?;
    let id = match item.remove("leadId") {
        Some(AttributeValue::S(id)) => id,
        _ => return Err(StoreError::other("an item without a leadId was returned")),
    };
    let mut lead: Lead = match item.remove(DOC_ATTR) {
        Some(AttributeValue::S(doc)) => serde_json::from_str(&doc)
            .map_err(|e| StoreError::other(format!("the doc of an item: {e}")))?,
        Some(_) => return Err(StoreError::other("an item whose doc is not a string")),
        None => serde_dynamo::from_item(item).map_err(|e| StoreError::other(e.to_string()))?,
    };
    lead.id = id;
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
