//! Per-shard buffering: the pure state machine that decides when an object is cut.

use std::collections::BTreeMap;

use kinesink_parquet_writer::{Codec, RecordEncoder, RecordFraming};
use kinesink_partitioning::{LegacyPrefix, PrefixTimeError};
use kinesink_record_deaggregation::UserRecord;

use crate::object_key::ObjectKey;
use crate::position::RecordPosition;
use crate::watermark::CheckpointWatermark;

/// When a buffer is cut into an object (Firehose's BufferingHints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Cut before the uncompressed size would exceed this many bytes (a single larger record
    /// still makes its own object).
    pub size_bytes: usize,
    /// Cut once the buffer's first record has waited this long (0: at every tick).
    pub interval_ms: u64,
}

/// How objects of one shard are encoded and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLayout {
    /// The shard whose records these buffers hold.
    pub shard_id: String,
    /// Naming of the objects.
    pub key: ObjectKey,
    /// Record framing inside an object.
    pub framing: RecordFraming,
    /// Compression of the object.
    pub codec: Codec,
}

/// A record that could not be processed; it is delivered to the error output, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// The raw bytes as read (the whole Kinesis record when it could not be unpacked).
    pub raw_data: Vec<u8>,
    /// The partition key of the record.
    pub partition_key: String,
    /// Where it sits in the shard.
    pub position: RecordPosition,
    /// Approximate arrival time, ms since the epoch.
    pub approximate_arrival_ms: i64,
    /// Firehose error output type, the first level of the error prefix (e.g. `processing-failed`).
    pub error_output_type: String,
    /// Error code, e.g. `Deaggregation.Failed`.
    pub error_code: String,
    /// Human-readable reason.
    pub error_message: String,
}

/// An input to [`ShardBuffers::step`].
#[derive(Debug, Clone)]
pub enum BufferEvent {
    /// A user record read from the shard, in shard order.
    Record(UserRecord),
    /// A record that failed processing, in shard order; goes to the error output.
    Failed(FailedRecord),
    /// Time passed: cut buffers whose interval expired.
    Tick,
    /// Cut every open buffer (shutdown, lease handed over, shard end).
    Drain,
}

/// Identifies a cut object to the watermark; hand it back with [`ShardBuffers::object_durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(u64);

/// An object ready to be written: its key, bytes and the records it holds.
#[derive(Debug)]
pub struct ReadyObject {
    /// Object key relative to the destination root.
    pub key: String,
    /// The encoded object.
    pub body: Vec<u8>,
    /// Number of user records inside.
    pub record_count: usize,
    /// Uncompressed bytes of the records inside (delimiters included).
    pub input_bytes: usize,
    /// Position of the first record.
    pub first: RecordPosition,
    /// Position of the last record.
    pub last: RecordPosition,
    /// Return this once the object is durable.
    pub ticket: FlushTicket,
}

#[derive(Debug)]
struct OpenBuffer {
    encoder: RecordEncoder,
    opened_at_ms: u64,
    oldest_arrival_ms: i64,
    first: RecordPosition,
    last: RecordPosition,
    first_ordinal: u64,
}

/// Partition key of a buffer: the evaluated partition values (empty without dynamic partitioning).
type PartitionValues = Vec<String>;

/// First partition value of error-output buffers (cannot collide: data partitions have no
/// values until dynamic partitioning, whose values are never this marker with a type).
const ERROR_PARTITION: &str = "\u{0}error-output";

/// One line of the error output, in the shape of Firehose's error records.
fn error_record_json(shard_id: &str, f: &FailedRecord) -> Vec<u8> {
    use base64::Engine;
    let value = serde_json::json!({
        "attemptsMade": 1,
        "arrivalTimestamp": f.approximate_arrival_ms,
        "errorCode": f.error_code,
        "errorMessage": f.error_message,
        "rawData": base64::engine::general_purpose::STANDARD.encode(&f.raw_data),
        "partitionKey": f.partition_key,
        "shardId": shard_id,
        "sequenceNumber": &*f.position.sequence_number,
        "subSequenceNumber": f.position.sub_sequence_number,
    });
    serde_json::to_vec(&value).expect("a JSON value always serialises")
}

/// The buffers of one shard.
///
/// Guarantees: every record given in [`BufferEvent::Record`] ends up in exactly one
/// [`ReadyObject`] (after a later cut); objects hold this shard's records only, in shard
/// order; [`ShardBuffers::checkpoint_advance`] only names positions whose records are in
/// objects reported durable through [`ShardBuffers::object_durable`].
#[derive(Debug)]
pub struct ShardBuffers {
    layout: ObjectLayout,
    limits: BufferLimits,
    open: BTreeMap<PartitionValues, OpenBuffer>,
    watermark: CheckpointWatermark,
    next_ordinal: u64,
}

impl ShardBuffers {
    /// Empty buffers for a shard whose stored checkpoint is `resumed_from`.
    #[must_use]
    pub fn new(layout: ObjectLayout, limits: BufferLimits, resumed_from: Option<RecordPosition>) -> Self {
        Self { layout, limits, open: BTreeMap::new(), watermark: CheckpointWatermark::new(resumed_from), next_ordinal: 0 }
    }

    /// Advances the state machine at wall-clock time `now_ms` (used only for the interval).
    ///
    /// # Errors
    /// A record whose arrival time cannot be turned into a prefix is refused (not buffered).
    pub fn step(&mut self, now_ms: u64, event: BufferEvent) -> Result<Vec<ReadyObject>, PrefixTimeError> {
        match event {
            BufferEvent::Record(record) => {
                let position = RecordPosition::new(record.sequence_number, record.sub_sequence_number);
                let framing = self.layout.framing;
                self.add(now_ms, Vec::new(), framing, position, record.approximate_arrival_ms, &record.data)
            }
            BufferEvent::Failed(failed) => {
                let line = error_record_json(&self.layout.shard_id, &failed);
                let partition = vec![ERROR_PARTITION.to_owned(), failed.error_output_type.clone()];
                self.add(now_ms, partition, RecordFraming::NewlineDelimited, failed.position, failed.approximate_arrival_ms, &line)
            }
            BufferEvent::Tick => {
                let expired: Vec<PartitionValues> = self
                    .open
                    .iter()
                    .filter(|(_, b)| now_ms.saturating_sub(b.opened_at_ms) >= self.limits.interval_ms)
                    .map(|(k, _)| k.clone())
                    .collect();
                expired.into_iter().map(|k| self.cut(&k)).collect()
            }
            BufferEvent::Drain => {
                let all: Vec<PartitionValues> = self.open.keys().cloned().collect();
                all.into_iter().map(|k| self.cut(&k)).collect()
            }
        }
    }

    fn add(
        &mut self,
        now_ms: u64,
        partition: PartitionValues,
        framing: RecordFraming,
        position: RecordPosition,
        arrival_ms: i64,
        data: &[u8],
    ) -> Result<Vec<ReadyObject>, PrefixTimeError> {
        LegacyPrefix.evaluate(arrival_ms)?;
        let mut ready = Vec::new();
        let record_size = data.len() + usize::from(framing == RecordFraming::NewlineDelimited);
        if let Some(b) = self.open.get(&partition)
            && b.encoder.input_bytes() + record_size > self.limits.size_bytes
        {
            ready.push(self.cut(&partition)?);
        }
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        let buffer = match self.open.entry(partition) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                self.watermark.open(ordinal);
                e.insert(OpenBuffer {
                    encoder: RecordEncoder::new(framing, self.layout.codec),
                    opened_at_ms: now_ms,
                    oldest_arrival_ms: arrival_ms,
                    first: position.clone(),
                    last: position.clone(),
                    first_ordinal: ordinal,
                })
            }
        };
        buffer.encoder.append(data);
        buffer.oldest_arrival_ms = buffer.oldest_arrival_ms.min(arrival_ms);
        buffer.last = position.clone();
        self.watermark.read(position);
        Ok(ready)
    }

    fn cut(&mut self, partition: &PartitionValues) -> Result<ReadyObject, PrefixTimeError> {
        let b = self.open.remove(partition).expect("cut is only called for open buffers");
        let time_prefix = LegacyPrefix.evaluate(b.oldest_arrival_ms)?;
        let prefix = match partition.as_slice() {
            [marker, error_output_type] if marker == ERROR_PARTITION => format!("{error_output_type}/{time_prefix}"),
            _ => time_prefix,
        };
        let key = self.layout.key.render(&prefix, &self.layout.shard_id, &b.first);
        Ok(ReadyObject {
            key,
            record_count: b.encoder.record_count(),
            input_bytes: b.encoder.input_bytes(),
            body: b.encoder.finish(),
            first: b.first,
            last: b.last,
            ticket: FlushTicket(b.first_ordinal),
        })
    }

    /// Reports an object durable at its destination.
    pub fn object_durable(&mut self, ticket: FlushTicket) {
        self.watermark.durable(ticket.0);
    }

    /// The position the shard's checkpoint may move to now, if it is past the last one written.
    #[must_use]
    pub fn checkpoint_advance(&self) -> Option<RecordPosition> {
        self.watermark.advance()
    }

    /// Notes that the checkpoint at `position` was stored.
    pub fn checkpoint_written(&mut self, position: RecordPosition) {
        self.watermark.written(position);
    }

    /// Whether no record is buffered or awaiting durability.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.watermark.all_durable()
    }

    /// Uncompressed bytes currently buffered.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.open.values().map(|b| b.encoder.input_bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn layout() -> ObjectLayout {
        ObjectLayout {
            shard_id: "shardId-000000000007".into(),
            key: ObjectKey { name: "demo".into(), extension: ".gz".into() },
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::Gzip,
        }
    }

    fn record(seq: u64, data: &str, arrival_ms: i64) -> UserRecord {
        UserRecord {
            data: data.as_bytes().to_vec().into(),
            partition_key: "pk".into(),
            explicit_hash_key: None,
            sequence_number: seq.to_string().into(),
            sub_sequence_number: 0,
            approximate_arrival_ms: arrival_ms,
        }
    }

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b).read_to_string(&mut s).unwrap();
        s
    }

    // 2026-11-22T10:59:59Z and 11:00:01Z
    const T1059: i64 = 1_795_345_199_000;
    const T1100: i64 = 1_795_345_201_000;

    #[test]
    fn interval_cut_names_the_object_after_the_oldest_record_and_holds_every_record() {
        let mut b = ShardBuffers::new(layout(), BufferLimits { size_bytes: 1 << 20, interval_ms: 1000 }, None);
        assert!(b.step(0, BufferEvent::Record(record(5, "{\"a\":1}", T1100))).unwrap().is_empty());
        assert!(b.step(10, BufferEvent::Record(record(6, "{\"a\":2}", T1059))).unwrap().is_empty());
        assert!(b.step(999, BufferEvent::Tick).unwrap().is_empty(), "interval not reached");
        let out = b.step(1000, BufferEvent::Tick).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key, "2026/11/22/10/demo-shardId-000000000007-5-0.gz");
        assert_eq!(gunzip(&out[0].body), "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(out[0].record_count, 2);
    }

    #[test]
    fn size_limit_cuts_before_the_record_that_would_overflow() {
        let mut b = ShardBuffers::new(layout(), BufferLimits { size_bytes: 10, interval_ms: 60_000 }, None);
        assert!(b.step(0, BufferEvent::Record(record(1, "aaaa", T1100))).unwrap().is_empty()); // 5 bytes
        assert!(b.step(0, BufferEvent::Record(record(2, "bbbb", T1100))).unwrap().is_empty()); // 10 bytes
        let out = b.step(0, BufferEvent::Record(record(3, "c", T1100))).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(gunzip(&out[0].body), "aaaa\nbbbb\n");
        let rest = b.step(0, BufferEvent::Drain).unwrap();
        assert_eq!(gunzip(&rest[0].body), "c\n");
        assert!(rest[0].key.ends_with("-3-0.gz"));
    }

    #[test]
    fn checkpoint_moves_only_after_the_object_is_reported_durable() {
        let resumed = RecordPosition::new("4", 0);
        let mut b = ShardBuffers::new(layout(), BufferLimits { size_bytes: 1 << 20, interval_ms: 0 }, Some(resumed));
        b.step(0, BufferEvent::Record(record(5, "x", T1100))).unwrap();
        b.step(0, BufferEvent::Record(record(6, "y", T1100))).unwrap();
        let out = b.step(0, BufferEvent::Tick).unwrap();
        assert_eq!(b.checkpoint_advance(), None, "object cut but not durable yet");
        assert!(!b.is_empty());
        b.object_durable(out[0].ticket);
        assert_eq!(b.checkpoint_advance(), Some(RecordPosition::new("6", 0)));
        assert!(b.is_empty());
    }

    #[test]
    fn failed_records_go_to_the_error_output_prefix_as_firehose_error_records() {
        let mut b = ShardBuffers::new(layout(), BufferLimits { size_bytes: 1 << 20, interval_ms: 0 }, None);
        b.step(0, BufferEvent::Record(record(1, "ok", T1100))).unwrap();
        let failed = FailedRecord {
            raw_data: vec![0xF3, 0x89, 0x9A, 0xC2, 0xFF],
            partition_key: "pk".into(),
            position: RecordPosition::new("2", 0),
            approximate_arrival_ms: T1059,
            error_output_type: "processing-failed".into(),
            error_code: "Deaggregation.Failed".into(),
            error_message: "bad protobuf".into(),
        };
        b.step(0, BufferEvent::Failed(failed)).unwrap();
        let out = b.step(0, BufferEvent::Drain).unwrap();
        assert_eq!(out.len(), 2);
        let err = out.iter().find(|o| o.key.starts_with("processing-failed/")).expect("an error object");
        assert_eq!(err.key, "processing-failed/2026/11/22/10/demo-shardId-000000000007-2-0.gz");
        let line: serde_json::Value = serde_json::from_str(gunzip(&err.body).trim_end()).unwrap();
        assert_eq!(line["errorCode"], "Deaggregation.Failed");
        assert_eq!(line["rawData"], "84mawv8=");
        assert_eq!(line["sequenceNumber"], "2");
        for o in &out {
            b.object_durable(o.ticket);
        }
        assert_eq!(b.checkpoint_advance(), Some(RecordPosition::new("2", 0)), "failed records count as delivered once written");
    }

    #[test]
    fn a_record_with_an_unrepresentable_arrival_time_is_refused_not_buffered() {
        let mut b = ShardBuffers::new(layout(), BufferLimits { size_bytes: 100, interval_ms: 0 }, None);
        assert!(b.step(0, BufferEvent::Record(record(1, "x", i64::MAX))).is_err());
        assert!(b.is_empty());
    }
}
