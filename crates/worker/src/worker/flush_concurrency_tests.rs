//! The objects of one flush are written concurrently (up to
//! [`crate::shard_writer::CONCURRENT_OBJECT_WRITES`] at a time), so a stop with thousands of
//! open partitions takes about their count divided by that many write latencies, not their sum;
//! and every record is still delivered exactly once, checkpointed after all are durable.

use std::sync::atomic::AtomicUsize;

use async_trait::async_trait;
use kinesink_delivery::{MemorySink, ObjectContents, PutOutcome, SinkError};
use kinesink_lease_coordination::MemoryLeaseTable;
use kinesink_record_deaggregation::KinesisRecord;
use kinesink_shard_reader::{MemoryShardSource, ShardInfo};

use super::*;

const RECORDS: u64 = 300;

/// A [`MemorySink`] whose puts take `delay`, counting how many run at once.
struct SlowSink {
    inner: MemorySink,
    delay: Duration,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

#[async_trait]
impl ObjectSink for SlowSink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        contents: &ObjectContents,
    ) -> Result<PutOutcome, SinkError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.inner.put(key, body, contents).await
    }

    fn describe(&self) -> String {
        "slow memory".into()
    }
}

/// One open shard of [`RECORDS`] records `{"id":"r<i>"}`, sequence numbers 1000 on.
fn one_shard_of_records() -> Arc<MemoryShardSource> {
    let source = Arc::new(MemoryShardSource::new());
    source.add_shard(
        ShardInfo {
            shard_id: "shardId-000000000000".into(),
            parent_shard_ids: vec![],
            closed: false,
        },
        (0..RECORDS)
            .map(|i| KinesisRecord {
                data: format!("{{\"id\":\"r{i}\"}}").into_bytes(),
                partition_key: "k".into(),
                sequence_number: (1000 + i).to_string(),
                approximate_arrival_ms: 1_700_000_000_000,
            })
            .collect(),
        vec![],
    );
    source
}

/// A memory sink whose puts take 20 ms.
fn slow_sink() -> Arc<SlowSink> {
    Arc::new(SlowSink {
        inner: MemorySink::new(),
        delay: Duration::from_millis(20),
        running: AtomicUsize::new(0),
        most_at_once: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn a_flush_of_many_partitions_writes_their_objects_concurrently_and_each_record_once() {
    let source = one_shard_of_records();
    let defaults = crate::test_fixtures::settings("conc", "a");
    // Every record in its own partition; nothing is cut before the end.
    let settings = WorkerSettings {
        reader: ReaderSettings {
            idle: Duration::from_millis(20),
            ..defaults.reader
        },
        query: Some(Arc::new(MetadataQuery::compile("{k: .id}").unwrap())),
        prefixes: Arc::new(
            OutputPrefixes::parse(
                Some("data/!{partitionKeyFromQuery:k}/"),
                Some("errors/!{firehose:error-output-type}/"),
            )
            .unwrap(),
        ),
        partition_limit: kinesink_delivery::PartitionLimit {
            max_active: 1_000,
            ..defaults.partition_limit
        },
        file_extension: ".json".into(),
        error_codec: Codec::None,
        ..defaults
    };
    let sink = slow_sink();
    let table = Arc::new(MemoryLeaseTable::new());
    let format = ObjectFormat::Records {
        framing: kinesink_parquet_writer::RecordFraming::NewlineDelimited,
        codec: Codec::None,
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        Worker::new(
            settings,
            format,
            source as Arc<dyn ShardSource>,
            table.clone() as Arc<dyn LeaseTable>,
            sink.clone() as Arc<dyn ObjectSink>,
            Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
        )
        .run(
            CancellationToken::new(),
            RunOptions {
                until_caught_up: true,
            },
        ),
    )
    .await
    .expect("until-caught-up ends by itself")
    .unwrap();
    assert_eq!(summary.records, RECORDS);
    let most = sink.most_at_once.load(Ordering::SeqCst);
    assert!(
        most >= crate::shard_writer::CONCURRENT_OBJECT_WRITES / 2,
        "the {RECORDS} objects of the last flush were written {most} at a time at most"
    );
    let mut ids = BTreeMap::new();
    for (key, body) in sink.inner.objects() {
        assert!(key.starts_with("data/r"), "{key}");
        for line in String::from_utf8(body).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            *ids.entry(v["id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    assert_eq!(ids.len() as u64, RECORDS, "every record delivered");
    assert!(ids.values().all(|n| *n == 1), "each once");
    let lease = &table.list().await.unwrap()[0];
    assert_eq!(
        lease.checkpoint,
        kinesink_lease_coordination::Checkpoint::Sequence(
            kinesink_sequence_position::SequencePosition::new("1299".to_string(), 0)
        ),
        "checkpointed at the last record once every object was durable"
    );
}

/// The same with an Iceberg destination: a flush's data files, one per table partition, are
/// written concurrently too, each record is in the table once, and the lease is checkpointed at
/// the last record once the table holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_of_many_table_partitions_writes_their_data_files_concurrently_and_each_record_once()
 {
    use iceberg::{NamespaceIdent, TableIdent};
    use kinesink_iceberg_sink::routed_commits::RoutedCommits;
    use kinesink_iceberg_sink::table_routes::{TableOpener, TableRoutes};
    use kinesink_iceberg_sink::{CatalogKind, IcebergCatalogSettings, open_catalog};
    use kinesink_parquet_writer::{ParquetOptions, SerdeOptions, TableSchema};

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("warehouse")).unwrap();
    let catalog = open_catalog(&IcebergCatalogSettings {
        kind: CatalogKind::Sql {
            uri: format!("sqlite://{}/catalog.db", dir.path().display()),
            catalog_name: "default".into(),
            warehouse: format!("file://{}/warehouse", dir.path().display()),
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: "id".into(),
        endpoint_url: None,
        region: None,
    })
    .await
    .unwrap();
    let sink = slow_sink();
    let data_sink = sink.clone();
    let opener = TableOpener {
        catalog: catalog.clone(),
        create_tables: true,
        schema: Some(Arc::new(TableSchema::parse_hive("id string").unwrap())),
        // Identity on `id`: every record in its own partition.
        partition_spec: "id".into(),
        serde: Arc::new(SerdeOptions::default()),
        parquet: ParquetOptions::default(),
        data_sinks: Arc::new(move |_| Ok(data_sink.clone() as Arc<dyn ObjectSink>)),
    };
    let routes = Arc::new(
        TableRoutes::open(opener, "analytics", "events")
            .await
            .unwrap(),
    );
    let committed = RoutedCommits::new(routes.clone(), catalog.clone(), "conc", 1_000);
    let commits = crate::table_commits::TableCommits::spawn(
        committed,
        routes.clone(),
        Duration::from_millis(100),
    );
    let source = one_shard_of_records();
    let defaults = crate::test_fixtures::settings("conc", "a");
    let settings = WorkerSettings {
        reader: ReaderSettings {
            idle: Duration::from_millis(20),
            ..defaults.reader
        },
        partition_limit: kinesink_delivery::PartitionLimit {
            max_active: 1_000,
            ..defaults.partition_limit
        },
        file_extension: "parquet".into(),
        ..defaults
    };
    let leases = Arc::new(MemoryLeaseTable::new());
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        Worker::new(
            settings,
            routes.default_table().format.clone(),
            source as Arc<dyn ShardSource>,
            leases.clone() as Arc<dyn LeaseTable>,
            Arc::new(MemorySink::new()) as Arc<dyn ObjectSink>,
            Arc::new(MemorySink::new()) as Arc<dyn kinesink_delivery::ProgressStore>,
        )
        .with_table_destination(super::TableDestination {
            commits,
            router: routes,
        })
        .run(
            CancellationToken::new(),
            RunOptions {
                until_caught_up: true,
            },
        ),
    )
    .await
    .expect("until-caught-up ends by itself")
    .unwrap();
    assert_eq!(summary.records, RECORDS);
    let most = sink.most_at_once.load(Ordering::SeqCst);
    assert!(
        most >= crate::shard_writer::CONCURRENT_OBJECT_WRITES / 2,
        "the {RECORDS} data files of the last flush were written {most} at a time at most"
    );
    assert_eq!(
        sink.inner.objects().len() as u64,
        RECORDS,
        "one data file per partition"
    );
    let table = catalog
        .load_table(&TableIdent::new(
            NamespaceIdent::new("analytics".into()),
            "events".into(),
        ))
        .await
        .unwrap();
    let snapshot = table.metadata().current_snapshot().expect("a commit");
    let summary = &snapshot.summary().additional_properties;
    assert_eq!(
        summary.get("total-records").map(String::as_str),
        Some("300"),
        "every record in the table once"
    );
    assert_eq!(
        summary
            .get("kinesink.conc.shardId-000000000000")
            .map(String::as_str),
        Some("1299/0"),
        "the table holds the shard's position at its last record"
    );
    let lease = &leases.list().await.unwrap()[0];
    assert_eq!(
        lease.checkpoint,
        kinesink_lease_coordination::Checkpoint::Sequence(
            kinesink_sequence_position::SequencePosition::new("1299".to_string(), 0)
        ),
        "checkpointed at the last record once the table held it"
    );
}
