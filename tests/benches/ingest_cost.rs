//! What ingest costs, measured the way AWS bills it, on a realistic shop.
//!
//! `cargo bench -p kairos-tests --bench ingest_cost` (run without `--bench`, as `cargo test`
//! does, it uses a small shop and checks nothing but that it runs and the books balance).
//!
//! 1. A shop ([`kairos::synth::shop`]): customers from occasional to several visits a day,
//!    sessions of product views over a long-tail catalogue, carts, orders, refunds, twice-weekly
//!    newsletters with opens (some by privacy proxies) and clicks, sign-ups and consents.
//! 2. Its history (months) is ingested in process to grow the profiles, which are then loaded into
//!    a table on the DynamoDB emulator.
//! 3. The last week goes through the real `ingest` handler against that table, in batches of 10
//!    as a busy shop's queue delivers them (a batch rarely holds two events of one customer), and
//!    then of 100. The store's meter prices every request by DynamoDB's rules (item sizes, larger
//!    of before and after, transactions twice, reads per 4 KB, eventually consistent half).
//! 4. The all-in cost per million events adds Lambda (arm64, the template's 256 MB, at the handler's
//!    measured in-process duration plus DynamoDB round trips) and SQS (requests per batch).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use kairos::clock::ManualClock;
use kairos::customers;
use kairos::event::ShopEvent;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::embedded::EmbeddedStore;
use kairos::store::{Condition, Reading, Store, Write, item_size, scan_all};
use kairos::synth::shop::{ShopConfig, Stream, stream};
use kairos_ingest::{Deps, handle};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lambda arm64: per request, and per GB-second.
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_GB: f64 = 0.25;
/// A DynamoDB round trip from Lambda in the same region (the handler makes two per batch: one
/// batched read of every part, then the parts' writes in parallel).
const ROUND_TRIP: Duration = Duration::from_millis(6);
/// SQS standard, per request (of up to 64 KB).
const SQS_REQUEST: f64 = 0.40 / 1e6;
/// EventBridge custom events, per event.
const EVENTBRIDGE_EVENT: f64 = 1.00 / 1e6;

type Batch = (DateTime<Utc>, Vec<(String, String)>);

fn batches(events: &[(DateTime<Utc>, ShopEvent)], size: usize, tag: &str) -> Vec<Batch> {
    Stream::busy_batches(events, size)
        .into_iter()
        .enumerate()
        .map(|(n, b)| {
            let arrival = b.iter().map(|(t, _)| *t).max().unwrap_or_else(Utc::now);
            let bodies = b
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (format!("{tag}{n}-{i}"), serde_json::to_string(e).expect("an event serializes")))
                .collect();
            (arrival, bodies)
        })
        .collect()
}

async fn ingest_in_process(store: &EmbeddedStore, batches: &[Batch]) -> Duration {
    let clock = ManualClock::new(Utc::now());
    let config = IngestConfig::default();
    let mut busy = Duration::ZERO;
    for (arrival, batch) in batches {
        clock.set(*arrival);
        let records: Vec<Record> = batch.iter().map(|(id, body)| Record { id, body }).collect();
        let started = Instant::now();
        let report = ingest_batch(store, &clock, &config, &records).await;
        busy += started.elapsed();
        assert!(
            report.failures.is_empty() && report.rejected.is_empty(),
            "{:?} {:?}",
            report.failures,
            report.rejected
        );
    }
    busy
}

struct Measured {
    events: usize,
    invocations: usize,
    used: Reading,
    /// In-process handler time per invocation (CPU, no network).
    busy: Duration,
}

impl Measured {
    fn per_event(&self, x: f64) -> f64 {
        x / self.events as f64
    }

    /// Dollars per million events: DynamoDB, Lambda, SQS (direct), EventBridge (if used).
    fn dollars_per_million(&self) -> (f64, f64, f64, f64) {
        let scale = 1e6 / self.events as f64;
        let dynamodb = self.used.units.dollars() * scale;
        let per_invocation = self.busy.as_secs_f64() / self.invocations as f64 + 2.0 * ROUND_TRIP.as_secs_f64();
        // Lambda bills whole milliseconds.
        let billed = (per_invocation * 1000.0).ceil() / 1000.0;
        let lambda = self.invocations as f64 * (LAMBDA_REQUEST + billed * LAMBDA_GB * LAMBDA_GB_SECOND) * scale;
        // The shop sends in batches of ten; Lambda's poller receives and deletes in batches.
        let batch = self.events as f64 / self.invocations as f64;
        let sqs =
            (self.events as f64 / 10.0 + 2.0 * self.invocations as f64 * (batch / 10.0).ceil()) * SQS_REQUEST * scale;
        (dynamodb, lambda, sqs, EVENTBRIDGE_EVENT * 1e6)
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (customers, days, window_days) = if full { (3_000, 180, 7) } else { (150, 40, 3) };
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).single().expect("a date");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let shop = stream(&ShopConfig { seed: 2026, customers, days, end, ..ShopConfig::default() });
        let (history, window) = shop.split_at(end - chrono::Duration::days(window_days));
        println!("shop: {customers} customers, {days} days, {} events; measured: the last {window_days} days, {} events", shop.events.len(), window.len());
        println!("mix of the measured days: {:?}", Stream::mix(window));

        // Profiles grown by months of history, in process, then loaded into the emulator.
        let grown = EmbeddedStore::new();
        ingest_in_process(&grown, &batches(history, 100, "h")).await;
        let items = scan_all(&grown, None).await.expect("scan");
        report_sizes(&items);
        let table = kairos_tests::fresh_store().await;
        for item in &items {
            table.write(vec![Write::Put { item: item.clone(), condition: Condition::Always }]).await.expect("load an item");
        }

        // The measured week through the real handler against the emulator, batches of ten.
        let ten = batches(window, 10, "w");
        // The handler's clock follows the stream, as the in-process runs' does.
        let deps = Deps { store: table, config: IngestConfig::default(), clock: ManualClock::new(end) };
        let before = deps.store.meter().reading();
        let started = Instant::now();
        for (arrival, batch) in &ten {
            deps.clock.set(*arrival);
            let response = handle(&deps, kairos_tests::sqs_batch(batch)).await.expect("the handler answers");
            assert!(response.batch_item_failures.is_empty(), "failures: {:?}", response.batch_item_failures);
        }
        let emulator_time = started.elapsed();
        let on_dynamodb = deps.store.meter().reading().since(&before);

        // The same week in process, for the handler's own duration and as a cross-check of the
        // meter on the embedded store; and in batches of 100.
        let twin = EmbeddedStore::new();
        ingest_in_process(&twin, &batches(history, 100, "h")).await;
        let before = twin.meter().reading();
        let busy = ingest_in_process(&twin, &ten).await;
        let in_process = twin.meter().reading().since(&before);
        let measured_10 = Measured { events: window.len(), invocations: ten.len(), used: on_dynamodb, busy };

        let hundred = batches(window, 100, "x");
        let triplet = EmbeddedStore::new();
        ingest_in_process(&triplet, &batches(history, 100, "h")).await;
        let before = triplet.meter().reading();
        let busy = ingest_in_process(&triplet, &hundred).await;
        let measured_100 = Measured { events: window.len(), invocations: hundred.len(), used: triplet.meter().reading().since(&before), busy };

        // The books balance: every customer of the week ends with exactly their events.
        let mut checked = 0;
        for (customer, books) in shop.books.iter().filter(|(c, _)| window.iter().any(|(_, e)| &e.customer_id == *c)).take(if full { 200 } else { 40 }) {
            let p = customers::load(&deps.store, customer).await.expect("load").expect("a profile");
            assert_eq!(p.events_applied(), books.events, "{customer}");
            assert_eq!(p.purchases().orders, books.orders, "{customer}");
            checked += 1;
        }

        println!();
        println!("| batches | write units / event | read units / event | write requests / event | read requests / event |");
        println!("|---|---|---|---|---|");
        for (label, m) in [("10, emulator", &measured_10), ("100, embedded", &measured_100)] {
            println!(
                "| {label} | {:.3} | {:.3} | {:.3} | {:.3} |",
                m.per_event(m.used.units.writes as f64),
                m.per_event(m.used.units.reads()),
                m.per_event(m.used.write_requests as f64),
                m.per_event(m.used.read_requests as f64)
            );
        }
        println!(
            "(the same week on the embedded store: {:.3} write units, {:.3} read units per event)",
            in_process.units.writes as f64 / window.len() as f64,
            in_process.units.reads() / window.len() as f64
        );
        println!();
        println!("| per million events | DynamoDB | Lambda | SQS | all-in (SQS path) | with EventBridge in front |");
        println!("|---|---|---|---|---|---|");
        for (label, m) in [("batches of 10", &measured_10), ("batches of 100", &measured_100)] {
            let (d, l, s, e) = m.dollars_per_million();
            println!("| {label} | ${d:.3} | ${l:.3} | ${s:.3} | **${:.3}** | ${:.3} |", d + l + s, d + l + s + e);
        }
        println!();
        println!(
            "handler in process: {:.0} µs per batch of 10, {:.0} µs per batch of 100; modelled Lambda duration adds {} ms of DynamoDB round trips",
            measured_10.busy.as_secs_f64() * 1e6 / measured_10.invocations as f64,
            measured_100.busy.as_secs_f64() * 1e6 / measured_100.invocations as f64,
            2 * ROUND_TRIP.as_millis()
        );
        println!("emulator: {:.0} events/s (its speed, not DynamoDB's); books checked for {checked} customers", window.len() as f64 / emulator_time.as_secs_f64());
    });
}

fn report_sizes(items: &[kairos::store::Item]) {
    let mut by: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for i in items {
        let kind = if i.key.sk.starts_with("D#") {
            "marker".to_string()
        } else if i.key.sk.starts_with("P#O#") {
            "P#O#<chunk>".to_string()
        } else {
            i.key.sk.clone()
        };
        by.entry(kind).or_default().push(item_size(i));
    }
    println!("item sizes after the history (bytes):");
    for (kind, mut sizes) in by {
        sizes.sort_unstable();
        let n = sizes.len();
        println!(
            "  {kind:12} {n:6} items, median {:6}, p99 {:6}, max {:6}",
            sizes[n / 2],
            sizes[(n * 99 / 100).min(n - 1)],
            sizes[n - 1]
        );
    }
}
