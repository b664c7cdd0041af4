//! What starts a campaign for a customer. Every trigger but the broadcast reacts to a change of
//! the customer's profile or of a product they looked at; none polls.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::Category;
use crate::validate::FieldError;

/// A trigger, written as one key naming it, e.g. `cart_abandoned: {after_minutes: 60}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The cart changed and no order followed within `after_minutes`.
    CartAbandoned { after_minutes: u32 },
    /// A checkout started and no order followed within `after_minutes`.
    CheckoutAbandoned { after_minutes: u32 },
    /// At least `views` views of one product (or, with `category`, of that category) within
    /// `within_hours`, no cart add since, then `after_minutes` of quiet.
    BrowseAbandoned {
        views: u32,
        within_hours: u32,
        after_minutes: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<Category>,
    },
    /// A step of the welcome series: `after_hours` after the customer is first seen with
    /// consent. A series is several campaigns with growing delays.
    Welcome { after_hours: u32 },
    /// `after_days` after an order.
    PostPurchase { after_days: u32 },
    /// `days_before` a product the customer buys again is due to run out (the recommender's
    /// repurchase interval).
    ReplenishmentDue { days_before: u32 },
    /// A product the customer viewed in the last `viewed_within_days` is back in stock.
    BackInStock { viewed_within_days: u32 },
    /// A product viewed in the last `viewed_within_days` got at least `min_drop_percent` cheaper.
    PriceDrop { viewed_within_days: u32, min_drop_percent: u32 },
    /// A product viewed at least `views` times in `within_days` and not bought: a personal
    /// offer (the campaign's `offer`).
    IntentOffer { views: u32, within_days: u32 },
    /// `days_before` the customer's birthday (0: on the day).
    Birthday { days_before: u32 },
    /// The nightly churn model puts the customer at `min_risk` or worse (the win-back).
    ChurnRisk { min_risk: RiskBand },
    /// The loyalty tier changed (to `to`, or to any tier).
    TierChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Points expire in `days_before` days.
    PointsExpiring { days_before: u32 },
    /// Once, to the audience, from `at` (each customer at the send-time policy's moment).
    Broadcast { at: chrono::DateTime<chrono::FixedOffset> },
}

pub use crate::risk::RiskBand;

/// The names of every trigger, as written in files.
pub const NAMES: [&str; 14] = [
    "cart_abandoned",
    "checkout_abandoned",
    "browse_abandoned",
    "welcome",
    "post_purchase",
    "replenishment_due",
    "back_in_stock",
    "price_drop",
    "intent_offer",
    "birthday",
    "churn_risk",
    "tier_changed",
    "points_expiring",
    "broadcast",
];

impl Trigger {
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::CartAbandoned { .. } => NAMES[0],
            Trigger::CheckoutAbandoned { .. } => NAMES[1],
            Trigger::BrowseAbandoned { .. } => NAMES[2],
            Trigger::Welcome { .. } => NAMES[3],
            Trigger::PostPurchase { .. } => NAMES[4],
            Trigger::ReplenishmentDue { .. } => NAMES[5],
            Trigger::BackInStock { .. } => NAMES[6],
            Trigger::PriceDrop { .. } => NAMES[7],
            Trigger::IntentOffer { .. } => NAMES[8],
            Trigger::Birthday { .. } => NAMES[9],
            Trigger::ChurnRisk { .. } => NAMES[10],
            Trigger::TierChanged { .. } => NAMES[11],
            Trigger::PointsExpiring { .. } => NAMES[12],
            Trigger::Broadcast { .. } => NAMES[13],
        }
    }

    /// Whether the message is about one product (the context's `product` is set).
    pub fn has_product(&self) -> bool {
        matches!(
            self,
            Trigger::BrowseAbandoned { .. }
                | Trigger::ReplenishmentDue { .. }
                | Trigger::BackInStock { .. }
                | Trigger::PriceDrop { .. }
                | Trigger::IntentOffer { .. }
        )
    }

    /// Whether a message for this trigger can be a notice the customer needs rather than
    /// marketing: only account notices are.
    pub fn may_be_transactional(&self) -> bool {
        matches!(self, Trigger::TierChanged { .. } | Trigger::PointsExpiring { .. })
    }

    /// Whether the message is about a cart (the context's `cart` is set).
    pub fn has_cart(&self) -> bool {
        matches!(self, Trigger::CartAbandoned { .. } | Trigger::CheckoutAbandoned { .. })
    }

    /// Values outside what makes sense, with the field (under `trigger.<name>`).
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let at = |field: &str| format!("trigger.{}.{field}", self.name());
        let mut range = |field: &str, value: u32, min: u32, max: u32, unit: &str| {
            if !(min..=max).contains(&value) {
                out.push(FieldError::new(at(field), format!("is {value} (expected {min} to {max} {unit})")));
            }
        };
        match self {
            Trigger::CartAbandoned { after_minutes } | Trigger::CheckoutAbandoned { after_minutes } => range(
                "after_minutes",
                *after_minutes,
                10,
                7 * 24 * 60,
                "minutes: a reminder within 10 minutes interrupts a customer still deciding",
            ),
            Trigger::BrowseAbandoned { views, within_hours, after_minutes, .. } => {
                range("views", *views, 2, 50, "views");
                range("within_hours", *within_hours, 1, 30 * 24, "hours");
                range("after_minutes", *after_minutes, 10, 7 * 24 * 60, "minutes");
            }
            Trigger::Welcome { after_hours } => range("after_hours", *after_hours, 0, 90 * 24, "hours"),
            Trigger::PostPurchase { after_days } => range("after_days", *after_days, 1, 365, "days"),
            Trigger::ReplenishmentDue { days_before } => range("days_before", *days_before, 0, 60, "days"),
            Trigger::BackInStock { viewed_within_days } => {
                range("viewed_within_days", *viewed_within_days, 1, 180, "days")
            }
            Trigger::PriceDrop { viewed_within_days, min_drop_percent } => {
                range("viewed_within_days", *viewed_within_days, 1, 180, "days");
                range("min_drop_percent", *min_drop_percent, 1, 90, "percent");
            }
            Trigger::IntentOffer { views, within_days } => {
                range("views", *views, 2, 100, "views");
                range("within_days", *within_days, 1, 90, "days");
            }
            Trigger::Birthday { days_before } => range("days_before", *days_before, 0, 30, "days"),
            Trigger::PointsExpiring { days_before } => range("days_before", *days_before, 1, 90, "days"),
            Trigger::ChurnRisk { .. } | Trigger::TierChanged { .. } | Trigger::Broadcast { .. } => {}
        }
        out
    }
}
