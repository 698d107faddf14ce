//! Benchmarks (not tests) of the per-lead hot paths, so that a regression
//! shows: a stored item to a lead, filter evaluation, CSV row writing.
//! `cargo bench --bench hot_paths` (divan; `-- --help` for its options).
//! Each iterates over 1,000 demo leads and reports the time per lead.

#[path = "../tests/it/support/wire_json.rs"]
mod wire_json;

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
use lead_export::store::dynamodb::{
    json_text_item, lead_from_item, lead_to_item, previous_item, Item,
};
use lead_export::store::packed;

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

/// How each layout writes a lead's item: `current` (`put_leads`: the
/// packed document in `d`), `json text` (the layout before: JSON text with
/// one-character keys in `d`), `previous` (camelCase keys in `doc`, the
/// search attributes of `s_v` 1); all are still read.
fn writer(layout: &str) -> fn(&OrgId, &Lead) -> Result<Item, lead_export::store::StoreError> {
    match layout {
        "current" => lead_to_item,
        "json text" => json_text_item,
        _ => previous_item,
    }
}

/// A stored item to a lead, per lead, for each layout ([`writer`]).
#[divan::bench(args = ["current", "json text", "previous"])]
fn item_to_lead(bencher: Bencher, layout: &str) {
    let org = org();
    let write = writer(layout);
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

/// The packed document to a lead (`store::packed::decode`, what
/// `item_to_lead` `current` spends most of its time in), per lead.
#[divan::bench]
fn packed_decode(bencher: Bencher) {
    let docs: Vec<Vec<u8>> = leads().iter().map(packed::encode).collect();
    bencher.counter(ItemsCount::new(LEADS)).bench_local(|| {
        for doc in &docs {
            black_box(packed::decode(doc).expect("lead"));
        }
    });
}

/// What a manual export does per lead before writing its row: the store
/// (`DynamoStore::get_many`) reads a `BatchGetItem` answer of 100 items off
/// the wire (DynamoDB's JSON, from an in-process HTTP client, no socket),
/// then each item becomes a lead. The items hold what the export's
/// projection asks for (the keys, `d`, `s_v`). Per lead, for each layout
/// ([`writer`]): an answer of the current layout is read from its body by
/// `store::wire`, one of the layout before by the SDK.
#[divan::bench(args = ["current", "json text"])]
fn wire_to_lead(bencher: Bencher, layout: &str) {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::infallible_client_fn;
    use futures::TryStreamExt;
    use lead_export::store::{DynamoStore, LeadStore};

    const BATCH: usize = 100;
    let org = org();
    let write = writer(layout);
    let batch = &leads()[..BATCH];
    let items: Vec<serde_json::Value> = batch
        .iter()
        .map(|l| {
            let mut item = write(&org, l).expect("item");
            item.retain(|k, _| ["orgId", "leadId", "d", "doc", "s_v"].contains(&k.as_str()));
            wire_json::wire_json(&item)
        })
        .collect();
    let body = json!({"Responses": {"leads": items}, "UnprocessedKeys": {}}).to_string();
    let http = infallible_client_fn(move |_| {
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.0")
            .body(body.clone())
            .expect("response")
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "bench"))
        .http_client(http)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "leads");
    let ids: Vec<String> = batch.iter().map(|l| l.id.clone()).collect();
    let attributes = Default::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        runtime.block_on(async {
            let chunks: Vec<_> = store
                .get_many(&org, &ids, &attributes)
                .try_collect()
                .await
                .expect("batch");
            assert_eq!(chunks[0].leads.len(), BATCH);
            black_box(chunks);
        })
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
