//! Money: exact amounts and ISO 4217 currencies.
//!
//! Prices arrive as decimal text (`"19.99"`) or JSON numbers; both are read exactly, digit by
//! digit, never through floating point. Whether an amount suits its currency (no 1.5 JPY) is a
//! validation rule, checked with [`Amount::fits`].
//!
//! An [`Amount`] holds far more than any one price may be ([`MAX_INPUT`], checked when events
//! are parsed): sums of lines and of a lifetime of orders, in any currency (a large order in VND or
//! IDR runs to trillions), are always representable and read back exactly from the store.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// An ISO 4217 alphabetic currency code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Currencies whose minor unit is not the hundredth (ISO 4217 "minor unit" column).
const EXPONENT_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
    "XPF",
];
const EXPONENT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const EXPONENT_4: &[&str] = &["CLF", "UYW"];

/// Text that is not a currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a three-letter ISO 4217 code in capitals, e.g. \"EUR\"")]
pub struct CurrencyError;

impl Currency {
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(CurrencyError);
        }
        Ok(Currency([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn code(&self) -> &str {
        // Constructed only from three ASCII capitals.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Number of decimal digits in one major unit.
    pub fn exponent(&self) -> u32 {
        let code = self.code();
        if EXPONENT_0.contains(&code) {
            0
        } else if EXPONENT_3.contains(&code) {
            3
        } else if EXPONENT_4.contains(&code) {
            4
        } else {
            2
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(value: String) -> Result<Self, CurrencyError> {
        Currency::new(&value)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 currency code, e.g. \"EUR\"."})
    }
}

/// An exact amount in major units, held as millionths so that every price a shop can write (up
/// to six decimals) is represented exactly, whatever its currency. Parsed amounts are never
/// negative; differences (a net after refunds) may be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    micros: i128,
}

const SCALE: u32 = 6;
const MICROS: i128 = 1_000_000;
/// Digits before the decimal point an amount may have: far beyond any sum of orders, and well
/// inside what the representation holds (about 1.7 × 10^32 major units).
const MAX_WHOLE_DIGITS: usize = 30;

/// The largest amount one price, total or refund in an event may be: a trillion major units.
pub const MAX_INPUT: Amount = Amount { micros: 1_000_000_000_000 * MICROS };

/// Text that is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("is not a plain decimal number (expected a non-negative decimal such as \"19.99\")")]
    NotDecimal,
    #[error("ends with a decimal point (expected a non-negative decimal such as \"19.99\")")]
    TrailingPoint,
    #[error("has more than {SCALE} decimals")]
    TooManyDecimals,
    #[error("has more than {MAX_WHOLE_DIGITS} digits before the decimal point")]
    TooLong,
    #[error("must be a finite non-negative number")]
    NotFinite,
}

impl Amount {
    pub const ZERO: Amount = Amount { micros: 0 };

    pub fn from_micros(micros: i128) -> Self {
        Amount { micros }
    }

    pub fn micros(&self) -> i128 {
        self.micros
    }

    /// Parses exact decimal text (non-negative, at most six decimals).
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotDecimal);
        }
        if text.ends_with('.') {
            return Err(AmountError::TrailingPoint);
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() as u32 > SCALE {
            return Err(AmountError::TooManyDecimals);
        }
        let int = int.trim_start_matches('0');
        if int.len() > MAX_WHOLE_DIGITS {
            return Err(AmountError::TooLong);
        }
        // At most 30 + 6 digits: always inside i128.
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| AmountError::TooLong)? };
        let frac_micros: i128 = if frac.is_empty() {
            0
        } else {
            frac.parse::<i128>().map_err(|_| AmountError::NotDecimal)? * 10_i128.pow(SCALE - frac.len() as u32)
        };
        Ok(Amount { micros: whole * MICROS + frac_micros })
    }

    /// Whether the amount is a whole number of `currency`'s minor units (no 1.5 JPY).
    pub fn fits(&self, currency: Currency) -> bool {
        self.micros % 10_i128.pow(SCALE - currency.exponent().min(SCALE)) == 0
    }

    /// Decimals actually used, for error messages.
    pub fn decimals(&self) -> u32 {
        let mut frac = self.micros % MICROS;
        if frac == 0 {
            return 0;
        }
        let mut d = SCALE;
        while frac % 10 == 0 {
            frac /= 10;
            d -= 1;
        }
        d
    }

    pub fn checked_mul(self, n: u32) -> Option<Amount> {
        self.micros.checked_mul(i128::from(n)).map(Amount::from_micros)
    }

    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount::from_micros(self.micros.saturating_add(other.micros))
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount::from_micros(self.micros.saturating_sub(other.micros))
    }

    /// In major units, as a float (for models, never for books).
    pub fn to_f64(self) -> f64 {
        self.micros as f64 / MICROS as f64
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.micros < 0 { "-" } else { "" };
        let abs = self.micros.unsigned_abs();
        let (whole, frac) = (abs / MICROS as u128, abs % MICROS as u128);
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative decimal as a string (\"19.99\") or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Amount::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom("must not be negative")),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(E::custom(AmountError::NotFinite));
                }
                // Rust prints the shortest text that reads back as the same f64: for any price
                // of at most 15 significant digits that is the text the producer wrote.
                Amount::parse(&format!("{v}")).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A non-negative amount in major units: a decimal string (preferred, exact) or a number, with no more decimals than the currency has.",
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,6})?$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

/// An amount of one currency. May be negative (a net after refunds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

impl fmt::Display for Money {
    /// With the currency's usual decimals: "148.80 EUR", "1500 JPY".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.amount.to_string();
        let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
        let pad = self.currency.exponent().saturating_sub(decimals as u32) as usize;
        let point = if decimals == 0 && pad > 0 { "." } else { "" };
        write!(f, "{text}{point}{} {}", "0".repeat(pad), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::new(code).unwrap()
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(Amount::parse("19.99").unwrap().micros(), 19_990_000);
        assert_eq!(Amount::parse("19.990").unwrap().micros(), 19_990_000);
        assert_eq!(Amount::parse("0.000001").unwrap().micros(), 1);
        assert!(Amount::parse("1e3").is_err());
        assert!(Amount::parse("1.").is_err());
        assert!(Amount::parse(".5").is_err());
        assert!(Amount::parse("-1").is_err());
        assert_eq!(Amount::parse("0.0000001").unwrap_err(), AmountError::TooManyDecimals);
        assert_eq!(Amount::parse(&"9".repeat(31)).unwrap_err(), AmountError::TooLong);
        // Far past any one price, as sums of orders in currencies without minor units reach.
        let big = Amount::parse("1200000000000").unwrap();
        assert_eq!(big.to_string(), "1200000000000");
        assert!(big > MAX_INPUT);
        assert_eq!(Amount::parse(&"9".repeat(30)).unwrap().to_string(), "9".repeat(30));
    }

    #[test]
    fn amounts_fit_the_currency_minor_unit() {
        assert!(Amount::parse("19.99").unwrap().fits(cur("EUR")));
        assert!(!Amount::parse("19.995").unwrap().fits(cur("EUR")));
        assert!(Amount::parse("1500").unwrap().fits(cur("JPY")));
        assert!(!Amount::parse("1.5").unwrap().fits(cur("JPY")));
        assert!(Amount::parse("1.234").unwrap().fits(cur("KWD")));
        assert_eq!(Amount::parse("1.230").unwrap().decimals(), 2);
    }

    #[test]
    fn json_numbers_are_read_without_float_drift() {
        for (json, micros) in [("0.1", 100_000), ("19.99", 19_990_000), ("42", 42_000_000), ("\"3.05\"", 3_050_000)] {
            let a: Amount = serde_json::from_str(json).unwrap();
            assert_eq!(a.micros(), micros, "{json}");
        }
        assert!(serde_json::from_str::<Amount>("-1").is_err());
        assert!(serde_json::from_str::<Amount>("-0.5").is_err());
    }

    #[test]
    fn amount_round_trips_as_text() {
        let a = Amount::parse("3.05").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"3.05\"");
        assert_eq!(serde_json::from_str::<Amount>("\"3.05\"").unwrap(), a);
        assert_eq!(Amount::parse("7").unwrap().to_string(), "7");
        assert_eq!(Amount::from_micros(-50_000).to_string(), "-0.05");
    }

    #[test]
    fn money_shows_the_currency_decimals() {
        let m = |a: &str, c: &str| Money { amount: Amount::parse(a).unwrap(), currency: cur(c) }.to_string();
        assert_eq!(m("148.8", "EUR"), "148.80 EUR");
        assert_eq!(m("15", "EUR"), "15.00 EUR");
        assert_eq!(m("1500", "JPY"), "1500 JPY");
        assert_eq!(m("1.5", "KWD"), "1.500 KWD");
        assert_eq!(Money { amount: Amount::from_micros(-50_000), currency: cur("EUR") }.to_string(), "-0.05 EUR");
    }

    #[test]
    fn currency_codes_are_checked() {
        assert!(Currency::new("eur").is_err());
        assert!(Currency::new("EURO").is_err());
        assert_eq!(cur("USD").exponent(), 2);
        assert_eq!(cur("JPY").exponent(), 0);
    }
}
