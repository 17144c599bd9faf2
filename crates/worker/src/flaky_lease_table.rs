//! A lease table for tests: the memory table with failures injected on demand.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;
use kinesink_lease_coordination::{
    AdminChange, Checkpoint, Lease, LeaseError, LeaseTable, MemoryLeaseTable, TableSnapshot,
};
use kinesink_sequence_position::SequencePosition;

/// A memory table whose checkpoint calls fail transiently while `down` is set.
pub(crate) struct FlakyTable {
    pub(crate) inner: MemoryLeaseTable,
    /// Checkpoint writes fail while set.
    pub(crate) down: AtomicBool,
    /// Heartbeats fail while set.
    pub(crate) heartbeat_down: AtomicBool,
    /// Heartbeats are refused for good (as for missing permissions) while set.
    pub(crate) heartbeat_refused: AtomicBool,
    /// Checkpoint writes attempted.
    pub(crate) checkpoint_calls: AtomicU32,
    /// The next take of this shard fails (once).
    pub(crate) failing_take: Mutex<Option<String>>,
    /// The next scan waits this long before reading (a worker paused between its heartbeat and
    /// its scan), then reads the table as it is by then.
    pub(crate) next_scan_pause: Mutex<Option<std::time::Duration>>,
    /// Takes the table refused because the counter had moved: (shard, would-be owner).
    pub(crate) refused_takes: Mutex<Vec<(String, String)>>,
}

impl FlakyTable {
    /// A table that answers everything, checkpoint writes failing while `checkpoints_down`.
    pub(crate) fn new(checkpoints_down: bool) -> Self {
        Self {
            inner: MemoryLeaseTable::new(),
            down: AtomicBool::new(checkpoints_down),
            heartbeat_down: AtomicBool::new(false),
            heartbeat_refused: AtomicBool::new(false),
            checkpoint_calls: AtomicU32::new(0),
            failing_take: Mutex::new(None),
            next_scan_pause: Mutex::new(None),
            refused_takes: Mutex::new(Vec::new()),
        }
    }
}

pub(crate) fn outage() -> LeaseError {
    LeaseError::Unavailable {
        table: "t".into(),
        message: "InternalServerError: injected".into(),
    }
}

#[async_trait]
impl LeaseTable for FlakyTable {
    async fn ensure_exists(&self) -> Result<(), LeaseError> {
        self.inner.ensure_exists().await
    }
    async fn snapshot(&self) -> Result<TableSnapshot, LeaseError> {
        let pause = self.next_scan_pause.lock().expect("scan pause lock").take();
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        self.inner.snapshot().await
    }
    async fn heartbeat(
        &self,
        worker_id: &str,
        behind: &BTreeMap<String, i64>,
    ) -> Result<(), LeaseError> {
        if self.heartbeat_down.load(Ordering::Relaxed) {
            return Err(outage());
        }
        if self.heartbeat_refused.load(Ordering::Relaxed) {
            return Err(LeaseError::Refused {
                table: "t".into(),
                message: "AccessDeniedException: injected".into(),
            });
        }
        self.inner.heartbeat(worker_id, behind).await
    }
    async fn remove_heartbeat(&self, worker_id: &str) -> Result<(), LeaseError> {
        self.inner.remove_heartbeat(worker_id).await
    }
    async fn delete_ended(&self, shard_id: &str) -> Result<bool, LeaseError> {
        self.inner.delete_ended(shard_id).await
    }
    async fn create_if_missing(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.inner.create_if_missing(lease).await
    }
    async fn take(
        &self,
        shard_id: &str,
        expected: u64,
        owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        {
            let mut failing = self.failing_take.lock().expect("failing_take lock");
            if failing.as_deref() == Some(shard_id) {
                *failing = None;
                return Err(outage());
            }
        }
        let taken = self.inner.take(shard_id, expected, owner).await?;
        if taken.is_none() {
            self.refused_takes
                .lock()
                .expect("refused_takes lock")
                .push((shard_id.to_owned(), owner.to_owned()));
        }
        Ok(taken)
    }
    async fn checkpoint(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64, LeaseError> {
        self.checkpoint_calls.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            return Err(outage());
        }
        self.inner
            .checkpoint(shard_id, owner, counter, checkpoint)
            .await
    }
    async fn record_progress(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        horizon: &SequencePosition,
        intent: Option<&SequencePosition>,
    ) -> Result<u64, LeaseError> {
        self.inner
            .record_progress(shard_id, owner, counter, horizon, intent)
            .await
    }
    async fn admin_change(
        &self,
        shard_id: &str,
        expected: u64,
        change: &AdminChange,
    ) -> Result<bool, LeaseError> {
        self.inner.admin_change(shard_id, expected, change).await
    }
    async fn release(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        behind: Option<i64>,
    ) -> Result<(), LeaseError> {
        self.inner.release(shard_id, owner, counter, behind).await
    }
}
