//! Grace periods: knowing when old versions are gone (RCU's `synchronize`),
//! and the live-version cap that waits on the same signal.

use std::time::Instant;

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// The "a version was freed" signal.
///
/// Freeing a version (the last snapshot of it dropped) must stay cheap for
/// reader threads, so it only takes the lock when someone is waiting. The
/// waiter count and the freed version's reference count form a Dekker pair:
/// the freeing thread decrements the count, then fences and reads
/// `waiters`; a waiter increments `waiters`, fences, then reads the count
/// under the lock. With both fences `SeqCst`, at least one side sees the
/// other's write, so a waiter either sees the version gone or is notified.
#[derive(Debug, Default)]
pub(crate) struct Reclaim {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Reclaim {
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// Called once a version's contents have been dropped.
    pub(crate) fn released(&self) {
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            let _guard = self.lock.lock();
            self.freed.notify_all();
        }
    }

    /// Waits until `done()` holds (re-checked after each freed version) or
    /// `deadline` passes. Returns whether `done()` held.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let result = loop {
            if done() {
                break true;
            }
            if !self.freed.wait_until(&mut guard, deadline) {
                break done();
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
