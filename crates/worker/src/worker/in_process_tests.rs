//! The whole worker in-process over the memory services (`MemoryShardSource`,
//! `MemoryLeaseTable`, `MemorySink`): lease take, handoff between workers and until-caught-up,
//! with no processes and no stand-ins.

use super::*;
use kinesink_delivery::MemorySink;
use kinesink_lease_coordination::MemoryLeaseTable;
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::SequencePosition;
use kinesink_shard_reader::{MemoryShardSource, ShardInfo};
use std::time::Instant;

const SHARDS: u64 = 4;
const PER_SHARD: u64 = 60;

/// Uncompressed NDJSON, so the test reads the objects as they are.
fn format() -> ObjectFormat {
    ObjectFormat::Records {
        framing: kinesink_parquet_writer::RecordFraming::NewlineDelimited,
        codec: Codec::None,
    }
}

fn settings(worker_id: &str) -> WorkerSettings {
    let defaults = crate::test_fixtures::settings("inproc", worker_id);
    WorkerSettings {
        reader: ReaderSettings {
            idle: Duration::from_millis(50),
            ..defaults.reader
        },
        failover_time: Duration::from_millis(1000),
        buffer: BufferLimits {
            interval_ms: 1000,
            ..defaults.buffer
        },
        file_extension: format().file_extension().to_owned(),
        error_codec: Codec::None,
        ..defaults
    }
}

/// A stream of `SHARDS` open shards with `PER_SHARD` records each, `{"id":"<shard>-<i>"}`.
fn source() -> Arc<MemoryShardSource> {
    let source = Arc::new(MemoryShardSource::new());
    for s in 0..SHARDS {
        source.add_shard(
            ShardInfo {
                shard_id: format!("shardId-{s:012}"),
                parent_shard_ids: vec![],
                closed: false,
            },
            (0..PER_SHARD)
                .map(|i| KinesisRecord {
                    data: format!("{{\"id\":\"{s}-{i}\"}}").into_bytes(),
                    partition_key: "k".into(),
                    sequence_number: (1000 + s * 1000 + i).to_string(),
                    approximate_arrival_ms: 1_700_000_000_000,
                })
                .collect(),
            vec![],
        );
    }
    source
}

/// How many times each record id is in the sink's objects.
fn delivered(sink: &MemorySink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (key, body) in sink.objects() {
        if key.contains("_kinesink/") {
            continue;
        }
        for line in String::from_utf8(body).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            *counts
                .entry(v["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    counts
}

fn assert_each_once(counts: &BTreeMap<String, usize>) {
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(
        counts.len() as u64,
        SHARDS * PER_SHARD,
        "every record delivered"
    );
}

fn worker(
    settings: WorkerSettings,
    source: &Arc<MemoryShardSource>,
    table: &Arc<MemoryLeaseTable>,
    sink: &Arc<MemorySink>,
) -> Worker {
    Worker::new(
        settings,
        format(),
        source.clone() as Arc<dyn ShardSource>,
        table.clone() as Arc<dyn LeaseTable>,
        sink.clone() as Arc<dyn ObjectSink>,
        sink.clone() as Arc<dyn kinesink_delivery::ProgressStore>,
    )
}

#[tokio::test]
async fn until_caught_up_takes_every_lease_delivers_each_record_once_and_checkpoints_at_the_tip() {
    let (source, table, sink) = (
        source(),
        Arc::new(MemoryLeaseTable::new()),
        Arc::new(MemorySink::new()),
    );
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        worker(settings("a"), &source, &table, &sink).run(
            CancellationToken::new(),
            RunOptions {
                until_caught_up: true,
            },
        ),
    )
    .await
    .expect("until-caught-up ends by itself")
    .unwrap();
    assert_eq!(summary.records, SHARDS * PER_SHARD);
    assert_each_once(&delivered(&sink));
    let leases = table.list().await.unwrap();
    assert_eq!(leases.len() as u64, SHARDS, "a lease per shard");
    for lease in leases {
        let s: u64 = lease.shard_id[8..].parse().unwrap();
        assert_eq!(
            lease.checkpoint,
            Checkpoint::Sequence(SequencePosition::new(
                (1000 + s * 1000 + PER_SHARD - 1).to_string(),
                0
            )),
            "checkpointed at the last record of {}",
            lease.shard_id
        );
        assert_eq!(lease.owner, None, "released at the stop");
    }
}

#[tokio::test]
async fn a_second_worker_gets_its_share_and_a_handoff_at_a_stop_loses_and_duplicates_nothing() {
    let (source, table, sink) = (
        source(),
        Arc::new(MemoryLeaseTable::new()),
        Arc::new(MemorySink::new()),
    );
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = tokio::spawn(
        worker(settings("a"), &source, &table, &sink).run(stop_a.clone(), RunOptions::default()),
    );
    let owners = async || -> BTreeMap<String, usize> {
        let mut load = BTreeMap::new();
        for l in table.list().await.unwrap() {
            if let Some(o) = l.owner {
                *load.entry(o).or_default() += 1;
            }
        }
        load
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while owners().await.get("a") != Some(&(SHARDS as usize)) {
        assert!(
            Instant::now() < deadline,
            "a took every lease: {:?}",
            owners().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = tokio::spawn(
        worker(settings("b"), &source, &table, &sink).run(stop_b.clone(), RunOptions::default()),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let load = owners().await;
        if load.get("a") == Some(&2) && load.get("b") == Some(&2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b got its share by stealing: {load:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // a stops gracefully: it delivers, checkpoints and releases; b takes its leases at once.
    stop_a.cancel();
    let summary_a = a.await.unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while owners().await.get("b") != Some(&(SHARDS as usize)) {
        assert!(
            Instant::now() < deadline,
            "b took over a's leases: {:?}",
            owners().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while (delivered(&sink).len() as u64) < SHARDS * PER_SHARD {
        assert!(Instant::now() < deadline, "everything delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_b.cancel();
    let summary_b = b.await.unwrap().unwrap();
    assert_each_once(&delivered(&sink));
    assert_eq!(
        summary_a.records + summary_b.records,
        SHARDS * PER_SHARD,
        "each record written by exactly one of the two workers"
    );
}
