//! The due-send queue: messages some part of Kairos decided a customer should get, waiting in the
//! table for dispatch.
//!
//! A due send lives under the minute it is due and one of a few shards (so a burst of sends due
//! in one minute spreads over partitions): `DUE#<YYYY-MM-DDTHH:MM>#<shard>` /
//! `<customer>#<campaign>#<occurrence>`. The occurrence makes the key unique to what caused the
//! send (a churn episode, a cart, a broadcast), so creating it with `attribute_not_exists` is
//! idempotent: a redelivered cause cannot queue a second send.
//!
//! The minute is not part of the cause, though: a cause seen again on another night would file
//! a second send under another minute. So every send is created together with a once-marker in
//! the customer's partition (`Q#<campaign>#<occurrence>`, kept for two years), both only if they
//! do not exist yet, in one transaction: whenever and however often the cause is seen, one send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CampaignId, CustomerId, ProductId};
use crate::keys;
use crate::store::{Condition, Item, Key, StoreError, Write, encode};

/// Due sends nobody dispatched are dropped after this many days.
const EXPIRY_DAYS: i64 = 30;
/// A once-marker outlives any cause that could recur (a churn episode lasts months).
const ONCE_DAYS: i64 = 730;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DueSend {
    pub customer_id: CustomerId,
    pub campaign_id: CampaignId,
    /// What this send is for, unique per campaign and customer (e.g. "churn-episode-2").
    pub occurrence: String,
    /// Not before this instant (dispatch may choose a later one inside the campaign's window).
    pub due_at: DateTime<Utc>,
    /// Who queued it and why, for the decision trace.
    pub reason: String,
    pub created_at: DateTime<Utc>,
    /// The campaign version the send started with (absent for sends that predate versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_version: Option<u32>,
    /// When its cause happened: exit conditions look for what came after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_at: Option<DateTime<Utc>>,
    /// The product the message is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductId>,
    /// The send's moment was chosen already (by the campaign's send-time policy, or a deferral):
    /// dispatch does not move it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placed: bool,
    /// When it was first due, before any deferral: how late it may go counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_due_at: Option<DateTime<Utc>>,
}

impl DueSend {
    /// When it was first due.
    pub fn first_due(&self) -> DateTime<Utc> {
        self.first_due_at.unwrap_or(self.due_at)
    }

    /// The same send, moved to `at` (its moment chosen: dispatch will not move it again).
    pub fn moved_to(&self, at: DateTime<Utc>) -> DueSend {
        DueSend { due_at: at, first_due_at: Some(self.first_due()), placed: true, ..self.clone() }
    }

    pub fn key(&self) -> Key {
        keys::due_send(self.due_at, &self.customer_id, &self.campaign_id, &self.occurrence)
    }

    /// The item to create (conditionally: `attribute_not_exists`) for this send.
    pub fn item(&self) -> Result<Item, StoreError> {
        let key = self.key();
        let body = encode(&key, self)?;
        Ok(Item::new(key, 1, body).expiring(self.due_at.timestamp() + EXPIRY_DAYS * 86_400))
    }

    /// The writes that queue this send once per cause: the once-marker and the send, each only
    /// if it does not exist. Either failing its condition means the send was queued before.
    pub fn writes(&self) -> Result<[Write; 2], StoreError> {
        let marker = keys::once_marker(&self.customer_id, &self.campaign_id, &self.occurrence);
        let mut body = crate::store::Document::new();
        body.insert("queued_at".into(), self.created_at.to_rfc3339().into());
        body.insert("due".into(), self.key().to_string().into());
        let marker = Item::new(marker, 1, body).expiring(self.created_at.timestamp() + ONCE_DAYS * 86_400);
        Ok([
            Write::Put { item: marker, condition: Condition::NotExists },
            Write::Put { item: self.item()?, condition: Condition::NotExists },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_file_sends_by_minute_and_name_their_cause() {
        let d = DueSend {
            customer_id: CustomerId::new("c-1").unwrap(),
            campaign_id: CampaignId::new("winback").unwrap(),
            occurrence: "churn-episode-1".into(),
            due_at: Utc.with_ymd_and_hms(2026, 11, 24, 3, 17, 42).unwrap(),
            reason: "churn".into(),
            created_at: Utc::now(),
            campaign_version: None,
            cause_at: None,
            product: None,
            placed: false,
            first_due_at: None,
        };
        let key = d.key();
        assert!(key.pk.starts_with("DUE#2026-11-24T03:17#"), "{}", key.pk);
        assert!(key.pk.rsplit('#').next().unwrap().parse::<u32>().unwrap() < keys::DUE_SHARDS);
        assert_eq!(key.sk, "c-1#winback#churn-episode-1");
        assert!(d.item().unwrap().expires_at.is_some());
        let [marker, send] = d.writes().unwrap();
        assert_eq!(marker.key(), &Key::new("C#c-1", "Q#winback#churn-episode-1"));
        assert_eq!(send.key(), &key);
        assert!([&marker, &send].iter().all(|w| w.condition() == Condition::NotExists));
    }
}
