//! What `check-config` prints: the settings a run would use, as a user writes them.

use kinesink_parquet_writer::{ObjectFormat, ParquetCompression, RecordFraming};
use kinesink_shard_reader::{StartPosition, StreamId};

use crate::config::{FormatSource, Settings};

/// The settings a run would use, one per line.
pub(crate) fn effective_settings(s: &Settings) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<24} {v}");
    };
    line("name", s.worker.name.clone());
    line(
        "stream",
        match &s.stream {
            StreamId::Name(n) => n.clone(),
            StreamId::Arn(a) => a.clone(),
        },
    );
    line(
        "region",
        s.region
            .clone()
            .unwrap_or_else(|| "(SDK default chain)".into()),
    );
    line(
        "initial position",
        match &s.worker.initial_position {
            StartPosition::TrimHorizon => "trim_horizon".to_owned(),
            StartPosition::Latest => "latest".to_owned(),
            StartPosition::AtTimestamp(ms) => format!(
                "at_timestamp {}",
                chrono::DateTime::from_timestamp_millis(*ms)
                    .map_or_else(|| format!("{ms} ms"), |t| t.to_rfc3339())
            ),
            StartPosition::AtSequence(q) => format!("at sequence number {q}"),
            StartPosition::AfterSequence(q) => format!("after sequence number {q}"),
        },
    );
    line("lease table", s.lease_table.clone());
    line(
        "failover time",
        format!("{} ms", s.worker.failover_time.as_millis()),
    );
    line(
        "lease table outages ridden out for",
        format!("{} s", s.worker.lease_retry_duration.as_secs()),
    );
    line("worker id", s.worker.worker_id.clone());
    line(
        "destination",
        match &s.destination {
            kinesink_delivery::Destination::S3 { bucket, root } => format!("s3://{bucket}/{root}"),
            kinesink_delivery::Destination::Directory(dir) => format!("file://{}", dir.display()),
        },
    );
    line("prefix", s.worker.prefixes.data().text().to_owned());
    line(
        "error output prefix",
        s.worker.prefixes.error().text().to_owned(),
    );
    line(
        "partition query",
        s.worker
            .query
            .as_ref()
            .map_or_else(|| "(none)".into(), |q| q.text().to_owned()),
    );
    line(
        "buffer",
        format!(
            "{} bytes or {} ms",
            s.worker.buffer.size_bytes, s.worker.buffer.interval_ms
        ),
    );
    let format = match &s.format {
        FormatSource::FromGlue(_) => "parquet, schema from Glue at start-up".to_owned(),
        FormatSource::FromTable(_) => "parquet, each Iceberg table's own schema".to_owned(),
        FormatSource::Given(ObjectFormat::Records { framing, codec }) => {
            format!(
                "{} records, {codec}",
                match framing {
                    RecordFraming::NewlineDelimited => "newline-delimited",
                    RecordFraming::Raw => "concatenated",
                }
            )
        }
        FormatSource::Given(ObjectFormat::Parquet(p)) => format!(
            "parquet, {} columns, {}",
            p.schema().columns().len(),
            match p.options().compression {
                ParquetCompression::Uncompressed => "none".to_owned(),
                ParquetCompression::Snappy => "snappy".to_owned(),
                ParquetCompression::Gzip => "gzip".to_owned(),
                ParquetCompression::Zstd { level } => {
                    format!("zstd level {level}")
                }
            }
        ),
    };
    line("format", format);
    line("file extension", s.worker.file_extension.clone());
    line("conditional writes", s.conditional_writes.to_string());
    line("kpl deaggregation", s.worker.kpl_deaggregation.to_string());
    line(
        "record deaggregation",
        match &s.worker.record_split {
            None => "none".to_owned(),
            Some(kinesink_record_deaggregation::SubRecordFormat::Json) => "json".to_owned(),
            Some(kinesink_record_deaggregation::SubRecordFormat::Delimited(d)) => {
                format!("delimited by {:?}", String::from_utf8_lossy(d.as_bytes()))
            }
        },
    );
    line(
        "metrics",
        s.metrics_listen
            .map_or_else(|| "(not served)".into(), |a| a.to_string()),
    );
    out
}
