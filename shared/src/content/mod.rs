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
    /// The member's loyalty account (every field missing for a customer without one).
    pub loyalty: LoyaltyView,
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

/// What a template can say about the member's loyalty account.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoyaltyView {
    /// Whether the customer has an account (has earned points).
    pub member: bool,
    /// The program's name.
    pub program: Option<String>,
    /// The tier's name ("Gold").
    pub tier: Option<String>,
    /// Spendable points.
    pub points: Option<i64>,
    /// Points inside the return window, not yet spendable.
    pub pending: Option<i64>,
    /// The next tier's name, and the points (or spend) the window still needs for it.
    pub next_tier: Option<String>,
    pub to_next_tier: Option<u64>,
    /// The next points to expire (once within the notice period) and when, in words.
    pub expiring_points: Option<i64>,
    pub expiring_on: Option<String>,
    /// The personal offer the member holds ("double points on Shoes until 14 December 2026").
    pub offer: Option<String>,
    /// The cheapest reward not yet affordable, and the points still missing for it.
    pub next_reward: Option<String>,
    pub to_next_reward: Option<i64>,
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

/// Largest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Deepest nesting of blocks (`if`, `for`, …) accepted: deeper exhausts the renderer's stack.
pub const MAX_NESTING: usize = 16;
/// Most steps a literal range (`(1..5)`) may take: a message is not a loop over millions.
pub const MAX_RANGE: i64 = 1_000;

const BLOCKS: [&str; 9] = ["if", "unless", "for", "case", "capture", "tablerow", "comment", "raw", "ifchanged"];

/// What Liquid would accept but no message needs and a renderer cannot survive: huge templates,
/// blocks nested thousands deep, ranges of millions of steps.
fn guard(text: &str) -> Result<(), ContentError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(ContentError::Syntax(format!("is {} bytes (at most {MAX_TEMPLATE_BYTES})", text.len())));
    }
    let mut depth = 0usize;
    let mut rest = text;
    while let Some(start) = rest.find("{%") {
        let Some(end) = rest[start..].find("%}") else { break };
        let tag = rest[start + 2..start + end].trim_matches(|c: char| c == '-' || c.is_whitespace());
        rest = &rest[start + end + 2..];
        let name = tag.split_whitespace().next().unwrap_or("");
        if BLOCKS.contains(&name) {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(ContentError::Syntax(format!("nests blocks more than {MAX_NESTING} deep")));
            }
        } else if name.strip_prefix("end").is_some_and(|n| BLOCKS.contains(&n)) {
            depth = depth.saturating_sub(1);
        }
        let mut ranges = tag;
        while let Some(dots) = ranges.find("..") {
            let open = ranges[..dots].rfind('(').map_or(0, |i| i + 1);
            let close = ranges[dots..].find(')').map_or(ranges.len(), |i| dots + i);
            let (a, b) = (ranges[open..dots].trim().parse::<i64>(), ranges[dots + 2..close].trim().parse::<i64>());
            match (a, b) {
                (Ok(a), Ok(b)) if b.saturating_sub(a) <= MAX_RANGE => {}
                (Ok(_), Ok(_)) => {
                    return Err(ContentError::Syntax(format!("has a range of more than {MAX_RANGE} steps")));
                }
                _ => {
                    return Err(ContentError::Syntax(format!(
                        "has a range whose ends are not numbers: write them out (at most {MAX_RANGE} steps)"
                    )));
                }
            }
            ranges = &ranges[(close + 1).min(ranges.len())..];
        }
    }
    Ok(())
}

impl Template {
    pub fn compile(text: &str) -> Result<Template, ContentError> {
        guard(text)?;
        parser().parse(text).map(Template).map_err(|e| ContentError::Syntax(tidy(&e.to_string())))
    }

    /// Renders over `globals` (a [`Context`] made into Liquid values once per message). A panic
    /// inside the renderer (its filters' arithmetic can overflow) fails this message only.
    pub fn render(&self, globals: &liquid::Object) -> Result<String, ContentError> {
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.render(globals)));
        match rendered {
            Ok(r) => r.map_err(|e| ContentError::Render(tidy(&e.to_string()))),
            Err(_) => Err(ContentError::Render(
                "the template failed while rendering (a number too large for a filter?)".into(),
            )),
        }
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

/// The sample customers validation renders every template for: one the shop knows well, one
/// in another language with a little less, one it hardly knows. The unsubscribe link and postal
/// address carry a token drawn per validation run, so a check can tell whether a rendered
/// message carries them (a template that pastes a sample value, or mangles the link, is caught).
pub mod sample {
    use super::*;

    /// The values a check looks for in what a template rendered.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Markers {
        pub unsubscribe_url: String,
        pub postal_address: String,
    }

    impl Markers {
        /// Fresh markers (a token no template can know in advance).
        pub fn random() -> Markers {
            // Not a secret: it only has to be unknown when the template was written.
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let seed = format!("{nanos}/{}", std::process::id());
            let token = crate::hash::mixed64(seed.as_bytes());
            Markers::with_token(&format!("{token:016x}"))
        }

        /// Markers with a fixed token, for tests and benchmarks.
        pub fn fixed() -> Markers {
            Markers::with_token("0000000000000000")
        }

        fn with_token(token: &str) -> Markers {
            Markers {
                unsubscribe_url: format!("https://unsubscribe.kairos.invalid/u?m={token}&s=8c1f"),
                postal_address: format!("{} Sample Street, 10115 Sampletown", &token[..4]),
            }
        }
    }

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

    /// A product the catalogue does not know yet: its id as title, nothing else.
    fn unknown_product() -> ProductView {
        ProductView {
            id: "sku-unknown".into(),
            title: "sku-unknown".into(),
            url: None,
            image_url: None,
            price: None,
            brand: None,
            reason: None,
        }
    }

    fn shop(m: &Markers) -> ShopView {
        ShopView {
            name: "Sample Shop".into(),
            postal_address: m.postal_address.clone(),
            url: "https://shop.example".into(),
        }
    }

    /// A customer the shop knows everything about.
    pub fn full(m: &Markers) -> Context {
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
            loyalty: LoyaltyView {
                member: true,
                program: Some("Sample Club".into()),
                tier: Some("Gold".into()),
                points: Some(1250),
                pending: Some(340),
                next_tier: Some("Platinum".into()),
                to_next_tier: Some(750),
                expiring_points: Some(120),
                expiring_on: Some("31 December 2026".into()),
                offer: Some("double points on Shoes until 14 December 2026".into()),
                next_reward: Some("The sample tote bag".into()),
                to_next_reward: Some(250),
            },
            shop: shop(m),
            unsubscribe_url: m.unsubscribe_url.clone(),
            preferences_url: "https://preferences.kairos.invalid/sample".into(),
        }
    }

    /// A German customer with a name but no country, tier or points, one recommendation, and
    /// prices as German reads them ("39,80 €", with a no-break space SMS cannot carry in GSM-7).
    pub fn german(m: &Markers) -> Context {
        let full = full(m);
        let de = |mut p: ProductView| {
            p.price = Some("19,90\u{a0}€".into());
            p
        };
        Context {
            customer: CustomerView {
                first_name: Some("Jürgen".into()),
                locale: "de-DE".into(),
                country: None,
                tier: None,
                points: None,
            },
            cart: Some(CartView {
                lines: vec![CartLine { product: de(product(1)), quantity: 2 }],
                item_count: 2,
                total: Some("39,80\u{a0}€".into()),
                url: None,
            }),
            product: Some(de(product(2))),
            recommendations: vec![de(product(3))],
            loyalty: LoyaltyView {
                member: true,
                program: Some("Sample Club".into()),
                points: Some(0),
                pending: Some(0),
                ..LoyaltyView::default()
            },
            ..full
        }
    }

    /// A customer the shop knows almost nothing about: no name, country or recommendations; a
    /// cart of a product the catalogue does not know (so no total), and such a product.
    pub fn sparse(m: &Markers) -> Context {
        let full = full(m);
        Context {
            customer: CustomerView { first_name: None, locale: "en".into(), country: None, tier: None, points: None },
            cart: Some(CartView {
                lines: vec![CartLine { product: unknown_product(), quantity: 1 }],
                item_count: 1,
                total: None,
                url: None,
            }),
            product: Some(unknown_product()),
            recommendations: Vec::new(),
            offer: None,
            loyalty: LoyaltyView::default(),
            ..full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_known_names_fail_on_unknown_ones_and_fall_back_with_default() {
        let m = sample::Markers::fixed();
        let full = sample::full(&m).globals();
        let mut sparse = sample::sparse(&m);
        sparse.cart = None;
        let sparse = sparse.globals();
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
        for (bad, says) in [
            ("{% for i in (1..1000000000) %}x{% endfor %}", "range of more"),
            ("{% for i in (1..customer.points) %}x{% endfor %}", "not numbers"),
            (&"{% if true %}".repeat(2000), "nests"),
        ] {
            let e = Template::compile(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        assert!(Template::compile("{% for i in (1..10) %}{{ i }}{% endfor %}").is_ok());
        let overflow = Template::compile("{{ 9223372036854775807 | plus: 1 }}").unwrap();
        assert!(
            overflow.render(&full).is_err() || cfg!(not(debug_assertions)),
            "a panic in a filter is an error, not a crash"
        );
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
