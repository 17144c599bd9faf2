//! A file of Kinesis records, read in batches the way GetRecords pages arrive: what
//! `kinesink dry-run` reads instead of a shard. Memory is one batch, whatever the file's size.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use kinesink_record_deaggregation::KinesisRecord;
use serde::Deserialize;

use crate::serde_body::{kinesis_record, record_data};

/// The shape of a records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFileFormat {
    /// One JSON object per line shaped like an element of `aws kinesis get-records` output
    /// (`Data` base64, `PartitionKey`, `SequenceNumber`, `ApproximateArrivalTimestamp` in epoch
    /// seconds or RFC 3339). Empty lines are skipped.
    GetRecords,
    /// One record's data per line (the line without its newline, and without a `\r` before
    /// it); the record of line `n` has partition key `line-n` and sequence number `n`.
    Lines,
}

/// A line of the file that is not a record, or a read failure (`line` 0: opening the file).
#[derive(Debug, thiserror::Error)]
#[error("{path} line {line}: {message}")]
pub struct RecordFileError {
    /// The file.
    pub path: String,
    /// 1-based line number (0 when the file could not be opened).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads a records file in batches. Guarantees: records come in file order, each line once;
/// a bad line is an error naming it (and the batch holding it is not returned), never skipped.
#[derive(Debug)]
pub struct RecordFile<R> {
    reader: R,
    path: String,
    format: RecordFileFormat,
    lines_arrival_ms: i64,
    line: usize,
    buf: Vec<u8>,
}

impl RecordFile<BufReader<File>> {
    /// Opens `path`; `lines_arrival_ms` is the arrival time given to [`RecordFileFormat::Lines`]
    /// records (ms since the epoch).
    ///
    /// # Errors
    /// The file cannot be opened (line 0).
    pub fn open(
        path: &Path,
        format: RecordFileFormat,
        lines_arrival_ms: i64,
    ) -> Result<Self, RecordFileError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| RecordFileError {
            path: name.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        Ok(Self::from_reader(
            BufReader::with_capacity(1 << 20, file),
            name,
            format,
            lines_arrival_ms,
        ))
    }
}

impl<R: BufRead> RecordFile<R> {
    /// Reads records from `reader`, named `path` in errors.
    pub fn from_reader(
        reader: R,
        path: impl Into<String>,
        format: RecordFileFormat,
        lines_arrival_ms: i64,
    ) -> Self {
        Self {
            reader,
            path: path.into(),
            format,
            lines_arrival_ms,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Up to `max_records` next records; empty at the end of the file.
    ///
    /// # Errors
    /// The first bad line, by number, with what is wrong with it; or a read failure.
    pub fn next_batch(
        &mut self,
        max_records: usize,
    ) -> Result<Vec<KinesisRecord>, RecordFileError> {
        let mut batch = Vec::with_capacity(max_records.min(10_000));
        while batch.len() < max_records.max(1) {
            self.buf.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| self.error(e.to_string()))?;
            if read == 0 {
                break;
            }
            self.line += 1;
            let mut raw = self.buf.as_slice();
            raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match self.format {
                RecordFileFormat::Lines => batch.push(KinesisRecord {
                    data: raw.to_vec(),
                    partition_key: format!("line-{}", self.line),
                    sequence_number: self.line.to_string(),
                    approximate_arrival_ms: self.lines_arrival_ms,
                }),
                RecordFileFormat::GetRecords if raw.is_empty() => {}
                RecordFileFormat::GetRecords => {
                    let record = get_records_element(raw).map_err(|m| self.error(m))?;
                    batch.push(record);
                }
            }
        }
        Ok(batch)
    }

    fn error(&self, message: String) -> RecordFileError {
        RecordFileError {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsElement {
    data: String,
    partition_key: String,
    sequence_number: String,
    approximate_arrival_timestamp: serde_json::Value,
}

fn get_records_element(raw: &[u8]) -> Result<KinesisRecord, String> {
    let e: GetRecordsElement = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    if !kinesink_sequence_position::is_sequence_number(&e.sequence_number) {
        return Err(format!(
            "SequenceNumber `{}` is not a decimal number",
            e.sequence_number
        ));
    }
    match e.approximate_arrival_timestamp {
        serde_json::Value::Number(n) => {
            let seconds = n.as_f64().ok_or_else(|| {
                format!("ApproximateArrivalTimestamp {n} is not a number of seconds")
            })?;
            kinesis_record(
                e.data.as_bytes(),
                Some(e.partition_key),
                e.sequence_number,
                Some(seconds),
            )
        }
        serde_json::Value::String(s) => {
            let arrival = chrono::DateTime::parse_from_rfc3339(&s).map_err(|err| {
                format!("ApproximateArrivalTimestamp `{s}` is not epoch seconds or RFC 3339: {err}")
            })?;
            Ok(KinesisRecord {
                data: record_data(&e.sequence_number, e.data.as_bytes())?,
                partition_key: e.partition_key,
                sequence_number: e.sequence_number,
                approximate_arrival_ms: arrival.timestamp_millis(),
            })
        }
        other => Err(format!(
            "ApproximateArrivalTimestamp must be a number or string, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(
        text: &str,
        format: RecordFileFormat,
        batch: usize,
    ) -> Result<Vec<Vec<KinesisRecord>>, RecordFileError> {
        let mut file = RecordFile::from_reader(text.as_bytes(), "in.jsonl", format, 7);
        let mut batches = Vec::new();
        loop {
            let b = file.next_batch(batch)?;
            if b.is_empty() {
                return Ok(batches);
            }
            batches.push(b);
        }
    }

    #[test]
    fn lines_are_records_in_order_in_batches_with_their_line_numbers() {
        let batches = all("a\r\nb\n\nd\n", RecordFileFormat::Lines, 3).unwrap();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 1]);
        let records: Vec<&KinesisRecord> = batches.iter().flatten().collect();
        let data: Vec<&[u8]> = records.iter().map(|r| r.data.as_slice()).collect();
        assert_eq!(data, [&b"a"[..], b"b", b"", b"d"]);
        assert_eq!(records[3].sequence_number, "4");
        assert_eq!(records[3].partition_key, "line-4");
        assert!(records.iter().all(|r| r.approximate_arrival_ms == 7));
    }

    #[test]
    fn a_last_line_without_newline_is_a_record_and_a_final_newline_adds_none() {
        assert_eq!(
            all("x\ny", RecordFileFormat::Lines, 10).unwrap()[0].len(),
            2
        );
        assert_eq!(
            all("x\ny\n", RecordFileFormat::Lines, 10).unwrap()[0].len(),
            2
        );
    }

    #[test]
    fn get_records_elements_are_decoded_and_empty_lines_skipped() {
        let text = "{\"Data\":\"aGk=\",\"PartitionKey\":\"p\",\"SequenceNumber\":\"42\",\"ApproximateArrivalTimestamp\":1700000000.5}\n\n\
                    {\"Data\":\"\",\"PartitionKey\":\"q\",\"SequenceNumber\":\"43\",\"ApproximateArrivalTimestamp\":\"2023-11-14T22:13:20Z\"}\n";
        let records: Vec<KinesisRecord> = all(text, RecordFileFormat::GetRecords, 10)
            .unwrap()
            .concat();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].data, b"hi");
        assert_eq!(records[0].approximate_arrival_ms, 1_700_000_000_500);
        assert_eq!(records[1].approximate_arrival_ms, 1_700_000_000_000);
        assert_eq!(records[1].sequence_number, "43");
    }

    #[test]
    fn a_bad_line_is_an_error_naming_its_line_and_what_is_wrong() {
        let good = "{\"Data\":\"aGk=\",\"PartitionKey\":\"p\",\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1}";
        for (bad, says) in [
            ("not json", "expected"),
            (
                "{\"Data\":\"!!\",\"PartitionKey\":\"p\",\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1}",
                "record 1 has Data that is not base64",
            ),
            (
                "{\"Data\":\"\",\"PartitionKey\":\"p\",\"SequenceNumber\":\"1a\",\"ApproximateArrivalTimestamp\":1}",
                "SequenceNumber `1a` is not a decimal number",
            ),
            (
                "{\"Data\":\"\",\"PartitionKey\":\"p\",\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":\"yesterday\"}",
                "not epoch seconds or RFC 3339",
            ),
        ] {
            let text = format!("{good}\n{good}\n{bad}\n");
            let e = all(&text, RecordFileFormat::GetRecords, 1).unwrap_err();
            assert_eq!(e.line, 3, "{e}");
            assert!(e.to_string().starts_with("in.jsonl line 3: "), "{e}");
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_at_line_zero() {
        let e = RecordFile::open(
            Path::new("/nonexistent/records.jsonl"),
            RecordFileFormat::Lines,
            0,
        )
        .unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.path.ends_with("records.jsonl"));
    }
}
