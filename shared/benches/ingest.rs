//! Ingest throughput on the embedded store, on a realistic shop's stream.
//!
//! `cargo bench -p kairos --bench ingest`. The stream is [`kairos::synth::shop`]: many views and
//! sessions per order, heavy and light customers, newsletters with opens and clicks, delivered
//! as a busy shop's queue delivers them (batches of customers that rarely repeat within a batch),
//! in SQS-sized batches of 10 and in batches of 100. One thread (a current-thread runtime), so
//! the figure is per core. The local simulation replays millions of events through this path.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::Store;
use kairos::store::embedded::EmbeddedStore;
use kairos::synth::shop::{ShopConfig, Stream, stream};

// As the binaries that run ingest allocate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_ingest(c: &mut Criterion) {
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let clock = ManualClock::new(end);
    // Run as a test (`cargo test` runs benchmarks once, without `--bench`), a small shop.
    let customers = if std::env::args().any(|a| a == "--bench") { 4_000 } else { 200 };
    let shop = stream(&ShopConfig { seed: 42, customers, days: 28, end, ..ShopConfig::default() });
    let config = IngestConfig::default();

    let mut group = c.benchmark_group("ingest_embedded");
    group.sample_size(10);
    for batch_size in [10_usize, 100] {
        // Each batch with the time it arrives at: the clock follows the stream.
        let batches: Vec<(chrono::DateTime<Utc>, Vec<(String, String)>)> =
            Stream::busy_batches(&shop.events, batch_size)
                .into_iter()
                .enumerate()
                .map(|(n, b)| {
                    let arrival = b.iter().map(|(t, _)| *t).max().unwrap_or(end);
                    let bodies = b
                        .iter()
                        .enumerate()
                        .map(|(i, (_, e))| {
                            (format!("m{n}-{i}"), serde_json::to_string(e).expect("an event serializes"))
                        })
                        .collect();
                    (arrival, bodies)
                })
                .collect();
        let events: usize = batches.iter().map(|(_, b)| b.len()).sum();
        let run = |store: &EmbeddedStore| {
            runtime.block_on(async {
                for (arrival, batch) in &batches {
                    clock.set(*arrival);
                    let records: Vec<Record> = batch.iter().map(|(id, body)| Record { id, body }).collect();
                    black_box(ingest_batch(store, &clock, &config, &records).await);
                }
            })
        };
        group.throughput(Throughput::Elements(events as u64));
        group.bench_function(format!("{events} events of a realistic shop, batches of {batch_size}"), |b| {
            b.iter_batched(
                EmbeddedStore::new,
                |store| {
                    run(&store);
                    store
                },
                BatchSize::PerIteration,
            );
        });
        // Capacity units per event, printed once (counts, not timings).
        let store = EmbeddedStore::new();
        run(&store);
        let used = store.meter().reading();
        println!(
            "batches of {batch_size}: {:.3} write units, {:.3} read units, {:.3} write requests per event",
            used.units.writes as f64 / events as f64,
            used.units.reads() / events as f64,
            used.write_requests as f64 / events as f64,
        );
    }
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
