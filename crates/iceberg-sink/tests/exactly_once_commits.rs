//! The exactly-once property of the commit protocol: several workers, each running a
//! [`CommitProtocol`] for one table, commit the deterministic files of their shards into an
//! in-memory catalog through restarts, lease steals, zombies (owners that lost a shard and do
//! not know yet, paused for any number of steps), commit conflicts and lost commit responses,
//! in arbitrary interleavings.
//!
//! The catalog models iceberg-rust's `Transaction::commit` through kinesink's fenced catalog:
//! a commit is a fenced load (the table's committed positions, read with
//! [`committed_positions`] from the snapshot summaries newest-first, must equal the commit's
//! `expect`, else it is fenced) followed by a compare-and-swap of the current snapshot (lost
//! when another commit landed in between: then either the commit is retried from the load, as
//! `do_commit` does, or the conflict is reported). The shards' records are cut into files by
//! fixed segment boundaries (as the flush protocol's deterministic cuts guarantee: the same
//! records always give the same files, named by their first record); each owner run chooses
//! its own flush points among those boundaries. The lease table fences lease checkpoints by
//! owner and counter, as DynamoDB's conditional writes do.
//!
//! Asserted at every commit that applies: no file key is added twice; no file at or below its
//! shard's committed position is added; a commit built on stale expectations adds nothing;
//! positions only move forward; the files committed for a shard hold each of its table
//! records up to its position exactly once. At every acknowledgement: the table holds the shard
//! at or past it, and the lease checkpoint it writes never goes back. At every dropped file: the
//! table holds that very file. No shard is ever stopped (the cut points never change here). At
//! the end, after the workers drain: every shard is committed at its last record.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use kinesink_iceberg_sink::commit_protocol::{
    CommitAction, CommitEvent, CommitProtocol, ExpectedPositions, StagedFile,
};
use kinesink_iceberg_sink::table_position::{
    ShardPositions, committed_positions, summary_properties,
};
use kinesink_sequence_position::SequencePosition;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

const NAME: &str = "events";
/// Sequence numbers beyond u128, as Kinesis writes them.
const SEQ: &str = "49590338271490256608559692538361571095921575989136";
const TICK_MS: u64 = 10_000;

/// One shard's records, cut into files at fixed segment boundaries.
struct ShardData {
    id: String,
    positions: Vec<SequencePosition>,
    /// Whether each record goes to this table (else to the error output: in no file here).
    in_table: Vec<bool>,
    /// Index past the last record of each segment (a possible flush point).
    segment_ends: Vec<usize>,
    /// The files of each segment.
    segment_files: Vec<Vec<StagedFile>>,
    /// The records of each file, by key.
    file_records: BTreeMap<String, Vec<usize>>,
}

impl fmt::Debug for ShardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records, segments end at {:?}, files {:?}",
            self.id,
            self.positions.len(),
            self.segment_ends,
            self.file_records.values().collect::<Vec<_>>()
        )
    }
}

impl ShardData {
    /// `segments`: per segment, its partition count and, per record, (a choice of partition or
    /// the error output, whether it starts a new Kinesis record rather than continuing an
    /// aggregate).
    fn new(index: usize, segments: &[(usize, Vec<(u8, bool)>)]) -> Self {
        let id = format!("shardId-{index:012}");
        let (mut positions, mut in_table, mut segment_ends, mut segment_files) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut file_records = BTreeMap::new();
        let (mut seq, mut sub) = (1000u64 * (index as u64 + 1), 0u64);
        for (parts, records) in segments {
            let mut partitions: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
            for &(choice, new_record) in records {
                if new_record || positions.is_empty() {
                    (seq, sub) = (seq + 1, 0);
                } else {
                    sub += 1;
                }
                let i = positions.len();
                positions.push(SequencePosition::new(format!("{SEQ}{seq:06}"), sub));
                let partition = choice % (*parts as u8 + 1);
                in_table.push(partition < *parts as u8);
                if partition < *parts as u8 {
                    partitions.entry(partition).or_default().push(i);
                }
            }
            segment_ends.push(positions.len());
            let files = partitions
                .into_values()
                .map(|records| {
                    let (first, last) = (
                        &positions[records[0]],
                        &positions[records[records.len() - 1]],
                    );
                    let key = format!(
                        "{NAME}-{id}-{}-{}",
                        first.sequence_number, first.sub_sequence_number
                    );
                    file_records.insert(key.clone(), records.clone());
                    StagedFile {
                        key,
                        shard_id: id.clone(),
                        first: first.clone(),
                        last: last.clone(),
                        records: records.len() as u64,
                        bytes: 10 * records.len() as u64,
                    }
                })
                .collect();
            segment_files.push(files);
        }
        Self {
            id,
            positions,
            in_table,
            segment_ends,
            segment_files,
            file_records,
        }
    }

    /// The last record of segment `s`.
    fn segment_end(&self, s: usize) -> &SequencePosition {
        &self.positions[self.segment_ends[s] - 1]
    }

    /// The first segment after `position` (always a segment end, or none).
    fn segment_after(&self, position: Option<&SequencePosition>) -> usize {
        position.map_or(0, |p| {
            (0..self.segment_ends.len())
                .take_while(|s| self.segment_end(*s) <= p)
                .count()
        })
    }

    fn last(&self) -> &SequencePosition {
        self.positions.last().expect("at least one record")
    }
}

#[derive(Debug)]
struct LeaseRow {
    owner: usize,
    counter: u64,
    checkpoint: Option<SequencePosition>,
}

/// What happened in a run, to show the runs reach the situations they are about.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    commits: u64,
    summary_only_commits: u64,
    fenced: u64,
    conflicts_reported: u64,
    conflicts_retried: u64,
    lost_responses: u64,
    dropped_files: u64,
    zombie_commits_fenced: u64,
    zombie_commits_applied: u64,
    steals: u64,
    restarts: u64,
}

impl Seen {
    fn add(&mut self, o: &Seen) {
        self.commits += o.commits;
        self.summary_only_commits += o.summary_only_commits;
        self.fenced += o.fenced;
        self.conflicts_reported += o.conflicts_reported;
        self.conflicts_retried += o.conflicts_retried;
        self.lost_responses += o.lost_responses;
        self.dropped_files += o.dropped_files;
        self.zombie_commits_fenced += o.zombie_commits_fenced;
        self.zombie_commits_applied += o.zombie_commits_applied;
        self.steals += o.steals;
        self.restarts += o.restarts;
    }
}

/// The table, its catalog and the lease table.
struct World<'a> {
    shards: &'a [ShardData],
    /// Snapshot summaries, oldest first.
    snapshots: Vec<std::collections::HashMap<String, String>>,
    /// Every file the table references, by key.
    files: BTreeMap<String, StagedFile>,
    leases: BTreeMap<String, LeaseRow>,
    seen: Seen,
}

impl World<'_> {
    fn shard(&self, id: &str) -> &ShardData {
        self.shards
            .iter()
            .find(|s| s.id == id)
            .expect("known shard")
    }

    fn positions(&self) -> ShardPositions {
        committed_positions(NAME, self.snapshots.iter().rev()).expect("positions readable")
    }

    fn version(&self) -> usize {
        self.snapshots.len()
    }

    /// The fenced load: the base version, or the positions when they differ from `expect`.
    fn fenced_load(&self, expect: &ExpectedPositions) -> Result<usize, ShardPositions> {
        let positions = self.positions();
        let fence_holds = expect.iter().all(|(s, e)| positions.get(s) == e.as_ref());
        if fence_holds {
            Ok(self.version())
        } else {
            Err(positions)
        }
    }

    /// Whether `worker` holds `shard`'s lease at `counter`.
    fn holds(&self, worker: usize, shard: &str, counter: u64) -> bool {
        self.leases
            .get(shard)
            .is_some_and(|l| l.owner == worker && l.counter == counter)
    }

    /// Applies a commit (the swap won), checking everything a commit must respect.
    fn apply(
        &mut self,
        files: &[StagedFile],
        summary: &ShardPositions,
        expect: &ExpectedPositions,
    ) -> Result<(), TestCaseError> {
        let before = self.positions();
        for (shard, expected) in expect {
            prop_assert_eq!(
                before.get(shard),
                expected.as_ref(),
                "a commit built on stale expectations applied (shard {})",
                shard
            );
        }
        for (shard, to) in summary {
            prop_assert!(
                before.get(shard).is_none_or(|b| b < to),
                "shard {} moved from {:?} to {}: not forward",
                shard,
                before.get(shard),
                to
            );
        }
        for f in files {
            prop_assert!(
                !self.files.contains_key(&f.key),
                "file {} added to the table twice",
                f.key
            );
            prop_assert!(
                before.get(&f.shard_id).is_none_or(|c| f.first > *c),
                "file {} ({}..{}) added at or below the committed position {:?}",
                f.key,
                f.first,
                f.last,
                before.get(&f.shard_id)
            );
            prop_assert!(summary.get(&f.shard_id).is_some_and(|to| f.last <= *to));
            self.files.insert(f.key.clone(), f.clone());
        }
        let mut properties = summary_properties(NAME, summary);
        properties.insert("added-data-files".into(), files.len().to_string());
        self.snapshots.push(properties);
        self.seen.commits += 1;
        if files.is_empty() {
            self.seen.summary_only_commits += 1;
        }
        for shard in summary.keys() {
            self.check_coverage(shard)?;
        }
        Ok(())
    }

    /// The files committed for `shard` hold each of its table records up to its position
    /// exactly once, and none after it.
    fn check_coverage(&self, shard: &str) -> Result<(), TestCaseError> {
        let data = self.shard(shard);
        let position = self.positions().get(shard).cloned();
        let mut copies = vec![0u32; data.positions.len()];
        for f in self.files.values().filter(|f| f.shard_id == shard) {
            for &r in &data.file_records[&f.key] {
                copies[r] += 1;
            }
        }
        for (r, p) in data.positions.iter().enumerate() {
            let committed = position.as_ref().is_some_and(|c| p <= c);
            let expected = u32::from(committed && data.in_table[r]);
            prop_assert_eq!(
                copies[r],
                expected,
                "record {} of {} (position {:?}) is in {} committed files",
                r,
                shard,
                position,
                copies[r]
            );
        }
        Ok(())
    }
}

/// A commit under way in the shell: waiting for its fenced load, or for its swap.
#[derive(Debug)]
enum Rpc {
    Load(CommitRequest),
    Swap(CommitRequest, usize),
}

#[derive(Debug)]
struct CommitRequest {
    files: Vec<StagedFile>,
    summary: ShardPositions,
    expect: ExpectedPositions,
}

/// A shard as its reader in a worker sees it.
#[derive(Debug)]
struct Reader {
    counter: u64,
    next_segment: usize,
}

/// One worker: its protocol and the shell around it.
struct Worker {
    id: usize,
    protocol: CommitProtocol,
    queue: VecDeque<CommitAction>,
    rpc: Option<Rpc>,
    readers: BTreeMap<String, Reader>,
    /// Flush points given to the protocol and not acknowledged yet, by shard, in order.
    unacked: BTreeMap<String, VecDeque<SequencePosition>>,
    now: u64,
    interval_ms: u64,
}

/// Faults the schedule injects into one step of a worker.
#[derive(Debug, Clone, Copy)]
struct Faults {
    /// An applied commit's response is lost.
    lose_response: bool,
    /// The swap fails although no commit landed (a conflict with a commit of another table
    /// property, a throttled catalog).
    spurious_conflict: bool,
    /// A lost swap is retried from the fenced load (iceberg-rust's `do_commit`) rather than
    /// reported.
    retry_internally: bool,
}

const NO_FAULTS: Faults = Faults {
    lose_response: false,
    spurious_conflict: false,
    retry_internally: false,
};

impl Worker {
    fn new(id: usize, interval_ms: u64) -> Self {
        Self {
            id,
            protocol: CommitProtocol::new(interval_ms),
            queue: VecDeque::new(),
            rpc: None,
            readers: BTreeMap::new(),
            unacked: BTreeMap::new(),
            now: 0,
            interval_ms,
        }
    }

    fn feed(&mut self, event: CommitEvent) {
        let actions = self.protocol.step(self.now, event);
        self.queue.extend(actions);
    }

    /// Takes `shard` at the lease's counter + 1 and resumes after the table's position (or
    /// the lease checkpoint if further).
    fn take(&mut self, world: &mut World<'_>, shard: &str) {
        let committed = world.positions().get(shard).cloned();
        let lease = world.leases.get_mut(shard).expect("lease row");
        lease.owner = self.id;
        lease.counter += 1;
        let resume = committed.clone().max(lease.checkpoint.clone());
        let reader = Reader {
            counter: lease.counter,
            next_segment: world.shard(shard).segment_after(resume.as_ref()),
        };
        self.forget(shard);
        self.readers.insert(shard.to_owned(), reader);
        self.feed(CommitEvent::ShardTaken {
            shard: shard.to_owned(),
            committed,
        });
    }

    /// Stops reading `shard`: its reader and queued acks go (they were for that reader).
    fn forget(&mut self, shard: &str) {
        self.unacked.remove(shard);
        if self.readers.remove(shard).is_some() {
            self.queue
                .retain(|a| !matches!(a, CommitAction::Ack { shard: s, .. } if s == shard));
            self.feed(CommitEvent::ShardReleased {
                shard: shard.to_owned(),
            });
        }
    }

    /// The next flush point of the `pick`-th shard read, `segments` segments long.
    fn produce(&mut self, world: &World<'_>, pick: usize, segments: usize) -> bool {
        let Some(shard) = self
            .readers
            .keys()
            .nth(pick % self.readers.len().max(1))
            .cloned()
        else {
            return false;
        };
        let data = world.shard(&shard);
        let reader = self.readers.get_mut(&shard).expect("picked");
        if reader.next_segment >= data.segment_ends.len() {
            return false;
        }
        let end = (reader.next_segment + segments).min(data.segment_ends.len());
        let files = (reader.next_segment..end)
            .flat_map(|s| data.segment_files[s].iter().cloned())
            .collect();
        let up_to = data.segment_end(end - 1).clone();
        reader.next_segment = end;
        self.unacked
            .entry(shard.clone())
            .or_default()
            .push_back(up_to.clone());
        self.feed(CommitEvent::FilesDurable {
            shard,
            up_to,
            files,
        });
        true
    }

    fn tick(&mut self) {
        self.now += TICK_MS;
        self.feed(CommitEvent::Tick);
    }

    /// Performs the next queued action; whether there was one.
    fn perform(&mut self, world: &mut World<'_>) -> Result<bool, TestCaseError> {
        let Some(action) = self.queue.pop_front() else {
            return Ok(false);
        };
        match action {
            CommitAction::LoadTable => {
                let positions = world.positions();
                self.feed(CommitEvent::TableLoaded { positions });
            }
            CommitAction::Commit {
                files,
                summary,
                expect,
            } => {
                prop_assert!(self.rpc.is_none(), "a second commit while one is under way");
                prop_assert_eq!(
                    summary.keys().collect::<Vec<_>>(),
                    expect.keys().collect::<Vec<_>>()
                );
                self.rpc = Some(Rpc::Load(CommitRequest {
                    files,
                    summary,
                    expect,
                }));
            }
            CommitAction::Ack { shard, up_to } => {
                let table = world.positions().get(&shard).cloned();
                prop_assert!(
                    table.as_ref().is_some_and(|t| up_to <= *t),
                    "ack of {} at {} while the table holds {:?}",
                    shard,
                    up_to,
                    table
                );
                let expected = self.unacked.get_mut(&shard).and_then(VecDeque::pop_front);
                prop_assert_eq!(
                    expected.as_ref(),
                    Some(&up_to),
                    "acks answer the flush points once each, in order"
                );
                let counter = self.readers.get(&shard).map(|r| r.counter);
                if counter.is_some_and(|c| world.holds(self.id, &shard, c)) {
                    let lease = world.leases.get_mut(&shard).expect("held");
                    prop_assert!(lease.checkpoint.as_ref().is_none_or(|c| *c <= up_to));
                    lease.checkpoint = Some(up_to);
                } else {
                    // The fenced lease write is refused: the shard is lost here.
                    self.forget(&shard);
                }
            }
            CommitAction::Drop { file } => {
                prop_assert_eq!(
                    world.files.get(&file.key),
                    Some(&file),
                    "dropped a file the table does not hold"
                );
                world.seen.dropped_files += 1;
            }
            CommitAction::StopShard { shard, reason } => {
                prop_assert!(false, "shard {} stopped: {}", shard, reason);
            }
        }
        Ok(true)
    }

    /// Whether this worker holds no valid lease for some shard of the commit.
    fn is_zombie_for(&self, world: &World<'_>, summary: &ShardPositions) -> bool {
        summary.keys().any(|s| {
            !self
                .readers
                .get(s)
                .is_some_and(|r| world.holds(self.id, s, r.counter))
        })
    }

    /// Advances the commit under way by one stage; whether there was one.
    fn advance_rpc(
        &mut self,
        world: &mut World<'_>,
        faults: Faults,
    ) -> Result<bool, TestCaseError> {
        let Some(rpc) = self.rpc.take() else {
            return Ok(false);
        };
        match rpc {
            Rpc::Load(request) => match world.fenced_load(&request.expect) {
                Ok(base) => self.rpc = Some(Rpc::Swap(request, base)),
                Err(positions) => {
                    world.seen.fenced += 1;
                    if self.is_zombie_for(world, &request.summary) {
                        world.seen.zombie_commits_fenced += 1;
                    }
                    self.feed(CommitEvent::Fenced { positions });
                }
            },
            Rpc::Swap(request, base) => {
                if base != world.version() || faults.spurious_conflict {
                    if faults.retry_internally {
                        world.seen.conflicts_retried += 1;
                        self.rpc = Some(Rpc::Load(request));
                    } else {
                        world.seen.conflicts_reported += 1;
                        self.feed(CommitEvent::Conflict);
                    }
                    return Ok(true);
                }
                if self.is_zombie_for(world, &request.summary) && !request.files.is_empty() {
                    world.seen.zombie_commits_applied += 1;
                }
                world.apply(&request.files, &request.summary, &request.expect)?;
                if faults.lose_response {
                    world.seen.lost_responses += 1;
                    self.feed(CommitEvent::CommitOutcomeUnknown);
                } else {
                    self.feed(CommitEvent::Committed);
                }
            }
        }
        Ok(true)
    }

    /// Crashes (a commit at its swap may land first) and starts again with no state, taking
    /// back the shards whose leases it still holds.
    fn restart(&mut self, world: &mut World<'_>, swap_first: bool) -> Result<(), TestCaseError> {
        if swap_first && matches!(self.rpc, Some(Rpc::Swap(..))) {
            self.advance_rpc(world, NO_FAULTS)?;
        }
        let held: Vec<String> = self
            .readers
            .iter()
            .filter(|(s, r)| world.holds(self.id, s, r.counter))
            .map(|(s, _)| s.clone())
            .collect();
        *self = Worker::new(self.id, self.interval_ms);
        for shard in held {
            self.take(world, &shard);
        }
        world.seen.restarts += 1;
        Ok(())
    }

    /// The lease cycle notices the shards lost to other workers.
    fn notice_lost_leases(&mut self, world: &World<'_>) {
        let lost: Vec<String> = self
            .readers
            .iter()
            .filter(|(s, r)| !world.holds(self.id, s, r.counter))
            .map(|(s, _)| s.clone())
            .collect();
        for shard in lost {
            self.forget(&shard);
        }
    }

    /// Whether this worker has nothing left to do.
    fn is_done(&self, world: &World<'_>) -> bool {
        self.queue.is_empty()
            && self.rpc.is_none()
            && self.unacked.values().all(VecDeque::is_empty)
            && !self.protocol.is_committing()
            && self.readers.iter().all(|(s, r)| {
                let data = world.shard(s);
                r.next_segment >= data.segment_ends.len()
                    && world.positions().get(s) == Some(data.last())
            })
    }
}

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
    let mut world = World {
        shards: &case.shards,
        snapshots: Vec::new(),
        files: BTreeMap::new(),
        leases: BTreeMap::new(),
        seen: Seen::default(),
    };
    let mut workers: Vec<Worker> = (0..case.workers)
        .map(|w| Worker::new(w, case.interval_ms))
        .collect();
    for (i, shard) in case.shards.iter().enumerate() {
        let owner = i % case.workers;
        world.leases.insert(
            shard.id.clone(),
            LeaseRow {
                owner,
                counter: 0,
                checkpoint: None,
            },
        );
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
                if world.leases[shard].owner != to {
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
        let checkpoint = world.leases[&shard.id].checkpoint.as_ref();
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
