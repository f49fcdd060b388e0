//! `gli._core.Graph`: a frozen pyclass sharing an `Arc` of the engine graph.
//!
//! Frozen means PyO3 never takes a borrow flag: any number of threads may call
//! any method at once (rustworkx's `&mut self` graph raises "Already borrowed"
//! under threads). Every method takes `&self`; the engine's shard locks do the
//! rest. No method holds an engine lock while it creates Python objects: the
//! engine copies (or `Arc`-shares) results out before returning.
//!
//! O(1) methods stay attached (detaching costs more than they do); batch
//! methods convert their input attached, then apply it detached.

use numpy::{
    IntoPyArray, PyArray1, PyArrayDescr, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyUnicodeEncodeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use super::convert::{
    as_tuple, attrs_from_obj, attrs_from_obj_into, attrs_to_dict, edge_not_found, exact_int,
    id_to_py, lookup_edge, lookup_node, lookup_nodes, lookup_ref, node_id, node_not_found,
    node_ref_borrowed, node_ref_lenient, release_queued, type_name, value_payload, with_name_ids,
    FlagArg, IntArg, PyAttrMap, PyPayload, RealArg, StrArg,
};
use super::detach::{calling_python, detach, iterate, run_detached, GilYield};
use super::errors::{at_item, error_at_item};
use super::filter;
use super::handles::HandleCache;
use super::trace;
use super::values::{Home, Values};
use crate::engine::algo::{self, Length};
use crate::engine::cancel::Cancel;
use crate::engine::value::lookup_name;
use crate::engine::Attrs;
use crate::engine::{
    AttrId, EdgeBatchError, Graph, GraphView, Ix, NodeId, NodeRef, Op, ResolvedEdges,
};
use crate::error::GraphError;
use crate::sync::{Arc, LazyLock};

type Engine = Graph<PyPayload>;

/// The first two items of an edge tuple, borrowed from it.
///
/// # Safety
/// `t` has at least two items.
unsafe fn endpoints<'a, 'py>(
    t: &'a Bound<'py, PyTuple>,
) -> (Borrowed<'a, 'py, PyAny>, Borrowed<'a, 'py, PyAny>) {
    unsafe {
        (
            t.get_borrowed_item_unchecked(0),
            t.get_borrowed_item_unchecked(1),
        )
    }
}

/// Lookups of an edge batch's endpoints made before its shard locks, which
/// concurrent removals of those endpoints can invalidate; after this many,
/// the batch looks them up under the locks instead (slower: no lookup
/// overlaps another, and writers wait meanwhile).
const EDGE_BATCH_ATTEMPTS: usize = 4;

/// The rust backend's graph: a sharded, lock-striped store whose queries run
/// with the GIL released. Use it through ``gli.Graph``.
#[pyclass(
    name = "Graph",
    module = "gli._core",
    frozen,
    subclass,
    weakref,
    immutable_type
)]
pub struct PyGraph {
    pub(crate) inner: Arc<Engine>,
    /// Id-object columns for long result lists (see `handles`).
    pub(crate) handles: HandleCache,
    /// Where this graph's opaque values are registered for the garbage
    /// collector (see `values.rs`).
    pub(crate) values: Py<Values>,
}

/// Below this many nodes and edges a graph frees faster than a detach costs.
const DETACHED_DROP_MIN: usize = 16_384;

impl Drop for PyGraph {
    /// Freeing a large graph takes about as long as building it (~370 ms for
    /// 1M nodes): do it detached, so other threads run meanwhile. This runs in
    /// `tp_dealloc`, attached; the opaque values freed are released after,
    /// attached (see `convert::Opaque`). At interpreter shutdown `try_attach`
    /// declines and the graph is freed in place.
    fn drop(&mut self) {
        /// What a dying `PyGraph` holds once its graph is taken out (never used).
        static EMPTY: LazyLock<Arc<Graph<PyPayload>>> =
            LazyLock::new(|| Arc::new(Graph::with_shards(true, 1)));
        let inner = std::mem::replace(&mut self.inner, Arc::clone(&EMPTY));
        let detached = Arc::strong_count(&inner) == 1 // no running query still shares it
            && inner.node_count() + inner.edge_count() >= DETACHED_DROP_MIN;
        // If try_attach declines (shutdown), the closure is dropped unrun and
        // frees the graph right here.
        self.handles.clear();
        let _ = Python::try_attach(move |py| {
            if detached {
                detach(py, move || drop(inner));
            } else {
                drop(inner);
            }
            release_queued(py);
        });
    }
}

impl PyGraph {
    /// Where opaque values made for this graph register (see `values.rs`).
    #[inline]
    pub(crate) fn home(&self) -> &Arc<Home> {
        &self.values.get().home
    }

    fn item_error(method: &str, index: usize, what: &str) -> PyErr {
        PyTypeError::new_err(format!("{method}: item {index}: {what}"))
    }

    /// Prefixes a type, overflow or value error (a bad id) with the batch
    /// item's index; a lone surrogate's `UnicodeEncodeError` stays one, the
    /// item named after its reason; others (lookups name their node) pass.
    fn with_index(py: Python<'_>, e: PyErr, method: &str, index: usize) -> PyErr {
        if e.is_instance_of::<PyUnicodeEncodeError>(py) {
            let v = e.value(py);
            let field = |name: &str| v.getattr(name);
            let remade = (|| -> PyResult<PyErr> {
                let reason = format!("{} ({method}: item {index})", field("reason")?);
                Ok(PyUnicodeEncodeError::new_err((
                    field("encoding")?.unbind(),
                    field("object")?.unbind(),
                    field("start")?.unbind(),
                    field("end")?.unbind(),
                    reason,
                )))
            })();
            return remade.unwrap_or(e);
        }
        let msg = format!("{method}: item {index}: {}", e.value(py));
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(msg)
        } else if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) {
            pyo3::exceptions::PyOverflowError::new_err(msg)
        } else if e.is_instance_of::<PyValueError>(py) {
            PyValueError::new_err(msg)
        } else {
            e
        }
    }

    /// A batch item's node id; a bad one raises naming the item.
    fn item_id(method: &str, index: usize, obj: &Bound<'_, PyAny>) -> PyResult<NodeId> {
        node_id(obj).map_err(|e| Self::with_index(obj.py(), e, method, index))
    }

    /// [`lookup_ref`] of a batch item's id: `None` for an id no node can
    /// have; a wrong type raises naming the item.
    fn item_ref<'a>(
        method: &str,
        index: usize,
        obj: &'a Bound<'_, PyAny>,
    ) -> PyResult<Option<NodeRef<'a>>> {
        lookup_ref(obj).map_err(|e| Self::with_index(obj.py(), e, method, index))
    }

    /// The node ids of a list of ids to look up (borrowed), as
    /// [`lookup_refs`] checks them: every item's type first (a wrong one
    /// raises naming its item), then the first id no node can have raises
    /// as the missing node it names.
    fn item_refs<'a>(method: &str, objs: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<NodeRef<'a>>> {
        let mut refs = Vec::with_capacity(objs.len());
        let mut absent = None;
        for (index, obj) in objs.iter().enumerate() {
            match Self::item_ref(method, index, obj)? {
                Some(id) => refs.push(id),
                None => {
                    absent.get_or_insert(obj);
                }
            }
        }
        match absent {
            Some(obj) => Err(node_not_found(obj)),
            None => Ok(refs),
        }
    }

    /// `f` (a write that may renumber the graph's nodes) run detached;
    /// after a renumbering, the id-object columns of the old numbering are
    /// let go at once (the version check keeps them from being read, but
    /// they would hold their objects until their shard's next use).
    pub(crate) fn detach_renumbering<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce() -> T + Send,
    ) -> T {
        let epoch = self.inner.epoch();
        let out = detach(py, f);
        if self.inner.epoch() != epoch {
            self.handles.clear();
        }
        out
    }

    /// The endpoints of a batch's edges (tuples of length 2 or 3, ids
    /// already type-checked, or the ints of a numpy array), as node indices,
    /// with the epoch they were looked up in (`Graph::epoch`);
    /// `NodeNotFoundError` for the first missing endpoint, in order, unless
    /// an earlier item is already an edge or a repeat
    /// (`EdgeAlreadyExistsError` for the first such). Ids are borrowed from
    /// the tuples a chunk at a time and resolved detached, every key-map lock
    /// taken once per chunk (`Graph::resolve_many`).
    fn resolve_pairs(
        &self,
        py: Python<'_>,
        ends: &EdgeEnds<'_>,
    ) -> Result<(Vec<(Ix, Ix)>, u64), EdgeFail> {
        /// Pairs per detached lookup run: long enough to amortize the locks,
        /// short enough to bound what the run borrows and how long it holds
        /// the key maps.
        const CHUNK: usize = 1 << 15;
        let mut pairs = Vec::with_capacity(ends.len());
        let mut found = Vec::new();
        let inner = &self.inner;
        // The numbering the lookups are in: a compaction after this makes
        // the batch stale (`Graph::epoch`).
        let epoch = inner.epoch();
        // One chunk's lookups into `pairs`, or its first error: `id_at(k)`
        // names the id of `found[k]`.
        let take = |found: &[Option<Ix>],
                    pairs: &mut Vec<(Ix, Ix)>,
                    id_at: &dyn Fn(usize) -> NodeId|
         -> Result<(), EdgeFail> {
            let both = |e: &[Option<Ix>]| Some((e[0]?, e[1]?));
            if let Some(k) = found.iter().position(Option::is_none) {
                // An earlier item that is already an edge is the first error.
                pairs.extend(found[..k / 2 * 2].chunks_exact(2).filter_map(both));
                let pairs = &*pairs;
                let err = detach(py, || inner.first_existing_edge(pairs, epoch));
                return Err(EdgeFail::Graph(
                    err.unwrap_or_else(|| GraphError::NodeNotFound(id_at(k))),
                ));
            }
            // Every id was found (checked just above).
            pairs.extend(found.chunks_exact(2).filter_map(both));
            Ok(())
        };
        // A chunk of int ids, looked up detached.
        let by_ints = |ints: &[i64], found: &mut Vec<_>, pairs: &mut Vec<_>| {
            detach(py, || inner.resolve_ints(ints, found));
            take(found, pairs, &|k| NodeId::Int(ints[k]))
        };
        for ints in ends.ints.chunks(2 * CHUNK) {
            // Attached between chunks: a Ctrl-C now fails the batch unapplied.
            py.check_signals()?;
            by_ints(ints, &mut found, &mut pairs)?;
        }
        let tuples = &ends.tuples;
        let mut ids: Vec<NodeRef<'_>> = Vec::new();
        let mut ints: Vec<i64> = Vec::with_capacity(2 * CHUNK.min(tuples.len()));
        for chunk in tuples.chunks(CHUNK) {
            // As above; all-int chunks skip building `NodeRef`s.
            py.check_signals()?;
            ints.clear();
            let all_ints = chunk.iter().all(|t| {
                // SAFETY: callers checked that every tuple has 2 or 3 items.
                let (s, d) = unsafe { endpoints(t) };
                match (exact_int(s), exact_int(d)) {
                    (Some(a), Some(b)) => {
                        ints.extend([a, b]);
                        true
                    }
                    _ => false,
                }
            });
            if all_ints {
                by_ints(&ints, &mut found, &mut pairs)?;
            } else {
                ids.clear();
                for t in chunk {
                    // SAFETY: as above.
                    let (s, d) = unsafe { endpoints(t) };
                    ids.push(node_ref_borrowed(s)?);
                    ids.push(node_ref_borrowed(d)?);
                }
                detach(py, || inner.resolve_many(&ids, &mut found));
                take(&found, &mut pairs, &|k| ids[k].to_owned_id())?;
            }
        }
        Ok((pairs, epoch))
    }

    /// Applies a converted node batch (detached: it may renumber).
    fn add_nodes(
        &self,
        py: Python<'_>,
        batch: Vec<(NodeId, Attrs<PyPayload>)>,
        call: &trace::Call,
    ) -> PyResult<usize> {
        let inner = &self.inner;
        call.items(batch.len());
        Ok(self.detach_renumbering(py, || inner.batch_add_nodes(batch))?)
    }

    /// A batch's edge items, type-checked: their endpoints and the
    /// attributes of those that have some, by item index.
    #[allow(clippy::type_complexity)]
    fn edge_items<'py>(
        &self,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<(EdgeEnds<'py>, Vec<(usize, PyAttrMap)>)> {
        // Every item is type-checked before any endpoint is looked up (type
        // errors anywhere win over a missing node, as in the reference
        // backend).
        let mut ints: Vec<i64> = Vec::with_capacity(2 * size_hint(items));
        let mut tuples: Vec<Bound<'_, PyTuple>> = Vec::new();
        let mut attrs: Vec<(usize, PyAttrMap)> = Vec::new();
        let mut stop = None;
        for (index, item) in iterate(items)?.enumerate() {
            let item = item?;
            let t = item.cast_into::<PyTuple>().map_err(|e| {
                Self::item_error(
                    "batch_add_edges",
                    index,
                    &format!(
                        "expected a (source, target[, attrs]) tuple, not {}",
                        type_name(e.into_inner().as_any())
                    ),
                )
            })?;
            let n = t.len();
            if n != 2 && n != 3 {
                return Err(PyValueError::new_err(format!(
                    "batch_add_edges: item {index}: expected (source, target[, attrs]), got a tuple of length {n}"
                )));
            }
            if n == 3 {
                let a = attrs_from_obj(&t.get_item(2)?, self.home(), || {
                    format!("batch_add_edges: item {index}")
                })?;
                if !a.is_empty() {
                    attrs.push((index, a));
                }
            }
            // SAFETY: the length was checked just above.
            let (s, d) = unsafe { endpoints(&t) };
            if tuples.is_empty() && stop.is_none() {
                // Read now, while the item is in cache: no second pass over
                // millions of tuples, and each is let go at once.
                if let (Some(a), Some(b)) = (exact_int(s), exact_int(d)) {
                    ints.extend([a, b]);
                    continue;
                }
            }
            // Both ids' types are checked (in order); an id no node can have
            // is a missing endpoint, found when the items before it are
            // looked up (`stop_error`), as `add_edge` finds it.
            let possible = |x: Borrowed<'_, '_, PyAny>| {
                Self::item_ref("batch_add_edges", index, &x).map(|id| id.is_some())
            };
            let both = possible(s)? & possible(d)?;
            if stop.is_none() {
                if both {
                    tuples.push(t);
                } else {
                    stop = Some(t);
                }
            }
        }
        Ok((EdgeEnds { ints, tuples, stop }, attrs))
    }

    /// Applies an edge batch whose items are read (`ends`, `attrs`): the
    /// endpoints looked up, then the edges added, all or none.
    fn add_edge_batch(
        &self,
        py: Python<'_>,
        ends: &EdgeEnds<'_>,
        attrs: Vec<(usize, PyAttrMap)>,
        _call: &trace::Call,
    ) -> Result<usize, EdgeFail> {
        let (pairs, epoch) = self.resolve_pairs(py, ends)?;
        if let Some(stop) = &ends.stop {
            return Err(self.stop_error(py, stop, &pairs, epoch));
        }
        _call.items(pairs.len());
        let mut batch = ResolvedEdges {
            pairs,
            attrs,
            epoch,
        };
        let inner = &self.inner;
        for _ in 0..EDGE_BATCH_ATTEMPTS {
            match detach(py, || inner.batch_add_edges(batch)) {
                Ok(n) => return Ok(n),
                Err(EdgeBatchError::Graph(e)) => return Err(EdgeFail::Graph(e)),
                Err(EdgeBatchError::Stale(back)) => {
                    batch = back;
                    (batch.pairs, batch.epoch) = self.resolve_pairs(py, ends)?;
                }
            }
        }
        // Removals keep racing the lookups: the endpoints by id, looked up
        // under the shard locks the batch is applied under.
        let ids = ends.owned_ids()?;
        let attrs = batch.attrs;
        detach(py, || inner.batch_add_edges_by_id(&ids, attrs)).map_err(EdgeFail::Graph)
    }

    /// An edge batch's error as an exception, naming the item it belongs to
    /// when the batch met it as a whole (a missing node, an existing edge):
    /// the item adding the items one by one would fail at. Missing: the
    /// first item with that endpoint (the engine reports the first failure
    /// in item order). Existing: the edge's first item when the graph has
    /// it, else its second (which repeats the first). A scan of the items,
    /// no lookup but the one `has_edge`; under concurrent writes that may
    /// have changed since, and then names the edge's other item. The
    /// message is made in Rust (no Python code runs here).
    fn name_failing_edge_item(&self, py: Python<'_>, fail: EdgeFail, ends: &EdgeEnds<'_>) -> PyErr {
        const METHOD: &str = "batch_add_edges";
        match fail {
            EdgeFail::Py(e) => e,
            EdgeFail::Stop(e) => at_item(py, e, METHOD, ends.len()),
            EdgeFail::Graph(e) => {
                let k = match &e {
                    GraphError::NodeNotFound(id) => {
                        let id = id.as_ref();
                        ends.position(py, 0, |s, t| s == id || t == id)
                    }
                    GraphError::EdgeExists(s, t) => {
                        let (s, t) = (s.as_ref(), t.as_ref());
                        let directed = self.directed();
                        let inner = &self.inner;
                        let had = detach(py, || inner.has_edge(s, t));
                        let same = |a: NodeRef<'_>, b: NodeRef<'_>| {
                            (a == s && b == t) || (!directed && a == t && b == s)
                        };
                        ends.position(py, usize::from(!had), same)
                    }
                    _ => Ok(None),
                };
                match k {
                    Ok(Some(k)) => error_at_item(e, METHOD, k),
                    Ok(None) => e.into(),
                    Err(interrupt) => interrupt,
                }
            }
        }
    }

    /// The error of an edge batch whose item `stop` has an endpoint no node
    /// can have, the items before it having been looked up into `pairs`
    /// (all found): an earlier item that is already an edge (or repeats
    /// one), else `stop`'s first missing endpoint, as the items applied in
    /// order would fail.
    fn stop_error(
        &self,
        py: Python<'_>,
        stop: &Bound<'_, PyTuple>,
        pairs: &[(Ix, Ix)],
        epoch: u64,
    ) -> EdgeFail {
        let inner = &self.inner;
        if let Some(e) = detach(py, || inner.first_existing_edge(pairs, epoch)) {
            return EdgeFail::Graph(e);
        }
        // SAFETY: `edge_items` checked that the tuple has 2 or 3 items.
        let (s, d) = unsafe { endpoints(stop) };
        let missing =
            |x: &Bound<'_, PyAny>| node_ref_lenient(x).is_none_or(|id| !inner.contains(id));
        EdgeFail::Stop(node_not_found(if missing(&s) { &s } else { &d }))
    }

    fn op_from_tuple(&self, item: &Bound<'_, PyAny>, index: usize) -> PyResult<Staged> {
        let err = |what: &str| Self::item_error("batch_operations", index, what);
        let t = as_tuple(item)
            .ok_or_else(|| err(&format!("expected a tuple, not {}", type_name(item))))?;
        if t.is_empty() {
            return Err(err("empty operation"));
        }
        let code = t.get_item(0)?;
        let code = code
            .cast::<PyString>()
            .map_err(|_| err(&format!("opcode must be a str, not {}", type_name(&code))))?
            .to_str()?
            .to_owned();
        let arg = |i: usize| t.get_item(i);
        // A bad id raises naming the operation's index.
        let id = |i: usize| Self::item_id("batch_operations", index, &arg(i)?);
        // An id to look up: `None` for one no node can have (its type checked).
        let look = |i: usize| -> PyResult<Option<NodeId>> {
            let obj = arg(i)?;
            let id = Self::item_ref("batch_operations", index, &obj)?;
            Ok(id.map(|id| id.to_owned_id()))
        };
        let attrs = |i: usize| -> PyResult<PyAttrMap> {
            attrs_from_obj(&arg(i)?, self.home(), || {
                format!("batch_operations: item {index} ({code})")
            })
        };
        let want = |n: usize| -> PyResult<()> {
            if t.len() != n {
                return Err(PyValueError::new_err(format!(
                    "batch_operations: item {index}: {code} takes {} fields, got {}",
                    n - 1,
                    t.len() - 1
                )));
            }
            Ok(())
        };
        // An operation that names an id no node can have fails where it
        // stands, as the missing node (`probe`: see `Staged`) or edge it names.
        let no_node = |probe: Option<NodeId>, i: usize| -> PyResult<Staged> {
            Ok(Staged::Fails {
                probe,
                err: node_not_found(&arg(i)?),
            })
        };
        let no_edge = || -> PyResult<Staged> {
            Ok(Staged::Fails {
                probe: None,
                err: edge_not_found(&arg(1)?, &arg(2)?),
            })
        };
        Ok(match code.as_str() {
            "add_node" => {
                want(3)?;
                Staged::Op(Op::AddNode(id(1)?, attrs(2)?))
            }
            "update_node" => {
                want(3)?;
                match (look(1)?, attrs(2)?) {
                    (Some(n), attrs) => Staged::Op(Op::UpdateNode(n, attrs)),
                    (None, _) => no_node(None, 1)?,
                }
            }
            "remove_node" => {
                want(2)?;
                match look(1)? {
                    Some(n) => Staged::Op(Op::RemoveNode(n)),
                    None => no_node(None, 1)?,
                }
            }
            "add_edge" => {
                want(4)?;
                match (look(1)?, look(2)?, attrs(3)?) {
                    (Some(s), Some(t), attrs) => Staged::Op(Op::AddEdge(s, t, attrs)),
                    (None, _, _) => no_node(None, 1)?,
                    // The source, if it is missing when this operation
                    // comes, is the node `add_edge` names.
                    (Some(s), None, _) => no_node(Some(s), 2)?,
                }
            }
            "update_edge" => {
                want(4)?;
                match (look(1)?, look(2)?, attrs(3)?) {
                    (Some(s), Some(t), attrs) => Staged::Op(Op::UpdateEdge(s, t, attrs)),
                    _ => no_edge()?,
                }
            }
            "remove_edge" => {
                want(3)?;
                match (look(1)?, look(2)?) {
                    (Some(s), Some(t)) => Staged::Op(Op::RemoveEdge(s, t)),
                    _ => no_edge()?,
                }
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "batch_operations: item {index}: unknown operation '{other}'"
                )))
            }
        })
    }

    /// Results become fresh id objects, made in order: traversal order jumps
    /// around the index space, and objects made now (in cache-hot memory)
    /// beat cached ones scattered across the heap.
    pub(crate) fn ids_to_list<'py>(
        py: Python<'py>,
        ids: &[NodeId],
    ) -> PyResult<Bound<'py, PyList>> {
        Self::ids_to_list_yielding(py, ids, &mut GilYield::new())
    }

    /// [`Self::ids_to_list`], letting other threads have the GIL now and
    /// then (see [`GilYield`]). The list is made with its slots empty and
    /// kept out of the garbage collector's lists until they are filled:
    /// `gc.get_objects()` in another thread (or in a finalizer) would
    /// otherwise hand out a list with NULL items, and reading one crashed
    /// the interpreter (an audit, on `nodes()`, `bfs` and `dfs`).
    fn ids_to_list_yielding<'py>(
        py: Python<'py>,
        ids: &[NodeId],
        turn: &mut GilYield,
    ) -> PyResult<Bound<'py, PyList>> {
        let len = pyo3::ffi::Py_ssize_t::try_from(ids.len()).expect("a slice's length fits");
        // SAFETY: attached; a new list or null with an exception set.
        let list = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyList_New(len)) }?;
        // SAFETY: a new, GC-tracked list; tracked again once filled (freeing
        // it untracked would be harmless too).
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(list.as_ptr().cast()) };
        // Filled chunk by chunk (a tight inner loop), each slot once, in
        // order; until filled, no other code can reach the list.
        for (c, chunk) in ids.chunks(GilYield::STEPS).enumerate() {
            turn.ticks(py, chunk.len())?;
            for (k, id) in chunk.iter().enumerate() {
                let at = (c * GilYield::STEPS + k) as pyo3::ffi::Py_ssize_t;
                // SAFETY: `at` < `len`, the slot is empty, and the list takes
                // the new reference.
                unsafe {
                    pyo3::ffi::PyList_SET_ITEM(list.as_ptr(), at, id_to_py(py, id).into_ptr())
                };
            }
        }
        // SAFETY: every slot is filled; untracked above.
        unsafe { pyo3::ffi::PyObject_GC_Track(list.as_ptr().cast()) };
        // SAFETY: `PyList_New` made a list.
        Ok(unsafe { list.cast_into_unchecked::<PyList>() })
    }

    /// `{id: value}` for the items in order (a whole-graph result), with
    /// fresh id objects made in order, like traversal results: as fast as
    /// reusing cached ones, without keeping one per node.
    fn keyed_to_dict<'py, T>(py: Python<'py>, items: &[(NodeId, T)]) -> PyResult<Bound<'py, PyDict>>
    where
        T: Copy + IntoPyObject<'py>,
    {
        let dict = PyDict::new(py);
        let mut turn = GilYield::new();
        for chunk in items.chunks(GilYield::STEPS) {
            turn.ticks(py, chunk.len())?;
            for &(ref key, v) in chunk {
                dict.set_item(id_to_py(py, key), v)?;
            }
        }
        Ok(dict)
    }

    /// The attribute id of `name`, if any node or edge ever used it.
    fn weight_id(weight: Option<&str>) -> Option<Option<AttrId>> {
        // Outer None: no weighting. Inner None: a name never seen, so every edge weighs 1.
        weight.map(lookup_name)
    }

    /// Runs a whole-graph query on a fresh snapshot, detached. Returns only
    /// `work`'s result, which must own its data (ids resolved with
    /// `GraphView::keys`): the snapshot is dropped detached too.
    fn on_snapshot<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send,
    ) -> PyResult<T> {
        self.detached_view(py, false, work)
    }

    /// [`Self::on_snapshot`] for a traversal of most of the graph: the view
    /// reads its adjacency from the cached CSR (`AdjIndex`), rebuilt only for
    /// the shards written since the last traversal.
    fn on_traversal<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send,
    ) -> PyResult<T> {
        self.detached_view(py, true, work)
    }

    fn detached_view<T: Send>(
        &self,
        py: Python<'_>,
        indexed: bool,
        work: impl FnOnce(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send,
    ) -> PyResult<T> {
        let graph = &self.inner;
        run_detached(py, None, |cancel| {
            let snap = graph.snapshot();
            let view = snap.view();
            if indexed {
                let index = graph.columns.adjacency(&view, cancel)?;
                work(&view.with_adjacency(&index), cancel)
            } else {
                work(&view, cancel)
            }
        })
    }

    /// [`Self::on_traversal`] for a search from a source, which may stay
    /// small: when the cached CSR is stale (the graph was written since it
    /// was built), the search first runs on the snapshot's records and gives
    /// up at its first cancellation check (a few thousand nodes in), and
    /// only a search that grows that far rebuilds the stale part of the
    /// CSR and runs again on it. A small search right after a write used to
    /// rebuild an eighth of the CSR or more (1.7 ms per write + `bfs` pair
    /// on a 1M-node graph, for a two-node component).
    fn on_search<T: Send>(
        &self,
        py: Python<'_>,
        work: impl Fn(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send + Sync,
    ) -> PyResult<T> {
        let graph = &self.inner;
        run_detached(py, None, |cancel| {
            let snap = graph.snapshot();
            let view = snap.view();
            if let Some(index) = graph.columns.fresh_adjacency(&view) {
                return work(&view.with_adjacency(&index), cancel);
            }
            match work(&view, &cancel.giving_up()) {
                Err(GraphError::OverBudget) => {}
                done => return done,
            }
            let index = graph.columns.adjacency(&view, cancel)?;
            work(&view.with_adjacency(&index), cancel)
        })
    }

    /// Numeric value of `attr` for every node in order (`None`: missing or
    /// not numeric), from the graph's cached numeric columns.
    fn numeric_column(&self, py: Python<'_>, attr: &str) -> PyResult<Vec<Option<f64>>> {
        use crate::engine::filter::num_kind;
        let id = lookup_name(attr);
        let inner = &self.inner;
        let col = self.on_snapshot(py, |view, cancel| {
            let cols = id
                .map(|id| inner.columns.numeric(view, id, cancel))
                .transpose()?;
            let mut col = Vec::new();
            for (k, ix) in view.ixs().enumerate() {
                if k % 65536 == 0 {
                    cancel.check()?;
                }
                col.push(match cols.as_ref().map(|c| c.get(ix)) {
                    Some((num_kind::INT, raw)) => Some(raw as i64 as f64),
                    Some((num_kind::FLOAT, raw)) => Some(f64::from_bits(raw)),
                    _ => None,
                });
            }
            Ok(col)
        })?;
        Ok(col)
    }
}

/// Graph elements from which an O(n) read runs detached: below, the work
/// (tens of ns per element) costs less than letting the interpreter go and
/// taking it back.
const DETACH_MIN_ITEMS: usize = 4096;

/// Runs `f`, Rust work that touches no Python object, detached when it
/// covers `items` elements or more (see [`DETACH_MIN_ITEMS`]).
fn detached_if<T: Send>(py: Python<'_>, items: usize, f: impl FnOnce() -> T + Send) -> T {
    if items >= DETACH_MIN_ITEMS {
        detach(py, f)
    } else {
        f()
    }
}

/// How many items to reserve room for: `items`' own `len()`, but no more
/// than a million. A `__len__` is the caller's word, not a fact: trusting
/// 2**42 aborted the process (a failed allocation cannot be caught), and a
/// true length only saves a few re-allocations.
fn size_hint(items: &Bound<'_, PyAny>) -> usize {
    items.len().unwrap_or(0).min(1 << 20)
}

/// A batch's items as GLI reads them: a numpy array (of at least one
/// dimension) as the Python objects `arr.tolist()` makes, each row of a 2-D
/// (or deeper) array as a tuple, so that `batch_add_edges(np.array([[1, 2],
/// [2, 3]]))` adds `1 -> 2` and `2 -> 3` as the list of tuples would;
/// anything else as given. The reference backend reads them the same way
/// (`_args.batch_items`).
fn batch_items<'py>(method: &str, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // What cannot be iterated at all is named with the method (Python's own
    // error names neither).
    let ty = items.get_type();
    if !ty.hasattr(pyo3::intern!(items.py(), "__iter__"))?
        && !ty.hasattr(pyo3::intern!(items.py(), "__getitem__"))?
    {
        return Err(PyTypeError::new_err(format!(
            "{method}: expected an iterable, not {}",
            type_name(items)
        )));
    }
    let Ok(arr) = items.cast::<PyUntypedArray>() else {
        return Ok(items.clone());
    };
    if arr.ndim() == 0 {
        return Ok(items.clone());
    }
    // An ndarray subclass may make anything of `tolist()`: the error names
    // the method and what came back, not PyO3's bare cast.
    let junk = |what: &str, got: &Bound<'py, PyAny>| {
        PyTypeError::new_err(format!(
            "{method}: {}.tolist() returned {what}{}, not a list",
            type_name(items),
            type_name(got)
        ))
    };
    // Exactly a list (of lists), as numpy makes: a subclass could index and
    // iterate differently, and the two backends read it one way each.
    let made = arr.call_method0("tolist")?;
    let rows = made
        .cast_into_exact::<PyList>()
        .map_err(|e| junk("", e.into_inner().as_any()))?;
    if arr.ndim() == 1 {
        return Ok(rows.into_any());
    }
    // Rows as tuples, in a new list: the one `tolist()` returned is the
    // caller's (a subclass may hand out one it keeps) and stays as it was.
    let tuples = rows
        .iter()
        .map(|row| match row.cast_exact::<PyList>() {
            Ok(list) => Ok(PyTuple::new(items.py(), list)?),
            Err(_) => Err(junk("a row of type ", &row)),
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(items.py(), tuples)?.into_any())
}

/// The values of a numpy integer array, in row order, when `shape_ok` accepts
/// its shape and every value of its dtype is an `i64` (signed dtypes, and
/// unsigned ones up to 32 bits): a batch of int ids read without a Python
/// object per id. `None` for anything else, which [`batch_items`] reads.
fn numpy_ints(
    items: &Bound<'_, PyAny>,
    shape_ok: impl Fn(&[usize]) -> bool,
) -> PyResult<Option<Vec<i64>>> {
    // `numpy.ndarray` itself: a subclass (a masked array: its hidden
    // entries are `None` in `tolist()`) is read as its `tolist()`.
    let Ok(arr) = items.cast_exact::<PyUntypedArray>() else {
        return Ok(None);
    };
    let dtype = arr.dtype();
    let fits = match dtype.kind() {
        b'i' => true,
        b'u' => dtype.itemsize() < 8,
        _ => false,
    };
    if !fits || !shape_ok(arr.shape()) {
        return Ok(None);
    }
    let py = items.py();
    static ASCONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let to_i64 = ASCONTIGUOUS.import(py, "numpy", "ascontiguousarray")?;
    let c = to_i64.call1((arr, PyArrayDescr::of::<i64>(py)))?;
    let c = c.cast_into::<PyArrayDyn<i64>>()?;
    let values = c
        .try_readonly()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let values = values
        .as_slice()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(Some(values.to_vec()))
}

/// A converted `batch_operations` item.
enum Staged {
    Op(Op<PyPayload>),
    /// An operation naming an id no node can have: it fails with `err`,
    /// unless an earlier one fails first or `probe` (its source) is a node
    /// missing by then.
    Fails {
        probe: Option<NodeId>,
        err: PyErr,
    },
}

/// A batch's edge endpoints, in item order: the first `ints.len() / 2`
/// items' as ints (`s0, t0, s1, t1, ...`), read once (every edge of a numpy
/// array; the leading all-int items of any other batch, a bulk load's every
/// item), and the rest as their tuples (ids type-checked), kept, one
/// reference each, for the lookups and for a re-resolution should concurrent
/// removals force one; up to the first item with an id no node can have
/// (`stop`).
struct EdgeEnds<'py> {
    ints: Vec<i64>,
    tuples: Vec<Bound<'py, PyTuple>>,
    /// The first item with an endpoint no node can have (an `int` beyond 64
    /// bits, a `str` with a lone surrogate): the batch fails at it, so the
    /// items above are those before it.
    stop: Option<Bound<'py, PyTuple>>,
}

/// How an edge batch failed (see [`PyGraph::name_failing_edge_item`]).
enum EdgeFail {
    /// A missing node or an existing edge, which the batch met as a whole.
    Graph(GraphError),
    /// The item after those read ([`EdgeEnds::stop`]): an endpoint no node
    /// can have.
    Stop(PyErr),
    /// Anything else (a Ctrl-C, a bad id), as it is.
    Py(PyErr),
}

impl From<PyErr> for EdgeFail {
    fn from(e: PyErr) -> Self {
        EdgeFail::Py(e)
    }
}

impl EdgeEnds<'_> {
    fn len(&self) -> usize {
        self.ints.len() / 2 + self.tuples.len()
    }

    /// The index of the item after the first `skip` items whose endpoints
    /// satisfy `hit` (items in order: the leading int pairs, then the
    /// tuples). Polls for Ctrl-C as it goes (a batch can be huge): an
    /// interrupt is the error, not a lost item number.
    fn position(
        &self,
        py: Python<'_>,
        skip: usize,
        hit: impl Fn(NodeRef<'_>, NodeRef<'_>) -> bool,
    ) -> PyResult<Option<usize>> {
        let ints =
            (self.ints.chunks_exact(2)).map(|e| Some((NodeRef::Int(e[0]), NodeRef::Int(e[1]))));
        let tuples = self.tuples.iter().map(|t| {
            // SAFETY: `edge_items` checked that every tuple has 2 or 3 items.
            let (s, d) = unsafe { endpoints(t) };
            Some((node_ref_borrowed(s).ok()?, node_ref_borrowed(d).ok()?))
        });
        let mut hits = 0;
        for (k, ends) in ints.chain(tuples).enumerate() {
            if k % (1 << 16) == 0 {
                py.check_signals()?;
            }
            if ends.is_some_and(|(s, t)| hit(s, t)) {
                if hits == skip {
                    return Ok(Some(k));
                }
                hits += 1;
            }
        }
        Ok(None)
    }

    /// Every endpoint as an owned id, two per edge, in item order.
    fn owned_ids(&self) -> PyResult<Vec<NodeId>> {
        let mut ids: Vec<NodeId> = self.ints.iter().map(|&i| NodeId::Int(i)).collect();
        ids.reserve(2 * self.tuples.len());
        for t in &self.tuples {
            // SAFETY: `edge_items` checked that every tuple has 2 or 3 items.
            let (s, d) = unsafe { endpoints(t) };
            ids.push(node_ref_borrowed(s)?.to_owned_id());
            ids.push(node_ref_borrowed(d)?.to_owned_id());
        }
        Ok(ids)
    }
}

#[pymethods]
impl PyGraph {
    #[new]
    #[pyo3(signature = (directed = FlagArg::new(true), backend = StrArg::of("rust")), text_signature = "(directed=True, backend='rust')")]
    fn new(py: Python<'_>, directed: FlagArg, backend: StrArg) -> PyResult<Self> {
        let _call = trace::call("new");
        let directed = directed.value("Graph", "directed")?;
        let backend = backend.value("Graph", "backend")?;
        if backend == "python" {
            return Err(PyValueError::new_err(
                "gli._core.Graph is the rust backend only: gli.Graph(backend='python') makes a reference-backend graph",
            ));
        }
        if backend != "rust" {
            return Err(PyValueError::new_err(format!(
                "unknown backend '{backend}': expected 'rust' or 'python'"
            )));
        }
        Ok(Self {
            inner: Arc::new(Graph::new(directed)),
            handles: HandleCache::default(),
            values: Values::new(py)?,
        })
    }

    /// The collector's view of the graph: its registered opaque values,
    /// reported by `values` (see `values.rs`), never by walking the records.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.values)
    }

    /// Breaks a garbage cycle through the graph's values: empties it. Only
    /// the collector calls this, on a graph nothing reachable refers to, so
    /// no call on it runs (a running call holds the graph).
    fn __clear__(&self, py: Python<'_>) {
        self.inner.clear();
        self.handles.clear();
        release_queued(py);
    }

    /// True for a directed graph.
    #[getter]
    fn directed(&self) -> bool {
        self.inner.is_directed()
    }

    /// Always ``"rust"`` for this class.
    #[getter]
    fn backend(&self) -> &'static str {
        "rust"
    }

    /// True for a directed graph (as NetworkX's ``is_directed()``).
    fn is_directed(&self) -> bool {
        let _call = trace::call("is_directed");
        self.inner.is_directed()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let name = slf.get_type().qualname()?;
        Ok(format!(
            "<gli.{name} directed={} nodes={} edges={} backend='rust'>",
            if this.inner.is_directed() {
                "True"
            } else {
                "False"
            },
            this.inner.node_count(),
            this.inner.edge_count()
        ))
    }

    // ------------------------------------------------------------ mutation

    // add_node, add_edge, update_node and update_edge take their attributes
    // as keywords: see `methods.rs` (installed as fastcall methods at init).

    /// Removes a node and its edges. Locks its shard and its neighbours' shards.
    #[pyo3(signature = (node_id, /))]
    fn remove_node(&self, py: Python<'_>, node_id: &Bound<'_, PyAny>) -> PyResult<()> {
        let _call = trace::call("remove_node");
        let id = lookup_node(node_id)?.to_owned_id();
        // A hub may need every shard: wait for them detached.
        let inner = &self.inner;
        Ok(self.detach_renumbering(py, || inner.remove_node(id.as_ref()))?)
    }

    /// Removes the edge ``source -> target`` and its attributes
    /// (``EdgeNotFoundError`` if absent). Locks the endpoints' shards.
    #[pyo3(signature = (source, target, /))]
    fn remove_edge(&self, source: &Bound<'_, PyAny>, target: &Bound<'_, PyAny>) -> PyResult<()> {
        let _call = trace::call("remove_edge");
        let (s, t) = lookup_edge(source, target)?;
        Ok(self.inner.remove_edge(s, t)?)
    }

    /// Removes every node and edge (locks every shard, detached).
    fn clear(&self, py: Python<'_>) {
        let _call = trace::call("clear");
        let inner = &self.inner;
        detach(py, || inner.clear());
        self.handles.clear();
    }

    /// Adds every item (``id`` or ``(id, attrs)``) in one call, atomically.
    /// A numpy array's items are its ``tolist()`` (a 1-D int array: its ids).
    /// Converts attached, then applies detached under every shard's lock.
    #[pyo3(signature = (items, /))]
    fn batch_add_nodes(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
        let _call = trace::call("batch_add_nodes");
        let home = self.home();
        if let Some(ints) = numpy_ints(items, |shape| shape.len() == 1)? {
            let batch = ints.into_iter().map(|i| (NodeId::Int(i), None)).collect();
            return self.add_nodes(py, batch, &_call);
        }
        let items = &batch_items("batch_add_nodes", items)?;
        // One borrow of the name cache for the whole batch (an `items`
        // iterator that calls back into gli gets an uncached one).
        let batch = with_name_ids(|names| -> PyResult<Vec<(NodeId, Attrs<PyPayload>)>> {
            let mut batch = Vec::with_capacity(size_hint(items));
            // Each item's attributes are converted here, then stored in one
            // allocation sized for them: the buffer is reused.
            let mut scratch = PyAttrMap::new();
            for (index, item) in iterate(items)?.enumerate() {
                let item = item?;
                if let Some(t) = as_tuple(&item) {
                    if t.len() != 2 {
                        return Err(PyValueError::new_err(format!(
                            "batch_add_nodes: item {index}: expected (id, attrs), got a tuple of length {}",
                            t.len()
                        )));
                    }
                    // SAFETY: the length was checked just above.
                    let (id, attrs) = unsafe {
                        (
                            t.get_borrowed_item_unchecked(0),
                            t.get_borrowed_item_unchecked(1),
                        )
                    };
                    // The id first, as the reference backend checks them.
                    let id = Self::item_id("batch_add_nodes", index, &id)?;
                    attrs_from_obj_into(names, &attrs, &mut scratch, home, || {
                        format!("batch_add_nodes: item {index}")
                    })?;
                    batch.push((id, scratch.take_attrs()));
                } else {
                    batch.push((Self::item_id("batch_add_nodes", index, &item)?, None));
                }
            }
            Ok(batch)
        })?;
        self.add_nodes(py, batch, &_call)
    }

    /// Adds every ``(s, t)`` / ``(s, t, attrs)`` in one call, atomically.
    /// A numpy array's rows are its items (an int array of shape ``(m, 2)``:
    /// its edges).
    #[pyo3(signature = (items, /))]
    fn batch_add_edges(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
        let _call = trace::call("batch_add_edges");
        let (ends, attrs) = match numpy_ints(items, |shape| shape.len() == 2 && shape[1] == 2)? {
            Some(ints) => (
                EdgeEnds {
                    ints,
                    tuples: Vec::new(),
                    stop: None,
                },
                Vec::new(),
            ),
            None => self.edge_items(&batch_items("batch_add_edges", items)?)?,
        };
        self.add_edge_batch(py, &ends, attrs, &_call)
            .map_err(|e| self.name_failing_edge_item(py, e, &ends))
    }

    /// Lowers how many indices the graph hands out before it renumbers its
    /// live nodes (for tests of compaction: the real limit is 2^32 - 1).
    /// Returns how many renumberings (and ``clear()`` calls) it has seen.
    #[pyo3(signature = (limit=None, /))]
    fn _index_limit(&self, limit: Option<u64>) -> u64 {
        if let Some(limit) = limit {
            self.inner.set_index_limit(limit);
        }
        self.inner.epoch()
    }

    /// Applies recorded operations atomically (``Graph.batch_operations()``).
    #[pyo3(signature = (ops, /))]
    fn _apply_ops(&self, py: Python<'_>, ops: &Bound<'_, PyAny>) -> PyResult<()> {
        let _call = trace::call("_apply_ops");
        let mut batch = Vec::new();
        // The first operation naming an id no node can have: the batch
        // fails there. Every operation is still converted (checked) first.
        let mut fails = None;
        for (index, item) in iterate(ops)?.enumerate() {
            match self.op_from_tuple(&item?, index)? {
                _ if fails.is_some() => {}
                Staged::Op(op) => batch.push(op),
                Staged::Fails { probe, err } => {
                    fails = Some((probe, at_item(py, err, "batch_operations", index)))
                }
            }
        }
        _call.items(batch.len());
        let inner = &self.inner;
        if let Some((probe, err)) = fails {
            // An earlier operation's failure comes first; then the failing
            // operation's source, when it is missing by then.
            batch.extend(probe.map(|s| Op::UpdateNode(s, PyAttrMap::new())));
            detach(py, || inner.check_ops(&batch))?;
            return Err(err);
        }
        Ok(self.detach_renumbering(py, || inner.apply(batch))?)
    }

    // ------------------------------------------------------- point queries
    // has_node, get_node, successors, predecessors, neighbors and the degrees
    // take one argument: see `methods.rs` (installed as METH_O methods), as
    // are node_count and edge_count (METH_NOARGS).

    fn __contains__(&self, node_id: &Bound<'_, PyAny>) -> bool {
        let _call = trace::call("__contains__");
        node_ref_lenient(node_id).is_some_and(|id| self.inner.contains(id))
    }

    fn __len__(&self) -> usize {
        let _call = trace::call("__len__");
        self.inner.node_count()
    }

    /// ``for n in g``: the node ids in insertion order, as ``nodes()`` lists
    /// them at the call (later writes do not change the iteration, and
    /// writing while iterating is allowed).
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.nodes(py, FlagArg::new(false))?.try_iter()
    }

    /// True if the edge exists. Never raises.
    #[pyo3(signature = (source, target, /))]
    fn has_edge(&self, source: &Bound<'_, PyAny>, target: &Bound<'_, PyAny>) -> bool {
        let _call = trace::call("has_edge");
        match (node_ref_lenient(source), node_ref_lenient(target)) {
            (Some(s), Some(t)) => self.inner.has_edge(s, t),
            _ => false,
        }
    }

    /// A fresh dict of the edge's attributes.
    #[pyo3(signature = (source, target, /))]
    fn get_edge<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let _call = trace::call("get_edge");
        let (s, t) = lookup_edge(source, target)?;
        let attrs = self.inner.edge_attrs(s, t)?;
        attrs_to_dict(py, attrs.as_deref())
    }

    /// Attribute dicts of many nodes, read from one consistent state.
    #[pyo3(signature = (ids, /))]
    fn get_nodes_batch<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("get_nodes_batch");
        let objs: Vec<Bound<'py, PyAny>> =
            iterate(&batch_items("get_nodes_batch", ids)?)?.collect::<PyResult<_>>()?;
        _call.items(objs.len());
        let refs = Self::item_refs("get_nodes_batch", &objs)?;
        let inner = &self.inner;
        let attrs = detached_if(py, refs.len(), || inner.nodes_attrs(&refs)).map_err(|e| {
            // The first missing id, in order: named with its first item.
            let k = match &e {
                GraphError::NodeNotFound(id) => refs.iter().position(|r| *r == id.as_ref()),
                _ => None,
            };
            match k {
                Some(k) => error_at_item(e, "get_nodes_batch", k),
                None => e.into(),
            }
        })?;
        let out = PyList::empty(py);
        let mut turn = GilYield::new();
        for a in &attrs {
            turn.tick(py)?;
            out.append(attrs_to_dict(py, a.as_deref())?)?;
        }
        Ok(out)
    }

    /// Node ids in insertion order; ``data=True`` gives ``(id, dict)`` pairs.
    #[pyo3(signature = (data = FlagArg::new(false)), text_signature = "($self, data=False)")]
    fn nodes<'py>(&self, py: Python<'py>, data: FlagArg) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("nodes");
        let data = data.value("nodes", "data")?;
        let (inner, n) = (&self.inner, self.inner.node_count());
        if !data {
            let ids = detached_if(py, n, || inner.node_ids());
            return Self::ids_to_list(py, &ids);
        }
        let nodes = detached_if(py, n, || inner.nodes());
        let out = PyList::empty(py);
        let mut turn = GilYield::new();
        for (id, attrs) in &nodes {
            turn.tick(py)?;
            out.append(PyTuple::new(
                py,
                [
                    id_to_py(py, id),
                    attrs_to_dict(py, attrs.as_deref())?.into_any(),
                ],
            )?)?;
        }
        Ok(out)
    }

    /// Edges as ``(s, t)``; ``data=True`` gives ``(s, t, dict)``.
    #[pyo3(signature = (data = FlagArg::new(false)), text_signature = "($self, data=False)")]
    fn edges<'py>(&self, py: Python<'py>, data: FlagArg) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("edges");
        let data = data.value("edges", "data")?;
        let inner = &self.inner;
        let edges = detached_if(py, inner.edge_count(), || inner.edges(data));
        let out = PyList::empty(py);
        let mut turn = GilYield::new();
        for e in &edges {
            turn.tick(py)?;
            let (s, t) = (id_to_py(py, &e.source), id_to_py(py, &e.target));
            if data {
                out.append(PyTuple::new(
                    py,
                    [s, t, attrs_to_dict(py, e.attrs.as_deref())?.into_any()],
                )?)?;
            } else {
                out.append(PyTuple::new(py, [s, t])?)?;
            }
        }
        Ok(out)
    }

    // -------------------------------------------------------- read queries
    // Each runs its Rust work detached (see `detach.rs`); whole-graph queries
    // on a snapshot, short ones under the shards' read locks.

    /// Nodes in breadth-first order from ``source`` (included), following
    /// out-edges, up to ``depth_limit`` hops.
    /// `(image: bytes, objects: list)`: a compact binary image of the graph
    /// (taken from one snapshot) and the opaque attribute values it refers to
    /// by index. For pickle and copy.
    fn _dump_state<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyList>)> {
        let _call = trace::call("_dump_state");
        let (bytes, objs) = self.on_snapshot(py, |view, c| {
            let mut objs: Vec<PyPayload> = Vec::new();
            let mut opaque = |o: &PyPayload| {
                objs.push(o.clone());
                (objs.len() - 1) as u32
            };
            let bytes = crate::engine::state::dump(view, &mut opaque, c)?;
            Ok((bytes, objs))
        })?;
        let list = PyList::new(py, objs.iter().map(|o| o.bind(py)))?;
        Ok((PyBytes::new(py, &bytes), list))
    }

    /// Loads an image from `_dump_state` into this graph, which must be empty
    /// and not yet shared with other threads. A corrupt image raises
    /// `ValueError` and changes nothing.
    #[pyo3(signature = (image, objects, /))]
    fn _load_state(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyBytes>,
        objects: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        let _call = trace::call("_load_state");
        let home = self.home();
        let objs: Vec<PyPayload> = objects.iter().map(|o| value_payload(&o, home)).collect();
        let bytes = image.as_bytes();
        let inner = &self.inner;
        run_detached(py, None, |c| {
            let mut opaque = |k: u32| {
                objs.get(k as usize).cloned().ok_or_else(|| {
                    GraphError::InvalidValue(format!(
                        "corrupt graph state: opaque value {k} of {}",
                        objs.len()
                    ))
                })
            };
            let img = crate::engine::state::load(bytes, &mut opaque, c)?;
            inner.restore(img, c)
        })
    }

    /// Ids of the nodes passing `where` and `predicate`, in insertion order.
    #[pyo3(
        signature = (predicate = None, *, r#where = None, batch_size = None, vectorized = FlagArg::new(false)),
        text_signature = "($self, predicate=None, *, where=None, batch_size=None, vectorized=False)"
    )]
    fn filter_nodes<'py>(
        &self,
        py: Python<'py>,
        predicate: Option<Bound<'py, PyAny>>,
        r#where: Option<&Bound<'py, PyAny>>,
        batch_size: Option<&Bound<'py, PyAny>>,
        vectorized: FlagArg,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("filter_nodes");
        let vectorized = vectorized.value("filter_nodes", "vectorized")?;
        let default = if vectorized {
            filter::DEFAULT_VECTOR_BATCH
        } else {
            filter::DEFAULT_BATCH
        };
        let args =
            filter::FilterArgs::parse("filter_nodes", predicate, r#where, batch_size, default)?;
        let held = (&self.handles, &self.values);
        filter::filter_nodes(py, &self.inner, held, args, vectorized)
    }

    /// `(source, target)` of the edges passing `where` and `predicate`, in `edges()` order.
    #[pyo3(signature = (predicate = None, *, r#where = None, batch_size = None))]
    fn filter_edges<'py>(
        &self,
        py: Python<'py>,
        predicate: Option<Bound<'py, PyAny>>,
        r#where: Option<&Bound<'py, PyAny>>,
        batch_size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("filter_edges");
        let args = filter::FilterArgs::parse(
            "filter_edges",
            predicate,
            r#where,
            batch_size,
            filter::DEFAULT_BATCH,
        )?;
        filter::filter_edges(py, &self.inner, &self.values, args)
    }

    /// Nodes in breadth-first order from ``source`` (itself first), along
    /// out-edges, at most ``depth_limit`` hops away when given.
    #[pyo3(signature = (source, /, depth_limit = None))]
    fn bfs<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        depth_limit: Option<IntArg>,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("bfs");
        let depth_limit = depth_limit
            .map(|d| d.count("bfs", "depth_limit"))
            .transpose()?;
        let src = lookup_node(source)?;
        let inner = &self.inner;
        let work = |view: &GraphView<'_, PyPayload>, c: &Cancel<'_>| {
            view.keys(
                &algo::bfs(view, inner.ix_in(view, src)?, depth_limit, c)?,
                c,
            )
        };
        // A depth-limited search may stay local: it reads the records.
        let ids = match depth_limit {
            None => self.on_search(py, work)?,
            Some(_) => self.on_snapshot(py, work)?,
        };
        Self::ids_to_list(py, &ids)
    }

    /// Nodes in depth-first preorder from ``source``.
    #[pyo3(signature = (source, /))]
    fn dfs<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("dfs");
        let src = lookup_node(source)?;
        let inner = &self.inner;
        let ids = self.on_search(py, |view, c| {
            view.keys(&algo::dfs(view, inner.ix_in(view, src)?, c)?, c)
        })?;
        Self::ids_to_list(py, &ids)
    }

    /// Nodes at distance 1..k from ``source`` (not itself), in BFS order.
    /// Runs under the shards' read locks (no snapshot), detached.
    #[pyo3(signature = (source, /, k))]
    fn k_hop<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        k: IntArg,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("k_hop");
        let k = k.count("k_hop", "k")?;
        let src = lookup_node(source)?;
        let inner = &self.inner;
        let ids = run_detached(py, None, |c| {
            // Under every shard's read lock, where nothing may wait on the
            // interpreter (a writer can hold the GIL while it waits for one
            // of these locks): no Ctrl-C polls, and a search that grows past
            // K_HOP_LOCKED_MAX gives the locks up and runs again on a
            // snapshot, where it may poll.
            let quick = inner.with_view(|view| {
                let ix = inner.ix_in_locked(view, src)?;
                // The result's records lie at random: `keys_of` prefetches
                // ahead, so that their misses overlap (and polls nothing).
                Ok::<_, GraphError>(algo::k_hop_within(view, ix, k, K_HOP_LOCKED_MAX).map(|o| {
                    view.keys_of(&o, |&ix| ix)
                        .map(|(k, _)| k.clone())
                        .collect::<Vec<NodeId>>()
                }))
            })?;
            if let Some(ids) = quick {
                return Ok(ids);
            }
            let snap = inner.snapshot();
            let view = snap.view();
            let order = algo::k_hop(&view, inner.ix_in(&view, src)?, k, c)?;
            // Prefetching too, and interruptible: a hub's result can be huge.
            view.keys(&order, c)
        })?;
        Self::ids_to_list(py, &ids)
    }

    /// One shortest path ``source -> target`` (BFS, or Dijkstra on ``weight``).
    #[pyo3(signature = (source, target, /, weight = None))]
    fn shortest_path<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        weight: Option<StrArg>,
    ) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("shortest_path");
        let weight = StrArg::optional(weight.as_ref(), "shortest_path", "weight")?;
        let (s, t) = lookup_nodes(source, target)?;
        let (path, _) = self.path(py, s, t, weight)?;
        Self::ids_to_list(py, &path)
    }

    /// Length of a shortest path (hops, or total weight).
    #[pyo3(signature = (source, target, /, weight = None))]
    fn shortest_path_length<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        weight: Option<StrArg>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _call = trace::call("shortest_path_length");
        let weight = StrArg::optional(weight.as_ref(), "shortest_path_length", "weight")?;
        let (s, t) = lookup_nodes(source, target)?;
        let (path, dist) = self.path(py, s, t, weight)?;
        match dist {
            Some(d) => d.into_pyobject(py),
            None => Ok((path.len() - 1).into_pyobject(py)?.into_any()),
        }
    }

    /// ``{node: distance}`` from ``source`` to every reachable node.
    #[pyo3(signature = (source, /, weight = None))]
    fn shortest_path_lengths<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        weight: Option<StrArg>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let _call = trace::call("shortest_path_lengths");
        let weight = StrArg::optional(weight.as_ref(), "shortest_path_lengths", "weight")?;
        let src = lookup_node(source)?;
        let inner = &self.inner;
        match Self::weight_id(weight) {
            None => {
                let lengths = self.on_search(py, |view, c| {
                    view.keyed(&algo::bfs_lengths(view, inner.ix_in(view, src)?, c)?, c)
                })?;
                Self::keyed_to_dict(py, &lengths)
            }
            Some(w) => {
                let lengths = self.on_search(py, |view, c| {
                    let s = inner.ix_in(view, src)?;
                    let settled = match w {
                        Some(w) => algo::dijkstra(view, s, None, w, c)?.0,
                        // A name no edge has: each weighs DESIGN's 1.0.
                        None => algo::bfs_lengths(view, s, c)?
                            .into_iter()
                            .map(|(ix, d)| (ix, Length::of_unweighted(d)))
                            .collect(),
                    };
                    view.keyed(&settled, c)
                })?;
                Self::keyed_to_dict(py, &lengths)
            }
        }
    }

    /// Connected components (weakly connected when directed), largest first.
    fn connected_components<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let _call = trace::call("connected_components");
        let comps = self.on_traversal(py, |view, c| {
            let comps = algo::connected_components(view, c)?;
            comps
                .iter()
                .map(|comp| view.keys(comp, c))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut turn = GilYield::new();
        PyList::new(
            py,
            comps
                .iter()
                .map(|ids| Self::ids_to_list_yielding(py, ids, &mut turn))
                .collect::<PyResult<Vec<_>>>()?,
        )
    }

    /// PageRank as NetworkX defines it. Multithreaded on large graphs.
    #[pyo3(
        signature = (alpha = RealArg::new(0.85), max_iter = IntArg::new(100), tol = RealArg::new(1e-6), weight = None),
        text_signature = "($self, alpha=0.85, max_iter=100, tol=1e-6, weight=None)"
    )]
    fn pagerank<'py>(
        &self,
        py: Python<'py>,
        alpha: RealArg,
        max_iter: IntArg,
        tol: RealArg,
        weight: Option<StrArg>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let _call = trace::call("pagerank");
        let weight = StrArg::optional(weight.as_ref(), "pagerank", "weight")?;
        let (alpha_f, tol_f) = (
            alpha.value("pagerank", "alpha")?,
            tol.value("pagerank", "tol")?,
        );
        if !(0.0..=1.0).contains(&alpha_f) {
            return Err(PyValueError::new_err(format!(
                "pagerank: alpha must be in [0, 1], got {}",
                alpha.shown(py)?
            )));
        }
        // A negative or NaN tolerance can never be met: an error now, not
        // `max_iter` iterations and then a `ConvergenceError`.
        if tol_f.is_nan() || tol_f < 0.0 {
            return Err(PyValueError::new_err(format!(
                "pagerank: tol must be >= 0, got {}",
                tol.shown(py)?
            )));
        }
        let max_iter = max_iter.count("pagerank", "max_iter")?;
        let w = Self::weight_id(weight).flatten();
        let ranks = self.on_traversal(py, |view, c| {
            view.keyed(&algo::pagerank(view, alpha_f, max_iter, tol_f, w, c)?, c)
        })?;
        Self::keyed_to_dict(py, &ranks)
    }

    /// A new, independent graph of ``ids`` and the edges among them.
    #[pyo3(signature = (ids, /))]
    fn subgraph<'py>(
        slf: &Bound<'py, Self>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _call = trace::call("subgraph");
        let py = slf.py();
        let this = slf.get();
        let objs: Vec<Bound<'py, PyAny>> =
            iterate(&batch_items("subgraph", ids)?)?.collect::<PyResult<_>>()?;
        _call.items(objs.len());
        let refs = Self::item_refs("subgraph", &objs)?;
        // Of this graph's class, made as a copy is (`gli.graph._like`: the
        // class's `__init__` does not run); a subclass's `__new__` and the
        // attribute copy are Python code.
        static LIKE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let like = LIKE.import(py, "gli.graph", "_like")?;
        let new = calling_python(py, || like.call1((slf,)))?;
        let new_graph = new.cast::<PyGraph>()?.get();
        let target = new_graph.inner.clone();
        let inner = &this.inner;
        run_detached(py, None, |c| inner.subgraph_into(&refs, &target, c))?;
        // The new graph shares this one's opaque values: they stay reachable
        // through it (see `values.rs`). Adopted once taken, so that only the
        // homes that still have values are.
        new_graph.values.get().adopt(this.values.bind(py));
        Ok(new)
    }

    /// numpy float64 array of ``attr`` over the nodes where it is numeric, in node order.
    #[pyo3(signature = (attr = StrArg::of("value")), text_signature = "($self, attr='value')")]
    fn get_node_values_as_array<'py>(
        &self,
        py: Python<'py>,
        attr: StrArg,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let _call = trace::call("get_node_values_as_array");
        let attr = attr.value("get_node_values_as_array", "attr")?;
        filter::numpy_api(py)?;
        let col: Vec<f64> = self
            .numeric_column(py, attr)?
            .into_iter()
            .flatten()
            .collect();
        Ok(col.into_pyarray(py))
    }

    /// numpy float64 array of ``attr`` aligned with ``nodes()`` (``default`` where
    /// missing or not numeric; `None`: NaN, as for `batch.column`).
    #[pyo3(signature = (attr, default = None), text_signature = "($self, attr, default=math.nan)")]
    fn node_attribute_array<'py>(
        &self,
        py: Python<'py>,
        attr: StrArg,
        default: Option<RealArg>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let _call = trace::call("node_attribute_array");
        let attr = attr.value("node_attribute_array", "attr")?;
        filter::numpy_api(py)?;
        let default =
            default.map_or(Ok(f64::NAN), |d| d.value("node_attribute_array", "default"))?;
        let col: Vec<f64> = self
            .numeric_column(py, attr)?
            .into_iter()
            .map(|v| v.unwrap_or(default))
            .collect();
        Ok(col.into_pyarray(py))
    }
}

impl PyGraph {
    /// Shortest path and (when weighted) its length, on one snapshot.
    #[allow(clippy::type_complexity)]
    fn path(
        &self,
        py: Python<'_>,
        s: crate::engine::NodeRef<'_>,
        t: crate::engine::NodeRef<'_>,
        weight: Option<&str>,
    ) -> PyResult<(Vec<NodeId>, Option<Length>)> {
        let inner = &self.inner;
        let w = Self::weight_id(weight);
        self.on_snapshot(py, |view, c| {
            let (a, b) = (inner.ix_in(view, s)?, inner.ix_in(view, t)?);
            let no_path = || GraphError::NoPath(s.to_owned_id(), t.to_owned_id());
            match w {
                Some(Some(w)) => {
                    let (settled, pred) = algo::dijkstra(view, a, Some(b), w, c)?;
                    let &(last, d) = settled
                        .last()
                        .filter(|(ix, _)| *ix == b)
                        .ok_or_else(no_path)?;
                    let path = algo::walk_back(&pred, a, last);
                    Ok((view.keys(&path, c)?, Some(d)))
                }
                _ => {
                    let path = algo::bfs_path(view, a, b, c)?.ok_or_else(no_path)?;
                    let d = w.map(|_| Length::of_unweighted(path.len() - 1));
                    Ok((view.keys(&path, c)?, d))
                }
            }
        })
    }
}

/// A path length as Python sums it: an `int` (exact, any size) or a `float`.
impl<'py> IntoPyObject<'py> for Length {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Length::Int(i) => i.into_pyobject(py)?.into_any(),
            Length::Float(x) => x.into_pyobject(py)?.into_any(),
        })
    }
}

/// The largest `k_hop` result searched under the shards' read locks (about
/// a tenth of a millisecond of work); a larger one runs on a snapshot.
const K_HOP_LOCKED_MAX: usize = 1 << 14;
