//! Shard reading: the records of one shard, in order, from a checkpoint to the shard's end.
//!
//! Owns: the [`ShardSource`] interface over Kinesis, with implementations for GetRecords polling
//! ([`KinesisShardSource`]), enhanced fan-out over SubscribeToShard ([`KinesisEfoSource`],
//! consumer registration in [`register_consumer`]) and in memory, and the [`ShardReader`] loop
//! that handles iterators, expiry, throttling backoff, idle pauses and shard end.
//!
//! Must never: skip records (an expired iterator is re-created after the last record handed
//! out), or hand out a record twice within one reader.

mod efo_source;
mod get_records_body;
mod kinesis_source;
mod memory_source;
mod plain_body_scanner;
mod reader;
mod record_file;
mod serde_body;
mod source;

pub use efo_source::{KinesisEfoSource, register_consumer};
pub use kinesis_source::{KinesisShardSource, StreamId};
pub use memory_source::MemoryShardSource;
pub use reader::{ReadBatch, ReaderSettings, ShardReader};
pub use record_file::{RecordFile, RecordFileError, RecordFileFormat};
pub use source::{RecordPage, ShardInfo, ShardSource, SourceError, StartPosition};
