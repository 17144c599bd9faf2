//! Memory of many open Parquet objects: spreads the sample events over N partitions (1,000 by
//! default, record i → partition i mod N) so that every partition's encoder is open at once,
//! then reports the peak resident memory (VmHWM) and what the encoders say they hold, and
//! finishes the objects one by one as the delivery would upload them.
//!
//! Usage: `open_partitions_memory <events.jsonl> [partitions] [value|bytes] [compact]`
//! (`compact`: every encoder encodes its rows into a row group once all records are in, as
//! under memory pressure, before memory is measured.)
//! Prints one JSON line. Linux only (reads /proc/self/status).

#[path = "support/line_reader.rs"]
mod line_reader;

use std::path::PathBuf;
use std::sync::Arc;

use kinesink_parquet_writer::{
    JsonRecordParser, ParquetObjectEncoder, ParquetOptions, ParquetTableFormat, SerdeOptions,
    TableSchema,
};

const SCHEMA: &str = "event_id string, customer_id string, event_type string, ts timestamp,
price double, quantity int, page string, country string, user_agent string, session_ms bigint";

/// A `kB` line of /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = PathBuf::from(
        args.get(1)
            .ok_or("usage: open_partitions_memory <events.jsonl> [partitions] [value|bytes]")?,
    );
    let partitions: usize = args.get(2).map_or(Ok(1000), |p| p.parse())?;
    let mode = args.get(3).map_or("value", String::as_str);
    let schema = Arc::new(TableSchema::parse_hive(SCHEMA)?);
    let format = Arc::new(ParquetTableFormat::new(
        schema,
        Arc::new(SerdeOptions::default()),
        ParquetOptions::default(),
    )?);
    let mut encoders: Vec<ParquetObjectEncoder> = (0..partitions)
        .map(|_| ParquetObjectEncoder::with_format(Arc::clone(&format)))
        .collect();
    let mut parser = JsonRecordParser::new();
    let mut records = 0usize;
    let mut failures = 0usize;
    line_reader::for_each_line(&input, |line| {
        let encoder = &mut encoders[records % partitions];
        records += 1;
        let outcome = if mode == "bytes" {
            parser.parse(line).and_then(|p| encoder.append_parsed(&p))
        } else {
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(v) => encoder.append_json(&v),
                Err(_) => {
                    failures += 1;
                    return;
                }
            }
        };
        failures += usize::from(outcome.is_err());
    })?;
    if args.get(4).is_some_and(|a| a == "compact") {
        for encoder in &mut encoders {
            encoder.compact();
        }
    }
    let open_peak = status_mib("VmHWM:");
    let open_rss = status_mib("VmRSS:");
    let reported = mib(encoders
        .iter()
        .map(ParquetObjectEncoder::buffered_bytes)
        .sum());
    let mut output_bytes = 0usize;
    for encoder in encoders.drain(..) {
        output_bytes += encoder.finish()?.len();
    }
    println!(
        "{{\"mode\":\"{mode}\",\"partitions\":{partitions},\"records\":{records},\"failures\":{failures},\"rss_with_all_open_mib\":{open_rss:.0},\"peak_rss_while_open_mib\":{open_peak:.0},\"encoders_buffered_mib\":{reported:.0},\"peak_rss_after_finishing_mib\":{:.0},\"output_mib\":{:.1}}}",
        status_mib("VmHWM:"),
        mib(output_bytes)
    );
    Ok(())
}
