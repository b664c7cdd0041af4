//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987), with the likelihood as
//! derived by Fader, Hardie & Lee (2005, "A note on deriving the Pareto/NBD model").
//!
//! While alive a customer buys at rate λ ~ Gamma(r, α); lifetimes are exponential with rate
//! μ ~ Gamma(s, β). The likelihood needs Gauss's ₂F₁, taken on the side (α ≥ β or α < β) where
//! its argument stays below 1, and a difference of two positive terms, taken in log space.

use serde::{Deserialize, Serialize};

use super::data::Pooled;
use super::fit::Likelihood;
use super::special::{hyp2f1, ln_gamma, log_add_exp, log_sub_exp};

pub const NAME: &str = "pareto-nbd";

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    pub fn from_values(v: &[f64]) -> Self {
        ParetoNbd { r: v[0], alpha: v[1], s: v[2], beta: v[3] }
    }

    /// The two log terms of the likelihood's bracket: "still alive at T" and "died between t_x
    /// and T" (the latter −∞ when t_x = T).
    fn log_terms(&self, x: u32, t_x: f64, t: f64) -> (f64, f64) {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let xf = f64::from(x);
        let rsx = r + s + xf;
        let alive = -(r + xf) * (alpha + t).ln() - s * (beta + t).ln();
        let (big, b2) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + xf) };
        let diff = (alpha - beta).abs();
        let piece = |u: f64| -> f64 {
            let z = diff / (big + u);
            match hyp2f1(rsx, b2, rsx + 1.0, z) {
                Ok(f) if f > 0.0 => f.ln() - rsx * (big + u).ln(),
                _ => f64::NAN,
            }
        };
        let a0 = if (t - t_x).abs() < 1e-12 { f64::NEG_INFINITY } else { log_sub_exp(piece(t_x), piece(t)) };
        (alive, s.ln() - rsx.ln() + a0)
    }

    pub fn log_likelihood(&self, x: u32, t_x: f64, t: f64) -> f64 {
        let xf = f64::from(x);
        let (alive, died) = self.log_terms(x, t_x, t);
        ln_gamma(self.r + xf) - ln_gamma(self.r)
            + self.r * self.alpha.ln()
            + self.s * self.beta.ln()
            + log_add_exp(alive, died)
    }

    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> f64 {
        let (alive, died) = self.log_terms(x, t_x, t);
        let p = 1.0 / (1.0 + (died - alive).exp());
        if p.is_finite() { p } else { 0.0 }
    }

    /// E[purchases in the next `horizon` | x, t_x, T].
    pub fn expected_purchases(&self, x: u32, t_x: f64, t: f64, horizon: f64) -> f64 {
        self.expected_purchases_if_alive(x, t, horizon) * self.p_alive(x, t_x, t)
    }

    /// E[purchases in the next `horizon` | x, T, alive now].
    pub fn expected_purchases_if_alive(&self, x: u32, t: f64, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let xf = f64::from(x);
        let rate_part = (r + xf) * (beta + t) / ((alpha + t) * (s - 1.0));
        let life_part = 1.0 - ((beta + t) / (beta + t + horizon)).powf(s - 1.0);
        let value = rate_part * life_part;
        if value.is_finite() { value.max(0.0) } else { 0.0 }
    }
}

/// The Pareto/NBD likelihood over pooled data.
pub struct ParetoNbdData<'a>(pub &'a Pooled);

impl Likelihood for ParetoNbdData<'_> {
    fn names(&self) -> &'static [&'static str] {
        &["r", "alpha", "s", "beta"]
    }

    fn start(&self) -> Vec<f64> {
        let mean_age = self.0.ages.iter().sum::<f64>() / self.0.ages.len().max(1) as f64;
        vec![0.5, mean_age.max(1.0) / 4.0, 0.5, mean_age.max(1.0) / 4.0]
    }

    fn ll(&self, p: &[f64]) -> f64 {
        if p.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return f64::NEG_INFINITY;
        }
        let m = ParetoNbd::from_values(p);
        let data = self.0;
        data.rows
            .iter()
            .map(|row| {
                row.weight
                    * m.log_likelihood(
                        row.x,
                        data.recencies[row.recency_index as usize],
                        data.ages[row.age_index as usize],
                    )
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_alpha_equals_beta_agree() {
        // The likelihood is continuous in α − β; the two formulas meet at α = β.
        let below = ParetoNbd { r: 0.55, alpha: 10.0 - 1e-7, s: 0.6, beta: 10.0 };
        let above = ParetoNbd { r: 0.55, alpha: 10.0 + 1e-7, s: 0.6, beta: 10.0 };
        for (x, tx, t) in [(0, 0.0, 30.0), (3, 20.0, 38.0), (10, 37.0, 38.0)] {
            let (a, b) = (below.log_likelihood(x, tx, t), above.log_likelihood(x, tx, t));
            assert!((a - b).abs() < 1e-6, "{x},{tx},{t}: {a} vs {b}");
        }
    }

    #[test]
    fn predictions_behave() {
        let m = ParetoNbd { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 };
        assert!(m.p_alive(0, 0.0, 38.0) < 1.0);
        assert!(m.p_alive(4, 37.0, 38.0) > m.p_alive(4, 5.0, 38.0));
        assert!(m.expected_purchases(4, 37.0, 38.0, 52.0) > m.expected_purchases(4, 5.0, 38.0, 52.0));
    }
}
