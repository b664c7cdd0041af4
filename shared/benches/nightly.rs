//! Both nightly jobs over a large base, locally: the embedded store and the in-process queue,
//! worked by one thread per core, as `kairos jobs nightly` runs them.
//!
//! `cargo bench -p kairos --bench nightly` builds 1,000,000 customers through ingest (orders
//! drawn from the BG/NBD process, three clicked messages each), then runs the send-time refit
//! and the churn scoring over them, and reports the wall time of each and the peak memory of the
//! process (VmHWM). Without `--bench` (as `cargo test` runs it), 5,000 customers;
//! `KAIROS_BENCH_CUSTOMERS` sets another number.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use kairos::churn::job::{ChurnConfig, ChurnJob};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::jobs::SegmentedJob;
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{Runner, drain_parallel};
use kairos::sto::job::SendTimeJob;
use kairos::store::embedded::EmbeddedStore;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak and current resident memory of this process, in MB (Linux).
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn run<J: SegmentedJob>(store: &EmbeddedStore, job: &J, workers: usize, now: chrono::DateTime<Utc>) -> f64 {
    let queue = LocalQueue::new();
    let runner = Runner { store, queue: &queue, job };
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(runner.start("bench", (workers * 4) as u32, now)).expect("start");
    let (_, report) = drain_parallel(&runner, now, workers).expect("the run");
    let seconds = started.elapsed().as_secs_f64();
    let report = report.expect("finished");
    println!(
        "{}: {:.1} s for {} customers ({} written, {} skipped, {} flagged); {:.1} µs per customer per core",
        J::NAME,
        seconds,
        report.customers.read,
        report.customers.written,
        report.customers.skipped,
        report.customers.flagged,
        seconds * 1e6 * workers as f64 / report.customers.read.max(1) as f64
    );
    seconds
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // KAIROS_BENCH_CUSTOMERS sets another size (a profiler's run, say).
    let customers: usize = std::env::var("KAIROS_BENCH_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 5_000 });
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).single().expect("a date");
    let store = EmbeddedStore::new();
    let clock = ManualClock::new(end);
    let config = IngestConfig::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    // Customers whose purchases follow the BG/NBD process (so the churn model is identified, as
    // on a real base), each with a few clicked messages at their own hours, in slices of 50,000
    // so the events never all sit in memory at once.
    let truth = kairos::churn::bgnbd::BgNbd { r: 0.8, alpha: 5.0, a: 2.0, b: 4.0 };
    let slice = 50_000.min(customers);
    for (n, first) in (0..customers).step_by(slice).enumerate() {
        let count = slice.min(customers - first);
        let summaries = kairos::churn::sim::simulate_bgnbd(&truth, count, (4.0, 104.0), 100 + n as u64);
        let mut bodies = Vec::new();
        for (i, s) in summaries.iter().enumerate() {
            let c = format!("c{}", first + i);
            let start = end - chrono::Duration::minutes((s.age * 7.0 * 1440.0) as i64);
            for k in 0..=s.frequency {
                let at = if s.frequency == 0 {
                    start
                } else {
                    start
                        + chrono::Duration::minutes(
                            (s.recency * 7.0 * 1440.0 * f64::from(k) / f64::from(s.frequency)) as i64,
                        )
                };
                let price = 10 + (i as u32 * 7 + k * 13) % 90;
                bodies.push(
                    serde_json::json!({"schema_version": 1, "id": format!("{c}-o{k}"), "customer_id": c,
                    "occurred_at": at.to_rfc3339(), "source": "shop", "type": "order_placed",
                    "data": {"order_id": format!("{c}-{k}"), "currency": "EUR",
                             "lines": [{"product_id": "p", "unit_price": price.to_string(), "quantity": 1}]}})
                    .to_string(),
                );
            }
            for d in 1..=3_i64 {
                let at = end - chrono::Duration::days(d * 5) + chrono::Duration::hours((i % 24) as i64);
                bodies.push(serde_json::json!({"schema_version": 1, "id": format!("{c}-m{d}"), "customer_id": c,
                    "occurred_at": at.to_rfc3339(), "source": "kairos", "type": "message_engaged",
                    "data": {"message_id": format!("m{d}"), "channel": "email", "action": "clicked", "campaign_id": "news"}}).to_string());
            }
        }
        rt.block_on(async {
            for chunk in bodies.chunks(100) {
                let records: Vec<Record> = chunk.iter().map(|b| Record { id: "r", body: b }).collect();
                ingest_batch(&store, &clock, &config, &records).await;
            }
        });
    }
    let (_, table_mb) = memory();
    println!(
        "built {customers} customers in {:.0} s; the table holds {} items; resident {table_mb:.0} MB",
        started.elapsed().as_secs_f64(),
        store.len()
    );
    let churn = ChurnJob { config: ChurnConfig::from_lookup(|_| None).expect("defaults") };
    let sto = run(&store, &SendTimeJob, workers, end);
    let scored = run(&store, &churn, workers, end);
    let key = kairos::store::Key::new(kairos::keys::CHURN_MODEL.0, kairos::keys::CHURN_MODEL.1);
    if let Ok(Some(model)) = rt.block_on(kairos::store::Store::get(&store, &key)) {
        println!("churn model: {}", model.body["model"]["timing_fit"]);
    }
    let (peak, now) = memory();
    println!(
        "both jobs: {:.1} s on {workers} threads; peak resident {peak:.0} MB (the table {table_mb:.0} MB), now {now:.0} MB",
        sto + scored
    );
}
