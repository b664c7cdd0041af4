//! From summaries to scores, the one way: fit the purchase-timing model, fit the spend model,
//! and score with them. The nightly job (on its weighted sample, spend per currency) and
//! `kairos models score` (on a CSV) both go through here.

use super::bgnbd::BgNbd;
use super::data::{Summary, Unit};
use super::fit::{Fit, FitError};
use super::gamma_gamma::GammaGamma;
use super::pareto::ParetoNbd;
use super::score::{Scoring, Timing};
use super::{ModelKind, fit_weighted};

/// Steps over the horizon in the CLV sum: monthly over a year, a good approximation of the
/// integral at a twelfth of its cost.
pub const CLV_STEPS: u32 = 12;

/// How scores are valued: the horizon and discount rate of CLV, in the summaries' unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Valuation {
    pub horizon: f64,
    pub discount_rate: f64,
    pub unit: Unit,
}

/// A timing model that can be asked for anything but spend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is a spend model; the purchase-timing model must be bgnbd or pareto-nbd")]
pub struct NotATimingModel(pub &'static str);

/// Fits the purchase-timing model `kind` to summaries standing for `weight` customers each.
pub fn fit_timing<'a>(
    kind: ModelKind,
    rows: impl IntoIterator<Item = (&'a Summary, f64)> + Clone,
) -> Result<(Timing, Fit), FitError> {
    let fit = fit_weighted(kind, rows)?;
    let timing = match kind {
        ModelKind::ParetoNbd => Timing::ParetoNbd(ParetoNbd::from_values(&fit.values())),
        _ => Timing::Bgnbd(BgNbd::from_values(&fit.values())),
    };
    Ok((timing, fit))
}

/// Fits spend per transaction to the repeat buyers among the rows.
pub fn fit_spend<'a>(
    rows: impl IntoIterator<Item = (&'a Summary, f64)> + Clone,
) -> Result<(GammaGamma, Fit), FitError> {
    let fit = fit_weighted(ModelKind::GammaGamma, rows)?;
    Ok((GammaGamma::from_values(&fit.values()), fit))
}

/// Checks that `kind` can time purchases.
pub fn timing_kind(kind: ModelKind) -> Result<ModelKind, NotATimingModel> {
    match kind {
        ModelKind::GammaGamma => Err(NotATimingModel(kind.name())),
        k => Ok(k),
    }
}

/// The scoring for customers whose spend follows `spend` (none: no expected spend or CLV).
pub fn scoring(timing: Timing, spend: Option<GammaGamma>, valuation: Valuation) -> Scoring {
    Scoring {
        timing,
        spend,
        horizon: valuation.horizon,
        discount_rate: valuation.discount_rate,
        clv_steps: CLV_STEPS,
        unit: valuation.unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::sim;

    #[test]
    fn the_pipeline_fits_and_scores_simulated_customers() {
        let truth = BgNbd { r: 0.5, alpha: 6.0, a: 0.8, b: 2.5 };
        let summaries = sim::simulate_bgnbd(&truth, 3000, (26.0, 52.0), 11);
        let (timing, fit) = fit_timing(ModelKind::Bgnbd, summaries.iter().map(|s| (s, 1.0))).unwrap();
        assert!(fit.log_likelihood.is_finite());
        assert!(timing_kind(ModelKind::GammaGamma).is_err());
        let valuation = Valuation { horizon: 52.0, discount_rate: 0.0, unit: Unit::Week };
        let s = scoring(timing, None, valuation);
        assert_eq!(s.clv_steps, CLV_STEPS);
        let score = s.score(&summaries[0]);
        assert!((0.0..=1.0).contains(&score.p_alive) && score.clv.is_none());
    }
}
