//! Panic safety: a panic in any piece of user code (the `update` closure,
//! the validator, a value's `Clone`, a key's `Hash`/`Ord`, a value's `Drop`)
//! leaves the published version intact, the writer lock free, and later
//! commits working.

use std::cmp::Ordering as CmpOrdering;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use snapmap::{CommitError, ReadIndex, SnapMap, SnapOrdMap, Version};

/// Shared switches: which user code should panic right now.
#[derive(Default)]
struct Traps {
    clone: AtomicBool,
    hash: AtomicBool,
    ord: AtomicBool,
    drop: AtomicBool,
}

impl Traps {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[derive(Debug)]
struct Key(u32, Arc<Traps>);

impl std::fmt::Debug for Traps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traps")
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Key(self.0, Arc::clone(&self.1))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.1.hash.load(Ordering::SeqCst) {
            panic!("Hash trap");
        }
        self.0.hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        if self.1.ord.load(Ordering::SeqCst) {
            panic!("Ord trap");
        }
        self.0.cmp(&other.0)
    }
}

#[derive(Debug)]
struct Val(u32, Arc<Traps>);

impl Clone for Val {
    fn clone(&self) -> Self {
        if self.1.clone.load(Ordering::SeqCst) {
            panic!("Clone trap");
        }
        Val(self.0, Arc::clone(&self.1))
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // Never panic while already unwinding: that would abort the test.
        if self.1.drop.load(Ordering::SeqCst) && !std::thread::panicking() {
            self.1.drop.store(false, Ordering::SeqCst);
            panic!("Drop trap");
        }
    }
}

fn contents(traps: &Arc<Traps>, n: u32) -> Vec<(Key, Val)> {
    (0..n)
        .map(|i| (Key(i, traps.clone()), Val(i, traps.clone())))
        .collect()
}

/// The checks every case ends with: the version is intact (keys `0..n`
/// map to themselves, plus `extra` other keys), the writer lock is free, and
/// a later commit works.
fn assert_intact<S>(map: &SnapMap<Key, Val, S>, traps: &Arc<Traps>, version: Version, n: u32)
where
    S: snapmap::Backend<Key, Val> + snapmap::Lookup<Key, Val, Key>,
{
    assert_intact_with(map, traps, version, n, 0);
}

fn assert_intact_with<S>(
    map: &SnapMap<Key, Val, S>,
    traps: &Arc<Traps>,
    version: Version,
    n: u32,
    extra: usize,
) where
    S: snapmap::Backend<Key, Val> + snapmap::Lookup<Key, Val, Key>,
{
    assert_eq!(map.version(), version, "published version unchanged");
    let snap = map.load();
    assert_eq!(snap.len(), n as usize + extra);
    for i in 0..n {
        assert_eq!(
            snap.get(&Key(i, traps.clone())).map(|v| v.0),
            Some(i),
            "key {i} intact"
        );
    }
    assert!(map.try_write().is_some(), "writer lock is free");
    let next = map
        .insert(Key(10_000, traps.clone()), Val(1, traps.clone()))
        .expect("later commits work");
    assert_eq!(next, Version::new(version.get() + 1));
}

fn hash_map(traps: &Arc<Traps>, n: u32, policy: ReadIndex) -> SnapMap<Key, Val> {
    SnapMap::builder()
        .read_index(policy)
        .read_index_min_len(0)
        .contents(contents(traps, n))
        .build()
}

#[test]
fn update_closure_panic() {
    let traps = Traps::new();
    let map = hash_map(&traps, 50, ReadIndex::Off);
    let result = catch_unwind(AssertUnwindSafe(|| {
        map.update(|txn| {
            txn.insert(Key(1, traps.clone()), Val(999, traps.clone()));
            panic!("closure");
        })
    }));
    assert!(result.is_err());
    assert_intact(&map, &traps, Version::INITIAL, 50);
}

#[test]
fn validator_panic() {
    let traps = Traps::new();
    let map = SnapMap::<Key, Val>::builder()
        .validator(|c| {
            if c.len() > 50 {
                panic!("validator")
            } else {
                Ok(())
            }
        })
        .contents(contents(&traps, 50))
        .build();
    let err = map
        .insert(Key(77, traps.clone()), Val(7, traps.clone()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommitError::Panicked {
                during: "validator",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(map.version(), Version::INITIAL);
    assert_eq!(map.len(), 50);
    assert!(map.try_write().is_some());
    // Replacing an existing key keeps the length: accepted.
    assert_eq!(
        map.insert(Key(3, traps.clone()), Val(33, traps.clone()))
            .unwrap(),
        Version::new(1)
    );
}

/// A `Clone` that panics while the transaction copies nodes on write
/// poisons the transaction; committing it anyway publishes nothing.
#[test]
fn value_clone_panic_inside_a_transaction() {
    let traps = Traps::new();
    let map = hash_map(&traps, 200, ReadIndex::Off);
    let _old = map.load(); // shared nodes must be copied, cloning values
    let mut txn = map.write();
    traps.clone.store(true, Ordering::SeqCst);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        for i in 0..200 {
            txn.insert(Key(i, traps.clone()), Val(i + 1, traps.clone()));
        }
    }));
    traps.clone.store(false, Ordering::SeqCst);
    assert!(
        caught.is_err(),
        "copy-on-write cloned a value and hit the trap"
    );
    let err = txn.commit().unwrap_err();
    assert!(
        matches!(
            err,
            CommitError::Panicked {
                during: "transaction",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(map.stats().rejected, 1);
    assert_intact(&map, &traps, Version::INITIAL, 200);
}

/// A `Clone` that panics while an eager read index is built rejects the
/// commit.
#[test]
fn value_clone_panic_while_building_an_eager_index() {
    let traps = Traps::new();
    let map = hash_map(&traps, 100, ReadIndex::Eager);
    let mut txn = map.write();
    txn.insert(Key(500, traps.clone()), Val(5, traps.clone()));
    traps.clone.store(true, Ordering::SeqCst);
    let result = txn.commit();
    traps.clone.store(false, Ordering::SeqCst);
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            CommitError::Panicked {
                during: "read index build",
                ..
            }
        ),
        "{err:?}"
    );
    assert_intact(&map, &traps, Version::INITIAL, 100);
    assert!(map.load().has_read_index());
}

/// A panic in the background builder is recorded; lookups keep working on
/// the persistent map and later versions are indexed again.
#[test]
fn value_clone_panic_in_the_background_builder() {
    let traps = Traps::new();
    let map = SnapMap::<Key, Val>::builder()
        .read_index(ReadIndex::Background {
            quiet: Duration::ZERO,
        })
        .read_index_min_len(0)
        .build();
    // Version 0's own build done first: a build still running when version
    // 1 lands catches it up in the same job (and reports version 0).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !map.load().has_read_index() {
        assert!(Instant::now() < deadline, "version 0 was never indexed");
        std::thread::sleep(Duration::from_millis(1));
    }
    traps.clone.store(true, Ordering::SeqCst);
    map.update(|txn| {
        for (k, v) in contents(&traps, 100) {
            txn.insert(k, v);
        }
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while map.stats().last_error.is_none() {
        assert!(
            Instant::now() < deadline,
            "builder panic was never recorded"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    traps.clone.store(false, Ordering::SeqCst);
    let error = map.stats().last_error.unwrap();
    assert!(
        error.contains("read index build for version 1 panicked: Clone trap"),
        "{error}"
    );
    assert!(!map.load().has_read_index());
    assert_eq!(map.load().get(&Key(7, traps.clone())).map(|v| v.0), Some(7));
    // The builder survived: the next version gets its index.
    map.insert(Key(1000, traps.clone()), Val(1, traps.clone()))
        .unwrap();
    while !map.load().has_read_index() {
        assert!(Instant::now() < deadline, "builder thread died");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn key_hash_panic_inside_a_transaction_and_on_lookup() {
    let traps = Traps::new();
    let map = hash_map(&traps, 20, ReadIndex::Off);
    let mut txn = map.write();
    traps.hash.store(true, Ordering::SeqCst);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        txn.insert(Key(99, traps.clone()), Val(1, traps.clone()));
    }));
    assert!(caught.is_err());
    // A panicking lookup by a reader changes nothing either.
    let lookup = catch_unwind(AssertUnwindSafe(|| map.get(&Key(1, traps.clone()))));
    assert!(lookup.is_err());
    traps.hash.store(false, Ordering::SeqCst);
    assert!(
        txn.commit().is_err(),
        "a poisoned transaction never publishes"
    );
    assert_intact(&map, &traps, Version::INITIAL, 20);
}

#[test]
fn key_ord_panic_on_the_ordered_face() {
    let traps = Traps::new();
    let map: SnapOrdMap<Key, Val> = SnapOrdMap::builder()
        .read_index(ReadIndex::Off)
        .contents(contents(&traps, 30))
        .build();
    traps.ord.store(true, Ordering::SeqCst);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        map.update(|txn| {
            txn.remove(&Key(5, traps.clone()));
        })
    }));
    traps.ord.store(false, Ordering::SeqCst);
    assert!(
        caught.is_err(),
        "the Ord panic propagates out of update's closure"
    );
    assert_intact(&map, &traps, Version::INITIAL, 30);
}

/// A value whose `Drop` panics while the replaced version is freed: the
/// panic leaves `commit`, but only after the new version is published and
/// the lock released.
#[test]
fn value_drop_panic_when_an_old_version_is_freed() {
    let traps = Traps::new();
    let map = hash_map(&traps, 10, ReadIndex::Off);
    let mut txn = map.write();
    txn.insert(Key(500, traps.clone()), Val(500, traps.clone()));
    // Freeing version 0 drops the value it had for key 0, whatever the
    // hasher's seed made of the nodes' layout.
    txn.insert(Key(0, traps.clone()), Val(0, traps.clone()));
    traps.drop.store(true, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| txn.commit()));
    assert!(result.is_err(), "the Drop panic propagates out of commit");
    assert!(!traps.drop.load(Ordering::SeqCst), "the trap fired");
    assert_eq!(
        map.load().get(&Key(500, traps.clone())).map(|v| v.0),
        Some(500),
        "the new version is published"
    );
    assert_eq!(map.stats().commits, 1);
    assert!(
        map.synchronize_timeout(Duration::from_secs(10)),
        "version 0 counts as freed"
    );
    assert_intact_with(&map, &traps, Version::new(1), 10, 1);
}

/// The same when the last snapshot of an old version is dropped by a
/// reader thread: only that thread sees the panic.
#[test]
fn value_drop_panic_in_a_reader_thread() {
    let traps = Traps::new();
    let map = hash_map(&traps, 10, ReadIndex::Off);
    let old = map.load().clone();
    // The old version alone holds the value replaced at key 0.
    map.update(|txn| {
        txn.insert(Key(500, traps.clone()), Val(500, traps.clone()));
        txn.insert(Key(0, traps.clone()), Val(0, traps.clone()));
    })
    .unwrap();
    traps.drop.store(true, Ordering::SeqCst);
    let reader = std::thread::spawn(move || drop(old));
    assert!(reader.join().is_err(), "the reader thread panicked in Drop");
    assert!(!traps.drop.load(Ordering::SeqCst), "the trap fired");
    assert!(
        map.synchronize_timeout(Duration::from_secs(10)),
        "the version still counts as freed"
    );
    assert_intact_with(&map, &traps, Version::new(1), 10, 1);
}
