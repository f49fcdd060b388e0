//! Node identifiers: a 64-bit int or a string. `1` and `"1"` differ.

use crate::sync::StdArc as Arc;
use crate::sync::{OnceLock, Probe};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;

/// An owned node id (16 bytes: `Int` sits beside `IdStr`'s non-zero head).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Int(i64),
    Str(IdStr),
}

/// Texts up to this many bytes live inside an [`IdStr`].
const ID_INLINE: usize = 15;

/// The text of a `str` node id, in 16 bytes: up to [`ID_INLINE`] bytes
/// inline (most ids; no allocation, and reading one follows no pointer),
/// a longer one in an `Arc<str>`, which the key map's entry for the id
/// shares.
///
/// Layout, in memory order: byte 0 odd means inline, its upper 7 bits the
/// length, bytes 1..16 the text. Otherwise bytes 0..8 hold the address of
/// the `Arc`'s text with bit 1 set (little-endian; the text sits at offset
/// 16 of the `Arc`'s 8-aligned `#[repr(C)]` allocation, so its address has
/// bits 0..3 clear: byte 0 is then even and never zero) and bytes 8..16 its
/// length. Bytes 0..4 are never all zero, and saying so (`NonZeroU32`) lets
/// `NodeId` keep its `Int` in bytes 8..16 and stay 16 bytes. The id is
/// 4-aligned, so that the key map's entry (the id, its 32-bit hash and the
/// 32-bit index) takes 24 bytes, not 32.
#[repr(C)]
pub struct IdStr {
    head: NonZeroU32,
    tail: [u8; 12],
}

/// The bit set in a shared id's stored address (see [`IdStr`]).
const SHARED_TAG: u64 = 0b10;

impl IdStr {
    pub fn new(text: &str) -> Self {
        let b = text.as_bytes();
        if b.len() > ID_INLINE {
            return Self::from_arc(Arc::from(text));
        }
        let mut bytes = [0u8; 16];
        bytes[0] = ((b.len() as u8) << 1) | 1;
        bytes[1..=b.len()].copy_from_slice(b);
        Self::from_bytes(bytes)
    }

    fn from_arc(text: Arc<str>) -> Self {
        let len = text.len() as u64;
        let addr = Arc::into_raw(text).cast::<u8>().expose_provenance() as u64;
        assert!(addr & 0b111 == 0, "an Arc<str>'s text is 8-aligned");
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(addr | SHARED_TAG).to_le_bytes());
        bytes[8..].copy_from_slice(&len.to_le_bytes());
        Self::from_bytes(bytes)
    }

    #[inline]
    fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut head = [0u8; 4];
        let mut tail = [0u8; 12];
        head.copy_from_slice(&bytes[..4]);
        tail.copy_from_slice(&bytes[4..]);
        Self {
            // Inline: byte 0 is odd. Shared: byte 0 has `SHARED_TAG` set.
            head: NonZeroU32::new(u32::from_ne_bytes(head)).expect("bytes 0..4 are never zero"),
            tail,
        }
    }

    /// The 16 bytes in memory order.
    #[inline]
    fn bytes(&self) -> &[u8; 16] {
        // SAFETY: `#[repr(C)]` of a `u32` and `[u8; 12]`: 16 initialized
        // bytes without padding, and `[u8; 16]` needs no alignment.
        unsafe { &*(self as *const Self).cast::<[u8; 16]>() }
    }

    #[inline]
    fn is_inline(&self) -> bool {
        self.bytes()[0] & 1 == 1
    }

    /// The `Arc`'s text as a raw pointer (only when not inline).
    #[inline]
    fn raw(&self) -> *const str {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.bytes()[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let addr = (word(0) & !SHARED_TAG) as usize;
        std::ptr::slice_from_raw_parts(
            std::ptr::with_exposed_provenance::<u8>(addr),
            word(8) as usize,
        ) as *const str
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        if self.is_inline() {
            let len = (self.bytes()[0] >> 1) as usize;
            // SAFETY: `new` copied `len` bytes of a `str` after the tag byte.
            unsafe { std::str::from_utf8_unchecked(&self.bytes()[1..=len]) }
        } else {
            // SAFETY: `from_arc` stored the text of an `Arc<str>` this value
            // owns a count of (released in `drop`), so it is live.
            unsafe { &*self.raw() }
        }
    }

    /// The shared text of a long id (another count of its `Arc`); `None`
    /// for an inline one.
    pub fn shared(&self) -> Option<Arc<str>> {
        if self.is_inline() {
            return None;
        }
        let raw = self.raw();
        // SAFETY: `raw` came from `Arc::into_raw` and this value holds a count.
        unsafe {
            Arc::increment_strong_count(raw);
            Some(Arc::from_raw(raw))
        }
    }
}

impl Drop for IdStr {
    fn drop(&mut self) {
        if !self.is_inline() {
            // SAFETY: releases the count `from_arc` (or `clone`) took, once.
            unsafe { drop(Arc::from_raw(self.raw())) }
        }
    }
}

impl Clone for IdStr {
    fn clone(&self) -> Self {
        if !self.is_inline() {
            // SAFETY: as in `shared`; the copy owns the new count.
            unsafe { Arc::increment_strong_count(self.raw()) }
        }
        Self {
            head: self.head,
            tail: self.tail,
        }
    }
}

impl std::ops::Deref for IdStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for IdStr {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdStr {}

impl Hash for IdStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for IdStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for IdStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for IdStr {
    fn from(s: &str) -> Self {
        IdStr::new(s)
    }
}

impl From<String> for IdStr {
    fn from(s: String) -> Self {
        IdStr::new(&s)
    }
}

/// A borrowed node id, for lookups that must not allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRef<'a> {
    Int(i64),
    Str(&'a str),
}

impl NodeId {
    #[inline]
    pub fn as_ref(&self) -> NodeRef<'_> {
        match self {
            NodeId::Int(i) => NodeRef::Int(*i),
            NodeId::Str(s) => NodeRef::Str(s),
        }
    }
}

impl NodeRef<'_> {
    pub fn to_owned_id(self) -> NodeId {
        match self {
            NodeRef::Int(i) => NodeId::Int(i),
            NodeRef::Str(s) => NodeId::Str(IdStr::new(s)),
        }
    }
}

impl From<i64> for NodeId {
    fn from(i: i64) -> Self {
        NodeId::Int(i)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId::Str(IdStr::new(s))
    }
}

impl<'a> From<&'a NodeId> for NodeRef<'a> {
    fn from(id: &'a NodeId) -> Self {
        id.as_ref()
    }
}

/// A `str` id as the key map stores it: the id's own [`IdStr`] (a text of up
/// to 15 bytes inline, so a lookup that finds it compares the text without
/// leaving the entry's cache line; a longer one shares the record's `Arc`)
/// and a 32-bit hash of the text: with the 32-bit index beside it, the key
/// map's entry is 24 bytes (asserted below). The map hashes the stored hash, so growing the map re-hashes
/// entries without reading their texts.
#[derive(Clone, Debug)]
pub struct StrKey {
    text: IdStr,
    hash: u32,
}

// The key map's entry: key and index (`u32`) in 24 bytes (three to a 64-byte line, not two).
const _: () = assert!(std::mem::size_of::<(StrKey, u32)>() == 24);

impl StrKey {
    /// The key's text.
    #[inline]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The key of `id` (a long text shares the record's `Arc`).
    #[inline]
    pub fn new(id: &IdStr) -> Self {
        Self {
            hash: text_hash(id),
            text: id.clone(),
        }
    }
}

/// The 32-bit text hash: foldhash keyed by the process's random seed, so
/// collisions cannot be precomputed.
#[inline]
fn text_hash(text: &str) -> u32 {
    let mut h = foldhash::fast::FoldHasher::with_seed(
        0x243f_6a88_85a3_08d3,
        foldhash::SharedSeed::global_random(),
    );
    h.write(text.as_bytes());
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

/// A lookup key for the `str` map that borrows the text (no allocation). It
/// hashes as the [`StrKey`] of the same text does.
pub struct StrQuery<'a> {
    text: &'a str,
    hash: u32,
}

impl<'a> StrQuery<'a> {
    #[inline]
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            hash: text_hash(text),
        }
    }
}

// `StrKey` and `StrQuery` hash alike, as `Probe` requires.
impl Hash for StrKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.hash);
    }
}

impl Hash for StrQuery<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.hash);
    }
}

impl PartialEq for StrKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && text_eq(self.text.as_bytes(), other.text.as_bytes())
    }
}

impl Eq for StrKey {}

impl Probe<StrKey> for StrQuery<'_> {
    #[inline]
    fn matches(&self, key: &StrKey) -> bool {
        key.hash == self.hash && text_eq(key.text.as_bytes(), self.text.as_bytes())
    }
}

/// `a == b` for ids' texts, inline: most ids are short, and a call to
/// `memcmp` cost more than comparing up to 16 bytes as two words.
#[inline(always)]
fn text_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let word4 =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        // Two words that overlap when `n` < 16 cover every byte.
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        _ => a == b,
    }
}

/// Which non-ASCII characters Python's `repr` writes as they are
/// (`str.isprintable`): the Unicode database of the interpreter the binding
/// runs in, installed by it once ([`set_printable_rule`]). Without one
/// (Rust users), every non-ASCII character counts as printable.
static PRINTABLE: OnceLock<fn(char) -> bool> = OnceLock::new();

/// Installs the rule [`write_py_repr`] follows for non-ASCII characters
/// (the first one installed stays).
pub fn set_printable_rule(rule: fn(char) -> bool) {
    let _ = PRINTABLE.set(rule);
}

/// Writes `s` the way Python's `repr(str)` does (quotes chosen like
/// CPython's; non-printable characters escaped as `\xhh`, `\uhhhh` or
/// `\Uhhhhhhhh`).
pub fn write_py_repr(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let printable = PRINTABLE.get();
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(c)?
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_ascii() || printable.is_none_or(|rule| rule(c)) => f.write_char(c)?,
            c if (c as u32) < 0x100 => write!(f, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    f.write_char(quote)
}

/// A `str` displayed as Python's `repr` of it (see [`write_py_repr`]).
pub struct PyRepr<'a>(pub &'a str);

impl fmt::Display for PyRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_py_repr(f, self.0)
    }
}

impl fmt::Display for NodeRef<'_> {
    /// Python's `repr` of the id: `3`, `'alice'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Int(i) => write!(f, "{i}"),
            NodeRef::Str(s) => write_py_repr(f, s),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts on both sides of the inline limit (15 bytes), multi-byte ones
    /// included, and the empty text.
    fn texts() -> Vec<String> {
        let mut t: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        t.extend((0..40).map(|n| "x".repeat(n)));
        t.extend((1..12).map(|n| "é".repeat(n))); // 2 bytes each: 14 and 16 bytes straddle
        t.push("a-uuid-like-id-0f8e-4d2c-9b1a-7e5c3d2a1b0f".into());
        t
    }

    #[test]
    fn str_keys_find_their_queries() {
        let texts = texts();
        let m: crate::sync::KeyMap<StrKey, usize> = crate::sync::KeyMap::new(4);
        for (i, t) in texts.iter().enumerate() {
            assert!(m.insert_if_absent(StrKey::new(&IdStr::new(t)), i).is_ok());
        }
        for (i, t) in texts.iter().enumerate() {
            let key = StrKey::new(&IdStr::new(t));
            assert_eq!(key.text(), t);
            assert_eq!(StrQuery::new(t).hash, key.hash); // same text, same hash
            assert_eq!(m.get(&StrQuery::new(t)), Some(i));
            let copy = key.clone();
            assert!(copy == key && copy.text() == t);
        }
        assert_eq!(m.get(&StrQuery::new("k1000")), None);
        assert_eq!(m.get(&StrQuery::new(&"x".repeat(40))), None);
        for t in &texts {
            assert_eq!(
                m.remove(&StrQuery::new(t)).map(|i| texts[i].as_str()),
                Some(t.as_str())
            );
        }
        assert_eq!(m.get(&StrQuery::new(&texts[0])), None);
    }

    #[test]
    fn text_eq_is_slice_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
            assert!(text_eq(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!text_eq(&a, &b), "length {n}, differing at {at}");
            }
            if n > 0 {
                assert!(!text_eq(&a, &a[..n - 1]));
            }
        }
    }

    #[test]
    fn long_keys_share_the_records_text_and_release_it() {
        let long = IdStr::new("an id longer than sixteen bytes");
        let short = IdStr::new("short id");
        assert!(short.shared().is_none());
        let count = || Arc::strong_count(&long.shared().unwrap()) - 1;
        assert_eq!(count(), 1);
        let keys = [StrKey::new(&long), StrKey::new(&short)];
        assert_eq!(count(), 2); // the key shares the id's text
        let copies = (keys.clone(), long.clone());
        assert_eq!(count(), 4);
        drop(copies);
        drop(keys);
        assert_eq!(count(), 1);
    }

    #[test]
    fn id_texts_round_trip_inline_and_shared() {
        for t in texts() {
            let id = IdStr::new(&t);
            assert_eq!(id.as_str(), t);
            assert_eq!(id.shared().is_some(), t.len() > ID_INLINE);
            let copy = id.clone();
            drop(id);
            assert_eq!(&*copy, t.as_str());
            assert_eq!(NodeId::from(t.as_str()), NodeId::Str(copy.clone()));
            assert_eq!(NodeId::from(t.as_str()).as_ref(), NodeRef::Str(&t));
        }
        assert!(IdStr::new("a") < IdStr::new("b") && IdStr::new(&"a".repeat(20)) < IdStr::new("b"));
        assert_eq!(std::mem::size_of::<NodeId>(), 16);
        assert_eq!(format!("{:?}", NodeId::from("x")), "Str(\"x\")");
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(NodeId::from("alice").to_string(), "'alice'");
        assert_eq!(NodeId::from(7).to_string(), "7");
        assert_eq!(NodeId::from("it's").to_string(), "\"it's\"");
        assert_eq!(NodeId::from("a\nb").to_string(), "'a\\nb'");
        assert_ne!(NodeId::from(1), NodeId::from("1"));
    }
}
