//! The fence's checks against any catalog (REST, SQL on PostgreSQL, Glue): each runs on a fresh
//! empty table and panics naming what failed. Data file entries only (a fast append writes
//! manifests, not data: the Parquet files need not exist).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, NestedField, PrimitiveType, Schema,
    Struct, Type,
};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use kinesink_iceberg_sink::{CommitOutcome, commit_files, load_positions};
use kinesink_sequence_position::SequencePosition;

use super::interloper::BeforeSwap;

const NAME: &str = "events";
const SHARD_A: &str = "shardId-000000000001";
const SHARD_B: &str = "shardId-000000000002";

/// A name no other run used (`<prefix>_<nanoseconds>`).
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos}")
}

/// Creates an empty table `<namespace>.<table>` (and the namespace when missing).
pub(crate) async fn empty_table(catalog: &dyn Catalog, namespace: &str, table: &str) -> TableIdent {
    let namespace = NamespaceIdent::new(namespace.to_owned());
    if !catalog.namespace_exists(&namespace).await.unwrap() {
        catalog
            .create_namespace(&namespace, HashMap::new())
            .await
            .unwrap();
    }
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "event_type", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap();
    let creation = TableCreation::builder()
        .name(table.to_owned())
        .schema(schema)
        .build();
    catalog.create_table(&namespace, creation).await.unwrap();
    TableIdent::new(namespace, table.to_owned())
}

/// `"<seq>/<sub>"` as a position.
pub(crate) fn at(text: &str) -> SequencePosition {
    let (sequence, sub) = text.split_once('/').unwrap();
    SequencePosition::parse(sequence, sub.parse().unwrap()).unwrap()
}

/// A data file entry under the table's `data/`.
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

/// Commits one file for `shard` up to `position` through `catalog`, expecting `expected`.
async fn commit(
    catalog: &dyn Catalog,
    base: &dyn Catalog,
    table: &TableIdent,
    file: &str,
    shard: &str,
    position: &str,
    expected: Option<&str>,
) -> CommitOutcome {
    let loaded = base.load_table(table).await.unwrap();
    commit_files(
        catalog,
        table,
        NAME,
        vec![data_file(&loaded, file)],
        BTreeMap::from([(shard.to_owned(), at(position))]),
        BTreeMap::from([(shard.to_owned(), expected.map(at))]),
    )
    .await
    .unwrap()
}

fn assert_committed(outcome: &CommitOutcome) {
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "expected a commit: {outcome:?}"
    );
}

async fn snapshot_count(catalog: &dyn Catalog, table: &TableIdent) -> usize {
    let loaded = catalog.load_table(table).await.unwrap();
    loaded.metadata().snapshots().count()
}

/// Commits with the current expectation advance the position; a zombie's stale expectation
/// is fenced with nothing committed, and a catalog opened afresh (`reopened`) reads the
/// positions back.
pub(crate) async fn a_stale_expectation_is_fenced(
    catalog: &dyn Catalog,
    table: &TableIdent,
    reopened: &dyn Catalog,
) {
    assert_committed(&commit(catalog, catalog, table, "one", SHARD_A, "10/0", None).await);
    assert_committed(
        &commit(
            catalog,
            catalog,
            table,
            "two",
            SHARD_A,
            "20/0",
            Some("10/0"),
        )
        .await,
    );
    let outcome = commit(
        catalog,
        catalog,
        table,
        "zombie",
        SHARD_A,
        "15/0",
        Some("10/0"),
    )
    .await;
    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("the stale expectation committed: {outcome:?}");
    };
    assert_eq!(refusal.committed[SHARD_A], at("20/0"));
    assert_eq!(refusal.moved_shards, BTreeSet::from([SHARD_A.to_owned()]));
    assert_eq!(
        snapshot_count(catalog, table).await,
        2,
        "nothing more committed"
    );
    assert_eq!(
        load_positions(reopened, table, NAME).await.unwrap(),
        BTreeMap::from([(SHARD_A.to_owned(), at("20/0"))])
    );
}

/// Between our fenced load and our commit, a competitor commits `competitor_shard` at 10/0
/// from the same base; ours moves shard A from nothing to 8/0. Returns our outcome and what
/// the catalog answered to each of our commit requests.
async fn race(
    catalog: &Arc<dyn Catalog>,
    table: &TableIdent,
    competitor_shard: &str,
) -> (CommitOutcome, Vec<Result<(), ErrorKind>>) {
    let competitor = Arc::clone(catalog);
    let (ident, shard) = (table.clone(), competitor_shard.to_owned());
    let interloper = BeforeSwap::new(Arc::clone(catalog), move || {
        let (competitor, ident, shard) = (Arc::clone(&competitor), ident.clone(), shard.clone());
        Box::pin(async move {
            let outcome = commit(
                &*competitor,
                &*competitor,
                &ident,
                "theirs",
                &shard,
                "10/0",
                None,
            )
            .await;
            assert_committed(&outcome);
        })
    });
    let outcome = commit(&interloper, &**catalog, table, "ours", SHARD_A, "8/0", None).await;
    (outcome, interloper.outcomes())
}

/// A real commit conflict with a writer of the same shard: the catalog refuses our commit
/// (its base snapshot moved: `CatalogCommitConflicts`), iceberg-rust retries, and the retry's
/// fenced load refuses: the competitor's position stands, one snapshot.
pub(crate) async fn losing_the_swap_to_a_writer_of_its_shard_conflicts_then_is_fenced(
    catalog: &Arc<dyn Catalog>,
    table: &TableIdent,
) {
    let (outcome, answers) = race(catalog, table, SHARD_A).await;
    assert_eq!(
        answers,
        vec![Err(ErrorKind::CatalogCommitConflicts)],
        "the catalog refused the commit built on the old base, and nothing else was sent"
    );
    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("committed over the competitor: {outcome:?}");
    };
    assert_eq!(refusal.committed[SHARD_A], at("10/0"));
    assert_eq!(
        snapshot_count(&**catalog, table).await,
        1,
        "the competitor's only"
    );
}

/// The same conflict with a writer of another shard: the retry passes the fence on the
/// fresh table and lands on top of the competitor's snapshot.
pub(crate) async fn losing_the_swap_to_a_writer_of_another_shard_conflicts_then_lands(
    catalog: &Arc<dyn Catalog>,
    table: &TableIdent,
) {
    let (outcome, answers) = race(catalog, table, SHARD_B).await;
    assert_eq!(
        answers,
        vec![Err(ErrorKind::CatalogCommitConflicts), Ok(())]
    );
    assert_committed(&outcome);
    assert_eq!(
        load_positions(&**catalog, table, NAME).await.unwrap(),
        BTreeMap::from([
            (SHARD_A.to_owned(), at("8/0")),
            (SHARD_B.to_owned(), at("10/0"))
        ])
    );
    assert_eq!(snapshot_count(&**catalog, table).await, 2);
}

/// Two committers of one shard from the same expectation, at once: exactly one commits, the
/// other is fenced holding the winner's position (three rounds).
pub(crate) async fn of_two_concurrent_committers_of_one_shard_exactly_one_wins(
    catalog: &dyn Catalog,
    table: &TableIdent,
) {
    for round in 0..3 {
        let shard = format!("shardId-race-{round}");
        let before = snapshot_count(catalog, table).await;
        let (file_a, file_b) = (format!("a{round}"), format!("b{round}"));
        let (a, b) = tokio::join!(
            commit(catalog, catalog, table, &file_a, &shard, "1/0", None),
            commit(catalog, catalog, table, &file_b, &shard, "1/0", None),
        );
        let outcomes = [&a, &b];
        let winners = outcomes
            .iter()
            .filter(|o| matches!(o, CommitOutcome::Committed { .. }))
            .count();
        assert_eq!(winners, 1, "round {round}: {a:?} / {b:?}");
        let fenced = outcomes
            .iter()
            .find_map(|o| match o {
                CommitOutcome::Fenced(refusal) => Some(refusal),
                CommitOutcome::Committed { .. } => None,
            })
            .unwrap_or_else(|| panic!("round {round}: no loser was fenced"));
        assert_eq!(fenced.committed[&shard], at("1/0"));
        assert_eq!(
            snapshot_count(catalog, table).await,
            before + 1,
            "round {round}"
        );
    }
}

/// `n` committers of `n` different shards at once, each retrying a commit conflict left after
/// iceberg-rust's own retries as the worker does (reload, fence again, commit): every one
/// lands and none is lost under another's swap (`n` snapshots more, every shard's position in
/// the table). Every failure on the way must be a transient `CatalogCommitConflicts`. Returns
/// how many such conflicts reached the committers.
pub(crate) async fn concurrent_committers_of_different_shards_all_land(
    catalog: &dyn Catalog,
    table: &TableIdent,
    n: usize,
) -> usize {
    use kinesink_iceberg_sink::IcebergErrorClass;
    let before = snapshot_count(catalog, table).await;
    let committer = |i: usize| async move {
        let shard = format!("shardId-many-{i}");
        let mut conflicts = 0;
        loop {
            let loaded = catalog.load_table(table).await.unwrap();
            match commit_files(
                catalog,
                table,
                NAME,
                vec![data_file(&loaded, &format!("many-{i}"))],
                BTreeMap::from([(shard.clone(), at("5/0"))]),
                BTreeMap::from([(shard.clone(), None)]),
            )
            .await
            {
                Ok(CommitOutcome::Committed { .. }) => return conflicts,
                Ok(CommitOutcome::Fenced(refusal)) => {
                    panic!("{shard}: nobody else commits it, yet fenced: {refusal:?}")
                }
                Err(e) => {
                    let kind = e.source.as_ref().map(|s| s.kind());
                    assert_eq!(e.class(), IcebergErrorClass::Transient, "{shard}: {e}");
                    assert_eq!(
                        kind,
                        Some(ErrorKind::CatalogCommitConflicts),
                        "{shard}: {e}"
                    );
                    conflicts += 1;
                }
            }
        }
    };
    let conflicts: usize = futures::future::join_all((0..n).map(committer))
        .await
        .into_iter()
        .sum();
    let positions = load_positions(catalog, table, NAME).await.unwrap();
    let expected: BTreeMap<String, SequencePosition> = (0..n)
        .map(|i| (format!("shardId-many-{i}"), at("5/0")))
        .collect();
    assert_eq!(positions, expected, "every committer's position");
    assert_eq!(
        snapshot_count(catalog, table).await,
        before + n,
        "every committer's snapshot"
    );
    conflicts
}
