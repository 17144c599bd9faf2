//! Allowed ranges of configuration values that had none before: every duration and count of the
//! configuration has an upper bound, and a value outside its range is refused naming the key, the
//! range and the value given.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::{ConfigError, err};

/// `leases.failover_time_ms`: at least 1 s (three heartbeats per failover time), at most 10
/// minutes (a longer failover leaves a crashed worker's shards unread for longer than any
/// stream can sensibly wait; `leases reset` also waits this long).
pub(super) const FAILOVER_TIME_MS: RangeInclusive<u64> = 1_000..=600_000;

/// `source.idle_time_ms`: the pause after an empty GetRecords, at most 1 minute (a shard
/// iterator expires after 5 minutes unused).
pub(super) const IDLE_TIME_MS: RangeInclusive<u64> = 0..=60_000;

/// `leases.retry_duration_s`: how long lease writes are retried through a DynamoDB outage,
/// from 1 s to a day.
pub(super) const LEASE_RETRY_DURATION_S: RangeInclusive<u64> = 1..=86_400;

/// `value` when it lies in `range`, else an error naming `key`, the range (in `unit`) and the
/// value given.
pub(super) fn within<T: PartialOrd + Display>(
    key: &str,
    value: T,
    range: &RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(err(format!(
            "config key `{key}`: must be {}..={} ({unit}), got {value}",
            range.start(),
            range.end()
        )))
    }
}
