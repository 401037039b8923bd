//! Change notification: subscribers woken by commits, blocking or async.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::backend::{Backend, DefaultHashBuilder};
use crate::core::Shared;
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Snapshot;
use crate::sync::{AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
use crate::Version;

/// The writer's side: the newest published number, and who is waiting.
///
/// The writer updates `latest` and wakes everyone under the lock; a waiter
/// checks `latest` and parks (or registers its waker) under the same lock,
/// so no wakeup is lost between the check and the wait.
pub(crate) struct Notify {
    state: Mutex<NotifyState>,
    changed: Condvar,
    next_id: AtomicU64,
    pub(crate) subscribers: AtomicUsize,
}

struct NotifyState {
    latest: Version,
    closed: bool,
    wakers: HashMap<u64, Waker>,
}

impl Notify {
    pub(crate) fn new(initial: Version) -> Self {
        Self {
            state: Mutex::new(NotifyState {
                latest: initial,
                closed: false,
                wakers: HashMap::new(),
            }),
            changed: Condvar::new(),
            next_id: AtomicU64::new(0),
            subscribers: AtomicUsize::new(0),
        }
    }

    pub(crate) fn published(&self, version: Version) {
        self.wake(|state| state.latest = version);
    }

    pub(crate) fn close(&self) {
        self.wake(|state| state.closed = true);
    }

    fn wake(&self, update: impl FnOnce(&mut NotifyState)) {
        let wakers = {
            let mut state = self.state.lock();
            update(&mut state);
            self.changed.notify_all();
            std::mem::take(&mut state.wakers)
        };
        // Wakers run executor code: call them outside the lock.
        for waker in wakers.into_values() {
            waker.wake();
        }
    }
}

/// A handle that is told about new versions: `map.subscribe()`.
///
/// A subscriber remembers the last version it saw (initially the version
/// current when it subscribed). Waiting returns the *latest* snapshot once
/// it is newer than that: a slow subscriber coalesces a burst of commits
/// into one wakeup and never holds the writer back. Dropping it frees its
/// slot.
///
/// `wait_timeout` blocks the thread; `changed().await` works on any executor
/// (the crate depends on no async runtime).
pub struct Subscriber<K, V, S: Backend<K, V> = DefaultHashBuilder> {
    shared: Arc<Shared<K, V, S>>,
    seen: Version,
    id: u64,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Subscriber<K, V, S> {
    pub(crate) fn new(shared: Arc<Shared<K, V, S>>) -> Self {
        let seen = shared.current_version();
        let id = shared.notify.next_id.fetch_add(1, Ordering::Relaxed);
        shared.notify.subscribers.fetch_add(1, Ordering::Relaxed);
        Self { shared, seen, id }
    }

    /// The version this subscriber saw last.
    pub fn seen(&self) -> Version {
        self.seen
    }

    /// Whether a version newer than [`seen`](Self::seen) has been published.
    pub fn has_changed(&self) -> bool {
        self.shared.current_version() > self.seen
    }

    /// The current snapshot, marked as seen.
    pub fn latest(&mut self) -> Snapshot<K, V, S> {
        let snapshot = self.shared.load();
        self.seen = self.seen.max(snapshot.version());
        snapshot
    }

    /// Blocks until a version newer than the last one seen is published,
    /// then returns the latest snapshot (marked seen). Returns `None` after
    /// `timeout`, or once every `SnapMap` handle is gone and nothing newer
    /// can come.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Snapshot<K, V, S>> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Blocks until a newer version is published; `None` once every
    /// `SnapMap` handle is gone and nothing newer can come. Prefer
    /// [`wait_timeout`](Self::wait_timeout) where a stuck writer should not
    /// stall the caller forever.
    pub fn wait(&mut self) -> Option<Snapshot<K, V, S>> {
        self.wait_until(None)
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Snapshot<K, V, S>> {
        if !self.has_changed() {
            let mut state = self.shared.notify.state.lock();
            while state.latest <= self.seen {
                if state.closed || !self.shared.notify.changed.wait_until(&mut state, deadline) {
                    break;
                }
            }
            if state.latest <= self.seen {
                return None;
            }
        }
        Some(self.latest())
    }

    /// Resolves with the latest snapshot once a version newer than the last
    /// one seen is published, or `None` once every `SnapMap` handle is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future unregisters its waker and marks
    /// nothing as seen, so a later call still reports the change.
    pub fn changed(&mut self) -> Changed<'_, K, V, S> {
        Changed {
            subscriber: self,
            registered: false,
        }
    }

    fn state(&self) -> MutexGuard<'_, NotifyState> {
        self.shared.notify.state.lock()
    }
}

impl<K, V, S: Backend<K, V>> Drop for Subscriber<K, V, S> {
    fn drop(&mut self) {
        self.shared
            .notify
            .subscribers
            .fetch_sub(1, Ordering::Relaxed);
        self.shared.notify.state.lock().wakers.remove(&self.id);
    }
}

impl<K, V, S: Backend<K, V>> fmt::Debug for Subscriber<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`Subscriber::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, K: SnapKey, V: SnapValue, S: Backend<K, V> = DefaultHashBuilder> {
    subscriber: &'a mut Subscriber<K, V, S>,
    registered: bool,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Future for Changed<'_, K, V, S> {
    type Output = Option<Snapshot<K, V, S>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.subscriber.state();
        if state.latest > this.subscriber.seen {
            state.wakers.remove(&this.subscriber.id);
            this.registered = false;
            drop(state);
            return Poll::Ready(Some(this.subscriber.latest()));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        let id = this.subscriber.id;
        match state.wakers.get_mut(&id) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                state.wakers.insert(id, cx.waker().clone());
            }
        }
        this.registered = true;
        Poll::Pending
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Drop for Changed<'_, K, V, S> {
    fn drop(&mut self) {
        if self.registered {
            self.subscriber.state().wakers.remove(&self.subscriber.id);
        }
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> fmt::Debug for Changed<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("seen", &self.subscriber.seen)
            .finish_non_exhaustive()
    }
}
