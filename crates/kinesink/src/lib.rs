//! kinesink: a worker that delivers a Kinesis Data Stream to S3 exactly once.
//!
//! Owns: the configuration file (typed, one module per section), building the AWS clients and
//! the start-up checks, wiring the library crates into a running [`kinesink_worker::Worker`],
//! and the command line (`run`, `dry-run`, `check-config`, `import-firehose`, `leases`
//! list/release/reset, `workers`, `produce`, `sample-events`).
//! Must never: hold business rules that belong in a library crate (buffering, naming, lease
//! rules, the lease cycle, the shard task), or exit with a panic or stack trace on bad input
//! (errors are one line, exit code 2).

pub mod aws;
pub mod cli;
pub use kinesink_config as config;
pub mod dry_run;
pub mod http_endpoints;
pub mod iceberg_destination;
mod initial_series;
pub mod lambda_client;
mod lease_reset;
pub mod progress_view;
mod workers_view;
