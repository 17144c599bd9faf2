//! Parquet output, read back by DuckDB (an independent reader): partitioned objects, column
//! types, row count and values equal to what was produced.
#![cfg(feature = "stand-ins")]

mod common;

use std::process::Command;

use common::*;

const BUCKET: &str = "kinesink-it";

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_reads_the_partitioned_parquet_output_with_the_schema_types_and_the_produced_values()
{
    let stream = unique("it-parquet");
    create_stream(&stream, 2).await;
    create_bucket(BUCKET).await;
    produce(&stream, 1000, &stream, false);
    let cfg = config(
        &stream,
        &stream,
        BUCKET,
        &stream,
        "",
        r#"buffer_interval_s = 1
prefix = "event_type=!{partitionKeyFromQuery:event_type}/!{timestamp:yyyy}/"
error_output_prefix = "errors/!{firehose:error-output-type}/"
[processing]
partition_query = "{event_type: .event_type}"
[format]
type = "parquet"
schema = "event_id string, customer_id string, event_type string, ts timestamp, price double, quantity int, page string, country string, user_agent string, session_ms bigint"
"#,
    );
    assert!(
        run(kinesink()
            .args(["run", "--until-caught-up", "--config"])
            .arg(&cfg.path))
        .status
        .success()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (key, (_, body)) in raw_objects(BUCKET, &format!("{stream}/")).await {
        assert!(
            key.ends_with(".parquet"),
            "only Parquet data objects: {key}"
        );
        let event_type = key
            .split("event_type=")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .expect("partitioned by event_type");
        assert!(
            ["page_view", "click", "add_to_cart", "purchase"].contains(&event_type),
            "{key}"
        );
        let path = dir
            .path()
            .join(format!("{event_type}-{}.parquet", files.len()));
        std::fs::write(&path, &body).unwrap();
        files.push((event_type.to_owned(), path));
    }
    assert!(files.len() >= 4, "one object per event type at least");

    // The producer's event 7, made again by the same generator (seed 1) for the expected values.
    let sample = kinesink()
        .args([
            "sample-events",
            "--count",
            "8",
            "--id-prefix",
            &stream,
            "--seed",
            "1",
        ])
        .output()
        .unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&sample.stdout)
            .lines()
            .nth(7)
            .unwrap(),
    )
    .unwrap();

    let list = files
        .iter()
        .map(|(_, p)| format!("'{}'", p.display()))
        .collect::<Vec<_>>()
        .join(",");
    let script = format!(
        r#"
import duckdb, json
files = [{list}]
rel = f"read_parquet({{files}}, filename=true)"
types = {{r[0]: r[1] for r in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet({{files}})").fetchall()}}
count, distinct = duckdb.sql(f"SELECT count(*), count(DISTINCT event_id) FROM {{rel}}").fetchall()[0]
mixed = duckdb.sql(f"SELECT count(*) FROM {{rel}} WHERE filename NOT LIKE '%' || event_type || '-%'").fetchall()[0][0]
row = duckdb.sql(f"SELECT customer_id, event_type, price, quantity, country, session_ms FROM {{rel}} WHERE event_id = '{stream}-7'").fetchall()[0]
print(json.dumps({{"types": types, "count": count, "distinct": distinct, "mixed": mixed, "row": list(row)}}))
"#
    );
    let python = std::env::var("KINESINK_MOTO_PYTHON")
        .expect("KINESINK_MOTO_PYTHON from scripts/local-aws env");
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["count"], 1000);
    assert_eq!(got["distinct"], 1000);
    assert_eq!(
        got["mixed"], 0,
        "every row sits in the object of its event_type"
    );
    assert_eq!(got["types"]["event_id"], "VARCHAR");
    assert_eq!(got["types"]["price"], "DOUBLE");
    assert_eq!(got["types"]["quantity"], "INTEGER");
    assert_eq!(got["types"]["session_ms"], "BIGINT");
    assert!(
        got["types"]["ts"]
            .as_str()
            .unwrap()
            .starts_with("TIMESTAMP"),
        "{}",
        got["types"]
    );
    let row = &got["row"];
    assert_eq!(row[0], expected["customer_id"]);
    assert_eq!(row[1], expected["event_type"]);
    assert_eq!(row[2], expected["price"]);
    assert_eq!(row[3], expected["quantity"]);
    assert_eq!(row[4], expected["country"]);
    assert_eq!(row[5], expected["session_ms"]);
    delete_stream(&stream).await;
}
