//! Parquet writing options and their translation to the `parquet` crate's writer properties.

use std::collections::BTreeSet;

use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

/// Compression of Parquet pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// No compression.
    Uncompressed,
    /// Snappy (Firehose's default for converted data).
    Snappy,
    /// gzip at level 6.
    Gzip,
    /// Zstandard at the given level (1..=22); kinesink's default, level 3.
    Zstd {
        /// Compression level.
        level: i32,
    },
}

/// Parquet format version of the data pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetWriterVersion {
    /// Parquet 1.0 pages (readable everywhere; the default).
    V1,
    /// Parquet 2.0 data pages.
    V2,
}

/// Whether columns are dictionary-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DictionaryMode {
    /// Never.
    Off,
    /// For every column.
    On,
    /// For every column except top-level columns whose values are mostly distinct in a sample
    /// of the file's first row group (ids, timestamps, measurements): those are written plain,
    /// which is faster and about as small once compressed. The default.
    Auto,
}

/// How a [`crate::ParquetObjectEncoder`] writes its file.
///
/// Guarantees: [`ParquetOptions::default`] is zstd level 3, Parquet V1 pages, automatic
/// dictionaries, 1 MiB pages, and row groups of up to 1,048,576 rows or 128 MiB of buffered
/// column data — so an object of up to Firehose's 128 MiB buffer is normally one row group,
/// encoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetOptions {
    /// Page compression.
    pub compression: ParquetCompression,
    /// A row group is encoded once it holds this many rows.
    pub max_row_group_rows: usize,
    /// A row group is encoded once its buffered column data holds this many bytes; this bounds
    /// the memory an open encoder holds besides its already-compressed output.
    pub max_row_group_bytes: usize,
    /// Target size of a data page, uncompressed.
    pub data_page_size_bytes: usize,
    /// Dictionary encoding.
    pub dictionary: DictionaryMode,
    /// Top-level columns never dictionary-encoded, whatever `dictionary` says (e.g. ids).
    pub no_dictionary_columns: BTreeSet<String>,
    /// Data page format version.
    pub writer_version: ParquetWriterVersion,
}

/// Largest accepted [`ParquetOptions::max_row_group_bytes`]: keeps 32-bit Arrow offsets safe.
pub const MAX_ROW_GROUP_BYTES_LIMIT: usize = 1 << 30;

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            compression: ParquetCompression::Zstd { level: 3 },
            max_row_group_rows: 1 << 20,
            max_row_group_bytes: 128 << 20,
            data_page_size_bytes: 1 << 20,
            dictionary: DictionaryMode::Auto,
            no_dictionary_columns: BTreeSet::new(),
            writer_version: ParquetWriterVersion::V1,
        }
    }
}

/// An option value out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parquet option `{option}`: {reason}")]
pub struct ParquetOptionsError {
    /// The option's name.
    pub option: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ParquetOptions {
    /// Checks every value is in range (zstd level 1..=22, sizes positive, row-group bytes at
    /// most [`MAX_ROW_GROUP_BYTES_LIMIT`]).
    ///
    /// # Errors
    /// The first option out of range.
    pub fn validate(&self) -> Result<(), ParquetOptionsError> {
        let err = |option, reason: &str| {
            Err(ParquetOptionsError {
                option,
                reason: reason.to_owned(),
            })
        };
        if let ParquetCompression::Zstd { level } = self.compression
            && !(1..=22).contains(&level)
        {
            return err("zstd_level", "must be 1..=22");
        }
        if self.max_row_group_rows == 0 {
            return err("max_row_group_rows", "must be at least 1");
        }
        if self.max_row_group_bytes == 0 || self.max_row_group_bytes > MAX_ROW_GROUP_BYTES_LIMIT {
            return err("max_row_group_bytes", "must be 1..=1 GiB");
        }
        if self.data_page_size_bytes == 0 {
            return err("data_page_size_bytes", "must be at least 1");
        }
        Ok(())
    }

    /// The writer properties for a file whose listed top-level columns must not use a dictionary.
    pub(crate) fn writer_properties<'a>(
        &self,
        plain_columns: impl Iterator<Item = &'a str>,
    ) -> WriterProperties {
        let compression = match self.compression {
            ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Gzip => Compression::GZIP(GzipLevel::default()),
            ParquetCompression::Zstd { level } => {
                Compression::ZSTD(ZstdLevel::try_new(level.clamp(1, 22)).unwrap_or_default())
            }
        };
        let mut builder = WriterProperties::builder()
            .set_compression(compression)
            .set_writer_version(match self.writer_version {
                ParquetWriterVersion::V1 => WriterVersion::PARQUET_1_0,
                ParquetWriterVersion::V2 => WriterVersion::PARQUET_2_0,
            })
            .set_max_row_group_row_count(Some(self.max_row_group_rows))
            .set_data_page_size_limit(self.data_page_size_bytes)
            .set_dictionary_enabled(self.dictionary != DictionaryMode::Off)
            .set_created_by(format!("kinesink {}", env!("CARGO_PKG_VERSION")));
        for column in self.no_dictionary_columns.iter().map(String::as_str) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
        }
        for column in plain_columns {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
        }
        builder.build()
    }
}
