//! Selection semantics: which leads an export holds, and in which order.

use std::collections::{HashMap, HashSet};

use crate::auth::OrgId;
use crate::model::Lead;
use crate::request::{BulkSelection, Selection};
use crate::store::{Attributes, LeadStore, StoreError};

/// The leads of `selection`, in export order, reading only `attributes`
/// (plus what the filter needs).
///
/// - manual: the given ids in order, each once, ids that are not leads of
///   `org` skipped;
/// - bulk: the matching leads at `[start, start + count)` in ascending id
///   order, minus `excluded` (no backfill), then `included` in order,
///   skipping ids already present or excluded and ids that are not leads of
///   `org`.
pub async fn resolve(
    store: &dyn LeadStore,
    org: &OrgId,
    selection: &Selection,
    attributes: &Attributes,
) -> Result<Vec<Lead>, StoreError> {
    match selection {
        Selection::Manual { ids } => {
            let found = store.get_many(org, ids, attributes).await?;
            Ok(in_order(ids, found))
        }
        Selection::Bulk(bulk) => resolve_bulk(store, org, bulk, attributes).await,
    }
}

async fn resolve_bulk(
    store: &dyn LeadStore,
    org: &OrgId,
    bulk: &BulkSelection,
    attributes: &Attributes,
) -> Result<Vec<Lead>, StoreError> {
    // The range and the explicit inclusions are read concurrently.
    let range = store.find_range(org, &bulk.filter, bulk.start, bulk.count, attributes);
    let extra = async {
        if bulk.included.is_empty() {
            Ok(Vec::new())
        } else {
            store.get_many(org, &bulk.included, attributes).await
        }
    };
    let (range, extra) = futures::try_join!(range, extra)?;
    let mut leads: Vec<Lead> = range
        .into_iter()
        .filter(|lead| !bulk.excluded.contains(&lead.id))
        .collect();
    let present: HashSet<String> = leads.iter().map(|l| l.id.clone()).collect();
    let wanted: Vec<String> = bulk
        .included
        .iter()
        .filter(|id| !present.contains(*id) && !bulk.excluded.contains(*id))
        .cloned()
        .collect();
    leads.extend(in_order(&wanted, extra));
    Ok(leads)
}

/// `found` re-ordered as `ids`, each id once, missing ids skipped.
fn in_order(ids: &[String], found: Vec<Lead>) -> Vec<Lead> {
    let mut by_id: HashMap<String, Lead> = found.into_iter().map(|l| (l.id.clone(), l)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters;
    use crate::store::MemoryStore;
    use std::collections::HashSet;

    fn lead(id: &str) -> Lead {
        Lead {
            id: id.into(),
            first_name: "F".into(),
            last_name: id.into(),
            ..Lead::default()
        }
    }

    fn store() -> MemoryStore {
        let s = MemoryStore::new();
        s.insert("a", ["l01", "l02", "l03", "l04", "l05", "l06"].map(lead));
        s.insert("b", ["l02", "l99"].map(lead));
        s
    }

    fn bulk(start: usize, count: usize, excluded: &[&str], included: &[&str]) -> Selection {
        let excluded: HashSet<String> = excluded.iter().map(|s| s.to_string()).collect();
        Selection::Bulk(BulkSelection {
            start,
            count,
            filter: filters::compile(&serde_json::json!({})).unwrap(),
            included: included
                .iter()
                .map(|s| s.to_string())
                .filter(|s| !excluded.contains(s))
                .collect(),
            excluded,
        })
    }

    async fn ids(org: &str, selection: Selection) -> Vec<String> {
        let org = OrgId::new(org).unwrap();
        resolve(&store(), &org, &selection, &Attributes::new())
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect()
    }

    #[tokio::test]
    async fn manual_keeps_the_given_order_and_skips_foreign_ids() {
        let sel = Selection::Manual {
            ids: vec!["l03".into(), "l99".into(), "l01".into(), "nope".into()],
        };
        assert_eq!(ids("a", sel.clone()).await, ["l03", "l01"]);
        assert_eq!(ids("b", sel).await, ["l99"]);
    }

    #[tokio::test]
    async fn bulk_range_exclusions_have_no_backfill() {
        assert_eq!(ids("a", bulk(1, 3, &[], &[])).await, ["l02", "l03", "l04"]);
        assert_eq!(ids("a", bulk(1, 3, &["l03"], &[])).await, ["l02", "l04"]);
    }

    #[tokio::test]
    async fn bulk_inclusions_come_after_the_range_once() {
        let got = ids(
            "a",
            bulk(0, 2, &["l05"], &["l06", "l01", "l05", "l99", "l04"]),
        )
        .await;
        assert_eq!(got, ["l01", "l02", "l06", "l04"]);
    }

    #[tokio::test]
    async fn a_range_past_the_end_is_empty() {
        assert!(ids("a", bulk(6, 10, &[], &[])).await.is_empty());
        assert!(ids("zzz", bulk(0, 10, &[], &[])).await.is_empty());
    }
}
