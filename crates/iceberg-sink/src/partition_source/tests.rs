use iceberg::spec::{Datum, PrimitiveType};
use kinesink_parquet_writer::ScalarValue;

use super::{PartitionSourceError, datum_of};

#[test]
fn a_value_of_another_kind_than_the_iceberg_column_is_refused_naming_the_column() {
    let refused = datum_of(ScalarValue::Long(7), "user.id", &PrimitiveType::Int);
    let Err(PartitionSourceError::Column { column, reason }) = refused else {
        panic!("a long for an int column must be refused: {refused:?}");
    };
    assert_eq!(column, "user.id");
    assert!(
        reason.contains("long") && reason.contains("int"),
        "{reason}"
    );
}

#[test]
fn a_decimal_of_another_precision_or_scale_is_refused() {
    let value = ScalarValue::Decimal {
        unscaled: 1234,
        precision: 10,
        scale: 2,
    };
    for other in [
        PrimitiveType::Decimal {
            precision: 10,
            scale: 3,
        },
        PrimitiveType::Decimal {
            precision: 12,
            scale: 2,
        },
    ] {
        assert!(
            matches!(
                datum_of(value.clone(), "price", &other),
                Err(PartitionSourceError::Column { .. })
            ),
            "decimal(10,2) into {other}"
        );
    }
}

#[test]
fn a_timestamp_keeps_its_microseconds_as_timestamp_and_as_timestamptz() {
    let micros = 1_700_000_000_123_456;
    assert_eq!(
        datum_of(
            ScalarValue::Timestamp(micros),
            "ts",
            &PrimitiveType::Timestamp
        )
        .ok(),
        Some(Datum::timestamp_micros(micros))
    );
    assert_eq!(
        datum_of(
            ScalarValue::Timestamp(micros),
            "ts",
            &PrimitiveType::Timestamptz
        )
        .ok(),
        Some(Datum::timestamptz_micros(micros))
    );
}

#[test]
fn a_38_digit_decimal_keeps_its_unscaled_value_and_type() {
    let unscaled = 99_999_999_999_999_999_999_999_999_999_999_999_999_i128;
    let column = PrimitiveType::Decimal {
        precision: 38,
        scale: 4,
    };
    let datum = datum_of(
        ScalarValue::Decimal {
            unscaled,
            precision: 38,
            scale: 4,
        },
        "big",
        &column,
    )
    .expect("a decimal(38,4) fits its column");
    assert_eq!(datum.data_type(), &column);
    assert_eq!(
        datum.literal(),
        &iceberg::spec::PrimitiveLiteral::Int128(unscaled)
    );
}
