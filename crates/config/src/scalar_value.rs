//! Numbers and booleans of the configuration, written in TOML (`max_records = 500`) or as text
//! (environment overrides are text: `KINESINK_SOURCE__MAX_RECORDS=500`), and names of closed
//! sets (`reader = "efo"`), with type errors worded for users: what was expected and what was
//! given (the key is added by the loader). Written back (by `import-firehose`) as themselves.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserializer, Serialize, Serializer};
use serde_with::{DeserializeAs, SerializeAs};

/// `#[serde_as(as = "ScalarValue")]`: a number or boolean given as itself or as text.
pub(super) struct ScalarValue;

/// A number or boolean type of the configuration.
pub(super) trait ConfigScalar: Sized {
    /// What a value must be, for messages: "a whole number 0..=4294967295", "true or false".
    fn expected() -> String;
    /// From a TOML integer, if it fits.
    fn from_integer(value: i128) -> Option<Self>;
    /// From a TOML boolean.
    fn from_bool(_value: bool) -> Option<Self> {
        None
    }
    /// From text (an environment override, or a quoted TOML string).
    fn from_text(text: &str) -> Option<Self>;
    /// From a TOML float (refused unless the type takes fractions).
    fn from_float(_value: f64) -> Option<Self> {
        None
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl ConfigScalar for $t {
            fn expected() -> String {
                format!("a whole number {}..={}", <$t>::MIN, <$t>::MAX)
            }
            fn from_integer(value: i128) -> Option<Self> {
                <$t>::try_from(value).ok()
            }
            fn from_text(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
        }
    )*};
}
whole_numbers!(u32, u64, usize, i32);

impl ConfigScalar for bool {
    fn expected() -> String {
        "true or false".to_owned()
    }
    fn from_integer(_value: i128) -> Option<Self> {
        None
    }
    fn from_bool(value: bool) -> Option<Self> {
        Some(value)
    }
    fn from_text(text: &str) -> Option<Self> {
        match text.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl<'de, T: ConfigScalar> DeserializeAs<'de, T> for ScalarValue {
    fn deserialize_as<D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

impl<T: ConfigScalar + Serialize> SerializeAs<T> for ScalarValue {
    fn serialize_as<S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }
}

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: ConfigScalar> ScalarVisitor<T> {
    fn refuse<E: de::Error>(given: impl fmt::Display) -> E {
        E::custom(format!("expected {}, got {given}", T::expected()))
    }
}

impl<T: ConfigScalar> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&T::expected())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::from_bool(v).ok_or_else(|| Self::refuse(format!("the boolean {v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_integer(i128::from(v)).ok_or_else(|| Self::refuse(format!("the number {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_integer(i128::from(v)).ok_or_else(|| Self::refuse(format!("the number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::from_float(v).ok_or_else(|| Self::refuse(format!("the number {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_text(v).ok_or_else(|| Self::refuse(format!("the text {v:?}")))
    }
}

/// `#[serde_as(as = "ClosedSet")]`: one name of a closed set (a unit-variant enum). A number or
/// boolean given instead is read as its text, so every refusal is serde's `unknown variant `x`,
/// expected one of ...`, naming the allowed values.
pub(super) struct ClosedSet;

impl<'de, T: DeserializeOwned> DeserializeAs<'de, T> for ClosedSet {
    fn deserialize_as<D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let text = deserializer.deserialize_any(TextVisitor)?;
        T::deserialize(IntoDeserializer::<D::Error>::into_deserializer(text))
    }
}

impl<T: Serialize> SerializeAs<T> for ClosedSet {
    fn serialize_as<S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }
}

/// A name, or a number or boolean as its text; anything else is refused.
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name in quotes")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}
