//! Benchmark (not a test) of the filter limits: the largest filter they allow
//! through request parsing and compilation, push-down and rendering, then
//! evaluated over generated leads; and a filter excluding 1,000 company
//! domains. Prints the median of several runs. `cargo bench --bench
//! filter_limits` (release build); with `--json` (what `make bench` reads),
//! one JSON line per filter: each phase's median, min and max in ms.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use lead_export::demo::demo_leads;
use lead_export::filters::largest_legal_filter;
use lead_export::model::Lead;
use lead_export::request::{parse, Selection};
use lead_export::store::expression::render_filter;

const LEADS: usize = 5_000;
const RUNS: usize = 15;

/// The compiled filter of a bulk request body.
fn compiled(body: &[u8]) -> lead_export::filters::CompiledFilter {
    match parse(body) {
        Ok(request) => match request.selection {
            Selection::Bulk(bulk) => bulk.filter,
            Selection::Manual { .. } => panic!("not a bulk request"),
        },
        Err(e) => panic!("refused: {e}"),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median, min and max of `samples`, in ms.
fn spread_ms(samples: &[Duration]) -> [f64; 3] {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    [ms[ms.len() / 2], ms[0], ms[ms.len() - 1]]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Times parse + compile, push-down + rendering, and evaluation of `filter`
/// over `leads`; prints one line per phase, or one JSON line with `json`.
fn run(name: &str, filter: Value, leads: &[Lead], json: bool) {
    let body =
        json!({"selection": {"mode": "bulk", "targetCount": 1000, "filters": filter}}).to_string();
    let (mut parse_t, mut render_t, mut eval_t, mut total_t) = (vec![], vec![], vec![], vec![]);
    let mut summary = String::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let filter = compiled(black_box(body.as_bytes()));
        let parsed = Instant::now();
        let rendered = render_filter(&filter.pushdown());
        let pushed = Instant::now();
        let matched = leads
            .iter()
            .filter(|l| filter.matches(black_box(l)))
            .count();
        let done = Instant::now();
        parse_t.push(parsed - start);
        render_t.push(pushed - parsed);
        eval_t.push(done - pushed);
        total_t.push(done - start);
        let text = rendered.map(|r| r.text.len()).unwrap_or(0);
        summary = format!(
            "body {} bytes, FilterExpression {text} chars, {matched} of {} leads match",
            body.len(),
            leads.len()
        );
    }
    if json {
        let line = json!({
            "name": name, "summary": summary, "runs": RUNS, "leads": leads.len(),
            "parse": spread_ms(&parse_t), "render": spread_ms(&render_t),
            "eval": spread_ms(&eval_t), "total": spread_ms(&total_t),
        });
        println!("{line}");
        return;
    }
    println!("{name}: {summary}");
    println!("  parse + compile       {}", ms(median(parse_t)));
    println!("  push-down + render    {}", ms(median(render_t)));
    println!("  evaluate {} leads  {}", leads.len(), ms(median(eval_t)));
    println!(
        "  total                 {} (median of {RUNS} runs)",
        ms(median(total_t))
    );
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut leads = demo_leads(42, LEADS);
    // Every lead gets a founded year, so each range filter is evaluated.
    for lead in &mut leads {
        if let Some(c) = lead.company.as_mut() {
            c.founded_year.get_or_insert(2000);
        }
    }
    run("largest legal filter", largest_legal_filter(), &leads, json);
    let domains: Vec<String> = (0..1_000)
        .map(|i| match i % 10 {
            0 => leads[i]
                .company
                .as_ref()
                .and_then(|c| c.domain.as_ref().map(|d| d.to_string()))
                .unwrap_or_default(),
            _ => format!("customer-{i}.example.com"),
        })
        .collect();
    run(
        "1,000 excluded domains",
        json!({"account": {"nameOrDomain": {"any": {"exclude": domains}}}}),
        &leads,
        json,
    );
}
