//! A read-optimized snapshot map, RCU style.
//!
//! Readers atomically load an immutable version of the map and never block;
//! one serialized writer path copies on write (O(1) clone of a persistent
//! map, O(log n) per change) and publishes each commit as a new version.
//! It is Go's `atomic.Value` config pattern grown into a map: consistent
//! snapshots, atomic multi-key commits, versions, history, rollback, diffs,
//! validation, change notification and grace periods.
//!
//! # Contents
//!
//! - [Motivation](#motivation)
//! - [Quick start](#quick-start)
//! - [Guarantees](#guarantees)
//! - [Versions](#versions)
//! - [When not to use it](#when-not-to-use-it)
//! - [Performance](#performance)
//!
//! # Motivation
//!
//! The usual shared map is `RwLock<HashMap<K, V>>`. Every read takes the
//! lock, so readers on many cores contend on one cache line, a writer stalls
//! every reader, and a reader that needs several keys either holds the lock
//! across them or sees a mix of before and after. Swapping a whole
//! `Arc<HashMap>` (`ArcSwap`, Go's `atomic.Value`) fixes the reads but
//! copies the full map on every write.
//!
//! `snapmap` keeps the swap and drops the copy: the published value is a
//! persistent map (`imbl`), so a commit shares all untouched structure with
//! the previous version. Readers get an immutable [`Snapshot`]: every read
//! on it sees the same version, however long it is held.
//!
//! # Quick start
//!
//! ```
//! use snapmap::SnapMap;
//!
//! let routes: SnapMap<String, u32> = SnapMap::new();
//! routes.insert("a".to_string(), 1)?; // one key, one version
//!
//! let mut txn = routes.write(); // several keys, one version
//! txn.insert("b".to_string(), 2);
//! txn.insert("c".to_string(), 3);
//! txn.commit()?;
//!
//! let snap = routes.load(); // never blocks, never changes
//! assert_eq!(snap.get("b"), Some(&2));
//! assert_eq!((snap.len(), snap.version().get()), (3, 2));
//!
//! let mut reader = routes.reader(); // for hot loops: one atomic load per call
//! assert_eq!(reader.load().get("c"), Some(&3));
//! # Ok::<(), snapmap::CommitError>(())
//! ```
//!
//! # Guarantees
//!
//! - **A snapshot never changes.** Every read on a [`Snapshot`] sees one
//!   version, whatever commits happen meanwhile.
//! - **Commits are atomic.** A commit happens-before every `load` that
//!   returns its version or a later one; no reader ever sees part of a
//!   commit.
//! - **Versions only go up.** Each publishing commit adds one to the version
//!   number, rollbacks included; the versions one thread loads never go down.
//! - **Readers never block.** `load`, `get` and `Reader::load` take no lock
//!   and never wait for a writer, even one holding the writer lock.
//! - **Failures publish nothing.** A rejected, failed or panicking commit
//!   leaves the current version untouched; the map stays usable (no
//!   poisoning).
//!
//! # Versions
//!
//! Each map can validate candidates before publishing, keep a history to
//! roll back to, diff versions and wake subscribers:
//!
//! ```
//! use snapmap::{Change, SnapOrdMap};
//! use std::time::Duration;
//!
//! let config = SnapOrdMap::<String, u64>::builder()
//!     .history(8)
//!     .validator(|candidate| match candidate.get("http.timeout_ms") {
//!         Some(&ms) if ms > 0 => Ok(()),
//!         _ => Err("http.timeout_ms must be set and positive".into()),
//!     })
//!     .contents([("http.timeout_ms".to_string(), 500)])
//!     .build();
//! let mut sub = config.subscribe();
//!
//! let good = config.insert("http.timeout_ms".to_string(), 700)?;
//! let seen = sub.wait_timeout(Duration::from_secs(1)).expect("woken by the commit");
//! assert_eq!(seen.version(), good);
//! assert_eq!(
//!     seen.diff(&config.at(snapmap::Version::INITIAL).unwrap()),
//!     [Change::Updated("http.timeout_ms".to_string(), 500, 700)]
//! );
//!
//! // A bad reload is rejected; the last good version stays current.
//! let err = config.insert("http.timeout_ms".to_string(), 0).unwrap_err();
//! assert_eq!(err.current(), good);
//! assert_eq!(config.get("http.timeout_ms"), Some(700));
//!
//! // Roll back: a new version with the old contents.
//! let rolled = config.rollback_to(snapmap::Version::INITIAL)?;
//! assert!(rolled > good);
//! assert_eq!(config.get("http.timeout_ms"), Some(500));
//! # Ok::<(), snapmap::CommitError>(())
//! ```
//!
//! # When not to use it
//!
//! - **Write-heavy maps.** Every commit allocates a new path through the
//!   persistent map and publishes a version; under many small writes a
//!   sharded or lock-free map (dashmap, papaya) is faster. Batch writes into
//!   one transaction where you can.
//! - **Huge values cloned per write.** Copy-on-write clones values in the
//!   nodes it copies; store `Arc<T>` for large values.
//! - **Memory held by long-lived snapshots.** A snapshot (or an idle
//!   [`Reader`]) keeps its whole version alive. Drop them, or bound them
//!   with `max_live_versions`.
//!
//! # Performance
//!
//! Reads go through a per-version flat hash index once one is built
//! ([`ReadIndex`]), so they run at hash-table speed while writes stay
//! O(log n). Measurements against RwLock, dashmap, papaya, scc and evmap
//! are in `BENCHMARKS.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod backend;
mod builder;
#[cfg(doctest)]
mod compile_fail_tests;
/// The README's examples are tested too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
mod core;
mod derived;
mod diff;
mod error;
mod grace;
mod history;
mod index;
mod indexer;
mod map;
mod notify;
mod ord;
mod published;
mod reader;
mod snapshot;
mod stats;
mod sync;
mod txn;
mod version;

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "ip")]
pub mod route;

pub use crate::backend::{Backend, DefaultHashBuilder, Lookup, Ordered};
pub use crate::builder::{Builder, IntoValidator, NoValidator};
pub use crate::diff::Change;
pub use crate::error::{BoxError, CommitError};
pub use crate::index::{IndexStats, ReadIndex};
pub use crate::map::{SnapMap, SnapOrdMap};
pub use crate::notify::{Changed, Subscriber};
pub use crate::ord::{Prefix, Range};
pub use crate::published::{SnapKey, SnapValue};
pub use crate::reader::Reader;
pub use crate::snapshot::{Iter, Keys, Snapshot, Values};
pub use crate::stats::Stats;
pub use crate::txn::WriteTxn;
pub use crate::version::Version;
