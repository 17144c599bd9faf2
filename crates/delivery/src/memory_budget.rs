//! The global memory budget: one bound on the bytes buffered by all shards of a worker.
//!
//! A pure ledger. Every shard reports how many bytes its open buffers hold and whether it may
//! flush now; [`MemoryBudget::verdict`] tells each shard what to do while the total is over the
//! limit:
//! - a shard whose bytes are mostly rows not yet encoded (Parquet keeps them uncompressed until
//!   a row group is written) is told to [`BudgetVerdict::Compact`]: encode them into compressed
//!   row groups of the objects it will write anyway. Its objects keep the same records (only
//!   their row-group layout changes), so this needs no flush and makes no extra object: memory
//!   pressure then costs bigger objects less often instead of many small ones;
//! - the largest flushable shards are told to [`BudgetVerdict::Flush`] — as many as needed to
//!   bring the total down to half the limit, so one flush is not immediately followed by the next;
//! - a shard that may not flush yet (it is replaying an earlier owner's recorded flush point,
//!   which it can only reach by reading on) is told to [`BudgetVerdict::Proceed`];
//! - every other shard is told to [`BudgetVerdict::Wait`]: stop reading until the total is back
//!   under the limit. Records are never dropped and nothing crashes: waiting readers leave their
//!   records in the stream.
//!
//! Why whole shards: a shard's flush is the unit the exactly-once protocol can reproduce (a
//! fenced flush intent, then every buffer of the shard cut at that record, see
//! [`crate::ShardBuffers`]), so memory pressure flushes the shards holding most bytes.
//!
//! No deadlock: whenever the total is over the limit, some shard with buffered bytes is told to
//! compact, flush or proceed (a flushable shard with bytes is in the flush set before any shard
//! waits); a compacted shard has no compactable bytes left, so it is not told to compact again
//! until it has buffered new rows.

use std::collections::BTreeMap;

/// What a shard reports to the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardUsage {
    /// Bytes held by the shard's open buffers.
    pub buffered_bytes: usize,
    /// Whether the shard can start a flush now (false while it replays an earlier owner's
    /// recorded flush point).
    pub can_flush: bool,
    /// Of `buffered_bytes`, those held as rows not yet encoded, which
    /// [`BudgetVerdict::Compact`] would shrink.
    pub compactable_bytes: usize,
}

/// What a shard should do, from [`MemoryBudget::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetVerdict {
    /// Read and buffer as usual.
    Proceed,
    /// Encode the rows buffered so far into compressed row groups (no object is cut), then
    /// report again.
    Compact,
    /// Flush every buffer of the shard now, then read on.
    Flush,
    /// Do not read until the budget says otherwise (buffers, ticks and shutdown go on).
    Wait,
}

/// The ledger of buffered bytes per shard, against one limit.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    limit_bytes: usize,
    shards: BTreeMap<String, ShardUsage>,
}

impl MemoryBudget {
    /// A budget of `limit_bytes` (at least 1) for all shards together.
    #[must_use]
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            limit_bytes: limit_bytes.max(1),
            shards: BTreeMap::new(),
        }
    }

    /// Records `shard_id`'s current usage (replacing its previous report).
    pub fn report(&mut self, shard_id: &str, usage: ShardUsage) {
        match self.shards.get_mut(shard_id) {
            Some(known) => *known = usage,
            None => {
                self.shards.insert(shard_id.to_owned(), usage);
            }
        }
    }

    /// Forgets `shard_id` (its task ended).
    pub fn remove(&mut self, shard_id: &str) {
        self.shards.remove(shard_id);
    }

    /// Bytes buffered by all shards.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.shards.values().map(|u| u.buffered_bytes).sum()
    }

    /// Whether the total is over the limit.
    #[must_use]
    pub fn is_over(&self) -> bool {
        self.total_bytes() > self.limit_bytes
    }

    /// What `shard_id` should do now. [`BudgetVerdict::Proceed`] whenever the total is within
    /// the limit, and for shards the budget does not know.
    #[must_use]
    pub fn verdict(&self, shard_id: &str) -> BudgetVerdict {
        let Some(usage) = self.shards.get(shard_id) else {
            return BudgetVerdict::Proceed;
        };
        let total = self.total_bytes();
        if total <= self.limit_bytes {
            return BudgetVerdict::Proceed;
        }
        if usage.compactable_bytes > 0 && usage.compactable_bytes * 2 >= usage.buffered_bytes {
            return BudgetVerdict::Compact;
        }
        if !usage.can_flush {
            return BudgetVerdict::Proceed;
        }
        if self.flush_set(total).contains(&shard_id) {
            BudgetVerdict::Flush
        } else {
            BudgetVerdict::Wait
        }
    }

    /// The largest flushable shards (ties broken by shard id) whose flush brings `total` down to
    /// half the limit, or all flushable shards with bytes if that is not enough.
    fn flush_set(&self, total: usize) -> Vec<&str> {
        let mut candidates: Vec<(&str, usize)> = self
            .shards
            .iter()
            .filter(|(_, u)| u.can_flush && u.buffered_bytes > 0)
            .map(|(id, u)| (id.as_str(), u.buffered_bytes))
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let target = self.limit_bytes / 2;
        let mut remaining = total;
        let mut chosen = Vec::new();
        for (id, bytes) in candidates {
            if remaining <= target {
                break;
            }
            chosen.push(id);
            remaining -= bytes;
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usage(buffered_bytes: usize) -> ShardUsage {
        ShardUsage {
            buffered_bytes,
            can_flush: true,
            compactable_bytes: 0,
        }
    }

    #[test]
    fn over_the_limit_a_shard_holding_mostly_unencoded_rows_compacts_before_anything_flushes() {
        let mut budget = MemoryBudget::new(100);
        let rows = |buffered_bytes, compactable_bytes| ShardUsage {
            buffered_bytes,
            can_flush: true,
            compactable_bytes,
        };
        budget.report("rows", rows(70, 60));
        budget.report("encoded", rows(40, 10));
        assert_eq!(budget.verdict("rows"), BudgetVerdict::Compact);
        assert_eq!(
            budget.verdict("encoded"),
            BudgetVerdict::Wait,
            "mostly encoded already: compacting would not help, the usual rules apply"
        );
        // Compacted: 60 bytes of rows became 6 of row groups; the total is within the limit.
        budget.report("rows", rows(16, 0));
        assert_eq!(budget.verdict("rows"), BudgetVerdict::Proceed);
        assert_eq!(budget.verdict("encoded"), BudgetVerdict::Proceed);
        // Still over after compacting: the largest flushes, as before.
        budget.report("rows", rows(90, 0));
        assert_eq!(budget.verdict("rows"), BudgetVerdict::Flush);
        // A shard replaying an earlier flush point may still compact (no object is cut).
        budget.report(
            "replaying",
            ShardUsage {
                buffered_bytes: 50,
                can_flush: false,
                compactable_bytes: 50,
            },
        );
        assert_eq!(budget.verdict("replaying"), BudgetVerdict::Compact);
    }

    #[test]
    fn within_the_limit_every_shard_proceeds() {
        let mut budget = MemoryBudget::new(100);
        budget.report("a", usage(60));
        budget.report("b", usage(40));
        assert_eq!(budget.verdict("a"), BudgetVerdict::Proceed);
        assert_eq!(budget.verdict("b"), BudgetVerdict::Proceed);
        assert!(!budget.is_over());
    }

    #[test]
    fn over_the_limit_the_largest_shard_flushes_and_the_others_wait() {
        let mut budget = MemoryBudget::new(100);
        budget.report("small", usage(20));
        budget.report("large", usage(70));
        budget.report("medium", usage(30));
        assert!(budget.is_over());
        assert_eq!(budget.verdict("large"), BudgetVerdict::Flush);
        assert_eq!(budget.verdict("medium"), BudgetVerdict::Wait);
        assert_eq!(budget.verdict("small"), BudgetVerdict::Wait);
    }

    #[test]
    fn enough_shards_flush_to_reach_half_the_limit() {
        let mut budget = MemoryBudget::new(100);
        for (id, bytes) in [("a", 40), ("b", 35), ("c", 30), ("d", 5)] {
            budget.report(id, usage(bytes));
        }
        // 110 in all: flushing a (40) leaves 70, b (35) leaves 35 <= 50.
        assert_eq!(budget.verdict("a"), BudgetVerdict::Flush);
        assert_eq!(budget.verdict("b"), BudgetVerdict::Flush);
        assert_eq!(budget.verdict("c"), BudgetVerdict::Wait);
        assert_eq!(budget.verdict("d"), BudgetVerdict::Wait);
    }

    #[test]
    fn a_shard_replaying_an_earlier_flush_point_proceeds_and_the_next_largest_flushes() {
        let mut budget = MemoryBudget::new(100);
        budget.report(
            "replaying",
            ShardUsage {
                buffered_bytes: 90,
                can_flush: false,
                compactable_bytes: 0,
            },
        );
        budget.report("other", usage(30));
        budget.report("idle", usage(0));
        assert_eq!(budget.verdict("replaying"), BudgetVerdict::Proceed);
        assert_eq!(budget.verdict("other"), BudgetVerdict::Flush);
        assert_eq!(budget.verdict("idle"), BudgetVerdict::Wait);
    }

    #[test]
    fn a_flushed_shard_releases_the_waiting_ones() {
        let mut budget = MemoryBudget::new(100);
        budget.report("a", usage(80));
        budget.report("b", usage(30));
        assert_eq!(budget.verdict("b"), BudgetVerdict::Wait);
        budget.report("a", usage(0));
        assert_eq!(budget.verdict("b"), BudgetVerdict::Proceed);
        budget.report("b", usage(101));
        budget.remove("b");
        assert_eq!(budget.total_bytes(), 0);
        assert_eq!(
            budget.verdict("b"),
            BudgetVerdict::Proceed,
            "unknown shards proceed"
        );
    }

    proptest! {
        /// Whenever the total is over the limit, some shard holding bytes can make progress
        /// (compact, flush or proceed), so waiting shards are always released eventually.
        #[test]
        fn over_the_limit_some_shard_with_bytes_flushes_or_proceeds(
            shards in proptest::collection::vec((0_usize..1_000, any::<bool>(), 0_usize..=100), 1..20),
            limit in 1_usize..5_000,
        ) {
            let mut budget = MemoryBudget::new(limit);
            for (index, (bytes, can_flush, rows_percent)) in shards.iter().enumerate() {
                budget.report(&format!("shard-{index:02}"), ShardUsage {
                    buffered_bytes: *bytes,
                    can_flush: *can_flush,
                    compactable_bytes: bytes * rows_percent / 100,
                });
            }
            if budget.is_over() {
                let verdicts: Vec<(usize, BudgetVerdict)> = shards
                    .iter()
                    .enumerate()
                    .map(|(index, (bytes, _, _))| (*bytes, budget.verdict(&format!("shard-{index:02}"))))
                    .collect();
                prop_assert!(verdicts.iter().any(|(bytes, v)| *bytes > 0 && *v != BudgetVerdict::Wait));
                // The shards told to flush hold at least as much as any shard told to wait.
                let smallest_flushed = verdicts.iter().filter(|(_, v)| *v == BudgetVerdict::Flush).map(|(b, _)| *b).min();
                let largest_waiting = verdicts.iter().filter(|(_, v)| *v == BudgetVerdict::Wait).map(|(b, _)| *b).max();
                if let (Some(flushed), Some(waiting)) = (smallest_flushed, largest_waiting) {
                    prop_assert!(flushed >= waiting);
                }
            } else {
                for index in 0..shards.len() {
                    prop_assert_eq!(budget.verdict(&format!("shard-{index:02}")), BudgetVerdict::Proceed);
                }
            }
        }
    }
}
