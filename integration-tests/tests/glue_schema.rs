//! The Parquet schema read from a Glue Data Catalog table (moto's Glue) at start-up.
#![cfg(feature = "stand-ins")]

mod common;

use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use common::*;

const BUCKET: &str = "kinesink-it";

#[tokio::test(flavor = "multi_thread")]
async fn the_parquet_schema_comes_from_the_glue_table_and_a_missing_table_is_a_startup_error() {
    let stream = unique("it-glue");
    create_stream(&stream, 1).await;
    create_bucket(BUCKET).await;
    produce(&stream, 50, &stream, false);
    let glue = aws_sdk_glue::Client::new(&aws().await);
    let database = stream.replace('-', "_");
    glue.create_database()
        .database_input(DatabaseInput::builder().name(&database).build().unwrap())
        .send()
        .await
        .unwrap();
    let columns = [
        ("event_id", "string"),
        ("price", "double"),
        ("quantity", "int"),
    ]
    .into_iter()
    .map(|(n, t)| Column::builder().name(n).r#type(t).build().unwrap())
    .collect::<Vec<_>>();
    glue.create_table()
        .database_name(&database)
        .table_input(
            TableInput::builder()
                .name("events")
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .set_columns(Some(columns))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let format = |table: &str| {
        format!(
            "buffer_interval_s = 1\n[format]\ntype = \"parquet\"\n[format.glue]\ndatabase = \"{database}\"\ntable = \"{table}\"\n"
        )
    };
    let cfg = config(&stream, &stream, BUCKET, &stream, "", &format("events"));
    let out = run(kinesink()
        .args(["run", "--until-caught-up", "--config"])
        .arg(&cfg.path));
    assert!(out.status.success());
    let objects: Vec<Vec<u8>> = raw_objects(BUCKET, &format!("{stream}/"))
        .await
        .into_iter()
        .map(|(key, (_, body))| {
            assert!(key.ends_with(".parquet"), "{key}");
            body
        })
        .collect();
    assert_eq!(objects.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.parquet");
    std::fs::write(&path, &objects[0]).unwrap();
    let python = std::env::var("KINESINK_MOTO_PYTHON").unwrap();
    let q = format!(
        "import duckdb; print(duckdb.sql(\"SELECT count(*), string_agg(column_name, ',') FROM (DESCRIBE SELECT * FROM read_parquet('{}'))\").fetchall()[0])",
        path.display()
    );
    let desc = std::process::Command::new(&python)
        .arg("-c")
        .arg(q)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&desc.stdout).trim(),
        "(3, 'event_id,price,quantity')",
        "{}",
        String::from_utf8_lossy(&desc.stderr)
    );

    let missing = config(
        &stream,
        &format!("{stream}-2"),
        BUCKET,
        &stream,
        "",
        &format("nope"),
    );
    let out = run(kinesink().args(["run", "--config"]).arg(&missing.path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("format.glue") && stderr.contains("nope"),
        "{stderr}"
    );
    delete_stream(&stream).await;
}
