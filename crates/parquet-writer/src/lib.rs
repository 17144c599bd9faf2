//! Object encoders: turn a sequence of user records into the bytes of one S3 object.
//!
//! Owns: the output formats — newline-delimited records and raw concatenation (gzip, zstd,
//! snappy or uncompressed), and Parquet converted from JSON by a Hive/Glue table schema with
//! the OpenX JSON SerDe's rules ([`TableSchema`], [`SerdeOptions`], [`ParquetObjectEncoder`]) —
//! the per-record conversion failures with Firehose's error code and error-record shape, and the
//! file extension of each format. A schema may carry Parquet field ids
//! ([`TableSchema::with_field_ids`], for Apache Iceberg tables); without them no file changes.
//!
//! Must never: do I/O, read clocks, spawn threads or tasks, use AWS SDK types, or silently skip
//! or alter a record it was given: a record is either in the object whole or refused with a
//! [`ConversionFailure`] that leaves the encoder unchanged, for the caller to send to the error
//! output.

mod chunked_output;
mod codec;
mod column_buffer;
mod column_cardinality;
mod column_value_reader;
mod conversion_failure;
mod decimal_text;
mod field_error;
mod field_ids;
mod hive_type;
mod hive_type_parser;
mod json_node;
mod json_record_parser;
mod json_row_converter;
mod json_tape;
mod object_encoder;
mod openx_scalar_text;
mod parquet_object_encoder;
mod parquet_options;
mod record_encoder;
mod row_group_buffer;
mod scalar_conversion;
mod scalar_value;
mod serde_options;
mod table_schema;
mod timestamp_parsing;

pub use codec::{Codec, UnknownCodec};
pub use column_value_reader::{ColumnPathError, ColumnValueReader};
pub use conversion_failure::{
    ConversionErrorRecord, ConversionFailure, ConversionFailureKind, DataCatalogTable,
    FORMAT_CONVERSION_FAILED_OUTPUT_TYPE, MALFORMED_DATA_ERROR_CODE,
};
pub use field_ids::MissingFieldId;
pub use hive_type::{HiveType, MAX_DECIMAL_PRECISION, StructField};
pub use json_record_parser::{JsonRecordParser, ParsedJsonRecord, PathTexts};
pub use object_encoder::{ObjectEncoder, ObjectFormat};
pub use parquet_object_encoder::{
    MIN_COMPACTION_BYTES, ParquetEncodeError, ParquetObjectEncoder, ParquetTableFormat,
};
pub use parquet_options::{
    DictionaryMode, MAX_ROW_GROUP_BYTES_LIMIT, ParquetCompression, ParquetOptions,
    ParquetOptionsError, ParquetWriterVersion,
};
pub use record_encoder::{COMPRESS_FROM_BYTES, RecordEncoder, RecordFraming};
pub use scalar_value::ScalarValue;
pub use serde_options::SerdeOptions;
pub use table_schema::{Column, SchemaError, TableSchema};
