//! The leads table's DynamoDB stream (`KEYS_ONLY`): every write of leads,
//! by this project or any other writer, bumps the data version of its
//! organization, so that no position checkpoint recorded before it is used
//! (`docs/scale.md`). The `lead-stream` Lambda calls [`handle_batch`].

use serde_json::Value;

use crate::auth::OrgId;
use crate::store::{CursorStore, StoreError};

/// A stream batch that cannot be read: what is wrong, for the log.
#[derive(Debug, thiserror::Error)]
#[error("stream batch: {0}")]
pub struct BatchError(pub String);

/// The distinct organizations of a stream batch, in the order they first
/// appear: the partition key `orgId` of each record's `dynamodb.Keys`
/// (inserts, modifications and removals alike). A record without one is an
/// error: a write would go unnoticed.
pub fn organizations(event: &Value) -> Result<Vec<OrgId>, BatchError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| BatchError("no Records array".into()))?;
    let mut seen = std::collections::HashSet::new();
    let mut orgs = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let org = record
            .pointer("/dynamodb/Keys/orgId/S")
            .and_then(Value::as_str)
            .and_then(|s| OrgId::new(s.to_string()))
            .ok_or_else(|| BatchError(format!("record {i} has no orgId key")))?;
        if seen.insert(org.to_string()) {
            orgs.push(org);
        }
    }
    Ok(orgs)
}

/// Bumps the data version of every organization of the batch, once each.
/// An error fails the batch, which the stream then delivers again (a
/// second bump only makes more checkpoints unused).
pub async fn handle_batch(cursors: &dyn CursorStore, event: &Value) -> Result<usize, BatchFailure> {
    let orgs = organizations(event)?;
    for org in &orgs {
        cursors.bump(org).await?;
    }
    Ok(orgs.len())
}

/// Why a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchFailure {
    /// The batch could not be read.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A bump failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
