//! Concurrency shim: every synchronization primitive the crate owns comes
//! from here, so `RUSTFLAGS="--cfg loom"` swaps them all for loom's models.
//!
//! Under loom the arc-swap cell becomes a mutex around an `Arc` (a
//! linearizable stand-in: arc-swap's own algorithm is its authors' to prove),
//! so the models explore *our* protocol: writer lock, version counter,
//! publish order, history, notification and grace periods.

use std::sync::Arc;
use std::time::Instant;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A mutex with parking_lot's shape: no poisoning, `lock` returns the guard.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

/// Guard of [`Mutex`]. Not `Send`: a guard stays on the thread that locked.
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

#[cfg(loom)]
pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            inner: value.into(),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock()
    }

    #[cfg(not(loom))]
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    #[cfg(loom)]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // loom mutexes poison like std's; the crate never relies on poisoning.
        MutexGuard(Some(self.inner.lock().unwrap_or_else(|e| e.into_inner())))
    }

    #[cfg(loom)]
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock().ok().map(|g| MutexGuard(Some(g)))
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("guard present")
    }
}

#[cfg(loom)]
impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("guard present")
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar {
    #[cfg(not(loom))]
    inner: parking_lot::Condvar,
    #[cfg(loom)]
    inner: loom::sync::Condvar,
}

impl Condvar {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Waits for a notification or until `deadline` (forever if `None`).
    /// Returns `false` once the deadline has passed. Spurious wakeups happen:
    /// callers re-check their condition in a loop.
    #[cfg(not(loom))]
    pub(crate) fn wait_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
    ) -> bool {
        match deadline {
            None => {
                self.inner.wait(guard);
                true
            }
            Some(d) => !self.inner.wait_until(guard, d).timed_out(),
        }
    }

    /// Under loom there is no clock: every wait is untimed, so a lost wakeup
    /// shows up as a deadlock the model checker reports.
    #[cfg(loom)]
    pub(crate) fn wait_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        _deadline: Option<Instant>,
    ) -> bool {
        let g = guard.0.take().expect("guard present");
        guard.0 = Some(self.inner.wait(g).unwrap_or_else(|e| e.into_inner()));
        true
    }

    pub(crate) fn notify_all(&self) {
        self.inner.notify_all();
    }
}

/// The atomically replaceable pointer to the current version.
pub(crate) struct Current<T> {
    #[cfg(not(loom))]
    cell: arc_swap::ArcSwap<T>,
    #[cfg(loom)]
    cell: loom::sync::Mutex<Arc<T>>,
}

/// What [`Current::load`] hands out: a borrowed-or-owned handle on the
/// current version that does not touch the shared reference count on the
/// fast path (arc-swap's debt slots).
#[cfg(not(loom))]
pub(crate) type Held<T> = arc_swap::Guard<Arc<T>>;
#[cfg(loom)]
pub(crate) type Held<T> = Arc<T>;

#[cfg(not(loom))]
pub(crate) fn held_from_arc<T>(arc: Arc<T>) -> Held<T> {
    arc_swap::Guard::from_inner(arc)
}
#[cfg(loom)]
pub(crate) fn held_from_arc<T>(arc: Arc<T>) -> Held<T> {
    arc
}

pub(crate) fn held_to_arc<T>(held: &Held<T>) -> Arc<T> {
    Arc::clone(held)
}

impl<T> Current<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Self {
            #[cfg(not(loom))]
            cell: arc_swap::ArcSwap::new(value),
            #[cfg(loom)]
            cell: loom::sync::Mutex::new(value),
        }
    }

    /// Wait-free on the fast path; the result may be held indefinitely.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn load(&self) -> Held<T> {
        self.cell.load()
    }

    #[cfg(not(loom))]
    pub(crate) fn load_full(&self) -> Arc<T> {
        self.cell.load_full()
    }

    /// Publishes `new` and returns the previous value, so the caller decides
    /// where the old version is dropped (never under one of our locks).
    #[cfg(not(loom))]
    pub(crate) fn swap(&self, new: Arc<T>) -> Arc<T> {
        self.cell.swap(new)
    }

    #[cfg(loom)]
    pub(crate) fn load(&self) -> Held<T> {
        self.load_full()
    }

    #[cfg(loom)]
    pub(crate) fn load_full(&self) -> Arc<T> {
        Arc::clone(&self.cell.lock().unwrap_or_else(|e| e.into_inner()))
    }

    #[cfg(loom)]
    pub(crate) fn swap(&self, new: Arc<T>) -> Arc<T> {
        std::mem::replace(
            &mut *self.cell.lock().unwrap_or_else(|e| e.into_inner()),
            new,
        )
    }
}

/// Keeps a value on its own cache line(s), so fields that readers poll are
/// not invalidated by unrelated writes (128 bytes: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A small per-thread token, used to turn a re-entrant `write()` (which would
/// deadlock on the writer lock) into a clear panic.
pub(crate) fn thread_token() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    #[cfg(not(loom))]
    std::thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    #[cfg(loom)]
    loom::thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    TOKEN.with(|t| *t)
}
