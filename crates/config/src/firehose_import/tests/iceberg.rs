//! `import-firehose` of an Iceberg destination (fixture `iceberg.json`, shaped like
//! DescribeDeliveryStream's output): what is carried over into `[destination.iceberg]`, what is
//! named as not carried over, and that the output loads into the Glue catalog's settings.

use super::*;
use kinesink_iceberg_sink::CatalogKind;

/// The fixture's Iceberg destination description, to change a case from it.
fn iceberg_mut(doc: &mut Value) -> &mut Value {
    &mut doc["DeliveryStreamDescription"]["Destinations"][0]["IcebergDestinationDescription"]
}

/// The settings `config::load` makes of an imported document.
fn load_doc(doc: &Value) -> Result<crate::Settings, crate::ConfigError> {
    let text = import(doc).unwrap().to_toml();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, &text).unwrap();
    crate::load(&path, &std::collections::BTreeMap::new())
}

fn noted<'a>(c: &'a ImportedConfig, text: &str) -> &'a str {
    c.not_carried_over
        .iter()
        .find(|m| m.contains(text))
        .unwrap_or_else(|| panic!("no note with {text:?}: {:#?}", c.not_carried_over))
}

#[test]
fn an_iceberg_delivery_stream_becomes_a_glue_catalog_destination_with_its_table_and_error_output() {
    let c = import(&fixture("iceberg.json")).unwrap();
    let t = written(&c);
    assert_eq!(str_at(&t, "name"), "clicks-to-iceberg");
    assert_eq!(str_at(&t, "destination.iceberg.catalog"), "glue");
    assert_eq!(
        str_at(&t, "destination.iceberg.warehouse"),
        "s3://acme-lake/warehouse"
    );
    assert_eq!(str_at(&t, "destination.iceberg.database"), "analytics");
    assert_eq!(str_at(&t, "destination.iceberg.table"), "events");
    assert_eq!(
        str_at(&t, "destination.iceberg.partition_spec"),
        "event_type, country"
    );
    assert_eq!(
        get(&t, "destination.iceberg.create_tables"),
        Some(&toml::Value::Boolean(true))
    );
    for absent in ["catalog_uri", "catalog_name", "endpoint_url"] {
        assert!(
            get(&t, &format!("destination.iceberg.{absent}")).is_none(),
            "{absent}"
        );
    }
    assert_eq!(str_at(&t, "destination.url"), "s3://acme-firehose-errors");
    assert_eq!(
        str_at(&t, "destination.error_output_prefix"),
        "iceberg-errors/!{firehose:error-output-type}/"
    );
    assert!(
        get(&t, "destination.prefix").is_none(),
        "data go under the table"
    );
    assert!(
        get(&t, "destination.backup_prefix").is_none(),
        "FailedDataOnly: no backup"
    );
    assert_eq!(
        get(&t, "destination.buffer_size_mib").and_then(toml::Value::as_integer),
        Some(64),
        "the Iceberg destination's hints, not the S3 configuration's"
    );
    assert_eq!(
        get(&t, "destination.buffer_interval_s").and_then(toml::Value::as_integer),
        Some(120)
    );
    assert_eq!(str_at(&t, "destination.sse"), "aws:kms");
    assert_eq!(str_at(&t, "format.type"), "parquet");
    assert_eq!(str_at(&t, "format.glue.database"), "analytics");
    assert_eq!(str_at(&t, "format.glue.table"), "events");
    assert!(get(&t, "processing.partition_query").is_none());
}

#[test]
fn unique_keys_and_the_other_unportable_iceberg_settings_are_named() {
    let c = import(&fixture("iceberg.json")).unwrap();
    let unique = noted(&c, "UniqueKeys [event_id] of analytics.events");
    assert!(unique.contains("apache/iceberg-rust #2269"), "{unique}");
    noted(&c, "S3ErrorOutputPrefix `iceberg-errors/analytics/events/`");
    noted(&c, "CloudWatch error logging");
    noted(&c, "RetryOptions.DurationInSeconds = 300");
    noted(&c, "TableCreationConfiguration");
    assert!(
        !c.not_carried_over
            .iter()
            .any(|m| m.contains("SchemaEvolution")),
        "schema evolution is off in the fixture: {:?}",
        c.not_carried_over
    );
    let text = c.to_toml();
    assert!(text.contains("#  - UniqueKeys [event_id]"), "{text}");
}

#[test]
fn the_imported_iceberg_file_loads_into_the_glue_catalogs_settings() {
    use crate::{Encryption, FormatSource};
    use kinesink_delivery::Destination;

    let s = loaded("iceberg.json");
    let i = s.iceberg.expect("the Iceberg destination");
    assert_eq!(
        i.kind,
        CatalogKind::Glue {
            warehouse: "s3://acme-lake/warehouse".into()
        }
    );
    assert_eq!(
        (i.database.as_str(), i.table.as_str()),
        ("analytics", "events")
    );
    assert!(i.create_tables);
    assert_eq!(i.partition_spec, "event_type, country");
    assert_eq!(
        i.region.as_deref(),
        Some("eu-west-1"),
        "the stream's region"
    );
    assert_eq!(i.endpoint_url, None);
    assert!(
        matches!(&s.destination, Destination::S3 { bucket, .. } if bucket == "acme-firehose-errors"),
        "{:?}",
        s.destination
    );
    assert_eq!(
        s.worker.prefixes.error().text(),
        "iceberg-errors/!{firehose:error-output-type}/"
    );
    assert_eq!(s.worker.buffer.size_bytes, 64 * 1024 * 1024);
    assert_eq!(s.worker.buffer.interval_ms, 120_000);
    assert!(matches!(s.encryption, Encryption::Kms(Some(_))));
    let FormatSource::FromGlue(glue) = &s.format else {
        panic!(
            "Parquet with the table's schema from Glue expected: {:?}",
            s.format
        );
    };
    assert_eq!(
        (glue.table.database.as_str(), glue.table.table.as_str()),
        ("analytics", "events")
    );
}

#[test]
fn several_tables_carry_the_first_and_name_the_others_and_the_routing_query() {
    let mut doc = fixture("iceberg.json");
    let i = iceberg_mut(&mut doc);
    i["DestinationTableConfigurationList"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"DestinationTableName": "orders", "DestinationDatabaseName": "shop"}));
    i["ProcessingConfiguration"] = serde_json::json!({
        "Enabled": true,
        "Processors": [
            { "Type": "MetadataExtraction", "Parameters": [
                { "ParameterName": "MetadataExtractionQuery", "ParameterValue": "{destinationDatabaseName: .db, destinationTableName: .table, operation: \"insert\"}" },
                { "ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6" } ] },
            { "Type": "Lambda", "Parameters": [ { "ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:eu-west-1:123456789012:function:route:$LATEST" } ] }
        ]
    });
    let c = import(&doc).unwrap();
    let tables = noted(&c, "names 2 tables");
    assert!(
        tables.contains("only the first, analytics.events") && tables.contains("shop.orders"),
        "{tables}"
    );
    let query = noted(
        &c,
        "the MetadataExtraction query `{destinationDatabaseName: .db",
    );
    assert!(
        query.contains("carried over as processing.partition_query")
            && query.contains("update or delete goes to the error output"),
        "{query}"
    );
    let t = written(&c);
    assert_eq!(
        str_at(&t, "processing.lambda.function"),
        "arn:aws:lambda:eu-west-1:123456789012:function:route:$LATEST",
        "the Lambda processor is carried over"
    );
    assert_eq!(str_at(&t, "destination.iceberg.table"), "events");
    let routing =
        kinesink_partitioning::MetadataQuery::compile(str_at(&t, "processing.partition_query"))
            .unwrap();
    let keys = routing
        .extract(&serde_json::json!({"db": "shop", "table": "orders", "n": 1}))
        .unwrap();
    assert_eq!(keys.get("destinationDatabaseName"), Some("shop"));
    assert_eq!(keys.get("destinationTableName"), Some("orders"));
    assert_eq!(
        keys.get("operation"),
        None,
        "operation is not a routing key"
    );
    if let Err(e) = load_doc(&doc) {
        panic!("the import of several tables does not load: {e}");
    }
}

#[test]
fn an_s3_tables_catalog_is_carried_over_as_its_table_bucket_and_loads() {
    let mut doc = fixture("iceberg.json");
    iceberg_mut(&mut doc)["CatalogConfiguration"] = serde_json::json!({
        "CatalogARN": "arn:aws:glue:eu-west-1:123456789012:catalog/s3tablescatalog/acme-tables"
    });
    let c = import(&doc).unwrap();
    assert!(
        !c.not_carried_over.iter().any(|m| m.contains("S3 Tables")),
        "{:#?}",
        c.not_carried_over
    );
    let t = written(&c);
    assert_eq!(str_at(&t, "destination.iceberg.catalog"), "s3tables");
    assert_eq!(
        str_at(&t, "destination.iceberg.warehouse"),
        "arn:aws:s3tables:eu-west-1:123456789012:bucket/acme-tables"
    );
    assert_eq!(
        str_at(&t, "format.glue.catalog_id"),
        "123456789012:s3tablescatalog/acme-tables"
    );
    let settings = load_doc(&doc).expect("an S3 Tables destination loads");
    assert_eq!(
        settings.iceberg.unwrap().kind,
        CatalogKind::S3Tables {
            table_bucket_arn: "arn:aws:s3tables:eu-west-1:123456789012:bucket/acme-tables".into()
        }
    );
}

#[test]
fn a_catalog_elsewhere_is_named_and_a_missing_warehouse_is_derived_from_the_error_bucket() {
    let mut doc = fixture("iceberg.json");
    iceberg_mut(&mut doc)["CatalogConfiguration"] =
        serde_json::json!({ "CatalogARN": "arn:aws:glue:us-east-1:999999999999:catalog" });
    let c = import(&doc).unwrap();
    noted(&c, "the catalog's region us-east-1");
    noted(&c, "the cross-account catalog of account 999999999999");
    noted(&c, "WarehouseLocation is not set");
    let t = written(&c);
    assert_eq!(
        str_at(&t, "destination.iceberg.warehouse"),
        "s3://acme-firehose-errors/warehouse"
    );
    load_doc(&doc).unwrap();
}

#[test]
fn all_data_backup_goes_to_the_backup_prefix_and_schema_evolution_is_named() {
    let mut doc = fixture("iceberg.json");
    let i = iceberg_mut(&mut doc);
    i["S3BackupMode"] = "AllData".into();
    i["S3DestinationDescription"]["Prefix"] = "source-records/".into();
    i["SchemaEvolutionConfiguration"]["Enabled"] = true.into();
    let c = import(&doc).unwrap();
    let t = written(&c);
    assert_eq!(str_at(&t, "destination.backup_prefix"), "source-records/");
    assert!(get(&t, "destination.prefix").is_none());
    noted(&c, "SchemaEvolutionConfiguration");
    let s = load_doc(&doc).unwrap();
    assert_eq!(
        s.worker
            .prefixes
            .backup()
            .map(|p| p.text().to_owned())
            .as_deref(),
        Some("source-records/")
    );
}

#[test]
fn an_iceberg_destination_without_a_table_is_refused_with_the_reason() {
    let mut doc = fixture("iceberg.json");
    iceberg_mut(&mut doc)["DestinationTableConfigurationList"] = serde_json::json!([]);
    let e = import(&doc).unwrap_err().to_string();
    assert!(e.contains("DestinationTableConfigurationList"), "{e}");
}

#[test]
fn a_routing_query_carries_its_tables_and_sends_updates_and_deletes_to_the_error_output() {
    let query = "{destinationDatabaseName: .db, destinationTableName: .table, operation: .op}";
    let routing = kinesink_partitioning::MetadataQuery::compile(
        &super::super::iceberg_destination::routing_query(query),
    )
    .unwrap();
    let route = |record: serde_json::Value| {
        routing.extract(&record).map(|keys| {
            (
                keys.get("destinationDatabaseName").map(str::to_owned),
                keys.get("destinationTableName").map(str::to_owned),
            )
        })
    };
    let both = (Some("shop".to_owned()), Some("orders".to_owned()));
    assert_eq!(
        route(serde_json::json!({"db": "shop", "table": "orders", "op": "insert"})).unwrap(),
        both
    );
    assert_eq!(
        route(serde_json::json!({"db": "shop", "table": "orders", "op": "INSERT"})).unwrap(),
        both,
        "Firehose's operation is case-insensitive"
    );
    assert_eq!(
        route(serde_json::json!({"db": "shop", "table": "orders"})).unwrap(),
        both,
        "no operation is an insert"
    );
    assert_eq!(
        route(serde_json::json!({"table": "orders"})).unwrap(),
        (None, Some("orders".to_owned())),
        "a missing database routes to the default table's database"
    );
    assert_eq!(
        route(serde_json::json!({"other": 1})).unwrap(),
        (None, None),
        "no routing key: the default table"
    );
    for op in ["update", "delete"] {
        let failure = route(serde_json::json!({"db": "shop", "table": "orders", "op": op}))
            .expect_err("an update or delete is not appended");
        assert!(
            failure.to_string().contains("kinesink only appends"),
            "{op}: {failure}"
        );
    }
}
