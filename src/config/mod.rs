//! A hot-reloadable config store (feature `config`): typed reads of
//! immutable versions, layered sources, validate-then-publish with the last
//! good version kept, and a file watcher that survives real editors and
//! Kubernetes.
//!
//! # Contents
//!
//! - [Motivation](#motivation)
//! - [Quick start](#quick-start)
//! - [Keys and layers](#keys-and-layers)
//! - [Reloads](#reloads)
//! - [Watching files](#watching-files)
//! - [Versions and content hashes](#versions-and-content-hashes)
//! - [Limits](#limits)
//!
//! # Motivation
//!
//! The usual Rust service holds its config in an `ArcSwap<Config>` and
//! reloads it from a `notify` watch on the file. Its known failures are
//! the ones users hit: an editor that saves by writing a temporary file and
//! renaming it over the original kills a watch on the file; a Kubernetes
//! ConfigMap updates by swapping a `..data` symlink, so the file itself
//! never changes; a half-written file gets parsed; a bad edit crashes the
//! service, or silently empties a key.
//!
//! [`ConfigStore`] does it this way:
//!
//! - It watches the file's **directory**, not the file, and follows
//!   symlink chains, so rename-saves, delete-and-recreate and `..data`
//!   swaps are all seen; a **polling** fallback covers filesystems without
//!   events.
//! - It **debounces** events and loads the files only once they read the
//!   same twice in a row, a quiet period apart; it decides by **content
//!   hash**, never by modification time.
//! - A file is **read fully, then parsed**; an empty file is an error, not
//!   an empty config; a file over the **size limit** is refused before it
//!   is read.
//! - A candidate is **validated** (your checks, and optionally a type check
//!   against your config struct) before it is published. On any failure
//!   the **last good version stays current**, the error is recorded and
//!   names the file and the version kept, and the watcher keeps going.
//!
//! Readers never block: the store is a [`SnapOrdMap`](crate::SnapOrdMap)
//! of dotted keys to `serde_json::Value`s, and every read is of one
//! immutable version.
//!
//! # Quick start
//!
//! ```
//! use serde::Deserialize;
//! use snapmap::config::ConfigStore;
//! use std::time::Duration;
//!
//! #[derive(Deserialize)]
//! struct Http {
//!     timeout_ms: u64,
//!     hosts: Vec<String>,
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.toml");
//! std::fs::write(&path, "[http]\ntimeout_ms = 500\nhosts = [\"a\", \"b\"]\n")?;
//!
//! let store = ConfigStore::builder()
//!     .file(&path)
//!     .env("APP") // APP__HTTP__TIMEOUT_MS=700 overrides http.timeout_ms
//!     .validator(|candidate| match candidate.get::<u64>("http.timeout_ms")? {
//!         1..=60_000 => Ok(()),
//!         ms => Err(format!("http.timeout_ms = {ms} is out of range").into()),
//!     })
//!     .build()?;
//!
//! let http: Http = store.extract("http")?; // a table into a struct
//! assert_eq!((http.timeout_ms, http.hosts.len()), (500, 2));
//!
//! // A bad edit is refused; the last good version keeps serving.
//! std::fs::write(&path, "[http]\ntimeout_ms = 0\nhosts = []\n")?;
//! let error = store.reload().unwrap_err();
//! assert!(error.to_string().contains("version 0 stays current"), "{error}");
//! assert_eq!(store.get::<u64>("http.timeout_ms")?, 500);
//!
//! // A good edit is published as a new version, and subscribers are woken.
//! let mut changes = store.subscribe();
//! std::fs::write(&path, "[http]\ntimeout_ms = 900\nhosts = [\"a\"]\n")?;
//! let v1 = store.reload()?;
//! assert_eq!(changes.wait_timeout(Duration::from_secs(1)).map(|s| s.version()), Some(v1));
//!
//! // In a service: let a watcher reload on change until the guard drops.
//! let _watcher = store.watch()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keys and layers
//!
//! Nested tables are flattened into dotted keys: `[http] timeout_ms = 500`
//! is the entry `http.timeout_ms`. Scalars and arrays (arrays of tables
//! too) are values; an empty table is kept as `{}`. A table is reachable by
//! its prefix: `extract::<Http>("http")`, or `extract::<Value>("")` for the
//! whole document. Keys that are empty or contain `.` cannot be expressed
//! and make a document invalid.
//!
//! Sources layer in a fixed order, later ones overriding earlier ones key
//! by key (tables merge, anything else replaces):
//! built-in [defaults](ConfigBuilder::defaults) (a serializable struct or a
//! document), then [files](ConfigBuilder::file) in order (TOML or JSON, by
//! extension or stated), then [environment](EnvSource) overrides
//! (`APP__HTTP__TIMEOUT_MS=700` → `http.timeout_ms = 700`).
//!
//! Typed reads ([`ConfigSnapshot::get`], [`extract`](ConfigSnapshot::extract))
//! deserialize with serde; their errors name the key (down to the field
//! and array index), what the type expected and what was found:
//! `config key "http.servers[1].port": expected u16, found string "x"`.
//! Read several keys from one [`snapshot`](ConfigStore::snapshot) when
//! they must agree with each other.
//!
//! # Reloads
//!
//! [`ConfigStore::reload`] reads every source, layers, validates the
//! candidate (the [validators](ConfigBuilder::validator) run on a
//! [`ConfigSnapshot`] of it), and publishes it as a new version only if its
//! content differs from the current one; the commit contains just the keys
//! that changed, so [`diff`](ConfigSnapshot::diff)s are exact. If anything
//! fails — a missing or unreadable file, invalid UTF-8, TOML or JSON, an
//! empty file, a file over the limit, a refused or panicking validator —
//! nothing is published, the error says what happened and which version
//! stays current, and it is recorded ([`ConfigStore::last_error`],
//! [`ConfigStats`]'s `rejected` and `stale`). At startup,
//! [`ConfigBuilder::build`] fails the same way instead.
//!
//! # Watching files
//!
//! [`ConfigStore::watch`] starts a thread named `snapmap-config` that
//! stops when its [`WatchGuard`] drops. It watches each file's parent
//! directory (and the directories along its symlink chain) with `notify`,
//! filtered by name, so it sees every way a file gets replaced:
//!
//! | how the file changes | what the watcher sees |
//! | --- | --- |
//! | rename-save (vim, VS Code, `mv tmp app.toml`) | a rename onto the watched name |
//! | truncate and write in place (`echo > app.toml`) | modify / close-write events |
//! | delete, then recreate | remove (the load fails: last good kept), then create |
//! | Kubernetes ConfigMap update (`..data` symlink swap) | a rename onto `..data`, a name on the file's symlink chain |
//! | filesystem without events (NFS, some mounts) | nothing: polling every 2 s finds it |
//!
//! Events start a [debounce](ConfigBuilder::debounce) (100 ms by default):
//! the files are read once no event has come for that long, and loaded
//! only when they read the same as one debounce earlier, so a burst of
//! writes becomes one reload of the final content. Opening and reading
//! files is ignored. Polling ([`poll_interval`](ConfigBuilder::poll_interval))
//! re-reads the files and compares content hashes. A reload that fails is
//! recorded and the watcher waits for the next change; nothing stops it
//! but its guard.
//!
//! Writing by rename is atomic. An in-place write is not: a reader can
//! catch the file half-written. The quiet period makes that unlikely, an
//! empty file is refused, and a JSON prefix never parses, but a prefix of
//! a TOML file can be valid TOML. Write by rename (or validate that the
//! keys you need are there) where it matters.
//!
//! # Versions and content hashes
//!
//! Each version is labelled with the hash of its content:
//! `fnv1a64:` and 16 hex digits, a 64-bit FNV-1a over a canonical
//! encoding of the flattened entries (keys in order, values tagged by
//! kind, table keys sorted). It is stable across processes, platforms and
//! Rust versions ([`ConfigSnapshot::content_hash`]), so it can be logged
//! and compared between replicas. A reload whose content hashes to the
//! current label publishes nothing. [`ConfigStore::history`],
//! [`at`](ConfigStore::at) and [`rollback_to`](ConfigStore::rollback_to)
//! work on the last 16 versions by default.
//!
//! # Limits
//!
//! - Files over 8 MiB ([`max_file_size`](ConfigBuilder::max_file_size))
//!   are refused, checked from the metadata before reading and again while
//!   reading.
//! - Environment overrides set scalars only, and lowercase key segments:
//!   keys with capitals cannot be overridden from the environment.
//! - Where a string is expected, a number or boolean is accepted (so that
//!   `APP__NAME=123` fills a `String`); no other conversions are made.

mod builder;
mod error;
mod flatten;
mod hash;
mod parse;
mod snapshot;
mod source;
mod store;
mod typed;
mod watch;

pub use self::builder::{ConfigBuilder, DEFAULT_HISTORY, DEFAULT_MAX_FILE_SIZE};
pub use self::error::ConfigError;
pub use self::parse::Format;
pub use self::snapshot::{ConfigSnapshot, RawSnapshot};
pub use self::source::{EnvSource, FileSource, Origin};
pub use self::store::{ConfigStats, ConfigStore};
pub use self::watch::{WatchGuard, DEFAULT_DEBOUNCE, DEFAULT_POLL_INTERVAL, WATCH_THREAD_NAME};
