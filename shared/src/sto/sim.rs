//! A seeded simulator of customers with known true send-time response, for evaluating strategies.
//!
//! Each simulated customer lives in a time zone and has a routine (a morning commuter, a lunch
//! break reader, an evening browser, a night owl, a weekend shopper), shifted by up to an hour
//! either way, plus some attention at any time. They check their inbox as a Poisson process
//! following that routine. A message is engaged with if they check within the three hours after
//! it arrives (before it is buried) and then choose to, with a personal probability. So the true
//! chance of engagement for a send at hour h is `q · (1 − exp(−Σ_{k<3} λ(h + k)))` — a
//! different form from the model's, which only assumes that attention after a send matters.
//! A message read the moment it arrives or never (SMS, push: `Reading::OnArrival`) counts the
//! arrival hour's checks alone.
//! Heavy, normal and sparse engagers differ in checks, sessions and `q`; some use a privacy proxy
//! that "opens" every message seconds after delivery.
//!
//! What a strategy sees is what a shop would: deliveries, opens, clicks and site sessions,
//! recorded through the same profile code ingest uses. Outcomes use common random numbers (the
//! same draw for the same customer, week and send hour), so strategies differ only by their
//! choices.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use crate::ids::MessageId;
use crate::profile::engagement::{Engagement, EngagementKind};
use crate::week::{HOURS_PER_WEEK, HourOfWeek};

use super::decide::{Arm, Policy, Reading, decide};
use super::posterior::{History, Posterior};
use super::prior::{PriorStats, Priors};
use super::window::{Candidate, QuietHours, Window, candidates, local_to_utc};

/// Hours after arrival in which an email can still be read.
const READ_WITHIN_HOURS: usize = 3;

/// The hours after arrival a message can be read in.
fn read_hours(reading: Reading) -> usize {
    match reading {
        Reading::WithinHours => READ_WITHIN_HOURS,
        Reading::OnArrival => 1,
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub customers: usize,
    /// Share of customers who first appear in evaluation week 1, with no history.
    pub new_share: f64,
    /// Weeks of history (site sessions and a fixed-time newsletter) before the evaluation.
    pub warmup_weeks: u32,
    pub weeks: u32,
    pub seed: u64,
    pub policy: Policy,
    pub quiet: QuietHours,
    /// How the simulated customers read a message (the truth; the policy says what the model
    /// assumes).
    pub reading: Reading,
    /// A sparse, noisy population: each customer's history holds only 1 to 40 signals, a third
    /// of them open through a privacy proxy, and the clocks change between history and window
    /// (the evaluation starts the week after Europe's spring change; America's falls inside the
    /// history).
    pub sparse: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            customers: 4000,
            new_share: 0.2,
            warmup_weeks: 6,
            weeks: 6,
            seed: 2026,
            policy: Policy { explore_share: 0.1, holdout_share: 0.0, reading: Reading::WithinHours },
            quiet: QuietHours::new(
                chrono::NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
                chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            ),
            reading: Reading::WithinHours,
            sparse: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Routine {
    Morning,
    Lunch,
    Evening,
    NightOwl,
    Weekend,
}

const ZONES: [(Tz, &str, f64); 8] = [
    (chrono_tz::America::New_York, "US", 0.22),
    (chrono_tz::America::Los_Angeles, "US", 0.12),
    (chrono_tz::Europe::Berlin, "DE", 0.18),
    (chrono_tz::Europe::London, "GB", 0.14),
    (chrono_tz::Asia::Tokyo, "JP", 0.1),
    (chrono_tz::Australia::Sydney, "AU", 0.08),
    (chrono_tz::America::Sao_Paulo, "BR", 0.08),
    (chrono_tz::Asia::Kolkata, "IN", 0.08),
];

/// One simulated customer and the truth about them.
#[derive(Clone, Debug)]
pub struct SimCustomer {
    pub id: String,
    pub tz: Tz,
    pub country: &'static str,
    pub is_new: bool,
    /// Inbox checks per hour of the local week.
    checks: [f64; HOURS_PER_WEEK],
    /// Site sessions per hour of the local week.
    sessions: [f64; HOURS_PER_WEEK],
    /// Chance of engaging with a message once seen.
    appeal: f64,
    proxy: bool,
}

fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    let d = (hour - centre).rem_euclid(24.0);
    let d = d.min(24.0 - d);
    (-(d / width).powi(2) / 2.0).exp()
}

impl SimCustomer {
    fn generate(index: usize, rng: &mut ChaCha8Rng, is_new: bool, proxy_share: f64) -> Self {
        let u: f64 = rng.random();
        let (tz, country) = {
            let mut acc = 0.0;
            ZONES
                .iter()
                .find(|(_, _, w)| {
                    acc += w;
                    u < acc
                })
                .map_or((chrono_tz::UTC, "US"), |(tz, c, _)| (*tz, *c))
        };
        let routine = [Routine::Morning, Routine::Lunch, Routine::Evening, Routine::NightOwl, Routine::Weekend]
            [rng.random_range(0..5)];
        let shift: f64 = rng.random_range(-1.0..1.0);
        let (engagement, appeal) = match rng.random_range(0..10) {
            0..=1 => (3.0, rng.random_range(0.35..0.6)), // heavy
            2..=6 => (1.0, rng.random_range(0.2..0.4)),  // normal
            _ => (0.3, rng.random_range(0.1..0.25)),     // sparse
        };
        let mut shape = [0.0; HOURS_PER_WEEK];
        for (h, s) in shape.iter_mut().enumerate() {
            let (day, hour) = (h / 24, (h % 24) as f64);
            let weekend = day >= 5;
            let routine_part = match routine {
                Routine::Morning if weekend => bump(hour, 9.5 + shift, 1.2),
                Routine::Morning => bump(hour, 7.5 + shift, 0.8),
                Routine::Lunch if weekend => 0.3 * bump(hour, 13.0 + shift, 2.0),
                Routine::Lunch => bump(hour, 12.5 + shift, 0.7),
                Routine::Evening => bump(hour, 20.0 + shift, 1.0),
                Routine::NightOwl => bump(hour, 23.5 + shift, 1.2),
                Routine::Weekend if weekend => bump(hour, 13.0 + shift, 2.5),
                Routine::Weekend => 0.25 * bump(hour, 20.0 + shift, 1.5),
            };
            // Nobody is fully predictable: some attention at any waking hour.
            let awake = if (7.0..23.0).contains(&hour) { 0.06 } else { 0.01 };
            *s = routine_part + awake;
        }
        let total: f64 = shape.iter().sum();
        let checks_per_week = 12.0 * engagement;
        let sessions_per_week = 1.5 * engagement;
        SimCustomer {
            id: format!("sim-{index:06}"),
            tz,
            country,
            is_new,
            checks: std::array::from_fn(|h| shape[h] / total * checks_per_week),
            sessions: std::array::from_fn(|h| shape[h] / total * sessions_per_week),
            appeal,
            proxy: rng.random_bool(proxy_share),
        }
    }

    /// The true probability of engagement with a message arriving at local hour `hour`.
    pub fn engagement_probability(&self, hour: HourOfWeek, reading: Reading) -> f64 {
        let hours = read_hours(reading);
        let checks: f64 = (0..hours).map(|k| self.checks[(hour.index() + k) % HOURS_PER_WEEK]).sum();
        self.appeal * (1.0 - (-checks).exp())
    }
}

/// What a shop knows about one customer: their engagement record, as the profile keeps it.
#[derive(Clone, Debug, Default)]
struct Observed {
    engagement: Engagement,
    /// Signals (anything but a delivery) still recorded, when the history is capped.
    budget: Option<u32>,
}

impl Observed {
    fn history(&self) -> History {
        super::job::history_of(&self.engagement)
    }

    fn record(&mut self, at: DateTime<Utc>, kind: EngagementKind, message: Option<&str>) {
        if kind != EngagementKind::Delivered {
            match &mut self.budget {
                Some(0) => return,
                Some(left) => *left -= 1,
                None => {}
            }
        }
        let message = message.and_then(|m| MessageId::new(m).ok());
        self.engagement.record(at.timestamp(), kind, message.as_ref());
    }
}

/// A stream of random numbers for one purpose, one customer, one week.
fn stream(seed: u64, customer: usize, week: i64, purpose: u64) -> ChaCha8Rng {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    for x in [customer as u64, week as u64, purpose] {
        s = (s ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29) ^ (x << 7);
    }
    ChaCha8Rng::seed_from_u64(s)
}

const PURPOSE_SESSIONS: u64 = 1;
const PURPOSE_OUTCOME: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Everyone at the same instant (Tuesday 10:00 UTC), moved out of local quiet hours.
    Fixed,
    /// Everyone at Tuesday 10:00 on their own clock.
    LocalFixed,
    /// The model's decision.
    Kairos,
    /// The true best time in the window.
    Oracle,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [Strategy::Fixed, Strategy::LocalFixed, Strategy::Kairos, Strategy::Oracle];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Fixed => "fixed time (UTC)",
            Strategy::LocalFixed => "local fixed time",
            Strategy::Kairos => "Kairos",
            Strategy::Oracle => "oracle",
        }
    }
}

/// Engagement counts for one strategy, one week, one cohort.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub sends: u32,
    /// Sum of true engagement probabilities (the expectation, free of outcome noise).
    pub expected: f64,
    /// Realised engagements.
    pub engaged: u32,
}

impl Tally {
    pub fn rate(&self) -> f64 {
        if self.sends == 0 { 0.0 } else { self.expected / f64::from(self.sends) }
    }
}

#[derive(Clone, Debug, Default)]
pub struct WeekResult {
    pub week: u32,
    /// Per strategy: (all customers, new customers).
    pub tallies: BTreeMap<Strategy, (Tally, Tally)>,
    /// Kairos decisions per arm this week.
    pub arms: BTreeMap<&'static str, u32>,
}

impl WeekResult {
    pub fn rate(&self, s: Strategy) -> f64 {
        self.tallies.get(&s).map_or(0.0, |t| t.0.rate())
    }

    pub fn new_rate(&self, s: Strategy) -> f64 {
        self.tallies.get(&s).map_or(0.0, |t| t.1.rate())
    }

    /// Kairos's lift over fixed-time sending as a share of the oracle's.
    pub fn share_of_oracle_lift(&self) -> f64 {
        let fixed = self.rate(Strategy::Fixed);
        let oracle = self.rate(Strategy::Oracle) - fixed;
        if oracle <= 0.0 { 0.0 } else { (self.rate(Strategy::Kairos) - fixed) / oracle }
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub config: SimConfig,
    pub weeks: Vec<WeekResult>,
    pub new_customers: usize,
}

/// Runs the evaluation: warm-up history, then each week one message per customer per strategy,
/// with a weekly window (Monday 00:00 to Monday 00:00, customer-local) and quiet hours.
pub fn evaluate(config: &SimConfig) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let customers: Vec<SimCustomer> = (0..config.customers)
        .map(|i| {
            let is_new = rng.random_bool(config.new_share.clamp(0.0, 1.0));
            SimCustomer::generate(i, &mut rng, is_new, if config.sparse { 1.0 / 3.0 } else { 0.2 })
        })
        .collect();
    let mut observed: Vec<Observed> = vec![Observed::default(); customers.len()];
    if config.sparse {
        let mut budgets = stream(config.seed, usize::MAX, 0, 7);
        for o in &mut observed {
            o.budget = Some(budgets.random_range(1..=40));
        }
    }
    // Evaluation week 1 starts Monday 2026-01-05 00:00 UTC (sparse: 2026-03-30, the week after
    // Europe's clocks went forward; America's did three weeks before).
    let (y, m, d) = if config.sparse { (2026, 3, 30) } else { (2026, 1, 5) };
    let epoch = Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default();
    let week_start = |w: i64| epoch + Duration::weeks(w - 1);
    let quiet = [config.quiet];

    // History: sessions, and a weekly newsletter at a fixed time.
    for w in (1 - i64::from(config.warmup_weeks))..=0 {
        for (i, c) in customers.iter().enumerate().filter(|(_, c)| !c.is_new) {
            let start = week_start(w);
            let window = weekly_window(start, c.tz);
            let send = fixed_time(start, &window, c.tz, &quiet);
            deliver(config, i, w, c, &mut observed[i], send, &format!("news-{w}"));
            simulate_sessions(config.seed, i, w, c, &mut observed[i], start);
        }
    }

    // The window records everything (only the history was capped).
    for o in &mut observed {
        o.budget = None;
    }
    let new_customers = customers.iter().filter(|c| c.is_new).count();
    let mut weeks = Vec::new();
    for w in 1..=i64::from(config.weeks) {
        let start = week_start(w);
        // The scheduled refit: priors from what is known at the start of the week.
        let mut stats = PriorStats::default();
        for (c, o) in customers.iter().zip(&observed) {
            let h = o.history();
            stats.add(
                &o.engagement.attention.local(c.tz, start).masses_at(start),
                Some(c.country),
                h.delivered,
                h.engaged,
            );
        }
        let priors: Priors = stats.fit();
        let mut result = WeekResult { week: w as u32, ..WeekResult::default() };
        for (i, c) in customers.iter().enumerate() {
            let window = weekly_window(start, c.tz);
            let options = candidates(&window, c.tz, &quiet);
            let local_default = local_fixed_time(start, c.tz);
            let posterior = Posterior::new(
                &observed[i].engagement.attention.local(c.tz, start),
                observed[i].history(),
                Some(c.country),
                &priors,
                start,
            );
            let key = format!("{}|weekly|{w}", c.id);
            let kairos = decide(&posterior, c.tz, &window, &quiet, local_default, &config.policy, &key).ok();
            if let Some(d) = &kairos {
                let arm = match d.arm {
                    Arm::Exploit => "exploit",
                    Arm::Explore => "explore",
                    Arm::Holdout => "holdout",
                };
                *result.arms.entry(arm).or_default() += 1;
            }
            let choices = [
                (Strategy::Fixed, Some(fixed_time(start, &window, c.tz, &quiet))),
                (Strategy::LocalFixed, Some(local_default)),
                (Strategy::Kairos, kairos.as_ref().map(|d| d.send_at)),
                (Strategy::Oracle, oracle_time(c, &options, config.reading)),
            ];
            for (strategy, at) in choices {
                let Some(at) = at else { continue };
                let hour = HourOfWeek::at(at, c.tz);
                let p = c.engagement_probability(hour, config.reading);
                let engaged = outcome(config.seed, i, w, hour) < p;
                let entry = result.tallies.entry(strategy).or_default();
                for tally in std::iter::once(&mut entry.0).chain(c.is_new.then_some(&mut entry.1)) {
                    tally.sends += 1;
                    tally.expected += p;
                    tally.engaged += u32::from(engaged);
                }
            }
            // Only Kairos's own sends teach it; every customer keeps browsing the site.
            if let Some(d) = &kairos {
                deliver(config, i, w, c, &mut observed[i], d.send_at, &format!("weekly-{w}"));
            }
            simulate_sessions(config.seed, i, w, c, &mut observed[i], start);
        }
        weeks.push(result);
    }
    Report { config: config.clone(), weeks, new_customers }
}

/// Monday 00:00 to the next Monday 00:00 on the customer's clock, for the week `start` (a
/// Monday 00:00 UTC) falls in: Monday noon UTC is a Monday on every inhabited clock.
fn weekly_window(start: DateTime<Utc>, tz: Tz) -> Window {
    let monday = (start + Duration::hours(12)).with_timezone(&tz).date_naive();
    let from = local_to_utc(monday.and_time(chrono::NaiveTime::MIN), tz);
    let to = local_to_utc((monday + Duration::days(7)).and_time(chrono::NaiveTime::MIN), tz);
    Window { start: from, end: to }
}

fn fixed_time(week: DateTime<Utc>, window: &Window, tz: Tz, quiet: &[QuietHours]) -> DateTime<Utc> {
    let target = week + Duration::days(1) + Duration::hours(10);
    let allowed = candidates(window, tz, quiet);
    allowed.iter().find(|c| c.at >= target).or(allowed.last()).map_or(target, |c| c.at)
}

fn local_fixed_time(week: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local_tuesday = (week + Duration::days(1)).date_naive();
    local_to_utc(local_tuesday.and_hms_opt(10, 0, 0).unwrap_or_default(), tz)
}

fn oracle_time(c: &SimCustomer, options: &[Candidate], reading: Reading) -> Option<DateTime<Utc>> {
    options
        .iter()
        .max_by(|a, b| c.engagement_probability(a.hour, reading).total_cmp(&c.engagement_probability(b.hour, reading)))
        .map(|o| o.at)
}

/// The common random number deciding engagement for this customer, week and send hour.
fn outcome(seed: u64, customer: usize, week: i64, hour: HourOfWeek) -> f64 {
    stream(seed, customer, week, PURPOSE_OUTCOME + 16 * hour.index() as u64).random()
}

/// A message arrives at `at`: a delivery, a proxy's machine open, and maybe a real open and click.
fn deliver(
    config: &SimConfig,
    i: usize,
    week: i64,
    c: &SimCustomer,
    o: &mut Observed,
    at: DateTime<Utc>,
    message: &str,
) {
    let (seed, reading) = (config.seed, config.reading);
    o.record(at, EngagementKind::Delivered, Some(message));
    if c.proxy {
        o.record(at + Duration::seconds(4), EngagementKind::Opened, Some(message));
    }
    let hour = HourOfWeek::at(at, c.tz);
    if outcome(seed, i, week, hour) >= c.engagement_probability(hour, reading) {
        return;
    }
    // Read at a check in the next hours, more likely when checks are frequent.
    let mut rng = stream(seed, i, week, 99);
    let hours = read_hours(reading);
    let weights: Vec<f64> = (0..hours).map(|k| c.checks[(hour.index() + k) % HOURS_PER_WEEK]).collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    let mut k = 0;
    while k + 1 < hours && u > weights[k] {
        u -= weights[k];
        k += 1;
    }
    let read = at + Duration::hours(k as i64) + Duration::minutes(rng.random_range(1..60));
    o.record(read, EngagementKind::Opened, Some(message));
    if rng.random_bool(0.4) {
        o.record(read + Duration::minutes(rng.random_range(1..5)), EngagementKind::Clicked, Some(message));
    }
}

fn simulate_sessions(seed: u64, i: usize, week: i64, c: &SimCustomer, o: &mut Observed, week_start: DateTime<Utc>) {
    let mut rng = stream(seed, i, week, PURPOSE_SESSIONS);
    let window = weekly_window(week_start, c.tz);
    for c_hour in candidates(&window, c.tz, &[]) {
        let rate = c.sessions[c_hour.hour.index()];
        let n = Poisson::new(rate).map_or(0.0, |p| p.sample(&mut rng)) as u32;
        for _ in 0..n {
            o.record(c_hour.at + Duration::minutes(rng.random_range(0..60)), EngagementKind::Session, None);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "Send-time evaluation: {} customers ({} new in week 1), {} weeks of history, seed {}, explore {:.0}%, quiet hours {}",
            c.customers,
            self.new_customers,
            c.warmup_weeks,
            c.seed,
            c.policy.explore_share * 100.0,
            c.quiet
        )?;
        let read = |r: Reading| match r {
            Reading::WithinHours => "within 3 hours of arriving (email)",
            Reading::OnArrival => "the moment they arrive or never (SMS, push)",
        };
        writeln!(f, "Messages are read {}; the model assumes {}", read(c.reading), read(c.policy.reading))?;
        if c.sparse {
            writeln!(
                f,
                "Sparse population: 1 to 40 signals of history each, a third behind privacy proxies, clocks changed between history and window"
            )?;
        }
        writeln!(f, "Expected engagement rate per message (mean of true probabilities):")?;
        writeln!(
            f,
            "{:>4}  {:>10}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}",
            "week", "fixed UTC", "local", "Kairos", "oracle", "Kairos lift", "of oracle"
        )?;
        for w in &self.weeks {
            let fixed = w.rate(Strategy::Fixed);
            writeln!(
                f,
                "{:>4}  {:>9.1}%  {:>9.1}%  {:>9.1}%  {:>9.1}%  {:>+11.0}%  {:>9.0}%",
                w.week,
                fixed * 100.0,
                w.rate(Strategy::LocalFixed) * 100.0,
                w.rate(Strategy::Kairos) * 100.0,
                w.rate(Strategy::Oracle) * 100.0,
                (w.rate(Strategy::Kairos) / fixed - 1.0) * 100.0,
                w.share_of_oracle_lift() * 100.0
            )?;
        }
        if let Some(first) = self.weeks.first() {
            writeln!(
                f,
                "New customers, week 1: fixed UTC {:.1}%, local {:.1}%, Kairos {:.1}%, oracle {:.1}%",
                first.new_rate(Strategy::Fixed) * 100.0,
                first.new_rate(Strategy::LocalFixed) * 100.0,
                first.new_rate(Strategy::Kairos) * 100.0,
                first.new_rate(Strategy::Oracle) * 100.0
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_engagement_follows_the_routine() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let c = SimCustomer::generate(0, &mut rng, false, 0.2);
        let best = (0..HOURS_PER_WEEK).max_by(|a, b| {
            c.engagement_probability(HourOfWeek::new(*a).unwrap(), Reading::WithinHours)
                .total_cmp(&c.engagement_probability(HourOfWeek::new(*b).unwrap(), Reading::WithinHours))
        });
        let p_best = c.engagement_probability(HourOfWeek::new(best.unwrap()).unwrap(), Reading::WithinHours);
        let p_night = c.engagement_probability(HourOfWeek::new(4).unwrap(), Reading::WithinHours);
        assert!(p_best > p_night);
        assert!(p_best <= c.appeal);
    }

    /// The targets, on the default evaluation: by week 4 Kairos has at least 80% of the
    /// oracle's lift over fixed-time sending, and in week 1 new customers (no history, prior
    /// only) do better with Kairos than with local-time-only sending.
    #[test]
    fn kairos_reaches_the_targets() {
        let report = evaluate(&SimConfig::default());
        let week4 = &report.weeks[3];
        assert!(
            week4.share_of_oracle_lift() >= 0.8,
            "week 4: {:.0}% of the oracle's lift\n{report}",
            week4.share_of_oracle_lift() * 100.0
        );
        let week1 = &report.weeks[0];
        assert!(week1.new_rate(Strategy::Kairos) > week1.new_rate(Strategy::LocalFixed), "{report}");
        let shares: Vec<f64> = report.weeks.iter().map(WeekResult::share_of_oracle_lift).collect();
        assert!(shares.last() > shares.first(), "Kairos learns over the weeks: {shares:?}");
        assert!(week4.arms.get("explore").copied().unwrap_or(0) > 0, "some decisions explore");
    }

    /// Messages read the moment they arrive (SMS, push): assuming so captures more of the
    /// oracle's lift than assuming they are read within hours, as email is (which leans early).
    #[test]
    fn reading_on_arrival_is_better_served_by_the_on_arrival_model() {
        let truth = SimConfig { customers: 800, weeks: 3, reading: Reading::OnArrival, ..SimConfig::default() };
        let with = |reading| {
            let report = evaluate(&SimConfig { policy: Policy { reading, ..truth.policy }, ..truth.clone() });
            report.weeks.iter().map(WeekResult::share_of_oracle_lift).sum::<f64>() / report.weeks.len() as f64
        };
        let (on_arrival, within_hours) = (with(Reading::OnArrival), with(Reading::WithinHours));
        assert!(on_arrival > within_hours + 0.04, "on arrival {on_arrival:.3}, within hours {within_hours:.3}");
    }

    /// The sparse, noisy population (1 to 40 signals, a third behind proxies, clocks changed
    /// between history and window): Kairos still beats local-time sending for email, and SMS
    /// is better served by the on-arrival reading than by email's. Both shares hold the level
    /// reached once visits weighed as much as clicks and machine opens nothing (on this run,
    /// email 74% and SMS 66% over three weeks; 71% and 62% before).
    #[test]
    fn sparse_noisy_histories_across_a_clock_change() {
        let base = SimConfig { customers: 800, weeks: 3, sparse: true, ..SimConfig::default() };
        let mean_share = |report: &Report| {
            report.weeks.iter().map(WeekResult::share_of_oracle_lift).sum::<f64>() / report.weeks.len() as f64
        };
        let email = evaluate(&base);
        for w in &email.weeks {
            assert!(w.rate(Strategy::Kairos) > w.rate(Strategy::LocalFixed), "{email}");
        }
        assert!(mean_share(&email) >= 0.72, "email: {:.3}\n{email}", mean_share(&email));
        let sms = SimConfig { reading: Reading::OnArrival, ..base };
        let with =
            |reading| mean_share(&evaluate(&SimConfig { policy: Policy { reading, ..sms.policy }, ..sms.clone() }));
        let (on_arrival, within_hours) = (with(Reading::OnArrival), with(Reading::WithinHours));
        assert!(on_arrival > within_hours, "on arrival {on_arrival:.3}, within hours {within_hours:.3}");
        assert!(on_arrival >= 0.64, "SMS on arrival: {on_arrival:.3}");
    }

    #[test]
    fn the_oracle_is_an_upper_bound_and_fixed_time_is_beaten() {
        let report = evaluate(&SimConfig { customers: 300, weeks: 2, warmup_weeks: 2, ..SimConfig::default() });
        for w in &report.weeks {
            for s in [Strategy::Fixed, Strategy::LocalFixed, Strategy::Kairos] {
                assert!(w.rate(s) <= w.rate(Strategy::Oracle) + 1e-12, "{s:?} beat the oracle");
            }
            assert!(w.tallies[&Strategy::Kairos].0.sends as usize == report.config.customers);
        }
    }
}
