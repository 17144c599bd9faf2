//! `kinesink dry-run` routing records to two Iceberg tables by `processing.partition_query`'s
//! `destinationTableName` (SQL catalog on SQLite, `file://` warehouse, no AWS), read back by
//! pyiceberg: every record is in the table it was routed to exactly once, a routed table is
//! created on first use, the default table's summary carries the shard's position, a rerun adds
//! nothing; and with `create_tables = false` and no `format.schema`, the existing tables' own
//! schemas convert the records while those routed to a missing table land in the error output.
#![cfg(feature = "stand-ins")]

mod common;

use base64::Engine;
use std::path::Path;

use common::iceberg_table::read_back_from;
use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price decimal(10,2), quantity int";

/// Purchases go to `purchases`, the rest to `other` (`events`, the default, unless given).
fn config(dir: &Path, create_tables: bool, schema: bool, other: &str) -> String {
    let schema = if schema {
        format!("schema = \"{SCHEMA}\"\n")
    } else {
        String::new()
    };
    format!(
        r#"name = "clicks"
[source]
stream = "clickstream"
[processing]
partition_query = '{{destinationTableName: (if .event_type == "purchase" then "purchases" else "{other}" end)}}'
[destination]
url = "s3://unused-by-dry-run"
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
buffer_size_mib = 1
[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite://{dir}/catalog.db"
warehouse = "file://{dir}/warehouse"
database = "analytics"
table = "events"
create_tables = {create_tables}
partition_spec = "event_type"
[format]
{schema}"#,
        dir = dir.display()
    )
}

/// `count` sample events as lines, ids `<prefix>-<n>`.
fn input(dir: &Path, prefix: &str, count: u64) -> std::path::PathBuf {
    let out = run(kinesink().args([
        "sample-events",
        "--count",
        &count.to_string(),
        "--id-prefix",
        prefix,
    ]));
    assert!(out.status.success());
    let path = dir.join(format!("{prefix}-{count}.jsonl"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// Event ids by type, as the input has them.
fn ids_of(input: &Path, purchases: bool) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(input)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| (v["event_type"] == "purchase") == purchases)
        .map(|v| v["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn dry_run(dir: &Path, config_text: &str, input: &Path, shard: &str) -> String {
    let cfg = dir.join("k.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let out = run(kinesink()
        .args([
            "dry-run",
            "--input-format",
            "lines",
            "--shard-id",
            shard,
            "--config",
        ])
        .arg(&cfg)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(dir.join("out")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(dir: &Path, table: &str) -> serde_json::Value {
    read_back_from(dir, &format!("file://{}/warehouse", dir.display()), table)
}

/// `(error code, event id)` of the error records under `out/errors/processing-failed/`.
fn routing_errors(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("out/errors/processing-failed")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()),
                    &mut text,
                )
                .unwrap();
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(v["rawData"].as_str().unwrap())
                        .unwrap();
                    let record: serde_json::Value = serde_json::from_slice(&raw).unwrap();
                    found.push((
                        v["errorCode"].as_str().unwrap().to_owned(),
                        record["event_id"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn records_routed_to_two_tables_are_each_in_their_table_once_and_a_rerun_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = input(d, "a", 4_000);
    let stdout = dry_run(
        d,
        &config(d, true, true, "events"),
        &events,
        "shardId-000000000000",
    );
    assert!(stdout.contains("position none -> 4000/0"), "{stdout}");

    let purchases = read(d, "purchases");
    let others = read(d, "events");
    assert_eq!(purchases["ids"], serde_json::json!(ids_of(&events, true)));
    assert_eq!(others["ids"], serde_json::json!(ids_of(&events, false)));
    assert_eq!(purchases["duplicates"], serde_json::json!([]));
    assert_eq!(others["duplicates"], serde_json::json!([]));
    assert!(purchases["rows"].as_u64().unwrap() > 0);
    assert_eq!(
        purchases["rows"].as_u64().unwrap() + others["rows"].as_u64().unwrap(),
        4_000,
        "every record in one table or the other"
    );
    assert_eq!(
        others["positions"]["kinesink.clicks.shardId-000000000000"], "4000/0",
        "the default table carries the shard's checkpoint"
    );

    // `kinesink iceberg status` lists the routed table after the default one.
    let cfg = d.join("status.toml");
    std::fs::write(&cfg, config(d, true, true, "events")).unwrap();
    let out = run(kinesink()
        .args(["iceberg", "status", "--json", "--config"])
        .arg(&cfg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["table"], "analytics.events");
    assert_eq!(status["records"], others["rows"]);
    let routed = status["routed_tables"].as_array().unwrap();
    assert_eq!(routed.len(), 1, "{status}");
    assert_eq!(routed[0]["table"], "analytics.purchases");
    assert_eq!(routed[0]["records"], purchases["rows"]);
    assert_eq!(routed[0]["snapshots"], purchases["snapshots"]);

    let again = dry_run(
        d,
        &config(d, true, true, "events"),
        &events,
        "shardId-000000000000",
    );
    assert!(again.contains("committed 0 data files"), "{again}");
    assert_eq!(read(d, "purchases")["snapshots"], purchases["snapshots"]);
    assert_eq!(read(d, "events")["snapshots"], others["snapshots"]);
    assert!(routing_errors(d).is_empty());
}

#[test]
fn without_create_tables_records_routed_to_a_missing_table_land_in_the_error_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The tables exist (an earlier delivery created them) ...
    let first = input(d, "first", 200);
    dry_run(
        d,
        &config(d, true, true, "events"),
        &first,
        "shardId-000000000000",
    );
    // ... and are now written without `format.schema`, the non-purchases routed to `refunds`,
    // which does not exist.
    let events = input(d, "second", 1_000);
    let stdout = dry_run(
        d,
        &config(d, false, false, "refunds"),
        &events,
        "shardId-000000000001",
    );
    assert!(stdout.contains("position none -> 1000/0"), "{stdout}");
    let purchases = read(d, "purchases");
    let mut expected: Vec<String> = ids_of(&first, true);
    expected.extend(ids_of(&events, true));
    expected.sort();
    assert_eq!(purchases["ids"], serde_json::json!(expected));
    assert_eq!(purchases["duplicates"], serde_json::json!([]));
    let errors = routing_errors(d);
    let mut refunds: Vec<(String, String)> = ids_of(&events, false)
        .into_iter()
        .map(|id| ("Iceberg.TableNotFound".to_owned(), id))
        .collect();
    refunds.sort();
    assert_eq!(
        errors, refunds,
        "every record routed to the missing table, nothing lost"
    );
    let events_table = read(d, "events");
    assert_eq!(
        events_table["positions"]["kinesink.clicks.shardId-000000000001"],
        "1000/0"
    );
}

#[test]
fn a_record_routed_to_another_database_lands_there_a_null_key_means_the_default_and_status_lists_both()
 {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = input(d, "db", 1_000);
    // Purchases go to `sales.purchases`; for the rest both routing keys are null: the default
    // table `analytics.events`, not the error output.
    let text = config(d, true, true, "events").replace(
        r#"partition_query = '{destinationTableName: (if .event_type == "purchase" then "purchases" else "events" end)}'"#,
        r#"partition_query = '{destinationDatabaseName: (if .event_type == "purchase" then "sales" else null end), destinationTableName: (if .event_type == "purchase" then "purchases" else null end)}'"#,
    );
    assert!(text.contains("sales"), "the query was replaced");
    dry_run(d, &text, &events, "shardId-000000000000");
    assert!(routing_errors(d).is_empty(), "no record refused");

    let cfg = d.join("status.toml");
    std::fs::write(&cfg, &text).unwrap();
    let out = run(kinesink()
        .args(["iceberg", "status", "--json", "--config"])
        .arg(&cfg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["table"], "analytics.events");
    assert_eq!(
        status["records"].as_u64().unwrap(),
        ids_of(&events, false).len() as u64,
        "records with null routing keys are in the default table"
    );
    let routed = status["routed_tables"].as_array().unwrap();
    assert_eq!(routed.len(), 1, "{status}");
    assert_eq!(routed[0]["table"], "sales.purchases");
    assert_eq!(
        routed[0]["records"].as_u64().unwrap(),
        ids_of(&events, true).len() as u64
    );
}
