//! Sharded, lock-striped graph storage.
//!
//! Node ids are interned to dense indices ([`Ix`]) handed out by one atomic
//! counter, so index order is insertion order: iteration, results and the
//! comparison with the reference backend all follow it, and it survives
//! removals (a removed index is not handed out again). When the indices run
//! out (or a small graph's live nodes fill under 1/64 of a large range) the
//! graph renumbers its live nodes `0..n`, in order, under every shard lock:
//! a new *epoch* (see `Graph::epoch`, which also says how a lookup made
//! without a lock stays safe). `clear` starts a new epoch at 0 too.
//! Index `ix` lives in shard `ix & mask`, slot `(ix >> bits) - base`.
//!
//! ## Lock order
//!
//! Every method follows these rules; the loom models in `loom-tests/` check
//! the protocols built on them.
//!
//! 1. **Shard locks** (`Graph::shards`, parking_lot `RwLock`s) are taken in
//!    ascending shard index. A method that needs several shards computes the
//!    whole set first and locks it ascending (`lock_set`); it never waits for a
//!    lower shard while holding a higher one. If what it finds under the locks
//!    needs more shards (a node gained an edge meanwhile), it releases
//!    everything and starts over.
//! 2. **Key maps** (`ints`, `strs`: dashmap) are leaves: a key-map call takes
//!    and releases one internal dashmap lock, possibly while shard locks are
//!    held, and never holds it while waiting for a shard lock. A key-map entry
//!    is inserted and removed only while the shard lock of its index is held,
//!    so "entry present" and "record present" agree under that lock.
//!    `contains` alone reads a key map without the shard lock, guarded by the
//!    `membership` sequence (see there). `resolve_many` holds every internal
//!    lock of both maps for read at once (ints, then strs) and takes no other
//!    lock meanwhile. `batch_add_nodes`, holding every shard lock, then holds
//!    every internal lock of both maps for write (ints, then strs). A
//!    renumbering (`compact_locked`), holding every shard lock, holds every
//!    internal lock of the str map for write, lets it go, then does the same
//!    with the int map's hash half. An `add_node` whose int id grows the int map's dense table
//!    (`intkeys::IntKeys::insert`) holds every internal lock of the int map
//!    for write, under its one shard lock. Every holder of several internal
//!    locks takes them in ascending dashmap-shard order. Other map writers
//!    take one internal lock at a time, and no key-map holder ever waits for
//!    a shard lock, so no cycle can form. The dense table itself is
//!    lock-free (atomic entries).
//! 3. **The attribute-name interner** (`value::intern`) is a leaf too.
//!
//! No engine lock is held when control returns to the caller, and the engine
//! never calls back into its caller while holding one: read results are
//! copied (or `Arc`-shared) out first. The Python binding relies on this to
//! never hold a shard lock while running Python code.
//!
//! Two consequences the binding must keep, since its writers wait for shard
//! locks attached (holding the GIL): work run under shard locks
//! ([`Graph::with_view`]) must not wait for the interpreter (no `Cancel`
//! hook: it attaches), and values dropped under a lock must not release
//! Python objects there (the binding's payload queues them; see
//! `python::convert::Opaque`).

use std::collections::{HashMap, HashSet};

use super::adjacency::AdjIndex;
use super::adjlist::{position, AdjList};
use super::cancel::{Cancel, CHECK_EVERY};
use super::id::{NodeId, NodeRef, StrKey, StrQuery};
use super::intkeys::IntKeys;
use super::slots::{Slots, CHUNK};
use super::value::{attrs_from, merge_attrs, merge_shared, AttrMap, Attrs, SharedAttrs};
use super::Payload;
use crate::error::{GraphError, Result};
use crate::sync::{
    fence, make_mut, Arc, AtomicU64, AtomicUsize, KeyMap, OnceCell, Ordering, ReadGuard, RwLock,
    WriteGuard,
};

/// Dense node index. Insertion order is index order.
pub type Ix = u32;

/// How many items ahead a loop over random nodes prefetches their records or
/// adjacency: far enough for the load to land before it is needed.
pub const PREFETCH_AHEAD: usize = 8;

/// Above this out-degree a node keeps a hash set of its out-neighbours, so
/// duplicate-edge checks on hubs stay O(1).
const HUB_DEGREE: usize = 32;

/// From this many ids on, `Graph::nodes_attrs` looks them all up first and
/// prefetches their records.
const NODES_ATTRS_BULK: usize = 32;

/// The index range and the most live nodes plus edges at which a sparse
/// graph renumbers its nodes (see `Graph::compact_if_sparse`).
const SPARSE_SPAN: u64 = 1 << 20;
const SPARSE_ITEMS: usize = 1 << 17;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

#[derive(Clone)]
pub(crate) struct NodeRec<O> {
    pub(crate) key: NodeId,
    pub(crate) attrs: Attrs<O>,
    /// Directed: out-neighbours (`..n_out`) then in-neighbours, each in edge
    /// insertion order. Undirected: all neighbours (`n_out == adj.len()`), a
    /// self-loop once. One allocation per node instead of two.
    pub(crate) adj: AdjList,
    pub(crate) ext: Option<Box<NodeExt<O>>>,
    /// The binding's object for this node's id (its Python `int` or `str`),
    /// made on first use and shared by every snapshot holding the record, so
    /// results reuse one object per node instead of creating one per call.
    pub(crate) handle: OnceCell<O>,
}

/// The rarely needed parts of a node, boxed so that plain nodes stay small.
#[derive(Clone)]
pub(crate) struct NodeExt<O> {
    /// Attributes of the edges this node owns (directed: its out-edges;
    /// undirected: edges to neighbours with a higher index), by other endpoint.
    edge_attrs: FastMap<Ix, SharedAttrs<O>>,
    /// Out-neighbour set, kept once the out-degree passes `HUB_DEGREE`.
    hub: Option<FastSet<Ix>>,
}

impl<O> NodeRec<O> {
    fn new(key: NodeId, attrs: Attrs<O>) -> Self {
        Self {
            key,
            attrs,
            adj: AdjList::new(),
            ext: None,
            handle: OnceCell::new(),
        }
    }

    #[inline]
    pub(crate) fn out(&self) -> &[Ix] {
        self.adj.out()
    }

    #[inline]
    pub(crate) fn inn(&self) -> &[Ix] {
        self.adj.inn()
    }

    #[inline]
    fn has_out(&self, t: Ix) -> bool {
        match self.ext.as_ref().and_then(|e| e.hub.as_ref()) {
            Some(hub) => hub.contains(&t),
            None => self.out().contains(&t),
        }
    }

    fn ext_mut(&mut self) -> &mut NodeExt<O> {
        self.ext.get_or_insert_with(|| {
            Box::new(NodeExt {
                edge_attrs: FastMap::default(),
                hub: None,
            })
        })
    }

    #[inline]
    fn push_out(&mut self, t: Ix) {
        self.extend_adj(&[t], &[]);
    }

    /// Appends new out-neighbours `outs` and in-neighbours `ins` (directed;
    /// undirected passes all neighbours as `outs`).
    fn extend_adj(&mut self, outs: &[Ix], ins: &[Ix]) {
        self.adj.extend(outs, ins);
        if let Some(hub) = self.ext.as_mut().and_then(|e| e.hub.as_mut()) {
            hub.extend(outs.iter().copied());
        } else if self.adj.n_out() > HUB_DEGREE {
            let set: FastSet<Ix> = self.out().iter().copied().collect();
            self.ext_mut().hub = Some(set);
        }
    }

    #[inline]
    fn push_in(&mut self, s: Ix) {
        self.adj.extend(&[], &[s]);
    }

    fn remove_out(&mut self, t: Ix) -> bool {
        let Some(pos) = position(self.out(), t) else {
            return false;
        };
        self.adj.remove_out(pos);
        if let Some(ext) = self.ext.as_mut() {
            if let Some(hub) = ext.hub.as_mut() {
                hub.remove(&t);
            }
            ext.edge_attrs.remove(&t);
        }
        true
    }

    fn remove_in(&mut self, s: Ix) -> bool {
        match position(self.inn(), s) {
            Some(pos) => {
                self.adj.remove_in(pos);
                true
            }
            None => false,
        }
    }

    fn edge_attrs(&self, other: Ix) -> Option<&SharedAttrs<O>> {
        self.ext.as_ref().and_then(|e| e.edge_attrs.get(&other))
    }
}

#[derive(Clone)]
pub(crate) struct Shard<O> {
    /// Slot `i` holds index `((base + i) << bits) | shard`. In chunks that a
    /// snapshot shares: cloning a shard copies chunk pointers, and a write
    /// then copies only the chunk it changes.
    pub(crate) slots: Slots<NodeRec<O>>,
    pub(crate) base: u32,
    /// Bumped by every write to this shard (read views key their caches on it).
    pub(crate) version: u64,
}

impl<O> Shard<O> {
    #[inline]
    fn slot_of(&self, ix: Ix, bits: u32) -> Option<usize> {
        ((ix >> bits) as usize).checked_sub(self.base as usize)
    }

    #[inline]
    fn get(&self, ix: Ix, bits: u32) -> Option<&NodeRec<O>> {
        self.slots.get(self.slot_of(ix, bits)?)
    }
}

impl<O: Clone> Shard<O> {
    #[inline]
    fn get_mut(&mut self, ix: Ix, bits: u32) -> Option<&mut NodeRec<O>> {
        let i = self.slot_of(ix, bits)?;
        self.slots.get_mut(i)
    }

    /// Stores `rec` at `ix`; hands it back (nothing stored) if `ix` is
    /// below this shard's base or taken.
    fn put(&mut self, ix: Ix, bits: u32, rec: NodeRec<O>) -> std::result::Result<(), NodeRec<O>> {
        match self.slot_of(ix, bits) {
            Some(i) => self.slots.put(i, rec),
            None => Err(rec),
        }
    }

    fn take(&mut self, ix: Ix, bits: u32) -> Option<NodeRec<O>> {
        let i = self.slot_of(ix, bits)?;
        // The hole stays: indices are not reused within an epoch, so the
        // next node of this shard lands past it anyway. (Trimming trailing
        // holes made that `put` refill them all: add + remove in a loop
        // beside one older node took time growing with every node ever added.)
        self.slots.take(i)
    }
}

/// One edge as read out of the graph.
pub struct EdgeRecord<O> {
    pub source: NodeId,
    pub target: NodeId,
    pub attrs: Attrs<O>,
}

/// Edges whose endpoints were resolved to indices before the batch locked the
/// graph. An index is not reused within an epoch, so an endpoint still live
/// under the lock, in the same epoch, is the node it was resolved from; one
/// removed since, or a new epoch, makes the batch stale (resolved again by
/// the caller), whatever other nodes were removed.
pub struct ResolvedEdges<O> {
    pub pairs: Vec<(Ix, Ix)>,
    /// `(position in pairs, attributes)` for the edges that carry attributes, ascending.
    pub attrs: Vec<(usize, AttrMap<O>)>,
    /// [`Graph::epoch`], read before the first lookup.
    pub epoch: u64,
}

impl<O> std::fmt::Debug for EdgeBatchError<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeBatchError::Stale(_) => f.write_str("Stale"),
            EdgeBatchError::Graph(e) => write!(f, "Graph({e})"),
        }
    }
}

/// Outcome of a resolved edge batch that could not be applied.
pub enum EdgeBatchError<O> {
    /// An endpoint was removed after resolution: resolve `pairs` again and
    /// retry (the batch is handed back untouched).
    Stale(ResolvedEdges<O>),
    Graph(GraphError),
}

/// A sharded graph. `O` is the opaque attribute payload supplied by the binding.
pub struct Graph<O> {
    directed: bool,
    bits: u32,
    /// Each shard's data sits behind an `Arc`: a snapshot clones the `Arc`s,
    /// and a writer copies a shard (`make_mut`) only while a snapshot shares
    /// it. That copy is the shard's list of record chunks; the writer then
    /// copies only the chunks it writes (see [`Slots`]).
    shards: Box<[RwLock<Arc<Shard<O>>>]>,
    ints: IntKeys,
    strs: KeyMap<StrKey, Ix>,
    next_ix: AtomicU64,
    n_nodes: AtomicUsize,
    n_edges: AtomicUsize,
    /// A sequence lock over key-map membership: odd while a holder of every
    /// shard lock (`lock_all`: batches, `clear`) may add or remove the keys of
    /// several nodes. Every other membership change (`add_node`,
    /// `remove_node`) changes one key under its shard lock, which a lone
    /// reader cannot tell apart from a lock-free look. So [`Graph::contains`]
    /// may answer from the key maps alone, without the shard lock, when it
    /// reads the same even value before and after its lookup: no batch was
    /// half-applied meanwhile. Otherwise it waits on the shard lock.
    membership: AtomicU64,
    /// Nodes removed so far (`clear` and `compact` count as one removal).
    /// Bumped before the key-map change it announces, under the node's shard
    /// lock: a snapshot records it, and [`Graph::ix_in`] trusts the key maps
    /// for a snapshot that no removal has followed (see there).
    removals: AtomicU64,
    /// Which numbering the indices are in. A removed node's index is not
    /// handed out again within an epoch, so an index found in the key maps
    /// names, while its slot is occupied, the node it was found for. Only
    /// `compact` (which renumbers the live nodes `0..n`) and `clear` (which
    /// restarts the range at 0) start a new epoch, holding every shard lock
    /// with `membership` odd. So an index looked up without a shard lock is
    /// used under one only if the epoch read before the lookup is still
    /// current there (a compaction that overlapped the lookup has finished
    /// by then, and its bump is visible under the lock).
    epoch: AtomicU64,
    /// How many indices an epoch hands out before `alloc` compacts
    /// (`Ix::MAX`; tests lower it to exercise compaction).
    index_limit: AtomicU64,
    /// Attribute columns for `where` filters, per shard and shard version
    /// (a leaf lock: see [`super::filter::ColumnCache`]).
    pub(crate) columns: super::filter::ColumnCache,
}

/// Old index -> new index of a renumbering (`Graph::compact_locked`).
enum Renumbering {
    /// A table over the parts of the index range whose rows hold nodes
    /// (`GraphView::held_ixs`): indices from `starts[k]` map through
    /// `to[offsets[k]..]`. A load per lookup, where a hash map of a million
    /// nodes costs a cache miss (half the time of a renumbering of 1M
    /// nodes and 5M edges went there).
    Table {
        starts: Vec<Ix>,
        offsets: Vec<usize>,
        to: Vec<Ix>,
    },
    /// For live nodes scattered thinly over their rows.
    Map(FastMap<Ix, Ix>),
}

impl Renumbering {
    /// Numbers `order` (the live indices of `view`, ascending) `0..n`.
    fn new<O>(view: &GraphView<'_, O>, order: &[Ix]) -> Self {
        let held: Vec<std::ops::Range<Ix>> = view.held_ixs(view.lo(), view.hi()).collect();
        let slots: usize = held.iter().map(|r| r.len()).sum();
        // A table while it takes at most 16 entries (64 bytes) per node.
        if slots > 16 * order.len().max(1024) {
            let map = order.iter().enumerate();
            return Self::Map(map.map(|(new, &old)| (old, new as Ix)).collect());
        }
        let mut offsets = Vec::with_capacity(held.len());
        let mut at = 0;
        for r in &held {
            offsets.push(at);
            at += r.len();
        }
        let starts: Vec<Ix> = held.iter().map(|r| r.start).collect();
        let mut to = vec![Ix::MAX; slots];
        for (new, &old) in order.iter().enumerate() {
            to[Self::position(&starts, &offsets, old)] = new as Ix;
        }
        Self::Table {
            starts,
            offsets,
            to,
        }
    }

    #[inline]
    fn position(starts: &[Ix], offsets: &[usize], old: Ix) -> usize {
        let k = starts.partition_point(|&s| s <= old) - 1;
        offsets[k] + (old - starts[k]) as usize
    }

    /// The new index of live index `old`.
    #[inline]
    fn get(&self, old: Ix) -> Ix {
        match self {
            Self::Table {
                starts,
                offsets,
                to,
            } => to[Self::position(starts, offsets, old)],
            Self::Map(map) => map[&old],
        }
    }
}

/// Per-node lists over positions `0..n`, in one allocation: node `u`'s list
/// is `items[spans[u].0..spans[u].1]`.
#[derive(Default)]
struct Lists {
    spans: Vec<(usize, usize)>,
    items: Vec<u32>,
}

impl Lists {
    fn push(&mut self, list: impl IntoIterator<Item = u32>) {
        let start = self.items.len();
        self.items.extend(list);
        self.spans.push((start, self.items.len()));
    }

    #[inline]
    fn of(&self, u: u32) -> &[u32] {
        let (a, b) = self.spans[u as usize];
        &self.items[a..b]
    }
}

/// The endpoint that owns an edge's attributes, then the other one: the
/// source when directed, the lower of the two when undirected.
#[inline]
fn owner<T: Ord>(directed: bool, s: T, t: T) -> (T, T) {
    if directed || s <= t {
        (s, t)
    } else {
        (t, s)
    }
}

/// Whether `r`, found at the index the key map gave for `id`, is `id`'s
/// record. Always, once the slot is occupied and the lookup's epoch is
/// current (see `Graph::epoch`): within an epoch an index is never reused (a
/// removal leaves its slot empty), so the slot holds the very node the entry
/// was made for. Checked in debug builds; release builds skip the compare,
/// which for a `str` id would read the key's text behind one more pointer (a
/// cache miss per lookup).
#[inline(always)]
fn holds<O>(r: &NodeRec<O>, id: NodeRef<'_>) -> bool {
    debug_assert!(r.key.as_ref() == id, "index reused: {} at {}", r.key, id);
    true
}

/// Default shard count: a power of two, at least 4 × the cores and at least 8.
pub fn default_shards() -> usize {
    (4 * crate::sync::cores()).next_power_of_two().max(8)
}

/// Write guards over a set of shards, ascending; the only way to mutate.
struct Locked<'g, O> {
    g: &'g Graph<O>,
    guards: Vec<(usize, WriteGuard<'g, Arc<Shard<O>>>)>,
    /// Holds every shard and made `g.membership` odd (see there).
    all: bool,
    /// Nodes and edges added (negative: removed) under these locks, not yet
    /// in `g.n_nodes` / `g.n_edges`: a batch moves each count once, when the
    /// locks are let go, so `node_count()` never shows part of it.
    nodes: isize,
    edges: isize,
    /// What a clear or a renumbering replaced under these locks: the old
    /// shards (freed here unless a snapshot still holds them), the cached
    /// columns and, for a clear, the `str` key map's tables. Declared after
    /// `guards`, so it is freed after the locks are let go, and readers do
    /// not wait for the freeing of a whole graph.
    retired: Retired<O>,
}

/// See [`Locked::retired`].
struct Retired<O> {
    /// First (fields drop in order): the key map lets its references to the
    /// ids go in its table's order, at random, and what holds the last ones
    /// (the records, or a cached CSR's id column, dropped after them) frees
    /// the ids shard by shard in slot order, close to the order they were
    /// allocated in. The other way round, `clear()` of 1M `str` ids took
    /// 150-250 ms longer.
    str_keys: Option<crate::sync::RetiredKeys<StrKey, Ix>>,
    shards: Vec<Arc<Shard<O>>>,
    columns: Option<super::filter::RetiredColumns>,
}

impl<O> Default for Retired<O> {
    fn default() -> Self {
        Self {
            str_keys: None,
            shards: Vec::new(),
            columns: None,
        }
    }
}

impl<O> Locked<'_, O> {
    /// Replaces every locked shard by `fresh(old)`, retiring the old one.
    fn replace_shards(&mut self, mut fresh: impl FnMut(&Shard<O>) -> Shard<O>) {
        for (_, guard) in self.guards.iter_mut() {
            let new = Arc::new(fresh(guard));
            self.retired
                .shards
                .push(std::mem::replace(&mut **guard, new));
        }
    }
}

impl<O> Drop for Locked<'_, O> {
    fn drop(&mut self) {
        // Wrapping adds of the signed deltas (two's complement).
        if self.nodes != 0 {
            self.g
                .n_nodes
                .fetch_add(self.nodes as usize, Ordering::Relaxed);
        }
        if self.edges != 0 {
            self.g
                .n_edges
                .fetch_add(self.edges as usize, Ordering::Relaxed);
        }
        if self.all {
            // Even again before the guards (fields) are released: a reader
            // that sees this value sees every key-map change made under them.
            self.g.membership.fetch_add(1, Ordering::Release);
        }
    }
}

/// Read guards over every shard: a consistent picture for short multi-shard
/// reads (point queries). Writers wait while it is held: keep it short.
pub(crate) struct ReadAll<'g, O> {
    bits: u32,
    directed: bool,
    guards: Vec<ReadGuard<'g, Arc<Shard<O>>>>,
}

impl<O> ReadAll<'_, O> {
    pub(crate) fn view(&self) -> GraphView<'_, O> {
        GraphView::locked(self.bits, self.directed, self.guards.iter().map(|g| &***g))
    }
}

/// What a snapshot records of the graph's counters when it is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Taken {
    /// `Graph::removals`.
    removals: u64,
    /// `Graph::epoch`.
    epoch: u64,
}

/// A consistent, immutable snapshot of the whole graph, taken in one step
/// under every shard's read lock and then held without any lock: writers go
/// on, copying a shard's chunk list and the chunks they write only while this
/// snapshot still shares them. Long queries
/// run on snapshots; they never see half of a batch.
pub struct Snapshot<O> {
    bits: u32,
    directed: bool,
    shards: Vec<Arc<Shard<O>>>,
    nodes: usize,
    edges: usize,
    taken: Taken,
}

impl<O> Snapshot<O> {
    pub fn view(&self) -> GraphView<'_, O> {
        GraphView {
            bits: self.bits,
            directed: self.directed,
            shards: self.shards.iter().map(|a| &**a).collect(),
            adj: None,
            taken: Some(self.taken),
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Attributes of live node `ix` (without building a view).
    #[inline]
    pub fn attrs(&self, ix: Ix) -> Option<&SharedAttrs<O>> {
        let mask = (1u32 << self.bits) - 1;
        self.shards[(ix & mask) as usize]
            .get(ix, self.bits)
            .and_then(|r| r.attrs.as_ref())
    }

    pub fn edge_count(&self) -> usize {
        self.edges
    }
}

/// Read access to a consistent state of the graph (held locks or a snapshot).
/// Algorithms work on index space: arrays indexed by `ix - lo()`.
pub struct GraphView<'a, O> {
    bits: u32,
    directed: bool,
    shards: Vec<&'a Shard<O>>,
    /// Cached CSR of the same shard versions, read instead of the records.
    adj: Option<&'a AdjIndex>,
    /// What its snapshot recorded (`None`: a view under the locks).
    taken: Option<Taken>,
}

impl<'a, O> GraphView<'a, O> {
    /// A view of `shards`, read under their locks.
    fn locked(bits: u32, directed: bool, shards: impl Iterator<Item = &'a Shard<O>>) -> Self {
        GraphView {
            bits,
            directed,
            shards: shards.collect(),
            adj: None,
            taken: None,
        }
    }

    /// Shard bits and the shards themselves (for column scans).
    pub(crate) fn parts(&self) -> (u32, &[&'a Shard<O>]) {
        (self.bits, &self.shards)
    }

    #[inline]
    pub(crate) fn rec(&self, ix: Ix) -> Option<&'a NodeRec<O>> {
        let mask = (1u32 << self.bits) - 1;
        self.shards[(ix & mask) as usize].get(ix, self.bits)
    }

    #[inline]
    pub fn directed(&self) -> bool {
        self.directed
    }

    /// First index a live node can have.
    #[inline]
    pub fn lo(&self) -> Ix {
        self.shards.first().map_or(0, |s| s.base << self.bits)
    }

    /// One past the last index a live node can have. At most `Ix::MAX`,
    /// which is never handed out (`alloc`): the end of the top row would be
    /// 2^32.
    pub fn hi(&self) -> Ix {
        let base = self.shards.first().map_or(0, |s| s.base as usize);
        ((base + self.rows()) << self.bits).min(Ix::MAX as usize) as Ix
    }

    /// How many indices `lo()..hi()` covers: what a dense per-node table
    /// takes.
    #[inline]
    pub fn span(&self) -> usize {
        (self.hi() - self.lo()) as usize
    }

    /// Rows of slots (a row: one slot of every shard, from the shards'
    /// base): the longest shard's.
    pub(crate) fn rows(&self) -> usize {
        self.shards.iter().map(|s| s.slots.len()).max().unwrap_or(0)
    }

    #[inline]
    pub fn contains(&self, ix: Ix) -> bool {
        self.rec(ix).is_some()
    }

    /// This view reading its adjacency from `index`, which must have been
    /// built from this view's shards (`ColumnCache::adjacency`).
    pub fn with_adjacency<'b>(&self, index: &'b AdjIndex) -> GraphView<'b, O>
    where
        'a: 'b,
    {
        GraphView {
            bits: self.bits,
            directed: self.directed,
            shards: self.shards.clone(),
            adj: Some(index),
            taken: self.taken,
        }
    }

    /// Out-neighbours (undirected: all neighbours), in edge insertion order.
    #[inline]
    pub fn out(&self, ix: Ix) -> &'a [Ix] {
        match self.adj.and_then(|a| a.out(ix)) {
            Some(out) => out,
            None => self.rec(ix).map_or(&[], |r| r.out()),
        }
    }

    /// Starts loading `ix`'s out-neighbours (a traversal's look-ahead).
    #[inline]
    pub fn prefetch_out(&self, ix: Ix) {
        super::adjacency::prefetch(self.out(ix));
    }

    /// Starts loading `ix`'s in-neighbours.
    #[inline]
    pub fn prefetch_in(&self, ix: Ix) {
        if self.directed {
            super::adjacency::prefetch(self.inn(ix));
        }
    }

    /// In-neighbours (undirected: all neighbours).
    #[inline]
    pub fn inn(&self, ix: Ix) -> &'a [Ix] {
        if !self.directed {
            return self.out(ix);
        }
        match self.adj.and_then(|a| a.inn(ix)) {
            Some(inn) => inn,
            None => self.rec(ix).map_or(&[], |r| r.inn()),
        }
    }

    /// Starts loading `ix`'s attribute map. Reads its record: pays when
    /// [`GraphView::prefetch_rec`] asked for that earlier.
    #[inline]
    pub fn prefetch_attrs(&self, ix: Ix) {
        if let Some(attrs) = self.attrs(ix) {
            attrs.prefetch();
        }
    }

    /// Starts loading live node `ix`'s record (no-op past the shard).
    #[inline]
    pub fn prefetch_rec(&self, ix: Ix) {
        let shard = self.shards[(ix & ((1u32 << self.bits) - 1)) as usize];
        if let Some(i) = shard.slot_of(ix, self.bits) {
            if let Some(slot) = shard.slots.slot(i) {
                super::adjacency::prefetch(std::slice::from_ref(slot));
            }
        }
    }

    /// `(key, item)` for each item of `items`, whose node `ix_of` names, in
    /// order. Results in traversal order visit records at random: this
    /// prefetches a few items ahead, so the misses overlap.
    pub fn keys_of<'s, T>(
        &'s self,
        items: &'s [T],
        ix_of: impl Fn(&T) -> Ix + 's,
    ) -> impl Iterator<Item = (&'a NodeId, &'s T)> + 's {
        items.iter().enumerate().map(move |(i, item)| {
            if let Some(ahead) = items.get(i + PREFETCH_AHEAD) {
                let ahead = ix_of(ahead);
                if !self.adj.is_some_and(|a| a.prefetch_key(ahead)) {
                    self.prefetch_rec(ahead);
                }
            }
            (self.key(ix_of(item)), item)
        })
    }

    /// The keys of `ixs`, in order: a result's ids resolved before the
    /// caller converts them (detached, so the record misses stay off the GIL).
    /// Watches `cancel` every [`CHECK_EVERY`] keys (a 3M-node result takes
    /// tens of milliseconds), for interruption only: the work is done.
    pub fn keys(&self, ixs: &[Ix], cancel: &Cancel<'_>) -> Result<Vec<NodeId>> {
        self.keys_made(ixs, |&ix| ix, |k, _| k.clone(), cancel)
    }

    /// `(key, value)` for each `(ix, value)` of `items`, in order; watches
    /// `cancel` as [`Self::keys`] does.
    pub fn keyed<T: Copy>(
        &self,
        items: &[(Ix, T)],
        cancel: &Cancel<'_>,
    ) -> Result<Vec<(NodeId, T)>> {
        self.keys_made(items, |&(ix, _)| ix, |k, &(_, v)| (k.clone(), v), cancel)
    }

    /// `make(key, item)` for each of `items`, in order, checking `cancel`
    /// every [`CHECK_EVERY`] items (for interruption only). Filled into its
    /// final size: collecting `Result`s loses the exact size hint, and the
    /// vector grew by doubling (a 200k-node result took ~15 % longer here).
    fn keys_made<T, R>(
        &self,
        items: &[T],
        ix_of: impl Fn(&T) -> Ix,
        make: impl Fn(&NodeId, &T) -> R,
        cancel: &Cancel<'_>,
    ) -> Result<Vec<R>> {
        let mut out = Vec::with_capacity(items.len());
        for (i, (k, item)) in self.keys_of(items, ix_of).enumerate() {
            if i % CHECK_EVERY == CHECK_EVERY - 1 {
                cancel.interrupted()?;
            }
            out.push(make(k, item));
        }
        Ok(out)
    }

    /// The id of live node `ix`: from the cached CSR's id column when the
    /// view has one (dense, so a result read in traversal order stays in
    /// cache), else from its record.
    #[inline]
    pub fn key(&self, ix: Ix) -> &'a NodeId {
        match self.adj.and_then(|a| a.key(ix)) {
            Some(key) => {
                debug_assert!(
                    self.rec(ix).is_some_and(|r| &r.key == key),
                    "a stale id column"
                );
                key
            }
            None => &self.rec(ix).expect("live node").key,
        }
    }

    /// The key and the set-once host handle of live node `ix`.
    #[inline]
    pub fn key_and_handle(&self, ix: Ix) -> (&'a NodeId, &'a OnceCell<O>) {
        self.try_key_and_handle(ix).expect("live node")
    }

    /// [`Self::key_and_handle`] for an index that may not be live.
    #[inline]
    pub fn try_key_and_handle(&self, ix: Ix) -> Option<(&'a NodeId, &'a OnceCell<O>)> {
        self.rec(ix).map(|rec| (&rec.key, &rec.handle))
    }

    pub fn attrs(&self, ix: Ix) -> Option<&'a SharedAttrs<O>> {
        self.rec(ix).and_then(|r| r.attrs.as_ref())
    }

    /// Attributes of edge `s -> t` (which must exist).
    pub fn edge_attrs(&self, s: Ix, t: Ix) -> Option<&'a SharedAttrs<O>> {
        let (o, k) = owner(self.directed, s, t);
        self.rec(o).and_then(|r| r.edge_attrs(k))
    }

    /// Live records in insertion (index) order. Rows of [`CHUNK`] slots
    /// that no shard holds a record in are skipped whole: after churn (a
    /// million nodes added and removed beside a thousand kept) a walk costs
    /// O(the rows that hold records), not O(every index ever used).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Ix, &'a NodeRec<O>)> + '_ {
        let n = self.shards.len();
        let base = self.shards.first().map_or(0, |g| g.base as usize);
        let rows = self.rows();
        // Skips rows of chunks no shard holds a record in, from `row` on.
        let skip = move |mut row: usize| {
            while row < rows && !self.shards.iter().any(|g| g.slots.chunk_holds(row / CHUNK)) {
                row += CHUNK;
            }
            row
        };
        let (mut row, mut s) = (skip(0), 0usize);
        std::iter::from_fn(move || loop {
            if s == n {
                s = 0;
                row += 1;
                if row % CHUNK == 0 {
                    row = skip(row);
                }
            }
            if row >= rows {
                return None;
            }
            let shard = s;
            s += 1;
            if let Some(rec) = self.shards[shard].slots.get(row) {
                return Some(((((base + row) << self.bits) | shard) as Ix, rec));
            }
        })
    }

    /// The parts of rows `r0..r1` (a row: one slot of every shard, counted
    /// from the shards' base) in a chunk of [`CHUNK`] rows that some shard
    /// holds a record in. Whole-graph scans walk only these: the rest is
    /// what churn emptied.
    pub(crate) fn held_rows(
        &self,
        r0: usize,
        r1: usize,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (r0 / CHUNK..r1.div_ceil(CHUNK))
            .filter(|&c| self.shards.iter().any(|g| g.slots.chunk_holds(c)))
            .map(move |c| (c * CHUNK).max(r0)..((c + 1) * CHUNK).min(r1))
    }

    /// The slots of the rows that hold nodes ([`Self::held_rows`]), over
    /// every shard: what a whole-graph scan visits.
    pub(crate) fn held_slots(&self) -> usize {
        self.held_rows(0, self.rows())
            .map(|r| r.len())
            .sum::<usize>()
            * self.shards.len()
    }

    /// [`Self::held_rows`] for the indices `a..b`: the parts of that range
    /// whose rows some shard holds records in.
    pub(crate) fn held_ixs(&self, a: Ix, b: Ix) -> impl Iterator<Item = std::ops::Range<Ix>> + '_ {
        let base = self.shards.first().map_or(0, |g| g.base as usize);
        let row = |ix: Ix| (ix as usize >> self.bits).saturating_sub(base);
        let (r0, r1) = if a < b {
            (row(a), row(b - 1) + 1)
        } else {
            (0, 0)
        };
        let ix_of = move |r: usize| ((base + r) << self.bits) as u64;
        self.held_rows(r0, r1).map(move |rows| {
            let lo = ix_of(rows.start).max(a as u64) as Ix;
            let hi = ix_of(rows.end).min(b as u64) as Ix;
            lo..hi
        })
    }

    /// Live indices in insertion order.
    pub fn ixs(&self) -> impl Iterator<Item = Ix> + '_ {
        self.iter().map(|(ix, _)| ix)
    }
}

impl<'g, O: Payload> Locked<'g, O> {
    /// The locked shards as a view (all of them: `lock_all`).
    fn view(&self) -> GraphView<'_, O> {
        debug_assert!(self.all, "every shard locked");
        let shards = self.guards.iter().map(|(_, g)| &***g);
        GraphView::locked(self.g.bits, self.g.directed, shards)
    }

    #[inline]
    fn shard(&mut self, s: usize) -> &mut Shard<O> {
        let pos = if self.guards.len() == self.g.shards.len() {
            s
        } else {
            self.guards
                .iter()
                .position(|(i, _)| *i == s)
                .expect("shard not locked")
        };
        make_mut(&mut self.guards[pos].1)
    }

    /// The records of every shard (all must be locked: `lock_all`), each
    /// shard made writable on its first write: see [`Records`].
    fn records(&mut self) -> Records<'_, O> {
        assert_eq!(self.guards.len(), self.g.shards.len(), "every shard locked");
        Records {
            shards: self
                .guards
                .iter_mut()
                .map(|(_, g)| ShardRef::Shared(&mut **g))
                .collect(),
            bits: self.g.bits,
        }
    }

    #[inline]
    fn rec(&mut self, ix: Ix) -> Option<&mut NodeRec<O>> {
        let bits = self.g.bits;
        self.shard(self.g.shard_of(ix)).get_mut(ix, bits)
    }

    #[inline]
    fn rec_ref(&self, ix: Ix) -> Option<&NodeRec<O>> {
        let s = self.g.shard_of(ix);
        let guard = if self.guards.len() == self.g.shards.len() {
            &self.guards[s].1
        } else {
            &self.guards.iter().find(|(i, _)| *i == s)?.1
        };
        guard.get(ix, self.g.bits)
    }

    fn touch(&mut self, ix: Ix) {
        self.shard(self.g.shard_of(ix)).version += 1;
    }

    /// The live index of `id` (the caller holds the shard lock of the answer
    /// if it then reads the record; see the lock-order rules).
    fn live(&self, id: NodeRef<'_>) -> Option<Ix> {
        let ix = self.g.resolve(id)?;
        self.rec_ref(ix).filter(|r| holds(r, id)).map(|_| ix)
    }

    fn has_edge_ix(&self, s: Ix, t: Ix) -> bool {
        self.rec_ref(s).is_some_and(|r| r.has_out(t))
    }

    /// The node that stores an edge's attributes, and the key they are under.
    #[inline]
    fn owner(&self, s: Ix, t: Ix) -> (Ix, Ix) {
        owner(self.g.directed, s, t)
    }

    /// Inserts an edge known to be absent between live nodes.
    fn insert_edge(&mut self, s: Ix, t: Ix, attrs: Attrs<O>) {
        link(self, self.g.directed, s, t, attrs);
        self.touch(s);
        self.touch(t);
    }

    /// Removes an edge; false if it is absent. `remove_out` also drops the
    /// edge's attributes, whichever endpoint owns them.
    fn remove_edge_ix(&mut self, s: Ix, t: Ix) -> bool {
        if !self.rec(s).is_some_and(|r| r.remove_out(t)) {
            return false;
        }
        if self.g.directed {
            self.rec(t).expect("live target").remove_in(s);
        } else if s != t {
            self.rec(t).expect("live target").remove_out(s);
        }
        self.touch(s);
        self.touch(t);
        true
    }

    /// Removes live node `x`, its edges and its key; returns how many edges went.
    /// Every shard holding `x` or a neighbour must be locked.
    fn remove_node_ix(&mut self, x: Ix) -> usize {
        let directed = self.g.directed;
        let bits = self.g.bits;
        let rec = self
            .shard(self.g.shard_of(x))
            .take(x, bits)
            .expect("live node");
        let mut removed = 0usize;
        for &t in rec.out() {
            removed += 1;
            if t == x {
                continue;
            }
            let r = self.rec(t).expect("live neighbour");
            if directed {
                r.remove_in(x);
            } else {
                r.remove_out(x); // also drops attributes `t` owned for this edge
            }
            self.touch(t);
        }
        if directed {
            for &u in rec.inn() {
                if u == x {
                    continue; // the self-loop was counted with the out-edges
                }
                removed += 1;
                self.rec(u).expect("live neighbour").remove_out(x);
                self.touch(u);
            }
        }
        self.touch(x);
        self.g.key_remove(rec.key.as_ref());
        self.nodes -= 1;
        self.edges -= removed as isize;
        removed
    }

    /// Adds node `id` or merges `attrs` into it (under these locks; used by
    /// batches that hold every shard). A new node takes index `*fresh`, one
    /// the batch reserved, and moves it on.
    fn add_node_all_locked(&mut self, id: NodeId, attrs: AttrMap<O>, fresh: &mut Ix) {
        if let Some(ix) = self.live(id.as_ref()) {
            merge_attrs(&mut self.rec(ix).expect("live").attrs, attrs);
            self.touch(ix);
            return;
        }
        let ix = *fresh;
        *fresh += 1;
        self.create(ix, id, attrs_from(attrs));
    }

    /// Creates a record at a fresh index; every shard is locked, so it cannot race.
    fn create(&mut self, ix: Ix, id: NodeId, attrs: Attrs<O>) {
        let bits = self.g.bits;
        // The count with this batch's creations so far (applied at the end).
        let nodes = self.g.node_count().wrapping_add(self.nodes as usize);
        let inserted = self.g.key_insert(&id, ix, nodes);
        debug_assert!(inserted.is_ok(), "key present while every shard is locked");
        let stored = self
            .shard(self.g.shard_of(ix))
            .put(ix, bits, NodeRec::new(id, attrs));
        debug_assert!(stored.is_ok(), "fresh index already taken");
        self.touch(ix);
        self.nodes += 1;
    }

    fn node_err(&self, ix: Ix) -> NodeId {
        self.rec_ref(ix).map(|r| r.key.clone()).expect("live node")
    }
}

/// Writable access to live records, by index.
trait RecordsMut<O> {
    fn rec_mut(&mut self, ix: Ix) -> &mut NodeRec<O>;
}

impl<O: Payload> RecordsMut<O> for Locked<'_, O> {
    fn rec_mut(&mut self, ix: Ix) -> &mut NodeRec<O> {
        self.rec(ix).expect("live endpoint")
    }
}

impl<O: Payload> RecordsMut<O> for Records<'_, O> {
    #[inline]
    fn rec_mut(&mut self, ix: Ix) -> &mut NodeRec<O> {
        self.write(ix)
    }
}

/// Links `s` to `t` (an edge known to be absent between live nodes) in the
/// adjacency of both, and stores its attributes with their owner.
#[inline]
fn link<O>(recs: &mut impl RecordsMut<O>, directed: bool, s: Ix, t: Ix, attrs: Attrs<O>) {
    recs.rec_mut(s).push_out(t);
    if directed {
        recs.rec_mut(t).push_in(s);
    } else if s != t {
        recs.rec_mut(t).push_out(s);
    }
    if let Some(a) = attrs {
        let (o, k) = owner(directed, s, t);
        recs.rec_mut(o).ext_mut().edge_attrs.insert(k, a);
    }
}

/// Writable records of a batch holding every shard lock. Going through
/// `Locked::rec` costs a `make_mut` per access, an atomic compare-and-swap
/// that also waits for the previous edge's cache-missing stores to drain:
/// in a loop over many edges that serializes their misses. Here each shard
/// is made writable once, on its first write, and only then: a shard that a
/// snapshot still shares is copied only if the batch writes to it (a batch
/// of one edge copies at most two shards, not the graph). Written shards
/// get their version bumped once, when this is dropped.
struct Records<'a, O> {
    shards: Vec<ShardRef<'a, O>>,
    bits: u32,
}

/// One shard of [`Records`]: not written yet (possibly shared with a
/// snapshot), or made writable (unique) by its first write.
enum ShardRef<'a, O> {
    Shared(&'a mut Arc<Shard<O>>),
    Written(&'a mut Shard<O>),
    /// Only while `Records::shard_mut` swaps one for the other.
    Moving,
}

impl<O: Payload> Records<'_, O> {
    #[inline]
    fn get(&self, ix: Ix) -> Option<&NodeRec<O>> {
        match &self.shards[(ix & ((1 << self.bits) - 1)) as usize] {
            ShardRef::Shared(arc) => arc.get(ix, self.bits),
            ShardRef::Written(shard) => shard.get(ix, self.bits),
            ShardRef::Moving => unreachable!("a shard left mid-swap"),
        }
    }

    /// Shard `s`, writable (copied first if a snapshot shares it), marked written.
    #[inline]
    fn shard_mut(&mut self, s: usize) -> &mut Shard<O> {
        let slot = &mut self.shards[s];
        if let ShardRef::Shared(_) = slot {
            let ShardRef::Shared(arc) = std::mem::replace(slot, ShardRef::Moving) else {
                unreachable!("matched above")
            };
            *slot = ShardRef::Written(make_mut(arc));
        }
        match slot {
            ShardRef::Written(shard) => shard,
            _ => unreachable!("made writable above"),
        }
    }

    /// Live record `ix`, marked written.
    #[inline]
    fn write(&mut self, ix: Ix) -> &mut NodeRec<O> {
        let bits = self.bits;
        self.shard_mut((ix & ((1 << bits) - 1)) as usize)
            .get_mut(ix, bits)
            .expect("live endpoint")
    }
}

impl<O> Drop for Records<'_, O> {
    fn drop(&mut self) {
        for shard in &mut self.shards {
            if let ShardRef::Written(shard) = shard {
                shard.version += 1;
            }
        }
    }
}

/// Edge batches at least this large (and dense enough in index space) are
/// merged in bulk rather than one edge at a time.
const BULK_MIN_EDGES: usize = 4096;

/// Groups `vals[k]` by `keys[k] - lo` stably (counting sort): returns the
/// bucket offsets (`span + 1` of them) and the grouped values.
fn group_by_node(
    entries: impl Iterator<Item = (Ix, Ix)> + Clone,
    lo: Ix,
    span: usize,
) -> (Vec<u32>, Vec<Ix>) {
    let mut start = vec![0u32; span + 1];
    for (node, _) in entries.clone() {
        start[(node - lo) as usize + 1] += 1;
    }
    for i in 0..span {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut vals = vec![0 as Ix; start[span] as usize];
    for (node, val) in entries {
        let slot = &mut fill[(node - lo) as usize];
        vals[*slot as usize] = val;
        *slot += 1;
    }
    (start, vals)
}

/// The index range of a batch of edges (`pairs`, not empty): its lowest
/// endpoint, the range's length, and whether the batch is large and dense
/// enough in it for the bulk path.
fn edge_span(pairs: &[(Ix, Ix)]) -> (Ix, usize, bool) {
    let (lo, hi) = pairs.iter().fold((Ix::MAX, 0), |(lo, hi), &(s, t)| {
        (lo.min(s).min(t), hi.max(s).max(t))
    });
    let span = (hi - lo) as usize + 1;
    (
        lo,
        span,
        pairs.len() >= BULK_MIN_EDGES && span <= 8 * pairs.len(),
    )
}

/// The first of `pairs` that is an edge already (`has_out`) or repeats an
/// earlier one (either direction when undirected): an edge batch's error.
fn first_existing_or_repeated(
    directed: bool,
    pairs: &[(Ix, Ix)],
    has_out: impl Fn(Ix, Ix) -> bool,
) -> Option<(Ix, Ix)> {
    let mut seen = HashSet::with_capacity(pairs.len());
    pairs
        .iter()
        .copied()
        .find(|&(s, t)| has_out(s, t) || !seen.insert(owner(directed, s, t)))
}

/// Merges a large edge batch: groups the new adjacency by node (keeping batch
/// order within each node), checks every edge before changing anything, then
/// rebuilds each touched node's adjacency once, exactly sized. All endpoints
/// are live (checked by the caller) and every shard is locked.
fn bulk_add_edges<O: Payload>(
    locked: &mut Locked<'_, O>,
    pairs: &[(Ix, Ix)],
    attrs: Vec<(usize, AttrMap<O>)>,
    lo: Ix,
    span: usize,
) -> Result<()> {
    let directed = locked.g.directed;
    let (out_start, outs) = if directed {
        group_by_node(pairs.iter().copied(), lo, span)
    } else {
        // Undirected: each edge is a neighbour of both ends (a self-loop once).
        let both = pairs
            .iter()
            .flat_map(|&(s, t)| std::iter::once((s, t)).chain((s != t).then_some((t, s))));
        group_by_node(both, lo, span)
    };
    // Duplicates, against the graph and within the batch, before any change.
    let mut seen: FastSet<Ix> = FastSet::default();
    let mut dup = false;
    'nodes: for i in 0..span {
        let new = &outs[out_start[i] as usize..out_start[i + 1] as usize];
        if new.is_empty() {
            continue;
        }
        let rec = locked.rec_ref(lo + i as Ix).expect("live endpoint");
        if new.len() <= 16 {
            for (j, &t) in new.iter().enumerate() {
                if rec.has_out(t) || new[..j].contains(&t) {
                    dup = true;
                    break 'nodes;
                }
            }
        } else {
            seen.clear();
            for &t in new {
                if rec.has_out(t) || !seen.insert(t) {
                    dup = true;
                    break 'nodes;
                }
            }
        }
    }
    if dup {
        // Report the first offending edge in batch order, as the one-by-one path would.
        let mut batch: FastSet<(Ix, Ix)> = FastSet::default();
        for &(s, t) in pairs {
            let key = if directed || s <= t { (s, t) } else { (t, s) };
            if locked.has_edge_ix(s, t) || !batch.insert(key) {
                return Err(GraphError::EdgeExists(
                    locked.node_err(s),
                    locked.node_err(t),
                ));
            }
        }
        unreachable!("a duplicate was found by node but not in batch order");
    }
    let (in_start, ins) = if directed {
        group_by_node(pairs.iter().map(|&(s, t)| (t, s)), lo, span)
    } else {
        (vec![0u32; span + 1], Vec::new())
    };
    let mut recs = locked.records();
    for i in 0..span {
        let new_out = &outs[out_start[i] as usize..out_start[i + 1] as usize];
        let new_in = &ins[in_start[i] as usize..in_start[i + 1] as usize];
        if new_out.is_empty() && new_in.is_empty() {
            continue;
        }
        recs.write(lo + i as Ix).extend_adj(new_out, new_in);
    }
    drop(recs);
    for (pos, map) in attrs {
        let (s, t) = pairs[pos];
        if let Some(a) = attrs_from(map) {
            let (o, k) = locked.owner(s, t);
            locked
                .rec(o)
                .expect("live owner")
                .ext_mut()
                .edge_attrs
                .insert(k, a);
        }
    }
    Ok(())
}

impl<O: Payload> Graph<O> {
    /// A graph with the default number of shards ([`default_shards`]).
    pub fn new(directed: bool) -> Self {
        Self::with_shards(directed, default_shards())
    }

    /// A graph with `shards` shards (rounded up to a power of two, at least 1).
    pub fn with_shards(directed: bool, shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        let shards = (0..n)
            .map(|_| {
                RwLock::new(Arc::new(Shard {
                    slots: Slots::default(),
                    base: 0,
                    version: 0,
                }))
            })
            .collect();
        Self {
            directed,
            bits: n.trailing_zeros(),
            shards,
            ints: IntKeys::new(n),
            strs: KeyMap::new(n),
            next_ix: AtomicU64::new(0),
            n_nodes: AtomicUsize::new(0),
            n_edges: AtomicUsize::new(0),
            membership: AtomicU64::new(0),
            removals: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            index_limit: AtomicU64::new(Ix::MAX as u64),
            columns: Default::default(),
        }
    }

    #[inline]
    pub fn is_directed(&self) -> bool {
        self.directed
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    fn shard_of(&self, ix: Ix) -> usize {
        (ix & ((1u32 << self.bits) - 1)) as usize
    }

    #[inline]
    pub fn node_count(&self) -> usize {
        self.n_nodes.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn edge_count(&self) -> usize {
        self.n_edges.load(Ordering::Relaxed)
    }

    /// The index the key maps currently give `id` (the record may be gone by
    /// the time the caller locks its shard: always re-check under the lock).
    #[inline]
    pub fn resolve(&self, id: NodeRef<'_>) -> Option<Ix> {
        match id {
            NodeRef::Int(i) => self.ints.get(i),
            NodeRef::Str(s) => self.strs.get(&StrQuery::new(s)),
        }
    }

    /// [`Graph::resolve`] of every id of `ids`, in order, into `out`
    /// (cleared first): one read lock of each key-map shard for the whole
    /// run instead of one per id, so the lookups' cache misses overlap.
    /// Batches resolve their endpoints this way, a chunk at a time.
    ///
    /// **Locking behaviour:** read-locks every key-map shard for the call
    /// (writers of the key maps, i.e. node insertions and removals, wait).
    pub fn resolve_many(&self, ids: &[NodeRef<'_>], out: &mut Vec<Option<Ix>>) {
        out.clear();
        out.reserve(ids.len());
        // Only the maps the ids use: an all-int run leaves str writers alone.
        let has_strs = ids.iter().any(|id| matches!(id, NodeRef::Str(_)));
        let has_ints = ids.iter().any(|id| matches!(id, NodeRef::Int(_)));
        let ints = has_ints.then(|| self.ints.reader());
        let strs = has_strs.then(|| self.strs.reader());
        out.extend(ids.iter().map(|&id| match id {
            NodeRef::Int(i) => ints.as_ref().expect("seen").get(i),
            NodeRef::Str(s) => strs.as_ref().expect("seen").get(&StrQuery::new(s)),
        }));
    }

    /// [`Graph::resolve`] before an insertion of `id` if it is absent: a
    /// missing str id's key-map slot is prefetched for the insertion.
    #[inline]
    fn resolve_before_insert(&self, id: NodeRef<'_>) -> Option<Ix> {
        match id {
            NodeRef::Str(s) => self.strs.get_before_insert(&StrQuery::new(s)),
            NodeRef::Int(_) => self.resolve(id),
        }
    }

    /// [`Graph::resolve_many`] of int ids.
    ///
    /// **Locking behaviour:** read-locks every shard of the int key map's
    /// hash half for the call (int-id insertions and removals wait).
    pub fn resolve_ints(&self, ids: &[i64], out: &mut Vec<Option<Ix>>) {
        out.clear();
        let ints = self.ints.reader();
        out.extend(ids.iter().map(|&i| ints.get(i)));
    }

    /// Inserts `id -> ix`; `nodes`, the graph's node count, says whether an
    /// int id may grow the dense table (see `IntKeys::insert`).
    fn key_insert(&self, id: &NodeId, ix: Ix, nodes: usize) -> std::result::Result<(), Ix> {
        match id {
            NodeId::Int(i) => self.ints.insert(*i, ix, nodes),
            NodeId::Str(s) => self.strs.insert_if_absent(StrKey::new(s), ix),
        }
    }

    fn key_remove(&self, id: NodeRef<'_>) {
        self.announce_removal();
        match id {
            NodeRef::Int(i) => self.ints.remove(i),
            NodeRef::Str(s) => self.strs.remove(&StrQuery::new(s)),
        };
    }

    /// Counts a removal before the key-map change that makes it (seqlock
    /// writer: the fence orders the bump before the change), under the
    /// removed node's shard lock.
    fn announce_removal(&self) {
        self.removals.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Reserves `n` consecutive fresh indices of the current epoch.
    /// Fails, taking none, when fewer than `n` are left (see `compact`).
    fn alloc(&self, n: usize) -> Result<Ix> {
        let limit = self.index_limit.load(Ordering::Relaxed);
        self.next_ix
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |start| {
                start.checked_add(n as u64).filter(|&end| end <= limit)
            })
            .map(|start| start as Ix)
            .map_err(|_| {
                GraphError::Capacity(format!(
                    "graph index space exhausted: {n} more node(s) would make more than {limit} \
                     at once, counting the nodes added under the same locks (a graph holds at \
                     most 2^32 - 1); nothing was changed"
                ))
            })
    }

    /// [`Graph::alloc`] for a holder of every shard lock: out of indices, it
    /// compacts under those locks and tries once more, if renumbering makes
    /// room for `n`.
    fn alloc_locked(&self, locked: &mut Locked<'_, O>, n: usize) -> Result<Ix> {
        self.alloc(n).or_else(|e| {
            if !self.room_after_renumbering(locked.nodes, n) {
                return Err(e);
            }
            self.compact_locked(locked);
            // The batch goes on under these locks: free the old records now
            // (as before retiring them), so that it does not hold two graphs
            // and its attribute merges find the maps unshared, not copy them.
            locked.retired.shards.clear();
            self.alloc(n)
        })
    }

    /// Whether renumbering would leave room for `n` more nodes: the live
    /// nodes (the count plus `pending`, a lock holder's uncounted changes)
    /// and `n` fit under the limit. A graph that is simply full is not
    /// renumbered for nothing.
    fn room_after_renumbering(&self, pending: isize, n: usize) -> bool {
        let live = (self.node_count() as u64).saturating_add_signed(pending as i64);
        live.saturating_add(n as u64) <= self.index_limit.load(Ordering::Relaxed)
    }

    /// Renumbers the live nodes if fewer than `n` indices are left and
    /// renumbering leaves room for `n`.
    ///
    /// **Locking behaviour:** write-locks every shard (see `compact_locked`).
    pub fn compact(&self, n: usize) {
        let mut locked = self.lock_all();
        let next = self.next_ix.load(Ordering::Relaxed);
        if next.saturating_add(n as u64) > self.index_limit.load(Ordering::Relaxed)
            && self.room_after_renumbering(0, n)
        {
            self.compact_locked(&mut locked);
        }
    }

    /// Lowers the number of indices an epoch hands out before the graph
    /// compacts (for tests of compaction; default `2^32 - 1`).
    #[doc(hidden)]
    pub fn set_index_limit(&self, limit: u64) {
        self.index_limit
            .store(limit.clamp(1, Ix::MAX as u64), Ordering::Relaxed);
    }

    /// Renumbers the live nodes `0..n` in index order, so insertion order
    /// stays, and restarts the index range after them: the way out when an
    /// epoch runs out of indices. Every record is copied into fresh shards
    /// (snapshots keep the old ones) with its neighbour lists, hub set and
    /// edge attributes remapped; the key maps are rewritten under their
    /// writers, a dense int entry switching in place from the old index to
    /// the new (a lock-free reader sees one or the other, never a missing
    /// node); then a new epoch starts. O(nodes + edges), under every shard
    /// lock.
    fn compact_locked(&self, locked: &mut Locked<'_, O>) {
        debug_assert!(locked.all, "every shard locked");
        let view = locked.view();
        let order: Vec<Ix> = view.ixs().collect();
        let new_of = Renumbering::new(&view, &order);
        // Scratch lists, reused for every node.
        let (mut outs, mut ins) = (Vec::new(), Vec::new());
        let remap = |xs: &[Ix], into: &mut Vec<Ix>| {
            into.clear();
            into.extend(xs.iter().map(|&x| new_of.get(x)));
        };
        let count = self.shards.len();
        let mut fresh: Vec<Slots<NodeRec<O>>> = (0..count).map(|_| Slots::default()).collect();
        for slots in &mut fresh {
            slots.reserve_to(order.len().div_ceil(count));
        }
        let mut ints = Vec::new();
        for (new, &old) in order.iter().enumerate() {
            let new = new as Ix;
            let r = view.rec(old).expect("a live index");
            let mut adj = AdjList::new();
            remap(r.out(), &mut outs);
            remap(r.inn(), &mut ins);
            adj.extend(&outs, &ins);
            let ext = r.ext.as_ref().map(|e| {
                Box::new(NodeExt {
                    edge_attrs: e
                        .edge_attrs
                        .iter()
                        .map(|(&k, a)| (new_of.get(k), a.clone()))
                        .collect(),
                    hub: e
                        .hub
                        .as_ref()
                        .map(|h| h.iter().map(|&k| new_of.get(k)).collect()),
                })
            });
            if let NodeId::Int(i) = r.key {
                ints.push((i, new));
            }
            let rec = NodeRec {
                key: r.key.clone(),
                attrs: r.attrs.clone(),
                adj,
                ext,
                handle: r.handle.clone(),
            };
            let stored = fresh[self.shard_of(new)].put((new >> self.bits) as usize, rec);
            debug_assert!(stored.is_ok(), "index {new} given twice");
        }
        drop(view);
        // The key maps, then the shards, then the epoch: a reader that sees
        // the new epoch sees the new indices.
        let mut strs = self.strs.writer(0);
        for (key, old) in strs.take_if(|_| true) {
            let _ = strs.insert_if_absent(key, new_of.get(old));
        }
        drop(strs);
        self.ints.reindex(&ints);
        // A snapshot may still hold the old data: start from fresh shards.
        let mut fresh = fresh.into_iter();
        locked.replace_shards(|old| Shard {
            slots: fresh.next().expect("one set of slots per shard"),
            base: 0,
            version: old.version + 1,
        });
        self.next_ix.store(order.len() as u64, Ordering::Relaxed);
        self.announce_removal();
        locked.retired.columns = Some(self.columns.take());
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Locks `shards` (any order, duplicates allowed) for writing, ascending.
    fn lock_set(&self, mut shards: Vec<usize>) -> Locked<'_, O> {
        shards.sort_unstable();
        shards.dedup();
        let guards = shards
            .into_iter()
            .map(|s| (s, self.shards[s].write()))
            .collect();
        Locked {
            g: self,
            guards,
            all: false,
            nodes: 0,
            edges: 0,
            retired: Retired::default(),
        }
    }

    fn lock_all(&self) -> Locked<'_, O> {
        let guards = self.shards.iter().map(|s| s.write()).enumerate().collect();
        // Odd before any key-map change made under these locks (seqlock
        // writer: the fence orders the bump before the changes).
        self.membership.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        Locked {
            g: self,
            guards,
            all: true,
            nodes: 0,
            edges: 0,
            retired: Retired::default(),
        }
    }

    /// Read-locks every shard, ascending: a consistent picture of the graph.
    ///
    /// **Locking behaviour:** blocks writers of every shard until dropped; keep
    /// it short and never call into the caller's runtime while holding it.
    pub(crate) fn read_all(&self) -> ReadAll<'_, O> {
        ReadAll {
            bits: self.bits,
            directed: self.directed,
            guards: self.shards.iter().map(|s| s.read()).collect(),
        }
    }

    /// A consistent snapshot of the whole graph (see [`Snapshot`]).
    ///
    /// **Locking behaviour:** read-locks every shard just long enough to clone
    /// one `Arc` per shard.
    pub fn snapshot(&self) -> Snapshot<O> {
        let guards: Vec<_> = self.shards.iter().map(|s| s.read()).collect();
        Snapshot {
            bits: self.bits,
            directed: self.directed,
            shards: guards.iter().map(|g| Arc::clone(g)).collect(),
            nodes: self.node_count(),
            edges: self.edge_count(),
            // Under every shard's read lock: no removal or compaction is
            // part-way.
            taken: Taken {
                removals: self.removals.load(Ordering::Acquire),
                epoch: self.epoch.load(Ordering::Relaxed),
            },
        }
    }

    /// The error a batch of edges `pairs` reports for its first item, in
    /// order, that is already an edge or repeats an earlier item (either
    /// direction when undirected), if any. Cold: it only decides which of
    /// several invalid items an error names (the first, as the reference
    /// backend does), when a later item has a missing endpoint.
    ///
    /// **Locking behaviour:** as [`Graph::snapshot`].
    /// `pairs` were looked up in `epoch`: renumbered since, they name no
    /// error.
    pub fn first_existing_edge(&self, pairs: &[(Ix, Ix)], epoch: u64) -> Option<GraphError> {
        let snap = self.snapshot();
        if snap.taken.epoch != epoch {
            return None;
        }
        let view = snap.view();
        let (s, t) = first_existing_or_repeated(self.directed, pairs, |s, t| {
            view.rec(s).is_some_and(|r| r.has_out(t))
        })?;
        let id = |ix: Ix| view.rec(ix).map(|r| r.key.clone());
        Some(GraphError::EdgeExists(id(s)?, id(t)?))
    }

    /// Runs `f` on a consistent view under every shard's read lock (for short
    /// multi-shard reads such as `k_hop`).
    ///
    /// **Locking behaviour:** read-locks every shard for the duration of `f`;
    /// `f` must not call back into the caller's runtime, nor wait for it
    /// (no `Cancel` with a hook), and must stay short: writers wait for it.
    pub fn with_view<R>(&self, f: impl FnOnce(&GraphView<'_, O>) -> R) -> R {
        let guard = self.read_all();
        let view = guard.view();
        f(&view)
    }

    /// Copies nodes `ids` (in this graph's node order) and the edges among
    /// them, with their attributes, into `into`, which must be empty, from
    /// one snapshot. Each kept node's neighbour lists keep their order: they
    /// are written as they are here, less the nodes left out.
    pub fn subgraph_into(
        &self,
        ids: &[NodeRef<'_>],
        into: &Graph<O>,
        cancel: &Cancel<'_>,
    ) -> Result<()> {
        if into.directed != self.directed {
            let made = if into.directed {
                "directed"
            } else {
                "undirected"
            };
            let want = if self.directed {
                "directed"
            } else {
                "undirected"
            };
            return Err(GraphError::InvalidValue(format!(
                "subgraph: the new graph was made {made}, not {want} (its class's __new__ chose?)"
            )));
        }
        let snap = self.snapshot();
        let view = snap.view();
        let mut ixs = self.ixs_in(&view, ids, cancel)?;
        ixs.sort_unstable();
        ixs.dedup();
        // Kept nodes by position in `ixs`: in a dense table by index when
        // the subgraph keeps a good part of the graph, else in a map.
        let (lo, span) = (view.lo(), view.span());
        let dense = ixs.len() >= span / 16;
        let mut table = if dense {
            vec![u32::MAX; span]
        } else {
            Vec::new()
        };
        let mut map: FastMap<Ix, u32> = FastMap::default();
        for (p, &ix) in ixs.iter().enumerate() {
            if dense {
                table[(ix - lo) as usize] = p as u32;
            } else {
                map.insert(ix, p as u32);
            }
        }
        let pos = |w: &Ix| -> Option<u32> {
            if dense {
                Some(table[(*w - lo) as usize]).filter(|&p| p != u32::MAX)
            } else {
                map.get(w).copied()
            }
        };
        let (mut outs, mut ins) = (Lists::default(), Lists::default());
        let (mut edge_attrs, mut loops) = (Vec::new(), 0usize);
        for (p, &u) in ixs.iter().enumerate() {
            if p % CHECK_EVERY == 0 {
                cancel.check()?;
            }
            let p = p as u32;
            outs.push(view.out(u).iter().filter_map(pos));
            for &q in outs.of(p) {
                loops += usize::from(q == p);
                // Each edge's attributes once, from the end that owns them;
                // shared with this graph's view (copied on a write).
                if owner(self.directed, p, q) == (p, q) {
                    if let Some(a) = view.edge_attrs(u, ixs[q as usize]) {
                        edge_attrs.push((p, q, a.clone()));
                    }
                }
            }
            if self.directed {
                ins.push(view.inn(u).iter().filter_map(pos));
            }
        }
        drop((table, map));
        let edges = if self.directed {
            outs.items.len()
        } else {
            (outs.items.len() + loops) / 2
        };
        let nodes = ixs
            .iter()
            .map(|&ix| (view.key(ix).clone(), view.attrs(ix).cloned()))
            .collect();
        cancel.check()?;
        let adj = (0..ixs.len() as u32).map(|p| {
            let inn: &[u32] = if self.directed { ins.of(p) } else { &[] };
            (outs.of(p), inn)
        });
        into.fill_empty(nodes, adj, edge_attrs.into_iter(), edges)
            .map_err(|e| match e {
                GraphError::InvalidValue(_) if into.node_count() != 0 => GraphError::InvalidValue(
                    "subgraph: the new graph was not empty when it was filled (its class's __init__ added nodes?)".into(),
                ),
                e => e,
            })
    }

    /// The live index of `id` in `view`.
    ///
    /// The key maps hold the graph's current state, which a snapshot's view
    /// may predate. When they name no index of `id` in `view` and no node has
    /// been removed since the snapshot, `id` was absent from it: a node added
    /// since has an index the view does not hold, and the same id at another
    /// index would have needed a removal first. Otherwise (the node was
    /// removed since, and maybe added again) the view itself is searched, so
    /// a query answers for its snapshot's state: linearly, so only a query
    /// that a removal overtook pays it (it was every query naming a missing
    /// node: 3.3 ms per failing call on a 1M-node graph).
    ///
    /// An index is trusted in `view` only if the lookup ran in the view's
    /// epoch: after a compaction the view's indices mean other nodes.
    pub fn ix_in(&self, view: &GraphView<'_, O>, id: NodeRef<'_>) -> Result<Ix> {
        match self.ix_in_quick(view, id)? {
            Some(ix) => Ok(ix),
            None => view
                .iter()
                .find(|(_, r)| r.key.as_ref() == id)
                .map(|(ix, _)| ix)
                .ok_or_else(|| GraphError::NodeNotFound(id.to_owned_id())),
        }
    }

    /// [`Graph::ix_in`] of each of `ids`, in order. The view's ids by index
    /// are gathered the first time an id must be searched for (a
    /// renumbering since the view's snapshot sends every id there): one
    /// pass over the view instead of one per id.
    pub fn ixs_in(
        &self,
        view: &GraphView<'_, O>,
        ids: &[NodeRef<'_>],
        cancel: &Cancel<'_>,
    ) -> Result<Vec<Ix>> {
        let mut by_id: Option<FastMap<NodeId, Ix>> = None;
        let mut ixs = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            if i % CHECK_EVERY == 0 {
                cancel.check()?;
            }
            let ix = match self.ix_in_quick(view, id)? {
                Some(ix) => ix,
                None => *by_id
                    .get_or_insert_with(|| view.iter().map(|(ix, r)| (r.key.clone(), ix)).collect())
                    .get(&id.to_owned_id())
                    .ok_or_else(|| GraphError::NodeNotFound(id.to_owned_id()))?,
            };
            ixs.push(ix);
        }
        Ok(ixs)
    }

    /// [`Graph::ix_in`] without the search: `None` when only a search of
    /// `view` can tell.
    fn ix_in_quick(&self, view: &GraphView<'_, O>, id: NodeRef<'_>) -> Result<Option<Ix>> {
        let (found, epoch) = self.resolve_stable_at(id);
        if let Some(ix) = found
            .filter(|_| view.taken.is_some_and(|t| t.epoch == epoch))
            .filter(|&ix| view.rec(ix).is_some_and(|r| holds(r, id)))
        {
            return Ok(Some(ix));
        }
        // Seqlock reader: a key-map change the lookup saw was announced
        // before it was made (`announce_removal`).
        fence(Ordering::Acquire);
        if view.taken.map(|t| t.removals) == Some(self.removals.load(Ordering::Relaxed)) {
            return Err(GraphError::NodeNotFound(id.to_owned_id()));
        }
        Ok(None)
    }

    /// The graph's cache of per-shard columns (for the loom models).
    #[doc(hidden)]
    pub fn column_cache(&self) -> &super::filter::ColumnCache {
        &self.columns
    }

    /// [`Graph::ix_in`] for a view read under the shard locks
    /// ([`Graph::with_view`]), where the key maps are exact: no search.
    pub fn ix_in_locked(&self, view: &GraphView<'_, O>, id: NodeRef<'_>) -> Result<Ix> {
        self.resolve(id)
            .filter(|&ix| view.rec(ix).is_some_and(|r| holds(r, id)))
            .ok_or_else(|| GraphError::NodeNotFound(id.to_owned_id()))
    }

    /// [`Graph::resolve`], never in the middle of a batch. A batch
    /// (`lock_all`) changes the key maps one key at a time under every shard
    /// lock, so a lookup overlapping one could miss a node the batch removes
    /// and adds again: this one looks again, after the batch, when the
    /// `membership` sequence says one ran meanwhile (seqlock reader). Under
    /// any shard lock no batch can be part-way, and `resolve` is enough.
    fn resolve_stable(&self, id: NodeRef<'_>) -> Option<Ix> {
        self.resolve_stable_at(id).0
    }

    /// [`Graph::resolve_stable`], and the epoch its answer is in: read in the
    /// same `membership` bracket, and a new epoch starts only while
    /// `membership` is odd.
    fn resolve_stable_at(&self, id: NodeRef<'_>) -> (Option<Ix>, u64) {
        loop {
            let seq = self.membership.load(Ordering::Acquire);
            if seq & 1 == 0 {
                let epoch = self.epoch.load(Ordering::Relaxed);
                let found = self.resolve(id);
                // The lookup's reads come before the re-check.
                fence(Ordering::Acquire);
                if self.membership.load(Ordering::Relaxed) == seq {
                    return (found, epoch);
                }
            }
            // A batch holds every shard lock: wait until it lets them go.
            drop(self.shards[0].read());
        }
    }

    /// The current epoch (see the field). Read before a lookup made without
    /// a shard lock, and compared under the lock before its index is used.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether `epoch` is still current, asked under a shard lock (any: a
    /// new epoch starts only under all of them).
    #[inline]
    fn same_epoch(&self, epoch: u64) -> bool {
        self.epoch.load(Ordering::Relaxed) == epoch
    }

    /// Runs `f` on `id`'s record under its shard's read lock.
    fn with_node<R>(&self, id: NodeRef<'_>, f: impl FnOnce(Ix, &NodeRec<O>) -> R) -> Result<R> {
        let (mut at, mut epoch) = self.resolve_stable_at(id);
        while let Some(ix) = at {
            let shard = self.shards[self.shard_of(ix)].read();
            if !self.same_epoch(epoch) {
                // Renumbered since the lookup: under this lock the key maps
                // are current.
                epoch = self.epoch.load(Ordering::Relaxed);
                at = self.resolve(id);
                continue;
            }
            if let Some(rec) = shard.get(ix, self.bits).filter(|r| holds(r, id)) {
                return Ok(f(ix, rec));
            }
            // Gone from `ix`. Under this lock no batch is part-way, so the key
            // maps say whether the node lives elsewhere now (removed and added
            // again); they cannot name `ix`, whose shard this lock holds.
            at = self.resolve(id).filter(|&now| now != ix);
        }
        Err(GraphError::NodeNotFound(id.to_owned_id()))
    }

    // ----------------------------------------------------------------- writes

    /// Adds `id`, or merges `attrs` into it when present.
    ///
    /// **Locking behaviour:** write-locks the node's one shard.
    pub fn add_node(&self, id: NodeRef<'_>, attrs: AttrMap<O>) -> Result<()> {
        self.add_node_with_room(id, attrs, |n| self.compact(n))
    }

    /// [`Graph::add_node`], calling `make_room(n)` where the graph is out of
    /// indices and must renumber ([`Graph::compact`]) before it can add the
    /// node: with no lock held, so that the caller can run the renumbering
    /// elsewhere (the binding, attached here, runs it detached).
    pub fn add_node_with_room(
        &self,
        id: NodeRef<'_>,
        attrs: AttrMap<O>,
        make_room: impl FnOnce(usize),
    ) -> Result<()> {
        let mut make_room = Some(make_room);
        let mut attrs = Some(attrs);
        // The owned id (for a `str`, an allocation and a copy) is made after
        // the lookup, while the key map's insert slot it prefetched arrives.
        let mut owned: Option<NodeId> = None;
        loop {
            // The lookup and the allocation below are used under the shard
            // lock only if no compaction or `clear` ran since (see `epoch`).
            let epoch = self.epoch();
            if let Some(ix) = self.resolve_before_insert(id) {
                let mut guard = self.shards[self.shard_of(ix)].write();
                if !self.same_epoch(epoch) {
                    continue;
                }
                let shard = make_mut(&mut guard);
                if let Some(rec) = shard.get_mut(ix, self.bits).filter(|r| holds(r, id)) {
                    merge_attrs(&mut rec.attrs, attrs.take().expect("attrs used once"));
                    shard.version += 1;
                    return Ok(());
                }
                // Removed since the lookup: create it afresh below.
            }
            let key = owned.take().unwrap_or_else(|| id.to_owned_id());
            let ix = match self.alloc(1) {
                Ok(ix) => ix,
                Err(e) => match make_room.take() {
                    // Out of indices: renumber the live nodes and try again, once.
                    Some(make_room) if self.room_after_renumbering(0, 1) => {
                        make_room(1);
                        owned = Some(key);
                        continue;
                    }
                    _ => return Err(e),
                },
            };
            let mut guard = self.shards[self.shard_of(ix)].write();
            if !self.same_epoch(epoch) {
                // A compaction or `clear()` ran since `alloc`: this index is
                // no longer ours. Checked before the key goes in, so that no
                // reader ever finds a key whose record never comes.
                owned = Some(key);
                continue;
            }
            let shard = make_mut(&mut guard);
            // Under the lock of `ix`'s shard the key map cannot gain `id` at `ix`;
            // if another thread created `id` meanwhile, merge into theirs instead.
            if self.key_insert(&key, ix, self.node_count()).is_err() {
                owned = Some(key);
                continue;
            }
            // The record takes `key` itself: cloning it would be an atomic
            // increment, which waits for the key map's store to reach memory.
            if shard.put(ix, self.bits, NodeRec::new(key, None)).is_err() {
                unreachable!("index {ix}: in range and fresh, checked under this lock");
            }
            let rec = shard.get_mut(ix, self.bits).expect("just stored");
            rec.attrs = attrs_from(attrs.take().expect("attrs used once"));
            shard.version += 1;
            self.n_nodes.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    }

    /// Merges `attrs` into an existing node.
    ///
    /// **Locking behaviour:** write-locks the node's one shard.
    pub fn update_node(&self, id: NodeRef<'_>, attrs: AttrMap<O>) -> Result<()> {
        let (mut at, mut epoch) = self.resolve_stable_at(id);
        while let Some(ix) = at {
            let mut guard = self.shards[self.shard_of(ix)].write();
            if !self.same_epoch(epoch) {
                epoch = self.epoch.load(Ordering::Relaxed); // see `with_node`
                at = self.resolve(id);
                continue;
            }
            let shard = make_mut(&mut guard);
            if let Some(rec) = shard.get_mut(ix, self.bits).filter(|r| holds(r, id)) {
                merge_attrs(&mut rec.attrs, attrs);
                shard.version += 1;
                return Ok(());
            }
            at = self.resolve(id).filter(|&now| now != ix); // moved? (see `with_node`)
        }
        Err(GraphError::NodeNotFound(id.to_owned_id()))
    }

    /// Locks the shards of both endpoints and runs `f` with their live indices.
    fn with_endpoints<R>(
        &self,
        s: NodeRef<'_>,
        t: NodeRef<'_>,
        missing: impl Fn(NodeRef<'_>) -> GraphError,
        f: impl FnOnce(&mut Locked<'_, O>, Ix, Ix) -> Result<R>,
    ) -> Result<R> {
        loop {
            let Some(si) = self.resolve_stable(s) else {
                return Err(missing(s));
            };
            let Some(ti) = self.resolve_stable(t) else {
                return Err(missing(t));
            };
            let mut locked = self.lock_set(vec![self.shard_of(si), self.shard_of(ti)]);
            // Under these locks no batch is part-way: the key maps are current.
            match (locked.live(s), locked.live(t)) {
                (Some(a), Some(b)) if a == si && b == ti => return f(&mut locked, si, ti),
                (a, b) => {
                    for (found, id) in [(a, s), (b, t)] {
                        // Absent, and not merely moved to a shard not locked here.
                        if found.is_none() && self.resolve(id).is_none() {
                            return Err(missing(id));
                        }
                    }
                    // Removed and added again meanwhile: at other indices.
                    continue;
                }
            }
        }
    }

    /// Adds the edge `s -> t` (undirected: `s -- t`).
    ///
    /// **Locking behaviour:** write-locks the (one or two) endpoint shards, ascending.
    pub fn add_edge(&self, s: NodeRef<'_>, t: NodeRef<'_>, attrs: AttrMap<O>) -> Result<()> {
        let missing = |absent: NodeRef<'_>| GraphError::NodeNotFound(absent.to_owned_id());
        self.with_endpoints(s, t, missing, |locked, si, ti| {
            if locked.has_edge_ix(si, ti) {
                return Err(GraphError::EdgeExists(s.to_owned_id(), t.to_owned_id()));
            }
            locked.insert_edge(si, ti, attrs_from(attrs));
            self.n_edges.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }

    fn edge_missing<'a>(s: NodeRef<'a>, t: NodeRef<'a>) -> impl Fn(NodeRef<'_>) -> GraphError + 'a {
        move |_| GraphError::EdgeNotFound(s.to_owned_id(), t.to_owned_id())
    }

    /// Merges `attrs` into the edge's attributes.
    ///
    /// **Locking behaviour:** write-locks the endpoint shards, ascending.
    pub fn update_edge(&self, s: NodeRef<'_>, t: NodeRef<'_>, attrs: AttrMap<O>) -> Result<()> {
        self.with_endpoints(s, t, Self::edge_missing(s, t), |locked, si, ti| {
            if !locked.has_edge_ix(si, ti) {
                return Err(Self::edge_missing(s, t)(s));
            }
            let (o, k) = locked.owner(si, ti);
            if !attrs.is_empty() {
                let ext = locked.rec(o).expect("live owner").ext_mut();
                let mut slot = ext.edge_attrs.remove(&k);
                merge_attrs(&mut slot, attrs);
                ext.edge_attrs.insert(k, slot.expect("non-empty merge"));
                locked.touch(o);
            }
            Ok(())
        })
    }

    /// Removes the edge.
    ///
    /// **Locking behaviour:** write-locks the endpoint shards, ascending.
    pub fn remove_edge(&self, s: NodeRef<'_>, t: NodeRef<'_>) -> Result<()> {
        self.with_endpoints(s, t, Self::edge_missing(s, t), |locked, si, ti| {
            if !locked.remove_edge_ix(si, ti) {
                return Err(Self::edge_missing(s, t)(s));
            }
            self.n_edges.fetch_sub(1, Ordering::Relaxed);
            Ok(())
        })
    }

    /// Removes a node and its edges.
    ///
    /// **Locking behaviour:** write-locks the node's shard and its neighbours'
    /// shards, ascending (all shards for a node with neighbours everywhere).
    pub fn remove_node(&self, id: NodeRef<'_>) -> Result<()> {
        loop {
            let (ix, shards) = self.with_node(id, |ix, rec| {
                (
                    ix,
                    rec.adj.all().map(|n| self.shard_of(n)).collect::<Vec<_>>(),
                )
            })?;
            let mut want = shards;
            want.push(self.shard_of(ix));
            let mut locked = self.lock_set(want);
            let Some(live) = locked.live(id) else {
                if self.resolve(id).is_some() {
                    continue; // added again meanwhile, in a shard not locked here
                }
                return Err(GraphError::NodeNotFound(id.to_owned_id()));
            };
            let rec = locked.rec_ref(live).expect("live");
            let complete = rec.adj.all().all(|n| {
                let s = self.shard_of(n);
                locked.guards.iter().any(|(i, _)| *i == s)
            });
            if live != ix || !complete {
                continue; // it gained neighbours in other shards: lock those too
            }
            locked.remove_node_ix(ix);
            drop(locked);
            self.compact_if_sparse();
            return Ok(());
        }
    }

    /// Renumbers the live nodes when they fill less than 1/64 of a large
    /// index range and are few enough (with their edges) for the pause to
    /// be short: add + remove churn then keeps whole-graph reads, cached
    /// columns and the per-row bookkeeping sized by the live nodes. Larger
    /// graphs renumber only when the range runs out (`alloc`).
    ///
    /// **Locking behaviour:** write-locks every shard when it compacts.
    fn compact_if_sparse(&self) {
        let sparse = || {
            let (next, live) = (self.next_ix.load(Ordering::Relaxed), self.node_count());
            next >= SPARSE_SPAN
                && (live as u64).saturating_mul(64) < next
                && live + self.edge_count() <= SPARSE_ITEMS
        };
        if sparse() {
            let mut locked = self.lock_all();
            if sparse() {
                self.compact_locked(&mut locked);
            }
        }
    }

    /// Removes every node and edge. Insertion order restarts.
    ///
    /// **Locking behaviour:** write-locks every shard.
    pub fn clear(&self) {
        let mut locked = self.lock_all();
        // Indices restart at 0, in a new epoch (set last, below).
        self.next_ix.store(0, Ordering::Relaxed);
        let base = 0;
        // The key maps hold exactly the live nodes' ids. With few nodes in a
        // large dense id table (a graph cleared and refilled), clear the
        // entries of those ids, read from the records; otherwise sweep the
        // table (4 bytes an entry, where a record read is a cache line).
        let by_ids = (self.node_count() as u64).saturating_mul(16) < self.ints.dense_limit();
        let mut ids = Vec::new();
        // A snapshot may still hold the old data: start from fresh shards.
        locked.replace_shards(|old| {
            if by_ids {
                ids.extend(old.slots.iter().flatten().filter_map(|r| match r.key {
                    NodeId::Int(i) => Some(i),
                    NodeId::Str(_) => None,
                }));
            }
            Shard {
                slots: Slots::default(),
                base,
                version: old.version + 1,
            }
        });
        self.announce_removal();
        self.ints.clear(by_ids.then_some(&ids[..]));
        locked.retired.str_keys = Some(self.strs.take());
        locked.retired.columns = Some(self.columns.take());
        self.n_nodes.store(0, Ordering::Relaxed);
        self.n_edges.store(0, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    // ---------------------------------------------------------------- batches

    /// Adds (or merges into) every node of `items`, all under one lock of every
    /// shard: readers see all of them or none. Returns `items.len()`.
    ///
    /// **Locking behaviour:** write-locks every shard for the duration.
    pub fn batch_add_nodes(&self, items: Vec<(NodeId, Attrs<O>)>) -> Result<usize> {
        let n = items.len();
        if n == 0 {
            return Ok(0);
        }
        let mut locked = self.lock_all();
        self.add_nodes_all_locked(&mut locked, items)?;
        Ok(n)
    }

    /// [`Graph::batch_add_nodes`] under the caller's lock of every shard;
    /// returns how many nodes it created (the others merged).
    fn add_nodes_all_locked(
        &self,
        locked: &mut Locked<'_, O>,
        items: Vec<(NodeId, Attrs<O>)>,
    ) -> Result<usize> {
        debug_assert!(locked.all, "every shard locked");
        let n = items.len();
        // An index per item, or, when that many are not left, one per node
        // the batch creates (the rest merge into nodes or into each other).
        let (start, reserved) = match self.alloc(n) {
            Ok(start) => (start, n),
            Err(_) => {
                let creations = self.creations(&items);
                (self.alloc_locked(locked, creations)?, creations)
            }
        };
        let mut recs = locked.records();
        let bits = self.bits;
        let end = start as usize + reserved;
        // The slots shard `s` needs for every index this batch may use, so
        // that its first creation there sizes it once.
        let wanted = |s: usize, shard: &Shard<O>| {
            let last = (end.saturating_sub(1 + s) >> bits) + 1;
            last.saturating_sub(shard.base as usize)
        };
        let mut next = start;
        let mut created = 0usize;
        // The key maps the batch uses, locked once for it (graph shards
        // first, as everywhere): no lock per insertion, tables grown once.
        let int_ids = items.iter().filter_map(|(id, _)| match id {
            NodeId::Int(i) => Some(*i),
            NodeId::Str(_) => None,
        });
        let n_ints = int_ids.clone().count();
        let n_strs = n - n_ints;
        let mut ints = (n_ints > 0).then(|| self.ints.writer(int_ids));
        let mut strs = (n_strs > 0).then(|| self.strs.writer(n_strs));
        let mut items = items.into_iter();
        while let Some((id, attrs)) = items.next() {
            // Hashed keys land at random in a large table: start fetching
            // the slots of the keys a few items ahead.
            match (items.as_slice().get(PREFETCH_AHEAD), &ints, &strs) {
                (Some((NodeId::Int(i), _)), Some(ints), _) => ints.prefetch(*i),
                (Some((NodeId::Str(s), _)), _, Some(strs)) => strs.prefetch(&StrQuery::new(s)),
                _ => {}
            }
            let inserted = match &id {
                NodeId::Int(i) => ints.as_mut().expect("counted").insert_if_absent(*i, next),
                NodeId::Str(s) => strs
                    .as_mut()
                    .expect("counted")
                    .insert_if_absent(StrKey::new(s), next),
            };
            match inserted {
                Ok(()) => {
                    let s = self.shard_of(next);
                    let shard = recs.shard_mut(s);
                    let room = wanted(s, shard);
                    shard.slots.reserve_to(room);
                    let stored = shard.put(next, bits, NodeRec::new(id, attrs));
                    debug_assert!(stored.is_ok(), "fresh index already taken");
                    next += 1;
                    created += 1;
                }
                Err(ix) => {
                    let rec = recs.write(ix);
                    merge_shared(&mut rec.attrs, attrs);
                }
            }
        }
        // Only the shards written get a new version (when `recs` drops): a
        // small batch leaves the others' cached columns (traversal CSRs,
        // `where` and id columns) valid.
        drop(recs);
        // Hand back the unused tail when no one allocated after us.
        let _ = self.next_ix.compare_exchange(
            end as u64,
            next as u64,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        locked.nodes += created as isize;
        Ok(created)
    }

    /// How many nodes `items` would create: ids not live (looked up under
    /// every shard lock, so current) and not earlier in `items`.
    fn creations(&self, items: &[(NodeId, Attrs<O>)]) -> usize {
        let mut seen = HashSet::new();
        items
            .iter()
            .filter(|(id, _)| self.resolve(id.as_ref()).is_none() && seen.insert(id))
            .count()
    }

    /// Loads `img` into this graph, which must be empty (checked under every
    /// shard lock, held to the end: racing restores or writers cannot
    /// interleave with it; pickle / copy build a fresh graph anyway). The image is
    /// checked first (adjacency symmetric, no duplicate edge or node, edge
    /// attributes on existing edges): a corrupt one changes nothing.
    pub fn restore(&self, img: super::state::Image<O>, cancel: &Cancel<'_>) -> Result<()> {
        use super::state::Image;
        let invalid = |what: &str| GraphError::InvalidValue(format!("corrupt graph state: {what}"));
        if img.directed != self.directed {
            return Err(invalid("directedness differs from the target graph"));
        }
        let Image {
            nodes,
            adj,
            edge_attrs,
            ..
        } = img;
        // Every edge once as (s, t) from the out-lists; its mirror from the
        // in-lists (directed) or the other endpoint's list (undirected).
        let mut fwd: Vec<u64> = Vec::new();
        let mut back: Vec<u64> = Vec::new();
        for (p, (out, inn)) in adj.iter().enumerate() {
            if p % CHECK_EVERY == 0 {
                cancel.check()?;
            }
            let p = p as u64;
            for &t in out {
                if self.directed || t as u64 >= p {
                    fwd.push(p << 32 | t as u64);
                }
                if !self.directed && (t as u64) <= p {
                    back.push((t as u64) << 32 | p);
                }
            }
            for &s in inn {
                back.push((s as u64) << 32 | p);
            }
        }
        fwd.sort_unstable();
        cancel.check()?;
        back.sort_unstable();
        cancel.check()?;
        if fwd != back {
            return Err(invalid("adjacency lists do not mirror each other"));
        }
        if fwd.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("duplicate edge"));
        }
        for &(s, t, _) in &edge_attrs {
            let (a, b) = owner(self.directed, s, t);
            if fwd.binary_search(&((a as u64) << 32 | b as u64)).is_err() {
                return Err(invalid("attributes for an edge that does not exist"));
            }
        }
        let mut distinct: FastSet<&NodeId> = FastSet::default();
        distinct.reserve(nodes.len());
        if !nodes.iter().all(|(k, _)| distinct.insert(k)) {
            return Err(invalid("duplicate node id"));
        }
        drop(distinct);
        // The last poll: none under the locks below (see `Graph::with_view`).
        cancel.check()?;
        let nodes = nodes.into_iter().map(|(k, a)| (k, attrs_from(a))).collect();
        let adj = adj.iter().map(|(o, i)| (&o[..], &i[..]));
        let edge_attrs = edge_attrs
            .into_iter()
            .map(|(s, t, a)| (s, t, SharedAttrs::new(a)));
        self.fill_empty(nodes, adj, edge_attrs, fwd.len())
    }

    /// Fills this graph, which must be empty, with `nodes` (in this order,
    /// distinct), each one's neighbour lists by position in `nodes` (out-
    /// and in-neighbours; undirected: all neighbours, a self-loop once, and
    /// no in-list), written as given, so that every list keeps its order,
    /// the attributes of `edges` edges, by the positions of their ends.
    /// The caller vouches that the lists mirror each other.
    ///
    /// **Locking behaviour:** write-locks every shard, from the emptiness
    /// check to the last list, so nothing interleaves with it.
    fn fill_empty<'a>(
        &self,
        nodes: Vec<(NodeId, Attrs<O>)>,
        adj: impl Iterator<Item = (&'a [u32], &'a [u32])>,
        edge_attrs: impl Iterator<Item = (u32, u32, SharedAttrs<O>)>,
        edges: usize,
    ) -> Result<()> {
        let keys: Vec<NodeId> = nodes.iter().map(|(k, _)| k.clone()).collect();
        let mut locked = self.lock_all();
        if self.node_count() != 0 {
            return Err(GraphError::InvalidValue(
                "restore needs an empty graph".into(),
            ));
        }
        self.add_nodes_all_locked(&mut locked, nodes)?;
        // Under every shard lock the key maps are exact.
        let ixs: Vec<Ix> = keys
            .iter()
            .map(|k| self.resolve(k.as_ref()).expect("just added"))
            .collect();
        let mut outs = Vec::new();
        let mut ins = Vec::new();
        for (p, (out, inn)) in adj.enumerate() {
            outs.clear();
            ins.clear();
            outs.extend(out.iter().map(|&q| ixs[q as usize]));
            ins.extend(inn.iter().map(|&q| ixs[q as usize]));
            locked
                .rec(ixs[p])
                .expect("restored node")
                .extend_adj(&outs, &ins);
        }
        for (s, t, a) in edge_attrs {
            let (o, k) = locked.owner(ixs[s as usize], ixs[t as usize]);
            locked
                .rec(o)
                .expect("restored node")
                .ext_mut()
                .edge_attrs
                .insert(k, a);
        }
        for (_, guard) in locked.guards.iter_mut() {
            make_mut(guard).version += 1;
        }
        locked.edges += edges as isize;
        Ok(())
    }

    /// Adds every edge of `edges` or none: a missing endpoint (resolution is the
    /// caller's), an existing edge or a duplicate within the batch fails the
    /// whole batch and leaves the graph as it was.
    ///
    /// **Locking behaviour:** write-locks every shard for the duration.
    pub fn batch_add_edges(
        &self,
        edges: ResolvedEdges<O>,
    ) -> std::result::Result<usize, EdgeBatchError<O>> {
        if edges.pairs.is_empty() {
            return Ok(0);
        }
        let mut locked = self.lock_all();
        if !self.same_epoch(edges.epoch) {
            return Err(EdgeBatchError::Stale(edges)); // renumbered since the lookups
        }
        let (lo, span, bulk) = edge_span(&edges.pairs);
        // Every endpoint still live, checked before any change (see
        // `ResolvedEdges`). In bulk each endpoint once, in index order: a
        // record read per node that streams through the shards, not a cache
        // miss per endpoint.
        let all_live = if bulk {
            let mut used = vec![false; span];
            for &(s, t) in &edges.pairs {
                used[(s - lo) as usize] = true;
                used[(t - lo) as usize] = true;
            }
            (0..span).all(|i| !used[i] || locked.rec_ref(lo + i as Ix).is_some())
        } else {
            edges
                .pairs
                .iter()
                .all(|&(s, t)| locked.rec_ref(s).is_some() && locked.rec_ref(t).is_some())
        };
        if !all_live {
            return Err(EdgeBatchError::Stale(edges));
        }
        let ResolvedEdges { pairs, attrs, .. } = edges;
        self.commit_edges(&mut locked, pairs, attrs, (lo, span, bulk))
            .map_err(EdgeBatchError::Graph)
    }

    /// [`Graph::batch_add_edges`] for endpoints given by id (two per edge,
    /// in item order), resolved under every shard lock, where no endpoint
    /// can be removed meanwhile (the key maps are leaves, and agree with the
    /// records under the shard locks): for a batch that concurrent removals
    /// kept making stale. The first error in item order is returned: a
    /// missing endpoint, or an earlier edge that exists or repeats.
    ///
    /// **Locking behaviour:** write-locks every shard for the duration.
    pub fn batch_add_edges_by_id(
        &self,
        ids: &[NodeId],
        attrs: Vec<(usize, AttrMap<O>)>,
    ) -> Result<usize> {
        let mut locked = self.lock_all();
        let mut pairs = Vec::with_capacity(ids.len() / 2);
        for ends in ids.chunks_exact(2) {
            let live = |id: &NodeId| {
                self.resolve(id.as_ref())
                    .filter(|&ix| locked.rec_ref(ix).is_some())
            };
            match (live(&ends[0]), live(&ends[1])) {
                (Some(s), Some(t)) => pairs.push((s, t)),
                (s, _) => {
                    let missing = if s.is_none() { &ends[0] } else { &ends[1] };
                    let recs = locked.records();
                    let earlier = first_existing_or_repeated(self.directed, &pairs, |s, t| {
                        recs.get(s).is_some_and(|r| r.has_out(t))
                    });
                    drop(recs);
                    return Err(match earlier {
                        Some((s, t)) => {
                            GraphError::EdgeExists(locked.node_err(s), locked.node_err(t))
                        }
                        None => GraphError::NodeNotFound(missing.clone()),
                    });
                }
            }
        }
        if pairs.is_empty() {
            return Ok(0);
        }
        let span = edge_span(&pairs);
        self.commit_edges(&mut locked, pairs, attrs, span)
    }

    /// Adds `pairs` (every endpoint live) under every shard lock, or none.
    fn commit_edges(
        &self,
        locked: &mut Locked<'_, O>,
        pairs: Vec<(Ix, Ix)>,
        attrs: Vec<(usize, AttrMap<O>)>,
        (lo, span, bulk): (Ix, usize, bool),
    ) -> Result<usize> {
        if bulk {
            bulk_add_edges(locked, &pairs, attrs, lo, span)?;
        } else {
            let mut attrs = attrs.into_iter().peekable();
            let mut recs = locked.records();
            let mut dup = None;
            for (k, &(s, t)) in pairs.iter().enumerate() {
                if recs.get(s).is_some_and(|r| r.has_out(t)) {
                    dup = Some(k);
                    break;
                }
                let a = match attrs.peek() {
                    Some((pos, _)) if *pos == k => attrs_from(attrs.next().expect("peeked").1),
                    _ => None,
                };
                link(&mut recs, self.directed, s, t, a);
            }
            drop(recs);
            if let Some(k) = dup {
                let (s, t) = pairs[k];
                let err = GraphError::EdgeExists(locked.node_err(s), locked.node_err(t));
                // Undo in reverse: each undo removes the most recent insertion.
                for &(s2, t2) in pairs[..k].iter().rev() {
                    locked.remove_edge_ix(s2, t2);
                }
                return Err(err);
            }
        }
        self.n_edges.fetch_add(pairs.len(), Ordering::Relaxed);
        Ok(pairs.len())
    }

    /// Applies `ops` in order, atomically: all of them or, on the first invalid
    /// one, none (its error is returned).
    ///
    /// **Locking behaviour:** write-locks every shard for the duration.
    pub fn apply(&self, ops: Vec<super::Op<O>>) -> Result<()> {
        let removes = ops.iter().any(|op| matches!(op, super::Op::RemoveNode(_)));
        self.apply_all_locked(ops)?;
        if removes {
            self.compact_if_sparse(); // as `remove_node` does
        }
        Ok(())
    }

    /// The first failure of `ops` as [`Graph::apply`] would meet it, with
    /// nothing applied: for a batch its caller knows fails at a later
    /// operation, one the engine cannot be handed (it names an id no node
    /// can have), so that an earlier failure is the one reported.
    ///
    /// **Locking behaviour:** read-locks every shard for the check.
    pub fn check_ops(&self, ops: &[super::Op<O>]) -> Result<()> {
        self.with_view(|view| {
            let live = |id: NodeRef<'_>| self.ix_in_locked(view, id).ok();
            super::batch::validate(
                self.directed,
                ops,
                |id| live(id).is_some(),
                |s, t| match (live(s), live(t)) {
                    (Some(a), Some(b)) => view.rec(a).is_some_and(|r| r.has_out(b)),
                    _ => false,
                },
            )
        })
        .map(|_created| ())
    }

    fn apply_all_locked(&self, ops: Vec<super::Op<O>>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut locked = self.lock_all();
        let created = super::batch::validate(
            self.directed,
            &ops,
            |id| locked.live(id).is_some(),
            |s, t| match (locked.live(s), locked.live(t)) {
                (Some(a), Some(b)) => locked.has_edge_ix(a, b),
                _ => false,
            },
        )?;
        // Every index the batch will use, reserved now: running out fails here,
        // before any change.
        let mut fresh = self.alloc_locked(&mut locked, created)?;
        for op in ops {
            use super::Op::*;
            match op {
                AddNode(id, attrs) => {
                    locked.add_node_all_locked(id, attrs, &mut fresh);
                }
                UpdateNode(id, attrs) => {
                    let ix = locked.live(id.as_ref()).expect("validated");
                    merge_attrs(&mut locked.rec(ix).expect("live").attrs, attrs);
                    locked.touch(ix);
                }
                RemoveNode(id) => {
                    let ix = locked.live(id.as_ref()).expect("validated");
                    locked.remove_node_ix(ix);
                }
                AddEdge(s, t, attrs) => {
                    let (a, b) = (locked.live(s.as_ref()), locked.live(t.as_ref()));
                    locked.insert_edge(
                        a.expect("validated"),
                        b.expect("validated"),
                        attrs_from(attrs),
                    );
                    locked.edges += 1;
                }
                UpdateEdge(s, t, attrs) => {
                    let (a, b) = (locked.live(s.as_ref()), locked.live(t.as_ref()));
                    let (o, k) = locked.owner(a.expect("validated"), b.expect("validated"));
                    if !attrs.is_empty() {
                        let ext = locked.rec(o).expect("live").ext_mut();
                        let mut slot = ext.edge_attrs.remove(&k);
                        merge_attrs(&mut slot, attrs);
                        ext.edge_attrs.insert(k, slot.expect("non-empty merge"));
                        locked.touch(o);
                    }
                }
                RemoveEdge(s, t) => {
                    let (a, b) = (locked.live(s.as_ref()), locked.live(t.as_ref()));
                    let removed =
                        locked.remove_edge_ix(a.expect("validated"), b.expect("validated"));
                    debug_assert!(removed);
                    locked.edges -= 1;
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ reads

    /// `id` is a live node.
    ///
    /// **Locking behaviour:** reads a key map only, unless a batch holds
    /// every shard meanwhile: then it waits on the node's shard (read), so
    /// that it never sees part of a batch (see `membership`).
    pub fn contains(&self, id: NodeRef<'_>) -> bool {
        self.resolve_stable(id).is_some()
    }

    /// The node's attributes (shared, immutable).
    ///
    /// **Locking behaviour:** read-locks the node's one shard.
    pub fn node_attrs(&self, id: NodeRef<'_>) -> Result<Attrs<O>> {
        self.with_node(id, |_, rec| rec.attrs.clone())
    }

    /// Attributes of many nodes, read under one consistent lock of every shard.
    /// Fails on the first missing id.
    pub fn nodes_attrs(&self, ids: &[NodeRef<'_>]) -> Result<Vec<Attrs<O>>> {
        let guard = self.read_all();
        let all = guard.view();
        // Under every shard's read lock the key maps are current: a found
        // index is a live record.
        let attrs_at = |ix: Option<Ix>, id: NodeRef<'_>| {
            ix.and_then(|ix| all.rec(ix))
                .filter(|r| holds(r, id))
                .map(|r| r.attrs.clone())
                .ok_or_else(|| GraphError::NodeNotFound(id.to_owned_id()))
        };
        if ids.len() < NODES_ATTRS_BULK {
            return ids
                .iter()
                .map(|&id| attrs_at(self.resolve(id), id))
                .collect();
        }
        // Many ids, usually at random over a graph larger than the cache:
        // every lookup first (their cache misses overlap under one read
        // lock per key-map shard), then the records and their attribute
        // maps, each fetched a few ids ahead.
        let mut found = Vec::with_capacity(ids.len());
        self.resolve_many(ids, &mut found);
        let ahead = |k: usize| found.get(k).copied().flatten();
        let mut out = Vec::with_capacity(ids.len());
        for (k, (&ix, &id)) in found.iter().zip(ids).enumerate() {
            if let Some(ix) = ahead(k + 2 * PREFETCH_AHEAD) {
                all.prefetch_rec(ix);
            }
            if let Some(ix) = ahead(k + PREFETCH_AHEAD) {
                all.prefetch_attrs(ix);
            }
            out.push(attrs_at(ix, id)?);
        }
        Ok(out)
    }

    /// `s -> t` is an edge (never fails: a missing endpoint means no edge).
    ///
    /// **Locking behaviour:** read-locks the source's shard.
    pub fn has_edge(&self, s: NodeRef<'_>, t: NodeRef<'_>) -> bool {
        // `t` is looked up under `s`'s lock, where no batch is part-way.
        self.with_node(s, |_, rec| {
            self.resolve(t).is_some_and(|ti| rec.has_out(ti))
        })
        .unwrap_or(false)
    }

    /// The edge's attributes.
    ///
    /// **Locking behaviour:** read-locks every shard (briefly).
    pub fn edge_attrs(&self, s: NodeRef<'_>, t: NodeRef<'_>) -> Result<Attrs<O>> {
        let guard = self.read_all();
        let all = guard.view();
        let live = |id: NodeRef<'_>| {
            self.resolve(id)
                .filter(|&ix| all.rec(ix).is_some_and(|r| holds(r, id)))
        };
        if let (Some(a), Some(b)) = (live(s), live(t)) {
            if all.rec(a).is_some_and(|r| r.has_out(b)) {
                let (o, k) = if self.directed || a <= b {
                    (a, b)
                } else {
                    (b, a)
                };
                return Ok(all.rec(o).and_then(|r| r.edge_attrs(k)).cloned());
            }
        }
        Err(GraphError::EdgeNotFound(s.to_owned_id(), t.to_owned_id()))
    }

    /// Every node id (and attributes) in insertion order, from one consistent
    /// lock of every shard.
    pub fn nodes(&self) -> Vec<(NodeId, Attrs<O>)> {
        let guard = self.read_all();
        let all = guard.view();
        let mut out = Vec::with_capacity(self.node_count());
        out.extend(all.iter().map(|(_, r)| (r.key.clone(), r.attrs.clone())));
        out
    }

    /// Every node id in insertion order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let guard = self.read_all();
        let all = guard.view();
        let mut out = Vec::with_capacity(self.node_count());
        out.extend(all.iter().map(|(_, r)| r.key.clone()));
        out
    }

    /// Every edge, in NetworkX's order: by source in node order, then by edge
    /// insertion; undirected edges once, from their earlier endpoint.
    pub fn edges(&self, with_attrs: bool) -> Vec<EdgeRecord<O>> {
        let guard = self.read_all();
        let all = guard.view();
        let mut out = Vec::with_capacity(self.edge_count());
        for (ix, rec) in all.iter() {
            for &t in rec.out() {
                if !self.directed && t < ix {
                    continue;
                }
                let target = all.rec(t).expect("live neighbour");
                let attrs = if with_attrs {
                    rec.edge_attrs(t).cloned()
                } else {
                    None
                };
                out.push(EdgeRecord {
                    source: rec.key.clone(),
                    target: target.key.clone(),
                    attrs,
                });
            }
        }
        out
    }

    /// Neighbour ids of `id` as selected by `pick` (out, in, or all).
    fn neighbour_ids(&self, id: NodeRef<'_>, pick: Side) -> Result<Vec<NodeId>> {
        let guard = self.read_all();
        let all = guard.view();
        let rec = self
            .resolve(id)
            .and_then(|ix| all.rec(ix))
            .filter(|r| holds(r, id))
            .ok_or_else(|| GraphError::NodeNotFound(id.to_owned_id()))?;
        let list = match (pick, self.directed) {
            (Side::In, true) => rec.inn(),
            _ => rec.out(),
        };
        Ok(list
            .iter()
            .map(|&n| all.rec(n).expect("live neighbour").key.clone())
            .collect())
    }

    /// Successors (directed) or neighbours (undirected), in edge insertion order.
    pub fn successors(&self, id: NodeRef<'_>) -> Result<Vec<NodeId>> {
        self.neighbour_ids(id, Side::Out)
    }

    /// Predecessors (directed) or neighbours (undirected), in edge insertion order.
    pub fn predecessors(&self, id: NodeRef<'_>) -> Result<Vec<NodeId>> {
        self.neighbour_ids(id, Side::In)
    }

    /// `(in_degree, out_degree)`; undirected: both equal the degree, where a
    /// self-loop counts twice (as NetworkX).
    ///
    /// **Locking behaviour:** read-locks the node's one shard.
    pub fn degrees(&self, id: NodeRef<'_>) -> Result<(usize, usize)> {
        self.with_node(id, |ix, rec| {
            if self.directed {
                (rec.inn().len(), rec.out().len())
            } else {
                // A self-loop is one neighbour entry but two edge ends.
                let d = rec.adj.len() + rec.has_out(ix) as usize;
                (d, d)
            }
        })
    }
}

#[derive(Clone, Copy)]
enum Side {
    Out,
    In,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::{intern, Value};

    type G = Graph<()>;

    fn ids(g: &G) -> Vec<NodeId> {
        g.node_ids()
    }

    fn attrs(pairs: &[(&str, i64)]) -> AttrMap<()> {
        let mut m = AttrMap::new();
        for (k, v) in pairs {
            m.insert(intern(k), Value::Int(*v));
        }
        m
    }

    fn n(s: &str) -> NodeRef<'_> {
        NodeRef::Str(s)
    }

    #[test]
    fn making_keys_stops_when_interrupted_but_not_over_budget() {
        let g = G::with_shards(true, 4);
        for i in 0..10_000 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let ixs: Vec<Ix> = view.ixs().collect();
        let flag = crate::sync::AtomicBool::new(false);
        let live = Cancel::new(&flag, None);
        // A search's first attempt gives up at its first check; the keys of
        // a result it finished are made whatever that budget.
        assert_eq!(view.keys(&ixs, &live.giving_up()).unwrap().len(), 10_000);
        live.cancel();
        assert!(matches!(
            view.keys(&ixs, &live),
            Err(GraphError::Interrupted)
        ));
        let items: Vec<(Ix, u8)> = ixs.iter().map(|&ix| (ix, 0)).collect();
        assert!(matches!(
            view.keyed(&items, &live),
            Err(GraphError::Interrupted)
        ));
        // Short results never check.
        assert_eq!(view.keys(&ixs[..100], &live).unwrap().len(), 100);
    }

    #[test]
    fn insertion_order_survives_removal() {
        let g = G::with_shards(true, 4);
        for i in 0..10 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        g.remove_node(NodeRef::Int(3)).unwrap();
        g.add_node(NodeRef::Int(3), AttrMap::new()).unwrap();
        let want: Vec<NodeId> = [0, 1, 2, 4, 5, 6, 7, 8, 9, 3].map(NodeId::Int).to_vec();
        assert_eq!(ids(&g), want);
        assert_eq!(g.node_count(), 10);
    }

    #[test]
    fn resolve_many_equals_resolving_one_by_one() {
        let g = G::with_shards(true, 4);
        let texts: Vec<String> = (0..300).map(|i| format!("node-{i}")).collect();
        for i in 0..300 {
            g.add_node(NodeRef::Int(i * 3), AttrMap::new()).unwrap();
            g.add_node(NodeRef::Str(texts[i as usize].as_str()), AttrMap::new())
                .unwrap();
        }
        g.remove_node(NodeRef::Int(30)).unwrap();
        g.remove_node(n("node-7")).unwrap();
        // Present, absent, removed, int/str look-alikes, in a mixed order.
        let mut queries: Vec<NodeRef<'_>> = Vec::new();
        for i in 0..400i64 {
            queries.push(NodeRef::Int(i));
            queries.push(NodeRef::Int(-i));
        }
        for t in &texts {
            queries.push(n(t));
        }
        queries.extend([n("3"), n(""), n("node-7"), n("node-300")]);
        let mut got = vec![Some(99)]; // cleared by the call
        g.resolve_many(&queries, &mut got);
        let want: Vec<Option<Ix>> = queries.iter().map(|&q| g.resolve(q)).collect();
        assert_eq!(got, want);
        // Ints 0..400 that are multiples of 3 but not 30 (133), 0 again as
        // -0 (1), every text but node-7 (299).
        assert_eq!(got.iter().flatten().count(), 133 + 1 + 299);
    }

    #[test]
    fn int_and_str_ids_differ() {
        let g = G::new(true);
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        assert!(g.contains(NodeRef::Int(1)));
        assert!(!g.contains(n("1")));
    }

    #[test]
    fn edges_and_errors() {
        let g = G::with_shards(true, 4);
        for k in ["a", "b", "c"] {
            g.add_node(NodeRef::Str(k), AttrMap::new()).unwrap();
        }
        g.add_edge(n("a"), n("b"), attrs(&[("w", 2)])).unwrap();
        g.add_edge(n("b"), n("c"), AttrMap::new()).unwrap();
        assert_eq!(
            g.add_edge(n("a"), n("b"), AttrMap::new()),
            Err(GraphError::EdgeExists("a".into(), "b".into()))
        );
        assert_eq!(
            g.add_edge(n("a"), n("zed"), AttrMap::new()),
            Err(GraphError::NodeNotFound("zed".into()))
        );
        assert_eq!(g.edge_count(), 2);
        assert!(g.has_edge(n("a"), n("b")) && !g.has_edge(n("b"), n("a")));
        let a = g.edge_attrs(n("a"), n("b")).unwrap().unwrap();
        assert_eq!(a.get(intern("w")), Some(&Value::Int(2)));
        g.remove_node(n("b")).unwrap();
        assert_eq!(g.edge_count(), 0);
        assert_eq!(g.successors(n("a")).unwrap(), vec![]);
        assert_eq!(
            g.remove_edge(n("a"), n("b")),
            Err(GraphError::EdgeNotFound("a".into(), "b".into()))
        );
    }

    #[test]
    fn undirected_pairs_are_unordered() {
        let g = G::with_shards(false, 4);
        for i in 0..3 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        g.add_edge(NodeRef::Int(2), NodeRef::Int(0), attrs(&[("w", 1)]))
            .unwrap();
        assert!(g
            .add_edge(NodeRef::Int(0), NodeRef::Int(2), AttrMap::new())
            .is_err());
        g.add_edge(NodeRef::Int(1), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        assert_eq!(g.degrees(NodeRef::Int(1)).unwrap(), (2, 2));
        assert!(g
            .edge_attrs(NodeRef::Int(0), NodeRef::Int(2))
            .unwrap()
            .is_some());
        let e: Vec<_> = g
            .edges(false)
            .into_iter()
            .map(|e| (e.source, e.target))
            .collect();
        assert_eq!(
            e,
            vec![
                (NodeId::Int(0), NodeId::Int(2)),
                (NodeId::Int(1), NodeId::Int(1))
            ]
        );
        g.remove_node(NodeRef::Int(0)).unwrap();
        assert_eq!(g.edge_count(), 1);
        assert_eq!(g.successors(NodeRef::Int(2)).unwrap(), vec![]);
    }

    #[test]
    fn hub_index_tracks_edges() {
        let g = G::with_shards(true, 4);
        for i in 0..100 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        for i in 1..100 {
            g.add_edge(NodeRef::Int(0), NodeRef::Int(i), AttrMap::new())
                .unwrap();
        }
        assert!(g
            .add_edge(NodeRef::Int(0), NodeRef::Int(50), AttrMap::new())
            .is_err());
        g.remove_edge(NodeRef::Int(0), NodeRef::Int(50)).unwrap();
        assert!(!g.has_edge(NodeRef::Int(0), NodeRef::Int(50)));
        g.add_edge(NodeRef::Int(0), NodeRef::Int(50), AttrMap::new())
            .unwrap();
        assert_eq!(g.degrees(NodeRef::Int(0)).unwrap(), (0, 99));
    }

    #[test]
    fn edge_batch_is_all_or_nothing() {
        let g = G::with_shards(true, 4);
        g.batch_add_nodes((0..5).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        g.add_edge(NodeRef::Int(3), NodeRef::Int(4), AttrMap::new())
            .unwrap();
        let resolve = |pairs: &[(i64, i64)]| ResolvedEdges::<()> {
            pairs: pairs
                .iter()
                .map(|&(s, t)| {
                    (
                        g.resolve(NodeRef::Int(s)).unwrap(),
                        g.resolve(NodeRef::Int(t)).unwrap(),
                    )
                })
                .collect(),
            attrs: vec![],
            epoch: 0,
        };
        let bad = resolve(&[(0, 1), (1, 2), (0, 1)]);
        assert!(matches!(
            g.batch_add_edges(bad),
            Err(EdgeBatchError::Graph(_))
        ));
        assert_eq!(g.edge_count(), 1);
        assert_eq!(g.successors(NodeRef::Int(0)).unwrap(), vec![]);
        assert_eq!(g.predecessors(NodeRef::Int(1)).unwrap(), vec![]);
        // An unrelated removal leaves the resolved endpoints valid ...
        let fine = resolve(&[(0, 1)]);
        g.remove_node(NodeRef::Int(2)).unwrap();
        assert_eq!(g.batch_add_edges(fine).unwrap(), 1);
        g.remove_edge(NodeRef::Int(0), NodeRef::Int(1)).unwrap();
        // ... the removal of an endpoint makes the batch stale, even with the
        // node back (at another index): the caller resolves it again.
        let stale = resolve(&[(0, 1)]);
        g.remove_node(NodeRef::Int(1)).unwrap();
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        assert!(matches!(
            g.batch_add_edges(stale),
            Err(EdgeBatchError::Stale(_))
        ));
        assert_eq!(
            g.batch_add_edges(resolve(&[(0, 1), (1, 0), (4, 3)]))
                .unwrap(),
            3
        );
        assert_eq!(g.edge_count(), 4);
    }

    /// The fallback of a batch that removals keep making stale: endpoints
    /// looked up under the locks; the first error in item order; nothing
    /// applied on an error; a large batch takes the bulk path.
    #[test]
    fn edge_batch_by_id_resolves_under_the_locks() {
        let g = G::with_shards(true, 4);
        g.batch_add_nodes((0..5).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        g.add_node(NodeRef::Str("a"), AttrMap::new()).unwrap();
        let ids = |pairs: &[(NodeId, NodeId)]| -> Vec<NodeId> {
            pairs
                .iter()
                .flat_map(|(s, t)| [s.clone(), t.clone()])
                .collect()
        };
        let (i, a) = (NodeId::Int, NodeId::Str(crate::engine::id::IdStr::new("a")));
        let ok = ids(&[(i(0), i(1)), (i(1), a.clone()), (a.clone(), i(0))]);
        assert_eq!(g.batch_add_edges_by_id(&ok, vec![]).unwrap(), 3);
        // A missing endpoint after a duplicate of the batch: the duplicate.
        let dup = ids(&[(i(2), i(3)), (i(2), i(3)), (i(4), i(9))]);
        assert!(matches!(
            g.batch_add_edges_by_id(&dup, vec![]),
            Err(GraphError::EdgeExists(..))
        ));
        // An existing edge after the missing one: the missing node.
        let missing = ids(&[(i(2), i(3)), (i(4), i(9)), (i(0), i(1))]);
        match g.batch_add_edges_by_id(&missing, vec![]) {
            Err(GraphError::NodeNotFound(id)) => assert_eq!(id, i(9)),
            other => panic!("{other:?}"),
        }
        // An existing edge met while applying: undone whole.
        let exists = ids(&[(i(3), i(4)), (i(0), i(1))]);
        assert!(matches!(
            g.batch_add_edges_by_id(&exists, vec![]),
            Err(GraphError::EdgeExists(..))
        ));
        assert_eq!(g.edge_count(), 3);
        assert!(!g.has_edge(NodeRef::Int(3), NodeRef::Int(4)));
        // Bulk: a ring over many nodes.
        let n = 4 * BULK_MIN_EDGES as i64;
        g.batch_add_nodes((5..n).map(|k| (NodeId::Int(k), None)).collect())
            .unwrap();
        let ring: Vec<NodeId> = (5..n)
            .flat_map(|k| [i(k), i(5 + (k - 4) % (n - 5))])
            .collect();
        assert_eq!(
            g.batch_add_edges_by_id(&ring, vec![]).unwrap(),
            (n - 5) as usize
        );
        assert_eq!(g.edge_count(), 3 + (n - 5) as usize);
    }

    /// A large directed batch (the bulk path, grouped by source and by
    /// target): the adjacency both ways is the batch's, in batch order, and a
    /// batch with a repeated edge or one the graph has changes nothing.
    #[test]
    fn a_bulk_batch_is_whole_or_nothing_both_ways() {
        let n = 4 * BULK_MIN_EDGES as i64;
        let g = G::with_shards(true, 8);
        g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        let ix = |k: i64| g.resolve(NodeRef::Int(k)).unwrap();
        // Four out-edges per node, to nodes spread over every shard (no
        // self-loop: 6i = -1001d has no solution modulo a power of two).
        let edges: Vec<(i64, i64)> = (0..n)
            .flat_map(|i| (1..=4).map(move |d| (i, (i * 7 + d * 1_001) % n)))
            .collect();
        let batch = |pairs: &[(i64, i64)]| ResolvedEdges::<()> {
            pairs: pairs.iter().map(|&(s, t)| (ix(s), ix(t))).collect(),
            attrs: vec![],
            epoch: 0,
        };
        let mut repeated = edges.clone();
        repeated.push(*edges.last().unwrap());
        assert!(matches!(
            g.batch_add_edges(batch(&repeated)),
            Err(EdgeBatchError::Graph(GraphError::EdgeExists(..)))
        ));
        assert_eq!(g.edge_count(), 0);
        assert_eq!(g.batch_add_edges(batch(&edges)).unwrap(), edges.len());
        assert_eq!(g.edge_count(), edges.len());
        let mut outs = vec![Vec::new(); n as usize];
        let mut ins = vec![Vec::new(); n as usize];
        for &(s, t) in &edges {
            outs[s as usize].push(NodeId::Int(t));
            ins[t as usize].push(NodeId::Int(s));
        }
        for k in (0..n).step_by(97) {
            assert_eq!(g.successors(NodeRef::Int(k)).unwrap(), outs[k as usize]);
            assert_eq!(g.predecessors(NodeRef::Int(k)).unwrap(), ins[k as usize]);
        }
        // A ring, then one edge the graph has: none of the ring is added.
        let again: Vec<(i64, i64)> = (0..n)
            .map(|i| (i, (i + 1) % n))
            .chain([edges[edges.len() / 2]])
            .collect();
        assert!(matches!(
            g.batch_add_edges(batch(&again)),
            Err(EdgeBatchError::Graph(GraphError::EdgeExists(..)))
        ));
        assert_eq!(g.edge_count(), edges.len());
        assert!(!g.has_edge(NodeRef::Int(0), NodeRef::Int(1)));
    }

    /// The bulk path (a large batch dense in index space) tells removed
    /// endpoints from unrelated removals the same way.
    #[test]
    fn bulk_edge_batch_is_stale_only_when_an_endpoint_went() {
        let n = 4 * BULK_MIN_EDGES as i64;
        let g = G::with_shards(true, 4);
        g.batch_add_nodes((0..n + 1).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        let ring = |g: &G| ResolvedEdges::<()> {
            pairs: (0..n)
                .map(|i| {
                    let ix = |k: i64| g.resolve(NodeRef::Int(k)).unwrap();
                    (ix(i), ix((i + 1) % n))
                })
                .collect(),
            attrs: vec![],
            epoch: 0,
        };
        let batch = ring(&g);
        g.remove_node(NodeRef::Int(n)).unwrap(); // not an endpoint
        assert_eq!(g.batch_add_edges(batch).unwrap(), n as usize);
        g.clear();
        g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        let batch = ring(&g);
        g.remove_node(NodeRef::Int(7)).unwrap();
        assert!(matches!(
            g.batch_add_edges(batch),
            Err(EdgeBatchError::Stale(_))
        ));
        assert_eq!(g.edge_count(), 0);
    }

    /// A small batch while a snapshot is alive copies only the shards it
    /// writes (it copied every shard, the whole graph, for one node), and the
    /// snapshot keeps its state.
    #[test]
    fn small_batches_copy_only_the_shards_they_write() {
        let g = G::with_shards(true, 16);
        g.batch_add_nodes((0..1000).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        for i in 0..999 {
            g.add_edge(NodeRef::Int(i), NodeRef::Int(i + 1), AttrMap::new())
                .unwrap();
        }
        let copied = |snap: &Snapshot<()>| {
            let shards = g.shards.iter().zip(&snap.shards);
            shards
                .filter(|(now, then)| !Arc::ptr_eq(&now.read(), then))
                .count()
        };
        let snap = g.snapshot();
        // One new node and one merged: two shards.
        g.batch_add_nodes(vec![(NodeId::Int(5000), None), (NodeId::Int(7), None)])
            .unwrap();
        assert_eq!(copied(&snap), 2);
        let snap = g.snapshot();
        let ix = |i: i64| g.resolve(NodeRef::Int(i)).unwrap();
        let one_edge = ResolvedEdges::<()> {
            pairs: vec![(ix(3), ix(900))],
            attrs: vec![],
            epoch: 0,
        };
        assert_eq!(g.batch_add_edges(one_edge).ok(), Some(1));
        assert_eq!(copied(&snap), 2);
        assert_eq!(snap.edge_count(), 999);
        let before: Vec<Ix> = snap
            .view()
            .iter()
            .find(|(i, _)| *i == ix(3))
            .unwrap()
            .1
            .out()
            .to_vec();
        assert_eq!(before, vec![ix(4)], "the snapshot keeps its adjacency");
        let snap = g.snapshot();
        g.apply(vec![crate::engine::Op::AddNode(
            NodeId::Int(6000),
            AttrMap::new(),
        )])
        .unwrap();
        assert_eq!(copied(&snap), 1);
        assert_eq!(snap.node_count(), 1001);
        assert_eq!(g.node_count(), 1002);
    }

    /// A write beside a live snapshot copies the chunk of records it
    /// changes, not the shard: the snapshot keeps the old records and shares
    /// every other chunk with the graph.
    #[test]
    fn a_write_beside_a_snapshot_copies_one_chunk_of_records() {
        use crate::engine::slots::CHUNK;
        let g = G::with_shards(true, 2);
        let n = 8 * CHUNK as i64;
        g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        let chunks = |g: &G| -> usize {
            let shards = g.shards.iter().map(|s| s.read().slots.len());
            shards.map(|len| len.div_ceil(CHUNK)).sum()
        };
        let total = chunks(&g);
        assert_eq!(total, 8);
        let shared = |snap: &Snapshot<()>| -> usize {
            let shards = g.shards.iter().zip(&snap.shards);
            shards
                .map(|(now, then)| now.read().slots.shared_chunks(&then.slots))
                .sum()
        };
        let snap = g.snapshot();
        g.add_edge(NodeRef::Int(2), NodeRef::Int(3), AttrMap::new())
            .unwrap();
        assert_eq!(
            shared(&snap),
            total - 2,
            "the source's and the target's chunk"
        );
        g.update_node(NodeRef::Int(n - 2), attrs(&[("x", 1)]))
            .unwrap();
        g.remove_node(NodeRef::Int(n - 4)).unwrap();
        assert_eq!(
            shared(&snap),
            total - 3,
            "one more chunk: both nodes sit in it"
        );
        assert!(
            snap.view().out(2).is_empty(),
            "the snapshot keeps its records"
        );
        assert!(snap
            .attrs(g.resolve(NodeRef::Int(n - 2)).unwrap())
            .is_none());
        assert_eq!(snap.view().ixs().count(), n as usize);
        drop(snap);
        let snap = g.snapshot();
        assert_eq!(shared(&snap), total, "nothing copied without a write");
    }

    /// The bulk merge and the one-by-one path build identical graphs and
    /// fail identically.
    #[test]
    fn bulk_edge_merge_matches_one_by_one() {
        for directed in [true, false] {
            let n = 300i64;
            let mut next = crate::engine::testing::xorshift(0x9e3779b97f4a7c15);
            let mut rnd = |m: i64| next(m as u64) as i64;
            let mut pairs = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while pairs.len() < BULK_MIN_EDGES + 100 {
                let (s, t) = (rnd(n), rnd(n));
                let key = if directed || s <= t { (s, t) } else { (t, s) };
                if seen.insert(key) {
                    pairs.push((s, t));
                }
            }
            let build = |bulk: bool, pairs: &[(i64, i64)]| {
                let g = G::with_shards(directed, 4);
                g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
                    .unwrap();
                g.add_edge(NodeRef::Int(1), NodeRef::Int(2), AttrMap::new())
                    .ok();
                let res: Vec<(Ix, Ix)> = pairs
                    .iter()
                    .map(|&(s, t)| {
                        (
                            g.resolve(NodeRef::Int(s)).unwrap(),
                            g.resolve(NodeRef::Int(t)).unwrap(),
                        )
                    })
                    .collect();
                let r = if bulk {
                    g.batch_add_edges(ResolvedEdges {
                        pairs: res,
                        attrs: vec![],
                        epoch: 0,
                    })
                    .map_err(|e| match e {
                        EdgeBatchError::Graph(e) => e,
                        _ => panic!("stale"),
                    })
                } else {
                    let mut r = Ok(0);
                    // Small chunks take the one-by-one path; emulate atomicity by checking first.
                    for chunk in res.chunks(BULK_MIN_EDGES / 2) {
                        r = g
                            .batch_add_edges(ResolvedEdges {
                                pairs: chunk.to_vec(),
                                attrs: vec![],
                                epoch: 0,
                            })
                            .map_err(|e| match e {
                                EdgeBatchError::Graph(e) => e,
                                _ => panic!("stale"),
                            });
                        if r.is_err() {
                            break;
                        }
                    }
                    r
                };
                let succ: Vec<_> = (0..n)
                    .map(|i| {
                        (
                            g.successors(NodeRef::Int(i)).unwrap(),
                            g.predecessors(NodeRef::Int(i)).unwrap(),
                        )
                    })
                    .collect();
                (r.map(|_| ()), g.edge_count(), succ)
            };
            let clean: Vec<_> = pairs
                .iter()
                .copied()
                .filter(|&(s, t)| !((s, t) == (1, 2) || (!directed && (s, t) == (2, 1))))
                .collect();
            let a = build(true, &clean);
            let b = build(false, &clean);
            assert!(a.0.is_ok(), "{:?}", a.0);
            assert_eq!(a, b);
            // With a duplicate of an existing edge: the bulk path fails whole.
            let mut bad = clean.clone();
            bad.insert(BULK_MIN_EDGES / 2, (1, 2));
            let (r, count, _) = build(true, &bad);
            assert_eq!(
                r,
                Err(GraphError::EdgeExists(NodeId::Int(1), NodeId::Int(2)))
            );
            assert_eq!(count, 1);
        }
    }

    #[test]
    fn batch_nodes_merge_duplicates_and_keep_order() {
        let g = G::with_shards(true, 4);
        g.add_node(NodeRef::Int(7), attrs(&[("a", 1)])).unwrap();
        let items = vec![
            (NodeId::Int(1), None),
            (NodeId::Int(7), attrs_from(attrs(&[("b", 2)]))),
            (NodeId::Int(1), attrs_from(attrs(&[("c", 3)]))),
            (NodeId::Int(2), None),
        ];
        assert_eq!(g.batch_add_nodes(items).unwrap(), 4);
        assert_eq!(
            ids(&g),
            vec![NodeId::Int(7), NodeId::Int(1), NodeId::Int(2)]
        );
        assert_eq!(g.node_attrs(NodeRef::Int(7)).unwrap().unwrap().len(), 2);
        assert_eq!(g.node_attrs(NodeRef::Int(1)).unwrap().unwrap().len(), 1);
        g.add_node(NodeRef::Int(9), AttrMap::new()).unwrap();
        assert_eq!(ids(&g).last(), Some(&NodeId::Int(9)));
    }

    #[test]
    fn batch_keys_are_found_by_every_key_map_path() {
        // batch_add_nodes inserts through the raw tables (one lock per map
        // shard); the ordinary lookups, removals and later inserts must agree
        // with it, across table growth and duplicates within the batch.
        let g = G::with_shards(true, 4);
        g.add_node(NodeRef::Str("s3"), attrs(&[("a", 1)])).unwrap();
        let mut items: Vec<(NodeId, Attrs<()>)> = Vec::new();
        for i in 0..5000 {
            items.push((NodeId::Str(format!("s{i}").as_str().into()), None));
            items.push((NodeId::Int(i), None));
        }
        items.push((NodeId::Str("s10".into()), attrs_from(attrs(&[("b", 2)])))); // duplicate in the batch
        g.batch_add_nodes(items).unwrap();
        assert_eq!(g.node_count(), 10_000);
        for i in 0..5000 {
            assert!(
                g.contains(n(&format!("s{i}"))) && g.contains(NodeRef::Int(i)),
                "{i}"
            );
        }
        assert_eq!(g.node_attrs(n("s10")).unwrap().unwrap().len(), 1);
        assert_eq!(g.node_attrs(n("s3")).unwrap().unwrap().len(), 1);
        g.remove_node(n("s4999")).unwrap();
        g.remove_node(NodeRef::Int(0)).unwrap();
        assert!(!g.contains(n("s4999")) && !g.contains(NodeRef::Int(0)));
        g.add_node(NodeRef::Str("s4999"), AttrMap::new()).unwrap();
        assert!(g.contains(n("s4999")) && !g.contains(n("s5000")));
        assert_eq!(g.node_count(), 9_999);
    }

    #[test]
    fn a_snapshot_resolves_ids_as_they_were_when_it_was_taken() {
        let g = G::with_shards(true, 4);
        for i in 0..6 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let at = |id| g.ix_in(&view, id).ok().map(|ix| view.key(ix).clone());
        // No removal since: the key maps answer, absent ids without a search.
        g.add_node(NodeRef::Int(9), AttrMap::new()).unwrap();
        assert_eq!(at(NodeRef::Int(3)), Some(NodeId::Int(3)));
        assert_eq!(at(NodeRef::Int(9)), None); // added after the snapshot
        assert_eq!(at(NodeRef::Int(7)), None);
        // Removed, and removed then added again, since: found where the snapshot has them.
        g.remove_node(NodeRef::Int(2)).unwrap();
        g.remove_node(NodeRef::Int(4)).unwrap();
        g.add_node(NodeRef::Int(4), AttrMap::new()).unwrap();
        let four = g.ix_in(&view, NodeRef::Int(4)).unwrap();
        assert_ne!(Some(four), g.resolve(NodeRef::Int(4)));
        assert_eq!(at(NodeRef::Int(2)), Some(NodeId::Int(2)));
        assert_eq!(at(NodeRef::Int(9)), None);
        assert_eq!(at(NodeRef::Int(7)), None);
        // After clear, the same.
        g.clear();
        assert_eq!(at(NodeRef::Int(5)), Some(NodeId::Int(5)));
    }

    #[test]
    fn clear_restarts_order() {
        let g = G::with_shards(true, 4);
        for i in 0..7 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        g.clear();
        assert_eq!(g.node_count(), 0);
        g.add_node(NodeRef::Int(5), AttrMap::new()).unwrap();
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        assert_eq!(ids(&g), vec![NodeId::Int(5), NodeId::Int(1)]);
        assert!(!g.contains(NodeRef::Int(0)));
        // `str` ids (inline and not) leave the key map with the clear too.
        let long = "an id longer than sixteen bytes";
        for s in ["short", long] {
            g.add_node(n(s), AttrMap::new()).unwrap();
        }
        g.clear();
        assert!(!g.contains(n("short")) && !g.contains(n(long)));
        g.add_node(n(long), AttrMap::new()).unwrap();
        assert!(g.contains(n(long)) && !g.contains(n("short")));
        assert_eq!(ids(&g), vec![NodeId::Str(long.into())]);
    }

    /// An attribute value that, when freed, records whether a shard of the
    /// graph it watches was locked then.
    #[derive(Clone)]
    struct Watch;

    thread_local! {
        static WATCHED: std::cell::RefCell<Option<Arc<Graph<Watch>>>> =
            const { std::cell::RefCell::new(None) };
        /// (values freed, of which while a shard was locked)
        static FREED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
    }

    impl Payload for Watch {}

    impl Drop for Watch {
        fn drop(&mut self) {
            if let Some(g) = WATCHED.with(|w| w.borrow().clone()) {
                let locked = g.shards.iter().any(|s| s.try_read().is_none());
                FREED.with(|f| {
                    let (n, under) = f.get();
                    f.set((n + 1, under + locked as usize));
                });
            }
        }
    }

    #[test]
    fn clear_frees_the_old_records_after_letting_the_locks_go() {
        // Readers do not wait for the freeing of a whole graph: the records
        // (here, their attribute values) are freed after the shard locks.
        let g = Arc::new(Graph::<Watch>::with_shards(true, 4));
        for i in 0..300 {
            let mut m = AttrMap::new();
            m.insert(intern("w"), Value::Opaque(Watch));
            g.add_node(NodeRef::Int(i), m).unwrap();
        }
        g.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        WATCHED.with(|w| *w.borrow_mut() = Some(g.clone()));
        FREED.with(|f| f.set((0, 0)));
        g.clear();
        assert_eq!(
            FREED.with(|f| f.get()),
            (300, 0),
            "(freed, of which under a lock)"
        );
        assert_eq!(g.node_count(), 0);
        WATCHED.with(|w| *w.borrow_mut() = None);
    }

    /// Out-degrees sum to the edge count, and every edge's ends exist.
    fn assert_degrees_and_endpoints_agree(g: &G) {
        let out: usize = g
            .nodes()
            .iter()
            .map(|(id, _)| g.degrees(id.as_ref()).unwrap().1)
            .sum();
        assert_eq!(out, g.edge_count());
        for e in g.edges(false) {
            assert!(g.contains(e.source.as_ref()) && g.contains(e.target.as_ref()));
        }
    }

    /// Everything a user can read of `g`: nodes in order with their
    /// attributes, edges in order with theirs, and each node's neighbours.
    fn picture(g: &G) -> Vec<String> {
        let mut out: Vec<String> = g
            .node_ids()
            .into_iter()
            .map(|id| {
                let r = id.as_ref();
                format!(
                    "{id:?} {:?} out {:?} in {:?}",
                    g.node_attrs(r).unwrap(),
                    g.successors(r).unwrap(),
                    g.predecessors(r).unwrap()
                )
            })
            .collect();
        out.extend(
            g.edges(true)
                .into_iter()
                .map(|e| format!("{:?} -> {:?} {:?}", e.source, e.target, e.attrs)),
        );
        out
    }

    #[test]
    fn compaction_keeps_every_node_edge_attribute_and_the_order() {
        for directed in [true, false] {
            let plain = G::with_shards(directed, 4);
            let tight = G::with_shards(directed, 4);
            tight.set_index_limit(24);
            let mut rng = crate::engine::testing::xorshift(0x9e37_79b9 + directed as u64);
            let id = |k: u64| {
                if k % 3 == 0 {
                    NodeId::Str(format!("s{k}").as_str().into())
                } else {
                    NodeId::Int(k as i64)
                }
            };
            for step in 0..6000 {
                let (a, b, v) = (id(rng(16)), id(rng(16)), rng(100) as i64);
                let op = rng(700);
                let go = |g: &G| {
                    let (a, b) = (a.as_ref(), b.as_ref());
                    let r = match op / 100 {
                        0 | 1 => g.add_node(a, attrs(&[("v", v)])),
                        2 => g.remove_node(a),
                        3 | 4 => g.add_edge(a, b, attrs(&[("w", v)])),
                        5 if op == 599 => {
                            g.clear();
                            Ok(())
                        }
                        5 => g.remove_edge(a, b),
                        _ => g.update_edge(a, b, attrs(&[("u", v)])),
                    };
                    r.map_err(|e| e.to_string())
                };
                assert_eq!(go(&plain), go(&tight), "step {step}");
                if step % 97 == 0 {
                    assert_eq!(picture(&plain), picture(&tight), "step {step}");
                }
            }
            assert_eq!(picture(&plain), picture(&tight));
            assert!(tight.epoch() > 20, "compacted {} times", tight.epoch());
        }
    }

    #[test]
    fn renumbering_keeps_dense_and_scattered_graphs_whole() {
        for scattered in [false, true] {
            let g = G::with_shards(true, 4);
            for k in 0..60i64 {
                g.add_node(NodeRef::Int(k), attrs(&[("v", k)])).unwrap();
                if k > 0 {
                    g.add_edge(NodeRef::Int(k), NodeRef::Int(k / 2), attrs(&[("w", k)]))
                        .unwrap();
                }
                if scattered {
                    // Each live node in a 256-row chunk of its own: the
                    // renumbering then maps by hash instead of a table.
                    for _ in 0..1100 {
                        g.add_node(NodeRef::Str("filler"), AttrMap::new()).unwrap();
                        g.remove_node(NodeRef::Str("filler")).unwrap();
                    }
                }
            }
            g.remove_node(NodeRef::Int(59)).unwrap();
            let view_slots = g.snapshot().view().held_slots();
            assert_eq!(view_slots > 16 * 1024, scattered, "{view_slots} slots held");
            let before = picture(&g);
            g.set_index_limit(g.next_ix.load(Ordering::Relaxed));
            g.add_node(NodeRef::Str("last"), AttrMap::new()).unwrap();
            assert_eq!(g.epoch(), 1);
            assert_eq!(g.next_ix.load(Ordering::Relaxed), 60);
            let mut after = picture(&g);
            let last = after.iter().position(|l| l.starts_with("Str")).unwrap();
            after.remove(last);
            assert_eq!(before, after);
        }
    }

    #[test]
    fn the_last_indices_are_usable_and_running_out_renumbers() {
        // The real limit, not a lowered one: the top row of the index space
        // (whose end, 2^32, is no `Ix`) is used, read, then renumbered.
        let g = G::with_shards(true, 64);
        for k in 0..4 {
            g.add_node(NodeRef::Int(k), attrs(&[("v", k)])).unwrap();
        }
        g.add_edge(NodeRef::Int(3), NodeRef::Int(0), AttrMap::new())
            .unwrap();
        g.remove_node(NodeRef::Int(1)).unwrap();
        g.next_ix.store(Ix::MAX as u64 - 2, Ordering::Relaxed);
        g.add_node(NodeRef::Str("x"), AttrMap::new()).unwrap();
        g.add_node(NodeRef::Str("y"), AttrMap::new()).unwrap();
        g.add_edge(NodeRef::Str("y"), NodeRef::Int(0), attrs(&[("w", 1)]))
            .unwrap();
        g.add_edge(NodeRef::Int(2), NodeRef::Str("x"), AttrMap::new())
            .unwrap();
        assert_eq!(g.resolve(NodeRef::Str("y")), Some(Ix::MAX - 1));
        let snap = g.snapshot();
        assert_eq!(snap.view().hi(), Ix::MAX);
        assert_eq!(snap.view().ixs().count(), 5);
        let before = picture(&g);
        g.add_node(NodeRef::Str("z"), AttrMap::new()).unwrap();
        assert_eq!(g.epoch(), 1);
        assert_eq!(g.resolve(NodeRef::Str("z")), Some(5));
        let mut after = picture(&g);
        let z = after
            .iter()
            .position(|l| l.starts_with("Str(\"z\")"))
            .unwrap();
        after.remove(z);
        assert_eq!(before, after);
        // The snapshot from before still reads the old numbering.
        let y = g.ix_in(&snap.view(), NodeRef::Str("y")).unwrap();
        assert_eq!(y, Ix::MAX - 1);
    }

    #[test]
    fn a_snapshot_overtaken_by_a_renumbering_still_finds_its_ids() {
        let g = G::with_shards(true, 4);
        for k in 0..40 {
            g.add_node(NodeRef::Int(k), AttrMap::new()).unwrap();
        }
        for k in (0..40).step_by(2) {
            g.remove_node(NodeRef::Int(k)).unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let before: Vec<Ix> = (1..40)
            .step_by(2)
            .map(|k| g.resolve(NodeRef::Int(k)).unwrap())
            .collect();
        g.set_index_limit(40);
        g.add_node(NodeRef::Str("new"), AttrMap::new()).unwrap();
        assert_eq!(g.epoch(), 1);
        assert_ne!(g.resolve(NodeRef::Int(39)), Some(39), "renumbered");
        let ids: Vec<NodeRef<'_>> = (1..40).step_by(2).map(NodeRef::Int).collect();
        crate::engine::cancel::never(|cancel| {
            assert_eq!(g.ixs_in(&view, &ids, cancel).unwrap(), before);
            for gone in [NodeRef::Int(2), NodeRef::Str("new")] {
                let both = g.ixs_in(&view, &[ids[0], gone], cancel);
                assert!(matches!(both, Err(GraphError::NodeNotFound(_))));
                assert!(g.ix_in(&view, gone).is_err());
            }
        });
        assert_eq!(g.ix_in(&view, NodeRef::Int(39)).unwrap(), 39);
    }

    #[test]
    fn a_graph_full_of_live_nodes_refuses_more_and_changes_nothing() {
        use crate::engine::Op;
        let g = G::with_shards(true, 4);
        g.set_index_limit(4);
        for i in 0..3 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        g.remove_node(NodeRef::Int(2)).unwrap();
        g.add_node(NodeRef::Int(2), AttrMap::new()).unwrap();
        // Four indices used, three live: a batch that needs two fails whole,
        // and does not renumber for nothing (3 + 2 > 4).
        let needs_two = vec![
            Op::AddEdge(NodeId::Int(0), NodeId::Int(1), AttrMap::new()),
            Op::AddNode(NodeId::Int(3), AttrMap::new()),
            Op::AddNode(NodeId::Int(0), AttrMap::new()), // merges: needs no index
            Op::AddNode(NodeId::Int(4), AttrMap::new()),
        ];
        let err = g.apply(needs_two).unwrap_err();
        assert!(
            matches!(&err, GraphError::Capacity(m) if m.contains("more than 4")),
            "{err}"
        );
        let two = vec![(NodeId::Int(3), None), (NodeId::Int(4), None)];
        assert!(matches!(
            g.batch_add_nodes(two),
            Err(GraphError::Capacity(_))
        ));
        assert_eq!((g.node_count(), g.edge_count(), g.epoch()), (3, 0, 0));
        assert_eq!(g.next_ix.load(Ordering::Relaxed), 4);
        // A node batch that only merges (into nodes and into itself) needs
        // no index, full or not.
        let merging = vec![
            (NodeId::Int(0), None),
            (NodeId::Int(1), None),
            (NodeId::Int(0), None),
        ];
        assert_eq!(g.batch_add_nodes(merging).unwrap(), 3);
        assert_eq!(g.epoch(), 0);
        // One more fits, after a renumbering; past that, creating fails and
        // merging still works.
        let one_new = vec![
            (NodeId::Int(2), None),
            (NodeId::Int(3), None),
            (NodeId::Int(3), None),
        ];
        assert_eq!(g.batch_add_nodes(one_new).unwrap(), 3);
        assert_eq!((g.node_count(), g.epoch()), (4, 1));
        assert!(matches!(
            g.add_node(NodeRef::Int(4), AttrMap::new()),
            Err(GraphError::Capacity(_))
        ));
        let merges = vec![
            Op::AddNode(NodeId::Int(0), AttrMap::new()),
            Op::AddEdge(NodeId::Int(0), NodeId::Int(1), AttrMap::new()),
        ];
        g.apply(merges).unwrap();
        assert_eq!((g.node_count(), g.edge_count(), g.epoch()), (4, 1, 1));
        let order: Vec<NodeId> = (0..4).map(NodeId::Int).collect();
        assert_eq!(ids(&g), order);
    }

    #[test]
    fn concurrent_writers_stay_consistent() {
        let g = Arc::new(G::with_shards(true, 8));
        for i in 0..64 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        std::thread::scope(|s| {
            for t in 0..4i64 {
                let g = &g;
                s.spawn(move || {
                    for i in 0..64 {
                        let (a, b) = ((i * 7 + t) % 64, (i * 13 + 3 * t) % 64);
                        let _ = g.add_edge(NodeRef::Int(a), NodeRef::Int(b), AttrMap::new());
                        if i % 9 == 0 {
                            let _ = g.remove_node(NodeRef::Int((i + t) % 64));
                            g.add_node(NodeRef::Int((i + t) % 64), AttrMap::new())
                                .unwrap();
                        }
                    }
                });
            }
        });
        assert_degrees_and_endpoints_agree(&g);
    }

    #[test]
    fn readers_and_writers_racing_compactions_never_mix_nodes_up() {
        use crate::sync::AtomicBool;
        let g = G::with_shards(true, 4);
        g.set_index_limit(64);
        let v_of = |a: Attrs<()>| match a.as_ref().and_then(|a| a.get(intern("v")).cloned()) {
            Some(Value::Int(v)) => v,
            other => panic!("no v: {other:?}"),
        };
        // Nodes that come and go before the readers' nodes 0..8, so that
        // each compaction moves those to lower indices.
        for k in 500..524 {
            g.add_node(NodeRef::Int(k), attrs(&[("v", k)])).unwrap();
        }
        for i in 0..8 {
            g.add_node(NodeRef::Int(i), attrs(&[("v", i)])).unwrap();
        }
        for i in 0..8 {
            g.add_edge(NodeRef::Int(i), NodeRef::Int((i + 1) % 8), AttrMap::new())
                .unwrap();
        }
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let churners: Vec<_> = (0..2i64)
                .map(|t| {
                    let g = &g;
                    s.spawn(move || {
                        for r in 0..4000i64 {
                            let k = 100 + 1000 * t + r % 24;
                            let _ = g.add_node(NodeRef::Int(k), attrs(&[("v", k)]));
                            let _ =
                                g.add_edge(NodeRef::Int(k), NodeRef::Int(r % 8), AttrMap::new());
                            if r % 3 != 0 {
                                let _ = g.remove_node(NodeRef::Int(k));
                            }
                            if r % 4 == 0 {
                                let early = NodeRef::Int(500 + (r / 4 + 12 * t) % 24);
                                if g.remove_node(early).is_err() {
                                    let _ = g.add_node(early, AttrMap::new());
                                }
                            }
                        }
                    })
                })
                .collect();
            // Batches of edges resolved before they lock, as the binding's.
            s.spawn(|| {
                let mut found = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    for i in 0..8i64 {
                        let ids = [NodeRef::Int(i), NodeRef::Int((i + 3) % 8)];
                        loop {
                            let epoch = g.epoch();
                            g.resolve_many(&ids, &mut found);
                            let pairs = vec![(found[0].unwrap(), found[1].unwrap())];
                            let edges = ResolvedEdges {
                                pairs,
                                attrs: vec![],
                                epoch,
                            };
                            match g.batch_add_edges(edges) {
                                Ok(_) => break,
                                Err(EdgeBatchError::Stale(_)) => continue,
                                Err(EdgeBatchError::Graph(e)) => panic!("{e}"),
                            }
                        }
                        g.remove_edge(ids[0], ids[1]).unwrap();
                    }
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        for i in 0..8 {
                            let n = NodeRef::Int(i);
                            assert_eq!(v_of(g.node_attrs(n).unwrap()), i);
                            let next = NodeId::Int((i + 1) % 8);
                            assert!(g.successors(n).unwrap().contains(&next));
                            assert!(g.has_edge(n, next.as_ref()));
                        }
                        for k in (100..124).chain(1100..1124).chain(500..524) {
                            match g.node_attrs(NodeRef::Int(k)) {
                                Ok(None) => assert!(k >= 500, "{k} lost its attributes"),
                                Ok(a) => assert_eq!(v_of(a), k),
                                Err(_) => {}
                            }
                        }
                    }
                });
            }
            for c in churners {
                c.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        assert!(g.epoch() > 10, "compacted {} times", g.epoch());
        assert_degrees_and_endpoints_agree(&g);
        for i in 0..8 {
            assert_eq!(v_of(g.node_attrs(NodeRef::Int(i)).unwrap()), i);
        }
    }

    #[test]
    fn clear_after_a_large_graph_clears_by_the_live_ids() {
        let g = G::with_shards(true, 4);
        let big = 100_000i64;
        g.batch_add_nodes((0..big).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        g.clear(); // the sweep: many nodes
        for round in 0..3 {
            // A few nodes in a large dense table: the ids' own entries.
            for k in [1, 5, big - 1, -3, 1 << 40] {
                g.add_node(NodeRef::Int(k), AttrMap::new()).unwrap();
            }
            g.add_node(NodeRef::Str("s"), AttrMap::new()).unwrap();
            g.remove_node(NodeRef::Int(5)).unwrap();
            assert_eq!(g.node_count(), 5, "round {round}");
            g.clear();
            assert_eq!(g.node_count(), 0);
            for k in [1, 5, big - 1, -3, 1 << 40] {
                assert!(
                    !g.contains(NodeRef::Int(k)),
                    "round {round}: {k} left behind"
                );
            }
            assert!(!g.contains(NodeRef::Str("s")));
        }
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        assert_eq!(g.node_ids(), vec![NodeId::Int(1)]);
    }
}
