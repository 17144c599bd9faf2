//! `[leases]`: the DynamoDB lease table, failover and shard-sync timing, this worker's id.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::ScalarValue;
use super::{ConfigError, DEFAULT_FAILOVER_TIME_MS, bounds, check_endpoint};

/// `[leases]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of [leases] keys")]
pub(crate) struct LeasesSection {
    /// Lease table name; default `kinesink-<name>`.
    pub(crate) table: Option<String>,
    /// A lease not renewed for this long may be taken by another worker.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) failover_time_ms: Option<u64>,
    /// This worker's id; default: host name, process id and a random suffix.
    pub(crate) worker_id: Option<String>,
    /// DynamoDB endpoint override.
    pub(crate) endpoint_url: Option<String>,
    /// How often shards are re-listed.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) shard_sync_interval_ms: Option<u64>,
    /// How long a lease-table outage is ridden out.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) retry_duration_s: Option<u64>,
}

/// `[leases]`, validated.
#[derive(Debug)]
pub(super) struct ValidLeases {
    pub(super) table: String,
    pub(super) failover_time: Duration,
    pub(super) shard_sync_interval: Duration,
    pub(super) retry_duration: Duration,
    pub(super) worker_id: String,
    pub(super) dynamodb_endpoint: Option<String>,
}

impl LeasesSection {
    /// Checks every key; `name` is the delivery name (the default table name uses it).
    pub(super) fn validate(self, name: &str) -> Result<ValidLeases, ConfigError> {
        let shard_sync_ms = bounds::within(
            "leases.shard_sync_interval_ms",
            self.shard_sync_interval_ms.unwrap_or(60_000),
            &(1_000..=3_600_000),
            "milliseconds",
        )?;
        let failover_ms = bounds::within(
            "leases.failover_time_ms",
            self.failover_time_ms.unwrap_or(DEFAULT_FAILOVER_TIME_MS),
            &bounds::FAILOVER_TIME_MS,
            "milliseconds",
        )?;
        let retry_s = bounds::within(
            "leases.retry_duration_s",
            self.retry_duration_s.unwrap_or(600),
            &bounds::LEASE_RETRY_DURATION_S,
            "seconds",
        )?;
        Ok(ValidLeases {
            table: self.table.unwrap_or_else(|| format!("kinesink-{name}")),
            failover_time: Duration::from_millis(failover_ms),
            shard_sync_interval: Duration::from_millis(shard_sync_ms),
            retry_duration: Duration::from_secs(retry_s),
            worker_id: self.worker_id.unwrap_or_else(default_worker_id),
            dynamodb_endpoint: check_endpoint("leases.endpoint_url", self.endpoint_url)?,
        })
    }
}

/// Host name, process id and a random suffix: unique per process, readable in `workers`.
fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kinesink".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}
