//! The triggers consumer: the table's stream reports each write of a profile part (before and
//! after); every active campaign whose trigger the change meets queues its due send, once per
//! cause however often the record is delivered.

use chrono::{DateTime, Utc};

use super::bandit::held_out;
use super::fire::{Change, fire};
use super::stored::Deployed;
use crate::customers::decode_part;
use crate::due::DueSend;
use crate::jobs::runner::StoredOutput;
use crate::keys::{self, PartKind};
use crate::loyalty::Account;
use crate::profile::{Browse, ContactPart, OrderBook};
use crate::store::{Item, Key, Store, StoreError, decode};

/// One stream record: the item's key and its images.
pub use crate::store::Change as Record;

/// What one record did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Sends queued now.
    pub queued: usize,
    /// Sends this record's causes had queued before (a redelivery).
    pub already: usize,
    /// Causes whose customer is in the campaign's holdout: nothing queued.
    pub held_out: usize,
    /// Those causes (what the holdout is measured from).
    pub held_out_causes: Vec<HeldOut>,
}

/// A cause whose customer is in the campaign's holdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldOut {
    pub campaign: crate::ids::CampaignId,
    pub cause_at: DateTime<Utc>,
    /// The occurrence a send would have been queued once for: a record that fires the same
    /// occurrence again (a product viewed twice in a day) is the same cause, as the queue's
    /// once-marker makes it for customers outside the holdout.
    pub occurrence: String,
}

/// Whether a record can start anything: a profile part of a customer (the rest of the table —
/// markers, scores, due sends, jobs — never triggers a campaign). The stream's event filter
/// keeps out most of the rest before the function is even invoked.
pub fn relevant(key: &Key) -> bool {
    keys::customer_of(&key.pk).is_some()
        && (matches!(PartKind::of_sk(&key.sk), Some(PartKind::Browse | PartKind::Orders | PartKind::Contact))
            || key.sk == keys::LOYALTY_ACCOUNT)
}

/// Queues the sends `record` starts for `campaigns`. A part that cannot be decoded fails this
/// record only (it is reported and retried by the stream, then parked on its failure queue).
pub async fn handle<S: Store>(
    store: &S,
    campaigns: &[Deployed],
    record: &Record,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    let (Some(customer), Some(new)) = (keys::customer_of(&record.key.pk), record.new.clone()) else {
        return Ok(outcome);
    };
    if !relevant(&record.key) {
        return Ok(outcome);
    }
    let old = record.old.clone();
    let fired: Vec<(&Deployed, super::fire::Fired)> = match PartKind::of_sk(&record.key.sk) {
        Some(PartKind::Browse) => {
            let new = decode_part::<Browse>(new)?.value;
            let old = old.map(decode_part::<Browse>).transpose()?.map(|v| v.value);
            let change = Change::Browse { old: old.as_ref(), new: &new };
            campaigns.iter().flat_map(|d| fire(&d.campaign, &change, now).into_iter().map(move |f| (d, f))).collect()
        }
        Some(PartKind::Orders) => {
            let new = decode_part::<OrderBook>(new)?.value;
            let old = old.map(decode_part::<OrderBook>).transpose()?.map(|v| v.value);
            let change = Change::Orders { old: old.as_ref(), new: &new };
            campaigns.iter().flat_map(|d| fire(&d.campaign, &change, now).into_iter().map(move |f| (d, f))).collect()
        }
        Some(PartKind::Contact) => {
            let new = decode_part::<ContactPart>(new)?.value;
            let old = old.map(decode_part::<ContactPart>).transpose()?.map(|v| v.value);
            let change = Change::Contact { old: old.as_ref(), new: &new };
            campaigns.iter().flat_map(|d| fire(&d.campaign, &change, now).into_iter().map(move |f| (d, f))).collect()
        }
        None if record.key.sk == keys::LOYALTY_ACCOUNT => {
            let account = |item: Item| decode::<StoredOutput<Account>>(item).map(|s| s.value);
            let new = account(new)?;
            let old = old.map(account).transpose()?;
            let change = Change::Loyalty { old: old.as_ref(), new: &new };
            campaigns.iter().flat_map(|d| fire(&d.campaign, &change, now).into_iter().map(move |f| (d, f))).collect()
        }
        _ => Vec::new(),
    };
    for (deployed, f) in fired {
        // The campaign's holdout gets nothing from it (and is measured against those who do).
        if held_out(&deployed.campaign, &customer) {
            outcome.held_out += 1;
            outcome.held_out_causes.push(HeldOut {
                campaign: deployed.campaign.id.clone(),
                cause_at: f.cause_at,
                occurrence: f.occurrence.clone(),
            });
            continue;
        }
        let send = DueSend {
            customer_id: customer.clone(),
            campaign_id: deployed.campaign.id.clone(),
            occurrence: f.occurrence,
            due_at: f.due_at,
            reason: f.reason,
            created_at: now,
            campaign_version: Some(deployed.version),
            cause_at: Some(f.cause_at),
            product: f.product,
            placed: false,
            first_due_at: None,
        };
        match store.write(send.writes()?.into()).await {
            Ok(()) => outcome.queued += 1,
            // The once-marker or the send exists: this cause was queued before.
            Err(StoreError::ConditionFailed { .. }) => outcome.already += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fire::tests::{add, campaign, t0};
    use crate::ids::CustomerId;
    use crate::profile::Profile;
    use crate::store::embedded::EmbeddedStore;

    fn deployed(holdout_percent: f64) -> Deployed {
        let mut campaign = campaign("cart-abandoned");
        campaign.holdout_percent = holdout_percent;
        Deployed { version: 1, digest: "d".into(), deployed_at: t0(), campaign }
    }

    /// The stream record of the first cart addition of customer `c-1`.
    fn record() -> Record {
        let customer = CustomerId::new("c-1").unwrap();
        let mut profile = Profile::new(customer.clone());
        profile.apply(&add("e1", t0(), "sku-1")).unwrap();
        let new = crate::customers::part_item(&customer, &profile.browse, 1).unwrap();
        Record { key: new.key.clone(), old: None, new: Some(new) }
    }

    #[tokio::test]
    async fn a_held_out_cause_names_the_occurrence_a_send_would_have_been_queued_once_for() {
        let (store, now) = (EmbeddedStore::new(), t0() + chrono::Duration::minutes(5));
        let held = handle(&store, &[deployed(100.0)], &record(), now).await.unwrap();
        assert_eq!((held.queued, held.held_out), (0, 1));
        assert_eq!(store.len(), 0, "nothing is queued for the holdout");
        let occurrence = format!("cart-{}", t0().timestamp());
        assert_eq!(
            held.held_out_causes,
            [HeldOut { campaign: deployed(0.0).campaign.id, cause_at: t0(), occurrence: occurrence.clone() }]
        );
        // Outside the holdout the same record queues one send, under that occurrence, and its
        // redelivery queues nothing: the count the holdout is compared with.
        let sent = handle(&store, &[deployed(0.0)], &record(), now).await.unwrap();
        let again = handle(&store, &[deployed(0.0)], &record(), now).await.unwrap();
        assert_eq!((sent.queued, again.queued, again.already), (1, 0, 1));
        let marker = keys::once_marker(&CustomerId::new("c-1").unwrap(), &deployed(0.0).campaign.id, &occurrence);
        assert!(crate::store::Store::get(&store, &marker).await.unwrap().is_some());
    }
}
