//! References: iceberg-rust's own `transform_literal`, and the Iceberg spec's examples
//! (bucket hashes in Appendix B, truncate examples, floor semantics of time transforms).

use std::sync::Arc;

use iceberg::spec::{Literal, NestedField, PartitionSpec, PrimitiveType, Schema, Type};
use proptest::prelude::*;

use super::*;
use crate::partition_spec_text::parse_partition_spec;

/// 2023-11-14T10:00:00 UTC in microseconds since the epoch (19675 days and 10 hours).
const NOV_14_10H: i64 = 1_699_956_000_000_000;

fn schema() -> Schema {
    let columns = [
        (1, "i", PrimitiveType::Int),
        (2, "l", PrimitiveType::Long),
        (3, "s", PrimitiveType::String),
        (4, "d", PrimitiveType::Date),
        (5, "ts", PrimitiveType::Timestamp),
        (6, "tz", PrimitiveType::Timestamptz),
        (
            7,
            "dec",
            PrimitiveType::Decimal {
                precision: 38,
                scale: 2,
            },
        ),
        (8, "b", PrimitiveType::Binary),
        (9, "t", PrimitiveType::Time),
        (10, "u", PrimitiveType::Uuid),
        (11, "f", PrimitiveType::Fixed(4)),
        (12, "s2", PrimitiveType::String),
    ];
    Schema::builder()
        .with_fields(
            columns
                .into_iter()
                .map(|(id, name, t)| Arc::new(NestedField::optional(id, name, Type::Primitive(t)))),
        )
        .build()
        .expect("test schema")
}

/// Partition values of a spec with fields `(column, transform)`, named `p0`, `p1`, ...
fn values_of(fields: &[(&str, Transform)]) -> PartitionValues {
    let schema = schema();
    let mut builder = PartitionSpec::builder(schema.clone());
    for (i, (column, transform)) in fields.iter().enumerate() {
        builder = builder
            .add_partition_field(column, format!("p{i}"), *transform)
            .unwrap();
    }
    PartitionValues::new(&builder.build().unwrap(), &schema).unwrap()
}

/// The single partition value of `value` under `transform` of `column`.
fn single(column: &str, transform: Transform, value: Datum) -> Option<Literal> {
    let partition = values_of(&[(column, transform)])
        .partition(&[Some(value)])
        .unwrap();
    partition.values()[0].clone()
}

fn reference(transform: Transform, value: &Datum) -> Option<Literal> {
    create_transform_function(&transform)
        .unwrap()
        .transform_literal(value)
        .unwrap()
        .map(Literal::from)
}

#[test]
fn each_value_is_icebergs_transform_literal_of_its_source() {
    let ts = [NOV_14_10H, -1, -3_600_000_001, 0];
    let cases: Vec<(&str, Vec<Transform>, Vec<Datum>)> = vec![
        (
            "i",
            vec![
                Transform::Identity,
                Transform::Bucket(16),
                Transform::Truncate(10),
            ],
            vec![
                Datum::int(34),
                Datum::int(-1),
                Datum::int(i32::MAX),
                Datum::int(0),
            ],
        ),
        (
            "l",
            vec![
                Transform::Identity,
                Transform::Bucket(16),
                Transform::Truncate(10),
            ],
            vec![
                Datum::long(34),
                Datum::long(-1),
                Datum::long(i64::MAX),
                Datum::long(-1_000_000_007),
            ],
        ),
        (
            "s",
            vec![
                Transform::Identity,
                Transform::Bucket(16),
                Transform::Truncate(3),
            ],
            vec![
                Datum::string("iceberg"),
                Datum::string(""),
                Datum::string("é日本語"),
            ],
        ),
        (
            "d",
            vec![
                Transform::Identity,
                Transform::Year,
                Transform::Month,
                Transform::Day,
                Transform::Bucket(16),
            ],
            vec![Datum::date(19_675), Datum::date(-1), Datum::date(-366)],
        ),
        (
            "ts",
            vec![
                Transform::Identity,
                Transform::Year,
                Transform::Month,
                Transform::Day,
                Transform::Hour,
                Transform::Bucket(16),
            ],
            ts.iter().map(|&m| Datum::timestamp_micros(m)).collect(),
        ),
        (
            "tz",
            vec![
                Transform::Identity,
                Transform::Year,
                Transform::Month,
                Transform::Day,
                Transform::Hour,
                Transform::Bucket(16),
            ],
            ts.iter().map(|&m| Datum::timestamptz_micros(m)).collect(),
        ),
        (
            "dec",
            vec![Transform::Identity, Transform::Bucket(16)],
            vec![
                Datum::decimal_from_str("14.20").unwrap(),
                Datum::decimal_from_str("-0.05").unwrap(),
            ],
        ),
        (
            "b",
            vec![Transform::Identity, Transform::Bucket(16)],
            vec![Datum::binary([0, 1, 2, 3]), Datum::binary([])],
        ),
    ];
    for (column, transforms, data) in cases {
        for transform in transforms {
            for value in &data {
                assert_eq!(
                    single(column, transform, value.clone()),
                    reference(transform, value),
                    "{transform}({column}) of {value}"
                );
            }
        }
    }
}

#[test]
fn time_transforms_floor_values_before_1970() {
    let int = |v: i32| Some(Literal::from(Datum::int(v)));
    let date = |v: i32| Some(Literal::from(Datum::date(v)));
    let ts = |m: i64| Datum::timestamp_micros(m);
    // 1969-12-31T23:59:59.999999 is in year, month, day and hour -1 (not 0).
    assert_eq!(single("ts", Transform::Year, ts(-1)), int(-1));
    assert_eq!(single("ts", Transform::Month, ts(-1)), int(-1));
    assert_eq!(single("ts", Transform::Day, ts(-1)), date(-1));
    assert_eq!(single("ts", Transform::Hour, ts(-1)), int(-1));
    assert_eq!(single("ts", Transform::Hour, ts(-3_600_000_001)), int(-2));
    assert_eq!(
        single("tz", Transform::Day, Datum::timestamptz_micros(-1)),
        date(-1)
    );
    // 1969-01-01 (day -365): year -1, month -12.
    assert_eq!(single("d", Transform::Year, Datum::date(-365)), int(-1));
    assert_eq!(single("d", Transform::Month, Datum::date(-365)), int(-12));
    // And after: 2023-11-14T10:00.
    assert_eq!(single("ts", Transform::Year, ts(NOV_14_10H)), int(53));
    assert_eq!(
        single("ts", Transform::Month, ts(NOV_14_10H)),
        int(53 * 12 + 10)
    );
    assert_eq!(single("ts", Transform::Day, ts(NOV_14_10H)), date(19_675));
    assert_eq!(
        single("ts", Transform::Hour, ts(NOV_14_10H)),
        int(19_675 * 24 + 10)
    );
}

#[test]
fn bucket_values_match_the_specs_hash_examples() {
    // Iceberg spec, Appendix B: 32-bit Murmur3 hashes; bucket = (hash & i32::MAX) % N.
    let examples = [
        ("i", Datum::int(34), 2_017_239_379),
        ("l", Datum::long(34), 2_017_239_379),
        (
            "dec",
            Datum::decimal_from_str("14.20").unwrap(),
            -500_754_589,
        ),
        (
            "d",
            Datum::date_from_str("2017-11-16").unwrap(),
            -653_330_422,
        ),
        ("t", Datum::time_from_str("22:31:08").unwrap(), -662_762_989),
        (
            "ts",
            Datum::timestamp_from_str("2017-11-16T22:31:08").unwrap(),
            -2_047_944_441,
        ),
        (
            "tz",
            Datum::timestamptz_from_str("2017-11-16T14:31:08-08:00").unwrap(),
            -2_047_944_441,
        ),
        ("s", Datum::string("iceberg"), 1_210_000_089),
        (
            "u",
            Datum::uuid_from_str("f79c3e09-677c-4bbd-a479-3f349cb785e7").unwrap(),
            1_488_055_340,
        ),
        ("f", Datum::fixed([0, 1, 2, 3]), -188_683_207),
        ("b", Datum::binary([0, 1, 2, 3]), -188_683_207),
    ];
    for (column, value, hash) in examples {
        for n in [16_u32, 1000, 2_147_483_647] {
            let expected = i32::try_from(u32::try_from(hash & i32::MAX).unwrap() % n).unwrap();
            assert_eq!(
                single(column, Transform::Bucket(n), value.clone()),
                Some(Literal::from(Datum::int(expected))),
                "bucket[{n}]({column}) of {value}"
            );
        }
    }
}

#[test]
fn truncate_follows_the_specs_examples_including_decimal_and_binary() {
    let lit = |d: Datum| Some(Literal::from(d));
    assert_eq!(
        single("i", Transform::Truncate(10), Datum::int(1)),
        lit(Datum::int(0))
    );
    assert_eq!(
        single("i", Transform::Truncate(10), Datum::int(-1)),
        lit(Datum::int(-10))
    );
    assert_eq!(
        single("l", Transform::Truncate(10), Datum::long(-1)),
        lit(Datum::long(-10))
    );
    assert_eq!(
        single("s", Transform::Truncate(3), Datum::string("iceberg")),
        lit(Datum::string("ice"))
    );
    // Near the minimum, Java's int arithmetic wraps: (MIN % 10 + 10) % 10 = 2, MIN - 2 wraps
    // (iceberg-rust 0.10.1 panics on the overflow in debug builds).
    assert_eq!(
        single("i", Transform::Truncate(10), Datum::int(i32::MIN)),
        lit(Datum::int(i32::MAX - 1))
    );
    assert_eq!(
        single("l", Transform::Truncate(10), Datum::long(i64::MIN)),
        lit(Datum::long(i64::MAX - 1))
    );
    // iceberg-rust 0.10.1 alone gives 1050 (scale 0) here, and refuses binary.
    let dec = Datum::decimal_from_str("10.65").unwrap();
    assert_eq!(
        single("dec", Transform::Truncate(50), dec.clone()),
        lit(Datum::decimal_from_str("10.50").unwrap())
    );
    let negative = Datum::decimal_from_str("-0.05").unwrap();
    assert_eq!(
        single("dec", Transform::Truncate(50), negative),
        lit(Datum::decimal_from_str("-0.50").unwrap())
    );
    assert_eq!(
        single("b", Transform::Truncate(3), Datum::binary([1, 2, 3, 4])),
        lit(Datum::binary([1, 2, 3]))
    );
    assert_eq!(
        single("b", Transform::Truncate(8), Datum::binary([1, 2])),
        lit(Datum::binary([1, 2]))
    );
    let partition = values_of(&[("dec", Transform::Truncate(50))])
        .partition(&[Some(dec)])
        .unwrap();
    assert_eq!(partition.path(), "p0=10.50");
}

#[test]
fn nulls_stay_null_and_void_is_always_null() {
    let values = values_of(&[
        ("s", Transform::Identity),
        ("ts", Transform::Day),
        ("i", Transform::Void),
    ]);
    let partition = values
        .partition(&[None, None, Some(Datum::int(7))])
        .unwrap();
    assert_eq!(partition.values(), &Struct::from_iter([None, None, None]));
    assert_eq!(partition.path(), "p0=null/p1=null/p2=null");
}

#[test]
fn the_example_spec_puts_a_click_of_nov_14_under_its_hive_path() {
    let schema = Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::optional(
                1,
                "event_type",
                Type::Primitive(PrimitiveType::String),
            )),
            Arc::new(NestedField::optional(
                2,
                "ts",
                Type::Primitive(PrimitiveType::Timestamp),
            )),
        ])
        .build()
        .unwrap();
    let spec = parse_partition_spec("event_type, day(ts)")
        .unwrap()
        .bind(schema.clone())
        .unwrap();
    let values = PartitionValues::new(&spec, &schema).unwrap();
    assert_eq!(values.source_ids().collect::<Vec<_>>(), vec![1, 2]);
    let sources = [
        Some(Datum::string("click")),
        Some(Datum::timestamp_micros(NOV_14_10H)),
    ];
    let partition = values.partition(&sources).unwrap();
    assert_eq!(partition.path(), "event_type=click/ts_day=2023-11-14");
    assert_eq!(
        partition.id().as_str(),
        "event_type=click/ts_day=2023-11-14"
    );
    assert_eq!(
        partition.into_values(),
        Struct::from_iter([
            Some(Literal::string("click")),
            Some(Literal::from(Datum::date(19_675)))
        ])
    );
    let slashed = values
        .partition(&[Some(Datum::string("a/b=c d é")), None])
        .unwrap();
    assert_eq!(slashed.path(), "event_type=a%2Fb%3Dc+d+%C3%A9/ts_day=null");
}

#[test]
fn source_values_must_match_the_spec_in_count_and_type() {
    let values = values_of(&[("ts", Transform::Day)]);
    assert_eq!(
        values.partition(&[]),
        Err(PartitionValuesError::SourceCount {
            expected: 1,
            found: 0
        })
    );
    assert!(matches!(
        values.partition(&[Some(Datum::long(NOV_14_10H))]),
        Err(PartitionValuesError::SourceType { field, .. }) if field == "p0"
    ));
    // A decimal of another scale is another type.
    let dec = values_of(&[("dec", Transform::Identity)]);
    assert!(
        dec.partition(&[Some(Datum::decimal_from_str("1.5").unwrap())])
            .is_err()
    );
}

#[test]
fn the_tuple_made_in_place_is_each_fields_transform_literal_and_refuses_the_same_values() {
    let values = values_of(&[
        ("s", Transform::Identity),
        ("ts", Transform::Day),
        ("l", Transform::Truncate(10)),
        ("i", Transform::Bucket(16)),
        ("s2", Transform::Identity),
    ]);
    let sources = [
        Some(Datum::string("click")),
        Some(Datum::timestamp_micros(NOV_14_10H)),
        Some(Datum::long(-7)),
        Some(Datum::int(34)),
        None,
    ];
    let mut in_place = sources.to_vec();
    values.transform_in_place(&mut in_place).unwrap();
    let expected: Vec<Option<Datum>> = [
        (Transform::Identity, &sources[0]),
        (Transform::Day, &sources[1]),
        (Transform::Truncate(10), &sources[2]),
        (Transform::Bucket(16), &sources[3]),
    ]
    .into_iter()
    .map(|(t, v)| {
        create_transform_function(&t)
            .unwrap()
            .transform_literal(v.as_ref().unwrap())
            .unwrap()
    })
    .chain([None])
    .collect();
    assert_eq!(in_place, expected);
    assert_eq!(values.transformed(&sources).unwrap(), expected);
    // An identity source of the wrong type is refused in place as it is by `transformed`.
    let mut wrong = sources.to_vec();
    wrong[0] = Some(Datum::long(1));
    assert!(matches!(
        values.transform_in_place(&mut wrong),
        Err(PartitionValuesError::SourceType { field, .. }) if field == "p0"
    ));
    assert!(values.transform_in_place(&mut in_place[..2]).is_err());
}

#[test]
fn an_unpartitioned_spec_has_the_empty_path_and_tuple() {
    let values = PartitionValues::new(&PartitionSpec::unpartition_spec(), &schema()).unwrap();
    assert!(values.is_unpartitioned());
    let partition = values.partition(&[]).unwrap();
    assert_eq!(
        (partition.path(), partition.values()),
        ("", &Struct::from_iter([]))
    );
}

#[test]
fn a_spec_of_another_schema_is_refused() {
    let other = Schema::builder()
        .with_fields(vec![Arc::new(NestedField::optional(
            99,
            "x",
            Type::Primitive(PrimitiveType::Int),
        ))])
        .build()
        .unwrap();
    let spec = PartitionSpec::builder(other)
        .add_partition_field("x", "x", Transform::Identity)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        PartitionValues::new(&spec, &schema()).unwrap_err(),
        PartitionValuesError::NoSourceColumn {
            field: "x".into(),
            source_id: 99
        }
    );
}

fn strings() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("null".to_string()),
        "[a/=+% é%2F]{0,6}",
        ".{0,4}"
    ]
}

proptest! {
    #[test]
    fn distinct_string_tuples_have_distinct_paths(
        a in (strings(), strings()),
        b in (strings(), strings()),
    ) {
        prop_assume!(a != b);
        let values = values_of(&[("s", Transform::Identity), ("s2", Transform::Identity)]);
        let path = |(x, y): &(String, String)| {
            values.partition(&[Some(Datum::string(x)), Some(Datum::string(y))]).unwrap().path().to_string()
        };
        prop_assert_ne!(path(&a), path(&b));
    }

    #[test]
    fn distinct_nullable_tuples_have_distinct_ids(
        a in (proptest::option::of(strings()), proptest::option::of(strings())),
        b in (proptest::option::of(strings()), proptest::option::of(strings())),
    ) {
        let values = values_of(&[("s", Transform::Identity), ("s2", Transform::Identity)]);
        let id = |(x, y): &(Option<String>, Option<String>)| {
            let sources = [x.as_ref().map(Datum::string), y.as_ref().map(Datum::string)];
            values.partition(&sources).unwrap().id().clone()
        };
        prop_assert_eq!(a == b, id(&a) == id(&b));
    }
}

#[test]
fn separators_inside_values_cannot_fake_another_field() {
    let values = values_of(&[("s", Transform::Identity), ("s2", Transform::Identity)]);
    let path = |x: &str, y: &str| {
        let sources = [Some(Datum::string(x)), Some(Datum::string(y))];
        values.partition(&sources).unwrap().path().to_string()
    };
    // Unescaped, both would be `p0=a/p1=b/p1=c`.
    assert_ne!(path("a/p1=b", "c"), path("a", "b/p1=c"));
    assert_eq!(path("a/p1=b", "c"), "p0=a%2Fp1%3Db/p1=c");
}
