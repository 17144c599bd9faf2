//! Opening the catalog `[destination.iceberg]` names (the settings are in
//! [`crate::catalog_settings`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalogBuilder,
};

pub use crate::catalog_settings::{CatalogKind, IcebergCatalogSettings};
use crate::error::IcebergSinkError;
use crate::glue_catalog::open_glue_catalog;
use crate::rest_catalog::open_rest_catalog;
use crate::s3tables_catalog::open_s3tables_catalog;
use crate::warehouse_storage::{WarehouseStorage, warehouse_storage};

/// Opens the catalog `settings` name.
///
/// Guarantees: for `sql`, a connected catalog whose tables are read and written through the
/// warehouse's storage (`file://` on the local file system, `s3://` through OpenDAL with the
/// environment's AWS credentials); a missing SQLite database file is created (its directory
/// must exist), the catalog's own SQL tables are created when missing. For `glue`, a catalog
/// on the Glue Data Catalog of `region` (through `endpoint_url` when given), with the
/// credentials of the standard AWS chain for Glue and for the `s3://` warehouse; nothing is
/// sent to Glue until the catalog is used. For `rest`, a catalog on the REST server at `uri`
/// (bearer token or OAuth2 client credentials, no SigV4), its tables' files read and written
/// through the warehouse's storage; nothing is sent until it is used. For `s3tables`, a
/// catalog on the table bucket `warehouse` names (through `endpoint_url` when given), each
/// table's files read and written where S3 Tables placed it; nothing is sent until it is used.
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
        CatalogKind::S3Tables { table_bucket_arn } => {
            open_s3tables_catalog(settings, table_bucket_arn).await
        }
        CatalogKind::Rest {
            uri,
            catalog_name,
            warehouse,
            auth,
        } => open_rest_catalog(settings, uri, catalog_name, warehouse, auth).await,
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
    add_record_type_column(uri)
        .await
        .map_err(|m| IcebergSinkError::permanent(operation, m))?;
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(catalog_name, properties)
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(operation, e))?;
    Ok(Arc::new(catalog))
}

/// The catalog table of a SQL catalog, and the column iceberg-rust's SQL catalog (like Java's
/// `JdbcCatalog` schema V1) queries in it but pyiceberg's `SqlCatalog` (0.10) does not create.
const TABLES_TABLE: &str = "iceberg_tables";
const RECORD_TYPE_COLUMN: &str = "iceberg_type";

/// Adds the `iceberg_type` column to a catalog table made without it (by pyiceberg, or Java's
/// schema V0), as Java's `JdbcCatalog` migrates V0 to V1: iceberg-rust's catalog reads a row
/// whose `iceberg_type` is NULL as a table, and pyiceberg keeps working with the column there
/// (it names the columns it reads and writes). Nothing is changed when the column is there or
/// the table is missing (the catalog creates it, with the column). Two processes adding it at
/// once are fine: the one that loses finds it there.
///
/// Written here because iceberg-rust's `SqlCatalog` only creates its tables when missing and
/// has no migration of its own (0.10.1).
async fn add_record_type_column(uri: &str) -> Result<(), String> {
    use sqlx::Connection as _;
    let mut connection = sqlx::AnyConnection::connect(uri)
        .await
        .map_err(|e| format!("cannot connect to the catalog database: {e}"))?;
    if selects(&mut connection, RECORD_TYPE_COLUMN).await {
        return Ok(());
    }
    if !selects(&mut connection, "1").await {
        return Ok(()); // no catalog table yet: the catalog creates it with the column
    }
    let added = sqlx::query(&format!(
        "ALTER TABLE {TABLES_TABLE} ADD COLUMN {RECORD_TYPE_COLUMN} VARCHAR(5)"
    ))
    .execute(&mut connection)
    .await;
    match added {
        Ok(_) => {
            tracing::info!(
                "added the `{RECORD_TYPE_COLUMN}` column to the SQL catalog's `{TABLES_TABLE}` table (made by pyiceberg or an older JdbcCatalog); its tables are read as before"
            );
            Ok(())
        }
        Err(_) if selects(&mut connection, RECORD_TYPE_COLUMN).await => Ok(()),
        Err(e) => Err(format!(
            "the catalog's `{TABLES_TABLE}` table has no `{RECORD_TYPE_COLUMN}` column (made by pyiceberg or an older JdbcCatalog) and adding it failed: {e}"
        )),
    }
}

/// Whether selecting `columns` from the catalog table works (the table and the columns exist).
async fn selects(connection: &mut sqlx::AnyConnection, columns: &str) -> bool {
    sqlx::query(&format!("SELECT {columns} FROM {TABLES_TABLE} WHERE 1 = 0"))
        .fetch_all(connection)
        .await
        .is_ok()
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
    use iceberg::io::{S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION};

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

    /// A SQLite catalog database laid out as pyiceberg 0.10's `SqlCatalog` makes it (no
    /// `iceberg_type` column), holding one table row as pyiceberg writes it.
    async fn pyiceberg_catalog_database(path: &Path) -> String {
        use sqlx::Connection as _;
        create_if_missing(path).unwrap();
        let uri = format!("sqlite://{}", path.display());
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(&uri).await.unwrap();
        for statement in [
            "CREATE TABLE iceberg_tables (catalog_name VARCHAR(255) NOT NULL, \
             table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, \
             metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), \
             PRIMARY KEY (catalog_name, table_namespace, table_name))",
            "CREATE TABLE iceberg_namespace_properties (catalog_name VARCHAR(255) NOT NULL, \
             namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255) NOT NULL, \
             property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key))",
            "INSERT INTO iceberg_namespace_properties VALUES ('default', 'analytics', 'exists', 'true')",
            "INSERT INTO iceberg_tables VALUES ('default', 'analytics', 'made_by_pyiceberg', \
             'file:///nowhere/metadata.json', NULL)",
        ] {
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .unwrap();
        }
        uri
    }

    fn sql_settings(uri: &str, warehouse: &Path) -> IcebergCatalogSettings {
        IcebergCatalogSettings {
            kind: CatalogKind::Sql {
                uri: uri.to_owned(),
                catalog_name: "default".into(),
                warehouse: format!("file://{}", warehouse.display()),
            },
            database: "analytics".into(),
            table: "events".into(),
            create_tables: true,
            partition_spec: String::new(),
            endpoint_url: None,
            region: None,
        }
    }

    /// A catalog pyiceberg made opens: the missing `iceberg_type` column is added, pyiceberg's
    /// table is still listed, and a table can be created beside it.
    #[tokio::test]
    async fn a_sql_catalog_made_by_pyiceberg_gets_the_record_type_column_and_keeps_its_tables() {
        use iceberg::NamespaceIdent;
        use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
        let dir = tempfile::tempdir().unwrap();
        let uri = pyiceberg_catalog_database(&dir.path().join("catalog.db")).await;
        let catalog = open_catalog(&sql_settings(&uri, dir.path())).await.unwrap();
        let analytics = NamespaceIdent::new("analytics".into());
        let names = |tables: Vec<iceberg::TableIdent>| {
            let mut names: Vec<String> = tables.into_iter().map(|t| t.name).collect();
            names.sort();
            names
        };
        assert_eq!(
            names(catalog.list_tables(&analytics).await.unwrap()),
            ["made_by_pyiceberg"],
            "pyiceberg's table row (iceberg_type NULL) is read as a table"
        );
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "id", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .unwrap();
        catalog
            .create_table(
                &analytics,
                iceberg::TableCreation::builder()
                    .name("events".into())
                    .schema(schema)
                    .build(),
            )
            .await
            .unwrap();
        assert_eq!(
            names(catalog.list_tables(&analytics).await.unwrap()),
            ["events", "made_by_pyiceberg"]
        );
        // Opening again (a restart, or a second worker) finds the column and changes nothing.
        let again = open_catalog(&sql_settings(&uri, dir.path())).await.unwrap();
        assert_eq!(
            names(again.list_tables(&analytics).await.unwrap()),
            ["events", "made_by_pyiceberg"]
        );
    }
}
