//! Reads while a writer commits: the main thread looks up present keys
//! while a background thread overwrites present keys back to back, one
//! commit per key, on the same map. Per peer, plus snapmap with no writer
//! as the baseline (DESIGN.md: reader throughput with the writer should be
//! at least 0.8x of it).
//!
//! `cargo bench --bench contended`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

#[allow(dead_code)] // reason: shared by the benches, partly used by each
mod common;
use common::{adapters, keys};

use adapters::{Adapter, IndexPolicy, MapHandle, SnapLoad, SnapReader};
use common::{build_settled, each_peer, size_label, Fixture, Hasher, Probes, Visit, PROBES};
use keys::BenchKey;

struct ContendedBench<'a, 'g, K> {
    group: &'a mut BenchmarkGroup<'g, WallTime>,
    fixture: &'a Fixture<K>,
    writer: bool,
}

impl<K: BenchKey> Visit<K> for ContendedBench<'_, '_, K> {
    fn visit<A: Adapter<K, Hasher>>(&mut self, name: &str) {
        // Built on first use: a benchmark filtered out never builds its map.
        let map: OnceLock<A> = OnceLock::new();
        let fixture = self.fixture;
        let probes = &fixture.probes;
        let writer = self.writer;
        let name = if writer {
            name.to_string()
        } else {
            format!("{name}-no-writer")
        };
        let stop = AtomicBool::new(false);
        let commits = AtomicU64::new(0);
        std::thread::scope(|scope| {
            if writer {
                // One writer for the whole benchmark, committing from the
                // moment the map exists until the benchmark ends.
                scope.spawn(|| {
                    let map = loop {
                        match map.get() {
                            Some(map) => break map,
                            None if stop.load(Ordering::Relaxed) => return,
                            None => std::thread::sleep(Duration::from_millis(1)),
                        }
                    };
                    let mut handle = map.handle();
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        handle.insert(probes[(n * 31) & (PROBES - 1)].clone(), n as u64);
                        n += 1;
                        commits.store(n as u64, Ordering::Relaxed);
                    }
                    handle.flush();
                });
            }
            let mut reader = None;
            let mut reads = Probes::default();
            self.group.bench_function(&name, |b| {
                let reader = reader.get_or_insert_with(|| {
                    let map =
                        map.get_or_init(|| build_settled(fixture, IndexPolicy::Default, &name));
                    while writer && commits.load(Ordering::Relaxed) == 0 {
                        std::hint::spin_loop();
                    }
                    map.handle()
                });
                b.iter(|| reads.get(probes, reader));
            });
            stop.store(true, Ordering::Relaxed);
            common::report_misses(&name, reads.misses);
        });
    }
}

fn contended(c: &mut Criterion) {
    let len = 49_000;
    let fixture = Fixture::<u64>::new(len);
    let mut group = c.benchmark_group(format!("get-with-writer/u64:{}", size_label(len)));
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    let mut bench = ContendedBench {
        group: &mut group,
        fixture: &fixture,
        writer: false,
    };
    bench.visit::<SnapReader<u64, Hasher>>("snapmap-reader");
    bench.writer = true;
    bench.visit::<SnapReader<u64, Hasher>>("snapmap-reader");
    bench.visit::<SnapLoad<u64, Hasher>>("snapmap-load");
    each_peer(&mut bench);
    group.finish();
}

criterion_group!(benches, contended);
criterion_main!(benches);
