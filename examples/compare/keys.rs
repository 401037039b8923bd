//! Key types and key sets: random `u64` keys and config-like dotted
//! `String` keys, generated once per size and shared by every adapter.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// What every benchmarked key type is. `StableHashEq` is evmap's marker
/// for keys whose `Hash`/`Eq` are deterministic (`u64`, `String`).
pub trait BenchKey:
    evmap::StableHashEq + Hash + Eq + Clone + Send + Sync + Debug + 'static
{
    /// `n` distinct keys, in random order, from `seed`.
    fn generate(n: usize, seed: u64) -> Vec<Self>;
}

/// What every benchmarked hasher is: foldhash or SipHash, cloned into
/// every adapter so they all hash alike.
pub trait BenchHasher: BuildHasher + Clone + Default + Send + Sync + 'static {}

impl BenchHasher for foldhash::fast::RandomState {}
impl BenchHasher for std::hash::RandomState {}

impl BenchKey for u64 {
    fn generate(n: usize, seed: u64) -> Vec<u64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut seen = HashSet::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        while keys.len() < n {
            let k: u64 = rng.random();
            if seen.insert(k) {
                keys.push(k);
            }
        }
        keys
    }
}

const SERVICES: [&str; 16] = [
    "api",
    "auth",
    "billing",
    "cache",
    "catalog",
    "checkout",
    "db",
    "edge",
    "gateway",
    "inventory",
    "mail",
    "search",
    "service",
    "session",
    "storage",
    "users",
];
const SECTIONS: [&str; 8] = [
    "http", "grpc", "pool", "retry", "tls", "log", "limits", "features",
];
const FIELDS: [&str; 8] = [
    "timeout_ms",
    "max_conns",
    "enabled",
    "endpoint",
    "ttl_s",
    "retries",
    "burst",
    "level",
];

impl BenchKey for String {
    /// Config-like dotted keys: `service.http.timeout_ms.17`.
    fn generate(n: usize, seed: u64) -> Vec<String> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut keys: Vec<String> = (0..n)
            .map(|i| {
                let x: u32 = rng.random();
                format!(
                    "{}.{}.{}.{i}",
                    SERVICES[x as usize % 16],
                    SECTIONS[(x as usize >> 4) % 8],
                    FIELDS[(x as usize >> 7) % 8]
                )
            })
            .collect();
        shuffle(&mut keys, &mut rng);
        keys
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut SmallRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// The keys of one benchmark: `stable` keys are in the map from the start
/// and never removed (every read targets one, so every read must hit);
/// `churn` keys are disjoint from them and from each other's threads, and
/// are what inserts and removes cycle through.
#[derive(Debug)]
pub struct KeySet<K> {
    pub stable: Vec<K>,
    churn: Vec<K>,
}

/// Churn keys per thread: more than the most that can be outstanding at
/// once (see `workload::CHURN_WINDOW`), so a removed key is never
/// reinserted before the end-of-run check looks for it.
pub const CHURN_PER_THREAD: usize = 2048;
/// Most threads a key set has churn keys for.
pub const MAX_THREADS: usize = 64;

impl<K: BenchKey> KeySet<K> {
    pub fn new(len: usize, seed: u64) -> Self {
        let mut all = K::generate(len + CHURN_PER_THREAD * MAX_THREADS, seed);
        let churn = all.split_off(len);
        Self { stable: all, churn }
    }

    /// The churn keys of thread `t`.
    pub fn churn(&self, t: usize) -> &[K] {
        let t = t % MAX_THREADS;
        &self.churn[t * CHURN_PER_THREAD..(t + 1) * CHURN_PER_THREAD]
    }

    /// The initial contents: every stable key, valued by its position.
    pub fn entries(&self) -> impl Iterator<Item = (K, u64)> + '_ {
        self.stable.iter().cloned().zip(0u64..)
    }
}
