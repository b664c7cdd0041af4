//! The decision trace: every delivery decision about a customer (sent, deferred and until when,
//! suppressed, exited, dropped, unknown), stored under the customer with its reasons, and the
//! plain sentences `kairos why` answers with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::ids::{CampaignId, CustomerId, MessageId, VariantId};
use crate::keys;
use crate::store::{Condition, Item, Store, StoreError, Write, encode, query_decoded};

/// Decisions are kept this long (a GDPR access request covers them; older ones go by TTL).
pub const KEEP_DAYS: i64 = 400;

/// What happened to one due send at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Sent {
        channel: Channel,
        variant: VariantId,
        message_id: MessageId,
        provider_id: String,
    },
    Deferred {
        until: DateTime<Utc>,
    },
    Suppressed,
    /// An exit condition or the audience ended it.
    Exited,
    /// Too late, paused, or no longer deployed.
    Dropped,
    /// The provider refused it for good.
    Refused {
        channel: Channel,
    },
    /// A previous attempt claimed it and may have sent it: it is not repeated (at most once).
    Unknown {
        channel: Option<Channel>,
    },
    /// Decided before (a redelivery, or another worker): nothing was done and nothing stored.
    AlreadyHandled,
}

/// One decision, with everything that mattered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub customer_id: CustomerId,
    pub campaign_id: CampaignId,
    pub occurrence: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Each rule's reason, in the order they were applied.
    pub reasons: Vec<String>,
}

impl Decision {
    /// The write that stores it (a redelivered decision at the same instant is the same item).
    pub fn write(&self) -> Result<Write, StoreError> {
        let key = keys::trace(&self.customer_id, self.at, &self.campaign_id, &self.occurrence);
        let body = encode(&key, self)?;
        let item = Item::new(key, 1, body).expiring(self.at.timestamp() + KEEP_DAYS * 86_400);
        Ok(Write::Put { item, condition: Condition::Always })
    }

    /// The decision in one plain sentence, then its reasons.
    pub fn explain(&self) -> String {
        let when = crate::clock::Minute(self.at);
        let what = format!("{} ({})", self.campaign_id, self.occurrence);
        let head = match &self.outcome {
            Outcome::Sent { channel, variant, message_id, .. } => {
                format!("{when}: {what} was sent by {channel}, variant {variant} (message {message_id}).")
            }
            Outcome::Deferred { until } => {
                format!("{when}: {what} was held back until {}.", crate::clock::Minute(*until))
            }
            Outcome::Suppressed => format!("{when}: {what} was not sent: no channel was allowed."),
            Outcome::Exited => format!("{when}: {what} was not sent: it no longer applied."),
            Outcome::Dropped => format!("{when}: {what} was dropped."),
            Outcome::Refused { channel } => format!("{when}: {what} was refused by the {channel} provider."),
            Outcome::AlreadyHandled => format!("{when}: {what} had been handled before."),
            Outcome::Unknown { channel } => format!(
                "{when}: {what} may have gone{}: an earlier attempt was interrupted after claiming it, and a marketing message is never repeated.",
                channel.map(|c| format!(" by {c}")).unwrap_or_default()
            ),
        };
        let mut out = head;
        for r in &self.reasons {
            out.push_str("\n  - ");
            out.push_str(r);
        }
        out
    }
}

/// A customer's decisions, oldest first (only `campaign`'s, if given). One that cannot be read
/// is returned as its error beside the others.
pub async fn of<S: Store>(
    store: &S,
    customer: &CustomerId,
    campaign: Option<&CampaignId>,
) -> Result<(Vec<Decision>, Vec<StoreError>), StoreError> {
    let (mut all, problems): (Vec<Decision>, _) =
        query_decoded(store, &keys::customer_pk(customer), keys::TRACE_PREFIX).await?;
    all.retain(|d| campaign.is_none_or(|c| &d.campaign_id == c));
    Ok((all, problems))
}

/// `kairos why`: the customer's decisions as plain sentences, oldest first.
pub fn answer(customer: &CustomerId, campaign: Option<&CampaignId>, decisions: &[Decision]) -> String {
    if decisions.is_empty() {
        return match campaign {
            Some(c) => format!(
                "{customer} has no delivery decision for {c}: nothing of it was due for them (the campaign may not have triggered, or held them out)."
            ),
            None => format!("{customer} has no delivery decisions: nothing was due for them."),
        };
    }
    decisions.iter().map(Decision::explain).collect::<Vec<_>>().join("\n")
}
