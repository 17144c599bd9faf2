//! The async shell around one shard: read, buffer, write objects, checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use kinesink_delivery::{
    BudgetVerdict, BufferAction, BufferEvent, FlushTicket, ObjectContents, ObjectSink, Placement,
    PutOutcome, ReadyObject, RecordPosition, ShardBuffers, ShardUsage,
};
use kinesink_lease_coordination::{Checkpoint, LeaseKeeper};
use kinesink_shard_reader::{ReadBatch, ShardReader, SourceError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::destination_progress::{ProgressFailure, ProgressObject};
use crate::lease_outage::{LeaseWrites, WriteStop};
use crate::shared_memory_budget::SharedMemoryBudget;
use crate::stall_watch::StallWatch;
use kinesink_delivery::RecordPipeline;

/// Counters shared by all shard tasks of a worker.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// User records written in objects (data and error output).
    pub records: AtomicU64,
    /// Objects written.
    pub objects: AtomicU64,
    /// Records written to the error output.
    pub failed_records: AtomicU64,
    /// Bytes written (compressed object sizes).
    pub bytes: AtomicU64,
    /// Per-shard progress, for the terminal view.
    pub shards: std::sync::Mutex<std::collections::BTreeMap<String, ShardProgress>>,
}

/// What the terminal progress view shows for one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardProgress {
    /// Kinesis records read.
    pub read: u64,
    /// User records written to S3 (data and error output).
    pub delivered: u64,
    /// MillisBehindLatest of the last read.
    pub millis_behind: Option<i64>,
}

impl DeliveryStats {
    fn update(&self, shard_id: &str, f: impl FnOnce(&mut ShardProgress)) {
        if let Ok(mut map) = self.shards.lock() {
            f(map.entry(shard_id.to_owned()).or_default());
        }
    }

    /// A copy of every shard's progress.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(String, ShardProgress)> {
        self.shards
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// How a shard task ended.
#[derive(Debug)]
pub enum ShardOutcome {
    /// Stopped on request after delivering and checkpointing everything read.
    Stopped,
    /// The lease was lost; buffered records were discarded (the new owner re-reads them).
    LeaseLost,
    /// The shard was read to its end, delivered, and checkpointed at `SHARD_END` (its children
    /// are found by the shard sync that follows).
    Ended,
    /// An error that stopped this shard (nothing past the last checkpoint is lost).
    Failed(String),
}

/// Batches read ahead by a [`ShardReader`] running in its own task.
///
/// The reader keeps one batch ready while the previous one is delivered, and a GetRecords call
/// in flight is never cancelled by buffer ticks (a cancelled call would be repeated from the
/// same iterator and could starve the shard). Dropping the feed stops the reader.
pub struct ReaderFeed {
    batches: mpsc::Receiver<Result<ReadBatch, SourceError>>,
    _reader: AbortOnDropHandle<()>,
}

impl ReaderFeed {
    /// Starts reading in a background task.
    #[must_use]
    pub fn spawn(mut reader: ShardReader) -> Self {
        let (tx, batches) = mpsc::channel(1);
        let handle = tokio::spawn(async move {
            loop {
                let batch = reader.next_batch().await;
                let last = batch.as_ref().map_or(true, |b| b.shard_end.is_some());
                if tx.send(batch).await.is_err() || last {
                    return;
                }
            }
        });
        Self {
            batches,
            _reader: AbortOnDropHandle::new(handle),
        }
    }
}

/// What a shard task needs.
pub struct ShardTask {
    /// The shard.
    pub shard_id: String,
    /// Batches of the shard, read from its checkpoint.
    pub reader: ReaderFeed,
    /// Unpacks records and skips what was delivered before a restart.
    pub pipeline: RecordPipeline,
    /// Buffers and the checkpoint watermark.
    pub buffers: ShardBuffers,
    /// Fenced checkpoint writes.
    pub keeper: Arc<LeaseKeeper>,
    /// The same writes retried through DynamoDB outages, and the gate that holds every write
    /// as owner (objects too) while this worker's leases may have expired.
    pub lease_writes: LeaseWrites,
    /// The shard's progress object in the destination, claimed by this worker: written before
    /// every lease write (the lease row is a cache of it).
    pub progress: ProgressObject,
    /// Where objects go.
    pub sink: Arc<dyn ObjectSink>,
    /// Shared counters.
    pub stats: Arc<DeliveryStats>,
    /// Set while the last read found the shard at its tip with nothing buffered unwritten.
    pub caught_up: Arc<AtomicBool>,
    /// How often buffer intervals are checked.
    pub tick: Duration,
    /// Whether data objects are Parquet (records are then converted).
    pub parquet: bool,
    /// The worker's memory budget: this task reports its buffered bytes after every batch and
    /// tick, flushes when told to, and stops reading while told to wait.
    pub budget: Arc<SharedMemoryBudget>,
    /// How long a failing object write is retried before the shard fails (transient failures
    /// with exponential backoff and jitter, permanent refusals at a slow fixed pace); nothing is
    /// checkpointed past the object meanwhile.
    pub retry_duration: Duration,
    /// Told of every completed step of the loop, so a shard that stops moving is reported.
    pub stall_watch: Arc<StallWatch>,
    /// Told of permanent destination refusals and of the next success (`/readyz`).
    pub health: Arc<kinesink_delivery::DestinationHealth>,
    /// What the shard did since its last INFO summary line.
    pub summary: ShardSummary,
}

/// One INFO line per shard per [`ShardSummary::EVERY`] (objects are logged at DEBUG): records
/// read and delivered, objects, bytes and how far behind the shard is.
#[derive(Debug)]
pub struct ShardSummary {
    since: Instant,
    read: u64,
    records: u64,
    objects: u64,
    bytes: u64,
}

impl ShardSummary {
    /// How often a shard's summary line is logged.
    pub const EVERY: Duration = Duration::from_secs(60);

    /// A summary starting now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            since: Instant::now(),
            read: 0,
            records: 0,
            objects: 0,
            bytes: 0,
        }
    }

    /// Logs the line and starts the next period once [`ShardSummary::EVERY`] has passed.
    fn log_if_due(&mut self, shard_id: &str, millis_behind: Option<i64>) {
        if self.since.elapsed() < Self::EVERY {
            return;
        }
        tracing::info!(
            shard_id = %shard_id,
            read = self.read,
            delivered = self.records,
            objects = self.objects,
            bytes = self.bytes,
            millis_behind_latest = ?millis_behind,
            period_s = self.since.elapsed().as_secs(),
            "shard summary"
        );
        *self = Self::new();
    }
}

impl Default for ShardSummary {
    fn default() -> Self {
        Self::new()
    }
}

enum Stop {
    Lost,
    Failed(String),
}

impl From<WriteStop> for Stop {
    fn from(stop: WriteStop) -> Self {
        match stop {
            WriteStop::Lost => Stop::Lost,
            WriteStop::Failed(message) => Stop::Failed(message),
        }
    }
}

impl ShardTask {
    /// Runs until `stop` (deliver, checkpoint, return), `lost` (return at once), shard end or error.
    pub async fn run(mut self, stop: CancellationToken, lost: CancellationToken) -> ShardOutcome {
        let started = Instant::now();
        let now_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut budget_changes = self.budget.subscribe();
        let mut waiting = false;
        let result: Result<ShardOutcome, Stop> = async {
            loop {
                self.stall_watch.progressed(&self.shard_id, Instant::now());
                tokio::select! {
                    biased;
                    () = lost.cancelled() => return Err(Stop::Lost),
                    () = stop.cancelled() => {
                        self.apply(now_ms(), BufferEvent::Drain, &lost).await?;
                        if self.buffers.replaying_intent() {
                            tracing::info!(shard_id = %self.shard_id, "stopping before an earlier owner's recorded flush point; the next owner completes it");
                        }
                        return Ok(ShardOutcome::Stopped);
                    }
                    _ = tick.tick() => {
                        let behind = self.stats.shards.lock().ok().and_then(|m| m.get(&self.shard_id).and_then(|p| p.millis_behind));
                        self.summary.log_if_due(&self.shard_id, behind);
                        self.apply(now_ms(), BufferEvent::Tick, &lost).await?;
                        waiting = self.obey_budget(now_ms(), &lost, waiting).await?;
                    }
                    Ok(()) = budget_changes.changed() => {
                        waiting = self.obey_budget(now_ms(), &lost, waiting).await?;
                    }
                    batch = self.reader.batches.recv(), if !waiting => {
                        let batch = batch
                            .ok_or_else(|| Stop::Failed(format!("reader of shard {} stopped", self.shard_id)))?
                            .map_err(|e| Stop::Failed(format!("reading shard {}: {e}", self.shard_id)))?;
                        let at_tip = batch.records.is_empty() && batch.millis_behind_latest.unwrap_or(0) == 0;
                        let (read, behind) = (batch.records.len() as u64, batch.millis_behind_latest);
                        self.summary.read += read;
                        self.stats.update(&self.shard_id, |p| {
                            p.read += read;
                            p.millis_behind = behind;
                        });
                        if let Some(ms) = behind {
                            self.keeper.report_behind(&self.shard_id, ms);
                        }
                        let mut events = Vec::with_capacity(batch.records.len() + 1);
                        for record in batch.records {
                            self.pipeline.process(record, &mut events);
                        }
                        let user_records = events.len();
                        let user_bytes: usize = events
                            .iter()
                            .map(|e| match e {
                                BufferEvent::Record(r) => r.data.len(),
                                BufferEvent::Failed(f) => f.raw_data.len(),
                                _ => 0,
                            })
                            .sum();
                        metrics::counter!("kinesink_incoming_records_total").increment(user_records as u64);
                        metrics::counter!("kinesink_incoming_bytes_total").increment(user_bytes as u64);
                        events.push(BufferEvent::Tick);
                        for event in events {
                            self.apply(now_ms(), event, &lost).await?;
                        }
                        if let Some(children) = batch.shard_end {
                            self.apply(now_ms(), BufferEvent::Drain, &lost).await?;
                            let ended = self.progress.current().with_checkpoint(&Checkpoint::ShardEnd);
                            self.store_progress(ended, &lost).await?;
                            self.write_checkpoint(&Checkpoint::ShardEnd, &lost).await?;
                            tracing::info!(shard_id = %self.shard_id, ?children, "shard read to its end");
                            self.caught_up.store(true, Ordering::Relaxed);
                            return Ok(ShardOutcome::Ended);
                        }
                        self.caught_up.store(at_tip, Ordering::Relaxed);
                        waiting = self.obey_budget(now_ms(), &lost, waiting).await?;
                    }
                }
            }
        }
        .await;
        self.budget.remove(&self.shard_id);
        self.stall_watch.forget(&self.shard_id);
        self.health.forget(&self.shard_id);
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Lost) => {
                tracing::warn!(shard_id = %self.shard_id, "lease lost; discarding buffers, the new owner re-reads them");
                ShardOutcome::LeaseLost
            }
            Err(Stop::Failed(message)) => ShardOutcome::Failed(message),
        }
    }

    /// Feeds one event to the buffers and performs the actions they ask for, feeding each
    /// completion back, until the buffers ask for nothing more.
    async fn apply(
        &mut self,
        now_ms: u64,
        event: BufferEvent,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        let is_tick = matches!(event, BufferEvent::Tick);
        // The first event is not queued: most records ask for nothing, and then no queue is
        // ever allocated.
        let mut next = Some(event);
        let mut queue = VecDeque::new();
        while let Some(event) = next.take().or_else(|| queue.pop_front()) {
            let actions = self
                .buffers
                .step(now_ms, event)
                .map_err(|e| Stop::Failed(format!("shard {}: {e}", self.shard_id)))?;
            for action in actions {
                queue.push_back(self.perform(action, lost).await?);
            }
        }
        if is_tick {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("kinesink_active_partitions", "shard_id" => self.shard_id.clone())
                .set(self.buffers.open_partitions() as f64);
        }
        Ok(())
    }

    /// Performs one action the buffers asked for and returns the event that reports its
    /// completion.
    async fn perform(
        &mut self,
        action: BufferAction,
        lost: &CancellationToken,
    ) -> Result<BufferEvent, Stop> {
        Ok(match action {
            BufferAction::Write(object) => {
                BufferEvent::ObjectDurable(self.write(object, lost).await?)
            }
            BufferAction::RecordProgress {
                horizon,
                flush_intent,
            } => {
                let as_pair =
                    |p: &RecordPosition| (p.sequence_number.to_string(), p.sub_sequence_number);
                let next = self.progress.current().with_flush_progress(
                    &as_pair(&horizon),
                    flush_intent.as_ref().map(as_pair).as_ref(),
                );
                self.store_progress(next, lost).await?;
                self.record_progress(&horizon, flush_intent.as_ref(), lost)
                    .await?;
                tracing::debug!(shard_id = %self.shard_id, %horizon, flush_intent = ?flush_intent, "flush progress recorded");
                BufferEvent::ProgressRecorded
            }
            BufferAction::Checkpoint(at) => {
                let checkpoint = Checkpoint::Sequence {
                    sequence_number: at.sequence_number.to_string(),
                    sub_sequence_number: at.sub_sequence_number,
                };
                let next = self.progress.current().with_checkpoint(&checkpoint);
                self.store_progress(next, lost).await?;
                self.write_checkpoint(&checkpoint, lost).await?;
                BufferEvent::CheckpointWritten(at)
            }
        })
    }

    /// Reports this shard's buffered bytes to the worker's budget and does what it says: encode
    /// buffered Parquet rows into row groups (no object is cut), flush every buffer now (an
    /// exactly-once shard-wide flush), or stop reading for now. Returns whether reading must
    /// wait.
    async fn obey_budget(
        &mut self,
        now_ms: u64,
        lost: &CancellationToken,
        was_waiting: bool,
    ) -> Result<bool, Stop> {
        let mut verdict = self.budget.report(&self.shard_id, self.usage());
        if verdict == BudgetVerdict::Compact {
            tracing::debug!(shard_id = %self.shard_id, compactable_bytes = self.buffers.compactable_bytes(), "memory budget reached; encoding buffered rows into row groups");
            metrics::counter!("kinesink_memory_budget_compactions_total").increment(1);
            self.buffers.compact();
            verdict = self.budget.report(&self.shard_id, self.usage());
        }
        if verdict == BudgetVerdict::Flush {
            tracing::info!(shard_id = %self.shard_id, held_bytes = self.buffers.held_bytes(), "memory budget reached; flushing this shard early");
            metrics::counter!("kinesink_memory_budget_flushes_total").increment(1);
            self.apply(now_ms, BufferEvent::Flush, lost).await?;
            verdict = self.budget.report(&self.shard_id, self.usage());
        }
        let waiting = verdict == BudgetVerdict::Wait;
        if waiting && !was_waiting {
            tracing::debug!(shard_id = %self.shard_id, "memory budget reached; reading paused");
            metrics::counter!("kinesink_reader_pauses_total").increment(1);
        }
        Ok(waiting)
    }

    fn usage(&self) -> ShardUsage {
        ShardUsage {
            buffered_bytes: self.buffers.held_bytes(),
            can_flush: !self.buffers.replaying_intent(),
            compactable_bytes: self.buffers.compactable_bytes(),
        }
    }

    /// Stores the shard's progress in the destination before the lease row: the object is what a
    /// successor resumes from should the row be lost, so nothing may be written that it does
    /// not cover. Another worker's claim stops the shard like a lost lease.
    async fn store_progress(
        &mut self,
        next: kinesink_lease_coordination::ShardProgress,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        match self.progress.store(next, self.retry_duration, lost).await {
            Ok(()) => Ok(()),
            Err(ProgressFailure::Superseded) => {
                // The progress object's compare-and-swap is a fenced write like the lease row's:
                // counted and worded the same way.
                metrics::counter!("kinesink_fenced_writes_refused_total").increment(1);
                metrics::counter!("kinesink_lease_losses_total").increment(1);
                tracing::warn!(shard_id = %self.shard_id, "a fenced write was refused: the shard's progress object was claimed by another worker (or deleted); stopping");
                Err(Stop::Lost)
            }
            Err(ProgressFailure::Cancelled) => Err(Stop::Lost),
            Err(ProgressFailure::Failed(message)) => {
                Err(Stop::Failed(format!("shard {}: {message}", self.shard_id)))
            }
        }
    }

    async fn record_progress(
        &mut self,
        horizon: &RecordPosition,
        flush_intent: Option<&RecordPosition>,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        let as_pair = |p: &RecordPosition| (p.sequence_number.to_string(), p.sub_sequence_number);
        let horizon = as_pair(horizon);
        let intent = flush_intent.map(as_pair);
        self.lease_writes
            .record_progress(&self.shard_id, &horizon, intent.as_ref(), lost)
            .await
            .map_err(Stop::from)
    }

    /// Writes an object, retrying with exponential backoff and jitter until it is durable, the
    /// lease is lost, or `retry_duration` of waiting has passed (then the shard fails: its
    /// checkpoint stays before the object, so the records are read again later, never lost).
    async fn write(
        &mut self,
        object: ReadyObject,
        lost: &CancellationToken,
    ) -> Result<FlushTicket, Stop> {
        let ReadyObject {
            key,
            body,
            record_count,
            ticket,
            oldest_arrival_ms,
            is_error_output,
            error_output_type,
            last,
            ..
        } = object;
        let size = body.len() as u64;
        let contents = ObjectContents {
            last,
            records: record_count as u64,
        };
        let mut attempt: u32 = 0;
        let mut retry = kinesink_delivery::WriteRetry::new(self.retry_duration);
        let mut first_failure: Option<Instant> = None;
        let written_key = loop {
            // Not as owner while the leases may have expired in other workers' eyes.
            if !self
                .lease_writes
                .gate
                .wait_until_owner(&self.shard_id, lost)
                .await
            {
                return Err(Stop::Lost);
            }
            match kinesink_delivery::write_once(self.sink.as_ref(), &key, body.clone(), &contents)
                .await
            {
                Ok(placement) => {
                    report_placement(&self.shard_id, &placement);
                    if self.health.accepted(&self.shard_id) {
                        tracing::info!(shard_id = %self.shard_id, key = %key, "the destination accepts writes again");
                    }
                    break placement.key;
                }
                Err(e) => {
                    attempt += 1;
                    metrics::counter!("kinesink_delivery_to_s3_failures_total").increment(1);
                    let failing_for = first_failure.get_or_insert_with(Instant::now).elapsed();
                    if e.is_permanent() {
                        metrics::counter!("kinesink_destination_refusals_total").increment(1);
                        if self.health.refused(&self.shard_id, &e.message) {
                            tracing::error!(shard_id = %self.shard_id, key = %key, error = %e, "the destination refuses writes for a reason waiting does not fix; retrying every {} s until it is fixed (up to destination.retry_duration_s), worker unready", kinesink_delivery::PERMANENT_RETRY_PACE.as_secs());
                        }
                    }
                    let Some(pause) = retry.next_pause(failing_for, e.class) else {
                        return Err(Stop::Failed(format!(
                            "shard {}: writing object {key} failed for the whole retry duration ({} s, destination.retry_duration_s), {attempt} attempts; last error: {e}",
                            self.shard_id,
                            self.retry_duration.as_secs()
                        )));
                    };
                    let pause = if e.is_permanent() {
                        pause
                    } else {
                        tracing::warn!(shard_id = %self.shard_id, key = %key, attempt, error = %e, "object write failed; retrying");
                        // Jitter, so shards failing together do not retry together.
                        pause.mul_f64(0.5 + rand::random::<f64>() / 2.0)
                    };
                    tokio::select! {
                        () = lost.cancelled() => return Err(Stop::Lost),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        };
        tracing::debug!(shard_id = %self.shard_id, key = %written_key, records = record_count, bytes = size, "object written");
        self.summary.objects += 1;
        self.summary.records += record_count as u64;
        self.summary.bytes += size;
        metrics::counter!("kinesink_delivery_to_s3_success_total").increment(1);
        metrics::counter!("kinesink_delivery_to_s3_records_total").increment(record_count as u64);
        metrics::counter!("kinesink_delivery_to_s3_bytes_total").increment(size);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("kinesink_delivery_to_s3_data_freshness_seconds").set(
            (chrono::Utc::now().timestamp_millis() - oldest_arrival_ms).max(0) as f64 / 1000.0,
        );
        match &error_output_type {
            Some(t) => {
                metrics::counter!("kinesink_error_records_total", "error_output_type" => t.clone())
                    .increment(record_count as u64);
                if t == kinesink_delivery::ACTIVE_PARTITION_EXCEEDED {
                    metrics::counter!("kinesink_partition_count_exceeded_records_total")
                        .increment(record_count as u64);
                }
                if t == kinesink_parquet_writer::FORMAT_CONVERSION_FAILED_OUTPUT_TYPE {
                    metrics::counter!("kinesink_format_conversion_failed_records_total")
                        .increment(record_count as u64);
                }
            }
            None if self.parquet => {
                metrics::counter!("kinesink_format_conversion_succeeded_records_total")
                    .increment(record_count as u64);
            }
            None => {}
        }
        self.stats
            .records
            .fetch_add(record_count as u64, Ordering::Relaxed);
        self.stats
            .update(&self.shard_id, |p| p.delivered += record_count as u64);
        self.stats.objects.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(size, Ordering::Relaxed);
        if is_error_output {
            self.stats
                .failed_records
                .fetch_add(record_count as u64, Ordering::Relaxed);
        }
        Ok(ticket)
    }

    async fn write_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        self.lease_writes
            .checkpoint(&self.shard_id, checkpoint, lost)
            .await
            .map_err(Stop::from)?;
        tracing::debug!(shard_id = %self.shard_id, %checkpoint, "checkpoint written");
        Ok(())
    }
}

/// Counts a write that found its key already written with the same records (a replay or a
/// zombie wrote it first; the conditional write left it as it was), and reports, at WARN, an
/// object written under its alternative key because its own key held other records (a replay
/// that cut by size differently: the records of both objects may overlap, none is lost).
fn report_placement(shard_id: &str, placement: &Placement) {
    if let Some(own_key) = &placement.diverted_from {
        metrics::counter!("kinesink_delivery_to_s3_alternative_key_total").increment(1);
        tracing::warn!(shard_id = %shard_id, key = %own_key, alternative_key = %placement.key, "the object's key already holds an object with other records (a replay cut by size differently, e.g. after a buffer_size_mib or format change or a leases reset); wrote this object under the alternative key, so records in both objects are duplicated and none is lost");
    }
    if placement.outcome != PutOutcome::Written {
        metrics::counter!("kinesink_delivery_to_s3_already_written_total").increment(1);
        tracing::debug!(shard_id = %shard_id, key = %placement.key, "object already written with the same records (a replay or another worker wrote it first); not written again");
    }
}
