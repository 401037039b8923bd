//! Snapshots: immutable views of one published version.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::backend::{Backend, DefaultHashBuilder, Lookup};
use crate::diff::{diff, Change};
use crate::index::IndexStats;
use crate::published::{Published, SnapKey, SnapValue};
use crate::sync::{held_from_arc, held_to_arc, Held};
use crate::Version;

/// An immutable view of one version of a map.
///
/// A snapshot never changes: every read on it (lookups, `len`, iteration,
/// `diff`) sees the same version, whatever commits happen meanwhile.
/// It is `Clone + Send + Sync + 'static`: keep it across `.await` points,
/// send it to other threads, store it.
///
/// Holding a snapshot keeps its version's memory alive (see
/// [`SnapMap::synchronize`](crate::SnapMap::synchronize) and
/// `stats().live_versions`). Fresh snapshots from
/// [`SnapMap::load`](crate::SnapMap::load) do not touch the shared
/// reference count (they borrow one of a few per-thread slots of
/// `arc-swap`); clones do.
pub struct Snapshot<K, V, S: Backend<K, V> = DefaultHashBuilder> {
    held: Held<Published<K, V, S>>,
}

impl<K, V, S: Backend<K, V>> Snapshot<K, V, S> {
    pub(crate) fn from_held(held: Held<Published<K, V, S>>) -> Self {
        Self { held }
    }

    pub(crate) fn from_arc(published: Arc<Published<K, V, S>>) -> Self {
        Self {
            held: held_from_arc(published),
        }
    }

    #[inline]
    pub(crate) fn published(&self) -> &Published<K, V, S> {
        &self.held
    }

    /// The version number of this snapshot.
    #[inline]
    pub fn version(&self) -> Version {
        self.published().version()
    }

    /// When this version was published (wall clock of the committing
    /// thread; for a rollback, the time of the rollback).
    pub fn committed_at(&self) -> SystemTime {
        self.published().content.committed_at
    }

    /// The label the committing transaction attached with
    /// [`WriteTxn::label`](crate::WriteTxn::label), if any.
    pub fn label(&self) -> Option<&str> {
        self.published().content.label.as_deref()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        S::len(&self.published().content.map)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether both snapshots are of the same published version object
    /// (same map, same version).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.published(), other.published())
    }

    /// Data derived from this version's contents, computed by `init` on the
    /// first call for type `T` and cached in the version for every later
    /// call on any snapshot of it (e.g. the set of prefix lengths of an IP
    /// routing table). `init` may run more than once if threads race on the
    /// first call; one result is kept.
    #[cfg_attr(not(feature = "ip"), allow(dead_code))] // reason: only the `ip` routing tables use it today
    pub(crate) fn derived<T: std::any::Any + Send + Sync>(
        &self,
        init: impl FnOnce(&Self) -> T,
    ) -> &T {
        self.published().derived.get_or_init(|| init(self))
    }

    /// Whether this version's derived read index has been built.
    pub fn has_read_index(&self) -> bool {
        self.published().index.is_indexed()
    }

    /// Size of this version's read index, if it has one.
    pub fn read_index_stats(&self) -> Option<IndexStats> {
        self.published().index.stats()
    }

    /// Iterates over the entries: in key order on the ordered face, in an
    /// unspecified (but, for one snapshot, repeatable) order on the hash face.
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        Iter::new(S::iter(&self.published().content.map))
    }

    /// Iterates over the keys, in [`iter`](Self::iter)'s order.
    pub fn keys(&self) -> Keys<'_, K, V, S> {
        Keys { inner: self.iter() }
    }

    /// Iterates over the values, in [`iter`](Self::iter)'s order.
    pub fn values(&self) -> Values<'_, K, V, S> {
        Values { inner: self.iter() }
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Snapshot<K, V, S> {
    /// The value for `key`, looked up by any borrowed form of the key
    /// (`&str` for `String` keys). Uses the version's read index when it has
    /// one, else the persistent map; the answer is the same.
    #[inline(always)]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.published().get_key_value(key).map(|(_, v)| v)
    }

    /// The stored key and value for `key`.
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.published().get_key_value(key)
    }

    /// Whether `key` is present.
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.published().get_key_value(key).is_some()
    }

    /// Every change from `older` to `self`: `Added` for keys only in `self`,
    /// `Removed` for keys only in `older`, `Updated(key, old, new)` where the
    /// values differ. Works in either direction and across maps.
    ///
    /// Sorted by key on the ordered face; unspecified order on the hash face.
    ///
    /// Cost: between two versions of the same map within its change log
    /// (the last `max(history, 32)` commits, excluding `replace_all` and
    /// commits changing more than `max(4096, len/8)` keys) it is
    /// O(changed keys); otherwise a full comparison, which on the ordered
    /// face skips subtrees the versions share and on the hash face is O(n).
    pub fn diff(&self, older: &Self) -> Vec<Change<K, V>>
    where
        V: PartialEq,
    {
        diff(self.published(), older.published())
    }
}

impl<K, V, S: Backend<K, V>> Clone for Snapshot<K, V, S> {
    fn clone(&self) -> Self {
        Self::from_arc(held_to_arc(&self.held))
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S: Backend<K, V>> fmt::Debug for Snapshot<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entries<'a, K, V, S: Backend<K, V>>(&'a Snapshot<K, V, S>);
        impl<K: fmt::Debug, V: fmt::Debug, S: Backend<K, V>> fmt::Debug for Entries<'_, K, V, S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("Snapshot")
            .field("version", &self.version())
            .field("label", &self.label())
            .field("entries", &Entries(self))
            .finish()
    }
}

impl<'a, K, V, S: Backend<K, V>> IntoIterator for &'a Snapshot<K, V, S> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V, S>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a snapshot's entries.
pub struct Iter<'a, K: 'a, V: 'a, S: Backend<K, V>> {
    inner: S::Iter<'a>,
}

impl<'a, K, V, S: Backend<K, V>> Iter<'a, K, V, S> {
    pub(crate) fn new(inner: S::Iter<'a>) -> Self {
        Self { inner }
    }
}

impl<'a, K, V, S: Backend<K, V>> Iterator for Iter<'a, K, V, S> {
    type Item = (&'a K, &'a V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V, S: Backend<K, V>> ExactSizeIterator for Iter<'_, K, V, S> {}

impl<'a, K, V, S> DoubleEndedIterator for Iter<'a, K, V, S>
where
    S: Backend<K, V>,
    S::Iter<'a>: DoubleEndedIterator,
{
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back()
    }
}

impl<K, V, S: Backend<K, V>> fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.inner.len())
            .finish()
    }
}

/// Iterator over a snapshot's keys.
pub struct Keys<'a, K, V, S: Backend<K, V>> {
    inner: Iter<'a, K, V, S>,
}

/// Iterator over a snapshot's values.
pub struct Values<'a, K, V, S: Backend<K, V>> {
    inner: Iter<'a, K, V, S>,
}

impl<'a, K, V, S: Backend<K, V>> Iterator for Keys<'a, K, V, S> {
    type Item = &'a K;
    fn next(&mut self) -> Option<&'a K> {
        self.inner.next().map(|(k, _)| k)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<'a, K, V, S: Backend<K, V>> Iterator for Values<'a, K, V, S> {
    type Item = &'a V;
    fn next(&mut self) -> Option<&'a V> {
        self.inner.next().map(|(_, v)| v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V, S: Backend<K, V>> ExactSizeIterator for Keys<'_, K, V, S> {}
impl<K, V, S: Backend<K, V>> ExactSizeIterator for Values<'_, K, V, S> {}

impl<K, V, S: Backend<K, V>> fmt::Debug for Keys<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl<K, V, S: Backend<K, V>> fmt::Debug for Values<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").finish_non_exhaustive()
    }
}
