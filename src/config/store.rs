//! `ConfigStore`: the published config, reloads and rollbacks.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::builder::ConfigBuilder;
use crate::config::error::ConfigError;
use crate::config::hash::content_hash;
use crate::config::snapshot::ConfigSnapshot;
use crate::config::source::{FileRead, Sources};
use crate::config::watch::{self, WatchGuard, WatchSettings};
use crate::{Ordered, SnapOrdMap, Stats, Subscriber, Version};

/// A hot-reloadable config: typed reads of immutable versions, loaded from
/// layered sources, validated before publication, reloaded on demand or by
/// a file watcher. A cheap handle: clones share one store.
///
/// See the [module docs](crate::config) for the whole story.
#[derive(Clone)]
pub struct ConfigStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    map: SnapOrdMap<String, Value>,
    pub(crate) sources: Sources,
    pub(crate) watch: WatchSettings,
    /// Serializes reloads (explicit, and the watchers'); holds the
    /// fingerprint of the file contents the last reload read, so a watcher
    /// can tell whether anything changed since.
    pub(crate) reloading: Mutex<u64>,
    reloads: AtomicU64,
    published: AtomicU64,
    unchanged: AtomicU64,
    rejected: AtomicU64,
    stale: AtomicBool,
    last_error: Mutex<Option<ConfigError>>,
    pub(crate) watchers: AtomicUsize,
    pub(crate) checks: AtomicU64,
}

/// A point-in-time report on a store: `store.stats()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConfigStats {
    /// The current version.
    pub version: Version,
    /// Reloads attempted (explicit ones and the watchers'), since the
    /// store was built.
    pub reloads: u64,
    /// Reloads that published a new version.
    pub published: u64,
    /// Reloads whose content equalled the current version's: nothing to
    /// publish.
    pub unchanged: u64,
    /// Reloads and rollbacks that failed and published nothing (read,
    /// parse and validation errors alike).
    pub rejected: u64,
    /// Whether the last reload failed: the sources currently do not give a
    /// publishable config, and the current version is the last good one.
    pub stale: bool,
    /// The most recent error: a failed reload or rollback, or a watcher
    /// problem. Kept after later successes; see `stale` for the present.
    pub last_error: Option<ConfigError>,
    /// Watchers running.
    pub watchers: usize,
    /// Times a watcher read the files to look for a change (each poll, and
    /// each quiet period after file events).
    pub checks: u64,
    /// The core map's own report (versions alive, history, subscribers…).
    pub map: Stats,
}

impl ConfigStore {
    /// Options for a new store: sources, validator, history, watch
    /// settings.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    pub(crate) fn new(
        map: SnapOrdMap<String, Value>,
        sources: Sources,
        fingerprint: u64,
        watch: WatchSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                map,
                sources,
                watch,
                reloading: Mutex::new(fingerprint),
                reloads: AtomicU64::new(0),
                published: AtomicU64::new(0),
                unchanged: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                stale: AtomicBool::new(false),
                last_error: Mutex::new(None),
                watchers: AtomicUsize::new(0),
                checks: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The current version, for several consistent reads. Never blocks.
    pub fn snapshot(&self) -> ConfigSnapshot {
        ConfigSnapshot::from(self.inner.map.load())
    }

    /// The value at `key` in the current version as a `T`; see
    /// [`ConfigSnapshot::get`]. For several keys that must agree, read them
    /// from one [`snapshot`](Self::snapshot).
    ///
    /// # Panics
    ///
    /// Only if `T`'s `Deserialize` panics; reads publish nothing.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        self.snapshot().get(key)
    }

    /// The table at `prefix` of the current version as a `T`; see
    /// [`ConfigSnapshot::extract`].
    ///
    /// # Panics
    ///
    /// Only if `T`'s `Deserialize` panics; reads publish nothing.
    pub fn extract<T: DeserializeOwned>(&self, prefix: &str) -> Result<T, ConfigError> {
        self.snapshot().extract(prefix)
    }

    /// A clone of the raw value stored under exactly `key`.
    pub fn value(&self, key: &str) -> Option<Value> {
        self.inner.map.get(key)
    }

    /// The current version number.
    pub fn version(&self) -> Version {
        self.inner.map.version()
    }

    /// Reads every source, parses, layers and validates the result, and
    /// publishes it if its content differs from the current version's
    /// (labelled with its content hash). Returns the version current
    /// afterwards: a new one, or the same one when nothing changed.
    ///
    /// On any failure nothing is published, the last good version stays
    /// current, and the error is returned and recorded
    /// ([`last_error`](Self::last_error), `stats().rejected`,
    /// `stats().stale`). Subscribers are woken by each new version.
    ///
    /// # Panics
    ///
    /// A panicking validator is reported as
    /// [`ConfigError::ValidatorPanicked`], not propagated; nothing is
    /// published.
    pub fn reload(&self) -> Result<Version, ConfigError> {
        let mut last_read = self.inner.reloading.lock();
        let reads = self.inner.sources.read_files();
        *last_read = Sources::fingerprint(&reads);
        self.inner.apply(reads)
    }

    /// Starts a background thread that reloads when the files change, and
    /// returns the guard that stops it (on drop or
    /// [`WatchGuard::stop`]). See the
    /// [module docs](crate::config#watching-files) for what it survives.
    ///
    /// Problems watching (a directory that cannot be watched, lost events)
    /// are recorded in [`last_error`](Self::last_error) and never stop the
    /// watcher; polling keeps it going.
    ///
    /// # Panics
    ///
    /// The validator runs on the watcher thread; a panic in it rejects the
    /// candidate as in [`reload`](Self::reload), and the watcher goes on.
    pub fn watch(&self) -> Result<WatchGuard, ConfigError> {
        watch::spawn(self.clone())
    }

    /// A subscriber woken by every new version (reloads and rollbacks). Its
    /// snapshots convert with `ConfigSnapshot::from`.
    pub fn subscribe(&self) -> Subscriber<String, Value, Ordered> {
        self.inner.map.subscribe()
    }

    /// The versions the history keeps, oldest first, current last.
    pub fn history(&self) -> Vec<Version> {
        self.inner.map.history()
    }

    /// A version the history still keeps.
    pub fn at(&self, version: Version) -> Option<ConfigSnapshot> {
        self.inner.map.at(version).map(ConfigSnapshot::from)
    }

    /// Publishes a new version with the content (and content hash) of
    /// `version`, which the history must still keep; the validator checks
    /// it like any candidate.
    ///
    /// The rollback lasts until the sources change: a watcher does not
    /// undo it while the files stay as they are, but the next change (or
    /// an explicit [`reload`](Self::reload)) publishes the sources again.
    ///
    /// # Panics
    ///
    /// A panicking validator is reported as
    /// [`ConfigError::ValidatorPanicked`]; nothing is published.
    pub fn rollback_to(&self, version: Version) -> Result<Version, ConfigError> {
        let _reloading = self.inner.reloading.lock();
        self.inner.map.rollback_to(version).map_err(|error| {
            let kept = error.current();
            self.inner
                .failed(ConfigError::from_commit(error, Some(kept)), false)
        })
    }

    /// The most recent error: a failed reload or rollback, or a watcher
    /// problem. It stays after later successes (`stats().stale` tells
    /// whether the sources are failing now).
    pub fn last_error(&self) -> Option<ConfigError> {
        self.inner.last_error.lock().clone()
    }

    /// Counters and the core map's stats; see [`ConfigStats`].
    pub fn stats(&self) -> ConfigStats {
        let inner = &self.inner;
        ConfigStats {
            version: inner.map.version(),
            reloads: inner.reloads.load(Ordering::Relaxed),
            published: inner.published.load(Ordering::Relaxed),
            unchanged: inner.unchanged.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            stale: inner.stale.load(Ordering::Relaxed),
            last_error: inner.last_error.lock().clone(),
            watchers: inner.watchers.load(Ordering::Relaxed),
            checks: inner.checks.load(Ordering::Relaxed),
            map: inner.map.stats(),
        }
    }
}

impl Inner {
    /// Layers what was read, and publishes it if it differs from the
    /// current version. The caller holds `reloading`.
    pub(crate) fn apply(&self, reads: Vec<FileRead>) -> Result<Version, ConfigError> {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        let entries = match self.sources.layer(reads) {
            Ok(entries) => entries,
            Err(error) => return Err(self.failed(error.keeping(Some(self.map.version())), true)),
        };
        let hash = content_hash(&entries);
        let mut txn = self.map.write();
        let base = txn.base_version();
        // The writer lock is held: this is the base version.
        let current = self.map.load();
        if current.label() == Some(hash.as_str()) {
            drop(txn);
            self.succeeded(false);
            return Ok(base);
        }
        // Only the keys that differ go into the commit, so diffs and change
        // logs name exactly what the reload changed.
        for key in current.keys() {
            if !entries.contains_key(key) {
                txn.remove(key.as_str());
            }
        }
        for (key, value) in entries {
            if current.get(key.as_str()) != Some(&value) {
                txn.insert(key, value);
            }
        }
        txn.label(hash);
        match txn.commit() {
            Ok(version) => {
                self.succeeded(version != base);
                Ok(version)
            }
            Err(error) => Err(self.failed(ConfigError::from_commit(error, Some(base)), true)),
        }
    }

    fn succeeded(&self, published: bool) {
        let counter = if published {
            &self.published
        } else {
            &self.unchanged
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.stale.store(false, Ordering::Relaxed);
    }

    /// Records a failed reload (`reload`) or rollback and hands the error
    /// back.
    fn failed(&self, error: ConfigError, reload: bool) -> ConfigError {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        if reload {
            self.stale.store(true, Ordering::Relaxed);
        }
        self.record(error.clone());
        error
    }

    /// Records an error that is not a failed reload (a watcher problem).
    pub(crate) fn record(&self, error: ConfigError) {
        *self.last_error.lock() = Some(error);
    }
}

impl fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<_> = self
            .inner
            .sources
            .files
            .iter()
            .map(|(file, _)| file.path())
            .collect();
        f.debug_struct("ConfigStore")
            .field("version", &self.version())
            .field("files", &files)
            .field("watchers", &self.inner.watchers.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
