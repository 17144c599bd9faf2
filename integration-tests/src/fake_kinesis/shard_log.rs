//! One shard's records, addressed by position since the shard began, with an optional retention
//! window that drops the oldest records like the real service's retention period.
//!
//! Positions never move: a record keeps its position after older ones are trimmed, so shard
//! iterators (which carry a position) stay valid; reading from a trimmed position starts at the
//! oldest record kept, as a real iterator past the trim horizon does.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;

use base64::Engine;

/// A record ready to be stored many times without copying its bytes: the feed of the
/// shards-per-worker benchmark appends the same prepared events again and again.
#[derive(Clone, Debug)]
pub struct PreparedRecord {
    partition_key: Arc<str>,
    data_base64: Arc<str>,
    data_len: usize,
}

impl PreparedRecord {
    /// Encodes `data` once (base64, as GetRecords answers it).
    #[must_use]
    pub fn new(partition_key: &str, data: &[u8]) -> Self {
        Self {
            partition_key: partition_key.into(),
            data_base64: base64::engine::general_purpose::STANDARD
                .encode(data)
                .into(),
            data_len: data.len(),
        }
    }

    /// A record whose data arrived base64-encoded (PutRecords); its length is estimated from
    /// the text.
    pub(super) fn from_base64(partition_key: String, data_base64: String) -> Self {
        let data_len = data_base64.len() / 4 * 3;
        Self {
            partition_key: partition_key.into(),
            data_base64: data_base64.into(),
            data_len,
        }
    }

    /// The partition key.
    #[must_use]
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }

    /// Bytes of data (before base64).
    #[must_use]
    pub fn data_len(&self) -> usize {
        self.data_len
    }
}

/// A stored record: a prepared record plus its place in the stream.
#[derive(Debug)]
pub(super) struct StoredRecord {
    /// The stream-wide counter behind the sequence number (see [`sequence_text`]).
    pub(super) sequence: u128,
    pub(super) record: PreparedRecord,
    pub(super) arrival_ms: i64,
}

impl StoredRecord {
    /// Appends this record as a GetRecords JSON object, without allocating.
    pub(super) fn write_json(&self, body: &mut String) {
        body.push_str("{\"SequenceNumber\":\"");
        write_sequence(body, self.sequence);
        let sign = if self.arrival_ms < 0 { "-" } else { "" };
        let ms = self.arrival_ms.unsigned_abs();
        let _ = write!(
            body,
            "\",\"ApproximateArrivalTimestamp\":{sign}{}.{:03},\"Data\":\"",
            ms / 1000,
            ms % 1000
        );
        body.push_str(&self.record.data_base64);
        body.push_str("\",\"PartitionKey\":");
        write_json_string(body, &self.record.partition_key);
        body.push('}');
    }
}

/// The text of the `n`-th sequence number of a stream: 56 decimal digits, increasing with `n`.
pub(super) fn sequence_text(n: u128) -> String {
    let mut text = String::with_capacity(56);
    write_sequence(&mut text, n);
    text
}

fn write_sequence(out: &mut String, n: u128) {
    let _ = write!(out, "49{n:054}");
}

/// The counter behind a sequence number written by [`sequence_text`]; `None` for any other text.
pub(super) fn sequence_counter(text: &str) -> Option<u128> {
    let digits = text.strip_prefix("49")?;
    if digits.len() != 54 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn write_json_string(out: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// A shard's records by position; see the module doc.
#[derive(Debug, Default)]
pub(super) struct ShardLog {
    /// Records dropped from the front: the position of `records[0]`.
    trimmed: usize,
    records: VecDeque<StoredRecord>,
    /// The sequence counter of the newest record ever pushed (kept or trimmed).
    newest_sequence: Option<u128>,
}

impl ShardLog {
    /// The position after the newest record (the LATEST position).
    pub(super) fn end(&self) -> usize {
        self.trimmed + self.records.len()
    }

    /// The oldest position still readable (the TRIM_HORIZON position).
    pub(super) fn start(&self) -> usize {
        self.trimmed
    }

    /// Records kept.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The record at `position`, if it is kept.
    pub(super) fn get(&self, position: usize) -> Option<&StoredRecord> {
        position
            .checked_sub(self.trimmed)
            .and_then(|i| self.records.get(i))
    }

    /// Appends a record at [`end`](Self::end).
    pub(super) fn push(&mut self, record: StoredRecord) {
        self.newest_sequence = Some(record.sequence);
        self.records.push_back(record);
    }

    /// A sequence counter that `AFTER_SEQUENCE_NUMBER` resumes from at `position` exactly: the
    /// record before it if kept, else one less than the record at it, else the newest record
    /// ever pushed, else one less than `first` (the shard's starting sequence counter).
    pub(super) fn sequence_before(&self, position: usize, first: u128) -> u128 {
        if let Some(before) = position.checked_sub(1).and_then(|p| self.get(p)) {
            return before.sequence;
        }
        if let Some(at) = self.get(position) {
            return at.sequence.saturating_sub(1);
        }
        self.newest_sequence
            .unwrap_or_else(|| first.saturating_sub(1))
    }

    /// Drops records that arrived before `oldest_ms`; positions of the others do not change.
    pub(super) fn trim_before(&mut self, oldest_ms: i64) {
        while self
            .records
            .front()
            .is_some_and(|r| r.arrival_ms < oldest_ms)
        {
            self.records.pop_front();
            self.trimmed += 1;
        }
    }

    /// Drops every record (the shard passed the retention period).
    pub(super) fn clear(&mut self) {
        self.trimmed += self.records.len();
        self.records.clear();
    }

    /// The first position whose record does not satisfy `before` (records kept are ordered by
    /// sequence and arrival, so `before` must be true for a prefix of them).
    pub(super) fn position_where(&self, before: impl FnMut(&StoredRecord) -> bool) -> usize {
        self.trimmed + self.records.partition_point(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u128, arrival_ms: i64) -> StoredRecord {
        StoredRecord {
            sequence,
            record: PreparedRecord::new("k", b"x"),
            arrival_ms,
        }
    }

    #[test]
    fn trimming_keeps_positions_and_reads_of_trimmed_positions_find_nothing() {
        let mut log = ShardLog::default();
        for n in 0..5 {
            log.push(record(n, i64::try_from(n).unwrap() * 1000));
        }
        log.trim_before(2000);
        assert_eq!((log.start(), log.end(), log.len()), (2, 5, 3));
        assert!(log.get(1).is_none(), "a trimmed position is gone");
        assert_eq!(log.get(2).map(|r| r.sequence), Some(2));
        assert_eq!(log.position_where(|r| r.sequence < 4), 4);
        log.clear();
        assert_eq!((log.start(), log.end(), log.len()), (5, 5, 0));
    }

    #[test]
    fn the_sequence_before_a_position_resumes_exactly_there_even_when_trimmed_or_empty() {
        let mut log = ShardLog::default();
        assert_eq!(
            log.sequence_before(0, 11),
            10,
            "an empty shard: one before its starting sequence, so AFTER it reads the first record"
        );
        for n in [11, 14, 20] {
            log.push(record(n, i64::try_from(n).unwrap() * 1000));
        }
        assert_eq!(
            log.sequence_before(1, 11),
            11,
            "the record before, when kept"
        );
        log.trim_before(20_000);
        assert_eq!(
            log.sequence_before(2, 11),
            19,
            "one less than the record at it"
        );
        log.clear();
        assert_eq!(log.sequence_before(3, 11), 20, "the newest record pushed");
    }

    #[test]
    fn sequence_numbers_round_trip_and_other_text_is_refused() {
        for n in [0_u128, 1, 99, u128::from(u64::MAX)] {
            let text = sequence_text(n);
            assert_eq!(text.len(), 56);
            assert_eq!(sequence_counter(&text), Some(n));
        }
        assert!(sequence_text(9) < sequence_text(10));
        for bad in ["", "49", "4900", "12345678901234567890", "49x"] {
            assert_eq!(sequence_counter(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn arrival_times_before_the_epoch_keep_their_sign() {
        let stored = StoredRecord {
            sequence: 1,
            record: PreparedRecord::new("k", b""),
            arrival_ms: -5,
        };
        let mut body = String::new();
        stored.write_json(&mut body);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["ApproximateArrivalTimestamp"].as_f64(), Some(-0.005));
    }

    #[test]
    fn a_record_is_written_as_the_get_records_json_the_sdk_parses() {
        let stored = StoredRecord {
            sequence: 7,
            record: PreparedRecord::new("key \"q\"", b"hello"),
            arrival_ms: 1_795_345_201_005,
        };
        let mut body = String::new();
        stored.write_json(&mut body);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["SequenceNumber"], sequence_text(7));
        assert_eq!(parsed["Data"], "aGVsbG8=");
        assert_eq!(parsed["PartitionKey"], "key \"q\"");
        assert_eq!(
            parsed["ApproximateArrivalTimestamp"].as_f64(),
            Some(1_795_345_201.005)
        );
    }
}
