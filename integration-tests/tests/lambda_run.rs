//! `kinesink run` with the Lambda processor, against the stand-ins (`scripts/local-aws up`) and
//! a local Invoke stand-in: the worker sends every record through the function, delivers what it
//! returned exactly once and leaves out what it dropped, through a SIGTERM mid-run (records still
//! waiting for their batch's answer are invoked and delivered on the way out, or read again) and
//! a restart that resumes from the checkpoints.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::lambda_stand_in::{Answer, LambdaStandIn};
use common::*;
use kinesink_record_processing::lambda_event::decode_request;

const BUCKET: &str = "kinesink-it";

/// The event's number (`<prefix>-<n>`).
fn number(event_id: &str) -> u64 {
    event_id.rsplit('-').next().unwrap().parse().unwrap()
}

/// The function: drops every tenth event, and returns the others with `"via": "fn"` added.
fn drop_tenths_and_mark(body: &[u8]) -> Answer {
    let records: Vec<serde_json::Value> = decode_request(body)
        .unwrap()
        .records
        .into_iter()
        .map(|r| {
            let mut event: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
            if number(event["event_id"].as_str().unwrap()).is_multiple_of(10) {
                serde_json::json!({"recordId": r.record_id, "result": "Dropped"})
            } else {
                event["via"] = "fn".into();
                serde_json::json!({"recordId": r.record_id, "result": "Ok", "data": STANDARD.encode(event.to_string())})
            }
        })
        .collect();
    Answer::Payload(
        serde_json::json!({ "records": records })
            .to_string()
            .into_bytes(),
    )
}

/// Every delivered event id with how many times, checking each came through the function.
fn delivered(objects: &BTreeMap<String, (String, Vec<u8>)>) -> BTreeMap<String, usize> {
    for (key, (_, body)) in objects {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let event: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(event["via"], "fn", "{key}: not the function's output");
        }
    }
    event_counts(objects)
}

/// Appends `[processing.lambda]` naming the stand-in `function` (as `drop-tenths`), with the
/// batching lines `extra`.
fn with_lambda(cfg: &Config, function: &LambdaStandIn, extra: &str) {
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    std::fs::write(
        &cfg.path,
        format!(
            "{text}[processing.lambda]\nfunction = \"drop-tenths\"\nendpoint_url = \"{}\"\n{extra}",
            function.endpoint
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_delivers_each_record_the_function_returned_once_through_a_sigterm_and_a_restart() {
    let function = LambdaStandIn::start(|_, body, _| drop_tenths_and_mark(body)).await;
    let stream = unique("it-lambda");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let total = 6000;
    produce(&stream, total, &stream, false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        // Tiny reads: the stop comes long before the stream is read.
        "max_records = 5",
        "buffer_size_mib = 1\nbuffer_interval_s = 2",
    );
    // Small batches cut by size, and by time after a second.
    with_lambda(
        &cfg,
        &function,
        "buffer_size_mib = 0.2\nbuffer_interval_s = 1\nretries = 2\n",
    );

    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    worker.sigterm();
    let (code, stdout) = worker.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "SIGTERM is a clean exit: {stdout}");
    let before = delivered(&objects(BUCKET, &format!("{stream}/")).await);
    assert!(
        before.values().all(|c| *c == 1),
        "no duplicates after the graceful stop"
    );
    assert!(
        !before.is_empty() && (before.len() as u64) < total * 9 / 10,
        "the stop came mid-run and what was read was delivered: {} records",
        before.len()
    );

    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let counts = delivered(&objects(BUCKET, &format!("{stream}/")).await);
    let duplicates: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    let kept: Vec<String> = (0..total)
        .filter(|i| i % 10 != 0)
        .map(|i| format!("{stream}-{i}"))
        .collect();
    let missing: Vec<&String> = kept
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing (first 5): {missing:?}");
    assert_eq!(
        counts.len(),
        kept.len(),
        "nothing but the function's Ok records"
    );
    // Every record was sent to the function (some twice: those read again after the stop).
    let mut sent = std::collections::BTreeSet::new();
    for call in function.calls() {
        for r in decode_request(&call.body).unwrap().records {
            let event: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
            sent.insert(event["event_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        sent.len() as u64,
        total,
        "every record went through the function"
    );
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_that_ends_with_records_waiting_for_their_lambda_batch_invokes_them_then_ends() {
    let function = LambdaStandIn::start(|_, body, _| drop_tenths_and_mark(body)).await;
    let stream = unique("it-lambda-end");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    let k = kinesis_client(None).await;
    let parent = format!("{stream}-p");
    produce(&stream, 300, &parent, false);
    // The parent closes with its 300 records; the children get the next 300.
    split_first_shard(&k, &stream, u128::MAX / 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let children = format!("{stream}-c");
    produce(&stream, 300, &children, false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 1",
    );
    // Batches are cut only by size (3 MiB) or after 15 minutes: at the parent's end its records
    // are still waiting for their invocation.
    with_lambda(
        &cfg,
        &function,
        "buffer_size_mib = 3\nbuffer_interval_s = 900\n",
    );
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(
        out.status.success(),
        "the run ends: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = delivered(&objects(BUCKET, &format!("{stream}/")).await);
    let kept: Vec<String> = [&parent, &children]
        .iter()
        .flat_map(|prefix| {
            (0..300)
                .filter(|i| i % 10 != 0)
                .map(move |i| format!("{prefix}-{i}"))
        })
        .collect();
    let missing: Vec<&String> = kept
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing (first 5): {missing:?}");
    assert!(counts.values().all(|c| *c == 1), "no duplicates");
    assert_eq!(
        counts.len(),
        kept.len(),
        "nothing but the function's Ok records"
    );
    // The parent's records went in one invocation, cut at its end (neither size nor time could
    // cut it); none of them was sent twice.
    let parent_batches: Vec<usize> = function
        .calls()
        .iter()
        .map(|call| {
            decode_request(&call.body)
                .unwrap()
                .records
                .iter()
                .filter(|r| {
                    let event: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
                    event["event_id"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{parent}-"))
                })
                .count()
        })
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(
        parent_batches,
        [300],
        "the parent's records, invoked once at its end"
    );
    delete_stream(&stream).await;
}
