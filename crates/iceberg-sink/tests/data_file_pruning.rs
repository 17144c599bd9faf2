//! Parquet files written by kinesink's writer with Iceberg field ids, committed with their
//! statistics to a real SQL catalog (SQLite, `file://` warehouse), then read with iceberg-rust's
//! own scan: every row comes back, and the bounds prune exactly the files they exclude (a
//! wrong bound is a silent loss of rows at query time, so it is proven with a reader).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::TryStreamExt;
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{Datum, NestedField, PrimitiveType, Schema, Struct, Type};
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use kinesink_iceberg_sink::{CommitOutcome, commit_files, file_stats_of_parquet};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};
use kinesink_sequence_position::SequencePosition;

mod common;

use common::sqlite_catalog::{SqliteCatalog, sqlite_catalog};

const SHARD: &str = "shardId-000000000001";

/// A catalog with one unpartitioned `analytics.events` table, in a directory removed on drop.
struct Fixture {
    _dir: tempfile::TempDir,
    catalog: Arc<dyn Catalog>,
    table: TableIdent,
}

async fn fixture() -> Fixture {
    let SqliteCatalog { dir, catalog } = sqlite_catalog("").await;
    let namespace = NamespaceIdent::new("analytics".into());
    catalog
        .create_namespace(&namespace, HashMap::new())
        .await
        .unwrap();
    let primitive = |id, name: &str, t| NestedField::optional(id, name, Type::Primitive(t)).into();
    let schema = Schema::builder()
        .with_fields(vec![
            primitive(1, "id", PrimitiveType::Long),
            primitive(2, "event_type", PrimitiveType::String),
            primitive(3, "ts", PrimitiveType::Timestamptz),
            primitive(4, "amount", PrimitiveType::Double),
        ])
        .build()
        .unwrap();
    let creation = TableCreation::builder()
        .name("events".into())
        .schema(schema)
        .build();
    catalog.create_table(&namespace, creation).await.unwrap();
    Fixture {
        _dir: dir,
        catalog,
        table: TableIdent::new(namespace, "events".into()),
    }
}

/// An event type longer than the 16 characters a bound keeps: `<kind>-event-with-a-long-name-<n>`.
fn event_type(kind: &str, n: u32) -> String {
    format!("{kind}-event-with-a-long-name-{n:03}")
}

/// Rows `ids` (one file), with the writer's schema carrying the table's field ids.
fn parquet_file(table: &Table, kind: &str, ids: std::ops::RangeInclusive<u32>) -> Vec<u8> {
    let iceberg_schema = table.metadata().current_schema();
    let schema =
        TableSchema::parse_hive("id bigint, event_type string, ts timestamp, amount double")
            .unwrap()
            .with_field_ids(|path| iceberg_schema.field_id_by_name(&path.join(".")))
            .unwrap();
    let mut encoder = ParquetObjectEncoder::new(
        Arc::new(schema),
        Arc::new(SerdeOptions::default()),
        ParquetOptions {
            max_row_group_rows: 40,
            ..ParquetOptions::default()
        },
    )
    .unwrap();
    for id in ids {
        let record = format!(
            // 1,700,000,000 s is 2023-11-14T22:13:20Z; row `id` is `id` ms later.
            r#"{{"id":{id},"event_type":"{}","ts":"2023-11-14T22:13:20.{id:03}Z","amount":{id}.5}}"#,
            event_type(kind, id),
        );
        encoder.append_bytes(record.as_bytes()).unwrap();
    }
    encoder.finish().unwrap()
}

/// Writes each `(name, bytes)` under the table's data directory and commits them all with
/// their statistics; returns the files' paths by name.
async fn commit(fixture: &Fixture, files: Vec<(&str, Vec<u8>)>) -> BTreeMap<String, String> {
    let table = fixture.catalog.load_table(&fixture.table).await.unwrap();
    let location = table.metadata().location().to_owned();
    let directory = location.strip_prefix("file://").unwrap().to_owned() + "/data";
    std::fs::create_dir_all(&directory).unwrap();
    let mut paths = BTreeMap::new();
    let mut entries = Vec::new();
    for (name, bytes) in files {
        std::fs::write(format!("{directory}/{name}.parquet"), &bytes).unwrap();
        let path = format!("{location}/data/{name}.parquet");
        let stats = file_stats_of_parquet(&bytes, table.metadata().current_schema()).unwrap();
        entries.push(
            stats
                .into_data_file(
                    path.clone(),
                    Struct::empty(),
                    table.metadata().default_partition_spec_id(),
                )
                .unwrap(),
        );
        paths.insert(name.to_owned(), path);
    }
    let outcome = commit_files(
        &*fixture.catalog,
        &fixture.table,
        "events",
        entries,
        BTreeMap::from([(SHARD.to_owned(), SequencePosition::new("100", 0))]),
        BTreeMap::from([(SHARD.to_owned(), None)]),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    paths
}

/// The paths of the files a scan with `filter` plans to read.
async fn planned(table: &Table, filter: Predicate) -> BTreeSet<String> {
    let scan = table.scan().with_filter(filter).build().unwrap();
    let tasks: Vec<_> = scan
        .plan_files()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    tasks.into_iter().map(|t| t.data_file_path).collect()
}

/// Rows a scan with `filter` (`None`: all) reads.
async fn rows_read(table: &Table, filter: Option<Predicate>) -> usize {
    let mut builder = table.scan().select_all();
    if let Some(filter) = filter {
        builder = builder.with_filter(filter);
    }
    let batches: Vec<_> = builder
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Two files: `clicks` holds ids 1..=100, `views` ids 101..=250.
async fn two_files() -> (Fixture, Table, BTreeMap<String, String>) {
    let fixture = fixture().await;
    let table = fixture.catalog.load_table(&fixture.table).await.unwrap();
    let clicks = parquet_file(&table, "click", 1..=100);
    let views = parquet_file(&table, "view", 101..=250);
    let paths = commit(&fixture, vec![("clicks", clicks), ("views", views)]).await;
    let table = fixture.catalog.load_table(&fixture.table).await.unwrap();
    (fixture, table, paths)
}

#[tokio::test]
async fn every_committed_row_reads_back_through_icebergs_own_scan() {
    let (_fixture, table, paths) = two_files().await;
    assert_eq!(rows_read(&table, None).await, 250);
    let id = || Reference::new("id");
    let all: BTreeSet<String> = paths.values().cloned().collect();
    assert_eq!(
        planned(&table, id().greater_than(Datum::long(0))).await,
        all
    );
}

#[tokio::test]
async fn a_predicate_outside_a_files_bounds_prunes_it_and_one_inside_keeps_it() {
    let (_fixture, table, paths) = two_files().await;
    let only = |name: &str| BTreeSet::from([paths[name].clone()]);
    let none = BTreeSet::new();
    let id = || Reference::new("id");
    let event = || Reference::new("event_type");

    // Integer bounds: [1, 100] and [101, 250].
    assert_eq!(
        planned(&table, id().greater_than(Datum::long(100))).await,
        only("views")
    );
    assert_eq!(
        planned(&table, id().less_than(Datum::long(101))).await,
        only("clicks")
    );
    assert_eq!(
        planned(&table, id().greater_than(Datum::long(250))).await,
        none
    );
    assert_eq!(
        planned(&table, id().equal_to(Datum::long(100))).await,
        only("clicks")
    );

    // Truncated string bounds: the largest value of each file is longer than 16 characters,
    // so the upper bound is its incremented prefix; equality on it must still plan the file.
    for (name, kind, last) in [("clicks", "click", 100), ("views", "view", 250)] {
        let largest = Datum::string(event_type(kind, last));
        assert_eq!(planned(&table, event().equal_to(largest)).await, only(name));
    }
    assert_eq!(
        planned(&table, event().equal_to(Datum::string("open-event"))).await,
        none
    );
    assert_eq!(
        planned(&table, event().less_than(Datum::string("click"))).await,
        none
    );

    // Timestamp and double bounds.
    let ts = |id: i64| Datum::timestamptz_micros((1_700_000_000_000 + id) * 1_000);
    assert_eq!(
        planned(&table, Reference::new("ts").greater_than(ts(100))).await,
        only("views")
    );
    let amount = Reference::new("amount");
    assert_eq!(
        planned(&table, amount.less_than(Datum::double(1.0))).await,
        none
    );
}

#[tokio::test]
async fn a_filtered_scan_reads_exactly_the_matching_rows() {
    let (_fixture, table, _) = two_files().await;
    let filter = Reference::new("id").greater_than(Datum::long(200));
    assert_eq!(rows_read(&table, Some(filter)).await, 50);
}
