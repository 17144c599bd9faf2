//! What a shard task writes, in the order its buffers ask: objects (each written once, retried
//! by the class of its failure), the shard's progress object, and the fenced lease writes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kinesink_delivery::{
    BufferAction, BufferEvent, FlushTicket, ObjectContents, ObjectSink, Placement, PutOutcome,
    ReadyObject,
};
use kinesink_lease_coordination::Checkpoint;
use kinesink_sequence_position::SequencePosition;
use tokio_util::sync::CancellationToken;

use crate::delivery_stats::{DeliveryStats, ShardSummary};
use crate::destination_progress::{ProgressFailure, ProgressObject};
use crate::lease_outage::{LeaseWrites, WriteStop};

/// Why a shard task stops before its end.
pub(crate) enum Stop {
    /// Its lease was lost (or its progress object claimed by another worker).
    Lost,
    /// An error that stops the shard (nothing past the last checkpoint is lost).
    Failed(String),
}

impl From<WriteStop> for Stop {
    fn from(stop: WriteStop) -> Self {
        match stop {
            WriteStop::Lost => Stop::Lost,
            WriteStop::Failed(message) => Stop::Failed(message),
        }
    }
}

/// A [`ShardWriter`] performing the actions of one [`kinesink_delivery::drive`] call; `lost`
/// ends any wait as soon as the lease is lost.
pub(crate) struct Performing<'a> {
    pub(crate) writer: &'a mut ShardWriter,
    pub(crate) lost: &'a CancellationToken,
}

impl kinesink_delivery::PerformActions for Performing<'_> {
    type Error = Stop;

    fn perform(
        &mut self,
        action: BufferAction,
    ) -> impl std::future::Future<Output = Result<Option<BufferEvent>, Stop>> + Send {
        self.writer.perform(action, self.lost)
    }

    fn perform_writes(
        &mut self,
        writes: Vec<BufferAction>,
    ) -> impl std::future::Future<Output = Result<Vec<Option<BufferEvent>>, Stop>> + Send {
        self.writer.perform_writes(writes, self.lost)
    }
}

/// How many objects of one flush a shard writes at a time: a shutdown (or an interval) with
/// thousands of open partitions takes about their count divided by this many write latencies.
pub const CONCURRENT_OBJECT_WRITES: usize = 64;

/// The writing half of a shard task: everything it needs to perform a [`BufferAction`].
pub struct ShardWriter {
    /// The shard.
    pub shard_id: String,
    /// The same writes retried through DynamoDB outages, and the gate that holds every write
    /// as owner (objects too) while this worker's leases may have expired.
    pub lease_writes: LeaseWrites,
    /// The shard's progress object in the destination, claimed by this worker: written before
    /// every lease write (the lease row is a cache of it).
    pub progress: ProgressObject,
    /// Where objects go.
    pub sink: Arc<dyn ObjectSink>,
    /// Shared counters.
    pub stats: Arc<DeliveryStats>,
    /// Whether data objects are Parquet (records are then converted).
    pub parquet: bool,
    /// How long a failing object write is retried before the shard fails (transient failures
    /// with exponential backoff and jitter, permanent refusals at a slow fixed pace); nothing is
    /// checkpointed past the object meanwhile.
    pub retry_duration: Duration,
    /// Told of permanent destination refusals and of the next success (`/readyz`).
    pub health: Arc<kinesink_delivery::DestinationHealth>,
    /// What the shard did since its last INFO summary line.
    pub summary: ShardSummary,
    /// With an Iceberg destination: the tables' commit task, and the data files written since
    /// the shard's last flush point.
    pub table: Option<ShardTable>,
}

/// A shard's part in an Iceberg destination.
pub struct ShardTable {
    /// The tables' commit task.
    pub commits: crate::table_commits::TableCommits,
    /// Data files written since the shard's last flush point (of every table), for its next
    /// one.
    pub durable: Vec<kinesink_iceberg_sink::routed_commits::TableFile>,
}

impl ShardWriter {
    /// Performs one action the buffers asked for and returns the event that reports its
    /// completion.
    pub(crate) async fn perform(
        &mut self,
        action: BufferAction,
        lost: &CancellationToken,
    ) -> Result<Option<BufferEvent>, Stop> {
        if let Some(table) = &mut self.table {
            match action {
                BufferAction::Write(object) if object.table_partition.is_some() => {
                    let ticket = object.ticket;
                    let written = self.write_table_file(&object, lost).await?;
                    return Ok(Some(self.table_file_durable(ticket, written)));
                }
                BufferAction::Checkpoint(at) => {
                    // Acknowledged once the table holds it (`checkpoint_committed`); the
                    // shard reads on meanwhile.
                    let files = std::mem::take(&mut table.durable);
                    table.commits.durable(&self.shard_id, at, files);
                    return Ok(None);
                }
                other => return self.perform_plain(other, lost).await,
            }
        }
        self.perform_plain(action, lost).await
    }

    /// Performs the object writes of one step ([`kinesink_delivery::PerformActions::perform_writes`]):
    /// objects and a table destination's data files alike, up to [`CONCURRENT_OBJECT_WRITES`]
    /// at a time ([`ShardWriter::write_all`]); a step with other actions, one after the other.
    pub(crate) async fn perform_writes(
        &mut self,
        writes: Vec<BufferAction>,
        lost: &CancellationToken,
    ) -> Result<Vec<Option<BufferEvent>>, Stop> {
        if !writes.iter().all(|w| matches!(w, BufferAction::Write(_))) {
            let mut done = Vec::with_capacity(writes.len());
            for write in writes {
                done.push(self.perform(write, lost).await?);
            }
            return Ok(done);
        }
        let objects: Vec<ReadyObject> = writes
            .into_iter()
            .filter_map(|w| match w {
                BufferAction::Write(o) => Some(o),
                _ => None,
            })
            .collect();
        Ok(self
            .write_all(objects, lost)
            .await?
            .into_iter()
            .map(Some)
            .collect())
    }

    /// A table data file is durable: it joins the shard's next flush point, and the summary.
    fn table_file_durable(
        &mut self,
        ticket: FlushTicket,
        written: kinesink_iceberg_sink::routed_commits::TableFile,
    ) -> BufferEvent {
        self.summary
            .add_object(Some((written.staged.records, written.staged.bytes)));
        if let Some(table) = &mut self.table {
            table.durable.push(written);
        }
        BufferEvent::ObjectDurable(ticket)
    }

    /// Performs an action the way the plain-object destination does.
    async fn perform_plain(
        &mut self,
        action: BufferAction,
        lost: &CancellationToken,
    ) -> Result<Option<BufferEvent>, Stop> {
        Ok(Some(match action {
            BufferAction::Write(object) => {
                BufferEvent::ObjectDurable(self.write(object, lost).await?)
            }
            BufferAction::RecordProgress {
                horizon,
                flush_intent,
            } => {
                let next = self
                    .progress
                    .current()
                    .with_flush_progress(&horizon, flush_intent.as_ref());
                self.store_progress(next, lost).await?;
                self.record_progress(&horizon, flush_intent.as_ref(), lost)
                    .await?;
                tracing::debug!(shard_id = %self.shard_id, %horizon, flush_intent = ?flush_intent, "flush progress recorded");
                BufferEvent::ProgressRecorded
            }
            BufferAction::Checkpoint(at) => {
                let checkpoint = Checkpoint::Sequence(at.clone());
                let next = self.progress.current().with_checkpoint(&checkpoint);
                self.store_progress(next, lost).await?;
                self.write_checkpoint(&checkpoint, lost).await?;
                BufferEvent::CheckpointWritten(at)
            }
        }))
    }

    /// Stores the shard's progress in the destination before the lease row: the object is what a
    /// successor resumes from should the row be lost, so nothing may be written that it does
    /// not cover. Another worker's claim stops the shard like a lost lease.
    pub(crate) async fn store_progress(
        &mut self,
        next: kinesink_lease_coordination::ShardProgress,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        match self.progress.store(next, self.retry_duration, lost).await {
            Ok(()) => Ok(()),
            Err(ProgressFailure::Superseded) => {
                // The progress object's compare-and-swap is a fenced write like the lease row's:
                // counted and worded the same way.
                metrics::counter!(kinesink_metric_names::FENCED_WRITES_REFUSED).increment(1);
                metrics::counter!(kinesink_metric_names::LEASE_LOSSES).increment(1);
                tracing::warn!(shard_id = %self.shard_id, "a fenced write was refused: the shard's progress object was claimed by another worker (or deleted); stopping");
                Err(Stop::Lost)
            }
            Err(ProgressFailure::Cancelled) => Err(Stop::Lost),
            Err(ProgressFailure::Failed(message)) => {
                Err(Stop::Failed(format!("shard {}: {message}", self.shard_id)))
            }
        }
    }

    async fn record_progress(
        &mut self,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        self.lease_writes
            .record_progress(&self.shard_id, horizon, flush_intent, lost)
            .await
            .map_err(Stop::from)
    }

    /// Writes an object, retrying with exponential backoff and jitter until it is durable, the
    /// lease is lost, or `retry_duration` of waiting has passed (then the shard fails: its
    /// checkpoint stays before the object, so the records are read again later, never lost).
    async fn write(
        &mut self,
        object: ReadyObject,
        lost: &CancellationToken,
    ) -> Result<FlushTicket, Stop> {
        let (ticket, delivered) = self.write_object(object, lost).await?;
        self.summary.add_object(delivered);
        Ok(ticket)
    }

    /// Writes the objects of one flush (a table destination's data files among them), up to
    /// [`CONCURRENT_OBJECT_WRITES`] at a time; their completions in the order given (data files
    /// join the shard's next flush point in that order). The first failure (in that order)
    /// stops the shard; writes still running are dropped (an object written or not is the same
    /// object on the retry: its key and bytes come from the records).
    pub(crate) async fn write_all(
        &mut self,
        objects: Vec<ReadyObject>,
        lost: &CancellationToken,
    ) -> Result<Vec<BufferEvent>, Stop> {
        use futures::{StreamExt as _, TryStreamExt as _};
        enum Written {
            Object(FlushTicket, Option<(u64, u64)>),
            TableFile(
                FlushTicket,
                Box<kinesink_iceberg_sink::routed_commits::TableFile>,
            ),
        }
        let this = &*self;
        let write_one = |o: ReadyObject| async move {
            if this.table.is_some() && o.table_partition.is_some() {
                let ticket = o.ticket;
                let file = this.write_table_file(&o, lost).await?;
                Ok::<_, Stop>(Written::TableFile(ticket, Box::new(file)))
            } else {
                let (ticket, delivered) = this.write_object(o, lost).await?;
                Ok(Written::Object(ticket, delivered))
            }
        };
        let written: Vec<Written> = futures::stream::iter(objects.into_iter().map(write_one))
            .buffered(CONCURRENT_OBJECT_WRITES)
            .try_collect()
            .await?;
        Ok(written
            .into_iter()
            .map(|w| match w {
                Written::Object(ticket, delivered) => {
                    self.summary.add_object(delivered);
                    BufferEvent::ObjectDurable(ticket)
                }
                Written::TableFile(ticket, file) => self.table_file_durable(ticket, *file),
            })
            .collect())
    }

    /// Writes one object (retried as [`ShardWriter::write`] says) and counts it in the metrics
    /// and shared stats; returns its ticket and, for a data or error-output object, its records
    /// and bytes (for the shard's summary).
    async fn write_object(
        &self,
        object: ReadyObject,
        lost: &CancellationToken,
    ) -> Result<(FlushTicket, Option<(u64, u64)>), Stop> {
        let ReadyObject {
            key,
            body,
            record_count,
            ticket,
            oldest_arrival_ms,
            is_error_output,
            error_output_type,
            is_backup,
            last,
            ..
        } = object;
        let size = body.len() as u64;
        let contents = ObjectContents {
            last,
            records: record_count as u64,
        };
        let mut attempt: u32 = 0;
        let mut retry = kinesink_delivery::WriteRetry::new(self.retry_duration);
        let mut first_failure: Option<Instant> = None;
        let written_key = loop {
            // Not as owner while the leases may have expired in other workers' eyes.
            if !self
                .lease_writes
                .gate
                .wait_until_owner(&self.shard_id, lost)
                .await
            {
                return Err(Stop::Lost);
            }
            match kinesink_delivery::write_once(self.sink.as_ref(), &key, &body, &contents).await {
                Ok(placement) => {
                    report_placement(&self.shard_id, &placement);
                    if self.health.accepted(&self.shard_id) {
                        tracing::info!(shard_id = %self.shard_id, key = %key, "the destination accepts writes again");
                    }
                    break placement.key;
                }
                Err(e) => {
                    attempt += 1;
                    metrics::counter!(kinesink_metric_names::DELIVERY_FAILURES).increment(1);
                    let failing_for = first_failure.get_or_insert_with(Instant::now).elapsed();
                    if e.is_permanent() {
                        metrics::counter!(kinesink_metric_names::DESTINATION_REFUSALS).increment(1);
                        if self.health.refused(&self.shard_id, &e.message) {
                            tracing::error!(shard_id = %self.shard_id, key = %key, error = %e, "the destination refuses writes for a reason waiting does not fix; retrying every {} s until it is fixed (up to destination.retry_duration_s), worker unready", kinesink_delivery::PERMANENT_RETRY_PACE.as_secs());
                        }
                    }
                    let Some(pause) = retry.next_pause(failing_for, e.class) else {
                        return Err(Stop::Failed(format!(
                            "shard {}: writing object {key} failed for the whole retry duration ({} s, destination.retry_duration_s), {attempt} attempts; last error: {e}",
                            self.shard_id,
                            self.retry_duration.as_secs()
                        )));
                    };
                    let pause = if e.is_permanent() {
                        pause
                    } else {
                        tracing::warn!(shard_id = %self.shard_id, key = %key, attempt, error = %e, "object write failed; retrying");
                        // Jitter, so shards failing together do not retry together.
                        pause.mul_f64(0.5 + rand::random::<f64>() / 2.0)
                    };
                    tokio::select! {
                        () = lost.cancelled() => return Err(Stop::Lost),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        };
        tracing::debug!(shard_id = %self.shard_id, key = %written_key, records = record_count, bytes = size, "object written");
        if is_backup {
            metrics::counter!(kinesink_metric_names::BACKUP_SUCCESS).increment(1);
            metrics::counter!(kinesink_metric_names::BACKUP_RECORDS).increment(record_count as u64);
            metrics::counter!(kinesink_metric_names::BACKUP_BYTES).increment(size);
            return Ok((ticket, None));
        }
        metrics::counter!(kinesink_metric_names::DELIVERY_SUCCESS).increment(1);
        metrics::counter!(kinesink_metric_names::DELIVERY_RECORDS).increment(record_count as u64);
        metrics::counter!(kinesink_metric_names::DELIVERY_BYTES).increment(size);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(kinesink_metric_names::DELIVERY_DATA_FRESHNESS).set(
            (chrono::Utc::now().timestamp_millis() - oldest_arrival_ms).max(0) as f64 / 1000.0,
        );
        match &error_output_type {
            Some(t) => {
                metrics::counter!(kinesink_metric_names::ERROR_RECORDS, "error_output_type" => t.clone())
                    .increment(record_count as u64);
                if t == kinesink_delivery::ACTIVE_PARTITION_EXCEEDED {
                    metrics::counter!(kinesink_metric_names::PARTITION_COUNT_EXCEEDED)
                        .increment(record_count as u64);
                }
                if t == kinesink_parquet_writer::FORMAT_CONVERSION_FAILED_OUTPUT_TYPE {
                    metrics::counter!(kinesink_metric_names::FORMAT_CONVERSION_FAILED)
                        .increment(record_count as u64);
                }
            }
            None if self.parquet => {
                metrics::counter!(kinesink_metric_names::FORMAT_CONVERSION_SUCCEEDED)
                    .increment(record_count as u64);
            }
            None => {}
        }
        self.stats
            .records
            .fetch_add(record_count as u64, Ordering::Relaxed);
        self.stats
            .update(&self.shard_id, |p| p.delivered += record_count as u64);
        self.stats.objects.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(size, Ordering::Relaxed);
        if is_error_output {
            self.stats
                .failed_records
                .fetch_add(record_count as u64, Ordering::Relaxed);
        }
        Ok((ticket, Some((record_count as u64, size))))
    }

    /// The table holds every record up to `at` (a flush point handed to the table's commit
    /// task): stores it in the progress object and the lease, as the plain destination does
    /// after its objects are durable.
    pub(crate) async fn checkpoint_committed(
        &mut self,
        at: &SequencePosition,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        let checkpoint = Checkpoint::Sequence(at.clone());
        let next = self.progress.current().with_checkpoint(&checkpoint);
        self.store_progress(next, lost).await?;
        self.write_checkpoint(&checkpoint, lost).await
    }

    /// Writes a data file of the table (once: a replay's or a zombie's copy is taken as it is),
    /// retrying like an object write; returns its entry for the commit (the caller adds it to
    /// the shard's summary and next flush point: [`ShardWriter::table_file_durable`]).
    async fn write_table_file(
        &self,
        object: &ReadyObject,
        lost: &CancellationToken,
    ) -> Result<kinesink_iceberg_sink::routed_commits::TableFile, Stop> {
        let Some(table) = &self.table else {
            return Err(Stop::Failed("no table destination".to_owned()));
        };
        let id = object
            .table_partition
            .as_ref()
            .map(|p| p.table().to_owned())
            .unwrap_or_default();
        let Some(files) = table.commits.files_of(&id) else {
            return Err(Stop::Failed(format!(
                "shard {}: data file {} of table `{id}`, which is not open",
                self.shard_id, object.key
            )));
        };
        let mut retry = kinesink_delivery::WriteRetry::new(self.retry_duration);
        let mut first_failure: Option<Instant> = None;
        loop {
            if !self
                .lease_writes
                .gate
                .wait_until_owner(&self.shard_id, lost)
                .await
            {
                return Err(Stop::Lost);
            }
            match files.write(&self.shard_id, object).await {
                Ok((staged, entry)) => {
                    let (records, bytes) = (staged.records, staged.bytes);
                    metrics::counter!(kinesink_metric_names::DELIVERY_SUCCESS).increment(1);
                    metrics::counter!(kinesink_metric_names::DELIVERY_RECORDS).increment(records);
                    metrics::counter!(kinesink_metric_names::DELIVERY_BYTES).increment(bytes);
                    metrics::counter!(kinesink_metric_names::FORMAT_CONVERSION_SUCCEEDED)
                        .increment(records);
                    self.stats.records.fetch_add(records, Ordering::Relaxed);
                    self.stats
                        .update(&self.shard_id, |p| p.delivered += records);
                    self.stats.objects.fetch_add(1, Ordering::Relaxed);
                    self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
                    return Ok(kinesink_iceberg_sink::routed_commits::TableFile {
                        table: id,
                        staged,
                        entry,
                    });
                }
                Err(e) => {
                    metrics::counter!(kinesink_metric_names::DELIVERY_FAILURES).increment(1);
                    let failing_for = first_failure.get_or_insert_with(Instant::now).elapsed();
                    let class = match e.class() {
                        kinesink_iceberg_sink::IcebergErrorClass::Transient => {
                            kinesink_delivery::SinkErrorClass::Transient
                        }
                        kinesink_iceberg_sink::IcebergErrorClass::Permanent => {
                            kinesink_delivery::SinkErrorClass::Permanent
                        }
                    };
                    let Some(pause) = retry.next_pause(failing_for, class) else {
                        return Err(Stop::Failed(format!(
                            "shard {}: writing data file {} failed for the whole retry duration ({} s); last error: {e}",
                            self.shard_id,
                            object.key,
                            self.retry_duration.as_secs()
                        )));
                    };
                    tracing::warn!(shard_id = %self.shard_id, key = %object.key, error = %e, "data file write failed; retrying");
                    tokio::select! {
                        () = lost.cancelled() => return Err(Stop::Lost),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    pub(crate) async fn write_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
        lost: &CancellationToken,
    ) -> Result<(), Stop> {
        self.lease_writes
            .checkpoint(&self.shard_id, checkpoint, lost)
            .await
            .map_err(Stop::from)?;
        tracing::debug!(shard_id = %self.shard_id, %checkpoint, "checkpoint written");
        Ok(())
    }
}

/// Counts a write that found its key already written with the same records (a replay or a
/// zombie wrote it first; the conditional write left it as it was), and reports, at WARN, an
/// object written under its alternative key because its own key held other records (a replay
/// that cut by size differently: the records of both objects may overlap, none is lost).
fn report_placement(shard_id: &str, placement: &Placement) {
    if let Some(own_key) = &placement.diverted_from {
        metrics::counter!(kinesink_metric_names::DELIVERY_ALTERNATIVE_KEY).increment(1);
        tracing::warn!(shard_id = %shard_id, key = %own_key, alternative_key = %placement.key, "the object's key already holds an object with other records (a replay cut by size differently, e.g. after a buffer_size_mib or format change or a leases reset); wrote this object under the alternative key, so records in both objects are duplicated and none is lost");
    }
    if placement.outcome != PutOutcome::Written {
        metrics::counter!(kinesink_metric_names::DELIVERY_ALREADY_WRITTEN).increment(1);
        tracing::debug!(shard_id = %shard_id, key = %placement.key, "object already written with the same records (a replay or another worker wrote it first); not written again");
    }
}
