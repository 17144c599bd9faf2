//! Packing user records into KPL aggregates: the inverse of [`crate::deaggregate`], for
//! producers (`kinesink produce --aggregate`) and tests.

use std::collections::HashMap;
use std::mem;

use bytes::Bytes;
use prost::encoding;

use crate::kpl_wire_format::{AggregatedRecord, FRAMING_LEN, Record, encode_framed};

/// KPL's default `AggregationMaxSize`: at most this many bytes of aggregate data per record.
pub const DEFAULT_MAX_AGGREGATE_BYTES: usize = 51_200;

/// KPL's default `AggregationMaxCount`: at most this many user records per aggregate.
pub const DEFAULT_MAX_AGGREGATE_RECORDS: usize = 4_294_967_295;

/// Longest partition key Kinesis accepts, in Unicode scalar values.
const MAX_PARTITION_KEY_CHARS: usize = 256;

/// When an aggregate is full.
///
/// Guarantees: [`Default`] gives KPL's defaults ([`DEFAULT_MAX_AGGREGATE_BYTES`],
/// [`DEFAULT_MAX_AGGREGATE_RECORDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregationLimits {
    /// Most bytes of aggregate data (magic + protobuf + MD5) in one aggregate. Kinesis itself
    /// accepts at most 1 MiB of data plus partition key per record.
    pub max_bytes: usize,
    /// Most user records in one aggregate.
    pub max_records: usize,
}

impl Default for AggregationLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_AGGREGATE_BYTES,
            max_records: DEFAULT_MAX_AGGREGATE_RECORDS,
        }
    }
}

/// One finished KPL aggregate, ready to be put to Kinesis as one record.
///
/// Guarantees: `data` is a well-formed KPL aggregate that [`crate::deaggregate`] unpacks into
/// exactly the user records added, in order; `data.len()` is within the aggregator's byte limit
/// and `user_record_count` within its record limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The Kinesis record data: magic, protobuf `AggregatedRecord`, MD5.
    pub data: Vec<u8>,
    /// The partition key to put it with: the first user record's, as KPL does.
    pub partition_key: String,
    /// The explicit hash key to put it with: the first user record's, when it has one.
    pub explicit_hash_key: Option<String>,
    /// How many user records it holds (at least 1).
    pub user_record_count: usize,
}

/// Why a user record or a limit was refused by the [`Aggregator`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregationError {
    /// The limits leave no room for even one user record.
    #[error(
        "aggregation limits allow no record: max_bytes {max_bytes} (framing alone takes {FRAMING_LEN}), max_records {max_records}"
    )]
    InvalidLimits {
        /// The byte limit given.
        max_bytes: usize,
        /// The record limit given.
        max_records: usize,
    },
    /// Kinesis refuses an empty partition key.
    #[error("the partition key is empty")]
    EmptyPartitionKey,
    /// Kinesis refuses partition keys longer than 256 characters.
    #[error("the partition key has {chars} characters, more than Kinesis's 256")]
    PartitionKeyTooLong {
        /// Its length in Unicode scalar values.
        chars: usize,
    },
    /// An explicit hash key must be a decimal integer in `0..2^128`, without leading zeros.
    #[error("explicit hash key {key:?} is not a decimal integer in 0..2^128")]
    InvalidExplicitHashKey {
        /// The key given.
        key: String,
    },
    /// The user record alone makes an aggregate bigger than the byte limit.
    #[error(
        "an aggregate holding only this user record takes {aggregate_len} bytes, over the limit of {max_bytes}"
    )]
    RecordTooLarge {
        /// Bytes of the aggregate that would hold it alone.
        aggregate_len: usize,
        /// The byte limit.
        max_bytes: usize,
    },
}

/// Packs user records into KPL aggregates, in order, each as full as the limits allow.
///
/// Guarantees: every record accepted by [`Aggregator::add`] ends up in exactly one
/// [`Aggregate`], returned either by a later `add` or by [`Aggregator::finish`], in the order
/// added. Partition keys and explicit hash keys are stored once per aggregate, in first-seen
/// order, as the official aggregators do. Records are not grouped by shard: a producer that needs
/// shard affinity keeps one aggregator per shard.
#[derive(Debug)]
pub struct Aggregator {
    limits: AggregationLimits,
    pending: AggregatedRecord,
    partition_key_indexes: HashMap<String, u64>,
    explicit_hash_key_indexes: HashMap<String, u64>,
    protobuf_len: usize,
    /// The partition key and explicit hash key of the pending aggregate's first record.
    first_keys: Option<(String, Option<String>)>,
}

/// Where a user record would go in an aggregate, and how many protobuf bytes it would add.
struct Placement {
    partition_key_index: u64,
    new_partition_key: bool,
    explicit_hash_key_index: Option<u64>,
    new_explicit_hash_key: bool,
    added_len: usize,
}

impl Aggregator {
    /// An empty aggregator with these limits.
    ///
    /// # Errors
    ///
    /// [`AggregationError::InvalidLimits`] when `max_records` is 0 or `max_bytes` leaves no room
    /// past the framing (magic and MD5).
    pub fn new(limits: AggregationLimits) -> Result<Self, AggregationError> {
        if limits.max_records == 0 || limits.max_bytes <= FRAMING_LEN {
            return Err(AggregationError::InvalidLimits {
                max_bytes: limits.max_bytes,
                max_records: limits.max_records,
            });
        }
        Ok(Self {
            limits,
            pending: AggregatedRecord::default(),
            partition_key_indexes: HashMap::new(),
            explicit_hash_key_indexes: HashMap::new(),
            protobuf_len: 0,
            first_keys: None,
        })
    }

    /// The limits this aggregator packs to.
    #[must_use]
    pub fn limits(&self) -> AggregationLimits {
        self.limits
    }

    /// How many user records wait in the aggregate being filled.
    #[must_use]
    pub fn pending_records(&self) -> usize {
        self.pending.records.len()
    }

    /// Adds a user record. When it does not fit in the aggregate being filled, that aggregate is
    /// finished and returned, and the record starts the next one.
    ///
    /// # Errors
    ///
    /// The record is refused, and nothing changes, when Kinesis would refuse its keys
    /// ([`AggregationError::EmptyPartitionKey`], [`AggregationError::PartitionKeyTooLong`],
    /// [`AggregationError::InvalidExplicitHashKey`]) or when it does not fit in an aggregate
    /// even alone ([`AggregationError::RecordTooLarge`]).
    pub fn add(
        &mut self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) -> Result<Option<Aggregate>, AggregationError> {
        check_partition_key(partition_key)?;
        if let Some(key) = explicit_hash_key {
            check_explicit_hash_key(key)?;
        }
        let alone = placement(
            None,
            0,
            partition_key,
            explicit_hash_key.map(|key| (None, 0, key)),
            data,
        );
        let alone_len = FRAMING_LEN + alone.added_len;
        if alone_len > self.limits.max_bytes {
            return Err(AggregationError::RecordTooLarge {
                aggregate_len: alone_len,
                max_bytes: self.limits.max_bytes,
            });
        }
        let here = self.placement_here(partition_key, explicit_hash_key, data);
        let full = self.pending.records.len() >= self.limits.max_records
            || FRAMING_LEN + self.protobuf_len + here.added_len > self.limits.max_bytes;
        if full {
            let finished = self.finish();
            self.push(&alone, partition_key, explicit_hash_key, data);
            Ok(finished)
        } else {
            self.push(&here, partition_key, explicit_hash_key, data);
            Ok(None)
        }
    }

    /// Finishes the aggregate being filled and returns it, or `None` when no record waits.
    /// The aggregator is then empty and ready for more records.
    pub fn finish(&mut self) -> Option<Aggregate> {
        let (partition_key, explicit_hash_key) = self.first_keys.take()?;
        let message = mem::take(&mut self.pending);
        self.partition_key_indexes.clear();
        self.explicit_hash_key_indexes.clear();
        self.protobuf_len = 0;
        Some(Aggregate {
            data: encode_framed(&message),
            partition_key,
            explicit_hash_key,
            user_record_count: message.records.len(),
        })
    }

    fn placement_here(
        &self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) -> Placement {
        placement(
            self.partition_key_indexes.get(partition_key).copied(),
            self.pending.partition_key_table.len() as u64,
            partition_key,
            explicit_hash_key.map(|key| {
                (
                    self.explicit_hash_key_indexes.get(key).copied(),
                    self.pending.explicit_hash_key_table.len() as u64,
                    key,
                )
            }),
            data,
        )
    }

    fn push(
        &mut self,
        at: &Placement,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data: &[u8],
    ) {
        if at.new_partition_key {
            self.pending
                .partition_key_table
                .push(partition_key.to_owned());
            self.partition_key_indexes
                .insert(partition_key.to_owned(), at.partition_key_index);
        }
        if let (true, Some(index), Some(key)) = (
            at.new_explicit_hash_key,
            at.explicit_hash_key_index,
            explicit_hash_key,
        ) {
            self.pending.explicit_hash_key_table.push(key.to_owned());
            self.explicit_hash_key_indexes.insert(key.to_owned(), index);
        }
        self.pending.records.push(Record {
            partition_key_index: Some(at.partition_key_index),
            explicit_hash_key_index: at.explicit_hash_key_index,
            data: Some(Bytes::copy_from_slice(data)),
            tags: Vec::new(),
        });
        self.protobuf_len += at.added_len;
        if self.first_keys.is_none() {
            self.first_keys = Some((
                partition_key.to_owned(),
                explicit_hash_key.map(str::to_owned),
            ));
        }
    }
}

/// Where a record goes given, for each key, its existing index (if any) and the next free index,
/// and the exact number of protobuf bytes it adds (table entries plus the record message).
fn placement(
    existing_partition_key: Option<u64>,
    next_partition_key: u64,
    partition_key: &str,
    explicit_hash_key: Option<(Option<u64>, u64, &str)>,
    data: &[u8],
) -> Placement {
    let mut added_len = 0;
    let partition_key_index = existing_partition_key.unwrap_or_else(|| {
        added_len += length_delimited_len(1, partition_key.len());
        next_partition_key
    });
    let (explicit_hash_key_index, new_explicit_hash_key) = match explicit_hash_key {
        None => (None, false),
        Some((Some(index), _, _)) => (Some(index), false),
        Some((None, next, key)) => {
            added_len += length_delimited_len(2, key.len());
            (Some(next), true)
        }
    };
    let mut record_len = encoding::uint64::encoded_len(1, &partition_key_index)
        + length_delimited_len(3, data.len());
    if let Some(index) = explicit_hash_key_index {
        record_len += encoding::uint64::encoded_len(2, &index);
    }
    added_len += length_delimited_len(3, record_len);
    Placement {
        partition_key_index,
        new_partition_key: existing_partition_key.is_none(),
        explicit_hash_key_index,
        new_explicit_hash_key,
        added_len,
    }
}

/// Encoded length of a length-delimited protobuf field (string, bytes, message) whose payload
/// has `payload_len` bytes, by prost's own key and varint length rules.
fn length_delimited_len(tag: u32, payload_len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(payload_len as u64) + payload_len
}

fn check_partition_key(key: &str) -> Result<(), AggregationError> {
    if key.is_empty() {
        return Err(AggregationError::EmptyPartitionKey);
    }
    let chars = key.chars().count();
    if chars > MAX_PARTITION_KEY_CHARS {
        return Err(AggregationError::PartitionKeyTooLong { chars });
    }
    Ok(())
}

fn check_explicit_hash_key(key: &str) -> Result<(), AggregationError> {
    let digits_only = !key.is_empty() && key.bytes().all(|byte| byte.is_ascii_digit());
    let no_leading_zero = key == "0" || !key.starts_with('0');
    if digits_only && no_leading_zero && key.parse::<u128>().is_ok() {
        Ok(())
    } else {
        Err(AggregationError::InvalidExplicitHashKey {
            key: key.to_owned(),
        })
    }
}
