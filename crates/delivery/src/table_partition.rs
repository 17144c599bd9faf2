//! A table destination's partitioning (an Apache Iceberg table's partition spec, say) as the
//! record path sees it: which data file directory a record goes to, chosen from the record as
//! its data file will hold it. The table format itself stays outside this crate: a partition's
//! values travel with it unopened, for the shell that registers the file with the table.

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use kinesink_parquet_writer::ParsedJsonRecord;

/// The partition of a data file in a table destination.
///
/// Guarantees: two partitions are equal (and hash and order alike) exactly when their paths
/// are equal; the values are carried unopened from the partitioner to the shell.
#[derive(Clone)]
pub struct TablePartition {
    path: Arc<str>,
    values: Arc<dyn Any + Send + Sync>,
}

impl TablePartition {
    /// A partition whose data files go under `path` (relative to the table's location, ending
    /// with `/`, e.g. `data/event_type=click/ts_day=2026-11-22/`), with the table format's own
    /// `values` of it.
    #[must_use]
    pub fn new(path: Arc<str>, values: Arc<dyn Any + Send + Sync>) -> Self {
        Self { path, values }
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
        f.debug_tuple("TablePartition").field(&self.path).finish()
    }
}

impl PartialEq for TablePartition {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for TablePartition {}

impl Hash for TablePartition {
    fn hash<H: Hasher>(&self, state: &mut H) {
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
        self.path.cmp(&other.path)
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
