//! One adapter per map under test, all behind [`Adapter`] and
//! [`MapHandle`] so every workload runs the same loop over each of them,
//! monomorphized (no dynamic dispatch in the timed loop).

mod actor;
mod arcswap;
mod dashmap;
mod evmap;
mod floor;
mod locked;
mod papaya;
mod scc;
mod snapmap;

pub use self::actor::Actor;
pub use self::arcswap::ArcSwapClone;
pub use self::dashmap::DashMapAdapter;
pub use self::evmap::Evmap;
pub use self::floor::{FlatFloor, ImblFloor};
pub use self::locked::{PlRwLock, StdMutex, StdRwLock};
pub use self::papaya::Papaya;
pub use self::scc::SccHashIndex;
pub use self::snapmap::{IndexPolicy, SnapBatch, SnapLoad, SnapReader};

use crate::keys::{BenchHasher, BenchKey};

/// What an adapter is built from.
#[derive(Debug)]
pub struct BuildSpec<'a, K, S> {
    /// Initial contents.
    pub entries: &'a [(K, u64)],
    /// The hasher every adapter of one run shares (cloned).
    pub hasher: S,
    /// snapmap's read-index policy (other adapters ignore it).
    pub index: IndexPolicy,
}

/// A map under test: built once per (workload, key set), then shared by
/// every thread, each of which takes its own [`MapHandle`].
pub trait Adapter<K: BenchKey, S: BenchHasher>: Sized + Send + Sync {
    /// A thread's way into the map.
    type Handle<'a>: MapHandle<K>
    where
        Self: 'a;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self;

    /// Called on the thread that will use the handle, before timing starts.
    fn handle(&self) -> Self::Handle<'_>;

    /// Waits until the map is in its steady read state (snapmap: its read
    /// index is built, if its policy builds one). Called before timing.
    fn settle(&self) -> Result<(), String> {
        Ok(())
    }

    /// A remark for the report (snapmap: which read-index policy ran).
    fn note(&self) -> Option<String> {
        None
    }
}

/// One thread's operations on a map. Writes are visible to the thread's
/// own later reads once [`flush`](Self::flush) has run (batching adapters
/// buffer writes until then).
pub trait MapHandle<K> {
    /// Every implementation is `#[inline(always)]`: a read is inlined into
    /// the worker loop, as at a call site in user code. Left to the
    /// compiler, a larger `get` stays a call and the run measures the call,
    /// not the map.
    fn get(&mut self, key: &K) -> Option<u64>;
    /// Inserts or overwrites.
    fn insert(&mut self, key: K, value: u64);
    fn remove(&mut self, key: &K);
    /// Several inserts as one commit where the map has commits (snapmap,
    /// evmap, the cloned `ArcSwap<HashMap>`); one by one elsewhere.
    fn insert_batch(&mut self, items: &[(K, u64)])
    where
        K: Clone,
    {
        for (k, v) in items {
            self.insert(k.clone(), *v);
        }
    }
    /// Publishes writes a batching handle still buffers.
    fn flush(&mut self) {}
}
