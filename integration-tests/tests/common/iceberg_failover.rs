//! The failover scenario of the Iceberg destination, run against any catalog: three
//! `kinesink run` workers deliver a 4-shard stream (the project's fake Kinesis) into one table
//! while one worker is paused with SIGSTOP past the failover time and resumed (a zombie holding
//! stale positions and files), another is killed with -9 and restarted, and the lease table is
//! dropped. The table is then read back by pyiceberg: every event exactly once, every shard's
//! position in the snapshot summaries.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kinesink_integration_tests::fake_kinesis::FakeKinesis;

use super::worker_endpoints::{free_port, metric, scrape_metrics};
use super::{Config, Worker, aws, config, create_bucket, events, unique, wait_until};

/// The table's columns, as `[format] schema` gives them.
pub const SCHEMA: &str = "event_id string, n bigint";
/// The table's partition spec, as `destination.iceberg.partition_spec` gives it.
pub const PARTITION_SPEC: &str = "bucket(4, event_id)";

/// The catalog the scenario's workers deliver into, and how the test reads the table back.
pub trait FailoverCatalog {
    /// Appends `[destination.iceberg]` (the scenario's table, [`SCHEMA`], [`PARTITION_SPEC`],
    /// the warehouse in `bucket` of moto's S3) and `[format]` to a worker's config; every
    /// worker's config names the same table.
    fn configure(&self, cfg: &Config, bucket: &str);
    /// The table as pyiceberg reads it (the keys of `iceberg_table::read_back`).
    fn read_back(&self, bucket: &str) -> serde_json::Value;
}

/// What a passing scenario saw.
#[derive(Debug)]
pub struct FailoverReport {
    /// Events produced, each read back exactly once.
    pub events: u64,
    /// Data files the table's scan plans.
    pub files: u64,
    /// Snapshots of the table.
    pub snapshots: u64,
    /// "an Iceberg commit was fenced" lines of the workers (the killed one's too).
    pub fenced_lines: usize,
    /// `kinesink_iceberg_commits_total` of the workers alive at the end.
    pub commits: f64,
    /// `kinesink_iceberg_commits_fenced_total` of the workers alive at the end.
    pub fenced: f64,
    /// `kinesink_iceberg_commit_conflicts_total` of the workers alive at the end (conflicts
    /// left after iceberg-rust's own retries).
    pub conflicts: f64,
    /// From the first worker's start to every event being in the table.
    pub delivered_after: Duration,
}

/// Runs the scenario against `catalog`; panics naming what went wrong. `label` prefixes the
/// stream, lease table and bucket names.
pub async fn three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table(
    catalog: &dyn FailoverCatalog,
    label: &str,
) -> FailoverReport {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique(label);
    let bucket = unique(label).to_lowercase();
    fake.create_stream(&stream, 4);
    create_bucket(&bucket).await;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let configs: Vec<Config> = ports
        .iter()
        .enumerate()
        .map(|(w, port)| {
            let cfg = config(
                &stream,
                &stream,
                &bucket,
                "out",
                &format!("endpoint_url = \"{}\"", fake.url),
                "buffer_interval_s = 1",
            )
            .with_leases_extra(&format!(
                "worker_id = \"w{w}\"\nshard_sync_interval_ms = 1000"
            ));
            catalog.configure(&cfg, &bucket);
            let text = std::fs::read_to_string(&cfg.path).unwrap()
                + &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
            std::fs::write(&cfg.path, text).unwrap();
            cfg
        })
        .collect();
    let mut workers: Vec<Worker> = configs.iter().map(|c| Worker::start(&c.path)).collect();
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws().await);
    let started = Instant::now();
    let total: u64 = 8_000;
    let batches = 40;
    let per_batch = total / batches;
    for b in 0..batches {
        fake.append(&stream, events(&stream, b * per_batch..(b + 1) * per_batch));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // w2 paused past the failover time (3 s): its shards move; resumed, it is a zombie
        // with files and positions the table has moved past.
        if b == 6 || b == 22 {
            let signal = if b == 6 { "-STOP" } else { "-CONT" };
            let status = std::process::Command::new("kill")
                .args([signal, &workers[2].child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            eprintln!("kill {signal} w2 at {:?}", started.elapsed());
        }
        if b == 14 {
            dynamodb
                .delete_table()
                .table_name(&stream)
                .send()
                .await
                .expect("the lease table is dropped");
            eprintln!("dropped the lease table at {:?}", started.elapsed());
        }
        if b == 28 {
            let _ = workers[1].child.kill();
            let _ = workers[1].child.wait();
            workers[1] = Worker::start(&configs[1].path);
            eprintln!("kill -9 w1 at {:?}", started.elapsed());
        }
    }
    wait_until(
        "every event is in the table",
        Duration::from_secs(120),
        async || {
            let got = catalog.read_back(&bucket);
            got["rows"].as_u64().unwrap_or(0) >= total
        },
    )
    .await;
    let delivered_after = started.elapsed();
    // Long enough for a re-delivery to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (mut commits, mut fenced, mut conflicts) = (0.0, 0.0, 0.0);
    for port in &ports {
        let text = scrape_metrics(*port).unwrap_or_default();
        commits += metric(&text, "kinesink_iceberg_commits_total");
        fenced += metric(&text, "kinesink_iceberg_commits_fenced_total");
        conflicts += metric(&text, "kinesink_iceberg_commit_conflicts_total");
    }
    for w in &workers {
        w.sigterm();
    }
    let mut fenced_lines = 0;
    for mut w in workers {
        std::thread::sleep(Duration::from_millis(500));
        w.collect_lines();
        fenced_lines += w
            .seen
            .iter()
            .filter(|l| l.contains("an Iceberg commit was fenced"))
            .count();
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0), "a worker failed");
    }
    let got = catalog.read_back(&bucket);
    let mut expected: Vec<String> = (0..total).map(|i| format!("{stream}-{i}")).collect();
    expected.sort();
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["rows"], total);
    assert_eq!(got["ids"], serde_json::json!(expected));
    let positions = got["positions"].as_object().unwrap();
    assert_eq!(positions.len(), 4, "every shard's position: {positions:?}");
    let report = FailoverReport {
        events: total,
        files: got["files"].as_u64().unwrap_or(0),
        snapshots: got["snapshots"].as_u64().unwrap_or(0),
        fenced_lines,
        commits,
        fenced,
        conflicts,
        delivered_after,
    };
    eprintln!("{label}: {report:?}");
    report
}
