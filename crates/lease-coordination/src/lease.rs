//! The lease of one shard.

use std::collections::BTreeMap;

use std::fmt;

use kinesink_sequence_position::SequencePosition;

/// Where reading of a shard resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// Nothing checkpointed yet: start at the oldest record.
    TrimHorizon,
    /// Nothing checkpointed yet: start at the tip.
    Latest,
    /// Nothing checkpointed yet: start at the configured timestamp.
    AtTimestamp,
    /// Nothing checkpointed yet: start at this time, ms since the Unix epoch (set by `kinesink
    /// leases reset --to at-timestamp --timestamp T`). Stored as `AT_TIMESTAMP` with the time in
    /// `checkpointSubSequenceNumber` (0 there means the configured timestamp, [`Checkpoint::AtTimestamp`]).
    AtTime(u64),
    /// Every user record up to and including this position is durable.
    Sequence(SequencePosition),
    /// The shard is closed and read to its end; its children may be read.
    ShardEnd,
}

impl Checkpoint {
    /// The string stored in the `checkpoint` attribute (KCL's sentinels or the sequence number).
    #[must_use]
    pub fn as_stored(&self) -> &str {
        match self {
            Checkpoint::TrimHorizon => "TRIM_HORIZON",
            Checkpoint::Latest => "LATEST",
            Checkpoint::AtTimestamp | Checkpoint::AtTime(_) => "AT_TIMESTAMP",
            Checkpoint::ShardEnd => "SHARD_END",
            Checkpoint::Sequence(position) => &position.sequence_number,
        }
    }

    /// The sub-sequence number stored beside it (0 for sentinels, the time for
    /// [`Checkpoint::AtTime`]).
    #[must_use]
    pub fn sub_sequence(&self) -> u64 {
        match self {
            Checkpoint::Sequence(position) => position.sub_sequence_number,
            Checkpoint::AtTime(millis) => *millis,
            _ => 0,
        }
    }

    /// Parses the stored form; `None` when it is neither a sentinel nor a decimal number.
    #[must_use]
    pub fn from_stored(value: &str, sub_sequence_number: u64) -> Option<Self> {
        Some(match value {
            "TRIM_HORIZON" => Checkpoint::TrimHorizon,
            "LATEST" => Checkpoint::Latest,
            "AT_TIMESTAMP" if sub_sequence_number == 0 => Checkpoint::AtTimestamp,
            "AT_TIMESTAMP" => Checkpoint::AtTime(sub_sequence_number),
            "SHARD_END" => Checkpoint::ShardEnd,
            seq => Checkpoint::Sequence(SequencePosition::parse(seq, sub_sequence_number)?),
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkpoint::Sequence(position) => write!(f, "{position}"),
            Checkpoint::AtTime(millis) => write!(f, "AT_TIMESTAMP({millis} ms)"),
            other => f.write_str(other.as_stored()),
        }
    }
}

/// One item of the lease table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The shard id (`leaseKey`).
    pub shard_id: String,
    /// The holder, if any.
    pub owner: Option<String>,
    /// Moves on every write; a lease whose counter stands still for the failover time is expired.
    pub counter: u64,
    /// Where reading resumes.
    pub checkpoint: Checkpoint,
    /// Parent shards (from ListShards), read to their end before this one is read.
    pub parent_shard_ids: Vec<String>,
    /// Takes since the checkpoint last moved.
    pub owner_switches_since_checkpoint: u64,
    /// A shard-wide flush recorded after the checkpoint: the last record it covers.
    pub flush_intent: Option<SequencePosition>,
    /// The last record of any object that may have been written.
    pub flush_horizon: Option<SequencePosition>,
    /// `MillisBehindLatest` of the owner's last read, as its last heartbeat reported it (filled
    /// in by [`LeaseTable::snapshot`](crate::LeaseTable::snapshot) from the owner's
    /// [`WorkerHeartbeat`]); `None` when no owner reported one. Informational only.
    pub millis_behind_latest: Option<i64>,
}

/// What a lease is doing, judged from one scan of the table: the taker reads only
/// [`LeaseState::Owned`] and [`LeaseState::Free`] leases, and `kinesink leases list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Read to its end (`SHARD_END`): never read again.
    Ended,
    /// A parent shard's lease is in the table and not ended: not read yet (records in order
    /// across a split or merge).
    WaitingForParents,
    /// Readable and owned by a worker.
    Owned,
    /// Readable and owned by nobody.
    Free,
}

impl LeaseState {
    /// The name `kinesink leases list` prints: `ended`, `waiting-for-parents`, `owned`, `free`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::WaitingForParents => "waiting-for-parents",
            Self::Owned => "owned",
            Self::Free => "free",
        }
    }
}

/// Which shards of a table scan have ended, for [`Lease::state`]: a shard not in the scan
/// counts as ended (its lease was deleted past the stream's retention, or never existed).
#[derive(Debug)]
pub struct EndedShards<'a>(std::collections::HashMap<&'a str, bool>);

impl<'a> EndedShards<'a> {
    /// Indexes a scan of the table.
    #[must_use]
    pub fn of(leases: &'a [Lease]) -> Self {
        Self(
            leases
                .iter()
                .map(|l| (l.shard_id.as_str(), l.checkpoint == Checkpoint::ShardEnd))
                .collect(),
        )
    }

    /// Whether `shard_id` has ended (or is not in the table).
    #[must_use]
    pub fn ended(&self, shard_id: &str) -> bool {
        self.0.get(shard_id).copied().unwrap_or(true)
    }
}

impl Lease {
    /// This lease's state, its parents judged by `ended` (built from the same scan).
    ///
    /// Guarantees: `Ended` exactly at `SHARD_END`; otherwise `WaitingForParents` while any
    /// parent has not ended; otherwise `Owned` or `Free` by its owner.
    #[must_use]
    pub fn state(&self, ended: &EndedShards<'_>) -> LeaseState {
        if self.checkpoint == Checkpoint::ShardEnd {
            LeaseState::Ended
        } else if self.parent_shard_ids.iter().any(|p| !ended.ended(p)) {
            LeaseState::WaitingForParents
        } else if self.owner.is_some() {
            LeaseState::Owned
        } else {
            LeaseState::Free
        }
    }

    /// A new, free lease for a shard starting at `initial`.
    #[must_use]
    pub fn new(
        shard_id: impl Into<String>,
        parent_shard_ids: Vec<String>,
        initial: Checkpoint,
    ) -> Self {
        Self {
            shard_id: shard_id.into(),
            owner: None,
            counter: 0,
            checkpoint: initial,
            parent_shard_ids,
            owner_switches_since_checkpoint: 0,
            flush_intent: None,
            flush_horizon: None,
            millis_behind_latest: None,
        }
    }
}

/// A worker's liveness item in the lease table (`leaseKey` = `!worker:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHeartbeat {
    /// The worker id.
    pub worker_id: String,
    /// Incremented by the worker at every lease cycle. While it moves, every lease naming this
    /// worker as owner is live (leases are not renewed one by one).
    pub counter: u64,
    /// `MillisBehindLatest` of each shard the worker reads, as of its last heartbeat.
    pub millis_behind_latest: BTreeMap<String, i64>,
    /// When the worker last heartbeat, ms since the Unix epoch by the worker's own clock
    /// (informational, for `kinesink workers`: liveness is judged by the counter, never by
    /// clocks); `None` when not recorded.
    pub last_heartbeat_ms: Option<i64>,
}

/// Everything in the lease table: shard leases and worker heartbeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSnapshot {
    /// One lease per shard, by shard id.
    pub leases: Vec<Lease>,
    /// One heartbeat per worker that announced itself.
    pub workers: Vec<WorkerHeartbeat>,
}

impl TableSnapshot {
    /// A snapshot of `leases` and `workers`, each lease's
    /// [`Lease::millis_behind_latest`] filled in from its owner's heartbeat (when the owner
    /// reported the shard).
    #[must_use]
    pub fn joined(mut leases: Vec<Lease>, workers: Vec<WorkerHeartbeat>) -> Self {
        for lease in &mut leases {
            let reported = lease.owner.as_deref().and_then(|owner| {
                workers
                    .iter()
                    .find(|w| w.worker_id == owner)
                    .and_then(|w| w.millis_behind_latest.get(&lease.shard_id).copied())
            });
            if reported.is_some() {
                lease.millis_behind_latest = reported;
            }
        }
        Self { leases, workers }
    }

    /// Whether the lease of `shard_id` was held live between this snapshot and `later` (taken
    /// at least a failover time after it): its counter moved, or the worker it names as owner
    /// had its heartbeat counter move. Leases are heartbeat-backed, so an owner reading an idle
    /// shard keeps its lease live without writing the lease at all; `false` for a lease that
    /// neither snapshot has.
    #[must_use]
    pub fn lease_live_until(&self, later: &TableSnapshot, shard_id: &str) -> bool {
        let lease =
            |s: &'_ TableSnapshot| s.leases.iter().find(|l| l.shard_id == shard_id).cloned();
        let (before, after) = (lease(self), lease(later));
        if before.as_ref().map(|l| l.counter) != after.as_ref().map(|l| l.counter) {
            return true;
        }
        let owners = [&before, &after].map(|l| l.as_ref().and_then(|l| l.owner.clone()));
        owners.iter().flatten().any(|owner| {
            let beat = |s: &TableSnapshot| {
                s.workers
                    .iter()
                    .find(|w| &w.worker_id == owner)
                    .map(|w| w.counter)
            };
            beat(self) != beat(later)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_checkpoints_round_trip() {
        for cp in [
            Checkpoint::TrimHorizon,
            Checkpoint::Latest,
            Checkpoint::AtTimestamp,
            Checkpoint::AtTime(1_795_000_000_000),
            Checkpoint::ShardEnd,
            Checkpoint::Sequence(SequencePosition::new(
                "49590338271490256608559692538361571095921575989136588898",
                7,
            )),
        ] {
            assert_eq!(
                Checkpoint::from_stored(cp.as_stored(), cp.sub_sequence()),
                Some(cp)
            );
        }
    }

    fn owned_by(owner: Option<&str>, counter: u64, beats: &[(&str, u64)]) -> TableSnapshot {
        let mut lease = Lease::new("s", vec![], Checkpoint::TrimHorizon);
        lease.owner = owner.map(str::to_owned);
        lease.counter = counter;
        let workers = beats
            .iter()
            .map(|(id, counter)| WorkerHeartbeat {
                worker_id: (*id).to_owned(),
                counter: *counter,
                millis_behind_latest: BTreeMap::new(),
                last_heartbeat_ms: None,
            })
            .collect();
        TableSnapshot::joined(vec![lease], workers)
    }

    #[test]
    fn an_idle_lease_is_live_while_its_owners_heartbeat_moves() {
        let before = owned_by(Some("a"), 5, &[("a", 10), ("b", 3)]);
        // The lease counter stood still (nothing to checkpoint) but its owner's heartbeat moved.
        assert!(before.lease_live_until(&owned_by(Some("a"), 5, &[("a", 12), ("b", 3)]), "s"));
        // Another worker's heartbeat says nothing about this lease.
        assert!(!before.lease_live_until(&owned_by(Some("a"), 5, &[("a", 10), ("b", 9)]), "s"));
        // The owner's heartbeat appeared or disappeared: its worker started or stopped.
        assert!(before.lease_live_until(&owned_by(Some("a"), 5, &[("b", 3)]), "s"));
        // The lease itself was written (a checkpoint, a take).
        assert!(before.lease_live_until(&owned_by(Some("a"), 6, &[("a", 10), ("b", 3)]), "s"));
        // Nothing moved: the owner is dead.
        assert!(!before.lease_live_until(&before.clone(), "s"));
        let free = owned_by(None, 5, &[("a", 10)]);
        assert!(!free.lease_live_until(&owned_by(None, 5, &[("a", 11)]), "s"));
        assert!(!free.lease_live_until(&free.clone(), "other shard"));
    }

    #[test]
    fn garbage_checkpoints_are_not_accepted() {
        assert_eq!(Checkpoint::from_stored("", 0), None);
        assert_eq!(Checkpoint::from_stored("12a", 0), None);
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;

    fn lease(shard: &str, parents: &[&str], owner: Option<&str>, checkpoint: Checkpoint) -> Lease {
        Lease {
            owner: owner.map(str::to_owned),
            ..Lease::new(
                shard,
                parents.iter().map(|p| (*p).to_owned()).collect(),
                checkpoint,
            )
        }
    }

    #[test]
    fn a_lease_waits_for_parents_in_the_table_until_they_end_and_then_is_owned_or_free() {
        let parent = lease("p", &[], Some("w"), Checkpoint::TrimHorizon);
        let child = lease("c", &["p", "gone"], None, Checkpoint::TrimHorizon);
        let owned = lease("o", &["gone"], Some("w"), Checkpoint::TrimHorizon);
        let all = vec![parent.clone(), child.clone(), owned.clone()];
        let ended = EndedShards::of(&all);
        assert_eq!(parent.state(&ended), LeaseState::Owned);
        assert_eq!(child.state(&ended), LeaseState::WaitingForParents);
        assert_eq!(
            owned.state(&ended),
            LeaseState::Owned,
            "a parent not in the table counts as ended"
        );
        let parent_ended = lease("p", &[], Some("w"), Checkpoint::ShardEnd);
        let all = vec![parent_ended.clone(), child.clone()];
        let ended = EndedShards::of(&all);
        assert_eq!(parent_ended.state(&ended), LeaseState::Ended);
        assert_eq!(child.state(&ended), LeaseState::Free);
        assert_eq!(
            [
                LeaseState::Ended,
                LeaseState::WaitingForParents,
                LeaseState::Owned,
                LeaseState::Free
            ]
            .map(LeaseState::as_str),
            ["ended", "waiting-for-parents", "owned", "free"]
        );
    }
}
