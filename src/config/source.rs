//! Where configuration comes from: built-in defaults, files and environment
//! overrides; reading files (bounded) and layering the documents into one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::error::ConfigError;
use crate::config::flatten::flatten;
use crate::config::hash::Fnv64;
use crate::config::parse::{parse_file, Format};

/// A document: a table of keys to values (nested tables are objects).
pub(crate) type Document = Map<String, Value>;

/// Where a document came from, as errors name it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The built-in defaults given to the builder.
    Defaults,
    /// A file.
    File(PathBuf),
    /// An environment variable (its name).
    Env(String),
}

impl Origin {
    /// The file, for [`Origin::File`].
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::File(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Defaults => f.write_str("built-in defaults"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A config file: its path, its format (from the extension unless stated)
/// and whether it must exist.
///
/// `&str`, `String`, `&Path`, `&PathBuf` and `PathBuf` convert into a required file
/// whose format comes from its extension.
///
/// ```
/// use snapmap::config::{FileSource, Format};
///
/// let local = FileSource::new("/etc/app/local.conf").format(Format::Toml).optional();
/// assert!(local.is_optional());
/// ```
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    format: Option<Format>,
    optional: bool,
}

impl FileSource {
    /// A required file at `path`, its format told by its extension.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: None,
            optional: false,
        }
    }

    /// States the format instead of telling it from the extension.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Makes the file optional: while it does not exist it contributes
    /// nothing (its keys fall back to earlier layers) instead of failing
    /// the load. Other errors (unreadable, invalid) still fail it.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a missing file is allowed.
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    /// The stated format, else the extension's.
    pub(crate) fn resolved_format(&self) -> Result<Format, ConfigError> {
        self.format
            .or_else(|| Format::from_path(&self.path))
            .ok_or_else(|| ConfigError::UnknownFormat {
                path: self.path.clone(),
            })
    }
}

impl From<&str> for FileSource {
    fn from(path: &str) -> Self {
        FileSource::new(path)
    }
}

impl From<String> for FileSource {
    fn from(path: String) -> Self {
        FileSource::new(path)
    }
}

impl From<&Path> for FileSource {
    fn from(path: &Path) -> Self {
        FileSource::new(path)
    }
}

impl From<&PathBuf> for FileSource {
    fn from(path: &PathBuf) -> Self {
        FileSource::new(path)
    }
}

impl From<PathBuf> for FileSource {
    fn from(path: PathBuf) -> Self {
        FileSource::new(path)
    }
}

/// Environment overrides: variables named `PREFIX` + separator + a key path.
///
/// With prefix `APP` and the default separator `__`,
/// `APP__HTTP__TIMEOUT_MS=700` sets `http.timeout_ms`: the rest of the name
/// is split at the separator and lowercased (a single `_` stays part of a
/// key). The value is parsed as a JSON scalar when it is one (`700`,
/// `2.5`, `true`, `"quoted"`), else taken as a plain string (`fast`,
/// `007`, `[1,2]`). Nulls, arrays and tables cannot be set this way: use a
/// file.
///
/// The process environment is read at every reload; [`vars`](Self::vars)
/// fixes the variables instead (for tests, or for an environment captured
/// elsewhere). A `&str` converts into `EnvSource::new(prefix)`.
#[derive(Clone, Debug)]
pub struct EnvSource {
    prefix: String,
    separator: String,
    vars: Option<Arc<[(OsString, OsString)]>>,
}

impl EnvSource {
    /// Overrides from the process environment's variables starting with
    /// `prefix` and the separator.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            separator: "__".to_owned(),
            vars: None,
        }
    }

    /// The separator between the prefix and each key segment (default
    /// `__`).
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        let separator = separator.into();
        assert!(
            !separator.is_empty(),
            "EnvSource::separator: the separator must not be empty"
        );
        self.separator = separator;
        self
    }

    /// Reads these variables instead of the process environment.
    pub fn vars<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.vars = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// The variable-name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Applies this source's overrides to `doc`, in variable-name order (so
    /// the result does not depend on the environment's order).
    fn apply(&self, doc: &mut Document) -> Result<(), ConfigError> {
        let lead = format!("{}{}", self.prefix, self.separator);
        let vars: Vec<(OsString, OsString)> = match &self.vars {
            Some(vars) => vars.to_vec(),
            None => std::env::vars_os().collect(),
        };
        let mut overrides = BTreeMap::new();
        for (name, value) in vars {
            // A name that is not UTF-8 cannot start with a UTF-8 prefix we
            // could match reliably; such variables are not ours.
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(&lead) else {
                continue;
            };
            let shape_error = |message: String| ConfigError::Shape {
                origin: Origin::Env(name.to_owned()),
                message,
                kept: None,
            };
            let segments: Vec<String> = rest
                .split(self.separator.as_str())
                .map(str::to_lowercase)
                .collect();
            if segments.iter().any(|s| s.is_empty() || s.contains('.')) {
                return Err(shape_error(format!(
                    "the name after \"{lead}\" must be key segments separated by \"{}\", \
                     none empty or containing '.'",
                    self.separator
                )));
            }
            let value = value
                .into_string()
                .map_err(|_| shape_error("the value is not valid UTF-8".to_owned()))?;
            overrides.insert(name.to_owned(), (segments, env_value(&value)));
        }
        for (segments, value) in overrides.into_values() {
            set_path(doc, &segments, value);
        }
        Ok(())
    }
}

impl From<&str> for EnvSource {
    fn from(prefix: &str) -> Self {
        EnvSource::new(prefix)
    }
}

/// An environment value: a JSON scalar when it parses as one, else the
/// text itself.
fn env_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

/// Sets `doc[segments...] = value`, making (or replacing with) tables on
/// the way: a later layer wins over whatever was there.
fn set_path(doc: &mut Document, segments: &[String], value: Value) {
    let (last, parents) = segments.split_last().expect("at least one segment");
    let mut table = doc;
    for segment in parents {
        let slot = table
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        table = slot.as_object_mut().expect("made a table above");
    }
    table.insert(last.clone(), value);
}

/// Deep merge: tables merge key by key, anything else in `layer` replaces
/// what `base` had.
pub(crate) fn merge(base: &mut Document, layer: Document) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(base_table)), Value::Object(layer_table)) => {
                merge(base_table, layer_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// What reading one file gave.
pub(crate) enum FileRead {
    Bytes(Vec<u8>),
    /// An optional file that does not exist.
    Absent,
    Failed(ConfigError),
}

/// Every configured source: what a reload reads.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) defaults: Option<Document>,
    pub(crate) files: Vec<(FileSource, Format)>,
    pub(crate) env: Vec<EnvSource>,
    pub(crate) max_file_size: u64,
}

impl Sources {
    /// Reads every file, fully and within the size limit.
    pub(crate) fn read_files(&self) -> Vec<FileRead> {
        self.files
            .iter()
            .map(
                |(source, _)| match read_bounded(&source.path, self.max_file_size) {
                    Ok(bytes) => FileRead::Bytes(bytes),
                    Err(ConfigError::FileNotFound { .. }) if source.optional => FileRead::Absent,
                    Err(error) => FileRead::Failed(error),
                },
            )
            .collect()
    }

    /// A stable fingerprint of what the files held (or how reading them
    /// failed): equal fingerprints mean there is nothing new to load.
    pub(crate) fn fingerprint(reads: &[FileRead]) -> u64 {
        let mut hash = Fnv64::new();
        for read in reads {
            match read {
                FileRead::Bytes(bytes) => {
                    hash.write_u8(b'b');
                    hash.write_bytes(bytes);
                }
                FileRead::Absent => hash.write_u8(b'a'),
                FileRead::Failed(error) => {
                    hash.write_u8(b'e');
                    hash.write_bytes(error.to_string().as_bytes());
                }
            }
        }
        hash.finish()
    }

    /// Parses and layers everything into the flattened candidate: defaults,
    /// then each file in order, then each environment source. The first
    /// error wins.
    pub(crate) fn layer(
        &self,
        reads: Vec<FileRead>,
    ) -> Result<BTreeMap<String, Value>, ConfigError> {
        let mut doc = self.defaults.clone().unwrap_or_default();
        for ((source, format), read) in self.files.iter().zip(reads) {
            match read {
                FileRead::Bytes(bytes) => {
                    merge(&mut doc, parse_file(&source.path, *format, &bytes)?)
                }
                FileRead::Absent => {}
                FileRead::Failed(error) => return Err(error),
            }
        }
        for env in &self.env {
            env.apply(&mut doc)?;
        }
        Ok(flatten(doc))
    }
}

/// Reads a whole file, refusing files over `limit` bytes before reading
/// them (from the metadata of the opened file) and while reading (a file
/// that grows, or one that reports no size).
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ConfigError> {
    let unreadable = |error: io::Error| match error.kind() {
        io::ErrorKind::NotFound => ConfigError::FileNotFound {
            path: path.to_owned(),
            kept: None,
        },
        _ => ConfigError::FileUnreadable {
            path: path.to_owned(),
            error: Arc::new(error),
            kept: None,
        },
    };
    let too_large = |size| ConfigError::FileTooLarge {
        path: path.to_owned(),
        size,
        limit,
        kept: None,
    };
    let file = File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > limit {
        return Err(too_large(size));
    }
    let capacity = usize::try_from(size).unwrap_or(0).saturating_add(1);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}
