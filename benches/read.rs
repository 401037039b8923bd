//! Single-thread lookup cost of a present key: snapmap through `load()`
//! and through a `Reader` (with its read index, and with the index off),
//! the floors (an unsynchronized `imbl` map and a flat std `HashMap`), and
//! every peer's `get`. Same keys, same hasher (foldhash) for all.
//!
//! `cargo bench --bench read -- 'get/u64:49k'`

use std::cell::OnceCell;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

#[allow(dead_code)] // reason: shared by the benches, partly used by each
mod common;
use common::{adapters, keys};

use adapters::{Adapter, FlatFloor, ImblFloor, IndexPolicy, SnapLoad, SnapReader};
use common::{build_settled, each_peer, size_label, Fixture, Hasher, Probes, Visit};
use keys::BenchKey;

struct GetBench<'a, 'g, K> {
    group: &'a mut BenchmarkGroup<'g, WallTime>,
    fixture: &'a Fixture<K>,
    index: IndexPolicy,
}

impl<K: BenchKey> Visit<K> for GetBench<'_, '_, K> {
    fn visit<A: Adapter<K, Hasher>>(&mut self, name: &str) {
        // Built on first use: a benchmark filtered out never builds its map.
        let map = OnceCell::new();
        let mut handle = None;
        let (fixture, index) = (self.fixture, self.index);
        let mut probes = Probes::default();
        self.group.bench_function(name, |b| {
            let handle = handle.get_or_insert_with(|| {
                let map: &A = map.get_or_init(|| build_settled(fixture, index, name));
                map.handle()
            });
            b.iter(|| probes.get(&fixture.probes, handle))
        });
        common::report_misses(name, probes.misses);
    }
}

fn get_group<K: BenchKey>(c: &mut Criterion, len: usize, kind: &str) {
    let fixture = Fixture::<K>::new(len);
    let mut group = c.benchmark_group(format!("get/{kind}:{}", size_label(len)));
    group.throughput(Throughput::Elements(1));
    if len >= 1_000_000 {
        group
            .sample_size(50)
            .measurement_time(Duration::from_secs(3));
    }
    let mut bench = GetBench {
        group: &mut group,
        fixture: &fixture,
        index: IndexPolicy::Default,
    };
    bench.visit::<SnapReader<K, Hasher>>("snapmap-reader");
    bench.visit::<SnapLoad<K, Hasher>>("snapmap-load");
    bench.visit::<FlatFloor<K, Hasher>>("floor-hashmap");
    bench.visit::<ImblFloor<K, Hasher>>("floor-imbl");
    each_peer(&mut bench);
    bench.index = IndexPolicy::Off;
    bench.visit::<SnapReader<K, Hasher>>("snapmap-reader-index-off");
    group.finish();
}

fn get(c: &mut Criterion) {
    get_group::<u64>(c, 49_000, "u64");
    get_group::<u64>(c, 1_000_000, "u64");
    get_group::<String>(c, 49_000, "str");
}

criterion_group!(benches, get);
criterion_main!(benches);
