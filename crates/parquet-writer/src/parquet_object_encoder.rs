//! One Parquet object, filled record by record and encoded a whole row group at a time.

use std::sync::Arc;

use parquet::arrow::ArrowWriter;

use crate::chunked_output::ChunkedOutput;
use crate::column_cardinality::high_cardinality_columns;
use crate::conversion_failure::ConversionFailure;
use crate::json_record_parser::{JsonRecordParser, ParsedJsonRecord};
use crate::json_row_converter::JsonRowConverter;
use crate::parquet_options::{DictionaryMode, ParquetOptions, ParquetOptionsError};
use crate::row_group_buffer::RowGroupBuffer;
use crate::serde_options::SerdeOptions;
use crate::table_schema::TableSchema;

/// The Parquet writer failed (it does not for in-memory output unless the crate has a bug).
#[derive(Debug, thiserror::Error)]
#[error("parquet encoding failed: {0}")]
pub struct ParquetEncodeError(#[from] parquet::errors::ParquetError);

/// Everything the Parquet objects of one delivery share: schema, SerDe options, writer options
/// and the prepared converter. Build it once; every [`ParquetObjectEncoder`] holds an `Arc`.
///
/// Guarantees: the options were validated when it was built.
#[derive(Debug)]
pub struct ParquetTableFormat {
    schema: Arc<TableSchema>,
    serde: Arc<SerdeOptions>,
    options: ParquetOptions,
    converter: JsonRowConverter,
}

impl ParquetTableFormat {
    /// Prepares the format.
    ///
    /// # Errors
    /// A [`ParquetOptionsError`] for an option out of range.
    pub fn new(
        schema: Arc<TableSchema>,
        serde: Arc<SerdeOptions>,
        options: ParquetOptions,
    ) -> Result<Self, ParquetOptionsError> {
        options.validate()?;
        let converter = JsonRowConverter::new(&schema, &serde);
        Ok(Self {
            schema,
            serde,
            options,
            converter,
        })
    }

    /// The table schema.
    #[must_use]
    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    /// The SerDe options.
    #[must_use]
    pub fn serde_options(&self) -> &Arc<SerdeOptions> {
        &self.serde
    }

    /// The writer options.
    #[must_use]
    pub fn options(&self) -> &ParquetOptions {
        &self.options
    }
}

/// Converts JSON records into one Parquet object in memory.
///
/// Guarantees:
/// - a record either becomes exactly one row or is refused with a [`ConversionFailure`] and
///   leaves the encoder exactly as it was (no half-appended row);
/// - rows are buffered column-wise and encoded (and compressed) a whole row group at a time,
///   when [`ParquetOptions::max_row_group_rows`] or [`ParquetOptions::max_row_group_bytes`] is
///   reached or at [`ParquetObjectEncoder::finish`]; buffered rows therefore never exceed those
///   bounds, and [`ParquetObjectEncoder::buffered_bytes`] reports all memory held;
/// - [`ParquetObjectEncoder::finish`] returns a complete Parquet file with the schema's Arrow
///   schema and the rows in append order (a valid file with no rows if none were appended).
#[derive(Debug)]
pub struct ParquetObjectEncoder {
    format: Arc<ParquetTableFormat>,
    rows: RowGroupBuffer,
    writer: Option<ArrowWriter<ChunkedOutput>>,
    records: usize,
    /// A row-group encoding error, reported by `finish` (never expected for in-memory output).
    deferred_error: Option<ParquetEncodeError>,
    /// Reused for every `append_bytes` record.
    parser: JsonRecordParser,
}

impl ParquetObjectEncoder {
    /// A new, empty object with its own [`ParquetTableFormat`].
    ///
    /// # Errors
    /// A [`ParquetOptionsError`] for an option out of range.
    pub fn new(
        schema: Arc<TableSchema>,
        serde: Arc<SerdeOptions>,
        options: ParquetOptions,
    ) -> Result<Self, ParquetOptionsError> {
        Ok(Self::with_format(Arc::new(ParquetTableFormat::new(
            schema, serde, options,
        )?)))
    }

    /// A new, empty object of a shared format (cheap: no per-object preparation).
    #[must_use]
    pub fn with_format(format: Arc<ParquetTableFormat>) -> Self {
        let rows = RowGroupBuffer::new(&format.schema);
        Self {
            format,
            rows,
            writer: None,
            records: 0,
            deferred_error: None,
            parser: JsonRecordParser::new(),
        }
    }

    /// Appends a record already parsed as JSON (the fast path: the pipeline parses each record
    /// once and shares the value with partition-key extraction).
    ///
    /// # Errors
    /// A [`ConversionFailure`] when the record does not fit the schema; the encoder is unchanged.
    /// A row group that fills up is encoded right away (an encoding error, not expected for
    /// in-memory output, is reported by [`ParquetObjectEncoder::finish`]).
    pub fn append_json(&mut self, record: &serde_json::Value) -> Result<(), ConversionFailure> {
        self.format.converter.append_row(record, &mut self.rows)?;
        self.records += 1;
        self.encode_if_full();
        Ok(())
    }

    /// Appends a record given as bytes: one JSON object, or several concatenated ones
    /// (`{"a":1}{"a":2}`, which Firehose accepts as several rows) — all of them or none.
    ///
    /// # Errors
    /// A [`ConversionFailure`] for empty, non-UTF-8 or non-JSON bytes, or a document that does
    /// not fit the schema; the encoder is unchanged.
    pub fn append_bytes(&mut self, record: &[u8]) -> Result<(), ConversionFailure> {
        let parsed = self.parser.parse(record)?;
        append_documents(&self.format.converter, &mut self.rows, &parsed)?;
        self.records += parsed.document_count();
        self.encode_if_full();
        Ok(())
    }

    /// Appends a record parsed by a [`JsonRecordParser`] (to read fields of it first, e.g. a
    /// partition key, without parsing it twice); same rules and guarantees as
    /// [`ParquetObjectEncoder::append_bytes`].
    ///
    /// # Errors
    /// A [`ConversionFailure`] when a document does not fit the schema; the encoder is unchanged.
    pub fn append_parsed(
        &mut self,
        record: &ParsedJsonRecord<'_>,
    ) -> Result<(), ConversionFailure> {
        append_documents(&self.format.converter, &mut self.rows, record)?;
        self.records += record.document_count();
        self.encode_if_full();
        Ok(())
    }

    /// Encodes the rows buffered so far into a compressed row group of this object now, instead
    /// of when the row group fills up (memory pressure), when they hold at least
    /// [`MIN_COMPACTION_BYTES`] (an open writer itself holds ~29 KiB, so compacting fewer rows
    /// would cost more memory than it saves). The object keeps exactly the same rows, in the
    /// same order; only its row-group layout changes.
    pub fn compact(&mut self) {
        if self.compactable_bytes() == 0 {
            return;
        }
        if let Err(e) = self.encode_row_group() {
            self.deferred_error.get_or_insert(e);
        }
    }

    /// Bytes held as rows not yet encoded that [`ParquetObjectEncoder::compact`] would encode
    /// (0 below [`MIN_COMPACTION_BYTES`]).
    #[must_use]
    pub fn compactable_bytes(&self) -> usize {
        if self.rows.row_count() == 0 {
            return 0;
        }
        let bytes = self.rows.allocated_bytes();
        if bytes < MIN_COMPACTION_BYTES {
            0
        } else {
            bytes
        }
    }

    /// Rows appended so far (a multi-document record counts each document).
    #[must_use]
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// Bytes of memory held: buffered column data plus encoded output so far.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.rows.allocated_bytes()
            + self.parser.allocated_bytes()
            + self.writer.as_ref().map_or(0, |w| {
                w.inner().allocated_bytes() + w.in_progress_size() + OPEN_WRITER_BYTES
            })
    }

    /// Encodes the remaining rows and returns the complete Parquet file.
    ///
    /// # Errors
    /// A [`ParquetEncodeError`] if the Parquet writer fails (not expected for in-memory output).
    pub fn finish(mut self) -> Result<Vec<u8>, ParquetEncodeError> {
        if let Some(e) = self.deferred_error.take() {
            return Err(e);
        }
        self.encode_row_group()?;
        let writer = match self.writer.take() {
            Some(w) => w,
            None => self.new_writer(&[])?,
        };
        Ok(writer.into_inner()?.into_vec())
    }

    fn encode_if_full(&mut self) {
        /// Summing the buffers' sizes walks every column, so it is done every this many rows.
        const BYTES_CHECK_INTERVAL: usize = 32;
        let options = &self.format.options;
        let rows = self.rows.row_count();
        if rows >= options.max_row_group_rows
            || (rows.is_multiple_of(BYTES_CHECK_INTERVAL)
                && self.rows.allocated_bytes() >= options.max_row_group_bytes)
        {
            // Encoding our own buffers into memory does not fail; if it ever did, `finish`
            // reports it so the object is never delivered incomplete.
            if let Err(e) = self.encode_row_group() {
                self.deferred_error.get_or_insert(e);
            }
        }
    }

    fn new_writer(
        &self,
        plain_columns: &[String],
    ) -> Result<ArrowWriter<ChunkedOutput>, ParquetEncodeError> {
        let properties = self
            .format
            .options
            .writer_properties(plain_columns.iter().map(String::as_str));
        Ok(ArrowWriter::try_new(
            ChunkedOutput::default(),
            self.format.schema.arrow_schema(),
            Some(properties),
        )?)
    }

    fn encode_row_group(&mut self) -> Result<(), ParquetEncodeError> {
        if self.rows.row_count() == 0 {
            return Ok(());
        }
        let batch = self.rows.take_batch();
        if self.writer.is_none() {
            let plain = if self.format.options.dictionary == DictionaryMode::Auto {
                high_cardinality_columns(&batch)
            } else {
                Vec::new()
            };
            self.writer = Some(self.new_writer(&plain)?);
        }
        let writer = self.writer.as_mut().expect("created above");
        writer.write(&batch)?;
        writer.flush()?;
        Ok(())
    }
}

/// Memory an open Parquet writer holds besides its output (its buffered sink, schema and
/// row-group metadata, column chunk statistics): measured ~29 KiB per writer with the
/// reference schema (examples/open_partitions_memory.rs, 5,000 compacted encoders: 144 MiB of
/// RSS while the output held 22 MiB); counted so the memory budget sees it.
const OPEN_WRITER_BYTES: usize = 32 << 10;

/// Fewest bytes of buffered rows [`ParquetObjectEncoder::compact`] encodes: rows compress ~10x
/// but the writer compaction opens holds ~29 KiB, so compacting saves memory from ~36 KiB of
/// rows on, and at least half from 64 KiB.
pub const MIN_COMPACTION_BYTES: usize = 64 << 10;

/// Appends every document of a record as a row, or none of them. A panic while converting a
/// document (a bug) refuses the record like a conversion failure, with the rows rolled back.
fn append_documents(
    converter: &JsonRowConverter,
    rows: &mut RowGroupBuffer,
    record: &ParsedJsonRecord<'_>,
) -> Result<(), ConversionFailure> {
    let before = rows.row_count();
    let documents = record.documents();
    let count = documents.len();
    for (i, document) in documents.enumerate() {
        let appended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            converter.append_row(document, rows)
        }))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ConversionFailure::new(
                crate::conversion_failure::ConversionFailureKind::InvalidValue,
                format!("the converter panicked on this record: {message}"),
            ))
        });
        if let Err(e) = appended {
            rows.truncate(before);
            return Err(if count > 1 {
                ConversionFailure::new(
                    e.kind(),
                    format!("document {} of {count}: {}", i + 1, e.message()),
                )
            } else {
                e
            });
        }
    }
    Ok(())
}
