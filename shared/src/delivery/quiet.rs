//! Quiet hours from law, in the recipient's own clock: when a marketing message may go.
//!
//! Each rule is a window of the local day (start included, end excluded), optionally closed on
//! Sundays and public holidays. Every rule that applies must allow a minute (the strictest
//! wins); a send outside them moves to the first allowed minute, never drops silently. The
//! rules are data ([`rules_for`]): the US TCPA's 08:00–21:00 for marketing SMS and the
//! stricter states' 08:00–20:00 (Florida and Oklahoma, found by the number's area code; a US
//! number whose state is unknown gets the strictest), France's 08:00–22:00 with no SMS on
//! Sundays or public holidays, and the campaign's own quiet hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::holidays;
use crate::contact::Channel;

/// A window of the local day in which messages may go, and the days it is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// Who says so, for the decision trace ("US TCPA", "Florida", "France", "the campaign").
    pub source: &'static str,
    pub from: NaiveTime,
    pub until: NaiveTime,
    pub closed_sundays: bool,
    /// Closed on this country's public holidays (ISO code).
    pub closed_holidays: Option<&'static str>,
}

impl Allowed {
    fn hours(source: &'static str, from: u32, until: u32) -> Allowed {
        let t = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        Allowed { source, from: t(from), until: t(until), closed_sundays: false, closed_holidays: None }
    }

    /// Whether a local moment is allowed.
    pub fn allows(&self, local: chrono::NaiveDateTime) -> bool {
        let day = local.date();
        if self.closed_sundays && day.weekday() == Weekday::Sun {
            return false;
        }
        if self.closed_holidays.is_some_and(|country| holidays::is_holiday(country, day)) {
            return false;
        }
        let t = local.time();
        if self.from <= self.until { self.from <= t && t < self.until } else { t >= self.from || t < self.until }
    }
}

/// Florida's and Oklahoma's area codes (their marketing calls and texts end at 20:00).
const FLORIDA: [u16; 19] =
    [239, 305, 321, 352, 386, 407, 448, 561, 656, 727, 754, 772, 786, 813, 850, 863, 904, 941, 954];
const OKLAHOMA: [u16; 5] = [405, 539, 572, 580, 918];
/// Area codes of the other US states (a +1 number in none of these lists, nor in Florida's
/// or Oklahoma's, may be anywhere: it gets the strictest US rule).
const OTHER_US: [u16; 40] = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229, 231, 234,
    248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304,
];

/// The state rule for a US number: Florida's, Oklahoma's, none (a known other state), or the
/// strictest (unknown).
fn us_state(phone: Option<&str>) -> Option<Allowed> {
    let area = phone.and_then(|p| p.strip_prefix("+1")).and_then(|d| d.get(..3)).and_then(|a| a.parse::<u16>().ok());
    match area {
        Some(a) if FLORIDA.contains(&a) => Some(Allowed::hours("Florida (08:00–20:00)", 8, 20)),
        Some(a) if OKLAHOMA.contains(&a) => Some(Allowed::hours("Oklahoma (08:00–20:00)", 8, 20)),
        Some(a) if OTHER_US.contains(&a) => None,
        _ => Some(Allowed::hours("a US state with the strictest hours (the number's state is unknown)", 8, 20)),
    }
}

/// The legal windows for a marketing message by `channel` to a customer in `country` (ISO code)
/// with `phone` (E.164), strictest first. Transactional messages are not bound by them.
pub fn rules_for(channel: Channel, country: Option<&str>, phone: Option<&str>) -> Vec<Allowed> {
    let mut rules = Vec::new();
    match (channel, country) {
        (Channel::Sms, Some("US")) => {
            rules.extend(us_state(phone));
            rules.push(Allowed::hours("US TCPA (08:00–21:00)", 8, 21));
        }
        (Channel::Sms, Some("FR")) => rules.push(Allowed {
            closed_sundays: true,
            closed_holidays: Some("FR"),
            ..Allowed::hours("France (08:00–22:00, not on Sundays or public holidays)", 8, 22)
        }),
        _ => {}
    }
    rules
}

/// What the quiet-hours rule says about a send at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Not now: the first minute every rule allows, and the rule that moved it.
    DeferUntil {
        at: DateTime<Utc>,
        because: String,
    },
    /// No allowed minute within [`HORIZON_DAYS`]: the rules leave no time at all.
    Suppress {
        because: String,
    },
}

/// How far ahead a deferred send looks for an allowed minute.
pub const HORIZON_DAYS: i64 = 14;

/// The verdict for a send at `at` to a customer in `tz` under `rules` (all must allow).
pub fn check(at: DateTime<Utc>, tz: Tz, rules: &[Allowed]) -> Verdict {
    let at = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at);
    let blocking = |t: DateTime<Utc>| rules.iter().find(|r| !r.allows(t.with_timezone(&tz).naive_local()));
    let Some(first) = blocking(at) else { return Verdict::Allow };
    let because = format!("{} in the customer's zone ({})", first.source, tz.name());
    // Candidates: every rule's opening minute on each local day ahead (a window opens at its
    // `from`, a day after a closed day at its `from` too), checked against all rules.
    let start_day = at.with_timezone(&tz).date_naive();
    let mut openings: Vec<DateTime<Utc>> = Vec::new();
    for d in 0..=HORIZON_DAYS {
        let Some(day) = start_day.checked_add_signed(Duration::days(d)) else { break };
        for r in rules {
            openings.extend(local(day, r.from, tz));
        }
    }
    openings.sort_unstable();
    match openings.into_iter().filter(|t| *t > at).find(|t| blocking(*t).is_none()) {
        Some(t) => Verdict::DeferUntil { at: t, because },
        None => Verdict::Suppress { because: format!("{because}: no allowed minute in {HORIZON_DAYS} days") },
    }
}

/// `time` on `day` in `tz`; a time a DST change skips is the first minute after the gap.
fn local(day: NaiveDate, time: NaiveTime, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = day.and_time(time);
    (0..=120)
        .find_map(|m| tz.from_local_datetime(&(naive + Duration::minutes(m))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_strictest_rule_wins_and_a_send_moves_to_the_first_allowed_minute() {
        let miami: Tz = "America/New_York".parse().unwrap();
        let florida = rules_for(Channel::Sms, Some("US"), Some("+13055550123"));
        // 20:30 in Miami: TCPA allows until 21:00, Florida until 20:00: deferred to 08:00.
        match check(utc("2026-07-01T00:30:00Z"), miami, &florida) {
            Verdict::DeferUntil { at, because } => {
                assert_eq!(at, utc("2026-07-01T12:00:00Z"));
                assert!(because.starts_with("Florida"), "{because}");
            }
            other => panic!("{other:?}"),
        }
        // A known other state: TCPA alone, 20:30 goes.
        let new_jersey = rules_for(Channel::Sms, Some("US"), Some("+12015550123"));
        assert_eq!(check(utc("2026-07-01T00:30:00Z"), miami, &new_jersey), Verdict::Allow);
        // An unknown area code: the strictest state's hours.
        let unknown = rules_for(Channel::Sms, Some("US"), Some("+19995550123"));
        assert!(matches!(check(utc("2026-07-01T00:30:00Z"), miami, &unknown), Verdict::DeferUntil { .. }));
        // Email has no legal quiet hours here.
        assert!(rules_for(Channel::Email, Some("US"), None).is_empty());
    }

    #[test]
    fn france_waits_past_sundays_and_public_holidays() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let rules = rules_for(Channel::Sms, Some("FR"), Some("+33612345678"));
        // Saturday 11 July 2026, 21:30: closed at 22:00 is still open; 22:30 is not, Sunday is
        // closed: Monday 08:00.
        assert_eq!(check(utc("2026-07-11T19:30:00Z"), paris, &rules), Verdict::Allow);
        match check(utc("2026-07-11T20:30:00Z"), paris, &rules) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-07-13T06:00:00Z")),
            other => panic!("{other:?}"),
        }
        // Monday 13 July, 22:30: Tuesday 14 July (Bastille Day) is closed: Wednesday 08:00.
        match check(utc("2026-07-13T20:30:00Z"), paris, &rules) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-07-15T06:00:00Z")),
            other => panic!("{other:?}"),
        }
        // Easter Monday 2026 is 6 April: closed; Tuesday 08:00.
        match check(utc("2026-04-06T10:00:00Z"), paris, &rules) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-04-07T06:00:00Z")),
            other => panic!("{other:?}"),
        }
        assert_eq!(check(utc("2026-04-07T10:00:00Z"), paris, &rules), Verdict::Allow);
    }

    #[test]
    fn rules_that_leave_no_minute_suppress_with_a_reason() {
        let none = [Allowed::hours("morning only", 8, 9), Allowed::hours("evening only", 18, 20)];
        match check(utc("2026-07-01T00:00:00Z"), chrono_tz::UTC, &none) {
            Verdict::Suppress { because } => assert!(because.contains("no allowed minute"), "{because}"),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Any moment, zone (DST changes included) and rule set: an allowed send is allowed by
        /// every rule, and a deferred one lands on an allowed minute with none allowed before it.
        #[test]
        fn a_deferred_send_lands_on_the_first_allowed_minute(
            minutes in 0i64..(3 * 365 * 24 * 60),
            zone in 0usize..5,
            rules in 0usize..4,
        ) {
            let zones = ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Kiritimati", "America/St_Johns"];
            let tz: Tz = zones[zone].parse().unwrap();
            let at = utc("2025-01-01T00:00:00Z") + Duration::minutes(minutes);
            let rules = match rules {
                0 => rules_for(Channel::Sms, Some("US"), Some("+13055550123")),
                1 => rules_for(Channel::Sms, Some("FR"), None),
                2 => vec![Allowed::hours("the campaign", 22, 7)],
                _ => [rules_for(Channel::Sms, Some("US"), None), vec![Allowed::hours("the campaign", 9, 17)]].concat(),
            };
            let allowed = |t: DateTime<Utc>| rules.iter().all(|r| r.allows(t.with_timezone(&tz).naive_local()));
            match check(at, tz, &rules) {
                Verdict::Allow => prop_assert!(allowed(at)),
                Verdict::DeferUntil { at: to, .. } => {
                    prop_assert!(to > at && allowed(to), "{at} -> {to}");
                    // No earlier allowed minute (checked at every quarter hour and just before).
                    let mut t = at;
                    while t + Duration::minutes(15) < to {
                        t += Duration::minutes(15);
                        prop_assert!(!allowed(t), "{t} was allowed before {to}");
                    }
                    prop_assert!(!allowed(to - Duration::minutes(1)));
                }
                Verdict::Suppress { .. } => prop_assert!(false, "these rules always leave time"),
            }
        }
    }
}
