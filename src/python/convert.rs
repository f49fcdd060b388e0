//! Conversions between Python objects and engine values.
//!
//! Everything here runs attached; nothing here takes an engine lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::ManuallyDrop;

use pyo3::exceptions::{
    PyOverflowError, PyRuntimeError, PyTypeError, PyUnicodeEncodeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::values::Home;
use crate::engine::{self, AttrId, AttrMap, NodeId, NodeRef, Number, Value};
use crate::sync::{Arc, ArcSwap, AtomicBool, AtomicU8, LazyLock, LeafMutex, Ordering};

/// The opaque payload: a Python object the engine does not model. The `Arc`
/// makes engine-side clones free of the interpreter.
pub(crate) type PyPayload = Arc<Opaque>;

/// An attribute value the engine stores as an object: a strong reference.
///
/// The engine drops values wherever it is: under shard locks, on rayon
/// workers, detached. Releasing a reference there could run any Python code
/// (`__del__`, weakref callbacks) while a lock is held, or need the
/// interpreter on a thread that is not attached. So the last reference is
/// not released where it is dropped: it is queued, and [`release_queued`]
/// releases the queue at the binding's safe points, attached with no lock
/// held: when any GLI call returns (`trace::Call`'s drop), when a graph is
/// freed, and when the last view of a snapshot goes (`filter::let_go`).
///
/// An attribute value's object is also registered in its graph's
/// [`Home`] from when it is made until it is released, so that the garbage
/// collector sees it (`values.rs`).
pub(crate) struct Opaque {
    obj: ManuallyDrop<Py<PyAny>>,
    /// What an attribute value stands for ([`stands_for`]).
    stands: Stands,
    /// Where `obj` is registered for the garbage collector, and its slot
    /// (`values.rs`); none for an id's object (an exact `str` or `int`).
    home: Option<(Arc<Home>, u32)>,
}

/// The scalar an attribute value kept as an object equals under `==`, if
/// any: worked out once, attached, when it is stored.
enum Stands {
    Nothing,
    /// [`number_of`].
    Number(Number),
    /// [`engine::Equiv`]'s cases.
    Str(Box<str>),
    Float(f64),
    BigInt(Box<str>),
    /// A `str` with lone surrogates, by [`lone_form`].
    Lone(Box<str>),
}

impl Opaque {
    pub(crate) fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.obj.bind(py)
    }

    pub(crate) fn as_ptr(&self) -> *mut pyo3::ffi::PyObject {
        self.obj.as_ptr()
    }
}

impl engine::Payload for PyPayload {
    #[inline]
    fn number(&self) -> Option<Number> {
        match self.stands {
            Stands::Number(n) => Some(n),
            _ => None,
        }
    }

    #[inline]
    fn equiv(&self) -> Option<engine::Equiv<'_>> {
        match &self.stands {
            Stands::Str(s) => Some(engine::Equiv::Str(s)),
            Stands::Float(x) => Some(engine::Equiv::Float(*x)),
            Stands::BigInt(t) => Some(engine::Equiv::BigInt(t)),
            Stands::Lone(t) => Some(engine::Equiv::Lone(t)),
            Stands::Nothing | Stands::Number(_) => None,
        }
    }
}

impl Drop for Opaque {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is never used again.
        let obj = unsafe { ManuallyDrop::take(&mut self.obj) };
        // The object stays registered until it is released, attached: the
        // collector must never see it leave while a detached thread drops it.
        RELEASE.lock().push((obj, self.home.take()));
        RELEASE_PENDING.store(true, Ordering::Release);
    }
}

/// The engine's payload for a node's cached id object.
pub(crate) fn payload(obj: &Bound<'_, PyAny>) -> PyPayload {
    Arc::new(Opaque {
        obj: ManuallyDrop::new(obj.clone().unbind()),
        stands: Stands::Nothing,
        home: None,
    })
}

/// The engine's payload for an attribute value it does not store natively,
/// registered in `home`, its graph's (see `values.rs`).
pub(crate) fn value_payload(obj: &Bound<'_, PyAny>, home: &Arc<Home>) -> PyPayload {
    let stands = stands_for(obj);
    let obj = obj.clone();
    // An object the collector does not track (a numpy scalar, a big int, a
    // `str` subclass without a `__dict__`) refers to nothing, so it is in no
    // cycle, and the collector would ignore a report of it: it is not
    // registered (no lock, no slot).
    // SAFETY: attached, `obj` a live object.
    let tracked = unsafe { pyo3::ffi::PyObject_IS_GC(obj.as_ptr()) } != 0;
    let home = tracked.then(|| (home.clone(), home.add(&obj)));
    Arc::new(Opaque {
        obj: ManuallyDrop::new(obj.unbind()),
        stands,
        home,
    })
}

/// What `where` reads an attribute value kept as an object as: the number
/// it stands for ([`number_of`]); else a `str` subclass instance's own text
/// (`np.str_("a")` equals `"a"`; its `__eq__` is not asked, as for `where`
/// values); else an `int` beyond 64 bits (or a numpy integer's value beyond
/// them) by [`super::filter::big_int`]; text with lone surrogates by
/// [`lone_form`]. Any other object equals nothing.
fn stands_for(obj: &Bound<'_, PyAny>) -> Stands {
    if let Some(n) = number_of(obj) {
        return Stands::Number(n);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return match text_or_lone_form(s) {
            Ok(Ok(text)) => Stands::Str(text.into()),
            Ok(Err(form)) => Stands::Lone(form.into()),
            Err(_) => Stands::Nothing,
        };
    }
    let big = |int: &Bound<'_, PyAny>| match super::filter::big_int(int) {
        Ok(Ok(x)) => Stands::Float(x),
        Ok(Err(text)) => Stands::BigInt(text.into()),
        Err(_) => Stands::Nothing, // a failure to read it: equal to nothing
    };
    if obj.is_instance_of::<PyInt>() {
        return big(obj);
    }
    // A numpy integer beyond 64 signed bits (`np.uint64(2**64 - 1)`).
    if super::filter::is_numpy_number(obj) {
        if let Ok(item) = obj.call_method0("item") {
            if item.is_exact_instance_of::<PyInt>() {
                return big(&item);
            }
        }
    }
    Stands::Nothing
}

/// The number an attribute value the engine keeps as an object stands for,
/// so that `where`, numeric columns and weights read it as Python's `==`
/// and NetworkX do: an `int` (of 64 bits) or `float` subclass instance's own
/// value (its `__eq__` is not asked, as for `where` values), and a numpy
/// number's or bool's Python value (`.item()`) when that is a `bool`, an
/// `int` of 64 bits or a `float` (a `datetime64` or `timedelta64` is no
/// number, whatever its `.item()`). An `int` beyond 64 bits is no number
/// (DESIGN: "numeric" is a 64-bit int or a float), and a `bool` is a bool,
/// not the int it subclasses (a default given for a column, say).
pub(crate) fn number_of(obj: &Bound<'_, PyAny>) -> Option<Number> {
    if let Ok(b) = obj.cast::<PyBool>() {
        return Some(Number::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        let mut overflow = 0;
        // SAFETY: attached, `obj` a live int (or subclass): its value is read
        // without calling into Python, and overflow is reported, not raised.
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        return (overflow == 0).then_some(Number::Int(v));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Some(Number::Float(f.value()));
    }
    if !super::filter::is_numpy_number(obj) {
        return None;
    }
    let item = obj.call_method0("item").ok()?;
    if item.is_exact_instance_of::<PyBool>() {
        Some(Number::Bool(item.is_truthy().ok()?))
    } else if item.is_exact_instance_of::<PyInt>() || item.is_exact_instance_of::<PyFloat>() {
        number_of(&item)
    } else {
        None
    }
}

/// Opaque values dropped and not yet released (see [`Opaque`]). A leaf lock:
/// held only to push or to take the whole queue.
static RELEASE: LeafMutex<Vec<Released>> = LeafMutex::new(Vec::new());

/// A dropped opaque value's object and where it is registered.
type Released = (Py<PyAny>, Option<(Arc<Home>, u32)>);
/// Whether [`RELEASE`] may hold something (read on every safe point).
static RELEASE_PENDING: AtomicBool = AtomicBool::new(false);

/// Releases the opaque values dropped since the last call (see [`Opaque`]).
/// Call it attached and holding no lock: it can run any Python code,
/// including code that calls back into GLI.
#[inline]
pub(crate) fn release_queued(py: Python<'_>) {
    if RELEASE_PENDING.load(Ordering::Acquire) {
        release_all(py);
    }
}

#[cold]
#[inline(never)]
fn release_all(py: Python<'_>) {
    let objs = {
        let mut queue = RELEASE.lock();
        RELEASE_PENDING.store(false, Ordering::Relaxed);
        std::mem::take(&mut *queue)
    };
    // Each release may run a `__del__`: Python code, which must not meet a
    // daemon thread's exit unwind in GLI's frames (see `detach.rs`), nor
    // inherit the cancellation tokens of the query that let the value go.
    let _calling = super::detach::CallingPython::enter();
    super::detach::without_tokens(|| {
        for (obj, home) in objs {
            super::detach::checkpoint(py);
            if let Some((home, slot)) = &home {
                home.remove(py, *slot);
            }
            obj.drop_ref(py);
        }
    });
}

pub(crate) type PyValue = Value<PyPayload>;
pub(crate) type PyAttrMap = AttrMap<PyPayload>;
pub(crate) type PyAttrSlice = engine::AttrSlice<PyPayload>;
pub(crate) type PySharedAttrs = engine::SharedAttrs<PyPayload>;

/// Native containers nest at most this deep (guards against recursive lists).
pub(crate) const MAX_DEPTH: u32 = 100;

// ------------------------------------------------------------------ node ids

/// The name of `obj`'s type, for error messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn bad_id_type(obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "node id must be str or int, not {}",
        type_name(obj)
    ))
}

/// Borrows a node id from `obj` without allocating. `bool` is rejected; int
/// and str subclasses are accepted.
///
/// Always inlined, with the rare cases out of line: a call returning the
/// `PyResult<NodeRef>` through memory cost a store-forwarding stall (about
/// 5 ns) in every point query.
#[inline(always)]
pub(crate) fn node_ref<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<NodeRef<'a>> {
    node_ref_borrowed(obj.as_borrowed())
}

/// [`node_ref`] of an object borrowed for `'a` (a tuple's item, say): the
/// id's text borrows from the object, which outlives `'a`.
#[inline(always)]
pub(crate) fn node_ref_borrowed<'a>(obj: Borrowed<'a, '_, PyAny>) -> PyResult<NodeRef<'a>> {
    // SAFETY: `obj` is a live object for 'a and we are attached.
    unsafe {
        let ptr = obj.as_ptr();
        // Exact ints, the common id type of bulk loads.
        if let Some(v) = exact_int(obj) {
            return Ok(NodeRef::Int(v));
        }
        if pyo3::ffi::PyUnicode_CheckExact(ptr) != 0 {
            if let Some(text) = utf8(ptr) {
                return Ok(NodeRef::Str(text));
            }
            // A str with lone surrogates: the slow path raises its error.
            pyo3::ffi::PyErr_Clear();
        }
    }
    node_ref_slow(obj)
}

/// The value of `obj` if it is an exact `int` that fits an `i64`. Returned
/// in registers: callers that only want ints avoid building a [`NodeRef`]
/// in memory (a 24-byte enum written in halves and read whole stalls the
/// store buffer, ~5 ns per id in bulk loops).
#[inline(always)]
pub(crate) fn exact_int(obj: Borrowed<'_, '_, PyAny>) -> Option<i64> {
    let ptr = obj.as_ptr();
    // SAFETY: `obj` is a live object and we are attached; an exact int
    // converts without raising (overflow is reported in `overflow`).
    unsafe {
        if pyo3::ffi::PyLong_CheckExact(ptr) == 0 {
            return None;
        }
        let mut overflow = 0;
        let v = pyo3::ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflow);
        (overflow == 0).then_some(v)
    }
}

/// The UTF-8 text of str object `ptr` (`None` with a Python error set when
/// it has none, e.g. lone surrogates).
///
/// # Safety
/// `ptr` is a live `str` (or subclass) for `'a`, and the caller is attached.
/// CPython keeps the UTF-8 buffer as long as the object.
#[inline(always)]
unsafe fn utf8<'a>(ptr: *mut pyo3::ffi::PyObject) -> Option<&'a str> {
    let mut len: pyo3::ffi::Py_ssize_t = 0;
    let data = unsafe { pyo3::ffi::PyUnicode_AsUTF8AndSize(ptr, &mut len) };
    (!data.is_null()).then(|| unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data as *const u8, len as usize))
    })
}

/// Why an object names no node (see [`id_of`]).
enum NotAnId {
    /// A `str` with lone surrogates; its `UnicodeEncodeError` is set.
    Unencodable,
    /// An `int` beyond 64 bits.
    Overflow,
    /// Neither `str` nor `int` (nor a subclass), or a `bool`.
    WrongType,
}

/// The id `obj` names, read without making a `PyErr` (a discarded one
/// would be one more object for PyO3's pool in the hand-written entries,
/// see `methods::enter`): [`node_ref`] raises the reason, [`node_ref_lenient`]
/// drops it.
#[inline]
fn id_of<'a>(obj: Borrowed<'a, '_, PyAny>) -> Result<NodeRef<'a>, NotAnId> {
    if let Some(v) = exact_int(obj) {
        return Ok(NodeRef::Int(v));
    }
    if obj.is_instance_of::<PyString>() {
        // SAFETY: a live str for 'a; attached.
        return unsafe { utf8(obj.as_ptr()) }
            .map(NodeRef::Str)
            .ok_or(NotAnId::Unencodable);
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        let mut overflow = 0;
        // SAFETY: a live int (a subclass converts without running Python
        // code); attached.
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        return if overflow == 0 {
            Ok(NodeRef::Int(v))
        } else {
            Err(NotAnId::Overflow)
        };
    }
    Err(NotAnId::WrongType)
}

/// [`node_ref`] for everything but exact `int`s in range and encodable
/// exact `str`s.
#[cold]
#[inline(never)]
fn node_ref_slow<'a>(obj: Borrowed<'a, '_, PyAny>) -> PyResult<NodeRef<'a>> {
    id_of(obj).map_err(|why| match why {
        NotAnId::Unencodable => PyErr::fetch(obj.py()),
        NotAnId::Overflow => PyOverflowError::new_err(format!(
            "node id {} does not fit in a signed 64-bit integer",
            plain_repr(&obj)
        )),
        NotAnId::WrongType => bad_id_type(&obj),
    })
}

/// The UTF-8 text of `s`, or `None` (no error left set, no `PyErr` made)
/// when it has lone surrogates: for lookups where such a string simply
/// matches nothing.
#[inline]
pub(crate) fn str_text<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    // SAFETY: a live str borrowed for 'a; attached.
    let text = unsafe { utf8(s.as_ptr()) };
    if text.is_none() {
        // SAFETY: attached; `utf8` left an error set.
        unsafe { pyo3::ffi::PyErr_Clear() };
    }
    text
}

/// Whether `s` holds a lone surrogate, so that it has no UTF-8 text: read
/// in place, making no object (asking for its UTF-8 would make the
/// `UnicodeEncodeError` of such a string, a tracked object, and so could
/// start a collection). Latin-1 strings, most of them, are answered by
/// their kind alone.
#[inline]
pub(crate) fn has_lone_surrogate(s: &Bound<'_, PyString>) -> bool {
    use pyo3::types::string::PyStringData;
    const SURROGATES: std::ops::RangeInclusive<u32> = 0xD800..=0xDFFF;
    // SAFETY: attached; `s` is a live str, which CPython never changes, and
    // the data is read while it is borrowed.
    match unsafe { s.data() } {
        Ok(PyStringData::Ucs1(_)) => false,
        Ok(PyStringData::Ucs2(units)) => units.iter().any(|&u| SURROGATES.contains(&u32::from(u))),
        Ok(PyStringData::Ucs4(units)) => units.iter().any(|u| SURROGATES.contains(u)),
        // A string not ready to read (3.11's legacy strings, out of
        // memory): no text this can vouch for.
        Err(_) => true,
    }
}

/// `s`'s text (`Ok`), or, when it has lone surrogates, its [`lone_form`]
/// (`Err`): how `where` compares a str, stored or asked for.
pub(crate) fn text_or_lone_form<'a>(
    s: &'a Bound<'_, PyString>,
) -> PyResult<Result<&'a str, String>> {
    if has_lone_surrogate(s) {
        return lone_form(s).map(Err);
    }
    s.to_str().map(Ok)
}

/// The form `where` compares text with lone surrogates by, which Rust's
/// `str` cannot hold ([`engine::Equiv::Lone`]): its UTF-8 bytes with the
/// surrogates passed through (Python's `surrogatepass`), in hex. One text,
/// one form, and no form of valid text, which is compared as itself.
fn lone_form(s: &Bound<'_, PyString>) -> PyResult<String> {
    use std::fmt::Write;
    // SAFETY: attached, `s` a live str; a new bytes object, or null with an
    // error set.
    let bytes = unsafe {
        Bound::from_owned_ptr_or_err(
            s.py(),
            pyo3::ffi::PyUnicode_AsEncodedString(
                s.as_ptr(),
                c"utf-8".as_ptr(),
                c"surrogatepass".as_ptr(),
            ),
        )
    }?;
    let bytes = bytes.cast_into::<pyo3::types::PyBytes>()?;
    let mut form = String::with_capacity(2 * bytes.as_bytes().len());
    for b in bytes.as_bytes() {
        let _ = write!(form, "{b:02x}");
    }
    Ok(form)
}

/// The ids of `objs` for a lookup: a wrong type raises `TypeError` (every
/// id's type checked first, in order); then an `int` beyond 64 bits or a
/// `str` with a lone surrogate, which no node can have, raises as the
/// missing node it names (`missing(index)`), the first such id first.
#[inline]
pub(crate) fn lookup_refs<'a, const N: usize>(
    objs: [&'a Bound<'_, PyAny>; N],
    missing: impl FnOnce(usize) -> PyErr,
) -> PyResult<[NodeRef<'a>; N]> {
    let mut got: [Option<NodeRef<'a>>; N] = [const { None }; N];
    for (slot, obj) in got.iter_mut().zip(objs) {
        *slot = lookup_ref(obj)?;
    }
    if let Some(i) = got.iter().position(Option::is_none) {
        return Err(missing(i));
    }
    Ok(got.map(|id| id.expect("every id was checked above")))
}

/// The id `obj` names for a lookup: `Ok(None)` for an `int` beyond 64 bits
/// or a `str` with a lone surrogate (no node can have it; no error left
/// set), `TypeError` for anything but an `int` or `str`.
#[inline]
pub(crate) fn lookup_ref<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Option<NodeRef<'a>>> {
    lookup_id(obj).map_err(|WrongType| bad_id_type(obj))
}

/// An object that is neither `str` nor `int` (nor a subclass), or a `bool`.
struct WrongType;

/// [`id_of`] for a lookup: `Ok(None)` for an id no node can have (no error
/// left set), `Err` for a wrong type (no error made).
#[inline]
fn lookup_id<'a>(obj: &'a Bound<'_, PyAny>) -> Result<Option<NodeRef<'a>>, WrongType> {
    match id_of(obj.as_borrowed()) {
        Ok(id) => Ok(Some(id)),
        Err(NotAnId::Unencodable) => {
            // SAFETY: attached; `id_of` left the encoding error set.
            unsafe { pyo3::ffi::PyErr_Clear() };
            Ok(None)
        }
        Err(NotAnId::Overflow) => Ok(None),
        Err(NotAnId::WrongType) => Err(WrongType),
    }
}

/// [`lookup_refs`] of one node: `NodeNotFoundError` for an id no node can have.
#[inline]
pub(crate) fn lookup_node<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<NodeRef<'a>> {
    let [id] = lookup_refs([obj], |_| node_not_found(obj))?;
    Ok(id)
}

/// [`lookup_refs`] of two nodes that must exist (an edge's endpoints, a
/// path's ends): `NodeNotFoundError` naming the first id no node can have.
#[inline]
pub(crate) fn lookup_nodes<'a>(
    a: &'a Bound<'_, PyAny>,
    b: &'a Bound<'_, PyAny>,
) -> PyResult<(NodeRef<'a>, NodeRef<'a>)> {
    let [s, t] = lookup_refs([a, b], |i| node_not_found([a, b][i]))?;
    Ok((s, t))
}

/// [`lookup_refs`] of an edge's endpoints: `EdgeNotFoundError` when either
/// is an id no node can have.
#[inline]
pub(crate) fn lookup_edge<'a>(
    a: &'a Bound<'_, PyAny>,
    b: &'a Bound<'_, PyAny>,
) -> PyResult<(NodeRef<'a>, NodeRef<'a>)> {
    let [s, t] = lookup_refs([a, b], |_| edge_not_found(a, b))?;
    Ok((s, t))
}

#[cold]
pub(crate) fn edge_not_found(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyErr {
    super::errors::EdgeNotFoundError::new_err(format!(
        "Edge {} -> {} not found",
        plain_repr(a),
        plain_repr(b)
    ))
}

#[cold]
pub(crate) fn node_not_found(obj: &Bound<'_, PyAny>) -> PyErr {
    super::errors::NodeNotFoundError::new_err(format!("Node {} not found", plain_repr(obj)))
}

/// The repr of the plain `int` or `str` value of `obj` (an instance of
/// either or of a subclass), as a stored id of that value prints.
pub(crate) fn plain_repr(obj: &Bound<'_, PyAny>) -> String {
    let py = obj.py();
    let of = |ty: Bound<'_, pyo3::types::PyType>| {
        ty.getattr("__repr__")
            .and_then(|r| r.call1((obj,)))
            .map(|r| r.to_string())
    };
    if obj.is_instance_of::<PyInt>() {
        // An int past CPython's digit limit for `repr` (`ValueError`) is
        // named by its size.
        return of(py.get_type::<PyInt>()).unwrap_or_else(|_| {
            py.get_type::<PyInt>()
                .getattr("bit_length")
                .and_then(|f| f.call1((obj,)))
                .map_or_else(|_| "<id>".into(), |b| format!("<an int of {b} bits>"))
        });
    }
    of(py.get_type::<PyString>()).unwrap_or_else(|_| "<id>".into())
}

/// `node_ref` for lookups that never raise: `None` is "cannot be a node".
#[inline]
pub(crate) fn node_ref_lenient<'a>(obj: &'a Bound<'_, PyAny>) -> Option<NodeRef<'a>> {
    lookup_id(obj).ok().flatten()
}

#[inline]
pub(crate) fn node_id(obj: &Bound<'_, PyAny>) -> PyResult<NodeId> {
    Ok(node_ref(obj)?.to_owned_id())
}

/// The Python object for an id.
#[inline]
pub(crate) fn id_to_py<'py>(py: Python<'py>, id: &NodeId) -> Bound<'py, PyAny> {
    match id {
        NodeId::Int(i) => i.into_pyobject(py).expect("int conversion").into_any(),
        NodeId::Str(s) => PyString::new(py, s).into_any(),
    }
}

/// `operator.index(obj)`: the exact `int` an integer (a numpy int too)
/// stands for; `TypeError` for anything else.
pub(crate) fn py_index<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: attached; a new reference, or null with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(obj.py(), pyo3::ffi::PyNumber_Index(obj.as_ptr())) }
}

/// An int argument (`k`, `depth_limit`, `max_iter`, `n`), extracted as an
/// `i64` parameter is, except that what it cannot be is kept for
/// [`IntArg::count`]'s error, which names the method, the argument and the
/// value (PyO3's names neither in its message): an object of another type
/// (a `bool` too: `k=True` is a slip, not a count of 1), or an int beyond
/// 64 bits, as its sign and text.
pub(crate) struct IntArg(Result<i64, NotI64>);

enum NotI64 {
    /// An int beyond 64 bits: whether negative, and its text.
    Big(bool, String),
    /// The name of the type of what was given.
    Type(String),
}

impl<'a, 'py> FromPyObject<'a, 'py> for IntArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        if obj.is_instance_of::<PyBool>() {
            return Ok(Self(Err(NotI64::Type(type_name(&obj)))));
        }
        match obj.extract::<i64>() {
            Ok(i) => Ok(Self(Ok(i))),
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
                let exact = py_index(&obj)?;
                Ok(Self(Err(NotI64::Big(
                    exact.lt(0)?,
                    exact.str()?.to_string(),
                ))))
            }
            Err(e) if e.is_instance_of::<PyTypeError>(py) => {
                Ok(Self(Err(NotI64::Type(type_name(&obj)))))
            }
            Err(e) => Err(e),
        }
    }
}

impl IntArg {
    pub(crate) const fn new(v: i64) -> Self {
        Self(Ok(v))
    }

    /// A count: `TypeError` for what is not an int, `ValueError` naming the
    /// value when negative; an int beyond 64 bits is larger than any graph
    /// (`usize::MAX`: no bound).
    pub(crate) fn count(&self, method: &str, name: &str) -> PyResult<usize> {
        let negative = |shown: &dyn std::fmt::Display| {
            PyValueError::new_err(format!("{method}: {name} must be >= 0, got {shown}"))
        };
        match &self.0 {
            Ok(i) => usize::try_from(*i).map_err(|_| negative(i)),
            Err(NotI64::Big(true, text)) => Err(negative(text)),
            Err(NotI64::Big(false, _)) => Ok(usize::MAX),
            Err(NotI64::Type(ty)) => Err(PyTypeError::new_err(format!(
                "{method}: {name} must be an int, not {ty}"
            ))),
        }
    }
}

/// A `str` argument (an attribute name, a backend), extracted as PyO3's
/// `&str` is, except that anything else is kept, as its type's name, for
/// [`StrArg::value`]'s error, which names the method and the argument
/// (PyO3's said neither: "'int' object is not an instance of 'str'").
pub(crate) struct StrArg(Result<String, String>);

impl<'a, 'py> FromPyObject<'a, 'py> for StrArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Self(match obj.cast::<PyString>() {
            Ok(s) => Ok(s.to_str()?.to_owned()),
            Err(_) => Err(type_name(&obj)),
        }))
    }
}

impl StrArg {
    /// A default value.
    pub(crate) fn of(s: &str) -> Self {
        Self(Ok(s.to_owned()))
    }

    /// The text, or a `TypeError` naming `method` and `param`.
    pub(crate) fn value(&self, method: &str, param: &str) -> PyResult<&str> {
        self.text(method, param, "a str")
    }

    /// [`StrArg::value`] of an optional argument (`weight=None`).
    pub(crate) fn optional<'s>(
        arg: Option<&'s Self>,
        method: &str,
        param: &str,
    ) -> PyResult<Option<&'s str>> {
        arg.map(|a| a.text(method, param, "a str or None"))
            .transpose()
    }

    fn text(&self, method: &str, param: &str, want: &str) -> PyResult<&str> {
        self.0
            .as_deref()
            .map_err(|t| PyTypeError::new_err(format!("{method}: {param} must be {want}, not {t}")))
    }
}

/// A `bool` argument (`directed`, `data`, `vectorized`): what PyO3's `bool`
/// takes (a numpy bool too), else its type's name for [`FlagArg::value`]'s
/// error, which names the method and the argument.
pub(crate) struct FlagArg(Result<bool, String>);

impl<'a, 'py> FromPyObject<'a, 'py> for FlagArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Self(obj.extract::<bool>().map_err(|_| type_name(&obj))))
    }
}

impl FlagArg {
    pub(crate) const fn new(v: bool) -> Self {
        Self(Ok(v))
    }

    /// The flag, or a `TypeError` naming `method` and `param`.
    pub(crate) fn value(&self, method: &str, param: &str) -> PyResult<bool> {
        self.0
            .clone()
            .map_err(|t| PyTypeError::new_err(format!("{method}: {param} must be a bool, not {t}")))
    }
}

/// A float argument (`alpha`, `tol`, `default`), extracted as an `f64`
/// parameter is, except that what it cannot be is kept for
/// [`RealArg::value`]'s error, which names the method and the argument: an
/// object of a type that is no real number (a `bool` included), or an int
/// too large for a float, as its text. An accepted object that is not a
/// `float` (an `int`, a NumPy scalar) is kept too, so that a range error
/// shows it as given (`got -1`, not `got -1.0`; see [`RealArg::shown`]).
pub(crate) struct RealArg {
    value: Result<f64, NotF64>,
    given: Option<Py<PyAny>>,
}

enum NotF64 {
    /// An int too large for a float: its text.
    Big(String),
    /// The name of the type of what was given.
    Type(String),
}

impl<'a, 'py> FromPyObject<'a, 'py> for RealArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        // Exactly a float: a subclass is kept as given, for its own text.
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return Ok(Self::new(f.value()));
        }
        let refused = |why: NotF64| Self {
            value: Err(why),
            given: None,
        };
        // A bool (a numpy bool too, which PyO3's `bool` takes) is no real
        // number here, as it is no count to `IntArg` and no numeric value to
        // a column: `alpha=True` is a slip.
        if obj.extract::<bool>().is_ok() {
            return Ok(refused(NotF64::Type(type_name(&obj))));
        }
        match obj.extract::<f64>() {
            Ok(x) => Ok(Self {
                value: Ok(x),
                given: Some(obj.to_owned().unbind()),
            }),
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
                Ok(refused(NotF64::Big(obj.str()?.to_string())))
            }
            Err(e) if e.is_instance_of::<PyTypeError>(py) => {
                Ok(refused(NotF64::Type(type_name(&obj))))
            }
            Err(e) => Err(e),
        }
    }
}

impl RealArg {
    pub(crate) const fn new(v: f64) -> Self {
        Self {
            value: Ok(v),
            given: None,
        }
    }

    /// The float, or a `TypeError` or `OverflowError` naming the method,
    /// the argument and the value.
    pub(crate) fn value(&self, method: &str, name: &str) -> PyResult<f64> {
        match &self.value {
            Ok(x) => Ok(*x),
            Err(NotF64::Big(text)) => Err(PyOverflowError::new_err(format!(
                "{method}: {name} does not fit in a float, got {text}"
            ))),
            Err(NotF64::Type(ty)) => Err(PyTypeError::new_err(format!(
                "{method}: {name} must be a real number, not {ty}"
            ))),
        }
    }

    /// The value's text for a range error: `str()` of the object given, or
    /// of the float (Python's text of it, as the reference backend prints).
    pub(crate) fn shown(&self, py: Python<'_>) -> PyResult<String> {
        match (&self.given, &self.value) {
            (Some(obj), _) => Ok(obj.bind(py).str()?.to_string()),
            (None, Ok(x)) => Ok(PyFloat::new(py, *x).str()?.to_string()),
            (None, Err(_)) => Ok(String::new()),
        }
    }
}

/// The Python object of live node `ix`'s id, made once per node and kept in
/// its record (every later result reuses it: an incref instead of a new
/// `int` or `str`). Two threads racing to make it both succeed; one object
/// is kept. The object returned is always the one the record keeps, so it
/// lives at least as long as any view holding the record.
#[inline]
pub(crate) fn node_obj<'py>(
    py: Python<'py>,
    view: &engine::GraphView<'_, PyPayload>,
    ix: engine::Ix,
) -> Bound<'py, PyAny> {
    let (key, cell) = view.key_and_handle(ix);
    let handle = match cell.get() {
        Some(h) => h,
        None => {
            fill_block(py, view, ix);
            cell.get_or_init(|| payload(&id_to_py(py, key)))
        }
    };
    handle.bind(py).clone()
}

/// Index rows per block of id objects made together (× the shard count).
const HANDLE_BLOCK_ROWS: u32 = 4;

/// Makes the id objects of the whole block of indices around `ix`, in index
/// order. Later results walk nodes in index order; objects made in the order
/// a traversal first met them would sit scattered in memory, and every later
/// incref would miss the cache.
#[cold]
fn fill_block(py: Python<'_>, view: &engine::GraphView<'_, PyPayload>, ix: engine::Ix) {
    let (bits, shards) = view.parts();
    let first = (ix >> bits) & !(HANDLE_BLOCK_ROWS - 1);
    for row in first..first + HANDLE_BLOCK_ROWS {
        for s in 0..shards.len() as u32 {
            if let Some((key, cell)) = view.try_key_and_handle((row << bits) | s) {
                if cell.get().is_none() {
                    let _ = cell.set(payload(&id_to_py(py, key)));
                }
            }
        }
    }
}

/// Appends node id `id` as the text of an edge name (`"s->t"`): a str id as
/// it is, an int id in decimal. The id as stored, whatever subclass of `int`
/// or `str` named it (an `IntEnum` member is its value), and never Python
/// code: a name cannot fail.
pub(crate) fn push_id_str(out: &mut String, id: NodeRef<'_>) {
    use std::fmt::Write;
    match id {
        NodeRef::Int(i) => write!(out, "{i}").expect("writing to a String"),
        NodeRef::Str(s) => out.push_str(s),
    }
}

// --------------------------------------------------------- attribute names

thread_local! {
    // Per-thread name → id cache in front of the global interner: the common
    // case (a name seen before) takes no lock and touches no shared line.
    static NAME_IDS: RefCell<HashMap<Box<str>, AttrId, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
}

/// The interned id of an attribute name (interned now if it is new).
#[inline]
pub(crate) fn name_id(name: &str) -> AttrId {
    known_name_id(name).unwrap_or_else(|| {
        let id = engine::intern(name);
        NAME_IDS.with(|cache| cache.borrow_mut().insert(name.into(), id));
        id
    })
}

/// The id of `name` if any attribute ever had that name, without interning
/// it (lookups of arbitrary keys must not grow the name table).
#[inline]
pub(crate) fn known_name_id(name: &str) -> Option<AttrId> {
    NAME_IDS.with(|cache| {
        if let Some(&id) = cache.borrow().get(name) {
            return Some(id);
        }
        let id = engine::value::lookup_name(name)?;
        cache.borrow_mut().insert(name.into(), id);
        Some(id)
    })
}

/// Slots of the per-thread name-object cache (a power of two): a call with
/// 100 keyword arguments still finds nearly all of its names in place.
const NAME_SLOTS: usize = 1024;

/// One slot: the last `str` object seen here (a strong reference) and its id.
struct NameSlot {
    obj: Option<Py<PyString>>,
    id: AttrId,
}

thread_local! {
    // Direct-mapped by the name object's address. Attribute names are nearly
    // always the same few objects (keyword names are the call site's interned
    // constants; dict literals reuse theirs), so a hit costs one address
    // compare: no hashing, no probing, no text compare. The slot keeps its
    // object alive, so its address cannot be reused by another string while
    // it sits here (at most `NAME_SLOTS` names per thread; a thread's slots
    // are released when it exits).
    static NAME_OBJS: RefCell<Vec<NameSlot>> = const { RefCell::new(Vec::new()) };
}

/// Attribute-name resolution for one call: borrows this thread's cache once.
pub(crate) struct NameIds<'c> {
    slots: Option<&'c mut Vec<NameSlot>>,
}

impl NameIds<'_> {
    /// The interned id of the attribute name `key` (interned now if new).
    /// A name found in the cache is not read as text: no UTF-8 lookup.
    #[inline]
    pub(crate) fn id(&mut self, key: &Bound<'_, PyString>) -> PyResult<AttrId> {
        // Only exact `str`s are kept: a subclass key could hold anything
        // alive, and its `__del__` would run at some later, unrelated
        // eviction (an audit: it changed the dict being converted then).
        let slots = match self.slots.as_deref_mut() {
            Some(slots) if key.is_exact_instance_of::<PyString>() => slots,
            _ => return Ok(name_id(key.to_str()?)),
        };
        let addr = key.as_ptr() as usize;
        // Multiplicative hashing: names allocated together sit at a fixed
        // stride, which plain low address bits would fold onto a few slots.
        let h = (addr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize);
        let slot = &mut slots[h >> (usize::BITS - NAME_SLOTS.trailing_zeros())];
        if slot
            .obj
            .as_ref()
            .is_some_and(|o| o.as_ptr() == key.as_ptr())
        {
            return Ok(slot.id);
        }
        let id = name_id(key.to_str()?);
        // The previous object (an exact `str`: no Python code runs when it
        // goes) is released now, not queued in PyO3's pool (see
        // `methods::enter`).
        let old = slot.obj.replace(key.clone().unbind());
        slot.id = id;
        if let Some(old) = old {
            old.drop_ref(key.py());
        }
        Ok(id)
    }
}

/// Runs `f` with this thread's name-object cache. Re-entrant: a nested call
/// (an items iterator that itself calls into gli) runs uncached.
pub(crate) fn with_name_ids<R>(f: impl FnOnce(&mut NameIds<'_>) -> R) -> R {
    NAME_OBJS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slots) => {
            if slots.is_empty() {
                slots.extend((0..NAME_SLOTS).map(|_| NameSlot { obj: None, id: 0 }));
            }
            f(&mut NameIds {
                slots: Some(&mut slots),
            })
        }
        Err(_) => f(&mut NameIds { slots: None }),
    })
}

/// Python `str` objects of interned names, indexed by id, shared by all
/// threads. Readers load the current table without taking a lock and keep
/// it while they convert: converting makes Python objects, which can run
/// the garbage collector, whose finalizers may read attributes and so need
/// the table again, or extend it. A new name publishes a new table that
/// shares every full chunk of the old one.
static PY_NAMES: LazyLock<ArcSwap<PyNames>> =
    LazyLock::new(|| ArcSwap::from_pointee(PyNames::default()));

/// Serializes extensions of [`PY_NAMES`] (a leaf: held only to copy the
/// table's spine and last chunk, with no Python code inside).
static PY_NAMES_GROW: LeafMutex<()> = LeafMutex::new(());

/// Names per chunk of [`PyNames`].
const NAME_CHUNK: usize = 256;

/// One name's `str` object. The table keeps a strong reference to every
/// name for the life of the process (names are never forgotten), held as a
/// raw pointer: a new table copies pointers, and dropping an old one
/// releases nothing (a `Py` dropped in one of the hand-written entries
/// would be queued in PyO3's pool, see `methods::enter`).
#[derive(Clone, Copy)]
struct NameObj(std::ptr::NonNull<pyo3::ffi::PyObject>);

// SAFETY: the pointer is a `str` kept alive for the process; it is only
// turned into a reference while attached (`PyNames::get`).
unsafe impl Send for NameObj {}
// SAFETY: as above; `str` objects are immutable.
unsafe impl Sync for NameObj {}

/// The name table: chunks of [`NAME_CHUNK`] names, the last one possibly
/// partial. A new name copies the chunk pointers and the last chunk only,
/// not the whole table (which made programs that keep inventing attribute
/// names quadratic).
#[derive(Default)]
pub(crate) struct PyNames {
    chunks: Vec<Arc<[NameObj]>>,
}

impl PyNames {
    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * NAME_CHUNK + last.len())
    }

    /// The Python name of attribute `id` (which the table must hold).
    #[inline]
    pub(crate) fn get<'a, 'py>(
        &'a self,
        py: Python<'py>,
        id: AttrId,
    ) -> Borrowed<'a, 'py, PyString> {
        let k = id as usize;
        let name = self.chunks[k / NAME_CHUNK][k % NAME_CHUNK];
        // SAFETY: a live `str` (see `NameObj`); attached.
        unsafe { Borrowed::from_ptr(py, name.0.as_ptr()).cast_unchecked() }
    }

    /// This table plus `fresh` names, whose references it takes over.
    fn extended<'py>(&self, fresh: impl Iterator<Item = Bound<'py, PyString>>) -> Self {
        let mut chunks = self.chunks.clone();
        let mut last: Vec<NameObj> = match chunks.last() {
            Some(c) if c.len() < NAME_CHUNK => chunks.pop().expect("just seen").to_vec(),
            _ => Vec::with_capacity(NAME_CHUNK),
        };
        for name in fresh {
            if last.len() == NAME_CHUNK {
                chunks.push(std::mem::take(&mut last).into());
            }
            let ptr = std::ptr::NonNull::new(name.into_ptr()).expect("a live object");
            last.push(NameObj(ptr));
        }
        if !last.is_empty() {
            chunks.push(last.into());
        }
        Self { chunks }
    }
}

/// Runs `f` with a table that holds the Python name of every id up to `max_id`.
pub(crate) fn with_py_names<R>(py: Python<'_>, max_id: AttrId, f: impl FnOnce(&PyNames) -> R) -> R {
    let names = PY_NAMES.load();
    if (max_id as usize) < names.len() {
        return f(&names);
    }
    let have = names.len();
    drop(names);
    // Made before the lock: interning a string is Python code. (`Bound`s:
    // those another thread added meanwhile are released as they drop.)
    let fresh: Vec<Bound<'_, PyString>> = engine::value::names_from(have)
        .iter()
        .map(|n| PyString::intern(py, n))
        .collect();
    {
        let _grow = PY_NAMES_GROW.lock();
        let cur = PY_NAMES.load();
        // Another thread may have extended the table meanwhile: append only what is new.
        if cur.len() < have + fresh.len() {
            let skip = cur.len() - have;
            PY_NAMES.store(Arc::new(cur.extended(fresh.into_iter().skip(skip))));
        }
    }
    f(&PY_NAMES.load())
}

// ------------------------------------------------------------------- values

fn nested_too_deep(name: &str) -> PyErr {
    PyValueError::new_err(format!(
        "attribute '{name}' is nested more than {MAX_DEPTH} levels deep (a recursive structure?)"
    ))
}

/// Converts an attribute value: native when the engine models its type, opaque otherwise.
///
/// Scalars convert inline in the caller's loop; containers and other
/// objects go through [`value_from_py_other`]. (Returned from a call, the
/// value would come back through stack stores the caller's wider loads
/// cannot forward from: a stall per attribute.)
#[inline(always)]
pub(crate) fn value_from_py(
    obj: &Bound<'_, PyAny>,
    name: &str,
    depth: u32,
    home: &Arc<Home>,
) -> PyResult<PyValue> {
    convert_value(
        obj,
        home,
        |v| v,
        || value_from_py_other(obj, name, depth, home),
    )
}

/// The conversion of [`value_from_py`], handing the value to `put`; `other`
/// converts what is not an exact `None`, `str`, `bool`, `float` or `int`.
/// Each branch calls `put` with its own value, so a `put` that stores it
/// ([`push_attr`]) writes it where it goes: built in one place and then
/// stored, a value went through two stack copies whose wide loads could not
/// forward from the narrow stores that built it.
#[inline(always)]
fn convert_value<R>(
    obj: &Bound<'_, PyAny>,
    home: &Arc<Home>,
    put: impl FnOnce(PyValue) -> R,
    other: impl FnOnce() -> PyResult<PyValue>,
) -> PyResult<R> {
    if obj.is_none() {
        return Ok(put(Value::None));
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        if has_lone_surrogate(s) {
            // No Rust text: kept as the very object, which `where` compares
            // by its `lone_form`.
            return Ok(put(opaque(obj, home)));
        }
        return Ok(put(Value::Str(s.to_str()?.into())));
    }
    if obj.is_exact_instance_of::<PyBool>() {
        return Ok(put(Value::Bool(obj.is_truthy()?)));
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        let x = obj.cast::<PyFloat>().expect("exact float").value();
        return Ok(put(Value::Float(x)));
    }
    if let Some(i) = exact_int(obj.as_borrowed()) {
        return Ok(put(Value::Int(i)));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return Ok(put(opaque(obj, home))); // beyond 64 bits: keep the very object
    }
    Ok(put(other()?))
}

/// [`value_from_py`] for anything but an exact `None`, `str`, `bool`,
/// `float` or `int`.
#[inline(never)]
fn value_from_py_other(
    obj: &Bound<'_, PyAny>,
    name: &str,
    depth: u32,
    home: &Arc<Home>,
) -> PyResult<PyValue> {
    if let Ok(list) = obj.cast_exact::<PyList>() {
        if depth >= MAX_DEPTH {
            return Err(nested_too_deep(name));
        }
        let mut items = Vec::with_capacity(list.len());
        for_each_list_item(list, |item| {
            items.push(value_from_py(&item, name, depth + 1, home)?);
            Ok(())
        })?;
        return Ok(Value::List(items.into()));
    }
    if let Ok(dict) = obj.cast_exact::<PyDict>() {
        if all_keys_str(dict) {
            if depth >= MAX_DEPTH {
                return Err(nested_too_deep(name));
            }
            let mut items: Vec<(Box<str>, PyValue)> = Vec::with_capacity(dict.len());
            let mut mixed = false;
            for_each_attr_item(dict, |k, v| {
                // Checked above, but another thread may have added a key since.
                let Ok(k) = k.cast::<PyString>() else {
                    return Err(PyTypeError::new_err(format!(
                        "attribute '{name}': a dict's keys changed while it was read"
                    )));
                };
                let text = k.to_str()?;
                let value = value_from_py(&v, name, depth + 1, home)?;
                // As for attribute names (`push_attr`): a `str` subclass key
                // may repeat a text, and then the later value wins; once one
                // came, any key may repeat an earlier one's text.
                mixed |= !k.is_exact_instance_of::<PyString>();
                let repeated = if mixed {
                    items.iter_mut().find(|(t, _)| &**t == text)
                } else {
                    None
                };
                match repeated {
                    Some(slot) => slot.1 = value,
                    None => items.push((text.into(), value)),
                }
                Ok(())
            })?;
            return Ok(Value::Dict(items.into()));
        }
    }
    Ok(opaque(obj, home))
}

#[inline]
fn opaque(obj: &Bound<'_, PyAny>, home: &Arc<Home>) -> PyValue {
    Value::Opaque(value_payload(obj, home))
}

/// Whether this interpreter runs without the GIL (a free-threaded build with
/// the GIL not re-enabled), asked once: a later re-enabling only leaves
/// [`for_each_item`] on its careful path.
pub(crate) fn gil_disabled(py: Python<'_>) -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0); // 0: not asked yet, 1: GIL on, 2: off
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let off = py
                .import("sys")
                .and_then(|sys| sys.getattr("_is_gil_enabled"))
                .and_then(|f| f.call0())
                .and_then(|on| on.is_truthy())
                .is_ok_and(|on| !on);
            STATE.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            off
        }
    }
}

/// Whether converting `v` runs no Python code and allocates no Python
/// object (on CPython 3.11 an allocation may start a collection, whose
/// finalizers are Python code): an exact `str` of valid text, `float`, `bool`, `None`,
/// an exact `int` of 64 bits, or an exact `list` or `dict` (of exact `str`
/// keys) of such values, up to [`INERT_DEPTH`] levels. Anything else may:
/// a NumPy scalar's `item()`, a wider int, a deeper container (not looked
/// into: the scan stays cheap). Free-threaded builds never ask (another
/// thread may change a container while it is scanned).
fn inert(v: &Bound<'_, PyAny>, depth: u32) -> bool {
    if let Ok(s) = v.cast_exact::<PyString>() {
        // Text with lone surrogates is kept as an object, and finding its
        // canonical form makes a `bytes` (see `lone_form`).
        return !has_lone_surrogate(s);
    }
    if v.is_exact_instance_of::<PyFloat>() || v.is_exact_instance_of::<PyBool>() || v.is_none() {
        return true;
    }
    if v.is_exact_instance_of::<PyInt>() {
        // Within 64 bits; a wider int is kept as an object, and working
        // out what it stands for allocates.
        let mut overflow = 0;
        // SAFETY: attached, `v` an exact int: read without calling Python,
        // overflow reported, not raised.
        unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(v.as_ptr(), &mut overflow) };
        return overflow == 0;
    }
    if depth >= INERT_DEPTH {
        return false;
    }
    if let Ok(list) = v.cast_exact::<PyList>() {
        return list.iter().all(|item| inert(&item, depth + 1));
    }
    if let Ok(dict) = v.cast_exact::<PyDict>() {
        return dict_is_inert(dict, depth + 1);
    }
    false
}

/// Container levels [`inert`] looks into.
const INERT_DEPTH: u32 = 3;

/// Whether every key of `dict` is a `str` (a subclass too), read without
/// allocating (the keys list it replaced could start a collection in the
/// middle of reading the enclosing dict). Free-threaded builds read a copy
/// of the keys.
fn all_keys_str(dict: &Bound<'_, PyDict>) -> bool {
    if gil_disabled(dict.py()) {
        return dict.keys().iter().all(|k| k.is_instance_of::<PyString>());
    }
    in_place(dict).all(|(k, _)| k.is_instance_of::<PyString>())
}

/// Whether every key of `dict` is an exact `str` and every value [`inert`].
fn dict_is_inert(dict: &Bound<'_, PyDict>, depth: u32) -> bool {
    in_place(dict).all(|(k, v)| k.is_exact_instance_of::<PyString>() && inert(&v, depth))
}

/// `dict`'s items as `PyDict_Next` reads them in place, each owned
/// (increfed) as it is handed out. GIL builds only: the GIL keeps other
/// threads out between two steps, and each step is bounds-checked against
/// the dict as it is then (code run between steps may change it; callers
/// that run code check for that).
fn in_place<'a, 'py>(
    dict: &'a Bound<'py, PyDict>,
) -> impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)> + 'a {
    let mut pos: pyo3::ffi::Py_ssize_t = 0;
    std::iter::from_fn(move || {
        let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: attached with the GIL; `PyDict_Next` bounds-checks `pos`
        // and lends valid references, owned here before anything else runs.
        (unsafe { pyo3::ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut k, &mut v) } != 0).then(
            || unsafe {
                (
                    Bound::from_borrowed_ptr(dict.py(), k),
                    Bound::from_borrowed_ptr(dict.py(), v),
                )
            },
        )
    })
}

/// [`for_each_item`] for an attribute dict (not a `where`): read in place
/// while its values convert without running Python code ([`inert`]); at
/// the first value that may run some (a NumPy scalar subclass's `item()`),
/// the rest of its items are taken first, before any code runs, and
/// converted from there. Code that changes this dict then changes nothing
/// here: its items are stored as they were when its reading began, as the
/// python backend stores them (it runs no code while reading). A container
/// reached later (a sibling's nested list) is read when it is reached, so
/// such code can still change that one first. Free-threaded builds copy
/// the items first anyway ([`for_each_item`]).
fn for_each_attr_item<'py>(
    dict: &Bound<'py, PyDict>,
    f: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    read_items(
        dict,
        |k, v| !k.is_exact_instance_of::<PyString>() || !inert(v, 0),
        f,
    )
}

/// A nested list's items, as [`for_each_attr_item`] reads a dict's: in
/// place while they are [`inert`], the rest taken before the first that
/// is not.
fn for_each_list_item<'py>(
    list: &Bound<'py, PyList>,
    mut f: impl FnMut(Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    if gil_disabled(list.py()) {
        // Another thread may change it at any time: one atomic copy.
        return list.get_slice(0, usize::MAX).iter().try_for_each(f);
    }
    // At most the items it had (as the PyO3 iterator this replaced): code
    // that keeps appending cannot keep the loop going. `get_item` past the
    // end would make (and drop) an `IndexError`.
    let len = list.len();
    let mut i = 0;
    while i < len.min(list.len()) {
        let item = list.get_item(i)?;
        i += 1;
        if !inert(&item, 0) {
            // Nothing has run yet: the rest is as the call found it.
            let rest: Vec<_> = std::iter::once(item)
                .chain((i..len.min(list.len())).filter_map(|j| list.get_item(j).ok()))
                .collect();
            return rest.into_iter().try_for_each(f);
        }
        f(item)?;
    }
    Ok(())
}

/// Runs `f` on each `(key, value)` of `dict`, in order.
///
/// With the GIL, the dict is read in place: no other thread runs between
/// two steps. Python code can still run inside `f`, though (a NumPy scalar
/// subclass's `item()`, a `__del__` that a conversion triggers), and change
/// the dict: that is `RuntimeError("dictionary changed size during
/// iteration")`, as Python's own iteration says, where PyO3's iterator
/// panicked (an audit: a `PanicException` out of `batch_add_nodes`).
/// Attribute dicts are read by [`for_each_attr_item`] instead.
/// Without the GIL another thread may change the dict at any time, so its
/// items are copied first (atomically).
pub(crate) fn for_each_item<'py>(
    dict: &Bound<'py, PyDict>,
    f: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    read_items(dict, |_, _| false, f)
}

/// [`for_each_item`] and [`for_each_attr_item`]: on GIL builds the dict is
/// read in place until `take_rest` says an item may run Python code, and
/// from there from its remaining items, taken before any runs; code that
/// changes the dict while it is read in place is Python's own
/// `RuntimeError`. Free-threaded builds copy the items first (atomically).
fn read_items<'py>(
    dict: &Bound<'py, PyDict>,
    take_rest: impl Fn(&Bound<'py, PyAny>, &Bound<'py, PyAny>) -> bool,
    mut f: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    if gil_disabled(dict.py()) {
        for item in dict.items().iter() {
            // SAFETY: `dict.items()` is a list of 2-tuples.
            let pair = unsafe { item.cast_into_unchecked::<PyTuple>() };
            f(pair.get_item(0)?, pair.get_item(1)?)?;
        }
        return Ok(());
    }
    let len = dict.len();
    let mut items = in_place(dict);
    let mut seen = 0;
    while let Some((k, v)) = items.next() {
        // More items than it had: a key removed and added again (the size
        // unchanged) comes round twice, and a name would be stored twice (a
        // review). Python's own iteration says the same.
        if seen == len {
            return Err(PyRuntimeError::new_err(
                "dictionary keys changed during iteration",
            ));
        }
        if take_rest(&k, &v) {
            // Nothing has run yet: the rest is as the call found it.
            let rest: Vec<_> = std::iter::once((k, v)).chain(items).collect();
            return rest.into_iter().try_for_each(|(k, v)| f(k, v));
        }
        f(k, v)?;
        seen += 1;
        if dict.len() != len {
            return Err(PyRuntimeError::new_err(
                "dictionary changed size during iteration",
            ));
        }
    }
    Ok(())
}

/// Adds attribute `id` (named by `key`, one of a dict's keys or a call's
/// keyword names) with value `obj`, converted, to `map`. Exact `str` keys of
/// one dict are distinct texts, so they are appended unchecked, each value
/// stored by its own branch of [`convert_value`]; a `str` subclass can be a
/// distinct key with the same text as another (identity hash), and then, as
/// in a dict of their texts, the later value wins. `mixed` (false for a
/// new dict) says whether a subclass key came first: from then on every
/// key, exact or not, replaces an earlier one of its text (an audit: an
/// exact `"a"` after a subclass `"a"` stored the name twice, and such a
/// graph could not be copied or pickled). The name's text is read only for
/// a nested value's error message.
#[inline(always)]
fn push_attr(
    map: &mut PyAttrMap,
    key: &Bound<'_, PyString>,
    id: AttrId,
    obj: &Bound<'_, PyAny>,
    home: &Arc<Home>,
    mixed: &mut bool,
) -> PyResult<()> {
    if !key.is_exact_instance_of::<PyString>() {
        *mixed = true;
    }
    if *mixed {
        map.insert(id, value_from_py(obj, key.to_str()?, 0, home)?);
        return Ok(());
    }
    convert_value(
        obj,
        home,
        |v| map.push_unique(id, v),
        || value_from_py_other(obj, key.to_str()?, 0, home),
    )
}

/// A lone surrogate in attribute name `key` (`in_name`) or in a dict key
/// inside its value (a str value with one is kept as an object), as
/// the error the user sees: a `ValueError` naming the attribute, with the
/// encoder's error as its cause (the reference backend's `_attrs` says the
/// same); any other error as it is.
#[cold]
fn attr_error(e: PyErr, key: &Bound<'_, PyString>, in_name: bool) -> PyErr {
    let py = key.py();
    if !e.is_instance_of::<PyUnicodeEncodeError>(py) {
        return e;
    }
    // `str.__repr__` of the key's text: a subclass's own `__repr__` is not asked.
    let shown = py
        .get_type::<PyString>()
        .getattr("__repr__")
        .and_then(|r| r.call1((key,)))
        .and_then(|r| r.extract::<String>());
    let Ok(shown) = shown else {
        return e;
    };
    let msg = if in_name {
        format!("attribute name {shown} is not valid UTF-8: {}", e.value(py))
    } else {
        format!("attribute {shown}: {}", e.value(py))
    };
    let err = PyValueError::new_err(msg);
    err.set_cause(py, Some(e));
    err
}

/// Converts a `dict` of attributes (a batch item), resolving names through
/// the caller's borrow of the name cache.
fn attrs_from_dict_into(
    names: &mut NameIds<'_>,
    dict: &Bound<'_, PyDict>,
    map: &mut PyAttrMap,
    home: &Arc<Home>,
) -> PyResult<()> {
    map.reserve(dict.len());
    let mut mixed = false;
    for_each_attr_item(dict, |k, v| {
        let key = k.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "attribute names must be str, not {}",
                type_name(&k)
            ))
        })?;
        let id = names.id(key).map_err(|e| attr_error(e, key, true))?;
        push_attr(map, key, id, &v, home, &mut mixed).map_err(|e| attr_error(e, key, false))
    })
}

/// Converts keyword arguments passed by vectorcall: `names` is the call's
/// `kwnames` tuple (distinct `str`s), `values` the matching arguments.
pub(crate) fn attrs_from_kwnames<'py>(
    names: &Bound<'py, PyTuple>,
    values: impl Iterator<Item = Borrowed<'py, 'py, PyAny>>,
    home: &Arc<Home>,
) -> PyResult<PyAttrMap> {
    let mut map = AttrMap::with_capacity(names.len());
    let mut mixed = false;
    with_name_ids(|ids| -> PyResult<()> {
        for (k, v) in names.iter_borrowed().zip(values) {
            // CPython only passes str keyword names; checking costs a type compare.
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("keywords must be str, not {}", type_name(&k)))
            })?;
            let id = ids.id(&key).map_err(|e| attr_error(e, &key, true))?;
            push_attr(&mut map, &key, id, &v, home, &mut mixed)
                .map_err(|e| attr_error(e, &key, false))?;
        }
        Ok(())
    })?;
    Ok(map)
}

/// Converts an attrs argument: a dict, or any other mapping (an attribute
/// view, a `MappingProxyType`), read as `dict(obj)` reads it.
pub(crate) fn attrs_from_obj(
    obj: &Bound<'_, PyAny>,
    home: &Arc<Home>,
    what: impl Fn() -> String,
) -> PyResult<PyAttrMap> {
    let mut map = PyAttrMap::new();
    with_name_ids(|names| attrs_from_obj_into(names, obj, &mut map, home, what))?;
    Ok(map)
}

/// [`attrs_from_obj`] with the caller's name cache (a batch borrows it once),
/// appending to `map`, which a batch reuses from item to item (so that
/// converting a node's attributes allocates nothing but what is stored).
pub(crate) fn attrs_from_obj_into(
    names: &mut NameIds<'_>,
    obj: &Bound<'_, PyAny>,
    map: &mut PyAttrMap,
    home: &Arc<Home>,
    what: impl Fn() -> String,
) -> PyResult<()> {
    match obj.cast::<PyDict>() {
        // A bad name or value says which item (or operation) it is in.
        Ok(d) => attrs_from_dict_into(names, d, map, home).map_err(|e| {
            let py = obj.py();
            let msg = format!("{}: {}", what(), e.value(py));
            let err = if e.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(msg)
            } else if e.is_instance_of::<PyValueError>(py) {
                PyValueError::new_err(msg)
            } else {
                return e;
            };
            err.set_cause(py, e.cause(py));
            err
        }),
        Err(_) if obj.is_instance(&super::filter::abc(obj.py(), "Mapping")?)? => {
            // Its own `keys()` and `[]` run here, before any lookup; what
            // they raise propagates.
            let d = obj.py().get_type::<PyDict>().call1((obj,))?;
            attrs_from_obj_into(names, &d, map, home, what)
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{}: attributes must be a dict or another mapping, not {}",
            what(),
            type_name(obj)
        ))),
    }
}

pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &PyValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::None => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => PyFloat::new(py, *x).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items.iter() {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (k, item) in items.iter() {
                dict.set_item(PyString::new(py, k), value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
        Value::Opaque(o) => o.bind(py).clone(),
    })
}

/// A fresh `dict` of the attributes.
pub(crate) fn attrs_to_dict<'py>(
    py: Python<'py>,
    attrs: Option<&PyAttrSlice>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let Some(attrs) = attrs else { return Ok(dict) };
    let max = attrs.iter().map(|(k, _)| k).max().unwrap_or(0);
    with_py_names(py, max, |names| -> PyResult<()> {
        for (k, v) in attrs.iter() {
            dict.set_item(names.get(py, k), value_to_py(py, v)?)?;
        }
        Ok(())
    })?;
    Ok(dict)
}

/// Items of a `(s, t)` / `(s, t, attrs)` batch, or `(id, attrs)`: the tuple and its length.
pub(crate) fn as_tuple<'a, 'py>(item: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PyTuple>> {
    item.cast::<PyTuple>().ok()
}
