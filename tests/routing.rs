//! IP routing tables (`snapmap::route`): hand-checked tables, a proptest
//! against a brute-force oracle that scans every route, and a concurrent
//! test that route sets committed as batches are never seen half-applied.
#![cfg(feature = "ip")]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use snapmap::route::{self, RouteKey};
use snapmap::{Ordered, SnapOrdMap, Snapshot};

mod support;

fn net<N: std::str::FromStr>(s: &str) -> N
where
    N::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn table<K: RouteKey + std::str::FromStr>(
    routes: &[(&str, &'static str)],
) -> SnapOrdMap<K, &'static str>
where
    K::Err: std::fmt::Debug,
{
    routes.iter().map(|&(k, v)| (net::<K>(k), v)).collect()
}

/// Both lookups, checked to agree, as the route's value.
fn route<K: RouteKey>(
    snap: &Snapshot<K, &'static str, Ordered>,
    addr: K::Addr,
) -> Option<&'static str> {
    let indexed = snap.longest_match(addr);
    let probed = snap.longest_match_probing(addr);
    assert_eq!(
        indexed, probed,
        "longest_match and longest_match_probing disagree"
    );
    indexed.map(|(_, v)| *v)
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ipv4_overlaps_default_and_host_routes() {
    let map = table::<Ipv4Net>(&[
        ("0.0.0.0/0", "default"),
        ("10.0.0.0/8", "ten"),
        ("10.1.0.0/16", "ten-one"),
        ("10.1.2.0/24", "lan"),
        ("10.1.2.3/32", "host"),
        ("10.1.2.128/25", "upper-half"),
        ("192.168.0.0/17", "low17"),
        ("192.168.128.0/17", "high17"),
        ("0.0.0.0/32", "zero-host"),
        ("255.255.255.255/32", "broadcast"),
        ("255.0.0.0/8", "top8"),
    ]);
    let snap = map.load();
    let r = |a: &str| route(&snap, v4(a));
    assert_eq!(r("10.1.2.3"), Some("host"));
    assert_eq!(r("10.1.2.2"), Some("lan"));
    assert_eq!(r("10.1.2.4"), Some("lan"));
    assert_eq!(r("10.1.2.127"), Some("lan"));
    assert_eq!(r("10.1.2.128"), Some("upper-half"));
    assert_eq!(r("10.1.2.255"), Some("upper-half"));
    assert_eq!(r("10.1.3.0"), Some("ten-one"));
    assert_eq!(r("10.1.1.255"), Some("ten-one"));
    assert_eq!(r("10.0.255.255"), Some("ten"));
    assert_eq!(r("10.2.0.0"), Some("ten"));
    assert_eq!(r("10.255.255.255"), Some("ten"));
    assert_eq!(r("11.0.0.0"), Some("default"));
    assert_eq!(r("9.255.255.255"), Some("default"));
    assert_eq!(r("192.168.127.255"), Some("low17"));
    assert_eq!(r("192.168.128.0"), Some("high17"));
    assert_eq!(r("192.169.0.0"), Some("default"));
    assert_eq!(r("0.0.0.0"), Some("zero-host"));
    assert_eq!(r("0.0.0.1"), Some("default"));
    assert_eq!(r("255.255.255.255"), Some("broadcast"));
    assert_eq!(r("255.255.255.254"), Some("top8"));
    assert_eq!(r("254.255.255.255"), Some("default"));

    let (key, _) = snap.longest_match(v4("10.1.2.200")).unwrap();
    assert_eq!(*key, net::<Ipv4Net>("10.1.2.128/25"));
}

#[test]
fn ipv4_without_a_default_route() {
    let map = table::<Ipv4Net>(&[("10.0.0.0/8", "ten"), ("10.0.0.0/9", "ten-low")]);
    let snap = map.load();
    assert_eq!(route(&snap, v4("9.9.9.9")), None);
    assert_eq!(route(&snap, v4("10.0.0.1")), Some("ten-low"));
    assert_eq!(route(&snap, v4("10.128.0.1")), Some("ten"));
    assert_eq!(route(&snap, v4("11.0.0.0")), None);

    let empty = table::<Ipv4Net>(&[]);
    assert_eq!(route(&empty.load(), v4("1.2.3.4")), None);
}

#[test]
fn ipv6_overlaps_default_and_host_routes() {
    let map = table::<Ipv6Net>(&[
        ("::/0", "default"),
        ("2001:db8::/32", "doc"),
        ("2001:db8:1::/48", "site"),
        ("2001:db8:1::1/128", "host"),
        ("::ffff:0:0/96", "mapped"),
        ("::/128", "unspecified"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "last"),
        ("8000::/1", "upper-half"),
    ]);
    let snap = map.load();
    let r = |a: &str| route(&snap, v6(a));
    assert_eq!(r("2001:db8:1::1"), Some("host"));
    assert_eq!(r("2001:db8:1::2"), Some("site"));
    assert_eq!(r("2001:db8:1:ffff:ffff:ffff:ffff:ffff"), Some("site"));
    assert_eq!(r("2001:db8:2::"), Some("doc"));
    assert_eq!(r("2001:db9::"), Some("default"));
    assert_eq!(r("::ffff:10.1.2.3"), Some("mapped"));
    assert_eq!(r("::"), Some("unspecified"));
    assert_eq!(r("::1"), Some("default"));
    assert_eq!(r("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some("last"));
    assert_eq!(
        r("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
        Some("upper-half")
    );
    assert_eq!(r("8000::"), Some("upper-half"));
    assert_eq!(
        r("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        Some("default")
    );
}

#[test]
fn ipnet_tables_keep_families_apart() {
    let map = table::<IpNet>(&[
        ("0.0.0.0/0", "v4-default"),
        ("10.0.0.0/8", "ten"),
        ("::ffff:0:0/96", "mapped"),
        ("2001:db8::/32", "doc"),
    ]);
    let snap = map.load();
    let r = |a: &str| route(&snap, ip(a));
    assert_eq!(r("10.1.2.3"), Some("ten"));
    assert_eq!(r("11.1.2.3"), Some("v4-default"));
    // An IPv4-mapped IPv6 address is IPv6: it never matches 10.0.0.0/8.
    assert_eq!(r("::ffff:10.1.2.3"), Some("mapped"));
    assert_eq!(r("2001:db8::1"), Some("doc"));
    // No IPv6 default route: the IPv4 one does not apply.
    assert_eq!(r("2001:db9::1"), None);
    // Canonicalising routes mapped addresses as IPv4.
    assert_eq!(
        route(&snap, ip("::ffff:10.1.2.3").to_canonical()),
        Some("ten")
    );

    // Without a mapped route, a mapped address finds nothing.
    let v4_only = table::<IpNet>(&[("0.0.0.0/0", "v4-default")]);
    assert_eq!(route(&v4_only.load(), ip("::ffff:10.1.2.3")), None);
    // And `::/0` is not an IPv4 default.
    let v6_only = table::<IpNet>(&[("::/0", "v6-default")]);
    assert_eq!(route(&v6_only.load(), ip("10.1.2.3")), None);
    assert_eq!(
        route(&v6_only.load(), ip("::ffff:10.1.2.3")),
        Some("v6-default")
    );
}

#[test]
fn keys_with_host_bits_never_match_and_are_refused_at_commit() {
    let map = table::<Ipv4Net>(&[("10.1.2.3/16", "sloppy"), ("10.0.0.0/8", "ten")]);
    let snap = map.load();
    assert_eq!(route(&snap, v4("10.1.2.3")), Some("ten"));
    assert_eq!(route(&snap, v4("10.1.0.0")), Some("ten"));
    let (count, first) = snap.unmatchable_routes();
    assert_eq!((count, first.copied()), (1, Some(net("10.1.2.3/16"))));

    let checked = SnapOrdMap::<Ipv4Net, &str>::builder()
        .validator(route::index_at_commit)
        .build();
    checked.insert(net("10.0.0.0/8"), "ten").unwrap();
    let err = checked.insert(net("10.1.2.3/16"), "sloppy").unwrap_err();
    assert!(
        err.to_string().contains("10.1.2.3/16") && err.to_string().contains("10.1.0.0/16"),
        "{err}"
    );
    assert_eq!(checked.len(), 1);
    assert_eq!(checked.load().unmatchable_routes(), (0, None));
}

#[test]
fn each_version_has_its_own_routes() {
    let map = SnapOrdMap::<IpNet, &str>::builder()
        .validator(route::index_at_commit)
        .contents([(net("10.0.0.0/8"), "ten")])
        .build();
    let old = map.load();
    assert_eq!(route(&old, ip("10.1.2.3")), Some("ten"));
    map.update(|txn| {
        txn.insert(net("10.1.0.0/16"), "ten-one");
        txn.insert(net("0.0.0.0/0"), "default");
        txn.remove(&net::<IpNet>("10.0.0.0/8"));
    })
    .unwrap();
    let new = map.load();
    new.prepare_routes();
    assert_eq!(route(&new, ip("10.1.2.3")), Some("ten-one"));
    assert_eq!(route(&new, ip("10.2.0.0")), Some("default"));
    // The old snapshot still answers from its own version, index and all.
    assert_eq!(route(&old, ip("10.1.2.3")), Some("ten"));
    assert_eq!(route(&old, ip("10.2.0.0")), Some("ten"));
    assert_eq!(route(&old, ip("11.0.0.0")), None);
    // Snapshots through a reader see the same.
    let mut reader = map.reader();
    assert_eq!(
        reader.load().longest_match(ip("10.2.0.0")).map(|(_, v)| *v),
        Some("default")
    );
}

/// A table large enough for the route index's bucket table to use many
/// bits, against exact lookups of every prefix length in a `BTreeMap`.
#[test]
fn large_tables_match_exact_lookups_at_every_length() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut model = BTreeMap::new();
    while model.len() < 20_000 {
        let r = next();
        let len = [8, 12, 16, 20, 22, 23, 24, 24, 24, 24, 28, 32][(r % 12) as usize];
        let n = Ipv4Net::new(Ipv4Addr::from((r >> 32) as u32), len)
            .unwrap()
            .trunc();
        model.insert(IpNet::V4(n), model.len());
    }
    while model.len() < 23_000 {
        let r = next();
        let a = (0x2001_0db8_u128 << 96) | (u128::from(r) << 32);
        let n = Ipv6Net::new(
            Ipv6Addr::from(a),
            [32, 40, 48, 56, 64, 128][(r % 6) as usize],
        )
        .unwrap()
        .trunc();
        model.insert(IpNet::V6(n), model.len());
    }
    let map: SnapOrdMap<IpNet, usize> = model.iter().map(|(k, v)| (*k, *v)).collect();
    let snap = map.load();
    let routes: Vec<IpNet> = model.keys().copied().collect();
    for i in 0..20_000 {
        let r = next();
        let addr: IpAddr = match i % 4 {
            // Inside a route, or just past its end.
            0 | 1 => {
                let n = routes[(r % routes.len() as u64) as usize];
                let a = match n {
                    IpNet::V4(n) => {
                        IpAddr::from(Ipv4Addr::from(u32::from(n.broadcast()).wrapping_add(i % 2)))
                    }
                    IpNet::V6(n) => IpAddr::from(Ipv6Addr::from(
                        u128::from(n.broadcast()).wrapping_add(u128::from(i % 2)),
                    )),
                };
                if r % 3 == 0 {
                    n.network()
                } else {
                    a
                }
            }
            2 => Ipv4Addr::from((r >> 16) as u32).into(),
            _ => Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(r) << 16)).into(),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let want = (0..=max)
            .rev()
            .find_map(|len| model.get_key_value(&IpNet::new(addr, len).unwrap().trunc()))
            .map(|(k, v)| (*k, *v));
        assert_eq!(
            snap.longest_match(addr).map(|(k, v)| (*k, *v)),
            want,
            "{addr}"
        );
        assert_eq!(
            snap.longest_match_probing(addr).map(|(k, v)| (*k, *v)),
            want,
            "{addr}"
        );
    }
}

// ---------------------------------------------------------------------------
// Proptest against a brute-force oracle.

/// The most specific canonical route containing `addr`, by scanning every
/// route.
fn oracle<K: RouteKey, V>(routes: &BTreeMap<K, V>, addr: IpAddr) -> Option<K> {
    routes
        .keys()
        .filter(|k| {
            let n: IpNet = (**k).into();
            n == n.trunc() && n.contains(&addr)
        })
        .max_by_key(|&&k| Into::<IpNet>::into(k).prefix_len())
        .copied()
}

/// IPv4 addresses clustered around a few bases, so random routes nest and
/// overlap often, plus some uniformly random ones.
fn addr4() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (prop::sample::select(vec![0u32, 0x0a00_0000, 0x0a01_0200, 0xc0a8_0000, 0xffff_ff00]), 0u32..512)
            .prop_map(|(base, off)| base.wrapping_add(off << (off % 16))),
        1 => any::<u32>(),
    ]
}

fn addr6() -> impl Strategy<Value = u128> {
    prop_oneof![
        3 => (prop::sample::select(vec![0u128, 0x2001_0db8 << 96, 0xffff << 32, u128::MAX << 16]), any::<u16>(), 0u32..128)
            .prop_map(|(base, off, shift)| base.wrapping_add(u128::from(off) << (shift % 100))),
        1 => any::<u128>(),
    ]
}

/// Routes: (address, prefix length, keep host bits?). Most are truncated
/// to their network; a few keep host bits and must never match.
fn routes4() -> impl Strategy<Value = Vec<(u32, u8, bool)>> {
    proptest::collection::vec((addr4(), 0u8..=32, prop::bool::weighted(0.1)), 0..40)
}

fn routes6() -> impl Strategy<Value = Vec<(u128, u8, bool)>> {
    proptest::collection::vec((addr6(), 0u8..=128, prop::bool::weighted(0.1)), 0..40)
}

fn key4((a, len, sloppy): (u32, u8, bool)) -> Ipv4Net {
    let n = Ipv4Net::new(Ipv4Addr::from(a), len).unwrap();
    if sloppy {
        n
    } else {
        n.trunc()
    }
}

fn key6((a, len, sloppy): (u128, u8, bool)) -> Ipv6Net {
    let n = Ipv6Net::new(Ipv6Addr::from(a), len).unwrap();
    if sloppy {
        n
    } else {
        n.trunc()
    }
}

/// Queries: random addresses plus, for each route, its first and last
/// address and the addresses just outside it.
fn queries(routes: impl Iterator<Item = IpNet>, random: &[IpAddr]) -> Vec<IpAddr> {
    let mut out = random.to_vec();
    for n in routes {
        match n.trunc() {
            IpNet::V4(n) => {
                let (first, last) = (u32::from(n.network()), u32::from(n.broadcast()));
                for a in [first, last, first.wrapping_sub(1), last.wrapping_add(1)] {
                    out.push(Ipv4Addr::from(a).into());
                }
            }
            IpNet::V6(n) => {
                let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
                for a in [first, last, first.wrapping_sub(1), last.wrapping_add(1)] {
                    out.push(Ipv6Addr::from(a).into());
                }
            }
        }
    }
    out
}

fn check<K: RouteKey>(
    snap: &Snapshot<K, usize, Ordered>,
    model: &BTreeMap<K, usize>,
    addrs: &[IpAddr],
    to_addr: impl Fn(IpAddr) -> Option<K::Addr>,
) -> Result<(), TestCaseError> {
    for &addr in addrs {
        let Some(a) = to_addr(addr) else { continue };
        let want = oracle(model, addr).map(|k| (k, model[&k]));
        let got = snap.longest_match(a).map(|(k, v)| (*k, *v));
        prop_assert_eq!(got, want, "longest_match({})", addr);
        let probed = snap.longest_match_probing(a).map(|(k, v)| (*k, *v));
        prop_assert_eq!(probed, want, "longest_match_probing({})", addr);
    }
    Ok(())
}

fn v4_of(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn v6_of(a: IpAddr) -> Option<Ipv6Addr> {
    match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ipv4_matches_a_brute_force_scan(routes in routes4(), random in proptest::collection::vec(addr4(), 16)) {
        let model: BTreeMap<Ipv4Net, usize> = routes.into_iter().map(key4).enumerate().map(|(i, k)| (k, i)).collect();
        let map: SnapOrdMap<Ipv4Net, usize> = model.iter().map(|(k, v)| (*k, *v)).collect();
        let random: Vec<IpAddr> = random.into_iter().map(|a| Ipv4Addr::from(a).into()).collect();
        let addrs = queries(model.keys().map(|&k| k.into()), &random);
        check(&map.load(), &model, &addrs, v4_of)?;
    }

    #[test]
    fn ipv6_matches_a_brute_force_scan(routes in routes6(), random in proptest::collection::vec(addr6(), 16)) {
        let model: BTreeMap<Ipv6Net, usize> = routes.into_iter().map(key6).enumerate().map(|(i, k)| (k, i)).collect();
        let map: SnapOrdMap<Ipv6Net, usize> = model.iter().map(|(k, v)| (*k, *v)).collect();
        let random: Vec<IpAddr> = random.into_iter().map(|a| Ipv6Addr::from(a).into()).collect();
        let addrs = queries(model.keys().map(|&k| k.into()), &random);
        check(&map.load(), &model, &addrs, v6_of)?;
    }

}

proptest! {
    // Each case commits up to 5 versions and checks each one twice.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Mixed families, changed over several commits: every version's
    /// snapshot (kept alive and checked again at the end, after later
    /// versions were indexed) answers from its own contents.
    #[test]
    fn ipnet_versions_match_a_brute_force_scan(
        batches in proptest::collection::vec((routes4(), routes6(), proptest::collection::vec(any::<prop::sample::Index>(), 0..10)), 1..5),
        random4 in proptest::collection::vec(addr4(), 8),
        random6 in proptest::collection::vec(addr6(), 8),
    ) {
        let map: SnapOrdMap<IpNet, usize> = SnapOrdMap::new();
        let mut model: BTreeMap<IpNet, usize> = BTreeMap::new();
        let mut kept = Vec::new();
        let random: Vec<IpAddr> = random4.into_iter().map(|a| Ipv4Addr::from(a).into())
            .chain(random6.into_iter().map(|a| Ipv6Addr::from(a).into())).collect();
        for (i, (add4, add6, removals)) in batches.into_iter().enumerate() {
            let mut txn = map.write();
            let present: Vec<IpNet> = model.keys().copied().collect();
            for r in removals.iter().filter(|_| !present.is_empty()) {
                let k = present[r.index(present.len())];
                txn.remove(&k);
                model.remove(&k);
            }
            let added = add4.into_iter().map(|r| IpNet::V4(key4(r))).chain(add6.into_iter().map(|r| IpNet::V6(key6(r))));
            for (j, k) in added.enumerate() {
                txn.insert(k, i * 1000 + j);
                model.insert(k, i * 1000 + j);
            }
            txn.commit().unwrap();
            let snap = map.load();
            let addrs = queries(model.keys().copied(), &random);
            check(&snap, &model, &addrs, Some)?;
            kept.push((snap, model.clone(), addrs));
        }
        for (snap, model, addrs) in &kept {
            check(snap, model, addrs, Some)?;
        }
    }
}

// ---------------------------------------------------------------------------
// Concurrency: route sets committed as batches are never seen half-applied.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    service: u8,
    generation: u32,
}

const SERVICES: u8 = 16;

/// Service `s` owns a nested IPv4 route set, an IPv6 route and a host route.
fn service_routes(s: u8) -> [IpNet; 5] {
    [
        net(&format!("10.{s}.0.0/16")),
        net(&format!("10.{s}.1.0/24")),
        net(&format!("10.{s}.1.128/25")),
        net(&format!("10.{s}.1.200/32")),
        net(&format!("2001:db8:{s:x}::/48")),
    ]
}

/// What a reader may see of service `s`: all of its routes with one
/// generation, or none of them. Returns the generation.
fn check_service(snap: &Snapshot<IpNet, Target, Ordered>, s: u8) -> Option<u32> {
    let routes = service_routes(s);
    let seen: Vec<Option<Target>> = routes.iter().map(|k| snap.get(k).copied()).collect();
    let generation = seen[0].map(|t| t.generation);
    for t in &seen {
        assert_eq!(
            t.map(|t| (t.service, t.generation)),
            generation.map(|g| (s, g)),
            "service {s} half-applied in version {}: {seen:?}",
            snap.version()
        );
    }
    // Longest-prefix lookups agree with the exact ones.
    let lookups = [
        (ip(&format!("10.{s}.1.200")), 3),
        (ip(&format!("10.{s}.1.201")), 2),
        (ip(&format!("10.{s}.1.1")), 1),
        (ip(&format!("10.{s}.9.9")), 0),
        (ip(&format!("2001:db8:{s:x}::1")), 4),
    ];
    for (addr, i) in lookups {
        let got = snap.longest_match(addr);
        match generation {
            Some(_) => assert_eq!(got, Some((&routes[i], seen[i].as_ref().unwrap())), "{addr}"),
            // Only the default routes remain.
            None => assert_eq!(got.map(|(k, _)| k.prefix_len()), Some(0), "{addr}"),
        }
        assert_eq!(snap.longest_match_probing(addr), got, "{addr}");
    }
    generation
}

#[test]
fn route_sets_are_never_seen_half_applied() {
    let defaults = [(net("0.0.0.0/0"), 255), (net("::/0"), 255)].map(|(k, s): (IpNet, u8)| {
        (
            k,
            Target {
                service: s,
                generation: 0,
            },
        )
    });
    let map = SnapOrdMap::<IpNet, Target>::builder()
        .validator(route::index_at_commit)
        .contents(defaults)
        .build();
    let done = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(3));

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (map, done, checked, start) =
                (map.clone(), done.clone(), checked.clone(), start.clone());
            thread::spawn(move || {
                let mut source = support::ReaderThread::new(format!("reader {r}"), map);
                let mut versions = 0usize;
                let mut s = r as u8;
                start.wait();
                while !done.load(Ordering::Acquire) {
                    // Alternate between the cached reader and fresh loads.
                    let seen = source.last();
                    let snap = source.next(s % 2 == 0);
                    versions += usize::from(snap.version() > seen);
                    // A whole snapshot: every service is all-or-nothing.
                    for _ in 0..4 {
                        s = (s + 1) % SERVICES;
                        check_service(&snap, s);
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                }
                versions
            })
        })
        .collect();

    // The control plane: add a service, remove one, or move one to a new
    // generation, each as one labelled batch.
    start.wait();
    let mut generation = 0u32;
    let mut seed = 0x9e37_79b9_u32;
    let mut batches = 0;
    // Stop early if a reader failed (it would never reach its quota).
    while (batches < 400 || checked.load(Ordering::Relaxed) < 2000)
        && !readers.iter().any(|r| r.is_finished())
    {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let s = (seed % u32::from(SERVICES)) as u8;
        generation += 1;
        let present = map.load().get(&service_routes(s)[0]).is_some();
        let mut txn = map.write();
        if present && seed % 3 == 0 {
            for k in service_routes(s) {
                txn.remove(&k);
            }
            txn.label(format!("remove service {s}"));
        } else {
            let target = Target {
                service: s,
                generation,
            };
            for k in service_routes(s) {
                txn.insert(k, target);
            }
            txn.label(format!(
                "{} service {s} generation {generation}",
                if present { "move" } else { "add" }
            ));
        }
        txn.commit().unwrap();
        batches += 1;
    }
    done.store(true, Ordering::Release);
    let seen: Vec<usize> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(
        seen.iter().sum::<usize>() > 1,
        "readers saw versions change: {seen:?}"
    );

    // The final version, checked once more in full.
    let last = map.load();
    assert_eq!(last.version().get(), batches);
    for s in 0..SERVICES {
        check_service(&last, s);
    }
}
