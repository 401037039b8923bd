//! `evmap` (over `left-right`): two copies of the map, readers on one,
//! the single writer on the other plus an operation log; `publish` swaps
//! them and waits for readers to leave the old copy. Writers from several
//! threads share the one write handle behind a mutex.
//!
//! `evmap` publishes after every write; `evmap-batch` publishes once per
//! [`BATCH`](super::snapmap::BATCH) writes (counted across all threads),
//! like `snapmap-batch`. Batched writes are invisible to readers until
//! published.

use evmap::handles::{ReadHandle, WriteHandle};
use parking_lot::Mutex;

use super::snapmap::BATCH;
use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

struct Writer<K: BenchKey, S: BenchHasher> {
    handle: WriteHandle<K, u64, (), S>,
    unpublished: usize,
}

pub struct Evmap<K: BenchKey, S: BenchHasher, const BATCHED: bool> {
    writer: Mutex<Writer<K, S>>,
    /// Read handles are `Send` but not `Sync`: each thread gets a clone.
    readers: Mutex<ReadHandle<K, u64, (), S>>,
}

pub struct EvmapHandle<'a, K: BenchKey, S: BenchHasher> {
    reader: ReadHandle<K, u64, (), S>,
    writer: &'a Mutex<Writer<K, S>>,
    batched: bool,
}

impl<K: BenchKey, S: BenchHasher, const BATCHED: bool> Adapter<K, S> for Evmap<K, S, BATCHED> {
    type Handle<'a> = EvmapHandle<'a, K, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        // SAFETY: `with_hasher` needs a deterministic hasher: clones of one
        // foldhash or std `RandomState` hash every key identically.
        let options = unsafe { evmap::Options::default().with_hasher(spec.hasher.clone()) };
        let (mut handle, reader) = options.with_capacity(spec.entries.len()).construct();
        for (k, v) in spec.entries {
            handle.update(k.clone(), *v);
        }
        handle.publish();
        Self {
            writer: Mutex::new(Writer {
                handle,
                unpublished: 0,
            }),
            readers: Mutex::new(reader),
        }
    }
    fn handle(&self) -> EvmapHandle<'_, K, S> {
        EvmapHandle {
            reader: self.readers.lock().clone(),
            writer: &self.writer,
            batched: BATCHED,
        }
    }
    fn note(&self) -> Option<String> {
        BATCHED.then(|| format!("publish every {BATCH} writes"))
    }
}

impl<K: BenchKey, S: BenchHasher> EvmapHandle<'_, K, S> {
    fn write(&mut self, op: impl FnOnce(&mut WriteHandle<K, u64, (), S>)) {
        let mut writer = self.writer.lock();
        op(&mut writer.handle);
        writer.unpublished += 1;
        if !self.batched || writer.unpublished >= BATCH {
            writer.handle.publish();
            writer.unpublished = 0;
        }
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for EvmapHandle<'_, K, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.reader.get_one(key).map(|v| *v)
    }
    fn insert(&mut self, key: K, value: u64) {
        self.write(|w| {
            w.update(key, value);
        });
    }
    fn remove(&mut self, key: &K) {
        self.write(|w| {
            w.remove_entry(key.clone());
        });
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        let mut writer = self.writer.lock();
        for (k, v) in items {
            writer.handle.update(k.clone(), *v);
        }
        writer.handle.publish();
        writer.unpublished = 0;
    }
    fn flush(&mut self) {
        let mut writer = self.writer.lock();
        if writer.unpublished > 0 {
            writer.handle.publish();
            writer.unpublished = 0;
        }
    }
}
