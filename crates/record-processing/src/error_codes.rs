//! The `errorCode` strings and `!{firehose:error-output-type}` values of records the
//! processors could not process. Stable: they are part of the error output's format.

/// A record that does not decompress (not gzip, truncated, corrupt, or larger than
/// [`crate::MAX_DECOMPRESSED_BYTES`] decompressed).
pub const DECOMPRESSION_FAILED: &str = "Decompression.Failed";

/// The `!{firehose:error-output-type}` of [`DECOMPRESSION_FAILED`] records (Firehose writes
/// the record's compressed bytes as `rawData` under this type).
pub const DECOMPRESSION_FAILED_OUTPUT_TYPE: &str = "decompression-failed";

/// A record that is not a CloudWatch Logs subscription envelope (goes to `processing-failed`).
pub const CLOUDWATCH_LOGS_INVALID_ENVELOPE: &str = "CloudWatchLogs.InvalidEnvelope";
