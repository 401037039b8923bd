//! The naive atomic-pointer pattern (Go's `atomic.Value` holding a map):
//! `ArcSwap<HashMap>`, where every write clones the whole map, changes the
//! copy and swaps it in. Writers are serialized by a mutex so none is lost.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

pub struct ArcSwapClone<K: BenchKey, S: BenchHasher> {
    current: ArcSwap<HashMap<K, u64, S>>,
    writer: Mutex<()>,
}

impl<K: BenchKey, S: BenchHasher> ArcSwapClone<K, S> {
    fn write(&self, change: impl FnOnce(&mut HashMap<K, u64, S>)) {
        let _writer = self.writer.lock();
        let mut copy = HashMap::clone(&self.current.load());
        change(&mut copy);
        self.current.store(Arc::new(copy));
    }
}

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for ArcSwapClone<K, S> {
    type Handle<'a> = &'a ArcSwapClone<K, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let mut map = HashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        map.extend(spec.entries.iter().cloned());
        Self {
            current: ArcSwap::from_pointee(map),
            writer: Mutex::new(()),
        }
    }
    fn handle(&self) -> &ArcSwapClone<K, S> {
        self
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for &ArcSwapClone<K, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.current.load().get(key).copied()
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
        self.write(|m| m.extend(items.iter().cloned()));
    }
}
