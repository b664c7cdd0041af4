//! The browse part of a profile: the open cart, recently viewed products and interest by
//! category, what abandonment triggers and recommendations look at. Product views are the most
//! frequent event a shop sends, so this item is kept small: one-letter names, instants as unix
//! seconds, and bounded lists.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::part::{PartMeta, ProfilePart};
use crate::compact::{FIELD, PackError, Packed, Pieces, field, push_fixed, unix_secs_opt, unpack_secs};
use crate::event::{CartItemAdded, CartItemRemoved, Payload, Quantity, ShopEvent};
use crate::ids::{Category, ProductId};
use crate::keys::PartKind;
use crate::money::{Amount, Currency};
use crate::validate::FieldError;

/// How many distinct recently viewed products a profile keeps.
pub const RECENT_VIEWS: usize = 16;
/// Lines a cart keeps (the most recently changed).
pub const CART_LINES: usize = 50;
/// A cart line left alone this long after the cart's last change has expired, as shop carts do.
pub const CART_LINE_DAYS: i64 = 30;
/// Categories whose interest is kept (the strongest).
pub const INTEREST_CATEGORIES: usize = 32;

/// Weights of the signals behind category affinity: a purchase says more than a view.
pub const AFFINITY_VIEW: u32 = 1;
pub const AFFINITY_CART: u32 = 2;
pub const AFFINITY_PURCHASE: u32 = 4;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Browse {
    #[serde(rename = "m", default)]
    pub meta: PartMeta,
    #[serde(rename = "c", default, skip_serializing_if = "Cart::is_empty")]
    pub cart: Cart,
    /// Newest first.
    #[serde(rename = "r", default, with = "crate::compact::packed_list", skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<View>,
    /// Weighted browsing interest per category (views, cart adds); purchases are added from the
    /// orders when read, see [`super::Profile::category_affinity`].
    #[serde(rename = "i", default, with = "packed_interest", skip_serializing_if = "BTreeMap::is_empty")]
    pub interest: BTreeMap<Category, u32>,
}

impl ProfilePart for Browse {
    const KIND: PartKind = PartKind::Browse;

    super::part::part_meta!();

    fn apply(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
        match &event.payload {
            Payload::ProductViewed(v) => {
                record_view(&mut self.views, &v.product_id, at);
                self.bump_interest(v.category.as_ref(), AFFINITY_VIEW);
            }
            Payload::CartItemAdded(a) => {
                self.cart.add(a, at);
                self.bump_interest(a.category.as_ref(), AFFINITY_CART);
            }
            Payload::CartItemRemoved(r) => self.cart.remove(r, at),
            Payload::CheckoutStarted(_) => self.cart.checkout_started(at),
            _ => {}
        }
        Ok(())
    }

    fn touch(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> bool {
        if let Payload::OrderPlaced(_) = event.payload {
            let before = self.cart.clone();
            self.cart.order_placed(at);
            return self.cart != before;
        }
        false
    }
}

impl Browse {
    fn bump_interest(&mut self, category: Option<&Category>, weight: u32) {
        let Some(c) = category else { return };
        let w = self.interest.entry(c.clone()).or_default();
        *w = w.saturating_add(weight);
        if self.interest.len() > INTEREST_CATEGORIES {
            // The weakest interest goes (ties: the last name), never the one just shown.
            let weakest = self
                .interest
                .iter()
                .filter(|(name, _)| *name != c)
                .min_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(name, _)| name.clone());
            if let Some(name) = weakest {
                self.interest.remove(&name);
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    #[serde(rename = "l", default, with = "packed_lines", skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<ProductId, CartLine>,
    /// When an order last emptied the cart: cart events from before it are stale.
    #[serde(rename = "x", default, with = "unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<DateTime<Utc>>,
    #[serde(rename = "k", default, with = "unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub checkout_started_at: Option<DateTime<Utc>>,
    /// Last change to the cart's lines.
    #[serde(rename = "u", default, with = "unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A line of the cart. Its category (and title, picture) come from the catalogue when needed.
#[derive(Clone, Debug, PartialEq)]
pub struct CartLine {
    pub quantity: Quantity,
    pub unit_price: Option<Amount>,
    pub currency: Option<Currency>,
    pub updated_at: DateTime<Utc>,
}

fn instant(secs: i64) -> Result<DateTime<Utc>, PackError> {
    chrono::TimeZone::timestamp_opt(&Utc, secs, 0)
        .single()
        .ok_or_else(|| PackError { what: "browse", problem: "has an instant out of range".into() })
}

/// A cart line packs as `product, quantity, unit price, currency, updated at`.
impl Packed for (ProductId, CartLine) {
    fn pack(&self, out: &mut String) {
        let (product, line) = self;
        out.push_str(product.as_str());
        out.push(FIELD);
        out.push_str(&line.quantity.get().to_string());
        out.push(FIELD);
        if let Some(p) = line.unit_price {
            out.push_str(&p.to_string());
        }
        out.push(FIELD);
        if let Some(c) = line.currency {
            out.push_str(c.code());
        }
        out.push(FIELD);
        push_fixed(out, line.updated_at.timestamp().max(0) as u64, 6);
    }

    fn unpack(fields: &mut Pieces<'_>) -> Result<Self, PackError> {
        let bad = |problem: String| PackError { what: "cart line", problem };
        let product = ProductId::new(field(fields, "cart line")?).map_err(|e| bad(format!("product {e}")))?;
        let quantity = field(fields, "cart line")?
            .parse::<u32>()
            .ok()
            .and_then(|q| Quantity::new(q).ok())
            .ok_or_else(|| bad("has a quantity that is not 1 to 10000".into()))?;
        let unit_price = match field(fields, "cart line")? {
            "" => None,
            p => Some(Amount::parse(p).map_err(|e| bad(format!("price {e}")))?),
        };
        let currency = match field(fields, "cart line")? {
            "" => None,
            c => Some(Currency::new(c).map_err(|e| bad(format!("currency {e}")))?),
        };
        let updated_at = instant(unpack_secs(field(fields, "cart line")?, "cart line")?)?;
        Ok((product, CartLine { quantity, unit_price, currency, updated_at }))
    }
}

/// A category's interest packs as `category, weight`.
impl Packed for (Category, u32) {
    fn pack(&self, out: &mut String) {
        out.push_str(self.0.as_str());
        out.push(FIELD);
        out.push_str(&self.1.to_string());
    }

    fn unpack(fields: &mut Pieces<'_>) -> Result<Self, PackError> {
        let bad = |problem: String| PackError { what: "interest", problem };
        let category = Category::new(field(fields, "interest")?).map_err(|e| bad(format!("category {e}")))?;
        let weight = field(fields, "interest")?.parse().map_err(|_| bad("has a weight that is not a number".into()))?;
        Ok((category, weight))
    }
}

/// Interest by category as one packed string.
mod packed_interest {
    use std::collections::BTreeMap;

    use serde::{Deserializer, Serializer};

    use crate::ids::Category;

    pub fn serialize<S: Serializer>(interest: &BTreeMap<Category, u32>, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(Category, u32)> = interest.iter().map(|(c, w)| (c.clone(), *w)).collect();
        crate::compact::packed_list::serialize(&pairs, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Category, u32>, D::Error> {
        let pairs: Vec<(Category, u32)> = crate::compact::packed_list::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

/// The cart's lines as one packed string.
mod packed_lines {
    use std::collections::BTreeMap;

    use serde::{Deserializer, Serializer};

    use super::CartLine;
    use crate::ids::ProductId;

    pub fn serialize<S: Serializer>(lines: &BTreeMap<ProductId, CartLine>, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(ProductId, CartLine)> = lines.iter().map(|(p, l)| (p.clone(), l.clone())).collect();
        crate::compact::packed_list::serialize(&pairs, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ProductId, CartLine>, D::Error> {
        let pairs: Vec<(ProductId, CartLine)> = crate::compact::packed_list::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

impl Cart {
    fn is_empty(&self) -> bool {
        self == &Cart::default()
    }

    fn is_stale(&self, at: DateTime<Utc>) -> bool {
        self.cleared_at.is_some_and(|c| at <= c)
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(self.updated_at.map_or(at, |u| u.max(at)));
        // Lines long untouched have expired. Relative to the cart's newest change, so a late event
        // cannot bring them back and every arrival order ends the same.
        if let Some(newest) = self.updated_at {
            let horizon = newest - chrono::Duration::days(CART_LINE_DAYS);
            self.lines.retain(|_, l| l.updated_at >= horizon);
        }
    }

    pub fn add(&mut self, item: &CartItemAdded, at: DateTime<Utc>) {
        if self.is_stale(at) {
            return;
        }
        match self.lines.get_mut(&item.product_id) {
            Some(line) => {
                let sum = line.quantity.get().saturating_add(item.quantity.get()).min(Quantity::MAX);
                line.quantity = Quantity::new(sum).unwrap_or(line.quantity);
                line.updated_at = line.updated_at.max(at);
                if item.unit_price.is_some() {
                    line.unit_price = item.unit_price;
                    line.currency = item.currency;
                }
            }
            None => {
                let line = CartLine {
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    currency: item.currency,
                    updated_at: at,
                };
                self.lines.insert(item.product_id.clone(), line);
                if self.lines.len() > CART_LINES {
                    // The line left alone longest goes (ties: the last product id).
                    let stalest = self
                        .lines
                        .iter()
                        .min_by(|a, b| a.1.updated_at.cmp(&b.1.updated_at).then(b.0.cmp(a.0)))
                        .map(|(p, _)| p.clone());
                    if let Some(p) = stalest {
                        self.lines.remove(&p);
                    }
                }
            }
        }
        self.touch(at);
    }

    pub fn remove(&mut self, item: &CartItemRemoved, at: DateTime<Utc>) {
        if self.is_stale(at) {
            return;
        }
        if let Some(line) = self.lines.get_mut(&item.product_id) {
            let left = item.quantity.map_or(0, |q| line.quantity.get().saturating_sub(q.get()));
            match Quantity::new(left) {
                Ok(q) => {
                    line.quantity = q;
                    line.updated_at = line.updated_at.max(at);
                }
                Err(_) => {
                    self.lines.remove(&item.product_id);
                }
            }
        }
        self.touch(at);
    }

    pub fn checkout_started(&mut self, at: DateTime<Utc>) {
        if !self.is_stale(at) {
            self.checkout_started_at = Some(self.checkout_started_at.map_or(at, |c| c.max(at)));
        }
    }

    /// An order empties the cart of everything put there up to the moment of the order.
    pub fn order_placed(&mut self, at: DateTime<Utc>) {
        self.cleared_at = Some(self.cleared_at.map_or(at, |c| c.max(at)));
        self.lines.retain(|_, l| l.updated_at > at);
        if self.checkout_started_at.is_some_and(|c| c <= at) {
            self.checkout_started_at = None;
        }
    }

    pub fn is_open(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The cart's value in `currency`, from the lines that carry a price in it.
    pub fn value(&self, currency: Currency) -> Amount {
        self.lines
            .values()
            .filter(|l| l.currency == Some(currency))
            .filter_map(|l| l.unit_price.and_then(|p| p.checked_mul(l.quantity.get())))
            .fold(Amount::ZERO, Amount::saturating_add)
    }
}

/// A recently viewed product (its category, title and picture come from the catalogue; the
/// customer's interest by category is kept apart, in [`Browse::interest`]).
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub product_id: ProductId,
    /// The latest view.
    pub at: DateTime<Utc>,
    /// Views of this product while it stayed in the list ("viewed 4 times, never bought").
    pub count: u32,
}

/// A view packs as `product, latest view, count`.
impl Packed for View {
    fn pack(&self, out: &mut String) {
        out.push_str(self.product_id.as_str());
        out.push(FIELD);
        push_fixed(out, self.at.timestamp().max(0) as u64, 6);
        out.push(FIELD);
        out.push_str(&self.count.to_string());
    }

    fn unpack(fields: &mut Pieces<'_>) -> Result<Self, PackError> {
        let bad = |problem: String| PackError { what: "view", problem };
        let product_id = ProductId::new(field(fields, "view")?).map_err(|e| bad(format!("product {e}")))?;
        let at = instant(unpack_secs(field(fields, "view")?, "view")?)?;
        let count = field(fields, "view")?.parse().map_err(|_| bad("has a count that is not a number".into()))?;
        Ok(View { product_id, at, count })
    }
}

/// Records a view in a list kept newest first, one entry per product, at most [`RECENT_VIEWS`].
pub fn record_view(views: &mut Vec<View>, product: &ProductId, at: DateTime<Utc>) {
    if let Some(pos) = views.iter().position(|v| &v.product_id == product) {
        let mut v = views.remove(pos);
        v.count += 1;
        v.at = v.at.max(at);
        insert_by_time(views, v);
    } else {
        insert_by_time(views, View { product_id: product.clone(), at, count: 1 });
    }
    views.truncate(RECENT_VIEWS);
}

fn insert_by_time(views: &mut Vec<View>, v: View) {
    let pos = views.partition_point(|x| (x.at, &x.product_id) > (v.at, &v.product_id));
    views.insert(pos, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_000_000 + s, 0).unwrap()
    }

    fn add(p: &str, q: u32) -> CartItemAdded {
        CartItemAdded {
            product_id: ProductId::new(p).unwrap(),
            category: None,
            quantity: Quantity::new(q).unwrap(),
            unit_price: Some(Amount::parse("2.50").unwrap()),
            currency: Some(Currency::new("EUR").unwrap()),
        }
    }

    #[test]
    fn quantities_add_and_remove() {
        let mut c = Cart::default();
        c.add(&add("a", 2), t(1));
        c.add(&add("a", 1), t(2));
        assert_eq!(c.lines[&ProductId::new("a").unwrap()].quantity.get(), 3);
        c.remove(&CartItemRemoved { product_id: ProductId::new("a").unwrap(), quantity: Some(Quantity::ONE) }, t(3));
        assert_eq!(c.value(Currency::new("EUR").unwrap()), Amount::parse("5").unwrap());
        c.remove(&CartItemRemoved { product_id: ProductId::new("a").unwrap(), quantity: None }, t(4));
        assert!(!c.is_open());
    }

    #[test]
    fn a_late_add_from_before_the_order_does_not_reopen_the_cart() {
        let mut c = Cart::default();
        c.add(&add("a", 1), t(1));
        c.checkout_started(t(2));
        c.order_placed(t(3));
        assert!(!c.is_open());
        assert!(c.checkout_started_at.is_none());
        c.add(&add("b", 1), t(2)); // arrives late, happened before the order
        assert!(!c.is_open());
        c.add(&add("c", 1), t(4));
        assert!(c.is_open());
    }

    #[test]
    fn carts_and_interest_stay_bounded() {
        let mut b = Browse::default();
        for i in 0..(CART_LINES as i64 + 10) {
            b.cart.add(&add(&format!("p{i}"), 1), t(i));
        }
        assert_eq!(b.cart.lines.len(), CART_LINES);
        assert!(b.cart.lines.contains_key(&ProductId::new(format!("p{}", CART_LINES + 9)).unwrap()));
        assert!(!b.cart.lines.contains_key(&ProductId::new("p0").unwrap()), "the stalest line went");
        for i in 0..(INTEREST_CATEGORIES + 5) {
            b.bump_interest(Some(&Category::new(format!("cat {i}")).unwrap()), if i == 0 { 9 } else { 1 });
        }
        assert_eq!(b.interest.len(), INTEREST_CATEGORIES);
        assert_eq!(b.interest[&Category::new("cat 0").unwrap()], 9, "strong interest stays");
    }

    #[test]
    fn packed_views_and_cart_lines_read_back() {
        let mut b = Browse::default();
        b.cart.add(&add("sku-1", 2), t(1));
        b.cart.add(&CartItemAdded { unit_price: None, currency: None, ..add("sku-2", 1) }, t(2));
        record_view(&mut b.views, &ProductId::new("sku-1").unwrap(), t(3));
        record_view(&mut b.views, &ProductId::new("sku-1").unwrap(), t(4));
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(serde_json::from_value::<Browse>(json.clone()).unwrap(), b);
        let mut broken = json;
        broken["r"] = serde_json::json!("sku-1\u{1f}AAA");
        assert!(serde_json::from_value::<Browse>(broken).is_err(), "a damaged list is an error, not a default");
    }

    #[test]
    fn views_are_unique_newest_first_and_bounded() {
        let mut v = Vec::new();
        for i in 0..40 {
            record_view(&mut v, &ProductId::new(format!("p{i}")).unwrap(), t(i));
        }
        record_view(&mut v, &ProductId::new("p39").unwrap(), t(1));
        assert_eq!(v.len(), RECENT_VIEWS);
        assert_eq!(v[0].product_id.as_str(), "p39");
        assert_eq!(v[0].count, 2);
        assert_eq!(v[0].at, t(39));
        assert!(v.windows(2).all(|w| w[0].at >= w[1].at));
    }
}
