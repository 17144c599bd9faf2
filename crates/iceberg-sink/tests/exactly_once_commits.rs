//! The exactly-once property of the commit protocol: several workers, each running a
//! `CommitProtocol` for one table, commit the deterministic files of their shards into an
//! in-memory catalog through restarts, lease steals, zombies (owners that lost a shard and do
//! not know yet, paused for any number of steps), commit conflicts and lost commit responses,
//! in arbitrary interleavings.
//!
//! The catalog models iceberg-rust's `Transaction::commit` through kinesink's fenced catalog:
//! a commit is a fenced load (the table's committed positions, read with
//! `committed_positions` from the snapshot summaries newest-first, must equal the commit's
//! `expect`, else it is fenced) followed by a compare-and-swap of the current snapshot (lost
//! when another commit landed in between: then either the commit is retried from the load, as
//! `do_commit` does, or the conflict is reported). The shards' records are cut into files by
//! fixed segment boundaries (as the flush protocol's deterministic cuts guarantee: the same
//! records always give the same files, named by their first record); each owner run chooses
//! its own flush points among those boundaries. The lease table fences lease checkpoints by
//! owner and counter, as DynamoDB's conditional writes do. The model lives in `commit_model/`.
//!
//! Asserted at every commit that applies: no file key is added twice; no file at or below its
//! shard's committed position is added; a commit built on stale expectations adds nothing;
//! positions only move forward (so the newest summary value of a shard is also its largest);
//! the files committed for a shard hold each of its table
//! records up to its position exactly once. At every acknowledgement: it answers the oldest
//! unanswered flush point of its shard (each once, in order), the table holds the shard at or
//! past it, and the lease checkpoint it writes never goes back. At every dropped file: the
//! table holds that very file. No shard is ever stopped (the cut points never change here). At
//! the end, after the workers drain: every shard is committed at its last record.

mod commit_model;

use commit_model::{Faults, NO_FAULTS, Seen, ShardData, TICK_MS, Worker, World};
use kinesink_iceberg_sink::commit_protocol::CommitEvent;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

/// One step of the schedule.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A worker moves: `what` says how (produce a flush point, tick, perform an action,
    /// advance its commit); `arg` picks a shard and the flush point's length; `faults` apply
    /// to a commit stage.
    Move {
        worker: usize,
        what: u8,
        arg: u8,
        faults: Faults,
    },
    /// `to` steals `shard` (the owner is not told: a zombie until it notices).
    Steal { shard: usize, to: usize },
    /// A worker crashes and restarts.
    Restart { worker: usize, swap_first: bool },
    /// A worker's lease cycle notices its lost leases.
    LeaseCycle { worker: usize },
}

#[derive(Debug)]
struct Case {
    shards: Vec<ShardData>,
    workers: usize,
    interval_ms: u64,
    schedule: Vec<Op>,
}

/// Runs a case: the schedule, then every worker draining without faults.
fn run_case(case: &Case) -> Result<Seen, TestCaseError> {
    let mut world = World::new(&case.shards);
    let mut workers: Vec<Worker> = (0..case.workers)
        .map(|w| Worker::new(w, case.interval_ms))
        .collect();
    for (i, shard) in case.shards.iter().enumerate() {
        let owner = i % case.workers;
        world.add_lease(&shard.id, owner);
        workers[owner].take(&mut world, &shard.id);
    }
    for op in &case.schedule {
        match *op {
            Op::Move {
                worker,
                what,
                arg,
                faults,
            } => {
                let w = &mut workers[worker % case.workers];
                match what % 4 {
                    0 => {
                        w.produce(&world, usize::from(arg / 4), usize::from(arg % 3) + 1);
                    }
                    1 => w.tick(),
                    2 => {
                        w.perform(&mut world)?;
                    }
                    _ => {
                        w.advance_rpc(&mut world, faults)?;
                    }
                }
            }
            Op::Steal { shard, to } => {
                let shard = &case.shards[shard % case.shards.len()].id;
                let to = to % case.workers;
                if world.lease_owner(shard) != Some(to) {
                    workers[to].take(&mut world, shard);
                    world.seen.steals += 1;
                }
            }
            Op::Restart { worker, swap_first } => {
                workers[worker % case.workers].restart(&mut world, swap_first)?;
            }
            Op::LeaseCycle { worker } => workers[worker % case.workers].notice_lost_leases(&world),
        }
    }
    // Drain: every worker notices its lost leases, then all run without faults (each commit's
    // load and swap together) until done.
    for w in &mut workers {
        w.notice_lost_leases(&world);
        w.feed(CommitEvent::Drain);
    }
    let mut rounds = 0;
    while !workers.iter().all(|w| w.is_done(&world)) {
        rounds += 1;
        prop_assert!(rounds < 10_000, "the workers never finish");
        for w in &mut workers {
            w.produce(&world, rounds, 2);
            while w.perform(&mut world)? {}
            while w.advance_rpc(&mut world, NO_FAULTS)? {}
            w.tick();
        }
    }
    let positions = world.positions();
    for shard in &case.shards {
        prop_assert_eq!(positions.get(&shard.id), Some(shard.last()));
        // The lease is a cache that follows the table: a crash between a commit and its lease
        // write leaves it behind until the shard's next acknowledgement.
        let checkpoint = world.lease_checkpoint(&shard.id);
        prop_assert!(checkpoint.is_none_or(|c| c <= shard.last()));
        world.check_coverage(&shard.id)?;
    }
    Ok(world.seen)
}

fn faults() -> impl Strategy<Value = Faults> {
    (0u8..8, 0u8..8, any::<bool>()).prop_map(|(l, c, r)| Faults {
        lose_response: l == 0,
        spurious_conflict: c == 0,
        retry_internally: r,
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        60 => (0usize..3, any::<u8>(), any::<u8>(), faults())
            .prop_map(|(worker, what, arg, faults)| Op::Move { worker, what, arg, faults }),
        2 => (0usize..3, 0usize..3).prop_map(|(shard, to)| Op::Steal { shard, to }),
        1 => (0usize..3, any::<bool>()).prop_map(|(worker, swap_first)| Op::Restart { worker, swap_first }),
        1 => (0usize..3).prop_map(|worker| Op::LeaseCycle { worker }),
    ]
}

/// A segment: its partition count and its records (partition choice, new Kinesis record).
fn segment() -> impl Strategy<Value = (usize, Vec<(u8, bool)>)> {
    (
        0usize..=3,
        proptest::collection::vec((any::<u8>(), prop::bool::weighted(0.7)), 1..5),
    )
}

prop_compose! {
    fn case()(
        shards in proptest::collection::vec(proptest::collection::vec(segment(), 1..8), 1..=3),
        workers in 1usize..=3,
        interval_ms in prop_oneof![Just(0u64), Just(TICK_MS), Just(3 * TICK_MS)],
        schedule in proptest::collection::vec(op(), 0..300),
    ) -> Case {
        Case {
            shards: shards.iter().enumerate().map(|(i, s)| ShardData::new(i, s)).collect(),
            workers,
            interval_ms,
            schedule,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Restarts, steals, zombies, conflicts and lost responses in arbitrary interleavings:
    /// every table record is committed exactly once, positions only move forward, every ack
    /// trails the table, and stale commits add nothing.
    #[test]
    fn every_record_is_committed_exactly_once_through_restarts_steals_zombies_and_conflicts(
        case in case()
    ) {
        run_case(&case)?;
    }
}

/// The runs above are about fences, conflicts, lost responses, zombies, steals and restarts:
/// a fixed sample of them must meet each of these, or the property proves less than it says.
#[test]
fn the_generated_runs_meet_fences_conflicts_lost_responses_zombies_steals_and_restarts() {
    let mut runner = TestRunner::deterministic();
    let mut total = Seen::default();
    for _ in 0..200 {
        let case = case().new_tree(&mut runner).expect("a case").current();
        let seen = run_case(&case).unwrap_or_else(|e| panic!("{e}: {case:?}"));
        total.add(&seen);
    }
    eprintln!("{total:?}");
    let Seen {
        commits,
        summary_only_commits,
        fenced,
        conflicts_reported,
        conflicts_retried,
        lost_responses,
        dropped_files,
        zombie_commits_fenced,
        zombie_commits_applied,
        steals,
        restarts,
    } = total;
    for (what, n) in [
        ("commits", commits),
        ("summary-only commits", summary_only_commits),
        ("fenced commits", fenced),
        ("reported conflicts", conflicts_reported),
        ("internally retried conflicts", conflicts_retried),
        ("lost responses", lost_responses),
        ("dropped files", dropped_files),
        ("fenced zombie commits", zombie_commits_fenced),
        ("applied zombie commits", zombie_commits_applied),
        ("steals", steals),
        ("restarts", restarts),
    ] {
        assert!(n > 0, "no {what} in 200 runs: {total:?}");
    }
}
