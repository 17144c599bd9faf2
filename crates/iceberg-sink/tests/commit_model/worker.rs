//! One worker of the property test: its commit protocol and the shell around it (the commit
//! as a fenced load then a swap, the table loads, the fenced lease writes of the acks).

use std::collections::{BTreeMap, VecDeque};

use kinesink_iceberg_sink::commit_protocol::{
    CommitAction, CommitEvent, CommitProtocol, ExpectedPositions, StagedFile,
};
use kinesink_iceberg_sink::table_position::ShardPositions;
use kinesink_sequence_position::SequencePosition;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{TICK_MS, World};

/// A commit under way in the shell: waiting for its fenced load, or for its swap.
#[derive(Debug)]
pub(crate) enum Rpc {
    Load(CommitRequest),
    Swap(CommitRequest, usize),
}

#[derive(Debug)]
pub(crate) struct CommitRequest {
    files: Vec<StagedFile>,
    summary: ShardPositions,
    expect: ExpectedPositions,
}

/// A shard as its reader in a worker sees it.
#[derive(Debug)]
pub(crate) struct Reader {
    counter: u64,
    next_segment: usize,
}

/// One worker: its protocol and the shell around it.
pub(crate) struct Worker {
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
pub(crate) struct Faults {
    /// An applied commit's response is lost.
    pub(crate) lose_response: bool,
    /// The swap fails although no commit landed (a conflict with a commit of another table
    /// property, a throttled catalog).
    pub(crate) spurious_conflict: bool,
    /// A lost swap is retried from the fenced load (iceberg-rust's `do_commit`) rather than
    /// reported.
    pub(crate) retry_internally: bool,
}

pub(crate) const NO_FAULTS: Faults = Faults {
    lose_response: false,
    spurious_conflict: false,
    retry_internally: false,
};

impl Worker {
    pub(crate) fn new(id: usize, interval_ms: u64) -> Self {
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

    pub(crate) fn feed(&mut self, event: CommitEvent) {
        let actions = self.protocol.step(self.now, event);
        self.queue.extend(actions);
    }

    /// Takes `shard` at the lease's counter + 1 and resumes after the table's position (or
    /// the lease checkpoint if further).
    pub(crate) fn take(&mut self, world: &mut World<'_>, shard: &str) {
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
    pub(crate) fn forget(&mut self, shard: &str) {
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
    pub(crate) fn produce(&mut self, world: &World<'_>, pick: usize, segments: usize) -> bool {
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

    pub(crate) fn tick(&mut self) {
        self.now += TICK_MS;
        self.feed(CommitEvent::Tick);
    }

    /// Performs the next queued action; whether there was one.
    pub(crate) fn perform(&mut self, world: &mut World<'_>) -> Result<bool, TestCaseError> {
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
    pub(crate) fn is_zombie_for(&self, world: &World<'_>, summary: &ShardPositions) -> bool {
        summary.keys().any(|s| {
            !self
                .readers
                .get(s)
                .is_some_and(|r| world.holds(self.id, s, r.counter))
        })
    }

    /// Advances the commit under way by one stage; whether there was one.
    pub(crate) fn advance_rpc(
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
    pub(crate) fn restart(
        &mut self,
        world: &mut World<'_>,
        swap_first: bool,
    ) -> Result<(), TestCaseError> {
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
    pub(crate) fn notice_lost_leases(&mut self, world: &World<'_>) {
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
    pub(crate) fn is_done(&self, world: &World<'_>) -> bool {
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
