//! What the population's attention looks like: the prior every customer starts from.
//!
//! The prior is a Dirichlet distribution over the 168 hours of the local week: a mean (where the
//! population pays attention) and a strength (how many signals of their own it takes before a
//! customer's data outweighs the population's). Both are fitted by empirical Bayes from
//! mergeable sums, so the fit can be split over any number of workers and combined: the mean
//! from the average of customers' attention shares, the strength by the method of moments from
//! how much customers' shares scatter around it (for Dirichlet-multinomial data,
//! `E[Σ x²] = Σm² + (1 − Σm²)(1/N + (1 − 1/N)/(s + 1))`).
//!
//! Segments (a shop-defined `segment` attribute, else the country) get their own mean, shrunk
//! toward the population's, once they have enough customers. What is gathered stays bounded
//! whatever the shop's attribute holds: the [`MAX_SEGMENTS`] segment names with the smallest
//! hashes keep their sums (the same names in every split of the data, so merging is exact);
//! customers of the others count toward the population alone, and are counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::week::HOURS_PER_WEEK;

use super::smooth::smooth;

/// Customers need at least this much (decayed, weighted) signal to inform the prior.
pub const MIN_MASS: f64 = 2.0;
/// A segment gets its own prior from this many informative customers.
pub const MIN_SEGMENT_CUSTOMERS: u64 = 30;
/// Segments whose sums are kept (each is 168 numbers).
pub const MAX_SEGMENTS: usize = 500;
/// Segment priors published for other functions beside the population's (the largest ones).
pub const PUBLISHED_SEGMENTS: usize = 64;
/// Shrinkage of a segment mean toward the population, in customers.
const SEGMENT_SHRINKAGE: f64 = 50.0;
/// Share of the mean that is uniform, so no hour is ever impossible.
const UNIFORM_FLOOR: f64 = 0.02;
const STRENGTH_RANGE: (f64, f64) = (0.5, 200.0);
/// Before any data: a weak, flat prior, and a typical marketing response rate.
const DEFAULT_STRENGTH: f64 = 5.0;
const DEFAULT_RESPONSE_RATE: f64 = 0.15;

/// Sums over customers, mergeable across workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Informative customers.
    pub customers: u64,
    /// Σ over customers of their attention shares, per hour.
    pub shares: Vec<f64>,
    /// Σ over customers of Σ_h share².
    pub sum_squares: f64,
    /// Σ over customers of 1 / their mass.
    pub inverse_mass: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { customers: 0, shares: vec![0.0; HOURS_PER_WEEK], sum_squares: 0.0, inverse_mass: 0.0 }
    }
}

impl Moments {
    fn add(&mut self, masses: &[f64; HOURS_PER_WEEK], total: f64) {
        self.customers += 1;
        let mut squares = 0.0;
        for (s, m) in self.shares.iter_mut().zip(masses) {
            let x = m / total;
            *s += x;
            squares += x * x;
        }
        self.sum_squares += squares;
        self.inverse_mass += 1.0 / total;
    }

    fn merge(&mut self, other: &Moments) {
        self.customers += other.customers;
        for (a, b) in self.shares.iter_mut().zip(&other.shares) {
            *a += b;
        }
        self.sum_squares += other.sum_squares;
        self.inverse_mass += other.inverse_mass;
    }
}

/// Everything a prior fit needs, accumulated customer by customer, mergeable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PriorStats {
    pub population: Moments,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Moments>,
    /// Informative customers of segments beyond [`MAX_SEGMENTS`]: in the population only.
    #[serde(default)]
    pub left_out: u64,
    /// Messages delivered and engaged with, for the response-rate prior.
    pub delivered: u64,
    pub engaged: u64,
}

impl PriorStats {
    /// Adds one customer: their attention masses now, their segment, their message history.
    pub fn add(&mut self, masses: &[f64; HOURS_PER_WEEK], segment: Option<&str>, delivered: u64, engaged: u64) {
        self.delivered += delivered;
        self.engaged += engaged.min(delivered);
        let total: f64 = masses.iter().sum();
        if total < MIN_MASS {
            return;
        }
        self.population.add(masses, total);
        if let Some(segment) = segment {
            match self.segments.get_mut(segment) {
                Some(m) => m.add(masses, total),
                None => {
                    let mut m = Moments::default();
                    m.add(masses, total);
                    self.segments.insert(segment.to_string(), m);
                    self.bound();
                }
            }
        }
    }

    pub fn merge(&mut self, other: &PriorStats) {
        self.population.merge(&other.population);
        for (name, m) in &other.segments {
            self.segments.entry(name.clone()).or_default().merge(m);
        }
        self.left_out += other.left_out;
        self.bound();
        self.delivered += other.delivered;
        self.engaged += other.engaged;
    }

    /// Keeps the [`MAX_SEGMENTS`] names with the smallest hashes.
    fn bound(&mut self) {
        if self.segments.len() <= MAX_SEGMENTS {
            return;
        }
        let mut by_hash: Vec<(u64, String)> =
            self.segments.keys().map(|name| (crate::hash::mixed64(name.as_bytes()), name.clone())).collect();
        by_hash.sort_unstable();
        for (_, name) in by_hash.drain(MAX_SEGMENTS..) {
            if let Some(m) = self.segments.remove(&name) {
                self.left_out += m.customers;
            }
        }
    }

    /// The fitted priors.
    pub fn fit(&self) -> Priors {
        let population = fit_one(&self.population, None);
        let segments = self
            .segments
            .iter()
            .filter(|(_, m)| m.customers >= MIN_SEGMENT_CUSTOMERS)
            .map(|(name, m)| (name.clone(), fit_one(m, Some(&population))))
            .collect();
        let response_rate = if self.delivered >= 100 {
            (self.engaged as f64 / self.delivered as f64).clamp(0.001, 0.95)
        } else {
            DEFAULT_RESPONSE_RATE
        };
        Priors { population, segments, response_rate, segments_left_out: 0 }
    }
}

/// A Dirichlet prior over the hours of the week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// Where attention is, summing to 1.
    pub mean: Vec<f64>,
    /// How many signals of their own it takes for a customer's data to weigh as much.
    pub strength: f64,
    /// Customers it was fitted on.
    pub customers: u64,
}

impl Prior {
    pub fn flat() -> Self {
        Prior { mean: vec![1.0 / HOURS_PER_WEEK as f64; HOURS_PER_WEEK], strength: DEFAULT_STRENGTH, customers: 0 }
    }
}

/// The population prior, segment priors and the response-rate prior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priors {
    pub population: Prior,
    #[serde(default)]
    pub segments: BTreeMap<String, Prior>,
    /// Share of delivered messages engaged with, across the population.
    pub response_rate: f64,
    /// Segment priors not included here (see [`Priors::published`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub segments_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for Priors {
    fn default() -> Self {
        Priors {
            population: Prior::flat(),
            segments: BTreeMap::new(),
            response_rate: DEFAULT_RESPONSE_RATE,
            segments_left_out: 0,
        }
    }
}

impl Priors {
    /// The priors other functions read, in one item: the population's and the
    /// [`PUBLISHED_SEGMENTS`] largest segments' (customers of the others have their own model).
    pub fn published(&self) -> Priors {
        let mut largest: Vec<(&String, &Prior)> = self.segments.iter().collect();
        largest.sort_by(|a, b| b.1.customers.cmp(&a.1.customers).then(a.0.cmp(b.0)));
        let kept: BTreeMap<String, Prior> =
            largest.iter().take(PUBLISHED_SEGMENTS).map(|(n, p)| ((*n).clone(), (*p).clone())).collect();
        Priors {
            population: self.population.clone(),
            segments_left_out: self.segments.len() - kept.len(),
            segments: kept,
            response_rate: self.response_rate,
        }
    }

    /// The prior for a customer in `segment`, and the segment it came from.
    pub fn for_segment(&self, segment: Option<&str>) -> (&Prior, Option<&str>) {
        match segment.and_then(|s| self.segments.get_key_value(s)) {
            Some((name, prior)) => (prior, Some(name.as_str())),
            None => (&self.population, None),
        }
    }
}

fn fit_one(m: &Moments, shrink_toward: Option<&Prior>) -> Prior {
    if m.customers == 0 {
        return Prior::flat();
    }
    let n = m.customers as f64;
    let raw: [f64; HOURS_PER_WEEK] = std::array::from_fn(|h| m.shares[h] / n);
    // Smoothing the mean too: with few customers, their shared hours are sharper than the truth.
    let smoothed = smooth(&raw);
    let mut mean: Vec<f64> = smoothed
        .iter()
        .enumerate()
        .map(|(h, x)| match shrink_toward {
            Some(p) => (x * n + p.mean[h] * SEGMENT_SHRINKAGE) / (n + SEGMENT_SHRINKAGE),
            None => *x,
        })
        .collect();
    let total: f64 = mean.iter().sum();
    for x in &mut mean {
        *x = (1.0 - UNIFORM_FLOOR) * *x / total + UNIFORM_FLOOR / HOURS_PER_WEEK as f64;
    }
    let strength = match shrink_toward {
        Some(p) => p.strength,
        None => strength_by_moments(m, &raw),
    };
    Prior { mean, strength, customers: m.customers }
}

/// Method of moments for the Dirichlet strength, from the scatter of customers' shares.
fn strength_by_moments(m: &Moments, raw_mean: &[f64; HOURS_PER_WEEK]) -> f64 {
    if m.customers < 2 {
        return DEFAULT_STRENGTH;
    }
    let n = m.customers as f64;
    let concentration: f64 = raw_mean.iter().map(|x| x * x).sum();
    let observed = m.sum_squares / n;
    let a = (m.inverse_mass / n).min(0.999);
    // Every customer's attention in one and the same hour (all orders at noon, say): the scatter
    // says nothing about the strength.
    if 1.0 - concentration < 1e-9 {
        return STRENGTH_RANGE.1;
    }
    let r = (observed - concentration) / (1.0 - concentration);
    // r = a + (1 − a)/(s + 1); r at or below a means customers differ no more than sampling noise.
    if r <= a + 1e-9 {
        return STRENGTH_RANGE.1;
    }
    let strength = ((1.0 - a) / (r - a) - 1.0).clamp(STRENGTH_RANGE.0, STRENGTH_RANGE.1);
    // A number a store can hold whatever the data (NaN would be written as null, unreadable).
    if strength.is_finite() { strength } else { DEFAULT_STRENGTH }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Gamma};

    /// Customers drawn from a known Dirichlet, each observed through `n` multinomial signals.
    fn simulate(strength: f64, n: usize, customers: usize, seed: u64) -> (PriorStats, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // A population that likes evenings, more on weekends.
        let mut mean: Vec<f64> = (0..HOURS_PER_WEEK)
            .map(|h| {
                let hour = (h % 24) as f64;
                let evening = (-((hour - 20.0) / 2.0).powi(2)).exp();
                let weekend = if h / 24 >= 5 { 1.5 } else { 1.0 };
                0.05 + evening * weekend
            })
            .collect();
        let sum: f64 = mean.iter().sum();
        mean.iter_mut().for_each(|x| *x /= sum);
        let mut stats = PriorStats::default();
        for _ in 0..customers {
            let draws: Vec<f64> =
                mean.iter().map(|m| Gamma::new(strength * m, 1.0).unwrap().sample(&mut rng)).collect();
            let total: f64 = draws.iter().sum();
            let mut masses = [0.0; HOURS_PER_WEEK];
            for _ in 0..n {
                let mut u = rng.random::<f64>() * total;
                let mut h = 0;
                while h < HOURS_PER_WEEK - 1 && u > draws[h] {
                    u -= draws[h];
                    h += 1;
                }
                masses[h] += 1.0;
            }
            stats.add(&masses, Some(if customers % 2 == 0 { "A" } else { "B" }), 10, 2);
        }
        (stats, mean)
    }

    #[test]
    fn customers_all_attentive_in_one_hour_fit_finite_priors() {
        let mut stats = PriorStats::default();
        let mut masses = [0.0; HOURS_PER_WEEK];
        masses[12] = 4.0;
        for _ in 0..20 {
            stats.add(&masses, Some("DE"), 0, 0);
        }
        let priors = stats.fit();
        assert!(priors.population.strength.is_finite() && priors.population.mean.iter().all(|x| x.is_finite()));
        let text = serde_json::to_string(&priors).unwrap();
        assert!(serde_json::from_str::<Priors>(&text).is_ok(), "the priors read back: {text}");
    }

    #[test]
    fn the_strength_is_recovered_from_simulated_customers() {
        for (true_strength, seed) in [(5.0, 1), (20.0, 2), (60.0, 3)] {
            let (stats, _) = simulate(true_strength, 30, 4000, seed);
            let fitted = stats.fit().population.strength;
            let ratio = fitted / true_strength;
            assert!((0.75..1.35).contains(&ratio), "true {true_strength}, fitted {fitted:.2}");
        }
    }

    #[test]
    fn the_mean_finds_the_population_peak() {
        let (stats, truth) = simulate(10.0, 20, 3000, 4);
        let priors = stats.fit();
        let peak = |v: &[f64]| (0..HOURS_PER_WEEK).max_by(|a, b| v[*a].total_cmp(&v[*b])).unwrap();
        let (fitted, expected) = (peak(&priors.population.mean), peak(&truth));
        assert_eq!(fitted % 24, expected % 24, "peak hour of day");
        assert!(fitted / 24 >= 5, "peak on the weekend");
        assert!((priors.population.mean.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((priors.response_rate - 0.2).abs() < 1e-9);
    }

    #[test]
    fn merged_partial_stats_fit_the_same_prior() {
        let (a, _) = simulate(10.0, 20, 500, 5);
        let (b, _) = simulate(10.0, 20, 700, 6);
        let mut merged = a.clone();
        merged.merge(&b);
        let mut reversed = b.clone();
        reversed.merge(&a);
        let (x, y) = (merged.fit(), reversed.fit());
        assert!((x.population.strength - y.population.strength).abs() < 1e-9);
        assert_eq!(x.population.customers, 1200);
    }

    #[test]
    fn thousands_of_segments_stay_bounded_and_merge_exactly() {
        let masses = [1.0; HOURS_PER_WEEK];
        let names: Vec<String> = (0..3000).map(|i| format!("seg-{i}")).collect();
        let mut whole = PriorStats::default();
        let (mut a, mut b) = (PriorStats::default(), PriorStats::default());
        for (i, name) in names.iter().enumerate() {
            for k in 0..(1 + i % 3) {
                whole.add(&masses, Some(name), 0, 0);
                if (i + k) % 2 == 0 { a.add(&masses, Some(name), 0, 0) } else { b.add(&masses, Some(name), 0, 0) }
            }
        }
        assert_eq!(whole.segments.len(), MAX_SEGMENTS);
        a.merge(&b);
        assert_eq!(a.segments.keys().collect::<Vec<_>>(), whole.segments.keys().collect::<Vec<_>>());
        assert_eq!(a.left_out, whole.left_out);
        let kept: u64 = whole.segments.values().map(|m| m.customers).sum();
        assert_eq!(kept + whole.left_out, whole.population.customers, "every customer is counted once");
        let published = whole.fit().published();
        assert!(published.segments.len() <= PUBLISHED_SEGMENTS);
    }

    #[test]
    fn no_data_gives_a_flat_weak_prior() {
        let priors = PriorStats::default().fit();
        assert_eq!(priors, Priors::default());
    }
}
