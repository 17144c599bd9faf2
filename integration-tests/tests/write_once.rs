//! Each object is written once by the worker: a replay of records already delivered (here a
//! lease reset to TRIM_HORIZON, the same as a zombie or a successor re-reading after a crash)
//! finds its keys already written (If-None-Match: * answered 412) and writes nothing again, so a
//! versioned bucket keeps one version per key (one ObjectCreated notification per object).
#![cfg(feature = "stand-ins")]

mod common;

use common::versioned_bucket::{create_versioned_bucket, versions_per_key};
use common::*;

const BUCKET: &str = "kinesink-it-versioned";

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_of_delivered_records_finds_its_objects_written_and_adds_no_version() {
    let stream = unique("it-write-once");
    create_stream(&stream, 1).await;
    create_versioned_bucket(BUCKET).await;
    produce(&stream, 300, &stream, false);
    // One object per run: the only cut is at the end of the run (no size or time cut), so the
    // replay cuts where the first run did and writes the same key with the same bytes.
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        "buffer_size_mib = 128\nbuffer_interval_s = 900",
    );
    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&cfg.path))
        .status
        .success()
    );
    let root = format!("{stream}/");
    let first = versions_per_key(BUCKET, &root).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        run(kinesink()
            .args([
                "leases",
                "reset",
                "shardId-000000000000",
                "--to",
                "trim-horizon",
                "--yes",
                "--config",
            ])
            .arg(&cfg.path))
        .status
        .success()
    );
    let replay = run(kinesink()
        .env("RUST_LOG", "info")
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(replay.status.success());
    let log = String::from_utf8_lossy(&replay.stderr);
    assert!(
        log.contains("object already written"),
        "the replay's write found the key written"
    );
    assert_eq!(
        versions_per_key(BUCKET, &root).await,
        first,
        "the replay added no version: each object was created once"
    );
    assert_exactly_once(&event_counts(&objects(BUCKET, &root).await), &stream, 300);
    delete_stream(&stream).await;
}
