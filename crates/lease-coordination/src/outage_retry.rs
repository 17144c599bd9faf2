//! How lease-table calls are retried through a DynamoDB outage: a pure decision, taken one
//! failure at a time, with time passed in.

use std::time::Duration;

use backon::BackoffBuilder;

/// What kind of failure a lease-table call met, which decides whether it is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The table could not be reached or refused for now (network, 5xx, throttling, a table
    /// being recreated): waiting may help.
    Transient,
    /// A conditional write failed: the lease belongs to another worker now. Never retried.
    LeaseLost,
    /// Waiting cannot help: missing permissions, a request the service calls invalid, a
    /// malformed lease item.
    Permanent,
}

/// What to do after a failed lease-table call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryVerdict {
    /// Try again after this pause (exponential with jitter, never past the end of the retry
    /// duration: the last attempt is made at its end).
    RetryAfter(Duration),
    /// The lease is lost: stop acting as its owner.
    LeaseLost,
    /// Not retried: the error will not go away by waiting.
    Permanent,
    /// The table has failed for the whole retry duration: stop.
    GiveUp {
        /// How long calls have been failing.
        failing_for: Duration,
        /// Failed attempts in this outage.
        attempts: u32,
    },
}

/// Decides, failure after failure, whether a lease-table call is tried again and when.
///
/// Guarantees: a [`FailureClass::LeaseLost`] or [`FailureClass::Permanent`] failure is never
/// retried; transient failures are retried with exponential backoff (200 ms doubling up to 5 s,
/// with jitter) until they have lasted `retry_duration` of the caller's time, counted from the
/// first failure of the outage (a success ends the outage, see [`OutageRetry::succeeded`]); no
/// pause ends later than the retry duration; then [`RetryVerdict::GiveUp`]. No clock is read:
/// `now_ms` comes from the caller (any monotonic clock).
#[derive(Debug)]
pub struct OutageRetry {
    retry_ms: u64,
    failing_since_ms: Option<u64>,
    attempts: u32,
    delays: backon::ExponentialBackoff,
}

fn backoff() -> backon::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build()
}

impl OutageRetry {
    /// A retry policy giving up after `retry_duration` of continuous transient failures.
    #[must_use]
    pub fn new(retry_duration: Duration) -> Self {
        Self {
            retry_ms: u64::try_from(retry_duration.as_millis()).unwrap_or(u64::MAX),
            failing_since_ms: None,
            attempts: 0,
            delays: backoff(),
        }
    }

    /// Records a failure of class `class` at `now_ms` and says what to do.
    pub fn step(&mut self, now_ms: u64, class: FailureClass) -> RetryVerdict {
        match class {
            FailureClass::LeaseLost => return RetryVerdict::LeaseLost,
            FailureClass::Permanent => return RetryVerdict::Permanent,
            FailureClass::Transient => {}
        }
        self.attempts = self.attempts.saturating_add(1);
        let since = *self.failing_since_ms.get_or_insert(now_ms);
        let failing_ms = now_ms.saturating_sub(since);
        if failing_ms >= self.retry_ms {
            return RetryVerdict::GiveUp {
                failing_for: Duration::from_millis(failing_ms),
                attempts: self.attempts,
            };
        }
        let left = Duration::from_millis(self.retry_ms - failing_ms);
        let pause = self.delays.next().unwrap_or(Duration::from_secs(5));
        RetryVerdict::RetryAfter(pause.min(left))
    }

    /// A call succeeded: the outage (if any) is over; the next failure starts a new one, with
    /// the whole retry duration and short pauses again.
    pub fn succeeded(&mut self) {
        if self.failing_since_ms.take().is_some() {
            self.attempts = 0;
            self.delays = backoff();
        }
    }

    /// How long calls have been failing at `now_ms` (zero outside an outage).
    #[must_use]
    pub fn failing_for(&self, now_ms: u64) -> Duration {
        Duration::from_millis(
            self.failing_since_ms
                .map_or(0, |since| now_ms.saturating_sub(since)),
        )
    }

    /// Failed attempts in the current outage.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_lease_is_never_retried_even_mid_outage() {
        let mut r = OutageRetry::new(Duration::from_secs(600));
        assert!(matches!(
            r.step(0, FailureClass::Transient),
            RetryVerdict::RetryAfter(_)
        ));
        assert_eq!(r.step(10, FailureClass::LeaseLost), RetryVerdict::LeaseLost);
        assert_eq!(r.step(20, FailureClass::Permanent), RetryVerdict::Permanent);
    }

    #[test]
    fn transient_failures_are_retried_with_growing_pauses_until_the_retry_duration() {
        let mut r = OutageRetry::new(Duration::from_secs(60));
        let mut now = 1_000_u64;
        let mut pauses = Vec::new();
        loop {
            match r.step(now, FailureClass::Transient) {
                RetryVerdict::RetryAfter(p) => {
                    pauses.push(p);
                    // each attempt itself takes 50 ms
                    now += u64::try_from(p.as_millis()).unwrap() + 50;
                }
                RetryVerdict::GiveUp {
                    failing_for,
                    attempts,
                } => {
                    assert!(failing_for >= Duration::from_secs(60), "{failing_for:?}");
                    assert!(
                        failing_for < Duration::from_secs(61),
                        "the last pause ends at the deadline: {failing_for:?}"
                    );
                    assert_eq!(attempts as usize, pauses.len() + 1);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(pauses[0] >= Duration::from_millis(200) && pauses[0] < Duration::from_millis(500));
        assert!(
            pauses.iter().all(|p| *p <= Duration::from_secs(10)),
            "5 s cap plus jitter: {pauses:?}"
        );
        assert!(pauses[5] > pauses[0], "backoff grows: {pauses:?}");
        assert!(
            (8..60).contains(&pauses.len()),
            "a 60 s outage is probed every few seconds, not hammered: {} attempts",
            pauses.len()
        );
    }

    #[test]
    fn the_outage_clock_starts_at_the_first_failure_and_a_success_resets_it() {
        let mut r = OutageRetry::new(Duration::from_secs(10));
        assert!(matches!(
            r.step(5_000, FailureClass::Transient),
            RetryVerdict::RetryAfter(_)
        ));
        assert_eq!(r.failing_for(9_000), Duration::from_secs(4));
        assert!(matches!(
            r.step(14_999, FailureClass::Transient),
            RetryVerdict::RetryAfter(p) if p <= Duration::from_millis(1)
        ));
        r.succeeded();
        assert_eq!(r.attempts(), 0);
        assert_eq!(r.failing_for(20_000), Duration::ZERO);
        // a new outage has the whole duration again
        assert!(matches!(
            r.step(20_000, FailureClass::Transient),
            RetryVerdict::RetryAfter(p) if p < Duration::from_millis(500)
        ));
        assert!(matches!(
            r.step(29_000, FailureClass::Transient),
            RetryVerdict::RetryAfter(_)
        ));
        assert_eq!(
            r.step(30_000, FailureClass::Transient),
            RetryVerdict::GiveUp {
                failing_for: Duration::from_secs(10),
                attempts: 3
            }
        );
    }
}
