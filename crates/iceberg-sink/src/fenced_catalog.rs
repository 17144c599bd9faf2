//! The commit fence: a per-commit [`Catalog`] wrapper whose `load_table` refuses a table whose
//! committed shard positions are not the ones the committer expects.
//!
//! Why it works (docs/design/iceberg-sink-plan.md §3): iceberg-rust 0.10.1's
//! `Transaction::commit` starts every attempt by loading the table through the catalog it is
//! given, re-applies its actions on that fresh table, and sends the catalog a commit that
//! requires main's snapshot id to be the loaded table's (`RefSnapshotIdMatch`); the catalog
//! applies it with a compare-and-swap. Checking the positions in `load_table` therefore checks
//! exactly the table state the swap requires: if another writer commits in between, the swap
//! fails, iceberg-rust retries, and the retry's `load_table` checks again. Without the fence the
//! retry silently rebases a stale writer onto the newer table and its older position wins.
//!
//! The reliance on that reload is pinned by the workspace's `iceberg = "=0.10.1"` and by the
//! `fence_relies_on_*` tests of this crate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation,
    TableIdent,
};
use kinesink_sequence_position::SequencePosition;

use crate::table_position::{self, ShardPositions};

/// The committed position of every shard of `name` in `table`: the summaries of main's
/// ancestry, newest first, read by [`table_position::committed_positions`]. A table without
/// snapshots holds no positions. A deciding value that is not a position is an error
/// (`DataInvalid`): the fence must not guess.
pub(crate) fn committed_positions(table: &Table, name: &str) -> Result<ShardPositions> {
    let metadata = table.metadata_ref();
    let Some(head) = metadata.current_snapshot_id() else {
        return Ok(ShardPositions::new());
    };
    let snapshots: Vec<_> = iceberg::util::snapshot::ancestors_of(&metadata, head).collect();
    table_position::committed_positions(
        name,
        snapshots
            .iter()
            .map(|snapshot| &snapshot.summary().additional_properties),
    )
    .map_err(|error| {
        Error::new(
            ErrorKind::DataInvalid,
            format!(
                "table {} holds {error}; a position is <sequence number>/<sub-sequence number>",
                table.identifier()
            ),
        )
    })
}

/// Why a [`FencedCommit`] refused a table: the table's committed positions moved away from
/// what the committer expected (a zombie, a successor, or an earlier commit of ours whose
/// outcome was unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceRefusal {
    /// Every position of the commit's name the refused table holds, per shard.
    pub committed: BTreeMap<String, SequencePosition>,
    /// The expected shards whose committed position differs from the expectation.
    pub moved_shards: BTreeSet<String>,
}

/// A per-commit [`Catalog`] that delegates everything to `inner` except `load_table`, which
/// refuses (with `ErrorKind::PreconditionFailed`, not retryable) a table whose committed
/// position of any expected shard differs from the expectation.
///
/// Guarantees: a `Transaction::commit(&fenced)` that succeeds committed on a table whose
/// expected shards held exactly the expected positions, atomically with the catalog's
/// compare-and-swap (module docs); one that was refused records the refused table's positions
/// ([`FencedCommit::refusal`]). Build one per commit: the expectation is the commit's. A
/// transaction without actions is returned by iceberg-rust without loading anything, so it is
/// never checked ([`crate::table_commit::commit_files`] always has its fast append).
#[derive(Debug)]
pub struct FencedCommit<'a> {
    inner: &'a dyn Catalog,
    name: String,
    expect: BTreeMap<String, Option<SequencePosition>>,
    loads: AtomicU32,
    refusal: Mutex<Option<FenceRefusal>>,
}

impl<'a> FencedCommit<'a> {
    /// A fence over `inner` for positions stored under `name` (summary keys
    /// `kinesink.<name>.<shard id>`): `expect` maps each fenced shard to the position the
    /// committer last saw committed (`None`: the table holds none for it).
    #[must_use]
    pub fn new(
        inner: &'a dyn Catalog,
        name: impl Into<String>,
        expect: BTreeMap<String, Option<SequencePosition>>,
    ) -> Self {
        Self {
            inner,
            name: name.into(),
            expect,
            loads: AtomicU32::new(0),
            refusal: Mutex::new(None),
        }
    }

    /// Why the last refused `load_table` refused, or `None` when none was refused.
    #[must_use]
    pub fn refusal(&self) -> Option<FenceRefusal> {
        self.refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many tables were loaded through this fence (iceberg-rust loads one per commit
    /// attempt).
    #[must_use]
    pub fn loads(&self) -> u32 {
        self.loads.load(Ordering::SeqCst)
    }

    /// Checks `table` against the expectation: `None` when every expected shard holds exactly
    /// its expected position.
    fn check(&self, table: &Table) -> Result<Option<(FenceRefusal, String)>> {
        let committed = committed_positions(table, &self.name)?;
        let mut moved_shards = BTreeSet::new();
        let mut details = Vec::new();
        for (shard, expected) in &self.expect {
            let now = committed.get(shard);
            if now != expected.as_ref() {
                moved_shards.insert(shard.clone());
                details.push(format!(
                    "shard {shard} committed at {}, expected {}",
                    shown(now),
                    shown(expected.as_ref())
                ));
            }
        }
        if moved_shards.is_empty() {
            return Ok(None);
        }
        let message = format!(
            "fenced: table {} moved under `{}`: {}",
            table.identifier(),
            self.name,
            details.join("; ")
        );
        Ok(Some((
            FenceRefusal {
                committed,
                moved_shards,
            },
            message,
        )))
    }
}

/// A position for a message (`none` for no position).
fn shown(position: Option<&SequencePosition>) -> String {
    position.map_or_else(|| "none".to_owned(), ToString::to_string)
}

#[async_trait::async_trait]
impl Catalog for FencedCommit<'_> {
    /// Loads from the inner catalog, then refuses the table when an expected shard's committed
    /// position differs (`PreconditionFailed`, naming each shard with its committed and
    /// expected positions; recorded for [`FencedCommit::refusal`]).
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let loaded = self.inner.load_table(table).await?;
        match self.check(&loaded)? {
            None => Ok(loaded),
            Some((refusal, message)) => {
                *self
                    .refusal
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refusal);
                Err(Error::new(ErrorKind::PreconditionFailed, message))
            }
        }
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
}
