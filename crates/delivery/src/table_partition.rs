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
/// and paths are equal; the values are carried unopened from the partitioner to the shell. A
/// clone is one reference count (the record path clones the partition of every record).
#[derive(Clone)]
pub struct TablePartition(Arc<Placed>);

/// A partition's parts, shared by its clones.
struct Placed {
    table: Arc<str>,
    path: Arc<str>,
    values: Arc<dyn Any + Send + Sync>,
    format: Option<ObjectFormat>,
    /// The hash of (table, path), computed once.
    hash: u64,
}

impl Placed {
    fn new(
        table: Arc<str>,
        path: Arc<str>,
        values: Arc<dyn Any + Send + Sync>,
        format: Option<ObjectFormat>,
    ) -> Self {
        // A fixed hasher: the same (table, path) always hashes the same, as equality needs.
        let mut hasher = std::hash::DefaultHasher::new();
        table.hash(&mut hasher);
        path.hash(&mut hasher);
        Self {
            table,
            path,
            values,
            format,
            hash: hasher.finish(),
        }
    }
}

impl TablePartition {
    /// A partition whose data files go under `path` (relative to the table's location, ending
    /// with `/`, e.g. `data/event_type=click/ts_day=2026-11-22/`), with the table format's own
    /// `values` of it.
    #[must_use]
    pub fn new(path: Arc<str>, values: Arc<dyn Any + Send + Sync>) -> Self {
        Self(Arc::new(Placed::new(Arc::from(""), path, values, None)))
    }

    /// This partition in the table `id` routes to, whose data files are written in `format`
    /// (`None`: the layout's format).
    #[must_use]
    pub fn in_table(self, id: Arc<str>, format: Option<ObjectFormat>) -> Self {
        let p = &self.0;
        Self(Arc::new(Placed::new(
            id,
            Arc::clone(&p.path),
            Arc::clone(&p.values),
            format,
        )))
    }

    /// This partition in the table `routed` routes to: itself when a partitioner already
    /// placed it there (its table id is the same allocation as the route's: one table, one
    /// format), else [`TablePartition::in_table`] of the route's id and format.
    #[must_use]
    pub fn placed_in(self, routed: &RoutedTable) -> Self {
        if Arc::ptr_eq(&self.0.table, &routed.id) {
            return self;
        }
        self.in_table(Arc::clone(&routed.id), routed.format.clone())
    }

    /// The id of its table ([`RoutedTable::id`]; empty when no router placed it).
    #[must_use]
    pub fn table(&self) -> &str {
        &self.0.table
    }

    /// The format of its table's data files, when the table has its own.
    #[must_use]
    pub fn format(&self) -> Option<&ObjectFormat> {
        self.0.format.as_ref()
    }

    /// The directory of its data files, relative to the table's location.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The table format's values of this partition, as the partitioner gave them.
    #[must_use]
    pub fn values(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.0.values
    }
}

impl fmt::Debug for TablePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TablePartition")
            .field(&self.0.table)
            .field(&self.0.path)
            .finish()
    }
}

impl PartialEq for TablePartition {
    fn eq(&self, other: &Self) -> bool {
        // A partitioner hands out clones of the partitions it made, so equal partitions are
        // usually the same allocation: compared by address first, by text only when they differ.
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || a == b;
        self.0.hash == other.0.hash
            && same(&self.0.table, &other.0.table)
            && same(&self.0.path, &other.0.path)
    }
}

impl Eq for TablePartition {}

impl Hash for TablePartition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialOrd for TablePartition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TablePartition {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.0.table, &self.0.path).cmp(&(&other.0.table, &other.0.path))
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
    /// The catalog could not answer now (unreachable, throttled), after the router's own
    /// retries (the Iceberg router retries a table's open for 30 s): the record is not placed
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
    fn route(
        &self,
        database: Option<&str>,
        table: Option<&str>,
    ) -> Result<Arc<RoutedTable>, RouteError>;
}

/// A destination of one table: every record goes to it, whatever its routing keys.
///
/// Guarantees: [`TableRouter::route`] always answers the same [`RoutedTable`].
#[derive(Debug, Clone)]
pub struct SingleTable(pub Arc<RoutedTable>);

impl SingleTable {
    /// The single table placed by `partitioner`, written in the layout's format, with id `id`.
    #[must_use]
    pub fn new(id: &str, partitioner: Arc<dyn TablePartitioner>) -> Self {
        Self(Arc::new(RoutedTable {
            id: id.into(),
            partitioner,
            format: None,
        }))
    }
}

impl TableRouter for SingleTable {
    fn route(&self, _: Option<&str>, _: Option<&str>) -> Result<Arc<RoutedTable>, RouteError> {
        Ok(Arc::clone(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher as _;

    #[derive(Debug)]
    struct Nowhere;

    impl TablePartitioner for Nowhere {
        fn partition_of(
            &self,
            _: &ParsedJsonRecord<'_>,
        ) -> Result<TablePartition, TablePartitionFailure> {
            unreachable!("not called")
        }
    }

    #[test]
    fn a_partition_already_in_the_routes_table_is_taken_as_is_and_equal_texts_are_one_partition() {
        let routed = RoutedTable {
            id: "db.t".into(),
            partitioner: Arc::new(Nowhere),
            format: None,
        };
        let made = TablePartition::new("data/k=a/".into(), Arc::new(()));
        // Placed by the partitioner in the route's table (the same id allocation): as is.
        let placed = made.clone().in_table(Arc::clone(&routed.id), None);
        let again = placed.clone().placed_in(&routed);
        assert!(
            Arc::ptr_eq(&placed.0, &again.0),
            "no new partition per record"
        );
        // Placed by the route (another allocation of the same texts): equal, same hash.
        let other_route = RoutedTable {
            id: "db.t".into(),
            ..routed
        };
        let by_route = made.clone().placed_in(&other_route);
        assert!(!Arc::ptr_eq(&by_route.0, &placed.0));
        assert_eq!(by_route, placed);
        let hasher = std::hash::RandomState::new();
        assert_eq!(
            hasher.hash_one(&by_route),
            hasher.hash_one(&placed),
            "equal partitions hash alike"
        );
        assert_eq!(by_route.table(), "db.t");
        assert_eq!(by_route.path(), "data/k=a/");
        // Another path or another table is another partition.
        let other_path =
            TablePartition::new("data/k=b/".into(), Arc::new(())).in_table("db.t".into(), None);
        let other_table = made.in_table("db.u".into(), None);
        assert_ne!(other_path, placed);
        assert_ne!(other_table, placed);
        assert!(other_table > placed, "ordered by table, then path");
    }
}
