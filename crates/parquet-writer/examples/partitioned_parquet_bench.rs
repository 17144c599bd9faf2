//! Our side of `bench/parquet_vs_duckdb.sh`: JSON lines → zstd Parquet partitioned by
//! `event_type` and `country`, on one thread, the way the worker does it — each record parsed
//! once, its partition values read from the parse, the record appended to that partition's
//! encoder; one object per partition, each written as one row group encoded once.
//!
//! Usage: `partitioned_parquet_bench <events.jsonl> <output dir> [value|bytes] [zstd level]`
//! - `value` (default): `serde_json::Value` per record (what the pipeline builds for its jq
//!   partition query), then `ParquetObjectEncoder::append_json`;
//! - `bytes`: `JsonRecordParser` per record (no `Value`), then `append_parsed`.
//!
//! Prints one JSON line: mode, records, failures, seconds, records_per_s, output_bytes, files.

#[path = "support/line_reader.rs"]
mod line_reader;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kinesink_parquet_writer::{
    JsonRecordParser, ParquetCompression, ParquetObjectEncoder, ParquetOptions, ParquetTableFormat,
    SerdeOptions, TableSchema,
};

/// The reference configuration's schema (`kinesink.example.toml`).
const SCHEMA: &str = "event_id string, customer_id string, event_type string, ts timestamp,
price double, quantity int, page string, country string, user_agent string, session_ms bigint";

type Encoders = HashMap<String, ParquetObjectEncoder, foldhash::fast::RandomState>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = match (args.get(1), args.get(2)) {
        (Some(i), Some(o)) => (PathBuf::from(i), PathBuf::from(o)),
        _ => {
            return Err(
                "usage: partitioned_parquet_bench <events.jsonl> <output dir> [value|bytes]".into(),
            );
        }
    };
    let mode = args.get(3).map_or("value", String::as_str);
    if mode != "value" && mode != "bytes" {
        return Err(format!("unknown mode `{mode}`: value or bytes").into());
    }
    let mut options = ParquetOptions::default();
    if let Some(level) = args.get(4) {
        options.compression = ParquetCompression::Zstd {
            level: level.parse()?,
        };
    }
    let schema = Arc::new(TableSchema::parse_hive(SCHEMA)?);
    let format = Arc::new(ParquetTableFormat::new(
        schema,
        Arc::new(SerdeOptions::default()),
        options,
    )?);

    let started = Instant::now();
    let mut encoders = Encoders::default();
    let mut key = String::new();
    let mut parser = JsonRecordParser::new();
    let (mut records, mut failures) = (0usize, 0usize);
    line_reader::for_each_line(&input, |line| {
        records += 1;
        let outcome = if mode == "bytes" {
            parser.parse(line).and_then(|parsed| {
                partition_of(
                    parsed.top_level_str("event_type"),
                    parsed.top_level_str("country"),
                    &mut key,
                );
                encoder_for(&mut encoders, &key, &format).append_parsed(&parsed)
            })
        } else {
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(value) => {
                    partition_of(
                        value["event_type"].as_str(),
                        value["country"].as_str(),
                        &mut key,
                    );
                    encoder_for(&mut encoders, &key, &format).append_json(&value)
                }
                Err(_) => {
                    failures += 1;
                    return;
                }
            }
        };
        if outcome.is_err() {
            failures += 1;
        }
    })?;
    let files = encoders.len();
    let mut output_bytes = 0usize;
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

/// Hive-style partition path of a record, written into `key`.
fn partition_of(event_type: Option<&str>, country: Option<&str>, key: &mut String) {
    key.clear();
    key.push_str("event_type=");
    key.push_str(event_type.unwrap_or("__HIVE_DEFAULT_PARTITION__"));
    key.push_str("/country=");
    key.push_str(country.unwrap_or("__HIVE_DEFAULT_PARTITION__"));
}

fn encoder_for<'a>(
    encoders: &'a mut Encoders,
    key: &str,
    format: &Arc<ParquetTableFormat>,
) -> &'a mut ParquetObjectEncoder {
    if !encoders.contains_key(key) {
        encoders.insert(
            key.to_owned(),
            ParquetObjectEncoder::with_format(Arc::clone(format)),
        );
    }
    encoders.get_mut(key).expect("inserted above")
}

fn write_object(root: &Path, partition: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = root.join(partition);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("part-0.parquet"), bytes)
}
