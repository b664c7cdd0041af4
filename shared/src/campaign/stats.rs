//! What each variant of a campaign achieved, counted exactly once: sends (recorded by delivery)
//! and rewards (a click on the message, from the event stream; a message counts once however
//! often it is clicked). The bandit reads them to allocate the next sends.
//!
//! A count is the outcome's marker (under the message, whichever customer the event names) and
//! the counter's new value, in one transaction: the marker exists only if the count was added, so a redelivered event or a
//! retried send adds nothing. Counters are spread over a few partitions per campaign (picked by
//! the message) so a busy campaign's updates do not all race for one item or partition.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bandit::Arm;
use crate::ids::{CampaignId, MessageId, VariantId};
use crate::keys;
use crate::store::{Condition, Document, Item, Store, StoreError, Write, decode, encode, query_decoded};

/// Markers are kept this long: longer than any retry or late click.
const MARKER_DAYS: i64 = 400;
/// Conditional updates that lost a race are retried this often.
const ATTEMPTS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Rewarded,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Rewarded => "rewarded",
        }
    }
}

/// One shard of a variant's counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Counts {
    variant: String,
    sends: u64,
    rewards: u64,
}

/// One message's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Counted<'a> {
    pub campaign: &'a CampaignId,
    pub variant: &'a VariantId,
    pub message: &'a MessageId,
    pub outcome: Outcome,
}

/// Counts `c` once. `Ok(false)`: it was counted before.
pub async fn record<S: Store>(store: &S, c: &Counted<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let marker = keys::outcome_marker(c.message.as_str(), c.campaign, c.outcome.name());
    let shard = crate::hash::bucket(c.message.as_str(), keys::STATS_SHARDS);
    let key = keys::campaign_stats(c.campaign, c.variant.as_str(), shard);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            // Lost a race for the counter: wait a little (jittered by the message), then again.
            let jitter = crate::hash::bucket(&format!("{}#{attempt}", c.message), 20);
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt as u32 * 10 + jitter))).await;
        }
        let current = store.get(&key).await?;
        let (mut counts, condition, version) = match current {
            Some(item) => {
                let version = item.version;
                (decode::<Counts>(item)?, Condition::VersionIs(version), version + 1)
            }
            None => (Counts { variant: c.variant.to_string(), ..Counts::default() }, Condition::NotExists, 1),
        };
        match c.outcome {
            Outcome::Sent => counts.sends += 1,
            Outcome::Rewarded => counts.rewards += 1,
        }
        let mut body = Document::new();
        body.insert("at".into(), now.to_rfc3339().into());
        let marker_item = Item::new(marker.clone(), 1, body).expiring(now.timestamp() + MARKER_DAYS * 86_400);
        let writes = vec![
            Write::Put { item: marker_item, condition: Condition::NotExists },
            Write::Put { item: Item::new(key.clone(), version, encode(&key, &counts)?), condition },
        ];
        match store.write(writes).await {
            Ok(()) => return Ok(true),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&0) => return Ok(false),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(format!("the counters of {} kept changing while being updated", c.campaign)))
}

/// Each variant's sends and rewards so far (variants nothing was counted for are absent). A
/// shard that cannot be read is returned as its error beside the others.
pub async fn read<S: Store>(
    store: &S,
    campaign: &CampaignId,
) -> Result<(BTreeMap<String, Arm>, Vec<StoreError>), StoreError> {
    let mut arms: BTreeMap<String, Arm> = BTreeMap::new();
    let mut problems = Vec::new();
    for shard in 0..keys::STATS_SHARDS {
        let (counts, broken) = query_decoded::<S, Counts>(store, &keys::campaign_stats_pk(campaign, shard), "").await?;
        problems.extend(broken);
        for s in counts {
            let arm = arms.entry(s.variant).or_default();
            arm.sends += s.sends;
            arm.rewards += s.rewards;
        }
    }
    Ok((arms, problems))
}

/// The arms in the campaign's variant order, for the bandit.
pub fn in_order(campaign: &super::Campaign, arms: &BTreeMap<String, Arm>) -> Vec<Arm> {
    campaign.variants.iter().map(|v| arms.get(v.id.as_str()).cloned().unwrap_or_default()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn each_outcome_counts_once_however_often_and_however_raced() {
        let store = EmbeddedStore::new();
        let campaign = CampaignId::new("cart").unwrap();
        let (a, b) = (VariantId::new("a").unwrap(), VariantId::new("b").unwrap());
        let messages: Vec<MessageId> = (0..40).map(|i| MessageId::new(format!("m-{i}")).unwrap()).collect();
        let now = Utc::now();
        let campaign = &campaign;
        // Every send recorded three times at once, every fourth clicked twice.
        let mut work = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let variant = if i % 2 == 0 { &a } else { &b };
            let count = |outcome| Counted { campaign, variant, message, outcome };
            work.extend([count(Outcome::Sent), count(Outcome::Sent), count(Outcome::Sent)]);
            if i % 4 == 0 {
                work.extend([count(Outcome::Rewarded), count(Outcome::Rewarded)]);
            }
        }
        let results = futures::future::join_all(work.iter().map(|c| record(&store, c, now))).await;
        let counted = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(counted, 40 + 10);
        let (arms, problems) = read(&store, campaign).await.unwrap();
        assert!(problems.is_empty());
        assert_eq!(arms["a"], Arm { sends: 20, rewards: 10 });
        assert_eq!(arms["b"], Arm { sends: 20, rewards: 0 });
    }
}
