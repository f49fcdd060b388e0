//! The one helper every long query runs through (polars' `enter_polars`).
//!
//! It detaches from the interpreter, hands the engine a `Cancel` token, and
//! maps the outcome: engine errors through `From<GraphError>`, a Ctrl-C seen
//! while detached as the very `KeyboardInterrupt` that `check_signals` raised,
//! and a panic (in this thread or a rayon worker) as an exception, never an
//! abort.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use super::convert::PyPayload;
use crate::engine::cancel::Cancel;
use crate::engine::counters::{bump, Counter};
use crate::engine::{Graph, GraphView, Snapshot};
use crate::error::GraphError;
use crate::sync::{AtomicBool, Ordering};

thread_local! {
    /// The cancellation flag of the `CancelToken` entered on this thread, if any.
    static CURRENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// The flags `CURRENT` held before each `__enter__` still open on this
    /// thread, innermost last (per thread: one token may be entered by
    /// several threads at once).
    static SAVED: RefCell<Vec<Option<Arc<AtomicBool>>>> = const { RefCell::new(Vec::new()) };
}

/// The flag of the token entered on this thread (async queries enter one on
/// their worker thread; cancelling the awaiting task sets it).
pub(crate) fn current_cancel_flag() -> Option<Arc<AtomicBool>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `gli._core.CancelToken`: `with token: g.pagerank()` makes every long query
/// on this thread poll `token`; `token.cancel()` (from any thread) stops it
/// at its next poll with `KeyboardInterrupt("the query was cancelled")`.
#[pyclass(name = "CancelToken", module = "gli._core", frozen)]
pub(crate) struct CancelToken {
    flag: Arc<AtomicBool>,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Asks the query running under this token to stop (idempotent, any thread).
    fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        let prev = CURRENT.with(|c| c.borrow_mut().replace(slf.flag.clone()));
        SAVED.with(|s| s.borrow_mut().push(prev));
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        let prev = SAVED.with(|s| s.borrow_mut().pop()).flatten();
        CURRENT.with(|c| *c.borrow_mut() = prev);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.cancelled() { "True" } else { "False" };
        format!("<gli.CancelToken cancelled={state}>")
    }
}

/// Takes a snapshot of `graph` and runs `work` on it, detached (through
/// [`run_detached`]); returns the snapshot with the result, so that the
/// caller can read the nodes the result refers to.
pub(crate) fn on_snapshot<T: Send>(
    py: Python<'_>,
    graph: &Graph<PyPayload>,
    work: impl FnOnce(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send,
) -> PyResult<(Snapshot<PyPayload>, T)> {
    run_detached(py, None, |cancel| {
        let snap = graph.snapshot();
        let out = work(&snap.view(), cancel)?;
        Ok((snap, out))
    })
}

/// Runs `work` detached. The calling thread re-attaches about every 25 ms to
/// run `check_signals` (a no-op off the main thread), so Ctrl-C interrupts
/// within ~0.2 s; `cancel_flag`, or else the thread's current `CancelToken`,
/// lets another party cancel too.
pub(crate) fn run_detached<T: Send>(
    py: Python<'_>,
    cancel_flag: Option<&AtomicBool>,
    work: impl FnOnce(&Cancel<'_>) -> Result<T, GraphError> + Send,
) -> PyResult<T> {
    let own = AtomicBool::new(false);
    let token = current_cancel_flag();
    let flag = cancel_flag.or(token.as_deref()).unwrap_or(&own);
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let poll_signals = || -> bool {
        Python::attach(|py| {
            bump(Counter::GilReacquisitions);
            match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    *pending.lock() = Some(e);
                    true
                }
            }
        })
    };
    let outcome = py.detach(|| {
        let cancel = Cancel::new(flag, Some(&poll_signals));
        catch_unwind(AssertUnwindSafe(|| work(&cancel)))
    });
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(GraphError::Interrupted)) => Err(pending
            .lock()
            .take()
            .unwrap_or_else(|| PyKeyboardInterrupt::new_err("the query was cancelled"))),
        Ok(Err(err)) => Err(err.into()),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// A caught panic as the exception the user sees (never an abort).
#[cold]
pub(crate) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!("internal error in gli (please report): {msg}"))
}
