//! The in-process side of `make bench` (a benchmark, not a test): data for
//! the workloads and W3. `scripts/bench.py` runs it with a subcommand:
//!
//! - `seed ORG N SEED CONCURRENCY`: creates the tables and the bucket if
//!   missing and writes the `N` demo leads of `SEED` for `ORG` through the
//!   store's own `put_leads` (what `seed-demo` uses), `CONCURRENCY` batches
//!   of 25 in flight, then bumps the organization's data version; prints
//!   `{"leads", "seconds"}`.
//! - `bump ORG`: bumps the organization's data version (its position
//!   checkpoints stop being used), as a write would; prints `{"bumped"}`.
//! - `ids N SEED COUNT`: `COUNT` ids of those leads (generation order, which
//!   is random in id order), as a JSON list.
//! - `position N SEED BODY`: for a bulk request `BODY` over those leads, the
//!   1-based position, in ascending id order, of the last lead the range
//!   needs (the `start + count`-th match, or the last match), with the
//!   library's own parsing and `CompiledFilter::matches`; prints
//!   `{"position", "matches", "leads"}`.
//! - `csv ROWS RUNS`: W3, the CSV of `ROWS` demo leads with all 27 fields
//!   written in-process (`csv_export::write_csv`), plain and gzip (one encoder over the whole file,
//!   `Compression::fast()` as the export uses); prints JSON.
//!
//! `cargo bench --bench workloads` (no subcommand) runs `csv 100000 5` and
//! prints it readably.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use flate2::{write::GzEncoder, Compression};
use futures::StreamExt;
use serde_json::json;

use lead_export::auth::OrgId;
use lead_export::config::Config;
use lead_export::csv_export::write_csv;
use lead_export::demo::demo_leads;
use lead_export::fields::{Field, FieldList};
use lead_export::model::Lead;
use lead_export::request::{parse, CsvFormat, Selection};
use lead_export::store::DynamoStore;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("workloads: {message}");
    std::process::exit(2);
}

fn num(arg: Option<&String>, name: &str) -> usize {
    arg.and_then(|a| a.parse().ok())
        .unwrap_or_else(|| fail(format!("{name}: expected a number")))
}

/// All 27 fields, in the spec's order.
fn all_fields() -> FieldList {
    FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).expect("27 known ids")
}

/// The CSV of `leads` (header and rows) into `out`.
fn render<W: Write>(out: W, fields: &FieldList, leads: &[Lead]) -> W {
    write_csv(out, fields, black_box(leads), &CsvFormat::default())
        .unwrap_or_else(|e| fail(format!("write: {e}")))
}

/// Median, min and max of `samples` (seconds).
fn spread(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

fn csv(rows: usize, runs: usize) -> serde_json::Value {
    let leads = demo_leads(7, rows);
    let fields = all_fields();
    let (mut plain, mut gzip) = (vec![], vec![]);
    let (mut plain_bytes, mut gzip_bytes) = (0, 0);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let out = render(Vec::new(), &fields, &leads);
        plain.push(start.elapsed().as_secs_f64());
        plain_bytes = out.len();
        let start = Instant::now();
        let enc = render(
            GzEncoder::new(Vec::new(), Compression::fast()),
            &fields,
            &leads,
        );
        let out = enc.finish().unwrap_or_else(|e| fail(e));
        gzip.push(start.elapsed().as_secs_f64());
        gzip_bytes = out.len();
    }
    let figures = |samples: Vec<f64>| {
        let (median, min, max) = spread(samples);
        json!({"seconds": [median, min, max]})
    };
    json!({
        "rows": rows, "runs": runs, "csv_bytes": plain_bytes, "gzip_bytes": gzip_bytes,
        "plain": figures(plain), "gzip": figures(gzip),
    })
}

fn ids(n: usize, seed: u64, count: usize) -> serde_json::Value {
    let leads = demo_leads(seed, n);
    json!(leads
        .iter()
        .take(count)
        .map(|l| l.id.as_str())
        .collect::<Vec<_>>())
}

fn position(n: usize, seed: u64, body: &str) -> serde_json::Value {
    let request = parse(body.as_bytes()).unwrap_or_else(|e| fail(format!("BODY: {e}")));
    let Selection::Bulk(bulk) = request.selection else {
        fail("BODY: not a bulk request")
    };
    let mut leads = demo_leads(seed, n);
    leads.sort_by(|a, b| a.id.cmp(&b.id));
    let needed = bulk.start + bulk.count;
    let (mut matches, mut position) = (0, 0);
    for (i, lead) in leads.iter().enumerate() {
        if bulk.filter.matches(lead) {
            matches += 1;
            if matches <= needed {
                position = i + 1;
            }
        }
    }
    json!({"position": position, "matches": matches, "leads": n})
}

async fn seed(org: &str, n: usize, seed: u64, concurrency: usize) -> serde_json::Value {
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    let (dynamo, s3) = lead_export::aws::clients(&config).await;
    lead_export::aws::ensure_table(&dynamo, &config.leads_table)
        .await
        .unwrap_or_else(|e| fail(e));
    // The server writes an audit record per export (fail closed).
    lead_export::audit::ensure_table(&dynamo, &config.audit_table)
        .await
        .unwrap_or_else(|e| fail(e));
    lead_export::store::cursors::ensure_table(&dynamo, &config.cursors_table)
        .await
        .unwrap_or_else(|e| fail(e));
    lead_export::aws::ensure_bucket(&s3, &config.exports_bucket)
        .await
        .unwrap_or_else(|e| fail(e));
    let store = DynamoStore::new(dynamo, &config.leads_table);
    let org = OrgId::new(org).unwrap_or_else(|| fail("ORG must not be empty"));
    let leads = demo_leads(seed, n);
    let start = Instant::now();
    let writes = leads.chunks(25).map(|c| store.put_leads(&org, c));
    let mut writes = futures::stream::iter(writes).buffer_unordered(concurrency.max(1));
    while let Some(done) = writes.next().await {
        done.unwrap_or_else(|e| fail(e));
    }
    let seconds = start.elapsed().as_secs_f64();
    bump(org.as_str()).await;
    json!({"leads": n, "seconds": seconds})
}

async fn bump(org: &str) -> serde_json::Value {
    use lead_export::store::CursorStore;
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    let (dynamo, _) = lead_export::aws::clients(&config).await;
    let cursors = lead_export::store::DynamoCursors::new(dynamo, &config.cursors_table);
    let org = OrgId::new(org).unwrap_or_else(|| fail("ORG must not be empty"));
    cursors.bump(&org).await.unwrap_or_else(|e| fail(e));
    json!({"bumped": org.as_str()})
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.first().map(String::as_str) {
        Some("seed") => {
            let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| fail(e));
            runtime.block_on(seed(
                args.get(1)
                    .unwrap_or_else(|| fail("seed ORG N SEED CONCURRENCY")),
                num(args.get(2), "N"),
                num(args.get(3), "SEED") as u64,
                num(args.get(4), "CONCURRENCY"),
            ))
        }
        Some("bump") => {
            let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| fail(e));
            runtime.block_on(bump(args.get(1).unwrap_or_else(|| fail("bump ORG"))))
        }
        Some("ids") => ids(
            num(args.get(1), "N"),
            num(args.get(2), "SEED") as u64,
            num(args.get(3), "COUNT"),
        ),
        Some("position") => position(
            num(args.get(1), "N"),
            num(args.get(2), "SEED") as u64,
            args.get(3).unwrap_or_else(|| fail("position N SEED BODY")),
        ),
        Some("csv") => csv(num(args.get(1), "ROWS"), num(args.get(2), "RUNS")),
        // `cargo bench` passes `--bench` (and maybe a filter): W3, readably.
        _ => {
            let w3 = csv(100_000, 5);
            let mb = w3["csv_bytes"].as_f64().unwrap_or(0.0) / 1e6;
            for kind in ["plain", "gzip"] {
                let s = &w3[kind]["seconds"];
                let t = |i: usize| s[i].as_f64().unwrap_or(f64::NAN);
                println!(
                    "W3 CSV {kind}: 100,000 rows, 27 fields, {mb:.1} MB of CSV: {:.0} MB/s, {:.0} rows/s (median of 5; {:.3}-{:.3} s)",
                    mb / t(0),
                    100_000.0 / t(0),
                    t(1),
                    t(2)
                );
            }
            return;
        }
    };
    println!("{out}");
}
