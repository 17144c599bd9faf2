//! One converted value of a primitive column, as a plain typed scalar.
//!
//! The value is produced by the very code that fills the Parquet column buffers
//! (`scalar_conversion::append_scalar` into a one-row [`ColumnBuffer`]) and read back out of
//! that buffer, so it is, bit for bit, what the file would hold.

use crate::column_buffer::{ColumnBuffer, ColumnValues, next_offset};
use crate::field_error::FieldError;
use crate::hive_type::HiveType;
use crate::json_node::{JsonNode, NodeView};
use crate::scalar_conversion::append_scalar;

/// A non-null value of a primitive column, as the Parquet file holds it.
///
/// Guarantees: each variant is the physical value of its column type in the files this crate
/// writes (see [`HiveType::arrow_type`]): `tinyint`, `smallint` and `int` are [`Self::Int`],
/// `bigint` [`Self::Long`], `float` [`Self::Float`], `double` [`Self::Double`], `boolean`
/// [`Self::Boolean`], `decimal(p,s)` [`Self::Decimal`] with the column's `p` and `s`, `date`
/// [`Self::Date`], `timestamp` [`Self::Timestamp`], `string` [`Self::String`] and `binary`
/// [`Self::Binary`].
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// `boolean`.
    Boolean(bool),
    /// `tinyint`, `smallint` or `int` (within the column type's range).
    Int(i32),
    /// `bigint`.
    Long(i64),
    /// `float`.
    Float(f32),
    /// `double`.
    Double(f64),
    /// `decimal(precision, scale)`: the value is `unscaled × 10^-scale`, rounded as written.
    Decimal {
        /// The unscaled value (at most `precision` digits).
        unscaled: i128,
        /// The column's precision, 1..=38.
        precision: u8,
        /// The column's scale, ≤ precision.
        scale: u8,
    },
    /// `date`: days since 1970-01-01.
    Date(i32),
    /// `timestamp`: microseconds since 1970-01-01T00:00:00Z. The file's column is adjusted to
    /// UTC (`Timestamp(Microsecond, "UTC")`): there is no local-time variant.
    Timestamp(i64),
    /// `string` (any JSON value other than a string is its JSON text, as written).
    String(String),
    /// `binary` (decoded from base64).
    Binary(Vec<u8>),
}

/// Converts one non-null JSON node to a value of the primitive `hive_type` exactly as the
/// Parquet column buffers do, by appending it to a one-row buffer and reading that row back.
/// A JSON string into a `string` column (the usual partition source) skips the buffer: the
/// buffer holds the text itself (`append_text`), accepted up to its 32-bit offset limit.
pub(crate) fn convert_scalar<'a, N: JsonNode<'a>>(
    hive_type: &HiveType,
    node: N,
    view: NodeView<'a, N::Items>,
) -> Result<ScalarValue, FieldError> {
    if let (HiveType::String, NodeView::Str(text)) = (hive_type, &view)
        && next_offset(text.len()).is_ok()
    {
        return Ok(ScalarValue::String((*text).to_owned()));
    }
    let mut buffer = ColumnBuffer::new(hive_type, &hive_type.arrow_type());
    append_scalar(hive_type, node, view, &mut buffer)?;
    Ok(first_value(hive_type, buffer.values))
}

/// The first (only) value of a primitive buffer.
fn first_value(hive_type: &HiveType, values: ColumnValues) -> ScalarValue {
    match values {
        ColumnValues::Boolean(bits) => ScalarValue::Boolean(bits.get_bit(0)),
        ColumnValues::Int8(v) => ScalarValue::Int(i32::from(v[0])),
        ColumnValues::Int16(v) => ScalarValue::Int(i32::from(v[0])),
        ColumnValues::Int32(v) => ScalarValue::Int(v[0]),
        ColumnValues::Int64(v) => ScalarValue::Long(v[0]),
        ColumnValues::Float32(v) => ScalarValue::Float(v[0]),
        ColumnValues::Float64(v) => ScalarValue::Double(v[0]),
        ColumnValues::Date32(v) => ScalarValue::Date(v[0]),
        ColumnValues::TimestampMicros(v) => ScalarValue::Timestamp(v[0]),
        ColumnValues::Decimal128(v) => {
            let HiveType::Decimal { precision, scale } = hive_type else {
                unreachable!("a decimal buffer is a decimal column's")
            };
            ScalarValue::Decimal {
                unscaled: v[0],
                precision: *precision,
                scale: *scale,
            }
        }
        ColumnValues::Utf8 { data, .. } => ScalarValue::String(
            // The buffer holds a JSON string or JSON text: always UTF-8.
            String::from_utf8(data)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
        ColumnValues::Binary { data, .. } => ScalarValue::Binary(data),
        ColumnValues::List { .. } | ColumnValues::Map { .. } | ColumnValues::Struct { .. } => {
            unreachable!("only primitive columns are converted to scalars")
        }
    }
}
