//! The two persistent maps the core runs over, behind one trait.
//!
//! The third type parameter of [`SnapMap`](crate::SnapMap) picks the backend:
//! any [`BuildHasher`] selects `imbl::GenericHashMap` with that hasher (the
//! hash face), and [`Ordered`] selects `imbl::OrdMap` (the ordered face,
//! [`SnapOrdMap`](crate::SnapOrdMap)). Everything else (publishing, history,
//! diffs, notification, read indexes) is written once against this trait.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use crate::diff::Change;

/// The default hasher: foldhash's fast, randomly seeded hasher (hashbrown's
/// default). Pass `std::hash::RandomState` through `with_hasher` when keys
/// come from untrusted input and HashDoS resistance matters more than speed.
pub type DefaultHashBuilder = foldhash::fast::RandomState;

/// Selects the ordered face: `imbl::OrdMap` underneath, sorted iteration,
/// `range`, `prefix` and `longest_prefix` on snapshots.
///
/// Keys of the ordered face are also `Hash`, because exact lookups go
/// through a flat hash index when one is built (see
/// [`ReadIndex`](crate::ReadIndex)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ordered;

pub(crate) type Ptr = imbl::shared_ptr::DefaultSharedPtr;
pub(crate) type HashBacked<K, V, S> = imbl::GenericHashMap<K, V, S, Ptr>;
pub(crate) type OrdBacked<K, V> = imbl::GenericOrdMap<K, V, Ptr>;

/// The flat read index of one version (see [`ReadIndex`](crate::ReadIndex)).
pub(crate) type Index<K, V> = hashbrown::HashTable<(K, V)>;

mod sealed {
    pub trait Sealed {}
    impl<S: std::hash::BuildHasher> Sealed for S {}
    impl Sealed for super::Ordered {}
}

/// A persistent map the core can publish: implemented for every
/// [`BuildHasher`] (the hash face) and for [`Ordered`]. Sealed: the methods
/// are the crate's internals, not an extension point.
pub trait Backend<K, V>: sealed::Sealed + Clone + Send + Sync + 'static {
    #[doc(hidden)]
    type Map: Clone + Send + Sync + 'static;
    #[doc(hidden)]
    type IndexHasher: BuildHasher + Clone + Send + Sync + 'static;
    #[doc(hidden)]
    type Iter<'a>: Iterator<Item = (&'a K, &'a V)> + ExactSizeIterator
    where
        Self: 'a,
        K: 'a,
        V: 'a;

    #[doc(hidden)]
    fn empty(&self) -> Self::Map;
    #[doc(hidden)]
    fn empty_like(map: &Self::Map) -> Self::Map;
    #[doc(hidden)]
    fn index_hasher(&self) -> Self::IndexHasher;
    #[doc(hidden)]
    fn len(map: &Self::Map) -> usize;
    #[doc(hidden)]
    fn iter(map: &Self::Map) -> Self::Iter<'_>;
    #[doc(hidden)]
    fn insert(map: &mut Self::Map, key: K, value: V) -> Option<V>;
    #[doc(hidden)]
    fn ptr_eq(a: &Self::Map, b: &Self::Map) -> bool;
    #[doc(hidden)]
    fn lookup_owned<'a>(map: &'a Self::Map, key: &K) -> Option<&'a V>;
    /// Every difference from `old` to `new`, skipping shared structure where
    /// the backend can.
    #[doc(hidden)]
    fn diff_full(old: &Self::Map, new: &Self::Map, out: &mut Vec<Change<K, V>>)
    where
        V: PartialEq;
    /// Puts a diff in the face's documented order.
    #[doc(hidden)]
    fn order_changes(changes: &mut [Change<K, V>]);
}

/// Lookups by a borrowed form `Q` of the key: `Hash + Eq` on the hash face,
/// `Ord + Hash + Eq` on the ordered face (the `Hash` is for the read index).
pub trait Lookup<K, V, Q: ?Sized>: Backend<K, V> {
    #[doc(hidden)]
    fn map_get<'a>(map: &'a Self::Map, key: &Q) -> Option<(&'a K, &'a V)>;
    #[doc(hidden)]
    fn map_remove(map: &mut Self::Map, key: &Q) -> Option<(K, V)>;
    #[doc(hidden)]
    fn index_find<'a>(index: &'a Index<K, V>, hash: u64, key: &Q) -> Option<(&'a K, &'a V)>;
    #[doc(hidden)]
    fn index_hash(hasher: &Self::IndexHasher, key: &Q) -> u64;
    #[doc(hidden)]
    fn key_eq(k: &K, key: &Q) -> bool;
}

/// The `Backend` methods whose bodies read the same on both imbl maps
/// (the maps share method names, not a trait).
macro_rules! same_api_on_both_maps {
    () => {
        #[inline]
        fn len(map: &Self::Map) -> usize {
            map.len()
        }
        fn iter(map: &Self::Map) -> Self::Iter<'_> {
            map.iter()
        }
        fn insert(map: &mut Self::Map, key: K, value: V) -> Option<V> {
            map.insert(key, value)
        }
        fn ptr_eq(a: &Self::Map, b: &Self::Map) -> bool {
            a.ptr_eq(b)
        }
        fn lookup_owned<'a>(map: &'a Self::Map, key: &K) -> Option<&'a V> {
            map.get(key)
        }
    };
}

/// The `Lookup` methods whose bodies read the same on both faces.
macro_rules! same_lookups_on_both_maps {
    () => {
        #[inline]
        fn map_get<'a>(map: &'a Self::Map, key: &Q) -> Option<(&'a K, &'a V)> {
            map.get_key_value(key)
        }
        fn map_remove(map: &mut Self::Map, key: &Q) -> Option<(K, V)> {
            map.remove_with_key(key)
        }
        #[inline]
        fn index_find<'a>(index: &'a Index<K, V>, hash: u64, key: &Q) -> Option<(&'a K, &'a V)> {
            index
                .find(hash, |(k, _)| <Self as Lookup<K, V, Q>>::key_eq(k, key))
                .map(|(k, v)| (k, v))
        }
        #[inline]
        fn index_hash(hasher: &Self::IndexHasher, key: &Q) -> u64 {
            hasher.hash_one(key)
        }
        #[inline]
        fn key_eq(k: &K, key: &Q) -> bool {
            k.borrow() == key
        }
    };
}

impl<K, V, S> Backend<K, V> for S
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    type Map = HashBacked<K, V, S>;
    type IndexHasher = S;
    type Iter<'a> = imbl::hashmap::Iter<'a, K, V, Ptr>;

    fn empty(&self) -> Self::Map {
        HashBacked::with_hasher(self.clone())
    }
    fn empty_like(map: &Self::Map) -> Self::Map {
        HashBacked::with_hasher(map.hasher().clone())
    }
    fn index_hasher(&self) -> S {
        self.clone()
    }
    same_api_on_both_maps!();
    fn diff_full(old: &Self::Map, new: &Self::Map, out: &mut Vec<Change<K, V>>)
    where
        V: PartialEq,
    {
        // imbl's HAMT exposes no subtree sharing below the root: compare
        // entry by entry (the root check already ran in `diff`).
        for (k, old_v) in old.iter() {
            match new.get(k) {
                None => out.push(Change::Removed(k.clone(), old_v.clone())),
                Some(new_v) if new_v != old_v => {
                    out.push(Change::Updated(k.clone(), old_v.clone(), new_v.clone()))
                }
                Some(_) => {}
            }
        }
        for (k, new_v) in new.iter() {
            if !old.contains_key(k) {
                out.push(Change::Added(k.clone(), new_v.clone()));
            }
        }
    }
    fn order_changes(_: &mut [Change<K, V>]) {}
}

impl<K, V, S, Q> Lookup<K, V, Q> for S
where
    S: Backend<K, V, Map = HashBacked<K, V, S>> + BuildHasher,
    K: Hash + Eq + Clone + Borrow<Q>,
    V: Clone,
    Q: Hash + Eq + ?Sized,
{
    same_lookups_on_both_maps!();
}

impl<K, V> Backend<K, V> for Ordered
where
    K: Ord + Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Map = OrdBacked<K, V>;
    type IndexHasher = DefaultHashBuilder;
    type Iter<'a> = imbl::ordmap::Iter<'a, K, V, Ptr>;

    fn empty(&self) -> Self::Map {
        OrdBacked::new()
    }
    fn empty_like(_: &Self::Map) -> Self::Map {
        OrdBacked::new()
    }
    fn index_hasher(&self) -> DefaultHashBuilder {
        DefaultHashBuilder::default()
    }
    same_api_on_both_maps!();
    fn diff_full(old: &Self::Map, new: &Self::Map, out: &mut Vec<Change<K, V>>)
    where
        V: PartialEq,
    {
        // OrdMap::diff walks both B-trees together and skips shared nodes.
        use imbl::ordmap::DiffItem;
        out.extend(old.diff(new).map(|item| match item {
            DiffItem::Add(k, v) => Change::Added(k.clone(), v.clone()),
            DiffItem::Remove(k, v) => Change::Removed(k.clone(), v.clone()),
            DiffItem::Update {
                old: (k, old_v),
                new: (_, new_v),
            } => Change::Updated(k.clone(), old_v.clone(), new_v.clone()),
        }));
    }
    fn order_changes(changes: &mut [Change<K, V>]) {
        changes.sort_by(|a, b| a.key().cmp(b.key()));
    }
}

impl<K, V, Q> Lookup<K, V, Q> for Ordered
where
    K: Ord + Hash + Eq + Clone + Send + Sync + 'static + Borrow<Q>,
    V: Clone + Send + Sync + 'static,
    Q: Ord + Hash + Eq + ?Sized,
{
    same_lookups_on_both_maps!();
}
