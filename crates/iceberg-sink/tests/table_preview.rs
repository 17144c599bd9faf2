//! One shard's records from a file into an Iceberg table (SQLite catalog, `file://`
//! warehouse) the way `kinesink dry-run` delivers them: the table is created from the
//! configured schema and partition spec, every good record is read back exactly once through
//! iceberg-rust's own scan, bad records are in the error output (rows in = rows out + error
//! rows), the snapshot summary carries the shard's position, running the same input again adds
//! nothing, and a longer input adds only the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array_58::{Array, StringArray};
use futures::TryStreamExt;
use kinesink_delivery::{
    BufferLimits, FileSink, ObjectLayout, ObjectSink, PartitionLimit, PartitionLimitAction,
    RecordPipeline, ResumeState, ShardBuffers,
};
use kinesink_iceberg_sink::routed_commits::RoutedCommits;
use kinesink_iceberg_sink::table_preview::{TablePreviewSummary, preview_into_table};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, TableTarget, open_table};
use kinesink_parquet_writer::Codec;
use kinesink_parquet_writer::{SerdeOptions, TableSchema};
use kinesink_partitioning::OutputPrefixes;
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_sequence_position::SequencePosition;

mod common;

use common::sqlite_catalog::{SqliteCatalog as Warehouse, sqlite_catalog, table_routes};

const SHARD: &str = "shardId-000000000003";
const NAME: &str = "clicks";
/// 2026-11-22T10:00:00Z.
const ARRIVAL_MS: i64 = 1_795_341_600_000;

/// The catalog the tests deliver into (its settings carry the spec of created tables).
async fn warehouse() -> Warehouse {
    sqlite_catalog("event_type, day(ts)").await
}

fn configured_schema() -> TableSchema {
    TableSchema::parse_hive("event_id string, event_type string, ts timestamp, n bigint").unwrap()
}

async fn target(w: &Warehouse) -> TableTarget {
    let schema = configured_schema();
    let creation = TableCreationSettings {
        create_tables: true,
        schema: Some(&schema),
        partition_spec: "event_type, day(ts)",
    };
    open_table(
        &*w.catalog,
        "analytics",
        "events",
        &creation,
        &SerdeOptions::default(),
    )
    .await
    .unwrap()
}

/// Record `i`: a good event, except every 50th (not JSON) and every 77th (`n` not a number).
fn record(i: u64) -> KinesisRecord {
    let kind = ["click", "view", "buy"][(i % 3) as usize];
    // Two days: records from 600 on happened on 2026-11-23.
    let day = if i < 600 { "22" } else { "23" };
    let data = if i % 50 == 49 {
        format!("not json {i}")
    } else if i % 77 == 76 {
        format!(
            r#"{{"event_id":"e{i}","event_type":"{kind}","ts":"2026-11-{day}T10:00:00Z","n":"many"}}"#
        )
    } else {
        format!(
            r#"{{"event_id":"e{i}","event_type":"{kind}","ts":"2026-11-{day}T10:00:00Z","n":{i}}}"#
        )
    };
    KinesisRecord {
        data: data.into_bytes(),
        partition_key: "k".into(),
        sequence_number: (1_000_000 + i).to_string(),
        approximate_arrival_ms: ARRIVAL_MS,
    }
}

fn is_good(i: u64) -> bool {
    i % 50 != 49 && i % 77 != 76
}

/// Delivers records `0..count` (in batches of 100) into the table; error objects go under
/// `<dir>/output`.
async fn deliver(w: &Warehouse, count: u64) -> TablePreviewSummary {
    let routes = Arc::new(
        table_routes(
            w.catalog.clone(),
            true,
            Some("event_id string, event_type string, ts timestamp, n bigint"),
            "event_type, day(ts)",
        )
        .await
        .unwrap(),
    );
    let layout = ObjectLayout {
        shard_id: SHARD.into(),
        name: NAME.into(),
        format: routes.default_table().format.clone(),
        extension: ".parquet".into(),
        error_codec: Codec::None,
        prefixes: Arc::new(
            OutputPrefixes::parse(None, Some("errors/!{firehose:error-output-type}/")).unwrap(),
        ),
        query: None,
        partition_limit: PartitionLimit {
            max_active: 100,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: Some(routes.clone()),
    };
    let outputs: Arc<dyn ObjectSink> = Arc::new(FileSink::new(w.dir.path().join("output")));
    let mut commits = RoutedCommits::new(routes.clone(), w.catalog.clone(), NAME, 0);
    let limits = BufferLimits {
        // Size cuts as well as the final flush.
        size_bytes: 4 * 1024,
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
    .unwrap()
}

/// Every event id the table holds, with how many times.
async fn event_ids(w: &Warehouse) -> BTreeMap<String, usize> {
    let table = target(w).await.table;
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
        let column = batch.column(0);
        let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..strings.len() {
            *ids.entry(strings.value(i).to_owned()).or_insert(0) += 1;
        }
    }
    ids
}

/// Error records written under `<dir>/output`, by their sequence numbers.
fn error_sequence_numbers(w: &Warehouse) -> Vec<u64> {
    let mut found = Vec::new();
    let mut stack = vec![w.dir.path().join("output")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if !name.starts_with('.') {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    found.push(
                        v["sequenceNumber"]
                            .as_str()
                            .unwrap()
                            .parse::<u64>()
                            .unwrap()
                            - 1_000_000,
                    );
                }
            }
        }
    }
    found.sort_unstable();
    found
}

fn expected_ids(count: u64) -> BTreeMap<String, usize> {
    (0..count)
        .filter(|i| is_good(*i))
        .map(|i| (format!("e{i}"), 1))
        .collect()
}

#[tokio::test]
async fn every_good_record_is_in_the_created_table_once_and_every_bad_one_in_the_error_output() {
    let w = warehouse().await;
    let summary = deliver(&w, 1_000).await;
    assert_eq!(summary.input_records, 1_000);
    assert_eq!(summary.resumed_after, None);
    assert_eq!(
        summary.committed,
        Some(SequencePosition::new("1000999", 0)),
        "the summary holds the last record read"
    );
    let ids = event_ids(&w).await;
    assert_eq!(ids, expected_ids(1_000));
    let errors = error_sequence_numbers(&w);
    assert_eq!(
        errors,
        (0..1_000).filter(|i| !is_good(*i)).collect::<Vec<_>>()
    );
    assert_eq!(
        ids.len() + errors.len(),
        1_000,
        "rows in = rows out + error rows"
    );

    let table = target(&w).await.table;
    let spec = table.metadata().default_partition_spec();
    let fields: Vec<String> = spec.fields().iter().map(|f| f.name.clone()).collect();
    assert_eq!(fields, ["event_type", "ts_day"], "created with its spec");
    let location = table.metadata().location().trim_end_matches('/').to_owned();
    for (path, _) in &summary.data_files {
        let relative = path.strip_prefix(&format!("{location}/data/")).unwrap();
        let parts: Vec<&str> = relative.split('/').collect();
        assert_eq!(parts.len(), 3, "{relative}");
        assert!(parts[0].starts_with("event_type="), "{relative}");
        assert!(
            parts[1] == "ts_day=2026-11-22" || parts[1] == "ts_day=2026-11-23",
            "{relative}"
        );
        assert!(
            parts[2].starts_with("clicks-shardId-000000000003-"),
            "{relative}"
        );
    }
    assert!(
        summary.data_files.len() > 6,
        "size cuts made several files per partition"
    );
    let snapshot = table.metadata().current_snapshot().unwrap();
    assert_eq!(
        snapshot
            .summary()
            .additional_properties
            .get("kinesink.clicks.shardId-000000000003")
            .map(String::as_str),
        Some("1000999/0")
    );
}

#[tokio::test]
async fn the_same_input_again_adds_nothing_and_a_longer_one_only_the_rest() {
    let w = warehouse().await;
    deliver(&w, 700).await;
    let snapshots = |t: &iceberg::table::Table| t.metadata().snapshots().count();
    let before = snapshots(&target(&w).await.table);

    let again = deliver(&w, 700).await;
    assert_eq!(
        again.resumed_after,
        Some(SequencePosition::new("1000699", 0))
    );
    assert!(again.data_files.is_empty() && again.other_objects.is_empty());
    assert_eq!(
        snapshots(&target(&w).await.table),
        before,
        "no new snapshot"
    );
    assert_eq!(event_ids(&w).await, expected_ids(700));

    let longer = deliver(&w, 1_000).await;
    assert!(!longer.data_files.is_empty());
    assert_eq!(event_ids(&w).await, expected_ids(1_000));
    assert_eq!(
        error_sequence_numbers(&w),
        (0..1_000).filter(|i| !is_good(*i)).collect::<Vec<_>>(),
        "each bad record once in the error output too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_creating_the_missing_table_at_once_all_open_the_one_created() {
    let w = warehouse().await;
    let opened = futures::future::join_all((0..4).map(|_| target(&w))).await;
    let uuids: std::collections::BTreeSet<_> =
        opened.iter().map(|t| t.table.metadata().uuid()).collect();
    assert_eq!(uuids.len(), 1, "one table, opened by every racer");
}
