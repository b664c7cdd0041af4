//! The send-time decision: an instant inside the window, outside quiet hours, with the engagement
//! it is expected to bring and one line saying why.
//!
//! Most decisions exploit the posterior (the best hour by expected attention). A configurable
//! share explores: it picks the best hour of a draw from the posterior (Thompson sampling), so
//! hours the model is unsure about still get tried and the model keeps learning. A configurable
//! holdout gets the campaign's default time, so lift can always be measured against it.
//!
//! Decisions are deterministic in their key (customer, campaign, occurrence): a redelivered
//! trigger decides the same instant, arm included.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::week::HourOfWeek;

use super::posterior::{ON_ARRIVAL_LAG, Posterior, PriorSource, RESPONSE_LAG};
use super::window::{Candidate, QuietHours, Window, candidates};
use crate::contact::Channel;

/// How soon a message is read after it arrives: it decides whose attention a send at an hour
/// earns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// Within a few hours (email): the next hours' attention counts, the first most.
    #[default]
    WithinHours,
    /// The moment it arrives or never (SMS, push): the arrival hour's attention counts.
    OnArrival,
}

impl Reading {
    pub fn of(channel: Channel) -> Reading {
        match channel {
            Channel::Email => Reading::WithinHours,
            Channel::Sms | Channel::Push => Reading::OnArrival,
        }
    }

    /// The weights of the hours after arrival.
    pub fn lag(self) -> &'static [f64] {
        match self {
            Reading::WithinHours => &RESPONSE_LAG,
            Reading::OnArrival => &ON_ARRIVAL_LAG,
        }
    }
}

/// Shares of decisions that explore and that are held out, and how the message is read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub explore_share: f64,
    pub holdout_share: f64,
    #[serde(default)]
    pub reading: Reading,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { explore_share: 0.1, holdout_share: 0.05, reading: Reading::WithinHours }
    }
}

impl Policy {
    /// This policy for messages on `channel`.
    pub fn for_channel(self, channel: Channel) -> Policy {
        Policy { reading: Reading::of(channel), ..self }
    }

    pub fn new(explore_share: f64, holdout_share: f64) -> Result<Self, String> {
        let ok = |x: f64| (0.0..=1.0).contains(&x);
        if !ok(explore_share) || !ok(holdout_share) || explore_share + holdout_share > 1.0 {
            return Err(format!(
                "explore share {explore_share} and holdout share {holdout_share} must each be between 0 and 1 and sum to at most 1"
            ));
        }
        Ok(Policy { explore_share, holdout_share, reading: Reading::WithinHours })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Exploit,
    Explore,
    Holdout,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub send_at: DateTime<Utc>,
    /// The local hour of the week it falls in.
    pub hour: HourOfWeek,
    /// Probability the customer engages, by the posterior mean.
    pub expected_engagement: f64,
    pub arm: Arm,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSendTime {
    #[error("every moment of the window {start} – {end} is in quiet hours")]
    AllQuiet { start: DateTime<Utc>, end: DateTime<Utc> },
}

/// A stable 64-bit seed from a decision key (FNV-1a), the same on every platform and run.
fn seed(key: &str) -> u64 {
    crate::hash::fnv1a64(key.as_bytes())
}

/// Decides when to send. `default_at` is the campaign's default time (the holdout's).
pub fn decide(
    posterior: &Posterior,
    tz: Tz,
    window: &Window,
    quiet: &[QuietHours],
    default_at: DateTime<Utc>,
    policy: &Policy,
    key: &str,
) -> Result<Decision, NoSendTime> {
    let options = candidates(window, tz, quiet);
    if options.is_empty() {
        return Err(NoSendTime::AllQuiet { start: window.start, end: window.end });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed(key));
    let draw: f64 = rng.random();
    let mean = posterior.mean();
    let lag = policy.reading.lag();
    let score = |shares: &[f64; 168], c: &Candidate| Posterior::relative_attention(shares, c.hour, lag);
    let best_by = |shares: &[f64; 168]| {
        // Earliest wins ties: sooner is better when nothing else differs.
        options.iter().fold(None::<(&Candidate, f64)>, |best, c| {
            let s = score(shares, c);
            match best {
                Some((_, b)) if b >= s => best,
                _ => Some((c, s)),
            }
        })
    };

    let (arm, chosen) = if draw < policy.holdout_share {
        let default = options.iter().find(|c| c.at >= default_at).or(options.last());
        (Arm::Holdout, default.copied())
    } else if draw < policy.holdout_share + policy.explore_share {
        let sampled = posterior.sample(&mut rng);
        (Arm::Explore, best_by(&sampled).map(|(c, _)| *c))
    } else {
        (Arm::Exploit, best_by(&mean).map(|(c, _)| *c))
    };
    let chosen = chosen.unwrap_or(options[0]);
    let relative = score(&mean, &chosen);
    let expected = posterior.engagement_probability(relative);
    let reason = explain(posterior, tz, &chosen, arm, relative, chosen.at == default_at);
    Ok(Decision { send_at: chosen.at, hour: chosen.hour, expected_engagement: expected, arm, reason })
}

struct When<'a>(&'a Candidate, Tz);

impl fmt::Display for When<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.local.format("%a %H:%M"), self.1.name())
    }
}

fn explain(p: &Posterior, tz: Tz, c: &Candidate, arm: Arm, relative: f64, at_default: bool) -> String {
    let when = When(c, tz);
    let whose = match &p.prior {
        PriorSource::Population => "the population".to_string(),
        PriorSource::Segment(s) => format!("similar customers (segment {s})"),
    };
    match arm {
        Arm::Holdout if at_default => {
            format!("{when}: holdout, sent at the campaign's default time so lift can be measured")
        }
        Arm::Holdout => format!("{when}: holdout, the campaign's default time moved out of quiet hours"),
        Arm::Explore => format!(
            "{when}: exploring a time the model is unsure of ({relative:.1}× average attention by its current estimate)"
        ),
        Arm::Exploit if p.signals == 0 => format!(
            "{when}: no history yet, so the best time in the window for {whose} ({relative:.1}× average attention)"
        ),
        Arm::Exploit if p.own_weight() < 0.3 => format!(
            "{when}: little history yet ({}), so mostly the best time for {whose} ({relative:.1}× average attention)",
            signals(p.signals)
        ),
        Arm::Exploit => format!(
            "{when}: this customer's best time in the window, {relative:.1}× their average attention (from {})",
            signals(p.signals)
        ),
    }
}

fn signals(n: u32) -> String {
    if n == 1 { "1 signal".into() } else { format!("{n} signals") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::{Attention, Signal};
    use crate::sto::posterior::History;
    use crate::sto::prior::{Prior, Priors};
    use crate::week::HOURS_PER_WEEK;
    use chrono::{Duration, TimeZone, Timelike};
    use proptest::prelude::*;

    fn priors_peaking_at(hour_of_day: usize) -> Priors {
        let mut mean = vec![0.2; HOURS_PER_WEEK];
        for d in 0..7 {
            mean[d * 24 + hour_of_day] = 3.0;
        }
        let total: f64 = mean.iter().sum();
        mean.iter_mut().for_each(|m| *m /= total);
        Priors { population: Prior { mean, strength: 8.0, customers: 500 }, ..Priors::default() }
    }

    fn window() -> Window {
        Window::hours_from(Utc.with_ymd_and_hms(2026, 3, 3, 6, 0, 0).unwrap(), 24).unwrap()
    }

    fn exploit_only() -> Policy {
        Policy::new(0.0, 0.0).unwrap()
    }

    #[test]
    fn a_new_customer_gets_the_population_best_hour_and_a_reason() {
        let priors = priors_peaking_at(20);
        let p = Posterior::new(&Attention::default(), History::default(), None, &priors, window().start);
        let tz = chrono_tz::Europe::Berlin;
        let d = decide(&p, tz, &window(), &[], window().start, &exploit_only(), "c1|welcome|1").unwrap();
        assert_eq!(d.send_at.with_timezone(&tz).hour(), 20);
        assert_eq!(d.arm, Arm::Exploit);
        assert!(d.reason.contains("no history yet"), "{}", d.reason);
        assert!(d.reason.starts_with("Tue 20:00 Europe/Berlin"), "{}", d.reason);
        assert!(d.expected_engagement > priors.response_rate);
    }

    #[test]
    fn a_customer_with_a_routine_gets_their_own_hour() {
        let priors = priors_peaking_at(20);
        let mut attention = Attention::default();
        let start = window().start;
        for day in 1..40 {
            // Clicks at 07:10 New York time.
            let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 10, 0).unwrap() + Duration::days(day);
            attention.add(at.timestamp(), chrono_tz::America::New_York, Signal::Click);
        }
        let p = Posterior::new(&attention, History { delivered: 20, engaged: 8 }, None, &priors, start);
        let tz = chrono_tz::America::New_York;
        let d = decide(&p, tz, &window(), &[], start, &exploit_only(), "c2|weekly|9").unwrap();
        // At their habit or an hour before it: a message is read over the hours after it lands.
        assert!((6..=7).contains(&d.send_at.with_timezone(&tz).hour()), "{}", d.reason);
        assert!(d.reason.contains("this customer's best time"), "{}", d.reason);
    }

    #[test]
    fn decisions_repeat_for_the_same_key_and_arms_follow_the_policy() {
        let priors = priors_peaking_at(20);
        let p = Posterior::new(&Attention::default(), History::default(), None, &priors, window().start);
        let policy = Policy::new(0.2, 0.1).unwrap();
        let tz = chrono_tz::Europe::Paris;
        let mut counts = [0_u32; 3];
        for i in 0..3000 {
            let key = format!("c{i}|campaign|1");
            let a = decide(&p, tz, &window(), &[], window().start, &policy, &key).unwrap();
            let b = decide(&p, tz, &window(), &[], window().start, &policy, &key).unwrap();
            assert_eq!(a, b, "same key, same decision");
            counts[a.arm as usize] += 1;
            if a.arm == Arm::Holdout {
                assert_eq!(a.send_at, window().start);
            }
        }
        let share = |n: u32| f64::from(n) / 3000.0;
        assert!((share(counts[Arm::Explore as usize]) - 0.2).abs() < 0.03, "{counts:?}");
        assert!((share(counts[Arm::Holdout as usize]) - 0.1).abs() < 0.025, "{counts:?}");
    }

    #[test]
    fn a_window_that_is_all_quiet_has_no_send_time() {
        let p = Posterior::new(&Attention::default(), History::default(), None, &Priors::default(), window().start);
        let night = Window::new(
            Utc.with_ymd_and_hms(2026, 3, 3, 21, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap(),
        )
        .unwrap();
        let result =
            decide(&p, chrono_tz::UTC, &night, &["21:00-08:00".parse().unwrap()], night.start, &Policy::default(), "k");
        assert!(matches!(result, Err(NoSendTime::AllQuiet { .. })));
    }

    fn zones() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Chatham,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::UTC,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the zone, window, quiet hours, data and arm: the send is inside the window and
        /// outside quiet hours.
        #[test]
        fn never_in_quiet_hours_never_outside_the_window(
            tz in zones(),
            start in 1_767_225_600_i64..1_798_761_600, // 2026
            hours in 1_u32..200,
            quiet_start in 0_u32..24, quiet_len in 1_u32..20,
            peak in 0_usize..24,
            signals in prop::collection::vec((0_i64..60 * 86_400, 0_u8..3), 0..40),
            key in "[a-z0-9]{1,12}",
            explore in 0.0_f64..0.5, holdout in 0.0_f64..0.5,
        ) {
            let window = Window::hours_from(Utc.timestamp_opt(start, 0).unwrap(), hours).unwrap();
            let q = QuietHours::new(
                chrono::NaiveTime::from_hms_opt(quiet_start, 0, 0).unwrap(),
                chrono::NaiveTime::from_hms_opt((quiet_start + quiet_len) % 24, 0, 0).unwrap(),
            );
            let mut attention = Attention::default();
            for (ago, kind) in signals {
                let signal = [Signal::Open, Signal::Click, Signal::Session][kind as usize];
                attention.add(start - ago, tz, signal);
            }
            let p = Posterior::new(&attention, History::default(), None, &priors_peaking_at(peak), window.start);
            let policy = Policy::new(explore, holdout).unwrap();
            match decide(&p, tz, &window, &[q], window.start + chrono::Duration::hours(1), &policy, &key) {
                Ok(d) => {
                    prop_assert!(window.contains(d.send_at), "{} outside {:?}", d.send_at, window);
                    let local = d.send_at.with_timezone(&tz).time();
                    prop_assert!(!q.contains(local), "{} local is in quiet hours {}", local, q);
                    prop_assert!((0.0..=1.0).contains(&d.expected_engagement));
                }
                Err(NoSendTime::AllQuiet { .. }) => {
                    // Then truly every hour top and the start are quiet.
                    prop_assert!(candidates(&window, tz, &[]).iter().all(|c| q.contains(c.local.time())));
                }
            }
        }
    }
}
