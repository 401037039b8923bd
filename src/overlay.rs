//! The overlay of read views: the changes committed since a flat table was
//! built, in one append-only hash table shared by every view derived from
//! that table.
//!
//! Versions derived from one table form a chain (each commit extends the
//! current version's view), so one log serves them all: an entry carries the
//! generation of the view that appended it, and a view sees the entries of
//! its own generation and older. Appending is O(1) per changed key and a
//! view costs O(1) to derive; a persistent overlay map cost a path copy per
//! commit and a tree walk per lookup.
//!
//! Entries sit in `OnceLock` slots (open addressing, linear probing): a slot
//! is written once and never moved, so readers need no lock. The writer of
//! generation `g + 1` claims the log by moving its head from `g`; a chain
//! that fails halfway (a panic, a rejected commit) leaves the head moved, so
//! no second chain can ever share the log and mix its entries in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Entries one key may have in a log: a lookup of a key scans all of its
/// entries (they lie along its probe run), so a hot key rewritten by every
/// commit would make its own lookups, and those of keys probing past it,
/// slower and slower. Past this many the log refuses the key (a fold is
/// due, as for a full log).
pub(crate) const MAX_REWRITES: usize = 1024;

/// Entries of one key past which a view counts as crowded: the builder is
/// asked to fold at once, well before [`MAX_REWRITES`] is reached.
const CROWDED: usize = 32;

/// One change: `value` is `None` for a removed key.
pub(crate) struct Entry<K, V> {
    pub(crate) hash: u64,
    generation: u64,
    pub(crate) key: K,
    pub(crate) value: Option<V>,
}

/// Open-addressed slots, each written at most once.
type Slots<K, V> = Box<[OnceLock<Entry<K, V>>]>;

pub(crate) struct ChangeLog<K, V> {
    /// Allocated at the first append, or by a fold (commits are coming):
    /// tables of quiet maps never pay for it.
    slots: OnceLock<Slots<K, V>>,
    capacity: usize,
    /// Entries the log accepts; below `capacity`, so every probe ends at an
    /// empty slot within a few steps.
    limit: usize,
    /// The generation of the newest view appended to (or appending).
    head: AtomicU64,
}

/// Where a view stands in its table's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) generation: u64,
    /// Entries appended up to this generation.
    pub(crate) entries: usize,
    /// Distinct keys among them.
    pub(crate) keys: usize,
    /// Some key has more than [`CROWDED`] entries.
    pub(crate) crowded: bool,
}

/// Appends one view's changes; obtained by claiming the log's head.
pub(crate) struct Appender<'a, K, V> {
    log: &'a ChangeLog<K, V>,
    slots: &'a [OnceLock<Entry<K, V>>],
    at: Position,
}

impl<K, V> ChangeLog<K, V> {
    /// A log holding up to `limit` entries, at most 3/4 full.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            slots: OnceLock::new(),
            capacity: (limit + limit / 3 + 1).next_power_of_two(),
            limit,
            head: AtomicU64::new(0),
        }
    }

    /// The newest entry for the key (by hash and `is_key`) visible to a view
    /// at `generation`, if it changed since the table was built.
    #[inline]
    pub(crate) fn find(
        &self,
        hash: u64,
        generation: u64,
        is_key: impl Fn(&K) -> bool,
    ) -> Option<&Entry<K, V>> {
        let slots = self.slots.get()?;
        let mask = slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut found = None;
        // Entries for one key lie along its probe sequence in the order
        // they were appended, which is generation order.
        while let Some(entry) = slots[i].get() {
            if entry.hash == hash && is_key(&entry.key) {
                if entry.generation > generation {
                    break;
                }
                found = Some(entry);
            }
            i = (i + 1) & mask;
        }
        found
    }

    /// Every entry visible at `generation`, oldest generation first: applied
    /// in this order, the newest change to each key wins.
    pub(crate) fn changes_up_to(&self, generation: u64) -> Vec<&Entry<K, V>> {
        let slots = self.slots.get().map_or(&[][..], |s| &s[..]);
        let mut changes: Vec<_> = slots
            .iter()
            .filter_map(OnceLock::get)
            .filter(|e| e.generation <= generation)
            .collect();
        changes.sort_by_key(|e| e.generation);
        changes
    }

    /// Claims the log for the view after `from`; `None` if another view
    /// already extended `from` (or a failed one did): views must form one
    /// chain.
    pub(crate) fn append_after(&self, from: Position) -> Option<Appender<'_, K, V>> {
        let next = from.generation + 1;
        self.head
            .compare_exchange(from.generation, next, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        let slots = self.reserve();
        Some(Appender {
            log: self,
            slots,
            at: Position {
                generation: next,
                ..from
            },
        })
    }

    /// The slots, allocated now if they were not yet.
    pub(crate) fn reserve(&self) -> &[OnceLock<Entry<K, V>>] {
        self.slots
            .get_or_init(|| (0..self.capacity).map(|_| OnceLock::new()).collect())
    }

    /// The generation of the newest view appended to (or appending).
    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Approximate bytes of the slots, if allocated.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.slots.get().map_or(0, |s| {
            s.len() * std::mem::size_of::<OnceLock<Entry<K, V>>>()
        })
    }
}

impl<K: Eq, V> Appender<'_, K, V> {
    /// Records the key's new value (`None`: removed), once per view: a
    /// key pushed twice keeps its first entry (both come from the view's
    /// map). `false` if the log is full, or holds [`MAX_REWRITES`] entries of the key already (the view
    /// cannot be derived; a full build is due).
    pub(crate) fn push(&mut self, hash: u64, key: K, value: Option<V>) -> bool {
        if self.at.entries == self.log.limit {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut entry = Entry {
            hash,
            generation: self.at.generation,
            key,
            value,
        };
        let mut seen = 0;
        loop {
            match self.slots[i].get() {
                Some(old) if old.hash == hash && old.key == entry.key => {
                    // One view's changes are read from its own map: a key
                    // it has already recorded (rebasing across several
                    // commits that rewrote it) has that value already.
                    if old.generation == self.at.generation {
                        return true;
                    }
                    seen += 1;
                    if seen == MAX_REWRITES {
                        return false;
                    }
                }
                Some(_) => {}
                // Only the appender that claimed the head writes slots.
                None => match self.slots[i].set(entry) {
                    Ok(()) => break,
                    Err(back) => entry = back,
                },
            }
            i = (i + 1) & mask;
        }
        self.at.entries += 1;
        self.at.keys += usize::from(seen == 0);
        self.at.crowded |= seen >= CROWDED;
        true
    }

    /// The position of the view these changes make.
    pub(crate) fn finish(self) -> Position {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key hashes alike: one probe run holds them all, interleaved.
    const HASH: u64 = 5;

    fn append(
        log: &ChangeLog<u32, u32>,
        from: Position,
        changes: &[(u32, Option<u32>)],
    ) -> Position {
        let mut appender = log.append_after(from).expect("the head");
        for &(k, v) in changes {
            assert!(appender.push(HASH, k, v));
        }
        appender.finish()
    }

    fn value(log: &ChangeLog<u32, u32>, at: Position, key: u32) -> Option<Option<u32>> {
        log.find(HASH, at.generation, |k| *k == key)
            .map(|e| e.value)
    }

    #[test]
    fn a_view_sees_its_own_generation_and_older_only() {
        let log = ChangeLog::new(16);
        let g0 = Position::default();
        let g1 = append(&log, g0, &[(1, Some(10)), (2, Some(20))]);
        let g2 = append(&log, g1, &[(1, None), (3, Some(30))]);
        let g3 = append(&log, g2, &[(1, Some(12)), (1, Some(12))]);
        assert_eq!((value(&log, g0, 1), value(&log, g0, 2)), (None, None));
        assert_eq!(value(&log, g1, 1), Some(Some(10)));
        assert_eq!(value(&log, g2, 1), Some(None), "removed at g2");
        assert_eq!(value(&log, g3, 1), Some(Some(12)));
        assert_eq!(
            (value(&log, g1, 3), value(&log, g3, 3)),
            (None, Some(Some(30)))
        );
        assert_eq!(value(&log, g3, 2), Some(Some(20)), "unchanged since g1");
        assert_eq!(value(&log, g3, 4), None, "never changed");
        assert_eq!(
            (g3.entries, g3.keys),
            (5, 3),
            "a key pushed twice in one view counts once"
        );
    }

    #[test]
    fn views_form_one_chain() {
        let log = ChangeLog::<u32, u32>::new(16);
        let g0 = Position::default();
        let g1 = append(&log, g0, &[(1, Some(1))]);
        assert!(log.append_after(g0).is_none(), "g0 was extended already");
        // A derivation that fails halfway leaves the log to no one else.
        let mut failed = log.append_after(g1).unwrap();
        assert!(failed.push(HASH, 2, Some(2)));
        assert!(log.append_after(g1).is_none());
        assert_eq!(value(&log, g1, 2), None, "the failed entry is not g1's");
    }

    #[test]
    fn a_hot_key_is_refused_after_max_rewrites_and_marks_the_view_crowded() {
        let log = ChangeLog::<u32, u32>::new(2 * MAX_REWRITES + 2);
        let mut at = Position::default();
        for n in 0..MAX_REWRITES as u32 {
            at = append(&log, at, &[(7, Some(n)), (n + 100, Some(n))]);
            assert_eq!(
                at.crowded,
                n as usize >= CROWDED,
                "{} entries of key 7",
                n + 1
            );
        }
        assert_eq!(value(&log, at, 7), Some(Some(MAX_REWRITES as u32 - 1)));
        let mut full = log.append_after(at).unwrap();
        assert!(full.push(HASH, 1, Some(1)), "other keys still fit");
        assert!(!full.push(HASH, 7, Some(0)), "the hot key does not");
    }

    #[test]
    fn a_full_log_refuses_more() {
        let log = ChangeLog::<u32, u32>::new(3);
        let mut appender = log.append_after(Position::default()).unwrap();
        assert!((0..3).all(|k| appender.push(HASH, k, Some(k))));
        assert!(!appender.push(HASH, 9, Some(9)));
        assert!(log.capacity > 3);
    }
}
