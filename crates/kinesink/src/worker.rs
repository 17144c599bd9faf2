//! The worker: keeps leases, runs one task per held shard, shuts down gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kinesink_delivery::{
    BufferLimits, ObjectLayout, ObjectSink, RecordPosition, ResumeState, ShardBuffers,
};
use kinesink_lease_coordination::{
    Checkpoint, Lease, LeaseAction, LeaseKeeper, LeaseTable, LeaseTaker,
};
use kinesink_parquet_writer::{Codec, ObjectFormat};
use kinesink_partitioning::{MetadataQuery, OutputPrefixes};
use kinesink_shard_reader::{ReaderSettings, ShardReader, ShardSource, StartPosition};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::RecordSplit;
use crate::record_pipeline::RecordPipeline;
use crate::shard_task::{DeliveryStats, ReaderFeed, ShardOutcome, ShardTask};
use crate::shared_memory_budget::SharedMemoryBudget;
use crate::stall_watch::{StallWatch, spawn_watchdog};

/// What a worker needs to know, independent of where the services are.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Delivery name (object names).
    pub name: String,
    /// This worker's id in the lease table.
    pub worker_id: String,
    /// Failover time of leases.
    pub failover_time: Duration,
    /// Where shards without a checkpoint start.
    pub initial_position: StartPosition,
    /// The initial checkpoint stored in new leases of shards without parents.
    pub initial_checkpoint: Checkpoint,
    /// GetRecords settings.
    pub reader: ReaderSettings,
    /// Unpack KPL aggregates.
    pub kpl_deaggregation: bool,
    /// Firehose sub-record splitting.
    pub record_split: RecordSplit,
    /// Buffering hints.
    pub buffer: BufferLimits,
    /// Format of data objects.
    pub format: ObjectFormat,
    /// Compression of error-output objects.
    pub error_codec: Codec,
    /// Data and error prefixes.
    pub prefixes: Arc<OutputPrefixes>,
    /// Partition-key extraction.
    pub query: Option<Arc<MetadataQuery>>,
    /// The active-partition limit (per shard).
    pub partition_limit: kinesink_delivery::PartitionLimit,
    /// Extension of object names.
    pub file_extension: String,
    /// Interval of shard re-listing.
    pub shard_sync_interval: Duration,
    /// Bytes all shard buffers of this worker may hold together.
    pub memory_budget_bytes: usize,
    /// How long a failing object write is retried before its shard fails.
    pub retry_duration: Duration,
    /// A shard task without progress for this long is reported stalled ([`StallWatch`]).
    pub stall_timeout: Duration,
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Stop (gracefully) once every shard is read to its tip and everything read is delivered.
    pub until_caught_up: bool,
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// User records written (data and error output).
    pub records: u64,
    /// Of which to the error output.
    pub failed_records: u64,
    /// Objects written.
    pub objects: u64,
    /// Bytes written.
    pub bytes: u64,
}

struct RunningShard {
    stop: CancellationToken,
    lost: CancellationToken,
    caught_up: Arc<AtomicBool>,
    handle: JoinHandle<ShardOutcome>,
}

/// One kinesink worker process.
pub struct Worker {
    settings: WorkerSettings,
    source: Arc<dyn ShardSource>,
    table: Arc<dyn LeaseTable>,
    sink: Arc<dyn ObjectSink>,
    ready: Arc<AtomicBool>,
    stats: Arc<DeliveryStats>,
    budget: Arc<SharedMemoryBudget>,
    stall_watch: Arc<StallWatch>,
}

impl Worker {
    /// A worker over the given services.
    #[must_use]
    pub fn new(
        settings: WorkerSettings,
        source: Arc<dyn ShardSource>,
        table: Arc<dyn LeaseTable>,
        sink: Arc<dyn ObjectSink>,
    ) -> Self {
        let budget = Arc::new(SharedMemoryBudget::new(settings.memory_budget_bytes));
        let stall_watch = Arc::new(StallWatch::new(settings.stall_timeout));
        Self {
            stall_watch,
            settings,
            source,
            table,
            sink,
            ready: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(DeliveryStats::default()),
            budget,
        }
    }

    /// The worker's delivery counters (totals and per shard), shared with its shard tasks.
    #[must_use]
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// Set after each lease cycle in which the lease table answered and this worker holds a
    /// shard or none is available to it: what `/readyz` reports.
    #[must_use]
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Creates leases for shards that have none. Children start at `TRIM_HORIZON` so nothing
    /// after a reshard is skipped; shards without parents in the table start at the initial position.
    ///
    /// Only shards with no lease in the table cost a write (one Scan reads the table first), so a
    /// periodic sync of a settled stream writes nothing.
    ///
    /// Leases of shards the stream no longer lists (gone past its retention period) are deleted
    /// once they are at `SHARD_END`; one that is not (its records expired unread) is kept and
    /// reported, never silently dropped.
    async fn sync_shards(&self) -> anyhow::Result<()> {
        let shards = self.source.list_shards().await?;
        let leases = self.table.snapshot().await?.leases;
        let listed: std::collections::BTreeSet<&str> =
            shards.iter().map(|s| s.shard_id.as_str()).collect();
        for gone in leases
            .iter()
            .filter(|l| !listed.contains(l.shard_id.as_str()))
        {
            if gone.checkpoint == Checkpoint::ShardEnd {
                if self.table.delete_ended(&gone.shard_id).await? {
                    tracing::info!(shard_id = %gone.shard_id, "deleted the lease of a shard past the stream's retention");
                }
            } else {
                tracing::error!(shard_id = %gone.shard_id, checkpoint = %gone.checkpoint, "the stream no longer lists this shard but it was not read to its end; its lease is kept");
            }
        }
        let known: std::collections::BTreeSet<String> =
            leases.into_iter().map(|l| l.shard_id).collect();
        for shard in shards.iter().filter(|s| !known.contains(&s.shard_id)) {
            let has_parent = shard
                .parent_shard_ids
                .iter()
                .any(|p| shards.iter().any(|s| &s.shard_id == p));
            let initial = if has_parent {
                Checkpoint::TrimHorizon
            } else {
                self.settings.initial_checkpoint.clone()
            };
            let lease = Lease::new(
                shard.shard_id.clone(),
                shard.parent_shard_ids.clone(),
                initial,
            );
            if self.table.create_if_missing(&lease).await? {
                tracing::info!(shard_id = %shard.shard_id, "created lease");
            }
        }
        Ok(())
    }

    fn start_shard(
        &self,
        lease: &Lease,
        keeper: &Arc<LeaseKeeper>,
        stats: &Arc<DeliveryStats>,
    ) -> RunningShard {
        let (start, resume_after) = match &lease.checkpoint {
            Checkpoint::Sequence {
                sequence_number,
                sub_sequence_number,
            } => (
                StartPosition::AtSequence(sequence_number.clone()),
                Some(RecordPosition::new(
                    sequence_number.clone(),
                    *sub_sequence_number,
                )),
            ),
            Checkpoint::TrimHorizon => (StartPosition::TrimHorizon, None),
            Checkpoint::Latest => (StartPosition::Latest, None),
            Checkpoint::AtTimestamp | Checkpoint::ShardEnd => {
                (self.settings.initial_position.clone(), None)
            }
        };
        tracing::info!(shard_id = %lease.shard_id, checkpoint = %lease.checkpoint, "lease taken; reading");
        let s = &self.settings;
        let layout = ObjectLayout {
            shard_id: lease.shard_id.clone(),
            name: s.name.clone(),
            format: s.format.clone(),
            extension: s.file_extension.clone(),
            error_codec: s.error_codec,
            prefixes: s.prefixes.clone(),
            query: s.query.clone(),
            partition_limit: s.partition_limit,
        };
        let caught_up = Arc::new(AtomicBool::new(false));
        let task = ShardTask {
            shard_id: lease.shard_id.clone(),
            reader: ReaderFeed::spawn(ShardReader::new(
                self.source.clone(),
                lease.shard_id.clone(),
                start,
                s.reader,
            )),
            pipeline: RecordPipeline::new(
                s.kpl_deaggregation,
                &s.record_split,
                resume_after.clone(),
            ),
            buffers: ShardBuffers::new(
                layout,
                s.buffer.staggered_for(&lease.shard_id),
                ResumeState {
                    checkpoint: resume_after,
                    flush_intent: lease
                        .flush_intent
                        .clone()
                        .map(|(seq, sub)| RecordPosition::new(seq, sub)),
                    horizon: lease
                        .flush_horizon
                        .clone()
                        .map(|(seq, sub)| RecordPosition::new(seq, sub)),
                },
            ),
            keeper: keeper.clone(),
            sink: self.sink.clone(),
            stats: stats.clone(),
            caught_up: caught_up.clone(),
            tick: Duration::from_millis(s.buffer.interval_ms.clamp(100, 1_000)),
            parquet: matches!(s.format, ObjectFormat::Parquet(_)),
            budget: self.budget.clone(),
            retry_duration: s.retry_duration,
            stall_watch: self.stall_watch.clone(),
        };
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        let handle = tokio::spawn(task.run(stop.clone(), lost.clone()));
        RunningShard {
            stop,
            lost,
            caught_up,
            handle,
        }
    }

    /// Runs until `shutdown` is cancelled (or, with `until_caught_up`, until caught up); then
    /// delivers and checkpoints everything read and releases the leases.
    ///
    /// # Errors
    /// Lease table or stream errors at start, or a shard task that failed.
    pub async fn run(
        self,
        shutdown: CancellationToken,
        options: RunOptions,
    ) -> anyhow::Result<RunSummary> {
        let keeper = Arc::new(LeaseKeeper::new(
            self.table.clone(),
            self.settings.worker_id.clone(),
        ));
        let mut taker = LeaseTaker::new(
            self.settings.worker_id.clone(),
            u64::try_from(self.settings.failover_time.as_millis())?,
        );
        let stats = self.stats.clone();
        let started = Instant::now();
        let mut running: BTreeMap<String, RunningShard> = BTreeMap::new();
        let mut failure: Option<String> = None;
        // A transient error at start (throttling, a 5xx, a dropped connection that outlived the
        // SDK's own attempts) is retried rather than ending the process.
        {
            use backon::Retryable;
            (|| self.sync_shards())
                .retry(
                    backon::ExponentialBuilder::default()
                        .with_jitter()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(5))
                        .with_max_times(6),
                )
                .sleep(tokio::time::sleep)
                .notify(|e, pause| tracing::warn!(error = %e, ?pause, "first shard sync failed; retrying"))
                .await?;
        }
        let mut lease_tick = tokio::time::interval(
            (self.settings.failover_time / 3).max(Duration::from_millis(100)),
        );
        lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync_tick = tokio::time::interval(self.settings.shard_sync_interval);
        sync_tick.tick().await;
        // With `until_caught_up`: the last lease cycle found every open lease running here and
        // nothing to take, so the worker may stop as soon as every reader is at its tip (checked
        // every 100 ms rather than once a lease cycle: a third of the failover time).
        let mut may_finish = false;
        let mut finish_check = tokio::time::interval(Duration::from_millis(100));
        finish_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Reports shards without progress, from its own thread (ends with the worker).
        let _watchdog = spawn_watchdog(&self.stall_watch, self.ready.clone())?;
        tracing::info!(worker_id = %self.settings.worker_id, "worker started");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = finish_check.tick(), if may_finish => {
                    // A reader that ended (shard end) is left to the next lease cycle, which
                    // releases its lease and syncs its children.
                    let all_at_tip = running.values().all(|r| {
                        !r.handle.is_finished() && r.caught_up.load(Ordering::Relaxed)
                    });
                    if all_at_tip {
                        tracing::info!("every shard is read to its tip; stopping");
                        break;
                    }
                }
                _ = sync_tick.tick() => {
                    if let Err(e) = self.sync_shards().await {
                        tracing::warn!(error = %e, "shard sync failed; will retry");
                    }
                }
                _ = lease_tick.tick() => {
                    let mut resync = false;
                    let finished: Vec<String> = running.iter().filter(|(_, r)| r.handle.is_finished()).map(|(k, _)| k.clone()).collect();
                    for shard_id in finished {
                        let r = running.remove(&shard_id).expect("listed above");
                        match r.handle.await {
                            Ok(ShardOutcome::Ended { .. }) => {
                                resync = true;
                                if let Err(e) = keeper.release(&shard_id).await {
                                    tracing::warn!(shard_id = %shard_id, error = %e, "release after shard end failed");
                                }
                            }
                            Ok(ShardOutcome::LeaseLost) => keeper.forget(&shard_id).await,
                            Ok(ShardOutcome::Stopped) => {}
                            Ok(ShardOutcome::Failed(message)) => {
                                tracing::error!(shard_id = %shard_id, error = %message, "shard stopped");
                                failure = Some(message);
                            }
                            Err(join) => failure = Some(format!("shard {shard_id} task panicked: {join}")),
                        }
                    }
                    if failure.is_some() {
                        break;
                    }
                    if resync && let Err(e) = self.sync_shards().await {
                        tracing::warn!(error = %e, "shard sync failed; will retry");
                    }
                    // The heartbeat keeps every lease this worker owns live (one write per cycle,
                    // not one per lease) and carries how far behind each shard reads.
                    if let Err(e) = self.table.heartbeat(&self.settings.worker_id, &keeper.millis_behind_latest().await).await {
                        tracing::warn!(error = %e, "heartbeat failed; will retry");
                    }
                    let snapshot = match self.table.snapshot().await {
                        Ok(s) => s,
                        Err(e) => {
                            self.ready.store(false, Ordering::Relaxed);
                            tracing::warn!(error = %e, "listing leases failed; will retry");
                            continue;
                        }
                    };
                    // Leases another worker took (stolen to balance, or taken while this one was
                    // paused): stop their readers; their writes were fenced all along.
                    for shard_id in keeper.reconcile(&snapshot.leases).await {
                        tracing::info!(shard_id = %shard_id, "lease taken by another worker; stopping its reader");
                        if let Some(r) = running.get(&shard_id) {
                            r.lost.cancel();
                        }
                    }
                    let leases = snapshot.leases;
                    let held = keeper.held_shards().await;
                    let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let actions = taker.step(now_ms, &leases, &snapshot.workers, &held);
                    // Heartbeats of workers gone for 6 failover times (crashed, or restarted with a
                    // new id) are deleted so the table and `kinesink workers` stay accurate.
                    let failover_ms = u64::try_from(self.settings.failover_time.as_millis()).unwrap_or(u64::MAX);
                    for dead in taker.dead_workers(now_ms, failover_ms.saturating_mul(6)) {
                        tracing::info!(worker_id = %dead, "removing the heartbeat of a worker gone for 6 failover times");
                        if let Err(e) = self.table.remove_heartbeat(&dead).await {
                            tracing::warn!(worker_id = %dead, error = %e, "removing a dead worker's heartbeat failed");
                        }
                    }
                    let nothing_to_take = actions.is_empty();
                    self.ready.store((!held.is_empty() || nothing_to_take) && !self.stall_watch.any_stalled(), Ordering::Relaxed);
                    for action in actions {
                        let (shard_id, expected_counter) = match action {
                            LeaseAction::Take { shard_id, expected_counter } => (shard_id, expected_counter),
                            LeaseAction::Steal { shard_id, expected_counter, from } => {
                                tracing::info!(shard_id = %shard_id, from = %from, "stealing lease to balance load");
                                metrics::counter!("kinesink_lease_steals_total").increment(1);
                                (shard_id, expected_counter)
                            }
                        };
                        match keeper.take(&shard_id, expected_counter).await {
                            Ok(Some(lease)) => {
                                let shard = self.start_shard(&lease, &keeper, &stats);
                                running.insert(shard_id, shard);
                            }
                            Ok(None) => tracing::debug!(shard_id = %shard_id, "lease moved before we could take it"),
                            Err(e) => tracing::warn!(shard_id = %shard_id, error = %e, "taking lease failed"),
                        }
                    }
                    may_finish = false;
                    if options.until_caught_up {
                        // Counted after this cycle's takes: every open lease is read here.
                        let open_leases = leases.iter().filter(|l| l.checkpoint != Checkpoint::ShardEnd).count();
                        let all_mine = leases.iter().filter(|l| l.checkpoint != Checkpoint::ShardEnd).all(|l| running.contains_key(&l.shard_id));
                        if all_mine && running.len() == open_leases {
                            let all_caught_up = running.values().all(|r| r.caught_up.load(Ordering::Relaxed));
                            if nothing_to_take && all_caught_up {
                                tracing::info!("every shard is read to its tip; stopping");
                                break;
                            }
                            may_finish = true;
                        }
                    }
                }
            }
        }
        tracing::info!(
            shards = running.len(),
            "stopping: delivering buffered records and checkpointing"
        );
        if let Err(e) = self.table.remove_heartbeat(&self.settings.worker_id).await {
            tracing::warn!(error = %e, "removing heartbeat failed; it expires after the failover time");
        }
        for r in running.values() {
            r.stop.cancel();
        }
        for (shard_id, r) in running {
            match r.handle.await {
                Ok(ShardOutcome::Stopped | ShardOutcome::Ended { .. }) => {
                    if let Err(e) = keeper.release(&shard_id).await {
                        tracing::warn!(shard_id = %shard_id, error = %e, "releasing lease failed; it expires after the failover time");
                    }
                }
                Ok(ShardOutcome::LeaseLost) => {}
                Ok(ShardOutcome::Failed(message)) => failure = Some(message),
                Err(join) => failure = Some(format!("shard {shard_id} task panicked: {join}")),
            }
        }
        let summary = RunSummary {
            records: stats.records.load(Ordering::Relaxed),
            failed_records: stats.failed_records.load(Ordering::Relaxed),
            objects: stats.objects.load(Ordering::Relaxed),
            bytes: stats.bytes.load(Ordering::Relaxed),
        };
        match failure {
            Some(message) => Err(anyhow::anyhow!(message)),
            None => Ok(summary),
        }
    }
}
