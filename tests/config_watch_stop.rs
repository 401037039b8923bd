//! The watcher thread is named and ends when its guard goes. Alone in its
//! own test binary, so that no other test's watcher threads are counted.

#![cfg(feature = "config")]

use std::fs;
use std::thread;
use std::time::Duration;

use snapmap::config::{ConfigStore, WATCH_THREAD_NAME};

mod support;
use support::{threads_named, wait_until};

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
    let threads = threads_named(WATCH_THREAD_NAME);
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
            wait_until(timeout, || threads_named(WATCH_THREAD_NAME) == Some(2)),
            "{:?}",
            threads_named(WATCH_THREAD_NAME)
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
        assert_eq!(threads_named(WATCH_THREAD_NAME), Some(1));
    }
    fs::write(&path, "n = 2\n").unwrap();
    assert!(wait_until(timeout, || store.get::<u64>("n").ok() == Some(2)));

    drop(guard);
    assert_eq!(store.stats().watchers, 0);
    if threads.is_some() {
        assert_eq!(threads_named(WATCH_THREAD_NAME), Some(0));
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
