//! Two `kinesink run` workers delivering a 4-shard stream (the project's fake Kinesis) into one
//! Iceberg table of a REST catalog (`catalog = "rest"`: the stand-in
//! scripts/iceberg_rest_catalog.py, pyiceberg's SqlCatalog behind the REST routes, warehouse
//! in moto's S3), each reading shards of the lease table: every event is read
//! back exactly once by pyiceberg through the same REST catalog, and every shard's position is
//! in the table's snapshot summaries.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::Duration;

use common::iceberg_table::{RestCatalogServer, read_back_rest};
use common::*;
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_commit_every_event_once_to_a_rest_catalog_table() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("ice-rest");
    let bucket = unique("ice-rest").to_lowercase();
    fake.create_stream(&stream, 4);
    create_bucket(&bucket).await;
    let server = RestCatalogServer::start(&bucket);
    let configs: Vec<Config> = (0..2)
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
    for cfg in &configs {
        server.configure(
            cfg,
            &bucket,
            "events",
            "event_id string, n bigint",
            "bucket(4, event_id)",
        );
    }
    let mut workers: Vec<Worker> = configs.iter().map(|c| Worker::start(&c.path)).collect();
    // Both workers read shards (the lease table splits the four between them).
    for w in &mut workers {
        w.wait_for("lease taken; reading", 1, Duration::from_secs(30));
    }
    let total: u64 = 2_000;
    let batches = 10;
    let per_batch = total / batches;
    for b in 0..batches {
        fake.append(&stream, events(&stream, b * per_batch..(b + 1) * per_batch));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let uri = server.uri.clone();
    wait_until(
        "every event is in the table",
        Duration::from_secs(90),
        async || read_back_rest(&uri, "events")["rows"].as_u64().unwrap_or(0) >= total,
    )
    .await;
    // Long enough for a re-delivery to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for w in &workers {
        w.sigterm();
    }
    for w in workers {
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0), "a worker failed");
    }
    let got = read_back_rest(&server.uri, "events");
    let mut expected: Vec<String> = (0..total).map(|i| format!("{stream}-{i}")).collect();
    expected.sort();
    assert_eq!(got["duplicates"], serde_json::json!([]));
    assert_eq!(got["rows"], total);
    assert_eq!(got["ids"], serde_json::json!(expected));
    let positions = got["positions"].as_object().unwrap();
    assert_eq!(positions.len(), 4, "every shard's position: {positions:?}");
    eprintln!(
        "iceberg rest: {total} events once in {} files, {} snapshots",
        got["files"], got["snapshots"]
    );
}
