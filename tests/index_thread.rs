//! The background index builder is a thread the map owns: named, started
//! lazily, stopped and joined when the last `SnapMap` handle is dropped,
//! even while readers and snapshots live on. Its own test binary, so no
//! other test's builder threads are counted.

use std::time::Duration;

use snapmap::{ReadIndex, SnapMap};

mod support;
use support::{threads_named, wait_until};

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn builder_thread_is_started_lazily_and_stopped_with_the_last_handle() {
    let on_linux = threads_named("snapmap-index").is_some();
    if !on_linux {
        println!("no /proc/self/task on this platform: checking stats() only");
    }
    let builder_threads = || threads_named("snapmap-index").unwrap_or(0);
    let policy = ReadIndex::Background {
        quiet: Duration::from_millis(1),
    };
    let map = SnapMap::<u64, u64>::builder()
        .read_index(policy)
        .read_index_min_len(100)
        .build();
    assert!(
        !map.stats().index_builder_running,
        "not started while nothing needs indexing"
    );
    if on_linux {
        assert_eq!(builder_threads(), 0);
    }
    map.replace_all((0..1000).map(|i| (i, i))).unwrap();
    assert!(
        map.stats().index_builder_running,
        "started by the first version that needs an index"
    );
    // The new thread names itself when it starts running.
    assert!(
        !on_linux || wait_until(PATIENCE, || builder_threads() == 1),
        "expected one snapmap-index thread, found {}",
        builder_threads()
    );
    assert!(
        wait_until(PATIENCE, || map.load().has_read_index()),
        "index never built"
    );
    // A second handle keeps it running; readers and snapshots do not.
    let other = map.clone();
    let mut reader = map.reader();
    let snapshot = map.load();
    drop(map);
    assert!(other.stats().index_builder_running);
    drop(other);
    // Joined: gone at once, though the kernel may list an exited thread
    // for a moment after the join returns.
    if on_linux {
        assert!(
            wait_until(Duration::from_secs(2), || builder_threads() == 0),
            "the builder thread was joined when the last handle dropped: {} left",
            builder_threads()
        );
    }
    // What readers hold keeps working, index included.
    assert_eq!(reader.load().get(&7), Some(&7));
    assert!(snapshot.has_read_index());
}
