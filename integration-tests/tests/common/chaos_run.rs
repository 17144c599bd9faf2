//! Accounting of the chaos test (`tests/chaos.rs`): reading every delivered object back, the
//! error output types malformed records must land in, the faults each proxy injected, a
//! worker's log.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;

use base64::Engine;

use super::chaos_producer::Produced;
use super::fault_proxy::ProxyCounters;
use super::raw_objects;

/// How often each good event id and each malformed marker was delivered.
pub struct Delivered {
    pub events: BTreeMap<String, usize>,
    pub errors: BTreeMap<String, usize>,
    /// Error output type (the first level under `errors/`) each marker was found under.
    pub error_types: BTreeMap<String, String>,
    /// Good events delivered per shard id (taken from the data objects' keys).
    pub events_by_shard: BTreeMap<String, u64>,
    pub unexpected: Vec<String>,
    /// How often each good event id and each malformed marker is in the source backup
    /// (`backup/`: each record as read, gzip, newline-delimited).
    pub backup_events: BTreeMap<String, usize>,
    pub backup_errors: BTreeMap<String, usize>,
}

/// The ids and markers in a backup object's text: every `"event_id":"<id>"` of a good event, and
/// every `chaos-bad-<n>-<k>` marker (once in each malformed record, whatever its bytes).
fn backup_contents(text: &str, delivered: &mut Delivered) {
    let marker_chars = |c: char| c.is_ascii_alphanumeric() || c == '-';
    for (at, _) in text.match_indices("chaos-bad-") {
        let marker: String = text[at..]
            .chars()
            .take_while(|c| marker_chars(*c))
            .collect();
        *delivered.backup_errors.entry(marker).or_insert(0) += 1;
    }
    for (at, key) in text.match_indices("\"event_id\"") {
        let rest = text[at + key.len()..].trim_start();
        let Some(rest) = rest.strip_prefix(':').map(str::trim_start) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let id = &rest[..rest.find('"').unwrap_or(rest.len())];
        if !id.starts_with("chaos-bad-") {
            *delivered.backup_events.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
}

/// The `event_id` column of a Parquet object.
fn parquet_event_ids(key: &str, body: &[u8]) -> Vec<String> {
    use arrow_array::Array;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(body),
    )
    .unwrap_or_else(|e| panic!("{key} is not Parquet: {e}"))
    .build()
    .unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch
            .column_by_name("event_id")
            .unwrap_or_else(|| panic!("{key}: no event_id column"));
        let strings = column
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .expect("event_id is a string column");
        ids.extend((0..strings.len()).map(|i| strings.value(i).to_owned()));
    }
    ids
}

/// The shard id in an object key `.../<name>-<shard id>-<sequence number>-<sub>.<ext>`.
pub fn shard_of_key(key: &str) -> Option<String> {
    let file = key.rsplit('/').next()?;
    let at = file.find("shardId-")?;
    let id = &file[at..];
    let end = "shardId-".len() + id["shardId-".len()..].find('-')?;
    Some(id[..end].to_owned())
}

/// Reads every object under `s3://bucket/<stream>/` back: data objects are Parquet with an
/// `event_id` column; error objects are gzip JSON lines whose `rawData` holds a marker; backup
/// objects (`backup/`) are gzip records as read.
pub async fn read_back(bucket: &str, stream: &str) -> Delivered {
    let objects = raw_objects(bucket, &format!("{stream}/")).await;
    let mut delivered = Delivered {
        events: BTreeMap::new(),
        errors: BTreeMap::new(),
        error_types: BTreeMap::new(),
        events_by_shard: BTreeMap::new(),
        unexpected: Vec::new(),
        backup_events: BTreeMap::new(),
        backup_errors: BTreeMap::new(),
    };
    let errors_root = format!("{stream}/errors/");
    let backup_root = format!("{stream}/backup/");
    for (key, (_, raw)) in &objects {
        if key.starts_with(&backup_root) {
            let mut body = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut body)
                .expect("backup objects are gzip");
            backup_contents(&String::from_utf8_lossy(&body), &mut delivered);
            continue;
        }
        if !key.starts_with(&errors_root) {
            assert!(key.ends_with(".parquet"), "data objects are Parquet: {key}");
            let ids = parquet_event_ids(key, raw);
            let shard = shard_of_key(key).unwrap_or_else(|| panic!("no shard id in {key}"));
            *delivered.events_by_shard.entry(shard).or_insert(0) += ids.len() as u64;
            for id in ids {
                *delivered.events.entry(id).or_insert(0) += 1;
            }
            continue;
        }
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut body)
            .expect("error objects are gzip");
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let value: serde_json::Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("{key}: a line is not JSON: {e}"));
            let raw = base64::engine::general_purpose::STANDARD
                .decode(value["rawData"].as_str().expect("rawData"))
                .unwrap();
            let text = String::from_utf8_lossy(&raw);
            match text.find("chaos-bad-") {
                Some(at) => {
                    let marker: String = text[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    let output_type = key
                        .trim_start_matches(&errors_root)
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    delivered.error_types.insert(marker.clone(), output_type);
                    *delivered.errors.entry(marker).or_insert(0) += 1;
                }
                None => delivered
                    .unexpected
                    .push(format!("{key}: a good record in the error output: {value}")),
            }
        }
    }
    delivered
}

/// The error output type a malformed record of `kind` (its marker's last number modulo 4, see
/// the producer) lands in, with the chaos test's transform: not JSON fails the transform and a
/// corrupt KPL aggregate fails deaggregation, both before partitioning (`processing-failed`);
/// JSON without the partition key fails the partition query (`metadata-extraction-failed`); a
/// value the Parquet schema cannot take fails conversion.
pub fn expected_error_type(kind: u64) -> &'static str {
    match kind % 4 {
        0 | 2 => "processing-failed",
        1 => "metadata-extraction-failed",
        _ => "format-conversion-failed",
    }
}

/// Each kind of fault the proxy injects, by name, with how often it did.
pub fn faults_by_type(counters: &ProxyCounters) -> [(&'static str, u64); 4] {
    [
        (
            "server error",
            counters.server_errors.load(Ordering::Relaxed),
        ),
        ("throttle", counters.throttles.load(Ordering::Relaxed)),
        (
            "lost response",
            counters.lost_responses.load(Ordering::Relaxed),
        ),
        (
            "dropped connection",
            counters.dropped_connections.load(Ordering::Relaxed),
        ),
    ]
}

/// The last 20 lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Every produced record against what was delivered: good events delivered (once or more),
/// malformed records in the error output, the copies beyond the first, the records nowhere
/// (the first few of them), and delivered events nobody produced.
pub struct Tally {
    pub delivered_good: u64,
    pub in_error_prefix: u64,
    pub duplicates: u64,
    pub missing: u64,
    pub missing_examples: Vec<String>,
    pub unknown_events: u64,
}

/// Tallies `delivered` against `produced`.
pub fn tally(produced: &Produced, delivered: &Delivered) -> Tally {
    let mut duplicates = 0_u64;
    let mut missing = 0_u64;
    let mut missing_examples: Vec<String> = Vec::new();
    let mut delivered_good = 0_u64;
    for (prefix, n) in &produced.chunks {
        for i in 0..*n {
            match delivered
                .events
                .get(&format!("{prefix}-{i}"))
                .copied()
                .unwrap_or(0)
            {
                0 => {
                    missing += 1;
                    if missing_examples.len() < 5 {
                        missing_examples.push(format!("{prefix}-{i}"));
                    }
                }
                1 => delivered_good += 1,
                more => {
                    delivered_good += 1;
                    duplicates += (more - 1) as u64;
                }
            }
        }
    }
    let mut in_error_prefix = 0_u64;
    for marker in &produced.malformed {
        match delivered.errors.get(marker).copied().unwrap_or(0) {
            0 => {
                missing += 1;
                missing_examples.push(marker.clone());
            }
            1 => in_error_prefix += 1,
            more => {
                in_error_prefix += 1;
                duplicates += (more - 1) as u64;
            }
        }
    }
    let unknown_events = delivered.events.len() as u64
        - delivered
            .events
            .keys()
            .filter(|k| {
                produced
                    .chunks
                    .iter()
                    .any(|(p, _)| k.starts_with(&format!("{p}-")))
            })
            .count() as u64;
    Tally {
        delivered_good,
        in_error_prefix,
        duplicates,
        missing,
        missing_examples,
        unknown_events,
    }
}
