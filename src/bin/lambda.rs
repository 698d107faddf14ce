//! The Lambda entry point: configuration and clients once, then the runtime loop.

use lambda_http::{service_fn, Error, Request};
use lead_export::{app::App, config::Config, http::handle, init_tracing};

/// mimalloc: small allocations (the strings of each parsed lead) cost less
/// than with the system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: a Lambda sandbox serves one invocation at a time on at most
/// a few vCPUs, and a single-threaded runtime spends no CPU handing I/O
/// between threads (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing(true);
    // Strict: the production token rules on top of the configuration checks.
    let config = Config::from_env()
        .and_then(|c| c.check_production().map(|()| c))
        .map_err(|e| {
            tracing::error!(error = %e, "refusing to start");
            e
        })?;
    let app = App::from_config(&config).await;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
