//! Bulk Query efficiency on moto (a filter matching 5%): the items DynamoDB
//! returns are at most 2x those the predicate accepts, and the Query stops at
//! the page holding the last needed match. Prints the figures; asserts
//! counts, never times. `make test` runs it on 2,000 leads; `make bench` on
//! the 20,000 (`EFFICIENCY_LEADS`).

use crate::support;

use std::collections::BTreeSet;

use lead_export::auth::OrgId;
use lead_export::aws;
use lead_export::demo::demo_leads;
use lead_export::fields::FieldList;
use lead_export::filters;
use lead_export::store::DynamoStore;
use serde_json::json;
use support::*;

/// Leads seeded: `EFFICIENCY_LEADS` (a multiple of 200), 2,000 by default.
fn leads_count() -> usize {
    let n = match std::env::var("EFFICIENCY_LEADS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("EFFICIENCY_LEADS={v}: expected a number")),
        Err(_) => 2_000,
    };
    assert!(
        n >= 200 && n % 200 == 0,
        "EFFICIENCY_LEADS={n}: expected a multiple of 200"
    );
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn a_five_percent_filter_reads_little_more_than_it_needs() {
    let endpoint = moto_endpoint();
    let total = leads_count();
    let table = unique("efficiency");
    let cfg = config(&[("AWS_ENDPOINT_URL", &endpoint), ("LEADS_TABLE", &table)]);
    let sdk = aws::sdk_config(&cfg).await;
    aws::ensure_table(&aws::dynamodb(&sdk), &table)
        .await
        .unwrap();
    let store = DynamoStore::new(aws::dynamodb(&sdk), &table);
    let org = OrgId::new("org-efficiency").unwrap();

    // Every 20th lead lives in Reykjavik: exactly 5% match.
    let mut leads = demo_leads(3, total);
    for (i, lead) in leads.iter_mut().enumerate() {
        if i % 20 == 0 {
            lead.city = Some("Reykjavík".into());
            lead.state = Some("Capital Region".into());
            lead.state_code = Some("1".into());
            lead.country = Some("Iceland".into());
            lead.country_code = Some("IS".into());
        }
    }
    store.put_leads(&org, &leads).await.unwrap();
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
    let matches = total / 20;
    assert_eq!(positions.len(), matches);
    let attrs: BTreeSet<&str> = FieldList::defaults().lead_attributes();

    // On 20,000 leads: (0, 100), (100, 200) and (0, 1000), all 1000 matches.
    let ranges = [(0, matches / 10), (matches / 10, matches / 5), (0, matches)];
    for (start, count) in ranges {
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
            "efficiency ({total} leads): start={start} count={count}: pages={} Count={} accepted={} ratio={:.2} ScannedCount={} last needed match at position {} last page read {}",
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
