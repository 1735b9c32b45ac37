//! The integer keys of scenario files, read with errors that name the key
//! and state what it counts. serde-saphyr's own error for an integer key,
//! such as `invalid i64` for `unit_amount: abc`, names neither.
//!
//! Each key has a function for `#[serde(deserialize_with)]`, named after
//! the key. Every error is `custom`, because serde-saphyr 2.2 puts the
//! caret of a custom error on the value, and that of `invalid_type` on the
//! enclosing step.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

/// The kind of quantity that a key's number counts.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    /// Money in the currency's smallest unit, such as cents.
    Amount,
    /// A count, an attempt number or another whole number.
    WholeNumber,
    /// The format version of the file. The loader rejects every number
    /// but 1 with its own message.
    Version,
}

/// The integer types of scenario keys, with their range for messages.
trait Integer: TryFrom<i64> + TryFrom<u64> + fmt::Display + PartialOrd + Copy {
    const MIN: Self;
    const MAX: Self;
    const ZERO: Self;
}

impl Integer for i64 {
    const MIN: i64 = i64::MIN;
    const MAX: i64 = i64::MAX;
    const ZERO: i64 = 0;
}

impl Integer for u32 {
    const MIN: u32 = u32::MIN;
    const MAX: u32 = u32::MAX;
    const ZERO: u32 = 0;
}

impl Integer for u64 {
    const MIN: u64 = u64::MIN;
    const MAX: u64 = u64::MAX;
    const ZERO: u64 = 0;
}

/// An integer key: its name, what its number counts and the values it
/// takes.
#[derive(Debug, Clone, Copy)]
struct Spec<T> {
    key: &'static str,
    meaning: Meaning,
    min: T,
    max: T,
    /// Whether null is an error. Otherwise null reads as the key left out.
    required: bool,
    /// Whether 0 passes although `min` is 1, because the loader rejects it
    /// with a message and help of its own. Messages still state `min`.
    zero_left_to_loader: bool,
}

impl<T: Integer> Spec<T> {
    /// Describes a key that takes every value of `T` and may be null.
    const fn new(key: &'static str, meaning: Meaning) -> Spec<T> {
        Spec {
            key,
            meaning,
            min: T::MIN,
            max: T::MAX,
            required: false,
            zero_left_to_loader: false,
        }
    }

    const fn range(self, min: T, max: T) -> Spec<T> {
        Spec { min, max, ..self }
    }

    const fn zero_left_to_loader(self) -> Spec<T> {
        Spec {
            zero_left_to_loader: true,
            ..self
        }
    }

    const fn required(self) -> Spec<T> {
        Spec {
            required: true,
            ..self
        }
    }

    /// Describes the values the key takes.
    fn expected(&self) -> String {
        match self.meaning {
            Meaning::Amount => {
                "an integer number of the smallest currency unit, such as 2500 for 25.00 USD"
                    .to_owned()
            }
            Meaning::WholeNumber => format!("a whole number from {} to {}", self.min, self.max),
            Meaning::Version => "1".to_owned(),
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

    /// Builds the error for a required key written without a value, such
    /// as `seed: ~` or `seed:`.
    fn no_value<E: de::Error>(&self) -> E {
        E::custom(format!(
            "`{}` has no value, expected {}",
            self.key,
            self.expected()
        ))
    }

    /// Returns `number` when it fits `T` and the key's range.
    fn check<N: fmt::Display, E: de::Error>(&self, number: N) -> Result<T, E>
    where
        T: TryFrom<N>,
    {
        let text = number.to_string();
        match T::try_from(number) {
            Ok(value) if self.min <= value && value <= self.max => Ok(value),
            Ok(value) if self.zero_left_to_loader && value == T::ZERO => Ok(value),
            _ => Err(self.invalid(&text)),
        }
    }
}

struct IntegerVisitor<T> {
    spec: Spec<T>,
}

impl<'de, T: Integer> Visitor<'de> for IntegerVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.spec.key, self.spec.expected())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<T>, E> {
        self.spec.check(value).map(Some)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Option<T>, E> {
        self.spec.check(value).map(Some)
    }

    /// Rejects a decimal, and an integer too large for 64 bits, which the
    /// YAML parser reads as a decimal. The message shows it as one, so
    /// `1.0` does not read as the integer 1.
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Option<T>, E> {
        if value.is_infinite() {
            return Err(E::custom(format!(
                "invalid `{}`: the number is infinite or beyond the range of a 64-bit float, expected {}",
                self.spec.key,
                self.spec.expected()
            )));
        }
        let text = if value.fract() != 0.0 || !value.is_finite() {
            value.to_string()
        } else if value.abs() < 1e15 {
            format!("{value:.1}")
        } else {
            format!("about {value:e}")
        };
        Err(self.spec.invalid(&text))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Option<T>, E> {
        Err(self.spec.invalid(&value.to_string()))
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
        Err(self.spec.invalid(&format!("`{quoted}`")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        if self.spec.required {
            return Err(self.spec.no_value());
        }
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom(format!(
            "`{}` cannot be a list, expected {}",
            self.spec.key,
            self.spec.expected()
        )))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom(format!(
            "`{}` cannot be a map, expected {}",
            self.spec.key,
            self.spec.expected()
        )))
    }
}

fn read<'de, D: Deserializer<'de>, T: Integer>(
    deserializer: D,
    spec: Spec<T>,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(IntegerVisitor { spec })
}

/// A key whose number the loader checks against other keys, so it keeps
/// its location in the file for the loader's errors.
trait SpannedKey {
    type Int: Integer;
    const SPEC: Spec<Self::Int>;
}

/// The number of a [`SpannedKey`], read with the key's own errors.
struct KeyNumber<K: SpannedKey>(Option<K::Int>);

impl<'de, K: SpannedKey> Deserialize<'de> for KeyNumber<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer, K::SPEC).map(KeyNumber)
    }
}

fn read_spanned<'de, D: Deserializer<'de>, K: SpannedKey>(
    deserializer: D,
) -> Result<Option<Spanned<K::Int>>, D::Error> {
    let number = Spanned::<KeyNumber<K>>::deserialize(deserializer)?;
    Ok(number
        .value
        .0
        .map(|value| Spanned::new(value, number.referenced, number.defined)))
}

/// Declares the reading function of each integer key. A key given a
/// range, such as `1..=20`, rejects a number outside it. A `spanned` key
/// returns its number with its location in the file, and one marked
/// `zero_left_to_loader` passes 0 on for the loader's own error.
macro_rules! integer_keys {
    () => {};
    ($key:ident: $type:ty, $meaning:ident $(, $min:literal ..= $max:literal)?; $($rest:tt)*) => {
        pub(crate) fn $key<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<$type>, D::Error> {
            let spec = Spec::<$type>::new(stringify!($key), Meaning::$meaning)
                $(.range($min, $max))?;
            read(deserializer, spec)
        }
        integer_keys!($($rest)*);
    };
    (
        $key:ident: spanned $type:ty, $meaning:ident
        $(, $min:literal ..= $max:expr)? $(, $zero:ident)?;
        $($rest:tt)*
    ) => {
        pub(crate) fn $key<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Spanned<$type>>, D::Error> {
            struct Key;
            impl SpannedKey for Key {
                type Int = $type;
                const SPEC: Spec<$type> = Spec::new(stringify!($key), Meaning::$meaning)
                    $(.range($min, $max))? $(.$zero())?;
            }
            read_spanned::<D, Key>(deserializer)
        }
        integer_keys!($($rest)*);
    };
}

integer_keys! {
    unit_amount: spanned i64, Amount;
    amount: i64, Amount;
    amount_total: i64, Amount;
    // The loader reports a quantity or attempt of 0 with a help line.
    quantity: spanned u32, WholeNumber, 1..=u32::MAX, zero_left_to_loader;
    attempt: spanned u32, WholeNumber, 1..=u32::MAX, zero_left_to_loader;
    // The fake's resend call takes 1 to 20 copies.
    copies: u32, WholeNumber, 1..=20;
    fulfilments: u64, WholeNumber;
    max_sessions_per_order: u32, WholeNumber;
    count: spanned u32, WholeNumber;
    min: spanned u32, WholeNumber;
    max: spanned u32, WholeNumber;
}

/// Reads the required `version`, with its location for the loader's check
/// that it is 1.
pub(crate) fn version<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Spanned<u32>, D::Error> {
    struct Key;
    impl SpannedKey for Key {
        type Int = u32;
        const SPEC: Spec<u32> = Spec::new("version", Meaning::Version).required();
    }
    let number = read_spanned::<D, Key>(deserializer)?;
    // A required key's visitor rejects null, so `None` does not reach here.
    number.ok_or_else(|| Key::SPEC.no_value())
}

/// Reads `seed`, which may be left out (`#[serde(default)]`) but not null.
pub(crate) fn seed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let spec = Spec::<u64>::new("seed", Meaning::WholeNumber).required();
    read(deserializer, spec)?.ok_or_else(|| spec.no_value())
}
