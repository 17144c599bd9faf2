//! Lease coordination: which worker reads which shard, and where each shard was checkpointed.
//!
//! Owns: the lease model ([`Lease`], [`Checkpoint`]), the [`LeaseTable`] interface with a
//! DynamoDB and an in-memory implementation, the lease cycle's decisions as a pure step
//! ([`LeaseCycle`]: takes and steals through the [`LeaseTaker`], readiness, the outage verdict,
//! until-caught-up), shard sync's decisions ([`ShardSyncPlan`], pure), and the fenced writer of
//! takes, checkpoints and releases ([`LeaseKeeper`]).
//!
//! Must never: move a checkpoint or write a lease without the condition "owner is me and the
//! counter is the one I hold" (fencing); read the wall clock inside the planner or the cycle
//! (callers pass `now`); know what a record is (positions are [`SequencePosition`](kinesink_sequence_position::SequencePosition)s, nothing
//! more).
//!
//! ## Lease table schema (DynamoDB, one item per shard, KCL attribute names)
//! | attribute | type | meaning |
//! |---|---|---|
//! | `leaseKey` (hash key) | S | the shard id |
//! | `leaseOwner` | S | worker id of the holder; absent when free |
//! | `leaseCounter` | N | incremented by every take, checkpoint, flush-progress write and release (leases are not renewed one by one: see below) |
//! | `checkpoint` | S | a sequence number, or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`, `SHARD_END` |
//! | `checkpointSubSequenceNumber` | N | sub-sequence within a KPL aggregate; with `AT_TIMESTAMP`, the time set by `leases reset --timestamp` (ms since the epoch; 0: the configured timestamp) |
//! | `ownerSwitchesSinceCheckpoint` | N | takes since the checkpoint last moved |
//! | `parentShardIds` | SS | parents of the shard (absent when none) |
//! | `flushIntent`, `flushIntentSubSequenceNumber` | S, N | a shard-wide flush recorded before its objects are cut (kinesink's exactly-once protocol, see the delivery crate) |
//! | `flushHorizon`, `flushHorizonSubSequenceNumber` | S, N | the last record of any object that may have been written |
//! | `millisBehindLatest` | N | the last owner's `MillisBehindLatest`, stored when it released the lease; an owned lease shows its owner's heartbeat report instead (below) |
//!
//! Leases are created by shard sync for every listed shard without one, and deleted once their
//! shard is at `SHARD_END` and no longer listed by the stream (past its retention period).
//!
//! The lease table is a cache; the destination holds the truth. Each shard's progress
//! ([`ShardProgress`]: checkpoint, flush intent, horizon) is also kept in a progress object in
//! the destination, written before every fenced lease write and claimed (compare-and-swap) by
//! each new owner, who resumes from whichever of object and row is further
//! ([`ShardProgress::resume_from`]). A row deleted by hand is recreated from that object (never
//! at the initial position, logged at WARN); a dropped table is reported as
//! [`LeaseError::TableMissing`], created again by the worker, and its rows recreated the same
//! way. `leases reset` resets the object too.
//!
//! Worker heartbeats live in the same table: `leaseKey` = `!worker:<worker id>` (shard ids never
//! start with `!`), `heartbeatCounter` (N) incremented every lease cycle (failover time / 3),
//! `workerId` (S), `millisBehindLatest` (M: shard id → N, shown by `kinesink leases list`),
//! `lastHeartbeatMillis` (N: the worker's wall clock at its last heartbeat, shown as an age by
//! `kinesink workers`; never used to judge liveness). A
//! worker deletes its own heartbeat when it shuts down gracefully.
//!
//! Leases are heartbeat-backed: the heartbeat keeps every lease its worker owns live, so a
//! worker writes once per cycle instead of once per lease per cycle as KCL does (at 8 shards per
//! worker, ~9x fewer writes; see `bench/RESULTS.md`). A lease expires when neither it nor its
//! owner's heartbeat moved for the failover time ([`LeaseTaker`]). Fencing does not depend on
//! expiry: a take moves `leaseCounter`, so a paused owner's later writes all fail. Every worker
//! of an application must run a version with heartbeat-backed leases (an older worker would see
//! the unrenewed leases as expired).
//!
//! The table is created on demand with on-demand (PAY_PER_REQUEST) billing.
//!
//! ## Outages of the table
//! Lease-table calls that fail transiently are retried with exponential backoff and jitter for
//! up to a retry duration ([`OutageRetry`]); a failed condition ([`LeaseError::Lost`]) is never
//! retried. Meanwhile an owner cannot renew its leases, so [`OwnershipClock`] judges when other
//! workers may have taken them: once this worker's heartbeat could not be written for the
//! failover time, it must not write as owner until [`LeaseKeeper::reconfirm`] has moved each
//! held lease's counter with a write conditional on the counter it holds (a lease refused there
//! was taken and is dropped).

mod dynamodb_table;
mod keeper;
mod lease;
mod lease_cycle;
mod memory_table;
mod outage_retry;
mod ownership_clock;
mod progress;
mod shard_sync_plan;
mod table;
#[cfg(any(test, feature = "conformance"))]
pub mod table_conformance;
mod taker;
mod worker_rows;

pub use dynamodb_table::DynamoDbLeaseTable;
pub use keeper::LeaseKeeper;
pub use lease::{Checkpoint, EndedShards, Lease, LeaseState, TableSnapshot, WorkerHeartbeat};
pub use lease_cycle::{
    CycleSeen, CycleStep, CycleStop, DEAD_WORKER_FAILOVER_TIMES, Finish, LeaseCycle,
};
pub use memory_table::MemoryLeaseTable;
pub use outage_retry::{FailureClass, OutageRetry, RetryVerdict};
pub use ownership_clock::{Ownership, OwnershipClock, OwnershipEvent};
pub use progress::{ProgressDecodeError, ShardProgress};
pub use shard_sync_plan::{ListedShard, ShardSyncPlan};
pub use table::{AdminChange, LeaseError, LeaseTable};
pub use taker::{LeaseAction, LeaseTaker};
pub use worker_rows::{HIDDEN_AFTER_FAILOVER_TIMES, WorkerRow};
