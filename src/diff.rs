//! Differences between two versions.

use std::collections::HashSet;

use crate::backend::{Backend, DefaultHashBuilder};
use crate::published::{Published, SnapKey, SnapValue};

/// One difference between two versions, as returned by
/// [`Snapshot::diff`](crate::Snapshot::diff).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Change<K, V> {
    /// The key is in the newer version only.
    Added(K, V),
    /// The key is in the older version only.
    Removed(K, V),
    /// The key is in both with different values: `(key, old, new)`.
    Updated(K, V, V),
}

impl<K, V> Change<K, V> {
    /// The key this change is about.
    pub fn key(&self) -> &K {
        match self {
            Change::Added(k, _) | Change::Removed(k, _) | Change::Updated(k, _, _) => k,
        }
    }
}

/// Every change from `old` to `new`.
///
/// Two versions of the same map whose commits are all in `new`'s (or
/// `old`'s) change log cost O(changed keys); any other pair is compared in
/// full, skipping shared structure where the backend can.
pub(crate) fn diff<K, V, S>(new: &Published<K, V, S>, old: &Published<K, V, S>) -> Vec<Change<K, V>>
where
    K: SnapKey,
    V: SnapValue + PartialEq,
    S: Backend<K, V>,
{
    let mut out = Vec::new();
    if S::ptr_eq(&new.content.map, &old.content.map)
        || (new.map_id == old.map_id && new.version() == old.version())
    {
        return out;
    }
    match changed_keys(new, old) {
        Some(keys) => {
            let mut seen: HashSet<&K, DefaultHashBuilder> =
                HashSet::with_capacity_and_hasher(keys.len(), DefaultHashBuilder::default());
            for key in keys {
                if !seen.insert(key) {
                    continue;
                }
                let before = S::lookup_owned(&old.content.map, key);
                let after = S::lookup_owned(&new.content.map, key);
                match (before, after) {
                    (None, Some(v)) => out.push(Change::Added(key.clone(), v.clone())),
                    (Some(v), None) => out.push(Change::Removed(key.clone(), v.clone())),
                    (Some(a), Some(b)) if a != b => {
                        out.push(Change::Updated(key.clone(), a.clone(), b.clone()))
                    }
                    _ => {}
                }
            }
        }
        None => S::diff_full(&old.content.map, &new.content.map, &mut out),
    }
    S::order_changes(&mut out);
    out
}

/// The keys that may differ between two versions of one map, from the
/// later version's change log.
fn changed_keys<'a, K, V, S: Backend<K, V>>(
    a: &'a Published<K, V, S>,
    b: &'a Published<K, V, S>,
) -> Option<Vec<&'a K>> {
    if a.map_id != b.map_id {
        return None;
    }
    let (older, newer) = if a.version() < b.version() {
        (a, b)
    } else {
        (b, a)
    };
    Some(
        newer
            .content
            .log
            .keys_between(older.version(), newer.version())?
            .collect(),
    )
}
