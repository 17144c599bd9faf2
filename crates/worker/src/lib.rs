//! The running worker: what turns the library crates into a process that keeps leases and
//! delivers every held shard.
//!
//! Owns: the async shell of the lease cycle ([`worker::Worker`]: heartbeat, lease-table
//! scans, takes and steals, releases, graceful stop, until-caught-up), one task per held shard
//! ([`shard_task`]: a read-ahead [`kinesink_shard_reader::ShardReader`] feeding the delivery
//! crate's buffers, whose actions [`shard_writer`] performs: objects, the shard's progress
//! object, fenced lease writes), the ownership gate and lease-table outage handling
//! ([`lease_outage`]), the per-shard progress object in the destination
//! ([`destination_progress`]), shard sync ([`shard_sync`]), the worker-wide memory budget and
//! the stall watch, and, with an Iceberg destination, the worker's commit task for its table
//! ([`table_commits`]: the shard's lease checkpoint follows the table's commit).
//!
//! Must never: decide a lease rule, a record's fate or an object's name itself (those are the
//! pure state machines of lease-coordination and delivery; this crate performs their
//! actions), write as a lease owner without the owner-and-counter fence, read configuration
//! files or talk to AWS directly (the binary wires the real adapters in; every test here runs
//! on the in-memory ones), or exit the process.

pub mod delivery_stats;
pub mod destination_progress;
#[cfg(test)]
mod flaky_lease_table;
mod lambda_metrics;
pub mod lease_outage;
mod shard_sync;
pub mod shard_task;
pub mod shard_writer;
pub mod shared_memory_budget;
pub mod stall_watch;
pub mod table_commits;
#[cfg(test)]
mod test_fixtures;
pub mod worker;

pub use worker::{RunFailure, RunOptions, RunSummary, Worker, WorkerSettings};
