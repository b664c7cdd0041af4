//! Catalogue events: `product_updated`, the one event type that is about a product rather than
//! a customer (its envelope has no `customer_id`). A new type in schema version 1: producers of
//! the other types change nothing.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::ids::{Category, EventId, ProductId, Source};
use crate::money::{Amount, Currency};
use crate::validate::TextRule;

/// Most levels a category path may have.
pub const MAX_CATEGORY_LEVELS: usize = 8;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// A product was created or changed. The whole product is sent each time (not a patch): the
/// latest `occurred_at` wins, so feeds that arrive out of order still leave the newest state.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "Kairos catalogue event, schema version 1")]
pub struct ProductEvent {
    /// Always 1 for this schema.
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: u32,
    pub id: EventId,
    /// When the product changed, RFC 3339 with a UTC offset.
    #[serde(with = "super::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: DateTime<FixedOffset>,
    pub source: Source,
    #[serde(rename = "type")]
    pub kind: ProductEventType,
    pub data: ProductUpdated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductEventType {
    ProductUpdated,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdated {
    pub product_id: ProductId,
    pub title: Title,
    /// The product page, absolute `https://` (or `http://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<WebUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<WebUrl>,
    /// Current price, with `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// From the root, e.g. ["Shoes", "Running"]; at most 8 levels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub category_path: Vec<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Category>,
    /// True when absent.
    #[serde(default = "yes")]
    pub in_stock: bool,
    /// Free attributes (colour, size, material…): at most 50, names identifiers of at most 64
    /// characters, values strings (at most 256 characters), numbers or booleans.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// A product title: 1 to 300 characters, no surrounding space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub const RULE: TextRule = TextRule { min: 1, max: 300, inner_space: true };

    pub fn new(text: impl Into<String>) -> Result<Self, crate::validate::TextError> {
        let text = text.into();
        Self::RULE.check(&text)?;
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = crate::validate::TextError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Title> for String {
    fn from(value: Title) -> String {
        value.0
    }
}

impl JsonSchema for Title {
    fn schema_name() -> Cow<'static, str> {
        "Title".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "minLength": 1, "maxLength": 300, "pattern": r"^\S(.*\S)?$" })
    }
}

/// An absolute web address: `https://` or `http://`, no spaces, at most 2,048 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebUrl(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(&'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl WebUrl {
    pub fn new(text: impl Into<String>) -> Result<Self, UrlError> {
        let text = text.into();
        let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
        match rest {
            None => Err(UrlError("must be an absolute https:// or http:// address")),
            Some(rest) if !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[') => {
                Err(UrlError("has no host (expected a name or address after the scheme)"))
            }
            Some(_) if text.len() > MAX_URL => Err(UrlError("is longer than 2048 bytes")),
            Some(_) if text.chars().any(|c| c.is_whitespace() || c.is_control() || invisible(c)) => {
                Err(UrlError("contains spaces or control characters (percent-encode them)"))
            }
            Some(_) => Ok(Self(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that print as nothing (zero-width spaces and joiners, the byte-order mark).
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

impl TryFrom<String> for WebUrl {
    type Error = UrlError;
    fn try_from(value: String) -> Result<Self, UrlError> {
        Self::new(value)
    }
}

impl From<WebUrl> for String {
    fn from(value: WebUrl) -> String {
        value.0
    }
}

impl JsonSchema for WebUrl {
    fn schema_name() -> Cow<'static, str> {
        "WebUrl".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "maxLength": MAX_URL, "pattern": r"^https?://[A-Za-z0-9\[][^\s]*$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_web_addresses() {
        assert!(WebUrl::new("https://shop.example/p/1?x=2").is_ok());
        assert!(WebUrl::new("http://shop.example").is_ok());
        for bad in [
            "shop.example/p",
            "ftp://x",
            "https://",
            "https:///p",
            "https://a b",
            "javascript:alert(1)",
            "https://?x",
            "https://#",
            "https://:80",
            "https://\u{200B}",
            "https://shop\u{200B}.example",
        ] {
            assert!(WebUrl::new(bad).is_err(), "{bad}");
        }
        assert!(WebUrl::new(format!("https://x/{}", "a".repeat(3000))).is_err());
    }
}
