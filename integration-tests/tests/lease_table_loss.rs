//! The lease table is a cache; the destination holds the truth. A lease row deleted by hand, or
//! the whole lease table dropped mid-run, is recreated from the per-shard progress object kept
//! in the destination (`<root>_kinesink/<name>/progress/<shard id>.json`) and delivery resumes
//! at the delivered position: no record twice, none skipped.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::fault_proxy::{FaultProxy, FaultRates, Service};
use common::*;
use kinesink_delivery::{S3Sink, S3SinkOptions};
use kinesink_integration_tests::fake_kinesis::FakeKinesis;

const BUCKET: &str = "kinesink-it";

/// shard id → the `checkpoint` attribute of its lease row (rows only; heartbeats left out).
async fn lease_checkpoints(table: &str) -> BTreeMap<String, String> {
    let d = aws_sdk_dynamodb::Client::new(&aws().await);
    let Ok(out) = d
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
    else {
        return BTreeMap::new();
    };
    out.items()
        .iter()
        .filter_map(
            |item| match (item.get("leaseKey"), item.get("checkpoint")) {
                (Some(AttributeValue::S(k)), Some(AttributeValue::S(c))) if !k.starts_with('!') => {
                    Some((k.clone(), c.clone()))
                }
                _ => None,
            },
        )
        .collect()
}

async fn delivered(stream: &str) -> usize {
    event_counts(&objects(BUCKET, &format!("{stream}/")).await)
        .values()
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_objects_in_the_s3_stand_in_are_written_with_compare_and_swap() {
    create_bucket(BUCKET).await;
    let sink = S3Sink::new(
        s3().await,
        BUCKET,
        format!("{}/", unique("it-progress-cas")),
        S3SinkOptions::default(),
    );
    kinesink_delivery::progress_store_conformance(&sink).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_conditional_writes_progress_objects_are_written_unconditionally() {
    use kinesink_delivery::{ProgressCondition, ProgressStore, ProgressTag, ProgressWrite};
    create_bucket(BUCKET).await;
    let sink = S3Sink::new(
        s3().await,
        BUCKET,
        format!("{}/", unique("it-progress-plain")),
        S3SinkOptions {
            conditional_writes: false,
            ..S3SinkOptions::default()
        },
    );
    let key = "_kinesink/p/progress/shardId-000000000000.json";
    let first = sink
        .write_progress(key, b"{\"v\":1}".to_vec(), &ProgressCondition::Absent)
        .await
        .unwrap();
    assert!(matches!(first, ProgressWrite::Written(_)), "{first:?}");
    // With conditions both writes below would be refused (the object exists; the tag is stale):
    // a store without conditional writes must still take them.
    for (body, condition) in [
        (b"{\"v\":2}".to_vec(), ProgressCondition::Absent),
        (
            b"{\"v\":3}".to_vec(),
            ProgressCondition::Unchanged(ProgressTag("\"stale\"".to_owned())),
        ),
    ] {
        let written = sink.write_progress(key, body, &condition).await.unwrap();
        assert!(matches!(written, ProgressWrite::Written(_)), "{written:?}");
    }
    let (body, _) = sink.read_progress(key).await.unwrap().unwrap();
    assert_eq!(body, b"{\"v\":3}");
}

/// The defect of issue 22: a lease row deleted by hand came back within 2 s at TRIM_HORIZON and
/// 557 ids were delivered twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_row_deleted_by_hand_resumes_at_the_delivered_position_without_duplicates() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-row-lost");
    fake.create_stream(&stream, 2);
    create_bucket(BUCKET).await;
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        &format!("endpoint_url = \"{}\"", fake.url),
        "buffer_interval_s = 1",
    )
    .with_leases_extra("shard_sync_interval_ms = 1000");
    let mut worker = Worker::start(&cfg.path);
    // Three rounds, each delivered before the next: several objects per shard, cut by time. A
    // re-read from TRIM_HORIZON gets them in one batch and cuts differently: duplicates.
    for round in 0..3 {
        fake.append(&stream, events(&stream, round * 200..(round + 1) * 200));
        wait_until(
            "the round is delivered",
            Duration::from_secs(60),
            async || delivered(&stream).await >= (round as usize + 1) * 200,
        )
        .await;
    }
    wait_until(
        "both shards are checkpointed",
        Duration::from_secs(30),
        async || {
            let c = lease_checkpoints(&stream).await;
            c.len() == 2 && c.values().all(|c| c.bytes().all(|b| b.is_ascii_digit()))
        },
    )
    .await;
    let shard = "shardId-000000000001";
    let before = lease_checkpoints(&stream).await[shard].clone();
    aws_sdk_dynamodb::Client::new(&aws().await)
        .delete_item()
        .table_name(&stream)
        .key("leaseKey", AttributeValue::S(shard.into()))
        .send()
        .await
        .unwrap();
    let mut recreated = None;
    wait_until(
        "the deleted row is recreated",
        Duration::from_secs(30),
        async || {
            recreated = lease_checkpoints(&stream).await.get(shard).cloned();
            recreated.is_some()
        },
    )
    .await;
    let recreated = recreated.unwrap();
    fake.append(&stream, events(&stream, 600..900));
    wait_until(
        "all 900 events are delivered",
        Duration::from_secs(60),
        async || delivered(&stream).await >= 900,
    )
    .await;
    // Long enough for a re-read from TRIM_HORIZON to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(3)).await;
    worker.sigterm();
    worker.collect_lines();
    let warned = worker
        .seen
        .iter()
        .any(|l| l.contains("WARN") && l.contains("lease row was missing") && l.contains(shard));
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "lease row deleted by hand: row recreated at {recreated} (delivered position {before}), delivered {} ids, duplicates {duplicates}",
        counts.len()
    );
    assert!(
        recreated.bytes().all(|b| b.is_ascii_digit()),
        "the row was recreated at {recreated}, not at the delivered position {before}"
    );
    assert!(warned, "the recreation is logged at WARN, naming the shard");
    assert_exactly_once(&counts, &stream, 900);
}

fn is_progress_request(path: &str) -> bool {
    path.contains("/_kinesink/")
}

/// 3 workers, 4 shards, events produced throughout; S3 and DynamoDB behind the fault proxy; the
/// whole lease table dropped twice, a worker paused (SIGSTOP) across the first drop and resumed
/// as a zombie, and a worker killed with -9 in between.
#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_whole_lease_table_mid_run_with_three_workers_loses_and_duplicates_nothing() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-table-lost");
    fake.create_stream(&stream, 4);
    create_bucket(BUCKET).await;
    let rates = FaultRates {
        server_error: 0.04,
        throttle: 0.03,
        lost_response: 0.02,
        dropped_connection: 0.02,
        applies_to: None,
    };
    let s3_proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        rates,
    )
    .await;
    let ddb_proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap(),
        Service::DynamoDb,
        rates,
    )
    .await;
    let configs: Vec<Config> = (0..3)
        .map(|w| {
            config(
                &stream,
                &stream,
                BUCKET,
                &stream,
                &format!("endpoint_url = \"{}\"", fake.url),
                &format!("endpoint_url = \"{}\"\nbuffer_interval_s = 1", s3_proxy.url),
            )
            .with_leases_extra(&format!(
                "endpoint_url = \"{}\"\nworker_id = \"w{w}\"\nshard_sync_interval_ms = 1000",
                ddb_proxy.url
            ))
        })
        .collect();
    let mut workers: Vec<Worker> = configs.iter().map(|c| Worker::start(&c.path)).collect();
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws().await);
    let started = Instant::now();
    let total: u64 = 12_000;
    let batches = 60;
    let per_batch = total / batches;
    let mut drops = 0;
    let mut kills = 0;
    let mut retired_lines: Vec<String> = Vec::new();
    for b in 0..batches {
        fake.append(&stream, events(&stream, b * per_batch..(b + 1) * per_batch));
        tokio::time::sleep(Duration::from_millis(300)).await;
        if b == 15 || b == 40 {
            dynamodb
                .delete_table()
                .table_name(&stream)
                .send()
                .await
                .expect("the lease table is dropped");
            drops += 1;
            eprintln!("dropped the lease table at {:?}", started.elapsed());
        }
        // A zombie across a drop: w2 is paused past the failover time while the table is
        // dropped and recreated, then resumes with the leases it held before.
        if b == 10 || b == 25 {
            let signal = if b == 10 { "-STOP" } else { "-CONT" };
            let status = std::process::Command::new("kill")
                .args([signal, &workers[2].child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            eprintln!("kill {signal} w2 at {:?}", started.elapsed());
        }
        if b == 28 {
            let _ = workers[1].child.kill();
            let _ = workers[1].child.wait();
            // Its lines count too (it may be the one that recreated the rows).
            workers[1].collect_lines();
            retired_lines.append(&mut workers[1].seen);
            workers[1] = Worker::start(&configs[1].path);
            kills += 1;
            eprintln!("kill -9 w1 at {:?}", started.elapsed());
        }
    }
    wait_until(
        "every event is delivered",
        Duration::from_secs(120),
        async || delivered(&stream).await >= total as usize,
    )
    .await;
    // Long enough for a re-read from TRIM_HORIZON to show up as duplicates.
    tokio::time::sleep(Duration::from_secs(4)).await;
    s3_proxy.set_faults(false);
    ddb_proxy.set_faults(false);
    for w in &workers {
        w.sigterm();
    }
    let mut recreated = retired_lines
        .iter()
        .filter(|l| l.contains("lease row was missing"))
        .count();
    let mut table_missing = retired_lines
        .iter()
        .filter(|l| l.contains("lease table is missing"))
        .count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while workers
        .iter_mut()
        .any(|w| w.child.try_wait().unwrap().is_none())
    {
        assert!(
            Instant::now() < deadline,
            "workers did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The reader threads see the last lines a moment after the exit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for mut w in workers {
        w.collect_lines();
        recreated += w
            .seen
            .iter()
            .filter(|l| l.contains("lease row was missing"))
            .count();
        table_missing += w
            .seen
            .iter()
            .filter(|l| l.contains("lease table is missing"))
            .count();
        let (code, _) = w.wait(Duration::from_secs(60));
        assert_eq!(code, Some(0), "a worker exited with {code:?}");
    }
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let missing = (0..total)
        .filter(|i| !counts.contains_key(&format!("{stream}-{i}")))
        .count();
    let recorded = s3_proxy.recorded.lock().unwrap().clone();
    let progress_puts = recorded
        .iter()
        .filter(|r| r.method == "PUT" && is_progress_request(&r.path_and_query))
        .count();
    let progress_gets = recorded
        .iter()
        .filter(|r| r.method == "GET" && is_progress_request(&r.path_and_query))
        .count();
    let data_puts = recorded
        .iter()
        .filter(|r| r.method == "PUT" && !is_progress_request(&r.path_and_query))
        .count();
    let ddb_writes = ddb_proxy
        .recorded
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("x-amz-target") && v.ends_with("UpdateItem"))
        })
        .count();
    eprintln!(
        "lease table dropped {drops}x, 1 zombie across a drop, kill -9 {kills}x: produced {total}, delivered {}, duplicates {duplicates}, missing {missing}; \
         lease rows recreated {recreated}, table-missing warnings {table_missing}; S3 requests: progress PUT {progress_puts}, progress GET {progress_gets}, data PUT {data_puts}; DynamoDB UpdateItem {ddb_writes}; faults S3 {} DynamoDB {}",
        counts.len(),
        s3_proxy.counters.faults(),
        ddb_proxy.counters.faults()
    );
    assert!(
        table_missing >= 1,
        "a worker noticed the dropped table and created it again"
    );
    assert!(
        recreated >= 4,
        "every shard's row was recreated from its progress ({recreated} WARN lines)"
    );
    assert_eq!(duplicates, 0, "duplicates");
    assert_eq!(missing, 0, "missing");
    assert_exactly_once(&counts, &stream, total);
}

/// The body of `GET path` on the worker's metrics listener.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// Sum of a metric's samples (all label sets) in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// What the progress objects cost, counted by a proxy in front of S3: one PutObject per fenced
/// lease write (flush progress, checkpoint), one GetObject and one PutObject per lease take.
#[tokio::test(flavor = "multi_thread")]
async fn each_fenced_lease_write_costs_one_progress_object_put() {
    let fake = FakeKinesis::start("127.0.0.1:0", false).await;
    let stream = unique("it-progress-cost");
    fake.create_stream(&stream, 2);
    create_bucket(BUCKET).await;
    let s3_proxy = FaultProxy::start(
        &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
        Service::S3,
        FaultRates::default(),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        &format!("endpoint_url = \"{}\"", fake.url),
        &format!(
            "endpoint_url = \"{}\"\nbuffer_interval_s = 1\n[metrics]\nlisten = \"127.0.0.1:{port}\"",
            s3_proxy.url
        ),
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("serving /metrics", 1, Duration::from_secs(30));
    for round in 0..10 {
        fake.append(&stream, events(&stream, round * 100..(round + 1) * 100));
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    wait_until(
        "all 1000 events are delivered",
        Duration::from_secs(60),
        async || delivered(&stream).await >= 1000,
    )
    .await;
    // Idle: every buffer flushed and checkpointed, nothing in flight.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = http_get(port, "/metrics");
    let checkpoints = metric(&text, "kinesink_checkpoint_writes_total");
    let flush_progress = metric(&text, "kinesink_flush_progress_writes_total");
    let progress_writes = metric(&text, "kinesink_progress_object_writes_total");
    let takes = metric(&text, "kinesink_lease_takes_total");
    let recorded = s3_proxy.recorded.lock().unwrap().clone();
    let count = |method: &str| {
        recorded
            .iter()
            .filter(|r| r.method == method && is_progress_request(&r.path_and_query))
            .count() as u64
    };
    let (puts, gets) = (count("PUT"), count("GET"));
    let data_puts = recorded
        .iter()
        .filter(|r| r.method == "PUT" && !is_progress_request(&r.path_and_query))
        .count();
    eprintln!(
        "progress objects: {puts} PUT, {gets} GET for {checkpoints} checkpoints + {flush_progress} flush-progress lease writes and {takes} lease takes; data PUT {data_puts}; \
         PUT per shard-wide flush {:.2}",
        (puts - takes) as f64 / checkpoints as f64
    );
    assert_eq!(
        progress_writes,
        checkpoints + flush_progress,
        "one progress object write before each fenced lease write"
    );
    assert_eq!(puts, progress_writes + takes, "plus one claim per take");
    assert_eq!(
        gets,
        takes + 2,
        "a read per take, and one per shard at the first start"
    );
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
}
