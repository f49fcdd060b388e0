//! Node identifiers: a 64-bit int or a string. `1` and `"1"` differ.

use std::fmt;
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
    fn repr_matches_python() {
        assert_eq!(NodeId::from("alice").to_string(), "'alice'");
        assert_eq!(NodeId::from(7).to_string(), "7");
        assert_eq!(NodeId::from("it's").to_string(), "\"it's\"");
        assert_eq!(NodeId::from("a\nb").to_string(), "'a\\nb'");
        assert_ne!(NodeId::from(1), NodeId::from("1"));
    }
}
