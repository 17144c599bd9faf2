//! `kinesink dry-run`: the same pipeline on a local file, no AWS at all. The file is read in
//! batches ([`RecordFile`]), so its size does not set the memory a dry run needs.

use std::path::Path;
use std::sync::Arc;

use std::fs::File;
use std::io::BufReader;

use kinesink_delivery::{
    FileSink, MemoryBudget, ObjectLayout, ObjectSink, PreviewSummary, RecordPipeline, ResumeState,
    ShardBuffers,
};
use kinesink_parquet_writer::ObjectFormat;
use kinesink_shard_reader::{RecordFile, RecordFileError, RecordFileFormat};

use crate::config::Settings;

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
pub(crate) const BATCH_RECORDS: usize = 10_000;

impl DryRunInput<'_> {
    pub(crate) fn open(&self) -> Result<RecordFile<BufReader<File>>, RecordFileError> {
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

/// Runs deaggregation, buffering (size cuts and the memory budget; the interval does not apply
/// to a file) and object naming exactly as `run` does ([`kinesink_delivery::preview`]), writing objects below
/// `output`; returns the records read and the objects written.
///
/// # Errors
/// Bad input lines, or a failure writing to `output`.
pub async fn dry_run(
    settings: &Settings,
    format: &ObjectFormat,
    input: &DryRunInput<'_>,
    output: &Path,
) -> anyhow::Result<PreviewSummary> {
    let mut file = input.open()?;
    // A preview written again into the same directory replaces the earlier one.
    let sink: Arc<dyn ObjectSink> = Arc::new(FileSink::new(output).with_conditional_writes(false));
    let w = &settings.worker;
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: w.name.clone(),
        format: format.clone(),
        extension: w.file_extension.clone(),
        error_codec: w.error_codec,
        prefixes: w.prefixes.clone(),
        query: w.query.clone(),
        partition_limit: w.partition_limit,
        table: None,
    };
    let mut pipeline = RecordPipeline::new(w.kpl_deaggregation, w.record_split.clone(), None)
        .with_processors(w.processors)
        .with_transform(w.transform.clone())
        .with_backup(w.prefixes.backup().is_some());
    let mut buffers = ShardBuffers::new(layout, w.buffer, ResumeState::default());
    let mut lambda = crate::lambda_client::dry_run_shell(settings, input.shard_id).await;
    // `destination.memory_budget_mib` bounds a dry run as it bounds a worker.
    let mut budget = MemoryBudget::new(w.memory_budget_bytes);
    Ok(kinesink_delivery::preview(
        &mut pipeline,
        lambda.as_mut(),
        &mut buffers,
        Some(&mut budget),
        sink,
        || file.next_batch(BATCH_RECORDS),
    )
    .await?)
}
