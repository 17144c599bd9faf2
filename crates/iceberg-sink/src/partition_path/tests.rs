//! Expected strings are Iceberg Java's (`TransformUtil.human*`, `java.time` `toString`,
//! `URLEncoder.encode(_, "UTF-8")`), written out by hand.

use iceberg::spec::{Datum, Transform};

use super::*;

/// 2023-11-14T10:00:00 UTC in microseconds since the epoch (19675 days and 10 hours).
const NOV_14_10H: i64 = 1_699_956_000_000_000;

#[test]
fn escaping_is_javas_url_encoder() {
    assert_eq!(escaped("a/b=c d"), "a%2Fb%3Dc+d");
    assert_eq!(escaped("é日"), "%C3%A9%E6%97%A5");
    assert_eq!(escaped("+~%?&#"), "%2B%7E%25%3F%26%23");
    assert_eq!(escaped("AZaz09.-*_"), "AZaz09.-*_");
    assert_eq!(escaped(""), "");
}

#[test]
fn time_partitions_print_as_calendar_values_not_ordinals() {
    let human = |t: Transform, d: Datum| human_string(&t, Some(&d));
    assert_eq!(human(Transform::Year, Datum::int(53)), "2023");
    assert_eq!(human(Transform::Month, Datum::int(646)), "2023-11");
    assert_eq!(human(Transform::Day, Datum::date(19_675)), "2023-11-14");
    assert_eq!(
        human(Transform::Hour, Datum::int(19_675 * 24 + 16)),
        "2023-11-14-16"
    );
}

#[test]
fn time_partitions_before_1970_floor_to_the_previous_period() {
    let human = |t: Transform, d: Datum| human_string(&t, Some(&d));
    assert_eq!(human(Transform::Year, Datum::int(-1)), "1969");
    assert_eq!(human(Transform::Month, Datum::int(-1)), "1969-12");
    assert_eq!(human(Transform::Month, Datum::int(-13)), "1968-12");
    assert_eq!(human(Transform::Day, Datum::date(-1)), "1969-12-31");
    assert_eq!(human(Transform::Hour, Datum::int(-1)), "1969-12-31-23");
    assert_eq!(human(Transform::Hour, Datum::int(-25)), "1969-12-30-23");
}

#[test]
fn timestamps_print_as_java_time_does() {
    let identity = |d: Datum| human_string(&Transform::Identity, Some(&d));
    assert_eq!(
        identity(Datum::timestamp_micros(NOV_14_10H)),
        "2023-11-14T10:00"
    );
    assert_eq!(
        identity(Datum::timestamp_micros(NOV_14_10H + 5_000_000)),
        "2023-11-14T10:00:05"
    );
    assert_eq!(
        identity(Datum::timestamp_micros(NOV_14_10H + 123_000)),
        "2023-11-14T10:00:00.123"
    );
    assert_eq!(
        identity(Datum::timestamp_micros(NOV_14_10H + 123_456)),
        "2023-11-14T10:00:00.123456"
    );
    assert_eq!(
        identity(Datum::timestamptz_micros(NOV_14_10H)),
        "2023-11-14T10:00Z"
    );
    assert_eq!(
        identity(Datum::timestamp_micros(-1)),
        "1969-12-31T23:59:59.999999"
    );
    assert_eq!(
        identity(Datum::timestamp_nanos(NOV_14_10H * 1_000 + 1)),
        "2023-11-14T10:00:00.000000001"
    );
    assert_eq!(
        identity(Datum::time_from_str("22:31:08").unwrap()),
        "22:31:08"
    );
    assert_eq!(identity(Datum::time_from_str("10:00:00").unwrap()), "10:00");
}

#[test]
fn other_values_print_as_javas_identity_transform_does() {
    let identity = |d: Datum| human_string(&Transform::Identity, Some(&d));
    assert_eq!(identity(Datum::binary([0, 1, 2, 3])), "AAECAw==");
    assert_eq!(identity(Datum::fixed([0, 1, 2, 3])), "AAECAw==");
    assert_eq!(identity(Datum::decimal_from_str("14.20").unwrap()), "14.20");
    assert_eq!(identity(Datum::decimal_from_str("-0.05").unwrap()), "-0.05");
    assert_eq!(identity(Datum::string("a b")), "a b");
    assert_eq!(identity(Datum::long(-34)), "-34");
    assert_eq!(identity(Datum::bool(true)), "true");
    assert_eq!(
        identity(Datum::uuid_from_str("f79c3e09-677c-4bbd-a479-3f349cb785e7").unwrap()),
        "f79c3e09-677c-4bbd-a479-3f349cb785e7"
    );
    assert_eq!(
        human_string(&Transform::Bucket(16), Some(&Datum::int(5))),
        "5"
    );
}

#[test]
fn null_and_void_print_null() {
    assert_eq!(human_string(&Transform::Identity, None), "null");
    assert_eq!(
        human_string(&Transform::Void, Some(&Datum::string("x"))),
        "null"
    );
}

#[test]
fn the_path_is_escaped_name_value_pairs_joined_by_slashes() {
    let click = Datum::string("click");
    let odd = Datum::string("a/b=c d é");
    let day = Datum::date(19_675);
    assert_eq!(
        partition_path([
            ("event_type", &Transform::Identity, Some(&click)),
            ("ts_day", &Transform::Day, Some(&day)),
        ]),
        "event_type=click/ts_day=2023-11-14"
    );
    assert_eq!(
        partition_path([
            ("event type", &Transform::Identity, Some(&odd)),
            ("ts_day", &Transform::Day, None),
        ]),
        "event+type=a%2Fb%3Dc+d+%C3%A9/ts_day=null"
    );
    assert_eq!(partition_path([]), "");
}

#[test]
fn a_null_and_the_string_null_share_a_path_but_not_an_id() {
    let null_text = Datum::string("null");
    let as_text = [("kind", &Transform::Identity, Some(&null_text))];
    let as_null = [("kind", &Transform::Identity, None)];
    assert_eq!(partition_path(as_text), partition_path(as_null));
    assert_ne!(partition_id(as_text), partition_id(as_null));
    assert_eq!(partition_id(as_null), "kind");
    assert_eq!(partition_id(as_text), partition_path(as_text));
}

/// Why [`partition_path`] is written here: iceberg-rust 0.10.1's own `partition_to_path`
/// escapes nothing and prints an hour partition as its ordinal. If an upgrade changes this,
/// this test fails and the module can switch to iceberg-rust's function.
#[test]
fn icebergs_own_partition_to_path_is_not_javas() {
    use std::sync::Arc;

    use iceberg::spec::{Literal, NestedField, PartitionSpec, PrimitiveType, Schema, Struct, Type};

    let schema = Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::optional(
                1,
                "kind",
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
    let spec = PartitionSpec::builder(schema.clone())
        .add_partition_field("kind", "kind", Transform::Identity)
        .unwrap()
        .add_partition_field("ts", "ts_hour", Transform::Hour)
        .unwrap()
        .build()
        .unwrap();
    let hour = 19_675 * 24 + 16;
    let data = Struct::from_iter([Some(Literal::string("a/b")), Some(Literal::int(hour))]);
    assert_eq!(
        spec.partition_to_path(&data, Arc::new(schema)),
        "kind=a/b/ts_hour=472216"
    );
    let (kind, ts) = (Datum::string("a/b"), Datum::int(hour));
    assert_eq!(
        partition_path([
            ("kind", &Transform::Identity, Some(&kind)),
            ("ts_hour", &Transform::Hour, Some(&ts)),
        ]),
        "kind=a%2Fb/ts_hour=2023-11-14-16"
    );
}

#[test]
fn floats_and_doubles_print_as_javas_to_string() {
    let identity = |d: Datum| human_string(&Transform::Identity, Some(&d));
    for (value, java) in [
        (1.0, "1.0"),
        (-2.5, "-2.5"),
        (100.0, "100.0"),
        (0.001, "0.001"),
        (0.1, "0.1"),
        (1234567.0, "1234567.0"),
        (1.0e7, "1.0E7"),
        (1.5e-4, "1.5E-4"),
        (-1.25e20, "-1.25E20"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(identity(Datum::double(value)), java, "{value}");
    }
    assert_eq!(identity(Datum::float(0.1_f32)), "0.1");
    assert_eq!(identity(Datum::float(3.0e10_f32)), "3.0E10");
}
