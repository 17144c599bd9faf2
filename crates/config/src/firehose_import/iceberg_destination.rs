//! `import-firehose` of an `IcebergDestinationDescription` (a delivery stream into Apache
//! Iceberg tables) into `[destination]` + `[destination.iceberg]`, `[format]` and
//! `[processing]`, naming what cannot be carried over.

use serde_json::Value;

use super::{ImportError, destination, n, processing, s};
use crate::iceberg::{CatalogSetting, IcebergSection};
use crate::{DestinationSection, FormatSection, FormatType, GlueSection, ProcessingSection};

/// What an Iceberg destination becomes.
pub(super) struct IcebergImport {
    /// `[processing]` (no partition query: Firehose's routing queries are not carried over).
    pub(super) processing: ProcessingSection,
    /// `[destination]` with its `[destination.iceberg]`.
    pub(super) destination: DestinationSection,
    /// `[format]`: Parquet with the schema of the destination table in Glue.
    pub(super) format: FormatSection,
}

/// The table a destination table configuration names, with what kinesink can use of it.
struct TableConfig<'a> {
    database: &'a str,
    table: &'a str,
    entry: &'a Value,
}

/// Which catalog a `CatalogARN` names.
#[derive(Debug, PartialEq, Eq)]
enum CatalogArn<'a> {
    /// `arn:aws:glue:<region>:<account>:catalog`: the account's Glue Data Catalog.
    Glue { region: &'a str, account: &'a str },
    /// `arn:aws:glue:<region>:<account>:catalog/s3tablescatalog/<table bucket>`: S3 Tables.
    S3Tables {
        region: &'a str,
        account: &'a str,
        bucket: &'a str,
    },
}

impl<'a> CatalogArn<'a> {
    /// The catalog `arn` names, or `None` when it is not a Glue catalog ARN.
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("glue"), Some(region), Some(account), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        match rest.strip_prefix("catalog") {
            Some("") => Some(Self::Glue { region, account }),
            Some(path) => path
                .strip_prefix("/s3tablescatalog/")
                .filter(|bucket| !bucket.is_empty() && !bucket.contains('/'))
                .map(|bucket| Self::S3Tables {
                    region,
                    account,
                    bucket,
                }),
            None => None,
        }
    }
}

/// The `i`th part of a colon-separated ARN.
fn arn_part(arn: &str, i: usize) -> Option<&str> {
    arn.split(':').nth(i)
}

/// Converts the Iceberg destination `i` of a Kinesis-sourced delivery stream whose stream ARN is
/// `stream_arn`.
///
/// # Errors
/// [`ImportError`] when the destination names no table (every record routed by the records
/// themselves) or has no S3 configuration (the error output's bucket).
pub(super) fn import_iceberg(
    i: &Value,
    stream_arn: &str,
    notes: &mut Vec<String>,
) -> Result<IcebergImport, ImportError> {
    let table = default_table(i, notes)?;
    let s3 = i.get("S3DestinationDescription").ok_or_else(|| {
        ImportError(
            "the Iceberg destination has no S3DestinationDescription (the error output's bucket)"
                .into(),
        )
    })?;
    let (mut processing, _delimiter) = processing(i, notes);
    if let Some(query) = processing.partition_query.take() {
        notes.push(format!(
            "the MetadataExtraction query `{query}`: carried over as processing.partition_query, wrapped so that only its destinationDatabaseName / destinationTableName route records (a missing one routes to {}.{}, the default table) and a record whose `operation` is update or delete goes to the error output (kinesink only appends; UniqueKeys are not built)",
            table.database, table.table
        ));
        processing.partition_query = Some(routing_query(&query));
    }
    let mut destination = destination(s3, notes)?;
    carry_buffering_backup_and_logging(i, &mut destination, notes);
    let (catalog, warehouse) = catalog(i, stream_arn, &destination.url, notes);
    table_notes(&table, destination.error_output_prefix.as_deref(), notes);
    let create_tables = i
        .get("TableCreationConfiguration")
        .and_then(|c| c.get("Enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if create_tables {
        notes.push(format!(
            "TableCreationConfiguration: create_tables = true, but kinesink creates a missing table from `format.schema` (Firehose inferred it from the records); [format.glue] reads the columns of the existing table {}.{} at start-up: for a table that does not exist yet, replace it with format.schema",
            table.database, table.table
        ));
    }
    if i.get("SchemaEvolutionConfiguration")
        .and_then(|c| c.get("Enabled"))
        == Some(&Value::Bool(true))
    {
        notes.push("SchemaEvolutionConfiguration: schema evolution is not built; records are converted with the table's current schema and fields it has no column for are not added".into());
    }
    if let Some(seconds) = n(i, &["RetryOptions", "DurationInSeconds"]) {
        notes.push(format!(
            "RetryOptions.DurationInSeconds = {seconds} (kinesink retries a failing table commit at every buffer interval until it lands, acknowledging nothing meanwhile; destination.retry_duration_s bounds failing object writes)"
        ));
    }
    let format = FormatSection {
        kind: Some(FormatType::Parquet),
        glue: Some(GlueSection {
            database: table.database.to_owned(),
            table: table.table.to_owned(),
            catalog_id: match CatalogArn::parse(
                s(i, &["CatalogConfiguration", "CatalogARN"]).unwrap_or(""),
            ) {
                // Glue addresses a table of an S3 table bucket through its federated catalog.
                Some(CatalogArn::S3Tables {
                    account, bucket, ..
                }) => Some(format!("{account}:s3tablescatalog/{bucket}")),
                _ => None,
            },
            ..GlueSection::default()
        }),
        ..FormatSection::default()
    };
    destination.iceberg = Some(IcebergSection {
        catalog: Some(catalog),
        warehouse: Some(warehouse),
        database: Some(table.database.to_owned()),
        table: Some(table.table.to_owned()),
        create_tables: Some(create_tables),
        partition_spec: partition_spec(table.entry),
        ..IcebergSection::default()
    });
    Ok(IcebergImport {
        processing,
        destination,
        format,
    })
}

/// Firehose's Iceberg routing query `query` as a kinesink `partition_query`: the routing keys
/// of its output (`destinationDatabaseName`, `destinationTableName`; a null or missing one is
/// left out, so the record goes to the default table's database or table), and a jq error —
/// the record goes to the error output — when its `operation` is anything but `insert`
/// (Firehose's default when absent), since kinesink only appends.
#[must_use]
pub(super) fn routing_query(query: &str) -> String {
    format!(
        "({query}) as $route | if (($route.operation // \"insert\") | ascii_downcase) != \"insert\" \
         then error(\"operation \\($route.operation): kinesink only appends (insert); update and delete are not built\") \
         else {{destinationDatabaseName: $route.destinationDatabaseName, destinationTableName: $route.destinationTableName}} \
         | with_entries(select(.value != null)) end"
    )
}

/// The table records go to: the first of `DestinationTableConfigurationList` (the others are
/// named as not carried over).
fn default_table<'a>(
    i: &'a Value,
    notes: &mut Vec<String>,
) -> Result<TableConfig<'a>, ImportError> {
    let tables: Vec<TableConfig<'a>> = i
        .get("DestinationTableConfigurationList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            Some(TableConfig {
                database: s(entry, &["DestinationDatabaseName"])?,
                table: s(entry, &["DestinationTableName"])?,
                entry,
            })
        })
        .collect();
    let mut tables = tables.into_iter();
    let first = tables.next().ok_or_else(|| {
        ImportError(
            "the Iceberg destination names no table (DestinationTableConfigurationList is empty): its records name their tables (destinationDatabaseName / destinationTableName): set destination.iceberg.database / table (the default table, which holds the checkpoints) and a processing.partition_query outputting those keys"
                .into(),
        )
    })?;
    let others: Vec<String> = tables
        .map(|t| format!("{}.{}", t.database, t.table))
        .collect();
    if !others.is_empty() {
        notes.push(format!(
            "DestinationTableConfigurationList names {} tables: only the first, {}.{}, is carried over (destination.iceberg.database / table); {} are not listed in the config: kinesink opens (or creates) each table a processing.partition_query routes records to at its first record",
            others.len() + 1,
            first.database,
            first.table,
            others.join(", ")
        ));
    }
    Ok(first)
}

/// What of the table's own configuration kinesink cannot carry over.
fn table_notes(table: &TableConfig<'_>, error_prefix: Option<&str>, notes: &mut Vec<String>) {
    let keys: Vec<&str> = table
        .entry
        .get("UniqueKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !keys.is_empty() {
        notes.push(format!(
            "UniqueKeys [{}] of {}.{} (updates and deletes by key): kinesink only appends, every record is inserted; iceberg-rust cannot write equality deletes yet (apache/iceberg-rust #2269)",
            keys.join(", "),
            table.database,
            table.table
        ));
    }
    if let Some(prefix) = s(table.entry, &["S3ErrorOutputPrefix"])
        .filter(|p| !p.is_empty() && Some(*p) != error_prefix)
    {
        notes.push(format!(
            "the S3ErrorOutputPrefix `{prefix}` of {}.{}: kinesink has one error output prefix, destination.error_output_prefix (the S3 configuration's)",
            table.database, table.table
        ));
    }
}

/// `partition_spec` from the table's `PartitionSpec.Identity` columns (for created tables).
fn partition_spec(entry: &Value) -> Option<String> {
    let columns: Vec<&str> = entry
        .get("PartitionSpec")
        .and_then(|p| p.get("Identity"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| s(field, &["SourceName"]))
        .collect();
    (!columns.is_empty()).then(|| columns.join(", "))
}

/// The Iceberg destination's own buffering hints, its `S3BackupMode` and logging options on
/// top of what the S3 configuration gave `destination`.
fn carry_buffering_backup_and_logging(
    i: &Value,
    destination: &mut DestinationSection,
    notes: &mut Vec<String>,
) {
    if let Some(size) = n(i, &["BufferingHints", "SizeInMBs"]) {
        destination.buffer_size_mib = Some(size);
    }
    if let Some(interval) = n(i, &["BufferingHints", "IntervalInSeconds"]) {
        destination.buffer_interval_s = Some(interval);
    }
    // Data files go under each table's location: the S3 configuration's Prefix is the source
    // backup's (AllData), if anything.
    let prefix = destination.prefix.take();
    match s(i, &["S3BackupMode"]) {
        Some("AllData") => {
            destination.backup_prefix = Some(prefix.unwrap_or_else(|| "source-backup/".to_owned()));
        }
        _ => {
            if let Some(prefix) = prefix {
                notes.push(format!(
                    "the S3 configuration's Prefix `{prefix}` (with an Iceberg destination, data files go under the table's location)"
                ));
            }
        }
    }
    if i.get("CloudWatchLoggingOptions")
        .and_then(|c| c.get("Enabled"))
        == Some(&Value::Bool(true))
        && !notes
            .iter()
            .any(|m| m.starts_with("CloudWatch error logging"))
    {
        notes.push(
            "CloudWatch error logging (kinesink logs to stderr and serves Prometheus metrics)"
                .into(),
        );
    }
}

/// `catalog` and `warehouse` from `CatalogConfiguration`.
fn catalog(
    i: &Value,
    stream_arn: &str,
    error_url: &str,
    notes: &mut Vec<String>,
) -> (CatalogSetting, String) {
    let arn = s(i, &["CatalogConfiguration", "CatalogARN"]).unwrap_or_default();
    let warehouse = s(i, &["CatalogConfiguration", "WarehouseLocation"])
        .filter(|w| !w.is_empty())
        .map(str::to_owned);
    let stream_region = arn_part(stream_arn, 3).unwrap_or_default();
    let stream_account = arn_part(stream_arn, 4).unwrap_or_default();
    let elsewhere = |region: &str, account: &str, notes: &mut Vec<String>| {
        if region != stream_region {
            notes.push(format!(
                "the catalog's region {region}: kinesink reaches the catalog in the stream's region ({stream_region}, source.region)"
            ));
        }
        if account != stream_account {
            notes.push(format!(
                "the cross-account catalog of account {account}: kinesink uses the catalog of the account its credentials belong to"
            ));
        }
    };
    match CatalogArn::parse(arn) {
        Some(CatalogArn::S3Tables {
            region,
            account,
            bucket,
        }) => {
            elsewhere(region, account, notes);
            let partition = arn_part(arn, 1).unwrap_or("aws");
            let bucket_arn = format!("arn:{partition}:s3tables:{region}:{account}:bucket/{bucket}");
            (CatalogSetting::S3tables, bucket_arn)
        }
        parsed => {
            match parsed {
                Some(CatalogArn::Glue { region, account }) => elsewhere(region, account, notes),
                _ => notes.push(format!(
                    "CatalogARN `{arn}` is not a Glue catalog ARN: the Glue Data Catalog of the worker's account and region is used"
                )),
            }
            let warehouse = warehouse.unwrap_or_else(|| {
                let derived = format!("{}/warehouse", error_url.trim_end_matches('/'));
                notes.push(format!(
                    "CatalogConfiguration.WarehouseLocation is not set: warehouse = \"{derived}\" (only tables kinesink creates go there)"
                ));
                derived
            });
            (CatalogSetting::Glue, warehouse)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_arns_name_glue_or_an_s3_table_bucket() {
        assert_eq!(
            CatalogArn::parse("arn:aws:glue:eu-west-1:123456789012:catalog"),
            Some(CatalogArn::Glue {
                region: "eu-west-1",
                account: "123456789012"
            })
        );
        assert_eq!(
            CatalogArn::parse("arn:aws:glue:us-east-1:123456789012:catalog/s3tablescatalog/lake"),
            Some(CatalogArn::S3Tables {
                region: "us-east-1",
                account: "123456789012",
                bucket: "lake"
            })
        );
        for other in [
            "",
            "arn:aws:glue:us-east-1:123456789012:database/x",
            "arn:aws:s3:::bucket",
            "arn:aws:glue:us-east-1:123456789012:catalog/other/x",
        ] {
            assert_eq!(CatalogArn::parse(other), None, "{other}");
        }
    }
}
