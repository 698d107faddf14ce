//! The Lambda entry point: configuration and clients once, then the runtime
//! loop. Serves the export and the export jobs' routes (`http::serve`).

use lambda_http::{service_fn, Error, Request};
use lead_export::{config::Config, http::serve, init_tracing, jobs::Jobs};

/// mimalloc: small allocations (the strings of each parsed lead) cost less
/// than with the system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: a Lambda sandbox serves one invocation at a time on at most
/// a few vCPUs, and a single-threaded runtime spends no CPU handing I/O
/// between threads (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lead_export::allocator::keep_freed_memory();
    init_tracing(true);
    // Strict: the production token rules on top of the configuration checks.
    let config = match Config::from_env().and_then(|c| c.check_production().map(|()| c)) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start");
            report_init_error(&e.to_string()).await;
            return Err(e.into());
        }
    };
    let jobs = Jobs::from_config(&config).await;
    let jobs = &jobs;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(serve(jobs, req).await)
    }))
    .await
}

/// Tells the Lambda Runtime API why the function cannot start
/// (`POST /runtime/init/error`), so that Lambda reports the configuration
/// error to the caller and in the log (the process then exits non-zero).
/// Nothing when `AWS_LAMBDA_RUNTIME_API` is unset or not a URI (run by hand);
/// a failed report is logged.
async fn report_init_error(message: &str) {
    let Some(endpoint) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .and_then(|api| api.parse::<http::Uri>().ok())
    else {
        return;
    };
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(endpoint)
        .build();
    let body = serde_json::json!({"errorType": INIT_ERROR_TYPE, "errorMessage": message});
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", INIT_ERROR_TYPE)
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(
            body.to_string(),
        ));
    let sent = match request {
        Ok(request) => client.call(request).await.map(|r| r.status()),
        Err(e) => Err(e.into()),
    };
    match sent {
        Ok(status) if status.is_success() => {}
        Ok(status) => tracing::error!(%status, "the Runtime API refused the init error"),
        Err(e) => tracing::error!(error = %e, "reporting the init error failed"),
    }
}

/// The `errorType` of a configuration the function refuses to start with.
const INIT_ERROR_TYPE: &str = "Runtime.ConfigurationError";
