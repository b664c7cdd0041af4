//! Compact text encodings for values stored on every write.
//!
//! DynamoDB bills writes per started kilobyte of the whole item, and the items ingest rewrites on
//! every event hold lists of numbers (attention per hour, recently seen event ids). As JSON
//! numbers in a list, each costs two or three times its information; packed into one string of
//! base-64 digits, it costs what it carries. Only the alphabet below is used, so a packed string
//! is always valid UTF-8, one byte per digit.

const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn digit_value(c: u8) -> Option<u64> {
    match c {
        b'A'..=b'Z' => Some(u64::from(c - b'A')),
        b'a'..=b'z' => Some(u64::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u64::from(c - b'0') + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// A packed string that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packed value {what}: {problem}")]
pub struct PackError {
    pub what: &'static str,
    pub problem: String,
}

/// Appends `value` as exactly `width` base-64 digits (its low `6 × width` bits).
pub fn push_fixed(out: &mut String, value: u64, width: usize) {
    for i in (0..width).rev() {
        out.push(char::from(DIGITS[((value >> (6 * i)) & 63) as usize]));
    }
}

/// Reads `width` base-64 digits from the front of `text`.
pub fn take_fixed(text: &mut &[u8], width: usize, what: &'static str) -> Result<u64, PackError> {
    if text.len() < width {
        return Err(PackError { what, problem: format!("ends early (expected {width} more digits)") });
    }
    let (head, rest) = text.split_at(width);
    let mut value = 0_u64;
    for &c in head {
        let d = digit_value(c).ok_or_else(|| PackError {
            what,
            problem: format!("has a character {c:#04x} that is not a base-64 digit"),
        })?;
        value = (value << 6) | d;
    }
    *text = rest;
    Ok(value)
}

/// A positive quantity as three digits: its base-2 logarithm in steps of 1/2048 over
/// 2^-32 … 2^96, so a stored value is within 0.017% of the true one. Zero and anything below
/// the range is 0.
pub fn log_quantize(x: f64) -> u64 {
    if !(x.is_finite() && x > 0.0) {
        return 0;
    }
    ((x.log2() + 32.0) * 2048.0).round().clamp(0.0, f64::from((1 << 18) - 1)) as u64
}

pub fn log_dequantize(q: u64) -> f64 {
    if q == 0 { 0.0 } else { (q as f64 / 2048.0 - 32.0).exp2() }
}

/// A list of positive quantities (a posterior's 168 hourly parameters) as three digits each
/// ([`log_quantize`]): 504 bytes in one string instead of about 1,000 as a list of numbers, and
/// one value to decode instead of 168.
pub mod packed_positives {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(values.len() * 3);
        for v in values {
            super::push_fixed(&mut text, super::log_quantize(*v), 3);
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let text = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        if text.len() % 3 != 0 {
            return Err(serde::de::Error::custom("packed values: the length is not a multiple of 3"));
        }
        let mut bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len() / 3);
        while !bytes.is_empty() {
            let q = super::take_fixed(&mut bytes, 3, "positive values").map_err(serde::de::Error::custom)?;
            out.push(super::log_dequantize(q));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fixed_digits_round_trip(value in any::<u64>(), width in 1_usize..=10) {
            let mut s = String::new();
            push_fixed(&mut s, value, width);
            prop_assert_eq!(s.len(), width);
            let mut bytes = s.as_bytes();
            let back = take_fixed(&mut bytes, width, "test").unwrap();
            let mask = if width >= 11 { u64::MAX } else { (1_u64 << (6 * width)) - 1 };
            prop_assert_eq!(back, value & mask);
            prop_assert!(bytes.is_empty());
        }

        #[test]
        fn quantized_values_are_within_a_tiny_relative_error(x in 1e-9_f64..1e25) {
            let back = log_dequantize(log_quantize(x));
            prop_assert!((back - x).abs() <= 2e-4 * x, "{} became {}", x, back);
            // Quantizing a quantized value changes nothing: untouched entries never drift.
            prop_assert_eq!(log_quantize(back), log_quantize(x));
        }
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        let mut short: &[u8] = b"AB";
        assert!(take_fixed(&mut short, 3, "x").is_err());
        let mut bad: &[u8] = b"A*B";
        assert!(take_fixed(&mut bad, 3, "x").unwrap_err().problem.contains("not a base-64"));
        assert_eq!(log_quantize(0.0), 0);
        assert_eq!(log_quantize(f64::NAN), 0);
        assert_eq!(log_dequantize(0), 0.0);
    }
}

/// Serializes a type as the text its `packed(&self) -> String` writes, and deserializes it
/// through its `TryFrom<String>` (whose error, a [`PackError`], becomes the decode error).
macro_rules! serde_as_packed_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.packed())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                <$t>::try_from(text).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_packed_text;

/// Instants as unix seconds (a number of ten digits, six bytes in DynamoDB) rather than RFC 3339
/// text (twenty-five).
pub mod unix_secs {
    use chrono::{DateTime, TimeZone, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let secs = i64::deserialize(d)?;
        Utc.timestamp_opt(secs, 0).single().ok_or_else(|| serde::de::Error::custom("is not a representable instant"))
    }
}

/// [`unix_secs`] for optional instants (use with `default` and `skip_serializing_if`).
pub mod unix_secs_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_i64(t.timestamp()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::unix_secs")] DateTime<Utc>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Separates records in a packed list (ASCII record separator; no validated text contains it).
pub const RECORD: char = '\u{1e}';
/// Separates the fields of a packed record (ASCII unit separator; likewise).
pub const FIELD: char = '\u{1f}';

/// A value that packs into one record of a packed list: fields joined by [`FIELD`]. Texts
/// packed this way must be ones that cannot contain control characters (validated ids).
pub trait Packed: Sized {
    fn pack(&self, out: &mut String);
    fn unpack(fields: &mut Pieces<'_>) -> Result<Self, PackError>;
}

/// The pieces of a text between occurrences of an ASCII separator (as `str::split`, but a plain
/// byte scan: packed lists are read on every event).
pub struct Pieces<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> Pieces<'a> {
    pub fn new(text: &'a str, separator: char) -> Self {
        debug_assert!(separator.is_ascii());
        Pieces { rest: Some(text), separator: separator as u8 }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == self.separator) {
            // The separator is ASCII, so both sides of it are whole characters.
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The next field of a record, or an error naming `what` is missing.
pub fn field<'a>(fields: &mut Pieces<'a>, what: &'static str) -> Result<&'a str, PackError> {
    fields.next().ok_or_else(|| PackError { what, problem: "has too few fields".into() })
}

/// An instant in unix seconds as six base-64 digits, from a field.
pub fn unpack_secs(text: &str, what: &'static str) -> Result<i64, PackError> {
    let mut bytes = text.as_bytes();
    let secs = take_fixed(&mut bytes, 6, what)?;
    if !bytes.is_empty() {
        return Err(PackError { what, problem: "has a time field of the wrong length".into() });
    }
    Ok(secs as i64)
}

pub fn pack_list<T: Packed>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(RECORD);
        }
        item.pack(&mut out);
    }
    out
}

pub fn unpack_list<T: Packed>(text: &str) -> Result<Vec<T>, PackError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    Pieces::new(text, RECORD).map(|record| T::unpack(&mut Pieces::new(record, FIELD))).collect()
}

/// A list stored as one packed string (see [`Packed`]).
pub mod packed_list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: super::Packed>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::pack_list(items))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: super::Packed>(d: D) -> Result<Vec<T>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::unpack_list(&text).map_err(serde::de::Error::custom)
    }
}
