//! Exports an organization's saved leads to CSV or XLSX: the
//! `POST /api/v1/operations/export` Lambda. The README maps the modules;
//! `docs/design.md` describes the design.

#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod config;
pub mod csv_export;
pub mod deadline;
pub mod deliver;
pub mod demo;
pub mod error;
pub mod export;
pub mod fields;
pub mod filters;
pub mod http;
pub mod import;
pub mod model;
pub mod observe;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod store;
pub mod stream;
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
