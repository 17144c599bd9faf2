//! The async shell around one shard: read, buffer, write objects, checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kinesink_delivery::{BudgetVerdict, BufferEvent, ShardBuffers, ShardUsage};
use kinesink_lease_coordination::{Checkpoint, LeaseKeeper};
use kinesink_shard_reader::{ReadBatch, ShardReader, SourceError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::shard_writer::{ShardWriter, Stop};
use crate::shared_memory_budget::SharedMemoryBudget;
use crate::stall_watch::StallWatch;
use kinesink_delivery::RecordPipeline;

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
    /// The Lambda processor between the pipeline and the buffers, if configured.
    pub lambda: Option<kinesink_delivery::LambdaShell>,
    /// Buffers and the checkpoint watermark.
    pub buffers: ShardBuffers,
    /// Fenced checkpoint writes.
    pub keeper: Arc<LeaseKeeper>,
    /// Set while the last read found the shard at its tip with nothing buffered unwritten.
    pub caught_up: Arc<AtomicBool>,
    /// How often buffer intervals are checked.
    pub tick: Duration,
    /// The worker's memory budget: this task reports its buffered bytes after every batch and
    /// tick, flushes when told to, and stops reading while told to wait.
    pub budget: Arc<SharedMemoryBudget>,
    /// Told of every completed step of the loop, so a shard that stops moving is reported.
    pub stall_watch: Arc<StallWatch>,
    /// Performs what the buffers ask for: objects, progress, checkpoints.
    pub writer: ShardWriter,
    /// With an Iceberg destination: the table's answers to the shard's flush points.
    pub table_acks: Option<mpsc::UnboundedReceiver<crate::table_commits::TableAck>>,
}

/// The next answer on `acks`, or never when there is no table.
async fn next_table_ack(
    acks: &mut Option<mpsc::UnboundedReceiver<crate::table_commits::TableAck>>,
) -> Option<crate::table_commits::TableAck> {
    match acks {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
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
                        self.await_table_checkpoints(now_ms, &lost).await?;
                        if self.buffers.replaying_intent() {
                            tracing::info!(shard_id = %self.shard_id, "stopping before an earlier owner's recorded flush point; the next owner completes it");
                        }
                        return Ok(ShardOutcome::Stopped);
                    }
                    _ = tick.tick() => {
                        let behind = self.writer.stats.shards.lock().ok().and_then(|m| m.get(&self.shard_id).and_then(|p| p.millis_behind));
                        self.writer.summary.log_if_due(&self.shard_id, behind);
                        self.apply(now_ms(), BufferEvent::Tick, &lost).await?;
                        waiting = self.obey_budget(now_ms(), &lost, waiting).await?;
                    }
                    Some(ack) = next_table_ack(&mut self.table_acks) => {
                        self.table_answered(now_ms(), ack, &lost).await?;
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
                        self.writer.summary.read += read;
                        self.writer.stats.update(&self.shard_id, |p| {
                            p.read += read;
                            p.millis_behind = behind;
                        });
                        if let Some(ms) = behind {
                            self.keeper.report_behind(&self.shard_id, ms);
                        }
                        let mut events = Vec::with_capacity(batch.records.len() + 1);
                        let processing = std::time::Instant::now();
                        for record in batch.records {
                            self.pipeline.process(record, &mut events);
                        }
                        let processing = processing.elapsed();
                        let dropped = self.pipeline.take_control_messages_dropped();
                        if dropped > 0 {
                            metrics::counter!(kinesink_metric_names::CLOUDWATCH_LOGS_CONTROL_MESSAGES_DROPPED).increment(dropped);
                        }
                        let empty = self.pipeline.take_empty_data_messages();
                        if empty > 0 {
                            metrics::counter!(kinesink_metric_names::CLOUDWATCH_LOGS_EMPTY_DATA_MESSAGES).increment(empty);
                        }
                        let dropped = self.pipeline.take_transform_dropped();
                        if dropped > 0 {
                            metrics::counter!(kinesink_metric_names::TRANSFORM_DROPPED).increment(dropped);
                        }
                        // One pass: records made (not the source records sent along for the
                        // backup), failed ones included, and those the processors passed on.
                        let (mut made, mut made_bytes, mut passed, mut passed_bytes) = (0u64, 0u64, 0u64, 0u64);
                        for e in &events {
                            match e {
                                BufferEvent::Record(r) => {
                                    made += 1;
                                    made_bytes += r.data.len() as u64;
                                    passed += 1;
                                    passed_bytes += r.data.len() as u64;
                                }
                                BufferEvent::Failed(f) => {
                                    made += 1;
                                    made_bytes += f.raw_data.len() as u64;
                                }
                                _ => {}
                            }
                        }
                        metrics::counter!(kinesink_metric_names::INCOMING_RECORDS).increment(made);
                        metrics::counter!(kinesink_metric_names::INCOMING_BYTES).increment(made_bytes);
                        if self.pipeline.runs_processors() && read > 0 {
                            use kinesink_metric_names as m;
                            metrics::counter!(m::EXECUTE_PROCESSING_MICROSECONDS).increment(u64::try_from(processing.as_micros()).unwrap_or(u64::MAX));
                            metrics::counter!(m::EXECUTE_PROCESSING_SUCCESS).increment(1);
                            metrics::counter!(m::SUCCEED_PROCESSING_RECORDS).increment(passed);
                            metrics::counter!(m::SUCCEED_PROCESSING_BYTES).increment(passed_bytes);
                        }
                        // One clock read for the batch's records (not one per record: ~1% of
                        // the worker's CPU on small records); the closing tick reads it anew,
                        // so time-based cuts see the time after the batch was applied.
                        let at = now_ms();
                        for event in events {
                            self.apply(at, event, &lost).await?;
                        }
                        self.apply(now_ms(), BufferEvent::Tick, &lost).await?;
                        if let Some(children) = batch.shard_end {
                            self.apply(now_ms(), BufferEvent::Drain, &lost).await?;
                            if self.lambda.as_ref().is_some_and(|l| !l.stage.is_empty()) {
                                // Never mark the shard ended past records still waiting for
                                // their invocation (an earlier owner's flush point ahead).
                                return Err(Stop::Failed(format!("shard {}: records still wait for their Lambda invocation at the shard's end; the shard is read again", self.shard_id)));
                            }
                            self.await_table_checkpoints(now_ms, &lost).await?;
                            let ended = self.writer.progress.current().with_checkpoint(&Checkpoint::ShardEnd);
                            self.writer.store_progress(ended, &lost).await?;
                            self.writer.write_checkpoint(&Checkpoint::ShardEnd, &lost).await?;
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
        self.writer.health.forget(&self.shard_id);
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Lost) => {
                tracing::warn!(shard_id = %self.shard_id, "lease lost; discarding buffers, the new owner re-reads them");
                ShardOutcome::LeaseLost
            }
            Err(Stop::Failed(message)) => ShardOutcome::Failed(message),
        }
    }

    /// The table's answer to a flush point: the checkpoint is stored (progress object, lease)
    /// and fed to the buffers; a stop ends the shard.
    async fn table_answered(
        &mut self,
        now_ms: u64,
        ack: crate::table_commits::TableAck,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        match ack {
            crate::table_commits::TableAck::Committed(at) => {
                self.writer.checkpoint_committed(&at, lost).await?;
                self.apply(now_ms, BufferEvent::CheckpointWritten(at), lost)
                    .await
            }
            crate::table_commits::TableAck::Stop(reason) => Err(Stop::Failed(reason)),
        }
    }

    /// While a flush point waits for the table's commit (draining, or at the shard's end),
    /// waits for the table's answers and applies them.
    async fn await_table_checkpoints(
        &mut self,
        now_ms: impl Fn() -> u64,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        while self.table_acks.is_some() && self.buffers.awaits_checkpoint() {
            if let Some(table) = &self.writer.table {
                table.commits.drain();
            }
            let ack = tokio::select! {
                biased;
                () = lost.cancelled() => return Err(Stop::Lost),
                ack = next_table_ack(&mut self.table_acks) => ack,
            };
            let Some(ack) = ack else {
                return Err(Stop::Failed(format!(
                    "shard {}: the table's commit task stopped",
                    self.shard_id
                )));
            };
            self.table_answered(now_ms(), ack, lost).await?;
        }
        Ok(())
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
        let mut performing = crate::shard_writer::Performing {
            writer: &mut self.writer,
            lost,
        };
        kinesink_delivery::drive_event(
            self.lambda.as_mut(),
            &mut self.buffers,
            now_ms,
            event,
            &mut performing,
        )
        .await
        .map_err(|e| match e {
            kinesink_delivery::DriveError::Buffers(e) => {
                Stop::Failed(format!("shard {}: {e}", self.shard_id))
            }
            kinesink_delivery::DriveError::Perform(stop) => stop,
        })?;
        if let Some(lambda) = &mut self.lambda {
            crate::lambda_metrics::export(lambda);
        }
        if is_tick {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(kinesink_metric_names::ACTIVE_PARTITIONS, "shard_id" => self.shard_id.clone())
                .set(self.buffers.open_partitions() as f64);
        }
        Ok(())
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
            metrics::counter!(kinesink_metric_names::MEMORY_BUDGET_COMPACTIONS).increment(1);
            self.buffers.compact();
            verdict = self.budget.report(&self.shard_id, self.usage());
        }
        if verdict == BudgetVerdict::Flush {
            tracing::info!(shard_id = %self.shard_id, held_bytes = self.buffers.held_bytes(), "memory budget reached; flushing this shard early");
            metrics::counter!(kinesink_metric_names::MEMORY_BUDGET_FLUSHES).increment(1);
            self.apply(now_ms, BufferEvent::Flush, lost).await?;
            verdict = self.budget.report(&self.shard_id, self.usage());
        }
        let waiting = verdict == BudgetVerdict::Wait;
        if waiting && !was_waiting {
            tracing::debug!(shard_id = %self.shard_id, "memory budget reached; reading paused");
            metrics::counter!(kinesink_metric_names::READER_PAUSES).increment(1);
        }
        Ok(waiting)
    }

    fn usage(&self) -> ShardUsage {
        self.buffers
            .usage(self.lambda.as_ref().map_or(0, |l| l.stage.held_bytes()))
    }
}
