//! Cooperative cancellation for long engine work.
//!
//! Every long loop calls [`Cancel::check`] now and then. It reads one atomic
//! flag (set by Ctrl-C handling, by an async task's cancellation, or by a
//! failing worker) and, on the thread that started the work, polls an
//! external hook at most every `POLL` (the binding's hook attaches to Python
//! and runs `check_signals`). Rayon workers only ever read the flag.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::{GraphError, Result};
use crate::sync::{Arc, AtomicBool, AtomicU64, LazyLock, Ordering};

/// How often the owner thread polls the hook: well under the 0.2 s budget for
/// Ctrl-C, and rare enough to cost nothing measurable.
pub const POLL: Duration = Duration::from_millis(25);

/// The clock [`Cancel`]s' poll times count from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Loops call [`Cancel::check`] every this many steps.
pub const CHECK_EVERY: usize = 4096;

/// Slots from which [`Cancel::watch`] runs a parallel build (of columns,
/// CSRs, id columns) watched, a thread started per build: a smaller one
/// takes well under Ctrl-C's 0.2 s budget.
const WATCH_MIN: usize = 1 << 19;

pub struct Cancel<'a> {
    flag: &'a AtomicBool,
    /// More flags read with `flag` at every check (the binding's nested
    /// cancellation tokens): usually none.
    others: &'a [Arc<AtomicBool>],
    hook: Option<&'a (dyn Fn() -> bool + Sync)>,
    owner: ThreadId,
    /// When the owner last polled the hook, in ns since [`EPOCH`]; 0 until
    /// the first check, which starts the clock (a token that is never
    /// checked, as a short query's, never reads it).
    last_poll_ns: AtomicU64,
    /// [`Cancel::giving_up`]'s token: `OverBudget` at the first check.
    gives_up: bool,
}

impl<'a> Cancel<'a> {
    /// A token watching `flag`; `hook` (if any) is polled on this thread and
    /// returns true to cancel.
    pub fn new(flag: &'a AtomicBool, hook: Option<&'a (dyn Fn() -> bool + Sync)>) -> Self {
        Self::watching(flag, &[], hook)
    }

    /// [`Cancel::new`], also cancelled once any of `others` is set (checked
    /// with `flag`, by every thread, at every check).
    pub fn watching(
        flag: &'a AtomicBool,
        others: &'a [Arc<AtomicBool>],
        hook: Option<&'a (dyn Fn() -> bool + Sync)>,
    ) -> Self {
        Self {
            flag,
            others,
            hook,
            owner: std::thread::current().id(),
            last_poll_ns: AtomicU64::new(0),
            gives_up: false,
        }
    }

    /// A token for a first attempt at some work that is cheap when it stays
    /// small: cancelled with `self`, and `Err(OverBudget)` at its first
    /// check, so after about [`CHECK_EVERY`] steps of the loop it runs.
    pub fn giving_up(&self) -> Cancel<'a> {
        Cancel {
            flag: self.flag,
            others: self.others,
            hook: self.hook,
            owner: self.owner,
            last_poll_ns: AtomicU64::new(self.last_poll_ns.load(Ordering::Relaxed)),
            gives_up: true,
        }
    }

    /// Cancels the work (idempotent).
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire) || self.others_cancelled()
    }

    #[cold]
    fn others_cancelled(&self) -> bool {
        self.others.iter().any(|f| f.load(Ordering::Acquire))
    }

    /// `Err(Interrupted)` once the work is cancelled. Cheap: call it every
    /// few thousand steps of a loop.
    #[inline]
    pub fn check(&self) -> Result<()> {
        self.check_for(self.gives_up)
    }

    /// Adds `n` steps to `since` (the steps since the last check) and
    /// checks once [`CHECK_EVERY`] have passed: for loops over runs of
    /// items (a shard's chunks of slots), whose step is not one item.
    #[inline]
    pub fn check_every(&self, since: &mut usize, n: usize) -> Result<()> {
        *since += n;
        if *since < CHECK_EVERY {
            return Ok(());
        }
        *since = 0;
        self.check()
    }

    /// [`Cancel::check`] for work that is done whatever its budget (making a
    /// result's keys): only an interruption stops it, never
    /// [`Cancel::giving_up`]'s `OverBudget`.
    #[inline]
    pub fn interrupted(&self) -> Result<()> {
        self.check_for(false)
    }

    #[inline]
    fn check_for(&self, gives_up: bool) -> Result<()> {
        if self.flag.load(Ordering::Relaxed) {
            return Err(GraphError::Interrupted);
        }
        if !self.others.is_empty() && self.others_cancelled() {
            self.cancel(); // rayon workers then see it in `flag` at once
            return Err(GraphError::Interrupted);
        }
        if gives_up {
            return Err(GraphError::OverBudget);
        }
        if let Some(hook) = self.hook {
            let now = (EPOCH.elapsed().as_nanos() as u64).max(1);
            let last = self.last_poll_ns.load(Ordering::Relaxed);
            if last == 0 {
                self.last_poll_ns.store(now, Ordering::Relaxed);
            } else if now.saturating_sub(last) >= POLL.as_nanos() as u64
                && std::thread::current().id() == self.owner
            {
                self.last_poll_ns.store(now, Ordering::Relaxed);
                if hook() {
                    self.cancel();
                    return Err(GraphError::Interrupted);
                }
            }
        }
        Ok(())
    }

    /// Runs `work`, which hands its loops to rayon, so that the owner keeps
    /// polling the hook meanwhile: on a helper thread, with the owner
    /// calling [`Cancel::check`] every [`POLL`] until it is done (a hook
    /// that says stop sets the flag, which the workers' checks read). From
    /// outside rayon's pool the owner would otherwise block in rayon for
    /// the whole of `work`, and a Ctrl-C during a long parallel build went
    /// unseen until it ended (an audit: 0.4-0.8 s for a 3M-node graph's
    /// first `where` filter). For work over fewer than [`WATCH_MIN`]
    /// `slots`, without a hook, or off the owner thread, runs `work` here.
    pub fn watch<T: Send>(&self, slots: usize, work: impl FnOnce() -> T + Send) -> T {
        if slots < WATCH_MIN || self.hook.is_none() || std::thread::current().id() != self.owner {
            return work();
        }
        crate::sync::run_watched(
            work,
            || {
                // An error here is the flag now set: `work` sees it. Only an
                // interruption: a budget's `OverBudget` is the work's to see.
                let _ = self.interrupted();
            },
            POLL,
        )
    }
}

/// A token that never cancels (tests, internal callers).
pub fn never<R>(f: impl FnOnce(&Cancel<'_>) -> R) -> R {
    let flag = AtomicBool::new(false);
    f(&Cancel::new(&flag, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize;

    #[test]
    fn watched_work_is_cancelled_by_the_owners_poll() {
        // The work never polls (it runs off the owner thread): only the
        // owner, watching, can see the hook say stop, and set the flag the
        // work waits for. Unwatched, this would spin for the full minute.
        let flag = AtomicBool::new(false);
        let polls = AtomicUsize::new(0);
        let hook = || polls.fetch_add(1, Ordering::Relaxed) >= 1;
        let c = Cancel::new(&flag, Some(&hook));
        let start = Instant::now();
        let stopped = c.watch(WATCH_MIN, || {
            while start.elapsed() < Duration::from_secs(60) {
                if c.is_cancelled() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            false
        });
        assert!(stopped && c.is_cancelled());
        assert!(polls.load(Ordering::Relaxed) >= 2);
        // A panic in the work reaches the owner.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.watch(WATCH_MIN, || -> () { panic!("in the watched work") })
        }));
        assert!(caught.is_err());
    }

    #[test]
    fn only_the_owner_polls_and_not_before_a_poll_interval_since_its_first_check() {
        let flag = AtomicBool::new(false);
        let calls = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let hook = || {
            calls.fetch_add(1, Ordering::Relaxed);
            stop.load(Ordering::Relaxed)
        };
        let c = Cancel::new(&flag, Some(&hook));
        // The first check starts the clock: no poll, however long ago the
        // token was made.
        std::thread::sleep(POLL * 2);
        assert!(c.check().is_ok());
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        // Another thread (a rayon worker) never polls.
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(POLL * 2);
                assert!(c.check().is_ok());
            });
        });
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        // The owner polls once a poll interval has passed; a hook that says
        // stop cancels, for every thread.
        stop.store(true, Ordering::Relaxed);
        assert!(matches!(c.check(), Err(GraphError::Interrupted)));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(c.is_cancelled());
    }
}
