//! Loom models of the engine's shard-locking protocols.
//!
//! Run with: RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!   LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release
//! (`make loom`). Under `--cfg loom` the engine's `sync` module swaps every
//! lock, atomic and the key map for loom's, so loom explores the
//! interleavings of the real engine code, not a copy of it.
#![cfg(loom)]

use gli::engine::{AttrMap, Graph, NodeId, NodeRef};
use loom::sync::Arc;
use loom::thread;

type G = Graph<()>;

/// Two nodes that live in different shards of a 2-shard graph (index parity).
fn two_shard_graph() -> Arc<G> {
    let g = G::with_shards(true, 2);
    g.add_node(NodeRef::Int(0), AttrMap::new()).unwrap();
    g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
    Arc::new(g)
}

/// Two writers add edges across the same pair of shards in opposite
/// directions. Lock ordering by shard index means neither can hold one shard
/// while waiting for the other in the opposite order: no deadlock (loom
/// reports one as a failed model), and both edges land.
#[test]
fn opposite_edges_across_two_shards_do_not_deadlock() {
    loom::model(|| {
        let g = two_shard_graph();
        let g2 = g.clone();
        let a = thread::spawn(move || {
            g2.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
                .unwrap();
        });
        g.add_edge(NodeRef::Int(1), NodeRef::Int(0), AttrMap::new())
            .unwrap();
        a.join().unwrap();
        assert!(g.has_edge(NodeRef::Int(0), NodeRef::Int(1)));
        assert!(g.has_edge(NodeRef::Int(1), NodeRef::Int(0)));
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.degrees(NodeRef::Int(0)).unwrap(), (1, 1));
    });
}

/// A node removal races an edge insertion touching it: afterwards the graph
/// is consistent whichever won (no dangling adjacency, counts agree).
#[test]
fn remove_node_races_add_edge() {
    loom::model(|| {
        let g = two_shard_graph();
        let g2 = g.clone();
        let a = thread::spawn(move || {
            let _ = g2.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new());
        });
        g.remove_node(NodeRef::Int(1)).unwrap();
        a.join().unwrap();
        assert!(!g.contains(NodeRef::Int(1)));
        assert_eq!(g.edge_count(), 0);
        assert_eq!(g.degrees(NodeRef::Int(0)).unwrap(), (0, 0));
    });
}

/// A thread that adds the int ids `ids` in one batch.
fn spawn_batch(g: &Arc<G>, ids: std::ops::Range<i64>) -> thread::JoinHandle<()> {
    let g = g.clone();
    thread::spawn(move || {
        let items = ids.map(|i| (NodeId::Int(i), None)).collect();
        g.batch_add_nodes(items).unwrap();
    })
}

/// A thread that adds nodes 10 and 11 (one in each shard) in one batch.
fn spawn_batch_of_10_and_11(g: &Arc<G>) -> thread::JoinHandle<()> {
    spawn_batch(g, 10..12)
}

/// A node batch races a reader that reads the whole node list: the reader
/// sees all of the batch or none of it.
#[test]
fn node_batch_is_atomic_for_readers() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let writer = spawn_batch_of_10_and_11(&g);
        let seen = g.node_ids().len();
        assert!(
            seen == 0 || seen == 2,
            "reader saw {seen} of 2 batched nodes"
        );
        writer.join().unwrap();
        assert_eq!(g.node_count(), 2);
    });
}

/// Two threads add the same new node at once: exactly one record results.
#[test]
fn concurrent_add_of_same_node_creates_one() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let g2 = g.clone();
        let a = thread::spawn(move || g2.add_node(NodeRef::Int(7), AttrMap::new()).unwrap());
        g.add_node(NodeRef::Int(7), AttrMap::new()).unwrap();
        a.join().unwrap();
        assert_eq!(g.node_count(), 1);
        assert_eq!(g.node_ids(), vec![NodeId::Int(7)]);
    });
}

/// A reader takes a snapshot while a writer adds an edge: the snapshot shows
/// the graph before or after the write, never a torn state, and the old shard
/// data is freed once the snapshot is dropped (loom checks for leaks).
#[test]
fn snapshot_races_a_writer() {
    loom::model(|| {
        let g = two_shard_graph();
        let g2 = g.clone();
        let writer = thread::spawn(move || {
            g2.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
                .unwrap();
        });
        let snap = g.snapshot();
        let view = snap.view();
        let (a, b) = (
            g.resolve(NodeRef::Int(0)).unwrap(),
            g.resolve(NodeRef::Int(1)).unwrap(),
        );
        let out = view.out(a).len();
        let inn = view.inn(b).len();
        // Both halves of the edge or neither: never torn across the two shards.
        assert_eq!(out, inn);
        assert_eq!(snap.edge_count(), out);
        writer.join().unwrap();
        drop(view);
        drop(snap);
        assert_eq!(g.edge_count(), 1);
    });
}

/// A reader lets go of a snapshot while a writer changes records it shares:
/// the writer copies the shard's chunk pointers and the written chunks while
/// the snapshot holds them, or writes in place once it is gone. The reader
/// sees the records as they were, and every copy is freed (loom checks for
/// leaks).
#[test]
fn a_writer_racing_a_snapshot_release_copies_or_writes_in_place() {
    loom::model(|| {
        let g = two_shard_graph();
        let (a, b) = (
            g.resolve(NodeRef::Int(0)).unwrap(),
            g.resolve(NodeRef::Int(1)).unwrap(),
        );
        let snap = g.snapshot();
        let reader = thread::spawn(move || {
            let view = snap.view();
            assert!(view.out(a).is_empty() && view.inn(b).is_empty());
            drop(view);
            drop(snap);
        });
        g.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        reader.join().unwrap();
        let now = g.snapshot();
        assert_eq!(now.view().out(a), [b]);
        assert_eq!(now.view().inn(b), [a]);
    });
}

/// A node batch racing a snapshot reader: all of it or none of it.
#[test]
fn snapshot_sees_all_or_none_of_a_batch() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let g2 = g.clone();
        let writer = thread::spawn(move || {
            let items = (0..3).map(|i| (NodeId::Int(i), None)).collect();
            g2.batch_add_nodes(items).unwrap();
        });
        let snap = g.snapshot();
        let seen = snap.view().ixs().count();
        assert!(
            seen == 0 || seen == 3,
            "snapshot saw {seen} of 3 batched nodes"
        );
        assert_eq!(seen, snap.node_count());
        writer.join().unwrap();
    });
}

/// A k_hop-style point reader (a view under the read locks) racing a writer
/// that removes the middle of a path: the reader sees the path whole or cut,
/// never a dangling neighbour.
#[test]
fn point_reader_races_a_node_removal() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        for i in 0..3 {
            g.add_node(NodeRef::Int(i), AttrMap::new()).unwrap();
        }
        g.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        g.add_edge(NodeRef::Int(1), NodeRef::Int(2), AttrMap::new())
            .unwrap();
        let g2 = g.clone();
        let writer = thread::spawn(move || g2.remove_node(NodeRef::Int(1)).unwrap());
        let reached = g.with_view(|view| {
            let src = g.ix_in(view, NodeRef::Int(0)).unwrap();
            let mut reached = Vec::new();
            for &a in view.out(src) {
                assert!(view.contains(a), "dangling neighbour");
                reached.push(view.key(a).clone());
                for &b in view.out(a) {
                    assert!(view.contains(b), "dangling neighbour");
                    reached.push(view.key(b).clone());
                }
            }
            reached
        });
        assert!(reached.is_empty() || reached == vec![NodeId::Int(1), NodeId::Int(2)]);
        writer.join().unwrap();
    });
}

/// A graph whose int id 3 sits in the hash half of the int key map, and a
/// thread adding ids 0, 1 and 2 in one batch: dense enough that the batch
/// grows the dense table over 0..4 and moves id 3 into it on the way.
fn id_3_then_batch_of_0_1_2(g: &Arc<G>) -> thread::JoinHandle<()> {
    g.add_node(NodeRef::Int(3), AttrMap::new()).unwrap();
    spawn_batch(g, 0..3)
}

/// A lookup of an id that the dense table's growth moves out of the hash
/// map finds it before, during and after the move.
#[test]
fn lookup_finds_an_id_moved_by_dense_growth() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        let writer = id_3_then_batch_of_0_1_2(&g);
        assert!(g.contains(NodeRef::Int(3)), "id 3 vanished while it moved");
        writer.join().unwrap();
        assert!((0..4).all(|i| g.contains(NodeRef::Int(i))));
    });
}

/// Removing (then re-adding) an id while a single `add_node` grows the dense
/// table and moves that id out of the hash map. (A batch grows it holding
/// every shard lock, which excludes removals; `add_node` holds only its new
/// node's shard, here not the removed node's.) The removal takes effect
/// wherever the id lives, exactly once.
#[test]
fn removal_races_dense_growth_by_add_node() {
    loom::model(|| {
        let g = Arc::new(G::with_shards(true, 2));
        // Index 0 (shard 0): id 3, in the hash map. Id 1 grows the dense
        // table to 0..2; "x" takes index 2, so id 2 gets index 3 (shard 1).
        g.add_node(NodeRef::Int(3), AttrMap::new()).unwrap();
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        g.add_node(NodeRef::Str("x"), AttrMap::new()).unwrap();
        let g2 = g.clone();
        // Grows the dense table to 0..4, moving id 3.
        let writer = thread::spawn(move || g2.add_node(NodeRef::Int(2), AttrMap::new()).unwrap());
        g.remove_node(NodeRef::Int(3)).unwrap();
        writer.join().unwrap();
        assert!(!g.contains(NodeRef::Int(3)));
        assert_eq!(g.node_count(), 3);
        g.add_node(NodeRef::Int(3), AttrMap::new()).unwrap();
        assert!(g.contains(NodeRef::Int(3)));
        assert_eq!(g.node_count(), 4);
    });
}

/// A traversal's cached adjacency (per-shard CSRs kept by shard version)
/// racing `clear()` and the writes after it: whatever the interleaving, the
/// CSRs a view gets from the cache list exactly the out-neighbours its own
/// records do, never those of another state of the shard.
#[test]
fn cached_adjacency_never_serves_another_state_of_a_shard() {
    fn check(g: &G) {
        let snap = g.snapshot();
        let view = snap.view();
        let index = gli::engine::cancel::never(|c| g.column_cache().adjacency(&view, c))
            .expect("never cancelled");
        let cached = view.with_adjacency(&index);
        for ix in view.ixs() {
            assert_eq!(cached.out(ix), view.out(ix), "node index {ix}");
        }
    }
    loom::model(|| {
        let g = two_shard_graph();
        g.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        check(&g); // cache the adjacency of this state
        let g2 = g.clone();
        let w = thread::spawn(move || {
            g2.clear();
            g2.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
            g2.add_node(NodeRef::Int(0), AttrMap::new()).unwrap();
            g2.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
                .unwrap();
        });
        check(&g);
        w.join().unwrap();
        check(&g);
    });
}
