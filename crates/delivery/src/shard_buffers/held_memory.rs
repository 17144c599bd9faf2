//! What the open buffers hold in memory, and compacting it: what the worker's memory budget
//! reads and asks for, and the shard's own bound on Parquet rows not yet encoded.

use super::ShardBuffers;
use crate::memory_budget::ShardUsage;

/// Most bytes of Parquet rows not yet encoded (column builders, uncompressed) that one shard's
/// open buffers hold together. Past it, the buffers holding the most are encoded into
/// compressed row groups of the objects they belong to until half of it is left. Without it, a
/// shard with many partitions none of which reaches a row group (160 partitions of 2.6 MB
/// each) held every record uncompressed until the cut: 780 MiB of memory for 571 MB of input.
pub const UNENCODED_ROWS_LIMIT: usize = 32 << 20;

/// The bound is checked each time this many bytes were appended (summing the buffers' sizes
/// walks every open buffer's columns).
const BOUND_CHECK_BYTES: usize = 1 << 20;

impl ShardBuffers {
    /// Bytes of memory the open buffers hold (compressed output so far, plus Parquet rows not
    /// yet encoded): what the worker's memory budget counts.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.open.values().map(|b| b.encoder.buffered_bytes()).sum()
    }

    /// What these buffers report to a memory budget, with `also_held` bytes the shard holds
    /// for them elsewhere (records waiting in the Lambda stage are held in memory as much as
    /// buffered ones).
    #[must_use]
    pub fn usage(&self, also_held: usize) -> ShardUsage {
        ShardUsage {
            buffered_bytes: self.held_bytes() + also_held,
            can_flush: !self.replaying_intent(),
            compactable_bytes: self.compactable_bytes(),
        }
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

    /// These buffers with another bound on Parquet rows not yet encoded than
    /// [`UNENCODED_ROWS_LIMIT`] (at least 1 byte).
    #[must_use]
    pub fn with_unencoded_rows_limit(mut self, bytes: usize) -> Self {
        self.unencoded_rows_limit = bytes.max(1);
        self
    }

    /// Counts `appended` bytes and, every [`BOUND_CHECK_BYTES`], keeps the Parquet rows not yet
    /// encoded within the shard's limit: when they hold more, the buffers holding most are
    /// compacted (ties in partition order) until at most half the limit is left. Deterministic:
    /// which buffers are compacted at which record depends only on the records since every
    /// buffer was last empty (a flush point), so a replay from a checkpoint compacts the same
    /// buffers at the same records and writes the same bytes.
    pub(super) fn bound_unencoded_rows(&mut self, appended: usize) {
        self.appended_since_bound += appended;
        if self.appended_since_bound < BOUND_CHECK_BYTES {
            return;
        }
        self.appended_since_bound = 0;
        let mut held: Vec<_> = self
            .open
            .iter_mut()
            .map(|(id, b)| (b.encoder.compactable_bytes(), id, b))
            .filter(|(bytes, _, _)| *bytes > 0)
            .collect();
        let mut left: usize = held.iter().map(|(bytes, _, _)| bytes).sum();
        if left <= self.unencoded_rows_limit {
            return;
        }
        held.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        for (bytes, _, buffer) in held {
            if left <= self.unencoded_rows_limit / 2 {
                break;
            }
            buffer.encoder.compact();
            left -= bytes;
        }
    }
}
