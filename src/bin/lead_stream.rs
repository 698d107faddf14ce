//! The leads table's stream handler: each batch of `KEYS_ONLY` records
//! bumps the data version of its organizations in `CURSORS_TABLE` (once
//! each), so that position checkpoints recorded before a write are not used.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lead_export::store::DynamoCursors;
use lead_export::{aws, init_tracing};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing(true);
    let table = std::env::var("CURSORS_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "export-cursors".into());
    // A local endpoint for DynamoDB, as the other binaries read it.
    let endpoint = lead_export::config::service_endpoint(|k| std::env::var(k).ok(), "DYNAMODB");
    let sdk = aws::sdk_config().await;
    let cursors = DynamoCursors::new(aws::dynamodb(&sdk, endpoint.as_deref()), table);
    let cursors = &cursors;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        match lead_export::stream::handle_batch(cursors, &event.payload).await {
            Ok(organizations) => {
                tracing::info!(organizations, "data versions bumped");
                Ok(())
            }
            Err(err) => {
                // The fault kind only: no key of the batch.
                let kind = match &err {
                    lead_export::stream::BatchFailure::Batch(_) => "batch",
                    lead_export::stream::BatchFailure::Store(e) => match e.kind {
                        lead_export::error::FaultKind::Transient => "transient",
                        _ => "other",
                    },
                };
                tracing::error!(kind, "stream batch failed");
                Err(Error::from(err))
            }
        }
    }))
    .await
}
