//! The shell of one table's [`CommitProtocol`]: performs its actions against the catalog
//! (fenced commits, table loads) and hands back what the record path must do (acknowledge a
//! flush point, stop a shard).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use iceberg::spec::DataFile;
use iceberg::{Catalog, TableIdent};
use kinesink_sequence_position::SequencePosition;

use crate::commit_protocol::{CommitAction, CommitEvent, CommitProtocol, StagedFile, StopReason};
use crate::error::{IcebergErrorClass, IcebergSinkError};
use crate::table_commit::{CommitOutcome, commit_files, load_positions};

/// What the record path must do after the table moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The table holds every record of `shard` up to `up_to`: store the shard's checkpoint
    /// there (the flush protocol's `CheckpointWritten(up_to)`).
    Ack {
        /// The shard.
        shard: String,
        /// The flush point.
        up_to: SequencePosition,
    },
    /// Stop reading `shard`: it cannot be delivered exactly once here.
    Stop {
        /// The shard.
        shard: String,
        /// Why.
        reason: StopReason,
    },
}

/// What one [`TableCommitter::step`] did against the catalog (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Commits that applied.
    pub committed: u32,
    /// Commits that lost the catalog's swap after iceberg-rust's own retries.
    pub conflicts: u32,
    /// Commits the position fence refused.
    pub fenced: u32,
    /// Commits whose outcome was unknown, or that failed.
    pub failed: u32,
    /// Data files the applied commits added.
    pub files: u64,
    /// Their records.
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Time spent in commit calls (applied or not).
    pub commit_time: std::time::Duration,
}

/// Commit rounds (a commit, or a load after a failed one) one call performs at most before it
/// gives up with a transient error (a catalog in a storm of conflicts).
const MAX_ROUNDS: usize = 16;

/// Performs one table's commit protocol.
///
/// Guarantees: every commit goes through [`commit_files`] (the fence); each data file staged
/// with [`TableCommitter::stage`] is added with the entry made from its stored bytes; the
/// protocol's actions are performed in order, and the acknowledgements and stops they lead to
/// are returned, never dropped. After a transient error the protocol waits for the table load
/// it asked for; the next [`TableCommitter::step`] performs that load first.
pub struct TableCommitter {
    catalog: Arc<dyn Catalog>,
    ident: TableIdent,
    name: String,
    protocol: CommitProtocol,
    entries: HashMap<String, DataFile>,
    load_pending: bool,
    report: CommitReport,
}

impl std::fmt::Debug for TableCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCommitter")
            .field("table", &self.ident)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl TableCommitter {
    /// The committer of delivery `name` into `ident`, committing at most once per
    /// `commit_interval_ms`.
    #[must_use]
    pub fn new(
        catalog: Arc<dyn Catalog>,
        ident: TableIdent,
        name: &str,
        commit_interval_ms: u64,
    ) -> Self {
        Self {
            catalog,
            ident,
            name: name.to_owned(),
            protocol: CommitProtocol::new(commit_interval_ms),
            entries: HashMap::new(),
            load_pending: false,
            report: CommitReport::default(),
        }
    }

    /// The table's committed position of every shard of this delivery, read now.
    ///
    /// # Errors
    /// The catalog could not load the table.
    pub async fn table_positions(
        &self,
    ) -> Result<std::collections::BTreeMap<String, SequencePosition>, IcebergSinkError> {
        load_positions(&*self.catalog, &self.ident, &self.name).await
    }

    /// What the last [`TableCommitter::step`] did against the catalog.
    #[must_use]
    pub fn last_report(&self) -> &CommitReport {
        &self.report
    }

    /// The table's identifier.
    #[must_use]
    pub fn table(&self) -> &TableIdent {
        &self.ident
    }

    /// Remembers the entry of a durable data file, for the commit that adds it (keyed by the
    /// file's path, [`StagedFile::key`]).
    pub fn stage(&mut self, file: &StagedFile, entry: DataFile) {
        self.entries.insert(file.key.clone(), entry);
    }

    /// Applies `event` at `now_ms` and performs every action it leads to.
    ///
    /// # Errors
    /// A transient [`IcebergSinkError`]: the catalog failed (call again, with
    /// [`CommitEvent::Tick`], to go on from the table load); a permanent one: the catalog
    /// refused for good, or a commit had a file without a staged entry (a shell bug).
    pub async fn step(
        &mut self,
        now_ms: u64,
        event: CommitEvent,
    ) -> Result<Vec<Settled>, IcebergSinkError> {
        self.report = CommitReport::default();
        let mut settled = Vec::new();
        let mut queue = VecDeque::new();
        if self.load_pending {
            queue.push_back(CommitAction::LoadTable);
            self.load_pending = false;
        }
        queue.extend(self.protocol.step(now_ms, event));
        let mut rounds = 0;
        while let Some(action) = queue.pop_front() {
            let outcome = match action {
                CommitAction::LoadTable | CommitAction::Commit { .. } if rounds == MAX_ROUNDS => {
                    self.load_pending = true;
                    return Err(IcebergSinkError {
                        operation: format!("commit to {}", self.ident),
                        message: format!("{MAX_ROUNDS} commit attempts in a row did not apply"),
                        class: IcebergErrorClass::Transient,
                        source: None,
                    });
                }
                CommitAction::LoadTable => {
                    rounds += 1;
                    match self.table_positions().await {
                        Ok(positions) => CommitEvent::TableLoaded { positions },
                        Err(e) => {
                            self.load_pending = true;
                            return Err(e);
                        }
                    }
                }
                CommitAction::Commit {
                    files,
                    summary,
                    expect,
                } => {
                    rounds += 1;
                    self.commit(&files, summary, expect).await?
                }
                CommitAction::Ack { shard, up_to } => {
                    settled.push(Settled::Ack { shard, up_to });
                    continue;
                }
                CommitAction::StopShard { shard, reason } => {
                    settled.push(Settled::Stop { shard, reason });
                    continue;
                }
                CommitAction::Drop { file } => {
                    self.entries.remove(&file.key);
                    continue;
                }
            };
            queue.extend(self.protocol.step(now_ms, outcome));
        }
        Ok(settled)
    }

    /// Performs one commit; the event telling the protocol how it went.
    async fn commit(
        &mut self,
        files: &[StagedFile],
        summary: crate::table_position::ShardPositions,
        expect: crate::commit_protocol::ExpectedPositions,
    ) -> Result<CommitEvent, IcebergSinkError> {
        let entries = files
            .iter()
            .map(|f| {
                self.entries.get(&f.key).cloned().ok_or_else(|| {
                    IcebergSinkError::permanent(
                        format!("commit to {}", self.ident),
                        format!("file {} has no staged entry", f.key),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let started = std::time::Instant::now();
        let result = commit_files(
            &*self.catalog,
            &self.ident,
            &self.name,
            entries,
            summary,
            expect,
        )
        .await;
        self.report.commit_time += started.elapsed();
        Ok(match result {
            Ok(CommitOutcome::Committed { .. }) => {
                self.report.committed += 1;
                for f in files {
                    self.entries.remove(&f.key);
                    self.report.files += 1;
                    self.report.records += f.records;
                    self.report.bytes += f.bytes;
                }
                CommitEvent::Committed
            }
            Ok(CommitOutcome::Fenced(refusal)) => {
                self.report.fenced += 1;
                CommitEvent::Fenced {
                    positions: refusal.committed,
                }
            }
            Err(e) if e.class() == IcebergErrorClass::Transient => {
                let conflict = e
                    .source
                    .as_ref()
                    .is_some_and(|s| s.kind() == iceberg::ErrorKind::CatalogCommitConflicts);
                if conflict {
                    self.report.conflicts += 1;
                    CommitEvent::Conflict
                } else {
                    self.report.failed += 1;
                    CommitEvent::CommitOutcomeUnknown
                }
            }
            Err(e) => {
                self.report.failed += 1;
                return Err(e);
            }
        })
    }
}
