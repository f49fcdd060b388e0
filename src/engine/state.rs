//! A compact binary image of a graph, for pickle and copy.
//!
//! The image keeps everything a graph observably has: node order, each node's
//! out- and in-adjacency in its own order (so `successors` and `predecessors`
//! come back identical), and every attribute. Values the engine does not
//! model are written as indices into a side list the binding supplies (the
//! Python objects, which pickle serializes itself).
//!
//! Layout (little-endian): `b"GLI\x01"`, flags `u8` (bit 0: directed),
//! name-table offset `u64`; nodes `u32` count, then per node its id, its
//! attributes, its out-positions and (directed) in-positions; edge attributes
//! `u64` count of `(source position, target position, attributes)`; then the
//! name table (`u32` count of strings). Attribute names are written as
//! indices into that table.

use std::collections::{HashMap, HashSet};

use super::cancel::{Cancel, CHECK_EVERY};
use super::id::NodeId;
use super::store::{GraphView, Ix};
use super::value::{intern, name_of, AttrId, AttrMap, AttrSlice, Value};
use crate::error::{GraphError, Result};

const MAGIC: &[u8; 4] = b"GLI\x01";
/// Deeper nesting than the engine ever stores means a corrupt image.
const MAX_NESTING: u32 = 1_000;

/// A decoded image, ready for [`super::Graph::restore`].
pub struct Image<O> {
    pub directed: bool,
    pub nodes: Vec<(NodeId, AttrMap<O>)>,
    /// Per node, in node order: out-positions and in-positions.
    pub adj: Vec<(Vec<u32>, Vec<u32>)>,
    pub edge_attrs: Vec<(u32, u32, AttrMap<O>)>,
}

// ------------------------------------------------------------------ writing

struct Writer<'f, O> {
    buf: Vec<u8>,
    names: HashMap<AttrId, u32>,
    order: Vec<AttrId>,
    opaque: &'f mut dyn FnMut(&O) -> u32,
}

impl<O> Writer<'_, O> {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn name(&mut self, id: AttrId) {
        let next = self.order.len() as u32;
        let local = *self.names.entry(id).or_insert(next);
        if local == next {
            self.order.push(id);
        }
        self.u32(local);
    }
    fn value(&mut self, v: &Value<O>) {
        match v {
            Value::None => self.u8(0),
            Value::Bool(false) => self.u8(1),
            Value::Bool(true) => self.u8(2),
            Value::Int(i) => {
                self.u8(3);
                self.u64(*i as u64);
            }
            Value::Float(x) => {
                self.u8(4);
                self.u64(x.to_bits());
            }
            Value::Str(s) => {
                self.u8(5);
                self.str(s);
            }
            Value::List(items) => {
                self.u8(6);
                self.u32(items.len() as u32);
                for item in items.iter() {
                    self.value(item);
                }
            }
            Value::Dict(items) => {
                self.u8(7);
                self.u32(items.len() as u32);
                for (k, item) in items.iter() {
                    self.str(k);
                    self.value(item);
                }
            }
            Value::Opaque(o) => {
                self.u8(8);
                let k = (self.opaque)(o);
                self.u32(k);
            }
        }
    }
    fn attrs(&mut self, a: Option<&AttrSlice<O>>) {
        let Some(a) = a else {
            self.u32(0);
            return;
        };
        self.u32(a.len() as u32);
        for (k, v) in a.iter() {
            self.name(k);
            self.value(v);
        }
    }
}

/// Writes `view` as an image; `opaque` numbers each opaque value (the binding
/// keeps the objects in that order).
pub fn dump<O>(
    view: &GraphView<'_, O>,
    opaque: &mut dyn FnMut(&O) -> u32,
    cancel: &Cancel<'_>,
) -> Result<Vec<u8>> {
    let ixs: Vec<Ix> = view.ixs().collect();
    let lo = ixs.first().copied().unwrap_or(0);
    let span = ixs.last().map_or(0, |&h| (h - lo) as usize + 1);
    let mut pos = vec![u32::MAX; span];
    for (p, &ix) in ixs.iter().enumerate() {
        pos[(ix - lo) as usize] = p as u32;
    }
    let mut w = Writer {
        buf: Vec::with_capacity(64 + ixs.len() * 24),
        names: HashMap::new(),
        order: Vec::new(),
        opaque,
    };
    w.buf.extend_from_slice(MAGIC);
    w.u8(view.directed() as u8);
    let table_at = w.buf.len();
    w.u64(0);
    w.u32(ixs.len() as u32);
    let directed = view.directed();
    for (p, &ix) in ixs.iter().enumerate() {
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        match view.key(ix) {
            NodeId::Int(i) => {
                w.u8(0);
                w.u64(*i as u64);
            }
            NodeId::Str(s) => {
                w.u8(1);
                w.str(s);
            }
        }
        w.attrs(view.attrs(ix).map(|a| &**a));
        let out = view.out(ix);
        w.u32(out.len() as u32);
        for &t in out {
            w.u32(pos[(t - lo) as usize]);
        }
        if directed {
            let inn = view.inn(ix);
            w.u32(inn.len() as u32);
            for &s in inn {
                w.u32(pos[(s - lo) as usize]);
            }
        }
    }
    let count_at = w.buf.len();
    w.u64(0);
    let mut count = 0u64;
    for (p, &s) in ixs.iter().enumerate() {
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        for &t in view.out(s) {
            if !directed && t < s {
                continue;
            }
            if let Some(a) = view.edge_attrs(s, t) {
                w.u32(pos[(s - lo) as usize]);
                w.u32(pos[(t - lo) as usize]);
                w.attrs(Some(a));
                count += 1;
            }
        }
    }
    w.buf[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    let table = w.buf.len() as u64;
    w.buf[table_at..table_at + 8].copy_from_slice(&table.to_le_bytes());
    let order = std::mem::take(&mut w.order);
    w.u32(order.len() as u32);
    for id in order {
        w.str(&name_of(id));
    }
    Ok(w.buf)
}

// ------------------------------------------------------------------ reading

struct Reader<'b, 'f, O> {
    buf: &'b [u8],
    at: usize,
    names: Vec<AttrId>,
    /// Per name of `names`: the last attribute map (numbered by `maps`)
    /// that used it, so a duplicate name is found in O(1), not by a search
    /// of the map (which made loading a node of k attributes O(k^2)).
    used_by: Vec<u64>,
    maps: u64,
    opaque: &'f mut dyn FnMut(u32) -> Result<O>,
}

fn corrupt(what: &str) -> GraphError {
    GraphError::InvalidValue(format!("corrupt graph state: {what}"))
}

impl<O> Reader<'_, '_, O> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn str(&mut self) -> Result<&str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| corrupt("invalid UTF-8"))
    }
    /// A count of items that each take at least `min` bytes (bounds allocations).
    fn count(&mut self, min: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.buf.len() - self.at {
            return Err(corrupt("count exceeds the data"));
        }
        Ok(n)
    }
    fn value(&mut self, depth: u32) -> Result<Value<O>> {
        if depth > MAX_NESTING {
            return Err(corrupt("nesting too deep"));
        }
        Ok(match self.u8()? {
            0 => Value::None,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Int(self.u64()? as i64),
            4 => Value::Float(f64::from_bits(self.u64()?)),
            5 => Value::Str(self.str()?.into()),
            6 => {
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items.into())
            }
            7 => {
                let n = self.count(5)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let k: Box<str> = self.str()?.into();
                    items.push((k, self.value(depth + 1)?));
                }
                Value::Dict(items.into())
            }
            8 => {
                let k = self.u32()?;
                Value::Opaque((self.opaque)(k)?)
            }
            t => return Err(corrupt(&format!("unknown value tag {t}"))),
        })
    }
    fn attrs(&mut self) -> Result<AttrMap<O>> {
        let n = self.count(5)?;
        let mut a = AttrMap::with_capacity(n);
        self.maps += 1;
        if self.used_by.len() < self.names.len() {
            self.used_by.resize(self.names.len(), 0);
        }
        for _ in 0..n {
            let local = self.u32()? as usize;
            let id = *self
                .names
                .get(local)
                .ok_or_else(|| corrupt("attribute name index out of range"))?;
            let v = self.value(0)?;
            if std::mem::replace(&mut self.used_by[local], self.maps) == self.maps {
                return Err(corrupt("duplicate attribute name"));
            }
            a.push_unique(id, v);
        }
        Ok(a)
    }
    fn positions(&mut self, nodes: usize) -> Result<Vec<u32>> {
        let n = self.count(4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let p = self.u32()?;
            if p as usize >= nodes {
                return Err(corrupt("neighbour position out of range"));
            }
            v.push(p);
        }
        Ok(v)
    }
}

/// Decodes an image; `opaque` resolves opaque-value indices.
pub fn load<O>(
    buf: &[u8],
    opaque: &mut dyn FnMut(u32) -> Result<O>,
    cancel: &Cancel<'_>,
) -> Result<Image<O>> {
    if buf.len() < 13 || &buf[..4] != MAGIC {
        return Err(corrupt("not a GLI graph image (or from another version)"));
    }
    let mut r = Reader {
        buf,
        at: 4,
        names: Vec::new(),
        used_by: Vec::new(),
        maps: 0,
        opaque,
    };
    let directed = r.u8()? & 1 == 1;
    let table = r.u64()? as usize;
    let body = r.at;
    if table > buf.len() {
        return Err(corrupt("name table offset out of range"));
    }
    r.at = table;
    let n_names = r.count(4)?;
    let mut distinct = HashSet::with_capacity(n_names);
    for _ in 0..n_names {
        let id = intern(r.str()?);
        // Distinct names, so that a map's duplicate is a repeated index
        // (`Reader::attrs`).
        if !distinct.insert(id) {
            return Err(corrupt("duplicate name in the name table"));
        }
        r.names.push(id);
    }
    r.at = body;
    let n = r.count(14)?;
    let mut nodes = Vec::with_capacity(n);
    let mut adj = Vec::with_capacity(n);
    for p in 0..n {
        if p % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let id = match r.u8()? {
            0 => NodeId::Int(r.u64()? as i64),
            1 => NodeId::Str(r.str()?.into()),
            t => return Err(corrupt(&format!("unknown node id tag {t}"))),
        };
        let attrs = r.attrs()?;
        let out = r.positions(n)?;
        let inn = if directed {
            r.positions(n)?
        } else {
            Vec::new()
        };
        nodes.push((id, attrs));
        adj.push((out, inn));
    }
    let m = r.u64()? as usize;
    let left = table
        .checked_sub(r.at)
        .ok_or_else(|| corrupt("node data runs into the name table"))?;
    if m > left / 12 {
        return Err(corrupt("edge attribute count exceeds the data"));
    }
    let mut edge_attrs = Vec::with_capacity(m);
    for i in 0..m {
        if i % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let (s, t) = (r.u32()?, r.u32()?);
        if s as usize >= n || t as usize >= n {
            return Err(corrupt("edge endpoint out of range"));
        }
        edge_attrs.push((s, t, r.attrs()?));
    }
    if r.at != table {
        return Err(corrupt("trailing data before the name table"));
    }
    Ok(Image {
        directed,
        nodes,
        adj,
        edge_attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cancel::never;
    use crate::engine::Graph;

    fn sample(directed: bool) -> Graph<u32> {
        let g: Graph<u32> = Graph::with_shards(directed, 4);
        let mut a = AttrMap::new();
        a.insert(intern("state_test_name"), Value::Str("x".into()));
        a.insert(intern("state_test_opaque"), Value::Opaque(7));
        a.insert(
            intern("state_test_nested"),
            Value::List(
                vec![
                    Value::Int(-3),
                    Value::Dict(vec![("k".into(), Value::Float(0.5))].into()),
                ]
                .into(),
            ),
        );
        for i in 0..50i64 {
            let id = if i % 3 == 0 {
                NodeId::Str(format!("s{i}").into())
            } else {
                NodeId::Int(i)
            };
            g.add_node(
                id.as_ref(),
                if i % 5 == 0 {
                    a.clone()
                } else {
                    AttrMap::new()
                },
            )
            .unwrap();
        }
        let key = |i: i64| {
            if i % 3 == 0 {
                NodeId::Str(format!("s{i}").into())
            } else {
                NodeId::Int(i)
            }
        };
        // In-lists in an order different from the source order.
        for (s, t) in [
            (40, 1),
            (2, 1),
            (30, 1),
            (1, 1),
            (7, 8),
            (8, 7),
            (4, 49),
            (49, 4),
        ] {
            let mut e = AttrMap::new();
            if s % 2 == 0 {
                e.insert(intern("state_test_w"), Value::Int(s));
            }
            let _ = g.add_edge(key(s).as_ref(), key(t).as_ref(), e);
        }
        g.remove_node(key(12).as_ref()).unwrap();
        g
    }

    fn shape(g: &Graph<u32>) -> Vec<String> {
        let mut out = Vec::new();
        for id in g.node_ids() {
            out.push(format!(
                "{id:?} {:?} {:?} {:?}",
                g.node_attrs(id.as_ref()).unwrap(),
                g.successors(id.as_ref()).unwrap(),
                g.predecessors(id.as_ref()).unwrap()
            ));
        }
        for e in g.edges(true) {
            out.push(format!("{:?}->{:?} {:?}", e.source, e.target, e.attrs));
        }
        out.push(format!("{} {}", g.node_count(), g.edge_count()));
        out
    }

    #[test]
    fn round_trip_keeps_order_and_attributes() {
        for directed in [true, false] {
            let g = sample(directed);
            let snap = g.snapshot();
            let mut objs = Vec::new();
            let bytes = never(|c| {
                dump(
                    &snap.view(),
                    &mut |o: &u32| {
                        objs.push(*o);
                        objs.len() as u32 - 1
                    },
                    c,
                )
            })
            .unwrap();
            let img = never(|c| load(&bytes, &mut |k| Ok(objs[k as usize]), c)).unwrap();
            let h: Graph<u32> = Graph::with_shards(directed, 8);
            never(|c| h.restore(img, c)).unwrap();
            assert_eq!(shape(&g), shape(&h));
        }
    }

    #[test]
    fn repeated_attribute_names_are_corrupt() {
        let g: Graph<u32> = Graph::with_shards(true, 4);
        let mut a = AttrMap::new();
        a.insert(intern("state_dup_a"), Value::Int(1));
        a.insert(intern("state_dup_b"), Value::Int(2));
        g.add_node(crate::engine::NodeRef::Str("n"), a).unwrap();
        let snap = g.snapshot();
        let bytes = never(|c| dump(&snap.view(), &mut |_| 0, c)).unwrap();
        let load = |b: &[u8]| never(|c| load::<u32>(b, &mut |_| Ok(0), c));
        assert!(load(&bytes).is_ok());
        // The map [2][name 0][int 1][name 1][int 2]: name 1 -> name 0.
        let one = |v: i64| [&[3u8][..], &v.to_le_bytes()].concat();
        let map = [
            &2u32.to_le_bytes()[..],
            &0u32.to_le_bytes(),
            &one(1),
            &1u32.to_le_bytes(),
            &one(2),
        ]
        .concat();
        let at = bytes
            .windows(map.len())
            .position(|w| w == map)
            .expect("the map's bytes");
        let mut bad = bytes.clone();
        bad[at + 4 + 4 + 9..at + 4 + 4 + 9 + 4].copy_from_slice(&0u32.to_le_bytes());
        let err = load(&bad).err().expect("a repeated name");
        assert!(
            format!("{err:?}").contains("duplicate attribute name"),
            "{err:?}"
        );
        // The name table listing one name twice.
        let mut bad = bytes.clone();
        let b = bad.windows(11).rposition(|w| w == b"state_dup_b").unwrap();
        bad[b..b + 11].copy_from_slice(b"state_dup_a");
        let err = load(&bad).err().expect("a repeated table name");
        assert!(format!("{err:?}").contains("duplicate name"), "{err:?}");
    }

    #[test]
    fn corrupt_images_are_rejected_without_changes() {
        let g = sample(true);
        let snap = g.snapshot();
        let bytes = never(|c| dump(&snap.view(), &mut |_| 0, c)).unwrap();
        let load = |b: &[u8]| never(|c| load::<u32>(b, &mut |_| Ok(0), c));
        for cut in [0, 5, 13, bytes.len() / 2, bytes.len() - 1] {
            assert!(load(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(load(&bad).is_err());
        // An adjacency that does not mirror: drop one in-list entry.
        let mut img = load(&bytes).unwrap();
        let victim = img.adj.iter().position(|(_, i)| !i.is_empty()).unwrap();
        img.adj[victim].1.pop();
        let h: Graph<u32> = Graph::with_shards(true, 4);
        assert!(never(|c| h.restore(img, c)).is_err());
        assert_eq!(h.node_count(), 0);
        let undirected: Graph<u32> = Graph::with_shards(false, 4);
        let img = load(&bytes).unwrap();
        assert!(never(|c| undirected.restore(img, c)).is_err());
    }
}
