//! Per-version derived data: values computed once from a version's contents
//! and cached inside it (the IP routing table's set of prefix lengths, say).

use std::any::{Any, TypeId};
use std::sync::OnceLock;

type Entry = (TypeId, Box<dyn Any + Send + Sync>);

/// An append-only map from type to value, read without locks. Each slot is
/// set at most once; a version rarely carries more than one or two derived
/// types, so lookups walk a very short chain.
#[derive(Default)]
#[cfg_attr(not(feature = "ip"), allow(dead_code))] // reason: only the `ip` routing tables derive data today
pub(crate) struct Derived {
    value: OnceLock<Entry>,
    next: OnceLock<Box<Derived>>,
}

#[cfg_attr(not(feature = "ip"), allow(dead_code))] // reason: only the `ip` routing tables derive data today
impl Derived {
    /// The cached `T`, computing it with `init` if there is none yet.
    ///
    /// Never waits for another thread's `init`: threads racing on the first
    /// call each compute a value and the first one stored wins.
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> &T {
        let id = TypeId::of::<T>();
        let mut slot = self;
        let mut pending: Option<Box<dyn Any + Send + Sync>> = None;
        let mut init = Some(init);
        loop {
            if let Some((slot_id, value)) = slot.value.get() {
                if *slot_id == id {
                    return value.downcast_ref().expect("slot type matches its TypeId");
                }
                slot = slot.next.get_or_init(Box::default);
                continue;
            }
            let value = match pending.take() {
                Some(value) => value,
                None => Box::new(init.take().expect("init runs at most once")()),
            };
            // Lost a race: keep our value for the next empty slot, or drop
            // it if the winner stored the same type (the loop returns it).
            if let Err((_, value)) = slot.value.set((id, value)) {
                pending = Some(value);
            }
        }
    }
}
