//! Customers drawn from the models' own generative stories, with known parameters: for checking
//! that fitting recovers them, and for simulations.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use super::bgnbd::BgNbd;
use super::data::Summary;
use super::gamma_gamma::GammaGamma;
use super::pareto::ParetoNbd;

fn gamma(shape: f64, rate: f64, rng: &mut ChaCha8Rng) -> f64 {
    Gamma::new(shape, 1.0 / rate).map_or(shape / rate, |g| g.sample(rng))
}

fn exp(rate: f64, rng: &mut ChaCha8Rng) -> f64 {
    Exp::new(rate).map_or(f64::INFINITY, |e| e.sample(rng))
}

/// Customers observed for ages spread uniformly in `ages`, each summarised at the end of their
/// observation (no monetary value).
pub fn simulate_bgnbd(m: &BgNbd, customers: usize, ages: (f64, f64), seed: u64) -> Vec<Summary> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..customers)
        .map(|i| {
            let age = rng.random_range(ages.0..ages.1);
            let lambda = gamma(m.r, m.alpha, &mut rng);
            let p = Beta::new(m.a, m.b).map_or(0.5, |b| b.sample(&mut rng));
            let (mut t, mut x, mut last) = (0.0, 0, 0.0);
            loop {
                t += exp(lambda, &mut rng);
                if t > age {
                    break;
                }
                x += 1;
                last = t;
                // After each purchase the customer may become inactive for good.
                if rng.random_bool(p.clamp(0.0, 1.0)) {
                    break;
                }
            }
            Summary { customer_id: format!("sim-{i}"), frequency: x, recency: last, age, monetary_value: None }
        })
        .collect()
}

pub fn simulate_pareto(m: &ParetoNbd, customers: usize, ages: (f64, f64), seed: u64) -> Vec<Summary> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..customers)
        .map(|i| {
            let age = rng.random_range(ages.0..ages.1);
            let lambda = gamma(m.r, m.alpha, &mut rng);
            let mu = gamma(m.s, m.beta, &mut rng);
            let end = exp(mu, &mut rng).min(age);
            let (mut t, mut x, mut last) = (0.0, 0, 0.0);
            loop {
                t += exp(lambda, &mut rng);
                if t > end {
                    break;
                }
                x += 1;
                last = t;
            }
            Summary { customer_id: format!("sim-{i}"), frequency: x, recency: last, age, monetary_value: None }
        })
        .collect()
}

/// Mean spend of `x` transactions for each frequency in `frequencies` (weight 1 each).
pub fn simulate_spend(m: &GammaGamma, frequencies: &[u32], seed: u64) -> Vec<(u32, f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    frequencies
        .iter()
        .filter(|x| **x > 0)
        .map(|&x| {
            let nu = gamma(m.q, m.gamma, &mut rng);
            let total: f64 = (0..x).map(|_| gamma(m.p, nu, &mut rng)).sum();
            (x, total / f64::from(x), 1.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::bgnbd::BgNbdData;
    use crate::churn::data::Pooled;
    use crate::churn::fit::{Fit, maximize};
    use crate::churn::gamma_gamma::GammaGammaData;
    use crate::churn::pareto::ParetoNbdData;

    /// Every parameter within three standard errors of the truth.
    fn recovered(fit: &Fit, truth: &[f64]) {
        let se = fit.standard_errors.as_ref().expect("standard errors");
        for ((name, got), (want, se)) in fit.params.iter().zip(truth.iter().zip(se)) {
            assert!((got - want).abs() <= 3.0 * se, "{} {name}: fitted {got:.4} ± {se:.4}, true {want}", fit.model);
        }
    }

    #[test]
    fn bgnbd_recovers_its_parameters() {
        let truth = BgNbd { r: 0.5, alpha: 6.0, a: 0.8, b: 3.0 };
        let data = simulate_bgnbd(&truth, 6000, (20.0, 52.0), 11);
        let pooled = Pooled::new(&data);
        let fit = maximize("bgnbd", &BgNbdData(&pooled), pooled.customers).unwrap();
        recovered(&fit, &[0.5, 6.0, 0.8, 3.0]);
    }

    #[test]
    fn a_large_base_fits_from_a_sample_to_the_same_optimum() {
        // Above the warm-start size (20,000 distinct rows): `fit` starts from a fit to every 16th customer.
        let truth = BgNbd { r: 0.6, alpha: 25.0, a: 0.8, b: 2.6 };
        let data = simulate_bgnbd(&truth, 60_000, (4.0, 104.0), 14);
        let pooled = Pooled::new(&data);
        let cold = maximize("bgnbd", &BgNbdData(&pooled), pooled.customers).unwrap();
        let warm = crate::churn::fit(crate::churn::ModelKind::Bgnbd, &data).unwrap();
        let (cold_se, warm_se) = (cold.standard_errors.clone().unwrap(), warm.standard_errors.clone().unwrap());
        for (((name, c), (_, w)), se) in cold.params.iter().zip(&warm.params).zip(&cold_se) {
            assert!((c - w).abs() < 0.01 * se, "{name}: {w} from the sample's start, {c} from scratch (SE {se})");
        }
        for (c, w) in cold_se.iter().zip(&warm_se) {
            assert!((c / w - 1.0).abs() < 1e-4, "standard errors {warm_se:?} vs {cold_se:?}");
        }
        assert!(
            warm.iterations * 2 <= cold.iterations,
            "the full fit took {} steps from the sample's start, {} from scratch",
            warm.iterations,
            cold.iterations
        );
        recovered(&warm, &[0.6, 25.0, 0.8, 2.6]);
    }

    #[test]
    fn pareto_nbd_recovers_its_parameters() {
        let truth = ParetoNbd { r: 0.6, alpha: 8.0, s: 0.8, beta: 12.0 };
        let data = simulate_pareto(&truth, 6000, (20.0, 52.0), 12);
        let pooled = Pooled::new(&data);
        let fit = maximize("pareto-nbd", &ParetoNbdData(&pooled), pooled.customers).unwrap();
        recovered(&fit, &[0.6, 8.0, 0.8, 12.0]);
    }

    #[test]
    fn gamma_gamma_recovers_its_parameters() {
        let truth = GammaGamma { p: 5.0, q: 4.0, gamma: 20.0 };
        let frequencies: Vec<u32> = (0..4000).map(|i| 1 + (i % 7)).collect();
        let rows = simulate_spend(&truth, &frequencies, 13);
        let fit = maximize("gamma-gamma", &GammaGammaData { rows }, 4000).unwrap();
        recovered(&fit, &[5.0, 4.0, 20.0]);
    }
}
