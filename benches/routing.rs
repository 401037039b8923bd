//! Longest-prefix routing: one lookup per iteration, same routes and same
//! queries for every competitor, at 1k, 10k and 100k routes.
//!
//! - `ip_lpm/*`: IPv4 networks (BGP-like length mix plus a default route).
//!   snapmap `longest_match` (per-version route index) and
//!   `longest_match_probing` (one exact lookup per present prefix length,
//!   with and without the flat read index) against
//!   `parking_lot::RwLock<prefix_trie::PrefixMap>`.
//! - `path_lpm/*`: HTTP paths, segment-aware. snapmap
//!   `longest_segment_prefix` (and the plain `longest_prefix`, for scale)
//!   against `parking_lot::RwLock<BTreeMap>` probing each segment boundary
//!   of the query, longest first.
//!
//! Before timing, every competitor's answers are checked to be identical on
//! every query. Run with
//! `cargo bench --features ip --bench routing -- --warm-up-time 1 --measurement-time 2`.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use ipnet::Ipv4Net;
use parking_lot::RwLock;
use prefix_trie::PrefixMap;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use snapmap::{route, ReadIndex, SnapOrdMap};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Queries per input set; a power of two, so the cursor wraps with a mask.
const QUERIES: usize = 4096;

/// BGP-like prefix lengths: mostly /24, then /22-/23, /16-/21, a few short
/// and a few host-ish routes.
fn bgp_len(rng: &mut SmallRng) -> u8 {
    match rng.random_range(0..100) {
        0..50 => 24,
        50..70 => rng.random_range(22..=23),
        70..85 => rng.random_range(17..=21),
        85..93 => 16,
        93..96 => rng.random_range(8..=15),
        _ => rng.random_range(25..=32),
    }
}

struct IpInput {
    routes: Vec<(Ipv4Net, u32)>,
    queries: Vec<Ipv4Addr>,
}

fn ip_input(n: usize) -> IpInput {
    let mut rng = SmallRng::seed_from_u64(n as u64);
    let mut nets = BTreeSet::from(["0.0.0.0/0".parse::<Ipv4Net>().unwrap()]);
    while nets.len() < n {
        let len = bgp_len(&mut rng);
        nets.insert(
            Ipv4Net::new(Ipv4Addr::from(rng.random::<u32>()), len)
                .unwrap()
                .trunc(),
        );
    }
    let routes: Vec<(Ipv4Net, u32)> = nets.into_iter().zip(0..).collect();
    // Half the queries fall inside a random route (often nested in
    // shorter ones), half are uniformly random (mostly the default route).
    let queries = (0..QUERIES)
        .map(|i| {
            if i % 2 == 0 {
                let (net, _) = routes[rng.random_range(0..routes.len())];
                let host = rng.random::<u32>() & !u32::from(net.netmask());
                Ipv4Addr::from(u32::from(net.network()) | host)
            } else {
                Ipv4Addr::from(rng.random::<u32>())
            }
        })
        .collect();
    IpInput { routes, queries }
}

fn ip_lpm(c: &mut Criterion) {
    for n in SIZES {
        let input = ip_input(n);
        let indexed = SnapOrdMap::<Ipv4Net, u32>::builder()
            .validator(route::index_at_commit)
            .read_index(ReadIndex::Off)
            .contents(input.routes.iter().copied())
            .build();
        indexed.load().prepare_routes();
        let hashed = SnapOrdMap::<Ipv4Net, u32>::builder()
            .read_index(ReadIndex::Eager)
            .read_index_min_len(0)
            .contents(input.routes.iter().copied())
            .build();
        assert!(hashed.load().has_read_index());
        let trie = RwLock::new(
            input
                .routes
                .iter()
                .copied()
                .collect::<PrefixMap<Ipv4Net, u32>>(),
        );

        // Same answers everywhere.
        for &a in &input.queries {
            let want = trie.read().get_lpm(&Ipv4Net::from(a)).map(|(k, v)| (k, *v));
            assert_eq!(
                indexed.load().longest_match(a).map(|(k, v)| (*k, *v)),
                want,
                "{a}"
            );
            assert_eq!(
                indexed
                    .load()
                    .longest_match_probing(a)
                    .map(|(k, v)| (*k, *v)),
                want,
                "{a}"
            );
            assert_eq!(
                hashed
                    .load()
                    .longest_match_probing(a)
                    .map(|(k, v)| (*k, *v)),
                want,
                "{a}"
            );
        }

        let mut group = c.benchmark_group(format!("ip_lpm/{n}"));
        let mut reader = indexed.reader();
        bench_queries(&mut group, "snapmap_longest_match", &input.queries, |&a| {
            reader.load().longest_match(a).map(|(_, v)| *v)
        });
        let mut reader = indexed.reader();
        bench_queries(&mut group, "snapmap_probing_ordmap", &input.queries, |&a| {
            reader.load().longest_match_probing(a).map(|(_, v)| *v)
        });
        let mut reader = hashed.reader();
        bench_queries(
            &mut group,
            "snapmap_probing_read_index",
            &input.queries,
            |&a| reader.load().longest_match_probing(a).map(|(_, v)| *v),
        );
        bench_queries(&mut group, "rwlock_prefix_trie", &input.queries, |&a| {
            trie.read().get_lpm(&Ipv4Net::from(a)).map(|(_, v)| *v)
        });
        group.finish();
    }
}

/// One benchmark: `lookup` on each query in turn (the same queries, in the
/// same order, for every competitor).
fn bench_queries<Q, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    queries: &[Q],
    mut lookup: impl FnMut(&Q) -> R,
) {
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & (QUERIES - 1);
            lookup(black_box(&queries[i]))
        })
    });
}

/// Path segments: a small vocabulary, so routes share prefixes and queries
/// have near misses (`users` vs `users2`).
const WORDS: [&str; 16] = [
    "api", "v1", "v2", "users", "orders", "items", "static", "img", "auth", "admin", "search",
    "cart", "users2", "health", "metrics", "docs",
];

fn segment(rng: &mut SmallRng) -> String {
    if rng.random_range(0..4) == 0 {
        format!("r{}", rng.random_range(0..1000))
    } else {
        WORDS[rng.random_range(0..WORDS.len())].to_string()
    }
}

struct PathInput {
    routes: Vec<(String, u32)>,
    queries: Vec<String>,
}

fn path_input(n: usize) -> PathInput {
    let mut rng = SmallRng::seed_from_u64(n as u64);
    let tenants = (n / 16).max(1);
    let mut paths = BTreeSet::from(["/".to_string()]);
    while paths.len() < n {
        let mut p = format!("/t{}", rng.random_range(0..tenants));
        for _ in 0..rng.random_range(0..4) {
            p.push('/');
            p.push_str(&segment(&mut rng));
        }
        paths.insert(p);
    }
    let routes: Vec<(String, u32)> = paths.into_iter().zip(0..).collect();
    // 70% a route plus one or two more segments, 15% a route with its last
    // segment extended (matches only a shorter route), 15% random.
    let queries = (0..QUERIES)
        .map(|_| {
            let (route, _) = &routes[rng.random_range(0..routes.len())];
            match rng.random_range(0..100) {
                0..70 => {
                    let mut q = route.trim_end_matches('/').to_string();
                    for _ in 0..rng.random_range(1..=2) {
                        q.push('/');
                        q.push_str(&segment(&mut rng));
                    }
                    q
                }
                70..85 => format!("{route}x"),
                _ => format!(
                    "/t{}/{}",
                    rng.random_range(0..tenants * 2),
                    segment(&mut rng)
                ),
            }
        })
        .collect();
    PathInput { routes, queries }
}

/// The peer: probe the query cut at each segment boundary, longest first
/// (the whole query, then before each '/', then "/" itself).
fn btreemap_segment_lpm<'a>(
    map: &'a BTreeMap<String, u32>,
    q: &str,
) -> Option<(&'a String, &'a u32)> {
    if let Some(hit) = map.get_key_value(q) {
        return Some(hit);
    }
    let mut end = q.len();
    while let Some(cut) = q[..end].rfind('/') {
        // "/a/b" with a route "/a/" (ends with the separator) or "/a".
        if let Some(hit) = map
            .get_key_value(&q[..=cut])
            .or_else(|| map.get_key_value(&q[..cut]))
        {
            return Some(hit);
        }
        end = cut;
    }
    map.get_key_value("")
}

fn path_lpm(c: &mut Criterion) {
    for n in SIZES {
        let input = path_input(n);
        let map = SnapOrdMap::<String, u32>::builder()
            .read_index(ReadIndex::Off)
            .contents(input.routes.iter().cloned())
            .build();
        let btree = RwLock::new(
            input
                .routes
                .iter()
                .cloned()
                .collect::<BTreeMap<String, u32>>(),
        );

        for q in &input.queries {
            let want = btreemap_segment_lpm(&btree.read(), q).map(|(k, v)| (k.clone(), *v));
            let got = map
                .load()
                .longest_segment_prefix(q, '/')
                .map(|(k, v)| (k.clone(), *v));
            assert_eq!(got, want, "{q}");
        }

        let mut group = c.benchmark_group(format!("path_lpm/{n}"));
        let mut reader = map.reader();
        bench_queries(&mut group, "snapmap_segment", &input.queries, |q| {
            reader
                .load()
                .longest_segment_prefix(q, '/')
                .map(|(_, v)| *v)
        });
        let mut reader = map.reader();
        bench_queries(&mut group, "snapmap_plain", &input.queries, |q| {
            reader.load().longest_prefix(q).map(|(_, v)| *v)
        });
        bench_queries(
            &mut group,
            "rwlock_btreemap_segment_probe",
            &input.queries,
            |q| btreemap_segment_lpm(&btree.read(), q).map(|(_, v)| *v),
        );
        group.finish();
    }
}

criterion_group!(benches, ip_lpm, path_lpm);
criterion_main!(benches);
