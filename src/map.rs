//! The map handle: both faces are this one type.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, DefaultHashBuilder, Lookup, Ordered};
use crate::builder::Builder;
use crate::core::{Changes, Shared};
use crate::error::CommitError;
use crate::notify::Subscriber;
use crate::published::{Published, SnapKey, SnapValue};
use crate::reader::Reader;
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::sync::Ordering;
use crate::txn::WriteTxn;
use crate::Version;

/// A read-optimized concurrent map of immutable versions.
///
/// `SnapMap<K, V>` is the hash face (over `imbl::GenericHashMap`, hashed
/// with `S`, foldhash by default); [`SnapOrdMap<K, V>`] is the same type
/// with [`Ordered`] in place of the hasher (over `imbl::OrdMap`, with
/// `range`, `prefix` and `longest_prefix` on its snapshots).
///
/// A `SnapMap` is a cheap handle: clones share one map. Readers
/// ([`load`](Self::load), [`get`](Self::get), [`reader`](Self::reader))
/// never block; writers are serialized and each commit publishes one new
/// version atomically.
///
/// # `insert` versus `write`
///
/// [`insert`](Self::insert), [`remove`](Self::remove) and
/// [`update`](Self::update) are one-shot transactions: each call publishes
/// one version. To change several keys as one version (a batch readers
/// never see half of), use [`write`](Self::write) or `update` and commit
/// once; it is also much cheaper than many single commits.
pub struct SnapMap<K, V, S: Backend<K, V> = DefaultHashBuilder> {
    shared: Arc<Shared<K, V, S>>,
}

/// The ordered face: a [`SnapMap`] over `imbl::OrdMap`, with sorted
/// iteration and `range`, `prefix`, `longest_prefix` on its snapshots.
pub type SnapOrdMap<K, V> = SnapMap<K, V, Ordered>;

impl<K: SnapKey, V: SnapValue, S: Backend<K, V> + Default> SnapMap<K, V, S> {
    /// An empty map (version 0) with default options.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Options for a new map: history, validator, hasher, read index,
    /// initial contents, live-version cap.
    pub fn builder() -> Builder<K, V, S> {
        Builder::new(S::default())
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V> + BuildHasher> SnapMap<K, V, S> {
    /// An empty hash-face map using `hasher` (e.g. `std::hash::RandomState`
    /// for keys from untrusted input).
    pub fn with_hasher(hasher: S) -> Self {
        Builder::new(hasher).build()
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> SnapMap<K, V, S> {
    pub(crate) fn from_shared(shared: Arc<Shared<K, V, S>>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<K, V, S>> {
        &self.shared
    }

    /// The current version as an owned, immutable snapshot. Never blocks.
    ///
    /// A commit happens-before every `load` that returns its version (or a
    /// later one): once `commit` returns, every subsequent `load`, on any
    /// thread, sees it.
    #[inline]
    pub fn load(&self) -> Snapshot<K, V, S> {
        self.shared.load()
    }

    /// A cached reader for hot loops; see [`Reader`] for `load` versus
    /// `Reader`.
    pub fn reader(&self) -> Reader<K, V, S> {
        Reader::new(Arc::clone(&self.shared))
    }

    /// A clone of the current value for `key`. Never blocks.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.shared
            .current()
            .load()
            .get_key_value(key)
            .map(|(_, v)| v.clone())
    }

    /// Whether `key` is in the current version.
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.shared.current().load().get_key_value(key).is_some()
    }

    /// Entries in the current version.
    pub fn len(&self) -> usize {
        self.shared.current().load().len()
    }

    /// Whether the current version is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current version number.
    pub fn version(&self) -> Version {
        self.shared.current().load().version()
    }

    /// Starts a write transaction, waiting for the writer lock if another
    /// transaction holds it. Readers are never blocked by it.
    ///
    /// # Panics
    ///
    /// If this thread already holds this map's writer lock (an open
    /// `WriteTxn`, or inside an `update` closure): waiting would deadlock.
    pub fn write(&self) -> WriteTxn<'_, K, V, S> {
        WriteTxn::new(&self.shared, self.shared.lock_writer())
    }

    /// Starts a write transaction if no other one is open, else `None`.
    pub fn try_write(&self) -> Option<WriteTxn<'_, K, V, S>> {
        Some(WriteTxn::new(&self.shared, self.shared.try_lock_writer()?))
    }

    /// Inserts one entry and publishes it as a new version.
    pub fn insert(&self, key: K, value: V) -> Result<Version, CommitError> {
        let mut txn = self.write();
        txn.insert(key, value);
        txn.commit()
    }

    /// Removes one key and publishes the result as a new version; removing
    /// an absent key publishes nothing and returns the current version.
    pub fn remove<Q>(&self, key: &Q) -> Result<Version, CommitError>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        let mut txn = self.write();
        txn.remove(key);
        txn.commit()
    }

    /// Runs `f` on a write transaction and commits it: all of `f`'s changes
    /// become one version.
    ///
    /// # Panics
    ///
    /// A panic in `f` propagates to the caller. Nothing is published, the
    /// writer lock is released and the map stays usable (no poisoning).
    /// Calling `write`, `insert`, `update`… on the same map inside `f`
    /// panics (it would deadlock); use the `txn` you are given.
    pub fn update(
        &self,
        f: impl FnOnce(&mut WriteTxn<'_, K, V, S>),
    ) -> Result<Version, CommitError> {
        let mut txn = self.write();
        f(&mut txn);
        txn.commit()
    }

    /// Replaces the whole contents with `entries` in one version (a full
    /// resync). The new map is built before the writer lock is taken.
    /// Always publishes, even if the contents are equal.
    pub fn replace_all(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Version, CommitError> {
        let mut map = self.shared.backend.empty();
        for (k, v) in entries {
            S::insert(&mut map, k, v);
        }
        let mut txn = self.write();
        txn.replace_map(map, Changes::Unknown);
        txn.commit()
    }

    /// A subscriber told about versions published after this call.
    pub fn subscribe(&self) -> Subscriber<K, V, S> {
        Subscriber::new(Arc::clone(&self.shared))
    }

    /// The versions the history keeps, oldest first, current last (see
    /// [`Builder::history`]).
    pub fn history(&self) -> Vec<Version> {
        self.shared.registry.lock().versions()
    }

    /// A snapshot of a version the history still keeps.
    pub fn at(&self, version: Version) -> Option<Snapshot<K, V, S>> {
        let shared = &self.shared;
        let published = shared.registry.lock().at(version, |content| {
            Published::new(content, Arc::clone(&shared.lineage))
        })?;
        Some(Snapshot::from_arc(published))
    }

    /// Publishes a new version (the number keeps going up) whose contents
    /// and label equal those of `version`, which the history must still
    /// keep. The candidate goes through the validator like any commit.
    /// Rolling back to the current version publishes nothing.
    pub fn rollback_to(&self, version: Version) -> Result<Version, CommitError> {
        let mut txn = self.write();
        let current = txn.base_version();
        if version == current {
            return Ok(current);
        }
        let target = self.shared.registry.lock().content(version).cloned();
        let Some(target) = target else {
            let error = CommitError::NotInHistory {
                requested: version,
                oldest: self.shared.registry.lock().oldest(),
                current,
            };
            self.shared.record_failure(&error);
            return Err(error);
        };
        // The keys that differ are the ones changed since `version`, when
        // the current version's change log still covers them.
        let changes = match self.shared.lineage.keys_between(version, current) {
            Some(commits) => {
                let keys: Vec<K> = commits
                    .iter()
                    .flat_map(|keys| keys.iter().cloned())
                    .collect();
                Changes::Keys {
                    limit: keys.len(),
                    keys,
                }
            }
            None => Changes::Unknown,
        };
        txn.replace_map(target.map, changes);
        txn.set_label(target.label);
        txn.commit()
    }

    /// Blocks until no snapshot of a version older than the one current at
    /// the call is alive (an RCU grace period): after it returns, no reader
    /// can still see anything that version replaced, and those versions'
    /// values have been dropped (unless the history keeps them).
    ///
    /// Readers ([`Reader`]s included, until their next `load`) and snapshots
    /// held by *this* thread count too: calling it while holding an old
    /// snapshot waits forever. Prefer
    /// [`synchronize_timeout`](Self::synchronize_timeout).
    pub fn synchronize(&self) {
        self.shared.synchronize(None);
    }

    /// [`synchronize`](Self::synchronize) with a timeout: `true` once the
    /// grace period has passed, `false` if old snapshots are still alive
    /// after `timeout`.
    pub fn synchronize_timeout(&self, timeout: Duration) -> bool {
        self.shared.synchronize(Instant::now().checked_add(timeout))
    }

    /// Counters and gauges; see [`Stats`].
    pub fn stats(&self) -> Stats {
        let current = self.load();
        let (live_retired, history_len) = {
            let registry = self.shared.registry.lock();
            (registry.live_retired(), registry.len())
        };
        Stats {
            version: current.version(),
            len: current.len(),
            commits: self.shared.commits.load(Ordering::Relaxed),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
            live_versions: live_retired + 1,
            history_len,
            subscribers: self.shared.notify.subscribers.load(Ordering::Relaxed),
            last_commit_at: current.committed_at(),
            last_error: self.shared.last_error.lock().clone(),
            read_index: current.read_index_stats(),
            index_builder_running: self.shared.indexer.is_running(),
        }
    }
}

impl<K, V, S: Backend<K, V>> Clone for SnapMap<K, V, S> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, V, S: Backend<K, V>> Drop for SnapMap<K, V, S> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V> + Default> Default for SnapMap<K, V, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V> + Default> FromIterator<(K, V)>
    for SnapMap<K, V, S>
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        Self::builder().contents(entries).build()
    }
}

impl<K: SnapKey + fmt::Debug, V: SnapValue + fmt::Debug, S: Backend<K, V>> fmt::Debug
    for SnapMap<K, V, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SnapMap").field(&self.load()).finish()
    }
}
