//! From the file as written to typed [`Settings`]: each section validates itself; here they are
//! composed, with the checks that span sections.

use std::sync::Arc;

use std::time::Duration;

use kinesink_shard_reader::ReaderSettings;
use kinesink_worker::WorkerSettings;

use super::{ConfigError, FileConfig, Settings, err};

/// Longest pause between GetRecords retries after throttling or errors (not configurable).
const READER_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.': `name` appears in object names.
fn check_name(name: &str) -> Result<(), ConfigError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    if name.is_empty() || name.len() > 64 || !name.bytes().all(allowed) {
        return Err(err(
            "config key `name`: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.' (it appears in object names)",
        ));
    }
    Ok(())
}

pub(super) fn validate(f: FileConfig) -> Result<Settings, ConfigError> {
    check_name(&f.name)?;
    let source = f.source.validate(&f.name)?;
    let leases = f.leases.validate(&f.name)?;
    let mut processing = f.processing.validate()?;
    let iceberg_section = f.destination.iceberg.clone();
    let format = f.format.validate(iceberg_section.is_some())?;
    let data_prefix_given = f
        .destination
        .prefix
        .as_deref()
        .is_some_and(|p| !p.is_empty());
    let d = f
        .destination
        .validate(processing.time_zone, format.format.default_file_extension())?;
    let iceberg = iceberg_section
        .map(|section| section.validate(source.region.clone()))
        .transpose()?;
    if iceberg.is_some() {
        check_iceberg_fits(
            &format.format,
            data_prefix_given,
            processing.query.as_deref(),
        )?;
        // Routing keys: a null (or missing) one is not given, so the record goes to the
        // default database or table, as Firehose routes; an empty one still fails.
        if let Some(query) = &processing.query {
            let routing = kinesink_partitioning::MetadataQuery::compile(query.text())
                .map_err(|e| err(format!("config key `processing.partition_query`: {e}")))?
                .with_budget(query.budget())
                .omitting_null_keys();
            processing.query = Some(std::sync::Arc::new(routing));
        }
    }
    let data_prefix = d.prefixes.data();
    if data_prefix.keys_from_lambda() {
        let k = data_prefix
            .partition_key_names()
            .first()
            .cloned()
            .unwrap_or_default();
        if processing.lambda.is_none() {
            return Err(err(format!(
                "config key `destination.prefix` uses !{{partitionKeyFromLambda:{k}}} but `processing.lambda.function` is not set"
            )));
        }
        if processing.query.is_some() && iceberg.is_none() {
            return Err(err(format!(
                "config keys `processing.partition_query` and `destination.prefix`: the prefix takes its keys from the Lambda function (!{{partitionKeyFromLambda:{k}}}); the query's keys would not be used (Firehose uses one or the other)"
            )));
        }
    }
    match &processing.query {
        None if data_prefix.keys_from_lambda() => {}
        Some(_) if iceberg.is_some() => {}
        None => {
            if let Some(k) = d.prefixes.data().partition_key_names().first() {
                return Err(err(format!(
                    "config key `destination.prefix` uses !{{partitionKeyFromQuery:{k}}} but `processing.partition_query` is not set"
                )));
            }
        }
        Some(q) => q.check_template(d.prefixes.data()).map_err(|e| {
            err(format!(
                "config keys `processing.partition_query` and `destination.prefix`: {e}"
            ))
        })?,
    }
    Ok(Settings {
        stream: source.stream,
        region: source.region,
        kinesis_endpoint: source.kinesis_endpoint,
        reader: source.reader,
        lease_table: leases.table,
        dynamodb_endpoint: leases.dynamodb_endpoint,
        destination: d.destination,
        s3_endpoint: d.s3_endpoint,
        force_path_style: d.force_path_style,
        encryption: d.encryption,
        format: format.format,
        bucket_owner_full_control: d.bucket_owner_full_control,
        multipart_part_size_bytes: d.multipart_part_size_bytes,
        conditional_writes: d.conditional_writes,
        warnings: Vec::new(),
        iceberg,
        metrics_listen: f.metrics.validate()?,
        lambda: processing.lambda.clone(),
        worker: WorkerSettings {
            name: f.name,
            worker_id: leases.worker_id,
            failover_time: leases.failover_time,
            initial_position: source.initial_position,
            reader: ReaderSettings {
                max_records: source.max_records,
                idle: source.idle_time,
                max_backoff: READER_MAX_BACKOFF,
            },
            kpl_deaggregation: processing.kpl_deaggregation,
            processors: processing.processors,
            transform: processing.transform,
            record_split: processing.record_split,
            buffer: d.buffer,
            error_codec: format.error_codec,
            prefixes: Arc::new(d.prefixes),
            query: processing.query,
            partition_limit: d.partition_limit,
            file_extension: d.file_extension,
            shard_sync_interval: leases.shard_sync_interval,
            memory_budget_bytes: d.memory_budget_bytes,
            retry_duration: d.retry_duration,
            lease_retry_duration: leases.retry_duration,
            stall_timeout: processing.stall_timeout,
            lambda: None,
        },
    })
}

/// With `[destination.iceberg]`: data files are Parquet, go under the tables' locations (no
/// data prefix), and `partition_query` only routes records to tables: it may output
/// `destinationDatabaseName` and `destinationTableName` (Firehose's routing keys), nothing else.
fn check_iceberg_fits(
    format: &super::FormatSource,
    data_prefix_given: bool,
    query: Option<&kinesink_partitioning::MetadataQuery>,
) -> Result<(), ConfigError> {
    let parquet = match format {
        super::FormatSource::Given(f) => {
            matches!(f, kinesink_parquet_writer::ObjectFormat::Parquet(_))
        }
        super::FormatSource::FromGlue(_) | super::FormatSource::FromTable(_) => true,
    };
    if !parquet {
        return Err(err(
            "config key `format.type`: the Iceberg destination writes Parquet data files; set type = \"parquet\" (its schema creates missing tables)",
        ));
    }
    if data_prefix_given {
        return Err(err(
            "config key `destination.prefix`: not used with [destination.iceberg] (data files go under each table's location, partitioned by its spec); remove it",
        ));
    }
    let Some(query) = query else {
        return Ok(());
    };
    match query.key_names() {
        Some(names) => {
            if let Some(other) = names
                .iter()
                .find(|k| !kinesink_iceberg_sink::ROUTING_KEYS.contains(&k.as_str()))
            {
                return Err(err(format!(
                    "config key `processing.partition_query`: outputs `{other}`; with [destination.iceberg] the query only routes records to tables, by `destinationDatabaseName` and `destinationTableName` (other keys have no meaning there)"
                )));
            }
            Ok(())
        }
        // Known only per record: other keys are ignored (the crate docs say so).
        None => Ok(()),
    }
}
