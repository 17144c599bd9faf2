//! Who is alive in the lease table: each worker's heartbeat age and lease count, for
//! `kinesink workers`.

use crate::TableSnapshot;

/// A worker silent for this many failover times is hidden (it lost every lease long ago; the
/// running workers delete its heartbeat after 6 failover times).
pub const HIDDEN_AFTER_FAILOVER_TIMES: u64 = 10;

/// One line of `kinesink workers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// The worker id.
    pub worker_id: String,
    /// Its heartbeat counter.
    pub heartbeat: u64,
    /// Milliseconds since its last heartbeat (by its own clock against this one), when known.
    pub last_heartbeat_age_ms: Option<u64>,
    /// Leases it owns.
    pub leases: usize,
}

impl TableSnapshot {
    /// The workers of the table as seen at `now_ms` (this host's wall clock, ms since the
    /// epoch, against each heartbeat's informational time), those silent for longer than
    /// [`HIDDEN_AFTER_FAILOVER_TIMES`] × `failover_ms` left out unless `show_all`; returns the
    /// rows and how many were hidden. A worker whose heartbeat time is unknown is always shown.
    #[must_use]
    pub fn worker_rows(
        &self,
        now_ms: i64,
        failover_ms: u64,
        show_all: bool,
    ) -> (Vec<WorkerRow>, usize) {
        let hide_after = failover_ms.saturating_mul(HIDDEN_AFTER_FAILOVER_TIMES);
        let mut hidden = 0;
        let mut rows = Vec::new();
        for w in &self.workers {
            let age = w
                .last_heartbeat_ms
                .map(|at| u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0));
            if !show_all && age.is_some_and(|a| a > hide_after) {
                hidden += 1;
                continue;
            }
            rows.push(WorkerRow {
                worker_id: w.worker_id.clone(),
                heartbeat: w.counter,
                last_heartbeat_age_ms: age,
                leases: self
                    .leases
                    .iter()
                    .filter(|l| l.owner.as_deref() == Some(w.worker_id.as_str()))
                    .count(),
            });
        }
        (rows, hidden)
    }
}
