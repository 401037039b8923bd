//! `ConfigStore::builder()`: sources, validation and watch settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::error::ConfigError;
use crate::config::hash::content_hash;
use crate::config::parse::{defaults_document, parse_document, Format};
use crate::config::snapshot::{ConfigSnapshot, RawSnapshot};
use crate::config::source::{merge, Document, EnvSource, FileSource, Origin, Sources};
use crate::config::store::ConfigStore;
use crate::config::watch::WatchSettings;
use crate::{BoxError, SnapOrdMap};

/// A validator of candidate configs.
type Validate = Arc<dyn Fn(&ConfigSnapshot) -> Result<(), BoxError> + Send + Sync + 'static>;

/// Default [`ConfigBuilder::max_file_size`]: 8 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 << 20;

/// Default [`ConfigBuilder::history`].
pub const DEFAULT_HISTORY: usize = 16;

/// Options for a [`ConfigStore`]: `ConfigStore::builder()`.
///
/// Sources are layered in a fixed order, each later layer overriding the
/// earlier ones key by key (tables merge; anything else replaces):
///
/// 1. built-in [`defaults`](Self::defaults) (in call order),
/// 2. [`file`](Self::file)s, in call order,
/// 3. [`env`](Self::env)ironment overrides, in call order.
///
/// ```
/// use snapmap::config::{ConfigStore, EnvSource, FileSource};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("app.toml");
/// std::fs::write(&path, "[http]\ntimeout_ms = 700\n")?;
///
/// let store = ConfigStore::builder()
///     .defaults(serde_json::json!({ "http": { "timeout_ms": 500, "retries": 3 } }))
///     .file(&path)
///     .file(FileSource::new(dir.path().join("local.toml")).optional())
///     .env(EnvSource::new("APP").vars([("APP__HTTP__RETRIES", "5")]))
///     .validator(|candidate| match candidate.get::<u64>("http.timeout_ms")? {
///         0 => Err("http.timeout_ms must be positive".into()),
///         _ => Ok(()),
///     })
///     .debounce(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(store.get::<u64>("http.timeout_ms")?, 700); // the file wins over defaults
/// assert_eq!(store.get::<u32>("http.retries")?, 5); // the environment wins over both
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct ConfigBuilder {
    defaults: Result<Option<Document>, ConfigError>,
    files: Vec<FileSource>,
    env: Vec<EnvSource>,
    validators: Vec<Validate>,
    history: usize,
    max_file_size: u64,
    watch: WatchSettings,
}

impl ConfigBuilder {
    pub(crate) fn new() -> Self {
        Self {
            defaults: Ok(None),
            files: Vec::new(),
            env: Vec::new(),
            validators: Vec::new(),
            history: DEFAULT_HISTORY,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            watch: WatchSettings::default(),
        }
    }

    /// Built-in defaults: anything that serializes to a table (a struct, a
    /// map, a `serde_json::Value` object). Later calls layer over earlier
    /// ones. A value that does not serialize to a table makes
    /// [`build`](Self::build) fail with [`ConfigError::Shape`].
    ///
    /// # Panics
    ///
    /// If `defaults`' `Serialize` implementation panics (at this call).
    pub fn defaults(mut self, defaults: impl Serialize) -> Self {
        let doc = serde_json::to_value(defaults)
            .map_err(|error| ConfigError::Shape {
                origin: Origin::Defaults,
                message: format!("cannot be serialized: {error}"),
                kept: None,
            })
            .and_then(defaults_document);
        self.add_defaults(doc);
        self
    }

    /// Built-in defaults from a TOML or JSON document (e.g. an
    /// `include_str!` of a shipped default file). A parse error makes
    /// [`build`](Self::build) fail.
    pub fn defaults_text(mut self, format: Format, text: &str) -> Self {
        let doc = parse_document(&Origin::Defaults, format, text);
        self.add_defaults(doc);
        self
    }

    fn add_defaults(&mut self, doc: Result<Document, ConfigError>) {
        self.defaults = match (std::mem::replace(&mut self.defaults, Ok(None)), doc) {
            (Err(error), _) | (_, Err(error)) => Err(error),
            (Ok(None), Ok(doc)) => Ok(Some(doc)),
            (Ok(Some(mut base)), Ok(doc)) => {
                merge(&mut base, doc);
                Ok(Some(base))
            }
        };
    }

    /// A config file: a path (format from its extension, required) or a
    /// [`FileSource`] (stated format, optional). Files layer over the
    /// defaults and over earlier files.
    pub fn file(mut self, file: impl Into<FileSource>) -> Self {
        self.files.push(file.into());
        self
    }

    /// Environment overrides: a prefix (`"APP"`) or an [`EnvSource`]. They
    /// layer over defaults and files.
    pub fn env(mut self, env: impl Into<EnvSource>) -> Self {
        self.env.push(env.into());
        self
    }

    /// Checks every candidate before it is published: the initial load,
    /// every reload and every rollback. `Err` refuses it with
    /// [`ConfigError::Rejected`] carrying the reason, and the current
    /// version stays. Several validators run in the order they were added;
    /// the first `Err` wins.
    ///
    /// The validator runs on the writer path with the store's reload lock
    /// held: it must not call `reload` or `rollback_to` on the same store
    /// (that would deadlock).
    ///
    /// # Panics
    ///
    /// A panicking validator refuses the candidate
    /// ([`ConfigError::ValidatorPanicked`]): nothing is published, the
    /// current version stays, and a watcher keeps running.
    pub fn validator<F>(mut self, validator: F) -> Self
    where
        F: Fn(&ConfigSnapshot) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.validators.push(Arc::new(validator));
        self
    }

    /// A validator that refuses every candidate whose whole document does
    /// not deserialize into `T`: a type check of the config against the
    /// struct the service reads it into, before it is published. The
    /// rejection names the key, the expected type and what was found.
    ///
    /// # Panics
    ///
    /// As for [`validator`](Self::validator), if `T`'s `Deserialize`
    /// panics.
    pub fn schema<T: DeserializeOwned + 'static>(self) -> Self {
        self.validator(|candidate| {
            candidate.extract::<T>("")?;
            Ok(())
        })
    }

    /// Keep the last `n` versions reachable through `history`, `at` and
    /// `rollback_to` (default 16; at least 1).
    pub fn history(mut self, n: usize) -> Self {
        self.history = n.max(1);
        self
    }

    /// The largest file the store reads, in bytes (default 8 MiB). A larger
    /// file fails the load with [`ConfigError::FileTooLarge`] without being
    /// read.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// How long the watcher waits for files to go quiet before reading
    /// them (default 100 ms); see [`ConfigStore::watch`].
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.watch.debounce = quiet;
        self
    }

    /// How often the watcher re-reads the files whatever the file events
    /// say (default every 2 s; `None` turns polling off). It is the
    /// fallback for filesystems that report no events (NFS, some container
    /// mounts) and for events lost under load.
    pub fn poll_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.watch.poll_interval = interval.into().filter(|d| !d.is_zero());
        self
    }

    /// Whether the watcher listens to file events (default `true`). Turn it
    /// off where events are known not to work, to rely on polling alone.
    pub fn file_events(mut self, on: bool) -> Self {
        self.watch.file_events = on;
        self
    }

    /// Loads every source, validates the result and builds the store; its
    /// first version (0) is the loaded config, labelled with its content
    /// hash.
    ///
    /// Fails, publishing nothing, if a defaults document is invalid, a
    /// file's format cannot be told, a required file is missing or
    /// unreadable, a document is invalid, or the validator refuses.
    ///
    /// # Panics
    ///
    /// A panicking validator fails the build with
    /// [`ConfigError::ValidatorPanicked`]; it does not propagate.
    pub fn build(self) -> Result<ConfigStore, ConfigError> {
        let defaults = self.defaults?;
        let files = self
            .files
            .into_iter()
            .map(|file| {
                let format = file.resolved_format()?;
                Ok((file, format))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let sources = Sources {
            defaults,
            files,
            env: self.env,
            max_file_size: self.max_file_size,
        };
        let reads = sources.read_files();
        let fingerprint = Sources::fingerprint(&reads);
        let entries = sources.layer(reads)?;
        let hash = content_hash(&entries);
        let validators: Arc<[Validate]> = self.validators.into();
        let map = SnapOrdMap::builder()
            .history(self.history)
            .validator(core_validator(validators))
            .contents(entries)
            .label(hash)
            .try_build()
            .map_err(|error| ConfigError::from_commit(error, None))?;
        Ok(ConfigStore::new(map, sources, fingerprint, self.watch))
    }
}

/// The core map's validator: runs the config validators on a
/// [`ConfigSnapshot`] of the candidate.
fn core_validator(
    validators: Arc<[Validate]>,
) -> impl Fn(&RawSnapshot) -> Result<(), BoxError> + Send + Sync + 'static {
    move |candidate| {
        let candidate = ConfigSnapshot::from(candidate.clone());
        validators
            .iter()
            .try_for_each(|validate| validate(&candidate))
    }
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("files", &self.files)
            .field("env", &self.env)
            .field("validators", &self.validators.len())
            .field("history", &self.history)
            .field("max_file_size", &self.max_file_size)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}
