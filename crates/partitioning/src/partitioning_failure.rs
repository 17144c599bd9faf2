//! Why a record's partition keys could not be extracted.

use crate::error_codes;
use crate::query_budget::BudgetLimit;

/// Most partition keys one record may have, as Firehose.
pub const MAX_PARTITION_KEYS: usize = 50;

/// A record whose partition keys could not be extracted. The record goes to the error output
/// (never dropped); the raw bytes stay with the caller.
///
/// Guarantees: [`PartitioningFailure::error_code`] is always
/// [`error_codes::METADATA_EXTRACTION_FAILED`]; the message ([`std::fmt::Display`]) starts with
/// Firehose's own message where Firehose has one ("partitionKeys values must not be null or
/// empty", "Non JSON record provided").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PartitioningFailure {
    reason: FailureReason,
}

/// The reason of a [`PartitioningFailure`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The record is not one JSON value.
    #[error("Non JSON record provided ({detail})")]
    NotJson {
        /// What the JSON parser reported.
        detail: String,
    },
    /// A key is null (or missing from the record) or the empty string.
    #[error("partitionKeys values must not be null or empty (key `{key}` is {})", if *.null { "null or missing" } else { "empty" })]
    NullOrEmpty {
        /// The key's name.
        key: String,
        /// `true` when null or missing, `false` when the empty string.
        null: bool,
    },
    /// A key is an array or object.
    #[error(
        "partition key `{key}` is {found}; partitionKeys values must be strings, numbers or booleans"
    )]
    NotScalar {
        /// The key's name.
        key: String,
        /// `an array` or `an object`.
        found: &'static str,
    },
    /// A key is a number that is not finite (NaN or infinity, from jq arithmetic).
    #[error("partition key `{key}` is not a finite number")]
    NotFinite {
        /// The key's name.
        key: String,
    },
    /// The query failed on this record (for example `.a.b` where `.a` is a string).
    #[error("the metadata extraction query failed: {message}")]
    QueryFailed {
        /// The jq error.
        message: String,
    },
    /// The query's evaluation on this record passed its [`crate::QueryBudget`] and was stopped.
    #[error("the metadata extraction query was stopped: {limit} (the budget of one record)")]
    BudgetExceeded {
        /// The limit it passed.
        limit: BudgetLimit,
    },
    /// The query's output is not exactly one object with string names.
    #[error(
        "the metadata extraction query must output exactly one object with string keys; it output {found}"
    )]
    NotOneObject {
        /// What it output instead (`nothing`, `several values`, `a string`, ...).
        found: String,
    },
    /// The query output more than [`MAX_PARTITION_KEYS`] keys.
    #[error(
        "the metadata extraction query output {count} partition keys; at most {MAX_PARTITION_KEYS} are allowed"
    )]
    TooManyKeys {
        /// How many it output.
        count: usize,
    },
}

impl PartitioningFailure {
    /// A failure for `reason`.
    #[must_use]
    pub fn new(reason: FailureReason) -> Self {
        Self { reason }
    }

    /// Why the record failed.
    #[must_use]
    pub fn reason(&self) -> &FailureReason {
        &self.reason
    }

    /// The error output's `errorCode`: always [`error_codes::METADATA_EXTRACTION_FAILED`].
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        error_codes::METADATA_EXTRACTION_FAILED
    }

    /// The `!{firehose:error-output-type}` value for this failure:
    /// [`error_codes::METADATA_EXTRACTION_FAILED_OUTPUT_TYPE`].
    #[must_use]
    pub fn error_output_type(&self) -> &'static str {
        error_codes::METADATA_EXTRACTION_FAILED_OUTPUT_TYPE
    }
}

impl From<FailureReason> for PartitioningFailure {
    fn from(reason: FailureReason) -> Self {
        Self::new(reason)
    }
}
