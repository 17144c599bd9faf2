//! End to end against the local stand-ins (`scripts/local-aws up`): the kinesink binary reads a
//! Kinesis stream and writes to S3, checkpoints in DynamoDB, and survives restarts and SIGTERM
//! without losing or duplicating a record.
#![cfg(feature = "stand-ins")]

mod common;

use std::time::Duration;

use common::*;

const BUCKET: &str = "kinesink-it";

#[tokio::test(flavor = "multi_thread")]
async fn every_record_of_every_shard_is_delivered_exactly_once_and_a_rerun_delivers_nothing_again()
{
    let stream = unique("it-once");
    create_stream(&stream, 3).await;
    create_bucket(BUCKET).await;
    produce(&stream, 1500, &stream, false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "max_records = 200",
        "buffer_size_mib = 1\nbuffer_interval_s = 60",
    );

    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let first = objects(BUCKET, &format!("{stream}/")).await;
    assert_exactly_once(&event_counts(&first), &stream, 1500);
    assert!(
        first.keys().all(|k| k.contains("/it-shardId-")),
        "keys are <prefix><name>-<shard>-<seq>-<subseq>: {first:?}"
    );

    // Restart: resumes from the checkpoints and writes nothing (same keys, same ETags).
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivered 0 records"),
        "a rerun must not re-deliver"
    );
    let second = objects(BUCKET, &format!("{stream}/")).await;
    let etags = |m: &std::collections::BTreeMap<String, (String, Vec<u8>)>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        etags(&first),
        etags(&second),
        "no object was added or rewritten"
    );

    // New records after the restart are delivered once, the old ones still once.
    produce(&stream, 300, &format!("{stream}-more"), false);
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let counts = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    let (old, new): (
        std::collections::BTreeMap<_, _>,
        std::collections::BTreeMap<_, _>,
    ) = counts
        .into_iter()
        .partition(|(k, _)| !k.starts_with(&format!("{stream}-more-")));
    assert_exactly_once(&old, &stream, 1500);
    assert_exactly_once(&new, &format!("{stream}-more"), 300);
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_delivers_and_checkpoints_what_was_read_and_a_restart_delivers_the_rest_exactly_once()
 {
    let stream = unique("it-term");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    let total = 6000;
    produce(&stream, total, &stream, false);
    // Tiny reads and a long interval: nothing is written before the signal, and reading all
    // 6000 records takes far longer than the second we wait.
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "max_records = 5",
        "buffer_interval_s = 300",
    );
    let mut worker = Worker::start(&cfg.path);
    worker.wait_for("lease taken", 2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        objects(BUCKET, &format!("{stream}/")).await.is_empty(),
        "nothing is written before the interval or the signal"
    );
    worker.sigterm();
    let (code, stdout) = worker.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "SIGTERM is a clean exit");
    assert!(stdout.contains("delivered"), "{stdout}");

    let before = event_counts(&objects(BUCKET, &format!("{stream}/")).await);
    assert!(
        !before.is_empty(),
        "what was read before SIGTERM is flushed on the way out"
    );
    assert!(
        (before.len() as u64) < total,
        "the signal came mid-run (read {} of {total})",
        before.len()
    );
    assert!(
        before.values().all(|c| *c == 1),
        "no duplicates after the graceful stop"
    );

    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    assert_exactly_once(
        &event_counts(&objects(BUCKET, &format!("{stream}/")).await),
        &stream,
        total,
    );
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kpl_aggregated_events_are_unpacked_and_delivered_exactly_once() {
    let stream = unique("it-kpl");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 3000, &stream, true);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_interval_s = 60",
    );
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    assert_exactly_once(
        &event_counts(&objects(BUCKET, &format!("{stream}/")).await),
        &stream,
        3000,
    );
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_stream_is_a_one_line_error_naming_the_key_with_exit_code_2() {
    let stream = unique("it-missing");
    create_bucket(BUCKET).await;
    let cfg = config(&stream, &stream, BUCKET, "x", "", "");
    let out = run(kinesink().args(["run", "--config"]).arg(&cfg.path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("source.stream") && stderr.contains(&stream),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_a_one_line_error_naming_the_key_with_exit_code_2() {
    let stream = unique("it-nobucket");
    create_stream(&stream, 1).await;
    let cfg = config(&stream, &stream, "kinesink-no-such-bucket", "x", "", "");
    let out = run(kinesink().args(["run", "--config"]).arg(&cfg.path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("destination.url") && stderr.contains("kinesink-no-such-bucket"),
        "{stderr}"
    );
    delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_memory_budget_flushes_shards_early_and_still_delivers_every_record_exactly_once() {
    let stream = unique("it-budget");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 8000, &stream, false);
    // Buffers would only be cut at the end of the run (128 MiB, 900 s); the 1 MiB budget must cut them.
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "max_records = 500",
        // Uncompressed output: the budget counts the memory buffers hold, and 8,000 gzipped
        // events would never reach 1 MiB.
        "buffer_size_mib = 128\nbuffer_interval_s = 900\nmemory_budget_mib = 1\n[format]\ntype = \"ndjson\"\ncompression = \"none\"",
    );
    let out = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("memory budget reached; flushing this shard early"),
        "the budget made shards flush"
    );
    let objects = raw_objects(BUCKET, &format!("{stream}/")).await;
    assert!(
        objects.len() > 2,
        "more than one object per shard: the budget cut buffers before the end ({} objects)",
        objects.len()
    );
    let largest = objects.values().map(|(_, body)| body.len()).max().unwrap();
    // At most the budget plus one GetRecords batch (500 events of ~300 bytes) is ever buffered.
    assert!(
        largest <= 1024 * 1024 + 500 * 400,
        "largest object holds {largest} bytes"
    );
    assert_exactly_once(&event_counts(&objects), &stream, 8000);
    delete_stream(&stream).await;
}
