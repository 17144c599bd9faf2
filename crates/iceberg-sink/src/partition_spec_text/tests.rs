use std::sync::Arc;

use iceberg::spec::{NestedField, PrimitiveType, Schema, StructType, Transform, Type};

use super::*;

fn schema() -> Schema {
    let primitive =
        |id, name: &str, t| Arc::new(NestedField::optional(id, name, Type::Primitive(t)));
    Schema::builder()
        .with_fields(vec![
            primitive(1, "event_type", PrimitiveType::String),
            primitive(2, "ts", PrimitiveType::Timestamp),
            primitive(3, "id", PrimitiveType::Long),
            primitive(4, "name", PrimitiveType::String),
            primitive(5, "price", PrimitiveType::Double),
            primitive(6, "d", PrimitiveType::Date),
            Arc::new(NestedField::optional(
                7,
                "payload",
                Type::Struct(StructType::new(vec![primitive(
                    8,
                    "country",
                    PrimitiveType::String,
                )])),
            )),
            primitive(9, "tstz", PrimitiveType::Timestamptz),
        ])
        .build()
        .expect("test schema")
}

/// (name, source id, transform) of each field of the spec bound from `text`.
fn bound(text: &str) -> Vec<(String, i32, Transform)> {
    let spec = parse_partition_spec(text)
        .expect("parses")
        .bind(schema())
        .expect("binds");
    spec.fields()
        .iter()
        .map(|f| (f.name.clone(), f.source_id, f.transform))
        .collect()
}

fn field(name: &str, source_id: i32, transform: Transform) -> (String, i32, Transform) {
    (name.to_string(), source_id, transform)
}

fn parse_error(text: &str) -> PartitionSpecTextError {
    parse_partition_spec(text).expect_err("must not parse")
}

fn bind_error(text: &str) -> PartitionSpecTextError {
    parse_partition_spec(text)
        .expect("parses")
        .bind(schema())
        .expect_err("must not bind")
}

#[test]
fn the_example_configuration_partitions_by_event_type_and_day_of_ts() {
    assert_eq!(
        bound("event_type, day(ts)"),
        vec![
            field("event_type", 1, Transform::Identity),
            field("ts_day", 2, Transform::Day)
        ]
    );
    let spec = parse_partition_spec("event_type, day(ts)")
        .unwrap()
        .bind(schema())
        .unwrap();
    let ids: Vec<i32> = spec.fields().iter().map(|f| f.field_id).collect();
    assert_eq!(
        ids,
        vec![1000, 1001],
        "v1-style sequential partition field ids"
    );
}

#[test]
fn every_transform_gets_the_spark_ddl_field_name() {
    assert_eq!(
        bound(
            "identity(name), year(ts), month(d), hour(tstz), bucket(16, id), truncate(4, name), void(price)"
        ),
        vec![
            field("name", 4, Transform::Identity),
            field("ts_year", 2, Transform::Year),
            field("d_month", 6, Transform::Month),
            field("tstz_hour", 9, Transform::Hour),
            field("id_bucket_16", 3, Transform::Bucket(16)),
            field("name_trunc_4", 4, Transform::Truncate(4)),
            field("price_null", 5, Transform::Void),
        ]
    );
}

#[test]
fn whitespace_case_and_spark_plurals_do_not_matter() {
    assert_eq!(
        bound("  BUCKET ( 16 ,\tid )  ,\n days(ts) "),
        vec![
            field("id_bucket_16", 3, Transform::Bucket(16)),
            field("ts_day", 2, Transform::Day)
        ]
    );
    let text = parse_partition_spec("  BUCKET ( 16 ,\tid )  , x").unwrap();
    assert_eq!(text.items()[0].text, "BUCKET ( 16 ,\tid )");
    assert_eq!(
        (text.items()[0].column, text.items()[0].source_column),
        (3, 17)
    );
}

#[test]
fn a_dotted_column_is_a_field_of_a_struct() {
    assert_eq!(
        bound("payload.country, bucket(8, payload.country)"),
        vec![
            field("payload.country", 8, Transform::Identity),
            field("payload.country_bucket_8", 8, Transform::Bucket(8)),
        ]
    );
}

#[test]
fn an_empty_text_is_unpartitioned() {
    for text in ["", "   ", "\n\t"] {
        let parsed = parse_partition_spec(text).unwrap();
        assert!(parsed.is_unpartitioned());
        assert!(parsed.bind(schema()).unwrap().fields().is_empty());
    }
}

#[test]
fn the_unbound_spec_keeps_source_ids_names_and_transforms() {
    let unbound = parse_partition_spec("event_type, day(ts)")
        .unwrap()
        .unbound(&schema())
        .unwrap();
    let fields: Vec<_> = unbound
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.source_id, f.transform))
        .collect();
    assert_eq!(
        fields,
        vec![
            field("event_type", 1, Transform::Identity),
            field("ts_day", 2, Transform::Day)
        ]
    );
    // And it binds back to the same spec through iceberg-rust.
    let rebound = unbound.bind(schema()).unwrap();
    assert_eq!(
        rebound,
        parse_partition_spec("event_type, day(ts)")
            .unwrap()
            .bind(schema())
            .unwrap()
    );
}

#[test]
fn an_empty_item_is_reported_where_it_ends() {
    assert_eq!(
        parse_error("a,,b"),
        PartitionSpecTextError::EmptyItem { column: 3 }
    );
    assert_eq!(
        parse_error(",a"),
        PartitionSpecTextError::EmptyItem { column: 1 }
    );
    assert_eq!(
        parse_error("a, "),
        PartitionSpecTextError::EmptyItem { column: 4 }
    );
}

#[test]
fn an_unknown_transform_is_reported_at_its_name() {
    let error = parse_error("event_type, week(ts)");
    assert_eq!(
        error,
        PartitionSpecTextError::UnknownTransform {
            column: 13,
            name: "week".into()
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("column 13: unknown partition transform `week`")
    );
}

#[test]
fn a_missing_argument_is_reported_where_it_should_be() {
    for (text, column) in [
        ("day()", 5),
        ("bucket(16)", 10),
        ("bucket(16,)", 11),
        ("bucket()", 8),
    ] {
        let error = parse_error(text);
        assert!(
            matches!(error, PartitionSpecTextError::MissingArgument { .. }),
            "{text}: {error:?}"
        );
        assert_eq!(error.column(), column, "{text}");
    }
}

#[test]
fn an_extra_argument_is_reported_at_the_first_extra_one() {
    assert_eq!(
        parse_error("day(ts, d)"),
        PartitionSpecTextError::ExtraArgument {
            column: 9,
            transform: "day".into(),
            takes: "one column",
            extra: "d".into(),
        }
    );
    assert_eq!(parse_error("truncate(4, name, x)").column(), 19);
}

#[test]
fn a_bucket_count_or_width_must_be_a_positive_32_bit_integer() {
    for (text, column, found) in [
        ("bucket(0, id)", 8, "0"),
        ("bucket(-3, id)", 8, "-3"),
        ("bucket(id, 16)", 8, "id"),
        ("bucket(2147483648, id)", 8, "2147483648"),
        ("x, truncate(w, name)", 13, "w"),
    ] {
        match parse_error(text) {
            PartitionSpecTextError::NotPositiveInteger {
                column: c,
                found: f,
                ..
            } => {
                assert_eq!((c, f.as_str()), (column, found), "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    assert_eq!(
        bound("bucket(2147483647, id)")[0].2,
        Transform::Bucket(2_147_483_647)
    );
}

#[test]
fn unbalanced_parentheses_and_missing_commas_are_syntax_errors_at_the_token() {
    for (text, column) in [
        ("day(ts", 7),
        ("day ts", 5),
        ("(ts)", 1),
        ("day(ts))", 8),
        ("day((ts))", 5),
    ] {
        let error = parse_error(text);
        assert!(
            matches!(error, PartitionSpecTextError::Syntax { .. }),
            "{text}: {error:?}"
        );
        assert_eq!(error.column(), column, "{text}");
    }
}

#[test]
fn a_column_the_schema_lacks_is_reported_at_its_name() {
    assert_eq!(
        bind_error("event_type, day(tss)"),
        PartitionSpecTextError::UnknownColumn {
            column: 17,
            name: "tss".into()
        }
    );
    assert_eq!(bind_error("payload.nope").column(), 1);
}

#[test]
fn columns_count_characters_not_bytes() {
    // `é` is two bytes in UTF-8: a byte count would say 9.
    assert_eq!(
        parse_error("é,,"),
        PartitionSpecTextError::EmptyItem { column: 3 }
    );
    assert_eq!(
        parse_error("éé, week(ts)"),
        PartitionSpecTextError::UnknownTransform {
            column: 5,
            name: "week".into()
        }
    );
}

#[test]
fn a_transform_the_column_type_cannot_take_names_the_item_and_type() {
    let error = bind_error("event_type, day(name)");
    match &error {
        PartitionSpecTextError::TransformNotApplicable {
            column,
            item,
            source_type,
            ..
        } => {
            assert_eq!(
                (*column, item.as_str(), source_type.as_str()),
                (13, "day(name)", "string")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("`day(name)` cannot partition a column of type string")
    );
    for text in [
        "hour(d)",
        "truncate(4, price)",
        "bucket(4, price)",
        "year(id)",
        "identity(payload)",
    ] {
        assert!(
            matches!(
                bind_error(text),
                PartitionSpecTextError::TransformNotApplicable { column: 1, .. }
            ),
            "{text}"
        );
    }
}

#[test]
fn icebergs_builder_refusals_name_the_item() {
    // Two time transforms of one column (iceberg-rust: redundant partitions).
    let error = bind_error("day(ts), hour(ts)");
    assert!(
        matches!(&error, PartitionSpecTextError::Refused { column: 10, item, .. } if item == "hour(ts)")
    );
    // One partition name twice.
    assert_eq!(bind_error("id, id").column(), 5);
}
