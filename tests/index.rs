//! Derived read indexes: when versions get one, how commits derive it from
//! their predecessor's, and that lookups through an index always answer
//! what the version's persistent map answers, also while indexes are being
//! built concurrently.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use snapmap::{ReadIndex, SnapMap, SnapOrdMap, Snapshot};

const PATIENCE: Duration = Duration::from_secs(10);

mod support;

fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        support::wait_until(PATIENCE, cond),
        "timed out waiting until {what}"
    );
}

fn indexed(n: u64, policy: ReadIndex) -> SnapMap<u64, u64> {
    SnapMap::builder()
        .read_index(policy)
        .read_index_min_len(0)
        .contents((0..n).map(|i| (i, i)))
        .build()
}

/// A map of `0..n` under `Background { quiet }`, once version 0 is indexed.
fn background(n: u64, quiet: Duration) -> SnapMap<u64, u64> {
    let map = SnapMap::builder()
        .read_index(ReadIndex::Background { quiet })
        .read_index_min_len(0)
        .contents((0..n).map(|i| (i, i)))
        .build();
    wait_until("version 0 is indexed", || map.load().has_read_index());
    map
}

#[test]
fn eager_commits_derive_the_index_in_o_changes() {
    let map = indexed(5000, ReadIndex::Eager);
    let stats = map.stats().read_index.expect("version 0 is indexed");
    assert_eq!((stats.entries, stats.overlay), (5000, 0));
    assert!(stats.approx_bytes >= 5000 * 16);
    map.update(|txn| {
        txn.insert(1, 100);
        txn.insert(9000, 9);
        txn.remove(&2);
    })
    .unwrap();
    let snap = map.load();
    let stats = snap.read_index_stats().unwrap();
    assert_eq!(
        (stats.entries, stats.overlay),
        (5000, 3),
        "same table, three overlay entries"
    );
    assert_eq!(snap.get(&1), Some(&100));
    assert_eq!(snap.get(&9000), Some(&9));
    assert_eq!(
        snap.get(&2),
        None,
        "a removal in the overlay hides the table's entry"
    );
    assert_eq!(snap.get(&3), Some(&3));
    assert!(!snap.contains_key(&2));
    // Past its bound (max(1024, len/32)) the overlay is folded into a new table.
    for chunk in 0..11u64 {
        map.update(|txn| {
            for i in chunk * 100..chunk * 100 + 100 {
                txn.insert(i, i + 1);
            }
        })
        .unwrap();
    }
    let stats = map.stats().read_index.unwrap();
    assert!(stats.overlay < 1024, "rebuilt: overlay {}", stats.overlay);
    assert_eq!(map.get(&5), Some(6));
    // replace_all records no keys: the next index is built in full.
    map.replace_all((0..10).map(|i| (i, 0))).unwrap();
    let stats = map.stats().read_index.unwrap();
    assert_eq!((stats.entries, stats.overlay), (10, 0));
}

#[test]
fn background_builds_after_the_quiet_period_and_then_derives() {
    // Long enough that no compaction sneaks in between a commit
    // and the checks right after it on a loaded machine.
    let map = background(3000, Duration::from_millis(300));
    assert!(map.stats().index_builder_running, "started for version 0");
    // Commits on an indexed version are indexed at once, with an overlay...
    map.insert(1, 11).unwrap();
    let snap = map.load();
    assert_eq!(snap.read_index_stats().unwrap().overlay, 1);
    assert_eq!(snap.get(&1), Some(&11));
    // ...which the builder folds into a fresh table once the map is quiet.
    wait_until("compaction", || {
        map.stats().read_index.is_some_and(|s| s.overlay == 0)
    });
    assert_eq!(map.get(&1), Some(11));
}

#[test]
fn background_serves_steady_commits_within_the_max_wait() {
    let quiet = Duration::from_millis(20);
    let map = SnapMap::<u64, u64>::builder()
        .read_index(ReadIndex::Background { quiet })
        .read_index_min_len(0)
        .build();
    // A full resync leaves its version unindexed; single-key commits every
    // couple of milliseconds never leave the map quiet, yet an index arrives
    // (within 5 quiet periods of the first request, plus the build), is
    // carried across the commits made meanwhile, and stays.
    map.replace_all((0..2000).map(|k| (k, 0))).unwrap();
    assert!(!map.load().has_read_index());
    let started = Instant::now();
    let mut i = 0u64;
    let mut indexed_since = None;
    while indexed_since.is_none_or(|at: u64| i < at + 20) {
        i += 1;
        map.insert(i % 2000, i).unwrap();
        let snap = map.load();
        if snap.has_read_index() {
            indexed_since.get_or_insert(i);
            assert_eq!(snap.get(&(i % 2000)), Some(&i));
        } else {
            assert!(
                indexed_since.is_none(),
                "version {} lost the index",
                snap.version()
            );
        }
        assert!(
            started.elapsed() < PATIENCE,
            "never indexed under steady commits"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn small_maps_are_not_indexed() {
    let map = SnapMap::<u64, u64>::builder()
        .read_index(ReadIndex::Eager)
        .read_index_min_len(100)
        .contents((0..99).map(|i| (i, i)))
        .build();
    assert!(!map.load().has_read_index());
    map.insert(100, 100).unwrap();
    assert!(
        map.load().has_read_index(),
        "indexed once it reaches the threshold"
    );
    let off = indexed(5000, ReadIndex::Off);
    assert!(map.stats().read_index.is_some());
    assert!(off.stats().read_index.is_none());
    assert!(!off.stats().index_builder_running);
}

#[test]
fn ordered_face_gets_the_same_index() {
    let map: SnapOrdMap<String, u32> = SnapOrdMap::builder()
        .read_index(ReadIndex::Eager)
        .read_index_min_len(0)
        .contents((0..100).map(|i| (format!("key.{i}"), i)))
        .build();
    map.insert("key.5".to_string(), 500).unwrap();
    let snap = map.load();
    assert!(snap.has_read_index());
    assert_eq!(snap.get("key.5"), Some(&500));
    assert_eq!(snap.get("key.6"), Some(&6));
    assert_eq!(snap.get("nope"), None);
    assert_eq!(
        snap.range::<str, _>((
            std::ops::Bound::Included("key.5"),
            std::ops::Bound::Unbounded
        ))
        .next()
        .map(|(_, v)| *v),
        Some(500)
    );
}

/// Every lookup a snapshot answers through its index equals its persistent
/// map's answer; checked on every snapshot readers load while a writer
/// commits and the background builder indexes and catches up.
fn check_index_matches_map(snap: &Snapshot<u64, u64>) {
    let entries: Vec<(u64, u64)> = snap.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(entries.len(), snap.len());
    for (k, v) in &entries {
        assert_eq!(snap.get(k), Some(v), "version {}: key {k}", snap.version());
    }
    for absent in [u64::MAX, u64::MAX - 1] {
        assert_eq!(snap.get(&absent), None);
    }
}

#[test]
fn readers_never_see_an_index_that_disagrees_with_its_version() {
    for policy in [
        ReadIndex::Eager,
        ReadIndex::Background {
            quiet: Duration::ZERO,
        },
    ] {
        let map = indexed(300, policy);
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (map, stop) = (map.clone(), stop.clone());
                thread::spawn(move || {
                    let mut reader = map.reader();
                    let mut indexed = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let snap = if r == 0 {
                            reader.load().clone()
                        } else {
                            map.load()
                        };
                        indexed += usize::from(snap.has_read_index());
                        check_index_matches_map(&snap);
                    }
                    indexed
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_millis(400);
        let mut i = 0u64;
        while Instant::now() < deadline {
            match i % 10 {
                0 => map
                    .replace_all((0..300).map(|k| (k, k + i)))
                    .map(drop)
                    .unwrap(),
                _ => map
                    .update(|txn| {
                        txn.insert(i % 300, i);
                        txn.remove(&((i * 7) % 300));
                        txn.insert(1000 + i % 50, i);
                    })
                    .map(drop)
                    .unwrap(),
            }
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let seen_indexed: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(
            seen_indexed > 0,
            "{policy:?}: readers did go through indexes"
        );
        check_index_matches_map(&map.load());
    }
}

#[test]
fn background_derives_large_commits_off_the_commit_path() {
    let map = background(5000, Duration::from_millis(500));
    // A commit of more than 64 keys is published unindexed; the builder
    // derives its index right away (an overlay of exactly its keys), not
    // after a quiet period and not by a full rebuild.
    map.update(|txn| {
        for i in 0..500 {
            txn.insert(i, i + 1);
        }
    })
    .unwrap();
    wait_until("the large commit is indexed", || {
        map.load().has_read_index()
    });
    let stats = map.stats().read_index.unwrap();
    assert_eq!(
        (stats.entries, stats.overlay),
        (5000, 500),
        "derived, not rebuilt"
    );
    let snap = map.load();
    for i in 0..600 {
        assert_eq!(snap.get(&i), Some(&(if i < 500 { i + 1 } else { i })));
    }
    // Small commits on top derive at commit: indexed the moment they are
    // published.
    map.insert(7, 70).unwrap();
    let snap = map.load();
    assert!(snap.has_read_index());
    assert_eq!(snap.get(&7), Some(&70));
}

/// The oracle's answer for every key in `0..keys`, through the index.
fn check_against(snap: &Snapshot<u64, u64>, oracle: &BTreeMap<u64, u64>, keys: u64) {
    assert!(snap.has_read_index(), "version {}", snap.version());
    support::assert_lookups_match(snap, oracle, 0..keys);
}

#[test]
fn a_full_overlay_is_folded_into_a_fresh_table_exactly() {
    // Under `Eager`, a commit whose base's overlay is full folds it into a
    // copy of the table and derives from that, at commit: deterministic.
    // Inserts, overwrites, removals and re-inserts of the same keys, across
    // several folds, each checked against an oracle; snapshots taken before
    // a fold keep answering for their own version.
    let map = indexed(300, ReadIndex::Eager);
    let mut oracle: BTreeMap<u64, u64> = (0..300).map(|i| (i, i)).collect();
    let mut kept = Vec::new();
    let mut x = 7u64;
    for i in 0..3500u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = (x >> 33) % 600;
        if (x >> 20) % 3 == 0 {
            map.remove(&key).unwrap();
            oracle.remove(&key);
        } else {
            map.insert(key, i).unwrap();
            oracle.insert(key, i);
        }
        let snap = map.load();
        let overlay = snap.read_index_stats().unwrap().overlay;
        assert!(
            overlay <= 1024,
            "the overlay stays within its bound: {overlay}"
        );
        if i % 97 == 0 {
            check_against(&snap, &oracle, 600);
            kept.push((snap, oracle.clone()));
        }
    }
    for (snap, state) in &kept {
        check_against(snap, state, 600);
    }
}

#[test]
fn background_folds_under_steady_commits_without_a_quiet_period() {
    // Commits come back to back, never leaving the map quiet for 300 ms:
    // the builder folds overlays as they pass the pressure mark (333 entries at 4000 keys)
    // and the writer rebases on the fresh tables, so overlays shrink while
    // commits keep coming (a commit on an overlay never shrinks it).
    let map = background(4000, Duration::from_millis(300));
    let mut oracle: BTreeMap<u64, u64> = (0..4000).map(|i| (i, i)).collect();
    let started = Instant::now();
    let (mut i, mut largest, mut folds) = (0u64, 0, 0);
    while folds < 3 {
        assert!(started.elapsed() < PATIENCE, "no fold in {i} commits");
        i += 1;
        let key = (i * 7919) % 4000;
        map.insert(key, i).unwrap();
        oracle.insert(key, i);
        // (An unindexed version, were the overlay to fill, is no fold.)
        let Some(stats) = map.load().read_index_stats() else {
            largest = 0;
            continue;
        };
        let overlay = stats.overlay;
        if overlay < largest {
            folds += 1;
        }
        largest = overlay;
        assert!(
            overlay <= 1024,
            "the overlay stays within its bound: {overlay}"
        );
    }
    wait_until("the current version is indexed", || {
        map.load().has_read_index()
    });
    check_against(&map.load(), &oracle, 4000);
}

/// Commits `commits` single-key rewrites of `key_of(i)` to `map`, checking
/// each version's lookups of `0..keys` against an oracle every `check`
/// commits; returns how many versions were published without an index.
fn rewrite(
    map: &SnapMap<u64, u64>,
    keys: u64,
    commits: u64,
    check: u64,
    key_of: impl Fn(u64) -> u64,
) -> u64 {
    let mut oracle: BTreeMap<u64, u64> = map.load().iter().map(|(k, v)| (*k, *v)).collect();
    let mut unindexed = 0;
    for i in 1..=commits {
        let key = key_of(i);
        map.insert(key, i).unwrap();
        oracle.insert(key, i);
        let snap = map.load();
        unindexed += u64::from(!snap.has_read_index());
        if i % check == 0 {
            support::assert_lookups_match(&snap, &oracle, 0..keys);
        }
    }
    wait_until("the current version is indexed", || {
        map.load().has_read_index()
    });
    check_against(&map.load(), &oracle, keys);
    unindexed
}

#[test]
fn a_hot_key_rewritten_by_every_commit_is_folded_away() {
    // Each rewrite of one key adds an entry its lookups scan: past a few,
    // the builder folds them into a fresh table (by rewrites, not by
    // distinct keys, of which there is one), and the log refuses a key
    // with too many (a fold is due), so its lookups stay short.
    let map = background(4000, Duration::from_millis(300));
    let unindexed = rewrite(&map, 4000, 5000, 499, |_| 42);
    eprintln!("hot key: {unindexed} of 5000 versions unindexed");
    assert!(
        unindexed < 2500,
        "{unindexed} of 5000 versions were published without an index"
    );
}

#[test]
fn the_writer_rebases_on_folds_that_outlast_a_thousand_commits() {
    // A large map's fold takes long enough for thousands of commits (more
    // than the commit log's minimum window of 1024) to land meanwhile: the
    // log keeps an overlay's worth of commits, so the writer still rebases
    // on the fresh table, and the old table's overlay never fills up.
    let n = 200_000;
    let map = background(n, Duration::from_secs(5));
    let unindexed = rewrite(&map, n, 40_000, 9_973, |i| (i * 7919) % 8192);
    eprintln!("large map: {unindexed} of 40000 versions unindexed");
    assert!(
        unindexed < 4000,
        "{unindexed} of 40000 versions were published without an index"
    );
}
