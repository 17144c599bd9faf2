//! The table's schema as the Parquet writer's schema, and back: an Iceberg table's current
//! schema (with its field ids) becomes the [`TableSchema`] records are converted by, and the
//! configured `[format] schema` becomes the Iceberg schema of a table kinesink creates.

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};
use kinesink_parquet_writer::{HiveType, StructField, TableSchema};

/// Why a schema cannot be mapped; names the column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}`: {reason}")]
pub struct SchemaMappingError {
    /// The column (dot-joined path for nested fields).
    pub column: String,
    /// What cannot be mapped, and what to do.
    pub reason: String,
}

fn refuse(path: &[String], reason: impl Into<String>) -> SchemaMappingError {
    SchemaMappingError {
        column: path.join("."),
        reason: reason.into(),
    }
}

/// The Parquet writer's schema for an Iceberg table's `schema`: the same columns in the same
/// order, each field carrying its Iceberg field id, so the written files are read by id.
///
/// Guarantees: every value the writer accepts is a valid value of the Iceberg column: Iceberg
/// `timestamptz` is written as a UTC-adjusted timestamp (the writer's `timestamp`), `long` as
/// `bigint`, lists and maps with their element/key/value ids. Names are matched without
/// regard to case (the writer's columns are lowercase, as Hive's and Glue's are).
///
/// # Errors
/// [`SchemaMappingError`] naming the first column the writer cannot produce: a `required`
/// field below the top level (a struct's field, a list's element, a map's value: the writer
/// writes them as optional), Iceberg `timestamp` without a zone (the writer's timestamps are UTC-adjusted: declare
/// the column `timestamptz`), `time`, nanosecond timestamps, `uuid`, `fixed`, or two columns
/// whose names differ only in case.
pub fn table_schema_of(schema: &Schema) -> Result<TableSchema, SchemaMappingError> {
    let mut columns = Vec::new();
    for field in schema.as_struct().fields() {
        let path = vec![field.name.clone()];
        // A required top-level column is written as required (a record without a value for
        // it goes to the error output); required fields below the top level are refused.
        let hive = hive_type_of_type(&field.field_type, &path)?;
        columns.push((field.name.clone(), hive.to_string()));
    }
    let required: Vec<String> = schema
        .as_struct()
        .fields()
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.to_lowercase())
        .collect();
    let plain = TableSchema::from_glue_columns(&columns).map_err(|e| SchemaMappingError {
        column: e.column.clone().unwrap_or_default(),
        reason: e.to_string(),
    })?;
    plain
        .with_field_ids(|path| field_id_at(schema.as_struct().fields(), path))
        .map(|with_ids| with_ids.with_required_columns(|name| required.iter().any(|r| r == name)))
        .map_err(|e| SchemaMappingError {
            column: e.path,
            reason: "has no field id in the table's schema".to_owned(),
        })
}

/// The Hive type of one Iceberg field (checked to be writable).
fn hive_type_of(field: &NestedField, path: &[String]) -> Result<HiveType, SchemaMappingError> {
    if field.required {
        return Err(refuse(
            path,
            "is required; kinesink writes every column as optional (a record without it would \
             break the table): make the column optional",
        ));
    }
    hive_type_of_type(&field.field_type, path)
}

fn hive_type_of_type(t: &Type, path: &[String]) -> Result<HiveType, SchemaMappingError> {
    let nested = |name: &str| {
        let mut below = path.to_vec();
        below.push(name.to_owned());
        below
    };
    Ok(match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => HiveType::Boolean,
            PrimitiveType::Int => HiveType::Int,
            PrimitiveType::Long => HiveType::BigInt,
            PrimitiveType::Float => HiveType::Float,
            PrimitiveType::Double => HiveType::Double,
            PrimitiveType::Decimal { precision, scale } => HiveType::Decimal {
                precision: u8::try_from(*precision).map_err(|_| {
                    refuse(path, format!("decimal precision {precision} is too large"))
                })?,
                scale: u8::try_from(*scale)
                    .map_err(|_| refuse(path, format!("decimal scale {scale} is too large")))?,
            },
            PrimitiveType::Date => HiveType::Date,
            PrimitiveType::Timestamptz => HiveType::Timestamp,
            PrimitiveType::String => HiveType::String,
            PrimitiveType::Binary => HiveType::Binary,
            PrimitiveType::Timestamp => {
                return Err(refuse(
                    path,
                    "is an Iceberg `timestamp` without a zone; kinesink writes UTC-adjusted \
                     timestamps: declare the column `timestamptz`",
                ));
            }
            other => {
                return Err(refuse(
                    path,
                    format!("has type {other}, which kinesink cannot write yet"),
                ));
            }
        },
        Type::List(list) => {
            let element = nested("element");
            if list.element_field.required {
                return Err(refuse(
                    &element,
                    "list elements are required; kinesink writes them as optional",
                ));
            }
            HiveType::Array(Box::new(hive_type_of_type(
                &list.element_field.field_type,
                &element,
            )?))
        }
        Type::Map(map) => {
            let value = nested("value");
            if map.value_field.required {
                return Err(refuse(
                    &value,
                    "map values are required; kinesink writes them as optional",
                ));
            }
            HiveType::Map(
                Box::new(hive_type_of_type(
                    &map.key_field.field_type,
                    &nested("key"),
                )?),
                Box::new(hive_type_of_type(&map.value_field.field_type, &value)?),
            )
        }
        Type::Struct(inner) => HiveType::Struct(
            inner
                .fields()
                .iter()
                .map(|f| {
                    Ok(StructField {
                        name: f.name.to_lowercase(),
                        hive_type: hive_type_of(f, &nested(&f.name))?,
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The field id at `path` (names compared without case; `element`, `key`, `value` inside
/// lists and maps).
fn field_id_at(fields: &[NestedFieldRef], path: &[&str]) -> Option<i32> {
    let (first, rest) = path.split_first()?;
    let field = fields.iter().find(|f| f.name.eq_ignore_ascii_case(first))?;
    id_below(field, rest)
}

fn id_below(field: &NestedField, rest: &[&str]) -> Option<i32> {
    let Some((next, below)) = rest.split_first() else {
        return Some(field.id);
    };
    match field.field_type.as_ref() {
        Type::Struct(inner) => field_id_at(inner.fields(), rest),
        Type::List(list) if *next == "element" => id_below(&list.element_field, below),
        Type::Map(map) if *next == "key" => id_below(&map.key_field, below),
        Type::Map(map) if *next == "value" => id_below(&map.value_field, below),
        _ => None,
    }
}

/// The Iceberg schema of a table created for records converted by `schema` (the configured
/// `[format] schema`): the same columns in order, every field optional, field ids assigned in
/// order from 1 (the catalog may renumber them; the table's own ids are read back before any
/// file is written).
///
/// Guarantees: [`table_schema_of`] of the result converts every record as `schema` does:
/// `tinyint`/`smallint`/`int` become `int`, `bigint` `long`, `timestamp` `timestamptz` (the
/// writer's timestamps are UTC-adjusted), the rest their Iceberg namesakes.
///
/// # Errors
/// [`SchemaMappingError`] if iceberg-rust refuses the schema (not expected).
pub fn iceberg_schema_of(schema: &TableSchema) -> Result<Schema, SchemaMappingError> {
    let mut next_id = 0;
    let fields = schema
        .columns()
        .iter()
        .map(|c| optional(&mut next_id, &c.name, &c.hive_type))
        .collect::<Vec<_>>();
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| SchemaMappingError {
            column: String::new(),
            reason: e.message().to_owned(),
        })
}

fn optional(next_id: &mut i32, name: &str, hive: &HiveType) -> NestedFieldRef {
    *next_id += 1;
    let id = *next_id;
    NestedField::optional(id, name, iceberg_type_of(next_id, hive)).into()
}

fn iceberg_type_of(next_id: &mut i32, hive: &HiveType) -> Type {
    let primitive = |p| Type::Primitive(p);
    match hive {
        HiveType::String => primitive(PrimitiveType::String),
        HiveType::TinyInt | HiveType::SmallInt | HiveType::Int => primitive(PrimitiveType::Int),
        HiveType::BigInt => primitive(PrimitiveType::Long),
        HiveType::Float => primitive(PrimitiveType::Float),
        HiveType::Double => primitive(PrimitiveType::Double),
        HiveType::Boolean => primitive(PrimitiveType::Boolean),
        HiveType::Timestamp => primitive(PrimitiveType::Timestamptz),
        HiveType::Date => primitive(PrimitiveType::Date),
        HiveType::Decimal { precision, scale } => primitive(PrimitiveType::Decimal {
            precision: u32::from(*precision),
            scale: u32::from(*scale),
        }),
        HiveType::Binary => primitive(PrimitiveType::Binary),
        HiveType::Array(element) => {
            *next_id += 1;
            let id = *next_id;
            let element = iceberg_type_of(next_id, element);
            Type::List(ListType::new(
                NestedField::list_element(id, element, false).into(),
            ))
        }
        HiveType::Map(key, value) => {
            *next_id += 1;
            let key_id = *next_id;
            *next_id += 1;
            let value_id = *next_id;
            let key = iceberg_type_of(next_id, key);
            let value = iceberg_type_of(next_id, value);
            Type::Map(MapType::new(
                NestedField::map_key_element(key_id, key).into(),
                NestedField::map_value_element(value_id, value, false).into(),
            ))
        }
        HiveType::Struct(fields) => Type::Struct(StructType::new(
            fields
                .iter()
                .map(|f| optional(next_id, &f.name, &f.hive_type))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests;
