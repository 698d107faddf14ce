//! Bulk Query efficiency on moto (issue: 20,000 leads, a filter matching 5%):
//! the items DynamoDB returns are at most 2x those the predicate accepts, and
//! the Query stops at the page holding the last needed match. Prints the
//! figures; asserts counts, never times.

mod support;

use std::collections::BTreeSet;

use lead_export::auth::OrgId;
use lead_export::aws;
use lead_export::demo::demo_leads;
use lead_export::fields::FieldList;
use lead_export::filters;
use lead_export::store::DynamoStore;
use serde_json::json;
use support::*;

const LEADS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_percent_filter_reads_little_more_than_it_needs() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let table = unique("efficiency");
    let cfg = config(&[("AWS_ENDPOINT_URL", &endpoint), ("LEADS_TABLE", &table)]);
    let sdk = aws::sdk_config(&cfg).await;
    aws::ensure_table(&aws::dynamodb(&sdk), &table)
        .await
        .unwrap();
    let store = DynamoStore::new(aws::dynamodb(&sdk), &table);
    let org = OrgId::new("org-efficiency").unwrap();

    // Every 20th lead lives in Reykjavik: exactly 5% match.
    let mut leads = demo_leads(3, LEADS);
    for (i, lead) in leads.iter_mut().enumerate() {
        if i % 20 == 0 {
            lead.city = Some("Reykjavík".into());
            lead.state = Some("Capital Region".into());
            lead.state_code = Some("1".into());
            lead.country = Some("Iceland".into());
            lead.country_code = Some("IS".into());
        }
    }
    for chunk in leads.chunks(500) {
        futures::future::try_join_all(chunk.chunks(25).map(|c| store.put_leads(&org, c)))
            .await
            .unwrap();
    }
    leads.sort_by(|a, b| a.id.cmp(&b.id));
    let filter =
        filters::compile(&json!({"contact": {"location": {"any": {"include": ["Reykjavik"]}}}}))
            .unwrap();
    let positions: Vec<usize> = leads
        .iter()
        .enumerate()
        .filter(|(_, l)| filter.matches(l))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), LEADS / 20);
    let attrs: BTreeSet<&str> = FieldList::defaults().lead_attributes();

    for (start, count) in [(0usize, 100usize), (100, 200), (0, 1000)] {
        let (got, stats) = store
            .query_range(&org, &filter, start, count, &attrs)
            .await
            .unwrap();
        let expected: Vec<&str> = positions[start..start + count]
            .iter()
            .map(|&i| leads[i].id.as_str())
            .collect();
        let ids: Vec<&str> = got.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, expected);
        let last_needed = positions[start + count - 1];
        println!(
            "efficiency: start={start} count={count}: pages={} Count={} accepted={} ratio={:.2} ScannedCount={} last needed match at position {} last page read {}",
            stats.pages,
            stats.count,
            stats.accepted,
            stats.count as f64 / stats.accepted as f64,
            stats.scanned_count,
            last_needed,
            stats.last_page_scanned
        );
        assert!(
            stats.count <= 2 * stats.accepted,
            "Count {} > 2x accepted {}",
            stats.count,
            stats.accepted
        );
        assert!(
            stats.scanned_count - stats.last_page_scanned <= last_needed as u64,
            "a page after the one holding the last needed match was read: {stats:?}"
        );
        assert!(stats.scanned_count <= last_needed as u64 + 1 + stats.last_page_scanned);
    }
}
