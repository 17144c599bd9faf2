//! A worker's commits to its Iceberg tables: one task runs the commit protocol of every table
//! the worker's records go to ([`RoutedCommits`]: one per table, the default table last) for
//! every shard the worker holds. Shard tasks tell it when they take a shard (and hear the
//! default table's position for it), hand it each flush point with the data files written
//! since the previous one (of every table), and hear back, through their own channel, when the
//! default table holds the flush point, which it does only after every routed table that got
//! files of it holds them: only then do they write the shard's progress object and lease
//! checkpoint. Commits come at most once per commit interval per table (every shard's pending
//! flush points in one fast-append), at once while draining.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kinesink_iceberg_sink::commit_protocol::CommitEvent;
use kinesink_iceberg_sink::error::IcebergErrorClass;
use kinesink_iceberg_sink::routed_commits::{RoutedCommits, RoutedOutcome, TableFile};
use kinesink_iceberg_sink::table_committer::{CommitReport, Settled};
use kinesink_iceberg_sink::table_files::TableFiles;
use kinesink_iceberg_sink::table_routes::TableRoutes;
use kinesink_sequence_position::SequencePosition;
use tokio::sync::{mpsc, oneshot};

/// What a shard task hears from the table's commit task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAck {
    /// The table holds every record of the shard up to this flush point.
    Committed(SequencePosition),
    /// The shard must stop: it can no longer be delivered exactly once here (the reason).
    Stop(String),
}

/// Why a shard's position in the default table could not be read when it was taken.
///
/// Guarantees: `transient` is true only when waiting can fix it (iceberg-rust's retryable and
/// `Unexpected` failures: a 5xx or throttled metadata read, a dropped catalog connection; see
/// `class_of`); a missing table, a refused credential or a stopped commit task are not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PositionReadError {
    /// What failed, naming the table.
    pub message: String,
    /// Whether the read should be tried again.
    pub transient: bool,
}

impl PositionReadError {
    fn commit_task_stopped() -> Self {
        Self {
            message: "the table's commit task has stopped".to_owned(),
            transient: false,
        }
    }
}

enum Request {
    Taken {
        shard: String,
        acks: mpsc::UnboundedSender<TableAck>,
        reply: oneshot::Sender<Result<Option<SequencePosition>, PositionReadError>>,
    },
    Durable {
        shard: String,
        up_to: SequencePosition,
        files: Vec<TableFile>,
    },
    Released {
        shard: String,
    },
    Drain,
}

/// The handle shard tasks use to reach the tables' commit task (cheap to clone).
///
/// Guarantees: a flush point handed over with [`TableCommits::durable`] is answered on the
/// shard's channel with [`TableAck::Committed`] once (and only once) a commit confirmed the
/// default table holds it (after every routed table holding files of it confirmed them), or
/// with [`TableAck::Stop`]; nothing is acknowledged for a released shard.
#[derive(Clone, Debug)]
pub struct TableCommits {
    requests: mpsc::UnboundedSender<Request>,
    routes: Arc<TableRoutes>,
}

impl TableCommits {
    /// Starts the commit task of `commits` over the tables of `routes`, checking every `tick`
    /// whether a commit interval is over. The task ends when every handle is dropped.
    #[must_use]
    pub fn spawn(commits: RoutedCommits, routes: Arc<TableRoutes>, tick: Duration) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(commits, receiver, tick));
        Self { requests, routes }
    }

    /// Writes the data files of table `id` (`database.table`), if records were routed to it.
    #[must_use]
    pub fn files_of(&self, id: &str) -> Option<TableFiles> {
        self.routes.get(id).map(|t| t.files.clone())
    }

    /// This worker now reads `shard`: its acknowledgements go to `acks`; returns the default
    /// table's position for the shard (reading resumes after it, or after the lease's
    /// checkpoint if that is further).
    ///
    /// # Errors
    /// The table could not be read (the error says why, and whether to try again: the shard is
    /// not taken then, and a later call starts afresh).
    pub async fn taken(
        &self,
        shard: &str,
        acks: mpsc::UnboundedSender<TableAck>,
    ) -> Result<Option<SequencePosition>, PositionReadError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Taken {
                shard: shard.to_owned(),
                acks,
                reply,
            })
            .map_err(|_| PositionReadError::commit_task_stopped())?;
        answer
            .await
            .map_err(|_| PositionReadError::commit_task_stopped())?
    }

    /// Flush point `up_to` of `shard` is reached: `files` are the shard's data files since its
    /// previous flush point, of every table.
    pub fn durable(&self, shard: &str, up_to: SequencePosition, files: Vec<TableFile>) {
        let _ = self.requests.send(Request::Durable {
            shard: shard.to_owned(),
            up_to,
            files,
        });
    }

    /// This worker no longer reads `shard`.
    pub fn released(&self, shard: &str) {
        let _ = self.requests.send(Request::Released {
            shard: shard.to_owned(),
        });
    }

    /// Commit what is pending now, and after every commit from now on (shutting down).
    pub fn drain(&self) {
        let _ = self.requests.send(Request::Drain);
    }
}

/// The commit task.
async fn run(
    mut commits: RoutedCommits,
    mut requests: mpsc::UnboundedReceiver<Request>,
    tick: Duration,
) {
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut shards: HashMap<String, mpsc::UnboundedSender<TableAck>> = HashMap::new();
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let outcome = tokio::select! {
            request = requests.recv() => match request {
                None => return,
                Some(Request::Taken { shard, acks, reply }) => {
                    match commits.taken(now_ms(), &shard).await {
                        Ok((committed, outcome)) => {
                            shards.insert(shard.clone(), acks);
                            let _ = reply.send(Ok(committed));
                            outcome
                        }
                        Err(e) => {
                            let _ = reply.send(Err(PositionReadError {
                                message: e.to_string(),
                                transient: e.class() == IcebergErrorClass::Transient,
                            }));
                            continue;
                        }
                    }
                }
                Some(Request::Durable { shard, up_to, files }) => {
                    commits.durable(now_ms(), &shard, up_to, files).await
                }
                Some(Request::Released { shard }) => {
                    shards.remove(&shard);
                    commits.released(now_ms(), &shard).await
                }
                Some(Request::Drain) => commits.step(now_ms(), CommitEvent::Drain).await,
            },
            _ = ticks.tick() => commits.step(now_ms(), CommitEvent::Tick).await,
        };
        settle(&shards, outcome);
    }
}

/// Records what the commits did and tells the shards.
fn settle(shards: &HashMap<String, mpsc::UnboundedSender<TableAck>>, outcome: RoutedOutcome) {
    for (table, report) in &outcome.reports {
        record_metrics(&table.to_string(), report);
    }
    for e in &outcome.transient {
        tracing::warn!(error = %e, "Iceberg commit failed; retrying at the next tick (nothing is acknowledged meanwhile)");
    }
    for s in outcome.settled {
        if let Settled::Stop { reason, .. } = &s {
            tracing::error!(%reason, "a shard's Iceberg commits stopped");
        }
        dispatch(shards, s);
    }
}

/// Counts what one committer's step did against the catalog.
fn record_metrics(table: &str, report: &CommitReport) {
    use kinesink_metric_names as m;
    if report == &CommitReport::default() {
        return;
    }
    // Every counter of the table is touched, at zero too, so its series (failures, conflicts)
    // exist from the first commit step on.
    let count = |name: &'static str, value: u64| {
        metrics::counter!(name, "table" => table.to_owned()).increment(value);
    };
    count(m::ICEBERG_COMMITS, u64::from(report.committed));
    count(m::ICEBERG_COMMIT_CONFLICTS, u64::from(report.conflicts));
    count(m::ICEBERG_COMMITS_FENCED, u64::from(report.fenced));
    count(m::ICEBERG_COMMIT_FAILURES, u64::from(report.failed));
    count(m::ICEBERG_COMMITTED_FILES, report.files);
    count(m::ICEBERG_COMMITTED_RECORDS, report.records);
    count(m::ICEBERG_COMMITTED_BYTES, report.bytes);
    let micros = u64::try_from(report.commit_time.as_micros()).unwrap_or(u64::MAX);
    count(m::ICEBERG_COMMIT_MICROSECONDS, micros);
    let attempts = report.committed + report.conflicts + report.fenced + report.failed;
    if attempts > 0 {
        metrics::gauge!(m::ICEBERG_LAST_COMMIT_SECONDS, "table" => table.to_owned())
            .set(report.commit_time.as_secs_f64() / f64::from(attempts));
    }
    if report.fenced > 0 {
        tracing::info!(table = %table, "an Iceberg commit was fenced: the table held other positions for a shard (a zombie, a successor, or an earlier commit whose answer was lost); reconciled with the table");
    }
}

fn dispatch(shards: &HashMap<String, mpsc::UnboundedSender<TableAck>>, settled: Settled) {
    match settled {
        Settled::Ack { shard, up_to } => {
            if let Some(acks) = shards.get(&shard) {
                let _ = acks.send(TableAck::Committed(up_to));
            }
        }
        Settled::Stop { shard, reason } => {
            if let Some(acks) = shards.get(&shard) {
                let _ = acks.send(TableAck::Stop(format!("shard {shard}: {reason}")));
            }
        }
    }
}
