//! Our side of `bench/parquet_vs_duckdb.sh`: JSON lines → zstd Parquet partitioned by
//! `event_type` and `country`, on one thread, as the worker does it (parse each record once
//! into a `serde_json::Value`, take the partition values from it, append it to that
//! partition's encoder; one object per partition, each one row group encoded once).
//!
//! Usage: `partitioned_parquet_bench <events.jsonl> <output dir> [value|bytes]`
//! - `value` (default): `ParquetObjectEncoder::append_json` on the parsed value;
//! - `bytes`: each line parsed once by a `JsonRecordParser` (no `Value`), the partition values
//!   read from it, then `append_parsed`.
//!
//! Prints one JSON line: records, failures, seconds, records_per_s, output_bytes, files.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kinesink_parquet_writer::{JsonRecordParser, ParquetObjectEncoder, ParquetOptions, ParquetTableFormat, SerdeOptions, TableSchema};

/// The reference configuration's schema (`../shared/kinesink.example.toml`).
/// Bytes read from the file at a time.
const READ_BUFFER_BYTES: usize = 8 << 20;

const SCHEMA: &str = "event_id string, customer_id string, event_type string, ts timestamp,
price double, quantity int, page string, country string, user_agent string, session_ms bigint";

fn partition_of(event_type: Option<&str>, country: Option<&str>, key: &mut String) {
    key.clear();
    key.push_str("event_type=");
    key.push_str(event_type.unwrap_or("__null__"));
    key.push_str("/country=");
    key.push_str(country.unwrap_or("__null__"));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = match (args.get(1), args.get(2)) {
        (Some(i), Some(o)) => (PathBuf::from(i), PathBuf::from(o)),
        _ => return Err("usage: partitioned_parquet_bench <events.jsonl> <output dir> [value|bytes]".into()),
    };
    let mode = args.get(3).map_or("value", String::as_str);
    let schema = Arc::new(TableSchema::parse_hive(SCHEMA)?);
    let format = Arc::new(ParquetTableFormat::new(schema, Arc::new(SerdeOptions::default()), ParquetOptions::default())?);

    let started = Instant::now();
    let mut encoders: HashMap<String, ParquetObjectEncoder, foldhash::fast::RandomState> = HashMap::default();
    let mut key = String::new();
    let mut parser = JsonRecordParser::new();
    let (mut records, mut failures) = (0usize, 0usize);
    // Stream the file through a fixed buffer, as the worker streams records: whole lines are
    // processed, a partial last line is carried over to the next read.
    let mut file = std::fs::File::open(&input)?;
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut filled = 0;
    loop {
        let read = file.read(&mut buffer[filled..])?;
        filled += read;
        let complete = if read == 0 { filled } else { memchr::memrchr(b'\n', &buffer[..filled]).map_or(0, |i| i + 1) };
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &buffer[..complete]).chain(std::iter::once(complete)) {
            let line = &buffer[start..end];
            start = (end + 1).min(complete);
            if line.is_empty() {
                continue;
            }
            records += 1;
            let result = match mode {
                "bytes" => match parser.parse(line) {
                    Ok(parsed) => {
                        partition_of(parsed.top_level_str("event_type"), parsed.top_level_str("country"), &mut key);
                        encoder_for(&mut encoders, &key, &format).append_parsed(&parsed)
                    }
                    Err(e) => Err(e),
                },
                _ => match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(value) => {
                        partition_of(value["event_type"].as_str(), value["country"].as_str(), &mut key);
                        encoder_for(&mut encoders, &key, &format).append_json(&value)
                    }
                    Err(_) => {
                        failures += 1;
                        continue;
                    }
                },
            };
            if result.is_err() {
                failures += 1;
            }
        }
        if read == 0 {
            break;
        }
        buffer.copy_within(complete..filled, 0);
        filled -= complete;
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0); // a line longer than the buffer
        }
    }
    let mut output_bytes = 0usize;
    let files = encoders.len();
    for (partition, encoder) in encoders {
        let bytes = encoder.finish()?;
        output_bytes += bytes.len();
        write_object(&output, &partition, &bytes)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let per_second = records as f64 / seconds;
    println!(
        "{{\"mode\":\"{mode}\",\"records\":{records},\"failures\":{failures},\"seconds\":{seconds:.3},\"records_per_s\":{per_second:.0},\"output_bytes\":{output_bytes},\"files\":{files}}}"
    );
    Ok(())
}

fn encoder_for<'a>(
    encoders: &'a mut HashMap<String, ParquetObjectEncoder, foldhash::fast::RandomState>,
    key: &str,
    format: &Arc<ParquetTableFormat>,
) -> &'a mut ParquetObjectEncoder {
    if !encoders.contains_key(key) {
        encoders.insert(key.to_owned(), ParquetObjectEncoder::with_format(Arc::clone(format)));
    }
    encoders.get_mut(key).expect("inserted above")
}

fn write_object(root: &Path, partition: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = root.join(partition);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("part-0.parquet"), bytes)
}
