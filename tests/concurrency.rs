//! Readers and a writer on real threads: no reader ever sees a torn batch,
//! and the versions each reader sees never go down. A short run is part of
//! the normal suite; `long_run` is `#[ignore]`d and run by CI in release.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use snapmap::{ReadIndex, SnapMap, Snapshot};

mod support;

/// Accounts whose balances always sum to `TOTAL`, a group of keys that
/// always carry one batch id, and a key holding the commit count.
const ACCOUNTS: u64 = 64;
const GROUP: std::ops::Range<u64> = 1000..1016;
const COMMITS_KEY: u64 = 9999;
const TOTAL: u64 = ACCOUNTS * 100;

fn initial() -> impl Iterator<Item = (u64, u64)> {
    (0..ACCOUNTS)
        .map(|k| (k, 100))
        .chain(GROUP.map(|k| (k, 0)))
        .chain([(COMMITS_KEY, 0)])
}

/// Checks every invariant on one snapshot; panics with the version on a
/// torn batch.
fn check_snapshot(snap: &Snapshot<u64, u64>) {
    let v = snap.version();
    let sum: u64 = (0..ACCOUNTS)
        .map(|k| *snap.get(&k).expect("account present"))
        .sum();
    assert_eq!(sum, TOTAL, "torn transfer in version {v}");
    let batch = *snap.get(&GROUP.start).expect("group present");
    for k in GROUP {
        assert_eq!(
            snap.get(&k),
            Some(&batch),
            "torn group batch in version {v}"
        );
    }
    assert_eq!(
        snap.get(&COMMITS_KEY).copied(),
        Some(v.get()),
        "version number and contents disagree"
    );
    assert_eq!(snap.len() as u64, ACCOUNTS + GROUP.end - GROUP.start + 1);
}

struct Outcome {
    commits: u64,
    reads: u64,
}

fn run(duration: Duration, policy: ReadIndex, readers: usize) -> Outcome {
    let map = SnapMap::<u64, u64>::builder()
        .read_index(policy)
        .read_index_min_len(0)
        .contents(initial())
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(readers + 1));
    let mut handles = Vec::new();
    for r in 0..readers {
        let (map, stop, reads, start) = (map.clone(), stop.clone(), reads.clone(), start.clone());
        handles.push(thread::spawn(move || {
            let mut source = support::ReaderThread::new(format!("reader {r}"), map);
            let mut n = 0u64;
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                // Half the readers use a cached Reader, half load().
                let snap = source.next(r % 2 == 0);
                check_snapshot(&snap);
                n += 1;
            }
            reads.fetch_add(n, Ordering::Relaxed);
        }));
    }
    start.wait();
    let deadline = Instant::now() + duration;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut commits = 0u64;
    let mut expected = initial().collect::<std::collections::BTreeMap<_, _>>();
    while Instant::now() < deadline {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (from, to, amount) = (rng % ACCOUNTS, (rng >> 8) % ACCOUNTS, (rng >> 16) % 50);
        let batch = commits + 1;
        if rng % 97 == 0 {
            // A full resync that keeps every invariant.
            let mut next = expected.clone();
            for k in GROUP {
                next.insert(k, batch);
            }
            next.insert(COMMITS_KEY, batch);
            map.replace_all(next.clone()).unwrap();
            expected = next;
        } else {
            map.update(|txn| {
                let a = *txn.get(&from).unwrap();
                if a >= amount && from != to {
                    let b = *txn.get(&to).unwrap();
                    txn.insert(from, a - amount);
                    txn.insert(to, b + amount);
                }
                for k in GROUP {
                    txn.insert(k, batch);
                }
                txn.insert(COMMITS_KEY, batch);
            })
            .unwrap();
            let a = expected[&from];
            if a >= amount && from != to {
                *expected.get_mut(&from).unwrap() -= amount;
                *expected.get_mut(&to).unwrap() += amount;
            }
            for k in GROUP {
                expected.insert(k, batch);
            }
            expected.insert(COMMITS_KEY, batch);
        }
        commits += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("a reader saw a broken invariant");
    }
    // The final contents equal the sequential oracle.
    let last = map.load();
    check_snapshot(&last);
    assert_eq!(last.version().get(), commits);
    let got: std::collections::BTreeMap<_, _> = last.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got, expected);
    Outcome {
        commits,
        reads: reads.load(Ordering::Relaxed),
    }
}

#[test]
fn short_run_no_torn_batches() {
    for policy in [
        ReadIndex::Off,
        ReadIndex::Eager,
        ReadIndex::Background {
            quiet: Duration::ZERO,
        },
    ] {
        let outcome = run(Duration::from_millis(300), policy, 4);
        assert!(
            outcome.commits > 10,
            "{policy:?}: writer made progress ({} commits)",
            outcome.commits
        );
        assert!(
            outcome.reads > 10,
            "{policy:?}: readers made progress ({} reads)",
            outcome.reads
        );
    }
}

#[test]
fn reads_are_never_blocked_by_an_open_transaction() {
    let map: SnapMap<u64, u64> = initial().collect();
    let txn = map.write();
    let reader_map = map.clone();
    let done = thread::spawn(move || {
        let mut reader = reader_map.reader();
        for _ in 0..10_000 {
            check_snapshot(&reader_map.load());
            check_snapshot(reader.load());
        }
    });
    let started = Instant::now();
    while !done.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "readers stuck behind the writer lock"
        );
        thread::sleep(Duration::from_millis(1));
    }
    done.join().unwrap();
    drop(txn);
}

/// CI runs this in release: `cargo test --release -- --ignored`.
/// `SNAPMAP_STRESS_SECS` sets the length of each of the three runs.
#[test]
#[ignore]
fn long_run() {
    let secs = std::env::var("SNAPMAP_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for policy in [
        ReadIndex::Off,
        ReadIndex::Eager,
        ReadIndex::Background {
            quiet: Duration::from_millis(1),
        },
    ] {
        let outcome = run(Duration::from_secs(secs), policy, 6);
        println!(
            "{policy:?}: {} commits, {} snapshot checks",
            outcome.commits, outcome.reads
        );
        assert!(outcome.commits > 100);
    }
}
