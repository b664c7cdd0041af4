//! The policy every send passes, channel by channel: consent (with its provenance), the
//! suppression list, quiet hours (the law's and the campaign's, in the recipient's zone), and
//! the frequency caps. Each rule is a small pure function; the first that suppresses decides,
//! and a deferral moves the send to the first minute every rule allows (a cap that frees at the
//! customer's midnight holds a send of a campaign without a window of its own until 09:00
//! there: a held message opens their day).
//!
//! A customer without a known time zone is held to the quiet hours of every zone their number's
//! country spans (a US number: Hawaii to New York), so a guess can never put a message in
//! someone's night.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::caps::{CapReached, CapVerdict, Caps, Ledger};
use super::quiet::{self, Allowed, Blocked, Verdict};
use crate::campaign::scheduled::DAY_STARTS;
use crate::campaign::send_time::local_instant;
use crate::clock::Minute;
use crate::contact::Channel;
use crate::event::SuppressionReason;
use crate::ids::Topic;
use crate::profile::Profile;
use crate::profile::reach::{self, Consent, Purpose};
use crate::profile::tracked::{Tracked, current};

/// What the policy says about one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Allow,
    DeferUntil(DateTime<Utc>),
    Suppress,
}

/// The policy's answer for one channel, with every rule's reason in the order they were asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision<'a> {
    pub channel: Channel,
    pub rule: Rule,
    pub reasons: Vec<Reason<'a>>,
}

impl Decision<'_> {
    /// The reasons written out, as the trace keeps them.
    pub fn explained(&self) -> Vec<String> {
        self.reasons.iter().map(ToString::to_string).collect()
    }
}

/// One rule's reason. It holds what the sentence needs and is written out only when read:
/// most decisions are asked for far more often than they are shown.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason<'a> {
    Consent(reach::Why<'a>),
    Suppressed {
        channel: Channel,
        record: &'a Tracked<SuppressionReason>,
    },
    Quiet {
        because: Blocked,
        moved_to: Option<DateTime<Utc>>,
    },
    Capped {
        because: CapReached,
        moved_to: DateTime<Utc>,
    },
    /// Allowed as asked.
    Inside,
    Transactional,
    NoMinute,
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Consent(why) => why.fmt(f),
            Reason::Suppressed { channel, record } => write!(
                f,
                "the {} is suppressed: {} on {} (event {})",
                reach::address(*channel),
                record.value.map_or("suppressed", |r| r.describe()),
                Minute(record.at),
                record.event
            ),
            Reason::Quiet { because, moved_to: Some(at) } => {
                write!(f, "quiet hours: {because}; moved to {}", Minute(*at))
            }
            Reason::Quiet { because, moved_to: None } => write!(f, "quiet hours: {because}"),
            Reason::Capped { because, moved_to } => {
                write!(f, "frequency cap: {because}; moved to {}", Minute(*moved_to))
            }
            Reason::Inside => f.write_str("inside quiet hours rules and frequency caps"),
            Reason::Transactional => f.write_str("transactional: exempt from marketing quiet hours and frequency caps"),
            Reason::NoMinute => write!(f, "no minute satisfies quiet hours and caps together after {ROUNDS} deferrals"),
        }
    }
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
pub fn decide<'a>(ask: &Ask<'a>) -> Decision<'a> {
    let mut reasons = Vec::with_capacity(4);
    let done = |rule, reasons| Decision { channel: ask.channel, rule, reasons };
    match reach::check(ask.profile, ask.purpose, ask.topic, ask.channel) {
        Consent::Allow(why) => reasons.push(Reason::Consent(why)),
        Consent::Suppress(why) => {
            reasons.push(Reason::Consent(why));
            return done(Rule::Suppress, reasons);
        }
    }
    if let Some(record) = ask.profile.suppression(ask.channel) {
        reasons.push(Reason::Suppressed { channel: ask.channel, record });
        return done(Rule::Suppress, reasons);
    }
    let marketing = ask.purpose == Purpose::Marketing;
    let capped = marketing || ask.cap_transactional;
    let mut rules = if marketing { law(ask.profile, ask.channel) } else { Vec::new() };
    rules.extend(ask.campaign_window.cloned());
    let zones = Zones::of(ask.profile, ask.channel);
    let zones = zones.as_slice();
    let mut at = ask.at;
    for _ in 0..ROUNDS {
        let mut moved = false;
        for tz in zones {
            match quiet::check(at, *tz, &rules) {
                Verdict::Allow => {}
                Verdict::DeferUntil { at: later, because } => {
                    reasons.push(Reason::Quiet { because, moved_to: Some(later) });
                    at = later;
                    moved = true;
                }
                Verdict::Suppress { because } => {
                    reasons.push(Reason::Quiet { because, moved_to: None });
                    return done(Rule::Suppress, reasons);
                }
            }
        }
        if capped {
            // A day is the customer's own (the first candidate zone when theirs is unknown).
            match ask.ledger.check(ask.caps, ask.channel, at, zones[0]) {
                CapVerdict::Allow => {}
                CapVerdict::DeferUntil { at: later, because } => {
                    // A campaign with a window of its own has said when its messages may go:
                    // the quiet-hours check moves the send into it (an earlier opening than
                    // 09:00 is the marketer's to choose, and may be all its expiry allows).
                    let later = if ask.campaign_window.is_none() { after_night(later, zones[0]) } else { later };
                    reasons.push(Reason::Capped { because, moved_to: later });
                    at = later;
                    moved = true;
                }
            }
        }
        if !moved {
            if at == ask.at {
                reasons.push(if capped { Reason::Inside } else { Reason::Transactional });
                return done(Rule::Allow, reasons);
            }
            return done(Rule::DeferUntil(at), reasons);
        }
    }
    reasons.push(Reason::NoMinute);
    done(Rule::Suppress, reasons)
}

/// `at`, or the start of that local day's sending when `at` is earlier in the day: a cap frees at
/// the customer's midnight, and a message held for it should open their day, not wake them.
fn after_night(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    if local.time() >= DAY_STARTS {
        return at;
    }
    local_instant(local.date_naive(), DAY_STARTS, tz).filter(|s| *s > at).unwrap_or(at)
}

/// The legal windows for the customer on `channel`.
fn law(profile: &Profile, channel: Channel) -> Vec<Allowed> {
    let country = current(&profile.contact.details.country).map(|c| c.as_str());
    let phone = profile.phone().map(|p| p.as_str());
    quiet::rules_for(channel, country, phone)
}

/// The zones quiet hours are checked in: the customer's own, or every zone their country
/// spans when it is unknown.
enum Zones {
    Own(Tz),
    Country(&'static [Tz]),
}

const US_ZONES: [Tz; 7] = {
    use chrono_tz::{America, Pacific};
    [
        America::New_York,
        America::Chicago,
        America::Denver,
        America::Phoenix,
        America::Los_Angeles,
        America::Anchorage,
        Pacific::Honolulu,
    ]
};

/// The zone whose days the caps count for `profile` on `channel`: their own, else the first of
/// those their number's country spans. A send time named in local time is read in it.
pub fn day_zone(profile: &Profile, channel: Channel) -> Tz {
    Zones::of(profile, channel).as_slice()[0]
}

impl Zones {
    fn of(profile: &Profile, channel: Channel) -> Zones {
        if let Some(tz) = current(&profile.contact.details.time_zone) {
            return Zones::Own(tz.tz());
        }
        let country = current(&profile.contact.details.country).map(|c| c.as_str());
        let phone = profile.phone().map(|p| p.as_str());
        let by_number = match phone {
            Some(p) if channel == Channel::Sms && p.starts_with("+1") && country != Some("CA") => Some("US"),
            Some(p) if channel == Channel::Sms && p.starts_with("+33") => Some("FR"),
            _ => None,
        };
        use chrono_tz::Europe;
        match by_number.or(country) {
            Some("US") => Zones::Country(&US_ZONES),
            Some("FR") => Zones::Own(Europe::Paris),
            Some("DE") => Zones::Own(Europe::Berlin),
            Some("GB") => Zones::Own(Europe::London),
            _ => Zones::Own(chrono_tz::UTC),
        }
    }

    fn as_slice(&self) -> &[Tz] {
        match self {
            Zones::Own(tz) => std::slice::from_ref(tz),
            Zones::Country(zones) => zones,
        }
    }
}
