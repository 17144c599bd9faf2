//! The lease cycle's decisions, pure: after each cycle's heartbeat and lease-table scan, what
//! to take or steal, which dead workers' heartbeats to delete, whether the worker is ready,
//! whether it must stop (the table unusable for the whole retry duration, or refusing for
//! good), and with `until_caught_up` whether it may stop. No I/O, no clock: time is passed in
//! (any monotonic clock, the same on every call).
//!
//! The shell (kinesink-worker's `Worker`) performs the actions: it writes the heartbeat and
//! scans the table, tells [`LeaseCycle::step`] what happened, takes the leases it is told to
//! (fenced by their counters), deletes the heartbeats, stores readiness, and stops when told.

use std::time::Duration;

use crate::{
    Checkpoint, LeaseAction, LeaseError, LeaseTaker, OutageRetry, RetryVerdict, TableSnapshot,
};

/// Heartbeats of workers gone for this many failover times (crashed, or restarted with a new
/// id) are deleted, so the table and `kinesink workers` stay accurate.
pub const DEAD_WORKER_FAILOVER_TIMES: u64 = 6;

/// What one lease cycle saw.
#[derive(Debug, Clone, Copy)]
pub struct CycleSeen<'a> {
    /// The failure of this cycle's lease-table calls (heartbeat, lease re-confirmation, scan,
    /// re-creating a dropped table), if any.
    pub table_error: Option<&'a LeaseError>,
    /// The scan of the table, when it answered.
    pub snapshot: Option<&'a TableSnapshot>,
    /// The shards this worker holds (after reconciling with `snapshot`).
    pub held: &'a [String],
    /// The rest of the worker is healthy: no fenced write failing, its leases live by its own
    /// clock, no shard stalled, the destination not refusing.
    pub healthy: bool,
}

/// Why the worker must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleStop {
    /// One line naming the cause and that nothing past the checkpoints is lost.
    pub reason: String,
    /// Stop at once without writing buffered records (nothing can be checkpointed without the
    /// lease table; the next owner reads them again), rather than delivering them first.
    pub abandon: bool,
}

/// What to do after one lease cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleStep {
    /// Stop the worker (the other fields are then empty).
    pub stop: Option<CycleStop>,
    /// What `/readyz` reports until the next cycle. True only when the table answered every
    /// call of this cycle, the worker is healthy, and it holds a lease or none is available to
    /// it.
    pub ready: bool,
    /// Leases to take or steal, in order, each fenced by the counter it was seen at.
    pub take: Vec<LeaseAction>,
    /// Workers whose heartbeats to delete (gone for [`DEAD_WORKER_FAILOVER_TIMES`] failover
    /// times).
    pub remove_heartbeats: Vec<String>,
}

/// With `until_caught_up`: whether the worker may stop, judged after a cycle's takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every open lease is read here, nothing is left to take and every reader is at its tip:
    /// stop now.
    Now,
    /// Every open lease is read here: stop as soon as every reader is at its tip (checked
    /// more often than once a cycle).
    WhenAtTip,
    /// Some open lease is read elsewhere or not yet: keep going.
    NotYet,
}

/// The lease cycle of one worker: [`LeaseTaker`]'s take/steal plan plus the cycle's own outage
/// clock. Guarantees: the worker stops after the table failed every cycle for the whole
/// retry duration (abandoning its buffers), or at once on a permanent refusal (delivering
/// them first); it never reports ready in a cycle whose table calls failed; it takes nothing
/// in a cycle without a scan.
#[derive(Debug)]
pub struct LeaseCycle {
    taker: LeaseTaker,
    outage: OutageRetry,
    failover_ms: u64,
    retry_duration: Duration,
}

impl LeaseCycle {
    /// The cycle of worker `owner`, with its leases' failover time and how long lease-table
    /// failures are ridden out (`leases.retry_duration_s`).
    #[must_use]
    pub fn new(owner: impl Into<String>, failover: Duration, retry_duration: Duration) -> Self {
        let failover_ms = u64::try_from(failover.as_millis()).unwrap_or(u64::MAX);
        Self {
            taker: LeaseTaker::new(owner, failover_ms),
            outage: OutageRetry::new(retry_duration),
            failover_ms,
            retry_duration,
        }
    }

    /// Decides what follows the cycle that saw `seen` at `now_ms`.
    pub fn step(&mut self, now_ms: u64, seen: CycleSeen<'_>) -> CycleStep {
        let idle = CycleStep {
            stop: None,
            ready: false,
            take: Vec::new(),
            remove_heartbeats: Vec::new(),
        };
        match seen.table_error {
            None => self.outage.succeeded(),
            Some(e) => match self.outage.step(now_ms, e.class()) {
                RetryVerdict::GiveUp {
                    failing_for,
                    attempts,
                } => {
                    return CycleStep {
                        stop: Some(CycleStop {
                            reason: format!(
                                "the DynamoDB lease table could not be used for {} s, the whole retry duration (leases.retry_duration_s = {}), {attempts} lease cycles; stopping (nothing past the checkpoints is lost); last error: {e}",
                                failing_for.as_secs(),
                                self.retry_duration.as_secs()
                            ),
                            abandon: true,
                        }),
                        ..idle
                    };
                }
                // Missing permissions, bad credentials, a malformed lease item: waiting does
                // not help.
                RetryVerdict::Permanent => {
                    return CycleStep {
                        stop: Some(CycleStop {
                            reason: format!(
                                "the DynamoDB lease table refused the lease cycle for good (waiting does not help); stopping (nothing past the checkpoints is lost): {e}"
                            ),
                            abandon: false,
                        }),
                        ..idle
                    };
                }
                RetryVerdict::RetryAfter(_) | RetryVerdict::LeaseLost => {}
            },
        }
        let Some(snapshot) = seen.snapshot else {
            return idle;
        };
        let take = self
            .taker
            .step(now_ms, &snapshot.leases, &snapshot.workers, seen.held);
        let remove_heartbeats = self.taker.dead_workers(
            now_ms,
            self.failover_ms.saturating_mul(DEAD_WORKER_FAILOVER_TIMES),
        );
        CycleStep {
            stop: None,
            ready: seen.table_error.is_none()
                && seen.healthy
                && (!seen.held.is_empty() || take.is_empty()),
            take,
            remove_heartbeats,
        }
    }

    /// With `until_caught_up`, after a cycle's takes: `running` lists each shard read here
    /// with whether its reader is at the tip; `nothing_to_take` says the cycle planned no take.
    #[must_use]
    pub fn finish(
        snapshot: &TableSnapshot,
        running: &[(&str, bool)],
        nothing_to_take: bool,
    ) -> Finish {
        let mut open = snapshot
            .leases
            .iter()
            .filter(|l| l.checkpoint != Checkpoint::ShardEnd);
        let open_count = open.clone().count();
        let all_read_here = open.all(|l| running.iter().any(|(s, _)| *s == l.shard_id));
        if !(all_read_here && running.len() == open_count) {
            return Finish::NotYet;
        }
        if nothing_to_take && running.iter().all(|(_, at_tip)| *at_tip) {
            Finish::Now
        } else {
            Finish::WhenAtTip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lease, WorkerHeartbeat};

    const FAILOVER: Duration = Duration::from_secs(10);
    const RETRY: Duration = Duration::from_secs(60);

    fn lease(id: &str, owner: Option<&str>, counter: u64) -> Lease {
        let mut l = Lease::new(id, vec![], Checkpoint::TrimHorizon);
        l.owner = owner.map(str::to_owned);
        l.counter = counter;
        l
    }

    fn snapshot(leases: Vec<Lease>) -> TableSnapshot {
        TableSnapshot::joined(leases, Vec::<WorkerHeartbeat>::new())
    }

    fn seen<'a>(
        error: Option<&'a LeaseError>,
        snapshot: Option<&'a TableSnapshot>,
        held: &'a [String],
    ) -> CycleSeen<'a> {
        CycleSeen {
            table_error: error,
            snapshot,
            held,
            healthy: true,
        }
    }

    fn outage() -> LeaseError {
        LeaseError::Unavailable {
            table: "t".into(),
            message: "connection refused".into(),
        }
    }

    #[test]
    fn a_free_lease_is_taken_and_a_worker_holding_nothing_with_leases_to_take_is_not_ready() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let table = snapshot(vec![lease("s-0", None, 0)]);
        let step = cycle.step(0, seen(None, Some(&table), &[]));
        assert_eq!(step.stop, None);
        assert!(!step.ready, "nothing held, a lease to take");
        assert!(
            matches!(&step.take[..], [LeaseAction::Take { shard_id, .. }] if shard_id == "s-0")
        );
        // Once held, with nothing left to take, the worker is ready.
        let table = snapshot(vec![lease("s-0", Some("a"), 1)]);
        let step = cycle.step(1_000, seen(None, Some(&table), &["s-0".into()]));
        assert!(step.ready && step.take.is_empty());
    }

    #[test]
    fn a_worker_with_nothing_to_take_is_ready_holding_nothing_and_unready_when_unhealthy() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let table = snapshot(vec![lease("s-0", Some("b"), 3)]);
        assert!(cycle.step(0, seen(None, Some(&table), &[])).ready);
        let unhealthy = CycleSeen {
            healthy: false,
            ..seen(None, Some(&table), &[])
        };
        assert!(!cycle.step(1, unhealthy).ready);
    }

    #[test]
    fn a_cycle_whose_table_calls_failed_is_unready_and_a_cycle_without_a_scan_takes_nothing() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let table = snapshot(vec![lease("s-0", None, 0)]);
        let e = outage();
        // The heartbeat failed but the scan answered: takes go on, readiness does not.
        let step = cycle.step(0, seen(Some(&e), Some(&table), &[]));
        assert!(!step.ready && step.stop.is_none() && !step.take.is_empty());
        // No scan (the table missing or the scan failed): nothing taken.
        let step = cycle.step(1_000, seen(Some(&e), None, &[]));
        assert!(!step.ready && step.stop.is_none() && step.take.is_empty());
    }

    #[test]
    fn a_table_failing_for_the_whole_retry_duration_stops_the_worker_abandoning_its_buffers() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let e = outage();
        let mut now = 0;
        let stop = loop {
            let step = cycle.step(now, seen(Some(&e), None, &[]));
            if let Some(stop) = step.stop {
                break stop;
            }
            assert!(now < 61_000, "still not stopped at {now} ms");
            now += 3_333;
        };
        assert!(
            now >= 60_000,
            "stopped after {now} ms, before the retry duration"
        );
        assert!(stop.abandon);
        assert!(
            stop.reason.contains("leases.retry_duration_s = 60")
                && stop.reason.contains("connection refused"),
            "{}",
            stop.reason
        );
    }

    #[test]
    fn a_success_ends_an_outage_so_failures_later_start_a_new_retry_duration() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let e = outage();
        let table = snapshot(vec![]);
        assert!(cycle.step(0, seen(Some(&e), None, &[])).stop.is_none());
        assert!(
            cycle
                .step(50_000, seen(None, Some(&table), &[]))
                .stop
                .is_none()
        );
        assert!(cycle.step(70_000, seen(Some(&e), None, &[])).stop.is_none());
        assert!(
            cycle
                .step(120_000, seen(Some(&e), None, &[]))
                .stop
                .is_none()
        );
        assert!(
            cycle
                .step(131_000, seen(Some(&e), None, &[]))
                .stop
                .is_some()
        );
    }

    #[test]
    fn a_permanent_refusal_stops_the_worker_at_once_delivering_its_buffers() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let e = LeaseError::Refused {
            table: "t".into(),
            message: "AccessDeniedException: not authorized".into(),
        };
        let stop = cycle.step(0, seen(Some(&e), None, &[])).stop.unwrap();
        assert!(!stop.abandon);
        assert!(
            stop.reason.contains("AccessDeniedException"),
            "{}",
            stop.reason
        );
    }

    #[test]
    fn heartbeats_of_workers_gone_for_six_failover_times_are_removed() {
        let mut cycle = LeaseCycle::new("a", FAILOVER, RETRY);
        let gone = TableSnapshot::joined(
            vec![],
            vec![WorkerHeartbeat {
                worker_id: "b".into(),
                counter: 7,
                millis_behind_latest: std::collections::BTreeMap::new(),
                last_heartbeat_ms: None,
            }],
        );
        assert!(
            cycle
                .step(0, seen(None, Some(&gone), &[]))
                .remove_heartbeats
                .is_empty()
        );
        assert!(
            cycle
                .step(59_000, seen(None, Some(&gone), &[]))
                .remove_heartbeats
                .is_empty()
        );
        assert_eq!(
            cycle
                .step(60_000, seen(None, Some(&gone), &[]))
                .remove_heartbeats,
            vec!["b".to_owned()]
        );
    }

    #[test]
    fn until_caught_up_stops_only_when_every_open_lease_is_read_here_and_at_its_tip() {
        let mut ended = lease("old", Some("a"), 2);
        ended.checkpoint = Checkpoint::ShardEnd;
        let table = snapshot(vec![
            lease("s-0", Some("a"), 1),
            lease("s-1", Some("a"), 1),
            ended,
        ]);
        assert_eq!(
            LeaseCycle::finish(&table, &[("s-0", true), ("s-1", true)], true),
            Finish::Now
        );
        assert_eq!(
            LeaseCycle::finish(&table, &[("s-0", true), ("s-1", false)], true),
            Finish::WhenAtTip
        );
        assert_eq!(
            LeaseCycle::finish(&table, &[("s-0", true), ("s-1", true)], false),
            Finish::WhenAtTip,
            "a take planned in this cycle"
        );
        assert_eq!(
            LeaseCycle::finish(&table, &[("s-0", true)], true),
            Finish::NotYet,
            "s-1 is read elsewhere"
        );
    }
}
