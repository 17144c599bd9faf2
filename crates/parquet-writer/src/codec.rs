//! Compression codecs for record-oriented (non-Parquet) objects.
//!
//! Guarantees: names and file extensions follow Firehose (`.gz`, `.zst`, `.snappy`).

use std::fmt;
use std::str::FromStr;

/// A compression codec for an NDJSON or raw object, with Firehose's file extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip (RFC 1952), Firehose's `GZIP`.
    Gzip,
    /// Zstandard frame at the given level (1..=22).
    Zstd {
        /// Compression level; 3 is zstd's default.
        level: i32,
    },
    /// Snappy in the framing format (stream identifier, CRC-32C-checked chunks), Firehose's
    /// `Snappy` S3 compression; not Hadoop's block format (`HADOOP_SNAPPY`).
    Snappy,
}

impl Codec {
    /// The file extension Firehose appends for this codec (empty for none).
    #[must_use]
    pub fn file_extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Zstd { .. } => ".zst",
            Codec::Snappy => ".snappy",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::None => f.write_str("none"),
            Codec::Gzip => f.write_str("gzip"),
            Codec::Zstd { .. } => f.write_str("zstd"),
            Codec::Snappy => f.write_str("snappy"),
        }
    }
}

/// The error for a codec name that is not one of `none`, `gzip`, `zstd`, `snappy`.
#[derive(Debug, thiserror::Error)]
#[error("unknown compression `{0}`: expected one of none, gzip, zstd, snappy")]
pub struct UnknownCodec(pub String);

impl FromStr for Codec {
    type Err = UnknownCodec;

    /// Parses a codec name; zstd gets level 3 (set another with [`Codec::Zstd`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "uncompressed" => Ok(Codec::None),
            "gzip" => Ok(Codec::Gzip),
            "zstd" => Ok(Codec::Zstd { level: 3 }),
            "snappy" => Ok(Codec::Snappy),
            other => Err(UnknownCodec(other.to_owned())),
        }
    }
}
