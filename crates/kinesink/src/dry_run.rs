//! `kinesink dry-run`: the same pipeline on a local file, no AWS at all. The file is read in
//! batches ([`RecordFile`]), so its size does not set the memory a dry run needs.

use std::path::Path;
use std::sync::Arc;

use std::fs::File;
use std::io::BufReader;

use kinesink_delivery::{
    BufferAction, BufferEvent, FileSink, ObjectLayout, ObjectSink, ResumeState, ShardBuffers,
};
use kinesink_shard_reader::{RecordFile, RecordFileError, RecordFileFormat};

use crate::config::Settings;
use kinesink_delivery::RecordPipeline;

/// The shape of the records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line shaped like an element of `aws kinesis get-records` output.
    GetRecords,
    /// One record's data per line (the line without its newline).
    Lines,
}

/// Where the dry run reads and what it pretends.
#[derive(Debug, Clone)]
pub struct DryRunInput<'a> {
    /// The records file.
    pub path: &'a Path,
    /// Its shape.
    pub format: InputFormat,
    /// The shard id used in object names.
    pub shard_id: &'a str,
    /// Arrival time given to `lines` records (ms since the epoch).
    pub lines_arrival_ms: i64,
}

/// Records read from the file per batch (as many as one GetRecords page may hold).
const BATCH_RECORDS: usize = 10_000;

impl DryRunInput<'_> {
    fn open(&self) -> Result<RecordFile<BufReader<File>>, RecordFileError> {
        let format = match self.format {
            InputFormat::GetRecords => RecordFileFormat::GetRecords,
            InputFormat::Lines => RecordFileFormat::Lines,
        };
        RecordFile::open(self.path, format, self.lines_arrival_ms)
    }

    /// Reads the whole file once, one batch at a time, so a bad line is reported before any
    /// object is written (a `lines` file has no bad lines: it is only opened).
    ///
    /// # Errors
    /// The first bad line, by number, with what is wrong with it.
    pub fn check(&self) -> Result<(), RecordFileError> {
        let mut file = self.open()?;
        if self.format == InputFormat::GetRecords {
            while !file.next_batch(BATCH_RECORDS)?.is_empty() {}
        }
        Ok(())
    }
}

/// What a dry run wrote.
#[derive(Debug, Clone, Default)]
pub struct DryRunSummary {
    /// Kinesis records read from the file.
    pub input_records: usize,
    /// `(key, user records)` of every object written, in write order.
    pub objects: Vec<(String, usize)>,
}

/// Runs deaggregation, buffering (size cuts; the interval does not apply to a file) and object
/// naming exactly as `run` does, writing objects below `output`.
///
/// # Errors
/// Bad input lines, or a failure writing to `output`.
pub async fn dry_run(
    settings: &Settings,
    input: &DryRunInput<'_>,
    output: &Path,
) -> anyhow::Result<DryRunSummary> {
    let crate::config::FormatSource::Given(format) = &settings.format else {
        anyhow::bail!(
            "config key `format.glue`: dry-run uses no AWS; give the schema inline in `format.schema`"
        );
    };
    let mut file = input.open()?;
    // A preview written again into the same directory replaces the earlier one.
    let sink: Arc<dyn ObjectSink> = Arc::new(FileSink::new(output).with_conditional_writes(false));
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: settings.worker.name.clone(),
        format: format.clone(),
        extension: settings.worker.file_extension.clone(),
        error_codec: settings.worker.error_codec,
        prefixes: settings.worker.prefixes.clone(),
        query: settings.worker.query.clone(),
        partition_limit: settings.worker.partition_limit,
    };
    let mut pipeline = RecordPipeline::new(
        settings.worker.kpl_deaggregation,
        settings.worker.record_split.clone(),
        None,
    );
    let mut buffers = ShardBuffers::new(layout, settings.worker.buffer, ResumeState::default());
    let mut summary = DryRunSummary::default();
    // The loop `run` uses; with no lease here, progress and checkpoints are acknowledged at once.
    let mut preview = Preview {
        sink,
        summary: &mut summary,
    };
    let mut events = Vec::new();
    loop {
        let batch = file.next_batch(BATCH_RECORDS)?;
        if batch.is_empty() {
            events.push(BufferEvent::Drain);
        }
        preview.summary.input_records += batch.len();
        for record in batch {
            pipeline.process(record, &mut events);
        }
        let done = matches!(events.last(), Some(BufferEvent::Drain));
        for event in events.drain(..) {
            kinesink_delivery::drive(&mut buffers, 0, event, &mut preview)
                .await
                .map_err(|e| match e {
                    kinesink_delivery::DriveError::Buffers(e) => anyhow::Error::from(e),
                    kinesink_delivery::DriveError::Perform(e) => e,
                })?;
        }
        if done {
            break;
        }
    }
    Ok(summary)
}

/// Performs a preview's actions: objects into the output directory, the rest acknowledged.
struct Preview<'a> {
    sink: Arc<dyn ObjectSink>,
    summary: &'a mut DryRunSummary,
}

impl kinesink_delivery::PerformActions for Preview<'_> {
    type Error = anyhow::Error;

    async fn perform(&mut self, action: BufferAction) -> anyhow::Result<BufferEvent> {
        Ok(match action {
            BufferAction::Write(object) => {
                let contents = kinesink_delivery::ObjectContents {
                    last: object.last.clone(),
                    records: object.record_count as u64,
                };
                self.sink.put(&object.key, object.body, &contents).await?;
                self.summary.objects.push((object.key, object.record_count));
                BufferEvent::ObjectDurable(object.ticket)
            }
            BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
            BufferAction::Checkpoint(at) => BufferEvent::CheckpointWritten(at),
        })
    }
}
