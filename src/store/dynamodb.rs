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

/// [`range_pages`] collected.
pub async fn collect_range<F, Fut>(
    fetch: F,
    org: &OrgId,
    filter: &CompiledFilter,
    exact: bool,
    skip: usize,
    take: usize,
) -> Result<(Vec<Lead>, QueryStats), StoreError>
where
    F: FnMut(Option<Item>, Option<i32>, Reading) -> Fut,
    Fut: Future<Output = Result<Page, StoreError>>,
{
    collect_pages(range_pages(fetch, org, filter, exact, skip, take)).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn org() -> OrgId {
        OrgId::new("org-a").unwrap()
    }

    fn item(id: &str) -> Item {
        lead_to_item(
            &org(),
            &Lead {
                id: id.into(),
                first_name: "F".into(),
                last_name: id.into(),
                ..Lead::default()
            },
        )
        .unwrap()
    }

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
            max_attempts: 5,
        }
    }

    #[test]
    fn item_round_trip_keeps_the_document() {
        let lead: Lead =
            serde_json::from_str(include_str!("../../tests/data/spec_lead.json")).unwrap();
        let item = lead_to_item(&org(), &lead).unwrap();
        assert_eq!(item["leadId"], AttributeValue::S(lead.id.clone()));
        assert!(!item.contains_key("id"));
        assert!(item.contains_key(filters::SEARCH_VERSION_ATTR));
        assert_eq!(lead_from_item(&org(), item).unwrap(), lead);
    }

    #[test]
    fn a_compact_item_is_the_keys_the_doc_and_the_search_attributes() {
        let lead: Lead =
            serde_json::from_str(include_str!("../../tests/data/spec_lead.json")).unwrap();
        let item = lead_to_item(&org(), &lead).unwrap();
        let mut names: Vec<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with("s_"))
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["doc", "leadId", "orgId"]);
        let AttributeValue::S(doc) = &item[DOC_ATTR] else {
            panic!("doc is not a string")
        };
        assert!(!doc.contains(&format!("\"id\":\"{}\"", lead.id)), "{doc}");
        assert_eq!(
            search_attributes(&lead).len(),
            item.len() - 3,
            "every search attribute"
        );
    }

    /// DynamoDB's item size: names plus values (strings and numbers as
    /// text, sets and maps summed, 1 byte per nesting or list element).
    fn item_size(item: &Item) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
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

    /// On the demo leads, compact items hold fewer attributes than those of
    /// the earlier layout; prints the sizes (the figures in docs/design.md).
    #[test]
    fn compact_demo_items_have_fewer_attributes() {
        let leads = crate::demo::demo_leads(1, 3000);
        let (mut compact_attrs, mut legacy_attrs, mut compact_bytes, mut legacy_bytes) =
            (0, 0, 0, 0);
        for lead in &leads {
            let compact = lead_to_item(&org(), lead).unwrap();
            let legacy = legacy_item(&org(), lead).unwrap();
            assert!(compact.len() < legacy.len(), "{}", lead.id);
            compact_attrs += compact.len();
            legacy_attrs += legacy.len();
            compact_bytes += item_size(&compact);
            legacy_bytes += item_size(&legacy);
        }
        let n = leads.len() as f64;
        println!(
            "demo items: compact {:.1} attributes, {:.0} bytes; earlier layout {:.1} attributes, {:.0} bytes",
            compact_attrs as f64 / n,
            compact_bytes as f64 / n,
            legacy_attrs as f64 / n,
            legacy_bytes as f64 / n
        );
        assert!(compact_attrs * 3 < legacy_attrs * 2, "a third fewer");
    }

    #[test]
    fn an_item_of_the_earlier_layout_still_reads() {
        let lead: Lead =
            serde_json::from_str(include_str!("../../tests/data/spec_lead.json")).unwrap();
        let item = legacy_item(&org(), &lead).unwrap();
        assert!(!item.contains_key(DOC_ATTR));
        assert!(item.contains_key("firstName") && item.contains_key("company"));
        assert_eq!(lead_from_item(&org(), item.clone()).unwrap(), lead);
        let other = OrgId::new("org-b").unwrap();
        assert!(lead_from_item(&other, item).is_err(), "the org check too");
    }

    #[test]
    fn a_doc_that_is_not_a_lead_is_an_error() {
        let mut bad = item("x");
        bad.insert(DOC_ATTR.into(), AttributeValue::S("{\"emails\": 3}".into()));
        assert!(lead_from_item(&org(), bad).is_err());
        let mut bad = item("x");
        bad.insert(DOC_ATTR.into(), AttributeValue::N("3".into()));
        assert!(lead_from_item(&org(), bad).is_err());
    }

    #[test]
    fn an_item_of_another_organization_is_an_error() {
        let other = OrgId::new("org-b").unwrap();
        assert!(lead_from_item(&other, item("x")).is_err());
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let b = Backoff::default();
        for retry in 1..30 {
            assert!(b.delay(retry) <= b.cap);
        }
        assert!(b.delay(1) <= b.base);
    }

    #[tokio::test]
    async fn unprocessed_keys_are_retried_until_done() {
        let calls = AtomicU32::new(0);
        let got = retry_unprocessed(vec!["a", "b", "c"], fast(), |keys| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                // Each call processes only the first pending key.
                let (first, rest) = keys.split_first().unwrap();
                let _ = n;
                Ok((vec![item(first)], rest.to_vec()))
            }
        })
        .await
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn persistent_unprocessed_keys_fail_instead_of_a_partial_file() {
        let calls = AtomicU32::new(0);
        let err = retry_unprocessed(vec!["a", "b"], fast(), |keys| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok((vec![item("z")], keys)) }
        })
        .await
        .unwrap_err();
        assert!(err.message.contains("unprocessed"), "{err}");
        assert_eq!(err.kind, crate::error::FaultKind::Transient);
        assert_eq!(calls.load(Ordering::SeqCst), fast().max_attempts);
    }

    /// How a lead of the fake table is stored.
    #[derive(Clone, Copy, Debug)]
    enum Layout {
        Compact,
        Legacy,
        /// The earlier layout without search attributes.
        LegacyPlain,
    }

    /// A Query over an in-memory partition: `ExclusiveStartKey`, `Limit`,
    /// the push-down evaluated as DynamoDB would (items without the current
    /// `s_v` always pass) and the projection of `reading`.
    struct FakeTable {
        rows: Vec<(Lead, Layout)>,
    }

    impl FakeTable {
        fn new(mut rows: Vec<(Lead, Layout)>) -> Self {
            rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            FakeTable { rows }
        }

        fn query(
            &self,
            filter: &CompiledFilter,
            start: Option<Item>,
            limit: i32,
            reading: Reading,
        ) -> Page {
            let from = match start {
                None => 0,
                Some(key) => {
                    let AttributeValue::S(id) = &key["leadId"] else {
                        panic!()
                    };
                    self.rows.partition_point(|(l, _)| l.id <= *id)
                }
            };
            let end = (from + limit as usize).min(self.rows.len());
            let cond = filter.pushdown();
            let items: Vec<Item> = self.rows[from..end]
                .iter()
                .filter(|(lead, layout)| {
                    matches!(layout, Layout::LegacyPlain) || cond.eval(&search_attributes(lead))
                })
                .map(|(lead, layout)| {
                    let mut item = match layout {
                        Layout::Compact => lead_to_item(&org(), lead).unwrap(),
                        Layout::Legacy => legacy_item(&org(), lead).unwrap(),
                        Layout::LegacyPlain => legacy_item(&org(), lead)
                            .unwrap()
                            .into_iter()
                            .filter(|(k, _)| !k.starts_with("s_"))
                            .collect(),
                    };
                    if reading == Reading::Skim {
                        item.retain(|k, _| ["orgId", "leadId", "s_v"].contains(&k.as_str()));
                    }
                    item
                })
                .collect();
            Page {
                count: items.len() as u64,
                scanned_count: (end - from) as u64,
                items,
                last_evaluated_key: (end < self.rows.len())
                    .then(|| key(&org(), &self.rows[end - 1].0.id)),
                bytes: 0,
            }
        }
    }

    /// The ids `collect_range` returns over the fake table, the expected
    /// ones, and each fetch's (start id, reading).
    async fn skim_run(
        table: &FakeTable,
        filter: &serde_json::Value,
        skip: usize,
        take: usize,
    ) -> (Vec<String>, Vec<String>, Vec<(Option<String>, Reading)>) {
        let filter = filters::compile(filter).unwrap();
        let (_, exact) = pushed_filter(&filter);
        let mut calls = Vec::new();
        let (leads, _) = collect_range(
            |start: Option<Item>, limit, reading| {
                let id = start.as_ref().map(|k| match &k["leadId"] {
                    AttributeValue::S(id) => id.clone(),
                    _ => panic!(),
                });
                calls.push((id, reading));
                let page = table.query(&filter, start, limit.unwrap(), reading);
                async move { Ok(page) }
            },
            &org(),
            &filter,
            exact,
            skip,
            take,
        )
        .await
        .unwrap();
        let expected: Vec<String> = table
            .rows
            .iter()
            .filter(|(l, _)| filter.matches(l))
            .skip(skip)
            .take(take)
            .map(|(l, _)| l.id.clone())
            .collect();
        (leads.into_iter().map(|l| l.id).collect(), expected, calls)
    }

    fn demo_rows(layout: impl Fn(usize) -> Layout) -> FakeTable {
        let rows = crate::demo::demo_leads(5, 600)
            .into_iter()
            .enumerate()
            .map(|(i, l)| (l, layout(i)))
            .collect();
        FakeTable::new(rows)
    }

    #[tokio::test]
    async fn skimming_skips_by_key_then_reads_the_range_in_full() {
        let table = demo_rows(|_| Layout::Compact);
        let (got, expected, calls) = skim_run(&table, &serde_json::json!({}), 250, 20).await;
        assert_eq!(got, expected);
        // One skimming page of exactly 250 items, then the range in full
        // from the 250th lead's key.
        assert_eq!(
            calls,
            [
                (None, Reading::Skim),
                (Some(table.rows[249].0.id.clone()), Reading::Full)
            ]
        );
        let germany =
            serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}});
        let (got, expected, calls) = skim_run(&table, &germany, 30, 10).await;
        assert!(!expected.is_empty());
        assert_eq!(got, expected);
        assert_eq!(calls[0].1, Reading::Skim);
        let first_full = calls.iter().position(|c| c.1 == Reading::Full).unwrap();
        assert!(calls[first_full..].iter().all(|c| c.1 == Reading::Full));
        let word = serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}});
        let (got, expected, calls) = skim_run(&table, &word, 30, 10).await;
        assert_eq!(got, expected);
        assert!(
            calls.iter().all(|c| c.1 == Reading::Full),
            "an inexact push-down never skims"
        );
    }

    #[tokio::test]
    async fn skimming_over_mixed_layouts_reads_the_earlier_items_in_full() {
        let table = demo_rows(|i| match i % 7 {
            0 => Layout::LegacyPlain,
            1 => Layout::Legacy,
            _ => Layout::Compact,
        });
        let filters = [
            serde_json::json!({}),
            serde_json::json!({"contact": {"location": {"any": {"include": ["Germany"]}}}}),
            serde_json::json!({"contact": {"seniority": {"any": {"exclude": ["VP"]}}}}),
            serde_json::json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}}),
        ];
        for filter in &filters {
            for (skip, take) in [(0, 5), (1, 1), (40, 7), (199, 50), (590, 30), (5000, 1)] {
                let (got, expected, calls) = skim_run(&table, filter, skip, take).await;
                assert_eq!(got, expected, "{filter} skip {skip} take {take}");
                if skip > 40 && filter.as_object().unwrap().is_empty() {
                    assert!(calls.iter().any(|c| c.1 == Reading::Skim));
                }
            }
        }
    }

    fn pages(pages: Vec<(Vec<&'static str>, bool)>) -> Vec<Page> {
        pages
            .into_iter()
            .map(|(ids, more)| Page {
                count: ids.len() as u64,
                scanned_count: ids.len() as u64,
                items: ids.into_iter().map(item).collect(),
                last_evaluated_key: more.then(|| item("k")),
                bytes: 0,
            })
            .collect()
    }

    async fn run_pages(
        all: Vec<Page>,
        skip: usize,
        take: usize,
    ) -> (Vec<String>, QueryStats, Vec<Option<i32>>) {
        let filter = filters::compile(&serde_json::json!({})).unwrap();
        let mut queue = all.into_iter();
        let mut limits = Vec::new();
        let (leads, stats) = collect_range(
            |_, limit, reading| {
                assert_eq!(reading, Reading::Full, "not exact: never skims");
                limits.push(limit);
                let page = queue.next().expect("asked for a page past the end");
                async move { Ok(page) }
            },
            &org(),
            &filter,
            false,
            skip,
            take,
        )
        .await
        .unwrap();
        (leads.into_iter().map(|l| l.id).collect(), stats, limits)
    }

    #[tokio::test]
    async fn an_empty_page_with_a_key_is_not_the_end() {
        let all = pages(vec![
            (vec!["a", "b"], true),
            (vec![], true),
            (vec!["c", "d"], false),
        ]);
        let (ids, stats, _) = run_pages(all, 1, 10).await;
        assert_eq!(ids, ["b", "c", "d"]);
        assert_eq!(stats.pages, 3);
    }

    #[tokio::test]
    async fn stops_at_the_page_holding_the_last_needed_lead() {
        let all = pages(vec![
            (vec!["a", "b"], true),
            (vec!["c", "d"], true),
            (vec!["e", "f"], false),
        ]);
        let (ids, stats, limits) = run_pages(all, 1, 2).await;
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(stats.pages, 2, "the third page is never read");
        assert_eq!(limits, [Some(3), Some(1)], "asks only for what is missing");
    }

    #[test]
    fn filtered_pages_follow_the_observed_selectivity() {
        let fresh = QueryStats::default();
        assert_eq!(page_limit(true, 7, &fresh), 7);
        assert_eq!(page_limit(false, 50, &fresh), 625, "10% guess + 25%");
        assert_eq!(page_limit(false, 1, &fresh), 100, "at least 100");
        let seen = QueryStats {
            scanned_count: 2000,
            accepted: 100,
            ..QueryStats::default()
        };
        assert_eq!(
            page_limit(false, 40, &seen),
            1000,
            "5% observed: 40 / 0.05 * 1.25"
        );
        let none_yet = QueryStats {
            scanned_count: 10_000,
            accepted: 0,
            ..QueryStats::default()
        };
        assert_eq!(page_limit(false, 1000, &none_yet), 10_000, "at most 10,000");
    }
}
