//! An in-memory `LeadStore`: the reference semantics, for tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;

use super::{Attributes, LeadStore, StoreError};
use crate::auth::OrgId;
use crate::filters::CompiledFilter;
use crate::model::Lead;

/// Leads keyed by organization, then by id (ascending, like the table's sort key).
#[derive(Default)]
pub struct MemoryStore {
    leads: RwLock<BTreeMap<String, BTreeMap<String, Lead>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces leads of `org`.
    pub fn insert(&self, org: &str, leads: impl IntoIterator<Item = Lead>) {
        let mut all = self.leads.write().expect("lock poisoned");
        let partition = all.entry(org.to_string()).or_default();
        for lead in leads {
            partition.insert(lead.id.clone(), lead);
        }
    }
}

#[async_trait]
impl LeadStore for MemoryStore {
    async fn get_many(
        &self,
        org: &OrgId,
        ids: &[String],
        _attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError> {
        let all = self.leads.read().expect("lock poisoned");
        let Some(partition) = all.get(org.as_str()) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| partition.get(id).cloned())
            .collect())
    }

    async fn find_range(
        &self,
        org: &OrgId,
        filter: &CompiledFilter,
        skip: usize,
        take: usize,
        _attributes: &Attributes,
    ) -> Result<Vec<Lead>, StoreError> {
        let all = self.leads.read().expect("lock poisoned");
        let Some(partition) = all.get(org.as_str()) else {
            return Ok(Vec::new());
        };
        Ok(partition
            .values()
            .filter(|lead| filter.matches(lead))
            .skip(skip)
            .take(take)
            .cloned()
            .collect())
    }
}
