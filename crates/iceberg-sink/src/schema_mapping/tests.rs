use std::collections::HashMap;

use arrow_schema::{DataType, Field};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use super::*;

const EVERY_TYPE: &str = "s string, ti tinyint, si smallint, i int, b bigint, f float, \
    d double, ok boolean, ts timestamp, day date, amount decimal(12,3), raw binary, \
    tags array<string>, attrs map<string,bigint>, \
    device struct<os:string,screen:struct<w:int,h:int>,ids:array<bigint>>";

/// Every Arrow field of `field` and below, by dot-joined path, with its field id.
fn ids(field: &Field, prefix: &str, out: &mut HashMap<String, i32>) {
    let path = if prefix.is_empty() {
        field.name().clone()
    } else {
        format!("{prefix}.{}", field.name())
    };
    if let Some(id) = field.metadata().get(PARQUET_FIELD_ID_META_KEY) {
        out.insert(path.clone(), id.parse().unwrap());
    }
    match field.data_type() {
        DataType::Struct(fields) => fields.iter().for_each(|f| ids(f, &path, out)),
        DataType::List(element) => ids(element, &path, out),
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else {
                unreachable!()
            };
            let entries_path = format!("{path}.{}", entries.name());
            kv.iter().for_each(|f| ids(f, &entries_path, out));
        }
        _ => {}
    }
}

#[test]
fn a_configured_schema_becomes_an_iceberg_schema_whose_writer_schema_converts_alike_with_its_ids() {
    let configured = TableSchema::parse_hive(EVERY_TYPE).unwrap();
    let iceberg = iceberg_schema_of(&configured).unwrap();
    // The Iceberg types a reader sees.
    let type_of = |name: &str| iceberg.field_by_name(name).unwrap().field_type.to_string();
    assert_eq!(type_of("ti"), "int");
    assert_eq!(type_of("b"), "long");
    assert_eq!(type_of("ts"), "timestamptz");
    assert_eq!(type_of("amount"), "decimal(12, 3)");
    assert!(
        iceberg.as_struct().fields().iter().all(|f| !f.required),
        "every column optional"
    );
    let written = table_schema_of(&iceberg).unwrap();
    let expected = TableSchema::parse_hive(
        &EVERY_TYPE
            .replace("tinyint", "int")
            .replace("smallint", "int"),
    )
    .unwrap();
    assert_eq!(written.columns(), expected.columns());
    let mut found = HashMap::new();
    for field in written.arrow_schema().fields() {
        ids(field, "", &mut found);
    }
    for (path, id) in [
        ("s", "s"),
        ("device.screen.h", "device.screen.h"),
        ("tags.element", "tags.element"),
        ("attrs.key_value.key", "attrs.key"),
        ("attrs.key_value.value", "attrs.value"),
        ("device.ids.element", "device.ids.element"),
    ] {
        assert_eq!(
            found.get(path).copied(),
            iceberg.field_id_by_name(id),
            "field id of {path}"
        );
    }
    // Every Iceberg field id is on some Parquet field.
    let mut all: Vec<i32> = found.values().copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), iceberg.highest_field_id() as usize);
}

#[test]
fn mixed_case_iceberg_columns_are_written_lowercase_with_their_own_ids() {
    let iceberg = Schema::builder()
        .with_fields(vec![
            NestedField::optional(7, "EventType", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(9, "TS", Type::Primitive(PrimitiveType::Timestamptz)).into(),
        ])
        .build()
        .unwrap();
    let written = table_schema_of(&iceberg).unwrap();
    assert_eq!(written.to_string(), "eventtype string, ts timestamp");
    let mut found = HashMap::new();
    for field in written.arrow_schema().fields() {
        ids(field, "", &mut found);
    }
    assert_eq!(
        found,
        HashMap::from([("eventtype".into(), 7), ("ts".into(), 9)])
    );
}

#[test]
fn columns_the_writer_cannot_produce_are_refused_naming_the_column_and_the_fix() {
    let refused = |field: NestedField| {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "fine", Type::Primitive(PrimitiveType::String)).into(),
                field.into(),
            ])
            .build()
            .unwrap();
        table_schema_of(&schema).unwrap_err()
    };
    let e = refused(NestedField::optional(
        2,
        "ts",
        Type::Primitive(PrimitiveType::Timestamp),
    ));
    assert_eq!(e.column, "ts");
    assert!(e.reason.contains("timestamptz"), "{e}");
    let e = refused(NestedField::optional(
        2,
        "u",
        Type::Primitive(PrimitiveType::Uuid),
    ));
    assert!(
        e.to_string().starts_with("column `u`: has type uuid"),
        "{e}"
    );
    let list = Type::List(ListType::new(
        NestedField::list_element(3, Type::Primitive(PrimitiveType::Int), true).into(),
    ));
    let e = refused(NestedField::optional(2, "xs", list));
    assert_eq!(e.column, "xs.element");
    let inner = Type::Struct(StructType::new(vec![
        NestedField::required(4, "deep", Type::Primitive(PrimitiveType::Int)).into(),
    ]));
    let e = refused(NestedField::optional(2, "outer", inner));
    assert_eq!(e.column, "outer.deep");
    assert!(e.reason.contains("make the column optional"), "{e}");
}

#[test]
fn a_required_top_level_column_is_written_as_required_with_its_field_id() {
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::required(7, "Id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(8, "note", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap();
    let writer = table_schema_of(&schema).unwrap();
    assert!(writer.is_required(0) && !writer.is_required(1));
    let arrow = writer.arrow_schema();
    assert!(!arrow.field(0).is_nullable());
    assert!(arrow.field(1).is_nullable());
    assert_eq!(
        arrow
            .field(0)
            .metadata()
            .get("PARQUET:field_id")
            .map(String::as_str),
        Some("7")
    );
}
