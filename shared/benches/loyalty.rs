//! Loyalty in process, on one core, on the embedded store (whose meter prices every request by
//! DynamoDB's rules): accruals per second and the units each takes, redemptions and theirs, and
//! the earn rules alone.
//!
//! `cargo bench -p kairos --bench loyalty`. The shop is [`kairos::synth::shop`] (heavy and light
//! customers, many views per order, refunds) over a year; its profiles are built through ingest
//! first, then the sample program (`loyalty/program.yaml`) is deployed and every order and
//! refund of the year is accrued in time order, as ingest would after each write. Without
//! `--bench` (as `cargo test` runs it), a small shop.

use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use kairos::clock::ManualClock;
use kairos::event::Payload;
use kairos::ids::Ident;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::loyalty::earn::{Line, paid_shares, purchase};
use kairos::loyalty::redeem::{IdempotencyKey, Request};
use kairos::loyalty::{accounts, program, stored};
use kairos::store::Store;
use kairos::store::embedded::EmbeddedStore;
use kairos::synth::shop::{ShopConfig, stream};

/// An order's lines as the earn rules see them (without the catalogue).
fn lines_of(o: &kairos::event::OrderPlaced) -> Vec<Line<'_>> {
    let shares = paid_shares(&o.lines.iter().map(|l| (l.unit_price, l.quantity.get())).collect::<Vec<_>>(), o.value());
    o.lines
        .iter()
        .zip(shares)
        .map(|(l, paid)| Line {
            product: &l.product_id,
            categories: l.category.iter().map(|c| c.as_str()).collect(),
            brand: None,
            quantity: l.quantity.get(),
            paid,
        })
        .collect()
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let (customers, days) = if full { (4_000, 365) } else { (100, 60) };
    let shop = stream(&ShopConfig { seed: 7, customers, days, end, ..ShopConfig::default() });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = EmbeddedStore::new();
    let clock = ManualClock::new(end);
    let config = IngestConfig::default();
    runtime.block_on(async {
        for chunk in shop.events.chunks(100) {
            clock.set(chunk.iter().map(|(t, _)| *t).max().unwrap_or(end));
            let bodies: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (format!("m{i}"), serde_json::to_string(e).unwrap()))
                .collect();
            let records: Vec<Record> = bodies.iter().map(|(id, body)| Record { id, body }).collect();
            ingest_batch(&store, &clock, &config, &records).await;
        }
    });
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../loyalty/program.yaml"))
            .expect("the sample program");
    let program = program::read("program.yaml", &text).0.expect("the sample program reads");
    let deployed = runtime.block_on(async {
        stored::deploy(&store, &program, end).await.unwrap();
        stored::current(&store).await.unwrap().unwrap()
    });
    let accruing: Vec<_> = shop.events.iter().filter(|(_, e)| accounts::concerns(e)).collect();

    let before = store.meter().reading();
    let started = Instant::now();
    let mut applied = 0;
    let products = kairos::loyalty::ProductFacts::default();
    runtime.block_on(async {
        for (at, e) in &accruing {
            if let Ok(accounts::Accrual::Applied { .. } | accounts::Accrual::Waiting) =
                accounts::accrue(&store, &deployed, &products, e, *at).await
            {
                applied += 1;
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let used = store.meter().reading().since(&before);
    let n = accruing.len().max(1) as f64;
    println!(
        "loyalty: {} orders and refunds of {customers} customers over {days} days, one core, embedded store",
        accruing.len()
    );
    println!("  accruals/s on the embedded store (read the account and entries; write them):  {:>9.0}", n / seconds);
    println!(
        "  per accrual: {:.2} write units, {:.2} read units, {:.2} write requests ({applied} applied)",
        used.units.writes as f64 / n,
        used.units.reads() / n,
        used.write_requests as f64 / n
    );

    // Redemptions: every member asks for free shipping (300 points) once, then again with the
    // same key (a retry).
    let members: Vec<_> = shop.books.keys().cloned().collect();
    let reward = Ident::new("free-shipping").unwrap();
    let (mut ok, mut refused) = (0, 0);
    let before = store.meter().reading();
    let started = Instant::now();
    runtime.block_on(async {
        for c in &members {
            let request = Request {
                customer_id: c.clone(),
                reward_id: reward.clone(),
                idempotency_key: IdempotencyKey::try_from(format!("bench-{c}")).unwrap(),
            };
            match accounts::redeem(&store, Some(&deployed), &request, b"bench", end).await.unwrap().status {
                200 => ok += 1,
                _ => refused += 1,
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let used = store.meter().reading().since(&before);
    let asked = members.len().max(1) as f64;
    println!("  redemptions: {ok} granted, {refused} refused (409/404), {:>9.0}/s", asked / seconds);
    println!(
        "  per redemption asked: {:.2} write units, {:.2} read units",
        used.units.writes as f64 / asked,
        used.units.reads() / asked
    );
    if ok > 0 {
        println!("  per redemption granted: {:.2} write units", used.units.writes as f64 / f64::from(ok));
    }

    // Accrual in process without the store: every order's rules, the ledger's lots, tallies and
    // tier, releases due, the entry; one account per customer held in memory.
    let orders: Vec<_> = shop
        .events
        .iter()
        .filter_map(|(at, e)| match &e.payload {
            Payload::OrderPlaced(o) => Some((*at, e, o)),
            _ => None,
        })
        .collect();
    let rounds = if full { 20 } else { 1 };
    let started = Instant::now();
    let mut points = 0;
    let mut entries = 0usize;
    for _ in 0..rounds {
        let mut accounts: std::collections::HashMap<&kairos::ids::CustomerId, kairos::loyalty::Account> =
            Default::default();
        for (at, e, o) in &orders {
            let lines = lines_of(o);
            let account = accounts.entry(&e.customer_id).or_insert_with(|| kairos::loyalty::Account::new("bench"));
            let settled = accounts::settle(account, &deployed.program, &e.customer_id, *at);
            let (mut entry, earned) =
                accounts::order_earns(&deployed.program, account, o, &lines, *at, &[], false, *at);
            account.number(&mut entry);
            entries += settled.len() + 1;
            points += black_box(earned);
        }
    }
    let rate = (orders.len() * rounds) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  accruals in process (rules, lots, tallies, tiers, releases; no store): {rate:>9.0}/s ({entries} entries, {points} points)"
    );
    let started = Instant::now();
    let mut points = 0;
    for _ in 0..rounds * 10 {
        for (_, _, o) in &orders {
            let lines = lines_of(o);
            points += black_box(purchase(&deployed.program, o.currency, &lines, &[])).map_or(0, |p| p.points());
        }
    }
    let rate = (orders.len() * rounds * 10) as f64 / started.elapsed().as_secs_f64();
    println!("  earn rules alone: {rate:>9.0} orders/s ({points} points)");
}
