//! `kinesink dry-run`: the same pipeline on a local file, no AWS at all.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;

use kinesink_delivery::{
    BufferAction, BufferEvent, FileSink, ObjectLayout, ObjectSink, ResumeState, ShardBuffers,
};
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::is_sequence_number;
use serde::Deserialize;

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

/// A bad line in the records file.
#[derive(Debug, thiserror::Error)]
#[error("{path} line {line}: {message}")]
pub struct InputError {
    /// The file.
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsElement {
    data: String,
    partition_key: String,
    sequence_number: String,
    approximate_arrival_timestamp: serde_json::Value,
}

fn arrival_ms(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(|secs| (secs * 1000.0).round() as i64)
            .ok_or_else(|| format!("ApproximateArrivalTimestamp {n} is not a number of seconds")),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| {
                format!("ApproximateArrivalTimestamp `{s}` is not epoch seconds or RFC 3339: {e}")
            }),
        other => Err(format!(
            "ApproximateArrivalTimestamp must be a number or string, not {other}"
        )),
    }
}

/// Parses the records file into Kinesis records.
///
/// # Errors
/// The first bad line, by number, with what is wrong with it.
pub fn read_input(input: &DryRunInput<'_>) -> Result<Vec<KinesisRecord>, InputError> {
    let path = input.path.display().to_string();
    let text = std::fs::read(input.path).map_err(|e| InputError {
        path: path.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut records = Vec::new();
    for (i, raw) in lines.into_iter().enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() && input.format == InputFormat::GetRecords {
            continue;
        }
        let fail = |message: String| InputError {
            path: path.clone(),
            line,
            message,
        };
        match input.format {
            InputFormat::Lines => records.push(KinesisRecord {
                data: raw.to_vec(),
                partition_key: format!("line-{line}"),
                sequence_number: line.to_string(),
                approximate_arrival_ms: input.lines_arrival_ms,
            }),
            InputFormat::GetRecords => {
                let e: GetRecordsElement =
                    serde_json::from_slice(raw).map_err(|e| fail(e.to_string()))?;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(e.data.as_bytes())
                    .map_err(|err| fail(format!("Data is not base64: {err}")))?;
                if !is_sequence_number(&e.sequence_number) {
                    return Err(fail(format!(
                        "SequenceNumber `{}` is not a decimal number",
                        e.sequence_number
                    )));
                }
                records.push(KinesisRecord {
                    data,
                    partition_key: e.partition_key,
                    sequence_number: e.sequence_number,
                    approximate_arrival_ms: arrival_ms(&e.approximate_arrival_timestamp)
                        .map_err(fail)?,
                });
            }
        }
    }
    Ok(records)
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
    let records = read_input(input)?;
    // A preview written again into the same directory replaces the earlier one.
    let sink: Arc<dyn ObjectSink> = Arc::new(FileSink::new(output).with_conditional_writes(false));
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: settings.name.clone(),
        format: settings.format.clone(),
        extension: settings.file_extension.clone(),
        error_codec: settings.error_codec,
        prefixes: settings.prefixes.clone(),
        query: settings.query.clone(),
        partition_limit: settings.partition_limit,
    };
    let mut pipeline = RecordPipeline::new(
        settings.kpl_deaggregation,
        settings.record_split.clone(),
        None,
    );
    let mut buffers = ShardBuffers::new(layout, settings.buffer, ResumeState::default());
    let mut summary = DryRunSummary {
        input_records: records.len(),
        objects: Vec::new(),
    };
    let mut events = Vec::new();
    for record in records {
        pipeline.process(record, &mut events);
    }
    events.push(BufferEvent::Drain);
    // The loop `run` uses; with no lease here, progress and checkpoints are acknowledged at once.
    let mut preview = Preview {
        sink,
        summary: &mut summary,
    };
    for event in events {
        kinesink_delivery::drive(&mut buffers, 0, event, &mut preview)
            .await
            .map_err(|e| match e {
                kinesink_delivery::DriveError::Buffers(e) => anyhow::Error::from(e),
                kinesink_delivery::DriveError::Perform(e) => e,
            })?;
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
