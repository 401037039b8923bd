//! `scc::HashIndex`: read-optimized concurrent map (lock-free reads,
//! copy-on-write entries, epoch-based reclamation).

use scc::hash_index::Entry;
use scc::HashIndex;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

pub struct SccHashIndex<K: BenchKey, S: BenchHasher>(HashIndex<K, u64, S>);

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for SccHashIndex<K, S> {
    type Handle<'a> = &'a HashIndex<K, u64, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let map = HashIndex::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        for (k, v) in spec.entries {
            upsert(&map, k.clone(), *v);
        }
        Self(map)
    }
    fn handle(&self) -> &HashIndex<K, u64, S> {
        &self.0
    }
}

/// `HashIndex::insert_sync` refuses present keys; overwrite through the
/// entry API instead.
fn upsert<K: BenchKey, S: BenchHasher>(map: &HashIndex<K, u64, S>, key: K, value: u64) {
    match map.entry_sync(key) {
        Entry::Occupied(mut entry) => entry.update(value),
        Entry::Vacant(entry) => {
            entry.insert_entry(value);
        }
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for &HashIndex<K, u64, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.peek_with(key, |_, v| *v)
    }
    fn insert(&mut self, key: K, value: u64) {
        upsert(self, key, value);
    }
    fn remove(&mut self, key: &K) {
        self.remove_sync(key);
    }
}
