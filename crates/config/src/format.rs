//! `[format]`: how objects are encoded (Parquet with an inline or Glue schema, NDJSON, raw) and
//! compressed.

use std::collections::BTreeMap;
use std::sync::Arc;

use kinesink_parquet_writer::{
    Codec, ObjectFormat, ParquetCompression, ParquetOptions, ParquetTableFormat, RecordFraming,
    SerdeOptions, TableSchema,
};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ClosedSet, ScalarValue};
use super::{ConfigError, bounds, err, is_default};

/// `format.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FormatType {
    /// Parquet, with `format.schema` or `[format.glue]`.
    Parquet,
    /// One record per line.
    Ndjson,
    /// Records concatenated, as Firehose writes them.
    Raw,
}

/// `format.compression`: the same names for Parquet and for NDJSON/raw objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Compression {
    /// Uncompressed (also spelled `uncompressed`).
    #[serde(alias = "uncompressed")]
    None,
    /// gzip.
    Gzip,
    /// Zstandard at `format.zstd_level`.
    Zstd,
    /// Snappy.
    Snappy,
}

/// `[format.glue]`: read the schema from a Glue Data Catalog table at start-up.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, expecting = "a table of [format.glue] keys")]
pub struct GlueSection {
    /// Glue database.
    pub database: String,
    /// Glue table.
    pub table: String,
    /// Catalog (account) id; default: the caller's.
    pub catalog_id: Option<String>,
    /// Table version; default: the current one.
    pub version: Option<String>,
    /// Glue endpoint override.
    pub endpoint_url: Option<String>,
}

/// `[format]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of [format] keys")]
pub(crate) struct FormatSection {
    /// The object format; default parquet with a schema, else ndjson.
    #[serde(rename = "type")]
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) kind: Option<FormatType>,
    /// Default zstd for Parquet, gzip for NDJSON/raw.
    #[serde_as(as = "Option<ClosedSet>")]
    pub(crate) compression: Option<Compression>,
    /// 1..=22, with zstd; default 3.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) zstd_level: Option<i32>,
    /// The Parquet schema in Hive/Glue type syntax.
    pub(crate) schema: Option<String>,
    /// OpenX JSON SerDe option; default true.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) case_insensitive: Option<bool>,
    /// OpenX JSON SerDe option.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) column_to_json_key_mappings: BTreeMap<String, String>,
    /// OpenX JSON SerDe option; default false.
    #[serde_as(as = "Option<ScalarValue>")]
    pub(crate) convert_dots_in_json_keys_to_underscores: Option<bool>,
    /// Read the Parquet schema from Glue instead of `schema`.
    pub(crate) glue: Option<GlueSection>,
}

/// Where the format of data objects comes from.
#[derive(Debug, Clone)]
pub enum FormatSource {
    /// Complete in the configuration.
    Given(ObjectFormat),
    /// Parquet whose schema is read from a Glue table at start-up ([`GlueFormat::with_schema`]).
    FromGlue(GlueFormat),
    /// Parquet whose schema is each Iceberg table's own (`[destination.iceberg]` without
    /// `format.schema`): the tables must exist, since nothing says how to create them.
    FromTable(TableFormat),
}

impl FormatSource {
    /// The object extension used when `destination.file_extension` is not given.
    #[must_use]
    pub fn default_file_extension(&self) -> &'static str {
        match self {
            FormatSource::Given(format) => format.file_extension(),
            FormatSource::FromGlue(_) | FormatSource::FromTable(_) => ".parquet",
        }
    }
}

/// Parquet without a configured schema, for Iceberg tables: each table's current schema (with
/// its field ids) converts its records; these are the other options.
#[derive(Debug, Clone)]
pub struct TableFormat {
    /// The OpenX JSON SerDe options.
    pub serde: Arc<SerdeOptions>,
    /// Compression and the other Parquet options.
    pub options: ParquetOptions,
}

/// Parquet with a schema from Glue: the table to read it from, and every other option.
#[derive(Debug, Clone)]
pub struct GlueFormat {
    /// The Glue table (`[format.glue]`).
    pub table: GlueSection,
    /// The OpenX JSON SerDe options.
    pub serde: Arc<SerdeOptions>,
    /// Compression and the other Parquet options.
    pub options: ParquetOptions,
}

impl GlueFormat {
    /// The object format, once the table's schema is read.
    ///
    /// # Errors
    /// A message naming the `format` section when the schema cannot be written as Parquet.
    pub fn with_schema(&self, schema: TableSchema) -> Result<ObjectFormat, ConfigError> {
        let table =
            ParquetTableFormat::new(Arc::new(schema), self.serde.clone(), self.options.clone())
                .map_err(|e| err(format!("config section `format`: {e}")))?;
        Ok(ObjectFormat::Parquet(Arc::new(table)))
    }
}

/// `[format]`, validated.
#[derive(Debug)]
pub(super) struct ValidFormat {
    pub(super) format: FormatSource,
    pub(super) error_codec: Codec,
}

impl FormatSection {
    /// Checks every key; `for_tables`: the destination is Iceberg tables (Parquet by default,
    /// and the schema may be left to the tables).
    pub(super) fn validate(self, for_tables: bool) -> Result<ValidFormat, ConfigError> {
        let kind = self.kind.unwrap_or(
            if for_tables || self.schema.is_some() || self.glue.is_some() {
                FormatType::Parquet
            } else {
                FormatType::Ndjson
            },
        );
        let zstd_level = bounds::within(
            "format.zstd_level",
            self.zstd_level.unwrap_or(3),
            &(1..=22),
            "zstd levels",
        )?;
        if self.zstd_level.is_some() && self.compression.is_some_and(|c| c != Compression::Zstd) {
            return Err(err(
                "config key `format.zstd_level` is only used with compression = \"zstd\"",
            ));
        }
        match kind {
            FormatType::Ndjson | FormatType::Raw => self.records(kind, zstd_level),
            FormatType::Parquet => self.parquet(zstd_level, for_tables),
        }
    }

    /// NDJSON or raw objects.
    fn records(self, kind: FormatType, zstd_level: i32) -> Result<ValidFormat, ConfigError> {
        let serde_keys_given = self.case_insensitive.is_some()
            || !self.column_to_json_key_mappings.is_empty()
            || self.convert_dots_in_json_keys_to_underscores.is_some();
        if self.schema.is_some() || self.glue.is_some() || serde_keys_given {
            return Err(err(format!(
                "config keys `format.schema`, `format.glue` and the SerDe options are only used with type = \"parquet\", not \"{}\"",
                super::spelling(&kind)
            )));
        }
        let framing = if kind == FormatType::Raw {
            RecordFraming::Raw
        } else {
            RecordFraming::NewlineDelimited
        };
        let codec = match self.compression.unwrap_or(Compression::Gzip) {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Gzip,
            Compression::Zstd => Codec::Zstd { level: zstd_level },
            Compression::Snappy => Codec::Snappy,
        };
        Ok(ValidFormat {
            format: FormatSource::Given(ObjectFormat::Records { framing, codec }),
            error_codec: codec,
        })
    }

    /// Parquet objects, with an inline schema or one from Glue (or, `for_tables`, none: each
    /// Iceberg table's own).
    fn parquet(self, zstd_level: i32, for_tables: bool) -> Result<ValidFormat, ConfigError> {
        let compression = match self.compression.unwrap_or(Compression::Zstd) {
            Compression::Zstd => ParquetCompression::Zstd { level: zstd_level },
            Compression::Snappy => ParquetCompression::Snappy,
            Compression::Gzip => ParquetCompression::Gzip,
            Compression::None => ParquetCompression::Uncompressed,
        };
        let serde = Arc::new(SerdeOptions {
            case_insensitive: self.case_insensitive.unwrap_or(true),
            column_to_json_key_mappings: self.column_to_json_key_mappings,
            convert_dots_in_json_keys_to_underscores: self
                .convert_dots_in_json_keys_to_underscores
                .unwrap_or(false),
        });
        let options = ParquetOptions {
            compression,
            ..ParquetOptions::default()
        };
        let format = match (self.schema, self.glue) {
            (Some(schema), None) => {
                let schema = Arc::new(
                    TableSchema::parse_hive(&schema)
                        .map_err(|e| err(format!("config key `format.schema`: {e}")))?,
                );
                serde.validate_against(&schema).map_err(|e| {
                    err(format!(
                        "config key `format.column_to_json_key_mappings`: {e}"
                    ))
                })?;
                let table = ParquetTableFormat::new(schema, serde, options)
                    .map_err(|e| err(format!("config section `format`: {e}")))?;
                FormatSource::Given(ObjectFormat::Parquet(Arc::new(table)))
            }
            (None, Some(table)) => FormatSource::FromGlue(GlueFormat {
                table,
                serde,
                options,
            }),
            (Some(_), Some(_)) => {
                return Err(err(
                    "config keys `format.schema` and `format.glue`: give one, not both",
                ));
            }
            (None, None) if for_tables => FormatSource::FromTable(TableFormat { serde, options }),
            (None, None) => {
                return Err(err(
                    "config key `format.schema` (or `[format.glue]`) is required with type = \"parquet\"",
                ));
            }
        };
        Ok(ValidFormat {
            format,
            error_codec: Codec::Gzip,
        })
    }
}
