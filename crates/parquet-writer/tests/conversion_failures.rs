//! Records that do not fit the schema are refused one by one with a reason and Firehose's error
//! code, and leave the encoder exactly as it was.

mod common;

use common::{encoder, read_parquet};
use kinesink_parquet_writer::{
    ConversionErrorRecord, ConversionFailureKind, DataCatalogTable,
    FORMAT_CONVERSION_FAILED_OUTPUT_TYPE, MALFORMED_DATA_ERROR_CODE, SerdeOptions,
};

const SCHEMA: &str =
    "id string, qty tinyint, price decimal(5,2), ts timestamp, ok boolean, day date, blob binary,
tags array<int>, attrs map<int,string>, inner struct<n:int>";

fn failure_of(record: &[u8]) -> (ConversionFailureKind, String) {
    let mut enc = encoder(SCHEMA, SerdeOptions::default());
    let e = enc
        .append_bytes(record)
        .expect_err("the record must be refused");
    assert_eq!(e.error_code(), MALFORMED_DATA_ERROR_CODE);
    (e.kind(), e.message().to_owned())
}

#[test]
fn each_kind_of_bad_record_is_refused_with_its_kind_and_the_column_named() {
    let cases: [(&[u8], ConversionFailureKind, &str); 19] = [
        (b"", ConversionFailureKind::EmptyRecord, "empty"),
        (b"  \n ", ConversionFailureKind::EmptyRecord, "empty"),
        (b"\xff\xfe{}", ConversionFailureKind::NotUtf8, "UTF-8"),
        (
            b"{\"id\":",
            ConversionFailureKind::NotJson,
            "not valid JSON",
        ),
        (
            b"{\"id\":1} trailing",
            ConversionFailureKind::NotJson,
            "not valid JSON",
        ),
        (
            b"[{\"id\":\"a\"}]",
            ConversionFailureKind::NotAJsonObject,
            "an array",
        ),
        (b"42", ConversionFailureKind::NotAJsonObject, "a number"),
        (
            br#"{"qty":"many"}"#,
            ConversionFailureKind::InvalidValue,
            "column `qty`",
        ),
        (
            br#"{"qty":300}"#,
            ConversionFailureKind::OutOfRange,
            "column `qty`",
        ),
        (
            br#"{"qty":1.5}"#,
            ConversionFailureKind::InvalidValue,
            "column `qty`",
        ),
        (
            br#"{"price":1000}"#,
            ConversionFailureKind::OutOfRange,
            "column `price`",
        ),
        (
            br#"{"ts":"next tuesday"}"#,
            ConversionFailureKind::InvalidValue,
            "column `ts`",
        ),
        (
            br#"{"ts":true}"#,
            ConversionFailureKind::TypeMismatch,
            "column `ts`",
        ),
        (
            br#"{"ok":"yes"}"#,
            ConversionFailureKind::InvalidValue,
            "column `ok`",
        ),
        (
            br#"{"day":12}"#,
            ConversionFailureKind::TypeMismatch,
            "column `day`",
        ),
        (
            br#"{"blob":"not base64!"}"#,
            ConversionFailureKind::InvalidValue,
            "column `blob`",
        ),
        (
            br#"{"tags":[1,"x"]}"#,
            ConversionFailureKind::InvalidValue,
            "column `tags[1]`",
        ),
        (
            br#"{"attrs":{"one":"1"}}"#,
            ConversionFailureKind::InvalidValue,
            "map key",
        ),
        (
            br#"{"inner":{"n":{}}}"#,
            ConversionFailureKind::TypeMismatch,
            "column `inner.n`",
        ),
    ];
    for (record, kind, needle) in cases {
        let (got_kind, message) = failure_of(record);
        assert_eq!(
            got_kind,
            kind,
            "{}: {message}",
            String::from_utf8_lossy(record)
        );
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
    }
}

#[test]
fn a_refused_record_leaves_no_partial_row_even_when_it_fails_on_its_last_column() {
    let good = [
        r#"{"id":"a","qty":1,"tags":[1,2],"attrs":{"1":"x"},"inner":{"n":1}}"#,
        r#"{"id":"b","qty":2}"#,
    ];
    // Fails after filling every earlier column, including nested ones.
    let bad = r#"{"id":"zzz","qty":3,"price":1.5,"tags":[7,8,9],"attrs":{"5":"y"},"inner":{"n":"not a number"}}"#;

    let mut with_failure = encoder(SCHEMA, SerdeOptions::default());
    with_failure.append_bytes(good[0].as_bytes()).unwrap();
    let before = with_failure.record_count();
    assert!(with_failure.append_bytes(bad.as_bytes()).is_err());
    assert_eq!(with_failure.record_count(), before);
    let parsed: serde_json::Value = serde_json::from_str(bad).unwrap();
    assert!(with_failure.append_json(&parsed).is_err());
    with_failure.append_bytes(good[1].as_bytes()).unwrap();

    let mut without = encoder(SCHEMA, SerdeOptions::default());
    for g in good {
        without.append_bytes(g.as_bytes()).unwrap();
    }
    assert_eq!(
        read_parquet(with_failure.finish().unwrap()),
        read_parquet(without.finish().unwrap())
    );
}

#[test]
fn a_record_of_several_documents_is_refused_whole_when_one_does_not_fit() {
    let mut enc = encoder("i int", SerdeOptions::default());
    let e = enc.append_bytes(br#"{"i":1}{"i":"x"}"#).unwrap_err();
    assert!(
        e.message().starts_with("document 2 of 2"),
        "{}",
        e.message()
    );
    assert_eq!(enc.record_count(), 0);
    assert_eq!(read_parquet(enc.finish().unwrap()).num_rows(), 0);
}

#[test]
fn the_error_record_has_firehoses_fields_and_the_exact_raw_bytes() {
    let raw = b"{\"qty\":\"many\"}";
    let mut enc = encoder(SCHEMA, SerdeOptions::default());
    let failure = enc.append_bytes(raw).unwrap_err();
    let table = DataCatalogTable {
        catalog_id: "123456789012".into(),
        database_name: "db".into(),
        table_name: "events".into(),
        region: "eu-west-1".into(),
        version_id: "LATEST".into(),
    };
    let line = ConversionErrorRecord {
        raw_data: raw,
        failure: &failure,
        arrival_timestamp_ms: 1_795_341_600_000,
        attempt_ending_timestamp_ms: 1_795_341_601_000,
        sequence_number: "49590338271490256608559692538361571095921575989136588898",
        sub_sequence_number: Some(3),
        data_catalog_table: Some(&table),
    }
    .to_json_line();
    assert!(!line.contains(&b'\n'));
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["attemptsMade"], 1);
    assert_eq!(v["arrivalTimestamp"], 1_795_341_600_000_i64);
    assert_eq!(v["attemptEndingTimestamp"], 1_795_341_601_000_i64);
    assert_eq!(v["lastErrorCode"], "DataFormatConversion.MalformedData");
    assert_eq!(v["lastErrorMessage"], failure.message());
    assert_eq!(
        v["rawData"], "eyJxdHkiOiJtYW55In0=",
        "base64 of the record as received"
    );
    assert_eq!(
        v["sequenceNumber"],
        "49590338271490256608559692538361571095921575989136588898"
    );
    assert_eq!(v["subSequenceNumber"], 3);
    assert_eq!(v["dataCatalogTable"]["tableName"], "events");
    assert_eq!(
        FORMAT_CONVERSION_FAILED_OUTPUT_TYPE,
        "format-conversion-failed"
    );
}

#[test]
fn a_required_column_is_written_non_nullable_and_a_record_without_its_value_is_refused() {
    use std::sync::Arc;
    let schema = kinesink_parquet_writer::TableSchema::parse_hive("id bigint, note string")
        .unwrap()
        .with_required_columns(|name| name == "id");
    assert!(schema.is_required(0) && !schema.is_required(1));
    assert!(!schema.arrow_schema().field(0).is_nullable());
    assert!(schema.arrow_schema().field(1).is_nullable());
    let mut enc = kinesink_parquet_writer::ParquetObjectEncoder::new(
        Arc::new(schema),
        Arc::new(SerdeOptions::default()),
        kinesink_parquet_writer::ParquetOptions::default(),
    )
    .unwrap();
    enc.append_bytes(br#"{"id": 1, "note": "kept"}"#).unwrap();
    for missing in [&br#"{"note": "no id"}"#[..], br#"{"id": null}"#] {
        let e = enc
            .append_bytes(missing)
            .expect_err("no value for a required column");
        assert_eq!(e.kind(), ConversionFailureKind::InvalidValue);
        assert!(
            e.message().contains("column `id` is required"),
            "{}",
            e.message()
        );
    }
    // The refused records left nothing behind: the optional column may still be null.
    enc.append_bytes(br#"{"id": 2}"#).unwrap();
    assert_eq!(enc.record_count(), 2);
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(batch.num_rows(), 2);
    assert!(
        !batch.schema().field(0).is_nullable(),
        "the file's column is required"
    );
    assert_eq!(batch.column(0).null_count(), 0);
    assert_eq!(batch.column(1).null_count(), 1);
}
