//! Opening the table a destination writes to: loading it, or creating it from the configured
//! schema and partition spec (Firehose's `TableCreationConfiguration`), and deriving from its
//! current metadata what the record path needs: the writer's schema with the table's field
//! ids, and the partitioner of its default spec.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use kinesink_parquet_writer::{SerdeOptions, TableSchema};

use crate::error::IcebergSinkError;
use crate::partition_spec_text::parse_partition_spec;
use crate::record_partitioner::IcebergPartitioner;
use crate::schema_mapping::{iceberg_schema_of, table_schema_of};

/// A table opened for delivery.
///
/// Guarantees: `schema` is the table's current schema as the Parquet writer's schema (every
/// field with its Iceberg field id), `partitioner` places records by the table's default
/// partition spec, and both come from the same metadata as `table`.
#[derive(Debug)]
pub struct TableTarget {
    /// The table's identifier.
    pub ident: TableIdent,
    /// The table as loaded (or created).
    pub table: Table,
    /// The writer's schema of the table's data files.
    pub schema: Arc<TableSchema>,
    /// Places records in the table's partitions.
    pub partitioner: Arc<IcebergPartitioner>,
    /// The id of the spec the partitioner uses (the table's default spec).
    pub spec_id: i32,
}

impl TableTarget {
    /// The table's location (its base URL, without a trailing `/`): data files go under
    /// `<location>/data/`.
    #[must_use]
    pub fn location(&self) -> String {
        self.table
            .metadata()
            .location()
            .trim_end_matches('/')
            .to_owned()
    }
}

/// How to create a missing table.
#[derive(Debug, Clone)]
pub struct TableCreationSettings<'a> {
    /// Whether a missing table is created (`create_tables`).
    pub create_tables: bool,
    /// The configured `[format] schema`, the created table's columns (`None`: not given).
    pub schema: Option<&'a TableSchema>,
    /// The configured `partition_spec` text for created tables.
    pub partition_spec: &'a str,
}

/// Opens `database.table` in `catalog` for delivery, creating it (and its namespace) first
/// when it is missing and `creation.create_tables` is set.
///
/// Guarantees: an existing table is never altered (its own schema and spec are used, the
/// configured ones only create tables); when two workers create the same table at once, one
/// creates it and both open it.
///
/// # Errors
/// A permanent [`IcebergSinkError`] naming the table and the setting to fix: the table is
/// missing and `create_tables` is off or no `[format] schema` is given, the partition spec
/// does not parse or fit the schema, or the table's schema has a column kinesink cannot
/// write; a transient one when the catalog cannot be reached.
pub async fn open_table(
    catalog: &dyn Catalog,
    database: &str,
    table: &str,
    creation: &TableCreationSettings<'_>,
    options: &SerdeOptions,
) -> Result<TableTarget, IcebergSinkError> {
    let namespace = NamespaceIdent::new(database.to_owned());
    let ident = TableIdent::new(namespace.clone(), table.to_owned());
    let operation = format!("open table {ident}");
    let iceberg = |e| IcebergSinkError::from_iceberg(&operation, e);
    let loaded = if catalog.table_exists(&ident).await.map_err(iceberg)? {
        catalog.load_table(&ident).await.map_err(iceberg)?
    } else {
        create_table(catalog, &namespace, &ident, creation, &operation).await?
    };
    let metadata = loaded.metadata();
    let iceberg_schema = metadata.current_schema();
    let schema = table_schema_of(iceberg_schema).map_err(|e| {
        IcebergSinkError::permanent(
            &operation,
            format!("the table's schema cannot be written by kinesink: {e}"),
        )
    })?;
    let spec = metadata.default_partition_spec();
    let partitioner =
        IcebergPartitioner::new(spec, iceberg_schema, &schema, options).map_err(|e| {
            IcebergSinkError::permanent(&operation, format!("the table's partition spec: {e}"))
        })?;
    Ok(TableTarget {
        spec_id: spec.spec_id(),
        ident,
        table: loaded,
        schema: Arc::new(schema),
        partitioner: Arc::new(partitioner),
    })
}

/// Creates the missing table `ident` from the configured schema and spec (its namespace too).
async fn create_table(
    catalog: &dyn Catalog,
    namespace: &NamespaceIdent,
    ident: &TableIdent,
    creation: &TableCreationSettings<'_>,
    operation: &str,
) -> Result<Table, IcebergSinkError> {
    if !creation.create_tables {
        return Err(IcebergSinkError::permanent(
            operation,
            format!(
                "table {ident} does not exist and `destination.iceberg.create_tables` is false: create it, or set create_tables = true"
            ),
        ));
    }
    let Some(configured) = creation.schema else {
        return Err(IcebergSinkError::permanent(
            operation,
            format!(
                "table {ident} does not exist; creating it needs its columns in `format.schema`"
            ),
        ));
    };
    let schema = iceberg_schema_of(configured)
        .map_err(|e| IcebergSinkError::permanent(operation, format!("`format.schema`: {e}")))?;
    let spec = parse_partition_spec(creation.partition_spec)
        .and_then(|text| text.unbound(&schema))
        .map_err(|e| {
            IcebergSinkError::permanent(
                operation,
                format!("config key `destination.iceberg.partition_spec`: {e}"),
            )
        })?;
    let iceberg = |e| IcebergSinkError::from_iceberg(operation, e);
    if !catalog.namespace_exists(namespace).await.map_err(iceberg)? {
        match catalog.create_namespace(namespace, HashMap::new()).await {
            Ok(_) => {}
            // Another worker created it meanwhile. The SQL catalog reports the race as a unique
            // constraint failure and iceberg-rust's Glue catalog Glue's AlreadyExistsException as
            // `Unexpected`, not as NamespaceAlreadyExists: look again.
            Err(e)
                if e.kind() == ErrorKind::NamespaceAlreadyExists
                    || catalog.namespace_exists(namespace).await.unwrap_or(false) => {}
            Err(e) => return Err(iceberg(e)),
        }
    }
    let request = TableCreation::builder()
        .name(ident.name().to_owned())
        .schema(schema)
        .partition_spec(spec)
        .build();
    match catalog.create_table(namespace, request).await {
        Ok(table) => Ok(table),
        // Another worker created it meanwhile: use theirs (the SQL catalog reports the race
        // as a unique constraint failure and the Glue catalog as `Unexpected`, not as
        // TableAlreadyExists: look again).
        Err(e)
            if e.kind() == ErrorKind::TableAlreadyExists
                || catalog.table_exists(ident).await.unwrap_or(false) =>
        {
            catalog.load_table(ident).await.map_err(iceberg)
        }
        Err(e) => Err(iceberg(e)),
    }
}
