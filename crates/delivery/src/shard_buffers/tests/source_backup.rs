//! The source record backup: each record as read, in backup objects cut by the flush protocol
//! and named like data objects under the backup prefix. (The property test in `exactly_once`
//! runs the backup through owners, zombies and crashes.)

use std::collections::BTreeMap;

use super::*;

fn with_backup(layout: ObjectLayout, error_prefix: Option<&str>, backup: &str) -> ObjectLayout {
    let prefixes = OutputPrefixes::parse(Some("data/"), error_prefix)
        .unwrap()
        .with_backup(Some(backup))
        .unwrap();
    ObjectLayout {
        prefixes: Arc::new(prefixes),
        ..layout
    }
}

fn source(seq: u64, data: &str, arrival_ms: i64) -> BufferEvent {
    BufferEvent::Source(record(seq, data, arrival_ms))
}

/// Feeds the events (a record as read, then what was made of it), drains, and returns the
/// objects by key.
fn drained(layout: ObjectLayout, events: Vec<BufferEvent>) -> BTreeMap<String, ReadyObject> {
    let mut b = buffers(layout, 60_000, ResumeState::default());
    let mut events = events;
    events.push(BufferEvent::Drain);
    run_events(&mut b, events)
        .into_iter()
        .map(|o| (o.key.clone(), o))
        .collect()
}

#[test]
fn backup_objects_hold_each_record_as_read_under_the_backup_prefix_named_like_data_objects() {
    let objects = drained(
        with_backup(layout(), None, "source/"),
        vec![
            source(1, "as-read-1", T1100),
            BufferEvent::Record(record(1, "made-1a", T1100)),
            BufferEvent::Record(record(1, "made-1b", T1100)),
            source(2, "as-read-2", T1100),
            BufferEvent::Record(record(2, "made-2", T1100)),
        ],
    );
    let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "data/2026/11/22/11/demo-shardId-000000000007-1-0.gz",
            "source/2026/11/22/11/demo-backup-shardId-000000000007-1-0.gz",
        ]
    );
    let backup = &objects["source/2026/11/22/11/demo-backup-shardId-000000000007-1-0.gz"];
    assert!(backup.is_backup && !backup.is_error_output);
    assert_eq!(backup.record_count, 2);
    assert_eq!(gunzip(&backup.body), "as-read-1\nas-read-2\n");
    let data = &objects["data/2026/11/22/11/demo-shardId-000000000007-1-0.gz"];
    assert!(!data.is_backup);
    assert_eq!(gunzip(&data.body), "made-1a\nmade-1b\nmade-2\n");
}

#[test]
fn with_parquet_output_backup_objects_are_newline_delimited_and_compressed_like_the_error_output() {
    let layout = with_backup(parquet(layout(), "a int"), None, "source/");
    let objects = drained(
        layout,
        vec![
            source(1, "{\"a\":1}", T1100),
            BufferEvent::Record(record(1, "{\"a\":1}", T1100)),
        ],
    );
    let backup = objects
        .values()
        .find(|o| o.is_backup)
        .expect("a backup object");
    assert_eq!(
        backup.key,
        "source/2026/11/22/11/demo-backup-shardId-000000000007-1-0.gz"
    );
    assert_eq!(gunzip(&backup.body), "{\"a\":1}\n");
    assert!(
        objects
            .keys()
            .any(|k| k.starts_with("data/") && k.ends_with(".parquet"))
    );
}

#[test]
fn records_as_read_are_ignored_without_a_backup_prefix() {
    let objects = drained(
        layout(),
        vec![
            source(1, "as-read", T1100),
            BufferEvent::Record(record(1, "made", T1100)),
        ],
    );
    assert_eq!(objects.len(), 1);
    assert!(objects.values().all(|o| !o.is_backup));
}

#[test]
fn a_record_the_backup_prefix_cannot_place_goes_to_the_error_output_not_nowhere() {
    let layout = with_backup(
        layout(),
        Some("err/!{firehose:error-output-type}/"),
        "source/!{timestamp:yyyy}/",
    );
    let objects = drained(layout, vec![source(1, "as-read", i64::MAX)]);
    let failed = objects
        .values()
        .find(|o| o.is_error_output)
        .expect("an error object");
    assert_eq!(
        failed.error_output_type.as_deref(),
        Some("processing-failed")
    );
    let line: serde_json::Value = serde_json::from_str(gunzip(&failed.body).trim_end()).unwrap();
    assert_eq!(
        line["errorCode"],
        "DynamicPartitioning.PrefixEvaluationFailed"
    );
    assert!(
        line["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("backup prefix: "),
        "{line}"
    );
    assert!(objects.values().all(|o| !o.is_backup));
}

#[test]
fn a_backup_prefix_equal_to_the_data_prefix_never_gives_a_backup_object_a_data_objects_key() {
    let prefixes = OutputPrefixes::parse(Some("logs/"), None)
        .unwrap()
        .with_backup(Some("logs/"))
        .unwrap();
    let layout = ObjectLayout {
        prefixes: Arc::new(prefixes),
        ..layout()
    };
    let objects = drained(
        layout,
        vec![
            source(1, "as-read", T1100),
            BufferEvent::Record(record(1, "made", T1100)),
        ],
    );
    let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "logs/2026/11/22/11/demo-backup-shardId-000000000007-1-0.gz",
            "logs/2026/11/22/11/demo-shardId-000000000007-1-0.gz",
        ]
    );
    assert_eq!(gunzip(&objects[keys[1]].body), "made\n");
    assert_eq!(gunzip(&objects[keys[0]].body), "as-read\n");
}
