//! A record's partition source values (kinesink-parquet-writer's `ColumnValueReader` →
//! `PartitionSources` → `Datum`) are exactly what the Parquet file written from the same
//! record holds: the reference is the file, read back with the `parquet` crate's Arrow
//! reader, or hand-written literals — never the code under test.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use iceberg::spec::{Datum, NestedField, PrimitiveType, Schema, StructType, Type};
use kinesink_iceberg_sink::{
    PartitionSourceError, PartitionSources, PartitionValues, parse_partition_spec,
};
use kinesink_parquet_writer::{
    JsonRecordParser, ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const HIVE: &str = "event_type string, i int, si smallint, l bigint, d date, ts timestamp, \
                    tz timestamp, dec decimal(6,2), b boolean, bin binary, st struct<k:int>";
/// Every source column, in schema order (the order of the identity spec below).
const COLUMNS: [&str; 11] = [
    "event_type",
    "i",
    "si",
    "l",
    "d",
    "ts",
    "tz",
    "dec",
    "b",
    "bin",
    "st.k",
];

fn iceberg_schema() -> Schema {
    let p = |id, name: &str, t| Arc::new(NestedField::optional(id, name, Type::Primitive(t)));
    Schema::builder()
        .with_fields([
            p(1, "event_type", PrimitiveType::String),
            p(2, "i", PrimitiveType::Int),
            p(3, "si", PrimitiveType::Int),
            p(4, "l", PrimitiveType::Long),
            p(5, "d", PrimitiveType::Date),
            p(6, "ts", PrimitiveType::Timestamp),
            p(7, "tz", PrimitiveType::Timestamptz),
            p(
                8,
                "dec",
                PrimitiveType::Decimal {
                    precision: 6,
                    scale: 2,
                },
            ),
            p(9, "b", PrimitiveType::Boolean),
            p(10, "bin", PrimitiveType::Binary),
            Arc::new(NestedField::optional(
                11,
                "st",
                Type::Struct(StructType::new(vec![p(12, "k", PrimitiveType::Int)])),
            )),
        ])
        .build()
        .expect("test schema")
}

fn options(dots: bool) -> SerdeOptions {
    SerdeOptions {
        column_to_json_key_mappings: BTreeMap::from([("l".to_owned(), "Payload_Size".to_owned())]),
        convert_dots_in_json_keys_to_underscores: dots,
        ..SerdeOptions::default()
    }
}

/// Partition values and sources of `spec` over the test schemas.
fn setup(spec: &str, options: &SerdeOptions) -> (PartitionValues, PartitionSources) {
    let schema = iceberg_schema();
    let bound = parse_partition_spec(spec)
        .expect("spec text")
        .bind(schema.clone())
        .expect("spec binds");
    let values = PartitionValues::new(&bound, &schema).expect("partition values");
    let table = TableSchema::parse_hive(HIVE).expect("hive schema");
    let sources = PartitionSources::new(&values, &schema, &table, options).expect("sources");
    (values, sources)
}

/// The record through the Parquet writer: each source column's value in the file as a
/// `Datum` of its Iceberg type (by hand from the Arrow arrays), or the writer's failure.
fn through_parquet(record: &str, options: &SerdeOptions) -> Result<Vec<Option<Datum>>, String> {
    let table = Arc::new(TableSchema::parse_hive(HIVE).expect("hive schema"));
    let mut encoder =
        ParquetObjectEncoder::new(table, Arc::new(options.clone()), ParquetOptions::default())
            .expect("encoder");
    encoder
        .append_bytes(record.as_bytes())
        .map_err(|e| format!("{:?}: {}", e.kind(), e.message()))?;
    let bytes = encoder.finish().expect("a file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .expect("parquet")
        .build()
        .expect("reader");
    let batch: RecordBatch = reader.map(|b| b.expect("batch")).next().expect("one batch");
    let schema = iceberg_schema();
    Ok(COLUMNS
        .iter()
        .map(|path| {
            let (array, row) = column_array(&batch, path);
            let t = schema
                .field_by_name(path)
                .and_then(|f| f.field_type.as_primitive_type().cloned())
                .expect("primitive");
            file_datum(&array, row, &t)
        })
        .collect())
}

/// The array holding `path` (a column, or `st.k`) and the row to read (always the first).
fn column_array(batch: &RecordBatch, path: &str) -> (ArrayRef, usize) {
    match path.split_once('.') {
        None => (Arc::clone(batch.column_by_name(path).expect("column")), 0),
        Some((outer, inner)) => {
            let st = batch.column_by_name(outer).expect("struct").as_struct();
            if st.is_null(0) {
                return (Arc::new(arrow_array::Int32Array::new_null(1)), 0);
            }
            (Arc::clone(st.column_by_name(inner).expect("field")), 0)
        }
    }
}

fn file_datum(array: &ArrayRef, row: usize, t: &PrimitiveType) -> Option<Datum> {
    if array.is_null(row) {
        return None;
    }
    Some(match t {
        PrimitiveType::String => Datum::string(array.as_string::<i32>().value(row)),
        PrimitiveType::Int => match array.as_primitive_opt::<Int32Type>() {
            Some(a) => Datum::int(a.value(row)),
            None => Datum::int(i32::from(
                array
                    .as_primitive::<arrow_array::types::Int16Type>()
                    .value(row),
            )),
        },
        PrimitiveType::Long => Datum::long(array.as_primitive::<Int64Type>().value(row)),
        PrimitiveType::Date => Datum::date(array.as_primitive::<Date32Type>().value(row)),
        PrimitiveType::Timestamp => {
            Datum::timestamp_micros(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        PrimitiveType::Timestamptz => {
            Datum::timestamptz_micros(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        PrimitiveType::Decimal { .. } => Datum::try_from_bytes(
            &array
                .as_primitive::<Decimal128Type>()
                .value(row)
                .to_be_bytes(),
            t.clone(),
        )
        .expect("decimal"),
        PrimitiveType::Boolean => Datum::bool(array.as_boolean().value(row)),
        PrimitiveType::Binary => Datum::binary(array.as_binary::<i32>().value(row).to_vec()),
        other => panic!("no test column of type {other}"),
    })
}

/// The record through the partition source path, with failures worded like the writer's.
fn through_sources(record: &str, options: &SerdeOptions) -> Result<Vec<Option<Datum>>, String> {
    let (_, sources) = setup(&COLUMNS.join(", "), options);
    let mut parser = JsonRecordParser::new();
    let parsed = parser
        .parse(record.as_bytes())
        .map_err(|e| format!("{:?}: {}", e.kind(), e.message()))?;
    sources.read(&parsed).map_err(|e| match e {
        PartitionSourceError::Conversion(e) => format!("{:?}: {}", e.kind(), e.message()),
        other => panic!("not a conversion failure: {other}"),
    })
}

fn assert_both_paths_agree(records: &[&str], options: &SerdeOptions) {
    for record in records {
        let file = through_parquet(record, options);
        let sources = through_sources(record, options);
        assert_eq!(sources, file, "record {record}");
    }
}

#[test]
fn every_source_type_reads_as_the_parquet_file_holds_it_with_the_openx_coercions() {
    assert_both_paths_agree(
        &[
            r#"{"event_type":"click","i":42,"si":7,"l":9000000000,"d":"2023-11-14","ts":"2023-11-14 22:13:20","tz":"2023-11-14T22:13:20Z","dec":12.34,"b":true,"bin":"aGk=","st":{"k":5}}"#,
            // Strings into numbers, booleans and decimals (rounded half up), numbers into text.
            r#"{"event_type":12.5,"i":"42","si":"-3","Payload_Size":"-17","dec":"1.005","b":"TRUE","st":{"K":"6"}}"#,
            r#"{"event_type":{"a":[1,2]},"dec":-2.345,"b":"false","d":"2024-02-29"}"#,
            // Case-insensitive keys; the mapped key in another case; epoch numbers.
            r#"{"EVENT_TYPE":"view","I":-3,"payload_size":5,"ts":1700000000123,"tz":1700000000}"#,
            r#"{"ts":"2023-11-14T22:13:20.123456+01:00","tz":"2023-11-14 22:13:20.5","bin":"aGk"}"#,
            // Positional and empty structs.
            r#"{"st":[8]}"#,
            r#"{"st":[]}"#,
            // Best key wins, then the last of equally good ones.
            r#"{"i":1,"I":2}"#,
            r#"{"I":2,"i":1,"i":3}"#,
        ],
        &options(false),
    );
}

#[test]
fn keys_of_other_lengths_are_skipped_but_keys_that_lowercase_to_another_length_still_match() {
    // U+212A KELVIN SIGN (3 bytes) lowercases to `k` (1 byte): it is field `k` of `st`, as the
    // writer reads it; keys one byte longer or shorter than a column's name are other keys.
    let records = [
        "{\"st\":{\"\u{212a}\":5}}",
        "{\"st\":{\"k\":1,\"\u{212a}\":2}}",
        "{\"st\":{\"\u{212a}\":2,\"K\":3}}",
        r#"{"event_typex":"no","event_type":"yes","event_typ":"no","i":1,"ii":2,"":3}"#,
    ];
    assert_both_paths_agree(&records, &options(false));
    let kelvin = through_sources(records[0], &options(false)).expect("reads");
    assert_eq!(kelvin[10], Some(Datum::int(5)));
    let last = through_sources(records[2], &options(false)).expect("reads");
    assert_eq!(last[10], Some(Datum::int(3)));
    let named = through_sources(records[3], &options(false)).expect("reads");
    assert_eq!(named[0], Some(Datum::string("yes")));
    assert_eq!(named[1], Some(Datum::int(1)));
    // Two columns mapped to one JSON key: the key fills the first of them only.
    let shared = SerdeOptions {
        column_to_json_key_mappings: BTreeMap::from([("l".to_owned(), "i".to_owned())]),
        ..SerdeOptions::default()
    };
    assert_both_paths_agree(&[r#"{"i":5}"#, r#"{"I":6,"l":7}"#], &shared);
}

#[test]
fn nulls_and_absent_fields_are_no_value_both_ways() {
    assert_both_paths_agree(
        &[
            r#"{}"#,
            r#"{"event_type":null,"i":null,"ts":null,"dec":null,"st":null}"#,
            r#"{"st":{"other":1},"unknown":"x"}"#,
        ],
        &options(false),
    );
    let values = through_sources(r#"{"event_type":null}"#, &options(false)).expect("reads");
    assert!(values.iter().all(Option::is_none), "{values:?}");
}

#[test]
fn a_value_the_column_cannot_take_fails_with_the_writers_own_failure() {
    let records = [
        r#"{"i":"abc"}"#,
        r#"{"i":3000000000}"#,
        r#"{"si":40000}"#,
        r#"{"i":1.5}"#,
        r#"{"d":"14/11/2023"}"#,
        r#"{"ts":"yesterday"}"#,
        r#"{"dec":"12345.6"}"#,
        r#"{"b":"yes"}"#,
        r#"{"bin":"not base64!"}"#,
        r#"{"st":5}"#,
        r#"{"st":{"k":"x"}}"#,
        r#"[1,2]"#,
    ];
    for record in records {
        let file = through_parquet(record, &options(false));
        assert!(file.is_err(), "the writer refuses {record}");
        assert_eq!(
            through_sources(record, &options(false)),
            file,
            "record {record}"
        );
    }
}

#[test]
fn dotted_keys_are_read_as_underscored_columns_only_when_the_option_says_so() {
    let record = r#"{"event.type":"dotted"}"#;
    assert_both_paths_agree(&[record], &options(true));
    assert_both_paths_agree(&[record], &options(false));
    assert_eq!(
        through_sources(record, &options(true)).expect("reads")[0],
        Some(Datum::string("dotted"))
    );
    assert_eq!(
        through_sources(record, &options(false)).expect("reads")[0],
        None
    );
}

#[test]
fn coerced_values_equal_hand_written_literals() {
    let values = through_sources(
        r#"{"event_type":7,"i":"42","Payload_Size":"-17","d":"2023-11-14","ts":"2023-11-14T22:13:20Z","tz":1700000000123,"dec":"1.005","b":"TRUE","bin":"aGk=","st":[9]}"#,
        &options(false),
    )
    .expect("reads");
    let decimal = PrimitiveType::Decimal {
        precision: 6,
        scale: 2,
    };
    assert_eq!(
        values,
        vec![
            Some(Datum::string("7")),
            Some(Datum::int(42)),
            None,
            Some(Datum::long(-17)),
            Some(Datum::date(19_675)),
            Some(Datum::timestamp_micros(1_700_000_000_000_000)),
            Some(Datum::timestamptz_micros(1_700_000_000_123_000)),
            Some(Datum::try_from_bytes(&101_i128.to_be_bytes(), decimal).expect("decimal")),
            Some(Datum::bool(true)),
            Some(Datum::binary(b"hi".to_vec())),
            Some(Datum::int(9)),
        ]
    );
}

#[test]
fn a_record_of_several_documents_has_a_source_value_only_if_they_agree() {
    let same = through_sources(r#"{"i":1}{"i":"1"}"#, &options(false)).expect("agree");
    assert_eq!(same[1], Some(Datum::int(1)));
    let differ = through_sources(r#"{"i":1}{"i":2}"#, &options(false));
    assert!(differ.is_err(), "{differ:?}");
}

#[test]
fn a_record_gets_the_partition_path_of_its_event_type_and_day() {
    let (values, sources) = setup("event_type, day(ts)", &options(false));
    let mut parser = JsonRecordParser::new();
    let record = parser
        .parse(br#"{"Event_Type":"click","ts":"2023-11-14 23:59:59.999"}"#)
        .expect("json");
    let partition = values
        .partition(&sources.read(&record).expect("sources"))
        .expect("partition");
    assert_eq!(partition.path(), "event_type=click/ts_day=2023-11-14");
    let record = parser.parse(br#"{"ts":1700006400000}"#).expect("json");
    let partition = values
        .partition(&sources.read(&record).expect("sources"))
        .expect("partition");
    assert_eq!(partition.path(), "event_type=null/ts_day=2023-11-15");
}

#[test]
fn a_source_column_whose_types_disagree_is_refused_naming_it() {
    let schema = iceberg_schema();
    let bound = parse_partition_spec("i")
        .expect("spec")
        .bind(schema.clone())
        .expect("binds");
    let values = PartitionValues::new(&bound, &schema).expect("values");
    let table = TableSchema::parse_hive("i bigint").expect("hive");
    let refused = PartitionSources::new(&values, &schema, &table, &options(false));
    let Err(PartitionSourceError::Column { column, .. }) = refused else {
        panic!("a bigint data column for an int Iceberg column must be refused: {refused:?}");
    };
    assert_eq!(column, "i");
}
