//! `papaya::HashMap`: lock-free, read-optimized, epoch-based reclamation.
//! Each operation pins the map on its own (`map.pin()`), as a caller
//! without a long-lived guard would.

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

pub struct Papaya<K: BenchKey, S: BenchHasher>(papaya::HashMap<K, u64, S>);

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for Papaya<K, S> {
    type Handle<'a> = &'a papaya::HashMap<K, u64, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let map =
            papaya::HashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        {
            let pinned = map.pin();
            for (k, v) in spec.entries {
                pinned.insert(k.clone(), *v);
            }
        }
        Self(map)
    }
    fn handle(&self) -> &papaya::HashMap<K, u64, S> {
        &self.0
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for &papaya::HashMap<K, u64, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.pin().get(key).copied()
    }
    fn insert(&mut self, key: K, value: u64) {
        self.pin().insert(key, value);
    }
    fn remove(&mut self, key: &K) {
        self.pin().remove(key);
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        let pinned = self.pin();
        for (k, v) in items {
            pinned.insert(k.clone(), *v);
        }
    }
}
