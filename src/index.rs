//! Derived read indexes: a flat hash table per version, built off the read
//! path, so exact lookups run at flat-table speed while writes stay
//! O(log n) on the persistent map.
//!
//! A version's index is a [`ReadView`]: a flat table built from some
//! version `b`, shared by reference between versions, plus a small
//! persistent overlay of the keys changed since `b`. A commit derives the
//! new version's view from its predecessor's in O(changed keys), so indexes
//! survive steady streams of small commits; a full rebuild (which empties
//! the overlay) happens when the overlay outgrows its bound, when a commit
//! replaced everything, or, with [`ReadIndex::Background`], once the map is
//! quiet.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::backend::{Backend, Index, Lookup, Ptr};
use crate::published::{SnapKey, SnapValue};

/// When versions get a derived read index: a flat hash table with clones of
/// the version's keys and values, used by exact lookups (`get`,
/// `contains_key`, `get_key_value`; on `Snapshot`, `SnapMap` and through
/// `Reader`).
///
/// Iteration, `range`, `prefix`, `longest_prefix` and `diff` always use the
/// persistent map; lookups give the same answers with or without an index.
///
/// A commit on top of an indexed version derives the new version's index in
/// O(changed keys): versions share one flat table and each carries a small
/// overlay of the keys changed since it was built (at most
/// `max(1024, len / 32)` entries). The table is rebuilt in full (O(n)) when
/// the overlay would outgrow that bound, after `replace_all`, `clear` or a
/// transaction changing more than `max(4096, len / 8)` keys, and — with
/// `Background` — once the map has been quiet, to empty the overlay.
///
/// Memory: the table holds clones of every key and value of the version it
/// was built from, roughly doubling the memory of the current version (keep
/// values cheap to clone, e.g. `Arc<T>`). Old versions share it; it is freed
/// with the last version using it. `stats().read_index` reports its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadIndex {
    /// Never build one: lookups walk the persistent map (O(log n), a few
    /// dependent cache misses).
    Off,
    /// Index inside `commit`, before publishing: every reader is fast from
    /// its first read. A commit pays O(changed keys), or O(n) when a full
    /// rebuild is due. Right for config reloads and other maps that change
    /// by small diffs, or rarely.
    Eager,
    /// Derive the index at commit when that is O(changed keys); otherwise
    /// leave the version unindexed and let a builder thread owned by the map
    /// build a full table once no commit has come for `quiet` (and at the
    /// latest `5 × quiet` after the first unindexed version). Commits never
    /// wait for it. Right for routing tables and caches that take bursts of
    /// updates or large batches.
    Background {
        /// How long the map must stay without commits before a full build.
        quiet: Duration,
    },
}

impl Default for ReadIndex {
    /// `Background { quiet: 20 ms }`, with the builder's default
    /// `read_index_min_len` of 1024; see BENCHMARKS.md for the measurements
    /// behind it.
    fn default() -> Self {
        ReadIndex::Background {
            quiet: Duration::from_millis(20),
        }
    }
}

/// Size and approximate memory of a version's read index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexStats {
    /// Entries in the flat table (the length of the version it was built
    /// from).
    pub entries: usize,
    /// Keys changed since the table was built, answered by the overlay.
    pub overlay: usize,
    /// Approximate bytes of the flat table: buckets of `(K, V)` plus
    /// control bytes. Heap memory owned by keys and values is not counted,
    /// and the table is shared by every version built on it.
    pub approx_bytes: usize,
}

pub(crate) type Overlay<K, V, S> =
    imbl::GenericHashMap<K, Option<V>, <S as Backend<K, V>>::IndexHasher, Ptr>;

/// A flat table with clones of one version's entries.
pub(crate) type Table<K, V, S> = Arc<Index<K, V, S>>;

/// Builds the flat table of `map`, checking `abandon` every 1024 entries.
pub(crate) fn build_table<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    map: &S::Map,
    hasher: S::IndexHasher,
    abandon: impl Fn() -> bool,
) -> Option<Table<K, V, S>> {
    let mut table = HashMap::with_capacity_and_hasher(S::len(map), hasher);
    for (i, (k, v)) in S::iter(map).enumerate() {
        if i % 1024 == 0 && abandon() {
            return None;
        }
        table.insert(k.clone(), v.clone());
    }
    Some(Arc::new(table))
}

/// The read index slots of one version. Each is set at most once:
///
/// - `table`: a flat table of exactly this version, built in full (eagerly
///   at commit, or later by the background builder);
/// - `view`: derived at commit from the previous version's index, in
///   O(changed keys): an older table plus an overlay of the changes.
///
/// Lookups prefer the table, so a background build can compact a version
/// that already has a view. Invariant: whichever answers, it answers
/// exactly what the version's persistent map answers.
pub(crate) struct IndexSlots<K, V, S: Backend<K, V>> {
    table: OnceLock<Table<K, V, S>>,
    view: OnceLock<ReadView<K, V, S>>,
}

/// An older version's flat table plus the changes made since it was built
/// (`Some(value)`, or `None` for a removed key).
pub(crate) struct ReadView<K, V, S: Backend<K, V>> {
    base: Table<K, V, S>,
    overlay: Overlay<K, V, S>,
}

impl<K, V, S: Backend<K, V>> Default for IndexSlots<K, V, S> {
    fn default() -> Self {
        Self {
            table: OnceLock::new(),
            view: OnceLock::new(),
        }
    }
}

impl<K, V, S: Backend<K, V>> IndexSlots<K, V, S> {
    /// The indexed answer for `key`, or `None` if this version has no index
    /// yet (the caller asks the persistent map).
    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Option<(&K, &V)>>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        if let Some(table) = self.table.get() {
            return Some(S::index_get(table, key));
        }
        let view = self.view.get()?;
        if let Some((k, entry)) = S::overlay_get(&view.overlay, key) {
            return Some(entry.as_ref().map(|v| (k, v)));
        }
        Some(S::index_get(&view.base, key))
    }

    pub(crate) fn table(&self) -> Option<&Table<K, V, S>> {
        self.table.get()
    }

    pub(crate) fn is_indexed(&self) -> bool {
        self.table.get().is_some() || self.view.get().is_some()
    }

    /// Whether lookups go straight to a table (nothing to compact).
    pub(crate) fn is_compact(&self) -> bool {
        self.table.get().is_some()
    }

    pub(crate) fn set_table(&self, table: Table<K, V, S>) {
        // Set at most once; a racing builder's copy is simply dropped.
        let _ = self.table.set(table);
    }

    pub(crate) fn set_view(&self, view: ReadView<K, V, S>) {
        let _ = self.view.set(view);
    }

    pub(crate) fn stats(&self) -> Option<IndexStats> {
        let (table, overlay) = match (self.table.get(), self.view.get()) {
            (Some(table), _) => (table, 0),
            (None, Some(view)) => (&view.base, view.overlay.len()),
            (None, None) => return None,
        };
        let buckets = table.capacity().next_power_of_two().max(1);
        Some(IndexStats {
            entries: table.len(),
            overlay,
            approx_bytes: buckets * (std::mem::size_of::<(K, V)>() + 1),
        })
    }

    /// Drops the index now (the version is being freed).
    pub(crate) fn clear(&mut self) {
        drop(self.table.take());
        drop(self.view.take());
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> IndexSlots<K, V, S> {
    /// The index of a later version whose map is `map` and which differs
    /// from this version only at `changed` keys, derived in O(changed keys);
    /// `None` if this version has no index or the overlay would outgrow its
    /// bound of `max(1024, len / 32)` (time for a full build).
    pub(crate) fn derive<'a>(
        &self,
        map: &S::Map,
        changed: impl IntoIterator<Item = &'a K>,
    ) -> Option<ReadView<K, V, S>> {
        let (base, mut overlay) = match (self.table.get(), self.view.get()) {
            (Some(table), _) => (
                table,
                Overlay::<K, V, S>::with_hasher(table.hasher().clone()),
            ),
            (None, Some(view)) => (&view.base, view.overlay.clone()),
            (None, None) => return None,
        };
        let limit = 1024.max(S::len(map) / 32);
        for key in changed {
            overlay.insert(key.clone(), S::lookup_owned(map, key).cloned());
            if overlay.len() > limit {
                return None;
            }
        }
        Some(ReadView {
            base: Arc::clone(base),
            overlay,
        })
    }
}
