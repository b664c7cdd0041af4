//! Dispatch: from a due send to a delivered message, exactly once.
//!
//! Each due send is re-read against the present: the campaign (still active, the version the
//! send started with), the profile, the exit conditions, the send-time policy (a later moment
//! inside the window moves the send there), then the policy channel by channel in fallback
//! order. The first channel the policy does not suppress decides: allowed, the message is
//! rendered and sent; deferred, the send moves to the first allowed minute.
//!
//! Exactly once per (campaign, customer, occurrence): the message's claim is written before the
//! provider is called, in one transaction with the frequency-cap ledger (conditional on the
//! version read, so racing campaigns cannot exceed a cap), and the provider's message id is
//! recorded after. A send that finds its claim was handled: if the claim never got its provider
//! id, an earlier attempt was interrupted between the call and the record, and it is not
//! repeated (at most once), which the trace says.
//!
//! [`Ticker`] walks the due minutes in order from where the last tick stopped, so after an
//! outage the oldest sends go first; sends past their campaign's expiry are dropped with the
//! reason, never sent late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::caps::{Caps, Ledger};
use super::channel::{Address, Deliver, DeliveryError, Envelope, Unsubscribe};
use super::policy::{self, Ask, Rule};
use super::token::Keys;
use super::trace::{Decision, Outcome};
use crate::campaign::bandit::{Arm, choose};
use crate::campaign::compose::{compose, posterior};
use crate::campaign::render::Templates;
use crate::campaign::stored::{Cache, Deployed, version};
use crate::campaign::{Campaign, Kind, SendTime, Status, audience, exit, offer, send_time, stats};
use crate::churn::job::CustomerScore;
use crate::contact::Channel;
use crate::content::ShopView;
use crate::content::build::{Links, style_of};
use crate::due::DueSend;
use crate::ids::{CampaignId, MessageId, Topic, VariantId};
use crate::keys;
use crate::profile::Profile;
use crate::profile::reach::Purpose;
use crate::store::{Condition, Item, Store, StoreError, Write, decode, encode};

/// What dispatch needs to know that is not in the table.
#[derive(Clone, Debug)]
pub struct Settings {
    pub caps: Caps,
    /// Transactional messages count against caps too (by default they are exempt).
    pub cap_transactional: bool,
    pub shop: ShopView,
    /// The unsubscribe endpoint's base URL (`https://…`, no trailing slash).
    pub unsubscribe_base: String,
    pub keys: Keys,
    /// Offer codes are derived from this and the message (a retry renders the same code).
    pub offer_secret: Vec<u8>,
    /// The domain `List-Id` names lists under, e.g. `news.shop.example`.
    pub list_domain: String,
}

/// Why settings cannot be used: the setting and what is wrong.
pub type SettingsError = crate::churn::history::SettingError;

impl Settings {
    /// Reads the settings through `lookup` (the environment, in Lambda).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let err = |setting: &'static str, problem: String| SettingsError { setting, problem };
        let need = |setting: &'static str| {
            lookup(setting).filter(|v| !v.trim().is_empty()).ok_or_else(|| err(setting, "is required".into()))
        };
        let caps = match lookup("KAIROS_CAPS").filter(|v| !v.trim().is_empty()) {
            Some(text) => Caps::parse(&text).map_err(|e| err("KAIROS_CAPS", e.to_string()))?,
            None => Caps::default(),
        };
        let unsubscribe_base = need("KAIROS_UNSUBSCRIBE_URL")?.trim_end_matches('/').to_string();
        if !unsubscribe_base.starts_with("https://") && !unsubscribe_base.starts_with("http://localhost") {
            return Err(err(
                "KAIROS_UNSUBSCRIBE_URL",
                "must be an https:// URL (RFC 8058 one-click needs HTTPS)".into(),
            ));
        }
        let keys = Keys::parse(&need("KAIROS_UNSUBSCRIBE_KEYS")?)
            .map_err(|e| err("KAIROS_UNSUBSCRIBE_KEYS", e.to_string()))?;
        let offer_secret = need("KAIROS_OFFER_SECRET")?.into_bytes();
        let shop = ShopView {
            name: need("KAIROS_SHOP_NAME")?,
            postal_address: need("KAIROS_SHOP_ADDRESS")?,
            url: need("KAIROS_SHOP_URL")?,
        };
        let list_domain = need("KAIROS_LIST_DOMAIN")?;
        let cap_transactional = matches!(lookup("KAIROS_CAP_TRANSACTIONAL").as_deref(), Some("true" | "1"));
        Ok(Settings { caps, cap_transactional, shop, unsubscribe_base, keys, offer_secret, list_domain })
    }
}

/// How long an instance uses the variants' results it read before reading them again.
const ARMS_REFRESH_SECONDS: i64 = 60;
/// Conditional writes of a customer's ledger that lost a race are retried this often.
const ATTEMPTS: usize = 8;

/// The claim of one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    message_id: MessageId,
    channel: Channel,
    variant: VariantId,
    claimed_at: DateTime<Utc>,
    state: ClaimState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClaimState {
    /// Written before the provider call; still so after it only if the record was lost.
    Claimed,
    Sent,
    Refused,
}

/// Claims are kept as long as once-markers: a cause seen again cannot send again.
const CLAIM_DAYS: i64 = 730;

/// The message id of a send: the same for every attempt, so a provider, the trace and the
/// engagement events it causes all name one message.
pub fn message_id(due: &DueSend) -> MessageId {
    let text = format!("{}#{}#{}", due.campaign_id, due.customer_id, due.occurrence);
    MessageId::new(format!("m-{:016x}", crate::hash::mixed64(text.as_bytes())))
        .expect("a hex digest is a valid message id")
}

/// The dispatcher: the store, a channel, the settings and what it caches between sends.
pub struct Dispatcher<S, D> {
    pub store: S,
    pub channel: D,
    pub settings: Settings,
    campaigns: Cache,
    /// The loyalty program in force (for `loyalty.*` in templates and tier audiences).
    loyalty: crate::loyalty::ProgramCache,
    arms: Mutex<HashMap<CampaignId, HeldArms>>,
    /// Compiled templates by campaign content digest: compiling Liquid costs more than the
    /// rest of a send, and a campaign's content only changes with a new deployment.
    templates: Mutex<HashMap<String, Arc<Templates>>>,
}

/// Compiled campaigns held at most (a worker sees few; old versions fall out together).
const HELD_TEMPLATES: usize = 64;

/// When a campaign's variant results were read, and what they were, by variant.
type HeldArms = (DateTime<Utc>, std::collections::BTreeMap<String, Arm>);

impl<S: Store, D: Deliver> Dispatcher<S, D> {
    pub fn new(store: S, channel: D, settings: Settings) -> Self {
        Dispatcher {
            store,
            channel,
            settings,
            campaigns: Cache::default(),
            loyalty: Default::default(),
            arms: Mutex::new(HashMap::new()),
            templates: Mutex::new(HashMap::new()),
        }
    }

    /// Handles one due send at `now`: what happened, also stored in the customer's trace.
    pub async fn send(&self, due: &DueSend, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let claim_key = keys::send_claim(&due.customer_id, &due.campaign_id, &due.occurrence);
        if let Some(item) = self.store.get(&claim_key).await? {
            return self.handled_before(due, item, now).await;
        }
        let mut reasons = vec![due.reason.clone()];
        let current = self.campaigns.get(&self.store, now).await?;
        let Some(live) = current.iter().find(|d| d.campaign.id == due.campaign_id) else {
            reasons.push("the campaign is no longer deployed".into());
            return self.record(due, Outcome::Dropped, reasons, now).await;
        };
        if live.campaign.status != Status::Active {
            reasons.push(format!("the campaign is {:?}: its sends are dropped", live.campaign.status).to_lowercase());
            return self.record(due, Outcome::Dropped, reasons, now).await;
        }
        let deployed = match due.campaign_version {
            Some(v) if v != live.version => match version(&self.store, &due.campaign_id, v).await? {
                Some(d) => d,
                None => {
                    reasons.push(format!("version {v} of the campaign, which the send started with, is gone"));
                    return self.record(due, Outcome::Dropped, reasons, now).await;
                }
            },
            _ => live.clone(),
        };
        let campaign = &deployed.campaign;
        let latest = due.first_due() + campaign.expiry();
        if now > latest {
            reasons.push(format!(
                "it was due at {} and may go until {}: too late to send",
                crate::clock::Minute(due.first_due()),
                crate::clock::Minute(latest)
            ));
            return self.record(due, Outcome::Dropped, reasons, now).await;
        }
        let Some(profile) = crate::customers::load(&self.store, &due.customer_id).await? else {
            reasons.push("Kairos has no profile of the customer (erased?)".into());
            return self.record(due, Outcome::Exited, reasons, now).await;
        };
        let churn: Option<CustomerScore> =
            crate::customers::output(&self.store, &due.customer_id, keys::CHURN_SCORE).await?;
        let product = match &due.product {
            Some(p) => crate::catalogue::get(&self.store, p).await?,
            None => None,
        };
        let program = self.loyalty.get(&self.store, now).await?;
        let program = program.as_ref().map(|p| &p.program);
        let (account, loyalty) = crate::campaign::compose::loyalty(&self.store, program, &profile, now).await?;
        let loyalty_offer =
            crate::loyalty::view::offer(account.as_ref(), &style_of(&profile), profile.time_zone(), now);
        // The customer's send-time posterior, read once and only for what asks for it: an audience
        // on the model's confidence, or the optimised send-time policy placing the send.
        let asks_send_time = campaign.audience.as_ref().is_some_and(audience::Filter::uses_send_time);
        let places = !due.placed && !matches!(campaign.send_time, SendTime::Immediate);
        let optimises = places && matches!(campaign.send_time, SendTime::Optimised { .. });
        let model = match asks_send_time || optimises {
            true => Some(posterior(&self.store, &profile, now).await?),
            false => None,
        };
        let confidence = model.as_ref().filter(|_| asks_send_time).map(|p| p.own_weight());
        let facts = audience::Facts::of(&profile, churn.as_ref())
            .with_loyalty(program, account.as_ref())
            .with_send_time(confidence);
        let cause_at = due.cause_at.unwrap_or(due.created_at);
        if let Err(exit::Exited(why)) =
            exit::check(campaign, &facts, cause_at, due.product.as_ref(), product.as_ref().map(|p| p.in_stock), now)
        {
            reasons.push(why);
            return self.record(due, Outcome::Exited, reasons, now).await;
        }
        // The send-time policy, once: a later moment inside the window moves the send there.
        if places {
            let posterior = model.filter(|_| optimises);
            let key = format!("{}#{}#{}", due.customer_id, due.campaign_id, due.occurrence);
            let tz = profile.time_zone();
            let fallback = || crate::sto::job::posterior_of(&profile, &Default::default(), now);
            let m = send_time::moment(
                &campaign.send_time,
                campaign.first_channel(),
                due.due_at.max(now),
                tz,
                || posterior.unwrap_or_else(fallback),
                &key,
            );
            if m.at > now + Duration::minutes(1) {
                reasons.push(format!("send time: {}", m.reason));
                return self.defer(due, m.at, latest, reasons, now).await;
            }
        }
        self.deliver(due, &deployed, &profile, (loyalty, loyalty_offer), latest, reasons, now).await
    }

    /// The deployed campaign's templates, compiled once per content.
    fn templates(&self, deployed: &Deployed) -> Result<Arc<Templates>, crate::campaign::render::RenderError> {
        let held = |m: &HashMap<String, Arc<Templates>>| m.get(&deployed.digest).cloned();
        if let Some(t) = held(&self.templates.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(t);
        }
        let compiled = Arc::new(Templates::compile(&deployed.campaign)?);
        let mut map = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= HELD_TEMPLATES {
            map.clear();
        }
        map.insert(deployed.digest.clone(), compiled.clone());
        Ok(compiled)
    }

    /// The policy, the claim and the provider.
    async fn deliver(
        &self,
        due: &DueSend,
        deployed: &Deployed,
        profile: &Profile,
        (loyalty, loyalty_offer): (crate::content::LoyaltyView, Option<crate::content::OfferView>),
        latest: DateTime<Utc>,
        mut reasons: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let campaign = &deployed.campaign;
        let templates = match self.templates(deployed) {
            Ok(t) => t,
            Err(e) => {
                reasons.push(format!("the campaign's templates do not compile: {e}"));
                return self.record(due, Outcome::Dropped, reasons, now).await;
            }
        };
        let message_id = message_id(due);
        let key = format!("{}#{}#{}", due.customer_id, due.campaign_id, due.occurrence);
        let arms = self.arms(campaign, now).await?;
        let Some(variant) = choose(campaign, &arms, &key).cloned() else {
            reasons.push("the campaign has no variants".into());
            return self.record(due, Outcome::Dropped, reasons, now).await;
        };
        let topic = campaign.topic.clone().unwrap_or_else(|| Topic::new("transactional").expect("a valid topic"));
        let token = self.settings.keys.sign(&profile.customer_id, &topic, now);
        let unsubscribe_url = format!("{}/u/{token}", self.settings.unsubscribe_base);
        let links = Links {
            unsubscribe_url: unsubscribe_url.clone(),
            preferences_url: format!("{}/p/{token}", self.settings.unsubscribe_base),
        };
        let tz = profile.time_zone();
        let offer = campaign.offer.as_ref().map(|o| {
            let code = offer::code(o, &self.settings.offer_secret, message_id.as_str());
            offer::view(o, code, now, tz, &style_of(profile))
        });
        // A marketing message without an offer of its own shows the member's loyalty offer.
        let offer = offer.or(if campaign.kind == Kind::Marketing { loyalty_offer } else { None });
        let composed =
            compose(&self.store, profile, due.product.as_ref(), offer, loyalty, &self.settings.shop, links, now)
                .await?;
        let purpose = match campaign.kind {
            Kind::Marketing => Purpose::Marketing,
            Kind::Transactional => Purpose::Transactional,
        };
        let window = campaign.window();
        let ledger_key = keys::cap_ledger(&profile.customer_id);
        for _ in 0..ATTEMPTS {
            let held = self.store.get(&ledger_key).await?;
            let (ledger, condition, next_version) = match &held {
                Some(item) => (decode::<Ledger>(item.clone())?, Condition::VersionIs(item.version), item.version + 1),
                None => (Ledger::default(), Condition::NotExists, 1),
            };
            let mut tried = Vec::new();
            let mut chosen = None;
            for &channel in &campaign.channels {
                if !campaign.variants.iter().any(|v| v.id == variant && v.has(channel)) {
                    tried.push(format!("{channel}: variant {variant} has no {channel} content"));
                    continue;
                }
                let d = policy::decide(&Ask {
                    profile,
                    purpose,
                    topic: campaign.topic.as_ref(),
                    channel,
                    at: now,
                    campaign_window: window.as_ref(),
                    caps: &self.settings.caps,
                    ledger: &ledger,
                    cap_transactional: self.settings.cap_transactional,
                });
                tried.push(format!("{channel}: {}", d.explained().join("; ")));
                if d.rule != Rule::Suppress {
                    chosen = Some(d);
                    break;
                }
            }
            let Some(decision) = chosen else {
                reasons.extend(tried);
                return self.record(due, Outcome::Suppressed, reasons, now).await;
            };
            let channel = decision.channel;
            if let Rule::DeferUntil(at) = decision.rule {
                reasons.extend(tried);
                // A campaign that names a local time keeps it on the day it is held to (or the
                // next), when every rule allows that moment and it is not past the latest the
                // send may go; else the first minute the rules allow. The time is read in the
                // zone the caps count days in (the first candidate when the customer's is unknown).
                let zone = policy::day_zone(profile, channel);
                let kept = match &campaign.send_time {
                    SendTime::LocalTime { at: time } => {
                        chrono::NaiveTime::parse_from_str(time, "%H:%M").ok().and_then(|time| {
                            let held_day = at.with_timezone(&zone).date_naive();
                            [Some(held_day), held_day.succ_opt()]
                                .into_iter()
                                .flatten()
                                .filter_map(|day| send_time::local_instant(day, time, zone))
                                .filter(|candidate| *candidate > now && *candidate <= latest)
                                .find(|candidate| {
                                    let ask = Ask {
                                        profile,
                                        purpose,
                                        topic: campaign.topic.as_ref(),
                                        channel,
                                        at: *candidate,
                                        campaign_window: window.as_ref(),
                                        caps: &self.settings.caps,
                                        ledger: &ledger,
                                        cap_transactional: self.settings.cap_transactional,
                                    };
                                    policy::decide(&ask).rule == Rule::Allow
                                })
                        })
                    }
                    _ => None,
                };
                if let Some(kept) = kept {
                    reasons.push(format!(
                        "send time: kept at the campaign's {} ({}) on the first day the rules allow",
                        kept.with_timezone(&zone).format("%H:%M"),
                        zone.name()
                    ));
                }
                return self.defer(due, kept.unwrap_or(at), latest, reasons, now).await;
            }
            let message = match templates.render(&variant, channel, &composed.context) {
                Ok(m) => m,
                Err(e) => {
                    reasons.extend(tried);
                    reasons.push(format!("the message cannot be rendered: {e}"));
                    return self.record(due, Outcome::Dropped, reasons, now).await;
                }
            };
            let Some(to) = address(profile, channel) else {
                reasons.extend(tried);
                reasons.push(format!("no usable {channel} address"));
                return self.record(due, Outcome::Suppressed, reasons, now).await;
            };
            let claim = Claim {
                message_id: message_id.clone(),
                channel,
                variant: variant.clone(),
                claimed_at: now,
                state: ClaimState::Claimed,
                provider_id: None,
            };
            let claim_key = keys::send_claim(&due.customer_id, &due.campaign_id, &due.occurrence);
            let claim_item = |c: &Claim, version| -> Result<Item, StoreError> {
                Ok(Item::new(claim_key.clone(), version, encode(&claim_key, c)?)
                    .expiring(now.timestamp() + CLAIM_DAYS * 86_400))
            };
            let mut writes = vec![Write::Put { item: claim_item(&claim, 1)?, condition: Condition::NotExists }];
            let capped = purpose == Purpose::Marketing || self.settings.cap_transactional;
            if capped {
                let next = ledger.with(channel, now);
                writes.push(Write::Put {
                    item: Item::new(ledger_key.clone(), next_version, encode(&ledger_key, &next)?),
                    condition,
                });
            }
            match self.store.write(writes).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { failed }) if failed.contains(&0) => {
                    // Another worker claimed it meanwhile: theirs is the decision.
                    return Ok(Outcome::AlreadyHandled);
                }
                // The ledger changed (another campaign sent to them): decide again on the new one.
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e),
            }
            reasons.extend(tried);
            let envelope = Envelope {
                message_id: message_id.clone(),
                customer_id: profile.customer_id.clone(),
                campaign_id: campaign.id.clone(),
                variant: variant.clone(),
                kind: campaign.kind,
                topic: campaign.topic.clone(),
                channel,
                to,
                country: crate::profile::tracked::current(&profile.contact.details.country)
                    .map(|c| c.as_str().to_string()),
                message,
                unsubscribe: (campaign.kind == Kind::Marketing && channel == Channel::Email)
                    .then(|| Unsubscribe { one_click: unsubscribe_url.clone(), page: unsubscribe_url.clone() }),
                list_id: format!("<{}.{}>", campaign.id, self.settings.list_domain),
                sent_at: now.with_timezone(&tz).fixed_offset(),
            };
            return match self.channel.deliver(&envelope).await {
                Ok(provider_id) => {
                    let done = Claim { state: ClaimState::Sent, provider_id: Some(provider_id.clone()), ..claim };
                    let mut writes =
                        vec![Write::Put { item: claim_item(&done, 2)?, condition: Condition::VersionIs(1) }];
                    if let Address::Phone(phone) = &envelope.to {
                        // A reply (STOP) names only the number: remember whose it is.
                        writes.push(phone_owner_write(phone, &profile.customer_id, now)?);
                    }
                    self.store.write(writes).await?;
                    let counted = stats::Counted {
                        campaign: &campaign.id,
                        variant: &variant,
                        message: &message_id,
                        outcome: stats::Outcome::Sent,
                    };
                    if let Err(e) = stats::record(&self.store, &counted, now).await {
                        tracing::error!(error = %e, campaign = %campaign.id, "the send went but could not be counted for its variant");
                    }
                    let outcome = Outcome::Sent { channel, variant, message_id, provider_id };
                    self.record(due, outcome, reasons, now).await
                }
                Err(DeliveryError::Refused(why)) => {
                    let done = Claim { state: ClaimState::Refused, ..claim };
                    self.store
                        .write(vec![Write::Put { item: claim_item(&done, 2)?, condition: Condition::VersionIs(1) }])
                        .await?;
                    reasons.push(format!("the provider refused it: {why}"));
                    self.record(due, Outcome::Refused { channel }, reasons, now).await
                }
                Err(DeliveryError::Unavailable(why)) => {
                    // Nothing went: release the claim so a retry can send (its cap place stays
                    // taken, which can only make caps stricter).
                    self.store
                        .write(vec![Write::Delete { key: claim_key.clone(), condition: Condition::VersionIs(1) }])
                        .await?;
                    Err(StoreError::Unavailable(format!("the {channel} provider is unavailable: {why}")))
                }
                Err(DeliveryError::Unknown(why)) => {
                    reasons.push(format!(
                        "the provider call failed in a way that leaves it unknown whether it went ({why}); not repeated"
                    ));
                    self.record(due, Outcome::Unknown { channel: Some(channel) }, reasons, now).await
                }
            };
        }
        Err(StoreError::Unavailable(format!(
            "the caps ledger of {} kept changing while a send was reserved",
            due.customer_id
        )))
    }

    /// A send whose claim exists: sent (nothing to do), refused, or interrupted (at most once).
    async fn handled_before(&self, due: &DueSend, item: Item, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let claim: Claim = decode(item)?;
        match claim.state {
            ClaimState::Sent | ClaimState::Refused => Ok(Outcome::AlreadyHandled),
            ClaimState::Claimed => {
                let reasons = vec![format!(
                    "claimed by {} at {} by an attempt that never recorded the provider's answer: it may have gone, and is not repeated",
                    claim.channel,
                    claim.claimed_at.format("%Y-%m-%d %H:%M:%S UTC")
                )];
                self.record(due, Outcome::Unknown { channel: Some(claim.channel) }, reasons, now).await
            }
        }
    }

    /// Moves the send to `at` (or drops it, if that is past its expiry).
    async fn defer(
        &self,
        due: &DueSend,
        at: DateTime<Utc>,
        latest: DateTime<Utc>,
        mut reasons: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        if at > latest {
            reasons.push(format!(
                "the first allowed moment, {}, is after the latest it may go ({}): dropped, never sent late",
                crate::clock::Minute(at),
                crate::clock::Minute(latest)
            ));
            return self.record(due, Outcome::Dropped, reasons, now).await;
        }
        let moved = due.moved_to(at);
        match self.store.write(vec![Write::Put { item: moved.item()?, condition: Condition::NotExists }]).await {
            // Queued there before (a redelivered deferral): the same send, once.
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e),
        }
        self.record(due, Outcome::Deferred { until: at }, reasons, now).await
    }

    async fn record(
        &self,
        due: &DueSend,
        outcome: Outcome,
        reasons: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let decision = Decision {
            at: now,
            customer_id: due.customer_id.clone(),
            campaign_id: due.campaign_id.clone(),
            occurrence: due.occurrence.clone(),
            outcome: outcome.clone(),
            reasons,
        };
        self.store.write(vec![decision.write()?]).await?;
        Ok(outcome)
    }

    /// The variants' results in the order of this version's variants.
    async fn arms(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Vec<Arm>, StoreError> {
        let counts = self.arm_counts(&campaign.id, now).await?;
        Ok(stats::in_order(campaign, &counts))
    }

    /// A campaign's results by variant, read at most once a minute.
    async fn arm_counts(
        &self,
        campaign: &CampaignId,
        now: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, Arm>, StoreError> {
        if let Ok(held) = self.arms.lock()
            && let Some((at, arms)) = held.get(campaign)
            && now - *at < Duration::seconds(ARMS_REFRESH_SECONDS)
        {
            return Ok(arms.clone());
        }
        let (arms, problems) = stats::read(&self.store, campaign).await?;
        for e in &problems {
            tracing::error!(error = %e, "a variant's counters cannot be read; left out");
        }
        if let Ok(mut held) = self.arms.lock() {
            held.insert(campaign.clone(), (now, arms.clone()));
        }
        Ok(arms)
    }
}

/// A minute's sends, one list per customer, each in the order its sends go: the one waiting
/// longest first (then by campaign and occurrence). A customer's sends share their caps, so
/// which takes the last place a cap leaves is decided by that order, never by a race; customers
/// go side by side.
fn by_customer(sends: Vec<DueSend>) -> Vec<Vec<DueSend>> {
    let mut groups: std::collections::BTreeMap<crate::ids::CustomerId, Vec<DueSend>> = Default::default();
    for due in sends {
        groups.entry(due.customer_id.clone()).or_default().push(due);
    }
    groups
        .into_values()
        .map(|mut sends| {
            sends.sort_by(|a, b| {
                (a.first_due(), &a.campaign_id, &a.occurrence).cmp(&(b.first_due(), &b.campaign_id, &b.occurrence))
            });
            sends
        })
        .collect()
}

/// Whose a number is, kept as long as claims.
#[derive(Serialize, Deserialize)]
pub struct PhoneOwner {
    pub customer_id: crate::ids::CustomerId,
}

/// The digest a phone number is looked up by (the table never keys by the number itself).
pub fn phone_digest(phone: &str) -> String {
    format!("{:016x}", crate::hash::mixed64(phone.trim().as_bytes()))
}

fn phone_owner_write(
    phone: &crate::contact::Phone,
    customer: &crate::ids::CustomerId,
    now: DateTime<Utc>,
) -> Result<Write, StoreError> {
    let key = keys::phone_owner(&phone_digest(phone.as_str()));
    let body = encode(&key, &PhoneOwner { customer_id: customer.clone() })?;
    Ok(Write::Put {
        item: Item::new(key, 1, body).expiring(now.timestamp() + CLAIM_DAYS * 86_400),
        condition: Condition::Always,
    })
}

/// The customer Kairos last texted at `phone`, if any.
pub async fn phone_owner<S: Store>(store: &S, phone: &str) -> Result<Option<crate::ids::CustomerId>, StoreError> {
    let item = store.get(&keys::phone_owner(&phone_digest(phone))).await?;
    Ok(item.map(decode::<PhoneOwner>).transpose()?.map(|o| o.customer_id))
}

/// The address `channel` reaches the customer at.
fn address(profile: &Profile, channel: Channel) -> Option<Address> {
    match channel {
        Channel::Email => profile.email().cloned().map(Address::Email),
        Channel::Sms => profile.phone().cloned().map(Address::Phone),
        Channel::Push => {
            let tokens: Vec<_> = profile.contact.live_push_tokens().cloned().collect();
            (!tokens.is_empty()).then_some(Address::Push(tokens))
        }
    }
}

/// Minutes a tick stays behind the clock: a trigger that computed "now" just before a minute
/// ended may still be writing its send.
pub const LAG_MINUTES: i64 = 2;
/// Minutes one tick walks at most (catching up after an outage takes several ticks).
pub const MINUTES_PER_TICK: i64 = 240;
/// Where a first tick starts (the table has never been dispatched: sends queued just before
/// dispatch was deployed still go).
const FIRST_LOOKBACK_HOURS: i64 = 2;

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The last minute whose sends were all handed out.
    done: DateTime<Utc>,
}

/// Walks the due minutes, oldest first, remembering the last one handed out.
pub struct Ticker;

impl Ticker {
    /// The minutes due now, oldest first, with the cursor's version (to advance it).
    pub async fn minutes<S: Store>(
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<(Vec<DateTime<Utc>>, Option<u64>), StoreError> {
        let key = crate::store::Key::new(keys::DISPATCH_CURSOR.0, keys::DISPATCH_CURSOR.1);
        let held = store.get(&key).await?;
        let version = held.as_ref().map(|i| i.version);
        let minute = |t: DateTime<Utc>| t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(t);
        let last = match held {
            Some(item) => decode::<Cursor>(item)?.done,
            None => minute(now) - Duration::hours(FIRST_LOOKBACK_HOURS),
        };
        let until = minute(now) - Duration::minutes(LAG_MINUTES);
        let mut out = Vec::new();
        let mut m = last + Duration::minutes(1);
        while m <= until && out.len() < MINUTES_PER_TICK as usize {
            out.push(m);
            m += Duration::minutes(1);
        }
        Ok((out, version))
    }

    /// The due sends of `minute`, every shard. One that cannot be read is returned as its error
    /// beside the others.
    pub async fn due_in<S: Store>(
        store: &S,
        minute: DateTime<Utc>,
    ) -> Result<(Vec<DueSend>, Vec<StoreError>), StoreError> {
        let (mut sends, mut problems) = (Vec::new(), Vec::new());
        for pk in keys::due_partitions(minute) {
            let (s, p) = crate::store::query_decoded::<S, DueSend>(store, &pk, "").await?;
            sends.extend(s);
            problems.extend(p);
        }
        Ok((sends, problems))
    }

    /// Records `minute` as handed out. `Ok(false)`: another tick moved the cursor meanwhile.
    pub async fn advance<S: Store>(
        store: &S,
        minute: DateTime<Utc>,
        version: &mut Option<u64>,
    ) -> Result<bool, StoreError> {
        let key = crate::store::Key::new(keys::DISPATCH_CURSOR.0, keys::DISPATCH_CURSOR.1);
        let (condition, next) = match *version {
            Some(v) => (Condition::VersionIs(v), v + 1),
            None => (Condition::NotExists, 1),
        };
        let item = Item::new(key.clone(), next, encode(&key, &Cursor { done: minute })?);
        match store.write(vec![Write::Put { item, condition }]).await {
            Ok(()) => {
                *version = Some(next);
                Ok(true)
            }
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Where a tick hands the due sends it found: the dispatch queue (SQS) in Lambda.
pub trait SendQueue: Send + Sync {
    fn enqueue(
        &self,
        sends: &[DueSend],
    ) -> impl std::future::Future<Output = Result<(), crate::jobs::QueueError>> + Send;
}

impl SendQueue for crate::jobs::sqs::SqsQueue {
    async fn enqueue(&self, sends: &[DueSend]) -> Result<(), crate::jobs::QueueError> {
        self.send_all(sends).await
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub minutes: usize,
    pub handed_out: usize,
    /// Due items that cannot be read: logged by key and skipped (they fail only themselves).
    pub unreadable: usize,
    /// Another tick was moving the cursor: this one stopped.
    pub overtaken: bool,
}

/// Error of a tick: the store, or the queue (the cursor stays: the next tick hands the
/// minute out again, and claims keep that harmless).
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
}

/// One scheduled tick: every due minute not yet handed out, oldest first, into `queue`.
pub async fn tick<S: Store, Q: SendQueue>(store: &S, queue: &Q, now: DateTime<Utc>) -> Result<TickReport, TickError> {
    let (minutes, mut version) = Ticker::minutes(store, now).await?;
    let mut report = TickReport::default();
    for minute in minutes {
        let (sends, problems) = Ticker::due_in(store, minute).await?;
        for e in &problems {
            tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a due send cannot be read; skipped");
        }
        report.unreadable += problems.len();
        // Each customer's sends together and in the order local runs work them (the longest
        // waiting first): a worker takes a batch in order, so within it that order decides who
        // takes the last place a cap leaves.
        let sends: Vec<DueSend> = by_customer(sends).into_iter().flatten().collect();
        queue.enqueue(&sends).await?;
        report.handed_out += sends.len();
        if !Ticker::advance(store, minute, &mut version).await? {
            report.overtaken = true;
            break;
        }
        report.minutes += 1;
    }
    Ok(report)
}

/// What a local run of dispatch did, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sent: usize,
    pub deferred: usize,
    pub suppressed: usize,
    pub exited: usize,
    pub dropped: usize,
    pub refused: usize,
    pub unknown: usize,
    pub already: usize,
    pub failed: usize,
}

impl Counts {
    /// Adds another run's counts.
    pub fn merge(&mut self, c: &Counts) {
        let Counts { sent, deferred, suppressed, exited, dropped, refused, unknown, already, failed } = c;
        self.sent += sent;
        self.deferred += deferred;
        self.suppressed += suppressed;
        self.exited += exited;
        self.dropped += dropped;
        self.refused += refused;
        self.unknown += unknown;
        self.already += already;
        self.failed += failed;
    }

    pub fn add(&mut self, outcome: &Result<Outcome, StoreError>) {
        match outcome {
            Ok(Outcome::Sent { .. }) => self.sent += 1,
            Ok(Outcome::Deferred { .. }) => self.deferred += 1,
            Ok(Outcome::Suppressed) => self.suppressed += 1,
            Ok(Outcome::Exited) => self.exited += 1,
            Ok(Outcome::Dropped) => self.dropped += 1,
            Ok(Outcome::Refused { .. }) => self.refused += 1,
            Ok(Outcome::Unknown { .. }) => self.unknown += 1,
            Ok(Outcome::AlreadyHandled) => self.already += 1,
            Err(_) => self.failed += 1,
        }
    }
}

impl<S: Store + 'static, D: Deliver + 'static> Dispatcher<S, D> {
    /// Dispatch in-process (local runs, the simulation): every due minute up to `now`, oldest
    /// first, `concurrency` sends at a time (spread over the runtime's threads). A send that
    /// fails is logged and counted; the minute is still done (in Lambda it would go back to the
    /// queue).
    pub async fn run_due(
        self: &std::sync::Arc<Self>,
        now: DateTime<Utc>,
        concurrency: usize,
    ) -> Result<Counts, StoreError> {
        use futures::{FutureExt, StreamExt};
        let mut counts = Counts::default();
        loop {
            let (minutes, mut version) = Ticker::minutes(&self.store, now).await?;
            if minutes.is_empty() {
                return Ok(counts);
            }
            for minute in minutes {
                let (sends, problems) = Ticker::due_in(&self.store, minute).await?;
                for e in &problems {
                    tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a due send cannot be read; skipped");
                }
                // The variants' results are read before any of these sends records one: the
                // variant a customer draws never depends on which other sends went first.
                let mut campaigns: Vec<&CampaignId> = sends.iter().map(|d| &d.campaign_id).collect();
                campaigns.sort();
                campaigns.dedup();
                for campaign in campaigns {
                    // One that cannot be read now is read again by its first send (which fails
                    // alone if it still cannot).
                    if let Err(e) = self.arm_counts(campaign, now).await {
                        tracing::warn!(error = %e, campaign = %campaign, "a campaign's variant results cannot be read yet");
                    }
                }
                let results: Vec<Result<Outcome, StoreError>> =
                    futures::stream::iter(by_customer(sends))
                        .map(|sends| {
                            let me = self.clone();
                            tokio::spawn(async move {
                                let mut outcomes = Vec::with_capacity(sends.len());
                                for due in &sends {
                                    // A send that panics fails alone: the customer's others go on.
                                    let sent = std::panic::AssertUnwindSafe(me.send(due, now)).catch_unwind().await;
                                    outcomes.push(sent.unwrap_or_else(|_| {
                                        Err(StoreError::Unavailable("a send task failed: it panicked".into()))
                                    }));
                                }
                                outcomes
                            })
                        })
                        .buffer_unordered(concurrency.max(1))
                        .flat_map(|joined| {
                            futures::stream::iter(joined.unwrap_or_else(|e| {
                                vec![Err(StoreError::Unavailable(format!("a send task failed: {e}")))]
                            }))
                        })
                        .collect()
                        .await;
                for r in &results {
                    if let Err(e) = r {
                        tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a due send failed");
                    }
                    counts.add(r);
                }
                if !Ticker::advance(&self.store, minute, &mut version).await? {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    struct Handed(Mutex<Vec<DueSend>>);

    impl SendQueue for Handed {
        async fn enqueue(&self, sends: &[DueSend]) -> Result<(), crate::jobs::QueueError> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(sends);
            Ok(())
        }
    }

    /// Panics in the provider call of the first send it is given.
    struct PanicsOnce(std::sync::atomic::AtomicBool);

    impl Deliver for PanicsOnce {
        async fn deliver(&self, e: &crate::delivery::channel::Envelope) -> Result<String, DeliveryError> {
            if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("a provider bug");
            }
            Ok(format!("p-{}", e.message_id))
        }
    }

    /// One of a customer's sends panics: it fails alone, and their other sends of the minute go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_that_panics_fails_alone() {
        use crate::delivery::scenarios::{campaign, customer, queue, settings};
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        let store = EmbeddedStore::new();
        customer(&store, "c-p", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(2)).await;
        for i in 0..3 {
            let c = campaign(&format!("p-{i}"), "email", false);
            crate::campaign::stored::deploy(&store, &c, now - Duration::days(1)).await.unwrap();
            queue(&store, "c-p", &format!("p-{i}"), "x", now).await;
        }
        let d = std::sync::Arc::new(Dispatcher::new(store, PanicsOnce(Default::default()), settings("email:5/day")));
        let counts = d.run_due(now + Duration::minutes(3), 4).await.unwrap();
        assert_eq!((counts.failed, counts.sent), (1, 2), "{counts:?}");
    }

    /// A tick hands each customer's sends out together, the longest waiting first, whatever
    /// order the due queue holds them in.
    #[tokio::test]
    async fn a_tick_hands_out_each_customers_sends_together_longest_waiting_first() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap();
        let store = EmbeddedStore::new();
        // (customer, campaign, minutes waited)
        let sends = [("c-1", "a", 5), ("c-2", "b", 30), ("c-1", "c", 45), ("c-2", "a", 10), ("c-1", "b", 20)];
        for (customer, campaign, waited) in sends {
            let first = now - Duration::minutes(waited);
            let due = DueSend {
                customer_id: crate::ids::CustomerId::new(customer).unwrap(),
                campaign_id: CampaignId::new(campaign).unwrap(),
                occurrence: "x".into(),
                due_at: now,
                reason: "test".into(),
                created_at: first,
                campaign_version: Some(1),
                cause_at: None,
                product: None,
                placed: true,
                first_due_at: Some(first),
            };
            store.write(due.writes().unwrap().into()).await.unwrap();
        }
        let queue = Handed(Mutex::new(Vec::new()));
        let report = tick(&store, &queue, now + Duration::minutes(5)).await.unwrap();
        assert_eq!(report.handed_out, 5);
        let handed: Vec<(String, String)> = queue
            .0
            .into_inner()
            .unwrap()
            .iter()
            .map(|d| (d.customer_id.to_string(), d.campaign_id.to_string()))
            .collect();
        let order: Vec<(&str, &str)> = handed.iter().map(|(c, k)| (c.as_str(), k.as_str())).collect();
        assert_eq!(order, [("c-1", "c"), ("c-1", "b"), ("c-1", "a"), ("c-2", "b"), ("c-2", "a")]);
    }
}
