//! `kinesink dry-run` into an Iceberg table (SQL catalog on SQLite, `file://` warehouse, no
//! AWS), read back by pyiceberg and by DuckDB's iceberg extension (a second engine, from the
//! table's metadata file; `scripts/local-aws` installs it for offline use): the table is created with its partition spec, every good
//! record is in it exactly once and every bad one in the error output, the current snapshot's
//! summary carries the shard's position, the same input again adds no file and no row, and a
//! longer input adds only the rest; with the Lambda processor (a local Invoke stand-in), the
//! table holds what the function returned, and a rerun invokes nothing.
#![cfg(feature = "stand-ins")]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price decimal(10,2), quantity int";

fn config(dir: &Path) -> String {
    format!(
        r#"name = "clicks"
[source]
stream = "clickstream"
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
partition_spec = "event_type, day(ts)"
[format]
type = "parquet"
schema = "{SCHEMA}"
"#,
        dir = dir.display()
    )
}

/// `count` sample events as lines, every 97th replaced by a line that is not JSON.
fn input(dir: &Path, count: u64) -> std::path::PathBuf {
    let out = run(kinesink().args([
        "sample-events",
        "--count",
        &count.to_string(),
        "--start-time",
        "2026-11-22T23:59:58Z",
    ]));
    assert!(out.status.success());
    let text: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i % 97 == 96 {
                format!("broken line {i}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = dir.join(format!("events-{count}.jsonl"));
    std::fs::write(&path, text).unwrap();
    path
}

fn dry_run(dir: &Path, input: &Path) -> String {
    dry_run_with(dir, &config(dir), input)
}

/// `kinesink dry-run` of `input` with the configuration `config_text` (written to
/// `dir/k.toml`, test credentials for a Lambda stand-in); its stdout.
fn dry_run_with(dir: &Path, config_text: &str, input: &Path) -> String {
    let cfg = dir.join("k.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let out = run(kinesink()
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .args(["dry-run", "--input-format", "lines", "--config"])
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

/// Runs a pyiceberg script (the SQL catalog of `dir`) and parses what it prints as JSON.
fn pyiceberg(dir: &Path, body: &str) -> serde_json::Value {
    let script = format!(
        "import json\nfrom pyiceberg.catalog.sql import SqlCatalog\n\
         catalog = SqlCatalog(\"default\", uri=\"sqlite:///{dir}/catalog.db\", warehouse=\"file://{dir}/warehouse\")\n{body}",
        dir = dir.display()
    );
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "pyiceberg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The table as pyiceberg reads it.
fn read_back(dir: &Path) -> serde_json::Value {
    pyiceberg(
        dir,
        r#"import collections
table = catalog.load_table("analytics.events")
rows = table.scan().to_arrow()
ids = collections.Counter(rows.column("event_id").to_pylist())
snapshot = table.current_snapshot()
files = [t.file.file_path for t in table.scan().plan_files()]
print(json.dumps({
    "rows": rows.num_rows,
    "distinct": len(ids),
    "duplicates": sum(1 for n in ids.values() if n > 1),
    "ids": sorted(ids),
    "spec": [[f.name, str(f.transform)] for f in table.spec().fields],
    "types": {f.name: str(f.field_type) for f in table.schema().fields},
    "position": snapshot.summary.additional_properties.get("kinesink.clicks.shardId-000000000000"),
    "snapshots": len(table.snapshots()),
    "files": files,
    "metadata_location": table.metadata_location,
    "purchases_on_23rd": table.scan(row_filter="event_type == 'purchase' and ts >= '2026-11-23T00:00:00+00:00'").to_arrow().num_rows,
}))
"#,
    )
}

/// The table as DuckDB's iceberg extension reads it from `metadata_location`: rows, distinct
/// `event_id`s, ids seen more than once, and the purchases from the 23rd on (a filter DuckDB
/// prunes files with).
fn duckdb_read_back(metadata_location: &str) -> serde_json::Value {
    let script = format!(
        r#"
import json, os, duckdb, duckdb_ext
c = duckdb.connect(config={{"extension_directory": os.path.join(list(duckdb_ext.__path__)[0], "extensions"), "autoinstall_known_extensions": False}})
c.sql("LOAD iceberg")
scan = "iceberg_scan('{metadata_location}')"
rows, distinct = c.sql(f"select count(*), count(distinct event_id) from {{scan}}").fetchone()
duplicates = c.sql(f"select count(*) from (select event_id from {{scan}} group by event_id having count(*) > 1)").fetchone()[0]
purchases = c.sql(f"select count(*) from {{scan}} where event_type = 'purchase' and ts >= TIMESTAMPTZ '2026-11-23 00:00:00+00'").fetchone()[0]
print(json.dumps({{"rows": rows, "distinct": distinct, "duplicates": duplicates, "purchases_on_23rd": purchases}}))
"#
    );
    let python = std::env::var("KINESINK_DUCKDB_ICEBERG_PYTHON")
        .expect("KINESINK_DUCKDB_ICEBERG_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "DuckDB iceberg_scan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sequence numbers of the error records under `out/errors/`.
fn error_records(dir: &Path) -> Vec<u64> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("out")];
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
                    found.push(v["sequenceNumber"].as_str().unwrap().parse().unwrap());
                }
            }
        }
    }
    found.sort_unstable();
    found
}

fn good_ids(count: u64) -> Vec<String> {
    let mut ids: Vec<String> = (0..count)
        .filter(|i| i % 97 != 96)
        .map(|i| format!("sample-{i}"))
        .collect();
    ids.sort();
    ids
}

#[test]
fn records_go_into_a_created_table_exactly_once_and_a_rerun_adds_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stdout = dry_run(d, &input(d, 6_000));
    assert!(stdout.contains("position none -> 6000/0"), "{stdout}");
    let got = read_back(d);
    assert_eq!(
        got["spec"],
        serde_json::json!([["event_type", "identity"], ["ts_day", "day"]])
    );
    assert_eq!(got["types"]["ts"], "timestamptz");
    assert_eq!(got["types"]["price"], "decimal(10, 2)");
    let good = good_ids(6_000);
    assert_eq!(got["rows"], good.len());
    assert_eq!(got["duplicates"], 0);
    assert_eq!(got["ids"], serde_json::json!(good));
    let errors = error_records(d);
    // Lines are numbered from 1 as sequence numbers.
    let expected_errors: Vec<u64> = (0..6_000).filter(|i| i % 97 == 96).map(|i| i + 1).collect();
    assert_eq!(errors, expected_errors);
    assert_eq!(
        good.len() + errors.len(),
        6_000,
        "rows in = rows out + error rows"
    );
    assert_eq!(got["position"], "6000/0");
    // Events are 1 ms apart from 23:59:58: from the 2,001st on they fall on the 23rd.
    assert!(got["purchases_on_23rd"].as_u64().unwrap() > 0);
    let files: Vec<String> = serde_json::from_value(got["files"].clone()).unwrap();
    assert!(
        files.iter().all(|f| f.contains("/data/event_type=")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.contains("/ts_day=2026-11-23/")),
        "{files:?}"
    );
    let duck = duckdb_read_back(got["metadata_location"].as_str().unwrap());
    assert_eq!(duck["rows"], good.len(), "DuckDB reads every good record");
    assert_eq!(duck["distinct"], good.len());
    assert_eq!(duck["duplicates"], 0);
    assert_eq!(
        duck["purchases_on_23rd"], got["purchases_on_23rd"],
        "DuckDB and pyiceberg agree on a filtered scan"
    );

    // The same input again: nothing new.
    let again = dry_run(d, &input(d, 6_000));
    assert!(again.contains("committed 0 data files"), "{again}");
    let after = read_back(d);
    assert_eq!(after["snapshots"], got["snapshots"], "no new snapshot");
    assert_eq!(after["rows"], got["rows"]);
    assert_eq!(error_records(d), expected_errors, "no error record twice");

    // A longer input: only the rest.
    let longer = dry_run(d, &input(d, 9_000));
    assert!(longer.contains("position 6000/0 -> 9000/0"), "{longer}");
    let last = read_back(d);
    assert_eq!(last["ids"], serde_json::json!(good_ids(9_000)));
    assert_eq!(last["duplicates"], 0);
    assert_eq!(last["position"], "9000/0");
    let duck = duckdb_read_back(last["metadata_location"].as_str().unwrap());
    assert_eq!(duck["rows"], good_ids(9_000).len());
    assert_eq!(duck["duplicates"], 0);
}

/// The stand-in function: drops `page_view` events, and returns every other record with `-fn`
/// appended to its `event_id` (lines that are not JSON unchanged).
fn drop_views_and_mark(body: &[u8]) -> common::lambda_stand_in::Answer {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let request = kinesink_record_processing::lambda_event::decode_request(body).unwrap();
    let records: Vec<serde_json::Value> = request
        .records
        .into_iter()
        .map(|r| {
            let text = String::from_utf8(r.data).unwrap();
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(e) if e["event_type"] == "page_view" => {
                    serde_json::json!({"recordId": r.record_id, "result": "Dropped"})
                }
                Ok(mut e) => {
                    let id = format!("{}-fn", e["event_id"].as_str().unwrap());
                    e["event_id"] = id.into();
                    serde_json::json!({"recordId": r.record_id, "result": "Ok", "data": b64.encode(e.to_string())})
                }
                Err(_) => serde_json::json!({"recordId": r.record_id, "result": "Ok", "data": b64.encode(text)}),
            }
        })
        .collect();
    common::lambda_stand_in::Answer::Payload(
        serde_json::json!({ "records": records })
            .to_string()
            .into_bytes(),
    )
}

#[test]
fn the_lambda_processor_runs_before_the_table_and_a_rerun_invokes_nothing_new() {
    let (stand_in, _runtime) =
        common::lambda_stand_in::LambdaStandIn::start_in_background(|_, body, _| {
            drop_views_and_mark(body)
        });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with_lambda = config(d).replacen(
        "[destination]\n",
        &format!(
            "[processing.lambda]\nfunction = \"drop-views\"\nendpoint_url = \"{}\"\nretries = 0\nbuffer_size_mib = 0.2\n[destination]\n",
            stand_in.endpoint
        ),
        1,
    );
    let events = input(d, 3_000);
    let dry_run = || dry_run_with(d, &with_lambda, &events);
    let stdout = dry_run();
    assert!(stdout.contains("position none -> 3000/0"), "{stdout}");
    // What the function kept, as it returned it.
    let mut expected: Vec<String> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event_type"] != "page_view")
        .map(|e| format!("{}-fn", e["event_id"].as_str().unwrap()))
        .collect();
    expected.sort();
    assert!(expected.len() < good_ids(3_000).len(), "some views dropped");
    let got = read_back(d);
    assert_eq!(got["ids"], serde_json::json!(expected));
    assert_eq!(got["duplicates"], 0);
    assert_eq!(got["position"], "3000/0");
    // Lines that are not JSON came back from the function unchanged and failed conversion.
    let expected_errors: Vec<u64> = (0..3_000).filter(|i| i % 97 == 96).map(|i| i + 1).collect();
    assert_eq!(error_records(d), expected_errors);
    let calls = stand_in.calls().len();
    assert!(calls > 1, "batches of at most 0.2 MiB: {calls} invocations");

    // The same input again: the table's position is at its end, nothing is invoked or added.
    let again = dry_run();
    assert!(again.contains("committed 0 data files"), "{again}");
    assert_eq!(stand_in.calls().len(), calls, "no invocation on a rerun");
    assert_eq!(read_back(d)["ids"], got["ids"]);
}

#[test]
fn a_table_with_a_required_column_takes_the_records_that_have_it_and_refuses_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A catalog and table made by pyiceberg (its catalog table lacks the `iceberg_type` column
    // iceberg-rust's SQL catalog queries: kinesink adds it when it opens the catalog), the
    // table as Spark's `NOT NULL` makes it: `event_id` is required.
    pyiceberg(
        d,
        "from pyiceberg.schema import Schema\n\
         from pyiceberg.types import NestedField, StringType, LongType\n\
         catalog.create_namespace(\"analytics\")\n\
         catalog.create_table(\"analytics.events\", schema=Schema(\n\
             NestedField(1, \"event_id\", StringType(), required=True),\n\
             NestedField(2, \"event_type\", StringType(), required=False),\n\
             NestedField(3, \"quantity\", LongType(), required=False)))\n\
         print(json.dumps(True))",
    );
    let lines = [
        r#"{"event_id":"a","event_type":"click","quantity":1}"#,
        r#"{"event_type":"click","quantity":2}"#,
        r#"{"event_id":"b"}"#,
        r#"{"event_id":null,"event_type":"view"}"#,
        r#"{"event_id":"c","event_type":"view","quantity":3}"#,
    ];
    let input = d.join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    dry_run_with(
        d,
        &config(d).replace(
            "partition_spec = \"event_type, day(ts)\"\n",
            "create_tables = false\n",
        ),
        &input,
    );
    let got = pyiceberg(
        d,
        "rows = catalog.load_table(\"analytics.events\").scan().to_arrow()\n\
         print(json.dumps({\"ids\": sorted(rows.column(\"event_id\").to_pylist()), \
         \"quantities\": sorted(q for q in rows.column(\"quantity\").to_pylist() if q is not None), \
         \"nullable\": rows.schema.field(\"event_id\").nullable}))",
    );
    assert_eq!(got["ids"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(got["quantities"], serde_json::json!([1, 3]));
    assert_eq!(
        got["nullable"], false,
        "read back as the table's required column"
    );
    // The records without an event_id (missing, null) are in the error output, lines 2 and 4.
    assert_eq!(error_records(d), [2, 4]);
}
