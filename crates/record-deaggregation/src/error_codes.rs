//! The `errorCode` strings the delivery side writes to the error output for records this crate
//! could not unpack.
//!
//! Guarantees: the values are stable; they are part of the error output's format. The KPL code is
//! the one the delivery issue names. Firehose publishes no codes for its `RecordDeAggregation`
//! processor, so the two splitting codes are kinesink's own, named in the same `Area.Reason`
//! style as Firehose's codes.

/// A KPL aggregate with the right magic and MD5 that cannot be unpacked
/// ([`crate::DeaggregationFailure`]).
pub const DEAGGREGATION_FAILED: &str = "Deaggregation.Failed";

/// A record that cannot be split into sub-records: malformed JSON, a JSON value that is not an
/// object, a record that is not UTF-8 in JSON mode, or a record with no sub-record at all
/// ([`crate::SplitDefect`] other than the overflow).
pub const RECORD_DEAGGREGATION_FAILED: &str = "RecordDeAggregation.Failed";

/// The sub-records of a record beyond the first [`crate::MAX_SUB_RECORDS`], sent to the error
/// output together as one failure ([`crate::SplitDefect::TooManySubRecords`]).
pub const RECORD_DEAGGREGATION_LIMIT_EXCEEDED: &str = "RecordDeAggregation.SubRecordLimitExceeded";
