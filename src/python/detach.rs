//! The one helper every long query runs through (polars' `enter_polars`).
//!
//! It detaches from the interpreter, hands the engine a `Cancel` token, and
//! maps the outcome: engine errors through `From<GraphError>`, a Ctrl-C seen
//! while detached as the very `KeyboardInterrupt` that `check_signals` raised,
//! and a panic (in this thread or a rayon worker) as an exception, never an
//! abort.

use std::panic::{catch_unwind, AssertUnwindSafe};

use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use crate::engine::cancel::Cancel;
use crate::engine::counters::{bump, Counter};
use crate::error::GraphError;
use crate::sync::AtomicBool;

/// Runs `work` detached. The calling thread re-attaches about every 25 ms to
/// run `check_signals` (a no-op off the main thread), so Ctrl-C interrupts
/// within ~0.2 s; `cancel_flag` (if given) lets another party cancel too.
pub(crate) fn run_detached<T: Send>(
    py: Python<'_>,
    cancel_flag: Option<&AtomicBool>,
    work: impl FnOnce(&Cancel<'_>) -> Result<T, GraphError> + Send,
) -> PyResult<T> {
    let own = AtomicBool::new(false);
    let flag = cancel_flag.unwrap_or(&own);
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
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!(
                "internal error in gli (please report): {msg}"
            )))
        }
    }
}
