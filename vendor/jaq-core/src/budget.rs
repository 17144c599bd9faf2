//! kinesink patch: a deterministic evaluation budget, per thread.
//!
//! [`metered`] runs a closure (typically: run a filter and consume its outputs) with
//! [`Limits`]. While it runs, every filter-node evaluation and every output of a call, a native
//! filter or `..` costs one step; nested evaluations (calls, and the lazy `next` of their
//! outputs) count towards the depth; values made by calls, natives and arithmetic cost their
//! size ([`crate::ValT::budget_size`]). Once a limit is passed, the budget stays exhausted
//! until [`metered`] returns: evaluations fail at once with an error and call outputs end,
//! so the evaluation unwinds quickly, and [`metered`] reports which limit was passed (the
//! caller must then ignore whatever the filter output, since errors may have been caught by
//! `try`). Nothing depends on the clock: the same filter on the same input makes the same
//! decision every time. Outside [`metered`] nothing is counted.

use core::cell::Cell;

/// The limits of one [`metered`] evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Filter-node evaluations plus outputs of calls, natives and `..`.
    pub steps: u64,
    /// Nested evaluations (calls and the outputs being computed inside them).
    pub depth: u32,
    /// Total size of the values made: bytes of strings, elements of arrays and objects.
    pub size: u64,
}

/// The limit an evaluation passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// [`Limits::steps`].
    Steps,
    /// [`Limits::depth`].
    Depth,
    /// [`Limits::size`].
    Size,
}

struct State {
    active: Cell<bool>,
    steps_left: Cell<u64>,
    size_left: Cell<u64>,
    depth: Cell<u32>,
    max_depth: Cell<u32>,
    exceeded: Cell<Option<Exceeded>>,
}

std::thread_local! {
    static STATE: State = const {
        State {
            active: Cell::new(false),
            steps_left: Cell::new(0),
            size_left: Cell::new(0),
            depth: Cell::new(0),
            max_depth: Cell::new(0),
            exceeded: Cell::new(None),
        }
    };
}

/// Restores the enclosing budget (or none) when [`metered`] ends, also by a panic.
struct Restore {
    saved: (bool, u64, u64, u32, u32, Option<Exceeded>),
}

impl Drop for Restore {
    fn drop(&mut self) {
        let (active, steps, size, depth, max_depth, exceeded) = self.saved;
        STATE.with(|s| {
            s.active.set(active);
            s.steps_left.set(steps);
            s.size_left.set(size);
            s.depth.set(depth);
            s.max_depth.set(max_depth);
            s.exceeded.set(exceeded);
        });
    }
}

/// Runs `f` with the budget `limits` on this thread; returns its result and the limit that
/// was passed, if any (then `f`'s result must not be trusted: see the module documentation).
pub fn metered<R>(limits: Limits, f: impl FnOnce() -> R) -> (R, Option<Exceeded>) {
    let _restore = STATE.with(|s| {
        let saved = (
            s.active.replace(true),
            s.steps_left.replace(limits.steps),
            s.size_left.replace(limits.size),
            s.depth.replace(0),
            s.max_depth.replace(limits.depth),
            s.exceeded.replace(None),
        );
        Restore { saved }
    });
    let out = f();
    (out, STATE.with(|s| s.exceeded.get()))
}

fn exceed(s: &State, limit: Exceeded) {
    if s.exceeded.get().is_none() {
        s.exceeded.set(Some(limit));
    }
}

/// `true` while a [`metered`] evaluation on this thread has passed a limit.
pub fn is_exhausted() -> bool {
    STATE.with(|s| s.exceeded.get().is_some())
}

/// Charges one step; `false` when the budget is (now) exhausted.
pub fn step() -> bool {
    STATE.with(|s| {
        if !s.active.get() {
            return true;
        }
        if s.exceeded.get().is_some() {
            return false;
        }
        match s.steps_left.get().checked_sub(1) {
            Some(left) => {
                s.steps_left.set(left);
                true
            }
            None => {
                exceed(s, Exceeded::Steps);
                false
            }
        }
    })
}

/// Charges `size` (bytes or elements about to be made); `false` when the budget is (now)
/// exhausted. Call it before making a value whose size is not linear in its inputs.
pub fn charge_size(size: usize) -> bool {
    STATE.with(|s| {
        if !s.active.get() {
            return true;
        }
        if s.exceeded.get().is_some() {
            return false;
        }
        match s.size_left.get().checked_sub(size as u64) {
            Some(left) => {
                s.size_left.set(left);
                true
            }
            None => {
                exceed(s, Exceeded::Size);
                false
            }
        }
    })
}

/// One level of nesting, left when dropped.
pub struct Nested(());

impl Drop for Nested {
    fn drop(&mut self) {
        STATE.with(|s| {
            if s.active.get() {
                s.depth.set(s.depth.get().saturating_sub(1));
            }
        });
    }
}

/// Charges a step and enters one level of nesting (for recursive natives, such as a parser);
/// `None` when the budget is (now) exhausted.
pub fn enter() -> Option<Nested> {
    if !step() {
        return None;
    }
    STATE.with(|s| {
        if !s.active.get() {
            return Some(Nested(()));
        }
        let depth = s.depth.get() + 1;
        if depth > s.max_depth.get() {
            exceed(s, Exceeded::Depth);
            return None;
        }
        s.depth.set(depth);
        Some(Nested(()))
    })
}

/// The outputs of a call, a native filter or `..`: each output costs a step and its size (the
/// function), and is computed one level deeper; once the budget is exhausted, the outputs end.
pub(crate) struct Metered<I: Iterator>(pub(crate) I, pub(crate) fn(&I::Item) -> usize);

impl<I: Iterator> Iterator for Metered<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<Self::Item> {
        let nested = enter()?;
        let y = self.0.next();
        drop(nested);
        match &y {
            Some(y) if !charge_size((self.1)(y)) => None,
            _ => y,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.0.size_hint().1)
    }
}
