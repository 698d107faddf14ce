//! Benchmark (not a test) of the filter limits: the largest filter they allow
//! through request parsing and compilation, push-down and rendering, then
//! evaluated over generated leads; and a filter excluding 1,000 company
//! domains. Prints the median of several runs. `cargo bench --bench
//! filter_limits` (release build); `scripts/bench.sh` runs it too.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use lead_export::demo::demo_leads;
use lead_export::filters::{MAX_FILTER_TERMS, MAX_RANGES, MAX_TERM_CHARS};
use lead_export::model::Lead;
use lead_export::request::{parse, Selection};
use lead_export::store::expression::render_filter;

const LEADS: usize = 5_000;
const RUNS: usize = 15;

/// The largest filter the limits allow, built so that no term hits a lead:
/// `MAX_FILTER_TERMS` terms of `MAX_TERM_CHARS` characters spread over the
/// `any` and `all` exclude lists of every text, list and location key (text
/// keys rotate through SMART, WORD with two words, and STRICT), and three
/// range filters of `MAX_RANGES` ranges whose first one is open-ended.
fn largest_legal_filter() -> Value {
    // (section, path inside the section, kind): 0 list or location, 1.. text mode.
    let text = |path: &'static [&'static str]| (path, true);
    let plain = |path: &'static [&'static str]| (path, false);
    let keys: Vec<(&str, (&[&str], bool))> = vec![
        ("contact", text(&["fullName"])),
        ("contact", text(&["skill"])),
        ("contact", text(&["language"])),
        ("contact", text(&["certification"])),
        ("contact", text(&["education", "school"])),
        ("contact", text(&["education", "degree"])),
        ("contact", text(&["education", "fieldOfStudy"])),
        ("contact", text(&["experience", "current", "title"])),
        ("contact", text(&["experience", "current", "company"])),
        ("contact", text(&["experience", "previous", "title"])),
        ("contact", text(&["experience", "previous", "company"])),
        ("contact", text(&["experience", "any", "title"])),
        ("contact", text(&["experience", "any", "company"])),
        ("account", text(&["nameOrDomain"])),
        ("contact", plain(&["seniority"])),
        ("contact", plain(&["departmentAndFunction"])),
        ("contact", plain(&["location"])),
        ("account", plain(&["industry"])),
        ("account", plain(&["type"])),
        ("account", plain(&["location"])),
    ];
    const MODES: [&str; 3] = ["SMART", "WORD", "STRICT"];
    // One slot per (key, exclude list): its mode and its terms.
    let mut slots: Vec<(usize, &str, &str, Vec<String>)> = Vec::new();
    for (k, (_, (_, is_text))) in keys.iter().enumerate() {
        let mode = if *is_text { MODES[k % MODES.len()] } else { "" };
        for quantifier in ["any", "all"] {
            slots.push((k, quantifier, mode, Vec::new()));
        }
    }
    let term = |n: usize, words: bool| -> String {
        let head = format!("q{n}z");
        let mut s = head.clone();
        let mut letters = (b'a'..=b'y').cycle();
        while s.len() < MAX_TERM_CHARS {
            if words && s.len() == MAX_TERM_CHARS / 2 {
                s.push(' ');
            } else {
                s.push(char::from(letters.next().unwrap_or(b'a')));
            }
        }
        s
    };
    let mut left = MAX_FILTER_TERMS;
    let mut n = 0;
    while left > 0 {
        for (_, _, mode, terms) in slots.iter_mut() {
            let cost = if *mode == "WORD" { 2 } else { 1 };
            if cost <= left {
                terms.push(term(n, *mode == "WORD"));
                n += 1;
                left -= cost;
            }
        }
    }
    let mut root = Map::new();
    for (k, quantifier, mode, terms) in slots {
        let (section, (path, _)) = keys[k];
        let list = if mode.is_empty() {
            json!(terms)
        } else {
            json!({"mode": mode, "content": terms})
        };
        let mut node = root
            .entry(section)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object");
        for segment in path {
            node = node
                .entry(*segment)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("object");
        }
        node.entry(quantifier)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert("exclude".into(), list);
    }
    let ranges: Vec<Value> = (0..MAX_RANGES)
        .map(|i| match i {
            0 => json!({"start": 0}),
            _ => json!({"start": i as f64 * 1e13, "end": (i + 1) as f64 * 1e13}),
        })
        .collect();
    let account = root
        .entry("account")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("object");
    for key in ["employeeSize", "revenue", "foundedYear"] {
        account.insert(key.into(), json!({"type": "RANGE", "range": ranges}));
    }
    Value::Object(root)
}

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

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Times parse + compile, push-down + rendering, and evaluation of `filter`
/// over `leads`; prints one line per phase.
fn run(name: &str, filter: Value, leads: &[Lead]) {
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
    let mut leads = demo_leads(42, LEADS);
    // Every lead gets a founded year, so each range filter is evaluated.
    for lead in &mut leads {
        if let Some(c) = lead.company.as_mut() {
            c.founded_year.get_or_insert(2000);
        }
    }
    run("largest legal filter", largest_legal_filter(), &leads);
    let domains: Vec<String> = (0..1_000)
        .map(|i| match i % 10 {
            0 => leads[i]
                .company
                .as_ref()
                .and_then(|c| c.domain.clone())
                .unwrap_or_default(),
            _ => format!("customer-{i}.example.com"),
        })
        .collect();
    run(
        "1,000 excluded domains",
        json!({"account": {"nameOrDomain": {"any": {"exclude": domains}}}}),
        &leads,
    );
}
