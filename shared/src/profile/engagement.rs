//! Engagement: deliveries, opens, clicks and sessions, by hour of the customer's local week.
//!
//! The newest records are kept as instants, so the weekly histogram is bucketed in the
//! customer's *current* time zone when it is read: a time zone learned after the engagement
//! (an identify event arriving late) still puts every recent record in the right local hour.
//! Records pushed out of the window are folded into per-hour counts in the zone known then.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::week::{HourOfWeek, WeekCounts};
use crate::contact::Channel;
use crate::ids::MessageId;
use crate::sto::attention::{Attention, MACHINE_OPEN_SECS, Signal};

/// How many engagement records a profile keeps as instants.
pub const RECENT_ENGAGEMENTS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EngagementKind {
    #[serde(rename = "d")]
    Delivered,
    #[serde(rename = "o")]
    Opened,
    #[serde(rename = "c")]
    Clicked,
    #[serde(rename = "s")]
    Session,
}

impl EngagementKind {
    pub const ALL: [EngagementKind; 4] = [Self::Delivered, Self::Opened, Self::Clicked, Self::Session];

    fn index(self) -> usize {
        self as usize
    }
}

/// One engagement, compact: profiles are written on every batch and DynamoDB bills by the KB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngagementRecord {
    /// Unix seconds.
    #[serde(rename = "t")]
    pub at: i64,
    #[serde(rename = "k")]
    pub kind: EngagementKind,
    #[serde(rename = "ch", default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
}

impl EngagementRecord {
    pub fn instant(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.at, 0).single().unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    /// Lifetime counts per kind: delivered, opened, clicked, sessions.
    pub totals: [u64; 4],
    /// The newest records, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<EngagementRecord>,
    /// Hour-of-week counts of records that left `recent`, per kind.
    #[serde(default, skip_serializing_if = "is_empty_weeks")]
    pub older: [WeekCounts; 4],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_engaged_at: Option<DateTime<Utc>>,
    /// When the customer pays attention, from engagement signals (purchases are added from the
    /// orders when read: [`super::Profile::attention`]).
    #[serde(default)]
    pub attention: Attention,
}

fn is_empty_weeks(w: &[WeekCounts; 4]) -> bool {
    w.iter().all(|c| c.total() == 0)
}

impl Engagement {
    /// Records one engagement; `tz` is the zone to bucket anything that leaves the window in.
    pub fn record(&mut self, record: EngagementRecord, tz: Tz) {
        self.totals[record.kind.index()] += 1;
        let signal = match record.kind {
            EngagementKind::Delivered => None,
            EngagementKind::Opened if self.is_machine_open(&record) => Some(Signal::MachineOpen),
            EngagementKind::Opened => Some(Signal::Open),
            EngagementKind::Clicked => Some(Signal::Click),
            EngagementKind::Session => Some(Signal::Session),
        };
        if let Some(signal) = signal {
            self.attention.add(record.at, tz, signal);
        }
        if record.kind != EngagementKind::Delivered {
            let at = record.instant();
            self.last_engaged_at = Some(self.last_engaged_at.map_or(at, |l| l.max(at)));
        }
        let pos = self.recent.partition_point(|r| r.at <= record.at);
        self.recent.insert(pos, record);
        while self.recent.len() > RECENT_ENGAGEMENTS {
            let evicted = self.recent.remove(0);
            self.older[evicted.kind.index()].add(HourOfWeek::at(evicted.instant(), tz), 1);
        }
    }

    /// An open within seconds of its own delivery: a mail client or privacy proxy, not a person.
    fn is_machine_open(&self, open: &EngagementRecord) -> bool {
        open.message.as_ref().is_some_and(|m| {
            self.recent.iter().any(|d| {
                d.kind == EngagementKind::Delivered
                    && d.message.as_ref() == Some(m)
                    && (0..=MACHINE_OPEN_SECS).contains(&(open.at - d.at))
            })
        })
    }

    pub fn total(&self, kind: EngagementKind) -> u64 {
        self.totals[kind.index()]
    }

    /// Counts of `kind` by hour of the local week in `tz`.
    pub fn by_hour(&self, kind: EngagementKind, tz: Tz) -> WeekCounts {
        let mut counts = self.older[kind.index()].clone();
        for r in self.recent.iter().filter(|r| r.kind == kind) {
            counts.add(HourOfWeek::at(r.instant(), tz), 1);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at: i64, kind: EngagementKind) -> EngagementRecord {
        EngagementRecord { at, kind, channel: Some(Channel::Email), message: None }
    }

    #[test]
    fn histogram_uses_the_zone_known_when_read() {
        let mut e = Engagement::default();
        // Monday 2026-01-05 14:00 UTC.
        e.record(rec(1_767_621_600, EngagementKind::Opened), chrono_tz::UTC);
        assert_eq!(e.by_hour(EngagementKind::Opened, chrono_tz::UTC).get(HourOfWeek::new(14).unwrap()), 1);
        let ny = e.by_hour(EngagementKind::Opened, chrono_tz::America::New_York);
        assert_eq!(ny.get(HourOfWeek::new(9).unwrap()), 1);
    }

    #[test]
    fn opens_right_after_delivery_barely_count() {
        let now = chrono::TimeZone::timestamp_opt(&Utc, 1_767_621_700, 0).unwrap();
        let msg = |kind, at, m: &str| EngagementRecord {
            at,
            kind,
            channel: Some(Channel::Email),
            message: Some(MessageId::new(m).unwrap()),
        };
        let mut e = Engagement::default();
        e.record(msg(EngagementKind::Delivered, 1_767_621_600, "a"), chrono_tz::UTC);
        e.record(msg(EngagementKind::Opened, 1_767_621_605, "a"), chrono_tz::UTC); // proxy prefetch
        assert!((e.attention.total_at(now) - Signal::MachineOpen.weight()).abs() < 0.01);
        e.record(msg(EngagementKind::Opened, 1_767_621_690, "a"), chrono_tz::UTC); // a person
        assert!((e.attention.total_at(now) - 1.1).abs() < 0.01);
        assert_eq!(e.total(EngagementKind::Opened), 2);
    }

    #[test]
    fn the_window_is_bounded_and_nothing_is_lost_from_the_counts() {
        let mut e = Engagement::default();
        for i in (0..200).rev() {
            e.record(rec(1_767_621_600 + i * 3600, EngagementKind::Clicked), chrono_tz::UTC);
        }
        assert_eq!(e.recent.len(), RECENT_ENGAGEMENTS);
        assert!(e.recent.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(e.by_hour(EngagementKind::Clicked, chrono_tz::UTC).total(), 200);
        assert_eq!(e.total(EngagementKind::Clicked), 200);
        assert_eq!(e.last_engaged_at.unwrap().timestamp(), 1_767_621_600 + 199 * 3600);
    }
}
