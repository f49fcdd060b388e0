//! The one conversion from engine errors to Python exceptions. The exception
//! classes are defined once, in `gli/exceptions.py`, and imported here.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::GraphError;

pyo3::import_exception!(gli.exceptions, GLIError);
pyo3::import_exception!(gli.exceptions, NodeNotFoundError);
pyo3::import_exception!(gli.exceptions, EdgeNotFoundError);
pyo3::import_exception!(gli.exceptions, EdgeAlreadyExistsError);
pyo3::import_exception!(gli.exceptions, NoPathError);
pyo3::import_exception!(gli.exceptions, ConvergenceError);

impl From<GraphError> for PyErr {
    fn from(err: GraphError) -> PyErr {
        let msg = err.to_string();
        error_with_message(err, msg)
    }
}

/// `err` as the exception of a batch's item `k` (a failure the batch met as
/// a whole, which named no item): its own class, the message naming
/// `method` and the item.
pub(crate) fn error_at_item(err: GraphError, method: &str, k: usize) -> PyErr {
    let msg = item_message(method, k, &err);
    error_with_message(err, msg)
}

/// The message of a batch's item `k` that failed with `msg`.
fn item_message(method: &str, k: usize, msg: &dyn std::fmt::Display) -> String {
    format!("{method}: item {k}: {msg}")
}

/// `err`'s exception, carrying `msg`.
fn error_with_message(err: GraphError, msg: String) -> PyErr {
    match err {
        // A failed operation of `batch_operations()`, by its index in the
        // batch (recorded order).
        GraphError::InOperation(k, e) => error_at_item(*e, "batch_operations", k),
        GraphError::NodeNotFound(_) => NodeNotFoundError::new_err(msg),
        GraphError::EdgeNotFound(..) => EdgeNotFoundError::new_err(msg),
        GraphError::EdgeExists(..) => EdgeAlreadyExistsError::new_err(msg),
        GraphError::NoPath(..) => NoPathError::new_err(msg),
        GraphError::Convergence(_) => ConvergenceError::new_err(msg),
        GraphError::InvalidValue(_) => PyValueError::new_err(msg),
        GraphError::InvalidType(_) => PyTypeError::new_err(msg),
        GraphError::Interrupted => PyKeyboardInterrupt::new_err(msg),
        GraphError::Capacity(_) => GLIError::new_err(msg),
        // Handled where it is raised; never expected here.
        GraphError::OverBudget => {
            PyRuntimeError::new_err(format!("internal error in gli (please report): {msg}"))
        }
    }
}

/// `e` again, its message naming batch item `k` of `method` (a failure the
/// batch met as a whole, which named no item): the same class, no cause.
pub(crate) fn at_item(py: Python<'_>, e: PyErr, method: &str, k: usize) -> PyErr {
    // Its message as given (`args[0]`, BaseException's own attribute, read
    // without running Python code: `str(e)` would run the class's
    // `__str__`, Python code).
    let msg = (e.value(py).getattr(pyo3::intern!(py, "args")).ok())
        .and_then(|a| a.cast_into::<pyo3::types::PyTuple>().ok())
        .filter(|a| a.len() == 1)
        .and_then(|a| a.get_item(0).ok())
        .and_then(|m| m.cast_into::<pyo3::types::PyString>().ok());
    let Some(msg) = msg else { return e };
    PyErr::from_type(e.get_type(py), item_message(method, k, &msg))
}
