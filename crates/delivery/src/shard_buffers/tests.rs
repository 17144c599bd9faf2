use std::io::Read;

use super::*;

mod exactly_once;
mod flush_write_tests;
mod shared_positions;
mod source_backup;
mod table_partitions;
mod table_routes;
mod unencoded_rows;

fn layout() -> ObjectLayout {
    ObjectLayout {
        shard_id: "shardId-000000000007".into(),
        name: "demo".into(),
        format: ObjectFormat::Records {
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::Gzip,
        },
        extension: ".gz".into(),
        error_codec: Codec::Gzip,
        prefixes: Arc::new(OutputPrefixes::parse(None, None).unwrap()),
        query: None,
        partition_limit: PartitionLimit {
            max_active: 500,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: None,
    }
}

fn partitioned_layout() -> ObjectLayout {
    ObjectLayout {
        prefixes: Arc::new(
            OutputPrefixes::parse(
                Some("country=!{partitionKeyFromQuery:country}/!{timestamp:yyyy}/"),
                Some("err/!{firehose:error-output-type}/"),
            )
            .unwrap(),
        ),
        query: Some(Arc::new(
            MetadataQuery::compile("{country: .country}").unwrap(),
        )),
        ..layout()
    }
}

/// Feeds `events` (completions acknowledged at once, before the next event); returns the objects.
/// Acknowledges every action at once, keeping the objects written.
struct Acknowledge(Vec<ReadyObject>);

impl crate::PerformActions for Acknowledge {
    type Error = std::convert::Infallible;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, Self::Error> {
        Ok(Some(match action {
            BufferAction::Write(o) => {
                let t = o.ticket;
                self.0.push(o);
                BufferEvent::ObjectDurable(t)
            }
            BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
            BufferAction::Checkpoint(p) => BufferEvent::CheckpointWritten(p),
        }))
    }
}

/// Feeds `events` through [`crate::drive`] (the loop `run` and `dry-run` use), acknowledging
/// every action at once; returns the objects written, in order.
fn run_events(
    b: &mut ShardBuffers,
    events: impl IntoIterator<Item = BufferEvent>,
) -> Vec<ReadyObject> {
    let mut acknowledge = Acknowledge(Vec::new());
    for event in events {
        futures::executor::block_on(crate::drive(b, 0, event, &mut acknowledge)).unwrap();
    }
    acknowledge.0
}

/// `layout` writing Parquet objects of `schema` (Hive DDL) with default options.
fn parquet(layout: ObjectLayout, schema: &str) -> ObjectLayout {
    use kinesink_parquet_writer::{ParquetOptions, ParquetTableFormat, SerdeOptions, TableSchema};
    let format = ParquetTableFormat::new(
        Arc::new(TableSchema::parse_hive(schema).unwrap()),
        Arc::new(SerdeOptions::default()),
        ParquetOptions::default(),
    )
    .unwrap();
    ObjectLayout {
        format: ObjectFormat::Parquet(Arc::new(format)),
        extension: ".parquet".into(),
        ..layout
    }
}

/// Buffers for [`layout`] cutting by size at 10 bytes (60 s interval), resuming from `resume`.
fn size_cut_at_10_bytes(resume: ResumeState) -> ShardBuffers {
    ShardBuffers::new(
        layout(),
        BufferLimits {
            size_bytes: 10,
            interval_ms: 60_000,
        },
        resume,
    )
}

/// Buffers for `layout` cutting at 1 MiB or after `interval_ms`, resuming from `resume`.
fn buffers(layout: ObjectLayout, interval_ms: u64, resume: ResumeState) -> ShardBuffers {
    ShardBuffers::new(
        layout,
        BufferLimits {
            size_bytes: 1 << 20,
            interval_ms,
        },
        resume,
    )
}

fn drain_all(b: &mut ShardBuffers) -> Vec<ReadyObject> {
    run_events(b, [BufferEvent::Drain])
}

#[test]
fn each_partition_key_value_gets_its_own_object_under_its_evaluated_prefix() {
    let mut b = buffers(partitioned_layout(), 60_000, ResumeState::default());
    for (seq, data) in [
        (1, r#"{"country":"DE"}"#),
        (2, r#"{"country":"FR"}"#),
        (3, r#"{"country":"DE","n":2}"#),
    ] {
        assert!(
            b.step(0, BufferEvent::Record(record(seq, data, T1100)))
                .unwrap()
                .is_empty()
        );
    }
    let mut out = drain_all(&mut b);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = out.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "country=DE/2026/demo-shardId-000000000007-1-0.gz",
            "country=FR/2026/demo-shardId-000000000007-2-0.gz"
        ]
    );
    assert_eq!(
        gunzip(&out[0].body),
        "{\"country\":\"DE\"}\n{\"country\":\"DE\",\"n\":2}\n"
    );
}

#[test]
fn beyond_the_active_partition_limit_new_partitions_go_to_the_error_output_or_cut_the_least_recently_used()
 {
    let records = [(1, "DE"), (2, "FR"), (3, "DE"), (4, "US"), (5, "US")];
    let run = |action| {
        let layout = ObjectLayout {
            partition_limit: PartitionLimit {
                max_active: 2,
                action,
            },
            ..partitioned_layout()
        };
        let mut b = buffers(layout, 60_000, ResumeState::default());
        let events = records
            .iter()
            .map(|(n, c)| {
                BufferEvent::Record(record(*n, &format!("{{\"country\":\"{c}\"}}"), T1100))
            })
            .chain([BufferEvent::Drain]);
        let mut out = run_events(&mut b, events);
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    };
    let refused = run(PartitionLimitAction::ErrorOutput);
    let errors: Vec<_> = refused.iter().filter(|o| o.is_error_output).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].error_output_type.as_deref(),
        Some("activePartitionExceeded")
    );
    assert_eq!(errors[0].record_count, 2, "both US records refused");
    let lru = run(PartitionLimitAction::FlushLeastRecentlyUsed);
    assert!(lru.iter().all(|o| !o.is_error_output));
    let fr = lru
        .iter()
        .find(|o| o.key.starts_with("country=FR/"))
        .expect("FR was least recently used and cut");
    assert_eq!(fr.record_count, 1);
    assert_eq!(lru.iter().map(|o| o.record_count).sum::<usize>(), 5);
}

#[test]
fn a_record_without_its_partition_key_or_not_json_goes_to_the_error_prefix_with_its_raw_bytes() {
    let mut b = buffers(partitioned_layout(), 60_000, ResumeState::default());
    b.step(0, BufferEvent::Record(record(1, r#"{"other":1}"#, T1100)))
        .unwrap();
    b.step(0, BufferEvent::Record(record(2, "not json", T1100)))
        .unwrap();
    let out = drain_all(&mut b);
    assert_eq!(
        out.len(),
        1,
        "one error object: {:?}",
        out.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    assert!(out[0].is_error_output);
    assert!(out[0].key.starts_with("err/"), "{}", out[0].key);
    let lines: Vec<serde_json::Value> = gunzip(&out[0].body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(lines[1]["rawData"].as_str().unwrap())
            .unwrap(),
        b"not json"
    );
    assert_eq!(lines[0]["sequenceNumber"], "1");
}

#[test]
fn a_record_that_does_not_fit_the_parquet_schema_goes_to_format_conversion_failed() {
    let layout = parquet(layout(), "id bigint, name string");
    let mut b = buffers(layout, 60_000, ResumeState::default());
    b.step(
        0,
        BufferEvent::Record(record(1, r#"{"id": 7, "name": "a"}"#, T1100)),
    )
    .unwrap();
    b.step(
        0,
        BufferEvent::Record(record(2, r#"{"id": "seven"}"#, T1100)),
    )
    .unwrap();
    let out = drain_all(&mut b);
    let data = out
        .iter()
        .find(|o| !o.is_error_output)
        .expect("a parquet object");
    assert!(data.key.ends_with("-1-0.parquet"), "{}", data.key);
    assert_eq!(data.record_count, 1);
    assert_eq!(&data.body[..4], b"PAR1");
    let err = out
        .iter()
        .find(|o| o.is_error_output)
        .expect("an error object");
    assert!(
        err.key.starts_with("format-conversion-failed/"),
        "{}",
        err.key
    );
    let line: serde_json::Value = serde_json::from_str(gunzip(&err.body).trim_end()).unwrap();
    assert_eq!(line["lastErrorCode"], "DataFormatConversion.MalformedData");
}

fn record(seq: u64, data: &str, arrival_ms: i64) -> UserRecord {
    UserRecord {
        data: data.as_bytes().to_vec().into(),
        partition_key: "pk".into(),
        explicit_hash_key: None,
        position: pos(seq),
        approximate_arrival_ms: arrival_ms,
    }
}

fn pos(seq: u64) -> SequencePosition {
    SequencePosition::new(seq.to_string(), 0)
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

// 2026-11-22T10:59:59Z and 11:00:01Z
const T1059: i64 = 1_795_345_199_000;
const T1100: i64 = 1_795_345_201_000;

fn writes(actions: Vec<BufferAction>) -> Vec<ReadyObject> {
    actions
        .into_iter()
        .map(|a| match a {
            BufferAction::Write(o) => o,
            other => panic!("expected only writes, got {other:?}"),
        })
        .collect()
}

#[test]
fn an_interval_flush_first_asks_for_an_intent_then_cuts_every_buffer_named_after_its_oldest_record()
{
    let mut b = buffers(layout(), 1000, ResumeState::default());
    assert!(
        b.step(0, BufferEvent::Record(record(5, "{\"a\":1}", T1100)))
            .unwrap()
            .is_empty()
    );
    assert!(
        b.step(10, BufferEvent::Record(record(6, "{\"a\":2}", T1059)))
            .unwrap()
            .is_empty()
    );
    assert!(
        b.step(999, BufferEvent::Tick).unwrap().is_empty(),
        "interval not reached"
    );
    let actions = b.step(1000, BufferEvent::Tick).unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::RecordProgress { horizon, flush_intent: Some(at) }] if *horizon == pos(6) && *at == pos(6)),
        "{actions:?}"
    );
    let out = writes(b.step(1000, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key, "2026/11/22/10/demo-shardId-000000000007-5-0.gz");
    assert_eq!(gunzip(&out[0].body), "{\"a\":1}\n{\"a\":2}\n");
    let actions = b
        .step(1000, BufferEvent::ObjectDurable(out[0].ticket))
        .unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::Checkpoint(p)] if *p == pos(6)),
        "{actions:?}"
    );
    assert!(
        b.step(1000, BufferEvent::CheckpointWritten(pos(6)))
            .unwrap()
            .is_empty()
    );
    assert!(b.is_idle());
}

#[test]
fn a_memory_flush_cuts_every_buffer_before_the_interval_after_recording_its_intent_then_reading_goes_on()
 {
    let mut b = buffers(layout(), 900_000, ResumeState::default());
    b.step(0, BufferEvent::Record(record(5, "{\"a\":1}", T1100)))
        .unwrap();
    b.step(0, BufferEvent::Record(record(6, "{\"a\":2}", T1100)))
        .unwrap();
    assert!(b.buffered_bytes() > 0);
    let actions = b.step(1, BufferEvent::Flush).unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::RecordProgress { horizon, flush_intent: Some(at) }] if *horizon == pos(6) && *at == pos(6)),
        "a memory flush is a shard-wide flush with a fenced intent: {actions:?}"
    );
    let out = writes(b.step(1, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(out.len(), 1);
    assert_eq!(gunzip(&out[0].body), "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(b.buffered_bytes(), 0, "the buffers are empty once cut");
    let actions = b
        .step(1, BufferEvent::ObjectDurable(out[0].ticket))
        .unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::Checkpoint(p)] if *p == pos(6)),
        "{actions:?}"
    );
    b.step(1, BufferEvent::CheckpointWritten(pos(6))).unwrap();
    b.step(2, BufferEvent::Record(record(7, "{\"a\":3}", T1100)))
        .unwrap();
    assert_eq!(
        b.open_partitions(),
        1,
        "reading goes on after a memory flush (unlike a drain)"
    );
    assert!(
        b.step(3, BufferEvent::Tick).unwrap().is_empty(),
        "the interval has not passed"
    );
}

#[test]
fn a_memory_flush_waits_for_an_earlier_owners_flush_point() {
    let resume = ResumeState {
        checkpoint: Some(pos(1)),
        flush_intent: Some(pos(3)),
        horizon: None,
    };
    let mut b = buffers(layout(), 0, resume);
    b.step(0, BufferEvent::Record(record(2, "two", T1100)))
        .unwrap();
    assert!(
        b.step(0, BufferEvent::Flush).unwrap().is_empty(),
        "no flush of its own before the recorded intent"
    );
    b.step(0, BufferEvent::Record(record(3, "three", T1100)))
        .unwrap();
    let out = writes(b.step(0, BufferEvent::Flush).unwrap());
    assert_eq!(
        gunzip(&out[0].body),
        "two\nthree\n",
        "cut exactly at the intent"
    );
}

#[test]
fn a_size_cut_is_made_before_the_overflowing_record_and_written_once_its_horizon_is_recorded() {
    let mut b = size_cut_at_10_bytes(ResumeState::default());
    assert!(
        b.step(0, BufferEvent::Record(record(1, "aaaa", T1100)))
            .unwrap()
            .is_empty()
    ); // 5 bytes
    assert!(
        b.step(0, BufferEvent::Record(record(2, "bbbb", T1100)))
            .unwrap()
            .is_empty()
    ); // 10 bytes
    let actions = b
        .step(0, BufferEvent::Record(record(3, "c", T1100)))
        .unwrap();
    assert!(
        matches!(actions.as_slice(), [BufferAction::RecordProgress { horizon, flush_intent: None }] if *horizon == pos(2)),
        "{actions:?}"
    );
    let out = writes(b.step(0, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(gunzip(&out[0].body), "aaaa\nbbbb\n");
    let after = b
        .step(0, BufferEvent::ObjectDurable(out[0].ticket))
        .unwrap();
    assert!(
        after.is_empty(),
        "record 3 is still buffered: no flush point yet: {after:?}"
    );
}

#[test]
fn a_size_cut_already_covered_by_a_recorded_horizon_is_written_without_recording_again() {
    let resume = ResumeState {
        checkpoint: Some(pos(0)),
        flush_intent: None,
        horizon: Some(pos(2)),
    };
    let mut b = size_cut_at_10_bytes(resume);
    b.step(0, BufferEvent::Record(record(1, "aaaa", T1100)))
        .unwrap();
    b.step(0, BufferEvent::Record(record(2, "bbbb", T1100)))
        .unwrap();
    let out = writes(
        b.step(0, BufferEvent::Record(record(3, "c", T1100)))
            .unwrap(),
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn the_checkpoint_waits_for_every_object_of_the_flush() {
    let resume = ResumeState {
        checkpoint: Some(pos(4)),
        ..ResumeState::default()
    };
    let mut b = buffers(layout(), 0, resume);
    b.step(0, BufferEvent::Record(record(5, "x", T1100)))
        .unwrap();
    let failed = FailedRecord {
        raw_data: vec![1, 2],
        partition_key: "pk".into(),
        position: pos(6),
        approximate_arrival_ms: T1100,
        error_output_type: "processing-failed".into(),
        error_code: "Deaggregation.Failed".into(),
        error_message: "bad".into(),
    };
    b.step(0, BufferEvent::Failed(failed)).unwrap();
    b.step(0, BufferEvent::Tick).unwrap();
    let out = writes(b.step(0, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(out.len(), 2, "data and error output");
    assert!(
        b.step(0, BufferEvent::ObjectDurable(out[1].ticket))
            .unwrap()
            .is_empty()
    );
    let actions = b
        .step(0, BufferEvent::ObjectDurable(out[0].ticket))
        .unwrap();
    assert!(matches!(actions.as_slice(), [BufferAction::Checkpoint(p)] if *p == pos(6)));
}

#[test]
fn failed_records_go_to_the_error_output_prefix_as_firehose_error_records() {
    let mut b = buffers(layout(), 0, ResumeState::default());
    let failed = FailedRecord {
        raw_data: vec![0xF3, 0x89, 0x9A, 0xC2, 0xFF],
        partition_key: "pk".into(),
        position: pos(2),
        approximate_arrival_ms: T1059,
        error_output_type: "processing-failed".into(),
        error_code: "Deaggregation.Failed".into(),
        error_message: "bad protobuf".into(),
    };
    b.step(0, BufferEvent::Failed(failed)).unwrap();
    b.step(0, BufferEvent::Drain).unwrap();
    let out = writes(b.step(0, BufferEvent::ProgressRecorded).unwrap());
    assert_eq!(
        out[0].key,
        "processing-failed/2026/11/22/10/demo-shardId-000000000007-2-0.gz"
    );
    let line: serde_json::Value = serde_json::from_str(gunzip(&out[0].body).trim_end()).unwrap();
    assert_eq!(line["errorCode"], "Deaggregation.Failed");
    assert_eq!(line["rawData"], "84mawv8=");
    assert_eq!(line["sequenceNumber"], "2");
}

#[test]
fn a_new_owner_makes_no_time_flush_before_an_earlier_intent_and_cuts_exactly_there() {
    let resume = ResumeState {
        checkpoint: Some(pos(1)),
        flush_intent: Some(pos(3)),
        horizon: None,
    };
    let mut b = buffers(layout(), 0, resume);
    b.step(0, BufferEvent::Record(record(2, "two", T1100)))
        .unwrap();
    assert!(
        b.step(10_000, BufferEvent::Tick).unwrap().is_empty(),
        "no flush before the recorded intent"
    );
    assert!(
        b.step(10_000, BufferEvent::Drain).unwrap().is_empty(),
        "not even on shutdown"
    );
    assert!(b.replaying_intent());
    assert!(
        writes(
            b.step(10_000, BufferEvent::Record(record(3, "three", T1100)))
                .unwrap()
        )
        .is_empty(),
        "not at the intent's first record: more records may share its position"
    );
    let out = writes(b.step(10_000, BufferEvent::Tick).unwrap());
    assert_eq!(
        out.len(),
        1,
        "cut at the intent, at the batch's end, without recording a new one"
    );
    assert_eq!(gunzip(&out[0].body), "two\nthree\n");
}

#[test]
fn a_record_during_an_intent_write_is_refused() {
    let mut b = buffers(layout(), 0, ResumeState::default());
    b.step(0, BufferEvent::Record(record(1, "x", T1100)))
        .unwrap();
    b.step(0, BufferEvent::Tick).unwrap();
    assert!(matches!(
        b.step(0, BufferEvent::Record(record(2, "y", T1100))),
        Err(BufferError::RecordDuringIntent(_))
    ));
}

#[test]
fn a_record_whose_arrival_time_cannot_make_any_prefix_is_refused_and_nothing_is_buffered() {
    let mut b = ShardBuffers::new(
        layout(),
        BufferLimits {
            size_bytes: 100,
            interval_ms: 0,
        },
        ResumeState::default(),
    );
    assert!(matches!(
        b.step(0, BufferEvent::Record(record(1, "x", i64::MAX))),
        Err(BufferError::ErrorPrefix(_))
    ));
    assert!(b.is_idle());
}

#[test]
fn compacting_parquet_buffers_shrinks_them_and_cuts_the_same_objects_with_the_same_records() {
    let layout = parquet(partitioned_layout(), "country string, note string");
    let limits = BufferLimits {
        size_bytes: 1 << 20,
        interval_ms: 60_000,
    };
    let mut plain = ShardBuffers::new(layout.clone(), limits, ResumeState::default());
    let mut compacted = ShardBuffers::new(layout, limits, ResumeState::default());
    let event = |seq: u64| {
        let country = ["DE", "FR", "IT"][(seq % 3) as usize];
        BufferEvent::Record(record(
            seq,
            &format!(
                r#"{{"country":"{country}","note":"note {seq} {}"}}"#,
                "n".repeat(1000)
            ),
            T1100,
        ))
    };
    for seq in 1..=600 {
        plain.step(0, event(seq)).unwrap();
        compacted.step(0, event(seq)).unwrap();
        if seq == 400 {
            let held = compacted.held_bytes();
            assert!(
                compacted.compactable_bytes() * 2 >= held,
                "mostly rows before"
            );
            compacted.compact();
            assert_eq!(compacted.compactable_bytes(), 0);
            assert!(
                compacted.held_bytes() < held / 2,
                "compressed row groups hold much less ({} of {held})",
                compacted.held_bytes()
            );
        }
    }
    let summary = |objects: Vec<ReadyObject>| {
        let mut s: Vec<(String, usize, SequencePosition, SequencePosition)> = objects
            .into_iter()
            .map(|o| (o.key, o.record_count, o.first, o.last))
            .collect();
        s.sort();
        s
    };
    let (a, b) = (
        summary(drain_all(&mut plain)),
        summary(drain_all(&mut compacted)),
    );
    assert_eq!(a.len(), 3, "one object per country");
    assert_eq!(a, b, "same keys, record counts and first/last records");
}

#[test]
fn shards_interval_flushes_are_spread_over_a_fifth_of_the_interval_never_later() {
    let limits = BufferLimits {
        size_bytes: 5 << 20,
        interval_ms: 60_000,
    };
    let intervals: Vec<u64> = (0..64)
        .map(|i| {
            let l = limits.staggered_for(&format!("shardId-{i:012}"));
            assert_eq!(l.size_bytes, limits.size_bytes);
            l.interval_ms
        })
        .collect();
    assert!(
        intervals.iter().all(|i| (48_000..=60_000).contains(i)),
        "{intervals:?}"
    );
    let distinct: std::collections::BTreeSet<u64> = intervals.iter().copied().collect();
    assert!(
        distinct.len() >= 48,
        "64 shards, {} distinct intervals",
        distinct.len()
    );
    let spread = distinct.last().unwrap() - distinct.first().unwrap();
    assert!(
        spread >= 9_000,
        "spread over {spread} ms of the 12 s window"
    );
    assert_eq!(
        limits.staggered_for("shardId-000000000007"),
        limits.staggered_for("shardId-000000000007"),
        "the same shard gets the same interval"
    );
    let zero = BufferLimits {
        size_bytes: 1,
        interval_ms: 0,
    };
    assert_eq!(zero.staggered_for("shardId-000000000001").interval_ms, 0);
}
