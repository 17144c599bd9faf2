//! Reports shards that make no progress while their lease is held, never silently: a shard
//! task that has not completed a step of its loop (a read batch delivered, a buffer tick) for
//! `processing.stall_timeout_s` is logged at ERROR, counted in the `kinesink_stalled_shards`
//! gauge, and makes `/readyz` unready until it moves again.
//!
//! The check runs on its own OS thread, so a shard task that blocks the async runtime's threads
//! is still reported.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The progress of every shard task of a worker.
///
/// Guarantees: a shard whose last progress is older than the timeout at a [`StallWatch::check`]
/// is reported stalled by that check (once, until it progresses again or is forgotten); a
/// shard that progresses is never reported stalled before the timeout has passed since.
#[derive(Debug)]
pub struct StallWatch {
    timeout: Duration,
    shards: Mutex<BTreeMap<String, ShardWatch>>,
    stalled: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct ShardWatch {
    last_progress: Instant,
    stalled: bool,
}

/// What a [`StallWatch::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StallReport {
    /// Shards found stalled by this check, with how long since their last progress.
    pub newly_stalled: Vec<(String, Duration)>,
    /// Shards that were stalled and have progressed since.
    pub recovered: Vec<String>,
    /// Shards stalled now.
    pub stalled: usize,
}

impl StallWatch {
    /// A watch that reports shards without progress for `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            shards: Mutex::new(BTreeMap::new()),
            stalled: AtomicUsize::new(0),
        }
    }

    /// The configured timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Records that `shard_id`'s task made progress at `now` (and watches it from then on).
    pub fn progressed(&self, shard_id: &str, now: Instant) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        match shards.get_mut(shard_id) {
            Some(w) => w.last_progress = now,
            None => {
                shards.insert(
                    shard_id.to_owned(),
                    ShardWatch {
                        last_progress: now,
                        stalled: false,
                    },
                );
            }
        }
    }

    /// Stops watching `shard_id` (its task ended).
    pub fn forget(&self, shard_id: &str) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.remove(shard_id);
        let stalled = shards.values().filter(|w| w.stalled).count();
        self.stalled.store(stalled, Ordering::Relaxed);
    }

    /// Checks every watched shard at `now`.
    pub fn check(&self, now: Instant) -> StallReport {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = StallReport::default();
        for (shard_id, w) in shards.iter_mut() {
            let quiet = now.saturating_duration_since(w.last_progress);
            let stalled = quiet >= self.timeout;
            if stalled && !w.stalled {
                report.newly_stalled.push((shard_id.clone(), quiet));
            } else if !stalled && w.stalled {
                report.recovered.push(shard_id.clone());
            }
            w.stalled = stalled;
            report.stalled += usize::from(stalled);
        }
        self.stalled.store(report.stalled, Ordering::Relaxed);
        report
    }

    /// Whether the last check found a stalled shard.
    #[must_use]
    pub fn any_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed) > 0
    }
}

/// Starts the thread that checks `watch` every `period` (a tenth of the timeout, between 100 ms
/// and 10 s), logs and counts what it finds, and clears `ready` while a shard is stalled. The
/// thread ends once `watch` is dropped.
///
/// # Errors
/// The thread cannot be started.
pub fn spawn_watchdog(
    watch: &Arc<StallWatch>,
    ready: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let period = (watch.timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let watch: Weak<StallWatch> = Arc::downgrade(watch);
    std::thread::Builder::new()
        .name("kinesink-stall-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                let Some(watch) = watch.upgrade() else {
                    return;
                };
                let report = watch.check(Instant::now());
                for (shard_id, quiet) in &report.newly_stalled {
                    tracing::error!(
                        shard_id = %shard_id,
                        seconds_without_progress = quiet.as_secs(),
                        stall_timeout_s = watch.timeout.as_secs(),
                        "shard stalled: its lease is held but it has made no progress (processing.stall_timeout_s); the worker reports unready"
                    );
                }
                for shard_id in &report.recovered {
                    tracing::info!(shard_id = %shard_id, "stalled shard is making progress again");
                }
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(kinesink_metric_names::STALLED_SHARDS).set(report.stalled as f64);
                if report.stalled > 0 {
                    ready.store(false, Ordering::Relaxed);
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_without_progress_for_the_timeout_is_reported_once_then_recovers() {
        let t0 = Instant::now();
        let watch = StallWatch::new(Duration::from_secs(300));
        watch.progressed("a", t0);
        watch.progressed("b", t0);
        assert_eq!(
            watch.check(t0 + Duration::from_secs(299)),
            StallReport::default()
        );
        assert!(!watch.any_stalled());
        watch.progressed("b", t0 + Duration::from_secs(200));
        let report = watch.check(t0 + Duration::from_secs(300));
        assert_eq!(
            report.newly_stalled,
            vec![("a".to_owned(), Duration::from_secs(300))]
        );
        assert_eq!(report.stalled, 1);
        assert!(watch.any_stalled());
        // Reported once, still counted.
        let again = watch.check(t0 + Duration::from_secs(400));
        assert!(again.newly_stalled.is_empty());
        assert_eq!(again.stalled, 1);
        watch.progressed("a", t0 + Duration::from_secs(450));
        let later = watch.check(t0 + Duration::from_secs(460));
        assert_eq!(later.recovered, vec!["a".to_owned()]);
        assert_eq!(later.stalled, 0);
        assert!(!watch.any_stalled());
    }

    #[test]
    fn a_forgotten_shard_is_no_longer_stalled() {
        let t0 = Instant::now();
        let watch = StallWatch::new(Duration::from_secs(1));
        watch.progressed("a", t0);
        assert_eq!(watch.check(t0 + Duration::from_secs(2)).stalled, 1);
        watch.forget("a");
        assert!(!watch.any_stalled());
        assert_eq!(watch.check(t0 + Duration::from_secs(3)).stalled, 0);
    }

    #[test]
    fn the_watchdog_clears_readiness_while_a_shard_is_stalled_and_ends_with_the_watch() {
        let watch = Arc::new(StallWatch::new(Duration::from_millis(200)));
        let ready = Arc::new(AtomicBool::new(true));
        watch.progressed("a", Instant::now());
        let thread = spawn_watchdog(&watch, ready.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ready.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !ready.load(Ordering::Relaxed),
            "a stalled shard makes the worker unready"
        );
        assert!(watch.any_stalled());
        drop(watch);
        thread.join().unwrap();
    }
}
