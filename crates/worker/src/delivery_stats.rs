//! What a worker counts of its deliveries: totals and per-shard progress shared by its shard
//! tasks ([`DeliveryStats`], read by the run summary and the terminal view), and each shard's
//! periodic INFO summary line ([`ShardSummary`]).

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Counters shared by all shard tasks of a worker.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// User records written in objects (data and error output).
    pub records: AtomicU64,
    /// Objects written.
    pub objects: AtomicU64,
    /// Records written to the error output.
    pub failed_records: AtomicU64,
    /// Bytes written (compressed object sizes).
    pub bytes: AtomicU64,
    /// Per-shard progress, for the terminal view.
    pub shards: std::sync::Mutex<std::collections::BTreeMap<String, ShardProgress>>,
}

/// What the terminal progress view shows for one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardProgress {
    /// Kinesis records read.
    pub read: u64,
    /// User records written to S3 (data and error output).
    pub delivered: u64,
    /// MillisBehindLatest of the last read.
    pub millis_behind: Option<i64>,
}

impl DeliveryStats {
    pub(crate) fn update(&self, shard_id: &str, f: impl FnOnce(&mut ShardProgress)) {
        if let Ok(mut map) = self.shards.lock() {
            f(map.entry(shard_id.to_owned()).or_default());
        }
    }

    /// A copy of every shard's progress.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(String, ShardProgress)> {
        self.shards
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// One INFO line per shard per [`ShardSummary::EVERY`] (objects are logged at DEBUG): records
/// read and delivered, objects, bytes and how far behind the shard is.
#[derive(Debug)]
pub struct ShardSummary {
    pub(crate) since: Instant,
    pub(crate) read: u64,
    pub(crate) records: u64,
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
}

impl ShardSummary {
    /// Counts a written data or error-output object (`Some((records, bytes))`); a backup object
    /// (`None`) is not counted.
    pub(crate) fn add_object(&mut self, delivered: Option<(u64, u64)>) {
        if let Some((records, bytes)) = delivered {
            self.objects += 1;
            self.records += records;
            self.bytes += bytes;
        }
    }

    /// How often a shard's summary line is logged.
    pub const EVERY: Duration = Duration::from_secs(60);

    /// A summary starting now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            since: Instant::now(),
            read: 0,
            records: 0,
            objects: 0,
            bytes: 0,
        }
    }

    /// Logs the line and starts the next period once [`ShardSummary::EVERY`] has passed.
    pub(crate) fn log_if_due(&mut self, shard_id: &str, millis_behind: Option<i64>) {
        if self.since.elapsed() < Self::EVERY {
            return;
        }
        tracing::info!(
            shard_id = %shard_id,
            read = self.read,
            delivered = self.records,
            objects = self.objects,
            bytes = self.bytes,
            millis_behind_latest = ?millis_behind,
            period_s = self.since.elapsed().as_secs(),
            "shard summary"
        );
        *self = Self::new();
    }
}

impl Default for ShardSummary {
    fn default() -> Self {
        Self::new()
    }
}
