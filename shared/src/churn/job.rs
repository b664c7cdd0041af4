//! The scheduled churn scoring as a segmented job: gather a stratified sample of customer
//! summaries, fit the purchase-timing model and a spend model per currency, then score every
//! customer, flag the valuable ones who become at risk, and queue one win-back send per episode.
//!
//! An episode starts when a customer worth at least the configured value in their currency
//! (their CLV, should they still be a customer) drops below the at-risk threshold, and ends only
//! when they climb back above the (higher) recovered threshold: the gap is hysteresis, so nobody
//! is re-flagged every night while hovering near the line. An episode is the lapse after a last
//! purchase, and its send is named by that day (`churn-lapse-<day>`) and queued once per cause
//! ([`crate::due::DueSend::writes`]): whatever happens to the score between runs, one send per
//! lapse. Currency rules: [`super::history`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ModelKind;
use super::data::{Summary, Unit};
use super::fit::Fit;
use super::gamma_gamma::GammaGamma;
use super::history::{CurrencyRates, History, SettingError, history_at, per_currency};
use super::pipeline::{self, Valuation};
use super::score::{Score, Scoring, Timing};
use crate::due::DueSend;
use crate::ids::CampaignId;
use crate::jobs::{Output, SegmentedJob};
use crate::keys;
use crate::money::Currency;
use crate::profile::Profile;
use crate::store::Key;

pub const SCORE_SK: &str = keys::CHURN_SCORE;
/// Customers kept per stratum in a segment's (and the merged) timing sample.
pub const SAMPLE_PER_STRATUM: usize = 800;
/// Repeat buyers kept per currency in the spend sample.
pub const SPEND_SAMPLE: usize = 800;
/// Currencies whose spend models are published for other functions (all are applied).
const PUBLISHED_CURRENCIES: usize = 64;
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
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnConfig {
    pub model: ModelKind,
    /// Weeks ahead for expected purchases and CLV.
    pub horizon_weeks: f64,
    /// Discount rate per week.
    pub weekly_discount_rate: f64,
    /// The campaign the job itself queues a win-back for when an episode starts. `None` (the
    /// default): it only flags, and `churn_risk` campaigns (the daily scheduled run, reading the
    /// score) send, with their audience and send time like any other campaign.
    pub winback_campaign: Option<CampaignId>,
    /// Value if active (CLV should they still be a customer), per currency, at or above which a
    /// customer is worth winning back. `None`: every customer at risk is. A currency missing
    /// from the table: its customers are never flagged (the run reports it).
    pub min_clv: Option<BTreeMap<Currency, f64>>,
    /// An episode starts below this P(alive)...
    pub at_risk_below: f64,
    /// ...and ends above this one.
    pub recovered_above: f64,
    /// Spend converted into one base currency, if configured.
    pub rates: Option<CurrencyRates>,
}

/// A churn setting that is missing its rule: which setting, and what was wrong.
pub type ChurnConfigError = SettingError;

fn config_error(setting: &'static str, problem: impl Into<String>) -> ChurnConfigError {
    SettingError { setting, problem: problem.into() }
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
        let campaign = lookup("KAIROS_WINBACK_CAMPAIGN").filter(|v| !v.trim().is_empty());
        let min_clv = match lookup("KAIROS_WINBACK_MIN_CLV").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(text) => Some(per_currency("KAIROS_WINBACK_MIN_CLV", &text)?),
        };
        let config = ChurnConfig {
            model,
            horizon_weeks: number("KAIROS_CHURN_HORIZON_WEEKS", 52.0)?,
            weekly_discount_rate: number("KAIROS_CHURN_WEEKLY_DISCOUNT_RATE", 0.0018)?,
            winback_campaign: campaign
                .map(|c| CampaignId::new(c).map_err(|e| config_error("KAIROS_WINBACK_CAMPAIGN", e.to_string())))
                .transpose()?,
            min_clv,
            at_risk_below: number("KAIROS_AT_RISK_BELOW", 0.3)?,
            recovered_above: number("KAIROS_RECOVERED_ABOVE", 0.5)?,
            rates: CurrencyRates::from_lookup(&lookup)?,
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
        pipeline::timing_kind(self.model).map_err(|e| config_error("KAIROS_CHURN_MODEL", e.to_string()))?;
        if let (Some(rates), Some(min)) = (&self.rates, &self.min_clv) {
            if let Some(other) = min.keys().find(|c| **c != rates.base) {
                return Err(config_error(
                    "KAIROS_WINBACK_MIN_CLV",
                    format!(
                        "spend is converted to {} (KAIROS_BASE_CURRENCY), so the minimum is in {} alone, not {}",
                        rates.base.code(),
                        rates.base.code(),
                        other.code()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn valuation(&self) -> Valuation {
        Valuation { horizon: self.horizon_weeks, discount_rate: self.weekly_discount_rate, unit: Unit::Week }
    }

    /// Whether a customer valued at `value` in `currency` is worth winning back.
    fn valuable(&self, value: Option<f64>, currency: Option<Currency>) -> bool {
        match &self.min_clv {
            None => true,
            Some(min) => match (value, currency.and_then(|c| min.get(&c))) {
                (Some(v), Some(m)) => v >= *m,
                _ => false,
            },
        }
    }
}

/// A customer's summary as of `today` (see [`history_at`] for the currency rules).
pub fn summary_at(profile: &Profile, today: NaiveDate) -> Option<Summary> {
    history_at(profile, today, None).map(|h| h.summary)
}

/// One sampled customer's timing: (hash, x, t_x, T).
type TimingRow = (u64, u32, f64, f64);
/// One sampled repeat buyer's spend: (hash, transactions with a spend, mean spend).
type SpendRow = (u64, u32, f64);

/// A bottom-k sample (the customers with the smallest hashes of their ids) and how many
/// customers it stands for: mergeable exactly, the same whatever the segmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample<R> {
    pub count: u64,
    pub rows: Vec<R>,
}

impl<R> Default for Sample<R> {
    fn default() -> Self {
        Sample { count: 0, rows: Vec::new() }
    }
}

pub trait Hashed: Copy {
    fn hash(&self) -> u64;
}

impl Hashed for TimingRow {
    fn hash(&self) -> u64 {
        self.0
    }
}

impl Hashed for SpendRow {
    fn hash(&self) -> u64 {
        self.0
    }
}

impl<R: Hashed> Sample<R> {
    fn add(&mut self, row: R, k: usize) {
        self.count += 1;
        let pos = self.rows.partition_point(|r| r.hash() < row.hash());
        if pos < k {
            self.rows.insert(pos, row);
            self.rows.truncate(k);
        }
    }

    fn merge(&mut self, other: &Sample<R>, k: usize) {
        self.count += other.count;
        let mut merged: Vec<R> = self.rows.iter().chain(&other.rows).copied().collect();
        merged.sort_by_key(Hashed::hash);
        merged.dedup_by_key(|r| r.hash());
        merged.truncate(k);
        self.rows = merged;
    }

    fn weight(&self) -> f64 {
        if self.rows.is_empty() { 0.0 } else { self.count as f64 / self.rows.len() as f64 }
    }
}

/// What a segment gathers: a timing sample per stratum, a spend sample per currency. Bounded
/// per currency (5 × 800 timing rows, 800 spend rows per currency; stored in chunks when large).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleStats {
    pub timing: Vec<Sample<TimingRow>>,
    #[serde(default)]
    pub spend: BTreeMap<Currency, Sample<SpendRow>>,
}

fn stable_hash(id: &str) -> u64 {
    crate::hash::fnv1a64(id.as_bytes())
}

impl SampleStats {
    fn ensure(&mut self) {
        self.timing.resize_with(STRATA, Sample::default);
    }

    pub fn add(&mut self, h: &History) {
        self.ensure();
        let s = &h.summary;
        let hash = stable_hash(&s.customer_id);
        self.timing[stratum(s.frequency)].add((hash, s.frequency, s.recency, s.age), SAMPLE_PER_STRATUM);
        if let (Some(currency), Some(m), true) = (h.currency, s.monetary_value, h.spend_days > 0) {
            self.spend.entry(currency).or_default().add((hash, h.spend_days, m), SPEND_SAMPLE);
        }
    }

    pub fn merge(&mut self, other: &SampleStats) {
        self.ensure();
        for (k, sample) in other.timing.iter().enumerate().take(STRATA) {
            self.timing[k].merge(sample, SAMPLE_PER_STRATUM);
        }
        for (currency, sample) in &other.spend {
            self.spend.entry(*currency).or_default().merge(sample, SPEND_SAMPLE);
        }
    }

    /// Customers gathered.
    pub fn customers(&self) -> u64 {
        self.timing.iter().map(|s| s.count).sum()
    }

    /// The sampled timing summaries, each with the number of customers it stands for.
    pub fn weighted(&self) -> Vec<(Summary, f64)> {
        self.timing
            .iter()
            .flat_map(|sample| {
                let weight = sample.weight();
                sample.rows.iter().map(move |&(h, x, r, t)| {
                    let summary = Summary {
                        customer_id: format!("{h:016x}"),
                        frequency: x,
                        recency: r,
                        age: t,
                        monetary_value: None,
                    };
                    (summary, weight)
                })
            })
            .collect()
    }

    /// The sampled spend summaries of one currency, weighted.
    fn weighted_spend(&self, currency: Currency) -> Vec<(Summary, f64)> {
        let Some(sample) = self.spend.get(&currency) else { return Vec::new() };
        let weight = sample.weight();
        sample
            .rows
            .iter()
            .map(|&(h, x, m)| {
                let summary = Summary {
                    customer_id: format!("{h:016x}"),
                    frequency: x,
                    recency: 0.0,
                    age: 0.0,
                    monetary_value: Some(m),
                };
                (summary, weight)
            })
            .collect()
    }
}

/// The fitted models, or why there are none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// Spend per transaction, per currency.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spend: BTreeMap<Currency, GammaGamma>,
    pub horizon: f64,
    pub discount_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_fit: Option<FitSummary>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spend_fits: BTreeMap<Currency, FitSummary>,
    /// Why customers are not scored (no fit), or why some have no CLV or cannot be flagged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub customers: u64,
    pub sampled: u64,
}

impl ChurnModel {
    /// How customers valued in `currency` are scored, if the timing model was fitted.
    pub fn scoring_for(&self, currency: Option<Currency>) -> Option<Scoring> {
        let valuation = Valuation { horizon: self.horizon, discount_rate: self.discount_rate, unit: Unit::Week };
        let spend = currency.and_then(|c| self.spend.get(&c).copied());
        self.timing.map(|t| pipeline::scoring(t, spend, valuation))
    }
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
    /// The last purchase before the lapse the current (or last) episode is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapse_after: Option<NaiveDate>,
}

/// What is stored per customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    pub scored_at: DateTime<Utc>,
    /// The currency spend, CLV and value are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(flatten)]
    pub score: Score,
    pub winback: WinBack,
}

pub struct ChurnJob {
    pub config: ChurnConfig,
}

/// The occurrence a win-back for the lapse after `last_purchase` is queued under.
pub fn lapse_occurrence(last_purchase: NaiveDate) -> String {
    format!("churn-lapse-{last_purchase}")
}

impl ChurnJob {
    /// The next win-back state: an episode starts when a valuable customer falls below the
    /// at-risk line and ends when they climb above the recovered line.
    pub fn transition(
        &self,
        previous: WinBack,
        score: &Score,
        history: &History,
        now: DateTime<Utc>,
    ) -> (WinBack, bool) {
        let c = &self.config;
        let valuable = c.valuable(score.value_if_active, history.currency);
        if !previous.flagged && valuable && score.p_alive < c.at_risk_below {
            let next = WinBack {
                flagged: true,
                episode: previous.episode + 1,
                flagged_at: Some(now),
                lapse_after: Some(history.last_purchase),
            };
            (next, true)
        } else if previous.flagged && score.p_alive > c.recovered_above {
            (WinBack { flagged: false, ..previous }, false)
        } else {
            (previous, false)
        }
    }

    fn history(&self, profile: &Profile, now: DateTime<Utc>) -> Option<History> {
        history_at(profile, now.date_naive(), self.config.rates.as_ref())
    }
}

impl SegmentedJob for ChurnJob {
    const NAME: &'static str = "churn";
    const OUTPUT_SK: &'static str = SCORE_SK;
    // Purchase history is all the models read.
    const PARTS: &'static [crate::keys::PartKind] = &[crate::keys::PartKind::Orders];
    type Stats = SampleStats;
    type Joined = ();
    type Model = ChurnModel;
    type Output = CustomerScore;

    fn gather(&self, profile: &Profile, now: DateTime<Utc>, stats: &mut SampleStats) {
        if let Some(h) = self.history(profile, now) {
            stats.add(&h);
        }
    }

    fn merge(&self, into: &mut SampleStats, other: &SampleStats) {
        into.merge(other);
    }

    fn fit(&self, stats: &SampleStats) -> ChurnModel {
        let weighted = stats.weighted();
        let valuation = self.config.valuation();
        let mut model = ChurnModel {
            timing: None,
            spend: BTreeMap::new(),
            horizon: valuation.horizon,
            discount_rate: valuation.discount_rate,
            timing_fit: None,
            spend_fits: BTreeMap::new(),
            problems: Vec::new(),
            customers: stats.customers(),
            sampled: weighted.len() as u64,
        };
        match pipeline::fit_timing(self.config.model, weighted.iter().map(|(s, w)| (s, *w))) {
            Ok((timing, fit)) => {
                model.timing = Some(timing);
                model.timing_fit = Some(FitSummary::from(&fit));
            }
            Err(e) => {
                tracing::warn!(error = %e, "churn model not fitted; nobody is scored this run");
                model.problems.push(e.to_string());
                return model;
            }
        }
        for &currency in stats.spend.keys() {
            let rows = stats.weighted_spend(currency);
            match pipeline::fit_spend(rows.iter().map(|(s, w)| (s, *w))) {
                Ok((spend, fit)) => {
                    model.spend.insert(currency, spend);
                    model.spend_fits.insert(currency, FitSummary::from(&fit));
                }
                Err(e) => model.problems.push(format!("no CLV in {}: {e}", currency.code())),
            }
            if let Some(min) = &self.config.min_clv {
                if !min.contains_key(&currency) {
                    model.problems.push(format!(
                        "customers valued in {} are never flagged for win-back: KAIROS_WINBACK_MIN_CLV has no {} entry",
                        currency.code(),
                        currency.code()
                    ));
                }
            }
        }
        model
    }

    fn model_key(&self) -> Key {
        Key::new(keys::CHURN_MODEL.0, keys::CHURN_MODEL.1)
    }

    fn public_model(&self, model: &ChurnModel) -> serde_json::Value {
        // Bounded whatever the data (any three capitals pass as a currency code): the spend
        // models of at most 64 currencies, and the first 20 problems.
        let mut public = model.clone();
        public.spend = model.spend.iter().take(PUBLISHED_CURRENCIES).map(|(c, g)| (*c, *g)).collect();
        public.spend_fits = BTreeMap::new();
        public.problems.truncate(20);
        serde_json::to_value(public).unwrap_or_default()
    }

    fn apply(
        &self,
        profile: &Profile,
        model: &ChurnModel,
        previous: Option<&CustomerScore>,
        _joined: Option<&()>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<CustomerScore>>, String> {
        let Some(history) = self.history(profile, now) else { return Ok(None) };
        let Some(scoring) = model.scoring_for(history.currency) else { return Ok(None) };
        let score = scoring.score(&history.summary).storable().map_err(|e| e.to_string())?;
        let before = previous.map(|c| c.winback).unwrap_or_default();
        let (winback, starts_episode) = self.transition(before, &score, &history, now);
        let mut due = Vec::new();
        if let (true, Some(campaign)) = (starts_episode, &self.config.winback_campaign) {
            due.push(DueSend {
                customer_id: profile.customer_id.clone(),
                campaign_id: campaign.clone(),
                occurrence: lapse_occurrence(history.last_purchase),
                due_at: now,
                reason: format!("win-back: {}", score.explanation),
                created_at: now,
                campaign_version: None,
                cause_at: None,
                product: None,
                placed: false,
                first_due_at: None,
            });
        }
        let flagged = winback.flagged;
        let value = CustomerScore { scored_at: now, currency: history.currency, score, winback };
        Ok(Some(Output { value, writes: Vec::new(), due, flagged }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::score::RiskBand;

    fn job(lookup: impl Fn(&str) -> Option<String>) -> ChurnJob {
        ChurnJob { config: ChurnConfig::from_lookup(lookup).unwrap() }
    }

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    fn history(currency: &str) -> History {
        History {
            summary: Summary {
                customer_id: "c".into(),
                frequency: 3,
                recency: 10.0,
                age: 30.0,
                monetary_value: Some(40.0),
            },
            spend_days: 3,
            currency: Some(Currency::new(currency).unwrap()),
            last_purchase: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        }
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
        let job = job(|n| (n == "KAIROS_WINBACK_MIN_CLV").then(|| "EUR=50".into()));
        let now = Utc::now();
        let mut state = WinBack::default();
        let mut starts = 0;
        // Falls, hovers around the line, recovers a little (not enough), recovers, falls again.
        for p in [0.8, 0.25, 0.35, 0.28, 0.45, 0.29, 0.55, 0.2] {
            let (next, started) = job.transition(state, &score(p, 120.0), &history("EUR"), now);
            starts += u32::from(started);
            state = next;
        }
        assert_eq!(starts, 2);
        assert_eq!(state.episode, 2);
        assert!(state.flagged);
        assert_eq!(state.lapse_after, Some(history("EUR").last_purchase));
        // Customers below their currency's minimum, or in a currency without one, are never flagged.
        let (cheap, started) = job.transition(WinBack::default(), &score(0.1, 10.0), &history("EUR"), now);
        assert!(!started && !cheap.flagged);
        let (other, started) = job.transition(WinBack::default(), &score(0.1, 500.0), &history("USD"), now);
        assert!(!started && !other.flagged);
        // Without a minimum, anyone at risk is flagged.
        let (anyone, started) =
            self::job(|_| None).transition(WinBack::default(), &score(0.1, 1.0), &history("USD"), now);
        assert!(started && anyone.flagged);
    }

    #[test]
    fn bottom_k_samples_merge_to_the_same_sample_in_any_split() {
        let histories: Vec<History> = (0..5000)
            .map(|i| History {
                summary: Summary {
                    customer_id: format!("c{i}"),
                    frequency: i % 11,
                    recency: 1.0,
                    age: 2.0,
                    monetary_value: (i % 11 > 0).then_some(10.0),
                },
                spend_days: i % 11,
                currency: Some(Currency::new(if i % 3 == 0 { "USD" } else { "EUR" }).unwrap()),
                last_purchase: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            })
            .collect();
        let mut whole = SampleStats::default();
        histories.iter().for_each(|h| whole.add(h));
        let (mut a, mut b) = (SampleStats::default(), SampleStats::default());
        for (i, h) in histories.iter().enumerate() {
            if i % 3 == 1 { a.add(h) } else { b.add(h) }
        }
        b.merge(&a);
        assert_eq!(whole, b);
        let weights: f64 = whole.weighted().iter().map(|(_, w)| w).sum();
        assert!((weights - 5000.0).abs() < 1e-6, "weights stand for every customer: {weights}");
        assert_eq!(whole.spend.len(), 2);
        assert!(whole.spend.values().all(|s| s.rows.len() == SPEND_SAMPLE));
        let text = serde_json::to_string(&whole).unwrap();
        assert!(text.len() < 400_000, "bounded: {} bytes", text.len());
    }

    #[test]
    fn configuration_is_checked() {
        assert!(ChurnConfig::from_lookup(|n| (n == "KAIROS_AT_RISK_BELOW").then(|| "0.6".into())).is_err());
        assert!(ChurnConfig::from_lookup(|n| (n == "KAIROS_CHURN_MODEL").then(|| "gamma".into())).is_err());
        let plain = ChurnConfig::from_lookup(|n| (n == "KAIROS_WINBACK_MIN_CLV").then(|| "50".into())).unwrap_err();
        assert_eq!(plain.setting, "KAIROS_WINBACK_MIN_CLV");
        let c = ChurnConfig::from_lookup(|n| (n == "KAIROS_CHURN_MODEL").then(|| "pareto-nbd".into())).unwrap();
        assert_eq!(c.model, ModelKind::ParetoNbd);
        assert_eq!(c.min_clv, None);
        let converted = |n: &str| match n {
            "KAIROS_BASE_CURRENCY" => Some("EUR".to_string()),
            "KAIROS_CURRENCY_RATES" => Some("USD=0.9".to_string()),
            "KAIROS_WINBACK_MIN_CLV" => Some("USD=50".to_string()),
            _ => None,
        };
        assert_eq!(ChurnConfig::from_lookup(converted).unwrap_err().setting, "KAIROS_WINBACK_MIN_CLV");
        let min = job(|n| (n == "KAIROS_WINBACK_MIN_CLV").then(|| "EUR=50,USD=55".into())).config.min_clv.unwrap();
        assert_eq!(min[&eur()], 50.0);
    }
}
