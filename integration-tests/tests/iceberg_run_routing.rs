//! `kinesink run` routing records to two Iceberg tables by `processing.partition_query`'s
//! `destinationTableName`, against the stand-ins (SQL catalog on SQLite, warehouse in moto's
//! S3), read back by pyiceberg: across a kill -9 mid-delivery and a clean rerun, every event is
//! in exactly one of the two tables exactly once, and the default table's summary carries each
//! shard's position.
#![cfg(feature = "stand-ins")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::iceberg_table::read_back;
use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price double, quantity int";

fn run_until_caught_up(cfg: &Path) {
    let out = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(cfg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ids(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value["ids"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_in_the_table_it_is_routed_to_once_across_kill_9() {
    let stream = unique("route");
    let bucket = unique("route-bucket").to_lowercase();
    let leases = unique("route-leases");
    create_stream(&stream, 2).await;
    create_bucket(&bucket).await;
    let cfg = common::iceberg_table::iceberg_config(
        &stream,
        &leases,
        &bucket,
        "events",
        SCHEMA,
        "event_type",
        "buffer_interval_s = 1\nbuffer_size_mib = 1",
    );
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + "[processing]\npartition_query = '{destinationTableName: (if .event_type == \"purchase\" then \"purchases\" else \"events\" end)}'\n";
    std::fs::write(&cfg.path, text).unwrap();

    produce(&stream, 2_000, &stream, false);
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1_300));
    let _ = worker.child.kill();
    let _ = worker.child.wait();
    produce(&stream, 2_000, &format!("{stream}-b"), true);
    run_until_caught_up(&cfg.path);

    let purchases = read_back(cfg.dir.path(), &bucket, "purchases");
    let others = read_back(cfg.dir.path(), &bucket, "events");
    assert_eq!(purchases["duplicates"], serde_json::json!([]));
    assert_eq!(others["duplicates"], serde_json::json!([]));
    let (p, o) = (ids(&purchases), ids(&others));
    assert!(!p.is_empty() && !o.is_empty(), "both tables got records");
    let mut all: Vec<String> = p.iter().chain(&o).cloned().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(all.len(), before, "no event in both tables");
    let mut expected: Vec<String> = (0..2_000)
        .map(|i| format!("{stream}-{i}"))
        .chain((0..2_000).map(|i| format!("{stream}-b-{i}")))
        .collect();
    expected.sort();
    assert_eq!(all, expected, "every event exactly once");
    let positions = others["positions"].as_object().unwrap();
    assert_eq!(
        positions.keys().collect::<Vec<_>>(),
        [
            "kinesink.it.shardId-000000000000",
            "kinesink.it.shardId-000000000001"
        ],
        "the default table holds each shard's position"
    );
}
