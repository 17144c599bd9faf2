//! Routing records to several tables: the record path's [`TableRouter`] over a catalog. A
//! record whose partition query gives `destinationDatabaseName` and/or `destinationTableName`
//! (Firehose's routing keys for Iceberg) goes to that table, the missing part taken from the
//! default table (`destination.iceberg.database` / `table`); tables are opened (or created) on
//! first use and kept open, each with its own schema (the conversion schema of its records),
//! partitioner and data files.
//!
//! The record path is synchronous and opening a table is not: the first record routed to a
//! table not open yet opens it with `tokio::task::block_in_place` on the multi-thread runtime
//! (`kinesink run` and `dry-run` run on one; the shard's task blocks for that one catalog
//! call, the runtime moves its other tasks elsewhere). Resolving routes ahead of the buffers
//! would have meant running the partition query twice per record; once per table per process
//! is cheap. On a current-thread runtime the table is reported unavailable, never a panic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use iceberg::{Catalog, NamespaceIdent, TableIdent};
use kinesink_delivery::{
    DESTINATION_DATABASE_KEY, DESTINATION_TABLE_KEY, ObjectSink, RouteError, RoutedTable,
    TablePartitionFailure, TableRouter,
};
use kinesink_parquet_writer::{
    ObjectFormat, ParquetOptions, ParquetTableFormat, SerdeOptions, TableSchema,
};

use crate::error::{IcebergErrorClass, IcebergSinkError};
use crate::table_files::TableFiles;
use crate::table_target::{TableCreationSettings, TableTarget, open_table};

/// Firehose's routing keys for Iceberg: the only keys a partition query means anything by with
/// a table destination.
pub const ROUTING_KEYS: [&str; 2] = [DESTINATION_DATABASE_KEY, DESTINATION_TABLE_KEY];

/// Error output type of a record that cannot go to the table it is routed to: routing is a
/// processing step (like dynamic partitioning, whose failures Firehose files under
/// `processing-failed`); the record is whole and valid, only its destination is wrong.
pub const ROUTING_FAILED_OUTPUT_TYPE: &str = "processing-failed";

/// Error code of a record routed to a table that does not exist (and is not created).
pub const TABLE_NOT_FOUND_ERROR_CODE: &str = "Iceberg.TableNotFound";

/// Error code of a record whose routing keys are not a valid database or table name.
pub const INVALID_TABLE_NAME_ERROR_CODE: &str = "Iceberg.InvalidTableName";

/// Error code of a record routed to a table kinesink cannot write (its schema or spec).
pub const TABLE_NOT_WRITABLE_ERROR_CODE: &str = "Iceberg.TableNotWritable";

/// Longest database or table name a routing key may give (Firehose's and Glue's limit).
pub const MAX_NAME_LENGTH: usize = 255;

/// Whether `name` may name a routed database or table: 1 to [`MAX_NAME_LENGTH`] characters of
/// `a-z 0-9 _`. Lowercase only: Glue and Athena store names lowercase, so `Orders` and
/// `orders` would be one table there under two ids, two commit protocols fencing each other
/// on the same shard positions (one could drop the other's uncommitted files as already
/// there); no `.` that would make a nested namespace, no `/` that would leave the warehouse.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Makes the storage data files of a table go to, from the table (rooted at its location,
/// with conditional writes); the message says why when it cannot.
pub type DataSinks = Arc<dyn Fn(&TableTarget) -> Result<Arc<dyn ObjectSink>, String> + Send + Sync>;

/// Data sinks for tables at `file://` locations (dry-run and tests): each table's data files
/// go under its own directory; any other location is refused, naming it.
#[must_use]
pub fn file_location_sinks() -> DataSinks {
    Arc::new(|target| {
        let location = target.location();
        let directory = location
            .strip_prefix("file://")
            .ok_or_else(|| format!("{location} is not a file:// location"))?;
        Ok(Arc::new(kinesink_delivery::FileSink::new(directory)) as Arc<dyn ObjectSink>)
    })
}

/// How tables are opened: the catalog, how missing ones are created, and how records are
/// converted.
#[derive(Clone)]
pub struct TableOpener {
    /// The catalog holding the tables.
    pub catalog: Arc<dyn Catalog>,
    /// Create a missing table (`create_tables`).
    pub create_tables: bool,
    /// The configured `format.schema`: the columns of created tables (`None`: not given; a
    /// missing table cannot be created).
    pub schema: Option<Arc<TableSchema>>,
    /// The configured `partition_spec` of created tables.
    pub partition_spec: String,
    /// The OpenX JSON SerDe options records are converted with.
    pub serde: Arc<SerdeOptions>,
    /// Compression and the other Parquet options of data files.
    pub parquet: ParquetOptions,
    /// Where each table's data files are written.
    pub data_sinks: DataSinks,
}

impl std::fmt::Debug for TableOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableOpener")
            .field("create_tables", &self.create_tables)
            .field("partition_spec", &self.partition_spec)
            .finish_non_exhaustive()
    }
}

/// A table opened for delivery, with what the record path and the commits need of it.
///
/// Guarantees: `format` converts records by the table's current schema with its field ids
/// (the same metadata as `target`), and `files` writes under the table's location.
#[derive(Debug)]
pub struct OpenTable {
    /// Its id, `database.table`.
    pub id: Arc<str>,
    /// The table, its writer schema and partitioner.
    pub target: TableTarget,
    /// Parquet with the table's schema and the configured options.
    pub format: ObjectFormat,
    /// Writes its data files.
    pub files: TableFiles,
    /// The table as the record path routes to it (made once: every record shares it).
    routed: Arc<RoutedTable>,
}

impl OpenTable {
    /// The table as the record path routes to it: the same [`RoutedTable`] every time, whose
    /// partitioner hands out partitions already placed in this table.
    #[must_use]
    pub fn routed(&self) -> Arc<RoutedTable> {
        Arc::clone(&self.routed)
    }
}

/// Why a table could not be opened.
#[derive(Debug)]
enum OpenFailure {
    /// It does not exist and is not created (the message says why).
    Missing(String),
    /// The catalog refused for good (its schema or spec cannot be written, ...).
    Refused(IcebergSinkError),
    /// The catalog could not answer now.
    Transient(IcebergSinkError),
}

impl TableOpener {
    /// Opens `database.table`, creating it when missing if `create_tables` is set and a schema
    /// is configured.
    async fn open(&self, database: &str, table: &str) -> Result<OpenTable, OpenFailure> {
        let ident = TableIdent::new(NamespaceIdent::new(database.to_owned()), table.to_owned());
        let classify = |e: IcebergSinkError| match e.class() {
            IcebergErrorClass::Transient => OpenFailure::Transient(e),
            IcebergErrorClass::Permanent => OpenFailure::Refused(e),
        };
        let exists = self.catalog.table_exists(&ident).await.map_err(|e| {
            classify(IcebergSinkError::from_iceberg(
                format!("look up table {ident}"),
                e,
            ))
        })?;
        if !exists && !self.create_tables {
            return Err(OpenFailure::Missing(format!(
                "table {ident} does not exist and `destination.iceberg.create_tables` is false"
            )));
        }
        if !exists && self.schema.is_none() {
            return Err(OpenFailure::Missing(format!(
                "table {ident} does not exist; creating it needs its columns in `format.schema`"
            )));
        }
        let creation = TableCreationSettings {
            create_tables: self.create_tables,
            schema: self.schema.as_deref(),
            partition_spec: &self.partition_spec,
        };
        let target = open_table(&*self.catalog, database, table, &creation, &self.serde)
            .await
            .map_err(classify)?;
        let operation = format!("open table {ident}");
        let format = ParquetTableFormat::new(
            Arc::clone(&target.schema),
            Arc::clone(&self.serde),
            self.parquet.clone(),
        )
        .map_err(|e| {
            OpenFailure::Refused(IcebergSinkError::permanent(&operation, e.to_string()))
        })?;
        let sink = (self.data_sinks)(&target).map_err(|message| {
            OpenFailure::Refused(IcebergSinkError::permanent(&operation, message))
        })?;
        let files = TableFiles::new(&target, sink);
        let id: Arc<str> = format!("{database}.{table}").into();
        let format = ObjectFormat::Parquet(Arc::new(format));
        target.partitioner.place_in(Arc::clone(&id), format.clone());
        let routed = Arc::new(RoutedTable {
            id: Arc::clone(&id),
            partitioner: target.partitioner.clone(),
            format: Some(format.clone()),
        });
        Ok(OpenTable {
            id,
            target,
            format,
            files,
            routed,
        })
    }
}

/// The tables of a destination: the default one, opened at start, and every table records
/// were routed to since.
///
/// Guarantees: a table is opened at most once per process (a table that was missing or not
/// writable stays so for the life of this value, so the same routing keys always get the same
/// answer: cuts are the same on every replay within a process); a routing key that is not a
/// valid name never reaches the catalog; a catalog that cannot answer is reported as
/// [`RouteError::Unavailable`] and asked again for the next record.
pub struct TableRoutes {
    opener: TableOpener,
    database: String,
    table: String,
    default: Arc<OpenTable>,
    tables: Mutex<BTreeMap<String, Result<Arc<OpenTable>, TablePartitionFailure>>>,
}

impl std::fmt::Debug for TableRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableRoutes")
            .field("default", &self.default.id)
            .finish_non_exhaustive()
    }
}

impl TableRoutes {
    /// Opens (or creates) the default table `database.table`.
    ///
    /// # Errors
    /// [`IcebergSinkError`] naming the table and what to fix (a missing table names the
    /// `create_tables` or `format.schema` key).
    pub async fn open(
        opener: TableOpener,
        database: &str,
        table: &str,
    ) -> Result<Self, IcebergSinkError> {
        let operation = format!("open table {database}.{table}");
        let default = match opener.open(database, table).await {
            Ok(opened) => Arc::new(opened),
            Err(OpenFailure::Missing(message)) => {
                return Err(IcebergSinkError::permanent(
                    &operation,
                    format!(
                        "{message}: create it, or set create_tables = true and give `format.schema`"
                    ),
                ));
            }
            Err(OpenFailure::Refused(e) | OpenFailure::Transient(e)) => return Err(e),
        };
        let mut tables = BTreeMap::new();
        tables.insert(default.id.to_string(), Ok(Arc::clone(&default)));
        Ok(Self {
            opener,
            database: database.to_owned(),
            table: table.to_owned(),
            default,
            tables: Mutex::new(tables),
        })
    }

    /// The default table (`destination.iceberg.database` / `table`), which also holds every
    /// shard's checkpoint.
    #[must_use]
    pub fn default_table(&self) -> &Arc<OpenTable> {
        &self.default
    }

    /// The open table `id` (`database.table`), if records were routed to it.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Arc<OpenTable>> {
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tables.get(id).and_then(|t| t.as_ref().ok().cloned())
    }

    /// The table `database.table`, opened now if it is not open yet.
    fn resolve(&self, database: &str, table: &str) -> Result<Arc<OpenTable>, RouteError> {
        let id = format!("{database}.{table}");
        if let Some(known) = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return known.clone().map_err(RouteError::Record);
        }
        for (key, name) in [
            (DESTINATION_DATABASE_KEY, database),
            (DESTINATION_TABLE_KEY, table),
        ] {
            if !is_valid_name(name) {
                return Err(RouteError::Record(TablePartitionFailure {
                    error_output_type: ROUTING_FAILED_OUTPUT_TYPE.to_owned(),
                    error_code: INVALID_TABLE_NAME_ERROR_CODE.to_owned(),
                    message: format!(
                        "routing key {key} `{}`: not a valid name (1 to {MAX_NAME_LENGTH} characters of a-z, 0-9, '_')",
                        name.chars().take(300).collect::<String>()
                    ),
                }));
            }
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            RouteError::Unavailable(format!("opening table {id} needs a Tokio runtime: {e}"))
        })?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(RouteError::Unavailable(format!(
                "opening table {id} from the record path needs the multi-thread Tokio runtime"
            )));
        }
        let opened =
            tokio::task::block_in_place(|| handle.block_on(self.open_retrying(database, table)));
        let outcome = match opened {
            Ok(opened) => Ok(Arc::new(opened)),
            Err(OpenFailure::Transient(e)) => return Err(RouteError::Unavailable(e.to_string())),
            Err(OpenFailure::Missing(message)) => Err(TablePartitionFailure {
                error_output_type: ROUTING_FAILED_OUTPUT_TYPE.to_owned(),
                error_code: TABLE_NOT_FOUND_ERROR_CODE.to_owned(),
                message,
            }),
            Err(OpenFailure::Refused(e)) => Err(TablePartitionFailure {
                error_output_type: ROUTING_FAILED_OUTPUT_TYPE.to_owned(),
                error_code: TABLE_NOT_WRITABLE_ERROR_CODE.to_owned(),
                message: e.to_string(),
            }),
        };
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another shard may have opened it meanwhile: the first answer stands.
        tables
            .entry(id)
            .or_insert(outcome)
            .clone()
            .map_err(RouteError::Record)
    }
}

/// How long a routed table's transient open failures are retried on the record path before
/// the shard stops ([`RouteError::Unavailable`]): long enough for a throttled or 5xx metadata
/// read to pass, short enough that a shard never waits on a catalog that is down (its task
/// cannot be cancelled while it waits).
pub const ROUTED_OPEN_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

impl TableRoutes {
    /// Opens `database.table`, retrying transient failures for up to [`ROUTED_OPEN_RETRY`]
    /// (a missing or refused table is answered at once).
    async fn open_retrying(&self, database: &str, table: &str) -> Result<OpenTable, OpenFailure> {
        let what = format!("opening routed table {database}.{table}");
        let retried = crate::transient_retry::retry_transient(ROUTED_OPEN_RETRY, &what, || async {
            match self.opener.open(database, table).await {
                Ok(opened) => Ok(Ok(opened)),
                Err(OpenFailure::Transient(e)) => Err(e),
                Err(other) => Ok(Err(other)),
            }
        })
        .await;
        retried.unwrap_or_else(|e| Err(OpenFailure::Transient(e)))
    }
}

impl TableRouter for TableRoutes {
    fn route(
        &self,
        database: Option<&str>,
        table: Option<&str>,
    ) -> Result<Arc<RoutedTable>, RouteError> {
        if database.is_none() && table.is_none() {
            // No routing keys (every record without a routing query): the default table.
            return Ok(self.default.routed());
        }
        let database = database.unwrap_or(&self.database);
        let table = table.unwrap_or(&self.table);
        // Without regard to case: a configured default table with capitals is the same table
        // as its lowercase spelling in Glue; never two protocols for it.
        if database.eq_ignore_ascii_case(&self.database) && table.eq_ignore_ascii_case(&self.table)
        {
            return Ok(self.default.routed());
        }
        self.resolve(database, table).map(|t| t.routed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_names_of_letters_digits_and_underscores_up_to_255_characters_may_be_routed_to()
     {
        for good in ["events", "events_2026", "_", &"a".repeat(MAX_NAME_LENGTH)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Events",
            "a.b",
            "../warehouse",
            "a/b",
            "with space",
            "événements",
            "x\0",
            &"a".repeat(MAX_NAME_LENGTH + 1),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
