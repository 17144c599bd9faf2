//! `catalog = "s3tables"` against the stand-ins: moto's S3 Tables as the catalog (a table
//! bucket per test) and moto's S3 for each table's own warehouse location
//! (`scripts/local-aws up`, which starts moto through `scripts/moto_server.py`; environment from
//! `scripts/local-aws env`: `AWS_ENDPOINT_URL_S3TABLES`, one endpoint for S3 Tables and S3, as
//! `endpoint_url` gives it).
//!
//! Proven here: a namespace and a table are created through iceberg-rust's S3 Tables catalog,
//! data files written through the table's FileIO are committed by fenced commits, the
//! positions and the rows read back through a reopened catalog, a stale expectation is refused
//! (`Fenced`) with nothing committed, a commit that loses the race to a writer of its shard is
//! fenced on iceberg-rust's retry, and the stand-in refuses a metadata swap with a stale
//! `versionToken` (the compare-and-swap the fence is atomic with; real S3 Tables does the same).
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use iceberg::Catalog;
use iceberg::spec::{DataFile, Literal, Struct};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, TableTarget, open_table};
use kinesink_iceberg_sink::{
    CatalogKind, CommitOutcome, IcebergCatalogSettings, commit_files, file_stats_of_parquet,
    load_positions, open_catalog,
};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};
use kinesink_sequence_position::SequencePosition;

use common::interloper::BeforeSwap;

const NAME: &str = "events";
const SHARD_A: &str = "shardId-000000000001";
const SHARD_B: &str = "shardId-000000000002";

/// The stand-ins' endpoint for S3 Tables (and S3: moto serves both on one port).
fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_S3TABLES")
        .expect("AWS_ENDPOINT_URL_S3TABLES: run `eval \"$(scripts/local-aws env)\"`")
}

async fn s3tables() -> aws_sdk_s3tables::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_s3tables::Client::from_conf(
        aws_sdk_s3tables::config::Builder::from(&config)
            .endpoint_url(endpoint())
            .build(),
    )
}

/// A new table bucket no other run used; its ARN.
async fn table_bucket(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("{prefix}-{nanos}");
    s3tables()
        .await
        .create_table_bucket()
        .name(name)
        .send()
        .await
        .unwrap()
        .arn
}

fn settings(table_bucket_arn: &str) -> IcebergCatalogSettings {
    IcebergCatalogSettings {
        kind: CatalogKind::S3Tables {
            table_bucket_arn: table_bucket_arn.to_owned(),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: "event_type".into(),
        endpoint_url: Some(endpoint()),
        region: std::env::var("AWS_REGION").ok(),
    }
}

/// Opens (creating it the first time) `analytics.events`, partitioned by `event_type`.
async fn target(catalog: &dyn Catalog) -> TableTarget {
    let schema = TableSchema::parse_hive("event_id string, event_type string, n bigint").unwrap();
    let creation = TableCreationSettings {
        create_tables: true,
        schema: Some(&schema),
        partition_spec: "event_type",
    };
    open_table(
        catalog,
        "analytics",
        "events",
        &creation,
        &SerdeOptions::default(),
    )
    .await
    .unwrap()
}

/// A Parquet file of events `ids` of type `kind`, written to the table's `data/` through the
/// table's FileIO; its entry with statistics from its footer.
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
async fn an_s3_table_is_created_committed_read_back_and_a_stale_expectation_is_fenced() {
    let arn = table_bucket("kinesink-it").await;
    let settings = settings(&arn);
    let catalog = open_catalog(&settings).await.unwrap();

    let created = target(&*catalog).await;
    assert!(
        created.location().starts_with("s3://"),
        "the table lives where S3 Tables put it: {}",
        created.location()
    );
    let reopened = target(&*catalog).await;
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
/// after our fenced load and before our swap; the retry reloads through the fence, which
/// refuses. A writer of another shard in the same interleaving is retried and lands.
#[tokio::test(flavor = "multi_thread")]
async fn an_s3_tables_commit_that_loses_the_race_to_a_writer_of_its_shard_is_fenced_on_the_retry() {
    let arn = table_bucket("kinesink-it-race").await;
    let catalog = open_catalog(&settings(&arn)).await.unwrap();
    let created = target(&*catalog).await;
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

/// The compare-and-swap the fence is atomic with: a metadata swap carrying a `versionToken`
/// that is no longer current is refused (real S3 Tables answers `ConflictException`), so of
/// two committers built on the same load only the first lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_metadata_swap_with_a_stale_version_token_is_refused() {
    let arn = table_bucket("kinesink-it-cas").await;
    let catalog = open_catalog(&settings(&arn)).await.unwrap();
    let created = target(&*catalog).await;
    let client = s3tables().await;
    let get = || {
        client
            .get_table_metadata_location()
            .table_bucket_arn(&arn)
            .namespace("analytics")
            .name("events")
            .send()
    };
    let base = get().await.unwrap();
    let location = base.metadata_location.clone().unwrap();
    let swap = |token: String| {
        client
            .update_table_metadata_location()
            .table_bucket_arn(&arn)
            .namespace("analytics")
            .name("events")
            .version_token(token)
            .metadata_location(location.clone())
            .send()
    };
    let first = swap(base.version_token.clone()).await;
    assert!(first.is_ok(), "the first swap on the base: {first:?}");
    let second = swap(base.version_token.clone()).await;
    assert!(
        second.is_err(),
        "a second swap with the same (now stale) token landed"
    );
    assert_ne!(get().await.unwrap().version_token, base.version_token);
    drop(created);
}
