//! Parsing: TOML and JSON text into documents, with errors that say
//! where (line and column) and what.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::config::error::ConfigError;
use crate::config::flatten::check_keys;
use crate::config::source::{Document, Origin};

/// The text format of a file or of built-in defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML 1.0 (`.toml`). Datetimes become strings.
    Toml,
    /// JSON (`.json`); the top level must be an object.
    Json,
}

impl Format {
    /// The format a path's extension names (`.toml`, `.json`, any case),
    /// if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?;
        if extension.eq_ignore_ascii_case("toml") {
            Some(Format::Toml)
        } else if extension.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Json => "JSON",
        })
    }
}

/// Parses a file's bytes into a document.
pub(crate) fn parse_file(
    path: &Path,
    format: Format,
    bytes: &[u8],
) -> Result<Document, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        ConfigError::NotUtf8 {
            path: path.to_owned(),
            line: line_of(bytes, offset),
            offset,
            kept: None,
        }
    })?;
    if text.trim().is_empty() {
        return Err(ConfigError::EmptyFile {
            path: path.to_owned(),
            kept: None,
        });
    }
    parse_document(&Origin::File(path.to_owned()), format, text)
}

/// Parses a document's text (a file's, or built-in defaults').
pub(crate) fn parse_document(
    origin: &Origin,
    format: Format,
    text: &str,
) -> Result<Document, ConfigError> {
    let doc = match format {
        Format::Toml => {
            let table = toml::from_str::<toml::Table>(text).map_err(|error| {
                let (line, column) = match error.span() {
                    Some(span) => {
                        let (line, column) = line_column(text, span.start);
                        (Some(line), Some(column))
                    }
                    None => (None, None),
                };
                ConfigError::Parse {
                    origin: origin.clone(),
                    format,
                    line,
                    column,
                    message: error.message().trim_end().to_owned(),
                    kept: None,
                }
            })?;
            toml_table(origin, table)?
        }
        Format::Json => {
            let value = serde_json::from_str::<Value>(text).map_err(|error| {
                let (line, column) = (error.line(), error.column());
                let full = error.to_string();
                let suffix = format!(" at line {line} column {column}");
                ConfigError::Parse {
                    origin: origin.clone(),
                    format,
                    line: (line > 0).then_some(line),
                    column: (column > 0).then_some(column),
                    message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
                    kept: None,
                }
            })?;
            match value {
                Value::Object(doc) => doc,
                other => {
                    return Err(ConfigError::Shape {
                        origin: origin.clone(),
                        message: format!(
                            "the top level is {}, expected an object (a table of keys)",
                            kind(&other)
                        ),
                        kept: None,
                    })
                }
            }
        }
    };
    check_keys(origin, &doc)?;
    Ok(doc)
}

/// Checks that defaults serialized into a table.
pub(crate) fn defaults_document(value: Value) -> Result<Document, ConfigError> {
    let origin = Origin::Defaults;
    match value {
        Value::Object(doc) => {
            check_keys(&origin, &doc)?;
            Ok(doc)
        }
        other => Err(ConfigError::Shape {
            origin,
            message: format!(
                "serialized to {}, expected a table (a struct or a map)",
                kind(&other)
            ),
            kept: None,
        }),
    }
}

/// "an array", "a string"…, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn toml_table(origin: &Origin, table: toml::Table) -> Result<Document, ConfigError> {
    table
        .into_iter()
        .map(|(key, value)| Ok((key, toml_value(origin, value)?)))
        .collect()
}

fn toml_value(origin: &Origin, value: toml::Value) -> Result<Value, ConfigError> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(x) => match serde_json::Number::from_f64(x) {
            Some(n) => Value::Number(n),
            None => {
                return Err(ConfigError::Shape {
                    origin: origin.clone(),
                    message: format!("the float {x} is not finite; config values must be"),
                    kept: None,
                })
            }
        },
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(dt) => Value::String(dt.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| toml_value(origin, item))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(toml_table(origin, table)?),
    })
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        line_of(before.as_bytes(), offset),
        before[line_start..].chars().count() + 1,
    )
}
