//! Parallel sort-key segments (`docs/scale.md`): the key space of an
//! organization's partition split into [`SEGMENTS`] fixed segments, the
//! matches of a filter counted per segment in parallel (at most
//! [`MAX_IN_FLIGHT`] pages at once, an [`Aimd`] window that halves on a
//! throttled page), until the position a range starts at is known. What is
//! counted is kept in a [`Progress`], shared with the caller, page by page:
//! a request cut by its deadline keeps it, and its checkpoints item stores
//! it ([`Mark`]), so that a retry resumes every segment where it stopped.
//!
//! Segment `j` holds the lead ids `k` with `boundary(j) < k <= boundary(j + 1)`
//! (the first has no lower bound, the last no upper bound), the boundaries
//! being `j * 2^128 / SEGMENTS` written as lowercase UUIDs. Every string
//! falls in exactly one segment, so the counts are exact for any lead ids;
//! they are even only for ids spread like UUIDs (other ids crowd into a few
//! segments, which then do the work of one sequential read).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use super::cursors::{Start, CHECKPOINT_EVERY};
use super::StoreError;

/// Segments of the key space: for UUID lead ids each holds about 1/256 of
/// the organization (5,000,000 leads: about 19,500 items, 41 pages of 1 MB
/// at 2,100 bytes an item).
pub const SEGMENTS: usize = 256;

/// Query pages in flight at once while counting, at most.
pub const MAX_IN_FLIGHT: usize = 8;

/// The window of pages in flight a count starts with.
pub const START_WINDOW: f64 = 2.0;

/// How long a segment waits before asking again for a page DynamoDB
/// refused for throughput: about the time the partition takes to earn a
/// 1 MB page's 128 read units back at 3,000 a second.
pub const THROTTLE_PAUSE: Duration = Duration::from_millis(40);

/// A segment whose page is refused this many times in a row ends the
/// count with a transient error (503).
pub const MAX_REFUSED: u32 = 25;

/// A range whose nearest checkpoint lies this many matches or more before
/// its start is located by counting segments ([`locate`]) rather than
/// walked from the checkpoint.
pub const NEAR_MATCHES: usize = 1_000;

/// Pages a cold request (its nearest checkpoint [`NEAR_MATCHES`] or more
/// before its start) reads one after another from that checkpoint before
/// it decides to count segments: about 3,000 items of 1,416 bytes, 120 ms.
/// Past its start by then, or near enough ([`WALK_MORE_PAGES`]), it never
/// counts (`docs/scale.md`).
pub const WALK_PAGES: u32 = 4;

/// After [`WALK_PAGES`], a request whose start lies at most this many pages
/// further (estimated from the matches those pages held) goes on reading
/// one page after another: a count would ask at least one Query per
/// segment it passes for the same items.
pub const WALK_MORE_PAGES: usize = 12;

/// Whether a request that walked `pages` pages, meeting `matched` matches,
/// and still has `rest` matches to go before its start, should count the
/// segments: `rest` is [`NEAR_MATCHES`]-far (`near`) and, at the rate of
/// the pages walked, more than [`WALK_MORE_PAGES`] pages away (always when
/// nothing matched, or nothing was walked).
pub fn still_far(rest: usize, near: usize, pages: u32, matched: usize) -> bool {
    rest >= near
        && (matched == 0
            || (rest as u128) * u128::from(pages) > (WALK_MORE_PAGES * matched) as u128)
}

/// The lower end of segment `j` (exclusive; `None` for the first): the
/// 128-bit value `j * 2^128 / SEGMENTS` as a lowercase UUID.
pub fn boundary(j: usize) -> Option<String> {
    if j == 0 || j >= SEGMENTS {
        return None;
    }
    let v = (j as u128) << (128 - SEGMENTS.trailing_zeros());
    let h = format!("{v:032x}");
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The sort-key bounds of a segment: `after < leadId <= upto`, each bound
/// absent at an end of the key space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Exclusive lower bound.
    pub after: Option<String>,
    /// Inclusive upper bound.
    pub upto: Option<String>,
}

impl Bounds {
    /// The bounds of segment `j`.
    pub fn of(j: usize) -> Self {
        Bounds {
            after: boundary(j),
            upto: boundary(j + 1),
        }
    }

    /// Whether `id` lies within.
    pub fn holds(&self, id: &str) -> bool {
        self.after.as_deref().is_none_or(|a| id > a) && self.upto.as_deref().is_none_or(|u| id <= u)
    }
}

/// The segment holding `id`.
pub fn segment_of(id: &str) -> usize {
    (0..SEGMENTS)
        .find(|&j| Bounds::of(j).holds(id))
        .unwrap_or(SEGMENTS - 1)
}

/// What is known of one segment, as stored: `count` matches lie after its
/// lower bound up to and including the key `resume` (the last key read),
/// the last of them being `last`; `done` when the segment was read to its
/// end. A segment never started has no mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// Matches counted.
    pub count: u64,
    /// The last key read (the count resumes after it); `None` before the
    /// first page.
    pub resume: Option<String>,
    /// The lead id of the last match counted.
    pub last: Option<String>,
    /// The segment was counted to its end.
    pub done: bool,
}

/// One page of a segment's count.
#[derive(Debug, Clone, Default)]
pub struct SegmentPage {
    /// The matches of the page in key order (an unreadable item that may
    /// match counts, its id `None` when it has none).
    pub matches: Vec<Option<String>>,
    /// The last key read: where the next page starts; `None` when the
    /// segment has ended.
    pub resume: Option<String>,
    /// The page was throttled (refused, or retried by the SDK): the window
    /// halves.
    pub throttled: bool,
    /// The page was refused (throttled) and counted nothing: the same page
    /// is read again after [`THROTTLE_PAUSE`].
    pub retry: bool,
}

/// A segment's mark and, in memory only, the ids of every
/// [`CHECKPOINT_EVERY`]-th match counted by this request (local position
/// within the segment → id).
#[derive(Debug, Clone, Default)]
struct Counted {
    mark: Mark,
    grid: Vec<(u64, String)>,
}

/// Where a count starts when a checkpoint says more than the marks do:
/// `position` matches lie up to and including the lead `after`, in
/// segment `segment`; `counted` counts that segment after `after` (its
/// count is relative to the checkpoint, so it is not stored as a mark).
#[derive(Debug, Clone)]
struct Base {
    segment: usize,
    position: usize,
    counted: Counted,
}

#[derive(Debug, Default)]
struct Inner {
    segments: BTreeMap<usize, Counted>,
    base: Option<Base>,
}

impl Inner {
    /// The segment `j`'s count: the base's when `j` is the base segment.
    fn counted(&self, j: usize) -> Option<&Counted> {
        match &self.base {
            Some(base) if base.segment == j => Some(&base.counted),
            _ => self.segments.get(&j),
        }
    }

    /// The first segment counted (the base's) and the matches before it.
    fn first(&self) -> (usize, usize) {
        self.base
            .as_ref()
            .map_or((0, 0), |base| (base.segment, base.position))
    }
}

/// The segments counted so far, shared by the count and its caller (a
/// clone shares it): what a page adds is there as soon as it is read.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Inner>>);

impl Progress {
    /// Progress resumed from stored marks.
    pub fn from_marks(marks: &BTreeMap<usize, Mark>) -> Self {
        Progress(Arc::new(Mutex::new(Inner {
            segments: marks
                .iter()
                .filter(|(&j, _)| j < SEGMENTS)
                .map(|(&j, mark)| {
                    (
                        j,
                        Counted {
                            mark: mark.clone(),
                            grid: Vec::new(),
                        },
                    )
                })
                .collect(),
            base: None,
        })))
    }

    /// Counts from the checkpoint `start` rather than from the first
    /// segment: the segments before the one holding `start.after` are not
    /// counted (their matches are `start.position`, with that segment's
    /// matches up to the checkpoint), and that segment is counted after
    /// `start.after`. Its stored mark, if any, is left as it is. Nothing
    /// changes for the first key (no `after`).
    ///
    /// When that segment's mark ends its count at that very lead (the
    /// checkpoint is the mark's last match), no match lies between the lead
    /// and the mark's last key: the count resumes after that key, and a
    /// segment counted to its end is not read again.
    pub fn start_at(&self, start: &Start) {
        let Some(after) = &start.after else { return };
        let mut all = self.0.lock().expect("lock poisoned");
        let segment = segment_of(after);
        let mark = match all.segments.get(&segment) {
            Some(c) if c.mark.last.as_deref() == Some(after.as_str()) => Mark {
                resume: c.mark.resume.clone(),
                done: c.mark.done,
                ..Mark::default()
            },
            _ => Mark {
                resume: Some(after.clone()),
                ..Mark::default()
            },
        };
        all.base = Some(Base {
            segment,
            position: start.position,
            counted: Counted {
                mark,
                grid: Vec::new(),
            },
        });
    }

    /// Whether any segment was counted before (marks loaded or added).
    pub fn is_empty(&self) -> bool {
        self.0.lock().expect("lock poisoned").segments.is_empty()
    }

    /// The marks, to store (not the base segment's count from its
    /// checkpoint: it is stored as the checkpoints it gives).
    pub fn marks(&self) -> BTreeMap<usize, Mark> {
        self.0
            .lock()
            .expect("lock poisoned")
            .segments
            .iter()
            .map(|(&j, c)| (j, c.mark.clone()))
            .collect()
    }

    fn mark(&self, j: usize) -> Mark {
        self.0
            .lock()
            .expect("lock poisoned")
            .counted(j)
            .map(|c| c.mark.clone())
            .unwrap_or_default()
    }

    /// Adds a page of segment `j`.
    pub fn add(&self, j: usize, page: &SegmentPage) {
        let mut all = self.0.lock().expect("lock poisoned");
        let counted = match &mut all.base {
            Some(base) if base.segment == j => &mut base.counted,
            _ => all.segments.entry(j).or_default(),
        };
        for id in &page.matches {
            counted.mark.count += 1;
            if let Some(id) = id {
                if counted.mark.count % CHECKPOINT_EVERY as u64 == 0 {
                    counted.grid.push((counted.mark.count, id.clone()));
                }
                counted.mark.last = Some(id.clone());
            }
        }
        match &page.resume {
            Some(key) => counted.mark.resume = Some(key.clone()),
            None => counted.mark.done = true,
        }
    }

    /// The absolute position checkpoints the counts give: (matches before,
    /// the lead id of the last of them), from the first segment (or the
    /// base checkpoint's, [`Progress::start_at`]) up to the first one not
    /// counted to its end (included, as far as counted).
    pub fn absolute(&self) -> Vec<(usize, String)> {
        let all = self.0.lock().expect("lock poisoned");
        let mut out = Vec::new();
        let (first, mut before) = all.first();
        for j in first..SEGMENTS {
            let Some(counted) = all.counted(j) else { break };
            for (local, id) in &counted.grid {
                out.push((before + *local as usize, id.clone()));
            }
            let through = before + counted.mark.count as usize;
            if let Some(last) = &counted.mark.last {
                if through > 0 {
                    out.push((through, last.clone()));
                }
            }
            before = through;
            if !counted.mark.done {
                break;
            }
        }
        out
    }

    /// Whether the counts locate position `skip`: the matches known from
    /// the first key on reach past it, or every segment is counted.
    pub fn locates(&self, skip: usize) -> bool {
        let all = self.0.lock().expect("lock poisoned");
        let (first, mut before) = all.first();
        for j in first..SEGMENTS {
            let Some(counted) = all.counted(j) else {
                return false;
            };
            before += counted.mark.count as usize;
            if before > skip {
                return true;
            }
            if !counted.mark.done {
                return false;
            }
        }
        true
    }

    /// The first segment (from the base's) neither counted to its end nor
    /// in `busy`.
    fn next_idle(&self, busy: &[usize]) -> Option<usize> {
        let all = self.0.lock().expect("lock poisoned");
        let (first, _) = all.first();
        (first..SEGMENTS)
            .find(|&j| !busy.contains(&j) && !all.counted(j).is_some_and(|c| c.mark.done))
    }
}

/// Additive increase, multiplicative decrease of the pages in flight: a
/// page read without a retry widens the window by `1 / window` (about one
/// page more per window of pages), a throttled page halves it; always
/// between 1 and [`MAX_IN_FLIGHT`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    window: f64,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd {
            window: START_WINDOW,
        }
    }
}

impl Aimd {
    /// Pages allowed in flight now.
    pub fn limit(&self) -> usize {
        (self.window.floor() as usize).clamp(1, MAX_IN_FLIGHT)
    }

    /// A page came back, `throttled` or not.
    pub fn record(&mut self, throttled: bool) {
        self.window = if throttled {
            (self.window / 2.0).max(1.0)
        } else {
            (self.window + 1.0 / self.window).min(MAX_IN_FLIGHT as f64)
        };
    }
}

/// Counts the matches of segments in parallel, the first segments first,
/// until `progress` locates the position `skip` ([`Progress::locates`]) or
/// every segment is counted. `page(j, bounds, resume)` reads one page of
/// segment `j` after the key `resume` (from its lower bound when `None`).
/// Pages still in flight when `skip` is located are dropped (at most one
/// page per segment read past what was needed). An error ends the count;
/// what was counted stays in `progress`.
pub async fn locate<F, Fut>(mut page: F, progress: &Progress, skip: usize) -> Result<(), StoreError>
where
    F: FnMut(usize, Bounds, Option<String>) -> Fut,
    Fut: Future<Output = Result<SegmentPage, StoreError>>,
{
    let mut aimd = Aimd::default();
    let mut in_flight = FuturesUnordered::new();
    let mut busy: Vec<usize> = Vec::new();
    // Segments whose last page was refused: how many times in a row.
    let mut refused: BTreeMap<usize, u32> = BTreeMap::new();
    loop {
        if progress.locates(skip) {
            return Ok(());
        }
        while in_flight.len() < aimd.limit() {
            let Some(j) = progress.next_idle(&busy) else {
                break;
            };
            busy.push(j);
            let resume = progress.mark(j).resume;
            let pause = if refused.contains_key(&j) {
                THROTTLE_PAUSE
            } else {
                Duration::ZERO
            };
            let read = page(j, Bounds::of(j), resume);
            in_flight.push(async move {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                (j, read.await)
            });
        }
        let Some((j, read)) = in_flight.next().await else {
            return Ok(());
        };
        busy.retain(|&b| b != j);
        let read = read?;
        aimd.record(read.throttled);
        if read.retry {
            let times = refused.entry(j).or_default();
            *times += 1;
            if *times >= MAX_REFUSED {
                return Err(StoreError::transient(format!(
                    "a segment's page was refused {times} times in a row"
                )));
            }
        } else {
            refused.remove(&j);
            progress.add(j, &read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundaries_split_the_uuid_space_evenly_and_every_key_has_one_segment() {
        assert_eq!(boundary(0), None);
        assert_eq!(
            boundary(1).as_deref(),
            Some("01000000-0000-0000-0000-000000000000")
        );
        assert_eq!(
            boundary(128).as_deref(),
            Some("80000000-0000-0000-0000-000000000000")
        );
        assert_eq!(
            boundary(255).as_deref(),
            Some("ff000000-0000-0000-0000-000000000000")
        );
        assert_eq!(boundary(SEGMENTS), None);
        for id in [
            "",
            "00000000-0000-0000-0000-000000000000",
            "01000000-0000-0000-0000-000000000000",
            "01000000-0000-0000-0000-000000000001",
            "7fffffff-ffff-ffff-ffff-ffffffffffff",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "lead-0001",
            "A1",
            "\u{10ffff}",
        ] {
            let holding: Vec<usize> = (0..SEGMENTS).filter(|&j| Bounds::of(j).holds(id)).collect();
            assert_eq!(holding.len(), 1, "{id:?}: {holding:?}");
            assert_eq!(segment_of(id), holding[0]);
        }
        // A boundary itself ends the segment below it.
        assert_eq!(segment_of("01000000-0000-0000-0000-000000000000"), 0);
        assert_eq!(segment_of("01000000-0000-0000-0000-000000000001"), 1);
        // Ids that are not UUIDs crowd into the segments of their first
        // characters ('l' sorts after every hex digit: the last one).
        assert_eq!(segment_of("lead-0001"), SEGMENTS - 1);
    }

    #[test]
    fn the_window_grows_by_one_a_window_and_halves_on_a_throttle() {
        let mut aimd = Aimd::default();
        assert_eq!(aimd.limit(), 2);
        for _ in 0..2 {
            aimd.record(false);
        }
        assert_eq!(aimd.limit(), 2, "2 + 1/2 + 1/2.5 < 3");
        aimd.record(false);
        assert_eq!(aimd.limit(), 3);
        for _ in 0..1000 {
            aimd.record(false);
        }
        assert_eq!(aimd.limit(), MAX_IN_FLIGHT);
        aimd.record(true);
        assert_eq!(aimd.limit(), MAX_IN_FLIGHT / 2);
        for _ in 0..10 {
            aimd.record(true);
        }
        assert_eq!(aimd.limit(), 1);
    }

    fn page(matches: &[&str], resume: Option<&str>) -> SegmentPage {
        SegmentPage {
            matches: matches.iter().map(|m| Some(m.to_string())).collect(),
            resume: resume.map(String::from),
            ..SegmentPage::default()
        }
    }

    #[test]
    fn absolute_checkpoints_need_every_earlier_segment_counted() {
        let progress = Progress::default();
        progress.add(1, &page(&["b1", "b2"], None));
        assert!(progress.absolute().is_empty(), "segment 0 is not counted");
        progress.add(0, &page(&["a1"], Some("a5")));
        assert_eq!(progress.absolute(), [(1, "a1".to_string())]);
        assert!(progress.locates(0));
        assert!(!progress.locates(1));
        progress.add(0, &page(&[], None));
        assert_eq!(
            progress.absolute(),
            [(1, "a1".to_string()), (3, "b2".to_string())]
        );
        assert!(progress.locates(2));
        assert!(!progress.locates(3));
        // Stored and resumed: the marks alone give the same positions.
        let again = Progress::from_marks(&progress.marks());
        assert_eq!(again.absolute(), progress.absolute());
        assert_eq!(again.mark(0).resume.as_deref(), Some("a5"));
    }

    #[tokio::test]
    async fn locate_counts_the_first_segments_first_and_stops_once_the_start_is_known() {
        // Segment j holds j + 1 matches, read one match a page.
        let progress = Progress::default();
        let asked = Mutex::new(Vec::new());
        locate(
            |j, _bounds, resume: Option<String>| {
                asked.lock().unwrap().push(j);
                let done = resume
                    .as_ref()
                    .map_or(0, |r| r.parse::<usize>().unwrap() + 1);
                async move {
                    Ok(SegmentPage {
                        matches: vec![Some(format!("{j}-{done}"))],
                        resume: (done < j).then(|| done.to_string()),
                        ..SegmentPage::default()
                    })
                }
            },
            &progress,
            10,
        )
        .await
        .unwrap();
        // 1 + 2 + 3 + 4 = 10 matches in segments 0..4: position 10 is in
        // segment 4.
        assert!(progress.locates(10));
        let asked = asked.into_inner().unwrap();
        assert!(asked.iter().all(|&j| j <= 4 + MAX_IN_FLIGHT), "{asked:?}");
        let positions: Vec<usize> = progress.absolute().iter().map(|(p, _)| *p).collect();
        assert!(positions.contains(&10) && positions.windows(2).all(|w| w[0] < w[1]));
    }

    #[tokio::test]
    async fn a_count_from_a_checkpoint_starts_in_its_segment_after_its_lead() {
        // 500 matches lie up to the lead `after`, in segment 3; segments 3,
        // 4 and 5 hold 2 matches each after it (two pages per segment).
        let after = "03100000-0000-0000-0000-000000000000".to_string();
        let progress = Progress::default();
        progress.start_at(&Start {
            position: 500,
            after: Some(after.clone()),
        });
        let asked = Mutex::new(Vec::new());
        locate(
            |j, bounds: Bounds, resume: Option<String>| {
                asked.lock().unwrap().push((j, resume.clone()));
                let lower = bounds.after.unwrap_or_default();
                let first = resume.as_deref().is_none_or(|r| r == after);
                let page = if first {
                    page(&[&format!("{lower}-a")], Some(&format!("{lower}-a")))
                } else {
                    page(&[&format!("{lower}-b")], None)
                };
                async move { Ok(page) }
            },
            &progress,
            504,
        )
        .await
        .unwrap();
        let asked = asked.into_inner().unwrap();
        // No segment below the checkpoint's is asked; its own starts after
        // the checkpoint's lead.
        assert!(asked.iter().all(|(j, _)| *j >= 3), "{asked:?}");
        assert!(asked.contains(&(3, Some(after.clone()))), "{asked:?}");
        assert!(!asked.contains(&(3, None)), "{asked:?}");
        // 500 + 2 (segment 3) + 2 (segment 4) = 504: position 504 lies in
        // segment 5.
        assert!(progress.locates(504));
        let b4 = boundary(4).unwrap();
        let b5 = boundary(5).unwrap();
        let absolute = progress.absolute();
        assert!(
            absolute.contains(&(502, format!("{}-b", boundary(3).unwrap()))),
            "{absolute:?}"
        );
        assert!(absolute.contains(&(504, format!("{b4}-b"))), "{absolute:?}");
        assert!(
            absolute.iter().all(|(p, _)| *p > 500),
            "{absolute:?}: nothing before the checkpoint"
        );
        assert!(absolute
            .iter()
            .any(|(p, id)| *p == 505 && *id == format!("{b5}-a")));
        // The segment of the checkpoint is not stored as a mark (its count
        // is from the checkpoint, not from its lower bound); the others are.
        let marks = progress.marks();
        assert!(!marks.contains_key(&3), "{marks:?}");
        assert_eq!(marks[&4].count, 2);
        assert!(marks[&4].done);
    }

    #[test]
    fn a_count_from_a_marks_last_match_resumes_after_the_marks_key() {
        let b2 = boundary(2).unwrap();
        let (last, resume) = (format!("{b2}-7"), format!("{b2}-9"));
        let mut marks = BTreeMap::new();
        marks.insert(
            2,
            Mark {
                count: 40,
                resume: Some(resume.clone()),
                last: Some(last.clone()),
                done: false,
            },
        );
        let progress = Progress::from_marks(&marks);
        progress.start_at(&Start {
            position: 300,
            after: Some(last),
        });
        assert_eq!(progress.mark(2).resume, Some(resume));
        assert_eq!(progress.mark(2).count, 0);
        assert_eq!(progress.marks()[&2].count, 40, "the stored mark stays");
        // Done at that match: the next segment is the first to count.
        marks.get_mut(&2).unwrap().done = true;
        let progress = Progress::from_marks(&marks);
        progress.start_at(&Start {
            position: 300,
            after: marks[&2].last.clone(),
        });
        assert_eq!(progress.next_idle(&[]), Some(3));
        progress.add(3, &page(&["x"], None));
        assert_eq!(progress.absolute(), [(301, "x".to_string())]);
    }

    #[test]
    fn a_walk_that_found_its_start_near_never_counts() {
        // 1,000 matches to go, 4 pages walked: far when 1,000 / (matched / 4)
        // pages exceed WALK_MORE_PAGES.
        let near = NEAR_MATCHES;
        let per_page = |matched: usize| matched as f64 / 4.0;
        for matched in [0, 100, 333, 334, 1_000] {
            let far = still_far(1_000, near, 4, matched);
            let expected = matched == 0 || 1_000.0 / per_page(matched) > WALK_MORE_PAGES as f64;
            assert_eq!(far, expected, "{matched}");
        }
        assert!(still_far(1_000, near, 4, 333));
        assert!(!still_far(1_000, near, 4, 334));
        // Closer than `near`: never.
        assert!(!still_far(near - 1, near, 4, 0));
        // Nothing walked (a store that cannot walk): far.
        assert!(still_far(near, near, 0, 0));
    }

    #[tokio::test]
    async fn an_error_ends_the_count_and_keeps_what_was_counted() {
        let progress = Progress::default();
        let calls = Mutex::new(0);
        let got = locate(
            |j, _, _| {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                async move {
                    if n > 3 {
                        Err(StoreError::transient("throttled"))
                    } else {
                        Ok(page(&[&format!("{j}")], None))
                    }
                }
            },
            &progress,
            1_000,
        )
        .await;
        assert!(got.is_err());
        assert!(!progress.marks().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_page_is_asked_again_after_a_pause_and_counts_nothing() {
        let progress = Progress::default();
        let calls = Mutex::new(Vec::new());
        let started = tokio::time::Instant::now();
        locate(
            |j, _, _| {
                let n = {
                    let mut calls = calls.lock().unwrap();
                    calls.push((j, started.elapsed()));
                    calls.len()
                };
                async move {
                    // The first two pages asked are refused.
                    Ok(if n <= 2 {
                        SegmentPage {
                            throttled: true,
                            retry: true,
                            ..SegmentPage::default()
                        }
                    } else {
                        page(&["x"], None)
                    })
                }
            },
            &progress,
            0,
        )
        .await
        .unwrap();
        let calls = calls.into_inner().unwrap();
        // Segments 0 and 1 refused, then segment 0 asked again after the
        // pause; it counted once.
        assert_eq!(calls[0].0, 0);
        assert_eq!(calls[2].0, 0, "{calls:?}");
        assert!(started.elapsed() >= THROTTLE_PAUSE, "{calls:?}");
        assert_eq!(progress.marks()[&0].count, 1);

        // Refused every time: a transient error after MAX_REFUSED.
        let progress = Progress::default();
        let got = locate(
            |_, _, _| async {
                Ok(SegmentPage {
                    throttled: true,
                    retry: true,
                    ..SegmentPage::default()
                })
            },
            &progress,
            0,
        )
        .await;
        assert!(got.is_err());
        assert!(progress.marks().is_empty());
    }
}
