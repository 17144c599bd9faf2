//! Delivery without leases: records through the same record path ([`RecordPipeline`],
//! [`ShardBuffers`], [`crate::drive`]) into a sink, with progress and checkpoints acknowledged at once
//! (there is no lease to fence them with). What `kinesink dry-run` runs on a records file.

use std::sync::Arc;

use kinesink_record_deaggregation::KinesisRecord;

use crate::drive::{DriveError, PerformActions};
use crate::lambda_drive::{LambdaShell, drive_event};
use crate::memory_budget::{BudgetVerdict, MemoryBudget};
use crate::object_contents::ObjectContents;
use crate::record_pipeline::RecordPipeline;
use crate::shard_buffers::{BufferAction, BufferError, BufferEvent, ShardBuffers};
use crate::sink::{ObjectSink, SinkError};

/// What a preview wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewSummary {
    /// Kinesis records read.
    pub input_records: usize,
    /// `(key, user records)` of every object written, in write order.
    pub objects: Vec<(String, usize)>,
}

/// Why a preview stopped (objects written before stay written).
#[derive(Debug, thiserror::Error)]
pub enum PreviewError<E> {
    /// The input failed.
    #[error("{0}")]
    Input(E),
    /// The buffers refused an event (an encoding or prefix failure).
    #[error(transparent)]
    Buffers(#[from] BufferError),
    /// The sink refused an object.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Feeds every batch `next_batch` returns (an empty batch ends the input) through `pipeline`
/// into `buffers`, then drains them, writing each object to `sink`. Guarantees: the same
/// actions in the same order as a run over the same records (one [`crate::drive`] loop), every record
/// read is in exactly one object (data or error output), and memory is one batch plus what the
/// buffers hold (never the whole input), which `budget` bounds as it bounds a worker's shards.
///
/// # Errors
/// [`PreviewError`]: the input, the buffers or the sink failed.
pub async fn preview<E>(
    pipeline: &mut RecordPipeline,
    lambda: Option<&mut LambdaShell>,
    buffers: &mut ShardBuffers,
    budget: Option<&mut MemoryBudget>,
    sink: Arc<dyn ObjectSink>,
    next_batch: impl FnMut() -> Result<Vec<KinesisRecord>, E>,
) -> Result<PreviewSummary, PreviewError<E>> {
    let mut writer = PreviewWriter {
        sink,
        summary: PreviewSummary::default(),
    };
    let input_records = feed_through(pipeline, lambda, buffers, budget, &mut writer, next_batch)
        .await
        .map_err(|e| match e {
            FeedError::Input(e) => PreviewError::Input(e),
            FeedError::Buffers(e) => PreviewError::Buffers(e),
            FeedError::Perform(e) => PreviewError::Sink(e),
        })?;
    writer.summary.input_records = input_records;
    Ok(writer.summary)
}

/// Why [`feed`] stopped (what was performed before stays performed).
#[derive(Debug, thiserror::Error)]
pub enum FeedError<E, A> {
    /// The input failed.
    #[error("{0}")]
    Input(E),
    /// The buffers refused an event (an encoding or prefix failure).
    #[error(transparent)]
    Buffers(#[from] BufferError),
    /// Performing an action failed.
    #[error("{0}")]
    Perform(A),
}

/// Feeds every batch `next_batch` returns (an empty batch ends the input) through `pipeline`
/// into `buffers`, then drains them, each action performed by `perform` (one [`crate::drive`] loop,
/// time 0: a file's records have no interval); returns the Kinesis records read. What
/// [`preview`] runs, for shells that perform actions their own way (a table destination).
///
/// # Errors
/// [`FeedError`]: the input, the buffers or an action failed.
pub async fn feed<E, P: PerformActions + Send>(
    pipeline: &mut RecordPipeline,
    buffers: &mut ShardBuffers,
    perform: &mut P,
    next_batch: impl FnMut() -> Result<Vec<KinesisRecord>, E>,
) -> Result<usize, FeedError<E, P::Error>> {
    feed_through(pipeline, None, buffers, None, perform, next_batch).await
}

/// [`feed`] with the Lambda processor between the pipeline and the buffers when `lambda` is
/// given (every event through [`drive_event`]), and, when `budget` is given, the memory budget
/// applied after every batch as a worker applies it to a shard: buffered rows compacted, then
/// the buffers flushed ([`BufferEvent::Flush`]) while they hold more than its limit.
///
/// # Errors
/// [`FeedError`]: the input, the buffers or an action failed.
pub async fn feed_through<E, P: PerformActions + Send>(
    pipeline: &mut RecordPipeline,
    mut lambda: Option<&mut LambdaShell>,
    buffers: &mut ShardBuffers,
    mut budget: Option<&mut MemoryBudget>,
    perform: &mut P,
    mut next_batch: impl FnMut() -> Result<Vec<KinesisRecord>, E>,
) -> Result<usize, FeedError<E, P::Error>> {
    let mut input_records = 0;
    let mut events = Vec::new();
    loop {
        let batch = next_batch().map_err(FeedError::Input)?;
        let done = batch.is_empty();
        input_records += batch.len();
        for record in batch {
            pipeline.process(record, &mut events);
        }
        if done {
            events.push(BufferEvent::Drain);
        }
        for event in events.drain(..) {
            drive_event(lambda.as_deref_mut(), buffers, 0, event, perform)
                .await
                .map_err(|e| match e {
                    DriveError::Buffers(e) => FeedError::Buffers(e),
                    DriveError::Perform(e) => FeedError::Perform(e),
                })?;
        }
        if done {
            return Ok(input_records);
        }
        if let Some(budget) = budget.as_deref_mut()
            && keep_within(budget, lambda.as_deref(), buffers)
        {
            drive_event(
                lambda.as_deref_mut(),
                buffers,
                0,
                BufferEvent::Flush,
                perform,
            )
            .await
            .map_err(|e| match e {
                DriveError::Buffers(e) => FeedError::Buffers(e),
                DriveError::Perform(e) => FeedError::Perform(e),
            })?;
        }
    }
}

/// The one shard a preview's budget knows.
const PREVIEW_SHARD: &str = "preview";

/// Reports the buffers' memory to `budget` and compacts them if it says so; whether they must
/// be flushed as well.
fn keep_within(
    budget: &mut MemoryBudget,
    lambda: Option<&LambdaShell>,
    buffers: &mut ShardBuffers,
) -> bool {
    let lambda_held = lambda.map_or(0, |l| l.stage.held_bytes());
    budget.report(PREVIEW_SHARD, buffers.usage(lambda_held));
    let mut verdict = budget.verdict(PREVIEW_SHARD);
    if verdict == BudgetVerdict::Compact {
        buffers.compact();
        budget.report(PREVIEW_SHARD, buffers.usage(lambda_held));
        verdict = budget.verdict(PREVIEW_SHARD);
    }
    verdict == BudgetVerdict::Flush
}

/// Performs a preview's actions: objects into the sink, the rest acknowledged.
struct PreviewWriter {
    sink: Arc<dyn ObjectSink>,
    summary: PreviewSummary,
}

impl PerformActions for PreviewWriter {
    type Error = SinkError;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, SinkError> {
        Ok(Some(match action {
            BufferAction::Write(object) => {
                let contents = ObjectContents {
                    last: object.last.clone(),
                    records: object.record_count as u64,
                };
                self.sink.put(&object.key, object.body, &contents).await?;
                self.summary.objects.push((object.key, object.record_count));
                BufferEvent::ObjectDurable(object.ticket)
            }
            BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
            BufferAction::Checkpoint(at) => BufferEvent::CheckpointWritten(at),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kinesink_parquet_writer::{Codec, ObjectFormat, RecordFraming};
    use kinesink_partitioning::OutputPrefixes;

    use super::*;
    use crate::memory_sink::MemorySink;
    use crate::shard_buffers::{
        BufferLimits, ObjectLayout, PartitionLimit, PartitionLimitAction, ResumeState,
    };

    fn buffers(size_bytes: usize) -> ShardBuffers {
        let layout = ObjectLayout {
            shard_id: "shardId-000000000000".into(),
            name: "preview".into(),
            format: ObjectFormat::Records {
                framing: RecordFraming::NewlineDelimited,
                codec: Codec::None,
            },
            extension: String::new(),
            error_codec: Codec::None,
            prefixes: Arc::new(OutputPrefixes::parse(None, None).unwrap()),
            query: None,
            partition_limit: PartitionLimit {
                max_active: 10,
                action: PartitionLimitAction::ErrorOutput,
            },
            table: None,
        };
        ShardBuffers::new(
            layout,
            BufferLimits {
                size_bytes,
                interval_ms: 300_000,
            },
            ResumeState::default(),
        )
    }

    fn record(n: usize) -> KinesisRecord {
        KinesisRecord {
            data: format!("{{\"n\":{n}}}").into_bytes(),
            partition_key: "k".into(),
            sequence_number: (1000 + n).to_string(),
            approximate_arrival_ms: 1_700_000_000_000,
        }
    }

    #[tokio::test]
    async fn every_record_of_every_batch_lands_in_exactly_one_object_and_size_cuts_apply() {
        let sink = Arc::new(MemorySink::new());
        let mut batches = (0..5).map(|b| (b * 100..b * 100 + 100).map(record).collect::<Vec<_>>());
        let summary = preview(
            &mut RecordPipeline::new(false, None, None),
            None,
            &mut buffers(1_000),
            None,
            sink.clone(),
            || Ok::<_, std::convert::Infallible>(batches.next().unwrap_or_default()),
        )
        .await
        .unwrap();
        assert_eq!(summary.input_records, 500);
        assert!(summary.objects.len() > 1, "size cuts made several objects");
        assert_eq!(
            records_written(&sink, &summary),
            (0..500).collect::<Vec<_>>(),
            "each record once"
        );
        let counted: usize = summary.objects.iter().map(|(_, n)| n).sum();
        assert_eq!(counted, 500);
    }

    /// The records (by `n`) of every object of `summary` in `sink`, sorted.
    fn records_written(sink: &MemorySink, summary: &PreviewSummary) -> Vec<usize> {
        let mut seen: Vec<usize> = sink
            .objects()
            .iter()
            .filter(|(k, _)| summary.objects.iter().any(|(o, _)| o == *k))
            .flat_map(|(_, body)| {
                String::from_utf8(body.clone())
                    .unwrap()
                    .lines()
                    .map(|l| l[5..l.len() - 1].parse::<usize>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        seen.sort_unstable();
        seen
    }

    #[tokio::test]
    async fn a_memory_budget_flushes_the_buffers_whenever_a_batch_leaves_them_over_it() {
        let run = |budget: Option<MemoryBudget>| async move {
            let mut budget = budget;
            let sink = Arc::new(MemorySink::new());
            let mut batches =
                (0..10).map(|b| (b * 100..b * 100 + 100).map(record).collect::<Vec<_>>());
            let summary = preview(
                &mut RecordPipeline::new(false, None, None),
                None,
                &mut buffers(1 << 20),
                budget.as_mut(),
                sink.clone(),
                || Ok::<_, std::convert::Infallible>(batches.next().unwrap_or_default()),
            )
            .await
            .unwrap();
            let seen = records_written(&sink, &summary);
            (summary.objects.len(), seen)
        };
        let (unbounded, seen) = run(None).await;
        assert_eq!(unbounded, 1, "no size cut: one object at the end");
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        // A batch holds ~1,000 bytes: the buffers pass 2,500 bytes every third batch.
        let (bounded, seen) = run(Some(MemoryBudget::new(2_500))).await;
        assert_eq!(bounded, 4, "flushed after batches 3, 6 and 9, then drained");
        assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "each record once");
    }

    #[tokio::test]
    async fn an_input_failure_stops_the_preview_with_that_error() {
        let sink = Arc::new(MemorySink::new());
        let mut calls = 0;
        let result = preview(
            &mut RecordPipeline::new(false, None, None),
            None,
            &mut buffers(1_000),
            None,
            sink,
            || {
                calls += 1;
                if calls == 1 {
                    Ok(vec![record(1)])
                } else {
                    Err("line 2: not JSON")
                }
            },
        )
        .await;
        assert!(matches!(
            result,
            Err(PreviewError::Input("line 2: not JSON"))
        ));
    }
}
