//! Starting a shard's task: claiming its progress object, then building the task from the
//! further of that progress and the lease row.

use super::*;
use crate::lease_outage::WriteStop;
use crate::table_commits::TableAck;
use kinesink_delivery::{SinkErrorClass, WriteRetry};
use kinesink_sequence_position::SequencePosition;

/// Claims the shard's progress object, then runs its task from the further of that progress and
/// the lease row (see `ShardProgress::resume_from`).
///
/// `previous` is this worker's earlier reader of the same shard, told to stop: it is awaited
/// first, so two readers of one shard never write at once in one worker (they would share its
/// fencing counter, and the older one could record progress on the newer one's lease).
pub(super) async fn launch_shard(
    parts: ShardParts,
    previous: Option<tokio::task::JoinHandle<ShardOutcome>>,
    lease: Lease,
    caught_up: Arc<AtomicBool>,
    stop: CancellationToken,
    lost: CancellationToken,
) -> ShardOutcome {
    if let Some(previous) = previous {
        tracing::info!(shard_id = %lease.shard_id, "lease taken again while this worker's previous reader of the shard is stopping; waiting for it first");
        let _ = previous.await;
    }
    // Watched from the take on: a claim that hangs (an S3 endpoint that never answers) is a
    // stall like any other.
    let (watch, shard_id) = (parts.stall_watch.clone(), lease.shard_id.clone());
    watch.progressed(&shard_id, std::time::Instant::now());
    tracing::info!(shard_id = %lease.shard_id, checkpoint = %lease.checkpoint, "lease taken; reading");
    let outcome = claim_and_run(parts, lease, caught_up, stop, lost).await;
    watch.forget(&shard_id);
    outcome
}

/// The default table's position for `shard`, read as the shard is taken (its acknowledgements
/// go to `acks` from then on).
///
/// Guarantees: a transient failure (a 5xx or throttled metadata read, a dropped catalog
/// connection) is retried with backoff for up to `retry_duration` (`destination.retry_duration_s`)
/// from the first failure, as progress-object writes are; a permanent one, or one lasting the
/// whole retry duration, is `ShardOutcome::Failed` naming the shard and the table. `lost` and
/// `stop` end it at once, also while waiting between attempts.
async fn read_table_position(
    table: &TableDestination,
    shard: &str,
    acks: &tokio::sync::mpsc::UnboundedSender<TableAck>,
    retry_duration: Duration,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<Option<SequencePosition>, ShardOutcome> {
    let mut retry = WriteRetry::new(retry_duration);
    let mut first_failure: Option<std::time::Instant> = None;
    loop {
        let taken = tokio::select! {
            biased;
            () = lost.cancelled() => return Err(ShardOutcome::LeaseLost),
            () = stop.cancelled() => return Err(ShardOutcome::Stopped),
            taken = table.commits.taken(shard, acks.clone()) => taken,
        };
        let error = match taken {
            Ok(committed) => return Ok(committed),
            Err(error) => error,
        };
        let failing_for = first_failure
            .get_or_insert_with(std::time::Instant::now)
            .elapsed();
        let pause = if error.transient {
            retry.next_pause(failing_for, SinkErrorClass::Transient)
        } else {
            None
        };
        let Some(pause) = pause else {
            let lasted = if error.transient {
                format!(
                    " (failing for the whole retry duration, {} s: destination.retry_duration_s)",
                    retry_duration.as_secs()
                )
            } else {
                String::new()
            };
            return Err(ShardOutcome::Failed(format!(
                "shard {shard}: reading the table's position{lasted}: {error}"
            )));
        };
        tracing::warn!(shard_id = %shard, error = %error, ?pause, "reading the table's position of a taken shard failed; retrying (up to destination.retry_duration_s)");
        tokio::select! {
            biased;
            () = lost.cancelled() => return Err(ShardOutcome::LeaseLost),
            () = stop.cancelled() => return Err(ShardOutcome::Stopped),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The shard's fenced lease writes, retried through DynamoDB outages.
fn lease_writes(parts: &ShardParts) -> LeaseWrites {
    LeaseWrites {
        keeper: parts.keeper.clone(),
        gate: parts.gate.clone(),
        outage: parts.outage.clone(),
        retry_duration: parts.settings.lease_retry_duration,
    }
}

/// Writes `checkpoint` to the shard's lease row before its task starts (bringing the row up to
/// the destination), the way the task writes its own: fenced, only while this worker is the
/// owner, transient DynamoDB failures retried for up to `leases.retry_duration_s`.
///
/// # Errors
/// The outcome the shard ends with: `LeaseLost` (another owner, or `lost`), `Failed` (refused
/// for good, or failing for the whole retry duration).
async fn checkpoint_lease(
    parts: &ShardParts,
    shard_id: &str,
    checkpoint: &Checkpoint,
    lost: &CancellationToken,
) -> Result<(), ShardOutcome> {
    match lease_writes(parts)
        .checkpoint(shard_id, checkpoint, lost)
        .await
    {
        Ok(()) => Ok(()),
        Err(WriteStop::Lost) => Err(ShardOutcome::LeaseLost),
        Err(WriteStop::Failed(message)) => Err(ShardOutcome::Failed(message)),
    }
}

/// Claims the progress object, then runs the shard's task.
async fn claim_and_run(
    parts: ShardParts,
    lease: Lease,
    caught_up: Arc<AtomicBool>,
    stop: CancellationToken,
    lost: CancellationToken,
) -> ShardOutcome {
    let s = &parts.settings;
    let claim = ProgressObject::claim(
        parts.progress.clone(),
        &s.name,
        &lease,
        parts.keeper.owner(),
        s.retry_duration,
        parts.health.clone(),
        &lost,
    );
    let mut progress = tokio::select! {
        biased;
        () = lost.cancelled() => return ShardOutcome::LeaseLost,
        () = stop.cancelled() => return ShardOutcome::Stopped,
        claimed = claim => match claimed {
            Ok(progress) => progress,
            Err(ProgressFailure::Superseded | ProgressFailure::Cancelled) => return ShardOutcome::LeaseLost,
            Err(ProgressFailure::Failed(message)) => return ShardOutcome::Failed(message),
        },
    };
    let mut resumed = lease.clone();
    progress.current().apply_to(&mut resumed);
    let mut table_acks = None;
    if let Some(table) = &parts.table_destination {
        let (acks, receiver) = tokio::sync::mpsc::unbounded_channel();
        let committed = match read_table_position(
            table,
            &lease.shard_id,
            &acks,
            parts.settings.retry_duration,
            &stop,
            &lost,
        )
        .await
        {
            Ok(committed) => committed,
            Err(outcome) => return outcome,
        };
        if let Some(position) = committed {
            let behind = match &resumed.checkpoint {
                Checkpoint::Sequence(at) => *at < position,
                Checkpoint::ShardEnd => false,
                _ => true,
            };
            if behind {
                tracing::info!(shard_id = %lease.shard_id, lease = %resumed.checkpoint, table = %position, "the Iceberg table holds the shard further than its lease; resuming from the table");
                // The progress object and the lease row are caches of the table: bring them
                // up to it now (fenced), not only at the next flush point.
                let checkpoint = Checkpoint::Sequence(position);
                let next = progress.current().with_checkpoint(&checkpoint);
                match progress
                    .store(next, parts.settings.retry_duration, &lost)
                    .await
                {
                    Ok(()) => {}
                    Err(ProgressFailure::Superseded | ProgressFailure::Cancelled) => {
                        return ShardOutcome::LeaseLost;
                    }
                    Err(ProgressFailure::Failed(message)) => return ShardOutcome::Failed(message),
                }
                if let Err(stopped) =
                    checkpoint_lease(&parts, &lease.shard_id, &checkpoint, &lost).await
                {
                    return stopped;
                }
                resumed.checkpoint = checkpoint;
            }
        }
        table_acks = Some(receiver);
    }
    tracing::debug!(shard_id = %lease.shard_id, checkpoint = %resumed.checkpoint, flush_intent = ?resumed.flush_intent, flush_horizon = ?resumed.flush_horizon, version = progress.current().version, "progress object claimed; resuming");
    if resumed.checkpoint != lease.checkpoint {
        tracing::info!(shard_id = %lease.shard_id, row = %lease.checkpoint, destination = %resumed.checkpoint, "the progress kept in the destination is further than the lease row; resuming from it");
    }
    if resumed.checkpoint == Checkpoint::ShardEnd {
        // The shard ended; only the lease row's SHARD_END had not been written.
        return match checkpoint_lease(&parts, &lease.shard_id, &Checkpoint::ShardEnd, &lost).await {
            Ok(()) => ShardOutcome::Ended,
            Err(stopped) => stopped,
        };
    }
    let mut task = build_task(&parts, &resumed, progress, caught_up);
    task.table_acks = table_acks;
    let outcome = task.run(stop, lost).await;
    if let Some(table) = &parts.table_destination {
        table.commits.released(&lease.shard_id);
    }
    outcome
}

/// Builds the task of a shard resuming from `lease` (the lease row with the claimed progress
/// applied).
fn build_task(
    parts: &ShardParts,
    lease: &Lease,
    progress: ProgressObject,
    caught_up: Arc<AtomicBool>,
) -> ShardTask {
    let (start, resume_after) = match &lease.checkpoint {
        Checkpoint::Sequence(position) => (
            StartPosition::AtSequence(position.sequence_number.to_string()),
            Some(position.clone()),
        ),
        Checkpoint::TrimHorizon => (StartPosition::TrimHorizon, None),
        Checkpoint::Latest => (StartPosition::Latest, None),
        Checkpoint::AtTime(millis) => (
            StartPosition::AtTimestamp(i64::try_from(*millis).unwrap_or(i64::MAX)),
            None,
        ),
        Checkpoint::AtTimestamp | Checkpoint::ShardEnd => {
            (parts.settings.initial_position.clone(), None)
        }
    };
    let s = &parts.settings;
    let layout = ObjectLayout {
        shard_id: lease.shard_id.clone(),
        name: s.name.clone(),
        format: parts.format.clone(),
        extension: s.file_extension.clone(),
        error_codec: s.error_codec,
        prefixes: s.prefixes.clone(),
        query: s.query.clone(),
        partition_limit: s.partition_limit,
        table: parts.table_destination.as_ref().map(|t| t.router.clone()),
    };
    ShardTask {
        shard_id: lease.shard_id.clone(),
        reader: ReaderFeed::spawn(ShardReader::new(
            parts.source.clone(),
            lease.shard_id.clone(),
            start,
            s.reader,
        )),
        pipeline: RecordPipeline::new(
            s.kpl_deaggregation,
            s.record_split.clone(),
            resume_after.clone(),
        )
        .with_processors(s.processors)
        .with_transform(s.transform.clone())
        .with_backup(s.prefixes.backup().is_some()),
        lambda: s.lambda.as_ref().map(|l| {
            l.for_shard(
                &lease.shard_id,
                resume_after.as_ref(),
                lease.flush_intent.clone(),
            )
        }),
        buffers: ShardBuffers::new(
            layout,
            s.buffer.staggered_for(&lease.shard_id),
            ResumeState {
                checkpoint: resume_after,
                flush_intent: lease.flush_intent.clone(),
                horizon: lease.flush_horizon.clone(),
            },
        ),
        keeper: parts.keeper.clone(),
        caught_up,
        tick: Duration::from_millis(s.buffer.interval_ms.clamp(100, 1_000)),
        budget: parts.budget.clone(),
        stall_watch: parts.stall_watch.clone(),
        writer: crate::shard_writer::ShardWriter {
            shard_id: lease.shard_id.clone(),
            lease_writes: lease_writes(parts),
            progress,
            sink: parts.sink.clone(),
            stats: parts.stats.clone(),
            parquet: matches!(parts.format, ObjectFormat::Parquet(_)),
            retry_duration: s.retry_duration,
            health: parts.health.clone(),
            summary: crate::delivery_stats::ShardSummary::new(),
            table: parts
                .table_destination
                .as_ref()
                .map(|t| crate::shard_writer::ShardTable {
                    commits: t.commits.clone(),
                    durable: Vec::new(),
                }),
        },
        table_acks: None,
    }
}
