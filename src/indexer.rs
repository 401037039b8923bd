//! The background builder of `ReadIndex::Background`: one named thread per
//! map, started on the first build it is asked for, stopped (and joined)
//! when the last `SnapMap` handle is dropped.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::core::Shared;
use crate::error::panic_message;
use crate::index::{build_table, ReadView, Table};
use crate::published::{Published, SnapKey, SnapValue};
use crate::sync::{AtomicBool, Condvar, Mutex, Ordering};
use crate::Version;

/// A build is due at most this many quiet periods after the first version
/// that asked for one, however often commits keep coming.
const MAX_WAIT_IN_QUIET_PERIODS: u32 = 5;

/// A finished table and the version it was built from.
pub(crate) type Built<K, V, S> = (Version, Table<K, V, S>);

/// After a build that took `t`, the builder starts no other for
/// `REST_PER_BUILD × t`.
const REST_PER_BUILD: u32 = 9;

/// Why a version asks the builder for its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// It has a view whose overlay could shrink: build once the map is
    /// quiet.
    Compaction,
    /// It has no index at all: build once the map is quiet, or at the
    /// latest `MAX_WAIT_IN_QUIET_PERIODS` quiet periods after the first
    /// such request.
    Missing,
    /// Its overlay is filling up under steady commits: build now, so the
    /// writer can rebase later versions on a fresh table before the overlay
    /// outgrows its bound.
    Pressure,
    /// It changed too many keys to derive its view inside `commit`: derive
    /// it now from the given earlier version's view, in O(changed keys).
    Derive,
}

/// An indexed earlier version to derive a job's view from.
pub(crate) type Source<K, V, S> = (Version, ReadView<K, V, S>);

pub(crate) struct Indexer<K, V, S: Backend<K, V>> {
    plan: Mutex<Plan<K, V, S>>,
    wake: Condvar,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The newest table the builder finished, for the writer to rebase the
    /// next commit's view on (see `Shared::prepare`).
    fresh: Mutex<Option<Built<K, V, S>>>,
}

struct Plan<K, V, S: Backend<K, V>> {
    /// Only the newest version is worth indexing: scheduling replaces.
    job: Option<Job<K, V, S>>,
    /// When the oldest request not yet served was made.
    waiting_since: Option<Instant>,
    /// No build starts before this (see `REST_PER_BUILD`).
    rest_until: Option<Instant>,
    stopped: bool,
}

struct Job<K, V, S: Backend<K, V>> {
    version: Version,
    map: S::Map,
    target: Weak<Published<K, V, S>>,
    due: Instant,
    /// For `Need::Derive`: derive instead of building in full.
    source: Option<Source<K, V, S>>,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Indexer<K, V, S> {
    pub(crate) fn new() -> Self {
        Self {
            plan: Mutex::new(Plan {
                job: None,
                waiting_since: None,
                rest_until: None,
                stopped: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
            fresh: Mutex::new(None),
        }
    }

    /// The table the builder finished last, if the writer has not taken it
    /// yet. `try_lock`: a commit never waits for the builder.
    pub(crate) fn take_fresh(&self) -> Option<Built<K, V, S>> {
        self.fresh.try_lock()?.take()
    }

    /// Asks for a full index of `published`, when `need` says (see
    /// [`Need`]). Replaces any older request. Never blocks on a build in
    /// progress, and wakes the builder only when the request is due sooner
    /// than the one it is sleeping on: a stream of commits costs the
    /// builder one wakeup per quiet period, not one per commit.
    pub(crate) fn schedule(
        &self,
        shared: &Arc<Shared<K, V, S>>,
        published: &Arc<Published<K, V, S>>,
        quiet: Duration,
        need: Need,
        source: Option<Source<K, V, S>>,
    ) {
        let wake = {
            let mut plan = self.plan.lock();
            if plan.stopped {
                return;
            }
            // A derivation on top of one still pending derives from the
            // pending one's source: the log covers both commits.
            let source = match (need, source) {
                (Need::Derive, None) => plan.job.take().and_then(|job| job.source),
                (_, source) => source,
            };
            let now = Instant::now();
            let due = match need {
                Need::Compaction => {
                    plan.waiting_since = None;
                    now + quiet
                }
                Need::Missing => {
                    let since = *plan.waiting_since.get_or_insert(now);
                    (now + quiet).min(since + quiet * MAX_WAIT_IN_QUIET_PERIODS)
                }
                Need::Pressure | Need::Derive => now,
            };
            let wake = plan.job.as_ref().is_none_or(|old| due < old.due);
            plan.job = Some(Job {
                version: published.version(),
                map: published.content.map.clone(),
                target: Arc::downgrade(published),
                due,
                source,
            });
            wake
        };
        if wake {
            self.wake.notify_all();
        }
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
                        "could not start the read-index builder thread ({e}); \
                         lookups keep using the persistent map"
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
            // Resting holds back full builds only: derivations are cheap.
            let start = match (&plan.job, plan.rest_until) {
                (None, _) => None,
                (Some(job), Some(rest)) if job.source.is_none() => Some(rest.max(job.due)),
                (Some(job), _) => Some(job.due),
            };
            match start {
                None => {
                    self.wake.wait_until(&mut plan, None);
                }
                Some(at) if Instant::now() < at => {
                    self.wake.wait_until(&mut plan, Some(at));
                }
                Some(_) => {
                    plan.waiting_since = None;
                    plan.rest_until = None;
                    return plan.job.take();
                }
            }
        }
    }

    fn rest(&self, until: Instant) {
        self.plan.lock().rest_until = Some(until);
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
            // only repeat one already recorded.
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
        let started = Instant::now();
        // Everything that can run user code (Hash, Clone, and Drop when the
        // job's map or target turns out to be the last handle) is caught:
        // the builder outlives any panic and lookups keep working.
        let outcome = catch_unwind(AssertUnwindSafe(|| build(shared, job)));
        match outcome {
            // Rest after each full build: under steady commits that keep
            // asking for builds, the builder uses at most about a tenth of a
            // core.
            Ok(Work::Built) => indexer.rest(Instant::now() + started.elapsed() * REST_PER_BUILD),
            Ok(Work::Derived | Work::Nothing) => {}
            Err(payload) => {
                *shared.last_error.lock() = Some(format!(
                    "read index build for version {version} panicked: {}; \
                     lookups keep using the persistent map",
                    panic_message(&*payload)
                ));
            }
        }
    }
}

/// What a job turned out to need.
enum Work {
    Nothing,
    Derived,
    Built,
}

/// Gives the job's version its index: derived from the job's source when it
/// has one and the log covers the gap, else built in full (then also handed
/// to the writer for rebasing later commits). Then brings the current
/// version up to date, if the writer committed on top of an unindexed
/// version meanwhile.
fn build<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    shared: &Arc<Shared<K, V, S>>,
    job: Job<K, V, S>,
) -> Work {
    let target = job.target.upgrade();
    if target.as_ref().is_some_and(|t| t.index.is_compact()) {
        return Work::Nothing; // already has its own table
    }
    let derived = job.source.as_ref().and_then(|(from, view)| {
        let target = target.as_ref()?;
        if target.index.is_indexed() {
            return target.index.effective_view();
        }
        let since = shared.lineage.keys_between(*from, job.version)?;
        let view = view.derive(&job.map, since.iter().flat_map(|keys| keys.iter()))?;
        target.index.set_view(view.clone());
        Some(view)
    });
    let (view, work) = match derived {
        Some(view) => (view, Work::Derived),
        None => {
            let stop = || shared.indexer.stop.load(Ordering::Relaxed);
            let Some(table) = build_table::<K, V, S>(&job.map, shared.backend.index_hasher(), stop)
            else {
                return Work::Nothing; // stopped
            };
            if let Some(target) = &target {
                target.index.set_table(Arc::clone(&table));
            }
            *shared.indexer.fresh.lock() = Some((job.version, Arc::clone(&table)));
            (ReadView::on(table), Work::Built)
        }
    };
    let built = job.version;
    drop((job, target));
    catch_up(shared, built, &view);
    work
}

/// Derives the current version's view from `view` (of version `from`) if
/// it has none: the writer may have committed on top of an unindexed
/// version meanwhile.
fn catch_up<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    shared: &Arc<Shared<K, V, S>>,
    from: Version,
    view: &ReadView<K, V, S>,
) {
    loop {
        let current = shared.current().load_full();
        if current.version() <= from || current.index.is_indexed() {
            return;
        }
        let Some(since) = shared.lineage.keys_between(from, current.version()) else {
            return;
        };
        match view.derive(
            &current.content.map,
            since.iter().flat_map(|keys| keys.iter()),
        ) {
            Some(caught_up) => current.index.set_view(caught_up),
            None => return,
        }
    }
}
