//! The checkpoint watermark: how far a shard may be checkpointed.

use std::collections::BTreeMap;

use crate::position::RecordPosition;

/// Tracks which records of one shard are durable and yields the position a checkpoint may move to.
///
/// Records get increasing ordinals in read order. An object (open buffer or upload in flight)
/// is registered by the ordinal of its first record together with the position of the record
/// read just before it. The safe checkpoint is the position just before the earliest record
/// not yet durable, or the last record read when everything read is durable.
///
/// Guarantees: [`CheckpointWatermark::safe_checkpoint`] never names a position at or after a
/// record whose object is not durable, and never moves backwards.
#[derive(Debug, Clone, Default)]
pub struct CheckpointWatermark {
    last_read: Option<RecordPosition>,
    pending: BTreeMap<u64, Option<RecordPosition>>,
    committed: Option<RecordPosition>,
}

impl CheckpointWatermark {
    /// A watermark resuming after `resumed_from` (the shard's stored checkpoint, if any).
    #[must_use]
    pub fn new(resumed_from: Option<RecordPosition>) -> Self {
        Self { last_read: resumed_from.clone(), pending: BTreeMap::new(), committed: resumed_from }
    }

    /// Registers an object whose first record has `first_ordinal`; call before [`Self::read`]
    /// for that record.
    pub fn open(&mut self, first_ordinal: u64) {
        self.pending.insert(first_ordinal, self.last_read.clone());
    }

    /// Notes that the record at `position` was read (and placed in some object).
    pub fn read(&mut self, position: RecordPosition) {
        self.last_read = Some(position);
    }

    /// Notes that the object whose first record has `first_ordinal` is durable.
    pub fn durable(&mut self, first_ordinal: u64) {
        self.pending.remove(&first_ordinal);
    }

    /// The furthest position all of whose records (and all before) are durable.
    #[must_use]
    pub fn safe_checkpoint(&self) -> Option<RecordPosition> {
        match self.pending.first_key_value() {
            Some((_, before)) => before.clone(),
            None => self.last_read.clone(),
        }
    }

    /// The safe checkpoint if it is past the last one written (see [`Self::written`]).
    #[must_use]
    pub fn advance(&self) -> Option<RecordPosition> {
        let safe = self.safe_checkpoint()?;
        if self.committed.as_ref().is_some_and(|c| *c >= safe) {
            return None;
        }
        Some(safe)
    }

    /// Notes that a checkpoint at `position` was stored.
    pub fn written(&mut self, position: RecordPosition) {
        if self.committed.as_ref().is_none_or(|c| *c < position) {
            self.committed = Some(position);
        }
    }

    /// Whether every record read is durable.
    #[must_use]
    pub fn all_durable(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(n: u64) -> RecordPosition {
        RecordPosition::new(n.to_string(), 0)
    }

    #[test]
    fn nothing_to_checkpoint_before_anything_is_read() {
        let w = CheckpointWatermark::new(None);
        assert_eq!(w.safe_checkpoint(), None);
        assert_eq!(w.advance(), None);
    }

    #[test]
    fn checkpoint_stays_before_the_earliest_object_that_is_not_durable() {
        let mut w = CheckpointWatermark::new(Some(pos(10)));
        // object A starts at ordinal 0 (record 11), object B at ordinal 1 (record 12)
        w.open(0);
        w.read(pos(11));
        w.open(1);
        w.read(pos(12));
        w.read(pos(13)); // into A or B, whichever: both pending
        assert_eq!(w.safe_checkpoint(), Some(pos(10)));
        assert_eq!(w.advance(), None, "the resumed checkpoint is not re-written");
        // B durable first: A still pins the checkpoint before record 11
        w.durable(1);
        assert_eq!(w.safe_checkpoint(), Some(pos(10)));
        w.durable(0);
        assert_eq!(w.advance(), Some(pos(13)));
        assert_eq!(w.advance(), Some(pos(13)), "offered again until written");
        w.written(pos(13));
        assert_eq!(w.advance(), None, "no move, no checkpoint write");
    }

    #[test]
    fn a_later_object_pins_the_checkpoint_just_before_its_first_record() {
        let mut w = CheckpointWatermark::new(None);
        w.open(0);
        w.read(pos(1));
        w.read(pos(2));
        w.durable(0);
        w.open(3);
        w.read(pos(3));
        assert_eq!(w.advance(), Some(pos(2)));
        w.written(pos(2));
        assert!(!w.all_durable());
    }
}
