//! The int-id half of the key map: int node id → dense index.
//!
//! Most int-keyed graphs number their nodes `0..n` (NetworkX's generators,
//! edge lists from numpy, every rustworkx graph). For them a hash map is the
//! wrong tool: ~22 bytes per node, and a cache miss per lookup in a table
//! larger than the cache. [`IntKeys`] keeps ids in `0..limit` in a dense
//! table instead (4 bytes per id, a lookup is one load, and 200,000 ids fit
//! in 800 KB) and every other id in the sharded hash [`KeyMap`].
//!
//! **Which map holds id `k`** is decided by `limit` alone: the dense table
//! iff `0 <= k < limit`. `limit` only grows, and only while its grower holds
//! every shard write lock of the hash map (`IntKeys::grow`, called by node
//! batches through [`IntKeys::writer`] and by `add_node` through
//! [`IntKeys::insert`]), which moves the hash map's ids below the new limit
//! into the table before publishing it. So a hash-map operation that finds its shard
//! lock and then reads `limit` knows where its id lives; one that read
//! `limit` before waiting on the lock re-checks after
//! (`KeyMap::*_unless`, and the second look of [`IntKeys::get`]).
//!
//! The table is a list of segments of doubling size that never move once
//! allocated, read without locks (atomic entries holding index + 1, 0 for
//! no id, so a fresh segment is zeroed memory the kernel maps lazily: the
//! part of the last segment no id reached costs no resident memory).
//! `clear` empties them but keeps them: a lock-free reader may be in one.

use super::store::Ix;
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, KeyMap, KeyMapReader, KeyMapWriter, Ordering};

/// A dense entry with no id (an entry holds its index + 1).
const EMPTY: u32 = 0;

/// Segment `s` holds ids `BASE * (2^s - 1) .. BASE * (2^(s+1) - 1)`.
#[cfg(not(loom))]
const BASE_BITS: u32 = 10;
#[cfg(loom)]
const BASE_BITS: u32 = 1;
#[cfg(not(loom))]
const SEGMENTS: usize = 22;
#[cfg(loom)]
const SEGMENTS: usize = 4;

/// Ids at or above this always live in the hash map (2^31 for the real build,
/// past the 2^32 indices a graph can hand out at half density).
const DENSE_MAX: u64 = {
    let cover = (1u64 << BASE_BITS) * ((1u64 << SEGMENTS) - 1);
    if cover < 1 << 31 {
        cover
    } else {
        1 << 31
    }
};

/// Segment and offset of dense id `k`.
#[inline]
fn locate(k: u64) -> (usize, usize) {
    let q = (k >> BASE_BITS) + 1;
    let s = 63 - q.leading_zeros() as usize;
    (s, (k - (((1u64 << s) - 1) << BASE_BITS)) as usize)
}

/// The limit a growth to cover id `k` sets: the next power of two, at least
/// the first segment.
fn dense_target(k: u64) -> u64 {
    (k + 1).next_power_of_two().clamp(1 << BASE_BITS, DENSE_MAX)
}

/// A dense entry for index `ix` (indices stop below `Ix::MAX`: see `alloc`).
#[inline]
fn encode(ix: Ix) -> u32 {
    ix + 1
}

#[inline]
fn decode(entry: u32) -> Option<Ix> {
    entry.checked_sub(1)
}

/// A segment of `len` empty entries, as a raw pointer (freed in `Drop`).
fn new_segment(len: usize) -> *mut AtomicU32 {
    #[cfg(not(loom))]
    {
        let layout = std::alloc::Layout::array::<AtomicU32>(len).expect("segment size");
        // SAFETY: a non-zero size; an all-zero `AtomicU32` is a valid 0
        // (`EMPTY`), and `Box<[AtomicU32]>` of `len` entries frees this
        // layout (see `Drop`).
        let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU32>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        p
    }
    #[cfg(loom)]
    {
        let seg: Box<[AtomicU32]> = (0..len).map(|_| AtomicU32::new(EMPTY)).collect();
        Box::into_raw(seg).cast()
    }
}

#[inline]
fn seg_len(s: usize) -> usize {
    1usize << (s as u32 + BASE_BITS)
}

pub(crate) struct IntKeys {
    /// Ids in `0..limit` live in `dense`; see the module docs for the protocol.
    limit: AtomicU64,
    dense: [AtomicPtr<AtomicU32>; SEGMENTS],
    hash: KeyMap<i64, Ix>,
}

impl Drop for IntKeys {
    fn drop(&mut self) {
        for (s, seg) in self.dense.iter_mut().enumerate() {
            let p = seg.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: made by `new_segment(seg_len(s))` (the layout of a
                // boxed slice of that many entries), freed only here.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, seg_len(s))) });
            }
        }
    }
}

impl IntKeys {
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            limit: AtomicU64::new(0),
            dense: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            hash: KeyMap::new(shards),
        }
    }

    /// The dense entry of `k`, which must be below a `limit` read with Acquire.
    #[inline(always)]
    fn slot(&self, k: u64) -> &AtomicU32 {
        let (s, off) = locate(k);
        let p = self.dense[s].load(Ordering::Acquire);
        debug_assert!(
            !p.is_null(),
            "dense id {k} below the limit without a segment"
        );
        // SAFETY: every segment below a published limit was allocated before
        // the limit was stored (Release, read here with Acquire), holds
        // `seg_len(s)` entries (`off` is below that by `locate`), and is freed
        // only when `self` drops.
        unsafe { &*p.add(off) }
    }

    #[inline(always)]
    fn dense_get(&self, k: u64) -> Option<Ix> {
        decode(self.slot(k).load(Ordering::Acquire))
    }

    #[inline]
    fn dense_insert(&self, k: u64, ix: Ix) -> Result<(), Ix> {
        match self
            .slot(k)
            .compare_exchange(EMPTY, encode(ix), Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(v) => Err(decode(v).expect("a failed exchange saw an entry")),
        }
    }

    /// `k` as a dense id if it is below the current limit.
    #[inline]
    fn below_limit(&self, k: i64) -> Option<u64> {
        u64::try_from(k)
            .ok()
            .filter(|&k| k < self.limit.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn get(&self, k: i64) -> Option<Ix> {
        if let Some(d) = self.below_limit(k) {
            return self.dense_get(d);
        }
        match self.hash.get(&k) {
            Some(v) => Some(v),
            // The limit may have grown past `k` while the lookup waited on
            // its shard lock (the grower moved `k` out first): look again.
            None => self.below_limit(k).and_then(|d| self.dense_get(d)),
        }
    }

    /// [`IntKeys::insert_if_absent`] for a graph of `nodes` nodes: first
    /// grows the dense table to cover `k` when the graph has nodes enough to
    /// fill half of it (so one-at-a-time insertions of `0..n` end up dense
    /// too; each growth at least doubles the table).
    pub(crate) fn insert(&self, k: i64, ix: Ix, nodes: usize) -> Result<(), Ix> {
        if let Ok(d) = u64::try_from(k) {
            let limit = self.limit.load(Ordering::Acquire);
            if d >= limit && d < DENSE_MAX {
                let grown = dense_target(d);
                if (nodes as u64 + 1) * 2 >= grown {
                    let mut hash = self.hash.writer(0);
                    if self.limit.load(Ordering::Acquire) < grown {
                        self.grow(grown, &mut hash);
                    }
                }
            }
        }
        self.insert_if_absent(k, ix)
    }

    pub(crate) fn insert_if_absent(&self, k: i64, ix: Ix) -> Result<(), Ix> {
        loop {
            if let Some(d) = self.below_limit(k) {
                return self.dense_insert(d, ix);
            }
            if let Some(r) = self
                .hash
                .insert_if_absent_unless(k, ix, || self.below_limit(k).is_some())
            {
                return r;
            }
        }
    }

    pub(crate) fn remove(&self, k: i64) -> Option<Ix> {
        loop {
            if let Some(d) = self.below_limit(k) {
                return decode(self.slot(d).swap(EMPTY, Ordering::AcqRel));
            }
            if let Some(r) = self.hash.remove_unless(k, || self.below_limit(k).is_some()) {
                return r;
            }
        }
    }

    /// Empties both maps; the dense segments stay allocated (see the module
    /// docs). The caller excludes concurrent insertions (it holds every
    /// graph shard lock). `ids`, when given, are all the ids in the maps
    /// (the live nodes' `int` ids): only their dense entries are cleared, in
    /// O(their number), where clearing by a pass over the dense table costs
    /// O(the largest id it ever covered) (a graph cleared and refilled with
    /// a few nodes paid for its largest size at every `clear()`).
    pub(crate) fn clear(&self, ids: Option<&[i64]>) {
        drop(self.hash.take());
        if let Some(ids) = ids {
            for &k in ids {
                if let Some(d) = self.below_limit(k) {
                    self.slot(d).store(EMPTY, Ordering::Release);
                }
            }
            return;
        }
        let limit = self.limit.load(Ordering::Acquire);
        if limit > 0 {
            let (last, _) = locate(limit - 1);
            for s in 0..=last {
                let p = self.dense[s].load(Ordering::Acquire);
                // SAFETY: as in `slot`: allocated below the limit, `seg_len(s)` entries.
                for e in unsafe { std::slice::from_raw_parts(p, seg_len(s)) } {
                    // Only entries in use: reading a never-written page maps
                    // the kernel's shared zero page, writing one would make
                    // it resident.
                    if e.load(Ordering::Relaxed) != EMPTY {
                        e.store(EMPTY, Ordering::Release);
                    }
                }
            }
        }
    }

    /// Every hash-map shard read-locked once, for many lookups (see
    /// [`KeyMap::reader`]): the limit cannot change meanwhile.
    pub(crate) fn reader(&self) -> IntKeysReader<'_> {
        let hash = self.hash.reader();
        IntKeysReader {
            keys: self,
            limit: self.limit.load(Ordering::Acquire),
            hash,
        }
    }

    /// Every hash-map shard write-locked once, for a batch inserting `ids`
    /// (see [`KeyMap::writer`]). First the dense table grows to cover the
    /// batch's small non-negative ids when they would fill at least half of
    /// the range it adds; the hash map is reserved for the rest.
    ///
    /// **Locking behaviour:** as [`KeyMap::writer`]; taken only by holders of
    /// every graph shard lock, after those.
    pub(crate) fn writer(&self, ids: impl Iterator<Item = i64> + Clone) -> IntKeysWriter<'_> {
        let mut hash = self.hash.writer(0);
        let limit = self.limit.load(Ordering::Acquire);
        let (fresh, max) = ids
            .clone()
            .filter_map(|k| u64::try_from(k).ok())
            .filter(|&k| k >= limit && k < DENSE_MAX)
            .fold((0u64, None::<u64>), |(n, m), k| (n + 1, m.max(Some(k))));
        if let Some(max) = max {
            let grown = dense_target(max);
            if fresh * 2 >= grown - limit {
                self.grow(grown, &mut hash);
            }
        }
        let limit = self.limit.load(Ordering::Acquire);
        let to_hash = ids
            .filter(|&k| u64::try_from(k).map_or(true, |k| k >= limit))
            .count();
        hash.reserve(to_hash);
        IntKeysWriter {
            keys: self,
            limit,
            hash,
        }
    }

    /// Raises the limit to `to`: allocates the segments, moves the hash
    /// map's ids below `to` into them, then publishes `to`.
    fn grow(&self, to: u64, hash: &mut KeyMapWriter<'_, i64, Ix>) {
        let (last, _) = locate(to - 1);
        for s in 0..=last {
            if self.dense[s].load(Ordering::Acquire).is_null() {
                // The hash writer's locks exclude every other grower.
                self.dense[s].store(new_segment(seg_len(s)), Ordering::Release);
            }
        }
        let from = self.limit.load(Ordering::Acquire);
        let moved = hash.take_if(|&k| u64::try_from(k).is_ok_and(|k| k >= from && k < to));
        for (k, ix) in moved {
            let (s, off) = locate(k as u64);
            // SAFETY: segment `s` was allocated above (`k < to`), with
            // `seg_len(s)` entries; `off` is below that by `locate`.
            unsafe { &*self.dense[s].load(Ordering::Acquire).add(off) }
                .store(encode(ix), Ordering::Release);
        }
        self.limit.store(to, Ordering::Release);
    }

    /// Points every id at its index after a compaction: `ids` are all the
    /// ids in the maps, with their new indices. A dense entry switches in
    /// place (a lock-free reader sees the old index or the new one); the
    /// hash half is rebuilt under its writer, which excludes its readers.
    /// The caller holds every graph shard lock (no insertion or removal
    /// runs).
    pub(crate) fn reindex(&self, ids: &[(i64, Ix)]) {
        let mut hash = self.hash.writer(0);
        let limit = self.limit.load(Ordering::Acquire);
        hash.take_if(|_| true);
        for &(k, ix) in ids {
            match u64::try_from(k) {
                Ok(d) if d < limit => self.slot(d).store(encode(ix), Ordering::Release),
                _ => {
                    let fresh = hash.insert_if_absent(k, ix);
                    debug_assert!(fresh.is_ok(), "id {k} given twice");
                }
            }
        }
    }

    /// How many ids the dense table covers.
    pub(crate) fn dense_limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }
}

/// See [`IntKeys::reader`].
pub(crate) struct IntKeysReader<'a> {
    keys: &'a IntKeys,
    limit: u64,
    hash: KeyMapReader<'a, i64, Ix>,
}

impl IntKeysReader<'_> {
    #[inline(always)]
    pub(crate) fn get(&self, k: i64) -> Option<Ix> {
        match u64::try_from(k) {
            Ok(d) if d < self.limit => self.keys.dense_get(d),
            _ => self.hash.get(&k),
        }
    }
}

/// See [`IntKeys::writer`].
pub(crate) struct IntKeysWriter<'a> {
    keys: &'a IntKeys,
    limit: u64,
    hash: KeyMapWriter<'a, i64, Ix>,
}

impl IntKeysWriter<'_> {
    /// See [`KeyMapWriter::prefetch`] (the dense table needs none: its ids
    /// usually come in order).
    #[inline]
    pub(crate) fn prefetch(&self, k: i64) {
        if u64::try_from(k).map_or(true, |d| d >= self.limit) {
            self.hash.prefetch(&k);
        }
    }

    #[inline]
    pub(crate) fn insert_if_absent(&mut self, k: i64, ix: Ix) -> Result<(), Ix> {
        match u64::try_from(k) {
            Ok(d) if d < self.limit => self.keys.dense_insert(d, ix),
            _ => self.hash.insert_if_absent(k, ix),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_dense_range() {
        let mut next = 0u64;
        for s in 0..SEGMENTS {
            assert_eq!(locate(next), (s, 0));
            let end = next + seg_len(s) as u64;
            assert_eq!(locate(end - 1), (s, seg_len(s) - 1));
            next = end;
        }
        assert!(next >= DENSE_MAX);
    }

    #[test]
    fn dense_and_hash_ids_round_trip_across_growth() {
        let keys = IntKeys::new(4);
        // Sparse and negative ids: hash map only.
        for (i, k) in [-5i64, 7, 1 << 40, 3_000].into_iter().enumerate() {
            keys.insert_if_absent(k, i as Ix).unwrap();
        }
        assert_eq!(keys.dense_limit(), 0);
        // A dense batch grows the table and moves 7 and 3000 into it.
        {
            let ids: Vec<i64> = (0..5_000).collect();
            let mut w = keys.writer(ids.iter().copied());
            for &k in &ids {
                let _ = w.insert_if_absent(k, 100 + k as Ix);
            }
        }
        assert_eq!(keys.dense_limit(), 8_192);
        assert_eq!(keys.get(7), Some(1));
        assert_eq!(keys.get(3_000), Some(3));
        assert_eq!(keys.get(-5), Some(0));
        assert_eq!(keys.get(1 << 40), Some(2));
        assert_eq!(keys.get(4_999), Some(5_099));
        assert_eq!(keys.get(5_000), None);
        assert_eq!(keys.insert_if_absent(8, 1), Err(108));
        assert_eq!(keys.insert_if_absent(6_000, 9), Ok(()));
        assert_eq!(keys.reader().get(6_000), Some(9));
        assert_eq!(keys.reader().get(1 << 40), Some(2));
        assert_eq!(keys.remove(6_000), Some(9));
        assert_eq!(keys.remove(6_000), None);
        assert_eq!(keys.remove(1 << 40), Some(2));
        keys.clear(None);
        assert_eq!(keys.get(7), None);
        assert_eq!(keys.get(-5), None);
        assert_eq!(keys.insert_if_absent(7, 3), Ok(()));
        assert_eq!(keys.get(7), Some(3));
    }

    #[test]
    fn a_sparse_batch_stays_in_the_hash_map() {
        let keys = IntKeys::new(4);
        let ids: Vec<i64> = (0..100).map(|i| i * 1_000).collect();
        let mut w = keys.writer(ids.iter().copied());
        for &k in &ids {
            w.insert_if_absent(k, k as Ix).unwrap();
        }
        drop(w);
        assert_eq!(keys.dense_limit(), 0);
        assert_eq!(keys.get(99_000), Some(99_000));
    }
}
