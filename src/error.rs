//! The engine's one error type. `Display` names the offending value, in
//! Python's `repr` spelling, because these messages reach Python users as is.

use std::fmt;

use crate::engine::NodeId;

#[derive(Debug, Clone, PartialEq)]
pub enum GraphError {
    /// `Node 'alice' not found`
    NodeNotFound(NodeId),
    /// `Edge 'a' -> 'b' not found`
    EdgeNotFound(NodeId, NodeId),
    /// `Edge 'a' -> 'b' already exists`
    EdgeExists(NodeId, NodeId),
    /// `No path from 'a' to 'b'`
    NoPath(NodeId, NodeId),
    /// An iterative algorithm ran out of iterations.
    Convergence(String),
    /// A bad argument value (Python `ValueError`).
    InvalidValue(String),
    /// A bad argument type (Python `TypeError`).
    InvalidType(String),
    /// The work was interrupted (Ctrl-C) or cancelled.
    Interrupted,
    /// A first attempt reached its first cancellation check (see
    /// [`crate::engine::cancel::Cancel::giving_up`]); its caller runs the work again
    /// another way. Never reaches a user.
    OverBudget,
    /// The graph's index space or another hard limit is exhausted.
    Capacity(String),
    /// Operation `.0` of a batch of operations failed with `.1` (nothing of
    /// the batch was applied): `operation 3: Node 'a' not found`.
    InOperation(usize, Box<GraphError>),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::NodeNotFound(n) => write!(f, "Node {n} not found"),
            GraphError::EdgeNotFound(s, t) => write!(f, "Edge {s} -> {t} not found"),
            GraphError::EdgeExists(s, t) => write!(f, "Edge {s} -> {t} already exists"),
            GraphError::NoPath(s, t) => write!(f, "No path from {s} to {t}"),
            GraphError::Convergence(m)
            | GraphError::InvalidValue(m)
            | GraphError::InvalidType(m)
            | GraphError::Capacity(m) => f.write_str(m),
            GraphError::Interrupted => f.write_str("interrupted"),
            GraphError::OverBudget => f.write_str("a first attempt ran past its budget"),
            GraphError::InOperation(k, e) => write!(f, "operation {k}: {e}"),
        }
    }
}

impl std::error::Error for GraphError {}

pub type Result<T, E = GraphError> = std::result::Result<T, E>;
