//! Drop accounting: with keys and values that count their constructions
//! and drops, every one is dropped exactly once after every handle,
//! snapshot, reader and subscriber is gone: no leak, no double drop. Also
//! while versions are retired concurrently.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use snapmap::{ReadIndex, SnapMap, SnapOrdMap};

#[derive(Default, Debug)]
struct Ledger {
    made: AtomicU64,
    dropped: AtomicU64,
    /// Goes negative on a double drop before `made` catches up.
    live: AtomicI64,
}

impl Ledger {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    fn made(&self) {
        self.made.fetch_add(1, Ordering::SeqCst);
        self.live.fetch_add(1, Ordering::SeqCst);
    }
    fn assert_balanced(&self, what: &str) {
        let (made, dropped) = (
            self.made.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        );
        assert!(made > 0, "{what}: nothing was counted");
        assert_eq!(made, dropped, "{what}: {made} made, {dropped} dropped");
        assert_eq!(self.live.load(Ordering::SeqCst), 0);
    }
}

/// A counted key or value: `id` plus the ledger it reports to.
#[derive(Debug)]
struct Counted {
    id: u64,
    ledger: Arc<Ledger>,
}

impl Counted {
    fn new(id: u64, ledger: &Arc<Ledger>) -> Self {
        ledger.made();
        Counted {
            id,
            ledger: Arc::clone(ledger),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.id, &self.ledger)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
        let live = self.ledger.live.fetch_sub(1, Ordering::SeqCst);
        assert!(live > 0, "double drop of {}", self.id);
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Counted {}
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
impl PartialOrd for Counted {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Counted {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

fn exercise<S>(map: SnapMap<Counted, Counted, S>, keys: &Arc<Ledger>, values: &Arc<Ledger>)
where
    S: snapmap::Backend<Counted, Counted> + snapmap::Lookup<Counted, Counted, Counted>,
{
    let k = |id| Counted::new(id, keys);
    let v = |id| Counted::new(id, values);
    let held = map.load();
    let mut reader = map.reader();
    let mut sub = map.subscribe();
    for i in 0..300 {
        map.insert(k(i % 120), v(i)).unwrap();
        if i % 7 == 0 {
            map.remove(&k(i % 50)).unwrap();
        }
        if i % 50 == 0 {
            let _ = reader.load();
            let _ = sub.wait_timeout(Duration::ZERO);
        }
    }
    map.update(|txn| {
        for i in 0..40 {
            txn.insert(k(1000 + i), v(i));
        }
        txn.label("batch");
    })
    .unwrap();
    {
        let mut dropped_txn = map.write();
        dropped_txn.insert(k(5000), v(5000));
    }
    map.replace_all((0..80).map(|i| (k(i), v(i)))).unwrap();
    let first = map.history()[0];
    let _ = map.rollback_to(first);
    let old = map.at(first);
    let diff = map.load().diff(&held);
    assert!(!diff.is_empty());
    drop((held, reader, sub, old, diff));
    let clone = map.clone();
    drop(map);
    drop(clone);
}

#[test]
fn every_key_and_value_is_dropped_exactly_once() {
    for policy in [
        ReadIndex::Off,
        ReadIndex::Eager,
        ReadIndex::Background {
            quiet: Duration::ZERO,
        },
    ] {
        let (keys, values) = (Ledger::new(), Ledger::new());
        let map = SnapMap::<Counted, Counted>::builder()
            .history(5)
            .read_index(policy)
            .read_index_min_len(0)
            .build();
        exercise(map, &keys, &values);
        keys.assert_balanced(&format!("hash keys, {policy:?}"));
        values.assert_balanced(&format!("hash values, {policy:?}"));

        let (keys, values) = (Ledger::new(), Ledger::new());
        let map = SnapOrdMap::<Counted, Counted>::builder()
            .history(5)
            .read_index(policy)
            .read_index_min_len(0)
            .build();
        exercise(map, &keys, &values);
        keys.assert_balanced(&format!("ordered keys, {policy:?}"));
        values.assert_balanced(&format!("ordered values, {policy:?}"));
    }
}

/// Readers retire versions on their threads while the writer commits and
/// the background builder indexes: still exactly one drop each.
#[test]
fn balanced_while_versions_retire_concurrently() {
    let (keys, values) = (Ledger::new(), Ledger::new());
    let map = SnapMap::<Counted, Counted>::builder()
        .history(3)
        .read_index(ReadIndex::Background {
            quiet: Duration::ZERO,
        })
        .read_index_min_len(0)
        .contents((0..100).map(|i| (Counted::new(i, &keys), Counted::new(i, &values))))
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (map, stop, keys) = (map.clone(), stop.clone(), keys.clone());
            thread::spawn(move || {
                let mut reader = map.reader();
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let snap = if r == 0 {
                        reader.load().clone()
                    } else {
                        map.load()
                    };
                    assert!(snap.get(&Counted::new(1, &keys)).is_some());
                    held.push(snap);
                    if held.len() > 4 {
                        held.remove(0);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(400);
    let mut i = 0;
    while Instant::now() < deadline {
        map.update(|txn| {
            txn.insert(Counted::new(i % 150, &keys), Counted::new(i, &values));
            txn.remove(&Counted::new((i + 7) % 150 + 2, &keys));
        })
        .unwrap();
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(i > 10);
    drop(map);
    keys.assert_balanced("keys");
    values.assert_balanced("values");
}
