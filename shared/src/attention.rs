//! When a customer pays attention: recency-weighted engagement per hour of the week.
//!
//! Every signal adds a weight to the hour of the week it happened in. Clicks and purchases say
//! more than opens. Visits to the shop weigh as much as clicks: the customer chose their hour,
//! while an open or a click happens in the hours after a send the shop timed, so a history of
//! newsletters at one fixed time piles its opens there whatever the customer's routine. An open
//! within seconds of its delivery is a mail client or privacy proxy fetching the message, not a
//! person: its hour is the sender's, and it counts for nothing. Old behaviour fades with a
//! half-life.
//!
//! Two forms:
//! - [`Attention`]: masses per hour of the customer's *local* week, what send-time optimization
//!   reads;
//! - [`StoredAttention`]: what the profile keeps and ingest updates. It is keyed by hour of the
//!   *UTC* week, in two seasons of the year, so it does not depend on the customer's time zone
//!   at all: a zone learnt (or corrected) after the signals moves every one of them to the right
//!   local hour when read ([`StoredAttention::local`]), and the state is the same whatever order
//!   the signals arrive in. Keeping the northern summer (22 March – 31 October, UTC) apart from
//!   the rest lets each season be read with the offset the zone has in it, so daylight saving
//!   time lands in the right hour too; signals from the few weeks in which a zone's DST period
//!   differs from the season (the United States in early March, southern-hemisphere zones in
//!   autumn and spring) read one hour off.
//!
//! Both keep their masses as sufficient statistics, one signal at a time, in any order: each is
//! stored as `weight · 2^((t − reference) / half-life)` against a reference instant that only
//! depends on the newest signal seen, so adding is commutative (up to floating-point rounding)
//! and decaying to "now" is one multiplication when read.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::compact::{PackError, log_dequantize, log_quantize, push_fixed, take_fixed};
use crate::week::{HOURS_PER_WEEK, HourOfWeek};

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
            Signal::MachineOpen => 0.0,
            Signal::Click => 3.0,
            Signal::Session => 3.0,
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
        if signal.weight() <= 0.0 {
            return;
        }
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

    /// Attention from masses per local hour, stored against `reference`.
    fn from_masses(reference: i64, masses: &[f64; HOURS_PER_WEEK], signals: u32, last_signal_at: i64) -> Self {
        let mass = masses
            .iter()
            .enumerate()
            .filter(|(_, m)| **m > 0.0)
            .filter_map(|(h, m)| HourOfWeek::new(h).map(|hour| (hour, *m)))
            .collect();
        Attention { reference, mass, signals, last_signal_at }
    }
}

/// The two halves of the year [`StoredAttention`] keeps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Season {
    /// 22 March to 31 October (UTC dates): daylight saving time in the northern zones that have it.
    NorthernSummer,
    /// The rest of the year.
    NorthernWinter,
}

impl Season {
    pub fn of(at: i64) -> Season {
        use chrono::Datelike;
        let date = Utc.timestamp_opt(at, 0).single().unwrap_or_default().date_naive();
        let md = (date.month(), date.day());
        if ((3, 22)..=(10, 31)).contains(&md) { Season::NorthernSummer } else { Season::NorthernWinter }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// A day in the middle of the season, in `year`, whose offset the season is read with.
    fn midpoint(self, year: i32) -> DateTime<Utc> {
        let (month, day) = match self {
            Season::NorthernSummer => (7, 1),
            Season::NorthernWinter => (1, 15),
        };
        Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).single().unwrap_or_default()
    }
}

/// One hour of the UTC week's attention: its mass, and how much of it came in the hour's second
/// half (so zones half an hour off UTC, India's among them, still read exact local hours).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct HourMass {
    total: f64,
    late: f64,
}

impl HourMass {
    fn add(&mut self, contribution: f64, late: bool) {
        self.total = (self.total + contribution).max(0.0);
        if late {
            self.late = (self.late + contribution).max(0.0);
        }
        self.late = self.late.min(self.total);
    }

    fn scale(&mut self, by: f64) {
        self.total *= by;
        self.late *= by;
    }

    /// The part of the mass in the hour's first `minutes` (0 to 60), taking it as even within
    /// each half.
    fn within_first(&self, minutes: f64) -> f64 {
        let early = self.total - self.late;
        if minutes <= 30.0 { early * minutes / 30.0 } else { early + self.late * (minutes - 30.0) / 30.0 }
    }
}

/// Attention as the profile stores it: by hour of the UTC week, per [`Season`]. See the module
/// documentation for why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredAttention {
    reference: i64,
    /// Per season: non-zero hours of the UTC week and their mass, in hour order.
    masses: [Vec<(u8, HourMass)>; 2],
    pub signals: u32,
    pub last_signal_at: i64,
}

impl StoredAttention {
    /// Records `weight` (a [`Signal::weight`], or a correction of one) at unix second `at`.
    pub fn add(&mut self, at: i64, weight: f64) {
        let block = block_start(at);
        if self.is_empty() {
            self.reference = block;
        } else if block > self.reference {
            let scale = decay_factor(self.reference, block);
            self.masses.iter_mut().flatten().for_each(|(_, m)| m.scale(scale));
            self.reference = block;
        }
        let contribution = weight * decay_factor(at, self.reference);
        let utc = Utc.timestamp_opt(at, 0).single().unwrap_or_default();
        let hour = HourOfWeek::at(utc, chrono_tz::UTC).index() as u8;
        let late = at.rem_euclid(3600) >= 1800;
        let season = &mut self.masses[Season::of(at).index()];
        match season.binary_search_by_key(&hour, |(h, _)| *h) {
            Ok(i) => season[i].1.add(contribution, late),
            Err(i) if contribution > 0.0 => {
                let mut m = HourMass::default();
                m.add(contribution, late);
                season.insert(i, (hour, m));
            }
            Err(_) => {}
        }
    }

    /// Records one signal. One that weighs nothing (a machine's open) is not counted either, so
    /// explanations do not cite it as the customer's own.
    pub fn record(&mut self, at: i64, signal: Signal) {
        if signal.weight() <= 0.0 {
            return;
        }
        self.add(at, signal.weight());
        self.signals = self.signals.saturating_add(1);
        self.last_signal_at = self.last_signal_at.max(at);
    }

    /// Takes back a signal recorded at `at` whose weight turned out to be `wrong` rather than
    /// that of `right` (an open that was a machine's after all).
    pub fn correct(&mut self, at: i64, wrong: Signal, right: Signal) {
        self.add(at, right.weight() - wrong.weight());
        if right.weight() <= 0.0 && wrong.weight() > 0.0 {
            self.signals = self.signals.saturating_sub(1);
        }
    }

    /// Nothing recorded: no signal counted and no mass held (a profile leaves it out when
    /// saved, so anything still held must count).
    pub fn is_empty(&self) -> bool {
        self.signals == 0 && self.masses.iter().all(Vec::is_empty)
    }

    /// The attention per hour of the local week in `tz`, with each season read at the offset the
    /// zone has in the middle of it in `now`'s year. For an offset that is not a whole number of
    /// hours, a UTC hour's mass goes to the two local hours it overlaps as it fell in its halves:
    /// exact for half-hour offsets (India), even within each half for others (Nepal).
    pub fn local(&self, tz: Tz, now: DateTime<Utc>) -> Attention {
        use chrono::{Datelike, Offset};
        let mut out = [0.0; HOURS_PER_WEEK];
        let week_minutes = (HOURS_PER_WEEK * 60) as i64;
        for season in [Season::NorthernSummer, Season::NorthernWinter] {
            let mid = season.midpoint(now.year());
            let offset = i64::from(mid.with_timezone(&tz).offset().fix().local_minus_utc()) / 60;
            for &(hour, mass) in &self.masses[season.index()] {
                let start = (i64::from(hour) * 60 + offset).rem_euclid(week_minutes);
                let (first, into) = ((start / 60) as usize, start % 60);
                // The UTC hour's first (60 − into) minutes fall in local hour `first`.
                let in_first = if into == 0 { mass.total } else { mass.within_first((60 - into) as f64) };
                out[first] += in_first;
                if into > 0 {
                    out[(first + 1) % HOURS_PER_WEEK] += mass.total - in_first;
                }
            }
        }
        Attention::from_masses(self.reference, &out, self.signals, self.last_signal_at)
    }
}

/// Digits of the packed form: reference block, signals, last signal, entries of the first season.
const PACK_HEADER: [usize; 4] = [4, 5, 6, 2];
/// Steps of the share of an hour's mass in its second half (one digit).
const SHARE_STEPS: f64 = 63.0;

impl From<StoredAttention> for String {
    fn from(a: StoredAttention) -> String {
        a.packed()
    }
}

impl StoredAttention {
    /// `<reference block><signals><last signal><entries in season 1>` then the entries of both
    /// seasons, each `<UTC hour: 2 digits><log-quantized mass: 3 digits><second-half share: 1>`.
    fn packed(&self) -> String {
        let a = self;
        let entries = |s: &[(u8, HourMass)]| s.iter().filter(|(_, m)| log_quantize(m.total) > 0).count();
        let mut out = String::with_capacity(17 + 6 * (a.masses[0].len() + a.masses[1].len()));
        let block = a.reference.max(0) / (REFERENCE_BLOCK_DAYS * DAY);
        push_fixed(&mut out, block as u64, PACK_HEADER[0]);
        push_fixed(&mut out, u64::from(a.signals), PACK_HEADER[1]);
        push_fixed(&mut out, a.last_signal_at.max(0) as u64, PACK_HEADER[2]);
        push_fixed(&mut out, entries(&a.masses[0]) as u64, PACK_HEADER[3]);
        for season in &a.masses {
            for &(hour, mass) in season {
                let q = log_quantize(mass.total);
                if q > 0 {
                    push_fixed(&mut out, u64::from(hour), 2);
                    push_fixed(&mut out, q, 3);
                    push_fixed(
                        &mut out,
                        (mass.late / mass.total * SHARE_STEPS).round().clamp(0.0, SHARE_STEPS) as u64,
                        1,
                    );
                }
            }
        }
        out
    }
}

impl TryFrom<String> for StoredAttention {
    type Error = PackError;
    fn try_from(text: String) -> Result<Self, PackError> {
        let mut rest = text.as_bytes();
        let block = take_fixed(&mut rest, PACK_HEADER[0], "attention")? as i64;
        let signals = take_fixed(&mut rest, PACK_HEADER[1], "attention")? as u32;
        let last_signal_at = take_fixed(&mut rest, PACK_HEADER[2], "attention")? as i64;
        let first = take_fixed(&mut rest, PACK_HEADER[3], "attention")? as usize;
        let mut masses: [Vec<(u8, HourMass)>; 2] = Default::default();
        let mut n = 0;
        while !rest.is_empty() {
            let hour = take_fixed(&mut rest, 2, "attention")?;
            let q = take_fixed(&mut rest, 3, "attention")?;
            let share = take_fixed(&mut rest, 1, "attention")? as f64 / SHARE_STEPS;
            if hour >= HOURS_PER_WEEK as u64 {
                return Err(PackError {
                    what: "attention",
                    problem: format!("hour {hour} is not an hour of the week"),
                });
            }
            let season = &mut masses[usize::from(n >= first)];
            if season.last().is_some_and(|(h, _)| u64::from(*h) >= hour) {
                return Err(PackError { what: "attention", problem: "hours are not in order".into() });
            }
            let total = log_dequantize(q);
            season.push((hour as u8, HourMass { total, late: total * share.min(1.0) }));
            n += 1;
        }
        Ok(StoredAttention { reference: block * REFERENCE_BLOCK_DAYS * DAY, masses, signals, last_signal_at })
    }
}

crate::compact::serde_as_packed_text!(StoredAttention);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        a.add(at(0.0), chrono_tz::UTC, Signal::Session);
        a.add(at(0.0), chrono_tz::UTC, Signal::Open);
        a.add(at(0.0), chrono_tz::UTC, Signal::MachineOpen);
        assert!((a.total_at(now(0.0)) - 7.0).abs() < 1e-9, "a click and a visit 3 each, an open 1, a machine 0");
        assert_eq!(a.signals, 3, "the machine's open is not counted");
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

    #[test]
    fn stored_attention_reads_in_the_zone_known_when_read() {
        let mut s = StoredAttention::default();
        s.record(T0, Signal::Open); // Monday 14:00 UTC, in January
        let ny = s.local(chrono_tz::America::New_York, now(0.0));
        assert!((ny.masses_at(now(0.0))[9] - 1.0).abs() < 1e-9, "09:00 in New York");
        let berlin = s.local(chrono_tz::Europe::Berlin, now(0.0));
        assert!((berlin.masses_at(now(0.0))[15] - 1.0).abs() < 1e-9, "15:00 in Berlin");
        // 14:00 UTC is 19:30 in Kolkata, 14:40 is 20:10: each in its own local hour.
        let kolkata = s.local(chrono_tz::Asia::Kolkata, now(0.0)).masses_at(now(0.0));
        assert!(
            (kolkata[19] - 1.0).abs() < 1e-9 && kolkata[20] == 0.0,
            "19:30 in Kolkata: {} {}",
            kolkata[19],
            kolkata[20]
        );
        let mut later = StoredAttention::default();
        later.record(T0 + 40 * 60, Signal::Open);
        let kolkata = later.local(chrono_tz::Asia::Kolkata, now(0.0)).masses_at(now(0.0));
        assert!(
            (kolkata[20] - 1.0).abs() < 1e-3 && kolkata[19] < 1e-3,
            "20:10 in Kolkata: {} {}",
            kolkata[19],
            kolkata[20]
        );
    }

    #[test]
    fn daylight_saving_time_lands_in_the_local_hour_in_both_seasons() {
        // 13:00 UTC on a Monday in July is 09:00 in New York (EDT), in January 08:00 (EST).
        let july = Utc.with_ymd_and_hms(2026, 7, 6, 13, 0, 0).unwrap().timestamp();
        let january = Utc.with_ymd_and_hms(2026, 1, 5, 14, 0, 0).unwrap().timestamp();
        let mut s = StoredAttention::default();
        s.record(july, Signal::Click);
        s.record(january, Signal::Click);
        let read_at = Utc.with_ymd_and_hms(2026, 7, 7, 0, 0, 0).unwrap();
        let m = s.local(chrono_tz::America::New_York, read_at).masses_at(read_at);
        let nonzero: Vec<usize> = (0..HOURS_PER_WEEK).filter(|h| m[*h] > 0.0).collect();
        assert_eq!(nonzero, vec![9], "both are Monday 09:00 local");
    }

    #[test]
    fn corrupt_packed_attention_is_an_error() {
        assert!(StoredAttention::try_from("AB".to_string()).is_err());
        let mut s = StoredAttention::default();
        s.record(T0, Signal::Session);
        let mut text = String::from(s);
        text.push_str("CqAAAA"); // hour 170
        assert!(StoredAttention::try_from(text).unwrap_err().problem.contains("hour"));
    }

    proptest! {
        /// The packed form reads back within quantization, and packing again is exact, so a
        /// profile written and read many times does not drift.
        #[test]
        fn stored_attention_round_trips(signals in prop::collection::vec((0_i64..(3 * 365 * DAY), 0_usize..5), 0..60)) {
            let kinds = [Signal::Open, Signal::MachineOpen, Signal::Click, Signal::Session, Signal::Purchase];
            let mut s = StoredAttention::default();
            for (offset, kind) in &signals {
                s.record(T0 + offset, kinds[*kind]);
            }
            let text = String::from(s.clone());
            let back = StoredAttention::try_from(text.clone()).unwrap();
            prop_assert_eq!(String::from(back.clone()), text);
            let later = now(3.0 * 365.0);
            let (a, b) = (s.local(chrono_tz::UTC, later).masses_at(later), back.local(chrono_tz::UTC, later).masses_at(later));
            for h in 0..HOURS_PER_WEEK {
                prop_assert!((a[h] - b[h]).abs() <= 2e-4 * a[h].max(1e-12), "hour {}: {} vs {}", h, a[h], b[h]);
            }
            let counted = signals.iter().filter(|(_, k)| kinds[*k] != Signal::MachineOpen).count();
            prop_assert_eq!(back.signals as usize, counted);
        }

        /// Arrival order does not matter, whatever the zone.
        #[test]
        fn stored_attention_is_order_independent(mut signals in prop::collection::vec(0_i64..(400 * DAY), 1..40), seed in any::<u64>()) {
            let mut forward = StoredAttention::default();
            signals.iter().for_each(|t| forward.record(T0 + t, Signal::Session));
            let mut state = seed | 1;
            for i in (1..signals.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                signals.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let mut shuffled = StoredAttention::default();
            signals.iter().for_each(|t| shuffled.record(T0 + t, Signal::Session));
            prop_assert_eq!(String::from(forward), String::from(shuffled));
        }
    }
}
