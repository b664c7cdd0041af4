//! A template's context from what Kairos knows: the profile, the catalogue, the recommender's
//! picks, the offer. Everything is formatted here, in the customer's language, so templates
//! only place values.

use std::collections::HashMap;

use super::locale::Style;
use super::{CartLine, CartView, Context, CustomerView, LoyaltyView, OfferView, ProductView, ShopView};
use crate::catalogue::Product;
use crate::ids::ProductId;
use crate::money::Amount;
use crate::profile::Profile;

/// Links delivery fills per message.
#[derive(Clone, Debug, PartialEq)]
pub struct Links {
    pub unsubscribe_url: String,
    pub preferences_url: String,
}

/// What a message is built from.
pub struct Facts<'a> {
    pub profile: &'a Profile,
    /// Catalogue data for the products the message may show (cart, product, recommendations).
    pub catalogue: &'a HashMap<ProductId, Product>,
    /// The product the message is about, if any.
    pub product: Option<&'a ProductId>,
    /// The recommender's picks, best first, with the reason shown for each.
    pub recommendations: &'a [(ProductId, Option<String>)],
    pub offer: Option<OfferView>,
    /// The member's loyalty account as templates see it.
    pub loyalty: LoyaltyView,
    pub shop: &'a ShopView,
    pub links: Links,
}

/// The customer's language (English when unknown).
pub fn style_of(profile: &Profile) -> Style {
    Style::of(&locale_of(profile))
}

fn locale_of(profile: &Profile) -> String {
    profile.contact.details.locale.as_ref().and_then(|l| l.value.clone()).map_or_else(|| "en".into(), String::from)
}

pub fn context(facts: &Facts) -> Context {
    let profile = facts.profile;
    let style = style_of(profile);
    let details = &profile.contact.details;
    let product = |id: &ProductId, reason: Option<String>| view(id, facts.catalogue.get(id), &style, reason);
    let cart = &profile.browse.cart;
    let cart = (!cart.lines.is_empty()).then(|| {
        let lines: Vec<CartLine> = cart
            .lines
            .iter()
            .map(|(id, line)| CartLine { product: product(id, None), quantity: line.quantity.get() })
            .collect();
        // A total only when every line has a price in one currency: never a sum across currencies.
        let mut currencies = cart.lines.values().map(|l| l.currency);
        let first = currencies.next().flatten();
        let total = (first.is_some()
            && currencies.all(|c| c == first)
            && cart.lines.values().all(|l| l.unit_price.is_some()))
        .then(|| {
            let sum = cart.lines.values().fold(Amount::ZERO, |sum, l| {
                sum.saturating_add(l.unit_price.and_then(|p| p.checked_mul(l.quantity.get())).unwrap_or(Amount::ZERO))
            });
            first.map(|c| style.money(sum, c))
        })
        .flatten();
        CartView {
            item_count: cart.lines.values().map(|l| l.quantity.get()).fold(0u32, u32::saturating_add),
            lines,
            total,
            url: Some(format!("{}/cart", facts.shop.url.trim_end_matches('/'))),
        }
    });
    Context {
        customer: CustomerView {
            first_name: details.first_name.as_ref().and_then(|n| n.value.clone()).map(String::from),
            locale: locale_of(profile),
            country: details.country.as_ref().and_then(|c| c.value.clone()).map(String::from),
            tier: facts.loyalty.tier.clone(),
            points: facts.loyalty.points,
        },
        cart,
        product: facts.product.map(|id| product(id, None)),
        recommendations: facts.recommendations.iter().map(|(id, why)| product(id, why.clone())).collect(),
        offer: facts.offer.clone(),
        loyalty: facts.loyalty.clone(),
        shop: facts.shop.clone(),
        unsubscribe_url: facts.links.unsubscribe_url.clone(),
        preferences_url: facts.links.preferences_url.clone(),
    }
}

/// A product as shown: the catalogue's data, or its id as title until the catalogue knows it.
pub fn view(id: &ProductId, product: Option<&Product>, style: &Style, reason: Option<String>) -> ProductView {
    let price = |p: &Product| -> Option<String> { Some(style.money(p.price?, p.currency?)) };
    ProductView {
        id: id.to_string(),
        title: product.map_or_else(|| id.to_string(), |p| p.title.clone()),
        url: product.and_then(|p| p.url.clone()),
        image_url: product.and_then(|p| p.image_url.clone()),
        price: product.and_then(price),
        brand: product.and_then(|p| p.brand.clone()),
        reason,
    }
}
