//! Fenced commits against a real SQL catalog (SQLite in a temporary directory, `file://`
//! warehouse): the probe's cases of docs/design/iceberg-sink-plan.md §3 as tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, NestedField, PrimitiveType, Schema,
    Struct, Type,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use kinesink_iceberg_sink::{
    CatalogKind, CommitOutcome, FencedCommit, IcebergCatalogSettings, IcebergErrorClass,
    commit_files, load_positions, open_catalog,
};
use kinesink_sequence_position::SequencePosition;

mod common;

use common::interloper::BeforeSwap;

const NAME: &str = "events";
const SHARD_A: &str = "shardId-000000000001";
const SHARD_B: &str = "shardId-000000000002";

/// A catalog with one empty table, in a directory removed on drop.
struct Fixture {
    dir: tempfile::TempDir,
    catalog: Arc<dyn Catalog>,
    table: TableIdent,
}

fn settings(dir: &std::path::Path) -> IcebergCatalogSettings {
    IcebergCatalogSettings {
        kind: CatalogKind::Sql {
            uri: format!("sqlite://{}/catalog.db", dir.display()),
            catalog_name: "default".into(),
            warehouse: format!("file://{}/warehouse", dir.display()),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: String::new(),
        endpoint_url: None,
        region: None,
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("warehouse")).unwrap();
    let catalog = open_catalog(&settings(dir.path())).await.unwrap();
    let namespace = NamespaceIdent::new("analytics".into());
    catalog
        .create_namespace(&namespace, HashMap::new())
        .await
        .unwrap();
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "event_type", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap();
    let creation = TableCreation::builder()
        .name("events".into())
        .schema(schema)
        .build();
    catalog.create_table(&namespace, creation).await.unwrap();
    Fixture {
        dir,
        catalog,
        table: TableIdent::new(namespace, "events".into()),
    }
}

impl Fixture {
    async fn load(&self) -> Table {
        self.catalog.load_table(&self.table).await.unwrap()
    }

    async fn positions(&self) -> BTreeMap<String, SequencePosition> {
        load_positions(&*self.catalog, &self.table, NAME)
            .await
            .unwrap()
    }

    async fn snapshot_count(&self) -> usize {
        self.load().await.metadata().snapshots().count()
    }

    /// Commits one file for `shard` up to `position`, expecting `expected`.
    async fn commit(
        &self,
        file: &str,
        shard: &str,
        position: &str,
        expected: Option<&str>,
    ) -> CommitOutcome {
        let table = self.load().await;
        commit_files(
            &*self.catalog,
            &self.table,
            NAME,
            vec![data_file(&table, file)],
            BTreeMap::from([(shard.to_owned(), at(position))]),
            BTreeMap::from([(shard.to_owned(), expected.map(at))]),
        )
        .await
        .unwrap()
    }
}

/// `"<seq>/<sub>"` as a position.
fn at(text: &str) -> SequencePosition {
    let (sequence, sub) = text.split_once('/').unwrap();
    SequencePosition::parse(sequence, sub.parse().unwrap()).unwrap()
}

/// A data file entry (fast append writes manifests only: the Parquet file need not exist).
fn data_file(table: &Table, name: &str) -> DataFile {
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(format!(
            "{}/data/{name}.parquet",
            table.metadata().location()
        ))
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .partition_spec_id(table.metadata().default_partition_spec_id())
        .record_count(1)
        .file_size_in_bytes(100)
        .build()
        .unwrap()
}

/// A fast append of one file and `shard`'s position, built on `base` (as a writer holding an
/// old `Table` would build it), not yet committed.
fn append_on(base: &Table, file: &str, shard: &str, position: &str) -> Transaction {
    let transaction = Transaction::new(base);
    transaction
        .fast_append()
        .with_check_duplicate(false)
        .add_data_files(vec![data_file(base, file)])
        .set_snapshot_properties(HashMap::from([(
            format!("kinesink.{NAME}.{shard}"),
            position.to_owned(),
        )]))
        .apply(transaction)
        .unwrap()
}

fn committed_snapshot(outcome: &CommitOutcome) -> i64 {
    match outcome {
        CommitOutcome::Committed { snapshot_id, .. } => *snapshot_id,
        CommitOutcome::Fenced(refusal) => panic!("expected a commit, was fenced: {refusal:?}"),
    }
}

#[tokio::test]
async fn a_zombie_with_a_stale_expectation_is_fenced_and_the_position_does_not_regress() {
    let f = fixture().await;
    committed_snapshot(&f.commit("owner", SHARD_A, "10/0", None).await);
    let snapshots = f.snapshot_count().await;

    // The zombie last saw no position for the shard and wants to commit an older one.
    let outcome = f.commit("zombie", SHARD_A, "8/0", None).await;

    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("the zombie committed: {outcome:?}");
    };
    assert_eq!(refusal.committed[SHARD_A], at("10/0"));
    assert_eq!(refusal.moved_shards, BTreeSet::from([SHARD_A.to_owned()]));
    assert_eq!(f.positions().await[SHARD_A], at("10/0"));
    assert_eq!(f.snapshot_count().await, snapshots, "nothing was committed");
}

#[tokio::test]
async fn a_commit_with_the_current_expectation_advances_the_position() {
    let f = fixture().await;
    let first = committed_snapshot(&f.commit("one", SHARD_A, "10/0", None).await);
    let outcome = f.commit("two", SHARD_A, "20/3", Some("10/0")).await;
    let second = committed_snapshot(&outcome);
    assert_ne!(first, second);
    let CommitOutcome::Committed { positions, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(
        positions,
        BTreeMap::from([(SHARD_A.to_owned(), at("20/3"))])
    );
    assert_eq!(
        f.load().await.metadata().current_snapshot_id(),
        Some(second)
    );
}

#[tokio::test]
async fn only_the_shards_whose_position_moved_are_named_in_a_refusal() {
    let f = fixture().await;
    committed_snapshot(&f.commit("a", SHARD_A, "10/0", None).await);
    committed_snapshot(&f.commit("b", SHARD_B, "5/0", None).await);
    let table = f.load().await;
    let outcome = commit_files(
        &*f.catalog,
        &f.table,
        NAME,
        vec![data_file(&table, "both")],
        BTreeMap::from([
            (SHARD_A.to_owned(), at("11/0")),
            (SHARD_B.to_owned(), at("6/0")),
        ]),
        BTreeMap::from([
            (SHARD_A.to_owned(), None),
            (SHARD_B.to_owned(), Some(at("5/0"))),
        ]),
    )
    .await
    .unwrap();
    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("committed despite a moved shard: {outcome:?}");
    };
    assert_eq!(refusal.moved_shards, BTreeSet::from([SHARD_A.to_owned()]));
    assert_eq!(refusal.committed.len(), 2, "all positions the table holds");
}

#[tokio::test]
async fn a_stale_writer_of_an_unrelated_shard_rebases_and_commits() {
    let f = fixture().await;
    let stale_base = f.load().await;
    committed_snapshot(&f.commit("owner", SHARD_A, "10/0", None).await);

    // Built on the table as it was before shard A's commit; fenced on shard B only.
    let writer = append_on(&stale_base, "other", SHARD_B, "7/0");
    let fence = FencedCommit::new(
        &*f.catalog,
        NAME,
        BTreeMap::from([(SHARD_B.to_owned(), None)]),
    );
    writer.commit(&fence).await.unwrap();

    assert_eq!(fence.refusal(), None);
    assert_eq!(
        f.positions().await,
        BTreeMap::from([
            (SHARD_A.to_owned(), at("10/0")),
            (SHARD_B.to_owned(), at("7/0"))
        ]),
        "shard A's commit was kept under the rebased one"
    );
}

/// Pins the reliance of the fence on iceberg-rust 0.10.1: `Transaction::commit` must load the
/// table through the catalog it is given on every attempt. If an iceberg bump commits a
/// transaction on the `Table` it was built from instead, this zombie is no longer fenced.
#[tokio::test]
async fn fence_relies_on_transaction_commit_reloading_the_table_through_load_table() {
    let f = fixture().await;
    let stale_base = f.load().await;
    committed_snapshot(&f.commit("owner", SHARD_A, "10/0", None).await);

    // The zombie's transaction was built on the old table, where shard A had no position.
    let zombie = append_on(&stale_base, "zombie", SHARD_A, "8/0");
    let fence = FencedCommit::new(
        &*f.catalog,
        NAME,
        BTreeMap::from([(SHARD_A.to_owned(), None)]),
    );
    let refused = zombie.commit(&fence).await.unwrap_err();

    assert_eq!(refused.kind(), ErrorKind::PreconditionFailed, "{refused}");
    assert!(!refused.retryable());
    let message = refused.to_string();
    assert!(
        message.contains(SHARD_A) && message.contains("10/0") && message.contains("none"),
        "the refusal names the shard, the committed and the expected position: {message}"
    );
    assert!(fence.loads() >= 1, "commit loaded through the fence");
    assert_eq!(fence.refusal().unwrap().committed[SHARD_A], at("10/0"));
    assert_eq!(f.positions().await[SHARD_A], at("10/0"));
}

/// Why the fence exists, pinned too: iceberg-rust 0.10.1 rebases a stale, unfenced
/// transaction onto the newer table, and the older position wins. If a bump makes this fail
/// (iceberg asserts the transaction's base), the fence's design should be revisited.
#[tokio::test]
async fn fence_is_needed_because_an_unfenced_stale_transaction_rebases_and_regresses_the_position()
{
    let f = fixture().await;
    let stale_base = f.load().await;
    committed_snapshot(&f.commit("owner", SHARD_A, "10/0", None).await);

    let zombie = append_on(&stale_base, "zombie", SHARD_A, "8/0");
    zombie.commit(&*f.catalog).await.unwrap();

    assert_eq!(f.positions().await[SHARD_A], at("8/0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_committers_of_one_shard_exactly_one_wins() {
    let f = fixture().await;
    for round in 0..5 {
        let shard = format!("shardId-race-{round}");
        let before = f.snapshot_count().await;
        let (file_a, file_b) = (format!("a{round}"), format!("b{round}"));
        let (a, b) = tokio::join!(
            f.commit(&file_a, &shard, "1/0", None),
            f.commit(&file_b, &shard, "1/0", None),
        );
        let winners = [&a, &b]
            .iter()
            .filter(|o| matches!(o, CommitOutcome::Committed { .. }))
            .count();
        assert_eq!(winners, 1, "round {round}: {a:?} / {b:?}");
        let loser = if matches!(a, CommitOutcome::Fenced(_)) {
            &a
        } else {
            &b
        };
        let CommitOutcome::Fenced(refusal) = loser else {
            panic!("round {round}: no loser was fenced: {a:?} / {b:?}");
        };
        assert_eq!(refusal.committed[&shard], at("1/0"));
        assert_eq!(f.snapshot_count().await, before + 1, "round {round}");
    }
}

#[tokio::test]
async fn a_properties_only_commit_advances_the_position() {
    let f = fixture().await;
    committed_snapshot(&f.commit("one", SHARD_A, "10/0", None).await);
    let outcome = commit_files(
        &*f.catalog,
        &f.table,
        NAME,
        Vec::new(),
        BTreeMap::from([(SHARD_A.to_owned(), at("12/0"))]),
        BTreeMap::from([(SHARD_A.to_owned(), Some(at("10/0")))]),
    )
    .await
    .unwrap();
    committed_snapshot(&outcome);
    assert_eq!(f.positions().await[SHARD_A], at("12/0"));
    let table = f.load().await;
    let summary = &table
        .metadata()
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    assert_eq!(
        summary
            .get("added-data-files")
            .map(String::as_str)
            .unwrap_or("0"),
        "0",
        "no file was added: {summary:?}"
    );
}

#[tokio::test]
async fn positions_survive_reopening_the_catalog() {
    let f = fixture().await;
    committed_snapshot(&f.commit("a", SHARD_A, "10/2", None).await);
    committed_snapshot(&f.commit("b", SHARD_B, "4/0", None).await);
    committed_snapshot(&f.commit("c", SHARD_A, "11/0", Some("10/2")).await);

    let reopened = open_catalog(&settings(f.dir.path())).await.unwrap();
    let positions = load_positions(&*reopened, &f.table, NAME).await.unwrap();

    assert_eq!(
        positions,
        BTreeMap::from([
            (SHARD_A.to_owned(), at("11/0")),
            (SHARD_B.to_owned(), at("4/0"))
        ]),
        "newest position per shard along main"
    );
    let other = load_positions(&*reopened, &f.table, "other-stream")
        .await
        .unwrap();
    assert!(other.is_empty(), "positions are per name: {other:?}");
}

#[tokio::test]
async fn fifty_six_digit_sequence_numbers_compare_as_numbers() {
    let f = fixture().await;
    let first = "49590338271490256608559692538361571095921575989136588802/0";
    let next = "49590338271490256608559692538361571095921575989136588810/0";
    committed_snapshot(&f.commit("one", SHARD_A, first, None).await);

    // The expectation matches numerically even with leading zeros written.
    let padded = format!("00{first}");
    committed_snapshot(&f.commit("two", SHARD_A, next, Some(&padded)).await);
    assert_eq!(f.positions().await[SHARD_A], at(next));

    // "9" sorts after "4959…" as text but is smaller as a number: it does not advance.
    let table = f.load().await;
    let refused = commit_files(
        &*f.catalog,
        &f.table,
        NAME,
        vec![data_file(&table, "three")],
        BTreeMap::from([(SHARD_A.to_owned(), at("9/0"))]),
        BTreeMap::from([(SHARD_A.to_owned(), Some(at(next)))]),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.class(), IcebergErrorClass::Permanent, "{refused}");
    assert_eq!(f.positions().await[SHARD_A], at(next));
}

#[tokio::test]
async fn a_commit_to_a_missing_table_is_a_permanent_error() {
    let f = fixture().await;
    let table = f.load().await;
    let missing = TableIdent::new(NamespaceIdent::new("analytics".into()), "nope".into());
    let error = commit_files(
        &*f.catalog,
        &missing,
        NAME,
        vec![data_file(&table, "x")],
        BTreeMap::from([(SHARD_A.to_owned(), at("1/0"))]),
        BTreeMap::from([(SHARD_A.to_owned(), None)]),
    )
    .await
    .unwrap_err();
    assert_eq!(error.class(), IcebergErrorClass::Permanent, "{error}");
    assert_eq!(
        error.source.as_ref().unwrap().kind(),
        ErrorKind::TableNotFound
    );
}

#[tokio::test]
async fn opening_a_sqlite_catalog_creates_its_file() {
    let dir = tempfile::tempdir().unwrap();
    open_catalog(&settings(dir.path())).await.unwrap();
    assert!(dir.path().join("catalog.db").is_file());
}

/// A catalog that, once, lets a competing writer commit `shard` at `position` just before it
/// forwards a commit: between the fence's check (in `load_table`) and the catalog's swap.
fn competitor_before_swap(f: &Fixture, shard: &str, position: &str) -> BeforeSwap {
    let inner = Arc::clone(&f.catalog);
    let (table, shard, position) = (f.table.clone(), shard.to_owned(), position.to_owned());
    BeforeSwap::new(Arc::clone(&f.catalog), move || {
        let (inner, table) = (Arc::clone(&inner), table.clone());
        let (shard, position) = (shard.clone(), position.clone());
        Box::pin(async move {
            let loaded = inner.load_table(&table).await.unwrap();
            let outcome = commit_files(
                &*inner,
                &table,
                NAME,
                vec![data_file(&loaded, "competitor")],
                BTreeMap::from([(shard.clone(), at(&position))]),
                BTreeMap::from([(shard, None)]),
            )
            .await
            .unwrap();
            committed_snapshot(&outcome);
        })
    })
}

/// Commits the file `ours` moving shard A from nothing to `8/0` through `catalog`.
async fn commit_ours_at_a_8(f: &Fixture, catalog: &BeforeSwap) -> CommitOutcome {
    let table = f.load().await;
    commit_files(
        catalog,
        &f.table,
        NAME,
        vec![data_file(&table, "ours")],
        BTreeMap::from([(SHARD_A.to_owned(), at("8/0"))]),
        BTreeMap::from([(SHARD_A.to_owned(), None)]),
    )
    .await
    .unwrap()
}

/// The fence is atomic with the catalog's swap: a commit that passed the check, then lost the
/// swap to a writer of the same shard, is checked again on iceberg-rust's retry and refused.
#[tokio::test]
async fn a_commit_that_loses_the_swap_to_a_writer_of_its_shard_is_fenced_on_the_retry() {
    let f = fixture().await;
    let catalog = competitor_before_swap(&f, SHARD_A, "10/0");
    let outcome = commit_ours_at_a_8(&f, &catalog).await;

    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("committed over the competitor: {outcome:?}");
    };
    assert_eq!(refusal.committed[SHARD_A], at("10/0"));
    assert_eq!(f.positions().await[SHARD_A], at("10/0"));
    assert_eq!(
        f.snapshot_count().await,
        1,
        "only the competitor's snapshot"
    );
}

/// The same interleaving for a writer of another shard: the lost swap is an ordinary
/// conflict, retried by iceberg-rust on the fresh table, and both commits land.
#[tokio::test]
async fn a_commit_that_loses_the_swap_to_a_writer_of_another_shard_is_retried_and_lands() {
    let f = fixture().await;
    let catalog = competitor_before_swap(&f, SHARD_B, "3/0");
    let outcome = commit_ours_at_a_8(&f, &catalog).await;

    committed_snapshot(&outcome);
    assert_eq!(
        f.positions().await,
        BTreeMap::from([
            (SHARD_A.to_owned(), at("8/0")),
            (SHARD_B.to_owned(), at("3/0"))
        ])
    );
    assert_eq!(f.snapshot_count().await, 2);
}
