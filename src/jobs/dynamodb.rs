//! Job records in DynamoDB: one item per job (partition key `orgId`, sort
//! key `jobId`, TTL on `expiresAt`), written whole on condition
//! (`JobStore::replace`), read consistently.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{Expect, JobRecord, JobStore};
use crate::aws::sdk_error;
use crate::error::{Fault, FaultKind};

/// The partition key attribute: the organization.
pub const PARTITION_KEY: &str = "orgId";
/// The sort key attribute: the job id.
pub const SORT_KEY: &str = "jobId";
/// The TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The jobs table.
pub struct DynamoJobs {
    client: Client,
    table: String,
}

impl DynamoJobs {
    /// Records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoJobs {
            client,
            table: table.into(),
        }
    }
}

fn other(message: impl Into<String>) -> Fault {
    Fault {
        kind: FaultKind::Other,
        message: message.into(),
    }
}

/// The item of a record.
pub fn to_item(record: &JobRecord) -> Result<HashMap<String, AttributeValue>, Fault> {
    serde_dynamo::to_item(record).map_err(|e| other(format!("a job record: {e}")))
}

/// The record of an item.
pub fn from_item(item: HashMap<String, AttributeValue>) -> Result<JobRecord, Fault> {
    // The message of serde names a field, never a value.
    serde_dynamo::from_item(item).map_err(|e| other(format!("a stored job record: {e}")))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Whether a failed conditional write failed on its condition.
fn condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    err: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    err.code() == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl JobStore for DynamoJobs {
    async fn create(&self, record: &JobRecord) -> Result<(), Fault> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(jobId)")
            .send()
            .await
            .map_err(sdk_error(format!("PutItem {}", self.table)))?;
        Ok(())
    }

    async fn get(&self, org: &str, job_id: &str) -> Result<Option<JobRecord>, Fault> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(org))
            .key(SORT_KEY, s(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error(format!("GetItem {}", self.table)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record = from_item(item)?;
        // A safety check, as for leads: never a record of another org.
        if record.org_id != org || record.job_id != job_id {
            return Err(other("a job record under another key"));
        }
        Ok(Some(record))
    }

    async fn replace(&self, record: &JobRecord, expect: &Expect) -> Result<bool, Fault> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?));
        let put = match expect {
            Expect::Free { seq, now_ms } => put
                .condition_expression(
                    "seq = :seq AND #st IN (:pending, :running) \
                     AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
                )
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":seq", n(seq))
                .expression_attribute_values(":pending", s("PENDING"))
                .expression_attribute_values(":running", s("RUNNING"))
                .expression_attribute_values(":now", n(now_ms)),
            Expect::Held { seq, owner } => put
                .condition_expression("seq = :seq AND leaseOwner = :owner")
                .expression_attribute_values(":seq", n(seq))
                .expression_attribute_values(":owner", s(owner)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(sdk_error(format!("PutItem {}", self.table))(err)),
        }
    }
}

/// Creates the jobs table (on-demand; [`PARTITION_KEY`] / [`SORT_KEY`],
/// TTL on [`TTL_ATTRIBUTE`]) if it is missing, and waits until it is
/// active. For local runs and tests; `template.yaml` declares it for a
/// deployment.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), String> {
    crate::aws::ensure_keyed_table_with_ttl(client, table, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE)
        .await
}
