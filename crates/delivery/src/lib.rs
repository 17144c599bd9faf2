//! Delivery: from user records to durable objects, and the checkpoint that may follow them.
//!
//! Owns: per-shard buffering ([`ShardBuffers`], a pure state machine driven with explicit
//! time), object naming ([`ObjectKey`]),
//! the destinations objects are written to ([`ObjectSink`]: S3, local directory, memory), and
//! the flush protocol that makes replays and zombies unable to duplicate a record (see
//! [`ShardBuffers`]' module documentation).
//!
//! Must never: advance a checkpoint past a record whose object is not durable, mix records of
//! two shards in one object, read the wall clock inside the state machines (the shell passes
//! `now`), or drop a record.
//!
//! ## Object key layout
//! `<destination root><evaluated prefix><name>-<shard id>-<first sequence number>-<first
//! sub-sequence number><extension>`, e.g.
//! `2026/11/22/10/clickstream-to-s3-shardId-000000000001-4959...1234-0.gz`. The evaluated prefix
//! is computed from the OLDEST record's approximate arrival time in the object.

mod destination;
mod file_sink;
mod memory_budget;
mod memory_sink;
mod object_key;
mod position;
mod progress_store;
mod s3_sink;
mod shard_buffers;
mod sink;

pub use destination::{Destination, DestinationError};
pub use file_sink::FileSink;
pub use memory_budget::{BudgetVerdict, MemoryBudget, ShardUsage};
pub use memory_sink::MemorySink;
pub use object_key::ObjectKey;
pub use position::RecordPosition;
pub use progress_store::{
    ProgressCondition, ProgressStore, ProgressTag, ProgressWrite, conformance as progress_store_conformance,
    progress_key,
};
pub use s3_sink::{MIN_PART_SIZE, S3Sink, S3SinkOptions};
pub use shard_buffers::{
    ACTIVE_PARTITION_EXCEEDED, BufferAction, BufferError, BufferEvent, BufferLimits, FailedRecord,
    FlushTicket, ObjectLayout, PartitionLimit, PartitionLimitAction, ReadyObject, ResumeState,
    ShardBuffers,
};
pub use sink::{ObjectSink, SinkError};
