//! The `errorCode` strings and `!{firehose:error-output-type}` values the delivery side writes
//! for records this crate could not partition.
//!
//! Guarantees: the values are stable; they are part of the error output's format.

/// A record whose partition keys could not be extracted: not JSON, a key null, empty or not a
/// scalar, the query failing or not producing one object ([`crate::PartitioningFailure`]).
/// Firehose's own code for these failures.
pub const METADATA_EXTRACTION_FAILED: &str = "DynamicPartitioning.MetadataExtractionFailed";

/// A record whose prefix could not be evaluated: a key the prefix names is missing from the
/// record's keys, or the evaluated prefix is longer than 512 characters
/// ([`crate::EvaluateError`]). Firehose publishes no code for this; this one is kinesink's own,
/// in the same `Area.Reason` style.
pub const PREFIX_EVALUATION_FAILED: &str = "DynamicPartitioning.PrefixEvaluationFailed";

/// The `!{firehose:error-output-type}` value for [`METADATA_EXTRACTION_FAILED`] records.
/// Firehose's documentation lists `processing-failed`, `format-conversion-failed`, ... but not
/// this one; Firehose users report their metadata extraction failures under
/// `.../metadata-extraction-failed/`, so kinesink writes the same.
pub const METADATA_EXTRACTION_FAILED_OUTPUT_TYPE: &str = "metadata-extraction-failed";

/// The `!{firehose:error-output-type}` value for records that failed before partitioning
/// (deaggregation, splitting), as Firehose documents it.
pub const PROCESSING_FAILED_OUTPUT_TYPE: &str = "processing-failed";

/// A record `processing.transform` could not transform: not JSON, the program failed on it, or
/// passed its budget (the message says which). kinesink's own code, in Firehose's
/// `Area.Reason` style; the record goes to `processing-failed`.
pub const TRANSFORM_FAILED: &str = "Transform.Failed";
