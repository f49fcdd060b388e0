//! Read queries over a consistent [`GraphView`].
//!
//! Everything works in index space (`ix - view.lo()`), and neighbours are
//! visited in edge insertion order, which is NetworkX's adjacency order, so
//! traversal orders match NetworkX's. Long loops poll [`Cancel`].
//!
//! `pagerank` runs its per-iteration sweep on the rayon pool when the graph
//! has at least `PAR_MIN_NODES` nodes (`RAYON_NUM_THREADS` sets the pool size).

use std::cmp::Ordering;
use std::collections::VecDeque;

use rayon::prelude::*;

use super::cancel::{Cancel, CHECK_EVERY};
use super::id::PyRepr;
use super::store::{GraphView, Ix, PREFETCH_AHEAD};
use super::value::{AttrId, Number, Value};
use super::Payload;
use crate::error::{GraphError, Result};
use crate::sync::parallel_ok;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Below this many nodes, parallel sweeps cost more than they save.
pub const PAR_MIN_NODES: usize = 50_000;

/// Nodes per part of a pagerank sweep, with a cancellation check between
/// parts (a part takes ~10-40 ms here).
const SWEEP_PART: usize = 1 << 19;

/// Dense per-node scratch, indexed by `ix - lo`.
struct Dense<T> {
    lo: Ix,
    vals: Vec<T>,
}

impl<T: Clone> Dense<T> {
    fn new<O: Payload>(view: &GraphView<'_, O>, init: T) -> Self {
        let lo = view.lo();
        Self {
            lo,
            vals: vec![init; view.span()],
        }
    }
    #[inline]
    fn get(&self, ix: Ix) -> &T {
        &self.vals[(ix - self.lo) as usize]
    }
    #[inline]
    fn set(&mut self, ix: Ix, v: T) {
        self.vals[(ix - self.lo) as usize] = v;
    }
}

/// Per-node scratch for a whole-graph algorithm: a [`Dense`] table, or a
/// hash map when the graph's live nodes are few against its index range
/// (churn leaves indices empty for good: 1,000 nodes kept beside a million
/// added and removed made a dense table and its sweep cost 50-100x the work).
enum Table<T> {
    Dense(Dense<T>),
    Sparse(FastMap<Ix, T>, T),
}

impl<T: Clone> Table<T> {
    /// A table for `live` nodes of `view`, every entry `init`.
    fn new<O: Payload>(view: &GraphView<'_, O>, init: T, live: usize) -> Self {
        if sparse_view(view, live) {
            Table::Sparse(FastMap::default(), init)
        } else {
            Table::Dense(Dense::new(view, init))
        }
    }
    #[inline]
    fn get(&self, ix: Ix) -> &T {
        match self {
            Table::Dense(d) => d.get(ix),
            Table::Sparse(m, init) => m.get(&ix).unwrap_or(init),
        }
    }
    #[inline]
    fn set(&mut self, ix: Ix, v: T) {
        match self {
            Table::Dense(d) => d.set(ix, v),
            Table::Sparse(m, _) => {
                m.insert(ix, v);
            }
        }
    }
}

/// Each of `ixs`'s position in it.
fn positions<O: Payload>(view: &GraphView<'_, O>, ixs: &[Ix]) -> Table<u32> {
    let mut pos = Table::new(view, u32::MAX, ixs.len());
    for (p, &ix) in ixs.iter().enumerate() {
        pos.set(ix, p as u32);
    }
    pos
}

/// The in-edges of `ixs` as a CSR over their positions `pos`: the offsets
/// and the sources' positions, with `edge(u, v, position of u)` called on
/// each edge `u -> v` as it is read (its error stops the read).
fn in_csr<O: Payload>(
    view: &GraphView<'_, O>,
    ixs: &[Ix],
    pos: &Table<u32>,
    cancel: &Cancel<'_>,
    mut edge: impl FnMut(Ix, Ix, u32) -> Result<()>,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut off = Vec::with_capacity(ixs.len() + 1);
    let mut src: Vec<u32> = Vec::new();
    off.push(0u32);
    for (p, &v) in ixs.iter().enumerate() {
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        for &u in view.inn(v) {
            let pu = *pos.get(u);
            edge(u, v, pu)?;
            src.push(pu);
        }
        off.push(src.len() as u32);
    }
    Ok((off, src))
}

/// Whether `live` nodes are few enough against `view`'s index range that
/// per-node scratch should be sized by them rather than by the range.
fn sparse_view<O: Payload>(view: &GraphView<'_, O>, live: usize) -> bool {
    let span = view.span();
    span >= SPARSE_FROM && live.saturating_mul(16) < span
}

/// The nodes a search from a source has seen. A [`Dense`] table costs
/// O(the graph's index range) to make, whatever the search reaches (a `bfs`
/// in a two-node component of a 1M-node graph took 23-29 µs, a
/// `shortest_path_lengths` 108-123 µs); a [`Sparse`] set costs O(what it
/// holds), at a hash per node. A search starts sparse and starts over dense
/// once it has seen more than [`sparse_budget`] nodes.
trait Seen {
    fn seen(&self, ix: Ix) -> bool;
    /// Marks `ix` seen; `false` when a sparse set is full (start over dense).
    fn see(&mut self, ix: Ix) -> bool;
}

impl Seen for Dense<bool> {
    #[inline]
    fn seen(&self, ix: Ix) -> bool {
        *self.get(ix)
    }
    #[inline]
    fn see(&mut self, ix: Ix) -> bool {
        self.set(ix, true);
        true
    }
}

/// A [`Seen`] set of at most `budget` nodes.
struct Sparse {
    set: FastSet<Ix>,
    budget: usize,
}

impl Sparse {
    fn new<O: Payload>(view: &GraphView<'_, O>) -> Self {
        Self {
            set: FastSet::default(),
            budget: sparse_budget(view),
        }
    }
}

impl Seen for Sparse {
    #[inline]
    fn seen(&self, ix: Ix) -> bool {
        self.set.contains(&ix)
    }
    #[inline]
    fn see(&mut self, ix: Ix) -> bool {
        self.set.len() < self.budget && self.set.insert(ix)
    }
}

/// How many nodes a search keeps in a [`Sparse`] set before it starts over
/// with a [`Dense`] one: a hash insertion costs about what clearing a
/// thousand bytes of a dense table does.
fn sparse_budget<O: Payload>(view: &GraphView<'_, O>) -> usize {
    (view.span() / 1024).max(64)
}

/// Below this index range a dense table is made at once (64 KB at most:
/// cheaper than a sparse start that a search of a few dozen nodes outgrows).
const SPARSE_FROM: usize = 1 << 16;

/// Runs a search with a [`Sparse`] set (on a graph of [`SPARSE_FROM`]
/// indices or more), then, if that filled up or was skipped, with a
/// [`Dense`] one. A search returns `None` when its set filled up.
fn sparse_then_dense<O: Payload, T>(
    view: &GraphView<'_, O>,
    sparse: impl FnOnce(Sparse) -> Result<Option<T>>,
    dense: impl FnOnce(Dense<bool>) -> Result<Option<T>>,
) -> Result<T> {
    if view.span() >= SPARSE_FROM {
        if let Some(done) = sparse(Sparse::new(view))? {
            return Ok(done);
        }
    }
    Ok(dense(Dense::new(view, false))?.expect("a dense set never fills"))
}

/// Breadth-first order from `src` (included), following out-edges, up to
/// `depth_limit` hops.
pub fn bfs<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    depth_limit: Option<usize>,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    Ok(bfs_levels(view, src, depth_limit, cancel)?.0)
}

/// [`bfs`], with where each depth starts in the order (depth `d` is
/// `order[starts[d]..starts[d + 1]]`, the last one running to the end).
fn bfs_levels<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    depth_limit: Option<usize>,
    cancel: &Cancel<'_>,
) -> Result<(Vec<Ix>, Vec<usize>)> {
    sparse_then_dense(
        view,
        |seen| bfs_with(view, src, depth_limit, cancel, seen),
        |seen| bfs_with(view, src, depth_limit, cancel, seen),
    )
}

/// [`bfs_levels`] with `seen` (`None`: a sparse set filled up).
fn bfs_with<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    depth_limit: Option<usize>,
    cancel: &Cancel<'_>,
    mut seen: impl Seen,
) -> Result<Option<(Vec<Ix>, Vec<usize>)>> {
    seen.see(src);
    let mut order = vec![src];
    let mut starts = vec![0];
    let mut head = 0;
    let mut depth_end = 1; // `order[..depth_end]` are within the current depth
    let mut depth = 0;
    while head < order.len() {
        if head == depth_end {
            depth += 1;
            depth_end = order.len();
            starts.push(head);
        }
        if depth_limit.is_some_and(|d| depth >= d) {
            break;
        }
        let u = order[head];
        if let Some(&ahead) = order.get(head + PREFETCH_AHEAD) {
            view.prefetch_out(ahead);
        }
        head += 1;
        if head % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        for &w in view.out(u) {
            if !seen.seen(w) {
                if !seen.see(w) {
                    return Ok(None);
                }
                order.push(w);
            }
        }
    }
    Ok(Some((order, starts)))
}

/// Depth-first preorder from `src`, as NetworkX's `dfs_preorder_nodes`.
pub fn dfs<O: Payload>(view: &GraphView<'_, O>, src: Ix, cancel: &Cancel<'_>) -> Result<Vec<Ix>> {
    sparse_then_dense(
        view,
        |seen| dfs_with(view, src, cancel, seen),
        |seen| dfs_with(view, src, cancel, seen),
    )
}

/// [`dfs`] with `seen` (`None`: a sparse set filled up).
fn dfs_with<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    cancel: &Cancel<'_>,
    mut seen: impl Seen,
) -> Result<Option<Vec<Ix>>> {
    seen.see(src);
    let mut order = vec![src];
    // Stack of (node, next neighbour position).
    let mut stack: Vec<(Ix, usize)> = vec![(src, 0)];
    let mut steps = 0usize;
    while let Some(top) = stack.last_mut() {
        steps += 1;
        if steps % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let (u, pos) = *top;
        let nbrs = view.out(u);
        match nbrs[pos..].iter().position(|&w| !seen.seen(w)) {
            Some(off) => {
                let w = nbrs[pos + off];
                top.1 = pos + off + 1;
                if !seen.see(w) {
                    return Ok(None);
                }
                order.push(w);
                stack.push((w, 0));
            }
            None => {
                stack.pop();
            }
        }
    }
    Ok(Some(order))
}

/// Nodes at distance 1..=k from `src`, in BFS order. Sized for small
/// neighbourhoods: scratch grows with what it visits, not with the graph.
/// The output doubles as the BFS queue (level `j` is a range of it), and
/// before each level the sets grow once, to the sum of the frontier's
/// degrees, instead of rehashing step by step: point queries run from many
/// threads at once, and every allocation they skip is one less trip through
/// the shared allocator.
pub fn k_hop<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    k: usize,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    let mut next_check = CHECK_EVERY;
    k_hop_with(view, src, k, |found| {
        if found < next_check {
            return Ok(());
        }
        next_check = found + CHECK_EVERY;
        cancel.check()
    })
}

/// [`k_hop`] for a caller that must not wait on anything, such as one that
/// holds every shard's read lock: `None` as soon as the result could pass
/// `limit` nodes (its length plus the next node's degree does; the caller
/// then runs it again elsewhere), so the work under the locks stays
/// bounded, and no cancellation polls (a poll may attach to the caller's
/// runtime).
pub fn k_hop_within<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    k: usize,
    limit: usize,
) -> Option<Vec<Ix>> {
    k_hop_with(
        view,
        src,
        k,
        |found| if found > limit { Err(()) } else { Ok(()) },
    )
    .ok()
}

/// The nodes a [`k_hop_with`] search has met: the source and its result.
/// A typical `k_hop(·, 2)` meets a few dozen nodes, where scanning the
/// result for each neighbour is cheaper than hashing it into a set that is
/// allocated and grown per query; past [`Met::SCAN_MAX`] nodes, a set.
struct Met {
    src: Ix,
    set: Option<FastSet<Ix>>,
}

impl Met {
    /// Result length up to which membership is a scan of the result.
    const SCAN_MAX: usize = 64;

    fn new(src: Ix) -> Self {
        Self { src, set: None }
    }

    /// Appends `w` to `out` (the result so far) unless already met.
    #[inline]
    fn visit(&mut self, w: Ix, out: &mut Vec<Ix>) {
        let new = match &mut self.set {
            Some(set) => set.insert(w),
            None => {
                let new = w != self.src && !out.contains(&w);
                if new && out.len() == Self::SCAN_MAX {
                    let mut set: FastSet<Ix> = FastSet::default();
                    set.reserve(out.capacity().max(2 * Self::SCAN_MAX) + 1);
                    set.insert(self.src);
                    set.extend(out.iter().copied());
                    set.insert(w);
                    self.set = Some(set);
                }
                new
            }
        };
        if new {
            out.push(w);
        }
    }
}

/// [`k_hop`]'s search; `check` sees, before each expansion, the result's
/// length plus the node's degree (a bound on the length after it), and
/// stops the search with its error.
fn k_hop_with<O: Payload, E>(
    view: &GraphView<'_, O>,
    src: Ix,
    k: usize,
    mut check: impl FnMut(usize) -> std::result::Result<(), E>,
) -> std::result::Result<Vec<Ix>, E> {
    let mut out: Vec<Ix> = Vec::new();
    if k == 0 {
        return Ok(out);
    }
    let first = view.out(src);
    // `check` sees an upper bound before each expansion too, so that one
    // hub's neighbours are not all copied before a limit applies.
    check(first.len())?;
    let mut seen = Met::new(src);
    out.reserve(first.len());
    for &w in first {
        seen.visit(w, &mut out);
    }
    let mut start = 0;
    for _ in 1..k {
        let end = out.len();
        // Reading each node's degree from its record, start loading its
        // neighbour list too: the lists are separate allocations, and the
        // loop below would otherwise wait for each in turn (in `perf`, most
        // of a cache-cold `k_hop(·, 2)`'s own time). It pays off for the
        // small frontiers of a small `k`; a large one (a hub's, or `k` >= 3)
        // has its early lists evicted again before use, which costs little.
        let bound: usize = out[start..end]
            .iter()
            .map(|&u| {
                let next = view.out(u);
                super::adjacency::prefetch(next);
                next.len()
            })
            .sum();
        if bound == 0 {
            break;
        }
        out.reserve(bound);
        for i in start..end {
            let u = out[i];
            let next = view.out(u);
            check(out.len() + next.len())?;
            for &w in next {
                seen.visit(w, &mut out);
            }
        }
        if out.len() == end {
            break;
        }
        start = end;
    }
    Ok(out)
}

/// The weight of edge `u -> w` under attribute `weight` (1.0 when absent).
#[inline]
pub fn edge_weight<O: Payload>(
    view: &GraphView<'_, O>,
    u: Ix,
    w: Ix,
    weight: AttrId,
) -> Result<f64> {
    edge_length(view, u, w, weight).map(Length::as_f64)
}

/// A path length under a weight attribute, as NetworkX's sums of Python
/// numbers are: an exact int while every weight along the path is an int,
/// a float once one is a float (or an edge lacks the weight: DESIGN's 1.0).
/// An `i128` holds any sum of 64-bit ints over fewer than 2^64 edges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    Int(i128),
    Float(f64),
}

impl Length {
    pub const ZERO: Length = Length::Int(0);

    /// The length of a path of `n` edges that all lack the weight (1.0
    /// each): a float, except the source's own 0, as Dijkstra gives it.
    pub fn of_unweighted(n: usize) -> Length {
        if n == 0 {
            Length::ZERO
        } else {
            Length::Float(n as f64)
        }
    }

    /// The value as a float, as Python's `float(x)` rounds it.
    #[inline]
    pub fn as_f64(self) -> f64 {
        match self {
            Length::Int(i) => i as f64,
            Length::Float(x) => x,
        }
    }

    /// Python's comparison of the two numbers: exact between an int and a
    /// float (`2**53 + 1 > 2.0**53`, where their float values are equal);
    /// `None` when either is a NaN.
    pub fn py_cmp(self, other: Length) -> Option<Ordering> {
        match (self, other) {
            (Length::Int(a), Length::Int(b)) => Some(a.cmp(&b)),
            (Length::Float(x), Length::Float(y)) => x.partial_cmp(&y),
            (Length::Int(i), Length::Float(x)) => int_cmp_float(i, x),
            (Length::Float(x), Length::Int(i)) => int_cmp_float(i, x).map(Ordering::reverse),
        }
    }

    /// Python's `self < other` (see [`Length::py_cmp`]).
    #[inline]
    pub fn py_lt(self, other: Length) -> bool {
        self.py_cmp(other) == Some(Ordering::Less)
    }

    /// Python's `a + b`: int + int is an int, anything else a float.
    #[inline]
    fn plus(self, other: Length) -> Length {
        match (self, other) {
            (Length::Int(a), Length::Int(b)) => Length::Int(a + b),
            (a, b) => Length::Float(a.as_f64() + b.as_f64()),
        }
    }
}

/// `i` compared with `x` exactly, as CPython compares an int with a float.
fn int_cmp_float(i: i128, x: f64) -> Option<Ordering> {
    // 2^127: above every i128 (they run from -2^127 to 2^127 - 1).
    const BEYOND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if x.is_nan() {
        None
    } else if x >= BEYOND {
        Some(Ordering::Less)
    } else if x < -BEYOND {
        Some(Ordering::Greater)
    } else {
        // `t` is an integer in [-2^127, 2^127): `as` converts it exactly.
        let t = x.trunc();
        let frac = x - t; // exact, finite, and of the sign of `x` (or zero)
        Some(i.cmp(&(t as i128)).then(0.0.partial_cmp(&frac)?))
    }
}

impl std::fmt::Display for Length {
    /// An int in full, a float as Rust prints an `f64` (`-1`, `0.5`, `NaN`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Length::Int(i) => write!(f, "{i}"),
            Length::Float(x) => write!(f, "{x}"),
        }
    }
}

/// [`edge_weight`], keeping an int weight an int.
#[inline]
fn edge_length<O: Payload>(
    view: &GraphView<'_, O>,
    u: Ix,
    w: Ix,
    weight: AttrId,
) -> Result<Length> {
    let Some(v) = view.edge_attrs(u, w).and_then(|a| a.get(weight)) else {
        return Ok(Length::Float(1.0));
    };
    match v.number() {
        Some(Number::Int(i)) => Ok(Length::Int(i.into())),
        Some(Number::Float(x)) => Ok(Length::Float(x)),
        _ => Err(GraphError::InvalidType(format!(
            "edge {} -> {}: weight attribute {} is not numeric ({})",
            view.key(u),
            view.key(w),
            PyRepr(&super::value::name_of(weight)),
            value_kind(v)
        ))),
    }
}

fn value_kind<O: Payload>(v: &Value<O>) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        // Any object the engine keeps opaque: one that stands for a number
        // (a numpy scalar, an int subclass) is numeric, so never named here.
        Value::Opaque(o) => match o.number() {
            Some(Number::Bool(_)) => "bool",
            _ => "a Python object that is not a number",
        },
    }
}

/// Unweighted single-source distances in BFS order: `(node, hops)`.
pub fn bfs_lengths<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, usize)>> {
    let (order, starts) = bfs_levels(view, src, None, cancel)?;
    let mut depth = 0;
    Ok(order
        .into_iter()
        .enumerate()
        .map(|(i, ix)| {
            while starts.get(depth + 1).is_some_and(|&next| next <= i) {
                depth += 1;
            }
            (ix, depth)
        })
        .collect())
}

/// The path `src -> dst` read back from a predecessor map.
pub fn walk_back(pred: &Preds, src: Ix, dst: Ix) -> Vec<Ix> {
    let mut path = vec![dst];
    let mut cur = dst;
    while cur != src {
        cur = pred[&cur];
        path.push(cur);
    }
    path.reverse();
    path
}

/// Unweighted shortest path `src -> dst` (BFS with parents), `None` if unreachable.
pub fn bfs_path<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    dst: Ix,
    cancel: &Cancel<'_>,
) -> Result<Option<Vec<Ix>>> {
    if src == dst {
        return Ok(Some(vec![src]));
    }
    let mut parent: FastMap<Ix, Ix> = FastMap::default();
    parent.insert(src, src);
    let mut queue = VecDeque::from([src]);
    let mut steps = 0usize;
    while let Some(u) = queue.pop_front() {
        steps += 1;
        if steps % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        for &w in view.out(u) {
            if parent.contains_key(&w) {
                continue;
            }
            parent.insert(w, u);
            if w == dst {
                return Ok(Some(walk_back(&parent, src, dst)));
            }
            queue.push_back(w);
        }
    }
    Ok(None)
}

/// Settled `(node, distance)` pairs, in settle order.
pub type Settled = Vec<(Ix, Length)>;
/// The predecessor of each settled node on its shortest path.
pub type Preds = FastMap<Ix, Ix>;

/// A queued `(distance, push counter, node)`.
struct HeapItem(Length, u64, Ix);

/// Python's `(distance, counter, node) < (distance, counter, node)`: the
/// counters decide between equal distances (compared exactly, an int with
/// a float included); a NaN distance is neither less nor greater than any
/// other, nor equal to one.
#[inline]
fn py_lt(a: &HeapItem, b: &HeapItem) -> bool {
    match a.0.py_cmp(b.0) {
        Some(Ordering::Equal) => a.1 < b.1,
        order => order == Some(Ordering::Less),
    }
}

/// The priority queue of NetworkX's Dijkstra: Python's `heapq` on
/// `(distance, counter, node)` tuples, replicated step for step (CPython's
/// `_heapq` sift-down and bottom-up sift-up) with Python's comparisons. A
/// heap ordered otherwise settles nodes in another order once a NaN weight
/// makes distances incomparable, and then finds other distances.
struct PyHeap(Vec<HeapItem>);

impl PyHeap {
    fn push(&mut self, item: HeapItem) {
        self.0.push(item);
        self.sift_down(0, self.0.len() - 1);
    }

    fn pop(&mut self) -> Option<HeapItem> {
        let last = self.0.pop()?;
        if self.0.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.0[0], last);
        self.sift_up(0);
        Some(top)
    }

    /// `heapq._siftdown`: the item at `pos` rises while less than its parent.
    fn sift_down(&mut self, start: usize, mut pos: usize) {
        while pos > start {
            let parent = (pos - 1) >> 1;
            if !py_lt(&self.0[pos], &self.0[parent]) {
                break;
            }
            self.0.swap(pos, parent);
            pos = parent;
        }
    }

    /// `heapq._siftup`: the smaller child (the right one unless the left is
    /// less) moves up until a leaf, then the item rises from there.
    fn sift_up(&mut self, mut pos: usize) {
        let (end, start) = (self.0.len(), pos);
        while pos < end >> 1 {
            let mut child = 2 * pos + 1;
            if child + 1 < end && !py_lt(&self.0[child], &self.0[child + 1]) {
                child += 1;
            }
            self.0.swap(child, pos);
            pos = child;
        }
        self.sift_down(start, pos);
    }
}

/// Dijkstra from `src` on numeric edge attribute `weight`. Returns settled
/// `(node, distance)` in settle order and the predecessor of each settled
/// node; stops early once `target` is settled.
pub fn dijkstra<O: Payload>(
    view: &GraphView<'_, O>,
    src: Ix,
    target: Option<Ix>,
    weight: AttrId,
    cancel: &Cancel<'_>,
) -> Result<(Settled, Preds)> {
    let mut best: FastMap<Ix, Length> = FastMap::default();
    let mut pred: FastMap<Ix, Ix> = FastMap::default();
    let mut done: FastMap<Ix, Length> = FastMap::default();
    let mut settled = Vec::new();
    let mut heap = PyHeap(Vec::new());
    let mut counter = 0u64;
    best.insert(src, Length::ZERO);
    heap.push(HeapItem(Length::ZERO, counter, src));
    while let Some(HeapItem(d, _, u)) = heap.pop() {
        match done.entry(u) {
            std::collections::hash_map::Entry::Occupied(_) => continue,
            std::collections::hash_map::Entry::Vacant(e) => e.insert(d),
        };
        settled.push((u, d));
        if settled.len() % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        if Some(u) == target {
            break;
        }
        for &w in view.out(u) {
            let c = edge_length(view, u, w, weight)?;
            if c.py_lt(Length::ZERO) {
                return Err(GraphError::InvalidValue(format!(
                    "negative weight {c} on edge {} -> {}",
                    view.key(u),
                    view.key(w)
                )));
            }
            let nd = d.plus(c);
            if let Some(&at) = done.get(&w) {
                // Only a NaN weight, which leaves the queue out of order,
                // can settle a node before a shorter path to it: NetworkX
                // raises the same `ValueError` there.
                if nd.py_lt(at) {
                    return Err(contradictory(view, u, w, at, nd));
                }
                continue;
            }
            if best.get(&w).is_none_or(|&b| nd.py_lt(b)) {
                best.insert(w, nd);
                pred.insert(w, u);
                counter += 1;
                heap.push(HeapItem(nd, counter, w));
            }
        }
    }
    Ok((settled, pred))
}

#[cold]
fn contradictory<O: Payload>(
    view: &GraphView<'_, O>,
    u: Ix,
    w: Ix,
    at: Length,
    nd: Length,
) -> GraphError {
    GraphError::InvalidValue(format!(
        "contradictory paths found (a NaN weight?): node {} was settled at distance {at} \
         before edge {} -> {} reached it at {nd}",
        view.key(w),
        view.key(u),
        view.key(w)
    ))
}

/// Connected components (weak when directed): largest first, ties by the
/// insertion order of their first node; nodes in insertion order.
pub fn connected_components<O: Payload>(
    view: &GraphView<'_, O>,
    cancel: &Cancel<'_>,
) -> Result<Vec<Vec<Ix>>> {
    let ixs: Vec<Ix> = view.ixs().collect();
    let mut sets = UnionFind::of_edges(view, &ixs, cancel)?;
    // Components numbered as their roots come (in index order, a root
    // before the rest of its component: it is the smallest); members in
    // index order.
    let mut sizes: Vec<usize> = Vec::new();
    let mut of: Vec<u32> = Vec::with_capacity(ixs.len());
    // Each root slot's component number.
    let mut labels = vec![u32::MAX; sets.parent.len()];
    for (i, &ix) in ixs.iter().enumerate() {
        if i % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let slot = sets.slot(ix);
        let root = sets.find(slot);
        if root == slot {
            labels[root as usize] = sizes.len() as u32;
            sizes.push(0);
        }
        let id = labels[root as usize];
        sizes[id as usize] += 1;
        of.push(id);
    }
    drop((sets, labels));
    let mut members: Vec<Vec<Ix>> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (ix, id) in ixs.into_iter().zip(of) {
        members[id as usize].push(ix);
    }
    // Stable sort: equal sizes keep discovery order = first node's insertion order.
    members.sort_by_key(|m| std::cmp::Reverse(m.len()));
    Ok(members)
}

/// Disjoint sets of a view's nodes, joined along every edge: a union-find
/// over slots (a node's index less the view's lowest, or, when indices are
/// sparse after churn, its position among the live nodes), whose parents
/// always point to a smaller slot, so a set's root is its first node in
/// insertion order.
///
/// On the calling thread: on the rayon pool (a root linked by a
/// compare-and-swap) it took 17-20 ms instead of 27-28 on the bench's
/// graph, but the bench's next query then took 43-45 ms instead of 28-31
/// (allocations of the work the pool's threads ran, in glibc's per-thread
/// arenas: with `MALLOC_ARENA_MAX=1` the difference went away).
struct UnionFind {
    parent: Vec<u32>,
    /// `None`: slots are `ix - lo`; else each live node's position.
    positions: Option<Table<u32>>,
    lo: Ix,
}

impl UnionFind {
    const ROOT: u32 = u32::MAX;

    fn of_edges<O: Payload>(
        view: &GraphView<'_, O>,
        ixs: &[Ix],
        cancel: &Cancel<'_>,
    ) -> Result<Self> {
        let sparse = sparse_view(view, ixs.len());
        let size = if sparse { ixs.len() } else { view.span() };
        let mut sets = Self {
            parent: vec![Self::ROOT; size],
            positions: sparse.then(|| positions(view, ixs)),
            lo: view.lo(),
        };
        // Out-lists in index order (each list once, in memory order; a
        // search reads both lists of each node, in search order, at random).
        for (i, &u) in ixs.iter().enumerate() {
            if i % CHECK_EVERY == 0 {
                cancel.check()?;
            }
            // Out-lists 8 nodes ahead; the entries of the neighbours of the
            // node 2 ahead (its list has arrived by now): an entry is a
            // random read of a table larger than the core's cache.
            if let Some(&ahead) = ixs.get(i + PREFETCH_AHEAD) {
                view.prefetch_out(ahead);
            }
            if let Some(&near) = ixs.get(i + 2) {
                for &w in view.out(near) {
                    sets.prefetch(w);
                }
            }
            let a = sets.slot(u);
            for &w in view.out(u) {
                let b = sets.slot(w);
                sets.union(a, b);
            }
        }
        Ok(sets)
    }

    #[inline]
    fn slot(&self, ix: Ix) -> u32 {
        match &self.positions {
            None => ix - self.lo,
            Some(pos) => *pos.get(ix),
        }
    }

    #[inline]
    fn prefetch(&self, ix: Ix) {
        if self.positions.is_none() {
            let at = ix.wrapping_sub(self.lo) as usize;
            super::adjacency::prefetch_addr(self.parent.as_ptr().wrapping_add(at).cast());
        }
    }

    /// The root of `x`'s set, halving the path on the way.
    #[inline]
    fn find(&mut self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize];
            if p == Self::ROOT {
                return x;
            }
            let grand = self.parent[p as usize];
            if grand == Self::ROOT {
                return p;
            }
            self.parent[x as usize] = grand;
            x = grand;
        }
    }

    /// Joins the sets of `a` and `b`: the larger root goes under the smaller.
    #[inline]
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb) as usize] = ra.min(rb);
        }
    }
}

/// PageRank exactly as NetworkX defines it (`nx.pagerank`): uniform start and
/// teleport, dangling nodes' rank spread uniformly, edge weights from
/// `weight` (1 when absent), convergence when the L1 change < N * tol.
/// Returns ranks in node (insertion) order, or `Convergence` after `max_iter`.
///
/// This function is multithreaded above `PAR_MIN_NODES` nodes (rayon pool).
pub fn pagerank<O: Payload>(
    view: &GraphView<'_, O>,
    alpha: f64,
    max_iter: usize,
    tol: f64,
    weight: Option<AttrId>,
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, f64)>> {
    let ixs: Vec<Ix> = view.ixs().collect();
    let n = ixs.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let Some(attr) = weight else {
        return pagerank_unweighted(view, ixs, (alpha, max_iter, tol), cancel);
    };
    let pos = positions(view, &ixs);
    // Each row's scale, as NetworkX computes it: 1 / the out-weight sum (0
    // for a zero sum). A row scaled by 0 (a zero or an infinite sum) is
    // dangling, its entries dropped.
    let mut row_scale = vec![0.0f64; n];
    for (p, &u) in ixs.iter().enumerate() {
        // Reading edge weights is the slow part of the setup: ~0.7 s on 1.5M
        // edges. Ctrl-C and cancellation are seen within it too.
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let mut s = 0.0;
        for &w in view.out(u) {
            s += edge_weight(view, u, w, attr)?;
        }
        row_scale[p] = if s != 0.0 { 1.0 / s } else { 0.0 };
    }
    cancel.check()?;
    // In-edge CSR over positions with normalised weights w(u,v) * row_scale(u).
    let mut in_w: Vec<f64> = Vec::new();
    let (in_off, in_src) = in_csr(view, &ixs, &pos, cancel, |u, v, pu| {
        let w = edge_weight(view, u, v, attr)?;
        let scale = row_scale[pu as usize];
        in_w.push(if scale == 0.0 { 0.0 } else { w * scale });
        Ok(())
    })?;
    cancel.check()?;
    let dangling: Vec<u32> = (0..n as u32)
        .filter(|&p| row_scale[p as usize] == 0.0)
        .collect();
    let x = power_iterate(
        vec![1.0 / n as f64; n],
        Sweep {
            n,
            live: None,
            out_deg: None,
            dangling: &dangling,
        },
        (alpha, max_iter, tol),
        cancel,
        |v, x| {
            let (a, b) = (in_off[v] as usize, in_off[v + 1] as usize);
            let mut acc = 0.0;
            for k in a..b {
                acc += x[in_src[k] as usize] * in_w[k];
            }
            acc
        },
    )?;
    Ok(ixs.into_iter().zip(x).collect())
}

/// What a [`power_iterate`] sweep covers: `n` live nodes among the slots,
/// which ones are live (`None`: all), the out-degrees to divide ranks by
/// before the rows read them (`None`: rows apply their own weights), and
/// the dangling slots.
struct Sweep<'a> {
    n: usize,
    live: Option<&'a [bool]>,
    out_deg: Option<&'a [u32]>,
    dangling: &'a [u32],
}

/// The power iteration both pagerank paths share, NetworkX's update:
/// `x'[v] = alpha * (row(v) + dangling mass / n) + (1 - alpha) / n`, until
/// the L1 change is below `n * tol`. `row(v, input)` sums what `v` receives
/// from `input` (the ranks, or the ranks divided by out-degree).
fn power_iterate(
    mut x: Vec<f64>,
    sweep: Sweep<'_>,
    (alpha, max_iter, tol): (f64, usize, f64),
    cancel: &Cancel<'_>,
    row: impl Fn(usize, &[f64]) -> f64 + Sync,
) -> Result<Vec<f64>> {
    let Sweep {
        n,
        live,
        out_deg,
        dangling,
    } = sweep;
    let nf = n as f64;
    let mut next = vec![0.0f64; x.len()];
    let mut share = vec![0.0f64; if out_deg.is_some() { x.len() } else { 0 }];
    let parallel = n >= PAR_MIN_NODES && rayon::current_num_threads() > 1 && parallel_ok();
    for _ in 0..max_iter {
        cancel.check()?;
        let dsum: f64 = dangling.iter().map(|&i| x[i as usize]).sum();
        let base = alpha * dsum / nf + (1.0 - alpha) / nf;
        if let Some(deg) = out_deg {
            for ((s, &xi), &d) in share.iter_mut().zip(&x).zip(deg) {
                *s = if d == 0 { 0.0 } else { xi / d as f64 };
            }
        }
        let input: &[f64] = if out_deg.is_some() { &share } else { &x };
        let step = |i: usize, slot: &mut f64| -> f64 {
            if live.is_some_and(|l| !l[i]) {
                return 0.0;
            }
            let nv = alpha * row(i, input) + base;
            *slot = nv;
            (nv - x[i]).abs()
        };
        // In parts of SWEEP_PART nodes, with a check before each: handed
        // to rayon whole, a sweep of a 3M-node graph kept the owner thread
        // (the one that polls for Ctrl-C) blocked for 100 ms and more.
        let mut err = 0.0f64;
        for (p, part) in next.chunks_mut(SWEEP_PART).enumerate() {
            if p > 0 {
                cancel.check()?;
            }
            let first = p * SWEEP_PART;
            err += if parallel {
                part.par_iter_mut()
                    .enumerate()
                    .with_min_len(4096)
                    .map(|(i, slot)| step(first + i, slot))
                    .sum::<f64>()
            } else {
                part.iter_mut()
                    .enumerate()
                    .map(|(i, slot)| step(first + i, slot))
                    .sum::<f64>()
            };
        }
        std::mem::swap(&mut x, &mut next);
        if err < nf * tol {
            return Ok(x);
        }
    }
    Err(no_convergence(max_iter, tol))
}

fn no_convergence(max_iter: usize, tol: f64) -> GraphError {
    GraphError::Convergence(format!(
        "pagerank did not converge within max_iter={max_iter} iterations (tol={tol})"
    ))
}

/// Unweighted [`pagerank`] straight over the view's in-lists: in index space
/// (`ix - lo`), with each node's rank share `x[u] / out_degree(u)` computed
/// once per iteration, so it builds no edge-sized arrays of its own. The
/// same sums as the weighted path, one multiplication fewer per edge.
fn pagerank_unweighted<O: Payload>(
    view: &GraphView<'_, O>,
    ixs: Vec<Ix>,
    params: (f64, usize, f64),
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, f64)>> {
    let n = ixs.len();
    if sparse_view(view, n) {
        let pos = positions(view, &ixs);
        return pagerank_unweighted_sparse(view, (ixs, pos), params, cancel);
    }
    let nf = n as f64;
    let lo = view.lo();
    let span = view.span();
    let mut live = vec![false; span];
    let mut out_deg = vec![0u32; span];
    for (p, &ix) in ixs.iter().enumerate() {
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let i = (ix - lo) as usize;
        live[i] = true;
        out_deg[i] = view.out(ix).len() as u32;
    }
    let dangling: Vec<u32> = ixs
        .iter()
        .map(|&ix| ix - lo)
        .filter(|&i| out_deg[i as usize] == 0)
        .collect();
    cancel.check()?;
    let mut x = vec![0.0f64; span];
    for &ix in &ixs {
        x[(ix - lo) as usize] = 1.0 / nf;
    }
    let sweep = Sweep {
        n,
        live: Some(&live),
        out_deg: Some(&out_deg),
        dangling: &dangling,
    };
    let x = power_iterate(x, sweep, params, cancel, |i, share| {
        view.inn(lo + i as Ix)
            .iter()
            .map(|&u| share[(u - lo) as usize])
            .sum()
    })?;
    Ok(ixs
        .into_iter()
        .map(|ix| (ix, x[(ix - lo) as usize]))
        .collect())
}

/// [`pagerank_unweighted`] over positions in `ixs` instead of the index
/// range, for a graph whose live nodes are few against that range
/// ([`sparse_view`]): in-lists are read once into a CSR over positions. The
/// same sums in the same order, so the same ranks.
fn pagerank_unweighted_sparse<O: Payload>(
    view: &GraphView<'_, O>,
    (ixs, pos): (Vec<Ix>, Table<u32>),
    params: (f64, usize, f64),
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, f64)>> {
    let n = ixs.len();
    let out_deg: Vec<u32> = ixs.iter().map(|&ix| view.out(ix).len() as u32).collect();
    let (in_off, in_src) = in_csr(view, &ixs, &pos, cancel, |_, _, _| Ok(()))?;
    let dangling: Vec<u32> = (0..n as u32)
        .filter(|&p| out_deg[p as usize] == 0)
        .collect();
    let sweep = Sweep {
        n,
        live: None,
        out_deg: Some(&out_deg),
        dangling: &dangling,
    };
    let x = power_iterate(
        vec![1.0 / n as f64; n],
        sweep,
        params,
        cancel,
        |p, share| {
            in_src[in_off[p] as usize..in_off[p + 1] as usize]
                .iter()
                .map(|&u| share[u as usize])
                .sum()
        },
    )?;
    Ok(ixs.into_iter().zip(x).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cancel::never;
    use crate::engine::{AttrMap, Graph, NodeId, NodeRef};

    fn path_graph(directed: bool, n: i64) -> Graph<()> {
        let g = Graph::with_shards(directed, 4);
        for i in 0..n {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        for i in 0..n - 1 {
            g.add_edge(NodeRef::Int(i), NodeRef::Int(i + 1), AttrMap::new())
                .unwrap();
        }
        g
    }

    #[test]
    fn whole_graph_algorithms_give_the_same_answers_after_churn() {
        // Two graphs of the same 300 nodes and edges; in one, 100,000 nodes
        // were added and removed between the first 150 and the rest, so its
        // live nodes are few against its index range (the sparse paths).
        let build = |churn: i64| {
            let g: Graph<()> = Graph::with_shards(true, 8);
            for i in 0..300i64 {
                if i == 150 {
                    for j in 0..churn {
                        g.add_node(NodeRef::Int(-1 - j), AttrMap::new()).unwrap();
                        g.remove_node(NodeRef::Int(-1 - j)).unwrap();
                    }
                }
                g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
            }
            let mut next = crate::engine::testing::xorshift(7);
            for _ in 0..900 {
                let (s, t) = (next(300) as i64, next(300) as i64);
                let _ = g.add_edge(NodeRef::Int(s), NodeRef::Int(t), AttrMap::new());
            }
            g
        };
        let (dense, churned) = (build(0), build(100_000));
        let results = |g: &Graph<()>| {
            let snap = g.snapshot();
            let view = snap.view();
            let ids = |ixs: Vec<Ix>| never(|c| view.keys(&ixs, c)).unwrap();
            let order = ids(view.ixs().collect());
            let cc: Vec<Vec<NodeId>> = never(|c| connected_components(&view, c))
                .unwrap()
                .into_iter()
                .map(ids)
                .collect();
            let ranks: Vec<(NodeId, f64)> = never(|c| pagerank(&view, 0.85, 100, 1e-6, None, c))
                .unwrap()
                .into_iter()
                .map(|(ix, r)| (view.key(ix).clone(), r))
                .collect();
            (sparse_view(&view, order.len()), order, cc, ranks)
        };
        let (was_sparse, order, cc, ranks) = results(&dense);
        let (is_sparse, order2, cc2, ranks2) = results(&churned);
        assert!(
            !was_sparse && is_sparse,
            "the churned graph takes the sparse paths"
        );
        assert_eq!(order, order2);
        assert_eq!(cc, cc2);
        assert_eq!(ranks, ranks2, "the same sums in the same order");
    }

    #[test]
    fn searches_agree_whether_their_seen_set_is_sparse_dense_or_starts_over() {
        // A pseudo-random digraph large enough that a search from a big
        // component outgrows the sparse set (and starts over), plus a small
        // component that never does.
        let n = 70_000i64;
        let g = Graph::<()>::with_shards(true, 4);
        g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
            .unwrap();
        let mut next = crate::engine::testing::xorshift(12345);
        let mut rnd = |m: i64| next(m as u64) as i64;
        for _ in 0..3 * n {
            let (s, t) = (rnd(n - 10), rnd(n - 10));
            let _ = g.add_edge(NodeRef::Int(s), NodeRef::Int(t), AttrMap::new());
        }
        for i in n - 10..n - 1 {
            g.add_edge(NodeRef::Int(i), NodeRef::Int(i + 1), AttrMap::new())
                .unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let endless = || Sparse {
            set: FastSet::default(),
            budget: usize::MAX,
        };
        for src in [0, n - 10] {
            let ix = g.resolve(NodeRef::Int(src)).unwrap();
            let dense = never(|c| bfs_with(&view, ix, None, c, Dense::new(&view, false)))
                .unwrap()
                .unwrap();
            let sparse = never(|c| bfs_with(&view, ix, None, c, endless()))
                .unwrap()
                .unwrap();
            assert_eq!(dense, sparse);
            let (dense, starts) = dense;
            assert_eq!(never(|c| bfs(&view, ix, None, c)).unwrap(), dense);
            let short = never(|c| bfs(&view, ix, Some(2), c)).unwrap();
            assert_eq!(short[..], dense[..short.len()]);
            assert_eq!(short.len(), starts.get(3).copied().unwrap_or(dense.len()));
            let dfs_dense = never(|c| dfs_with(&view, ix, c, Dense::new(&view, false)))
                .unwrap()
                .unwrap();
            let dfs_sparse = never(|c| dfs_with(&view, ix, c, endless()))
                .unwrap()
                .unwrap();
            assert_eq!(dfs_dense, dfs_sparse);
            assert_eq!(never(|c| dfs(&view, ix, c)).unwrap(), dfs_dense);
            // Distances against a plain BFS that keeps them in a map.
            let lens = never(|c| bfs_lengths(&view, ix, c)).unwrap();
            let mut dist = FastMap::default();
            dist.insert(ix, 0usize);
            let mut queue = VecDeque::from([ix]);
            while let Some(u) = queue.pop_front() {
                for &w in view.out(u) {
                    if !dist.contains_key(&w) {
                        dist.insert(w, dist[&u] + 1);
                        queue.push_back(w);
                    }
                }
            }
            assert_eq!(lens.len(), dist.len());
            assert!(lens.iter().all(|(ix, d)| dist[ix] == *d));
            assert_eq!(lens.iter().map(|&(ix, _)| ix).collect::<Vec<_>>(), dense);
            // The big component outgrows the sparse set; the small one not.
            let small = never(|c| bfs_with(&view, ix, None, c, Sparse::new(&view))).unwrap();
            assert_eq!(small.is_some(), src == n - 10, "source {src}");
        }
    }

    #[test]
    fn dijkstra_sums_int_weights_exactly_and_turns_float_at_a_float() {
        // 0 -2^62-> 1 -2^62-> 2 -2^62-> 3 (ints past 2^63 in total, exact),
        // 0 -1-> 4 -0.5-> 5 (a float from there), 3 -> 5 without a weight.
        let g: Graph<()> = Graph::with_shards(true, 4);
        for i in 0..6 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        let w = crate::engine::value::intern("algo-test-weight");
        let big = 1i64 << 62;
        let edge = |s: i64, t: i64, v: Option<Value<()>>| {
            let mut attrs = AttrMap::new();
            if let Some(v) = v {
                attrs.insert(w, v);
            }
            g.add_edge(NodeRef::Int(s), NodeRef::Int(t), attrs).unwrap();
        };
        for i in 0..3 {
            edge(i, i + 1, Some(Value::Int(big)));
        }
        edge(0, 4, Some(Value::Int(1)));
        edge(4, 5, Some(Value::Float(0.5)));
        edge(3, 5, None);
        let snap = g.snapshot();
        let v = snap.view();
        let ix = |i| g.resolve(NodeRef::Int(i)).unwrap();
        let (settled, _) = never(|c| dijkstra(&v, ix(0), None, w, c)).unwrap();
        let by_key: Vec<(NodeId, Length)> = settled
            .iter()
            .map(|&(x, d)| (v.key(x).clone(), d))
            .collect();
        let b = i128::from(big);
        assert_eq!(
            by_key,
            [
                (NodeId::Int(0), Length::Int(0)),
                (NodeId::Int(4), Length::Int(1)),
                (NodeId::Int(5), Length::Float(1.5)),
                (NodeId::Int(1), Length::Int(b)),
                (NodeId::Int(2), Length::Int(2 * b)),
                (NodeId::Int(3), Length::Int(3 * b)),
            ]
        );
        assert_eq!(Length::Int(3 * b).to_string(), "13835058055282163712");
        assert_eq!(Length::Float(-1.0).to_string(), "-1");
        assert_eq!(Length::of_unweighted(0), Length::ZERO);
        assert_eq!(Length::of_unweighted(2), Length::Float(2.0));
    }

    #[test]
    fn lengths_compare_as_python_numbers() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let (i, f) = (Length::Int, Length::Float);
        let p53 = 1i128 << 53;
        let cases = [
            (i(p53 + 1), f(2f64.powi(53)), Some(Greater)), // equal as floats
            (i(p53 + 3), f(2f64.powi(53) + 4.0), Some(Less)),
            (i(p53), f(2f64.powi(53)), Some(Equal)),
            (i(0), f(-0.0), Some(Equal)),
            (i(-1), f(-0.5), Some(Less)),
            (i(-1), f(-1.5), Some(Greater)),
            (i(2), f(2.5), Some(Less)),
            (i(i128::MAX), f(2f64.powi(127)), Some(Less)),
            (i(i128::MIN), f(-(2f64.powi(127))), Some(Equal)),
            (i(i128::MIN), f(-(2f64.powi(128))), Some(Greater)),
            (i(i128::MAX), f(f64::INFINITY), Some(Less)),
            (i(i128::MIN), f(f64::NEG_INFINITY), Some(Greater)),
            (i(0), f(f64::NAN), None),
            (f(f64::NAN), f(f64::NAN), None),
            (i(3), i(-3), Some(Greater)),
            (f(1.0), f(2.0), Some(Less)),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.py_cmp(b), want, "{a:?} vs {b:?}");
            assert_eq!(b.py_cmp(a), want.map(Ordering::reverse), "{b:?} vs {a:?}");
            assert_eq!(a.py_lt(b), want == Some(Less));
        }
    }

    #[test]
    fn dijkstra_queue_pops_as_pythons_heapq_does() {
        // Expected: `heapq` on `(d, counter, counter)` tuples with the same
        // pushes and pops, NaN and signed zeros included.
        let nan = f64::NAN;
        let mut heap = PyHeap(Vec::new());
        let (mut counter, mut popped) = (0u64, Vec::new());
        let mut push = |heap: &mut PyHeap, d: f64| {
            heap.push(HeapItem(Length::Float(d), counter, counter as Ix));
            counter += 1;
        };
        for d in [nan, 1.0, 3.0] {
            push(&mut heap, d);
        }
        popped.push(heap.pop().unwrap().1);
        for d in [nan, 0.5, 2.0] {
            push(&mut heap, d);
        }
        popped.push(heap.pop().unwrap().1);
        for d in [nan, 1.0, -0.0, 0.0] {
            push(&mut heap, d);
        }
        while let Some(item) = heap.pop() {
            popped.push(item.1);
        }
        assert_eq!(popped, [0, 4, 3, 8, 9, 7, 5, 1, 6, 2]);
    }

    #[test]
    fn bfs_respects_depth_and_order() {
        let g = path_graph(true, 6);
        let snap = g.snapshot();
        let v = snap.view();
        let src = g.resolve(NodeRef::Int(0)).unwrap();
        let keys = |ixs: Vec<Ix>| {
            ixs.into_iter()
                .map(|i| v.key(i).clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(never(|c| bfs(&v, src, Some(2), c)).unwrap()),
            [0, 1, 2].map(NodeId::Int)
        );
        assert_eq!(never(|c| bfs(&v, src, None, c)).unwrap().len(), 6);
        assert_eq!(
            keys(never(|c| k_hop(&v, src, 2, c)).unwrap()),
            [1, 2].map(NodeId::Int)
        );
    }

    #[test]
    fn k_hop_within_gives_up_past_its_limit_and_agrees_below_it() {
        let g = path_graph(true, 50);
        let snap = g.snapshot();
        let v = snap.view();
        let src = g.resolve(NodeRef::Int(0)).unwrap();
        for k in [0, 1, 5, 49, 60] {
            let full = never(|c| k_hop(&v, src, k, c)).unwrap();
            assert_eq!(
                k_hop_within(&v, src, k, full.len()),
                Some(full.clone()),
                "k={k}"
            );
            if !full.is_empty() {
                assert_eq!(k_hop_within(&v, src, k, full.len() - 1), None, "k={k}");
            }
        }
    }

    #[test]
    fn k_hop_is_bfs_to_depth_k_without_the_source() {
        // Cycles, self-loops, parallel paths and a node with no out-edges;
        // the larger graph's results pass `Met::SCAN_MAX` (a set takes over
        // mid-search).
        for (directed, (n, m)) in [true, false]
            .into_iter()
            .flat_map(|d| [(60u64, 150), (300, 1_200)].map(|nm| (d, nm)))
        {
            let g = Graph::<()>::with_shards(directed, 4);
            for i in 0..n as i64 {
                g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
            }
            let mut x = 7u64;
            for _ in 0..m {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (s, t) = ((x >> 33) % (n - 1), (x >> 17) % (n - 1));
                let _ = g.add_edge(
                    NodeRef::Int(s as i64),
                    NodeRef::Int(t as i64),
                    AttrMap::new(),
                );
            }
            let snap = g.snapshot();
            let v = snap.view();
            let mut past_scan = 0;
            for src in (0..n as i64).map(|i| g.resolve(NodeRef::Int(i)).unwrap()) {
                for k in 0..5 {
                    let got = never(|c| k_hop(&v, src, k, c)).unwrap();
                    let want = never(|c| bfs(&v, src, Some(k), c)).unwrap();
                    assert_eq!(got, want[1..], "src {src}, k {k}, directed {directed}");
                    past_scan += usize::from(got.len() > Met::SCAN_MAX);
                }
            }
            assert_eq!(past_scan > 0, n > 64, "n {n}");
        }
    }

    /// Weak components by a plain search over both lists (the order
    /// [`connected_components`] promises), to check it against.
    fn components_by_search(view: &GraphView<'_, ()>) -> Vec<Vec<Ix>> {
        let ixs: Vec<Ix> = view.ixs().collect();
        let mut comp: FastMap<Ix, usize> = FastMap::default();
        let mut comps: Vec<Vec<Ix>> = Vec::new();
        for &root in &ixs {
            if comp.contains_key(&root) {
                continue;
            }
            comp.insert(root, comps.len());
            let mut stack = vec![root];
            while let Some(u) = stack.pop() {
                for &w in view.out(u).iter().chain(view.inn(u)) {
                    if let std::collections::hash_map::Entry::Vacant(e) = comp.entry(w) {
                        e.insert(comps.len());
                        stack.push(w);
                    }
                }
            }
            comps.push(Vec::new());
        }
        for ix in ixs {
            comps[comp[&ix]].push(ix);
        }
        comps.sort_by_key(|m| std::cmp::Reverse(m.len()));
        comps
    }

    #[test]
    fn components_by_union_find_match_a_search() {
        // Thousands of components of many sizes over 60,000 nodes; directed
        // and not, and with churned (sparse) indices.
        for (directed, churn) in [(true, 0i64), (false, 0), (true, 70_000)] {
            let n = 60_000i64;
            let g: Graph<()> = Graph::with_shards(directed, 8);
            g.batch_add_nodes((0..n).map(|i| (NodeId::Int(i), None)).collect())
                .unwrap();
            for j in 0..churn {
                g.add_node(NodeRef::Int(n + j), AttrMap::new()).unwrap();
                g.remove_node(NodeRef::Int(n + j)).unwrap();
            }
            g.add_node(NodeRef::Int(n), AttrMap::new()).unwrap();
            let mut next = crate::engine::testing::xorshift(11);
            for _ in 0..n * 9 / 10 {
                let (s, t) = (next(n as u64 + 1) as i64, next(n as u64 + 1) as i64);
                let _ = g.add_edge(NodeRef::Int(s), NodeRef::Int(t), AttrMap::new());
            }
            let snap = g.snapshot();
            let view = snap.view();
            let got = never(|c| connected_components(&view, c)).unwrap();
            assert!(got.len() > 1_000, "many components: {}", got.len());
            assert_eq!(
                got,
                components_by_search(&view),
                "directed {directed}, churn {churn}"
            );
        }
    }

    #[test]
    fn components_largest_first() {
        let g = path_graph(false, 3);
        for i in 10..15 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        for i in 10..14 {
            g.add_edge(NodeRef::Int(i), NodeRef::Int(i + 1), AttrMap::new())
                .unwrap();
        }
        let snap = g.snapshot();
        let cc = never(|c| connected_components(&snap.view(), c)).unwrap();
        assert_eq!(cc.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 3]);
    }

    #[test]
    fn pagerank_sums_to_one_with_dangling_nodes() {
        let g = path_graph(true, 5);
        let snap = g.snapshot();
        let pr = never(|c| pagerank(&snap.view(), 0.85, 100, 1e-10, None, c)).unwrap();
        let total: f64 = pr.iter().map(|(_, x)| x).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(
            pr.windows(2).all(|w| w[0].1 < w[1].1),
            "rank grows along the path"
        );
    }

    #[test]
    fn cancelled_work_stops() {
        let g = path_graph(true, 10_000);
        let snap = g.snapshot();
        let flag = crate::sync::AtomicBool::new(true);
        let cancel = Cancel::new(&flag, None);
        let src = g.resolve(NodeRef::Int(0)).unwrap();
        assert_eq!(
            bfs(&snap.view(), src, None, &cancel),
            Err(GraphError::Interrupted)
        );
    }
}
