//! Atomic operation batches (`Graph.batch_operations()` in Python).
//!
//! `Graph::apply` locks every shard, checks the whole sequence against an
//! overlay of its own effects (no change to the graph yet), and only then
//! applies it. So a batch is all-or-nothing without an undo log.

use std::collections::HashMap;

use super::id::{NodeId, NodeRef};
use super::value::AttrMap;
use crate::error::{GraphError, Result};

/// One recorded operation.
#[derive(Debug)]
pub enum Op<O> {
    AddNode(NodeId, AttrMap<O>),
    AddEdge(NodeId, NodeId, AttrMap<O>),
    UpdateNode(NodeId, AttrMap<O>),
    UpdateEdge(NodeId, NodeId, AttrMap<O>),
    RemoveNode(NodeId),
    RemoveEdge(NodeId, NodeId),
}

/// Checks that `ops`, applied in order to a graph where `node(id)` and
/// `edge(s, t)` tell what exists now, would all succeed; returns the first
/// failure otherwise, as [`GraphError::InOperation`] naming its operation.
pub(crate) fn validate<O>(
    directed: bool,
    ops: &[Op<O>],
    node: impl Fn(NodeRef<'_>) -> bool,
    edge: impl Fn(NodeRef<'_>, NodeRef<'_>) -> bool,
) -> Result<usize> {
    let key = |s: &NodeId, t: &NodeId| -> (NodeId, NodeId) {
        if directed || s <= t {
            (s.clone(), t.clone())
        } else {
            (t.clone(), s.clone())
        }
    };
    // Overlay of the batch's own effects. Removing a node does not visit
    // the edges recorded so far (a scan each made a batch of m edge ops and
    // m node removals O(m^2)): each removal starts a new generation of the
    // node, and an edge entry holds only while both its ends are still in
    // the generations it was recorded in.
    let mut nodes: HashMap<NodeId, bool> = HashMap::new();
    let mut removed: HashMap<NodeId, u32> = HashMap::new();
    let mut edges: HashMap<(NodeId, NodeId), (bool, u32, u32)> = HashMap::new();
    let node_exists = |nodes: &HashMap<NodeId, bool>, id: &NodeId| {
        nodes.get(id).copied().unwrap_or_else(|| node(id.as_ref()))
    };
    let generation = |removed: &HashMap<NodeId, u32>, id: &NodeId| -> u32 {
        removed.get(id).copied().unwrap_or(0)
    };
    let edge_exists = |nodes: &HashMap<NodeId, bool>,
                       removed: &HashMap<NodeId, u32>,
                       edges: &HashMap<(NodeId, NodeId), (bool, u32, u32)>,
                       s: &NodeId,
                       t: &NodeId| {
        if !node_exists(nodes, s) || !node_exists(nodes, t) {
            return false;
        }
        let k = key(s, t);
        let (gs, gt) = (generation(removed, &k.0), generation(removed, &k.1));
        match edges.get(&k) {
            Some(&(e, was_s, was_t)) if (was_s, was_t) == (gs, gt) => e,
            // Not recorded since both ends last came back: a node removed
            // earlier in the batch lost all its original edges.
            _ => gs == 0 && gt == 0 && edge(s.as_ref(), t.as_ref()),
        }
    };
    let record = |removed: &HashMap<NodeId, u32>,
                  edges: &mut HashMap<(NodeId, NodeId), (bool, u32, u32)>,
                  s: &NodeId,
                  t: &NodeId,
                  exists: bool| {
        let k = key(s, t);
        let gens = (generation(removed, &k.0), generation(removed, &k.1));
        edges.insert(k, (exists, gens.0, gens.1));
    };
    // How many `AddNode`s make a node (the others merge): the indices the
    // batch needs, reserved before it changes anything.
    let mut created = 0;
    for (k, op) in ops.iter().enumerate() {
        let at = |e: GraphError| Err(GraphError::InOperation(k, Box::new(e)));
        match op {
            Op::AddNode(id, _) => {
                if !node_exists(&nodes, id) {
                    created += 1;
                }
                nodes.insert(id.clone(), true);
            }
            Op::UpdateNode(id, _) => {
                if !node_exists(&nodes, id) {
                    return at(GraphError::NodeNotFound(id.clone()));
                }
            }
            Op::RemoveNode(id) => {
                if !node_exists(&nodes, id) {
                    return at(GraphError::NodeNotFound(id.clone()));
                }
                nodes.insert(id.clone(), false);
                *removed.entry(id.clone()).or_insert(0) += 1;
            }
            Op::AddEdge(s, t, _) => {
                for end in [s, t] {
                    if !node_exists(&nodes, end) {
                        return at(GraphError::NodeNotFound(end.clone()));
                    }
                }
                if edge_exists(&nodes, &removed, &edges, s, t) {
                    return at(GraphError::EdgeExists(s.clone(), t.clone()));
                }
                record(&removed, &mut edges, s, t, true);
            }
            Op::UpdateEdge(s, t, _) => {
                if !edge_exists(&nodes, &removed, &edges, s, t) {
                    return at(GraphError::EdgeNotFound(s.clone(), t.clone()));
                }
            }
            Op::RemoveEdge(s, t) => {
                if !edge_exists(&nodes, &removed, &edges, s, t) {
                    return at(GraphError::EdgeNotFound(s.clone(), t.clone()));
                }
                record(&removed, &mut edges, s, t, false);
            }
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Graph;

    fn i(n: i64) -> NodeId {
        NodeId::Int(n)
    }

    /// `e` as operation `k`'s failure.
    fn at(k: usize, e: GraphError) -> GraphError {
        GraphError::InOperation(k, Box::new(e))
    }

    #[test]
    fn invalid_op_applies_nothing() {
        let g: Graph<()> = Graph::with_shards(true, 4);
        g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
        let ops = vec![
            Op::AddNode(i(2), AttrMap::new()),
            Op::AddEdge(i(1), i(2), AttrMap::new()),
            Op::RemoveNode(i(2)),
            Op::UpdateEdge(i(1), i(2), AttrMap::new()),
        ];
        assert_eq!(
            g.apply(ops),
            Err(at(3, GraphError::EdgeNotFound(i(1), i(2))))
        );
        assert_eq!(g.node_count(), 1);
        assert_eq!(g.edge_count(), 0);
    }

    #[test]
    fn check_ops_reports_what_apply_would_and_changes_nothing() {
        for directed in [true, false] {
            let g: Graph<()> = Graph::with_shards(directed, 4);
            g.add_node(NodeRef::Int(1), AttrMap::new()).unwrap();
            g.add_node(NodeRef::Int(2), AttrMap::new()).unwrap();
            g.add_edge(NodeRef::Int(2), NodeRef::Int(1), AttrMap::new())
                .unwrap();
            let a = || AttrMap::new();
            let cases: Vec<(Vec<Op<()>>, Result<()>)> = vec![
                (
                    vec![Op::AddNode(i(3), a()), Op::AddEdge(i(1), i(3), a())],
                    Ok(()),
                ),
                (
                    vec![Op::RemoveNode(i(1)), Op::UpdateNode(i(1), a())],
                    Err(at(1, GraphError::NodeNotFound(i(1)))),
                ),
                (
                    vec![Op::AddEdge(i(2), i(1), a())],
                    Err(at(0, GraphError::EdgeExists(i(2), i(1)))),
                ),
                (
                    vec![Op::RemoveEdge(i(2), i(1)), Op::RemoveEdge(i(2), i(1))],
                    Err(at(1, GraphError::EdgeNotFound(i(2), i(1)))),
                ),
            ];
            for (ops, want) in cases {
                assert_eq!(g.check_ops(&ops), want, "{ops:?}");
                assert_eq!((g.node_count(), g.edge_count()), (2, 1));
            }
            // Undirected, the edge exists either way round.
            let back = g.check_ops(&[Op::AddEdge(i(1), i(2), a())]);
            assert_eq!(back.is_err(), !directed);
        }
    }

    #[test]
    fn an_edge_recorded_holds_only_until_an_end_is_removed() {
        let g: Graph<()> = Graph::with_shards(false, 4);
        for n in 0..3 {
            g.add_node(NodeRef::Int(n), AttrMap::new()).unwrap();
        }
        let a = || AttrMap::new();
        let check =
            |ops: Vec<Op<()>>| validate(false, &ops, |id| g.contains(id), |s, t| g.has_edge(s, t));
        // Recorded, then an end removed and re-added: gone.
        let ops = vec![
            Op::AddEdge(i(0), i(1), a()),
            Op::RemoveNode(i(1)),
            Op::AddNode(i(1), a()),
            Op::UpdateEdge(i(1), i(0), a()),
        ];
        assert_eq!(check(ops), Err(at(3, GraphError::EdgeNotFound(i(1), i(0)))));
        // Recorded after the re-add: there, until the next removal.
        let ops = vec![
            Op::RemoveNode(i(0)),
            Op::AddNode(i(0), a()),
            Op::AddEdge(i(2), i(0), a()),
            Op::UpdateEdge(i(0), i(2), a()),
            Op::RemoveNode(i(0)),
            Op::AddNode(i(0), a()),
            Op::AddEdge(i(0), i(2), a()),
            Op::RemoveEdge(i(2), i(0)),
            Op::RemoveEdge(i(2), i(0)),
        ];
        assert_eq!(check(ops), Err(at(8, GraphError::EdgeNotFound(i(2), i(0)))));
        // A removed edge stays removed while both ends stay.
        let ops = vec![
            Op::AddEdge(i(1), i(2), a()),
            Op::RemoveEdge(i(1), i(2)),
            Op::RemoveNode(i(0)),
            Op::AddEdge(i(2), i(1), a()),
        ];
        assert_eq!(check(ops), Ok(0));
    }

    #[test]
    fn readd_after_remove_loses_old_edges() {
        let g: Graph<()> = Graph::with_shards(false, 4);
        for n in 0..3 {
            g.add_node(NodeRef::Int(n), AttrMap::new()).unwrap();
        }
        g.add_edge(NodeRef::Int(0), NodeRef::Int(1), AttrMap::new())
            .unwrap();
        let ops = vec![
            Op::RemoveNode(i(1)),
            Op::AddNode(i(1), AttrMap::new()),
            Op::AddEdge(i(1), i(0), AttrMap::new()),
            Op::AddEdge(i(2), i(1), AttrMap::new()),
            Op::RemoveEdge(i(0), i(1)),
        ];
        g.apply(ops).unwrap();
        assert_eq!(g.edge_count(), 1);
        assert!(g.has_edge(NodeRef::Int(1), NodeRef::Int(2)));
        assert_eq!(g.node_ids(), vec![i(0), i(2), i(1)]);
    }
}
