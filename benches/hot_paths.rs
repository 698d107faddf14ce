//! Benchmarks (not tests) of the per-lead hot paths, so that a regression
//! shows: a stored item to a lead, filter evaluation, CSV row writing.
//! `cargo bench --bench hot_paths` (divan; `-- --help` for its options).
//! Each iterates over 1,000 demo leads and reports the time per lead.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;
use serde_json::json;

use lead_export::auth::OrgId;
use lead_export::csv_export::RowWriter;
use lead_export::demo::demo_leads;
use lead_export::fields::{Field, FieldList};
use lead_export::filters::compile;
use lead_export::model::Lead;
use lead_export::request::CsvFormat;
use lead_export::store::dynamodb::{lead_from_item, lead_to_item, previous_item};

const LEADS: usize = 1_000;

fn main() {
    divan::main();
}

fn leads() -> Vec<Lead> {
    demo_leads(3, LEADS)
}

fn org() -> OrgId {
    OrgId::new("org-bench").expect("org id")
}

/// A stored item to a lead, per lead: as `put_leads` writes it (`current`:
/// the document with one-character keys in `d`), and as the previous
/// layout did (`previous`: camelCase keys in `doc`), which is still read.
#[divan::bench(args = ["current", "previous"])]
fn item_to_lead(bencher: Bencher, layout: &str) {
    let org = org();
    let write = if layout == "current" {
        lead_to_item
    } else {
        previous_item
    };
    let items: Vec<_> = leads()
        .iter()
        .map(|l| write(&org, l).expect("item"))
        .collect();
    bencher
        .counter(ItemsCount::new(LEADS))
        .with_inputs(|| items.clone())
        .bench_local_values(|items| {
            for item in items {
                black_box(lead_from_item(&org, item).expect("lead"));
            }
        });
}

/// `CompiledFilter::matches` per lead: the two filters of `make bench`'s W2
/// (location in 6 of the 10 demo places, seniority not intern or entry),
/// and one of each kind (list, text, range, hierarchical location).
#[divan::bench(args = ["two filters", "four kinds"])]
fn filter_matches(bencher: Bencher, which: &str) {
    let filter = match which {
        "two filters" => json!({"contact": {
            "location": {"any": {"include": ["United States", "Germany", "France"]}},
            "seniority": {"any": {"exclude": ["Intern", "Entry"]}}}}),
        _ => json!({
            "contact": {"skill": {"any": {"include": {"mode": "SMART", "content": ["rust", "sales"]}}},
                        "location": {"any": {"include": ["California", "Berlin, Germany"]}}},
            "account": {"employeeSize": {"range": [{"start": 51, "end": 200}, {"start": 1001}]},
                        "industry": {"any": {"exclude": ["retail"]}}}}),
    };
    let filter = compile(&filter).expect("filter");
    let leads = leads();
    bencher.counter(ItemsCount::new(LEADS)).bench_local(|| {
        leads
            .iter()
            .filter(|l| filter.matches(black_box(l)))
            .count()
    });
}

/// `csv_export::RowWriter::row_into` per lead: all 27 fields, formula guard on.
#[divan::bench]
fn csv_row(bencher: Bencher) {
    let fields = FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).expect("fields");
    let format = CsvFormat::default();
    let leads = leads();
    let mut buf = Vec::with_capacity(2 << 20);
    bencher.counter(ItemsCount::new(LEADS)).bench_local(|| {
        buf.clear();
        let mut csv = RowWriter::new(&fields, &format);
        csv.header_into(&mut buf);
        for lead in &leads {
            csv.row_into(black_box(lead), &mut buf);
        }
        black_box(buf.len())
    });
}
