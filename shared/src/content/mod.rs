//! Personalised content: Liquid templates for email, SMS and push, rendered over a typed context.
//!
//! The context ([`Context`]) is the whole vocabulary a template may use; every field is always
//! present (a missing value is `nil`), so a name that is not in it — a typo — fails to render
//! instead of printing a blank, and `| default:` covers the values a customer may not have.
//! A message whose required part renders empty is not a message: rendering fails with the part.

pub mod build;
pub mod locale;
pub mod push;
pub mod sms;

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An email's parts, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplate {
    pub subject: String,
    /// The line inbox lists show after the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
    pub html: String,
    /// The plain-text part (required: many clients and every filter read it).
    pub text: String,
}

/// An SMS, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplate {
    pub body: String,
    /// Most parts the rendered text may take (each part is billed as one message).
    #[serde(default = "one")]
    pub max_segments: u8,
}

fn one() -> u8 {
    1
}

/// A push notification, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushTemplate {
    pub title: String,
    pub body: String,
    /// Where a tap leads in the app, e.g. `shop://cart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Everything a template can use. Documented field by field in the README.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Context {
    pub customer: CustomerView,
    /// The cart that triggered the message, if any.
    pub cart: Option<CartView>,
    /// The product the message is about (browse abandoned, back in stock, price drop, intent).
    pub product: Option<ProductView>,
    /// Recommended products, best first.
    pub recommendations: Vec<ProductView>,
    pub offer: Option<OfferView>,
    pub shop: ShopView,
    /// Filled by delivery: the one-click unsubscribe link for this message.
    pub unsubscribe_url: String,
    pub preferences_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerView {
    pub first_name: Option<String>,
    /// A locale tag such as `de-DE` (money and dates follow it).
    pub locale: String,
    pub country: Option<String>,
    pub tier: Option<String>,
    pub points: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    pub item_count: u32,
    /// Formatted in the customer's locale, e.g. "€148.80" (missing when a line has no price or
    /// the lines are in different currencies).
    pub total: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CartLine {
    pub product: ProductView,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductView {
    pub id: String,
    /// The catalogue's title, or the id when the catalogue does not know the product yet.
    pub title: String,
    pub url: Option<String>,
    pub image_url: Option<String>,
    /// Formatted in the customer's locale.
    pub price: Option<String>,
    pub brand: Option<String>,
    /// Why it is recommended ("because of Trail runner (yesterday): often chosen next").
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfferView {
    pub code: String,
    /// "10%", "€5.00", "free shipping".
    pub value: String,
    /// The last day the code works, in words and the customer's language.
    pub expires_on: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShopView {
    pub name: String,
    pub postal_address: String,
    pub url: String,
}

/// Why a template cannot be used or a message cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("is not a valid Liquid template: {0}")]
    Syntax(String),
    #[error("{0}")]
    Render(String),
    #[error("renders empty: a message without it is not sent (add `| default:` to what may be missing)")]
    Empty,
}

/// A compiled template.
pub struct Template(liquid::Template);

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Template")
    }
}

fn parser() -> &'static liquid::Parser {
    static PARSER: OnceLock<liquid::Parser> = OnceLock::new();
    // The standard library's tags and filters cannot fail to register.
    PARSER.get_or_init(|| liquid::ParserBuilder::with_stdlib().build().expect("the Liquid standard library"))
}

impl Template {
    pub fn compile(text: &str) -> Result<Template, ContentError> {
        parser().parse(text).map(Template).map_err(|e| ContentError::Syntax(tidy(&e.to_string())))
    }

    /// Renders over `globals` (a [`Context`] made into Liquid values once per message).
    pub fn render(&self, globals: &liquid::Object) -> Result<String, ContentError> {
        self.0.render(globals).map_err(|e| ContentError::Render(tidy(&e.to_string())))
    }

    /// Renders a part a message cannot go without.
    pub fn render_required(&self, globals: &liquid::Object) -> Result<String, ContentError> {
        let text = self.render(globals)?;
        if text.trim().is_empty() { Err(ContentError::Empty) } else { Ok(text) }
    }
}

/// Liquid's errors are multi-line with a backtrace of the template; one line reads better.
fn tidy(message: &str) -> String {
    let mut lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.dedup();
    lines.join("; ").replace("liquid: ", "")
}

impl Context {
    /// The context as Liquid values (once per message, shared by its parts).
    pub fn globals(&self) -> liquid::Object {
        // A context is plain data (strings, numbers, lists, options): it always converts.
        liquid::to_object(self).unwrap_or_default()
    }
}

/// The sample contexts validation renders every template with. The unsubscribe link and postal
/// address are recognisable, so a check can tell whether a rendered message carries them.
pub mod sample {
    use super::*;

    pub const UNSUBSCRIBE_URL: &str = "https://unsubscribe.kairos.invalid/sample";
    pub const POSTAL_ADDRESS: &str = "1 Sample Street, 10115 Sampletown";

    fn product(i: usize) -> ProductView {
        ProductView {
            id: format!("p-{i}"),
            title: format!("Sample product {i}"),
            url: Some(format!("https://shop.example/p/{i}")),
            image_url: Some(format!("https://shop.example/img/{i}.jpg")),
            price: Some("€19.90".into()),
            brand: Some("Acme".into()),
            reason: Some("popular lately".into()),
        }
    }

    /// A customer the shop knows everything about.
    pub fn full() -> Context {
        Context {
            customer: CustomerView {
                first_name: Some("Alex".into()),
                locale: "en-GB".into(),
                country: Some("GB".into()),
                tier: Some("gold".into()),
                points: Some(1250),
            },
            cart: Some(CartView {
                lines: vec![CartLine { product: product(1), quantity: 2 }],
                item_count: 2,
                total: Some("€39.80".into()),
                url: Some("https://shop.example/cart".into()),
            }),
            product: Some(product(2)),
            recommendations: (3..8).map(product).collect(),
            offer: Some(OfferView {
                code: "SAMPLE-10".into(),
                value: "10%".into(),
                expires_on: "3 December 2026".into(),
            }),
            shop: ShopView {
                name: "Sample Shop".into(),
                postal_address: POSTAL_ADDRESS.into(),
                url: "https://shop.example".into(),
            },
            unsubscribe_url: UNSUBSCRIBE_URL.into(),
            preferences_url: "https://preferences.kairos.invalid/sample".into(),
        }
    }

    /// A customer the shop knows almost nothing about: no name, no cart, no recommendations.
    pub fn sparse() -> Context {
        let full = full();
        Context {
            customer: CustomerView { first_name: None, locale: "en".into(), country: None, tier: None, points: None },
            cart: None,
            product: None,
            recommendations: Vec::new(),
            offer: None,
            ..full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_known_names_fail_on_unknown_ones_and_fall_back_with_default() {
        let full = sample::full().globals();
        let sparse = sample::sparse().globals();
        let t = Template::compile("Hi {{ customer.first_name | default: \"there\" }}, {{ recommendations[0].title }}")
            .unwrap();
        assert_eq!(t.render(&full).unwrap(), "Hi Alex, Sample product 3");
        let e = t.render(&sparse).unwrap_err().to_string();
        assert!(e.contains("recommendations"), "no first recommendation is an error, not a blank: {e}");
        let t = Template::compile("Hi {{ customer.first_name | default: \"there\" }}").unwrap();
        assert_eq!(t.render(&sparse).unwrap(), "Hi there");
        let typo = Template::compile("Hi {{ customer.frist_name }}").unwrap();
        let e = typo.render(&full).unwrap_err().to_string();
        assert!(e.contains("frist_name"), "{e}");
        let e = Template::compile("Hi {{ customer.first_name ").unwrap_err();
        assert!(matches!(e, ContentError::Syntax(_)), "{e:?}");
        let empty = Template::compile("{{ customer.first_name }}").unwrap();
        assert_eq!(empty.render_required(&sparse), Err(ContentError::Empty));
        let cart =
            Template::compile("{% for line in cart.lines %}{{ line.quantity }}× {{ line.product.title }}{% endfor %}")
                .unwrap();
        assert_eq!(cart.render(&full).unwrap(), "2× Sample product 1");
        let e = cart.render(&sparse).unwrap_err().to_string();
        assert!(e.contains("cart"), "a missing cart is an error, not nothing: {e}");
    }
}
