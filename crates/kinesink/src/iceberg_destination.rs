//! The Iceberg destination's wiring: opening (or creating) the default table through its
//! catalog, and the router that opens every table records are routed to, with the record
//! path's pieces for them, for `kinesink run` (the worker's commit task) and `kinesink dry-run`
//! (a records file into the tables; the default table is the only record of progress, so the
//! same input again adds nothing).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use iceberg::Catalog;
use kinesink_delivery::{
    Destination, FileSink, MemoryBudget, ObjectLayout, ObjectSink, RecordPipeline, ResumeState,
    ShardBuffers,
};
use kinesink_iceberg_sink::routed_commits::RoutedCommits;
use kinesink_iceberg_sink::table_preview::{TablePreviewSummary, preview_into_table};
use kinesink_iceberg_sink::table_routes::{DataSinks, TableOpener, TableRoutes};
use kinesink_iceberg_sink::table_target::TableTarget;
use kinesink_iceberg_sink::transient_retry::retry_transient;
use kinesink_iceberg_sink::{IcebergCatalogSettings, open_catalog};
use kinesink_parquet_writer::ObjectFormat;
use kinesink_worker::table_commits::TableCommits;
use kinesink_worker::worker::TableDestination;

use crate::config::{FormatSource, Settings};
use crate::dry_run::{BATCH_RECORDS, DryRunInput};

/// The tables opened for delivery, with their catalog.
pub struct OpenedTables {
    /// The catalog holding them.
    pub catalog: Arc<dyn Catalog>,
    /// The default table (opened) and every table records are routed to (opened on first use).
    pub routes: Arc<TableRoutes>,
}

impl OpenedTables {
    /// The data files' format of the default table (its own schema).
    #[must_use]
    pub fn format(&self) -> ObjectFormat {
        self.routes.default_table().format.clone()
    }
}

/// Opens the default table `iceberg` names, creating it from `format.schema` when missing (and
/// `create_tables` is on); routed tables are opened the same way on first use. Each table's
/// own schema converts its records; `format.schema` only creates tables. Data files of a table
/// go to `data_sinks(table)`. Transient failures of the catalog or the table's metadata are
/// retried for up to `retry_duration` (`destination.retry_duration_s`).
///
/// # Errors
/// The catalog or the table failed for good or for the whole retry duration (a missing table
/// names `create_tables` or `format.schema`), or the format is not Parquet.
pub async fn open(
    iceberg: &IcebergCatalogSettings,
    format: &FormatSource,
    data_sinks: DataSinks,
    retry_duration: Duration,
) -> anyhow::Result<OpenedTables> {
    let (schema, serde, parquet) = match format {
        FormatSource::Given(ObjectFormat::Parquet(configured)) => (
            Some(Arc::clone(configured.schema())),
            Arc::clone(configured.serde_options()),
            configured.options().clone(),
        ),
        FormatSource::FromTable(table) => (None, Arc::clone(&table.serde), table.options.clone()),
        FormatSource::FromGlue(_) => bail!(
            "config key `format.glue`: the Glue schema must be read before the tables are opened"
        ),
        FormatSource::Given(_) => {
            bail!("config key `format.type`: the Iceberg destination writes Parquet")
        }
    };
    // A transient failure at start (an S3 503 on the table's metadata, a dropped catalog
    // connection) is retried like any destination write, not the end of the process.
    let catalog = retry_transient(retry_duration, "opening the Iceberg catalog", || {
        open_catalog(iceberg)
    })
    .await?;
    let opener = TableOpener {
        catalog: Arc::clone(&catalog),
        create_tables: iceberg.create_tables,
        schema,
        partition_spec: iceberg.partition_spec.clone(),
        serde,
        parquet,
        data_sinks,
    };
    let routes = retry_transient(retry_duration, "opening the Iceberg table", || {
        TableRoutes::open(opener.clone(), &iceberg.database, &iceberg.table)
    })
    .await?;
    Ok(OpenedTables {
        catalog,
        routes: Arc::new(routes),
    })
}

/// The worker's table destination: its commit task (committing to each table at most once per
/// buffer interval, the routed tables before the default one) and the router.
#[must_use]
pub fn table_destination(settings: &Settings, opened: &OpenedTables) -> TableDestination {
    let w = &settings.worker;
    let commits = RoutedCommits::new(
        Arc::clone(&opened.routes),
        Arc::clone(&opened.catalog),
        &w.name,
        w.buffer.interval_ms,
    );
    let tick = Duration::from_millis(w.buffer.interval_ms.clamp(100, 1_000));
    TableDestination {
        commits: TableCommits::spawn(commits, Arc::clone(&opened.routes), tick),
        router: opened.routes.clone(),
    }
}

/// Where a table's location is, as a destination (`s3://bucket/prefix` or a directory).
///
/// # Errors
/// The location is neither `s3://` nor `file://`.
pub fn location(target: &TableTarget) -> anyhow::Result<Destination> {
    let location = target.location();
    if let Some(directory) = location.strip_prefix("file://") {
        return Ok(Destination::Directory(directory.into()));
    }
    Destination::parse(&format!("{location}/"))
        .with_context(|| format!("the table's location {location}"))
}

/// Data files of dry-run go to `file://` table locations only.
fn file_sinks() -> DataSinks {
    Arc::new(|target| match location(target) {
        Ok(Destination::Directory(directory)) => {
            Ok(Arc::new(FileSink::new(directory)) as Arc<dyn ObjectSink>)
        }
        Ok(Destination::S3 { .. }) => Err(format!(
            "dry-run writes only to a file:// warehouse (table {} is at {}); `run` writes s3:// ones",
            target.ident,
            target.location()
        )),
        Err(e) => Err(format!("{e:#}")),
    })
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
    input: &DryRunInput<'_>,
    output: &Path,
) -> anyhow::Result<TablePreviewSummary> {
    // Its batches start at the first record after the table's position.
    let mut lambda = crate::lambda_client::dry_run_shell(settings, input.shard_id).await;
    let opened = open(
        iceberg,
        &settings.format,
        file_sinks(),
        settings.worker.retry_duration,
    )
    .await?;
    let w = &settings.worker;
    let layout = ObjectLayout {
        shard_id: input.shard_id.to_owned(),
        name: w.name.clone(),
        format: opened.format(),
        extension: ".parquet".to_owned(),
        error_codec: w.error_codec,
        prefixes: w.prefixes.clone(),
        query: w.query.clone(),
        partition_limit: w.partition_limit,
        table: Some(opened.routes.clone()),
    };
    let outputs: Arc<dyn ObjectSink> =
        Arc::new(FileSink::new(output).with_conditional_writes(false));
    let mut commits = RoutedCommits::new(
        Arc::clone(&opened.routes),
        Arc::clone(&opened.catalog),
        &w.name,
        0,
    );
    let mut file = input.open()?;
    let summary = preview_into_table(
        &mut commits,
        &opened.routes,
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
        lambda.as_mut(),
        // `destination.memory_budget_mib` bounds a dry run as it bounds a worker.
        Some(&mut MemoryBudget::new(w.memory_budget_bytes)),
        || file.next_batch(BATCH_RECORDS),
    )
    .await?;
    Ok(summary)
}
