//! The configuration file: one TOML file, every key overridable by an environment variable,
//! validated at start into [`Settings`] with errors that name the key.
//!
//! Environment overrides: `KINESINK_<SECTION>__<KEY>` (e.g. `KINESINK_SOURCE__STREAM`), and
//! `KINESINK_NAME` for the top-level `name`. Values are given as text; numbers, booleans and the
//! names of closed sets are parsed from it.
//!
//! Each section has its module holding the section as written (deserialised, and serialised by
//! `import-firehose`) and its validation into typed values; `validate` composes them into
//! [`Settings`] with the checks that span sections. [`firehose_import`] turns a Firehose
//! delivery stream description into the same typed file.
//!
//! Owns: the file's sections as written, their validation into the library crates' typed
//! settings, and `import-firehose`'s mapping. Must never: build clients, read the clock for
//! anything but a generated worker id, or touch the network (the binary's start-up checks do).

use kinesink_delivery::Destination;
use kinesink_shard_reader::StreamId;
use kinesink_worker::WorkerSettings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

mod bounds;
mod destination;
mod env_overrides;
pub mod firehose_import;
mod format;
mod iceberg;
#[cfg(test)]
mod iceberg_tests;
mod lambda;
#[cfg(test)]
mod lambda_tests;
mod leases;
mod metrics;
mod processing;
mod scalar_value;
mod source;
#[cfg(test)]
mod tests;
mod validate;
#[cfg(test)]
mod validation_tests;

pub use destination::Encryption;
pub(crate) use destination::{DestinationSection, Sse};
pub(crate) use format::{Compression, FormatSection, FormatType};
pub use format::{FormatSource, GlueFormat, GlueSection, TableFormat};
pub use lambda::LambdaConfig;
pub(crate) use lambda::{LambdaSection, MilliMebibytes};
pub(crate) use leases::LeasesSection;
pub(crate) use metrics::MetricsSection;
pub(crate) use processing::{DecompressionKind, ProcessingSection, RecordDeaggregation};
pub use source::Reader;
pub(crate) use source::{InitialPosition, SourceSection};

use env_overrides::apply_env_overrides;
use validate::validate;

/// A configuration problem; the message names the key (or file) at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// `url` when it is absent or an http(s) URL, else an error naming `key`.
fn check_endpoint(key: &str, url: Option<String>) -> Result<Option<String>, ConfigError> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => Err(err(format!(
            "config key `{key}`: `{u}` is not an http:// or https:// URL"
        ))),
        other => Ok(other),
    }
}

/// Whether `value` is its type's default (a section or table left out when written).
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// How a value of a closed set (a unit enum variant) is written in the file.
fn spelling<T: Serialize>(value: &T) -> String {
    match toml::Value::try_from(value) {
        Ok(toml::Value::String(s)) => s,
        _ => String::new(),
    }
}

const SECTIONS: &[&str] = &[
    "source",
    "leases",
    "processing",
    "destination",
    "format",
    "metrics",
];

/// The file as written (after environment overrides), before validation; `import-firehose`
/// builds one and writes it with `toml::to_string`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a configuration file of tables: name, [source], [leases], [processing], [destination], [format], [metrics]"
)]
pub(crate) struct FileConfig {
    /// Delivery name; appears in object names.
    pub(crate) name: String,
    /// `[source]`.
    pub(crate) source: SourceSection,
    /// `[leases]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) leases: LeasesSection,
    /// `[processing]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) processing: ProcessingSection,
    /// `[destination]`.
    pub(crate) destination: DestinationSection,
    /// `[format]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) format: FormatSection,
    /// `[metrics]`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) metrics: MetricsSection,
}

/// Default failover time: a lease whose owner's heartbeat (and the lease itself) did not move for
/// this long may be taken by another worker.
pub const DEFAULT_FAILOVER_TIME_MS: u64 = 10_000;
/// Firehose's default buffer size hint for NDJSON/raw output.
pub const DEFAULT_BUFFER_SIZE_MIB: u64 = 5;
/// Firehose's default buffer interval hint.
pub const DEFAULT_BUFFER_INTERVAL_S: u64 = 300;

/// The validated configuration the worker runs with: where the services are and how to reach
/// them, plus [`Settings::worker`], the running worker's own typed settings (no copy is made
/// between the two).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The stream read.
    pub stream: StreamId,
    /// AWS region, if set in the file (else the SDK's default chain).
    pub region: Option<String>,
    /// Kinesis endpoint override.
    pub kinesis_endpoint: Option<String>,
    /// GetRecords polling or enhanced fan-out.
    pub reader: Reader,
    /// Lease table name.
    pub lease_table: String,
    /// DynamoDB endpoint override.
    pub dynamodb_endpoint: Option<String>,
    /// Where objects go.
    pub destination: Destination,
    /// S3 endpoint override.
    pub s3_endpoint: Option<String>,
    /// Path-style S3 addressing (needed by most S3 stand-ins).
    pub force_path_style: bool,
    /// Server-side encryption.
    pub encryption: Encryption,
    /// Format of data objects: given, or Parquet with a schema read from Glue at start-up.
    pub format: FormatSource,
    /// Grant the bucket owner full control of every object (canned ACL).
    pub bucket_owner_full_control: bool,
    /// Objects larger than this are uploaded in parts of this size (S3 multipart).
    pub multipart_part_size_bytes: usize,
    /// Write each object once: `If-None-Match: *` on S3 writes, exclusive file creation
    /// (`destination.conditional_writes`, default on).
    pub conditional_writes: bool,
    /// Things the loader ignored and the user should hear about (logged at start).
    pub warnings: Vec<String>,
    /// Address of `/metrics`, `/healthz`, `/readyz` (none: not served).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The Iceberg destination (`[destination.iceberg]`): data goes into its tables, the
    /// error output (and backup) to `destination`.
    pub iceberg: Option<kinesink_iceberg_sink::IcebergCatalogSettings>,
    /// The Lambda processor (`[processing.lambda]` with a function), if any: the shells build
    /// its invoker (the endpoint is theirs to reach).
    pub lambda: Option<LambdaConfig>,
    /// The worker's settings: name, worker id, leases' timing, reading, processing,
    /// buffering, prefixes and limits (`name`, `[leases]`, `[processing]`, most of
    /// `[destination]`).
    pub worker: WorkerSettings,
}

/// Reads the file at `path`, applies `KINESINK_*` overrides from `env`, and validates.
///
/// # Errors
/// A message naming the file, key or environment variable at fault.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("cannot read config file {}: {e}", path.display())))?;
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| err(format!("{}: {}", path.display(), one_line(&e.to_string()))))?;
    let mut ignored = Vec::new();
    apply_env_overrides(&mut table, env, &mut ignored)?;
    let file: FileConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let inner = one_line(&e.into_inner().to_string());
            // toml names the key again at the end; it is said first here.
            let inner = inner
                .strip_suffix(&format!(" in `{path}`"))
                .map_or(inner.clone(), str::to_owned);
            if path == "." {
                err(format!("config: {inner}"))
            } else {
                err(format!("config key `{path}`: {inner}"))
            }
        })?;
    let mut settings = validate(file)?;
    settings.warnings = ignored;
    Ok(settings)
}

/// `s` with every run of white space (newlines too) one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
