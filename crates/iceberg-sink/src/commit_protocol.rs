//! The commit protocol of one worker for one Iceberg table, as a pure state machine: which
//! durable files to add in which commit, with which summary and which fence, when a shard's
//! flush point may be acknowledged, and what to do when the table moved under us.
//!
//! The shell (the worker's table sink) performs the [`CommitAction`]s and feeds their outcome
//! back as [`CommitEvent`]s: it commits through the fenced catalog (a commit applies only if
//! the table's committed positions of the shards in `expect` are exactly `expect`, atomically
//! with the catalog's metadata-pointer swap), loads the table when asked, and turns an
//! [`CommitAction::Ack`] into the shard's progress object and lease checkpoint (the flush
//! protocol's `CheckpointWritten`). No I/O, no clock: time is passed in. The crate docs give
//! the exactly-once argument.

use std::collections::BTreeMap;

use kinesink_sequence_position::SequencePosition;

use crate::table_position::{ShardPositions, is_usable_shard_id};

mod shard_commits;

use shard_commits::ShardCommits;

/// A data file of one shard, durable in storage under its deterministic key
/// (`<name>-<shard>-<first seq>-<first sub>`): the same records always give the same key, so a
/// replay after a crash, a steal or a zombie rewrites (or finds) the very same object.
///
/// The shell maps it to an Iceberg data file; the protocol needs only what is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Its object key (the path the table will reference).
    pub key: String,
    /// The shard its records come from.
    pub shard_id: String,
    /// Position of its first record.
    pub first: SequencePosition,
    /// Position of its last record.
    pub last: SequencePosition,
    /// Records inside.
    pub records: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// The committed positions a commit expects the table to hold, by shard (`None`: the table
/// holds no position for the shard yet). The fence: the commit applies only if the table holds
/// exactly these.
pub type ExpectedPositions = BTreeMap<String, Option<SequencePosition>>;

/// An input to [`CommitProtocol::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitEvent {
    /// This worker now reads `shard` (taken, stolen or resumed after a restart), and the table's
    /// committed position for it was `committed` when the shell read it (reading resumes
    /// after it, or after the lease checkpoint if further). Replaces any state of the shard.
    ShardTaken {
        /// The shard.
        shard: String,
        /// The table's committed position for it (`None`: none yet).
        committed: Option<SequencePosition>,
    },
    /// This worker no longer reads `shard` (lease lost or given up, shard stopped): its
    /// uncommitted files are forgotten (the next owner reproduces them under the same keys) and
    /// nothing more is acknowledged for it.
    ShardReleased {
        /// The shard.
        shard: String,
    },
    /// The flush protocol reached flush point `up_to` of `shard` (its `Checkpoint(up_to)`):
    /// every record of the shard up to `up_to` is durable, and `files` are this table's files
    /// holding the records after the previous flush point up to `up_to` (empty: none of those
    /// records went to this table). Flush points of a shard come in increasing order.
    FilesDurable {
        /// The shard.
        shard: String,
        /// The flush point.
        up_to: SequencePosition,
        /// This table's durable files between the previous flush point and `up_to`.
        files: Vec<StagedFile>,
    },
    /// Time passed: commit what is pending if the interval since the last commit is over.
    Tick,
    /// Shutting down: commit what is pending now and after every commit, whatever the interval.
    Drain,
    /// The commit asked for by [`CommitAction::Commit`] applied.
    Committed,
    /// The commit did not apply because another commit won the catalog's swap (retries
    /// exhausted): the protocol reloads, re-checks and retries as soon as the load answers
    /// (back-off between attempts is the catalog client's, iceberg-rust's `commit.retry.*`).
    Conflict,
    /// The commit's outcome is unknown (a timeout, a lost response): the protocol reloads the
    /// table and finds out from the positions.
    CommitOutcomeUnknown,
    /// The commit did not apply: the fenced load found `positions` (the table's committed
    /// positions) not matching the commit's `expect`.
    Fenced {
        /// The committed positions the fenced load saw.
        positions: ShardPositions,
    },
    /// The table was loaded (after [`CommitAction::LoadTable`]): its committed positions.
    TableLoaded {
        /// The committed positions of the loaded table.
        positions: ShardPositions,
    },
}

/// Something the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitAction {
    /// Load the table and send [`CommitEvent::TableLoaded`] with its committed positions.
    LoadTable,
    /// Commit one fast-append adding `files`, with `summary` as the snapshot summary's
    /// positions (encoded by [`crate::table_position::summary_properties`]), through the fence
    /// `expect`; then send [`CommitEvent::Committed`], [`CommitEvent::Fenced`],
    /// [`CommitEvent::Conflict`] or [`CommitEvent::CommitOutcomeUnknown`]. `files` may be empty
    /// (a summary-only commit moving positions). `summary` and `expect` have the same shards.
    Commit {
        /// The files to add, each of a shard in `summary`.
        files: Vec<StagedFile>,
        /// The position each shard moves to.
        summary: ShardPositions,
        /// The position each shard must still have in the table.
        expect: ExpectedPositions,
    },
    /// The table holds every record of `shard` up to `up_to` (a flush point given by
    /// [`CommitEvent::FilesDurable`]): store the shard's progress and lease checkpoint, then
    /// tell the flush protocol (`CheckpointWritten(up_to)`).
    Ack {
        /// The shard.
        shard: String,
        /// The flush point.
        up_to: SequencePosition,
    },
    /// Stop reading `shard` (and release it): it can no longer be delivered exactly once here.
    StopShard {
        /// The shard.
        shard: String,
        /// Why.
        reason: StopReason,
    },
    /// `file` is not added: the table already holds its records (a predecessor committed the
    /// very same file, same key). Do not delete the object: the table references it.
    Drop {
        /// The file.
        file: StagedFile,
    },
}

/// Why a shard stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// A file holds records on both sides of the table's committed position: the cut points
    /// differ from those of the commit that set the position.
    #[error(
        "file {key} holds records {first} to {last}, across the position {committed} the table already holds for this shard: the cut points changed since that commit (was the buffering or partitioning configuration changed?); adding it would deliver records {first} to {committed} twice, so the shard stops"
    )]
    StraddlesCommittedPosition {
        /// The file's key.
        key: String,
        /// Its first record.
        first: SequencePosition,
        /// Its last record.
        last: SequencePosition,
        /// The table's committed position.
        committed: SequencePosition,
    },
    /// The table's committed position went back (a rollback, a recreated table).
    #[error(
        "the table's position for this shard went back from {} to {} (snapshot rolled back or table recreated?): records acknowledged up to the old position cannot be read again here, so the shard stops",
        show(.expected.as_ref()),
        show(.found.as_ref())
    )]
    PositionWentBack {
        /// The position this worker knew.
        expected: Option<SequencePosition>,
        /// The position the table holds.
        found: Option<SequencePosition>,
    },
    /// A flush point out of order, or a file outside it (a shell bug).
    #[error("flush point {up_to} refused: {detail}")]
    InvalidFlushPoint {
        /// The flush point.
        up_to: SequencePosition,
        /// What is wrong.
        detail: String,
    },
    /// Files of a shard this protocol does not hold (never taken, or released).
    #[error("the shard is not held by this worker's commit protocol for the table")]
    NotHeld,
    /// The shard id cannot name a summary key (see [`is_usable_shard_id`]).
    #[error("the shard id cannot name a snapshot summary key (empty, or contains '.')")]
    UnusableShardId,
    /// A table the shard's records go to failed for good, or its position could not be read
    /// (the message says which and why): the shard stops and is read again from its
    /// checkpoint later.
    #[error("{0}")]
    TableFailed(String),
}

fn show(position: Option<&SequencePosition>) -> String {
    position.map_or_else(|| "none".to_owned(), ToString::to_string)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No commit under way.
    Idle,
    /// A commit was asked for; its outcome is awaited.
    Committing,
    /// A commit failed or its outcome is unknown; the table load is awaited.
    Reloading,
}

/// The commit protocol of one worker for one table.
///
/// Guarantees (the crate docs argue why they give exactly-once delivery):
/// - at most one [`CommitAction::Commit`] is under way; one commit covers every shard with
///   pending flush points; a commit started by [`CommitEvent::Tick`] comes at least
///   `commit_interval_ms` after the previous one started (retries after a conflict or a fence
///   and commits while draining excepted);
/// - a commit adds a file only if its first record is after the shard's position in `expect`,
///   and moves each shard in `summary` strictly forward from `expect`;
/// - every flush point of [`CommitEvent::FilesDurable`] is answered by exactly one
///   [`CommitAction::Ack`] (in order, per shard), unless the shard is released or stopped
///   first; an `Ack` comes only once the table is known to hold the shard at or past the flush
///   point (a confirmed commit, or a loaded position);
/// - a file at or below the table's position is never added ([`CommitAction::Drop`]); a file
///   across it is never added either: the shard stops ([`StopReason::StraddlesCommittedPosition`]).
#[derive(Debug)]
pub struct CommitProtocol {
    commit_interval_ms: u64,
    shards: BTreeMap<String, ShardCommits>,
    phase: Phase,
    /// When the last commit not forced by a retry or a drain started.
    last_commit_ms: Option<u64>,
    draining: bool,
}

impl CommitProtocol {
    /// A protocol committing at most once per `commit_interval_ms` (the buffer interval),
    /// holding no shard yet.
    #[must_use]
    pub fn new(commit_interval_ms: u64) -> Self {
        Self {
            commit_interval_ms,
            shards: BTreeMap::new(),
            phase: Phase::Idle,
            last_commit_ms: None,
            draining: false,
        }
    }

    /// Whether a commit or the table load after a failed one is under way.
    #[must_use]
    pub fn is_committing(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// The table's committed position of `shard` as this protocol last knew it (the position
    /// its next commit expects), `None` when it holds no position or the shard is not held.
    #[must_use]
    pub fn committed_position(&self, shard: &str) -> Option<&SequencePosition> {
        self.shards.get(shard).and_then(ShardCommits::committed)
    }

    /// Applies `event`, observed at `now_ms` (any monotonic clock, the same on every call), and
    /// returns what the shell must do, in order.
    pub fn step(&mut self, now_ms: u64, event: CommitEvent) -> Vec<CommitAction> {
        let mut actions = Vec::new();
        match event {
            CommitEvent::ShardTaken { shard, committed } => {
                if is_usable_shard_id(&shard) {
                    self.shards.insert(shard, ShardCommits::new(committed));
                } else {
                    self.shards.remove(&shard);
                    actions.push(CommitAction::StopShard {
                        shard,
                        reason: StopReason::UnusableShardId,
                    });
                }
            }
            CommitEvent::ShardReleased { shard } => {
                self.shards.remove(&shard);
            }
            CommitEvent::FilesDurable {
                shard,
                up_to,
                files,
            } => {
                let outcome = match self.shards.get_mut(&shard) {
                    None => Err(StopReason::NotHeld),
                    Some(commits) => commits.add_flush_point(&shard, up_to, files, &mut actions),
                };
                self.stop_on(shard, outcome, &mut actions);
            }
            CommitEvent::Tick => {
                let interval_over = self
                    .last_commit_ms
                    .is_none_or(|t| now_ms.saturating_sub(t) >= self.commit_interval_ms);
                if self.phase == Phase::Idle
                    && (interval_over || self.draining)
                    && self.start_commit(&mut actions)
                {
                    self.last_commit_ms = Some(now_ms);
                }
            }
            CommitEvent::Drain => {
                self.draining = true;
                if self.phase == Phase::Idle {
                    self.start_commit(&mut actions);
                }
            }
            CommitEvent::Committed => {
                if self.phase == Phase::Committing {
                    for (shard, commits) in &mut self.shards {
                        commits.confirm_in_flight(shard, &mut actions);
                    }
                    self.phase = Phase::Idle;
                    if self.draining {
                        self.start_commit(&mut actions);
                    }
                }
            }
            CommitEvent::Conflict | CommitEvent::CommitOutcomeUnknown => {
                if self.phase == Phase::Committing {
                    self.phase = Phase::Reloading;
                    actions.push(CommitAction::LoadTable);
                }
            }
            CommitEvent::Fenced { positions } => {
                if self.phase == Phase::Committing {
                    self.retry_after_load(&positions, &mut actions);
                }
            }
            CommitEvent::TableLoaded { positions } => match self.phase {
                Phase::Reloading => self.retry_after_load(&positions, &mut actions),
                Phase::Idle => self.reconcile_all(&positions, &mut actions),
                // Says nothing certain about the commit under way.
                Phase::Committing => {}
            },
        }
        actions
    }

    /// After a failed commit: put its flush points back, reconcile every shard with the table's
    /// `positions`, and commit what is left at once (the same interval's commit, retried).
    fn retry_after_load(&mut self, positions: &ShardPositions, actions: &mut Vec<CommitAction>) {
        for commits in self.shards.values_mut() {
            commits.return_in_flight();
        }
        self.phase = Phase::Idle;
        self.reconcile_all(positions, actions);
        self.start_commit(actions);
    }

    fn reconcile_all(&mut self, positions: &ShardPositions, actions: &mut Vec<CommitAction>) {
        let shards: Vec<String> = self.shards.keys().cloned().collect();
        for shard in shards {
            let found = positions.get(&shard).cloned();
            let outcome = match self.shards.get_mut(&shard) {
                Some(commits) => commits.reconcile(&shard, found, actions),
                None => Ok(()),
            };
            self.stop_on(shard, outcome, actions);
        }
    }

    /// Stops `shard` (forgetting it) when `outcome` says so.
    fn stop_on(
        &mut self,
        shard: String,
        outcome: Result<(), StopReason>,
        actions: &mut Vec<CommitAction>,
    ) {
        if let Err(reason) = outcome {
            self.shards.remove(&shard);
            actions.push(CommitAction::StopShard { shard, reason });
        }
    }

    /// Asks for one commit of every shard's pending flush points, if any and none is under way;
    /// whether it did.
    fn start_commit(&mut self, actions: &mut Vec<CommitAction>) -> bool {
        if self.phase != Phase::Idle {
            return false;
        }
        let mut files = Vec::new();
        let mut summary = ShardPositions::new();
        let mut expect = ExpectedPositions::new();
        for (shard, commits) in &mut self.shards {
            if let Some(up_to) = commits.send_pending(&mut files) {
                summary.insert(shard.clone(), up_to);
                expect.insert(shard.clone(), commits.committed().cloned());
            }
        }
        if summary.is_empty() {
            return false;
        }
        self.phase = Phase::Committing;
        actions.push(CommitAction::Commit {
            files,
            summary,
            expect,
        });
        true
    }
}

#[cfg(test)]
mod tests;
