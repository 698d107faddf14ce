//! A simulated DynamoDB at the SDK's HTTP layer, on tokio's clock: the real
//! `DynamoStore` (and any other DynamoDB client of the crate) runs unchanged
//! against it, and every answer arrives after a simulated latency, so on a
//! paused clock (`start_paused = true`) a run measures simulated time only.
//! The model and its sources: `docs/simulate.md`.
//!
//! - The leads table ([`LEADS_TABLE`]) holds synthetic organizations,
//!   generated lazily ([`OrgSpec`]): lead `i` of `n` has the id
//!   [`lead_id`]`(i, n)` (increasing in `i`) and matches the scenario's
//!   filter ([`filter_json`]) when [`matches`]`(seed, i, selectivity)`.
//! - `Query` on it honours a sort-key condition (`>`, `>=`, `<=`, `<`,
//!   `BETWEEN` on UUID-formatted bounds), `ExclusiveStartKey` (refused
//!   outside the sort-key condition, as DynamoDB does), `Limit`, the 1 MB page,
//!   the FilterExpression (decided by the synthetic match, not parsed),
//!   `ProjectionExpression`; charges read units to one token bucket per
//!   organization, and throttles a request that finds it in debt.
//! - `GetItem`, `BatchGetItem`, `PutItem`, `UpdateItem`, `DeleteItem` and
//!   `BatchWriteItem` on any other table: an in-memory key-value store.
//!   Anything else answers `400 ValidationException` "not simulated: ...".
//!
//! Used by `tests/it/simulate.rs` and by `examples/simulate.rs` (through
//! `#[path]`), which is why it carries the driver too ([`sim_app`],
//! [`export`], [`Matches`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use lead_export::app::{App, Backends};
use lead_export::audit::MemoryAuditLog;
use lead_export::auth::OrgId;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::model::Lead;
use lead_export::observe::MemoryMetrics;
use lead_export::store::dynamodb::lead_to_item;
use lead_export::store::DynamoStore;

/// The simulated leads table.
pub const LEADS_TABLE: &str = "leads";
/// The cursors table of the simulated app (position checkpoints).
pub const CURSORS_TABLE: &str = "export-cursors";
/// The size DynamoDB counts for every synthetic lead item: the average
/// DynamoDB item size of the demo leads `make bench` stores (the layout of
/// `lead_to_item`: the packed document and the search attributes of `s_v`
/// 2, measured by [`dynamodb_item_size`]: 1,137 bytes over the first 1,000
/// demo leads; 1,416 with the document as JSON text, 2,098 in the layout
/// before that; the
/// test `simulate::the_item_size_is_the_demo_leads_average` keeps it
/// honest).
pub const ITEM_BYTES: u64 = 1_137;
/// DynamoDB ends a Query page when the items read reach 1 MB.
pub const PAGE_BYTES: u64 = 1 << 20;
/// Read units a partition serves per second (DynamoDB's per-partition
/// limit), and the burst it may bank.
pub const PARTITION_UNITS_PER_SECOND: f64 = 3_000.0;
/// The burst capacity of a partition's bucket, in read units.
pub const PARTITION_BURST: f64 = 3_000.0;
/// The skill every matching synthetic lead has; the filter asks for it.
pub const SKILL: &str = "rust";
/// The skill of a lead that does not match (returned only without a filter).
const OTHER_SKILL: &str = "cobol";
/// The JWT secret of the simulated app.
pub const SECRET: &str = "simulate-secret";
/// The API Gateway timeout: the simulated Lambda's `EXPORT_TIMEOUT_SECONDS`.
pub const TIMEOUT_SECONDS: u64 = 29;

/// The scenario's People Search filter: leads skilled in [`SKILL`] (a
/// `SMART` term, whose push-down is exact, so pages before a range are
/// skimmed).
pub fn filter_json() -> Value {
    json!({"contact": {"skill": {"any": {"include": [SKILL]}}}})
}

/// A synthetic organization: `n` leads, a share `selectivity` of which match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrgSpec {
    /// Leads in the organization.
    pub n: u64,
    /// The share of leads that match the filter, in `[0, 1]`.
    pub selectivity: f64,
}

/// The 128-bit spacing of the ids of an organization of `n` leads.
fn spacing(n: u64) -> u128 {
    u128::MAX / u128::from(n.max(1))
}

/// The id of lead `i` of an organization of `n`: `i * (2^128 / n)` as a
/// UUID-formatted (8-4-4-4-12) lowercase hex string, increasing in `i`.
pub fn lead_id(i: u64, n: u64) -> String {
    let v = u128::from(i) * spacing(n);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The first lead index whose id sorts after `id` (a binary search, done
/// by arithmetic since the ids are evenly spaced); `None` when `id` is not
/// UUID-formatted hex.
pub fn index_after(id: &str, n: u64) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || id.len() != 36 {
        return None;
    }
    let v = u128::from_str_radix(&hex, 16).ok()?;
    let after = v / spacing(n) + 1;
    Some(u64::try_from(after).unwrap_or(u64::MAX).min(n))
}

/// The first lead index whose id sorts at or after `id`; `None` when `id`
/// is not UUID-formatted hex.
pub fn index_at_or_after(id: &str, n: u64) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || id.len() != 36 {
        return None;
    }
    let v = u128::from_str_radix(&hex, 16).ok()?;
    let at = v / spacing(n) + u128::from(v % spacing(n) != 0);
    Some(u64::try_from(at).unwrap_or(u64::MAX).min(n))
}

/// SplitMix64: the hash of the synthetic data and the simulator's RNG.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether lead `i` matches the filter: a hash of (`seed`, `i`) below
/// `selectivity` (as a fraction of 2^64).
pub fn matches(seed: u64, i: u64, selectivity: f64) -> bool {
    let threshold = (selectivity.clamp(0.0, 1.0) * 18_446_744_073_709_551_616.0) as u128;
    u128::from(splitmix(splitmix(seed) ^ i)) < threshold
}

/// The lead documents behind a synthetic item: its id as `firstName` (so an
/// export's `name` column gives the id back), [`SKILL`] among its skills
/// when it matches.
pub fn synthetic_lead(i: u64, n: u64, matching: bool) -> Lead {
    let id = lead_id(i, n);
    Lead {
        first_name: id.as_str().into(),
        id,
        skills: Some(vec![if matching { SKILL } else { OTHER_SKILL }.into()]),
        ..Lead::default()
    }
}

/// The brute-force oracle of one organization: the indices of its matching
/// leads, in id order, computed from the definition of the synthetic data.
pub struct Matches {
    /// The organization's definition.
    pub spec: OrgSpec,
    /// Indices of the matching leads, increasing.
    pub indices: Vec<u32>,
}

impl Matches {
    /// Every matching lead of `spec` under `seed`.
    pub fn new(seed: u64, spec: OrgSpec) -> Self {
        let indices = (0..spec.n)
            .filter(|&i| matches(seed, i, spec.selectivity))
            .map(|i| i as u32)
            .collect();
        Matches { spec, indices }
    }

    /// The ids of the bulk range `[start, start + count)` of the matches.
    pub fn range_ids(&self, start: u64, count: u64) -> Vec<String> {
        let len = self.indices.len() as u64;
        let (from, to) = (start.min(len), start.saturating_add(count).min(len));
        self.indices[from as usize..to as usize]
            .iter()
            .map(|&i| lead_id(u64::from(i), self.spec.n))
            .collect()
    }

    /// Items in id order up to and including the last lead of the range
    /// `[start, start + count)` (all of them when it runs past the end):
    /// what an in-order read of the range must at least read.
    pub fn items_through(&self, start: u64, count: u64) -> u64 {
        let end = start.saturating_add(count) as usize;
        match self.indices.get(end.wrapping_sub(1)) {
            Some(&i) if end > 0 => u64::from(i) + 1,
            _ => self.spec.n,
        }
    }
}

/// The latency model: `fixed + per_mb * (MB read)`, times a log-normal
/// factor `exp(sigma * Z)`, `Z` standard normal from the seeded RNG.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Every request's round trip.
    pub fixed: Duration,
    /// Added per MB of items read.
    pub per_mb: Duration,
    /// Sigma of the log-normal factor.
    pub sigma: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            fixed: Duration::from_millis(5),
            per_mb: Duration::from_millis(25),
            sigma: 0.3,
        }
    }
}

/// What the simulated DynamoDB served, per window or in total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Requests by operation (throttled ones included).
    pub requests: BTreeMap<String, u64>,
    /// Items read (before any filter, as DynamoDB counts them).
    pub items_read: u64,
    /// Read units charged, in half units (0.5 unit per 4 KB, eventually
    /// consistent).
    pub half_units: u64,
    /// Bytes of the response bodies.
    pub bytes_returned: u64,
    /// Requests refused with `ProvisionedThroughputExceededException`.
    pub throttles: u64,
    /// The longest chain of Query calls that did not overlap in time.
    pub depth: u64,
    /// Answers `400 ValidationException` "not simulated".
    pub not_simulated: u64,
    /// Served Queries that did not continue from a `LastEvaluatedKey` the
    /// simulator returned in this window (a read starting afresh: the
    /// first, or one resuming from a key of its own).
    pub segments: u64,
    /// Simulated time of the window.
    pub elapsed: Duration,
}

impl Stats {
    /// Read units charged.
    pub fn read_units(&self) -> f64 {
        self.half_units as f64 / 2.0
    }

    /// Calls of `op`.
    pub fn calls(&self, op: &str) -> u64 {
        self.requests.get(op).copied().unwrap_or(0)
    }

    fn add(&mut self, other: &Stats) {
        for (op, n) in &other.requests {
            *self.requests.entry(op.clone()).or_default() += n;
        }
        self.items_read += other.items_read;
        self.half_units += other.half_units;
        self.bytes_returned += other.bytes_returned;
        self.throttles += other.throttles;
        self.not_simulated += other.not_simulated;
        self.segments += other.segments;
        self.depth = self.depth.max(other.depth);
        self.elapsed += other.elapsed;
    }
}

/// A partition's token bucket (read units).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct State {
    seed: u64,
    latency: Latency,
    rng: u64,
    orgs: BTreeMap<String, OrgSpec>,
    buckets: BTreeMap<String, Bucket>,
    /// Other tables: (table, key) to item.
    kv: BTreeMap<(String, String), Map<String, Value>>,
    /// Key attribute names of other tables (declared or seen in a `Key`).
    keys: BTreeMap<String, Vec<String>>,
    window: Stats,
    window_start: Instant,
    /// The deepest Query chain that has completed in this window.
    completed_depth: u64,
    /// The `LastEvaluatedKey`s returned in this window (organization, lead id).
    returned_keys: std::collections::HashSet<(String, String)>,
    total: Stats,
}

/// The simulated DynamoDB; cheap to clone (shared state). Use it as the
/// HTTP client of an SDK configuration ([`SimDb::client`]).
#[derive(Clone)]
pub struct SimDb {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDb").finish()
    }
}

/// An error answer: HTTP status, error type, message.
struct Refusal(u16, &'static str, String);

fn not_simulated(what: impl Into<String>) -> Refusal {
    Refusal(
        400,
        "ValidationException",
        format!("not simulated: {}", what.into()),
    )
}

fn validation(what: impl Into<String>) -> Refusal {
    Refusal(400, "ValidationException", what.into())
}

/// One served request: the body, the items and bytes it read (for the
/// latency), and whether it is a Query (for the depth).
struct Served {
    body: Value,
    read_bytes: u64,
}

impl SimDb {
    /// An empty simulated DynamoDB whose data and latencies derive from `seed`.
    pub fn new(seed: u64) -> Self {
        SimDb {
            state: Arc::new(Mutex::new(State {
                seed,
                latency: Latency::default(),
                rng: splitmix(seed ^ 0x5eed),
                orgs: BTreeMap::new(),
                buckets: BTreeMap::new(),
                kv: BTreeMap::new(),
                keys: BTreeMap::new(),
                window: Stats::default(),
                window_start: Instant::now(),
                completed_depth: 0,
                returned_keys: std::collections::HashSet::new(),
                total: Stats::default(),
            })),
        }
    }

    /// The same, with another latency model.
    pub fn with_latency(self, latency: Latency) -> Self {
        self.state.lock().unwrap().latency = latency;
        self
    }

    /// The seed of the synthetic data.
    pub fn seed(&self) -> u64 {
        self.state.lock().unwrap().seed
    }

    /// Adds (or replaces) the synthetic organization `org`.
    pub fn add_org(&self, org: &str, spec: OrgSpec) {
        self.state
            .lock()
            .unwrap()
            .orgs
            .insert(org.to_string(), spec);
    }

    /// Declares the key attributes of a table other than the leads table
    /// (needed before a `PutItem` or `BatchWriteItem` there; a `Key` seen
    /// in any other call declares it too).
    pub fn declare_table(&self, table: &str, key: &[&str]) {
        let mut key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        key.sort();
        self.state
            .lock()
            .unwrap()
            .keys
            .insert(table.to_string(), key);
    }

    /// Empties every table other than the leads table.
    pub fn clear_tables(&self) {
        self.state.lock().unwrap().kv.clear();
    }

    /// Fills every partition's bucket to its burst capacity.
    pub fn refill(&self) {
        self.state.lock().unwrap().buckets.clear();
    }

    /// What was served since the last call (or since the start), and
    /// starts a new window.
    pub fn take_window(&self) -> Stats {
        let mut st = self.state.lock().unwrap();
        let mut window = std::mem::take(&mut st.window);
        window.elapsed = st.window_start.elapsed();
        st.total.add(&window);
        st.window_start = Instant::now();
        st.completed_depth = 0;
        st.returned_keys.clear();
        window
    }

    /// What was served since the start (windows taken so far plus the
    /// current one; `elapsed` is that of the windows taken).
    pub fn total(&self) -> Stats {
        let st = self.state.lock().unwrap();
        let mut total = st.total.clone();
        let mut current = st.window.clone();
        current.elapsed = Duration::ZERO;
        total.add(&current);
        total
    }

    /// A DynamoDB client over this simulator, with the crate's retry
    /// policy and stalled-stream settings; `partition` names its SDK retry
    /// partition (the retry quota is shared per name within a process, so
    /// a fresh name is a fresh Lambda sandbox).
    pub fn client(&self, partition: &str) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "simdb"))
            .retry_config(lead_export::aws::retry_config())
            .retry_partition(RetryPartition::new(partition.to_string()))
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .upload_enabled(false)
                    .build(),
            )
            .http_client(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Serves one request at `now`: the answer (status and body), its
    /// latency, and the Query depth it starts at (for Queries).
    fn serve(&self, op: &str, body: &Value, now: Instant) -> (u16, Value, Duration, Option<u64>) {
        let mut st = self.state.lock().unwrap();
        *st.window.requests.entry(op.to_string()).or_default() += 1;
        let result = match op {
            "Query" => st.query(body, now),
            "GetItem" => st.get_item(body),
            "BatchGetItem" => st.batch_get(body),
            "PutItem" => st.put_item(body),
            "UpdateItem" => st.update_item(body),
            "DeleteItem" => st.delete_item(body),
            "BatchWriteItem" => st.batch_write(body),
            other => Err(not_simulated(format!("the operation {other}"))),
        };
        let (status, out, read_bytes) = match result {
            Ok(served) => (200, served.body, served.read_bytes),
            Err(Refusal(status, kind, message)) => {
                if kind == "ProvisionedThroughputExceededException" {
                    st.window.throttles += 1;
                } else if message.starts_with("not simulated") {
                    st.window.not_simulated += 1;
                }
                let out = json!({
                    "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
                    "message": message,
                });
                (status, out, 0)
            }
        };
        let latency = st.latency(read_bytes);
        let depth = (op == "Query").then(|| {
            let depth = st.completed_depth + 1;
            st.window.depth = st.window.depth.max(depth);
            depth
        });
        (status, out, latency, depth)
    }

    fn complete_query(&self, depth: u64) {
        let mut st = self.state.lock().unwrap();
        st.completed_depth = st.completed_depth.max(depth);
    }
}

impl State {
    /// A uniform draw in (0, 1].
    fn uniform(&mut self) -> f64 {
        self.rng = splitmix(self.rng);
        ((self.rng >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    fn latency(&mut self, read_bytes: u64) -> Duration {
        let (u1, u2) = (self.uniform(), self.uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let base = self.latency.fixed.as_secs_f64()
            + self.latency.per_mb.as_secs_f64() * read_bytes as f64 / PAGE_BYTES as f64;
        Duration::from_secs_f64(base * (self.latency.sigma * z).exp())
    }

    /// Takes `half_units` from the bucket of `org` at `now`; a throttle when
    /// the bucket is in debt.
    fn charge(&mut self, org: &str, half_units: u64, now: Instant) -> Result<(), Refusal> {
        let bucket = self.buckets.entry(org.to_string()).or_insert(Bucket {
            tokens: PARTITION_BURST,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + refill * PARTITION_UNITS_PER_SECOND).min(PARTITION_BURST);
        bucket.at = now;
        if bucket.tokens < 0.0 {
            return Err(Refusal(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. \
                 (simulated: the partition's read bucket is in debt)"
                    .to_string(),
            ));
        }
        bucket.tokens -= half_units as f64 / 2.0;
        Ok(())
    }

    fn org_spec(&self, org: &str) -> OrgSpec {
        self.orgs.get(org).copied().unwrap_or(OrgSpec {
            n: 0,
            selectivity: 0.0,
        })
    }

    fn query(&mut self, body: &Value, now: Instant) -> Result<Served, Refusal> {
        let table = body["TableName"].as_str().unwrap_or_default();
        if table != LEADS_TABLE {
            return Err(not_simulated(format!("Query on the table {table}")));
        }
        let names = &body["ExpressionAttributeNames"];
        let values = &body["ExpressionAttributeValues"];
        let key_condition = body["KeyConditionExpression"].as_str().unwrap_or_default();
        let (partition_condition, sort_condition) = match key_condition.split_once(" AND ") {
            Some((pk, sk)) => (pk, Some(sk)),
            None => (key_condition, None),
        };
        let org = match partition_condition.split(" = ").collect::<Vec<_>>()[..] {
            [name, value] if resolve(names, name) == "orgId" => values[value]["S"]
                .as_str()
                .ok_or_else(|| validation(format!("no string value {value}")))?
                .to_string(),
            _ => {
                return Err(not_simulated(format!(
                "the KeyConditionExpression {key_condition:?} (the partition key's equality, and a sort-key condition)"
            )))
            }
        };
        // The sort-key condition: the ids in [low, high] (strings, for the
        // ExclusiveStartKey check) and the lead indexes [first, end).
        let n = self.org_spec(&org).n;
        let text = |token: &str| -> Result<String, Refusal> {
            values[token]["S"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| validation(format!("no string value {token}")))
        };
        let uuid = |id: &str| -> Result<(), Refusal> {
            index_after(id, n)
                .map(|_| ())
                .ok_or_else(|| not_simulated(format!("a sort-key bound {id:?} that is not a UUID")))
        };
        let (mut first, mut end) = (0u64, n);
        let (mut low, mut high): (Option<String>, Option<String>) = (None, None);
        if let Some(sk) = sort_condition {
            let tokens: Vec<&str> = sk.split_whitespace().collect();
            if tokens.len() < 3 || resolve(names, tokens[0]) != "leadId" {
                return Err(not_simulated(format!("the sort-key condition {sk:?}")));
            }
            match tokens[1..] {
                [">", lo] => {
                    let lo = text(lo)?;
                    uuid(&lo)?;
                    first = index_after(&lo, n).unwrap_or(n);
                    low = Some(lo);
                }
                [">=", lo] => {
                    let lo = text(lo)?;
                    uuid(&lo)?;
                    first = index_at_or_after(&lo, n).unwrap_or(n);
                    low = Some(lo);
                }
                ["<=", hi] => {
                    let hi = text(hi)?;
                    uuid(&hi)?;
                    end = index_after(&hi, n).unwrap_or(n);
                    high = Some(hi);
                }
                ["<", hi] => {
                    let hi = text(hi)?;
                    uuid(&hi)?;
                    end = index_at_or_after(&hi, n).unwrap_or(n);
                    high = Some(hi);
                }
                ["BETWEEN", lo, "AND", hi] => {
                    let (lo, hi) = (text(lo)?, text(hi)?);
                    uuid(&lo)?;
                    uuid(&hi)?;
                    if lo > hi {
                        return Err(validation("BETWEEN with its bounds in the wrong order"));
                    }
                    first = index_at_or_after(&lo, n).unwrap_or(n);
                    end = index_after(&hi, n).unwrap_or(n);
                    (low, high) = (Some(lo), Some(hi));
                }
                _ => return Err(not_simulated(format!("the sort-key condition {sk:?}"))),
            }
        }
        if body
            .get("Select")
            .is_some_and(|s| s != "ALL_ATTRIBUTES" && s != "SPECIFIC_ATTRIBUTES")
        {
            return Err(not_simulated(format!("Select {}", body["Select"])));
        }
        if body.get("ScanIndexForward") == Some(&Value::Bool(false)) {
            return Err(not_simulated("ScanIndexForward false"));
        }
        let spec = self.org_spec(&org);
        // The FilterExpression is the scenario's when it asks for the skill;
        // it is decided by the synthetic match, not parsed.
        let filtered = match body["FilterExpression"].as_str() {
            None => false,
            Some(text) => {
                let asks_for_skill = values
                    .as_object()
                    .is_some_and(|v| v.values().any(|v| v["S"] == SKILL));
                if !asks_for_skill {
                    return Err(not_simulated(format!(
                        "a FilterExpression other than the scenario's: {text}"
                    )));
                }
                true
            }
        };
        let mut start = 0;
        let mut continued = false;
        if let Some(key) = body.get("ExclusiveStartKey") {
            if key["orgId"]["S"] != org.as_str() {
                return Err(validation("the ExclusiveStartKey is not in the partition"));
            }
            let id = key["leadId"]["S"].as_str().unwrap_or_default();
            // DynamoDB refuses a start key outside the key condition.
            if low.as_deref().is_some_and(|lo| id < lo) || high.as_deref().is_some_and(|hi| id > hi)
            {
                return Err(validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            continued = self.returned_keys.contains(&(org.clone(), id.to_string()));
            start = index_after(id, spec.n).ok_or_else(|| {
                not_simulated(format!("an ExclusiveStartKey {id:?} that is not a UUID"))
            })?;
        }
        start = start.max(first);
        let limit = match body.get("Limit") {
            Some(l) => l
                .as_u64()
                .filter(|l| *l > 0)
                .ok_or_else(|| validation(format!("Limit {l}")))?,
            None => u64::MAX,
        };
        let projection = projected(body)?;
        // Read: from `start`, until the Limit, the 1 MB page or the end.
        let mut read = 0u64;
        let mut i = start;
        let mut cut = false;
        let mut hits = Vec::new();
        while i < end && read < limit {
            if !filtered || matches(self.seed, i, spec.selectivity) {
                hits.push(i);
            }
            read += 1;
            i += 1;
            // Cut by the Limit or the 1 MB: a LastEvaluatedKey even when
            // the partition ends here, as DynamoDB does.
            if read == limit || read * ITEM_BYTES >= PAGE_BYTES {
                cut = true;
                break;
            }
        }
        let read_bytes = read * ITEM_BYTES;
        let consistent = body["ConsistentRead"] == true;
        let half_units = units(read_bytes, consistent).max(1);
        self.charge(&org, half_units, now)?;
        self.window.items_read += read;
        self.window.half_units += half_units;
        self.window.segments += u64::from(!continued);
        let org_id =
            OrgId::new(&org).ok_or_else(|| validation(format!("the organization {org:?}")))?;
        let items: Vec<Value> = hits
            .iter()
            .map(|&i| {
                let matching = !filtered || matches(self.seed, i, spec.selectivity);
                synthetic_item(&org_id, i, spec.n, matching, projection.as_deref())
            })
            .collect();
        let mut out = json!({
            "Count": items.len(),
            "ScannedCount": read,
            "Items": items,
        });
        if cut && read > 0 {
            let last = lead_id(i - 1, spec.n);
            out["LastEvaluatedKey"] = json!({
                "orgId": {"S": &org},
                "leadId": {"S": &last},
            });
            self.returned_keys.insert((org, last));
        }
        Ok(Served {
            body: out,
            read_bytes,
        })
    }

    /// The stored key of `key` in `table` (its attributes sorted by name),
    /// declaring the table's key attributes on first sight.
    fn key_of(&mut self, table: &str, key: &Value) -> Result<String, Refusal> {
        let key = key
            .as_object()
            .ok_or_else(|| validation("a Key that is not a map"))?;
        let mut names: Vec<String> = key.keys().cloned().collect();
        names.sort();
        let declared = self.keys.entry(table.to_string()).or_insert(names.clone());
        if *declared != names {
            return Err(validation(format!(
                "the key of {table} is {declared:?}, not {names:?}"
            )));
        }
        Ok(names
            .iter()
            .map(|n| format!("{n}={}", key[n]))
            .collect::<Vec<_>>()
            .join("\u{1f}"))
    }

    /// The stored key of an item of `table`, whose key attributes must be
    /// known.
    fn key_of_item(&mut self, table: &str, item: &Map<String, Value>) -> Result<String, Refusal> {
        let names = self.keys.get(table).cloned().ok_or_else(|| {
            not_simulated(format!(
                "a write to {table}, whose key attributes were never declared"
            ))
        })?;
        let key: Map<String, Value> = names
            .iter()
            .map(|n| {
                item.get(n)
                    .map(|v| (n.clone(), v.clone()))
                    .ok_or_else(|| validation(format!("an item of {table} without {n}")))
            })
            .collect::<Result<_, _>>()?;
        self.key_of(table, &Value::Object(key))
    }

    /// One item read by key: from the synthetic leads or the key-value store.
    fn read_one(
        &mut self,
        table: &str,
        key: &Value,
        projection: Option<&[String]>,
    ) -> Result<Option<(Value, u64)>, Refusal> {
        if table == LEADS_TABLE {
            let org = key["orgId"]["S"].as_str().unwrap_or_default().to_string();
            let id = key["leadId"]["S"].as_str().unwrap_or_default();
            let spec = self.org_spec(&org);
            let found = index_after(id, spec.n)
                .and_then(|after| after.checked_sub(1))
                .filter(|&i| i < spec.n && lead_id(i, spec.n) == id);
            let org_id =
                OrgId::new(&org).ok_or_else(|| validation(format!("the organization {org:?}")))?;
            return Ok(found.map(|i| {
                let matching = matches(self.seed, i, spec.selectivity);
                (
                    synthetic_item(&org_id, i, spec.n, matching, projection),
                    ITEM_BYTES,
                )
            }));
        }
        let stored = self.key_of(table, key)?;
        Ok(self.kv.get(&(table.to_string(), stored)).map(|item| {
            let size = item_size(item);
            (project(item, projection), size)
        }))
    }

    fn get_item(&mut self, body: &Value) -> Result<Served, Refusal> {
        let table = body["TableName"].as_str().unwrap_or_default().to_string();
        let projection = projected(body)?;
        let consistent = body["ConsistentRead"] == true;
        let found = self.read_one(&table, &body["Key"], projection.as_deref())?;
        let size = found.as_ref().map_or(0, |(_, s)| *s);
        self.window.items_read += u64::from(found.is_some());
        self.window.half_units += units(size, consistent).max(1);
        let body = match found {
            Some((item, _)) => json!({ "Item": item }),
            None => json!({}),
        };
        Ok(Served {
            body,
            read_bytes: size,
        })
    }

    fn batch_get(&mut self, body: &Value) -> Result<Served, Refusal> {
        let requests = body["RequestItems"]
            .as_object()
            .ok_or_else(|| validation("no RequestItems"))?;
        let mut responses = Map::new();
        let mut read_bytes = 0;
        for (table, request) in requests {
            let projection = projected(request)?;
            let consistent = request["ConsistentRead"] == true;
            let keys = request["Keys"].as_array().cloned().unwrap_or_default();
            if keys.len() > 100 {
                return Err(validation("more than 100 keys in a BatchGetItem"));
            }
            let mut items = Vec::new();
            for key in &keys {
                if let Some((item, size)) = self.read_one(table, key, projection.as_deref())? {
                    // BatchGetItem charges each item rounded up to 4 KB.
                    self.window.half_units += units(size, consistent).max(1);
                    self.window.items_read += 1;
                    read_bytes += size;
                    items.push(item);
                }
            }
            responses.insert(table.clone(), Value::Array(items));
        }
        Ok(Served {
            body: json!({"Responses": responses, "UnprocessedKeys": {}}),
            read_bytes,
        })
    }

    fn refuse_leads_write(table: &str) -> Result<(), Refusal> {
        if table == LEADS_TABLE {
            return Err(not_simulated("writes to the synthetic leads table"));
        }
        Ok(())
    }

    fn put_item(&mut self, body: &Value) -> Result<Served, Refusal> {
        let table = body["TableName"].as_str().unwrap_or_default().to_string();
        Self::refuse_leads_write(&table)?;
        let item = body["Item"]
            .as_object()
            .cloned()
            .ok_or_else(|| validation("no Item"))?;
        let key = self.key_of_item(&table, &item)?;
        let slot = (table, key);
        check_condition(body, self.kv.get(&slot))?;
        self.kv.insert(slot, item);
        Ok(Served {
            body: json!({}),
            read_bytes: 0,
        })
    }

    fn delete_item(&mut self, body: &Value) -> Result<Served, Refusal> {
        let table = body["TableName"].as_str().unwrap_or_default().to_string();
        Self::refuse_leads_write(&table)?;
        let key = self.key_of(&table, &body["Key"])?;
        let slot = (table, key);
        check_condition(body, self.kv.get(&slot))?;
        self.kv.remove(&slot);
        Ok(Served {
            body: json!({}),
            read_bytes: 0,
        })
    }

    fn update_item(&mut self, body: &Value) -> Result<Served, Refusal> {
        let table = body["TableName"].as_str().unwrap_or_default().to_string();
        Self::refuse_leads_write(&table)?;
        let key_value = body["Key"].clone();
        let key = self.key_of(&table, &key_value)?;
        let slot = (table, key);
        check_condition(body, self.kv.get(&slot))?;
        let mut item = self
            .kv
            .get(&slot)
            .cloned()
            .unwrap_or_else(|| key_value.as_object().cloned().unwrap_or_default());
        let text = body["UpdateExpression"].as_str().unwrap_or_default();
        apply_update(
            &mut item,
            text,
            &body["ExpressionAttributeNames"],
            &body["ExpressionAttributeValues"],
        )?;
        let out = match body["ReturnValues"].as_str().unwrap_or("NONE") {
            "NONE" => json!({}),
            "ALL_NEW" | "UPDATED_NEW" => json!({ "Attributes": item.clone() }),
            other => return Err(not_simulated(format!("ReturnValues {other}"))),
        };
        self.kv.insert(slot, item);
        Ok(Served {
            body: out,
            read_bytes: 0,
        })
    }

    fn batch_write(&mut self, body: &Value) -> Result<Served, Refusal> {
        let requests = body["RequestItems"]
            .as_object()
            .ok_or_else(|| validation("no RequestItems"))?;
        for (table, writes) in requests {
            Self::refuse_leads_write(table)?;
            for write in writes.as_array().cloned().unwrap_or_default() {
                if let Some(item) = write["PutRequest"]["Item"].as_object() {
                    let key = self.key_of_item(table, item)?;
                    self.kv.insert((table.clone(), key), item.clone());
                } else if write["DeleteRequest"]["Key"].is_object() {
                    let key = self.key_of(table, &write["DeleteRequest"]["Key"])?;
                    self.kv.remove(&(table.clone(), key));
                } else {
                    return Err(validation("a write request of neither kind"));
                }
            }
        }
        Ok(Served {
            body: json!({"UnprocessedItems": {}}),
            read_bytes: 0,
        })
    }
}

/// Half read units of `bytes` read: 0.5 unit (one half unit) per 4 KB
/// eventually consistent, twice that strongly consistent.
fn units(bytes: u64, consistent: bool) -> u64 {
    bytes.div_ceil(4096) * if consistent { 2 } else { 1 }
}

/// `#name` through `ExpressionAttributeNames`, or the name itself.
fn resolve<'a>(names: &'a Value, token: &'a str) -> &'a str {
    let token = token.trim();
    if token.starts_with('#') {
        names[token].as_str().unwrap_or(token)
    } else {
        token
    }
}

/// The attribute names of a `ProjectionExpression` (`None`: all). Only
/// top-level attributes are simulated.
fn projected(body: &Value) -> Result<Option<Vec<String>>, Refusal> {
    let Some(text) = body["ProjectionExpression"].as_str() else {
        return Ok(None);
    };
    let names = &body["ExpressionAttributeNames"];
    text.split(',')
        .map(|part| {
            let name = resolve(names, part);
            if name.contains(['.', '[']) {
                Err(not_simulated(format!(
                    "the projection of a nested path {name}"
                )))
            } else {
                Ok(name.to_string())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Only the attributes of `projection` (all when `None`).
fn project(item: &Map<String, Value>, projection: Option<&[String]>) -> Value {
    match projection {
        None => Value::Object(item.clone()),
        Some(names) => Value::Object(
            names
                .iter()
                .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        ),
    }
}

/// The item of synthetic lead `i` as DynamoDB JSON, projected. A projection
/// of keys and `s_v` only (a skim) is built without the document.
fn synthetic_item(
    org: &OrgId,
    i: u64,
    n: u64,
    matching: bool,
    projection: Option<&[String]>,
) -> Value {
    let cheap = ["orgId", "leadId", "s_v"];
    if let Some(names) = projection {
        if names.iter().all(|n| cheap.contains(&n.as_str())) {
            let mut item = Map::new();
            for name in names {
                let value = match name.as_str() {
                    "orgId" => json!({"S": org.as_str()}),
                    "leadId" => json!({"S": lead_id(i, n)}),
                    _ => json!({"N": lead_export::filters::SEARCH_VERSION.to_string()}),
                };
                item.insert(name.clone(), value);
            }
            return Value::Object(item);
        }
    }
    let lead = synthetic_lead(i, n, matching);
    let item = lead_to_item(org, &lead).expect("a synthetic lead has an item");
    let item: Map<String, Value> = item
        .into_iter()
        .map(|(k, v)| (k, attribute_json(&v)))
        .collect();
    project(&item, projection)
}

/// An SDK attribute value as DynamoDB JSON.
pub fn attribute_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::B(b) => {
            use base64::Engine as _;
            json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) })
        }
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({
            "M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<Map<_, _>>()
        }),
        other => panic!("attribute kind not simulated: {other:?}"),
    }
}

/// DynamoDB's size of an item: attribute names plus values (a string its
/// UTF-8 bytes, a binary value its raw bytes, a number about one byte per two digits plus one, a set the
/// sum of its members, a list or map 3 bytes plus its elements, a boolean
/// or null one byte).
pub fn dynamodb_item_size(item: &std::collections::HashMap<String, AttributeValue>) -> u64 {
    fn value_size(v: &AttributeValue) -> u64 {
        let number = |n: &str| (n.trim_start_matches('-').len() as u64).div_ceil(2) + 1;
        match v {
            AttributeValue::S(s) => s.len() as u64,
            AttributeValue::B(b) => b.as_ref().len() as u64,
            AttributeValue::Bs(s) => s.iter().map(|b| b.as_ref().len() as u64).sum(),
            AttributeValue::N(n) => number(n),
            AttributeValue::Ss(s) => s.iter().map(|s| s.len() as u64).sum(),
            AttributeValue::Ns(s) => s.iter().map(|n| number(n)).sum(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                    .sum::<u64>()
            }
            _ => 0,
        }
    }
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

/// The size of a stored (JSON) item of another table, as DynamoDB counts
/// it, roughly: names plus the text of the values.
fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + v.to_string().len() as u64)
        .sum()
}

/// Checks a `ConditionExpression` against `current`: `OR`s of `AND`s of
/// `attribute_exists(#a)`, `attribute_not_exists(#a)` and comparisons
/// `#a <op> :v` (`=`, `<>`, `<`, `<=`, `>`, `>=`; numbers or strings; false
/// when the attribute is missing). No parentheses, `NOT` or functions
/// beyond these.
fn check_condition(body: &Value, current: Option<&Map<String, Value>>) -> Result<(), Refusal> {
    let Some(text) = body["ConditionExpression"].as_str() else {
        return Ok(());
    };
    let names = &body["ExpressionAttributeNames"];
    let values = &body["ExpressionAttributeValues"];
    let attr = |token: &str| current.and_then(|item| item.get(resolve(names, token)));
    let atom = |atom: &str| -> Result<bool, Refusal> {
        let atom = atom.trim();
        if let Some(inner) = atom
            .strip_prefix("attribute_not_exists(")
            .and_then(|r| r.strip_suffix(')'))
        {
            return Ok(attr(inner).is_none());
        }
        if let Some(inner) = atom
            .strip_prefix("attribute_exists(")
            .and_then(|r| r.strip_suffix(')'))
        {
            return Ok(attr(inner).is_some());
        }
        let parts: Vec<&str> = atom.split_whitespace().collect();
        let [left, op, right] = parts[..] else {
            return Err(not_simulated(format!("the condition {atom:?} in {text:?}")));
        };
        let Some(have) = attr(left) else {
            return Ok(false);
        };
        let want = values
            .get(right)
            .ok_or_else(|| validation(format!("no value {right}")))?;
        let order = match (have.get("N"), want.get("N"), have.get("S"), want.get("S")) {
            (Some(a), Some(b), _, _) => {
                let parse = |v: &Value| v.as_str().and_then(|n| n.parse::<f64>().ok());
                parse(a).partial_cmp(&parse(b))
            }
            (_, _, Some(a), Some(b)) => a.as_str().partial_cmp(&b.as_str()),
            _ => None,
        };
        let Some(order) = order else {
            return Ok(false);
        };
        use std::cmp::Ordering::{Equal, Greater, Less};
        Ok(match op {
            "=" => order == Equal,
            "<>" => order != Equal,
            "<" => order == Less,
            "<=" => order != Greater,
            ">" => order == Greater,
            ">=" => order != Less,
            _ => return Err(not_simulated(format!("the comparison {op} in {text:?}"))),
        })
    };
    let mut holds = false;
    for any in text.split(" OR ") {
        let mut all = true;
        for part in any.split(" AND ") {
            all &= atom(part)?;
        }
        holds |= all;
    }
    if !holds {
        return Err(Refusal(
            400,
            "ConditionalCheckFailedException",
            "The conditional request failed".to_string(),
        ));
    }
    Ok(())
}

/// Applies an `UpdateExpression` of `SET #a = :v, ...` (a value, or
/// `if_not_exists(#a, :v)`), `ADD #n :n` (numbers) and `REMOVE #a` clauses.
fn apply_update(
    item: &mut Map<String, Value>,
    text: &str,
    names: &Value,
    values: &Value,
) -> Result<(), Refusal> {
    let value = |token: &str| -> Result<Value, Refusal> {
        let token = token.trim();
        values
            .get(token)
            .cloned()
            .ok_or_else(|| validation(format!("no value {token}")))
    };
    // Split into clauses at the keywords.
    let mut clauses: Vec<(String, String)> = Vec::new();
    for word in text.split_whitespace() {
        match word.to_ascii_uppercase().as_str() {
            kw @ ("SET" | "ADD" | "REMOVE" | "DELETE") => {
                clauses.push((kw.to_string(), String::new()))
            }
            _ => match clauses.last_mut() {
                Some((_, body)) => {
                    body.push(' ');
                    body.push_str(word);
                }
                None => return Err(not_simulated(format!("the UpdateExpression {text:?}"))),
            },
        }
    }
    for (kw, body) in clauses {
        for action in body.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match kw.as_str() {
                "SET" => {
                    let (path, rhs) = action
                        .split_once('=')
                        .ok_or_else(|| validation(format!("SET {action}")))?;
                    let name = resolve(names, path).to_string();
                    let rhs = rhs.trim();
                    let new = if let Some(args) = rhs
                        .strip_prefix("if_not_exists(")
                        .and_then(|r| r.strip_suffix(')'))
                    {
                        let (_, default) = args
                            .split_once(',')
                            .ok_or_else(|| validation(format!("SET {action}")))?;
                        match item.get(&name) {
                            Some(v) => v.clone(),
                            None => value(default)?,
                        }
                    } else if rhs.starts_with(':') && !rhs.contains([' ', '+', '-']) {
                        value(rhs)?
                    } else {
                        return Err(not_simulated(format!("SET {action}")));
                    };
                    item.insert(name, new);
                }
                "ADD" => {
                    let (path, operand) = action
                        .split_once(' ')
                        .ok_or_else(|| validation(format!("ADD {action}")))?;
                    let name = resolve(names, path).to_string();
                    let add = value(operand)?;
                    let add = add["N"]
                        .as_str()
                        .and_then(|n| n.parse::<f64>().ok())
                        .ok_or_else(|| not_simulated(format!("ADD of a non-number {add}")))?;
                    let old = match item.get(&name) {
                        None => 0.0,
                        Some(v) => v["N"]
                            .as_str()
                            .and_then(|n| n.parse::<f64>().ok())
                            .ok_or_else(|| validation(format!("ADD to a non-number {name}")))?,
                    };
                    item.insert(name, json!({"N": number_text(old + add)}));
                }
                "REMOVE" => {
                    item.remove(resolve(names, action));
                }
                _ => return Err(not_simulated(format!("{kw} {action}"))),
            }
        }
    }
    Ok(())
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

impl HttpConnector for SimDb {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .trim_start_matches("DynamoDB_20120810.")
            .to_string();
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())
            .unwrap_or(Value::Null);
        let (status, out, latency, depth) = self.serve(&op, &body, Instant::now());
        let text = out.to_string();
        self.state.lock().unwrap().window.bytes_returned += text.len() as u64;
        let db = self.clone();
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(latency).await;
            if let Some(depth) = depth {
                db.complete_query(depth);
            }
            let mut response = HttpResponse::new(
                StatusCode::try_from(status).expect("a valid status"),
                SdkBody::from(text),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            Ok(response)
        })
    }
}

impl HttpClient for SimDb {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.clone().into_shared()
    }
}

/// The app of the simulated Lambda: the real handler's `App` whose lead
/// store and position checkpoints (`DynamoCursors`) are on `db` (a client
/// of retry partition `partition`), with in-memory objects, audit log and
/// metrics, and the API Gateway timeout ([`TIMEOUT_SECONDS`]).
pub fn sim_app(db: &SimDb, partition: &str) -> App {
    let timeout = TIMEOUT_SECONDS.to_string();
    let vars = [
        ("JWT_SECRET", SECRET),
        ("EXPORT_TIMEOUT_SECONDS", timeout.as_str()),
        ("LEADS_TABLE", LEADS_TABLE),
        ("CURSORS_TABLE", CURSORS_TABLE),
    ];
    let config = lead_export::config::Config::from_lookup(|k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("the simulator's configuration");
    App::new(
        &config,
        Backends {
            store: Arc::new(DynamoStore::new(db.client(partition), LEADS_TABLE)),
            cursors: Arc::new(lead_export::store::DynamoCursors::new(
                db.client(partition),
                CURSORS_TABLE,
            )),
            objects: Arc::new(MemoryObjects::new()),
            audit_log: Arc::new(MemoryAuditLog::new()),
            metrics: Arc::new(MemoryMetrics::new()),
        },
    )
}

/// One answered request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The exported ids (the CSV's `Name` column), for a 200.
    pub ids: Vec<String>,
    /// Simulated time from request to answer.
    pub elapsed: Duration,
    /// The `Retry-After` of the answer (a 503's), if any.
    pub retry_after: Option<Duration>,
}

/// Exports the bulk range `[start, start + count)` of `org`'s leads that
/// match [`filter_json`] through the real handler, as CSV of the `name`
/// column.
pub async fn export(app: &App, org: &str, start: u64, count: u64) -> Answer {
    let token = lead_export::auth::sign_hs256(SECRET.as_bytes(), "org_id", org, 3600, None, None)
        .expect("a token");
    let body = json!({
        "selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
                      "filters": filter_json()},
        "exportFields": ["name"],
    });
    let request = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/api/v1/operations/export")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(body.to_string()))
        .expect("a request");
    let started = Instant::now();
    let response = lead_export::http::handle(app, request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let bytes: &[u8] = match response.body() {
        lambda_http::Body::Text(t) => t.as_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => &[],
    };
    let ids = if status == 200 {
        let mut rows = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        rows.records()
            .map(|r| r.expect("a CSV row").get(0).unwrap_or_default().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    Answer {
        status,
        ids,
        elapsed,
        retry_after,
    }
}
