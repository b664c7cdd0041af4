//! When a customer pays attention: recency-weighted engagement per hour of the local week.
//!
//! Every signal adds a weight to the hour of the customer's local week it happened in. Clicks,
//! purchases and sessions say more than opens; an open within seconds of its delivery is a
//! mail client or privacy proxy fetching the message, not a person, and says almost nothing.
//! Old behaviour fades with a half-life.
//!
//! The masses are sufficient statistics kept in the profile and updated by ingest, one signal
//! at a time, in any order: each is stored as `weight · 2^((t − reference) / half-life)` against
//! a reference instant that only depends on the newest signal seen, so adding is commutative
//! (up to floating-point rounding) and decaying to "now" is one multiplication when read.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::profile::week::{HOURS_PER_WEEK, HourOfWeek};

/// Attention fades by half every this many days.
pub const HALF_LIFE_DAYS: f64 = 60.0;
/// An open this soon after its delivery is taken for a machine (prefetch, privacy proxy).
pub const MACHINE_OPEN_SECS: i64 = 30;
/// The reference instant moves in blocks of this many days, so stored masses stay bounded.
const REFERENCE_BLOCK_DAYS: i64 = 180;
const DAY: i64 = 86_400;

/// What was observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Open,
    /// An open too soon after delivery to be a person.
    MachineOpen,
    Click,
    Session,
    Purchase,
}

impl Signal {
    /// How much one signal says about when the customer is paying attention.
    pub fn weight(self) -> f64 {
        match self {
            Signal::Open => 1.0,
            Signal::MachineOpen => 0.1,
            Signal::Click => 3.0,
            Signal::Session => 1.5,
            Signal::Purchase => 4.0,
        }
    }
}

/// Recency-weighted attention per hour of the local week.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// Unix seconds the stored masses are relative to; 0 while empty.
    #[serde(rename = "ref", default)]
    reference: i64,
    /// Non-zero (hour, mass) pairs, in hour order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mass: Vec<(HourOfWeek, f64)>,
    /// Signals recorded, for explanations.
    #[serde(rename = "n", default)]
    pub signals: u32,
    /// The newest signal, unix seconds.
    #[serde(rename = "last", default)]
    pub last_signal_at: i64,
}

fn decay_factor(from: i64, to: i64) -> f64 {
    // 2^((from − to) / half-life): a mass at `from` seen from `to`.
    ((from - to) as f64 / (HALF_LIFE_DAYS * DAY as f64)).exp2()
}

fn block_start(at: i64) -> i64 {
    at.div_euclid(REFERENCE_BLOCK_DAYS * DAY) * REFERENCE_BLOCK_DAYS * DAY
}

impl Attention {
    /// Records a signal at unix second `at`, bucketed in `tz`.
    pub fn add(&mut self, at: i64, tz: Tz, signal: Signal) {
        let hour = HourOfWeek::at(Utc.timestamp_opt(at, 0).single().unwrap_or_default(), tz);
        self.add_at_hour(at, hour, signal.weight());
    }

    /// Records `weight` at unix second `at` in local hour `hour`.
    pub fn add_at_hour(&mut self, at: i64, hour: HourOfWeek, weight: f64) {
        let block = block_start(at);
        if self.mass.is_empty() && self.signals == 0 {
            self.reference = block;
        } else if block > self.reference {
            let scale = decay_factor(self.reference, block);
            self.mass.iter_mut().for_each(|(_, m)| *m *= scale);
            self.reference = block;
        }
        let contribution = weight * decay_factor(at, self.reference);
        match self.mass.binary_search_by_key(&hour, |(h, _)| *h) {
            Ok(i) => self.mass[i].1 += contribution,
            Err(i) => self.mass.insert(i, (hour, contribution)),
        }
        self.signals = self.signals.saturating_add(1);
        self.last_signal_at = self.last_signal_at.max(at);
    }

    /// Masses per hour as seen at `now` (decayed).
    pub fn masses_at(&self, now: DateTime<Utc>) -> [f64; HOURS_PER_WEEK] {
        let scale = decay_factor(self.reference, now.timestamp());
        let mut out = [0.0; HOURS_PER_WEEK];
        for (h, m) in &self.mass {
            out[h.index()] = m * scale;
        }
        out
    }

    /// Total mass at `now`: the effective number of (weighted) signals.
    pub fn total_at(&self, now: DateTime<Utc>) -> f64 {
        let scale = decay_factor(self.reference, now.timestamp());
        self.mass.iter().map(|(_, m)| m * scale).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.signals == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_621_600; // Monday 2026-01-05 14:00 UTC

    fn at(days: f64) -> i64 {
        T0 + (days * DAY as f64) as i64
    }

    fn now(days: f64) -> DateTime<Utc> {
        Utc.timestamp_opt(at(days), 0).unwrap()
    }

    #[test]
    fn a_signal_halves_every_half_life() {
        let mut a = Attention::default();
        a.add(at(0.0), chrono_tz::UTC, Signal::Open);
        assert!((a.total_at(now(0.0)) - 1.0).abs() < 1e-9);
        assert!((a.total_at(now(HALF_LIFE_DAYS)) - 0.5).abs() < 1e-9);
        assert!((a.total_at(now(2.0 * HALF_LIFE_DAYS)) - 0.25).abs() < 1e-9);
        assert!((a.masses_at(now(0.0))[14] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn kinds_weigh_differently() {
        let mut a = Attention::default();
        a.add(at(0.0), chrono_tz::UTC, Signal::Click);
        a.add(at(0.0), chrono_tz::UTC, Signal::MachineOpen);
        assert!((a.total_at(now(0.0)) - 3.1).abs() < 1e-9);
    }

    #[test]
    fn order_does_not_matter_even_across_reference_blocks() {
        let signals =
            [(0.0, Signal::Open), (400.0, Signal::Click), (-300.0, Signal::Session), (181.0, Signal::Purchase)];
        let mut forward = Attention::default();
        let mut backward = Attention::default();
        for (d, s) in signals {
            forward.add(at(d), chrono_tz::Europe::Berlin, s);
        }
        for (d, s) in signals.iter().rev() {
            backward.add(at(*d), chrono_tz::Europe::Berlin, *s);
        }
        let (f, b) = (forward.masses_at(now(500.0)), backward.masses_at(now(500.0)));
        for h in 0..HOURS_PER_WEEK {
            assert!((f[h] - b[h]).abs() <= 1e-12 * f[h].abs().max(1.0), "hour {h}: {} vs {}", f[h], b[h]);
        }
        assert_eq!(forward.reference, backward.reference);
        assert_eq!(forward.signals, 4);
    }

    #[test]
    fn hours_are_local() {
        let mut a = Attention::default();
        a.add(T0, chrono_tz::America::New_York, Signal::Open);
        assert!((a.masses_at(now(0.0))[9] - 1.0).abs() < 1e-9, "14:00 UTC is 09:00 in New York in January");
    }
}
