//! Bounded memory: `max_live_versions` caps the versions snapshots and
//! readers keep alive, and memory held by old snapshots is released when
//! they drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use snapmap::{CommitError, ReadIndex, SnapMap, Version};

#[test]
fn live_versions_counts_snapshots_and_readers() {
    let map: SnapMap<u32, u32> = SnapMap::new();
    assert_eq!(map.stats().live_versions, 1);
    let s0 = map.load();
    map.insert(1, 1).unwrap();
    let mut reader = map.reader(); // caches version 1
    map.insert(2, 2).unwrap();
    assert_eq!(
        map.stats().live_versions,
        3,
        "v0 held by a snapshot, v1 by the reader, v2 current"
    );
    reader.load(); // moves to version 2: v1 is freed
    assert_eq!(map.stats().live_versions, 2);
    drop(s0);
    assert_eq!(map.stats().live_versions, 1);
}

#[test]
fn commit_fails_after_the_wait_when_the_cap_is_held() {
    let map = SnapMap::<u32, u32>::builder()
        .max_live_versions(3)
        .max_live_wait(Duration::from_millis(50))
        .build();
    let s0 = map.load();
    map.insert(1, 1).unwrap();
    let s1 = map.load();
    map.insert(2, 2).unwrap(); // v0 and v1 held, v2 current: 3 live
    let s2 = map.load();
    let started = Instant::now();
    let err = map.insert(3, 3).unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "the commit waited"
    );
    match &err {
        CommitError::TooManyLiveVersions {
            current,
            live,
            limit,
            waited,
        } => {
            assert_eq!((*current, *live, *limit), (Version::new(2), 3, 3));
            assert!(*waited >= Duration::from_millis(50));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("nothing published, version 2 stays current"),
        "{err}"
    );
    assert_eq!(map.version(), Version::new(2));
    assert_eq!(map.stats().rejected, 1);
    // Dropping one old snapshot makes room.
    drop(s0);
    assert_eq!(map.insert(3, 3).unwrap(), Version::new(3));
    drop((s1, s2));
}

#[test]
fn commit_waits_for_a_snapshot_dropped_on_another_thread() {
    let map = SnapMap::<u32, u32>::builder()
        .max_live_versions(2)
        .max_live_wait(Duration::from_secs(10))
        .build();
    let (tx, rx) = mpsc::channel();
    let old = map.load();
    map.insert(1, 1).unwrap();
    let holder = thread::spawn(move || {
        rx.recv().unwrap();
        thread::sleep(Duration::from_millis(30));
        drop(old);
    });
    tx.send(()).unwrap();
    let started = Instant::now();
    assert_eq!(map.insert(2, 2).unwrap(), Version::new(2));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the drop, not the timeout"
    );
    holder.join().unwrap();
}

#[test]
#[should_panic(expected = "a commit needs room for at least 2 versions")]
fn a_cap_below_two_is_refused() {
    let _ = SnapMap::<u32, u32>::builder().max_live_versions(1).build();
}

/// A value that tracks how many bytes of payload are alive.
struct Blob {
    bytes: Vec<u8>,
    live: Arc<AtomicUsize>,
}

impl Blob {
    fn new(size: usize, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(size, Ordering::SeqCst);
        Blob {
            bytes: vec![7; size],
            live: Arc::clone(live),
        }
    }
}

impl Clone for Blob {
    fn clone(&self) -> Self {
        Blob::new(self.bytes.len(), &self.live)
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        self.live.fetch_sub(self.bytes.len(), Ordering::SeqCst);
    }
}

#[test]
fn memory_held_by_old_snapshots_is_released_when_they_drop() {
    const MB: usize = 1 << 20;
    let live = Arc::new(AtomicUsize::new(0));
    let map: SnapMap<u32, Arc<Blob>> = SnapMap::builder().read_index(ReadIndex::Off).build();
    let mut held = Vec::new();
    for i in 0..8 {
        // Each version replaces every value: nothing is shared.
        map.replace_all((0..4).map(|k| (k, Arc::new(Blob::new(MB, &live)))))
            .unwrap();
        if i % 2 == 0 {
            held.push(map.load());
        }
    }
    assert_eq!(map.stats().live_versions, 5, "4 held + current");
    assert_eq!(
        live.load(Ordering::SeqCst),
        5 * 4 * MB,
        "held versions keep their values"
    );
    held.clear();
    assert_eq!(map.stats().live_versions, 1);
    assert_eq!(
        live.load(Ordering::SeqCst),
        4 * MB,
        "only the current version's values remain"
    );
    assert!(map.synchronize_timeout(Duration::from_secs(1)));
    drop(map);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}
