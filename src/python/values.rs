//! What the garbage collector sees of a graph's opaque attribute values.
//!
//! A graph holds its opaque values (`convert::Opaque`) in engine records that
//! detached threads copy, share with snapshots and drop at any time, so the
//! set of references a traversal of the records would report can change
//! between the collector's two passes over one collection: a value reported
//! on the first pass and not on the second looks unreachable, and the
//! collector finalizes and clears it while the graph still holds it. (A
//! traversal of the records was built, caught doing that, and taken out:
//! `tests/test_concurrency.py::test_the_collector_never_finalizes_values_a_graph_still_holds`.)
//!
//! So the references are reported from a [`Home`] instead: every opaque value
//! made for a graph registers its object there when it is made, and leaves
//! when its last engine holder has dropped it and the binding releases it
//! (`convert::release_queued`). Both happen attached, never inside the
//! collector's passes (a GIL build's collector holds the GIL through them; a
//! free-threaded one stops every attached thread), so the set a traversal
//! reports is fixed for a whole collection however the records change.
//! Each object is registered once, for the one reference its `Opaque` owns,
//! so no reference is reported twice.
//!
//! The home is reported through [`Values`], a small Python object that the
//! graph and everything else that may hold the graph's values outside a call
//! (another graph made from it by `subgraph`, an `AttributeView`, an
//! `AttributeBatch`) keep a strong reference to: the collector counts those
//! references, so the values stay reachable while any holder is. A cycle
//! through a value (`g.add_node(n, owner=g)`) is
//! `g -> Values -> value -> g`, and `PyGraph::__clear__` breaks it by
//! emptying the graph.

use std::mem::ManuallyDrop;

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::sync::{Arc, LeafMutex};

/// The registered objects of one home.
#[derive(Default)]
struct Registered {
    /// Slot `k`: an object an `Opaque` owns a reference to, or a free slot.
    /// Not an owned reference: the `Opaque` owns it, and leaves (`remove`)
    /// before releasing it, so a registered pointer is always alive.
    objs: Vec<Option<Alias>>,
    free: Vec<u32>,
    /// Homes whose values this one's graph may hold too (`adopt`).
    parents: Vec<Py<Values>>,
}

std::thread_local! {
    /// Parents let go by homes being freed on this thread while an outer
    /// [`Registered::drop`] drains them (see there); `None` outside one.
    static LET_GO: std::cell::RefCell<Option<Vec<Py<Values>>>> =
        const { std::cell::RefCell::new(None) };
}

impl Drop for Registered {
    /// Lets go of the parents one at a time, not by recursion: freeing a
    /// parent can free its home, and so its own parents. A chain of homes
    /// freed recursively, one set of frames per link, overflowed the stack
    /// (an audit: 30,000 chained `subgraph` calls). Nested drops hand their
    /// parents to the outermost one on this thread, which drains them.
    fn drop(&mut self) {
        let mut parents = std::mem::take(&mut self.parents);
        if parents.is_empty() {
            return;
        }
        let nested = LET_GO.try_with(|l| match &mut *l.borrow_mut() {
            Some(pending) => {
                pending.append(&mut parents);
                true
            }
            slot @ None => {
                *slot = Some(std::mem::take(&mut parents));
                false
            }
        });
        match nested {
            Ok(true) => {}
            Ok(false) => {
                // Each drop below may append more; taken out one at a time, so
                // that no `RefCell` borrow is held while a parent is freed.
                while let Some(p) = LET_GO.with(|l| l.borrow_mut().as_mut().and_then(Vec::pop)) {
                    drop(p);
                }
                LET_GO.with(|l| *l.borrow_mut() = None);
            }
            // The thread's locals are gone (it is exiting): freed as they come.
            Err(_) => drop(parents),
        }
    }
}

/// A borrowed alias of a registered object, only ever passed to the
/// collector's visit function (never released: `ManuallyDrop`).
struct Alias(ManuallyDrop<Py<PyAny>>);

// SAFETY: an `Alias` is only read by `Values::__traverse__`, and the object
// it points to is kept alive by the `Opaque` that registered it.
unsafe impl Send for Alias {}
unsafe impl Sync for Alias {}

/// Where a graph's opaque values are registered (see the module docs).
///
/// **Locking behaviour:** one leaf mutex, held only to push, take or walk
/// slots, with no Python code inside (nothing allocated in Python, nothing
/// released), so the collector can never meet it held by its own thread, and
/// a traversal (which runs with no other thread attached) never finds it
/// held.
#[derive(Default)]
pub(crate) struct Home {
    registered: LeafMutex<Registered>,
}

impl Home {
    /// Registers `obj`, to which the caller's new `Opaque` owns a reference;
    /// returns its slot. Attached (the caller holds a `Bound`).
    pub(crate) fn add(&self, obj: &Bound<'_, PyAny>) -> u32 {
        // SAFETY: a non-owning alias of a live object, never released.
        let alias = Alias(ManuallyDrop::new(
            unsafe { Bound::from_owned_ptr(obj.py(), obj.as_ptr()) }.unbind(),
        ));
        let mut reg = self.registered.lock();
        match reg.free.pop() {
            Some(k) => {
                reg.objs[k as usize] = Some(alias);
                k
            }
            None => {
                let k = u32::try_from(reg.objs.len()).expect("fewer than 2^32 opaque values");
                reg.objs.push(Some(alias));
                k
            }
        }
    }

    /// Unregisters slot `k`, just before its `Opaque`'s reference is
    /// released. Attached: `py` proves it.
    pub(crate) fn remove(&self, _py: Python<'_>, k: u32) {
        let mut reg = self.registered.lock();
        if let Some(slot) = reg.objs.get_mut(k as usize) {
            if slot.take().is_some() {
                reg.free.push(k);
            }
        }
        if reg.free.len() == reg.objs.len() {
            // Every value gone: give the slots' memory back.
            reg.objs = Vec::new();
            reg.free = Vec::new();
        }
    }

    /// Objects registered now (its `_Values` repr says it).
    pub(crate) fn len(&self) -> usize {
        let reg = self.registered.lock();
        reg.objs.len() - reg.free.len()
    }
}

/// The Python-side handle of a [`Home`]: what the collector traverses.
#[pyclass(name = "_Values", module = "gli._core", frozen)]
pub(crate) struct Values {
    pub(crate) home: Arc<Home>,
}

impl Values {
    pub(crate) fn new(py: Python<'_>) -> PyResult<Py<Values>> {
        Py::new(
            py,
            Values {
                home: Arc::new(Home::default()),
            },
        )
    }

    /// Makes the values of `parent`'s graph reachable through this home
    /// too: a graph that took records from another graph (`subgraph`), called
    /// once it has taken them, holds some of that graph's values, registered
    /// in its home or in the homes it adopted.
    ///
    /// Only homes with values registered now are adopted, and `parent`'s
    /// own adoptions directly, not through `parent`: `g = g.subgraph(...)`
    /// in a loop used to chain every step's home to the one before, a leak
    /// that grew with every step and a chain whose freeing recursed until
    /// the stack overflowed (an audit: a segfault at 30,000 steps). A home
    /// without values now has none that the new graph took: a value the
    /// new graph holds stays registered (its home non-empty) until its last
    /// holder lets it go.
    pub(crate) fn adopt(&self, parent: &Bound<'_, Values>) {
        let py = parent.py();
        // The parent's own adoptions, taken out for a moment: each is asked
        // whether it has values left (its own lock) with the parent's let
        // go, as every registry lock is a leaf (two registries can adopt each
        // other: a review). Those without are dropped on the way (released
        // below, after every lock); the rest go back, beside any adopted
        // meanwhile. While they are out, the collector sees fewer of the
        // parent's references, which only keeps objects alive longer.
        let taken = std::mem::take(&mut parent.get().home.registered.lock().parents);
        let (live, mut unused): (Vec<_>, Vec<_>) =
            taken.into_iter().partition(|h| h.get().home.len() > 0);
        let mut homes: Vec<Py<Values>> = live.iter().map(|p| p.clone_ref(py)).collect();
        {
            let mut reg = parent.get().home.registered.lock();
            let added = std::mem::replace(&mut reg.parents, live);
            reg.parents.extend(added);
        }
        if parent.get().home.len() > 0 {
            homes.push(parent.clone().unbind());
        }
        homes.retain(|h| !std::ptr::eq(h.get(), self));
        let mut reg = self.home.registered.lock();
        for h in homes {
            if reg.parents.iter().any(|p| p.is(&h)) {
                unused.push(h);
            } else {
                reg.parents.push(h);
            }
        }
        drop(reg);
        // The references not kept are released here, with the lock let go.
        drop(unused);
    }
}

#[pymethods]
impl Values {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never held during a collection (see `Home`); should it ever be,
        // reporting nothing this pass keeps the values alive rather than
        // waiting on a holder that cannot run.
        let Some(reg) = self.home.registered.try_lock() else {
            return Ok(());
        };
        for obj in reg.objs.iter().flatten() {
            visit.call(&*obj.0)?;
        }
        for p in &reg.parents {
            visit.call(p)?;
        }
        Ok(())
    }

    /// Breaks a garbage cycle of homes that adopted each other (a Graph
    /// subclass that hands out pooled graphs can make one): lets go of the
    /// parents. The registered objects are not this object's to release.
    fn __clear__(&self) {
        let parents = std::mem::take(&mut self.home.registered.lock().parents);
        drop(parents); // released with the lock let go
    }

    fn __repr__(&self) -> String {
        format!("<gli._core._Values: {} objects>", self.home.len())
    }
}
