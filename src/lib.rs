//! GLI: a sharded, lock-striped graph engine for multithreaded Python.
//!
//! The engine ([`engine`]) is plain Rust: it never names Python, so it builds
//! without pyo3 (`--no-default-features`) and the loom models in `loom-tests/`
//! can check its protocols with loom's primitives swapped in (see `sync`).
//! The PyO3 binding lives behind the single `python` feature gate below.

pub mod engine;
pub mod error;
pub mod sync;

#[cfg(feature = "python")]
mod python;

pub use engine::{Graph, NodeId, NodeRef};
pub use error::GraphError;
