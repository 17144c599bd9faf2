//! `[destination.iceberg]` as typed settings, and opening the catalog they name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::io::{
    LocalFsStorageFactory, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION, StorageFactory,
};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalogBuilder,
};
use iceberg_storage_opendal::OpenDalStorageFactory;

use crate::error::IcebergSinkError;
use crate::glue_catalog::open_glue_catalog;

/// The Iceberg destination's settings, key for key the `[destination.iceberg]` table:
///
/// ```toml
/// [destination.iceberg]
/// catalog = "sql"                      # sql | glue | s3tables | rest
/// catalog_name = "default"
/// catalog_uri = "sqlite:////var/lib/kinesink/catalog.db"
/// warehouse = "s3://bucket/warehouse"
/// database = "analytics"
/// table = "events"
/// create_tables = true
/// partition_spec = "event_type, day(ts)"
/// endpoint_url = ""
/// ```
///
/// Plain data: parsing and defaults belong to the binary's configuration; [`open_catalog`]
/// checks what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergCatalogSettings {
    /// Which catalog, with its catalog-specific keys (`catalog`, `catalog_name`,
    /// `catalog_uri`, `warehouse`).
    pub kind: CatalogKind,
    /// The namespace of the default table (`database`).
    pub database: String,
    /// The default table (`table`).
    pub table: String,
    /// Whether a missing table is created from the configured schema (`create_tables`).
    pub create_tables: bool,
    /// The partition spec of created tables, as written (`partition_spec`, e.g.
    /// `"event_type, day(ts)"`; empty: unpartitioned).
    pub partition_spec: String,
    /// Another endpoint for S3 and, with `glue`, for the Glue service too (one URL for both,
    /// as moto serves them on one port), for stand-ins such as moto or a VPC endpoint
    /// (`endpoint_url`; `None` for AWS's own). S3 is then addressed path-style.
    pub endpoint_url: Option<String>,
    /// The AWS region of the warehouse bucket and of the Glue Data Catalog (the worker's
    /// region); `None`: the environment's.
    pub region: Option<String>,
}

/// Which catalog holds the tables (`catalog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogKind {
    /// A SQL database: SQLite (one worker host) or PostgreSQL.
    Sql {
        /// `catalog_uri`: `sqlite:///ABSOLUTE/PATH` (created when missing) or
        /// `postgresql://user:password@host/database`.
        uri: String,
        /// `catalog_name`: the catalog's name inside the database (several can share one).
        catalog_name: String,
        /// `warehouse`: where new tables' data and metadata go, `s3://bucket/prefix` or
        /// `file:///ABSOLUTE/PATH`.
        warehouse: String,
    },
    /// The AWS Glue Data Catalog of the worker's account and region (credentials from the
    /// standard AWS chain; `endpoint_url` for stand-ins).
    Glue {
        /// `warehouse`: where created tables go, `s3://bucket/prefix` (a table `t` of database
        /// `d` goes to `<warehouse>/d.db/t`, unless the Glue database has a location of its own).
        warehouse: String,
    },
    /// Amazon S3 Tables (not built yet).
    S3Tables,
    /// An Iceberg REST catalog (not built yet).
    Rest {
        /// `catalog_uri`: the catalog's base URL.
        uri: String,
        /// `catalog_name`: the catalog's name.
        catalog_name: String,
        /// `warehouse`: the warehouse the REST catalog serves.
        warehouse: String,
    },
}

impl CatalogKind {
    /// The `catalog` value that selects this kind.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            Self::Sql { .. } => "sql",
            Self::Glue { .. } => "glue",
            Self::S3Tables => "s3tables",
            Self::Rest { .. } => "rest",
        }
    }
}

/// Opens the catalog `settings` name.
///
/// Guarantees: for `sql`, a connected catalog whose tables are read and written through the
/// warehouse's storage (`file://` on the local file system, `s3://` through OpenDAL with the
/// environment's AWS credentials); a missing SQLite database file is created (its directory
/// must exist), the catalog's own SQL tables are created when missing. For `glue`, a catalog
/// on the Glue Data Catalog of `region` (through `endpoint_url` when given), with the
/// credentials of the standard AWS chain for Glue and for the `s3://` warehouse; nothing is
/// sent to Glue until the catalog is used. `s3tables` and `rest` are refused with a permanent
/// error saying they are not built yet.
pub async fn open_catalog(
    settings: &IcebergCatalogSettings,
) -> Result<Arc<dyn Catalog>, IcebergSinkError> {
    match &settings.kind {
        CatalogKind::Sql {
            uri,
            catalog_name,
            warehouse,
        } => open_sql_catalog(settings, uri, catalog_name, warehouse).await,
        CatalogKind::Glue { warehouse } => open_glue_catalog(settings, warehouse).await,
        other => Err(IcebergSinkError::permanent(
            format!("open the {} catalog", other.key()),
            format!(
                "catalog = \"{}\" is not built yet in this kinesink; use catalog = \"sql\"",
                other.key()
            ),
        )),
    }
}

/// The database engine behind a SQL catalog URI.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SqlDatabase {
    /// A SQLite file at this absolute path (`None`: in memory).
    Sqlite(Option<PathBuf>),
    /// A PostgreSQL server.
    Postgres,
}

impl SqlDatabase {
    /// The database a `catalog_uri` names, or why it is not one this build can open.
    fn of(uri: &str) -> Result<Self, String> {
        if let Some(rest) = uri.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let database = rest.split('?').next().unwrap_or_default();
            if database == ":memory:" || (database.is_empty() && rest.contains("mode=memory")) {
                return Ok(Self::Sqlite(None));
            }
            if !Path::new(database).is_absolute() {
                return Err(format!(
                    "catalog_uri `{uri}`: the SQLite file must be an absolute path \
                     (sqlite:///ABSOLUTE/PATH)"
                ));
            }
            return Ok(Self::Sqlite(Some(PathBuf::from(database))));
        }
        if uri.starts_with("postgresql://") || uri.starts_with("postgres://") {
            return Ok(Self::Postgres);
        }
        Err(format!(
            "catalog_uri `{uri}` is neither sqlite:///ABSOLUTE/PATH nor postgresql://…"
        ))
    }

    /// How the catalog binds SQL parameters for this engine.
    fn bind_style(&self) -> SqlBindStyle {
        match self {
            Self::Sqlite(_) => SqlBindStyle::QMark,
            Self::Postgres => SqlBindStyle::DollarNumeric,
        }
    }
}

/// The storage a warehouse location is read and written through.
pub(crate) struct WarehouseStorage {
    /// Builds the FileIO's storage.
    pub(crate) factory: Arc<dyn StorageFactory>,
    /// The FileIO's properties (endpoint, region, addressing).
    pub(crate) properties: HashMap<String, String>,
}

/// The storage of a warehouse location, or why this build cannot use it.
pub(crate) fn warehouse_storage(
    settings: &IcebergCatalogSettings,
    warehouse: &str,
) -> Result<WarehouseStorage, String> {
    if warehouse.starts_with("file:///") {
        return Ok(WarehouseStorage {
            factory: Arc::new(LocalFsStorageFactory),
            properties: HashMap::new(),
        });
    }
    if warehouse.starts_with("s3://") || warehouse.starts_with("s3a://") {
        let mut properties = HashMap::new();
        if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
            properties.insert(S3_ENDPOINT.to_owned(), endpoint.to_owned());
            properties.insert(S3_PATH_STYLE_ACCESS.to_owned(), "true".to_owned());
        }
        if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
            properties.insert(S3_REGION.to_owned(), region.to_owned());
        }
        let factory = OpenDalStorageFactory::S3 {
            customized_credential_load: None,
        };
        return Ok(WarehouseStorage {
            factory: Arc::new(factory),
            properties,
        });
    }
    Err(format!(
        "warehouse `{warehouse}` is neither s3://BUCKET/PREFIX nor file:///ABSOLUTE/PATH"
    ))
}

/// Opens a SQL catalog (see [`open_catalog`]).
async fn open_sql_catalog(
    settings: &IcebergCatalogSettings,
    uri: &str,
    catalog_name: &str,
    warehouse: &str,
) -> Result<Arc<dyn Catalog>, IcebergSinkError> {
    let operation = "open the sql catalog";
    let database = SqlDatabase::of(uri).map_err(|m| IcebergSinkError::permanent(operation, m))?;
    let WarehouseStorage {
        factory,
        mut properties,
    } = warehouse_storage(settings, warehouse)
        .map_err(|m| IcebergSinkError::permanent(operation, m))?;
    if let SqlDatabase::Sqlite(Some(path)) = &database {
        create_if_missing(path).map_err(|m| IcebergSinkError::permanent(operation, m))?;
    }
    properties.insert(SQL_CATALOG_PROP_URI.to_owned(), uri.to_owned());
    properties.insert(SQL_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse.to_owned());
    properties.insert(
        SQL_CATALOG_PROP_BIND_STYLE.to_owned(),
        database.bind_style().to_string(),
    );
    sqlx::any::install_default_drivers();
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(catalog_name, properties)
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(operation, e))?;
    Ok(Arc::new(catalog))
}

/// Creates an empty SQLite database file unless one exists (sqlx opens only existing files).
fn create_if_missing(path: &Path) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| {
            format!(
                "cannot create the SQLite catalog file {}: {e}",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_uris_name_an_absolute_file_and_bind_with_question_marks() {
        for uri in [
            "sqlite:////var/lib/kinesink/catalog.db",
            "sqlite:/var/lib/kinesink/catalog.db",
        ] {
            let database = SqlDatabase::of(uri).unwrap();
            assert_eq!(
                database,
                SqlDatabase::Sqlite(Some(PathBuf::from("/var/lib/kinesink/catalog.db"))),
                "{uri}"
            );
            assert_eq!(database.bind_style(), SqlBindStyle::QMark);
        }
        assert_eq!(
            SqlDatabase::of("sqlite::memory:"),
            Ok(SqlDatabase::Sqlite(None))
        );
    }

    #[test]
    fn relative_sqlite_paths_are_refused() {
        let refused = SqlDatabase::of("sqlite://catalog.db").unwrap_err();
        assert!(refused.contains("absolute"), "{refused}");
    }

    #[test]
    fn postgres_uris_bind_with_dollar_numbers_and_other_databases_are_refused() {
        for uri in ["postgresql://u:p@db/catalog", "postgres://db/catalog"] {
            let database = SqlDatabase::of(uri).unwrap();
            assert_eq!(database.bind_style(), SqlBindStyle::DollarNumeric, "{uri}");
        }
        assert!(SqlDatabase::of("mysql://db/catalog").is_err());
    }

    fn settings(endpoint_url: Option<&str>) -> IcebergCatalogSettings {
        IcebergCatalogSettings {
            kind: CatalogKind::Glue {
                warehouse: "s3://b/wh".into(),
            },
            database: "analytics".into(),
            table: "events".into(),
            create_tables: true,
            partition_spec: String::new(),
            endpoint_url: endpoint_url.map(str::to_owned),
            region: Some("eu-west-1".into()),
        }
    }

    #[test]
    fn an_s3_warehouse_with_an_endpoint_is_addressed_path_style() {
        let properties = warehouse_storage(&settings(Some("http://127.0.0.1:5077")), "s3://b/wh")
            .unwrap()
            .properties;
        assert_eq!(properties[S3_ENDPOINT], "http://127.0.0.1:5077");
        assert_eq!(properties[S3_PATH_STYLE_ACCESS], "true");
        assert_eq!(properties[S3_REGION], "eu-west-1");
        let properties = warehouse_storage(&settings(Some("")), "s3://b/wh")
            .unwrap()
            .properties;
        assert!(
            !properties.contains_key(S3_ENDPOINT),
            "empty means AWS's own endpoint"
        );
    }

    #[test]
    fn warehouses_other_than_s3_or_absolute_files_are_refused() {
        for warehouse in ["gs://b/wh", "file://relative", "/abs/no/scheme"] {
            assert!(
                warehouse_storage(&settings(None), warehouse).is_err(),
                "{warehouse}"
            );
        }
    }
}
