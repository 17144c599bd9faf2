//! Where an Iceberg table says each shard is: the snapshot-summary properties kinesink writes
//! with every commit, and how they are read back.
//!
//! Every kinesink commit carries, for each shard it covers, the property
//! `kinesink.<name>.<shard id>` = `<sequence number>/<sub-sequence number>`: the last record of
//! that shard delivered into the table (the shard's *committed position*). `<name>` is the
//! delivery stream's name, so two streams writing one table keep apart.
//!
//! The committed position of a shard is the value of its key in the **newest** snapshot along
//! the main branch that carries the key — not the largest value ever written. Under the commit
//! protocol ([`crate::commit_protocol`]) positions only move forward, so the newest is also the
//! largest (the property test asserts it); should they ever differ, something outside the
//! protocol wrote the table (a snapshot rolled back, a hand-made commit), and the snapshot the
//! table calls current is the only one that says which files the table holds.
//!
//! Pure: no I/O, no Iceberg types (summaries are plain string maps).

use std::collections::{BTreeMap, HashMap};

use kinesink_sequence_position::{SequencePosition, is_sequence_number};

/// Committed positions by shard id, as one table holds them for one delivery stream name.
pub type ShardPositions = BTreeMap<String, SequencePosition>;

/// The snapshot-summary key holding `shard_id`'s committed position for the stream `name`:
/// `kinesink.<name>.<shard id>`.
///
/// Guarantees: [`committed_positions`] finds the value under this key again, provided
/// [`is_usable_shard_id`] holds for `shard_id` (Kinesis shard ids, `shardId-000000000000`,
/// always qualify).
#[must_use]
pub fn summary_key(name: &str, shard_id: &str) -> String {
    format!("kinesink.{name}.{shard_id}")
}

/// Whether `shard_id` can name a summary key: not empty and without `'.'`.
///
/// A stream name may contain dots (`a.b`), so the key of stream `a` for shard `b.x` would be the
/// key of stream `a.b` for shard `x`; refusing dotted shard ids keeps keys unambiguous.
#[must_use]
pub fn is_usable_shard_id(shard_id: &str) -> bool {
    !shard_id.is_empty() && !shard_id.contains('.')
}

/// The shard id of `key` when it is a summary key of the stream `name`, else `None` (keys of
/// other names, of other tools, and Iceberg's own `added-data-files` and so on).
#[must_use]
pub fn shard_of_key<'k>(name: &str, key: &'k str) -> Option<&'k str> {
    let shard = key
        .strip_prefix("kinesink.")?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    is_usable_shard_id(shard).then_some(shard)
}

/// The summary value of a position: `<sequence number>/<sub-sequence number>`, digits as
/// given. Guarantees: [`decode_position`] gives back an equal position.
#[must_use]
pub fn encode_position(position: &SequencePosition) -> String {
    format!(
        "{}/{}",
        position.sequence_number, position.sub_sequence_number
    )
}

/// Why a summary value is not a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionDecodeError {
    /// No `/` between the two numbers.
    #[error("{value:?} is not <sequence number>/<sub-sequence number> (no '/')")]
    MissingSeparator {
        /// The value read.
        value: String,
    },
    /// The part before `/` is not one or more decimal digits.
    #[error("{value:?}: the sequence number before '/' is not decimal digits")]
    BadSequenceNumber {
        /// The value read.
        value: String,
    },
    /// The part after `/` is not a decimal number that fits 64 bits.
    #[error(
        "{value:?}: the sub-sequence number after '/' is not a decimal number of at most 64 bits"
    )]
    BadSubSequenceNumber {
        /// The value read.
        value: String,
    },
}

/// The position a summary value holds.
///
/// # Errors
/// [`PositionDecodeError`] naming what is wrong; never panics, whatever the input.
pub fn decode_position(value: &str) -> Result<SequencePosition, PositionDecodeError> {
    let Some((sequence, sub)) = value.split_once('/') else {
        return Err(PositionDecodeError::MissingSeparator {
            value: value.to_owned(),
        });
    };
    if !is_sequence_number(sequence) {
        return Err(PositionDecodeError::BadSequenceNumber {
            value: value.to_owned(),
        });
    }
    // `u64::from_str` would take a leading '+'; only digits are a sub-sequence number.
    let sub = (!sub.is_empty() && sub.bytes().all(|b| b.is_ascii_digit()))
        .then(|| sub.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| PositionDecodeError::BadSubSequenceNumber {
            value: value.to_owned(),
        })?;
    Ok(SequencePosition::new(sequence, sub))
}

/// The summary properties of a commit that moves the shards of `positions` there.
///
/// Guarantees: [`committed_positions`] of a table whose newest snapshot carries them gives
/// `positions` back (for usable shard ids).
#[must_use]
pub fn summary_properties(name: &str, positions: &ShardPositions) -> HashMap<String, String> {
    positions
        .iter()
        .map(|(shard, position)| (summary_key(name, shard), encode_position(position)))
        .collect()
}

/// A summary key whose value in the snapshot that decides its shard's position is not a
/// position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot summary property {key}: {error}")]
pub struct SummaryValueError {
    /// The property's key.
    pub key: String,
    /// What is wrong with its value.
    #[source]
    pub error: PositionDecodeError,
}

/// The committed position of every shard of the stream `name` in a table, from the snapshot
/// summaries of its main branch, **newest first** (the current snapshot, its parent, ...).
///
/// Guarantees: a shard's position is its value in the newest summary holding its key; keys of
/// other names and other properties are ignored; a shard no summary mentions is absent. Only
/// the deciding value of each shard is decoded: an unreadable one is an error (the table's
/// position for that shard cannot be known), an unreadable older one is not.
///
/// # Errors
/// [`SummaryValueError`] for the first deciding value that is not a position.
pub fn committed_positions<'a>(
    name: &str,
    ancestry: impl IntoIterator<Item = &'a HashMap<String, String>>,
) -> Result<ShardPositions, SummaryValueError> {
    let mut positions = ShardPositions::new();
    for summary in ancestry {
        for (key, value) in summary {
            let Some(shard) = shard_of_key(name, key) else {
                continue;
            };
            if positions.contains_key(shard) {
                continue;
            }
            let position = decode_position(value).map_err(|error| SummaryValueError {
                key: key.clone(),
                error,
            })?;
            positions.insert(shard.to_owned(), position);
        }
    }
    Ok(positions)
}

#[cfg(test)]
mod tests;
