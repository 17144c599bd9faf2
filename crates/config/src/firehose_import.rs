//! `kinesink import-firehose`: turns the JSON of `aws firehose describe-delivery-stream` (an S3
//! or an Apache Iceberg destination) into an equivalent kinesink configuration, with one
//! message per setting that cannot be carried over.
//! Pure: JSON in, the typed configuration file (written with `toml::to_string`) and messages out.

use serde_json::Value;

use crate::{
    Compression, DecompressionKind, DestinationSection, FileConfig, FormatSection, FormatType,
    GlueSection, InitialPosition, ProcessingSection, RecordDeaggregation, SourceSection, Sse,
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
/// An S3 destination becomes `[destination]` and `[format]`; an Iceberg destination
/// (`IcebergDestinationDescription`) becomes `[destination.iceberg]` with its Glue catalog and
/// first table, the error output on the S3 configuration's bucket, and Parquet with that
/// table's schema from Glue (`[format.glue]`).
///
/// # Errors
/// [`ImportError`] when the document has no Kinesis source or no S3 or Iceberg destination,
/// converts to Parquet without naming the Glue table of the schema, or delivers to Iceberg
/// without naming a table.
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
    if let Some(i) = dest.get("IcebergDestinationDescription") {
        let stream_arn = source.stream_arn.clone().unwrap_or_default();
        let imported = iceberg_destination::import_iceberg(i, &stream_arn, &mut notes)?;
        return Ok(ImportedConfig {
            config: FileConfig {
                name: name.to_owned(),
                source,
                processing: imported.processing,
                destination: imported.destination,
                format: imported.format,
                ..FileConfig::default()
            },
            not_carried_over: notes,
        });
    }
    let e = dest
        .get("ExtendedS3DestinationDescription")
        .or_else(|| dest.get("S3DestinationDescription"))
        .ok_or_else(|| {
            ImportError(
                "the destination is neither S3 nor Apache Iceberg tables (only those can be imported)"
                    .into(),
            )
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
            Some("Decompression") => match param(p, "CompressionFormat") {
                Some("GZIP") | None => processing.decompression = Some(DecompressionKind::Gzip),
                other => notes.push(format!("Decompression with CompressionFormat {other:?}")),
            },
            Some("CloudWatchLogProcessing") => {
                if param(p, "DataMessageExtraction").is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    processing.cloudwatch_logs_message_extraction = Some(true);
                }
            }
            Some("Lambda") => processing.lambda = Some(lambda_processor(p, notes)),
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

/// `[processing.lambda]` from Firehose's Lambda processor: `LambdaArn`, `BufferSizeInMBs`,
/// `BufferIntervalInSeconds`, `NumberOfRetries` (Firehose's defaults where absent); a value
/// that is not a number is noted and left to the default.
fn lambda_processor(p: &Value, notes: &mut Vec<String>) -> crate::LambdaSection {
    let mut number = |name: &str| -> Option<f64> {
        let text = param(p, name)?;
        let value = text.trim().parse::<f64>().ok();
        if value.is_none() {
            notes.push(format!(
                "the Lambda processor's {name} {text:?} (not a number; the default is used)"
            ));
        }
        value
    };
    let buffer_size = number("BufferSizeInMBs");
    let interval = number("BufferIntervalInSeconds");
    let retries = number("NumberOfRetries");
    // Out-of-range values saturate; loading the file names the key and its range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let section = crate::LambdaSection {
        function: param(p, "LambdaArn").map(str::to_owned),
        buffer_size_mib: buffer_size.map(|v| crate::MilliMebibytes((v * 1000.0).round() as u64)),
        buffer_interval_s: interval.map(|v| v as u64),
        retries: retries.map(|v| v as u32),
        endpoint_url: None,
    };
    section
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
    let backup_prefix = (s(e, &["S3BackupMode"]) == Some("Enabled")).then(|| {
        let b = |k: &str| s(e, &["S3BackupDescription", k]).filter(|v| !v.is_empty());
        if let Some(other) = b("BucketARN").filter(|a| a.strip_prefix("arn:aws:s3:::") != Some(bucket)) {
            notes.push(format!("S3 backup to its own bucket ({other}): kinesink writes the source backup to the destination's bucket, under backup_prefix"));
        }
        b("Prefix").unwrap_or("source-backup/").to_owned()
    });
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
        backup_prefix,
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

mod iceberg_destination;
#[cfg(test)]
mod tests;
