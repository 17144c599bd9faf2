//! Tests of `import-firehose`: what is carried over from the describe-delivery-stream
//! fixtures, what is named as dropped, and that the output loads into the expected settings.

use super::*;
use toml::Table;

mod iceberg;

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/firehose")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The imported file as TOML reads it back: the keys and values as written.
fn written(c: &ImportedConfig) -> Table {
    toml::from_str(&toml::to_string(&c.config).unwrap()).unwrap()
}

fn get<'a>(t: &'a Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn str_at<'a>(t: &'a Table, path: &str) -> &'a str {
    get(t, path)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{path} missing in {t:#?}"))
}

#[test]
fn a_plain_gzip_delivery_stream_becomes_ndjson_gzip_to_the_same_bucket_and_prefixes() {
    let c = import(&fixture("plain_gzip.json")).unwrap();
    let t = written(&c);
    assert_eq!(str_at(&t, "name"), "clicks-to-s3");
    assert_eq!(
        str_at(&t, "source.stream_arn"),
        "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"
    );
    assert_eq!(str_at(&t, "source.region"), "eu-west-1");
    assert_eq!(str_at(&t, "destination.url"), "s3://acme-raw-clicks");
    assert_eq!(str_at(&t, "destination.prefix"), "raw/");
    assert_eq!(str_at(&t, "destination.error_output_prefix"), "raw-errors/");
    assert!(
        get(&t, "destination.backup_prefix").is_none(),
        "S3BackupMode Disabled: no backup"
    );
    assert_eq!(
        get(&t, "destination.buffer_size_mib").and_then(toml::Value::as_integer),
        Some(5)
    );
    assert_eq!(
        str_at(&t, "format.type"),
        "ndjson",
        "AppendDelimiterToRecord means one record per line"
    );
    assert_eq!(str_at(&t, "format.compression"), "gzip");
    assert!(c.not_carried_over.iter().any(|m| m.contains("CloudWatch")));
}

#[test]
fn dynamic_partitioning_carries_the_jq_query_prefixes_kms_and_the_lambda_processor() {
    let c = import(&fixture("dynamic_partitioning_jq.json")).unwrap();
    let t = written(&c);
    assert_eq!(
        str_at(&t, "processing.partition_query"),
        "{customer_id:.customer_id}"
    );
    assert_eq!(str_at(&t, "processing.record_deaggregation"), "json");
    assert_eq!(
        str_at(&t, "destination.prefix"),
        "orders/customer_id=!{partitionKeyFromQuery:customer_id}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
    );
    assert_eq!(str_at(&t, "destination.sse"), "aws:kms");
    assert!(str_at(&t, "destination.kms_key_id").starts_with("arn:aws:kms:us-east-1"));
    assert_eq!(
        get(&t, "destination.buffer_interval_s").and_then(toml::Value::as_integer),
        Some(60)
    );
    assert_eq!(
        str_at(&t, "processing.lambda.function"),
        "arn:aws:lambda:us-east-1:210987654321:function:enrich:$LATEST"
    );
    assert!(
        !c.not_carried_over.iter().any(|m| m.contains("Lambda")),
        "the Lambda processor is carried over: {:?}",
        c.not_carried_over
    );
}

#[test]
fn the_lambda_processors_parameters_are_carried_over_and_load() {
    let mut e = fixture("dynamic_partitioning_jq.json");
    let text = e.to_string().replace(
        r#"{"ParameterName":"LambdaArn","ParameterValue":"arn:aws:lambda:us-east-1:210987654321:function:enrich:$LATEST"}"#,
        r#"{"ParameterName":"LambdaArn","ParameterValue":"arn:aws:lambda:us-east-1:210987654321:function:enrich:$LATEST"},{"ParameterName":"BufferSizeInMBs","ParameterValue":"0.5"},{"ParameterName":"BufferIntervalInSeconds","ParameterValue":"120"},{"ParameterName":"NumberOfRetries","ParameterValue":"5"},{"ParameterName":"RoleArn","ParameterValue":"arn:aws:iam::210987654321:role/firehose"}"#,
    );
    assert_ne!(
        text,
        e.to_string(),
        "the fixture's Lambda processor was found"
    );
    e = serde_json::from_str(&text).unwrap();
    let c = import(&e).unwrap();
    let t = written(&c);
    assert_eq!(
        get(&t, "processing.lambda.buffer_size_mib").and_then(toml::Value::as_float),
        Some(0.5)
    );
    assert_eq!(
        get(&t, "processing.lambda.buffer_interval_s").and_then(toml::Value::as_integer),
        Some(120)
    );
    assert_eq!(
        get(&t, "processing.lambda.retries").and_then(toml::Value::as_integer),
        Some(5)
    );
    let settings = crate::tests::load_str(&c.to_toml(), &[]).unwrap();
    let lambda = settings.lambda.unwrap();
    assert_eq!(lambda.buffer_size_bytes, 512 * 1024);
    assert_eq!((lambda.buffer_interval_ms, lambda.retries), (120_000, 5));
}

#[test]
fn parquet_conversion_carries_the_glue_table_openx_options_and_source_backup_naming_its_own_bucket()
{
    let c = import(&fixture("parquet_conversion.json")).unwrap();
    let t = written(&c);
    assert_eq!(str_at(&t, "format.type"), "parquet");
    assert_eq!(str_at(&t, "format.compression"), "snappy");
    assert_eq!(str_at(&t, "format.glue.database"), "lake");
    assert_eq!(str_at(&t, "format.glue.table"), "events");
    assert_eq!(str_at(&t, "format.glue.catalog_id"), "555555555555");
    assert_eq!(
        get(&t, "format.convert_dots_in_json_keys_to_underscores").and_then(toml::Value::as_bool),
        Some(true)
    );
    assert_eq!(
        str_at(&t, "format.column_to_json_key_mappings.ts"),
        "timestamp"
    );
    assert_eq!(str_at(&t, "destination.backup_prefix"), "source-backup/");
    assert!(
        c.not_carried_over
            .iter()
            .any(|m| m.contains("own bucket (arn:aws:s3:::acme-lake-backup)")),
        "{:?}",
        c.not_carried_over
    );
    let text = c.to_toml();
    assert!(text.starts_with("# Imported") && text.contains("#  - S3 backup to its own bucket"));
    let reparsed: Table = toml::from_str(&text).expect("the output is valid TOML");
    assert_eq!(reparsed, t);
    let reparsed: FileConfig = toml::from_str(&text).expect("the output is a configuration file");
    assert_eq!(reparsed, c.config);
}

#[test]
fn every_imported_configuration_is_accepted_by_the_config_loader() {
    for name in [
        "plain_gzip.json",
        "dynamic_partitioning_jq.json",
        "parquet_conversion.json",
        "cloudwatch_logs.json",
        "iceberg.json",
    ] {
        let text = import(&fixture(name)).unwrap().to_toml();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, &text).unwrap();
        if let Err(e) = crate::load(&path, &std::collections::BTreeMap::new()) {
            panic!("{name}: {e}\n{text}");
        }
    }
}

/// The settings `config::load` makes of an import's output.
fn loaded(name: &str) -> crate::Settings {
    let text = import(&fixture(name)).unwrap().to_toml();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, &text).unwrap();
    crate::load(&path, &std::collections::BTreeMap::new())
        .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
}

#[test]
fn the_imported_files_load_into_the_typed_settings_firehose_had() {
    use crate::{Encryption, FormatSource};
    use kinesink_delivery::Destination;
    use kinesink_parquet_writer::{Codec, ObjectFormat, ParquetCompression, RecordFraming};
    use kinesink_shard_reader::{StartPosition, StreamId};

    let s = loaded("plain_gzip.json");
    assert_eq!(s.worker.name, "clicks-to-s3");
    assert_eq!(
        s.stream,
        StreamId::Arn("arn:aws:kinesis:eu-west-1:123456789012:stream/clicks".into())
    );
    assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s.worker.initial_position, StartPosition::Latest);
    assert!(s.worker.kpl_deaggregation);
    assert!(s.worker.record_split.is_none());
    assert!(
        matches!(&s.destination, Destination::S3 { bucket, .. } if bucket == "acme-raw-clicks"),
        "{:?}",
        s.destination
    );
    assert_eq!(s.worker.prefixes.data().text(), "raw/");
    assert_eq!(s.worker.prefixes.error().text(), "raw-errors/");
    assert_eq!(s.worker.buffer.size_bytes, 5 * 1024 * 1024);
    assert_eq!(s.worker.buffer.interval_ms, 300_000);
    assert!(matches!(
        s.format,
        FormatSource::Given(ObjectFormat::Records {
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::Gzip
        })
    ));
    assert_eq!(s.worker.file_extension, ".gz");
    assert_eq!(s.encryption, Encryption::None);

    let s = loaded("dynamic_partitioning_jq.json");
    assert_eq!(
        s.worker.record_split,
        Some(kinesink_record_deaggregation::SubRecordFormat::Json)
    );
    assert_eq!(
        s.worker
            .query
            .as_ref()
            .map(|q| q.text().to_owned())
            .as_deref(),
        Some("{customer_id:.customer_id}")
    );
    assert_eq!(
        s.encryption,
        Encryption::Kms(Some(
            "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()
        ))
    );
    assert_eq!(s.worker.buffer.size_bytes, 64 * 1024 * 1024);
    assert_eq!(s.worker.buffer.interval_ms, 60_000);

    let s = loaded("parquet_conversion.json");
    let FormatSource::FromGlue(glue) = &s.format else {
        panic!("Parquet from Glue expected: {:?}", s.format);
    };
    assert_eq!(
        glue.table,
        crate::GlueSection {
            database: "lake".into(),
            table: "events".into(),
            catalog_id: Some("555555555555".into()),
            version: Some("LATEST".into()),
            endpoint_url: None,
        }
    );
    assert_eq!(glue.options.compression, ParquetCompression::Snappy);
    assert!(glue.serde.case_insensitive && glue.serde.convert_dots_in_json_keys_to_underscores);
    assert_eq!(
        glue.serde
            .column_to_json_key_mappings
            .get("ts")
            .map(String::as_str),
        Some("timestamp")
    );
    assert_eq!(s.worker.file_extension, ".parquet");
    assert_eq!(s.worker.buffer.size_bytes, 128 * 1024 * 1024);
}

#[test]
fn the_output_writes_only_the_keys_the_import_sets() {
    let text = import(&fixture("plain_gzip.json")).unwrap().to_toml();
    for absent in [
        "[leases]",
        "[metrics]",
        "endpoint_url",
        "max_records",
        "reader",
    ] {
        assert!(!text.contains(absent), "`{absent}` in {text}");
    }
}

#[test]
fn a_format_conversion_without_a_glue_table_is_refused() {
    let mut doc = fixture("parquet_conversion.json");
    doc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["DataFormatConversionConfiguration"]["SchemaConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("TableName");
    assert!(import(&doc).unwrap_err().to_string().contains("TableName"));
}

#[test]
fn a_delivery_stream_without_a_kinesis_source_is_refused_with_the_reason() {
    let doc =
        serde_json::json!({"DeliveryStreamDescription": {"DeliveryStreamName": "x", "Source": {}}});
    assert!(import(&doc).unwrap_err().to_string().contains("Kinesis"));
}

#[test]
fn decompression_and_cloudwatch_logs_message_extraction_are_carried_over() {
    let c = import(&fixture("cloudwatch_logs.json")).unwrap();
    assert!(
        !c.not_carried_over.iter().any(|n| n.contains("processor")
            || n.contains("Decompression")
            || n.contains("CloudWatchLog")),
        "no processor dropped: {:?}",
        c.not_carried_over
    );
    let t = written(&c);
    assert_eq!(str_at(&t, "processing.decompression"), "gzip");
    assert_eq!(
        get(&t, "processing.cloudwatch_logs_message_extraction"),
        Some(&toml::Value::Boolean(true))
    );
    let s = loaded("cloudwatch_logs.json");
    assert_eq!(
        s.worker.processors,
        kinesink_record_processing::Processors {
            decompression: kinesink_record_processing::Decompression::Gzip,
            cloudwatch_logs_message_extraction: true,
        }
    );
}

#[test]
fn without_append_delimiter_records_stay_raw_and_an_enabled_backup_carries_its_prefix() {
    let mut description = fixture("plain_gzip.json");
    let extended = &mut description["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"];
    extended["ProcessingConfiguration"]["Processors"] = serde_json::json!([]);
    extended["S3BackupMode"] = "Enabled".into();
    extended["S3BackupDescription"] = serde_json::json!({
        "BucketARN": "arn:aws:s3:::acme-raw-clicks",
        "Prefix": "backup/clicks/",
    });
    let c = import(&description).unwrap();
    let t = written(&c);
    assert_eq!(
        str_at(&t, "format.type"),
        "raw",
        "without AppendDelimiterToRecord Firehose writes the records back to back"
    );
    assert_eq!(str_at(&t, "format.compression"), "gzip");
    assert_eq!(str_at(&t, "destination.backup_prefix"), "backup/clicks/");
    assert!(
        !c.not_carried_over.iter().any(|m| m.contains("backup")),
        "a backup to the destination's own bucket is carried over whole: {:?}",
        c.not_carried_over
    );
}
