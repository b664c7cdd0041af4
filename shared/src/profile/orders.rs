//! Orders and refunds, and the purchase summary churn models need.
//!
//! Orders are kept by id with their refunds, so a refund that arrives before its order, or an
//! order that arrives late, lands in the same state as the in-order stream. The summary is
//! derived from them, never stored: there is nothing to keep in step.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{OrderPlaced, OrderRefunded, Quantity, RefundScope};
use crate::ids::{Category, OrderId, ProductId, RefundId};
use crate::money::{Amount, Currency, Money};

/// Orders beyond this many (the newest kept) drop their line detail, which only recent orders
/// need (per-line refunds, recommendations); value and date stay, so statistics are exact and a
/// lifetime of orders fits in one item.
pub const ORDERS_WITH_LINES: usize = 200;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<PlacedOrder>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub at: DateTime<Utc>,
    /// The calendar day in the shop's offset at the time of the order: repeat purchases are
    /// counted on distinct days.
    pub day: NaiveDate,
    pub currency: Currency,
    pub value: Amount,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<PlacedLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacedLine {
    pub product_id: ProductId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub unit_price: Amount,
    pub quantity: Quantity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub refund_id: RefundId,
    pub at: DateTime<Utc>,
    pub scope: RefundScope,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<(ProductId, Quantity)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
}

impl OrderRecord {
    /// What has been refunded of this order, at most its value. Zero while the order is unknown.
    pub fn refunded(&self) -> Amount {
        let Some(placed) = &self.placed else { return Amount::ZERO };
        let mut total: i64 = 0;
        for r in &self.refunds {
            let part = match (r.scope, r.amount) {
                (RefundScope::Whole, _) => return placed.value,
                (RefundScope::Lines, Some(amount)) => amount.micros(),
                (RefundScope::Lines, None) => r
                    .lines
                    .iter()
                    .map(|(product, qty)| {
                        placed.lines.iter().find(|l| &l.product_id == product).map_or(0, |l| {
                            l.unit_price.micros().saturating_mul(i64::from(qty.get().min(l.quantity.get())))
                        })
                    })
                    .fold(0_i64, i64::saturating_add),
            };
            total = total.saturating_add(part);
        }
        Amount::from_micros(total.min(placed.value.micros()))
    }

    /// Placed and not wholly refunded: counts as a purchase.
    pub fn counts_as_purchase(&self) -> bool {
        match &self.placed {
            Some(p) => p.value.micros() == 0 || self.refunded() < p.value,
            None => false,
        }
    }
}

pub fn record_order(
    orders: &mut BTreeMap<OrderId, OrderRecord>,
    order: &OrderPlaced,
    at: DateTime<Utc>,
    day: NaiveDate,
) {
    let record = orders.entry(order.order_id.clone()).or_default();
    // A redelivered or re-sent order keeps its first placement (by time): orders are immutable.
    if record.placed.as_ref().is_some_and(|p| p.at <= at) {
        return;
    }
    record.placed = Some(PlacedOrder {
        at,
        day,
        currency: order.currency,
        value: order.value(),
        lines: order
            .lines
            .iter()
            .map(|l| PlacedLine {
                product_id: l.product_id.clone(),
                category: l.category.clone(),
                unit_price: l.unit_price,
                quantity: l.quantity,
            })
            .collect(),
    });
    trim_line_detail(orders);
}

pub fn record_refund(orders: &mut BTreeMap<OrderId, OrderRecord>, refund: &OrderRefunded, at: DateTime<Utc>) {
    let record = orders.entry(refund.order_id.clone()).or_default();
    // A refund id names one refund: a re-sent copy keeps the earliest report of it, as orders do.
    if let Some(pos) = record.refunds.iter().position(|r| r.refund_id == refund.refund_id) {
        if record.refunds[pos].at <= at {
            return;
        }
        record.refunds.remove(pos);
    }
    record.refunds.push(RefundRecord {
        refund_id: refund.refund_id.clone(),
        at,
        scope: refund.scope,
        lines: refund.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect(),
        amount: refund.amount,
    });
    record.refunds.sort_by(|a, b| a.refund_id.cmp(&b.refund_id));
}

fn trim_line_detail(orders: &mut BTreeMap<OrderId, OrderRecord>) {
    let with_lines = orders.values().filter(|o| o.placed.as_ref().is_some_and(|p| !p.lines.is_empty())).count();
    if with_lines <= ORDERS_WITH_LINES {
        return;
    }
    let mut dated: Vec<(DateTime<Utc>, OrderId)> = orders
        .iter()
        .filter_map(|(id, o)| o.placed.as_ref().filter(|p| !p.lines.is_empty()).map(|p| (p.at, id.clone())))
        .collect();
    dated.sort();
    for (_, id) in dated.into_iter().take(with_lines - ORDERS_WITH_LINES) {
        if let Some(p) = orders.get_mut(&id).and_then(|o| o.placed.as_mut()) {
            p.lines.clear();
        }
    }
}

/// The purchase history in the form buy-till-you-die models read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PurchaseSummary {
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Orders placed and not wholly refunded.
    pub orders: u32,
    /// Distinct days with a purchase.
    pub purchase_days: u32,
    /// Purchase days after the first: the "frequency" of BG/NBD and Pareto/NBD.
    pub repeat_purchases: u32,
    /// The currency most orders were placed in.
    pub currency: Option<Currency>,
    /// Net spend (after refunds) in that currency.
    pub total_spend: Option<Money>,
    /// Mean net spend per order in that currency.
    pub mean_order_value: Option<Money>,
}

pub fn summarize(orders: &BTreeMap<OrderId, OrderRecord>) -> PurchaseSummary {
    let mut summary = PurchaseSummary::default();
    let mut days: Vec<NaiveDate> = Vec::new();
    let mut per_currency: BTreeMap<Currency, (u32, i64)> = BTreeMap::new();
    for record in orders.values().filter(|o| o.counts_as_purchase()) {
        let Some(p) = &record.placed else { continue };
        summary.orders += 1;
        summary.first_purchase_at = Some(summary.first_purchase_at.map_or(p.at, |f| f.min(p.at)));
        summary.last_purchase_at = Some(summary.last_purchase_at.map_or(p.at, |l| l.max(p.at)));
        days.push(p.day);
        let net = p.value.micros().saturating_sub(record.refunded().micros());
        let entry = per_currency.entry(p.currency).or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(net);
    }
    days.sort_unstable();
    days.dedup();
    summary.purchase_days = days.len() as u32;
    summary.repeat_purchases = summary.purchase_days.saturating_sub(1);
    // Most orders wins; ties go to the alphabetically first code so the choice is stable.
    if let Some((currency, (count, net))) =
        per_currency.into_iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(&a.0)))
    {
        summary.currency = Some(currency);
        summary.total_spend = Some(Money { amount: Amount::from_micros(net), currency });
        summary.mean_order_value = Some(Money { amount: Amount::from_micros(net / i64::from(count.max(1))), currency });
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{OrderLine, RefundLine};
    use chrono::TimeZone;

    fn order(id: &str, lines: &[(&str, &str, u32)]) -> OrderPlaced {
        OrderPlaced {
            order_id: OrderId::new(id).unwrap(),
            currency: Currency::new("EUR").unwrap(),
            lines: lines
                .iter()
                .map(|(p, price, q)| OrderLine {
                    product_id: ProductId::new(*p).unwrap(),
                    category: None,
                    unit_price: Amount::parse(price).unwrap(),
                    quantity: Quantity::new(*q).unwrap(),
                })
                .collect(),
            total: None,
        }
    }

    fn refund(order: &str, id: &str, lines: &[(&str, u32)], amount: Option<&str>) -> OrderRefunded {
        OrderRefunded {
            order_id: OrderId::new(order).unwrap(),
            refund_id: RefundId::new(id).unwrap(),
            scope: if lines.is_empty() && amount.is_none() { RefundScope::Whole } else { RefundScope::Lines },
            lines: lines
                .iter()
                .map(|(p, q)| RefundLine {
                    product_id: ProductId::new(*p).unwrap(),
                    quantity: Quantity::new(*q).unwrap(),
                })
                .collect(),
            amount: amount.map(|a| Amount::parse(a).unwrap()),
            currency: amount.map(|_| Currency::new("EUR").unwrap()),
        }
    }

    fn at(day: u32) -> (DateTime<Utc>, NaiveDate) {
        let t = Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap();
        (t, t.date_naive())
    }

    #[test]
    fn refunds_before_or_after_their_order_give_the_same_summary() {
        let o = order("o1", &[("a", "10", 2), ("b", "5", 1)]);
        let r = refund("o1", "r1", &[("a", 1)], None);
        let (t, d) = at(1);
        let mut in_order = BTreeMap::new();
        record_order(&mut in_order, &o, t, d);
        record_refund(&mut in_order, &r, t);
        let mut reversed = BTreeMap::new();
        record_refund(&mut reversed, &r, t);
        record_order(&mut reversed, &o, t, d);
        assert_eq!(in_order, reversed);
        let s = summarize(&in_order);
        assert_eq!(s.total_spend.unwrap().amount, Amount::parse("15").unwrap());
        assert_eq!(s.orders, 1);
    }

    #[test]
    fn whole_refunds_remove_the_purchase_and_repeats_count_distinct_days() {
        let mut orders = BTreeMap::new();
        for (id, day) in [("o1", 1), ("o2", 1), ("o3", 4), ("o4", 9)] {
            let (t, d) = at(day);
            record_order(&mut orders, &order(id, &[("a", "10", 1)]), t, d);
        }
        record_refund(&mut orders, &refund("o4", "r", &[], None), at(10).0);
        let s = summarize(&orders);
        assert_eq!((s.orders, s.purchase_days, s.repeat_purchases), (3, 2, 1));
        assert_eq!(s.last_purchase_at, Some(at(4).0));
        assert_eq!(s.mean_order_value.unwrap().amount, Amount::parse("10").unwrap());
    }

    #[test]
    fn refunds_never_exceed_the_order_and_repeat_refund_ids_count_once() {
        let mut orders = BTreeMap::new();
        let (t, d) = at(2);
        record_order(&mut orders, &order("o", &[("a", "10", 1)]), t, d);
        let r = refund("o", "r1", &[], Some("7"));
        record_refund(&mut orders, &r, t);
        record_refund(&mut orders, &r, t);
        assert_eq!(orders[&OrderId::new("o").unwrap()].refunded(), Amount::parse("7").unwrap());
        record_refund(&mut orders, &refund("o", "r2", &[], Some("7")), t);
        assert_eq!(orders[&OrderId::new("o").unwrap()].refunded(), Amount::parse("10").unwrap());
    }

    #[test]
    fn old_orders_keep_value_but_drop_lines() {
        let mut orders = BTreeMap::new();
        for i in 0..(ORDERS_WITH_LINES + 5) {
            let t = Utc.timestamp_opt(1_700_000_000 + i as i64 * 86_400, 0).unwrap();
            record_order(&mut orders, &order(&format!("o{i:04}"), &[("a", "1", 1)]), t, t.date_naive());
        }
        let with_lines = orders.values().filter(|o| !o.placed.as_ref().unwrap().lines.is_empty()).count();
        assert_eq!(with_lines, ORDERS_WITH_LINES);
        assert!(orders[&OrderId::new("o0000").unwrap()].placed.as_ref().unwrap().lines.is_empty());
        assert_eq!(summarize(&orders).orders as usize, ORDERS_WITH_LINES + 5);
    }
}
