//! Write transactions.

use std::fmt;
use std::sync::Arc;

use crate::backend::{Backend, DefaultHashBuilder, Lookup};
use crate::core::{Changes, Draft, Shared, WriterLock};
use crate::error::CommitError;
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Iter;
use crate::Version;

/// An exclusive write transaction: `map.write()`.
///
/// Changes go to a private working copy (an O(1) clone of the current
/// version) and are invisible to readers until [`commit`](Self::commit)
/// publishes them all at once as one new version. Dropping the transaction
/// without committing publishes nothing.
///
/// The transaction holds the map's writer lock from `write()` until it is
/// committed or dropped: other writers wait (readers never do). It is not
/// `Send`: the lock belongs to the thread that took it.
///
/// # Panics
///
/// If user code panics inside an operation (a key's `Hash`/`Eq`/`Ord`, a
/// value's `Clone` while a node is copied), the working copy may be
/// inconsistent, so the transaction is poisoned: if the panic is caught and
/// the transaction committed anyway, `commit` returns
/// [`CommitError::Panicked`] and publishes nothing.
pub struct WriteTxn<'a, K, V, S: Backend<K, V> = DefaultHashBuilder> {
    shared: &'a Arc<Shared<K, V, S>>,
    lock: WriterLock<'a>,
    base: Version,
    draft: Draft<K, V, S>,
    poisoned: bool,
}

impl<'a, K: SnapKey, V: SnapValue, S: Backend<K, V>> WriteTxn<'a, K, V, S> {
    pub(crate) fn new(shared: &'a Arc<Shared<K, V, S>>, lock: WriterLock<'a>) -> Self {
        let (base, draft) = shared.draft(&lock);
        Self {
            shared,
            lock,
            base,
            draft,
            poisoned: false,
        }
    }

    /// Runs one mutation of the working copy, poisoning the transaction if
    /// it unwinds.
    fn mutate<R>(&mut self, op: impl FnOnce(&mut Draft<K, V, S>) -> R) -> R {
        let poisoned = std::mem::replace(&mut self.poisoned, true);
        let result = op(&mut self.draft);
        self.poisoned = poisoned;
        result
    }

    /// Inserts or replaces `key`, returning the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.mutate(|draft| {
            draft.changes.note(|| key.clone());
            draft.dirty = true;
            S::insert(&mut draft.map, key, value)
        })
    }

    /// Removes `key` (by any borrowed form), returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        self.mutate(|draft| {
            let (key, value) = S::map_remove(&mut draft.map, key)?;
            draft.changes.note(|| key);
            draft.dirty = true;
            Some(value)
        })
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        if !self.is_empty() {
            self.draft.map = S::empty_like(&self.draft.map);
            self.draft.changes = Changes::Unknown;
            self.draft.dirty = true;
        }
    }

    /// The value for `key` in the working copy: this transaction's own
    /// writes included.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        S::map_get(&self.draft.map, key).map(|(_, v)| v)
    }

    /// Whether `key` is in the working copy.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        S: Lookup<K, V, Q>,
        Q: ?Sized,
    {
        S::map_get(&self.draft.map, key).is_some()
    }

    /// Entries in the working copy.
    pub fn len(&self) -> usize {
        S::len(&self.draft.map)
    }

    /// Whether the working copy is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the working copy.
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        Iter::new(S::iter(&self.draft.map))
    }

    /// The version this transaction started from (the current version, which
    /// cannot change while the transaction holds the writer lock).
    pub fn base_version(&self) -> Version {
        self.base
    }

    /// Whether the transaction has changes to publish.
    pub fn is_dirty(&self) -> bool {
        self.draft.dirty
    }

    /// Attaches a label to the version this transaction publishes (an etcd
    /// revision, a file hash, a deploy id), returned by
    /// [`Snapshot::label`](crate::Snapshot::label). A label alone is not a
    /// change: a transaction with no writes still publishes nothing.
    pub fn label(&mut self, label: impl Into<Arc<str>>) -> &mut Self {
        self.draft.label = Some(label.into());
        self
    }

    /// Publishes every change as one new version and returns its number.
    ///
    /// A transaction with no writes publishes nothing and returns the
    /// current version. On error nothing is published and the current
    /// version stays (the error says which).
    ///
    /// # Panics
    ///
    /// A panic in the validator or while building an eager read index is
    /// returned as [`CommitError::Panicked`], not propagated. If a value's
    /// `Drop` panics while the replaced version is freed, that panic
    /// propagates, but only after the new version is fully published and
    /// the writer lock released.
    pub fn commit(self) -> Result<Version, CommitError> {
        if self.poisoned {
            let error = CommitError::Panicked {
                current: self.base,
                during: "transaction",
                message:
                    "an earlier operation on this transaction panicked (a key's Hash/Eq/Ord or a \
                          value's Clone); its working copy was discarded"
                        .to_owned(),
            };
            self.shared.record_failure(&error);
            return Err(error);
        }
        let Self {
            shared,
            lock,
            draft,
            ..
        } = self;
        let result = shared.commit(draft, &lock);
        drop(lock);
        result.map(|(version, released)| {
            drop(released);
            version
        })
    }

    /// Replaces the working copy wholesale (`replace_all`, `rollback_to`).
    pub(crate) fn replace_map(&mut self, map: S::Map, changes: Changes<K>) {
        self.draft.map = map;
        self.draft.changes = changes;
        self.draft.dirty = true;
    }

    pub(crate) fn set_label(&mut self, label: Option<Arc<str>>) {
        self.draft.label = label;
    }
}

impl<K, V, S: Backend<K, V>> fmt::Debug for WriteTxn<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteTxn")
            .field("base", &self.base)
            .field("len", &S::len(&self.draft.map))
            .field("dirty", &self.draft.dirty)
            .finish_non_exhaustive()
    }
}
