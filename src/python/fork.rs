//! `fork()` beside running threads. `gli/__init__.py` registers these
//! functions with `os.register_at_fork`. Before a fork, the forking thread
//! waits, detached, until no thread is inside GLI's detached work and
//! holds the [`ForkGate`] across the fork (every detached stretch of GLI
//! work enters it for read: [`super::detach::detach_with`]); it holds the
//! GIL too, so no attached GLI code is inside a lock either. The child
//! thus inherits no lock held and no batch half-applied: a child forked
//! while another thread applied a batch used to wait forever on its first
//! call. Attached code never waits for the gate, so threads that call GLI
//! while the fork's other hooks run (Python code) go on.
//!
//! Only with the GIL: with it disabled, attached GLI code runs beside the
//! forking thread, and CPython stops those threads only after these hooks
//! (README, Known gaps).

use pyo3::prelude::*;

use super::convert::gil_disabled;
use crate::sync::ForkGate;

/// Entered by every detached stretch of GLI work, with the GIL enabled.
pub(crate) static FORK_GATE: ForkGate = ForkGate::new();

std::thread_local! {
    /// Whether this thread's fork in progress holds [`FORK_GATE`]. The hooks
    /// may be registered twice (by a reload of `gli`): the second `before`
    /// then does nothing, and the second `after` too. Two threads forking at
    /// once each take the gate in turn.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `os.register_at_fork(before=...)`.
#[pyfunction]
pub(crate) fn _before_fork(py: Python<'_>) {
    // A thread inside the gate (a predicate run by a detached filter) cannot
    // wait for it to empty: that fork goes unguarded, as before the gate.
    if gil_disabled(py) || ForkGate::entered_here() || HOLDING.with(|h| h.get()) {
        return;
    }
    // Detached, so that threads in the gate may attach to finish their work.
    py.detach(|| FORK_GATE.hold_for_fork());
    HOLDING.with(|h| h.set(true));
}

/// `os.register_at_fork(after_in_parent=...)` (`in_child=False`) and
/// `after_in_child=...` (`in_child=True`).
#[pyfunction]
pub(crate) fn _after_fork(in_child: bool) {
    if in_child {
        super::detach::forget_other_threads_in_child();
    }
    if HOLDING.with(|h| h.replace(false)) {
        // SAFETY: this thread's `_before_fork` took the gate, in this
        // process's memory (a child's is a copy of the parent's, this
        // thread's locals included), and only this releases it; a child runs
        // its `after_in_child` hooks before any other thread.
        unsafe { FORK_GATE.release_after_fork(in_child) };
    }
}
