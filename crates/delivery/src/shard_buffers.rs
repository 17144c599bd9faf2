//! Per-shard buffering: the pure state machine that decides when objects are cut, when a flush
//! intent must be recorded and when the checkpoint may move.
//!
//! ## The flush protocol (exactly once in S3 across replays and zombies)
//! Objects are named by (prefix, shard, first record), so writing the same object twice is
//! harmless; a duplicate could only come from a replay that cuts a partition at a DIFFERENT
//! record than the first run did. Cuts are therefore of two kinds:
//!
//! 1. **Deterministic cuts** — a partition's buffer reaches the size limit. Whether this happens
//!    at a record depends only on the records since the last flush point, so a replay from the
//!    same flush point cuts at the same records and writes byte-identical objects — provided
//!    the replay adds no flush point of its own before them. So before such an object is
//!    written, the *horizon* (its last record) is recorded in the lease with the fenced write
//!    (skipped when an earlier horizon already covers it); a replay makes no time-based flush
//!    before the recorded horizon.
//! 2. **Shard-wide flushes** — triggered by time (a buffer older than the interval), shutdown or
//!    shard end, i.e. by things a replay cannot reproduce. Before cutting, the state machine asks
//!    for a *flush intent* `X` (the last record read) to be recorded in the shard's lease with the
//!    fenced conditional write; only after that does it cut EVERY open buffer at `X`. When all
//!    objects up to `X` are durable it asks for the checkpoint `X` (which clears the intent).
//!
//! A checkpoint is only ever a *flush point*: a position at which every buffer of the shard is
//! empty. A new owner (or a restart) resumes after the checkpoint with empty buffers, exactly
//! the state the first run had there. If the lease holds an unfinished intent `X`, the new owner
//! makes no time-based flush before `X` (nor before the recorded horizon) and cuts every buffer
//! exactly at `X`, reproducing the objects the first owner may already have written.
//!
//! Invariants (unit- and property-tested below):
//! - every record after the checkpoint lands in exactly one object per run, and any two runs
//!   from the same (checkpoint, intent) write the same key with the same bytes for every record
//!   — with one exception: a Parquet buffer that memory-budget compaction
//!   ([`ShardBuffers::compact`]) encoded early in one run and not in the other gets the same key
//!   and the same rows in the same order, but another row-group layout, so other bytes (the
//!   shard's own bound on rows not yet encoded, [`UNENCODED_ROWS_LIMIT`], compacts at the same
//!   records in every run from the same checkpoint, so it makes no such difference);
//! - a worker that lost its lease cannot record an intent or a horizon (the writes are fenced),
//!   so it can only ever write objects a replay reproduces byte for byte: crash before upload, crash after
//!   upload before checkpoint, and a zombie uploading after takeover all leave each record in
//!   S3 exactly once;
//! - the checkpoint never passes a record whose object is not durable.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kinesink_parquet_writer::{
    Codec, FORMAT_CONVERSION_FAILED_OUTPUT_TYPE, JsonRecordParser, ObjectEncoder, ObjectFormat,
    ParsedJsonRecord, RecordEncoder, RecordFraming,
};
use kinesink_partitioning::{
    EvaluateError, MetadataQuery, OutputPrefixes, PartitionKeys, PrefixInputs, error_codes,
};
use kinesink_record_deaggregation::UserRecord;
use kinesink_sequence_position::SequencePosition;

use crate::table_partition::{TablePartition, TableRouter};

/// When buffers are cut (Firehose's BufferingHints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Cut a partition before its uncompressed size would exceed this many bytes (a single
    /// larger record still makes its own object). Deterministic.
    pub size_bytes: usize,
    /// Flush the shard once a buffer's first record has waited this long (0: at every tick).
    pub interval_ms: u64,
}

impl BufferLimits {
    /// Share of the interval by which shards' interval flushes are spread.
    const STAGGER_PERCENT: u64 = 20;

    /// These limits for one shard, its interval shortened by a fixed share of up to 20% taken
    /// from its shard id. Shards of a worker start together, so with one interval they would
    /// all flush every partition at the same instant, a burst of encoding and writing that
    /// stalls reading (64 shards x 168 partitions: 13 s behind for a moment); staggered, their
    /// flushes spread over a fifth of the interval. Guarantees: never longer than the configured
    /// interval (Firehose's hint is an upper bound), the same for the same shard id on every
    /// worker and run; sizes unchanged.
    #[must_use]
    pub fn staggered_for(self, shard_id: &str) -> Self {
        // FNV-1a: stable across builds, unlike std's hasher.
        let hash = shard_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let share = hash % 1000; // per mille of the stagger window
        let window = self.interval_ms / 100 * Self::STAGGER_PERCENT;
        Self {
            interval_ms: self.interval_ms - window * share / 1000,
            ..self
        }
    }
}

/// What happens to a record of a new partition when the shard already has the maximum number
/// of open partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionLimitAction {
    /// The record goes to the error output as `activePartitionExceeded` (Firehose's behaviour).
    ErrorOutput,
    /// The least recently used partition is cut (like a size cut) to make room.
    FlushLeastRecentlyUsed,
}

/// The active-partition limit. It applies per shard, so that which records are refused or
/// which partition is cut depends only on the shard's records (replays do the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLimit {
    /// Most data partitions open at once in one shard.
    pub max_active: usize,
    /// What to do beyond it.
    pub action: PartitionLimitAction,
}

/// Firehose's error-output type for records refused by the active-partition limit.
pub const ACTIVE_PARTITION_EXCEEDED: &str = "activePartitionExceeded";

/// How objects of one shard are partitioned, encoded and named.
#[derive(Debug, Clone)]
pub struct ObjectLayout {
    /// The shard whose records these buffers hold.
    pub shard_id: String,
    /// Delivery name (first part of every object name).
    pub name: String,
    /// Format of data objects.
    pub format: ObjectFormat,
    /// Extension of data objects (with its dot, or empty).
    pub extension: String,
    /// Compression of error-output objects (JSON lines).
    pub error_codec: Codec,
    /// Data and error prefixes.
    pub prefixes: Arc<OutputPrefixes>,
    /// Partition-key extraction (Firehose's MetadataExtractionQuery), if any.
    pub query: Option<Arc<MetadataQuery>>,
    /// The active-partition limit.
    pub partition_limit: PartitionLimit,
    /// A table destination's routing: when set, data objects are data files of its tables.
    /// Each record's table comes from it (by the routing keys `query` outputs), its partition
    /// from the table's partitioner (the data prefix is not used for data), and data objects
    /// are keyed `<partition path><name>-<shard>-<first seq>-<first sub><extension>`, relative
    /// to their table's location.
    pub table: Option<Arc<dyn TableRouter>>,
}

/// Where a shard resumes: its checkpoint, and the flush intent and horizon recorded by an
/// earlier owner, from its lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeState {
    /// Every record up to here is durable (`None`: nothing checkpointed yet).
    pub checkpoint: Option<SequencePosition>,
    /// A shard-wide flush recorded after the checkpoint, to be reproduced exactly.
    pub flush_intent: Option<SequencePosition>,
    /// The last record of any object an earlier owner may have written; no time-based flush
    /// before it.
    pub horizon: Option<SequencePosition>,
}

/// A record that could not be processed; it is delivered to the error output, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// The raw bytes as read (the whole Kinesis record when it could not be unpacked).
    pub raw_data: Vec<u8>,
    /// The partition key of the record.
    pub partition_key: String,
    /// Where it sits in the shard.
    pub position: SequencePosition,
    /// Approximate arrival time, ms since the epoch.
    pub approximate_arrival_ms: i64,
    /// Firehose error output type, the first level of the error prefix (e.g. `processing-failed`).
    pub error_output_type: String,
    /// Error code, e.g. `Deaggregation.Failed`.
    pub error_code: String,
    /// Human-readable reason.
    pub error_message: String,
}

/// An input to [`ShardBuffers::step`]. Records sharing a position (the outputs of one Kinesis
/// record) come one after the other; `Tick`, `Drain` and `Flush` only come between positions.
#[derive(Debug, Clone)]
pub enum BufferEvent {
    /// A user record read from the shard, in shard order.
    Record(UserRecord),
    /// A record as the Lambda processor returned it, with its `metadata.partitionKeys` (what
    /// `!{partitionKeyFromLambda:KEY}` reads; empty when it returned none), in shard order.
    LambdaRecord {
        /// The record, its data the function's.
        record: UserRecord,
        /// The keys the function returned with it.
        partition_keys: std::collections::BTreeMap<String, String>,
    },
    /// A record that failed processing, in shard order; goes to the error output.
    Failed(FailedRecord),
    /// A record as read (after KPL deaggregation, before any other processing), for the source
    /// record backup (`destination.backup_prefix`): it comes before the records made from it,
    /// at their position. Ignored when the layout has no backup prefix.
    Source(UserRecord),
    /// Time passed: flush the shard if a buffer is older than the interval.
    Tick,
    /// Flush everything (shutdown, shard end).
    Drain,
    /// Flush every buffer now and read on (memory pressure, see [`crate::MemoryBudget`]). A
    /// shard-wide flush like an expired interval: its intent is recorded first. Ignored while a
    /// flush is under way or an earlier owner's flush point is still ahead.
    Flush,
    /// The progress asked for by [`BufferAction::RecordProgress`] is stored in the lease.
    ProgressRecorded,
    /// An object from [`BufferAction::Write`] is durable at the destination.
    ObjectDurable(FlushTicket),
    /// The checkpoint asked for by [`BufferAction::Checkpoint`] is stored in the lease.
    CheckpointWritten(SequencePosition),
    /// Every event at or before this position has been given (records a stage before the
    /// buffers dropped included): it may be a flush point. See `upstream`.
    Passed(SequencePosition),
    /// Record a shard-wide flush at this position, at or after the last event given, and cut
    /// every buffer once it is passed (the Lambda stage's time cut). See `upstream`.
    FlushAt(SequencePosition),
}

/// Something the shell must do, in order, feeding the completion back as an event.
#[derive(Debug)]
pub enum BufferAction {
    /// Write this object; then send [`BufferEvent::ObjectDurable`].
    Write(ReadyObject),
    /// Store this horizon (and flush intent, if any) with the fenced lease write; then send
    /// [`BufferEvent::ProgressRecorded`].
    RecordProgress {
        /// Objects up to this record may be written once recorded.
        horizon: SequencePosition,
        /// A shard-wide flush at this record, when the progress is for one.
        flush_intent: Option<SequencePosition>,
    },
    /// Store this checkpoint with the fenced lease write; then send [`BufferEvent::CheckpointWritten`].
    Checkpoint(SequencePosition),
}

/// Errors of [`ShardBuffers::step`]; the event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The error output prefix cannot be evaluated (a configuration problem).
    #[error("the error output prefix cannot be evaluated: {0}")]
    ErrorPrefix(EvaluateError),
    /// The backup prefix cannot be evaluated for an object (a configuration problem).
    #[error("the backup prefix cannot be evaluated: {0}")]
    BackupPrefix(EvaluateError),
    /// An object could not be encoded.
    #[error("encoding object {key}: {message}")]
    Encode {
        /// The object's key.
        key: String,
        /// The encoder's error.
        message: String,
    },
    /// A record's table could not be looked up (the catalog failed): stop, read it again later.
    #[error("the record's table cannot be looked up now: {0}")]
    TableUnavailable(String),
    /// An event arrived while progress was being recorded (a shell bug).
    #[error("record {0} arrived while the flush progress was being recorded")]
    RecordDuringIntent(SequencePosition),
}

/// Identifies a written object; hand it back with [`BufferEvent::ObjectDurable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(u64);

/// An object ready to be written: its key, bytes and the records it holds.
#[derive(Debug)]
pub struct ReadyObject {
    /// Object key relative to the destination root.
    pub key: String,
    /// The encoded object.
    pub body: Vec<u8>,
    /// Number of user records inside.
    pub record_count: usize,
    /// Whether the object goes to the error output.
    pub is_error_output: bool,
    /// Its error-output type (`processing-failed`, ...) when it goes to the error output.
    pub error_output_type: Option<String>,
    /// Whether it holds source records for the backup (not delivered records).
    pub is_backup: bool,
    /// Its partition, when it is a data file of a table destination ([`ObjectLayout::table`]);
    /// its key is then relative to the table's location.
    pub table_partition: Option<TablePartition>,
    /// Position of the first record.
    pub first: SequencePosition,
    /// Position of the last record.
    pub last: SequencePosition,
    /// Approximate arrival time of the oldest record inside (ms since the epoch).
    pub oldest_arrival_ms: i64,
    /// Return this once the object is durable.
    pub ticket: FlushTicket,
}

#[derive(Debug)]
struct OpenBuffer {
    encoder: ObjectEncoder,
    last_used: u64,
    opened_at_ms: u64,
    oldest_arrival_ms: i64,
    first: SequencePosition,
    last: SequencePosition,
}

/// Which buffer a record goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PartitionId {
    /// Data, by partition keys (none without dynamic partitioning). The record's own keys
    /// become the id: nothing is copied per record.
    Data(PartitionKeys),
    /// The error output, by error-output type.
    Error(String),
    /// The source record backup.
    Backup,
    /// Data of a table destination, by the record's partition in the table.
    Table(TablePartition),
}

impl PartitionId {
    /// Whether the buffer holds delivered data (counts against the active-partition limit).
    fn is_data(&self) -> bool {
        matches!(self, Self::Data(_) | Self::Table(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Flush {
    Idle,
    AwaitingDurable { at: SequencePosition, up_to: u64 },
    AwaitingCheckpoint(SequencePosition),
}

/// Progress being recorded, and the objects withheld until it is.
#[derive(Debug)]
struct PendingProgress {
    horizon: SequencePosition,
    flush_intent: Option<SequencePosition>,
    withheld: Vec<ReadyObject>,
}

/// The buffers of one shard, and the flush protocol described in the module docs.
///
/// Guarantees: every record given in a `Record` or `Failed` event ends up in exactly one
/// [`ReadyObject`]; objects hold this shard's records only, in shard order; a
/// [`BufferAction::Checkpoint`] is only asked for at a flush point whose objects (and all
/// earlier ones) were reported durable; time never decides a cut without a recorded intent.
#[derive(Debug)]
pub struct ShardBuffers {
    layout: ObjectLayout,
    limits: BufferLimits,
    /// Open buffers by partition (hashed: ordered lookups compared key texts ~8 times a
    /// record); whatever depends on their order sorts them.
    open: HashMap<PartitionId, OpenBuffer, foldhash::fast::RandomState>,
    last_read: Option<SequencePosition>,
    committed: Option<SequencePosition>,
    replay_intent: Option<SequencePosition>,
    replay_limit: Option<SequencePosition>,
    recorded_horizon: Option<SequencePosition>,
    progress: Option<PendingProgress>,
    unrecorded: Vec<ReadyObject>,
    flush: Flush,
    draining: bool,
    pending: BTreeSet<u64>,
    next_ticket: u64,
    next_use: u64,
    /// Parses each record once for its keys and its Parquet row (memory reused).
    record_parser: JsonRecordParser,
    /// Reused for checking each record's data prefix (the text itself is not kept).
    prefix_scratch: String,
    /// Bytes appended since the unencoded-rows bound was last checked; zero whenever every
    /// buffer is empty, so a replay checks at the same records.
    appended_since_bound: usize,
    /// Most bytes of Parquet rows not yet encoded the open buffers hold together.
    unencoded_rows_limit: usize,
}

impl ShardBuffers {
    /// Empty buffers for a shard resuming from `resume`.
    #[must_use]
    pub fn new(layout: ObjectLayout, limits: BufferLimits, resume: ResumeState) -> Self {
        let after_checkpoint =
            |p: &SequencePosition| resume.checkpoint.as_ref().is_none_or(|c| p > c);
        let replay_intent = resume.flush_intent.clone().filter(after_checkpoint);
        let recorded_horizon = resume.horizon.clone().max(resume.flush_intent.clone());
        let replay_limit = recorded_horizon.clone().filter(after_checkpoint);
        Self {
            layout,
            limits,
            open: HashMap::default(),
            last_read: resume.checkpoint.clone(),
            committed: resume.checkpoint,
            replay_intent,
            replay_limit,
            recorded_horizon,
            progress: None,
            unrecorded: Vec::new(),
            flush: Flush::Idle,
            draining: false,
            pending: BTreeSet::new(),
            next_ticket: 0,
            next_use: 0,
            record_parser: JsonRecordParser::new(),
            prefix_scratch: String::new(),
            appended_since_bound: 0,
            unencoded_rows_limit: UNENCODED_ROWS_LIMIT,
        }
    }

    /// Advances the state machine at wall-clock time `now_ms` (used only to age buffers).
    ///
    /// # Errors
    /// [`BufferError`]; the event is not applied.
    pub fn step(
        &mut self,
        now_ms: u64,
        event: BufferEvent,
    ) -> Result<Vec<BufferAction>, BufferError> {
        let mut actions = Vec::new();
        match event {
            BufferEvent::Record(record) => self.record(now_ms, &record, None, &mut actions)?,
            BufferEvent::LambdaRecord {
                record,
                partition_keys,
            } => self.record(now_ms, &record, Some(&partition_keys), &mut actions)?,
            BufferEvent::Failed(failed) => {
                let position = failed.position.clone();
                self.before_record(&position, &mut actions)?;
                self.add_failed(now_ms, &failed, &mut actions)?;
                self.after_record(position);
            }
            BufferEvent::Source(record) => {
                let position = record.position.clone();
                self.before_record(&position, &mut actions)?;
                self.add_source(now_ms, &record, &mut actions)?;
                self.after_record(position);
            }
            BufferEvent::Tick => {
                self.cut_at_reached_intent(&mut actions)?;
                let expired = self
                    .open
                    .values()
                    .any(|b| now_ms.saturating_sub(b.opened_at_ms) >= self.limits.interval_ms);
                if expired {
                    self.start_flush(&mut actions);
                }
            }
            BufferEvent::Drain => {
                self.cut_at_reached_intent(&mut actions)?;
                self.draining = true;
                self.start_flush(&mut actions);
            }
            BufferEvent::Flush => {
                self.cut_at_reached_intent(&mut actions)?;
                self.start_flush(&mut actions);
            }
            BufferEvent::ProgressRecorded => {
                if let Some(p) = self.progress.take() {
                    self.recorded_horizon =
                        self.recorded_horizon.take().max(Some(p.horizon.clone()));
                    actions.extend(p.withheld.into_iter().map(BufferAction::Write));
                    let (covered, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unrecorded)
                        .into_iter()
                        .partition(|o| o.last <= p.horizon);
                    self.unrecorded = rest;
                    actions.extend(covered.into_iter().map(BufferAction::Write));
                    if let Some(at) = p.flush_intent {
                        self.cut_at_recorded_intent(at, &mut actions)?;
                    }
                }
                self.record_withheld(&mut actions);
                if self.draining {
                    self.start_flush(&mut actions);
                }
            }
            BufferEvent::ObjectDurable(FlushTicket(t)) => {
                self.pending.remove(&t);
            }
            BufferEvent::Passed(at) => self.pass(at, &mut actions)?,
            BufferEvent::FlushAt(at) => self.flush_at(at, &mut actions),
            BufferEvent::CheckpointWritten(at) => {
                if self.flush == Flush::AwaitingCheckpoint(at.clone()) {
                    self.flush = Flush::Idle;
                }
                if self.committed.as_ref().is_none_or(|c| *c < at) {
                    self.committed = Some(at);
                }
                if self.draining {
                    self.start_flush(&mut actions);
                }
            }
        }
        self.maybe_checkpoint(&mut actions);
        Ok(actions)
    }

    /// Starts a shard-wide flush at the last record read, unless one is running or an earlier
    /// owner's intent must be reached first.
    fn start_flush(&mut self, actions: &mut Vec<BufferAction>) {
        if self.flush != Flush::Idle
            || self.progress.is_some()
            || self.replaying_intent()
            || self.open.is_empty()
        {
            return;
        }
        let at = self
            .last_read
            .clone()
            .expect("open buffers hold records read");
        self.progress = Some(PendingProgress {
            horizon: at.clone(),
            flush_intent: Some(at.clone()),
            withheld: Vec::new(),
        });
        actions.push(BufferAction::RecordProgress {
            horizon: at.clone(),
            flush_intent: Some(at),
        });
    }

    /// Emits a size-cut object at once when a recorded horizon covers it, or withholds it until
    /// its horizon is recorded.
    fn emit_size_cut(&mut self, object: ReadyObject, actions: &mut Vec<BufferAction>) {
        if self
            .recorded_horizon
            .as_ref()
            .is_some_and(|h| object.last <= *h)
        {
            actions.push(BufferAction::Write(object));
            return;
        }
        self.unrecorded.push(object);
        self.record_withheld(actions);
    }

    /// Asks for the horizon of withheld size-cut objects to be recorded, one request at a time.
    fn record_withheld(&mut self, actions: &mut Vec<BufferAction>) {
        if self.progress.is_some() || self.unrecorded.is_empty() {
            return;
        }
        let withheld = std::mem::take(&mut self.unrecorded);
        let horizon = withheld
            .iter()
            .map(|o| o.last.clone())
            .max()
            .expect("non-empty");
        self.progress = Some(PendingProgress {
            horizon: horizon.clone(),
            flush_intent: None,
            withheld,
        });
        actions.push(BufferAction::RecordProgress {
            horizon,
            flush_intent: None,
        });
    }

    fn cut_everything(
        &mut self,
        at: SequencePosition,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        // In key order: the same objects come out in the same order on every replay.
        let mut all: Vec<PartitionId> = self.open.keys().cloned().collect();
        all.sort_unstable();
        for p in all {
            let object = self.cut(&p)?;
            actions.push(BufferAction::Write(object));
        }
        self.flush = Flush::AwaitingDurable {
            at,
            up_to: self.next_ticket,
        };
        Ok(())
    }

    /// Asks for a checkpoint when a flush point's objects are all durable, or when every buffer
    /// is empty and everything written is durable (a flush point reached by size cuts alone).
    fn maybe_checkpoint(&mut self, actions: &mut Vec<BufferAction>) {
        let at = match &self.flush {
            Flush::AwaitingDurable { at, up_to }
                if self.pending.first().is_none_or(|t| t >= up_to) =>
            {
                at.clone()
            }
            Flush::Idle
                if self.open.is_empty()
                    && self.pending.is_empty()
                    && self.progress.is_none()
                    && self.unrecorded.is_empty()
                    && self.replay_intent.is_none() =>
            {
                match &self.last_read {
                    Some(r) if self.committed.as_ref().is_none_or(|c| c < r) => r.clone(),
                    _ => return,
                }
            }
            _ => return,
        };
        self.flush = Flush::AwaitingCheckpoint(at.clone());
        actions.push(BufferAction::Checkpoint(at));
    }

    /// Checks done before any record: no record during a shard-wide intent write, and an
    /// earlier owner's intent that this record passes without having hit it exactly.
    fn before_record(
        &mut self,
        position: &SequencePosition,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        if self
            .progress
            .as_ref()
            .is_some_and(|p| p.flush_intent.is_some())
        {
            return Err(BufferError::RecordDuringIntent(position.clone()));
        }
        debug_assert!(
            self.last_read.as_ref().is_none_or(|last| position >= last),
            "records come in shard order: {position} after {:?}",
            self.last_read
        );
        if self.replay_intent.as_ref().is_some_and(|x| position > x) {
            let at = self.replay_intent.take().expect("checked");
            self.cut_everything(at, actions)?;
        }
        Ok(())
    }

    fn after_record(&mut self, position: SequencePosition) {
        self.last_read = Some(position.clone());
        if self.replay_limit.as_ref().is_some_and(|h| position >= *h) {
            self.replay_limit = None;
        }
    }

    /// Cuts at an earlier owner's intent once every record at it was read: before the next
    /// later record ([`Self::before_record`]), or at the batch's end (a tick, flush or drain)
    /// when the last record read is at the intent. Never at its first record: several records
    /// may share its position.
    fn cut_at_reached_intent(
        &mut self,
        actions: &mut Vec<BufferAction>,
    ) -> Result<(), BufferError> {
        if self.replay_intent.is_some() && self.replay_intent == self.last_read {
            let at = self.replay_intent.take().expect("checked");
            self.cut_everything(at, actions)?;
        }
        Ok(())
    }

    /// Whether everything read is durable and checkpointed, and no flush is under way.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.open.is_empty()
            && self.pending.is_empty()
            && self.progress.is_none()
            && self.unrecorded.is_empty()
            && self.flush == Flush::Idle
            && self.last_read == self.committed
    }

    /// Whether a checkpoint was asked for ([`BufferAction::Checkpoint`]) and its
    /// [`BufferEvent::CheckpointWritten`] has not come yet.
    #[must_use]
    pub fn awaits_checkpoint(&self) -> bool {
        matches!(self.flush, Flush::AwaitingCheckpoint(_))
    }

    /// Whether an earlier owner's flush intent or horizon is still ahead (no time-based flush,
    /// not even at shutdown, before it).
    #[must_use]
    pub fn replaying_intent(&self) -> bool {
        self.replay_intent.is_some() || self.replay_limit.is_some()
    }

    /// Number of open buffers (partitions with records not yet cut).
    #[must_use]
    pub fn open_partitions(&self) -> usize {
        self.open.len()
    }

    /// Uncompressed bytes currently buffered.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.open.values().map(|b| b.encoder.input_bytes()).sum()
    }
}

mod error_record;
mod held_memory;
mod object_cut;
mod partition_routing;
mod source_backup;
mod table_routing;
#[cfg(test)]
mod tests;
mod upstream;

use error_record::{error_record_json, failed_record, keyless_prefix};
pub use held_memory::UNENCODED_ROWS_LIMIT;
