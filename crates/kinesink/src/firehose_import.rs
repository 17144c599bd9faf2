//! `kinesink import-firehose`: turns the JSON of `aws firehose describe-delivery-stream` into an
//! equivalent kinesink configuration, with one message per setting that cannot be carried over.
//! Pure: JSON in, the typed configuration file (written with `toml::to_string`) and messages out.

use serde_json::Value;

use crate::config::{
    Compression, DestinationSection, FileConfig, FormatSection, FormatType, GlueSection,
    InitialPosition, ProcessingSection, RecordDeaggregation, SourceSection, Sse,
};

/// The result of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedConfig {
    /// The configuration file, as `config::load` reads it.
    pub(crate) config: FileConfig,
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
        out.push_str(
            &toml::to_string(&self.config).expect("a configuration file always serialises"),
        );
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

fn n(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
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
/// [`ImportError`] when the document has no Kinesis source or no (extended) S3 destination, or
/// converts to Parquet without naming the Glue table of the schema.
pub fn import(doc: &Value) -> Result<ImportedConfig, ImportError> {
    let d = doc.get("DeliveryStreamDescription").unwrap_or(doc);
    let mut notes = Vec::new();
    let name =
        s(d, &["DeliveryStreamName"]).ok_or_else(|| ImportError("no DeliveryStreamName".into()))?;
    let source = source(d, &mut notes)?;

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
    let (processing, delimiter) = processing(e, &mut notes);
    let destination = destination(e, &mut notes)?;
    let format = format(e, delimiter, &mut notes)?;
    Ok(ImportedConfig {
        config: FileConfig {
            name: name.to_owned(),
            source,
            processing,
            destination,
            format,
            ..FileConfig::default()
        },
        not_carried_over: notes,
    })
}

/// `[source]`: the stream by ARN, its region, and a start that skips nothing Firehose delivered.
fn source(d: &Value, notes: &mut Vec<String>) -> Result<SourceSection, ImportError> {
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
    notes.push(
        "where to start: initial_position = \"latest\"; stop the delivery stream first, or use at_timestamp with the time it stopped, so no record is skipped or delivered by both"
            .into(),
    );
    Ok(SourceSection {
        stream_arn: Some(stream_arn.to_owned()),
        region: stream_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        initial_position: Some(InitialPosition::Latest),
        ..SourceSection::default()
    })
}

/// `[processing]` from the processors, and whether records get a newline appended.
fn processing(e: &Value, notes: &mut Vec<String>) -> (ProcessingSection, bool) {
    let mut processing = ProcessingSection {
        kpl_deaggregation: Some(true),
        ..ProcessingSection::default()
    };
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
                    processing.partition_query = Some(q.to_owned());
                }
            }
            Some("RecordDeAggregation") => match param(p, "SubRecordType") {
                Some("JSON") => {
                    processing.record_deaggregation = Some(RecordDeaggregation::Json);
                }
                Some("DELIMITED") => {
                    processing.record_deaggregation = Some(RecordDeaggregation::Delimited);
                    processing.delimiter_base64 = param(p, "Delimiter").map(str::to_owned);
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
    (processing, delimiter)
}

/// `[destination]`: the bucket, prefixes, buffering hints and KMS encryption.
fn destination(e: &Value, notes: &mut Vec<String>) -> Result<DestinationSection, ImportError> {
    let bucket = s(e, &["BucketARN"])
        .and_then(|a| a.strip_prefix("arn:aws:s3:::"))
        .ok_or_else(|| ImportError("the S3 destination has no BucketARN".into()))?;
    let kms_key_id = s(
        e,
        &[
            "EncryptionConfiguration",
            "KMSEncryptionConfig",
            "AWSKMSKeyARN",
        ],
    )
    .map(str::to_owned);
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
    let prefix = |key: &str| s(e, &[key]).filter(|p| !p.is_empty()).map(str::to_owned);
    Ok(DestinationSection {
        url: format!("s3://{bucket}"),
        prefix: prefix("Prefix"),
        error_output_prefix: prefix("ErrorOutputPrefix"),
        buffer_size_mib: n(e, &["BufferingHints", "SizeInMBs"]),
        buffer_interval_s: n(e, &["BufferingHints", "IntervalInSeconds"]),
        sse: kms_key_id.as_ref().map(|_| Sse::AwsKms),
        kms_key_id,
        ..DestinationSection::default()
    })
}

/// `[format]`: Parquet with the Glue table and OpenX options of a format conversion, else NDJSON
/// (records with a newline appended) or raw, compressed as Firehose did.
fn format(
    e: &Value,
    delimiter: bool,
    notes: &mut Vec<String>,
) -> Result<FormatSection, ImportError> {
    let Some(c) = e
        .get("DataFormatConversionConfiguration")
        .filter(|c| c.get("Enabled") == Some(&Value::Bool(true)))
    else {
        let compression = match s(e, &["CompressionFormat"]).unwrap_or("UNCOMPRESSED") {
            "GZIP" => Compression::Gzip,
            "UNCOMPRESSED" => Compression::None,
            "Snappy" => Compression::Snappy,
            other => {
                notes.push(format!(
                    "CompressionFormat {other} (kinesink writes gzip instead)"
                ));
                Compression::Gzip
            }
        };
        return Ok(FormatSection {
            kind: Some(if delimiter {
                FormatType::Ndjson
            } else {
                FormatType::Raw
            }),
            compression: Some(compression),
            ..FormatSection::default()
        });
    };
    let mut format = FormatSection {
        kind: Some(FormatType::Parquet),
        ..FormatSection::default()
    };
    match c
        .get("OutputFormatConfiguration")
        .and_then(|o| o.get("Serializer"))
    {
        Some(ser) if ser.get("ParquetSerDe").is_some() => {
            format.compression = Some(
                match s(ser, &["ParquetSerDe", "Compression"]).unwrap_or("SNAPPY") {
                    "GZIP" => Compression::Gzip,
                    "UNCOMPRESSED" => Compression::None,
                    _ => Compression::Snappy,
                },
            );
            notes.push("ParquetSerDe BlockSizeBytes/PageSizeBytes/EnableDictionaryCompression/WriterVersion: kinesink's Parquet defaults apply (consider compression = \"zstd\")".into());
        }
        _ => notes.push(
            "an ORC output format (kinesink writes Parquet; type = \"parquet\" was chosen)".into(),
        ),
    }
    if let Some(openx) = c
        .get("InputFormatConfiguration")
        .and_then(|i| i.get("Deserializer"))
        .and_then(|d| d.get("OpenXJsonSerDe"))
    {
        format.case_insensitive = openx.get("CaseInsensitive").and_then(Value::as_bool);
        format.convert_dots_in_json_keys_to_underscores = openx
            .get("ConvertDotsInJsonKeysToUnderscores")
            .and_then(Value::as_bool);
        if let Some(m) = openx
            .get("ColumnToJsonKeyMappings")
            .and_then(Value::as_object)
        {
            format.column_to_json_key_mappings = m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect();
        }
    } else {
        notes.push(
            "the Hive JSON SerDe input format (kinesink reads JSON with OpenX JSON SerDe rules)"
                .into(),
        );
    }
    let sc = c.get("SchemaConfiguration");
    let field = |from: &str| sc.and_then(|sc| s(sc, &[from])).map(str::to_owned);
    let (Some(database), Some(table)) = (field("DatabaseName"), field("TableName")) else {
        return Err(ImportError(
            "the format conversion names no Glue table (SchemaConfiguration DatabaseName and TableName)"
                .into(),
        ));
    };
    format.glue = Some(GlueSection {
        database,
        table,
        catalog_id: field("CatalogId"),
        version: field("VersionId"),
        endpoint_url: None,
    });
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::Table;

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
    fn dynamic_partitioning_carries_the_jq_query_prefixes_and_kms_and_names_the_lambda_it_drops() {
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
        let t = written(&c);
        assert_eq!(str_at(&t, "format.type"), "parquet");
        assert_eq!(str_at(&t, "format.compression"), "snappy");
        assert_eq!(str_at(&t, "format.glue.database"), "lake");
        assert_eq!(str_at(&t, "format.glue.table"), "events");
        assert_eq!(str_at(&t, "format.glue.catalog_id"), "555555555555");
        assert_eq!(
            get(&t, "format.convert_dots_in_json_keys_to_underscores")
                .and_then(toml::Value::as_bool),
            Some(true)
        );
        assert_eq!(
            str_at(&t, "format.column_to_json_key_mappings.ts"),
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
        assert_eq!(reparsed, t);
        let reparsed: FileConfig =
            toml::from_str(&text).expect("the output is a configuration file");
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

    /// The settings `config::load` makes of an import's output.
    fn loaded(name: &str) -> crate::config::Settings {
        let text = import(&fixture(name)).unwrap().to_toml();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, &text).unwrap();
        crate::config::load(&path, &std::collections::BTreeMap::new())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
    }

    #[test]
    fn the_imported_files_load_into_the_typed_settings_firehose_had() {
        use crate::config::{Encryption, FormatSource};
        use kinesink_delivery::Destination;
        use kinesink_parquet_writer::{Codec, ObjectFormat, ParquetCompression, RecordFraming};
        use kinesink_shard_reader::{StartPosition, StreamId};

        let s = loaded("plain_gzip.json");
        assert_eq!(s.name, "clicks-to-s3");
        assert_eq!(
            s.stream,
            StreamId::Arn("arn:aws:kinesis:eu-west-1:123456789012:stream/clicks".into())
        );
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.initial_position, StartPosition::Latest);
        assert!(s.kpl_deaggregation);
        assert!(s.record_split.is_none());
        assert!(
            matches!(&s.destination, Destination::S3 { bucket, .. } if bucket == "acme-raw-clicks"),
            "{:?}",
            s.destination
        );
        assert_eq!(s.prefixes.data().text(), "raw/");
        assert_eq!(s.prefixes.error().text(), "raw-errors/");
        assert_eq!(s.buffer.size_bytes, 5 * 1024 * 1024);
        assert_eq!(s.buffer.interval_ms, 300_000);
        assert!(matches!(
            s.format,
            FormatSource::Given(ObjectFormat::Records {
                framing: RecordFraming::NewlineDelimited,
                codec: Codec::Gzip
            })
        ));
        assert_eq!(s.file_extension, ".gz");
        assert_eq!(s.encryption, Encryption::None);

        let s = loaded("dynamic_partitioning_jq.json");
        assert_eq!(
            s.record_split,
            Some(kinesink_record_deaggregation::SubRecordFormat::Json)
        );
        assert_eq!(
            s.query.as_ref().map(|q| q.text().to_owned()).as_deref(),
            Some("{customer_id:.customer_id}")
        );
        assert_eq!(
            s.encryption,
            Encryption::Kms(Some(
                "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into()
            ))
        );
        assert_eq!(s.buffer.size_bytes, 64 * 1024 * 1024);
        assert_eq!(s.buffer.interval_ms, 60_000);

        let s = loaded("parquet_conversion.json");
        let FormatSource::FromGlue(glue) = &s.format else {
            panic!("Parquet from Glue expected: {:?}", s.format);
        };
        assert_eq!(
            glue.table,
            crate::config::GlueSection {
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
        assert_eq!(s.file_extension, ".parquet");
        assert_eq!(s.buffer.size_bytes, 128 * 1024 * 1024);
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
        let doc = serde_json::json!({"DeliveryStreamDescription": {"DeliveryStreamName": "x", "Source": {}}});
        assert!(import(&doc).unwrap_err().to_string().contains("Kinesis"));
    }
}
