//! The source record backup prefix (`destination.backup_prefix`): the data prefix's rules, no
//! partition keys, the destination's time zone.

use chrono::{TimeZone, Utc};
use kinesink_partitioning::{
    OutputPrefixes, OutputPrefixesError, PartitionKeys, PrefixInputs, TemplateErrorReason, Tz,
};

fn at_2026_12_03_10_30_utc() -> i64 {
    Utc.with_ymd_and_hms(2026, 12, 3, 10, 30, 0)
        .unwrap()
        .timestamp_millis()
}

fn backup_of(text: Option<&str>) -> Result<OutputPrefixes, OutputPrefixesError> {
    OutputPrefixes::parse(Some("data/"), None)
        .unwrap()
        .with_backup(text)
}

fn evaluate(prefixes: &OutputPrefixes, arrival_ms: i64) -> String {
    let keys = PartitionKeys::empty();
    prefixes
        .backup()
        .expect("backup on")
        .evaluate(&PrefixInputs {
            partition_keys: &keys,
            oldest_arrival_ms: arrival_ms,
            error_output_type: None,
            random_string_seed: b"seed",
        })
        .unwrap()
}

#[test]
fn no_or_an_empty_backup_prefix_means_no_backup() {
    assert!(backup_of(None).unwrap().backup().is_none());
    assert!(backup_of(Some("")).unwrap().backup().is_none());
}

#[test]
fn a_backup_prefix_without_timestamp_gets_the_default_hour_path_from_the_arrival_time() {
    let prefixes = backup_of(Some("source/")).unwrap();
    assert_eq!(
        evaluate(&prefixes, at_2026_12_03_10_30_utc()),
        "source/2026/12/03/10/"
    );
    let prefixes = backup_of(Some("source/!{timestamp:yyyy-MM-dd}/")).unwrap();
    assert_eq!(
        evaluate(&prefixes, at_2026_12_03_10_30_utc()),
        "source/2026-12-03/"
    );
}

#[test]
fn the_backup_prefix_follows_the_destinations_time_zone() {
    let prefixes = backup_of(Some("source/!{timestamp:HH}/"))
        .unwrap()
        .with_time_zone("Asia/Tokyo".parse::<Tz>().unwrap());
    assert_eq!(evaluate(&prefixes, at_2026_12_03_10_30_utc()), "source/19/");
}

#[test]
fn a_backup_prefix_naming_a_partition_key_is_refused_naming_the_key() {
    let e = backup_of(Some("source/!{partitionKeyFromQuery:country}/")).unwrap_err();
    assert_eq!(
        e,
        OutputPrefixesError::PartitionKeyInBackupPrefix("country".into())
    );
    assert!(e.to_string().starts_with("backup prefix, "), "{e}");
    assert!(e.to_string().contains("country"), "{e}");
}

#[test]
fn an_invalid_backup_prefix_is_refused_with_its_column() {
    for (text, column) in [("source/!{nope:x}/", 10), ("/source/", 1), ("a/../b/", 3)] {
        match backup_of(Some(text)) {
            Err(OutputPrefixesError::BackupPrefix(e)) => {
                assert_eq!(e.column, column, "{text}: {e}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    match backup_of(Some("s/!{firehose:error-output-type}/")) {
        Err(OutputPrefixesError::BackupPrefix(e)) => {
            assert_eq!(e.reason, TemplateErrorReason::ErrorOutputTypeInDataPrefix);
        }
        other => panic!("{other:?}"),
    }
}
