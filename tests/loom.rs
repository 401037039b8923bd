//! loom models of every synchronization point the crate owns. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom`.
//!
//! Under loom the crate's `sync` shim swaps its atomics, mutexes and
//! condition variables for loom's, and the arc-swap cell for a loom mutex
//! around an `Arc` (arc-swap's own algorithm is not ours to model), so these
//! explore every interleaving of: the writer lock, the publish + version
//! counter + history ring, the subscriber wake protocol, and the grace
//! period (`synchronize`) handshake with freed versions.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::thread;
use snapmap::{ReadIndex, SnapMap, Version};

fn map_with(history: usize) -> SnapMap<u8, u8> {
    SnapMap::builder()
        .read_index(ReadIndex::Off)
        .history(history)
        .contents([(0, 0), (1, 0)])
        .build()
}

/// A reader racing two commits sees whole versions only (both keys carry
/// the version's number), never a version older than one it saw before,
/// and history/at agree with what was published.
#[test]
fn publish_is_atomic_and_monotonic() {
    loom::model(|| {
        let map = map_with(3);
        let writer = map.clone();
        let w = thread::spawn(move || {
            for n in 1..=2u8 {
                let mut txn = writer.write();
                txn.insert(0, n);
                txn.insert(1, n);
                assert_eq!(txn.commit().unwrap(), Version::new(n.into()));
            }
        });
        let mut reader = map.reader();
        let mut last = 0;
        for _ in 0..2 {
            for snap in [reader.load().clone(), map.load()] {
                let (a, b) = (snap.get(&0).copied(), snap.get(&1).copied());
                assert_eq!(a, b, "torn commit");
                assert_eq!(u64::from(a.unwrap()), snap.version().get());
                assert!(snap.version().get() >= last, "version went down");
                last = snap.version().get();
            }
        }
        w.join().unwrap();
        assert_eq!(
            map.history(),
            [Version::new(0), Version::new(1), Version::new(2)]
        );
        assert_eq!(map.at(Version::new(1)).unwrap().get(&0), Some(&1));
        assert_eq!(
            reader.load().version(),
            Version::new(2),
            "a finished commit is visible"
        );
    });
}

/// Two writers doing read-modify-write never lose an update.
#[test]
fn writers_are_serialized() {
    loom::model(|| {
        let map = map_with(1);
        let other = map.clone();
        let t = thread::spawn(move || {
            other
                .update(|txn| {
                    let n = *txn.get(&0).unwrap();
                    txn.insert(0, n + 1);
                })
                .unwrap();
        });
        map.update(|txn| {
            let n = *txn.get(&0).unwrap();
            txn.insert(0, n + 1);
        })
        .unwrap();
        t.join().unwrap();
        assert_eq!(map.get(&0), Some(2));
        assert_eq!(map.version(), Version::new(2));
    });
}

/// A subscriber that waits (untimed: under loom every wait is untimed) is
/// always woken by a commit racing with it: a lost wakeup is a deadlock
/// loom reports.
#[test]
fn subscriber_is_never_left_sleeping() {
    loom::model(|| {
        let map = map_with(1);
        let mut sub = map.subscribe();
        let writer = map.clone();
        let w = thread::spawn(move || {
            writer.insert(0, 1).unwrap();
        });
        let snap = sub.wait().expect("woken by the commit");
        assert_eq!(snap.version(), Version::new(1));
        assert_eq!(snap.get(&0), Some(&1));
        w.join().unwrap();
    });
}

/// Closing the map (last handle dropped) wakes a waiting subscriber.
#[test]
fn close_wakes_subscribers() {
    loom::model(|| {
        let map = map_with(1);
        let mut sub = map.subscribe();
        let t = thread::spawn(move || drop(map));
        assert!(sub.wait().is_none());
        t.join().unwrap();
    });
}

struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted(Arc::clone(&self.0))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `synchronize` racing with the drop of the last old snapshot always
/// returns (no lost wakeup between the freed version and the waiter), and
/// once it returns the old version's contents have been dropped.
#[test]
fn synchronize_sees_the_last_old_snapshot_go() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let map: SnapMap<u8, Counted> = SnapMap::builder()
            .read_index(ReadIndex::Off)
            .contents([(0, Counted(Arc::clone(&drops)))])
            .build();
        let old = map.load();
        let before = drops.load(Ordering::SeqCst);
        map.insert(0, Counted(Arc::new(AtomicUsize::new(0))))
            .unwrap();
        let holder = thread::spawn(move || drop(old));
        map.synchronize();
        assert!(
            drops.load(Ordering::SeqCst) > before,
            "the replaced value was dropped before synchronize returned"
        );
        assert_eq!(map.stats().live_versions, 1);
        holder.join().unwrap();
    });
}

/// The live-version cap: a commit blocked on the cap proceeds once the
/// holder of the old version lets go (no lost wakeup in that wait either).
#[test]
fn live_version_cap_waits_for_the_holder() {
    loom::model(|| {
        let map: SnapMap<u8, u8> = SnapMap::builder()
            .read_index(ReadIndex::Off)
            .max_live_versions(2)
            .contents([(0, 0)])
            .build();
        let v0 = map.load();
        map.insert(0, 1).unwrap();
        // Versions 0 (held) and 1 (current) are alive: a third must wait.
        let holder = thread::spawn(move || drop(v0));
        assert_eq!(map.insert(0, 2).unwrap(), Version::new(2));
        holder.join().unwrap();
    });
}
