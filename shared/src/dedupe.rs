//! Which events a stored item has already applied.
//!
//! Every part of a profile remembers the ids of the events it applied recently, inside the item
//! itself. One conditional write then both applies new events and records them, so a redelivered
//! event is recognised by reading the item it would change, with no marker item per event and
//! no transaction (which DynamoDB bills twice).
//!
//! Ids are kept as 48-bit hashes, grouped by the minute they were applied in:
//! - every id is kept for at least [`MIN_KEEP`], longer than SQS can redeliver a message that
//!   was processed but not acknowledged (the queue's visibility timeout times its receive count);
//! - beyond that, the newest [`ROOM`] ids are kept for up to [`KEEP`], which covers duplicates
//!   from producers and EventBridge retries;
//! - a customer so busy that more than [`BURST`] ids arrive within [`MIN_KEEP`] (a shared guest
//!   id, a bot, a B2B account) cannot keep them all in one item: the oldest of those are
//!   returned by [`Seen::remember`] to be written as marker items beside it, in the same
//!   transaction, and [`Seen::check_markers`] says to look them up while they matter.
//!
//! Effects that are idempotent by nature (orders and refunds by id, contact details and consents
//! by their provenance) do not depend on this window: they are exact however late a duplicate
//! comes. Counters (views, sessions, engagement) are exact for duplicates within it.

use crate::compact::{PackError, push_fixed, take_fixed};
use crate::hash::mixed64;
use crate::ids::EventId;
use chrono::{DateTime, Utc};

/// Ids are never forgotten sooner than this after they were applied.
pub const MIN_KEEP_MINUTES: i64 = 20;
/// Ids are forgotten this long after they were applied.
pub const KEEP_MINUTES: i64 = 24 * 60;
/// Ids kept beyond [`MIN_KEEP_MINUTES`].
pub const ROOM: usize = 8;
/// Ids younger than [`MIN_KEEP_MINUTES`] one item holds before the oldest move to markers.
pub const BURST: usize = 48;

/// The hash an event id is remembered by: 48 bits, so a new event is taken for one of the (at
/// most [`BURST`]) remembered ones with odds of one in 5 × 10^12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdHash(u64);

impl IdHash {
    pub fn of(event: &EventId) -> IdHash {
        IdHash(mixed64(event.as_str().as_bytes()) & 0xffff_ffff_ffff)
    }

    /// As eight base-64 digits (for marker keys).
    pub fn text(self) -> String {
        let mut s = String::with_capacity(8);
        push_fixed(&mut s, self.0, 8);
        s
    }
}

/// The recently applied ids of one item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// (minute applied, ids), oldest first.
    groups: Vec<(i64, Vec<IdHash>)>,
    /// Until this minute, some ids applied by this item may be held in marker items.
    markers_until: i64,
}

fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

impl Seen {
    pub fn contains(&self, id: IdHash) -> bool {
        self.groups.iter().any(|(_, ids)| ids.contains(&id))
    }

    /// Whether ids this item applied may be in marker items that must be looked up too.
    pub fn check_markers(&self, now: DateTime<Utc>) -> bool {
        self.markers_until >= minute(now)
    }

    pub fn len(&self) -> usize {
        self.groups.iter().map(|(_, ids)| ids.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers `ids` as applied at `now` and forgets what the rules above allow. Returns the
    /// ids that must be kept outside the item (as markers), oldest first; usually none.
    pub fn remember(&mut self, ids: &[IdHash], now: DateTime<Utc>) -> Vec<IdHash> {
        let now_minute = minute(now);
        if !ids.is_empty() {
            match self.groups.last_mut() {
                Some((m, group)) if *m == now_minute => group.extend_from_slice(ids),
                _ => self.groups.push((now_minute, ids.to_vec())),
            }
            // Within a minute, in hash order: the same ids in any arrival order give the same item.
            if let Some((_, group)) = self.groups.last_mut() {
                group.sort_unstable();
            }
        }
        self.groups.retain(|(m, _)| *m > now_minute - KEEP_MINUTES);
        let young = |m: i64| m > now_minute - MIN_KEEP_MINUTES;
        // Old ids beyond the room, oldest first.
        let mut excess = self.len().saturating_sub(ROOM);
        for (m, group) in self.groups.iter_mut() {
            if excess == 0 || young(*m) {
                break;
            }
            let drop = excess.min(group.len());
            group.drain(..drop);
            excess -= drop;
        }
        self.groups.retain(|(_, g)| !g.is_empty());
        // Young ids beyond the burst allowance move out, oldest first.
        let young_count: usize = self.groups.iter().filter(|(m, _)| young(*m)).map(|(_, g)| g.len()).sum();
        let mut spill_count = young_count.saturating_sub(BURST);
        let mut spilled = Vec::with_capacity(spill_count);
        for (m, group) in self.groups.iter_mut() {
            if spill_count == 0 {
                break;
            }
            if !young(*m) {
                // An old group is only still here if the room allowed it; it is not counted.
                continue;
            }
            let take = spill_count.min(group.len());
            spilled.extend(group.drain(..take));
            spill_count -= take;
        }
        self.groups.retain(|(_, g)| !g.is_empty());
        if !spilled.is_empty() {
            self.markers_until = now_minute + MIN_KEEP_MINUTES;
        }
        spilled
    }
}

impl From<Seen> for String {
    fn from(s: Seen) -> String {
        s.packed()
    }
}

impl Seen {
    /// `<markers until: 5 digits>` then per group `<minute: 5><count: 2><ids: 8 each>`.
    pub(crate) fn packed(&self) -> String {
        let s = self;
        let mut out = String::with_capacity(5 + s.groups.len() * 7 + s.len() * 8);
        push_fixed(&mut out, s.markers_until.max(0) as u64, 5);
        for (m, ids) in &s.groups {
            // A minute holds at most 4,095 ids per group; more (never seen in practice) start
            // another group of the same minute.
            for chunk in ids.chunks(4095) {
                push_fixed(&mut out, (*m).max(0) as u64, 5);
                push_fixed(&mut out, chunk.len() as u64, 2);
                chunk.iter().for_each(|id| push_fixed(&mut out, id.0, 8));
            }
        }
        out
    }
}

impl TryFrom<String> for Seen {
    type Error = PackError;
    fn try_from(text: String) -> Result<Self, PackError> {
        let mut rest = text.as_bytes();
        let markers_until = take_fixed(&mut rest, 5, "seen ids")? as i64;
        let mut groups: Vec<(i64, Vec<IdHash>)> = Vec::new();
        while !rest.is_empty() {
            let m = take_fixed(&mut rest, 5, "seen ids")? as i64;
            let n = take_fixed(&mut rest, 2, "seen ids")? as usize;
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(IdHash(take_fixed(&mut rest, 8, "seen ids")?));
            }
            match groups.last_mut() {
                Some((last, group)) if *last == m => group.extend(ids),
                _ => groups.push((m, ids)),
            }
        }
        Ok(Seen { groups, markers_until })
    }
}

crate::compact::serde_as_packed_text!(Seen);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn id(n: usize) -> IdHash {
        IdHash::of(&EventId::new(format!("evt-{n}")).unwrap())
    }

    #[test]
    fn ids_are_kept_for_the_minimum_window_and_then_within_the_room() {
        let mut s = Seen::default();
        let ids: Vec<IdHash> = (0..40).map(id).collect();
        assert!(s.remember(&ids, t0()).is_empty(), "40 young ids fit the burst allowance");
        assert!(ids.iter().all(|i| s.contains(*i)));
        // Nineteen minutes later all are still remembered; at twenty-one only the room is.
        s.remember(&[], t0() + Duration::minutes(19));
        assert_eq!(s.len(), 40);
        s.remember(&[id(100)], t0() + Duration::minutes(21));
        assert_eq!(s.len(), ROOM);
        assert!(s.contains(id(100)) && s.contains(id(39)) && !s.contains(id(0)));
        // A day later nothing is.
        s.remember(&[], t0() + Duration::minutes(KEEP_MINUTES + 25));
        assert!(s.is_empty());
    }

    #[test]
    fn a_burst_beyond_the_allowance_spills_its_oldest_ids_to_markers() {
        let mut s = Seen::default();
        let first: Vec<IdHash> = (0..BURST).map(id).collect();
        assert!(s.remember(&first, t0()).is_empty());
        assert!(!s.check_markers(t0()));
        let spilled = s.remember(&[id(1000), id(1001)], t0() + Duration::seconds(90));
        // Two of the oldest minute's ids move out; the newest stay.
        assert_eq!(spilled.len(), 2);
        assert!(spilled.iter().all(|i| first.contains(i) && !s.contains(*i)));
        assert!(s.contains(id(1000)) && s.contains(id(1001)));
        assert_eq!(s.len(), BURST);
        assert!(s.check_markers(t0() + Duration::minutes(15)));
        assert!(!s.check_markers(t0() + Duration::minutes(30)));
    }

    #[test]
    fn corrupt_text_is_an_error() {
        assert!(Seen::try_from("AAAA".to_string()).is_err());
        assert!(Seen::try_from("AAAAAAAAAAAC".to_string()).unwrap_err().problem.contains("early"));
    }

    proptest! {
        #[test]
        fn seen_round_trips(batches in prop::collection::vec((0_i64..3000, 0_usize..30), 0..40)) {
            let mut s = Seen::default();
            let mut n = 0;
            let mut at = t0();
            for (gap, count) in batches {
                at += Duration::seconds(gap);
                let ids: Vec<IdHash> = (n..n + count).map(id).collect();
                n += count;
                s.remember(&ids, at);
                prop_assert!(s.len() <= ROOM.max(BURST));
            }
            let back = Seen::try_from(String::from(s.clone())).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
