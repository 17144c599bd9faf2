//! The Hive type-string parser: what it accepts, how it reports errors, and properties — it
//! never panics, and every type's canonical text parses back to the same type.

mod common;

use common::strategies::{hive_type, table_schema};
use kinesink_parquet_writer::{HiveType, StructField, TableSchema};
use proptest::prelude::*;

fn glue_type(text: &str) -> Result<HiveType, String> {
    TableSchema::from_glue_columns(&[("c", text)])
        .map(|s| s.columns()[0].hive_type.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn the_reference_schema_parses_into_ten_columns_in_order() {
    let schema = TableSchema::parse_hive(
        "event_id string, customer_id string, event_type string, ts timestamp,\n\
         price double, quantity int, page string, country string, user_agent string, session_ms bigint",
    )
    .unwrap();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "event_id",
            "customer_id",
            "event_type",
            "ts",
            "price",
            "quantity",
            "page",
            "country",
            "user_agent",
            "session_ms"
        ]
    );
    assert_eq!(schema.columns()[3].hive_type, HiveType::Timestamp);
    assert_eq!(schema.columns()[9].hive_type, HiveType::BigInt);
}

#[test]
fn aliases_defaults_case_backquotes_and_new_lines_are_accepted() {
    assert_eq!(glue_type("INTEGER"), Ok(HiveType::Int));
    assert_eq!(glue_type("varchar(20)"), Ok(HiveType::String));
    assert_eq!(glue_type("char( 3 )"), Ok(HiveType::String));
    assert_eq!(
        glue_type("decimal"),
        Ok(HiveType::Decimal {
            precision: 10,
            scale: 0
        })
    );
    assert_eq!(
        glue_type("decimal(7)"),
        Ok(HiveType::Decimal {
            precision: 7,
            scale: 0
        })
    );
    assert_eq!(
        glue_type(" Map < String , Array<Decimal(38,38)> > "),
        Ok(HiveType::Map(
            Box::new(HiveType::String),
            Box::new(HiveType::Array(Box::new(HiveType::Decimal {
                precision: 38,
                scale: 38
            }))),
        ))
    );
    assert_eq!(
        glue_type("struct<`Odd Name`:int,b:boolean>"),
        Ok(HiveType::Struct(vec![
            StructField {
                name: "odd name".into(),
                hive_type: HiveType::Int
            },
            StructField {
                name: "b".into(),
                hive_type: HiveType::Boolean
            },
        ]))
    );
    let schema = TableSchema::parse_hive("A int\n`b c` string\n  d date,\n").unwrap();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b c", "d"]);
}

#[test]
fn errors_name_the_column_and_the_character_where_the_problem_is() {
    let e = TableSchema::parse_hive("a int, b strng").unwrap_err();
    assert_eq!(e.column.as_deref(), Some("b"));
    assert_eq!(e.position, 10, "`strng` starts at the 10th character");
    assert!(e.to_string().contains("unknown type `strng`"), "{e}");

    let e = TableSchema::parse_hive("a int, b map<array<int>,string>").unwrap_err();
    assert_eq!(e.column.as_deref(), Some("b"));
    assert!(e.reason.contains("map key must be a primitive type"), "{e}");

    for (text, needle) in [
        ("a decimal(39,2)", "precision must be 1..=38"),
        ("a decimal(5,6)", "scale 6 is larger than its precision 5"),
        ("a int, A string", "duplicate column `a`"),
        ("a struct<x:int,X:int>", "duplicate struct field `x`"),
        ("a array<int", "expected `>`"),
        ("a int b int", "expected `,` or a new line"),
        ("", "no columns"),
        ("a", "expected whitespace and a type"),
    ] {
        let e = TableSchema::parse_hive(text).unwrap_err().to_string();
        assert!(e.contains(needle), "{text:?}: {e}");
    }
    let e = TableSchema::from_glue_columns(&[("ok", "int"), ("bad", "array<>")]).unwrap_err();
    assert_eq!(e.column.as_deref(), Some("bad"));
    assert_eq!(e.position, 7, "inside the column's own type string");
}

#[test]
fn absurdly_deep_nesting_is_refused_rather_than_overflowing_the_stack() {
    let text = format!("{}int{}", "array<".repeat(10_000), ">".repeat(10_000));
    let e = glue_type(&text).unwrap_err();
    assert!(e.contains("nested deeper than"), "{e}");
}

proptest! {
    #[test]
    fn every_type_parses_back_from_its_canonical_text(t in hive_type()) {
        prop_assert_eq!(glue_type(&t.to_string()), Ok(t));
    }

    #[test]
    fn every_schema_parses_back_from_its_ddl_text(schema in table_schema()) {
        prop_assert_eq!(TableSchema::parse_hive(&schema.to_string()), Ok(schema));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,60}") {
        let _ = TableSchema::parse_hive(&text);
        let _ = glue_type(&text);
    }

    #[test]
    fn near_miss_type_text_never_panics(
        tokens in proptest::collection::vec(
            prop_oneof![
                Just("array"), Just("map"), Just("struct"), Just("decimal"), Just("varchar"), Just("int"),
                Just("string"), Just("<"), Just(">"), Just(","), Just(":"), Just("("), Just(")"), Just("`"),
                Just("12"), Just("99999"), Just(" "), Just("\n"), Just("x"), Just("é"),
            ],
            0..30,
        )
    ) {
        let text: String = tokens.concat();
        let _ = TableSchema::parse_hive(&text);
        let _ = glue_type(&text);
    }
}
