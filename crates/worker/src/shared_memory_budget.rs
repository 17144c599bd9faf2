//! The worker's memory budget shared by its shard tasks: the pure [`MemoryBudget`] ledger behind
//! a mutex, and a watch channel that wakes every shard task when the verdicts may have changed.

use std::sync::Mutex;

use kinesink_delivery::{BudgetVerdict, MemoryBudget, ShardUsage};
use tokio::sync::watch;

/// One budget for all buffers of a worker.
///
/// Guarantees: a report that changes a shard's usage while the total is (or was) over the limit
/// wakes every subscriber, so waiting shards re-read their verdict when the flushing shard's
/// bytes are released; a report that changes nothing wakes no one (no busy loop).
#[derive(Debug)]
pub struct SharedMemoryBudget {
    ledger: Mutex<MemoryBudget>,
    changes: watch::Sender<u64>,
}

impl SharedMemoryBudget {
    /// A budget of `limit_bytes` for all shards of the worker.
    #[must_use]
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            ledger: Mutex::new(MemoryBudget::new(limit_bytes)),
            changes: watch::channel(0).0,
        }
    }

    /// A receiver that changes whenever verdicts may have changed.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Records `shard_id`'s usage and returns its verdict.
    pub fn report(&self, shard_id: &str, usage: ShardUsage) -> BudgetVerdict {
        let (verdict, wake, total) = {
            let mut ledger = self
                .ledger
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let was_over = ledger.is_over();
            let before = ledger.total_bytes();
            ledger.report(shard_id, usage);
            let total = ledger.total_bytes();
            (
                ledger.verdict(shard_id),
                total != before && (was_over || ledger.is_over()),
                total,
            )
        };
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(kinesink_metric_names::BUFFERED_BYTES).set(total as f64);
        if wake {
            self.changes
                .send_modify(|generation| *generation = generation.wrapping_add(1));
        }
        verdict
    }

    /// Forgets `shard_id` (its task ended) and wakes the others.
    pub fn remove(&self, shard_id: &str) {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(shard_id);
        self.changes
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Bytes buffered by all shards now.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .total_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(buffered_bytes: usize) -> ShardUsage {
        ShardUsage {
            buffered_bytes,
            can_flush: true,
            compactable_bytes: 0,
        }
    }

    #[test]
    fn reports_over_the_limit_wake_subscribers_and_repeated_reports_do_not() {
        let budget = SharedMemoryBudget::new(100);
        let mut changes = budget.subscribe();
        assert_eq!(budget.report("a", usage(50)), BudgetVerdict::Proceed);
        assert!(
            !changes.has_changed().unwrap(),
            "under the limit nobody needs waking"
        );
        assert_eq!(budget.report("b", usage(80)), BudgetVerdict::Flush);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert_eq!(budget.report("a", usage(50)), BudgetVerdict::Wait);
        assert!(
            !changes.has_changed().unwrap(),
            "an unchanged report wakes no one"
        );
        assert_eq!(budget.report("b", usage(0)), BudgetVerdict::Proceed);
        assert!(
            changes.has_changed().unwrap(),
            "the flush releases the waiting shard"
        );
        assert_eq!(budget.report("a", usage(50)), BudgetVerdict::Proceed);
        budget.remove("a");
        assert_eq!(budget.total_bytes(), 0);
    }
}
