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
//! Each promise names the tests that prove it (in the repository's
//! `tests/` directory; loom models run with `RUSTFLAGS="--cfg loom"`).
//!
//! - **A snapshot never changes.** Every read on a [`Snapshot`] sees one
//!   version, whatever commits happen meanwhile. *Proved by* `model.rs`
//!   (every snapshot re-checked against its oracle state at the end) and
//!   `stress.rs` (held snapshots re-fingerprinted while the writer runs).
//! - **Commits are atomic.** A commit happens-before every `load` that
//!   returns its version or a later one; no reader ever sees part of a
//!   commit. *Proved by* `concurrency.rs`, `stress.rs` and
//!   `loom.rs::publish_is_atomic_and_monotonic`.
//! - **Versions only go up.** Each publishing commit adds one to the version
//!   number, rollbacks included; the versions one thread sees never go
//!   down, across `load` and `Reader`. *Proved by* `model.rs`, `stress.rs`,
//!   `loom.rs::publish_is_atomic_and_monotonic`.
//! - **Readers never block.** `load`, `get` and `Reader::load` take no lock
//!   and never wait for a writer, even one holding the writer lock. *Proved
//!   by* `api.rs::reads_do_not_wait_for_an_open_transaction` and
//!   `concurrency.rs::reads_are_never_blocked_by_an_open_transaction`.
//! - **Writers never lose an update.** *Proved by*
//!   `api.rs::writers_are_serialized_across_threads` and
//!   `loom.rs::writers_are_serialized`.
//! - **Failures publish nothing.** A rejected, failed or panicking commit
//!   leaves the current version untouched and the map usable (no
//!   poisoning); the error says which version stays current. *Proved by*
//!   `versions.rs` and `panics.rs` (panics in the `update` closure, the
//!   validator, a value's `Clone`, a key's `Hash` and `Ord`, a value's
//!   `Drop`).
//! - **Subscribers see every change, in order or coalesced.** *Proved by*
//!   `stress.rs`, `versions.rs` and
//!   `loom.rs::subscriber_is_never_left_sleeping`.
//! - **Grace periods are exact.** [`SnapMap::synchronize`] returns once no
//!   snapshot older than the version current at the call is alive, and not
//!   before. *Proved by* `versions.rs::synchronize_*` and
//!   `loom.rs::synchronize_sees_the_last_old_snapshot_go`.
//! - **No leak, no double drop.** Every key and value is dropped exactly
//!   once, also while versions retire concurrently. *Proved by* `drops.rs`.
//! - **Bounded memory.** Old versions are freed when their last snapshot or
//!   reader lets go; `max_live_versions` caps how many stay alive. *Proved
//!   by* `memory.rs` and `loom.rs::live_version_cap_waits_for_the_holder`.
//! - **Read indexes are exact.** Lookups through a version's read index
//!   answer what its persistent map answers. *Proved by* `model.rs` (under
//!   every policy) and
//!   `index.rs::readers_never_see_an_index_that_disagrees_with_its_version`.
//! - **Compile-time:** a [`WriteTxn`] cannot cross threads, snapshots can,
//!   and a snapshot cannot be mutated (compile-fail doctests).
//!
//! //! # Versions
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
//! ## `history` + `rollback_to` versus keeping your own copies
//!
//! Keeping old snapshots yourself works, but every held snapshot keeps its
//! version alive as a live version (counted by `stats().live_versions`,
//! waited for by `synchronize`, capped by `max_live_versions`). The history
//! ring keeps only the versions' contents, shared structurally between
//! them, outside those counts; `rollback_to` republishes one as a new
//! version through the validator, so subscribers and diffs see the
//! rollback like any other commit.
//!
//! ## `load` versus `Reader`
//!
//! [`SnapMap::load`] returns an owned snapshot for a few atomic operations
//! and never touches a shared reference count; [`Reader::load`] costs one
//! relaxed atomic load when nothing changed but needs `&mut self` and keeps
//! its version alive until the next call. Use `load` for occasional reads
//! and snapshots you keep, one `Reader` per thread for hot loops.
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
//! A persistent map costs several dependent cache misses per lookup, so
//! each version also gets a derived read index ([`ReadIndex`]): a flat hash
//! table shared between versions plus an append-only overlay of the
//! changes made since it was built, derived at commit in O(changed keys)
//! and folded into a fresh table off the commit path by a builder thread
//! the map owns. A
//! `Reader` lookup is then one relaxed atomic load and one flat-table
//! probe, while commits stay O(log n). Measured here on 2 cores (49k
//! random `u64` keys, 2 threads, read-only): 6x
//! `parking_lot::RwLock<HashMap>` and 1.5x the fastest peer (scc
//! `HashIndex`). Where snapmap loses — steady streams of single-key
//! commits, where in-place maps are 2–5x faster — `BENCHMARKS.md` says so
//! with the numbers; batch writes into one transaction there.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod backend;
mod builder;
mod changelog;
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
mod overlay;
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
