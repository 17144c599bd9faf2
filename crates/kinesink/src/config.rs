//! The configuration file: one TOML file, every key overridable by an environment variable,
//! validated at start into [`Settings`] with errors that name the key.
//!
//! Environment overrides: `KINESINK_<SECTION>__<KEY>` (e.g. `KINESINK_SOURCE__STREAM`), and
//! `KINESINK_NAME` for the top-level `name`. Values are given as text; numbers and booleans are
//! parsed from it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use kinesink_delivery::{BufferLimits, Destination, PartitionLimit, PartitionLimitAction};
use kinesink_parquet_writer::{
    Codec, ObjectFormat, ParquetCompression, ParquetOptions, ParquetTableFormat, RecordFraming,
    SerdeOptions, TableSchema,
};
use kinesink_partitioning::{MetadataQuery, OutputPrefixes, Tz};
use kinesink_record_deaggregation::{Delimiter, SubRecordFormat};
use kinesink_shard_reader::{StartPosition, StreamId};
use serde::Deserialize;
use serde_with::serde_as;

use scalar_value::ScalarValue;

mod bounds;
mod scalar_value;
#[cfg(test)]
mod tests;
mod validate;
#[cfg(test)]
mod validation_tests;

use validate::validate;

/// A configuration problem; the message names the key (or file) at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

const SECTIONS: &[&str] = &[
    "source",
    "leases",
    "processing",
    "destination",
    "format",
    "metrics",
];

/// The file as written (after environment overrides), before validation.
#[serde_as]
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a configuration file of tables: name, [source], [leases], [processing], [destination], [format], [metrics]"
)]
struct FileConfig {
    name: String,
    source: SourceSection,
    #[serde(default)]
    leases: LeasesSection,
    #[serde(default)]
    processing: ProcessingSection,
    destination: DestinationSection,
    #[serde(default)]
    format: FormatSection,
    #[serde(default)]
    metrics: MetricsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [metrics] keys")]
struct MetricsSection {
    listen: Option<String>,
}

#[serde_as]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [source] keys")]
struct SourceSection {
    stream: Option<String>,
    stream_arn: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    #[serde(default = "default_initial_position")]
    initial_position: String,
    initial_timestamp: Option<String>,
    #[serde(default = "default_reader")]
    reader: String,
    consumer_name: Option<String>,
    #[serde_as(as = "ScalarValue")]
    #[serde(default = "default_max_records")]
    max_records: u32,
    #[serde_as(as = "ScalarValue")]
    #[serde(default = "default_idle_time_ms")]
    idle_time_ms: u64,
}

#[serde_as]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [leases] keys")]
struct LeasesSection {
    table: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    failover_time_ms: Option<u64>,
    worker_id: Option<String>,
    endpoint_url: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    shard_sync_interval_ms: Option<u64>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    retry_duration_s: Option<u64>,
}

#[serde_as]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [processing] keys")]
struct ProcessingSection {
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    kpl_deaggregation: Option<bool>,
    record_deaggregation: Option<String>,
    delimiter_base64: Option<String>,
    partition_query: Option<String>,
    time_zone: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    stall_timeout_s: Option<u64>,
}

#[serde_as]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [destination] keys")]
struct DestinationSection {
    url: String,
    endpoint_url: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    force_path_style: Option<bool>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    buffer_size_mib: Option<u64>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    buffer_interval_s: Option<u64>,
    file_extension: Option<String>,
    sse: Option<String>,
    kms_key_id: Option<String>,
    prefix: Option<String>,
    error_output_prefix: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    max_active_partitions: Option<usize>,
    on_partition_limit: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    memory_budget_mib: Option<u64>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    retry_duration_s: Option<u64>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    bucket_owner_full_control: Option<bool>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    multipart_part_size_mib: Option<u64>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    conditional_writes: Option<bool>,
}

#[serde_as]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of [format] keys")]
struct FormatSection {
    #[serde(rename = "type")]
    kind: Option<String>,
    compression: Option<String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    zstd_level: Option<i32>,
    schema: Option<String>,
    glue: Option<GlueSection>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    case_insensitive: Option<bool>,
    #[serde(default)]
    column_to_json_key_mappings: std::collections::BTreeMap<String, String>,
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    convert_dots_in_json_keys_to_underscores: Option<bool>,
}

/// `[format.glue]`: read the schema from a Glue Data Catalog table at start-up.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, expecting = "a table of [format.glue] keys")]
pub struct GlueSection {
    /// Glue database.
    pub database: String,
    /// Glue table.
    pub table: String,
    /// Catalog (account) id; default: the caller's.
    pub catalog_id: Option<String>,
    /// Table version; default: the current one.
    pub version: Option<String>,
    /// Glue endpoint override.
    pub endpoint_url: Option<String>,
}

fn default_initial_position() -> String {
    "trim_horizon".into()
}
fn default_reader() -> String {
    "polling".into()
}
const fn default_max_records() -> u32 {
    10_000
}
const fn default_idle_time_ms() -> u64 {
    1_000
}

/// Default failover time: a lease whose owner's heartbeat (and the lease itself) did not move for
/// this long may be taken by another worker.
pub const DEFAULT_FAILOVER_TIME_MS: u64 = 10_000;
/// Firehose's default buffer size hint for NDJSON/raw output.
pub const DEFAULT_BUFFER_SIZE_MIB: u64 = 5;
/// Firehose's default buffer interval hint.
pub const DEFAULT_BUFFER_INTERVAL_S: u64 = 300;

/// Server-side encryption of written objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// The bucket's default.
    None,
    /// SSE-S3.
    Aes256,
    /// SSE-KMS with an optional key id.
    Kms(Option<String>),
}

/// How shards are read (`source.reader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// GetRecords polling.
    Polling,
    /// Enhanced fan-out: SubscribeToShard through a registered stream consumer.
    EnhancedFanOut {
        /// The consumer's name (`source.consumer_name`, default `kinesink-<name>`).
        consumer_name: String,
    },
}

/// The validated configuration the worker runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Delivery name (config `name`), used in object names.
    pub name: String,
    /// The stream read.
    pub stream: StreamId,
    /// AWS region, if set in the file (else the SDK's default chain).
    pub region: Option<String>,
    /// Kinesis endpoint override.
    pub kinesis_endpoint: Option<String>,
    /// Where new shards start.
    pub initial_position: StartPosition,
    /// GetRecords polling or enhanced fan-out.
    pub reader: Reader,
    /// Records per GetRecords.
    pub max_records: u32,
    /// Pause after an empty GetRecords.
    pub idle_time: Duration,
    /// Lease table name.
    pub lease_table: String,
    /// Failover time.
    pub failover_time: Duration,
    /// How often shards are re-listed (new shards, leases deleted by hand, expired shards).
    pub shard_sync_interval: Duration,
    /// How long lease-table calls failing transiently (a DynamoDB outage) are retried before
    /// the worker stops (`leases.retry_duration_s`).
    pub lease_retry_duration: Duration,
    /// This worker's id in the lease table.
    pub worker_id: String,
    /// DynamoDB endpoint override.
    pub dynamodb_endpoint: Option<String>,
    /// Unpack KPL aggregates.
    pub kpl_deaggregation: bool,
    /// Firehose record splitting.
    pub record_split: Option<SubRecordFormat>,
    /// Where objects go.
    pub destination: Destination,
    /// S3 endpoint override.
    pub s3_endpoint: Option<String>,
    /// Path-style S3 addressing (needed by most S3 stand-ins).
    pub force_path_style: bool,
    /// Buffering hints.
    pub buffer: BufferLimits,
    /// Object extension (with its dot, or empty).
    pub file_extension: String,
    /// Server-side encryption.
    pub encryption: Encryption,
    /// Format of data objects (for Parquet with a Glue schema: completed at start-up).
    pub format: ObjectFormat,
    /// Compression of error-output objects.
    pub error_codec: Codec,
    /// Data and error prefixes, in the configured time zone.
    pub prefixes: Arc<OutputPrefixes>,
    /// Partition-key extraction, compiled.
    pub query: Option<Arc<MetadataQuery>>,
    /// A Glue table to read the Parquet schema from at start-up.
    pub glue: Option<GlueSection>,
    /// Parquet settings, used once a Glue schema is known.
    pub parquet: Option<(Arc<SerdeOptions>, ParquetOptions)>,
    /// The active-partition limit (per shard).
    pub partition_limit: PartitionLimit,
    /// Bytes all buffers of the worker may hold together (`destination.memory_budget_mib`).
    pub memory_budget_bytes: usize,
    /// How long a failing object write is retried before the shard gives up and the worker
    /// stops (nothing past the checkpoint is lost: the records stay in the stream).
    pub retry_duration: Duration,
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
    /// A shard whose lease is held but that makes no progress for this long is reported
    /// (`processing.stall_timeout_s`).
    pub stall_timeout: Duration,
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn apply_env_overrides(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
    ignored: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (var, value) in env {
        let Some(rest) = var.strip_prefix("KINESINK_") else {
            continue;
        };
        if rest == "NAME" {
            table.insert("name".into(), toml::Value::String(value.clone()));
            continue;
        }
        let Some((section, key)) = rest.split_once("__") else {
            // Not an override. Kubernetes injects service links like KINESINK_METRICS_SERVICE_HOST
            // for a Service named kinesink-metrics, so these are reported, not refused.
            if SECTIONS
                .iter()
                .any(|s| rest.to_ascii_lowercase().starts_with(&format!("{s}_")))
            {
                ignored.push(format!(
                    "environment variable {var} is ignored: overrides are named KINESINK_<SECTION>__<KEY> (two underscores)"
                ));
            }
            continue;
        };
        let section = section.to_ascii_lowercase();
        if !SECTIONS.contains(&section.as_str()) {
            return Err(err(format!(
                "environment variable {var}: unknown section `{section}`"
            )));
        }
        let mut target = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(format!("config key `{section}` must be a table")))?;
        let parts: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
        for part in &parts[..parts.len() - 1] {
            target = target
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| {
                    err(format!(
                        "environment variable {var}: `{part}` is not a table"
                    ))
                })?;
        }
        target.insert(
            parts[parts.len() - 1].clone(),
            toml::Value::String(value.clone()),
        );
    }
    Ok(())
}
