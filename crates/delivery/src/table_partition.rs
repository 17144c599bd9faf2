//! A table destination's routing and partitioning (Apache Iceberg tables, say) as the record
//! path sees it: which table a record goes to (from its routing keys, Firehose's
//! `destinationDatabaseName` / `destinationTableName`), and which data file directory of that
//! table, chosen from the record as its data file will hold it. The table format itself stays
//! outside this crate: a partition's values travel with it unopened, for the shell that
//! registers the file with its table.

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use kinesink_parquet_writer::{ObjectFormat, ParsedJsonRecord};

/// The partition of a data file in a table destination.
///
/// Guarantees: two partitions are equal (and hash and order alike) exactly when their tables
/// and paths are equal; the values are carried unopened from the partitioner to the shell.
#[derive(Clone)]
pub struct TablePartition {
    table: Arc<str>,
    path: Arc<str>,
    values: Arc<dyn Any + Send + Sync>,
    format: Option<ObjectFormat>,
}

impl TablePartition {
    /// A partition whose data files go under `path` (relative to the table's location, ending
    /// with `/`, e.g. `data/event_type=click/ts_day=2026-11-22/`), with the table format's own
    /// `values` of it.
    #[must_use]
    pub fn new(path: Arc<str>, values: Arc<dyn Any + Send + Sync>) -> Self {
        Self {
            table: Arc::from(""),
            path,
            values,
            format: None,
        }
    }

    /// This partition in the table `id` routes to, whose data files are written in `format`
    /// (`None`: the layout's format).
    #[must_use]
    pub fn in_table(mut self, id: Arc<str>, format: Option<ObjectFormat>) -> Self {
        self.table = id;
        self.format = format;
        self
    }

    /// The id of its table ([`RoutedTable::id`]; empty when no router placed it).
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The format of its table's data files, when the table has its own.
    #[must_use]
    pub fn format(&self) -> Option<&ObjectFormat> {
        self.format.as_ref()
    }

    /// The directory of its data files, relative to the table's location.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The table format's values of this partition, as the partitioner gave them.
    #[must_use]
    pub fn values(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.values
    }
}

impl fmt::Debug for TablePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TablePartition")
            .field(&self.table)
            .field(&self.path)
            .finish()
    }
}

impl PartialEq for TablePartition {
    fn eq(&self, other: &Self) -> bool {
        // A partitioner hands out clones of the partitions it made, so equal texts are usually
        // the same allocation: compared by address first, by text only when they differ.
        let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || a == b;
        same(&self.table, &other.table) && same(&self.path, &other.path)
    }
}

impl Eq for TablePartition {}

impl Hash for TablePartition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.table.hash(state);
        self.path.hash(state);
    }
}

impl PartialOrd for TablePartition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TablePartition {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.table, &self.path).cmp(&(&other.table, &other.path))
    }
}

/// Why a record has no partition in the table; it goes to the error output, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePartitionFailure {
    /// Its error output type (`format-conversion-failed`, `processing-failed`, ...).
    pub error_output_type: String,
    /// Its error code.
    pub error_code: String,
    /// What is wrong with the record, naming the column.
    pub message: String,
}

/// Chooses the partition of each record of a table destination.
///
/// Implementations guarantee: the same record always gets the same partition (cuts, and so
/// object keys, must be the same on every replay), and a record is refused only with a
/// [`TablePartitionFailure`], never by panicking.
pub trait TablePartitioner: Send + Sync + fmt::Debug {
    /// The partition of `record` (a JSON record parsed for its Parquet row).
    ///
    /// # Errors
    /// [`TablePartitionFailure`]: the record cannot be placed (a partition source value does
    /// not convert to its column's type).
    fn partition_of(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure>;
}

/// Firehose's routing key naming a record's Iceberg database (namespace).
pub const DESTINATION_DATABASE_KEY: &str = "destinationDatabaseName";

/// Firehose's routing key naming a record's Iceberg table.
pub const DESTINATION_TABLE_KEY: &str = "destinationTableName";

/// A table records are routed to, as the record path needs it.
#[derive(Debug, Clone)]
pub struct RoutedTable {
    /// Its id (`database.table`), the same for every record routed to it; the shell finds the
    /// table's commits by it ([`TablePartition::table`]).
    pub id: Arc<str>,
    /// Places its records in its partitions.
    pub partitioner: Arc<dyn TablePartitioner>,
    /// The format of its data files (its own schema), or `None`: the layout's format.
    pub format: Option<ObjectFormat>,
}

/// Why a record has no table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The record cannot go to the table it names (a bad name, a missing table): it goes to
    /// the error output.
    Record(TablePartitionFailure),
    /// The catalog could not answer now (unreachable, throttled): the record is not placed
    /// and the shard stops ([`crate::BufferError::TableUnavailable`]), to be read again.
    Unavailable(String),
}

/// Chooses the table of each record of a table destination from its routing keys.
///
/// Implementations guarantee: the same routing keys give the same table for as long as the
/// router lives (cuts, and so object keys, must be the same on every replay; across runs the
/// answer may change only when a table is created or dropped in between); a record is refused
/// only with a [`RouteError`], never by panicking.
pub trait TableRouter: Send + Sync + fmt::Debug {
    /// The table of a record whose routing query gave `database` and `table` (`None`: the key
    /// was not given; the default table's part is used).
    ///
    /// # Errors
    /// [`RouteError`]: the table cannot take the record, or cannot be looked up now.
    fn route(&self, database: Option<&str>, table: Option<&str>)
    -> Result<RoutedTable, RouteError>;
}

/// A destination of one table: every record goes to it, whatever its routing keys.
///
/// Guarantees: [`TableRouter::route`] always answers the same [`RoutedTable`].
#[derive(Debug, Clone)]
pub struct SingleTable(pub RoutedTable);

impl SingleTable {
    /// The single table placed by `partitioner`, written in the layout's format, with id `id`.
    #[must_use]
    pub fn new(id: &str, partitioner: Arc<dyn TablePartitioner>) -> Self {
        Self(RoutedTable {
            id: id.into(),
            partitioner,
            format: None,
        })
    }
}

impl TableRouter for SingleTable {
    fn route(&self, _: Option<&str>, _: Option<&str>) -> Result<RoutedTable, RouteError> {
        Ok(self.0.clone())
    }
}
