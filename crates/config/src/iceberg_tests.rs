//! `[destination.iceberg]`: what loads into the catalog settings, and what is refused, named by
//! its key.

use kinesink_iceberg_sink::CatalogKind;

use super::tests::load_str;

const ICEBERG: &str = r#"
name = "clicks"
[source]
stream = "clickstream"
region = "eu-west-1"
[destination]
url = "s3://my-bucket/kinesink"
error_output_prefix = "errors/!{firehose:error-output-type}/"
[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite:////var/lib/kinesink/catalog.db"
warehouse = "s3://my-bucket/warehouse"
database = "analytics"
table = "events"
partition_spec = "event_type, day(ts)"
endpoint_url = "http://127.0.0.1:5000"
[format]
type = "parquet"
schema = "event_type string, ts timestamp"
"#;

#[test]
fn an_iceberg_destination_loads_with_its_catalog_table_spec_and_defaults() {
    let s = load_str(ICEBERG, &[]).unwrap();
    let i = s.iceberg.expect("the iceberg destination");
    assert_eq!(
        i.kind,
        CatalogKind::Sql {
            uri: "sqlite:////var/lib/kinesink/catalog.db".into(),
            catalog_name: "default".into(),
            warehouse: "s3://my-bucket/warehouse".into(),
        }
    );
    assert_eq!(
        (i.database.as_str(), i.table.as_str()),
        ("analytics", "events")
    );
    assert!(i.create_tables, "create_tables defaults to true");
    assert_eq!(i.partition_spec, "event_type, day(ts)");
    assert_eq!(i.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(i.region.as_deref(), Some("eu-west-1"));
    let overridden = load_str(
        ICEBERG,
        &[
            ("KINESINK_DESTINATION__ICEBERG__TABLE", "orders"),
            ("KINESINK_DESTINATION__ICEBERG__CREATE_TABLES", "false"),
        ],
    )
    .unwrap()
    .iceberg
    .unwrap();
    assert_eq!(overridden.table, "orders");
    assert!(!overridden.create_tables);
    assert!(
        load_str(super::tests::MINIMAL, &[])
            .unwrap()
            .iceberg
            .is_none()
    );
}

#[test]
fn iceberg_settings_that_cannot_work_are_refused_naming_the_key() {
    let cases: [(&str, &str, &str); 10] = [
        (
            "catalog = \"sql\"\n",
            "",
            "destination.iceberg.catalog` is required",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"s3tables\"",
            "`s3tables` is not built",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"hive\"",
            "destination.iceberg.catalog",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"rest\"",
            "`rest` is not built",
        ),
        (
            "sqlite:////var",
            "mysql://var",
            "destination.iceberg.catalog_uri",
        ),
        (
            "s3://my-bucket/warehouse",
            "hdfs://x",
            "destination.iceberg.warehouse",
        ),
        (
            "table = \"events\"",
            "table = \"a.b\"",
            "destination.iceberg.table",
        ),
        ("day(ts)", "day(ts", "destination.iceberg.partition_spec"),
        (
            "type = \"parquet\"\nschema = \"event_type string, ts timestamp\"",
            "type = \"ndjson\"",
            "format.type",
        ),
        (
            "[destination]\n",
            "[destination]\nprefix = \"data/\"\n",
            "destination.prefix",
        ),
    ];
    for (from, to, expected) in cases {
        let text = ICEBERG.replacen(from, to, 1);
        assert_ne!(text, ICEBERG, "the case {from:?} changes the file");
        let e = load_str(&text, &[])
            .err()
            .unwrap_or_else(|| panic!("{to:?} was accepted"))
            .to_string();
        assert!(e.contains(expected), "{to:?}: {e}");
    }
    let with_query = ICEBERG.replacen(
        "[destination]\n",
        "[processing]\npartition_query = \"{t: .event_type}\"\n[destination]\n",
        1,
    );
    let e = load_str(&with_query, &[]).err().unwrap().to_string();
    assert!(e.contains("processing.partition_query"), "{e}");
    assert!(
        e.contains("outputs `t`"),
        "names the key that is not a routing key: {e}"
    );
}

#[test]
fn a_partition_query_routing_by_destination_database_and_table_name_is_accepted() {
    for query in [
        "{destinationTableName: .table}",
        "{destinationDatabaseName: .db, destinationTableName: (.table // \\\"events\\\")}",
    ] {
        let text = ICEBERG.replacen(
            "[destination]\n",
            &format!("[processing]\npartition_query = \"{query}\"\n[destination]\n"),
            1,
        );
        let s = load_str(&text, &[]).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(s.worker.query.is_some(), "{query}");
    }
}

#[test]
fn without_format_schema_an_iceberg_destination_converts_by_each_tables_own_schema() {
    let text = ICEBERG.replacen(
        "[format]\ntype = \"parquet\"\nschema = \"event_type string, ts timestamp\"\n",
        "[format]\ncompression = \"snappy\"\n",
        1,
    );
    assert_ne!(text, ICEBERG);
    let s = load_str(&text, &[]).unwrap();
    let crate::FormatSource::FromTable(table) = &s.format else {
        panic!("expected the tables' own schemas, got {:?}", s.format);
    };
    assert_eq!(
        table.options.compression,
        kinesink_parquet_writer::ParquetCompression::Snappy
    );
    // Without [destination.iceberg] the schema is still required for Parquet.
    let plain = super::tests::MINIMAL.to_owned() + "[format]\ntype = \"parquet\"\n";
    let e = load_str(&plain, &[]).err().unwrap().to_string();
    assert!(e.contains("format.schema"), "{e}");
}

/// The `sql` example as a Glue destination: no catalog_uri / catalog_name.
fn glue(extra: &str) -> String {
    ICEBERG
        .replacen(
            "catalog = \"sql\"",
            &format!("catalog = \"glue\"{extra}"),
            1,
        )
        .replacen(
            "catalog_uri = \"sqlite:////var/lib/kinesink/catalog.db\"\n",
            "",
            1,
        )
}

#[test]
fn a_glue_destination_loads_with_its_warehouse_endpoint_and_the_worker_region() {
    let i = load_str(&glue(""), &[]).unwrap().iceberg.unwrap();
    assert_eq!(
        i.kind,
        CatalogKind::Glue {
            warehouse: "s3://my-bucket/warehouse".into()
        }
    );
    assert_eq!(i.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(
        i.region.as_deref(),
        Some("eu-west-1"),
        "Glue's region is the worker's"
    );
    assert_eq!(
        (i.database.as_str(), i.table.as_str()),
        ("analytics", "events")
    );
    let blank = load_str(&glue("\ncatalog_name = \"\""), &[])
        .unwrap()
        .iceberg
        .unwrap();
    assert_eq!(blank.kind, i.kind, "a blank catalog_name is as if left out");
}

#[test]
fn glue_settings_that_cannot_work_are_refused_naming_the_key() {
    let cases = [
        (
            glue("\ncatalog_uri = \"http://127.0.0.1:5000\""),
            "destination.iceberg.catalog_uri`: not used with catalog = \"glue\"",
        ),
        (
            glue("\ncatalog_name = \"prod\""),
            "destination.iceberg.catalog_name`: not used with catalog = \"glue\"",
        ),
        (
            glue("").replacen("s3://my-bucket/warehouse", "file:///var/warehouse", 1),
            "destination.iceberg.warehouse`: `file:///var/warehouse` is not s3://",
        ),
        (
            glue("").replacen("warehouse = \"s3://my-bucket/warehouse\"\n", "", 1),
            "destination.iceberg.warehouse` is required",
        ),
    ];
    for (text, expected) in cases {
        let e = load_str(&text, &[])
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string();
        assert!(e.contains(expected), "{expected}: {e}");
    }
}
