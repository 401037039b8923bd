//! Extras of the ordered face's snapshots: ranges, prefixes, longest-prefix
//! matching.

use std::borrow::Borrow;
use std::fmt;
use std::ops::{Bound, RangeBounds};

use crate::backend::{OrdBacked, Ordered, Ptr};
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Snapshot;

impl<K: SnapKey + Ord, V: SnapValue> Snapshot<K, V, Ordered> {
    fn ord_map(&self) -> &OrdBacked<K, V> {
        &self.published().content.map
    }

    /// Entries whose keys fall in `range`, in key order (double-ended).
    /// O(log n) to start, then O(1) amortized per entry.
    ///
    /// ```
    /// use snapmap::SnapOrdMap;
    ///
    /// let map: SnapOrdMap<u32, &str> = [(1, "a"), (5, "b"), (9, "c")].into_iter().collect();
    /// let keys: Vec<u32> = map.load().range(2..=9).map(|(k, _)| *k).collect();
    /// assert_eq!(keys, [5, 9]);
    /// ```
    pub fn range<Q, R>(&self, range: R) -> Range<'_, K, V>
    where
        R: RangeBounds<Q>,
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        Range {
            inner: self.ord_map().range(range),
        }
    }

    /// The entry with the smallest key. O(log n).
    pub fn first(&self) -> Option<(&K, &V)> {
        self.ord_map().get_min().map(|(k, v)| (k, v))
    }

    /// The entry with the largest key. O(log n).
    pub fn last(&self) -> Option<(&K, &V)> {
        self.ord_map().get_max().map(|(k, v)| (k, v))
    }

    /// The entry with the greatest key less than or equal to `key`.
    /// O(log n).
    pub fn floor<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.ord_map().get_prev(key)
    }
}

impl<K: SnapKey + Ord + Borrow<str>, V: SnapValue> Snapshot<K, V, Ordered> {
    /// Entries whose keys start with `prefix`, in key order.
    /// O(log n) to start, then O(1) amortized per entry.
    ///
    /// ```
    /// use snapmap::SnapOrdMap;
    ///
    /// let map: SnapOrdMap<String, u32> =
    ///     [("/api/a", 1), ("/api/b", 2), ("/apix", 3)].map(|(k, v)| (k.to_string(), v)).into_iter().collect();
    /// assert_eq!(map.load().prefix("/api/").count(), 2);
    /// ```
    pub fn prefix<'a>(&'a self, prefix: &'a str) -> Prefix<'a, K, V> {
        Prefix {
            inner: self
                .ord_map()
                .range::<_, str>((Bound::Included(prefix), Bound::Unbounded)),
            prefix,
            done: false,
        }
    }

    /// The entry whose key is the longest prefix of `query` (plain string
    /// prefix: `"/api"` matches `"/apix"`; see
    /// [`longest_segment_prefix`](Self::longest_segment_prefix) for
    /// separator-aware matching).
    ///
    /// Allocation-free. Cost: O(p × log n), where p is the number of probes:
    /// each probe takes the greatest key ≤ the query and, if it is not a
    /// prefix, cuts the query to their common prefix, so p is at most the
    /// number of distinct branch points between `query` and the keys (in
    /// practice 1 to 3), never more than the number of candidate lengths
    /// (`query`'s char boundaries).
    ///
    /// ```
    /// use snapmap::SnapOrdMap;
    ///
    /// let map: SnapOrdMap<String, &str> =
    ///     [("/", "root"), ("/api", "api"), ("/api/v1/users", "users")].map(|(k, v)| (k.to_string(), v)).into_iter().collect();
    /// let snap = map.load();
    /// assert_eq!(snap.longest_prefix("/api/v1/orders").map(|(_, v)| *v), Some("api"));
    /// assert_eq!(snap.longest_prefix("/static").map(|(_, v)| *v), Some("root"));
    /// ```
    pub fn longest_prefix(&self, query: &str) -> Option<(&K, &V)> {
        self.longest_prefix_where(query, |len| query.is_char_boundary(len))
    }

    /// The entry whose key is the longest prefix of `query` ending at a
    /// segment boundary: the key is all of `query`, or ends with
    /// `separator`, or is followed in `query` by `separator`. With `'/'`,
    /// `"/api"` matches `"/api"` and `"/api/x"` but not `"/apix"`. The empty
    /// key matches every query.
    ///
    /// Allocation-free. Cost: O(p × log n) with p at most the number of
    /// candidate lengths (the segment boundaries of `query`, plus 0 and
    /// its length): every probe that misses cuts the query back to an
    /// earlier boundary, so keys ending mid-segment cost no extra probes.
    pub fn longest_segment_prefix(&self, query: &str, separator: char) -> Option<(&K, &V)> {
        self.longest_prefix_where(query, |len| {
            query.is_char_boundary(len)
                && (len == 0
                    || len == query.len()
                    || query[..len].ends_with(separator)
                    || query[len..].starts_with(separator))
        })
    }

    /// The longest key that prefixes `query` and whose length passes
    /// `can_end` (which must accept 0 and only char boundaries).
    fn longest_prefix_where(
        &self,
        query: &str,
        can_end: impl Fn(usize) -> bool,
    ) -> Option<(&K, &V)> {
        let map = self.ord_map();
        let mut probe = query;
        loop {
            // Every key that is a prefix of `probe` sorts at or below it,
            // and no key between the longest such prefix and `probe` can be
            // a prefix: so the floor of `probe` is either the answer or
            // tells us how far to cut.
            let (key, value) = map.get_prev(probe)?;
            let k: &str = key.borrow();
            let mut cut = if probe.starts_with(k) {
                if can_end(k.len()) {
                    return Some((key, value));
                }
                k.len().checked_sub(1)?
            } else {
                common_prefix_len(k, probe)
            };
            // Only keys of an acceptable length can match: skip to one.
            while !can_end(cut) {
                cut -= 1;
            }
            probe = &probe[..cut];
        }
    }
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Iterator over a key range of an ordered snapshot.
pub struct Range<'a, K, V> {
    inner: imbl::ordmap::RangedIter<'a, K, V, Ptr>,
}

impl<'a, K: Ord, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<K: Ord, V> DoubleEndedIterator for Range<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back()
    }
}

impl<K, V> fmt::Debug for Range<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Range").finish_non_exhaustive()
    }
}

/// Iterator over the entries of an ordered snapshot whose keys start with a
/// prefix.
pub struct Prefix<'a, K, V> {
    inner: imbl::ordmap::RangedIter<'a, K, V, Ptr>,
    prefix: &'a str,
    done: bool,
}

impl<'a, K: Ord + Borrow<str>, V> Iterator for Prefix<'a, K, V> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (k, v) = self.inner.next()?;
        // Keys with the prefix are contiguous: the first one without it
        // ends the run.
        self.done = !k.borrow().starts_with(self.prefix);
        (!self.done).then_some((k, v))
    }
}

impl<K, V> fmt::Debug for Prefix<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefix")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
