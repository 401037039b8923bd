//! `dashmap::DashMap`: a `HashMap` split into shards, each behind its own
//! `RwLock`.

use dashmap::DashMap;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

pub struct DashMapAdapter<K: BenchKey, S: BenchHasher>(DashMap<K, u64, S>);

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for DashMapAdapter<K, S> {
    type Handle<'a> = &'a DashMap<K, u64, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let map = DashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        for (k, v) in spec.entries {
            map.insert(k.clone(), *v);
        }
        Self(map)
    }
    fn handle(&self) -> &DashMap<K, u64, S> {
        &self.0
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for &DashMap<K, u64, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        DashMap::get(self, key).map(|v| *v)
    }
    fn insert(&mut self, key: K, value: u64) {
        DashMap::insert(self, key, value);
    }
    fn remove(&mut self, key: &K) {
        DashMap::remove(self, key);
    }
}
