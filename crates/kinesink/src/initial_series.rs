//! The series `/metrics` shows from start-up, at zero: every counter without labels, and the
//! error-record counter of each error-output type.
//!
//! A counter that only appears once it first counts has no series before that, so a query such
//! as `rate(kinesink_destination_refusals_total[5m])` returns nothing (not 0) on a healthy
//! worker, and a dashboard panel or an alert cannot tell "none" from "not scraped". Series
//! whose labels are only known later are registered where they become known: the per-shard
//! read retries and throttles when the shard's reader starts, the Iceberg counters of a table
//! at its first commit step.

use kinesink_metric_names::{ALL, ERROR_RECORDS, MetricKind};

/// Every `!{firehose:error-output-type}` a record can be written under.
pub(crate) const ERROR_OUTPUT_TYPES: &[&str] = &[
    kinesink_partitioning::error_codes::PROCESSING_FAILED_OUTPUT_TYPE,
    kinesink_partitioning::error_codes::METADATA_EXTRACTION_FAILED_OUTPUT_TYPE,
    kinesink_parquet_writer::FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
    kinesink_record_processing::error_codes::DECOMPRESSION_FAILED_OUTPUT_TYPE,
    kinesink_delivery::ACTIVE_PARTITION_EXCEEDED,
];

/// Registers the series above at zero with the installed recorder (call once, after installing
/// it; registering never changes a value).
pub(crate) fn register() {
    for metric in ALL {
        if metric.kind == MetricKind::Counter && metric.labels.is_empty() {
            metrics::counter!(metric.name).increment(0);
        }
    }
    for output_type in ERROR_OUTPUT_TYPES {
        metrics::counter!(ERROR_RECORDS, "error_output_type" => *output_type).increment(0);
    }
}
