//! Delivery of one shard's records from a file into a destination's tables, without leases:
//! what `kinesink dry-run` does with an Iceberg destination. The default table is the only
//! record of progress: a run resumes after the position it holds for the shard, so running the
//! same input again adds nothing and a longer input adds only the rest; records routed to
//! other tables are committed there before each flush point reaches the default table.

use std::sync::Arc;

use kinesink_delivery::{
    BufferAction, BufferEvent, FeedError, LambdaShell, MemoryBudget, ObjectContents, ObjectSink,
    PerformActions, RecordPipeline, ShardBuffers, feed_through,
};
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::SequencePosition;

use crate::commit_protocol::CommitEvent;
use crate::error::{IcebergErrorClass, IcebergSinkError};
use crate::routed_commits::{RoutedCommits, RoutedOutcome, TableFile};
use crate::table_committer::Settled;
use crate::table_routes::TableRoutes;

/// What a table preview did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablePreviewSummary {
    /// Kinesis records read from the input (those at or before the table's position included).
    pub input_records: usize,
    /// The default table's position for the shard before the run (records up to it were
    /// skipped).
    pub resumed_after: Option<SequencePosition>,
    /// `(path, records)` of every data file committed (of every table), in commit order.
    pub data_files: Vec<(String, u64)>,
    /// `(key, records)` of every error-output or backup object written.
    pub other_objects: Vec<(String, usize)>,
    /// The default table's position for the shard after the run.
    pub committed: Option<SequencePosition>,
}

/// Why a table preview stopped (files committed before stay committed).
#[derive(Debug, thiserror::Error)]
pub enum TablePreviewError<E> {
    /// The input failed.
    #[error("{0}")]
    Input(E),
    /// The buffers refused an event.
    #[error(transparent)]
    Buffers(#[from] kinesink_delivery::BufferError),
    /// The table, the catalog or storage failed.
    #[error(transparent)]
    Table(#[from] IcebergSinkError),
}

/// The record path of a shard resuming after a position: the pipeline (skipping records up to
/// it) and the buffers (checkpointed there).
pub type RecordPath = (RecordPipeline, ShardBuffers);

/// Delivers the records `next_batch` returns (until an empty batch) of `shard_id` into the
/// tables of `routes` as delivery `name`: data files written through each table's files,
/// error-output and backup objects through `outputs`, committed with the shard's position by
/// `commits`. `record_path` builds the pipeline and buffers resuming after the default table's
/// position (its layout routes by `routes`); `lambda`, when given, is the Lambda processor
/// between them (its batches start at the first record after that position); `budget`, when
/// given, bounds the buffers' memory as a worker's budget does (compaction, then a flush point
/// committed early).
///
/// Guarantees: every record after the default table's position is committed exactly once (to
/// the table it is routed to) or is in an error-output object; the default table's position
/// moves only after every table holds the records up to it (at each flush point the routed
/// tables commit first, then the default table).
///
/// # Errors
/// [`TablePreviewError`]: the input, the buffers, the catalog or storage failed, or the commit
/// protocol stopped the shard (a table's position moved in a way this input cannot follow).
#[allow(clippy::too_many_arguments)] // each is one part of the run; a struct would only rename them
pub async fn preview_into_table<E>(
    commits: &mut RoutedCommits,
    routes: &TableRoutes,
    outputs: Arc<dyn ObjectSink>,
    shard_id: &str,
    record_path: impl FnOnce(Option<SequencePosition>) -> RecordPath,
    lambda: Option<&mut LambdaShell>,
    budget: Option<&mut MemoryBudget>,
    next_batch: impl FnMut() -> Result<Vec<KinesisRecord>, E>,
) -> Result<TablePreviewSummary, TablePreviewError<E>> {
    let (resumed_after, taken) = commits.taken(0, shard_id).await?;
    check_settled(taken, shard_id, None)?;
    let (mut pipeline, mut buffers) = record_path(resumed_after.clone());
    let mut performer = TablePerformer {
        commits,
        routes,
        outputs,
        shard_id,
        durable: Vec::new(),
        summary: TablePreviewSummary {
            resumed_after,
            ..TablePreviewSummary::default()
        },
    };
    let input_records = feed_through(
        &mut pipeline,
        lambda,
        &mut buffers,
        budget,
        &mut performer,
        next_batch,
    )
    .await
    .map_err(|e| match e {
        FeedError::Input(e) => TablePreviewError::Input(e),
        FeedError::Buffers(e) => TablePreviewError::Buffers(e),
        FeedError::Perform(e) => TablePreviewError::Table(e),
    })?;
    let mut summary = performer.summary;
    summary.input_records = input_records;
    summary.committed = performer
        .commits
        .default_committer()
        .table_positions()
        .await?
        .remove(shard_id);
    Ok(summary)
}

/// Performs the buffers' actions for a table destination.
struct TablePerformer<'a> {
    commits: &'a mut RoutedCommits,
    routes: &'a TableRoutes,
    outputs: Arc<dyn ObjectSink>,
    shard_id: &'a str,
    /// Data files durable since the last flush point, of every table.
    durable: Vec<TableFile>,
    summary: TablePreviewSummary,
}

impl PerformActions for TablePerformer<'_> {
    type Error = IcebergSinkError;

    async fn perform(
        &mut self,
        action: BufferAction,
    ) -> Result<Option<BufferEvent>, IcebergSinkError> {
        Ok(Some(match action {
            BufferAction::Write(object) if object.is_error_output || object.is_backup => {
                let contents = ObjectContents {
                    last: object.last.clone(),
                    records: object.record_count as u64,
                };
                let ticket = object.ticket;
                self.outputs
                    .put(&object.key, object.body, &contents)
                    .await
                    .map_err(|e| IcebergSinkError {
                        operation: format!("write {}", object.key),
                        message: e.to_string(),
                        class: IcebergErrorClass::Transient,
                        source: None,
                    })?;
                self.summary
                    .other_objects
                    .push((object.key, object.record_count));
                BufferEvent::ObjectDurable(ticket)
            }
            BufferAction::Write(object) => {
                let ticket = object.ticket;
                let table = object
                    .table_partition
                    .as_ref()
                    .map(|p| p.table().to_owned())
                    .unwrap_or_default();
                let open = self.routes.get(&table).ok_or_else(|| {
                    IcebergSinkError::permanent(
                        format!("write {}", object.key),
                        format!("its table `{table}` is not open"),
                    )
                })?;
                let (staged, entry) = open.files.write(self.shard_id, &object).await?;
                self.durable.push(TableFile {
                    table,
                    staged,
                    entry,
                });
                BufferEvent::ObjectDurable(ticket)
            }
            // No lease: the table alone records progress.
            BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
            BufferAction::Checkpoint(at) => {
                let files = std::mem::take(&mut self.durable);
                let committed: Vec<(String, u64)> = files
                    .iter()
                    .map(|f| (f.staged.key.clone(), f.staged.records))
                    .collect();
                let mut outcome = self
                    .commits
                    .durable(0, self.shard_id, at.clone(), files)
                    .await;
                let drained = self.commits.step(0, CommitEvent::Drain).await;
                outcome.settled.extend(drained.settled);
                outcome.transient.extend(drained.transient);
                check_settled(outcome, self.shard_id, Some(&at))?;
                self.summary.data_files.extend(committed);
                BufferEvent::CheckpointWritten(at)
            }
        }))
    }
}

/// Checks the commits acknowledged `expected` (when given), stopped nothing and failed
/// nowhere (or only transiently, on the way to acknowledging `expected`).
fn check_settled(
    outcome: RoutedOutcome,
    shard_id: &str,
    expected: Option<&SequencePosition>,
) -> Result<(), IcebergSinkError> {
    let mut acked = false;
    for s in outcome.settled {
        match s {
            Settled::Ack { shard, up_to } => {
                acked |= shard == shard_id && Some(&up_to) == expected;
            }
            Settled::Stop { shard, reason } => {
                return Err(IcebergSinkError {
                    operation: format!("deliver shard {shard}"),
                    message: reason.to_string(),
                    class: IcebergErrorClass::Permanent,
                    source: None,
                });
            }
        }
    }
    // A transient failure the same call recovered from (its flush point is acknowledged) is
    // no failure of the run; any other is.
    if !acked && let Some(e) = outcome.transient.into_iter().next() {
        return Err(e);
    }
    if let Some(at) = expected.filter(|_| !acked) {
        return Err(IcebergSinkError {
            operation: format!("commit shard {shard_id} up to {at}"),
            message: "the commit protocol did not acknowledge the flush point".to_owned(),
            class: IcebergErrorClass::Transient,
            source: None,
        });
    }
    Ok(())
}
