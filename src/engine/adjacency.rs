//! A compact, cached copy of the adjacency for whole-graph traversals.
//!
//! A traversal over the records themselves misses the cache twice per node
//! (the record, then its neighbour vector, both scattered across the heap)
//! and walks a working set larger than the last-level cache. [`AdjIndex`]
//! holds the same lists as one CSR per shard: an 8-byte span per slot and the
//! neighbours back to back, about 9 bytes per edge, which a 1M-edge graph
//! keeps in cache. Each shard's CSR is built from one shard version and kept
//! in the graph's [`ColumnCache`](super::filter::ColumnCache) until that shard
//! changes, so after a write only the written shards are rebuilt.
//!
//! Each shard's CSR also keeps its nodes' ids by slot, in the records'
//! chunks of [`CHUNK`] slots (16 bytes a slot of a chunk that holds a node;
//! a chunk that churn emptied keeps none): a whole-graph result (a `bfs`
//! order, `shortest_path_lengths`, components) names its nodes in traversal
//! order, which reads them at random, and a dense column of ids stays in
//! cache where the 64-byte records do not.

use super::cancel::Cancel;
use super::filter::ShardCol;
use super::id::NodeId;
use super::slots::{Run, CHUNK};
use super::store::{Ix, Shard};
use super::value::AttrId;
use crate::error::Result;
use crate::sync::Arc;

/// One shard's adjacency: slot `row` has out-neighbours
/// `outs[out_off[row]..out_off[row + 1]]` and in-neighbours
/// `ins[in_off[row]..in_off[row + 1]]`, in edge insertion order (a dead slot
/// has none). Out- and in-lists live apart so that a traversal along
/// out-edges keeps only half the entries in cache. `keys[row / CHUNK][row %
/// CHUNK]` is the slot's node id ([`DEAD`] for a dead slot; an emptied chunk
/// has no entries).
pub struct AdjColumn {
    version: u64,
    keys: Vec<Box<[NodeId]>>,
    out_off: Vec<u32>,
    outs: Vec<Ix>,
    in_off: Vec<u32>,
    ins: Vec<Ix>,
}

impl ShardCol for AdjColumn {
    fn build<O>(shard: &Shard<O>, _: AttrId, cancel: &Cancel<'_>) -> Result<Option<Self>> {
        let recs = || shard.slots.items().map(|(_, r)| r);
        let n_out: usize = recs().map(|r| r.out().len()).sum();
        let n_in: usize = recs().map(|r| r.inn().len()).sum();
        // Offsets are u32: a shard with 2^32 entries keeps using the records
        // (its column is `None`).
        if n_out.max(n_in) >= u32::MAX as usize {
            return Ok(None);
        }
        cancel.check()?;
        let mut since_check = 0;
        let rows = shard.slots.len() + 1;
        let mut col = Self {
            version: shard.version,
            keys: Vec::with_capacity((rows - 1).div_ceil(CHUNK)),
            out_off: Vec::with_capacity(rows),
            outs: Vec::with_capacity(n_out),
            in_off: Vec::with_capacity(rows),
            ins: Vec::with_capacity(n_in),
        };
        for run in shard.slots.runs() {
            let slots = match run {
                Run::Slots(slots) => {
                    cancel.check_every(&mut since_check, slots.len())?;
                    slots
                }
                Run::Empty(n) => {
                    let (o, i) = (col.outs.len() as u32, col.ins.len() as u32);
                    col.out_off.extend(std::iter::repeat_n(o, n));
                    col.in_off.extend(std::iter::repeat_n(i, n));
                    col.keys.push(Box::default());
                    continue;
                }
            };
            // One run is one chunk of the records (`Slots::runs`).
            let mut keys = Vec::with_capacity(slots.len());
            for slot in slots {
                col.out_off.push(col.outs.len() as u32);
                col.in_off.push(col.ins.len() as u32);
                keys.push(slot.as_ref().map_or(DEAD, |rec| {
                    col.outs.extend_from_slice(rec.out());
                    col.ins.extend_from_slice(rec.inn());
                    rec.key.clone()
                }));
            }
            col.keys.push(keys.into_boxed_slice());
        }
        col.out_off.push(col.outs.len() as u32);
        col.in_off.push(col.ins.len() as u32);
        Ok(Some(col))
    }

    fn version(&self) -> u64 {
        self.version
    }
}

impl AdjColumn {
    /// The id entry of `row` (`None` in a chunk churn emptied).
    #[inline]
    fn key_at(&self, row: usize) -> Option<&NodeId> {
        self.keys.get(row / CHUNK)?.get(row % CHUNK)
    }
}

/// A dead slot's entry in [`AdjColumn::keys`]. A live node may have this id
/// too: [`AdjIndex::key`] answers `None` for it, and the caller reads the
/// record (which also keeps "no such node" a panic, not a wrong id).
const DEAD: NodeId = NodeId::Int(0);

/// The adjacency of every shard of one view (`None` for a shard too large to
/// index, which the view then reads from its records).
pub struct AdjIndex {
    pub(crate) bits: u32,
    pub(crate) base: u32,
    pub(crate) shards: Vec<Option<Arc<AdjColumn>>>,
}

impl AdjIndex {
    /// The column and row of `ix`; `None` if its shard is not indexed (the
    /// caller reads the record), `Some(None)` past the shard's rows.
    #[inline]
    fn locate(&self, ix: Ix) -> Option<Option<(&AdjColumn, usize)>> {
        let col = self
            .shards
            .get((ix & ((1 << self.bits) - 1)) as usize)?
            .as_deref()?;
        let row = ((ix >> self.bits) as usize).checked_sub(self.base as usize);
        Some(row.filter(|&r| r + 1 < col.out_off.len()).map(|r| (col, r)))
    }

    /// Out-neighbours of `ix`; `None` if its shard is not indexed.
    #[inline]
    pub(crate) fn out(&self, ix: Ix) -> Option<&[Ix]> {
        Some(match self.locate(ix)? {
            Some((c, r)) => &c.outs[c.out_off[r] as usize..c.out_off[r + 1] as usize],
            None => &[],
        })
    }

    /// The id of live node `ix`; `None` if its shard is not indexed or the
    /// entry is [`DEAD`] (the caller reads the record).
    #[inline]
    pub(crate) fn key(&self, ix: Ix) -> Option<&NodeId> {
        let (c, r) = self.locate(ix)??;
        c.key_at(r).filter(|&key| *key != DEAD)
    }

    /// Starts loading the id of `ix` (a result's look-ahead); `false` if its
    /// shard is not indexed (the caller prefetches the record instead).
    #[inline]
    pub(crate) fn prefetch_key(&self, ix: Ix) -> bool {
        match self.locate(ix) {
            Some(Some((c, r))) => {
                if let Some(key) = c.key_at(r) {
                    prefetch(std::slice::from_ref(key));
                }
                true
            }
            Some(None) => true,
            None => false,
        }
    }

    /// Id entries held, over every shard (for tests of what churn costs).
    #[cfg(test)]
    fn key_slots(&self) -> usize {
        let held = |c: &AdjColumn| c.keys.iter().map(|chunk| chunk.len()).sum::<usize>();
        self.shards.iter().flatten().map(|c| held(c)).sum()
    }

    /// In-neighbours of `ix` (directed graphs); `None` if its shard is not indexed.
    #[inline]
    pub(crate) fn inn(&self, ix: Ix) -> Option<&[Ix]> {
        Some(match self.locate(ix)? {
            Some((c, r)) => &c.ins[c.in_off[r] as usize..c.in_off[r + 1] as usize],
            None => &[],
        })
    }
}

/// Hints the CPU to start loading `data` (a traversal calls it for the node
/// it will expand a few steps later, so the load overlaps the work between).
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T]) {
    prefetch_addr(data.as_ptr().cast());
}

/// [`prefetch`] of one address (any address: it is never dereferenced).
#[inline(always)]
pub(crate) fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, even on a bad address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use crate::engine::cancel::never;
    use crate::engine::slots::CHUNK;
    use crate::engine::store::GraphView;
    use crate::engine::{algo, AttrMap, Graph, NodeId, NodeRef};

    /// Every node's id and out- and in-lists, read through `view`.
    fn lists(view: &GraphView<'_, ()>) -> Vec<(u32, NodeId, Vec<u32>, Vec<u32>)> {
        view.ixs()
            .map(|ix| {
                let (out, inn) = (view.out(ix).to_vec(), view.inn(ix).to_vec());
                (ix, view.key(ix).clone(), out, inn)
            })
            .collect()
    }

    fn check(g: &Graph<()>) {
        let snap = g.snapshot();
        let plain = snap.view();
        let index = never(|c| g.columns.adjacency(&plain, c)).unwrap();
        let indexed = plain.with_adjacency(&index);
        assert_eq!(lists(&plain), lists(&indexed));
        let comps = |v: &GraphView<'_, ()>| never(|c| algo::connected_components(v, c)).unwrap();
        assert_eq!(comps(&plain), comps(&indexed));
    }

    #[test]
    fn index_matches_records_through_writes() {
        for directed in [true, false] {
            let g: Graph<()> = Graph::with_shards(directed, 4);
            for i in 0..40 {
                g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
            }
            for i in 0..40i64 {
                for d in [1, 7, 13] {
                    let _ = g.add_edge(
                        NodeRef::Int(i),
                        NodeRef::Int((i * d + 3) % 40),
                        AttrMap::new(),
                    );
                }
            }
            check(&g);
            // A write to some shards: only theirs are rebuilt, the rest reused.
            let before = never(|c| g.columns.adjacency(&g.snapshot().view(), c)).unwrap();
            g.remove_node(NodeRef::Int(5)).unwrap();
            g.add_edge(NodeRef::Int(1), NodeRef::Int(2), AttrMap::new())
                .ok();
            check(&g);
            let after = never(|c| g.columns.adjacency(&g.snapshot().view(), c)).unwrap();
            let reused = (0..4)
                .filter(|&s| match (&before.shards[s], &after.shards[s]) {
                    (Some(a), Some(b)) => crate::sync::Arc::ptr_eq(a, b),
                    _ => false,
                })
                .count();
            assert!((1..4).contains(&reused), "reused {reused} of 4 shards");
            g.add_node(NodeRef::Int(99), AttrMap::new()).unwrap();
            check(&g);
        }
    }

    #[test]
    fn index_ids_match_records_through_churn() {
        // Long ids (shared `Arc`s, not inline), and removals that leave
        // dead slots and free whole chunks (256 slots) of every shard.
        let g: Graph<()> = Graph::with_shards(true, 4);
        let name = |i: i64| format!("a node id longer than fifteen bytes {i}");
        for i in 0..3000 {
            g.add_node(NodeRef::Str(&name(i)), AttrMap::new()).unwrap();
        }
        for i in 0..2999 {
            let _ = g.add_edge(
                NodeRef::Str(&name(i)),
                NodeRef::Str(&name(i + 1)),
                AttrMap::new(),
            );
        }
        check(&g);
        for i in (0..2000).chain((2000..3000).step_by(3)) {
            g.remove_node(NodeRef::Str(&name(i))).unwrap();
        }
        g.add_node(NodeRef::Int(7), AttrMap::new()).unwrap();
        check(&g);
        // 3,001 slots used, 1,334 live: the chunks churn emptied keep no ids.
        let live_chunks = {
            let snap = g.snapshot();
            let index = never(|c| g.columns.adjacency(&snap.view(), c)).unwrap();
            index.key_slots()
        };
        assert!(
            live_chunks <= 4 * 2 * CHUNK,
            "{live_chunks} id entries after churn"
        );
        let snap = g.snapshot();
        let plain = snap.view();
        let index = never(|c| g.columns.adjacency(&plain, c)).unwrap();
        let indexed = plain.with_adjacency(&index);
        let order = never(|c| algo::bfs(&indexed, indexed.ixs().next().unwrap(), None, c)).unwrap();
        let keys = never(|c| indexed.keys(&order, c)).unwrap();
        assert_eq!(keys, never(|c| plain.keys(&order, c)).unwrap());
        assert_eq!(keys[0], NodeId::Str(name(2001).as_str().into()));
    }
}
