//! Identifiers that arrive from outside, validated once at the edge.
//!
//! Each is a newtype over `String` that can only hold a value its [`TextRule`] accepts, so code
//! past the parser never re-checks and keys built from ids are always well-formed.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::validate::{TextError, TextRule};

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $rule:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const RULE: TextRule = $rule;

            pub fn new(value: impl Into<String>) -> Result<Self, TextError> {
                let value = value.into();
                Self::RULE.check(&value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(value: String) -> Result<Self, TextError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let rule = Self::RULE;
                let pattern = if rule.inner_space { r"^\S(.*\S)?$" } else { r"^\S+$" };
                json_schema!({
                    "type": "string",
                    "description": $what,
                    "minLength": rule.min,
                    "maxLength": rule.max,
                    "pattern": pattern,
                })
            }
        }
    };
}

text_newtype!(
    /// The shop's identifier for a customer. Not personal data by contract: use an opaque id,
    /// never an email address.
    CustomerId, TextRule::IDENTIFIER, "The shop's opaque customer identifier (not an email address)."
);
text_newtype!(
    /// Unique id of one event, assigned by the producer; redeliveries carry the same id.
    EventId, TextRule { min: 1, max: 200, inner_space: false }, "Unique event id; a redelivery carries the same id."
);
text_newtype!(ProductId, TextRule::IDENTIFIER, "The shop's product (or variant) identifier.");
text_newtype!(OrderId, TextRule::IDENTIFIER, "The shop's order identifier.");
text_newtype!(RefundId, TextRule::IDENTIFIER, "The shop's refund identifier, unique per refund.");
text_newtype!(MessageId, TextRule { min: 1, max: 200, inner_space: false }, "Identifier of a message Kairos sent.");
text_newtype!(CampaignId, TextRule::IDENTIFIER, "Identifier of a campaign.");
text_newtype!(VariantId, TextRule::IDENTIFIER, "Identifier of one content variant of a campaign.");
text_newtype!(
    /// A name a shop gives a thing it configures: a loyalty program, an earn rule, a tier, a
    /// reward, an offer.
    Ident, TextRule::IDENTIFIER, "An identifier: one word of 1 to 128 characters."
);
text_newtype!(SessionId, TextRule::IDENTIFIER, "Identifier of a site or app session.");
text_newtype!(Category, TextRule::NAME, "Product category name, e.g. \"Shoes\" or \"Home & Garden\".");
text_newtype!(
    Topic,
    TextRule { min: 1, max: 64, inner_space: false },
    "Consent topic, e.g. \"marketing\" or \"newsletter\"."
);
text_newtype!(
    Source,
    TextRule { min: 1, max: 128, inner_space: false },
    "Where the event came from, e.g. \"shopify\", \"web\", \"pos\"."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate_on_deserialize() {
        let ok: CustomerId = serde_json::from_str("\"c-1\"").unwrap();
        assert_eq!(ok.as_str(), "c-1");
        let err = serde_json::from_str::<CustomerId>("\"c 1\"").unwrap_err();
        assert!(err.to_string().contains("whitespace"), "{err}");
        let cat: Category = serde_json::from_str("\"Home & Garden\"").unwrap();
        assert_eq!(cat.to_string(), "Home & Garden");
    }
}
