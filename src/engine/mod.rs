//! The graph engine: sharded storage, native attribute values, batches and
//! statistics. Nothing here names Python; the binding supplies the opaque
//! payload type `O` for attribute values the engine does not model.

pub mod adjacency;
mod adjlist;
pub mod algo;
pub mod cancel;
pub mod counters;
pub mod filter;
pub mod id;
mod intkeys;
pub(crate) mod slots;
pub mod state;
pub mod store;
pub mod value;

mod batch;

pub use batch::Op;
pub use id::{NodeId, NodeRef};
pub use store::{
    default_shards, EdgeBatchError, EdgeRecord, Graph, GraphView, Ix, ResolvedEdges, Snapshot,
};
pub use value::{
    intern, name_of, AttrId, AttrMap, AttrSlice, Attrs, Equiv, Number, SharedAttrs, Value,
};

/// What the engine needs of an opaque attribute value: sharing across
/// threads, and the number it stands for when it is one. Cloning must be
/// cheap and must not need the Python runtime (the binding wraps Python
/// objects in an `Arc`).
pub trait Payload: Clone + Send + Sync + 'static {
    /// The number this value equals, if it is one the engine does not store
    /// natively (a numpy scalar, an `int` or `float` subclass, an `int`
    /// beyond 64 bits): `where` conditions, numeric columns and edge
    /// weights read it. Worked out when the value is stored.
    fn number(&self) -> Option<Number> {
        None
    }

    /// What this value equals when it stands for no number but for a
    /// scalar `where` compares with (a `str` subclass instance, an `int`
    /// beyond 64 bits). Worked out when the value is stored.
    fn equiv(&self) -> Option<Equiv<'_>> {
        None
    }
}

impl Payload for () {}
impl Payload for u32 {}

/// Helpers shared by the engine's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A xorshift generator: `next(m)` is a pseudo-random value in `0..m`
    /// (`m = 0`: the raw 64-bit state), the same sequence for a seed.
    pub(crate) fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if m == 0 {
                x
            } else {
                x % m
            }
        }
    }
}
