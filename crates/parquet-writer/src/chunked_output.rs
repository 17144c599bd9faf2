//! An in-memory output that grows by chunks instead of by doubling one buffer.

use std::io::{self, Write};

/// Size of the first chunk: a small object (one of thousands of open partitions) holds little.
const FIRST_CHUNK_BYTES: usize = 4 << 10;

/// Largest chunk: each chunk is twice the one before, up to this; an output never holds more
/// than this many bytes it has not filled.
pub(crate) const MAX_CHUNK_BYTES: usize = 64 << 10;

/// Bytes written to memory, kept as a list of chunks.
///
/// Why: an open Parquet object keeps its compressed row groups until it is cut. In one `Vec`
/// that doubles as it grows, up to half the memory held was capacity never written (a dry run
/// of 414 MB into 160 open objects held 138 MB of output in ~200 MiB). Here the unwritten part
/// is at most [`MAX_CHUNK_BYTES`] (or the size written so far, for small outputs).
///
/// Guarantees: [`ChunkedOutput::into_vec`] returns exactly the bytes written, in order;
/// [`ChunkedOutput::allocated_bytes`] counts every byte of memory the chunks hold.
#[derive(Debug, Default)]
pub(crate) struct ChunkedOutput {
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl ChunkedOutput {
    /// Bytes of memory held (chunk capacities and the list of chunks).
    #[must_use]
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<u8>>()
    }

    /// The bytes written, in one buffer of exactly their size.
    #[must_use]
    pub(crate) fn into_vec(self) -> Vec<u8> {
        if self.chunks.len() == 1 {
            return self.chunks.into_iter().next().expect("one chunk");
        }
        let mut out = Vec::with_capacity(self.len);
        for chunk in self.chunks {
            out.extend_from_slice(&chunk);
        }
        out
    }
}

impl Write for ChunkedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let room = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
            if room == 0 {
                let next = self.chunks.last().map_or(FIRST_CHUNK_BYTES, |c| {
                    (c.capacity() * 2).min(MAX_CHUNK_BYTES)
                });
                self.chunks.push(Vec::with_capacity(next));
                continue;
            }
            let n = room.min(rest.len());
            let chunk = self.chunks.last_mut().expect("a chunk with room");
            chunk.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_bytes_come_back_in_order_and_little_memory_is_left_unwritten(
            writes in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40_000), 0..40)
        ) {
            let mut out = ChunkedOutput::default();
            let mut expected = Vec::new();
            for w in &writes {
                out.write_all(w).unwrap();
                expected.extend_from_slice(w);
            }
            prop_assert_eq!(out.len, expected.len());
            let chunks: usize = out.chunks.iter().map(Vec::capacity).sum();
            let unwritten = chunks - expected.len();
            prop_assert!(
                unwritten <= MAX_CHUNK_BYTES.min(expected.len() + FIRST_CHUNK_BYTES),
                "{} bytes written, {} allocated", expected.len(), chunks
            );
            prop_assert_eq!(out.into_vec(), expected);
        }
    }
}
