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
        let Some((account, entries)) = nightly(&deployed.program, profile, account, churn, now) else { return Ok(None) };
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
        let next = account.active.iter().filter_map(|l| Some((l.expires_on?, l.points))).filter(|(on, _)| *on <= horizon).min();
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
                let mut entry = Entry::new(EntryKind::Earn, program.id.as_str(), format!("offer {} ({today})", rule.id), now);
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
