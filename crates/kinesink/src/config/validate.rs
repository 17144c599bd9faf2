//! From the file as written to typed [`Settings`]: every value checked, every error naming its
//! key.

#[allow(clippy::wildcard_imports)]
use super::*;

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

pub(super) fn validate(f: FileConfig) -> Result<Settings, ConfigError> {
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
