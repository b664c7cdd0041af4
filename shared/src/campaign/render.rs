//! A campaign's templates compiled once, and the message they make for one customer.

use super::{Campaign, Variant};
use crate::contact::Channel;
use crate::content::push::Push;
use crate::content::{ContentError, Context, Template};
use crate::ids::VariantId;

/// A rendered message, ready for delivery.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    Email { subject: String, preheader: Option<String>, html: String, text: String },
    Sms { body: String },
    Push(Push),
}

/// Why a message could not be made: the part and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {error}")]
pub struct RenderError {
    /// e.g. `variants[1].email.subject`.
    pub part: String,
    pub error: ContentError,
}

struct Part {
    field: String,
    template: Template,
}

impl Part {
    fn new(field: String, text: &str) -> Result<Part, RenderError> {
        Template::compile(text)
            .map(|template| Part { field: field.clone(), template })
            .map_err(|error| RenderError { part: field, error })
    }
    fn required(&self, globals: &liquid::Object) -> Result<String, RenderError> {
        self.template.render_required(globals).map_err(|error| RenderError { part: self.field.clone(), error })
    }
    /// A part that may be left out: `None` when it renders empty.
    fn optional(&self, globals: &liquid::Object) -> Result<Option<String>, RenderError> {
        let text = self.template.render(globals).map_err(|error| RenderError { part: self.field.clone(), error })?;
        Ok(Some(text).filter(|t| !t.trim().is_empty()))
    }
}

enum Compiled {
    Email { subject: Part, preheader: Option<Part>, html: Part, text: Part },
    Sms { body: Part },
    Push { title: Part, body: Part, deep_link: Option<Part>, image_url: Option<Part> },
}

/// Every variant's templates for every channel, compiled.
pub struct Templates {
    variants: Vec<(VariantId, Vec<(Channel, Compiled)>)>,
}

impl Templates {
    pub fn compile(campaign: &Campaign) -> Result<Templates, RenderError> {
        let variants = campaign
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| Ok((v.id.clone(), compile_variant(v, &format!("variants[{i}]"))?)))
            .collect::<Result<_, RenderError>>()?;
        Ok(Templates { variants })
    }

    /// The message of `variant` on `channel` for the customer `context` describes.
    pub fn render(&self, variant: &VariantId, channel: Channel, context: &Context) -> Result<Message, RenderError> {
        let missing = || RenderError {
            part: format!("{variant}.{}", channel.as_str()),
            error: ContentError::Render(format!("variant {variant} has no {} content", channel.as_str())),
        };
        let (_, channels) = self.variants.iter().find(|(id, _)| id == variant).ok_or_else(missing)?;
        let (_, compiled) = channels.iter().find(|(c, _)| *c == channel).ok_or_else(missing)?;
        let globals = context.globals();
        let optional = |p: &Option<Part>| p.as_ref().map(|p| p.optional(&globals)).transpose().map(Option::flatten);
        Ok(match compiled {
            Compiled::Email { subject, preheader, html, text } => Message::Email {
                subject: subject.required(&globals)?,
                preheader: optional(preheader)?,
                html: html.required(&globals)?,
                text: text.required(&globals)?,
            },
            Compiled::Sms { body } => Message::Sms { body: crate::content::sms::normalise(&body.required(&globals)?) },
            Compiled::Push { title, body, deep_link, image_url } => Message::Push(Push {
                title: title.required(&globals)?,
                body: body.required(&globals)?,
                deep_link: optional(deep_link)?,
                image_url: optional(image_url)?,
            }),
        })
    }
}

fn compile_variant(v: &Variant, at: &str) -> Result<Vec<(Channel, Compiled)>, RenderError> {
    let part = |channel: &str, name: &str, text: &str| Part::new(format!("{at}.{channel}.{name}"), text);
    let optional =
        |channel: &str, name: &str, text: &Option<String>| text.as_ref().map(|t| part(channel, name, t)).transpose();
    let mut out = Vec::new();
    if let Some(e) = &v.email {
        out.push((
            Channel::Email,
            Compiled::Email {
                subject: part("email", "subject", &e.subject)?,
                preheader: optional("email", "preheader", &e.preheader)?,
                html: part("email", "html", &e.html)?,
                text: part("email", "text", &e.text)?,
            },
        ));
    }
    if let Some(s) = &v.sms {
        out.push((Channel::Sms, Compiled::Sms { body: part("sms", "body", &s.body)? }));
    }
    if let Some(p) = &v.push {
        out.push((
            Channel::Push,
            Compiled::Push {
                title: part("push", "title", &p.title)?,
                body: part("push", "body", &p.body)?,
                deep_link: optional("push", "deep_link", &p.deep_link)?,
                image_url: optional("push", "image_url", &p.image_url)?,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod properties {
    use std::collections::HashMap;

    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::campaign::load::read_dir;
    use crate::catalogue::Product;
    use crate::content::ShopView;
    use crate::content::build::{Facts, Links, context, style_of};
    use crate::ids::{EventId, ProductId};
    use crate::money::{Amount, Currency};
    use crate::profile::Profile;

    fn samples() -> Vec<(Campaign, Templates)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
        let (campaigns, problems) = read_dir(&dir).unwrap();
        assert!(problems.iter().all(|p| p.severity != crate::campaign::check::Severity::Error), "{problems:?}");
        campaigns
            .into_iter()
            .map(|c| {
                let t = Templates::compile(&c).unwrap();
                (c, t)
            })
            .collect()
    }

    /// Profiles from the synthetic shop's event streams: names or none, carts big and small,
    /// products the catalogue knows (priced in currencies with 0, 2 or 3 minor units, up to a
    /// trillion) or not, any number of recommendations.
    fn arguments() -> impl Strategy<Value = (u64, usize, u64, usize, u8)> {
        (any::<u64>(), 0usize..12, 0u64..1_000_000_000_000, 0usize..4, any::<u8>())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn every_sample_renders_for_any_customer_without_an_empty_required_part(
            (seed, recs, price, currency, known) in arguments()
        ) {
            let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
            let (events, _) = crate::synth::shop_events(seed, 3, 150, now);
            let mut profiles: HashMap<String, Profile> = HashMap::new();
            for e in &events {
                let p = profiles.entry(e.customer_id.to_string()).or_insert_with(|| Profile::new(e.customer_id.clone()));
                let _ = p.apply(e);
            }
            let currency = Currency::new(["EUR", "JPY", "KWD", "USD"][currency]).unwrap();
            let ids: Vec<ProductId> = (0..20).map(|i| ProductId::new(format!("sku-{i}")).unwrap()).collect();
            let catalogue: HashMap<ProductId, Product> = ids.iter().enumerate().filter(|(i, _)| (known >> (i % 8)) & 1 == 1).map(|(i, id)| {
                (id.clone(), Product {
                    product_id: id.clone(), title: format!("Product {i} with a long name that goes on"), url: Some(format!("https://shop.example/{i}")),
                    image_url: None, price: Some(Amount::from_micros(i128::from(price) * 1_000_000)), currency: Some(currency),
                    category_path: vec![], brand: None, in_stock: true, attributes: Default::default(), updated_at: now,
                    event_id: EventId::new("e").unwrap(),
                })
            }).collect();
            let picks: Vec<(ProductId, Option<String>)> = ids.iter().take(recs).map(|id| (id.clone(), Some("popular lately".into()))).collect();
            let shop = ShopView { name: "Shop".into(), postal_address: "1 Street, Town".into(), url: "https://shop.example".into() };
            for (campaign, templates) in samples() {
                for profile in profiles.values() {
                    let offer = campaign.offer.as_ref().map(|o| {
                        crate::campaign::offer::view(o, "CODE-1".into(), now, chrono_tz::UTC, &style_of(profile))
                    });
                    let facts = Facts {
                        profile,
                        catalogue: &catalogue,
                        product: campaign.trigger.has_product().then_some(&ids[seed as usize % ids.len()]),
                        recommendations: &picks,
                        offer,
                        // Members and customers without an account.
                        loyalty: if seed % 2 == 0 {
                            crate::content::LoyaltyView::default()
                        } else {
                            crate::content::sample::full(&crate::content::sample::Markers::fixed()).loyalty
                        },
                        shop: &shop,
                        links: Links { unsubscribe_url: "https://u".into(), preferences_url: "https://p".into() },
                    };
                    let mut ctx = context(&facts);
                    // Cart campaigns are triggered by a cart; the synthetic customer may have emptied theirs.
                    if campaign.trigger.has_cart() && ctx.cart.is_none() {
                        ctx.cart = crate::content::sample::full(&crate::content::sample::Markers::fixed()).cart;
                    }
                    for variant in &campaign.variants {
                        for channel in &campaign.channels {
                            let message = templates.render(&variant.id, *channel, &ctx);
                            prop_assert!(message.is_ok(), "{} {}: {:?}", campaign.id, variant.id, message);
                        }
                    }
                }
            }
        }
    }
}
