//! A SQL catalog on SQLite with a `file://` warehouse, in a temporary directory removed on drop
//! (no server, no AWS): the catalog most of this crate's tests commit to.

use std::sync::Arc;

use iceberg::Catalog;
use kinesink_iceberg_sink::{CatalogKind, IcebergCatalogSettings, open_catalog};

/// The directory holding the catalog database and the warehouse, and the opened catalog.
pub(crate) struct SqliteCatalog {
    /// Removed on drop.
    pub(crate) dir: tempfile::TempDir,
    /// The catalog (name `default`, warehouse `<dir>/warehouse`).
    pub(crate) catalog: Arc<dyn Catalog>,
}

/// Opens a fresh SQLite catalog; `partition_spec` is what its settings carry for created tables.
pub(crate) async fn sqlite_catalog(partition_spec: &str) -> SqliteCatalog {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("warehouse")).unwrap();
    let settings = IcebergCatalogSettings {
        kind: CatalogKind::Sql {
            uri: format!("sqlite://{}/catalog.db", dir.path().display()),
            catalog_name: "default".into(),
            warehouse: format!("file://{}/warehouse", dir.path().display()),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: partition_spec.into(),
        endpoint_url: None,
        region: None,
    };
    let catalog = open_catalog(&settings).await.unwrap();
    SqliteCatalog { dir, catalog }
}

/// The tables of a destination in `catalog`, default `analytics.events`, created when
/// `create_tables` from `schema` (Hive DDL, `None`: no `format.schema`) and `partition_spec`;
/// data files written under each table's `file://` location.
pub(crate) async fn table_routes(
    catalog: Arc<dyn Catalog>,
    create_tables: bool,
    schema: Option<&str>,
    partition_spec: &str,
) -> Result<kinesink_iceberg_sink::table_routes::TableRoutes, kinesink_iceberg_sink::IcebergSinkError>
{
    use kinesink_iceberg_sink::table_routes::{TableOpener, TableRoutes, file_location_sinks};
    let data_sinks = file_location_sinks();
    let opener = TableOpener {
        catalog,
        create_tables,
        schema: schema
            .map(|s| Arc::new(kinesink_parquet_writer::TableSchema::parse_hive(s).unwrap())),
        partition_spec: partition_spec.into(),
        serde: Arc::new(kinesink_parquet_writer::SerdeOptions::default()),
        parquet: kinesink_parquet_writer::ParquetOptions::default(),
        data_sinks,
    };
    TableRoutes::open(opener, "analytics", "events").await
}
