//! The file watcher: a named background thread that reloads the store when
//! its files change, driven by file events on the files' directories and
//! by polling, debounced, deciding on content hashes.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::config::error::ConfigError;
use crate::config::source::Sources;
use crate::config::store::ConfigStore;

/// The watcher thread's name (15 bytes at most: Linux truncates longer
/// thread names).
pub const WATCH_THREAD_NAME: &str = "snapmap-config";

/// Default [`ConfigBuilder::debounce`](crate::config::ConfigBuilder::debounce).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// Default [`ConfigBuilder::poll_interval`](crate::config::ConfigBuilder::poll_interval).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Longest symlink chain followed to find what to watch.
const MAX_LINK_HOPS: usize = 16;

/// How the watcher runs (set on the builder).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WatchSettings {
    pub(crate) debounce: Duration,
    pub(crate) poll_interval: Option<Duration>,
    pub(crate) file_events: bool,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            debounce: DEFAULT_DEBOUNCE,
            poll_interval: Some(DEFAULT_POLL_INTERVAL),
            file_events: true,
        }
    }
}

impl WatchSettings {
    /// However busy the files are, a check happens this long after the
    /// first change of a burst.
    fn max_delay(&self) -> Duration {
        self.debounce.saturating_mul(10)
    }
}

enum Message {
    Event(notify::Result<Event>),
    Stop,
}

/// Keeps a watcher running: [`ConfigStore::watch`]. Dropping it (or
/// calling [`stop`](Self::stop)) stops the watcher thread and waits for it
/// to finish, including a reload it is in the middle of.
#[must_use = "the watcher stops when the guard is dropped"]
pub struct WatchGuard {
    stop: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl WatchGuard {
    /// Stops the watcher and waits for its thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Whether the watcher thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            // A guard dropped on the watcher thread itself (from inside a
            // validator) cannot wait for its own end; the thread sees the
            // stop message when the validator returns.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchGuard")
            .field("running", &self.is_running())
            .finish()
    }
}

pub(crate) fn spawn(store: ConfigStore) -> Result<WatchGuard, ConfigError> {
    let (sender, receiver) = mpsc::channel();
    let events = sender.clone();
    store.inner().watchers.fetch_add(1, Ordering::Relaxed);
    let running = Running(store.clone());
    let thread = thread::Builder::new()
        .name(WATCH_THREAD_NAME.to_owned())
        .spawn(move || {
            let running = running;
            Watch::new(running.0.clone()).run(&receiver, events);
        })
        .map_err(|error| ConfigError::Watch {
            path: None,
            message: format!("cannot start the watcher thread: {error}"),
        })?;
    Ok(WatchGuard {
        stop: sender,
        thread: Some(thread),
    })
}

/// Counts the watcher in `stats().watchers` for as long as it lives.
struct Running(ConfigStore);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.inner().watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A change is waiting for the files to go quiet.
#[derive(Clone, Copy)]
struct Pending {
    first: Instant,
    due: Instant,
}

enum Check {
    /// The files read as when last loaded.
    Unchanged,
    /// The files changed since the last read: wait to see them settle.
    Settling,
    /// A reload ran (published, found nothing new, or failed and recorded
    /// its error).
    Reloaded,
}

/// The watcher thread's state.
struct Watch {
    store: ConfigStore,
    settings: WatchSettings,
    events: Option<RecommendedWatcher>,
    /// Directories to watch, and whether watching each works.
    dirs: Vec<(PathBuf, DirState)>,
    /// File names whose events matter: the files, and the names along
    /// their symlink chains (a ConfigMap's `..data`).
    names: HashSet<OsString>,
    pending: Option<Pending>,
    /// The fingerprint of the last check's read, when it differed from
    /// what was loaded: the files must read the same twice in a row,
    /// `debounce` apart, before they are loaded.
    settling: Option<u64>,
}

impl Watch {
    fn new(store: ConfigStore) -> Self {
        let settings = store.inner().watch;
        Self {
            store,
            settings,
            events: None,
            dirs: Vec::new(),
            names: HashSet::new(),
            pending: None,
            settling: None,
        }
    }

    fn run(mut self, receiver: &Receiver<Message>, events: Sender<Message>) {
        if self.settings.file_events {
            match notify::recommended_watcher(move |event| {
                let _ = events.send(Message::Event(event));
            }) {
                Ok(watcher) => self.events = Some(watcher),
                Err(error) => self.store.inner().record(ConfigError::Watch {
                    path: None,
                    message: format!("file events are unavailable ({error}); polling only"),
                }),
            }
        }
        self.retarget();
        // Catch changes made between loading and watching.
        let now = Instant::now();
        self.pending = Some(Pending {
            first: now,
            due: now,
        });
        let mut next_poll = self.settings.poll_interval.map(|interval| now + interval);
        loop {
            let wake = [self.pending.map(|p| p.due), next_poll]
                .into_iter()
                .flatten()
                .min();
            let message = match wake {
                Some(at) => receiver.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Message::Event(Ok(event))) => {
                    if self.matters(&event) {
                        self.changed(self.settings.debounce);
                    }
                }
                Ok(Message::Event(Err(error))) => {
                    self.store.inner().record(ConfigError::Watch {
                        path: error.paths.first().cloned(),
                        message: format!("file event error: {error}"),
                    });
                    self.changed(self.settings.debounce);
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if let (Some(at), Some(interval)) = (next_poll, self.settings.poll_interval) {
                if now >= at {
                    next_poll = Some(now + interval);
                    self.watch_dirs();
                    // Read now, unless events already have a check coming
                    // (a poll must not cut their quiet period short).
                    self.pending.get_or_insert(Pending {
                        first: now,
                        due: now,
                    });
                }
            }
            if self.pending.is_some_and(|p| p.due <= now) {
                self.pending = None;
                self.check();
            }
        }
    }

    /// Something may have changed: check after `delay` of quiet, but no
    /// later than `max_delay` after the first change of the burst.
    fn changed(&mut self, delay: Duration) {
        let now = Instant::now();
        let pending = self.pending.get_or_insert(Pending {
            first: now,
            due: now + delay,
        });
        pending.due = (now + delay).min(pending.first + self.settings.max_delay());
    }

    fn matters(&self, event: &Event) -> bool {
        // Opening and reading (ours included) changes nothing; closing a
        // file written to may end a write.
        if let EventKind::Access(kind) = event.kind {
            if kind != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        event.need_rescan()
            || event.paths.is_empty()
            || event.paths.iter().any(|path| {
                path.file_name()
                    .is_some_and(|name| self.names.contains(name))
            })
    }

    /// Reads the files; loads them once they read the same twice in a row.
    /// Never fails: errors are recorded by the reload, and a panic (there
    /// should be none; the validator's are caught by the core) is recorded
    /// too.
    fn check(&mut self) {
        let settling = self.settling;
        let store = &self.store;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut loaded = store.inner().reloading.lock();
            let reads = store.inner().sources.read_files();
            store.inner().checks.fetch_add(1, Ordering::Relaxed);
            let fingerprint = Sources::fingerprint(&reads);
            if fingerprint == *loaded {
                return (Check::Unchanged, None);
            }
            if settling != Some(fingerprint) {
                return (Check::Settling, Some(fingerprint));
            }
            *loaded = fingerprint;
            // The error, if any, is recorded by `apply`.
            let _ = store.inner().apply(reads);
            (Check::Reloaded, None)
        }));
        self.settling = None;
        match outcome {
            Ok((Check::Settling, fingerprint)) => {
                self.settling = fingerprint;
                self.changed(self.settings.debounce);
            }
            Ok((Check::Unchanged | Check::Reloaded, _)) => {}
            Err(payload) => self.store.inner().record(ConfigError::Watch {
                path: None,
                message: format!(
                    "panic while reloading: {}",
                    crate::error::panic_message(&*payload)
                ),
            }),
        }
        self.retarget();
    }

    /// Recomputes what to watch (symlinks may have been swapped) and
    /// watches any new directory.
    fn retarget(&mut self) {
        let (dirs, names) = targets(
            self.store
                .inner()
                .sources
                .files
                .iter()
                .map(|(file, _)| file.path()),
        );
        self.names = names;
        for dir in dirs {
            if !self.dirs.iter().any(|(known, _)| *known == dir) {
                self.dirs.push((dir, DirState::New));
            }
        }
        self.watch_dirs();
    }

    /// Watches every directory not watched yet (new ones, and ones that
    /// failed before: they may exist now). A failure is recorded once, until
    /// watching that directory works.
    fn watch_dirs(&mut self) {
        let Some(events) = &mut self.events else {
            return;
        };
        for (dir, state) in &mut self.dirs {
            if *state == DirState::Watching {
                continue;
            }
            match events.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => *state = DirState::Watching,
                Err(error) => {
                    if *state != DirState::Failing {
                        self.store.inner().record(ConfigError::Watch {
                            path: Some(dir.clone()),
                            message: format!(
                                "cannot watch the directory ({error}); polling covers it"
                            ),
                        });
                    }
                    *state = DirState::Failing;
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DirState {
    New,
    Watching,
    Failing,
}

/// The directories to watch and the names that matter for `files`: each
/// file's directory and name, and, along its symlink chain, each link's
/// directory and name plus the first component of relative targets (a
/// Kubernetes ConfigMap mounts `app.toml -> ..data/app.toml` and swaps the
/// `..data` link to update).
fn targets<'a>(files: impl Iterator<Item = &'a Path>) -> (BTreeSet<PathBuf>, HashSet<OsString>) {
    let mut dirs = BTreeSet::new();
    let mut names = HashSet::new();
    for file in files {
        let mut link = file.to_path_buf();
        for _ in 0..MAX_LINK_HOPS {
            let dir = match link.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if let Some(name) = link.file_name() {
                names.insert(name.to_owned());
            }
            dirs.insert(dir.clone());
            let Ok(target) = std::fs::read_link(&link) else {
                break;
            };
            if let Some(Component::Normal(first)) = target.components().next() {
                names.insert(first.to_owned());
            }
            link = dir.join(target);
        }
    }
    (dirs, names)
}
