//! A commit error only an operator can fix (issue 19: "a permanent commit error stops the
//! worker"): the whole worker in-process over the memory services, delivering into a table of
//! a SQL catalog on SQLite, whose table is dropped while the worker runs.

use super::table_commit_rate_tests::{
    CountingCatalog, iceberg_worker, record, sqlite_catalog, table_rows,
};
use super::*;
use iceberg::{NamespaceIdent, TableIdent};
use kinesink_lease_coordination::{Checkpoint, MemoryLeaseTable};
use kinesink_sequence_position::SequencePosition;
use kinesink_shard_reader::{MemoryShardSource, ShardInfo};
use std::time::Instant;

const SHARDS: u64 = 2;

fn shard(s: u64) -> String {
    format!("shardId-{s:012}")
}

/// A stream of [`SHARDS`] open shards holding ten records each.
fn ten_records_per_shard() -> Arc<MemoryShardSource> {
    let source = Arc::new(MemoryShardSource::new());
    for s in 0..SHARDS {
        source.add_shard(
            ShardInfo {
                shard_id: shard(s),
                parent_shard_ids: vec![],
                closed: false,
            },
            (0..10).map(|seq| record(s, seq)).collect(),
            vec![],
        );
    }
    source
}

/// Waits (up to 30 s, or until the worker ends) until the table holds the ten records of every
/// shard and each lease is checkpointed at its tenth; returns those checkpoints, by shard id.
async fn wait_until_ten_committed(
    dir: &std::path::Path,
    leases: &MemoryLeaseTable,
    running: &tokio::task::JoinHandle<Result<RunSummary, RunFailure>>,
) -> Vec<(String, Checkpoint)> {
    let committed: Vec<(String, Checkpoint)> =
        (0..SHARDS).map(|s| (shard(s), at_record(9))).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (table_rows(dir).await < 10 * SHARDS || checkpoints(leases).await != committed)
        && Instant::now() < deadline
        && !running.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    committed
}

/// Each shard's lease checkpoint, by shard id.
async fn checkpoints(leases: &MemoryLeaseTable) -> Vec<(String, Checkpoint)> {
    let mut rows: Vec<(String, Checkpoint)> = leases
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.shard_id, l.checkpoint))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// The checkpoint of a shard whose last delivered record has sequence number `seq` (as
/// [`record`] numbers them).
fn at_record(seq: u64) -> Checkpoint {
    Checkpoint::Sequence(SequencePosition::new((1_000_000 + seq).to_string(), 0))
}

/// A table dropped under a running worker: loading it for the next commit fails with
/// `TableNotFound`, which waiting cannot fix. The worker stops with an error naming the table,
/// and no checkpoint moves past the records the dropped table held: the records read after the
/// drop were never acknowledged, so a restarted worker reads them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_dropped_while_the_worker_runs_stops_it_with_the_tables_name_and_no_checkpoint_moves()
 {
    let dir = tempfile::tempdir().unwrap();
    let source = ten_records_per_shard();
    let leases = Arc::new(MemoryLeaseTable::new());
    let catalog = Arc::new(CountingCatalog::new(sqlite_catalog(dir.path()).await));
    let worker = iceberg_worker("w0", &source, &leases, catalog).await;
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone(), RunOptions::default()));

    // The first ten records of each shard are committed, and checkpointed.
    let committed = wait_until_ten_committed(dir.path(), &leases, &running).await;
    assert_eq!(table_rows(dir.path()).await, 10 * SHARDS);
    assert_eq!(
        checkpoints(&leases).await,
        committed,
        "each shard checkpointed at its tenth record once the table held it"
    );

    // An operator drops the table; the worker reads ten more records of each shard.
    let ident = TableIdent::new(NamespaceIdent::new("analytics".into()), "events".into());
    sqlite_catalog(dir.path())
        .await
        .drop_table(&ident)
        .await
        .unwrap();
    for s in 0..SHARDS {
        source.append_records(&shard(s), (10..20).map(|seq| record(s, seq)).collect());
    }

    let failure = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops by itself within 30 s of a commit it cannot make")
        .unwrap()
        .expect_err("the worker ends in failure");
    stop.cancel();
    let message = failure.to_string();
    eprintln!("the worker stopped: {message}");
    assert!(
        message.contains("analytics.events"),
        "the failure names the table: {message}"
    );
    assert!(
        message.contains("TableNotFound") || message.contains("No such table"),
        "the failure says the table is missing: {message}"
    );
    assert_eq!(
        checkpoints(&leases).await,
        committed,
        "no checkpoint moved past what the dropped table held"
    );
}

/// A metadata read that fails once as a shard is taken (an S3 503 the chaos test injects; found
/// by CI) is retried within `destination.retry_duration_s`: the worker keeps running and
/// delivers every record, checkpointed once the table holds it, instead of stopping with
/// "reading the table's position".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_position_read_failing_transiently_when_a_shard_is_taken_is_retried_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let source = ten_records_per_shard();
    let leases = Arc::new(MemoryLeaseTable::new());
    let catalog = Arc::new(CountingCatalog::new(sqlite_catalog(dir.path()).await));
    let worker = iceberg_worker("w0", &source, &leases, catalog.clone()).await;
    // Every shard's first position read fails (nothing else loads the table before the
    // shards are taken: no shard has files to commit yet).
    let injected = u32::try_from(SHARDS).unwrap();
    catalog.fail_next_loads(injected);
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone(), RunOptions::default()));

    let committed = wait_until_ten_committed(dir.path(), &leases, &running).await;
    assert!(
        !running.is_finished(),
        "the worker is still running after a transient position read failure: {:?}",
        running.await
    );
    assert_eq!(
        catalog.failed_loads(),
        SHARDS as usize,
        "the injected failures were met"
    );
    assert_eq!(
        table_rows(dir.path()).await,
        10 * SHARDS,
        "every record is in the table"
    );
    assert_eq!(
        checkpoints(&leases).await,
        committed,
        "each shard checkpointed at its tenth record once the table held it"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops when told")
        .unwrap()
        .expect("and stops cleanly");
}
