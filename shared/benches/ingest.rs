//! Ingest throughput on the embedded store, and what one event costs in store requests.
//!
//! `cargo bench -p kairos --bench ingest`. Batches are SQS-sized (10 records) over a shop of
//! 10,000 customers, so nearly every event reads and writes its own profile: the worst case for
//! coalescing. A second group uses 100-record batches (an SQS batching window).

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::Store;
use kairos::store::embedded::EmbeddedStore;
use kairos::synth;

fn bench_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap());
    let (events, _) = synth::shop_events(42, 10_000, 20_000, Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap());
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).expect("serializable")).collect();
    let config = IngestConfig::default();

    let mut group = c.benchmark_group("ingest_embedded");
    group.sample_size(10);
    for batch_size in [10_usize, 100] {
        group.throughput(Throughput::Elements(bodies.len() as u64));
        group.bench_function(format!("{} events, batches of {batch_size}", bodies.len()), |b| {
            b.iter_batched(
                EmbeddedStore::new,
                |store| {
                    runtime.block_on(async {
                        for (n, chunk) in bodies.chunks(batch_size).enumerate() {
                            let ids: Vec<String> = (0..chunk.len()).map(|i| format!("m{n}-{i}")).collect();
                            let records: Vec<Record> =
                                chunk.iter().zip(&ids).map(|(b, id)| Record { id, body: b }).collect();
                            black_box(ingest_batch(&store, &clock, &config, &records).await);
                        }
                    });
                    store
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    // Requests per event, printed once (a count, not a timing).
    for batch_size in [10_usize, 100] {
        let store = EmbeddedStore::new();
        runtime.block_on(async {
            for (n, chunk) in bodies.chunks(batch_size).enumerate() {
                let ids: Vec<String> = (0..chunk.len()).map(|i| format!("m{n}-{i}")).collect();
                let records: Vec<Record> = chunk.iter().zip(&ids).map(|(b, id)| Record { id, body: b }).collect();
                ingest_batch(&store, &clock, &config, &records).await;
            }
        });
        let (reads, writes) = store.stats().snapshot();
        let n = bodies.len() as f64;
        println!(
            "batches of {batch_size}: {:.3} write requests/event, {:.3} read requests/event",
            writes as f64 / n,
            reads as f64 / n
        );
    }
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
