//! One non-null JSON scalar (or string) → one value of a primitive column, by the column's
//! Hive type and the OpenX rules (see `openx_scalar_text`, `timestamp_parsing`, `decimal_text`).

use base64::Engine;

use crate::column_buffer::{ColumnBuffer, ColumnValues, next_offset};
use crate::conversion_failure::ConversionFailureKind;
use crate::decimal_text::{DecimalTextError, parse_scaled_decimal};
use crate::field_error::{FieldError, mismatch, quote, too_large};
use crate::hive_type::HiveType;
use crate::json_node::{JsonNode, NodeView};
use crate::openx_scalar_text::{
    ScalarTextError, narrow_to_float, parse_boolean, parse_java_double, parse_java_integer,
};
use crate::timestamp_parsing::{
    TimeTextError, date_days_from_text, timestamp_micros_from_float, timestamp_micros_from_integer,
    timestamp_micros_from_text,
};

fn text_error(hive_type: &HiveType, text: &str, e: ScalarTextError) -> FieldError {
    match e {
        ScalarTextError::Syntax => FieldError::new(
            ConversionFailureKind::InvalidValue,
            format!("{} is not a valid {hive_type}", quote(text)),
        ),
        ScalarTextError::OutOfRange => FieldError::new(
            ConversionFailureKind::OutOfRange,
            format!("{} is out of range for {hive_type}", quote(text)),
        ),
    }
}

fn time_error(hive_type: &HiveType, text: &str, e: TimeTextError) -> FieldError {
    text_error(
        hive_type,
        text,
        match e {
            TimeTextError::Unrecognised => ScalarTextError::Syntax,
            TimeTextError::OutOfRange => ScalarTextError::OutOfRange,
        },
    )
}

fn decimal_error(hive_type: &HiveType, text: &str, e: DecimalTextError) -> FieldError {
    text_error(
        hive_type,
        text,
        match e {
            DecimalTextError::Syntax => ScalarTextError::Syntax,
            DecimalTextError::OutOfRange => ScalarTextError::OutOfRange,
        },
    )
}

fn integer_range(hive_type: &HiveType) -> (i64, i64) {
    match hive_type {
        HiveType::TinyInt => (i64::from(i8::MIN), i64::from(i8::MAX)),
        HiveType::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
        HiveType::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Pushes an integer already checked to be in the column's range.
#[allow(clippy::cast_possible_truncation)] // range-checked by the caller
#[inline]
fn push_integer(values: &mut ColumnValues, v: i64) {
    match values {
        ColumnValues::Int8(out) => out.push(v as i8),
        ColumnValues::Int16(out) => out.push(v as i16),
        ColumnValues::Int32(out) => out.push(v as i32),
        ColumnValues::Int64(out) => out.push(v),
        _ => unreachable!("integer columns have integer buffers"),
    }
}

/// A JSON number (integer or integral float) as an integer of the column's range.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // checked: integral and in range
fn number_to_integer<I>(hive_type: &HiveType, view: &NodeView<'_, I>) -> Result<i64, FieldError> {
    let (min, max) = integer_range(hive_type);
    let out_of_range = |shown: String| {
        FieldError::new(
            ConversionFailureKind::OutOfRange,
            format!("{shown} is out of range for {hive_type}"),
        )
    };
    match *view {
        NodeView::Int(i) if (min..=max).contains(&i) => Ok(i),
        NodeView::Int(i) => Err(out_of_range(i.to_string())),
        NodeView::UInt(u) => i64::try_from(u)
            .ok()
            .filter(|i| *i <= max)
            .ok_or_else(|| out_of_range(u.to_string())),
        NodeView::Float(f) if f.fract() != 0.0 || !f.is_finite() => Err(FieldError::new(
            ConversionFailureKind::InvalidValue,
            format!("{f} is not a whole number for {hive_type}"),
        )),
        NodeView::Float(f) if f >= min as f64 && f <= max as f64 => Ok(f as i64),
        NodeView::Float(f) => Err(out_of_range(f.to_string())),
        _ => unreachable!("only numbers reach number_to_integer"),
    }
}

#[allow(clippy::cast_precision_loss)] // JSON integers in float columns round like Java's
#[inline]
fn number_to_f64<I>(view: &NodeView<'_, I>) -> f64 {
    match *view {
        NodeView::Int(i) => i as f64,
        NodeView::UInt(u) => u as f64,
        NodeView::Float(f) => f,
        _ => unreachable!("only numbers reach number_to_f64"),
    }
}

#[inline]
fn push_float(
    hive_type: &HiveType,
    values: &mut ColumnValues,
    v: f64,
    shown: &dyn Fn() -> String,
) -> Result<(), FieldError> {
    match values {
        ColumnValues::Float64(out) => out.push(v),
        ColumnValues::Float32(out) => {
            out.push(narrow_to_float(v).map_err(|e| text_error(hive_type, &shown(), e))?)
        }
        _ => unreachable!("float columns have float buffers"),
    }
    Ok(())
}

#[inline]
fn push_bytes(values: &mut ColumnValues, bytes: &[u8]) -> Result<(), FieldError> {
    push_bytes_with(values, |data| data.extend_from_slice(bytes))
}

/// Appends one byte-string value written by `write`, ending it with its offset.
#[inline]
fn push_bytes_with(
    values: &mut ColumnValues,
    write: impl FnOnce(&mut Vec<u8>),
) -> Result<(), FieldError> {
    let (ColumnValues::Utf8 { offsets, data } | ColumnValues::Binary { offsets, data }) = values
    else {
        unreachable!("byte columns have byte buffers")
    };
    write(data);
    match next_offset(data.len()) {
        Ok(end) => {
            offsets.push(end);
            Ok(())
        }
        Err(_) => {
            let start = usize::try_from(offsets.last().copied().unwrap_or(0)).unwrap_or(0);
            data.truncate(start);
            Err(too_large())
        }
    }
}

/// Appends a non-null JSON scalar (or, for strings, any JSON value) to a primitive column.
#[inline]
pub(crate) fn append_scalar<'a, N: JsonNode<'a>>(
    hive_type: &HiveType,
    node: N,
    view: NodeView<'a, N::Items>,
    column: &mut ColumnBuffer,
) -> Result<(), FieldError> {
    if let NodeView::Str(text) = view {
        return append_text(hive_type, text, column);
    }
    match (hive_type, &view) {
        (HiveType::String, NodeView::Bool(b)) => {
            push_bytes(&mut column.values, if *b { b"true" } else { b"false" })?
        }
        (HiveType::String, _) => push_bytes_with(&mut column.values, |data| node.write_json(data))?,
        (
            HiveType::TinyInt | HiveType::SmallInt | HiveType::Int | HiveType::BigInt,
            NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_),
        ) => {
            let v = number_to_integer(hive_type, &view)?;
            push_integer(&mut column.values, v);
        }
        (
            HiveType::Float | HiveType::Double,
            NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_),
        ) => {
            let v = number_to_f64(&view);
            push_float(hive_type, &mut column.values, v, &|| v.to_string())?;
        }
        (HiveType::Boolean, NodeView::Bool(b)) => {
            let ColumnValues::Boolean(out) = &mut column.values else {
                unreachable!("boolean buffer")
            };
            out.append(*b);
        }
        (HiveType::Timestamp, NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_)) => {
            let micros = match view {
                NodeView::Int(i) => timestamp_micros_from_integer(i),
                NodeView::UInt(_) => Err(TimeTextError::OutOfRange),
                NodeView::Float(f) => timestamp_micros_from_float(f),
                _ => unreachable!("numbers only"),
            };
            let micros = micros.map_err(|e| time_error(hive_type, &number_text(&view), e))?;
            let ColumnValues::TimestampMicros(out) = &mut column.values else {
                unreachable!("timestamp buffer")
            };
            out.push(micros);
        }
        (
            HiveType::Decimal { precision, scale },
            NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_),
        ) => {
            if let NodeView::Float(f) = view
                && !f.is_finite()
            {
                return Err(FieldError::new(
                    ConversionFailureKind::InvalidValue,
                    format!("{f} is not a valid {hive_type}"),
                ));
            }
            let text = number_text(&view);
            let v = parse_scaled_decimal(&text, *precision, *scale)
                .map_err(|e| decimal_error(hive_type, &text, e))?;
            let ColumnValues::Decimal128(values) = &mut column.values else {
                unreachable!("decimal buffer")
            };
            values.push(v);
        }
        _ => return Err(mismatch(hive_type, &view)),
    }
    column.nulls.append_non_null();
    Ok(())
}

/// Decimal text of a JSON number (shortest round-trip form for floats, no exponent).
fn number_text<I>(view: &NodeView<'_, I>) -> String {
    match *view {
        NodeView::Int(i) => i.to_string(),
        NodeView::UInt(u) => u.to_string(),
        NodeView::Float(f) => format!("{f}"),
        _ => String::new(),
    }
}

/// Appends a JSON string (or map key) to a primitive column, reading it by the column's type.
#[inline]
pub(crate) fn append_text(
    hive_type: &HiveType,
    text: &str,
    column: &mut ColumnBuffer,
) -> Result<(), FieldError> {
    match hive_type {
        HiveType::String => push_bytes(&mut column.values, text.as_bytes())?,
        HiveType::TinyInt | HiveType::SmallInt | HiveType::Int | HiveType::BigInt => {
            let (min, max) = integer_range(hive_type);
            let v =
                parse_java_integer(text, min, max).map_err(|e| text_error(hive_type, text, e))?;
            push_integer(&mut column.values, v);
        }
        HiveType::Float | HiveType::Double => {
            let v = parse_java_double(text).map_err(|e| text_error(hive_type, text, e))?;
            push_float(hive_type, &mut column.values, v, &|| text.to_owned())?;
        }
        HiveType::Boolean => {
            let v = parse_boolean(text).map_err(|e| text_error(hive_type, text, e))?;
            let ColumnValues::Boolean(out) = &mut column.values else {
                unreachable!("boolean buffer")
            };
            out.append(v);
        }
        HiveType::Timestamp => {
            let v = timestamp_micros_from_text(text).map_err(|e| time_error(hive_type, text, e))?;
            let ColumnValues::TimestampMicros(out) = &mut column.values else {
                unreachable!("timestamp buffer")
            };
            out.push(v);
        }
        HiveType::Date => {
            let v = date_days_from_text(text).map_err(|e| time_error(hive_type, text, e))?;
            let ColumnValues::Date32(out) = &mut column.values else {
                unreachable!("date buffer")
            };
            out.push(v);
        }
        HiveType::Decimal { precision, scale } => {
            let v = parse_scaled_decimal(text, *precision, *scale)
                .map_err(|e| decimal_error(hive_type, text, e))?;
            let ColumnValues::Decimal128(values) = &mut column.values else {
                unreachable!("decimal buffer")
            };
            values.push(v);
        }
        HiveType::Binary => {
            let bytes = BASE64_ANY_PADDING.decode(text).map_err(|_| {
                FieldError::new(
                    ConversionFailureKind::InvalidValue,
                    format!("{} is not base64 for binary", quote(text)),
                )
            })?;
            push_bytes(&mut column.values, &bytes)?;
        }
        HiveType::Array(_) | HiveType::Map(..) | HiveType::Struct(_) => {
            return Err(FieldError::new(
                ConversionFailureKind::TypeMismatch,
                format!("expected {hive_type}, found a string"),
            ));
        }
    }
    column.nulls.append_non_null();
    Ok(())
}

/// Standard base64 alphabet, padding optional.
const BASE64_ANY_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
