//! Quiet hours from law, in the recipient's own clock: when a marketing message may go.
//!
//! Each rule is a window of the local day (start included, end excluded), optionally closed on
//! Sundays and public holidays. Every rule that applies must allow a minute (the strictest
//! wins); a send outside them moves to the first allowed minute, never drops silently. The
//! rules are data ([`rules_for`]): the US TCPA's 08:00–21:00 for marketing SMS and the states'
//! stricter hours (Florida's and Oklahoma's 08:00–20:00, found by the number's area code; any
//! other number gets the strictest state hours, 09:00–20:00 and Sundays from noon, since its
//! state is not known), France's 08:00–22:00 with no SMS on Sundays or public holidays, and the
//! campaign's own windows ([`Allowed::between`]). The law follows the number as well as the
//! address: a `+1` number is held to the US rules, a `+33` one to France's, whatever the
//! profile's country says.

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
    /// On Sundays the window opens this late instead.
    pub sundays_from: Option<NaiveTime>,
    /// Closed on this country's public holidays (ISO code).
    pub closed_holidays: Option<&'static str>,
}

impl Allowed {
    /// From `from` to `until` every day (a window may cross midnight), e.g. a campaign's own.
    pub fn between(source: &'static str, from: NaiveTime, until: NaiveTime) -> Allowed {
        Allowed { source, from, until, closed_sundays: false, sundays_from: None, closed_holidays: None }
    }

    fn hours(source: &'static str, from: u32, until: u32) -> Allowed {
        let t = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        Allowed::between(source, t(from), t(until))
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
        let from = match self.sundays_from {
            Some(f) if day.weekday() == Weekday::Sun => f,
            _ => self.from,
        };
        if from == self.until {
            return true;
        }
        if from < self.until { from <= t && t < self.until } else { t >= from || t < self.until }
    }
}

/// Florida's and Oklahoma's area codes (their marketing calls and texts end at 20:00).
const FLORIDA: [u16; 23] =
    [239, 305, 321, 324, 352, 386, 407, 448, 561, 645, 656, 689, 727, 728, 754, 772, 786, 813, 850, 863, 904, 941, 954];
const OKLAHOMA: [u16; 5] = [405, 539, 572, 580, 918];

/// The state rule for a US number: Florida's, Oklahoma's, or (any other: its state is not
/// known from the number alone) the strictest hours any state sets.
fn us_state(phone: Option<&str>) -> Allowed {
    let area = phone.and_then(|p| p.strip_prefix("+1")).and_then(|d| d.get(..3)).and_then(|a| a.parse::<u16>().ok());
    match area {
        Some(a) if FLORIDA.contains(&a) => Allowed::hours("Florida (08:00–20:00)", 8, 20),
        Some(a) if OKLAHOMA.contains(&a) => Allowed::hours("Oklahoma (08:00–20:00)", 8, 20),
        _ => Allowed {
            sundays_from: NaiveTime::from_hms_opt(12, 0, 0),
            ..Allowed::hours(
                "the strictest US state hours, 09:00–20:00 and Sundays from noon (the number's state is not known)",
                9,
                20,
            )
        },
    }
}

/// The jurisdictions whose SMS rules apply: the address's country and the number's.
fn jurisdictions<'a>(country: Option<&'a str>, phone: Option<&str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    match country {
        // US territories are held to the TCPA too.
        Some("US" | "PR" | "VI" | "GU" | "AS" | "MP") => out.push("US"),
        Some(c) => out.push(c),
        None => {}
    }
    let by_number = match phone {
        // A +1 number is North American: the US rules unless the address is in Canada.
        Some(p) if p.starts_with("+1") && country != Some("CA") => Some("US"),
        Some(p) if p.starts_with("+33") => Some("FR"),
        _ => None,
    };
    out.extend(by_number.filter(|j| !out.contains(j)));
    out
}

/// The legal windows for a marketing message by `channel` to a customer in `country` (ISO code)
/// with `phone` (E.164), strictest first. Transactional messages are not bound by them.
pub fn rules_for(channel: Channel, country: Option<&str>, phone: Option<&str>) -> Vec<Allowed> {
    let mut rules = Vec::new();
    if channel != Channel::Sms {
        return rules;
    }
    for j in jurisdictions(country, phone) {
        match j {
            "US" => {
                rules.push(us_state(phone));
                rules.push(Allowed::hours("US TCPA (08:00–21:00)", 8, 21));
            }
            "FR" => rules.push(Allowed {
                closed_sundays: true,
                closed_holidays: Some("FR"),
                ..Allowed::hours("France (08:00–22:00, not on Sundays or public holidays)", 8, 22)
            }),
            _ => {}
        }
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
        because: Blocked,
    },
    /// No allowed minute within [`HORIZON_DAYS`]: the rules leave no time at all.
    Suppress {
        because: Blocked,
    },
}

/// The rule that held a send back, in the zone it was checked in (written out when read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub source: &'static str,
    pub tz: Tz,
    /// No allowed minute in [`HORIZON_DAYS`].
    pub for_good: bool,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in the customer's zone ({})", self.source, self.tz.name())?;
        if self.for_good {
            write!(f, ": no allowed minute in {HORIZON_DAYS} days")?;
        }
        Ok(())
    }
}

/// How far ahead a deferred send looks for an allowed minute.
pub const HORIZON_DAYS: i64 = 14;

/// The verdict for a send at `at` to a customer in `tz` under `rules` (all must allow).
pub fn check(at: DateTime<Utc>, tz: Tz, rules: &[Allowed]) -> Verdict {
    let at = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at);
    let blocking = |t: DateTime<Utc>| rules.iter().find(|r| !r.allows(t.with_timezone(&tz).naive_local()));
    let Some(first) = blocking(at) else { return Verdict::Allow };
    // Candidates, day by day: every rule's opening times, local midnight, and the instant an
    // offset changes (a DST change can open a window mid-hour); the first allowed one wins.
    let start_day = at.with_timezone(&tz).date_naive();
    let mut openings: Vec<DateTime<Utc>> = Vec::with_capacity(2 * rules.len() + 2);
    for d in 0..=HORIZON_DAYS {
        let Some(day) = start_day.checked_add_signed(Duration::days(d)) else { break };
        openings.clear();
        openings.extend(local(day, NaiveTime::MIN, tz));
        for r in rules {
            openings.extend(local(day, r.from, tz));
            openings.extend(r.sundays_from.and_then(|f| local(day, f, tz)));
        }
        openings.extend(offset_change(day, tz));
        openings.sort_unstable();
        if let Some(&t) = openings.iter().filter(|t| **t > at).find(|t| blocking(**t).is_none()) {
            return Verdict::DeferUntil { at: t, because: Blocked { source: first.source, tz, for_good: false } };
        }
    }
    Verdict::Suppress { because: Blocked { source: first.source, tz, for_good: true } }
}

/// The minute `tz`'s offset changes on `day` (a DST change), if it does.
fn offset_change(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::Offset;
    let start = local(day, NaiveTime::MIN, tz)?;
    let end = start + Duration::hours(26);
    let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    if offset(start) == offset(end) {
        return None;
    }
    // The first minute with the later offset.
    let (mut lo, mut hi) = (start, end);
    while hi - lo > Duration::minutes(1) {
        let mid = lo + (hi - lo) / 2;
        if offset(mid) == offset(start) { lo = mid } else { hi = mid }
    }
    // Changes fall on whole minutes and `hi` is less than a minute after one: its minute.
    DateTime::from_timestamp(hi.timestamp().div_euclid(60) * 60, 0)
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
                assert!(because.to_string().starts_with("Florida"), "{because}");
            }
            other => panic!("{other:?}"),
        }
        // Any other number: its state is not known, so the strictest state hours (09:00–20:00,
        // Sundays from noon): 08:30 waits for 09:00, Sunday 11:00 for noon, 19:30 goes.
        let other = rules_for(Channel::Sms, Some("US"), Some("+12015550123"));
        match check(utc("2026-07-01T12:30:00Z"), miami, &other) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-07-01T13:00:00Z")),
            v => panic!("{v:?}"),
        }
        match check(utc("2026-07-05T15:00:00Z"), miami, &other) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-07-05T16:00:00Z"), "Sunday noon"),
            v => panic!("{v:?}"),
        }
        assert_eq!(check(utc("2026-07-01T23:30:00Z"), miami, &other), Verdict::Allow);
        // The law follows the number and the territories: a +1 number with no country, or in
        // Puerto Rico, is held to the US rules; a Canadian address is not.
        for (country, phone) in [(None, "+13055550123"), (Some("PR"), "+17875550123")] {
            assert!(rules_for(Channel::Sms, country, Some(phone)).iter().any(|r| r.source.starts_with("US TCPA")));
        }
        assert!(rules_for(Channel::Sms, Some("CA"), Some("+14165550123")).is_empty());
        assert!(rules_for(Channel::Sms, None, Some("+33612345678"))[0].source.starts_with("France"));
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
    fn a_window_opened_by_a_dst_change_or_at_midnight_is_found() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let late = [Allowed::between("the campaign", t(22, 0), t(2, 30))];
        // 02:45 CEST on 25 October 2026; at 03:00 the clocks go back to 02:00 CET, allowed.
        match check(utc("2026-10-25T00:45:00Z"), paris, &late) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-10-25T01:00:00Z")),
            v => panic!("{v:?}"),
        }
        // Closed on Sundays, crossing midnight: Sunday 23:00 waits for Monday 00:00.
        let closed = [Allowed { closed_sundays: true, ..Allowed::between("the campaign", t(22, 0), t(2, 0)) }];
        match check(utc("2026-07-12T21:00:00Z"), paris, &closed) {
            Verdict::DeferUntil { at, .. } => assert_eq!(at, utc("2026-07-12T22:00:00Z")),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn rules_that_leave_no_minute_suppress_with_a_reason() {
        let none = [Allowed::hours("morning only", 8, 9), Allowed::hours("evening only", 18, 20)];
        match check(utc("2026-07-01T00:00:00Z"), chrono_tz::UTC, &none) {
            Verdict::Suppress { because } => assert!(because.to_string().contains("no allowed minute"), "{because}"),
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
