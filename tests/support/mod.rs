//! Helpers shared by the integration tests (`mod support;` in each file
//! that needs them; not a test target of its own).

#![allow(dead_code)] // reason: each test binary uses only some of these

use std::time::{Duration, Instant};

/// Polls `condition` until it holds (true) or `timeout` passes (false).
/// Every wait in the tests is a loop like this, so the normal case returns
/// as soon as the condition holds and a slow machine only waits longer.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Threads of this process named `name`, from /proc/self/task; `None` where
/// there is no /proc (the caller then checks what it can without it).
pub fn threads_named(name: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim_end() == name)
            .count(),
    )
}

/// One reader thread's source of snapshots: a cached `Reader` or
/// `map.load()`, as the caller picks per call, checking that the versions
/// this thread sees never go down, whichever source each came from.
pub struct ReaderThread<K, V, S: snapmap::Backend<K, V>> {
    name: String,
    map: snapmap::SnapMap<K, V, S>,
    reader: snapmap::Reader<K, V, S>,
    last: snapmap::Version,
}

impl<K: snapmap::SnapKey, V: snapmap::SnapValue, S: snapmap::Backend<K, V>> ReaderThread<K, V, S> {
    pub fn new(name: impl Into<String>, map: snapmap::SnapMap<K, V, S>) -> Self {
        Self {
            name: name.into(),
            reader: map.reader(),
            map,
            last: snapmap::Version::INITIAL,
        }
    }

    /// The next snapshot, from the `Reader` or from `load()`.
    #[track_caller]
    pub fn next(&mut self, from_reader: bool) -> snapmap::Snapshot<K, V, S> {
        let snap = if from_reader {
            self.reader.load().clone()
        } else {
            self.map.load()
        };
        assert!(
            snap.version() >= self.last,
            "{}: version went from {} to {}",
            self.name,
            self.last,
            snap.version()
        );
        self.last = snap.version();
        snap
    }

    /// The newest version this thread has seen.
    pub fn last(&self) -> snapmap::Version {
        self.last
    }

    pub fn map(&self) -> &snapmap::SnapMap<K, V, S> {
        &self.map
    }
}

/// Asserts that exact lookups in `snap` (`get`, `contains_key`) answer what
/// `oracle` holds for every key of `keys`, and that the lengths agree: the
/// oracle check of the model test and of the read-index tests.
pub fn assert_lookups_match<K, V, S>(
    snap: &snapmap::Snapshot<K, V, S>,
    oracle: &std::collections::BTreeMap<K, V>,
    keys: impl IntoIterator<Item = K>,
) where
    K: snapmap::SnapKey + Ord + std::fmt::Debug,
    V: snapmap::SnapValue + PartialEq + std::fmt::Debug,
    S: snapmap::Lookup<K, V, K>,
{
    assert_eq!(snap.len(), oracle.len(), "version {}", snap.version());
    for k in keys {
        let want = oracle.get(&k);
        assert_eq!(
            snap.get(&k),
            want,
            "key {k:?} in version {}",
            snap.version()
        );
        assert_eq!(snap.contains_key(&k), want.is_some());
    }
}
