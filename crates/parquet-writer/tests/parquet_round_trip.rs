//! Every Hive type written by `ParquetObjectEncoder` and read back with the `parquet` crate's
//! Arrow reader: values, nulls, nesting, decimals, timestamps in every accepted form, numbers
//! given as strings (OpenX rules), and the SerDe options.

mod common;

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use common::{encode_texts, encoder, encoder_with, read_parquet};
use kinesink_parquet_writer::{
    ParquetCompression, ParquetOptions, ParquetWriterVersion, SerdeOptions,
};

const ALL_TYPES: &str =
    "s string, ti tinyint, si smallint, i int, bi bigint, f float, d double, b boolean,
ts timestamp, dt date, dec decimal(10,3), bin binary, arr array<int>, m map<string,double>,
st struct<name:string, inner:struct<x:int, tags:array<string>>>, mi map<int,string>,
aos array<struct<k:string,v:bigint>>, vc varchar(10)";

fn micros(text: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

fn days(y: i32, m: u32, d: u32) -> i32 {
    let since =
        NaiveDate::from_ymd_opt(y, m, d).unwrap() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    i32::try_from(since.num_days()).unwrap()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_ref()
}

fn all_types_file(records: &[&str]) -> RecordBatch {
    let mut enc = encoder(ALL_TYPES, SerdeOptions::default());
    for outcome in encode_texts(&mut enc, records) {
        outcome.expect("every test record converts");
    }
    read_parquet(enc.finish().unwrap())
}

const FULL_RECORD: &str = r#"{"s":"héllo","ti":-7,"si":300,"i":70000,"bi":9000000000,"f":1.5,"d":-2.25,"b":true,
"ts":"2026-11-22T10:00:00.123Z","dt":"2026-11-22","dec":12.345,"bin":"AAEC/w==","arr":[1,2,3],
"m":{"a":1.5,"b":2},"st":{"name":"n","inner":{"x":5,"tags":["p","q"]}},"mi":{"1":"one","20":"twenty"},
"aos":[{"k":"a","v":1},{"k":"b","v":2}],"vc":"short"}"#;

#[test]
fn every_hive_type_reads_back_with_the_arrow_type_the_readme_lists_and_its_value() {
    let batch = all_types_file(&[FULL_RECORD]);
    assert_eq!(batch.num_rows(), 1);

    let expected_types = [
        ("s", DataType::Utf8),
        ("ti", DataType::Int8),
        ("si", DataType::Int16),
        ("i", DataType::Int32),
        ("bi", DataType::Int64),
        ("f", DataType::Float32),
        ("d", DataType::Float64),
        ("b", DataType::Boolean),
        (
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        ("dt", DataType::Date32),
        ("dec", DataType::Decimal128(10, 3)),
        ("bin", DataType::Binary),
        ("vc", DataType::Utf8),
    ];
    for (name, data_type) in expected_types {
        assert_eq!(column(&batch, name).data_type(), &data_type, "{name}");
    }

    assert_eq!(column(&batch, "s").as_string::<i32>().value(0), "héllo");
    assert_eq!(column(&batch, "ti").as_primitive::<Int8Type>().value(0), -7);
    assert_eq!(
        column(&batch, "si").as_primitive::<Int16Type>().value(0),
        300
    );
    assert_eq!(
        column(&batch, "i").as_primitive::<Int32Type>().value(0),
        70_000
    );
    assert_eq!(
        column(&batch, "bi").as_primitive::<Int64Type>().value(0),
        9_000_000_000
    );
    assert_eq!(
        column(&batch, "f").as_primitive::<Float32Type>().value(0),
        1.5
    );
    assert_eq!(
        column(&batch, "d").as_primitive::<Float64Type>().value(0),
        -2.25
    );
    assert!(column(&batch, "b").as_boolean().value(0));
    assert_eq!(
        column(&batch, "ts")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        micros("2026-11-22 10:00:00.123")
    );
    assert_eq!(
        column(&batch, "dt").as_primitive::<Date32Type>().value(0),
        days(2026, 11, 22)
    );
    assert_eq!(
        column(&batch, "dec")
            .as_primitive::<Decimal128Type>()
            .value(0),
        12_345
    );
    assert_eq!(
        column(&batch, "bin").as_binary::<i32>().value(0),
        &[0u8, 1, 2, 255]
    );
    assert_eq!(column(&batch, "vc").as_string::<i32>().value(0), "short");

    let arr = column(&batch, "arr").as_list::<i32>().value(0);
    assert_eq!(
        arr.as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 3]
    );

    let m = column(&batch, "m").as_map();
    let entries = m.value(0);
    let keys: Vec<&str> = entries
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    let values: Vec<f64> = entries
        .column(1)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(values, [1.5, 2.0]);

    let mi = column(&batch, "mi").as_map().value(0);
    assert_eq!(
        mi.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 20]
    );
    assert_eq!(mi.column(1).as_string::<i32>().value(1), "twenty");

    let st = column(&batch, "st").as_struct();
    assert_eq!(
        st.column_by_name("name")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "n"
    );
    let inner = st.column_by_name("inner").unwrap().as_struct();
    assert_eq!(
        inner
            .column_by_name("x")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(0),
        5
    );
    let tags = inner
        .column_by_name("tags")
        .unwrap()
        .as_list::<i32>()
        .value(0);
    assert_eq!(
        tags.as_string::<i32>()
            .iter()
            .map(Option::unwrap)
            .collect::<Vec<_>>(),
        ["p", "q"]
    );

    let aos = column(&batch, "aos").as_list::<i32>().value(0);
    let aos = aos.as_struct();
    assert_eq!(aos.len(), 2);
    assert_eq!(
        aos.column_by_name("k").unwrap().as_string::<i32>().value(1),
        "b"
    );
    assert_eq!(
        aos.column_by_name("v")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(1),
        2
    );
}

#[test]
fn missing_fields_and_json_nulls_are_nulls_at_every_level() {
    let batch = all_types_file(&[
        "{}",
        r#"{"s":null,"arr":[1,null,3],"m":{"a":null},"st":{"name":null,"inner":null},"aos":[null,{"k":null}]}"#,
        r#"{"st":[]}"#,
    ]);
    assert_eq!(batch.num_rows(), 3);
    for c in batch.columns() {
        assert!(c.is_null(0), "an empty object gives nulls only");
    }
    assert!(column(&batch, "s").is_null(1));
    let arr = column(&batch, "arr").as_list::<i32>().value(1);
    assert_eq!(arr.len(), 3);
    assert!(arr.is_null(1) && arr.is_valid(0) && arr.is_valid(2));
    let m = column(&batch, "m").as_map().value(1);
    assert!(m.column(1).is_null(0));
    let st = column(&batch, "st").as_struct();
    assert!(st.is_valid(1));
    assert!(st.column_by_name("name").unwrap().is_null(1));
    assert!(st.column_by_name("inner").unwrap().is_null(1));
    let aos = column(&batch, "aos").as_list::<i32>().value(1);
    assert!(aos.is_null(0));
    assert!(aos.as_struct().column_by_name("k").unwrap().is_null(1));
    assert!(
        st.is_null(2),
        "an empty JSON array is a null struct, as in OpenX"
    );
}

#[test]
fn structs_given_as_arrays_fill_fields_by_position_as_openx_does() {
    let batch = all_types_file(&[r#"{"st":["n",{"x":1}]}"#, r#"{"st":["only-name"]}"#]);
    let st = column(&batch, "st").as_struct();
    assert_eq!(
        st.column_by_name("name")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "n"
    );
    let inner = st.column_by_name("inner").unwrap().as_struct();
    assert_eq!(
        inner
            .column_by_name("x")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(0),
        1
    );
    assert!(inner.is_null(1));
}

#[test]
fn timestamps_in_every_accepted_form_are_the_same_instant() {
    let forms = [
        r#"{"ts":"2026-11-22T10:00:00.123Z"}"#,
        r#"{"ts":"2026-11-22T10:00:00.123000000Z"}"#,
        r#"{"ts":"2026-11-22T12:00:00.123+02:00"}"#,
        r#"{"ts":"2026-11-22 10:00:00.123"}"#,
        r#"{"ts":"2026-11-22T10:00:00.123"}"#,
        r#"{"ts":1795341600.123}"#,
        r#"{"ts":"1795341600.123"}"#,
        r#"{"ts":1795341600123}"#,
        r#"{"ts":"1795341600123"}"#,
    ];
    let mut enc = encoder("ts timestamp", SerdeOptions::default());
    for outcome in encode_texts(&mut enc, &forms) {
        outcome.unwrap();
    }
    let batch = read_parquet(enc.finish().unwrap());
    let expected = micros("2026-11-22 10:00:00.123");
    let values = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(values.len(), forms.len());
    for (i, form) in forms.iter().enumerate() {
        assert_eq!(values.value(i), expected, "{form}");
    }

    let mut enc = encoder("ts timestamp", SerdeOptions::default());
    for outcome in encode_texts(
        &mut enc,
        &[
            r#"{"ts":1795341600}"#,
            r#"{"ts":"2026-11-22 10:00:00"}"#,
            r#"{"ts":"2026-11-22T10:00:00.123456789Z"}"#,
        ],
    ) {
        outcome.unwrap();
    }
    let batch = read_parquet(enc.finish().unwrap());
    let values = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        values.value(0),
        micros("2026-11-22 10:00:00"),
        "10-digit integers are epoch seconds"
    );
    assert_eq!(values.value(1), micros("2026-11-22 10:00:00"));
    assert_eq!(
        values.value(2),
        micros("2026-11-22 10:00:00.123456"),
        "digits below a microsecond are truncated"
    );
}

#[test]
fn numbers_and_booleans_given_as_strings_follow_the_openx_rules() {
    let schema =
        "ti tinyint, si smallint, i int, bi bigint, f float, d double, b boolean, dec decimal(5,2)";
    let mut enc = encoder(schema, SerdeOptions::default());
    let record = r#"{"ti":"12","si":"-300","i":"0x1F","bi":"9223372036854775807","f":"1.5","d":" -2.5e3 ","b":"TRUE","dec":"3.14159"}"#;
    encode_texts(&mut enc, &[record, r#"{"i":3.0,"d":7,"dec":"-0.005"}"#])
        .into_iter()
        .for_each(|o| o.unwrap());
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(column(&batch, "ti").as_primitive::<Int8Type>().value(0), 12);
    assert_eq!(
        column(&batch, "si").as_primitive::<Int16Type>().value(0),
        -300
    );
    assert_eq!(
        column(&batch, "i").as_primitive::<Int32Type>().value(0),
        31,
        "0x1F is hexadecimal"
    );
    assert_eq!(
        column(&batch, "bi").as_primitive::<Int64Type>().value(0),
        i64::MAX
    );
    assert_eq!(
        column(&batch, "f").as_primitive::<Float32Type>().value(0),
        1.5
    );
    assert_eq!(
        column(&batch, "d").as_primitive::<Float64Type>().value(0),
        -2500.0
    );
    assert!(column(&batch, "b").as_boolean().value(0));
    assert_eq!(
        column(&batch, "dec")
            .as_primitive::<Decimal128Type>()
            .value(0),
        314,
        "3.14159 rounds half-up to 3.14"
    );
    assert_eq!(
        column(&batch, "i").as_primitive::<Int32Type>().value(1),
        3,
        "an integral JSON float fits an int"
    );
    assert_eq!(
        column(&batch, "d").as_primitive::<Float64Type>().value(1),
        7.0
    );
    assert_eq!(
        column(&batch, "dec")
            .as_primitive::<Decimal128Type>()
            .value(1),
        -1,
        "-0.005 rounds half away from zero"
    );
}

#[test]
fn string_columns_take_any_json_value_as_its_json_text() {
    let mut enc = encoder("s string", SerdeOptions::default());
    let records = [
        r#"{"s":42}"#,
        r#"{"s":true}"#,
        r#"{"s":{"a":[1,"x"]}}"#,
        r#"{"s":[1,2]}"#,
        r#"{"s":1.5}"#,
        r#"{"s":"plain"}"#,
    ];
    encode_texts(&mut enc, &records)
        .into_iter()
        .for_each(|o| o.unwrap());
    let batch = read_parquet(enc.finish().unwrap());
    let values: Vec<&str> = batch
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(
        values,
        ["42", "true", r#"{"a":[1,"x"]}"#, "[1,2]", "1.5", "plain"]
    );
}

#[test]
fn keys_match_columns_case_insensitively_by_default_and_an_exact_key_wins() {
    let mut enc = encoder(
        "eventtype string, name string, unknown_col int",
        SerdeOptions::default(),
    );
    encode_texts(
        &mut enc,
        &[r#"{"EventType":"click","NAME":"upper","name":"exact","extra":1}"#],
    )
    .into_iter()
    .for_each(|o| o.unwrap());
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(
        column(&batch, "eventtype").as_string::<i32>().value(0),
        "click"
    );
    assert_eq!(column(&batch, "name").as_string::<i32>().value(0), "exact");
    assert!(
        column(&batch, "unknown_col").is_null(0),
        "unknown keys are ignored, missing columns null"
    );

    let sensitive = SerdeOptions {
        case_insensitive: false,
        ..SerdeOptions::default()
    };
    let mut enc = encoder("eventtype string", sensitive);
    encode_texts(&mut enc, &[r#"{"EventType":"click"}"#])
        .into_iter()
        .for_each(|o| o.unwrap());
    assert!(read_parquet(enc.finish().unwrap()).column(0).is_null(0));
}

#[test]
fn mappings_and_dot_conversion_fill_columns_from_other_keys() {
    let options = SerdeOptions {
        column_to_json_key_mappings: BTreeMap::from([("ts".to_owned(), "timestamp".to_owned())]),
        convert_dots_in_json_keys_to_underscores: true,
        ..SerdeOptions::default()
    };
    let mut enc = encoder("ts timestamp, a_b int, nested struct<c_d:string>", options);
    let record = r#"{"timestamp":"2026-11-22T10:00:00Z","ts":"1999-01-01T00:00:00Z","a.b":7,"nested":{"c.d":"x"}}"#;
    encode_texts(&mut enc, &[record])
        .into_iter()
        .for_each(|o| o.unwrap());
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(
        column(&batch, "ts")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        micros("2026-11-22 10:00:00"),
        "a mapped column reads only its key"
    );
    assert_eq!(
        column(&batch, "a_b").as_primitive::<Int32Type>().value(0),
        7
    );
    let nested = column(&batch, "nested").as_struct();
    assert_eq!(nested.column(0).as_string::<i32>().value(0), "x");

    let mut enc = encoder("a_b int", SerdeOptions::default());
    encode_texts(&mut enc, &[r#"{"a.b":7}"#])
        .into_iter()
        .for_each(|o| o.unwrap());
    assert!(
        read_parquet(enc.finish().unwrap()).column(0).is_null(0),
        "dots are kept unless converted"
    );
}

#[test]
fn a_key_repeated_in_the_json_text_keeps_its_last_value_on_both_paths() {
    let text = r#"{"i":1,"i":2}"#;
    let mut by_bytes = encoder("i int", SerdeOptions::default());
    by_bytes.append_bytes(text.as_bytes()).unwrap();
    let mut by_value = encoder("i int", SerdeOptions::default());
    by_value
        .append_json(&serde_json::from_str(text).unwrap())
        .unwrap();
    for batch in [
        read_parquet(by_bytes.finish().unwrap()),
        read_parquet(by_value.finish().unwrap()),
    ] {
        assert_eq!(batch.column(0).as_primitive::<Int32Type>().value(0), 2);
    }
}

#[test]
fn concatenated_documents_in_one_record_become_one_row_each() {
    let mut enc = encoder("i int", SerdeOptions::default());
    encode_texts(&mut enc, &[r#"{"i":1}{"i":2} {"i":3}"#])
        .into_iter()
        .for_each(|o| o.unwrap());
    assert_eq!(enc.record_count(), 3);
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(
        batch
            .column(0)
            .as_primitive::<Int32Type>()
            .values()
            .to_vec(),
        vec![1, 2, 3]
    );
}

#[test]
fn the_parsed_value_path_and_the_bytes_path_write_identical_rows() {
    let records = [
        FULL_RECORD,
        "{}",
        r#"{"arr":[1,null],"st":["a"],"ts":1795341600,"s":{"k":"v"}}"#,
    ];
    let mut by_value = encoder(ALL_TYPES, SerdeOptions::default());
    let mut by_bytes = encoder(ALL_TYPES, SerdeOptions::default());
    for r in records {
        let value: serde_json::Value = serde_json::from_str(r).unwrap();
        by_value.append_json(&value).unwrap();
        by_bytes.append_bytes(r.as_bytes()).unwrap();
    }
    assert_eq!(
        read_parquet(by_value.finish().unwrap()),
        read_parquet(by_bytes.finish().unwrap())
    );
}

#[test]
fn every_compression_writer_version_and_row_group_size_reads_back_the_same_rows() {
    let records: Vec<String> = (0..250)
        .map(|i| format!(r#"{{"id":"id-{i}","n":{i},"tag":"t{}"}}"#, i % 3))
        .collect();
    let texts: Vec<&str> = records.iter().map(String::as_str).collect();
    let mut reference = None;
    for compression in [
        ParquetCompression::Zstd { level: 3 },
        ParquetCompression::Zstd { level: 19 },
        ParquetCompression::Snappy,
        ParquetCompression::Gzip,
        ParquetCompression::Uncompressed,
    ] {
        for writer_version in [ParquetWriterVersion::V1, ParquetWriterVersion::V2] {
            let options = ParquetOptions {
                compression,
                writer_version,
                max_row_group_rows: 100,
                ..ParquetOptions::default()
            };
            let mut enc = encoder_with(
                "id string, n bigint, tag string",
                SerdeOptions::default(),
                options,
            );
            encode_texts(&mut enc, &texts)
                .into_iter()
                .for_each(|o| o.unwrap());
            let bytes = enc.finish().unwrap();
            let metadata = parquet::file::reader::FileReader::metadata(
                &parquet::file::serialized_reader::SerializedFileReader::new(bytes::Bytes::from(
                    bytes.clone(),
                ))
                .unwrap(),
            )
            .clone();
            assert_eq!(
                metadata.num_row_groups(),
                3,
                "250 rows in row groups of 100"
            );
            let batch = read_parquet(bytes);
            assert_eq!(batch.num_rows(), 250);
            let n: Vec<i64> = batch
                .column(1)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec();
            assert_eq!(
                n,
                (0..250).collect::<Vec<i64>>(),
                "rows stay in append order"
            );
            match &reference {
                None => reference = Some(batch),
                Some(r) => assert_eq!(r, &batch, "{compression:?} {writer_version:?}"),
            }
        }
    }
}

#[test]
fn automatic_dictionaries_skip_mostly_distinct_columns_and_keep_repetitive_ones() {
    let records: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"id":"event-{i}","country":"C{}"}}"#, i % 7))
        .collect();
    let texts: Vec<&str> = records.iter().map(String::as_str).collect();
    let mut enc = encoder("id string, country string", SerdeOptions::default());
    encode_texts(&mut enc, &texts)
        .into_iter()
        .for_each(|o| o.unwrap());
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes::Bytes::from(
        enc.finish().unwrap(),
    ))
    .unwrap();
    let row_group = parquet::file::reader::FileReader::metadata(&reader)
        .row_group(0)
        .clone();
    let uses_dictionary = |i: usize| row_group.column(i).dictionary_page_offset().is_some();
    assert!(!uses_dictionary(0), "ids are written plain");
    assert!(uses_dictionary(1), "a 7-value column keeps its dictionary");
}

#[test]
fn an_encoder_without_records_finishes_as_a_valid_empty_file_with_the_schema() {
    let enc = encoder("a string, b int", SerdeOptions::default());
    let batch = read_parquet(enc.finish().unwrap());
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema().fields().len(), 2);
}
