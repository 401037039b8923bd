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
use crate::index::{build_table, ReadIndex, ReadView};
use crate::published::{Published, SnapKey, SnapValue};
use crate::sync::{fence, AtomicBool, AtomicU64, Condvar, Mutex, Ordering};
use crate::Version;

/// A build is due at most this many quiet periods after the first version
/// that asked for one, however often commits keep coming.
const MAX_WAIT_IN_QUIET_PERIODS: u32 = 5;

/// After a full build that took `t` (a walk of the persistent map), the
/// builder starts no other for `REST_PER_BUILD × t`.
const REST_PER_BUILD: u32 = 9;

/// After folding an overlay into a fresh table (a sequential copy, several
/// times cheaper than a walk), the builder rests as long as the fold took.
/// Folds are also paced by the commits themselves: one per
/// `overlay_pressure` changed keys (`len / 12`), so under steady commits a
/// fold costs about 12 copied entries per changed key, a small fraction of
/// the commits' own work. Resting longer would let the overlay fill up.
const REST_PER_FOLD: u32 = 1;

/// A compaction (a fold not forced by the overlay's size) starts no sooner
/// than this many times as long as the last fold or walk took after it
/// ended: under commits that never leave the map quiet (a config store
/// taking a commit every millisecond), overlays stay small, since reads
/// slow down as they grow, yet the builder uses at most 1/40 of a core on
/// them, and at 1M keys (a fold copies 16 MiB) no more than the folds the
/// overlay's size forces anyway.
const REST_PER_COMPACTION: u32 = 39;

/// Why a version asks the builder for its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// It has a view whose overlay could shrink: fold it `quiet` after the
    /// first commit that asked, rest permitting (`REST_PER_COMPACTION`).
    Compaction,
    /// It has no index at all: build once the map is quiet, or at the
    /// latest `MAX_WAIT_IN_QUIET_PERIODS` quiet periods after the first
    /// such request.
    Missing,
    /// Its overlay is filling up under steady commits (or it got no view
    /// because its base's overlay was full): fold the source's overlay into
    /// a fresh table now, so the writer can rebase later versions on it
    /// before the overlay outgrows its bound.
    Pressure,
    /// It changed too many keys to derive its view inside `commit`: derive
    /// it now from the given earlier version's view, in O(changed keys).
    Derive,
    /// Catching up from a fresh table failed (the commits made meanwhile
    /// outgrew the overlay's bound or the commit log's window): walk its
    /// map now, rest permitting, rather than wait for a quiet period that
    /// steady commits never leave.
    Walk,
}

/// An indexed version (the job's own, or an earlier one) whose view a job
/// derives from or folds into a fresh table.
pub(crate) type Source<K, V, S> = (Version, ReadView<K, V, S>);

pub(crate) struct Indexer<K, V, S: Backend<K, V>> {
    plan: Mutex<Plan<K, V, S>>,
    wake: Condvar,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The newest view the builder made (a fresh table, or a view derived
    /// for an unindexed version) and its version, for the writer to derive
    /// the next commit's view from (see `Shared::prepare`): it may be newer
    /// than the base's, or the base may have none.
    fresh: Mutex<Option<Source<K, V, S>>>,
    /// The need of the pending [`Request::Current`] (0: none, see
    /// [`Need::level`]): a commit whose request it already covers skips the
    /// plan lock. Written under the plan lock, read without it.
    wanted: AtomicU64,
}

struct Plan<K, V, S: Backend<K, V>> {
    /// Only the newest version is worth indexing: scheduling replaces.
    job: Option<Request<K, V, S>>,
    /// When the oldest request not yet served was made.
    waiting_since: Option<Instant>,
    /// No full build (a walk of the map) starts before this, no fold
    /// before `fold_rest_until` and no compaction before
    /// `compact_rest_until` (see `REST_PER_BUILD`, `REST_PER_FOLD`,
    /// `REST_PER_COMPACTION`). Separate, so that a long walk never holds
    /// back the folds that keep overlays from filling up.
    rest_until: Option<Instant>,
    fold_rest_until: Option<Instant>,
    compact_rest_until: Option<Instant>,
    /// A job is running: it ends by catching the current version up.
    busy: bool,
    stopped: bool,
}

/// What the builder is asked to do next.
enum Request<K, V, S: Backend<K, V>> {
    /// Index one version, captured when asked.
    Version(Job<K, V, S>),
    /// Compact (`Need::Compaction`) or fold (`Need::Pressure`) whichever
    /// version is current when the job starts, from its own view. Steady
    /// commits ask for this on every commit: the first asks, and later ones
    /// ride along on one atomic load, so a commit pays no lock, no clock
    /// read and no captured map, and the builder is never kept from the
    /// plan lock by a writer taking it a million times a second.
    Current {
        need: Need,
        /// For `Pressure`: when asked. For `Compaction`: `quiet` after the
        /// first commit that asked.
        due: Instant,
        quiet: Duration,
    },
}

impl<K, V, S: Backend<K, V>> Request<K, V, S> {
    fn due(&self) -> Instant {
        match self {
            Request::Version(job) => job.due,
            Request::Current { due, .. } => *due,
        }
    }
}

impl Need {
    /// How urgent a [`Request::Current`] is: a pending one covers the
    /// requests of equal or lower level.
    fn level(self) -> u64 {
        match self {
            Need::Compaction => 1,
            _ => 2,
        }
    }
}

struct Job<K, V, S: Backend<K, V>> {
    need: Need,
    version: Version,
    map: S::Map,
    target: Weak<Published<K, V, S>>,
    due: Instant,
    /// The view to derive from (`Need::Derive`) or fold (otherwise);
    /// without one, a full build walks `map`.
    source: Option<Source<K, V, S>>,
}

impl<K: SnapKey, V: SnapValue, S: Backend<K, V>> Indexer<K, V, S> {
    pub(crate) fn new() -> Self {
        Self {
            plan: Mutex::new(Plan {
                job: None,
                waiting_since: None,
                rest_until: None,
                fold_rest_until: None,
                compact_rest_until: None,
                busy: false,
                stopped: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
            fresh: Mutex::new(None),
            wanted: AtomicU64::new(0),
        }
    }

    /// Asks for the current version's overlay to be compacted soon
    /// (`Need::Compaction`) or folded now (`Need::Pressure`); see
    /// [`Request::Current`]. Called after every commit that derived its
    /// view.
    pub(crate) fn request_current(
        &self,
        shared: &Arc<Shared<K, V, S>>,
        quiet: Duration,
        need: Need,
    ) {
        // Pairs with the fence in `run`: either the builder's job, taken
        // after this load, sees our version (published before the call) as
        // current, or we see that it took the job and ask again.
        fence(Ordering::SeqCst);
        if self.wanted.load(Ordering::Relaxed) >= need.level() {
            return;
        }
        self.ask_current(shared, quiet, need, false);
    }

    /// Installs a [`Request::Current`], replacing any pending request
    /// unless `only_if_idle`.
    fn ask_current(
        &self,
        shared: &Arc<Shared<K, V, S>>,
        quiet: Duration,
        need: Need,
        only_if_idle: bool,
    ) {
        let wake = {
            let mut plan = self.plan.lock();
            if plan.stopped || (only_if_idle && plan.job.is_some()) {
                return;
            }
            if need == Need::Compaction {
                plan.waiting_since = None;
            }
            let now = Instant::now();
            let due = if need == Need::Compaction {
                now + quiet
            } else {
                now
            };
            let wake = plan.job.as_ref().is_none_or(|old| due < old.due());
            plan.job = Some(Request::Current { need, due, quiet });
            self.wanted.store(need.level(), Ordering::Relaxed);
            wake
        };
        if wake {
            self.wake.notify_all();
        }
        self.start_thread(shared);
    }

    /// The view the builder made last, if the writer has not taken it yet.
    /// `try_lock`: a commit never waits for the builder.
    pub(crate) fn take_fresh(&self) -> Option<Source<K, V, S>> {
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
            // A commit on top of a version whose index is still pending
            // takes over the pending job's source (the commit log covers
            // both commits); with none, it waits like any unindexed version.
            let (need, source) = match (need, source) {
                (Need::Derive | Need::Pressure, None) => match plan.job.take() {
                    Some(Request::Version(job)) if job.source.is_some() => (job.need, job.source),
                    Some(Request::Version(job)) if job.need == Need::Walk => (Need::Walk, None),
                    // The running job's catch-up (or the writer, from the
                    // view it leaves) will index this version.
                    _ if plan.busy => return,
                    // Its base lost its index under steady commits (the
                    // writer's rebase outgrew the overlay's bound).
                    _ => (Need::Walk, None),
                },
                other => other,
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
                Need::Pressure | Need::Derive | Need::Walk => now,
            };
            let wake = plan.job.as_ref().is_none_or(|old| due < old.due());
            plan.job = Some(Request::Version(Job {
                need,
                version: published.version(),
                map: published.content.map.clone(),
                target: Arc::downgrade(published),
                due,
                source,
            }));
            self.wanted.store(0, Ordering::Relaxed);
            wake
        };
        if wake {
            self.wake.notify_all();
        }
        self.start_thread(shared);
    }

    /// Starts the builder thread if it is not running yet.
    fn start_thread(&self, shared: &Arc<Shared<K, V, S>>) {
        let mut thread = self.thread.lock();
        // `shutdown` marks the plan stopped before it takes the handle: a
        // request racing with it (the builder's own, from `catch_up`)
        // never starts a thread nobody would join.
        if thread.is_none() && !self.plan.lock().stopped {
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

    fn next_job(&self) -> Option<Request<K, V, S>> {
        let mut plan = self.plan.lock();
        loop {
            if plan.stopped {
                return None;
            }
            // Resting holds back builds only: derivations are cheap.
            let start = plan.job.as_ref().map(|request| {
                let (rest, due) = match request {
                    Request::Version(job) => match (job.need, &job.source) {
                        (Need::Derive, _) => (None, job.due),
                        (_, Some(_)) => (plan.fold_rest_until, job.due),
                        (_, None) => (plan.rest_until, job.due),
                    },
                    Request::Current { need, due, .. } => {
                        let rest = match need {
                            Need::Compaction => plan.fold_rest_until.max(plan.compact_rest_until),
                            _ => plan.fold_rest_until,
                        };
                        (rest, *due)
                    }
                };
                rest.map_or(due, |rest| rest.max(due))
            });
            match start {
                None => {
                    self.wake.wait_until(&mut plan, None);
                }
                Some(at) if Instant::now() < at => {
                    self.wake.wait_until(&mut plan, Some(at));
                }
                Some(_) => {
                    plan.waiting_since = None;
                    plan.busy = true;
                    self.wanted.store(0, Ordering::Relaxed);
                    return plan.job.take();
                }
            }
        }
    }

    /// The running job is over, having done `work` in `took`.
    fn finished(&self, work: Option<&Work>, took: Duration) {
        let mut plan = self.plan.lock();
        plan.busy = false;
        let now = Instant::now();
        match work {
            Some(Work::Built) => plan.rest_until = Some(now + took * REST_PER_BUILD),
            Some(Work::Folded) => plan.fold_rest_until = Some(now + took * REST_PER_FOLD),
            _ => return,
        }
        plan.compact_rest_until = Some(now + took * REST_PER_COMPACTION);
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
    while let Some(request) = indexer.next_job() {
        let job = match request {
            Request::Version(job) => job,
            Request::Current { need, due, quiet } => {
                // See `request_current`.
                fence(Ordering::SeqCst);
                let current = shared.current().load_full();
                let Some(view) = current.index.effective_view() else {
                    // Published unindexed since: its own request follows.
                    indexer.finished(None, Duration::ZERO);
                    continue;
                };
                // The writer rebased on the last fold since it asked for
                // this one: no fold is due, only a compaction later.
                if need == Need::Pressure && !current.index.is_pressed(current.len()) {
                    indexer.finished(None, Duration::ZERO);
                    indexer.ask_current(shared, quiet, Need::Compaction, true);
                    continue;
                }
                Job {
                    need,
                    version: current.version(),
                    map: current.content.map.clone(),
                    target: Arc::downgrade(&current),
                    due,
                    source: Some((current.version(), view)),
                }
            }
        };
        let version = job.version;
        let started = Instant::now();
        // Everything that can run user code (Hash, Clone, and Drop when the
        // job's map or target turns out to be the last handle) is caught:
        // the builder outlives any panic and lookups keep working.
        let outcome = catch_unwind(AssertUnwindSafe(|| build(shared, job)));
        // Rest after each build: under steady commits that keep asking for
        // full builds, the builder uses at most about a tenth of a core.
        indexer.finished(outcome.as_ref().ok(), started.elapsed());
        if let Err(payload) = outcome {
            *shared.last_error.lock() = Some(format!(
                "read index build for version {version} panicked: {}; \
                 lookups keep using the persistent map",
                panic_message(&*payload)
            ));
        }
    }
}

/// What a job turned out to need.
enum Work {
    Nothing,
    Derived,
    /// An overlay folded into a copy of its table.
    Folded,
    /// A walk of the persistent map.
    Built,
}

/// Gives the job's version its index: derived from the job's source for
/// `Need::Derive` when the source's overlay has room, else a full build
/// (folding the source's overlay into a copy of its table when there is a
/// source, walking the map otherwise), which is also handed to the writer
/// for rebasing later commits. Then brings the current version up to date,
/// if the writer committed on top of an unindexed version meanwhile.
fn build<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    shared: &Arc<Shared<K, V, S>>,
    job: Job<K, V, S>,
) -> Work {
    let target = job.target.upgrade();
    if target.as_ref().is_some_and(|t| t.index.is_compact()) {
        return Work::Nothing; // already has its own table
    }
    let derived = job.source.as_ref().filter(|_| job.need == Need::Derive);
    let derived = derived.and_then(|(from, view)| {
        let target = target.as_ref()?;
        if target.index.is_indexed() {
            return target.index.effective_view();
        }
        let since = shared.lineage.keys_between(*from, job.version)?;
        let view = view.derive(&job.map, since.iter().flat_map(|keys| keys.iter()))?;
        target.index.set_view(view.clone());
        Some(view)
    });
    if let Some(view) = derived {
        let built = job.version;
        drop((job, target));
        catch_up(shared, built, view);
        return Work::Derived;
    }
    let (built, table, work) = match &job.source {
        Some((from, view)) => (*from, view.fold(), Work::Folded),
        None => {
            let stop = || shared.indexer.stop.load(Ordering::Relaxed);
            match build_table::<K, V, S>(&job.map, shared.backend.index_hasher(), stop) {
                Some(table) => (job.version, table, Work::Built),
                None => return Work::Nothing, // stopped
            }
        }
    };
    if let Some(target) = target.as_ref().filter(|t| t.version() == built) {
        target.index.set_table(Arc::clone(&table));
    }
    drop((job, target));
    catch_up(shared, built, ReadView::on(table));
    work
}

/// Derives the current version's view from `view` (of version `from`) if
/// it has none: the writer may have committed on top of an unindexed
/// version meanwhile. Each view extends the last (views of one table form
/// a chain); if the writer rebased a commit on the same table first, the
/// derivation fails and the writer's view stands.
fn catch_up<K: SnapKey, V: SnapValue, S: Backend<K, V>>(
    shared: &Arc<Shared<K, V, S>>,
    mut from: Version,
    mut view: ReadView<K, V, S>,
) {
    loop {
        *shared.indexer.fresh.lock() = Some((from, view.clone()));
        let current = shared.current().load_full();
        if current.version() <= from || current.index.is_indexed() {
            return;
        }
        let newest = view.is_newest();
        let caught_up = shared
            .lineage
            .keys_between(from, current.version())
            .and_then(|since| {
                let keys = since.iter().flat_map(|keys| keys.iter());
                view.derive(&current.content.map, keys)
            });
        match caught_up {
            Some(caught_up) => {
                current.index.set_view(caught_up.clone());
                (from, view) = (current.version(), caught_up);
            }
            // Lost a race to the writer (which then derived from this view
            // itself), or too far behind: walk the current version's map.
            None if !newest => return,
            None => {
                let ReadIndex::Background { quiet } = shared.config.read_index else {
                    return;
                };
                return shared
                    .indexer
                    .schedule(shared, &current, quiet, Need::Walk, None);
            }
        }
    }
}
