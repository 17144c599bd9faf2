//! The pure lease-taking planner.

use std::collections::HashMap;

use crate::lease::{Checkpoint, Lease};

/// Something the lease shell should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// Take this lease with a write conditional on its counter still being `expected_counter`.
    Take {
        /// The shard.
        shard_id: String,
        /// The counter observed.
        expected_counter: u64,
    },
}

#[derive(Debug, Clone)]
struct Observation {
    counter: u64,
    since_ms: u64,
}

/// Decides which leases this worker takes, from what it observes of the table over time.
///
/// Expiry is judged from local observation, as KCL does, so clocks of different workers never
/// matter: a lease owned by another worker is expired once its counter has not moved for
/// `failover_ms` of this worker's time. A free lease (no owner) is available at once.
///
/// A lease that names this worker as owner but is not held by this process (left by an earlier
/// run with the same worker id) is taken at once.
///
/// Guarantees: never proposes a lease this process holds, a shard already read to its end, or a
/// child shard while any of its parents (present in the table) is not at `SHARD_END`.
#[derive(Debug, Clone)]
pub struct LeaseTaker {
    owner: String,
    failover_ms: u64,
    seen: HashMap<String, Observation>,
}

impl LeaseTaker {
    /// A planner for worker `owner` with the given failover time.
    #[must_use]
    pub fn new(owner: impl Into<String>, failover_ms: u64) -> Self {
        Self { owner: owner.into(), failover_ms, seen: HashMap::new() }
    }

    /// Observes the table at `now_ms` (a monotonic clock) and returns the leases to take;
    /// `held` lists the shards this process holds.
    pub fn step(&mut self, now_ms: u64, leases: &[Lease], held: &[String]) -> Vec<LeaseAction> {
        self.seen.retain(|shard, _| leases.iter().any(|l| &l.shard_id == shard));
        let finished: HashMap<&str, bool> =
            leases.iter().map(|l| (l.shard_id.as_str(), l.checkpoint == Checkpoint::ShardEnd)).collect();
        let mut actions = Vec::new();
        for lease in leases {
            let obs = self
                .seen
                .entry(lease.shard_id.clone())
                .and_modify(|o| {
                    if o.counter != lease.counter {
                        *o = Observation { counter: lease.counter, since_ms: now_ms };
                    }
                })
                .or_insert(Observation { counter: lease.counter, since_ms: now_ms });
            let held_here = held.contains(&lease.shard_id);
            let ended = lease.checkpoint == Checkpoint::ShardEnd;
            let parents_done = lease.parent_shard_ids.iter().all(|p| finished.get(p.as_str()).copied().unwrap_or(true));
            let left_by_earlier_run = lease.owner.as_deref() == Some(self.owner.as_str());
            let expired = lease.owner.is_none()
                || left_by_earlier_run
                || now_ms.saturating_sub(obs.since_ms) >= self.failover_ms;
            if !held_here && !ended && parents_done && expired {
                actions.push(LeaseAction::Take { shard_id: lease.shard_id.clone(), expected_counter: lease.counter });
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(shard: &str, owner: Option<&str>, counter: u64) -> Lease {
        Lease { owner: owner.map(str::to_owned), counter, ..Lease::new(shard, vec![], Checkpoint::TrimHorizon) }
    }

    fn takes(actions: &[LeaseAction]) -> Vec<&str> {
        actions.iter().map(|LeaseAction::Take { shard_id, .. }| shard_id.as_str()).collect()
    }

    #[test]
    fn free_leases_are_taken_at_once_and_held_leases_never() {
        let mut t = LeaseTaker::new("me", 10_000);
        let actions = t.step(0, &[lease("a", None, 3), lease("b", Some("me"), 5)], &["b".to_owned()]);
        assert_eq!(actions, vec![LeaseAction::Take { shard_id: "a".into(), expected_counter: 3 }]);
    }

    #[test]
    fn a_lease_left_by_an_earlier_run_with_the_same_worker_id_is_taken_at_once() {
        let mut t = LeaseTaker::new("me", 10_000);
        assert_eq!(takes(&t.step(0, &[lease("b", Some("me"), 5)], &[])), vec!["b"]);
    }

    #[test]
    fn a_lease_of_another_worker_is_taken_only_after_its_counter_stood_still_for_the_failover_time() {
        let mut t = LeaseTaker::new("me", 10_000);
        assert!(t.step(1_000, &[lease("a", Some("other"), 7)], &[]).is_empty());
        assert!(t.step(10_999, &[lease("a", Some("other"), 7)], &[]).is_empty());
        assert_eq!(takes(&t.step(11_000, &[lease("a", Some("other"), 7)], &[])), vec!["a"]);
    }

    #[test]
    fn a_renewed_lease_restarts_the_expiry_clock() {
        let mut t = LeaseTaker::new("me", 10_000);
        t.step(0, &[lease("a", Some("other"), 7)], &[]);
        assert!(t.step(9_000, &[lease("a", Some("other"), 8)], &[]).is_empty());
        assert!(t.step(18_000, &[lease("a", Some("other"), 8)], &[]).is_empty(), "only 9 s since the counter moved");
        assert_eq!(takes(&t.step(19_000, &[lease("a", Some("other"), 8)], &[])), vec!["a"]);
    }

    #[test]
    fn children_wait_until_every_parent_in_the_table_has_ended() {
        let mut t = LeaseTaker::new("me", 10_000);
        let parent_open = lease("p", Some("other"), 1);
        let child = Lease { parent_shard_ids: vec!["p".into(), "gone".into()], ..lease("c", None, 0) };
        assert!(takes(&t.step(0, &[parent_open.clone(), child.clone()], &[])).is_empty());
        let parent_ended = Lease { checkpoint: Checkpoint::ShardEnd, owner: None, ..parent_open };
        assert_eq!(takes(&t.step(1, &[parent_ended, child], &[])), vec!["c"], "ended parents are not taken, children are");
    }
}
