//! Derived read indexes: a flat hash table per version, built off the read
//! path, so exact lookups run at flat-table speed while writes stay
//! O(log n) on the persistent map.
//!
//! A version's index is a [`ReadView`]: a flat table built from some
//! version `b`, shared by reference between versions, plus its position in
//! the table's log of the keys changed since `b` (see `overlay.rs`). A
//! commit derives the new version's view from its predecessor's in
//! O(changed keys), so indexes survive steady streams of small commits; a full rebuild (which empties
//! the overlay) happens when the overlay outgrows its bound, when a commit
//! replaced everything, or, with [`ReadIndex::Background`], once the map is
//! quiet.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::backend::{Backend, Index, Lookup};
use crate::overlay::{ChangeLog, Position};
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
/// O(changed keys): versions share one flat table plus an append-only log
/// (an overlay) of the changes made since it was built (at most
/// `max(1024, len / 8)` changes). The table is rebuilt in full (O(n)) when
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
    /// Commits never wait for anything O(n). A commit changing at most 64
    /// keys derives its index at commit, in O(changed keys); a larger one
    /// is published unindexed and a builder thread owned by the map derives
    /// its index right after, in O(changed keys). Rebuilds (O(n)) happen on
    /// that thread: an overlay past `max(256, len / 12)` changes (a key
    /// rewritten counts each time), or with one key rewritten 32 times, is
    /// folded into a copy of its table at once (a sequential copy, several
    /// times faster than walking the map), for later commits to rebase on
    /// (a key rewritten 1024 times within one overlay is refused, as by a
    /// full overlay: its lookups scan its entries); a version
    /// with no index to derive from (after `replace_all`, say) is built by
    /// walking its map once no commit has come for `quiet` (and at the
    /// latest `5 × quiet` after the first unindexed version); and, to empty
    /// the overlay, a fold `quiet` after the first commit on a fresh table
    /// (sooner reads cost less: each lookup of a view checks the overlay's
    /// filter, and a flagged one probes the overlay). After each walk the
    /// builder rests nine times as long, after each fold as long as it
    /// took, and it starts no such emptying fold sooner than 39 times as
    /// long as its last job took, so it uses at most 1/40 of a core on
    /// them; folds forced by the overlay's size are paced by the commits
    /// (one per `len / 12` changed keys: about twelve copied table entries
    /// per changed key). Right for routing tables and caches that take
    /// bursts of updates or large batches, and for steady streams of small
    /// commits.
    Background {
        /// How long after a commit the builder folds its overlay into a new
        /// table, and how long the map must stay without commits before an
        /// unindexed version is built in full (at most five times as long).
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
    /// Approximate bytes of the flat table (buckets of `(K, V)` plus
    /// control bytes) and of its overlay's slots, once allocated (one per
    /// change it can hold: a key, an optional value and ~24 bytes). Heap memory owned
    /// by keys and values is not counted, and the table is shared by every
    /// version built on it.
    pub approx_bytes: usize,
}

/// A flat table with clones of one version's entries, shared by the views
/// of later versions derived from it.
pub(crate) type Table<K, V, S> = Arc<FlatTable<K, V, S>>;

pub(crate) struct FlatTable<K, V, S: Backend<K, V>> {
    /// Looked up by a hash computed once per lookup, shared with the
    /// change filter.
    entries: Index<K, V>,
    hasher: S::IndexHasher,
    /// Every key changed since this table's version by a view derived from
    /// it, as a one-hash Bloom filter: a lookup whose bit is clear skips the
    /// overlay.
    changed: ChangeFilter,
    /// The changes themselves, for the chain of views derived from it.
    overlay: ChangeLog<K, V>,
}

/// A Bloom filter with one bit per key, shared by every view derived from
/// one table. Bits are only ever set: an older version seeing a bit set by
/// a later one merely checks its own (exact) overlay for nothing. Relaxed
/// is enough: the writer sets a view's bits before it publishes the view,
/// and publishing (the pointer swap, or the view's `OnceLock`) is the
/// release that readers acquire.
struct ChangeFilter {
    words: Box<[AtomicU64]>,
    shift: u32,
}

impl ChangeFilter {
    /// Eight bits per key an overlay may hold (`overlay_limit`): 4-8% false
    /// positives at the size `Background` folds at, at most ~12% when the
    /// overlay is full. 8 KiB at 49k keys.
    fn for_len(len: usize) -> Self {
        let bits = (overlay_limit(len) * 8).next_power_of_two().max(64);
        Self {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            shift: 64 - bits.trailing_zeros(),
        }
    }

    #[inline]
    fn bit(&self, hash: u64) -> (usize, u64) {
        // The top bits: independent of the low bits hashbrown indexes with.
        let bit = hash >> self.shift;
        ((bit >> 6) as usize, 1 << (bit & 63))
    }

    #[inline]
    fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.bit(hash);
        self.words[word].load(Ordering::Relaxed) & mask != 0
    }

    fn insert(&self, hash: u64) {
        let (word, mask) = self.bit(hash);
        self.words[word].fetch_or(mask, Ordering::Relaxed);
    }
}

/// Builds the flat table of `map`, checking `abandon` every 1024 entries.
pub(crate) fn build_table<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    map: &S::Map,
    hasher: S::IndexHasher,
    abandon: impl Fn() -> bool,
) -> Option<Table<K, V, S>> {
    let mut entries = Index::with_capacity(S::len(map));
    for (i, (k, v)) in S::iter(map).enumerate() {
        if i % 1024 == 0 && abandon() {
            return None;
        }
        // Keys of one version are distinct.
        entries.insert_unique(hasher.hash_one(k), (k.clone(), v.clone()), |(k, _)| {
            hasher.hash_one(k)
        });
    }
    Some(FlatTable::new(entries, hasher))
}

impl<K, V, S: Backend<K, V>> FlatTable<K, V, S> {
    fn new(entries: Index<K, V>, hasher: S::IndexHasher) -> Table<K, V, S> {
        Arc::new(FlatTable {
            changed: ChangeFilter::for_len(entries.len()),
            overlay: ChangeLog::new(overlay_limit(entries.len())),
            entries,
            hasher,
        })
    }
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

/// An older version's flat table plus the changes made since it was built:
/// those of the table's log up to this view's generation.
pub(crate) struct ReadView<K, V, S: Backend<K, V>> {
    base: Table<K, V, S>,
    at: Position,
}

impl<K, V, S: Backend<K, V>> Clone for ReadView<K, V, S> {
    /// O(1): the table and its log are shared.
    fn clone(&self) -> Self {
        Self {
            base: Arc::clone(&self.base),
            at: self.at,
        }
    }
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
    /// The indexed answer for `key`, or `None` if this version has no
    /// index (yet). Inlined into every lookup: a version with its own table,
    /// or a view whose change filter rules the key out, costs one hash and
    /// one table probe; only keys the filter flags consult the overlay, out
    /// of line.
    #[inline(always)]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Option<(&K, &V)>>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        let (table, view) = match self.table.get() {
            Some(table) => (table, None),
            None => {
                let view = self.view.get()?;
                (&view.base, Some(view))
            }
        };
        let hash = S::index_hash(&table.hasher, key);
        if let Some(view) = view {
            if view.at.entries != 0 && table.changed.may_contain(hash) {
                if let Some(found) = view.overlay_get(hash, key) {
                    return Some(found);
                }
            }
        }
        Some(S::index_find(&table.entries, hash, key))
    }

    pub(crate) fn is_indexed(&self) -> bool {
        self.table.get().is_some() || self.view.get().is_some()
    }

    /// Whether lookups go straight to a table (nothing to compact).
    pub(crate) fn is_compact(&self) -> bool {
        self.table.get().is_some()
    }

    /// Entries in the overlay lookups consult before the table, counting
    /// each rewrite of a key: rewrites fill the log's bound and lengthen
    /// the probes for that key, so folding is due by entries, not by
    /// distinct keys.
    pub(crate) fn overlay_len(&self) -> usize {
        match (self.table.get(), self.view.get()) {
            (None, Some(view)) => view.at.entries,
            _ => 0,
        }
    }

    /// Whether a key was rewritten so often that its lookups slow down:
    /// fold now, whatever the overlay's size.
    pub(crate) fn is_crowded(&self) -> bool {
        matches!((self.table.get(), self.view.get()), (None, Some(view)) if view.at.crowded)
    }

    /// Whether this version's overlay calls for a fold now, not as a
    /// compaction later: past the pressure mark, or crowded.
    pub(crate) fn is_pressed(&self, len: usize) -> bool {
        self.is_crowded() || self.overlay_len() > overlay_pressure(len)
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
            (None, Some(view)) => (&view.base, view.at.keys),
            (None, None) => return None,
        };
        let buckets = table.entries.capacity().next_power_of_two().max(1);
        Some(IndexStats {
            entries: table.entries.len(),
            overlay,
            approx_bytes: buckets * (std::mem::size_of::<(K, V)>() + 1)
                + table.overlay.approx_bytes(),
        })
    }

    /// Drops the index now (the version is being freed).
    pub(crate) fn clear(&mut self) {
        drop(self.table.take());
        drop(self.view.take());
    }
}

/// The most keys an overlay may hold before a full build is due.
pub(crate) fn overlay_limit(len: usize) -> usize {
    1024.max(len / 8)
}

/// Past this many entries in an overlay, `Background` asks for a fresh
/// table at once (not after a quiet period). A fold copies the whole table,
/// so it is paced by the changes: a twelfth of the keys per fold bounds the
/// copying to twelve entries per changed key. Folding more often cost more
/// than the larger overlay saves: at 1M keys, `len / 64` had the builder
/// copy 16 MiB every ~15k commits and took a fifth of the `read-99`
/// throughput on two cores. Lookups pay for the larger overlay only when
/// the change filter flags their key (the changed keys, plus 4-8% false
/// positives at this size).
pub(crate) fn overlay_pressure(len: usize) -> usize {
    256.max(len / 12)
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> IndexSlots<K, V, S> {
    /// This version's index as a view (its own table with an empty
    /// overlay, or its derived view), to derive later versions' from.
    pub(crate) fn effective_view(&self) -> Option<ReadView<K, V, S>> {
        match (self.table.get(), self.view.get()) {
            (Some(table), _) => Some(ReadView::on(Arc::clone(table))),
            (None, Some(view)) => Some(view.clone()),
            (None, None) => None,
        }
    }
}

impl<K, V, S: Backend<K, V>> ReadView<K, V, S> {
    /// The overlay's answer for `key`: `Some(None)` for a removed key,
    /// `None` if the key did not change since the table was built.
    #[inline(never)]
    fn overlay_get<Q>(&self, hash: u64, key: &Q) -> Option<Option<(&K, &V)>>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        let entry = self
            .base
            .overlay
            .find(hash, self.at.generation, |k| S::key_eq(k, key))?;
        Some(entry.value.as_ref().map(|v| (&entry.key, v)))
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> ReadView<K, V, S> {
    /// A view on `table` with no changes yet.
    pub(crate) fn on(table: Table<K, V, S>) -> Self {
        Self {
            base: table,
            at: Position::default(),
        }
    }

    /// Whether no view was derived from this one yet (deriving can only
    /// fail for want of room).
    pub(crate) fn is_newest(&self) -> bool {
        self.base.overlay.head() == self.at.generation
    }

    /// A flat table of exactly this view's version: a copy of the base
    /// table with the overlay's changes applied. O(n) like a full build, but
    /// a sequential copy rather than a walk of the persistent map (several
    /// times faster), so the builder can keep overlays small under steady
    /// commits.
    pub(crate) fn fold(&self) -> Table<K, V, S> {
        let base = &self.base;
        let hasher = &base.hasher;
        let mut entries = base.entries.clone();
        for change in base.overlay.changes_up_to(self.at.generation) {
            let found = entries.find_entry(change.hash, |(k, _)| *k == change.key);
            match (found, &change.value) {
                (Ok(mut slot), Some(value)) => slot.get_mut().1 = value.clone(),
                (Ok(slot), None) => drop(slot.remove()),
                (Err(_), Some(value)) => {
                    let entry = (change.key.clone(), value.clone());
                    entries.insert_unique(change.hash, entry, |(k, _)| hasher.hash_one(k));
                }
                (Err(_), None) => {}
            }
        }
        let table = FlatTable::new(entries, hasher.clone());
        // Commits go on (a fold is due because of them) and will rebase on
        // this table: allocate its log here, not in the writer's next commit.
        table.overlay.reserve();
        table
    }

    /// The view of a later version whose map is `map` and which differs
    /// from this view's version only at `changed` keys, in O(changed keys);
    /// `None` if the overlay would outgrow [`overlay_limit`] (time for a
    /// full build), or if this view is not the newest of its table's chain
    /// (a view was derived from it already).
    pub(crate) fn derive<'a>(
        &self,
        map: &S::Map,
        changed: impl IntoIterator<Item = &'a K>,
    ) -> Option<Self> {
        let table = &self.base;
        let mut log = table.overlay.append_after(self.at)?;
        for key in changed {
            let hash = table.hasher.hash_one(key);
            table.changed.insert(hash);
            if !log.push(hash, key.clone(), S::lookup_owned(map, key).cloned()) {
                return None;
            }
        }
        Some(Self {
            base: Arc::clone(table),
            at: log.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::DefaultHashBuilder;

    type S = DefaultHashBuilder;

    #[test]
    fn a_fold_hands_the_writer_a_table_whose_log_is_allocated() {
        let backend = S::default();
        let mut map = Backend::<u32, u32>::empty(&backend);
        for k in 0..100 {
            S::insert(&mut map, k, k);
        }
        let hasher = Backend::<u32, u32>::index_hasher(&backend);
        let table = build_table::<u32, u32, S>(&map, hasher, || false).unwrap();
        assert_eq!(table.overlay.approx_bytes(), 0, "a quiet table has no log");
        S::insert(&mut map, 7, 70);
        let view = ReadView::on(table).derive(&map, [&7]).unwrap();
        let folded = view.fold();
        assert!(folded.overlay.approx_bytes() > 0);
        let hash = folded.hasher.hash_one(7u32);
        let found = <S as Lookup<u32, u32, u32>>::index_find(&folded.entries, hash, &7);
        assert_eq!(found, Some((&7, &70)), "the fold applied the change");
    }
}
