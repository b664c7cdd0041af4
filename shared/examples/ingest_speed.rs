use chrono::{TimeZone, Utc};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::embedded::EmbeddedStore;
use kairos::synth::shop::{ShopConfig, Stream, stream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let clock = ManualClock::new(end);
    let customers: usize = std::env::args().nth(1).and_then(|c| c.parse().ok()).unwrap_or(4_000);
    let shop = stream(&ShopConfig { seed: 42, customers, days: 28, end, ..ShopConfig::default() });
    let batches: Vec<(chrono::DateTime<Utc>, Vec<(String, String)>)> = Stream::busy_batches(&shop.events, 10)
        .into_iter()
        .enumerate()
        .map(|(n, b)| {
            (
                b.iter().map(|(t, _)| *t).max().unwrap(),
                b.iter()
                    .enumerate()
                    .map(|(i, (_, e))| (format!("m{n}-{i}"), serde_json::to_string(e).unwrap()))
                    .collect(),
            )
        })
        .collect();
    let store = EmbeddedStore::new();
    let start = std::time::Instant::now();
    rt.block_on(async {
        for (arrival, batch) in &batches {
            clock.set(*arrival);
            let records: Vec<Record> = batch.iter().map(|(id, body)| Record { id, body }).collect();
            ingest_batch(&store, &clock, &IngestConfig::default(), &records).await;
        }
    });
    let n = shop.events.len();
    println!("{n} events in {:?}: {:.0}/s", start.elapsed(), n as f64 / start.elapsed().as_secs_f64());
}
