//! Node identifiers: a 64-bit int or a string. `1` and `"1"` differ.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An owned node id. Strings are `Arc<str>` so the key map and the node record
/// share one allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Int(i64),
    Str(Arc<str>),
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
            NodeRef::Str(s) => NodeId::Str(Arc::from(s)),
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
        NodeId::Str(Arc::from(s))
    }
}

impl<'a> From<&'a NodeId> for NodeRef<'a> {
    fn from(id: &'a NodeId) -> Self {
        id.as_ref()
    }
}

/// A `str` id as the key map stores it: the shared text plus a 32-bit hash
/// of it, kept in what would be padding (the entry stays 24 bytes). The map
/// hashes the stored hash, so growing the map re-hashes entries without
/// reading the text behind their pointers: at a million keys that read is a
/// cache miss per key per rehash.
#[derive(Clone, Debug)]
pub struct StrKey {
    text: Arc<str>,
    hash: u32,
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

impl StrKey {
    #[inline]
    pub fn new(text: Arc<str>) -> Self {
        let hash = text_hash(&text);
        Self { text, hash }
    }
}

/// What a `str` key-map lookup borrows: a stored [`StrKey`] or a [`StrQuery`].
pub trait StrLike {
    fn text(&self) -> &str;
    fn hash32(&self) -> u32;
}

/// A lookup key for the `str` map that borrows the text (no allocation).
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

impl StrLike for StrKey {
    #[inline]
    fn text(&self) -> &str {
        &self.text
    }
    #[inline]
    fn hash32(&self) -> u32 {
        self.hash
    }
}

impl StrLike for StrQuery<'_> {
    #[inline]
    fn text(&self) -> &str {
        self.text
    }
    #[inline]
    fn hash32(&self) -> u32 {
        self.hash
    }
}

// `StrKey` and `dyn StrLike` hash and compare alike, as `Borrow` requires.
impl Hash for StrKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.hash);
    }
}

impl PartialEq for StrKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for StrKey {}

impl Hash for dyn StrLike + '_ {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.hash32());
    }
}

impl PartialEq for dyn StrLike + '_ {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash32() == other.hash32() && self.text() == other.text()
    }
}

impl Eq for dyn StrLike + '_ {}

impl<'a> Borrow<dyn StrLike + 'a> for StrKey {
    #[inline]
    fn borrow(&self) -> &(dyn StrLike + 'a) {
        self
    }
}

/// Writes `s` the way Python's `repr(str)` does (quotes chosen like CPython's).
pub fn write_py_repr(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
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
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
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

    #[test]
    fn str_keys_find_their_queries() {
        let mut m: std::collections::HashMap<StrKey, u32> = Default::default();
        for i in 0..1000 {
            m.insert(StrKey::new(Arc::from(format!("k{i}").as_str())), i);
        }
        for i in 0..1000 {
            let q = StrQuery::new(&format!("k{i}")).hash; // same text, same hash
            assert_eq!(q, StrKey::new(Arc::from(format!("k{i}").as_str())).hash);
            let k = format!("k{i}");
            let q = StrQuery::new(&k);
            assert_eq!(m.get(&q as &dyn StrLike), Some(&i));
        }
        let q = StrQuery::new("k1000");
        assert_eq!(m.get(&q as &dyn StrLike), None);
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
