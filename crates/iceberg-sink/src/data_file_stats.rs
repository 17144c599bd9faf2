//! The Iceberg data-file entry of a Parquet file kinesink wrote: its statistics (counts,
//! sizes, bounds, split offsets), read from the file's footer, and the `DataFile` a commit adds.
//!
//! Pure: no runtime, no I/O (the caller holds the file's bytes or its decoded footer).
//! Statistics follow Iceberg Java's footer metrics (`ParquetMetrics`/`ParquetUtil`) in the
//! default metrics mode `truncate(16)`: every leaf column with a field id counts its
//! compressed size, values and nulls; non-repeated columns (not inside a list or map) also
//! get bounds, strings and binary truncated ([`crate::bound_truncation`]).

use std::collections::HashMap;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PrimitiveType, Schema,
    Struct, Type,
};
use parquet::file::metadata::{
    ColumnChunkMetaData, FooterTail, ParquetMetaData, ParquetMetaDataReader,
};

use crate::bound_truncation::{TRUNCATE_LENGTH, truncated_lower_bound, truncated_upper_bound};
use crate::column_statistics::chunk_bounds;

/// Why a Parquet file's statistics could not be turned into an Iceberg data-file entry.
///
/// Guarantees: each variant names the column (its Parquet path) and field id concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataFileStatsError {
    /// The bytes are not a Parquet file whose footer parquet 60 can decode.
    #[error("not a readable Parquet file: {0}")]
    Footer(#[from] parquet::errors::ParquetError),
    /// A column has no Parquet field id (written without kinesink-parquet-writer's
    /// `TableSchema::with_field_ids`?): Iceberg cannot tell which field it holds.
    #[error("Parquet column `{column}` has no field id")]
    MissingFieldId {
        /// The column's Parquet path.
        column: String,
    },
    /// A column's field id is not in the table schema.
    #[error("Parquet column `{column}` has field id {field_id}, which the table schema lacks")]
    UnknownFieldId {
        /// The column's Parquet path.
        column: String,
        /// Its field id.
        field_id: i32,
    },
    /// A leaf column's field id names a struct, list or map field of the table schema.
    #[error(
        "Parquet column `{column}` has field id {field_id} of the nested field type {field_type}"
    )]
    NotPrimitive {
        /// The column's Parquet path.
        column: String,
        /// Its field id.
        field_id: i32,
        /// The schema's type for that id.
        field_type: String,
    },
    /// A column's statistics are not values of its field's type.
    #[error("Parquet column `{column}` (field id {field_id}): {reason}")]
    StatisticsTypeMismatch {
        /// The column's Parquet path.
        column: String,
        /// Its field id.
        field_id: i32,
        /// Which statistics and field type do not fit.
        reason: String,
    },
    /// iceberg-rust refused the entry (a missing required value: a bug here).
    #[error("the data file entry could not be built: {0}")]
    DataFile(String),
}

/// Plain statistics of one Parquet file, keyed by Iceberg field id, as a data-file entry holds
/// them.
///
/// Guarantees (from [`file_stats`]): counts and sizes sum every row group; a field has a null
/// count only if every row group's chunk reported one, a NaN count only if every chunk
/// reported one (Parquet 60 writers do for float and double); a bound is present only if
/// every row group's chunk had one or held only nulls, and it bounds every non-null value of
/// the field in the file (strings and binary cut to 16 code points / bytes, upper bounds
/// incremented, or left out when they cannot be); float and double bounds are left out unless
/// every chunk reported zero NaNs.
#[derive(Debug, Clone, PartialEq)]
pub struct FileStats {
    /// Rows in the file.
    pub record_count: u64,
    /// The file's size in bytes.
    pub file_size_in_bytes: u64,
    /// Compressed bytes of each field's column chunks.
    pub column_sizes: HashMap<i32, u64>,
    /// Values (nulls included) of each field.
    pub value_counts: HashMap<i32, u64>,
    /// Nulls of each field.
    pub null_value_counts: HashMap<i32, u64>,
    /// NaNs of each float or double field.
    pub nan_value_counts: HashMap<i32, u64>,
    /// Lower bound of each field's non-null values.
    pub lower_bounds: HashMap<i32, Datum>,
    /// Upper bound of each field's non-null values.
    pub upper_bounds: HashMap<i32, Datum>,
    /// Start offset of each row group, ascending.
    pub split_offsets: Vec<i64>,
}

/// The decoded footer of a whole Parquet file held in memory.
///
/// # Errors
/// [`DataFileStatsError::Footer`] for bytes too short, without the `PAR1` magic, or with a
/// footer that does not decode.
pub fn parquet_footer(file: &[u8]) -> Result<ParquetMetaData, DataFileStatsError> {
    const TAIL: usize = 8;
    let too_short = || parquet::errors::ParquetError::General("shorter than a footer".into());
    let tail_start = file.len().checked_sub(TAIL).ok_or_else(too_short)?;
    let tail = FooterTail::try_from(&file[tail_start..])?;
    let footer_start = tail_start
        .checked_sub(tail.metadata_length())
        .ok_or_else(too_short)?;
    Ok(ParquetMetaDataReader::decode_metadata(
        &file[footer_start..tail_start],
    )?)
}

/// The statistics of the Parquet file `file` (its whole bytes) for a table of `schema`.
///
/// # Errors
/// As [`parquet_footer`] and [`file_stats`].
pub fn file_stats_of_parquet(
    file: &[u8],
    schema: &Schema,
) -> Result<FileStats, DataFileStatsError> {
    let footer = parquet_footer(file)?;
    file_stats(&footer, file.len() as u64, schema)
}

/// The statistics of a Parquet file of `file_size_in_bytes` bytes whose footer is `footer`,
/// for a table of `schema`: every leaf column is found by its Parquet field id.
///
/// Guarantees: as [`FileStats`]; nothing is guessed from column names.
///
/// # Errors
/// A column without a field id, with one the schema does not have or that names a nested
/// field, or whose statistics do not fit its field's type.
pub fn file_stats(
    footer: &ParquetMetaData,
    file_size_in_bytes: u64,
    schema: &Schema,
) -> Result<FileStats, DataFileStatsError> {
    let mut fields: HashMap<i32, FieldStats> = HashMap::new();
    let mut split_offsets = Vec::with_capacity(footer.num_row_groups());
    for row_group in footer.row_groups() {
        if let Some(first) = row_group.columns().first() {
            split_offsets.push(i64::try_from(first.byte_range().0).unwrap_or(i64::MAX));
        }
        for chunk in row_group.columns() {
            let (field_id, field_type) = field_of(chunk, schema)?;
            fields
                .entry(field_id)
                .or_insert_with(|| FieldStats::new(field_type))
                .add(chunk, field_id, field_type)?;
        }
    }
    let mut stats = FileStats {
        record_count: u64::try_from(footer.file_metadata().num_rows()).unwrap_or(0),
        file_size_in_bytes,
        column_sizes: HashMap::new(),
        value_counts: HashMap::new(),
        null_value_counts: HashMap::new(),
        nan_value_counts: HashMap::new(),
        lower_bounds: HashMap::new(),
        upper_bounds: HashMap::new(),
        split_offsets,
    };
    for (field_id, field) in fields {
        field.finish_into(field_id, &mut stats);
    }
    Ok(stats)
}

impl FileStats {
    /// The data-file entry of this file at `file_path`, in the partition `partition` (its
    /// values in the order of the partition spec `partition_spec_id`; `Struct::empty()` for an
    /// unpartitioned table): content `Data`, format Parquet, and these statistics.
    ///
    /// # Errors
    /// [`DataFileStatsError::DataFile`] if iceberg-rust refuses the entry (not expected).
    pub fn into_data_file(
        self,
        file_path: String,
        partition: Struct,
        partition_spec_id: i32,
    ) -> Result<DataFile, DataFileStatsError> {
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(file_path)
            .file_format(DataFileFormat::Parquet)
            .partition(partition)
            .partition_spec_id(partition_spec_id)
            .record_count(self.record_count)
            .file_size_in_bytes(self.file_size_in_bytes)
            .column_sizes(self.column_sizes)
            .value_counts(self.value_counts)
            .null_value_counts(self.null_value_counts)
            .nan_value_counts(self.nan_value_counts)
            .lower_bounds(self.lower_bounds)
            .upper_bounds(self.upper_bounds)
            .split_offsets((!self.split_offsets.is_empty()).then_some(self.split_offsets))
            .build()
            .map_err(|e| DataFileStatsError::DataFile(e.to_string()))
    }
}

/// The field id of `chunk`'s column and its primitive type in `schema`.
fn field_of<'a>(
    chunk: &ColumnChunkMetaData,
    schema: &'a Schema,
) -> Result<(i32, &'a PrimitiveType), DataFileStatsError> {
    let column = || chunk.column_descr().path().string();
    let info = chunk.column_descr().self_type().get_basic_info();
    if !info.has_id() {
        return Err(DataFileStatsError::MissingFieldId { column: column() });
    }
    let field_id = info.id();
    let field = schema
        .field_by_id(field_id)
        .ok_or_else(|| DataFileStatsError::UnknownFieldId {
            column: column(),
            field_id,
        })?;
    match field.field_type.as_ref() {
        Type::Primitive(primitive) => Ok((field_id, primitive)),
        nested => Err(DataFileStatsError::NotPrimitive {
            column: column(),
            field_id,
            field_type: nested.to_string(),
        }),
    }
}

/// One field's statistics summed over the row groups read so far.
#[derive(Debug)]
struct FieldStats {
    /// Float or double: bounds only when NaN-free, and a NaN count.
    floating: bool,
    column_size: u64,
    values: u64,
    /// `None` once a chunk had no null count.
    nulls: Option<u64>,
    /// `None` once a chunk had no NaN count.
    nans: Option<u64>,
    /// Whether every chunk so far gave its bounds (or held only nulls); false for columns
    /// inside a list or map, whose bounds are not kept.
    bounds_known: bool,
    min: Option<Datum>,
    max: Option<Datum>,
}

impl FieldStats {
    fn new(field_type: &PrimitiveType) -> Self {
        Self {
            floating: matches!(field_type, PrimitiveType::Float | PrimitiveType::Double),
            column_size: 0,
            values: 0,
            nulls: Some(0),
            nans: Some(0),
            bounds_known: true,
            min: None,
            max: None,
        }
    }

    fn add(
        &mut self,
        chunk: &ColumnChunkMetaData,
        field_id: i32,
        field_type: &PrimitiveType,
    ) -> Result<(), DataFileStatsError> {
        let values = u64::try_from(chunk.num_values()).unwrap_or(0);
        self.column_size += u64::try_from(chunk.compressed_size()).unwrap_or(0);
        self.values += values;
        let statistics = chunk.statistics();
        let nulls = statistics.and_then(|s| s.null_count_opt());
        self.nulls = self.nulls.zip(nulls).map(|(a, b)| a + b);
        let nans = statistics.and_then(|s| s.nan_count_opt());
        self.nans = self.nans.zip(nans).map(|(a, b)| a + b);
        let descriptor = chunk.column_descr();
        if descriptor.max_rep_level() > 0 {
            self.bounds_known = false;
        }
        if !self.bounds_known {
            return Ok(());
        }
        let Some(statistics) = statistics else {
            self.bounds_known = values == 0;
            return Ok(());
        };
        let (min, max) = chunk_bounds(statistics, field_type, descriptor).map_err(|reason| {
            DataFileStatsError::StatisticsTypeMismatch {
                column: descriptor.path().string(),
                field_id,
                reason,
            }
        })?;
        match (min, max) {
            (Some(min), Some(max)) => {
                if self.min.as_ref().is_none_or(|current| min < *current) {
                    self.min = Some(min);
                }
                if self.max.as_ref().is_none_or(|current| max > *current) {
                    self.max = Some(max);
                }
            }
            // No bounds: fine only for a chunk of nulls.
            _ => self.bounds_known = nulls == Some(values),
        }
        Ok(())
    }

    fn finish_into(self, field_id: i32, stats: &mut FileStats) {
        stats.column_sizes.insert(field_id, self.column_size);
        stats.value_counts.insert(field_id, self.values);
        if let Some(nulls) = self.nulls {
            stats.null_value_counts.insert(field_id, nulls);
        }
        if self.floating
            && let Some(nans) = self.nans
        {
            stats.nan_value_counts.insert(field_id, nans);
        }
        let nan_free = !self.floating || self.nans == Some(0);
        if !self.bounds_known || !nan_free {
            return;
        }
        if let Some(min) = self.min {
            stats
                .lower_bounds
                .insert(field_id, truncated_lower_bound(min, TRUNCATE_LENGTH));
        }
        if let Some(max) = self
            .max
            .and_then(|max| truncated_upper_bound(max, TRUNCATE_LENGTH))
        {
            stats.upper_bounds.insert(field_id, max);
        }
    }
}

#[cfg(test)]
mod tests;
