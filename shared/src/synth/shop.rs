//! A busy shop's event stream, as ingest meets it: what costs are measured on.
//!
//! Not uniform toy events. Customers differ by orders of magnitude in how often they come
//! (a lognormal rate: most visit a few times a season, a few several times a day); a visit is a
//! session of product views over a long-tail catalogue (a Zipf law), some cart changes, now and
//! then a checkout and an order; newsletters go out twice a week to subscribers, who open some
//! (some through privacy proxies that open everything at once) and click fewer; customers sign
//! up, give consent, update their details. Ids look like real ones (UUID event ids, long SES
//! message ids, numeric customer ids). Events arrive as a shop produces them: interleaved across
//! customers in time order, each a few seconds after it happened.
//!
//! The generator keeps books per customer (events, orders, net spend) so what ingest computed
//! can be checked against what was generated.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};

use crate::contact::{Channel, Country, Email, FirstName, TimeZone};
use crate::event::{
    CartItemAdded, CheckoutStarted, ConsentChanged, ConsentStatus, CustomerUpdated, Engagement, MessageEngaged,
    OrderLine, OrderPlaced, OrderRefunded, Payload, ProductViewed, Quantity, RefundScope, SCHEMA_VERSION,
    SessionStarted, ShopEvent,
};
use crate::ids::{
    CampaignId, Category, CustomerId, EventId, MessageId, OrderId, ProductId, RefundId, SessionId, Source, Topic,
};
use crate::money::{Amount, Currency};

/// What the shop looks like.
#[derive(Clone, Debug)]
pub struct ShopConfig {
    pub seed: u64,
    pub customers: usize,
    /// Products in the catalogue.
    pub products: usize,
    /// The stream covers the days before `end`.
    pub days: u32,
    pub end: DateTime<Utc>,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig { seed: 2026, customers: 2_000, products: 5_000, days: 28, end: Utc::now() }
    }
}

/// What one customer should end up with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Books {
    pub events: u64,
    pub orders: u32,
    /// Net spend in micro-units of EUR.
    pub net_micros: i128,
}

/// A stream in arrival order, and the books.
#[derive(Debug, Default)]
pub struct Stream {
    /// (arrival, event), in arrival order.
    pub events: Vec<(DateTime<Utc>, ShopEvent)>,
    pub books: BTreeMap<CustomerId, Books>,
}

impl Stream {
    /// The events arriving before `t`, and the rest.
    pub fn split_at(&self, t: DateTime<Utc>) -> (&[(DateTime<Utc>, ShopEvent)], &[(DateTime<Utc>, ShopEvent)]) {
        let i = self.events.partition_point(|(at, _)| *at < t);
        self.events.split_at(i)
    }

    /// Batches of `size` as a busy shop's queue delivers them: with thousands of sessions at a
    /// time, two events of one customer are rarely among the same few records. Events keep their
    /// arrival order, except that each goes into the first batch (from the current one on) that
    /// does not yet hold an event of its customer. The worst case for cost: almost no event shares
    /// a write with another.
    pub fn busy_batches(events: &[(DateTime<Utc>, ShopEvent)], size: usize) -> Vec<Vec<&(DateTime<Utc>, ShopEvent)>> {
        let size = size.max(1);
        let mut batches: Vec<Vec<&(DateTime<Utc>, ShopEvent)>> = Vec::new();
        let mut first_open = 0;
        for arrived in events {
            let mut i = first_open;
            loop {
                if i == batches.len() {
                    batches.push(Vec::with_capacity(size));
                }
                let b = &batches[i];
                if b.len() < size && !b.iter().any(|(_, x)| x.customer_id == arrived.1.customer_id) {
                    break;
                }
                i += 1;
            }
            batches[i].push(arrived);
            while first_open < batches.len() && batches[first_open].len() == size {
                first_open += 1;
            }
        }
        batches
    }

    /// How many events of each type, for reports.
    pub fn mix(events: &[(DateTime<Utc>, ShopEvent)]) -> BTreeMap<&'static str, usize> {
        let mut mix = BTreeMap::new();
        for (_, e) in events {
            *mix.entry(e.payload.kind().as_str()).or_default() += 1;
        }
        mix
    }
}

const CATEGORIES: [&str; 12] = [
    "Women > Shoes > Running",
    "Women > Dresses",
    "Men > Shirts",
    "Men > Shoes > Sneakers",
    "Home > Kitchen",
    "Home > Bedding",
    "Beauty > Skincare",
    "Accessories > Bags",
    "Kids > Toys",
    "Outdoor > Camping",
    "Electronics > Audio",
    "Sport > Fitness",
];
const ZONES: [(&str, &str); 8] = [
    ("Europe/Berlin", "DE"),
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("America/Los_Angeles", "US"),
    ("Europe/Paris", "FR"),
    ("Asia/Tokyo", "JP"),
    ("Australia/Sydney", "AU"),
    ("Asia/Kolkata", "IN"),
];

struct Customer {
    id: CustomerId,
    offset: FixedOffset,
    zone: usize,
    /// Sessions per day.
    rate: f64,
    subscribed: bool,
    /// Opens everything within seconds (a privacy proxy).
    proxy: bool,
    /// Joins the shop on this day of the stream.
    joins: i64,
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn valid<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    // The generator only builds values that satisfy their rules; a failure is a bug here.
    r.unwrap_or_else(|e| panic!("the shop generator built an invalid value: {e:?}"))
}

/// Generates the stream.
pub fn stream(config: &ShopConfig) -> Stream {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let start = config.end - Duration::days(i64::from(config.days));
    let (Ok(rate), Ok(popularity)) =
        (LogNormal::new((0.12_f64).ln(), 1.1), Zipf::new(config.products.max(1) as f64, 1.05))
    else {
        return Stream::default();
    };
    let eur = valid(Currency::new("EUR"));
    let source = valid(Source::new("shopify"));
    let customers: Vec<Customer> = (0..config.customers.max(1))
        .map(|i| {
            let zone = rng.random_range(0..ZONES.len());
            let tz = valid(TimeZone::parse(ZONES[zone].0)).tz();
            let offset = chrono::Offset::fix(&chrono::TimeZone::offset_from_utc_datetime(&tz, &config.end.naive_utc()));
            Customer {
                id: valid(CustomerId::new(format!("{}", 7_040_923_000_000_u64 + i as u64 * 7919))),
                offset,
                zone,
                rate: rate.sample(&mut rng).clamp(0.01, 12.0),
                subscribed: rng.random_bool(0.6),
                proxy: rng.random_bool(0.4),
                joins: if rng.random_bool(0.8) { -1 } else { rng.random_range(0..i64::from(config.days.max(1))) },
            }
        })
        .collect();

    let mut events: Vec<(DateTime<Utc>, ShopEvent)> = Vec::new();
    let push = |events: &mut Vec<(DateTime<Utc>, ShopEvent)>,
                rng: &mut ChaCha8Rng,
                c: &Customer,
                at: DateTime<Utc>,
                payload: Payload| {
        let arrival = at + Duration::milliseconds(rng.random_range(200..6_000));
        events.push((
            arrival,
            ShopEvent {
                schema_version: SCHEMA_VERSION,
                id: valid(EventId::new(uuid(rng))),
                customer_id: c.id.clone(),
                occurred_at: at.with_timezone(&c.offset),
                source: source.clone(),
                payload,
            },
        ));
    };
    let product = |n: usize| valid(ProductId::new(format!("sku-{n:05}-{}", ["blk", "wht", "red", "nvy"][n % 4])));
    let category = |n: usize| valid(Category::new(CATEGORIES[(n * 7 + n / 13) % CATEGORIES.len()]));
    let price = |n: usize| Amount::from_micros(i128::from(((n * 37) % 180 + 9) as u32) * 1_000_000 + 990_000);

    for c in &customers {
        // Signing up: details and consent, once.
        let joined_at = if c.joins < 0 {
            None
        } else {
            Some(start + Duration::days(c.joins) + Duration::minutes(rng.random_range(0..1440)))
        };
        let identify = |rng: &mut ChaCha8Rng| {
            let n: u32 = rng.random_range(1000..99999);
            Payload::CustomerUpdated(CustomerUpdated {
                email: Some(Some(valid(Email::parse(&format!("customer.{n}@mail.example"))))),
                time_zone: Some(Some(valid(TimeZone::parse(ZONES[c.zone].0)))),
                country: Some(Some(valid(Country::parse(ZONES[c.zone].1)))),
                first_name: Some(Some(valid(FirstName::parse(
                    ["Lena", "Ana", "Kenji", "Priya", "Tom", "Chloé"][n as usize % 6],
                )))),
                ..CustomerUpdated::default()
            })
        };
        if let Some(at) = joined_at {
            let p = identify(&mut rng);
            push(&mut events, &mut rng, c, at, p);
            if c.subscribed {
                let consent = Payload::ConsentChanged(ConsentChanged {
                    channel: Channel::Email,
                    topic: valid(Topic::new("marketing")),
                    status: ConsentStatus::Granted,
                    source: valid(Source::new("signup_form")),
                });
                push(&mut events, &mut rng, c, at + Duration::seconds(2), consent);
            }
        }
        let first_day = joined_at.unwrap_or(start);
        // Sessions: a Poisson process at the customer's rate, mostly in their waking hours.
        let mut t = first_day;
        let mut orders: Vec<OrderId> = Vec::new();
        loop {
            let gap_days = -rng.random::<f64>().max(1e-12).ln() / c.rate;
            t += Duration::seconds((gap_days * 86_400.0) as i64);
            if t >= config.end {
                break;
            }
            let local_hour = (t + Duration::seconds(i64::from(c.offset.local_minus_utc()))).time();
            if chrono::Timelike::hour(&local_hour) < 7 && rng.random_bool(0.8) {
                continue;
            }
            let mut at = t;
            let session = valid(SessionId::new(uuid(&mut rng)));
            push(
                &mut events,
                &mut rng,
                c,
                at,
                Payload::SessionStarted(SessionStarted { session_id: session, platform: Default::default() }),
            );
            let views = 1 + (-(rng.random::<f64>().max(1e-12)).ln() * (3.0 + c.rate.min(4.0))) as usize;
            let mut cart: Vec<usize> = Vec::new();
            for _ in 0..views.min(60) {
                at += Duration::seconds(rng.random_range(15..120));
                let n = popularity.sample(&mut rng) as usize;
                push(
                    &mut events,
                    &mut rng,
                    c,
                    at,
                    Payload::ProductViewed(ProductViewed {
                        product_id: product(n),
                        category: Some(category(n)),
                        price: Some(price(n)),
                        currency: Some(eur),
                        session_id: None,
                    }),
                );
                if rng.random_bool(0.07) {
                    at += Duration::seconds(rng.random_range(5..40));
                    cart.push(n);
                    push(
                        &mut events,
                        &mut rng,
                        c,
                        at,
                        Payload::CartItemAdded(CartItemAdded {
                            product_id: product(n),
                            category: Some(category(n)),
                            quantity: Quantity::ONE,
                            unit_price: Some(price(n)),
                            currency: Some(eur),
                        }),
                    );
                }
            }
            if !cart.is_empty() && rng.random_bool(0.4) {
                at += Duration::seconds(rng.random_range(20..200));
                push(
                    &mut events,
                    &mut rng,
                    c,
                    at,
                    Payload::CheckoutStarted(CheckoutStarted { checkout_id: None, value: None, currency: None }),
                );
                if rng.random_bool(0.7) {
                    at += Duration::seconds(rng.random_range(60..400));
                    let id = valid(OrderId::new(format!("#{}", 1_000_000 + events.len())));
                    let lines = cart
                        .iter()
                        .map(|n| OrderLine {
                            product_id: product(*n),
                            category: Some(category(*n)),
                            unit_price: price(*n),
                            quantity: Quantity::ONE,
                        })
                        .collect();
                    let order =
                        OrderPlaced { order_id: id.clone(), currency: eur, lines, total: None, attribution: None };
                    if joined_at.is_none() && orders.is_empty() {
                        // A guest checkout identifies the customer.
                        let p = identify(&mut rng);
                        push(&mut events, &mut rng, c, at - Duration::seconds(1), p);
                    }
                    push(&mut events, &mut rng, c, at, Payload::OrderPlaced(order));
                    orders.push(id);
                }
            }
        }
        // A few orders come back, whole, some days later.
        for id in &orders {
            if rng.random_bool(0.04) {
                let Some(placed_at) = events.iter().rev().find_map(|(_, e)| match &e.payload {
                    Payload::OrderPlaced(o) if &o.order_id == id => Some(e.occurred_at.with_timezone(&Utc)),
                    _ => None,
                }) else {
                    continue;
                };
                let at = placed_at + Duration::days(rng.random_range(2..20));
                if at < config.end {
                    let refund = OrderRefunded {
                        order_id: id.clone(),
                        refund_id: valid(RefundId::new(format!("r{id}"))),
                        scope: RefundScope::Whole,
                        lines: vec![],
                        amount: None,
                        currency: None,
                    };
                    push(&mut events, &mut rng, c, at, Payload::OrderRefunded(refund));
                }
            }
        }
        // Newsletters, twice a week, to subscribers who have joined.
        if c.subscribed {
            let mut send = start + Duration::hours(9);
            let mut n = 0;
            while send < config.end {
                if joined_at.is_none_or(|j| send > j) {
                    let message = valid(MessageId::new(format!("0100018c{:08x}-{}-000000", n, uuid(&mut rng))));
                    let campaign = Some(valid(CampaignId::new(format!("newsletter-{n}"))));
                    let engaged = |action| {
                        Payload::MessageEngaged(MessageEngaged {
                            message_id: message.clone(),
                            channel: Channel::Email,
                            action,
                            campaign_id: campaign.clone(),
                            variant: None,
                        })
                    };
                    push(&mut events, &mut rng, c, send, engaged(Engagement::Delivered));
                    if c.proxy {
                        let prefetch = send + Duration::seconds(rng.random_range(1..8));
                        push(&mut events, &mut rng, c, prefetch, engaged(Engagement::Opened));
                    }
                    if rng.random_bool((0.15 + c.rate.min(1.0) * 0.3).min(0.6)) {
                        let open = send + Duration::minutes(rng.random_range(5..2000));
                        push(&mut events, &mut rng, c, open, engaged(Engagement::Opened));
                        if rng.random_bool(0.12) {
                            let click = open + Duration::seconds(rng.random_range(5..120));
                            push(&mut events, &mut rng, c, click, engaged(Engagement::Clicked));
                        }
                    }
                }
                n += 1;
                send += Duration::hours(if n % 2 == 0 { 96 } else { 72 });
            }
        }
    }
    events.retain(|(arrival, _)| *arrival < config.end);
    events.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    // The books, from what arrived: every event once, orders not wholly refunded (every refund
    // here is whole, and every order id is used once).
    let mut books: BTreeMap<CustomerId, Books> = BTreeMap::new();
    let mut placed: BTreeMap<&OrderId, (&CustomerId, i128)> = BTreeMap::new();
    let mut refunded: std::collections::BTreeSet<&OrderId> = Default::default();
    for (_, e) in &events {
        books.entry(e.customer_id.clone()).or_default().events += 1;
        match &e.payload {
            Payload::OrderPlaced(o) => {
                placed.insert(&o.order_id, (&e.customer_id, o.value().micros()));
            }
            Payload::OrderRefunded(r) => {
                refunded.insert(&r.order_id);
            }
            _ => {}
        }
    }
    for (id, (customer, value)) in placed {
        if !refunded.contains(id) {
            let b = books.entry(customer.clone()).or_default();
            b.orders += 1;
            b.net_micros += value;
        }
    }
    Stream { events, books }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn the_stream_looks_like_a_busy_shop() {
        let config = ShopConfig {
            customers: 400,
            days: 28,
            end: Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(),
            ..ShopConfig::default()
        };
        let s = stream(&config);
        let mix = Stream::mix(&s.events);
        let total = s.events.len() as f64;
        let share = |k: &str| *mix.get(k).unwrap_or(&0) as f64 / total;
        assert!(share("product_viewed") > 0.4, "{mix:?}");
        assert!(share("order_placed") > 0.003 && share("order_placed") < 0.05, "{mix:?}");
        assert!(share("message_engaged") > 0.1, "{mix:?}");
        // Heavy and light customers: the busiest tenth sends most of the events.
        let mut per: Vec<u64> = s.books.values().map(|b| b.events).collect();
        per.sort_unstable_by(|a, b| b.cmp(a));
        let top: u64 = per.iter().take(per.len() / 10).sum();
        assert!(top as f64 > 0.4 * total, "top tenth sends {top} of {total}");
        assert!(s.events.windows(2).all(|w| w[0].0 <= w[1].0), "arrival order");
        // As a busy shop's queue delivers them, a batch of ten holds ten customers, and every
        // event is delivered once.
        let batches = Stream::busy_batches(&s.events, 10);
        let full = batches.iter().filter(|b| b.len() == 10).count();
        assert!(full as f64 > 0.9 * batches.len() as f64, "{full} of {} batches full", batches.len());
        assert!(
            batches.iter().all(|b| b
                .iter()
                .map(|(_, e)| &e.customer_id)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                == b.len())
        );
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), s.events.len());
    }
}
