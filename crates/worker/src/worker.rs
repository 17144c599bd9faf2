//! The worker: keeps leases, runs one task per held shard, shuts down gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kinesink_delivery::{
    BufferLimits, ObjectLayout, ObjectSink, ProgressStore, ResumeState, ShardBuffers,
};
use kinesink_lease_coordination::{
    Checkpoint, CycleSeen, Finish, Lease, LeaseAction, LeaseCycle, LeaseError, LeaseKeeper,
    LeaseTable, OutageRetry, OwnershipEvent, RetryVerdict,
};
use kinesink_parquet_writer::{Codec, ObjectFormat};
use kinesink_partitioning::{MetadataQuery, OutputPrefixes};
use kinesink_shard_reader::{ReaderSettings, ShardReader, ShardSource, StartPosition};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::delivery_stats::DeliveryStats;
use crate::destination_progress::{ProgressFailure, ProgressObject};
use crate::lease_outage::{LeaseTableOutage, LeaseWrites, OwnershipGate};
use crate::shard_sync::ShardSyncError;
use crate::shard_task::{ReaderFeed, ShardOutcome, ShardTask};
use crate::shared_memory_budget::SharedMemoryBudget;
use crate::stall_watch::{StallWatch, spawn_watchdog};
use kinesink_delivery::RecordPipeline;

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
    /// GetRecords settings.
    pub reader: ReaderSettings,
    /// Unpack KPL aggregates.
    pub kpl_deaggregation: bool,
    /// Decompression and CloudWatch Logs message extraction, after KPL deaggregation.
    pub processors: kinesink_record_processing::Processors,
    /// `processing.transform`, compiled: run on each record after splitting.
    pub transform: Option<Arc<kinesink_partitioning::JqTransform>>,
    /// Firehose sub-record splitting.
    pub record_split: Option<kinesink_record_deaggregation::SubRecordFormat>,
    /// Buffering hints.
    pub buffer: BufferLimits,
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
    /// How long lease-table calls failing transiently are retried before the worker stops.
    pub lease_retry_duration: Duration,
    /// A shard task without progress for this long is reported stalled ([`StallWatch`]).
    pub stall_timeout: Duration,
    /// The Lambda processor (`[processing.lambda]`), between the transform and the buffers.
    pub lambda: Option<kinesink_delivery::LambdaProcessor>,
}

impl WorkerSettings {
    /// The checkpoint stored in new leases of shards without listed parents: the lease-table
    /// form of [`WorkerSettings::initial_position`] (a timestamp is kept in the settings, the
    /// lease says `AT_TIMESTAMP`).
    #[must_use]
    pub fn initial_checkpoint(&self) -> Checkpoint {
        match self.initial_position {
            StartPosition::Latest => Checkpoint::Latest,
            StartPosition::AtTimestamp(_) => Checkpoint::AtTimestamp,
            _ => Checkpoint::TrimHorizon,
        }
    }
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

/// Why a run ended in failure, in one line naming the cause (a shard task that failed, the
/// lease table unusable for the whole retry duration or refusing for good, the first shard
/// sync failing). Nothing past the checkpoints is lost when a run fails.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunFailure(pub String);

/// One kinesink worker process.
pub struct Worker {
    settings: WorkerSettings,
    format: ObjectFormat,
    source: Arc<dyn ShardSource>,
    table: Arc<dyn LeaseTable>,
    sink: Arc<dyn ObjectSink>,
    progress: Arc<dyn ProgressStore>,
    ready: Arc<AtomicBool>,
    stats: Arc<DeliveryStats>,
    budget: Arc<SharedMemoryBudget>,
    gate: Arc<OwnershipGate>,
    outage: Arc<LeaseTableOutage>,
    stall_watch: Arc<StallWatch>,
    health: Arc<kinesink_delivery::DestinationHealth>,
    table_destination: Option<TableDestination>,
}

/// An Iceberg destination: the commit task of its tables, and the router placing records in
/// them.
#[derive(Clone)]
pub struct TableDestination {
    /// The worker's commit task for the tables.
    pub commits: crate::table_commits::TableCommits,
    /// Routes records to their tables and places them in the tables' partitions.
    pub router: Arc<dyn kinesink_delivery::TableRouter>,
}

/// What a shard task is built from once its progress object is claimed (owned, so the claim
/// runs in the shard's own task and never holds up the lease loop).
#[derive(Clone)]
struct ShardParts {
    settings: WorkerSettings,
    format: ObjectFormat,
    source: Arc<dyn ShardSource>,
    sink: Arc<dyn ObjectSink>,
    progress: Arc<dyn ProgressStore>,
    keeper: Arc<LeaseKeeper>,
    stats: Arc<DeliveryStats>,
    budget: Arc<SharedMemoryBudget>,
    gate: Arc<OwnershipGate>,
    outage: Arc<LeaseTableOutage>,
    stall_watch: Arc<StallWatch>,
    health: Arc<kinesink_delivery::DestinationHealth>,
    table_destination: Option<TableDestination>,
}

impl Worker {
    /// A worker over the given services, writing data objects in `format` (resolved at
    /// start-up: from the configuration, or with a schema read from Glue); `progress` keeps
    /// each shard's progress object (the destination itself, see [`ProgressStore`]).
    #[must_use]
    pub fn new(
        settings: WorkerSettings,
        format: ObjectFormat,
        source: Arc<dyn ShardSource>,
        table: Arc<dyn LeaseTable>,
        sink: Arc<dyn ObjectSink>,
        progress: Arc<dyn ProgressStore>,
    ) -> Self {
        let budget = Arc::new(SharedMemoryBudget::new(settings.memory_budget_bytes));
        let ready = Arc::new(AtomicBool::new(false));
        let stall_watch = Arc::new(StallWatch::new(settings.stall_timeout));
        Self {
            stall_watch,
            health: Arc::new(kinesink_delivery::DestinationHealth::new()),
            gate: Arc::new(OwnershipGate::new(settings.failover_time)),
            outage: Arc::new(LeaseTableOutage::new(ready.clone())),
            settings,
            format,
            source,
            table,
            sink,
            progress,
            ready,
            stats: Arc::new(DeliveryStats::default()),
            budget,
            table_destination: None,
        }
    }

    /// This worker delivering data into an Iceberg table (`format` given to [`Worker::new`]
    /// is then the table's Parquet format): data files go through the table's commit task, and
    /// each shard's progress object and lease checkpoint follow the table's commits; a shard
    /// resumes after the table's position when that is further than its lease's checkpoint.
    /// Error-output and backup objects still go to the sink.
    #[must_use]
    pub fn with_table_destination(mut self, table: TableDestination) -> Self {
        self.table_destination = Some(table);
        self
    }

    /// The worker's delivery counters (totals and per shard), shared with its shard tasks.
    #[must_use]
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// Set after each lease cycle in which the lease table answered, no lease write is failing,
    /// this worker's leases are not expired locally, and it holds a shard or none is available to
    /// it; cleared at once when a lease write starts failing: what `/readyz` reports.
    #[must_use]
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Creates leases for shards that have none (see [`crate::shard_sync::sync_shards`]).
    async fn sync_shards(&self) -> Result<(), ShardSyncError> {
        crate::shard_sync::sync_shards(
            self.table.as_ref(),
            self.source.as_ref(),
            &self.progress,
            &self.settings.name,
            &self.settings.initial_checkpoint(),
        )
        .await
    }

    /// Starts the task of a lease just taken: it first claims the shard's progress object (in
    /// its own task), then reads from the further of that progress and the lease row.
    fn start_shard(
        &self,
        lease: &Lease,
        keeper: &Arc<LeaseKeeper>,
        stats: &Arc<DeliveryStats>,
        previous: Option<JoinHandle<ShardOutcome>>,
    ) -> RunningShard {
        let parts = ShardParts {
            settings: self.settings.clone(),
            format: self.format.clone(),
            source: self.source.clone(),
            sink: self.sink.clone(),
            progress: self.progress.clone(),
            keeper: keeper.clone(),
            stats: stats.clone(),
            budget: self.budget.clone(),
            gate: self.gate.clone(),
            outage: self.outage.clone(),
            stall_watch: self.stall_watch.clone(),
            health: self.health.clone(),
            table_destination: self.table_destination.clone(),
        };
        let caught_up = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        let handle = tokio::spawn(shard_launch::launch_shard(
            parts,
            previous,
            lease.clone(),
            caught_up.clone(),
            stop.clone(),
            lost.clone(),
        ));
        RunningShard {
            stop,
            lost,
            caught_up,
            handle,
        }
    }

    /// Re-confirms every held lease after this worker's heartbeat could not be written for the
    /// failover time (see [`LeaseKeeper::reconfirm`]); readers of leases taken meanwhile stop
    /// before the gate reopens, also when a table error cuts the re-confirmation short (the
    /// leases it found taken before the error are no longer held, and no later scan reports
    /// them: every running shard whose lease is not held is stopped here).
    async fn reconfirm_leases(
        &self,
        keeper: &LeaseKeeper,
        running: &BTreeMap<String, RunningShard>,
    ) -> Result<(), LeaseError> {
        let started = self.gate.now_ms();
        let result = keeper.reconfirm().await;
        let held: std::collections::BTreeSet<String> =
            keeper.held_shards().await.into_iter().collect();
        let mut lost = 0_usize;
        for (shard_id, r) in running
            .iter()
            .filter(|(s, r)| !held.contains(*s) && !r.lost.is_cancelled())
        {
            tracing::warn!(shard_id = %shard_id, "lease taken by another worker while this one could not write its heartbeat; stopping its reader");
            r.lost.cancel();
            lost += 1;
        }
        result?;
        self.gate.record(OwnershipEvent::LeasesReconfirmed {
            started_at_ms: started,
        });
        tracing::info!(
            kept = held.len(),
            lost,
            "leases re-confirmed after the heartbeat could not be written for the failover time"
        );
        Ok(())
    }

    /// Stops every shard (`abandon`: at once, discarding buffers; else delivering and
    /// checkpointing what was read) and releases the leases of those that stopped cleanly;
    /// returns the last failure. While shards deliver, the heartbeat goes on every lease cycle,
    /// so their writes as owner stay allowed however long they take (a stop with large buffers
    /// may outlast the failover time); if it cannot be written for the failover time, the
    /// shards still running are abandoned (the next owner reads their records again) rather than
    /// left waiting at the ownership gate for a re-confirmation that no lease cycle will make.
    async fn stop_shards(
        &self,
        keeper: &LeaseKeeper,
        running: BTreeMap<String, RunningShard>,
        abandon: bool,
    ) -> Option<String> {
        let mut failure = None;
        if let Some(table) = &self.table_destination {
            // Shards draining wait for the table to hold their last flush point: commit at once.
            table.commits.drain();
        }
        for r in running.values() {
            if abandon {
                r.lost.cancel();
            } else {
                r.stop.cancel();
            }
        }
        let lost_tokens: Vec<CancellationToken> =
            running.values().map(|r| r.lost.clone()).collect();
        let mut heartbeating = !abandon;
        let mut heartbeat = tokio::time::interval(
            (self.settings.failover_time / 3).max(Duration::from_millis(100)),
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for (shard_id, mut r) in running {
            let outcome = loop {
                tokio::select! {
                    outcome = &mut r.handle => break outcome,
                    _ = heartbeat.tick(), if heartbeating => {
                        let sent = self.gate.now_ms();
                        let behind = keeper.millis_behind_latest().await;
                        match self.table.heartbeat(&self.settings.worker_id, &behind).await {
                            Ok(()) => {
                                self.gate.record(OwnershipEvent::HeartbeatWritten { sent_at_ms: sent });
                            }
                            Err(e) => tracing::warn!(error = %e, "heartbeat while stopping failed"),
                        }
                        if !self.gate.current().is_live() {
                            heartbeating = false;
                            tracing::error!("the heartbeat could not be written for the failover time while stopping: stopping the shards still delivering without writing; the next owner reads their records again");
                            for lost in &lost_tokens {
                                lost.cancel();
                            }
                        }
                    }
                }
            };
            match outcome {
                Ok(ShardOutcome::Stopped | ShardOutcome::Ended) => {
                    if let Err(e) = keeper.release(&shard_id).await {
                        tracing::warn!(shard_id = %shard_id, error = %e, "releasing lease failed; it expires after the failover time");
                    }
                }
                Ok(ShardOutcome::LeaseLost) => {}
                Ok(ShardOutcome::Failed(message)) => failure = Some(message),
                Err(join) => failure = Some(format!("shard {shard_id} task panicked: {join}")),
            }
        }
        failure
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
    ) -> Result<RunSummary, RunFailure> {
        let keeper = Arc::new(LeaseKeeper::new(
            self.table.clone(),
            self.settings.worker_id.clone(),
        ));
        let mut cycle = LeaseCycle::new(
            self.settings.worker_id.clone(),
            self.settings.failover_time,
            self.settings.lease_retry_duration,
        );
        let stats = self.stats.clone();
        let mut running: BTreeMap<String, RunningShard> = BTreeMap::new();
        let mut failure: Option<String> = None;
        // A transient error at start (throttling, a 5xx, a DynamoDB or Kinesis outage) is
        // retried for up to `leases.retry_duration_s` rather than ending the process.
        {
            let mut retry = OutageRetry::new(self.settings.lease_retry_duration);
            loop {
                let Err(e) = self.sync_shards().await else {
                    break;
                };
                match retry.step(self.gate.now_ms(), e.class()) {
                    RetryVerdict::RetryAfter(pause) => {
                        tracing::warn!(error = %e, ?pause, "first shard sync failed (Kinesis ListShards or the DynamoDB lease table); retrying (up to leases.retry_duration_s)");
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(RunSummary::default()),
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                    _ => {
                        return Err(RunFailure(format!(
                            "first shard sync failed for {} s (leases.retry_duration_s = {}): {e}",
                            retry.failing_for(self.gate.now_ms()).as_secs(),
                            self.settings.lease_retry_duration.as_secs()
                        )));
                    }
                }
            }
        }
        // The lease cycle (its decisions: `LeaseCycle`) runs every failover/3; heartbeat and
        // lease-table scans failing for `leases.retry_duration_s` stop the worker (the cycle
        // itself is the retry).
        let mut abandon = false;
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
        let _watchdog = spawn_watchdog(&self.stall_watch, self.ready.clone())
            .map_err(|e| RunFailure(format!("starting the stall watch thread failed: {e}")))?;
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
                            Ok(ShardOutcome::Ended) => {
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
                    // not one per lease) and carries how far behind each shard reads. After it
                    // could not be written for the failover time, the leases are re-confirmed
                    // before anything is written as owner again.
                    let heartbeat_sent = self.gate.now_ms();
                    let mut cycle_error = match self.table.heartbeat(&self.settings.worker_id, &keeper.millis_behind_latest().await).await {
                        Ok(()) => {
                            let ownership = self.gate.record(OwnershipEvent::HeartbeatWritten { sent_at_ms: heartbeat_sent });
                            if ownership.is_live() {
                                None
                            } else {
                                self.reconfirm_leases(&keeper, &running).await.err()
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "heartbeat to the DynamoDB lease table failed; will retry (worker unready)");
                            Some(e)
                        }
                    };
                    let snapshot = match self.table.snapshot().await {
                        Ok(s) => Some(s),
                        Err(LeaseError::TableMissing { table }) => {
                            // The lease table is a cache of the progress kept in the destination.
                            self.ready.store(false, Ordering::Relaxed);
                            tracing::warn!(%table, "the lease table is missing (dropped?); creating it again and recreating its lease rows from the progress kept in the destination");
                            if let Err(e) = self.table.ensure_exists().await {
                                tracing::warn!(error = %e, "creating the lease table failed; will retry");
                                cycle_error = Some(e);
                            } else if let Err(e) = self.sync_shards().await {
                                tracing::warn!(error = %e, "shard sync failed; will retry");
                            }
                            None
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "listing leases in the DynamoDB lease table failed; will retry (worker unready)");
                            cycle_error = Some(e);
                            None
                        }
                    };
                    // Ownership may have expired after the heartbeat (the process was paused
                    // between the heartbeat and the scan, as a zombie is): re-confirm before the
                    // scan is acted on, so a lease taken meanwhile is found by a fenced write
                    // that is refused, never only by the scan.
                    if snapshot.is_some() && cycle_error.is_none() && !self.gate.current().is_live() {
                        cycle_error = self.reconfirm_leases(&keeper, &running).await.err();
                    }
                    // Leases another worker took (stolen to balance, or taken while this one was
                    // paused): stop their readers; their writes were fenced all along. While
                    // ownership is still expired (the heartbeat failed, as a zombie's first one
                    // after waking may, or the re-confirmation was cut short), each loss is
                    // confirmed by a fenced write that is refused, never taken from the scan
                    // alone.
                    if let Some(snapshot) = &snapshot {
                        let lost = if self.gate.current().is_live() {
                            keeper.reconcile(&snapshot.leases).await
                        } else {
                            keeper.confirm_losses(&snapshot.leases).await
                        };
                        for shard_id in lost {
                            tracing::info!(shard_id = %shard_id, "lease taken by another worker; stopping its reader");
                            if let Some(r) = running.get(&shard_id) {
                                r.lost.cancel();
                            }
                        }
                    }
                    let held = keeper.held_shards().await;
                    let step = cycle.step(self.gate.now_ms(), CycleSeen {
                        table_error: cycle_error.as_ref(),
                        snapshot: snapshot.as_ref(),
                        held: &held,
                        healthy: !self.outage.writes_failing()
                            && self.gate.current().is_live()
                            && !self.stall_watch.any_stalled()
                            && !self.health.refusing(),
                    });
                    if let Some(stop) = step.stop {
                        self.ready.store(false, Ordering::Relaxed);
                        failure = Some(stop.reason);
                        abandon = stop.abandon;
                        break;
                    }
                    self.ready.store(step.ready, Ordering::Relaxed);
                    let Some(snapshot) = snapshot else {
                        continue;
                    };
                    for dead in step.remove_heartbeats {
                        tracing::info!(worker_id = %dead, "removing the heartbeat of a worker gone for 6 failover times");
                        if let Err(e) = self.table.remove_heartbeat(&dead).await {
                            tracing::warn!(worker_id = %dead, error = %e, "removing a dead worker's heartbeat failed");
                        }
                    }
                    let nothing_to_take = step.take.is_empty();
                    for action in step.take {
                        let (shard_id, expected_counter) = match action {
                            LeaseAction::Take { shard_id, expected_counter } => (shard_id, expected_counter),
                            LeaseAction::Steal { shard_id, expected_counter, from } => {
                                tracing::info!(shard_id = %shard_id, from = %from, "stealing lease to balance load");
                                metrics::counter!(kinesink_metric_names::LEASE_STEALS).increment(1);
                                (shard_id, expected_counter)
                            }
                        };
                        match keeper.take(&shard_id, expected_counter).await {
                            Ok(Some(lease)) => {
                                // A reader of this shard may still run here: its lease was lost
                                // and is taken back in this cycle (e.g. its row was recreated
                                // after the table was dropped). Both would write with this
                                // worker's one fencing counter, so the new reader starts only
                                // once the old one has stopped.
                                let previous = running.remove(&shard_id).map(|old| {
                                    old.lost.cancel();
                                    old.handle
                                });
                                let shard = self.start_shard(&lease, &keeper, &stats, previous);
                                running.insert(shard_id, shard);
                            }
                            Ok(None) => tracing::debug!(shard_id = %shard_id, "lease moved before we could take it"),
                            Err(e) => tracing::warn!(shard_id = %shard_id, error = %e, "taking lease failed"),
                        }
                    }
                    may_finish = false;
                    if options.until_caught_up {
                        // Judged after this cycle's takes: every open lease is read here.
                        let at_tip: Vec<(&str, bool)> = running
                            .iter()
                            .map(|(s, r)| (s.as_str(), r.caught_up.load(Ordering::Relaxed)))
                            .collect();
                        match LeaseCycle::finish(&snapshot, &at_tip, nothing_to_take) {
                            Finish::Now => {
                                tracing::info!("every shard is read to its tip; stopping");
                                break;
                            }
                            Finish::WhenAtTip => may_finish = true,
                            Finish::NotYet => {}
                        }
                    }
                }
            }
        }
        tracing::info!(
            shards = running.len(),
            "stopping: delivering buffered records and checkpointing"
        );
        // A shard that gave up on the lease table leaves the others nothing to checkpoint
        // with: they stop at once too (their records are read again by the next owner).
        abandon |= self.outage.gave_up();
        if abandon {
            tracing::error!(
                shards = running.len(),
                "stopping without writing buffered records: the DynamoDB lease table is unusable; the next owner reads them again from the checkpoints"
            );
        }
        failure = self
            .stop_shards(&keeper, running, abandon)
            .await
            .or(failure);
        if !abandon && let Err(e) = self.table.remove_heartbeat(&self.settings.worker_id).await {
            tracing::warn!(error = %e, "removing heartbeat failed; it expires after the failover time");
        }
        let summary = RunSummary {
            records: stats.records.load(Ordering::Relaxed),
            failed_records: stats.failed_records.load(Ordering::Relaxed),
            objects: stats.objects.load(Ordering::Relaxed),
            bytes: stats.bytes.load(Ordering::Relaxed),
        };
        match failure {
            Some(message) => Err(RunFailure(message)),
            None => Ok(summary),
        }
    }
}

#[cfg(test)]
mod flush_concurrency_tests;
#[cfg(test)]
mod in_process_tests;
mod shard_launch;
#[cfg(test)]
mod table_commit_failure_tests;
#[cfg(test)]
mod table_commit_rate_tests;
#[cfg(test)]
mod tests;
