//! A worker's commits to its Iceberg table: one task runs the table's commit protocol
//! ([`TableCommitter`]) for every shard the worker holds. Shard tasks tell it when they take a
//! shard (and hear the table's position for it), hand it each flush point with the data files
//! written since the previous one, and hear back, through their own channel, when the table
//! holds the flush point: only then do they write the shard's progress object and lease
//! checkpoint. Commits come at most once per commit interval (every shard's pending flush
//! points in one fast-append), at once while draining.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use iceberg::spec::DataFile;
use kinesink_iceberg_sink::IcebergErrorClass;
use kinesink_iceberg_sink::commit_protocol::{CommitEvent, StagedFile};
use kinesink_iceberg_sink::table_committer::{Settled, TableCommitter};
use kinesink_iceberg_sink::table_files::TableFiles;
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

enum Request {
    Taken {
        shard: String,
        acks: mpsc::UnboundedSender<TableAck>,
        reply: oneshot::Sender<Result<Option<SequencePosition>, String>>,
    },
    Durable {
        shard: String,
        up_to: SequencePosition,
        files: Vec<(StagedFile, DataFile)>,
    },
    Released {
        shard: String,
    },
    Drain,
}

/// The handle shard tasks use to reach the table's commit task (cheap to clone).
///
/// Guarantees: a flush point handed over with [`TableCommits::durable`] is answered on the
/// shard's channel with [`TableAck::Committed`] once (and only once) a commit confirmed the
/// table holds it, or with [`TableAck::Stop`]; nothing is acknowledged for a released shard.
#[derive(Clone, Debug)]
pub struct TableCommits {
    requests: mpsc::UnboundedSender<Request>,
    files: TableFiles,
}

impl TableCommits {
    /// Starts the commit task of `committer`, checking every `tick` whether the commit
    /// interval is over; data files are written with `files`. The task ends when every handle
    /// is dropped.
    #[must_use]
    pub fn spawn(committer: TableCommitter, files: TableFiles, tick: Duration) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(committer, receiver, tick));
        Self { requests, files }
    }

    /// Writes this table's data files.
    #[must_use]
    pub fn files(&self) -> &TableFiles {
        &self.files
    }

    /// This worker now reads `shard`: its acknowledgements go to `acks`; returns the table's
    /// position for the shard (reading resumes after it, or after the lease's checkpoint if
    /// that is further).
    ///
    /// # Errors
    /// The table could not be read (the message says why).
    pub async fn taken(
        &self,
        shard: &str,
        acks: mpsc::UnboundedSender<TableAck>,
    ) -> Result<Option<SequencePosition>, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Taken {
                shard: shard.to_owned(),
                acks,
                reply,
            })
            .map_err(|_| "the table's commit task has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the table's commit task has stopped".to_owned())?
    }

    /// Flush point `up_to` of `shard` is reached: `files` are the shard's data files since its
    /// previous flush point.
    pub fn durable(
        &self,
        shard: &str,
        up_to: SequencePosition,
        files: Vec<(StagedFile, DataFile)>,
    ) {
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
    mut committer: TableCommitter,
    mut requests: mpsc::UnboundedReceiver<Request>,
    tick: Duration,
) {
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut shards: HashMap<String, mpsc::UnboundedSender<TableAck>> = HashMap::new();
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            request = requests.recv() => match request {
                None => return,
                Some(Request::Taken { shard, acks, reply }) => {
                    let committed = match committer.table_positions().await {
                        Ok(mut positions) => positions.remove(&shard),
                        Err(e) => {
                            let _ = reply.send(Err(e.to_string()));
                            continue;
                        }
                    };
                    shards.insert(shard.clone(), acks);
                    let _ = reply.send(Ok(committed.clone()));
                    CommitEvent::ShardTaken { shard, committed }
                }
                Some(Request::Durable { shard, up_to, files }) => {
                    let files = files
                        .into_iter()
                        .map(|(staged, entry)| {
                            committer.stage(&staged, entry);
                            staged
                        })
                        .collect();
                    CommitEvent::FilesDurable { shard, up_to, files }
                }
                Some(Request::Released { shard }) => {
                    shards.remove(&shard);
                    CommitEvent::ShardReleased { shard }
                }
                Some(Request::Drain) => CommitEvent::Drain,
            },
            _ = ticks.tick() => CommitEvent::Tick,
        };
        let result = committer.step(now_ms(), event).await;
        record_metrics(&committer);
        match result {
            Ok(settled) => {
                for s in settled {
                    dispatch(&shards, s);
                }
            }
            Err(e) if e.class() == IcebergErrorClass::Transient => {
                tracing::warn!(error = %e, "Iceberg commit failed; retrying at the next tick (nothing is acknowledged meanwhile)");
            }
            Err(e) => {
                tracing::error!(error = %e, "Iceberg commit refused for a reason waiting does not fix; stopping every shard of the table");
                for (shard, acks) in shards.drain() {
                    let _ = acks.send(TableAck::Stop(format!("shard {shard}: {e}")));
                }
            }
        }
    }
}

/// Counts what the last step did against the catalog.
fn record_metrics(committer: &TableCommitter) {
    use kinesink_metric_names as m;
    let report = committer.last_report();
    if report == &Default::default() {
        return;
    }
    let table = committer.table().to_string();
    // Every counter of the table is touched, at zero too, so its series (failures, conflicts)
    // exist from the first commit step on.
    let count = |name: &'static str, value: u64| {
        metrics::counter!(name, "table" => table.clone()).increment(value);
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
        metrics::gauge!(m::ICEBERG_LAST_COMMIT_SECONDS, "table" => table.clone())
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
