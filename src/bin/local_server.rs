//! Serves the export endpoint and the export jobs' routes on
//! http://127.0.0.1:$PORT through the same handler the Lambda runs: each
//! HTTP request becomes a lambda_http request. With `JOBS_QUEUE_URL` set,
//! the jobs' worker runs in this process, polling the queue.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lead_export::error::ExportError;
use lead_export::http::{error_response, serve as serve_route};
use lead_export::jobs::{sqs::SqsQueue, worker, Jobs};
use lead_export::request::MAX_BODY_BYTES;
use lead_export::{config::Config, init_tracing};

/// The export's route.
const ROUTE: &str = "/api/v1/operations/export";
/// The export jobs' routes (the status route below it).
const JOBS_ROUTE: &str = lead_export::jobs::api::JOBS_ROUTE;

/// mimalloc: small allocations (the strings of each parsed lead) cost less
/// than with the system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread, as the Lambda runs (`make bench` measures this server);
/// moto, not this process, is what limits `make load`.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    lead_export::allocator::keep_freed_memory();
    init_tracing(false);
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Lenient: `make run` uses the documented dev secret on purpose.
    if let Err(e) = config.check_production() {
        tracing::warn!(
            "{e}: fine for local runs, the Lambda (lead-export) refuses to start with it"
        );
    }
    let port: u16 = match std::env::var("PORT").ok().filter(|p| !p.is_empty()) {
        None => 3000,
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("PORT must be a port number, got {p:?}");
            std::process::exit(2);
        }),
    };
    let app: &'static Jobs = Box::leak(Box::new(Jobs::from_config(&config).await));
    if let Some(url) = &config.jobs_queue_url {
        let sdk = lead_export::aws::sdk_config().await;
        let queue = SqsQueue::new(
            lead_export::aws::sqs(&sdk, config.sqs_endpoint.as_deref()),
            url,
        );
        tokio::spawn(worker::poll(app.clone(), queue, config.export_timeout));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
    tracing::info!("serving http://{addr}{ROUTE}");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
            },
            _ = tokio::signal::ctrl_c() => break,
        };
        tokio::spawn(async move {
            let service = service_fn(move |req| serve(app, req));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

async fn serve(
    app: &Jobs,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let known = path == ROUTE || path == JOBS_ROUTE || path.starts_with(&format!("{JOBS_ROUTE}/"));
    let response = if !known {
        let body = serde_json::json!({"error": {"code": "NOT_FOUND", "message": format!("no route for {}", req.uri().path())}});
        hyper::Response::builder()
            .status(404)
            .header("content-type", "application/json")
            .body(lambda_http::Body::Text(body.to_string()))
            .expect("static response")
    } else {
        let (parts, body) = req.into_parts();
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => {
                let body = lambda_http::Body::from(collected.to_bytes().to_vec());
                serve_route(app, http::Request::from_parts(parts, body)).await
            }
            Err(_) => error_response(&ExportError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }),
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Ok(hyper::Response::from_parts(parts, Full::new(bytes)))
}
