//! A serde deserializer over the matched path parameters.
//!
//! The top level sees all parameters: one value (`u32`, `String`), a tuple
//! or sequence (in path order), or a map or struct (by name). Each value is
//! a string that is parsed into the requested primitive, and every parse
//! error names its parameter.

use std::fmt;
use std::num::IntErrorKind;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use super::PathErrorKind;
use crate::routing::params::ParamsView;

/// Why deserializing failed.
#[derive(Debug)]
pub(super) enum Error {
    Param { name: String, message: String },
    Message(String),
    WrongCount { expected: usize, got: usize },
    Unsupported(&'static str),
}

impl Error {
    /// Attaches `name` to an error that does not yet name a parameter.
    fn in_param(self, name: &str) -> Self {
        match self {
            Self::Message(message) => Self::Param {
                name: name.to_owned(),
                message,
            },
            other => other,
        }
    }

    pub(super) fn into_kind(self) -> PathErrorKind {
        match self {
            Self::Param { name, message } => PathErrorKind::InvalidParam { name, message },
            Self::Message(message) => PathErrorKind::Message(message),
            Self::WrongCount { expected, got } => PathErrorKind::WrongCount { expected, got },
            Self::Unsupported(what) => PathErrorKind::Unsupported(what),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Param { name, message } => write!(f, "path parameter '{name}': {message}"),
            Self::Message(message) => f.write_str(message),
            Self::WrongCount { expected, got } => {
                write!(f, "expected {expected} path parameters, got {got}")
            }
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Message(msg.to_string())
    }
}

/// Deserializes a whole [`ParamsView`].
pub(super) struct PathDeserializer<'de> {
    params: ParamsView<'de>,
}

impl<'de> PathDeserializer<'de> {
    pub(super) fn new(params: ParamsView<'de>) -> Self {
        Self { params }
    }

    /// The one value that a primitive target needs.
    fn single(&self) -> Result<ValueDeserializer<'de>, Error> {
        if self.params.len() != 1 {
            return Err(Error::WrongCount {
                expected: 1,
                got: self.params.len(),
            });
        }
        let (name, value) = self.params.get(0);
        Ok(ValueDeserializer { name, value })
    }

    fn exactly(&self, expected: usize) -> Result<(), Error> {
        match self.params.len() {
            got if got == expected => Ok(()),
            got => Err(Error::WrongCount { expected, got }),
        }
    }
}

macro_rules! single_value {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for PathDeserializer<'de> {
    type Error = Error;

    single_value! {
        deserialize_bool deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_identifier
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.params.len() == 0 {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Params::new(self.params))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.exactly(len)?;
        visitor.visit_seq(Params::new(self.params))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Params::new(self.params))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// Walks the parameters as a sequence of values or a map of name to value.
struct Params<'de> {
    params: ParamsView<'de>,
    next: usize,
}

impl<'de> Params<'de> {
    fn new(params: ParamsView<'de>) -> Self {
        Self { params, next: 0 }
    }

    fn advance(&mut self) -> Option<ValueDeserializer<'de>> {
        if self.next == self.params.len() {
            return None;
        }
        let (name, value) = self.params.get(self.next);
        self.next += 1;
        Some(ValueDeserializer { name, value })
    }

    fn remaining(&self) -> usize {
        self.params.len() - self.next
    }
}

impl<'de> de::SeqAccess<'de> for Params<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.advance()
            .map(|value| seed.deserialize(value))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining())
    }
}

impl<'de> de::MapAccess<'de> for Params<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.next == self.params.len() {
            return Ok(None);
        }
        let (name, _) = self.params.get(self.next);
        seed.deserialize(BorrowedStrDeserializer::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .advance()
            .expect("serde calls next_value_seed only after a key");
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining())
    }
}

/// Deserializes one parameter's value.
struct ValueDeserializer<'de> {
    name: &'de str,
    value: &'de str,
}

impl ValueDeserializer<'_> {
    fn invalid(&self, message: String) -> Error {
        Error::Param {
            name: self.name.to_owned(),
            message,
        }
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident($ty:ty), $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value.parse::<$ty>() {
                Ok(parsed) => visitor.$visit::<Error>(parsed).map_err(|e| e.in_param(self.name)),
                Err(_) => Err(self.invalid(format!("expected {}, got {:?}", $what, self.value))),
            }
        }
    )*};
}

macro_rules! parse_int {
    ($($method:ident => $visit:ident($ty:ty), $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value.parse::<$ty>() {
                Ok(parsed) => visitor.$visit::<Error>(parsed).map_err(|e| e.in_param(self.name)),
                Err(e) => Err(self.invalid(match e.kind() {
                    IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => format!(
                        "expected {} that fits in {}, got {:?}",
                        $what,
                        stringify!($ty),
                        self.value,
                    ),
                    _ => format!("expected {}, got {:?}", $what, self.value),
                })),
            }
        }
    )*};
}

macro_rules! unsupported {
    ($what:literal => $($method:ident($($arg:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _visitor: V) -> Result<V::Value, Error> {
            Err(Error::Unsupported($what))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = Error;

    parse_int! {
        deserialize_u8 => visit_u8(u8), "an unsigned integer";
        deserialize_u16 => visit_u16(u16), "an unsigned integer";
        deserialize_u32 => visit_u32(u32), "an unsigned integer";
        deserialize_u64 => visit_u64(u64), "an unsigned integer";
        deserialize_u128 => visit_u128(u128), "an unsigned integer";
        deserialize_i8 => visit_i8(i8), "an integer";
        deserialize_i16 => visit_i16(i16), "an integer";
        deserialize_i32 => visit_i32(i32), "an integer";
        deserialize_i64 => visit_i64(i64), "an integer";
        deserialize_i128 => visit_i128(i128), "an integer";
    }

    parse_value! {
        deserialize_f32 => visit_f32(f32), "a number";
        deserialize_f64 => visit_f64(f64), "a number";
        deserialize_bool => visit_bool(bool), "`true` or `false`";
        deserialize_char => visit_char(char), "a single character";
    }

    unsupported! {
        "a sequence or map inside one path parameter" =>
        deserialize_seq()
        deserialize_map()
        deserialize_tuple(usize)
        deserialize_tuple_struct(&'static str, usize)
        deserialize_struct(&'static str, &'static [&'static str])
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor
            .visit_borrowed_str::<Error>(self.value)
            .map_err(|e| e.in_param(self.name))
    }

    forward_to_deserialize_any! { str string identifier }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor
            .visit_borrowed_bytes::<Error>(self.value.as_bytes())
            .map_err(|e| e.in_param(self.name))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let name = self.name;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.in_param(name))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Only unit variants can be spelled in one segment.
        visitor
            .visit_enum(BorrowedStrDeserializer::<Error>::new(self.value))
            .map_err(|e| e.in_param(self.name))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}
