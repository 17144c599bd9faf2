//! Tests of loading and validating the configuration file.

use super::*;
use kinesink_delivery::BufferLimits;
use kinesink_parquet_writer::Codec;
use kinesink_parquet_writer::{ObjectFormat, RecordFraming};
use kinesink_shard_reader::StartPosition;
use std::time::Duration;

/// Loads a configuration given as text, with these environment overrides.
pub(super) fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, text).unwrap();
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    load(&path, &env)
}

/// The smallest valid configuration.
pub(super) const MINIMAL: &str = r#"
name = "clicks"
[source]
stream = "clickstream"
[destination]
url = "s3://my-bucket/events"
"#;

#[test]
fn a_minimal_file_gets_firehose_defaults() {
    let s = load_str(MINIMAL, &[]).unwrap();
    assert_eq!(s.stream, StreamId::Name("clickstream".into()));
    assert_eq!(
        s.worker.buffer,
        BufferLimits {
            size_bytes: 5 * 1024 * 1024,
            interval_ms: 300_000
        }
    );
    assert!(matches!(
        s.format,
        FormatSource::Given(ObjectFormat::Records {
            codec: Codec::Gzip,
            framing: RecordFraming::NewlineDelimited
        })
    ));
    assert_eq!(s.worker.file_extension, ".gz");
    assert_eq!(s.lease_table, "kinesink-clicks");
    assert_eq!(s.worker.initial_position, StartPosition::TrimHorizon);
    assert_eq!(s.worker.failover_time, Duration::from_secs(10));
    assert_eq!(
        s.worker.lease_retry_duration,
        Duration::from_secs(600),
        "DynamoDB outages are ridden out for 10 minutes"
    );
    let s = load_str(MINIMAL, &[("KINESINK_LEASES__RETRY_DURATION_S", "45")]).unwrap();
    assert_eq!(s.worker.lease_retry_duration, Duration::from_secs(45));
}

#[test]
fn environment_variables_override_keys_and_numbers_parse_from_text() {
    let s = load_str(
        MINIMAL,
        &[
            ("KINESINK_SOURCE__STREAM", "other"),
            ("KINESINK_DESTINATION__BUFFER_INTERVAL_S", "7"),
            ("KINESINK_NAME", "renamed"),
            ("KINESINK_CACHE", "/not/a/config/key"),
        ],
    )
    .unwrap();
    assert_eq!(s.stream, StreamId::Name("other".into()));
    assert_eq!(s.worker.buffer.interval_ms, 7_000);
    assert_eq!(s.worker.name, "renamed");
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let e = load_str(&MINIMAL.replace("stream = ", "strem = "), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("strem") && e.contains("source"), "{e}");
}

#[test]
fn a_bad_value_from_the_environment_names_the_key() {
    let e = load_str(MINIMAL, &[("KINESINK_SOURCE__MAX_RECORDS", "lots")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.max_records"), "{e}");
}

#[test]
fn a_single_underscore_variable_is_not_an_override_and_is_reported_not_fatal() {
    // e.g. Kubernetes service links for a Service named kinesink-metrics
    let s = load_str(
        MINIMAL,
        &[
            ("KINESINK_SOURCE_STREAM", "x"),
            ("KINESINK_METRICS_SERVICE_HOST", "10.0.0.1"),
        ],
    )
    .unwrap();
    assert_eq!(s.stream, StreamId::Name("clickstream".into()));
    assert_eq!(s.warnings.len(), 2);
    assert!(
        s.warnings[1].contains("KINESINK_SOURCE_STREAM"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn enhanced_fan_out_takes_a_consumer_name_defaulting_to_the_delivery_name() {
    let s = load_str(
        &MINIMAL.replace("[source]", "[source]\nreader = \"efo\""),
        &[],
    )
    .unwrap();
    assert_eq!(
        s.reader,
        Reader::EnhancedFanOut {
            consumer_name: "kinesink-clicks".into()
        }
    );
    let s = load_str(
        &MINIMAL.replace(
            "[source]",
            "[source]\nreader = \"efo\"\nconsumer_name = \"mine\"",
        ),
        &[],
    )
    .unwrap();
    assert_eq!(
        s.reader,
        Reader::EnhancedFanOut {
            consumer_name: "mine".into()
        }
    );
    assert_eq!(load_str(MINIMAL, &[]).unwrap().reader, Reader::Polling);
    let e = load_str(
        &MINIMAL.replace("[source]", "[source]\nconsumer_name = \"mine\""),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("source.consumer_name") && e.contains("efo"),
        "{e}"
    );
}

#[test]
fn delivery_keys_have_firehose_like_defaults_and_env_overrides() {
    let s = load_str(MINIMAL, &[]).unwrap();
    assert_eq!(s.worker.memory_budget_bytes, 1024 * 1024 * 1024);
    assert_eq!(
        s.worker.retry_duration,
        Duration::from_secs(86_400),
        "Firehose retries S3 for 24 h"
    );
    assert!(!s.bucket_owner_full_control);
    assert_eq!(s.multipart_part_size_bytes, 8 * 1024 * 1024);
    let s = load_str(
        MINIMAL,
        &[
            ("KINESINK_DESTINATION__MEMORY_BUDGET_MIB", "64"),
            ("KINESINK_DESTINATION__RETRY_DURATION_S", "30"),
            ("KINESINK_DESTINATION__BUCKET_OWNER_FULL_CONTROL", "true"),
            ("KINESINK_DESTINATION__MULTIPART_PART_SIZE_MIB", "5"),
        ],
    )
    .unwrap();
    assert_eq!(s.worker.memory_budget_bytes, 64 * 1024 * 1024);
    assert_eq!(s.worker.retry_duration, Duration::from_secs(30));
    assert!(s.bucket_owner_full_control);
    assert_eq!(s.multipart_part_size_bytes, 5 * 1024 * 1024);
}

#[test]
fn a_prefix_using_a_key_the_query_does_not_produce_is_refused_at_load() {
    let text = MINIMAL.replace("[destination]", "[processing]\npartition_query = \"{a: .a}\"\n[destination]\nprefix = \"b=!{partitionKeyFromQuery:b}/\"\nerror_output_prefix = \"e/!{firehose:error-output-type}/\"");
    let e = load_str(&text, &[]).unwrap_err().to_string();
    assert!(e.contains("partition_query") && e.contains('b'), "{e}");
}

#[test]
fn a_bad_prefix_expression_is_refused_naming_the_key_and_column() {
    let text = MINIMAL.replace(
        "[destination]",
        "[destination]\nprefix = \"x/!{timestamp:yyyy\"",
    );
    let e = load_str(&text, &[]).unwrap_err().to_string();
    assert!(
        e.contains("destination.prefix") && e.contains("column"),
        "{e}"
    );
}

#[test]
fn parquet_needs_a_schema_and_a_bad_type_names_the_key() {
    let e = load_str(&format!("{MINIMAL}[format]\ntype = \"parquet\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("format.schema"), "{e}");
    let e = load_str(&format!("{MINIMAL}[format]\nschema = \"a strng\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("format.schema"), "{e}");
    let ok = load_str(
        &format!("{MINIMAL}[format]\nschema = \"a string, b bigint\"\n"),
        &[],
    )
    .unwrap();
    assert!(matches!(
        ok.format,
        FormatSource::Given(ObjectFormat::Parquet(_))
    ));
    assert_eq!(ok.worker.file_extension, ".parquet");
}

#[test]
fn the_reference_configuration_loads_unchanged() {
    // The repository's copy of `../shared/kinesink.example.toml`, so the test runs in any
    // clone; where the shared file is present, the copy must still be it.
    let copy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kinesink.example.toml");
    let text = std::fs::read_to_string(&copy).unwrap();
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kinesink.example.toml");
    if let Ok(original) = std::fs::read_to_string(&shared) {
        assert!(
            text == original,
            "{} differs from {}",
            copy.display(),
            shared.display()
        );
    }
    let s = load_str(&text, &[]).unwrap();
    assert_eq!(s.worker.memory_budget_bytes, 1024 * 1024 * 1024);
    assert!(matches!(
        s.format,
        FormatSource::Given(ObjectFormat::Parquet(_))
    ));
    assert!(s.worker.query.is_some());
}

#[test]
fn out_of_range_values_name_their_key() {
    for (k, v, key) in [
        (
            "KINESINK_DESTINATION__BUFFER_SIZE_MIB",
            "129",
            "destination.buffer_size_mib",
        ),
        (
            "KINESINK_DESTINATION__BUFFER_INTERVAL_S",
            "901",
            "destination.buffer_interval_s",
        ),
        ("KINESINK_SOURCE__MAX_RECORDS", "0", "source.max_records"),
        (
            "KINESINK_SOURCE__INITIAL_POSITION",
            "oldest",
            "source.initial_position",
        ),
        ("KINESINK_DESTINATION__URL", "ftp://x", "destination.url"),
        ("KINESINK_FORMAT__COMPRESSION", "lz4", "format.compression"),
        (
            "KINESINK_DESTINATION__MEMORY_BUDGET_MIB",
            "0",
            "destination.memory_budget_mib",
        ),
        (
            "KINESINK_LEASES__SHARD_SYNC_INTERVAL_MS",
            "10",
            "leases.shard_sync_interval_ms",
        ),
        (
            "KINESINK_LEASES__RETRY_DURATION_S",
            "0",
            "leases.retry_duration_s",
        ),
        (
            "KINESINK_LEASES__RETRY_DURATION_S",
            "86401",
            "leases.retry_duration_s",
        ),
        (
            "KINESINK_DESTINATION__RETRY_DURATION_S",
            "999999999",
            "destination.retry_duration_s",
        ),
        (
            "KINESINK_DESTINATION__MULTIPART_PART_SIZE_MIB",
            "4",
            "destination.multipart_part_size_mib",
        ),
        (
            "KINESINK_DESTINATION__BUCKET_OWNER_FULL_CONTROL",
            "maybe",
            "destination.bucket_owner_full_control",
        ),
        (
            "KINESINK_PROCESSING__STALL_TIMEOUT_S",
            "9",
            "processing.stall_timeout_s",
        ),
        (
            "KINESINK_PROCESSING__STALL_TIMEOUT_S",
            "86401",
            "processing.stall_timeout_s",
        ),
    ] {
        let e = load_str(MINIMAL, &[(k, v)]).unwrap_err().to_string();
        assert!(e.contains(key), "{k}={v}: {e}");
    }
}

#[test]
fn a_missing_stream_names_the_key() {
    let e = load_str(
        "name = \"n\"\n[source]\n[destination]\nurl = \"file:///tmp/x\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("source.stream"), "{e}");
}

#[test]
fn the_shipped_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kinesink.toml");
    load(&path, &BTreeMap::new()).unwrap();
}

#[test]
fn a_glue_table_is_carried_as_parquet_to_complete_at_start_up_not_as_a_placeholder() {
    let text = format!(
        "{MINIMAL}[format]\ncompression = \"snappy\"\ncase_insensitive = false\n[format.glue]\ndatabase = \"lake\"\ntable = \"events\"\n"
    );
    let s = load_str(&text, &[("KINESINK_FORMAT__GLUE__VERSION", "3")]).unwrap();
    let FormatSource::FromGlue(glue) = &s.format else {
        panic!("{:?}", s.format);
    };
    assert_eq!(
        glue.table,
        GlueSection {
            database: "lake".into(),
            table: "events".into(),
            catalog_id: None,
            version: Some("3".into()),
            endpoint_url: None,
        }
    );
    assert!(!glue.serde.case_insensitive);
    assert_eq!(s.worker.file_extension, ".parquet");
    let schema = kinesink_parquet_writer::TableSchema::parse_hive("a string, b bigint").unwrap();
    let ObjectFormat::Parquet(table) = glue.with_schema(schema).unwrap() else {
        panic!("a Glue schema makes a Parquet format");
    };
    assert_eq!(table.schema().columns().len(), 2);
    assert_eq!(
        table.options().compression,
        kinesink_parquet_writer::ParquetCompression::Snappy
    );
    let e = load_str(
        &text.replace("[format.glue]", "schema = \"a string\"\n[format.glue]"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("format.schema") && e.contains("format.glue"),
        "{e}"
    );
}
