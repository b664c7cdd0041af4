//! Tiers: qualified over a rolling window of calendar months in the member's zone, reached as
//! soon as the window qualifies, left only after the grace period the program gives.

use chrono::{DateTime, NaiveDate, Utc};

use super::ledger::{Account, LoyaltyEvent, Month, MonthTally, TierState};
use super::program::{QualifyBy, Tier, Tiers};

/// What the window holds for tiers on `today` (member's zone): points earned, or whole units of
/// spend, in this month and the `window_months - 1` before it.
pub fn qualifying(account: &Account, tiers: &Tiers, today: NaiveDate) -> u64 {
    let now = Month::of(today);
    let first = now.plus(1 - tiers.window_months.max(1) as i32);
    let tallies = account.months.iter().filter(|t| t.month >= first && t.month <= now);
    let total: i128 = match tiers.qualify_by {
        QualifyBy::Points => tallies.map(|t| i128::from(t.points)).sum(),
        QualifyBy::Spend => tallies.map(|t| i128::from(t.spend_micros)).sum::<i128>() / 1_000_000,
    };
    total.max(0).min(i128::from(u64::MAX)) as u64
}

/// Adds to (or, negative, takes from) the tally of `month`, keeping only months a window of
/// `keep` months can still reach.
pub fn tally(account: &mut Account, month: Month, points: i64, spend_micros: i64, keep: u32, today: NaiveDate) {
    match account.months.iter_mut().find(|t| t.month == month) {
        Some(t) => {
            t.points = t.points.saturating_add(points);
            t.spend_micros = t.spend_micros.saturating_add(spend_micros);
        }
        None => {
            account.months.push(MonthTally { month, points, spend_micros });
            account.months.sort_by_key(|t| t.month);
        }
    }
    let oldest = Month::of(today).plus(1 - keep.max(1) as i32);
    account.months.retain(|t| t.month >= oldest);
}

/// The highest tier `qualifying` reaches.
pub fn reached(tiers: &Tiers, qualifying: u64) -> Option<&Tier> {
    tiers.levels.iter().rev().find(|t| qualifying >= t.min)
}

fn index(tiers: &Tiers, id: &str) -> Option<usize> {
    tiers.levels.iter().position(|t| t.id.as_str() == id)
}

/// Moves the member's tier to what the window says on `today`: up at once, down only after the
/// grace period (one level at a time if the program says so; never, if `downgrade` is false, as
/// when points are earned). Records a `tier_changed` event when it moves. A tier the program no
/// longer has counts as its lowest.
pub fn evaluate(account: &mut Account, tiers: &Tiers, today: NaiveDate, now: DateTime<Utc>, downgrade: bool) -> bool {
    let q = qualifying(account, tiers, today);
    let Some(target) = reached(tiers, q) else { return false };
    let target_index = index(tiers, target.id.as_str()).unwrap_or(0);
    let current = account.tier.as_ref().and_then(|t| index(tiers, &t.id));
    let next = match current {
        None => Some(target_index),
        Some(c) if target_index > c => Some(target_index),
        Some(c) if target_index == c => {
            if let Some(t) = account.tier.as_mut() {
                t.below_since = None;
            }
            None
        }
        Some(c) => {
            if !downgrade {
                None
            } else {
                let since = account.tier.as_ref().and_then(|t| t.below_since).unwrap_or(today);
                if let Some(t) = account.tier.as_mut() {
                    t.below_since = Some(since);
                }
                let waited = (today - since).num_days();
                (waited >= i64::from(tiers.downgrade.grace_days))
                    .then(|| if tiers.downgrade.one_level_at_a_time { c - 1 } else { target_index })
            }
        }
    };
    let Some(next) = next else { return false };
    let to = tiers.levels[next].id.to_string();
    let from = account.tier.as_ref().map(|t| t.id.clone());
    if from.as_deref() == Some(to.as_str()) {
        return false;
    }
    // Still below the new (lower) tier's minimum: its grace starts now.
    let below_since = (q < tiers.levels[next].min).then_some(today);
    account.tier = Some(TierState { id: to.clone(), since: today, below_since });
    account.push_event(LoyaltyEvent::TierChanged { from, to, at: now });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::program::{Downgrade, Tier};

    fn tiers(grace: u32, one: bool) -> Tiers {
        let t = |id: &str, min| Tier {
            id: crate::ids::Ident::new(id).unwrap(),
            name: id.into(),
            min,
            earn_multiplier: None,
            early_access: false,
        };
        Tiers {
            qualify_by: QualifyBy::Points,
            window_months: 3,
            levels: vec![t("member", 0), t("silver", 100), t("gold", 500)],
            downgrade: Downgrade { grace_days: grace, one_level_at_a_time: one },
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn up_at_once_down_after_the_grace_period_as_months_leave_the_window() {
        let t = tiers(10, false);
        let now = Utc::now();
        let mut a = Account::new("p");
        tally(&mut a, Month::of(day(2026, 1, 15)), 600, 0, 3, day(2026, 1, 15));
        assert!(evaluate(&mut a, &t, day(2026, 1, 15), now, false));
        assert_eq!(a.tier.as_ref().unwrap().id, "gold");
        // March: January is still in the three-month window.
        assert!(!evaluate(&mut a, &t, day(2026, 3, 31), now, true));
        // April: it left; the grace period starts.
        assert!(!evaluate(&mut a, &t, day(2026, 4, 1), now, true));
        assert_eq!(a.tier.as_ref().unwrap().below_since, Some(day(2026, 4, 1)));
        assert!(!evaluate(&mut a, &t, day(2026, 4, 10), now, true));
        assert!(evaluate(&mut a, &t, day(2026, 4, 11), now, true));
        assert_eq!(a.tier.as_ref().unwrap().id, "member", "straight to what the window qualifies for");
        assert_eq!(a.events.len(), 2);
    }

    #[test]
    fn one_level_at_a_time_and_a_recovery_clears_the_grace() {
        let t = tiers(0, true);
        let now = Utc::now();
        let mut a = Account::new("p");
        tally(&mut a, Month::of(day(2026, 1, 15)), 600, 0, 3, day(2026, 1, 15));
        evaluate(&mut a, &t, day(2026, 1, 15), now, true);
        assert!(evaluate(&mut a, &t, day(2026, 4, 1), now, true));
        assert_eq!(a.tier.as_ref().unwrap().id, "silver");
        tally(&mut a, Month::of(day(2026, 4, 2)), 150, 0, 3, day(2026, 4, 2));
        assert!(!evaluate(&mut a, &t, day(2026, 4, 2), now, true));
        assert_eq!(a.tier.as_ref().unwrap().below_since, None);
    }
}
