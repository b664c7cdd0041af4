//! The scheduled churn scoring as a segmented job: gather a stratified sample of customer
//! summaries, fit the purchase-timing and spend models, then score every customer, flag the
//! valuable ones who become at risk, and queue one win-back send per episode.
//!
//! An episode starts when a customer worth at least the configured value (their CLV, should they
//! still be a customer) drops below the at-risk threshold, and ends only when they climb back
//! above the (higher) recovered threshold: the gap is hysteresis, so nobody is re-flagged every
//! night while hovering near the line. The win-back send is created in the same transaction as
//! the score that starts the episode, keyed by the episode, so it is queued exactly once.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbd;
use super::data::{Summary, Unit};
use super::fit::Fit;
use super::gamma_gamma::GammaGamma;
use super::pareto::ParetoNbd;
use super::score::{Score, Scoring, Timing};
use super::{ModelKind, fit_weighted};
use crate::due::DueSend;
use crate::ids::CampaignId;
use crate::jobs::{Output, SegmentedJob};
use crate::keys;
use crate::profile::Profile;
use crate::store::Key;

pub const SCORE_SK: &str = keys::CHURN_SCORE;
/// Customers kept per stratum in a segment's (and the merged) sample.
pub const SAMPLE_PER_STRATUM: usize = 800;
/// Strata by repeat purchases: none, one, two or three, four to seven, eight or more.
const STRATA: usize = 5;

fn stratum(frequency: u32) -> usize {
    match frequency {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=7 => 3,
        _ => 4,
    }
}

/// What the churn job is told to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnConfig {
    pub model: ModelKind,
    /// Weeks ahead for expected purchases and CLV.
    pub horizon_weeks: f64,
    /// Discount rate per week.
    pub weekly_discount_rate: f64,
    pub winback_campaign: CampaignId,
    /// Value if active (CLV should they still be a customer) at or above which a customer is
    /// worth winning back.
    pub min_clv: f64,
    /// An episode starts below this P(alive)...
    pub at_risk_below: f64,
    /// ...and ends above this one.
    pub recovered_above: f64,
}

/// A churn setting that is missing its rule: which setting, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ChurnConfigError {
    pub setting: &'static str,
    pub problem: String,
}

fn config_error(setting: &'static str, problem: impl Into<String>) -> ChurnConfigError {
    ChurnConfigError { setting, problem: problem.into() }
}

impl ChurnConfig {
    /// Reads the configuration through `lookup` (the environment, in Lambda), with defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ChurnConfigError> {
        let number = |name: &'static str, default: f64| -> Result<f64, ChurnConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| config_error(name, format!("{v:?} is not a number"))),
            }
        };
        let model = match lookup("KAIROS_CHURN_MODEL").as_deref() {
            None | Some("bgnbd") => ModelKind::Bgnbd,
            Some("pareto-nbd") => ModelKind::ParetoNbd,
            Some(other) => {
                return Err(config_error("KAIROS_CHURN_MODEL", format!("{other:?}: expected bgnbd or pareto-nbd")));
            }
        };
        let campaign = lookup("KAIROS_WINBACK_CAMPAIGN").unwrap_or_else(|| "winback".into());
        let config = ChurnConfig {
            model,
            horizon_weeks: number("KAIROS_CHURN_HORIZON_WEEKS", 52.0)?,
            weekly_discount_rate: number("KAIROS_CHURN_WEEKLY_DISCOUNT_RATE", 0.0018)?,
            winback_campaign: CampaignId::new(campaign)
                .map_err(|e| config_error("KAIROS_WINBACK_CAMPAIGN", e.to_string()))?,
            min_clv: number("KAIROS_WINBACK_MIN_CLV", 50.0)?,
            at_risk_below: number("KAIROS_AT_RISK_BELOW", 0.3)?,
            recovered_above: number("KAIROS_RECOVERED_ABOVE", 0.5)?,
        };
        config.check().map(|()| config)
    }

    pub fn check(&self) -> Result<(), ChurnConfigError> {
        if !(self.horizon_weeks > 0.0 && self.horizon_weeks <= 520.0) {
            return Err(config_error("KAIROS_CHURN_HORIZON_WEEKS", "the CLV horizon must be between 0 and 520 weeks"));
        }
        if !(0.0..1.0).contains(&self.weekly_discount_rate) {
            return Err(config_error("KAIROS_CHURN_WEEKLY_DISCOUNT_RATE", "must be at least 0 and below 1"));
        }
        if !(0.0 < self.at_risk_below && self.at_risk_below < self.recovered_above && self.recovered_above < 1.0) {
            return Err(config_error(
                "KAIROS_AT_RISK_BELOW",
                format!(
                    "need 0 < at-risk threshold ({}) < recovered threshold (KAIROS_RECOVERED_ABOVE, {}) < 1",
                    self.at_risk_below, self.recovered_above
                ),
            ));
        }
        if matches!(self.model, ModelKind::GammaGamma) {
            return Err(config_error("KAIROS_CHURN_MODEL", "the churn model must be bgnbd or pareto-nbd"));
        }
        Ok(())
    }
}

/// A customer's summary as of `today`, in weeks, from their orders: purchase days (orders not
/// wholly refunded, on the shop's calendar), net spend of the repeat days in the main currency.
pub fn summary_at(profile: &Profile, today: NaiveDate) -> Option<Summary> {
    let currency = profile.purchases().currency;
    let mut days: std::collections::BTreeMap<NaiveDate, f64> = std::collections::BTreeMap::new();
    for record in profile.order_records().filter(|o| o.counts_as_purchase()) {
        let Some(placed) = &record.placed else { continue };
        if placed.day > today {
            continue;
        }
        let net = if Some(placed.currency) == currency { record.net().to_f64() } else { 0.0 };
        *days.entry(placed.day).or_default() += net;
    }
    let (&first, _) = days.iter().next()?;
    let (&last, _) = days.iter().next_back()?;
    let weeks = |from: NaiveDate, to: NaiveDate| (to - from).num_days() as f64 / 7.0;
    let repeat: Vec<f64> = days.values().skip(1).copied().collect();
    Some(Summary {
        customer_id: profile.customer_id.to_string(),
        frequency: repeat.len() as u32,
        recency: weeks(first, last),
        age: weeks(first, today),
        monetary_value: (!repeat.is_empty()).then(|| repeat.iter().sum::<f64>() / repeat.len() as f64),
    })
}

/// One sampled customer: (hash, x, t_x, T, mean spend).
type SampleRow = (u64, u32, f64, f64, f64);

/// A bottom-k sample per stratum (the customers with the smallest hashes of their ids) and how
/// many customers each stratum had: mergeable exactly, and the same whatever the segmentation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleStats {
    pub counts: Vec<u64>,
    pub samples: Vec<Vec<SampleRow>>,
}

fn stable_hash(id: &str) -> u64 {
    crate::hash::fnv1a64(id.as_bytes())
}

impl SampleStats {
    fn ensure(&mut self) {
        self.counts.resize(STRATA, 0);
        self.samples.resize(STRATA, Vec::new());
    }

    pub fn add(&mut self, s: &Summary) {
        self.ensure();
        let k = stratum(s.frequency);
        self.counts[k] += 1;
        let row = (stable_hash(&s.customer_id), s.frequency, s.recency, s.age, s.monetary_value.unwrap_or(0.0));
        let sample = &mut self.samples[k];
        let pos = sample.partition_point(|r| r.0 < row.0);
        if pos < SAMPLE_PER_STRATUM {
            sample.insert(pos, row);
            sample.truncate(SAMPLE_PER_STRATUM);
        }
    }

    pub fn merge(&mut self, other: &SampleStats) {
        self.ensure();
        for k in 0..other.counts.len().min(STRATA) {
            self.counts[k] += other.counts[k];
            let mut merged: Vec<SampleRow> = self.samples[k].iter().chain(&other.samples[k]).copied().collect();
            merged.sort_by_key(|r| r.0);
            merged.dedup_by_key(|r| r.0);
            merged.truncate(SAMPLE_PER_STRATUM);
            self.samples[k] = merged;
        }
    }

    /// The sampled summaries, each with the number of customers it stands for.
    pub fn weighted(&self) -> Vec<(Summary, f64)> {
        self.samples
            .iter()
            .zip(&self.counts)
            .flat_map(|(sample, &count)| {
                let weight = if sample.is_empty() { 0.0 } else { count as f64 / sample.len() as f64 };
                sample.iter().map(move |&(h, x, r, t, m)| {
                    let summary = Summary {
                        customer_id: format!("{h:016x}"),
                        frequency: x,
                        recency: r,
                        age: t,
                        monetary_value: (x > 0).then_some(m),
                    };
                    (summary, weight)
                })
            })
            .collect()
    }
}

/// The fitted models, or why there are none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<Scoring>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_fit: Option<FitSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_fit: Option<FitSummary>,
    /// Why customers are not scored (no fit), or why there is no CLV (no spend model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub customers: u64,
    pub sampled: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    pub model: String,
    pub params: Vec<(String, f64)>,
    pub log_likelihood: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_errors: Option<Vec<f64>>,
}

impl From<&Fit> for FitSummary {
    fn from(f: &Fit) -> Self {
        FitSummary {
            model: f.model.to_string(),
            params: f.params.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            log_likelihood: f.log_likelihood,
            standard_errors: f.standard_errors.clone(),
        }
    }
}

/// A customer's win-back state, carried from run to run in their score item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WinBack {
    /// In an at-risk episode now.
    pub flagged: bool,
    /// Episodes so far.
    pub episode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged_at: Option<DateTime<Utc>>,
}

/// What is stored per customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    pub scored_at: DateTime<Utc>,
    #[serde(flatten)]
    pub score: Score,
    pub winback: WinBack,
}

pub struct ChurnJob {
    pub config: ChurnConfig,
}

impl ChurnJob {
    /// The next win-back state: an episode starts when a valuable customer falls below the
    /// at-risk line and ends when they climb above the recovered line.
    pub fn transition(&self, previous: WinBack, score: &Score, now: DateTime<Utc>) -> (WinBack, bool) {
        let c = &self.config;
        let valuable = score.value_if_active.is_some_and(|v| v >= c.min_clv);
        if !previous.flagged && valuable && score.p_alive < c.at_risk_below {
            (WinBack { flagged: true, episode: previous.episode + 1, flagged_at: Some(now) }, true)
        } else if previous.flagged && score.p_alive > c.recovered_above {
            (WinBack { flagged: false, ..previous }, false)
        } else {
            (previous, false)
        }
    }
}

impl SegmentedJob for ChurnJob {
    const NAME: &'static str = "churn";
    const OUTPUT_SK: &'static str = SCORE_SK;
    type Stats = SampleStats;
    type Model = ChurnModel;
    type Output = CustomerScore;

    fn gather(&self, profile: &Profile, now: DateTime<Utc>, stats: &mut SampleStats) {
        if let Some(s) = summary_at(profile, now.date_naive()) {
            stats.add(&s);
        }
    }

    fn merge(&self, into: &mut SampleStats, other: &SampleStats) {
        into.merge(other);
    }

    fn fit(&self, stats: &SampleStats) -> ChurnModel {
        let weighted = stats.weighted();
        let customers = stats.counts.iter().sum();
        let mut model = ChurnModel {
            scoring: None,
            timing_fit: None,
            spend_fit: None,
            problems: Vec::new(),
            customers,
            sampled: weighted.len() as u64,
        };
        let rows = weighted.iter().map(|(s, w)| (s, *w));
        let timing = match fit_weighted(self.config.model, rows.clone()) {
            Ok(f) => {
                model.timing_fit = Some(FitSummary::from(&f));
                match self.config.model {
                    ModelKind::ParetoNbd => Timing::ParetoNbd(ParetoNbd::from_values(&f.values())),
                    _ => Timing::Bgnbd(BgNbd::from_values(&f.values())),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "churn model not fitted; nobody is scored this run");
                model.problems.push(e.to_string());
                return model;
            }
        };
        let spend = match fit_weighted(ModelKind::GammaGamma, rows) {
            Ok(f) => {
                model.spend_fit = Some(FitSummary::from(&f));
                Some(GammaGamma::from_values(&f.values()))
            }
            Err(e) => {
                model.problems.push(format!("no CLV: {e}"));
                None
            }
        };
        model.scoring = Some(Scoring {
            timing,
            spend,
            horizon: self.config.horizon_weeks,
            discount_rate: self.config.weekly_discount_rate,
            clv_steps: 12,
            unit: Unit::Week,
        });
        model
    }

    fn model_key(&self) -> Key {
        Key::new(keys::CHURN_MODEL.0, keys::CHURN_MODEL.1)
    }

    fn apply(
        &self,
        profile: &Profile,
        model: &ChurnModel,
        previous: Option<&CustomerScore>,
        now: DateTime<Utc>,
    ) -> Option<Output<CustomerScore>> {
        let scoring = model.scoring.as_ref()?;
        let summary = summary_at(profile, now.date_naive())?;
        let score = scoring.score(&summary);
        let before = previous.map(|c| c.winback).unwrap_or_default();
        let (winback, starts_episode) = self.transition(before, &score, now);
        let mut due = Vec::new();
        if starts_episode {
            due.push(DueSend {
                customer_id: profile.customer_id.clone(),
                campaign_id: self.config.winback_campaign.clone(),
                occurrence: format!("churn-episode-{}", winback.episode),
                due_at: now,
                reason: format!("win-back: {}", score.explanation),
                created_at: now,
            });
        }
        Some(Output { value: CustomerScore { scored_at: now, score, winback }, due })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::score::RiskBand;

    fn job() -> ChurnJob {
        ChurnJob { config: ChurnConfig::from_lookup(|_| None).unwrap() }
    }

    fn score(p_alive: f64, clv: f64) -> Score {
        Score {
            frequency: 3,
            recency: 10.0,
            age: 30.0,
            monetary_value: Some(40.0),
            p_alive,
            expected_purchases: 1.0,
            expected_spend: Some(40.0),
            clv: Some(clv * p_alive),
            value_if_active: Some(clv),
            band: RiskBand::of(p_alive),
            explanation: String::new(),
        }
    }

    #[test]
    fn episodes_start_once_and_end_only_on_recovery() {
        let job = job();
        let now = Utc::now();
        let mut state = WinBack::default();
        let mut starts = 0;
        // Falls, hovers around the line, recovers a little (not enough), recovers, falls again.
        for p in [0.8, 0.25, 0.35, 0.28, 0.45, 0.29, 0.55, 0.2] {
            let (next, started) = job.transition(state, &score(p, 120.0), now);
            starts += u32::from(started);
            state = next;
        }
        assert_eq!(starts, 2);
        assert_eq!(state.episode, 2);
        assert!(state.flagged);
        // Customers below the CLV threshold are never flagged.
        let (cheap, started) = job.transition(WinBack::default(), &score(0.1, 10.0), now);
        assert!(!started && !cheap.flagged);
    }

    #[test]
    fn bottom_k_samples_merge_to_the_same_sample_in_any_split() {
        let summaries: Vec<Summary> = (0..5000)
            .map(|i| Summary {
                customer_id: format!("c{i}"),
                frequency: i % 11,
                recency: 1.0,
                age: 2.0,
                monetary_value: Some(10.0),
            })
            .collect();
        let mut whole = SampleStats::default();
        summaries.iter().for_each(|s| whole.add(s));
        let (mut a, mut b) = (SampleStats::default(), SampleStats::default());
        for (i, s) in summaries.iter().enumerate() {
            if i % 3 == 0 { a.add(s) } else { b.add(s) }
        }
        b.merge(&a);
        assert_eq!(whole, b);
        let weights: f64 = whole.weighted().iter().map(|(_, w)| w).sum();
        assert!((weights - 5000.0).abs() < 1e-6, "weights stand for every customer: {weights}");
    }

    #[test]
    fn configuration_is_checked() {
        assert!(ChurnConfig::from_lookup(|n| (n == "KAIROS_AT_RISK_BELOW").then(|| "0.6".into())).is_err());
        assert!(ChurnConfig::from_lookup(|n| (n == "KAIROS_CHURN_MODEL").then(|| "gamma".into())).is_err());
        assert!(ChurnConfig::from_lookup(|n| (n == "KAIROS_WINBACK_MIN_CLV").then(|| "lots".into())).is_err());
        let c = ChurnConfig::from_lookup(|n| (n == "KAIROS_CHURN_MODEL").then(|| "pareto-nbd".into())).unwrap();
        assert_eq!(c.model, ModelKind::ParetoNbd);
    }
}
