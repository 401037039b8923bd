//! A routing-table cache under load: request threads route HTTP paths and
//! IP addresses on every request while a control plane swaps services' route
//! sets in and out.
//!
//! - Two tables: `SnapOrdMap<String, Target>` for HTTP path prefixes
//!   (segment-aware longest prefix) and `SnapOrdMap<IpNet, Target>` for
//!   networks (longest match), the latter with a static base of
//!   `--base-routes` random IPv4 networks and indexed at commit
//!   (`route::index_at_commit`).
//! - The control plane applies labelled batches: add a service with all its
//!   routes, remove a service, move a service's routes to another backend.
//!   Each batch is one commit per table, so within a table a service's
//!   routes appear, move and disappear together.
//! - Every request records the version it routed on and its decision; the
//!   example checks every decision against the control plane's own record
//!   of that version's contents, with an independent brute-force-by-length
//!   lookup. A half-applied batch, a torn read or a wrong match shows up as
//!   a mismatch, and the example exits with an error.
//!
//! Prints lookups/s per request thread (time spent checking is excluded),
//! versions seen and commit latency.
//!
//! ```text
//! cargo run --release --features ip --example routing_table -- \
//!     [--seconds 3] [--threads 2] [--services 256] [--base-routes 10000] [--interval-us 500]
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use snapmap::{route, SnapOrdMap, Version};

/// Where a route sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    service: u16,
    backend: u16,
    /// Bumped by every batch: all routes of a service carry the generation
    /// of the batch that last wrote them.
    generation: u32,
}

/// The service that owns the default and base routes; never changes.
const STATIC: Target = Target {
    service: u16::MAX,
    backend: 0,
    generation: 0,
};

struct Options {
    seconds: f64,
    threads: usize,
    services: u16,
    base_routes: usize,
    interval: Duration,
}

fn options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        seconds: 3.0,
        threads: 2,
        services: 256,
        base_routes: 10_000,
        interval: Duration::from_micros(500),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("seconds") => o.seconds = parser.value()?.parse()?,
            Long("threads") => o.threads = parser.value()?.parse()?,
            Long("services") => o.services = parser.value()?.parse()?,
            Long("base-routes") => o.base_routes = parser.value()?.parse()?,
            Long("interval-us") => o.interval = Duration::from_micros(parser.value()?.parse()?),
            Long("help") => {
                println!("routing_table [--seconds S] [--threads N] [--services N] [--base-routes N] [--interval-us U]");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(o)
}

fn service_paths(s: u16) -> [String; 3] {
    [
        format!("/svc{s}"),
        format!("/svc{s}/api"),
        format!("/svc{s}/api/v2/"),
    ]
}

fn service_nets(s: u16) -> [IpNet; 4] {
    let [hi, lo] = s.to_be_bytes();
    let v4 = |a: [u8; 4], len| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap());
    [
        v4([10, hi, lo, 0], 24),
        v4([10, hi, lo, 128], 25),
        v4([10, hi, lo, 7], 32),
        IpNet::V6(Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, s, 0, 0, 0, 0, 0), 48).unwrap()),
    ]
}

/// Sets (or, for `None`, removes) a service's routes in one labelled commit
/// to `table`, and the same in its `model`; returns the version published
/// and how long the commit took.
fn apply<K>(
    table: &SnapOrdMap<K, Target>,
    model: &mut BTreeMap<K, Target>,
    keys: impl IntoIterator<Item = K>,
    change: Option<Target>,
    label: &str,
) -> Result<(Version, Duration), snapmap::CommitError>
where
    K: snapmap::SnapKey + Ord,
{
    let mut txn = table.write();
    for k in keys {
        match change {
            Some(t) => {
                model.insert(k.clone(), t);
                txn.insert(k, t);
            }
            None => {
                model.remove(&k);
                txn.remove(&k);
            }
        }
    }
    txn.label(label);
    let started = Instant::now();
    let version = txn.commit()?;
    Ok((version, started.elapsed()))
}

/// What the control plane committed, per version: the independent record
/// requests are checked against. Path tables are small and cloned per
/// version; the IP table's static base is shared.
struct Models {
    paths: Mutex<HashMap<Version, Arc<BTreeMap<String, Target>>>>,
    nets: Mutex<HashMap<Version, Arc<BTreeMap<IpNet, Target>>>>,
    base: BTreeMap<IpNet, Target>,
}

impl Models {
    /// The record of `version`; the control plane stores it right after
    /// the commit returns, so a request may briefly get ahead of it.
    fn get<K: Clone>(
        table: &Mutex<HashMap<Version, Arc<BTreeMap<K, Target>>>>,
        version: Version,
    ) -> Arc<BTreeMap<K, Target>> {
        loop {
            if let Some(model) = table.lock().get(&version) {
                return model.clone();
            }
            thread::yield_now();
        }
    }
}

/// The expected path decision: the query cut at each segment boundary,
/// longest first, looked up exactly. Returns (matched length, target).
fn expected_path(model: &BTreeMap<String, Target>, q: &str) -> Option<(usize, Target)> {
    let mut cuts = vec![q.len()];
    for (i, _) in q.match_indices('/').rev() {
        cuts.extend([i + 1, i]);
    }
    cuts.into_iter()
        .find_map(|len| model.get(&q[..len]).map(|t| (len, *t)))
}

/// The expected IP decision: every prefix length, longest first, looked up
/// exactly in the version's dynamic routes and the static base.
fn expected_net(
    model: &BTreeMap<IpNet, Target>,
    base: &BTreeMap<IpNet, Target>,
    a: IpAddr,
) -> Option<(u8, Target)> {
    let max = if a.is_ipv4() { 32 } else { 128 };
    (0..=max).rev().find_map(|len| {
        let key = IpNet::new(a, len).unwrap().trunc();
        model
            .get(&key)
            .or_else(|| base.get(&key))
            .map(|t| (len, *t))
    })
}

/// One request's decision, as recorded on the request path.
struct Decision<T> {
    version: Version,
    query: u32,
    matched: Option<(T, Target)>,
}

struct ThreadReport {
    lookups: u64,
    lookup_time: Duration,
    checked: u64,
    mismatches: u64,
    path_versions: usize,
    net_versions: usize,
}

fn random_path(rng: &mut SmallRng, services: u16) -> String {
    let s = rng.random_range(0..services + services / 4);
    match rng.random_range(0..6) {
        0 => format!("/svc{s}"),
        1 => format!("/svc{s}/api/users/{}", rng.random_range(0..100)),
        2 => format!("/svc{s}/api/v2/orders"),
        3 => format!("/svc{s}/apix"),
        4 => format!("/svc{s}x/api"),
        _ => format!("/static/{}", rng.random_range(0..100)),
    }
}

fn random_addr(rng: &mut SmallRng, services: u16, base: &[IpNet]) -> IpAddr {
    let [hi, lo] = rng.random_range(0..services + services / 4).to_be_bytes();
    match rng.random_range(0..5) {
        0 => Ipv4Addr::new(10, hi, lo, 7).into(),
        1 => Ipv4Addr::new(10, hi, lo, rng.random()).into(),
        2 => Ipv6Addr::new(
            0x2001,
            0xdb8,
            u16::from_be_bytes([hi, lo]),
            0,
            0,
            0,
            0,
            rng.random(),
        )
        .into(),
        3 if !base.is_empty() => {
            let IpNet::V4(n) = base[rng.random_range(0..base.len())] else {
                unreachable!()
            };
            Ipv4Addr::from(u32::from(n.network()) | (rng.random::<u32>() & !u32::from(n.netmask())))
                .into()
        }
        _ => Ipv4Addr::from(rng.random::<u32>()).into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = options()?;
    let mut rng = SmallRng::seed_from_u64(7);

    // The static base: random IPv4 networks outside 10.0.0.0/8, plus the
    // default routes.
    let mut base = BTreeMap::from([
        ("0.0.0.0/0".parse::<IpNet>()?, STATIC),
        ("::/0".parse::<IpNet>()?, STATIC),
    ]);
    while base.len() < opts.base_routes + 2 {
        let a = Ipv4Addr::from(rng.random::<u32>());
        let n = IpNet::V4(Ipv4Net::new(a, rng.random_range(12..=28))?.trunc());
        if a.octets()[0] != 10 && !n.contains(&"10.0.0.0/8".parse::<IpNet>()?) {
            base.insert(n, STATIC);
        }
    }
    let base_list: Vec<IpNet> = base
        .keys()
        .copied()
        .filter(|n| n.prefix_len() > 0)
        .collect();

    let paths = SnapOrdMap::<String, Target>::builder()
        .contents([("/".to_string(), STATIC)])
        .build();
    let nets = SnapOrdMap::<IpNet, Target>::builder()
        .validator(route::index_at_commit)
        .contents(base.clone())
        .build();
    nets.load().prepare_routes();
    let models = Arc::new(Models {
        paths: Mutex::new(HashMap::from([(
            paths.version(),
            Arc::new(paths.load().iter().map(|(k, v)| (k.clone(), *v)).collect()),
        )])),
        nets: Mutex::new(HashMap::from([(nets.version(), Arc::new(BTreeMap::new()))])),
        base,
    });
    println!(
        "routing_table: {} request threads, {} services, {} IP routes in the static base, {:.1} s",
        opts.threads, opts.services, opts.base_routes, opts.seconds
    );

    let stop = Arc::new(AtomicBool::new(false));
    let requests: Vec<_> = (0..opts.threads)
        .map(|t| {
            let (paths, nets, models, stop) =
                (paths.clone(), nets.clone(), models.clone(), stop.clone());
            let mut rng = SmallRng::seed_from_u64(100 + t as u64);
            let path_queries: Vec<String> = (0..4096)
                .map(|_| random_path(&mut rng, opts.services))
                .collect();
            let addr_queries: Vec<IpAddr> = (0..4096)
                .map(|_| random_addr(&mut rng, opts.services, &base_list))
                .collect();
            thread::spawn(move || {
                request_thread(&paths, &nets, &models, &stop, &path_queries, &addr_queries)
            })
        })
        .collect();

    // The control plane.
    let started = Instant::now();
    let mut generation = 0u32;
    let mut live: HashMap<u16, Target> = HashMap::new();
    let mut path_model: BTreeMap<String, Target> =
        paths.load().iter().map(|(k, v)| (k.clone(), *v)).collect();
    let mut net_model: BTreeMap<IpNet, Target> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut labels = Vec::new();
    while started.elapsed().as_secs_f64() < opts.seconds {
        let s = rng.random_range(0..opts.services);
        generation += 1;
        let change = match live.get(&s) {
            Some(_) if rng.random_range(0..3) == 0 => None,
            _ => Some(Target {
                service: s,
                backend: rng.random_range(0..8),
                generation,
            }),
        };
        let label = match (live.get(&s), change) {
            (None, Some(t)) => format!("add svc{s} -> backend {} (gen {generation})", t.backend),
            (Some(old), Some(t)) => format!(
                "move svc{s}: backend {} -> {} (gen {generation})",
                old.backend, t.backend
            ),
            (_, None) => format!("remove svc{s} (gen {generation})"),
        };
        match change {
            Some(t) => live.insert(s, t),
            None => live.remove(&s),
        };
        let (v, took) = apply(&paths, &mut path_model, service_paths(s), change, &label)?;
        latencies.push(("paths", took));
        models.paths.lock().insert(v, Arc::new(path_model.clone()));
        let (v, took) = apply(&nets, &mut net_model, service_nets(s), change, &label)?;
        latencies.push(("nets", took));
        models.nets.lock().insert(v, Arc::new(net_model.clone()));
        labels.push(label);
        thread::sleep(opts.interval);
    }
    stop.store(true, Ordering::Release);

    let mut total = 0.0;
    let mut mismatches = 0;
    for (t, handle) in requests.into_iter().enumerate() {
        let r = handle.join().expect("request thread panicked");
        let rate = r.lookups as f64 / r.lookup_time.as_secs_f64();
        total += rate;
        mismatches += r.mismatches;
        println!(
            "  request thread {t}: {:>6.2} M lookups/s ({} lookups, {} decisions checked, {} mismatches), \
             versions seen: {} of the path table, {} of the IP table",
            rate / 1e6,
            r.lookups,
            r.checked,
            r.mismatches,
            r.path_versions,
            r.net_versions
        );
    }
    println!("  all request threads: {:.2} M lookups/s", total / 1e6);
    println!(
        "  control plane: {} batches, last \"{}\"; tables at versions {} (paths) and {} (IP, {} routes)",
        labels.len(),
        labels.last().map_or("-", String::as_str),
        paths.version(),
        nets.version(),
        nets.len()
    );
    for table in ["paths", "nets"] {
        let mut l: Vec<Duration> = latencies
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, d)| *d)
            .collect();
        l.sort();
        if l.is_empty() {
            continue;
        }
        let at = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
        println!(
            "  commit latency ({table}{}): p50 {:?}, p99 {:?}, max {:?}",
            if table == "nets" {
                ", route index built at commit"
            } else {
                ""
            },
            at(0.5),
            at(0.99),
            l[l.len() - 1]
        );
    }
    if mismatches > 0 {
        return Err(format!(
            "{mismatches} routing decisions did not match their version's contents"
        )
        .into());
    }
    println!("  every decision matched the contents of the version it routed on");
    Ok(())
}

fn request_thread(
    paths: &SnapOrdMap<String, Target>,
    nets: &SnapOrdMap<IpNet, Target>,
    models: &Models,
    stop: &AtomicBool,
    path_queries: &[String],
    addr_queries: &[IpAddr],
) -> ThreadReport {
    const CHUNK: usize = 2048;
    let mut path_reader = paths.reader();
    let mut net_reader = nets.reader();
    let mut path_log: Vec<Decision<usize>> = Vec::with_capacity(CHUNK);
    let mut net_log: Vec<Decision<u8>> = Vec::with_capacity(CHUNK);
    let mut report = ThreadReport {
        lookups: 0,
        lookup_time: Duration::ZERO,
        checked: 0,
        mismatches: 0,
        path_versions: 0,
        net_versions: 0,
    };
    let (mut path_seen, mut net_seen) = (HashSet::new(), HashSet::new());
    let (mut last_path, mut last_net) = (Version::INITIAL, Version::INITIAL);
    let mut i = 0usize;
    while !stop.load(Ordering::Acquire) {
        // Route a chunk of requests (timed) ...
        let t0 = Instant::now();
        for _ in 0..CHUNK {
            i = (i + 1) % path_queries.len();
            let snap = path_reader.load();
            path_log.push(Decision {
                version: snap.version(),
                query: i as u32,
                matched: snap
                    .longest_segment_prefix(&path_queries[i], '/')
                    .map(|(k, t)| (k.len(), *t)),
            });
            let snap = net_reader.load();
            net_log.push(Decision {
                version: snap.version(),
                query: i as u32,
                matched: snap
                    .longest_match(addr_queries[i])
                    .map(|(k, t)| (k.prefix_len(), *t)),
            });
        }
        report.lookup_time += t0.elapsed();
        report.lookups += 2 * CHUNK as u64;

        // ... then check every decision against its version (untimed).
        let mut model = Models::get(&models.paths, last_path);
        for d in path_log.drain(..) {
            assert!(d.version >= last_path, "path table version went down");
            if d.version != last_path {
                model = Models::get(&models.paths, d.version);
            }
            last_path = d.version;
            path_seen.insert(d.version);
            let want = expected_path(&model, &path_queries[d.query as usize]);
            report.mismatches += u64::from(want != d.matched);
            report.checked += 1;
        }
        let mut model = Models::get(&models.nets, last_net);
        for d in net_log.drain(..) {
            assert!(d.version >= last_net, "IP table version went down");
            if d.version != last_net {
                model = Models::get(&models.nets, d.version);
            }
            last_net = d.version;
            net_seen.insert(d.version);
            let want = expected_net(&model, &models.base, addr_queries[d.query as usize]);
            report.mismatches += u64::from(want != d.matched);
            report.checked += 1;
        }
    }
    report.path_versions = path_seen.len();
    report.net_versions = net_seen.len();
    report
}
