//! snapmap itself, three ways: `load()` per read, a `Reader` per thread,
//! and a `Reader` per thread whose writes are batched into one commit per
//! [`BATCH`] writes. Single writes publish one version each (`insert`,
//! `remove`); `insert_batch` is one transaction.

use std::fmt;
use std::time::{Duration, Instant};

use snapmap::{ReadIndex, Reader, SnapMap};

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

/// Writes a `snapmap-batch` handle buffers before it commits them as one
/// version.
pub const BATCH: usize = 64;

/// The documented default of `Builder::read_index_min_len`: smaller
/// versions get no index, so `settle` does not wait for one.
const INDEX_MIN_LEN: usize = 1024;

/// How long `settle` waits for a read index before calling it a failure.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// `--index`: snapmap's read-index policy, or the crate's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexPolicy {
    Default,
    Off,
    Eager,
    Background,
}

impl IndexPolicy {
    pub fn read_index(self) -> ReadIndex {
        match self {
            IndexPolicy::Default => ReadIndex::default(),
            IndexPolicy::Off => ReadIndex::Off,
            IndexPolicy::Eager => ReadIndex::Eager,
            // The default's quiet period, whatever it is.
            IndexPolicy::Background => match ReadIndex::default() {
                quiet @ ReadIndex::Background { .. } => quiet,
                _ => ReadIndex::Background {
                    quiet: Duration::from_millis(20),
                },
            },
        }
    }
}

impl fmt::Display for IndexPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.read_index() {
            ReadIndex::Off => f.write_str("off"),
            ReadIndex::Eager => f.write_str("eager"),
            ReadIndex::Background { quiet } => write!(f, "background({quiet:?})"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The map, shared by the three variants.
pub struct SnapCore<K: BenchKey, S: BenchHasher> {
    map: SnapMap<K, u64, S>,
    policy: IndexPolicy,
}

impl<K: BenchKey, S: BenchHasher> SnapCore<K, S> {
    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let map = SnapMap::<K, u64, S>::builder()
            .hasher(spec.hasher.clone())
            .read_index(spec.index.read_index())
            .contents(spec.entries.iter().cloned())
            .build();
        Self {
            map,
            policy: spec.index,
        }
    }

    fn settle(&self) -> Result<(), String> {
        let expects_index =
            self.policy.read_index() != ReadIndex::Off && self.map.len() >= INDEX_MIN_LEN;
        if !expects_index {
            return Ok(());
        }
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while !self.map.load().has_read_index() {
            if Instant::now() > deadline {
                return Err(format!(
                    "read index not built within {SETTLE_TIMEOUT:?} (policy {}, {} entries; last error: {:?})",
                    self.policy,
                    self.map.len(),
                    self.map.stats().last_error
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn note(&self) -> Option<String> {
        Some(format!("index={}", self.policy))
    }

    fn insert(&self, key: K, value: u64) {
        self.map
            .insert(key, value)
            .expect("snapmap insert commit failed");
    }

    fn remove(&self, key: &K) {
        self.map.remove(key).expect("snapmap remove commit failed");
    }

    fn insert_batch(&self, items: &[(K, u64)]) {
        self.map
            .update(|txn| {
                for (k, v) in items {
                    txn.insert(k.clone(), *v);
                }
            })
            .expect("snapmap batch commit failed");
    }
}

/// `snapmap-load`: every read is `map.load().get(key)`.
pub struct SnapLoad<K: BenchKey, S: BenchHasher>(SnapCore<K, S>);

/// `snapmap-reader` (`BATCHED = false`) and `snapmap-batch`
/// (`BATCHED = true`): every read is `reader.load().get(key)` on the
/// thread's own `Reader`.
pub struct SnapReaderAdapter<K: BenchKey, S: BenchHasher, const BATCHED: bool>(SnapCore<K, S>);

pub type SnapReader<K, S> = SnapReaderAdapter<K, S, false>;
pub type SnapBatch<K, S> = SnapReaderAdapter<K, S, true>;

pub struct LoadHandle<'a, K: BenchKey, S: BenchHasher> {
    core: &'a SnapCore<K, S>,
}

pub struct ReaderHandle<'a, K: BenchKey, S: BenchHasher, const BATCHED: bool> {
    core: &'a SnapCore<K, S>,
    reader: Reader<K, u64, S>,
    pending: Vec<Pending<K>>,
}

enum Pending<K> {
    Insert(K, u64),
    Remove(K),
}

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for SnapLoad<K, S> {
    type Handle<'a> = LoadHandle<'a, K, S>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        Self(SnapCore::build(spec))
    }
    fn handle(&self) -> LoadHandle<'_, K, S> {
        LoadHandle { core: &self.0 }
    }
    fn settle(&self) -> Result<(), String> {
        self.0.settle()
    }
    fn note(&self) -> Option<String> {
        self.0.note()
    }
}

impl<K: BenchKey, S: BenchHasher> MapHandle<K> for LoadHandle<'_, K, S> {
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.core.map.load().get(key).copied()
    }
    fn insert(&mut self, key: K, value: u64) {
        self.core.insert(key, value);
    }
    fn remove(&mut self, key: &K) {
        self.core.remove(key);
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        self.core.insert_batch(items);
    }
}

impl<K: BenchKey, S: BenchHasher, const BATCHED: bool> Adapter<K, S>
    for SnapReaderAdapter<K, S, BATCHED>
{
    type Handle<'a> = ReaderHandle<'a, K, S, BATCHED>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        Self(SnapCore::build(spec))
    }
    fn handle(&self) -> ReaderHandle<'_, K, S, BATCHED> {
        ReaderHandle {
            core: &self.0,
            reader: self.0.map.reader(),
            pending: Vec::with_capacity(if BATCHED { BATCH } else { 0 }),
        }
    }
    fn settle(&self) -> Result<(), String> {
        self.0.settle()
    }
    fn note(&self) -> Option<String> {
        let note = self.0.note()?;
        Some(if BATCHED {
            format!("{note}, commit every {BATCH} writes")
        } else {
            note
        })
    }
}

impl<K: BenchKey, S: BenchHasher, const BATCHED: bool> ReaderHandle<'_, K, S, BATCHED> {
    fn push(&mut self, write: Pending<K>) {
        self.pending.push(write);
        if self.pending.len() >= BATCH {
            self.flush();
        }
    }
}

impl<K: BenchKey, S: BenchHasher, const BATCHED: bool> MapHandle<K>
    for ReaderHandle<'_, K, S, BATCHED>
{
    #[inline(always)]
    fn get(&mut self, key: &K) -> Option<u64> {
        self.reader.load().get(key).copied()
    }
    fn insert(&mut self, key: K, value: u64) {
        if BATCHED {
            self.push(Pending::Insert(key, value));
        } else {
            self.core.insert(key, value);
        }
    }
    fn remove(&mut self, key: &K) {
        if BATCHED {
            self.push(Pending::Remove(key.clone()));
        } else {
            self.core.remove(key);
        }
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        self.flush();
        self.core.insert_batch(items);
    }
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = &mut self.pending;
        self.core
            .map
            .update(|txn| {
                for write in pending.drain(..) {
                    match write {
                        Pending::Insert(k, v) => {
                            txn.insert(k, v);
                        }
                        Pending::Remove(k) => {
                            txn.remove(&k);
                        }
                    }
                }
            })
            .expect("snapmap batch commit failed");
    }
}
