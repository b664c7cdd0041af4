//! Campaigns as files: what marketers write (one YAML file per campaign), how it is read with
//! the line of every problem, and the checks that stop a mistake before a customer sees it.

pub mod audience;
pub mod audience_scan;
pub mod bandit;
pub mod check;
pub mod compose;
pub mod exit;
pub mod fire;
pub mod load;
pub mod offer;
pub mod preview;
pub mod render;
pub mod scheduled;
pub mod send_time;
pub mod stats;
pub mod stored;
pub mod trigger;
pub mod triggers;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::content::{EmailTemplate, PushTemplate, SmsTemplate};
use crate::ids::{CampaignId, Topic};
use crate::money::Currency;

pub use audience::Filter;
pub use trigger::Trigger;

/// One campaign, as written in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub status: Status,
    /// Marketing (needs consent for `topic`, carries unsubscribe) or transactional.
    #[serde(default)]
    pub kind: Kind,
    /// The consent topic a customer must have agreed to, e.g. `marketing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    pub trigger: Trigger,
    /// Who may receive it (everyone the trigger finds, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Filter>,
    /// Channels in fallback order: the first the customer can be reached on is used.
    pub channels: Vec<Channel>,
    /// Content variants; each has content for every channel.
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub send_time: SendTime,
    /// Percent of the audience that receives nothing, to measure the campaign against.
    #[serde(default)]
    pub holdout_percent: f64,
    /// What ends the campaign for a customer before the message goes (re-checked when due).
    #[serde(default)]
    pub exit_when: Vec<Exit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    /// The campaign's own sending window in the customer's zone (the law's quiet hours apply
    /// too: the strictest wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// How late a send may still go, counted from when it was first due (a deferral past it
    /// drops the send with its reason). Default: the send-time window for optimised sends,
    /// otherwise 72 hours (a weekend and a public holiday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after_hours: Option<u32>,
}

/// Messages go only between `send_from` and `send_until` (`HH:MM`, local; may cross midnight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub send_from: String,
    pub send_until: String,
}

/// Hours a send may be late by when the campaign does not say.
pub const DEFAULT_EXPIRY_HOURS: u32 = 72;

impl Campaign {
    /// How late a send may go, after it was first due.
    pub fn expiry(&self) -> chrono::Duration {
        let hours = self.expire_after_hours.unwrap_or(match &self.send_time {
            SendTime::Optimised { within_hours } => (*within_hours).max(1),
            _ => DEFAULT_EXPIRY_HOURS,
        });
        chrono::Duration::hours(i64::from(hours))
    }

    /// The campaign's own window, if it sets one that reads (validation refuses one that does
    /// not).
    pub fn window(&self) -> Option<crate::delivery::quiet::Allowed> {
        let q = self.quiet_hours.as_ref()?;
        let t = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
        Some(crate::delivery::quiet::Allowed::between(
            "the campaign's quiet hours",
            t(&q.send_from)?,
            t(&q.send_until)?,
        ))
    }
}

impl Campaign {
    /// The channel tried first (the send time is chosen for it): email if none is listed.
    pub fn first_channel(&self) -> Channel {
        self.channels.first().copied().unwrap_or(Channel::Email)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Active,
    Paused,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Marketing,
    /// Messages a customer needs (an order's receipt); exempt from marketing consent, never
    /// promotional.
    Transactional,
}

/// One content variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub id: crate::ids::VariantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushTemplate>,
}

impl Variant {
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
        }
    }
}

/// When a due message goes out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SendTime {
    /// As soon as it is due (and the delivery policy allows).
    #[default]
    Immediate,
    /// At the customer's best moment within `within_hours` of being due (the send-time model).
    Optimised { within_hours: u32 },
    /// At a fixed time of day in the customer's zone, `HH:MM`.
    LocalTime { at: String },
}

/// What ends a campaign for a customer before the message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Any order since the trigger.
    OrderPlaced,
    /// The cart was emptied.
    CartEmptied,
    /// The triggering product was bought.
    ProductBought,
    /// The product is out of stock.
    OutOfStock,
}

/// A personal, time-limited offer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub value: OfferValue,
    /// How long the code works after the message goes.
    pub valid_hours: u32,
    /// The start of each generated code, e.g. `COMEBACK` → `COMEBACK-7QX2M9`.
    pub code_prefix: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OfferValue {
    PercentOff(u32),
    AmountOff { amount: String, currency: Currency },
    FreeShipping,
}

/// The JSON Schema campaign files are checked against (published as
/// `schema/campaign.v1.json`).
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Campaign>()
        .to_value();
    if let Some(o) = schema.as_object_mut() {
        o.insert("$id".into(), "https://kairos.dev/schema/campaign.v1.json".into());
        o.insert("title".into(), "Kairos campaign (v1)".into());
    }
    schema
}
