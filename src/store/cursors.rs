//! Position checkpoints of bulk ranges (`docs/scale.md`): for an
//! (organization, filter fingerprint), the lead id of every
//! [`CHECKPOINT_EVERY`]-th match and of the last match of each range served,
//! valid for one version of the organization's data. A range read starts
//! from the nearest checkpoint at or before its `startIndex` instead of the
//! partition's first key.
//!
//! The [`CursorStore`] keeps them (DynamoDB table `CURSORS_TABLE`, or in
//! memory) with the organization's data version, which every write of leads
//! bumps. [`Positions`] is what one export uses: load the version and the
//! checkpoints in one round trip, pick the start, and save what the read
//! learned in the background, bounded, never failing the export.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

use super::segments::{Mark, Progress, NEAR_MATCHES, SEGMENTS, WALK_PAGES};
use super::StoreError;
use crate::auth::OrgId;
use crate::aws::sdk_error;
use crate::deadline::Deadline;
use crate::error::FaultKind;

/// A checkpoint is recorded at every `CHECKPOINT_EVERY`-th match (positions
/// 250, 500, …): a request starting anywhere walks at most 249 matches
/// before its range (at a 5% filter about 5,000 items, 11 Query pages of
/// 1 MB), and an organization of 1,000,000 matches needs 4,000 of them
/// (thinned to [`MAX_CHECKPOINTS`], see [`Checkpoints::merge`]).
pub const CHECKPOINT_EVERY: usize = 250;

/// Entries kept per (organization, fingerprint). With lead ids of at most
/// [`MAX_CHECKPOINT_ID_BYTES`] the item stays under about 270 KB (the item
/// limit is 400 KB); with 36-byte UUIDs it is about 50 KB.
pub const MAX_CHECKPOINTS: usize = 1_000;

/// A match whose lead id is longer is not recorded (it would make the item
/// too large); the walk goes on from the previous checkpoint.
pub const MAX_CHECKPOINT_ID_BYTES: usize = 256;

/// How long a checkpoint item lives without being written again.
pub const CHECKPOINT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The sort key of an organization's data version item.
pub const VERSION_KEY: &str = "#version";

/// Where a range read starts: `position` matches lie before it, the last
/// of them being the lead `after` (`None` with position 0: the partition's
/// first key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Start {
    /// Matches before the start.
    pub position: usize,
    /// The lead id of the match at `position - 1`: the read continues after
    /// it (`leadId > after`, in the caller's partition).
    pub after: Option<String>,
}

/// The checkpoints of one (organization, fingerprint) for one data version:
/// position → the lead id of the match just before it, and the counts of
/// the key segments ([`super::segments`]) counted so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    /// The organization's data version they are valid for.
    pub version: u64,
    /// Position (matches before) → lead id of the last of those matches.
    pub entries: BTreeMap<usize, String>,
    /// Segment → what was counted in it (at most
    /// [`SEGMENTS`](super::segments::SEGMENTS) entries).
    pub segments: BTreeMap<usize, Mark>,
}

impl Checkpoints {
    /// No checkpoint, for `version`.
    pub fn empty(version: u64) -> Self {
        Checkpoints {
            version,
            entries: BTreeMap::new(),
            segments: BTreeMap::new(),
        }
    }

    /// Adds what a count of segments learned: its marks (replacing those
    /// loaded: a count only grows) and the absolute checkpoints they give.
    pub fn absorb(&mut self, progress: &Progress) {
        self.segments = progress.marks();
        self.merge(Learned {
            grid: progress.absolute(),
            end: None,
            start: None,
        });
    }

    /// The nearest checkpoint at or before `skip`.
    pub fn start_for(&self, skip: usize) -> Start {
        match self.entries.range(..=skip).next_back() {
            Some((&position, id)) => Start {
                position,
                after: Some(id.clone()),
            },
            None => Start::default(),
        }
    }

    /// Adds what a read learned. Above [`MAX_CHECKPOINTS`] the range's end
    /// (what the next page of the same search starts from) is kept, and of
    /// the others an evenly spaced subset by position: the entries between
    /// them are evicted, so a deep start walks a little further.
    pub fn merge(&mut self, learned: Learned) {
        self.entries.extend(learned.grid);
        let end = learned.end.clone();
        if let Some((position, id)) = &end {
            self.entries.insert(*position, id.clone());
        }
        if self.entries.len() <= MAX_CHECKPOINTS {
            return;
        }
        let end_position = end.as_ref().map(|(p, _)| *p);
        let rest: Vec<(usize, String)> = std::mem::take(&mut self.entries)
            .into_iter()
            .filter(|(p, _)| Some(*p) != end_position)
            .collect();
        let room = MAX_CHECKPOINTS - usize::from(end.is_some());
        let n = rest.len();
        let mut rest: Vec<Option<(usize, String)>> = rest.into_iter().map(Some).collect();
        for i in 0..room {
            if let Some(entry) = rest[i * n / room].take() {
                self.entries.insert(entry.0, entry.1);
            }
        }
        if let Some((position, id)) = end {
            self.entries.insert(position, id);
        }
    }
}

/// What one range read learned: the matches at every
/// [`CHECKPOINT_EVERY`]-th position and the last match it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learned {
    /// (position just past the match, its lead id) at multiples of
    /// [`CHECKPOINT_EVERY`].
    pub grid: Vec<(usize, String)>,
    /// The last match read: the position just past it and its id.
    pub end: Option<(usize, String)>,
    /// A position kept beside the grid (the range's start), when met.
    pub start: Option<usize>,
}

/// Collects what a range read learns as it walks the matches; a clone
/// shares the same record (the store fills it, the caller reads it).
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<Learned>>);

impl Tally {
    /// A new, empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new record that also keeps the position `start` (the range's
    /// start: the same request again starts exactly there).
    pub fn starting_at(start: usize) -> Self {
        let tally = Self::default();
        tally.0.lock().expect("lock poisoned").start = Some(start);
        tally
    }

    /// The match whose lead id is `id` was read; `position` matches (it
    /// included) lie up to and including it.
    pub fn matched(&self, position: usize, id: &str) {
        if id.len() > MAX_CHECKPOINT_ID_BYTES {
            return;
        }
        let mut learned = self.0.lock().expect("lock poisoned");
        if position % CHECKPOINT_EVERY == 0 || learned.start == Some(position) {
            learned.grid.push((position, id.to_string()));
        }
        match &mut learned.end {
            Some((p, last)) => {
                *p = position;
                last.clear();
                last.push_str(id);
            }
            None => learned.end = Some((position, id.to_string())),
        }
    }

    /// What was recorded so far.
    pub fn learned(&self) -> Learned {
        self.0.lock().expect("lock poisoned").clone()
    }
}

/// Where checkpoints and the organizations' data versions are kept.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The organization's current data version, and the checkpoints of
    /// `fingerprint` if they were recorded at that version (else none), in
    /// one round trip.
    async fn load(&self, org: &OrgId, fingerprint: &str) -> Result<Checkpoints, StoreError>;

    /// Replaces the checkpoints of `fingerprint`, unless the stored ones
    /// are of a later version.
    async fn save(
        &self,
        org: &OrgId,
        fingerprint: &str,
        checkpoints: &Checkpoints,
    ) -> Result<(), StoreError>;

    /// Increments the organization's data version: every checkpoint
    /// recorded before stops being used. Called after every write of leads.
    async fn bump(&self, org: &OrgId) -> Result<(), StoreError>;
}

/// Checkpoints and versions in memory (tests, local tools).
#[derive(Debug, Default)]
pub struct MemoryCursors {
    versions: Mutex<HashMap<String, u64>>,
    items: Mutex<HashMap<(String, String), Checkpoints>>,
}

impl MemoryCursors {
    /// Empty: every organization at version 0.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CursorStore for MemoryCursors {
    async fn load(&self, org: &OrgId, fingerprint: &str) -> Result<Checkpoints, StoreError> {
        let version = *self
            .versions
            .lock()
            .expect("lock poisoned")
            .get(org.as_str())
            .unwrap_or(&0);
        let items = self.items.lock().expect("lock poisoned");
        Ok(
            match items.get(&(org.to_string(), fingerprint.to_string())) {
                Some(found) if found.version == version => found.clone(),
                _ => Checkpoints::empty(version),
            },
        )
    }

    async fn save(
        &self,
        org: &OrgId,
        fingerprint: &str,
        checkpoints: &Checkpoints,
    ) -> Result<(), StoreError> {
        let mut items = self.items.lock().expect("lock poisoned");
        let slot = items
            .entry((org.to_string(), fingerprint.to_string()))
            .or_insert_with(|| Checkpoints::empty(0));
        if slot.version <= checkpoints.version {
            *slot = checkpoints.clone();
        }
        Ok(())
    }

    async fn bump(&self, org: &OrgId) -> Result<(), StoreError> {
        *self
            .versions
            .lock()
            .expect("lock poisoned")
            .entry(org.to_string())
            .or_default() += 1;
        Ok(())
    }
}

/// The cursors table's partition key (the organization).
pub const PARTITION_KEY: &str = "orgId";
/// The cursors table's sort key: [`VERSION_KEY`] or `f#` + a fingerprint.
pub const SORT_KEY: &str = "key";
/// The version attribute (N) of both kinds of item.
const VERSION_ATTR: &str = "v";
/// The checkpoints attribute (M): position (as text) → lead id.
const ENTRIES_ATTR: &str = "c";
/// The segment counts attribute (M): segment (as text) → M of `n` (N, the
/// count), `r` (S, the last key read), `l` (S, the last match), `d`
/// (BOOL, counted to its end).
const SEGMENTS_ATTR: &str = "s";

/// A segment's mark whose keys are longer is not stored (the segment is
/// counted again by the next request): 256 marks of two such keys stay
/// under 60 KB beside the checkpoints' 270 KB.
pub const MAX_MARK_ID_BYTES: usize = 100;

fn mark_to_attribute(mark: &Mark) -> Option<AttributeValue> {
    let mut m = HashMap::from([
        ("n".to_string(), AttributeValue::N(mark.count.to_string())),
        ("d".to_string(), AttributeValue::Bool(mark.done)),
    ]);
    for (name, id) in [("r", &mark.resume), ("l", &mark.last)] {
        if let Some(id) = id {
            if id.len() > MAX_MARK_ID_BYTES {
                return None;
            }
            m.insert(name.to_string(), AttributeValue::S(id.clone()));
        }
    }
    Some(AttributeValue::M(m))
}

fn mark_from_attribute(value: &AttributeValue) -> Option<Mark> {
    let AttributeValue::M(m) = value else {
        return None;
    };
    let text = |name: &str| match m.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    Some(Mark {
        count: match m.get("n") {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        },
        resume: text("r"),
        last: text("l"),
        done: matches!(m.get("d"), Some(AttributeValue::Bool(true))),
    })
}
/// The cursors table's time-to-live attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The cursors table in DynamoDB: per organization, the item
/// ([`VERSION_KEY`], `v`) and one item per fingerprint (`v`, `c`,
/// `expiresAt`).
pub struct DynamoCursors {
    client: Client,
    table: String,
}

impl DynamoCursors {
    /// Cursors kept in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCursors {
            client,
            table: table.into(),
        }
    }
}

fn cursor_key(org: &OrgId, sort: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            PARTITION_KEY.to_string(),
            AttributeValue::S(org.to_string()),
        ),
        (SORT_KEY.to_string(), AttributeValue::S(sort)),
    ])
}

fn fingerprint_key(fingerprint: &str) -> String {
    format!("f#{fingerprint}")
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        None => Ok(0),
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::other(format!("cursor attribute {name} is not a count"))),
        Some(_) => Err(StoreError::other(format!(
            "cursor attribute {name} is not a number"
        ))),
    }
}

#[async_trait]
impl CursorStore for DynamoCursors {
    async fn load(&self, org: &OrgId, fingerprint: &str) -> Result<Checkpoints, StoreError> {
        let version_key = cursor_key(org, VERSION_KEY.to_string());
        let keys = KeysAndAttributes::builder()
            .keys(version_key)
            .keys(cursor_key(org, fingerprint_key(fingerprint)))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::other(e.to_string()))?;
        let mut out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(sdk_error("BatchGetItem cursors"))?;
        if out
            .unprocessed_keys
            .as_ref()
            .and_then(|u| u.get(&self.table))
            .is_some_and(|k| !k.keys.is_empty())
        {
            return Err(StoreError::transient("cursor keys unprocessed"));
        }
        let items = out
            .responses
            .as_mut()
            .and_then(|r| r.remove(&self.table))
            .unwrap_or_default();
        let mut version = 0;
        let mut found = None;
        for item in items {
            if !matches!(item.get(PARTITION_KEY), Some(AttributeValue::S(o)) if o == org.as_str()) {
                return Err(StoreError::other("a cursor of another organization"));
            }
            match item.get(SORT_KEY) {
                Some(AttributeValue::S(k)) if k == VERSION_KEY => {
                    version = number(&item, VERSION_ATTR)?
                }
                _ => found = Some(item),
            }
        }
        let mut checkpoints = Checkpoints::empty(version);
        if let Some(item) = found {
            if number(&item, VERSION_ATTR)? == version {
                if let Some(AttributeValue::M(entries)) = item.get(ENTRIES_ATTR) {
                    for (position, id) in entries {
                        if let (Ok(position), AttributeValue::S(id)) = (position.parse(), id) {
                            checkpoints.entries.insert(position, id.clone());
                        }
                    }
                }
                if let Some(AttributeValue::M(marks)) = item.get(SEGMENTS_ATTR) {
                    for (segment, mark) in marks {
                        if let (Ok(segment), Some(mark)) =
                            (segment.parse::<usize>(), mark_from_attribute(mark))
                        {
                            if segment < SEGMENTS {
                                checkpoints.segments.insert(segment, mark);
                            }
                        }
                    }
                }
            }
        }
        Ok(checkpoints)
    }

    async fn save(
        &self,
        org: &OrgId,
        fingerprint: &str,
        checkpoints: &Checkpoints,
    ) -> Result<(), StoreError> {
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            + CHECKPOINT_TTL;
        let mut item = cursor_key(org, fingerprint_key(fingerprint));
        item.insert(
            VERSION_ATTR.into(),
            AttributeValue::N(checkpoints.version.to_string()),
        );
        item.insert(
            ENTRIES_ATTR.into(),
            AttributeValue::M(
                checkpoints
                    .entries
                    .iter()
                    .map(|(p, id)| (p.to_string(), AttributeValue::S(id.clone())))
                    .collect(),
            ),
        );
        item.insert(
            SEGMENTS_ATTR.into(),
            AttributeValue::M(
                checkpoints
                    .segments
                    .iter()
                    .filter_map(|(j, mark)| Some((j.to_string(), mark_to_attribute(mark)?)))
                    .collect(),
            ),
        );
        item.insert(
            TTL_ATTRIBUTE.into(),
            AttributeValue::N(expires.as_secs().to_string()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v) OR #v <= :v")
            .expression_attribute_names("#v", VERSION_ATTR)
            .expression_attribute_values(":v", AttributeValue::N(checkpoints.version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Checkpoints of a later version are there: they stay.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(sdk_error("PutItem cursors")(err).into()),
        }
    }

    async fn bump(&self, org: &OrgId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(cursor_key(org, VERSION_KEY.to_string())))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", VERSION_ATTR)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(sdk_error("UpdateItem cursors"))?;
        Ok(())
    }
}

/// Creates the cursors table (on-demand; [`PARTITION_KEY`] / [`SORT_KEY`]
/// keys, TTL on [`TTL_ATTRIBUTE`]) if it is missing. For local runs and
/// tests; `template.yaml` declares it for a deployment.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), String> {
    crate::aws::ensure_keyed_table_with_ttl(client, table, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE)
        .await
}

/// How long a request waits for its checkpoints before reading from the
/// partition's first key.
pub const LOAD_BOUND: Duration = Duration::from_millis(500);
/// How long saving a request's checkpoints may take.
pub const SAVE_BOUND: Duration = Duration::from_millis(500);
/// How long the answer may wait, beside the audit record, for the
/// checkpoints still being saved (the save started when the range ended).
pub const SETTLE_BOUND: Duration = Duration::from_millis(100);
/// How long before the answer is due a count of segments stops, and its
/// progress is saved: the save (bounded by [`SAVE_BOUND`]) then has these
/// 400 ms, and the answer still goes out when due (the 504 of a read cut by
/// the deadline, 2 s before the invocation's end).
pub const PROGRESS_RESERVE: Duration = Duration::from_millis(400);

/// A read under way: what its save merges.
struct Pending {
    org: OrgId,
    fingerprint: String,
    loaded: Checkpoints,
    tally: Tally,
    progress: Progress,
}

/// One export's use of the checkpoints: load before the range, save after
/// it in the background (a spawned task bounded by [`SAVE_BOUND`]), and
/// [`Positions::settle`] before the answer, bounded, so that no work is
/// left for after the response (a Lambda may be frozen then). A read that
/// did not end (the deadline cut it, or it failed) is saved by `settle`
/// with what it counted, so that a retry goes further. Failures are logged
/// by kind and never reach the export.
pub struct Positions {
    cursors: Arc<dyn CursorStore>,
    saves: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pending: Mutex<Option<Pending>>,
    near: usize,
    walk: u32,
    deadline: Option<Deadline>,
    save_bound: Duration,
}

impl Positions {
    /// Positions over `cursors`.
    pub fn new(cursors: Arc<dyn CursorStore>) -> Self {
        Positions {
            cursors,
            saves: Mutex::new(Vec::new()),
            pending: Mutex::new(None),
            near: NEAR_MATCHES,
            walk: WALK_PAGES,
            deadline: None,
            save_bound: SAVE_BOUND,
        }
    }

    /// The same, each save bounded by `bound` instead of [`SAVE_BOUND`].
    pub fn with_save_bound(mut self, bound: Duration) -> Self {
        self.save_bound = bound;
        self
    }

    /// The same, for a request whose answer is due by `deadline`: a count
    /// of segments stops [`PROGRESS_RESERVE`] before it.
    pub fn with_deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// When a count of segments must stop (`None`: no deadline).
    pub fn count_until(&self) -> Option<tokio::time::Instant> {
        self.deadline.map(|d| {
            d.answer_by()
                .checked_sub(PROGRESS_RESERVE)
                .unwrap_or(d.answer_by())
        })
    }

    /// Starts saving what the read tracked has learned so far, and keeps
    /// tracking it (its end saves again): the count of segments stopped
    /// before the deadline.
    pub fn save_progress(&self) {
        let copy = self
            .pending
            .lock()
            .expect("lock poisoned")
            .as_ref()
            .map(|p| Pending {
                org: p.org.clone(),
                fingerprint: p.fingerprint.clone(),
                loaded: p.loaded.clone(),
                tally: p.tally.clone(),
                progress: p.progress.clone(),
            });
        if let Some(copy) = copy {
            self.spawn_save(copy);
        }
    }

    /// The same, locating a range by counting segments when its nearest
    /// checkpoint is `near` matches or more before it (tests; the default
    /// is [`NEAR_MATCHES`]).
    pub fn with_near(mut self, near: usize) -> Self {
        self.near = near.max(1);
        self
    }

    /// The same, walking at most `pages` pages toward a far range's start
    /// before counting segments (the default is [`WALK_PAGES`]; 0 counts at
    /// once).
    pub fn with_walk(mut self, pages: u32) -> Self {
        self.walk = pages;
        self
    }

    /// Pages a far range walks toward its start before counting segments.
    pub fn walk_pages(&self) -> u32 {
        self.walk
    }

    /// How far before a range its nearest checkpoint may be for the range
    /// to be walked from it rather than located by segments.
    pub fn near(&self) -> usize {
        self.near
    }

    /// The checkpoints of (`org`, `fingerprint`) at the current version and
    /// where a range at `skip` starts; `None` (start at the first key, save
    /// nothing) when they cannot be read within [`LOAD_BOUND`].
    pub async fn load(
        &self,
        org: &OrgId,
        fingerprint: &str,
        skip: usize,
    ) -> (Option<Checkpoints>, Start) {
        match tokio::time::timeout(LOAD_BOUND, self.cursors.load(org, fingerprint)).await {
            Ok(Ok(checkpoints)) => {
                let start = checkpoints.start_for(skip);
                (Some(checkpoints), start)
            }
            Ok(Err(err)) => {
                log_failure("load", err.kind);
                (None, Start::default())
            }
            Err(_) => {
                log_failure("load", FaultKind::Transient);
                (None, Start::default())
            }
        }
    }

    /// A read of (`org`, `fingerprint`) starts from `loaded`: what `tally`
    /// and `progress` learn is saved by [`Positions::finish`] when it ends,
    /// or by [`Positions::settle`] when it does not.
    pub fn track(
        &self,
        org: &OrgId,
        fingerprint: &str,
        loaded: Checkpoints,
        tally: &Tally,
        progress: &Progress,
    ) {
        *self.pending.lock().expect("lock poisoned") = Some(Pending {
            org: org.clone(),
            fingerprint: fingerprint.to_string(),
            loaded,
            tally: tally.clone(),
            progress: progress.clone(),
        });
    }

    /// The read tracked has ended: its checkpoints are saved in a task of
    /// their own.
    pub fn finish(&self) {
        self.save_pending();
    }

    /// Starts the save of the read tracked, if any.
    fn save_pending(&self) {
        if let Some(pending) = self.pending.lock().expect("lock poisoned").take() {
            self.spawn_save(pending);
        }
    }

    /// Saves what `pending` learned, in a task of its own, when it learned
    /// anything new.
    fn spawn_save(&self, pending: Pending) {
        let mut checkpoints = pending.loaded.clone();
        checkpoints.absorb(&pending.progress);
        checkpoints.merge(pending.tally.learned());
        if checkpoints == pending.loaded {
            return;
        }
        let (cursors, bound) = (self.cursors.clone(), self.save_bound);
        let (org, fingerprint) = (pending.org, pending.fingerprint);
        let task = tokio::spawn(async move {
            match tokio::time::timeout(bound, cursors.save(&org, &fingerprint, &checkpoints)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => log_failure("save", err.kind),
                Err(_) => log_failure("save", FaultKind::Transient),
            }
        });
        self.saves.lock().expect("lock poisoned").push(task);
    }

    /// Waits at most `bound` for the saves started; one still running then
    /// is abandoned (aborted). A read tracked that did not end (cut by the
    /// deadline, or failed) is saved first, with what it learned.
    pub async fn settle(&self, bound: Duration) {
        self.save_pending();
        let tasks: Vec<_> = std::mem::take(&mut *self.saves.lock().expect("lock poisoned"));
        let deadline = tokio::time::Instant::now() + bound;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                log_failure("save", FaultKind::Transient);
            }
        }
    }
}

/// One log line per failed checkpoint read or write: the operation and the
/// kind of fault only.
fn log_failure(operation: &'static str, kind: FaultKind) {
    tracing::warn!(operation, kind = ?kind, "position checkpoints skipped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned(grid: &[(usize, &str)], end: Option<(usize, &str)>) -> Learned {
        Learned {
            grid: grid.iter().map(|(p, id)| (*p, id.to_string())).collect(),
            end: end.map(|(p, id)| (p, id.to_string())),
            start: None,
        }
    }

    #[test]
    fn the_start_is_the_nearest_checkpoint_at_or_before_the_index() {
        let mut c = Checkpoints::empty(3);
        c.merge(learned(&[(250, "a"), (500, "b")], Some((1000, "c"))));
        assert_eq!(c.start_for(0), Start::default());
        assert_eq!(c.start_for(249), Start::default());
        assert_eq!(
            c.start_for(250),
            Start {
                position: 250,
                after: Some("a".into())
            }
        );
        assert_eq!(c.start_for(999).position, 500);
        assert_eq!(c.start_for(5000).after.as_deref(), Some("c"));
    }

    #[test]
    fn a_tally_keeps_every_250th_match_and_the_last() {
        let tally = Tally::new();
        for position in 1..=620 {
            tally.matched(position, &format!("id{position}"));
        }
        tally.matched(621, &"x".repeat(MAX_CHECKPOINT_ID_BYTES + 1));
        assert_eq!(
            tally.learned(),
            learned(&[(250, "id250"), (500, "id500")], Some((620, "id620")))
        );
    }

    #[test]
    fn a_tally_starting_at_a_range_keeps_its_start() {
        let tally = Tally::starting_at(333);
        for position in 1..=400 {
            tally.matched(position, &format!("id{position}"));
        }
        let mut c = Checkpoints::empty(0);
        c.merge(tally.learned());
        assert_eq!(
            c.start_for(333),
            Start {
                position: 333,
                after: Some("id333".into())
            }
        );
        assert_eq!(c.start_for(332).position, 250);
    }

    #[test]
    fn above_the_cap_the_range_end_stays_and_the_rest_is_thinned_evenly() {
        let mut c = Checkpoints::empty(0);
        let grid: Vec<(usize, String)> = (1..=4000).map(|i| (i * 250, format!("g{i}"))).collect();
        c.merge(Learned {
            grid,
            end: Some((1_000_123, "end".into())),
            start: None,
        });
        assert_eq!(c.entries.len(), MAX_CHECKPOINTS);
        assert_eq!(c.entries.get(&1_000_123).map(String::as_str), Some("end"));
        assert_eq!(c.entries.get(&250).map(String::as_str), Some("g1"));
        // 999 places left beside the end for the grid of 4,000: one kept
        // in about 4, so no gap wider than 5 grid steps.
        let positions: Vec<usize> = c.entries.keys().copied().collect();
        let widest = positions.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(widest <= 5 * 250, "{widest}");
    }
}
