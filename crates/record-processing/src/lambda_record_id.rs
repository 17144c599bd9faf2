//! The `recordId` of a record sent to the Lambda function: derived from where the record sits in
//! its shard, so a replay sends every record under the same id.
//!
//! Format: `<sequence number>-<sub-sequence number>-<index>`, e.g. `4954…5154-0-0`, where the
//! index counts the records that share one position (the log events of one CloudWatch Logs
//! envelope, the outputs of one jq transform), from 0, in the order they come. The shard is not
//! part of it: a batch only ever holds records of one shard (its id is in each record's
//! `kinesisRecordMetadata.shardId`), and within a shard the position and index already make the
//! id unique. Firehose's own ids are digits only (the sequence number and six more digits);
//! functions must treat the id as opaque and echo it, which AWS's status model requires.

use std::fmt;

use kinesink_sequence_position::{SequencePosition, is_sequence_number};

/// A record's `recordId`.
///
/// Guarantees: the same (position, index) always gives the same id, and two different
/// (sequence number as written, sub-sequence, index) triples never give the same id; the id is
/// ASCII digits and `-` only, so it needs no escaping in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(String);

impl RecordId {
    /// The id of the `index`-th record (from 0) at `position`.
    #[must_use]
    pub fn new(position: &SequencePosition, index: u32) -> Self {
        Self(format!(
            "{}-{}-{}",
            position.sequence_number, position.sub_sequence_number, index
        ))
    }

    /// The id as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads an id back into its position and index; `None` for text this module never makes
    /// (a function's invented id, for instance).
    #[must_use]
    pub fn parse(text: &str) -> Option<(SequencePosition, u32)> {
        let mut parts = text.split('-');
        let (sequence, sub, index) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !is_sequence_number(sequence) {
            return None;
        }
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !plain(sub) || !plain(index) {
            return None;
        }
        Some((
            SequencePosition::new(sequence, sub.parse().ok()?),
            index.parse().ok()?,
        ))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_the_position_and_the_index_and_reads_back() {
        let position = SequencePosition::new(
            "49546986683135544286507457936321625675700192471156785154",
            3,
        );
        let id = RecordId::new(&position, 2);
        assert_eq!(
            id.as_str(),
            "49546986683135544286507457936321625675700192471156785154-3-2"
        );
        let (back, index) = RecordId::parse(id.as_str()).unwrap();
        assert_eq!(
            (
                back.sequence_number.as_ref(),
                back.sub_sequence_number,
                index
            ),
            (position.sequence_number.as_ref(), 3, 2)
        );
    }

    #[test]
    fn text_this_module_never_makes_does_not_parse() {
        for text in [
            "",
            "record1",
            "1-2",
            "1-2-3-4",
            "a-1-1",
            "1--1",
            "1-1-",
            "1-1-99999999999",
        ] {
            assert_eq!(RecordId::parse(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ids_round_trip_and_differ_when_positions_or_indexes_differ(
            a in ("[0-9]{1,60}", proptest::num::u64::ANY, proptest::num::u32::ANY),
            b in ("[0-9]{1,60}", proptest::num::u64::ANY, proptest::num::u32::ANY),
        ) {
            let id_a = RecordId::new(&SequencePosition::new(a.0.as_str(), a.1), a.2);
            let id_b = RecordId::new(&SequencePosition::new(b.0.as_str(), b.1), b.2);
            proptest::prop_assert_eq!(id_a == id_b, a == b);
            let (position, index) = RecordId::parse(id_a.as_str()).unwrap();
            proptest::prop_assert_eq!((position.sequence_number.as_ref(), position.sub_sequence_number, index), (a.0.as_str(), a.1, a.2));
        }
    }
}
