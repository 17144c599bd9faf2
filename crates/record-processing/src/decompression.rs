//! Firehose's Decompression processor: gzip, bounded.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Largest decompressed size of one record: 64 MiB. A Kinesis record holds at most 1 MiB, and
/// CloudWatch Logs compress their envelopes at most ~20:1 in practice; a record that would
/// decompress to more is refused (to the error output) rather than read into memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// What the Decompression processor does (`processing.decompression`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Decompression {
    /// Records pass unchanged.
    #[default]
    None,
    /// Each record is a gzip stream (one or more members), replaced by its decompressed bytes.
    Gzip,
}

/// Why a record did not decompress; its compressed bytes go to the error output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressionError {
    /// Not a gzip stream, or a corrupt or truncated one.
    #[error("not a valid gzip stream: {0}")]
    Invalid(String),
    /// It decompresses to more than the limit.
    #[error("decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl Decompression {
    /// The record's bytes after this processor, at most `limit` bytes (use
    /// [`MAX_DECOMPRESSED_BYTES`]). [`Decompression::None`] borrows nothing and copies nothing:
    /// it returns `None` (the caller keeps the bytes it has).
    ///
    /// # Errors
    /// [`DecompressionError`]: the bytes are not gzip, or decompress past `limit`.
    pub fn apply(self, data: &[u8], limit: usize) -> Result<Option<Vec<u8>>, DecompressionError> {
        match self {
            Decompression::None => Ok(None),
            Decompression::Gzip => gunzip(data, limit).map(Some),
        }
    }
}

fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressionError> {
    if data.len() < 2 || data[..2] != [0x1f, 0x8b] {
        return Err(DecompressionError::Invalid(
            "it does not start with the gzip magic bytes 1f 8b".into(),
        ));
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit));
    let read = MultiGzDecoder::new(data)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecompressionError::Invalid(e.to_string()))?;
    if read > limit {
        return Err(DecompressionError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_records_decompress_and_several_members_are_concatenated() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(
            Decompression::Gzip.apply(&two, 1024).unwrap().unwrap(),
            b"hello world"
        );
        assert_eq!(Decompression::None.apply(b"as is", 1024).unwrap(), None);
    }

    #[test]
    fn bytes_that_are_not_gzip_truncated_or_corrupt_are_refused() {
        assert!(matches!(
            Decompression::Gzip.apply(b"plain text", 1024),
            Err(DecompressionError::Invalid(m)) if m.contains("magic")
        ));
        let whole = gzip(b"some text that is long enough to truncate");
        assert!(
            Decompression::Gzip
                .apply(&whole[..whole.len() - 6], 1024)
                .is_err()
        );
        let mut corrupt = whole.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xFF;
        assert!(Decompression::Gzip.apply(&corrupt, 1024).is_err());
    }

    #[test]
    fn a_record_decompressing_past_the_limit_is_refused_without_reading_it_all() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20_000, "{} bytes", bomb.len());
        assert_eq!(
            Decompression::Gzip.apply(&bomb, 1024 * 1024),
            Err(DecompressionError::TooLarge { limit: 1024 * 1024 })
        );
        assert!(Decompression::Gzip.apply(&bomb, 10 * 1024 * 1024).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip_through_gzip(data in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            proptest::prop_assert_eq!(Decompression::Gzip.apply(&gzip(&data), 1 << 20).unwrap().unwrap(), data);
        }

        #[test]
        fn no_input_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Decompression::Gzip.apply(&data, 1 << 16);
        }
    }
}
