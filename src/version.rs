use std::fmt;

/// The number of a published version.
///
/// The initial contents of a map are version 0; every commit that publishes
/// adds one, rollbacks included, so a larger number is always a later
/// version of the same map. A transaction that changes nothing publishes
/// nothing and reports the current number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The version of a map's initial contents.
    pub const INITIAL: Version = Version(0);

    /// Wraps a raw version number.
    pub const fn new(n: u64) -> Self {
        Version(n)
    }

    /// The raw version number.
    pub const fn get(self) -> u64 {
        self.0
    }

    pub(crate) fn next(self) -> Self {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Version> for u64 {
    fn from(v: Version) -> u64 {
        v.0
    }
}
