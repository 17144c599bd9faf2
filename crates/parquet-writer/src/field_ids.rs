//! Parquet field ids on a table schema's Arrow fields (for table formats, such as Apache
//! Iceberg, that find a file's columns by id rather than by name).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use crate::hive_type::HiveType;

/// A field of a [`crate::TableSchema`] that was given no field id.
///
/// Guarantees: `path` names the field as the id lookup was asked for it (dot-joined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema field `{path}` has no field id")]
pub struct MissingFieldId {
    /// The field's path: column name, then struct field names, `element` for an array's
    /// element, `key` / `value` for a map's key and value, joined with `.`.
    pub path: String,
}

/// The Arrow field of column `name` of `hive_type` whose every field, nested ones included,
/// carries the id `field_id(path)` gives it as `PARQUET:field_id` metadata.
pub(crate) fn field_with_ids(
    name: &str,
    hive_type: &HiveType,
    path: &mut Vec<String>,
    field_id: &mut dyn FnMut(&[&str]) -> Option<i32>,
) -> Result<Field, MissingFieldId> {
    path.push(name.to_owned());
    let id = {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        field_id(&parts).ok_or_else(|| MissingFieldId {
            path: parts.join("."),
        })?
    };
    let data_type = match hive_type {
        HiveType::Array(element) => DataType::List(Arc::new(field_with_ids(
            "element", element, path, field_id,
        )?)),
        HiveType::Map(key, value) => {
            let entries = Fields::from(vec![
                field_with_ids("key", key, path, field_id)?.with_nullable(false),
                field_with_ids("value", value, path, field_id)?,
            ]);
            // The repeated `key_value` group has no Iceberg field of its own: no id.
            DataType::Map(
                Arc::new(Field::new("key_value", DataType::Struct(entries), false)),
                false,
            )
        }
        HiveType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| field_with_ids(&f.name, &f.hive_type, path, field_id))
                .collect::<Result<Fields, _>>()?,
        ),
        primitive => primitive.arrow_type(),
    };
    path.pop();
    Ok(
        Field::new(name, data_type, true).with_metadata(HashMap::from([(
            PARQUET_FIELD_ID_META_KEY.to_owned(),
            id.to_string(),
        )])),
    )
}
