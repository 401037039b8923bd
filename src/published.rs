//! The immutable state of one published version.

use std::sync::Arc;
use std::time::SystemTime;

use crate::backend::{Backend, Lookup};
use crate::derived::Derived;
use crate::grace::Reclaim;
use crate::index::IndexSlots;
use crate::Version;

/// Bounds every key type meets: hashable (for diffs and the read index),
/// cloneable (persistent maps copy on write) and shareable across threads.
/// Implemented for every type that qualifies.
pub trait SnapKey: std::hash::Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: std::hash::Hash + Eq + Clone + Send + Sync + 'static> SnapKey for T {}

/// Bounds every value type meets: cloneable and shareable across threads.
/// Values are cloned when a persistent-map node is copied on write and when
/// a read index is built, so cheap clones (`Arc<T>`) pay off.
pub trait SnapValue: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> SnapValue for T {}

/// What a version is, apart from its derived index: the persistent map and
/// its metadata. Cloning is O(1) (the history ring keeps these).
pub(crate) struct Content<K, V, S: Backend<K, V>> {
    pub(crate) map: S::Map,
    pub(crate) version: Version,
    pub(crate) committed_at: SystemTime,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) log: ChangeLog<K>,
}

impl<K, V, S: Backend<K, V>> Clone for Content<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            version: self.version,
            committed_at: self.committed_at,
            label: self.label.clone(),
            log: self.log.clone(),
        }
    }
}

/// A published version: what the current pointer, snapshots and readers
/// hold. Dropping the last handle tells grace-period waiters.
pub(crate) struct Published<K, V, S: Backend<K, V>> {
    pub(crate) content: Content<K, V, S>,
    /// Derived read index: set before publishing (derived from the previous
    /// version's, or built eagerly) or later by the background builder.
    /// Readers check it with an acquire load or two; it answers exactly
    /// what `content.map` answers.
    pub(crate) index: IndexSlots<K, V, S>,
    /// Other data derived from this version, computed on first use.
    pub(crate) derived: Derived,
    /// Which map this version belongs to: change logs only describe
    /// versions of the same map.
    pub(crate) map_id: u64,
    reclaim: Arc<Reclaim>,
}

impl<K, V, S: Backend<K, V>> Published<K, V, S> {
    pub(crate) fn new(content: Content<K, V, S>, map_id: u64, reclaim: Arc<Reclaim>) -> Self {
        Self {
            content,
            index: IndexSlots::default(),
            derived: Derived::default(),
            map_id,
            reclaim,
        }
    }

    #[inline]
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        match self.index.get(key) {
            Some(indexed) => indexed,
            None => S::map_get(&self.content.map, key),
        }
    }

    #[inline]
    pub(crate) fn version(&self) -> Version {
        self.content.version
    }

    pub(crate) fn len(&self) -> usize {
        S::len(&self.content.map)
    }
}

impl<K, V, S: Backend<K, V>> Drop for Published<K, V, S> {
    fn drop(&mut self) {
        // Free the contents first and only then tell `synchronize` waiters,
        // so a grace period that ends has really released the old values.
        // The notice is sent from a guard so it also goes out if a value's
        // `Drop` panics.
        struct Notice<'a>(&'a Reclaim);
        impl Drop for Notice<'_> {
            fn drop(&mut self) {
                self.0.released();
            }
        }
        let _notice = Notice(&self.reclaim);
        let empty = S::empty_like(&self.content.map);
        drop(std::mem::replace(&mut self.content.map, empty));
        self.index.clear();
        drop(std::mem::take(&mut self.derived));
    }
}

/// The keys each recent commit changed, carried by every version so that a
/// diff between two versions of the same map inside the window costs
/// O(changed keys) instead of a full comparison, and so that read indexes
/// are derived from the previous version's in O(changed keys).
/// Structurally shared between versions (O(log n) push and trim).
pub(crate) struct ChangeLog<K> {
    commits: imbl::Vector<Arc<CommitKeys<K>>>,
    /// Keys recorded across `commits`, bounded so that large commits do not
    /// pin many keys: the log keeps fewer of them.
    keys: usize,
}

struct CommitKeys<K> {
    version: Version,
    /// `None` when the commit replaced everything or changed too many keys
    /// to be worth recording; diffs across it fall back to a full comparison.
    keys: Option<Box<[K]>>,
}

impl<K> CommitKeys<K> {
    fn len(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.len())
    }
}

/// How much a change log keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogBounds {
    pub(crate) commits: usize,
    pub(crate) keys: usize,
}

impl<K> Clone for ChangeLog<K> {
    fn clone(&self) -> Self {
        Self {
            commits: self.commits.clone(),
            keys: self.keys,
        }
    }
}

impl<K> ChangeLog<K> {
    pub(crate) fn new() -> Self {
        Self {
            commits: imbl::Vector::new(),
            keys: 0,
        }
    }

    /// The log of the version after this one, trimmed to `bounds` (the
    /// newest commit is always kept).
    pub(crate) fn push(&self, version: Version, keys: Option<Box<[K]>>, bounds: LogBounds) -> Self {
        let mut log = self.clone();
        let commit = Arc::new(CommitKeys { version, keys });
        log.keys += commit.len();
        log.commits.push_back(commit);
        while log.commits.len() > 1
            && (log.commits.len() > bounds.commits || log.keys > bounds.keys)
        {
            let oldest = log.commits.pop_front().expect("more than one commit");
            log.keys -= oldest.len();
        }
        log
    }

    /// Every key changed by the commits that produced versions
    /// `from + 1 ..= to` (with repeats), or `None` when the log does not
    /// cover all of them.
    pub(crate) fn keys_between(
        &self,
        from: Version,
        to: Version,
    ) -> Option<impl Iterator<Item = &K>> {
        let first = self.commits.front()?.version;
        let last = self.commits.back()?.version;
        if from.get() + 1 < first.get() || last != to || from >= to {
            return None;
        }
        let skip = usize::try_from(from.get() + 1 - first.get()).ok()?;
        let commits = self.commits.iter().skip(skip);
        if commits.clone().any(|c| c.keys.is_none()) {
            return None;
        }
        Some(commits.flat_map(|c| c.keys.as_deref().unwrap_or_default().iter()))
    }
}
