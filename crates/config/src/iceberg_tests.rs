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
fn an_s3_tables_destination_loads_with_its_table_bucket() {
    let text = ICEBERG.replace(
        "catalog = \"sql\"\ncatalog_uri = \"sqlite:////var/lib/kinesink/catalog.db\"\nwarehouse = \"s3://my-bucket/warehouse\"",
        "catalog = \"s3tables\"\nwarehouse = \"arn:aws:s3tables:eu-west-1:123456789012:bucket/lake\"",
    );
    let i = load_str(&text, &[]).unwrap().iceberg.unwrap();
    assert_eq!(
        i.kind,
        CatalogKind::S3Tables {
            table_bucket_arn: "arn:aws:s3tables:eu-west-1:123456789012:bucket/lake".into()
        }
    );
}

#[test]
fn iceberg_settings_that_cannot_work_are_refused_naming_the_key() {
    let cases: [(&str, &str, &str); 11] = [
        (
            "catalog = \"sql\"\n",
            "",
            "destination.iceberg.catalog` is required",
        ),
        (
            "catalog = \"sql\"\ncatalog_uri = \"sqlite:////var/lib/kinesink/catalog.db\"\nwarehouse = \"s3://my-bucket/warehouse\"",
            "catalog = \"s3tables\"\nwarehouse = \"s3://my-bucket/warehouse\"",
            "destination.iceberg.warehouse`: `s3://my-bucket/warehouse` is not a table bucket's ARN",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"s3tables\"",
            "destination.iceberg.catalog_uri`: not used with catalog = \"s3tables\"",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"hive\"",
            "destination.iceberg.catalog",
        ),
        (
            "catalog = \"sql\"",
            "catalog = \"sql\"\ncatalog_token = \"t\"",
            "destination.iceberg.catalog_token`: only used with catalog = \"rest\"",
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

/// The `sql` example as a REST destination on `uri`, with `extra` keys.
fn rest(uri: &str, extra: &str) -> String {
    ICEBERG.replacen(
        "catalog = \"sql\"\ncatalog_uri = \"sqlite:////var/lib/kinesink/catalog.db\"",
        &format!("catalog = \"rest\"\ncatalog_uri = \"{uri}\"\n{extra}"),
        1,
    )
}

#[test]
fn a_rest_destination_loads_its_uri_warehouse_and_authentication() {
    let text = rest(
        "https://catalog.example.com/api/catalog",
        "catalog_name = \"lake\"\ncatalog_credential = \"id:secret\"\ncatalog_oauth2_server_uri = \"https://idp.example.com/token\"",
    );
    let i = load_str(
        &text,
        &[("KINESINK_DESTINATION__ICEBERG__CATALOG_TOKEN", "t0k")],
    )
    .unwrap()
    .iceberg
    .unwrap();
    let CatalogKind::Rest {
        uri,
        catalog_name,
        warehouse,
        auth,
    } = i.kind
    else {
        panic!("{:?}", i.kind);
    };
    assert_eq!(uri, "https://catalog.example.com/api/catalog");
    assert_eq!(catalog_name, "lake");
    assert_eq!(warehouse, "s3://my-bucket/warehouse");
    assert_eq!(auth.token.as_deref(), Some("t0k"), "from the environment");
    assert_eq!(auth.credential.as_deref(), Some("id:secret"));
    assert_eq!(
        auth.oauth2_server_uri.as_deref(),
        Some("https://idp.example.com/token")
    );
    let plain = load_str(&rest("http://127.0.0.1:8181", ""), &[])
        .unwrap()
        .iceberg
        .unwrap();
    let CatalogKind::Rest {
        catalog_name, auth, ..
    } = plain.kind
    else {
        panic!("{:?}", plain.kind);
    };
    assert_eq!(catalog_name, "default");
    assert_eq!(auth, kinesink_iceberg_sink::RestAuth::default());
}

#[test]
fn a_rest_destination_needs_an_http_uri_and_an_s3_or_file_warehouse() {
    let e = load_str(&rest("thrift://metastore:9083", ""), &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("destination.iceberg.catalog_uri") && e.contains("SigV4"),
        "{e}"
    );
    let no_uri = ICEBERG.replacen(
        "catalog = \"sql\"\ncatalog_uri = \"sqlite:////var/lib/kinesink/catalog.db\"",
        "catalog = \"rest\"",
        1,
    );
    let e = load_str(&no_uri, &[]).unwrap_err().to_string();
    assert!(
        e.contains("destination.iceberg.catalog_uri` is required"),
        "{e}"
    );
    let logical =
        rest("http://127.0.0.1:8181", "").replacen("s3://my-bucket/warehouse", "my-warehouse", 1);
    let e = load_str(&logical, &[]).unwrap_err().to_string();
    assert!(e.contains("destination.iceberg.warehouse"), "{e}");
}

#[test]
fn with_an_iceberg_destination_a_null_routing_key_is_left_out_so_the_record_goes_to_the_default_table()
 {
    let text = ICEBERG.replacen(
        "[destination]\n",
        "[processing]\npartition_query = \"{destinationDatabaseName: .db, destinationTableName: .table}\"\n[destination]\n",
        1,
    );
    let s = load_str(&text, &[]).unwrap();
    let query = s.worker.query.as_ref().expect("the routing query");
    for record in [
        serde_json::json!({"db": "sales", "table": null}),
        serde_json::json!({"db": "sales"}),
    ] {
        let keys = query
            .extract(&record)
            .unwrap_or_else(|f| panic!("{record}: {f}"));
        assert_eq!(keys.get("destinationTableName"), None, "{record}");
        assert_eq!(keys.get("destinationDatabaseName"), Some("sales"));
    }
    assert!(
        query
            .extract(&serde_json::json!({"db": "sales", "table": ""}))
            .is_err(),
        "an empty table name still fails the record"
    );
}
