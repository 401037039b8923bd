//! Behaviour of the public API, method by method, on both faces.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use snapmap::{ReadIndex, SnapMap, SnapOrdMap, Snapshot, Version};

fn s(x: &str) -> String {
    x.to_string()
}

fn assert_send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn handles_and_snapshots_are_send_sync_static() {
    assert_send_sync_static::<SnapMap<String, u32>>();
    assert_send_sync_static::<SnapOrdMap<String, u32>>();
    assert_send_sync_static::<Snapshot<String, u32>>();
    assert_send_sync_static::<snapmap::Reader<String, u32>>();
    assert_send_sync_static::<snapmap::Subscriber<String, u32>>();
    assert_send_sync_static::<snapmap::CommitError>();
}

#[test]
fn constructors() {
    let a: SnapMap<String, u32> = SnapMap::new();
    assert!(a.is_empty());
    assert_eq!(a.version(), Version::INITIAL);

    let b: SnapMap<String, u32> = SnapMap::default();
    assert_eq!(b.len(), 0);

    let c: SnapMap<String, u32> = [(s("x"), 1), (s("y"), 2)].into_iter().collect();
    assert_eq!(c.len(), 2);
    assert_eq!(c.version().get(), 0, "initial contents are version 0");
    assert_eq!(c.get("y"), Some(2));

    let d =
        SnapMap::<String, u32, std::hash::RandomState>::with_hasher(std::hash::RandomState::new());
    d.insert(s("k"), 7).unwrap();
    assert_eq!(d.get("k"), Some(7));

    let e = SnapOrdMap::<String, u32>::new();
    assert!(e.load().is_empty());

    let dbg = format!("{c:?}");
    assert!(dbg.contains("\"x\": 1") && dbg.contains("version"), "{dbg}");
}

#[test]
fn one_shot_commits_number_versions() {
    let map: SnapMap<String, u32> = SnapMap::new();
    assert_eq!(map.insert(s("a"), 1).unwrap().get(), 1);
    assert_eq!(map.insert(s("b"), 2).unwrap().get(), 2);
    assert_eq!(map.insert(s("a"), 3).unwrap().get(), 3);
    assert_eq!(map.remove("b").unwrap().get(), 4);
    // Removing an absent key changes nothing: no version is published.
    assert_eq!(map.remove("zzz").unwrap().get(), 4);
    assert_eq!(map.version().get(), 4);
    assert_eq!(map.stats().commits, 4);
    assert_eq!(map.get("a"), Some(3));
    assert_eq!(map.get("b"), None);
    assert!(map.contains_key("a"));
}

#[test]
fn write_txn_reads_its_own_writes_and_publishes_once() {
    let map: SnapMap<String, u32> = [(s("keep"), 0)].into_iter().collect();
    let before = map.load();
    let mut txn = map.write();
    assert_eq!(txn.base_version(), Version::INITIAL);
    assert_eq!(txn.insert(s("a"), 1), None);
    assert_eq!(
        txn.insert(s("a"), 2),
        Some(1),
        "insert returns the previous value"
    );
    assert_eq!(txn.get("a"), Some(&2));
    assert!(txn.contains_key("keep"));
    assert_eq!(txn.remove("keep"), Some(0));
    assert_eq!(txn.remove("keep"), None);
    assert_eq!(txn.len(), 1);
    assert!(txn.is_dirty());
    assert_eq!(txn.iter().count(), 1);
    // Readers do not see uncommitted writes.
    assert_eq!(map.get("a"), None);
    assert_eq!(map.load().get("keep"), Some(&0));
    let v = txn.commit().unwrap();
    assert_eq!(v.get(), 1, "one commit, one version");
    assert_eq!(map.get("a"), Some(2));
    assert_eq!(map.get("keep"), None);
    // The snapshot taken before is unchanged.
    assert_eq!(before.get("keep"), Some(&0));
    assert_eq!(before.get("a"), None);
    assert_eq!(before.version(), Version::INITIAL);
}

#[test]
fn dropping_a_txn_publishes_nothing() {
    let map: SnapMap<String, u32> = SnapMap::new();
    {
        let mut txn = map.write();
        txn.insert(s("a"), 1);
    }
    assert_eq!(map.get("a"), None);
    assert_eq!(map.version(), Version::INITIAL);
    assert_eq!(map.stats().commits, 0);
    // The writer lock was released.
    map.insert(s("b"), 2).unwrap();
    assert_eq!(map.version().get(), 1);
}

#[test]
fn empty_commit_publishes_nothing_and_returns_current_version() {
    let map: SnapMap<String, u32> = SnapMap::new();
    map.insert(s("a"), 1).unwrap();
    let before = map.load();
    let mut txn = map.write();
    txn.label("only a label");
    assert!(!txn.is_dirty());
    assert_eq!(txn.commit().unwrap().get(), 1);
    let after = map.load();
    assert!(after.ptr_eq(&before), "no new version object was published");
    assert_eq!(after.label(), None);
    assert_eq!(map.stats().commits, 1);
    // clear() on an empty map is not a change either.
    let empty: SnapMap<String, u32> = SnapMap::new();
    let mut txn = empty.write();
    txn.clear();
    assert_eq!(txn.commit().unwrap(), Version::INITIAL);
}

#[test]
fn clear_removes_everything_in_one_version() {
    let map: SnapMap<u64, u64> = (0..100).map(|i| (i, i)).collect();
    let mut txn = map.write();
    txn.clear();
    assert!(txn.is_empty());
    assert_eq!(txn.commit().unwrap().get(), 1);
    assert!(map.is_empty());
}

#[test]
fn try_write_fails_while_a_txn_is_open() {
    let map: SnapMap<String, u32> = SnapMap::new();
    let txn = map.write();
    let other = map.clone();
    let got = thread::spawn(move || other.try_write().is_some())
        .join()
        .unwrap();
    assert!(!got, "another thread cannot open a second transaction");
    drop(txn);
    let mut txn = map.try_write().expect("free once the first is dropped");
    txn.insert(s("a"), 1);
    txn.commit().unwrap();
    assert_eq!(map.get("a"), Some(1));
}

#[test]
fn writers_are_serialized_across_threads() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let map = map.clone();
            thread::spawn(move || {
                for i in 0..50 {
                    map.update(|txn| {
                        let n = txn.get(&0).copied().unwrap_or(0);
                        txn.insert(0, n + 1);
                        txn.insert(1000 + t * 100 + i, i);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        map.get(&0),
        Some(200),
        "read-modify-write under the writer lock never loses an update"
    );
    assert_eq!(map.version().get(), 200);
}

#[test]
fn update_commits_the_closure_changes_as_one_version() {
    let map: SnapMap<String, u32> = SnapMap::new();
    let v = map
        .update(|txn| {
            txn.insert(s("a"), 1);
            txn.insert(s("b"), 2);
            txn.label("batch 1");
        })
        .unwrap();
    assert_eq!(v.get(), 1);
    let snap = map.load();
    assert_eq!(snap.len(), 2);
    assert_eq!(snap.label(), Some("batch 1"));
}

#[test]
fn panic_in_update_publishes_nothing_and_releases_the_lock() {
    let map: SnapMap<String, u32> = [(s("a"), 1)].into_iter().collect();
    let result = catch_unwind(AssertUnwindSafe(|| {
        map.update(|txn| {
            txn.insert(s("a"), 100);
            txn.insert(s("b"), 2);
            panic!("boom in the closure");
        })
    }));
    let payload = result.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the closure"));
    assert_eq!(map.get("a"), Some(1), "nothing was published");
    assert_eq!(map.get("b"), None);
    assert_eq!(map.version(), Version::INITIAL);
    // The writer lock is free and the map keeps working.
    assert!(map.try_write().is_some());
    assert_eq!(map.insert(s("c"), 3).unwrap().get(), 1);
}

#[test]
fn reentrant_write_panics_instead_of_deadlocking() {
    let map: SnapMap<String, u32> = SnapMap::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        map.update(|_txn| {
            let _ = map.insert(s("x"), 1);
        })
    }));
    let payload = result.expect_err("re-entrant write panics");
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or("");
    assert!(msg.contains("would deadlock"), "{msg}");
    assert_eq!(map.get("x"), None);
    map.insert(s("y"), 1).unwrap();
    assert_eq!(map.get("y"), Some(1));
}

#[test]
fn replace_all_resyncs_in_one_version() {
    let map: SnapMap<String, u32> = [(s("old"), 1), (s("both"), 2)].into_iter().collect();
    let before = map.load();
    let v = map.replace_all([(s("both"), 20), (s("new"), 3)]).unwrap();
    assert_eq!(v.get(), 1);
    let snap = map.load();
    let got: BTreeMap<_, _> = snap.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(got, BTreeMap::from([(s("both"), 20), (s("new"), 3)]));
    assert_eq!(before.len(), 2);
    assert_eq!(before.get("old"), Some(&1));
    // Replacing with nothing empties the map, still one version.
    assert_eq!(map.replace_all(Vec::new()).unwrap().get(), 2);
    assert!(map.is_empty());
}

#[test]
fn snapshot_accessors() {
    let t0 = SystemTime::now();
    let map: SnapMap<String, u32> = SnapMap::new();
    let mut txn = map.write();
    txn.insert(s("a"), 1);
    txn.insert(s("b"), 2);
    txn.label("etcd rev 42");
    txn.commit().unwrap();
    let snap = map.load();
    assert_eq!(snap.version().get(), 1);
    assert_eq!(snap.label(), Some("etcd rev 42"));
    assert!(snap.committed_at() >= t0);
    assert_eq!(snap.len(), 2);
    assert!(!snap.is_empty());
    assert_eq!(snap.get("a"), Some(&1));
    assert_eq!(snap.get_key_value("b"), Some((&s("b"), &2)));
    assert!(snap.contains_key("b"));
    assert!(!snap.contains_key("c"));
    let mut keys: Vec<_> = snap.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, [s("a"), s("b")]);
    let mut values: Vec<_> = snap.values().copied().collect();
    values.sort();
    assert_eq!(values, [1, 2]);
    assert_eq!(snap.iter().len(), 2);
    assert_eq!((&snap).into_iter().count(), 2);
    // A clone is the same version.
    let clone = snap.clone();
    assert!(clone.ptr_eq(&snap));
    // Snapshots can be moved to other threads and outlive the map.
    drop(map);
    let handle = thread::spawn(move || clone.get("a").copied());
    assert_eq!(handle.join().unwrap(), Some(1));
    assert_eq!(snap.get("b"), Some(&2));
}

#[test]
fn borrowed_lookups_work_everywhere() {
    let map: SnapMap<String, Arc<str>> = SnapMap::new();
    map.insert(s("key"), Arc::from("value")).unwrap();
    let key: &str = "key";
    assert_eq!(map.get(key).as_deref(), Some("value"));
    assert!(map.contains_key(key));
    assert_eq!(map.load().get(key).map(|v| &**v), Some("value"));
    let mut txn = map.write();
    assert!(txn.get(key).is_some());
    assert!(txn.remove(key).is_some());
    txn.commit().unwrap();
    assert!(!map.contains_key(key));

    let ord: SnapOrdMap<String, u32> = SnapOrdMap::new();
    ord.insert(s("k"), 1).unwrap();
    assert_eq!(ord.get("k"), Some(1));
    ord.remove("k").unwrap();
    assert_eq!(ord.get("k"), None);
}

#[test]
fn reader_revalidates_and_never_goes_back() {
    let map: SnapMap<u64, u64> = SnapMap::new();
    let mut reader = map.reader();
    assert_eq!(reader.load().version(), Version::INITIAL);
    map.insert(1, 1).unwrap();
    assert_eq!(reader.load().version().get(), 1);
    assert_eq!(reader.load().get(&1), Some(&1));
    let first = reader.load().clone();
    // No commit: the same cached snapshot comes back.
    assert!(reader.load().ptr_eq(&first));
    map.insert(2, 2).unwrap();
    assert_eq!(reader.load().version().get(), 2);
    let cloned = reader.clone();
    drop(cloned);
    // A reader keeps working after every map handle is gone.
    drop(map);
    assert_eq!(reader.load().get(&2), Some(&2));
}

#[test]
fn ordered_face_iterates_in_key_order() {
    let map: SnapOrdMap<u32, &'static str> = SnapOrdMap::new();
    map.update(|txn| {
        for (k, v) in [(5, "e"), (1, "a"), (3, "c"), (2, "b"), (4, "d")] {
            txn.insert(k, v);
        }
    })
    .unwrap();
    let snap = map.load();
    assert_eq!(snap.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(snap.iter().next_back(), Some((&5, &"e")));
    assert_eq!(
        snap.range(2..4).map(|(k, _)| *k).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        snap.range(..=2).rev().map(|(k, _)| *k).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(snap.first(), Some((&1, &"a")));
    assert_eq!(snap.last(), Some((&5, &"e")));
    assert_eq!(snap.floor(&0), None);
    assert_eq!(snap.floor(&10), Some((&5, &"e")));
}

#[test]
fn ordered_prefix_and_longest_prefix() {
    let routes: SnapOrdMap<String, u32> = [
        ("/", 0),
        ("/api", 1),
        ("/api/v1", 2),
        ("/api/v1/users", 3),
        ("/apix", 4),
        ("/b", 5),
    ]
    .into_iter()
    .map(|(k, v)| (s(k), v))
    .collect();
    let snap = routes.load();
    let under_api: Vec<_> = snap.prefix("/api/").map(|(k, _)| k.as_str()).collect();
    assert_eq!(under_api, ["/api/v1", "/api/v1/users"]);
    assert_eq!(snap.prefix("/api").count(), 4);
    assert_eq!(snap.prefix("/zzz").count(), 0);
    assert_eq!(snap.prefix("").count(), 6);

    let lp = |q: &str| snap.longest_prefix(q).map(|(k, _)| k.as_str());
    assert_eq!(lp("/api/v1/users/7"), Some("/api/v1/users"));
    assert_eq!(lp("/api/v1/orders"), Some("/api/v1"));
    assert_eq!(lp("/api/v2"), Some("/api"));
    assert_eq!(lp("/apix/1"), Some("/apix"));
    assert_eq!(lp("/apiy"), Some("/api"), "plain prefixes ignore segments");
    assert_eq!(lp("/c"), Some("/"));
    assert_eq!(lp("x"), None);
    assert_eq!(lp(""), None);

    let seg = |q: &str| snap.longest_segment_prefix(q, '/').map(|(k, _)| k.as_str());
    assert_eq!(seg("/apiy"), Some("/"), "/api must not match /apiy");
    assert_eq!(seg("/api"), Some("/api"));
    assert_eq!(seg("/api/"), Some("/api"));
    assert_eq!(seg("/api/v1x"), Some("/api"));
    assert_eq!(seg("/api/v1/users/9"), Some("/api/v1/users"));
    assert_eq!(seg("/apix"), Some("/apix"));
}

#[test]
fn longest_prefix_handles_multibyte_keys() {
    let map: SnapOrdMap<String, u32> = [("é", 1), ("éa", 2), ("日本", 3)]
        .into_iter()
        .map(|(k, v)| (s(k), v))
        .collect();
    let snap = map.load();
    assert_eq!(snap.longest_prefix("éb").map(|(_, v)| *v), Some(1));
    assert_eq!(snap.longest_prefix("日本語").map(|(_, v)| *v), Some(3));
    assert_eq!(snap.longest_prefix("日x").map(|(_, v)| *v), None);
    assert_eq!(snap.longest_prefix("\u{10FFFF}").map(|(_, v)| *v), None);
}

#[test]
fn lookups_agree_with_and_without_read_index() {
    for policy in [ReadIndex::Off, ReadIndex::Eager] {
        let map = SnapMap::<u64, u64>::builder()
            .read_index(policy)
            .read_index_min_len(0)
            .contents((0..2000).map(|i| (i, i * 2)))
            .build();
        let snap = map.load();
        assert_eq!(snap.has_read_index(), policy == ReadIndex::Eager);
        for i in 0..2100 {
            assert_eq!(snap.get(&i).copied(), (i < 2000).then_some(i * 2));
        }
    }
}

#[test]
fn version_type() {
    let v = Version::new(7);
    assert_eq!(v.get(), 7);
    assert_eq!(v.to_string(), "7");
    assert_eq!(u64::from(v), 7);
    assert!(Version::new(8) > v);
    let set: std::collections::HashSet<Version> = [v, v, Version::new(1)].into_iter().collect();
    assert_eq!(set.len(), 2);
}

#[test]
fn reads_do_not_wait_for_an_open_transaction() {
    let map: SnapMap<u64, u64> = [(1, 1)].into_iter().collect();
    let mut txn = map.write();
    txn.insert(1, 2);
    let reader_map = map.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut reader = reader_map.reader();
        let got = (
            reader_map.get(&1),
            reader_map.load().get(&1).copied(),
            reader.load().get(&1).copied(),
        );
        tx.send(got).unwrap();
    });
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("readers finished while the writer lock was held");
    assert_eq!(got, (Some(1), Some(1), Some(1)));
    txn.commit().unwrap();
    assert_eq!(map.get(&1), Some(2));
}
