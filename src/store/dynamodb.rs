//! The DynamoDB `LeadStore`: table `LEADS_TABLE`, partition key `orgId`, sort
//! key `leadId`, the lead document stored as attributes beside the normalized
//! search attributes of `filters::search_attributes`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::{Stream, StreamExt, TryStreamExt};
use rand::Rng;

use super::expression::{projection, render_filter};
use super::{unique_in_order, Attributes, Chunk, Chunks, LeadPages, LeadStore, StoreError};
use crate::auth::OrgId;
use crate::filters::{search_attributes, CompiledFilter, SearchValue};
use crate::model::Lead;

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
}

/// One page of a Query.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub last_evaluated_key: Option<Item>,
    pub count: u64,
    pub scanned_count: u64,
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

    /// The bulk range read at once, with what it cost.
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
        let pushed = render_filter(&filter.pushdown());
        let mut attrs = attributes.clone();
        attrs.extend(filter.lead_attributes());
        let (projection_text, mut names) = projection(attrs.iter().copied());
        names.insert("#pk".into(), "orgId".into());
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(org.to_string()))]);
        let filter_text = pushed.map(|p| {
            names.extend(p.names);
            values.extend(p.values);
            p.text
        });
        let fetch = move |start: Option<Item>, limit: Option<i32>| {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .projection_expression(&projection_text)
                .set_filter_expression(filter_text.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .set_limit(limit);
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
                })
            }
        };
        range_pages(fetch, org, filter, skip, take)
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
        let (projection_text, names) = projection(attributes.iter().copied());
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

/// [`range_pages`] collected.
pub async fn collect_range<F, Fut>(
    fetch: F,
    org: &OrgId,
    filter: &CompiledFilter,
    skip: usize,
    take: usize,
) -> Result<(Vec<Lead>, QueryStats), StoreError>
where
    F: FnMut(Option<Item>, Option<i32>) -> Fut,
    Fut: Future<Output = Result<Page, StoreError>>,
{
    collect_pages(range_pages(fetch, org, filter, skip, take)).await
}

/// Reads pages until the `skip + take`-th match is found or the partition
/// ends, handing out each page's leads in the range (with the stats so
/// far) as it arrives. An empty page that carries a `LastEvaluatedKey` is
/// not the end. Each page asks for about what is still needed (`Limit`,
/// see [`page_limit`]), so the read stops near the last needed lead.
pub fn range_pages<'a, F, Fut>(
    mut fetch: F,
    org: &'a OrgId,
    filter: &'a CompiledFilter,
    skip: usize,
    take: usize,
) -> impl Stream<Item = Result<(Vec<Lead>, QueryStats), StoreError>> + 'a
where
    F: FnMut(Option<Item>, Option<i32>) -> Fut + 'a,
    Fut: Future<Output = Result<Page, StoreError>> + 'a,
{
    async_stream::try_stream! {
        let needed = skip.saturating_add(take);
        let mut stats = QueryStats::default();
        let mut matched = 0usize;
        let mut start = None;
        let mut more = take > 0;
        while more {
            let limit = page_limit(filter.is_empty(), needed - matched, &stats);
            let page = fetch(start.take(), Some(limit)).await?;
            stats.pages += 1;
            stats.count += page.count;
            stats.scanned_count += page.scanned_count;
            stats.last_page_scanned = page.scanned_count;
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

/// The stored item of a lead: the document (its `id` as the sort key
/// `leadId`), the partition key and the search attributes.
pub fn lead_to_item(org: &OrgId, lead: &Lead) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(lead).map_err(|e| StoreError::other(e.to_string()))?;
    item.remove("id");
    item.extend(key(org, &lead.id));
    for (name, value) in search_attributes(lead) {
        let value = match value {
            SearchValue::Str(s) => AttributeValue::S(s),
            SearchValue::StrSet(set) => AttributeValue::Ss(set.into_iter().collect()),
            SearchValue::Num(n) => AttributeValue::N(n.to_string()),
        };
        item.insert(name, value);
    }
    Ok(item)
}

/// The lead of a stored item, refusing an item of another organization.
pub fn lead_from_item(org: &OrgId, mut item: Item) -> Result<Lead, StoreError> {
    match item.get("orgId") {
        Some(AttributeValue::S(owner)) if owner == org.as_str() => {}
        _ => {
            return Err(StoreError::other(
                "an item of another organization was returned",
            ))
        }
    }
    let id = match item.remove("leadId") {
        Some(AttributeValue::S(id)) => id,
        _ => return Err(StoreError::other("an item without a leadId was returned")),
    };
    let mut lead: Lead =
        serde_dynamo::from_item(item).map_err(|e| StoreError::other(e.to_string()))?;
    lead.id = id;
    Ok(lead)
}

/// A failed SDK call as a `StoreError`, transient or not (see
/// [`crate::aws::fault_kind`]).
fn sdk_error<E>(op: &'static str) -> impl Fn(SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| StoreError {
        kind: crate::aws::fault_kind(&e),
        message: format!(
            "{op} failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ),
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

    fn pages(pages: Vec<(Vec<&'static str>, bool)>) -> Vec<Page> {
        pages
            .into_iter()
            .map(|(ids, more)| Page {
                count: ids.len() as u64,
                scanned_count: ids.len() as u64,
                items: ids.into_iter().map(item).collect(),
                last_evaluated_key: more.then(|| item("k")),
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
            |_, limit| {
                limits.push(limit);
                let page = queue.next().expect("asked for a page past the end");
                async move { Ok(page) }
            },
            &org(),
            &filter,
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
