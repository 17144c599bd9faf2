//! The lease-table conformance suite: what every [`LeaseTable`] must do, written once and run
//! against each implementation (the in-memory table by this crate's unit tests, the DynamoDB
//! table on the local stand-in by `integration-tests/tests/lease_table_conformance.rs`), so the
//! fences the exactly-once protocol relies on are proven on a real conditional-write store and
//! the in-memory table the property tests drive is proven to behave the same.
//!
//! Each check takes a table that may hold other leases and uses only shard ids starting with
//! `prefix`; it panics, naming what differed, when the table does not conform. Worker ids are
//! prefixed too, so checks can share a table.

use std::collections::BTreeMap;

use kinesink_sequence_position::SequencePosition;

use crate::lease::{Checkpoint, Lease};
use crate::table::{AdminChange, LeaseError, LeaseTable};

/// Every check, by name, for a runner that wants them all (`lease_table_conformance_tests!`
/// makes one test per check instead).
pub const CHECKS: [&str; 10] = [
    "create_if_missing_adds_once_and_never_overwrites",
    "take_is_conditional_on_the_counter",
    "heartbeats_keep_leases_without_moving_their_counter",
    "checkpoints_are_fenced_on_owner_and_counter",
    "flush_progress_writes_are_fenced_on_owner_and_counter",
    "a_steal_fences_out_every_write_of_the_previous_owner",
    "release_is_fenced_and_frees_the_lease_for_the_next_take",
    "operator_changes_are_conditional_on_the_counter",
    "a_deleted_and_recreated_lease_fences_out_its_old_owner",
    "a_repeated_write_whose_answer_was_lost_is_done_and_nothing_else_is",
];

/// Runs the check named `name` (one of [`CHECKS`]).
///
/// # Panics
/// When the table does not conform, or `name` is not a check.
pub async fn run_check(name: &str, table: &dyn LeaseTable, prefix: &str) {
    match name {
        "create_if_missing_adds_once_and_never_overwrites" => {
            create_if_missing_adds_once_and_never_overwrites(table, prefix).await;
        }
        "take_is_conditional_on_the_counter" => {
            take_is_conditional_on_the_counter(table, prefix).await;
        }
        "heartbeats_keep_leases_without_moving_their_counter" => {
            heartbeats_keep_leases_without_moving_their_counter(table, prefix).await;
        }
        "checkpoints_are_fenced_on_owner_and_counter" => {
            checkpoints_are_fenced_on_owner_and_counter(table, prefix).await;
        }
        "flush_progress_writes_are_fenced_on_owner_and_counter" => {
            flush_progress_writes_are_fenced_on_owner_and_counter(table, prefix).await;
        }
        "a_steal_fences_out_every_write_of_the_previous_owner" => {
            a_steal_fences_out_every_write_of_the_previous_owner(table, prefix).await;
        }
        "release_is_fenced_and_frees_the_lease_for_the_next_take" => {
            release_is_fenced_and_frees_the_lease_for_the_next_take(table, prefix).await;
        }
        "operator_changes_are_conditional_on_the_counter" => {
            operator_changes_are_conditional_on_the_counter(table, prefix).await;
        }
        "a_deleted_and_recreated_lease_fences_out_its_old_owner" => {
            a_deleted_and_recreated_lease_fences_out_its_old_owner(table, prefix).await;
        }
        "a_repeated_write_whose_answer_was_lost_is_done_and_nothing_else_is" => {
            a_repeated_write_whose_answer_was_lost_is_done_and_nothing_else_is(table, prefix).await;
        }
        other => panic!("no lease table check named {other}"),
    }
}

/// Makes one `#[tokio::test]` per check of the suite; `$table` is an async expression giving
/// a fresh table (anything that derefs to a `LeaseTable`).
#[macro_export]
macro_rules! lease_table_conformance_tests {
    ($table:expr) => {
        $crate::lease_table_conformance_tests!(@each $table;
            create_if_missing_adds_once_and_never_overwrites,
            take_is_conditional_on_the_counter,
            heartbeats_keep_leases_without_moving_their_counter,
            checkpoints_are_fenced_on_owner_and_counter,
            flush_progress_writes_are_fenced_on_owner_and_counter,
            a_steal_fences_out_every_write_of_the_previous_owner,
            release_is_fenced_and_frees_the_lease_for_the_next_take,
            operator_changes_are_conditional_on_the_counter,
            a_deleted_and_recreated_lease_fences_out_its_old_owner,
            a_repeated_write_whose_answer_was_lost_is_done_and_nothing_else_is
        );
    };
    (@each $table:expr; $($check:ident),+) => {
        $(
            #[tokio::test]
            async fn $check() {
                let table = $table.await;
                $crate::table_conformance::run_check(stringify!($check), &*table, stringify!($check)).await;
            }
        )+
    };
}

fn sequence(number: &str, sub: u64) -> Checkpoint {
    Checkpoint::Sequence(SequencePosition::new(number, sub))
}

async fn lease(table: &dyn LeaseTable, shard_id: &str) -> Option<Lease> {
    table
        .list()
        .await
        .expect("the table lists its leases")
        .into_iter()
        .find(|l| l.shard_id == shard_id)
}

async fn existing(table: &dyn LeaseTable, shard_id: &str) -> Lease {
    lease(table, shard_id)
        .await
        .unwrap_or_else(|| panic!("lease {shard_id} exists"))
}

fn lost<T: std::fmt::Debug>(result: Result<T, LeaseError>, what: &str) {
    assert!(
        matches!(result, Err(LeaseError::Lost { .. })),
        "{what}: expected the write to be refused as Lost, got {result:?}"
    );
}

/// A new, free lease at `initial`, taken by `owner`: returns the counter it holds.
async fn taken(table: &dyn LeaseTable, shard_id: &str, owner: &str) -> u64 {
    assert!(
        table
            .create_if_missing(&Lease::new(shard_id, vec![], Checkpoint::TrimHorizon))
            .await
            .expect("create")
    );
    table
        .take(shard_id, 0, owner)
        .await
        .expect("take")
        .expect("a new lease can be taken at counter 0")
        .counter
}

/// `create_if_missing` adds a lease as given, once; a second create changes nothing.
pub async fn create_if_missing_adds_once_and_never_overwrites(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let original = Lease::new(&shard, vec![format!("{prefix}-parent")], Checkpoint::Latest);
    assert!(table.create_if_missing(&original).await.unwrap(), "added");
    let mut other = Lease::new(&shard, vec![], sequence("7", 0));
    other.owner = Some(format!("{prefix}-w"));
    assert!(
        !table.create_if_missing(&other).await.unwrap(),
        "an existing lease is not created again"
    );
    assert_eq!(existing(table, &shard).await, original);
}

/// A take succeeds at the current counter only, moves the counter and counts the switch.
pub async fn take_is_conditional_on_the_counter(table: &dyn LeaseTable, prefix: &str) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    table
        .create_if_missing(&Lease::new(&shard, vec![], Checkpoint::TrimHorizon))
        .await
        .unwrap();
    let took = table.take(&shard, 0, &a).await.unwrap().expect("taken");
    assert_eq!(
        (
            took.owner.as_deref(),
            took.counter,
            took.owner_switches_since_checkpoint
        ),
        (Some(a.as_str()), 1, 1)
    );
    assert_eq!(
        existing(table, &shard).await,
        took,
        "what take returns is stored"
    );
    assert_eq!(
        table.take(&shard, 0, &b).await.unwrap(),
        None,
        "a take at a stale counter is refused"
    );
    assert_eq!(existing(table, &shard).await, took, "and changes nothing");
    let missing = format!("{prefix}-missing");
    assert_eq!(table.take(&missing, 0, &a).await.unwrap(), None);
    assert_eq!(
        lease(table, &missing).await,
        None,
        "a take creates no lease"
    );
}

/// Heartbeats count per worker, carry `MillisBehindLatest` into the owner's leases, never move
/// a lease's counter, and are removed on request.
pub async fn heartbeats_keep_leases_without_moving_their_counter(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let a = format!("{prefix}-a");
    let counter = taken(table, &shard, &a).await;
    let behind = BTreeMap::from([(shard.clone(), 42)]);
    table.heartbeat(&a, &behind).await.unwrap();
    table.heartbeat(&a, &behind).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let heartbeat = snapshot
        .workers
        .iter()
        .find(|w| w.worker_id == a)
        .expect("the worker's heartbeat is listed");
    assert_eq!(heartbeat.counter, 2);
    assert_eq!(heartbeat.millis_behind_latest, behind);
    let lease = snapshot
        .leases
        .iter()
        .find(|l| l.shard_id == shard)
        .unwrap();
    assert_eq!(
        lease.counter, counter,
        "a heartbeat does not move the lease counter"
    );
    assert_eq!(lease.millis_behind_latest, Some(42));
    table.remove_heartbeat(&a).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert!(
        !snapshot.workers.iter().any(|w| w.worker_id == a),
        "removed"
    );
}

/// A checkpoint is stored only by the owner at the counter it holds; it moves the counter,
/// clears the flush intent and the owner-switch count, and keeps the horizon.
pub async fn checkpoints_are_fenced_on_owner_and_counter(table: &dyn LeaseTable, prefix: &str) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let counter = taken(table, &shard, &a).await;
    let cp = sequence("100", 3);
    let before = existing(table, &shard).await;
    lost(
        table.checkpoint(&shard, &b, counter, &cp).await,
        "another owner",
    );
    lost(
        table.checkpoint(&shard, &a, counter - 1, &cp).await,
        "an older counter",
    );
    lost(
        table.checkpoint(&shard, &a, counter + 1, &cp).await,
        "a newer counter",
    );
    lost(
        table
            .checkpoint(&format!("{prefix}-missing"), &a, counter, &cp)
            .await,
        "a missing lease",
    );
    assert_eq!(
        lease(table, &format!("{prefix}-missing")).await,
        None,
        "a refused write creates no lease"
    );
    assert_eq!(
        existing(table, &shard).await,
        before,
        "refused writes change nothing"
    );
    let intent = SequencePosition::new("90", 1);
    let counter = table
        .record_progress(
            &shard,
            &a,
            counter,
            &SequencePosition::new("95", 2),
            Some(&intent),
        )
        .await
        .unwrap();
    let counter_after = table.checkpoint(&shard, &a, counter, &cp).await.unwrap();
    assert_eq!(counter_after, counter + 1);
    let stored = existing(table, &shard).await;
    assert_eq!(stored.counter, counter_after);
    assert_eq!(stored.checkpoint, cp);
    assert_eq!(stored.owner.as_deref(), Some(a.as_str()));
    assert_eq!(stored.flush_intent, None, "a checkpoint clears the intent");
    assert_eq!(stored.flush_horizon, Some(SequencePosition::new("95", 2)));
    assert_eq!(stored.owner_switches_since_checkpoint, 0);
    lost(
        table
            .checkpoint(&shard, &a, counter, &sequence("200", 0))
            .await,
        "the counter the last write used",
    );
    assert_eq!(existing(table, &shard).await.checkpoint, cp);
}

/// Flush progress (horizon, and an intent when given) is stored only by the owner at its
/// counter; a write without an intent keeps the stored one.
pub async fn flush_progress_writes_are_fenced_on_owner_and_counter(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let counter = taken(table, &shard, &a).await;
    let horizon = SequencePosition::new("50", 0);
    let intent = SequencePosition::new("40", 7);
    let before = existing(table, &shard).await;
    lost(
        table
            .record_progress(&shard, &b, counter, &horizon, Some(&intent))
            .await,
        "another owner",
    );
    lost(
        table
            .record_progress(&shard, &a, counter - 1, &horizon, Some(&intent))
            .await,
        "an older counter",
    );
    assert_eq!(
        existing(table, &shard).await,
        before,
        "refused writes change nothing"
    );
    let counter = table
        .record_progress(&shard, &a, counter, &horizon, Some(&intent))
        .await
        .unwrap();
    let stored = existing(table, &shard).await;
    assert_eq!(stored.counter, counter);
    assert_eq!(stored.flush_horizon, Some(horizon));
    assert_eq!(stored.flush_intent, Some(intent.clone()));
    assert_eq!(
        stored.checkpoint,
        Checkpoint::TrimHorizon,
        "the checkpoint stays"
    );
    let later = SequencePosition::new("60", 1);
    let counter = table
        .record_progress(&shard, &a, counter, &later, None)
        .await
        .unwrap();
    let stored = existing(table, &shard).await;
    assert_eq!(stored.counter, counter);
    assert_eq!(stored.flush_horizon, Some(later));
    assert_eq!(stored.flush_intent, Some(intent), "no intent given: kept");
}

/// After another worker takes the lease at its current counter, every write of the previous
/// owner (checkpoint, flush progress, release) is refused and changes nothing.
pub async fn a_steal_fences_out_every_write_of_the_previous_owner(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let held_by_a = taken(table, &shard, &a).await;
    let stolen = table
        .take(&shard, held_by_a, &b)
        .await
        .unwrap()
        .expect("a steal at the current counter succeeds");
    assert_eq!(stolen.owner.as_deref(), Some(b.as_str()));
    assert_eq!(stolen.owner_switches_since_checkpoint, 2);
    lost(
        table
            .checkpoint(&shard, &a, held_by_a, &sequence("1", 0))
            .await,
        "the zombie's checkpoint",
    );
    lost(
        table
            .record_progress(&shard, &a, held_by_a, &SequencePosition::new("1", 0), None)
            .await,
        "the zombie's flush progress",
    );
    lost(
        table.release(&shard, &a, held_by_a, Some(5)).await,
        "the zombie's release",
    );
    // Even at the new counter, the old owner is not the owner.
    lost(
        table
            .checkpoint(&shard, &a, stolen.counter, &sequence("1", 0))
            .await,
        "the zombie at the thief's counter",
    );
    assert_eq!(existing(table, &shard).await, stolen, "nothing changed");
    let counter = table
        .checkpoint(&shard, &b, stolen.counter, &sequence("2", 0))
        .await
        .expect("the new owner writes");
    assert_eq!(counter, stolen.counter + 1);
}

/// A release is fenced like a checkpoint, clears the owner, stores the last
/// `MillisBehindLatest` when given, and the lease can then be taken at its new counter.
pub async fn release_is_fenced_and_frees_the_lease_for_the_next_take(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let counter = taken(table, &shard, &a).await;
    lost(
        table.release(&shard, &b, counter, None).await,
        "another owner",
    );
    lost(
        table.release(&shard, &a, counter + 1, None).await,
        "another counter",
    );
    assert_eq!(
        existing(table, &shard).await.owner.as_deref(),
        Some(a.as_str())
    );
    table
        .release(&shard, &a, counter, Some(1234))
        .await
        .unwrap();
    let free = existing(table, &shard).await;
    assert_eq!(free.owner, None);
    assert_eq!(free.counter, counter + 1);
    assert_eq!(free.millis_behind_latest, Some(1234));
    lost(
        table
            .checkpoint(&shard, &a, counter + 1, &sequence("1", 0))
            .await,
        "a write after the release",
    );
    table.release(&shard, &a, counter, None).await.unwrap_err();
    let took = table
        .take(&shard, counter + 1, &b)
        .await
        .unwrap()
        .expect("a free lease is taken at its counter");
    assert_eq!(took.owner.as_deref(), Some(b.as_str()));
    assert_eq!(took.millis_behind_latest, Some(1234), "kept by the take");
}

/// `admin_change` applies at the expected counter only: a release clears the owner (whose
/// writes are then refused), a reset moves the checkpoint and forgets intent and horizon.
pub async fn operator_changes_are_conditional_on_the_counter(table: &dyn LeaseTable, prefix: &str) {
    let shard = format!("{prefix}-shard");
    let a = format!("{prefix}-a");
    let counter = taken(table, &shard, &a).await;
    let counter = table
        .record_progress(
            &shard,
            &a,
            counter,
            &SequencePosition::new("9", 0),
            Some(&SequencePosition::new("8", 0)),
        )
        .await
        .unwrap();
    assert!(
        !table
            .admin_change(&shard, counter - 1, &AdminChange::Release)
            .await
            .unwrap(),
        "a stale counter is refused"
    );
    assert_eq!(
        existing(table, &shard).await.owner.as_deref(),
        Some(a.as_str())
    );
    assert!(
        table
            .admin_change(&shard, counter, &AdminChange::Release)
            .await
            .unwrap()
    );
    let released = existing(table, &shard).await;
    assert_eq!((released.owner, released.counter), (None, counter + 1));
    lost(
        table
            .checkpoint(&shard, &a, counter, &sequence("1", 0))
            .await,
        "the released owner",
    );
    let reset_to = sequence("3", 1);
    assert!(
        !table
            .admin_change(&shard, counter, &AdminChange::Reset(reset_to.clone()))
            .await
            .unwrap(),
        "a stale counter is refused"
    );
    assert!(
        table
            .admin_change(&shard, counter + 1, &AdminChange::Reset(reset_to.clone()))
            .await
            .unwrap()
    );
    let reset = existing(table, &shard).await;
    assert_eq!(reset.checkpoint, reset_to);
    assert_eq!((reset.flush_intent, reset.flush_horizon), (None, None));
    assert_eq!(reset.counter, counter + 2);
    assert!(
        !table
            .admin_change(&format!("{prefix}-missing"), 0, &AdminChange::Release)
            .await
            .unwrap(),
        "a missing lease is not changed"
    );
    assert_eq!(lease(table, &format!("{prefix}-missing")).await, None);
}

/// Only a lease at `SHARD_END` is deleted; a lease recreated under the same shard id starts
/// free at counter 0, and the owner of the deleted lease cannot write to it, even at the
/// counter it held, until it takes it again.
pub async fn a_deleted_and_recreated_lease_fences_out_its_old_owner(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let counter = taken(table, &shard, &a).await;
    assert!(
        !table.delete_ended(&shard).await.unwrap(),
        "a lease not at SHARD_END is kept"
    );
    assert!(lease(table, &shard).await.is_some());
    let ended = table
        .checkpoint(&shard, &a, counter, &Checkpoint::ShardEnd)
        .await
        .unwrap();
    assert!(
        table.delete_ended(&shard).await.unwrap(),
        "deleted at SHARD_END"
    );
    assert_eq!(lease(table, &shard).await, None);
    assert!(!table.delete_ended(&shard).await.unwrap(), "already gone");
    lost(
        table.checkpoint(&shard, &a, ended, &sequence("1", 0)).await,
        "a write to a deleted lease",
    );
    assert_eq!(
        lease(table, &shard).await,
        None,
        "a refused write creates no lease"
    );
    let fresh = Lease::new(&shard, vec![], Checkpoint::TrimHorizon);
    assert!(table.create_if_missing(&fresh).await.unwrap(), "recreated");
    assert_eq!(existing(table, &shard).await, fresh);
    for held in [0, counter, ended] {
        lost(
            table.checkpoint(&shard, &a, held, &sequence("1", 0)).await,
            "the old owner on the recreated lease",
        );
        lost(
            table
                .record_progress(&shard, &a, held, &SequencePosition::new("1", 0), None)
                .await,
            "the old owner's progress on the recreated lease",
        );
    }
    let took = table
        .take(&shard, 0, &b)
        .await
        .unwrap()
        .expect("taken anew");
    assert_eq!((took.owner.as_deref(), took.counter), (Some(b.as_str()), 1));
    lost(
        table.checkpoint(&shard, &a, 1, &sequence("1", 0)).await,
        "the old owner at the new owner's counter",
    );
}

/// A fenced write repeated at the counter it was made at — the SDK's retry of a write that
/// landed but whose answer was lost (a 5xx, a timeout, a dropped connection) — is done, not a
/// lost lease: it returns the counter the first attempt left and changes nothing. Other values
/// at that counter, another owner, a repeat two writes back, or a repeat after another owner
/// took the lease are still refused.
pub async fn a_repeated_write_whose_answer_was_lost_is_done_and_nothing_else_is(
    table: &dyn LeaseTable,
    prefix: &str,
) {
    let shard = format!("{prefix}-shard");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let counter = taken(table, &shard, &a).await;
    let (horizon, intent) = (
        SequencePosition::new("70", 1),
        SequencePosition::new("70", 1),
    );
    let after_progress = table
        .record_progress(&shard, &a, counter, &horizon, Some(&intent))
        .await
        .unwrap();
    let row = existing(table, &shard).await;
    assert_eq!(
        table
            .record_progress(&shard, &a, counter, &horizon, Some(&intent))
            .await
            .unwrap(),
        after_progress,
        "the repeated flush-progress write is done at the counter the first one left"
    );
    assert_eq!(
        existing(table, &shard).await,
        row,
        "the repeat changes nothing"
    );
    lost(
        table
            .record_progress(&shard, &a, counter, &SequencePosition::new("71", 0), None)
            .await,
        "other values at the counter the last write used",
    );
    lost(
        table
            .record_progress(&shard, &b, counter, &horizon, Some(&intent))
            .await,
        "the same values from another owner",
    );
    let cp = sequence("70", 1);
    let after_checkpoint = table
        .checkpoint(&shard, &a, after_progress, &cp)
        .await
        .unwrap();
    let row = existing(table, &shard).await;
    assert_eq!(
        table
            .checkpoint(&shard, &a, after_progress, &cp)
            .await
            .unwrap(),
        after_checkpoint,
        "the repeated checkpoint is done at the counter the first one left"
    );
    assert_eq!(
        existing(table, &shard).await,
        row,
        "the repeat changes nothing"
    );
    lost(
        table.checkpoint(&shard, &a, counter, &cp).await,
        "a repeat of a write two writes back",
    );
    table
        .take(&shard, after_checkpoint, &b)
        .await
        .unwrap()
        .expect("b takes the lease");
    lost(
        table.checkpoint(&shard, &a, after_progress, &cp).await,
        "a repeat after another owner took the lease",
    );
}

#[cfg(test)]
mod memory_table_conforms {
    async fn fresh() -> Box<crate::MemoryLeaseTable> {
        Box::new(crate::MemoryLeaseTable::new())
    }

    crate::lease_table_conformance_tests!(fresh());

    #[tokio::test]
    async fn every_check_runs_on_one_shared_table_too() {
        let table = crate::MemoryLeaseTable::new();
        for name in super::CHECKS {
            super::run_check(name, &table, name).await;
        }
    }
}
