//! The lease table's part of the chaos test (`tests/chaos.rs`): the whole table dropped while
//! workers run (DeleteTable on the DynamoDB stand-in itself, not through the workers' proxy), and
//! a DynamoDB outage: every request through the workers' proxy refused for a stretch of time
//! while events are still produced, with each worker's `/readyz` watched during it and after.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::fault_proxy::FaultProxy;
use super::worker_endpoints::http_status;
use super::{aws, kinesink};

/// Drops the whole lease table `table` on the DynamoDB stand-in (not through any proxy).
pub async fn drop_lease_table(table: &str) {
    aws_sdk_dynamodb::Client::new(&aws().await)
        .delete_table()
        .table_name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("dropping the lease table {table}: {e:?}"));
}

/// How many lines of the `*.log` files in `dir` contain `needle`.
pub fn log_lines_containing(dir: &Path, needle: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(needle))
                .count()
        })
        .sum()
}

/// How long into the outage a running worker may still answer `/readyz` 200: its lease cycle (a
/// third of the failover time) plus the SDK's own retries of the refused heartbeat, with margin.
const UNREADY_WITHIN: Duration = Duration::from_secs(10);
/// How long after the outage every worker slot must have answered `/readyz` 200 again.
pub const READY_AGAIN_WITHIN: Duration = Duration::from_secs(60);
/// Events produced per second during the outage.
const RATE: u64 = 50;

/// A DynamoDB outage in progress or over. Workers are given by slot as (id, `/readyz` port).
pub struct DynamoDbOutage {
    began: Instant,
    length: Duration,
    ended: Option<Instant>,
    /// Ids of the workers running and serving `/readyz` when it began.
    at_start: BTreeSet<String>,
    /// Those of them still running `UNREADY_WITHIN` into it: each must have answered 503.
    expected_unready: Option<BTreeSet<String>>,
    /// Workers that answered `/readyz` 503 during it.
    unready: BTreeSet<String>,
    /// Slots whose worker answered `/readyz` 200 since it ended.
    ready_again: BTreeSet<usize>,
    /// When every slot had (time since the end).
    ready_again_after: Option<Duration>,
    prefix: String,
    count: u64,
    producer: Option<std::thread::JoinHandle<()>>,
}

/// What the outage did, for the chaos test's report and assertions.
#[derive(Debug)]
pub struct OutageReport {
    pub length: Duration,
    /// DynamoDB requests the proxy refused during it.
    pub refused: u64,
    /// Workers running from its start to `UNREADY_WITHIN` into it (each must be in `unready`).
    pub expected_unready: BTreeSet<String>,
    pub unready: BTreeSet<String>,
    /// How long after its end every worker slot answered `/readyz` 200 (None: not within
    /// `READY_AGAIN_WITHIN`).
    pub ready_again_after: Option<Duration>,
    /// The events produced during it: `<prefix>-0 .. <prefix>-(n-1)`.
    pub produced: (String, u64),
}

impl DynamoDbOutage {
    /// Starts refusing every request through `proxy` (the workers' DynamoDB endpoint) for
    /// `length`, and producing events meanwhile (to the fake Kinesis at `kinesis_endpoint` when
    /// given), ids `<stream>-outage-<i>`.
    pub fn begin(
        proxy: &FaultProxy,
        length: Duration,
        workers: &[(String, u16)],
        stream: &str,
        kinesis_endpoint: Option<&str>,
    ) -> Self {
        proxy.set_outage(true);
        let count = RATE * length.as_secs().saturating_sub(10).max(1);
        let prefix = format!("{stream}-outage");
        let mut cmd = kinesink();
        if let Some(e) = kinesis_endpoint {
            cmd.env("AWS_ENDPOINT_URL_KINESIS", e);
        }
        cmd.args(["produce", "--stream", stream, "--count", &count.to_string()])
            .args(["--rate", &RATE.to_string(), "--id-prefix", &prefix]);
        let producer = std::thread::spawn(move || {
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "produce during the outage failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        Self {
            began: Instant::now(),
            length,
            ended: None,
            // A worker still starting (its preflight waits for DynamoDB before it serves
            // `/readyz`, e.g. one restarted after a kill -9 an instant ago) is not counted:
            // only workers already answering `/readyz` must turn 503.
            at_start: workers
                .iter()
                .filter(|(_, port)| http_status(*port, "/readyz") != 0)
                .map(|(id, _)| id.clone())
                .collect(),
            expected_unready: None,
            unready: BTreeSet::new(),
            ready_again: BTreeSet::new(),
            ready_again_after: None,
            prefix,
            count,
            producer: Some(producer),
        }
    }

    /// Called every round of the chaos loop: records which workers answer `/readyz` 503 during
    /// the outage, ends it once its length has passed, then records which slots answer 200.
    pub fn observe(&mut self, proxy: &FaultProxy, workers: &[(String, u16)]) {
        let now = Instant::now();
        match self.ended {
            None => {
                for (id, port) in workers {
                    if http_status(*port, "/readyz") == 503 {
                        self.unready.insert(id.clone());
                    }
                }
                if self.expected_unready.is_none()
                    && now - self.began >= UNREADY_WITHIN.min(self.length)
                {
                    let running = workers.iter().map(|(id, _)| id);
                    let since_start = running.filter(|id| self.at_start.contains(*id));
                    self.expected_unready = Some(since_start.cloned().collect());
                }
                if now - self.began >= self.length {
                    proxy.set_outage(false);
                    self.ended = Some(now);
                    eprintln!(
                        "chaos: DynamoDB back after {:?} ({} requests refused)",
                        self.length,
                        proxy.counters.refused_in_outage.load(Ordering::Relaxed)
                    );
                }
            }
            Some(ended) if self.ready_again_after.is_none() => {
                for (slot, (_, port)) in workers.iter().enumerate() {
                    if http_status(*port, "/readyz") == 200 {
                        self.ready_again.insert(slot);
                    }
                }
                if self.ready_again.len() == workers.len() {
                    self.ready_again_after = Some(now - ended);
                    eprintln!(
                        "chaos: every worker ready again {:?} after the outage",
                        now - ended
                    );
                }
            }
            Some(_) => {}
        }
    }

    /// Whether the outage is over and every slot was ready again (or that took longer than
    /// `READY_AGAIN_WITHIN`, which the report shows).
    pub fn done(&self) -> bool {
        self.ended
            .is_some_and(|e| self.ready_again_after.is_some() || e.elapsed() > READY_AGAIN_WITHIN)
    }

    /// Ends the outage if still on, waits for its producer and reports.
    pub fn finish(mut self, proxy: &FaultProxy) -> OutageReport {
        proxy.set_outage(false);
        if let Some(producer) = self.producer.take() {
            producer.join().expect("the producer of the outage");
        }
        OutageReport {
            length: self.length,
            refused: proxy.counters.refused_in_outage.load(Ordering::Relaxed),
            expected_unready: self.expected_unready.unwrap_or_default(),
            unready: self.unready,
            ready_again_after: self.ready_again_after,
            produced: (self.prefix, self.count),
        }
    }
}
