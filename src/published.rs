//! The immutable state of one published version.

use std::sync::Arc;
use std::time::SystemTime;

use crate::backend::{Backend, Lookup};
use crate::changelog::Lineage;
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
}

impl<K, V, S: Backend<K, V>> Clone for Content<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            version: self.version,
            committed_at: self.committed_at,
            label: self.label.clone(),
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
    /// What every version of this map shares.
    pub(crate) lineage: Arc<Lineage<K>>,
}

impl<K, V, S: Backend<K, V>> Published<K, V, S> {
    pub(crate) fn new(content: Content<K, V, S>, lineage: Arc<Lineage<K>>) -> Self {
        Self {
            content,
            index: IndexSlots::default(),
            derived: Derived::default(),
            lineage,
        }
    }

    /// Whether both are versions of the same map.
    pub(crate) fn same_map(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.lineage, &other.lineage)
    }

    /// Every exact lookup comes here. An indexed version answers inline
    /// (see `IndexSlots::get`); an unindexed one walks the persistent map,
    /// out of line.
    #[inline(always)]
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        match self.index.get(key) {
            Some(found) => found,
            None => self.get_from_map(key),
        }
    }

    #[inline(never)]
    fn get_from_map<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        S::map_get(&self.content.map, key)
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
        let _notice = Notice(&self.lineage.reclaim);
        let empty = S::empty_like(&self.content.map);
        drop(std::mem::replace(&mut self.content.map, empty));
        self.index.clear();
        drop(std::mem::take(&mut self.derived));
    }
}
