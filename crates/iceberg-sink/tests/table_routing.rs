//! Records routed to several tables by the partition query's `destinationTableName` (SQLite
//! catalog, `file://` warehouse), delivered the way `kinesink dry-run` does: each record is in
//! the table it names exactly once (read back through iceberg-rust's scan), a routed table is
//! created on first use from the configured schema and spec, the default table's snapshot
//! summary carries the shard's position, running the same input again adds nothing anywhere,
//! and with `create_tables = false` and no `format.schema` the existing tables' own schemas
//! convert the records while a record routed to a missing table, to a table kinesink cannot
//! write, or by an invalid name goes to the error output.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array_58::{Array, StringArray};
use futures::TryStreamExt;
use iceberg::{NamespaceIdent, TableIdent};
use kinesink_delivery::{
    BufferLimits, FileSink, ObjectLayout, ObjectSink, PartitionLimit, PartitionLimitAction,
    RecordPipeline, ResumeState, ShardBuffers,
};
use kinesink_iceberg_sink::routed_commits::RoutedCommits;
use kinesink_iceberg_sink::table_preview::{TablePreviewSummary, preview_into_table};
use kinesink_iceberg_sink::table_routes::TableRoutes;
use kinesink_parquet_writer::Codec;
use kinesink_partitioning::{MetadataQuery, OutputPrefixes};
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::SequencePosition;

mod common;

use common::commit_outage::CommitOutage;
use common::sqlite_catalog::{SqliteCatalog as Warehouse, sqlite_catalog, table_routes};

const SHARD: &str = "shardId-000000000001";
const NAME: &str = "clicks";
const SCHEMA: &str = "event_id string, event_type string, n bigint";
const ARRIVAL_MS: i64 = 1_795_341_600_000;

/// Record `i`'s table: every third `orders`, every 41st `missing`, every 53rd an invalid
/// name, the rest `events` (the default table, named explicitly).
fn table_of(i: u64) -> &'static str {
    if i % 53 == 52 {
        "bad name!"
    } else if i % 41 == 40 {
        "missing"
    } else if i.is_multiple_of(3) {
        "orders"
    } else {
        "events"
    }
}

fn record(i: u64) -> KinesisRecord {
    let kind = ["click", "view"][(i % 2) as usize];
    KinesisRecord {
        data: format!(
            r#"{{"event_id":"e{i}","event_type":"{kind}","n":{i},"table":"{}"}}"#,
            table_of(i)
        )
        .into_bytes(),
        partition_key: "k".into(),
        sequence_number: (1_000_000 + i).to_string(),
        approximate_arrival_ms: ARRIVAL_MS,
    }
}

async fn deliver(w: &Warehouse, routes: TableRoutes, count: u64) -> TablePreviewSummary {
    try_deliver(w, w.catalog.clone(), routes, count)
        .await
        .unwrap()
}

/// [`deliver`] committing through `catalog`; the error says why the run stopped.
async fn try_deliver(
    w: &Warehouse,
    catalog: Arc<dyn iceberg::Catalog>,
    routes: TableRoutes,
    count: u64,
) -> Result<TablePreviewSummary, String> {
    let routes = Arc::new(routes);
    let layout = ObjectLayout {
        shard_id: SHARD.into(),
        name: NAME.into(),
        format: routes.default_table().format.clone(),
        extension: ".parquet".into(),
        error_codec: Codec::None,
        prefixes: Arc::new(
            OutputPrefixes::parse(None, Some("errors/!{firehose:error-output-type}/")).unwrap(),
        ),
        query: Some(Arc::new(
            MetadataQuery::compile("{destinationTableName: .table}").unwrap(),
        )),
        partition_limit: PartitionLimit {
            max_active: 100,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: Some(routes.clone()),
    };
    let outputs: Arc<dyn ObjectSink> = Arc::new(FileSink::new(w.dir.path().join("output")));
    let mut commits = RoutedCommits::new(routes.clone(), catalog, NAME, 0);
    let limits = BufferLimits {
        size_bytes: 2 * 1024,
        interval_ms: 900_000,
    };
    let mut next = 0;
    preview_into_table(
        &mut commits,
        &routes,
        outputs,
        SHARD,
        |resume| {
            let state = ResumeState {
                checkpoint: resume.clone(),
                ..ResumeState::default()
            };
            (
                RecordPipeline::new(false, None, resume),
                ShardBuffers::new(layout, limits, state),
            )
        },
        None,
        None,
        || {
            let batch: Vec<_> = (next..count.min(next + 100)).map(record).collect();
            next += batch.len() as u64;
            Ok::<_, std::convert::Infallible>(batch)
        },
    )
    .await
    .map_err(|e| e.to_string())
}

fn ident(table: &str) -> TableIdent {
    TableIdent::new(NamespaceIdent::new("analytics".into()), table.into())
}

/// Every event id table `table` holds, with how many times.
async fn event_ids(w: &Warehouse, table: &str) -> BTreeMap<String, usize> {
    let table = w.catalog.load_table(&ident(table)).await.unwrap();
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
        let strings = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..strings.len() {
            *ids.entry(strings.value(i).to_owned()).or_insert(0) += 1;
        }
    }
    ids
}

/// `(error code, record index)` of every error record under `<dir>/output`.
fn error_records(w: &Warehouse) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![w.dir.path().join("output")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                assert!(
                    path.to_string_lossy()
                        .contains("/errors/processing-failed/"),
                    "{path:?}"
                );
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let seq: u64 = v["sequenceNumber"].as_str().unwrap().parse().unwrap();
                    found.push((v["errorCode"].as_str().unwrap().to_owned(), seq - 1_000_000));
                }
            }
        }
    }
    found.sort_by_key(|(_, i)| *i);
    found
}

fn expected(count: u64, table: &str) -> BTreeMap<String, usize> {
    (0..count)
        .filter(|i| table_of(*i) == table)
        .map(|i| (format!("e{i}"), 1))
        .collect()
}

fn expected_errors(count: u64, missing_code: Option<&str>) -> Vec<(String, u64)> {
    (0..count)
        .filter_map(|i| match table_of(i) {
            "bad name!" => Some(("Iceberg.InvalidTableName".to_owned(), i)),
            "missing" => missing_code.map(|c| (c.to_owned(), i)),
            _ => None,
        })
        .collect()
}

async fn snapshots(w: &Warehouse, table: &str) -> usize {
    let table = w.catalog.load_table(&ident(table)).await.unwrap();
    table.metadata().snapshots().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn records_routed_to_two_tables_are_each_in_their_table_once_and_a_rerun_adds_nothing() {
    let w = sqlite_catalog("event_type").await;
    let routes = table_routes(w.catalog.clone(), true, Some(SCHEMA), "event_type")
        .await
        .unwrap();
    let summary = deliver(&w, routes, 600).await;
    assert_eq!(summary.committed, Some(SequencePosition::new("1000599", 0)));

    // Created on first use, from the configured schema and spec; `missing` was created too.
    assert_each_table_holds_its_records_once(&w, 600).await;
    let orders = w.catalog.load_table(&ident("orders")).await.unwrap();
    let spec = orders.metadata().default_partition_spec();
    assert_eq!(spec.fields()[0].name, "event_type");
    assert_eq!(error_records(&w), expected_errors(600, None));

    // The default table holds the shard's position; the routed ones hold theirs too.
    let summary_of = |t: &iceberg::table::Table| {
        t.metadata()
            .current_snapshot()
            .unwrap()
            .summary()
            .additional_properties
            .get("kinesink.clicks.shardId-000000000001")
            .cloned()
    };
    let events = w.catalog.load_table(&ident("events")).await.unwrap();
    assert_eq!(summary_of(&events).as_deref(), Some("1000599/0"));
    assert!(summary_of(&orders).is_some());

    let before = [
        snapshots(&w, "events").await,
        snapshots(&w, "orders").await,
        snapshots(&w, "missing").await,
    ];
    let routes = table_routes(w.catalog.clone(), true, Some(SCHEMA), "event_type")
        .await
        .unwrap();
    let again = deliver(&w, routes, 600).await;
    assert_eq!(
        again.resumed_after,
        Some(SequencePosition::new("1000599", 0))
    );
    assert!(again.data_files.is_empty() && again.other_objects.is_empty());
    let after = [
        snapshots(&w, "events").await,
        snapshots(&w, "orders").await,
        snapshots(&w, "missing").await,
    ];
    assert_eq!(before, after, "no new snapshot anywhere");

    let routes = table_routes(w.catalog.clone(), true, Some(SCHEMA), "event_type")
        .await
        .unwrap();
    deliver(&w, routes, 900).await;
    assert_each_table_holds_its_records_once(&w, 900).await;
    assert_eq!(error_records(&w), expected_errors(900, None));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_create_tables_a_record_routed_to_a_missing_table_goes_to_the_error_output() {
    let w = sqlite_catalog("").await;
    // The tables exist (made by an earlier delivery); from now on no schema is configured:
    // each table's own converts its records.
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    let events = w.catalog.load_table(&ident("events")).await.unwrap();
    let creation = iceberg::TableCreation::builder()
        .name("orders".into())
        .schema(events.metadata().current_schema().as_ref().clone())
        .build();
    w.catalog
        .create_table(&NamespaceIdent::new("analytics".into()), creation)
        .await
        .unwrap();

    let routes = table_routes(w.catalog.clone(), false, None, "")
        .await
        .unwrap();
    deliver(&w, routes, 300).await;
    assert_eq!(event_ids(&w, "events").await, expected(300, "events"));
    assert_eq!(event_ids(&w, "orders").await, expected(300, "orders"));
    assert!(
        !w.catalog.table_exists(&ident("missing")).await.unwrap(),
        "not created"
    );
    assert_eq!(
        error_records(&w),
        expected_errors(300, Some("Iceberg.TableNotFound")),
        "every record routed to the missing table is in the error output, nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_routed_to_a_table_kinesink_cannot_write_goes_to_the_error_output_as_table_not_writable()
 {
    use iceberg::spec::{NestedField, PrimitiveType, Schema, StructType, Type};
    let w = sqlite_catalog("").await;
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    // `orders` has a required field inside a struct, which kinesink cannot write (it writes
    // nested fields as optional).
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "event_id", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(
                2,
                "detail",
                Type::Struct(StructType::new(vec![
                    NestedField::required(3, "code", Type::Primitive(PrimitiveType::String)).into(),
                ])),
            )
            .into(),
        ])
        .build()
        .unwrap();
    let creation = iceberg::TableCreation::builder()
        .name("orders".into())
        .schema(schema)
        .build();
    w.catalog
        .create_table(&NamespaceIdent::new("analytics".into()), creation)
        .await
        .unwrap();

    let routes = table_routes(w.catalog.clone(), false, None, "")
        .await
        .unwrap();
    deliver(&w, routes, 300).await;
    assert_eq!(event_ids(&w, "events").await, expected(300, "events"));
    assert_eq!(
        snapshots(&w, "orders").await,
        0,
        "nothing was written to the table kinesink cannot write"
    );
    let errors = error_records(&w);
    let not_writable: Vec<u64> = errors
        .iter()
        .filter(|(code, _)| code == "Iceberg.TableNotWritable")
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(
        not_writable,
        (0..300)
            .filter(|i| table_of(*i) == "orders")
            .collect::<Vec<_>>(),
        "every record routed to the table kinesink cannot write is in the error output"
    );
    let others: Vec<(String, u64)> = errors
        .into_iter()
        .filter(|(code, _)| code != "Iceberg.TableNotWritable")
        .collect();
    assert_eq!(
        others,
        expected_errors(300, Some("Iceberg.TableNotFound")),
        "the other refused records, nothing lost"
    );
}

#[tokio::test]
async fn a_missing_default_table_without_a_schema_is_refused_naming_the_key() {
    let w = sqlite_catalog("").await;
    let refused = table_routes(w.catalog.clone(), true, None, "")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("`format.schema`"), "{refused}");
    let refused = table_routes(w.catalog.clone(), false, Some(SCHEMA), "")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("create_tables"), "{refused}");
}

/// Every table (events, orders, missing) holds exactly the records of the first `count` routed
/// to it, each once.
async fn assert_each_table_holds_its_records_once(w: &Warehouse, count: u64) {
    for table in ["events", "orders", "missing"] {
        assert_eq!(
            event_ids(w, table).await,
            expected(count, table),
            "table {table}: the records routed to it, each once"
        );
    }
}

/// The table's position for the shard (`None`: none committed).
async fn position(w: &Warehouse, table: &str) -> Option<String> {
    kinesink_iceberg_sink::load_positions(&*w.catalog, &ident(table), NAME)
        .await
        .unwrap()
        .get(SHARD)
        .map(kinesink_iceberg_sink::table_position::encode_position)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_table_never_takes_a_flush_point_before_the_routed_tables_hold_its_files() {
    let w = sqlite_catalog("").await;
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    let outage = Arc::new(CommitOutage::new(w.catalog.clone(), "orders"));
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    let stopped = try_deliver(&w, outage.clone(), routes, 300)
        .await
        .unwrap_err();
    assert!(stopped.contains("analytics.orders"), "{stopped}");
    assert_eq!(
        position(&w, "events").await,
        None,
        "the default table waited for orders"
    );
    assert!(event_ids(&w, "events").await.is_empty());
    assert!(event_ids(&w, "orders").await.is_empty());

    outage.heal();
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    try_deliver(&w, outage, routes, 300).await.unwrap();
    assert_each_table_holds_its_records_once(&w, 300).await;
    assert_eq!(position(&w, "events").await.as_deref(), Some("1000299/0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_routed_table_ahead_of_the_default_one_adds_nothing_twice_on_the_replay() {
    let w = sqlite_catalog("").await;
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    // The default table cannot be committed to: the routed tables commit, the shard's
    // position does not move (a crash between the routed commits and the default one).
    let outage = Arc::new(CommitOutage::new(w.catalog.clone(), "events"));
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    try_deliver(&w, outage.clone(), routes, 300)
        .await
        .unwrap_err();
    assert_eq!(position(&w, "events").await, None);
    assert!(
        position(&w, "orders").await.is_some(),
        "orders is ahead of the default table"
    );
    assert_eq!(event_ids(&w, "orders").await, expected(300, "orders"));

    outage.heal();
    // The replay cuts the same files (the same input, so the same flush points): the routed
    // tables drop those they hold already.
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    let replay = try_deliver(&w, outage.clone(), routes, 300).await.unwrap();
    assert_eq!(
        replay.resumed_after, None,
        "resumed after the default table's position"
    );
    assert_each_table_holds_its_records_once(&w, 300).await;
    assert_eq!(position(&w, "events").await.as_deref(), Some("1000299/0"));
    assert_eq!(
        error_records(&w),
        expected_errors(300, None),
        "error records of the failed run are written again under the same keys, once"
    );
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    try_deliver(&w, outage, routes, 400).await.unwrap();
    assert_each_table_holds_its_records_once(&w, 400).await;
}

/// A routed table's position read failing transiently when a shard's first files for it come
/// (an S3 503 on its metadata; the chaos test injects those) is tried again at the next step:
/// the files wait, in order, the default table waits for them, and every record still lands in
/// its table once. Before, the shard stopped with "reading table analytics.orders's position".
#[tokio::test(flavor = "multi_thread")]
async fn a_routed_tables_position_read_failing_transiently_is_retried_and_every_record_lands_once()
{
    let w = sqlite_catalog("").await;
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    let routes = table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    // Opening the routes loaded the tables already: the next load of `orders` is the position
    // read at the shard's first files for it.
    let outage = Arc::new(CommitOutage::failing_loads(w.catalog.clone(), "orders", 1));
    try_deliver(&w, outage.clone(), routes, 300)
        .await
        .expect("a transient read failure is not the end of the run");
    assert_eq!(
        outage.loads_left_to_fail(),
        0,
        "the injected failure was met"
    );
    assert_each_table_holds_its_records_once(&w, 300).await;
    assert_eq!(position(&w, "events").await.as_deref(), Some("1000299/0"));
}

/// Opening the default table at start through a metadata read that fails transiently (an S3
/// 503; every restart in the chaos test opens it) is a transient failure that
/// `retry_transient` rides out, as the binary opens it; a missing table without
/// `create_tables` stays permanent and is not retried.
#[tokio::test(flavor = "multi_thread")]
async fn opening_the_default_table_retries_a_transient_metadata_failure_but_not_a_missing_table() {
    use kinesink_iceberg_sink::IcebergErrorClass;
    use kinesink_iceberg_sink::transient_retry::retry_transient;
    use std::time::Duration;
    let w = sqlite_catalog("").await;
    drop(
        table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
            .await
            .unwrap(),
    );
    let outage = Arc::new(CommitOutage::failing_loads(w.catalog.clone(), "events", 2));
    let Err(once) = table_routes(outage.clone(), false, Some(SCHEMA), "").await else {
        panic!("the first open meets the failing read");
    };
    assert_eq!(once.class(), IcebergErrorClass::Transient, "{once}");
    let routes = retry_transient(Duration::from_secs(30), "opening the table", || {
        table_routes(outage.clone(), false, Some(SCHEMA), "")
    })
    .await
    .expect("opened once the read answers");
    assert_eq!(outage.loads_left_to_fail(), 0);
    assert_eq!(routes.default_table().id.to_string(), "analytics.events");

    let empty = sqlite_catalog("").await;
    let calls = std::sync::atomic::AtomicU32::new(0);
    let Err(missing) = retry_transient(Duration::from_secs(30), "opening the table", || {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        table_routes(empty.catalog.clone(), false, None, "")
    })
    .await
    else {
        panic!("a missing table is not opened");
    };
    assert_eq!(missing.class(), IcebergErrorClass::Permanent, "{missing}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "never retried"
    );
}

/// A routed table whose metadata read fails transiently while the record path opens it (its
/// first record) is opened on a retry, within `ROUTED_OPEN_RETRY`: every record still lands in
/// its table once. Before, the shard stopped at once ("table unavailable"), and so the worker.
#[tokio::test(flavor = "multi_thread")]
async fn a_routed_table_whose_open_fails_transiently_is_opened_on_a_retry() {
    let w = sqlite_catalog("").await;
    // A first run creates the tables (`orders` on its first record).
    let routes = table_routes(w.catalog.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    deliver(&w, routes, 300).await;
    // New routes open `events` only; `orders`, existing now, is opened (loaded) on the record
    // path at its first record of the next 100, and that load fails once.
    let outage = Arc::new(CommitOutage::failing_loads(w.catalog.clone(), "orders", 1));
    let routes = table_routes(outage.clone(), true, Some(SCHEMA), "")
        .await
        .unwrap();
    try_deliver(&w, w.catalog.clone(), routes, 400)
        .await
        .expect("a transient open failure of a routed table is retried");
    assert_eq!(
        outage.loads_left_to_fail(),
        0,
        "the injected failure was met"
    );
    assert_each_table_holds_its_records_once(&w, 400).await;
}
