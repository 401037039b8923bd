//! Derived read indexes: a flat hash table per version, built off the read
//! path, so exact lookups run at flat-table speed while writes stay
//! O(log n) on the persistent map.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Index};
use crate::core::Shared;
use crate::error::panic_message;
use crate::published::{Published, SnapKey, SnapValue};
use crate::sync::{AtomicBool, Condvar, Mutex, Ordering};
use crate::Version;

/// When a version gets its derived read index (a flat hash table with
/// clones of the version's keys and values, used by exact lookups: `get`,
/// `contains_key`, `get_key_value`).
///
/// Iteration, `range`, `prefix`, `longest_prefix` and `diff` always use the
/// persistent map; lookups give the same answers with or without an index.
/// An index roughly doubles the memory of the version it belongs to (it
/// holds clones of its keys and values: keep values cheap to clone, e.g.
/// `Arc<T>`), and only the current version and snapshots still holding old
/// versions keep indexes alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadIndex {
    /// Never build one: lookups walk the persistent map (O(log n), a few
    /// dependent cache misses).
    Off,
    /// Build the index inside `commit`, before publishing: the commit pays
    /// O(n) and every reader is fast from its first read. Right for config
    /// reloads and other small or rarely changing maps.
    Eager,
    /// Build the index on a background thread the map owns once a version
    /// has stayed current for `quiet`. Commits never wait for it; a build
    /// whose version is superseded is abandoned. Right for routing tables
    /// and caches that take bursts of updates.
    Background {
        /// How long a version must stay current before its index is built.
        quiet: Duration,
    },
}

impl Default for ReadIndex {
    /// `Background { quiet: 20 ms }` (with the builder's default
    /// `read_index_min_len`): see BENCHMARKS.md for the measurements behind it.
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
    /// Entries in the index (the version's length).
    pub entries: usize,
    /// Approximate bytes of the table itself: buckets of `(K, V)` plus
    /// control bytes. Heap memory owned by keys and values is not counted.
    pub approx_bytes: usize,
}

impl IndexStats {
    pub(crate) fn of<K, V, H>(index: &HashMap<K, V, H>) -> Self {
        let buckets = index.capacity().next_power_of_two().max(1);
        Self {
            entries: index.len(),
            approx_bytes: buckets * (std::mem::size_of::<(K, V)>() + 1),
        }
    }
}

/// Builds the index of `map`, checking `abandon` every 1024 entries.
pub(crate) fn build_index<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    map: &S::Map,
    hasher: S::IndexHasher,
    abandon: impl Fn() -> bool,
) -> Option<Index<K, V, S>> {
    let mut index = HashMap::with_capacity_and_hasher(S::len(map), hasher);
    for (i, (k, v)) in S::iter(map).enumerate() {
        if i % 1024 == 0 && abandon() {
            return None;
        }
        index.insert(k.clone(), v.clone());
    }
    Some(index)
}

/// The background builder of `ReadIndex::Background`: one thread per map,
/// started on the first build it is asked for, stopped when the last
/// `SnapMap` handle is dropped.
pub(crate) struct Indexer<K, V, S: Backend<K, V>> {
    plan: Mutex<Plan<K, V, S>>,
    wake: Condvar,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Plan<K, V, S: Backend<K, V>> {
    /// Only the newest version is worth indexing: scheduling replaces.
    job: Option<Job<K, V, S>>,
    stopped: bool,
}

struct Job<K, V, S: Backend<K, V>> {
    version: Version,
    map: S::Map,
    target: Weak<Published<K, V, S>>,
    due: Instant,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Indexer<K, V, S> {
    pub(crate) fn new() -> Self {
        Self {
            plan: Mutex::new(Plan {
                job: None,
                stopped: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Asks for `published` to be indexed once it has been current for
    /// `quiet`. Never blocks on a build in progress.
    pub(crate) fn schedule(
        &self,
        shared: &Arc<Shared<K, V, S>>,
        published: &Arc<Published<K, V, S>>,
        quiet: Duration,
    ) {
        {
            let mut plan = self.plan.lock();
            if plan.stopped {
                return;
            }
            plan.job = Some(Job {
                version: published.version(),
                map: published.content.map.clone(),
                target: Arc::downgrade(published),
                due: Instant::now() + quiet,
            });
        }
        self.wake.notify_all();
        let mut thread = self.thread.lock();
        if thread.is_none() {
            let worker = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("snapmap-index".into())
                .spawn(move || run(&worker));
            match spawned {
                Ok(handle) => *thread = Some(handle),
                Err(e) => {
                    self.plan.lock().stopped = true;
                    *shared.last_error.lock() = Some(format!(
                        "could not start the read-index builder thread ({e}); lookups keep using the persistent map"
                    ));
                }
            }
        }
    }

    fn next_job(&self) -> Option<Job<K, V, S>> {
        let mut plan = self.plan.lock();
        loop {
            if plan.stopped {
                return None;
            }
            match plan.job.as_ref().map(|job| job.due) {
                None => {
                    self.wake.wait_until(&mut plan, None);
                }
                Some(due) if Instant::now() < due => {
                    self.wake.wait_until(&mut plan, Some(due));
                }
                Some(_) => return plan.job.take(),
            }
        }
    }
}

impl<K, V, S: Backend<K, V>> Indexer<K, V, S> {
    /// Stops the builder thread and waits for it (a build in progress notices
    /// within 1024 entries).
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        {
            let mut plan = self.plan.lock();
            plan.stopped = true;
            plan.job = None;
        }
        self.wake.notify_all();
        let handle = self.thread.lock().take();
        if let Some(handle) = handle {
            // The worker catches panics from user code; a join error would
            // only repeat one we already recorded.
            let _ = handle.join();
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.thread
            .lock()
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }
}

fn run<K: SnapKey, V: SnapValue, S: Backend<K, V>>(shared: &Arc<Shared<K, V, S>>) {
    let indexer = &shared.indexer;
    while let Some(job) = indexer.next_job() {
        let version = job.version;
        let superseded = || indexer.stop.load(Ordering::Relaxed) || shared.epoch() != version.get();
        // Everything that can run user code (Hash, Clone, and Drop when the
        // job's map or target turns out to be the last handle) is caught:
        // the builder outlives any panic and lookups keep working.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if superseded() {
                return;
            }
            let Some(index) =
                build_index::<K, V, S>(&job.map, shared.backend.index_hasher(), superseded)
            else {
                return;
            };
            if let Some(target) = job.target.upgrade() {
                let _ = target.index.set(index);
            }
            drop(job);
        }));
        if let Err(payload) = outcome {
            *shared.last_error.lock() = Some(format!(
                "read index build for version {version} panicked: {}; lookups keep using the persistent map",
                panic_message(&*payload)
            ));
        }
    }
}
