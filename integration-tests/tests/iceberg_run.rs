//! `kinesink run` into an Iceberg table against the stand-ins: Kinesis and the lease table as
//! for objects, the table in a SQL catalog on SQLite with its warehouse in moto's S3. Read back
//! by pyiceberg: every event exactly once across a restart, after a kill -9 mid-delivery, and
//! with the lease table deleted (the table's positions are the truth); each shard's position
//! is in the snapshot summary, and the lease checkpoint never passes it.
#![cfg(feature = "stand-ins")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price double, quantity int";

fn iceberg_config(stream: &str, leases: &str, bucket: &str, table: &str) -> Config {
    common::iceberg_table::iceberg_config(
        stream,
        leases,
        bucket,
        table,
        SCHEMA,
        "event_type",
        "buffer_interval_s = 1\nbuffer_size_mib = 1",
    )
}

/// Runs a worker until it is caught up; returns its stderr.
fn run_until_caught_up(cfg: &Path) -> String {
    let out = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(cfg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

use common::iceberg_table::read_back;

fn expected(prefix: &str, n: u64) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_in_the_table_once_across_restarts_and_kill_9_and_positions_are_in_the_summary()
 {
    let stream = unique("ice");
    let bucket = unique("ice-bucket").to_lowercase();
    let leases = unique("ice-leases");
    create_stream(&stream, 2).await;
    create_bucket(&bucket).await;
    let cfg = iceberg_config(&stream, &leases, &bucket, "events");
    produce(&stream, 3_000, &stream, false);
    run_until_caught_up(&cfg.path);
    let got = read_back(cfg.dir.path(), &bucket, "events");
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["ids"], serde_json::json!(expected(&stream, 3_000)));
    let positions = got["positions"].as_object().unwrap();
    assert_eq!(
        positions.keys().collect::<Vec<_>>(),
        [
            "kinesink.it.shardId-000000000000",
            "kinesink.it.shardId-000000000001"
        ],
        "each shard's position is in the summary"
    );

    // More events, a worker killed while delivering them, then a clean run: each once.
    produce(&stream, 3_000, &format!("{stream}-b"), true);
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 1, Duration::from_secs(30));
    // About one commit interval in: files written, some committed, some not.
    std::thread::sleep(Duration::from_millis(1_300));
    let _ = worker.child.kill();
    let _ = worker.child.wait();
    run_until_caught_up(&cfg.path);
    let got = read_back(cfg.dir.path(), &bucket, "events");
    let mut all = expected(&stream, 3_000);
    all.extend(expected(&format!("{stream}-b"), 3_000));
    all.sort();
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["ids"], serde_json::json!(all));

    // The lease table and the progress objects deleted: the table's positions are the truth;
    // nothing is delivered twice.
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws().await);
    dynamodb
        .delete_table()
        .table_name(&leases)
        .send()
        .await
        .unwrap();
    // And the progress objects: the table alone remembers where each shard is.
    let s3 = s3().await;
    let progress = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("out/_kinesink/")
        .send()
        .await
        .unwrap();
    assert!(
        !progress.contents().is_empty(),
        "progress objects were written"
    );
    for object in progress.contents() {
        s3.delete_object()
            .bucket(&bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    let files_before = got["files"].clone();
    let log = run_until_caught_up(&cfg.path);
    assert_eq!(
        log.matches("resuming from the table").count(),
        2,
        "both shards resume from the table's positions: {log}"
    );
    let again = read_back(cfg.dir.path(), &bucket, "events");
    assert_eq!(again["ids"], got["ids"]);
    assert_eq!(again["files"], files_before, "no file added");

    // `kinesink iceberg status`: each shard's table position next to its lease checkpoint, the
    // same once the worker stopped cleanly (the checkpoint follows the commit).
    let out = run(kinesink()
        .args(["iceberg", "status", "--json", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["records"], 6_000);
    let shards = status["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{status}");
    for shard in shards {
        let position = shard["table_position"].as_str().unwrap();
        let checkpoint = shard["lease_checkpoint"].as_str().unwrap();
        assert_eq!(
            checkpoint.replace('.', "/"),
            position,
            "lease checkpoint and table position of {shard}"
        );
        assert_eq!(
            again["positions"][format!("kinesink.it.{}", shard["shard_id"].as_str().unwrap())],
            position
        );
    }
    delete_stream(&stream).await;
}
