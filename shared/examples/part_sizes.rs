use chrono::{TimeZone, Utc};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::store::embedded::EmbeddedStore;
use kairos::synth::shop::{ShopConfig, Stream, stream};

fn main() {
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let days: u32 = std::env::args().nth(1).and_then(|d| d.parse().ok()).unwrap_or(28);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let clock = ManualClock::new(end);
    let shop = stream(&ShopConfig { seed: 42, customers: 2_000, days, end, ..ShopConfig::default() });
    println!("{} events, mix {:?}", shop.events.len(), Stream::mix(&shop.events));
    let store = EmbeddedStore::new();
    let batches = Stream::busy_batches(&shop.events, 10);
    rt.block_on(async {
        for (n, b) in batches.iter().enumerate() {
            clock.set(b.iter().map(|(t, _)| *t).max().unwrap());
            let bodies: Vec<(String, String)> = b
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (format!("m{n}-{i}"), serde_json::to_string(e).unwrap()))
                .collect();
            let records: Vec<Record> = bodies.iter().map(|(id, body)| Record { id, body }).collect();
            ingest_batch(&store, &clock, &IngestConfig::default(), &records).await;
        }
        let used = kairos::store::Store::meter(&store).reading();
        let n = shop.events.len() as f64;
        println!(
            "{:.3} WCU/event {:.3} RCU/event {:.3} writes/event",
            used.units.writes as f64 / n,
            used.units.reads() / n,
            used.write_requests as f64 / n
        );
        let items = kairos::store::scan_all(&store, None).await.unwrap();
        let mut by: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for i in &items {
            let kind = if i.key.sk.starts_with("D#") { "D#".to_string() } else { i.key.sk.clone() };
            by.entry(kind).or_default().push(kairos::store::item_size(i));
        }
        for (k, mut v) in by {
            v.sort();
            let n = v.len();
            println!("{k}: n={n} median={} p90={} p99={} max={}", v[n / 2], v[n * 9 / 10], v[n * 99 / 100], v[n - 1]);
        }
        // the biggest engagement & browse items, field by field
        for sk in ["P#E", "P#B"] {
            let big = items.iter().filter(|i| i.key.sk == sk).max_by_key(|i| kairos::store::item_size(i)).unwrap();
            for (k, v) in big.body.iter() {
                println!("  {sk}.{k}: {}", serde_json::to_string(v).unwrap().len());
            }
        }
    });
}
