//! Records that can never be applied (not a valid event, or an event whose effect a profile
//! cannot hold), parked where an operator finds them instead of being retried.
//!
//! Retrying such a record changes nothing: it would fail five times and reach the dead-letter
//! queue with no reason attached. Instead it is acknowledged and kept for [`KEEP_DAYS`] as an
//! item of its own (`REJ#<day>#<shard>` / `<record id>`, see [`crate::keys`]) with the
//! field-level reason and the record as received, and counted in the `RecordsRejected` metric,
//! which raises an alarm. `kairos rejected` lists them. The record body is personal data like a
//! profile: it is stored, never logged, and expires well inside the month a GDPR request allows.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::store::{Condition, Item, Query, Store, StoreError, Write, decode, encode};
use crate::validate::FieldError;

/// Parked records expire after this many days.
pub const KEEP_DAYS: i64 = 14;
/// The most of a record's body that is kept.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Why, in a sentence (scrubbed of personal data).
    pub reason: String,
    /// Each field that was wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RejectedField>,
    /// The record as received (cut at [`MAX_BODY_BYTES`]).
    pub body: String,
    #[serde(default)]
    pub body_truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedField {
    pub field: String,
    pub problem: String,
}

impl From<&FieldError> for RejectedField {
    fn from(e: &FieldError) -> Self {
        RejectedField { field: e.field.clone(), problem: e.problem.clone() }
    }
}

/// Cuts `body` to at most `max` bytes on a character boundary.
fn cut(body: &str, max: usize) -> (&str, bool) {
    if body.len() <= max {
        return (body, false);
    }
    let mut end = max;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    (&body[..end], true)
}

impl RejectedRecord {
    pub fn new(record_id: &str, body: &str, received_at: DateTime<Utc>, reason: String, errors: &[FieldError]) -> Self {
        let (kept, body_truncated) = cut(body, MAX_BODY_BYTES);
        RejectedRecord {
            record_id: record_id.to_string(),
            event_id: None,
            customer_id: None,
            received_at,
            reason,
            errors: errors.iter().map(RejectedField::from).collect(),
            body: kept.to_string(),
            body_truncated,
        }
    }

    fn item(&self) -> Result<Item, StoreError> {
        let key = keys::rejected(self.received_at, &self.record_id);
        let body = encode(&key, self)?;
        Ok(Item::new(key, 1, body).expiring(self.received_at.timestamp() + KEEP_DAYS * 86_400))
    }
}

/// Parks one record. Parking the same record again (a redelivery) overwrites it.
pub async fn park<S: Store>(store: &S, record: &RejectedRecord) -> Result<(), StoreError> {
    store.write(vec![Write::Put { item: record.item()?, condition: Condition::Always }]).await
}

/// The records parked on `day`, oldest first; an unreadable one is reported, not fatal.
pub async fn list<S: Store>(store: &S, day: NaiveDate) -> Result<Vec<RejectedRecord>, StoreError> {
    let mut out = Vec::new();
    for pk in keys::rejected_partitions(day) {
        let mut query = Query::prefix("");
        loop {
            let page = store.query(&pk, &query).await?;
            for e in &page.corrupt {
                tracing::error!(error = %e, "rejected record not readable");
            }
            for item in page.items {
                match decode::<RejectedRecord>(item) {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::error!(error = %e, "rejected record not readable"),
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
    }
    out.sort_by(|a, b| (a.received_at, &a.record_id).cmp(&(b.received_at, &b.record_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use chrono::TimeZone;

    #[tokio::test]
    async fn parked_records_are_listed_by_day_and_cut_to_size() {
        let store = EmbeddedStore::new();
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        let huge = "é".repeat(MAX_BODY_BYTES);
        let r = RejectedRecord::new("m-1", &huge, at, "not JSON".into(), &[FieldError::new("data", "x")]);
        assert!(r.body_truncated && r.body.len() <= MAX_BODY_BYTES);
        park(&store, &r).await.unwrap();
        park(&store, &r).await.unwrap();
        let listed = list(&store, at.date_naive()).await.unwrap();
        assert_eq!(listed, vec![r]);
        assert!(list(&store, at.date_naive().succ_opt().unwrap()).await.unwrap().is_empty());
    }
}
