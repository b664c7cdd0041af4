//! Churn models: fitting BG/NBD on CDNOW, and scoring a million customers.
//!
//! `scripts/bench-churn.sh` runs this beside lifetimes' BetaGeoFitter on the same data. The fit
//! benchmark reads the CDNOW summary from `KAIROS_CDNOW` (the script points it into the
//! lifetimes package); without it only scoring is measured.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kairos::churn::bgnbd::BgNbd;
use kairos::churn::data::{Summary, Unit, read_summaries};
use kairos::churn::gamma_gamma::GammaGamma;
use kairos::churn::score::{Scoring, Timing};
use kairos::churn::{ModelKind, fit, pipeline};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn bench_churn(c: &mut Criterion) {
    if let Ok(path) = std::env::var("KAIROS_CDNOW") {
        let text = std::fs::read_to_string(&path).expect("KAIROS_CDNOW names a readable file");
        let (rows, _) = read_summaries(text.replacen("ID,", "customer_id,", 1).as_bytes()).expect("a summary CSV");
        let fitted = fit(ModelKind::Bgnbd, &rows).expect("BG/NBD fits CDNOW");
        println!(
            "kairos BG/NBD on CDNOW: {:?}, LL {:.4}, {} iterations",
            fitted.params, fitted.log_likelihood, fitted.iterations
        );
        let mut group = c.benchmark_group("churn_fit");
        group.bench_function("BG/NBD on CDNOW (2,357 customers), with standard errors", |b| {
            b.iter(|| black_box(fit(ModelKind::Bgnbd, &rows)));
        });
        group.finish();
    }

    let benchmarking = std::env::args().any(|a| a == "--bench");
    let n = if benchmarking { 1_000_000 } else { 10_000 };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let customers: Vec<Summary> = (0..n)
        .map(|i| {
            let age = rng.random_range(1.0..78.0);
            let x: u32 = if rng.random_bool(0.6) { 0 } else { rng.random_range(1..15) };
            let recency = if x == 0 { 0.0 } else { rng.random_range(0.0..age) };
            Summary {
                customer_id: format!("c{i}"),
                frequency: x,
                recency,
                age,
                monetary_value: (x > 0).then(|| rng.random_range(5.0..200.0)),
            }
        })
        .collect();
    let scoring = pipeline::scoring(
        Timing::Bgnbd(BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }),
        Some(GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 }),
        pipeline::Valuation { horizon: 52.0, discount_rate: 0.0018, unit: Unit::Week },
    );
    let mut group = c.benchmark_group("churn_score");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("{n} customers: P(alive), 52-week purchases, spend, CLV (12 steps)"), |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for s in &customers {
                let numbers = scoring.numbers(s);
                sum += numbers.p_alive + numbers.clv.unwrap_or(0.0);
            }
            black_box(sum)
        });
    });
    let quick = Scoring { clv_steps: 1, ..scoring };
    group.bench_function(format!("{n} customers: P(alive), 52-week purchases, spend, CLV (1 step)"), |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for s in &customers {
                sum += quick.numbers(s).p_alive;
            }
            black_box(sum)
        });
    });
    group.finish();
}

criterion_group!(benches, bench_churn);
criterion_main!(benches);
