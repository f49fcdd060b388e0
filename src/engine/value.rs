//! Native attribute values and attribute maps.
//!
//! Values the engine understands (str, i64, f64, bool, None, lists, dicts with
//! str keys) are stored natively so Rust can read them without Python; any
//! other value is an opaque payload `O` supplied by the binding.
//! Attribute names are interned process-wide to dense `AttrId`s: a node stores
//! 4 bytes per name, and `where` filters and columns compare integers.

use std::collections::HashMap;
use std::fmt;

use crate::sync::{ItemsArc, LeafRwLock, StdArc, ThinArc, ThinArcInner};

/// A value stored in the engine. 24 bytes: containers are shared slices, so
/// copying a value (changing one attribute of a map a snapshot still
/// shares) never copies a list's or dict's items; a value is never changed
/// in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<O> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Inline up to 24 bytes (most attribute strings): no allocation.
    Str(compact_str::CompactString),
    List(ItemsArc<[Value<O>]>),
    Dict(ItemsArc<[(Box<str>, Value<O>)]>),
    Opaque(O),
}

/// A number a value stands for: a native `bool`, `int` or `float`, or the
/// one an opaque value equals (see [`super::Payload::number`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// What a value the engine keeps as an object equals under Python's `==`
/// when it stands for no [`Number`] (see [`super::Payload::equiv`]): read by
/// `where` conditions only (such a value is not numeric).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Equiv<'a> {
    /// A `str` subclass instance (`np.str_`): its text.
    Str(&'a str),
    /// An `int` beyond 64 bits that is exactly this float (`2**70`).
    Float(f64),
    /// An `int` beyond 64 bits that equals no float, by a canonical text of
    /// it (the binding's choice: one int, one text).
    BigInt(&'a str),
    /// Text that is no Unicode scalar sequence (a Python `str` with lone
    /// surrogates, which Rust cannot hold), by a canonical form of it (the
    /// binding's choice: one text, one form). It equals no `Str`.
    Lone(&'a str),
}

impl<O: super::Payload> Value<O> {
    /// The number this value is or stands for.
    #[inline]
    pub fn number(&self) -> Option<Number> {
        match self {
            Value::Bool(b) => Some(Number::Bool(*b)),
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Float(x) => Some(Number::Float(*x)),
            Value::Opaque(o) => o.number(),
            _ => None,
        }
    }
}

// The inline string must not grow the value: it lives in every attribute slot.
const _: () = assert!(std::mem::size_of::<Value<StdArc<()>>>() == 24);

/// Dense id of an interned attribute name.
pub type AttrId = u32;

/// One node's (or edge's) attributes being built or changed, in insertion
/// order (Python dict order). Stored, they become [`SharedAttrs`]; both read
/// as an [`AttrSlice`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttrMap<O> {
    entries: Vec<(AttrId, Value<O>)>,
}

/// Attributes as a record holds them: absent when empty, shared with read
/// views, copied on write only while a view holds them.
pub type Attrs<O> = Option<SharedAttrs<O>>;

impl<O> Default for AttrMap<O> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<O> AttrMap<O> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    /// Reserves room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
    }

    /// The entries as record attributes, in one allocation of their size
    /// (`None` when empty), leaving this map empty with its buffer kept for
    /// reuse.
    pub fn take_attrs(&mut self) -> Attrs<O> {
        if self.entries.is_empty() {
            None
        } else {
            let live = self.entries.len() as u32;
            Some(SharedAttrs(ThinArc::from_header_and_iter(
                live,
                self.entries.drain(..),
            )))
        }
    }

    /// Appends without checking for an existing key: for building a map from a
    /// source whose keys are known to be distinct (a Python dict).
    #[inline]
    pub fn push_unique(&mut self, name: AttrId, value: Value<O>) {
        self.entries.push((name, value));
    }
}

impl<O> std::ops::Deref for AttrMap<O> {
    type Target = AttrSlice<O>;
    #[inline]
    fn deref(&self) -> &AttrSlice<O> {
        AttrSlice::new(&self.entries)
    }
}

/// Read access to attributes, stored or being built.
#[repr(transparent)]
pub struct AttrSlice<O> {
    entries: [(AttrId, Value<O>)],
}

impl<O> AttrSlice<O> {
    #[inline]
    fn new(entries: &[(AttrId, Value<O>)]) -> &Self {
        // SAFETY: `AttrSlice` is a `#[repr(transparent)]` wrapper of the slice.
        unsafe { &*(entries as *const [(AttrId, Value<O>)] as *const Self) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn get(&self, name: AttrId) -> Option<&Value<O>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// [`Self::get`] looking from entry `*hint` on (then from the start),
    /// and leaving there where `name` was found. Reading one name over many
    /// maps laid out alike (a column, a predicate's `a[name]` node after
    /// node), or one map's names in its own order (`dict(view)`), then finds
    /// each at once: by a scan from the start, a map of k attributes cost
    /// O(k) per read, and reading all of it O(k^2).
    #[inline]
    pub fn get_from(&self, name: AttrId, hint: &mut usize) -> Option<&Value<O>> {
        let e = &self.entries;
        let start = (*hint).min(e.len());
        let at = |from: usize, part: &[(AttrId, Value<O>)]| {
            part.iter().position(|(k, _)| *k == name).map(|p| from + p)
        };
        let pos = at(start, &e[start..]).or_else(|| at(0, &e[..start]))?;
        *hint = pos;
        Some(&e[pos].1)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (AttrId, &Value<O>)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
}

impl<O: Clone> AttrSlice<O> {
    /// A copy to change or hand out.
    pub fn to_map(&self) -> AttrMap<O> {
        AttrMap {
            entries: self.entries.to_vec(),
        }
    }
}

impl<O: fmt::Debug> fmt::Debug for AttrSlice<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Stored attributes: one allocation holding a reference count, the number
/// of entries in use, the room and the entries (a thin pointer in the
/// record). Read views share it. A map that grew by updates keeps spare room
/// at its end (unused entries past the header's count, never read), so a
/// node given new names one call at a time is not copied at every call.
pub struct SharedAttrs<O>(ThinArc<u32, (AttrId, Value<O>)>);

/// Maps at least this large get half again as much room when an update
/// makes them grow: smaller ones stay exact (most maps never grow).
const SPARE_FROM: usize = 16;

impl<O> SharedAttrs<O> {
    /// Stores `map` (empty maps are stored as `None`: see [`attrs_from`]).
    pub fn new(map: AttrMap<O>) -> Self {
        Self::with_room(map, 0)
    }

    /// Stores `map` with room for `spare` more entries.
    fn with_room(map: AttrMap<O>, spare: usize) -> Self {
        let live = map.entries.len() as u32;
        let mut entries = map.entries;
        entries.extend(std::iter::repeat_with(|| (0, Value::None)).take(spare));
        Self(ThinArc::from_header_and_iter(live, entries.into_iter()))
    }

    /// The entries in use.
    #[inline]
    fn entries(&self) -> &[(AttrId, Value<O>)] {
        &self.0.slice[..self.0.header.header as usize]
    }

    /// Sets the values of `new` in place when this map is not shared, every
    /// new name fits in its spare room, and `new` is small (an update's);
    /// otherwise changes nothing and hands `new` back.
    fn update_in_place(&mut self, new: AttrMap<O>) -> Option<AttrMap<O>> {
        const MAX: usize = 8;
        let unique = self
            .0
            .with_arc_mut(|arc| ThinArcInner::get_mut(arc).is_some());
        if !unique || new.entries.len() > MAX {
            return Some(new);
        }
        let live = self.entries().len();
        let room = self.0.slice.len();
        let (mut hint, mut at, mut next) = (0, [0usize; MAX], live);
        for (i, (k, _)) in new.entries.iter().enumerate() {
            at[i] = match AttrSlice::new(self.entries()).get_from(*k, &mut hint) {
                Some(_) => hint,
                None if next < room => {
                    next += 1; // a new name, appended in the spare room
                    next - 1
                }
                None => return Some(new), // no room: the map grows, by a copy
            };
        }
        self.0.with_arc_mut(|arc| {
            let inner = ThinArcInner::get_mut(arc).expect("unique");
            for ((k, v), &i) in new.entries.into_iter().zip(&at) {
                inner.slice_mut()[i] = (k, v);
            }
            *inner.header_mut() = next as u32;
        });
        None
    }

    /// Starts loading the map: its length (just before the entries) and its
    /// first entries, where a lookup starts.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let first = self.0.slice.as_ptr().cast::<u8>();
        super::adjacency::prefetch_addr(first.wrapping_sub(8));
        super::adjacency::prefetch_addr(first.wrapping_add(56));
    }
}

impl<O: Clone> SharedAttrs<O> {
    /// The entries as a map to change: moved out when nothing else shares
    /// them, copied otherwise.
    fn into_map(mut self) -> AttrMap<O> {
        let live = self.entries().len();
        let moved = self.0.with_arc_mut(|arc| {
            ThinArcInner::get_mut(arc).map(|inner| {
                inner.slice_mut()[..live]
                    .iter_mut()
                    .map(|(k, v)| (*k, std::mem::replace(v, Value::None)))
                    .collect()
            })
        });
        AttrMap {
            entries: moved.unwrap_or_else(|| self.entries().to_vec()),
        }
    }
}

impl<O> Clone for SharedAttrs<O> {
    #[inline]
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<O> std::ops::Deref for SharedAttrs<O> {
    type Target = AttrSlice<O>;
    #[inline]
    fn deref(&self) -> &AttrSlice<O> {
        AttrSlice::new(self.entries())
    }
}

impl<O: fmt::Debug> fmt::Debug for SharedAttrs<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<O: Clone> AttrMap<O> {
    /// Sets `name` (dict assignment: an existing key keeps its position).
    pub fn insert(&mut self, name: AttrId, value: Value<O>) {
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// `dict.update`: merges `other` into `self`.
    pub fn merge(&mut self, other: AttrMap<O>) {
        if self.entries.is_empty() {
            self.entries = other.entries;
            return;
        }
        // A few names (an update's): a scan each, which costs less than
        // indexing a wide map's every name (that made updating one attribute
        // of a node of 20,000 cost 0.3 ms).
        if other.entries.len() <= 8 || self.entries.len() * other.entries.len() <= 256 {
            for (k, v) in other.entries {
                self.insert(k, v);
            }
            return;
        }
        // Large merges: index positions once instead of scanning per key.
        let mut pos: HashMap<AttrId, usize, foldhash::fast::RandomState> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i))
            .collect();
        for (k, v) in other.entries {
            match pos.get(&k) {
                Some(&i) => self.entries[i].1 = v,
                None => {
                    pos.insert(k, self.entries.len());
                    self.entries.push((k, v));
                }
            }
        }
    }
}

/// Merges `new` into a record's attributes, copying the stored entries only
/// if a read view still holds them.
pub fn merge_attrs<O: Clone>(slot: &mut Attrs<O>, new: AttrMap<O>) {
    if new.is_empty() {
        return;
    }
    // In a map nothing else holds, existing names change in place and new
    // ones fill its spare room: no copy of the map, which is O(its size).
    if let Some(stored) = slot.as_mut() {
        if let Some(rest) = stored.update_in_place(new) {
            let mut map = slot.take().expect("just seen").into_map();
            map.merge(rest);
            // Grown by an update: room for as many updates again, or half.
            let spare = if map.len() >= SPARE_FROM {
                map.len() / 2
            } else {
                0
            };
            *slot = Some(SharedAttrs::with_room(map, spare));
        }
        return;
    }
    *slot = attrs_from(new);
}

/// [`merge_attrs`] for attributes already stored as a record holds them.
pub fn merge_shared<O: Clone>(slot: &mut Attrs<O>, new: Attrs<O>) {
    match (slot.is_some(), new) {
        (_, None) => {}
        (false, new) => *slot = new,
        (true, Some(new)) => merge_attrs(slot, new.into_map()),
    }
}

/// Wraps a freshly built map as record attributes (`None` when empty).
#[inline]
pub fn attrs_from<O>(map: AttrMap<O>) -> Attrs<O> {
    if map.entries.is_empty() {
        None
    } else {
        Some(SharedAttrs::new(map))
    }
}

// ---------------------------------------------------------------------------
// The attribute-name interner (process-wide, append-only).

struct NameTable {
    ids: HashMap<Box<str>, AttrId, foldhash::fast::RandomState>,
    names: Vec<StdArc<str>>,
}

static NAMES: LeafRwLock<Option<NameTable>> = LeafRwLock::new(None);

/// The id of attribute name `name`, interning it on first sight.
///
/// **Locking behaviour:** takes the interner's leaf lock (read, or write for a
/// new name) for one hash-map operation. Safe to call while holding shard
/// locks; never call it while holding the interner lock (it is not reentrant).
pub fn intern(name: &str) -> AttrId {
    if let Some(table) = NAMES.read().as_ref() {
        if let Some(&id) = table.ids.get(name) {
            return id;
        }
    }
    let mut guard = NAMES.write();
    let table = guard.get_or_insert_with(|| NameTable {
        ids: HashMap::default(),
        names: Vec::new(),
    });
    if let Some(&id) = table.ids.get(name) {
        return id;
    }
    let id = AttrId::try_from(table.names.len()).expect("more than 2^32 attribute names");
    table.ids.insert(name.into(), id);
    table.names.push(StdArc::from(name));
    id
}

/// The id of `name` if it was ever interned (a name never seen matches nothing).
pub fn lookup_name(name: &str) -> Option<AttrId> {
    NAMES.read().as_ref().and_then(|t| t.ids.get(name).copied())
}

/// The name of an interned id.
pub fn name_of(id: AttrId) -> StdArc<str> {
    NAMES.read().as_ref().expect("no names interned yet").names[id as usize].clone()
}

/// Names with ids `from..`: lets a binding extend its own cache in one lock.
pub fn names_from(from: usize) -> Vec<StdArc<str>> {
    NAMES
        .read()
        .as_ref()
        .map(|t| t.names[from.min(t.names.len())..].to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` fresh names `{prefix}_{i}` and a map of them to `i`, in order.
    fn numbered(prefix: &str, n: usize) -> (Vec<AttrId>, AttrMap<()>) {
        let ids: Vec<AttrId> = (0..n).map(|i| intern(&format!("{prefix}_{i}"))).collect();
        let mut m = AttrMap::new();
        for (i, &id) in ids.iter().enumerate() {
            m.push_unique(id, Value::Int(i as i64));
        }
        (ids, m)
    }

    /// A map of one name.
    fn one(k: AttrId, v: Value<()>) -> AttrMap<()> {
        let mut m = AttrMap::new();
        m.insert(k, v);
        m
    }

    /// Where stored attributes' entries start (a thin pointer: a slice's
    /// length may change while it stays put).
    fn addr(s: &Attrs<()>) -> Option<*const u8> {
        s.as_deref().map(|a| a as *const AttrSlice<()> as *const u8)
    }

    #[test]
    fn interning_is_stable() {
        let a = intern("alpha_test");
        assert_eq!(intern("alpha_test"), a);
        assert_ne!(intern("beta_test"), a);
        assert_eq!(&*name_of(a), "alpha_test");
        assert_eq!(lookup_name("alpha_test"), Some(a));
        assert_eq!(lookup_name("never-seen-name"), None);
    }

    #[test]
    fn take_attrs_moves_the_entries_out_and_keeps_the_buffer() {
        let (a, b) = (intern("t_a"), intern("t_b"));
        let mut buf: AttrMap<()> = AttrMap::new();
        assert!(buf.take_attrs().is_none());
        buf.push_unique(a, Value::Str("long enough to live on the heap".into()));
        buf.push_unique(b, Value::List(vec![Value::Int(1)].into()));
        let cap = buf.entries.capacity();
        let first = buf.take_attrs().expect("two entries");
        assert!(buf.is_empty() && buf.entries.capacity() == cap);
        buf.push_unique(a, Value::Int(2));
        let second = buf.take_attrs().expect("one entry");
        assert_eq!(first.len(), 2);
        assert_eq!(first.get(b), Some(&Value::List(vec![Value::Int(1)].into())));
        assert_eq!(second.iter().collect::<Vec<_>>(), vec![(a, &Value::Int(2))]);
        // Merged into a slot: taken as is when empty, merged in order otherwise.
        let mut slot = None;
        merge_shared(&mut slot, Some(first));
        merge_shared(&mut slot, None);
        merge_shared(&mut slot, Some(second));
        let got: Vec<_> = slot
            .as_deref()
            .unwrap()
            .iter()
            .map(|(k, v)| (k, v.clone()))
            .collect();
        assert_eq!(got[0], (a, Value::Int(2)));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn merge_keeps_dict_order() {
        let (a, b, c) = (intern("m_a"), intern("m_b"), intern("m_c"));
        let mut m: AttrMap<()> = AttrMap::new();
        m.insert(a, Value::Int(1));
        m.insert(b, Value::Int(2));
        let mut n = AttrMap::new();
        n.insert(c, Value::Int(3));
        n.insert(a, Value::Int(10));
        m.merge(n);
        let got: Vec<_> = m.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(
            got,
            vec![(a, Value::Int(10)), (b, Value::Int(2)), (c, Value::Int(3))]
        );
    }

    #[test]
    fn large_merge_matches_small_merge() {
        let ids: Vec<AttrId> = (0..40).map(|i| intern(&format!("lm_{i}"))).collect();
        let mut big: AttrMap<()> = AttrMap::new();
        for (i, id) in ids.iter().enumerate().take(30) {
            big.insert(*id, Value::Int(i as i64));
        }
        let mut upd = AttrMap::new();
        for (i, id) in ids.iter().enumerate().skip(20) {
            upd.insert(*id, Value::Int(100 + i as i64));
        }
        big.merge(upd);
        assert_eq!(big.len(), 40);
        assert_eq!(big.get(ids[25]), Some(&Value::Int(125)));
        assert_eq!(big.get(ids[5]), Some(&Value::Int(5)));
        assert_eq!(big.iter().map(|(k, _)| k).collect::<Vec<_>>(), ids);
    }

    #[test]
    fn stored_attrs_merge_moves_when_unshared_and_copies_when_a_view_holds_them() {
        let (a, b) = (intern("sa_a"), intern("sa_b"));
        let list = || Value::List(vec![Value::Int(1), Value::Str("x".into())].into());
        let mut slot: Attrs<()> = None;
        merge_attrs(&mut slot, AttrMap::new()); // empty: stays absent
        assert!(slot.is_none());
        merge_attrs(&mut slot, one(a, list()));
        let view = slot.clone(); // a read view shares the stored entries
        merge_attrs(&mut slot, one(b, Value::Int(2)));
        merge_attrs(&mut slot, one(a, Value::Int(3)));
        let now = slot.as_deref().expect("stored");
        assert_eq!(
            now.iter().map(|(k, v)| (k, v.clone())).collect::<Vec<_>>(),
            vec![(a, Value::Int(3)), (b, Value::Int(2))]
        );
        let old = view.as_deref().expect("kept");
        assert_eq!(old.len(), 1);
        assert_eq!(old.get(a), Some(&list())); // the view's copy is untouched
        assert_eq!(old.to_map().get(a), Some(&list()));
        assert_eq!(format!("{:?}", old), format!("{{{a}: {:?}}}", list()));
    }

    #[test]
    fn updating_existing_names_of_an_unshared_map_changes_it_in_place() {
        let (ids, m) = numbered("ip", 300);
        let mut slot = attrs_from(m);
        let before = addr(&slot);
        merge_attrs(&mut slot, one(ids[250], Value::Int(-1)));
        merge_attrs(&mut slot, one(ids[3], Value::Int(-2)));
        assert_eq!(addr(&slot), before, "no copy");
        let a = slot.as_deref().unwrap();
        assert_eq!(
            (a.get(ids[250]), a.get(ids[3]), a.len()),
            (Some(&Value::Int(-1)), Some(&Value::Int(-2)), 300)
        );
        let view = slot.clone(); // shared: copied, the view keeps its values
        merge_attrs(&mut slot, one(ids[3], Value::Int(-3)));
        assert_ne!(addr(&slot), before);
        assert_eq!(view.as_deref().unwrap().get(ids[3]), Some(&Value::Int(-2)));
        let fresh = intern("ip_new"); // a new name: the map grows
        merge_attrs(&mut slot, one(fresh, Value::Int(7)));
        let a = slot.as_deref().unwrap();
        assert_eq!(
            (a.get(fresh), a.get(ids[3]), a.len()),
            (Some(&Value::Int(7)), Some(&Value::Int(-3)), 301)
        );
        assert_eq!(a.iter().last().map(|(k, _)| k), Some(fresh));
    }

    #[test]
    fn a_map_grown_by_updates_takes_new_names_in_its_spare_room() {
        let (ids, _) = numbered("sp", 60);
        let mut slot: Attrs<()> = None;
        let mut moves = 0;
        for (i, &id) in ids.iter().enumerate() {
            let before = addr(&slot);
            merge_attrs(&mut slot, one(id, Value::Int(i as i64)));
            moves += (addr(&slot) != before) as usize;
        }
        // Exact up to 16 entries (16 copies), then half again as much room each time.
        assert!(moves < 22, "{moves} copies for 60 names");
        let a = slot.as_deref().unwrap();
        assert_eq!(a.len(), 60);
        assert!(a.iter().map(|(k, _)| k).eq(ids.iter().copied()));
        assert_eq!(a.get(ids[59]), Some(&Value::Int(59)));
        // Shared: a new name copies, and the holder keeps what it saw.
        let view = slot.clone();
        let fresh = intern("sp_fresh");
        merge_attrs(&mut slot, one(fresh, Value::Int(-1)));
        assert_eq!(view.as_deref().unwrap().len(), 60);
        assert_eq!(view.as_deref().unwrap().get(fresh), None);
        assert_eq!(slot.as_deref().unwrap().get(fresh), Some(&Value::Int(-1)));
        assert_eq!(slot.as_deref().unwrap().to_map().len(), 61);
    }

    #[test]
    fn get_from_finds_every_name_whatever_the_hint() {
        let (ids, m) = numbered("gf", 40);
        let absent = intern("gf_absent");
        for start in [0, 7, 39, 40, 1000] {
            for (i, &id) in ids.iter().enumerate() {
                let mut hint = start;
                assert_eq!(m.get_from(id, &mut hint), Some(&Value::Int(i as i64)));
                assert_eq!(hint, i);
            }
            let mut hint = start;
            assert_eq!(m.get_from(absent, &mut hint), None);
            assert_eq!(hint, start, "a miss leaves the hint");
        }
        let mut hint = 0; // reading in map order: each found where the last one was, or just after
        assert!(ids.iter().all(|&id| m.get_from(id, &mut hint).is_some()));
    }

    #[test]
    fn changing_a_shared_map_shares_its_lists_and_dicts() {
        let (a, b) = (intern("sh_a"), intern("sh_b"));
        let mut m: AttrMap<()> = AttrMap::new();
        m.insert(a, Value::List(vec![Value::Int(1); 1000].into()));
        let mut slot: Attrs<()> = None;
        merge_attrs(&mut slot, m);
        let view = slot.clone(); // a snapshot shares the stored map
        let mut more = AttrMap::new();
        more.insert(b, Value::Int(2));
        merge_attrs(&mut slot, more); // copies the map's entries, not the list's items
        let items = |s: &Attrs<()>| match s.as_deref().and_then(|m| m.get(a)) {
            Some(Value::List(items)) => items.clone(),
            other => panic!("{other:?}"),
        };
        assert!(ItemsArc::ptr_eq(&items(&slot), &items(&view)));
    }
}
