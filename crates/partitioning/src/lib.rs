//! Partitioning: where in the bucket a record's object goes.
//!
//! Owns Firehose's S3 prefix language and dynamic partitioning, as pure functions:
//! - [`PrefixTemplate`]: `Prefix` / `ErrorOutputPrefix` templates (`!{timestamp:...}` with a
//!   Java `DateTimeFormatter` subset in an IANA time zone, `!{firehose:random-string}`,
//!   `!{firehose:error-output-type}`, `!{partitionKeyFromQuery:KEY}`), parsed once with
//!   Firehose's rules and column-precise errors, evaluated per object; [`OutputPrefixes`] for
//!   the rules that tie the two prefixes (no prefix: Firehose's default `YYYY/MM/dd/HH/` UTC);
//! - [`MetadataQuery`]: the jq metadata extraction query (jaq), compiled once, producing
//!   [`PartitionKeys`] per record, or a [`PartitioningFailure`] for the error output; each
//!   record's evaluation is bounded by a [`QueryBudget`] (counted, never timed);
//! - the S3-safe form of key values, so that no value can escape its partition;
//! - the error codes of what cannot be partitioned ([`error_codes`]).
//!
//! Must never: read the wall clock (times are passed in: the oldest record's approximate arrival
//! time, ms since the epoch), read the environment, do I/O, run async code, depend on AWS SDK
//! types, or panic on any record, key value or instant. A record that cannot be partitioned
//! yields a failure with a reason and an error code; the raw bytes stay with the caller, which
//! writes them to the error output.

mod direct_selection;
pub mod error_codes;
#[cfg(test)]
mod fast_path_agreement;
mod jq_number_text;
mod jq_transform;
mod key_escaping;
mod metadata_query;
mod output_prefixes;
mod partition_keys;
mod partitioning_failure;
mod prefix_template;
mod projection_transform;
mod query_budget;
mod query_shape;
mod random_string;
mod streaming_selection;
mod template_syntax;
mod timestamp_pattern;

pub use chrono_tz::Tz;
pub use jq_transform::{JqTransform, TransformError};
pub use metadata_query::{MAX_QUERY_CHARS, MetadataQuery, QueryError};
pub use output_prefixes::{OutputPrefixes, OutputPrefixesError};
pub use partition_keys::PartitionKeys;
pub use partitioning_failure::{FailureReason, MAX_PARTITION_KEYS, PartitioningFailure};
pub use prefix_template::{
    DEFAULT_TIMESTAMP_PATTERN, EvaluateError, MAX_EVALUATED_CHARS, MAX_TEMPLATE_CHARS,
    PrefixInputs, PrefixKind, PrefixTemplate, TemplateError, TemplateErrorReason,
};
pub use query_budget::{BudgetLimit, EVALUATION_STACK_BYTES, QueryBudget};
