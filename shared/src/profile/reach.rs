//! Whether a message may reach a customer by a channel: an address there, and for marketing
//! consent to its topic on that channel. Delivery's consent rule, and what campaigns check
//! before queueing a send. The reason says where the consent came from.

use crate::contact::Channel;
use crate::event::ConsentStatus;
use crate::ids::Topic;
use crate::profile::Profile;
use crate::profile::tracked::current;

/// What the rule says, and why (with the consent's provenance when there is one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consent {
    Allow(String),
    Suppress(String),
}

/// Whether a message is marketing (needs consent) or a notice the customer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Marketing,
    Transactional,
}

/// The rule for a message for `purpose` about `topic` to `profile` by `channel`.
pub fn check(profile: &Profile, purpose: Purpose, topic: Option<&Topic>, channel: Channel) -> Consent {
    let details = &profile.contact.details;
    let reachable = match channel {
        Channel::Email => current(&details.email).is_some(),
        Channel::Sms => current(&details.phone).is_some(),
        Channel::Push => details.push_tokens.iter().any(|t| t.value.is_some()),
    };
    if !reachable {
        return Consent::Suppress(format!("no {} on record", address(channel)));
    }
    if purpose == Purpose::Transactional {
        return Consent::Allow("a transactional message needs no marketing consent".into());
    }
    let Some(topic) = topic else {
        return Consent::Suppress("a marketing campaign without a consent topic sends to nobody".into());
    };
    match profile.consent(channel, topic) {
        Some(t) => {
            let when = format!("{} (from {}, event {})", t.at.format("%Y-%m-%d %H:%M UTC"), t.source, t.event);
            match t.value {
                Some(ConsentStatus::Granted) => Consent::Allow(format!("consented to {topic} by {channel} on {when}")),
                _ => Consent::Suppress(format!("withdrew consent to {topic} by {channel} on {when}")),
            }
        }
        None => Consent::Suppress(format!("no consent to {topic} by {channel} on record")),
    }
}

fn address(channel: Channel) -> &'static str {
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
        let email = |p: &Profile| check(p, Purpose::Marketing, Some(&topic), Channel::Email);
        assert_eq!(email(&p), Consent::Suppress("no email address on record".into()));
        apply(&mut p, "u", "2026-11-01T10:00:00Z", "customer_updated", serde_json::json!({"email": "ana@example.com"}));
        assert!(matches!(email(&p), Consent::Suppress(why) if why.contains("no consent")));
        let consent = |status: &str| serde_json::json!({"channel": "email", "topic": "marketing", "status": status, "source": "signup_form"});
        apply(&mut p, "k1", "2026-11-02T10:00:00Z", "consent_changed", consent("granted"));
        match email(&p) {
            Consent::Allow(why) => assert!(why.contains("2026-11-02 10:00 UTC") && why.contains("k1"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Another topic or channel: no.
        let news = Topic::new("newsletter").unwrap();
        assert!(matches!(check(&p, Purpose::Marketing, Some(&news), Channel::Email), Consent::Suppress(_)));
        assert!(matches!(check(&p, Purpose::Marketing, Some(&topic), Channel::Sms), Consent::Suppress(_)));
        apply(&mut p, "k2", "2026-11-03T10:00:00Z", "consent_changed", consent("revoked"));
        assert!(matches!(email(&p), Consent::Suppress(why) if why.starts_with("withdrew")));
        // A transactional message needs an address only; a marketing one without a topic, nobody.
        assert!(matches!(check(&p, Purpose::Transactional, None, Channel::Email), Consent::Allow(_)));
        assert!(matches!(check(&p, Purpose::Marketing, None, Channel::Email), Consent::Suppress(_)));
        // The reasons never carry the address.
        assert!(!format!("{:?}", email(&p)).contains("ana@"));
    }
}
