//! The background index builder is a thread the map owns: named, started
//! lazily, stopped and joined when the last `SnapMap` handle is dropped,
//! even while readers and snapshots live on. Its own test binary, so no
//! other test's builder threads are counted.

use std::time::{Duration, Instant};

use snapmap::{ReadIndex, SnapMap};

/// Threads of this process named `snapmap-index` (Linux: /proc/self/task).
fn builder_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "snapmap-index")
        .count()
}

#[test]
fn builder_thread_is_started_lazily_and_stopped_with_the_last_handle() {
    let on_linux = std::path::Path::new("/proc/self/task").exists();
    if !on_linux {
        println!("no /proc/self/task on this platform: checking stats() only");
    }
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
    let deadline = Instant::now() + Duration::from_secs(10);
    // The new thread names itself when it starts running.
    while on_linux && builder_threads() != 1 {
        assert!(
            Instant::now() < deadline,
            "expected one snapmap-index thread, found {}",
            builder_threads()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    while !map.load().has_read_index() {
        assert!(Instant::now() < deadline, "index never built");
        std::thread::sleep(Duration::from_millis(1));
    }
    // A second handle keeps it running; readers and snapshots do not.
    let other = map.clone();
    let mut reader = map.reader();
    let snapshot = map.load();
    drop(map);
    assert!(other.stats().index_builder_running);
    drop(other);
    if on_linux {
        assert_eq!(
            builder_threads(),
            0,
            "the builder thread was joined when the last handle dropped"
        );
    }
    // What readers hold keeps working, index included.
    assert_eq!(reader.load().get(&7), Some(&7));
    assert!(snapshot.has_read_index());
}
