//! A catalog whose commits to one table fail while an outage is on (an `Unexpected` error, as
//! a storage or database failure gives): a table that cannot be committed to for a while; or
//! whose next loads of the table fail the same way (an S3 503 on a metadata read).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent,
};

/// Delegates everything to `inner`, except commits to table `table` while `failing` is set,
/// and its next `failing_loads` loads.
#[derive(Debug)]
pub(crate) struct CommitOutage {
    inner: Arc<dyn Catalog>,
    table: String,
    /// Set: commits to the table fail.
    pub(crate) failing: AtomicBool,
    /// Loads of the table still to fail.
    failing_loads: AtomicU32,
}

impl CommitOutage {
    /// `inner`, with commits to the table named `table` failing from the start.
    pub(crate) fn new(inner: Arc<dyn Catalog>, table: &str) -> Self {
        Self {
            inner,
            table: table.to_owned(),
            failing: AtomicBool::new(true),
            failing_loads: AtomicU32::new(0),
        }
    }

    /// `inner`, with the next `loads` loads of the table named `table` failing (and no commit).
    pub(crate) fn failing_loads(inner: Arc<dyn Catalog>, table: &str, loads: u32) -> Self {
        Self {
            inner,
            table: table.to_owned(),
            failing: AtomicBool::new(false),
            failing_loads: AtomicU32::new(loads),
        }
    }

    /// How many of the failing loads are still to come.
    pub(crate) fn loads_left_to_fail(&self) -> u32 {
        self.failing_loads.load(Ordering::SeqCst)
    }

    /// Ends the outage.
    pub(crate) fn heal(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Catalog for CommitOutage {
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        if commit.identifier().name() == self.table && self.failing.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Unexpected, "commit outage (test)"));
        }
        self.inner.update_table(commit).await
    }
    async fn load_table(&self, t: &TableIdent) -> iceberg::Result<Table> {
        if t.name() == self.table
            && self
                .failing_loads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(Error::new(
                ErrorKind::Unexpected,
                "metadata read outage (test)",
            ));
        }
        self.inner.load_table(t).await
    }
    async fn list_namespaces(
        &self,
        p: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(p).await
    }
    async fn create_namespace(
        &self,
        n: &NamespaceIdent,
        p: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(n, p).await
    }
    async fn get_namespace(&self, n: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(n).await
    }
    async fn namespace_exists(&self, n: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(n).await
    }
    async fn update_namespace(
        &self,
        n: &NamespaceIdent,
        p: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(n, p).await
    }
    async fn drop_namespace(&self, n: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(n).await
    }
    async fn list_tables(&self, n: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(n).await
    }
    async fn create_table(&self, n: &NamespaceIdent, c: TableCreation) -> iceberg::Result<Table> {
        self.inner.create_table(n, c).await
    }
    async fn drop_table(&self, t: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(t).await
    }
    async fn purge_table(&self, t: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(t).await
    }
    async fn table_exists(&self, t: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(t).await
    }
    async fn rename_table(&self, a: &TableIdent, b: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(a, b).await
    }
    async fn register_table(&self, t: &TableIdent, m: String) -> iceberg::Result<Table> {
        self.inner.register_table(t, m).await
    }
}
