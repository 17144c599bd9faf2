//! Unpacking one Kinesis record into its user records, as the official KPL deaggregators do,
//! except that a damaged aggregate is returned as a failure instead of being dropped.

use bytes::Bytes;
use kinesink_sequence_position::SequencePosition;
use prost::Message;

use crate::error_codes;
use crate::kpl_wire_format::{AggregatedRecord, Record, aggregate_protobuf_range};
use crate::{KinesisRecord, UserRecord};

/// Unpacks a Kinesis record into the user records it carries.
///
/// Guarantees:
/// - A record that is not a KPL aggregate (shorter than magic + MD5, wrong magic, or an MD5 that
///   does not match) comes back unchanged as one user record with sub-sequence number 0, as
///   [`UserRecord::from_plain`] makes it: the official behaviour.
/// - An aggregate comes back as its user records in order, with sub-sequence numbers `0..n`, each
///   with its own data, partition key and explicit hash key, and the parent's sequence number
///   and approximate arrival timestamp.
/// - Nothing is filtered: every user record is returned whatever its hash key.
/// - An aggregate with the right magic and MD5 that cannot be unpacked (undecodable protobuf,
///   a missing required field, a key index out of range, no user records at all) is returned as
///   a [`DeaggregationFailure`] carrying the untouched Kinesis record; no partial result.
/// - Never panics, whatever the bytes.
///
/// # Errors
///
/// [`DeaggregationFailure`] as described above.
pub fn deaggregate(record: KinesisRecord) -> Result<Vec<UserRecord>, DeaggregationFailure> {
    let Some(protobuf_range) = aggregate_protobuf_range(&record.data) else {
        return Ok(vec![UserRecord::from_plain(record)]);
    };
    let KinesisRecord {
        data,
        partition_key,
        sequence_number,
        approximate_arrival_ms,
    } = record;
    // Decoding from `Bytes` lets every user record's data be a slice of this one buffer.
    let framed = Bytes::from(data);
    let parent = Parent {
        sequence_number: std::sync::Arc::from(sequence_number.as_str()),
        approximate_arrival_ms,
    };
    match unpack(framed.slice(protobuf_range), &parent) {
        Ok(user_records) => Ok(user_records),
        Err(defect) => Err(DeaggregationFailure {
            record: KinesisRecord {
                data: Vec::from(framed),
                partition_key,
                sequence_number,
                approximate_arrival_ms,
            },
            defect,
        }),
    }
}

/// What every user record inherits from the Kinesis record that carried it.
struct Parent {
    sequence_number: std::sync::Arc<str>,
    approximate_arrival_ms: i64,
}

/// A user record whose indexes and required fields were checked: positions into the key tables.
struct CheckedRecord {
    partition_key: usize,
    explicit_hash_key: Option<usize>,
    data: Bytes,
}

fn unpack(protobuf: Bytes, parent: &Parent) -> Result<Vec<UserRecord>, AggregateDefect> {
    let AggregatedRecord {
        partition_key_table,
        explicit_hash_key_table,
        records,
    } = AggregatedRecord::decode(protobuf).map_err(|error| AggregateDefect::Undecodable {
        message: error.to_string(),
    })?;
    if records.is_empty() {
        return Err(AggregateDefect::NoUserRecords);
    }
    let mut partition_keys = KeyTable::new(partition_key_table);
    let mut explicit_hash_keys = KeyTable::new(explicit_hash_key_table);
    let mut checked = Vec::with_capacity(records.len());
    for (record, sub_sequence_number) in records.into_iter().zip(0_u64..) {
        checked.push(check(
            record,
            sub_sequence_number,
            &mut partition_keys,
            &mut explicit_hash_keys,
        )?);
    }
    let user_records = checked
        .into_iter()
        .zip(0_u64..)
        .map(|(record, sub_sequence_number)| UserRecord {
            data: record.data,
            partition_key: partition_keys.take_use(record.partition_key),
            explicit_hash_key: record
                .explicit_hash_key
                .map(|position| explicit_hash_keys.take_use(position)),
            position: SequencePosition::new(
                std::sync::Arc::clone(&parent.sequence_number),
                sub_sequence_number,
            ),
            approximate_arrival_ms: parent.approximate_arrival_ms,
        })
        .collect();
    Ok(user_records)
}

fn check(
    record: Record,
    sub_sequence_number: u64,
    partition_keys: &mut KeyTable,
    explicit_hash_keys: &mut KeyTable,
) -> Result<CheckedRecord, AggregateDefect> {
    let Record {
        partition_key_index,
        explicit_hash_key_index,
        data,
        tags,
    } = record;
    let index = partition_key_index.ok_or(AggregateDefect::MissingPartitionKeyIndex {
        sub_sequence_number,
    })?;
    let partition_key =
        partition_keys
            .add_use(index)
            .ok_or(AggregateDefect::PartitionKeyIndexOutOfRange {
                sub_sequence_number,
                index,
                table_len: partition_keys.len(),
            })?;
    let explicit_hash_key = match explicit_hash_key_index {
        None => None,
        Some(index) => Some(explicit_hash_keys.add_use(index).ok_or(
            AggregateDefect::ExplicitHashKeyIndexOutOfRange {
                sub_sequence_number,
                index,
                table_len: explicit_hash_keys.len(),
            },
        )?),
    };
    let data = data.ok_or(AggregateDefect::MissingData {
        sub_sequence_number,
    })?;
    if tags.iter().any(|tag| tag.key.is_none()) {
        return Err(AggregateDefect::MissingTagKey {
            sub_sequence_number,
        });
    }
    Ok(CheckedRecord {
        partition_key,
        explicit_hash_key,
        data,
    })
}

/// A decoded key table that counts how many user records use each key, so that the last user
/// takes the string instead of copying it (in typical streams most keys are used once).
struct KeyTable {
    keys: Vec<String>,
    remaining_uses: Vec<usize>,
}

impl KeyTable {
    fn new(keys: Vec<String>) -> Self {
        let remaining_uses = vec![0; keys.len()];
        Self {
            keys,
            remaining_uses,
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Counts one more use of entry `index`; its position, or `None` when out of range.
    fn add_use(&mut self, index: u64) -> Option<usize> {
        let position = usize::try_from(index)
            .ok()
            .filter(|&position| position < self.keys.len())?;
        self.remaining_uses[position] += 1;
        Some(position)
    }

    /// The key at `position` (from [`Self::add_use`]), moved out on its last use.
    fn take_use(&mut self, position: usize) -> String {
        self.remaining_uses[position] -= 1;
        if self.remaining_uses[position] == 0 {
            std::mem::take(&mut self.keys[position])
        } else {
            self.keys[position].clone()
        }
    }
}

/// A Kinesis record framed as a KPL aggregate (right magic, right MD5) that cannot be unpacked.
///
/// Guarantees: `record` is the Kinesis record exactly as it was given to [`deaggregate`], so the
/// delivery side can write its raw bytes to the error output under [`Self::error_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KPL aggregate in Kinesis record {} cannot be unpacked: {defect}", .record.sequence_number)]
pub struct DeaggregationFailure {
    /// The Kinesis record, unchanged.
    pub record: KinesisRecord,
    /// What is wrong with the aggregate.
    pub defect: AggregateDefect,
}

impl DeaggregationFailure {
    /// The error code for the error output: always [`error_codes::DEAGGREGATION_FAILED`].
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        error_codes::DEAGGREGATION_FAILED
    }

    /// A one-line human-readable reason, for the error output's `errorMessage`.
    #[must_use]
    pub fn reason(&self) -> String {
        self.defect.to_string()
    }
}

/// Why an aggregate with the right magic and MD5 cannot be unpacked.
///
/// Guarantees: its `Display` text is one line that names the offending user record (by
/// sub-sequence number) when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateDefect {
    /// The protobuf `AggregatedRecord` does not decode.
    #[error("the protobuf AggregatedRecord does not decode: {message}")]
    Undecodable {
        /// The protobuf decoder's message.
        message: String,
    },
    /// The aggregate decodes but holds no user record; KPL never writes such an aggregate.
    #[error("the aggregate holds no user records")]
    NoUserRecords,
    /// A user record lacks its required `partition_key_index`.
    #[error("user record {sub_sequence_number} has no partition key index")]
    MissingPartitionKeyIndex {
        /// The user record's position in the aggregate.
        sub_sequence_number: u64,
    },
    /// A user record lacks its required `data`.
    #[error("user record {sub_sequence_number} has no data field")]
    MissingData {
        /// The user record's position in the aggregate.
        sub_sequence_number: u64,
    },
    /// A user record has a tag without its required key.
    #[error("user record {sub_sequence_number} has a tag without a key")]
    MissingTagKey {
        /// The user record's position in the aggregate.
        sub_sequence_number: u64,
    },
    /// A user record's partition key index points past the partition key table.
    #[error(
        "user record {sub_sequence_number} has partition key index {index} but the table has {table_len} keys"
    )]
    PartitionKeyIndexOutOfRange {
        /// The user record's position in the aggregate.
        sub_sequence_number: u64,
        /// The index it gives.
        index: u64,
        /// The number of entries in the partition key table.
        table_len: usize,
    },
    /// A user record's explicit hash key index points past the explicit hash key table.
    #[error(
        "user record {sub_sequence_number} has explicit hash key index {index} but the table has {table_len} keys"
    )]
    ExplicitHashKeyIndexOutOfRange {
        /// The user record's position in the aggregate.
        sub_sequence_number: u64,
        /// The index it gives.
        index: u64,
        /// The number of entries in the explicit hash key table.
        table_len: usize,
    },
}
