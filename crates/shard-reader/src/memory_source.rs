//! An in-memory [`ShardSource`] for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use kinesink_record_deaggregation::KinesisRecord;

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

    /// Makes the next `n` GetRecords calls fail with an expired iterator.
    ///
    /// # Panics
    /// Only if a lock was poisoned by a panicking test.
    pub fn expire_next_iterators(&self, n: u32) {
        *self.expire_next.lock().expect("lock") = n;
    }
}

fn seq_value(s: &str) -> u128 {
    s.parse().unwrap_or(u128::MAX)
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
                .position(|r| seq_value(&r.sequence_number) >= seq_value(s))
                .unwrap_or(shard.records.len()),
            StartPosition::AfterSequence(s) => shard
                .records
                .iter()
                .position(|r| seq_value(&r.sequence_number) > seq_value(s))
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
