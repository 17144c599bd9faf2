//! `kinesink import-firehose`: turns the JSON of `aws firehose describe-delivery-stream` into an
//! equivalent kinesink configuration, with one message per setting that cannot be carried over.
//! Pure: JSON in, TOML text and messages out.

use serde_json::Value;
use toml::Table;

/// The result of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedConfig {
    /// The configuration as a TOML table (sections and keys as in `examples/kinesink.toml`).
    pub config: Table,
    /// Settings that were not carried over, one sentence each.
    pub not_carried_over: Vec<String>,
}

impl ImportedConfig {
    /// The configuration file text: a comment block listing what was not carried over, then TOML.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Imported from a Firehose delivery stream by `kinesink import-firehose`.\n",
        );
        if !self.not_carried_over.is_empty() {
            out.push_str("# Not carried over:\n");
            for m in &self.not_carried_over {
                out.push_str(&format!("#  - {m}\n"));
            }
        }
        out.push('\n');
        out.push_str(&toml::to_string(&self.config).expect("a TOML table always serialises"));
        out
    }
}

/// A document that is not a Kinesis-sourced S3 delivery stream description.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not importable: {0}")]
pub struct ImportError(pub String);

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

fn n(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_i64)
}

fn section<'a>(t: &'a mut Table, name: &str) -> &'a mut Table {
    t.entry(name.to_owned())
        .or_insert_with(|| toml::Value::Table(Table::new()))
        .as_table_mut()
        .expect("sections are tables")
}

fn param<'a>(processor: &'a Value, name: &str) -> Option<&'a str> {
    processor
        .get("Parameters")?
        .as_array()?
        .iter()
        .find(|p| s(p, &["ParameterName"]) == Some(name))
        .and_then(|p| s(p, &["ParameterValue"]))
}

/// Converts a `describe-delivery-stream` document.
///
/// # Errors
/// [`ImportError`] when the document has no Kinesis source or no (extended) S3 destination.
pub fn import(doc: &Value) -> Result<ImportedConfig, ImportError> {
    let d = doc.get("DeliveryStreamDescription").unwrap_or(doc);
    let mut config = Table::new();
    let mut notes = Vec::new();
    let name =
        s(d, &["DeliveryStreamName"]).ok_or_else(|| ImportError("no DeliveryStreamName".into()))?;
    config.insert("name".into(), name.into());

    let stream_arn = s(
        d,
        &[
            "Source",
            "KinesisStreamSourceDescription",
            "KinesisStreamARN",
        ],
    )
    .ok_or_else(|| {
        ImportError(
            "the source is not a Kinesis data stream (no KinesisStreamSourceDescription)".into(),
        )
    })?;
    let src = section(&mut config, "source");
    src.insert("stream_arn".into(), stream_arn.into());
    if let Some(region) = stream_arn.split(':').nth(3).filter(|r| !r.is_empty()) {
        src.insert("region".into(), region.into());
    }
    src.insert("initial_position".into(), "latest".into());
    notes.push(
        "where to start: initial_position = \"latest\"; stop the delivery stream first, or use at_timestamp with the time it stopped, so no record is skipped or delivered by both"
            .into(),
    );

    let dest = d
        .get("Destinations")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or_else(|| ImportError("no destination".into()))?;
    let e = dest
        .get("ExtendedS3DestinationDescription")
        .or_else(|| dest.get("S3DestinationDescription"))
        .ok_or_else(|| {
            ImportError("the destination is not S3 (only S3 destinations can be imported)".into())
        })?;
    let bucket = s(e, &["BucketARN"])
        .and_then(|a| a.strip_prefix("arn:aws:s3:::"))
        .ok_or_else(|| ImportError("the S3 destination has no BucketARN".into()))?;

    let mut processing = Table::new();
    processing.insert("kpl_deaggregation".into(), true.into());
    let mut delimiter = false;
    for p in e
        .get("ProcessingConfiguration")
        .filter(|c| c.get("Enabled") == Some(&Value::Bool(true)))
        .and_then(|c| c.get("Processors"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match s(p, &["Type"]) {
            Some("MetadataExtraction") => {
                if let Some(q) = param(p, "MetadataExtractionQuery") {
                    processing.insert("partition_query".into(), q.into());
                }
            }
            Some("RecordDeAggregation") => match param(p, "SubRecordType") {
                Some("JSON") => {
                    processing.insert("record_deaggregation".into(), "json".into());
                }
                Some("DELIMITED") => {
                    processing.insert("record_deaggregation".into(), "delimited".into());
                    if let Some(d) = param(p, "Delimiter") {
                        processing.insert("delimiter_base64".into(), d.into());
                    }
                }
                other => notes.push(format!("RecordDeAggregation with SubRecordType {other:?}")),
            },
            Some("AppendDelimiterToRecord") => delimiter = true,
            Some("Lambda") => notes.push(format!(
                "the Lambda transformation {} (kinesink has no transformation step yet; records are delivered untransformed)",
                param(p, "LambdaArn").unwrap_or("?")
            )),
            other => notes.push(format!("the processor {other:?}")),
        }
    }
    if e.get("DynamicPartitioningConfiguration")
        .and_then(|c| c.get("RetryOptions"))
        .is_some()
    {
        notes.push("DynamicPartitioningConfiguration.RetryOptions (kinesink retries S3 writes until they succeed)".into());
    }

    let mut destination = Table::new();
    destination.insert("url".into(), format!("s3://{bucket}").into());
    if let Some(p) = s(e, &["Prefix"]).filter(|p| !p.is_empty()) {
        destination.insert("prefix".into(), p.into());
    }
    if let Some(p) = s(e, &["ErrorOutputPrefix"]).filter(|p| !p.is_empty()) {
        destination.insert("error_output_prefix".into(), p.into());
    }
    if let Some(size) = n(e, &["BufferingHints", "SizeInMBs"]) {
        destination.insert("buffer_size_mib".into(), size.into());
    }
    if let Some(interval) = n(e, &["BufferingHints", "IntervalInSeconds"]) {
        destination.insert("buffer_interval_s".into(), interval.into());
    }
    if let Some(key) = s(
        e,
        &[
            "EncryptionConfiguration",
            "KMSEncryptionConfig",
            "AWSKMSKeyARN",
        ],
    ) {
        destination.insert("sse".into(), "aws:kms".into());
        destination.insert("kms_key_id".into(), key.into());
    }
    if s(e, &["S3BackupMode"]) == Some("Enabled") {
        notes.push("S3 backup of source records (S3BackupMode = Enabled)".into());
    }
    if e.get("CloudWatchLoggingOptions")
        .and_then(|c| c.get("Enabled"))
        == Some(&Value::Bool(true))
    {
        notes.push(
            "CloudWatch error logging (kinesink logs to stderr and serves Prometheus metrics)"
                .into(),
        );
    }

    let mut format = Table::new();
    let conversion = e
        .get("DataFormatConversionConfiguration")
        .filter(|c| c.get("Enabled") == Some(&Value::Bool(true)));
    if let Some(c) = conversion {
        format.insert("type".into(), "parquet".into());
        match c
            .get("OutputFormatConfiguration")
            .and_then(|o| o.get("Serializer"))
        {
            Some(ser) if ser.get("ParquetSerDe").is_some() => {
                let codec = match s(ser, &["ParquetSerDe", "Compression"]).unwrap_or("SNAPPY") {
                    "GZIP" => "gzip",
                    "UNCOMPRESSED" => "none",
                    _ => "snappy",
                };
                format.insert("compression".into(), codec.into());
                notes.push("ParquetSerDe BlockSizeBytes/PageSizeBytes/EnableDictionaryCompression/WriterVersion: kinesink's Parquet defaults apply (consider compression = \"zstd\")".into());
            }
            _ => notes.push(
                "an ORC output format (kinesink writes Parquet; type = \"parquet\" was chosen)"
                    .into(),
            ),
        }
        if let Some(openx) = c
            .get("InputFormatConfiguration")
            .and_then(|i| i.get("Deserializer"))
            .and_then(|d| d.get("OpenXJsonSerDe"))
        {
            if let Some(b) = openx.get("CaseInsensitive").and_then(Value::as_bool) {
                format.insert("case_insensitive".into(), b.into());
            }
            if let Some(b) = openx
                .get("ConvertDotsInJsonKeysToUnderscores")
                .and_then(Value::as_bool)
            {
                format.insert("convert_dots_in_json_keys_to_underscores".into(), b.into());
            }
            if let Some(m) = openx
                .get("ColumnToJsonKeyMappings")
                .and_then(Value::as_object)
            {
                let t: Table = m
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), toml::Value::from(v))))
                    .collect();
                format.insert("column_to_json_key_mappings".into(), toml::Value::Table(t));
            }
        } else {
            notes.push("the Hive JSON SerDe input format (kinesink reads JSON with OpenX JSON SerDe rules)".into());
        }
        let sc = c.get("SchemaConfiguration");
        let mut glue = Table::new();
        for (from, to) in [
            ("DatabaseName", "database"),
            ("TableName", "table"),
            ("CatalogId", "catalog_id"),
            ("VersionId", "version"),
        ] {
            if let Some(v) = sc.and_then(|sc| s(sc, &[from])) {
                glue.insert(to.into(), v.into());
            }
        }
        format.insert("glue".into(), toml::Value::Table(glue));
    } else {
        format.insert(
            "type".into(),
            if delimiter { "ndjson" } else { "raw" }.into(),
        );
        let codec = match s(e, &["CompressionFormat"]).unwrap_or("UNCOMPRESSED") {
            "GZIP" => "gzip",
            "UNCOMPRESSED" => "none",
            "Snappy" => "snappy",
            other => {
                notes.push(format!(
                    "CompressionFormat {other} (kinesink writes gzip instead)"
                ));
                "gzip"
            }
        };
        format.insert("compression".into(), codec.into());
    }

    config.insert("processing".into(), toml::Value::Table(processing));
    config.insert("destination".into(), toml::Value::Table(destination));
    config.insert("format".into(), toml::Value::Table(format));
    Ok(ImportedConfig {
        config,
        not_carried_over: notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/firehose")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
        assert_eq!(str_at(&c.config, "name"), "clicks-to-s3");
        assert_eq!(
            str_at(&c.config, "source.stream_arn"),
            "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"
        );
        assert_eq!(str_at(&c.config, "source.region"), "eu-west-1");
        assert_eq!(str_at(&c.config, "destination.url"), "s3://acme-raw-clicks");
        assert_eq!(str_at(&c.config, "destination.prefix"), "raw/");
        assert_eq!(
            str_at(&c.config, "destination.error_output_prefix"),
            "raw-errors/"
        );
        assert_eq!(
            get(&c.config, "destination.buffer_size_mib").and_then(toml::Value::as_integer),
            Some(5)
        );
        assert_eq!(
            str_at(&c.config, "format.type"),
            "ndjson",
            "AppendDelimiterToRecord means one record per line"
        );
        assert_eq!(str_at(&c.config, "format.compression"), "gzip");
        assert!(c.not_carried_over.iter().any(|m| m.contains("CloudWatch")));
    }

    #[test]
    fn dynamic_partitioning_carries_the_jq_query_prefixes_and_kms_and_names_the_lambda_it_drops() {
        let c = import(&fixture("dynamic_partitioning_jq.json")).unwrap();
        assert_eq!(
            str_at(&c.config, "processing.partition_query"),
            "{customer_id:.customer_id}"
        );
        assert_eq!(str_at(&c.config, "processing.record_deaggregation"), "json");
        assert_eq!(
            str_at(&c.config, "destination.prefix"),
            "orders/customer_id=!{partitionKeyFromQuery:customer_id}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
        );
        assert_eq!(str_at(&c.config, "destination.sse"), "aws:kms");
        assert!(str_at(&c.config, "destination.kms_key_id").starts_with("arn:aws:kms:us-east-1"));
        assert_eq!(
            get(&c.config, "destination.buffer_interval_s").and_then(toml::Value::as_integer),
            Some(60)
        );
        assert!(
            c.not_carried_over
                .iter()
                .any(|m| m.contains("function:enrich")),
            "{:?}",
            c.not_carried_over
        );
    }

    #[test]
    fn parquet_conversion_carries_the_glue_table_and_openx_options_and_names_the_backup_it_drops() {
        let c = import(&fixture("parquet_conversion.json")).unwrap();
        assert_eq!(str_at(&c.config, "format.type"), "parquet");
        assert_eq!(str_at(&c.config, "format.compression"), "snappy");
        assert_eq!(str_at(&c.config, "format.glue.database"), "lake");
        assert_eq!(str_at(&c.config, "format.glue.table"), "events");
        assert_eq!(str_at(&c.config, "format.glue.catalog_id"), "555555555555");
        assert_eq!(
            get(&c.config, "format.convert_dots_in_json_keys_to_underscores")
                .and_then(toml::Value::as_bool),
            Some(true)
        );
        assert_eq!(
            str_at(&c.config, "format.column_to_json_key_mappings.ts"),
            "timestamp"
        );
        assert!(
            c.not_carried_over
                .iter()
                .any(|m| m.contains("S3BackupMode"))
        );
        let text = c.to_toml();
        assert!(text.starts_with("# Imported") && text.contains("#  - S3 backup"));
        let reparsed: Table = toml::from_str(&text).expect("the output is valid TOML");
        assert_eq!(reparsed, c.config);
    }

    #[test]
    fn every_imported_configuration_is_accepted_by_the_config_loader() {
        for name in [
            "plain_gzip.json",
            "dynamic_partitioning_jq.json",
            "parquet_conversion.json",
        ] {
            let text = import(&fixture(name)).unwrap().to_toml();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("k.toml");
            std::fs::write(&path, &text).unwrap();
            if let Err(e) = crate::config::load(&path, &std::collections::BTreeMap::new()) {
                panic!("{name}: {e}\n{text}");
            }
        }
    }

    #[test]
    fn a_delivery_stream_without_a_kinesis_source_is_refused_with_the_reason() {
        let doc = serde_json::json!({"DeliveryStreamDescription": {"DeliveryStreamName": "x", "Source": {}}});
        assert!(import(&doc).unwrap_err().to_string().contains("Kinesis"));
    }
}
