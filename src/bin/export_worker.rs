//! The export jobs' worker Lambda: each SQS record is one step of a job
//! (`jobs::worker`), within the invocation's deadline; the records whose
//! step is to be retried are answered as batch item failures.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lead_export::deadline::Deadline;
use lead_export::jobs::{worker, Jobs};
use lead_export::{config::Config, init_tracing};
use serde_json::Value;

/// mimalloc, as the export function (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lead_export::allocator::keep_freed_memory();
    init_tracing(true);
    // The worker verifies no token: without a key in its environment it
    // gets a random secret that nothing is ever signed with.
    let random_secret = uuid::Uuid::new_v4().simple().to_string().repeat(2);
    let keyless = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS"]
        .iter()
        .all(|k| std::env::var(k).map_or(true, |v| v.trim().is_empty()));
    let config = Config::from_lookup(|name| match name {
        "JWT_SECRET" if keyless => Some(random_secret.clone()),
        _ => std::env::var(name).ok(),
    });
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start");
            return Err(e.into());
        }
    };
    let jobs = Jobs::from_config(&config).await;
    let (jobs, timeout) = (&jobs, config.export_timeout);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_runtime(event.context.deadline, timeout);
        Ok::<_, Error>(worker::handle_sqs_event(jobs, &event.payload, &deadline).await)
    }))
    .await
}
