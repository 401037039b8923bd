//! Counters and gauges: `map.stats()`.

use std::time::SystemTime;

use crate::index::IndexStats;
use crate::Version;

/// A point-in-time report on a map: `map.stats()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// The current version.
    pub version: Version,
    /// Entries in the current version.
    pub len: usize,
    /// Commits that published a version (including `replace_all` and
    /// `rollback_to`).
    pub commits: u64,
    /// Commits that published nothing because of an error: a validator's
    /// rejection, a panic in user code, the live-version cap, a rollback to a
    /// version no longer kept.
    pub rejected: u64,
    /// Published versions still in memory as their own objects: the current
    /// one plus old ones held by snapshots and readers. Versions kept only
    /// by `history` are counted in `history_len` instead.
    pub live_versions: usize,
    /// Versions the history keeps (the current one included).
    pub history_len: usize,
    /// Live [`Subscriber`](crate::Subscriber)s.
    pub subscribers: usize,
    /// When the current version was published.
    pub last_commit_at: SystemTime,
    /// The message of the last failed commit or background index build.
    pub last_error: Option<String>,
    /// The current version's read index, if it has been built.
    pub read_index: Option<IndexStats>,
    /// Whether the background read-index builder thread is running.
    pub index_builder_running: bool,
}
