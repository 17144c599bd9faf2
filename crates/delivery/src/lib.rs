//! Delivery: from user records to durable objects, and the checkpoint that may follow them.
//!
//! Owns: the record path from a Kinesis record to buffer events ([`RecordPipeline`]: KPL
//! deaggregation, sub-record splitting, skipping what a resumed shard already delivered),
//! the Lambda processor between the pipeline and the buffers ([`LambdaStage`], a pure state
//! machine batching records and feeding the function's outcomes on in shard order, whose module
//! documentation explains how its batches stay the same on a replay; its shell
//! [`drive_lambda`] and the [`LambdaInvoker`] trait, real on `aws-sdk-lambda` and in memory),
//! per-shard buffering ([`ShardBuffers`], a pure state machine driven with explicit
//! time), object naming ([`ObjectKey`]), the retry class of a failed write
//! ([`SinkErrorClass`], [`WriteRetry`]),
//! the destinations objects are written to ([`ObjectSink`]: S3, local directory, memory), and
//! the flush protocol that makes replays and zombies unable to duplicate a record (see
//! [`ShardBuffers`]' module documentation).
//!
//! Objects are written once: the S3 and file sinks write conditionally (`If-None-Match: *`,
//! exclusive file creation) and report a key found already written as
//! [`PutOutcome::AlreadyWritten`] with which records the existing object holds (recorded when
//! it was written: S3 user metadata, a sidecar file). [`write_once`] takes it as done when those
//! are this object's records, and otherwise (a replay that cut by size differently) writes the
//! object under an alternative key: duplicates in that rare case, never a lost record.
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
//!
//! ## Progress objects: the destination holds the truth, the lease table is a cache
//! Each shard's checkpoint and the flush intent and horizon of the protocol above also live in
//! one small JSON object per shard next to the data, `<destination
//! root>_kinesink/<name>/progress/<shard id>.json` ([`progress_key`]; `_`-prefixed paths are
//! hidden from Hive, Spark, Athena and Glue crawlers), written through a [`ProgressStore`]. The
//! worker writes it BEFORE each fenced lease write (flush progress and checkpoint), so it is
//! never behind what any written object relies on; a lease row deleted by hand, or a dropped
//! lease table, is recreated from it instead of at the initial position.
//!
//! Why compare-and-swap on one object (S3 conditional writes: `If-Match` on the ETag last
//! written, `If-None-Match: *` for the first write) rather than position-named objects where
//! recovery takes the highest: the danger is not only a stale writer moving progress backwards
//! (a highest-name rule would survive that) but a paused writer recording a NEW intent after a
//! successor has already read the progress — e.g. it recorded the intent in its lease row, the
//! row is deleted and recreated from the older object, the successor starts, and then the
//! paused writer stores the intent and cuts objects at it, which the successor never learns of.
//! With compare-and-swap the successor *claims* the object when it takes the lease (reads it,
//! writes it back as a new version), so every later write of the earlier holder fails with 412
//! and that holder stops before writing an object. Position-named objects cannot fence like
//! that, and they also need listing and deleting to stay small. The cost is one PutObject per
//! fenced lease write (two per shard-wide flush: intent, checkpoint; one per horizon of a size
//! cut) plus a GetObject and a PutObject per lease take. Each version carries a higher
//! `version` number, so no two writes store equal bytes (equal bytes would give equal ETags).
//! Progress objects are overwritten in place, unlike data objects; moto 5.2.5 (the S3
//! stand-in) enforces both conditions on PutObject, and the integration tests run the same
//! conformance checks against it as against [`FileSink`] and [`MemorySink`].

mod destination;
mod destination_health;
mod drive;
mod file_sink;
mod lambda_drive;
mod lambda_invoker;
mod lambda_processor;
mod lambda_stage;
mod memory_budget;
mod memory_sink;
mod object_contents;
mod object_key;
mod preview;
mod progress_store;
mod record_pipeline;
mod s3_sink;
mod shard_buffers;
mod sink;
mod table_partition;
mod write_failure;
mod write_once;

pub use destination::{Destination, DestinationError};
pub use destination_health::DestinationHealth;
pub use drive::{DriveError, PerformActions, drive};
pub use file_sink::FileSink;
pub use kinesink_record_processing::lambda_retry::RetryPolicy as LambdaRetryPolicy;
pub use lambda_drive::{InvocationCounts, LambdaShell, drive_event, drive_lambda};
pub use lambda_invoker::{
    FnLambdaInvoker, InvokeFailure, LambdaFn, LambdaInvoker, SdkLambdaInvoker,
};
pub use lambda_processor::LambdaProcessor;
pub use lambda_stage::{LambdaCounts, LambdaStage, StageAction, StageEvent};
pub use memory_budget::{BudgetVerdict, MemoryBudget, ShardUsage};
pub use memory_sink::MemorySink;
pub use object_contents::{LAST_METADATA, ObjectContents, RECORDS_METADATA};
pub use object_key::ObjectKey;
pub use preview::{FeedError, PreviewError, PreviewSummary, feed, feed_through, preview};
pub use progress_store::{
    ProgressCondition, ProgressStore, ProgressTag, ProgressWrite,
    conformance as progress_store_conformance, progress_key,
};
pub use record_pipeline::RecordPipeline;
pub use s3_sink::{MIN_PART_SIZE, S3Sink, S3SinkOptions};
pub use shard_buffers::{
    ACTIVE_PARTITION_EXCEEDED, BufferAction, BufferError, BufferEvent, BufferLimits, FailedRecord,
    FlushTicket, ObjectLayout, PartitionLimit, PartitionLimitAction, ReadyObject, ResumeState,
    ShardBuffers, UNENCODED_ROWS_LIMIT,
};
pub use sink::{ObjectSink, PutOutcome, SinkError, SinkErrorClass};
pub use table_partition::{
    DESTINATION_DATABASE_KEY, DESTINATION_TABLE_KEY, RouteError, RoutedTable, SingleTable,
    TablePartition, TablePartitionFailure, TablePartitioner, TableRouter,
};
pub use write_failure::{PERMANENT_RETRY_PACE, WriteRetry, classify_io, classify_s3};
pub use write_once::{Placement, alternative_key, write_once};
