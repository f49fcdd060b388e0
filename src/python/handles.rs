//! Each shard's node id objects in a dense column, for building long result
//! lists (`filter_nodes`, `nodes()`).
//!
//! A node's id object is its record's handle, behind an `Arc` (engine-side
//! clones of a record stay free of the interpreter): handing it out reads
//! the record, then the `Arc`, then increfs the object, two dependent cache
//! misses before the incref. Turning half a million filter candidates into a
//! list that way took 5.2 ms here; from a column of object pointers it reads
//! 8 bytes per node and increfs, like slicing a list (~1.5 ms).
//!
//! A column belongs to one version of one shard and owns a reference to each
//! object, so it never dangles whatever happens to the graph; and node
//! indices are never reused, so even a stale column names the right node.
//! It is built attached (it increfs, and makes the id objects not made yet)
//! when a call wants one for a shard version that has none: ~13 ms per
//! million nodes, once; a write makes the shard's column stale, and the next
//! call that wants it rebuilds that shard's alone. Only the calls that pay
//! for it use it: `where`-only results and vectorized batches' id lists
//! (a per-node predicate reads each record for its attributes anyway, so it
//! takes the id object from there).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyList;

use super::convert::{node_obj, PyPayload};
use crate::engine::{GraphView, Ix};
use crate::sync::LeafMutex;

/// One shard's id objects by slot (`None`: an empty slot), as of `version`.
struct ShardHandles {
    version: u64,
    base: u32,
    objs: Vec<Option<Py<PyAny>>>,
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
    /// The columns of `view`'s shards: reused when current, else built
    /// (attached: it increfs, and makes the id objects not made yet).
    pub(crate) fn of(&self, py: Python<'_>, view: &GraphView<'_, PyPayload>) -> Handles {
        let (bits, shards) = view.parts();
        let mut cols: Vec<Option<Arc<ShardHandles>>> = vec![None; shards.len()];
        let mut build = Vec::new();
        {
            let mut g = self.shards.lock();
            g.resize(shards.len(), None);
            for (s, (entry, shard)) in g.iter().zip(shards).enumerate() {
                match entry {
                    Some(c) if c.version == shard.version => cols[s] = Some(c.clone()),
                    // A newer column (another thread's, on a later view)
                    // stays: this view reads its records.
                    Some(c) if c.version > shard.version => {}
                    _ => build.push(s),
                }
            }
        }
        if build.is_empty() {
            return Handles { bits, cols };
        }
        // Row by row across the shards: index order, the order in which id
        // objects were made (`node_obj` makes them in blocks of indices), so
        // the walk reads memory sequentially.
        let mut built: Vec<ShardHandles> = build
            .iter()
            .map(|&s| ShardHandles {
                version: shards[s].version,
                base: shards[s].base,
                objs: Vec::with_capacity(shards[s].slots.len()),
            })
            .collect();
        let rows = build
            .iter()
            .map(|&s| shards[s].slots.len())
            .max()
            .unwrap_or(0);
        for row in 0..rows {
            for (col, &s) in built.iter_mut().zip(&build) {
                if let Some(slot) = shards[s].slots.get(row) {
                    let ix = ((col.base as usize + row) << bits | s) as Ix;
                    col.objs
                        .push(slot.as_ref().map(|_| node_obj(py, view, ix).unbind()));
                }
            }
        }
        let mut replaced = Vec::new(); // dropped (decrefs) outside the lock
        {
            let mut g = self.shards.lock();
            for (col, &s) in built.into_iter().zip(&build) {
                let col = Arc::new(col);
                if g[s].as_ref().is_none_or(|old| col.version >= old.version) {
                    replaced.push(g[s].replace(col.clone()));
                }
                cols[s] = Some(col);
            }
        }
        drop(replaced);
        Handles { bits, cols }
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

    /// Node `ix`'s id object (a new reference), `ix` live in `view`.
    #[inline]
    pub(crate) fn get<'py>(
        &self,
        py: Python<'py>,
        view: &GraphView<'_, PyPayload>,
        ix: Ix,
    ) -> Bound<'py, PyAny> {
        let s = (ix & ((1 << self.bits) - 1)) as usize;
        if let Some(col) = &self.cols[s] {
            let row = ((ix >> self.bits) as usize).wrapping_sub(col.base as usize);
            if let Some(Some(obj)) = col.objs.get(row) {
                return obj.bind(py).clone();
            }
        }
        node_obj(py, view, ix)
    }
}
