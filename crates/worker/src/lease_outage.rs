//! Riding out lease-table (DynamoDB) outages: fenced lease writes retried up to
//! `leases.retry_duration_s`, the readiness they withdraw meanwhile, and the gate that keeps a
//! worker from writing as owner once its leases may have expired in other workers' eyes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use kinesink_lease_coordination::{
    Checkpoint, LeaseError, LeaseKeeper, OutageRetry, Ownership, OwnershipClock, OwnershipEvent,
    RetryVerdict,
};
use kinesink_sequence_position::SequencePosition;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// This worker's judgement of whether it may still write as the owner of its leases (the
/// async shell around [`OwnershipClock`], shared by the lease cycle and the shard tasks).
///
/// Guarantees: [`OwnershipGate::wait_until_owner`] returns `true` only while the clock says
/// [`Ownership::Live`]; every recorded event wakes the waiters.
#[derive(Debug)]
pub struct OwnershipGate {
    clock: std::sync::Mutex<OwnershipClock>,
    started: Instant,
    changes: watch::Sender<u64>,
}

impl OwnershipGate {
    /// A gate for leases with the given failover time, starting live (nothing is held yet).
    #[must_use]
    pub fn new(failover: Duration) -> Self {
        Self {
            clock: std::sync::Mutex::new(OwnershipClock::new(
                u64::try_from(failover.as_millis()).unwrap_or(u64::MAX),
                0,
            )),
            started: Instant::now(),
            changes: watch::channel(0).0,
        }
    }

    /// Milliseconds since the gate was made: the clock every event time must be read from.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records an event now and returns the verdict.
    pub fn record(&self, event: OwnershipEvent) -> Ownership {
        let now = self.now_ms();
        let verdict = match self.clock.lock() {
            Ok(mut clock) => clock.step(now, event),
            Err(poisoned) => poisoned.into_inner().step(now, event),
        };
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        verdict
    }

    /// The verdict now.
    #[must_use]
    pub fn current(&self) -> Ownership {
        let now = self.now_ms();
        match self.clock.lock() {
            Ok(clock) => clock.decide(now),
            Err(poisoned) => poisoned.into_inner().decide(now),
        }
    }

    /// Waits until this worker may write as owner (`true`), or until `lost` is cancelled
    /// (`false`). Waiting ends only through a re-confirmation by the lease cycle. A cancelled
    /// `lost` always wins, even when the gate is live: a re-confirmation that found this lease
    /// taken cancels it just before it opens the gate, and the woken writer must not take the
    /// open gate for its own.
    pub async fn wait_until_owner(&self, shard_id: &str, lost: &CancellationToken) -> bool {
        let mut changes = self.changes.subscribe();
        let mut warned = false;
        loop {
            if lost.is_cancelled() {
                return false;
            }
            if self.current().is_live() {
                if warned {
                    tracing::info!(shard_id, "leases re-confirmed; writing as owner again");
                }
                return true;
            }
            if !warned {
                warned = true;
                tracing::warn!(
                    shard_id,
                    "this worker's heartbeat could not be written to the DynamoDB lease table for the failover time, so another worker may have taken its leases; waiting for the lease to be re-confirmed before writing as owner"
                );
            }
            tokio::select! {
                biased;
                () = lost.cancelled() => return false,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
            }
        }
    }
}

/// How many lease writes are failing right now; while any is, the worker is not ready.
///
/// Guarantees: entering an outage ([`LeaseTableOutage::enter`]) clears `ready` at once; the
/// count goes down when the returned guard is dropped (success, loss, failure or cancellation).
#[derive(Debug)]
pub struct LeaseTableOutage {
    failing_writes: AtomicUsize,
    gave_up: AtomicBool,
    ready: Arc<AtomicBool>,
}

/// Held while a lease write is in an outage; see [`LeaseTableOutage::enter`].
#[derive(Debug)]
pub struct OutageGuard(Arc<LeaseTableOutage>);

impl Drop for OutageGuard {
    fn drop(&mut self) {
        self.0.failing_writes.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LeaseTableOutage {
    /// Tracks failing writes for the worker whose `/readyz` reads `ready`.
    #[must_use]
    pub fn new(ready: Arc<AtomicBool>) -> Self {
        Self {
            failing_writes: AtomicUsize::new(0),
            gave_up: AtomicBool::new(false),
            ready,
        }
    }

    /// A lease write started failing: the worker is unready until the guard is dropped and the
    /// next lease cycle finds everything well.
    #[must_use]
    pub fn enter(self: &Arc<Self>) -> OutageGuard {
        self.failing_writes.fetch_add(1, Ordering::Relaxed);
        self.ready.store(false, Ordering::Relaxed);
        OutageGuard(self.clone())
    }

    /// Whether a lease write failed for the whole retry duration (the worker must stop).
    #[must_use]
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::Relaxed)
    }

    /// Whether any lease write is failing now.
    #[must_use]
    pub fn writes_failing(&self) -> bool {
        self.failing_writes.load(Ordering::Relaxed) > 0
    }
}

/// Why a retried lease write ended without success.
#[derive(Debug)]
pub enum WriteStop {
    /// The lease is lost (a failed condition, or the lease cycle found it taken).
    Lost,
    /// The table refused for good, or failed for the whole retry duration: one line saying so.
    Failed(String),
}

/// The fenced lease writes of shard tasks, retried through DynamoDB outages.
///
/// Guarantees: a write is attempted only while the [`OwnershipGate`] says this worker is the
/// owner; a failed condition is never retried ([`WriteStop::Lost`]); transient failures are
/// retried with exponential backoff and jitter ([`OutageRetry`]) for up to `retry_duration`
/// (`leases.retry_duration_s`), the worker unready meanwhile, each failure logged at WARN with
/// the error; then [`WriteStop::Failed`] with one line naming DynamoDB and the key.
#[derive(Debug, Clone)]
pub struct LeaseWrites {
    /// The fenced writer.
    pub keeper: Arc<LeaseKeeper>,
    /// Whether this worker may write as owner.
    pub gate: Arc<OwnershipGate>,
    /// Readiness withdrawn while writes fail.
    pub outage: Arc<LeaseTableOutage>,
    /// How long transient failures are retried.
    pub retry_duration: Duration,
}

impl LeaseWrites {
    /// Stores a checkpoint of a held lease, retried through outages.
    ///
    /// # Errors
    /// See [`WriteStop`].
    pub async fn checkpoint(
        &self,
        shard_id: &str,
        checkpoint: &Checkpoint,
        lost: &CancellationToken,
    ) -> Result<(), WriteStop> {
        self.retried(shard_id, "writing the checkpoint", lost, || {
            self.keeper.checkpoint(shard_id, checkpoint)
        })
        .await
    }

    /// Stores flush progress of a held lease, retried through outages.
    ///
    /// # Errors
    /// See [`WriteStop`].
    pub async fn record_progress(
        &self,
        shard_id: &str,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
        lost: &CancellationToken,
    ) -> Result<(), WriteStop> {
        self.retried(shard_id, "recording flush progress", lost, || {
            self.keeper.record_progress(shard_id, horizon, flush_intent)
        })
        .await
    }

    async fn retried<F, Fut>(
        &self,
        shard_id: &str,
        what: &str,
        lost: &CancellationToken,
        mut call: F,
    ) -> Result<(), WriteStop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), LeaseError>>,
    {
        let mut retry = OutageRetry::new(self.retry_duration);
        let mut in_outage: Option<OutageGuard> = None;
        loop {
            if !self.gate.wait_until_owner(shard_id, lost).await {
                return Err(WriteStop::Lost);
            }
            let e = match call().await {
                Ok(()) => {
                    if in_outage.is_some() {
                        tracing::info!(
                            shard_id,
                            attempts = retry.attempts() + 1,
                            "the DynamoDB lease table answered again: {what} succeeded"
                        );
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            let now = self.gate.now_ms();
            match retry.step(now, e.class()) {
                RetryVerdict::LeaseLost => return Err(WriteStop::Lost),
                RetryVerdict::Permanent => {
                    return Err(WriteStop::Failed(format!(
                        "shard {shard_id}: {what} was refused by the DynamoDB lease table: {e}"
                    )));
                }
                RetryVerdict::GiveUp {
                    failing_for,
                    attempts,
                } => {
                    self.outage.gave_up.store(true, Ordering::Relaxed);
                    return Err(WriteStop::Failed(format!(
                        "shard {shard_id}: the DynamoDB lease table failed {what} for {} s, the whole retry duration (leases.retry_duration_s = {}), {attempts} attempts; nothing past the checkpoint is lost; last error: {e}",
                        failing_for.as_secs(),
                        self.retry_duration.as_secs()
                    )));
                }
                RetryVerdict::RetryAfter(pause) => {
                    in_outage.get_or_insert_with(|| self.outage.enter());
                    tracing::warn!(
                        shard_id,
                        attempt = retry.attempts(),
                        failing_for_s = retry.failing_for(now).as_secs(),
                        error = %e,
                        "DynamoDB lease table unavailable while {what}; retrying (up to leases.retry_duration_s), worker unready"
                    );
                    tokio::select! {
                        () = lost.cancelled() => return Err(WriteStop::Lost),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flaky_lease_table::FlakyTable;
    use kinesink_lease_coordination::{Lease, LeaseTable};
    use std::collections::BTreeMap;

    async fn setup(retry: Duration) -> (Arc<FlakyTable>, LeaseWrites, Arc<AtomicBool>) {
        let table = Arc::new(FlakyTable::new(true));
        table
            .create_if_missing(&Lease::new("s", vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
        let keeper = Arc::new(LeaseKeeper::new(table.clone(), "a"));
        keeper.take("s", 0).await.unwrap().unwrap();
        let ready = Arc::new(AtomicBool::new(true));
        let writes = LeaseWrites {
            keeper,
            gate: Arc::new(OwnershipGate::new(Duration::from_secs(3600))),
            outage: Arc::new(LeaseTableOutage::new(ready.clone())),
            retry_duration: retry,
        };
        (table, writes, ready)
    }

    fn seq(n: u64) -> Checkpoint {
        Checkpoint::Sequence(SequencePosition::new(n.to_string(), 0))
    }

    #[tokio::test]
    async fn a_checkpoint_outlives_an_outage_shorter_than_the_retry_duration_and_the_worker_is_unready_meanwhile()
     {
        let (table, writes, ready) = setup(Duration::from_secs(600)).await;
        let lost = CancellationToken::new();
        let task = {
            let writes = writes.clone();
            let lost = lost.clone();
            tokio::spawn(async move { writes.checkpoint("s", &seq(7), &lost).await })
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!ready.load(Ordering::Relaxed), "unready during the outage");
        assert!(writes.outage.writes_failing());
        assert!(!task.is_finished(), "still retrying");
        let calls = table.checkpoint_calls.load(Ordering::Relaxed);
        assert!((2..8).contains(&calls), "{calls} attempts in 2 s: backoff");
        table.down.store(false, Ordering::Relaxed);
        let done = tokio::time::timeout(Duration::from_secs(8), task).await;
        assert!(done.unwrap().unwrap().is_ok());
        assert!(!writes.outage.writes_failing());
        assert_eq!(table.inner.list().await.unwrap()[0].checkpoint, seq(7));
    }

    #[tokio::test]
    async fn a_checkpoint_failing_for_the_whole_retry_duration_stops_with_a_line_naming_dynamodb_and_the_key()
     {
        let (_table, writes, _ready) = setup(Duration::from_secs(2)).await;
        let lost = CancellationToken::new();
        let started = Instant::now();
        let Err(WriteStop::Failed(line)) = writes.checkpoint("s", &seq(7), &lost).await else {
            panic!("expected a failure");
        };
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
        assert!(
            line.contains("DynamoDB")
                && line.contains("leases.retry_duration_s = 2")
                && line.contains("InternalServerError"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[tokio::test]
    async fn a_lost_lease_is_not_retried_and_cancellation_ends_the_wait() {
        let (table, writes, _ready) = setup(Duration::from_secs(600)).await;
        table.down.store(false, Ordering::Relaxed);
        table.inner.take("s", 1, "b").await.unwrap().unwrap();
        let lost = CancellationToken::new();
        assert!(matches!(
            writes.checkpoint("s", &seq(7), &lost).await,
            Err(WriteStop::Lost)
        ));
        assert_eq!(table.checkpoint_calls.load(Ordering::Relaxed), 1);
        // an outage ended by the lease cycle finding the lease taken
        let (_table, writes, _ready) = setup(Duration::from_secs(600)).await;
        let lost = CancellationToken::new();
        let task = {
            let (writes, lost) = (writes.clone(), lost.clone());
            tokio::spawn(async move { writes.checkpoint("s", &seq(7), &lost).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        lost.cancel();
        assert!(matches!(task.await.unwrap(), Err(WriteStop::Lost)));
        assert!(!writes.outage.writes_failing(), "the guard was dropped");
    }

    #[tokio::test]
    async fn a_writer_whose_lease_was_found_taken_by_the_reconfirmation_does_not_pass_the_reopened_gate()
     {
        // Already lost, gate live: not the owner.
        let gate = OwnershipGate::new(Duration::from_secs(3600));
        let lost = CancellationToken::new();
        lost.cancel();
        assert!(!gate.wait_until_owner("s", &lost).await);
        // Waiting while expired; the lease cycle's re-confirmation finds this lease taken: it
        // cancels `lost`, then opens the gate for the leases it kept, in one step.
        // A failover time long enough that the re-confirmed gate is still live when checked
        // on a loaded machine (1 ms was not), short enough to expire first.
        for _ in 0..10 {
            let gate = Arc::new(OwnershipGate::new(Duration::from_millis(250)));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!gate.current().is_live());
            let lost = CancellationToken::new();
            let waiter = {
                let (gate, lost) = (gate.clone(), lost.clone());
                tokio::spawn(async move { gate.wait_until_owner("s", &lost).await })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            lost.cancel();
            gate.record(OwnershipEvent::LeasesReconfirmed {
                started_at_ms: gate.now_ms(),
            });
            assert!(gate.current().is_live());
            assert!(
                !waiter.await.unwrap(),
                "a writer of a lease found taken passed the gate"
            );
        }
    }

    #[tokio::test]
    async fn no_write_as_owner_once_the_heartbeat_could_not_be_written_for_the_failover_time() {
        let (table, mut writes, _ready) = setup(Duration::from_secs(600)).await;
        table.down.store(false, Ordering::Relaxed);
        writes.gate = Arc::new(OwnershipGate::new(Duration::from_secs(1)));
        let lost = CancellationToken::new();
        writes.checkpoint("s", &seq(1), &lost).await.unwrap();
        // no heartbeat for the failover time: expired locally
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let calls_before = table.checkpoint_calls.load(Ordering::Relaxed);
        let task = {
            let (writes, lost) = (writes.clone(), lost.clone());
            tokio::spawn(async move { writes.checkpoint("s", &seq(2), &lost).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!task.is_finished());
        assert_eq!(
            table.checkpoint_calls.load(Ordering::Relaxed),
            calls_before,
            "nothing written while expired"
        );
        // a heartbeat alone does not re-open the gate; the re-confirmation does
        let sent = writes.gate.now_ms();
        table.heartbeat("a", &BTreeMap::new()).await.unwrap();
        writes
            .gate
            .record(OwnershipEvent::HeartbeatWritten { sent_at_ms: sent });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!task.is_finished());
        let started = writes.gate.now_ms();
        assert!(writes.keeper.reconfirm().await.unwrap().is_empty());
        writes.gate.record(OwnershipEvent::LeasesReconfirmed {
            started_at_ms: started,
        });
        assert!(task.await.unwrap().is_ok());
        assert_eq!(table.inner.list().await.unwrap()[0].checkpoint, seq(2));
    }

    #[tokio::test]
    async fn a_worker_whose_heartbeat_fails_for_the_failover_time_writes_no_object_until_its_leases_are_reconfirmed()
     {
        use kinesink_delivery::{MemorySink, ObjectSink};
        use kinesink_shard_reader::ShardSource;

        let defaults = crate::test_fixtures::settings("gate", "a");
        let settings = crate::worker::WorkerSettings {
            reader: kinesink_shard_reader::ReaderSettings {
                idle: Duration::from_millis(100),
                ..defaults.reader
            },
            failover_time: Duration::from_millis(1000),
            buffer: kinesink_delivery::BufferLimits {
                interval_ms: 3000,
                ..defaults.buffer
            },
            ..defaults
        };
        let source = crate::test_fixtures::one_shard_of_fifty();
        let table = Arc::new(FlakyTable::new(false));
        table.heartbeat_down.store(true, Ordering::Relaxed);
        let sink = Arc::new(MemorySink::new());
        let worker = crate::worker::Worker::new(
            settings,
            crate::test_fixtures::ndjson_gzip(),
            source as Arc<dyn ShardSource>,
            table.clone() as Arc<dyn LeaseTable>,
            sink.clone() as Arc<dyn ObjectSink>,
            sink.clone() as Arc<dyn kinesink_delivery::ProgressStore>,
        );
        let ready = worker.readiness();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(worker.run(shutdown.clone(), crate::worker::RunOptions::default()));
        // The buffer interval (2.4-3 s) ends after the leases expired locally (1 s without a
        // heartbeat): the objects wait, though the lease table takes every other write.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let lease = table.inner.list().await.unwrap().remove(0);
        assert_eq!(
            lease.owner.as_deref(),
            Some("a"),
            "the worker took the lease"
        );
        assert_eq!(
            sink.put_count(),
            0,
            "no object written as owner while expired"
        );
        assert!(!ready.load(Ordering::Relaxed));
        table.heartbeat_down.store(false, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.put_count() == 0 {
            assert!(
                Instant::now() < deadline,
                "objects written once re-confirmed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        let summary = run.await.unwrap().unwrap();
        assert_eq!(summary.records, 50);
    }
}
