//! An in-memory lease table with the same conditional semantics, for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use kinesink_sequence_position::SequencePosition;

use crate::lease::{Checkpoint, Lease, TableSnapshot, WorkerHeartbeat};
use crate::table::{AdminChange, LeaseError, LeaseTable};

/// Leases in a map behind a mutex; every operation is atomic.
#[derive(Debug, Default)]
pub struct MemoryLeaseTable {
    leases: Mutex<BTreeMap<String, Lease>>,
    workers: Mutex<BTreeMap<String, WorkerHeartbeat>>,
}

impl MemoryLeaseTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn update<R>(
        &self,
        shard_id: &str,
        f: impl FnOnce(&mut Lease) -> Result<R, LeaseError>,
    ) -> Result<R, LeaseError> {
        let mut map = self.leases.lock().expect("lease map lock");
        let lease = map.get_mut(shard_id).ok_or_else(|| LeaseError::Lost {
            shard_id: shard_id.to_owned(),
        })?;
        f(lease)
    }
}

fn held(lease: &Lease, owner: &str, counter: u64) -> Result<(), LeaseError> {
    if lease.owner.as_deref() == Some(owner) && lease.counter == counter {
        Ok(())
    } else {
        Err(LeaseError::Lost {
            shard_id: lease.shard_id.clone(),
        })
    }
}

/// Whether `owner`'s write at `counter` already moved this lease (its retry after a lost
/// answer finds the next counter, still owned by `owner`; the caller also compares the values).
fn repeated(lease: &Lease, owner: &str, counter: u64) -> bool {
    lease.owner.as_deref() == Some(owner) && lease.counter == counter + 1
}

#[async_trait]
impl LeaseTable for MemoryLeaseTable {
    async fn ensure_exists(&self) -> Result<(), LeaseError> {
        Ok(())
    }

    async fn snapshot(&self) -> Result<TableSnapshot, LeaseError> {
        Ok(TableSnapshot::joined(
            self.leases
                .lock()
                .expect("lease map lock")
                .values()
                .cloned()
                .collect(),
            self.workers
                .lock()
                .expect("worker map lock")
                .values()
                .cloned()
                .collect(),
        ))
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        millis_behind_latest: &BTreeMap<String, i64>,
    ) -> Result<(), LeaseError> {
        let mut workers = self.workers.lock().expect("worker map lock");
        let heartbeat = workers
            .entry(worker_id.to_owned())
            .or_insert_with(|| WorkerHeartbeat {
                worker_id: worker_id.to_owned(),
                counter: 0,
                millis_behind_latest: BTreeMap::new(),
                last_heartbeat_ms: None,
            });
        heartbeat.counter += 1;
        heartbeat.last_heartbeat_ms = crate::dynamodb_table::wall_clock_ms();
        heartbeat
            .millis_behind_latest
            .clone_from(millis_behind_latest);
        Ok(())
    }

    async fn remove_heartbeat(&self, worker_id: &str) -> Result<(), LeaseError> {
        self.workers
            .lock()
            .expect("worker map lock")
            .remove(worker_id);
        Ok(())
    }

    async fn delete_ended(&self, shard_id: &str) -> Result<bool, LeaseError> {
        let mut map = self.leases.lock().expect("lease map lock");
        if map
            .get(shard_id)
            .is_some_and(|l| l.checkpoint == Checkpoint::ShardEnd)
        {
            map.remove(shard_id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn create_if_missing(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let mut map = self.leases.lock().expect("lease map lock");
        if map.contains_key(&lease.shard_id) {
            return Ok(false);
        }
        map.insert(lease.shard_id.clone(), lease.clone());
        Ok(true)
    }

    async fn take(
        &self,
        shard_id: &str,
        expected_counter: u64,
        owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut map = self.leases.lock().expect("lease map lock");
        let Some(lease) = map.get_mut(shard_id) else {
            return Ok(None);
        };
        if lease.counter != expected_counter {
            return Ok(None);
        }
        lease.owner_switches_since_checkpoint += 1;
        lease.owner = Some(owner.to_owned());
        lease.counter += 1;
        Ok(Some(lease.clone()))
    }

    async fn checkpoint(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64, LeaseError> {
        self.update(shard_id, |l| {
            // The same write repeated (a retry after a lost answer) is done, as on DynamoDB.
            if repeated(l, owner, counter)
                && l.checkpoint == *checkpoint
                && l.flush_intent.is_none()
            {
                return Ok(l.counter);
            }
            held(l, owner, counter)?;
            l.counter += 1;
            l.checkpoint = checkpoint.clone();
            l.owner_switches_since_checkpoint = 0;
            l.flush_intent = None;
            Ok(l.counter)
        })
    }

    async fn record_progress(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
    ) -> Result<u64, LeaseError> {
        self.update(shard_id, |l| {
            if repeated(l, owner, counter)
                && l.flush_horizon.as_ref() == Some(horizon)
                && (flush_intent.is_none() || l.flush_intent.as_ref() == flush_intent)
            {
                return Ok(l.counter);
            }
            held(l, owner, counter)?;
            l.counter += 1;
            l.flush_horizon = Some(horizon.clone());
            if let Some(i) = flush_intent {
                l.flush_intent = Some(i.clone());
            }
            Ok(l.counter)
        })
    }

    async fn admin_change(
        &self,
        shard_id: &str,
        expected_counter: u64,
        change: &AdminChange,
    ) -> Result<bool, LeaseError> {
        let mut map = self.leases.lock().expect("lease map lock");
        let Some(l) = map.get_mut(shard_id) else {
            return Ok(false);
        };
        if l.counter != expected_counter {
            return Ok(false);
        }
        l.counter += 1;
        match change {
            AdminChange::Release => l.owner = None,
            AdminChange::Reset(cp) => {
                l.checkpoint = cp.clone();
                l.flush_intent = None;
                l.flush_horizon = None;
            }
        }
        Ok(true)
    }

    async fn release(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        millis_behind_latest: Option<i64>,
    ) -> Result<(), LeaseError> {
        self.update(shard_id, |l| {
            held(l, owner, counter)?;
            l.counter += 1;
            l.owner = None;
            if millis_behind_latest.is_some() {
                l.millis_behind_latest = millis_behind_latest;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_lease_at_shard_end_can_be_deleted() {
        let table = MemoryLeaseTable::new();
        table
            .create_if_missing(&Lease::new("open", vec![], Checkpoint::TrimHorizon))
            .await
            .unwrap();
        table
            .create_if_missing(&Lease::new("ended", vec![], Checkpoint::ShardEnd))
            .await
            .unwrap();
        assert!(
            !table.delete_ended("open").await.unwrap(),
            "a shard not read to its end keeps its lease"
        );
        assert!(table.delete_ended("ended").await.unwrap());
        assert!(!table.delete_ended("missing").await.unwrap());
        let left: Vec<String> = table
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.shard_id)
            .collect();
        assert_eq!(left, vec!["open".to_owned()]);
    }
}
