//! What a write costs: a single-key commit and a 1,000-key batch commit at
//! 1k, 100k and 1M entries, for snapmap against an unsynchronized `imbl`
//! map (the persistent-map work alone), `ArcSwap<HashMap>` cloned in full
//! and `RwLock<HashMap>` insert; and what a snapshot `diff` costs.
//!
//! The `path-copy` group measures `imbl` alone at 1M entries: the cost of
//! one overwrite when `B` of them are applied to one copy of the map (the
//! copy replacing the map, the old one dropped) and when the map is not
//! shared at all. It bounds what any batching or deferral of persistent
//! writes could save (see BENCHMARKS.md, "What a persistent write costs").
//!
//! `cargo bench --bench write -- 'commit-1/'`

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use snapmap::SnapMap;

#[allow(dead_code)] // reason: shared by the benches, partly used by each
mod common;
use common::{adapters, keys};

use adapters::{Adapter, ArcSwapClone, ImblFloor, IndexPolicy, MapHandle, SnapReader, StdRwLock};
use common::{size_label, Fixture, Hasher, Visit, PROBES};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const BATCH: usize = 1000;

/// Commits of present keys with new values (the map's size stays put).
struct CommitBench<'a, 'g> {
    group: &'a mut BenchmarkGroup<'g, WallTime>,
    fixture: &'a Fixture<u64>,
    batch: usize,
}

impl Visit<u64> for CommitBench<'_, '_> {
    fn visit<A: Adapter<u64, Hasher>>(&mut self, name: &str) {
        // Built on first use: a benchmark filtered out never builds its map.
        let map = OnceCell::new();
        let mut handle = None;
        let fixture = self.fixture;
        let probes = &fixture.probes;
        let id = BenchmarkId::new(name, size_label(fixture.entries.len()));
        let batch = self.batch;
        let mut items: Vec<(u64, u64)> = probes[..batch].iter().map(|&k| (k, 0)).collect();
        let mut n = 0usize;
        self.group.bench_function(id, |b| {
            let handle = handle.get_or_insert_with(|| {
                let map: &A = map.get_or_init(|| A::build(&fixture.spec(IndexPolicy::Default)));
                map.handle()
            });
            if batch == 1 {
                b.iter(|| {
                    handle.insert(probes[n & (PROBES - 1)], n as u64);
                    n = n.wrapping_add(1);
                })
            } else {
                b.iter(|| {
                    n = n.wrapping_add(1);
                    for (i, item) in items.iter_mut().enumerate() {
                        *item = (probes[(n * 7919 + i) & (PROBES - 1)], n as u64);
                    }
                    handle.insert_batch(&items);
                })
            }
        });
        if let Some(handle) = handle.as_mut() {
            handle.flush();
        }
    }
}

fn commits(c: &mut Criterion) {
    for (batch, group_name) in [(1, "commit-1"), (BATCH, "commit-1000")] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(batch as u64));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3));
        for len in SIZES {
            let fixture = Fixture::<u64>::new(len);
            let mut bench = CommitBench {
                group: &mut group,
                fixture: &fixture,
                batch,
            };
            bench.visit::<SnapReader<u64, Hasher>>("snapmap");
            bench.visit::<ImblFloor<u64, Hasher>>("floor-imbl");
            bench.visit::<ArcSwapClone<u64, Hasher>>("arcswap-clone");
            bench.visit::<StdRwLock<u64, Hasher>>("std-rwlock");
        }
        group.finish();
    }
}

/// Per-key cost of overwrites in a bare `imbl` map of 1M entries, applied
/// `batch` at a time to a fresh copy of the map, or in place to a map
/// nothing shares.
fn path_copy(c: &mut Criterion) {
    let len = 1_000_000;
    let fixture = Fixture::<u64>::new(len);
    let mut group = c.benchmark_group(format!("path-copy/u64:{}", size_label(len)));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let mut map =
        imbl::GenericHashMap::<u64, u64, Hasher, imbl::shared_ptr::DefaultSharedPtr>::with_hasher(
            fixture.hasher.clone(),
        );
    map.extend(fixture.entries.iter().copied());
    let probes = &fixture.probes;
    let mut n = 0usize;
    for batch in [1usize, BATCH, 32_768] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("copy-per-batch", batch), |b| {
            b.iter(|| {
                let mut copy = map.clone();
                for _ in 0..batch {
                    n = n.wrapping_add(1);
                    copy.insert(probes[(n * 7919) & (PROBES - 1)], n as u64);
                }
                map = copy;
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("in-place", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            map.insert(probes[(n * 7919) & (PROBES - 1)], n as u64);
        })
    });
    group.finish();
}

/// `newer.diff(&older)` at 100k entries, `changes` keys apart: between two
/// versions of one map (the change log answers, O(changes)) and between two
/// maps with the same contents (a full comparison, O(n)).
fn diffs(c: &mut Criterion) {
    let len = 100_000;
    let fixture = Fixture::<u64>::new(len);
    let mut group = c.benchmark_group(format!("diff/u64:{}", size_label(len)));
    group.sample_size(20);
    for changes in [1usize, BATCH] {
        let map = SnapMap::<u64, u64, Hasher>::builder()
            .hasher(fixture.hasher.clone())
            .contents(fixture.entries.iter().copied())
            .build();
        let twin = SnapMap::<u64, u64, Hasher>::builder()
            .hasher(fixture.hasher.clone())
            .contents(fixture.entries.iter().copied())
            .build();
        let older = map.load();
        let other_map = twin.load();
        map.update(|txn| {
            for (i, &k) in fixture.probes[..changes].iter().enumerate() {
                txn.insert(k, u64::MAX - i as u64);
            }
        })
        .expect("commit");
        let newer = map.load();
        assert_eq!(newer.diff(&older).len(), changes);
        group.bench_function(BenchmarkId::new("change-log", changes), |b| {
            b.iter(|| black_box(newer.diff(black_box(&older))))
        });
        group.bench_function(BenchmarkId::new("full-comparison", changes), |b| {
            b.iter(|| black_box(newer.diff(black_box(&other_map))))
        });
    }
    group.finish();
}

criterion_group!(benches, commits, path_copy, diffs);
criterion_main!(benches);
