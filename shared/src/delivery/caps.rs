//! Frequency caps: how many marketing messages a customer gets per channel and across channels,
//! per day in their own zone and per rolling week.
//!
//! What was sent is kept in one small ledger item per customer (the capped messages of the last
//! eight days); a send reserves its place by rewriting the ledger conditional on the version it
//! read, in the same transaction as the message's claim. Two campaigns racing for one customer
//! therefore cannot both take the last place: one write fails its condition, re-reads and sees
//! the cap reached. Transactional messages are exempt and never recorded.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::contact::Channel;

/// The most a limit may be: the ledger holds a week of capped sends, and must stay small.
pub const MAX_PER_WEEK: u32 = 100;
/// The ledger keeps sends this long (a week, and a day for zones far from UTC).
const KEEP: Duration = Duration::days(8);

/// A limit per local day and per rolling seven days (either may be absent: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub day: Option<u32>,
    pub week: Option<u32>,
}

/// The caps in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caps {
    pub email: Limits,
    pub sms: Limits,
    pub push: Limits,
    /// Across every channel.
    pub all: Limits,
}

impl Default for Caps {
    /// What a careful marketer starts with: an email a day (three a week), an SMS a week, two
    /// pushes a day, and three messages a day (six a week) in all.
    fn default() -> Caps {
        let l = |day, week| Limits { day: Some(day), week: Some(week) };
        Caps { email: l(1, 3), sms: l(1, 1), push: l(2, 6), all: l(3, 6) }
    }
}

/// A caps setting that cannot be used, with the part to blame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("frequency caps, {part}: {problem}")]
pub struct CapsError {
    pub part: String,
    pub problem: String,
}

impl Caps {
    fn limits(&self, channel: Channel) -> Limits {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Push => self.push,
        }
    }

    /// Reads caps written as `email:1/day,3/week sms:1/week push:2/day all:3/day,6/week`: each
    /// named scope replaces the default's for that scope; `none` removes its limits.
    pub fn parse(text: &str) -> Result<Caps, CapsError> {
        let mut caps = Caps::default();
        for scope in text.split_whitespace() {
            let err = |problem: String| CapsError { part: scope.to_string(), problem };
            let (name, spec) = scope
                .split_once(':')
                .ok_or_else(|| err("expected <scope>:<n>/day,<n>/week, e.g. email:1/day,3/week".into()))?;
            let mut limits = Limits::default();
            if spec != "none" {
                for limit in spec.split(',') {
                    let (n, per) =
                        limit.split_once('/').ok_or_else(|| err(format!("{limit:?}: expected <n>/day or <n>/week")))?;
                    let n: u32 = n.parse().map_err(|_| err(format!("{n:?} is not a whole number")))?;
                    if n > MAX_PER_WEEK {
                        return Err(err(format!("{n} is more than the {MAX_PER_WEEK} a cap may be")));
                    }
                    match per {
                        "day" => limits.day = Some(n),
                        "week" => limits.week = Some(n),
                        other => return Err(err(format!("{other:?}: a cap is per day or per week"))),
                    }
                }
            }
            match name {
                "email" => caps.email = limits,
                "sms" => caps.sms = limits,
                "push" => caps.push = limits,
                "all" => caps.all = limits,
                other => return Err(err(format!("{other:?}: the scopes are email, sms, push and all"))),
            }
        }
        Ok(caps)
    }

    /// The caps as they read in the trace and the summary.
    pub fn describe(&self) -> String {
        let one = |name: &str, l: Limits| {
            let parts: Vec<String> = [(l.day, "day"), (l.week, "week")]
                .iter()
                .filter_map(|(n, per)| n.map(|n| format!("{n}/{per}")))
                .collect();
            format!("{name}:{}", if parts.is_empty() { "none".to_string() } else { parts.join(",") })
        };
        [one("email", self.email), one("sms", self.sms), one("push", self.push), one("all", self.all)].join(" ")
    }
}

/// One capped message in the ledger (compact: the ledger is read before every send).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Unix seconds.
    #[serde(rename = "t")]
    pub at: i64,
    #[serde(rename = "c")]
    pub channel: Channel,
}

/// The capped messages a customer got in the last [`KEEP`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub sent: Vec<Sent>,
}

/// What the caps say about a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapVerdict {
    Allow,
    /// The cap is reached: the first moment a place frees, and which cap.
    DeferUntil {
        at: DateTime<Utc>,
        because: CapReached,
    },
}

/// The cap a send would break (written out when read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapReached {
    pub limit: u32,
    /// The channel's name, or "all channels".
    pub scope: &'static str,
    pub per_week: bool,
    /// The capped messages already in that day or week.
    pub count: usize,
}

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let CapReached { limit, scope, count, .. } = self;
        if self.per_week {
            write!(f, "the cap of {limit} {scope} message(s) a week is reached ({count} in the last 7 days)")
        } else {
            write!(f, "the cap of {limit} {scope} message(s) a day is reached ({count} today)")
        }
    }
}

impl Ledger {
    /// The ledger with a send on `channel` at `at` added, and sends too old to count removed.
    pub fn with(&self, channel: Channel, at: DateTime<Utc>) -> Ledger {
        let oldest = (at - KEEP).timestamp();
        let mut sent: Vec<Sent> = self.sent.iter().copied().filter(|s| s.at >= oldest).collect();
        sent.push(Sent { at: at.timestamp(), channel });
        sent.sort_by_key(|s| s.at);
        Ledger { sent }
    }

    /// Whether a send on `channel` at `at` to a customer in `tz` stays within `caps`.
    pub fn check(&self, caps: &Caps, channel: Channel, at: DateTime<Utc>, tz: Tz) -> CapVerdict {
        let mut blocked: Option<(DateTime<Utc>, CapReached)> = None;
        let mut consider = |free_at: DateTime<Utc>, because: CapReached| {
            if blocked.as_ref().is_none_or(|(t, _)| free_at > *t) {
                blocked = Some((free_at, because));
            }
        };
        // The customer's day as an interval of instants, computed once: each send in the
        // ledger is then one comparison (the ledger is read before every send).
        let local_day = at.with_timezone(&tz).date_naive();
        let next_day = local_day.succ_opt().unwrap_or(local_day);
        let day_end =
            crate::campaign::send_time::local_instant(next_day, NaiveTime::MIN, tz).unwrap_or(at + Duration::days(1));
        let day_start =
            crate::campaign::send_time::local_instant(local_day, NaiveTime::MIN, tz).unwrap_or(at - Duration::days(1));
        let week_start = at - Duration::days(7);
        let all_channels = [Channel::Email, Channel::Sms, Channel::Push];
        for (scope, limits, channels) in [
            (channel.as_str(), caps.limits(channel), std::slice::from_ref(&channel)),
            ("all channels", caps.all, &all_channels[..]),
        ] {
            if limits.day.is_none() && limits.week.is_none() {
                continue;
            }
            let relevant: Vec<DateTime<Utc>> = self
                .sent
                .iter()
                .filter(|s| channels.contains(&s.channel))
                .filter_map(|s| DateTime::from_timestamp(s.at, 0))
                .collect();
            if let Some(day) = limits.day {
                let today = relevant.iter().filter(|t| **t >= day_start && **t < day_end).count();
                if today >= day as usize {
                    consider(day_end, CapReached { limit: day, scope, per_week: false, count: today });
                }
            }
            if let Some(week) = limits.week {
                // Every seven days that hold this send must keep the cap: the sends of the week
                // before it and (a worker whose clock is behind another's) any after it.
                let week_end = at + Duration::days(7);
                let mut in_week: Vec<&DateTime<Utc>> =
                    relevant.iter().filter(|t| **t > week_start && **t < week_end).collect();
                if in_week.len() >= week as usize {
                    in_week.sort();
                    let free = if week == 0 {
                        at + Duration::days(KEEP.num_days())
                    } else if in_week.last().is_some_and(|t| **t > at) {
                        // Sends ahead of this one: only after the last of them is it certainly free.
                        in_week.last().map_or(week_end, |t| **t + Duration::days(7) + Duration::seconds(1))
                    } else {
                        // A place frees when enough of the oldest leave the seven days.
                        let leaving = in_week.len() + 1 - week as usize;
                        in_week.get(leaving - 1).map_or(week_end, |t| **t + Duration::days(7) + Duration::seconds(1))
                    };
                    consider(free, CapReached { limit: week, scope, per_week: true, count: in_week.len() });
                }
            }
        }
        match blocked {
            None => CapVerdict::Allow,
            Some((at, because)) => CapVerdict::DeferUntil { at, because },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn caps_parse_with_the_part_to_blame() {
        let caps = Caps::parse("email:2/day,5/week sms:none").unwrap();
        assert_eq!(caps.email, Limits { day: Some(2), week: Some(5) });
        assert_eq!(caps.sms, Limits::default());
        assert_eq!(caps.push, Caps::default().push);
        assert_eq!(Caps::parse(&caps.describe()).unwrap(), caps);
        for (bad, part) in [
            ("email", "email"),
            ("fax:1/day", "fax:1/day"),
            ("sms:x/day", "sms:x/day"),
            ("all:1/month", "all:1/month"),
            ("push:1000/week", "push:1000/week"),
        ] {
            let e = Caps::parse(bad).unwrap_err();
            assert_eq!(e.part, part, "{e}");
        }
    }

    #[test]
    fn a_day_is_the_customers_day_and_a_week_rolls() {
        let caps = Caps {
            email: Limits { day: Some(1), week: Some(2) },
            sms: Limits::default(),
            push: Limits::default(),
            all: Limits::default(),
        };
        let tokyo = chrono_tz::Asia::Tokyo;
        // 23:30 in Tokyo on the 1st: one email sent. At 00:10 on the 2nd (Tokyo), a new day.
        let ledger = Ledger::default().with(Channel::Email, utc("2026-12-01T14:30:00Z"));
        assert!(
            matches!(ledger.check(&caps, Channel::Email, utc("2026-12-01T14:50:00Z"), tokyo), CapVerdict::DeferUntil { at, .. } if at == utc("2026-12-01T15:00:00Z"))
        );
        assert_eq!(ledger.check(&caps, Channel::Email, utc("2026-12-01T15:10:00Z"), tokyo), CapVerdict::Allow);
        // In UTC the two are the same day.
        assert!(matches!(
            ledger.check(&caps, Channel::Email, utc("2026-12-01T15:10:00Z"), chrono_tz::UTC),
            CapVerdict::DeferUntil { .. }
        ));
        // Other channels are not capped here; "all" is unlimited.
        assert_eq!(ledger.check(&caps, Channel::Sms, utc("2026-12-01T14:50:00Z"), tokyo), CapVerdict::Allow);
        // Two in the week: the third waits until the first is seven days old.
        let ledger = ledger.with(Channel::Email, utc("2026-12-03T10:00:00Z"));
        match ledger.check(&caps, Channel::Email, utc("2026-12-05T10:00:00Z"), tokyo) {
            CapVerdict::DeferUntil { at, because } => {
                assert_eq!(at, utc("2026-12-08T14:30:01Z"));
                assert!(because.to_string().contains("2 email message(s) a week"), "{because}");
            }
            other => panic!("{other:?}"),
        }
        // Old sends leave the ledger.
        let later = ledger.with(Channel::Push, utc("2026-12-20T10:00:00Z"));
        assert_eq!(later.sent.len(), 1);
    }

    #[test]
    fn across_channels_counts_every_channel() {
        let caps = Caps {
            all: Limits { day: Some(2), week: None },
            ..Caps { email: Limits::default(), sms: Limits::default(), push: Limits::default(), all: Limits::default() }
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let ledger = Ledger::default().with(Channel::Email, at).with(Channel::Push, at);
        assert!(
            matches!(ledger.check(&caps, Channel::Sms, at, chrono_tz::UTC), CapVerdict::DeferUntil { because, .. } if because.to_string().contains("all channels"))
        );
    }
}
