//! Differences between two versions.

use std::collections::HashSet;
use std::sync::Arc;

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
        || (new.same_map(old) && new.version() == old.version())
    {
        return out;
    }
    match changed_keys(new, old) {
        Some(commits) => {
            let keys = commits.iter().flat_map(|keys| keys.iter());
            let mut seen: HashSet<&K, DefaultHashBuilder> = HashSet::default();
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

/// The keys that may differ between two versions of one map, from its
/// commit log (one slice per commit).
fn changed_keys<K, V, S: Backend<K, V>>(
    a: &Published<K, V, S>,
    b: &Published<K, V, S>,
) -> Option<Vec<Arc<[K]>>> {
    if !a.same_map(b) {
        return None;
    }
    let (older, newer) = if a.version() < b.version() {
        (a, b)
    } else {
        (b, a)
    };
    newer.lineage.keys_between(older.version(), newer.version())
}
