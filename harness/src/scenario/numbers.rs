//! The integer keys of scenario files, read with errors that name the key
//! and state what it counts. serde-saphyr's own error for an integer key,
//! such as `invalid i64` for `unit_amount: abc`, names neither.
//!
//! Each key has a function for `#[serde(deserialize_with)]`, named after
//! the key. Every error is `custom`, because serde-saphyr 2.2 puts the
//! caret of a custom error on the value, and that of `invalid_type` on the
//! enclosing step.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// The kind of quantity that a key's number counts.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    /// Money in the currency's smallest unit, such as cents.
    Amount,
    /// A count, an attempt number or another whole number.
    WholeNumber,
}

/// The integer types of scenario keys, with their range for messages.
trait Integer: TryFrom<i64> + TryFrom<u64> + fmt::Display {
    const MIN: Self;
    const MAX: Self;
}

impl Integer for i64 {
    const MIN: i64 = i64::MIN;
    const MAX: i64 = i64::MAX;
}

impl Integer for u32 {
    const MIN: u32 = u32::MIN;
    const MAX: u32 = u32::MAX;
}

impl Integer for u64 {
    const MIN: u64 = u64::MIN;
    const MAX: u64 = u64::MAX;
}

struct IntegerVisitor<T> {
    key: &'static str,
    meaning: Meaning,
    target: PhantomData<T>,
}

impl<T: Integer> IntegerVisitor<T> {
    /// Describes the values the key takes.
    fn expected(&self) -> String {
        match self.meaning {
            Meaning::Amount => {
                "an integer number of the smallest currency unit, such as 2500 for 25.00 USD"
                    .to_owned()
            }
            Meaning::WholeNumber => format!("a whole number from {} to {}", T::MIN, T::MAX),
        }
    }

    /// Builds the error for `found`, the value as the message shows it.
    fn invalid<E: de::Error>(&self, found: &str) -> E {
        E::custom(format!(
            "invalid `{}` {found}, expected {}",
            self.key,
            self.expected()
        ))
    }
}

impl<'de, T: Integer> Visitor<'de> for IntegerVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.expected())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<T>, E> {
        T::try_from(value)
            .map(Some)
            .map_err(|_| self.invalid(&value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Option<T>, E> {
        T::try_from(value)
            .map(Some)
            .map_err(|_| self.invalid(&value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Option<T>, E> {
        Err(self.invalid(&value.to_string()))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Option<T>, E> {
        Err(self.invalid(&value.to_string()))
    }

    /// Takes a number in quotes, as serde-saphyr reads one for an integer
    /// type.
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Option<T>, E> {
        let trimmed = value.trim();
        if let Ok(number) = trimmed.parse::<i64>() {
            return self.visit_i64(number);
        }
        if let Ok(number) = trimmed.parse::<u64>() {
            return self.visit_u64(number);
        }
        let quoted = crate::diagnostic::shorten(value);
        Err(self.invalid(&format!("`{quoted}`")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom(format!(
            "`{}` cannot be a list, expected {}",
            self.key,
            self.expected()
        )))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom(format!(
            "`{}` cannot be a map, expected {}",
            self.key,
            self.expected()
        )))
    }
}

fn read<'de, D: Deserializer<'de>, T: Integer>(
    deserializer: D,
    key: &'static str,
    meaning: Meaning,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(IntegerVisitor {
        key,
        meaning,
        target: PhantomData,
    })
}

/// Declares the reading function of each integer key.
macro_rules! integer_keys {
    ($($key:ident: $type:ty, $meaning:ident;)*) => {
        $(
            pub(crate) fn $key<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<$type>, D::Error> {
                read(deserializer, stringify!($key), Meaning::$meaning)
            }
        )*
    };
}

integer_keys! {
    unit_amount: i64, Amount;
    amount: i64, Amount;
    amount_total: i64, Amount;
    quantity: u32, WholeNumber;
    attempt: u32, WholeNumber;
    copies: u32, WholeNumber;
    fulfilments: u64, WholeNumber;
    max_sessions_per_order: u32, WholeNumber;
    count: u32, WholeNumber;
    min: u32, WholeNumber;
    max: u32, WholeNumber;
}
