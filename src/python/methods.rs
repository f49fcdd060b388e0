//! Hand-written method descriptors of `gli._core.Graph`, for the calls
//! whose cost is mostly the call itself. Installed on the class at module
//! init (they are not `#[pymethods]`), with the same names, signatures and
//! docstrings as ordinary methods; each `PyMethodDef` lives for the process.
//!
//! - **Keyword-attribute methods** (`add_node`, `add_edge`, `update_node`,
//!   `update_edge`) as `METH_FASTCALL | METH_KEYWORDS`. PyO3 gives a method
//!   with `**kwargs` the `METH_VARARGS | METH_KEYWORDS` convention: CPython
//!   packs the call into a tuple and a fresh kwargs dict, and PyO3 copies
//!   that dict again, entry by entry, before the method sees it. Under
//!   vectorcall the keywords arrive as a tuple of (interned) names beside the
//!   values, so these methods read them straight from the stack: for
//!   `add_node("n1", a=1, b=2, ...)` no dict is built at all.
//! - **One-argument point queries** (`has_node`, `get_node`, `successors`,
//!   ...) as `METH_O`: no argument parsing, and CPython's cheapest
//!   specialized call (`has_node("n123")`: 54 -> 39 ns, `timeit`).
//! - [`_share_methods`] gives a Python subclass (the facade `gli.Graph`) its
//!   own copies of the inherited native method descriptors, so that CPython's
//!   specialized method calls apply to its instances too.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString, PyTuple, PyType};
use pyo3::PyTypeInfo;

use super::convert::{
    attrs_from_kwnames, attrs_to_dict, lookup_edge, lookup_node, lookup_nodes, node_ref,
    node_ref_lenient, push_id_str, PyAttrMap,
};
use super::detach::panic_error;
use super::graph::PyGraph;
use super::trace;

/// A method body: the graph, its positional arguments (already counted) and
/// its keyword arguments converted to attributes.
type Body = for<'a, 'py> fn(
    &PyGraph,
    Python<'py>,
    &[Borrowed<'a, 'py, PyAny>],
    PyAttrMap,
) -> PyResult<Bound<'py, PyAny>>;

/// One method: its name, positional parameter names, docstring (with the
/// `__text_signature__` line CPython parses) and body.
struct Method {
    name: &'static str,
    /// `name` NUL-terminated, for the `PyMethodDef`.
    cname: &'static CStr,
    params: &'static [&'static str],
    doc: &'static CStr,
    body: Body,
}

fn add_node<'py>(
    g: &PyGraph,
    py: Python<'py>,
    pos: &[Borrowed<'_, 'py, PyAny>],
    attrs: PyAttrMap,
) -> PyResult<Bound<'py, PyAny>> {
    let inner = &g.inner;
    // Attached, as a node addition is short; the renumbering that running
    // out of indices needs (a copy of the graph) runs detached.
    inner.add_node_with_room(node_ref(&pos[0])?, attrs, |n| {
        g.detach_renumbering(py, || inner.compact(n));
    })?;
    Ok(pos[0].to_owned())
}

fn add_edge<'py>(
    g: &PyGraph,
    py: Python<'py>,
    pos: &[Borrowed<'_, 'py, PyAny>],
    attrs: PyAttrMap,
) -> PyResult<Bound<'py, PyAny>> {
    let (s, t) = lookup_nodes(&pos[0], &pos[1])?;
    g.inner.add_edge(s, t, attrs)?;
    let mut name = String::with_capacity(24);
    push_id_str(&mut name, s);
    name.push_str("->");
    push_id_str(&mut name, t);
    Ok(PyString::new(py, &name).into_any())
}

fn update_node<'py>(
    g: &PyGraph,
    py: Python<'py>,
    pos: &[Borrowed<'_, 'py, PyAny>],
    attrs: PyAttrMap,
) -> PyResult<Bound<'py, PyAny>> {
    g.inner.update_node(lookup_node(&pos[0])?, attrs)?;
    Ok(py.None().into_bound(py))
}

fn update_edge<'py>(
    g: &PyGraph,
    py: Python<'py>,
    pos: &[Borrowed<'_, 'py, PyAny>],
    attrs: PyAttrMap,
) -> PyResult<Bound<'py, PyAny>> {
    let (s, t) = lookup_edge(&pos[0], &pos[1])?;
    g.inner.update_edge(s, t, attrs)?;
    Ok(py.None().into_bound(py))
}

/// A [`Method`] named after its body function: the name, its C string and
/// the signature line of the docstring all come from one list of parameters.
macro_rules! method {
    ($body:ident, [$($param:literal),+], $doc:literal) => {
        Method {
            name: stringify!($body),
            cname: c_str!(stringify!($body)),
            params: &[$($param),+],
            doc: c_str!(
                stringify!($body), "($self, ", $($param, ", ",)+ "/, **attrs)\n--\n\n", $doc
            ),
            body: $body,
        }
    };
}

/// The `&'static CStr` of the concatenated string literals (checked at
/// compile time: a NUL inside fails the build).
macro_rules! c_str {
    ($($part:expr),+) => {
        match CStr::from_bytes_with_nul(concat!($($part),+, "\0").as_bytes()) {
            Ok(c) => c,
            Err(_) => panic!("a method name or docstring with a NUL"),
        }
    };
}

const ADD_NODE: Method = method!(
    add_node,
    ["node_id"],
    "Adds a node, or merges ``attrs`` into it. Returns the id.\n\nLocks the node's one shard."
);
const ADD_EDGE: Method = method!(
    add_edge,
    ["source", "target"],
    "Adds an edge; returns ``\"source->target\"`` (``EdgeAlreadyExistsError`` if present).\n\nLocks the endpoints' shards, ascending."
);
const UPDATE_NODE: Method = method!(
    update_node,
    ["node_id"],
    "Merges ``attrs`` into an existing node (``NodeNotFoundError`` if absent)."
);
const UPDATE_EDGE: Method = method!(
    update_edge,
    ["source", "target"],
    "Merges ``attrs`` into an existing edge (``EdgeNotFoundError`` if absent)."
);

/// The wrong-arity error CPython gives a Python function with this signature.
#[cold]
fn arity_error(m: &Method, given: usize) -> PyErr {
    let name = m.name;
    let want = m.params.len();
    if given > want {
        let s = if want == 1 { "" } else { "s" };
        return PyTypeError::new_err(format!(
            "{name}() takes {want} positional argument{s} but {given} were given"
        ));
    }
    let missing: Vec<String> = m.params[given..].iter().map(|p| format!("'{p}'")).collect();
    let s = if missing.len() == 1 { "" } else { "s" };
    PyTypeError::new_err(format!(
        "{name}() missing {} required positional argument{s}: {}",
        missing.len(),
        missing.join(" and ")
    ))
}

/// `slf`, the instance a method of this module was called on, as a `Graph`.
///
/// Not type-checked again: every method here is installed as a method
/// descriptor of `gli._core.Graph` or of a subclass (`_share_methods`), and
/// CPython calls a descriptor's C function only with a `self` it checked is
/// an instance of the descriptor's class (`descr_check` on the generic path,
/// an exact type guard on the specialized ones), which is a `Graph`. The
/// check `cast` would repeat costs a walk of the MRO on a subclass instance,
/// such as the facade `gli.Graph`'s, on every call.
///
/// # Safety
/// `slf` is the `self` CPython passed to a method descriptor installed by
/// this module, borrowed for the call.
#[inline(always)]
unsafe fn graph_of<'a, 'py>(
    py: Python<'py>,
    slf: *mut ffi::PyObject,
) -> Borrowed<'a, 'py, PyGraph> {
    // SAFETY: per the contract above.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    debug_assert!(slf.is_instance_of::<PyGraph>());
    unsafe { slf.cast_unchecked::<PyGraph>() }
}

/// The shared body of every trampoline, attached, inside `catch_unwind`.
///
/// # Safety
/// CPython's `METH_FASTCALL | METH_KEYWORDS` contract: `args` holds `nargs`
/// positional then `len(kwnames)` keyword values, all borrowed for the call.
#[inline(always)]
unsafe fn call<'py>(
    py: Python<'py>,
    m: &Method,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    let _call = trace::call(m.name);
    // SAFETY: see `graph_of`.
    let graph = unsafe { graph_of(py, slf) };
    let nargs = usize::try_from(nargs).unwrap_or(0);
    // SAFETY: kwnames is NULL or a tuple, per the calling convention.
    let kwnames = unsafe { Borrowed::from_ptr_or_opt(py, kwnames) }
        .map(|k| unsafe { k.cast_unchecked::<PyTuple>() });
    if nargs != m.params.len() {
        return Err(arity_error(m, nargs));
    }
    // SAFETY: `args` holds `nargs` positional then `len(kwnames)` keyword
    // values, valid borrowed pointers for the whole call.
    let arg = |i: usize| unsafe { Borrowed::from_ptr(py, *args.add(i)) };
    // At most two positional parameters: no allocation for them.
    let pos = [arg(0), if nargs > 1 { arg(1) } else { arg(0) }];
    _call.attrs(kwnames.as_ref().map_or(0, |k| k.len()));
    let attrs = match &kwnames {
        Some(names) => {
            let home = graph.get().home();
            attrs_from_kwnames(names, (nargs..nargs + names.len()).map(arg), home)?
        }
        None => PyAttrMap::new(),
    };
    (m.body)(graph.get(), py, &pos[..nargs], attrs)
}

/// The body of every hand-written C entry (methods and the view's
/// subscript slot): runs `f` attached, and returns the object, or NULL with
/// the error (or the panic, as `RuntimeError`) raised.
///
/// These entries skip PyO3's trampoline, so PyO3 does not count the thread
/// as attached while they run, and a `Py` dropped in them is not released
/// but queued in PyO3's global pool until some PyO3-wrapped call empties it:
/// a loop of calls that only ever reach these entries grew without bound
/// (an audit: 100,000 failing `get_node` calls kept 100,000 references to
/// `NodeNotFoundError`). So their bodies drop no `Py` (they release through
/// `Py::drop_ref`, or hold `Bound`s), and raising an error, which drops the
/// exception's type and arguments, happens inside [`Python::attach_unchecked`]
/// (counted as attached: released at once).
///
/// # Safety
/// Called by CPython's calling convention, which calls C functions attached.
#[inline(always)]
pub(crate) unsafe fn enter(
    f: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>,
) -> *mut ffi::PyObject {
    // SAFETY: see the contract above.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(|| f(py))) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(err)) => raise(err),
        Err(panic) => raise(panic_error(panic)),
    }
}

/// Raises `err` from a hand-written entry (see [`enter`]); returns NULL.
#[cold]
#[inline(never)]
fn raise(err: PyErr) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (the entry's caller is CPython), so
    // attaching again only counts it, whatever the interpreter's state.
    unsafe { Python::attach_unchecked(|py| err.restore(py)) };
    std::ptr::null_mut()
}

/// The `extern "C"` entry of keyword method `$m`: attaches nothing
/// (CPython calls methods attached), turns errors and panics into raised
/// exceptions.
macro_rules! trampoline {
    ($fn:ident, $m:expr) => {
        unsafe extern "C" fn $fn(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls C methods attached, with the arguments
            // of the fastcall-with-keywords convention.
            unsafe { enter(|py| call(py, &$m, slf, args, nargs, kwnames)) }
        }
    };
}

trampoline!(add_node_c, ADD_NODE);
trampoline!(add_edge_c, ADD_EDGE);
trampoline!(update_node_c, UPDATE_NODE);
trampoline!(update_edge_c, UPDATE_EDGE);

// ------------------------------------------------ one-argument point queries

/// A `METH_O` method body: the graph and its one argument.
type OneBody =
    for<'py> fn(&PyGraph, Python<'py>, &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>;

/// One `METH_O` method: its name, docstring (with the signature line) and body.
struct OneArg {
    name: &'static str,
    cname: &'static CStr,
    doc: &'static CStr,
    body: OneBody,
}

/// The shared body of every `METH_O` entry, attached, inside `catch_unwind`.
///
/// # Safety
/// CPython's `METH_O` contract: `slf` and `arg` are borrowed for the call.
#[inline(always)]
unsafe fn call_one<'py>(
    py: Python<'py>,
    m: &OneArg,
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    let _call = trace::call(m.name);
    // SAFETY: see `graph_of`; `arg` is a valid borrowed object.
    let graph = unsafe { graph_of(py, slf) };
    let arg = unsafe { Borrowed::from_ptr(py, arg) };
    (m.body)(graph.get(), py, &arg)
}

/// A `METH_O` method named `$name`, whose parameter is `node_id`, running
/// `$body` with the graph, `py` and the argument bound to the given names:
/// the descriptor's data and its `extern "C"` entry (see `trampoline!`).
macro_rules! one_arg {
    ($name:ident, $doc:literal, |$g:ident, $py:ident, $id:ident| $body:expr) => {{
        fn body<'py>(
            $g: &PyGraph,
            $py: Python<'py>,
            $id: &Bound<'py, PyAny>,
        ) -> PyResult<Bound<'py, PyAny>> {
            $body
        }
        const M: OneArg = OneArg {
            name: stringify!($name),
            cname: c_str!(stringify!($name)),
            doc: c_str!(stringify!($name), "($self, node_id, /)\n--\n\n", $doc),
            body,
        };
        unsafe extern "C" fn entry(
            slf: *mut ffi::PyObject,
            arg: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls C methods attached, per `METH_O`.
            unsafe { enter(|py| call_one(py, &M, slf, arg)) }
        }
        (&M, entry as ffi::PyCFunction)
    }};
}

/// The one-argument point queries, with their C entries.
fn one_arg_methods() -> [(&'static OneArg, ffi::PyCFunction); 8] {
    [
        one_arg!(
            has_node,
            "True if the node exists. Never raises. Reads the key map (waits on the node's shard only while a batch is being applied).",
            |g, py, id| {
                let found = node_ref_lenient(id).is_some_and(|id| g.inner.contains(id));
                Ok(PyBool::new(py, found).to_owned().into_any())
            }
        ),
        one_arg!(
            get_node,
            "A fresh dict of the node's attributes (``NodeNotFoundError`` if absent).",
            |g, py, id| {
                let attrs = g.inner.node_attrs(lookup_node(id)?)?;
                Ok(attrs_to_dict(py, attrs.as_deref())?.into_any())
            }
        ),
        one_arg!(
            successors,
            "Out-neighbours, in edge insertion order (undirected: all neighbours).",
            |g, py, id| Ok(PyGraph::ids_to_list(py, &g.inner.successors(lookup_node(id)?)?)?.into_any())
        ),
        one_arg!(
            predecessors,
            "In-neighbours, in edge insertion order (undirected: all neighbours).",
            |g, py, id| Ok(PyGraph::ids_to_list(py, &g.inner.predecessors(lookup_node(id)?)?)?.into_any())
        ),
        one_arg!(
            neighbors,
            "Directed: successors (as NetworkX); undirected: all adjacent nodes.",
            |g, py, id| Ok(PyGraph::ids_to_list(py, &g.inner.successors(lookup_node(id)?)?)?.into_any())
        ),
        one_arg!(
            degree,
            "Directed: in + out; undirected: incident edge ends (a self-loop counts 2).",
            |g, py, id| {
                let (i, o) = g.inner.degrees(lookup_node(id)?)?;
                let d = if g.inner.is_directed() { i + o } else { o };
                Ok(d.into_pyobject(py)?.into_any())
            }
        ),
        one_arg!(
            in_degree,
            "Number of in-edges (undirected: the degree).",
            |g, py, id| Ok(g.inner.degrees(lookup_node(id)?)?.0.into_pyobject(py)?.into_any())
        ),
        one_arg!(
            out_degree,
            "Number of out-edges (undirected: the degree).",
            |g, py, id| Ok(g.inner.degrees(lookup_node(id)?)?.1.into_pyobject(py)?.into_any())
        ),
    ]
}

// ------------------------------------------------------ no-argument counts

/// A `METH_NOARGS` count: its name, docstring and the number it returns.
struct NoArgs {
    name: &'static str,
    cname: &'static CStr,
    doc: &'static CStr,
    count: fn(&PyGraph) -> usize,
}

/// A `METH_NOARGS` method `$name` returning `$count` of the graph: the
/// descriptor's data and its `extern "C"` entry. The cheapest call GLI
/// serves, so it skips what it cannot need: it converts no argument, drops
/// no Python object (so there is no release queue to empty) and cannot
/// fail once `self` is known to be a `Graph`.
macro_rules! no_args {
    ($name:ident, $doc:literal, |$g:ident| $count:expr) => {{
        fn count($g: &PyGraph) -> usize {
            $count
        }
        const M: NoArgs = NoArgs {
            name: stringify!($name),
            cname: c_str!(stringify!($name)),
            doc: c_str!(stringify!($name), "($self, /)\n--\n\n", $doc),
            count,
        };
        unsafe extern "C" fn entry(
            slf: *mut ffi::PyObject,
            _unused: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls C methods attached, per `METH_NOARGS`.
            unsafe {
                enter(|py| {
                    let _call = trace::call_pure(M.name);
                    // SAFETY: see `graph_of`.
                    let n = (M.count)(graph_of(py, slf).get());
                    Ok(n.into_pyobject(py)?.into_any())
                })
            }
        }
        (&M, entry as ffi::PyCFunction)
    }};
}

/// The no-argument counts, with their C entries.
fn no_args_methods() -> [(&'static NoArgs, ffi::PyCFunction); 2] {
    [
        no_args!(node_count, "The number of nodes (``len(g)``).", |g| g
            .inner
            .node_count()),
        no_args!(
            edge_count,
            "The number of edges (an undirected edge counts once).",
            |g| g.inner.edge_count()
        ),
    ]
}

/// Installs every method of this module on `cls` (`gli._core.Graph`),
/// replacing nothing: they are not `#[pymethods]`.
pub(crate) fn install(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let keyword: [(&Method, ffi::PyCFunctionFastWithKeywords); 4] = [
        (&ADD_NODE, add_node_c),
        (&ADD_EDGE, add_edge_c),
        (&UPDATE_NODE, update_node_c),
        (&UPDATE_EDGE, update_edge_c),
    ];
    for (m, f) in keyword {
        let meth = ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        };
        add_method(
            cls,
            m.name,
            m.cname,
            meth,
            ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            m.doc,
        )?;
    }
    for (m, f) in one_arg_methods() {
        let meth = ffi::PyMethodDefPointer { PyCFunction: f };
        add_method(cls, m.name, m.cname, meth, ffi::METH_O, m.doc)?;
    }
    for (m, f) in no_args_methods() {
        let meth = ffi::PyMethodDefPointer { PyCFunction: f };
        add_method(cls, m.name, m.cname, meth, ffi::METH_NOARGS, m.doc)?;
    }
    Ok(())
}

/// Sets `cls.<name>` to a method descriptor over a process-lifetime `PyMethodDef`.
fn add_method(
    cls: &Bound<'_, PyType>,
    name: &str,
    cname: &'static CStr,
    meth: ffi::PyMethodDefPointer,
    flags: std::ffi::c_int,
    doc: &'static CStr,
) -> PyResult<()> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: cname.as_ptr() as *const c_char,
        ml_meth: meth,
        ml_flags: flags,
        ml_doc: doc.as_ptr() as *const c_char,
    }));
    // SAFETY: `def` is leaked: it outlives `cls`.
    let descr = unsafe { method_descriptor(cls, def)? };
    set_class_attr(cls, name, &descr)
}

/// A new method descriptor of `cls` over `def`.
///
/// # Safety
/// `cls` must be a live type object, and `def` must outlive it.
unsafe fn method_descriptor<'py>(
    cls: &Bound<'py, PyType>,
    def: *mut ffi::PyMethodDef,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: by the caller; a new reference, or null with an exception set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            cls.py(),
            ffi::PyDescr_NewMethod(cls.as_ptr() as *mut ffi::PyTypeObject, def),
        )
    }
}

/// Sets `cls.<name>` in the class's own dict, at module init: `gli._core.Graph`
/// is an immutable type, so that patching it (`mock.patch.object`) fails
/// loudly. Its instances are `gli.Graph` objects, whose class holds its own
/// copies of the native methods (see [`_share_methods`]): a patch of the
/// native class used to be accepted and then reach none of them.
pub(crate) fn set_class_attr(
    cls: &Bound<'_, PyType>,
    name: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = cls.py();
    let tp = cls.as_ptr() as *mut ffi::PyTypeObject;
    // SAFETY: `cls` is a live heap type (a pyclass), whose `tp_dict` is its
    // own dict for as long as the type lives; `PyType_Modified` then drops
    // what the method caches knew of it.
    unsafe {
        let dict = Borrowed::from_ptr(py, (*tp).tp_dict).cast::<pyo3::types::PyDict>()?;
        dict.set_item(name, value)?;
        ffi::PyType_Modified(tp);
    }
    Ok(())
}

/// The `PyMethodDef` behind `obj` when it is a plain method descriptor.
fn method_def(obj: &Bound<'_, PyAny>) -> Option<*mut ffi::PyMethodDef> {
    // SAFETY: only the type is read until it is known to be a method
    // descriptor, whose layout `PyMethodDescrObject` then describes.
    unsafe {
        let ty = ffi::Py_TYPE(obj.as_ptr());
        (ty == &raw mut ffi::PyMethodDescr_Type)
            .then(|| (*(obj.as_ptr() as *mut ffi::PyMethodDescrObject)).d_method)
    }
}

/// `_core._share_methods(cls)`: gives `cls`, a Python subclass of
/// `gli._core.Graph`, its own descriptor for every native method it inherits
/// unchanged (same `PyMethodDef`: same code, name, signature and docstring);
/// returns how many it installed.
///
/// Why: CPython specializes `obj.method(...)` on a method descriptor only
/// when `type(obj)` is exactly the descriptor's class (3.11's
/// `PRECALL_*_METHOD_DESCRIPTOR_*`, 3.12+'s `CALL_METHOD_DESCRIPTOR_*`).
/// Instances of a subclass otherwise take the generic call path, about 10 ns
/// more per call. Methods that `cls` or a class between it and the native
/// class overrides are left alone, and so is everything that is not a plain
/// method descriptor (slots, properties, static and class methods).
#[pyfunction]
pub(crate) fn _share_methods(cls: &Bound<'_, PyType>) -> PyResult<usize> {
    let py = cls.py();
    let native = PyGraph::type_object(py);
    if cls.is(&native) || !cls.is_subclass(&native)? {
        return Err(PyTypeError::new_err(format!(
            "_share_methods() needs a subclass of gli._core.Graph, got {}",
            cls.repr()?
        )));
    }
    let mro = cls.mro();
    let mut installed = 0;
    // One copy per method: an alias (`batch_query_nodes`) stays the same
    // object as the method it names.
    let mut copies: Vec<(_, Bound<'_, PyAny>)> = Vec::new();
    for item in native
        .getattr("__dict__")?
        .call_method0("items")?
        .try_iter()?
    {
        let (name, descr): (Bound<'_, PyString>, Bound<'_, PyAny>) = item?.extract()?;
        let Some(def) = method_def(&descr) else {
            continue;
        };
        // What `cls.<name>` resolves to: the first class of the MRO that has it.
        let mut found = None;
        for klass in mro.iter() {
            let attrs = klass.getattr("__dict__")?;
            if attrs.contains(&name)? {
                found = Some((klass, attrs.get_item(&name)?));
                break;
            }
        }
        let Some((owner, resolved)) = found else {
            continue;
        };
        if owner.is(cls) || method_def(&resolved) != Some(def) {
            continue; // already cls's own, or overridden on the way
        }
        let copy = match copies.iter().find(|(d, _)| *d == def) {
            Some((_, copy)) => copy.clone(),
            None => {
                // SAFETY: `def` is the native class's `PyMethodDef`, which
                // lives as long as that class, and `cls` keeps that class
                // alive through its bases.
                let copy = unsafe { method_descriptor(cls, def)? };
                copies.push((def, copy.clone()));
                copy
            }
        };
        cls.setattr(&name, copy)?;
        installed += 1;
    }
    Ok(installed)
}
