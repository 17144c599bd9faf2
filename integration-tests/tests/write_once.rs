//! Each object is written once by the worker: a replay of records already delivered (here a
//! lease reset to TRIM_HORIZON, the same as a zombie or a successor re-reading after a crash)
//! finds its keys already written (If-None-Match: * answered 412) and writes nothing again, so a
//! versioned bucket keeps one version per key (one ObjectCreated notification per object).
#![cfg(feature = "stand-ins")]

mod common;

use common::versioned_bucket::{create_versioned_bucket, versions_per_key};
use common::*;

const BUCKET: &str = "kinesink-it-versioned";

/// [`versions_per_key`] of the data objects under `root`: the per-shard progress object under
/// `<root>_kinesink/` is overwritten by design (a compare-and-swap, one version per write).
async fn data_versions_per_key(root: &str) -> std::collections::BTreeMap<String, usize> {
    versions_per_key(BUCKET, root)
        .await
        .into_iter()
        .filter(|(key, _)| !key.starts_with(&format!("{root}_kinesink/")))
        .collect()
}

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
    let first = data_versions_per_key(&root).await;
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
    // Objects (written, or found written) are logged at DEBUG.
    let replay = run(kinesink()
        .env(
            "RUST_LOG",
            "info,kinesink_worker::shard_task=debug,kinesink_worker::shard_writer=debug",
        )
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(replay.status.success());
    let log = String::from_utf8_lossy(&replay.stderr);
    assert!(
        log.contains("object already written"),
        "the replay's write found the key written"
    );
    assert_eq!(
        data_versions_per_key(&root).await,
        first,
        "the replay added no version: each object was created once"
    );
    assert_exactly_once(&event_counts(&objects(BUCKET, &root).await), &stream, 300);
    delete_stream(&stream).await;
}

/// A replay that cuts by size differently (here `buffer_size_mib` 1 then 5, after a lease reset;
/// the same happens after a rolling deploy with a new config and a crash between writing an
/// object and checkpointing it) writes an object under a key already written with fewer
/// records. Taking that key as done would move the checkpoint past records no object holds;
/// the object goes under its alternative key instead, so every record is delivered (some twice).
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_cutting_by_size_differently_writes_its_object_under_the_alternative_key_and_loses_no_record()
 {
    let stream = unique("it-recut");
    create_stream(&stream, 1).await;
    create_versioned_bucket(BUCKET).await;
    // About 1.4 MiB of events: the first run cuts at 1 MiB and at its end.
    produce(&stream, 5000, &stream, false);
    let config_with = |size_mib: u32| {
        config(
            &stream,
            &stream,
            BUCKET,
            &stream,
            "",
            &format!("buffer_size_mib = {size_mib}\nbuffer_interval_s = 900"),
        )
    };
    let small = config_with(1);
    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&small.path))
        .status
        .success()
    );
    let root = format!("{stream}/");
    let first = data_versions_per_key(&root).await;
    assert!(first.len() >= 2, "the first run cut by size: {first:?}");
    // More events, then a replay from the start with 5 MiB objects: one object from the first
    // record, the key of the first run's first object, holding every event.
    let later = format!("{stream}-later");
    produce(&stream, 4000, &later, false);
    let large = config_with(5);
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
            .arg(&large.path))
        .status
        .success()
    );
    // Objects (written, or found written) are logged at DEBUG.
    let replay = run(kinesink()
        .env(
            "RUST_LOG",
            "info,kinesink_worker::shard_task=debug,kinesink_worker::shard_writer=debug",
        )
        .args(["run", "--until-caught-up", "--config"])
        .arg(&large.path));
    assert!(replay.status.success());
    let counts = event_counts(&objects(BUCKET, &root).await);
    let missing: Vec<String> = (0..5000)
        .map(|i| format!("{stream}-{i}"))
        .chain((0..4000).map(|i| format!("{later}-{i}")))
        .filter(|id| !counts.contains_key(id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing (first 5): {missing:?}");
    let log = String::from_utf8_lossy(&replay.stderr);
    assert!(
        log.contains("alternative key"),
        "the replay's object went under its alternative key: {log}"
    );
    let after = data_versions_per_key(&root).await;
    assert_eq!(
        after.len(),
        first.len() + 1,
        "the replay added one object, under the alternative key: {after:?}"
    );
    assert!(
        after.iter().all(|(_, v)| *v == 1),
        "no data object was overwritten: {after:?}"
    );
    delete_stream(&stream).await;
}
