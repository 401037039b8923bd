//! A `HashMap` behind one lock: `std::sync::RwLock`, `parking_lot::RwLock`
//! and `std::sync::Mutex`. Every read takes the lock (shared where the lock
//! has a shared mode), every write takes it exclusively.

use std::collections::HashMap;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

/// The one thing the three locks differ in.
pub trait MapLock: Send + Sync {
    type Map;
    fn new(map: Self::Map) -> Self;
    fn read<R>(&self, f: impl FnOnce(&Self::Map) -> R) -> R;
    fn write<R>(&self, f: impl FnOnce(&mut Self::Map) -> R) -> R;
}

impl<M: Send + Sync> MapLock for std::sync::RwLock<M> {
    type Map = M;
    fn new(map: M) -> Self {
        std::sync::RwLock::new(map)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.read().expect("RwLock poisoned by a panicking writer"))
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.write().expect("RwLock poisoned by a panicking writer"))
    }
}

impl<M: Send + Sync> MapLock for parking_lot::RwLock<M> {
    type Map = M;
    fn new(map: M) -> Self {
        parking_lot::RwLock::new(map)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.read())
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.write())
    }
}

impl<M: Send> MapLock for std::sync::Mutex<M> {
    type Map = M;
    fn new(map: M) -> Self {
        std::sync::Mutex::new(map)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.lock().expect("Mutex poisoned by a panicking writer"))
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.lock().expect("Mutex poisoned by a panicking writer"))
    }
}

/// A lock around a `HashMap`; the handle is a plain reference.
pub struct Locked<L>(L);

pub type StdRwLock<K, S> = Locked<std::sync::RwLock<HashMap<K, u64, S>>>;
pub type PlRwLock<K, S> = Locked<parking_lot::RwLock<HashMap<K, u64, S>>>;
pub type StdMutex<K, S> = Locked<std::sync::Mutex<HashMap<K, u64, S>>>;

impl<K: BenchKey, S: BenchHasher, L: MapLock<Map = HashMap<K, u64, S>>> Adapter<K, S>
    for Locked<L>
{
    type Handle<'a>
        = &'a Locked<L>
    where
        L: 'a;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let mut map = HashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        map.extend(spec.entries.iter().cloned());
        Locked(L::new(map))
    }
    fn handle(&self) -> &Locked<L> {
        self
    }
}

impl<K: BenchKey, S: BenchHasher, L: MapLock<Map = HashMap<K, u64, S>>> MapHandle<K>
    for &Locked<L>
{
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.0.read(|m| m.get(key).copied())
    }
    fn insert(&mut self, key: K, value: u64) {
        self.0.write(|m| m.insert(key, value));
    }
    fn remove(&mut self, key: &K) {
        self.0.write(|m| m.remove(key));
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        self.0.write(|m| m.extend(items.iter().cloned()));
    }
}
