//! From the file as written to typed [`Settings`]: each section validates itself; here they are
//! composed, with the checks that span sections.

use std::sync::Arc;

use super::{ConfigError, FileConfig, Settings, err};

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
    let processing = f.processing.validate()?;
    let format = f.format.validate()?;
    let d = f
        .destination
        .validate(processing.time_zone, format.format.default_file_extension())?;
    match &processing.query {
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
        name: f.name,
        stream: source.stream,
        region: source.region,
        kinesis_endpoint: source.kinesis_endpoint,
        initial_position: source.initial_position,
        reader: source.reader,
        max_records: source.max_records,
        idle_time: source.idle_time,
        lease_table: leases.table,
        failover_time: leases.failover_time,
        shard_sync_interval: leases.shard_sync_interval,
        lease_retry_duration: leases.retry_duration,
        worker_id: leases.worker_id,
        dynamodb_endpoint: leases.dynamodb_endpoint,
        kpl_deaggregation: processing.kpl_deaggregation,
        record_split: processing.record_split,
        destination: d.destination,
        s3_endpoint: d.s3_endpoint,
        force_path_style: d.force_path_style,
        buffer: d.buffer,
        file_extension: d.file_extension,
        encryption: d.encryption,
        format: format.format,
        error_codec: format.error_codec,
        prefixes: Arc::new(d.prefixes),
        query: processing.query,
        partition_limit: d.partition_limit,
        memory_budget_bytes: d.memory_budget_bytes,
        retry_duration: d.retry_duration,
        bucket_owner_full_control: d.bucket_owner_full_control,
        multipart_part_size_bytes: d.multipart_part_size_bytes,
        conditional_writes: d.conditional_writes,
        warnings: Vec::new(),
        metrics_listen: f.metrics.validate()?,
        stall_timeout: processing.stall_timeout,
    })
}
