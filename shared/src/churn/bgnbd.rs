//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
//! purchase they drop out with probability p ~ Beta(a, b). For a customer with `x` repeat
//! purchases, the last at `t_x`, observed for `T`:
//!
//! `LL = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
//!      + ln[ (α+T)^−(r+x) + 1{x>0} · a/(b+x−1) · (α+t_x)^−(r+x) ]`
//!
//! The likelihood and its gradient are evaluated over pooled data with per-frequency and
//! per-time tables, so an evaluation costs two transcendental calls per repeat-buyer pattern.

use serde::{Deserialize, Serialize};

use super::data::Pooled;
use super::fit::Likelihood;
use super::special::{digamma, hyp2f1_to, ln_beta, ln_gamma};

pub const NAME: &str = "bgnbd";

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    pub fn from_values(v: &[f64]) -> Self {
        BgNbd { r: v[0], alpha: v[1], a: v[2], b: v[3] }
    }

    /// ln of the odds that the customer has dropped out, against being alive: ln of
    /// `a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)`; −∞ for customers without repeat purchases.
    fn log_dropout_odds(&self, x: u32, t_x: f64, t: f64) -> f64 {
        if x == 0 {
            return f64::NEG_INFINITY;
        }
        let xf = f64::from(x);
        (self.a / (self.b + xf - 1.0)).ln() + (self.r + xf) * ((self.alpha + t) / (self.alpha + t_x)).ln()
    }

    /// P(alive | x, t_x, T).
    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> f64 {
        let odds = self.log_dropout_odds(x, t_x, t).exp();
        1.0 / (1.0 + odds)
    }

    /// E[purchases in the next `horizon` | x, t_x, T].
    pub fn expected_purchases(&self, x: u32, t_x: f64, t: f64, horizon: f64) -> f64 {
        self.expected_purchases_if_alive(x, t, horizon) * self.p_alive(x, t_x, t)
    }

    /// E[purchases in the next `horizon` | x, T, alive now]: the part of
    /// [`BgNbd::expected_purchases`] that depends on the horizon (so CLV steps share P(alive)).
    pub fn expected_purchases_if_alive(&self, x: u32, t: f64, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let xf = f64::from(x);
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        // (a+b+x−1)/(a−1) · [1 − q^(r+x) ₂F₁(r+x, b+x; a+b+x−1; 1−q)] with q = (α+T)/(α+T+t).
        // The series is slow near 1−q = 1; Euler's transformation turns it into
        // q^(a−1−r−x) ₂F₁(a+b−1−r, a−1; a+b+x−1; 1−q), which converges fast, and the two powers
        // of q combine into one. Scores are reported to four decimals: 1e-10 is plenty.
        let q = (alpha + t) / (alpha + t + horizon);
        let hyper = hyp2f1_to(a + b - 1.0 - r, a - 1.0, a + b + xf - 1.0, 1.0 - q, 1e-10).unwrap_or(f64::NAN);
        let bracket = 1.0 - q.powf(a - 1.0) * hyper;
        let value = (a + b + xf - 1.0) / (a - 1.0) * bracket;
        if value.is_finite() { value.max(0.0) } else { 0.0 }
    }
}

/// The BG/NBD likelihood over pooled data.
pub struct BgNbdData<'a>(pub &'a Pooled);

impl Likelihood for BgNbdData<'_> {
    fn names(&self) -> &'static [&'static str] {
        &["r", "alpha", "a", "b"]
    }

    fn start(&self) -> Vec<f64> {
        let mean_age = self.0.ages.iter().sum::<f64>() / self.0.ages.len().max(1) as f64;
        vec![0.5, mean_age.max(1.0) / 4.0, 1.0, 2.0]
    }

    fn ll(&self, p: &[f64]) -> f64 {
        self.evaluate(p, false).0
    }

    fn ll_gradient(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
        Some(self.evaluate(p, true))
    }
}

impl BgNbdData<'_> {
    fn evaluate(&self, p: &[f64], with_gradient: bool) -> (f64, Vec<f64>) {
        let data = self.0;
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        if [r, alpha, a, b].iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return (f64::NEG_INFINITY, vec![0.0; 4]);
        }
        // Per-frequency terms: everything that depends on x but not on the times.
        struct PerX {
            ll: f64,
            dr: f64,
            da: f64,
            db: f64,
            ln_a_over: f64,
            inv_bx1: f64,
        }
        let ln_alpha = alpha.ln();
        let base_ab = ln_beta(a, b);
        let (psi_r, psi_ab, psi_b) =
            if with_gradient { (digamma(r), digamma(a + b), digamma(b)) } else { (0.0, 0.0, 0.0) };
        let per_x: Vec<PerX> = data
            .frequencies
            .iter()
            .map(|&(x, _)| {
                let xf = f64::from(x);
                let a1 = ln_gamma(r + xf) - ln_gamma(r) + r * ln_alpha;
                let a2 = ln_beta(a, b + xf) - base_ab;
                let (dr, da, db) = if with_gradient {
                    let psi_abx = digamma(a + b + xf);
                    (digamma(r + xf) - psi_r + ln_alpha, psi_ab - psi_abx, psi_ab + digamma(b + xf) - psi_b - psi_abx)
                } else {
                    (0.0, 0.0, 0.0)
                };
                let (ln_a_over, inv_bx1) =
                    if x > 0 { ((a / (b + xf - 1.0)).ln(), 1.0 / (b + xf - 1.0)) } else { (0.0, 0.0) };
                PerX { ll: a1 + a2, dr, da, db, ln_a_over, inv_bx1 }
            })
            .collect();
        let ln_age: Vec<f64> = data.ages.iter().map(|t| (alpha + t).ln()).collect();
        let ln_rec: Vec<f64> = data.recencies.iter().map(|t| (alpha + t).ln()).collect();
        let (inv_age, inv_rec): (Vec<f64>, Vec<f64>) = if with_gradient {
            (
                data.ages.iter().map(|t| 1.0 / (alpha + t)).collect(),
                data.recencies.iter().map(|t| 1.0 / (alpha + t)).collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };

        // Sum over the rows: the whole cost of a fit on a large base, so split over the cores.
        let sum = |rows: &[super::data::PooledRow]| -> (f64, [f64; 4]) {
            let mut ll = 0.0;
            let mut g = [0.0_f64; 4];
            for row in rows {
                let px = &per_x[row.x_index as usize];
                let rx = r + f64::from(row.x);
                let a3 = -rx * ln_age[row.age_index as usize];
                let w = row.weight;
                if row.x == 0 {
                    ll += w * (px.ll + a3);
                    if with_gradient {
                        g[0] += w * (px.dr - ln_age[row.age_index as usize]);
                        g[1] += w * (r / alpha - rx * inv_age[row.age_index as usize]);
                        g[2] += w * px.da;
                        g[3] += w * px.db;
                    }
                    continue;
                }
                let a4 = px.ln_a_over - rx * ln_rec[row.recency_index as usize];
                let d = a4 - a3;
                // log-sum-exp of the two branches; ln(1 + e) for e in (0, 1] is as exact as
                // ln_1p here and half its cost.
                let e = (-d.abs()).exp();
                let lse = d.max(0.0) + a3 + (1.0 + e).ln();
                ll += w * (px.ll + lse);
                if with_gradient {
                    // Share of the likelihood from the "dropped out after the last purchase" branch.
                    let s4 = if d > 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                    let s3 = 1.0 - s4;
                    let (ia, ir) = (inv_age[row.age_index as usize], inv_rec[row.recency_index as usize]);
                    g[0] += w * (px.dr - s3 * ln_age[row.age_index as usize] - s4 * ln_rec[row.recency_index as usize]);
                    g[1] += w * (r / alpha - s3 * rx * ia - s4 * rx * ir);
                    g[2] += w * (px.da + s4 / a);
                    g[3] += w * (px.db - s4 * px.inv_bx1);
                }
            }
            (ll, g)
        };
        let (ll, g) = super::data::sum_rows(&data.rows, sum);
        (ll, g.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::data::Summary;

    fn pooled() -> Pooled {
        let s = |x, r, t| Summary { customer_id: "c".into(), frequency: x, recency: r, age: t, monetary_value: None };
        Pooled::new(&[
            s(0, 0.0, 30.0),
            s(1, 5.0, 30.0),
            s(4, 20.0, 28.0),
            s(2, 25.0, 38.0),
            s(0, 0.0, 12.0),
            s(7, 30.0, 31.0),
        ])
    }

    #[test]
    fn the_analytic_gradient_matches_finite_differences() {
        let data = pooled();
        let model = BgNbdData(&data);
        let p = [0.4, 5.0, 0.9, 2.2];
        let (_, g) = model.ll_gradient(&p).unwrap();
        for i in 0..4 {
            let h = 1e-6 * p[i];
            let mut up = p;
            let mut down = p;
            up[i] += h;
            down[i] -= h;
            let numeric = (model.ll(&up) - model.ll(&down)) / (2.0 * h);
            assert!((g[i] - numeric).abs() < 1e-5 * numeric.abs().max(1.0), "param {i}: {} vs {numeric}", g[i]);
        }
    }

    #[test]
    fn expected_purchases_match_the_untransformed_formula() {
        use crate::churn::special::hyp2f1;
        let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        for (x, t, horizon) in [(0, 30.0, 10.0), (2, 38.86, 39.0), (7, 20.0, 52.0), (1, 5.0, 26.0)] {
            let xf = f64::from(x);
            let z = horizon / (m.alpha + t + horizon);
            let direct = (m.a + m.b + xf - 1.0) / (m.a - 1.0)
                * (1.0
                    - ((m.alpha + t) / (m.alpha + t + horizon)).powf(m.r + xf)
                        * hyp2f1(m.r + xf, m.b + xf, m.a + m.b + xf - 1.0, z).unwrap());
            let fast = m.expected_purchases_if_alive(x, t, horizon);
            assert!((fast - direct).abs() < 1e-8 * direct.abs().max(1e-3), "{x},{t},{horizon}: {fast} vs {direct}");
        }
    }

    #[test]
    fn predictions_behave() {
        let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        assert_eq!(m.p_alive(0, 0.0, 38.0), 1.0);
        assert!(m.p_alive(5, 35.0, 38.0) > m.p_alive(5, 10.0, 38.0), "recent buyers are more likely alive");
        let e1 = m.expected_purchases(2, 30.43, 38.86, 39.0);
        let e2 = m.expected_purchases(2, 30.43, 38.86, 78.0);
        assert!(e1 > 0.0 && e2 > e1);
        assert_eq!(m.expected_purchases(2, 30.43, 38.86, 0.0), 0.0);
    }
}
