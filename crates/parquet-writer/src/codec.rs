//! Compression codecs for record-oriented (non-Parquet) objects.

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
}

impl Codec {
    /// The file extension Firehose appends for this codec (empty for none).
    #[must_use]
    pub fn file_extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Zstd { .. } => ".zst",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::None => f.write_str("none"),
            Codec::Gzip => f.write_str("gzip"),
            Codec::Zstd { .. } => f.write_str("zstd"),
        }
    }
}

/// The error for a codec name that is not one of `none`, `gzip`, `zstd`.
#[derive(Debug, thiserror::Error)]
#[error("unknown compression `{0}`: expected one of none, gzip, zstd")]
pub struct UnknownCodec(pub String);

impl FromStr for Codec {
    type Err = UnknownCodec;

    /// Parses a codec name; zstd gets level 3 (set another with [`Codec::Zstd`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "uncompressed" => Ok(Codec::None),
            "gzip" => Ok(Codec::Gzip),
            "zstd" => Ok(Codec::Zstd { level: 3 }),
            other => Err(UnknownCodec(other.to_owned())),
        }
    }
}
