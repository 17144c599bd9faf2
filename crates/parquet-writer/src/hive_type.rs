//! The Hive/Glue column types this crate converts JSON into, and their Arrow/Parquet shapes.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// Largest decimal precision Hive (and Arrow's `Decimal128`) supports.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// One Hive column type, as written in Hive DDL or a Glue column's `Type`.
///
/// Guarantees: a value built by [`crate::TableSchema::parse_hive`] is well formed — decimal
/// precision is 1..=38 and scale ≤ precision, map keys are primitive, struct field names are
/// lowercase, non-empty and unique within their struct — and its [`fmt::Display`] form parses
/// back to an equal value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HiveType {
    /// `string` (also `varchar(n)` and `char(n)`, whose length is not enforced).
    String,
    /// `tinyint`: 8-bit signed integer.
    TinyInt,
    /// `smallint`: 16-bit signed integer.
    SmallInt,
    /// `int` / `integer`: 32-bit signed integer.
    Int,
    /// `bigint`: 64-bit signed integer.
    BigInt,
    /// `float`: 32-bit IEEE float.
    Float,
    /// `double`: 64-bit IEEE float.
    Double,
    /// `boolean`.
    Boolean,
    /// `timestamp`: instant with microsecond precision, stored as UTC.
    Timestamp,
    /// `date`: calendar day.
    Date,
    /// `decimal(precision, scale)`; plain `decimal` is `decimal(10,0)` as in Hive.
    Decimal {
        /// Total number of digits, 1..=38.
        precision: u8,
        /// Digits after the decimal point, ≤ precision.
        scale: u8,
    },
    /// `binary`: bytes (base64 in JSON).
    Binary,
    /// `array<T>`.
    Array(Box<HiveType>),
    /// `map<K,V>`; K is primitive.
    Map(Box<HiveType>, Box<HiveType>),
    /// `struct<name:T,...>`.
    Struct(Vec<StructField>),
}

/// A named field of a `struct<...>` type.
///
/// Guarantees: `name` is lowercase (Hive identifiers are case-insensitive and stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructField {
    /// Lowercase field name.
    pub name: String,
    /// The field's type.
    pub hive_type: HiveType,
}

impl HiveType {
    /// Whether this is a primitive (non-nested) type, the only kind allowed as a map key.
    #[must_use]
    pub fn is_primitive(&self) -> bool {
        !matches!(
            self,
            HiveType::Array(_) | HiveType::Map(..) | HiveType::Struct(_)
        )
    }

    /// The Arrow type a column of this Hive type is written as (see the crate README's table).
    ///
    /// Guarantees: the mapping is fixed — timestamps are `Timestamp(Microsecond, "UTC")`,
    /// list elements are named `element` and maps use `key_value { key, value }` as the Parquet
    /// specification names them, every value is nullable except map keys.
    #[must_use]
    pub fn arrow_type(&self) -> DataType {
        match self {
            HiveType::String => DataType::Utf8,
            HiveType::TinyInt => DataType::Int8,
            HiveType::SmallInt => DataType::Int16,
            HiveType::Int => DataType::Int32,
            HiveType::BigInt => DataType::Int64,
            HiveType::Float => DataType::Float32,
            HiveType::Double => DataType::Float64,
            HiveType::Boolean => DataType::Boolean,
            HiveType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
            }
            HiveType::Date => DataType::Date32,
            HiveType::Decimal { precision, scale } => {
                // scale ≤ precision ≤ 38 always fits i8.
                DataType::Decimal128(*precision, i8::try_from(*scale).unwrap_or(i8::MAX))
            }
            HiveType::Binary => DataType::Binary,
            HiveType::Array(element) => {
                DataType::List(Arc::new(Field::new("element", element.arrow_type(), true)))
            }
            HiveType::Map(key, value) => {
                DataType::Map(Arc::new(map_entries_field(key, value)), false)
            }
            HiveType::Struct(fields) => DataType::Struct(struct_fields(fields)),
        }
    }
}

/// The `key_value` entries field of a map's Arrow type.
pub(crate) fn map_entries_field(key: &HiveType, value: &HiveType) -> Field {
    let entries = Fields::from(vec![
        Field::new("key", key.arrow_type(), false),
        Field::new("value", value.arrow_type(), true),
    ]);
    Field::new("key_value", DataType::Struct(entries), false)
}

/// The Arrow fields of a struct type.
pub(crate) fn struct_fields(fields: &[StructField]) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(f.name.as_str(), f.hive_type.arrow_type(), true))
        .collect()
}

/// Whether `name` can be written without backquotes in a type string.
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes a field or column name, backquoted (with doubled backquotes) when needed.
pub(crate) fn write_identifier(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_identifier(name) {
        f.write_str(name)
    } else {
        write!(f, "`{}`", name.replace('`', "``"))
    }
}

impl fmt::Display for HiveType {
    /// The canonical Hive type string, e.g. `map<string,array<struct<a:int>>>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HiveType::String => f.write_str("string"),
            HiveType::TinyInt => f.write_str("tinyint"),
            HiveType::SmallInt => f.write_str("smallint"),
            HiveType::Int => f.write_str("int"),
            HiveType::BigInt => f.write_str("bigint"),
            HiveType::Float => f.write_str("float"),
            HiveType::Double => f.write_str("double"),
            HiveType::Boolean => f.write_str("boolean"),
            HiveType::Timestamp => f.write_str("timestamp"),
            HiveType::Date => f.write_str("date"),
            HiveType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            HiveType::Binary => f.write_str("binary"),
            HiveType::Array(element) => write!(f, "array<{element}>"),
            HiveType::Map(key, value) => write!(f, "map<{key},{value}>"),
            HiveType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_identifier(f, &field.name)?;
                    write!(f, ":{}", field.hive_type)?;
                }
                f.write_str(">")
            }
        }
    }
}
