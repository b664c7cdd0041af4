//! The policy every send passes, channel by channel: consent (with its provenance), the
//! suppression list, quiet hours (the law's and the campaign's, in the recipient's zone), and
//! the frequency caps. Each rule is a small pure function; the first that suppresses decides,
//! and a deferral moves the send to the first minute every rule allows.
//!
//! A customer without a known time zone is held to the quiet hours of every zone their number's
//! country spans (a US number: Hawaii to New York), so a guess can never put a message in
//! someone's night.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::caps::{CapVerdict, Caps, Ledger};
use super::quiet::{self, Allowed, Verdict};
use crate::contact::Channel;
use crate::ids::Topic;
use crate::profile::Profile;
use crate::profile::reach::{self, Consent, Purpose};
use crate::profile::tracked::current;

/// What the policy says about one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Allow,
    DeferUntil(DateTime<Utc>),
    Suppress,
}

/// The policy's answer for one channel, with every rule's reason in the order they were asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub channel: Channel,
    pub rule: Rule,
    pub reasons: Vec<String>,
}

/// What the policy looks at for one send.
pub struct Ask<'a> {
    pub profile: &'a Profile,
    pub purpose: Purpose,
    pub topic: Option<&'a Topic>,
    pub channel: Channel,
    /// When the send would go.
    pub at: DateTime<Utc>,
    /// The campaign's own quiet hours: the window it may send in.
    pub campaign_window: Option<&'a Allowed>,
    pub caps: &'a Caps,
    pub ledger: &'a Ledger,
    /// Whether transactional messages count against caps (by default they are exempt).
    pub cap_transactional: bool,
}

/// Rounds of deferral looked at before giving up: quiet hours and caps can push a send
/// back and forth (a cap frees at midnight, when quiet hours start).
const ROUNDS: usize = 12;

/// The decision for `ask`.
pub fn decide(ask: &Ask) -> Decision {
    let mut reasons = Vec::new();
    let done = |rule, reasons| Decision { channel: ask.channel, rule, reasons };
    match reach::check(ask.profile, ask.purpose, ask.topic, ask.channel) {
        Consent::Allow(why) => reasons.push(why),
        Consent::Suppress(why) => {
            reasons.push(why);
            return done(Rule::Suppress, reasons);
        }
    }
    if let Some(why) = suppressed(ask.profile, ask.channel) {
        reasons.push(why);
        return done(Rule::Suppress, reasons);
    }
    let marketing = ask.purpose == Purpose::Marketing;
    let capped = marketing || ask.cap_transactional;
    let mut rules = if marketing { law(ask.profile, ask.channel) } else { Vec::new() };
    rules.extend(ask.campaign_window.cloned());
    let zones = zones(ask.profile, ask.channel);
    let mut at = ask.at;
    for _ in 0..ROUNDS {
        let mut moved = false;
        for tz in &zones {
            match quiet::check(at, *tz, &rules) {
                Verdict::Allow => {}
                Verdict::DeferUntil { at: later, because } => {
                    reasons.push(format!("quiet hours: {because}; moved to {}", later.format("%Y-%m-%d %H:%M UTC")));
                    at = later;
                    moved = true;
                }
                Verdict::Suppress { because } => {
                    reasons.push(format!("quiet hours: {because}"));
                    return done(Rule::Suppress, reasons);
                }
            }
        }
        if capped {
            // A day is the customer's own (the first candidate zone when theirs is unknown).
            match ask.ledger.check(ask.caps, ask.channel, at, zones[0]) {
                CapVerdict::Allow => {}
                CapVerdict::DeferUntil { at: later, because } => {
                    reasons.push(format!("frequency cap: {because}; moved to {}", later.format("%Y-%m-%d %H:%M UTC")));
                    at = later;
                    moved = true;
                }
            }
        }
        if !moved {
            if at == ask.at {
                reasons.push(if capped {
                    "inside quiet hours rules and frequency caps".to_string()
                } else {
                    "transactional: exempt from marketing quiet hours and frequency caps".to_string()
                });
                return done(Rule::Allow, reasons);
            }
            return done(Rule::DeferUntil(at), reasons);
        }
    }
    reasons.push(format!("no minute satisfies quiet hours and caps together after {ROUNDS} deferrals"));
    done(Rule::Suppress, reasons)
}

/// The legal windows for the customer on `channel`.
fn law(profile: &Profile, channel: Channel) -> Vec<Allowed> {
    let country = current(&profile.contact.details.country).map(|c| c.as_str());
    let phone = profile.phone().map(|p| p.as_str());
    quiet::rules_for(channel, country, phone)
}

/// The zones quiet hours are checked in: the customer's own, or every zone their country
/// spans when it is unknown.
fn zones(profile: &Profile, channel: Channel) -> Vec<Tz> {
    if let Some(tz) = current(&profile.contact.details.time_zone) {
        return vec![tz.tz()];
    }
    let country = current(&profile.contact.details.country).map(|c| c.as_str().to_string());
    let phone = profile.phone().map(|p| p.as_str().to_string());
    let by_number = match phone.as_deref() {
        Some(p) if channel == Channel::Sms && p.starts_with("+1") && country.as_deref() != Some("CA") => Some("US"),
        Some(p) if channel == Channel::Sms && p.starts_with("+33") => Some("FR"),
        _ => None,
    };
    use chrono_tz::{America, Europe, Pacific};
    match by_number.or(country.as_deref()) {
        Some("US") => vec![
            America::New_York,
            America::Chicago,
            America::Denver,
            America::Phoenix,
            America::Los_Angeles,
            America::Anchorage,
            Pacific::Honolulu,
        ],
        Some("FR") => vec![Europe::Paris],
        Some("DE") => vec![Europe::Berlin],
        Some("GB") => vec![Europe::London],
        _ => vec![chrono_tz::UTC],
    }
}

/// Why the customer's address on `channel` is on the suppression list, if it is.
fn suppressed(profile: &Profile, channel: Channel) -> Option<String> {
    profile.suppression(channel).map(|s| {
        format!(
            "the {} is suppressed: {} on {} (event {})",
            channel_address(channel),
            s.value.map_or("suppressed", |r| r.describe()),
            s.at.format("%Y-%m-%d %H:%M UTC"),
            s.event
        )
    })
}

fn channel_address(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email address",
        Channel::Sms => "phone number",
        Channel::Push => "push token",
    }
}
