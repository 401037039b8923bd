//! The watcher thread is named and ends when its guard goes. Alone in its
//! own test binary, so that no other test's watcher threads are counted.

#![cfg(feature = "config")]

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use snapmap::config::{ConfigStore, WATCH_THREAD_NAME};

fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Threads of this process named like the watcher (Linux: from /proc).
#[cfg(target_os = "linux")]
fn watcher_threads() -> Option<usize> {
    let tasks = fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end() == WATCH_THREAD_NAME)
            .count(),
    )
}

#[cfg(not(target_os = "linux"))]
fn watcher_threads() -> Option<usize> {
    None
}

#[test]
fn the_watcher_thread_is_named_and_stops_with_its_guard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    fs::write(&path, "n = 1\n").unwrap();
    let store = ConfigStore::builder()
        .file(&path)
        .debounce(Duration::from_millis(10))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let timeout = Duration::from_secs(10);
    let threads = watcher_threads();
    if threads.is_none() {
        eprintln!("note: no /proc/self/task here; thread names not checked");
    }
    assert_eq!(threads.unwrap_or(0), 0);

    let guard = store.watch().unwrap();
    let second = store.watch().unwrap();
    assert!(guard.is_running() && second.is_running());
    assert_eq!(store.stats().watchers, 2);
    if threads.is_some() {
        assert!(
            wait_until(timeout, || watcher_threads() == Some(2)),
            "{:?}",
            watcher_threads()
        );
    }
    // Both are polling.
    let checks = store.stats().checks;
    assert!(
        wait_until(timeout, || store.stats().checks >= checks + 4),
        "{:?}",
        store.stats()
    );

    // `stop` and `drop` both end the thread before returning.
    second.stop();
    assert_eq!(store.stats().watchers, 1);
    if threads.is_some() {
        assert_eq!(watcher_threads(), Some(1));
    }
    fs::write(&path, "n = 2\n").unwrap();
    assert!(wait_until(timeout, || store.get::<u64>("n").ok() == Some(2)));

    drop(guard);
    assert_eq!(store.stats().watchers, 0);
    if threads.is_some() {
        assert_eq!(watcher_threads(), Some(0));
    }
    // Nothing reads the files any more: a change stays unseen. (The thread
    // count above is the proof; this only shows its effect, over many
    // poll intervals.)
    let checks = store.stats().checks;
    fs::write(&path, "n = 3\n").unwrap();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(store.stats().checks, checks);
    assert_eq!(store.get::<u64>("n").unwrap(), 2);
    assert_eq!(
        store.reload().unwrap().get(),
        2,
        "an explicit reload still works"
    );
}
