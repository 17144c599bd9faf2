//! A table destination's data files: each record in the partition its table's partitioner
//! gives, keyed under the partition's path with the partition carried to the shell; records the
//! partitioner refuses, or that are not JSON, go to the error output; the active-partition
//! limit counts table partitions.

use super::*;
use crate::table_partition::{TablePartition, TablePartitionFailure, TablePartitioner};

/// Partitions by the text of `kind`: `data/kind=<kind>/`, the values being the text itself;
/// refuses a record without a `kind`.
#[derive(Debug)]
struct ByKind;

impl TablePartitioner for ByKind {
    fn partition_of(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        let kind = record
            .text_at_path(&["kind".to_owned()])
            .map(|text| text.into_owned())
            .ok_or_else(|| TablePartitionFailure {
                error_output_type: "format-conversion-failed".into(),
                error_code: "Iceberg.PartitionSource".into(),
                message: "column kind: no value".into(),
            })?;
        Ok(TablePartition::new(
            format!("data/kind={kind}/").into(),
            Arc::new(kind),
        ))
    }
}

fn table_layout(max_active: usize) -> ObjectLayout {
    let base = parquet(layout(), "kind string, n int");
    ObjectLayout {
        table: Some(Arc::new(crate::SingleTable::new("db.t", Arc::new(ByKind)))),
        // Neither applies to a table's data files.
        prefixes: Arc::new(
            OutputPrefixes::parse(Some("ignored/!{timestamp:yyyy}/"), Some("err/")).unwrap(),
        ),
        partition_limit: PartitionLimit {
            max_active,
            action: PartitionLimitAction::ErrorOutput,
        },
        ..base
    }
}

#[test]
fn each_record_goes_to_its_table_partition_keyed_under_the_partition_path_with_its_values() {
    let mut b = buffers(table_layout(10), 60_000, ResumeState::default());
    let events = [
        (1, r#"{"kind":"click","n":1}"#),
        (2, r#"{"kind":"view","n":2}"#),
        (3, r#"{"kind":"click","n":3}"#),
    ]
    .map(|(seq, data)| BufferEvent::Record(record(seq, data, T1100)));
    let mut out = run_events(&mut b, events.into_iter().chain([BufferEvent::Drain]));
    out.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = out.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "data/kind=click/demo-shardId-000000000007-1-0.parquet",
            "data/kind=view/demo-shardId-000000000007-2-0.parquet"
        ]
    );
    assert_eq!(out[0].record_count, 2);
    let values = |o: &ReadyObject| {
        let partition = o.table_partition.as_ref().expect("a table data file");
        partition.values().downcast_ref::<String>().cloned()
    };
    assert_eq!(values(&out[0]).as_deref(), Some("click"));
    assert_eq!(values(&out[1]).as_deref(), Some("view"));
    assert!(out.iter().all(|o| !o.is_error_output));
}

#[test]
fn a_record_the_partitioner_refuses_or_that_is_not_json_goes_to_the_error_output_with_its_bytes() {
    let mut b = buffers(table_layout(10), 60_000, ResumeState::default());
    let events = [
        (1, r#"{"n":1}"#),
        (2, "not json"),
        (3, r#"{"kind":"click","n":"x"}"#),
    ]
    .map(|(seq, data)| BufferEvent::Record(record(seq, data, T1100)));
    let out = run_events(&mut b, events.into_iter().chain([BufferEvent::Drain]));
    assert_eq!(
        out.len(),
        1,
        "{:?}",
        out.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    let errors = &out[0];
    assert!(errors.is_error_output && errors.table_partition.is_none());
    assert!(errors.key.starts_with("err/"), "{}", errors.key);
    let text = gunzip(&errors.body);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "every refused record is there: {text}");
    // Format-conversion error records name these `last…`, as Firehose's do.
    assert_eq!(lines[0]["lastErrorCode"], "Iceberg.PartitionSource");
    assert_eq!(lines[0]["lastErrorMessage"], "column kind: no value");
    assert_eq!(
        lines[0]["rawData"], "eyJuIjoxfQ==",
        "the record's own bytes"
    );
    assert_eq!(
        lines[1]["lastErrorCode"],
        "DataFormatConversion.MalformedData"
    );
    assert_eq!(lines[2]["sequenceNumber"], "3");
    assert!(lines[2]["lastErrorMessage"].as_str().unwrap().contains('n'));
}

#[test]
fn table_partitions_count_against_the_active_partition_limit() {
    let mut b = buffers(table_layout(1), 60_000, ResumeState::default());
    let events = [(1, r#"{"kind":"click"}"#), (2, r#"{"kind":"view"}"#)]
        .map(|(seq, data)| BufferEvent::Record(record(seq, data, T1100)));
    let out = run_events(&mut b, events.into_iter().chain([BufferEvent::Drain]));
    let error = out.iter().find(|o| o.is_error_output).expect("one refused");
    assert_eq!(
        error.error_output_type.as_deref(),
        Some(ACTIVE_PARTITION_EXCEEDED)
    );
    assert_eq!(
        out.iter().filter(|o| o.table_partition.is_some()).count(),
        1
    );
}
