//! Fixtures of the crate's in-process tests: worker settings, and a one-shard stream in the
//! memory shard source.

use std::sync::Arc;
use std::time::Duration;

use kinesink_delivery::{BufferLimits, PartitionLimit, PartitionLimitAction};
use kinesink_parquet_writer::{Codec, ObjectFormat, RecordFraming};
use kinesink_partitioning::OutputPrefixes;
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_shard_reader::{MemoryShardSource, ReaderSettings, ShardInfo, StartPosition};

use crate::worker::WorkerSettings;

/// Settings of worker `worker_id` delivering `name`: the configuration file's defaults (gzip
/// NDJSON, 5 MiB / 300 s buffers, 10 s failover, trim horizon), which each test changes where
/// it matters.
pub(crate) fn settings(name: &str, worker_id: &str) -> WorkerSettings {
    WorkerSettings {
        name: name.to_owned(),
        worker_id: worker_id.to_owned(),
        failover_time: Duration::from_secs(10),
        initial_position: StartPosition::TrimHorizon,
        reader: ReaderSettings {
            max_records: 10_000,
            idle: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        },
        kpl_deaggregation: true,
        processors: kinesink_record_processing::Processors::default(),
        transform: None,
        record_split: None,
        buffer: BufferLimits {
            size_bytes: 5 * 1024 * 1024,
            interval_ms: 300_000,
        },
        file_extension: ndjson_gzip().file_extension().to_owned(),
        error_codec: Codec::Gzip,
        prefixes: Arc::new(OutputPrefixes::parse(None, None).unwrap()),
        query: None,
        partition_limit: PartitionLimit {
            max_active: 500,
            action: PartitionLimitAction::ErrorOutput,
        },
        shard_sync_interval: Duration::from_secs(60),
        memory_budget_bytes: 1024 * 1024 * 1024,
        retry_duration: Duration::from_secs(86_400),
        lease_retry_duration: Duration::from_secs(600),
        stall_timeout: Duration::from_secs(300),
        lambda: None,
    }
}

/// The default format: gzip NDJSON.
pub(crate) fn ndjson_gzip() -> ObjectFormat {
    ObjectFormat::Records {
        framing: RecordFraming::NewlineDelimited,
        codec: Codec::Gzip,
    }
}

/// Records `{"n":<i>}` for `i` in `range`, sequence numbers `first_sequence + i`, on one key.
pub(crate) fn records(first_sequence: u64, range: std::ops::Range<u64>) -> Vec<KinesisRecord> {
    range
        .map(|i| KinesisRecord {
            data: format!("{{\"n\":{i}}}").into_bytes(),
            partition_key: "k".into(),
            sequence_number: (first_sequence + i).to_string(),
            approximate_arrival_ms: 1_700_000_000_000,
        })
        .collect()
}

/// An open shard `shard_id` holding `records`, added to `source`.
pub(crate) fn add_open_shard(
    source: &MemoryShardSource,
    shard_id: &str,
    records: Vec<KinesisRecord>,
) {
    source.add_shard(
        ShardInfo {
            shard_id: shard_id.to_owned(),
            parent_shard_ids: vec![],
            closed: false,
        },
        records,
        vec![],
    );
}

/// A stream of one open shard, `shardId-000000000000`, with records `{"n":1}`..`{"n":50}`
/// at sequence numbers 1001..=1050.
pub(crate) fn one_shard_of_fifty() -> Arc<MemoryShardSource> {
    let source = Arc::new(MemoryShardSource::new());
    add_open_shard(&source, "shardId-000000000000", records(1000, 1..51));
    source
}
