//! One type for every object format, so a delivery buffer holds one encoder whatever the format.

use std::sync::Arc;

use crate::codec::Codec;
use crate::conversion_failure::ConversionFailure;
use crate::json_record_parser::ParsedJsonRecord;
use crate::parquet_object_encoder::{ParquetEncodeError, ParquetObjectEncoder, ParquetTableFormat};
use crate::record_encoder::{RecordEncoder, RecordFraming};

/// The format of a delivery's objects; makes a fresh [`ObjectEncoder`] per object.
#[derive(Debug, Clone)]
pub enum ObjectFormat {
    /// NDJSON or raw records, compressed as a whole.
    Records {
        /// How records are separated.
        framing: RecordFraming,
        /// Whole-object compression.
        codec: Codec,
    },
    /// Parquet converted by a schema.
    Parquet(Arc<ParquetTableFormat>),
}

impl ObjectFormat {
    /// A new, empty encoder for one object.
    #[must_use]
    pub fn new_encoder(&self) -> ObjectEncoder {
        match self {
            ObjectFormat::Records { framing, codec } => {
                ObjectEncoder::Records(Box::new(RecordEncoder::new(*framing, *codec)))
            }
            ObjectFormat::Parquet(format) => ObjectEncoder::Parquet {
                encoder: Box::new(ParquetObjectEncoder::with_format(Arc::clone(format))),
                input_bytes: 0,
            },
        }
    }

    /// Firehose's file extension for this format: `.parquet` for Parquet (whatever the page
    /// compression), the codec's extension (`.gz`, `.zst`, `.snappy`, none) for records.
    #[must_use]
    pub fn file_extension(&self) -> &'static str {
        match self {
            ObjectFormat::Records { codec, .. } => codec.file_extension(),
            ObjectFormat::Parquet(_) => ".parquet",
        }
    }
}

/// The encoder of one open object, of any format.
///
/// Guarantees: a record either enters the object whole or is refused with a
/// [`ConversionFailure`] leaving the encoder unchanged; record encoders never refuse.
#[derive(Debug)]
pub enum ObjectEncoder {
    /// NDJSON / raw.
    Records(Box<RecordEncoder>),
    /// Parquet.
    Parquet {
        /// The encoder.
        encoder: Box<ParquetObjectEncoder>,
        /// Bytes of the records accepted so far, as received.
        input_bytes: usize,
    },
}

impl ObjectEncoder {
    /// Appends one record: `raw` is the record as received; `parsed` is `raw` parsed by a
    /// [`crate::JsonRecordParser`] when the caller already did (Parquet then converts it and does not
    /// parse `raw` again; NDJSON and raw objects always take `raw`).
    ///
    /// # Errors
    /// A [`ConversionFailure`] when a Parquet object cannot take the record; nothing is appended.
    pub fn append(
        &mut self,
        raw: &[u8],
        parsed: Option<&ParsedJsonRecord<'_>>,
    ) -> Result<(), ConversionFailure> {
        match self {
            ObjectEncoder::Records(encoder) => {
                encoder.append(raw);
                Ok(())
            }
            ObjectEncoder::Parquet {
                encoder,
                input_bytes,
            } => {
                match parsed {
                    Some(record) => encoder.append_parsed(record)?,
                    None => encoder.append_bytes(raw)?,
                }
                *input_bytes += raw.len();
                Ok(())
            }
        }
    }

    /// Encodes buffered Parquet rows into a compressed row group now (see
    /// [`ParquetObjectEncoder::compact`]); nothing to do for record objects, which compress as
    /// they go.
    pub fn compact(&mut self) {
        if let ObjectEncoder::Parquet { encoder, .. } = self {
            encoder.compact();
        }
    }

    /// Bytes [`ObjectEncoder::compact`] would encode (0 for record objects).
    #[must_use]
    pub fn compactable_bytes(&self) -> usize {
        match self {
            ObjectEncoder::Records(_) => 0,
            ObjectEncoder::Parquet { encoder, .. } => encoder.compactable_bytes(),
        }
    }

    /// Records (Parquet rows) in the object so far.
    #[must_use]
    pub fn record_count(&self) -> usize {
        match self {
            ObjectEncoder::Records(encoder) => encoder.record_count(),
            ObjectEncoder::Parquet { encoder, .. } => encoder.record_count(),
        }
    }

    /// Uncompressed input accepted so far (records plus delimiters for NDJSON), the size
    /// Firehose's buffering hints count.
    #[must_use]
    pub fn input_bytes(&self) -> usize {
        match self {
            ObjectEncoder::Records(encoder) => encoder.input_bytes(),
            ObjectEncoder::Parquet { input_bytes, .. } => *input_bytes,
        }
    }

    /// Bytes of memory the open object holds (for Parquet: buffered rows plus encoded output;
    /// for records: the compressed output so far).
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        match self {
            ObjectEncoder::Records(encoder) => encoder.buffered_bytes(),
            ObjectEncoder::Parquet { encoder, .. } => encoder.buffered_bytes(),
        }
    }

    /// Completes the object and returns its bytes.
    ///
    /// # Errors
    /// A [`ParquetEncodeError`] if the Parquet writer fails (not expected for in-memory output).
    pub fn finish(self) -> Result<Vec<u8>, ParquetEncodeError> {
        match self {
            ObjectEncoder::Records(encoder) => Ok((*encoder).finish()),
            ObjectEncoder::Parquet { encoder, .. } => encoder.finish(),
        }
    }
}
