//! The content hash: a stable 64-bit FNV-1a over a canonical encoding of
//! the flattened config, used as the version label.
//!
//! Stable means the same content gives the same label in every process, on
//! every platform and with every Rust and dependency version: FNV-1a is
//! written out here (std's `DefaultHasher` promises no such thing), and the
//! encoding fixes the order of table keys instead of relying on
//! `serde_json`'s map order (a feature flag elsewhere in a build can turn
//! it into insertion order). The label only *names* a version: whether a
//! reload publishes is decided by comparing contents, so a hash collision
//! could at worst skip a reload whose label matches, which at 64 bits is
//! not a practical concern.

use std::collections::BTreeMap;

use serde_json::Value;

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a.
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Fnv64(OFFSET_BASIS)
    }

    pub(crate) fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(PRIME);
    }

    /// Bytes, length-prefixed so that concatenations cannot collide.
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        for &byte in bytes {
            self.write_u8(byte);
        }
    }

    pub(crate) fn write_u64(&mut self, n: u64) {
        for byte in n.to_le_bytes() {
            self.write_u8(byte);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// The label of a flattened config: `fnv1a64:` and 16 hex digits.
pub(crate) fn content_hash(entries: &BTreeMap<String, Value>) -> String {
    let mut hash = Fnv64::new();
    hash.write_u64(entries.len() as u64);
    for (key, value) in entries {
        hash.write_bytes(key.as_bytes());
        write_value(&mut hash, value);
    }
    format!("fnv1a64:{:016x}", hash.finish())
}

/// A tag byte per kind, then the value; numbers keep their kind (an integer
/// `1` and a float `1.0` are different values, as `Value`'s `==` says).
fn write_value(hash: &mut Fnv64, value: &Value) {
    match value {
        Value::Null => hash.write_u8(b'n'),
        Value::Bool(b) => {
            hash.write_u8(b'b');
            hash.write_u8(u8::from(*b));
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                hash.write_u8(b'u');
                hash.write_u64(u);
            } else if let Some(i) = n.as_i64() {
                hash.write_u8(b'i');
                hash.write_u64(i as u64);
            } else {
                hash.write_u8(b'f');
                hash.write_u64(n.as_f64().unwrap_or(f64::NAN).to_bits());
            }
        }
        Value::String(s) => {
            hash.write_u8(b's');
            hash.write_bytes(s.as_bytes());
        }
        Value::Array(items) => {
            hash.write_u8(b'a');
            hash.write_u64(items.len() as u64);
            for item in items {
                write_value(hash, item);
            }
        }
        Value::Object(table) => {
            hash.write_u8(b'o');
            hash.write_u64(table.len() as u64);
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort_unstable();
            for key in keys {
                hash.write_bytes(key.as_bytes());
                write_value(hash, &table[key]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fnv64;

    #[test]
    fn fnv1a_64_reference_vectors() {
        // From the FNV reference test suite.
        for (input, expected) in [
            (&b""[..], 0xcbf2_9ce4_8422_2325_u64),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut hash = Fnv64::new();
            input.iter().for_each(|&b| hash.write_u8(b));
            assert_eq!(hash.finish(), expected, "{input:?}");
        }
    }
}
