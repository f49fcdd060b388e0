//! Loom models of point operations racing batches, `clear()` and each other.
//!
//! A batch (`apply`, `batch_add_nodes`) changes the key maps one key at a time
//! while it holds every shard lock; a point operation resolves its ids
//! without a shard lock first. These models check that it never sees part of
//! a batch, that `add_node` racing `clear()` never leaves a key without a
//! record, that the key maps and the records always agree, and that a
//! renumbering of the live nodes (when indices run out) never makes an
//! index looked up before it name another node after it. Run with
//! `make loom` (see `shards.rs`).
#![cfg(loom)]

use gli::engine::{AttrMap, EdgeBatchError, Graph, NodeId, NodeRef, Op, ResolvedEdges};
use loom::sync::Arc;
use loom::thread;

type G = Graph<()>;

fn node(g: &G, id: &str) {
    g.add_node(NodeRef::Str(id), AttrMap::new()).unwrap();
}

/// A directed two-shard graph of the nodes `ids`, added in order.
fn graph_of(ids: &[&str]) -> Arc<G> {
    let g = Arc::new(G::with_shards(true, 2));
    for id in ids {
        node(&g, id);
    }
    g
}

/// `apply` removing then re-adding `id` (and, if given, re-linking `from -> id`).
fn recreate(g: &Arc<G>, id: &'static str, from: Option<&'static str>) -> thread::JoinHandle<()> {
    let g = g.clone();
    thread::spawn(move || {
        let mut ops = vec![
            Op::RemoveNode(NodeId::from(id)),
            Op::AddNode(NodeId::from(id), AttrMap::new()),
        ];
        if let Some(s) = from {
            ops.push(Op::AddEdge(
                NodeId::from(s),
                NodeId::from(id),
                AttrMap::new(),
            ));
        }
        g.apply(ops).unwrap();
    })
}

/// A batch of dense int ids (their table is lock-free) against two
/// `contains`: seeing the first id without the second is half a batch.
#[test]
fn contains_never_sees_half_of_a_dense_batch() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let g2 = g.clone();
        let w = thread::spawn(move || {
            g2.batch_add_nodes((0..2).map(|i| (NodeId::Int(i), None)).collect())
                .unwrap();
        });
        let first = g.contains(NodeRef::Int(0));
        let second = g.contains(NodeRef::Int(1));
        assert!(!first || second, "saw node 0 of the batch but not node 1");
        w.join().unwrap();
    });
}

/// `apply` removing two nodes against `contains` of both, in order.
#[test]
fn contains_never_sees_half_of_a_batch_of_removals() {
    loom::model(|| {
        let g = graph_of(&["a", "b"]);
        let g2 = g.clone();
        let w = thread::spawn(move || {
            g2.apply(vec![
                Op::RemoveNode(NodeId::from("a")),
                Op::RemoveNode(NodeId::from("b")),
            ])
            .unwrap();
        });
        let a = g.contains(NodeRef::Str("a"));
        let b = g.contains(NodeRef::Str("b"));
        assert!(a || !b, "a gone but b still there: half a batch");
        w.join().unwrap();
    });
}

/// A node re-created by one atomic batch exists throughout: `contains`,
/// `node_attrs` and `has_edge` (its edge from `s` exists before and after)
/// must all find it, whenever they run.
#[test]
fn point_reads_never_miss_a_node_a_batch_recreates() {
    loom::model(|| {
        let g = graph_of(&["s", "x"]);
        g.add_edge(NodeRef::Str("s"), NodeRef::Str("x"), AttrMap::new())
            .unwrap();
        let w = recreate(&g, "x", Some("s"));
        assert!(g.contains(NodeRef::Str("x")), "contains(x) false");
        assert!(
            g.node_attrs(NodeRef::Str("x")).is_ok(),
            "node_attrs(x) failed"
        );
        assert!(
            g.has_edge(NodeRef::Str("s"), NodeRef::Str("x")),
            "edge s -> x missing"
        );
        w.join().unwrap();
    });
}

/// `add_edge` to a node an atomic batch re-creates in a shard the edge's
/// first lookup did not lock (4 shards): it must find the node.
#[test]
fn add_edge_finds_an_endpoint_a_batch_moves() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 4));
        node(&g, "s"); // index 0
        node(&g, "t"); // index 1; re-created at index 2
        let w = recreate(&g, "t", None);
        let r = g.add_edge(NodeRef::Str("s"), NodeRef::Str("t"), AttrMap::new());
        assert!(r.is_ok(), "{r:?}");
        w.join().unwrap();
    });
}

/// `add_node` allocates an index, `clear()` runs, then `add_node` stores:
/// once `clear()` has returned nothing removes `x`, so `contains(x)` must
/// imply that its record is there.
#[test]
fn add_node_racing_clear_never_shows_a_key_without_a_record() {
    loom::model(|| {
        let g = graph_of(&["old"]);
        let ga = g.clone();
        let a = thread::spawn(move || node(&ga, "x"));
        g.clear();
        if g.contains(NodeRef::Str("x")) {
            assert!(
                g.node_attrs(NodeRef::Str("x")).is_ok(),
                "contains(x), then NodeNotFound(x)"
            );
        }
        a.join().unwrap();
        // Added after the clear, or before it and cleared with `old`.
        let ids = g.node_ids();
        assert!(ids.is_empty() || ids == vec![NodeId::from("x")], "{ids:?}");
        assert_eq!(g.contains(NodeRef::Str("x")), !ids.is_empty());
    });
}

/// An edge batch resolved while `add_node` races `clear()`: it fails, if
/// at all, as stale (to be resolved again), never with a graph error about
/// an index that is not live.
#[test]
fn edge_batch_never_meets_a_transient_key() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let g = graph_of(&["old"]);
        g.clear();
        node(&g, "y");
        let ga = g.clone();
        let a = thread::spawn(move || node(&ga, "x"));
        g.clear();
        let epoch = g.epoch();
        if let Some(x) = g.resolve(NodeRef::Str("x")) {
            let batch = ResolvedEdges {
                pairs: vec![(x, x)],
                attrs: vec![],
                epoch,
            };
            if let Err(EdgeBatchError::Graph(e)) = g.batch_add_edges(batch) {
                panic!("a graph error for a node that exists: {e}");
            }
        }
        a.join().unwrap();
    });
}

/// `add_node` racing `clear()`: afterwards the key maps, the records and
/// the count agree.
#[test]
fn add_node_racing_clear_leaves_keys_records_and_count_agreeing() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        g.add_node(NodeRef::Int(9), AttrMap::new()).unwrap();
        let ga = g.clone();
        let a = thread::spawn(move || ga.add_node(NodeRef::Int(5), AttrMap::new()).unwrap());
        g.clear();
        a.join().unwrap();
        let ids = g.node_ids();
        assert_eq!(ids.len(), g.node_count());
        assert!(!g.contains(NodeRef::Int(9)));
        assert_eq!(g.contains(NodeRef::Int(5)), ids.contains(&NodeId::Int(5)));
        assert_eq!(
            g.resolve(NodeRef::Int(5)).is_some(),
            ids.contains(&NodeId::Int(5))
        );
    });
}

/// A node batch racing `add_node` of one of its ids: one record each.
#[test]
fn node_batch_racing_add_node_of_the_same_id_makes_one_record() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let g2 = g.clone();
        let w = thread::spawn(move || {
            g2.batch_add_nodes(vec![(NodeId::from("x"), None), (NodeId::from("y"), None)])
                .unwrap();
        });
        node(&g, "x");
        w.join().unwrap();
        assert_eq!(g.node_count(), 2);
        assert_eq!(g.node_ids().len(), 2);
    });
}

/// `add_node` racing `remove_node` of the same id: a key in the map always
/// has its record, and the count matches.
#[test]
fn add_node_racing_remove_node_keeps_keys_and_records_agreeing() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        g.add_node(NodeRef::Int(100), AttrMap::new()).unwrap();
        let g2 = g.clone();
        let w = thread::spawn(move || g2.remove_node(NodeRef::Int(100)).is_ok());
        g.add_node(NodeRef::Int(100), AttrMap::new()).unwrap();
        assert!(w.join().unwrap());
        let ids = g.node_ids();
        assert_eq!(ids.len(), g.node_count());
        assert_eq!(g.contains(NodeRef::Int(100)), ids.len() == 1);
        if let Some(ix) = g.resolve(NodeRef::Int(100)) {
            assert!(g.snapshot().view().contains(ix), "a key without its record");
        }
    });
}

/// `apply` creating two nodes and an edge against `node_count()` and a
/// snapshot: all of it or none, in the count as in the snapshot.
#[test]
fn counts_and_snapshots_never_show_part_of_an_apply() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let g2 = g.clone();
        let w = thread::spawn(move || {
            g2.apply(vec![
                Op::AddNode(NodeId::Int(50), AttrMap::new()),
                Op::AddNode(NodeId::Int(51), AttrMap::new()),
                Op::AddEdge(NodeId::Int(50), NodeId::Int(51), AttrMap::new()),
            ])
            .unwrap();
        });
        let n = g.node_count();
        assert!(n == 0 || n == 2, "node_count {n}");
        let s = g.snapshot();
        let seen = s.view().ixs().count();
        assert_eq!(seen, s.node_count());
        assert!(seen == 0 || (seen == 2 && s.edge_count() == 1));
        w.join().unwrap();
    });
}

/// A snapshot's lookup (`ix_in`) racing the removal of the node it looks up:
/// the snapshot holds the node, so the lookup finds it, whether the removal
/// is still to come, part-way or done. The lookup trusts the key maps only
/// while no removal has followed the snapshot (`Graph::removals`, bumped
/// before the key-map change it announces).
#[test]
fn a_snapshot_finds_a_node_removed_after_it() {
    loom::model(|| {
        let g = graph_of(&["a", "b"]);
        let snap = g.snapshot();
        let g2 = g.clone();
        let w = thread::spawn(move || g2.remove_node(NodeRef::Str("a")).unwrap());
        let view = snap.view();
        let a = g
            .ix_in(&view, NodeRef::Str("a"))
            .expect("the snapshot holds a");
        assert_eq!(view.key(a), &NodeId::from("a"));
        assert!(g.ix_in(&view, NodeRef::Str("zed")).is_err());
        w.join().unwrap();
    });
}

/// Nodes `a`, `b`, `c` (`c -> b`) in a graph of 3 indices: removing `a` and
/// adding `d` runs out and renumbers `b`, `c` to 0, 1 (and `d` takes 2, `c`'s
/// old index). A point read racing it, having looked `c` up before, must
/// still read `c`.
fn renumbering_graph() -> Arc<G> {
    let g = graph_of(&["a", "b", "c"]);
    g.add_edge(NodeRef::Str("c"), NodeRef::Str("b"), AttrMap::new())
        .unwrap();
    g.set_index_limit(3);
    g
}

fn renumber(g: &Arc<G>) -> thread::JoinHandle<()> {
    let g = g.clone();
    thread::spawn(move || {
        g.remove_node(NodeRef::Str("a")).unwrap();
        node(&g, "d");
    })
}

/// Runs `during` against a renumbering racing it (see `renumbering_graph`),
/// with at most two preemptions (a renumbering is many steps), then
/// `after` on its result once the renumbering is done.
fn racing_a_renumbering<R>(
    during: impl Fn(&Arc<G>) -> R + Sync + Send + 'static,
    after: impl Fn(&Arc<G>, R) + Sync + Send + 'static,
) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(move || {
        let g = renumbering_graph();
        let a = renumber(&g);
        let r = during(&g);
        a.join().unwrap();
        assert_eq!(g.epoch(), 1, "renumbered once");
        after(&g, r);
    });
}

#[test]
fn a_point_read_racing_a_renumbering_reads_the_node_it_named() {
    racing_a_renumbering(
        |g| {
            // Read under the one shard lock of the index looked up first.
            assert_eq!(g.degrees(NodeRef::Str("c")).unwrap(), (0, 1));
            assert!(g.has_edge(NodeRef::Str("c"), NodeRef::Str("b")));
            g.update_node(NodeRef::Str("c"), AttrMap::new()).unwrap();
        },
        |g, ()| {
            assert_eq!(
                g.predecessors(NodeRef::Str("b")).unwrap(),
                vec![NodeId::from("c")]
            );
            assert!(g.successors(NodeRef::Str("d")).unwrap().is_empty());
        },
    );
}

/// An edge batch looked up before a renumbering is stale after it (to be
/// looked up again), never applied to the nodes that took its indices.
#[test]
fn an_edge_batch_looked_up_before_a_renumbering_is_stale() {
    racing_a_renumbering(
        |g| {
            let epoch = g.epoch();
            let (b, c) = (
                g.resolve(NodeRef::Str("b")).unwrap(),
                g.resolve(NodeRef::Str("c")).unwrap(),
            );
            let batch = ResolvedEdges {
                pairs: vec![(b, c)],
                attrs: vec![],
                epoch,
            };
            match g.batch_add_edges(batch) {
                Ok(n) => n == 1,
                Err(EdgeBatchError::Stale(_)) => false,
                Err(EdgeBatchError::Graph(e)) => panic!("{e}"),
            }
        },
        |g, applied| {
            assert_eq!(
                g.has_edge(NodeRef::Str("b"), NodeRef::Str("c")),
                applied,
                "the edge went to other nodes"
            );
            assert_eq!(g.edge_count(), 1 + applied as usize);
        },
    );
}
