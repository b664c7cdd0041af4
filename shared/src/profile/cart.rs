//! The open cart and recently viewed products: what abandonment triggers look at.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{CartItemAdded, CartItemRemoved, Quantity};
use crate::ids::{Category, ProductId};
use crate::money::{Amount, Currency};

/// How many distinct recently viewed products a profile keeps.
pub const RECENT_VIEWS: usize = 30;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<ProductId, CartLine>,
    /// When an order last emptied the cart: cart events from before it are stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_started_at: Option<DateTime<Utc>>,
    /// Last change to the cart's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub updated_at: DateTime<Utc>,
}

impl Cart {
    fn is_stale(&self, at: DateTime<Utc>) -> bool {
        self.cleared_at.is_some_and(|c| at <= c)
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(self.updated_at.map_or(at, |u| u.max(at)));
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
                if item.category.is_some() {
                    line.category = item.category.clone();
                }
                if item.unit_price.is_some() {
                    line.unit_price = item.unit_price;
                    line.currency = item.currency;
                }
            }
            None => {
                let line = CartLine {
                    quantity: item.quantity,
                    category: item.category.clone(),
                    unit_price: item.unit_price,
                    currency: item.currency,
                    updated_at: at,
                };
                self.lines.insert(item.product_id.clone(), line);
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
        Amount::from_micros(
            self.lines
                .values()
                .filter(|l| l.currency == Some(currency))
                .filter_map(|l| l.unit_price.and_then(|p| p.checked_mul(l.quantity.get())))
                .map(|a| a.micros())
                .fold(0, i64::saturating_add),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub product_id: ProductId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The latest view.
    pub at: DateTime<Utc>,
    /// Views of this product while it stayed in the list ("viewed 4 times, never bought").
    pub count: u32,
}

/// Records a view in a list kept newest first, one entry per product, at most [`RECENT_VIEWS`].
pub fn record_view(views: &mut Vec<View>, product: &ProductId, category: Option<&Category>, at: DateTime<Utc>) {
    if let Some(pos) = views.iter().position(|v| &v.product_id == product) {
        let mut v = views.remove(pos);
        v.count += 1;
        v.at = v.at.max(at);
        if category.is_some() {
            v.category = category.cloned();
        }
        insert_by_time(views, v);
    } else {
        insert_by_time(views, View { product_id: product.clone(), category: category.cloned(), at, count: 1 });
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
    fn views_are_unique_newest_first_and_bounded() {
        let mut v = Vec::new();
        for i in 0..40 {
            record_view(&mut v, &ProductId::new(format!("p{i}")).unwrap(), None, t(i));
        }
        record_view(&mut v, &ProductId::new("p39").unwrap(), None, t(1));
        assert_eq!(v.len(), RECENT_VIEWS);
        assert_eq!(v[0].product_id.as_str(), "p39");
        assert_eq!(v[0].count, 2);
        assert_eq!(v[0].at, t(39));
        assert!(v.windows(2).all(|w| w[0].at >= w[1].at));
    }
}
