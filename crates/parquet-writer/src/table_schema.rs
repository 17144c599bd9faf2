//! The table schema: ordered, named, typed columns, from Hive DDL text or Glue columns.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};

use crate::field_ids::{MissingFieldId, field_with_ids};
use crate::hive_type::{HiveType, write_identifier};
use crate::hive_type_parser::{self, TypeSyntaxError};

/// One column of a [`TableSchema`].
///
/// Guarantees: `name` is lowercase and unique within its schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// Lowercase column name (Hive and Glue store names lowercase).
    pub name: String,
    /// The column's type.
    pub hive_type: HiveType,
}

/// The columns records are converted into, in order.
///
/// Guarantees: at least one column; names are lowercase and unique; every type is well formed
/// (see [`HiveType`]); [`TableSchema::arrow_schema`] is the exact schema of the Parquet files
/// written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    columns: Vec<Column>,
    /// Per column: a record must give it a value ([`TableSchema::with_required_columns`]).
    required: Vec<bool>,
    arrow: SchemaRef,
}

/// Why a schema could not be read; names the column and the character where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct SchemaError {
    /// The column whose definition is wrong, when the problem is inside one.
    pub column: Option<String>,
    /// 1-based character position in the schema text (for Glue columns: in that column's type).
    pub position: usize,
    /// What is wrong.
    pub reason: String,
}

impl SchemaError {
    fn render(&self) -> String {
        match &self.column {
            Some(c) => format!(
                "schema column `{c}`, character {}: {}",
                self.position, self.reason
            ),
            None => format!("schema, character {}: {}", self.position, self.reason),
        }
    }

    fn at(text: &str, column: Option<String>, e: TypeSyntaxError) -> Self {
        let offset = e.offset.min(text.len());
        // Offsets always fall on char boundaries; count chars for a human position.
        let position = text
            .get(..offset)
            .map_or(offset, |prefix| prefix.chars().count())
            + 1;
        Self {
            column,
            position,
            reason: e.reason,
        }
    }
}

impl TableSchema {
    /// Parses an inline schema in Hive DDL column syntax: `name type` pairs separated by commas
    /// and/or new lines, e.g. `event_id string, ts timestamp, tags array<string>`.
    ///
    /// Accepted types: `string`, `varchar(n)`, `char(n)`, `tinyint`, `smallint`, `int`,
    /// `integer`, `bigint`, `float`, `double`, `boolean`, `timestamp`, `date`, `decimal`,
    /// `decimal(p)`, `decimal(p,s)`, `binary`, `array<T>`, `map<K,V>` (K primitive),
    /// `struct<name:T,...>`; keywords are case-insensitive; names may be backquoted.
    ///
    /// # Errors
    /// A [`SchemaError`] naming the column and character position of the first problem.
    pub fn parse_hive(text: &str) -> Result<Self, SchemaError> {
        let columns = hive_type_parser::parse_columns(text)
            .map_err(|(column, e)| SchemaError::at(text, column, e))?;
        Ok(Self::from_columns(
            columns
                .into_iter()
                .map(|c| Column {
                    name: c.name,
                    hive_type: c.hive_type,
                })
                .collect(),
        ))
    }

    /// Builds a schema from Glue Data Catalog columns, `(Name, Type)` in table order, as
    /// returned by Glue's `GetTable` (`StorageDescriptor.Columns`).
    ///
    /// # Errors
    /// A [`SchemaError`] naming the column whose name or type is invalid (position is within
    /// that column's type string), a duplicate name, or an empty column list.
    pub fn from_glue_columns<N: AsRef<str>, T: AsRef<str>>(
        columns: &[(N, T)],
    ) -> Result<Self, SchemaError> {
        if columns.is_empty() {
            return Err(SchemaError {
                column: None,
                position: 1,
                reason: "the table has no columns".to_owned(),
            });
        }
        let mut out: Vec<Column> = Vec::with_capacity(columns.len());
        for (name, type_text) in columns {
            let name = name.as_ref();
            let lower = name.to_lowercase();
            if lower.trim().is_empty() {
                return Err(SchemaError {
                    column: Some(name.to_owned()),
                    position: 1,
                    reason: "empty column name".to_owned(),
                });
            }
            if out.iter().any(|c| c.name == lower) {
                return Err(SchemaError {
                    column: Some(lower.clone()),
                    position: 1,
                    reason: format!("duplicate column `{lower}`"),
                });
            }
            let type_text = type_text.as_ref();
            let hive_type = hive_type_parser::parse_type(type_text)
                .map_err(|e| SchemaError::at(type_text, Some(lower.clone()), e))?;
            out.push(Column {
                name: lower,
                hive_type,
            });
        }
        Ok(Self::from_columns(out))
    }

    fn from_columns(columns: Vec<Column>) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(c.name.as_str(), c.hive_type.arrow_type(), true))
            .collect();
        Self {
            arrow: Arc::new(Schema::new(fields)),
            required: vec![false; columns.len()],
            columns,
        }
    }

    /// This schema with the top-level columns `is_required` names written as required: their
    /// Arrow fields (and so the Parquet columns) are non-nullable, and a record without a
    /// value for one of them (missing or `null`) is refused with a conversion failure naming
    /// the column, never written with a null. Field ids and every other property are kept.
    #[must_use]
    pub fn with_required_columns(&self, is_required: impl Fn(&str) -> bool) -> Self {
        let required: Vec<bool> = self.columns.iter().map(|c| is_required(&c.name)).collect();
        let fields: Vec<Field> = self
            .arrow
            .fields()
            .iter()
            .zip(&required)
            .map(|(f, r)| f.as_ref().clone().with_nullable(!r))
            .collect();
        Self {
            columns: self.columns.clone(),
            required,
            arrow: Arc::new(Schema::new(fields)),
        }
    }

    /// Whether column `index` (in table order) is required (see
    /// [`TableSchema::with_required_columns`]); `false` for an index out of range.
    #[must_use]
    pub fn is_required(&self, index: usize) -> bool {
        self.required.get(index).copied().unwrap_or(false)
    }

    /// This schema with a Parquet field id on every field: the Parquet files written with the
    /// returned schema carry `field_id` on every column and nested field (its Arrow fields
    /// carry `PARQUET:field_id` metadata, which the Parquet writer stores in the file schema).
    ///
    /// `field_id` is asked once per field, with its path: the column name, then struct field
    /// names, `element` for an array's element, `key` and `value` for a map's key and value
    /// (Apache Iceberg's names; a map's repeated `key_value` group gets no id).
    ///
    /// Guarantees: the columns, names, types, nullability and [`fmt::Display`] form are this
    /// schema's; only the Arrow schema gains the ids (so the returned schema is not `==` to
    /// this one). A schema not built by this method writes no field ids, exactly as before.
    ///
    /// # Errors
    /// [`MissingFieldId`] naming the first field `field_id` gave no id.
    pub fn with_field_ids(
        &self,
        mut field_id: impl FnMut(&[&str]) -> Option<i32>,
    ) -> Result<Self, MissingFieldId> {
        let mut path = Vec::new();
        let fields = self
            .columns
            .iter()
            .map(|c| field_with_ids(&c.name, &c.hive_type, &mut path, &mut field_id))
            .collect::<Result<Vec<Field>, _>>()?;
        let fields = fields
            .into_iter()
            .zip(&self.required)
            .map(|(f, r)| f.with_nullable(!r))
            .collect::<Vec<Field>>();
        Ok(Self {
            columns: self.columns.clone(),
            required: self.required.clone(),
            arrow: Arc::new(Schema::new(fields)),
        })
    }

    /// The columns, in table order.
    #[must_use]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The Arrow schema of the Parquet files written with this schema (every column nullable
    /// but the required ones).
    #[must_use]
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::clone(&self.arrow)
    }
}

impl fmt::Display for TableSchema {
    /// Canonical DDL column list (`name type, ...`) that [`TableSchema::parse_hive`] reads back
    /// to an equal schema (Hive DDL has no required columns: a schema with some reads back
    /// with them optional).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_identifier(f, &c.name)?;
            write!(f, " {}", c.hive_type)?;
        }
        Ok(())
    }
}
