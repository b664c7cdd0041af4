//! The customer profile: the aggregate every event folds into.
//!
//! A profile is stored in parts ([`crate::keys::PartKind`]), one item each, so the item an event
//! rewrites holds only what that kind of event changes: product views and cart changes the
//! [`Browse`] part, sessions and message engagement the [`Engagement`] part, orders and refunds
//! the [`OrderBook`] (with [`ArchivedOrders`] for old history), contact details, consents and
//! attributes the [`ContactPart`]. Each event has one home part, where it is counted and
//! deduplicated; an order also empties the cart, an effect on the browse part that is
//! idempotent by itself.
//!
//! Folding is a pure function of the profile and one event, written so that the order events
//! arrive in does not matter for anything that has a natural order: contact fields and consents
//! are last-writer-wins by occurred-at, purchase statistics are derived from orders kept by id,
//! the cart ignores changes from before the order that emptied it, attention is kept by UTC
//! hour and read in the current time zone. Counting each event once is the ingest path's job
//! (the parts' recently-seen ids), not the fold's.

pub mod browse;
pub mod contact;
pub mod engagement;
pub mod orders;
pub mod part;
pub mod reach;
pub mod tracked;

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::attention::{Attention, Signal};
use crate::contact::{Channel, Email, Phone};
use crate::event::{ConsentStatus, Payload, ShopEvent};
use crate::ids::{Category, CustomerId, ProductId, Topic};
use crate::keys::PartKind;
use crate::validate::FieldError;
use browse::AFFINITY_PURCHASE;
pub use browse::Browse;
pub use contact::{ContactPart, consent_key};
pub use engagement::Engagement;
pub use orders::{ArchivedOrders, OrderBook, OrderRecord, PurchaseSummary};
pub use part::{PartMeta, ProfilePart};
use tracked::{Tracked, current};

/// The part an event is counted in.
pub fn home(payload: &Payload) -> PartKind {
    match payload {
        Payload::ProductViewed(_)
        | Payload::CartItemAdded(_)
        | Payload::CartItemRemoved(_)
        | Payload::CheckoutStarted(_) => PartKind::Browse,
        Payload::SessionStarted(_) | Payload::MessageEngaged(_) | Payload::ActionPerformed(_) => PartKind::Engagement,
        Payload::OrderPlaced(_) | Payload::OrderRefunded(_) => PartKind::Orders,
        Payload::ConsentChanged(_) | Payload::CustomerUpdated(_) | Payload::SuppressionChanged(_) => PartKind::Contact,
    }
}

/// Another part an event changes (idempotently) besides its home, if any.
pub fn also_touches(payload: &Payload) -> Option<PartKind> {
    matches!(payload, Payload::OrderPlaced(_)).then_some(PartKind::Browse)
}

/// The instant an event is folded in at: its occurrence, to the second (what the parts store),
/// so a profile folded in memory and one written and read back between events agree.
pub fn event_instant(event: &ShopEvent) -> DateTime<Utc> {
    event.occurred_at.with_timezone(&Utc).trunc_subsecs(0)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub customer_id: CustomerId,
    pub browse: Browse,
    pub engagement: Engagement,
    pub orders: OrderBook,
    /// The chunks of older orders the orders part lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived_orders: Vec<ArchivedOrders>,
    pub contact: ContactPart,
}

impl Profile {
    pub fn new(customer_id: CustomerId) -> Self {
        Profile {
            customer_id,
            browse: Browse::default(),
            engagement: Engagement::default(),
            orders: OrderBook::default(),
            archived_orders: Vec::new(),
            contact: ContactPart::default(),
        }
    }

    /// Folds one event into the profile (in memory: counting once is the caller's concern).
    /// An event whose effect the profile cannot hold is refused, naming the field, and changes
    /// nothing.
    pub fn apply(&mut self, event: &ShopEvent) -> Result<(), FieldError> {
        let at = event_instant(event);
        match home(&event.payload) {
            PartKind::Browse => self.browse.fold(event, at)?,
            PartKind::Engagement => self.engagement.fold(event, at)?,
            PartKind::Orders => {
                self.orders.apply_with(event, at, &mut self.archived_orders)?;
                self.orders.meta.count(at);
            }
            PartKind::Contact => self.contact.fold(event, at)?,
        }
        if also_touches(&event.payload) == Some(PartKind::Browse) {
            self.browse.touch(event, at);
        }
        Ok(())
    }

    fn metas(&self) -> [&PartMeta; 4] {
        [&self.browse.meta, &self.engagement.meta, &self.orders.meta, &self.contact.meta]
    }

    /// Distinct events folded in (each is counted once, in its home part).
    pub fn events_applied(&self) -> u64 {
        self.metas().iter().map(|m| m.applied).sum()
    }

    pub fn first_seen_at(&self) -> Option<DateTime<Utc>> {
        self.metas().iter().filter_map(|m| m.first).min()
    }

    pub fn last_seen_at(&self) -> Option<DateTime<Utc>> {
        self.metas().iter().filter_map(|m| m.last).max()
    }

    /// Every order record, recent and archived.
    pub fn order_records(&self) -> impl Iterator<Item = &OrderRecord> {
        self.orders.orders.values().chain(self.archived_orders.iter().flat_map(|a| a.orders.values()))
    }

    /// The customer's time zone, UTC until they tell us.
    pub fn time_zone(&self) -> Tz {
        current(&self.contact.details.time_zone).map_or(chrono_tz::UTC, |t| t.tz())
    }

    pub fn email(&self) -> Option<&Email> {
        current(&self.contact.details.email)
    }

    pub fn phone(&self) -> Option<&Phone> {
        current(&self.contact.details.phone)
    }

    /// The suppression of the address `channel` reaches now, if it is suppressed.
    pub fn suppression(&self, channel: Channel) -> Option<&tracked::Tracked<crate::event::SuppressionReason>> {
        self.contact.suppression(channel)
    }

    /// The consent on record for a channel and topic, if any.
    pub fn consent(&self, channel: Channel, topic: &Topic) -> Option<&Tracked<ConsentStatus>> {
        // The channel's keys are contiguous (`<channel>/<topic>`): found without building a key,
        // since the policy asks this before every send.
        use std::ops::Bound;
        let channel = channel.as_str();
        self.contact
            .consents
            .range::<str, _>((Bound::Included(channel), Bound::Unbounded))
            .map_while(|(k, t)| k.strip_prefix(channel).map(|rest| (rest, t)))
            .find(|(rest, _)| rest.strip_prefix('/') == Some(topic.as_str()))
            .map(|(_, t)| t)
            .filter(|t| t.value.is_some())
    }

    /// A shop attribute's current value.
    pub fn attribute(&self, name: &str) -> Option<&serde_json::Value> {
        self.contact.attributes.get(name).and_then(|t| t.value.as_ref())
    }

    pub fn purchases(&self) -> PurchaseSummary {
        orders::summarize(self.order_records())
    }

    /// Interest per category: browsing interest plus the lines of purchases (those whose line
    /// detail is kept), weighted as strongest signal.
    pub fn category_affinity(&self) -> BTreeMap<Category, u32> {
        let mut affinity = self.browse.interest.clone();
        let purchased =
            self.orders.orders.values().filter(|o| o.counts_as_purchase()).filter_map(|o| o.placed.as_ref());
        for line in purchased.flat_map(|p| &p.lines) {
            if let Some(c) = &line.category {
                let w = affinity.entry(c.clone()).or_default();
                *w = w.saturating_add(AFFINITY_PURCHASE);
            }
        }
        affinity
    }

    /// When the customer pays attention, by hour of their local week as of `now`: their
    /// engagement signals plus their purchases (added from the orders, so a re-sent order
    /// counts once, at its earliest report).
    pub fn attention(&self, now: DateTime<Utc>) -> Attention {
        let mut stored = self.engagement.attention.clone();
        for placed in self.order_records().filter_map(|o| o.placed.as_ref()) {
            stored.record(placed.at.timestamp(), Signal::Purchase);
        }
        stored.local(self.time_zone(), now)
    }

    /// Products bought, newest first, each once.
    pub fn recent_purchases(&self, limit: usize) -> Vec<(ProductId, DateTime<Utc>)> {
        let mut bought: Vec<(DateTime<Utc>, ProductId)> = self
            .orders
            .orders
            .values()
            .filter(|o| o.counts_as_purchase())
            .filter_map(|o| o.placed.as_ref())
            .flat_map(|p| p.lines.iter().map(move |l| (p.at, l.product_id.clone())))
            .collect();
        bought.sort_by(|a, b| b.cmp(a));
        let mut seen = std::collections::BTreeSet::new();
        bought.into_iter().filter(|(_, p)| seen.insert(p.clone())).take(limit).map(|(at, p)| (p, at)).collect()
    }
}

#[cfg(test)]
mod tests;
