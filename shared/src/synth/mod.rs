//! Seeded synthetic shops: streams of valid events with known totals. [`shop_events`] is a small,
//! shuffled stream for correctness tests; [`shop::stream`] a realistic busy shop for costs.
//!
//! The generator keeps its own books (orders, refunds, spend per customer) while it invents
//! events, so tests can check what ingestion computed against what was generated, not against
//! the code under test. Events are spread over weeks and shuffled, so they arrive out of order.

pub mod shop;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::contact::{Channel, Email, TimeZone};
use crate::event::{
    CartItemAdded, ConsentChanged, ConsentStatus, CustomerUpdated, Engagement, MessageEngaged, OrderLine, OrderPlaced,
    OrderRefunded, Payload, ProductViewed, Quantity, RefundScope, SCHEMA_VERSION, SessionStarted, ShopEvent,
};
use crate::ids::{Category, CustomerId, EventId, MessageId, OrderId, ProductId, RefundId, SessionId, Source, Topic};
use crate::money::{Amount, Currency};

const CATEGORIES: [&str; 6] = ["Shoes", "Outerwear", "Knitwear", "Accessories", "Home", "Beauty"];
const ZONES: [&str; 6] =
    ["Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Europe/London", "Australia/Sydney"];

/// What the generator knows each customer should end up with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedCustomer {
    pub events: u64,
    /// Orders placed and not wholly refunded.
    pub orders: u32,
    /// Net spend in micro-units of EUR.
    pub spend_micros: i128,
    /// Distinct local days with a purchase that was not wholly refunded.
    pub purchase_days: BTreeSet<NaiveDate>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    pub views: u64,
}

impl ExpectedCustomer {
    /// Where `profile` differs from these books, one line per difference (empty: it matches).
    pub fn mismatches(&self, profile: &crate::profile::Profile) -> Vec<String> {
        let s = profile.purchases();
        let mut out = Vec::new();
        let mut check = |what: &str, got: String, want: String| {
            if got != want {
                out.push(format!("{}: {what} is {got}, expected {want}", profile.customer_id));
            }
        };
        check("events applied", profile.events_applied().to_string(), self.events.to_string());
        check("orders", s.orders.to_string(), self.orders.to_string());
        check(
            "net spend (micros)",
            s.total_spend.map_or(0, |m| m.amount.micros()).to_string(),
            self.spend_micros.to_string(),
        );
        check("purchase days", s.purchase_days.to_string(), self.purchase_days.len().to_string());
        check("last purchase", format!("{:?}", s.last_purchase_at), format!("{:?}", self.last_purchase_at));
        let views: u64 = profile.browse.views.iter().map(|v| u64::from(v.count)).sum();
        check("product views", views.to_string(), self.views.to_string());
        out
    }
}

#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub customers: BTreeMap<CustomerId, ExpectedCustomer>,
}

struct PlacedOrder {
    id: OrderId,
    customer: usize,
    at: DateTime<FixedOffset>,
    value: i128,
    refunded: bool,
}

/// Generates `count` events for `customers` customers over four weeks before `end`, shuffled.
pub fn shop_events(seed: u64, customers: usize, count: usize, end: DateTime<Utc>) -> (Vec<ShopEvent>, Expected) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let customers = customers.max(1);
    let ids: Vec<CustomerId> =
        (0..customers).map(|i| CustomerId::new(format!("cust-{seed}-{i:05}")).expect("valid id")).collect();
    let offsets: Vec<FixedOffset> =
        (0..customers).map(|_| FixedOffset::east_opt(rng.random_range(-8..=9) * 3600).expect("valid offset")).collect();
    let eur = Currency::new("EUR").expect("valid currency");
    let source = Source::new("synth").expect("valid source");
    let mut orders: Vec<PlacedOrder> = Vec::new();
    let mut events = Vec::with_capacity(count);

    for n in 0..count {
        let c = rng.random_range(0..customers);
        let at = (end - Duration::seconds(rng.random_range(60..28 * 86_400))).with_timezone(&offsets[c]);
        let sku =
            ProductId::new(format!("sku-{:04}", (rng.random::<f64>().powi(3) * 2000.0) as u32)).expect("valid sku");
        let category = Category::new(CATEGORIES[rng.random_range(0..CATEGORIES.len())]).expect("valid category");
        let roll = rng.random_range(0..100);
        let refundable: Vec<usize> =
            orders.iter().enumerate().filter(|(_, o)| o.customer == c && !o.refunded).map(|(i, _)| i).collect();
        let payload = match roll {
            0..=34 => Payload::ProductViewed(ProductViewed {
                product_id: sku,
                category: Some(category),
                price: None,
                currency: None,
                session_id: None,
            }),
            35..=47 => Payload::CartItemAdded(CartItemAdded {
                product_id: sku,
                category: Some(category),
                quantity: Quantity::new(rng.random_range(1..=3)).expect("valid quantity"),
                unit_price: Some(Amount::from_micros(rng.random_range(5..200) * 1_000_000 + 990_000)),
                currency: Some(eur),
            }),
            48..=57 => Payload::SessionStarted(SessionStarted {
                session_id: SessionId::new(format!("s-{seed}-{n}")).expect("valid session"),
                platform: Default::default(),
            }),
            58..=59 if !refundable.is_empty() => {
                let o = &mut orders[refundable[rng.random_range(0..refundable.len())]];
                o.refunded = true;
                Payload::OrderRefunded(OrderRefunded {
                    order_id: o.id.clone(),
                    refund_id: RefundId::new(format!("r-{seed}-{n}")).expect("valid refund id"),
                    scope: RefundScope::Whole,
                    lines: vec![],
                    amount: None,
                    currency: None,
                })
            }
            58..=72 => {
                let lines: Vec<OrderLine> = (0..rng.random_range(1..=4))
                    .map(|l| OrderLine {
                        product_id: ProductId::new(format!(
                            "sku-{:04}",
                            (rng.random::<f64>().powi(3) * 2000.0) as u32 + l
                        ))
                        .expect("valid sku"),
                        category: Some(
                            Category::new(CATEGORIES[rng.random_range(0..CATEGORIES.len())]).expect("valid"),
                        ),
                        unit_price: Amount::from_micros(rng.random_range(5..200) * 1_000_000 + 990_000),
                        quantity: Quantity::new(rng.random_range(1..=2)).expect("valid quantity"),
                    })
                    .collect();
                let order = OrderPlaced {
                    order_id: OrderId::new(format!("o-{seed}-{n}")).expect("valid"),
                    currency: eur,
                    lines,
                    total: None,
                    attribution: None,
                };
                orders.push(PlacedOrder {
                    id: order.order_id.clone(),
                    customer: c,
                    at,
                    value: order.value().micros(),
                    refunded: false,
                });
                Payload::OrderPlaced(order)
            }
            73..=84 => Payload::MessageEngaged(MessageEngaged {
                message_id: MessageId::new(format!("m-{seed}-{}", rng.random_range(0..500))).expect("valid"),
                channel: Channel::Email,
                action: [Engagement::Delivered, Engagement::Opened, Engagement::Clicked][rng.random_range(0..3)],
                campaign_id: None,
                variant: None,
            }),
            85..=91 => Payload::ConsentChanged(ConsentChanged {
                channel: Channel::ALL[rng.random_range(0..3)],
                topic: Topic::new("marketing").expect("valid topic"),
                status: if rng.random_bool(0.8) { ConsentStatus::Granted } else { ConsentStatus::Revoked },
                source: Source::new("signup_form").expect("valid source"),
            }),
            _ => Payload::CustomerUpdated(CustomerUpdated {
                email: Some(Some(Email::parse(&format!("customer{c}@example.com")).expect("valid email"))),
                time_zone: Some(Some(TimeZone::parse(ZONES[c % ZONES.len()]).expect("valid zone"))),
                ..CustomerUpdated::default()
            }),
        };
        events.push(ShopEvent {
            schema_version: SCHEMA_VERSION,
            id: EventId::new(format!("evt-{seed}-{n}")).expect("valid event id"),
            customer_id: ids[c].clone(),
            occurred_at: at,
            source: source.clone(),
            payload,
        });
    }

    // The books: what every customer must end up with.
    let mut expected = Expected::default();
    for e in &events {
        let x = expected.customers.entry(e.customer_id.clone()).or_default();
        x.events += 1;
        if matches!(e.payload, Payload::ProductViewed(_)) {
            x.views += 1;
        }
    }
    for o in orders.iter().filter(|o| !o.refunded) {
        let x = expected.customers.entry(ids[o.customer].clone()).or_default();
        x.orders += 1;
        x.spend_micros += o.value;
        x.purchase_days.insert(o.at.date_naive());
        // Profiles keep instants to the second.
        let utc = chrono::SubsecRound::trunc_subsecs(o.at.with_timezone(&Utc), 0);
        x.last_purchase_at = Some(x.last_purchase_at.map_or(utc, |l| l.max(utc)));
    }

    // Arrival order is not occurrence order.
    for i in (1..events.len()).rev() {
        events.swap(i, rng.random_range(0..=i));
    }
    (events, expected)
}
