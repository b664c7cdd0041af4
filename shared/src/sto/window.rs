//! When a message may go: send windows, quiet hours, and the candidate send instants.
//!
//! Everything "local" is the customer's wall clock in their IANA time zone. Windows given in
//! local terms are converted instant by instant, so they keep their wall-clock meaning across
//! daylight-saving changes; a local time that does not exist (the spring-forward gap) moves to
//! the first one that does, and one that happens twice (fall back) takes the first.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::week::HourOfWeek;

/// Longest window a decision considers.
pub const MAX_WINDOW: Duration = Duration::days(14);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the window ends ({end}) before it starts ({start})")]
    Empty { start: DateTime<Utc>, end: DateTime<Utc> },
    #[error("the window is {hours} hours long (at most {} allowed)", MAX_WINDOW.num_hours())]
    TooLong { hours: i64 },
    #[error("{0:?} is not a time range like \"21:00-08:00\"")]
    BadQuietHours(String),
    #[error("{0:?} is not a weekly window like \"Tue 09:00-Tue 18:00\"")]
    BadWeekly(String),
}

/// A span of instants, start included, end excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, WindowError> {
        if end <= start {
            return Err(WindowError::Empty { start, end });
        }
        if end - start > MAX_WINDOW {
            return Err(WindowError::TooLong { hours: (end - start).num_hours() });
        }
        Ok(Window { start, end })
    }

    pub fn hours_from(start: DateTime<Utc>, hours: u32) -> Result<Self, WindowError> {
        Window::new(start, start + Duration::hours(i64::from(hours)))
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// A local time of the week: "Tue 09:00".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekTime {
    pub day: Weekday,
    pub time: NaiveTime,
}

/// How a campaign says when its message may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSpec {
    /// Within this many hours of the trigger.
    Within { hours: u32 },
    /// A weekly window on the customer's clock, e.g. Tue 09:00–Tue 18:00, Sun 20:00–Mon 08:00.
    Weekly { from: WeekTime, to: WeekTime },
}

impl WindowSpec {
    /// The concrete window for a trigger at `trigger` for a customer in `tz`: for a weekly
    /// window, the first occurrence that has not ended yet, starting no earlier than the trigger.
    pub fn resolve(&self, trigger: DateTime<Utc>, tz: Tz) -> Result<Window, WindowError> {
        match *self {
            WindowSpec::Within { hours } => Window::hours_from(trigger, hours),
            WindowSpec::Weekly { from, to } => {
                let local = trigger.with_timezone(&tz).naive_local();
                let monday = local.date() - Duration::days(i64::from(local.weekday().num_days_from_monday()));
                let span_minutes = week_minutes(to) - week_minutes(from);
                let span = Duration::minutes(if span_minutes <= 0 { span_minutes + 7 * 24 * 60 } else { span_minutes });
                for week in -1..=1 {
                    let start_day = monday + Duration::days(7 * week + i64::from(from.day.num_days_from_monday()));
                    let start_local = start_day.and_time(from.time);
                    let (start, end) = (local_to_utc(start_local, tz), local_to_utc(start_local + span, tz));
                    if end > trigger {
                        return Window::new(start.max(trigger), end);
                    }
                }
                Err(WindowError::Empty { start: trigger, end: trigger })
            }
        }
    }
}

fn week_minutes(t: WeekTime) -> i64 {
    i64::from(t.day.num_days_from_monday()) * 24 * 60 + i64::from(t.time.hour()) * 60 + i64::from(t.time.minute())
}

/// The instant of a local wall-clock time: the first of two in a fall-back hour, the first
/// existing one after a spring-forward gap.
pub fn local_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            // In a spring-forward gap: try the next half hour until the clock exists again.
            LocalResult::None => {
                probe = probe + Duration::minutes(i64::from(30 - probe.minute() % 30))
                    - Duration::seconds(i64::from(probe.second()))
            }
        }
    }
    // Unreachable for real zones (gaps are at most an hour); fall back to reading it as UTC.
    Utc.from_utc_datetime(&local)
}

/// Local times when nothing may be sent, e.g. 21:00–08:00 (crossing midnight) or 12:00–13:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    pub fn new(start: NaiveTime, end: NaiveTime) -> Self {
        QuietHours { start, end }
    }

    /// Whether a local time of day is quiet (start included, end excluded).
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end { self.start <= t && t < self.end } else { t >= self.start || t < self.end }
    }
}

impl FromStr for QuietHours {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, WindowError> {
        let bad = || WindowError::BadQuietHours(s.to_string());
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let parse = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let q = QuietHours::new(parse(a)?, parse(b)?);
        if q.start == q.end {
            return Err(bad());
        }
        Ok(q)
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

/// A possible send instant and the local hour of the week it falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub hour: HourOfWeek,
}

/// The window's start and every top of a local hour inside it, minus those in quiet hours
/// (any of `quiet`: the strictest rule wins).
pub fn candidates(window: &Window, tz: Tz, quiet: &[QuietHours]) -> Vec<Candidate> {
    // Offsets only change at DST transitions; a window without one needs no zone lookups.
    let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let fixed =
        (offset_at(window.start) == offset_at(window.end - Duration::seconds(1))).then(|| offset_at(window.start));
    let local_of = |t: DateTime<Utc>| match fixed {
        Some(offset) => t.naive_utc() + offset,
        None => t.with_timezone(&tz).naive_local(),
    };
    let make = |at: DateTime<Utc>| {
        let local = local_of(at);
        Candidate { at, local, hour: HourOfWeek::of_local(local) }
    };
    let mut out = Vec::with_capacity(((window.end - window.start).num_hours() + 2) as usize);
    let first = make(window.start);
    out.push(first);
    let into_hour = i64::from(first.local.minute()) * 60 + i64::from(first.local.second());
    let mut at = window.start + Duration::seconds(3600 - into_hour)
        - Duration::nanoseconds(i64::from(window.start.timestamp_subsec_nanos()));
    if into_hour == 0 && window.start.timestamp_subsec_nanos() == 0 {
        at = window.start + Duration::hours(1);
    }
    while at < window.end {
        out.push(make(at));
        at += Duration::hours(1);
    }
    out.retain(|c| !quiet.iter().any(|q| q.contains(c.local.time())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn quiet_hours_cross_midnight() {
        let q: QuietHours = "21:00-08:00".parse().unwrap();
        assert!(q.contains(t(23, 0)) && q.contains(t(3, 0)) && q.contains(t(21, 0)));
        assert!(!q.contains(t(8, 0)) && !q.contains(t(12, 0)) && !q.contains(t(20, 59)));
        let lunch: QuietHours = "12:00-13:00".parse().unwrap();
        assert!(lunch.contains(t(12, 30)) && !lunch.contains(t(13, 0)));
        assert!("21:00".parse::<QuietHours>().is_err());
        assert!("25:00-08:00".parse::<QuietHours>().is_err());
    }

    #[test]
    fn candidates_are_local_hour_tops_outside_quiet_hours() {
        let w = Window::new(utc(2026, 3, 2, 9, 20), utc(2026, 3, 3, 9, 20)).unwrap(); // Mon 10:20 Berlin
        let c = candidates(&w, chrono_tz::Europe::Berlin, &["21:00-08:00".parse().unwrap()]);
        assert_eq!(c[0].at, w.start);
        assert_eq!(c[1].local.time(), t(11, 0));
        assert!(c.iter().all(|x| x.local.time() >= t(8, 0) && x.local.time() < t(21, 0)));
        assert_eq!(
            c.last().unwrap().local,
            NaiveDate::from_ymd_opt(2026, 3, 3).unwrap().and_hms_opt(10, 0, 0).unwrap()
        );
        assert_eq!(c.len(), 1 + 10 + 3, "10:20, 11..20 on Monday, 08..10 on Tuesday");
    }

    #[test]
    fn half_hour_zones_get_their_own_hour_tops() {
        let w = Window::new(utc(2026, 3, 2, 0, 0), utc(2026, 3, 2, 3, 0)).unwrap();
        let c = candidates(&w, chrono_tz::Asia::Kolkata, &[]);
        assert_eq!(c.iter().map(|x| x.local.time()).collect::<Vec<_>>(), [t(5, 30), t(6, 0), t(7, 0), t(8, 0)]);
    }

    #[test]
    fn dst_spring_forward_in_new_york() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        let ny = chrono_tz::America::New_York;
        let w = Window::new(utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 10, 0)).unwrap(); // 00:00 EST to 06:00 EDT
        let hours: Vec<u32> = candidates(&w, ny, &[]).iter().map(|c| c.local.hour()).collect();
        assert_eq!(hours, [0, 1, 3, 4, 5], "02:00 does not exist that night");
        let weekly = WindowSpec::Weekly {
            from: WeekTime { day: Weekday::Sun, time: t(2, 30) },
            to: WeekTime { day: Weekday::Sun, time: t(6, 0) },
        };
        let resolved = weekly.resolve(utc(2026, 3, 7, 12, 0), ny).unwrap();
        assert_eq!(
            resolved.start.with_timezone(&ny).naive_local().time(),
            t(3, 0),
            "the gap moves to the first real time"
        );
        assert_eq!(resolved.end.with_timezone(&ny).naive_local().time(), t(6, 0));
    }

    #[test]
    fn dst_fall_back_in_berlin() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
        let berlin = chrono_tz::Europe::Berlin;
        let w = Window::new(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 4, 0)).unwrap(); // 00:00 CEST to 05:00 CET
        let c = candidates(&w, berlin, &[]);
        let hours: Vec<u32> = c.iter().map(|c| c.local.hour()).collect();
        assert_eq!(hours, [0, 1, 2, 2, 3, 4], "02:00 comes twice, an hour apart");
        assert_eq!(c[3].at - c[2].at, Duration::hours(1));
        let weekly = WindowSpec::Weekly {
            from: WeekTime { day: Weekday::Sun, time: t(2, 30) },
            to: WeekTime { day: Weekday::Sun, time: t(4, 0) },
        };
        let resolved = weekly.resolve(utc(2026, 10, 24, 12, 0), berlin).unwrap();
        assert_eq!(resolved.start, utc(2026, 10, 25, 0, 30), "the first 02:30 (CEST)");
        assert_eq!(resolved.end, utc(2026, 10, 25, 3, 0), "04:00 CET");
    }

    #[test]
    fn weekly_windows_cross_midnight_and_the_week_end() {
        let berlin = chrono_tz::Europe::Berlin;
        let sun_to_mon = WindowSpec::Weekly {
            from: WeekTime { day: Weekday::Sun, time: t(20, 0) },
            to: WeekTime { day: Weekday::Mon, time: t(8, 0) },
        };
        // Triggered on a Wednesday: the coming Sunday night.
        let w = sun_to_mon.resolve(utc(2026, 6, 3, 10, 0), berlin).unwrap();
        assert_eq!(w.start, utc(2026, 6, 7, 18, 0));
        assert_eq!(w.end, utc(2026, 6, 8, 6, 0));
        // Triggered during it, on Monday 01:00: the rest of it.
        let w = sun_to_mon.resolve(utc(2026, 6, 7, 23, 0), berlin).unwrap();
        assert_eq!((w.start, w.end), (utc(2026, 6, 7, 23, 0), utc(2026, 6, 8, 6, 0)));
        let tuesday = WindowSpec::Weekly {
            from: WeekTime { day: Weekday::Tue, time: t(9, 0) },
            to: WeekTime { day: Weekday::Tue, time: t(18, 0) },
        };
        // Triggered Tuesday 19:00 local: next Tuesday.
        let w = tuesday.resolve(utc(2026, 6, 2, 17, 0), berlin).unwrap();
        assert_eq!(w.start, utc(2026, 6, 9, 7, 0));
    }

    #[test]
    fn windows_are_checked() {
        assert!(Window::new(utc(2026, 1, 2, 0, 0), utc(2026, 1, 1, 0, 0)).is_err());
        assert!(Window::hours_from(utc(2026, 1, 1, 0, 0), 24 * 15).is_err());
    }
}
