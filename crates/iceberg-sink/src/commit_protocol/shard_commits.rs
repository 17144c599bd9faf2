//! One shard's side of the commit protocol: its flush points waiting for a commit, those in
//! the commit under way, and the table position they are checked against.

use std::collections::VecDeque;

use kinesink_sequence_position::SequencePosition;

use super::{CommitAction, StagedFile, StopReason};

/// A flush point of the shard and this table's files since the previous one.
#[derive(Debug)]
struct FlushPoint {
    up_to: SequencePosition,
    files: Vec<StagedFile>,
}

/// One shard's commit state.
///
/// Invariant: every flush point held (pending or in flight) is after `committed`, and so is
/// the first record of every file held.
#[derive(Debug)]
pub(super) struct ShardCommits {
    /// The table's committed position as last known: what the next commit expects.
    committed: Option<SequencePosition>,
    /// The last flush point received (files of the next one must start after it).
    last_flush_point: Option<SequencePosition>,
    /// Flush points waiting for a commit, in order.
    pending: VecDeque<FlushPoint>,
    /// Flush points in the commit under way, in order (all before the pending ones).
    in_flight: Vec<FlushPoint>,
}

impl ShardCommits {
    pub(super) fn new(committed: Option<SequencePosition>) -> Self {
        Self {
            committed,
            last_flush_point: None,
            pending: VecDeque::new(),
            in_flight: Vec::new(),
        }
    }

    pub(super) fn committed(&self) -> Option<&SequencePosition> {
        self.committed.as_ref()
    }

    /// Takes a flush point in: checks it, then settles it against the known position (acked
    /// at once when the table already holds it).
    pub(super) fn add_flush_point(
        &mut self,
        shard: &str,
        up_to: SequencePosition,
        files: Vec<StagedFile>,
        actions: &mut Vec<CommitAction>,
    ) -> Result<(), StopReason> {
        let invalid = |detail: String| StopReason::InvalidFlushPoint {
            up_to: up_to.clone(),
            detail,
        };
        if let Some(previous) = &self.last_flush_point
            && up_to <= *previous
        {
            return Err(invalid(format!(
                "not after the previous flush point {previous}"
            )));
        }
        for f in &files {
            if f.shard_id != shard {
                return Err(invalid(format!(
                    "file {} is of shard {}",
                    f.key, f.shard_id
                )));
            }
            if !(f.first <= f.last && f.last <= up_to) {
                return Err(invalid(format!(
                    "file {} holds records {} to {}, not within the flush point",
                    f.key, f.first, f.last
                )));
            }
            if let Some(previous) = &self.last_flush_point
                && f.first <= *previous
            {
                return Err(invalid(format!(
                    "file {} starts at {}, not after the previous flush point {previous}",
                    f.key, f.first
                )));
            }
        }
        self.last_flush_point = Some(up_to.clone());
        self.pending.push_back(FlushPoint { up_to, files });
        let committed = self.committed.clone();
        self.settle(shard, committed.as_ref(), actions)
    }

    /// Moves the pending flush points into a commit: their last flush point (the shard's new
    /// position) and their files, or `None` when nothing is pending.
    pub(super) fn send_pending(&mut self, files: &mut Vec<StagedFile>) -> Option<SequencePosition> {
        let up_to = self.pending.back()?.up_to.clone();
        for point in self.pending.drain(..) {
            files.extend(point.files.iter().cloned());
            self.in_flight.push(point);
        }
        Some(up_to)
    }

    /// The commit under way applied: the table holds the shard at its last flush point. Acks
    /// every flush point in it.
    pub(super) fn confirm_in_flight(&mut self, shard: &str, actions: &mut Vec<CommitAction>) {
        for point in std::mem::take(&mut self.in_flight) {
            actions.push(CommitAction::Ack {
                shard: shard.to_owned(),
                up_to: point.up_to.clone(),
            });
            self.committed = Some(point.up_to);
        }
    }

    /// The commit under way did not apply (or may not have): its flush points are pending
    /// again, ahead of those that came since.
    pub(super) fn return_in_flight(&mut self) {
        for point in self.in_flight.drain(..).rev() {
            self.pending.push_front(point);
        }
    }

    /// The table holds the shard at `found`: adopt it, then settle the pending flush points.
    pub(super) fn reconcile(
        &mut self,
        shard: &str,
        found: Option<SequencePosition>,
        actions: &mut Vec<CommitAction>,
    ) -> Result<(), StopReason> {
        if found < self.committed {
            return Err(StopReason::PositionWentBack {
                expected: self.committed.clone(),
                found,
            });
        }
        self.committed = found;
        let committed = self.committed.clone();
        self.settle(shard, committed.as_ref(), actions)
    }

    /// Restores the invariant against the table position `committed`: flush points at or
    /// below it are acked (their files dropped: the table holds them); files at or below it in
    /// later flush points are dropped; a file across it stops the shard.
    fn settle(
        &mut self,
        shard: &str,
        committed: Option<&SequencePosition>,
        actions: &mut Vec<CommitAction>,
    ) -> Result<(), StopReason> {
        let Some(committed) = committed else {
            return Ok(());
        };
        while let Some(point) = self.pending.pop_front() {
            if point.up_to > *committed {
                self.pending.push_front(point);
                break;
            }
            actions.extend(
                point
                    .files
                    .into_iter()
                    .map(|file| CommitAction::Drop { file }),
            );
            actions.push(CommitAction::Ack {
                shard: shard.to_owned(),
                up_to: point.up_to,
            });
        }
        for point in &mut self.pending {
            let mut kept = Vec::with_capacity(point.files.len());
            for file in std::mem::take(&mut point.files) {
                if file.first > *committed {
                    kept.push(file);
                } else if file.last <= *committed {
                    actions.push(CommitAction::Drop { file });
                } else {
                    return Err(StopReason::StraddlesCommittedPosition {
                        key: file.key,
                        first: file.first,
                        last: file.last,
                        committed: committed.clone(),
                    });
                }
            }
            point.files = kept;
        }
        Ok(())
    }
}
