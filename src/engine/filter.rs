//! Filtering without Python: `where` equality conditions and the candidate scan.
//!
//! `filter_nodes` / `filter_edges` first scan a snapshot here, detached, and
//! hand only the survivors to the Python predicate. A condition compares with
//! Python's `==` between str / int / float / bool / None: `1 == 1.0 == True`,
//! NaN equals nothing, and a missing attribute never matches.

use rayon::prelude::*;

use super::cancel::Cancel;
use super::store::{GraphView, Ix};
use super::value::{AttrId, AttrMap, Value};
use crate::error::Result;

/// A value a `where` condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum WhereVal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
}

/// Exact comparison of an integer with a float, as Python does it (no
/// rounding of the integer to a float).
#[inline]
fn int_eq_float(i: i64, x: f64) -> bool {
    // i64::MIN as f64 is exact; 2^63 is the first float past i64::MAX.
    x.fract() == 0.0 && x >= i64::MIN as f64 && x < 9_223_372_036_854_775_808.0 && x as i64 == i
}

impl WhereVal {
    /// Python `==` between a stored value and this one (containers and opaque
    /// values never match).
    #[inline]
    pub fn eq_value<O>(&self, v: &Value<O>) -> bool {
        use WhereVal as W;
        let num = |v: &Value<O>| -> Option<Result2> {
            match v {
                Value::Bool(b) => Some(Result2::I(*b as i64)),
                Value::Int(i) => Some(Result2::I(*i)),
                Value::Float(x) => Some(Result2::F(*x)),
                _ => None,
            }
        };
        let mine = match self {
            W::None => return matches!(v, Value::None),
            W::Str(s) => return matches!(v, Value::Str(t) if **t == **s),
            W::Bool(b) => Result2::I(*b as i64),
            W::Int(i) => Result2::I(*i),
            W::Float(x) => Result2::F(*x),
        };
        match (mine, num(v)) {
            (_, None) => false,
            (Result2::I(a), Some(Result2::I(b))) => a == b,
            (Result2::F(a), Some(Result2::F(b))) => a == b,
            (Result2::I(a), Some(Result2::F(b))) | (Result2::F(b), Some(Result2::I(a))) => {
                int_eq_float(a, b)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Result2 {
    I(i64),
    F(f64),
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
    pub fn matches<O>(&self, attrs: Option<&AttrMap<O>>) -> bool {
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

/// Runs `f` over `[lo, hi)` in chunks, in parallel when the range is large,
/// and concatenates the chunks' outputs in index order.
fn chunked<T: Send>(
    lo: usize,
    hi: usize,
    cancel: &Cancel<'_>,
    f: impl Fn(usize, usize, &mut Vec<T>) + Sync,
) -> Result<Vec<T>> {
    let chunks = (hi - lo).div_ceil(CHUNK);
    let run = |c: usize| -> Result<Vec<T>> {
        cancel.check()?;
        let mut out = Vec::new();
        f(lo + c * CHUNK, (lo + (c + 1) * CHUNK).min(hi), &mut out);
        Ok(out)
    };
    let parts: Vec<Vec<T>> = if hi - lo >= PAR_SCAN_MIN {
        (0..chunks).into_par_iter().map(run).collect::<Result<_>>()?
    } else {
        (0..chunks).map(run).collect::<Result<_>>()?
    };
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for p in parts {
        out.extend(p);
    }
    Ok(out)
}

/// Live nodes passing `cond`, in insertion order.
pub fn scan_nodes<O: Send + Sync>(
    view: &GraphView<'_, O>,
    cond: &Where,
    cancel: &Cancel<'_>,
) -> Result<Vec<Ix>> {
    let (lo, hi) = (view.lo() as usize, view.hi() as usize);
    chunked(lo, hi, cancel, |a, b, out| {
        for ix in a as Ix..b as Ix {
            if let Some(rec) = view.rec(ix) {
                if cond.matches(rec.attrs.as_deref()) {
                    out.push(ix);
                }
            }
        }
    })
}

/// Edges passing `cond` on their attributes, in `edges()` order: by source in
/// node order, then by edge insertion; undirected edges once, from their
/// earlier endpoint.
pub fn scan_edges<O: Send + Sync>(
    view: &GraphView<'_, O>,
    cond: &Where,
    cancel: &Cancel<'_>,
) -> Result<Vec<(Ix, Ix)>> {
    let (lo, hi) = (view.lo() as usize, view.hi() as usize);
    let directed = view.directed();
    chunked(lo, hi, cancel, |a, b, out| {
        for s in a as Ix..b as Ix {
            let Some(rec) = view.rec(s) else { continue };
            for &t in rec.out() {
                if (directed || t >= s) && cond.matches(rec_edge_attrs(view, s, t)) {
                    out.push((s, t));
                }
            }
        }
    })
}

#[inline]
fn rec_edge_attrs<'a, O>(view: &GraphView<'a, O>, s: Ix, t: Ix) -> Option<&'a AttrMap<O>> {
    view.edge_attrs(s, t).map(|a| &**a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cancel::never;
    use crate::engine::{intern, Graph, NodeId};

    fn attrs(kv: &[(&str, Value<()>)]) -> AttrMap<()> {
        let mut m = AttrMap::new();
        for (k, v) in kv {
            m.insert(intern(k), v.clone());
        }
        m
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
            g.add_node(NodeId::Int(i), a).unwrap();
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
    fn scan_edges_in_edges_order() {
        let g: Graph<()> = Graph::with_shards(false, 4);
        for i in 0..5i64 {
            g.add_node(NodeId::Int(i), AttrMap::new()).unwrap();
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
