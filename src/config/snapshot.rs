//! `ConfigSnapshot`: one published config version, read with types.

use std::fmt;
use std::ops::Bound;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::error::ConfigError;
use crate::config::flatten::unflatten;
use crate::config::typed::{Absent, ValueDeserializer};
use crate::{Change, Ordered, Snapshot, Version};

/// The core snapshot type a config store publishes.
pub type RawSnapshot = Snapshot<String, Value, Ordered>;

/// One version of the config, immutable: every read on it sees the same
/// version, however many reloads happen meanwhile. Cheap to clone,
/// `Send + Sync + 'static`.
///
/// Keys are dotted paths (`http.timeout_ms`). Each entry holds a non-table
/// value: a scalar, an array (arrays of tables included) or, for an empty
/// table, `{}`. Tables are reachable by their prefix: [`get`](Self::get)
/// and [`extract`](Self::extract) rebuild them.
///
/// # `get` versus `extract`
///
/// Both deserialize the value at a key, rebuilding a table from the
/// entries under it when the key names a table. They differ on absence:
/// `get` fails with [`ConfigError::MissingKey`] (or gives `None` for an
/// `Option<T>`), while `extract` deserializes an absent prefix from an
/// empty table, so a struct whose fields all have serde defaults comes out
/// whole. `extract("")` is the whole document.
///
/// Reads cost a lookup plus the deserialization; `extract` of a table also
/// rebuilds it (O(entries under the prefix)). For a hot path, extract a
/// struct once per version (keep it next to the [`version`](Self::version)
/// it came from) rather than once per request.
#[derive(Clone)]
pub struct ConfigSnapshot {
    inner: RawSnapshot,
}

impl ConfigSnapshot {
    /// The value at `key` as a `T`.
    ///
    /// Errors: [`ConfigError::MissingKey`] when nothing is at `key` (unless
    /// `T` is an `Option`, which gives `None`), [`ConfigError::WrongType`]
    /// naming the offending key (for a table, the field inside it), what
    /// `T` expected and what was found.
    ///
    /// # Panics
    ///
    /// Only if `T`'s `Deserialize` implementation panics; nothing is
    /// published either way (reads never publish).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        self.read(key, false)
    }

    /// The table at `prefix` (`""` for the whole document) as a `T`; an
    /// absent table reads as an empty one (see
    /// [`get` versus `extract`](Self#get-versus-extract)). Errors name the
    /// full dotted key of the offending field.
    ///
    /// `extract::<serde_json::Value>(prefix)` gives the subtree itself.
    ///
    /// # Panics
    ///
    /// Only if `T`'s `Deserialize` implementation panics; nothing is
    /// published either way.
    pub fn extract<T: DeserializeOwned>(&self, prefix: &str) -> Result<T, ConfigError> {
        self.read(prefix, true)
    }

    fn read<T: DeserializeOwned>(
        &self,
        key: &str,
        absent_is_empty: bool,
    ) -> Result<T, ConfigError> {
        let fail = |error: crate::config::typed::ReadError| {
            error.into_config_error(key, std::any::type_name::<T>(), self.version())
        };
        if let Some(value) = self.inner.get(key) {
            return T::deserialize(ValueDeserializer(value)).map_err(fail);
        }
        let mut under = self.under(key).peekable();
        if under.peek().is_some() {
            let table = unflatten(under);
            return T::deserialize(ValueDeserializer(&table)).map_err(fail);
        }
        if absent_is_empty {
            let empty = Value::Object(Map::new());
            T::deserialize(ValueDeserializer(&empty)).map_err(fail)
        } else {
            T::deserialize(Absent).map_err(fail)
        }
    }

    /// The raw value stored under exactly `key` (not a table: see
    /// [`extract`](Self::extract) for those).
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.inner.get(key)
    }

    /// Whether `key` holds a value or is a table with entries under it.
    pub fn contains(&self, key: &str) -> bool {
        self.inner.contains_key(key) || self.under(key).next().is_some()
    }

    /// The entries at or under `prefix` (`"http"` gives `http` itself if it
    /// is a value, and every `http.…` key, but not `https.…`), in key order,
    /// with their full keys. `""` gives every entry.
    pub fn entries<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        let exact = if prefix.is_empty() {
            None
        } else {
            self.inner.get_key_value(prefix)
        };
        let lower = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        let upper = if prefix.is_empty() {
            None
        } else {
            Some(format!("{prefix}/"))
        };
        let range = self.inner.range::<str, _>((
            Bound::Included(lower.as_str()),
            match &upper {
                // '/' is the character after '.': the keys in between are
                // exactly those starting with "prefix.".
                Some(upper) => Bound::Excluded(upper.as_str()),
                None => Bound::Unbounded,
            },
        ));
        exact
            .into_iter()
            .chain(range)
            .map(|(key, value)| (key.as_str(), value))
    }

    /// Entries strictly under the table `prefix`, keyed relative to it.
    fn under<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        let skip = if prefix.is_empty() {
            0
        } else {
            prefix.len() + 1
        };
        let exact = !prefix.is_empty() && self.inner.contains_key(prefix);
        self.entries(prefix)
            .skip(usize::from(exact))
            .map(move |(key, value)| (&key[skip..], value))
    }

    /// Entries (leaf values) in this version.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether this version has no entries.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The version number.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The content hash this version is labelled with (`fnv1a64:…`, see
    /// the [module docs](crate::config#versions-and-content-hashes)).
    pub fn content_hash(&self) -> Option<&str> {
        self.inner.label()
    }

    /// When this version was published.
    pub fn committed_at(&self) -> SystemTime {
        self.inner.committed_at()
    }

    /// Every change from `older` to `self`, by dotted key.
    pub fn diff(&self, older: &ConfigSnapshot) -> Vec<Change<String, Value>> {
        self.inner.diff(&older.inner)
    }

    /// The core snapshot underneath.
    pub fn as_raw(&self) -> &RawSnapshot {
        &self.inner
    }
}

impl From<RawSnapshot> for ConfigSnapshot {
    /// Wraps a core snapshot, e.g. one a [`Subscriber`](crate::Subscriber)
    /// returned.
    fn from(inner: RawSnapshot) -> Self {
        Self { inner }
    }
}

impl fmt::Debug for ConfigSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSnapshot")
            .field("version", &self.version())
            .field("content_hash", &self.content_hash())
            .field("entries", &self.inner.iter().collect::<Vec<_>>())
            .finish()
    }
}
