//! What the criterion suites share: fixtures, the list of peers, and the
//! adapters themselves, which are the `compare` example's (included here
//! from `examples/compare/{keys.rs,adapters/}`), so the benches and the
//! driver measure exactly the same code. Each bench brings `adapters` and
//! `keys` to its crate root (`use common::{adapters, keys};`), where the
//! adapters look for `crate::keys`.

#[allow(unused_imports)] // reason: shared with examples/compare, partly used here
#[path = "../../examples/compare/adapters/mod.rs"]
pub mod adapters;
#[path = "../../examples/compare/keys.rs"]
pub mod keys;

use crate::adapters::*;
use crate::keys::{BenchKey, KeySet};

/// The hasher every map in the suites uses: snapmap's default.
pub type Hasher = foldhash::fast::RandomState;

/// Lookups cycle through this many random present keys.
pub const PROBES: usize = 1 << 16;

/// A key set, the initial contents built from it, and random present keys
/// to look up.
pub struct Fixture<K> {
    pub keys: KeySet<K>,
    pub entries: Vec<(K, u64)>,
    pub probes: Vec<K>,
    pub hasher: Hasher,
}

impl<K: BenchKey> Fixture<K> {
    pub fn new(len: usize) -> Self {
        let keys = KeySet::<K>::new(len, 0x5eed ^ len as u64);
        let entries: Vec<(K, u64)> = keys.entries().collect();
        // A multiplicative walk over the stable keys: random-looking, no RNG.
        let probes = (0..PROBES)
            .map(|i| keys.stable[(i.wrapping_mul(0x9e37_79b9) >> 3) % len].clone())
            .collect();
        Self {
            keys,
            entries,
            probes,
            hasher: Hasher::default(),
        }
    }

    pub fn spec(&self, index: IndexPolicy) -> BuildSpec<'_, K, Hasher> {
        BuildSpec {
            entries: &self.entries,
            hasher: self.hasher.clone(),
            index,
        }
    }
}

/// `49k`, `1m`.
pub fn size_label(len: usize) -> String {
    if len % 1_000_000 == 0 {
        format!("{}m", len / 1_000_000)
    } else if len % 1000 == 0 {
        format!("{}k", len / 1000)
    } else {
        len.to_string()
    }
}

/// Something run once per map type.
pub trait Visit<K: BenchKey> {
    fn visit<A: Adapter<K, Hasher>>(&mut self, name: &str);
}

/// Every peer: the maps someone would pick instead of snapmap.
pub fn each_peer<K: BenchKey>(v: &mut impl Visit<K>) {
    v.visit::<StdRwLock<K, Hasher>>("std-rwlock");
    v.visit::<PlRwLock<K, Hasher>>("pl-rwlock");
    v.visit::<StdMutex<K, Hasher>>("std-mutex");
    v.visit::<DashMapAdapter<K, Hasher>>("dashmap");
    v.visit::<Papaya<K, Hasher>>("papaya");
    v.visit::<SccHashIndex<K, Hasher>>("scc-hashindex");
    v.visit::<Evmap<K, Hasher, false>>("evmap");
    v.visit::<ArcSwapClone<K, Hasher>>("arcswap-clone");
    v.visit::<Actor<K>>("actor");
}

/// A map that failed to find present keys is reported loudly, not
/// skipped: its time is not a valid measurement.
/// Builds `A` for `fixture` and waits until it is ready to measure (for
/// snapmap: its read index built).
pub fn build_settled<K: keys::BenchKey, A: adapters::Adapter<K, Hasher>>(
    fixture: &Fixture<K>,
    index: adapters::IndexPolicy,
    name: &str,
) -> A {
    let map = A::build(&fixture.spec(index));
    map.settle().unwrap_or_else(|e| panic!("{name}: {e}"));
    map
}

/// Cycles through the fixture's probe keys, counting lookups of present
/// keys that found nothing (see [`report_misses`]).
#[derive(Default)]
pub struct Probes {
    next: usize,
    pub misses: u64,
}

impl Probes {
    /// One timed lookup of the next probe key.
    #[inline]
    pub fn get<K, H: adapters::MapHandle<K>>(
        &mut self,
        probes: &[K],
        handle: &mut H,
    ) -> Option<u64> {
        let key = &probes[self.next & (PROBES - 1)];
        self.next = self.next.wrapping_add(1);
        let found = handle.get(std::hint::black_box(key));
        self.misses += u64::from(found.is_none());
        found
    }
}

pub fn report_misses(name: &str, misses: u64) {
    if misses > 0 {
        eprintln!(
            "FAILED: {name}: {misses} lookups of present keys found nothing; its timing is invalid"
        );
    }
}
