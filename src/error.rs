use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::Version;

/// The error type a validator returns: anything that converts into a boxed
/// error, including `&str` and `String` (`Err("too big".into())`).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a commit published nothing.
///
/// Every variant names the version that stays current: a failed commit never
/// publishes, never half-applies and never disturbs readers.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommitError {
    /// The validator refused the candidate version.
    Rejected {
        /// The number the candidate would have had.
        candidate: Version,
        /// The version that stays current.
        current: Version,
        /// The validator's reason.
        reason: BoxError,
    },
    /// User code panicked while the commit was being prepared (the
    /// validator, a key's `Hash`/`Ord` or a value's `Clone` inside the
    /// transaction, or while building a read index).
    Panicked {
        /// The version that stays current.
        current: Version,
        /// Where the panic happened, e.g. `"validator"`.
        during: &'static str,
        /// The panic message, when it was a string.
        message: String,
    },
    /// `max_live_versions` was reached and old snapshots were not dropped
    /// within the configured wait.
    TooManyLiveVersions {
        /// The version that stays current.
        current: Version,
        /// Versions still alive when the commit gave up.
        live: usize,
        /// The configured cap.
        limit: usize,
        /// How long the commit waited for old snapshots to be dropped.
        waited: Duration,
    },
    /// `rollback_to` named a version the history no longer keeps (or one
    /// that never existed).
    NotInHistory {
        /// The version asked for.
        requested: Version,
        /// The oldest version still kept.
        oldest: Version,
        /// The version that stays current.
        current: Version,
    },
}

impl CommitError {
    /// The version that stays current after this failure.
    pub fn current(&self) -> Version {
        match self {
            CommitError::Rejected { current, .. }
            | CommitError::Panicked { current, .. }
            | CommitError::TooManyLiveVersions { current, .. }
            | CommitError::NotInHistory { current, .. } => *current,
        }
    }
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::Rejected {
                candidate,
                current,
                reason,
            } => write!(
                f,
                "rejected version {candidate}: {reason}; version {current} stays current"
            ),
            CommitError::Panicked {
                current,
                during,
                message,
            } => write!(
                f,
                "panic in {during}: {message}; nothing published, version {current} stays current"
            ),
            CommitError::TooManyLiveVersions {
                current,
                live,
                limit,
                waited,
            } => write!(
                f,
                "{live} versions still alive (limit {limit}) after waiting {waited:?} for old snapshots \
                 to be dropped; nothing published, version {current} stays current"
            ),
            CommitError::NotInHistory {
                requested,
                oldest,
                current,
            } => write!(
                f,
                "version {requested} is not in the history (kept: {oldest} to {current}); \
                 nothing published, version {current} stays current"
            ),
        }
    }
}

impl Error for CommitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CommitError::Rejected { reason, .. } => Some(&**reason),
            _ => None,
        }
    }
}

/// Renders a caught panic payload for an error message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
