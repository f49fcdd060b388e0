//! `fork()` beside running threads. `gli/__init__.py` registers these
//! functions with `os.register_at_fork`: before a fork, the forking thread
//! waits until no operation is inside any live graph's locks (a batch
//! being applied, a `k_hop` reading under the shard locks) and holds them
//! all across the fork (see `engine::store`'s lock order); after it, the
//! parent and the child each release them. A child forked while another
//! thread was applying a batch used to inherit that batch half-applied and
//! its locks held by a thread the child does not have: its first call on
//! the graph then waited forever.
//!
//! Only with the GIL. With it disabled, CPython stops every attached thread
//! right after these hooks, and a thread that waits for a shard lock while
//! attached (a point write does) would never stop while the forking thread
//! holds that lock: the hook does nothing there (README, Known gaps).
//!
//! Blocking here, attached, is safe with the GIL: no thread holding a shard
//! or key-map lock ever waits for the interpreter.

use pyo3::prelude::*;

use super::convert::gil_disabled;
use crate::engine::store::Graph;
use crate::sync::{Arc, LeafMutex, StdWeak};

type Engine = Graph<super::convert::PyPayload>;

/// Every graph made in this process, as long as it lives. A leaf lock.
static LIVE: LeafMutex<Vec<StdWeak<Engine>>> = LeafMutex::new(Vec::new());
/// The graphs whose locks a fork in progress holds. A leaf lock.
static HELD: LeafMutex<Vec<Arc<Engine>>> = LeafMutex::new(Vec::new());

/// Makes `graph` one that forks wait for.
pub(crate) fn register(graph: &Arc<Engine>) {
    let mut live = LIVE.lock();
    if live.len() == live.capacity() {
        // Amortized: the dead are dropped each time the list would grow.
        live.retain(|g| g.strong_count() > 0);
    }
    live.push(Arc::downgrade(graph));
}

/// `os.register_at_fork(before=...)`: holds every live graph's locks.
#[pyfunction]
pub(crate) fn _before_fork(py: Python<'_>) {
    if gil_disabled(py) {
        return;
    }
    let graphs: Vec<Arc<Engine>> = LIVE.lock().iter().filter_map(StdWeak::upgrade).collect();
    for graph in &graphs {
        graph.hold_for_fork();
    }
    HELD.lock().extend(graphs);
}

/// `os.register_at_fork(after_in_parent=...)` (`in_child=False`) and
/// `after_in_child=...` (`in_child=True`).
#[pyfunction]
pub(crate) fn _after_fork(in_child: bool) {
    let held = std::mem::take(&mut *HELD.lock());
    for graph in &held {
        // SAFETY: `_before_fork` took these locks, in this process's memory
        // (the child's is a copy of the parent's), and only this releases
        // them; a child runs its `after_in_child` hooks before any thread.
        unsafe { graph.release_after_fork(in_child) };
    }
}
