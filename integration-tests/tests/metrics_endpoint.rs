//! `/metrics`, `/healthz` and `/readyz` of a running worker, scraped during a run against the
//! stand-ins: the delivery counters match what is in S3.
#![cfg(feature = "stand-ins")]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

const BUCKET: &str = "kinesink-it";

/// (status code, body) of `GET path`.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// Sum of a metric's samples (all label sets) in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// A 2-shard stream named after `name` with `events` produced, and a worker reading it with
/// `extra` after `[destination]`'s keys, serving `/metrics` on the port returned.
async fn serving_metrics(name: &str, events: u64, extra: &str) -> (String, u16, Config, Worker) {
    let stream = unique(name);
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    if events > 0 {
        produce(&stream, events, &stream, false);
    }
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
        "",
        &format!("buffer_interval_s = 1\n{extra}[metrics]\nlisten = \"127.0.0.1:{port}\""),
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("serving /metrics", 1, Duration::from_secs(30));
    (stream, port, cfg, worker)
}

#[tokio::test(flavor = "multi_thread")]
async fn scraped_counters_match_what_was_delivered() {
    let (stream, port, _cfg, worker) = serving_metrics("it-metrics", 700, "").await;
    assert_eq!(get(port, "/healthz").0, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: usize = event_counts(&objects(BUCKET, &format!("{stream}/")).await)
            .values()
            .sum();
        if delivered == 700 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {delivered} of 700 delivered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (code, text) = get(port, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        metric(&text, "kinesink_delivery_to_s3_records_total"),
        700.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "kinesink_data_read_from_kinesis_stream_records_total"
        ),
        700.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "kinesink_incoming_records_total"),
        700.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "kinesink_incoming_bytes_total"),
        metric(&text, "kinesink_data_read_from_kinesis_stream_bytes_total"),
        "no aggregation here: user bytes equal Kinesis bytes"
    );
    let objects_written = objects(BUCKET, &format!("{stream}/")).await.len() as f64;
    assert_eq!(
        metric(&text, "kinesink_delivery_to_s3_success_total"),
        objects_written
    );
    assert_eq!(metric(&text, "kinesink_leases_owned"), 2.0);
    assert!(metric(&text, "kinesink_checkpoint_writes_total") >= 2.0);
    assert!(
        text.contains("kinesink_active_partitions{"),
        "per-shard partition gauge: {text}"
    );
    assert_eq!(get(port, "/readyz").0, 200);
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn processing_and_backup_counters_count_what_the_transform_passed_on_and_what_was_backed_up()
{
    let (stream, port, _cfg, worker) = serving_metrics(
        "it-metrics-proc",
        500,
        "backup_prefix = \"backup/\"\n[processing]\ntransform = '{id: .event_id}'\n",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (_, text) = get(port, "/metrics");
        if metric(&text, "kinesink_delivery_to_s3_records_total") == 500.0
            && metric(&text, "kinesink_backup_to_s3_records_total") == 500.0
        {
            break text;
        }
        assert!(Instant::now() < deadline, "not all delivered: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let data = objects(BUCKET, &format!("{stream}/2")).await;
    let backup = objects(BUCKET, &format!("{stream}/backup/")).await;
    assert_eq!(
        metric(&text, "kinesink_delivery_to_s3_success_total"),
        data.len() as f64,
        "backup objects are not counted as deliveries"
    );
    assert_eq!(
        metric(&text, "kinesink_backup_to_s3_success_total"),
        backup.len() as f64
    );
    assert_eq!(
        metric(&text, "kinesink_succeed_processing_records_total"),
        500.0
    );
    let lines = |objects: &std::collections::BTreeMap<String, (String, Vec<u8>)>| {
        objects
            .values()
            .map(|(_, plain)| plain.iter().filter(|b| **b == b'\n').count())
            .sum::<usize>()
    };
    let plain_bytes = |objects: &std::collections::BTreeMap<String, (String, Vec<u8>)>| {
        objects
            .values()
            .map(|(_, plain)| plain.len())
            .sum::<usize>()
    };
    assert_eq!(
        metric(&text, "kinesink_succeed_processing_bytes_total"),
        (plain_bytes(&data) - lines(&data)) as f64,
        "the bytes of the records the transform made, as delivered (one line each)"
    );
    assert!(metric(&text, "kinesink_execute_processing_success_total") >= 1.0);
    assert_eq!(lines(&backup), 500, "each record as read, backed up");
    let backup_written: usize = raw_objects(BUCKET, &format!("{stream}/backup/"))
        .await
        .values()
        .map(|(_, body)| body.len())
        .sum();
    assert_eq!(
        metric(&text, "kinesink_backup_to_s3_bytes_total"),
        backup_written as f64
    );
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_metrics_port_is_a_one_line_error_naming_the_key() {
    let stream = unique("it-port");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\""),
    );
    let out = run(kinesink().args(["run", "--config"]).arg(&cfg.path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metrics.listen") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
    delete_stream(&stream).await;
}

/// A CloudWatch Logs subscription envelope, gzip-compressed as CloudWatch Logs sends it.
fn envelope(message_type: &str, messages: &[&str]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1_700_000_000_000_u64, "message": m}))
        .collect();
    let body = serde_json::json!({
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/app",
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": events,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_counters_count_control_messages_transform_drops_and_processing_time() {
    let (stream, port, _cfg, worker) = serving_metrics(
        "it-metrics-cwl",
        0,
        "[processing]\ndecompression = \"gzip\"\ncloudwatch_logs_message_extraction = true\n\
         transform = 'if .event_id == \"m2\" then empty else . end'\n",
    )
    .await;
    // The envelopes go in while the worker reads.
    let k = kinesis_client(None).await;
    for body in [
        envelope(
            "DATA_MESSAGE",
            &[r#"{"event_id":"m1"}"#, r#"{"event_id":"m2"}"#],
        ),
        envelope(
            "CONTROL_MESSAGE",
            &["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
        ),
        envelope(
            "DATA_MESSAGE",
            &[r#"{"event_id":"m3"}"#, r#"{"event_id":"m4"}"#],
        ),
    ] {
        k.put_record()
            .stream_name(&stream)
            .partition_key("k")
            .data(aws_sdk_kinesis::primitives::Blob::new(body))
            .send()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (_, text) = get(port, "/metrics");
        if metric(&text, "kinesink_delivery_to_s3_records_total") == 3.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "not all delivered: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["m1", "m3", "m4"]
    );
    assert_eq!(
        metric(
            &text,
            "kinesink_cloudwatch_logs_control_messages_dropped_total"
        ),
        1.0,
        "the CONTROL_MESSAGE envelope, dropped and counted"
    );
    assert_eq!(
        metric(&text, "kinesink_transform_dropped_records_total"),
        1.0,
        "m2, dropped by the transform (no output) and counted"
    );
    assert_eq!(
        metric(&text, "kinesink_succeed_processing_records_total"),
        3.0
    );
    assert!(metric(&text, "kinesink_execute_processing_success_total") >= 1.0);
    assert!(
        metric(&text, "kinesink_execute_processing_microseconds_total") > 0.0,
        "the processing time of the batches is counted"
    );
    worker.sigterm();
    assert_eq!(worker.wait(Duration::from_secs(30)).0, Some(0));
    delete_stream(&stream).await;
}
