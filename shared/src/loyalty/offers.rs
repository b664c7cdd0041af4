//! Smart rewards: the personal offer a member gets, chosen nightly from the program's rules over
//! what Kairos knows of them (churn risk, value, tier, favourite category, birthday).

use chrono::{Duration, NaiveDate};

use super::ledger::{Account, HeldOffer};
use super::program::{OfferGive, OfferRule, OfferScope, Program};
use crate::churn::job::CustomerScore;
use crate::profile::Profile;
use crate::risk::RiskBand;

/// What an offer is chosen on.
pub struct Facts<'a> {
    pub profile: &'a Profile,
    pub churn: Option<&'a CustomerScore>,
    /// Today in the member's zone.
    pub today: NaiveDate,
}

/// The category the member browses and buys most, if one stands out (at least a fifth of
/// their interest).
pub fn favourite_category(profile: &Profile) -> Option<String> {
    let affinity = profile.category_affinity();
    let total: u64 = affinity.values().map(|&v| u64::from(v)).sum();
    let (best, &weight) = affinity.iter().max_by_key(|(c, w)| (**w, std::cmp::Reverse(c.as_str().to_string())))?;
    (total > 0 && u64::from(weight) * 5 >= total).then(|| best.to_string())
}

/// Whether the member's birthday is within `days` days from `today` (0: today).
pub fn birthday_within(profile: &Profile, today: NaiveDate, days: u32) -> bool {
    crate::profile::tracked::current(&profile.contact.details.birthday)
        .is_some_and(|b| (0..=i64::from(days)).any(|d| b.falls_on(today + Duration::days(d))))
}

fn applies(rule: &OfferRule, account: &Account, facts: &Facts) -> bool {
    let w = &rule.when;
    let risk = facts.churn.map(|c| RiskBand::of(c.score.p_alive));
    let value = facts.churn.and_then(|c| Some((c.score.value_if_active?, c.currency?)));
    w.churn_risk.as_ref().is_none_or(|bands| risk.is_some_and(|r| bands.contains(&r)))
        && w.min_value.as_ref().is_none_or(|mins| {
            value.is_some_and(|(v, currency)| mins.get(&currency).is_some_and(|min| v >= min.to_f64()))
        })
        && w.tiers
            .as_ref()
            .is_none_or(|tiers| account.tier.as_ref().is_some_and(|t| tiers.iter().any(|x| x.as_str() == t.id)))
        && w.birthday_within_days.is_none_or(|d| birthday_within(facts.profile, facts.today, d))
        && (!w.has_favourite_category || favourite_category(facts.profile).is_some())
}

fn cooling(rule: &OfferRule, account: &Account, today: NaiveDate) -> bool {
    account
        .offered
        .iter()
        .any(|o| o.id == rule.id.as_str() && (today - o.on).num_days() < i64::from(rule.cooldown_days))
}

/// The offer the member should get today, if any: the first rule that applies and is not
/// cooling down, unless they hold a running offer already (one at a time).
pub fn choose<'p>(program: &'p Program, account: &Account, facts: &Facts) -> Option<&'p OfferRule> {
    if account.offer.as_ref().is_some_and(|o| o.until >= facts.today) {
        return None;
    }
    program.offers.iter().find(|rule| !cooling(rule, account, facts.today) && applies(rule, account, facts))
}

/// The multiplier offer `rule` as the member holds it from `today`.
pub fn held(rule: &OfferRule, facts: &Facts) -> Option<HeldOffer> {
    let OfferGive::Multiplier { multiplier, on, days } = &rule.give else { return None };
    let category = match on {
        OfferScope::Everything => None,
        OfferScope::Category(c) => Some(c.to_string()),
        // No favourite: nothing to boost (validation warns of such a rule).
        OfferScope::FavouriteCategory => Some(favourite_category(facts.profile)?),
    };
    Some(HeldOffer {
        id: rule.id.to_string(),
        name: rule.name.clone(),
        multiplier: multiplier.micros().min(i128::from(i64::MAX)) as i64,
        category,
        from: facts.today,
        until: facts.today + Duration::days(i64::from(*days) - 1),
    })
}

/// Words for a held offer: "double points on Shoes until 14 December 2026".
pub fn describe(offer: &HeldOffer, style: &crate::content::locale::Style) -> String {
    let times = match offer.multiplier {
        2_000_000 => "double points".to_string(),
        3_000_000 => "triple points".to_string(),
        m => format!("{}× points", crate::money::Amount::from_micros(i128::from(m))),
    };
    let on = offer.category.as_ref().map_or_else(|| "everything".to_string(), |c| c.clone());
    format!("{times} on {on} until {}", style.date(offer.until))
}
