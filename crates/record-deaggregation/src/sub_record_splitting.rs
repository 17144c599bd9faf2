//! Firehose's multi-record deaggregation (`RecordDeAggregation`): one user record holding several
//! sub-records, JSON objects or delimited pieces, becomes several user records.
//!
//! How split sub-records are numbered: [`SUB_RECORD_POSITIONS_PER_USER_RECORD`].

use std::ops::Range;

use kinesink_sequence_position::SequencePosition;

use crate::error_codes;
use crate::{UserRecord, delimited_sub_records, json_sub_records};

/// Most sub-records delivered from one record, as Firehose caps its `RecordDeAggregation`.
pub const MAX_SUB_RECORDS: usize = 500;

/// Sub-sequence numbers reserved for the sub-records of one user record.
///
/// Delivery identifies and orders records by their position (sequence number, sub-sequence
/// number: [`UserRecord::position`]). A split
/// sub-record keeps its parent's sequence number and gets the sub-sequence number
///
/// ```text
/// parent.sub_sequence_number * SUB_RECORD_POSITIONS_PER_USER_RECORD + position
/// ```
///
/// where `position` is `0..MAX_SUB_RECORDS` for the delivered sub-records and `MAX_SUB_RECORDS`
/// for the overflow failure (the reserve is larger than [`MAX_SUB_RECORDS`] so the overflow has a
/// position of its own). With 1000 positions per user record the decimal number reads directly:
/// sub-sequence `12003` is sub-record 3 of KPL user record 12, and a plain record's sub-records
/// are `0, 1, 2, ...`.
///
/// Guarantees: positions are unique within a shard and keep the shard's order, and the position
/// (sequence number, sub-sequence number) stays the whole identity, so no new field is needed.
/// Consequence: with splitting on, sub-sequence numbers are no longer KPL's `0..n`; a position
/// recorded in the middle of a Kinesis record under one splitting mode must not be compared with
/// positions made under another mode.
pub const SUB_RECORD_POSITIONS_PER_USER_RECORD: u64 = 1000;

/// How sub-records are laid out in a record (Firehose's `SubRecordType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubRecordFormat {
    /// Concatenated JSON objects, `{..}{..}`, or separated by newlines (JSON Lines). Any JSON
    /// whitespace between objects is accepted. A top-level value that is not an object (an
    /// array, for instance) makes the record fail.
    Json,
    /// Pieces separated by a delimiter (Firehose's `Delimiter`, given base64 in configuration).
    Delimited(Delimiter),
}

/// A non-empty delimiter for [`SubRecordFormat::Delimited`].
///
/// Guarantees: never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiter(Vec<u8>);

impl Delimiter {
    /// A delimiter made of these bytes (already base64-decoded).
    ///
    /// # Errors
    ///
    /// [`EmptyDelimiter`] when `bytes` is empty.
    pub fn new(bytes: Vec<u8>) -> Result<Self, EmptyDelimiter> {
        if bytes.is_empty() {
            Err(EmptyDelimiter)
        } else {
            Ok(Self(bytes))
        }
    }

    /// The delimiter's bytes (never empty).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An empty delimiter was given: it would split nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sub-record delimiter is empty")]
pub struct EmptyDelimiter;

/// The result of splitting one user record.
///
/// Guarantees: at least one of `sub_records` and `failures` is non-empty; `sub_records` has at
/// most [`MAX_SUB_RECORDS`] entries and `failures` at most one; taken in order of sub-sequence
/// number they carry the input's bytes in order, none twice, leaving out only JSON whitespace
/// between objects and delimiters between delivered sub-records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitOutcome {
    /// The sub-records to deliver, in order.
    pub sub_records: Vec<UserRecord>,
    /// What goes to the error output instead.
    pub failures: Vec<SplitFailure>,
}

/// Bytes of a record that were not delivered as sub-records.
///
/// Guarantees: `record.data` holds the raw bytes: the whole input record for a record that cannot
/// be split, or everything from the first undelivered sub-record to the end for
/// [`SplitDefect::TooManySubRecords`]. `record` keeps the parent's keys, sequence number and
/// arrival time; its sub-sequence number is its position (see [`SUB_RECORD_POSITIONS_PER_USER_RECORD`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {} was not split: {defect}", .record.position)]
pub struct SplitFailure {
    /// The raw bytes and where they came from.
    pub record: UserRecord,
    /// Why they were not delivered.
    pub defect: SplitDefect,
}

impl SplitFailure {
    /// The error code for the error output: [`error_codes::RECORD_DEAGGREGATION_LIMIT_EXCEEDED`]
    /// for the overflow, [`error_codes::RECORD_DEAGGREGATION_FAILED`] otherwise.
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        match self.defect {
            SplitDefect::TooManySubRecords { .. } => {
                error_codes::RECORD_DEAGGREGATION_LIMIT_EXCEEDED
            }
            _ => error_codes::RECORD_DEAGGREGATION_FAILED,
        }
    }

    /// A one-line human-readable reason, for the error output's `errorMessage`.
    #[must_use]
    pub fn reason(&self) -> String {
        self.defect.to_string()
    }
}

/// Why bytes of a record were not delivered as sub-records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitDefect {
    /// JSON mode: the record is not UTF-8, so it is not JSON.
    #[error("the record is not UTF-8 (valid up to byte {valid_up_to}), so not JSON")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// JSON mode: the record is not a sequence of JSON values.
    #[error("the record is not a sequence of JSON objects: {message}")]
    InvalidJson {
        /// The JSON parser's message, with line and column.
        message: String,
    },
    /// JSON mode: a top-level value is not an object (arrays are not accepted, as in Firehose).
    #[error("the JSON value at byte {offset} is not an object")]
    NotAnObject {
        /// Where the value starts.
        offset: usize,
    },
    /// The record holds no sub-record: empty, only whitespace (JSON) or only delimiters.
    #[error("the record holds no sub-record")]
    NoSubRecords,
    /// The record holds more than [`MAX_SUB_RECORDS`] sub-records; the first ones were delivered.
    #[error(
        "the record holds {total} sub-records; only the first 500 are delivered, the rest go to the error output"
    )]
    TooManySubRecords {
        /// How many sub-records the record holds in all.
        total: usize,
    },
    /// The parent's sub-sequence number is too large to number its sub-records.
    #[error("sub-sequence number {sub_sequence_number} leaves no room to number sub-records")]
    PositionOutOfRange {
        /// The parent's sub-sequence number.
        sub_sequence_number: u64,
    },
}

/// Splits a user record into its sub-records, as Firehose's `RecordDeAggregation` does.
///
/// Guarantees:
/// - Sub-records are delivered in order with their exact bytes: a JSON object from its `{` to its
///   `}`, a delimited piece without delimiters. Whitespace between JSON objects and the
///   delimiters are the only bytes not carried; empty delimited pieces are not sub-records.
/// - Each output keeps the parent's partition key, explicit hash key, sequence number and arrival
///   time, and gets the sub-sequence number described at [`SUB_RECORD_POSITIONS_PER_USER_RECORD`].
/// - A record that cannot be split becomes one [`SplitFailure`] carrying all of its bytes (no
///   partial delivery); the sub-records past [`MAX_SUB_RECORDS`] become one failure carrying the
///   bytes from the first of them to the end.
/// - Nothing is dropped silently and nothing panics, whatever the bytes.
#[must_use]
pub fn split_sub_records(record: UserRecord, format: &SubRecordFormat) -> SplitOutcome {
    let Some(first_position) = record
        .position
        .sub_sequence_number
        .checked_mul(SUB_RECORD_POSITIONS_PER_USER_RECORD)
    else {
        let defect = SplitDefect::PositionOutOfRange {
            sub_sequence_number: record.position.sub_sequence_number,
        };
        return SplitOutcome::failed(record, defect);
    };
    let spans = match format {
        SubRecordFormat::Json => json_sub_records::object_spans(&record.data),
        SubRecordFormat::Delimited(delimiter) => Ok(delimited_sub_records::piece_spans(
            &record.data,
            delimiter.as_bytes(),
        )),
    };
    match spans {
        Err(defect) => SplitOutcome::failed(at_sub_sequence(record, first_position), defect),
        Ok(spans) if spans.is_empty() => SplitOutcome::failed(
            at_sub_sequence(record, first_position),
            SplitDefect::NoSubRecords,
        ),
        Ok(spans) => split_at(record, first_position, &spans),
    }
}

impl SplitOutcome {
    fn failed(record: UserRecord, defect: SplitDefect) -> Self {
        Self {
            sub_records: Vec::new(),
            failures: vec![SplitFailure { record, defect }],
        }
    }
}

/// `record` with its sub-sequence number replaced.
fn at_sub_sequence(mut record: UserRecord, sub_sequence_number: u64) -> UserRecord {
    record.position.sub_sequence_number = sub_sequence_number;
    record
}

fn split_at(record: UserRecord, first_position: u64, spans: &[Range<usize>]) -> SplitOutcome {
    if let [only] = spans
        && *only == (0..record.data.len())
    {
        return SplitOutcome {
            sub_records: vec![at_sub_sequence(record, first_position)],
            failures: Vec::new(),
        };
    }
    let with_data = |data: bytes::Bytes, position: u64| UserRecord {
        data,
        partition_key: record.partition_key.clone(),
        explicit_hash_key: record.explicit_hash_key.clone(),
        position: SequencePosition::new(
            record.position.sequence_number.clone(),
            first_position + position,
        ),
        approximate_arrival_ms: record.approximate_arrival_ms,
    };
    let sub_records = spans
        .iter()
        .take(MAX_SUB_RECORDS)
        .zip(0_u64..)
        .map(|(span, position)| with_data(record.data.slice(span.clone()), position))
        .collect();
    let failures = match spans.get(MAX_SUB_RECORDS) {
        None => Vec::new(),
        Some(first_undelivered) => vec![SplitFailure {
            record: with_data(
                record.data.slice(first_undelivered.start..),
                MAX_SUB_RECORDS as u64,
            ),
            defect: SplitDefect::TooManySubRecords { total: spans.len() },
        }],
    };
    SplitOutcome {
        sub_records,
        failures,
    }
}
