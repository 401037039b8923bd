//! Floors, not peers: what a lookup costs with no synchronization at all.
//!
//! - `floor-hashmap`: each thread owns a private clone of a flat
//!   `std::collections::HashMap` (hashbrown) with the same keys and hasher.
//!   Read-only workloads only: its writes would not be shared.
//! - `floor-imbl`: each thread owns a private `imbl` hash map with the same
//!   hasher. A write clones it (O(1)), changes the clone and replaces it:
//!   the persistent-map work of a snapmap commit without publishing.

use std::collections::HashMap;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

pub struct FlatFloor<K, S>(HashMap<K, u64, S>);

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for FlatFloor<K, S> {
    type Handle<'a> = HashMap<K, u64, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let mut map = HashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        map.extend(spec.entries.iter().cloned());
        Self(map)
    }
    fn handle(&self) -> HashMap<K, u64, S> {
        self.0.clone()
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for HashMap<K, u64, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        HashMap::get(self, key).copied()
    }
    fn insert(&mut self, key: K, value: u64) {
        HashMap::insert(self, key, value);
    }
    fn remove(&mut self, key: &K) {
        HashMap::remove(self, key);
    }
}

type Imbl<K, S> = imbl::GenericHashMap<K, u64, S, imbl::shared_ptr::DefaultSharedPtr>;

pub struct ImblFloor<K, S>(Imbl<K, S>);

/// A thread's private persistent map.
pub struct ImblHandle<K, S>(Imbl<K, S>);

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for ImblFloor<K, S> {
    type Handle<'a> = ImblHandle<K, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let mut map = Imbl::with_hasher(spec.hasher.clone());
        for (k, v) in spec.entries {
            map.insert(k.clone(), *v);
        }
        Self(map)
    }
    fn handle(&self) -> ImblHandle<K, S> {
        ImblHandle(self.0.clone())
    }
}

impl<K: BenchKey, S: BenchHasher> ImblHandle<K, S> {
    /// Clone, change, replace: the previous version is alive while the
    /// change is made, as a published snapmap version would be.
    fn write(&mut self, change: impl FnOnce(&mut Imbl<K, S>)) {
        let mut next = self.0.clone();
        change(&mut next);
        self.0 = next;
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for ImblHandle<K, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.0.get(key).copied()
    }
    fn insert(&mut self, key: K, value: u64) {
        self.write(|m| {
            m.insert(key, value);
        });
    }
    fn remove(&mut self, key: &K) {
        self.write(|m| {
            m.remove(key);
        });
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        self.write(|m| {
            for (k, v) in items {
                m.insert(k.clone(), *v);
            }
        });
    }
}
