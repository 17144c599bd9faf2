//! Record deaggregation: turns the records read from a Kinesis shard into user records.
//!
//! Owns:
//! - the record types shared by the pipeline ([`KinesisRecord`], [`UserRecord`]);
//! - the KPL aggregated record format, both ways: [`deaggregate`] unpacks an aggregate exactly
//!   like the official libraries (magic `F3 89 9A C2`, protobuf `AggregatedRecord`, trailing MD5)
//!   and [`Aggregator`] packs one;
//! - Firehose's multi-record deaggregation (`RecordDeAggregation`, JSON or DELIMITED sub-records,
//!   at most [`MAX_SUB_RECORDS`] per record): [`split_sub_records`];
//! - the error codes the delivery side writes for what could not be unpacked ([`error_codes`]).
//!
//! Must never: do I/O, read clocks, run async code, depend on AWS SDK types, filter user records
//! (for example by hash-key range), or drop a record silently. Every byte that comes in leaves
//! either as a user record or inside a failure that carries the raw bytes, a reason and an error
//! code, so the delivery side can write it to the error output.

mod delimited_sub_records;
pub mod error_codes;
mod json_sub_records;
mod kpl_aggregation;
mod kpl_deaggregation;
mod kpl_wire_format;
mod md5_digest;
mod sub_record_splitting;

use kinesink_sequence_position::SequencePosition;
pub use kpl_aggregation::{
    Aggregate, AggregationError, AggregationLimits, Aggregator, DEFAULT_MAX_AGGREGATE_BYTES,
    DEFAULT_MAX_AGGREGATE_RECORDS,
};
pub use kpl_deaggregation::{AggregateDefect, DeaggregationFailure, deaggregate};
pub use kpl_wire_format::may_be_aggregate;
#[doc(hidden)]
pub use md5_digest::md5_for_bench;
pub use sub_record_splitting::{
    Delimiter, EmptyDelimiter, MAX_SUB_RECORDS, SUB_RECORD_POSITIONS_PER_USER_RECORD, SplitDefect,
    SplitFailure, SplitOutcome, SubRecordFormat, split_sub_records,
};

/// One record exactly as read from a Kinesis shard (`GetRecords` / `SubscribeToShard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    /// The record's data blob, unchanged.
    pub data: Vec<u8>,
    /// The partition key the producer gave.
    pub partition_key: String,
    /// The sequence number Kinesis assigned (decimal string, up to 128 bits).
    pub sequence_number: String,
    /// Approximate arrival timestamp, milliseconds since the Unix epoch.
    pub approximate_arrival_ms: i64,
}

/// One user record: a plain Kinesis record, or one record unpacked from a KPL aggregate.
///
/// Its [`position`](UserRecord::position) identifies it uniquely within a shard and orders it.
/// After [`split_sub_records`] the sub-sequence number encodes both the KPL position and the
/// position of the sub-record (see [`SUB_RECORD_POSITIONS_PER_USER_RECORD`]); the position still
/// identifies and orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's data (a slice of the aggregate it came from: no copy).
    pub data: bytes::Bytes,
    /// The user record's partition key.
    pub partition_key: String,
    /// The explicit hash key, when the producer set one.
    pub explicit_hash_key: Option<String>,
    /// The sequence number of the Kinesis record that carried it (shared by all user records
    /// of one aggregate: cloning the position copies no bytes) and the sub-sequence number: its
    /// place within its parent aggregate (0 for a record that was not aggregated).
    pub position: SequencePosition,
    /// The parent Kinesis record's approximate arrival timestamp, ms since the Unix epoch.
    pub approximate_arrival_ms: i64,
}

impl UserRecord {
    /// The user record for a Kinesis record that is not an aggregate: same bytes, sub-sequence 0.
    #[must_use]
    pub fn from_plain(record: KinesisRecord) -> Self {
        Self {
            data: bytes::Bytes::from(record.data),
            partition_key: record.partition_key,
            explicit_hash_key: None,
            position: SequencePosition::new(record.sequence_number, 0),
            approximate_arrival_ms: record.approximate_arrival_ms,
        }
    }
}
