//! Exports an organization's saved leads to CSV or XLSX: the
//! `POST /api/v1/operations/export` Lambda. The README maps the modules;
//! `docs/design.md` describes the design.

#![warn(missing_docs)]

pub mod allocator;
pub mod app;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod config;
pub mod crm;
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
pub mod jobs;
pub mod model;
pub mod observe;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod store;
pub mod stream;
pub mod xlsx;

/// The crates whose events are logged at every level `RUST_LOG` asks for:
/// this library and its binaries (`lead-export`'s crate is `lead_export`
/// too).
pub const LOGGED_CRATES: &[&str] = &["lead_export", "local_server"];

/// The filter of every log line: `directives` (`RUST_LOG`'s syntax; `info`
/// when they do not parse), and, whatever they ask, the events of other
/// crates (the AWS SDK, hyper, the Lambda runtime) at `info` and above
/// only. Below `info` those crates write whole requests and responses:
/// lead documents, requested ids, the request body.
pub fn log_filter<S>(directives: &str) -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
    let asked = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ours = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets(LOGGED_CRATES.iter().map(|c| (*c, LevelFilter::TRACE)));
    asked.and(ours)
}

/// Sets up `tracing` once: JSON lines for CloudWatch, level from `RUST_LOG`
/// (default `info`), through [`log_filter`].
pub fn init_tracing(json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    if json {
        let layer = layer
            .json()
            .without_time()
            .with_filter(log_filter(&directives));
        tracing_subscriber::registry().with(layer).init();
    } else {
        tracing_subscriber::registry()
            .with(layer.with_filter(log_filter(&directives)))
            .init();
    }
}
