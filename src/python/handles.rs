//! Each shard's node id objects in a dense column, for building long result
//! lists (`where`-only `filter_nodes` results, vectorized batches' id lists).
//!
//! A node's id object is its record's handle, behind an `Arc` (engine-side
//! clones of a record stay free of the interpreter): handing it out reads
//! the record, then the `Arc`, then increfs the object, two dependent cache
//! misses before the incref. Turning half a million filter candidates into a
//! list that way took 5.2 ms here; from a column of object addresses, which
//! reads 8 bytes per node and increfs, 3.2-3.8 ms (slicing a Python list of
//! the same objects: ~2 ms).
//!
//! A column belongs to one version of one shard and holds each record's
//! handle (`Arc` clones), so the objects it points to outlive it whatever
//! happens to the graph; it serves only views of that very version (a
//! renumbering of the graph's nodes gives every shard a new version, so an
//! index never reads a column of another numbering). It is built detached
//! (the `Arc` clones need no interpreter; rayon over the shards) when a
//! call wants one for a shard version that has none; a write makes the
//! shard's column stale, and the next call that wants it rebuilds that
//! shard's alone. Id objects not made
//! yet are made first, attached, as handing them out would. A per-node
//! predicate does not use the columns: it reads each record for its
//! attribute view anyway, and takes the id object from there.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use rayon::prelude::*;

use super::convert::{node_obj, PyPayload};
use super::detach::{run_detached, GilYield};
use crate::engine::cancel::Cancel;
use crate::engine::counters::{bump, Counter};
use crate::engine::slots::Run;
use crate::engine::{GraphView, Ix};
use crate::error::GraphError;
use crate::sync::{parallel_ok, Arc, LeafMutex};

/// Above this many slots to build, the shards' columns are built in parallel.
const PAR_BUILD_MIN: usize = 1 << 16;

/// One shard's id objects by slot, as of `version`.
struct ShardHandles {
    version: u64,
    base: u32,
    /// Each slot's id object (null: an empty slot).
    addrs: Vec<Addr>,
    /// The handles `addrs` points into: each keeps its object alive.
    _keep: Vec<PyPayload>,
}

/// An object address a [`ShardHandles`] keeps alive.
#[derive(Clone, Copy)]
struct Addr(*mut ffi::PyObject);

// SAFETY: only an address; the object is reached (increfed) only attached.
unsafe impl Send for Addr {}
unsafe impl Sync for Addr {}

impl ShardHandles {
    /// The column of `view`'s shard `s`, or `None` while some live node of
    /// it has no id object yet.
    fn build(
        view: &GraphView<'_, PyPayload>,
        s: usize,
        cancel: &Cancel<'_>,
    ) -> Result<Option<Self>, GraphError> {
        let shard = view.parts().1[s];
        let mut addrs = Vec::with_capacity(shard.slots.len());
        let mut keep = Vec::with_capacity(shard.slots.len());
        let mut since_check = 0;
        for run in shard.slots.runs() {
            let slots = match run {
                Run::Slots(slots) => {
                    cancel.check_every(&mut since_check, slots.len())?;
                    slots
                }
                Run::Empty(n) => {
                    addrs.extend(std::iter::repeat_n(Addr(std::ptr::null_mut()), n));
                    continue;
                }
            };
            for slot in slots {
                match slot {
                    None => addrs.push(Addr(std::ptr::null_mut())),
                    Some(rec) => {
                        let Some(handle) = rec.handle.get() else {
                            return Ok(None);
                        };
                        addrs.push(Addr(handle.as_ptr()));
                        keep.push(handle.clone());
                    }
                }
            }
        }
        Ok(Some(Self {
            version: shard.version,
            base: shard.base,
            addrs,
            _keep: keep,
        }))
    }
}

/// What the cache knows about one shard: its column, if built.
type Entry = Option<Arc<ShardHandles>>;

/// Per-graph cache of [`ShardHandles`]. The mutex is a leaf, held only to
/// read or swap entries: never while building a column, calling Python or
/// dropping objects.
#[derive(Default)]
pub(crate) struct HandleCache {
    shards: LeafMutex<Vec<Entry>>,
}

/// The id objects of one view's nodes: from a column where the shard has one
/// at the view's version, else from the record ([`node_obj`]).
pub(crate) struct Handles {
    bits: u32,
    cols: Vec<Option<Arc<ShardHandles>>>,
}

impl HandleCache {
    /// Forgets every column (`clear()`, a graph being freed), releasing the
    /// id objects they kept: taken out under the lock, dropped after it.
    pub(crate) fn clear(&self) {
        let old = std::mem::take(&mut *self.shards.lock());
        drop(old);
    }

    /// Whether every shard of `view` has a column and some shard was
    /// written since its column was built.
    pub(crate) fn written_since(&self, view: &GraphView<'_, PyPayload>) -> bool {
        let (_, shards) = view.parts();
        let g = self.shards.lock();
        g.len() == shards.len()
            && g.iter().all(Option::is_some)
            && g.iter()
                .zip(shards)
                .any(|(c, shard)| c.as_ref().is_some_and(|c| c.version < shard.version))
    }

    /// The columns of `view`'s shards: reused when current, else built.
    /// Called attached; builds detached.
    pub(crate) fn of(&self, py: Python<'_>, view: &GraphView<'_, PyPayload>) -> PyResult<Handles> {
        let (bits, shards) = view.parts();
        let mut cols: Vec<Option<Arc<ShardHandles>>> = vec![None; shards.len()];
        let mut stale = Vec::new();
        {
            let mut g = self.shards.lock();
            g.resize(shards.len(), None);
            for (s, (entry, shard)) in g.iter().zip(shards).enumerate() {
                match entry {
                    Some(c) if c.version == shard.version => cols[s] = Some(c.clone()),
                    // A newer column (another thread's, on a later view)
                    // stays: this view reads its records.
                    Some(c) if c.version > shard.version => {}
                    _ => stale.push(s),
                }
            }
        }
        if !stale.is_empty() {
            bump(Counter::ViewsBuilt);
        }
        let mut built = Vec::with_capacity(stale.len());
        for round in 0..2 {
            if stale.is_empty() {
                break;
            }
            let slots: usize = stale.iter().map(|&s| shards[s].slots.len()).sum();
            let attempt: Vec<(usize, Option<ShardHandles>)> = run_detached(py, None, |cancel| {
                let one = |&s: &usize| Ok((s, ShardHandles::build(view, s, cancel)?));
                if slots >= PAR_BUILD_MIN && parallel_ok() {
                    // A large build: the owner keeps polling for Ctrl-C.
                    cancel.watch(slots, || stale.par_iter().map(one).collect())
                } else {
                    stale.iter().map(one).collect()
                }
            })?;
            stale.clear();
            for (s, col) in attempt {
                match col {
                    Some(col) => built.push((s, Arc::new(col))),
                    None => stale.push(s),
                }
            }
            if round == 0 {
                // Nodes whose id objects were never made: make them (in
                // index order, as `node_obj` does), then build once more.
                // Handles are set once, so the second build finds them all.
                let mut turn = GilYield::new();
                for &s in &stale {
                    let base = shards[s].base as usize;
                    for (row, rec) in shards[s].slots.items() {
                        if rec.handle.get().is_none() {
                            turn.tick(py)?;
                            node_obj(py, view, ((base + row) << bits | s) as Ix);
                        }
                    }
                }
            }
        }
        let mut replaced = Vec::new(); // dropped (decrefs) outside the lock
        {
            let mut g = self.shards.lock();
            // `clear()` may have emptied the cache meanwhile: the columns
            // then describe the graph before it, and serve this view only.
            let install = g.len() == shards.len();
            for (s, col) in built {
                if install && g[s].as_ref().is_none_or(|old| col.version >= old.version) {
                    replaced.push(g[s].replace(col.clone()));
                }
                cols[s] = Some(col);
            }
        }
        drop(replaced);
        Ok(Handles { bits, cols })
    }
}

impl Handles {
    /// A list of the id objects of `ixs`, all live in `view`.
    pub(crate) fn list<'py>(
        &self,
        py: Python<'py>,
        view: &GraphView<'_, PyPayload>,
        ixs: &[Ix],
    ) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, ixs.iter().map(|&ix| self.get(py, view, ix)))
    }

    /// The id object of `ix` as its column holds it (a borrowed pointer),
    /// or null when the column has none.
    #[inline]
    pub(crate) fn addr(&self, ix: Ix) -> *mut pyo3::ffi::PyObject {
        let s = (ix & ((1 << self.bits) - 1)) as usize;
        let Some(col) = &self.cols[s] else {
            return std::ptr::null_mut();
        };
        let row = ((ix >> self.bits) as usize).wrapping_sub(col.base as usize);
        col.addrs
            .get(row)
            .map_or(std::ptr::null_mut(), |&Addr(p)| p)
    }

    /// Node `ix`'s id object (a new reference), `ix` live in `view`.
    #[inline]
    pub(crate) fn get<'py>(
        &self,
        py: Python<'py>,
        view: &GraphView<'_, PyPayload>,
        ix: Ix,
    ) -> Bound<'py, PyAny> {
        let p = self.addr(ix);
        if !p.is_null() {
            // SAFETY: kept alive by its column (its handle); attached.
            return unsafe { Bound::from_borrowed_ptr(py, p) };
        }
        node_obj(py, view, ix)
    }
}
