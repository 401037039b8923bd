//! What every version of one map shares: its lineage (the commit log of
//! recently changed keys, and the "a version was freed" signal).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::grace::Reclaim;
use crate::sync::Mutex;
use crate::Version;

/// Shortest commit log kept, in commits, whatever the history length: long
/// enough for a subscriber that coalesced a burst of commits to diff
/// cheaply, and for read indexes to be carried across the commits made
/// while the background builder built a table.
const MIN_LOG_COMMITS: usize = 1024;

/// Most keys the log keeps across its commits (the newest commit is always
/// kept whole), so large commits do not pin many keys.
const LOG_KEYS: usize = 64 * 1024;

/// Shared by every version of one map (two versions belong to the same map
/// exactly when they share their lineage).
pub(crate) struct Lineage<K> {
    pub(crate) reclaim: Reclaim,
    pub(crate) log: Mutex<CommitLog<K>>,
}

impl<K> Lineage<K> {
    pub(crate) fn new(history: usize) -> Arc<Self> {
        Arc::new(Self {
            reclaim: Reclaim::new(),
            log: Mutex::new(CommitLog {
                commits: VecDeque::new(),
                keys: 0,
                max_commits: history.max(MIN_LOG_COMMITS),
            }),
        })
    }

    /// The keys changed by the commits that produced versions
    /// `from + 1 ..= to`, one slice per commit, or `None` when the log does
    /// not cover them all. Cost: O(commits in the range) under a short lock.
    pub(crate) fn keys_between(&self, from: Version, to: Version) -> Option<Vec<Arc<[K]>>> {
        let log = self.log.lock();
        let first = log.commits.front()?.0;
        let last = log.commits.back()?.0;
        if from >= to || from.get() + 1 < first.get() || to > last {
            return None;
        }
        let start = usize::try_from(from.get() + 1 - first.get()).ok()?;
        let end = usize::try_from(to.get() - first.get()).ok()?;
        log.commits
            .range(start..=end)
            .map(|(_, keys)| keys.clone())
            .collect()
    }
}

/// The keys each recent commit changed, newest last; versions are
/// consecutive (every publishing commit records exactly one entry, under
/// the writer lock).
pub(crate) struct CommitLog<K> {
    /// `None` when the commit replaced everything or changed too many keys
    /// to be worth recording; diffs and read indexes across it start over.
    commits: VecDeque<(Version, Option<Arc<[K]>>)>,
    keys: usize,
    max_commits: usize,
}

impl<K> CommitLog<K> {
    /// Appends one commit's keys. `window`: the most changed keys the
    /// caller may ask `keys_between` about (under `Background`, an
    /// overlay's bound: the builder's fresh table is rebased across the
    /// commits made while it folded, however many a large map's fold lets
    /// through); the log keeps that many commits and keys, if more than its
    /// own minimums.
    pub(crate) fn record(&mut self, version: Version, keys: Option<Arc<[K]>>, window: usize) {
        self.keys += keys.as_ref().map_or(0, |k| k.len());
        self.commits.push_back((version, keys));
        let (max_commits, max_keys) = (self.max_commits.max(window), LOG_KEYS.max(window));
        while self.commits.len() > 1 && (self.commits.len() > max_commits || self.keys > max_keys) {
            let (_, oldest) = self.commits.pop_front().expect("more than one commit");
            self.keys -= oldest.map_or(0, |k| k.len());
        }
    }
}
