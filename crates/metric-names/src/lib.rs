//! Every metric kinesink emits, in one place: its name, kind, labels and what it counts.
//!
//! Owns: metric names (each crate that emits a metric uses the constant here, never a string
//! of its own), and their descriptions ([`describe_all`] gives Prometheus its `# HELP` lines).
//! Must never: record a value, or depend on any other kinesink crate (every crate may depend
//! on this one). The README's metrics table lists the same names; a test keeps the two equal.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only ever increases (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One metric: name, kind, labels, meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The full name, as scraped.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Label names it carries (empty: none).
    pub labels: &'static [&'static str],
    /// What it counts (the `# HELP` text).
    pub help: &'static str,
}

macro_rules! metrics_table {
    ($($(#[$doc:meta])* $constant:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $constant: &str = $name;
        )*
        /// Every metric, in the order of the README's table.
        pub const ALL: &[Metric] = &[
            $(Metric { name: $name, kind: MetricKind::$kind, labels: &[$($label),*], help: $help },)*
        ];
    };
}

metrics_table! {
    /// Kinesis records read (Firehose `DataReadFromKinesisStream.Records`).
    DATA_READ_RECORDS = "kinesink_data_read_from_kinesis_stream_records_total", Counter, ["shard_id"],
        "Kinesis records read (DataReadFromKinesisStream.Records)";
    /// Kinesis bytes read (Firehose `DataReadFromKinesisStream.Bytes`).
    DATA_READ_BYTES = "kinesink_data_read_from_kinesis_stream_bytes_total", Counter, ["shard_id"],
        "Kinesis bytes read (DataReadFromKinesisStream.Bytes)";
    /// `MillisBehindLatest` of the shard's last GetRecords.
    MILLIS_BEHIND_LATEST = "kinesink_millis_behind_latest", Gauge, ["shard_id"],
        "MillisBehindLatest of the shard's last read";
    /// User records after deaggregation (Firehose `IncomingRecords`).
    INCOMING_RECORDS = "kinesink_incoming_records_total", Counter, [],
        "user records after deaggregation (IncomingRecords)";
    /// User bytes after deaggregation (Firehose `IncomingBytes`).
    INCOMING_BYTES = "kinesink_incoming_bytes_total", Counter, [],
        "user bytes after deaggregation (IncomingBytes)";
    /// Objects written (Firehose `DeliveryToS3.Success`).
    DELIVERY_SUCCESS = "kinesink_delivery_to_s3_success_total", Counter, [],
        "objects written (DeliveryToS3.Success)";
    /// Records written in objects (Firehose `DeliveryToS3.Records`).
    DELIVERY_RECORDS = "kinesink_delivery_to_s3_records_total", Counter, [],
        "records written (DeliveryToS3.Records)";
    /// Bytes written in objects (Firehose `DeliveryToS3.Bytes`).
    DELIVERY_BYTES = "kinesink_delivery_to_s3_bytes_total", Counter, [],
        "bytes written (DeliveryToS3.Bytes)";
    /// Source backup objects written (Firehose `BackupToS3.Success`).
    BACKUP_SUCCESS = "kinesink_backup_to_s3_success_total", Counter, [],
        "source backup objects written (BackupToS3.Success)";
    /// Source records written in backup objects (Firehose `BackupToS3.Records`).
    BACKUP_RECORDS = "kinesink_backup_to_s3_records_total", Counter, [],
        "source records backed up (BackupToS3.Records)";
    /// Bytes written in backup objects (Firehose `BackupToS3.Bytes`).
    BACKUP_BYTES = "kinesink_backup_to_s3_bytes_total", Counter, [],
        "bytes of source backup objects written (BackupToS3.Bytes)";
    /// Object writes that failed and were retried.
    DELIVERY_FAILURES = "kinesink_delivery_to_s3_failures_total", Counter, [],
        "object writes that failed and were retried";
    /// Destination writes refused for a reason waiting does not fix.
    DESTINATION_REFUSALS = "kinesink_destination_refusals_total", Counter, [],
        "destination writes refused for a reason waiting does not fix (AccessDenied, NoSuchBucket, KMS); retried every 10 s, worker unready";
    /// Object writes that found their key already written and were taken as done.
    DELIVERY_ALREADY_WRITTEN = "kinesink_delivery_to_s3_already_written_total", Counter, [],
        "object writes that found their key already written (412, or the file existed) and were taken as done";
    /// Objects written under their alternative key.
    DELIVERY_ALTERNATIVE_KEY = "kinesink_delivery_to_s3_alternative_key_total", Counter, [],
        "objects whose key held other records and that were written under their alternative key";
    /// Age of the oldest record in the last object written (Firehose `DeliveryToS3.DataFreshness`).
    DELIVERY_DATA_FRESHNESS = "kinesink_delivery_to_s3_data_freshness_seconds", Gauge, [],
        "age of the oldest record in the last object written (DeliveryToS3.DataFreshness)";
    /// Records written to the error output, by Firehose error-output type.
    ERROR_RECORDS = "kinesink_error_records_total", Counter, ["error_output_type"],
        "records written to the error output";
    /// Records converted to Parquet (Firehose `SucceedConversion.Records`).
    FORMAT_CONVERSION_SUCCEEDED = "kinesink_format_conversion_succeeded_records_total", Counter, [],
        "records converted to Parquet (SucceedConversion.Records)";
    /// Records Parquet conversion refused (Firehose `FailedConversion.Records`).
    FORMAT_CONVERSION_FAILED = "kinesink_format_conversion_failed_records_total", Counter, [],
        "records Parquet conversion refused (FailedConversion.Records)";
    /// Open partition buffers of the shard (Firehose `PartitionCount`).
    ACTIVE_PARTITIONS = "kinesink_active_partitions", Gauge, ["shard_id"],
        "open partition buffers of the shard (PartitionCount)";
    /// Records refused by the active-partition limit (Firehose `PartitionCountExceeded`).
    PARTITION_COUNT_EXCEEDED = "kinesink_partition_count_exceeded_records_total", Counter, [],
        "records refused by the active-partition limit (PartitionCountExceeded)";
    /// Leases this worker holds.
    LEASES_OWNED = "kinesink_leases_owned", Gauge, [],
        "leases this worker holds";
    /// Leases taken (KCL `LeasesTaken`).
    LEASE_TAKES = "kinesink_lease_takes_total", Counter, [],
        "leases taken";
    /// Leases stolen to balance load (KCL `LeasesStolen`).
    LEASE_STEALS = "kinesink_lease_steals_total", Counter, [],
        "leases stolen to balance load";
    /// Leases lost to another worker (KCL `LeasesLost`).
    LEASE_LOSSES = "kinesink_lease_losses_total", Counter, [],
        "leases lost to another worker";
    /// Checkpoint writes to the lease table (fenced).
    CHECKPOINT_WRITES = "kinesink_checkpoint_writes_total", Counter, [],
        "fenced checkpoint writes";
    /// Flush-progress writes to the lease table (fenced).
    FLUSH_PROGRESS_WRITES = "kinesink_flush_progress_writes_total", Counter, [],
        "fenced flush-progress writes";
    /// Fenced writes refused because another worker took the lease.
    FENCED_WRITES_REFUSED = "kinesink_fenced_writes_refused_total", Counter, [],
        "fenced writes refused because another worker took the lease";
    /// Writes of the per-shard progress objects in the destination.
    PROGRESS_OBJECT_WRITES = "kinesink_progress_object_writes_total", Counter, [],
        "writes of the per-shard progress objects in the destination";
    /// Lease rows that were missing and were recreated from their progress object.
    LEASE_ROWS_RECREATED = "kinesink_lease_rows_recreated_total", Counter, [],
        "lease rows that were missing and were recreated from their progress object";
    /// GetRecords calls throttled.
    READ_THROTTLES = "kinesink_read_throttles_total", Counter, ["shard_id"],
        "GetRecords calls throttled";
    /// GetRecords calls retried after other errors.
    READ_RETRIES = "kinesink_read_retries_total", Counter, ["shard_id"],
        "GetRecords calls retried after other errors";
    /// SubscribeToShard calls of the enhanced fan-out reader.
    SUBSCRIPTIONS = "kinesink_subscriptions_total", Counter, ["shard_id"],
        "SubscribeToShard calls of the enhanced fan-out reader";
    /// CloudWatch Logs `CONTROL_MESSAGE` envelopes dropped by message extraction.
    CLOUDWATCH_LOGS_CONTROL_MESSAGES_DROPPED = "kinesink_cloudwatch_logs_control_messages_dropped_total", Counter, [],
        "CloudWatch Logs CONTROL_MESSAGE envelopes dropped by message extraction (they carry no data)";
    /// CloudWatch Logs `DATA_MESSAGE` envelopes without any log event (nothing to deliver).
    CLOUDWATCH_LOGS_EMPTY_DATA_MESSAGES = "kinesink_cloudwatch_logs_empty_data_messages_total", Counter, [],
        "CloudWatch Logs DATA_MESSAGE envelopes with no log event (nothing to deliver)";
    /// Time spent running the record processors (decompression, CloudWatch Logs extraction,
    /// transform), summed over non-empty batches (Firehose `ExecuteProcessing.Duration`; divide
    /// by `EXECUTE_PROCESSING_SUCCESS` for the mean per batch).
    EXECUTE_PROCESSING_MICROSECONDS = "kinesink_execute_processing_microseconds_total", Counter, [],
        "microseconds spent in the record processors, summed over non-empty batches (ExecuteProcessing.Duration)";
    /// Non-empty batches run through the record processors (Firehose `ExecuteProcessing.Success`).
    EXECUTE_PROCESSING_SUCCESS = "kinesink_execute_processing_success_total", Counter, [],
        "non-empty batches run through the record processors (ExecuteProcessing.Success)";
    /// Records the record processors delivered onwards (Firehose `SucceedProcessing.Records`).
    SUCCEED_PROCESSING_RECORDS = "kinesink_succeed_processing_records_total", Counter, [],
        "records the record processors passed on (SucceedProcessing.Records)";
    /// Bytes of those records (Firehose `SucceedProcessing.Bytes`).
    SUCCEED_PROCESSING_BYTES = "kinesink_succeed_processing_bytes_total", Counter, [],
        "bytes of the records the record processors passed on (SucceedProcessing.Bytes)";
    /// Records `processing.transform` dropped (the program had no output for them).
    TRANSFORM_DROPPED = "kinesink_transform_dropped_records_total", Counter, [],
        "records processing.transform dropped (no output)";
    /// Lambda processor invocations (batches; retries not counted again).
    LAMBDA_INVOCATIONS = "kinesink_lambda_invocations_total", Counter, [],
        "Lambda processor invocations, one per batch however many attempts it took";
    /// Time spent invoking the Lambda processor, retries and their waits included (Firehose
    /// `ExecuteProcessing.Duration` of a Lambda processor).
    LAMBDA_EXECUTE_PROCESSING_MICROSECONDS = "kinesink_lambda_execute_processing_microseconds_total", Counter, [],
        "microseconds spent invoking the Lambda processor, retries included (ExecuteProcessing.Duration)";
    /// Lambda invocations that got a response (Firehose `ExecuteProcessing.Success`).
    LAMBDA_EXECUTE_PROCESSING_SUCCESS = "kinesink_lambda_execute_processing_success_total", Counter, [],
        "Lambda invocations that got a response (ExecuteProcessing.Success)";
    /// Failed Lambda attempts that were retried (throttling, 5xx, timeouts, function errors).
    LAMBDA_RETRIES = "kinesink_lambda_retries_total", Counter, [],
        "failed Lambda attempts that were retried (throttling, 5xx, timeouts, function errors)";
    /// Records the Lambda function returned `Ok` (Firehose `SucceedProcessing.Records`).
    LAMBDA_SUCCEED_PROCESSING_RECORDS = "kinesink_lambda_succeed_processing_records_total", Counter, [],
        "records the Lambda function returned Ok (SucceedProcessing.Records)";
    /// Bytes of those records, as returned (Firehose `SucceedProcessing.Bytes`).
    LAMBDA_SUCCEED_PROCESSING_BYTES = "kinesink_lambda_succeed_processing_bytes_total", Counter, [],
        "bytes of the records the Lambda function returned Ok (SucceedProcessing.Bytes)";
    /// Records the Lambda function returned `Dropped`.
    LAMBDA_DROPPED = "kinesink_lambda_dropped_records_total", Counter, [],
        "records the Lambda function returned Dropped";
    /// Records of the Lambda processor sent to the error output (`processing-failed`).
    LAMBDA_FAILED = "kinesink_lambda_failed_records_total", Counter, [],
        "records of the Lambda processor sent to processing-failed (bad responses, ProcessingFailed, spent retries)";
    /// Bytes held by all buffers of the worker (against `memory_budget_mib`).
    BUFFERED_BYTES = "kinesink_buffered_bytes", Gauge, [],
        "bytes held by all buffers of the worker (against memory_budget_mib)";
    /// Row-group compactions caused by the memory budget.
    MEMORY_BUDGET_COMPACTIONS = "kinesink_memory_budget_compactions_total", Counter, [],
        "row-group compactions caused by the memory budget";
    /// Early flushes caused by the memory budget.
    MEMORY_BUDGET_FLUSHES = "kinesink_memory_budget_flushes_total", Counter, [],
        "early flushes caused by the memory budget";
    /// Reader pauses caused by the memory budget.
    READER_PAUSES = "kinesink_reader_pauses_total", Counter, [],
        "reader pauses caused by the memory budget";
    /// Held shards without progress for `processing.stall_timeout_s`.
    STALLED_SHARDS = "kinesink_stalled_shards", Gauge, [],
        "held shards without progress for processing.stall_timeout_s";
    /// 1 while the worker reports ready on `/readyz`, 0 while it does not (the lease table does
    /// not answer, a held shard stalled, or the destination refuses writes); read at each scrape.
    WORKER_READY = "kinesink_worker_ready", Gauge, [],
        "1 while /readyz answers ready, 0 while it answers 503 (read at each scrape)";
    /// Snapshots committed to the Iceberg table (fast appends carrying shard positions).
    ICEBERG_COMMITS = "kinesink_iceberg_commits_total", Counter, ["table"],
        "snapshots committed to the Iceberg table (fast appends carrying shard positions)";
    /// Iceberg commits that lost the catalog's compare-and-swap after iceberg-rust's own
    /// retries (the table is reloaded and the commit made again).
    ICEBERG_COMMIT_CONFLICTS = "kinesink_iceberg_commit_conflicts_total", Counter, ["table"],
        "Iceberg commits that lost the catalog's swap after retries (reloaded and made again)";
    /// Iceberg commits the position fence refused: the table held other positions for a shard
    /// (a zombie's commit, a successor's, or an earlier commit of ours whose answer was lost).
    ICEBERG_COMMITS_FENCED = "kinesink_iceberg_commits_fenced_total", Counter, ["table"],
        "Iceberg commits refused by the shard-position fence (zombie, successor, or a lost answer)";
    /// Iceberg commits that failed (catalog or storage errors, unknown outcomes).
    ICEBERG_COMMIT_FAILURES = "kinesink_iceberg_commit_failures_total", Counter, ["table"],
        "Iceberg commits that failed with a catalog or storage error, or whose outcome was unknown";
    /// Data files added to the Iceberg table by applied commits.
    ICEBERG_COMMITTED_FILES = "kinesink_iceberg_committed_files_total", Counter, ["table"],
        "data files added to the Iceberg table";
    /// Records in those files.
    ICEBERG_COMMITTED_RECORDS = "kinesink_iceberg_committed_records_total", Counter, ["table"],
        "records in the data files added to the Iceberg table";
    /// Bytes of those files.
    ICEBERG_COMMITTED_BYTES = "kinesink_iceberg_committed_bytes_total", Counter, ["table"],
        "bytes of the data files added to the Iceberg table";
    /// Microseconds spent in Iceberg commit calls (divide by the commits for the mean latency).
    ICEBERG_COMMIT_MICROSECONDS = "kinesink_iceberg_commit_microseconds_total", Counter, ["table"],
        "microseconds spent in Iceberg commit calls, applied or not";
    /// Duration of the last Iceberg commit call.
    ICEBERG_LAST_COMMIT_SECONDS = "kinesink_iceberg_last_commit_duration_seconds", Gauge, ["table"],
        "duration of the last Iceberg commit call";
}

/// Gives every metric its description (`# HELP` in Prometheus's text format). Call once, after
/// installing the recorder.
pub fn describe_all() {
    for m in ALL {
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, m.help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_counters_end_in_total() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a name is listed twice");
        for m in ALL {
            assert!(m.name.starts_with("kinesink_"), "{}", m.name);
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                m.name
            );
            assert!(!m.help.is_empty(), "{} has no description", m.name);
        }
    }
}
