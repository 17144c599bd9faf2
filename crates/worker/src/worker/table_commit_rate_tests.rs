//! Catalog requests of workers delivering a 64-shard stream into one Iceberg table (issue 19's
//! target "at most one commit per worker per table per buffer interval; report catalog
//! requests per hour at 64 shards"): the whole worker in-process over the memory services, a
//! producer appending to every shard all along, the table in a SQL catalog on SQLite with a
//! `file://` warehouse, each worker's catalog wrapped in a counter of its calls.

use super::*;
use crate::table_commits::TableCommits;
use iceberg::table::Table;
use iceberg::{Catalog, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent};
use kinesink_delivery::MemorySink;
use kinesink_iceberg_sink::routed_commits::RoutedCommits;
use kinesink_iceberg_sink::table_routes::{TableOpener, TableRoutes, file_location_sinks};
use kinesink_iceberg_sink::{CatalogKind, IcebergCatalogSettings, open_catalog};
use kinesink_lease_coordination::MemoryLeaseTable;
use kinesink_parquet_writer::{ParquetOptions, SerdeOptions, TableSchema};
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_shard_reader::{MemoryShardSource, ShardInfo};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: u64 = 64;
const INTERVAL_MS: u64 = 1_000;
/// How late a commit's first catalog call may start after the commit task decided it.
const JITTER_MS: u64 = 500;

/// One catalog call: its method, when it was made, by which tokio task, whether it succeeded
/// (calls are listed in the order they were answered).
#[derive(Debug, Clone, Copy)]
struct Call {
    method: &'static str,
    sent: Instant,
    task: Option<tokio::task::Id>,
    ok: bool,
}

/// A catalog that records each call and passes it on (failing the next `failing_loads`
/// `load_table` calls first, when told to).
pub(super) struct CountingCatalog {
    inner: Arc<dyn Catalog>,
    calls: Mutex<Vec<Call>>,
    failing_loads: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for CountingCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingCatalog").finish_non_exhaustive()
    }
}

impl CountingCatalog {
    pub(super) fn new(inner: Arc<dyn Catalog>) -> Self {
        Self {
            inner,
            calls: Mutex::new(Vec::new()),
            failing_loads: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The next `n` `load_table` calls fail the way an S3 503 on the metadata read does in
    /// iceberg-rust (an `Unexpected` error), without reaching the catalog.
    pub(super) fn fail_next_loads(&self, n: u32) {
        self.failing_loads.store(n, Ordering::SeqCst);
    }

    /// How many `load_table` calls failed.
    pub(super) fn failed_loads(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.method == "load_table" && !c.ok)
            .count()
    }

    fn note<T>(
        &self,
        method: &'static str,
        sent: Instant,
        result: iceberg::Result<T>,
    ) -> iceberg::Result<T> {
        self.calls.lock().unwrap().push(Call {
            method,
            sent,
            task: tokio::task::try_id(),
            ok: result.is_ok(),
        });
        result
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Catalog for CountingCatalog {
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        let sent = Instant::now();
        let injected = self
            .failing_loads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            let error = iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "Failure in doing io operation",
            )
            .with_context("service", "s3")
            .with_source(std::io::Error::other(
                "RateLimited (persistent) at read, context: { response: Parts { status: 503 } }",
            ));
            return self.note("load_table", sent, Err(error));
        }
        let r = self.inner.load_table(table).await;
        self.note("load_table", sent, r)
    }

    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        let sent = Instant::now();
        let r = self.inner.update_table(commit).await;
        self.note("update_table", sent, r)
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        let sent = Instant::now();
        let r = self.inner.list_namespaces(parent).await;
        self.note("list_namespaces", sent, r)
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        let sent = Instant::now();
        let r = self.inner.create_namespace(namespace, properties).await;
        self.note("create_namespace", sent, r)
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        let sent = Instant::now();
        let r = self.inner.get_namespace(namespace).await;
        self.note("get_namespace", sent, r)
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        let sent = Instant::now();
        let r = self.inner.namespace_exists(namespace).await;
        self.note("namespace_exists", sent, r)
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        let sent = Instant::now();
        let r = self.inner.update_namespace(namespace, properties).await;
        self.note("update_namespace", sent, r)
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        let sent = Instant::now();
        let r = self.inner.drop_namespace(namespace).await;
        self.note("drop_namespace", sent, r)
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        let sent = Instant::now();
        let r = self.inner.list_tables(namespace).await;
        self.note("list_tables", sent, r)
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        let sent = Instant::now();
        let r = self.inner.create_table(namespace, creation).await;
        self.note("create_table", sent, r)
    }

    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        let sent = Instant::now();
        let r = self.inner.drop_table(table).await;
        self.note("drop_table", sent, r)
    }

    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        let sent = Instant::now();
        let r = self.inner.purge_table(table).await;
        self.note("purge_table", sent, r)
    }

    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        let sent = Instant::now();
        let r = self.inner.table_exists(table).await;
        self.note("table_exists", sent, r)
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        let sent = Instant::now();
        let r = self.inner.rename_table(src, dest).await;
        self.note("rename_table", sent, r)
    }

    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        let sent = Instant::now();
        let r = self.inner.register_table(table, metadata_location).await;
        self.note("register_table", sent, r)
    }
}

/// The SQL catalog on SQLite in `dir` (warehouse `<dir>/warehouse`).
pub(super) async fn sqlite_catalog(dir: &std::path::Path) -> Arc<dyn Catalog> {
    std::fs::create_dir_all(dir.join("warehouse")).unwrap();
    open_catalog(&IcebergCatalogSettings {
        kind: CatalogKind::Sql {
            uri: format!("sqlite://{}/catalog.db", dir.display()),
            catalog_name: "default".into(),
            warehouse: format!("file://{}/warehouse", dir.display()),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: "bucket(4, event_id)".into(),
        endpoint_url: None,
        region: None,
    })
    .await
    .unwrap()
}

/// The routes of `analytics.events` through `catalog` (the table created the first time), its
/// data files written under the table's `file://` location.
async fn events_routes(catalog: Arc<dyn Catalog>) -> Arc<TableRoutes> {
    let data_sinks = file_location_sinks();
    let opener = TableOpener {
        catalog,
        create_tables: true,
        schema: Some(Arc::new(
            TableSchema::parse_hive("event_id string, n bigint").unwrap(),
        )),
        partition_spec: "bucket(4, event_id)".into(),
        serde: Arc::new(SerdeOptions::default()),
        parquet: ParquetOptions::default(),
        data_sinks,
    };
    Arc::new(
        TableRoutes::open(opener, "analytics", "events")
            .await
            .unwrap(),
    )
}

/// A record of shard `s` with sequence number `seq`.
pub(super) fn record(s: u64, seq: u64) -> KinesisRecord {
    KinesisRecord {
        data: format!(r#"{{"event_id":"{s}-{seq}","n":{seq}}}"#).into_bytes(),
        partition_key: "k".into(),
        sequence_number: (1_000_000 + seq).to_string(),
        approximate_arrival_ms: 1_700_000_000_000,
    }
}

/// Worker `worker_id` delivering into the table through `catalog` (counted).
pub(super) async fn iceberg_worker(
    worker_id: &str,
    source: &Arc<MemoryShardSource>,
    leases: &Arc<MemoryLeaseTable>,
    catalog: Arc<CountingCatalog>,
) -> Worker {
    let routes = events_routes(catalog.clone() as Arc<dyn Catalog>).await;
    let committed = RoutedCommits::new(routes.clone(), catalog, "rate", INTERVAL_MS);
    let commits = TableCommits::spawn(committed, routes.clone(), Duration::from_millis(100));
    let defaults = crate::test_fixtures::settings("rate", worker_id);
    let settings = WorkerSettings {
        reader: ReaderSettings {
            idle: Duration::from_millis(50),
            ..defaults.reader
        },
        failover_time: Duration::from_millis(2_000),
        buffer: BufferLimits {
            interval_ms: INTERVAL_MS,
            ..defaults.buffer
        },
        file_extension: "parquet".into(),
        ..defaults
    };
    let sink = Arc::new(MemorySink::new());
    Worker::new(
        settings,
        routes.default_table().format.clone(),
        source.clone() as Arc<dyn ShardSource>,
        leases.clone() as Arc<dyn LeaseTable>,
        sink.clone() as Arc<dyn ObjectSink>,
        sink as Arc<dyn kinesink_delivery::ProgressStore>,
    )
    .with_table_destination(super::TableDestination {
        commits,
        router: routes,
    })
}

/// What `workers` workers did against the catalog while a producer appended to every shard for
/// `feed`: each worker's calls, the run's length, when the workers were told to stop (the drain
/// begins), and the records appended and the rows in the table.
async fn run_workers(
    workers: usize,
    feed: Duration,
) -> (Vec<Vec<Call>>, Duration, Instant, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let source = Arc::new(MemoryShardSource::new());
    for s in 0..SHARDS {
        source.add_shard(
            ShardInfo {
                shard_id: format!("shardId-{s:012}"),
                parent_shard_ids: vec![],
                closed: false,
            },
            vec![],
            vec![],
        );
    }
    let leases = Arc::new(MemoryLeaseTable::new());
    let mut catalogs = Vec::new();
    let mut running = Vec::new();
    let stop = CancellationToken::new();
    for w in 0..workers {
        let catalog = Arc::new(CountingCatalog::new(sqlite_catalog(dir.path()).await));
        let worker = iceberg_worker(&format!("w{w}"), &source, &leases, catalog.clone()).await;
        catalogs.push(catalog);
        running.push(tokio::spawn(
            worker.run(stop.clone(), RunOptions::default()),
        ));
    }
    let started = Instant::now();
    let mut appended = 0;
    let mut seq = 0;
    while started.elapsed() < feed {
        for s in 0..SHARDS {
            source.append_records(&format!("shardId-{s:012}"), vec![record(s, seq)]);
            appended += 1;
        }
        seq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time to read and commit every appended record (on a loaded machine this takes longer
    // than the interval); the stop then commits anything left.
    let deadline = Instant::now() + Duration::from_secs(30);
    while table_rows(dir.path()).await < appended && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stopped_at = Instant::now();
    stop.cancel();
    for worker in running {
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("a worker stops within 30 s")
            .unwrap()
            .unwrap();
    }
    let elapsed = started.elapsed();
    let rows = table_rows(dir.path()).await;
    (
        catalogs.iter().map(|c| c.calls()).collect(),
        elapsed,
        stopped_at,
        appended,
        rows,
    )
}

/// The rows in `analytics.events` of the catalog in `dir` (its current snapshot's
/// `total-records`).
pub(super) async fn table_rows(dir: &std::path::Path) -> u64 {
    let table = sqlite_catalog(dir)
        .await
        .load_table(&TableIdent::new(
            NamespaceIdent::new("analytics".into()),
            "events".into(),
        ))
        .await
        .unwrap();
    table
        .metadata()
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-records"))
        .map_or(0, |n| n.parse().unwrap())
}

/// Checks one worker's calls: at most one commit per interval until `stopped_at` (the stop's
/// drain commits at once, and again while shards still hand in flush points); returns
/// (commits, requests) counted from the first commit on.
///
/// A commit is a round of attempts made by the worker's commit task (one tokio task, whose
/// calls come one after the other). An attempt is the fence's `load_table`, iceberg-rust's own
/// `load_table` (the transaction's refresh) and the `update_table`; one that lost the catalog's
/// swap to another worker is made again at once (the same interval's commit), so a round ends
/// with the attempt that applied. A round starts when its first attempt's fence `load_table`
/// was made, the second-last of the task's loads before the round's first `update_table`:
/// nothing between the task's decision to commit and that call waits, so rounds must start an
/// interval apart. (The catalog's answers would carry the time of reading the table and
/// writing the manifests, which on a loaded machine is most of an interval; other loads of the
/// task, for shards taken, come between rounds.) Every span of rounds is checked, not only
/// neighbours: n + 1 rounds must span n intervals, less [`JITTER_MS`] for the thread being
/// descheduled between a decision and its first call (with four busy loops on two cores, starts
/// came up to 180 ms late; a late start shortens the spans that begin at it by as much, and
/// only those). A second commit within one interval (at the commit task's next tick,
/// 100 ms on) makes a span ~900 ms short; commits every half interval make the spans of three
/// rounds 1 s short.
fn check_commit_spacing(worker: usize, calls: &[Call], stopped_at: Instant) -> (usize, usize) {
    let commit_tasks: Vec<tokio::task::Id> = calls
        .iter()
        .filter(|c| c.method == "update_table")
        .filter_map(|c| c.task)
        .collect();
    let mut rounds: Vec<Instant> = Vec::new();
    let mut in_round = false;
    let mut loads: Vec<Instant> = Vec::new();
    for call in calls
        .iter()
        .filter(|c| c.task.is_some_and(|t| commit_tasks.contains(&t)))
    {
        match call.method {
            "load_table" => loads.push(call.sent),
            "update_table" => {
                if !in_round {
                    let fence_load = loads.len().checked_sub(2).map(|i| loads[i]);
                    rounds.push(fence_load.unwrap_or_else(|| {
                        panic!("worker {worker}: a commit without the fence's and the transaction's loads before it")
                    }));
                }
                in_round = !call.ok;
            }
            _ => {}
        }
    }
    let Some(first) = rounds.first().copied() else {
        return (0, 0);
    };
    let before_stop = &rounds[..rounds.iter().take_while(|r| **r < stopped_at).count()];
    for (i, first_start) in before_stop.iter().enumerate() {
        for (k, later) in before_stop[i + 1..].iter().enumerate() {
            let rounds_between = k as u64 + 1;
            let span = *later - *first_start;
            assert!(
                span + Duration::from_millis(JITTER_MS)
                    >= Duration::from_millis(rounds_between * INTERVAL_MS),
                "worker {worker}: {} commits started within {span:?}, more than one per \
                 {INTERVAL_MS} ms interval ({:?} before the stop)",
                rounds_between + 1,
                stopped_at.saturating_duration_since(*later)
            );
        }
    }
    let requests = calls.iter().filter(|c| c.sent >= first).count();
    (rounds.len(), requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_64_shards_commit_at_most_once_per_interval_and_report_catalog_requests_per_hour()
 {
    let feed = Duration::from_millis(6_500);
    for workers in [1_usize, 4] {
        let (calls, elapsed, stopped_at, appended, rows) = run_workers(workers, feed).await;
        assert_eq!(rows, appended, "every appended record is in the table once");
        assert!(
            calls
                .iter()
                .map(|c| check_commit_spacing(0, c, stopped_at).0)
                .max()
                >= Some(5),
            "a worker committed at every interval: {calls:?}"
        );
        let mut total_requests = 0;
        let mut total_commits = 0;
        for (w, worker_calls) in calls.iter().enumerate() {
            let (commits, requests) = check_commit_spacing(w, worker_calls, stopped_at);
            let intervals = elapsed.as_millis() as usize / INTERVAL_MS as usize;
            assert!(
                commits <= intervals + 1,
                "worker {w}: {commits} commits in {elapsed:?} ({intervals} intervals and the drain)"
            );
            total_requests += requests;
            total_commits += commits;
            let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
            for call in worker_calls {
                *by_method
                    .entry(if call.ok { call.method } else { "failed" })
                    .or_default() += 1;
            }
            eprintln!("{workers} worker(s), worker {w}: {by_method:?}");
        }
        // Requests per interval of steady state, per worker; per hour at this interval and at
        // Firehose's 60 s and 300 s defaults for Iceberg and S3.
        let per_interval =
            total_requests as f64 / workers as f64 / (total_commits as f64 / workers as f64);
        println!(
            "catalog requests: {workers} worker(s), {SHARDS} shards, {INTERVAL_MS} ms interval, \
             {elapsed:?}: {total_commits} commits, {total_requests} requests from the first commit on; \
             {per_interval:.2} requests per worker per interval; per hour per worker: {:.0} at 1 s, \
             {:.0} at 60 s, {:.0} at 300 s; all {workers} worker(s): {:.0} at 60 s",
            per_interval * 3600.0,
            per_interval * 60.0,
            per_interval * 12.0,
            per_interval * 60.0 * workers as f64,
        );
    }
}
