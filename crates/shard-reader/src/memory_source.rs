//! An in-memory [`ShardSource`] for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::compare_sequence_numbers;

use crate::source::{RecordPage, ShardInfo, ShardSource, SourceError, StartPosition};

#[derive(Debug, Default)]
struct Shard {
    info: Option<ShardInfo>,
    records: Vec<KinesisRecord>,
    children: Vec<String>,
}

/// Shards held in memory; iterators are `shard/index` strings. Sequence numbers must be
/// increasing decimal numbers within a shard.
#[derive(Debug, Default)]
pub struct MemoryShardSource {
    shards: Mutex<BTreeMap<String, Shard>>,
    expire_next: Mutex<u32>,
}

impl MemoryShardSource {
    /// An empty stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a shard with its records; a closed shard ends with `children`.
    ///
    /// # Panics
    /// Only if a lock was poisoned by a panicking test.
    pub fn add_shard(&self, info: ShardInfo, records: Vec<KinesisRecord>, children: Vec<String>) {
        let id = info.shard_id.clone();
        self.shards.lock().expect("lock").insert(
            id,
            Shard {
                info: Some(info),
                records,
                children,
            },
        );
    }

    /// Appends `records` to the open shard `shard_id` (added with [`MemoryShardSource::add_shard`]):
    /// a producer writing while workers read. Their sequence numbers must follow the shard's.
    ///
    /// # Panics
    /// If the shard was never added, or a lock was poisoned by a panicking test.
    pub fn append_records(&self, shard_id: &str, records: Vec<KinesisRecord>) {
        self.shards
            .lock()
            .expect("lock")
            .get_mut(shard_id)
            .expect("a shard added before")
            .records
            .extend(records);
    }

    /// Makes the next `n` GetRecords calls fail with an expired iterator.
    ///
    /// # Panics
    /// Only if a lock was poisoned by a panicking test.
    pub fn expire_next_iterators(&self, n: u32) {
        *self.expire_next.lock().expect("lock") = n;
    }
}

#[async_trait]
impl ShardSource for MemoryShardSource {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError> {
        Ok(self
            .shards
            .lock()
            .expect("lock")
            .values()
            .filter_map(|s| s.info.clone())
            .collect())
    }

    async fn shard_iterator(
        &self,
        shard_id: &str,
        position: &StartPosition,
    ) -> Result<String, SourceError> {
        let shards = self.shards.lock().expect("lock");
        let shard = shards
            .get(shard_id)
            .ok_or_else(|| SourceError::NotFound(shard_id.to_owned()))?;
        let index = match position {
            StartPosition::TrimHorizon => 0,
            StartPosition::Latest => shard.records.len(),
            StartPosition::AtTimestamp(ms) => shard
                .records
                .iter()
                .position(|r| r.approximate_arrival_ms >= *ms)
                .unwrap_or(shard.records.len()),
            StartPosition::AtSequence(s) => shard
                .records
                .iter()
                .position(|r| compare_sequence_numbers(&r.sequence_number, s).is_ge())
                .unwrap_or(shard.records.len()),
            StartPosition::AfterSequence(s) => shard
                .records
                .iter()
                .position(|r| compare_sequence_numbers(&r.sequence_number, s).is_gt())
                .unwrap_or(shard.records.len()),
        };
        Ok(format!("{shard_id}/{index}"))
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> Result<RecordPage, SourceError> {
        {
            let mut expire = self.expire_next.lock().expect("lock");
            if *expire > 0 {
                *expire -= 1;
                return Err(SourceError::ExpiredIterator);
            }
        }
        let (shard_id, index) = iterator
            .rsplit_once('/')
            .ok_or_else(|| SourceError::Unavailable("bad iterator".into()))?;
        let index: usize = index
            .parse()
            .map_err(|_| SourceError::Unavailable("bad iterator".into()))?;
        let shards = self.shards.lock().expect("lock");
        let shard = shards
            .get(shard_id)
            .ok_or_else(|| SourceError::NotFound(shard_id.to_owned()))?;
        let end = (index + limit as usize).min(shard.records.len());
        let records = shard.records[index..end].to_vec();
        let closed = shard.info.as_ref().is_some_and(|i| i.closed);
        let at_end = end == shard.records.len();
        Ok(RecordPage {
            records,
            next_iterator: if closed && at_end {
                None
            } else {
                Some(format!("{shard_id}/{end}"))
            },
            millis_behind_latest: Some(if at_end { 0 } else { 1000 }),
            child_shard_ids: if closed && at_end {
                shard.children.clone()
            } else {
                Vec::new()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn iterators_find_full_length_sequence_numbers_in_the_shards_order() {
        // Real sequence numbers have 56 digits, beyond u128.
        let base = "4959033827149025660855969253836157109592157598913658889";
        let source = MemoryShardSource::new();
        let records = (7..=9)
            .map(|n| KinesisRecord {
                data: Vec::new(),
                partition_key: "k".into(),
                sequence_number: format!("{base}{n}"),
                approximate_arrival_ms: 0,
            })
            .collect();
        let info = ShardInfo {
            shard_id: "s".into(),
            parent_shard_ids: Vec::new(),
            closed: false,
        };
        source.add_shard(info, records, Vec::new());
        let at = |p: StartPosition| {
            let source = &source;
            async move { source.shard_iterator("s", &p).await.unwrap() }
        };
        let eight = format!("{base}8");
        assert_eq!(at(StartPosition::AtSequence(eight.clone())).await, "s/1");
        assert_eq!(at(StartPosition::AfterSequence(eight)).await, "s/2");
        assert_eq!(
            at(StartPosition::AfterSequence(format!("{base}9"))).await,
            "s/3"
        );
        assert_eq!(
            at(StartPosition::AtSequence("12".into())).await,
            "s/0",
            "a shorter number is smaller"
        );
    }
}
