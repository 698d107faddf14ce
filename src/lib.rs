//! Exports an organization's saved leads to CSV: the
//! `POST /api/v1/operations/export` Lambda. See the README for the design.

pub mod audit;
pub mod auth;
pub mod aws;
pub mod config;
pub mod csv_export;
pub mod deadline;
pub mod deliver;
pub mod demo;
pub mod error;
pub mod fields;
pub mod filters;
pub mod http;
pub mod import;
pub mod model;
pub mod observe;
pub mod request;
pub mod resolve;
pub mod store;
pub mod xlsx;

/// Sets up `tracing` once: JSON lines for CloudWatch, level from `RUST_LOG`
/// (default `info`).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().without_time().init();
    } else {
        builder.init();
    }
}
