//! The registry of versions: the history ring (versions kept reachable for
//! `at` and `rollback_to`) and the retired versions that snapshots may still
//! hold (for `synchronize`, `live_versions` and the live-version cap).

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use crate::backend::Backend;
use crate::published::{Content, Published};
use crate::Version;

/// A version kept by the history ring: its content (an O(1) clone that
/// shares structure with the published map) and a weak handle to the
/// published object, so `at` hands out the same object (and its read index)
/// while it lives. Holding content, not the published object, keeps history
/// out of the live-version count: only snapshots and readers count.
struct Kept<K, V, S: Backend<K, V>> {
    content: Content<K, V, S>,
    published: Weak<Published<K, V, S>>,
}

type Retired<K, V, S> = (Version, Weak<Published<K, V, S>>);

pub(crate) struct Registry<K, V, S: Backend<K, V>> {
    /// Oldest first; the current version is always last.
    ring: VecDeque<Kept<K, V, S>>,
    capacity: usize,
    /// Every published object that is not current, while it may be alive.
    retired: Vec<Retired<K, V, S>>,
}

/// Versions the registry let go of. Dropped by the caller after every lock is
/// released: freeing a version runs values' `Drop`, which is user code.
pub(crate) struct Released<K, V, S: Backend<K, V>> {
    _previous: Arc<Published<K, V, S>>,
    _trimmed: Vec<Content<K, V, S>>,
}

impl<K, V, S: Backend<K, V>> Registry<K, V, S> {
    pub(crate) fn new(initial: &Arc<Published<K, V, S>>, capacity: usize) -> Self {
        let mut ring = VecDeque::with_capacity(capacity.min(64));
        ring.push_back(Kept {
            content: initial.content.clone(),
            published: Arc::downgrade(initial),
        });
        Self {
            ring,
            capacity: capacity.max(1),
            retired: Vec::new(),
        }
    }

    /// Records that `next` replaced `previous` as the current version.
    pub(crate) fn published(
        &mut self,
        previous: Arc<Published<K, V, S>>,
        next: &Arc<Published<K, V, S>>,
    ) -> Released<K, V, S> {
        self.retired.retain(|(_, w)| w.strong_count() > 0);
        self.retired
            .push((previous.version(), Arc::downgrade(&previous)));
        self.ring.push_back(Kept {
            content: next.content.clone(),
            published: Arc::downgrade(next),
        });
        let excess = self.ring.len().saturating_sub(self.capacity);
        let trimmed = self.ring.drain(..excess).map(|k| k.content).collect();
        Released {
            _previous: previous,
            _trimmed: trimmed,
        }
    }

    /// Kept versions, oldest first, current last.
    pub(crate) fn versions(&self) -> Vec<Version> {
        self.ring.iter().map(|k| k.content.version).collect()
    }

    pub(crate) fn oldest(&self) -> Version {
        self.ring
            .front()
            .expect("ring holds the current version")
            .content
            .version
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// The content of a kept version.
    pub(crate) fn content(&self, version: Version) -> Option<&Content<K, V, S>> {
        self.position(version).map(|at| &self.ring[at].content)
    }

    /// The published object of a kept version: the live one when a snapshot
    /// or the current pointer still holds it, else a fresh one (without a
    /// read index) that is tracked like any retired version.
    pub(crate) fn at(
        &mut self,
        version: Version,
        revive: impl FnOnce(Content<K, V, S>) -> Published<K, V, S>,
    ) -> Option<Arc<Published<K, V, S>>> {
        let at = self.position(version)?;
        let kept = &mut self.ring[at];
        if let Some(live) = kept.published.upgrade() {
            return Some(live);
        }
        let revived = Arc::new(revive(kept.content.clone()));
        kept.published = Arc::downgrade(&revived);
        self.retired.push((version, Arc::downgrade(&revived)));
        Some(revived)
    }

    fn position(&self, version: Version) -> Option<usize> {
        // Versions are numbered consecutively (failed commits take no
        // number), so the ring is indexed by distance from its oldest entry.
        let at = usize::try_from(version.get().checked_sub(self.oldest().get())?).ok()?;
        (at < self.ring.len()).then_some(at)
    }

    /// Published objects alive besides the current one.
    pub(crate) fn live_retired(&self) -> usize {
        self.retired
            .iter()
            .filter(|(_, w)| w.strong_count() > 0)
            .count()
    }

    /// Whether no published object older than `version` is alive.
    pub(crate) fn none_alive_before(&self, version: Version) -> bool {
        self.retired
            .iter()
            .all(|(v, w)| *v >= version || w.strong_count() == 0)
    }
}
