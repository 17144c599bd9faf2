//! The budget of one record's jq evaluation: evaluation steps, nesting depth and size of the
//! values made, all counted (never timed), so a replay of the same records makes the same
//! decisions. The counting is done by kinesink's patch of jaq-core (`vendor/README.md`).
//!
//! Every evaluation runs on a separate stack of [`EVALUATION_STACK_BYTES`] (one per thread,
//! allocated once and reused): the depth limit bounds nested evaluations, and the step and
//! size limits bound how deep a value can be built, so that whatever the query and record,
//! the evaluation, and the dropping of its values, fit on that stack.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use corosensei::stack::DefaultStack;
use jaq_core::budget::{Exceeded, Limits, metered};

/// The limits of one record's evaluation.
///
/// Guarantees: an evaluation within these limits runs to its end; one that passes a limit is
/// stopped soon after (within one step of work, or one write of at most the size left), and
/// the same query on the same record is stopped by the same limit every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryBudget {
    /// Filter evaluations plus outputs of calls and native filters (`range`, `repeat`, ...).
    pub steps: u64,
    /// Nested evaluations: recursion of definitions, and nesting of values parsed by `fromjson`.
    pub depth: u32,
    /// Total size of the values made: bytes of strings (also those written by `tostring`),
    /// elements of arrays and objects.
    pub size: u64,
}

impl QueryBudget {
    /// The budget of a partition query: generous for extracting keys from a record of up to
    /// 1 MiB (a query visiting every element of a record's arrays stays well within it), and
    /// at most a fraction of a second of work for a record that passes it.
    pub const DEFAULT: Self = Self {
        steps: 2_000_000,
        depth: 2_000,
        size: 64 * 1024 * 1024,
    };
}

impl Default for QueryBudget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which limit of a [`QueryBudget`] an evaluation passed, with the limit's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetLimit {
    /// [`QueryBudget::steps`].
    Steps(u64),
    /// [`QueryBudget::depth`].
    Depth(u32),
    /// [`QueryBudget::size`].
    Size(u64),
}

impl std::fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Steps(n) => write!(f, "it took more than {n} evaluation steps"),
            Self::Depth(n) => write!(f, "it nested deeper than {n} evaluations"),
            Self::Size(n) => write!(
                f,
                "the values it made passed {n} bytes or elements in total"
            ),
        }
    }
}

/// How a bounded evaluation ended, when it did not return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// A limit was passed.
    Budget(BudgetLimit),
    /// The evaluation panicked (a bug in jaq or here); the message.
    Panicked(String),
}

/// Size of the stack evaluations run on (address space; pages are used only as touched).
pub const EVALUATION_STACK_BYTES: usize = 256 * 1024 * 1024;

thread_local! {
    static EVALUATION_STACK: RefCell<Option<DefaultStack>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's evaluation stack (allocated at the first call, then reused; a
/// nested call, which never happens today, gets a stack of its own). A panic in `f` propagates.
///
/// # Errors
/// The stack cannot be allocated (address space exhausted).
pub(crate) fn on_evaluation_stack<R>(f: impl FnOnce() -> R) -> std::io::Result<R> {
    let stack = EVALUATION_STACK.with(|s| s.borrow_mut().take());
    let mut stack = match stack {
        Some(stack) => stack,
        None => DefaultStack::new(EVALUATION_STACK_BYTES)?,
    };
    let outcome = corosensei::on_stack(&mut stack, f);
    EVALUATION_STACK.with(|s| *s.borrow_mut() = Some(stack));
    Ok(outcome)
}

/// Runs `f` (a jaq evaluation, values dropped inside) within `budget`, on the evaluation
/// stack, catching panics.
pub(crate) fn run_bounded<R>(budget: QueryBudget, f: impl FnOnce() -> R) -> Result<R, Stopped> {
    let limits = Limits {
        steps: budget.steps,
        depth: budget.depth,
        size: budget.size,
    };
    // A panic is caught inside the metered evaluation, so that a limit passed before it (a
    // write stopped by the budget, for instance) is still reported as that limit.
    let bounded = move || {
        let (outcome, exceeded) = metered(limits, || catch_unwind(AssertUnwindSafe(f)));
        let outcome = outcome.map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned())
        });
        (outcome, exceeded)
    };
    let outcome = match on_evaluation_stack(bounded) {
        Ok(outcome) => outcome,
        Err(e) => return Err(Stopped::Panicked(format!("no evaluation stack: {e}"))),
    };
    match outcome {
        (_, Some(exceeded)) => Err(Stopped::Budget(match exceeded {
            Exceeded::Steps => BudgetLimit::Steps(budget.steps),
            Exceeded::Depth => BudgetLimit::Depth(budget.depth),
            Exceeded::Size => BudgetLimit::Size(budget.size),
        })),
        (Ok(out), None) => Ok(out),
        (Err(message), None) => Err(Stopped::Panicked(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_an_evaluation_is_caught_and_the_thread_can_evaluate_again() {
        let outcome: Result<(), Stopped> =
            run_bounded(QueryBudget::DEFAULT, || panic!("a bug in the evaluator"));
        assert_eq!(
            outcome,
            Err(Stopped::Panicked("a bug in the evaluator".to_owned()))
        );
        assert_eq!(run_bounded(QueryBudget::DEFAULT, || 7), Ok(7));
    }
}
