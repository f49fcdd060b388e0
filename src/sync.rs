//! The one module that names locks, atomics, the key map and `ArcSwap`.
//!
//! Everything concurrent in the engine imports its primitives from here, so
//! that `--cfg loom` can swap them all for loom's model-checked versions
//! (tokio's `src/loom/`, crossbeam's `primitive`). Both configurations offer
//! the same parking_lot-shaped API: `read()` / `write()` / `lock()` return
//! guards directly, never `Result`s.
//!
//! Some state stays on std/parking_lot even under loom, on purpose:
//! statistics counters ([`StatCell`]), the attribute-name interner lock
//! ([`LeafRwLock`]), other leaf locks ([`LeafMutex`]), one-time cells and
//! [`StdArc`]. None takes part in a graph protocol: counters are
//! owner-written cells, and a leaf lock is held for a short operation with
//! no loom operation inside, so a model can never switch threads while it
//! is held.
//!
//! The Python binding (`src/python`, never built under loom: `loom-tests`
//! builds the engine without the `python` feature) takes its primitives from
//! here too, so this file is the one list of what the crate synchronizes
//! with (`make lint` rejects `std::sync`, `parking_lot`, `arc_swap` and
//! `dashmap` named anywhere else).

#[cfg(not(loom))]
mod imp {
    pub use arc_swap::ArcSwap;
    pub use parking_lot::{
        Mutex, MutexGuard, RwLock, RwLockReadGuard as ReadGuard, RwLockWriteGuard as WriteGuard,
    };
    pub use std::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
        Ordering,
    };
    pub use std::sync::Arc;

    use super::Probe;
    use std::hash::Hash;

    /// The sharded key → dense-index map (dashmap, foldhash-hashed).
    ///
    /// **Locking behaviour:** each call takes and releases one dashmap shard
    /// lock internally; no reference into the map escapes, so it is a leaf
    /// in the lock order (see `engine::store`).
    pub struct KeyMap<K: Eq + Hash, V> {
        inner: dashmap::DashMap<K, V, foldhash::fast::RandomState>,
    }

    impl<K: Eq + Hash, V: Copy> KeyMap<K, V> {
        pub fn new(shards: usize) -> Self {
            Self {
                inner: dashmap::DashMap::with_hasher_and_shard_amount(
                    foldhash::fast::RandomState::default(),
                    shards.next_power_of_two().max(4),
                ),
            }
        }

        #[inline]
        pub fn get<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            let hash = self.inner.hash_usize(&key);
            let shard = self.inner.shards()[self.inner.determine_shard(hash)].read();
            find(&shard, hash, key)
        }

        /// [`KeyMap::get`] for a caller about to insert `key` when it is
        /// absent: on a miss, asks the CPU to fetch, for writing, the
        /// entries where the insertion will most likely land (the start of
        /// the key's probe group), so that the insertion's store does not
        /// wait for memory, nor every locked instruction after it (an
        /// atomic read-modify-write drains the store buffer first).
        #[inline]
        pub fn get_before_insert<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            let hash = self.inner.hash_usize(&key);
            let shard = self.inner.shards()[self.inner.determine_shard(hash)].read();
            if let Some(v) = find(&shard, hash, key) {
                return Some(v);
            }
            prefetch_entry(&shard, hash);
            prefetch_entry(&shard, hash.wrapping_add(2));
            None
        }

        /// Inserts `key → value` unless the key is present; returns the present value then.
        #[inline]
        pub fn insert_if_absent(&self, key: K, value: V) -> Result<(), V> {
            self.insert_if_absent_unless(key, value, || false)
                .expect("never elsewhere")
        }

        #[inline]
        pub fn remove<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            let hash = self.inner.hash_usize(&key);
            let mut shard = self.inner.shards()[self.inner.determine_shard(hash)].write();
            shard
                .remove_entry(hash as u64, |(k, _)| key.matches(k))
                .map(|(_, v)| v.into_inner())
        }

        /// [`KeyMap::insert_if_absent`], unless `elsewhere()`, asked under
        /// the key's shard lock, says that the key now belongs to another
        /// map: `None` then, and nothing changed.
        #[inline]
        pub fn insert_if_absent_unless(
            &self,
            key: K,
            value: V,
            elsewhere: impl FnOnce() -> bool,
        ) -> Option<Result<(), V>> {
            match self.inner.entry(key) {
                dashmap::Entry::Occupied(o) => Some(Err(*o.get())),
                dashmap::Entry::Vacant(_) if elsewhere() => None,
                dashmap::Entry::Vacant(v) => {
                    v.insert(value);
                    Some(Ok(()))
                }
            }
        }

        /// [`KeyMap::remove`], unless the key is absent and `elsewhere()`,
        /// asked under the key's shard lock, says that it now belongs to
        /// another map: `None` then.
        #[inline]
        pub fn remove_unless(&self, key: K, elsewhere: impl FnOnce() -> bool) -> Option<Option<V>> {
            match self.inner.entry(key) {
                dashmap::Entry::Occupied(o) => Some(Some(o.remove())),
                dashmap::Entry::Vacant(_) if elsewhere() => None,
                dashmap::Entry::Vacant(_) => Some(None),
            }
        }

        /// Empties the map (each shard under its write lock, in turn),
        /// handing its tables to the caller to free when it chooses:
        /// `Graph::clear` frees the `str` map's after the graph's shard locks,
        /// since a million entries cost a cache miss each for the ids'
        /// reference counts. The `int` map's entries need no destructor, and
        /// `IntKeys::clear` frees its table at once.
        pub fn take(&self) -> RetiredKeys<K, V> {
            RetiredKeys {
                _tables: self
                    .inner
                    .shards()
                    .iter()
                    .map(|s| std::mem::replace(&mut *s.write(), RawShard::new()))
                    .collect(),
            }
        }

        /// Every shard of the map read-locked once, for many lookups: a
        /// lookup then takes no lock of its own, so a run of lookups overlaps
        /// their cache misses instead of serializing them on each lock's
        /// atomic read-modify-write.
        ///
        /// **Locking behaviour:** holds every shard's read lock of this map
        /// until dropped: writers of the map wait. Hold it for bounded work
        /// and take no other lock meanwhile (see `engine::store`'s lock order).
        pub fn reader(&self) -> KeyMapReader<'_, K, V> {
            let guards = self.inner.shards().iter().map(|s| s.read()).collect();
            KeyMapReader { map: self, guards }
        }

        /// Every shard of the map write-locked once, for a batch of about
        /// `keys` insertions: an insertion then takes no lock of its own (see
        /// [`KeyMap::reader`]), and the tables grow once, here, for `keys`
        /// more entries spread evenly over the shards (with some slack for
        /// the unevenness of hashing).
        ///
        /// **Locking behaviour:** holds every shard's write lock of this map
        /// until dropped: readers and writers of the map wait. Taken only by
        /// holders of every graph shard lock, after those (see `engine::store`).
        pub fn writer(&self, keys: usize) -> KeyMapWriter<'_, K, V> {
            let guards = self.inner.shards().iter().map(|s| s.write()).collect();
            let mut writer = KeyMapWriter { map: self, guards };
            writer.reserve(keys);
            writer
        }
    }

    /// See [`KeyMap::writer`].
    pub struct KeyMapWriter<'a, K: Eq + Hash, V> {
        map: &'a KeyMap<K, V>,
        guards: Vec<dashmap::RwLockWriteGuard<'a, RawShard<K, V>>>,
    }

    impl<K: Eq + Hash, V: Copy> KeyMapWriter<'_, K, V> {
        /// Grows the tables for `keys` more entries spread evenly over the
        /// shards (with some slack for the unevenness of hashing).
        pub fn reserve(&mut self, keys: usize) {
            if keys == 0 {
                return;
            }
            let per_shard = keys / self.guards.len();
            let per_shard = per_shard + per_shard / 8 + 16;
            for shard in &mut self.guards {
                shard.reserve(per_shard, |(k, _)| self.map.inner.hash_usize(k) as u64);
            }
        }

        /// Asks the CPU to fetch what inserting `key` will read and write
        /// (the key's control group and the entries it most likely takes),
        /// so that a loop inserting many keys overlaps their cache misses:
        /// call it a few keys ahead.
        #[inline]
        pub fn prefetch<Q>(&self, key: &Q)
        where
            Q: Probe<K> + ?Sized,
        {
            let inner = &self.map.inner;
            let hash = inner.hash_usize(&key);
            let shard = &self.guards[inner.determine_shard(hash)];
            if shard.buckets() > 1 {
                // SAFETY: the position is masked into the table, which the
                // held lock keeps alive; its control bytes start at
                // `data_end`. A prefetch never faults.
                let ctrl = unsafe {
                    shard
                        .data_end()
                        .as_ptr()
                        .cast::<u8>()
                        .add(hash & (shard.buckets() - 1))
                };
                prefetch_write(ctrl);
            }
            prefetch_entry(shard, hash);
        }

        /// [`KeyMap::insert_if_absent`] under the held locks.
        #[inline]
        pub fn insert_if_absent(&mut self, key: K, value: V) -> Result<(), V> {
            let inner = &self.map.inner;
            let hash = inner.hash_usize(&key);
            let shard = &mut self.guards[inner.determine_shard(hash)];
            match shard.find_or_find_insert_slot(
                hash as u64,
                |(k, _)| *k == key,
                |(k, _)| inner.hash_usize(k) as u64,
            ) {
                // SAFETY: the bucket was just found in this table, which the
                // held write lock keeps unchanged.
                Ok(bucket) => Err(*unsafe { bucket.as_ref() }.1.get()),
                Err(slot) => {
                    // SAFETY: `slot` was just found for `hash` in this table,
                    // unchanged since (write lock held).
                    unsafe {
                        shard.insert_in_slot(
                            hash as u64,
                            slot,
                            (key, dashmap::SharedValue::new(value)),
                        )
                    };
                    Ok(())
                }
            }
        }

        /// Removes and returns every entry whose key satisfies `pred`.
        pub fn take_if(&mut self, mut pred: impl FnMut(&K) -> bool) -> Vec<(K, V)> {
            let mut taken = Vec::new();
            for shard in &mut self.guards {
                // SAFETY: the buckets are read and removed under the held
                // write lock, each once, and the iterator is not used after
                // the first removal (the buckets are collected first).
                unsafe {
                    let hits: Vec<_> = shard.iter().filter(|b| pred(&b.as_ref().0)).collect();
                    for bucket in hits {
                        let ((k, v), _) = shard.remove(bucket);
                        taken.push((k, *v.get()));
                    }
                }
            }
            taken
        }
    }

    /// See [`KeyMap::reader`].
    pub struct KeyMapReader<'a, K: Eq + Hash, V> {
        map: &'a KeyMap<K, V>,
        guards: Vec<dashmap::RwLockReadGuard<'a, RawShard<K, V>>>,
    }

    type RawShard<K, V> = hashbrown::raw::RawTable<(K, dashmap::SharedValue<V>)>;

    /// The entries a [`KeyMap::take`] emptied out: freed when dropped.
    pub struct RetiredKeys<K, V> {
        _tables: Vec<RawShard<K, V>>,
    }

    /// The value of the key `probe` matches in `table`, whose lock the
    /// caller holds; `hash` is the map's hash of the key.
    #[inline(always)]
    fn find<K, V: Copy, Q: Probe<K> + ?Sized>(
        table: &RawShard<K, V>,
        hash: usize,
        probe: &Q,
    ) -> Option<V> {
        table
            .get(hash as u64, |(k, _)| probe.matches(k))
            .map(|(_, v)| *v.get())
    }

    /// Hints the CPU to fetch, for writing, the entry at position `hash` of
    /// `table` (masked into it), which the caller's lock keeps alive.
    #[inline(always)]
    fn prefetch_entry<K, V>(table: &RawShard<K, V>, hash: usize) {
        if table.buckets() > 1 {
            // SAFETY: the index is masked into the table; a prefetch never faults.
            let p = unsafe { table.bucket(hash & (table.buckets() - 1)).as_ptr() };
            prefetch_write(p.cast());
        }
    }

    /// Hints the CPU to fetch the line at `p` for writing (a hint: it
    /// never faults, whatever `p` is).
    #[inline(always)]
    fn prefetch_write(p: *const u8) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch has no architectural effect.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
            _mm_prefetch::<_MM_HINT_ET0>(p.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    impl<K: Eq + Hash, V: Copy> KeyMapReader<'_, K, V> {
        #[inline]
        pub fn get<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            let hash = self.map.inner.hash_usize(&key);
            find(
                &self.guards[self.map.inner.determine_shard(hash)],
                hash,
                key,
            )
        }
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
        Ordering,
    };
    pub use loom::sync::Arc;

    use super::Probe;
    use std::collections::HashMap;
    use std::hash::Hash;

    pub type ReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    pub type WriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    /// parking_lot-shaped wrapper over loom's `RwLock`.
    #[derive(Debug)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }
        pub fn read(&self) -> ReadGuard<'_, T> {
            self.0.read().expect("loom rwlock poisoned")
        }
        pub fn write(&self) -> WriteGuard<'_, T> {
            self.0.write().expect("loom rwlock poisoned")
        }
    }

    /// parking_lot-shaped wrapper over loom's `Mutex`.
    #[derive(Debug)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    /// `ArcSwap` modelled as a loom `RwLock<Arc<T>>`: loads clone the `Arc`
    /// under a read lock, stores swap it under a write lock.
    pub struct ArcSwap<T>(loom::sync::RwLock<Arc<T>>);

    impl<T> ArcSwap<T> {
        pub fn new(value: Arc<T>) -> Self {
            Self(loom::sync::RwLock::new(value))
        }
        pub fn from_pointee(value: T) -> Self {
            Self::new(Arc::new(value))
        }
        pub fn load_full(&self) -> Arc<T> {
            self.0.read().expect("poisoned").clone()
        }
        pub fn store(&self, value: Arc<T>) {
            *self.0.write().expect("poisoned") = value;
        }
        pub fn swap(&self, value: Arc<T>) -> Arc<T> {
            std::mem::replace(&mut *self.0.write().expect("poisoned"), value)
        }
    }

    /// See [`KeyMap::take`].
    pub struct RetiredKeys<K, V> {
        _map: HashMap<K, V>,
    }

    /// The key map as one loom mutex around a `HashMap` (dashmap is invisible to loom).
    pub struct KeyMap<K, V> {
        inner: loom::sync::Mutex<HashMap<K, V>>,
    }

    impl<K: Eq + Hash, V: Copy> KeyMap<K, V> {
        pub fn new(_shards: usize) -> Self {
            Self {
                inner: loom::sync::Mutex::new(HashMap::new()),
            }
        }
        pub fn get<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            find(&self.inner.lock().unwrap(), key)
        }
        pub fn insert_if_absent(&self, key: K, value: V) -> Result<(), V> {
            insert_absent(&mut self.inner.lock().unwrap(), key, value, || false)
                .expect("never elsewhere")
        }
        pub fn remove<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            let mut found = None;
            self.inner.lock().unwrap().retain(|k, v| {
                let hit = found.is_none() && key.matches(k);
                if hit {
                    found = Some(*v);
                }
                !hit
            });
            found
        }
        pub fn get_before_insert<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            self.get(key)
        }
        pub fn insert_if_absent_unless(
            &self,
            key: K,
            value: V,
            elsewhere: impl FnOnce() -> bool,
        ) -> Option<Result<(), V>> {
            insert_absent(&mut self.inner.lock().unwrap(), key, value, elsewhere)
        }
        pub fn remove_unless(&self, key: K, elsewhere: impl FnOnce() -> bool) -> Option<Option<V>> {
            let mut map = self.inner.lock().unwrap();
            match map.remove(&key) {
                Some(v) => Some(Some(v)),
                None if elsewhere() => None,
                None => Some(None),
            }
        }
        pub fn take(&self) -> RetiredKeys<K, V> {
            RetiredKeys {
                _map: std::mem::take(&mut *self.inner.lock().unwrap()),
            }
        }
        /// The batched reader: the map's lock held for the reader's life,
        /// as the real one holds every shard's read lock.
        pub fn reader(&self) -> KeyMapReader<'_, K, V> {
            KeyMapReader {
                map: self.inner.lock().unwrap(),
            }
        }
        /// The batched writer: the map's lock held for the writer's life.
        pub fn writer(&self, _keys: usize) -> KeyMapWriter<'_, K, V> {
            KeyMapWriter {
                map: self.inner.lock().unwrap(),
            }
        }
    }

    /// The value of the key `probe` matches (a scan: models keep a few keys).
    fn find<K, V: Copy, Q: Probe<K> + ?Sized>(map: &HashMap<K, V>, probe: &Q) -> Option<V> {
        map.iter().find(|(k, _)| probe.matches(k)).map(|(_, v)| *v)
    }

    /// `key → value` unless the key is present (`Err` with its value) or
    /// absent and `elsewhere()` (`None`, nothing changed).
    fn insert_absent<K: Eq + Hash, V: Copy>(
        map: &mut HashMap<K, V>,
        key: K,
        value: V,
        elsewhere: impl FnOnce() -> bool,
    ) -> Option<Result<(), V>> {
        if let Some(v) = map.get(&key) {
            return Some(Err(*v));
        }
        if elsewhere() {
            return None;
        }
        map.insert(key, value);
        Some(Ok(()))
    }

    pub struct KeyMapReader<'a, K, V> {
        map: loom::sync::MutexGuard<'a, HashMap<K, V>>,
    }

    pub struct KeyMapWriter<'a, K, V> {
        map: loom::sync::MutexGuard<'a, HashMap<K, V>>,
    }

    impl<K: Eq + Hash, V: Copy> KeyMapWriter<'_, K, V> {
        pub fn insert_if_absent(&mut self, key: K, value: V) -> Result<(), V> {
            insert_absent(&mut self.map, key, value, || false).expect("never elsewhere")
        }
        pub fn reserve(&mut self, _keys: usize) {}
        pub fn prefetch<Q>(&self, _key: &Q)
        where
            Q: Probe<K> + ?Sized,
        {
        }
        pub fn take_if(&mut self, mut pred: impl FnMut(&K) -> bool) -> Vec<(K, V)> {
            let mut taken = Vec::new();
            for (k, v) in std::mem::take(&mut *self.map) {
                if pred(&k) {
                    taken.push((k, v));
                } else {
                    self.map.insert(k, v);
                }
            }
            taken
        }
    }

    impl<K: Eq + Hash, V: Copy> KeyMapReader<'_, K, V> {
        pub fn get<Q>(&self, key: &Q) -> Option<V>
        where
            Q: Probe<K> + ?Sized,
        {
            find(&self.map, key)
        }
    }
}

pub use imp::*;

use std::hash::Hash;

/// What a [`KeyMap`] of `K`s is searched with: the key itself, or a
/// borrowed stand-in (a `str` id's text and hash) that hashes exactly as the
/// `K` it matches and says which stored key that is (hashbrown's
/// `Equivalent`, dispatched statically: a lookup through `Borrow` to a trait
/// object made an indirect call per hash and per compared key).
pub trait Probe<K>: Hash {
    fn matches(&self, key: &K) -> bool;
}

impl<K: Eq + Hash> Probe<K> for K {
    #[inline]
    fn matches(&self, key: &K) -> bool {
        self == key
    }
}

/// `Arc::make_mut`: the copy-on-write step of snapshots. Copies the value
/// only while another `Arc` (a snapshot) still shares it.
#[cfg(not(loom))]
#[inline]
pub fn make_mut<T: Clone>(arc: &mut Arc<T>) -> &mut T {
    Arc::make_mut(arc)
}

/// Under loom `Arc` has no `make_mut`: copy whenever the value is shared.
#[cfg(loom)]
pub fn make_mut<T: Clone>(arc: &mut Arc<T>) -> &mut T {
    if Arc::get_mut(arc).is_none() {
        *arc = Arc::new((**arc).clone());
    }
    Arc::get_mut(arc).expect("unique after copy")
}

/// A chunk of a shard's node records (`engine::slots`): the unit a writer
/// copies while a snapshot still shares it. Modelled by loom (its count is
/// the snapshot protocol's copy-on-write test); weak-count-free otherwise, so
/// the uniqueness test is one load.
#[cfg(not(loom))]
pub type ChunkArc<T> = triomphe::Arc<[T]>;
#[cfg(loom)]
pub type ChunkArc<T> = loom::sync::Arc<[T]>;

/// A new chunk holding `items` (an exact-size iterator: one allocation).
#[cfg(not(loom))]
pub fn chunk_of<T>(items: impl ExactSizeIterator<Item = T>) -> ChunkArc<T> {
    items.collect()
}

#[cfg(loom)]
pub fn chunk_of<T>(items: impl ExactSizeIterator<Item = T>) -> ChunkArc<T> {
    loom::sync::Arc::from_std(std::sync::Arc::from(items.collect::<Vec<T>>()))
}

/// The chunk's items, unshared: copied first while another `Arc` (a
/// snapshot) still holds them.
#[inline]
pub fn chunk_mut<T: Clone>(chunk: &mut ChunkArc<T>) -> &mut [T] {
    if chunk_get_mut(chunk).is_none() {
        *chunk = chunk_of(chunk.iter().cloned());
    }
    chunk_get_mut(chunk).expect("unique after copy")
}

/// The chunk's items if no other `Arc` shares them (moved, not copied, when
/// a chunk grows).
#[cfg(not(loom))]
#[inline]
pub fn chunk_get_mut<T>(chunk: &mut ChunkArc<T>) -> Option<&mut [T]> {
    triomphe::Arc::get_mut(chunk)
}

#[cfg(loom)]
pub fn chunk_get_mut<T>(chunk: &mut ChunkArc<T>) -> Option<&mut [T]> {
    loom::sync::Arc::get_mut(chunk)
}

/// The weak-count-free `Arc` of a stored list's or dict's items: copying a
/// value (a shared attribute map being changed) shares them instead of
/// copying them. Not modelled by loom, for the same reason as [`ThinArc`].
pub use triomphe::Arc as ItemsArc;
/// The thin, weak-count-free `Arc` of a record's stored attributes (one
/// allocation per map: see `engine::value::SharedAttrs`), and the `Arc` it
/// converts to for a unique borrow. Not modelled by loom, like `OnceCell`:
/// a stored map is immutable while shared, its count only says when to free
/// it, and no graph protocol reads that count.
pub use triomphe::{Arc as ThinArcInner, ThinArc};

/// A set-once cell (a node's host-side handle; see `engine::store::NodeRec`).
/// Not modelled by loom: it is written once, attached, by the binding.
pub type OnceCell<T> = std::sync::OnceLock<T>;
/// std's `Arc` under loom too, for shared data outside every graph protocol:
/// an id's text, interned attribute names, per-thread counter blocks.
pub use std::sync::Arc as StdArc;
/// Process-wide values made once (tables, the empty graph, settings read at
/// start). std under loom too: initialised once, never part of a protocol.
pub use std::sync::{LazyLock, OnceLock};

/// A leaf lock that stays parking_lot under loom (see the module docs).
pub type LeafRwLock<T> = parking_lot::RwLock<T>;
/// A leaf mutex that stays parking_lot under loom (see the module docs).
pub type LeafMutex<T> = parking_lot::Mutex<T>;
/// The binding's fork gate (`python::fork`): with the GIL enabled, every
/// stretch of GLI work done detached holds it for read, and a `fork()`
/// waits, detached, for it for write and holds it across the fork. So no
/// thread is inside GLI's detached work when the process forks, and the
/// forking thread holds the GIL, so no attached GLI code is either: the
/// child inherits no lock held and no batch half-applied. parking_lot under
/// loom too: no graph protocol takes it (the engine never names it).
///
/// Lock order: outermost. Taken for read before any engine or leaf lock of
/// the same stretch, recursively (a predicate a detached filter runs may
/// enter GLI again), and by nothing attached, so holding it for write
/// while attached (the fork, between its hooks) keeps no attached thread
/// waiting.
pub struct ForkGate(parking_lot::RwLock<()>);

/// A stretch of detached work inside the [`ForkGate`].
pub struct ForkGateGuard<'a> {
    _read: parking_lot::RwLockReadGuard<'a, ()>,
}

std::thread_local! {
    /// How many [`ForkGateGuard`]s this thread holds.
    static GATE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ForkGate {
    pub const fn new() -> Self {
        Self(parking_lot::const_rwlock(()))
    }

    /// Enters for read: waits while a fork holds the gate or waits for it
    /// (so a stream of queries cannot keep a fork out), except when this
    /// thread is inside already (it would wait for itself).
    pub fn enter(&self) -> ForkGateGuard<'_> {
        let inside = GATE_DEPTH.with(|d| d.replace(d.get() + 1)) > 0;
        let read = if inside {
            self.0.read_recursive()
        } else {
            self.0.read()
        };
        ForkGateGuard { _read: read }
    }

    /// Whether this thread is inside the gate (it cannot then hold it for a
    /// fork: it would wait for itself).
    pub fn entered_here() -> bool {
        GATE_DEPTH.with(|d| d.get() > 0)
    }

    /// Before a fork: waits until no thread is inside, then keeps the gate
    /// with no guard until [`ForkGate::release_after_fork`].
    pub fn hold_for_fork(&self) {
        std::mem::forget(self.0.write());
    }

    /// After the fork. In the parent, unlocks the gate (its waiters go on).
    /// In the child, makes it a new, unlocked lock instead: threads of the
    /// parent that waited for it left their mark in its state, and an
    /// unlock would hand it to one of them, a thread the child does not
    /// have.
    ///
    /// # Safety
    ///
    /// [`ForkGate::hold_for_fork`] took the gate (in this process's memory)
    /// and nothing released it since; in the child, no other thread has
    /// started yet.
    pub unsafe fn release_after_fork(&self, in_child: bool) {
        use parking_lot::lock_api::RawRwLock as _;
        if in_child {
            // SAFETY: parking_lot's raw lock is one `AtomicUsize` (its state
            // word, inside an `UnsafeCell`), and no other thread of this
            // process can be using it.
            unsafe {
                let raw: *const parking_lot::RawRwLock = self.0.raw();
                raw.cast_mut().write(parking_lot::RawRwLock::INIT);
            }
        } else {
            // SAFETY: write-locked, its guard forgotten (the caller's promise).
            unsafe { self.0.force_unlock_write() };
        }
    }
}

impl Default for ForkGate {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ForkGateGuard<'_> {
    fn drop(&mut self) {
        GATE_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// A statistics cell: written only by its owning thread, read by anyone.
pub type StatCell = std::sync::atomic::AtomicU64;
/// Orderings for [`StatCell`].
pub use std::sync::atomic::Ordering as StatOrdering;

/// Whether this process may hand work to the rayon pool.
///
/// A process forked after the pool started (`multiprocessing`'s default
/// start method on Linux) inherits the pool's bookkeeping but none of its
/// threads: a parallel call there would wait forever. The first caller
/// records the process id; a forked child sees another id and runs
/// everything on the calling thread. (A child forked before the pool ever
/// ran records its own id and gets a pool of its own.)
pub fn parallel_ok() -> bool {
    // Loom models every thread it runs; rayon's workers are not among them.
    if cfg!(loom) {
        return false;
    }
    use std::sync::atomic::{AtomicU32 as StdAtomicU32, Ordering as StdOrdering};
    static POOL_PID: StdAtomicU32 = StdAtomicU32::new(0);
    let me = std::process::id();
    match POOL_PID.compare_exchange(0, me, StdOrdering::AcqRel, StdOrdering::Acquire) {
        Ok(_) => true,
        Err(owner) => owner == me,
    }
}

/// The cores this process may use, asked once: the standard library reads
/// cgroup files on every call (tens of microseconds, most of a `Graph()`).
/// Not modelled by loom: a constant once set.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// Runs `work` on a helper thread while this thread calls `poll` about
/// every `every`, until `work` is done; returns its result (a panic in it
/// resumes here).
///
/// For parallel work whose owner must keep watching something only it can
/// watch (Ctrl-C: only the thread that started a query polls the signal
/// hook). Handed to rayon from outside its pool, the owner would block in
/// rayon until the work is done, and poll nothing meanwhile. `poll` runs on
/// this thread only, and must not wait on anything `work` holds.
///
/// Runs `work` here instead under loom (its threads are modelled), and if
/// no thread can be started.
pub fn run_watched<T: Send>(
    work: impl FnOnce() -> T + Send,
    mut poll: impl FnMut(),
    every: std::time::Duration,
) -> T {
    if cfg!(loom) {
        return work();
    }
    use std::sync::atomic::{AtomicBool as StdAtomicBool, Ordering as StdOrdering};
    let owner = std::thread::current();
    let done = StdAtomicBool::new(false);
    // The helper takes `work` from here, so that it is still ours to run if
    // the helper cannot be started.
    let slot = parking_lot::Mutex::new(Some(work));
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .name("gli-watched".into())
            .spawn_scoped(s, || {
                let work = slot.lock().take().expect("taken once");
                // Set and unparked even when `work` panics, so the owner
                // stops polling and the join below sees the panic.
                struct Done<'a>(&'a StdAtomicBool, &'a std::thread::Thread);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, StdOrdering::Release);
                        self.1.unpark();
                    }
                }
                let _done = Done(&done, &owner);
                work()
            });
        let Ok(helper) = helper else {
            let work = slot.lock().take().expect("not taken: no helper ran");
            return work();
        };
        while !done.load(StdOrdering::Acquire) {
            std::thread::park_timeout(every);
            if !done.load(StdOrdering::Acquire) {
                poll();
            }
        }
        helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
