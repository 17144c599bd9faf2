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
mod validation_tests;

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

fn check_endpoint(key: &str, url: Option<String>) -> Result<Option<String>, ConfigError> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => Err(err(format!(
            "config key `{key}`: `{u}` is not an http:// or https:// URL"
        ))),
        other => Ok(other),
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kinesink".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

fn validate(f: FileConfig) -> Result<Settings, ConfigError> {
    if f.name.is_empty()
        || f.name.len() > 64
        || !f
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(err(
            "config key `name`: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.' (it appears in object names)",
        ));
    }
    let s = f.source;
    let stream = match (s.stream, s.stream_arn) {
        (Some(n), None) if !n.is_empty() => StreamId::Name(n),
        (None, Some(a)) if a.starts_with("arn:") => StreamId::Arn(a),
        (None, Some(a)) => {
            return Err(err(format!(
                "config key `source.stream_arn`: `{a}` is not an ARN"
            )));
        }
        (Some(_), Some(_)) => {
            return Err(err(
                "config keys `source.stream` and `source.stream_arn`: give one, not both",
            ));
        }
        _ => {
            return Err(err(
                "config key `source.stream` is missing (or give `source.stream_arn`)",
            ));
        }
    };
    let initial_position = match (s.initial_position.as_str(), s.initial_timestamp) {
        ("trim_horizon", None) => StartPosition::TrimHorizon,
        ("latest", None) => StartPosition::Latest,
        ("at_timestamp", Some(ts)) => {
            let t = chrono::DateTime::parse_from_rfc3339(&ts).map_err(|e| {
                err(format!(
                    "config key `source.initial_timestamp`: `{ts}` is not an RFC 3339 time: {e}"
                ))
            })?;
            StartPosition::AtTimestamp(t.timestamp_millis())
        }
        ("at_timestamp", None) => {
            return Err(err(
                "config key `source.initial_timestamp` is required with initial_position = \"at_timestamp\"",
            ));
        }
        ("trim_horizon" | "latest", Some(_)) => {
            return Err(err(
                "config key `source.initial_timestamp` is only used with initial_position = \"at_timestamp\"",
            ));
        }
        (other, _) => {
            return Err(err(format!(
                "config key `source.initial_position`: `{other}` is not one of latest, trim_horizon, at_timestamp"
            )));
        }
    };
    let reader = match (s.reader.as_str(), s.consumer_name) {
        ("polling", None) => Reader::Polling,
        ("polling", Some(_)) => {
            return Err(err(
                "config key `source.consumer_name` is only used with reader = \"efo\"",
            ));
        }
        ("efo", name) => {
            let consumer_name = name.unwrap_or_else(|| format!("kinesink-{}", f.name));
            if consumer_name.is_empty() || consumer_name.len() > 128 {
                return Err(err(
                    "config key `source.consumer_name`: 1 to 128 characters",
                ));
            }
            Reader::EnhancedFanOut { consumer_name }
        }
        (other, _) => {
            return Err(err(format!(
                "config key `source.reader`: `{other}` is not one of polling, efo"
            )));
        }
    };
    bounds::within(
        "source.max_records",
        s.max_records,
        &(1..=10_000),
        "records per call, the GetRecords limit",
    )?;
    let shard_sync_ms = bounds::within(
        "leases.shard_sync_interval_ms",
        f.leases.shard_sync_interval_ms.unwrap_or(60_000),
        &(1_000..=3_600_000),
        "milliseconds",
    )?;
    let failover_ms = bounds::within(
        "leases.failover_time_ms",
        f.leases
            .failover_time_ms
            .unwrap_or(DEFAULT_FAILOVER_TIME_MS),
        &bounds::FAILOVER_TIME_MS,
        "milliseconds",
    )?;
    let idle_time_ms = bounds::within(
        "source.idle_time_ms",
        s.idle_time_ms,
        &bounds::IDLE_TIME_MS,
        "milliseconds",
    )?;
    let lease_retry_s = bounds::within(
        "leases.retry_duration_s",
        f.leases.retry_duration_s.unwrap_or(600),
        &bounds::LEASE_RETRY_DURATION_S,
        "seconds",
    )?;
    let record_split = match (
        f.processing
            .record_deaggregation
            .as_deref()
            .unwrap_or("none"),
        f.processing.delimiter_base64,
    ) {
        ("none", None) => None,
        ("json", None) => Some(SubRecordFormat::Json),
        ("delimited", Some(b64)) => {
            use base64::Engine;
            let d = base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .map_err(|e| {
                    err(format!(
                        "config key `processing.delimiter_base64`: not base64: {e}"
                    ))
                })?;
            let d = Delimiter::new(d).map_err(|_| {
                err("config key `processing.delimiter_base64`: the delimiter must not be empty")
            })?;
            Some(SubRecordFormat::Delimited(d))
        }
        ("delimited", None) => {
            return Err(err(
                "config key `processing.delimiter_base64` is required with record_deaggregation = \"delimited\"",
            ));
        }
        ("none" | "json", Some(_)) => {
            return Err(err(
                "config key `processing.delimiter_base64` is only used with record_deaggregation = \"delimited\"",
            ));
        }
        (other, _) => {
            return Err(err(format!(
                "config key `processing.record_deaggregation`: `{other}` is not one of none, json, delimited"
            )));
        }
    };
    let d = f.destination;
    let destination = Destination::parse(&d.url)
        .map_err(|e| err(format!("config key `destination.url`: {e}")))?;
    let size_mib = bounds::within(
        "destination.buffer_size_mib",
        d.buffer_size_mib.unwrap_or(DEFAULT_BUFFER_SIZE_MIB),
        &(1..=128),
        "MiB",
    )?;
    let interval_s = bounds::within(
        "destination.buffer_interval_s",
        d.buffer_interval_s.unwrap_or(DEFAULT_BUFFER_INTERVAL_S),
        &(0..=900),
        "seconds",
    )?;
    let encryption = match (d.sse.as_deref(), d.kms_key_id) {
        (None | Some("none"), None) => Encryption::None,
        (Some("AES256"), None) => Encryption::Aes256,
        (Some("aws:kms"), key) => Encryption::Kms(key),
        (None | Some("none" | "AES256"), Some(_)) => {
            return Err(err(
                "config key `destination.kms_key_id` is only used with sse = \"aws:kms\"",
            ));
        }
        (Some(other), _) => {
            return Err(err(format!(
                "config key `destination.sse`: `{other}` is not one of none, AES256, aws:kms"
            )));
        }
    };
    let fmt = f.format;
    let kind = fmt
        .kind
        .as_deref()
        .unwrap_or(if fmt.schema.is_some() || fmt.glue.is_some() {
            "parquet"
        } else {
            "ndjson"
        });
    let zstd_level = bounds::within(
        "format.zstd_level",
        fmt.zstd_level.unwrap_or(3),
        &(1..=22),
        "zstd levels",
    )?;
    if fmt.zstd_level.is_some() && fmt.compression.as_deref().is_some_and(|c| c != "zstd") {
        return Err(err(
            "config key `format.zstd_level` is only used with compression = \"zstd\"",
        ));
    }
    let serde_keys_given = fmt.case_insensitive.is_some()
        || !fmt.column_to_json_key_mappings.is_empty()
        || fmt.convert_dots_in_json_keys_to_underscores.is_some();
    let (format, error_codec, glue, parquet) = match kind {
        "ndjson" | "raw" => {
            if fmt.schema.is_some() || fmt.glue.is_some() || serde_keys_given {
                return Err(err(format!(
                    "config keys `format.schema`, `format.glue` and the SerDe options are only used with type = \"parquet\", not \"{kind}\""
                )));
            }
            let framing = if kind == "raw" {
                RecordFraming::Raw
            } else {
                RecordFraming::NewlineDelimited
            };
            let codec: Codec = match fmt.compression.as_deref().unwrap_or("gzip") {
                "zstd" => Codec::Zstd { level: zstd_level },
                other => other
                    .parse()
                    .map_err(|e| err(format!("config key `format.compression`: {e}")))?,
            };
            (ObjectFormat::Records { framing, codec }, codec, None, None)
        }
        "parquet" => {
            let compression = match fmt.compression.as_deref().unwrap_or("zstd") {
                "zstd" => ParquetCompression::Zstd { level: zstd_level },
                "snappy" => ParquetCompression::Snappy,
                "gzip" => ParquetCompression::Gzip,
                "none" | "uncompressed" => ParquetCompression::Uncompressed,
                other => {
                    return Err(err(format!(
                        "config key `format.compression`: `{other}` is not one of zstd, snappy, gzip, none for parquet"
                    )));
                }
            };
            let serde = Arc::new(SerdeOptions {
                case_insensitive: fmt.case_insensitive.unwrap_or(true),
                column_to_json_key_mappings: fmt.column_to_json_key_mappings,
                convert_dots_in_json_keys_to_underscores: fmt
                    .convert_dots_in_json_keys_to_underscores
                    .unwrap_or(false),
            });
            let options = ParquetOptions {
                compression,
                ..ParquetOptions::default()
            };
            match (fmt.schema, fmt.glue) {
                (Some(schema), None) => {
                    let schema = Arc::new(
                        TableSchema::parse_hive(&schema)
                            .map_err(|e| err(format!("config key `format.schema`: {e}")))?,
                    );
                    serde.validate_against(&schema).map_err(|e| {
                        err(format!(
                            "config key `format.column_to_json_key_mappings`: {e}"
                        ))
                    })?;
                    let table = ParquetTableFormat::new(schema, serde, options)
                        .map_err(|e| err(format!("config section `format`: {e}")))?;
                    (
                        ObjectFormat::Parquet(Arc::new(table)),
                        Codec::Gzip,
                        None,
                        None,
                    )
                }
                (None, Some(glue)) => {
                    // The schema is read from Glue at start-up; a placeholder format until then.
                    (
                        ObjectFormat::Records {
                            framing: RecordFraming::NewlineDelimited,
                            codec: Codec::Gzip,
                        },
                        Codec::Gzip,
                        Some(glue),
                        Some((serde, options)),
                    )
                }
                (Some(_), Some(_)) => {
                    return Err(err(
                        "config keys `format.schema` and `format.glue`: give one, not both",
                    ));
                }
                (None, None) => {
                    return Err(err(
                        "config key `format.schema` (or `[format.glue]`) is required with type = \"parquet\"",
                    ));
                }
            }
        }
        other => {
            return Err(err(format!(
                "config key `format.type`: `{other}` is not one of parquet, ndjson, raw"
            )));
        }
    };
    let time_zone: Tz = match f.processing.time_zone.as_deref() {
        None => Tz::UTC,
        Some(z) => z.parse().map_err(|_| err(format!("config key `processing.time_zone`: `{z}` is not an IANA time zone like UTC or Europe/Berlin")))?,
    };
    let prefixes = OutputPrefixes::parse(d.prefix.as_deref(), d.error_output_prefix.as_deref())
        .map_err(|e| {
            let key = match e {
                kinesink_partitioning::OutputPrefixesError::Prefix(_) => "destination.prefix",
                _ => "destination.error_output_prefix",
            };
            err(format!("config key `{key}`: {e}"))
        })?
        .with_time_zone(time_zone);
    let query = match f.processing.partition_query.as_deref() {
        None => {
            if let Some(k) = prefixes.data().partition_key_names().first() {
                return Err(err(format!(
                    "config key `destination.prefix` uses !{{partitionKeyFromQuery:{k}}} but `processing.partition_query` is not set"
                )));
            }
            None
        }
        Some(q) => {
            let q = MetadataQuery::compile(q)
                .map_err(|e| err(format!("config key `processing.partition_query`: {e}")))?;
            q.check_template(prefixes.data()).map_err(|e| {
                err(format!(
                    "config keys `processing.partition_query` and `destination.prefix`: {e}"
                ))
            })?;
            Some(Arc::new(q))
        }
    };
    let max_active = bounds::within(
        "destination.max_active_partitions",
        d.max_active_partitions.unwrap_or(500),
        &(1..=100_000),
        "partitions per shard",
    )?;
    let action = match d.on_partition_limit.as_deref().unwrap_or("error-output") {
        "error-output" => PartitionLimitAction::ErrorOutput,
        "flush-least-recently-used" => PartitionLimitAction::FlushLeastRecentlyUsed,
        other => {
            return Err(err(format!(
                "config key `destination.on_partition_limit`: `{other}` is not one of error-output, flush-least-recently-used"
            )));
        }
    };
    let partition_limit = PartitionLimit { max_active, action };
    let memory_budget_mib = bounds::within(
        "destination.memory_budget_mib",
        d.memory_budget_mib.unwrap_or(1024),
        &(1..=1_048_576),
        "MiB",
    )?;
    let retry_duration_s = bounds::within(
        "destination.retry_duration_s",
        d.retry_duration_s.unwrap_or(86_400),
        &(0..=7 * 86_400),
        "seconds: 7 days, the longest stream retention for which retrying makes sense",
    )?;
    let part_size_mib = bounds::within(
        "destination.multipart_part_size_mib",
        d.multipart_part_size_mib.unwrap_or(8),
        &(5..=5120),
        "MiB, S3's part size limits",
    )?;
    let stall_timeout_s = bounds::within(
        "processing.stall_timeout_s",
        f.processing.stall_timeout_s.unwrap_or(300),
        &(10..=86_400),
        "seconds without progress before a shard is reported stalled",
    )?;
    let file_extension = d.file_extension.unwrap_or_else(|| {
        if glue.is_some() {
            ".parquet".to_owned()
        } else {
            format.file_extension().to_owned()
        }
    });
    if file_extension.contains('/') {
        return Err(err(
            "config key `destination.file_extension`: must not contain '/'",
        ));
    }
    Ok(Settings {
        lease_table: f.leases.table.unwrap_or_else(|| format!("kinesink-{}", f.name)),
        name: f.name,
        stream,
        region: s.region,
        kinesis_endpoint: check_endpoint("source.endpoint_url", s.endpoint_url)?,
        initial_position,
        reader,
        max_records: s.max_records,
        idle_time: Duration::from_millis(idle_time_ms),
        failover_time: Duration::from_millis(failover_ms),
        shard_sync_interval: Duration::from_millis(shard_sync_ms),
        lease_retry_duration: Duration::from_secs(lease_retry_s),
        worker_id: f.leases.worker_id.unwrap_or_else(default_worker_id),
        dynamodb_endpoint: check_endpoint("leases.endpoint_url", f.leases.endpoint_url)?,
        kpl_deaggregation: f.processing.kpl_deaggregation.unwrap_or(true),
        record_split,
        destination,
        s3_endpoint: check_endpoint("destination.endpoint_url", d.endpoint_url)?,
        force_path_style: d.force_path_style.unwrap_or(false),
        buffer: BufferLimits {
            size_bytes: usize::try_from(size_mib * 1024 * 1024).expect("at most 128 MiB"),
            interval_ms: interval_s * 1000,
        },
        file_extension,
        encryption,
        format,
        error_codec,
        prefixes: Arc::new(prefixes),
        query,
        glue,
        parquet,
        warnings: Vec::new(),
        partition_limit,
        memory_budget_bytes: usize::try_from(memory_budget_mib * 1024 * 1024).map_err(|_| err("config key `destination.memory_budget_mib`: too large for this machine"))?,
        retry_duration: Duration::from_secs(retry_duration_s),
        stall_timeout: Duration::from_secs(stall_timeout_s),
        bucket_owner_full_control: d.bucket_owner_full_control.unwrap_or(false),
        conditional_writes: d.conditional_writes.unwrap_or(true),
        multipart_part_size_bytes: usize::try_from(part_size_mib * 1024 * 1024).map_err(|_| err("config key `destination.multipart_part_size_mib`: too large for this machine"))?,
        metrics_listen: f
            .metrics
            .listen
            .map(|l| l.parse().map_err(|e| err(format!("config key `metrics.listen`: `{l}` is not an address like 0.0.0.0:9090: {e}"))))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, text).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(&path, &env)
    }

    const MINIMAL: &str = r#"
name = "clicks"
[source]
stream = "clickstream"
[destination]
url = "s3://my-bucket/events"
"#;

    #[test]
    fn a_minimal_file_gets_firehose_defaults() {
        let s = load_str(MINIMAL, &[]).unwrap();
        assert_eq!(s.stream, StreamId::Name("clickstream".into()));
        assert_eq!(
            s.buffer,
            BufferLimits {
                size_bytes: 5 * 1024 * 1024,
                interval_ms: 300_000
            }
        );
        assert!(matches!(
            s.format,
            ObjectFormat::Records {
                codec: Codec::Gzip,
                framing: RecordFraming::NewlineDelimited
            }
        ));
        assert_eq!(s.file_extension, ".gz");
        assert_eq!(s.lease_table, "kinesink-clicks");
        assert_eq!(s.initial_position, StartPosition::TrimHorizon);
        assert_eq!(s.failover_time, Duration::from_secs(10));
        assert_eq!(
            s.lease_retry_duration,
            Duration::from_secs(600),
            "DynamoDB outages are ridden out for 10 minutes"
        );
        let s = load_str(MINIMAL, &[("KINESINK_LEASES__RETRY_DURATION_S", "45")]).unwrap();
        assert_eq!(s.lease_retry_duration, Duration::from_secs(45));
    }

    #[test]
    fn environment_variables_override_keys_and_numbers_parse_from_text() {
        let s = load_str(
            MINIMAL,
            &[
                ("KINESINK_SOURCE__STREAM", "other"),
                ("KINESINK_DESTINATION__BUFFER_INTERVAL_S", "7"),
                ("KINESINK_NAME", "renamed"),
                ("KINESINK_CACHE", "/not/a/config/key"),
            ],
        )
        .unwrap();
        assert_eq!(s.stream, StreamId::Name("other".into()));
        assert_eq!(s.buffer.interval_ms, 7_000);
        assert_eq!(s.name, "renamed");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let e = load_str(&MINIMAL.replace("stream = ", "strem = "), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("strem") && e.contains("source"), "{e}");
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_key() {
        let e = load_str(MINIMAL, &[("KINESINK_SOURCE__MAX_RECORDS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.max_records"), "{e}");
    }

    #[test]
    fn a_single_underscore_variable_is_not_an_override_and_is_reported_not_fatal() {
        // e.g. Kubernetes service links for a Service named kinesink-metrics
        let s = load_str(
            MINIMAL,
            &[
                ("KINESINK_SOURCE_STREAM", "x"),
                ("KINESINK_METRICS_SERVICE_HOST", "10.0.0.1"),
            ],
        )
        .unwrap();
        assert_eq!(s.stream, StreamId::Name("clickstream".into()));
        assert_eq!(s.warnings.len(), 2);
        assert!(
            s.warnings[1].contains("KINESINK_SOURCE_STREAM"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn enhanced_fan_out_takes_a_consumer_name_defaulting_to_the_delivery_name() {
        let s = load_str(
            &MINIMAL.replace("[source]", "[source]\nreader = \"efo\""),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.reader,
            Reader::EnhancedFanOut {
                consumer_name: "kinesink-clicks".into()
            }
        );
        let s = load_str(
            &MINIMAL.replace(
                "[source]",
                "[source]\nreader = \"efo\"\nconsumer_name = \"mine\"",
            ),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.reader,
            Reader::EnhancedFanOut {
                consumer_name: "mine".into()
            }
        );
        assert_eq!(load_str(MINIMAL, &[]).unwrap().reader, Reader::Polling);
        let e = load_str(
            &MINIMAL.replace("[source]", "[source]\nconsumer_name = \"mine\""),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("source.consumer_name") && e.contains("efo"),
            "{e}"
        );
    }

    #[test]
    fn delivery_keys_have_firehose_like_defaults_and_env_overrides() {
        let s = load_str(MINIMAL, &[]).unwrap();
        assert_eq!(s.memory_budget_bytes, 1024 * 1024 * 1024);
        assert_eq!(
            s.retry_duration,
            Duration::from_secs(86_400),
            "Firehose retries S3 for 24 h"
        );
        assert!(!s.bucket_owner_full_control);
        assert_eq!(s.multipart_part_size_bytes, 8 * 1024 * 1024);
        let s = load_str(
            MINIMAL,
            &[
                ("KINESINK_DESTINATION__MEMORY_BUDGET_MIB", "64"),
                ("KINESINK_DESTINATION__RETRY_DURATION_S", "30"),
                ("KINESINK_DESTINATION__BUCKET_OWNER_FULL_CONTROL", "true"),
                ("KINESINK_DESTINATION__MULTIPART_PART_SIZE_MIB", "5"),
            ],
        )
        .unwrap();
        assert_eq!(s.memory_budget_bytes, 64 * 1024 * 1024);
        assert_eq!(s.retry_duration, Duration::from_secs(30));
        assert!(s.bucket_owner_full_control);
        assert_eq!(s.multipart_part_size_bytes, 5 * 1024 * 1024);
    }

    #[test]
    fn a_prefix_using_a_key_the_query_does_not_produce_is_refused_at_load() {
        let text = MINIMAL.replace("[destination]", "[processing]\npartition_query = \"{a: .a}\"\n[destination]\nprefix = \"b=!{partitionKeyFromQuery:b}/\"\nerror_output_prefix = \"e/!{firehose:error-output-type}/\"");
        let e = load_str(&text, &[]).unwrap_err().to_string();
        assert!(e.contains("partition_query") && e.contains('b'), "{e}");
    }

    #[test]
    fn a_bad_prefix_expression_is_refused_naming_the_key_and_column() {
        let text = MINIMAL.replace(
            "[destination]",
            "[destination]\nprefix = \"x/!{timestamp:yyyy\"",
        );
        let e = load_str(&text, &[]).unwrap_err().to_string();
        assert!(
            e.contains("destination.prefix") && e.contains("column"),
            "{e}"
        );
    }

    #[test]
    fn parquet_needs_a_schema_and_a_bad_type_names_the_key() {
        let e = load_str(&format!("{MINIMAL}[format]\ntype = \"parquet\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("format.schema"), "{e}");
        let e = load_str(&format!("{MINIMAL}[format]\nschema = \"a strng\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("format.schema"), "{e}");
        let ok = load_str(
            &format!("{MINIMAL}[format]\nschema = \"a string, b bigint\"\n"),
            &[],
        )
        .unwrap();
        assert!(matches!(ok.format, ObjectFormat::Parquet(_)));
        assert_eq!(ok.file_extension, ".parquet");
    }

    #[test]
    fn the_reference_configuration_loads_unchanged() {
        // The repository's copy of `../shared/kinesink.example.toml`, so the test runs in any
        // clone; where the shared file is present, the copy must still be it.
        let copy =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kinesink.example.toml");
        let text = std::fs::read_to_string(&copy).unwrap();
        let shared =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kinesink.example.toml");
        if let Ok(original) = std::fs::read_to_string(&shared) {
            assert!(
                text == original,
                "{} differs from {}",
                copy.display(),
                shared.display()
            );
        }
        let s = load_str(&text, &[]).unwrap();
        assert_eq!(s.memory_budget_bytes, 1024 * 1024 * 1024);
        assert!(matches!(s.format, ObjectFormat::Parquet(_)));
        assert!(s.query.is_some());
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        for (k, v, key) in [
            (
                "KINESINK_DESTINATION__BUFFER_SIZE_MIB",
                "129",
                "destination.buffer_size_mib",
            ),
            (
                "KINESINK_DESTINATION__BUFFER_INTERVAL_S",
                "901",
                "destination.buffer_interval_s",
            ),
            ("KINESINK_SOURCE__MAX_RECORDS", "0", "source.max_records"),
            (
                "KINESINK_SOURCE__INITIAL_POSITION",
                "oldest",
                "source.initial_position",
            ),
            ("KINESINK_DESTINATION__URL", "ftp://x", "destination.url"),
            ("KINESINK_FORMAT__COMPRESSION", "lz4", "format.compression"),
            (
                "KINESINK_DESTINATION__MEMORY_BUDGET_MIB",
                "0",
                "destination.memory_budget_mib",
            ),
            (
                "KINESINK_LEASES__SHARD_SYNC_INTERVAL_MS",
                "10",
                "leases.shard_sync_interval_ms",
            ),
            (
                "KINESINK_LEASES__RETRY_DURATION_S",
                "0",
                "leases.retry_duration_s",
            ),
            (
                "KINESINK_LEASES__RETRY_DURATION_S",
                "86401",
                "leases.retry_duration_s",
            ),
            (
                "KINESINK_DESTINATION__RETRY_DURATION_S",
                "999999999",
                "destination.retry_duration_s",
            ),
            (
                "KINESINK_DESTINATION__MULTIPART_PART_SIZE_MIB",
                "4",
                "destination.multipart_part_size_mib",
            ),
            (
                "KINESINK_DESTINATION__BUCKET_OWNER_FULL_CONTROL",
                "maybe",
                "destination.bucket_owner_full_control",
            ),
            (
                "KINESINK_PROCESSING__STALL_TIMEOUT_S",
                "9",
                "processing.stall_timeout_s",
            ),
            (
                "KINESINK_PROCESSING__STALL_TIMEOUT_S",
                "86401",
                "processing.stall_timeout_s",
            ),
        ] {
            let e = load_str(MINIMAL, &[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(key), "{k}={v}: {e}");
        }
    }

    #[test]
    fn a_missing_stream_names_the_key() {
        let e = load_str(
            "name = \"n\"\n[source]\n[destination]\nurl = \"file:///tmp/x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("source.stream"), "{e}");
    }

    #[test]
    fn the_shipped_example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kinesink.toml");
        load(&path, &BTreeMap::new()).unwrap();
    }
}
