//! A catalog that lets something happen between a commit's fenced load and the catalog's
//! swap: the interleaving the fence must survive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use iceberg::table::Table;
use iceberg::{
    Catalog, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent,
};

/// What runs before the first forwarded commit.
type Hook = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Delegates everything to `inner`; the first `update_table` (a commit that passed the fence's
/// check in `load_table`) first awaits the hook (e.g. a competing writer's commit), then is
/// forwarded. Later commits are forwarded at once. Every forwarded commit's outcome is
/// recorded ([`BeforeSwap::outcomes`]).
pub(crate) struct BeforeSwap {
    inner: Arc<dyn Catalog>,
    hook: Hook,
    fired: AtomicBool,
    outcomes: Mutex<Vec<Result<(), ErrorKind>>>,
}

impl BeforeSwap {
    /// `inner`, with `hook` run once just before its first forwarded commit.
    pub(crate) fn new(
        inner: Arc<dyn Catalog>,
        hook: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            hook: Box::new(hook),
            fired: AtomicBool::new(false),
            outcomes: Mutex::new(Vec::new()),
        }
    }

    /// What each forwarded commit's `update_table` answered, in order (`Err`: its kind).
    pub(crate) fn outcomes(&self) -> Vec<Result<(), ErrorKind>> {
        self.outcomes.lock().unwrap().clone()
    }
}

impl std::fmt::Debug for BeforeSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeforeSwap")
            .field("fired", &self.fired)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Catalog for BeforeSwap {
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        if !self.fired.swap(true, Ordering::SeqCst) {
            (self.hook)().await;
        }
        let result = self.inner.update_table(commit).await;
        self.outcomes
            .lock()
            .unwrap()
            .push(result.as_ref().map(drop).map_err(iceberg::Error::kind));
        result
    }
    async fn load_table(&self, t: &TableIdent) -> iceberg::Result<Table> {
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
