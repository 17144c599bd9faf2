//! A record's partition source values, as the Parquet writer converts them, typed as the
//! table's columns: the `sources` [`PartitionValues::partition`] takes.
//!
//! Each source column is read by kinesink-parquet-writer's [`ColumnValueReader`] (the OpenX
//! rules and the column buffers' own conversion, so a partition value is exactly the value
//! written in the data file), then made a [`Datum`] of the column's Iceberg type
//! ([`datum_of`]). Pure: no runtime, no I/O.

use iceberg::spec::{Datum, NestedFieldRef, PrimitiveType, Schema, Type};
use kinesink_parquet_writer::{
    ColumnValueReader, ConversionFailure, ParsedJsonRecord, ScalarValue, SerdeOptions, TableSchema,
};
use smallvec::SmallVec;

use crate::partition_values::PartitionValues;

/// Why partition sources could not be set up, or read from a record.
///
/// Guarantees: [`Self::Column`] names the column; [`Self::Conversion`] is the Parquet
/// writer's own failure for the record (route it to `format-conversion-failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionSourceError {
    /// A source column is missing from a schema, or its Hive and Iceberg types disagree.
    #[error("partition source column `{column}`: {reason}")]
    Column {
        /// The column (dotted path; the field id when it has no name).
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The record's value of a source column cannot be converted (or the record is not JSON
    /// objects): the same failure the Parquet writer reports for the record.
    #[error(transparent)]
    Conversion(#[from] ConversionFailure),
}

/// The value `value` of column `column` as a [`Datum`] of the column's Iceberg type.
///
/// Guarantees: the datum's type is `iceberg_type` and its value is `value` unchanged
/// (a `timestamp` is the same microseconds for `timestamp` and `timestamptz`); a value of
/// another kind (e.g. a long for an `int` column, a decimal of another precision or scale)
/// is refused with an error naming the column.
///
/// # Errors
/// [`PartitionSourceError::Column`] on a type mismatch.
pub fn datum_of(
    value: ScalarValue,
    column: &str,
    iceberg_type: &PrimitiveType,
) -> Result<Datum, PartitionSourceError> {
    let datum = match (value, iceberg_type) {
        (ScalarValue::Boolean(v), PrimitiveType::Boolean) => Datum::bool(v),
        (ScalarValue::Int(v), PrimitiveType::Int) => Datum::int(v),
        (ScalarValue::Long(v), PrimitiveType::Long) => Datum::long(v),
        (ScalarValue::Float(v), PrimitiveType::Float) => Datum::float(v),
        (ScalarValue::Double(v), PrimitiveType::Double) => Datum::double(v),
        (ScalarValue::Date(v), PrimitiveType::Date) => Datum::date(v),
        (ScalarValue::Timestamp(v), PrimitiveType::Timestamp) => Datum::timestamp_micros(v),
        (ScalarValue::Timestamp(v), PrimitiveType::Timestamptz) => Datum::timestamptz_micros(v),
        (ScalarValue::String(v), PrimitiveType::String) => Datum::string(v),
        (ScalarValue::Binary(v), PrimitiveType::Binary) => Datum::binary(v),
        (
            ScalarValue::Decimal {
                unscaled,
                precision,
                scale,
            },
            PrimitiveType::Decimal {
                precision: p,
                scale: s,
            },
        ) if u32::from(precision) == *p && u32::from(scale) == *s => {
            Datum::try_from_bytes(&unscaled.to_be_bytes(), iceberg_type.clone()).map_err(|e| {
                PartitionSourceError::Column {
                    column: column.to_owned(),
                    reason: e.message().to_owned(),
                }
            })?
        }
        (value, _) => {
            return Err(PartitionSourceError::Column {
                column: column.to_owned(),
                reason: format!(
                    "the record's value is {}, the Iceberg column is {iceberg_type}",
                    kind_of(&value)
                ),
            });
        }
    };
    Ok(datum)
}

fn kind_of(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Boolean(_) => "a boolean".to_owned(),
        ScalarValue::Int(_) => "an int".to_owned(),
        ScalarValue::Long(_) => "a long".to_owned(),
        ScalarValue::Float(_) => "a float".to_owned(),
        ScalarValue::Double(_) => "a double".to_owned(),
        ScalarValue::Decimal {
            precision, scale, ..
        } => format!("a decimal({precision},{scale})"),
        ScalarValue::Date(_) => "a date".to_owned(),
        ScalarValue::Timestamp(_) => "a timestamp".to_owned(),
        ScalarValue::String(_) => "a string".to_owned(),
        ScalarValue::Binary(_) => "binary".to_owned(),
    }
}

/// A record's partition source values (or its partition tuple), one per spec field, inline
/// for up to four fields.
pub type SourceValues = SmallVec<[Option<Datum>; 4]>;

/// One source column: its reader, dotted name and Iceberg type.
#[derive(Debug)]
struct SourceColumn {
    reader: ColumnValueReader,
    name: String,
    iceberg_type: PrimitiveType,
}

/// Reads the partition source values of records, one per spec field in the order of
/// [`PartitionValues::source_ids`].
///
/// Guarantees: [`Self::read`] gives, for each spec field, the Parquet writer's value of its
/// source column in the record (`None` for null or absent) as a [`Datum`] of the column's
/// Iceberg type, ready for [`PartitionValues::partition`].
#[derive(Debug)]
pub struct PartitionSources {
    columns: Vec<SourceColumn>,
}

impl PartitionSources {
    /// The sources of `partition_values` (built over `iceberg_schema`): each source field id
    /// is named by its path in `iceberg_schema`, read from `table_schema` (the schema the
    /// data files are written with) under `options`.
    ///
    /// # Errors
    /// [`PartitionSourceError::Column`] if a source id is not a field of `iceberg_schema`, its
    /// path is not a primitive column of `table_schema`, or the two types disagree.
    pub fn new(
        partition_values: &PartitionValues,
        iceberg_schema: &Schema,
        table_schema: &TableSchema,
        options: &SerdeOptions,
    ) -> Result<Self, PartitionSourceError> {
        let columns = partition_values
            .source_ids()
            .map(|id| {
                let no_field = || PartitionSourceError::Column {
                    column: format!("field id {id}"),
                    reason: "not a primitive field of the Iceberg schema".to_owned(),
                };
                let path =
                    field_path(iceberg_schema.as_struct().fields(), id).ok_or_else(no_field)?;
                let iceberg_type = iceberg_schema
                    .field_by_id(id)
                    .and_then(|f| f.field_type.as_primitive_type().cloned())
                    .ok_or_else(no_field)?;
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                let name = names.join(".");
                let reader = table_schema
                    .column_value_reader(&names, options)
                    .map_err(|e| PartitionSourceError::Column {
                        column: name.clone(),
                        reason: e.reason,
                    })?;
                if !types_agree(reader.hive_type(), &iceberg_type) {
                    return Err(PartitionSourceError::Column {
                        reason: format!(
                            "the data files' column is {}, the Iceberg column is {iceberg_type}",
                            reader.hive_type()
                        ),
                        column: name,
                    });
                }
                Ok(SourceColumn {
                    reader,
                    name,
                    iceberg_type,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { columns })
    }

    /// The record's source values, one per spec field in [`PartitionValues::source_ids`]
    /// order (`None` = null or absent).
    ///
    /// # Errors
    /// [`PartitionSourceError::Conversion`] with the Parquet writer's failure when a source
    /// value cannot be converted (the record belongs in the error output).
    pub fn read(
        &self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<Vec<Option<Datum>>, PartitionSourceError> {
        let mut values = SourceValues::new();
        self.read_into(record, &mut values)?;
        Ok(values.into_vec())
    }

    /// Appends to `out` a key of the record's source values: records with equal keys have
    /// the same sources (or fail alike), so the same partition
    /// ([`ColumnValueReader::write_value_key`] per source column, in order). `false` when a
    /// column gives no key; read such a record with [`Self::read`].
    pub fn write_key(&self, record: &ParsedJsonRecord<'_>, out: &mut Vec<u8>) -> bool {
        self.columns
            .iter()
            .all(|column| column.reader.write_value_key(record, out))
    }

    /// [`Self::read`] into `values` (cleared first), held inline for up to four spec fields:
    /// what the partitioner does for every record, without a heap allocation for the tuple.
    ///
    /// # Errors
    /// As [`Self::read`]; `values` then holds the sources read before the failure.
    pub fn read_into(
        &self,
        record: &ParsedJsonRecord<'_>,
        values: &mut SourceValues,
    ) -> Result<(), PartitionSourceError> {
        values.clear();
        for column in &self.columns {
            let value = column
                .reader
                .read(record)?
                .map(|value| datum_of(value, &column.name, &column.iceberg_type))
                .transpose()?;
            values.push(value);
        }
        Ok(())
    }
}

/// Whether a Hive column's values can be a partition source of the Iceberg type.
fn types_agree(hive: &kinesink_parquet_writer::HiveType, iceberg: &PrimitiveType) -> bool {
    use kinesink_parquet_writer::HiveType as H;
    match (hive, iceberg) {
        (H::Boolean, PrimitiveType::Boolean)
        | (H::TinyInt | H::SmallInt | H::Int, PrimitiveType::Int)
        | (H::BigInt, PrimitiveType::Long)
        | (H::Float, PrimitiveType::Float)
        | (H::Double, PrimitiveType::Double)
        | (H::Date, PrimitiveType::Date)
        | (H::Timestamp, PrimitiveType::Timestamp | PrimitiveType::Timestamptz)
        | (H::String, PrimitiveType::String)
        | (H::Binary, PrimitiveType::Binary) => true,
        (
            H::Decimal { precision, scale },
            PrimitiveType::Decimal {
                precision: p,
                scale: s,
            },
        ) => u32::from(*precision) == *p && u32::from(*scale) == *s,
        _ => false,
    }
}

/// The names from the schema's top level down to the field with `id`.
fn field_path(fields: &[NestedFieldRef], id: i32) -> Option<Vec<String>> {
    fields.iter().find_map(|field| {
        if field.id == id {
            return Some(vec![field.name.clone()]);
        }
        let Type::Struct(inner) = field.field_type.as_ref() else {
            return None;
        };
        let mut below = field_path(inner.fields(), id)?;
        below.insert(0, field.name.clone());
        Some(below)
    })
}

#[cfg(test)]
mod tests;
