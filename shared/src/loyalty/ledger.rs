//! The points ledger: append-only entries and the balances they add up to.
//!
//! An [`Account`] is the projection: points pending (earned, inside the return window) by the
//! day they are released, points active (spendable) by the month they were earned, running
//! totals, the tier and what the member is being told. Every change of it is an [`Entry`] that
//! says what moved where and why (earn, release, redeem, expire, reverse, adjust), and the two
//! are written in one atomic write: the entries of an account always add up to its balances
//! ([`Account::check_sums`]).
//!
//! Lots are bounded by the program, never by history: pending lots by release day (at most the
//! return window's days), active lots by month earned (at most the expiry's months, or a decade's
//! when points never expire), so a member of thirty years has an account of the same size as one
//! of a month. Spending and expiry take the oldest points first.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Points are whole numbers; balances never go below zero.
pub type Points = i64;

/// Most points one entry may move: far beyond any program, and exactly storable.
pub const MAX_POINTS: Points = 1_000_000_000_000_000;

/// A calendar month, written `2026-11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(day: NaiveDate) -> Month {
        Month { year: day.year(), month: day.month() }
    }

    /// The month `n` months later (earlier for negative `n`).
    pub fn plus(self, n: i32) -> Month {
        let index = self.year * 12 + self.month as i32 - 1 + n;
        Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = text.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)));
        match parsed {
            Some((year, month)) if (1..=12).contains(&month) && (1..=9999).contains(&year) => Ok(Month { year, month }),
            _ => Err(serde::de::Error::custom("a month must be written YYYY-MM")),
        }
    }
}

/// Points earned in `earned` and pending until `release_on` (00:00 UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLot {
    #[serde(rename = "r")]
    pub release_on: NaiveDate,
    #[serde(rename = "m")]
    pub earned: Month,
    #[serde(rename = "p")]
    pub points: Points,
}

/// Spendable points earned in `earned`, gone from `expires_on` (00:00 UTC) if set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveLot {
    #[serde(rename = "m")]
    pub earned: Month,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
    #[serde(rename = "p")]
    pub points: Points,
}

/// How many points ever moved each way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    #[serde(default)]
    pub earned: Points,
    #[serde(default)]
    pub released: Points,
    #[serde(default)]
    pub redeemed: Points,
    #[serde(default)]
    pub expired: Points,
    #[serde(default)]
    pub reversed: Points,
    /// Adjustments by staff, added (positive) or taken (negative).
    #[serde(default)]
    pub adjusted: Points,
    /// Points a refund should have taken back but the member had already spent.
    #[serde(default)]
    pub shortfall: Points,
}

/// Points and spend (in the program's currency, millionths) one calendar month brought, in the
/// member's zone: what tiers qualify on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthTally {
    #[serde(rename = "m")]
    pub month: Month,
    #[serde(rename = "p", default)]
    pub points: Points,
    #[serde(rename = "s", default)]
    pub spend_micros: i64,
}

/// The member's tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState {
    pub id: String,
    pub since: NaiveDate,
    /// The first day the window stopped qualifying for this tier (downgrades wait out the
    /// grace period from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_since: Option<NaiveDate>,
}

/// The next points to expire, once they are within the notice period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiring {
    pub on: NaiveDate,
    pub points: Points,
}

/// A personal offer the member holds: purchases earn more while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOffer {
    pub id: String,
    pub name: String,
    /// In millionths (2,000,000: double).
    pub multiplier: i64,
    /// Only lines of this category (any, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub from: NaiveDate,
    /// The last day it applies (in the member's zone).
    pub until: NaiveDate,
}

/// When an offer was last given (for its cooldown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offered {
    pub id: String,
    pub on: NaiveDate,
}

/// Something that happened to the account that campaigns react to (through the table's stream).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LoyaltyEvent {
    TierChanged { from: Option<String>, to: String, at: DateTime<Utc> },
    PointsExpiring { on: NaiveDate, points: Points, at: DateTime<Utc> },
}

/// Orders with a refund waiting for them an account remembers (beyond: every order looks).
pub const MAX_AWAITING: usize = 64;

/// Monthly lots of points that never expire kept apart before the oldest are merged.
pub const MAX_OPEN_LOTS: usize = 24;

/// Events an account keeps (the stream reports each write; older ones are only history).
pub const KEPT_EVENTS: usize = 8;

/// A member's account: the projection every entry is written with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub program: String,
    /// Entries written so far (the next one's number).
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingLot>,
    /// Oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ActiveLot>,
    #[serde(default)]
    pub totals: Totals,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<MonthTally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<TierState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring: Option<Expiring>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<HeldOffer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<Offered>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<LoyaltyEvent>,
    /// Orders (by digest) a refund came for before the order did: their earn takes it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<String>,
    /// More orders await refunds than are remembered: every order looks for waiting refunds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_overflow: bool,
    /// The member's time zone (IANA), as their profile last said: months for tiers and days
    /// for offers are theirs. The nightly job keeps it current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Whether the program has decided if an order was the member's first (the bonus is given
    /// or not, once): later orders need not read the order history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_order_settled: bool,
    /// The year of the last birthday bonus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_bonus: Option<i32>,
}

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points earned (pending through the return window, or active at once for bonuses).
    Earn,
    /// Pending points became spendable.
    Release,
    Redeem,
    Expire,
    /// A refund took points back.
    Reverse,
    /// Staff added or took points.
    Adjust,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Earn => "earn",
            EntryKind::Release => "release",
            EntryKind::Redeem => "redeem",
            EntryKind::Expire => "expire",
            EntryKind::Reverse => "reverse",
            EntryKind::Adjust => "adjust",
        }
    }
}

/// Points one lot gained (positive) or lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotChange {
    /// `pending 2026-12-31 (earned 2026-11)` or `2026-11`.
    pub lot: String,
    pub points: Points,
}

/// Points one earn rule gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    pub rule: String,
    pub points: Points,
}

/// One entry of the ledger. Immutable once written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    pub program: String,
    /// What caused it, in words: `order ord-1`, `refund r-1 of order ord-1`, `birthday 2026`.
    pub cause: String,
    /// Change of the pending balance.
    pub pending: Points,
    /// Change of the active balance.
    pub active: Points,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<LotChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awards: Vec<Award>,
    /// A reversal's points the member had already spent (not taken).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shortfall: Points,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For an earn from an order: what a later refund is valued against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<super::earn::OrderBasis>,
    /// For a redemption: what was given, and the answer a repeated request gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redemption: Option<super::redeem::Redemption>,
    /// For an adjustment: who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A refund that came before its order earned: kept to be taken from the order when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<crate::event::OrderRefunded>,
}

fn is_zero(p: &Points) -> bool {
    *p == 0
}

impl Entry {
    pub fn new(kind: EntryKind, program: &str, cause: String, at: DateTime<Utc>) -> Entry {
        Entry {
            seq: 0,
            at,
            kind,
            program: program.to_string(),
            cause,
            pending: 0,
            active: 0,
            lots: Vec::new(),
            awards: Vec::new(),
            shortfall: 0,
            note: None,
            basis: None,
            redemption: None,
            actor: None,
            refund: None,
        }
    }
}

/// The active balance does not cover a cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the active balance is {active} points; {cost} are needed")]
pub struct Insufficient {
    pub active: Points,
    pub cost: Points,
}

fn pending_name(lot: &PendingLot) -> String {
    format!("pending {} (earned {})", lot.release_on, lot.earned)
}

/// The day pending lots of points earned at `at` are released: after `pending_days` whole days.
pub fn release_day(at: DateTime<Utc>, pending_days: u32) -> NaiveDate {
    at.date_naive() + Duration::days(i64::from(pending_days) + 1)
}

/// The day points earned in `earned` expire (the month after the `months`-th month after it).
pub fn expiry_day(earned: Month, months: Option<u32>) -> Option<NaiveDate> {
    months.map(|m| earned.plus(m as i32 + 1).first_day())
}

impl Account {
    pub fn new(program: &str) -> Account {
        Account { program: program.to_string(), ..Account::default() }
    }

    /// The member's zone (UTC until their profile says).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.zone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC)
    }

    pub fn pending_points(&self) -> Points {
        self.pending.iter().map(|l| l.points).sum()
    }

    pub fn active_points(&self) -> Points {
        self.active.iter().map(|l| l.points).sum()
    }

    /// Gives `entry` the next number and adds its changes to the totals.
    pub fn number(&mut self, entry: &mut Entry) {
        entry.seq = self.seq;
        self.seq += 1;
    }

    /// Adds pending points (released on `release_on`), or active ones if that day has come.
    pub fn add_pending(&mut self, release_on: NaiveDate, earned: Month, points: Points, entry: &mut Entry) {
        if points == 0 {
            return;
        }
        match self.pending.iter_mut().find(|l| l.release_on == release_on && l.earned == earned) {
            Some(lot) => lot.points += points,
            None => {
                self.pending.push(PendingLot { release_on, earned, points });
                self.pending.sort_by_key(|l| (l.release_on, l.earned));
            }
        }
        entry.pending += points;
        entry.lots.push(LotChange { lot: pending_name(&PendingLot { release_on, earned, points }), points });
    }

    /// Adds active points to the lot of the month they were earned in.
    pub fn add_active(&mut self, earned: Month, expires_on: Option<NaiveDate>, points: Points, entry: &mut Entry) {
        if points == 0 {
            return;
        }
        match self.active.iter_mut().find(|l| l.earned == earned) {
            Some(lot) => lot.points += points,
            None => {
                self.active.push(ActiveLot { earned, expires_on, points });
                self.active.sort_by_key(|l| (l.expires_on.unwrap_or(NaiveDate::MAX), l.earned));
                // Points that never expire are only ever spent oldest first: past a couple of
                // years of monthly lots, the oldest two become one (decades stay one item).
                while self.active.len() > MAX_OPEN_LOTS && self.active[0].expires_on.is_none() {
                    let oldest = self.active.remove(0);
                    self.active[0].points += oldest.points;
                    self.active[0].earned = oldest.earned;
                }
            }
        }
        entry.active += points;
        entry.lots.push(LotChange { lot: earned.to_string(), points });
    }

    /// Takes up to `points` active points, oldest lots first (`first`, if given, before them);
    /// what it took.
    fn take_active(&mut self, mut points: Points, first: Option<Month>, entry: &mut Entry) -> Points {
        let mut order: Vec<usize> = (0..self.active.len()).collect();
        if let Some(m) = first {
            order.sort_by_key(|&i| self.active[i].earned != m);
        }
        let mut taken = 0;
        for i in order {
            if points == 0 {
                break;
            }
            let lot = &mut self.active[i];
            let t = lot.points.min(points);
            if t > 0 {
                lot.points -= t;
                points -= t;
                taken += t;
                entry.active -= t;
                entry.lots.push(LotChange { lot: lot.earned.to_string(), points: -t });
            }
        }
        self.active.retain(|l| l.points > 0);
        taken
    }

    fn take_pending(&mut self, mut points: Points, first: Option<(NaiveDate, Month)>, entry: &mut Entry) -> Points {
        let mut order: Vec<usize> = (0..self.pending.len()).collect();
        if let Some(key) = first {
            order.sort_by_key(|&i| (self.pending[i].release_on, self.pending[i].earned) != key);
        }
        let mut taken = 0;
        for i in order {
            if points == 0 {
                break;
            }
            let lot = &mut self.pending[i];
            let t = lot.points.min(points);
            if t > 0 {
                lot.points -= t;
                points -= t;
                taken += t;
                entry.pending -= t;
                entry.lots.push(LotChange { lot: pending_name(lot), points: -t });
            }
        }
        self.pending.retain(|l| l.points > 0);
        taken
    }

    /// Spends `cost` active points, oldest first, or refuses without changing anything.
    pub fn redeem(&mut self, cost: Points, entry: &mut Entry) -> Result<(), Insufficient> {
        let active = self.active_points();
        if active < cost {
            return Err(Insufficient { active, cost });
        }
        let taken = self.take_active(cost, None, entry);
        self.totals.redeemed += taken;
        Ok(())
    }

    /// Takes back `points` a refund reverses: from the order's own lot (pending, or active once
    /// released), then other active points oldest first, then other pending ones. What cannot be
    /// taken (already spent) is the entry's shortfall.
    pub fn reverse(&mut self, points: Points, own: (NaiveDate, Month), entry: &mut Entry) {
        let mut left = points;
        left -= self.take_pending(left.min(self.own_pending(own)), Some(own), entry);
        left -= self.take_active(left, Some(own.1), entry);
        left -= self.take_pending(left, None, entry);
        let taken = points - left;
        self.totals.reversed += taken;
        self.totals.shortfall += left;
        entry.shortfall += left;
    }

    fn own_pending(&self, own: (NaiveDate, Month)) -> Points {
        self.pending.iter().filter(|l| (l.release_on, l.earned) == own).map(|l| l.points).sum()
    }

    /// Staff add (positive) or take (negative) active points; a take beyond the balance takes
    /// what there is and records the rest as shortfall.
    pub fn adjust(&mut self, points: Points, earned: Month, expires_on: Option<NaiveDate>, entry: &mut Entry) {
        if points >= 0 {
            self.add_active(earned, expires_on, points, entry);
            self.totals.adjusted += points;
        } else {
            let taken = self.take_active(-points, None, entry);
            self.totals.adjusted -= taken;
            entry.shortfall += -points - taken;
            self.totals.shortfall += -points - taken;
        }
    }

    /// Releases the pending lots due at `now` and expires the active lots due: what is owed at
    /// `now`, whoever writes the account next. At most two entries (one release, one expiry,
    /// each listing its lots), however long nobody wrote the account. Each is named by its place
    /// in the ledger (`seq:<n>`): the account's version condition makes each settlement happen
    /// once, and a later one (a late order's lot released into a month settled before) is a
    /// new entry, never a clash with an old one.
    pub fn settle(&mut self, program: &str, expiry_months: Option<u32>, now: DateTime<Utc>) -> Vec<(String, Entry)> {
        let today = now.date_naive();
        let mut out = Vec::new();
        let due: Vec<PendingLot> = self.pending.iter().filter(|l| l.release_on <= today).cloned().collect();
        if !due.is_empty() {
            let last = due.iter().map(|l| l.release_on).max().unwrap_or(today);
            let mut entry =
                Entry::new(EntryKind::Release, program, format!("release of points pending until {last}"), now);
            self.pending.retain(|l| l.release_on > today);
            for lot in due {
                entry.pending -= lot.points;
                entry.lots.push(LotChange { lot: pending_name(&lot), points: -lot.points });
                self.totals.released += lot.points;
                self.add_active(lot.earned, expiry_day(lot.earned, expiry_months), lot.points, &mut entry);
            }
            self.number(&mut entry);
            out.push((format!("seq:{}", entry.seq), entry));
        }
        let due: Vec<ActiveLot> =
            self.active.iter().filter(|l| l.expires_on.is_some_and(|d| d <= today)).cloned().collect();
        if !due.is_empty() {
            let months: Vec<String> = due.iter().map(|l| l.earned.to_string()).collect();
            let mut entry = Entry::new(
                EntryKind::Expire,
                program,
                format!("expiry of points earned in {}", months.join(", ")),
                now,
            );
            self.active.retain(|l| !l.expires_on.is_some_and(|d| d <= today));
            for lot in due {
                entry.active -= lot.points;
                entry.lots.push(LotChange { lot: lot.earned.to_string(), points: -lot.points });
                self.totals.expired += lot.points;
            }
            self.number(&mut entry);
            out.push((format!("seq:{}", entry.seq), entry));
        }
        if self.expiring.as_ref().is_some_and(|e| e.on <= today) {
            self.expiring = None;
        }
        out
    }

    /// Whether the balances are what the totals say they should be (and never negative).
    pub fn consistent(&self) -> bool {
        let t = &self.totals;
        let held = self.pending_points() + self.active_points();
        let expected = t.earned + t.adjusted - t.redeemed - t.expired - t.reversed;
        self.pending.iter().all(|l| l.points > 0) && self.active.iter().all(|l| l.points > 0) && held == expected
    }

    /// Checks that `entries` (every entry of the account) add up to its balances: the pending
    /// and active changes they record sum to the balances held, and none is missing.
    pub fn check_sums(&self, entries: &[Entry]) -> Result<(), String> {
        let pending: Points = entries.iter().map(|e| e.pending).sum();
        let active: Points = entries.iter().map(|e| e.active).sum();
        if pending != self.pending_points() || active != self.active_points() {
            return Err(format!(
                "entries add up to {pending} pending and {active} active; the account holds {} and {}",
                self.pending_points(),
                self.active_points()
            ));
        }
        let mut seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        if seqs != (0..self.seq).collect::<Vec<_>>() {
            return Err(format!("the account numbered {} entries; {} are held", self.seq, entries.len()));
        }
        Ok(())
    }

    /// Remembers a loyalty event (the latest few).
    pub fn push_event(&mut self, event: LoyaltyEvent) {
        self.events.push(event);
        if self.events.len() > KEPT_EVENTS {
            let extra = self.events.len() - KEPT_EVENTS;
            self.events.drain(..extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn entry(kind: EntryKind, now: DateTime<Utc>) -> Entry {
        Entry::new(kind, "p", "test".into(), now)
    }

    #[test]
    fn months_count_across_years() {
        let m = Month { year: 2026, month: 11 };
        assert_eq!(m.plus(2).to_string(), "2027-01");
        assert_eq!(m.plus(-11).to_string(), "2025-12");
        assert_eq!(expiry_day(Month { year: 2026, month: 1 }, Some(12)), NaiveDate::from_ymd_opt(2027, 2, 1));
        assert_eq!(serde_json::from_str::<Month>("\"2026-13\"").is_err(), true);
    }

    #[test]
    fn release_and_expiry_happen_at_their_day_first_in_first_out() {
        let mut a = Account::new("p");
        let jan = at(2026, 1, 10);
        let mut e = entry(EntryKind::Earn, jan);
        a.add_pending(release_day(jan, 30), Month::of(jan.date_naive()), 100, &mut e);
        a.totals.earned += 100;
        let release = release_day(jan, 30);
        assert_eq!(release, NaiveDate::from_ymd_opt(2026, 2, 10).unwrap());
        // The evening before: still pending.
        assert!(a.settle("p", Some(1), Utc.with_ymd_and_hms(2026, 2, 9, 23, 59, 59).unwrap()).is_empty());
        let released = a.settle("p", Some(1), Utc.with_ymd_and_hms(2026, 2, 10, 0, 0, 0).unwrap());
        assert_eq!(released.len(), 1);
        assert_eq!((a.pending_points(), a.active_points()), (0, 100));
        // Earned in January, one month of validity: gone on 1 March.
        let mut e = entry(EntryKind::Earn, at(2026, 2, 20));
        a.add_active(Month { year: 2026, month: 2 }, expiry_day(Month { year: 2026, month: 2 }, Some(1)), 50, &mut e);
        a.totals.earned += 50;
        let mut spend = entry(EntryKind::Redeem, at(2026, 2, 21));
        a.redeem(120, &mut spend).unwrap();
        assert_eq!(
            spend.lots,
            vec![LotChange { lot: "2026-01".into(), points: -100 }, LotChange { lot: "2026-02".into(), points: -20 }]
        );
        let expired = a.settle("p", Some(1), at(2026, 3, 1));
        assert_eq!(expired.len(), 0, "the January lot was spent");
        let expired = a.settle("p", Some(1), at(2026, 4, 1));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].1.active, -30);
        assert!(a.consistent());
    }

    #[test]
    fn a_reversal_takes_what_is_left_and_records_the_shortfall() {
        let mut a = Account::new("p");
        let now = at(2026, 1, 10);
        let m = Month::of(now.date_naive());
        let mut e = entry(EntryKind::Earn, now);
        a.add_active(m, None, 100, &mut e);
        a.totals.earned += 100;
        a.redeem(80, &mut entry(EntryKind::Redeem, now)).unwrap();
        let mut rev = entry(EntryKind::Reverse, now);
        a.reverse(100, (release_day(now, 0), m), &mut rev);
        assert_eq!((rev.active, rev.shortfall), (-20, 80));
        assert_eq!(a.active_points(), 0);
        assert!(a.consistent());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Earn(i64, u32),
        Redeem(i64),
        Reverse(i64, u32),
        Adjust(i64),
        Settle(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1..5_000_i64, 0..400_u32).prop_map(|(p, d)| Op::Earn(p, d)),
            (1..5_000_i64).prop_map(Op::Redeem),
            (1..5_000_i64, 0..400_u32).prop_map(|(p, d)| Op::Reverse(p, d)),
            (-3_000..3_000_i64).prop_map(Op::Adjust),
            (0..400_u32).prop_map(Op::Settle),
        ]
    }

    proptest! {
        /// Whatever happens, balances never go negative and the entries add up to them.
        #[test]
        fn entries_always_add_up_to_the_balances(ops in proptest::collection::vec(op(), 1..60), pending_days in 0..40_u32, months in proptest::option::of(1..24_u32)) {
            let start = at(2026, 1, 1);
            let mut a = Account::new("p");
            let mut entries = Vec::new();
            let mut day = 0_u32;
            for op in ops {
                let now = start + Duration::days(i64::from(day));
                let mut e = entry(EntryKind::Adjust, now);
                match op {
                    Op::Earn(p, d) => {
                        let earned = start + Duration::days(i64::from(d.min(day)));
                        e.kind = EntryKind::Earn;
                        a.add_pending(release_day(earned, pending_days), Month::of(earned.date_naive()), p, &mut e);
                        a.totals.earned += p;
                    }
                    Op::Redeem(p) => { let _ = a.redeem(p, &mut e); }
                    Op::Reverse(p, d) => {
                        let earned = start + Duration::days(i64::from(d.min(day)));
                        a.reverse(p, (release_day(earned, pending_days), Month::of(earned.date_naive())), &mut e);
                    }
                    Op::Adjust(p) => a.adjust(p, Month::of(now.date_naive()), expiry_day(Month::of(now.date_naive()), months), &mut e),
                    Op::Settle(d) => {
                        day += d;
                        let now = start + Duration::days(i64::from(day));
                        entries.extend(a.settle("p", months, now).into_iter().map(|(_, e)| e));
                        continue;
                    }
                }
                a.number(&mut e);
                entries.push(e);
                prop_assert!(a.consistent(), "{a:?}");
            }
            prop_assert!(a.pending_points() >= 0 && a.active_points() >= 0);
            prop_assert_eq!(a.check_sums(&entries), Ok(()));
        }
    }
}
