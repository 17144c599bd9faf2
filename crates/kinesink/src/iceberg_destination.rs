//! The Iceberg destination's wiring: opening (or creating) the table through its catalog and
//! the record path's pieces for it, for `kinesink run` (the worker's commit task) and
//! `kinesink dry-run` (a records file into the table; the table is the only record of
//! progress, so the same input again adds nothing).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use iceberg::Catalog;
use kinesink_delivery::{
    Destination, FileSink, ObjectLayout, ObjectSink, RecordPipeline, ResumeState, ShardBuffers,
};
use kinesink_iceberg_sink::table_committer::TableCommitter;
use kinesink_iceberg_sink::table_files::TableFiles;
use kinesink_iceberg_sink::table_preview::{TablePreviewSummary, preview_into_table};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, TableTarget, open_table};
use kinesink_iceberg_sink::{IcebergCatalogSettings, open_catalog};
use kinesink_parquet_writer::{ObjectFormat, ParquetTableFormat};
use kinesink_worker::table_commits::TableCommits;
use kinesink_worker::worker::TableDestination;

use crate::config::Settings;
use crate::dry_run::{BATCH_RECORDS, DryRunInput};

/// The table opened for delivery, with its catalog and the data files' format.
pub struct OpenedTable {
    /// The catalog holding it.
    pub catalog: Arc<dyn Catalog>,
    /// The table, its writer schema and partitioner.
    pub target: TableTarget,
    /// Parquet with the table's schema (field ids) and the configured options.
    pub format: ObjectFormat,
}

/// Opens the table `iceberg` names, creating it from the configured Parquet format's schema
/// when missing (and `create_tables` is on).
///
/// # Errors
/// The catalog or the table failed, or the format is not Parquet.
pub async fn open(
    iceberg: &IcebergCatalogSettings,
    format: &ObjectFormat,
) -> anyhow::Result<OpenedTable> {
    let ObjectFormat::Parquet(configured) = format else {
        bail!("config key `format.type`: the Iceberg destination writes Parquet");
    };
    let catalog = open_catalog(iceberg).await?;
    let creation = TableCreationSettings {
        create_tables: iceberg.create_tables,
        schema: Some(configured.schema()),
        partition_spec: &iceberg.partition_spec,
    };
    let target = open_table(
        &*catalog,
        &iceberg.database,
        &iceberg.table,
        &creation,
        configured.serde_options(),
    )
    .await?;
    let table_format = ParquetTableFormat::new(
        Arc::clone(&target.schema),
        Arc::clone(configured.serde_options()),
        configured.options().clone(),
    )
    .context("the table's Parquet format")?;
    Ok(OpenedTable {
        catalog,
        target,
        format: ObjectFormat::Parquet(Arc::new(table_format)),
    })
}

/// The worker's table destination: its commit task (committing at most once per buffer
/// interval) writing data files through `data_sink` (rooted at the table's location, with
/// conditional writes).
#[must_use]
pub fn table_destination(
    settings: &Settings,
    opened: &OpenedTable,
    data_sink: Arc<dyn ObjectSink>,
) -> TableDestination {
    let w = &settings.worker;
    let files = TableFiles::new(&opened.target, data_sink);
    let committer = TableCommitter::new(
        opened.catalog.clone(),
        opened.target.ident.clone(),
        &w.name,
        w.buffer.interval_ms,
    );
    let tick = Duration::from_millis(w.buffer.interval_ms.clamp(100, 1_000));
    TableDestination {
        commits: TableCommits::spawn(committer, files, tick),
        partitioner: opened.target.partitioner.clone(),
    }
}

/// Where the table's location is, as a destination (`s3://bucket/prefix` or a directory).
///
/// # Errors
/// The location is neither `s3://` nor `file://`.
pub fn location(opened: &OpenedTable) -> anyhow::Result<Destination> {
    let location = opened.target.location();
    if let Some(directory) = location.strip_prefix("file://") {
        return Ok(Destination::Directory(directory.into()));
    }
    Destination::parse(&format!("{location}/"))
        .with_context(|| format!("the table's location {location}"))
}

/// Delivers `input` into the table `iceberg` names; error-output and backup objects go below
/// `output`.
///
/// # Errors
/// The catalog, the table (missing with `create_tables = false`, a schema kinesink cannot
/// write), the warehouse or the input failed.
pub async fn dry_run_into_table(
    settings: &Settings,
    iceberg: &IcebergCatalogSettings,
    format: &ObjectFormat,
    input: &DryRunInput<'_>,
    output: &Path,
) -> anyhow::Result<TablePreviewSummary> {
    let opened = open(iceberg, format).await?;
    let Destination::Directory(directory) = location(&opened)? else {
        bail!(
            "dry-run writes only to a file:// warehouse (the table is at {}); `run` writes s3:// ones",
            opened.target.location()
        );
    };
    let data_sink: Arc<dyn ObjectSink> = Arc::new(FileSink::new(directory));
    let w = &settings.worker;
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: w.name.clone(),
        format: opened.format.clone(),
        extension: ".parquet".to_owned(),
        error_codec: w.error_codec,
        prefixes: w.prefixes.clone(),
        query: None,
        partition_limit: w.partition_limit,
        table: Some(opened.target.partitioner.clone()),
    };
    let files = TableFiles::new(&opened.target, data_sink);
    let outputs: Arc<dyn ObjectSink> =
        Arc::new(FileSink::new(output).with_conditional_writes(false));
    let mut committer = TableCommitter::new(
        opened.catalog.clone(),
        opened.target.ident.clone(),
        &w.name,
        0,
    );
    let mut file = input.open()?;
    let summary = preview_into_table(
        &mut committer,
        &files,
        outputs,
        input.shard_id,
        |resume| {
            let pipeline =
                RecordPipeline::new(w.kpl_deaggregation, w.record_split.clone(), resume.clone())
                    .with_processors(w.processors)
                    .with_transform(w.transform.clone())
                    .with_backup(w.prefixes.backup().is_some());
            let state = ResumeState {
                checkpoint: resume,
                ..ResumeState::default()
            };
            (pipeline, ShardBuffers::new(layout, w.buffer, state))
        },
        || file.next_batch(BATCH_RECORDS),
    )
    .await?;
    Ok(summary)
}
