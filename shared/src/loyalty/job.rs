//! The nightly `loyalty` job, on the segmented fan-out: for every member it releases pending
//! points whose return window has passed, expires lots, re-evaluates the tier (down as well as
//! up), tells of points about to expire, gives the birthday bonus, and chooses a personal offer.
//!
//! Its output is the account itself (`C#<id>` / `LOY`), written with the entries it adds in one
//! transaction, conditioned on the version read: accrual and redemptions racing it are never
//! lost (the loser reads again). A member nothing happened to is not written.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::accounts::{entry_writes, grant, settle};
use super::ledger::{Account, Entry, EntryKind, Expiring, LoyaltyEvent, Offered};
use super::offers::{self, Facts};
use super::program::{self, OfferGive, Program};
use super::stored::DeployedProgram;
use super::tier;
use crate::churn::job::CustomerScore;
use crate::jobs::{Output, SegmentedJob};
use crate::keys::{self, PartKind};
use crate::profile::Profile;
use crate::store::{Key, StoreError};

pub struct LoyaltyJob;

/// The churn score read with each member (offers choose on it).
pub struct Churn(pub Option<CustomerScore>);

impl<'de> Deserialize<'de> for Churn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut document = serde_json::Map::deserialize(d)?;
        Ok(Churn(crate::jobs::joined(&mut document, keys::CHURN_SCORE)?))
    }
}

/// What a run works with: the program as deployed when it started.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<DeployedProgram>,
}

impl SegmentedJob for LoyaltyJob {
    const NAME: &'static str = "loyalty";
    const OUTPUT_SK: &'static str = keys::LOYALTY_ACCOUNT;
    // Birthdays and the zone (contact), the favourite category (browse, orders).
    const PARTS: &'static [PartKind] = &[PartKind::Browse, PartKind::Orders, PartKind::Contact];
    // Offers choose on churn risk and value.
    const JOINED: &'static [&'static str] = &[keys::CHURN_SCORE];
    type Stats = ();
    type Joined = Churn;
    type Model = RunModel;
    type Output = Account;

    fn gather(&self, _: &Profile, _: DateTime<Utc>, _: &mut ()) {}

    fn merge(&self, _: &mut (), _: &()) {}

    /// Never asked: runs start with the program deployed.
    fn fit(&self, _: &()) -> RunModel {
        RunModel::default()
    }

    fn model_key(&self) -> Key {
        Key::new(keys::LOYALTY_PK, "RUN")
    }

    fn public_model(&self, model: &RunModel) -> serde_json::Value {
        serde_json::json!({ "program": model.program.as_ref().map(|p| (p.program.id.to_string(), p.version)) })
    }

    fn apply(
        &self,
        profile: &Profile,
        model: &RunModel,
        previous: Option<&Account>,
        churn: Option<&Churn>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<Account>>, String> {
        let (Some(deployed), Some(account)) = (&model.program, previous) else { return Ok(None) };
        let churn = churn.and_then(|c| c.0.as_ref());
        let Some((account, entries)) = nightly(&deployed.program, profile, account, churn, now) else {
            return Ok(None);
        };
        let writes = entry_writes(&entries).map_err(|e: StoreError| e.to_string())?;
        let flagged = account.events.len() > previous.map_or(0, |a| a.events.len());
        Ok(Some(Output { value: account, writes, due: Vec::new(), flagged }))
    }
}

/// What the night does to one member's account: the new account and its new entries, or `None`
/// when nothing changes (the member is not written).
pub fn nightly(
    program: &Program,
    profile: &Profile,
    before: &Account,
    churn: Option<&CustomerScore>,
    now: DateTime<Utc>,
) -> Option<(Account, Vec<(Key, Entry)>)> {
    let customer = &profile.customer_id;
    let tz = profile.time_zone();
    let today = now.with_timezone(&tz).date_naive();
    let mut account = before.clone();
    // The zone accrual counts months in follows the profile's.
    let zone = crate::profile::tracked::current(&profile.contact.details.time_zone).map(|z| z.0.name().to_string());
    if zone.is_some() && zone != account.zone {
        account.zone = zone;
    }
    let mut entries = settle(&mut account, program, customer, now);
    if let Some(tiers) = &program.tiers {
        tier::evaluate(&mut account, tiers, today, now, true);
    }
    if account.offer.as_ref().is_some_and(|o| o.until < today) {
        account.offer = None;
    }
    // The next points to expire, once within the notice period (lots expire by the UTC day).
    if let Some(expiry) = &program.expiry {
        let horizon = now.date_naive() + Duration::days(i64::from(expiry.notice_days));
        let next = account
            .active
            .iter()
            .filter_map(|l| Some((l.expires_on?, l.points)))
            .filter(|(on, _)| *on <= horizon)
            .min();
        let notice = next.map(|(on, _)| Expiring {
            on,
            points: account.active.iter().filter(|l| l.expires_on == Some(on)).map(|l| l.points).sum(),
        });
        if notice != account.expiring {
            if let Some(n) = &notice {
                account.push_event(LoyaltyEvent::PointsExpiring { on: n.on, points: n.points, at: now });
            }
            account.expiring = notice;
        }
    }
    // The birthday bonus, on the day or the day after (a night missed), once a year.
    let awards = super::earn::action(program, program::BIRTHDAY);
    if !awards.is_empty() {
        let birthday = crate::profile::tracked::current(&profile.contact.details.birthday);
        let on = [today, today - Duration::days(1)].into_iter().find(|d| birthday.is_some_and(|b| b.falls_on(*d)));
        if let Some(day) = on.filter(|d| account.birthday_bonus != Some(d.year())) {
            let mut entry = Entry::new(EntryKind::Earn, program.id.as_str(), format!("birthday {}", day.year()), now);
            grant(&mut account, program, awards, now, &mut entry);
            account.birthday_bonus = Some(day.year());
            account.number(&mut entry);
            entries.push((keys::loyalty_entry(customer, "earn", &format!("birthday:{}", day.year())), entry));
        }
    }
    let facts = Facts { profile, churn, today };
    if let Some(rule) = offers::choose(program, &account, &facts) {
        let given = match &rule.give {
            OfferGive::Multiplier { .. } => match offers::held(rule, &facts) {
                Some(held) => {
                    account.offer = Some(held);
                    true
                }
                None => false,
            },
            OfferGive::Bonus { points } => {
                let mut entry =
                    Entry::new(EntryKind::Earn, program.id.as_str(), format!("offer {} ({today})", rule.id), now);
                let award = super::ledger::Award { rule: format!("offer:{}", rule.id), points: i64::from(*points) };
                grant(&mut account, program, vec![award], now, &mut entry);
                account.number(&mut entry);
                entries.push((keys::loyalty_entry(customer, "earn", &format!("offer:{}:{today}", rule.id)), entry));
                true
            }
        };
        if given {
            account.offered.retain(|o| o.id != rule.id.as_str());
            account.offered.push(Offered { id: rule.id.to_string(), on: today });
        }
    }
    (account != *before || !entries.is_empty()).then_some((account, entries))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::campaign::fire::tests::event;
    use crate::loyalty::ledger::{Month, expiry_day};

    const PROGRAM: &str = "
id: club
name: Club
currency: EUR
points_per_unit: 1
earn:
  - {id: base, multiplier: 1}
  - {id: birthday, action: birthday, points: 25}
expiry: {months: 1, notice_days: 10}
offers:
  - id: miss-you
    name: Double points on your favourite category
    when: {churn_risk: [high], min_value: {EUR: 100}, has_favourite_category: true}
    give: {multiplier: {multiplier: 2, on: favourite_category, days: 14}}
  - id: birthday-week
    name: A birthday bonus
    when: {birthday_within_days: 3}
    give: {bonus: {points: 40}}
";

    fn program() -> Program {
        let (p, problems) = program::read("p.yaml", PROGRAM);
        assert!(problems.is_empty(), "{problems:?}");
        p.unwrap()
    }

    fn churn(p_alive: f64, value: f64) -> CustomerScore {
        serde_json::from_value(
            serde_json::json!({"scored_at": "2026-12-01T00:00:00Z", "currency": "EUR", "frequency": 4,
            "recency": 10.0, "T": 40.0, "p_alive": p_alive, "expected_purchases": 0.1, "value_if_active": value,
            "band": "at_risk", "explanation": "x", "winback": {"flagged": false, "episode": 0}}),
        )
        .unwrap()
    }

    fn shopper() -> Profile {
        let mut p = Profile::new(crate::ids::CustomerId::new("c-1").unwrap());
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
        p.apply(&event(
            "u",
            at,
            "customer_updated",
            serde_json::json!({"time_zone": "Europe/Berlin", "birthday": "12-05"}),
        ))
        .unwrap();
        for i in 0..6 {
            p.apply(&event(
                &format!("v{i}"),
                at,
                "product_viewed",
                serde_json::json!({"product_id": format!("s{i}"), "category": "Shoes"}),
            ))
            .unwrap();
        }
        p.apply(&event("v9", at, "product_viewed", serde_json::json!({"product_id": "h1", "category": "Home"})))
            .unwrap();
        p
    }

    fn member(points: i64, now: DateTime<Utc>) -> Account {
        let mut a = Account::new("club");
        a.zone = Some("Europe/Berlin".into());
        let month = Month::of(now.date_naive());
        let mut e = Entry::new(EntryKind::Earn, "club", "x".into(), now);
        a.add_active(month, expiry_day(month, Some(1)), points, &mut e);
        a.totals.earned += points;
        a.seq = 1;
        a
    }

    #[test]
    fn a_valuable_member_at_risk_gets_double_points_on_their_favourite_category_once() {
        let program = program();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
        let profile = shopper();
        let before = member(300, now);
        let (after, entries) = nightly(&program, &profile, &before, Some(&churn(0.1, 250.0)), now).unwrap();
        let offer = after.offer.as_ref().expect("an offer");
        assert_eq!(
            (offer.id.as_str(), offer.category.as_deref(), offer.multiplier),
            ("miss-you", Some("Shoes"), 2_000_000)
        );
        assert_eq!(offer.until.to_string(), "2026-12-03");
        assert!(entries.is_empty());
        // The points earned in November expire at the end of December; told from 22 December
        // (ten days' notice).
        assert!(after.expiring.is_none());
        let (told, _) = nightly(&program, &profile, &after, None, now + Duration::days(32)).unwrap();
        assert_eq!(told.expiring.as_ref().map(|e| (e.on.to_string(), e.points)), Some(("2027-01-01".into(), 300)));
        assert!(matches!(told.events.last(), Some(LoyaltyEvent::PointsExpiring { points: 300, .. })));
        // The next night: the offer is held, nothing new.
        assert!(nightly(&program, &profile, &after, Some(&churn(0.1, 250.0)), now + Duration::days(1)).is_none());
        // Not valuable enough, or not at risk: no offer (and nothing to write).
        for score in [churn(0.1, 50.0), churn(0.9, 250.0)] {
            assert!(nightly(&program, &profile, &before, Some(&score), now).is_none());
        }
        // After it ran out, the cooldown (90 days) keeps it from coming straight back.
        let later = now + Duration::days(20);
        let (a, _) = nightly(&program, &profile, &after, Some(&churn(0.1, 250.0)), later).unwrap();
        assert!(a.offer.is_none(), "{:?}", a.offer);
    }

    #[test]
    fn the_birthday_brings_its_bonus_once_and_the_birthday_offer_too() {
        let program = program();
        // 5 December, 07:00 in Berlin.
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 6, 0, 0).unwrap();
        let profile = shopper();
        let before = member(10, now);
        let (after, entries) = nightly(&program, &profile, &before, None, now).unwrap();
        let causes: Vec<&str> = entries.iter().map(|(_, e)| e.cause.as_str()).collect();
        assert_eq!(causes, ["birthday 2026", "offer birthday-week (2026-12-05)"]);
        assert_eq!(after.active_points(), 10 + 25 + 40);
        assert!(after.consistent());
        // The next day: the birthday bonus was given this year, the offer is cooling down.
        let (_, again) =
            nightly(&program, &profile, &after, None, now + Duration::days(1)).unwrap_or((after.clone(), vec![]));
        assert!(again.is_empty(), "{again:?}");
    }
}
