//! The range itself read in parallel key pieces (`docs/scale.md`): once a
//! bulk range's start is known and its first page read one Query page after
//! another shows the range is still several pages long, the key space after
//! that page is split into pieces of about a page of items each (lead ids
//! are UUIDs, so the key space splits evenly: the width of a piece is the
//! key span the first page covered, a little less), read concurrently under
//! the [`Aimd`] window of the segment count, and handed out strictly in key
//! order.
//!
//! Every piece has at most one page read and not yet handed out (in flight
//! or waiting for the pieces before it): when the range has its matches,
//! each piece read past it read at most one page for nothing, and a piece
//! is started only while the matches before it, those known and those
//! expected at the rate seen so far, may still fall short of the range. So
//! the read is at most the items up to the range's last match plus one page
//! per piece read ([`read_pieces`]).
//!
//! Piece `i` holds the lead ids `k` with `lower(i) < k <= upper(i)`, the
//! bounds being UUIDs `from + i * width` (the first piece's lower bound is
//! the key the first page ended at, the last piece has no upper bound):
//! every string after the first page's key falls in exactly one piece, so
//! the range is exact for any lead ids. Ids that are not spread like UUIDs
//! (`lead-0001`, uppercase hex) crowd into a few pieces (`lead-…` sorts
//! after every lowercase UUID: the last piece), which are read one page
//! after another: exact, only the parallelism is lost. When the first page
//! covered no UUID span at all (its keys all sort past the last UUID, say)
//! the range is read one page after another as before.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt};

use super::segments::{Aimd, Bounds, MAX_IN_FLIGHT, MAX_REFUSED, THROTTLE_PAUSE};
use super::{Batch, Skipped, StoreError, Tally};
use crate::model::Lead;

/// A range whose remaining matches, at the rate of matches seen so far,
/// lie within this many pages of the last page read goes on one page after
/// another: a split would still wait for about as many round trips.
pub const SEQUENTIAL_PAGES: u64 = 2;

/// Pieces started past the one being handed out, at most (each holds at
/// most one page read ahead: at most this many pages held).
pub const AHEAD: usize = 2 * MAX_IN_FLIGHT;

/// A piece is this share of the key span the first page covered, so that
/// it is one page, not a page and a few items.
const PIECE_NUMERATOR: u128 = 9;
const PIECE_DENOMINATOR: u128 = 10;

/// A match of the range: a lead, or an item of the organization that could
/// not be read into one (it keeps its position).
// Almost every entry is a lead: boxing it would add an allocation per lead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A lead the filter matches.
    Lead(Lead),
    /// An unreadable item the FilterExpression let through.
    Skipped(Skipped),
}

impl Entry {
    /// The lead id, when known.
    pub fn id(&self) -> Option<&str> {
        match self {
            Entry::Lead(lead) => Some(&lead.id),
            Entry::Skipped(skipped) => skipped.id.as_deref(),
        }
    }
}

/// One page of a piece.
#[derive(Debug, Clone, Default)]
pub struct PiecePage {
    /// The matches of the page, in key order (the piece's lower bound
    /// itself excluded).
    pub entries: Vec<Entry>,
    /// Items read (before the filter).
    pub scanned: u64,
    /// Bytes received.
    pub bytes: u64,
    /// The last key read, where the piece's next page starts; `None` when
    /// the piece has ended.
    pub resume: Option<String>,
    /// The page was throttled (refused, or retried): the window halves.
    pub throttled: bool,
    /// The page was refused and read nothing: asked again after
    /// [`THROTTLE_PAUSE`].
    pub retry: bool,
}

/// What the pieces read, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PieceStats {
    /// Pieces started.
    pub pieces: u64,
    /// Query pages read (refusals included).
    pub pages: u64,
    /// Items read.
    pub scanned: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Pages refused or retried.
    pub throttled: u64,
    /// Matches handed out.
    pub handed: u64,
}

/// The 128-bit value of the largest lowercase UUID that sorts at or before
/// `id` (0 when every UUID sorts after it): the value of `id` itself when
/// it is a lowercase UUID. Monotone: `a <= b` gives `floor(a) <= floor(b)`.
pub fn uuid_floor(id: &str) -> u128 {
    if let Some(v) = parse_uuid(id) {
        return v;
    }
    // The largest v with uuid_text(v) <= id; uuid_text is increasing.
    let (mut low, mut high) = (0u128, u128::MAX);
    if uuid_text(0).as_str() > id {
        return 0;
    }
    while low < high {
        let mid = low + (high - low) / 2 + 1;
        if uuid_text(mid).as_str() <= id {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

fn parse_uuid(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// `v` as a lowercase UUID (8-4-4-4-12 hex): increasing in `v`, as strings.
pub fn uuid_text(v: u128) -> String {
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

/// Whether a range with `remaining` matches still to read, after pages that
/// read `scanned` items holding `accepted` matches, the last of them a full
/// page of `page_items` items, should be read in pieces: more than
/// [`SEQUENTIAL_PAGES`] pages away at that rate (always when nothing
/// matched yet).
pub fn worth_splitting(remaining: usize, accepted: u64, scanned: u64, page_items: u64) -> bool {
    if remaining == 0 || page_items == 0 || scanned == 0 {
        return false;
    }
    accepted == 0
        || (remaining as u128) * u128::from(scanned)
            > u128::from(SEQUENTIAL_PAGES) * u128::from(page_items) * u128::from(accepted)
}

/// How the key space after a page is split.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The key the first piece starts after (exclusive).
    after: String,
    /// [`uuid_floor`] of `after`.
    from: u128,
    /// The key width of a piece.
    width: u128,
    /// Matches a piece is expected to hold, at the rate seen so far.
    expected: f64,
}

impl Plan {
    /// The split after a page that read `page_items` items after the key
    /// `page_start` (the first key when `None`) up to the key `page_end`,
    /// at a rate of `accepted` matches in `scanned` items: pieces of a
    /// little less than that page's key span. `None` when that span is
    /// nothing in UUID terms (ids that are not UUIDs).
    pub fn after_page(
        page_start: Option<&str>,
        page_end: &str,
        page_items: u64,
        accepted: u64,
        scanned: u64,
    ) -> Option<Plan> {
        let from = uuid_floor(page_end);
        let span = from.saturating_sub(page_start.map_or(0, uuid_floor));
        let width = span / PIECE_DENOMINATOR * PIECE_NUMERATOR;
        if width == 0 || page_items == 0 {
            return None;
        }
        let piece_items = page_items as f64 * PIECE_NUMERATOR as f64 / PIECE_DENOMINATOR as f64;
        let rate = if scanned == 0 {
            0.0
        } else {
            accepted as f64 / scanned as f64
        };
        Some(Plan {
            after: page_end.to_string(),
            from,
            width,
            expected: piece_items * rate,
        })
    }

    /// The bounds of piece `i`; `None` past the last one.
    pub fn bounds(&self, i: usize) -> Option<Bounds> {
        let at = |k: usize| {
            u128::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(self.width))
                .and_then(|d| self.from.checked_add(d))
        };
        let after = if i == 0 {
            self.after.clone()
        } else {
            uuid_text(at(i)?)
        };
        Some(Bounds {
            after: Some(after),
            upto: at(i + 1).map(uuid_text),
        })
    }
}

/// A piece started: its page read ahead, if any.
#[derive(Debug, Default)]
struct Piece {
    bounds: Bounds,
    resume: Option<String>,
    held: Option<PiecePage>,
    busy: bool,
    done: bool,
    refused: u32,
}

impl Piece {
    /// Matches known to lie in the piece's unread part, and whether that
    /// is all of them.
    fn known(&self) -> (usize, bool) {
        match &self.held {
            Some(page) => (page.entries.len(), page.resume.is_none()),
            None => (0, self.done),
        }
    }
}

/// Reads the pieces of `plan` concurrently, the first first, and hands out
/// their matches in key order (batches of at most a page), until `take`
/// matches are out or the key space has ended; with the stats so far.
/// `page(bounds, resume)` reads one page of the piece `bounds` after the
/// key `resume` (after its lower bound when `None`).
///
/// At most [`Aimd::limit`] pages are in flight, at most [`AHEAD`] pieces
/// past the one being handed out are started, and each piece has at most
/// one page read and not yet handed out. A piece is started only when the
/// matches before it (known, and expected at the plan's rate for the
/// pieces not read to their end) fall short of what is still needed. A
/// refused page is asked again after [`THROTTLE_PAUSE`]; [`MAX_REFUSED`]
/// refusals in a row end the read with a transient error. When the range
/// is complete, the pages still in flight are dropped.
pub fn read_pieces<'a, F, Fut>(
    mut page: F,
    plan: Plan,
    take: usize,
) -> impl Stream<Item = Result<(Vec<Entry>, PieceStats), StoreError>> + 'a
where
    F: FnMut(Bounds, Option<String>) -> Fut + 'a,
    Fut: Future<Output = Result<PiecePage, StoreError>> + 'a,
{
    async_stream::try_stream! {
        let mut stats = PieceStats::default();
        let mut remaining = take;
        // Pieces from the one being handed out (absolute index `first`).
        let mut pieces: VecDeque<Piece> = VecDeque::new();
        let mut first = 0usize;
        let mut last_piece = false;
        let mut aimd = Aimd::default();
        let mut in_flight = FuturesUnordered::new();
        while remaining > 0 {
            // Hand out what the first pieces hold, in key order.
            let mut out = Vec::new();
            while let Some(piece) = pieces.front_mut() {
                let Some(held) = piece.held.take() else { break };
                let ended = held.resume.is_none();
                piece.resume = held.resume;
                for entry in held.entries {
                    if remaining == 0 {
                        break;
                    }
                    out.push(entry);
                    remaining -= 1;
                }
                if ended {
                    pieces.pop_front();
                    first += 1;
                } else {
                    break;
                }
            }
            if !out.is_empty() {
                stats.handed += out.len() as u64;
                yield (out, stats);
            }
            if remaining == 0 {
                break;
            }
            // Start the pages the window, the lookahead and the estimate
            // allow, the first pieces first.
            let mut known = 0usize;
            let mut unknown = 0usize;
            let mut k = 0usize;
            while in_flight.len() < aimd.limit() && k <= AHEAD {
                if k == pieces.len() {
                    if last_piece {
                        break;
                    }
                    match plan.bounds(first + k) {
                        Some(bounds) => pieces.push_back(Piece {
                            bounds,
                            ..Piece::default()
                        }),
                        None => {
                            last_piece = true;
                            break;
                        }
                    }
                }
                let expected = known as f64 + plan.expected * unknown as f64;
                let short = expected < remaining as f64;
                if k > 0 && (known >= remaining || !short) {
                    break;
                }
                let piece = &mut pieces[k];
                if !piece.busy && !piece.done && piece.held.is_none() {
                    piece.busy = true;
                    if piece.resume.is_none() && piece.refused == 0 {
                        stats.pieces += 1;
                    }
                    let pause = if piece.refused > 0 {
                        THROTTLE_PAUSE
                    } else {
                        Duration::ZERO
                    };
                    let read = page(piece.bounds.clone(), piece.resume.clone());
                    let index = first + k;
                    in_flight.push(async move {
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                        (index, read.await)
                    });
                }
                let (n, all) = pieces[k].known();
                known += n;
                unknown += usize::from(!all);
                k += 1;
            }
            let Some((index, read)) = in_flight.next().await else {
                // Nothing in flight and nothing to start: every piece has
                // ended.
                break;
            };
            let read = read?;
            stats.pages += 1;
            stats.scanned += read.scanned;
            stats.bytes += read.bytes;
            stats.throttled += u64::from(read.throttled);
            aimd.record(read.throttled);
            let Some(piece) = index.checked_sub(first).and_then(|k| pieces.get_mut(k)) else {
                continue;
            };
            piece.busy = false;
            if read.retry {
                piece.refused += 1;
                if piece.refused >= MAX_REFUSED {
                    Err(StoreError::transient(format!(
                        "a piece's page was refused {} times in a row",
                        piece.refused
                    )))?;
                }
                continue;
            }
            piece.refused = 0;
            piece.done = read.resume.is_none();
            piece.held = Some(read);
        }
    }
}

/// The matches of pieces, in key order, as a batch: each tells `tally`
/// its position (`position` counts them on); an unreadable one keeps its
/// position and goes to the batch's `skipped`.
pub fn in_order(entries: Vec<Entry>, position: &mut usize, tally: &Tally) -> Batch {
    let mut batch = Batch::default();
    for entry in entries {
        *position += 1;
        if let Some(id) = entry.id() {
            tally.matched(*position, id);
        }
        match entry {
            Entry::Lead(lead) => batch.leads.push(lead),
            Entry::Skipped(skipped) => batch.skipped.push(skipped),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_floor_of_a_uuid_is_its_value_and_other_ids_fall_between() {
        let a = "01000000-0000-0000-0000-00000000000a";
        assert_eq!(uuid_floor(a), (1u128 << 120) + 10);
        assert_eq!(uuid_text(uuid_floor(a)), a);
        assert_eq!(uuid_floor(""), 0);
        assert_eq!(uuid_floor("00000000-0000-0000-0000-000000000000"), 0);
        // Not UUIDs: the largest UUID at or before them.
        assert_eq!(uuid_floor("lead-0001"), u128::MAX);
        let between = "a-042";
        let v = uuid_floor(between);
        assert!(uuid_text(v).as_str() <= between && uuid_text(v + 1).as_str() > between);
        assert_eq!(
            uuid_floor("A1"),
            uuid_floor("9fffffff-ffff-ffff-ffff-ffffffffffff")
        );
        // Monotone over a sorted mix.
        let mut ids = vec![
            "",
            "0",
            "00000000-0000-0000-0000-000000000001",
            "1-x",
            "7f",
            "a",
            "a-042",
            "a0000000-0000-0000-0000-000000000000",
            "ABC",
            "f",
            "lead-1",
            "\u{10ffff}",
        ];
        ids.sort();
        let floors: Vec<u128> = ids.iter().map(|id| uuid_floor(id)).collect();
        assert!(
            floors.windows(2).all(|w| w[0] <= w[1]),
            "{ids:?} {floors:?}"
        );
    }

    #[test]
    fn the_pieces_cover_every_key_after_the_page_once() {
        let start = "10000000-0000-0000-0000-000000000000";
        let end = "10000000-0000-0000-0000-000000000064"; // 100 after
        let plan = Plan::after_page(Some(start), end, 10, 5, 10).unwrap();
        assert_eq!(plan.width, 90);
        let b0 = plan.bounds(0).unwrap();
        assert_eq!(b0.after.as_deref(), Some(end));
        assert_eq!(
            b0.upto,
            Some(uuid_text((0x10000000u128 << 96) | (100 + 90)))
        );
        assert_eq!(plan.bounds(1).unwrap().after, b0.upto);
        // The last piece is open: ids that are not UUIDs land there.
        let wide = Plan::after_page(None, &uuid_text(u128::MAX / 4), 10, 5, 10).unwrap();
        let n = usize::try_from((u128::MAX - wide.from) / wide.width).unwrap();
        assert_eq!(n, 3);
        let last = wide.bounds(n).unwrap();
        assert_eq!(last.upto, None);
        assert!(last.holds("lead-0001"));
        assert!(wide.bounds(n + 1).is_none());
        // Each key after the page's end in exactly one of the first pieces.
        for id in [
            "10000000-0000-0000-0000-000000000065",
            "10000000-0000-0000-0000-0000000000be",
            "10000000-0000-0000-0000-0000000000bf",
        ] {
            let holding: Vec<usize> = (0..4)
                .filter(|&i| plan.bounds(i).unwrap().holds(id))
                .collect();
            assert_eq!(holding.len(), 1, "{id}: {holding:?}");
        }
        assert!(!b0.holds(end), "the page's last key is not read again");
        // No span in UUID terms: no plan.
        assert!(Plan::after_page(Some("lead-1"), "lead-9", 10, 5, 10).is_none());
    }

    #[test]
    fn a_range_a_few_pages_long_stays_sequential() {
        // 100 items a page, half matching: 200 matches to go are 4 pages.
        assert!(worth_splitting(200, 50, 100, 100));
        assert!(!worth_splitting(100, 50, 100, 100), "2 pages: sequential");
        assert!(worth_splitting(101, 50, 100, 100));
        assert!(worth_splitting(1, 0, 100, 100), "nothing matched yet");
        assert!(!worth_splitting(0, 0, 100, 100));
    }

    /// A key space of `n` UUID-spaced ids (`i * spacing`), `matching(i)`
    /// deciding the matches, read in pages of `page` items; the pages of
    /// each piece complete after a delay that varies with the piece, so
    /// that they complete out of key order.
    struct Space {
        n: u64,
        page: u64,
        matching: fn(u64) -> bool,
        spacing: u128,
        read: Mutex<Vec<(Bounds, u64)>>,
        refuse_first: bool,
        in_flight: std::sync::atomic::AtomicUsize,
        most_in_flight: std::sync::atomic::AtomicUsize,
    }

    impl Space {
        fn new(n: u64, page: u64, matching: fn(u64) -> bool) -> Self {
            Space {
                n,
                page,
                matching,
                spacing: u128::MAX / u128::from(n),
                read: Mutex::new(Vec::new()),
                refuse_first: false,
                in_flight: Default::default(),
                most_in_flight: Default::default(),
            }
        }

        fn id(&self, i: u64) -> String {
            uuid_text(u128::from(i) * self.spacing)
        }

        /// The first index whose id sorts after `key`.
        fn index_after(&self, key: &str) -> u64 {
            u64::try_from(uuid_floor(key) / self.spacing + 1).unwrap_or(u64::MAX)
        }

        fn page(
            &self,
            bounds: Bounds,
            resume: Option<String>,
        ) -> impl Future<Output = Result<PiecePage, StoreError>> + '_ {
            use std::sync::atomic::Ordering::SeqCst;
            let first = resume
                .as_deref()
                .or(bounds.after.as_deref())
                .map_or(0, |k| self.index_after(k));
            let end = bounds
                .upto
                .as_deref()
                .map_or(self.n, |u| self.index_after(u))
                .min(self.n);
            let mut out = PiecePage::default();
            {
                let mut read = self.read.lock().unwrap();
                if self.refuse_first && read.iter().all(|(b, _)| *b != bounds) {
                    out = PiecePage {
                        throttled: true,
                        retry: true,
                        ..PiecePage::default()
                    };
                } else {
                    let last = end.min(first + self.page);
                    for i in first..last {
                        if (self.matching)(i) {
                            out.entries.push(Entry::Lead(Lead {
                                id: self.id(i),
                                ..Lead::default()
                            }));
                        }
                    }
                    out.scanned = last.saturating_sub(first);
                    out.resume = (last < end).then(|| self.id(last - 1));
                }
                read.push((bounds.clone(), out.scanned));
            }
            // Later pieces answer sooner: completions out of key order.
            let key = bounds.after.as_deref().map_or(0, uuid_floor);
            let delay = Duration::from_millis(50 - (key / self.spacing % 37) as u64);
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.most_in_flight.fetch_max(now, SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                self.in_flight.fetch_sub(1, SeqCst);
                Ok(out)
            }
        }
    }

    async fn read_all(space: &Space, after: u64, take: usize) -> (Vec<String>, PieceStats) {
        let matching = space.matching;
        let page_items = space.page;
        // The page before: `page` items up to the lead `after`.
        let start = after.checked_sub(page_items).map(|i| space.id(i));
        let accepted = (after + 1 - page_items..=after)
            .filter(|&i| matching(i))
            .count() as u64;
        let plan = Plan::after_page(
            start.as_deref(),
            &space.id(after),
            page_items,
            accepted,
            page_items,
        )
        .unwrap();
        let mut stream = std::pin::pin!(read_pieces(|b, r| space.page(b, r), plan, take));
        let mut got = Vec::new();
        let mut stats = PieceStats::default();
        while let Some((entries, so_far)) = stream.next().await.transpose().unwrap() {
            got.extend(entries.iter().map(|e| e.id().unwrap().to_string()));
            stats = so_far;
        }
        (got, stats)
    }

    fn expected(space: &Space, after: u64, take: usize) -> Vec<String> {
        (after + 1..space.n)
            .filter(|&i| (space.matching)(i))
            .take(take)
            .map(|i| space.id(i))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn pieces_completing_out_of_order_are_handed_out_in_key_order() {
        let matching: [fn(u64) -> bool; 4] = [
            |_| true,
            |i| i % 3 == 0,
            |i| (i * 2_654_435_761) % 100 < 7,
            |i| i > 900 && i % 2 == 0,
        ];
        for (f, matching) in matching.into_iter().enumerate() {
            for (after, take) in [(9, 1), (9, 50), (20, 300), (100, 1_000), (990, 40)] {
                let space = Space::new(1_000, 10, matching);
                let (got, stats) = read_all(&space, after, take).await;
                assert_eq!(
                    got,
                    expected(&space, after, take),
                    "filter {f} after {after} take {take}"
                );
                assert_eq!(stats.handed, got.len() as u64);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_read_is_the_range_plus_at_most_one_page_per_piece() {
        // 3% matching, 10 items a page: 60 matches are about 2,000 items.
        let space = Space::new(20_000, 10, |i| (i * 2_654_435_761) % 100 < 3);
        let (after, take) = (99, 60);
        let (got, stats) = read_all(&space, after, take).await;
        let want = expected(&space, after, take);
        assert_eq!(got, want);
        let span = space.index_after(want.last().unwrap()) - 1 - after;
        // Every page asked, those dropped in flight when the range ended
        // included.
        let read: u64 = space.read.lock().unwrap().iter().map(|(_, n)| n).sum();
        assert!(read >= stats.scanned);
        assert!(
            read >= span && read <= span + stats.pieces * space.page,
            "read {read}, the range spans {span} items, {} pieces",
            stats.pieces
        );
        // Concurrent, within the window.
        assert!(stats.pieces > 10, "{stats:?}");
        let most = space
            .most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (2..=MAX_IN_FLIGHT).contains(&most),
            "{most} pages in flight at most"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_page_is_asked_again_and_the_range_stays_exact() {
        let mut space = Space::new(2_000, 10, |i| i % 4 == 1);
        space.refuse_first = true;
        let (got, stats) = read_all(&space, 49, 100).await;
        assert_eq!(got, expected(&space, 49, 100));
        assert!(stats.throttled >= stats.pieces, "{stats:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refused_every_time_is_a_transient_error() {
        let plan = Plan::after_page(None, &uuid_text(1_000), 10, 1, 10).unwrap();
        let mut stream = std::pin::pin!(read_pieces(
            |_, _| async {
                Ok(PiecePage {
                    throttled: true,
                    retry: true,
                    ..PiecePage::default()
                })
            },
            plan,
            5
        ));
        let got = stream.next().await.unwrap();
        assert!(matches!(got, Err(e) if e.kind == crate::error::FaultKind::Transient));
    }
}
