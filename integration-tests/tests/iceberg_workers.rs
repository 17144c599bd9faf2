//! Three `kinesink run` workers delivering a 4-shard stream (the project's fake Kinesis) into
//! one Iceberg table (SQL catalog on SQLite, warehouse in moto's S3) while one worker is paused
//! with SIGSTOP past the failover time and resumed (a zombie holding stale positions and
//! files), another is killed with -9 and restarted, and the lease table is dropped: every event
//! is read back by pyiceberg exactly once, and every shard's position is in the table.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::{Duration, Instant};

use common::iceberg_table::read_back;
use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_with_a_zombie_a_kill_9_and_a_dropped_lease_table_commit_every_event_once() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("ice-workers");
    let bucket = unique("ice-workers").to_lowercase();
    fake.create_stream(&stream, 4);
    create_bucket(&bucket).await;
    // One catalog database for the three workers (the catalog of the first config).
    let configs: Vec<Config> = (0..3)
        .map(|w| {
            config(
                &stream,
                &stream,
                &bucket,
                "out",
                &format!("endpoint_url = \"{}\"", fake.url),
                "buffer_interval_s = 1",
            )
            .with_leases_extra(&format!(
                "worker_id = \"w{w}\"\nshard_sync_interval_ms = 1000"
            ))
        })
        .collect();
    let catalog_dir = configs[0].dir.path().to_path_buf();
    for cfg in &configs {
        common::iceberg_table::iceberg_section(
            cfg,
            &catalog_dir.display().to_string(),
            &bucket,
            "events",
            "event_id string, n bigint",
            "bucket(4, event_id)",
            &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        );
    }
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
    let catalog = catalog_dir.clone();
    let bucket_name = bucket.clone();
    wait_until(
        "every event is in the table",
        Duration::from_secs(120),
        async || {
            let got = read_back(&catalog, &bucket_name, "events");
            got["rows"].as_u64().unwrap_or(0) >= total
        },
    )
    .await;
    // Long enough for a re-delivery to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for w in &workers {
        w.sigterm();
    }
    let mut fenced = 0;
    for mut w in workers {
        std::thread::sleep(Duration::from_millis(500));
        w.collect_lines();
        fenced += w
            .seen
            .iter()
            .filter(|l| l.contains("an Iceberg commit was fenced"))
            .count();
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0), "a worker failed");
    }
    let got = read_back(&catalog_dir, &bucket, "events");
    let mut expected: Vec<String> = (0..total).map(|i| format!("{stream}-{i}")).collect();
    expected.sort();
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["rows"], total);
    assert_eq!(got["ids"], serde_json::json!(expected));
    let positions = got["positions"].as_object().unwrap();
    assert_eq!(positions.len(), 4, "every shard's position: {positions:?}");
    eprintln!(
        "iceberg workers: {total} events once in {} files, {} snapshots, {fenced} fenced commits",
        got["files"], got["snapshots"]
    );
}
