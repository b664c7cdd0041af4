//! Send-time optimization: refitting a million customers' models, and one decision.
//!
//! `cargo bench -p kairos --bench sto`. The refit is what the scheduled job does per customer:
//! add the customer to the prior's sums, then compute their posterior against the fitted prior.

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kairos::attention::{Attention, Signal};
use kairos::sto::decide::{Policy, decide};
use kairos::sto::posterior::{History, Posterior};
use kairos::sto::prior::PriorStats;
use kairos::sto::window::Window;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ZONES: [chrono_tz::Tz; 4] =
    [chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::Asia::Tokyo, chrono_tz::America::Sao_Paulo];

fn customers(n: usize) -> Vec<(Attention, History, chrono_tz::Tz)> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap().timestamp();
    (0..n)
        .map(|_| {
            let tz = ZONES[rng.random_range(0..ZONES.len())];
            let mut a = Attention::default();
            let peak = rng.random_range(0..24_i64);
            for _ in 0..rng.random_range(0..25) {
                let at = now - rng.random_range(0..120) * 86_400 + (peak + rng.random_range(-2..3)) * 3600;
                let signal = [Signal::Open, Signal::Click, Signal::Session][rng.random_range(0..3)];
                a.add(at, tz, signal);
            }
            (a, History { delivered: rng.random_range(0..40), engaged: rng.random_range(0..10) }, tz)
        })
        .collect()
}

fn bench_sto(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    // `cargo test` runs benchmarks once, unoptimised, as a smoke test: a smaller base will do.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let million = customers(if benchmarking { 1_000_000 } else { 10_000 });
    let mut stats = PriorStats::default();
    for (a, h, _) in &million {
        stats.add(&a.masses_at(now), None, h.delivered, h.engaged);
    }
    let priors = stats.fit();

    let mut group = c.benchmark_group("sto_refit");
    group.sample_size(10);
    group.throughput(Throughput::Elements(million.len() as u64));
    group.bench_function(format!("{} customers: prior sums and posterior", million.len()), |b| {
        b.iter(|| {
            let mut stats = PriorStats::default();
            for (a, h, _) in &million {
                stats.add(&a.masses_at(now), None, h.delivered, h.engaged);
            }
            let mut checksum = 0.0;
            for (a, h, _) in &million {
                let p = Posterior::new(a, *h, None, &priors, now);
                checksum += p.own_mass;
            }
            black_box((stats, checksum))
        });
    });
    group.finish();

    let window = Window::hours_from(now + Duration::hours(3), 24).unwrap();
    let policy = Policy::default();
    let sample = &million[..1000];
    let posteriors: Vec<Posterior> = sample.iter().map(|(a, h, _)| Posterior::new(a, *h, None, &priors, now)).collect();
    let mut group = c.benchmark_group("sto_decision");
    group.bench_function("one decision, 24-hour window, 10% explore", |b| {
        let mut i = 0;
        b.iter_batched(
            || {
                i = (i + 1) % sample.len();
                i
            },
            |i| {
                black_box(decide(
                    &posteriors[i],
                    sample[i].2,
                    &window,
                    &[],
                    window.start,
                    &policy,
                    "customer|campaign|1",
                ))
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("one decision including the posterior", |b| {
        let mut i = 0;
        b.iter_batched(
            || {
                i = (i + 1) % sample.len();
                i
            },
            |i| {
                let (a, h, tz) = &sample[i];
                let p = Posterior::new(a, *h, None, &priors, now);
                black_box(decide(&p, *tz, &window, &[], window.start, &policy, "customer|campaign|1"))
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_sto);
criterion_main!(benches);
