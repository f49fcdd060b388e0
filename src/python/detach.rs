//! The one helper every long query runs through (polars' `enter_polars`).
//!
//! It detaches from the interpreter, hands the engine a `Cancel` token, and
//! maps the outcome: engine errors through `From<GraphError>`, a Ctrl-C seen
//! while detached as the very `KeyboardInterrupt` that `check_signals` raised,
//! and a panic (in this thread or a rayon worker) as an exception, never an
//! abort.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use super::convert::{gil_disabled, PyPayload};
use crate::engine::cancel::Cancel;
use crate::engine::counters::{bump, Counter};
use crate::engine::{Graph, GraphView, Snapshot};
use crate::error::GraphError;
use crate::sync::{Arc, AtomicBool, AtomicPtr, AtomicUsize, LeafMutex, OnceLock, Ordering};

/// The cancellation flags of the `CancelToken`s entered on one thread and
/// not yet exited, innermost last. A leaf lock: held only to read or change
/// the list, never across Python code or another lock.
#[derive(Default)]
struct Entered {
    list: LeafMutex<Vec<Arc<AtomicBool>>>,
    /// The list's length, stored under the lock at every change and read
    /// without it: a query on a thread with no token (nearly all) reads one
    /// word instead of taking the lock (that cost `k_hop` ~5 %). Written by
    /// the owning thread, or by another exiting a token entered here, whose
    /// exit the owner then sees a moment late at most.
    len: AtomicUsize,
}

impl Entered {
    fn change(&self, f: impl FnOnce(&mut Vec<Arc<AtomicBool>>)) {
        let mut list = self.list.lock();
        f(&mut list);
        self.len.store(list.len(), Ordering::Release);
    }
}

thread_local! {
    /// This thread's entered tokens (per thread: one token may be entered
    /// by several threads at once). Shared, so that a token exited on
    /// another thread (a `with token:` in a generator finished elsewhere)
    /// leaves the list it was entered on.
    static ENTERED: Arc<Entered> = Arc::new(Entered::default());
}

/// The flags of the tokens entered on this thread, innermost last (async
/// queries enter one on their worker thread; cancelling the awaiting task
/// sets it). Cancelling any of them stops the thread's queries.
pub(crate) fn entered_cancel_flags() -> Vec<Arc<AtomicBool>> {
    if TOKENS_SET_ASIDE.with(std::cell::Cell::get) > 0 {
        return Vec::new();
    }
    ENTERED.with(|e| {
        if e.len.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        e.list.lock().clone()
    })
}

thread_local! {
    /// How deep this thread is in [`without_tokens`]: while above 0, its
    /// entered tokens are not watched.
    static TOKENS_SET_ASIDE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with this thread's entered tokens not watched, for code
/// unrelated to the query under way, such as the `__del__` of a value that
/// only a cancelled query's snapshot kept: it inherited the cancelled token,
/// and every GLI call it made failed with "the query was cancelled" (an
/// audit). The tokens stay entered (a `__del__` that leaves one, a
/// generator's `with` block, leaves it for good; moving them aside and back
/// brought it back, a review found).
pub(crate) fn without_tokens<R>(f: impl FnOnce() -> R) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = TOKENS_SET_ASIDE.try_with(|d| d.set(d.get() - 1));
        }
    }
    TOKENS_SET_ASIDE.with(|d| d.set(d.get() + 1));
    let _restore = Restore;
    f()
}

/// Whether any of `flags` is set.
pub(crate) fn any_cancelled(flags: &[Arc<AtomicBool>]) -> bool {
    flags.iter().any(|f| f.load(Ordering::Acquire))
}

/// `gli._core.CancelToken`: `with token: g.pagerank()` makes every long query
/// on this thread poll `token`; `token.cancel()` (from any thread) stops it
/// at its next poll with `KeyboardInterrupt("the query was cancelled")`.
#[pyclass(name = "CancelToken", module = "gli._core", frozen)]
pub(crate) struct CancelToken {
    flag: Arc<AtomicBool>,
    /// The lists this token was entered on and not yet exited from, in
    /// order (a leaf, never held with another lock).
    entered_on: LeafMutex<Vec<Arc<Entered>>>,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
            entered_on: LeafMutex::new(Vec::new()),
        }
    }

    /// Asks the query running under this token to stop (idempotent, any thread).
    fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        let list = ENTERED.with(|e| {
            e.change(|l| l.push(slf.flag.clone()));
            e.clone()
        });
        slf.entered_on.lock().push(list);
        slf
    }

    /// Leaves the list of the thread it was entered on: this thread's if it
    /// entered here and has not left, else the latest (an exit on another
    /// thread, as a generator's `with` block finished there; it used to stay
    /// entered for good on the first thread, cancelling its later queries).
    #[pyo3(signature = (_exc_type, _exc, _tb, /))]
    fn __exit__(
        &self,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        let list = {
            let mut on = self.entered_on.lock();
            let here = ENTERED.with(|e| on.iter().rposition(|l| Arc::ptr_eq(l, e)));
            here.or_else(|| on.len().checked_sub(1))
                .map(|at| on.remove(at))
        };
        if let Some(list) = list {
            list.change(|entered| {
                // Normally the innermost; a token exited out of order leaves the others.
                if let Some(at) = entered.iter().rposition(|f| Arc::ptr_eq(f, &self.flag)) {
                    entered.remove(at);
                }
            });
        }
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.cancelled() { "True" } else { "False" };
        format!("<gli.CancelToken cancelled={state}>")
    }
}

// ------------------------------------------------------ interpreter exit
//
// CPython 3.11-3.13 end a daemon thread that takes the GIL after
// finalization has begun with `pthread_exit`, a forced unwind (cpython#87135;
// 3.14 parks such threads instead). Passing through GLI's Rust frames it
// reaches PyO3's `catch_unwind` and glibc aborts the process ("FATAL:
// exception not rethrown"). It happened whenever a daemon thread was inside a
// GLI call at exit: re-attaching after detached work, or inside a predicate
// or a batch's input generator (the unwind then starts in Python code, where
// GLI cannot intercept it).
//
// So `gli` registers `_at_exit` with `atexit`: it runs before finalization,
// sets `EXITING`, and waits (detached, at most `EXIT_WAIT`) for the threads
// running Python code from a GLI loop to reach their next checkpoint, and
// for those already on their way back into the interpreter (see
// `Reattaching`) to get there. From then on a thread other than the exiting
// one parks for good instead of re-attaching or calling Python again; the
// process exits around it.

static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that runs `_at_exit` (the main thread): it never parks.
static EXIT_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();
/// How many threads are inside a loop that calls Python code (a
/// `CallingPython` held), each counted once however deeply nested.
static CALLING_PYTHON: AtomicUsize = AtomicUsize::new(0);
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

thread_local! {
    /// This thread's nesting depth of `CallingPython` guards.
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Each thread's mark that it is re-attaching: set (before it checks
/// [`exiting`]) when it has decided to take the GIL back after GLI's
/// detached work, cleared once attached. A thread that passed the check just
/// before the exit hook set `EXITING`, and then waited for the GIL the hook's
/// thread held, used to take it only after finalization had begun, and was
/// ended there by `pthread_exit` through GLI's frames: the abort above (an
/// audit: 4 in 30 runs of daemon threads in `get_nodes_batch` of a
/// generator). The hook waits, detached, for every mark to clear: such a
/// thread then re-attaches before finalization, and parks at its next
/// re-attach or checkpoint. One flag per thread, so that the hot path writes
/// a line of its own, not a counter every thread shares.
struct Reattaching;

type Marks = LeafMutex<Vec<Arc<AtomicBool>>>;

/// The registry of [`Reattaching`] marks: [`FIRST_MARKS`], until a forked
/// child replaces it.
static MARKS: AtomicPtr<Marks> = AtomicPtr::new(&FIRST_MARKS as *const Marks as *mut Marks);
static FIRST_MARKS: Marks = LeafMutex::new(Vec::new());

/// `_after_fork` in a child, before any other thread starts: what the
/// parent's other threads left counted (re-attaching, or running Python code
/// from a GLI loop) is theirs, and the child does not have them.
pub(crate) fn forget_other_threads_in_child() {
    Reattaching::reset_in_child();
    let mine = DEPTH.with(|d| usize::from(d.get() > 0));
    CALLING_PYTHON.store(mine, Ordering::SeqCst);
}

impl Reattaching {
    thread_local! {
        static MINE: Arc<AtomicBool> = Reattaching::register();
    }

    /// Every thread's mark (those of ended threads pruned as others
    /// register), behind a pointer that a forked child replaces.
    fn all() -> &'static Marks {
        // SAFETY: `FIRST_MARKS` or a leaked `Box`, never freed.
        unsafe { &*MARKS.load(Ordering::Acquire) }
    }

    /// In a forked child, before any other thread starts: the marks of the
    /// parent's other threads (set while they waited for the GIL the
    /// forking thread held) belong to threads the child does not have, and
    /// kept every exit of the child waiting its full `EXIT_WAIT` (a review).
    /// A new registry holds this thread's mark alone, cleared; the old one
    /// is leaked (a parent thread may have held its lock).
    fn reset_in_child() {
        let mine = Self::MINE
            .try_with(|m| {
                m.store(false, Ordering::SeqCst);
                m.clone()
            })
            .ok();
        let fresh = Box::into_raw(Box::new(Marks::new(mine.into_iter().collect())));
        MARKS.store(fresh, Ordering::Release);
    }

    fn register() -> Arc<AtomicBool> {
        let mine = Arc::new(AtomicBool::new(false));
        let mut all = Self::all().lock();
        all.retain(|m| Arc::strong_count(m) > 1); // the registry's alone: an ended thread's
        all.push(mine.clone());
        mine
    }

    /// Marks this thread as re-attaching; false (mark cleared) when it must
    /// park instead. The mark is stored before `EXITING` is read, and the
    /// hook stores `EXITING` before reading the marks (both sequentially
    /// consistent): either this thread sees the exit, or the hook sees the
    /// mark and waits for it.
    fn begin() -> bool {
        let marked = Self::MINE.try_with(|m| {
            m.store(true, Ordering::SeqCst);
            if exiting() {
                m.store(false, Ordering::SeqCst);
                false
            } else {
                true
            }
        });
        // A thread whose thread-locals are being destroyed: unmarked.
        marked.unwrap_or_else(|_| !exiting())
    }

    /// Attached again: clears this thread's mark.
    fn end() {
        let _ = Self::MINE.try_with(|m| m.store(false, Ordering::Release));
    }

    /// Whether any thread is on its way back into the interpreter.
    fn any() -> bool {
        Self::all().lock().iter().any(|m| m.load(Ordering::SeqCst))
    }
}

/// `atexit` hook (registered by `gli/__init__.py`); see the comment above.
#[pyfunction]
pub(crate) fn _at_exit(py: Python<'_>) {
    let _ = EXIT_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let start = std::time::Instant::now();
        while (CALLING_PYTHON.load(Ordering::SeqCst) > 0 || Reattaching::any())
            && start.elapsed() < EXIT_WAIT
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

/// Whether GLI's exit hook has run: the interpreter is finalizing, and
/// threads other than the exiting one park before they next attach.
#[inline]
pub(crate) fn exit_started() -> bool {
    EXITING.load(Ordering::Relaxed)
}

/// Whether this thread must stop before it next attaches or calls Python.
#[inline]
fn exiting() -> bool {
    // Sequentially consistent: read after a `CallingPython` count or a
    // `Reattaching` mark is stored, against the hook's store of `EXITING`
    // before it reads them (a plain load on x86).
    EXITING.load(Ordering::SeqCst) && EXIT_THREAD.get() != Some(&std::thread::current().id())
}

/// Parks this thread until the process ends (called detached).
fn park_for_good() -> ! {
    if DEPTH.with(|d| d.get()) > 0 {
        CALLING_PYTHON.fetch_sub(1, Ordering::SeqCst);
    }
    loop {
        std::thread::park();
    }
}

/// Marks a loop that calls Python code for `_at_exit` to wait on; the loop
/// calls [`checkpoint`] before each call.
pub(crate) struct CallingPython(());

impl CallingPython {
    pub(crate) fn enter() -> Self {
        if DEPTH.with(|d| d.replace(d.get() + 1)) == 0 {
            CALLING_PYTHON.fetch_add(1, Ordering::SeqCst);
        }
        Self(())
    }
}

impl Drop for CallingPython {
    fn drop(&mut self) {
        if DEPTH.with(|d| d.replace(d.get() - 1)) == 1 {
            CALLING_PYTHON.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Attached, before a call into Python code: at interpreter exit, parks
/// (detached) instead.
#[inline]
pub(crate) fn checkpoint(py: Python<'_>) {
    if exiting() {
        py.detach(|| park_for_good());
    }
}

/// `py.detach(f)`, except that at interpreter exit a thread other than the
/// exiting one parks instead of re-attaching. With the GIL enabled, the
/// thread then waits for the GIL by [`await_gil_handoff`] before it
/// re-attaches.
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    // On one core the thread holding the GIL cannot run while another spins.
    detach_with(py, !gil_disabled(py) && crate::sync::cores() > 1, f)
}

/// [`detach`]; `handoff`: whether to set and claim the GIL hand-off hint
/// (false for a detach that only lets waiting threads have the GIL).
pub(crate) fn detach_with<T, F>(py: Python<'_>, handoff: bool, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    // With the GIL, a fork waits for every detached stretch to leave the
    // gate (see `fork.rs`); with it disabled the gate is not used.
    let gated = !gil_disabled(py);
    let out = py.detach(|| {
        let gate = gated.then(|| super::fork::FORK_GATE.enter());
        if handoff {
            GIL_LET_GO.store(true, Ordering::Release);
        }
        let out = f();
        drop(gate); // before parking or waiting for the GIL
        if exiting() {
            park_for_good();
        }
        if handoff {
            await_gil_handoff();
        }
        // Last, after the spin: at exit, the interpreter may have begun
        // finalizing meanwhile.
        if !Reattaching::begin() {
            park_for_good();
        }
        out
    });
    Reattaching::end();
    if handoff {
        // Attached: whoever set the hint since has let go of a GIL this
        // thread now holds.
        GIL_LET_GO.store(false, Ordering::Relaxed);
    }
    out
}

/// GIL builds: set by a GLI call right after it let the GIL go, cleared by
/// the GLI call that takes it next. Only a hint (a thread that never enters
/// GLI can take the GIL in between); the GIL itself is taken by CPython's
/// `PyEval_RestoreThread` as ever.
///
/// Why: a thread that asks CPython for a GIL another thread holds sleeps on
/// a condition variable and is woken, by a futex call and a context switch,
/// when the holder lets go, several microseconds each way on this kind of
/// machine. Two threads running short queries (a `k_hop` is ~1.5 µs, its
/// attached part a third of that) used to hand the GIL over that way query
/// by query, and ran slower together than one thread alone.
static GIL_LET_GO: AtomicBool = AtomicBool::new(false);

/// Longest spin for the GIL hand-off hint before asking CPython for the GIL
/// as usual (sleeping until it is free): about the attached part of a few
/// short queries, so a thread that finds a pure-Python thread holding the
/// GIL wastes at most this much of its core.
const HANDOFF_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// Detached, with the GIL enabled, before re-attaching: claims the hint that
/// a GLI call has let the GIL go (then `PyEval_RestoreThread` finds it free
/// and takes it without sleeping), spinning up to [`HANDOFF_SPIN`] for it.
fn await_gil_handoff() {
    let claim = || GIL_LET_GO.swap(false, Ordering::Acquire);
    if GIL_LET_GO.load(Ordering::Relaxed) && claim() {
        return;
    }
    let start = std::time::Instant::now();
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
            if GIL_LET_GO.load(Ordering::Relaxed) && claim() {
                return;
            }
        }
        if start.elapsed() >= HANDOFF_SPIN {
            return;
        }
    }
}

/// `Python::attach(f)`, except that at interpreter exit a thread other than
/// the exiting one parks instead of attaching. A thread already attached
/// (tracing logs from method bodies) runs `f` as it is: parking there would
/// keep the GIL for good, and the exit waits on it forever.
pub(crate) fn attach<T>(f: impl for<'py> FnOnce(Python<'py>) -> T) -> T {
    // SAFETY: no preconditions; true when this thread's state is attached.
    if unsafe { pyo3::ffi::PyGILState_Check() } != 0 {
        return Python::attach(f);
    }
    if !Reattaching::begin() {
        park_for_good();
    }
    Python::attach(|py| {
        Reattaching::end();
        f(py)
    })
}

/// Runs `call`, which runs arbitrary Python code (a `__del__`, a logging
/// handler, a subclass's `__init__`), as a loop that calls Python does: the
/// exit hook waits for it, and at exit the thread parks before it starts.
#[inline]
pub(crate) fn calling_python<'py, T>(py: Python<'py>, call: impl FnOnce() -> T) -> T {
    let _calling = CallingPython::enter();
    checkpoint(py);
    call()
}

/// Lets other threads have the GIL during a long attached loop, such as
/// building a result of millions of Python objects: once `SLICE` has passed
/// since the loop's first `STEPS` steps (or since it last let go),
/// [`GilYield::ticks`] detaches for an instant. CPython's own eval loop
/// hands the GIL over on request every
/// switch interval (5 ms by default); Rust code never sees the request, and
/// without this an event loop or a Python thread beside a large query
/// stalled for the whole conversion (an audit: 87-156 ms for a 1M-node
/// `pagerank_async`). On free-threaded builds the detach is where a
/// stop-the-world pause (a collection) can proceed.
pub(crate) struct GilYield {
    steps: usize,
    /// When the current slice began: read at the first `STEPS` steps, so
    /// that a short loop (a `k_hop`'s list) never reads the clock.
    since: Option<std::time::Instant>,
}

impl GilYield {
    /// CPython's default switch interval.
    const SLICE: std::time::Duration = std::time::Duration::from_millis(5);
    /// Steps between clock reads.
    pub(crate) const STEPS: usize = 1 << 12;

    pub(crate) fn new() -> Self {
        Self {
            steps: 0,
            since: None,
        }
    }

    /// One step of the loop (an object made, an item inserted).
    #[inline]
    pub(crate) fn tick(&mut self, py: Python<'_>) -> PyResult<()> {
        self.ticks(py, 1)
    }

    /// `n` steps at once: a loop over chunks of up to [`GilYield::STEPS`]
    /// items keeps its inner loop free of the count.
    ///
    /// Each time it lets the GIL go it also polls for Ctrl-C and for the
    /// thread's cancelled tokens, so that converting a huge result stays
    /// interruptible (an audit: a 3M-node `pagerank` took 1.5-2 s to
    /// answer Ctrl-C, nearly all of it building its dict attached).
    #[inline]
    pub(crate) fn ticks(&mut self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.steps += n;
        if self.steps < Self::STEPS {
            return Ok(());
        }
        self.steps = 0;
        match self.since {
            Some(t) if t.elapsed() < Self::SLICE => Ok(()),
            Some(_) => {
                // No hand-off hint: this detach is for the threads that
                // wait for the GIL, not for this one to claim it back.
                detach_with(py, false, || ());
                self.since = Some(std::time::Instant::now());
                Self::interrupted(py)
            }
            None => {
                self.since = Some(std::time::Instant::now());
                Ok(())
            }
        }
    }

    /// `Err` if Ctrl-C arrived (on the main thread) or a token entered on
    /// this thread was cancelled.
    #[cold]
    fn interrupted(py: Python<'_>) -> PyResult<()> {
        py.check_signals()?;
        if any_cancelled(&entered_cancel_flags()) {
            return Err(PyKeyboardInterrupt::new_err("the query was cancelled"));
        }
        Ok(())
    }
}

/// The items of a user's iterable (a batch's input), read with a
/// [`checkpoint`] before each (a generator runs Python code) and a Ctrl-C
/// poll every `SIGNALS_EVERY`.
pub(crate) fn iterate<'py>(
    obj: &Bound<'py, PyAny>,
) -> PyResult<impl Iterator<Item = PyResult<Bound<'py, PyAny>>> + use<'py>> {
    /// Items between Ctrl-C polls: a list of millions converts without
    /// running any Python code that would notice a signal.
    const SIGNALS_EVERY: usize = 1 << 13;
    let py = obj.py();
    let calling = CallingPython::enter();
    // Before any call into the iterable (`__iter__`, a generator's body):
    // at exit, park first. A thread that began a call after the exit hook
    // had stopped waiting used to run the generator's first step unchecked,
    // and a `time.sleep(0)` there let finalization begin under it (an audit).
    checkpoint(py);
    let mut items = obj.try_iter()?;
    let mut seen = 0usize;
    Ok(std::iter::from_fn(move || {
        let _ = &calling;
        checkpoint(py);
        let item = items.next()?;
        seen += 1;
        if seen % SIGNALS_EVERY == 0 {
            if let Err(e) = py.check_signals() {
                return Some(Err(e));
            }
        }
        Some(item)
    }))
}

/// Takes a snapshot of `graph` and runs `work` on it, detached (through
/// [`run_detached`]); returns the snapshot with the result, so that the
/// caller can read the nodes the result refers to.
pub(crate) fn on_snapshot<T: Send>(
    py: Python<'_>,
    graph: &Graph<PyPayload>,
    work: impl FnOnce(&GraphView<'_, PyPayload>, &Cancel<'_>) -> Result<T, GraphError> + Send,
) -> PyResult<(Snapshot<PyPayload>, T)> {
    run_detached(py, None, |cancel| {
        let snap = graph.snapshot();
        let out = work(&snap.view(), cancel)?;
        Ok((snap, out))
    })
}

/// Runs `work` detached. The calling thread re-attaches about every 25 ms to
/// run `check_signals` (a no-op off the main thread), so Ctrl-C interrupts
/// within ~0.2 s; `cancel_flag`, and the `CancelToken`s entered on this
/// thread, let other parties cancel too.
pub(crate) fn run_detached<T: Send>(
    py: Python<'_>,
    cancel_flag: Option<&AtomicBool>,
    work: impl FnOnce(&Cancel<'_>) -> Result<T, GraphError> + Send,
) -> PyResult<T> {
    let own = AtomicBool::new(false);
    let tokens = entered_cancel_flags();
    // One entered token (the common case) is the flag itself: every worker
    // sees its cancellation at once. With several, or beside an explicit
    // flag, the others are read with it at every check.
    let (flag, others): (&AtomicBool, &[Arc<AtomicBool>]) = match (cancel_flag, &tokens[..]) {
        (Some(f), all) => (f, all),
        (None, [one]) => (one, &[]),
        (None, all) => (&own, all),
    };
    let pending: LeafMutex<Option<PyErr>> = LeafMutex::new(None);
    // A token cancelled before the query starts stops it before any work.
    if any_cancelled(others) {
        return Err(PyKeyboardInterrupt::new_err("the query was cancelled"));
    }
    let poll_signals = || -> bool {
        attach(|py| {
            bump(Counter::GilReacquisitions);
            match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    // Any earlier error is dropped after the lock (see `run_batches`).
                    let earlier = pending.lock().replace(e);
                    drop(earlier);
                    true
                }
            }
        })
    };
    let outcome = detach(py, || {
        // The other tokens are read at every check, by every thread.
        let cancel = Cancel::watching(flag, others, Some(&poll_signals));
        catch_unwind(AssertUnwindSafe(|| work(&cancel)))
    });
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(GraphError::Interrupted)) => Err(pending
            .lock()
            .take()
            .unwrap_or_else(|| PyKeyboardInterrupt::new_err("the query was cancelled"))),
        Ok(Err(err)) => Err(err.into()),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// A caught panic as the exception the user sees (never an abort).
#[cold]
pub(crate) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!("internal error in gli (please report): {msg}"))
}
