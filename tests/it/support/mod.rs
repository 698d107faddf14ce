//! Shared by the integration tests: apps over in-memory or moto-backed
//! stores, tokens, and API Gateway events.
#![allow(dead_code)]

pub mod simdb;
pub mod testgen;
pub mod wire_json;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use lambda_http::{Body, Request, Response};
use lead_export::app::{App, Backends};
use lead_export::audit::MemoryAuditLog;
use lead_export::auth::{sign_hs256, OrgId};
use lead_export::config::Config;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::deliver::{ObjectMeta, ObjectStore, ObjectStoreError};
use lead_export::demo::demo_leads;
use lead_export::error::FaultKind;
use lead_export::filters::CompiledFilter;
use lead_export::model::Lead;
use lead_export::observe::MemoryMetrics;
use lead_export::store::{
    Attributes, Chunk, Chunks, LeadPages, LeadStore, MemoryStore, StoreError,
};

/// The secret the event fixtures are signed with.
pub const DEV_SECRET: &str = "dev-secret-change-me";
pub const ORG_A: &str = "org-demo-a";
pub const ORG_B: &str = "org-demo-b";

/// A configuration from `vars` (JWT_SECRET defaults to the dev secret).
pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !map.contains_key("JWT_PUBLIC_KEY") && !map.contains_key("JWT_JWKS") {
        map.entry("JWT_SECRET".into()).or_insert(DEV_SECRET.into());
    }
    Config::from_lookup(|k| map.get(k).cloned()).expect("test config")
}

/// The demo data of `make run`: 3000 leads in org A, 1000 in org B.
pub fn demo_store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(ORG_A, demo_leads(1, 3000));
    store.insert(ORG_B, demo_leads(2, 1000));
    Arc::new(store)
}

pub fn app_with(config: &Config, store: Arc<dyn LeadStore>, objects: Arc<dyn ObjectStore>) -> App {
    App::new(
        config,
        Backends {
            store,
            cursors: Arc::new(lead_export::store::MemoryCursors::new()),
            objects,
            audit_log: Arc::new(MemoryAuditLog::new()),
            metrics: Arc::new(MemoryMetrics::new()),
        },
    )
}

/// An app over the demo data with in-memory objects.
pub fn demo_app() -> (App, Arc<MemoryObjects>) {
    let objects = Arc::new(MemoryObjects::new());
    (
        app_with(&config(&[]), demo_store(), objects.clone()),
        objects,
    )
}

pub fn token(org: &str) -> String {
    sign_hs256(DEV_SECRET.as_bytes(), "org_id", org, 600, None, None).unwrap()
}

/// A POST of `body` as an HTTP API event would deliver it.
pub fn post(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/api/v1/operations/export");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

pub fn post_as(org: &str, body: &serde_json::Value) -> Request {
    let auth = format!("Bearer {}", token(org));
    post(
        &body.to_string(),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
    )
}

pub fn body_bytes(resp: &Response<Body>) -> Vec<u8> {
    match resp.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => panic!("unexpected body kind"),
    }
}

pub fn body_json(resp: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(&body_bytes(resp)).expect("a JSON body")
}

pub fn header<'a>(resp: &'a Response<Body>, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The CSV of a response as rows of cells.
pub fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The moto endpoint `make test` started. The tests that call this are
/// `#[ignore = "needs moto: run make test"]`; run without moto (say with
/// `--include-ignored`) they fail with a message naming `make test`.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            panic!("MOTO_ENDPOINT is not set: this test needs moto; run `make test`, which starts moto and runs the ignored tests")
        })
}

/// The DynamoDB of the tests that need one: `DYNAMODB_ENDPOINT` when set
/// (`make test` runs them a second time with dynalite there), else moto. S3
/// is always moto's ([`moto_endpoint`]).
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(moto_endpoint)
}

/// Whether the DynamoDB of the tests is moto (dynalite has no time-to-live
/// API: `UnknownOperationException`).
pub fn dynamodb_is_moto() -> bool {
    dynamodb_endpoint() == moto_endpoint()
}

/// The environment variables of the test endpoints: DynamoDB at
/// [`dynamodb_endpoint`], S3 at moto (for [`endpoint_config`] and the
/// processes the tests start).
pub fn endpoint_vars() -> [(&'static str, String); 2] {
    [
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint()),
        ("AWS_ENDPOINT_URL_S3", moto_endpoint()),
    ]
}

/// A configuration from `vars` with the test endpoints ([`endpoint_vars`]).
pub fn endpoint_config(vars: &[(&str, &str)]) -> Config {
    let endpoints = endpoint_vars();
    let mut all: Vec<(&str, &str)> = endpoints.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(vars);
    config(&all)
}

/// A DynamoDB client of the test DynamoDB ([`dynamodb_endpoint`]).
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let sdk = lead_export::aws::sdk_config().await;
    lead_export::aws::dynamodb(&sdk, Some(&dynamodb_endpoint()))
}

/// A unique name for a table or bucket of one test.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A `DynamoStore` over a new table (named from `prefix`) on the test
/// DynamoDB ([`dynamodb_endpoint`]).
pub async fn dynamodb_store(prefix: &str) -> lead_export::store::DynamoStore {
    let table = unique(prefix);
    let dynamo = dynamodb_client().await;
    lead_export::aws::ensure_table(&dynamo, &table)
        .await
        .unwrap();
    lead_export::store::DynamoStore::new(dynamo, &table)
}

pub const SECOND: Duration = Duration::from_secs(1);

/// The one configurable `LeadStore` fake: the leads of `inner`, each read
/// waiting `delay` first, failing with `fail` when set, lookups by id
/// handed out last chunk first with `reverse_chunks`; counts how often
/// each lead is handed out.
pub struct FakeStore {
    pub inner: Arc<MemoryStore>,
    pub delay: Duration,
    pub fail: Option<(FaultKind, String)>,
    pub reverse_chunks: bool,
    pub handed: Mutex<HashMap<String, usize>>,
}

impl FakeStore {
    /// The leads of `inner`, served at once.
    pub fn over(inner: Arc<MemoryStore>) -> Self {
        FakeStore {
            inner,
            delay: Duration::ZERO,
            fail: None,
            reverse_chunks: false,
            handed: Mutex::default(),
        }
    }

    /// A store whose every read fails with `kind` and `message`.
    pub fn failing(kind: FaultKind, message: &str) -> Self {
        FakeStore {
            fail: Some((kind, message.to_string())),
            ..FakeStore::over(Arc::new(MemoryStore::new()))
        }
    }

    /// How often each lead id was handed out.
    pub fn handed_out(&self) -> HashMap<String, usize> {
        self.handed.lock().unwrap().clone()
    }

    fn hand_out(&self, leads: &[Lead]) {
        let mut handed = self.handed.lock().unwrap();
        for lead in leads {
            *handed.entry(lead.id.clone()).or_default() += 1;
        }
    }

    async fn before_a_read(&self) -> Result<(), StoreError> {
        tokio::time::sleep(self.delay).await;
        match &self.fail {
            Some((kind, message)) => Err(StoreError {
                kind: *kind,
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl LeadStore for FakeStore {
    fn get_many<'a>(
        &'a self,
        org: &'a OrgId,
        ids: &'a [String],
        attributes: &'a Attributes,
    ) -> Chunks<'a> {
        Box::pin(async_stream::try_stream! {
            self.before_a_read().await?;
            let mut chunks = self.inner.get_many(org, ids, attributes);
            if self.reverse_chunks {
                let all: Vec<Chunk> = chunks.try_collect().await?;
                for chunk in all.into_iter().rev() {
                    self.hand_out(&chunk.leads);
                    yield chunk;
                }
            } else {
                while let Some(chunk) = chunks.try_next().await? {
                    self.hand_out(&chunk.leads);
                    yield chunk;
                }
            }
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
        Box::pin(async_stream::try_stream! {
            self.before_a_read().await?;
            let mut pages = self.inner.find_range(org, filter, skip, take, attributes);
            while let Some(page) = pages.try_next().await? {
                self.hand_out(&page.leads);
                yield page;
            }
        })
    }
}

/// The one configurable `ObjectStore` fake: in-memory objects whose part
/// uploads wait `delay`, and fail with `fail` from part `.0` on; records
/// the sizes of the parts handed to it and counts aborts.
pub struct FakeObjects<S = MemoryObjects> {
    pub inner: S,
    pub delay: Duration,
    pub fail: Option<(i32, FaultKind)>,
    pub aborts: AtomicUsize,
    pub part_sizes: Mutex<Vec<usize>>,
}

impl<S> FakeObjects<S> {
    /// `inner`, parts uploaded at once, nothing failing.
    pub fn wrapping(inner: S) -> Self {
        FakeObjects {
            inner,
            delay: Duration::ZERO,
            fail: None,
            aborts: AtomicUsize::new(0),
            part_sizes: Mutex::default(),
        }
    }

    /// Aborted uploads.
    pub fn aborts(&self) -> usize {
        self.aborts.load(Ordering::SeqCst)
    }
}

impl FakeObjects {
    /// In-memory objects, parts uploaded at once, nothing failing.
    pub fn new() -> Self {
        FakeObjects::wrapping(MemoryObjects::new())
    }

    /// Part uploads fail with `kind` from part `from` on.
    pub fn failing_from(from: i32, kind: FaultKind) -> Self {
        FakeObjects {
            fail: Some((from, kind)),
            ..FakeObjects::new()
        }
    }

    /// Part uploads take `delay`.
    pub fn slow(delay: Duration) -> Self {
        FakeObjects {
            delay,
            ..FakeObjects::new()
        }
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FakeObjects<S> {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        self.inner.create_multipart(key, meta).await
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        n: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        tokio::time::sleep(self.delay).await;
        if let Some((from, kind)) = self.fail {
            if n >= from {
                return Err(ObjectStoreError {
                    kind,
                    message: format!("injected failure of part {n}: SlowDown"),
                });
            }
        }
        self.part_sizes.lock().unwrap().push(body.len());
        self.inner.upload_part(key, id, n, body).await
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.inner.complete(key, id, parts).await
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        self.inner.abort(key, id).await
    }
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        self.inner.size_of(key).await
    }
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        self.inner.uploads_of(key).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.inner.presign_get(key, ttl).await
    }
}

/// The date (year, month, day) of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`), for expectations computed
/// independently of the code under test.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The spec's export filename (`lance-prospects-YYYY-MM-DD.csv`, the UTC
/// date) at `unix_seconds`.
pub fn spec_filename(unix_seconds: i64) -> String {
    let (y, m, d) = civil_from_days(unix_seconds.div_euclid(86_400));
    format!("lance-prospects-{y:04}-{m:02}-{d:02}.csv")
}

/// Seconds since the UNIX epoch, from the system clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The spec's export fields (`tests/data/spec_fields.json`, copied by hand
/// from `export-to-csv.md`): (id, label, default) in the spec's order, and the
/// default ids in the spec's order.
pub fn spec_fields() -> (Vec<(String, String, bool)>, Vec<String>) {
    let text = include_str!("../../data/spec_fields.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("spec_fields.json");
    let fields = v["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().expect("id").to_string(),
                f["label"].as_str().expect("label").to_string(),
                f["default"].as_bool().expect("default"),
            )
        })
        .collect();
    let defaults = v["defaultOrder"]
        .as_array()
        .expect("defaultOrder")
        .iter()
        .map(|d| d.as_str().expect("a default id").to_string())
        .collect();
    (fields, defaults)
}

/// A DynamoDB client over a fake HTTP client (`infallible_client_fn`):
/// static credentials, us-east-1, retrying as `retry` says.
pub fn dynamodb_over(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    retry: aws_sdk_dynamodb::config::retry::RetryConfig,
) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .retry_config(retry)
        .http_client(http)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
