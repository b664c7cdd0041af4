//! The member's account as templates see it (`loyalty.*`, and `customer.tier` / `.points`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ledger::Account;
use super::program::Program;
use super::{offers, tier};
use crate::content::locale::Style;
use crate::content::{LoyaltyView, OfferView};

/// What a message to a customer with `account` (none: not a member) says of their loyalty.
pub fn view(program: &Program, account: Option<&Account>, style: &Style, tz: Tz, now: DateTime<Utc>) -> LoyaltyView {
    let Some(account) = account else { return LoyaltyView::default() };
    let today = now.with_timezone(&tz).date_naive();
    let points = account.active_points();
    let current = account.tier.as_ref().and_then(|t| program.tier(&t.id));
    let next = program.tiers.as_ref().and_then(|tiers| {
        let q = tier::qualifying(account, tiers, today);
        let above = current.map_or(0, |c| c.min);
        tiers.levels.iter().find(|t| t.min > above).map(|t| (t.name.clone(), t.min.saturating_sub(q)))
    });
    let reward = program
        .rewards
        .iter()
        .filter(|r| i64::try_from(r.cost).is_ok_and(|c| c > points))
        .min_by_key(|r| r.cost)
        .map(|r| (r.name.clone(), i64::try_from(r.cost).unwrap_or(i64::MAX) - points));
    LoyaltyView {
        member: true,
        program: Some(program.name.clone()),
        tier: current.map(|t| t.name.clone()),
        points: Some(points),
        pending: Some(account.pending_points()),
        next_tier: next.as_ref().map(|(n, _)| n.clone()),
        to_next_tier: next.map(|(_, left)| left),
        expiring_points: account.expiring.as_ref().map(|e| e.points),
        expiring_on: account.expiring.as_ref().map(|e| style.date(e.on)),
        offer: account.offer.as_ref().filter(|o| o.until >= today).map(|o| offers::describe(o, style)),
        next_reward: reward.as_ref().map(|(n, _)| n.clone()),
        to_next_reward: reward.map(|(_, left)| left),
    }
}

/// The member's running personal offer as a template's `offer.*`, for a marketing campaign
/// without an offer of its own: no code (it applies by itself at checkout), its value in words
/// ("double points on Shoes"), its last day.
pub fn offer(account: Option<&Account>, style: &Style, tz: Tz, now: DateTime<Utc>) -> Option<OfferView> {
    let today = now.with_timezone(&tz).date_naive();
    let o = account?.offer.as_ref().filter(|o| o.from <= today && today <= o.until)?;
    let value = offers::describe(o, style);
    let value = value.split(" until ").next().unwrap_or(&value).to_string();
    Some(OfferView { code: String::new(), value, expires_on: style.date(o.until) })
}
