//! The mixed stress run (`#[ignore]`d; CI runs it in release with
//! `cargo test --release -- --ignored`; `SNAPMAP_STRESS_SECS` sets its
//! length, default 5 s).
//!
//! Threads: readers through `load()` and a `Reader` (alternating, so one
//! thread mixes both), holders of long-lived snapshots, a blocking and an
//! async subscriber, a `synchronize_timeout` caller, and one writer mixing
//! single-key commits, batches, `replace_all`, rejected commits, empty
//! commits and `rollback_to`. Checked throughout: no torn batch, versions
//! never go down per thread, held snapshots never change, subscribers see
//! strictly increasing versions and end on the last one, every observed
//! version's contents match what the writer's sequential oracle published,
//! the final contents equal the oracle, and every thread finishes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use snapmap::{CommitError, ReadIndex, SnapMap, Snapshot, Version};

mod support;

const ACCOUNTS: u64 = 48;
const TOTAL: u64 = ACCOUNTS * 1000;
const GROUP: std::ops::Range<u64> = 100..112;
const SCRATCH: std::ops::Range<u64> = 1000..1400;
const POISON: u64 = 666;
const PATIENCE: Duration = Duration::from_secs(30);

type Oracle = BTreeMap<u64, u64>;
/// (version, content fingerprint) pairs a thread observed.
type Samples = Vec<(Version, u64)>;

fn fingerprint<'a>(entries: impl Iterator<Item = (&'a u64, &'a u64)>) -> u64 {
    // Order-independent: the hash face iterates in no particular order.
    entries
        .map(|(k, v)| {
            (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        })
        .fold(0u64, u64::wrapping_add)
}

fn check_invariants(snap: &Snapshot<u64, u64>) {
    let v = snap.version();
    let sum: u64 = (0..ACCOUNTS)
        .map(|k| {
            snap.get(&k)
                .copied()
                .unwrap_or_else(|| panic!("v{v}: account {k} missing"))
        })
        .sum();
    assert_eq!(sum, TOTAL, "torn transfer in version {v}");
    let batch = snap.get(&GROUP.start).copied();
    assert!(batch.is_some(), "v{v}: group missing");
    for k in GROUP {
        assert_eq!(
            snap.get(&k).copied(),
            batch,
            "torn group batch in version {v}"
        );
    }
    assert!(
        !snap.contains_key(&POISON),
        "a rejected commit leaked into version {v}"
    );
}

/// Xorshift, so the writer needs no RNG dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Joins `handle`, failing with `name` if it does not finish by `deadline`.
fn join_by<T>(handle: JoinHandle<T>, deadline: Instant, name: &str) -> T {
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{name} did not finish: deadlock or livelock"
        );
        thread::sleep(Duration::from_millis(5));
    }
    handle.join().unwrap_or_else(|_| panic!("{name} panicked"))
}

fn initial() -> Oracle {
    (0..ACCOUNTS)
        .map(|k| (k, 1000))
        .chain(GROUP.map(|k| (k, 0)))
        .collect()
}

#[test]
#[ignore]
fn mixed_stress() {
    let secs: u64 = std::env::var("SNAPMAP_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for policy in [ReadIndex::default(), ReadIndex::Eager] {
        run(Duration::from_secs(secs), policy);
    }
}

fn run(duration: Duration, policy: ReadIndex) {
    let map = SnapMap::<u64, u64>::builder()
        .history(16)
        .read_index(policy)
        .read_index_min_len(0)
        .max_live_versions(64)
        .max_live_wait(Duration::from_secs(5))
        .validator(|c| {
            if c.contains_key(&POISON) {
                Err("poison key".into())
            } else {
                Ok(())
            }
        })
        .contents(initial())
        .build();
    let published: Arc<Mutex<HashMap<Version, u64>>> = Arc::new(Mutex::new(HashMap::from([(
        Version::INITIAL,
        fingerprint(initial().iter()),
    )])));
    let stop = Arc::new(AtomicBool::new(false));
    let sync_calls = Arc::new(AtomicU64::new(0));
    let mut threads: Vec<(&str, JoinHandle<Samples>)> = Vec::new();

    for r in 0..4 {
        let (map, stop) = (map.clone(), stop.clone());
        threads.push((
            "reader",
            thread::spawn(move || {
                let mut source = support::ReaderThread::new(format!("reader {r}"), map);
                let mut samples = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // Alternate sources on one thread: versions still never go down.
                    let snap = source.next((n + r) % 2 == 0);
                    check_invariants(&snap);
                    if n % 8 == 0 {
                        samples.push((snap.version(), fingerprint(snap.iter())));
                    }
                    let _ = source.map().get(&(SCRATCH.start + n % 400));
                }
                samples
            }),
        ));
    }

    {
        let (map, stop) = (map.clone(), stop.clone());
        threads.push((
            "holder",
            thread::spawn(move || {
                let mut held: Vec<(Snapshot<u64, u64>, u64, Instant)> = Vec::new();
                let mut samples = Vec::new();
                let mut rng = Rng(7);
                while !stop.load(Ordering::Relaxed) {
                    let snap = map.load();
                    let print = fingerprint(snap.iter());
                    samples.push((snap.version(), print));
                    held.push((
                        snap,
                        print,
                        Instant::now() + Duration::from_millis(5 + rng.below(40)),
                    ));
                    // A held snapshot never changes.
                    for (snap, print, _) in &held {
                        assert_eq!(
                            fingerprint(snap.iter()),
                            *print,
                            "held version {} changed",
                            snap.version()
                        );
                        check_invariants(snap);
                    }
                    held.retain(|(_, _, until)| Instant::now() < *until);
                    thread::sleep(Duration::from_millis(2));
                }
                samples
            }),
        ));
    }

    // The number of the last version, once the writer knows it (before
    // publishing it): subscribers run until they have seen it.
    let last = Arc::new(AtomicU64::new(u64::MAX));
    let blocking_sub = {
        let (mut sub, last) = (map.subscribe(), last.clone());
        thread::spawn(move || {
            let mut seen = vec![sub.seen()];
            while seen.last().unwrap().get() != last.load(Ordering::SeqCst) {
                if let Some(snap) = sub.wait_timeout(Duration::from_millis(20)) {
                    check_invariants(&snap);
                    seen.push(snap.version());
                }
            }
            (sub, seen)
        })
    };
    let async_sub = {
        let (mut sub, last) = (map.subscribe(), last.clone());
        thread::spawn(move || {
            let mut seen = vec![sub.seen()];
            while seen.last().unwrap().get() != last.load(Ordering::SeqCst) {
                match pollster::block_on(sub.changed()) {
                    Some(snap) => seen.push(snap.version()),
                    None => break,
                }
            }
            (sub, seen)
        })
    };

    {
        let (map, stop, calls) = (map.clone(), stop.clone(), sync_calls.clone());
        threads.push((
            "synchronizer",
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = map.synchronize_timeout(Duration::from_millis(20));
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                Vec::new()
            }),
        ));
    }

    // The writer, with its sequential oracle.
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut oracle = initial();
    let mut states: HashMap<Version, Oracle> = HashMap::from([(Version::INITIAL, oracle.clone())]);
    let mut counts = BTreeMap::<&str, u64>::new();
    let deadline = Instant::now() + duration;
    let mut batch = 0u64;
    while Instant::now() < deadline {
        let before = map.version();
        let mut next = oracle.clone();
        let (kind, result) = match rng.below(100) {
            0..=39 => {
                batch += 1;
                let (from, to, amount) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS), rng.below(300));
                if from != to && next[&from] >= amount {
                    *next.get_mut(&from).unwrap() -= amount;
                    *next.get_mut(&to).unwrap() += amount;
                }
                for k in GROUP {
                    next.insert(k, batch);
                }
                let target = next.clone();
                (
                    "batch",
                    map.update(|txn| {
                        for k in (0..ACCOUNTS).chain(GROUP) {
                            if txn.get(&k) != target.get(&k) {
                                txn.insert(k, target[&k]);
                            }
                        }
                    }),
                )
            }
            40..=59 => {
                let (k, v) = (SCRATCH.start + rng.below(400), rng.next());
                next.insert(k, v);
                ("insert", map.insert(k, v))
            }
            60..=69 => {
                let k = SCRATCH.start + rng.below(400);
                next.remove(&k);
                ("remove", map.remove(&k))
            }
            70..=74 => {
                // A resync that moves balances around but keeps the sum.
                let shift = rng.below(ACCOUNTS);
                let balances: Vec<u64> = (0..ACCOUNTS).map(|k| next[&k]).collect();
                for k in 0..ACCOUNTS {
                    next.insert(k, balances[((k + shift) % ACCOUNTS) as usize]);
                }
                ("replace_all", map.replace_all(next.clone()))
            }
            75..=84 => {
                let mut txn = map.write();
                txn.insert(0, 0);
                txn.insert(POISON, 1);
                let result = txn.commit();
                assert!(
                    matches!(result, Err(CommitError::Rejected { current, .. }) if current == before),
                    "{result:?}"
                );
                next = oracle.clone();
                ("rejected", Ok(before))
            }
            85..=94 => {
                let history = map.history();
                let target = history[rng.below(history.len() as u64) as usize];
                next = states[&target].clone();
                ("rollback", map.rollback_to(target))
            }
            _ => ("empty", map.write().commit()),
        };
        let version = result.unwrap_or_else(|e| panic!("{kind} failed: {e}"));
        *counts.entry(kind).or_default() += 1;
        if version != before {
            assert_eq!(
                version,
                Version::new(before.get() + 1),
                "{kind}: versions are consecutive"
            );
            states.insert(version, next.clone());
            published.lock().insert(version, fingerprint(next.iter()));
        }
        oracle = next;
    }
    // Stop everyone, then publish one last version: subscribers drain to
    // it before they exit (and the async one is woken out of `changed()`).
    stop.store(true, Ordering::Relaxed);
    last.store(map.version().get() + 1, Ordering::SeqCst);
    let final_version = map.insert(SCRATCH.start, 1).unwrap();
    assert_eq!(final_version.get(), last.load(Ordering::SeqCst));
    oracle.insert(SCRATCH.start, 1);
    published
        .lock()
        .insert(final_version, fingerprint(oracle.iter()));
    let end = Instant::now() + PATIENCE;
    let mut samples = Vec::new();
    for (name, handle) in threads {
        samples.extend(join_by(handle, end, name));
    }
    for (name, handle) in [
        ("blocking subscriber", blocking_sub),
        ("async subscriber", async_sub),
    ] {
        let (_sub, seen) = join_by(handle, end, name);
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "{name}: versions not strictly increasing"
        );
        assert_eq!(
            *seen.last().unwrap(),
            final_version,
            "{name} did not end on the last version"
        );
    }

    // Every version anyone observed had exactly the contents the writer
    // published under that number.
    let published = published.lock();
    for (version, print) in &samples {
        assert_eq!(
            published.get(version),
            Some(print),
            "version {version} contents differ from the oracle"
        );
    }
    let last = map.load();
    let got: Oracle = last.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got, oracle, "final contents equal the sequential oracle");
    check_invariants(&last);
    drop(last);
    assert!(
        map.synchronize_timeout(PATIENCE),
        "old versions released once every thread is gone"
    );
    assert_eq!(map.stats().live_versions, 1);
    println!(
        "{policy:?}: {} versions, ops {counts:?}, {} snapshots checked, {} synchronize calls",
        final_version,
        samples.len(),
        sync_calls.load(Ordering::Relaxed)
    );
    assert!(counts.len() >= 6, "every kind of write ran: {counts:?}");
}
