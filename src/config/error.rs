//! `ConfigError`: why a reload published nothing, or why a typed read failed.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::parse::Format;
use crate::config::source::Origin;
use crate::{CommitError, Version};

/// Everything that can go wrong in the config store.
///
/// Errors from loading (every variant but [`MissingKey`](Self::MissingKey)
/// and [`WrongType`](Self::WrongType)) name the file or source at fault and
/// the version that stays current ([`kept`](Self::kept)): a failed reload
/// never publishes anything, and the last good version keeps serving reads.
/// At startup (`ConfigBuilder::build`) nothing has been published yet, and
/// the message says so.
///
/// ```text
/// /etc/app/app.toml: invalid TOML at line 3, column 12: expected a value; version 6 stays current
/// ```
///
/// The error is `Clone` (the store keeps the last one for
/// [`ConfigStore::last_error`](crate::config::ConfigStore::last_error)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required file does not exist.
    FileNotFound {
        /// The file.
        path: PathBuf,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A file exists but could not be read: permission denied, a directory
    /// where a file should be, an I/O error.
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: Arc<io::Error>,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A file is larger than the size limit
    /// ([`ConfigBuilder::max_file_size`](crate::config::ConfigBuilder::max_file_size)).
    /// The limit is checked before reading (from the file's metadata) and
    /// again while reading (for files that grow or report no size).
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes found (at least this many).
        size: u64,
        /// The limit.
        limit: u64,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A file is not valid UTF-8 (TOML and JSON must be).
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line (from 1) of the first invalid byte.
        line: usize,
        /// The byte offset of the first invalid byte.
        offset: usize,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A file is empty or only whitespace: most often a file caught between
    /// truncation and write. (A file with only comments is an empty table,
    /// not an error.)
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A file's format could not be told from its extension (`.toml`,
    /// `.json`); state it with
    /// [`FileSource::format`](crate::config::FileSource::format).
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A document is not valid TOML or JSON.
    Parse {
        /// Where the document came from.
        origin: Origin,
        /// The format it was parsed as.
        format: Format,
        /// The line (from 1) of the error, when the parser reports it.
        line: Option<usize>,
        /// The column (from 1) of the error, when the parser reports it.
        column: Option<usize>,
        /// The parser's message.
        message: String,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// A document parsed but cannot be a config: its top level is not a
    /// table, a key is empty or contains `.`, a float is not finite, an
    /// environment variable is malformed, defaults do not serialize to a
    /// table.
    Shape {
        /// Where the document came from.
        origin: Origin,
        /// What is wrong.
        message: String,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// The validator (or the [`schema`](crate::config::ConfigBuilder::schema)
    /// check) refused the candidate.
    Rejected {
        /// The validator's reason.
        reason: Arc<dyn Error + Send + Sync + 'static>,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// The validator panicked; the candidate was refused.
    ValidatorPanicked {
        /// The panic message.
        message: String,
        /// The version that stays current (`None` at startup).
        kept: Option<Version>,
    },
    /// The core map refused a commit for another reason (for example
    /// `rollback_to` a version the history no longer keeps).
    Commit {
        /// The core's error, which names the version that stays current.
        error: Arc<CommitError>,
    },
    /// A typed read asked for a key that is not in the snapshot.
    MissingKey {
        /// The dotted key (with `[i]` for array elements).
        key: String,
        /// The version read.
        version: Version,
    },
    /// A typed read found a value of another type than the one asked for.
    WrongType {
        /// The dotted key of the offending value (with `[i]` for array
        /// elements).
        key: String,
        /// What the target type expected.
        expected: String,
        /// What was found.
        found: String,
        /// The version read.
        version: Version,
    },
    /// The file watcher could not watch a directory; it keeps polling.
    Watch {
        /// The directory, when the error concerns one.
        path: Option<PathBuf>,
        /// What went wrong.
        message: String,
    },
}

/// Matches the variants that record which version stayed current,
/// binding that field as `$kept` (by reference, or mutably for a mutable
/// scrutinee); anything else gives `$other`.
macro_rules! with_kept {
    ($error:expr, $kept:ident => $then:expr, $other:expr) => {
        match $error {
            ConfigError::FileNotFound { $kept, .. }
            | ConfigError::FileUnreadable { $kept, .. }
            | ConfigError::FileTooLarge { $kept, .. }
            | ConfigError::NotUtf8 { $kept, .. }
            | ConfigError::EmptyFile { $kept, .. }
            | ConfigError::Parse { $kept, .. }
            | ConfigError::Shape { $kept, .. }
            | ConfigError::Rejected { $kept, .. }
            | ConfigError::ValidatorPanicked { $kept, .. } => $then,
            _ => $other,
        }
    };
}

impl ConfigError {
    /// The version that stayed current when a reload (or rollback) failed;
    /// `None` at startup, and for read and watch errors.
    pub fn kept(&self) -> Option<Version> {
        if let ConfigError::Commit { error } = self {
            return Some(error.current());
        }
        with_kept!(self, kept => *kept, None)
    }

    /// The file the error is about, if it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigError::FileNotFound { path, .. }
            | ConfigError::FileUnreadable { path, .. }
            | ConfigError::FileTooLarge { path, .. }
            | ConfigError::NotUtf8 { path, .. }
            | ConfigError::EmptyFile { path, .. }
            | ConfigError::UnknownFormat { path } => Some(path),
            ConfigError::Parse { origin, .. } | ConfigError::Shape { origin, .. } => origin.path(),
            ConfigError::Watch { path, .. } => path.as_deref(),
            ConfigError::Rejected { .. }
            | ConfigError::ValidatorPanicked { .. }
            | ConfigError::Commit { .. }
            | ConfigError::MissingKey { .. }
            | ConfigError::WrongType { .. } => None,
        }
    }

    /// The config key a typed read failed on.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::MissingKey { key, .. } | ConfigError::WrongType { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The same error, saying that `version` stays current.
    pub(crate) fn keeping(mut self, version: Option<Version>) -> Self {
        with_kept!(&mut self, kept => *kept = version, ());
        self
    }

    /// Translates a refused commit of the core map.
    pub(crate) fn from_commit(error: CommitError, kept: Option<Version>) -> Self {
        match error {
            CommitError::Rejected { reason, .. } => ConfigError::Rejected {
                reason: Arc::from(reason),
                kept,
            },
            CommitError::Panicked {
                during: "validator",
                message,
                ..
            } => ConfigError::ValidatorPanicked { message, kept },
            other => ConfigError::Commit {
                error: Arc::new(other),
            },
        }
    }
}

/// "; version 6 stays current" or, at startup, "; nothing was published".
struct Kept(Option<Version>);

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(version) => write!(f, "; version {version} stays current"),
            None => f.write_str("; nothing was published (no config loaded yet)"),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::FileNotFound { path, kept } => {
                write!(f, "{}: file not found{}", path.display(), Kept(*kept))
            }
            ConfigError::FileUnreadable { path, error, kept } => {
                write!(f, "{}: cannot read the file: {error}{}", path.display(), Kept(*kept))
            }
            ConfigError::FileTooLarge {
                path,
                size,
                limit,
                kept,
            } => write!(
                f,
                "{}: file is {size} bytes, over the {limit}-byte limit (see max_file_size); not loaded{}",
                path.display(),
                Kept(*kept)
            ),
            ConfigError::NotUtf8 {
                path,
                line,
                offset,
                kept,
            } => write!(
                f,
                "{}: not valid UTF-8 at line {line} (byte {offset}){}",
                path.display(),
                Kept(*kept)
            ),
            ConfigError::EmptyFile { path, kept } => write!(
                f,
                "{}: file is empty (truncated or half-written?){}",
                path.display(),
                Kept(*kept)
            ),
            ConfigError::UnknownFormat { path } => write!(
                f,
                "{}: cannot tell the format from the extension (expected .toml or .json); \
                 state it with FileSource::format",
                path.display()
            ),
            ConfigError::Parse {
                origin,
                format,
                line,
                column,
                message,
                kept,
            } => {
                write!(f, "{origin}: invalid {format}")?;
                match (line, column) {
                    (Some(line), Some(column)) => write!(f, " at line {line}, column {column}")?,
                    (Some(line), None) => write!(f, " at line {line}")?,
                    _ => {}
                }
                write!(f, ": {message}{}", Kept(*kept))
            }
            ConfigError::Shape { origin, message, kept } => write!(f, "{origin}: {message}{}", Kept(*kept)),
            ConfigError::Rejected { reason, kept } => {
                write!(f, "config rejected by the validator: {reason}{}", Kept(*kept))
            }
            ConfigError::ValidatorPanicked { message, kept } => {
                write!(f, "config validator panicked: {message}{}", Kept(*kept))
            }
            ConfigError::Commit { error } => write!(f, "config not published: {error}"),
            ConfigError::MissingKey { key, version } => {
                write!(f, "config key \"{key}\" is missing (in version {version})")
            }
            ConfigError::WrongType {
                key,
                expected,
                found,
                version,
            } => write!(
                f,
                "config key \"{key}\": expected {expected}, found {found} (in version {version})"
            ),
            ConfigError::Watch { path, message } => {
                f.write_str("config watcher")?;
                if let Some(path) = path {
                    write!(f, " on {}", path.display())?;
                }
                write!(f, ": {message}; it keeps running (polling covers missed events)")
            }
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::FileUnreadable { error, .. } => Some(&**error),
            ConfigError::Rejected { reason, .. } => Some(&**reason),
            ConfigError::Commit { error } => Some(&**error),
            _ => None,
        }
    }
}
