//! Process-wide event counters, counted per thread and summed when read.
//!
//! A shared atomic would make every FFI call of every thread write one cache
//! line; instead each thread owns a block of cells that only it writes (plain
//! load + store, no read-modify-write), registered once in a global list.
//! Reading sums the live blocks plus what exited threads left behind.

use crate::sync::{OnceLock, StdArc};

use crate::sync::{LeafMutex, StatCell, StatOrdering};

/// The counted events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Calls into the native module.
    FfiCalls = 0,
    /// Times a native call re-attached to the interpreter to run Python code
    /// (predicate batches, callbacks) after detaching.
    GilReacquisitions,
    /// Predicate invocations (one per node, or one per batch when vectorized).
    PredicateCalls,
    /// Predicate batches handed to Python.
    PredicateBatches,
    /// Cached read views (a traversal's adjacency, a filter's attribute or
    /// id columns) built, or rebuilt for the shards written since: one per
    /// query that had to build any part of one.
    ViewsBuilt,
    /// Attribute reads (`a[name]`, `.get`, `in`) of a predicate's views
    /// served by value columns instead of the nodes' maps.
    ColumnReads,
}

/// Names, in `Counter` order, as `gli.counters()` reports them.
pub const NAMES: [&str; 6] = [
    "ffi_calls",
    "gil_reacquisitions",
    "predicate_calls",
    "predicate_batches",
    "views_built",
    "column_reads",
];
const N: usize = NAMES.len();

struct Block {
    cells: [StatCell; N],
}

struct Registry {
    live: Vec<StdArc<Block>>,
    retired: [u64; N],
}

fn registry() -> &'static LeafMutex<Registry> {
    static REG: OnceLock<LeafMutex<Registry>> = OnceLock::new();
    REG.get_or_init(|| {
        LeafMutex::new(Registry {
            live: Vec::new(),
            retired: [0; N],
        })
    })
}

struct Local(StdArc<Block>);

impl Local {
    fn new() -> Self {
        let block = StdArc::new(Block {
            cells: Default::default(),
        });
        registry().lock().live.push(block.clone());
        Local(block)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Fold this thread's counts into `retired` and unregister, atomically
        // with respect to `snapshot()` (both under the registry lock).
        let mut reg = registry().lock();
        for (acc, cell) in reg.retired.iter_mut().zip(&self.0.cells) {
            *acc += cell.load(StatOrdering::Relaxed);
        }
        reg.live.retain(|b| !StdArc::ptr_eq(b, &self.0));
    }
}

thread_local! {
    static LOCAL: Local = Local::new();
}

/// Adds `n` to `counter` in this thread's block.
#[inline]
pub fn add(counter: Counter, n: u64) {
    // A thread being torn down may still call in (from a destructor): drop the count.
    let _ = LOCAL.try_with(|l| {
        let cell = &l.0.cells[counter as usize];
        cell.store(cell.load(StatOrdering::Relaxed) + n, StatOrdering::Relaxed);
    });
}

/// Adds one to `counter`.
#[inline]
pub fn bump(counter: Counter) {
    add(counter, 1)
}

/// Current totals, in `NAMES` order.
pub fn snapshot() -> [(&'static str, u64); N] {
    let reg = registry().lock();
    let mut totals = reg.retired;
    for block in &reg.live {
        for (t, cell) in totals.iter_mut().zip(&block.cells) {
            *t += cell.load(StatOrdering::Relaxed);
        }
    }
    let mut out = [("", 0); N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (NAMES[i], totals[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(name: &str) -> u64 {
        snapshot().iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn counts_survive_thread_exit() {
        let before = get("predicate_batches");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        bump(Counter::PredicateBatches);
                    }
                });
            }
        });
        // Monotonic and exact: other tests may add more, never less.
        assert!(get("predicate_batches") >= before + 4000);
    }
}
