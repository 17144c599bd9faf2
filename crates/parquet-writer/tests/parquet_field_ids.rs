//! Parquet field ids: a schema given ids writes them on every field of the Parquet schema
//! (nested ones included) and its rows read back unchanged; a schema without them writes none.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::read_parquet;
use kinesink_parquet_writer::{
    MissingFieldId, ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema,
};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::schema::types::Type;

const NESTED: &str = "s string, i int, arr array<int>, m map<string,double>,
st struct<name:string, inner:struct<x:int, tags:array<string>>>, aos array<struct<k:string,v:bigint>>";

const RECORD: &str = r#"{"s":"a","i":1,"arr":[1,2],"m":{"k":1.5},
"st":{"name":"n","inner":{"x":5,"tags":["p"]}},"aos":[{"k":"a","v":1}]}"#;

/// `schema` with ids 1, 2, 3… in the order they are asked for, and the id given to each path.
fn numbered(schema: &TableSchema) -> (TableSchema, BTreeMap<String, i32>) {
    let mut ids = BTreeMap::new();
    let with_ids = schema
        .with_field_ids(|path| {
            let id = i32::try_from(ids.len()).unwrap() + 1;
            assert!(ids.insert(path.join("."), id).is_none(), "asked twice");
            Some(id)
        })
        .unwrap();
    (with_ids, ids)
}

fn write(schema: TableSchema, records: &[&str]) -> Vec<u8> {
    let mut encoder = ParquetObjectEncoder::new(
        Arc::new(schema),
        Arc::new(SerdeOptions::default()),
        ParquetOptions::default(),
    )
    .unwrap();
    for record in records {
        encoder.append_bytes(record.as_bytes()).unwrap();
    }
    encoder.finish().unwrap()
}

/// Every field of the Parquet schema with its Iceberg-style path (the repeated `list` and
/// `key_value` groups are not fields of their own) and its field id, if any.
fn parquet_field_ids(file: &[u8]) -> BTreeMap<String, Option<i32>> {
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::copy_from_slice(file))
        .unwrap();
    let mut out = BTreeMap::new();
    for field in metadata.file_metadata().schema().get_fields() {
        collect(field, "", &mut out);
    }
    out
}

fn collect(field: &Type, parent: &str, out: &mut BTreeMap<String, Option<i32>>) {
    let info = field.get_basic_info();
    let name = info.name();
    let repeated_group = field.is_group() && matches!(name, "list" | "key_value");
    let path = if repeated_group {
        parent.to_owned()
    } else {
        let path = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        };
        out.insert(path.clone(), info.has_id().then(|| info.id()));
        path
    };
    if field.is_group() {
        for child in field.get_fields() {
            collect(child, &path, out);
        }
    }
}

#[test]
fn a_schema_with_field_ids_writes_each_fields_id_on_every_parquet_field_nested_ones_included() {
    let plain = TableSchema::parse_hive(NESTED).unwrap();
    let (with_ids, ids) = numbered(&plain);
    let file = write(with_ids, &[RECORD]);
    let written = parquet_field_ids(&file);
    let expected: BTreeMap<String, Option<i32>> = ids
        .iter()
        .map(|(path, id)| (path.clone(), Some(*id)))
        .collect();
    assert_eq!(written, expected);
    assert!(expected.contains_key("m.key") && expected.contains_key("aos.element.v"));
}

#[test]
fn rows_written_with_field_ids_read_back_equal_to_rows_written_without() {
    let plain = TableSchema::parse_hive(NESTED).unwrap();
    let (with_ids, _) = numbered(&plain);
    let records = [RECORD, r#"{"s":null,"m":{},"aos":[]}"#];
    let without = read_parquet(write(plain, &records));
    let with = read_parquet(write(with_ids, &records));
    assert_eq!(with.num_rows(), 2);
    assert_eq!(as_json_lines(&with), as_json_lines(&without));
}

/// The rows as JSON lines (values only: field metadata such as ids is not in them).
fn as_json_lines(batch: &arrow_array::RecordBatch) -> String {
    let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    String::from_utf8(writer.into_inner()).unwrap()
}

#[test]
fn a_schema_without_field_ids_writes_none() {
    let file = write(TableSchema::parse_hive(NESTED).unwrap(), &[RECORD]);
    let written = parquet_field_ids(&file);
    assert!(written.len() > 10, "{written:?}");
    assert!(written.values().all(Option::is_none), "{written:?}");
}

#[test]
fn a_field_without_an_id_is_named_in_the_error_and_the_schema_keeps_its_columns() {
    let plain = TableSchema::parse_hive(NESTED).unwrap();
    let refused = plain
        .with_field_ids(|path| (path != ["st", "inner", "x"]).then_some(1))
        .unwrap_err();
    assert_eq!(
        refused,
        MissingFieldId {
            path: "st.inner.x".into()
        }
    );
    let (with_ids, _) = numbered(&plain);
    assert_eq!(with_ids.columns(), plain.columns());
    assert_eq!(with_ids.to_string(), plain.to_string());
}
