//! `catalog = "glue"` against the stand-ins: moto's Glue as the catalog and moto's S3 as the
//! warehouse (`scripts/local-aws up`, environment from `scripts/local-aws env`; one endpoint,
//! `AWS_ENDPOINT_URL_GLUE`, for both, as `endpoint_url` gives it).
//!
//! Proven here: the table (and its namespace) is created through iceberg-rust's Glue catalog
//! under the warehouse, data files written through the table's FileIO are committed by fenced
//! commits, the positions and the rows read back through a reopened catalog, a stale
//! expectation is refused (`Fenced`) with nothing committed, and a commit that loses the swap
//! to a writer of its shard is fenced on iceberg-rust's retry.
//!
//! The swap is a compare-and-swap: moto's Glue (5.2.5) ignores `VersionId` in `UpdateTable` by
//! itself, and scripts/moto_server.py (which scripts/local-aws starts moto through) makes it
//! refuse a stale one with `ConcurrentModificationException`, as real Glue does (the last
//! test pins the stand-in's answer). Against it: an `UpdateTable` at a version a competitor
//! moved (between iceberg-rust's load in `update_table` and the swap) is refused, a retryable
//! `CatalogCommitConflicts` retried from a reload through the fence; of two concurrent
//! committers of one shard exactly one wins; concurrent committers of different shards all
//! land (none lost under another's swap), every conflict left to them a transient
//! `CatalogCommitConflicts`.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use iceberg::spec::{DataFile, Literal, Struct};
use iceberg::{Catalog, ErrorKind};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, TableTarget, open_table};
use kinesink_iceberg_sink::{
    CatalogKind, CommitOutcome, IcebergCatalogSettings, commit_files, file_stats_of_parquet,
    load_positions, open_catalog,
};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};
use kinesink_sequence_position::SequencePosition;

use common::catalog_checks::{self, empty_table};
use common::interloper::BeforeSwap;
use common::update_table_relay;

const BUCKET: &str = "kinesink-glue-it";
const NAME: &str = "events";
const SHARD_A: &str = "shardId-000000000001";
const SHARD_B: &str = "shardId-000000000002";

/// The stand-ins' endpoint for Glue (and S3: moto serves both on one port).
fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_GLUE")
        .expect("AWS_ENDPOINT_URL_GLUE: run `eval \"$(scripts/local-aws env)\"`")
}

/// A Glue database name no other run used.
fn unique_database(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos}")
}

async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The warehouse bucket in moto's S3 (created once, kept).
async fn warehouse_bucket() {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config().await)
            .endpoint_url(endpoint())
            .force_path_style(true)
            .build(),
    );
    if s3.head_bucket().bucket(BUCKET).send().await.is_err() {
        // Another test may create it meanwhile: only its existence afterwards matters.
        let _ = s3.create_bucket().bucket(BUCKET).send().await;
    }
    s3.head_bucket().bucket(BUCKET).send().await.unwrap();
}

fn settings(database: &str) -> IcebergCatalogSettings {
    IcebergCatalogSettings {
        kind: CatalogKind::Glue {
            warehouse: format!("s3://{BUCKET}/warehouse"),
        },
        database: database.to_owned(),
        table: "events".into(),
        create_tables: true,
        partition_spec: "event_type".into(),
        endpoint_url: Some(endpoint()),
        region: std::env::var("AWS_REGION").ok(),
    }
}

fn configured_schema() -> TableSchema {
    TableSchema::parse_hive("event_id string, event_type string, n bigint").unwrap()
}

/// Opens (creating it the first time) `<database>.events`, partitioned by `event_type`.
async fn target(catalog: &dyn Catalog, database: &str) -> TableTarget {
    let schema = configured_schema();
    let creation = TableCreationSettings {
        create_tables: true,
        schema: Some(&schema),
        partition_spec: "event_type",
    };
    open_table(
        catalog,
        database,
        "events",
        &creation,
        &SerdeOptions::default(),
    )
    .await
    .unwrap()
}

/// A Parquet file of events `ids` of type `kind`, written to the table's `data/` in moto's S3
/// through the table's FileIO; its entry with statistics from its footer.
async fn write_file(target: &TableTarget, kind: &str, ids: std::ops::Range<u32>) -> DataFile {
    let mut encoder = ParquetObjectEncoder::new(
        Arc::clone(&target.schema),
        Arc::new(SerdeOptions::default()),
        ParquetOptions::default(),
    )
    .unwrap();
    for id in ids.clone() {
        let record = format!(r#"{{"event_id":"e{id}","event_type":"{kind}","n":{id}}}"#);
        encoder.append_bytes(record.as_bytes()).unwrap();
    }
    let bytes = encoder.finish().unwrap();
    let path = format!(
        "{}/data/event_type={kind}/{kind}-{}.parquet",
        target.location(),
        ids.start
    );
    target
        .table
        .file_io()
        .new_output(&path)
        .unwrap()
        .write(bytes.clone().into())
        .await
        .unwrap();
    let metadata = target.table.metadata();
    file_stats_of_parquet(&bytes, metadata.current_schema())
        .unwrap()
        .into_data_file(
            path,
            Struct::from_iter([Some(Literal::string(kind))]),
            target.spec_id,
        )
        .unwrap()
}

/// `"<seq>/<sub>"` as a position.
fn at(text: &str) -> SequencePosition {
    let (sequence, sub) = text.split_once('/').unwrap();
    SequencePosition::parse(sequence, sub.parse().unwrap()).unwrap()
}

/// Commits `files` moving `shard` to `position`, expecting `expected`.
async fn commit(
    catalog: &dyn Catalog,
    target: &TableTarget,
    files: Vec<DataFile>,
    shard: &str,
    position: &str,
    expected: Option<&str>,
) -> CommitOutcome {
    commit_files(
        catalog,
        &target.ident,
        NAME,
        files,
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

/// The event ids a scan of the table reads, with their counts.
async fn event_ids(catalog: &dyn Catalog, target: &TableTarget) -> BTreeMap<String, usize> {
    use arrow_array_58::{Array, StringArray};
    let table = catalog.load_table(&target.ident).await.unwrap();
    let batches: Vec<_> = table
        .scan()
        .select(["event_id"])
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut ids = BTreeMap::new();
    for batch in batches {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..column.len() {
            *ids.entry(column.value(i).to_owned()).or_default() += 1;
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_glue_table_is_created_committed_read_back_and_a_stale_expectation_is_fenced() {
    warehouse_bucket().await;
    let database = unique_database("glue_it");
    let settings = settings(&database);
    let catalog = open_catalog(&settings).await.unwrap();

    let created = target(&*catalog, &database).await;
    assert_eq!(
        created.location(),
        format!("s3://{BUCKET}/warehouse/{database}.db/events"),
        "created under the warehouse"
    );
    let reopened = target(&*catalog, &database).await;
    assert_eq!(
        reopened.table.metadata().uuid(),
        created.table.metadata().uuid(),
        "opening again loads the same table"
    );

    let clicks = write_file(&created, "click", 0..40).await;
    assert_committed(&commit(&*catalog, &created, vec![clicks], SHARD_A, "10/0", None).await);
    let views = write_file(&created, "view", 40..100).await;
    let outcome = commit(
        &*catalog,
        &created,
        vec![views],
        SHARD_A,
        "20/0",
        Some("10/0"),
    )
    .await;
    assert_committed(&outcome);

    // A zombie that last saw 10/0 is refused, and nothing is committed.
    let zombie = write_file(&created, "view", 100..110).await;
    let outcome = commit(
        &*catalog,
        &created,
        vec![zombie],
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

    // Read back through a catalog opened afresh: the positions, two snapshots, every row once.
    let fresh = open_catalog(&settings).await.unwrap();
    assert_eq!(
        load_positions(&*fresh, &created.ident, NAME).await.unwrap(),
        BTreeMap::from([(SHARD_A.to_owned(), at("20/0"))])
    );
    let table = fresh.load_table(&created.ident).await.unwrap();
    assert_eq!(table.metadata().snapshots().count(), 2);
    let ids = event_ids(&*fresh, &created).await;
    let expected: BTreeMap<String, usize> = (0..100).map(|i| (format!("e{i}"), 1)).collect();
    assert_eq!(
        ids, expected,
        "events 0..100 once each, none of the zombie's"
    );
}

/// The fence is checked again on iceberg-rust's retry: a competitor commits the same shard
/// after our fenced load and before our `UpdateTable`. iceberg-rust's Glue catalog reloads
/// the table in `update_table` and finds the snapshot requirement broken (a retryable
/// conflict); the retry reloads through the fence, which refuses. This interleaving needs no
/// `VersionId` check, so moto shows it too.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_loses_the_race_to_a_writer_of_its_shard_is_fenced_on_the_retry() {
    warehouse_bucket().await;
    let database = unique_database("glue_it_race");
    let catalog = open_catalog(&settings(&database)).await.unwrap();
    let created = target(&*catalog, &database).await;
    let theirs = write_file(&created, "click", 0..10).await;
    let ours = write_file(&created, "click", 10..20).await;

    let competitor = Arc::clone(&catalog);
    let ident = created.ident.clone();
    let interloper = BeforeSwap::new(Arc::clone(&catalog), move || {
        let (competitor, ident, theirs) = (competitor.clone(), ident.clone(), theirs.clone());
        Box::pin(async move {
            let outcome = commit_files(
                &*competitor,
                &ident,
                NAME,
                vec![theirs],
                BTreeMap::from([(SHARD_A.to_owned(), at("10/0"))]),
                BTreeMap::from([(SHARD_A.to_owned(), None)]),
            )
            .await
            .unwrap();
            assert_committed(&outcome);
        })
    });
    let outcome = commit(&interloper, &created, vec![ours], SHARD_A, "8/0", None).await;

    let CommitOutcome::Fenced(refusal) = outcome else {
        panic!("committed over the competitor: {outcome:?}");
    };
    assert_eq!(refusal.committed[SHARD_A], at("10/0"));
    let table = catalog.load_table(&created.ident).await.unwrap();
    assert_eq!(
        table.metadata().snapshots().count(),
        1,
        "the competitor's only"
    );

    // A writer of another shard in the same interleaving is retried and lands.
    let competitor = Arc::clone(&catalog);
    let ident = created.ident.clone();
    let more = write_file(&created, "view", 20..30).await;
    let interloper = BeforeSwap::new(Arc::clone(&catalog), move || {
        let (competitor, ident) = (competitor.clone(), ident.clone());
        Box::pin(async move {
            let outcome = commit_files(
                &*competitor,
                &ident,
                NAME,
                Vec::new(),
                BTreeMap::from([(SHARD_A.to_owned(), at("11/0"))]),
                BTreeMap::from([(SHARD_A.to_owned(), Some(at("10/0")))]),
            )
            .await
            .unwrap();
            assert_committed(&outcome);
        })
    });
    let outcome = commit(&interloper, &created, vec![more], SHARD_B, "3/0", None).await;
    assert_committed(&outcome);
    assert_eq!(
        load_positions(&*catalog, &created.ident, NAME)
            .await
            .unwrap(),
        BTreeMap::from([
            (SHARD_A.to_owned(), at("11/0")),
            (SHARD_B.to_owned(), at("3/0"))
        ])
    );
}

/// The window only the `VersionId` check closes: a competitor commits after iceberg-rust's
/// Glue catalog loaded the table in `update_table` (the fence had passed, and so does the
/// commit's snapshot requirement) and before its `UpdateTable`, which carries the version that
/// load saw. Glue refuses it (`ConcurrentModificationException`), iceberg-rust reads that as a
/// retryable `CatalogCommitConflicts` (transient for kinesink), reloads through the fence and
/// retries: a commit of the competitor's shard is then fenced, one of another shard lands on
/// top of the competitor's snapshot. Without the check ours would overwrite theirs.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_table_at_a_version_a_competitor_moved_conflicts_then_is_fenced_or_lands() {
    warehouse_bucket().await;
    for (competitor_shard, ours_lands) in [(SHARD_A, false), (SHARD_B, true)] {
        let database = unique_database("glue_it_version_race");
        let direct = open_catalog(&settings(&database)).await.unwrap();
        let created = target(&*direct, &database).await;
        let theirs = write_file(&created, "click", 0..10).await;
        let ours = write_file(&created, "click", 10..20).await;
        let (competitor, ident) = (Arc::clone(&direct), created.ident.clone());
        let upstream = endpoint().trim_start_matches("http://").to_owned();
        let relay = update_table_relay::start(upstream, move || {
            let (competitor, ident, theirs) = (competitor.clone(), ident.clone(), theirs.clone());
            Box::pin(async move {
                let outcome = commit_files(
                    &*competitor,
                    &ident,
                    NAME,
                    vec![theirs],
                    BTreeMap::from([(competitor_shard.to_owned(), at("10/0"))]),
                    BTreeMap::from([(competitor_shard.to_owned(), None)]),
                )
                .await
                .unwrap();
                assert_committed(&outcome);
            })
        })
        .await;
        let mut relayed = settings(&database);
        relayed.endpoint_url = Some(relay);
        let answers = BeforeSwap::new(open_catalog(&relayed).await.unwrap(), || Box::pin(async {}));

        let outcome = commit(&answers, &created, vec![ours], SHARD_A, "8/0", None).await;

        let snapshots = direct
            .load_table(&created.ident)
            .await
            .unwrap()
            .metadata()
            .snapshots()
            .count();
        let positions = load_positions(&*direct, &created.ident, NAME)
            .await
            .unwrap();
        if ours_lands {
            assert_eq!(
                answers.outcomes(),
                vec![Err(ErrorKind::CatalogCommitConflicts), Ok(())],
                "refused at the stale version, then retried from a reload"
            );
            assert_committed(&outcome);
            assert_eq!(snapshots, 2, "theirs, then ours on top");
            assert_eq!(
                positions,
                BTreeMap::from([
                    (SHARD_A.to_owned(), at("8/0")),
                    (SHARD_B.to_owned(), at("10/0"))
                ])
            );
        } else {
            assert_eq!(
                answers.outcomes(),
                vec![Err(ErrorKind::CatalogCommitConflicts)],
                "refused at the stale version; the retry's reload is fenced"
            );
            let CommitOutcome::Fenced(refusal) = outcome else {
                panic!("committed over the competitor: {outcome:?}");
            };
            assert_eq!(refusal.committed[SHARD_A], at("10/0"));
            assert_eq!(snapshots, 1, "the competitor's only");
            assert_eq!(
                positions,
                BTreeMap::from([(SHARD_A.to_owned(), at("10/0"))])
            );
        }
    }
}

/// Racing committers through iceberg-rust's Glue catalog: the swaps are atomic (see the module
/// docs; without the `VersionId` check both racers of one shard land, and committers of
/// different shards lose each other's snapshots).
#[tokio::test(flavor = "multi_thread")]
async fn racing_glue_commits_have_one_winner_per_shard_and_lose_no_other_shard() {
    warehouse_bucket().await;
    let database = unique_database("glue_it_racers");
    let catalog = open_catalog(&settings(&database)).await.unwrap();
    let table = empty_table(&*catalog, &database, "one_shard").await;
    catalog_checks::of_two_concurrent_committers_of_one_shard_exactly_one_wins(&*catalog, &table)
        .await;
    let table = empty_table(&*catalog, &database, "many_shards").await;
    let conflicts =
        catalog_checks::concurrent_committers_of_different_shards_all_land(&*catalog, &table, 6)
            .await;
    eprintln!(
        "6 racing committers of 6 shards: {conflicts} conflicts left after iceberg-rust's retries"
    );
}

/// Pins the stand-in's `UpdateTable` as scripts/moto_server.py makes it, real Glue's answer:
/// an update carrying a `VersionId` that is no longer the table's is refused with the modelled
/// `ConcurrentModificationException` (the error iceberg-rust's Glue catalog turns into a
/// retryable `CatalogCommitConflicts`) and changes nothing; one with the current version lands.
#[tokio::test(flavor = "multi_thread")]
async fn moto_glue_update_table_refuses_a_stale_version_id() {
    use aws_sdk_glue::operation::update_table::UpdateTableError;
    use aws_sdk_glue::types::{DatabaseInput, TableInput};
    let glue = aws_sdk_glue::Client::from_conf(
        aws_sdk_glue::config::Builder::from(&sdk_config().await)
            .endpoint_url(endpoint())
            .build(),
    );
    let database = unique_database("glue_it_version");
    glue.create_database()
        .database_input(DatabaseInput::builder().name(&database).build().unwrap())
        .send()
        .await
        .unwrap();
    let input = |value: &str| {
        TableInput::builder()
            .name("t")
            .set_parameters(Some(HashMap::from([(
                "metadata_location".to_owned(),
                value.to_owned(),
            )])))
            .build()
            .unwrap()
    };
    glue.create_table()
        .database_name(&database)
        .table_input(input("v0"))
        .send()
        .await
        .unwrap();
    let version = |output: aws_sdk_glue::operation::get_table::GetTableOutput| {
        let table = output.table.unwrap();
        (
            table.version_id.unwrap(),
            table.parameters.unwrap()["metadata_location"].clone(),
        )
    };
    let get = || glue.get_table().database_name(&database).name("t").send();
    let update = |version_id: String, value: &'static str| {
        glue.update_table()
            .database_name(&database)
            .version_id(version_id)
            .table_input(input(value))
            .send()
    };
    let (base, _) = version(get().await.unwrap());

    update(base.clone(), "v1")
        .await
        .expect("the update at the current version lands");
    let (current, location) = version(get().await.unwrap());
    assert_ne!(current, base, "an update moves the version");
    assert_eq!(location, "v1");

    let stale = update(base.clone(), "v2").await;
    let error = stale.expect_err("the update at a stale version landed");
    let status = error.raw_response().map(|r| r.status().as_u16());
    assert!(
        matches!(
            error.into_service_error(),
            UpdateTableError::ConcurrentModificationException(_)
        ),
        "refused as real Glue refuses"
    );
    assert_eq!(status, Some(400));
    assert_eq!(
        version(get().await.unwrap()),
        (current.clone(), "v1".to_owned()),
        "the refused update changed nothing"
    );

    update(current, "v3")
        .await
        .expect("the update at the new current version lands");
    assert_eq!(version(get().await.unwrap()).1, "v3");
}
