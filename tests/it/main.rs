//! The integration tests, one binary: each module was its own test binary,
//! and linking a dozen binaries against the AWS SDK was a large share of
//! `make test`'s build. Run one module with `cargo test --test it -- NAME::`.

mod support;

mod audit;
mod auth;
mod crm_presets;
mod csv_options;
mod deliver_sink;
mod efficiency;
mod events;
mod faults;
mod filters_contract;
mod formula;
mod fuzz;
mod handler;
mod hostile;
mod make_run;
mod moto;
mod observe;
mod openapi;
mod request_parse;
mod runtime_loop;
mod simulate;
mod spec;
mod store_differential;
mod store_dynamodb;
mod store_faults;
mod template;
mod xlsx;
