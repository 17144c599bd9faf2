//! The fenced writer of this worker's leases: takes, renewals, checkpoints, releases.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::lease::{Checkpoint, Lease};
use crate::table::{LeaseError, LeaseTable};

/// Holds the counters of the leases this worker owns and performs every write conditional on them.
///
/// Guarantees: a checkpoint is written only with the condition "owner is me and counter is the
/// one I hold"; a failed condition drops the lease from the held set and returns
/// [`LeaseError::Lost`]; writes for leases are serialised so a renewal never invalidates a
/// concurrent checkpoint of this same worker.
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

    /// Notes a shard's latest `MillisBehindLatest`; the next renewal stores it in the lease, so
    /// `kinesink leases list` shows how far behind each owned shard is (no extra writes).
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
            metrics::counter!("kinesink_lease_takes_total").increment(1);
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("kinesink_leases_owned").set(held.len() as f64);
        Ok(taken)
    }

    /// Renews every held lease; returns the shards whose lease was lost.
    ///
    /// A lease the table cannot be reached for stays held (its checkpoints stay fenced).
    pub async fn renew_all(&self) -> Vec<String> {
        let mut held = self.held.lock().await;
        let mut lost = Vec::new();
        let shards: Vec<(String, u64)> = held.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (shard_id, counter) in shards {
            let behind = self
                .behind
                .lock()
                .ok()
                .and_then(|b| b.get(&shard_id).copied());
            match self
                .table
                .renew(&shard_id, &self.owner, counter, behind)
                .await
            {
                Ok(new_counter) => {
                    held.insert(shard_id, new_counter);
                }
                Err(LeaseError::Lost { .. }) => {
                    held.remove(&shard_id);
                    metrics::counter!("kinesink_lease_losses_total").increment(1);
                    lost.push(shard_id);
                }
                Err(e) => {
                    tracing::warn!(shard_id = %shard_id, error = %e, "lease renewal failed; will retry")
                }
            }
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
                metrics::counter!("kinesink_checkpoint_writes_total").increment(1);
                held.insert(shard_id.to_owned(), new_counter);
                Ok(())
            }
            Err(e @ LeaseError::Lost { .. }) => {
                held.remove(shard_id);
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
        horizon: &(String, u64),
        flush_intent: Option<&(String, u64)>,
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
                metrics::counter!("kinesink_flush_progress_writes_total").increment(1);
                held.insert(shard_id.to_owned(), new_counter);
                Ok(())
            }
            Err(e @ LeaseError::Lost { .. }) => {
                held.remove(shard_id);
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
        metrics::gauge!("kinesink_leases_owned").set(held.len() as f64);
        self.table.release(shard_id, &self.owner, counter).await
    }

    /// Forgets a lease without writing (after its loss was detected elsewhere).
    pub async fn forget(&self, shard_id: &str) {
        let mut held = self.held.lock().await;
        held.remove(shard_id);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("kinesink_leases_owned").set(held.len() as f64);
    }

    /// The shards held now.
    pub async fn held_shards(&self) -> Vec<String> {
        self.held.lock().await.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_table::MemoryLeaseTable;

    fn seq(n: u64) -> Checkpoint {
        Checkpoint::Sequence {
            sequence_number: n.to_string(),
            sub_sequence_number: 0,
        }
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

    #[tokio::test]
    async fn renewals_keep_checkpoints_valid_and_report_lost_leases() {
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
        a.report_behind("x", 2500);
        assert!(a.renew_all().await.is_empty());
        let x = table
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.shard_id == "x")
            .unwrap();
        assert_eq!(
            x.millis_behind_latest,
            Some(2500),
            "the renewal stores how far behind the owner reads"
        );
        a.checkpoint("x", &seq(5)).await.unwrap();
        // someone else takes y
        let y_counter = table
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.shard_id == "y")
            .unwrap()
            .counter;
        table.take("y", y_counter, "b").await.unwrap().unwrap();
        assert_eq!(a.renew_all().await, vec!["y".to_owned()]);
        assert_eq!(a.held_shards().await, vec!["x".to_owned()]);
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
