//! Filtering without Python: `where` equality conditions and the candidate scan.
//!
//! `filter_nodes` / `filter_edges` first scan a snapshot here, detached, and
//! hand only the survivors to the Python predicate. A condition compares with
//! Python's `==` between str / int / float / bool / None: `1 == 1.0 == True`,
//! NaN equals nothing, and a missing attribute never matches.

use std::collections::HashMap;

use rayon::prelude::*;

use super::adjacency::{AdjColumn, AdjIndex};
use super::cancel::{Cancel, CHECK_EVERY};
use super::counters::{bump, Counter};
use super::slots::Run;
use super::store::{GraphView, Ix, Shard};
use super::value::{AttrId, AttrSlice, Equiv, Number, Value};
use super::Payload;
use crate::error::Result;
use crate::sync::{parallel_ok, Arc, Mutex};

/// A value a `where` condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum WhereVal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    /// An int beyond 64 bits equal to no float, by the text the binding
    /// gives such ints ([`Equiv::BigInt`]).
    BigInt(Box<str>),
    /// Text with lone surrogates, by the form the binding gives such text
    /// ([`Equiv::Lone`]).
    Lone(Box<str>),
}

/// A scalar in canonical form: values Python's `==` calls equal have equal
/// forms (`True`, `1` and `1.0` are all `Int(1)`; an int never equals a
/// non-integral float; NaN has no form, so it equals nothing). The one place
/// the equality rule lives: conditions compare forms, columns encode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Canon<'a> {
    None,
    Int(i64),
    Float(u64),
    Str(&'a str),
    /// An int beyond 64 bits equal to no float, by its text ([`Equiv::BigInt`]).
    BigInt(&'a str),
    /// Text with lone surrogates, by its form ([`Equiv::Lone`]).
    Lone(&'a str),
}

impl Canon<'_> {
    fn of_float(x: f64) -> Option<Canon<'static>> {
        if x.is_nan() {
            return None;
        }
        // i64::MIN as f64 is exact; 2^63 is the first float past i64::MAX.
        if x.fract() == 0.0 && x >= i64::MIN as f64 && x < 9_223_372_036_854_775_808.0 {
            return Some(Canon::Int(x as i64));
        }
        Some(Canon::Float(x.to_bits()))
    }

    /// A stored value's form (containers and opaque values that stand for no
    /// number have none).
    fn of_value<O: Payload>(v: &Value<O>) -> Option<Canon<'_>> {
        if let Some(n) = v.number() {
            return match n {
                Number::Bool(b) => Some(Canon::Int(b as i64)),
                Number::Int(i) => Some(Canon::Int(i)),
                Number::Float(x) => Canon::of_float(x),
            };
        }
        match v {
            Value::None => Some(Canon::None),
            Value::Str(s) => Some(Canon::Str(s)),
            Value::Opaque(o) => match o.equiv()? {
                Equiv::Str(s) => Some(Canon::Str(s)),
                Equiv::Float(x) => Canon::of_float(x),
                Equiv::BigInt(t) => Some(Canon::BigInt(t)),
                Equiv::Lone(t) => Some(Canon::Lone(t)),
            },
            _ => None,
        }
    }

    fn to_key(self) -> Key {
        match self {
            Canon::None => Key::None,
            Canon::Int(i) => Key::Int(i),
            Canon::Float(b) => Key::Float(b),
            Canon::Str(s) => Key::Str(s.into()),
            Canon::BigInt(t) => Key::BigInt(t.into()),
            Canon::Lone(t) => Key::Lone(t.into()),
        }
    }
}

impl WhereVal {
    fn canon(&self) -> Option<Canon<'_>> {
        match self {
            WhereVal::None => Some(Canon::None),
            WhereVal::Bool(b) => Some(Canon::Int(*b as i64)),
            WhereVal::Int(i) => Some(Canon::Int(*i)),
            WhereVal::Float(x) => Canon::of_float(*x),
            WhereVal::Str(s) => Some(Canon::Str(s)),
            WhereVal::BigInt(t) => Some(Canon::BigInt(t)),
            WhereVal::Lone(t) => Some(Canon::Lone(t)),
        }
    }

    /// Python `==` between a stored value and this one (containers and opaque
    /// values never match).
    #[inline]
    pub fn eq_value<O: Payload>(&self, v: &Value<O>) -> bool {
        matches!((self.canon(), Canon::of_value(v)), (Some(a), Some(b)) if a == b)
    }
}

/// A conjunction of equality conditions. A condition on a name no node or
/// edge ever used can match nothing.
#[derive(Debug, Clone, Default)]
pub struct Where {
    conds: Vec<(AttrId, WhereVal)>,
    impossible: bool,
}

impl Where {
    /// Conditions by attribute id (`None`: a name never interned).
    pub fn new(conds: impl IntoIterator<Item = (Option<AttrId>, WhereVal)>) -> Self {
        let mut w = Where::default();
        for (id, val) in conds {
            match id {
                Some(id) => w.conds.push((id, val)),
                None => w.impossible = true,
            }
        }
        w
    }

    /// True when every node passes (no condition).
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty() && !self.impossible
    }

    #[inline]
    pub fn matches<O: Payload>(&self, attrs: Option<&AttrSlice<O>>) -> bool {
        if self.impossible {
            return false;
        }
        if self.conds.is_empty() {
            return true;
        }
        let Some(attrs) = attrs else { return false };
        self.conds
            .iter()
            .all(|(id, want)| attrs.get(*id).is_some_and(|v| want.eq_value(v)))
    }
}

/// Below this many index slots the scan runs on the calling thread.
const PAR_SCAN_MIN: usize = 1 << 17;
/// Index slots per parallel scan chunk (and per cancellation check).
const CHUNK: usize = 1 << 14;

/// Runs `f` over `[lo, hi)` in chunks of `step`, in parallel when
/// `parallel`, checking for cancellation per chunk, and concatenates the
/// chunks' outputs in order.
fn chunked_by<T: Send>(
    (lo, hi, step): (usize, usize, usize),
    parallel: bool,
    cancel: &Cancel<'_>,
    f: impl Fn(usize, usize, &mut Vec<T>) + Sync,
) -> Result<Vec<T>> {
    let step = step.max(1);
    let parts = map_chunks((hi - lo).div_ceil(step), parallel, |c| {
        cancel.check()?;
        let mut out = Vec::new();
        f(lo + c * step, (lo + (c + 1) * step).min(hi), &mut out);
        Ok(out)
    })?;
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for p in parts {
        out.extend(p);
    }
    Ok(out)
}

/// `f` of each chunk `0..chunks`, in order; on rayon when `parallel` (and
/// this process owns the pool). The first error is returned.
fn map_chunks<T: Send>(
    chunks: usize,
    parallel: bool,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if parallel && parallel_ok() {
        (0..chunks).into_par_iter().map(&f).collect()
    } else {
        (0..chunks).map(f).collect()
    }
}

/// [`chunked_by`] over the indices of `view` in chunks of [`CHUNK`], in
/// parallel when the rows that hold nodes cover enough of them (rows churn
/// emptied do not count: scans skip them).
fn chunked<T: Send, O>(
    view: &GraphView<'_, O>,
    cancel: &Cancel<'_>,
    f: impl Fn(usize, usize, &mut Vec<T>) + Sync,
) -> Result<Vec<T>> {
    let (lo, hi) = (view.lo() as usize, view.hi() as usize);
    let parallel = view.held_slots() >= PAR_SCAN_MIN;
    chunked_by((lo, hi, CHUNK), parallel, cancel, f)
}

// ------------------------------------------------------------ column cache

/// [`Canon`] with its string owned: a column dictionary's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i64),
    Float(u64),
    Str(Box<str>),
    BigInt(Box<str>),
    Lone(Box<str>),
}

/// Code of a value no condition can match (NaN, containers, opaque, missing).
const NO_MATCH: u32 = u32::MAX;
/// A shard with more distinct values than this is scanned directly instead.
const MAX_DISTINCT: usize = 1 << 16;
/// Attributes whose columns are kept (least recently used ones are dropped).
const MAX_CACHED_ATTRS: usize = 8;

/// A per-shard column the cache can hold: built from one shard version.
pub(crate) trait ShardCol: Sized + Send + Sync {
    /// The column of `attr` over `shard`; `Ok(None)` when the shard is not
    /// worth one. Checks `cancel` every [`CHECK_EVERY`] slots or so.
    fn build<O: Payload>(
        shard: &Shard<O>,
        attr: AttrId,
        cancel: &Cancel<'_>,
    ) -> Result<Option<Self>>;
    fn version(&self) -> u64;
    /// Attributes whose columns of this kind are kept (the least recently
    /// used one beyond is dropped).
    const KEPT: usize = MAX_CACHED_ATTRS;
}

/// One attribute's values over one shard's slots, dictionary-encoded.
struct ShardColumn {
    version: u64,
    codes: Vec<u32>,
    dict: HashMap<Key, u32, foldhash::fast::RandomState>,
}

/// How far ahead [`each_value`] loads attribute maps.
const MAPS_AHEAD: usize = 8;

/// Walks `shard`'s slots in order for a column of `attr` being built in
/// `col`: `empty(col, n)` for a run of `n` slots that churn emptied (a freed
/// chunk), `each(col, value)` for every other slot (`None`: no node there,
/// or no such attribute). Stops, returning `Ok(false)`, when `each` does;
/// checks `cancel` every [`CHECK_EVERY`] slots or so.
fn each_value<O, C>(
    shard: &Shard<O>,
    attr: AttrId,
    cancel: &Cancel<'_>,
    col: &mut C,
    empty: impl Fn(&mut C, usize),
    mut each: impl FnMut(&mut C, Option<&Value<O>>) -> bool,
) -> Result<bool> {
    let mut hint = 0;
    let mut since_check = 0;
    for run in shard.slots.runs() {
        match run {
            Run::Empty(n) => empty(col, n),
            Run::Slots(slots) => {
                cancel.check_every(&mut since_check, slots.len())?;
                for (i, slot) in slots.iter().enumerate() {
                    // Maps of many attributes lie a page or more apart, where
                    // no hardware prefetcher follows: their loads overlap
                    // only if asked for ahead.
                    if let Some(a) = slots
                        .get(i + MAPS_AHEAD)
                        .and_then(|s| s.as_ref()?.attrs.as_ref())
                    {
                        a.prefetch();
                    }
                    let v = slot
                        .as_ref()
                        .and_then(|r| r.attrs.as_deref())
                        .and_then(|a| a.get_from(attr, &mut hint));
                    if !each(col, v) {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

impl ShardCol for ShardColumn {
    /// `None` when the shard has too many distinct values to be worth it.
    fn build<O: Payload>(
        shard: &Shard<O>,
        attr: AttrId,
        cancel: &Cancel<'_>,
    ) -> Result<Option<Self>> {
        let mut dict: HashMap<Key, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut codes = Vec::with_capacity(shard.slots.len());
        let whole = each_value(
            shard,
            attr,
            cancel,
            &mut codes,
            |codes, n| codes.extend(std::iter::repeat_n(NO_MATCH, n)),
            |codes, v| {
                let code = match v.and_then(Canon::of_value) {
                    None => NO_MATCH,
                    Some(k) => {
                        let next = dict.len() as u32;
                        let code = *dict.entry(k.to_key()).or_insert(next);
                        if dict.len() > MAX_DISTINCT {
                            return false;
                        }
                        code
                    }
                };
                codes.push(code);
                true
            },
        )?;
        Ok(whole.then_some(Self {
            version: shard.version,
            codes,
            dict,
        }))
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// Kind of a slot's value in a [`NumColumn`].
pub mod num_kind {
    pub const MISSING: u8 = 0;
    pub const INT: u8 = 1;
    pub const FLOAT: u8 = 2;
    pub const BOOL: u8 = 3;
    /// Present but not numeric (str, None, containers, opaque).
    pub const OTHER: u8 = 4;
}

/// One attribute's scalar values over one shard's slots: a kind per slot and
/// the raw 8 bytes (i64, f64 bits or 0/1), for building numpy columns.
pub struct NumColumn {
    version: u64,
    kinds: Vec<u8>,
    raw: Vec<u64>,
}

impl ShardCol for NumColumn {
    fn build<O: Payload>(
        shard: &Shard<O>,
        attr: AttrId,
        cancel: &Cancel<'_>,
    ) -> Result<Option<Self>> {
        let n = shard.slots.len();
        let (mut kinds, mut raw) = (Vec::with_capacity(n), Vec::with_capacity(n));
        each_value(
            shard,
            attr,
            cancel,
            &mut (&mut kinds, &mut raw),
            |(kinds, raw), n| {
                kinds.extend(std::iter::repeat_n(num_kind::MISSING, n));
                raw.extend(std::iter::repeat_n(0, n));
            },
            |(kinds, raw), v| {
                let (k, r) = match v.map(Value::number) {
                    None => (num_kind::MISSING, 0),
                    Some(Some(Number::Int(i))) => (num_kind::INT, i as u64),
                    Some(Some(Number::Float(x))) => (num_kind::FLOAT, x.to_bits()),
                    Some(Some(Number::Bool(b))) => (num_kind::BOOL, b as u64),
                    Some(None) => (num_kind::OTHER, 0),
                };
                kinds.push(k);
                raw.push(r);
                true
            },
        )?;
        Ok(Some(Self {
            version: shard.version,
            kinds,
            raw,
        }))
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// The numeric columns of one attribute over every shard of a view.
pub struct NumColumns {
    bits: u32,
    base: usize,
    shards: Vec<Option<Arc<NumColumn>>>,
}

impl NumColumns {
    /// `(kind, raw)` of each of the `len` live nodes `first..first + len`,
    /// in index order. Read shard by shard, each shard's column one
    /// sequential stream (node by node interleaves all of them).
    pub fn gather_range(&self, first: Ix, len: usize) -> (Vec<u8>, Vec<u64>) {
        let (mut kinds, mut raw) = (vec![num_kind::MISSING; len], vec![0; len]);
        let (first, step) = (first as usize, 1usize << self.bits);
        for (s, col) in self.shards.iter().enumerate() {
            // No column: all missing, as `get` says.
            let Some(col) = col else { continue };
            // The first index at or after `first` in shard `s`.
            let row0 = first >> self.bits;
            let mut ix = (row0 << self.bits) | s;
            if ix < first {
                ix += step;
            }
            while ix < first + len {
                let row = (ix >> self.bits) - self.base;
                kinds[ix - first] = col.kinds[row];
                raw[ix - first] = col.raw[row];
                ix += step;
            }
        }
        (kinds, raw)
    }

    /// `(kind, raw)` of live node `ix`.
    #[inline]
    pub fn get(&self, ix: Ix) -> (u8, u64) {
        let s = (ix as usize) & ((1 << self.bits) - 1);
        let row = ((ix as usize) >> self.bits) - self.base;
        match &self.shards[s] {
            Some(c) => (c.kinds[row], c.raw[row]),
            None => (num_kind::MISSING, 0),
        }
    }
}

/// A slot's value in a [`ValueColumn`]: a scalar copied out of the node's
/// attribute map, or where to find it instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No node in the slot, or the node has no such attribute.
    Missing,
    /// A string of more than 24 bytes, a list, a dict or an opaque value:
    /// read it from the node's map.
    InMap,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Up to 24 bytes (inline).
    Str(compact_str::CompactString),
}

// 24 bytes a slot, as a stored value (the string's spare byte tells the kinds apart).
const _: () = assert!(std::mem::size_of::<Cell>() == 24);

impl Cell {
    fn of<O>(v: Option<&Value<O>>) -> Self {
        match v {
            None => Cell::Missing,
            Some(Value::None) => Cell::None,
            Some(Value::Bool(b)) => Cell::Bool(*b),
            Some(Value::Int(i)) => Cell::Int(*i),
            Some(Value::Float(x)) => Cell::Float(*x),
            // A string of up to 24 bytes is copied inline; a longer one
            // stays in the map (a copy would double its memory, per name).
            Some(Value::Str(s)) if !s.is_heap_allocated() => Cell::Str(s.clone()),
            Some(Value::Str(_) | Value::List(_) | Value::Dict(_) | Value::Opaque(_)) => Cell::InMap,
        }
    }

    /// The value the cell holds (`None`: missing, or read from the map).
    pub fn value<O>(&self) -> Option<Value<O>> {
        Some(match self {
            Cell::Missing | Cell::InMap => return None,
            Cell::None => Value::None,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::Int(*i),
            Cell::Float(x) => Value::Float(*x),
            Cell::Str(s) => Value::Str(s.clone()),
        })
    }
}

/// One attribute's scalar values over one shard's slots, copied out of the
/// nodes' maps. A Python predicate that reads the attribute node after node
/// reads it here, one sequential stream, instead of from each node's map: a
/// map of many attributes sits a page or more from the next one, and
/// reaching it costs a TLB miss and a cache miss per node (see
/// `docs/performance.md`). Small maps lie next to each other and stream as
/// well as a column would: a shard of such nodes keeps no cells (its nodes
/// are read from their maps).
pub struct ValueColumn {
    version: u64,
    cells: Vec<Cell>,
}

/// Maps sampled to tell whether a shard's nodes are wide.
const WIDE_SAMPLE: usize = 64;
/// Attributes per node, on average over the sample, from which a shard's
/// values are worth copying into a column (a map of 8 takes 4 cache lines).
const WIDE_MAP: usize = 8;

/// Whether `shard`'s nodes (the first [`WIDE_SAMPLE`] with attributes) have
/// [`WIDE_MAP`] attributes or more on average.
fn wide<O>(shard: &Shard<O>) -> bool {
    let (mut maps, mut entries) = (0, 0);
    let sample = shard
        .slots
        .items()
        .filter_map(|(_, r)| r.attrs.as_deref())
        .take(WIDE_SAMPLE);
    for a in sample {
        maps += 1;
        entries += a.len();
    }
    maps > 0 && entries >= maps * WIDE_MAP
}

impl ShardCol for ValueColumn {
    fn build<O: Payload>(
        shard: &Shard<O>,
        attr: AttrId,
        cancel: &Cancel<'_>,
    ) -> Result<Option<Self>> {
        if !wide(shard) {
            return Ok(Some(Self {
                version: shard.version,
                cells: Vec::new(),
            }));
        }
        let mut cells = Vec::with_capacity(shard.slots.len());
        each_value(
            shard,
            attr,
            cancel,
            &mut cells,
            |cells, n| cells.extend(std::iter::repeat_n(Cell::Missing, n)),
            |cells, v| {
                cells.push(Cell::of(v));
                true
            },
        )?;
        Ok(Some(Self {
            version: shard.version,
            cells,
        }))
    }

    fn version(&self) -> u64 {
        self.version
    }

    /// 24 bytes a slot each: fewer than the other kinds.
    const KEPT: usize = MAX_VALUE_COLUMNS;
}

/// Attributes whose [`ValueColumn`]s are kept.
const MAX_VALUE_COLUMNS: usize = 4;

/// The value columns of some attributes over every shard of a view: what a
/// per-node predicate reads instead of the nodes' maps. A shard without a
/// column (written since its column was built: see
/// [`ColumnCache::columns`]'s `lazy`) is read from the maps.
pub struct ValueColumns {
    bits: u32,
    base: usize,
    attrs: Vec<(AttrId, Vec<Option<Arc<ValueColumn>>>)>,
}

impl ValueColumns {
    /// Attribute `attr` of live node `ix`, if a column holds it (`None`:
    /// read the node's map).
    #[inline]
    pub fn get(&self, attr: AttrId, ix: Ix) -> Option<&Cell> {
        let (_, shards) = self.attrs.iter().find(|(a, _)| *a == attr)?;
        let s = (ix as usize) & ((1 << self.bits) - 1);
        let row = ((ix as usize) >> self.bits).checked_sub(self.base)?;
        match shards.get(s)?.as_deref()?.cells.get(row)? {
            Cell::InMap => None,
            cell => Some(cell),
        }
    }

    /// Whether no attribute has a column with cells (nothing to read here).
    pub fn is_empty(&self) -> bool {
        self.attrs
            .iter()
            .flat_map(|(_, shards)| shards.iter().flatten())
            .all(|c| c.cells.is_empty())
    }
}

struct CachedAttr<C> {
    shards: Vec<Option<Arc<C>>>,
    /// Per shard, the version a lazy caller found its column stale at and
    /// scanned without one (see [`ColumnCache::columns`]).
    passed: Vec<u64>,
    used: u64,
}

impl<C> Default for CachedAttr<C> {
    fn default() -> Self {
        Self {
            shards: Vec::new(),
            passed: Vec::new(),
            used: 0,
        }
    }
}

/// The columns a [`ColumnCache::take`] emptied out: freed when dropped.
pub(crate) struct RetiredColumns {
    _caches: Caches,
}

#[derive(Default)]
struct Caches {
    clock: u64,
    eq: HashMap<AttrId, CachedAttr<ShardColumn>>,
    num: HashMap<AttrId, CachedAttr<NumColumn>>,
    /// One entry (key 0): which slots are live.
    live: HashMap<AttrId, CachedAttr<LiveColumn>>,
    /// One entry (key 0): the adjacency CSR of each shard.
    adj: HashMap<AttrId, CachedAttr<AdjColumn>>,
    vals: HashMap<AttrId, CachedAttr<ValueColumn>>,
    /// The names the last large per-node predicate filter read (see
    /// [`ColumnCache::values`]).
    read: Vec<AttrId>,
}

/// Which of a shard's slots hold a node, one bit each: a filter without
/// `where` lists the live nodes without touching their records.
struct LiveColumn {
    version: u64,
    bits: Vec<u64>,
}

impl LiveColumn {
    #[inline]
    fn get(&self, row: usize) -> bool {
        self.bits
            .get(row / 64)
            .is_some_and(|w| w >> (row % 64) & 1 == 1)
    }

    /// How many of the rows `r0..r1` are live.
    fn count(&self, r0: usize, r1: usize) -> usize {
        if r0 >= r1 {
            return 0;
        }
        let (w0, w1) = (r0 / 64, (r1 - 1) / 64);
        (w0..=w1)
            .map(|w| {
                let mut word = self.bits.get(w).copied().unwrap_or(0);
                if w == w0 {
                    word &= !0u64 << (r0 % 64);
                }
                if w == w1 && r1 - w * 64 < 64 {
                    word &= (1u64 << (r1 - w * 64)) - 1;
                }
                word.count_ones() as usize
            })
            .sum()
    }
}

impl ShardCol for LiveColumn {
    fn build<O: Payload>(shard: &Shard<O>, _: AttrId, cancel: &Cancel<'_>) -> Result<Option<Self>> {
        let mut bits = vec![0u64; shard.slots.len().div_ceil(64)];
        for (k, (row, _)) in shard.slots.items().enumerate() {
            if k % CHECK_EVERY == CHECK_EVERY - 1 {
                cancel.check()?;
            }
            bits[row / 64] |= 1 << (row % 64);
        }
        Ok(Some(Self {
            version: shard.version,
            bits,
        }))
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// Attribute columns per shard, reused until the shard changes (its version
/// moves): after a write only the written shards' columns are rebuilt.
/// Dictionary-encoded ones serve `where`; numeric ones serve vectorized
/// `batch.column`. The mutex is a leaf: it is held only to look up or store
/// `Arc`s, never while building a column or scanning.
#[derive(Default)]
pub struct ColumnCache {
    // A modelled mutex, not a leaf one: it clones and drops `Arc`s inside
    // (loom's, under loom), so a model may switch threads while it is held.
    inner: Mutex<Caches>,
}

/// Whether `col` was built from `shard`'s current version.
fn current<C: ShardCol, O: Payload>(col: &Option<Arc<C>>, shard: &Shard<O>) -> bool {
    matches!(col, Some(c) if c.version() == shard.version)
}

impl ColumnCache {
    /// Columns of `attr` for every shard of `view` (`None` for a shard that is
    /// not worth encoding), building what is missing or stale.
    ///
    /// `lazy` (a caller that can scan a shard's records instead, as `where`
    /// does): a shard whose column went stale (it was written since) gets
    /// `None` the first time it is asked for at a version, and a column
    /// only when that version is asked for again. A writer interleaved with
    /// filters then costs each filter a scan of the written shards, not the
    /// building of columns the next write throws away (a 1M-node `where`
    /// after a write per shard: the columns' rebuild was most of 30 ms).
    fn columns<O: Payload, C: ShardCol>(
        &self,
        view: &GraphView<'_, O>,
        attr: AttrId,
        pick: fn(&mut Caches) -> &mut HashMap<AttrId, CachedAttr<C>>,
        lazy: bool,
        cancel: &Cancel<'_>,
    ) -> Result<Vec<Option<Arc<C>>>> {
        let (_, shards) = view.parts();
        // Under the lock: each shard's column if current, else `None` and
        // either built below (`stale`) or, lazily, scanned this time.
        let mut stale = Vec::new();
        let mut have: Vec<Option<Arc<C>>> = {
            let mut g = self.inner.lock();
            g.clock += 1;
            let tick = g.clock;
            let entry = pick(&mut g).entry(attr).or_default();
            entry.used = tick;
            entry.shards.resize(shards.len(), None);
            entry.passed.resize(shards.len(), u64::MAX);
            let mut have = entry.shards.clone();
            for (i, shard) in shards.iter().enumerate() {
                if current(&have[i], shard) {
                    continue;
                }
                let written = matches!(&have[i], Some(c) if c.version() < shard.version);
                if lazy && written && entry.passed[i] != shard.version {
                    entry.passed[i] = shard.version;
                    have[i] = None; // scanned from the records this time
                } else {
                    stale.push(i);
                }
            }
            have
        };
        if stale.is_empty() {
            return Ok(have);
        }
        bump(Counter::ViewsBuilt);
        let build = |&i: &usize| Ok((i, C::build(shards[i], attr, cancel)?.map(Arc::new)));
        let built: Vec<(usize, Option<Arc<C>>)> = if stale.len() > 1 && parallel_ok() {
            let slots = stale.iter().map(|&i| shards[i].slots.len()).sum();
            cancel.watch(slots, || stale.par_iter().map(build).collect::<Result<_>>())?
        } else {
            stale.iter().map(build).collect::<Result<_>>()?
        };
        // Columns replaced or evicted are dropped after the lock: freeing
        // one (a CSR's ids, a dictionary's keys) is no work for a leaf lock.
        let mut retired = Vec::new();
        let mut g = self.inner.lock();
        let map = pick(&mut g);
        let entry = map.entry(attr).or_default();
        entry.shards.resize(shards.len(), None);
        for (i, col) in built {
            // Keep whichever column is newest (another filter may have built one).
            let newer = match (&entry.shards[i], &col) {
                (Some(old), Some(new)) => new.version() >= old.version(),
                _ => true,
            };
            if newer {
                retired.push(std::mem::replace(&mut entry.shards[i], col.clone()));
            }
            have[i] = col;
        }
        let evicted = if map.len() > C::KEPT {
            let oldest = map.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| *k);
            oldest.and_then(|k| map.remove(&k))
        } else {
            None
        };
        drop(g);
        drop((retired, evicted));
        Ok(have)
    }

    /// Numeric columns of `attr` over `view`'s shards.
    pub fn numeric<O: Payload>(
        &self,
        view: &GraphView<'_, O>,
        attr: AttrId,
        cancel: &Cancel<'_>,
    ) -> Result<NumColumns> {
        let (bits, shards) = view.parts();
        Ok(NumColumns {
            bits,
            base: shards.first().map_or(0, |s| s.base as usize),
            shards: self.columns(view, attr, |c| &mut c.num, false, cancel)?,
        })
    }

    /// Value columns over `view`'s shards of the names the last large
    /// per-node predicate filter read ([`Self::note_reads`]), for the next
    /// one. Lazy as `where` is: a shard written since its column was built
    /// is read from its maps the first time, and gets a new column when the
    /// same version is filtered again.
    pub fn values<O: Payload>(
        &self,
        view: &GraphView<'_, O>,
        cancel: &Cancel<'_>,
    ) -> Result<ValueColumns> {
        let (bits, shards) = view.parts();
        let names = self.inner.lock().read.clone();
        let attrs = names
            .into_iter()
            .map(|a| Ok((a, self.columns(view, a, |c| &mut c.vals, true, cancel)?)))
            .collect::<Result<_>>()?;
        Ok(ValueColumns {
            bits,
            base: shards.first().map_or(0, |s| s.base as usize),
            attrs,
        })
    }

    /// Records the names (at most [`MAX_VALUE_COLUMNS`], in the order first
    /// read) a large per-node predicate filter read: the next such filter
    /// reads them from value columns ([`Self::values`]).
    pub fn note_reads(&self, names: &[AttrId]) {
        let names = &names[..names.len().min(MAX_VALUE_COLUMNS)];
        let mut g = self.inner.lock();
        if g.read != names {
            g.read.clear();
            g.read.extend_from_slice(names);
        }
    }

    /// The adjacency of `view`'s shards as cached CSRs (see [`AdjIndex`]).
    pub fn adjacency<O: Payload>(
        &self,
        view: &GraphView<'_, O>,
        cancel: &Cancel<'_>,
    ) -> Result<AdjIndex> {
        let (bits, shards) = view.parts();
        Ok(AdjIndex {
            bits,
            base: shards.first().map_or(0, |s| s.base),
            shards: self.columns(view, 0, |c| &mut c.adj, false, cancel)?,
        })
    }

    /// [`Self::adjacency`] if every shard's CSR is current, without building
    /// any (`None`: some shard was written since its CSR was built).
    pub fn fresh_adjacency<O: Payload>(&self, view: &GraphView<'_, O>) -> Option<AdjIndex> {
        let (bits, shards) = view.parts();
        let have = self.inner.lock().adj.get(&0)?.shards.clone();
        let fresh =
            have.len() == shards.len() && have.iter().zip(shards).all(|(c, s)| current(c, s));
        fresh.then(|| AdjIndex {
            bits,
            base: shards.first().map_or(0, |s| s.base),
            shards: have,
        })
    }

    /// Empties the cache (the graph was cleared or renumbered) and hands its
    /// columns to the caller, to free where it holds no lock: a clear or a
    /// renumbering, which empties it under every shard lock, frees them
    /// after letting those go.
    pub(crate) fn take(&self) -> RetiredColumns {
        RetiredColumns {
            _caches: std::mem::take(&mut *self.inner.lock()),
        }
    }
}

/// `scan_nodes` through the column cache: each condition compares one `u32`
/// per node. Falls back to the direct scan for shards without a column.
pub fn scan_nodes_cached<O: Payload>(
    view: &GraphView<'_, O>,
    cond: &Where,
    cache: &ColumnCache,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    if cond.impossible {
        return Ok(Vec::new());
    }
    if cond.is_empty() {
        return scan_live(view, cache, cancel);
    }
    // Per condition, per shard: the column and the code to look for
    // (`None` code: nothing in that shard can match).
    let mut per_cond = Vec::with_capacity(cond.conds.len());
    for (attr, want) in &cond.conds {
        let cols = cache.columns(view, *attr, |c| &mut c.eq, true, cancel)?;
        let key = want.canon().map(Canon::to_key);
        let codes: Vec<Option<u32>> = cols
            .iter()
            .map(|c| match (c, &key) {
                (Some(c), Some(k)) => c.dict.get(k).copied(),
                _ => None,
            })
            .collect();
        per_cond.push((cols, codes));
    }
    cancel.check()?;
    let (bits, shards) = view.parts();
    let n = shards.len();
    let base = shards.first().map_or(0, |s| s.base as usize);
    let rows = view.rows();
    // Where every condition has a column, only the `u32` codes are read (a
    // dead slot's code matches nothing); records are touched only for shards
    // without a column.
    let scan_rows = |r0: usize, r1: usize, out: &mut Vec<Ix>| {
        for rows in view.held_rows(r0, r1) {
            for row in rows {
                'shard: for s in 0..n {
                    for (cols, codes) in &per_cond {
                        let ok = match &cols[s] {
                            Some(col) => matches!(
                                (codes[s], col.codes.get(row)),
                                (Some(want), Some(&have)) if want == have
                            ),
                            None => matches!(
                                shards[s].slots.get(row),
                                Some(rec) if cond.matches(rec.attrs.as_deref())
                            ),
                        };
                        if !ok {
                            continue 'shard;
                        }
                    }
                    out.push((((base + row) << bits) | s) as Ix);
                }
            }
        }
    };
    let step = CHUNK / n.max(1);
    // Rows that churn emptied in every shard are skipped: they do not count.
    let parallel = view.held_slots() >= PAR_SCAN_MIN;
    if let [(cols, codes)] = per_cond.as_slice() {
        if cols.iter().all(Option::is_some) {
            // One condition with a column in every shard (the common case):
            // per shard, the codes and the one to look for (an empty lane
            // where the value does not occur). Branch-free: each slot is
            // written and kept only when it matches.
            let lanes: Vec<(&[u32], u32)> = cols
                .iter()
                .zip(codes)
                .map(|(col, code)| match (col, code) {
                    (Some(col), Some(want)) => (col.codes.as_slice(), *want),
                    _ => (&[][..], 0),
                })
                .collect();
            if n <= 64 {
                return chunked_by((0, rows, step), parallel, cancel, |r0, r1, out| {
                    scan_lanes(&lanes, base, bits, view.held_rows(r0, r1), out);
                });
            }
            return chunked_by((0, rows, step), parallel, cancel, |r0, r1, out| {
                let held: Vec<_> = view.held_rows(r0, r1).collect();
                let mut buf = vec![0 as Ix; held.iter().map(|r| r.len()).sum::<usize>() * n];
                let mut k = 0;
                // A plain loop per range of held rows (a flattened iterator
                // in this loop cost a third more on a dense graph).
                for rows in held {
                    for row in rows {
                        let first = ((base + row) << bits) as Ix;
                        for (s, &(codes, want)) in lanes.iter().enumerate() {
                            buf[k] = first | s as Ix;
                            k += usize::from(codes.get(row) == Some(&want));
                        }
                    }
                }
                buf.truncate(k);
                *out = buf;
            });
        }
    }
    chunked_by((0, rows, step), parallel, cancel, scan_rows)
}

/// One condition over at most 64 shards' code columns (`lanes`: each
/// shard's codes and the code to look for; an empty column where the value
/// does not occur), for the rows of `held`, appending matches to `out` in
/// index order. Each shard's column is compared on its own, in one pass
/// the compiler vectorizes, into a per-row mask with a bit per shard; the
/// matches are then read off the masks row by row. Reading the shards'
/// columns side by side instead, a code from each per row, took most of a
/// `where` call.
fn scan_lanes(
    lanes: &[(&[u32], u32)],
    base: usize,
    bits: u32,
    held: impl Iterator<Item = std::ops::Range<usize>>,
    out: &mut Vec<Ix>,
) {
    let mut masks: Vec<u64> = Vec::new();
    for rows in held {
        masks.clear();
        masks.resize(rows.len(), 0);
        let mut any = 0u64;
        for (s, &(codes, want)) in lanes.iter().enumerate() {
            let col = codes
                .get(rows.start..rows.end.min(codes.len()))
                .unwrap_or(&[]);
            let bit = 1u64 << s;
            let mut hit = 0u64;
            for (m, &c) in masks.iter_mut().zip(col) {
                let b = if c == want { bit } else { 0 };
                *m |= b;
                hit |= b;
            }
            any |= hit;
        }
        if any == 0 {
            continue;
        }
        out.reserve(rows.len() * any.count_ones() as usize);
        for (i, &m) in masks.iter().enumerate() {
            let first = ((base + rows.start + i) << bits) as Ix;
            let mut m = m;
            while m != 0 {
                out.push(first | m.trailing_zeros() as Ix);
                m &= m - 1;
            }
        }
    }
}

/// Every live node, in insertion order, from the cached liveness bits.
/// Counted per chunk first, so that each chunk fills its own part of one
/// output (no per-chunk vectors to grow and then concatenate).
fn scan_live<O: Payload>(
    view: &GraphView<'_, O>,
    cache: &ColumnCache,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    let live = cache.columns(view, 0, |c| &mut c.live, false, cancel)?;
    let (bits, shards) = view.parts();
    let n = shards.len();
    let base = shards.first().map_or(0, |s| s.base as usize);
    let rows = view.rows();
    let step = (CHUNK / n.max(1)).max(1);
    let range = |c: usize| (c * step, ((c + 1) * step).min(rows));
    let alive = |s: usize, row: usize| match &live[s] {
        Some(col) => col.get(row),
        None => shards[s].slots.get(row).is_some(),
    };
    // Rows that churn emptied in every shard are skipped.
    let count = |c: usize| -> Result<usize> {
        cancel.check()?;
        let (r0, r1) = range(c);
        Ok(view
            .held_rows(r0, r1)
            .map(|rows| -> usize {
                (0..n)
                    .map(|s| match &live[s] {
                        Some(col) => col.count(rows.start, rows.end),
                        None => rows.clone().filter(|&row| alive(s, row)).count(),
                    })
                    .sum()
            })
            .sum())
    };
    let fill = |(c, part): (usize, &mut [Ix])| {
        let (r0, r1) = range(c);
        let mut k = 0;
        for rows in view.held_rows(r0, r1) {
            for row in rows {
                for s in 0..n {
                    if alive(s, row) {
                        part[k] = (((base + row) << bits) | s) as Ix;
                        k += 1;
                    }
                }
            }
        }
    };
    let parallel = view.held_slots() >= PAR_SCAN_MIN;
    let counts = map_chunks(rows.div_ceil(step), parallel, count)?;
    let mut out = vec![0 as Ix; counts.iter().sum()];
    let mut parts = Vec::with_capacity(counts.len());
    let mut rest = out.as_mut_slice();
    for &k in &counts {
        let (part, tail) = rest.split_at_mut(k);
        parts.push(part);
        rest = tail;
    }
    if parallel && parallel_ok() {
        parts.into_par_iter().enumerate().for_each(fill);
    } else {
        parts.into_iter().enumerate().for_each(fill);
    }
    Ok(out)
}

/// Live nodes passing `cond`, in insertion order.
pub fn scan_nodes<O: Payload>(
    view: &GraphView<'_, O>,
    cond: &Where,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    chunked(view, cancel, |a, b, out| {
        for ixs in view.held_ixs(a as Ix, b as Ix) {
            for ix in ixs {
                if let Some(rec) = view.rec(ix) {
                    if cond.matches(rec.attrs.as_deref()) {
                        out.push(ix);
                    }
                }
            }
        }
    })
}

/// Edges passing `cond` on their attributes, in `edges()` order: by source in
/// node order, then by edge insertion; undirected edges once, from their
/// earlier endpoint.
pub fn scan_edges<O: Payload>(
    view: &GraphView<'_, O>,
    cond: &Where,
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, Ix)>> {
    let directed = view.directed();
    chunked(view, cancel, |a, b, out| {
        for ixs in view.held_ixs(a as Ix, b as Ix) {
            for s in ixs {
                let Some(rec) = view.rec(s) else { continue };
                for &t in rec.out() {
                    if (directed || t >= s) && cond.matches(rec_edge_attrs(view, s, t)) {
                        out.push((s, t));
                    }
                }
            }
        }
    })
}

#[inline]
fn rec_edge_attrs<'a, O: Payload>(
    view: &GraphView<'a, O>,
    s: Ix,
    t: Ix,
) -> Option<&'a AttrSlice<O>> {
    view.edge_attrs(s, t).map(|a| &**a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cancel::never;
    use crate::engine::{intern, AttrMap, Graph, NodeId, NodeRef};

    fn attrs(kv: &[(&str, Value<()>)]) -> AttrMap<()> {
        let mut m = AttrMap::new();
        for (k, v) in kv {
            m.insert(intern(k), v.clone());
        }
        m
    }

    #[test]
    fn live_count_equals_counting_rows() {
        let mut next = crate::engine::testing::xorshift(0x9E37_79B9_7F4A_7C15);
        let bits: Vec<u64> = (0..5).map(|_| next(0)).collect();
        let col = LiveColumn { version: 0, bits };
        for r0 in 0..330 {
            for r1 in r0..330 {
                let want = (r0..r1).filter(|&row| col.get(row)).count();
                assert_eq!(col.count(r0, r1), want, "{r0}..{r1}");
            }
        }
    }

    #[test]
    fn value_columns_hold_what_the_maps_hold_and_follow_writes() {
        let g: Graph<()> = Graph::with_shards(true, 8);
        let k = intern("value_col_k");
        let pad: Vec<(String, Value<()>)> = (0..WIDE_MAP)
            .map(|j| (format!("value_col_pad{j}"), Value::Int(j as i64)))
            .collect();
        let value = |i: i64| match i % 7 {
            0 => Some(Value::Int(i)),
            1 => Some(Value::Float(i as f64 / 3.0)),
            2 => Some(Value::Bool(i % 3 == 0)),
            3 => Some(Value::None),
            4 => Some(Value::Str(
                format!("s{i}").repeat(1 + (i as usize % 5) * 4).into(),
            )),
            5 => Some(Value::List(vec![Value::Int(i)].into())),
            _ => None, // missing
        };
        for i in 0..1_000i64 {
            let mut m = AttrMap::new();
            for (name, v) in &pad {
                m.insert(intern(name), v.clone());
            }
            if let Some(v) = value(i) {
                m.insert(k, v);
            }
            g.add_node(NodeRef::Int(i), m).unwrap();
        }
        let narrow_k = intern("value_col_narrow");
        g.add_node(
            NodeRef::Int(5_000),
            attrs(&[("value_col_narrow", Value::Int(1))]),
        )
        .unwrap();
        // How many nodes the columns served and how many they could serve
        // (all but lists and strings of more than 24 bytes); `stale`: a
        // shard may have no current column (its nodes then read their maps).
        let check = |g: &Graph<()>, stale: bool| {
            let snap = g.snapshot();
            let view = snap.view();
            g.columns.note_reads(&[k, narrow_k]);
            let cols = never(|c| g.columns.values(&view, c)).unwrap();
            let (mut served, mut servable) = (0, 0);
            for ix in view.lo()..view.lo() + 1_001 {
                let want = view.attrs(ix).and_then(|a| a.get(k));
                let in_map = matches!(want, Some(Value::List(_)))
                    || matches!(want, Some(Value::Str(s)) if s.len() > 24);
                servable += usize::from(!in_map);
                match cols.get(k, ix) {
                    Some(cell) => {
                        served += 1;
                        assert!(!in_map, "node {ix}: {want:?} served");
                        assert_eq!(*cell, Cell::of(want), "node {ix}");
                    }
                    // Read from the map: containers, long strings, and the
                    // nodes of stale shards.
                    None => assert!(in_map || stale, "node {ix}: {want:?}"),
                }
            }
            (served, servable)
        };
        // Every scalar (short strings) and every missing value is served.
        let (served, all) = check(&g, false);
        assert_eq!(served, all);
        assert!(
            all < 1_001 - 1_000 / 7 - 1,
            "no long string among the values"
        );
        // A write: the written shard is read from its maps once, then rebuilt.
        let mut m = AttrMap::new();
        m.insert(k, Value::Str("changed".into()));
        g.update_node(NodeRef::Int(3), m).unwrap();
        let shard_nodes = 1_000 / 8;
        assert!(check(&g, true).0 <= all - shard_nodes / 2);
        assert_eq!(check(&g, false).0, all);
        // A graph of small maps keeps no cells: its maps are read directly.
        let small: Graph<()> = Graph::with_shards(true, 8);
        for i in 0..100i64 {
            small
                .add_node(NodeRef::Int(i), attrs(&[("value_col_k", Value::Int(i))]))
                .unwrap();
        }
        let snap = small.snapshot();
        small.columns.note_reads(&[k]);
        let cols = never(|c| small.columns.values(&snap.view(), c)).unwrap();
        assert!(cols.is_empty());
        assert!((0..100).all(|ix| cols.get(k, snap.view().lo() + ix).is_none()));
    }

    #[test]
    fn gather_range_equals_node_by_node_reads() {
        let g: Graph<()> = Graph::with_shards(true, 8);
        let k = intern("gather_test_k");
        for i in 0..1_000i64 {
            let v = match i % 4 {
                0 => Some(Value::Int(i)),
                1 => Some(Value::Float(i as f64 / 3.0)),
                2 => Some(Value::Bool(i % 3 == 0)),
                _ => None, // missing
            };
            let kv: Vec<_> = v.into_iter().map(|v| ("gather_test_k", v)).collect();
            g.add_node(NodeRef::Int(i), attrs(&kv)).unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let cols = never(|c| g.columns.numeric(&view, k, c)).unwrap();
        let first = view.lo();
        // Every start offset within a row of shards, lengths across rows.
        for start in 0..20u32 {
            for len in [0, 1, 7, 8, 9, 63, 500, 980] {
                let ix0 = first + start;
                let (kinds, raw) = cols.gather_range(ix0, len);
                let want: (Vec<u8>, Vec<u64>) =
                    (ix0..ix0 + len as Ix).map(|ix| cols.get(ix)).unzip();
                assert_eq!((kinds, raw), want, "start {start}, len {len}");
            }
        }
    }

    #[test]
    fn python_equality_rules() {
        let one = WhereVal::Int(1);
        assert!(one.eq_value::<()>(&Value::Int(1)));
        assert!(one.eq_value::<()>(&Value::Float(1.0)));
        assert!(one.eq_value::<()>(&Value::Bool(true)));
        assert!(!one.eq_value::<()>(&Value::Str("1".into())));
        assert!(!one.eq_value::<()>(&Value::None));
        assert!(!WhereVal::Float(f64::NAN).eq_value::<()>(&Value::Float(f64::NAN)));
        assert!(WhereVal::None.eq_value::<()>(&Value::None));
        assert!(!WhereVal::None.eq_value::<()>(&Value::Bool(false)));
        assert!(WhereVal::Bool(false).eq_value::<()>(&Value::Int(0)));
        // 2^53 + 1 is not equal to the float 2^53 (Python compares exactly).
        let big = (1i64 << 53) + 1;
        assert!(!WhereVal::Int(big).eq_value::<()>(&Value::Float((1u64 << 53) as f64)));
        assert!(!WhereVal::Int(i64::MAX).eq_value::<()>(&Value::Float(9.223_372_036_854_776e18)));
        assert!(WhereVal::Str("a".into()).eq_value::<()>(&Value::Str("a".into())));
    }

    /// An opaque payload standing for a number (a numpy scalar, say).
    #[derive(Clone, Debug, PartialEq)]
    struct Stands(Option<Number>);

    impl Payload for Stands {
        fn number(&self) -> Option<Number> {
            self.0
        }
    }

    #[test]
    fn opaque_values_compare_and_read_as_the_numbers_they_stand_for() {
        let v = |n| Value::Opaque(Stands(n));
        assert!(WhereVal::Int(3).eq_value(&v(Some(Number::Int(3)))));
        assert!(WhereVal::Int(3).eq_value(&v(Some(Number::Float(3.0)))));
        assert!(WhereVal::Int(1).eq_value(&v(Some(Number::Bool(true)))));
        assert!(!WhereVal::Int(3).eq_value(&v(None)));
        assert!(!WhereVal::None.eq_value(&v(None)));
        let g: Graph<Stands> = Graph::with_shards(true, 2);
        let x = intern("filter_test_stands");
        let stands = [Some(Number::Float(0.5)), Some(Number::Bool(true)), None];
        for (i, n) in stands.into_iter().enumerate() {
            let mut a = AttrMap::new();
            a.insert(x, v(n));
            g.add_node(NodeRef::Int(i as i64), a).unwrap();
        }
        let cols = never(|c| g.columns.numeric(&g.snapshot().view(), x, c)).unwrap();
        let got: Vec<(u8, u64)> = (0..3).map(|ix| cols.get(ix)).collect();
        let want = [
            (num_kind::FLOAT, 0.5f64.to_bits()),
            (num_kind::BOOL, 1),
            (num_kind::OTHER, 0),
        ];
        assert_eq!(got, want);
    }

    /// An opaque payload standing for a scalar that is no number (a `str`
    /// subclass instance, an int beyond 64 bits).
    #[derive(Clone, Debug, PartialEq)]
    enum Equal {
        Str(&'static str),
        Float(f64),
        BigInt(&'static str),
        Lone(&'static str),
        Nothing,
    }

    impl Payload for Equal {
        fn equiv(&self) -> Option<Equiv<'_>> {
            match *self {
                Equal::Str(s) => Some(Equiv::Str(s)),
                Equal::Float(x) => Some(Equiv::Float(x)),
                Equal::BigInt(t) => Some(Equiv::BigInt(t)),
                Equal::Lone(t) => Some(Equiv::Lone(t)),
                Equal::Nothing => None,
            }
        }
    }

    #[test]
    fn opaque_values_compare_as_the_scalars_they_equal() {
        let v = |e| Value::Opaque(e);
        let two_70 = (1u128 << 70) as f64;
        assert!(WhereVal::Str("on".into()).eq_value(&v(Equal::Str("on"))));
        assert!(!WhereVal::Str("on".into()).eq_value(&v(Equal::BigInt("on"))));
        assert!(WhereVal::Float(two_70).eq_value(&v(Equal::Float(two_70))));
        assert!(WhereVal::BigInt("0x400000000000000001".into())
            .eq_value(&v(Equal::BigInt("0x400000000000000001"))));
        assert!(!WhereVal::BigInt("0x400000000000000001".into())
            .eq_value(&v(Equal::Str("0x400000000000000001"))));
        assert!(!WhereVal::None.eq_value(&v(Equal::Nothing)));
        assert!(WhereVal::Lone("00d800".into()).eq_value(&v(Equal::Lone("00d800"))));
        assert!(!WhereVal::Lone("00d800".into()).eq_value(&v(Equal::Str("00d800"))));
        assert!(!WhereVal::Str("00d800".into()).eq_value(&v(Equal::Lone("00d800"))));
        // The same by the direct scan and by the cached, dictionary-encoded
        // columns.
        let g: Graph<Equal> = Graph::with_shards(true, 2);
        let x = intern("filter_test_equal");
        let stored = [
            Equal::Str("on"),
            Equal::BigInt("0x400000000000000001"),
            Equal::Float(two_70),
            Equal::Nothing,
            Equal::Str("0x400000000000000001"),
            Equal::Lone("0x400000000000000001"),
        ];
        for (i, e) in stored.into_iter().enumerate() {
            let mut a = AttrMap::new();
            a.insert(x, v(e));
            g.add_node(NodeRef::Int(i as i64), a).unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let hits = |want: WhereVal| -> Vec<Ix> {
            let cond = Where::new([(Some(x), want)]);
            let direct = never(|c| scan_nodes(&view, &cond, c)).unwrap();
            let cached = never(|c| scan_nodes_cached(&view, &cond, &g.columns, c)).unwrap();
            assert_eq!(direct, cached);
            direct
        };
        assert_eq!(hits(WhereVal::Str("on".into())), [0]);
        assert_eq!(hits(WhereVal::BigInt("0x400000000000000001".into())), [1]);
        assert_eq!(hits(WhereVal::Float(two_70)), [2]);
        assert_eq!(hits(WhereVal::Str("0x400000000000000001".into())), [4]);
        assert_eq!(hits(WhereVal::Lone("0x400000000000000001".into())), [5]);
    }

    #[test]
    fn scan_keeps_insertion_order_and_skips_missing() {
        let g: Graph<()> = Graph::with_shards(true, 4);
        let status = intern("filter_test_status");
        for i in 0..300_000i64 {
            let a = if i % 3 == 0 {
                attrs(&[("filter_test_status", Value::Str("on".into()))])
            } else {
                AttrMap::new()
            };
            g.add_node(NodeRef::Int(i), a).unwrap();
        }
        g.remove_node(NodeId::Int(3).as_ref()).unwrap();
        let snap = g.snapshot();
        let view = snap.view();
        let cond = Where::new([(Some(status), WhereVal::Str("on".into()))]);
        let got = never(|c| scan_nodes(&view, &cond, c)).unwrap();
        let ids: Vec<i64> = got
            .iter()
            .map(|&ix| match view.key(ix) {
                NodeId::Int(i) => *i,
                _ => unreachable!(),
            })
            .collect();
        let want: Vec<i64> = (0..300_000).filter(|i| i % 3 == 0 && *i != 3).collect();
        assert_eq!(ids, want);
        let none = Where::new([(None, WhereVal::Int(1))]);
        assert!(never(|c| scan_nodes(&view, &none, c)).unwrap().is_empty());
        let all = never(|c| scan_nodes(&view, &Where::default(), c)).unwrap();
        assert_eq!(all.len(), 299_999);
    }

    #[test]
    fn cached_scan_equals_direct_scan_across_writes() {
        let g: Graph<()> = Graph::with_shards(true, 8);
        let k = intern("filter_test_k");
        let kv = |i: i64| match i % 5 {
            0 => Value::Int(1),
            1 => Value::Float(1.0),
            2 => Value::Bool(true),
            3 => Value::Str("1".into()),
            _ => Value::Float(f64::NAN),
        };
        for i in 0..5_000i64 {
            g.add_node(NodeRef::Int(i), attrs(&[("filter_test_k", kv(i))]))
                .unwrap();
        }
        let check = |g: &Graph<()>| {
            let snap = g.snapshot();
            let all = Where::default();
            let direct = never(|c| scan_nodes(&snap.view(), &all, c)).unwrap();
            let cached = never(|c| scan_nodes_cached(&snap.view(), &all, &g.columns, c)).unwrap();
            assert_eq!(direct, cached, "all live nodes");
            for want in [
                WhereVal::Int(1),
                WhereVal::Str("1".into()),
                WhereVal::Float(f64::NAN),
                WhereVal::None,
            ] {
                let cond = Where::new([(Some(k), want.clone())]);
                let snap = g.snapshot();
                let view = snap.view();
                let direct = never(|c| scan_nodes(&view, &cond, c)).unwrap();
                let cached = never(|c| scan_nodes_cached(&view, &cond, &g.columns, c)).unwrap();
                assert_eq!(direct, cached, "{want:?}");
            }
        };
        check(&g);
        check(&g); // from the cache
        g.update_node(
            NodeId::Int(7).as_ref(),
            attrs(&[("filter_test_k", Value::Int(1))]),
        )
        .unwrap();
        g.remove_node(NodeId::Int(10).as_ref()).unwrap();
        g.add_node(
            NodeRef::Int(99_999),
            attrs(&[("filter_test_k", Value::None)]),
        )
        .unwrap();
        check(&g); // only the written shards are rebuilt
        let snap = g.snapshot();
        let cond = Where::new([(Some(k), WhereVal::Int(1))]);
        let n = never(|c| scan_nodes_cached(&snap.view(), &cond, &g.columns, c))
            .unwrap()
            .len();
        assert_eq!(n, 3 * 1000 - 1); // 1, 1.0 and True match; node 10 left
        g.clear();
        check(&g);
    }

    #[test]
    fn cached_scan_of_one_condition_equals_direct_scan_for_any_shard_count() {
        // 1 to 64 shards take the per-row shard masks; 128 the plain loop.
        // Shards end up with different row counts, and some hold no node
        // with the wanted value (an empty lane).
        let k = intern("filter_test_lanes");
        for shards in [1, 2, 8, 64, 128] {
            let g: Graph<()> = Graph::with_shards(true, shards);
            let mut x = 11u64;
            for i in 0..3_001i64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = match (x >> 40) % 4 {
                    0 | 1 => Value::Int(1),
                    2 => Value::Int(2),
                    _ => Value::Str("other".into()),
                };
                // Value 3 only on a few nodes: most shards never hold it.
                let v = if i % 701 == 0 { Value::Int(3) } else { v };
                g.add_node(NodeRef::Int(i), attrs(&[("filter_test_lanes", v)]))
                    .unwrap();
            }
            for i in (0..3_001i64).step_by(7) {
                g.remove_node(NodeId::Int(i).as_ref()).unwrap();
            }
            let snap = g.snapshot();
            let view = snap.view();
            for want in [WhereVal::Int(1), WhereVal::Int(3), WhereVal::Int(9)] {
                let cond = Where::new([(Some(k), want.clone())]);
                let direct = never(|c| scan_nodes(&view, &cond, c)).unwrap();
                let cached = never(|c| scan_nodes_cached(&view, &cond, &g.columns, c)).unwrap();
                assert_eq!(direct, cached, "{shards} shards, {want:?}");
                assert_eq!(direct.is_empty(), want == WhereVal::Int(9));
            }
        }
    }

    #[test]
    fn a_cancelled_build_fails_and_caches_nothing() {
        // 20,000 nodes over 4 shards: each shard's build checks the token.
        let g: Graph<()> = Graph::with_shards(true, 4);
        let k = intern("filter_test_cancelled_build");
        for i in 0..20_000i64 {
            g.add_node(
                NodeRef::Int(i),
                attrs(&[("filter_test_cancelled_build", Value::Int(i % 3))]),
            )
            .unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let flag = crate::sync::AtomicBool::new(true);
        let cancelled = Cancel::new(&flag, None);
        for lazy in [false, true] {
            let got = g.columns.columns(&view, k, |c| &mut c.eq, lazy, &cancelled);
            assert!(matches!(got, Err(crate::error::GraphError::Interrupted)));
        }
        assert!(matches!(
            g.columns.numeric(&view, k, &cancelled),
            Err(crate::error::GraphError::Interrupted)
        ));
        assert!(g.columns.adjacency(&view, &cancelled).is_err());
        assert!(g.columns.fresh_adjacency(&view).is_none());
        // Nothing half-built was kept: a later build makes every column.
        let cols = never(|cx| g.columns.columns(&view, k, |c| &mut c.eq, false, cx)).unwrap();
        assert!(cols.iter().all(Option::is_some));
    }

    #[test]
    fn a_written_shard_is_scanned_once_before_its_column_is_rebuilt() {
        let g: Graph<()> = Graph::with_shards(true, 4);
        let k = intern("filter_test_lazy");
        for i in 0..1_000i64 {
            g.add_node(
                NodeRef::Int(i),
                attrs(&[("filter_test_lazy", Value::Int(i % 3))]),
            )
            .unwrap();
        }
        let built = |lazy: bool| -> Vec<bool> {
            let snap = g.snapshot();
            let cols =
                never(|cx| g.columns.columns(&snap.view(), k, |c| &mut c.eq, lazy, cx)).unwrap();
            cols.iter().map(Option::is_some).collect()
        };
        assert_eq!(built(true), [true; 4]); // never built: built at once
        let written = g.resolve(NodeRef::Int(5)).unwrap() as usize % 4;
        g.update_node(
            NodeRef::Int(5),
            attrs(&[("filter_test_lazy", Value::Int(7))]),
        )
        .unwrap();
        let mut once = [true; 4];
        once[written] = false;
        assert_eq!(built(true), once); // scanned from the records
        assert_eq!(built(true), [true; 4]); // asked again: rebuilt
        g.update_node(
            NodeRef::Int(5),
            attrs(&[("filter_test_lazy", Value::Int(8))]),
        )
        .unwrap();
        assert_eq!(built(false), [true; 4]); // a caller that needs columns
        let snap = g.snapshot();
        let cond = Where::new([(Some(k), WhereVal::Int(8))]);
        let five = g.resolve(NodeRef::Int(5)).unwrap();
        assert_eq!(
            never(|c| scan_nodes_cached(&snap.view(), &cond, &g.columns, c)).unwrap(),
            [five]
        );
    }

    #[test]
    fn scan_edges_in_edges_order() {
        let g: Graph<()> = Graph::with_shards(false, 4);
        for i in 0..5i64 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        let w = intern("filter_test_w");
        for (s, t, x) in [(3, 1, 1), (0, 4, 2), (1, 2, 1), (4, 2, 1)] {
            let a = attrs(&[("filter_test_w", Value::Int(x))]);
            g.add_edge(NodeId::Int(s).as_ref(), NodeId::Int(t).as_ref(), a)
                .unwrap();
        }
        let snap = g.snapshot();
        let view = snap.view();
        let cond = Where::new([(Some(w), WhereVal::Float(1.0))]);
        let got = never(|c| scan_edges(&view, &cond, c)).unwrap();
        let key = |ix| match view.key(ix) {
            NodeId::Int(i) => *i,
            _ => unreachable!(),
        };
        let pairs: Vec<(i64, i64)> = got.iter().map(|&(s, t)| (key(s), key(t))).collect();
        let want: Vec<(i64, i64)> = g
            .edges(true)
            .into_iter()
            .filter(|e| e.attrs.as_ref().unwrap().get(w) == Some(&Value::Int(1)))
            .map(|e| match (e.source, e.target) {
                (NodeId::Int(a), NodeId::Int(b)) => (a, b),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(pairs, want);
        assert_eq!(pairs.len(), 3);
    }
}
