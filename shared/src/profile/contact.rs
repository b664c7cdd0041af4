//! The contact part of a profile: addresses and personal details, consent per channel and topic,
//! and the shop's own attributes, each last-writer-wins with its provenance.
//!
//! Everything here is idempotent by construction (a value changes only for a newer event), so a
//! duplicate however late changes nothing. Topics and attribute names are the shop's free
//! choice, so both are bounded: an event that would add one more than a profile holds is
//! refused with the field to blame; changing or clearing an existing one always works.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::part::{PartMeta, ProfilePart};
use super::tracked::{Provenance, Tracked, set_entry_if_newer, set_if_newer};
use crate::contact::{Birthday, Channel, Country, Email, FirstName, Locale, Phone, PushToken, TimeZone};
use crate::event::{ConsentStatus, CustomerUpdated, Payload, ShopEvent, SuppressionReason, SuppressionStatus};
use crate::ids::Topic;
use crate::keys::PartKind;
use crate::validate::FieldError;

/// Push devices kept per customer (the most recently registered).
pub const MAX_PUSH_TOKENS: usize = 5;
/// Consent records (channel and topic) a profile holds.
pub const MAX_CONSENTS: usize = 200;
/// Attributes a profile holds.
pub const MAX_ATTRIBUTES: usize = 200;

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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactPart {
    #[serde(rename = "m", default)]
    pub meta: PartMeta,
    #[serde(default)]
    pub details: Contact,
    /// Consent per `channel/topic`, with its provenance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consents: BTreeMap<String, Tracked<ConsentStatus>>,
    /// Shop-specific attributes for audience filters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Tracked<serde_json::Value>>,
    /// Suppressed addresses, by `channel/<digest of the address>` (never the address itself).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressions: BTreeMap<String, Tracked<SuppressionReason>>,
}

/// Suppression records a profile holds (addresses come and go; the newest are kept).
pub const MAX_SUPPRESSIONS: usize = 20;

/// The key a suppression of `address` on `channel` is kept under: a digest, so the profile
/// never holds an address it no longer has.
pub fn suppression_key(channel: Channel, address: &str) -> String {
    format!("{channel}/{:016x}", crate::hash::mixed64(address.trim().to_lowercase().as_bytes()))
}

pub fn consent_key(channel: Channel, topic: &Topic) -> String {
    format!("{channel}/{topic}")
}

impl ProfilePart for ContactPart {
    const KIND: PartKind = PartKind::Contact;

    super::part::part_meta!();

    fn apply(&mut self, event: &ShopEvent, at: DateTime<Utc>) -> Result<(), FieldError> {
        let provenance = Provenance { at, source: event.source.clone(), event: event.id.clone() };
        match &event.payload {
            Payload::ConsentChanged(c) => {
                let key = consent_key(c.channel, &c.topic);
                if !self.consents.contains_key(&key) && self.consents.len() >= MAX_CONSENTS {
                    return Err(FieldError::new(
                        "data.topic",
                        format!(
                            "this customer already has consent records for {MAX_CONSENTS} channel and topic pairs, the most a profile holds"
                        ),
                    ));
                }
                // The collection method is the consent's provenance, more useful than the system.
                let consent_provenance = Provenance { source: c.source.clone(), ..provenance };
                set_entry_if_newer(&mut self.consents, key, Some(c.status), &consent_provenance);
            }
            Payload::SuppressionChanged(c) => {
                let address = match &c.address {
                    Some(a) => Some(a.clone()),
                    None => self.current_address(c.channel),
                };
                let Some(address) = address else {
                    return Err(FieldError::new(
                        "data.address",
                        format!("the customer has no {} on record and the event names none", c.channel),
                    ));
                };
                let key = suppression_key(c.channel, &address);
                let value = match c.status {
                    SuppressionStatus::Suppressed => Some(c.reason),
                    SuppressionStatus::Lifted => None,
                };
                set_entry_if_newer(&mut self.suppressions, key, value, &provenance);
                if self.suppressions.len() > MAX_SUPPRESSIONS {
                    let mut by_age: Vec<(DateTime<Utc>, String)> =
                        self.suppressions.iter().map(|(k, t)| (t.at, k.clone())).collect();
                    by_age.sort();
                    for (_, k) in by_age.into_iter().rev().skip(MAX_SUPPRESSIONS) {
                        self.suppressions.remove(&k);
                    }
                }
            }
            Payload::CustomerUpdated(u) => {
                let live = |t: Option<&Tracked<serde_json::Value>>| t.is_some_and(|t| t.value.is_some());
                let have = self.attributes.values().filter(|t| t.value.is_some()).count();
                let adding =
                    u.attributes.iter().filter(|(n, v)| !v.is_null() && !live(self.attributes.get(*n))).count();
                if have + adding > MAX_ATTRIBUTES {
                    return Err(FieldError::new(
                        "data.attributes",
                        format!(
                            "would give this customer {} attributes, more than the {MAX_ATTRIBUTES} a profile holds (clear some with null first)",
                            have + adding
                        ),
                    ));
                }
                self.update(u, &provenance);
                self.forget_old_clears();
            }
            _ => {}
        }
        Ok(())
    }
}

impl ContactPart {
    /// The address a channel reaches now (for push, the newest token).
    fn current_address(&self, channel: Channel) -> Option<String> {
        let d = &self.details;
        match channel {
            Channel::Email => super::tracked::current(&d.email).map(|e| e.as_str().to_string()),
            Channel::Sms => super::tracked::current(&d.phone).map(|p| p.as_str().to_string()),
            Channel::Push => d.push_tokens.iter().find_map(|t| t.value.as_ref()).map(|t| t.token.as_str().to_string()),
        }
    }

    /// Why `channel` cannot be used, if its current address is suppressed: for push, when
    /// every live token is.
    pub fn suppression(&self, channel: Channel) -> Option<&Tracked<SuppressionReason>> {
        if self.suppressions.is_empty() {
            return None;
        }
        let d = &self.details;
        let held =
            |address: &str| self.suppressions.get(&suppression_key(channel, address)).filter(|t| t.value.is_some());
        match channel {
            Channel::Email => super::tracked::current(&d.email).and_then(|e| held(e.as_str())),
            Channel::Sms => super::tracked::current(&d.phone).and_then(|p| held(p.as_str())),
            Channel::Push => {
                let tokens: Vec<&str> =
                    d.push_tokens.iter().filter_map(|t| t.value.as_ref()).map(|t| t.token.as_str()).collect();
                let first = tokens.first().and_then(|t| held(t))?;
                tokens.iter().all(|t| held(t).is_some()).then_some(first)
            }
        }
    }

    /// The push tokens still usable (not reported invalid).
    pub fn live_push_tokens(&self) -> impl Iterator<Item = &PushToken> {
        self.details.push_tokens.iter().filter_map(|t| t.value.as_ref()).filter(|t| {
            self.suppressions.get(&suppression_key(Channel::Push, t.token.as_str())).is_none_or(|s| s.value.is_none())
        })
    }

    /// Cleared attributes are remembered (so a late, older value cannot come back), but only the
    /// newest [`MAX_ATTRIBUTES`] of them.
    fn forget_old_clears(&mut self) {
        let mut cleared: Vec<(DateTime<Utc>, String)> =
            self.attributes.iter().filter(|(_, t)| t.value.is_none()).map(|(n, t)| (t.at, n.clone())).collect();
        if cleared.len() > MAX_ATTRIBUTES {
            cleared.sort();
            for (_, name) in cleared.into_iter().rev().skip(MAX_ATTRIBUTES) {
                self.attributes.remove(&name);
            }
        }
    }

    fn update(&mut self, u: &CustomerUpdated, p: &Provenance) {
        let c = &mut self.details;
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
}
