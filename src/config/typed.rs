//! Typed reads: a serde `Deserializer` over config values whose errors say
//! where (the dotted key, `[i]` for array elements), what the target type
//! expected and what was found.
//!
//! `serde_json::from_value` would do the conversion, but its errors carry
//! neither the key nor the expected and found types as data.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use crate::config::error::ConfigError;
use crate::config::flatten::join;
use crate::Version;

/// A deserialization error and where it happened, innermost segment first
/// while it bubbles up.
#[derive(Debug)]
pub(crate) struct ReadError {
    path: Vec<Segment>,
    kind: Kind,
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Kind {
    Type {
        expected: String,
        found: String,
    },
    MissingField(String),
    UnknownField {
        field: String,
        expected: String,
    },
    /// The value the read asked for is absent.
    Absent,
    Custom(String),
}

impl ReadError {
    fn new(kind: Kind) -> Self {
        Self {
            path: Vec::new(),
            kind,
        }
    }

    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    /// The public error: `base` is the key the read started from, `target`
    /// the type it asked for.
    pub(crate) fn into_config_error(
        self,
        base: &str,
        target: &str,
        version: Version,
    ) -> ConfigError {
        let mut key = base.to_owned();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(k) => key = join(&key, k),
                Segment::Index(i) => key = format!("{key}[{i}]"),
            }
        }
        match self.kind {
            Kind::Type { expected, found } => ConfigError::WrongType {
                key,
                expected,
                found,
                version,
            },
            Kind::MissingField(field) => ConfigError::MissingKey {
                key: join(&key, &field),
                version,
            },
            Kind::Absent => ConfigError::MissingKey { key, version },
            Kind::UnknownField { field, expected } => ConfigError::WrongType {
                key: join(&key, &field),
                expected,
                found: "a key the target type does not have".to_owned(),
                version,
            },
            Kind::Custom(message) => ConfigError::WrongType {
                key,
                expected: format!("a value `{target}` accepts"),
                found: message,
                version,
            },
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Type { expected, found } => write!(f, "expected {expected}, found {found}"),
            Kind::MissingField(field) => write!(f, "missing field `{field}`"),
            Kind::UnknownField { field, expected } => {
                write!(f, "unknown field `{field}`, expected {expected}")
            }
            Kind::Absent => f.write_str("missing value"),
            Kind::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ReadError::new(Kind::Custom(message.to_string()))
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        ReadError::new(Kind::Type {
            expected: expected.to_string(),
            found: unexpected.to_string(),
        })
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        ReadError::new(Kind::Type {
            expected: expected.to_string(),
            found: unexpected.to_string(),
        })
    }

    fn invalid_length(len: usize, expected: &dyn de::Expected) -> Self {
        ReadError::new(Kind::Type {
            expected: expected.to_string(),
            found: format!("{len} elements"),
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        ReadError::new(Kind::Type {
            expected: one_of(expected),
            found: format!("variant `{variant}`"),
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ReadError::new(Kind::UnknownField {
            field: field.to_owned(),
            expected: one_of(expected),
        })
    }

    fn missing_field(field: &'static str) -> Self {
        ReadError::new(Kind::MissingField(field.to_owned()))
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_owned(),
        [one] => format!("`{one}`"),
        _ => {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", names.join(", "))
        }
    }
}

/// Deserializes from one config value.
///
/// Beyond `serde_json::Value`'s own behaviour: a number or boolean is
/// accepted where a string is expected (environment overrides are typed by
/// guessing, so `APP__NAME=123` must still fill a `String`), and
/// `Option<T>` reads `null` as `None`.
#[derive(Clone, Copy)]
pub(crate) struct ValueDeserializer<'de>(pub(crate) &'de Value);

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
            }),
            Value::Object(table) => visitor.visit_map(MapAccess::new(table)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Number(n) => visitor.visit_string(n.to_string()),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.0 {
            // A unit variant: `mode = "fast"`.
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            // A variant with data: `[mode.fixed] ms = 5`.
            Value::Object(table) if table.len() == 1 => {
                let (variant, value) = table.iter().next().expect("one entry");
                visitor.visit_enum(EnumAccess { variant, value })
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl<'de> IntoDeserializer<'de, ReadError> for ValueDeserializer<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

struct SeqAccess<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        match self.items.next() {
            Some((i, item)) => seed
                .deserialize(ValueDeserializer(item))
                .map(Some)
                .map_err(|e| e.at(Segment::Index(i))),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> MapAccess<'de> {
    fn new(table: &'de Map<String, Value>) -> Self {
        Self {
            entries: table.iter(),
            pending: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(ValueDeserializer(value))
            .map_err(|e| e.at(Segment::Key(key.to_owned())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess<'de> {
    variant: &'de str,
    value: &'de Value,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = ReadError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), ReadError> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.variant))?;
        Ok((
            variant,
            VariantAccess {
                variant: self.variant,
                value: self.value,
            },
        ))
    }
}

struct VariantAccess<'de> {
    variant: &'de str,
    value: &'de Value,
}

impl VariantAccess<'_> {
    fn within(&self, error: ReadError) -> ReadError {
        error.at(Segment::Key(self.variant.to_owned()))
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = ReadError;

    fn unit_variant(self) -> Result<(), ReadError> {
        match self.value {
            Value::Null => Ok(()),
            Value::Object(table) if table.is_empty() => Ok(()),
            _ => Err(self.within(de::Error::invalid_type(
                unexpected(self.value),
                &"a unit variant (no data)",
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, ReadError> {
        seed.deserialize(ValueDeserializer(self.value))
            .map_err(|e| self.within(e))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        ValueDeserializer(self.value)
            .deserialize_seq(visitor)
            .map_err(|e| self.within(e))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        ValueDeserializer(self.value)
            .deserialize_map(visitor)
            .map_err(|e| self.within(e))
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Other("null"),
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => de::Unexpected::Unsigned(u),
            (None, Some(i)) => de::Unexpected::Signed(i),
            _ => de::Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// Deserializes from nothing: for a key that is not there. `Option<T>`
/// reads it as `None`; every other type fails with "missing".
pub(crate) struct Absent;

impl<'de> Deserializer<'de> for Absent {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ReadError> {
        Err(ReadError::new(Kind::Absent))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_none()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
