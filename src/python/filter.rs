//! `filter_nodes` / `filter_edges`: the one place Rust calls back into Python.
//!
//! The pipeline: detach; take a snapshot; scan it in Rust (in parallel when
//! large) applying the `where` conditions; then hand the survivors to the
//! predicate in batches, attaching once per batch and detaching between them.
//! No engine lock is held at any point while attached (the snapshot holds
//! `Arc`s, not locks), so a predicate may read and mutate the same graph.
//! With the GIL disabled (free-threaded CPython), batches are evaluated by
//! several threads at once, each attaching per batch; results keep order.
//!
//! The predicate sees each node's attributes through an `AttributeView`: a
//! frozen pyclass pointing at the node's attribute map inside the snapshot
//! (which it keeps alive). Creating one costs the same for 2 or 100
//! attributes; a value is converted to Python only when it is read.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use compact_str::CompactString;
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFunction, PyInt, PyList, PySlice, PyString,
    PyTuple, PyType,
};

use super::convert::{
    attrs_to_dict, for_each_item, gil_disabled, known_name_id, node_obj, plain_repr, str_text,
    text_or_lone_form, type_name, value_to_py, with_py_names,
};
use super::convert::{
    number_of, py_index, release_queued, IntArg, PyAttrSlice, PyPayload, PySharedAttrs,
};
use super::detach::{
    attach, checkpoint, detach, detach_with, iterate, on_snapshot, run_detached, CallingPython,
};
use super::handles::{HandleCache, Handles};
use super::values::Values;
use crate::engine::cancel::Cancel;
use crate::engine::counters::{add, bump, Counter};
use crate::engine::filter::{
    scan_edges, scan_nodes_cached, Cell, ColumnCache, ValueColumns, Where, WhereVal,
};
use crate::engine::{AttrId, Graph, Ix, Number, Snapshot, Value};
use crate::error::GraphError;
use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicUsize, LeafMutex, Ordering};

/// Default batch of per-node predicate calls: a call costs ~50 ns, so a batch
/// is about a millisecond of Python, while the attach/detach around it costs
/// ~1 µs. Big enough to make crossings rare, small enough to spread over
/// threads and to stop soon after an exception.
pub(crate) const DEFAULT_BATCH: usize = 16_384;
/// Default batch of a vectorized predicate: numpy work is ~1-5 ns per node,
/// so a larger batch keeps the per-call overhead under a few percent.
pub(crate) const DEFAULT_VECTOR_BATCH: usize = 65_536;

// ----------------------------------------------------------- attribute views

pub(crate) fn abc<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static ABC: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = ABC.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("collections.abc")?.unbind())
    })?;
    m.bind(py).getattr(name)
}

/// Makes sure rust-numpy has numpy's C API, as a `PyResult`.
///
/// rust-numpy looks the API up on first use, running a little Python (a
/// version check, `numpy.lib.NumpyVersion`), and panics if that raises: a
/// Ctrl-C landing there came out of `batch.column` or
/// `node_attribute_array` as a `PanicException` (an audit). So `import gli`
/// calls this ([`_numpy_ready`]), and every call that makes or reads an
/// array calls it first (a flag once done). The same Python runs here
/// first, so an exception it raises propagates as itself; one that lands
/// in rust-numpy's own run, a moment later, is caught: a
/// `KeyboardInterrupt` stays one, anything else is a `RuntimeError` that
/// says what numpy reported.
pub(crate) fn numpy_api(py: Python<'_>) -> PyResult<()> {
    static READY: AtomicBool = AtomicBool::new(false);
    if READY.load(Ordering::Acquire) {
        return Ok(());
    }
    let version = py.import("numpy")?.getattr("__version__")?;
    py.import("numpy.lib")?
        .getattr("NumpyVersion")?
        .call1((version,))?;
    let touch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        numpy::PyArray1::<f64>::zeros(py, 0, false);
    }));
    if let Err(panic) = touch {
        let said = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        return Err(if said.contains("KeyboardInterrupt") {
            pyo3::exceptions::PyKeyboardInterrupt::new_err(())
        } else {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "numpy's C API is not available: {said}"
            ))
        });
    }
    READY.store(true, Ordering::Release);
    Ok(())
}

/// `gli._core._numpy_ready()`: [`numpy_api`], run by `import gli`.
#[pyfunction]
pub(crate) fn _numpy_ready(py: Python<'_>) -> PyResult<()> {
    numpy_api(py)
}

/// `numpy.generic`, the base class of numpy's scalars.
fn numpy_generic(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GENERIC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let t = GENERIC.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("numpy")?.getattr("generic")?.unbind())
    })?;
    Ok(t.bind(py).clone())
}

/// Whether `obj`'s own type (not a `__class__` it claims) is a numpy scalar
/// type that stands for a number: `numpy.number` or `numpy.bool_`, but not
/// `timedelta64` (a `numpy.signedinteger` whose `.item()` is an int or a
/// `datetime.timedelta` by its unit). Never imports numpy: without it no
/// numpy scalar exists.
pub(crate) fn is_numpy_number(obj: &Bound<'_, PyAny>) -> bool {
    static TYPES: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let py = obj.py();
    let types = match TYPES.get(py) {
        Some(t) => t,
        None => {
            let load = || -> Option<(Py<PyAny>, Py<PyAny>)> {
                let modules = py.import("sys").ok()?.getattr("modules").ok()?;
                let np = modules.get_item("numpy").ok()?;
                let numbers = (np.getattr("number").ok()?, np.getattr("bool_").ok()?);
                let numbers = numbers.into_pyobject(py).ok()?.into_any().unbind();
                Some((numbers, np.getattr("timedelta64").ok()?.unbind()))
            };
            let Some(t) = load() else {
                return false;
            };
            TYPES.get_or_init(py, || t)
        }
    };
    let t = obj.get_type();
    t.is_subclass(types.0.bind(py)).unwrap_or(false)
        && !t.is_subclass(types.1.bind(py)).unwrap_or(true)
}

/// Per-thread caches of attribute reads, in one thread-local (one TLS lookup
/// per read):
/// - key objects by address: predicates index with the same constant strings
///   node after node, so this skips hashing the key's text almost always. An
///   entry holds a strong reference, so its address cannot be reused by
///   another object while cached. Names not interned yet are not cached.
/// - short string values: `a["status"] == "active"` over a million nodes gets
///   the same few string objects back instead of a million fresh ones
///   (strings are immutable, so sharing them is invisible).
struct ReadCache {
    keys: [Option<(Py<PyString>, AttrId)>; KEY_SLOTS],
    strs: Vec<Option<(InlineWords, Py<PyString>)>>,
    /// Set while this thread evaluates the first batch of a large per-node
    /// filter: the names its predicate reads are noted in `read` (see
    /// `ColumnCache::note_reads`).
    learning: bool,
    read: Vec<AttrId>,
    /// Reads value columns served on this thread, not yet added to the
    /// `column_reads` counter (see [`flush_column_reads`]).
    served: u64,
}

const KEY_SLOTS: usize = 16;
const STR_SLOTS: usize = 256;

/// The bytes of a `CompactString` whose text is stored inline (up to 24
/// bytes: the text, zero padding and a length byte). Equal words mean equal
/// text, so they key the string cache without hashing or comparing text.
type InlineWords = [u64; 3];

const _: () = assert!(
    size_of::<CompactString>() == size_of::<InlineWords>()
        && align_of::<CompactString>() == align_of::<InlineWords>()
);

/// `s`'s bytes as words when its text is inline (not on the heap: a heap
/// string's words hold a pointer, which a later string may reuse).
#[inline]
fn inline_words(s: &CompactString) -> Option<InlineWords> {
    if s.is_heap_allocated() {
        return None;
    }
    // SAFETY: same size and alignment (asserted above); the words are copied
    // as plain integers and only compared, never turned back into a string.
    Some(unsafe { std::ptr::read((s as *const CompactString).cast::<InlineWords>()) })
}

thread_local! {
    static READ_CACHE: std::cell::RefCell<ReadCache> = const {
        std::cell::RefCell::new(ReadCache {
            keys: [const { None }; KEY_SLOTS],
            strs: Vec::new(),
            learning: false,
            read: Vec::new(),
            served: 0,
        })
    };
}

impl ReadCache {
    /// The attribute id `key` names, if any; noted as read while learning
    /// (see `ReadNotes`).
    #[inline]
    fn key_id(&mut self, key: &Bound<'_, PyString>) -> Option<AttrId> {
        let id = self.lookup(key)?;
        if self.learning && self.read.len() < MAX_LEARNED && !self.read.contains(&id) {
            self.read.push(id);
        }
        Some(id)
    }

    #[inline]
    fn lookup(&mut self, key: &Bound<'_, PyString>) -> Option<AttrId> {
        let addr = key.as_ptr() as usize;
        let slot = (addr >> 4) % KEY_SLOTS;
        if let Some((cached, id)) = &self.keys[slot] {
            if cached.as_ptr() as usize == addr {
                return Some(*id);
            }
        }
        let id = known_name_id(str_text(key)?)?;
        // Only exact `str` keys are cached: the evicted key's decref then
        // cannot run Python code (a subclass's `__del__` could, and read a
        // view, while this cache is borrowed). Released now, not queued in
        // PyO3's pool (see `methods::enter`: `view[key]` is such an entry).
        if key.is_exact_instance_of::<PyString>() {
            if let Some((old, _)) = self.keys[slot].replace((key.clone().unbind(), id)) {
                old.drop_ref(key.py());
            }
        }
        Some(id)
    }

    #[inline]
    fn str_value<'py>(&mut self, py: Python<'py>, s: &CompactString) -> Bound<'py, PyAny> {
        let Some(w) = inline_words(s) else {
            return PyString::new(py, s).into_any();
        };
        let h = (w[0] ^ w[1].rotate_left(21) ^ w[2].rotate_left(42))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = (h >> 32) as usize % STR_SLOTS;
        if self.strs.is_empty() {
            self.strs.resize_with(STR_SLOTS, || None);
        }
        if let Some((cw, obj)) = &self.strs[slot] {
            if *cw == w {
                return obj.bind(py).clone().into_any();
            }
        }
        let fresh = PyString::new(py, s);
        if let Some((_, old)) = self.strs[slot].replace((w, fresh.clone().unbind())) {
            old.drop_ref(py); // an exact str: no Python code runs
        }
        fresh.into_any()
    }
}

/// The attribute id a Python key names, if any node or edge ever used it.
/// A key that is not a `str` names none; an unhashable one is a
/// `TypeError`, as for a dict.
#[inline]
fn key_id(key: &Bound<'_, PyAny>) -> PyResult<Option<AttrId>> {
    let Ok(s) = key.cast::<PyString>() else {
        key.hash()?;
        return Ok(None);
    };
    Ok(READ_CACHE.with(|c| c.borrow_mut().key_id(s)))
}

/// `map[key]` for the predicate: one cache access for key and value; short
/// strings come from the cache. `Ok(None)`: no such attribute.
#[inline]
fn read_attr<'py>(
    py: Python<'py>,
    view: &AttrView,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(key) = key.cast::<PyString>() else {
        key.hash()?; // as a dict: unhashable is a TypeError, anything else absent
        return Ok(None);
    };
    if !view.has_map() {
        return Ok(None);
    }
    let found = READ_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let id = c.key_id(key)?;
        if let Some(cell) = view.cell(id) {
            c.served += 1;
            // A column's scalars convert inside the cache borrow: an int or
            // a float is not tracked by the collector, so making one runs
            // no Python code.
            return Some(Ok(match cell {
                Cell::Str(s) => Ok(c.str_value(py, s)),
                cell => value_to_py(py, &cell.value()?),
            }));
        }
        Some(match view.find(id)? {
            Value::Str(s) => Ok(Ok(c.str_value(py, s))),
            other => Err(other),
        })
    });
    match found {
        None => Ok(None),
        Some(Ok(obj)) => obj.map(Some),
        // Other values convert outside the cache borrow (an opaque value's
        // conversion is just an incref, but containers allocate).
        Some(Err(v)) => value_to_py(py, v).map(Some),
    }
}

/// A read-only mapping over one node's (or edge's) attributes in a filter's
/// snapshot. Registered as a `collections.abc.Mapping` by `gli`.
///
/// The filter reuses one view object for the next node when the predicate
/// kept no reference to it (reference count 1: only the filter holds it, so
/// no other code, on any thread, can reach it). That is the only time the
/// cell is written.
#[pyclass(name = "AttributeView", module = "gli._core", frozen, mapping)]
pub struct AttrView {
    /// Keeps the snapshot, and so the map `map` points into, alive.
    snap: ManuallyDrop<Arc<Snapshot<PyPayload>>>,
    /// The node's (or edge's) attribute map inside `snap` (null: none):
    /// where the record keeps it, so that placing the view on a node does
    /// not read the map itself (a read served by `cols` never does).
    map: std::cell::UnsafeCell<Option<NonNull<PySharedAttrs>>>,
    /// The node's index, where `cols` is read.
    ix: std::cell::UnsafeCell<Ix>,
    /// Value columns of the names the filter's predicate is expected to
    /// read (see `ColumnCache::values`), inside `snap` as far as they go.
    cols: Option<Arc<ValueColumns>>,
    /// Where the last name read was found in the map (see
    /// `AttrSlice::get_from`), kept when the view moves to the next node.
    hint: AtomicU32,
    /// The graph's registered values, which `snap` may hold: kept reachable
    /// for the collector while the view lives (see `values.rs`). Held, never
    /// read.
    #[allow(dead_code)]
    values: Py<Values>,
}

// SAFETY: `map` points into `snap`, which this view keeps alive and which is
// immutable (a snapshot's shards are never written: writers copy them); the
// columns in `cols` are immutable too. The `map` and `ix` cells are written
// only by `AttrView::reuse`, which requires the caller's reference to be the
// object's only one (no concurrent reader can exist).
unsafe impl Send for AttrView {}
unsafe impl Sync for AttrView {}

fn map_ptr(attrs: Option<&PySharedAttrs>) -> Option<NonNull<PySharedAttrs>> {
    attrs.map(NonNull::from)
}

/// Drops a view's hold on a snapshot (and graph); when it was the last one,
/// what only they kept is freed here, and the Python objects among it are
/// released at once rather than at the next GLI call (see
/// `convert::Opaque`). Views die in their `tp_dealloc`, holding no lock.
fn let_go<T>(held: &mut ManuallyDrop<Arc<T>>) {
    // SAFETY: called once, from the owner's `drop`; never used after.
    let held = unsafe { ManuallyDrop::take(held) };
    // `into_inner` tells the last holder apart atomically (two views dropped
    // at once on two threads cannot both think another one is left).
    if let Some(last) = Arc::into_inner(held) {
        drop(last);
        let _ = Python::try_attach(release_queued);
    }
}

impl Drop for AttrView {
    fn drop(&mut self) {
        let_go(&mut self.snap);
    }
}

impl Drop for AttrBatch {
    fn drop(&mut self) {
        let_go(&mut self.snap);
        let_go(&mut self.graph);
    }
}

impl AttrView {
    /// A view of `attrs`, which must live inside `snap`: node `ix`'s when
    /// `cols` is given (an edge's view reads no columns).
    fn new(
        py: Python<'_>,
        snap: &Arc<Snapshot<PyPayload>>,
        values: &Py<Values>,
        attrs: Option<&PySharedAttrs>,
        (cols, ix): (Option<&Arc<ValueColumns>>, Ix),
    ) -> Self {
        Self {
            snap: ManuallyDrop::new(snap.clone()),
            map: std::cell::UnsafeCell::new(map_ptr(attrs)),
            ix: std::cell::UnsafeCell::new(ix),
            cols: cols.cloned(),
            hint: AtomicU32::new(0),
            values: values.clone_ref(py),
        }
    }

    #[inline]
    fn map(&self) -> Option<&PyAttrSlice> {
        // SAFETY: see the `Sync` impl: the pointee lives as long as `snap`.
        unsafe { (*self.map.get()).map(|p| &**p.as_ref()) }
    }

    /// Whether the node has attributes (without reading its map).
    #[inline]
    fn has_map(&self) -> bool {
        // SAFETY: see the `Sync` impl.
        unsafe { (*self.map.get()).is_some() }
    }

    /// Attribute `id` from the view's value columns, if one holds it.
    #[inline]
    fn cell(&self, id: AttrId) -> Option<&Cell> {
        // SAFETY: see the `Sync` impl.
        self.cols.as_deref()?.get(id, unsafe { *self.ix.get() })
    }

    /// A view of `attrs` (inside `snap`): `slot`'s object again when nothing
    /// else references it (no reference count touched for the map), else a
    /// new one, left in `slot` for the next node.
    #[inline]
    fn reuse<'py>(
        py: Python<'py>,
        slot: &mut Option<Bound<'py, AttrView>>,
        snap: &Arc<Snapshot<PyPayload>>,
        values: &Py<Values>,
        attrs: Option<&PySharedAttrs>,
        (cols, ix): (Option<&Arc<ValueColumns>>, Ix),
    ) -> PyResult<Bound<'py, AttrView>> {
        if let Some(v) = slot.as_ref() {
            let same_cols = v.get().cols.as_ref().map(Arc::as_ptr) == cols.map(Arc::as_ptr);
            // SAFETY: `v` is a live object and we are attached.
            if unsafe { pyo3::ffi::Py_REFCNT(v.as_ptr()) } == 1
                && Arc::ptr_eq(&*v.get().snap, snap)
                && same_cols
            {
                // SAFETY: our reference is the only one, so nothing reads the
                // cells concurrently; `attrs` lives in the view's snapshot.
                unsafe {
                    *v.get().map.get() = map_ptr(attrs);
                    *v.get().ix.get() = ix;
                }
                return Ok(v.clone());
            }
        }
        let v = Bound::new(py, AttrView::new(py, snap, values, attrs, (cols, ix)))?;
        *slot = Some(v.clone());
        Ok(v)
    }

    /// The value of attribute `id`, looked up from where the view's last
    /// read found its name (see `AttrSlice::get_from`).
    #[inline]
    fn find(&self, id: AttrId) -> Option<&Value<PyPayload>> {
        let mut hint = self.hint.load(Ordering::Relaxed) as usize;
        let v = self.map()?.get_from(id, &mut hint);
        self.hint.store(hint as u32, Ordering::Relaxed);
        v
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        attrs_to_dict(py, self.map())
    }

    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let Some(map) = self.map() else {
            return Ok(PyList::empty(py));
        };
        let max = map.iter().map(|(k, _)| k).max().unwrap_or(0);
        with_py_names(py, max, |names| {
            PyList::new(py, map.iter().map(|(k, _)| names.get(py, k)))
        })
    }
}

/// `view[key]` as the class's raw `mp_subscript` slot (installed by
/// [`install_view_subscript`]): the same body as `__getitem__`, entered
/// without PyO3's slot trampoline. A predicate's attribute read is the
/// hottest call GLI serves: a filter makes one per node.
unsafe extern "C" fn view_subscript(
    slf: *mut pyo3::ffi::PyObject,
    key: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: CPython calls slots attached, with `slf` and `key` valid
    // borrowed objects for the call.
    unsafe {
        super::methods::enter(|py| {
            let (slf, key) = (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, key));
            slf.cast::<AttrView>()?.get().__getitem__(py, &key)
        })
    }
}

/// Points `AttributeView`'s `mp_subscript` slot at [`view_subscript`], at
/// module init (before any view exists). `AttributeView.__getitem__`, the
/// wrapper CPython made at class creation, keeps calling PyO3's entry; both
/// run the same body.
pub(crate) fn install_view_subscript(cls: &Bound<'_, PyType>) {
    // SAFETY: `cls` is the `AttributeView` heap type, declared with the
    // `mapping` option, so `tp_as_mapping` points at its own slot table; no
    // other thread can use the class while its module initialises.
    unsafe {
        let tp = cls.as_ptr() as *mut pyo3::ffi::PyTypeObject;
        let mapping = (*tp).tp_as_mapping;
        assert!(!mapping.is_null(), "AttributeView has no mapping slots");
        (*mapping).mp_subscript = Some(view_subscript);
    }
}

#[pymethods]
impl AttrView {
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match read_attr(py, self, key)? {
            Some(v) => Ok(v),
            // A 1-tuple, so that `args == (key,)` as with a dict, also when
            // `key` is None or a tuple (a bare value would become the args).
            None => Err(PyKeyError::new_err((key.clone().unbind(),))),
        }
    }

    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match read_attr(py, self, key)? {
            Some(v) => Ok(v),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Some(id) = key_id(key)? else {
            return Ok(false);
        };
        if !self.has_map() {
            return Ok(false);
        }
        Ok(match self.cell(id) {
            Some(cell) => {
                READ_CACHE.with(|c| c.borrow_mut().served += 1);
                !matches!(cell, Cell::Missing)
            }
            None => self.find(id).is_some(),
        })
    }

    fn __len__(&self) -> usize {
        self.map().map_or(0, |m| m.len())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.names(py)?.try_iter()?.into_any())
    }

    fn keys<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        abc(slf.py(), "KeysView")?.call1((slf,))
    }

    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        abc(slf.py(), "ValuesView")?.call1((slf,))
    }

    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        abc(slf.py(), "ItemsView")?.call1((slf,))
    }

    fn __richcmp__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        op: CompareOp,
    ) -> PyResult<Bound<'py, PyAny>> {
        let other = if let Ok(v) = other.cast::<AttrView>() {
            v.get().to_dict(py)?.into_any()
        } else if other.is_instance(&abc(py, "Mapping")?)? {
            other.clone()
        } else {
            return Ok(py.NotImplemented().into_bound(py));
        };
        let mine = self.to_dict(py)?;
        match op {
            CompareOp::Eq => Ok(PyBool::new(py, mine.eq(&other)?).to_owned().into_any()),
            CompareOp::Ne => Ok(PyBool::new(py, !mine.eq(&other)?).to_owned().into_any()),
            _ => Ok(py.NotImplemented().into_bound(py)),
        }
    }

    /// Pickles and copies as the dict it shows: a view belongs to its
    /// filter's snapshot, a copy does not need to.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        Ok((py.get_type::<PyDict>().into_any(), (self.to_dict(py)?,)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("AttributeView({})", self.to_dict(py)?.repr()?))
    }
}

/// What a `column` gathers: every value of one attribute across a batch.
enum Column {
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Float(Vec<f64>),
    Mixed,
}

/// The nodes of one vectorized batch: a read-only sequence of attribute views
/// that also hands out whole columns as numpy arrays built in Rust. It shares
/// the filter's snapshot and candidate list: creating one copies nothing.
#[pyclass(name = "AttributeBatch", module = "gli._core", frozen, sequence)]
pub struct AttrBatch {
    graph: ManuallyDrop<Arc<Engine>>,
    snap: ManuallyDrop<Arc<Snapshot<PyPayload>>>,
    /// As `AttrView::values`.
    values: Py<Values>,
    ixs: Arc<Vec<Ix>>,
    start: usize,
    end: usize,
}

impl AttrBatch {
    /// A view of each node, in order, made as the iterator reaches it.
    fn views<'a, 'py: 'a>(
        &'a self,
        py: Python<'py>,
    ) -> impl DoubleEndedIterator<Item = PyResult<Bound<'py, AttrView>>> + 'a {
        (0..self.end - self.start).map(move |i| Bound::new(py, self.row(py, i)))
    }

    /// The position of the first node among `rows` whose view equals `value`.
    fn position(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        rows: std::ops::Range<usize>,
    ) -> PyResult<Option<usize>> {
        for i in rows {
            if Bound::new(py, self.row(py, i))?.eq(value)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn rows(&self) -> impl Iterator<Item = Option<&PyAttrSlice>> + '_ {
        self.ixs[self.start..self.end]
            .iter()
            .map(|&ix| self.snap.attrs(ix).map(|a| &**a))
    }

    /// Decides the column's type and fills it, from the graph's cached
    /// numeric columns (built once per shard version, shared by batches).
    fn classify(
        &self,
        id: Option<AttrId>,
        default: Option<f64>,
        cancel: &Cancel<'_>,
    ) -> Result<Column, GraphError> {
        use crate::engine::filter::num_kind as k;
        let n = self.end - self.start;
        let ixs = &self.ixs[self.start..self.end];
        let Some(id) = id else {
            // A name no node ever had: every value is missing.
            return Ok(match default {
                Some(d) => Column::Float(vec![d; n]),
                None => Column::Mixed,
            });
        };
        let cols = self.graph.columns.numeric(&self.snap.view(), id, cancel)?;
        // The values' kinds and raw bytes, in batch order. A batch of
        // consecutive indices (no `where`, no removals in its range) reads
        // the columns shard by shard, each a sequential stream.
        let (kinds, raw) = if n > 0 && (ixs[n - 1] - ixs[0]) as usize + 1 == n {
            cols.gather_range(ixs[0], n)
        } else {
            ixs.iter().map(|&ix| cols.get(ix)).unzip()
        };
        // Which kinds occur decides the column; the common all-int and
        // all-float cases reuse `raw`'s buffer as the column.
        let seen = kinds.iter().fold(0u32, |acc, &kind| acc | 1 << kind);
        if n > 0 && seen == 1 << k::INT {
            return Ok(Column::Int(raw.into_iter().map(|r| r as i64).collect()));
        }
        if n > 0 && seen == 1 << k::BOOL {
            return Ok(Column::Bool(raw.into_iter().map(|r| r != 0).collect()));
        }
        Ok(match default {
            // Bools beside other values are not numbers (DESIGN: numeric
            // is never bool): a list, as with any other mix.
            _ if seen & (1 << k::OTHER | 1 << k::BOOL) != 0 => Column::Mixed,
            Some(_) if seen == 1 << k::FLOAT => {
                Column::Float(raw.into_iter().map(f64::from_bits).collect())
            }
            Some(d) => Column::Float(
                kinds
                    .into_iter()
                    .zip(raw)
                    .map(|(kind, r)| match kind {
                        k::INT => r as i64 as f64,
                        k::FLOAT => f64::from_bits(r),
                        _ => d, // missing
                    })
                    .collect(),
            ),
            None => Column::Mixed,
        })
    }
}

impl AttrBatch {
    /// The view of row `i` (< the batch's length).
    fn row(&self, py: Python<'_>, i: usize) -> AttrView {
        let ix = self.ixs[self.start + i];
        AttrView::new(
            py,
            &self.snap,
            &self.values,
            self.snap.attrs(ix),
            (None, ix),
        )
    }

    /// `batch[index]` for an int index (anything with `__index__`, such as
    /// a numpy int, but not a bool: `batch[True]` is a mistake, not row 1).
    fn item(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<AttrView> {
        let wrong_type = || {
            PyTypeError::new_err(format!(
                "batch indices must be integers or slices, not {}",
                type_name(index)
            ))
        };
        if index.is_instance_of::<PyBool>() {
            return Err(wrong_type());
        }
        let n = (self.end - self.start) as isize;
        let out_of_range = |index| {
            PyIndexError::new_err(format!(
                "batch index {index} out of range for a batch of {n}"
            ))
        };
        let index: isize = match index.extract() {
            Ok(i) => i,
            // An int beyond isize is out of range like any other.
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
                return Err(out_of_range(index.to_string()))
            }
            Err(e) if e.is_instance_of::<PyTypeError>(py) => return Err(wrong_type()),
            Err(e) => return Err(e),
        };
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(out_of_range(index.to_string()));
        }
        Ok(self.row(py, i as usize))
    }
}

#[pymethods]
impl AttrBatch {
    fn __len__(&self) -> usize {
        self.end - self.start
    }

    /// A row's view; a slice gives a list of the rows' views (as slicing a
    /// list of them would).
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = index.cast::<pyo3::types::PySlice>() {
            let n = self.end - self.start;
            let part = slice.indices(n as isize)?;
            let rows = (0..part.slicelength).map(|k| part.start + k as isize * part.step);
            let views = rows.map(|i| self.row(py, i as usize)).collect::<Vec<_>>();
            return Ok(PyList::new(py, views)?.into_any());
        }
        Ok(Bound::new(py, self.item(py, index)?)?.into_any())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let views = self.views(py).collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, views)?.try_iter()?.into_any())
    }

    // The rest of `collections.abc.Sequence` (registered, not inherited).

    fn __reversed__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let views = self.views(py).rev().collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, views)?.try_iter()?.into_any())
    }

    fn __contains__(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self
            .position(py, value, 0..self.end - self.start)?
            .is_some())
    }

    /// The position of the first node in ``[start:stop]`` whose attributes
    /// equal ``value`` (``ValueError`` if none does), as ``list.index``.
    #[pyo3(signature = (value, start = None, stop = None, /))]
    fn index(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        // The bounds as a slice's: negative from the end, clamped, `__index__`.
        let part = py
            .get_type::<PySlice>()
            .call1((start, stop))?
            .cast_into::<PySlice>()?
            .indices((self.end - self.start) as isize)?;
        let (lo, hi) = (part.start as usize, part.stop.max(part.start) as usize);
        self.position(py, value, lo..hi)?
            .ok_or_else(|| PyValueError::new_err("value is not in the batch"))
    }

    /// How many nodes' attributes equal ``value``.
    #[pyo3(signature = (value, /))]
    fn count(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut n = 0;
        for view in self.views(py) {
            n += usize::from(view?.eq(value)?);
        }
        Ok(n)
    }

    /// The values of attribute `name` across the batch: int64 when every
    /// node has an int, bool when every node has a bool, float64 when every
    /// present value is numeric (missing ones as `default`, NaN when it is
    /// None), else a list (missing ones as `default`).
    #[pyo3(signature = (name, default = None))]
    fn column<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(s) = name.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "column: attribute name must be str, not {}",
                type_name(name)
            )));
        };
        let id = known_name_id(s.to_str()?);
        // A numeric default beyond the floats' range is an error only for a
        // column that would hold floats (an int or bool column never uses it).
        let (numeric_default, too_big) = match &default {
            None => (Some(f64::NAN), None),
            Some(d)
                if !d.is_instance_of::<PyBool>()
                    && (d.is_instance_of::<PyInt>() || d.is_instance_of::<PyFloat>()) =>
            {
                match d.extract::<f64>() {
                    Ok(x) => (Some(x), None),
                    Err(e) => (Some(f64::NAN), Some(e)),
                }
            }
            // One that stands for a number (a numpy scalar) counts as that number.
            Some(d) => match number_of(d) {
                Some(Number::Int(i)) => (Some(i as f64), None),
                Some(Number::Float(x)) => (Some(x), None),
                _ => (None, None),
            },
        };
        // Detached; the first column of a large graph is built here, so
        // Ctrl-C and cancellation are watched (`run_detached`).
        let col = run_detached(py, None, |cancel| {
            self.classify(id, numeric_default, cancel)
        })?;
        if let Some(e) = too_big {
            if !matches!(col, Column::Int(_) | Column::Bool(_)) {
                return Err(e);
            }
        }
        numpy_api(py)?;
        Ok(match col {
            Column::Int(v) => v.into_pyarray(py).into_any(),
            Column::Bool(v) => v.into_pyarray(py).into_any(),
            Column::Float(v) => v.into_pyarray(py).into_any(),
            Column::Mixed => {
                let dflt = default.unwrap_or_else(|| py.None().into_bound(py));
                let out = PyList::empty(py);
                let mut hint = 0;
                for m in self.rows() {
                    match id.and_then(|id| m.and_then(|m| m.get_from(id, &mut hint))) {
                        Some(v) => out.append(value_to_py(py, v)?)?,
                        None => out.append(&dflt)?,
                    }
                }
                out.into_any()
            }
        })
    }

    /// Pickles and copies as a list of dicts (see `AttributeView.__reduce__`).
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyList>,))> {
        let rows = PyList::empty(py);
        for row in self.rows() {
            rows.append(attrs_to_dict(py, row)?)?;
        }
        Ok((py.get_type::<PyList>().into_any(), (rows,)))
    }

    fn __repr__(&self) -> String {
        format!("<gli.AttributeBatch of {} nodes>", self.end - self.start)
    }
}

// ------------------------------------------------------------------ options

/// Validated arguments shared by both filters.
pub(crate) struct FilterArgs<'py> {
    pub predicate: Option<Bound<'py, PyAny>>,
    pub cond: Where,
    pub batch_size: usize,
}

/// The value `v` of `where[key]`.
fn where_value(
    key: &Bound<'_, PyString>,
    v: &Bound<'_, PyAny>,
    method: &str,
) -> PyResult<WhereVal> {
    if v.is_none() {
        return Ok(WhereVal::None);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(WhereVal::Bool(b.is_true()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        // Lone surrogates: equal to the stored text it is (kept as an
        // object), as Python's `==` finds it.
        return Ok(match text_or_lone_form(s)? {
            Ok(text) => WhereVal::Str(text.into()),
            Err(form) => WhereVal::Lone(form.into()),
        });
    }
    if v.is_instance_of::<PyInt>() {
        return match v.extract::<i64>() {
            Ok(i) => Ok(WhereVal::Int(i)),
            // Beyond 64 bits: the float it is exactly (2**63 == 2.0**63), or
            // its text, as stored ints beyond 64 bits are read.
            Err(_) => Ok(match big_int(v)? {
                Ok(x) => WhereVal::Float(x),
                Err(text) => WhereVal::BigInt(text.into()),
            }),
        };
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(WhereVal::Float(f.value()));
    }
    // A numpy scalar (`np.int64`, `np.bool_`, `np.float32`, ...) means its
    // Python value.
    let generic = numpy_generic(v.py())?;
    if v.is_instance(&generic)? {
        let item = v.call_method0("item")?;
        // Once: `np.longdouble(x).item()` is a new longdouble (no Python
        // type holds its value), which is no `where` value.
        if !item.is_instance(&generic)? {
            return where_value(key, &item, method);
        }
    }
    // The key as Python shows it (lone surrogates escaped), by `str`'s own
    // repr (a subclass's is not asked).
    Err(PyTypeError::new_err(format!(
        "{method}: where[{}] must be str, int, float, bool or None, not {}",
        plain_repr(key),
        type_name(v)
    )))
}

/// An int (or int subclass instance) beyond 64 bits as `where` compares it,
/// stored or asked for: `Ok` the float it equals exactly, else `Err` its
/// own value in base 16 (one int, one text; unlike base 10, no digit limit
/// refuses it).
pub(crate) fn big_int(v: &Bound<'_, PyAny>) -> PyResult<Result<f64, String>> {
    if let Some(x) = exact_float(v)? {
        return Ok(Ok(x));
    }
    let py = v.py();
    let int = py.get_type::<PyInt>().call_method1("__int__", (v,))?;
    // SAFETY: attached; `int` is an int; a new str or null with an error set.
    let text =
        unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyNumber_ToBase(int.as_ptr(), 16)) }?;
    Ok(Err(text.cast_into::<PyString>()?.to_str()?.to_owned()))
}

/// The float equal to int (or int subclass) `v`, if there is one: `v`'s
/// own value (`int.__int__`, so a subclass's `__eq__` is not asked) when
/// converting it to a float loses nothing.
fn exact_float(v: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    let py = v.py();
    let int = py.get_type::<PyInt>().call_method1("__int__", (v,))?;
    let Ok(f) = int.extract::<f64>() else {
        return Ok(None); // beyond the floats' range
    };
    let back = f.into_pyobject(py)?.call_method0("__int__")?;
    Ok(int.eq(back)?.then_some(f))
}

impl<'py> FilterArgs<'py> {
    pub(crate) fn parse(
        method: &str,
        predicate: Option<Bound<'py, PyAny>>,
        where_: Option<&Bound<'py, PyAny>>,
        batch_size: Option<&Bound<'py, PyAny>>,
        default_batch: usize,
    ) -> PyResult<Self> {
        let predicate = predicate.filter(|p| !p.is_none());
        if let Some(p) = &predicate {
            if !p.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "{method}: predicate must be callable, not {}",
                    type_name(p)
                )));
            }
        }
        let batch_size = match batch_size.filter(|b| !b.is_none()) {
            None => default_batch,
            Some(b) => {
                // An int, or an integer that converts to one (a numpy int), not
                // a bool. What its `__index__` raises, other than the
                // `TypeError` of an object that is no integer, propagates.
                let index = if b.is_instance_of::<PyBool>() {
                    None
                } else {
                    match py_index(b) {
                        Ok(i) => Some(i),
                        Err(e) if e.is_instance_of::<PyTypeError>(b.py()) => None,
                        Err(e) => return Err(e),
                    }
                };
                let Some(b) = index else {
                    return Err(PyTypeError::new_err(format!(
                        "{method}: batch_size must be an int or None, not {}",
                        type_name(b)
                    )));
                };
                let b = &b;
                if b.lt(1)? {
                    return Err(PyValueError::new_err(format!(
                        "{method}: batch_size must be at least 1, got {b}"
                    )));
                }
                // Beyond usize: larger than any graph, as usize::MAX is.
                b.extract::<usize>().unwrap_or(usize::MAX)
            }
        };
        let mut conds = Vec::new();
        if let Some(w) = where_.filter(|w| !w.is_none()) {
            let Ok(d) = w.cast::<PyDict>() else {
                return Err(PyTypeError::new_err(format!(
                    "{method}: where must be a dict of attribute values, not {}",
                    type_name(w)
                )));
            };
            for_each_item(d, |k, v| {
                let Ok(ks) = k.cast::<PyString>() else {
                    return Err(PyTypeError::new_err(format!(
                        "{method}: where keys must be attribute names (str), not {}",
                        type_name(&k)
                    )));
                };
                // A name with lone surrogates is no attribute's (names are
                // valid text): its condition matches nothing, as an id no
                // node can have is simply absent.
                let id = str_text(ks).and_then(known_name_id);
                conds.push((id, where_value(ks, &v, method)?));
                Ok(())
            })?;
        }
        Ok(Self {
            predicate,
            cond: Where::new(conds),
            batch_size,
        })
    }
}

// ------------------------------------------------------------- the batches

/// What stops a batch's per-item evaluation before its next predicate call:
/// the cancel tokens entered on the filter's calling thread (an async task's,
/// a `CancelToken`'s), or another evaluating thread's error (`stop`), so
/// that a slow predicate's batch does not run to its end after either.
struct Cancelled<'a> {
    tokens: &'a [Arc<AtomicBool>],
    stop: &'a AtomicBool,
}

impl Cancelled<'_> {
    /// Whether a cancel token is set.
    #[inline]
    fn is_set(&self) -> bool {
        super::detach::any_cancelled(self.tokens)
    }

    fn error() -> PyErr {
        pyo3::exceptions::PyKeyboardInterrupt::new_err("the query was cancelled")
    }

    /// Before a predicate call: `Err` once a token is set or another thread
    /// stopped the filter (whose error is then already the call's: see
    /// [`run_batches`], which drops this one).
    #[inline]
    fn check(&self) -> PyResult<()> {
        if self.stop.load(Ordering::Acquire) || self.is_set() {
            return Err(Self::error());
        }
        Ok(())
    }
}

/// A copy of the calling thread's `contextvars` context, which another
/// evaluating thread enters for as long as it evaluates batches: a predicate
/// then sees the caller's `ContextVar` values and `decimal` context on every
/// thread, as a task of `asyncio` or of a `concurrent.futures` executor
/// given `copy_context().run` does. What it sets there stays in the copy.
struct Context(Py<PyAny>);

impl Context {
    /// The calling thread's current context, copied (attached).
    fn of_caller(py: Python<'_>) -> PyResult<Self> {
        // SAFETY: attached; returns a new reference or NULL with an exception set.
        let ctx = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyContext_CopyCurrent()) }?;
        Ok(Self(ctx.unbind()))
    }

    /// Runs `f` inside a fresh copy of the context on this thread (a
    /// context is entered by one thread at a time).
    fn run<T>(&self, py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        // SAFETY: attached; `self.0` is a context (from `PyContext_CopyCurrent`).
        let copy = unsafe {
            Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyContext_Copy(self.0.as_ptr()))
        }?;
        // SAFETY: attached; `copy` is a context no thread has entered.
        if unsafe { pyo3::ffi::PyContext_Enter(copy.as_ptr()) } != 0 {
            return Err(PyErr::fetch(py));
        }
        let out = f();
        // SAFETY: attached; `copy` is this thread's current context, entered
        // above (a predicate that enters another one, with `Context.run`,
        // has left it again by the time it returns).
        if unsafe { pyo3::ffi::PyContext_Exit(copy.as_ptr()) } != 0 {
            let exit = PyErr::fetch(py);
            return out.and(Err(exit));
        }
        out
    }
}

/// What [`run_batches`] calls, attached, for each batch: with the
/// predicate, the batch's index and items, it returns what the batch keeps.
trait EvalBatch<T, R>:
    for<'py> Fn(Python<'py>, &Bound<'py, PyAny>, usize, &[T], &Cancelled<'_>) -> PyResult<Vec<R>> + Sync
{
}

impl<T, R, F> EvalBatch<T, R> for F where
    F: for<'py> Fn(
            Python<'py>,
            &Bound<'py, PyAny>,
            usize,
            &[T],
            &Cancelled<'_>,
        ) -> PyResult<Vec<R>>
        + Sync
{
}

/// Evaluates `items` in batches of `size`, attaching once per batch (`eval`
/// runs attached on the batch's index and items and returns what it keeps).
/// Called attached; detaches for the whole run.
///
/// With the GIL disabled, up to [`evaluation_threads`] threads pull batches,
/// the calling thread one of them; the others run in a copy of the caller's
/// `contextvars` context. The first error (a Ctrl-C included: it reaches the
/// main thread's predicate calls, or the calling thread's signal poll while
/// it waits for the others) stops every thread before its next predicate
/// call and is returned unchanged.
fn run_batches<T: Sync, R: Send>(
    py: Python<'_>,
    method: &'static str,
    pred: &Py<PyAny>,
    items: &[T],
    size: usize,
    eval: impl EvalBatch<T, R>,
) -> PyResult<Vec<R>> {
    let batches = items.len().div_ceil(size);
    // At exit (a filter in an `atexit` handler that runs after GLI's own)
    // another thread would park before its first batch, and this one would
    // wait for it forever: this thread evaluates them all then.
    let threads = match batches {
        0 | 1 => 1,
        _ if super::detach::exit_started() => 1,
        _ => evaluation_threads(py).min(batches),
    };
    let context = if threads > 1 {
        Some(Context::of_caller(py)?)
    } else {
        None
    };
    let eval = &eval;
    detach(py, || {
        run_batches_detached(method, pred, items, size, threads, context.as_ref(), eval)
    })
}

/// [`run_batches`], detached, on `threads` threads.
fn run_batches_detached<T: Sync, R: Send>(
    method: &'static str,
    pred: &Py<PyAny>,
    items: &[T],
    size: usize,
    threads: usize,
    context: Option<&Context>,
    eval: impl EvalBatch<T, R>,
) -> PyResult<Vec<R>> {
    let batches = items.len().div_ceil(size);
    let batch = |b: usize| &items[b * size..((b + 1) * size).min(items.len())];
    let next = AtomicUsize::new(0);
    // Set only after `first_err` holds the error that stops the run, so
    // that a thread that sees it never reports an error of its own first.
    let stop = AtomicBool::new(false);
    let first_err: LeafMutex<Option<PyErr>> = LeafMutex::new(None);
    let fail = |e: PyErr| {
        // A later error is dropped after the lock is let go: dropping it
        // can run Python code (`__del__`, a collection that stops the
        // world), which must not wait on the other workers waiting on
        // this lock.
        let later = {
            let mut first = first_err.lock();
            if first.is_none() {
                *first = Some(e);
                None
            } else {
                Some(e)
            }
        };
        stop.store(true, Ordering::Release);
        drop(later);
    };
    let slots: Vec<LeafMutex<Vec<R>>> = (0..batches).map(|_| LeafMutex::new(Vec::new())).collect();
    let tokens = super::detach::entered_cancel_flags();
    let cancelled = Cancelled {
        tokens: &tokens,
        stop: &stop,
    };
    // Batches traced on the other evaluating threads, logged by this one
    // once they are done: a logging handler may hold its lock while it
    // calls into GLI and waits for them (a handler that filters), so they
    // must not wait on that lock.
    let caller = std::thread::current();
    let traced: LeafMutex<Vec<(usize, usize, std::time::Duration)>> = LeafMutex::new(Vec::new());
    let claim = || {
        if stop.load(Ordering::Acquire) {
            return None;
        }
        if cancelled.is_set() {
            fail(Cancelled::error());
            return None;
        }
        let b = next.fetch_add(1, Ordering::Relaxed);
        (b < batches).then_some(b)
    };
    // Each thread attaches for its first batch and detaches between batches
    // (a brief `detach` lets other threads take the GIL, or lets a
    // stop-the-world pause proceed, then re-attaches on the same thread
    // state: cheap, unlike creating a thread state per batch).
    let worker = |context: Option<&Context>| {
        let Some(first) = claim() else { return };
        attach(|py| {
            let _calling = CallingPython::enter();
            // Each thread its own copy, made on that thread (see
            // `private_copy`): its reference count stays the thread's own.
            let pred = if threads > 1 {
                // Python code runs in the copy: at exit, park first.
                checkpoint(py);
                private_copy(pred.bind(py))
            } else {
                Ok(pred.bind(py).clone())
            };
            let pred = match pred {
                Ok(pred) => pred,
                Err(e) => return fail(e),
            };
            let evaluate = || -> PyResult<()> {
                let mut b = Some(first);
                while let Some(i) = b {
                    bump(Counter::GilReacquisitions);
                    bump(Counter::PredicateBatches);
                    // Between batches: a Ctrl-C that arrived while Rust ran.
                    let t0 = super::trace::enabled().then(std::time::Instant::now);
                    checkpoint(py);
                    let res = eval(py, &pred, i, batch(i), &cancelled)
                        .and_then(|kept| py.check_signals().map(|_| kept));
                    if let Some(t0) = t0 {
                        let (len, took) = (batch(i).len(), t0.elapsed());
                        if std::thread::current().id() == caller.id() {
                            super::trace::batch(method, i, len, took);
                        } else {
                            traced.lock().push((i, len, took));
                        }
                    }
                    *slots[i].lock() = res?;
                    b = claim();
                    if b.is_some() {
                        // Lets waiting threads have the GIL: no hand-off
                        // hint (see `detach_with`).
                        detach_with(py, false, || ());
                    }
                }
                Ok(())
            };
            let res = match context {
                Some(context) => context.run(py, evaluate),
                None => evaluate(),
            };
            if let Err(e) = res {
                fail(e);
            }
        })
    };
    if threads <= 1 {
        worker(None);
    } else {
        let running = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 1..threads {
                // Fewer evaluating threads if the system refuses one: the
                // others (this one at least) claim its batches.
                running.fetch_add(1, Ordering::AcqRel);
                let spawned = std::thread::Builder::new().spawn_scoped(s, || {
                    worker(context);
                    running.fetch_sub(1, Ordering::AcqRel);
                    caller.unpark();
                });
                if spawned.is_err() {
                    running.fetch_sub(1, Ordering::AcqRel);
                    break;
                }
            }
            worker(None);
            // The other threads' batches run on; a Ctrl-C meanwhile stops
            // them before their next predicate call (polled as a detached
            // query polls; a no-op off the main thread).
            while running.load(Ordering::Acquire) > 0 {
                std::thread::park_timeout(crate::engine::cancel::POLL);
                if running.load(Ordering::Acquire) > 0 && !stop.load(Ordering::Acquire) {
                    // `fail` attached: it may drop an error.
                    attach(|py| {
                        if let Err(e) = py.check_signals() {
                            fail(e);
                        }
                    });
                }
            }
        });
    }
    for (i, len, took) in traced.into_inner() {
        super::trace::batch(method, i, len, took);
    }
    if let Some(e) = first_err.into_inner() {
        return Err(e);
    }
    let slots: Vec<Vec<R>> = slots.into_iter().map(LeafMutex::into_inner).collect();
    let mut out = Vec::with_capacity(slots.iter().map(Vec::len).sum());
    for s in slots {
        out.extend(s);
    }
    Ok(out)
}

/// The predicate one of several evaluating threads calls: a plain Python
/// function is copied (same code, globals, defaults, keyword-only defaults,
/// closure, names, so a call behaves the same). Every call's frame takes a
/// reference to its function, and on free-threaded CPython 3.13 threads that
/// share one function contend on its reference count: two threads calling
/// one function ran at 0.76x the speed of one thread here, with a copy each
/// at 1.03x (and 1.66x vs 2.03x with private arguments). Sharing an
/// immortal one (3.13t makes a function defined at a module's top level
/// immortal once a second thread runs) was tried and measured no faster:
/// 42.6-43.3 ms for a 400,000-node filter on two threads, against 27.7-34.2
/// for copies in alternating runs (a noisy machine).
/// Anything else is shared as it is. An error while copying is the
/// filter's error: copying a plain function has no failure of its own, but
/// the copy runs Python code ([`nested_code`]'s weak dictionary), where the
/// main thread runs pending signal handlers, and what a handler raises (a
/// `KeyboardInterrupt`, a `TimeoutError` from `SIGALRM`) must not be lost.
///
/// The copy runs a code object flagged `CO_NESTED` ([`nested_code`]): 3.13t
/// gives a function of unflagged code deferred reference counting, which
/// makes it immortal once threads run, and copies of a module-level
/// function were never freed (~240 bytes per multi-batch filter).
fn private_copy<'py>(pred: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if !pred.is_exact_instance_of::<PyFunction>() {
        return Ok(pred.clone());
    }
    let attr = |name: &str| pred.getattr(name);
    let f = pred.get_type().call1((
        nested_code(&attr("__code__")?)?,
        attr("__globals__")?,
        attr("__name__")?,
        attr("__defaults__")?,
        attr("__closure__")?,
    ))?;
    // Not `__dict__`: reading it makes one, on a function that had none,
    // and nothing a call runs reaches the copy's own attributes (the body
    // names the original).
    for name in ["__kwdefaults__", "__qualname__", "__module__"] {
        f.setattr(name, attr(name)?)?;
    }
    Ok(f)
}

/// `code` flagged `CO_NESTED` (itself if it is): the same code, whose
/// functions CPython 3.13t does not count by deferral. Made once per code
/// object, file and qualified name, and kept while such code lives (on
/// 3.13t, once threads have run, code is immortal: for good): a
/// `weakref.WeakKeyDictionary` by code (whose equality leaves out the file
/// and qualified name) of dicts by `(co_filename, co_qualname)`.
/// `code.replace` per copy leaked too (43 bytes a copy, against 63 for the
/// copy of unflagged code, 0 made once).
fn nested_code<'py>(code: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    const CO_NESTED: i64 = 0x10;
    static MADE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = code.py();
    let flags: i64 = code.getattr("co_flags")?.extract()?;
    if flags & CO_NESTED != 0 {
        return Ok(code.clone());
    }
    let made = MADE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("weakref")?
                    .getattr("WeakKeyDictionary")?
                    .call0()?
                    .unbind(),
            )
        })?
        .bind(py);
    let by_name = match made.call_method1("get", (code,))? {
        found if !found.is_none() => found,
        _ => made.call_method1("setdefault", (code, PyDict::new(py)))?,
    };
    let name = (code.getattr("co_filename")?, code.getattr("co_qualname")?);
    let hit = by_name.call_method1("get", (&name,))?;
    if !hit.is_none() {
        return Ok(hit);
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("co_flags", flags | CO_NESTED)?;
    let nested = code.call_method("replace", (), Some(&kwargs))?;
    by_name.call_method1("setdefault", (name, nested))
}

/// Upper bound on predicate-evaluating threads (0: one per core), read by
/// every filter.
static MAX_EVAL_THREADS: AtomicUsize = AtomicUsize::new(0);
/// The setting as the user gave it (an `int`; `None` for one per core), so
/// that an int beyond 64 bits comes back as given, not as `usize::MAX`.
/// Written together with `MAX_EVAL_THREADS` under this leaf lock; the
/// previous value is dropped after the lock is let go.
static FILTER_THREADS_GIVEN: LeafMutex<Option<Py<PyAny>>> = LeafMutex::new(None);

/// `gli.set_filter_threads(n)`: at most `n` threads evaluate predicate
/// batches when the GIL is disabled (`None` or 0: one per core). Returns the
/// previous setting. With the GIL enabled one thread evaluates them anyway.
#[pyfunction]
#[pyo3(signature = (n = None))]
pub(crate) fn set_filter_threads(n: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    // 0 or None: one per core; an int beyond 64 bits: no cap.
    let (cap, given) = match n {
        None => (0, None),
        Some(obj) => {
            let cap = obj.extract::<IntArg>()?.count("set_filter_threads", "n")?;
            (
                cap,
                (cap != 0)
                    .then(|| py_index(obj))
                    .transpose()?
                    .map(Bound::unbind),
            )
        }
    };
    let old = {
        let mut kept = FILTER_THREADS_GIVEN.lock();
        MAX_EVAL_THREADS.store(cap, Ordering::Relaxed);
        std::mem::replace(&mut *kept, given)
    };
    Ok(old)
}

fn evaluation_threads(py: Python<'_>) -> usize {
    if !gil_disabled(py) {
        return 1;
    }
    let cores = crate::sync::cores();
    match MAX_EVAL_THREADS.load(Ordering::Relaxed) {
        0 => cores,
        cap => cap,
    }
}

/// Whether a vectorized predicate's result is a `str`, `bytes`,
/// `bytearray`, set or mapping (subclasses and ABC registrations included).
fn not_truth_values(res: &Bound<'_, PyAny>) -> PyResult<bool> {
    if res.is_exact_instance_of::<PyList>() || res.is_exact_instance_of::<PyTuple>() {
        return Ok(false);
    }
    if res.is_instance_of::<PyString>()
        || res.is_instance_of::<PyBytes>()
        || res.is_instance_of::<PyByteArray>()
    {
        return Ok(true);
    }
    let py = res.py();
    Ok(res.is_instance(&abc(py, "Set")?)? || res.is_instance(&abc(py, "Mapping")?)?)
}

/// Judges a vectorized predicate's result: one truth value per batch item.
fn truth_mask(res: &Bound<'_, PyAny>, n: usize, method: &str) -> PyResult<Vec<bool>> {
    let wrong = |got: usize| {
        PyValueError::new_err(format!(
            "{method}: the vectorized predicate returned {got} values for a batch of {n}"
        ))
    };
    numpy_api(res.py())?;
    // `numpy.ndarray` itself: a subclass (a masked array, whose hidden
    // entries iterate as the falsy `masked`) is judged item by item.
    if let Ok(arr) = res.cast_exact::<PyArray1<bool>>() {
        if arr.len() != n {
            return Err(wrong(arr.len()));
        }
        if let Ok(ro) = arr.try_readonly() {
            if let Ok(s) = ro.as_slice() {
                return Ok(s.to_vec());
            }
        }
    }
    // Sized and iterable, but no sequence of truth values: a set iterates in
    // an order of its own, a mapping its keys, a str its characters.
    if not_truth_values(res)? {
        return Err(PyTypeError::new_err(format!(
            "{method}: the vectorized predicate must return a sequence of truth values, not {}",
            type_name(res)
        )));
    }
    // No length: not a sequence. Another error from `__len__` is the user's own.
    let len = res.len().map_err(|e| {
        if !e.is_instance_of::<PyTypeError>(res.py()) {
            return e;
        }
        PyTypeError::new_err(format!(
            "{method}: the vectorized predicate must return a sequence of truth values, not {}",
            type_name(res)
        ))
    })?;
    if len != n {
        return Err(wrong(len));
    }
    let mut out = Vec::with_capacity(n);
    for item in iterate(res)? {
        out.push(item?.is_truthy()?);
    }
    if out.len() != n {
        return Err(wrong(out.len()));
    }
    Ok(out)
}

// ------------------------------------------------------------------ filters

type Engine = Graph<PyPayload>;

/// One vectorized batch: a single `predicate(ids, batch)` call judged by
/// [`truth_mask`]; keeps the ids whose value is true.
fn vectorized_batch(
    py: Python<'_>,
    pred: &Bound<'_, PyAny>,
    graph: &Arc<Engine>,
    (snap, values): (&Arc<Snapshot<PyPayload>>, &Py<Values>),
    handles: &Handles,
    (cands, start, len): (&Arc<Vec<Ix>>, usize, usize),
) -> PyResult<Vec<Py<PyAny>>> {
    add(Counter::PredicateCalls, 1);
    let _notes = ReadNotes::enter(None);
    let view = snap.view();
    let items = &cands[start..start + len];
    let ids = handles.list(py, &view, items)?;
    let batch = Bound::new(
        py,
        AttrBatch {
            graph: ManuallyDrop::new(graph.clone()),
            snap: ManuallyDrop::new(snap.clone()),
            values: values.clone_ref(py),
            ixs: cands.clone(),
            start,
            end: start + len,
        },
    )?;
    let mask = truth_mask(&pred.call1((&ids, batch))?, len, "filter_nodes")?;
    Ok(kept_ids(py, &view, handles, items, &mask, ids))
}

/// The ids of `items` that `mask` keeps, given the `ids` list the predicate
/// received. When nothing else references that list any more, each kept id
/// that is still the object the list was made with is moved out of it (its
/// reference goes to the result, no reference count touched; the list then
/// drops only the others): every id object is a likely cache miss, and this
/// touches each kept one once instead of three times. Anything else (a list
/// the predicate kept or changed) is read from the id columns again.
fn kept_ids(
    py: Python<'_>,
    view: &crate::engine::GraphView<'_, PyPayload>,
    handles: &Handles,
    items: &[Ix],
    mask: &[bool],
    ids: Bound<'_, PyList>,
) -> Vec<Py<PyAny>> {
    let list = ids.as_ptr();
    // SAFETY: `list` is a live object; we are attached.
    let sole = unsafe { pyo3::ffi::Py_REFCNT(list) } == 1 && ids.len() == items.len();
    if sole {
        // The loop leaves NULLs in the list while `handles.get` may allocate,
        // and so collect: a finalizer must not find the list through
        // `gc.get_objects()`. Untracked, the collector no longer lists it
        // (freeing it untracks it again, harmlessly).
        // SAFETY: a live, GC-tracked list; we are attached.
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(list.cast()) };
    }
    let mut out = Vec::with_capacity(mask.iter().filter(|&&k| k).count());
    for (j, (&ix, &keep)) in items.iter().zip(mask).enumerate() {
        if !keep {
            continue;
        }
        if sole {
            let want = handles.addr(ix);
            // SAFETY: `j` < the list's length (checked); ours is its only
            // reference, so no other code can read or change it meanwhile.
            let item = unsafe { pyo3::ffi::PyList_GET_ITEM(list, j as isize) };
            if !want.is_null() && item == want {
                // SAFETY: as above; the list's reference moves to `out`, and
                // the NULL left behind is skipped when the list is freed.
                unsafe { pyo3::ffi::PyList_SET_ITEM(list, j as isize, std::ptr::null_mut()) };
                out.push(unsafe { Bound::from_owned_ptr(py, item) }.unbind());
                continue;
            }
        }
        out.push(handles.get(py, view, ix).unbind());
    }
    out
}

/// One batch of per-node calls `predicate(id, attributes)`; keeps the ids
/// whose result is truthy.
/// Counts the predicate calls a batch made into `predicate_calls` when it
/// ends, by return or by the predicate's exception (a batch the predicate
/// stops made fewer calls than it has items).
struct Calls(u64);

impl Drop for Calls {
    fn drop(&mut self) {
        add(Counter::PredicateCalls, self.0);
        flush_column_reads();
    }
}

/// Adds this thread's reads served by value columns to the `column_reads`
/// counter: at the end of each predicate batch (a read is one field
/// increment, in the thread's read cache, already borrowed) and when
/// `gli.counters()` is read.
pub(crate) fn flush_column_reads() {
    let n = READ_CACHE
        .try_with(|c| {
            c.try_borrow_mut()
                .map(|mut c| std::mem::take(&mut c.served))
        })
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    if n > 0 {
        add(Counter::ColumnReads, n);
    }
}

/// What a batch's predicate reads, noted on this thread while the batch
/// runs: the names, for the first batch of a large per-node filter
/// (`Some`: see `ColumnCache::note_reads`); nothing, for every other batch.
/// Entered around each batch, so that a filter the predicate runs (its
/// batches, large or small, per-node, vectorized or of edges) notes
/// nothing for the filter around it; the outer state is put back when the
/// batch is done.
struct ReadNotes<'a> {
    cache: Option<&'a ColumnCache>,
    outer: (bool, Vec<AttrId>),
}

impl<'a> ReadNotes<'a> {
    fn enter(cache: Option<&'a ColumnCache>) -> Self {
        let outer = READ_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            (
                std::mem::replace(&mut c.learning, cache.is_some()),
                std::mem::take(&mut c.read),
            )
        });
        Self { cache, outer }
    }
}

impl Drop for ReadNotes<'_> {
    fn drop(&mut self) {
        let (learning, read) = std::mem::take(&mut self.outer);
        let read = READ_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.learning = learning;
            std::mem::replace(&mut c.read, read)
        });
        if let Some(cache) = self.cache {
            cache.note_reads(&read);
        }
    }
}

/// At most this many names a predicate reads get value columns.
const MAX_LEARNED: usize = 4;

/// A per-node filter of at least this many candidates reads value columns
/// and notes the names its predicate reads (smaller ones would spend more
/// on the columns than they save).
const COLUMNS_MIN: usize = 1 << 10;

fn per_node_batch(
    py: Python<'_>,
    pred: &Bound<'_, PyAny>,
    (snap, values): (&Arc<Snapshot<PyPayload>>, &Py<Values>),
    items: &[Ix],
    (cols, learn): (Option<&Arc<ValueColumns>>, Option<&ColumnCache>),
    cancelled: &Cancelled<'_>,
) -> PyResult<Vec<Py<PyAny>>> {
    let _notes = ReadNotes::enter(learn);
    let mut calls = Calls(0);
    let view = snap.view();
    let mut out = Vec::with_capacity(items.len());
    let mut spare = None;
    // With columns, reads that they serve never reach the maps: loading the
    // maps ahead would cost what the columns save.
    let maps_ahead = cols.is_none();
    for (i, &ix) in items.iter().enumerate() {
        // Records some nodes ahead, their attribute maps nearer: both then
        // arrive while the predicate runs (maps of many attributes sit a page
        // or more apart, and no hardware prefetcher follows them). On the
        // 2026-11-27 machine, nodes of 100 attributes took 170-192 ns each
        // with the records 8 ahead and the maps 4 ahead, 141-164 (median
        // 157) with 24 and 12, 145-173 with 32 and 16; nodes of 2
        // attributes 85-90 ns with any of them.
        if let Some(&ahead) = items.get(i + 24) {
            view.prefetch_rec(ahead);
        }
        if maps_ahead {
            if let Some(&ahead) = items.get(i + 12) {
                view.prefetch_attrs(ahead);
            }
        }
        checkpoint(py);
        cancelled.check()?;
        let id = node_obj(py, &view, ix);
        let attrs = AttrView::reuse(py, &mut spare, snap, values, view.attrs(ix), (cols, ix))?;
        calls.0 += 1;
        if pred.call1((&id, attrs))?.is_truthy()? {
            out.push(id.unbind());
        }
    }
    Ok(out)
}

/// A `where`-only result of fewer than 1 / this of the graph's nodes takes
/// its id objects from the records when the id columns are stale.
const FEW_RESULTS: usize = 64;

pub(crate) fn filter_nodes<'py>(
    py: Python<'py>,
    graph: &Arc<Engine>,
    (cache, values): (&HandleCache, &Py<Values>),
    args: FilterArgs<'py>,
    vectorized: bool,
) -> PyResult<Bound<'py, PyList>> {
    if vectorized && args.predicate.is_none() {
        return Err(PyValueError::new_err(
            "filter_nodes: vectorized=True needs a predicate",
        ));
    }
    let cond = &args.cond;
    // A large per-node predicate filter reads the names the last one read
    // from value columns (built now if need be, detached).
    let per_node = args.predicate.is_some() && !vectorized;
    let large = |cands: &[Ix]| per_node && cands.len() >= COLUMNS_MIN;
    let (snap, (cands, cols)) = on_snapshot(py, graph, |view, cancel| {
        let cands = scan_nodes_cached(view, cond, &graph.columns, cancel)?;
        let cols = if large(&cands) {
            Some(graph.columns.values(view, cancel)?).filter(|c| !c.is_empty())
        } else {
            None
        };
        Ok((cands, cols.map(Arc::new)))
    })?;
    // A large per-node filter's first batch notes what its predicate reads.
    let learn = large(&cands).then_some(&graph.columns);
    let view = snap.view();
    let Some(pred) = args.predicate else {
        // From the id columns; but a few results right after a write take
        // each id object from its record (rebuilding a 1M-node graph's
        // columns after a write per shard cost more than the scan, even
        // for an empty result). A call with a large result rebuilds them.
        if cands.len() < snap.node_count() / FEW_RESULTS && cache.written_since(&view) {
            return PyList::new(py, cands.iter().map(|&ix| node_obj(py, &view, ix)));
        }
        return cache.of(py, &view)?.list(py, &view, &cands);
    };
    // Vectorized batches hand out whole id lists: from the id columns.
    let handles = vectorized.then(|| cache.of(py, &view)).transpose()?;
    drop(view);
    let (snap, cands) = (Arc::new(snap), Arc::new(cands));
    let pred = pred.unbind();
    let bs = args.batch_size;
    let kept: Vec<Py<PyAny>> = run_batches(
        py,
        "filter_nodes",
        &pred,
        &cands,
        bs,
        |py, pred, b, items, cancelled| match &handles {
            Some(handles) => {
                let batch = (&cands, b * bs, items.len());
                vectorized_batch(py, pred, graph, (&snap, values), handles, batch)
            }
            None => {
                let learn = learn.filter(|_| b == 0);
                let how = (cols.as_ref(), learn);
                per_node_batch(py, pred, (&snap, values), items, how, cancelled)
            }
        },
    )?;
    PyList::new(py, kept)
}

pub(crate) fn filter_edges<'py>(
    py: Python<'py>,
    graph: &Engine,
    values: &Py<Values>,
    args: FilterArgs<'py>,
) -> PyResult<Bound<'py, PyList>> {
    let cond = &args.cond;
    let (snap, cands) = on_snapshot(py, graph, |view, cancel| scan_edges(view, cond, cancel))?;
    let snap = Arc::new(snap);
    let Some(pred) = args.predicate else {
        let view = snap.view();
        let pairs = cands
            .iter()
            .map(|&(s, t)| PyTuple::new(py, [node_obj(py, &view, s), node_obj(py, &view, t)]))
            .collect::<PyResult<Vec<_>>>()?;
        return PyList::new(py, pairs);
    };
    let pred = pred.unbind();
    let kept: Vec<Py<PyTuple>> = run_batches(
        py,
        "filter_edges",
        &pred,
        &cands,
        args.batch_size,
        |py, pred, _, items, cancelled| {
            let _notes = ReadNotes::enter(None);
            let view = snap.view();
            let mut calls = Calls(0);
            let mut out = Vec::with_capacity(items.len());
            let mut spare = None;
            for &(s, t) in items {
                checkpoint(py);
                cancelled.check()?;
                let (si, ti) = (node_obj(py, &view, s), node_obj(py, &view, t));
                let edge = view.edge_attrs(s, t);
                let attrs = AttrView::reuse(py, &mut spare, &snap, values, edge, (None, 0))?;
                calls.0 += 1;
                if pred.call1((&si, &ti, attrs))?.is_truthy()? {
                    out.push(PyTuple::new(py, [si, ti])?.unbind());
                }
            }
            Ok(out)
        },
    )?;
    PyList::new(py, kept)
}
