//! Contact data: addresses, locale and the other things a customer tells the shop about
//! themselves. Email addresses, phone numbers and push tokens are personal data: their `Debug`
//! output is redacted, and validation errors describe the rule without echoing the value.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A messaging channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a contact detail was refused: the rule it broke, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("is longer than 254 characters ({EMAIL_RULE})")]
    EmailTooLong,
    #[error("has no @ ({EMAIL_RULE})")]
    EmailWithoutAt,
    #[error("has an invalid part before the @ ({EMAIL_RULE})")]
    EmailLocalPart,
    #[error("has an invalid domain ({EMAIL_RULE})")]
    EmailDomain,
    #[error("does not start with + and a country code ({PHONE_RULE})")]
    PhoneWithoutCountryCode,
    #[error("contains characters other than digits ({PHONE_RULE})")]
    PhoneNotDigits,
    #[error("has {0} digits ({PHONE_RULE})")]
    PhoneLength(usize),
    #[error("is not an IANA time zone name (expected e.g. \"Europe/Berlin\")")]
    TimeZone,
    #[error("must be an ISO 3166-1 alpha-2 code in capitals, e.g. \"DE\"")]
    Country,
    #[error("must be a BCP 47 language tag, e.g. \"en-US\"")]
    Locale,
    #[error("{BIRTHDAY_RULE}")]
    BirthdayFormat,
    #[error("is not a real calendar date ({BIRTHDAY_RULE})")]
    BirthdayDate,
    #[error("has a year before 1900")]
    BirthdayYear,
    #[error("{0}")]
    FirstName(crate::validate::TextError),
    #[error("must be a device token of 1 to 4096 characters without whitespace")]
    DeviceToken,
}

const EMAIL_RULE: &str = "must be an email address like name@shop.example";
const PHONE_RULE: &str = "must be an E.164 phone number like +14155550123";
const BIRTHDAY_RULE: &str = "must be a date \"YYYY-MM-DD\" or a day \"MM-DD\"";

/// Implements the string-backed plumbing shared by the contact newtypes: serde through a
/// validating constructor, `as_str`, and a JSON schema.
macro_rules! validated_string {
    ($name:ident, $parse:path, $schema:tt) => {
        impl TryFrom<String> for $name {
            type Error = ContactError;
            fn try_from(value: String) -> Result<Self, ContactError> {
                $parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// An email address, syntactically checked; the domain is lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        if s.len() > 254 {
            return Err(ContactError::EmailTooLong);
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(ContactError::EmailWithoutAt);
        };
        let bad = |c: char| c.is_whitespace() || c.is_control();
        if local.is_empty() || local.len() > 64 || local.chars().any(bad) {
            return Err(ContactError::EmailLocalPart);
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && !l.chars().any(|c| bad(c) || c == '@')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(ContactError::EmailDomain);
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The domain, for deliverability grouping; not personal on its own.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

validated_string!(Email, Email::parse, {"type": "string", "format": "email", "maxLength": 254, "description": "Email address."});

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email(<redacted>@{})", self.domain())
    }
}

/// A phone number in E.164 form (`+` and 8 to 15 digits); spaces, dots, dashes and brackets in
/// the input are dropped.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err(ContactError::PhoneWithoutCountryCode);
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ContactError::PhoneNotDigits);
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(ContactError::PhoneLength(digits.len()));
        }
        Ok(Phone(compact))
    }

    /// The country calling code's first digit is enough to route rules by region without
    /// exposing the number.
    pub fn redacted(&self) -> String {
        format!("+{}…", &self.0[1..2])
    }
}

validated_string!(Phone, Phone::parse, {"type": "string", "pattern": "^\\+?[0-9 ().-]{8,24}$", "description": "Phone number in E.164 form, e.g. +14155550123."});

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.redacted())
    }
}

/// An IANA time zone such as `Europe/Berlin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        chrono_tz::Tz::from_str(s).map(TimeZone).map_err(|_| ContactError::TimeZone)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl TryFrom<String> for TimeZone {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, ContactError> {
        TimeZone::parse(&value)
    }
}

impl From<TimeZone> for String {
    fn from(value: TimeZone) -> String {
        value.0.name().to_string()
    }
}

impl JsonSchema for TimeZone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "IANA time zone name, e.g. \"America/New_York\"."})
    }
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

impl Country {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Country(s.to_string()))
        } else {
            Err(ContactError::Country)
        }
    }
}

validated_string!(Country, Country::parse, {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2 country code."});

/// A BCP 47 language tag such as `en`, `en-US` or `zh-Hant-TW`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        let mut parts = s.split(['-', '_']);
        let lang_ok =
            parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
        let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if lang_ok && rest_ok && s.len() <= 35 { Ok(Locale(s.replace('_', "-"))) } else { Err(ContactError::Locale) }
    }
}

validated_string!(Locale, Locale::parse, {"type": "string", "pattern": "^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", "description": "BCP 47 language tag, e.g. \"en-US\"."});

/// A birthday: month and day, and the year if the customer gave it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Birthday {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
}

impl Birthday {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        let rule = ContactError::BirthdayFormat;
        let nums: Vec<&str> = s.split('-').collect();
        let num = |t: &str, len: usize| (t.len() == len).then(|| t.parse::<u32>().ok()).flatten();
        let (year, month, day) = match nums.as_slice() {
            [y, m, d] => (
                Some(num(y, 4).ok_or(rule.clone())? as i32),
                num(m, 2).ok_or(rule.clone())?,
                num(d, 2).ok_or(rule.clone())?,
            ),
            [m, d] => (None, num(m, 2).ok_or(rule.clone())?, num(d, 2).ok_or(rule.clone())?),
            _ => return Err(rule),
        };
        // 2000 is a leap year, so 02-29 without a year is accepted.
        if NaiveDate::from_ymd_opt(year.unwrap_or(2000), month, day).is_none() {
            return Err(ContactError::BirthdayDate);
        }
        if year.is_some_and(|y| y < 1900) {
            return Err(ContactError::BirthdayYear);
        }
        Ok(Birthday { year, month, day })
    }
}

impl Birthday {
    /// Whether `on` is the birthday; 29 February is kept on 28 February in other years.
    pub fn falls_on(&self, on: NaiveDate) -> bool {
        use chrono::Datelike;
        let leap = NaiveDate::from_ymd_opt(on.year(), 2, 29).is_some();
        if self.month == 2 && self.day == 29 && !leap {
            return on.month() == 2 && on.day() == 28;
        }
        on.month() == self.month && on.day() == self.day
    }
}

impl fmt::Debug for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Birthday(<redacted>)")
    }
}

impl TryFrom<String> for Birthday {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, ContactError> {
        Birthday::parse(&value)
    }
}

impl From<Birthday> for String {
    fn from(b: Birthday) -> String {
        match b.year {
            Some(y) => format!("{y:04}-{:02}-{:02}", b.month, b.day),
            None => format!("{:02}-{:02}", b.month, b.day),
        }
    }
}

impl JsonSchema for Birthday {
    fn schema_name() -> Cow<'static, str> {
        "Birthday".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^([0-9]{4}-)?[0-9]{2}-[0-9]{2}$", "description": "Birthday, \"YYYY-MM-DD\" or \"MM-DD\"."})
    }
}

/// A first name, for salutations.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FirstName(String);

impl FirstName {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        crate::validate::TextRule { min: 1, max: 100, inner_space: true }
            .check(s)
            .map(|()| FirstName(s.to_string()))
            .map_err(ContactError::FirstName)
    }
}

validated_string!(FirstName, FirstName::parse, {"type": "string", "minLength": 1, "maxLength": 100, "description": "First name, for salutations."});

impl fmt::Debug for FirstName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FirstName(<redacted>)")
    }
}

/// A push platform reachable through SNS platform endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    Apns,
    ApnsSandbox,
    Fcm,
}

/// A device token for push messages.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushToken {
    pub platform: PushPlatform,
    pub token: DeviceToken,
}

impl fmt::Debug for PushToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PushToken({:?}, <redacted>)", self.platform)
    }
}

/// The opaque token a push platform issued for one app install.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceToken(String);

impl DeviceToken {
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ContactError::DeviceToken);
        }
        Ok(DeviceToken(s.to_string()))
    }
}

validated_string!(DeviceToken, DeviceToken::parse, {"type": "string", "minLength": 1, "maxLength": 4096, "description": "Device token issued by APNs or FCM."});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_never_printed() {
        let e = Email::parse("Ana.Lopez@Example.COM").unwrap();
        assert_eq!(e.as_str(), "Ana.Lopez@example.com");
        assert_eq!(format!("{e:?}"), "Email(<redacted>@example.com)");
        for bad in ["ana", "@example.com", "ana@", "ana@example", "a b@example.com", "ana@exa..mple.com"] {
            let err = Email::parse(bad).unwrap_err().to_string();
            assert!(!err.contains(bad), "error echoes the value: {err}");
        }
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        let p = Phone::parse("+1 (415) 555-0123").unwrap();
        assert_eq!(p.as_str(), "+14155550123");
        assert_eq!(format!("{p:?}"), "Phone(+1…)");
        assert!(Phone::parse("4155550123").is_err());
        assert!(Phone::parse("+1415555012a").is_err());
        assert!(Phone::parse("+123").is_err());
        assert!(Phone::parse("+0123456789").is_err());
    }

    #[test]
    fn time_zones_locales_countries_birthdays() {
        assert_eq!(TimeZone::parse("Europe/Berlin").unwrap().tz(), chrono_tz::Europe::Berlin);
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(Locale::parse("en-US").is_ok());
        assert_eq!(Locale::parse("pt_BR").unwrap().as_str(), "pt-BR");
        assert!(Locale::parse("English").is_err());
        assert!(Country::parse("DE").is_ok());
        assert!(Country::parse("de").is_err());
        let b = Birthday::parse("02-29").unwrap();
        assert_eq!((b.year, b.month, b.day), (None, 2, 29));
        assert_eq!(String::from(Birthday::parse("1990-07-04").unwrap()), "1990-07-04");
        assert!(Birthday::parse("1990-02-30").is_err());
        assert!(Birthday::parse("13-01").is_err());
        assert!(Birthday::parse("1990-7-4").is_err());
    }
}
