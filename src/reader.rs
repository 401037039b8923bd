//! Cached readers for hot loops.

use std::fmt;
use std::sync::Arc;

use crate::backend::{Backend, DefaultHashBuilder};
use crate::core::Shared;
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Snapshot;

/// A per-thread cached view of a map, for hot loops: `map.reader()`.
///
/// [`load`](Self::load) returns the cached snapshot after checking, with one
/// relaxed atomic load and a compare, that no newer version was published;
/// only when one was does it fetch the new version. Versions returned by one
/// `Reader` never go down.
///
/// # `load` versus `Reader`
///
/// [`SnapMap::load`](crate::SnapMap::load) costs a few atomic operations
/// per call and returns an owned snapshot; use it for occasional reads and
/// for snapshots you keep. A `Reader` costs one relaxed load per call but
/// needs `&mut self`, so keep one per thread or task (it is `Send`).
///
/// A `Reader` holds its cached version alive until its next `load` after a
/// commit: an idle reader keeps one old version in memory (and counted in
/// `stats().live_versions`, and waited for by `synchronize`). Drop idle
/// readers, or call `load` now and then.
pub struct Reader<K, V, S: Backend<K, V> = DefaultHashBuilder> {
    shared: Arc<Shared<K, V, S>>,
    cached: Snapshot<K, V, S>,
    cached_version: u64,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Reader<K, V, S> {
    pub(crate) fn new(shared: Arc<Shared<K, V, S>>) -> Self {
        let cached = Snapshot::from_arc(shared.current().load_full());
        let cached_version = cached.version().get();
        Self {
            shared,
            cached,
            cached_version,
        }
    }

    /// The current snapshot, revalidated with one atomic load.
    #[inline(always)]
    pub fn load(&mut self) -> &Snapshot<K, V, S> {
        if self.shared.epoch() != self.cached_version {
            self.refresh();
        }
        &self.cached
    }

    // The epoch is bumped just before the pointer is swapped, so a refresh
    // may still fetch the previous version; `cached_version` then stays
    // behind the epoch and the next call refreshes again. Same-location
    // coherence keeps what we fetch at least as new as what we had.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        self.cached = Snapshot::from_arc(self.shared.current().load_full());
        self.cached_version = self.cached.version().get();
    }
}

impl<K, V, S: Backend<K, V>> Clone for Reader<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            cached: self.cached.clone(),
            cached_version: self.cached_version,
        }
    }
}

impl<K, V, S: Backend<K, V>> fmt::Debug for Reader<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("cached_version", &self.cached_version)
            .finish_non_exhaustive()
    }
}
