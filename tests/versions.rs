//! Versions as a feature: validation, history and rollback, diffs, change
//! notification, grace periods, stats.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use snapmap::{Change, CommitError, SnapMap, SnapOrdMap, Version};

const PATIENCE: Duration = Duration::from_secs(10);

fn s(x: &str) -> String {
    x.to_string()
}

fn v(n: u64) -> Version {
    Version::new(n)
}

fn sorted<K: Ord + Clone, V: Clone>(changes: Vec<Change<K, V>>) -> Vec<Change<K, V>> {
    let mut changes = changes;
    changes.sort_by(|a, b| a.key().cmp(b.key()));
    changes
}

// ---- validation ----

fn capped(limit: usize) -> SnapMap<String, u32> {
    SnapMap::builder()
        .validator(move |candidate| {
            if candidate.len() > limit {
                Err(format!("{} entries, limit {limit}", candidate.len()).into())
            } else {
                Ok(())
            }
        })
        .build()
}

#[test]
fn rejected_commit_publishes_nothing_and_says_what_stays() {
    let map = capped(2);
    map.insert(s("a"), 1).unwrap();
    map.insert(s("b"), 2).unwrap();
    let before = map.load();
    let err = map
        .update(|txn| {
            txn.insert(s("c"), 3);
            txn.insert(s("a"), 100);
        })
        .unwrap_err();
    match &err {
        CommitError::Rejected {
            candidate,
            current,
            reason,
        } => {
            assert_eq!(*candidate, v(3));
            assert_eq!(*current, v(2));
            assert_eq!(reason.to_string(), "3 entries, limit 2");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(err.current(), v(2));
    assert_eq!(
        err.to_string(),
        "rejected version 3: 3 entries, limit 2; version 2 stays current"
    );
    assert!(std::error::Error::source(&err).is_some());
    // Nothing published, nothing half-applied.
    assert!(map.load().ptr_eq(&before));
    assert_eq!(map.get("a"), Some(1));
    assert_eq!(map.get("c"), None);
    let stats = map.stats();
    assert_eq!((stats.version, stats.commits, stats.rejected), (v(2), 2, 1));
    assert_eq!(stats.last_error.as_deref(), Some(err.to_string().as_str()));
    // The next valid commit gets the next number.
    assert_eq!(map.insert(s("a"), 5).unwrap(), v(3));
}

#[test]
fn validator_sees_the_candidate_with_its_number_and_label() {
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let map = SnapOrdMap::<String, u32>::builder()
        .validator(move |candidate| {
            log.lock().push((
                candidate.version(),
                candidate.label().map(str::to_owned),
                candidate.get("k").copied(),
            ));
            Ok(())
        })
        .build();
    let mut txn = map.write();
    txn.insert(s("k"), 9);
    txn.label("rev 1");
    txn.commit().unwrap();
    assert_eq!(*seen.lock(), [(v(1), Some(s("rev 1")), Some(9))]);
}

#[test]
fn panicking_validator_rejects_and_the_map_stays_usable() {
    let explode = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&explode);
    let map = SnapMap::<String, u32>::builder()
        .validator(move |_| {
            if flag.load(Ordering::SeqCst) {
                panic!("validator bug");
            }
            Ok(())
        })
        .build();
    let err = map.insert(s("a"), 1).unwrap_err();
    match &err {
        CommitError::Panicked {
            during,
            message,
            current,
        } => {
            assert_eq!(*during, "validator");
            assert_eq!(message, "validator bug");
            assert_eq!(*current, Version::INITIAL);
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert!(map.is_empty());
    assert_eq!(map.stats().rejected, 1);
    explode.store(false, Ordering::SeqCst);
    assert_eq!(map.insert(s("a"), 1).unwrap(), v(1));
}

// ---- history and rollback ----

#[test]
fn history_keeps_the_last_n_versions() {
    let map = SnapMap::<String, u32>::builder().history(3).build();
    assert_eq!(map.history(), [v(0)]);
    for i in 1..=5 {
        map.insert(s("k"), i).unwrap();
    }
    assert_eq!(map.history(), [v(3), v(4), v(5)]);
    assert_eq!(map.stats().history_len, 3);
    assert_eq!(map.at(v(4)).unwrap().get("k"), Some(&4));
    assert_eq!(map.at(v(3)).unwrap().version(), v(3));
    assert!(map.at(v(2)).is_none(), "trimmed");
    assert!(map.at(v(6)).is_none(), "not yet");
    assert!(
        map.at(v(5)).unwrap().ptr_eq(&map.load()),
        "at(current) is the current version"
    );
}

#[test]
fn default_history_is_the_current_version_only() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    map.insert(1, 1).unwrap();
    assert_eq!(map.history(), [v(1)]);
    assert!(map.at(v(0)).is_none());
    let err = map.rollback_to(v(0)).unwrap_err();
    assert!(matches!(err, CommitError::NotInHistory { requested, .. } if requested == v(0)));
}

#[test]
fn at_revives_a_dropped_version_with_its_contents_and_label() {
    let map = SnapMap::<String, u32>::builder().history(4).build();
    let mut txn = map.write();
    txn.insert(s("a"), 1);
    txn.label("first");
    txn.commit().unwrap();
    map.insert(s("a"), 2).unwrap();
    // Nobody holds version 1 any more; the history still keeps its content.
    let old = map.at(v(1)).unwrap();
    assert_eq!(old.get("a"), Some(&1));
    assert_eq!(old.label(), Some("first"));
    assert_eq!(old.version(), v(1));
    assert_eq!(
        map.stats().live_versions,
        2,
        "the revived version counts as live while held"
    );
    drop(old);
    assert_eq!(map.stats().live_versions, 1);
}

#[test]
fn rollback_publishes_a_new_version_with_the_old_content() {
    let map = SnapOrdMap::<String, u32>::builder().history(8).build();
    let mut txn = map.write();
    txn.insert(s("a"), 1);
    txn.insert(s("b"), 2);
    txn.label("good");
    let good = txn.commit().unwrap();
    map.update(|txn| {
        txn.remove("a");
        txn.insert(s("b"), 20);
        txn.insert(s("c"), 30);
    })
    .unwrap();
    let rolled = map.rollback_to(good).unwrap();
    assert_eq!(rolled, v(3), "numbers keep going up");
    let snap = map.load();
    let content: BTreeMap<_, _> = snap.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(content, BTreeMap::from([(s("a"), 1), (s("b"), 2)]));
    assert_eq!(
        snap.label(),
        Some("good"),
        "a rollback carries the label of the content it restores"
    );
    assert_eq!(map.history(), [v(0), v(1), v(2), v(3)]);
    // Its diff against the version it replaced is exact.
    let prev = map.at(v(2)).unwrap();
    assert_eq!(
        snap.diff(&prev),
        [
            Change::Added(s("a"), 1),
            Change::Updated(s("b"), 20, 2),
            Change::Removed(s("c"), 30),
        ]
    );
    // Rolling back to the current version publishes nothing.
    assert_eq!(map.rollback_to(rolled).unwrap(), rolled);
    assert_eq!(map.stats().commits, 3);
}

#[test]
fn rollback_goes_through_the_validator() {
    let map = SnapMap::<String, u32>::builder()
        .history(8)
        .validator(|c| {
            if c.contains_key("forbidden") {
                Err("contains forbidden".into())
            } else {
                Ok(())
            }
        })
        .contents([(s("forbidden"), 1)])
        .build();
    map.remove("forbidden").unwrap();
    let err = map.rollback_to(v(0)).unwrap_err();
    assert!(
        matches!(err, CommitError::Rejected { current, .. } if current == v(1)),
        "{err:?}"
    );
    assert!(!map.contains_key("forbidden"));
    assert_eq!(map.version(), v(1));
}

#[test]
fn rollback_to_a_version_no_longer_kept_is_a_clear_error() {
    let map = SnapMap::<String, u32>::builder().history(2).build();
    for i in 0..5 {
        map.insert(s("k"), i).unwrap();
    }
    let err = map.rollback_to(v(1)).unwrap_err();
    match &err {
        CommitError::NotInHistory {
            requested,
            oldest,
            current,
        } => assert_eq!((*requested, *oldest, *current), (v(1), v(4), v(5))),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "version 1 is not in the history (kept: 4 to 5); nothing published, version 5 stays current"
    );
    assert!(
        map.rollback_to(v(99)).is_err(),
        "a version that never existed"
    );
    assert_eq!(map.stats().rejected, 2);
    assert_eq!(map.get("k"), Some(4));
}

// ---- diff ----

#[test]
fn diff_between_consecutive_and_distant_versions() {
    for_both_faces(|map_insert, map_update, load| {
        map_insert("a", 1);
        let v1 = load();
        map_update(&[("b", Some(2)), ("a", Some(10))]);
        map_update(&[("b", None), ("c", Some(3))]);
        let v3 = load();
        assert_eq!(
            sorted(v3.clone().diff_any(&v1)),
            [Change::Updated(s("a"), 1, 10), Change::Added(s("c"), 3)]
        );
        // Reverse direction: everything inverts.
        assert_eq!(
            sorted(v1.diff_any(&v3)),
            [Change::Updated(s("a"), 10, 1), Change::Removed(s("c"), 3)]
        );
        assert!(v3.diff_any(&v3).is_empty());
    });
}

/// Runs a scenario against both faces through a tiny common interface.
fn for_both_faces(
    scenario: impl Fn(&dyn Fn(&str, u32), &dyn Fn(&[(&str, Option<u32>)]), &dyn Fn() -> AnySnap),
) {
    let hash: SnapMap<String, u32> = SnapMap::new();
    scenario(
        &|k, v| {
            hash.insert(s(k), v).unwrap();
        },
        &|ops| apply(&hash, ops),
        &|| AnySnap::Hash(hash.load()),
    );
    let ord: SnapOrdMap<String, u32> = SnapOrdMap::new();
    scenario(
        &|k, v| {
            ord.insert(s(k), v).unwrap();
        },
        &|ops| apply(&ord, ops),
        &|| AnySnap::Ord(ord.load()),
    );
}

fn apply<S: snapmap::Backend<String, u32> + snapmap::Lookup<String, u32, str>>(
    map: &SnapMap<String, u32, S>,
    ops: &[(&str, Option<u32>)],
) {
    map.update(|txn| {
        for (k, v) in ops {
            match v {
                Some(v) => {
                    txn.insert(s(k), *v);
                }
                None => {
                    txn.remove(*k);
                }
            }
        }
    })
    .unwrap();
}

#[derive(Clone)]
enum AnySnap {
    Hash(snapmap::Snapshot<String, u32>),
    Ord(snapmap::Snapshot<String, u32, snapmap::Ordered>),
}

impl AnySnap {
    fn diff_any(&self, older: &AnySnap) -> Vec<Change<String, u32>> {
        match (self, older) {
            (AnySnap::Hash(a), AnySnap::Hash(b)) => a.diff(b),
            (AnySnap::Ord(a), AnySnap::Ord(b)) => {
                let d = a.diff(b);
                assert!(
                    d.windows(2).all(|w| w[0].key() < w[1].key()),
                    "ordered face diffs are sorted by key"
                );
                d
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn diff_outside_the_change_log_falls_back_to_a_full_comparison() {
    let map: SnapOrdMap<u64, u64> = (0..100).map(|i| (i, i)).collect();
    let v0 = map.load();
    // 40 single-key commits: more than the change log window (32).
    for i in 0..40 {
        map.insert(i, i + 1000).unwrap();
    }
    map.replace_all((0..100).map(|i| (i, if i < 40 { i + 1000 } else { i })))
        .unwrap();
    let now = map.load();
    let d = now.diff(&v0);
    assert_eq!(d.len(), 40);
    assert_eq!(d[0], Change::Updated(0, 0, 1000));
    assert_eq!(d[39], Change::Updated(39, 39, 1039));
}

#[test]
fn diff_across_two_maps_compares_contents() {
    let a: SnapMap<u32, u32> = [(1, 1), (2, 2)].into_iter().collect();
    let b: SnapMap<u32, u32> = [(2, 20), (3, 3)].into_iter().collect();
    assert_eq!(
        sorted(b.load().diff(&a.load())),
        [
            Change::Removed(1, 1),
            Change::Updated(2, 2, 20),
            Change::Added(3, 3)
        ]
    );
}

// ---- change notification ----

#[test]
fn subscriber_basics() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    map.insert(1, 1).unwrap();
    let mut sub = map.subscribe();
    assert_eq!(
        sub.seen(),
        v(1),
        "starts at the version current when it subscribed"
    );
    assert!(!sub.has_changed());
    assert!(
        sub.wait_timeout(Duration::from_millis(20)).is_none(),
        "times out without a commit"
    );
    map.insert(2, 2).unwrap();
    assert!(sub.has_changed());
    let snap = sub
        .wait_timeout(Duration::ZERO)
        .expect("a newer version is ready");
    assert_eq!(snap.version(), v(2));
    assert!(!sub.has_changed());
    // Bursts coalesce to the latest version.
    for i in 0..10 {
        map.insert(10 + i, i).unwrap();
    }
    assert_eq!(sub.wait_timeout(PATIENCE).unwrap().version(), v(12));
    assert!(sub.wait_timeout(Duration::from_millis(10)).is_none());
    // latest() marks as seen.
    map.insert(3, 3).unwrap();
    assert_eq!(sub.latest().version(), v(13));
    assert!(!sub.has_changed());
}

#[test]
fn subscriber_thread_is_woken_by_commits_from_another_thread() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let mut sub = map.subscribe();
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut seen = Vec::new();
        while let Some(snap) = sub.wait_timeout(PATIENCE) {
            seen.push(snap.version());
            tx.send(snap.version()).unwrap();
            if snap.version() >= v(20) {
                break;
            }
        }
        seen
    });
    for i in 0..20 {
        map.insert(i, i).unwrap();
        if i % 5 == 0 {
            // Give the waiter a chance to park between some commits.
            let _ = rx.recv_timeout(Duration::from_millis(50));
        }
    }
    let seen = waiter.join().unwrap();
    assert_eq!(
        seen.last(),
        Some(&v(20)),
        "the last version is always delivered"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {seen:?}"
    );
}

#[test]
fn closing_the_map_releases_waiting_subscribers() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let mut sub = map.subscribe();
    let started = Instant::now();
    let waiter = thread::spawn(move || sub.wait_timeout(PATIENCE).map(|s| s.version()));
    thread::sleep(Duration::from_millis(20));
    drop(map);
    assert_eq!(waiter.join().unwrap(), None);
    assert!(
        started.elapsed() < PATIENCE,
        "woken by the close, not the timeout"
    );
}

#[test]
fn dropping_a_subscriber_frees_its_slot() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let a = map.subscribe();
    let b = map.subscribe();
    assert_eq!(map.stats().subscribers, 2);
    drop(a);
    assert_eq!(map.stats().subscribers, 1);
    drop(b);
    assert_eq!(map.stats().subscribers, 0);
}

#[test]
fn async_changed_on_a_minimal_executor() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let mut sub = map.subscribe();
    let writer = map.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        writer.insert(1, 1).unwrap();
    });
    let snap = pollster::block_on(sub.changed()).expect("woken by the commit");
    assert_eq!(snap.version(), v(1));
    t.join().unwrap();
    // Already-published changes resolve immediately.
    map.insert(2, 2).unwrap();
    assert_eq!(pollster::block_on(sub.changed()).unwrap().version(), v(2));
    // Closing the map resolves with None.
    drop(map);
    assert!(pollster::block_on(sub.changed()).is_none());
}

#[test]
fn async_changed_on_tokio_with_cancellation() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let map: SnapMap<u64, u64> = SnapMap::new();
        let mut sub = map.subscribe();
        // A cancelled wait marks nothing as seen.
        let timed_out = tokio::time::timeout(Duration::from_millis(20), sub.changed()).await;
        assert!(timed_out.is_err());
        let writer = map.clone();
        let task = tokio::spawn(async move {
            for i in 0..5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                writer.insert(i, i).unwrap();
            }
        });
        let mut last = Version::INITIAL;
        while last < v(5) {
            let snap = tokio::time::timeout(PATIENCE, sub.changed())
                .await
                .expect("woken")
                .expect("open");
            assert!(snap.version() > last);
            last = snap.version();
        }
        task.await.unwrap();
    });
}

// ---- grace periods ----

#[test]
fn synchronize_waits_for_old_snapshots_held_by_other_threads() {
    let map: SnapMap<u64, u64> = [(1, 1)].into_iter().collect();
    let old = map.load();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let ready = Arc::new(Barrier::new(2));
    let ready2 = Arc::clone(&ready);
    let holder = thread::spawn(move || {
        let held = old;
        ready2.wait();
        release_rx.recv().unwrap();
        drop(held);
    });
    ready.wait();
    map.insert(1, 2).unwrap();
    assert_eq!(map.stats().live_versions, 2);
    assert!(
        !map.synchronize_timeout(Duration::from_millis(50)),
        "version 0 is still held"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(map.synchronize_timeout(PATIENCE));
    assert_eq!(map.stats().live_versions, 1);
    map.synchronize(); // returns at once: nothing old is alive
}

#[test]
fn synchronize_returns_when_the_holder_drops_while_waiting() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let old = map.load();
    map.insert(1, 1).unwrap();
    let holder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        drop(old);
    });
    let started = Instant::now();
    assert!(map.synchronize_timeout(PATIENCE));
    assert!(started.elapsed() < PATIENCE);
    holder.join().unwrap();
}

#[test]
fn idle_readers_hold_their_version_until_they_load_again() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let mut reader = map.reader();
    map.insert(1, 1).unwrap();
    assert!(
        !map.synchronize_timeout(Duration::from_millis(20)),
        "the reader caches version 0"
    );
    reader.load();
    assert!(map.synchronize_timeout(PATIENCE));
}

#[test]
fn history_does_not_count_as_a_live_snapshot() {
    let map = SnapMap::<u64, u64>::builder().history(10).build();
    for i in 0..5 {
        map.insert(i, i).unwrap();
    }
    assert!(map.synchronize_timeout(PATIENCE));
    assert_eq!(map.stats().live_versions, 1);
    assert_eq!(map.stats().history_len, 6);
}

// ---- stats ----

#[test]
fn stats_report_the_current_state() {
    let map = SnapMap::<String, u32>::builder().history(2).build();
    let s0 = map.stats();
    assert_eq!(
        (
            s0.version,
            s0.len,
            s0.commits,
            s0.rejected,
            s0.live_versions
        ),
        (v(0), 0, 0, 0, 1)
    );
    assert!(s0.last_error.is_none());
    map.insert(s("a"), 1).unwrap();
    let _sub = map.subscribe();
    let st = map.stats();
    assert_eq!(
        (
            st.version,
            st.len,
            st.commits,
            st.subscribers,
            st.history_len
        ),
        (v(1), 1, 1, 1, 2)
    );
    assert_eq!(st.last_commit_at, map.load().committed_at());
    let debug = format!("{st:?}");
    assert!(debug.contains("commits: 1"), "{debug}");
}

#[test]
fn try_build_validates_the_initial_contents() {
    let builder = || {
        SnapMap::<String, u32>::builder().validator(|c| {
            if c.contains_key("bad") {
                Err("bad key".into())
            } else {
                Ok(())
            }
        })
    };
    let err = builder().contents([(s("bad"), 1)]).try_build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "rejected version 0: bad key; version 0 stays current"
    );
    let map = builder().contents([(s("good"), 1)]).try_build().unwrap();
    assert_eq!(map.get("good"), Some(1));
    // `build` does not validate version 0.
    assert!(builder()
        .contents([(s("bad"), 1)])
        .build()
        .contains_key("bad"));
}
