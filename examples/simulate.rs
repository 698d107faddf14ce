//! `make simulate`: the real handler (`lead_export::http::handle` over an
//! `App` whose lead store is a `DynamoStore`) against the simulated DynamoDB
//! of `tests/it/support/simdb.rs`, on tokio's paused clock, for synthetic
//! organizations of 100,000, 1,000,000 and 5,000,000 leads and filters
//! matching 50%, 5% and 0.5%. Prints one table of simulated times and
//! counts (machine-independent, deterministic for `SIMULATE_SEED`) and the
//! targets, `met` or `NOT MET`. The model: `docs/simulate.md`.

#[path = "../tests/it/support/simdb.rs"]
mod simdb;

use std::time::Duration;

use simdb::{export, sim_app, Matches, OrgSpec, SimDb, Stats, ITEM_BYTES, PAGE_BYTES};

/// The bulk range size of every request (the largest `targetCount`).
const TARGET: u64 = 1_000;
/// Attempts a client makes for one request (it retries a 504 or a 503).
const ATTEMPTS: usize = 3;
/// Attempts a client makes for a cold single request: more than the
/// target's 3, so that the table shows how many the worst case needs.
const COLD_ATTEMPTS: usize = 20;
/// Pages simulated per paging case at most (`SIMULATE_MAX_PAGES`), to keep
/// the run to minutes.
const DEFAULT_MAX_PAGES: u64 = 200;
/// Where the single requests start, as shares of the matches.
const POSITIONS: [f64; 3] = [0.10, 0.50, 0.99];
/// The warm target's time limit at 5,000,000 leads.
const WARM_LIMIT: Duration = Duration::from_secs(2);
/// The deadline of one answer: API Gateway's 29 s.
const DEADLINE: Duration = Duration::from_secs(simdb::TIMEOUT_SECONDS);

/// Items in one 1 MB Query page.
const PAGE_ITEMS: u64 = PAGE_BYTES.div_ceil(ITEM_BYTES);

/// One attempt: its answer's time, and what DynamoDB served.
struct Attempt {
    elapsed: Duration,
    stats: Stats,
}

/// One request of a client: its attempts; `exact` when answered with the
/// oracle's ids.
struct Request {
    attempts: Vec<Attempt>,
    answered: bool,
    exact: bool,
    needed: u64,
    /// The items its range spans, from the match before it to its last
    /// match (`needed` on average).
    spans: u64,
}

impl Request {
    fn first_attempt_in_time(&self) -> bool {
        self.attempts.len() == 1 && self.answered
    }
}

/// A row of the table: one mode of one case.
struct Row {
    leads: u64,
    selectivity: f64,
    mode: String,
    reach: String,
    /// Items up to the last lead of the last range answered (paging).
    covered: u64,
    requests: Vec<Request>,
}

impl Row {
    fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.requests.iter().flat_map(|r| r.attempts.iter())
    }

    fn sum(&self, f: impl Fn(&Stats) -> u64) -> u64 {
        self.attempts().map(|a| f(&a.stats)).sum()
    }

    fn wrong(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.answered && !r.exact)
            .count()
    }
}

/// Attempts `start..start + TARGET` up to `most` times, checking a
/// served answer against the oracle.
async fn request(
    app: &lead_export::app::App,
    db: &SimDb,
    org: &str,
    oracle: &Matches,
    start: u64,
    most: usize,
) -> Request {
    let expected = oracle.range_ids(start, TARGET);
    let mut attempts = Vec::new();
    let mut answered = false;
    let mut exact = false;
    while attempts.len() < most {
        let answer = export(app, org, start, TARGET).await;
        let stats = db.take_window();
        attempts.push(Attempt {
            elapsed: answer.elapsed,
            stats,
        });
        match answer.status {
            200 => {
                answered = true;
                exact = answer.ids == expected;
                break;
            }
            // A real client waits the `Retry-After` of a 503 (2 s), in
            // which the partition's bucket refills up to its burst; a 504
            // carries none: retried at once (what it counted is saved).
            503 | 504 => {
                if let Some(wait) = answer.retry_after {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            _ => break,
        }
    }
    Request {
        attempts,
        answered,
        exact,
        needed: (TARGET as f64 / oracle.spec.selectivity).round() as u64,
        spans: oracle
            .items_through(start, TARGET)
            .saturating_sub(if start == 0 {
                0
            } else {
                oracle.items_through(0, start)
            }),
    }
}

fn org_name(spec: OrgSpec) -> String {
    format!(
        "org-{}-{}",
        spec.n,
        (spec.selectivity * 1000.0).round() as u64
    )
}

fn millis(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn percent(s: f64) -> String {
    format!("{}%", s * 100.0)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let seed: u64 = std::env::var("SIMULATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let max_pages: u64 = std::env::var("SIMULATE_MAX_PAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_MAX_PAGES);
    // The SDK's retry jitter comes from fastrand's thread-local generator.
    fastrand::seed(seed);
    let db = SimDb::new(seed);
    let mut rows = Vec::new();
    let mut sandbox = 0;
    let mut fresh_app = |db: &SimDb| {
        sandbox += 1;
        sim_app(db, &format!("simulate-{sandbox}"))
    };
    for leads in [100_000, 1_000_000, 5_000_000] {
        for selectivity in [0.5, 0.05, 0.005] {
            let spec = OrgSpec {
                n: leads,
                selectivity,
            };
            let org = org_name(spec);
            db.add_org(&org, spec);
            let oracle = Matches::new(seed, spec);
            let total = oracle.indices.len() as u64;
            let pages = total.div_ceil(TARGET);
            eprintln!(
                "{} leads, {}: {} matches",
                thousands(leads),
                percent(selectivity),
                thousands(total)
            );

            // (a) A client pages the whole search in order.
            db.clear_tables();
            db.refill();
            db.take_window();
            let app = fresh_app(&db);
            let mut requests = Vec::new();
            let mut reach = format!("{pages}/{pages} pages");
            for page in 0..pages {
                if page == max_pages {
                    reach = format!("{page}/{pages} pages (cap)");
                    break;
                }
                let r = request(&app, &db, &org, &oracle, page * TARGET, ATTEMPTS).await;
                let failed = !r.answered;
                requests.push(r);
                if failed {
                    reach = format!("{page}/{pages} pages (page {} failed)", page + 1);
                    break;
                }
            }
            eprintln!("  paging in order: {reach}");
            let answered = requests.iter().filter(|r| r.answered).count() as u64;
            let covered = if answered == pages {
                leads
            } else {
                oracle.items_through(0, answered * TARGET)
            };
            rows.push(Row {
                leads,
                selectivity,
                mode: "paging in order".into(),
                reach,
                covered,
                requests,
            });

            // (b) cold single requests, each (c) again warm.
            let mut cold = Vec::new();
            let mut warm = Vec::new();
            for position in POSITIONS {
                let start = (total as f64 * position) as u64;
                db.clear_tables();
                db.refill();
                db.take_window();
                let app = fresh_app(&db);
                cold.push(request(&app, &db, &org, &oracle, start, COLD_ATTEMPTS).await);
                warm.push(request(&app, &db, &org, &oracle, start, ATTEMPTS).await);
            }
            let reach = "at 10%, 50%, 99%".to_string();
            rows.push(Row {
                leads,
                selectivity,
                mode: "cold single".into(),
                reach: reach.clone(),
                covered: 0,
                requests: cold,
            });
            rows.push(Row {
                leads,
                selectivity,
                mode: "warm single".into(),
                reach,
                covered: 0,
                requests: warm,
            });
        }
    }
    print_table(seed, max_pages, &rows);
    print_targets(&rows);
    let total = db.total();
    println!();
    println!(
        "In all: {} requests to DynamoDB ({}), {} items read, {} read units, {} MB returned, {} throttled, {} not simulated; {} s simulated.",
        thousands(total.requests.values().sum()),
        total
            .requests
            .iter()
            .map(|(op, n)| format!("{op} {}", thousands(*n)))
            .collect::<Vec<_>>()
            .join(", "),
        thousands(total.items_read),
        thousands(total.read_units().round() as u64),
        thousands(total.bytes_returned / 1_000_000),
        thousands(total.throttles),
        total.not_simulated,
        thousands(total.elapsed.as_secs()),
    );
}

fn print_table(seed: u64, max_pages: u64, rows: &[Row]) {
    println!(
        "make simulate: SIMULATE_SEED={seed}; bulk ranges of {TARGET}; items of {ITEM_BYTES} bytes ({PAGE_ITEMS} to a 1 MB page); \
         deadline {} s; at most {ATTEMPTS} attempts a request, {COLD_ATTEMPTS} a cold single one (504 retried at once, 503 after its Retry-After); paging capped at {max_pages} pages a case",
        simdb::TIMEOUT_SECONDS
    );
    println!();
    println!("| leads | filter | case | reach | requests | attempts (max) | time p50 | time max | read units | items read | items needed | read / needed | depth max | segments max | throttles | answered |");
    println!("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let mut times: Vec<Duration> = row.attempts().map(|a| a.elapsed).collect();
        times.sort();
        let p50 = times
            .get(times.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default();
        let max = times.last().copied().unwrap_or_default();
        let attempts = row.attempts().count();
        let max_attempts = row
            .requests
            .iter()
            .map(|r| r.attempts.len())
            .max()
            .unwrap_or(0);
        let read = row.sum(|s| s.items_read);
        let needed: u64 = row.requests.iter().map(|r| r.needed).sum();
        let units = row.sum(|s| s.half_units) as f64 / 2.0;
        let depth = row.attempts().map(|a| a.stats.depth).max().unwrap_or(0);
        let segments = row.attempts().map(|a| a.stats.segments).max().unwrap_or(0);
        let answered = row.requests.iter().filter(|r| r.answered).count();
        let exact = match row.wrong() {
            0 => format!("{answered} of {}, exact", row.requests.len()),
            wrong => format!("{answered} of {}, {wrong} WRONG", row.requests.len()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            thousands(row.leads),
            percent(row.selectivity),
            row.mode,
            row.reach,
            row.requests.len(),
            attempts,
            max_attempts,
            millis(p50),
            millis(max),
            thousands(units.round() as u64),
            thousands(read),
            thousands(needed),
            read as f64 / needed.max(1) as f64,
            depth,
            segments,
            thousands(row.sum(|s| s.throttles)),
            exact,
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

fn case(row: &Row) -> String {
    format!(
        "{} leads {}",
        thousands(row.leads),
        percent(row.selectivity)
    )
}

fn print_targets(rows: &[Row]) {
    println!();
    println!("Targets:");
    // 1. Paging a whole search: at most 1.2 times the organization's items
    // in total (over the pages simulated when capped: 1.2 times the items
    // up to the last page's last lead), every page in one attempt within
    // the deadline.
    let mut misses = Vec::new();
    for row in rows.iter().filter(|r| r.mode == "paging in order") {
        let read = row.sum(|s| s.items_read);
        let all_first = row
            .requests
            .iter()
            .all(|r| r.first_attempt_in_time() && r.attempts[0].elapsed <= DEADLINE);
        let reached_end = !row.reach.contains("failed");
        let covered = row.covered.max(1);
        let ok = all_first && reached_end && read as f64 <= 1.2 * covered as f64;
        if !ok {
            misses.push(format!(
                "{}: read {:.1}x, {}",
                case(row),
                read as f64 / covered as f64,
                row.reach
            ));
        }
    }
    println!(
        "- paging a whole search reads at most 1.2 times the organization's items and every page answers within the deadline in one attempt: {}{}",
        verdict(misses.is_empty()),
        if misses.is_empty() { String::new() } else { format!(" ({})", misses.join("; ")) }
    );

    // 2. A warm request anywhere: at most targetCount / selectivity items
    // (or the items its range spans, when more: that share is an average)
    // plus one page per segment; within 2 s at 5,000,000 leads.
    let mut misses = Vec::new();
    for row in rows.iter().filter(|r| r.mode == "warm single") {
        for r in &row.requests {
            let last = r.attempts.last().expect("an attempt");
            let allowance = r.needed.max(r.spans) + PAGE_ITEMS * last.stats.segments.max(1);
            let read_ok = r.attempts.len() == 1 && r.answered && last.stats.items_read <= allowance;
            let time_ok = row.leads < 5_000_000
                || (r.answered && r.attempts.len() == 1 && last.elapsed <= WARM_LIMIT);
            if !(read_ok && time_ok) {
                misses.push(case(row));
                break;
            }
        }
    }
    println!(
        "- a warm request anywhere reads at most targetCount / selectivity items (or its range's span, when more) plus one page per segment, and answers within 2 s at 5,000,000 leads: {}{}",
        verdict(misses.is_empty()),
        if misses.is_empty() { String::new() } else { format!(" (missed: {})", misses.join(", ")) }
    );

    // 3. A cold request anywhere: within 3 attempts at 1,000,000 leads
    // (each within the deadline), within one at 100,000.
    let mut misses = Vec::new();
    for row in rows.iter().filter(|r| r.mode == "cold single") {
        let ok = match row.leads {
            100_000 => row.requests.iter().all(Request::first_attempt_in_time),
            1_000_000 => row.requests.iter().all(|r| {
                r.answered
                    && r.attempts.len() <= ATTEMPTS
                    && r.attempts.iter().all(|a| a.elapsed <= DEADLINE)
            }),
            _ => true,
        };
        if !ok {
            misses.push(case(row));
        }
    }
    println!(
        "- a cold request anywhere answers within 3 attempts at 1,000,000 leads (each within the deadline) and within one attempt at 100,000: {}{}",
        verdict(misses.is_empty()),
        if misses.is_empty() { String::new() } else { format!(" (missed: {})", misses.join(", ")) }
    );
    let wrong: usize = rows.iter().map(Row::wrong).sum();
    println!(
        "- every served answer equals the oracle's range: {}",
        if wrong == 0 {
            "met".to_string()
        } else {
            format!("NOT MET ({wrong} wrong)")
        }
    );
}
