//! The PyO3 binding: the module `gli._core`. The only code that names Python.

mod convert;
mod detach;
mod errors;
mod filter;
mod fork;
mod graph;
mod handles;
mod methods;
mod trace;
mod values;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::engine::counters as stats;

/// `gli.counters()`: process-wide event counters, summed over threads.
#[pyfunction]
fn counters(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let _call = trace::call("counters");
    filter::flush_column_reads();
    let dict = PyDict::new(py);
    for (name, value) in stats::snapshot() {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}

extern "C" {
    /// `Py_UNICODE_ISPRINTABLE`: `str.isprintable` for one character, from
    /// the interpreter's Unicode database (a table lookup; no thread state).
    fn _PyUnicode_IsPrintable(ch: u32) -> std::ffi::c_int;
}

/// Python's own rule for which characters `repr` escapes, so that error
/// messages name ids and attribute names exactly as `repr` would.
fn printable(c: char) -> bool {
    // SAFETY: a pure function of its argument, callable from any thread.
    unsafe { _PyUnicode_IsPrintable(c as u32) != 0 }
}

/// The native module. It declares itself free-threading safe: every pyclass
/// is frozen and shares an `Arc` of the engine, whose own locks protect it.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    crate::engine::id::set_printable_rule(printable);
    m.add_class::<graph::PyGraph>()?;
    let graph = m.py().get_type::<graph::PyGraph>();
    methods::install(&graph)?;
    // DESIGN: `batch_query_nodes` is the same method as `get_nodes_batch`.
    methods::set_class_attr(
        &graph,
        "batch_query_nodes",
        &graph.getattr("get_nodes_batch")?,
    )?;
    m.add_class::<filter::AttrView>()?;
    filter::install_view_subscript(&m.py().get_type::<filter::AttrView>());
    m.add_class::<detach::CancelToken>()?;
    m.add_class::<filter::AttrBatch>()?;
    m.add_function(wrap_pyfunction!(counters, m)?)?;
    m.add_function(wrap_pyfunction!(detach::_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(methods::_share_methods, m)?)?;
    m.add_function(wrap_pyfunction!(trace::_set_tracing, m)?)?;
    m.add_function(wrap_pyfunction!(filter::set_filter_threads, m)?)?;
    m.add_function(wrap_pyfunction!(filter::_numpy_ready, m)?)?;
    m.add_function(wrap_pyfunction!(fork::_before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(fork::_after_fork, m)?)?;
    Ok(())
}
