//! The recommender at shop scale, in process.
//!
//! `cargo bench -p kairos --bench recommend` generates a synthetic shop of about 10,000,000
//! interactions (580,000 customers over 100,000 products), then reports the neighbour build,
//! the whole model build, one customer's top-10 at request time (mean and p99 over 100,000
//! customers, one core), a session-only top-10, and the peak memory of the process (VmHWM).
//! Without `--bench` (as `cargo test` runs it), a shop a hundredth that size;
//! `KAIROS_BENCH_CUSTOMERS` sets another number of customers.

use std::time::Instant;

use kairos::recommend::blend::{BlendConfig, Model};
use kairos::recommend::neighbours::{SequenceConfig, sequential};
use kairos::recommend::synth::{ShopConfig, generate};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let customers = std::env::var("KAIROS_BENCH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(if full {
        580_000
    } else {
        5_800
    });
    let items = (customers / 6).clamp(1_000, 100_000);
    let started = Instant::now();
    let shop =
        generate(&ShopConfig { users: customers, items, categories: (items / 80).max(10), ..ShopConfig::default() });
    let data = &shop.interactions;
    println!(
        "shop: {} interactions of {} customers over {} products, generated in {:.1} s",
        data.len(),
        data.user_count(),
        data.item_count(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let table = sequential(data, &SequenceConfig::default());
    println!("neighbour build: {:.2} s ({} neighbour entries)", started.elapsed().as_secs_f64(), table.len());

    let started = Instant::now();
    let now = data.latest();
    let model = Model::train(data, now, |i| shop.catalogue.get(i as usize), |_| true, BlendConfig::default());
    println!(
        "whole model (neighbours, content, bundles, popularity, replenishment): {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let sample = data.user_count().min(100_000);
    let mut times = Vec::with_capacity(sample);
    let mut picked = 0usize;
    for u in 0..sample as u32 {
        let history = data.history(u);
        let t = Instant::now();
        let picks = model.recommend(history, now, 10);
        times.push(t.elapsed().as_nanos() as f64 / 1000.0);
        picked += picks.len();
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    println!("one customer's top-10: mean {mean:.1} µs, p99 {p99:.1} µs over {sample} customers ({picked} picks)");

    let viewed: Vec<u32> = data.history(0).iter().rev().take(5).map(|e| e.item).collect();
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(model.for_session(&viewed, now, 10));
    }
    println!("session-only top-10 from 5 views: {:.1} µs", t.elapsed().as_nanos() as f64 / 1000.0 / 1000.0);
    println!("peak memory: {:.0} MB", peak_mb());
}
