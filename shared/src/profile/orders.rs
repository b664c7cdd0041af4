//! The orders part of a profile: orders and refunds, and the purchase summary churn models need.
//!
//! Orders are kept by id with their refunds, so a refund that arrives before its order, or an
//! order that arrives late, lands in the same state as the in-order stream. The summary is
//! derived from them, never stored: there is nothing to keep in step.
//!
//! A customer's history must stay writable however long it grows (a B2B account places
//! thousands of orders over the years, each with hundreds of lines), so nothing here is refused
//! for size:
//! - line detail (which recommendations and per-line refunds need) is kept for the newest orders
//!   within [`LINE_DETAIL_BYTES`]; older orders keep their value, date, currency and the number
//!   of units, so every statistic stays exact and a late per-line refund is valued pro rata;
//! - when the item itself grows past [`HEAD_BYTES`], its oldest days move to an archive chunk
//!   ([`ArchivedOrders`], an item of its own) that the part lists; a later event about an
//!   archived order finds it there.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::part::{PartMeta, ProfilePart};
use crate::compact::{FIELD, PackError, Packed, Pieces, field, push_fixed, take_fixed, unix_secs};
use crate::event::{OrderPlaced, OrderRefunded, Payload, Quantity, RefundScope, ShopEvent};
use crate::ids::{Category, OrderId, ProductId, RefundId};
use crate::keys::PartKind;
use crate::money::{Amount, Currency, Money};
use crate::validate::FieldError;

/// Refunds one order may record (far beyond any real one; a further one is refused).
pub const MAX_REFUNDS_PER_ORDER: usize = 64;
/// Line detail kept, newest orders first, in (approximate) stored bytes.
pub const LINE_DETAIL_BYTES: usize = 8 * 1024;
/// The orders item moves its oldest days to an archive when it grows past this (so an order
/// event costs at most about 32 write units, even for the busiest buyer)...
pub const HEAD_BYTES: usize = 32 * 1024;
/// ...until it is this small again.
pub const HEAD_TARGET_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<PlacedOrder>,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacedOrder {
    #[serde(rename = "t", with = "unix_secs")]
    pub at: DateTime<Utc>,
    /// The calendar day in the shop's offset at the time of the order: repeat purchases are
    /// counted on distinct days.
    #[serde(rename = "d")]
    pub day: NaiveDate,
    #[serde(rename = "$")]
    pub currency: Currency,
    #[serde(rename = "v")]
    pub value: Amount,
    /// Units ordered over all lines (kept when the lines are not).
    #[serde(rename = "u", default)]
    pub units: u64,
    #[serde(rename = "l", default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<PlacedLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacedLine {
    #[serde(rename = "p")]
    pub product_id: ProductId,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(rename = "u")]
    pub unit_price: Amount,
    #[serde(rename = "q")]
    pub quantity: Quantity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundRecord {
    #[serde(rename = "i")]
    pub refund_id: RefundId,
    #[serde(rename = "t", with = "unix_secs")]
    pub at: DateTime<Utc>,
    #[serde(rename = "s")]
    pub scope: RefundScope,
    /// The products and quantities refunded, by product hash (a refund may name hundreds of
    /// long product ids; the hash is all that valuing it against the order's lines needs).
    #[serde(rename = "l", default, with = "crate::compact::packed_list", skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundedLine>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
}

/// One refunded line: the product's hash and the quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundedLine {
    pub product: u64,
    pub quantity: Quantity,
}

fn product_hash(p: &ProductId) -> u64 {
    crate::hash::mixed64(p.as_str().as_bytes()) & 0xffff_ffff_ffff
}

/// A refunded line packs as `<product hash: 8 digits>` and the quantity.
impl Packed for RefundedLine {
    fn pack(&self, out: &mut String) {
        push_fixed(out, self.product, 8);
        out.push(FIELD);
        out.push_str(&self.quantity.get().to_string());
    }

    fn unpack(fields: &mut Pieces<'_>) -> Result<Self, PackError> {
        let bad = |problem: &str| PackError { what: "refunded line", problem: problem.into() };
        let mut hash = field(fields, "refunded line")?.as_bytes();
        let product = take_fixed(&mut hash, 8, "refunded line")?;
        let quantity = field(fields, "refunded line")?
            .parse::<u32>()
            .ok()
            .and_then(|q| Quantity::new(q).ok())
            .ok_or_else(|| bad("has a quantity that is not 1 to 10000"))?;
        Ok(RefundedLine { product, quantity })
    }
}

impl OrderRecord {
    /// What has been refunded of this order, at most its value. Zero while the order is unknown.
    pub fn refunded(&self) -> Amount {
        let Some(placed) = &self.placed else { return Amount::ZERO };
        let mut total = Amount::ZERO;
        for r in &self.refunds {
            // Valued when read, from the order as it is kept now, so every arrival order of the
            // same events gives the same value.
            let part = match (r.scope, r.amount) {
                (RefundScope::Whole, _) => return placed.value,
                (RefundScope::Lines, Some(amount)) => amount,
                (RefundScope::Lines, None) if placed.lines.is_empty() => {
                    // Line detail no longer kept: value the units pro rata.
                    let units: u64 = r.lines.iter().map(|l| u64::from(l.quantity.get())).sum();
                    let per_unit = placed.value.micros() / i128::from(placed.units.max(1));
                    Amount::from_micros(per_unit.saturating_mul(i128::from(units.min(placed.units))))
                }
                (RefundScope::Lines, None) => r
                    .lines
                    .iter()
                    .filter_map(|refunded| {
                        let line = placed.lines.iter().find(|l| product_hash(&l.product_id) == refunded.product)?;
                        line.unit_price.checked_mul(refunded.quantity.get().min(line.quantity.get()))
                    })
                    .fold(Amount::ZERO, Amount::saturating_add),
            };
            total = total.saturating_add(part);
        }
        total.min(placed.value)
    }

    /// Placed and not wholly refunded: counts as a purchase.
    pub fn counts_as_purchase(&self) -> bool {
        match &self.placed {
            Some(p) => p.value == Amount::ZERO || self.refunded() < p.value,
            None => false,
        }
    }

    /// Value after refunds.
    pub fn net(&self) -> Amount {
        self.placed.as_ref().map_or(Amount::ZERO, |p| p.value.saturating_sub(self.refunded()))
    }
}

/// Records a placed order. A redelivered or re-sent order keeps its first placement (by time):
/// orders are immutable.
pub fn record_order(record: &mut OrderRecord, order: &OrderPlaced, at: DateTime<Utc>, day: NaiveDate) {
    // Two reports of one order at the same instant: the smaller value wins, whichever came first.
    let rank = |at: DateTime<Utc>, value: Amount, currency: Currency| (at, value, currency);
    if record
        .placed
        .as_ref()
        .is_some_and(|p| rank(p.at, p.value, p.currency) <= rank(at, order.value(), order.currency))
    {
        return;
    }
    record.placed = Some(PlacedOrder {
        at,
        day,
        currency: order.currency,
        value: order.value(),
        units: order.lines.iter().map(|l| u64::from(l.quantity.get())).sum(),
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
}

/// Records a refund. A refund id names one refund: a re-sent copy keeps the earliest report of
/// it, as orders do.
pub fn record_refund(record: &mut OrderRecord, refund: &OrderRefunded, at: DateTime<Utc>) {
    if let Some(pos) = record.refunds.iter().position(|r| r.refund_id == refund.refund_id) {
        // Two reports of one refund at the same instant: the smaller amount wins.
        if (record.refunds[pos].at, record.refunds[pos].amount) <= (at, refund.amount) {
            return;
        }
        record.refunds.remove(pos);
    }
    record.refunds.push(RefundRecord {
        refund_id: refund.refund_id.clone(),
        at,
        scope: refund.scope,
        lines: refund
            .lines
            .iter()
            .map(|l| RefundedLine { product: product_hash(&l.product_id), quantity: l.quantity })
            .collect(),
        amount: refund.amount,
    });
    record.refunds.sort_by(|a, b| a.refund_id.cmp(&b.refund_id));
}

/// The order an event is about, if it is about one.
pub fn order_of(event: &ShopEvent) -> Option<&OrderId> {
    match &event.payload {
        Payload::OrderPlaced(o) => Some(&o.order_id),
        Payload::OrderRefunded(r) => Some(&r.order_id),
        _ => None,
    }
}

/// Applies an order or refund event to the record of its order. A refund beyond
/// [`MAX_REFUNDS_PER_ORDER`] is refused.
pub fn apply_to_record(record: &mut OrderRecord, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
    match &event.payload {
        Payload::OrderPlaced(o) => record_order(record, o, at, event.occurred_at.date_naive()),
        Payload::OrderRefunded(r) => {
            let known = record.refunds.iter().any(|x| x.refund_id == r.refund_id);
            if !known && record.refunds.len() >= MAX_REFUNDS_PER_ORDER {
                return Err(FieldError::new(
                    "data.refund_id",
                    format!("this order already has {MAX_REFUNDS_PER_ORDER} refunds, the most a profile records"),
                ));
            }
            record_refund(record, r, at);
        }
        _ => {}
    }
    Ok(())
}

/// The day a record is filed under when archived: its placement, or for a refund of an order
/// not seen yet, its first refund.
fn record_day(o: &OrderRecord) -> Option<NaiveDate> {
    o.placed.as_ref().map(|p| p.day).or_else(|| o.refunds.iter().map(|r| r.at.date_naive()).min())
}

/// The orders part: the recent orders with their line detail, and the archive chunks that hold
/// the rest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderBook {
    #[serde(rename = "m", default)]
    pub meta: PartMeta,
    #[serde(rename = "o", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub orders: BTreeMap<OrderId, OrderRecord>,
    /// Archive chunks (their ids), oldest first.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<String>,
}

/// A chunk of older orders, moved out of the orders part. Line detail is not kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchivedOrders {
    #[serde(rename = "o", default)]
    pub orders: BTreeMap<OrderId, OrderRecord>,
}

impl ProfilePart for OrderBook {
    const KIND: PartKind = PartKind::Orders;

    super::part::part_meta!();

    fn apply(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
        self.apply_with(event, at, &mut []).map(|_| ())
    }
}

impl OrderBook {
    /// Whether an event may concern an order kept in an archive chunk: any order or refund
    /// event about an order this part does not hold, once there are archives. (A re-sent copy of
    /// an old order may carry a new time, so the date alone cannot rule the archives out.)
    pub fn may_need_archives(&self, event: &ShopEvent) -> bool {
        !self.archives.is_empty() && order_of(event).is_some_and(|o| !self.orders.contains_key(o))
    }

    /// Applies an order or refund event to wherever its order is kept: this part, or one of the
    /// given archive chunks (the ones this part lists, when any event may be about them).
    /// Returns the index of the chunk it changed, if it changed one.
    pub fn apply_with(
        &mut self,
        event: &ShopEvent,
        at: DateTime<Utc>,
        archives: &mut [ArchivedOrders],
    ) -> Result<Option<usize>, FieldError> {
        let Some(id) = order_of(event) else { return Ok(None) };
        if !self.orders.contains_key(id) {
            if let Some(i) = archives.iter().position(|a| a.orders.contains_key(id)) {
                if let Some(record) = archives[i].orders.get_mut(id) {
                    let before = record.clone();
                    apply_to_record(record, event, at)?;
                    strip_lines(record);
                    // A chunk is rewritten only if the event changed it (a re-sent order does not).
                    return Ok((*record != before).then_some(i));
                }
            }
        }
        let mut record = self.orders.get(id).cloned().unwrap_or_default();
        apply_to_record(&mut record, event, at)?;
        self.orders.insert(id.clone(), record);
        self.trim_line_detail();
        Ok(None)
    }

    /// Keeps line detail for the newest orders within [`LINE_DETAIL_BYTES`]. A function of the
    /// set of orders alone, so every arrival order ends the same.
    fn trim_line_detail(&mut self) {
        let mut dated: Vec<(DateTime<Utc>, &OrderId)> = self
            .orders
            .iter()
            .filter_map(|(id, o)| o.placed.as_ref().filter(|p| !p.lines.is_empty()).map(|p| (p.at, id)))
            .collect();
        dated.sort_by(|a, b| b.cmp(a));
        let mut budget = LINE_DETAIL_BYTES;
        let mut strip = Vec::new();
        for (_, id) in dated {
            let bytes = self.orders.get(id).map_or(0, |o| line_bytes(o));
            if bytes <= budget {
                budget -= bytes;
            } else {
                budget = 0;
                strip.push(id.clone());
            }
        }
        for id in strip {
            if let Some(o) = self.orders.get_mut(&id) {
                strip_lines(o);
            }
        }
    }

    /// If this part has outgrown [`HEAD_BYTES`], moves its oldest days of placed orders into a
    /// new archive chunk until it is back to [`HEAD_TARGET_BYTES`], and returns the chunk.
    /// (The caller names the chunk and lists it in [`OrderBook::archives`].)
    pub fn split_oldest(&mut self) -> Option<ArchivedOrders> {
        let mut size: usize = self.orders.iter().map(|(id, o)| record_bytes(id, o)).sum();
        if size <= HEAD_BYTES {
            return None;
        }
        let mut by_day: Vec<(NaiveDate, OrderId)> =
            self.orders.iter().filter_map(|(id, o)| record_day(o).map(|d| (d, id.clone()))).collect();
        by_day.sort();
        let mut chunk = ArchivedOrders::default();
        let mut i = 0;
        // Whole days only, so one day's purchases never straddle the part and an archive.
        while i < by_day.len() && size > HEAD_TARGET_BYTES {
            let day = by_day[i].0;
            while i < by_day.len() && by_day[i].0 == day {
                if let Some(mut record) = self.orders.remove(&by_day[i].1) {
                    size = size.saturating_sub(record_bytes(&by_day[i].1, &record));
                    strip_lines(&mut record);
                    chunk.orders.insert(by_day[i].1.clone(), record);
                }
                i += 1;
            }
        }
        (!chunk.orders.is_empty()).then_some(chunk)
    }
}

fn strip_lines(record: &mut OrderRecord) {
    if let Some(p) = record.placed.as_mut() {
        p.lines.clear();
    }
}

/// About what a line costs in the item.
fn line_bytes(o: &OrderRecord) -> usize {
    o.placed.as_ref().map_or(0, |p| {
        p.lines
            .iter()
            .map(|l| 24 + l.product_id.as_str().len() + l.category.as_ref().map_or(0, |c| c.as_str().len()))
            .sum()
    })
}

/// About what a record costs in the item.
fn record_bytes(id: &OrderId, o: &OrderRecord) -> usize {
    let refunds: usize = o.refunds.iter().map(|r| 40 + r.refund_id.as_str().len() + 12 * r.lines.len()).sum();
    id.as_str().len() + 60 + line_bytes(o) + refunds
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

pub fn summarize<'a>(orders: impl Iterator<Item = &'a OrderRecord>) -> PurchaseSummary {
    let mut summary = PurchaseSummary::default();
    let mut days: Vec<NaiveDate> = Vec::new();
    let mut per_currency: BTreeMap<Currency, (u32, Amount)> = BTreeMap::new();
    for record in orders.filter(|o| o.counts_as_purchase()) {
        let Some(p) = &record.placed else { continue };
        summary.orders = summary.orders.saturating_add(1);
        summary.first_purchase_at = Some(summary.first_purchase_at.map_or(p.at, |f| f.min(p.at)));
        summary.last_purchase_at = Some(summary.last_purchase_at.map_or(p.at, |l| l.max(p.at)));
        days.push(p.day);
        let entry = per_currency.entry(p.currency).or_insert((0, Amount::ZERO));
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(record.net());
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
        summary.total_spend = Some(Money { amount: net, currency });
        let mean = Amount::from_micros(net.micros() / i128::from(count.max(1)));
        summary.mean_order_value = Some(Money { amount: mean, currency });
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{OrderLine, RefundLine, SCHEMA_VERSION};
    use crate::ids::{CustomerId, EventId, Source};
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
            attribution: None,
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

    fn event(n: usize, secs: i64, payload: Payload) -> ShopEvent {
        ShopEvent {
            schema_version: SCHEMA_VERSION,
            id: EventId::new(format!("e{n}")).unwrap(),
            customer_id: CustomerId::new("c").unwrap(),
            occurred_at: Utc.timestamp_opt(secs, 0).unwrap().fixed_offset(),
            source: Source::new("test").unwrap(),
            payload,
        }
    }

    fn at(day: u32) -> (DateTime<Utc>, NaiveDate) {
        let t = Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap();
        (t, t.date_naive())
    }

    fn book(records: &BTreeMap<OrderId, OrderRecord>) -> PurchaseSummary {
        summarize(records.values())
    }

    #[test]
    fn refunds_before_or_after_their_order_give_the_same_summary() {
        let o = order("o1", &[("a", "10", 2), ("b", "5", 1)]);
        let r = refund("o1", "r1", &[("a", 1)], None);
        let (t, d) = at(1);
        let mut in_order = OrderRecord::default();
        record_order(&mut in_order, &o, t, d);
        record_refund(&mut in_order, &r, t);
        let mut reversed = OrderRecord::default();
        record_refund(&mut reversed, &r, t);
        record_order(&mut reversed, &o, t, d);
        assert_eq!(in_order, reversed);
        let s = summarize(std::iter::once(&in_order));
        assert_eq!(s.total_spend.unwrap().amount, Amount::parse("15").unwrap());
        assert_eq!(s.orders, 1);
    }

    #[test]
    fn whole_refunds_remove_the_purchase_and_repeats_count_distinct_days() {
        let mut orders = BTreeMap::new();
        for (id, day) in [("o1", 1), ("o2", 1), ("o3", 4), ("o4", 9)] {
            let (t, d) = at(day);
            record_order(orders.entry(OrderId::new(id).unwrap()).or_default(), &order(id, &[("a", "10", 1)]), t, d);
        }
        record_refund(orders.get_mut(&OrderId::new("o4").unwrap()).unwrap(), &refund("o4", "r", &[], None), at(10).0);
        let s = book(&orders);
        assert_eq!((s.orders, s.purchase_days, s.repeat_purchases), (3, 2, 1));
        assert_eq!(s.last_purchase_at, Some(at(4).0));
        assert_eq!(s.mean_order_value.unwrap().amount, Amount::parse("10").unwrap());
    }

    #[test]
    fn refunds_never_exceed_the_order_and_repeat_refund_ids_count_once() {
        let mut o = OrderRecord::default();
        let (t, d) = at(2);
        record_order(&mut o, &order("o", &[("a", "10", 1)]), t, d);
        let r = refund("o", "r1", &[], Some("7"));
        record_refund(&mut o, &r, t);
        record_refund(&mut o, &r, t);
        assert_eq!(o.refunded(), Amount::parse("7").unwrap());
        record_refund(&mut o, &refund("o", "r2", &[], Some("7")), t);
        assert_eq!(o.refunded(), Amount::parse("10").unwrap());
    }

    #[test]
    fn refunds_of_unknown_orders_are_archived_like_orders() {
        let mut b = OrderBook::default();
        for n in 0..800_i64 {
            let r = refund(&format!("pre-launch-order-{n:05}-{}", "k".repeat(40)), &format!("r{n}"), &[], None);
            let secs = 1_700_000_000 + n * 3600;
            b.fold(&event(n as usize, secs, Payload::OrderRefunded(r)), Utc.timestamp_opt(secs, 0).unwrap()).unwrap();
        }
        let chunk = b.split_oldest().expect("refund-only records outgrow the part too");
        assert!(!chunk.orders.is_empty() && b.split_oldest().is_none());
        // A new order is not moved out with them, and keeps its lines.
        let o = order("new", &[("p", "5", 1)]);
        let now = 1_800_000_000;
        b.fold(&event(9000, now, Payload::OrderPlaced(o.clone())), Utc.timestamp_opt(now, 0).unwrap()).unwrap();
        assert!(!b.orders[&OrderId::new("new").unwrap()].placed.as_ref().unwrap().lines.is_empty());
        assert!(
            !b.may_need_archives(&event(9001, now, Payload::OrderPlaced(o))),
            "a new order need not look in the archives"
        );
    }

    #[test]
    fn refunds_of_hundreds_of_lines_are_stored_by_product_hash() {
        let mut o = OrderRecord::default();
        let lines: Vec<(String, String, u32)> =
            (0..500).map(|l| (format!("{}-{l}", "p".repeat(100)), "1".into(), 2)).collect();
        let refs: Vec<(&str, &str, u32)> = lines.iter().map(|(p, u, q)| (p.as_str(), u.as_str(), *q)).collect();
        let (t, d) = at(2);
        let refund_lines: Vec<(&str, u32)> = lines.iter().map(|(p, _, _)| (p.as_str(), 1)).collect();
        let e = |p| event(1, t.timestamp(), p);
        apply_to_record(&mut o, &e(Payload::OrderRefunded(refund("o", "r", &refund_lines, None))), t).unwrap();
        apply_to_record(&mut o, &e(Payload::OrderPlaced(order("o", &refs))), t).unwrap();
        let _ = d;
        assert_eq!(o.refunded(), Amount::parse("500").unwrap());
        // Bytes as the store counts them (JSON would escape the separators).
        let stored = crate::compact::pack_list(&o.refunds[0].lines).len();
        assert!(stored <= 500 * 12, "a 500-line refund is stored in {stored} bytes, not its product ids");
    }

    /// The same events in two orders: a per-line refund is valued the same whether it came before
    /// or after the newer orders that pushed its order's line detail out.
    #[test]
    fn a_line_refund_is_valued_the_same_in_any_arrival_order() {
        let big = order("o", &[("a", "30", 2), ("b", "20", 2)]);
        let r = refund("o", "r", &[("a", 1)], None);
        let newer: Vec<ShopEvent> = (0..400_i64)
            .map(|n| {
                event(
                    100 + n as usize,
                    1_800_000_000 + n,
                    Payload::OrderPlaced(order(&format!("n{n:04}"), &[(&"q".repeat(60), "1", 1)])),
                )
            })
            .collect();
        let first =
            [event(1, 1_700_000_000, Payload::OrderPlaced(big)), event(2, 1_700_000_100, Payload::OrderRefunded(r))];
        let fold = |events: Vec<&ShopEvent>| {
            let mut b = OrderBook::default();
            for e in events {
                b.fold(e, e.occurred_at.with_timezone(&Utc)).unwrap();
            }
            b.orders[&OrderId::new("o").unwrap()].refunded()
        };
        let refund_early = fold(first.iter().chain(&newer).collect());
        let refund_late = fold(std::iter::once(&first[0]).chain(&newer).chain(std::iter::once(&first[1])).collect());
        assert_eq!(refund_early, refund_late);
    }

    #[test]
    fn two_reports_of_one_refund_at_one_instant_settle_the_same_in_either_order() {
        let (t, d) = at(3);
        let by_lines = refund("o", "r", &[("a", 1)], None);
        let by_amount = refund("o", "r", &[], Some("5"));
        let settle = |first: &OrderRefunded, second: &OrderRefunded| {
            let mut o = OrderRecord::default();
            record_order(&mut o, &order("o", &[("a", "30", 2)]), t, d);
            record_refund(&mut o, first, t);
            record_refund(&mut o, second, t);
            o
        };
        assert_eq!(settle(&by_lines, &by_amount), settle(&by_amount, &by_lines));
    }

    #[test]
    fn line_refunds_of_orders_without_line_detail_are_valued_pro_rata() {
        let mut o = OrderRecord::default();
        let (t, d) = at(2);
        record_order(&mut o, &order("o", &[("a", "30", 2), ("b", "20", 2)]), t, d);
        strip_lines(&mut o);
        let e = event(1, t.timestamp(), Payload::OrderRefunded(refund("o", "r", &[("a", 1)], None)));
        apply_to_record(&mut o, &e, t).unwrap();
        assert_eq!(o.refunded(), Amount::parse("25").unwrap(), "a quarter of the units");
    }

    #[test]
    fn line_detail_is_kept_for_the_newest_orders_only_and_values_stay() {
        let mut b = OrderBook::default();
        let long = "x".repeat(100);
        for i in 0..300_i64 {
            let o = order(&format!("o{i:04}"), &[(&format!("{long}-{i}"), "1", 1)]);
            b.fold(
                &event(i as usize, 1_700_000_000 + i * 86_400, Payload::OrderPlaced(o)),
                Utc.timestamp_opt(1_700_000_000 + i * 86_400, 0).unwrap(),
            )
            .unwrap();
        }
        let with_lines = b.orders.values().filter(|o| !o.placed.as_ref().unwrap().lines.is_empty()).count();
        assert!(with_lines > 50 && with_lines < 300, "{with_lines}");
        assert!(!b.orders[&OrderId::new("o0299").unwrap()].placed.as_ref().unwrap().lines.is_empty());
        assert!(b.orders[&OrderId::new("o0000").unwrap()].placed.as_ref().unwrap().lines.is_empty());
        assert_eq!(book(&b.orders).orders, 300);
        assert_eq!(b.meta.applied, 300);
    }

    #[test]
    fn a_grown_part_splits_its_oldest_days_into_an_archive_and_events_find_them_there() {
        let mut b = OrderBook::default();
        let mut n = 0;
        let mut placed = |b: &mut OrderBook, day: i64| {
            n += 1;
            let o = order(&format!("order-{day:05}-{}", "y".repeat(60)), &[("p", "2", 1)]);
            let secs = 1_700_000_000 + day * 86_400;
            b.fold(&event(n, secs, Payload::OrderPlaced(o)), Utc.timestamp_opt(secs, 0).unwrap()).unwrap();
        };
        for day in 0..2000 {
            placed(&mut b, day);
        }
        let before = book(&b.orders);
        let chunk = b.split_oldest().expect("2,000 orders outgrow the part");
        b.archives.push("chunk-1".into());
        assert!(b.split_oldest().is_none(), "one split brings it under the target");
        let mut archives = vec![chunk];
        let all = summarize(b.orders.values().chain(archives[0].orders.values()));
        assert_eq!(all, before, "nothing is lost by archiving");
        // A refund of an archived order lands in its chunk; a re-sent archived order changes nothing.
        let oldest = archives[0].orders.keys().next().unwrap().clone();
        let r = event(9001, 1_900_000_000, Payload::OrderRefunded(refund(oldest.as_str(), "r", &[], None)));
        assert!(b.may_need_archives(&r));
        assert_eq!(b.apply_with(&r, Utc.timestamp_opt(1_900_000_000, 0).unwrap(), &mut archives), Ok(Some(0)));
        let after = summarize(b.orders.values().chain(archives[0].orders.values()));
        assert_eq!(after.orders, before.orders - 1);
        assert!(!b.orders.contains_key(&oldest));
    }
}
