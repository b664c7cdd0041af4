//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The Gamma-Gamma model
//! of monetary value"): each transaction's value is Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers, independent of purchase timing. Fitted on repeat buyers' mean spend.

use serde::{Deserialize, Serialize};

use super::fit::Likelihood;
use super::special::{digamma, ln_gamma};

pub const NAME: &str = "gamma-gamma";

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGamma {
    pub fn from_values(v: &[f64]) -> Self {
        GammaGamma { p: v[0], q: v[1], gamma: v[2] }
    }

    /// E[spend per transaction | x repeat transactions averaging `mean`]: a weighted average of
    /// the population mean and the customer's own.
    pub fn expected_spend(&self, x: u32, mean: f64) -> f64 {
        let xf = f64::from(x);
        if x == 0 {
            // No repeat transaction observed: the population mean, where it exists.
            return if self.q > 1.0 { self.p * self.gamma / (self.q - 1.0) } else { f64::NAN };
        }
        self.p * (self.gamma + xf * mean) / (self.p * xf + self.q - 1.0)
    }
}

/// Repeat buyers: (x, mean spend, how many customers the row stands for).
pub struct GammaGammaData {
    pub rows: Vec<(u32, f64, f64)>,
}

impl Likelihood for GammaGammaData {
    fn names(&self) -> &'static [&'static str] {
        &["p", "q", "gamma"]
    }

    fn start(&self) -> Vec<f64> {
        let weight: f64 = self.rows.iter().map(|r| r.2).sum();
        let mean = self.rows.iter().map(|r| r.1 * r.2).sum::<f64>() / weight.max(1.0);
        vec![1.0, 2.0, mean.max(1e-3)]
    }

    fn ll(&self, params: &[f64]) -> f64 {
        self.ll_gradient(params).map_or(f64::NEG_INFINITY, |(ll, _)| ll)
    }

    fn ll_gradient(&self, params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let (p, q, g) = (params[0], params[1], params[2]);
        if [p, q, g].iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Some((f64::NEG_INFINITY, vec![0.0; 3]));
        }
        let (lg_q, psi_q, ln_g) = (ln_gamma(q), digamma(q), g.ln());
        let mut ll = 0.0;
        let mut grad = [0.0; 3];
        for &(x, m, w) in &self.rows {
            let xf = f64::from(x);
            let px = p * xf;
            let (ln_m, ln_x, ln_gxm) = (m.ln(), xf.ln(), (g + xf * m).ln());
            ll += w
                * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_g + (px - 1.0) * ln_m + px * ln_x
                    - (px + q) * ln_gxm);
            let psi_pxq = digamma(px + q);
            grad[0] += w * xf * (psi_pxq - digamma(px) + ln_m + ln_x - ln_gxm);
            grad[1] += w * (psi_pxq - psi_q + ln_g - ln_gxm);
            grad[2] += w * (q / g - (px + q) / (g + xf * m));
        }
        Some((ll, grad.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_matches_finite_differences() {
        let data = GammaGammaData { rows: vec![(1, 20.0, 1.0), (3, 35.5, 2.0), (8, 12.0, 1.0), (2, 80.0, 0.5)] };
        let p = [4.0, 3.0, 12.0];
        let (_, g) = data.ll_gradient(&p).unwrap();
        for i in 0..3 {
            let h = 1e-6 * p[i];
            let (mut up, mut down) = (p, p);
            up[i] += h;
            down[i] -= h;
            let numeric = (data.ll(&up) - data.ll(&down)) / (2.0 * h);
            assert!((g[i] - numeric).abs() < 1e-5 * numeric.abs().max(1.0), "{i}: {} vs {numeric}", g[i]);
        }
    }

    #[test]
    fn expected_spend_shrinks_toward_the_population() {
        let m = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
        let population = m.expected_spend(0, 0.0);
        let one = m.expected_spend(1, 100.0);
        let many = m.expected_spend(20, 100.0);
        assert!(population < one && one < many && many < 100.0);
    }
}
