//! Routing records to several tables by the partition query's `destinationDatabaseName` /
//! `destinationTableName`: each record's data file is in its table (carried to the shell with
//! the table's id and format), a key not given takes the default table's part, a record the
//! router refuses goes to the error output, and a catalog that cannot answer stops the shard
//! without placing the record.

use super::*;
use crate::table_partition::{
    RouteError, RoutedTable, TablePartition, TablePartitionFailure, TablePartitioner, TableRouter,
};
use kinesink_partitioning::MetadataQuery;

/// Every record in `data/`.
#[derive(Debug)]
struct Unpartitioned;

impl TablePartitioner for Unpartitioned {
    fn partition_of(
        &self,
        _: &ParsedJsonRecord<'_>,
    ) -> Result<TablePartition, TablePartitionFailure> {
        Ok(TablePartition::new("data/".into(), Arc::new(())))
    }
}

/// Tables `analytics.events` (the default), `analytics.orders` and `audit.events`, the second
/// with its own format; `missing` does not exist; `down` cannot be looked up.
#[derive(Debug)]
struct Catalog {
    orders_format: ObjectFormat,
}

impl TableRouter for Catalog {
    fn route(
        &self,
        database: Option<&str>,
        table: Option<&str>,
    ) -> Result<Arc<RoutedTable>, RouteError> {
        let id = format!(
            "{}.{}",
            database.unwrap_or("analytics"),
            table.unwrap_or("events")
        );
        let routed = |format| {
            Arc::new(RoutedTable {
                id: id.as_str().into(),
                partitioner: Arc::new(Unpartitioned),
                format,
            })
        };
        match id.as_str() {
            "analytics.events" | "audit.events" => Ok(routed(None)),
            "analytics.orders" => Ok(routed(Some(self.orders_format.clone()))),
            "analytics.down" => Err(RouteError::Unavailable("catalog unreachable".into())),
            _ => Err(RouteError::Record(TablePartitionFailure {
                error_output_type: "processing-failed".into(),
                error_code: "Iceberg.TableNotFound".into(),
                message: format!("table {id} does not exist"),
            })),
        }
    }
}

fn routed_layout(query: &str) -> ObjectLayout {
    let base = parquet(layout(), "table string, n int");
    let orders = parquet(layout(), "n int").format;
    ObjectLayout {
        table: Some(Arc::new(Catalog {
            orders_format: orders,
        })),
        query: Some(Arc::new(MetadataQuery::compile(query).unwrap())),
        prefixes: Arc::new(OutputPrefixes::parse(None, Some("err/")).unwrap()),
        ..base
    }
}

#[test]
fn each_record_goes_to_the_table_its_routing_keys_name_and_missing_keys_take_the_default_part() {
    let mut b = buffers(
        routed_layout("{destinationTableName: .table, destinationDatabaseName: .db}"),
        60_000,
        ResumeState::default(),
    );
    let events = [
        (1, r#"{"db":"analytics","table":"events","n":1}"#),
        (2, r#"{"db":"analytics","table":"orders","n":2}"#),
        (3, r#"{"db":"audit","table":"events","n":3}"#),
        (4, r#"{"db":"analytics","table":"orders","n":4}"#),
    ]
    .map(|(seq, data)| BufferEvent::Record(record(seq, data, T1100)));
    let out = run_events(&mut b, events.into_iter().chain([BufferEvent::Drain]));
    let mut files: Vec<(String, String, usize)> = out
        .iter()
        .map(|o| {
            let p = o
                .table_partition
                .as_ref()
                .expect("every record is in a table");
            (p.table().to_owned(), o.key.clone(), o.record_count)
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            (
                "analytics.events".into(),
                "data/demo-shardId-000000000007-1-0.parquet".into(),
                1
            ),
            (
                "analytics.orders".into(),
                "data/demo-shardId-000000000007-2-0.parquet".into(),
                2
            ),
            (
                "audit.events".into(),
                "data/demo-shardId-000000000007-3-0.parquet".into(),
                1
            ),
        ]
    );
    let orders = out.iter().find(|o| o.record_count == 2).unwrap();
    assert!(
        orders.table_partition.as_ref().unwrap().format().is_some(),
        "the routed table's own format travels with its partition"
    );

    // Only the database given: the table is the default's.
    let mut b = buffers(
        routed_layout("{destinationDatabaseName: .db}"),
        60_000,
        ResumeState::default(),
    );
    let record = BufferEvent::Record(record(5, r#"{"db":"audit","n":5}"#, T1100));
    let out = run_events(&mut b, [record, BufferEvent::Drain]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].table_partition.as_ref().unwrap().table(),
        "audit.events"
    );
}

#[test]
fn a_record_routed_to_a_missing_table_goes_to_the_error_output_and_the_others_are_delivered() {
    let mut b = buffers(
        routed_layout("{destinationTableName: .table}"),
        60_000,
        ResumeState::default(),
    );
    let events = [
        (1, r#"{"table":"missing","n":1}"#),
        (2, r#"{"table":"events","n":2}"#),
    ]
    .map(|(seq, data)| BufferEvent::Record(record(seq, data, T1100)));
    let out = run_events(&mut b, events.into_iter().chain([BufferEvent::Drain]));
    assert_eq!(out.len(), 2);
    let errors = out
        .iter()
        .find(|o| o.is_error_output)
        .expect("an error object");
    assert_eq!(
        errors.error_output_type.as_deref(),
        Some("processing-failed")
    );
    let text = gunzip(&errors.body);
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["errorCode"], "Iceberg.TableNotFound");
    assert_eq!(line["sequenceNumber"], "1");
    let data = out.iter().find(|o| !o.is_error_output).unwrap();
    assert_eq!(
        data.table_partition.as_ref().unwrap().table(),
        "analytics.events"
    );
    assert_eq!(data.first, pos(2));
}

#[test]
fn a_table_that_cannot_be_looked_up_stops_the_shard_without_placing_the_record() {
    let mut b = buffers(
        routed_layout("{destinationTableName: .table}"),
        60_000,
        ResumeState::default(),
    );
    let refused = b.step(
        0,
        BufferEvent::Record(record(1, r#"{"table":"down","n":1}"#, T1100)),
    );
    assert!(
        matches!(refused, Err(BufferError::TableUnavailable(ref m)) if m.contains("unreachable")),
        "{refused:?}"
    );
    let out = run_events(&mut b, [BufferEvent::Drain]);
    assert!(out.is_empty(), "nothing was buffered");
}

#[test]
fn the_same_records_are_cut_into_the_same_table_files_on_a_replay() {
    let run = || {
        let mut b = buffers(
            routed_layout("{destinationTableName: .table}"),
            60_000,
            ResumeState::default(),
        );
        let events = (1..=20u64).map(|seq| {
            let table = ["events", "orders", "missing"][(seq % 3) as usize];
            let data = format!(r#"{{"table":"{table}","n":{seq}}}"#);
            BufferEvent::Record(record(seq, &data, T1100))
        });
        let out = run_events(&mut b, events.chain([BufferEvent::Drain]));
        let mut keys: Vec<(String, String, usize)> = out
            .iter()
            .map(|o| {
                let table = o.table_partition.as_ref().map(|p| p.table().to_owned());
                (table.unwrap_or_default(), o.key.clone(), o.record_count)
            })
            .collect();
        keys.sort();
        keys
    };
    let first = run();
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(first, run());
}
