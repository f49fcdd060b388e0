//! FFI tracing: every call into the module and every predicate batch, as
//! `tracing` events forwarded to Python's `logging.getLogger("gli")`.
//!
//! Off (the default) a call costs one relaxed atomic load more than before:
//! the `Call` guard carries no timestamp and emits nothing. On, each call
//! records its duration and, where it has one, the size of its input, and
//! its guard emits a `tracing` event when the method returns; the subscriber
//! below formats it and hands it to the `gli` logger, attached.

use std::cell::Cell;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{span, Event, Metadata, Subscriber};

use super::convert::release_queued;
use crate::engine::counters::{bump, Counter};
use crate::sync::{AtomicBool, AtomicI32, OnceLock, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The Python logging level records are logged at.
static LEVEL: AtomicI32 = AtomicI32::new(10);

#[inline(always)]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A call into the module: counted always, timed and logged when tracing is
/// on. Made first thing in a method body and dropped last, attached: its
/// drop is also where the opaque values the call dropped are released
/// ([`release_queued`]), since the method then holds no lock. Not `Send`, so
/// it cannot move into a detached closure.
pub(crate) struct Call {
    name: &'static str,
    start: Option<Instant>,
    size: Cell<Option<(&'static str, usize)>>,
    /// False for a call that can drop no Python object ([`call_pure`]).
    release: bool,
    _attached: PhantomData<*const ()>,
}

#[inline(always)]
pub(crate) fn call(name: &'static str) -> Call {
    made(name, true)
}

#[inline(always)]
fn made(name: &'static str, release: bool) -> Call {
    bump(Counter::FfiCalls);
    Call {
        name,
        start: if enabled() {
            Some(Instant::now())
        } else {
            None
        },
        size: Cell::new(None),
        release,
        _attached: PhantomData,
    }
}

/// [`call`] for a method that reads a number and drops no Python object
/// (`node_count`): counted and traced alike, without the release queue
/// check on the way out.
#[inline(always)]
pub(crate) fn call_pure(name: &'static str) -> Call {
    made(name, false)
}

impl Call {
    /// Records the size of the call's input (items of a batch, ids,
    /// attributes of a node, ...).
    #[inline]
    pub(crate) fn items(&self, n: usize) {
        self.sized("items", n);
    }

    /// Records the number of attributes the call passes.
    #[inline]
    pub(crate) fn attrs(&self, n: usize) {
        self.sized("attrs", n);
    }

    #[inline]
    fn sized(&self, what: &'static str, n: usize) {
        if self.start.is_some() {
            self.size.set(Some((what, n)));
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(t0) = self.start {
            let us = micros(t0.elapsed());
            let name = self.name;
            match self.size.get() {
                Some(("attrs", n)) => {
                    tracing::debug!(target: "gli", method = name, attrs = n as u64, duration_us = us)
                }
                Some((_, n)) => {
                    tracing::debug!(target: "gli", method = name, items = n as u64, duration_us = us)
                }
                None => tracing::debug!(target: "gli", method = name, duration_us = us),
            }
        }
        if self.release {
            // SAFETY: a `Call` lives in a method body, attached, and is not
            // `Send`: it is dropped where it was made.
            release_queued(unsafe { Python::assume_attached() });
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A predicate batch crossing (one attach, `size` predicate calls or one
/// vectorized call).
pub(crate) fn batch(method: &'static str, index: usize, size: usize, took: Duration) {
    if enabled() {
        tracing::debug!(
            target: "gli",
            method = method,
            batch = index as u64,
            items = size as u64,
            duration_us = micros(took),
            crossing = true
        );
    }
}

// ------------------------------------------------------------- subscriber

/// Formats events as `method(items=…) 12.3 µs` and logs them to `gli`.
struct PyLogging;

#[derive(Default)]
struct Fields {
    method: String,
    rest: String,
    crossing: bool,
    duration_us: f64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "method" {
            self.method = value.to_owned();
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "crossing" {
            self.crossing = value;
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "duration_us" {
            self.duration_us = value;
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let sep = if self.rest.is_empty() { "" } else { ", " };
        let _ = write!(self.rest, "{sep}{}={value}", field.name());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let sep = if self.rest.is_empty() { "" } else { ", " };
        let _ = write!(self.rest, "{sep}{}={value:?}", field.name());
    }
}

thread_local! {
    /// Set while this thread is inside a logging call: a handler that calls
    /// back into gli must not log recursively.
    static LOGGING: Cell<bool> = const { Cell::new(false) };
}

impl Subscriber for PyLogging {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes() // tracing is switched at run time
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        enabled() && meta.target() == "gli"
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if LOGGING.with(|l| l.replace(true)) {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let msg = if f.crossing {
            format!(
                "{} predicate batch ({}) {:.1} µs",
                f.method, f.rest, f.duration_us
            )
        } else {
            format!("{}({}) {:.1} µs", f.method, f.rest, f.duration_us)
        };
        super::detach::attach(|py| {
            static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            let logger = LOGGER.get_or_try_init(py, || -> PyResult<_> {
                Ok(py
                    .import("logging")?
                    .call_method1("getLogger", ("gli",))?
                    .unbind())
            });
            if let Ok(logger) = logger {
                let level = LEVEL.load(Ordering::Relaxed);
                // Logging reports its own handler errors; nothing to add here.
                let _ = super::detach::calling_python(py, || {
                    logger.bind(py).call_method1("log", (level, msg))
                });
            }
        });
        LOGGING.with(|l| l.set(false));
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// `_core._set_tracing(on, level)`: switches tracing; records are logged at
/// the Python logging `level`.
#[pyfunction]
#[pyo3(signature = (on, level = 10))]
pub(crate) fn _set_tracing(on: bool, level: i32) {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    if on {
        // Our own copy of `tracing` (one per extension module) gets our
        // subscriber; if something else already installed one, events go there.
        INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(PyLogging).is_ok());
        LEVEL.store(level, Ordering::Relaxed);
    }
    ENABLED.store(on, Ordering::Relaxed);
}
