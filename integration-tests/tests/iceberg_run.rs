//! `kinesink run` into an Iceberg table against the stand-ins: Kinesis and the lease table as
//! for objects, the table in a SQL catalog on SQLite with its warehouse in moto's S3. Read back
//! by pyiceberg: every event exactly once across a restart, after a kill -9 mid-delivery, and
//! with the lease table deleted (the table's positions are the truth); each shard's position
//! is in the snapshot summary, and the lease checkpoint never passes it.
#![cfg(feature = "stand-ins")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price double, quantity int";

/// A config delivering `stream` into `analytics.<table>` (warehouse `s3://<bucket>/warehouse`),
/// error output and progress under `s3://<bucket>/out`.
fn iceberg_config(stream: &str, leases: &str, bucket: &str, table: &str) -> Config {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let cfg = config(
        stream,
        leases,
        bucket,
        "out",
        "",
        "buffer_interval_s = 1\nbuffer_size_mib = 1",
    );
    let dir = cfg.dir.path().display().to_string();
    let text = std::fs::read_to_string(&cfg.path).unwrap()
        + &format!(
            r#"[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite://{dir}/catalog.db"
warehouse = "s3://{bucket}/warehouse"
database = "analytics"
table = "{table}"
partition_spec = "event_type"
endpoint_url = "{moto}"
[format]
type = "parquet"
schema = "{SCHEMA}"
"#
        );
    std::fs::write(&cfg.path, text).unwrap();
    cfg
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

/// The table as pyiceberg reads it: event id counts and each shard's newest position in the
/// snapshot summaries.
fn read_back(cfg_dir: &Path, bucket: &str, table: &str) -> serde_json::Value {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let script = format!(
        r#"
import json, collections
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///{dir}/catalog.db", warehouse="s3://{bucket}/warehouse",
    **{{"s3.endpoint": "{moto}", "s3.access-key-id": "test", "s3.secret-access-key": "test", "s3.region": "us-east-1"}})
table = catalog.load_table("analytics.{table}")
rows = table.scan().to_arrow()
ids = collections.Counter(rows.column("event_id").to_pylist())
# Each commit carries the positions of the shards it moved: the newest per shard wins.
positions = {{}}
for snapshot in sorted(table.snapshots(), key=lambda s: s.sequence_number):
    positions.update({{k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("kinesink.")}})
print(json.dumps({{
    "rows": rows.num_rows,
    "duplicates": sorted(i for i, n in ids.items() if n > 1)[:5],
    "ids": sorted(ids),
    "positions": positions,
    "files": len(list(table.scan().plan_files())),
}}))
"#,
        dir = cfg_dir.display()
    );
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "pyiceberg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

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
        ["kinesink.it.shardId-000000000000", "kinesink.it.shardId-000000000001"],
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
    dynamodb.delete_table().table_name(&leases).send().await.unwrap();
    // And the progress objects: the table alone remembers where each shard is.
    let s3 = s3().await;
    let progress = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("out/_kinesink/")
        .send()
        .await
        .unwrap();
    assert!(!progress.contents().is_empty(), "progress objects were written");
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
