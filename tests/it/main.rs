//! The integration tests, one binary: each module was its own test binary,
//! and linking a dozen binaries against the AWS SDK was a large share of
//! `make test`'s build. Run one module with `cargo test --test it -- NAME::`.

mod support;

mod audit;
mod auth;
mod cpu_deadline;
mod crm_presets;
mod csv_options;
mod cursors;
mod deliver_sink;
mod edges;
mod efficiency;
mod emulator;
mod events;
mod faults;
mod filter_oracle;
mod filters_contract;
mod formula;
mod fuzz;
mod golden;
mod handler;
mod hostile;
mod item_faults;
mod jobs;
mod jobs_moto;
mod log_capture;
mod make_run;
mod moto;
mod observe;
mod openapi;
mod provision;
mod request_parse;
mod runtime_loop;
mod simulate;
mod spec;
mod store_differential;
mod store_dynamodb;
mod store_faults;
mod stream;
mod template;
mod tenancy_concurrent;
mod upload_cut;
mod wire;
mod xlsx;
