//! Fixtures of the crate's in-process tests: settings from TOML text, and a one-shard stream
//! in the memory shard source.

use std::collections::BTreeMap;
use std::sync::Arc;

use kinesink_record_deaggregation::KinesisRecord;
use kinesink_shard_reader::{MemoryShardSource, ShardInfo};

/// The settings of this configuration text (it must be valid).
pub(crate) fn settings_from(toml: &str) -> crate::config::Settings {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, toml).unwrap();
    crate::config::load(&path, &BTreeMap::new()).unwrap()
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
