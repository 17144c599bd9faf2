//! What the open buffers hold in memory, and compacting it: what the worker's memory budget
//! reads and asks for.

use super::ShardBuffers;

impl ShardBuffers {
    /// Bytes of memory the open buffers hold (compressed output so far, plus Parquet rows not
    /// yet encoded): what the worker's memory budget counts.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.open.values().map(|b| b.encoder.buffered_bytes()).sum()
    }

    /// Of [`ShardBuffers::held_bytes`], the Parquet rows not yet encoded that
    /// [`ShardBuffers::compact`] would encode (partitions with enough rows for it to pay).
    #[must_use]
    pub fn compactable_bytes(&self) -> usize {
        self.open
            .values()
            .map(|b| b.encoder.compactable_bytes())
            .sum()
    }

    /// Encodes the rows of every open Parquet buffer into compressed row groups now (memory
    /// pressure). Guarantees: no object is cut and every object keeps exactly the records, in
    /// the order, it would have had (only its row-group layout changes), so the flush protocol
    /// and replays are unaffected; nothing to do for NDJSON and raw buffers.
    pub fn compact(&mut self) {
        for buffer in self.open.values_mut() {
            buffer.encoder.compact();
        }
    }
}
