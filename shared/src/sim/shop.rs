//! The simulated shop: customers with zones, true preferred hours, tastes over a catalogue with
//! a long tail, purchase and churn processes, and the way they answer the messages they get.
//!
//! Everything a customer does is an event in the schema (JSON), so the shop feeds Kairos exactly
//! as a real one would. The customers' true hours and tastes are kept here, apart from what Kairos
//! learns, so the report can hold Kairos's choices against the truth.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
use serde_json::{Value, json};

/// Zones customers live in, with their country, language, currency and weight: daylight saving
/// time on both hemispheres, a half-hour zone, and one without DST.
const ZONES: &[(&str, &str, &str, &str, u32)] = &[
    ("Europe/Berlin", "DE", "de-DE", "EUR", 24),
    ("Europe/Paris", "FR", "fr-FR", "EUR", 12),
    ("Europe/London", "GB", "en-GB", "GBP", 12),
    ("America/New_York", "US", "en-US", "USD", 18),
    ("America/Los_Angeles", "US", "en-US", "USD", 10),
    ("America/Sao_Paulo", "BR", "pt-BR", "EUR", 5),
    ("Asia/Tokyo", "JP", "ja-JP", "JPY", 8),
    ("Asia/Kolkata", "IN", "en-IN", "EUR", 5),
    ("Australia/Sydney", "AU", "en-AU", "EUR", 6),
];

/// Categories of the catalogue, with what a product in them costs (EUR).
const CATEGORIES: &[(&str, f64)] = &[
    ("Shoes", 95.0),
    ("Outerwear", 140.0),
    ("Knitwear", 70.0),
    ("Accessories", 30.0),
    ("Home", 45.0),
    ("Beauty", 25.0),
    ("Sport", 60.0),
    ("Kids", 35.0),
];
const BRANDS: &[&str] = &["Fleet", "Norda", "Kestrel", "Alba", "Moss", "Tern"];

/// A product of the simulated catalogue.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub category: usize,
    pub price_eur: f64,
    pub brand: &'static str,
}

/// The catalogue: products by category, each category's products in popularity order (Zipf: a
/// head and a long tail).
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub products: Vec<Product>,
    pub by_category: Vec<Vec<usize>>,
}

impl Catalogue {
    pub fn new(products: usize, rng: &mut ChaCha8Rng) -> Catalogue {
        let mut out = Vec::with_capacity(products);
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for i in 0..products.max(CATEGORIES.len()) {
            let category = i % CATEGORIES.len();
            let base = CATEGORIES[category].1;
            let price = (base * LogNormal::new(0.0_f64, 0.35).map_or(1.0_f64, |d| d.sample(rng))).clamp(3.0, 2_000.0);
            out.push(Product {
                id: format!("sku-{}-{i:05}", CATEGORIES[category].0.to_lowercase()),
                category,
                price_eur: (price * 100.0).round() / 100.0,
                brand: BRANDS[rng.random_range(0..BRANDS.len())],
            });
            by_category[category].push(i);
        }
        Catalogue { products: out, by_category }
    }

    pub fn category_name(&self, c: usize) -> &'static str {
        CATEGORIES[c].0
    }

    pub fn categories(&self) -> usize {
        CATEGORIES.len()
    }

    /// A product of `category`, popular ones more often (Zipf with exponent 1.1).
    pub fn pick(&self, category: usize, rng: &mut ChaCha8Rng) -> usize {
        let list = &self.by_category[category];
        let n = list.len() as f64;
        // Inverse transform of a continuous approximation of Zipf(1.1) over 1..=n.
        let u: f64 = rng.random();
        let s = 1.1_f64;
        let rank = ((u * (n.powf(1.0 - s) - 1.0) + 1.0).powf(1.0 / (1.0 - s))).floor() as usize;
        list[rank.clamp(1, list.len()) - 1]
    }

    /// The catalogue's products as `product_updated` events at `at`.
    pub fn events(&self, at: DateTime<Utc>) -> Vec<Value> {
        self.products
            .iter()
            .map(|p| {
                json!({"schema_version": 1, "id": format!("cat-{}", p.id), "occurred_at": at.to_rfc3339(), "source": "feed",
                    "type": "product_updated", "data": {"product_id": p.id, "title": title(p, self),
                    "url": format!("https://shop.example/p/{}", p.id), "image_url": format!("https://cdn.shop.example/{}.jpg", p.id),
                    "price": format!("{:.2}", p.price_eur), "currency": "EUR",
                    "category_path": [self.category_name(p.category)], "brand": p.brand, "in_stock": true}})
            })
            .collect()
    }
}

fn title(p: &Product, c: &Catalogue) -> String {
    format!("{} {} {}", p.brand, c.category_name(p.category), &p.id[p.id.len() - 3..])
}

/// A customer as the simulation knows them (the truth Kairos has to learn).
#[derive(Clone, Debug)]
pub struct Customer {
    pub id: String,
    pub zone: Tz,
    pub country: &'static str,
    pub locale: &'static str,
    pub currency: &'static str,
    /// How much of their attention falls in each local hour of the week (Monday 00:00 first);
    /// sums to 1.
    pub attention: Vec<f64>,
    /// The hour of the day they are most attentive on weekdays (for the report).
    pub peak_hour: u32,
    /// Taste over categories; sums to 1.
    pub taste: Vec<f64>,
    pub sessions_per_week: f64,
    /// The chance a session ends in an order.
    pub buy_chance: f64,
    /// Chance per week of leaving for good (the churn process).
    pub churn_per_week: f64,
    pub alive: bool,
    pub phone: Option<String>,
    pub email_ok: bool,
    /// Consented to marketing by email, SMS, push.
    pub consents: [bool; 3],
    pub push: bool,
    pub birthday: Option<(u32, u32)>,
    /// Opens by a privacy proxy at once, whatever they read.
    pub proxy_opens: bool,
    /// When they first came (before the window: returning; inside it: new).
    pub joined: DateTime<Utc>,
    /// Messages they received, latest last (fatigue).
    pub received: Vec<DateTime<Utc>>,
    pub cart: Vec<usize>,
    pub orders: u32,
    pub unsubscribed: bool,
}

impl Customer {
    /// Their attention in the local hour of the week that `at` falls in.
    pub fn attention_at(&self, at: DateTime<Utc>) -> f64 {
        let local = at.with_timezone(&self.zone);
        let how = local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize;
        self.attention[how]
    }

    /// How likely they are to notice a message arriving at `at` in its channel's reading window:
    /// email is read in the hours after it lands, SMS and push at once. 1 is an average hour.
    pub fn reach(&self, at: DateTime<Utc>, email: bool) -> f64 {
        let mean = 1.0 / 168.0;
        let weights: &[f64] = if email { &[0.4, 0.3, 0.2, 0.1] } else { &[0.85, 0.15] };
        let seen: f64 =
            weights.iter().enumerate().map(|(k, w)| w * self.attention_at(at + Duration::hours(k as i64))).sum();
        seen / mean
    }

    /// Whether their local time at `at` is night (22:00 to 07:00).
    pub fn night(&self, at: DateTime<Utc>) -> bool {
        let h = at.with_timezone(&self.zone).hour();
        !(7..22).contains(&h)
    }

    pub fn segment_new(&self, window_start: DateTime<Utc>) -> bool {
        self.joined >= window_start
    }
}

fn pick_zone(rng: &mut ChaCha8Rng) -> &'static (&'static str, &'static str, &'static str, &'static str, u32) {
    let total: u32 = ZONES.iter().map(|z| z.4).sum();
    let mut r = rng.random_range(0..total);
    for z in ZONES {
        if r < z.4 {
            return z;
        }
        r -= z.4;
    }
    &ZONES[0]
}

fn phone(country: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    let n = rng.random_range(0..100_u32);
    Some(match country {
        // Manhattan, Miami (Florida's hours), Oklahoma City (Oklahoma's), San Francisco.
        "US" => format!("+1{}55501{n:02}", ["212", "305", "405", "415"][rng.random_range(0..4)]),
        "FR" => format!("+33612345{n:03}"),
        "DE" => format!("+4915123456{n:03}"),
        "GB" => format!("+447700900{n:03}"),
        _ => return None,
    })
}

/// A customer's attention over the week: one or two daily peaks (a routine), weekends shifted.
fn attention(rng: &mut ChaCha8Rng) -> (Vec<f64>, u32) {
    let routines: [&[(f64, f64)]; 5] = [
        &[(7.5, 1.0), (20.0, 0.6)],
        &[(12.5, 1.0), (19.0, 0.4)],
        &[(20.5, 1.0)],
        &[(22.5, 1.0), (13.0, 0.3)],
        &[(9.5, 0.6), (17.5, 1.0)],
    ];
    let routine = routines[rng.random_range(0..routines.len())];
    let shift: f64 = rng.random_range(-1.0..1.0);
    let mut a = vec![0.0; 168];
    for day in 0..7 {
        let weekend = day >= 5;
        for hour in 0..24 {
            let h = hour as f64 + 0.5;
            let mut v = 0.03;
            for (peak, w) in routine {
                let p = peak + shift + if weekend { 1.5 } else { 0.0 };
                let d = (h - p).abs().min(24.0 - (h - p).abs());
                v += w * (-d * d / 2.0).exp();
            }
            a[day * 24 + hour] = v;
        }
    }
    let sum: f64 = a.iter().sum();
    a.iter_mut().for_each(|v| *v /= sum);
    let peak = (routine[0].0 + shift).rem_euclid(24.0).floor() as u32;
    (a, peak)
}

/// `n` customers, a `share_new` of whom join during the window (the others before it).
pub fn customers(
    n: usize,
    window: (DateTime<Utc>, DateTime<Utc>),
    history_days: i64,
    rng: &mut ChaCha8Rng,
) -> Vec<Customer> {
    let (start, end) = window;
    (0..n)
        .map(|i| {
            let z = pick_zone(rng);
            let zone: Tz = z.0.parse().unwrap_or(chrono_tz::UTC);
            let (attention, peak_hour) = attention(rng);
            let mut taste: Vec<f64> = (0..CATEGORIES.len()).map(|_| rng.random::<f64>().powi(3)).collect();
            let favourite = rng.random_range(0..taste.len());
            taste[favourite] += 1.0;
            let t: f64 = taste.iter().sum();
            taste.iter_mut().for_each(|v| *v /= t);
            let heavy = rng.random::<f64>() < 0.15;
            let sessions_per_week = if heavy {
                rng.random_range(4.0..10.0)
            } else {
                LogNormal::new(0.0_f64, 0.8).map_or(1.0_f64, |d| d.sample(rng)).min(5.0)
            };
            let joined = if rng.random::<f64>() < 0.2 {
                start + Duration::seconds(rng.random_range(0..(end - start).num_seconds().max(1)))
            } else {
                start - Duration::seconds(rng.random_range(3_600..history_days.max(2) * 86_400))
            };
            let phone = phone(z.1, rng);
            Customer {
                id: format!("sim-{i:06}"),
                zone,
                country: z.1,
                locale: z.2,
                currency: z.3,
                attention,
                peak_hour,
                taste,
                sessions_per_week,
                buy_chance: rng.random_range(0.03..0.12),
                churn_per_week: rng.random_range(0.002..0.03),
                alive: true,
                email_ok: rng.random::<f64>() > 0.01,
                consents: [
                    rng.random::<f64>() < 0.75,
                    phone.is_some() && rng.random::<f64>() < 0.35,
                    rng.random::<f64>() < 0.3,
                ],
                push: rng.random::<f64>() < 0.4,
                phone,
                birthday: (rng.random::<f64>() < 0.6).then(|| (rng.random_range(1..=12), rng.random_range(1..=28))),
                proxy_opens: rng.random::<f64>() < 0.2,
                joined,
                received: Vec::new(),
                cart: Vec::new(),
                orders: 0,
                unsubscribed: false,
            }
        })
        .collect()
}

/// Builds events with ids unique in the run.
pub struct Events {
    pub next: u64,
}

impl Events {
    pub fn event(&mut self, customer: &str, at: DateTime<Utc>, kind: &str, data: Value) -> Value {
        self.next += 1;
        json!({"schema_version": 1, "id": format!("sim-{}", self.next), "customer_id": customer,
            "occurred_at": at.to_rfc3339(), "source": "sim", "type": kind, "data": data})
    }
}

/// A price in the customer's currency (JPY has no minor unit).
pub fn price(eur: f64, currency: &str) -> String {
    match currency {
        "USD" => format!("{:.2}", eur * 1.08),
        "GBP" => format!("{:.2}", eur * 0.86),
        "JPY" => format!("{}", (eur * 162.0).round() as i64),
        _ => format!("{eur:.2}"),
    }
}

/// A customer's first events: who they are, how to reach them, what they agreed to.
pub fn sign_up(c: &Customer, ev: &mut Events) -> Vec<Value> {
    let at = c.joined;
    let mut details = json!({"time_zone": c.zone.name(), "country": c.country, "locale": c.locale,
        "first_name": format!("Sam{}", &c.id[c.id.len() - 3..])});
    if c.email_ok {
        details["email"] = format!("{}@mail.example", c.id).into();
    } else {
        details["email"] = format!("{}@bounce.invalid", c.id).into();
    }
    if let Some(p) = &c.phone {
        details["phone"] = p.clone().into();
    }
    if c.push {
        details["push_token"] = json!({"platform": "fcm", "token": format!("fcm-{}-token", c.id)});
    }
    if let Some((m, d)) = c.birthday {
        details["birthday"] = format!("{m:02}-{d:02}").into();
    }
    let mut out = vec![ev.event(&c.id, at, "customer_updated", details)];
    for (i, channel) in ["email", "sms", "push"].iter().enumerate() {
        if c.consents[i] {
            for topic in ["marketing", "loyalty", "newsletter"] {
                out.push(ev.event(
                    &c.id,
                    at + Duration::seconds(1),
                    "consent_changed",
                    json!({"channel": channel, "topic": topic, "status": "granted", "source": "signup_form"}),
                ));
            }
        }
    }
    out
}

/// What a customer did in one hour: their sessions, views, carts and orders (and later events
/// they set in motion: refunds, reviews), each with its time.
pub fn hour(
    c: &mut Customer,
    catalogue: &Catalogue,
    at: DateTime<Utc>,
    ev: &mut Events,
    rng: &mut ChaCha8Rng,
    later: &mut Vec<(DateTime<Utc>, Value)>,
) -> Vec<Value> {
    if !c.alive || at < c.joined {
        return Vec::new();
    }
    // The churn process, once a day at their midnight.
    if at.with_timezone(&c.zone).hour() == 0 && rng.random::<f64>() < c.churn_per_week / 7.0 {
        c.alive = false;
        return Vec::new();
    }
    let chance = c.sessions_per_week * c.attention_at(at);
    if rng.random::<f64>() >= chance {
        return Vec::new();
    }
    session(c, catalogue, at + Duration::minutes(rng.random_range(0..50)), ev, rng, later, None)
}

/// One visit: views by taste, perhaps a cart and an order. `about` is what a message showed
/// (its products are looked at first, and more likely bought).
pub fn session(
    c: &mut Customer,
    catalogue: &Catalogue,
    start: DateTime<Utc>,
    ev: &mut Events,
    rng: &mut ChaCha8Rng,
    later: &mut Vec<(DateTime<Utc>, Value)>,
    about: Option<(&[usize], f64, Option<(&str, &str, &str)>)>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut t = start;
    let sid = format!("s-{}-{}", c.id, start.timestamp());
    out.push(ev.event(&c.id, t, "session_started", json!({"session_id": sid})));
    let views = 1 + Poisson::new(3.0).map_or(2.0, |d: Poisson<f64>| d.sample(rng)) as usize;
    let mut seen = Vec::new();
    if let Some((shown, _, _)) = about {
        seen.extend(shown.iter().take(2).copied());
    }
    while seen.len() < views {
        let category = pick_weighted(&c.taste, rng);
        seen.push(catalogue.pick(category, rng));
    }
    for &p in &seen {
        t += Duration::seconds(rng.random_range(20..180));
        let product = &catalogue.products[p];
        out.push(ev.event(
            &c.id,
            t,
            "product_viewed",
            json!({"product_id": product.id,
            "category": catalogue.category_name(product.category), "price": price(product.price_eur, c.currency),
            "currency": c.currency, "session_id": sid}),
        ));
        if rng.random::<f64>() < 0.2 {
            c.cart.push(p);
            out.push(ev.event(
                &c.id,
                t + Duration::seconds(5),
                "cart_item_added",
                json!({"product_id": product.id,
                "category": catalogue.category_name(product.category), "quantity": 1,
                "unit_price": price(product.price_eur, c.currency), "currency": c.currency}),
            ));
        }
    }
    let boost = about.map_or(0.0, |(_, b, _)| b);
    let buys = rng.random::<f64>() < (c.buy_chance + boost).min(0.9);
    // Some carts get as far as the checkout and no further.
    if !buys && !c.cart.is_empty() && rng.random::<f64>() < 0.15 {
        t += Duration::minutes(rng.random_range(1..5));
        out.push(ev.event(
            &c.id,
            t,
            "checkout_started",
            json!({"checkout_id": format!("co-{}-{}", c.id, t.timestamp())}),
        ));
    }
    if buys {
        if c.cart.is_empty() {
            c.cart.push(seen[rng.random_range(0..seen.len())]);
        }
        t += Duration::minutes(rng.random_range(2..10));
        let order_id = format!("o-{}-{}", c.id, t.timestamp());
        let lines: Vec<Value> = c
            .cart
            .iter()
            .map(|&p| {
                let product = &catalogue.products[p];
                json!({"product_id": product.id, "category": catalogue.category_name(product.category),
                    "unit_price": price(product.price_eur, c.currency), "quantity": 1})
            })
            .collect();
        out.push(ev.event(
            &c.id,
            t - Duration::minutes(1),
            "checkout_started",
            json!({"checkout_id": format!("co-{order_id}")}),
        ));
        let mut data = json!({"order_id": order_id, "currency": c.currency, "lines": lines});
        if let Some((_, _, Some((message, campaign, variant)))) = about {
            data["attribution"] = json!({"message_id": message, "campaign_id": campaign, "variant": variant});
        }
        out.push(ev.event(&c.id, t, "order_placed", data));
        c.orders += 1;
        c.cart.clear();
        if rng.random::<f64>() < 0.04 {
            let when = t + Duration::days(rng.random_range(3..14));
            later.push((
                when,
                ev.event(
                    &c.id,
                    when,
                    "order_refunded",
                    json!({"order_id": order_id, "refund_id": format!("r-{order_id}"), "scope": "whole"}),
                ),
            ));
        }
        if rng.random::<f64>() < 0.1 {
            let when = t + Duration::days(rng.random_range(5..20));
            later.push((
                when,
                ev.event(
                    &c.id,
                    when,
                    "action_performed",
                    json!({"action": "review", "reference": format!("rev-{order_id}")}),
                ),
            ));
        }
    }
    out
}

pub fn pick_weighted(weights: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let mut r: f64 = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    weights.len() - 1
}

/// A seeded generator for one purpose of the run (each purpose its own stream, so adding
/// customers does not change what the catalogue is).
pub fn rng(seed: u64, purpose: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ purpose)
}

/// The instant `at` would be at the top of its hour.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), at.day(), at.hour(), 0, 0).single().unwrap_or(at)
}
