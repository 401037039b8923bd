//! Construction with options: `SnapMap::builder()`.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, DefaultHashBuilder};
use crate::core::{Config, Shared, Validator};
use crate::error::{BoxError, CommitError};
use crate::index::ReadIndex;
use crate::map::SnapMap;
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Snapshot;
use crate::Version;

/// Default `read_index_min_len`: below this many entries a persistent-map
/// lookup is already a few cache-resident hops (see BENCHMARKS.md).
pub(crate) const DEFAULT_INDEX_MIN_LEN: usize = 1024;

/// Options for a new map: `SnapMap::builder()` or `SnapOrdMap::builder()`.
///
/// ```
/// use snapmap::SnapMap;
///
/// let map = SnapMap::<String, u32>::builder()
///     .history(16)
///     .validator(|candidate| {
///         if candidate.len() > 1000 { Err("too big".into()) } else { Ok(()) }
///     })
///     .contents([("a".to_string(), 1)])
///     .build();
/// assert_eq!(map.get("a"), Some(1));
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder<K, V, S = DefaultHashBuilder, F = NoValidator> {
    backend: S,
    validator: F,
    history: usize,
    contents: Vec<(K, V)>,
    label: Option<Arc<str>>,
    read_index: ReadIndex,
    index_min_len: usize,
    max_live: Option<usize>,
    max_live_wait: Duration,
}

/// The builder's placeholder for "no validator".
#[derive(Clone, Copy, Debug, Default)]
pub struct NoValidator;

/// Something `Builder::build` accepts as a validator: [`NoValidator`] or a
/// closure set with [`Builder::validator`].
pub trait IntoValidator<K, V, S: Backend<K, V>> {
    #[doc(hidden)]
    #[allow(clippy::type_complexity)] // reason: spelled out because the alias is crate-private
    fn into_validator(
        self,
    ) -> Option<Arc<dyn Fn(&Snapshot<K, V, S>) -> Result<(), BoxError> + Send + Sync>>;
}

impl<K, V, S: Backend<K, V>> IntoValidator<K, V, S> for NoValidator {
    fn into_validator(self) -> Option<Validator<K, V, S>> {
        None
    }
}

impl<K, V, S, F> IntoValidator<K, V, S> for F
where
    S: Backend<K, V>,
    F: Fn(&Snapshot<K, V, S>) -> Result<(), BoxError> + Send + Sync + 'static,
{
    fn into_validator(self) -> Option<Validator<K, V, S>> {
        Some(Arc::new(self))
    }
}

impl<K, V, S> Builder<K, V, S, NoValidator> {
    pub(crate) fn new(backend: S) -> Self {
        Self {
            backend,
            validator: NoValidator,
            history: 1,
            contents: Vec::new(),
            label: None,
            read_index: ReadIndex::default(),
            index_min_len: DEFAULT_INDEX_MIN_LEN,
            max_live: None,
            max_live_wait: Duration::from_secs(1),
        }
    }
}

impl<K, V, S, F> Builder<K, V, S, F> {
    /// Keep the last `n` versions (the current one included) reachable
    /// through `history()`, `at()` and `rollback_to()`. Default 1: the
    /// current version only. Values below 1 count as 1.
    ///
    /// Kept versions share structure with each other, so the cost is the
    /// entries that differ between them, not `n` full copies.
    pub fn history(mut self, n: usize) -> Self {
        self.history = n.max(1);
        self
    }

    /// Runs `validator` on every candidate version before it is published
    /// (commits, `replace_all`, `rollback_to`). An `Err` rejects the commit
    /// with [`CommitError::Rejected`](crate::CommitError::Rejected)
    /// carrying the reason; the current version stays.
    ///
    /// # Panics
    ///
    /// A panicking validator rejects the commit
    /// ([`CommitError::Panicked`](crate::CommitError::Panicked)); the map
    /// stays usable.
    pub fn validator<G>(self, validator: G) -> Builder<K, V, S, G>
    where
        S: Backend<K, V>,
        G: Fn(&Snapshot<K, V, S>) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.retype(|backend| backend, |_| validator)
    }

    /// Uses `hasher` for the hash face's map and read index. Call it before
    /// [`validator`](Self::validator): a validator is typed for the hasher
    /// in place when it is set.
    pub fn hasher<H: BuildHasher>(self, hasher: H) -> Builder<K, V, H, F> {
        self.retype(|_| hasher, |validator| validator)
    }

    /// Moves every setting into a builder with another backend and
    /// validator type (the two settings that change the builder's type).
    fn retype<S2, G>(
        self,
        backend: impl FnOnce(S) -> S2,
        validator: impl FnOnce(F) -> G,
    ) -> Builder<K, V, S2, G> {
        Builder {
            backend: backend(self.backend),
            validator: validator(self.validator),
            history: self.history,
            contents: self.contents,
            label: self.label,
            read_index: self.read_index,
            index_min_len: self.index_min_len,
            max_live: self.max_live,
            max_live_wait: self.max_live_wait,
        }
    }

    /// Initial contents (version 0). Later calls add to earlier ones; the
    /// last value for a repeated key wins.
    pub fn contents(mut self, entries: impl IntoIterator<Item = (K, V)>) -> Self {
        self.contents.extend(entries);
        self
    }

    /// The label of version 0.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// When versions get a derived read index; see [`ReadIndex`]. Default:
    /// [`ReadIndex::default()`].
    pub fn read_index(mut self, policy: ReadIndex) -> Self {
        self.read_index = policy;
        self
    }

    /// Versions with fewer entries than this never get a read index
    /// (default 1024).
    pub fn read_index_min_len(mut self, min_len: usize) -> Self {
        self.index_min_len = min_len;
        self
    }

    /// Caps the versions alive at once (the current one plus old versions
    /// still held by snapshots and readers; versions kept only by
    /// `history` do not count).
    ///
    /// A commit needs room for two: the version it publishes and the one it
    /// replaces, which stays alive while anyone holds it. When the cap would
    /// be exceeded, the commit waits up to
    /// [`max_live_wait`](Self::max_live_wait) for old snapshots to be
    /// dropped, then fails with
    /// [`CommitError::TooManyLiveVersions`](crate::CommitError::TooManyLiveVersions)
    /// and publishes nothing.
    ///
    /// # Panics
    ///
    /// `build()` panics if `n < 2`.
    pub fn max_live_versions(mut self, n: usize) -> Self {
        self.max_live = Some(n);
        self
    }

    /// How long a commit waits for room under `max_live_versions`
    /// (default 1 s).
    pub fn max_live_wait(mut self, wait: Duration) -> Self {
        self.max_live_wait = wait;
        self
    }

    /// Builds the map. The validator is not run on the initial contents
    /// (version 0); see [`try_build`](Self::try_build).
    ///
    /// # Panics
    ///
    /// If `max_live_versions` is below 2. With `ReadIndex::Eager`, a panic
    /// in a key's `Hash` or a value's `Clone` while indexing the initial
    /// contents propagates.
    pub fn build(self) -> SnapMap<K, V, S>
    where
        K: SnapKey,
        V: SnapValue,
        S: Backend<K, V>,
        F: IntoValidator<K, V, S>,
    {
        self.build_checked(false)
            .expect("unvalidated builds do not fail")
    }

    /// Builds the map after running the validator on the initial contents:
    /// a rejection returns [`CommitError::Rejected`](crate::CommitError)
    /// (or `Panicked`) with candidate and current version 0, and no map.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build); a panicking validator is an error, not a
    /// panic.
    pub fn try_build(self) -> Result<SnapMap<K, V, S>, CommitError>
    where
        K: SnapKey,
        V: SnapValue,
        S: Backend<K, V>,
        F: IntoValidator<K, V, S>,
    {
        self.build_checked(true)
    }

    fn build_checked(self, validate: bool) -> Result<SnapMap<K, V, S>, CommitError>
    where
        K: SnapKey,
        V: SnapValue,
        S: Backend<K, V>,
        F: IntoValidator<K, V, S>,
    {
        if let Some(n) = self.max_live {
            assert!(
                n >= 2,
                "max_live_versions({n}): a commit needs room for at least 2 versions \
                 (the one it publishes and the one it replaces)"
            );
        }
        let mut map = self.backend.empty();
        for (k, v) in self.contents {
            S::insert(&mut map, k, v);
        }
        let config = Config {
            history: self.history,
            validator: self.validator.into_validator(),
            read_index: self.read_index,
            index_min_len: self.index_min_len,
            max_live: self.max_live,
            max_live_wait: self.max_live_wait,
        };
        let validator = config.validator.clone();
        let map = SnapMap::from_shared(Shared::new(self.backend, map, self.label, config));
        if let (true, Some(validator)) = (validate, validator) {
            map.shared()
                .validate(&validator, &map.load(), Version::INITIAL)?;
        }
        Ok(map)
    }
}

impl<K, V, S, F> fmt::Debug for Builder<K, V, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("history", &self.history)
            .field("contents", &self.contents.len())
            .field("read_index", &self.read_index)
            .field("read_index_min_len", &self.index_min_len)
            .field("max_live_versions", &self.max_live)
            .field("max_live_wait", &self.max_live_wait)
            .finish_non_exhaustive()
    }
}
