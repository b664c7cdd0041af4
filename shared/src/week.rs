//! Hours of the week, the grid send-time optimization works on: vocabulary below both the profile
//! (which records when a customer pays attention) and send-time optimization (which reads it).

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub const HOURS_PER_WEEK: usize = 168;

/// An hour of the local week: 0 is Monday 00:00–00:59, 167 is Sunday 23:00–23:59.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct HourOfWeek(u8);

impl HourOfWeek {
    pub fn new(index: usize) -> Option<Self> {
        (index < HOURS_PER_WEEK).then_some(HourOfWeek(index as u8))
    }

    /// The hour of the week at `at` in `tz`: DST-correct, since it converts the instant.
    pub fn at(at: DateTime<Utc>, tz: Tz) -> Self {
        Self::of_local(at.with_timezone(&tz).naive_local())
    }

    /// The hour of the week of a local wall-clock time.
    pub fn of_local(local: chrono::NaiveDateTime) -> Self {
        let day = local.weekday().num_days_from_monday() as u8;
        HourOfWeek(day * 24 + local.hour() as u8)
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn weekday(self) -> chrono::Weekday {
        chrono::Weekday::try_from(self.0 / 24).unwrap_or(chrono::Weekday::Mon)
    }

    pub fn hour(self) -> u32 {
        u32::from(self.0 % 24)
    }
}

/// An hour-of-week index outside 0..168.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hour of week {0} is out of range 0..168")]
pub struct HourOutOfRange(pub u8);

impl TryFrom<u8> for HourOfWeek {
    type Error = HourOutOfRange;
    fn try_from(v: u8) -> Result<Self, HourOutOfRange> {
        HourOfWeek::new(usize::from(v)).ok_or(HourOutOfRange(v))
    }
}

impl From<HourOfWeek> for u8 {
    fn from(h: HourOfWeek) -> u8 {
        h.0
    }
}

/// Counts per hour of the week, stored sparsely (most customers touch few hours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(HourOfWeek, u32)>", into = "Vec<(HourOfWeek, u32)>")]
pub struct WeekCounts(Box<[u32; HOURS_PER_WEEK]>);

impl Default for WeekCounts {
    fn default() -> Self {
        WeekCounts(Box::new([0; HOURS_PER_WEEK]))
    }
}

impl WeekCounts {
    pub fn add(&mut self, hour: HourOfWeek, n: u32) {
        let slot = &mut self.0[hour.index()];
        *slot = slot.saturating_add(n);
    }

    pub fn get(&self, hour: HourOfWeek) -> u32 {
        self.0[hour.index()]
    }

    pub fn as_array(&self) -> &[u32; HOURS_PER_WEEK] {
        &self.0
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    pub fn merge(&mut self, other: &WeekCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }
}

impl From<Vec<(HourOfWeek, u32)>> for WeekCounts {
    fn from(pairs: Vec<(HourOfWeek, u32)>) -> Self {
        let mut w = WeekCounts::default();
        for (h, n) in pairs {
            w.add(h, n);
        }
        w
    }
}

impl From<WeekCounts> for Vec<(HourOfWeek, u32)> {
    fn from(w: WeekCounts) -> Self {
        w.0.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| HourOfWeek::new(i).map(|h| (h, *n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hour_of_week_follows_local_time_across_dst() {
        let ny = chrono_tz::America::New_York;
        // 14:00 UTC is 09:00 in New York in winter (EST) and 10:00 in summer (EDT).
        let winter = Utc.with_ymd_and_hms(2026, 1, 5, 14, 0, 0).unwrap(); // a Monday
        let summer = Utc.with_ymd_and_hms(2026, 7, 6, 14, 0, 0).unwrap(); // a Monday
        assert_eq!(HourOfWeek::at(winter, ny).index(), 9);
        assert_eq!(HourOfWeek::at(summer, ny).index(), 10);
        // Sunday 23:30 in Berlin is the last hour of the week.
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap();
        let h = HourOfWeek::at(sunday, chrono_tz::Europe::Berlin);
        assert_eq!((h.index(), h.weekday(), h.hour()), (167, chrono::Weekday::Sun, 23));
    }

    #[test]
    fn week_counts_serialize_sparsely() {
        let mut w = WeekCounts::default();
        w.add(HourOfWeek::new(9).unwrap(), 2);
        w.add(HourOfWeek::new(167).unwrap(), 1);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, "[[9,2],[167,1]]");
        assert_eq!(serde_json::from_str::<WeekCounts>(&json).unwrap(), w);
        assert!(serde_json::from_str::<WeekCounts>("[[168,1]]").is_err());
        assert_eq!(w.total(), 3);
    }
}
