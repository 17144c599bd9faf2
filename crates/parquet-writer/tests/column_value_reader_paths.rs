//! Which column paths `TableSchema::column_value_reader` accepts: primitive columns and
//! primitive fields of structs, named case-insensitively; nothing else.

use kinesink_parquet_writer::{HiveType, SerdeOptions, TableSchema};

fn schema() -> TableSchema {
    TableSchema::parse_hive("id bigint, st struct<k:int, inner:struct<z:date>>, tags array<string>")
        .expect("test schema")
}

#[test]
fn primitive_columns_and_struct_fields_are_readable_in_any_case() {
    let options = SerdeOptions::default();
    let schema = schema();
    for (path, hive_type) in [
        (vec!["ID"], HiveType::BigInt),
        (vec!["st", "K"], HiveType::Int),
        (vec!["st", "inner", "z"], HiveType::Date),
    ] {
        let reader = schema
            .column_value_reader(&path, &options)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(reader.hive_type(), &hive_type, "{path:?}");
    }
}

#[test]
fn empty_unknown_nested_and_through_non_struct_paths_are_refused_with_the_path() {
    let options = SerdeOptions::default();
    let schema = schema();
    for path in [
        vec![],
        vec!["nope"],
        vec!["st"],
        vec!["tags"],
        vec!["id", "x"],
        vec!["st", "missing"],
    ] {
        let refused = schema.column_value_reader(&path, &options);
        let Err(e) = refused else {
            panic!("{path:?} must be refused");
        };
        assert_eq!(e.path, path.join("."));
    }
}
