//! One worker's commits to every table its records are routed to: one [`TableCommitter`] per
//! table, the routed tables' commits of a flush point before the default table's
//! ([`CheckpointOrder`]), and a shard's flush point acknowledged only once the default table
//! (the checkpoint table) holds it. The crate docs give the protocol and why it is exactly
//! once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use iceberg::spec::DataFile;
use iceberg::{Catalog, TableIdent};
use kinesink_sequence_position::SequencePosition;

use crate::checkpoint_order::{CheckpointOrder, Released};
use crate::commit_protocol::{CommitEvent, StagedFile, StopReason};
use crate::error::{IcebergErrorClass, IcebergSinkError};
use crate::table_committer::{CommitReport, Settled, TableCommitter};
use crate::table_routes::TableRoutes;

/// A durable data file of table `table` (an id, `database.table`), with its entry.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// The table's id.
    pub table: String,
    /// What the commit protocol needs of it.
    pub staged: StagedFile,
    /// Its data-file entry.
    pub entry: DataFile,
}

/// What one call did: the acknowledgements and stops for the record path, what each table's
/// committer did against the catalog (for metrics), and the transient failures (for logs; the
/// next [`RoutedCommits::step`] goes on from them).
#[derive(Debug, Default)]
pub struct RoutedOutcome {
    /// Flush points the default table holds, and shards that must stop.
    pub settled: Vec<Settled>,
    /// `(table, report)` of every committer stepped.
    pub reports: Vec<(TableIdent, CommitReport)>,
    /// Failures waiting may fix.
    pub transient: Vec<IcebergSinkError>,
}

struct RoutedTable {
    committer: TableCommitter,
    /// Shards its protocol was told about (taken lazily, at their first files here).
    shards: BTreeSet<String>,
    /// Flush points' files not handed to the protocol yet, oldest first: the table's position
    /// for their shard could not be read yet (a transient failure; tried again at each step).
    unread: Vec<UnreadFiles>,
}

/// Files of one flush point of a shard, kept for a routed table.
struct UnreadFiles {
    shard: String,
    up_to: SequencePosition,
    files: Vec<StagedFile>,
}

/// The commits of one worker over a destination's tables.
///
/// Guarantees: a shard's flush point is acknowledged ([`Settled::Ack`]) only after the default
/// table's commit of it was confirmed, and that commit is asked for only after every routed
/// table that got files of the flush point (or of an earlier one) confirmed them; a shard's
/// position is the default table's; a routed table learns a shard's position from the table
/// itself when the shard's first files for it come (a read that fails transiently is tried
/// again at each step, the files kept in order meanwhile); a table that fails for good stops the
/// shards waiting for it (the default table: every shard).
pub struct RoutedCommits {
    routes: Arc<TableRoutes>,
    catalog: Arc<dyn Catalog>,
    name: String,
    commit_interval_ms: u64,
    default_id: String,
    default: TableCommitter,
    routed: BTreeMap<String, RoutedTable>,
    order: CheckpointOrder<Vec<StagedFile>>,
    taken: BTreeSet<String>,
}

impl std::fmt::Debug for RoutedCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedCommits")
            .field("default", &self.default_id)
            .field("routed", &self.routed.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RoutedCommits {
    /// The commits of delivery `name` into the tables of `routes` (through `catalog`), each
    /// table committed at most once per `commit_interval_ms`.
    #[must_use]
    pub fn new(
        routes: Arc<TableRoutes>,
        catalog: Arc<dyn Catalog>,
        name: &str,
        commit_interval_ms: u64,
    ) -> Self {
        let default = routes.default_table();
        let committer = TableCommitter::new(
            Arc::clone(&catalog),
            default.target.ident.clone(),
            name,
            commit_interval_ms,
        );
        Self {
            default_id: default.id.to_string(),
            routes,
            catalog,
            name: name.to_owned(),
            commit_interval_ms,
            default: committer,
            routed: BTreeMap::new(),
            order: CheckpointOrder::new(),
            taken: BTreeSet::new(),
        }
    }

    /// The default table's committer (its positions are the shards' positions).
    #[must_use]
    pub fn default_committer(&self) -> &TableCommitter {
        &self.default
    }

    /// Remembers `file`'s entry in its table's committer before [`RoutedCommits::durable`].
    fn stage(&mut self, file: &TableFile) {
        if file.table == self.default_id {
            self.default.stage(&file.staged, file.entry.clone());
        } else if let Some(routed) = self.routed.get_mut(&file.table) {
            routed.committer.stage(&file.staged, file.entry.clone());
        }
    }

    /// This worker now reads `shard`; returns the default table's position for it (the shard
    /// resumes after it, or after its lease checkpoint if that is further). The routed tables
    /// forget what they knew of it and read their own positions at its next files.
    ///
    /// # Errors
    /// The default table could not be read.
    pub async fn taken(
        &mut self,
        now_ms: u64,
        shard: &str,
    ) -> Result<(Option<SequencePosition>, RoutedOutcome), IcebergSinkError> {
        let committed = self.default.table_positions().await?.remove(shard);
        let mut out = RoutedOutcome::default();
        self.forget_routed(now_ms, shard, &mut out).await;
        self.order.forget(shard);
        self.taken.insert(shard.to_owned());
        let taken = CommitEvent::ShardTaken {
            shard: shard.to_owned(),
            committed: committed.clone(),
        };
        self.step_default(now_ms, taken, &mut out).await;
        Ok((committed, out))
    }

    /// This worker no longer reads `shard`.
    pub async fn released(&mut self, now_ms: u64, shard: &str) -> RoutedOutcome {
        let mut out = RoutedOutcome::default();
        self.forget_routed(now_ms, shard, &mut out).await;
        self.order.forget(shard);
        self.taken.remove(shard);
        let released = CommitEvent::ShardReleased {
            shard: shard.to_owned(),
        };
        self.step_default(now_ms, released, &mut out).await;
        out
    }

    /// Flush point `up_to` of `shard` is reached: `files` are the shard's data files since its
    /// previous flush point, of every table.
    pub async fn durable(
        &mut self,
        now_ms: u64,
        shard: &str,
        up_to: SequencePosition,
        files: Vec<TableFile>,
    ) -> RoutedOutcome {
        let mut out = RoutedOutcome::default();
        let mut by_table: BTreeMap<String, Vec<StagedFile>> = BTreeMap::new();
        let mut default_files = Vec::new();
        for file in files {
            if file.table != self.default_id
                && let Err(reason) = self.routed_for(&file.table)
            {
                self.stop(shard, reason, &mut out);
                return out;
            }
            self.stage(&file);
            if file.table == self.default_id {
                default_files.push(file.staged);
            } else {
                by_table.entry(file.table).or_default().push(file.staged);
            }
        }
        let waiting: BTreeSet<String> = by_table.keys().cloned().collect();
        let released = self
            .order
            .flush_point(shard, up_to.clone(), waiting, default_files);
        self.hand_to_default(now_ms, released, &mut out).await;
        for (table, files) in by_table {
            if let Some(routed) = self.routed.get_mut(&table) {
                routed.unread.push(UnreadFiles {
                    shard: shard.to_owned(),
                    up_to: up_to.clone(),
                    files,
                });
            }
            self.hand_unread(now_ms, &table, &mut out).await;
        }
        out
    }

    /// Applies `event` (a [`CommitEvent::Tick`] or [`CommitEvent::Drain`]) to every table:
    /// the routed tables first, so that the flush points they confirm reach the default table
    /// in the same call.
    pub async fn step(&mut self, now_ms: u64, event: CommitEvent) -> RoutedOutcome {
        let mut out = RoutedOutcome::default();
        let tables: Vec<String> = self.routed.keys().cloned().collect();
        for table in tables {
            self.hand_unread(now_ms, &table, &mut out).await;
            self.step_routed(now_ms, &table, event.clone(), &mut out)
                .await;
        }
        self.step_default(now_ms, event, &mut out).await;
        out
    }

    /// The committer of routed table `table`, made when it is first needed.
    fn routed_for(&mut self, table: &str) -> Result<&mut RoutedTable, String> {
        if !self.routed.contains_key(table) {
            let open = self
                .routes
                .get(table)
                .ok_or_else(|| format!("data file of table {table}, which is not open"))?;
            let committer = TableCommitter::new(
                Arc::clone(&self.catalog),
                open.target.ident.clone(),
                &self.name,
                self.commit_interval_ms,
            );
            self.routed.insert(
                table.to_owned(),
                RoutedTable {
                    committer,
                    shards: BTreeSet::new(),
                    unread: Vec::new(),
                },
            );
        }
        self.routed
            .get_mut(table)
            .ok_or_else(|| format!("table {table} has no committer"))
    }

    /// Tells routed table `table` about `shard` (with the table's position for it) unless it
    /// knows it already.
    async fn taken_by(&mut self, table: &str, shard: &str) -> Result<(), IcebergSinkError> {
        let Some(routed) = self.routed.get_mut(table) else {
            return Ok(());
        };
        if routed.shards.contains(shard) {
            return Ok(());
        }
        let committed = routed.committer.table_positions().await?.remove(shard);
        routed.shards.insert(shard.to_owned());
        let settled = routed
            .committer
            .step(
                0,
                CommitEvent::ShardTaken {
                    shard: shard.to_owned(),
                    committed,
                },
            )
            .await?;
        // Taking a shard settles nothing but an unusable shard id, which the default table
        // already stopped.
        drop(settled);
        Ok(())
    }

    /// Hands routed table `table` the files kept for it, oldest first, each after the table's
    /// position for its shard is known. A transient read failure keeps them (for the next
    /// call: every [`RoutedCommits::step`] makes one); a permanent one stops the shard.
    async fn hand_unread(&mut self, now_ms: u64, table: &str, out: &mut RoutedOutcome) {
        loop {
            let Some(next) = self
                .routed
                .get_mut(table)
                .filter(|r| !r.unread.is_empty())
                .map(|r| r.unread.remove(0))
            else {
                return;
            };
            match self.taken_by(table, &next.shard).await {
                Ok(()) => {
                    let durable = CommitEvent::FilesDurable {
                        shard: next.shard,
                        up_to: next.up_to,
                        files: next.files,
                    };
                    self.step_routed(now_ms, table, durable, out).await;
                }
                Err(e) if e.class() == IcebergErrorClass::Transient => {
                    if let Some(routed) = self.routed.get_mut(table) {
                        routed.unread.insert(0, next);
                    }
                    out.transient.push(e);
                    return;
                }
                Err(e) => {
                    let reason = format!("reading table {table}'s position: {e}");
                    self.stop(&next.shard, reason, out);
                }
            }
        }
    }

    /// Drops the files kept for any routed table of `shard`.
    fn drop_unread(&mut self, shard: &str) {
        for routed in self.routed.values_mut() {
            routed.unread.retain(|u| u.shard != shard);
        }
    }

    async fn forget_routed(&mut self, now_ms: u64, shard: &str, out: &mut RoutedOutcome) {
        self.drop_unread(shard);
        let tables: Vec<String> = self
            .routed
            .iter()
            .filter(|(_, r)| r.shards.contains(shard))
            .map(|(t, _)| t.clone())
            .collect();
        for table in tables {
            if let Some(routed) = self.routed.get_mut(&table) {
                routed.shards.remove(shard);
            }
            let released = CommitEvent::ShardReleased {
                shard: shard.to_owned(),
            };
            self.step_routed(now_ms, &table, released, out).await;
        }
    }

    async fn step_routed(
        &mut self,
        now_ms: u64,
        table: &str,
        event: CommitEvent,
        out: &mut RoutedOutcome,
    ) {
        let Some(routed) = self.routed.get_mut(table) else {
            return;
        };
        let result = routed.committer.step(now_ms, event).await;
        out.reports.push((
            routed.committer.table().clone(),
            routed.committer.last_report().clone(),
        ));
        match result {
            Ok(settled) => {
                for s in settled {
                    match s {
                        Settled::Ack { shard, up_to } => {
                            let released = self.order.acknowledged(table, &shard, &up_to);
                            self.hand_to_default(now_ms, released, out).await;
                        }
                        Settled::Stop { shard, reason } => {
                            self.stop(&shard, format!("table {table}: {reason}"), out);
                        }
                    }
                }
            }
            Err(e) if e.class() == IcebergErrorClass::Transient => out.transient.push(e),
            Err(e) => {
                for shard in self.order.waiting_for(table) {
                    self.stop(&shard, e.to_string(), out);
                }
            }
        }
    }

    async fn hand_to_default(
        &mut self,
        now_ms: u64,
        released: Vec<Released<Vec<StagedFile>>>,
        out: &mut RoutedOutcome,
    ) {
        for r in released {
            let durable = CommitEvent::FilesDurable {
                shard: r.shard,
                up_to: r.up_to,
                files: r.payload,
            };
            self.step_default(now_ms, durable, out).await;
        }
    }

    async fn step_default(&mut self, now_ms: u64, event: CommitEvent, out: &mut RoutedOutcome) {
        let result = self.default.step(now_ms, event).await;
        out.reports.push((
            self.default.table().clone(),
            self.default.last_report().clone(),
        ));
        match result {
            Ok(settled) => {
                for s in settled {
                    if let Settled::Stop { shard, .. } = &s {
                        self.order.forget(shard);
                    }
                    out.settled.push(s);
                }
            }
            Err(e) if e.class() == IcebergErrorClass::Transient => out.transient.push(e),
            Err(e) => {
                let shards: Vec<String> = self.taken.iter().cloned().collect();
                for shard in shards {
                    self.stop(&shard, e.to_string(), out);
                }
            }
        }
    }

    /// Stops `shard`: nothing more of it is committed anywhere by this worker.
    fn stop(&mut self, shard: &str, reason: String, out: &mut RoutedOutcome) {
        self.order.forget(shard);
        self.drop_unread(shard);
        out.settled.push(Settled::Stop {
            shard: shard.to_owned(),
            reason: StopReason::TableFailed(reason),
        });
    }
}
