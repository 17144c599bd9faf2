//! Whether this worker may still act as the owner of the leases it holds, judged from its own
//! successful writes: a pure state machine, with time passed in.

/// Something the lease shell did that bears on ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnershipEvent {
    /// This worker's heartbeat write, sent at `sent_at_ms`, succeeded (now is when its answer
    /// arrived).
    HeartbeatWritten {
        /// When the request was sent (before any attempt of it).
        sent_at_ms: u64,
    },
    /// Every held lease was re-confirmed by a write that moves its counter, conditional on the
    /// counter this worker holds (those refused were dropped as lost); the first of those writes
    /// was sent at `started_at_ms`.
    LeasesReconfirmed {
        /// When the first re-confirming write was sent.
        started_at_ms: u64,
    },
}

/// The verdict on this worker's leases at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// No other worker can have judged these leases expired before `until_ms`: writing as
    /// their owner is safe until then.
    Live {
        /// The end of the safe period.
        until_ms: u64,
    },
    /// Since `since_ms`, another worker may have judged the leases expired and taken them:
    /// nothing may be written as owner until they are re-confirmed
    /// ([`OwnershipEvent::LeasesReconfirmed`]).
    Expired {
        /// When the safe period ended.
        since_ms: u64,
    },
}

impl Ownership {
    /// Whether writing as owner is safe.
    #[must_use]
    pub fn is_live(self) -> bool {
        matches!(self, Ownership::Live { .. })
    }
}

/// Judges locally when this worker's heartbeat-backed leases may have expired in other workers'
/// eyes, so it stops writing as owner before anyone could take them.
///
/// Other workers judge a lease expired once neither its counter nor its owner's heartbeat counter
/// moved for the failover time of their own observation ([`crate::LeaseTaker`]); they cannot see
/// a write before it was sent. So a heartbeat sent at `s` keeps this worker's leases live until
/// `s + failover` in anyone's view, provided it was answered while they were still live (an
/// answer that came later may have landed after a taker judged them expired).
///
/// Guarantees: [`Ownership::Live`] only until `failover_ms` after the send time of the last
/// heartbeat answered within the live period, or of the last re-confirmation; once expired,
/// heartbeats alone never make the leases live again: only a re-confirmation does (a
/// conditional write per lease that moves its counter, so a take decided by another worker from
/// an older observation fails). At start (`started_at_ms`) nothing is held, and every lease taken
/// later moves its counter when taken, so the period starts live.
#[derive(Debug, Clone)]
pub struct OwnershipClock {
    failover_ms: u64,
    live_until_ms: u64,
}

impl OwnershipClock {
    /// A clock for leases with the given failover time, for a worker started at `started_at_ms`.
    #[must_use]
    pub fn new(failover_ms: u64, started_at_ms: u64) -> Self {
        Self {
            failover_ms,
            live_until_ms: started_at_ms.saturating_add(failover_ms),
        }
    }

    /// Records `event`, observed at `now_ms`, and returns the verdict at `now_ms`.
    pub fn step(&mut self, now_ms: u64, event: OwnershipEvent) -> Ownership {
        match event {
            OwnershipEvent::HeartbeatWritten { sent_at_ms } => {
                if now_ms < self.live_until_ms {
                    self.extend(sent_at_ms);
                }
            }
            OwnershipEvent::LeasesReconfirmed { started_at_ms } => self.extend(started_at_ms),
        }
        self.decide(now_ms)
    }

    /// The verdict at `now_ms`.
    #[must_use]
    pub fn decide(&self, now_ms: u64) -> Ownership {
        if now_ms < self.live_until_ms {
            Ownership::Live {
                until_ms: self.live_until_ms,
            }
        } else {
            Ownership::Expired {
                since_ms: self.live_until_ms,
            }
        }
    }

    fn extend(&mut self, sent_at_ms: u64) {
        self.live_until_ms = self
            .live_until_ms
            .max(sent_at_ms.saturating_add(self.failover_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILOVER: u64 = 10_000;

    fn heartbeat(clock: &mut OwnershipClock, sent: u64, answered: u64) -> Ownership {
        clock.step(
            answered,
            OwnershipEvent::HeartbeatWritten { sent_at_ms: sent },
        )
    }

    #[test]
    fn regular_heartbeats_keep_the_leases_live() {
        let mut c = OwnershipClock::new(FAILOVER, 0);
        for cycle in 1..100 {
            let sent = cycle * FAILOVER / 3;
            assert_eq!(
                heartbeat(&mut c, sent, sent + 20),
                Ownership::Live {
                    until_ms: sent + FAILOVER
                }
            );
        }
    }

    #[test]
    fn leases_expire_locally_once_no_heartbeat_was_written_for_the_failover_time() {
        let mut c = OwnershipClock::new(FAILOVER, 0);
        heartbeat(&mut c, 1_000, 1_050);
        assert!(c.decide(10_999).is_live());
        assert_eq!(c.decide(11_000), Ownership::Expired { since_ms: 11_000 });
        assert_eq!(
            c.decide(70_000),
            Ownership::Expired { since_ms: 11_000 },
            "a 60 s outage"
        );
    }

    #[test]
    fn a_heartbeat_after_expiry_does_not_make_the_leases_live_again_a_reconfirmation_does() {
        let mut c = OwnershipClock::new(FAILOVER, 0);
        heartbeat(&mut c, 1_000, 1_050);
        // DynamoDB comes back after 60 s: the heartbeat succeeds, but another worker may have
        // taken the leases meanwhile
        assert_eq!(
            heartbeat(&mut c, 61_000, 61_040),
            Ownership::Expired { since_ms: 11_000 }
        );
        assert_eq!(
            c.step(
                61_100,
                OwnershipEvent::LeasesReconfirmed {
                    started_at_ms: 61_050
                }
            ),
            Ownership::Live { until_ms: 71_050 }
        );
        // from then on heartbeats extend it again
        assert_eq!(
            heartbeat(&mut c, 64_000, 64_030),
            Ownership::Live { until_ms: 74_000 }
        );
    }

    #[test]
    fn a_heartbeat_answered_after_the_live_period_ended_does_not_extend_it() {
        // sent while live, but answered late: it may have landed after a taker judged the
        // leases expired
        let mut c = OwnershipClock::new(FAILOVER, 0);
        heartbeat(&mut c, 1_000, 1_050);
        assert_eq!(
            heartbeat(&mut c, 10_900, 11_200),
            Ownership::Expired { since_ms: 11_000 }
        );
        // answered just in time: extended from its send time
        let mut c = OwnershipClock::new(FAILOVER, 0);
        heartbeat(&mut c, 1_000, 1_050);
        assert_eq!(
            heartbeat(&mut c, 10_900, 10_999),
            Ownership::Live { until_ms: 20_900 }
        );
    }

    #[test]
    fn a_new_worker_is_live_for_the_failover_time_from_its_start() {
        let c = OwnershipClock::new(FAILOVER, 500);
        assert!(c.decide(10_499).is_live());
        assert!(!c.decide(10_500).is_live());
    }
}
