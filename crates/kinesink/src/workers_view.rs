//! `kinesink workers`: the table of [`TableSnapshot::worker_rows`](kinesink_lease_coordination::TableSnapshot::worker_rows),
//! with the age of each worker's last heartbeat; workers silent for longer than 10 failover
//! times (crashed, or replaced under a new id) are hidden unless `--all` is given.

use kinesink_lease_coordination::{HIDDEN_AFTER_FAILOVER_TIMES, WorkerRow};

/// An age for people: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`; `-` when unknown.
pub(crate) fn age_text(age_ms: Option<u64>) -> String {
    match age_ms {
        None => "-".to_owned(),
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) if ms < 3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        Some(ms) => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// The rows as printed: a header, then one line per worker; a last line says how many were
/// hidden, if any.
pub(crate) fn table_text(rows: &[WorkerRow], hidden: usize) -> String {
    let mut out = format!(
        "{:<48} {:>10} {:>16} {:>7}\n",
        "WORKER", "HEARTBEAT", "LAST HEARTBEAT", "LEASES"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<48} {:>10} {:>16} {:>7}\n",
            r.worker_id,
            r.heartbeat,
            age_text(r.last_heartbeat_age_ms),
            r.leases
        ));
    }
    if hidden > 0 {
        out.push_str(&format!(
            "({hidden} worker(s) silent for more than {HIDDEN_AFTER_FAILOVER_TIMES} failover times hidden; --all shows them)\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kinesink_lease_coordination::{Checkpoint, Lease, TableSnapshot, WorkerHeartbeat};

    use super::*;

    fn worker(id: &str, last_heartbeat_ms: Option<i64>) -> WorkerHeartbeat {
        WorkerHeartbeat {
            worker_id: id.into(),
            counter: 7,
            millis_behind_latest: BTreeMap::new(),
            last_heartbeat_ms,
        }
    }

    fn snapshot() -> TableSnapshot {
        let mut owned = Lease::new("shard-1", vec![], Checkpoint::TrimHorizon);
        owned.owner = Some("live".into());
        TableSnapshot::joined(
            vec![owned],
            vec![
                worker("live", Some(1_000_000 - 2_500)),
                worker("killed", Some(1_000_000 - 30_000)),
                worker("long-dead", Some(1_000_000 - 100_001)),
                worker("unknown-age", None),
            ],
        )
    }

    #[test]
    fn each_worker_shows_its_heartbeat_age_and_those_dead_past_ten_failover_times_are_hidden() {
        let (rows, hidden) = snapshot().worker_rows(1_000_000, 10_000, false);
        let shown: Vec<(&str, Option<u64>, usize)> = rows
            .iter()
            .map(|r| (r.worker_id.as_str(), r.last_heartbeat_age_ms, r.leases))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("live", Some(2_500), 1),
                ("killed", Some(30_000), 0),
                ("unknown-age", None, 0)
            ]
        );
        assert_eq!(hidden, 1);
        let text = table_text(&rows, hidden);
        assert!(text.contains("LAST HEARTBEAT"), "{text}");
        assert!(text.contains("2.5 s") && text.contains("30.0 s"), "{text}");
        assert!(
            !text.contains("long-dead") && text.contains("--all"),
            "{text}"
        );
    }

    #[test]
    fn all_workers_are_shown_with_all() {
        let (rows, hidden) = snapshot().worker_rows(1_000_000, 10_000, true);
        assert_eq!(rows.len(), 4);
        assert_eq!(hidden, 0);
        assert_eq!(rows[2].last_heartbeat_age_ms, Some(100_001));
        assert!(!table_text(&rows, hidden).contains("--all"));
    }

    #[test]
    fn ages_read_as_people_read_them() {
        assert_eq!(age_text(None), "-");
        assert_eq!(age_text(Some(850)), "850 ms");
        assert_eq!(age_text(Some(12_345)), "12.3 s");
        assert_eq!(age_text(Some(245_000)), "4 min 5 s");
        assert_eq!(age_text(Some(7_380_000)), "2 h 3 min");
    }
}
