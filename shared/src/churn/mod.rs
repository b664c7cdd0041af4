//! Who is slipping away: buy-till-you-die models, fitted and scored in Rust.
//!
//! - [`bgnbd`] and [`pareto`]: purchase timing, P(alive) and expected purchases;
//! - [`gamma_gamma`]: spend per transaction;
//! - [`fit`]: maximum likelihood with standard errors; [`data`]: summaries and pooling;
//! - [`special`]: ₂F₁ and log-space arithmetic;
//! - [`history`]: what the models read of a profile (currencies kept apart); [`pipeline`]: fit
//!   and score, the one way; [`job`]: the nightly run.
pub mod bgnbd;
pub mod data;
pub mod fit;
pub mod gamma_gamma;
pub mod history;
pub mod job;
pub mod pareto;
pub mod pipeline;
pub mod score;
pub mod sim;
pub mod special;

use serde::{Deserialize, Serialize};

use data::{Pooled, Summary};
use fit::{Fit, FitError, Start, maximize, maximize_from};

/// Fewer customers than this cannot support a fit.
pub const MIN_CUSTOMERS: u64 = 20;
/// Gamma-Gamma needs this many repeat buyers with a spend.
pub const MIN_REPEAT_BUYERS: u64 = 10;
/// From this many distinct rows (what a likelihood pass costs), a timing fit starts from a fit
/// to every `WARM_START_EVERY`th customer. Never for the nightly job's stratified sample, whose
/// few thousand rows stand for any number of customers.
const WARM_START_ROWS: usize = 20_000;
const WARM_START_EVERY: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    Bgnbd,
    ParetoNbd,
    GammaGamma,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Bgnbd => bgnbd::NAME,
            ModelKind::ParetoNbd => pareto::NAME,
            ModelKind::GammaGamma => gamma_gamma::NAME,
        }
    }
}

/// Fits `kind` to summaries standing for `weight` customers each, with clear errors when the
/// data cannot support it.
pub fn fit_weighted<'a>(
    kind: ModelKind,
    summaries: impl IntoIterator<Item = (&'a Summary, f64)> + Clone,
) -> Result<Fit, FitError> {
    let name = kind.name();
    match kind {
        ModelKind::Bgnbd | ModelKind::ParetoNbd => {
            let pooled = Pooled::weighted(summaries.clone());
            if pooled.customers < MIN_CUSTOMERS {
                return Err(FitError::TooFewCustomers { model: name, customers: pooled.customers, min: MIN_CUSTOMERS });
            }
            if pooled.repeat_buyers == 0 {
                return Err(FitError::NoRepeatBuyers { model: name });
            }
            let timing = |pooled: &Pooled, from: Option<&Start>| match kind {
                ModelKind::Bgnbd => maximize_from(name, &bgnbd::BgNbdData(pooled), pooled.customers, from),
                _ => maximize_from(name, &pareto::ParetoNbdData(pooled), pooled.customers, from),
            };
            // On a large base, most of a fit is BFGS learning the curvature, one pass over every
            // row per step. A fit to every 16th customer finds nearly the same optimum and its
            // curvature at a sixteenth of the cost, so the full fit starts there and needs a few
            // steps. If the sample cannot be fitted, the full fit starts from scratch.
            let from = (pooled.rows.len() >= WARM_START_ROWS)
                .then(|| Pooled::weighted(summaries.into_iter().step_by(WARM_START_EVERY)))
                .and_then(|sample| {
                    let fit = timing(&sample, None).ok()?;
                    Some(Start::from_sample(&fit, sample.customers, pooled.customers))
                });
            timing(&pooled, from.as_ref())
        }
        ModelKind::GammaGamma => {
            let rows: Vec<(u32, f64, f64)> = summaries
                .into_iter()
                .filter(|(s, _)| s.frequency > 0)
                .filter_map(|(s, w)| s.monetary_value.filter(|m| *m > 0.0).map(|m| (s.frequency, m, w)))
                .collect();
            if rows.is_empty() {
                return Err(FitError::MissingData {
                    model: name,
                    what: "repeat buyers with a positive monetary_value",
                });
            }
            let n = rows.iter().map(|r| r.2).sum::<f64>().round() as u64;
            if n < MIN_REPEAT_BUYERS {
                return Err(FitError::TooFewCustomers { model: name, customers: n, min: MIN_REPEAT_BUYERS });
            }
            maximize(name, &gamma_gamma::GammaGammaData { rows }, n)
        }
    }
}

/// Fits `kind` to every summary once.
pub fn fit(kind: ModelKind, summaries: &[Summary]) -> Result<Fit, FitError> {
    fit_weighted(kind, summaries.iter().map(|s| (s, 1.0)))
}
