//! The lease table interface.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kinesink_sequence_position::SequencePosition;

use crate::lease::{Checkpoint, Lease, TableSnapshot};
use crate::outage_retry::FailureClass;

/// Errors of lease table operations.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The conditional write failed: the lease is no longer ours at the counter we held.
    #[error("lease of shard {shard_id} is no longer held by this worker")]
    Lost {
        /// The shard.
        shard_id: String,
    },
    /// An item in the table is not a lease we can read.
    #[error("lease item {shard_id} is malformed: {message}")]
    Malformed {
        /// The item's key.
        shard_id: String,
        /// What is wrong.
        message: String,
    },
    /// The table does not exist (dropped, or not created yet): the worker creates it again and
    /// recreates every lease row from the progress kept in the destination.
    #[error("lease table {table} does not exist")]
    TableMissing {
        /// The table name.
        table: String,
    },
    /// The table could not be reached or refused the request for now (network, 5xx,
    /// throttling, a missing table): waiting may help.
    #[error("lease table {table}: {message}")]
    Unavailable {
        /// The table name.
        table: String,
        /// The underlying error.
        message: String,
    },
    /// The service refused the request for a reason waiting does not fix (missing permissions,
    /// bad credentials, an invalid request).
    #[error("lease table {table}: {message}")]
    Refused {
        /// The table name.
        table: String,
        /// The underlying error.
        message: String,
    },
}

impl LeaseError {
    /// Whether waiting may help: [`LeaseError::Unavailable`] is transient, [`LeaseError::Lost`]
    /// means the lease is lost (never retried), the others are permanent.
    #[must_use]
    pub fn class(&self) -> FailureClass {
        match self {
            // A dropped table is recreated by the lease cycle (rows from the destination's
            // progress): a write waits for that like for an outage.
            LeaseError::Unavailable { .. } | LeaseError::TableMissing { .. } => {
                FailureClass::Transient
            }
            LeaseError::Lost { .. } => FailureClass::LeaseLost,
            LeaseError::Malformed { .. } | LeaseError::Refused { .. } => FailureClass::Permanent,
        }
    }
}

/// An operator's change to a lease (the `kinesink leases` commands), conditional on the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    /// Clear the owner: its holder loses the lease at its next write; another worker takes it.
    Release,
    /// Move the checkpoint (and forget any flush intent/horizon); the lease must not be live.
    Reset(Checkpoint),
}

/// Storage of leases with conditional (fenced) writes.
///
/// Guarantees of every implementation: each write is atomic and conditional as documented;
/// a failed condition returns [`LeaseError::Lost`] (or `Ok(None)` for [`LeaseTable::take`])
/// and changes nothing.
#[async_trait]
pub trait LeaseTable: Send + Sync {
    /// Creates the table if it does not exist and waits until it is usable.
    async fn ensure_exists(&self) -> Result<(), LeaseError>;

    /// All leases and worker heartbeats (one strongly consistent scan).
    async fn snapshot(&self) -> Result<TableSnapshot, LeaseError>;

    /// All leases (strongly consistent), by shard id.
    async fn list(&self) -> Result<Vec<Lease>, LeaseError> {
        Ok(self.snapshot().await?.leases)
    }

    /// Increments (creating if missing) this worker's heartbeat, which keeps every lease it
    /// owns live, and stores the `MillisBehindLatest` of each shard it reads.
    async fn heartbeat(
        &self,
        worker_id: &str,
        millis_behind_latest: &BTreeMap<String, i64>,
    ) -> Result<(), LeaseError>;

    /// Deletes a worker's heartbeat (graceful shutdown, or pruning a long-dead worker).
    async fn remove_heartbeat(&self, worker_id: &str) -> Result<(), LeaseError>;

    /// Deletes the lease of a shard read to its end (`checkpoint = SHARD_END`, condition of the
    /// delete): used when the shard has left the stream after its retention period. Returns
    /// whether it was deleted; a lease not at `SHARD_END` is never deleted.
    async fn delete_ended(&self, shard_id: &str) -> Result<bool, LeaseError>;

    /// Adds `lease` unless an item for its shard exists; returns whether it was added.
    async fn create_if_missing(&self, lease: &Lease) -> Result<bool, LeaseError>;

    /// Takes the lease for `owner` if its counter is still `expected_counter`; increments the counter.
    async fn take(
        &self,
        shard_id: &str,
        expected_counter: u64,
        owner: &str,
    ) -> Result<Option<Lease>, LeaseError>;

    /// Stores a checkpoint (clearing the flush intent) if `owner` still holds the lease at
    /// `counter`; returns the new counter.
    async fn checkpoint(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64, LeaseError>;

    /// Stores flush progress (the horizon, and a shard-wide flush intent if any) if `owner` still
    /// holds the lease at `counter`; returns the new counter.
    async fn record_progress(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
    ) -> Result<u64, LeaseError>;

    /// Applies an operator's change if the lease's counter is still `expected_counter`; returns
    /// whether it was applied.
    async fn admin_change(
        &self,
        shard_id: &str,
        expected_counter: u64,
        change: &AdminChange,
    ) -> Result<bool, LeaseError>;

    /// Clears the owner if `owner` still holds the lease at `counter`, so another worker can take
    /// it at once; stores the owner's last `MillisBehindLatest` in the lease when given (shown for
    /// a free lease, whose owner's heartbeat is gone).
    async fn release(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        millis_behind_latest: Option<i64>,
    ) -> Result<(), LeaseError>;
}
