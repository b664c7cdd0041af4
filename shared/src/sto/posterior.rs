//! A customer's attention over the week: their own signals smoothed toward their prior.
//!
//! The posterior is the Dirichlet `α = strength · prior mean + smoothed own masses`. With no
//! signals it is the prior; every signal moves it toward the customer's own routine.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::week::{HOURS_PER_WEEK, HourOfWeek};

use super::prior::{Prior, Priors};
use super::smooth::smooth;
use crate::attention::Attention;

/// How an email sent at an hour gets read over the following hours: mostly in the first one or
/// two, a little later. Used to score a send hour by the attention that follows it.
pub const RESPONSE_LAG: [f64; 4] = [0.4, 0.3, 0.2, 0.1];
/// How an SMS or a push notification gets read: the moment it arrives, or not at all (a little
/// weight on the next hour, for a send late in the hour).
pub const ON_ARRIVAL_LAG: [f64; 2] = [0.85, 0.15];
/// Messages' worth of pseudo-evidence the population response rate carries for a customer.
const RESPONSE_PRIOR_MESSAGES: f64 = 5.0;
/// Smallest α for any hour, so Thompson sampling is always defined.
const MIN_ALPHA: f64 = 1e-6;

/// Where a posterior's prior came from, for explanations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum PriorSource {
    Population,
    Segment(String),
}

/// What one customer brings to a decision besides their attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub delivered: u64,
    pub engaged: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posterior {
    /// Dirichlet parameters per hour of the local week (stored packed, within 0.017%).
    #[serde(with = "crate::compact::packed_positives")]
    pub alpha: Vec<f64>,
    /// The customer's own (decayed, weighted) signal mass in it.
    pub own_mass: f64,
    pub signals: u32,
    pub prior: PriorSource,
    /// Probability that the customer engages with a message sent at an average time.
    pub response_rate: f64,
}

impl Posterior {
    /// The posterior at `now` for a customer with `attention`, in `segment`.
    pub fn new(
        attention: &Attention,
        history: History,
        segment: Option<&str>,
        priors: &Priors,
        now: DateTime<Utc>,
    ) -> Self {
        let (prior, segment_used) = priors.for_segment(segment);
        let masses = smooth(&attention.masses_at(now));
        Self::from_parts(&masses, attention.signals, history, prior, segment_used, priors.response_rate)
    }

    fn from_parts(
        smoothed: &[f64; HOURS_PER_WEEK],
        signals: u32,
        history: History,
        prior: &Prior,
        segment: Option<&str>,
        population_rate: f64,
    ) -> Self {
        let alpha: Vec<f64> =
            (0..HOURS_PER_WEEK).map(|h| (prior.strength * prior.mean[h] + smoothed[h]).max(MIN_ALPHA)).collect();
        let engaged = history.engaged.min(history.delivered) as f64;
        let response_rate = (engaged + RESPONSE_PRIOR_MESSAGES * population_rate)
            / (history.delivered as f64 + RESPONSE_PRIOR_MESSAGES);
        Posterior {
            alpha,
            own_mass: smoothed.iter().sum(),
            signals,
            prior: segment.map_or(PriorSource::Population, |s| PriorSource::Segment(s.to_string())),
            response_rate,
        }
    }

    /// The expected share of the customer's attention in each hour.
    pub fn mean(&self) -> [f64; HOURS_PER_WEEK] {
        let total: f64 = self.alpha.iter().sum();
        std::array::from_fn(|h| self.alpha[h] / total)
    }

    /// A plausible attention profile drawn from the posterior (Thompson sampling).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> [f64; HOURS_PER_WEEK] {
        let mut draws = [0.0; HOURS_PER_WEEK];
        for (d, a) in draws.iter_mut().zip(&self.alpha) {
            *d = Gamma::new(*a, 1.0).map_or(*a, |g| g.sample(rng));
        }
        let total: f64 = draws.iter().sum();
        if total > 0.0 {
            draws.iter_mut().for_each(|d| *d /= total);
        }
        draws
    }

    /// How much of the customer's attention follows a send at `hour`, read over the hours after
    /// arrival with weights `lag`, relative to a send at a random hour (1.0).
    pub fn relative_attention(shares: &[f64; HOURS_PER_WEEK], hour: HourOfWeek, lag: &[f64]) -> f64 {
        let lagged: f64 = lag.iter().enumerate().map(|(k, w)| w * shares[(hour.index() + k) % HOURS_PER_WEEK]).sum();
        lagged * HOURS_PER_WEEK as f64
    }

    /// Probability of engagement for a send with this relative attention. At 1.0 it is the
    /// customer's response rate; more attention raises it, saturating below 1.
    pub fn engagement_probability(&self, relative_attention: f64) -> f64 {
        1.0 - (1.0 - self.response_rate).powf(relative_attention.max(0.0))
    }

    /// How much the customer's own data weighs against the prior, 0 to 1.
    pub fn own_weight(&self) -> f64 {
        let total: f64 = self.alpha.iter().sum();
        if total > 0.0 { self.own_mass / total } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::Signal;
    use chrono::TimeZone;

    fn priors_peaking_at(hour_of_day: usize) -> Priors {
        let mut mean = vec![0.1; HOURS_PER_WEEK];
        for d in 0..7 {
            mean[d * 24 + hour_of_day] = 3.0;
        }
        let total: f64 = mean.iter().sum();
        mean.iter_mut().for_each(|m| *m /= total);
        Priors { population: Prior { mean, strength: 10.0, customers: 1000 }, ..Priors::default() }
    }

    fn peak(shares: &[f64; HOURS_PER_WEEK]) -> usize {
        (0..HOURS_PER_WEEK).max_by(|a, b| shares[*a].total_cmp(&shares[*b])).unwrap()
    }

    #[test]
    fn the_prior_dominates_a_new_customer_and_data_takes_over() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(); // a Monday
        let priors = priors_peaking_at(20);
        let mut attention = Attention::default();
        let fresh = Posterior::new(&attention, History::default(), None, &priors, now);
        assert_eq!(peak(&fresh.mean()) % 24, 20, "no data: the population's hour");
        assert_eq!(fresh.own_weight(), 0.0);

        // The customer turns out to be a 07:00 person on weekdays.
        let mut weights = Vec::new();
        for week in 0..8 {
            for day in 0..5 {
                let at = now - chrono::Duration::days(7 * week + 7) + chrono::Duration::days(day)
                    - chrono::Duration::hours(5);
                attention.add(at.timestamp(), chrono_tz::UTC, Signal::Click);
            }
            let p = Posterior::new(&attention, History::default(), None, &priors, now);
            weights.push(p.own_weight());
        }
        let learned = Posterior::new(&attention, History::default(), None, &priors, now);
        assert_eq!(peak(&learned.mean()) % 24, 7, "enough data: the customer's own hour");
        assert!(weights.windows(2).all(|w| w[1] > w[0]), "each signal weighs in: {weights:?}");
    }

    #[test]
    fn the_response_rate_moves_from_the_population_to_the_customer() {
        let priors = Priors { response_rate: 0.2, ..Priors::default() };
        let now = Utc::now();
        let none = Posterior::new(&Attention::default(), History::default(), None, &priors, now);
        assert!((none.response_rate - 0.2).abs() < 1e-12);
        let keen = Posterior::new(&Attention::default(), History { delivered: 95, engaged: 95 }, None, &priors, now);
        assert!(keen.response_rate > 0.95);
        assert!((none.engagement_probability(1.0) - 0.2).abs() < 1e-12);
        assert!(none.engagement_probability(3.0) > 0.2 && none.engagement_probability(3.0) < 1.0);
    }

    #[test]
    fn thompson_samples_are_distributions_around_the_mean() {
        use rand::SeedableRng;
        let priors = priors_peaking_at(9);
        let p = Posterior::new(&Attention::default(), History::default(), None, &priors, Utc::now());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut average = [0.0; HOURS_PER_WEEK];
        for _ in 0..2000 {
            let s = p.sample(&mut rng);
            assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            for h in 0..HOURS_PER_WEEK {
                average[h] += s[h] / 2000.0;
            }
        }
        let mean = p.mean();
        for h in 0..HOURS_PER_WEEK {
            assert!((average[h] - mean[h]).abs() < 0.25 * mean[h] + 1e-3, "hour {h}: {} vs {}", average[h], mean[h]);
        }
    }
}
