//! Whether a message may reach a customer by a channel: an address there, and for marketing
//! consent to its topic on that channel. Delivery's consent rule, and what campaigns check
//! before queueing a send. The reason says where the consent came from.

use crate::clock::Minute;
use crate::contact::Channel;
use crate::event::ConsentStatus;
use crate::ids::Topic;
use crate::profile::Profile;
use crate::profile::tracked::{Tracked, current};

/// What the rule says, and why (with the consent's provenance when there is one).
#[derive(Clone, Debug, PartialEq)]
pub enum Consent<'a> {
    Allow(Why<'a>),
    Suppress(Why<'a>),
}

/// The reason behind a [`Consent`], written out only when someone reads it (dispatch asks the
/// rule for every send, and most reasons are never shown).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Why<'a> {
    NoAddress(Channel),
    Transactional,
    NoTopic,
    /// The consent on record, granted or withdrawn.
    Recorded {
        topic: &'a Topic,
        channel: Channel,
        consent: &'a Tracked<ConsentStatus>,
    },
    NoConsent {
        topic: &'a Topic,
        channel: Channel,
    },
}

impl std::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::NoAddress(channel) => write!(f, "no {} on record", address(*channel)),
            Why::Transactional => f.write_str("a transactional message needs no marketing consent"),
            Why::NoTopic => f.write_str("a marketing campaign without a consent topic sends to nobody"),
            Why::Recorded { topic, channel, consent: t } => {
                let verb = if t.value == Some(ConsentStatus::Granted) { "consented" } else { "withdrew consent" };
                write!(f, "{verb} to {topic} by {channel} on {} (from {}, event {})", Minute(t.at), t.source, t.event)
            }
            Why::NoConsent { topic, channel } => write!(f, "no consent to {topic} by {channel} on record"),
        }
    }
}

/// Whether a message is marketing (needs consent) or a notice the customer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Marketing,
    Transactional,
}

/// The rule for a message for `purpose` about `topic` to `profile` by `channel`.
pub fn check<'a>(profile: &'a Profile, purpose: Purpose, topic: Option<&'a Topic>, channel: Channel) -> Consent<'a> {
    let details = &profile.contact.details;
    let reachable = match channel {
        Channel::Email => current(&details.email).is_some(),
        Channel::Sms => current(&details.phone).is_some(),
        Channel::Push => details.push_tokens.iter().any(|t| t.value.is_some()),
    };
    if !reachable {
        return Consent::Suppress(Why::NoAddress(channel));
    }
    if purpose == Purpose::Transactional {
        return Consent::Allow(Why::Transactional);
    }
    let Some(topic) = topic else {
        return Consent::Suppress(Why::NoTopic);
    };
    match profile.consent(channel, topic) {
        Some(consent) => {
            let why = Why::Recorded { topic, channel, consent };
            if consent.value == Some(ConsentStatus::Granted) { Consent::Allow(why) } else { Consent::Suppress(why) }
        }
        None => Consent::Suppress(Why::NoConsent { topic, channel }),
    }
}

pub fn address(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email address",
        Channel::Sms => "phone number",
        Channel::Push => "push token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;

    fn apply(p: &mut Profile, n: &str, at: &str, kind: &str, data: serde_json::Value) {
        let text = serde_json::json!({"schema_version": 1, "id": n, "customer_id": "c-1", "occurred_at": at,
            "source": "checkout", "type": kind, "data": data});
        let now = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc);
        match crate::event::parse_inbound(&text.to_string(), now).unwrap() {
            crate::event::Inbound::Customer(e) => p.apply(&e).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn marketing_needs_a_granted_consent_to_the_topic_on_the_channel_and_an_address() {
        let topic = Topic::new("marketing").unwrap();
        let mut p = Profile::new(CustomerId::new("c-1").unwrap());
        let email = |p: &Profile| -> String {
            match check(p, Purpose::Marketing, Some(&topic), Channel::Email) {
                Consent::Allow(why) => format!("allow: {why}"),
                Consent::Suppress(why) => format!("suppress: {why}"),
            }
        };
        assert_eq!(email(&p), "suppress: no email address on record");
        apply(&mut p, "u", "2026-11-01T10:00:00Z", "customer_updated", serde_json::json!({"email": "ana@example.com"}));
        assert!(email(&p).starts_with("suppress: no consent"), "{}", email(&p));
        let consent = |status: &str| serde_json::json!({"channel": "email", "topic": "marketing", "status": status, "source": "signup_form"});
        apply(&mut p, "k1", "2026-11-02T10:00:00Z", "consent_changed", consent("granted"));
        let why = email(&p);
        assert!(
            why.starts_with("allow: consented") && why.contains("2026-11-02 10:00 UTC") && why.contains("k1"),
            "{why}"
        );
        // Another topic or channel: no.
        let news = Topic::new("newsletter").unwrap();
        assert!(matches!(check(&p, Purpose::Marketing, Some(&news), Channel::Email), Consent::Suppress(_)));
        assert!(matches!(check(&p, Purpose::Marketing, Some(&topic), Channel::Sms), Consent::Suppress(_)));
        apply(&mut p, "k2", "2026-11-03T10:00:00Z", "consent_changed", consent("revoked"));
        assert!(email(&p).starts_with("suppress: withdrew"), "{}", email(&p));
        // A transactional message needs an address only; a marketing one without a topic, nobody.
        assert!(matches!(check(&p, Purpose::Transactional, None, Channel::Email), Consent::Allow(_)));
        assert!(matches!(check(&p, Purpose::Marketing, None, Channel::Email), Consent::Suppress(_)));
        // The reasons never carry the address.
        assert!(!email(&p).contains("ana@"));
    }
}
