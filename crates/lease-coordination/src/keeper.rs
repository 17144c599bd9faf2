//! The fenced writer of this worker's leases: takes, checkpoints, releases; and the judge of
//! which held leases another worker has taken.

use std::collections::BTreeMap;
use std::sync::Arc;

use kinesink_sequence_position::SequencePosition;
use tokio::sync::Mutex;

use crate::lease::{Checkpoint, Lease};
use crate::table::{LeaseError, LeaseTable};

/// Holds the counters of the leases this worker owns and performs every write conditional on them.
///
/// Leases are not renewed one by one: the worker's heartbeat keeps them all live (see
/// [`crate::LeaseTaker`]). A lease another worker took is noticed by [`LeaseKeeper::reconcile`]
/// against each lease-table scan, or by the next fenced write failing.
///
/// Guarantees: a checkpoint is written only with the condition "owner is me and counter is the
/// one I hold"; a failed condition drops the lease from the held set and returns
/// [`LeaseError::Lost`]; writes for leases are serialised, so one never invalidates a
/// concurrent one of this same worker.
pub struct LeaseKeeper {
    table: Arc<dyn LeaseTable>,
    owner: String,
    held: Mutex<BTreeMap<String, u64>>,
    behind: std::sync::Mutex<BTreeMap<String, i64>>,
}

impl std::fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl LeaseKeeper {
    /// A keeper for worker `owner` over `table`, holding nothing yet.
    #[must_use]
    pub fn new(table: Arc<dyn LeaseTable>, owner: impl Into<String>) -> Self {
        Self {
            table,
            owner: owner.into(),
            held: Mutex::new(BTreeMap::new()),
            behind: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Notes a shard's latest `MillisBehindLatest`; the next heartbeat stores it (see
    /// [`LeaseKeeper::millis_behind_latest`]), so `kinesink leases list` shows how far behind
    /// each owned shard is (no extra writes).
    pub fn report_behind(&self, shard_id: &str, millis_behind_latest: i64) {
        if let Ok(mut behind) = self.behind.lock() {
            behind.insert(shard_id.to_owned(), millis_behind_latest);
        }
    }

    /// This worker's id.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease table.
    #[must_use]
    pub fn table(&self) -> &Arc<dyn LeaseTable> {
        &self.table
    }

    /// Takes a lease if its counter is still `expected_counter`; `Ok(None)` if someone moved first.
    ///
    /// # Errors
    /// [`LeaseError::Unavailable`] or [`LeaseError::Malformed`] from the table.
    pub async fn take(
        &self,
        shard_id: &str,
        expected_counter: u64,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut held = self.held.lock().await;
        let taken = self
            .table
            .take(shard_id, expected_counter, &self.owner)
            .await?;
        if let Some(lease) = &taken {
            held.insert(shard_id.to_owned(), lease.counter);
            metrics::counter!(kinesink_metric_names::LEASE_TAKES).increment(1);
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
        Ok(taken)
    }

    /// The last `MillisBehindLatest` of each held shard, for this worker's heartbeat.
    pub async fn millis_behind_latest(&self) -> BTreeMap<String, i64> {
        let held = self.held.lock().await;
        let Ok(behind) = self.behind.lock() else {
            return BTreeMap::new();
        };
        held.keys()
            .filter_map(|shard| behind.get(shard).map(|ms| (shard.clone(), *ms)))
            .collect()
    }

    /// Compares the held leases with a scan of the table: a held lease that now names another
    /// owner (or none), or is gone, was taken from this worker; it is dropped from the held set
    /// and its shard returned, so its reader stops. (Its writes were fenced all along: the
    /// taker's write moved the counter.)
    pub async fn reconcile(&self, leases: &[Lease]) -> Vec<String> {
        let mut held = self.held.lock().await;
        let lost: Vec<String> = held
            .keys()
            .filter(|shard| {
                leases
                    .iter()
                    .find(|l| &l.shard_id == *shard)
                    .is_none_or(|l| l.owner.as_deref() != Some(self.owner.as_str()))
            })
            .cloned()
            .collect();
        for shard in &lost {
            held.remove(shard);
            metrics::counter!(kinesink_metric_names::LEASE_LOSSES).increment(1);
        }
        if !lost.is_empty() {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
        }
        lost
    }

    /// Like [`LeaseKeeper::reconcile`], for a worker whose ownership has expired
    /// ([`crate::OwnershipClock`]) and was not re-confirmed this cycle (its heartbeat failed):
    /// each held lease the scan shows taken or gone is confirmed lost by a fenced write, a take
    /// at the counter this worker holds, rather than by the scan alone. The table refuses it
    /// once another worker took the lease (counted as a refused fenced write and a loss); if it
    /// accepts it (the row was recreated at the held counter), the lease stays held with its
    /// new counter. A table error leaves the scan's word: the lease is dropped as lost.
    /// Returns the shards lost.
    pub async fn confirm_losses(&self, leases: &[Lease]) -> Vec<String> {
        let mut held = self.held.lock().await;
        let candidates: Vec<(String, u64)> = held
            .iter()
            .filter(|(shard, _)| {
                leases
                    .iter()
                    .find(|l| &l.shard_id == *shard)
                    .is_none_or(|l| l.owner.as_deref() != Some(self.owner.as_str()))
            })
            .map(|(s, c)| (s.clone(), *c))
            .collect();
        let mut lost = Vec::new();
        for (shard_id, counter) in candidates {
            match self.table.take(&shard_id, counter, &self.owner).await {
                Ok(Some(lease)) => {
                    held.insert(shard_id, lease.counter);
                }
                Ok(None) => {
                    held.remove(&shard_id);
                    refused(&shard_id, "confirmation of a loss the scan showed");
                    lost.push(shard_id);
                }
                Err(e) => {
                    tracing::warn!(shard_id = %shard_id, error = %e, "confirming a lost lease by a fenced write failed; the scan shows it taken, so it is given up");
                    held.remove(&shard_id);
                    metrics::counter!(kinesink_metric_names::LEASE_LOSSES).increment(1);
                    lost.push(shard_id);
                }
            }
        }
        if !lost.is_empty() {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
        }
        lost
    }

    /// Stores a checkpoint for a held lease.
    ///
    /// # Errors
    /// [`LeaseError::Lost`] if the lease is not held (any more); table errors otherwise.
    pub async fn checkpoint(
        &self,
        shard_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), LeaseError> {
        let mut held = self.held.lock().await;
        let counter = *held.get(shard_id).ok_or_else(|| LeaseError::Lost {
            shard_id: shard_id.to_owned(),
        })?;
        match self
            .table
            .checkpoint(shard_id, &self.owner, counter, checkpoint)
            .await
        {
            Ok(new_counter) => {
                metrics::counter!(kinesink_metric_names::CHECKPOINT_WRITES).increment(1);
                held.insert(shard_id.to_owned(), new_counter);
                Ok(())
            }
            Err(e @ LeaseError::Lost { .. }) => {
                held.remove(shard_id);
                refused(shard_id, "checkpoint");
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Stores flush progress for a held lease (see `kinesink-delivery`'s flush protocol).
    ///
    /// # Errors
    /// [`LeaseError::Lost`] if the lease is not held (any more); table errors otherwise.
    pub async fn record_progress(
        &self,
        shard_id: &str,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
    ) -> Result<(), LeaseError> {
        let mut held = self.held.lock().await;
        let counter = *held.get(shard_id).ok_or_else(|| LeaseError::Lost {
            shard_id: shard_id.to_owned(),
        })?;
        match self
            .table
            .record_progress(shard_id, &self.owner, counter, horizon, flush_intent)
            .await
        {
            Ok(new_counter) => {
                metrics::counter!(kinesink_metric_names::FLUSH_PROGRESS_WRITES).increment(1);
                held.insert(shard_id.to_owned(), new_counter);
                Ok(())
            }
            Err(e @ LeaseError::Lost { .. }) => {
                held.remove(shard_id);
                refused(shard_id, "flush progress");
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives a held lease back so another worker can take it at once.
    ///
    /// # Errors
    /// [`LeaseError::Lost`] if it was not held at the counter we had; table errors otherwise.
    pub async fn release(&self, shard_id: &str) -> Result<(), LeaseError> {
        let mut held = self.held.lock().await;
        let Some(counter) = held.remove(shard_id) else {
            return Err(LeaseError::Lost {
                shard_id: shard_id.to_owned(),
            });
        };
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
        let behind = self
            .behind
            .lock()
            .ok()
            .and_then(|b| b.get(shard_id).copied());
        let released = self
            .table
            .release(shard_id, &self.owner, counter, behind)
            .await;
        if matches!(released, Err(LeaseError::Lost { .. })) {
            refused(shard_id, "release");
        }
        released
    }

    /// Re-confirms every held lease after this worker's ownership expired locally (see
    /// [`crate::OwnershipClock`]): one write per lease, conditional on the counter held, that
    /// keeps this worker as owner and moves the counter (a take at the held counter; it counts in
    /// `ownerSwitchesSinceCheckpoint`). A lease another worker took meanwhile has a moved counter,
    /// so the write is refused: it is dropped from the held set and its shard returned. Moving the
    /// counter also makes any take another worker decided from an older observation fail.
    ///
    /// # Errors
    /// Table errors; leases re-confirmed before the error keep their new counters.
    pub async fn reconfirm(&self) -> Result<Vec<String>, LeaseError> {
        let mut held = self.held.lock().await;
        let mut lost = Vec::new();
        let shards: Vec<(String, u64)> = held.iter().map(|(s, c)| (s.clone(), *c)).collect();
        for (shard_id, counter) in shards {
            match self.table.take(&shard_id, counter, &self.owner).await? {
                Some(lease) => {
                    held.insert(shard_id, lease.counter);
                }
                None => {
                    // The take at the counter this worker holds is a fenced write: refused
                    // means another worker took the lease.
                    held.remove(&shard_id);
                    refused(&shard_id, "reconfirmation");
                    lost.push(shard_id);
                }
            }
        }
        if !lost.is_empty() {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
        }
        Ok(lost)
    }

    /// Forgets a lease without writing (after its loss was detected elsewhere).
    pub async fn forget(&self, shard_id: &str) {
        let mut held = self.held.lock().await;
        held.remove(shard_id);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(kinesink_metric_names::LEASES_OWNED).set(held.len() as f64);
    }

    /// The shards held now.
    pub async fn held_shards(&self) -> Vec<String> {
        self.held.lock().await.keys().cloned().collect()
    }
}

/// Counts and reports a fenced write the table refused (the lease's owner or counter moved:
/// another worker took it, e.g. while this one was paused). The lease is lost then, so it also
/// counts as a lease loss (a loss found by [`LeaseKeeper::reconcile`] is not held any more and
/// is never counted twice).
fn refused(shard_id: &str, write: &'static str) {
    metrics::counter!(kinesink_metric_names::FENCED_WRITES_REFUSED).increment(1);
    metrics::counter!(kinesink_metric_names::LEASE_LOSSES).increment(1);
    tracing::warn!(
        shard_id,
        write,
        "a fenced lease write was refused: another worker holds this lease now"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_table::MemoryLeaseTable;

    fn seq(n: u64) -> Checkpoint {
        Checkpoint::Sequence(SequencePosition::new(n.to_string(), 0))
    }

    #[tokio::test]
    async fn a_zombie_cannot_move_a_checkpoint_after_its_lease_was_taken() {
        let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
        table
            .create_if_missing(&Lease::new("s", vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
        let a = LeaseKeeper::new(table.clone(), "a");
        let b = LeaseKeeper::new(table.clone(), "b");
        let taken = a.take("s", 0).await.unwrap().unwrap();
        a.checkpoint("s", &seq(10)).await.unwrap();
        // a pauses; b sees the lease expire and takes it at the current counter
        let current = table.list().await.unwrap()[0].counter;
        assert!(current > taken.counter);
        b.take("s", current).await.unwrap().unwrap();
        // a wakes up and tries to checkpoint further: refused, and the stored checkpoint is b's view
        let err = a.checkpoint("s", &seq(20)).await.unwrap_err();
        assert!(matches!(err, LeaseError::Lost { .. }));
        assert_eq!(table.list().await.unwrap()[0].checkpoint, seq(10));
        assert!(
            a.held_shards().await.is_empty(),
            "the zombie forgets the lease"
        );
        b.checkpoint("s", &seq(20)).await.unwrap();
        assert_eq!(table.list().await.unwrap()[0].checkpoint, seq(20));
    }

    /// Runs `body` on a current-thread runtime with a local Prometheus recorder; returns a
    /// reader of the recorded value of each metric (panicking, naming it, when absent).
    fn with_counted_metrics(
        body: impl std::future::Future<Output = ()>,
    ) -> impl Fn(&str) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || runtime.block_on(body));
        let text = handle.render();
        move |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .to_owned()
        }
    }

    #[test]
    fn a_refused_fenced_write_is_counted_as_refused_and_as_a_lease_loss() {
        let value = with_counted_metrics(async {
            let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
            for s in ["x", "y", "z"] {
                table
                    .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
                    .await
                    .unwrap();
            }
            let zombie = LeaseKeeper::new(table.clone(), "zombie");
            for s in ["x", "y", "z"] {
                zombie.take(s, 0).await.unwrap().unwrap();
            }
            // While the zombie is paused, another worker takes all three leases.
            for s in ["x", "y", "z"] {
                table.take(s, 1, "successor").await.unwrap().unwrap();
            }
            assert!(matches!(
                zombie.checkpoint("x", &seq(5)).await,
                Err(LeaseError::Lost { .. })
            ));
            assert!(matches!(
                zombie
                    .record_progress("y", &SequencePosition::new("5", 0), None)
                    .await,
                Err(LeaseError::Lost { .. })
            ));
            assert!(matches!(
                zombie.release("z").await,
                Err(LeaseError::Lost { .. })
            ));
            // Not held any more: refused by the keeper itself, no table write, not counted.
            assert!(matches!(
                zombie.checkpoint("x", &seq(6)).await,
                Err(LeaseError::Lost { .. })
            ));
            // A loss found by a scan instead is counted once, by reconcile.
            let other = LeaseKeeper::new(table.clone(), "other");
            table
                .create_if_missing(&Lease::new("w", vec![], Checkpoint::TrimHorizon))
                .await
                .unwrap();
            other.take("w", 0).await.unwrap().unwrap();
            table.take("w", 1, "successor").await.unwrap().unwrap();
            assert_eq!(other.reconcile(&table.list().await.unwrap()).await, ["w"]);
        });
        assert_eq!(value(kinesink_metric_names::FENCED_WRITES_REFUSED), "3");
        assert_eq!(value(kinesink_metric_names::LEASE_LOSSES), "4");
    }

    #[test]
    fn a_loss_a_scan_shows_while_ownership_expired_is_confirmed_by_a_refused_fenced_write() {
        let value = with_counted_metrics(async {
            let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
            for s in ["x", "y"] {
                table
                    .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
                    .await
                    .unwrap();
            }
            let zombie = LeaseKeeper::new(table.clone(), "zombie");
            for s in ["x", "y"] {
                zombie.take(s, 0).await.unwrap().unwrap();
            }
            // While the zombie is paused, another worker takes x; y is still its own.
            table.take("x", 1, "successor").await.unwrap().unwrap();
            let scan = table.list().await.unwrap();
            assert_eq!(zombie.confirm_losses(&scan).await, ["x"]);
            assert_eq!(zombie.held_shards().await, ["y"]);
            let after = table.list().await.unwrap();
            assert_eq!(after[0].owner.as_deref(), Some("successor"));
            assert_eq!(after[0].counter, 2, "the refused write changed nothing");
            assert_eq!(
                after[1].counter, 1,
                "a lease the scan shows held is not written"
            );
        });
        assert_eq!(value(kinesink_metric_names::FENCED_WRITES_REFUSED), "1");
        assert_eq!(value(kinesink_metric_names::LEASE_LOSSES), "1");
    }

    #[tokio::test]
    async fn the_heartbeat_reports_how_far_behind_each_held_shard_reads() {
        let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
        for s in ["x", "y"] {
            table
                .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
                .await
                .unwrap();
        }
        let a = LeaseKeeper::new(table.clone(), "a");
        a.take("x", 0).await.unwrap().unwrap();
        a.report_behind("x", 2500);
        a.report_behind("y", 700); // not held: not reported
        let behind = a.millis_behind_latest().await;
        assert_eq!(behind, BTreeMap::from([("x".to_owned(), 2500)]));
        table.heartbeat("a", &behind).await.unwrap();
        let leases = table.list().await.unwrap();
        assert_eq!(
            leases[0].millis_behind_latest,
            Some(2500),
            "the snapshot joins the owner's report into its lease"
        );
        assert_eq!(leases[1].millis_behind_latest, None);
        a.report_behind("x", 900);
        a.release("x").await.unwrap();
        table.remove_heartbeat("a").await.unwrap();
        let x = table.list().await.unwrap().remove(0);
        assert_eq!(
            (x.owner, x.millis_behind_latest),
            (None, Some(900)),
            "a released lease keeps its last owner's report"
        );
    }

    #[tokio::test]
    async fn reconcile_drops_held_leases_the_table_gives_to_another_owner_or_lost() {
        let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
        for s in ["x", "y", "z"] {
            table
                .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
                .await
                .unwrap();
        }
        let a = LeaseKeeper::new(table.clone(), "a");
        for s in ["x", "y", "z"] {
            a.take(s, 0).await.unwrap().unwrap();
        }
        a.checkpoint("x", &seq(5)).await.unwrap();
        assert!(
            a.reconcile(&table.list().await.unwrap()).await.is_empty(),
            "all still ours"
        );
        // b takes y; z's item disappears (deleted by hand)
        table.take("y", 1, "b").await.unwrap().unwrap();
        let mut leases = table.list().await.unwrap();
        leases.retain(|l| l.shard_id != "z");
        assert_eq!(
            a.reconcile(&leases).await,
            vec!["y".to_owned(), "z".to_owned()]
        );
        assert_eq!(a.held_shards().await, vec!["x".to_owned()]);
        a.checkpoint("x", &seq(6)).await.unwrap();
        assert!(matches!(
            a.checkpoint("y", &seq(6)).await,
            Err(LeaseError::Lost { .. })
        ));
    }

    #[tokio::test]
    async fn reconfirming_keeps_untouched_leases_moves_their_counters_and_drops_taken_ones() {
        let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
        for s in ["x", "y"] {
            table
                .create_if_missing(&Lease::new(s, vec![], Checkpoint::TrimHorizon))
                .await
                .unwrap();
        }
        let a = LeaseKeeper::new(table.clone(), "a");
        a.take("x", 0).await.unwrap().unwrap();
        a.take("y", 0).await.unwrap().unwrap();
        a.checkpoint("x", &seq(5)).await.unwrap();
        // during a's outage, b judged y expired and took it
        table.take("y", 1, "b").await.unwrap().unwrap();
        // and another taker decided from an older observation of x (counter 2)
        let x_before = table.list().await.unwrap()[0].counter;
        assert_eq!(a.reconfirm().await.unwrap(), vec!["y".to_owned()]);
        assert_eq!(a.held_shards().await, vec!["x".to_owned()]);
        let x = table.list().await.unwrap().remove(0);
        assert_eq!(x.owner.as_deref(), Some("a"));
        assert_eq!(x.checkpoint, seq(5), "the checkpoint is untouched");
        assert!(x.counter > x_before, "the counter moved");
        assert!(
            table.take("x", x_before, "c").await.unwrap().is_none(),
            "a take decided before the re-confirmation fails"
        );
        a.checkpoint("x", &seq(6)).await.unwrap();
        assert!(matches!(
            a.checkpoint("y", &seq(6)).await,
            Err(LeaseError::Lost { .. })
        ));
    }

    #[tokio::test]
    async fn a_released_lease_is_free_for_others_at_once() {
        let table: Arc<dyn LeaseTable> = Arc::new(MemoryLeaseTable::new());
        table
            .create_if_missing(&Lease::new("s", vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
        let a = LeaseKeeper::new(table.clone(), "a");
        a.take("s", 0).await.unwrap().unwrap();
        a.release("s").await.unwrap();
        let lease = table.list().await.unwrap().remove(0);
        assert_eq!(lease.owner, None);
        assert!(table.take("s", lease.counter, "b").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn creating_an_existing_lease_keeps_the_stored_one() {
        let table = MemoryLeaseTable::new();
        assert!(
            table
                .create_if_missing(&Lease::new("s", vec![], Checkpoint::TrimHorizon))
                .await
                .unwrap()
        );
        assert!(
            !table
                .create_if_missing(&Lease::new("s", vec![], Checkpoint::Latest))
                .await
                .unwrap()
        );
        assert_eq!(
            table.list().await.unwrap()[0].checkpoint,
            Checkpoint::TrimHorizon
        );
    }
}
