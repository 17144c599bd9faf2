//! The interface to a stream's shards.

use async_trait::async_trait;
use kinesink_record_deaggregation::KinesisRecord;

/// A shard as listed by ListShards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard id.
    pub shard_id: String,
    /// The parents (split parent, or both merge parents).
    pub parent_shard_ids: Vec<String>,
    /// Whether the shard is closed (has an ending sequence number).
    pub closed: bool,
}

/// Where a new iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest record in the shard.
    TrimHorizon,
    /// Just after the most recent record.
    Latest,
    /// The first record at or after this time (ms since the Unix epoch).
    AtTimestamp(i64),
    /// The record with this sequence number.
    AtSequence(String),
    /// The record after this sequence number.
    AfterSequence(String),
}

/// One GetRecords response.
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    /// The records, in shard order.
    pub records: Vec<KinesisRecord>,
    /// The iterator for the next call; `None` once a closed shard is read to its end.
    pub next_iterator: Option<String>,
    /// How far the response is behind the tip of the shard.
    pub millis_behind_latest: Option<i64>,
    /// Child shards, returned when the end of a closed shard is reached.
    pub child_shard_ids: Vec<String>,
}

/// Errors of a shard source, classified for the reader's retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The iterator expired (5 minutes unused); get a new one.
    #[error("shard iterator expired")]
    ExpiredIterator,
    /// Read throughput exceeded; back off and retry.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The stream or shard does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The service could not be reached or failed; retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// Read access to a stream's shards.
///
/// Guarantees of every implementation: records of a shard come in sequence order; an iterator
/// returned for [`StartPosition::AfterSequence`] starts exactly after that record.
#[async_trait]
pub trait ShardSource: Send + Sync {
    /// All shards of the stream, open and closed (paginated internally).
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError>;

    /// A new iterator for `shard_id` at `position`.
    async fn shard_iterator(
        &self,
        shard_id: &str,
        position: &StartPosition,
    ) -> Result<String, SourceError>;

    /// Up to `limit` records from `iterator`.
    async fn get_records(&self, iterator: &str, limit: u32) -> Result<RecordPage, SourceError>;
}
