//! `kinesink dry-run` into an Iceberg table: the table (created if missing) is opened through
//! its catalog, records are delivered with the same record path as `dry-run` to objects, and
//! each flush point is one fenced commit carrying the shard's position. The table is the only
//! record of progress: the same input again adds nothing.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use kinesink_delivery::{FileSink, ObjectLayout, ObjectSink, RecordPipeline, ResumeState, ShardBuffers};
use kinesink_iceberg_sink::table_committer::TableCommitter;
use kinesink_iceberg_sink::table_files::TableFiles;
use kinesink_iceberg_sink::table_preview::{TablePreviewSummary, preview_into_table};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, open_table};
use kinesink_iceberg_sink::{IcebergCatalogSettings, open_catalog};
use kinesink_parquet_writer::{ObjectFormat, ParquetTableFormat};

use crate::config::Settings;
use crate::dry_run::{BATCH_RECORDS, DryRunInput};

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
    let location = target.location();
    let Some(directory) = location.strip_prefix("file://") else {
        bail!(
            "dry-run writes only to a file:// warehouse (the table is at {location}); `run` is where s3:// warehouses will be written"
        );
    };
    let data_sink: Arc<dyn ObjectSink> = Arc::new(FileSink::new(directory));
    let table_format = ParquetTableFormat::new(
        Arc::clone(&target.schema),
        Arc::clone(configured.serde_options()),
        configured.options().clone(),
    )
    .context("the table's Parquet format")?;
    let w = &settings.worker;
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: w.name.clone(),
        format: ObjectFormat::Parquet(Arc::new(table_format)),
        extension: ".parquet".to_owned(),
        error_codec: w.error_codec,
        prefixes: w.prefixes.clone(),
        query: None,
        partition_limit: w.partition_limit,
        table: Some(target.partitioner.clone()),
    };
    let files = TableFiles::new(&target, data_sink);
    let outputs: Arc<dyn ObjectSink> =
        Arc::new(FileSink::new(output).with_conditional_writes(false));
    let mut committer = TableCommitter::new(catalog, target.ident.clone(), &w.name, 0);
    let mut file = input.open()?;
    let summary = preview_into_table(
        &mut committer,
        &files,
        outputs,
        input.shard_id,
        |resume| {
            let pipeline = RecordPipeline::new(w.kpl_deaggregation, w.record_split.clone(), resume.clone())
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
