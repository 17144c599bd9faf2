//! The order of commits when records are routed to several tables, as a pure value: a shard's
//! flush point goes to the default table (the checkpoint table) only once every routed table
//! that got files of it acknowledged it, and a shard's flush points go there in shard order.
//!
//! Why: the default table's position `P` for a shard is where the shard resumes. For that to
//! lose nothing, every routed table must hold the shard's records up to `P` that were routed
//! to it; so the default table's commit of a flush point comes after the routed tables'
//! commits of it. A routed table may then be ahead of `P` (a crash between the two): on
//! resume its protocol drops the files at or below its own position (the commit protocol's
//! drop rule), so nothing is added twice. No clock, no I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kinesink_sequence_position::SequencePosition;

/// A flush point of a shard whose routed tables all acknowledged it: hand it to the default
/// table with `payload` (the default table's own files of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<F> {
    /// The shard.
    pub shard: String,
    /// The flush point.
    pub up_to: SequencePosition,
    /// What came with it ([`CheckpointOrder::flush_point`]).
    pub payload: F,
}

#[derive(Debug, Clone)]
struct Pending<F> {
    up_to: SequencePosition,
    waiting: BTreeSet<String>,
    payload: F,
}

/// Flush points waiting for their routed tables, by shard.
///
/// Guarantees: a flush point is released exactly once, after every table it waited for
/// acknowledged it (or a later flush point of the shard), and only after every earlier flush
/// point of its shard was released; nothing of a forgotten shard is released.
#[derive(Debug, Clone)]
pub struct CheckpointOrder<F> {
    shards: BTreeMap<String, VecDeque<Pending<F>>>,
}

impl<F> Default for CheckpointOrder<F> {
    fn default() -> Self {
        Self {
            shards: BTreeMap::new(),
        }
    }
}

impl<F> CheckpointOrder<F> {
    /// No flush point waiting.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Flush point `up_to` of `shard` (after its earlier ones) is durable; the routed tables in
    /// `waiting` got files of it and must acknowledge it first. Returns what is released now
    /// (this flush point when it waits for nothing and nothing waits before it).
    pub fn flush_point(
        &mut self,
        shard: &str,
        up_to: SequencePosition,
        waiting: BTreeSet<String>,
        payload: F,
    ) -> Vec<Released<F>> {
        self.shards
            .entry(shard.to_owned())
            .or_default()
            .push_back(Pending {
                up_to,
                waiting,
                payload,
            });
        self.release(shard)
    }

    /// Table `table` holds `shard` up to `up_to`: it no longer holds back that flush point
    /// nor any earlier one. Returns what is released now, in shard order.
    pub fn acknowledged(
        &mut self,
        table: &str,
        shard: &str,
        up_to: &SequencePosition,
    ) -> Vec<Released<F>> {
        if let Some(pending) = self.shards.get_mut(shard) {
            for p in pending.iter_mut().filter(|p| p.up_to <= *up_to) {
                p.waiting.remove(table);
            }
        }
        self.release(shard)
    }

    /// Drops every flush point of `shard` (released, stopped, or taken again).
    pub fn forget(&mut self, shard: &str) {
        self.shards.remove(shard);
    }

    /// The shards with a flush point waiting for `table`.
    #[must_use]
    pub fn waiting_for(&self, table: &str) -> Vec<String> {
        self.shards
            .iter()
            .filter(|(_, pending)| pending.iter().any(|p| p.waiting.contains(table)))
            .map(|(shard, _)| shard.clone())
            .collect()
    }

    /// Flush points waiting, over every shard.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.values().map(VecDeque::len).sum()
    }

    /// Whether no flush point is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn release(&mut self, shard: &str) -> Vec<Released<F>> {
        let mut released = Vec::new();
        let Some(pending) = self.shards.get_mut(shard) else {
            return released;
        };
        while pending.front().is_some_and(|p| p.waiting.is_empty()) {
            let Some(p) = pending.pop_front() else { break };
            released.push(Released {
                shard: shard.to_owned(),
                up_to: p.up_to,
                payload: p.payload,
            });
        }
        if pending.is_empty() {
            self.shards.remove(shard);
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(seq: u64) -> SequencePosition {
        SequencePosition::new(seq.to_string(), 0)
    }

    fn tables(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn points(
        released: &[Released<&'static str>],
    ) -> Vec<(String, SequencePosition, &'static str)> {
        released
            .iter()
            .map(|r| (r.shard.clone(), r.up_to.clone(), r.payload))
            .collect()
    }

    #[test]
    fn a_flush_point_without_routed_files_is_released_at_once() {
        let mut order = CheckpointOrder::new();
        let released = order.flush_point("s1", pos(10), tables(&[]), "default files");
        assert_eq!(points(&released), [("s1".into(), pos(10), "default files")]);
        assert!(order.is_empty());
    }

    #[test]
    fn a_flush_point_waits_for_every_routed_table_that_got_its_files() {
        let mut order = CheckpointOrder::new();
        assert!(
            order
                .flush_point("s1", pos(10), tables(&["a", "b"]), "x")
                .is_empty()
        );
        assert!(order.acknowledged("a", "s1", &pos(10)).is_empty());
        assert_eq!(order.waiting_for("b"), ["s1"]);
        assert!(order.waiting_for("a").is_empty());
        let released = order.acknowledged("b", "s1", &pos(10));
        assert_eq!(points(&released), [("s1".into(), pos(10), "x")]);
        assert!(order.is_empty());
    }

    #[test]
    fn a_later_flush_point_never_overtakes_an_earlier_one_of_its_shard() {
        let mut order = CheckpointOrder::new();
        assert!(
            order
                .flush_point("s1", pos(10), tables(&["a"]), "first")
                .is_empty()
        );
        // Nothing routed in the second, but the first still waits.
        assert!(
            order
                .flush_point("s1", pos(20), tables(&[]), "second")
                .is_empty()
        );
        // Another shard is not held back.
        let other = order.flush_point("s2", pos(5), tables(&[]), "other");
        assert_eq!(points(&other), [("s2".into(), pos(5), "other")]);
        let released = order.acknowledged("a", "s1", &pos(10));
        assert_eq!(
            points(&released),
            [
                ("s1".into(), pos(10), "first"),
                ("s1".into(), pos(20), "second")
            ]
        );
    }

    #[test]
    fn an_acknowledgement_covers_the_earlier_flush_points_of_the_table() {
        let mut order = CheckpointOrder::new();
        assert!(
            order
                .flush_point("s1", pos(10), tables(&["a"]), "1")
                .is_empty()
        );
        assert!(
            order
                .flush_point("s1", pos(20), tables(&["a"]), "2")
                .is_empty()
        );
        assert!(
            order
                .flush_point("s1", pos(30), tables(&["a"]), "3")
                .is_empty()
        );
        let released = order.acknowledged("a", "s1", &pos(20));
        assert_eq!(
            points(&released),
            [("s1".into(), pos(10), "1"), ("s1".into(), pos(20), "2")]
        );
        assert_eq!(order.len(), 1);
    }

    #[test]
    fn nothing_of_a_forgotten_shard_is_released() {
        let mut order = CheckpointOrder::new();
        assert!(
            order
                .flush_point("s1", pos(10), tables(&["a"]), "x")
                .is_empty()
        );
        order.forget("s1");
        assert!(order.acknowledged("a", "s1", &pos(10)).is_empty());
        assert!(order.is_empty());
    }

    #[test]
    fn an_acknowledgement_of_another_shard_or_table_releases_nothing() {
        let mut order = CheckpointOrder::new();
        assert!(
            order
                .flush_point("s1", pos(10), tables(&["a"]), "x")
                .is_empty()
        );
        assert!(order.acknowledged("a", "s2", &pos(10)).is_empty());
        assert!(order.acknowledged("b", "s1", &pos(10)).is_empty());
        assert!(order.acknowledged("a", "s1", &pos(9)).is_empty());
        assert_eq!(order.len(), 1);
    }
}
