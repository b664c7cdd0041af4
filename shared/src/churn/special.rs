//! Special functions the buy-till-you-die models need beyond log-gamma and digamma (which come
//! from `statrs`): the Gauss hypergeometric function ₂F₁ and stable log-space arithmetic.

pub use statrs::function::gamma::{digamma, ln_gamma};

/// Most series terms summed before giving up.
const MAX_TERMS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SpecialError {
    #[error("₂F₁({a}, {b}; {c}; {z}) is outside the series' domain (|z| < 1, c not a non-positive integer)")]
    Domain { a: f64, b: f64, c: f64, z: f64 },
    #[error("₂F₁({a}, {b}; {c}; {z}) did not converge in {MAX_TERMS} terms")]
    NoConvergence { a: f64, b: f64, c: f64, z: f64 },
}

/// ₂F₁(a, b; c; z) by its power series, for 0 ≤ z < 1. Terms are summed until they stop
/// mattering relative to the sum (to machine precision).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, SpecialError> {
    hyp2f1_to(a, b, c, z, 1e-15)
}

/// [`hyp2f1`] summed until terms fall below `tolerance` relative to the sum.
pub fn hyp2f1_to(a: f64, b: f64, c: f64, z: f64, tolerance: f64) -> Result<f64, SpecialError> {
    let domain = SpecialError::Domain { a, b, c, z };
    if !(z.is_finite() && (-1.0..1.0).contains(&z)) || (c <= 0.0 && c.fract() == 0.0) {
        return Err(domain);
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..MAX_TERMS {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term == 0.0 || (term.abs() < tolerance * sum.abs() && k > 2.0) {
            return Ok(sum);
        }
        if !sum.is_finite() {
            return Err(SpecialError::NoConvergence { a, b, c, z });
        }
    }
    Err(SpecialError::NoConvergence { a, b, c, z })
}

/// ln(eᵃ + eᵇ) without overflow.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// ln(eᵃ − eᵇ) for a > b, without cancellation.
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// ln B(a, b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn hypergeometric_identities_hold() {
        for z in [0.0, 0.1, 0.5, 0.9, 0.99] {
            // ₂F₁(1, 1; 2; z) = −ln(1 − z)/z
            let expected = if z == 0.0 { 1.0 } else { -(1.0_f64 - z).ln() / z };
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, 1e-12), "z = {z}");
            // ₂F₁(a, b; b; z) = (1 − z)^(−a)
            assert!(close(hyp2f1(0.7, 2.3, 2.3, z).unwrap(), (1.0 - z).powf(-0.7), 1e-12), "z = {z}");
        }
        // Euler's transformation: ₂F₁(a, b; c; z) = (1 − z)^(c − a − b) ₂F₁(c − a, c − b; c; z).
        for (a, b, c, z) in [(1.2, 3.4, 2.1, 0.3), (0.5, 7.0, 6.8, 0.6), (10.2, 12.4, 22.0, 0.4)] {
            let transformed = (1.0_f64 - z).powf(c - a - b) * hyp2f1(c - a, c - b, c, z).unwrap();
            assert!(close(hyp2f1(a, b, c, z).unwrap(), transformed, 1e-10));
        }
        // A value from tables: ₂F₁(1/2, 1/2; 3/2; z²) = arcsin(z)/z.
        let z: f64 = 0.8;
        assert!(close(hyp2f1(0.5, 0.5, 1.5, z * z).unwrap(), z.asin() / z, 1e-12));
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_err());
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_err());
    }

    #[test]
    fn log_space_arithmetic_is_stable() {
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15));
        assert!(close(log_add_exp(-1000.0, -1001.0), -1000.0 + (1.0 + (-1f64).exp()).ln(), 1e-15));
        assert!(close(log_sub_exp(0.0, -40.0), (1.0 - (-40f64).exp()).ln(), 1e-15));
        assert!(close(ln_beta(2.0, 3.0), (1.0_f64 / 12.0).ln(), 1e-12));
    }
}
