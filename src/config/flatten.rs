//! Dotted keys: nested tables flattened into one ordered map
//! (`[http] timeout_ms = 500` → `http.timeout_ms`), and subtrees rebuilt
//! from it for typed reads.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::error::ConfigError;
use crate::config::source::{Document, Origin};

/// Refuses keys that dotted keys cannot express: empty keys and keys that
/// contain `.` (a quoted TOML key `"a.b"`, a JSON key `"example.com"`).
/// Keys inside arrays are values, not config keys, and are not checked.
pub(crate) fn check_keys(origin: &Origin, doc: &Document) -> Result<(), ConfigError> {
    fn walk(origin: &Origin, table: &Map<String, Value>, path: &str) -> Result<(), ConfigError> {
        for (key, value) in table {
            if key.is_empty() || key.contains('.') {
                let place = if path.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("in table \"{path}\"")
                };
                return Err(ConfigError::Shape {
                    origin: origin.clone(),
                    message: format!(
                        "key \"{key}\" {place} is empty or contains '.', which dotted config keys cannot express"
                    ),
                    kept: None,
                });
            }
            if let Value::Object(inner) = value {
                walk(origin, inner, &join(path, key))?;
            }
        }
        Ok(())
    }
    walk(origin, doc, "")
}

/// Flattens a document: every non-table value (scalars, arrays, arrays of
/// tables) is one entry under its dotted key; an empty table is kept as an
/// entry holding `{}` so that it still exists.
pub(crate) fn flatten(doc: Document) -> BTreeMap<String, Value> {
    fn walk(table: Map<String, Value>, prefix: &str, out: &mut BTreeMap<String, Value>) {
        for (key, value) in table {
            let key = join(prefix, &key);
            match value {
                Value::Object(inner) if !inner.is_empty() => walk(inner, &key, out),
                leaf => {
                    out.insert(key, leaf);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(doc, "", &mut out);
    out
}

/// Rebuilds the table of the entries under a prefix, given their keys
/// relative to it (`"timeout_ms"`, `"tls.cert"`).
pub(crate) fn unflatten<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Value {
    let mut root = Map::new();
    for (key, value) in entries {
        let mut segments = key.split('.');
        let last = segments
            .next_back()
            .expect("split yields at least one segment");
        let mut table = &mut root;
        for segment in segments {
            let slot = table
                .entry(segment.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                // Only reachable if an entry is both a leaf and a table,
                // which flattening never produces.
                *slot = Value::Object(Map::new());
            }
            table = slot.as_object_mut().expect("made a table above");
        }
        table.insert(last.to_owned(), value.clone());
    }
    Value::Object(root)
}

/// `prefix.key`, or `key` at the top level.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}
