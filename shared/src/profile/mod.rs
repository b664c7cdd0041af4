//! The customer profile: the aggregate every event folds into.
//!
//! [`Profile::apply`] is a pure function of the profile and one event. It is written so that the
//! order events arrive in does not matter for anything that has a natural order: contact fields
//! and consents are last-writer-wins by occurred-at, purchase statistics are derived from orders
//! kept by id, the cart ignores changes from before the order that emptied it, lists are kept
//! sorted by time. Counting each event once is the ingest path's job (event markers), not the
//! fold's.

pub mod cart;
pub mod engagement;
pub mod orders;
pub mod tracked;
pub mod week;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::contact::{Birthday, Channel, Country, Email, FirstName, Locale, Phone, PushToken, TimeZone};
use crate::event::{ConsentStatus, CustomerUpdated, Engagement as EngagementAction, Payload, ShopEvent};
use crate::ids::{Category, CustomerId, OrderId, ProductId, Topic};
use crate::sto::attention::{Attention, Signal};
use cart::{Cart, View, record_view};
use engagement::{Engagement, EngagementKind, EngagementRecord};
use orders::{OrderRecord, PurchaseSummary, record_order, record_refund, summarize};
use tracked::{Provenance, Tracked, current, set_entry_if_newer, set_if_newer};

/// Weights of the signals behind category affinity: a purchase says more than a view.
const AFFINITY_VIEW: u32 = 1;
const AFFINITY_CART: u32 = 2;
const AFFINITY_PURCHASE: u32 = 4;
/// Push devices kept per customer (the most recently registered).
const MAX_PUSH_TOKENS: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub customer_id: CustomerId,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Events folded in; with event markers this is exactly the distinct events received.
    pub events_applied: u64,
    #[serde(default)]
    pub contact: Contact,
    /// Consent per `channel/topic`, with its provenance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consents: BTreeMap<String, Tracked<ConsentStatus>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub orders: BTreeMap<OrderId, OrderRecord>,
    #[serde(default)]
    pub engagement: Engagement,
    #[serde(default)]
    pub cart: Cart,
    /// Newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_views: Vec<View>,
    /// Weighted browsing interest per category (views, cart adds); purchases are added from
    /// the orders when read, see [`Profile::category_affinity`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interest: BTreeMap<Category, u32>,
    /// Shop-specific attributes for audience filters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Tracked<serde_json::Value>>,
}

/// Addresses and personal details, each with the provenance of its last change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Tracked<Email>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Tracked<Phone>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_tokens: Vec<Tracked<PushToken>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<Tracked<TimeZone>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Tracked<Locale>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Tracked<Country>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Tracked<Birthday>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Tracked<FirstName>>,
}

pub fn consent_key(channel: Channel, topic: &Topic) -> String {
    format!("{channel}/{topic}")
}

impl Profile {
    pub fn new(customer_id: CustomerId, at: DateTime<Utc>) -> Self {
        Profile {
            customer_id,
            first_seen_at: at,
            last_seen_at: at,
            events_applied: 0,
            contact: Contact::default(),
            consents: BTreeMap::new(),
            orders: BTreeMap::new(),
            engagement: Engagement::default(),
            cart: Cart::default(),
            recent_views: Vec::new(),
            interest: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    /// Folds one event into the profile.
    pub fn apply(&mut self, event: &ShopEvent) {
        let at = event.occurred_at.with_timezone(&Utc);
        self.first_seen_at = self.first_seen_at.min(at);
        self.last_seen_at = self.last_seen_at.max(at);
        self.events_applied += 1;
        let provenance = Provenance { at, source: event.source.clone(), event: event.id.clone() };
        match &event.payload {
            Payload::ProductViewed(v) => {
                record_view(&mut self.recent_views, &v.product_id, v.category.as_ref(), at);
                self.bump_affinity(v.category.as_ref(), AFFINITY_VIEW);
            }
            Payload::CartItemAdded(a) => {
                self.cart.add(a, at);
                self.bump_affinity(a.category.as_ref(), AFFINITY_CART);
            }
            Payload::CartItemRemoved(r) => self.cart.remove(r, at),
            Payload::CheckoutStarted(_) => self.cart.checkout_started(at),
            Payload::OrderPlaced(o) => {
                record_order(&mut self.orders, o, at, event.occurred_at.date_naive());
                self.cart.order_placed(at);
            }
            Payload::OrderRefunded(r) => record_refund(&mut self.orders, r, at),
            Payload::SessionStarted(_) => self.record_engagement(at, EngagementKind::Session, None, None),
            Payload::MessageEngaged(m) => {
                let kind = match m.action {
                    EngagementAction::Delivered => EngagementKind::Delivered,
                    EngagementAction::Opened => EngagementKind::Opened,
                    EngagementAction::Clicked => EngagementKind::Clicked,
                };
                self.record_engagement(at, kind, Some(m.channel), Some(m.message_id.clone()));
            }
            Payload::ConsentChanged(c) => {
                // The collection method is the consent's provenance, more useful than the system.
                let consent_provenance = Provenance { source: c.source.clone(), ..provenance };
                set_entry_if_newer(
                    &mut self.consents,
                    consent_key(c.channel, &c.topic),
                    Some(c.status),
                    &consent_provenance,
                );
            }
            Payload::CustomerUpdated(u) => self.update_contact(u, &provenance),
        }
    }

    fn bump_affinity(&mut self, category: Option<&Category>, weight: u32) {
        if let Some(c) = category {
            let w = self.interest.entry(c.clone()).or_default();
            *w = w.saturating_add(weight);
        }
    }

    fn record_engagement(
        &mut self,
        at: DateTime<Utc>,
        kind: EngagementKind,
        channel: Option<Channel>,
        message: Option<crate::ids::MessageId>,
    ) {
        let tz = self.time_zone();
        self.engagement.record(EngagementRecord { at: at.timestamp(), kind, channel, message }, tz);
    }

    fn update_contact(&mut self, u: &CustomerUpdated, p: &Provenance) {
        let c = &mut self.contact;
        if let Some(v) = &u.email {
            set_if_newer(&mut c.email, v.clone(), p);
        }
        if let Some(v) = &u.phone {
            set_if_newer(&mut c.phone, v.clone(), p);
        }
        if let Some(v) = &u.time_zone {
            set_if_newer(&mut c.time_zone, *v, p);
        }
        if let Some(v) = &u.locale {
            set_if_newer(&mut c.locale, v.clone(), p);
        }
        if let Some(v) = &u.country {
            set_if_newer(&mut c.country, v.clone(), p);
        }
        if let Some(v) = &u.birthday {
            set_if_newer(&mut c.birthday, *v, p);
        }
        if let Some(v) = &u.first_name {
            set_if_newer(&mut c.first_name, v.clone(), p);
        }
        if let Some(token) = &u.push_token {
            match c.push_tokens.iter_mut().find(|t| t.value.as_ref() == Some(token)) {
                Some(existing) if existing.is_older_than(p) => *existing = Tracked::new(Some(token.clone()), p),
                Some(_) => {}
                None => c.push_tokens.push(Tracked::new(Some(token.clone()), p)),
            }
            c.push_tokens.sort_by(|a, b| (b.at, &b.event).cmp(&(a.at, &a.event)));
            c.push_tokens.truncate(MAX_PUSH_TOKENS);
        }
        for (name, value) in &u.attributes {
            let value = (!value.is_null()).then(|| value.clone());
            set_entry_if_newer(&mut self.attributes, name.clone(), value, p);
        }
    }

    /// The customer's time zone, UTC until they tell us.
    pub fn time_zone(&self) -> Tz {
        current(&self.contact.time_zone).map_or(chrono_tz::UTC, TimeZone::tz)
    }

    pub fn email(&self) -> Option<&Email> {
        current(&self.contact.email)
    }

    pub fn phone(&self) -> Option<&Phone> {
        current(&self.contact.phone)
    }

    /// The consent on record for a channel and topic, if any.
    pub fn consent(&self, channel: Channel, topic: &Topic) -> Option<&Tracked<ConsentStatus>> {
        self.consents.get(&consent_key(channel, topic)).filter(|t| t.value.is_some())
    }

    pub fn purchases(&self) -> PurchaseSummary {
        summarize(&self.orders)
    }

    /// Interest per category: browsing interest plus the lines of purchases (those whose line
    /// detail is kept), weighted as strongest signal.
    pub fn category_affinity(&self) -> BTreeMap<Category, u32> {
        let mut affinity = self.interest.clone();
        let purchased = self.orders.values().filter(|o| o.counts_as_purchase()).filter_map(|o| o.placed.as_ref());
        for line in purchased.flat_map(|p| &p.lines) {
            if let Some(c) = &line.category {
                let w = affinity.entry(c.clone()).or_default();
                *w = w.saturating_add(AFFINITY_PURCHASE);
            }
        }
        affinity
    }

    /// When the customer pays attention: their engagement signals plus their purchases (added
    /// from the orders, so a re-sent order counts once, at its earliest report).
    pub fn attention(&self) -> Attention {
        let mut attention = self.engagement.attention.clone();
        let tz = self.time_zone();
        for placed in self.orders.values().filter_map(|o| o.placed.as_ref()) {
            attention.add(placed.at.timestamp(), tz, Signal::Purchase);
        }
        attention
    }

    /// Products bought, newest first, each once.
    pub fn recent_purchases(&self, limit: usize) -> Vec<(ProductId, DateTime<Utc>)> {
        let mut bought: Vec<(DateTime<Utc>, ProductId)> = self
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
