//! The pure lease-taking planner: which leases this worker takes or steals, and when.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::lease::{EndedShards, Lease, LeaseState, WorkerHeartbeat};

/// Something the lease shell should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// Take a free or expired lease, conditional on its counter still being `expected_counter`.
    Take {
        /// The shard.
        shard_id: String,
        /// The counter observed.
        expected_counter: u64,
    },
    /// Take a live lease from an over-loaded worker (same conditional write as `Take`).
    Steal {
        /// The shard.
        shard_id: String,
        /// The counter observed.
        expected_counter: u64,
        /// Its current owner.
        from: String,
    },
}

#[derive(Debug, Clone)]
struct Observation {
    counter: u64,
    since_ms: u64,
}

fn observe(map: &mut HashMap<String, Observation>, key: &str, counter: u64, now_ms: u64) -> u64 {
    let o = map
        .entry(key.to_owned())
        .and_modify(|o| {
            if o.counter != counter {
                *o = Observation {
                    counter,
                    since_ms: now_ms,
                };
            }
        })
        .or_insert(Observation {
            counter,
            since_ms: now_ms,
        });
    now_ms.saturating_sub(o.since_ms)
}

/// This worker's order of preference among free leases: a fixed hash of (worker, shard).
fn preference(owner: &str, shard_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (owner, shard_id).hash(&mut hasher);
    hasher.finish()
}

/// Decides which leases this worker takes, from what it observes of the table over time.
///
/// Expiry is judged from local observation, as KCL does, so clocks of different workers never
/// matter. Leases are heartbeat-backed: a worker's one heartbeat write per cycle keeps every
/// lease naming it live, instead of one renewal per lease (KCL's way, ~8x the writes at 8 shards
/// per worker). A lease is expired once neither its own counter nor its owner's heartbeat
/// counter has moved for `failover_ms` of this worker's time (an owner without a heartbeat item
/// is judged by the lease's counter alone). Fencing is unchanged: taking a lease moves its
/// counter, which every write of the previous owner is conditional on. A free lease is
/// available at once; a lease naming this worker that this process does not hold (left by an
/// earlier run with the same id) too.
///
/// Balancing: live workers are this one, those whose heartbeat moved within the failover time
/// and the owners of unexpired leases. Each aims at the fair share `ceil(readable leases / live
/// workers)`: it takes available leases up to that share, and only when none is available and
/// it is below the share does it steal ONE lease per step from the most-loaded worker that is
/// above the share. A worker at its share never steals and is never stolen from, so there are
/// no stealing storms and no ping-pong.
///
/// Guarantees: never proposes a lease this process holds, a shard read to its end, or a child
/// shard while any of its parents (present in the table) is not at `SHARD_END`; at most one
/// `Steal` per step.
#[derive(Debug, Clone)]
pub struct LeaseTaker {
    owner: String,
    failover_ms: u64,
    leases_seen: HashMap<String, Observation>,
    workers_seen: HashMap<String, Observation>,
}

impl LeaseTaker {
    /// A planner for worker `owner` with the given failover time.
    #[must_use]
    pub fn new(owner: impl Into<String>, failover_ms: u64) -> Self {
        Self {
            owner: owner.into(),
            failover_ms,
            leases_seen: HashMap::new(),
            workers_seen: HashMap::new(),
        }
    }

    /// Workers whose heartbeat has not moved for `idle_ms` of this worker's observation (as of
    /// the last [`Self::step`] at `now_ms`): safe to delete, they are long gone.
    #[must_use]
    pub fn dead_workers(&self, now_ms: u64, idle_ms: u64) -> Vec<String> {
        self.workers_seen
            .iter()
            .filter(|(w, o)| **w != self.owner && now_ms.saturating_sub(o.since_ms) >= idle_ms)
            .map(|(w, _)| w.clone())
            .collect()
    }

    /// Observes the table at `now_ms` (a monotonic clock) and returns the leases to take;
    /// `held` lists the shards this process holds.
    pub fn step(
        &mut self,
        now_ms: u64,
        leases: &[Lease],
        workers: &[WorkerHeartbeat],
        held: &[String],
    ) -> Vec<LeaseAction> {
        self.leases_seen
            .retain(|k, _| leases.iter().any(|l| &l.shard_id == k));
        self.workers_seen
            .retain(|k, _| workers.iter().any(|w| &w.worker_id == k));
        let mut live: BTreeSet<&str> = BTreeSet::from([self.owner.as_str()]);
        let mut heartbeat_idle_ms: HashMap<&str, u64> = HashMap::with_capacity(workers.len());
        for w in workers {
            let idle_ms = observe(&mut self.workers_seen, &w.worker_id, w.counter, now_ms);
            heartbeat_idle_ms.insert(&w.worker_id, idle_ms);
            if idle_ms < self.failover_ms {
                live.insert(&w.worker_id);
            }
        }
        let ended = EndedShards::of(leases);
        let mut readable = 0usize;
        let mut available = Vec::new();
        let mut load: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
        for lease in leases {
            let lease_idle_ms = observe(
                &mut self.leases_seen,
                &lease.shard_id,
                lease.counter,
                now_ms,
            );
            let idle_ms = match lease
                .owner
                .as_deref()
                .and_then(|o| heartbeat_idle_ms.get(o))
            {
                Some(&heartbeat_idle) => lease_idle_ms.min(heartbeat_idle),
                None => lease_idle_ms,
            };
            if matches!(
                lease.state(&ended),
                LeaseState::Ended | LeaseState::WaitingForParents
            ) {
                continue;
            }
            readable += 1;
            if held.contains(&lease.shard_id) {
                continue;
            }
            match lease.owner.as_deref() {
                None => available.push(lease),
                Some(o) if o == self.owner => available.push(lease),
                Some(_) if idle_ms >= self.failover_ms => available.push(lease),
                Some(o) => {
                    live.insert(o);
                    load.entry(o).or_default().push(lease);
                }
            }
        }
        let target = readable.div_ceil(live.len());
        let mine = held.len();
        // Workers seeing the same free leases prefer different ones (an order of their own,
        // from a hash of worker and shard), so that two takers rarely race for the same lease
        // and a released worker's shards are all taken in one cycle.
        available.sort_by_key(|l| preference(&self.owner, &l.shard_id));
        if !available.is_empty() {
            return available
                .into_iter()
                .take(target.saturating_sub(mine))
                .map(|l| LeaseAction::Take {
                    shard_id: l.shard_id.clone(),
                    expected_counter: l.counter,
                })
                .collect();
        }
        if mine >= target {
            return Vec::new();
        }
        let victim = load
            .iter()
            .filter(|(_, ls)| ls.len() > target)
            .max_by_key(|(w, ls)| (ls.len(), std::cmp::Reverse(**w)));
        match victim {
            Some((from, ls)) => {
                let lease = ls
                    .iter()
                    .max_by(|a, b| a.shard_id.cmp(&b.shard_id))
                    .expect("a victim has leases");
                vec![LeaseAction::Steal {
                    shard_id: lease.shard_id.clone(),
                    expected_counter: lease.counter,
                    from: (*from).to_owned(),
                }]
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Checkpoint;

    fn lease(shard: &str, owner: Option<&str>, counter: u64) -> Lease {
        Lease {
            owner: owner.map(str::to_owned),
            counter,
            ..Lease::new(shard, vec![], Checkpoint::TrimHorizon)
        }
    }

    fn hb(worker: &str, counter: u64) -> WorkerHeartbeat {
        WorkerHeartbeat {
            worker_id: worker.into(),
            counter,
            millis_behind_latest: std::collections::BTreeMap::new(),
            last_heartbeat_ms: None,
        }
    }

    #[test]
    fn workers_seeing_the_same_free_leases_mostly_prefer_different_ones() {
        // A third worker left: two free leases, the two others hold 3 each and may take one each.
        // In table order both would always propose the same lease and one take would fail.
        let workers = [hb("w2", 1), hb("w3", 1)];
        let mut differ = 0;
        for round in 0..100 {
            let shard = |i: u32| format!("shardId-{:012}", round * 8 + i);
            let mut leases = vec![lease(&shard(0), None, 5), lease(&shard(1), None, 5)];
            leases.extend((2..5).map(|i| lease(&shard(i), Some("w2"), 1)));
            leases.extend((5..8).map(|i| lease(&shard(i), Some("w3"), 1)));
            let held = |w: &str| {
                leases
                    .iter()
                    .filter(|l| l.owner.as_deref() == Some(w))
                    .map(|l| l.shard_id.clone())
                    .collect::<Vec<_>>()
            };
            let a2 = LeaseTaker::new("w2", 3000).step(0, &leases, &workers, &held("w2"));
            let a3 = LeaseTaker::new("w3", 3000).step(0, &leases, &workers, &held("w3"));
            assert_eq!(
                (a2.len(), a3.len()),
                (1, 1),
                "each takes one lease: {a2:?} {a3:?}"
            );
            if a2 != a3 {
                differ += 1;
            }
        }
        assert!(
            differ >= 30,
            "two takers proposed different leases in only {differ} of 100 cases"
        );
    }

    fn shards(actions: &[LeaseAction]) -> Vec<&str> {
        actions
            .iter()
            .map(|a| match a {
                LeaseAction::Take { shard_id, .. } | LeaseAction::Steal { shard_id, .. } => {
                    shard_id.as_str()
                }
            })
            .collect()
    }

    #[test]
    fn free_leases_are_taken_at_once_and_held_leases_never() {
        let mut t = LeaseTaker::new("me", 10_000);
        let actions = t.step(
            0,
            &[lease("a", None, 3), lease("b", Some("me"), 5)],
            &[],
            &["b".to_owned()],
        );
        assert_eq!(
            actions,
            vec![LeaseAction::Take {
                shard_id: "a".into(),
                expected_counter: 3
            }]
        );
    }

    #[test]
    fn a_lease_left_by_an_earlier_run_with_the_same_worker_id_is_taken_at_once() {
        let mut t = LeaseTaker::new("me", 10_000);
        assert_eq!(
            shards(&t.step(0, &[lease("b", Some("me"), 5)], &[], &[])),
            vec!["b"]
        );
    }

    #[test]
    fn a_lease_of_another_worker_is_taken_only_after_its_counter_stood_still_for_the_failover_time()
    {
        let mut t = LeaseTaker::new("me", 10_000);
        let table = [lease("a", Some("other"), 7)];
        assert!(t.step(1_000, &table, &[], &[]).is_empty());
        assert!(t.step(10_999, &table, &[], &[]).is_empty());
        assert_eq!(shards(&t.step(11_000, &table, &[], &[])), vec!["a"]);
    }

    #[test]
    fn a_renewed_lease_restarts_the_expiry_clock() {
        let mut t = LeaseTaker::new("me", 10_000);
        t.step(0, &[lease("a", Some("other"), 7)], &[], &[]);
        assert!(
            t.step(9_000, &[lease("a", Some("other"), 8)], &[], &[])
                .is_empty()
        );
        assert!(
            t.step(18_000, &[lease("a", Some("other"), 8)], &[], &[])
                .is_empty(),
            "only 9 s since the counter moved"
        );
        assert_eq!(
            shards(&t.step(19_000, &[lease("a", Some("other"), 8)], &[], &[])),
            vec!["a"]
        );
    }

    #[test]
    fn a_lease_whose_counter_stands_still_stays_live_while_its_owners_heartbeat_moves() {
        let mut t = LeaseTaker::new("me", 10_000);
        let table = [lease("a", Some("other"), 7)];
        for (now, beat) in [(0, 1), (5_000, 2), (10_000, 3), (15_000, 4), (30_000, 9)] {
            assert!(
                t.step(now, &table, &[hb("other", beat)], &[]).is_empty(),
                "live at {now} ms: its owner heartbeats"
            );
        }
        // The owner stops (killed, or paused as a zombie): expired failover_ms after its last beat was seen.
        assert!(t.step(39_999, &table, &[hb("other", 9)], &[]).is_empty());
        assert_eq!(
            shards(&t.step(40_000, &table, &[hb("other", 9)], &[])),
            vec!["a"]
        );
    }

    #[test]
    fn a_moving_lease_counter_keeps_a_lease_live_even_when_its_owners_heartbeat_stood_still() {
        // e.g. checkpoints still landing while the heartbeat write is throttled
        let mut t = LeaseTaker::new("me", 10_000);
        t.step(0, &[lease("a", Some("other"), 7)], &[hb("other", 1)], &[]);
        assert!(
            t.step(
                9_000,
                &[lease("a", Some("other"), 8)],
                &[hb("other", 1)],
                &[]
            )
            .is_empty()
        );
        assert!(
            t.step(
                18_000,
                &[lease("a", Some("other"), 8)],
                &[hb("other", 1)],
                &[]
            )
            .is_empty()
        );
        assert_eq!(
            shards(&t.step(
                19_000,
                &[lease("a", Some("other"), 8)],
                &[hb("other", 1)],
                &[]
            )),
            vec!["a"]
        );
    }

    #[test]
    fn children_wait_until_every_parent_in_the_table_has_ended() {
        let mut t = LeaseTaker::new("me", 10_000);
        let parent_open = lease("p", Some("other"), 1);
        let child = Lease {
            parent_shard_ids: vec!["p".into(), "gone".into()],
            ..lease("c", None, 0)
        };
        assert!(shards(&t.step(0, &[parent_open.clone(), child.clone()], &[], &[])).is_empty());
        let parent_ended = Lease {
            checkpoint: Checkpoint::ShardEnd,
            owner: None,
            ..parent_open
        };
        assert_eq!(
            shards(&t.step(1, &[parent_ended, child], &[], &[])),
            vec!["c"],
            "ended parents are not taken, children are"
        );
    }

    #[test]
    fn free_leases_are_taken_only_up_to_the_fair_share_of_live_workers() {
        let mut t = LeaseTaker::new("me", 10_000);
        let table: Vec<Lease> = (0..8).map(|i| lease(&format!("s{i}"), None, 0)).collect();
        let actions = t.step(0, &table, &[hb("me", 1), hb("w2", 1), hb("w3", 1)], &[]);
        assert_eq!(actions.len(), 3, "ceil(8 / 3) = 3");
    }

    #[test]
    fn a_worker_below_its_share_steals_one_lease_per_step_from_the_most_loaded_worker() {
        let mut t = LeaseTaker::new("me", 10_000);
        let mut table: Vec<Lease> = (0..5)
            .map(|i| lease(&format!("a{i}"), Some("a"), 1))
            .collect();
        table.extend((0..3).map(|i| lease(&format!("b{i}"), Some("b"), 1)));
        let workers = [hb("a", 1), hb("b", 1), hb("me", 1)];
        let actions = t.step(0, &table, &workers, &[]);
        assert_eq!(
            actions,
            vec![LeaseAction::Steal {
                shard_id: "a4".into(),
                expected_counter: 1,
                from: "a".into()
            }]
        );
    }

    #[test]
    fn balanced_loads_never_steal_so_there_is_no_ping_pong() {
        let mut t = LeaseTaker::new("me", 10_000);
        // 3, 3, 2 over 8 shards with share 3: nobody is above the share.
        let mut table: Vec<Lease> = (0..3)
            .map(|i| lease(&format!("a{i}"), Some("a"), 1))
            .collect();
        table.extend((0..3).map(|i| lease(&format!("b{i}"), Some("b"), 1)));
        table.extend((0..2).map(|i| lease(&format!("m{i}"), Some("me"), 1)));
        let held = vec!["m0".to_owned(), "m1".to_owned()];
        for now in [0, 5_000, 9_000] {
            let workers = [hb("a", now), hb("b", now), hb("me", now)];
            assert!(t.step(now, &table, &workers, &held).is_empty());
        }
    }

    #[test]
    fn a_worker_whose_heartbeat_stopped_no_longer_counts_toward_the_share() {
        let mut t = LeaseTaker::new("me", 10_000);
        let table: Vec<Lease> = (0..4).map(|i| lease(&format!("s{i}"), None, 0)).collect();
        assert_eq!(
            t.step(0, &table, &[hb("gone", 5)], &[]).len(),
            2,
            "two live workers: share 2"
        );
        assert_eq!(
            t.step(10_000, &table, &[hb("gone", 5)], &[]).len(),
            4,
            "its heartbeat stood still: share 4"
        );
    }

    #[test]
    fn a_heartbeat_that_stood_still_long_enough_marks_its_worker_dead_but_never_this_one() {
        let mut t = LeaseTaker::new("me", 10_000);
        t.step(0, &[], &[hb("gone", 3), hb("alive", 1), hb("me", 1)], &[]);
        t.step(
            50_000,
            &[],
            &[hb("gone", 3), hb("alive", 9), hb("me", 1)],
            &[],
        );
        assert!(t.dead_workers(50_000, 60_000).is_empty());
        assert_eq!(t.dead_workers(60_000, 60_000), vec!["gone".to_owned()]);
    }

    #[test]
    fn simulated_workers_starting_together_converge_to_loads_differing_by_at_most_one() {
        // Three planners over a shared in-memory table, stepping in turn; leases are taken at once.
        let names = ["w1", "w2", "w3"];
        let mut takers: Vec<LeaseTaker> =
            names.iter().map(|n| LeaseTaker::new(*n, 10_000)).collect();
        let mut table: Vec<Lease> = (0..8).map(|i| lease(&format!("s{i}"), None, 0)).collect();
        let mut beats: Vec<WorkerHeartbeat> = names.iter().map(|n| hb(n, 0)).collect();
        let mut changes_after_convergence = 0;
        for cycle in 0..10u64 {
            for (i, taker) in takers.iter_mut().enumerate() {
                beats[i].counter += 1;
                let held: Vec<String> = table
                    .iter()
                    .filter(|l| l.owner.as_deref() == Some(names[i]))
                    .map(|l| l.shard_id.clone())
                    .collect();
                for action in taker.step(cycle * 1000, &table, &beats, &held) {
                    let (LeaseAction::Take { shard_id, .. } | LeaseAction::Steal { shard_id, .. }) =
                        action;
                    let l = table.iter_mut().find(|l| l.shard_id == shard_id).unwrap();
                    l.owner = Some(names[i].to_owned());
                    l.counter += 1;
                    if cycle >= 3 {
                        changes_after_convergence += 1;
                    }
                }
            }
            // No lease renewals: the heartbeats above keep the leases live.
        }
        let loads: Vec<usize> = names
            .iter()
            .map(|n| {
                table
                    .iter()
                    .filter(|l| l.owner.as_deref() == Some(*n))
                    .count()
            })
            .collect();
        assert_eq!(loads.iter().sum::<usize>(), 8);
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "{loads:?}"
        );
        assert_eq!(
            changes_after_convergence, 0,
            "no lease moves after 3 cycles"
        );
    }
}
