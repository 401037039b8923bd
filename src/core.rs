//! The generic core: one versioned cell over a persistent map, shared by
//! both faces. Readers touch only `hot`; everything else is the write path.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::backend::Backend;
use crate::changelog::Lineage;
use crate::error::{panic_message, BoxError, CommitError};
use crate::history::{Registry, Released};
use crate::index::{build_table, overlay_limit, ReadIndex, ReadView};
use crate::indexer::{Indexer, Need, Source};
use crate::notify::Notify;
use crate::published::{Content, Published, SnapKey, SnapValue};
use crate::snapshot::Snapshot;
use crate::sync::{
    thread_token, AtomicU64, AtomicUsize, CachePadded, Current, Mutex, MutexGuard, Ordering,
};
use crate::Version;

/// The most keys a commit derives its read index for inside `commit` under
/// `ReadIndex::Background`; larger commits leave it to the builder, so a
/// batch costs about what its inserts cost.
const DERIVE_AT_COMMIT: usize = 64;

/// Failed `try_lock`s before a writer blocks on the lock: a few
/// microseconds, about one commit's worth. (Under loom, where spinning is
/// only more interleavings to explore, a writer blocks at once.)
#[cfg(not(loom))]
const WRITER_SPINS: u32 = 2_000;
#[cfg(loom)]
const WRITER_SPINS: u32 = 0;

pub(crate) type Validator<K, V, S> =
    Arc<dyn Fn(&Snapshot<K, V, S>) -> Result<(), BoxError> + Send + Sync + 'static>;

/// Settings fixed at construction (see `Builder`).
pub(crate) struct Config<K, V, S: Backend<K, V>> {
    pub(crate) history: usize,
    pub(crate) validator: Option<Validator<K, V, S>>,
    pub(crate) read_index: ReadIndex,
    pub(crate) index_min_len: usize,
    pub(crate) max_live: Option<usize>,
    pub(crate) max_live_wait: Duration,
}

/// What readers poll, on its own cache lines: the current version and its
/// number (the number is what `Reader` compares against its cached copy).
struct Hot<K, V, S: Backend<K, V>> {
    current: Current<Published<K, V, S>>,
    epoch: AtomicU64,
}

pub(crate) struct Shared<K, V, S: Backend<K, V>> {
    hot: CachePadded<Hot<K, V, S>>,
    /// Serializes writers. Held by a `WriteTxn` from `write()` to its end.
    writer: Mutex<()>,
    /// Thread token of the writer-lock holder, to report re-entrant writes.
    writer_owner: AtomicU64,
    pub(crate) registry: Mutex<Registry<K, V, S>>,
    pub(crate) notify: Notify,
    /// What every version of this map shares: the commit log and the
    /// "a version was freed" signal.
    pub(crate) lineage: Arc<Lineage<K>>,
    pub(crate) config: Config<K, V, S>,
    pub(crate) backend: S,
    pub(crate) commits: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    /// Live `SnapMap` handles; at zero no commit can happen any more.
    pub(crate) handles: AtomicUsize,
    pub(crate) indexer: Indexer<K, V, S>,
}

/// The pending changes of a transaction.
pub(crate) struct Draft<K, V, S: Backend<K, V>> {
    pub(crate) map: S::Map,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) changes: Changes<K>,
    pub(crate) dirty: bool,
}

/// The keys a transaction changed, while there are few enough to record.
pub(crate) enum Changes<K> {
    Keys { keys: Vec<K>, limit: usize },
    Unknown,
}

impl<K> Changes<K> {
    pub(crate) fn tracking(base_len: usize) -> Self {
        Changes::Keys {
            keys: Vec::new(),
            limit: 4096.max(base_len / 8),
        }
    }

    pub(crate) fn note(&mut self, key: impl FnOnce() -> K) {
        if let Changes::Keys { keys, limit } = self {
            if keys.len() < *limit {
                keys.push(key());
            } else {
                *self = Changes::Unknown;
            }
        }
    }

    fn into_recorded(self) -> Option<Arc<[K]>> {
        match self {
            Changes::Keys { keys, .. } => Some(keys.into()),
            Changes::Unknown => None,
        }
    }
}

/// What a commit leaves to the background builder: a view to derive
/// (`Need::Derive`) or an overlay to fold (`Need::Pressure`), from the base's
/// index, or from the source of the builder's pending job when the base has
/// none yet.
type Pending<K, V, S> = (Need, Option<Source<K, V, S>>);

/// A commit's result: the version it returns and, if it published, the
/// versions it let go of (dropped by the caller, after the writer lock).
pub(crate) type Committed<K, V, S> = (Version, Option<Released<K, V, S>>);

/// The writer lock, held for the life of a transaction.
pub(crate) struct WriterLock<'a> {
    _guard: MutexGuard<'a, ()>,
    owner: &'a AtomicU64,
}

impl Drop for WriterLock<'_> {
    fn drop(&mut self) {
        self.owner.store(0, Ordering::Relaxed);
    }
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Shared<K, V, S> {
    pub(crate) fn new(
        backend: S,
        map: S::Map,
        label: Option<Arc<str>>,
        config: Config<K, V, S>,
    ) -> Arc<Self> {
        let lineage = Lineage::new(config.history);
        let content = Content {
            map,
            version: Version::INITIAL,
            committed_at: SystemTime::now(),
            label,
        };
        let initial = Arc::new(Published::new(content, Arc::clone(&lineage)));
        if config.read_index == ReadIndex::Eager && initial.len() >= config.index_min_len {
            // Nothing is published yet, so a panic here is the caller's.
            let table =
                build_table::<K, V, S>(&initial.content.map, backend.index_hasher(), || false);
            initial
                .index
                .set_table(table.expect("eager builds are never abandoned"));
        }
        let shared = Arc::new(Self {
            registry: Mutex::new(Registry::new(&initial, config.history)),
            hot: CachePadded(Hot {
                current: Current::new(Arc::clone(&initial)),
                epoch: AtomicU64::new(0),
            }),
            writer: Mutex::new(()),
            writer_owner: AtomicU64::new(0),
            notify: Notify::new(Version::INITIAL),
            lineage,
            config,
            backend,
            commits: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_error: Mutex::new(None),
            handles: AtomicUsize::new(1),
            indexer: Indexer::new(),
        });
        shared.schedule_index(&initial, None);
        shared
    }

    #[inline]
    pub(crate) fn current(&self) -> &Current<Published<K, V, S>> {
        &self.hot.current
    }

    /// The number of the newest version, published or about to be: the
    /// epoch is bumped just before the pointer is swapped. One relaxed load,
    /// for "has anything changed?" checks that then load the pointer.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.hot.epoch.load(Ordering::Relaxed)
    }

    /// The number of the version `load` returns now.
    pub(crate) fn current_version(&self) -> Version {
        self.hot.current.load().version()
    }

    pub(crate) fn load(&self) -> Snapshot<K, V, S> {
        Snapshot::from_held(self.hot.current.load())
    }

    pub(crate) fn lock_writer(&self) -> WriterLock<'_> {
        let token = thread_token();
        assert!(
            self.writer_owner.load(Ordering::Relaxed) != token,
            "snapmap: write() on a thread that already holds this map's writer lock \
             (an open WriteTxn or an update() closure); it would deadlock"
        );
        let guard = self.spin_then_lock();
        self.writer_owner.store(token, Ordering::Relaxed);
        WriterLock {
            _guard: guard,
            owner: &self.writer_owner,
        }
    }

    /// Commits hold the writer lock for microseconds, longer than a mutex's
    /// own brief spin: without spinning a little longer, two threads
    /// committing at once would park and wake each other (a context switch
    /// each way) on nearly every collision.
    fn spin_then_lock(&self) -> MutexGuard<'_, ()> {
        for _ in 0..WRITER_SPINS {
            if let Some(guard) = self.writer.try_lock() {
                return guard;
            }
            std::hint::spin_loop();
        }
        self.writer.lock()
    }

    pub(crate) fn try_lock_writer(&self) -> Option<WriterLock<'_>> {
        let guard = self.writer.try_lock()?;
        self.writer_owner.store(thread_token(), Ordering::Relaxed);
        Some(WriterLock {
            _guard: guard,
            owner: &self.writer_owner,
        })
    }

    /// A fresh draft on top of the current version.
    pub(crate) fn draft(&self, _writer: &WriterLock<'_>) -> (Version, Draft<K, V, S>) {
        let base = self.hot.current.load();
        let draft = Draft {
            map: base.content.map.clone(),
            label: None,
            changes: Changes::tracking(base.len()),
            dirty: false,
        };
        (base.version(), draft)
    }

    /// The commit pipeline: validate, build an eager index, respect the live
    /// version cap, publish, record history, notify. Runs under the writer
    /// lock, so the current version cannot change underneath it.
    /// Returns the versions this commit let go of: the caller drops them
    /// after releasing the writer lock, since freeing runs values' `Drop`.
    pub(crate) fn commit(
        self: &Arc<Self>,
        draft: Draft<K, V, S>,
        _writer: &WriterLock<'_>,
    ) -> Result<Committed<K, V, S>, CommitError> {
        let base = self.hot.current.load_full();
        if !draft.dirty {
            return Ok((base.version(), None));
        }
        let version = base.version().next();
        let changed = draft.changes.into_recorded();
        let content = Content {
            map: draft.map,
            version,
            committed_at: SystemTime::now(),
            label: draft.label,
        };
        let candidate = Arc::new(Published::new(content, Arc::clone(&self.lineage)));
        let prepared = self.prepare(&candidate, &base, changed.as_deref());
        // Our reference to the base must not count as a live snapshot.
        drop(base);
        let pending = prepared
            .and_then(|pending| self.wait_for_room(candidate.version()).map(|()| pending))
            .inspect_err(|e| self.record_failure(e))?;
        let released = {
            let mut registry = self.registry.lock();
            // The epoch goes first: whoever sees the new pointer then also
            // sees the new epoch, so a thread that got this version from
            // `load` never gets an older one from its `Reader` afterwards.
            self.hot.epoch.store(version.get(), Ordering::Release);
            let previous = self.hot.current.swap(Arc::clone(&candidate));
            let window = self.log_window(&candidate);
            self.lineage.log.lock().record(version, changed, window);
            registry.published(previous, &candidate)
        };
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.notify.published(version);
        self.schedule_index(&candidate, pending);
        Ok((version, Some(released)))
    }

    /// Validates the candidate and gives it its read index. `changed`: the
    /// keys this commit changed, if recorded. Returns the work left to the
    /// background builder, with the base's index: deriving the candidate's
    /// (a large commit), or folding the base's overlay when it was full.
    fn prepare(
        &self,
        candidate: &Arc<Published<K, V, S>>,
        base: &Published<K, V, S>,
        changed: Option<&[K]>,
    ) -> Result<Option<Pending<K, V, S>>, CommitError> {
        let current = base.version();
        if let Some(validator) = &self.config.validator {
            self.validate(
                validator,
                &Snapshot::from_arc(Arc::clone(candidate)),
                current,
            )?;
        }
        if !self.indexes(candidate) {
            return Ok(None);
        }
        let eager = self.config.read_index == ReadIndex::Eager;
        if !eager && changed.is_some_and(|keys| keys.len() > DERIVE_AT_COMMIT) {
            // A large commit: the builder derives its index right after.
            let view = base.index.effective_view();
            return Ok(Some((Need::Derive, view.map(|view| (current, view)))));
        }
        // Derive the index from the base version's in O(changed keys) when
        // possible; build it in full only under `Eager` (else the background
        // builder will).
        let indexed = catch_unwind(AssertUnwindSafe(|| {
            let map = &candidate.content.map;
            // A view the builder made since the base's was derived (on a
            // fresh table: a smaller overlay; or for an unindexed base):
            // rebase on it when the commit log reaches back. If it is the
            // base's own view or an ancestor, deriving fails at once.
            let rebased = changed.and_then(|changed| {
                let (built, view) = self.indexer.take_fresh()?;
                let since = if built == current {
                    Vec::new()
                } else {
                    self.lineage.keys_between(built, current)?
                };
                let keys = since.iter().flat_map(|k| k.iter()).chain(changed);
                view.derive(map, keys)
            });
            let base_view = base.index.effective_view();
            let derived = rebased.or_else(|| base_view.as_ref()?.derive(map, changed?));
            if let Some(view) = derived {
                candidate.index.set_view(view);
                return None;
            }
            // The base's overlay is full: fold it into a fresh table (here,
            // or on the builder) and derive from that.
            let fold = base_view.map(|view| (current, view));
            if !eager {
                // With the changes unknown (`replace_all`), nothing can be
                // derived: a full build, once the map is quiet.
                changed?;
                return Some((Need::Pressure, fold));
            }
            let folded = fold.and_then(|(_, view)| ReadView::on(view.fold()).derive(map, changed?));
            match folded {
                Some(view) => candidate.index.set_view(view),
                None => {
                    let table = build_table::<K, V, S>(map, self.backend.index_hasher(), || false);
                    candidate
                        .index
                        .set_table(table.expect("eager builds are never abandoned"));
                }
            }
            None
        }));
        match indexed {
            Ok(pending) => Ok(pending),
            Err(payload) => Err(CommitError::Panicked {
                current,
                during: "read index build",
                message: panic_message(&*payload),
            }),
        }
    }

    /// Runs the validator on `candidate`; a panic is a rejection too.
    pub(crate) fn validate(
        &self,
        validator: &Validator<K, V, S>,
        candidate: &Snapshot<K, V, S>,
        current: Version,
    ) -> Result<(), CommitError> {
        match catch_unwind(AssertUnwindSafe(|| validator(candidate))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(CommitError::Rejected {
                candidate: candidate.version(),
                current,
                reason,
            }),
            Err(payload) => Err(CommitError::Panicked {
                current,
                during: "validator",
                message: panic_message(&*payload),
            }),
        }
    }

    /// Whether versions like `published` get read indexes at all.
    fn indexes(&self, published: &Published<K, V, S>) -> bool {
        self.config.read_index != ReadIndex::Off && published.len() >= self.config.index_min_len
    }

    /// Changed keys the commit log must cover for the background builder:
    /// its fresh table (a fold of an overlay, O(n)) is rebased across the
    /// commits made meanwhile, which at 1M keys and ~100k commits/s run to
    /// thousands. Rebasing further than an overlay's bound would fail
    /// anyway.
    fn log_window(&self, published: &Published<K, V, S>) -> usize {
        match self.config.read_index {
            ReadIndex::Background { .. } if self.indexes(published) => {
                overlay_limit(published.len())
            }
            _ => 0,
        }
    }

    /// The live-version cap: after publishing, the new version and the one
    /// it replaces may both be alive, plus every older version a snapshot
    /// still holds. Wait for old snapshots to go, up to `max_live_wait`.
    fn wait_for_room(&self, candidate: Version) -> Result<(), CommitError> {
        let Some(limit) = self.config.max_live else {
            return Ok(());
        };
        let current = Version::new(candidate.get() - 1);
        let room = || self.registry.lock().live_retired() + 2 <= limit;
        if room() {
            return Ok(());
        }
        let started = Instant::now();
        let deadline = started + self.config.max_live_wait;
        if self.lineage.reclaim.wait_until(Some(deadline), room) {
            return Ok(());
        }
        Err(CommitError::TooManyLiveVersions {
            current,
            live: self.registry.lock().live_retired() + 1,
            limit,
            waited: started.elapsed(),
        })
    }

    pub(crate) fn record_failure(&self, error: &CommitError) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(error.to_string());
    }

    /// Under `Background`, asks the builder for a full index of a version
    /// that got none at commit, or for a compacted one (empty overlay)
    /// `quiet` after the first commit on its table.
    fn schedule_index(
        self: &Arc<Self>,
        published: &Arc<Published<K, V, S>>,
        pending: Option<Pending<K, V, S>>,
    ) {
        let ReadIndex::Background { quiet } = self.config.read_index else {
            return;
        };
        if !self.indexes(published) {
            return;
        }
        let index = &published.index;
        let (need, source) = match pending {
            Some(pending) => pending,
            None if !index.is_indexed() => (Need::Missing, None),
            None if index.is_compact() => return,
            None => {
                let need = if index.is_pressed(published.len()) {
                    Need::Pressure
                } else {
                    Need::Compaction
                };
                return self.indexer.request_current(self, quiet, need);
            }
        };
        self.indexer.schedule(self, published, quiet, need, source);
    }

    /// `synchronize_timeout`: waits until no published object older than the
    /// version current at the call is alive.
    pub(crate) fn synchronize(&self, deadline: Option<Instant>) -> bool {
        let target = self.current_version();
        self.lineage
            .reclaim
            .wait_until(deadline, || self.registry.lock().none_alive_before(target))
    }
}

impl<K, V, S: Backend<K, V>> Shared<K, V, S> {
    /// Called when the last `SnapMap` handle goes: no commit can follow.
    pub(crate) fn close(&self) {
        self.notify.close();
        self.indexer.shutdown();
    }
}
