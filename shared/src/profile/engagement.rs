//! The engagement part of a profile: deliveries, opens, clicks and sessions, and the attention
//! they show.
//!
//! Attention is kept by hour of the UTC week ([`StoredAttention`]) and read in the customer's
//! current time zone, so a zone learnt after the signals still puts every one of them in the
//! right local hour, in any arrival order. Machine opens (an open within seconds of its own
//! delivery: a privacy proxy or prefetch) are told apart whichever of the two arrives first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::part::{PartMeta, ProfilePart};
use crate::attention::{MACHINE_OPEN_SECS, Signal, StoredAttention};
use crate::compact::{push_fixed, take_fixed, unix_secs_opt};
use crate::event::{Engagement as Action, Payload, ShopEvent};
use crate::hash::mixed64;
use crate::ids::MessageId;
use crate::keys::PartKind;
use crate::validate::FieldError;

/// Deliveries and opens remembered to tell machine opens apart: the newest this many...
pub const RECENT_TOUCHES: usize = 8;
/// ...within this many seconds of the newest.
const TOUCH_WINDOW_SECS: i64 = 7 * 86_400;

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

/// A delivery or open, remembered briefly by the hash of its message id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Touch {
    message: u64,
    at: i64,
    /// `d` a delivery, `o` an open counted as a person's, `x` an open counted as a machine's.
    kind: char,
}

/// Recent touches, packed as `<message: 8 digits><at: 6 digits><kind>` each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Touches(Vec<Touch>);

impl Touches {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Touches {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(self.0.len() * 15);
        for t in &self.0 {
            push_fixed(&mut out, t.message, 8);
            push_fixed(&mut out, t.at.max(0) as u64, 6);
            out.push(t.kind);
        }
        s.serialize_str(&out)
    }
}

impl<'de> Deserialize<'de> for Touches {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut rest = text.as_bytes();
        let mut touches = Vec::new();
        while !rest.is_empty() {
            let message = take_fixed(&mut rest, 8, "touches").map_err(serde::de::Error::custom)?;
            let at = take_fixed(&mut rest, 6, "touches").map_err(serde::de::Error::custom)? as i64;
            let kind = match rest.split_first() {
                Some((k @ (b'd' | b'o' | b'x'), tail)) => {
                    rest = tail;
                    char::from(*k)
                }
                _ => return Err(serde::de::Error::custom("packed touches: a touch has no kind d, o or x")),
            };
            touches.push(Touch { message, at, kind });
        }
        Ok(Touches(touches))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    #[serde(rename = "m", default)]
    pub meta: PartMeta,
    /// Lifetime counts per kind: delivered, opened, clicked, sessions.
    #[serde(rename = "n", default)]
    pub totals: [u64; 4],
    /// Of the opens, those a machine made (within seconds of their delivery): not a person
    /// reading, so not engagement.
    #[serde(rename = "x", default, skip_serializing_if = "is_zero")]
    machine_opens: u64,
    #[serde(rename = "e", default, with = "unix_secs_opt", skip_serializing_if = "Option::is_none")]
    pub last_engaged_at: Option<DateTime<Utc>>,
    /// When the customer pays attention, from engagement signals (purchases are added from the
    /// orders when read: [`super::Profile::attention`]).
    #[serde(rename = "a", default, skip_serializing_if = "StoredAttention::is_empty")]
    pub attention: StoredAttention,
    /// Recent deliveries and opens, oldest first.
    #[serde(rename = "r", default, skip_serializing_if = "Touches::is_empty")]
    touches: Touches,
}

fn message_hash(m: &MessageId) -> u64 {
    mixed64(m.as_str().as_bytes()) & 0xffff_ffff_ffff
}

impl ProfilePart for Engagement {
    const KIND: PartKind = PartKind::Engagement;

    super::part::part_meta!();

    fn apply(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
        match &event.payload {
            // An action (a review, a referral) says the customer is active at that hour, as a
            // session does; what it earns is the loyalty ledger's.
            Payload::SessionStarted(_) | Payload::ActionPerformed(_) => {
                self.record(at.timestamp(), EngagementKind::Session, None)
            }
            Payload::MessageEngaged(m) => {
                let kind = match m.action {
                    Action::Delivered => EngagementKind::Delivered,
                    Action::Opened => EngagementKind::Opened,
                    Action::Clicked => EngagementKind::Clicked,
                };
                self.record(at.timestamp(), kind, Some(&m.message_id));
            }
            _ => {}
        }
        Ok(())
    }
}

impl Engagement {
    /// Records one engagement at unix second `at`.
    pub fn record(&mut self, at: i64, kind: EngagementKind, message: Option<&MessageId>) {
        self.totals[kind.index()] += 1;
        let message = message.map(message_hash);
        match kind {
            EngagementKind::Delivered => {
                if let Some(m) = message {
                    // An open of this message that arrived first, within seconds after it: a
                    // machine's after all.
                    for t in self.touches.0.iter_mut().filter(|t| t.message == m && t.kind == 'o') {
                        if (0..=MACHINE_OPEN_SECS).contains(&(t.at - at)) {
                            self.attention.correct(t.at, Signal::Open, Signal::MachineOpen);
                            self.machine_opens += 1;
                            t.kind = 'x';
                        }
                    }
                    self.remember(Touch { message: m, at, kind: 'd' });
                }
            }
            EngagementKind::Opened => {
                let machine = message.is_some_and(|m| {
                    self.touches
                        .0
                        .iter()
                        .any(|t| t.message == m && t.kind == 'd' && (0..=MACHINE_OPEN_SECS).contains(&(at - t.at)))
                });
                self.attention.record(at, if machine { Signal::MachineOpen } else { Signal::Open });
                self.machine_opens += u64::from(machine);
                if let Some(m) = message {
                    self.remember(Touch { message: m, at, kind: if machine { 'x' } else { 'o' } });
                }
            }
            EngagementKind::Clicked => self.attention.record(at, Signal::Click),
            EngagementKind::Session => self.attention.record(at, Signal::Session),
        }
        if kind != EngagementKind::Delivered {
            let at = chrono::TimeZone::timestamp_opt(&Utc, at, 0).single().unwrap_or_default();
            self.last_engaged_at = Some(self.last_engaged_at.map_or(at, |l| l.max(at)));
        }
    }

    fn remember(&mut self, touch: Touch) {
        let touches = &mut self.touches.0;
        let pos = touches.partition_point(|t| (t.at, t.message) <= (touch.at, touch.message));
        touches.insert(pos, touch);
        let newest = touches.last().map_or(touch.at, |t| t.at);
        touches.retain(|t| newest - t.at <= TOUCH_WINDOW_SECS);
        let excess = touches.len().saturating_sub(RECENT_TOUCHES);
        touches.drain(..excess);
    }

    pub fn total(&self, kind: EngagementKind) -> u64 {
        self.totals[kind.index()]
    }

    /// Opens by a person: every open but those a machine made on delivery (a profile stored
    /// before machine opens were counted apart counts all of its opens).
    pub fn person_opens(&self) -> u64 {
        self.total(EngagementKind::Opened).saturating_sub(self.machine_opens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const T: i64 = 1_767_621_600; // Monday 2026-01-05 14:00 UTC

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(T + 100, 0).unwrap()
    }

    fn total_attention(e: &Engagement) -> f64 {
        e.attention.local(chrono_tz::UTC, now()).total_at(now())
    }

    #[test]
    fn opens_right_after_delivery_count_for_nothing_whichever_arrives_first() {
        let m = MessageId::new("a").unwrap();
        let mut delivered_first = Engagement::default();
        delivered_first.record(T, EngagementKind::Delivered, Some(&m));
        delivered_first.record(T + 5, EngagementKind::Opened, Some(&m)); // proxy prefetch
        let mut opened_first = Engagement::default();
        opened_first.record(T + 5, EngagementKind::Opened, Some(&m));
        opened_first.record(T, EngagementKind::Delivered, Some(&m));
        for e in [&delivered_first, &opened_first] {
            assert!(total_attention(e).abs() < 1e-9, "{}", total_attention(e));
            assert_eq!(e.attention.signals, 0, "a machine's open is not the customer's signal");
        }
        // A person opening later counts fully. (Seen 10 seconds later, a whisker decayed.)
        delivered_first.record(T + 90, EngagementKind::Opened, Some(&m));
        assert!((total_attention(&delivered_first) - Signal::Open.weight()).abs() < 1e-4);
        assert_eq!(delivered_first.attention.signals, 1);
        assert_eq!(delivered_first.total(EngagementKind::Opened), 2, "both opens are still counted as opens");
        assert_eq!(opened_first.person_opens(), 0, "a machine's open is no engagement");
        assert_eq!(delivered_first.person_opens(), 1);
        let back: Engagement = serde_json::from_value(serde_json::to_value(&delivered_first).unwrap()).unwrap();
        assert_eq!(back.person_opens(), 1, "kept when stored");
    }

    #[test]
    fn the_memory_of_deliveries_is_bounded() {
        let mut e = Engagement::default();
        for i in 0..200 {
            let m = MessageId::new(format!("m{i}")).unwrap();
            e.record(T + i * 3600, EngagementKind::Delivered, Some(&m));
        }
        assert_eq!(e.touches.0.len(), RECENT_TOUCHES);
        let back: Engagement = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back.touches, e.touches);
        assert_eq!(e.total(EngagementKind::Delivered), 200);
        assert!(e.last_engaged_at.is_none(), "deliveries are not engagement");
    }
}
