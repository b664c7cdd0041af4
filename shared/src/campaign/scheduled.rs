//! Campaigns no single profile change starts. A **broadcast** goes once, to an audience, from a
//! moment. The **daily** run finds, in each customer's own calendar, a birthday `days_before`
//! days away, a product due to run out (the recommender's repurchase intervals), a product they
//! viewed back in stock or cheaper (the catalogue's changes of the last three days), and a churn
//! risk at the campaign's band (the nightly churn score). A schedule asks often which runs are
//! due ([`plan`]); each run walks every customer on the segmented fan-out with the campaign
//! versions it started with, and queues one send per audience member at the moment the
//! send-time policy picks for them.
//!
//! Every send is queued once per cause (the once-marker): a run started again, a task
//! redelivered, or a second day's run seeing the same birthday, restock or lapse queues nothing
//! twice.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::Filter;
use super::audience::{Facts, Scores};
use super::bandit::held_out;
use super::send_time::{local_instant, moment};
use super::stored::{self, Deployed};
use super::{Kind, SendTime, Status, Trigger};
use std::collections::BTreeMap;

use super::trigger::RiskBand;
use crate::catalogue::changes::{self, Change, ChangeKind};
use crate::churn::job::lapse_occurrence;
use crate::due::DueSend;
use crate::ids::ProductId;
use crate::jobs::runner::{JobError, RunState, Runner};
use crate::jobs::{Output, SegmentedJob, TaskQueue};
use crate::keys;
use crate::profile::Profile;
use crate::profile::reach::{self, Consent, Purpose};
use crate::profile::tracked::current;
use crate::sto::prior::Priors;
use crate::store::{Key, Store, StoreError};

/// From this local time on, a day's send waits for the next day.
pub const EVENING: NaiveTime = match NaiveTime::from_hms_opt(20, 0, 0) {
    Some(t) => t,
    None => panic!("20:00 is a time"),
};
/// A broadcast's run starts this long before its moment, so every send is queued in time.
pub const LEAD_HOURS: i64 = 2;
/// A broadcast whose run could not start within this long after its moment (the schedule was
/// down, the campaign deployed late) does not start: a sale announced a day late is wrong.
pub const LATE_HOURS: i64 = 24;
/// Where a day's sends start in the customer's zone, unless the policy names a local time.
pub const DAY_STARTS: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time"),
};

/// A run the schedule should start (or resume), with the campaigns it sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub run: String,
    pub campaigns: Vec<Deployed>,
}

/// Whether a trigger is found by the daily run.
pub fn is_daily(trigger: &Trigger) -> bool {
    matches!(
        trigger,
        Trigger::Birthday { .. }
            | Trigger::ReplenishmentDue { .. }
            | Trigger::BackInStock { .. }
            | Trigger::PriceDrop { .. }
            | Trigger::ChurnRisk { .. }
    )
}

/// The runs due at `now` among the deployed campaigns: one per active broadcast from
/// [`LEAD_HOURS`] before its moment to [`LATE_HOURS`] after it (named by campaign and version),
/// and one a UTC day for every active daily campaign.
pub fn plan(deployed: &[Deployed], now: DateTime<Utc>) -> Vec<Planned> {
    let active = deployed.iter().filter(|d| d.campaign.status == Status::Active);
    let mut runs = Vec::new();
    let mut daily = Vec::new();
    for d in active {
        match &d.campaign.trigger {
            Trigger::Broadcast { at } => {
                let at = at.with_timezone(&Utc);
                if now >= at - Duration::hours(LEAD_HOURS) && now <= at + Duration::hours(LATE_HOURS) {
                    let run = format!("broadcast-{}-v{}", run_name(&d.campaign.id), d.version);
                    runs.push(Planned { run, campaigns: vec![d.clone()] });
                }
            }
            t if is_daily(t) => daily.push(d.clone()),
            _ => {}
        }
    }
    if !daily.is_empty() {
        runs.push(Planned { run: format!("daily-{}", now.date_naive()), campaigns: daily });
    }
    runs
}

/// Starts (or resumes) every run due at `now` over `segments` segments: the deployed campaigns
/// and the send-time priors as they are now become the model of each run that starts. Returns
/// each run with its state. A campaign that cannot be read is reported and left out (the others
/// still run).
pub async fn start_due<S: Store, Q: TaskQueue>(
    store: &S,
    queue: &Q,
    segments: u32,
    now: DateTime<Utc>,
) -> Result<Vec<(String, RunState)>, JobError> {
    let (deployed, unreadable) = stored::current(store).await?;
    for e in &unreadable {
        tracing::error!(error = %e, "a deployed campaign cannot be read; left out of scheduled runs");
    }
    let planned = plan(&deployed, now);
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let priors = crate::sto::job::current_priors(store).await?;
    let runner = Runner { store, queue, job: &ScheduledJob };
    let (mut started, mut failed) = (Vec::new(), Vec::new());
    for p in planned {
        // A run started before resumes with its own model: nothing to build.
        let result = match runner.run_state(&p.run).await {
            Ok(Some(_)) => runner.start(&p.run, segments, now).await,
            Ok(None) => match model_for(store, p.campaigns, &priors, now).await {
                Ok(model) => runner.start_with_model(&p.run, segments, &model, now).await,
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        };
        // One run failing does not keep the others from starting.
        match result {
            Ok(state) => started.push((p.run, state)),
            Err(e) => {
                tracing::error!(run = p.run, error = %e, "a scheduled run could not start");
                failed.push(format!("{}: {e}", p.run));
            }
        }
    }
    if !failed.is_empty() {
        return Err(JobError::Invalid(format!("runs that could not start: {}", failed.join("; "))));
    }
    Ok(started)
}

/// The model a run starts with: its campaigns, the priors, and what its triggers look at.
async fn model_for<S: Store>(
    store: &S,
    campaigns: Vec<Deployed>,
    priors: &Priors,
    now: DateTime<Utc>,
) -> Result<RunModel, StoreError> {
    let needs = |f: fn(&Trigger) -> bool| campaigns.iter().any(|d| f(&d.campaign.trigger));
    let repurchase_days = if needs(|t| matches!(t, Trigger::ReplenishmentDue { .. })) {
        repurchase_days(store).await?
    } else {
        BTreeMap::new()
    };
    let catalogue = if needs(|t| matches!(t, Trigger::BackInStock { .. } | Trigger::PriceDrop { .. })) {
        // Three days: a change stamped late yesterday that arrived after yesterday's run.
        let today = now.date_naive();
        let (mut changes, problems) = changes::on_days(store, today - Duration::days(2), today).await?;
        for e in &problems {
            tracing::error!(error = %e, "a catalogue change cannot be read; left out");
        }
        // The latest change per product and kind is enough; the newest first if there are too many.
        changes.sort_by_key(|c| std::cmp::Reverse(c.at));
        let mut seen = std::collections::HashSet::new();
        changes.retain(|c| seen.insert((c.product.clone(), c.kind.name())));
        if changes.len() > MAX_CHANGES {
            tracing::warn!(
                changes = changes.len(),
                kept = MAX_CHANGES,
                "more catalogue changes than a run carries; the newest kept"
            );
            changes.truncate(MAX_CHANGES);
        }
        let mut by_product: BTreeMap<ProductId, Vec<Change>> = BTreeMap::new();
        for c in changes {
            by_product.entry(c.product.clone()).or_default().push(c);
        }
        by_product
    } else {
        BTreeMap::new()
    };
    // Audiences on loyalty tiers (and early access) read the program's tiers.
    let uses_loyalty = campaigns.iter().any(|d| d.campaign.audience.as_ref().is_some_and(Filter::uses_loyalty));
    let loyalty = if uses_loyalty { crate::loyalty::stored::current(store).await?.map(|d| d.program) } else { None };
    Ok(RunModel { campaigns, priors: priors.clone(), repurchase_days, catalogue, loyalty })
}

/// Catalogue changes one daily run carries at most (each segment reads them with the model).
const MAX_CHANGES: usize = 20_000;

/// Each replenishable product's typical repurchase interval, from the last recommendation build
/// (none before the first, or once its run has expired).
async fn repurchase_days<S: Store>(store: &S) -> Result<BTreeMap<ProductId, u32>, StoreError> {
    use crate::recommend::job::RecommendJob;
    let Some(published) = crate::jobs::runner::published(store, &RecommendJob).await? else {
        return Ok(BTreeMap::new());
    };
    let Some(model) = crate::jobs::runner::run_model::<S, RecommendJob>(store, &published.run).await? else {
        tracing::warn!(
            run = published.run,
            "the last recommendation build's model has expired: no replenishment sends"
        );
        return Ok(BTreeMap::new());
    };
    Ok(model
        .items
        .iter()
        .zip(&model.model.repurchase)
        .filter_map(|(item, days)| Some((ProductId::new(item.as_str()).ok()?, (*days)?)))
        .collect())
}

/// A campaign id as it can appear in a run id (no `#`, not too long): itself when it can, else
/// a digest of it.
fn run_name(id: &crate::ids::CampaignId) -> String {
    let s = id.as_str();
    if s.len() <= 60 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        s.to_string()
    } else {
        format!("{:016x}", crate::hash::mixed64(s.as_bytes()))
    }
}

/// What a run applies: its campaigns, the send-time priors for optimised moments, and for the
/// daily run the repurchase intervals and catalogue changes its triggers look at.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunModel {
    pub campaigns: Vec<Deployed>,
    pub priors: Priors,
    #[serde(default)]
    pub repurchase_days: BTreeMap<ProductId, u32>,
    /// The catalogue's changes, by product.
    #[serde(default)]
    pub catalogue: BTreeMap<ProductId, Vec<Change>>,
    /// The loyalty program, when an audience filters on its tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<crate::loyalty::Program>,
}

/// The scheduled-campaigns job. It gathers nothing: each run starts with its model
/// (`Runner::start_with_model`).
pub struct ScheduledJob;

impl SegmentedJob for ScheduledJob {
    const NAME: &'static str = "scheduled";
    // Never written (the job keeps no output): named only because every job has one.
    const OUTPUT_SK: &'static str = keys::SCHEDULED_SENDS;
    const KEEPS_OUTPUT: bool = false;
    // Audiences filter on churn risk and value, and on loyalty tiers.
    const JOINED: &'static [&'static str] = Scores::SKS;
    type Stats = ();
    type Joined = Scores;
    type Model = RunModel;
    // Nothing is stored per customer: the sends are the output.
    type Output = ();

    fn gather(&self, _: &Profile, _: DateTime<Utc>, _: &mut ()) {}

    fn merge(&self, _: &mut (), _: &()) {}

    /// Never asked: runs start with their model.
    fn fit(&self, _: &()) -> RunModel {
        RunModel::default()
    }

    fn model_key(&self) -> Key {
        Key::new(keys::SCHEDULED_MODEL.0, keys::SCHEDULED_MODEL.1)
    }

    fn public_model(&self, model: &RunModel) -> serde_json::Value {
        serde_json::json!({ "campaigns": model.campaigns.iter().map(|d| d.campaign.id.to_string()).collect::<Vec<_>>() })
    }

    fn apply(
        &self,
        profile: &Profile,
        model: &RunModel,
        _previous: Option<&()>,
        scores: Option<&Scores>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<()>>, String> {
        let due = sends(profile, scores, model, now);
        Ok((!due.is_empty()).then_some(Output { value: (), writes: Vec::new(), due, flagged: false }))
    }
}

/// Whether the campaign could reach the customer at all: on one of its channels, an address
/// and (for marketing) consent to its topic, by delivery's own consent rule. Delivery checks
/// everything again; this only keeps sends nobody may receive out of the queue.
fn reachable(profile: &Profile, campaign: &super::Campaign) -> bool {
    campaign.channels.iter().any(|c| {
        let purpose = match campaign.kind {
            Kind::Marketing => Purpose::Marketing,
            Kind::Transactional => Purpose::Transactional,
        };
        matches!(reach::check(profile, purpose, campaign.topic.as_ref(), *c), Consent::Allow(_))
    })
}

/// What an audience decides on for one customer, as a run reads them: the profile, the nightly
/// churn score and loyalty account (`scores`, joined from the customer's items) under `program`,
/// and the send-time confidence when `confidence` is given (only an audience on it asks: the
/// posterior costs more than the rest).
pub fn facts<'a>(
    profile: &'a Profile,
    scores: Option<&'a Scores>,
    program: Option<&crate::loyalty::Program>,
    confidence: Option<impl FnOnce() -> f64>,
) -> Facts<'a> {
    Facts::of(profile, scores.and_then(|s| s.churn.as_ref()))
        .with_loyalty(program, scores.and_then(|s| s.loyalty.as_ref()))
        .with_send_time(confidence.map(|c| c()))
}

/// The sends the run's campaigns queue for one customer as of `now`.
pub fn sends(profile: &Profile, scores: Option<&Scores>, model: &RunModel, now: DateTime<Utc>) -> Vec<DueSend> {
    let churn = scores.and_then(|s| s.churn.as_ref());
    let tz = profile.time_zone();
    // The customer's send-time posterior, built once for whichever asks (an audience on it, and
    // every optimised campaign).
    let built = std::cell::OnceCell::new();
    let posterior = || built.get_or_init(|| crate::sto::job::posterior_of(profile, &model.priors, now)).clone();
    let asks_send_time =
        model.campaigns.iter().any(|d| d.campaign.audience.as_ref().is_some_and(Filter::uses_send_time));
    let facts = facts(profile, scores, model.loyalty.as_ref(), asks_send_time.then_some(|| posterior().own_weight()));
    // What they bought when, once per customer (refills and news about products both ask).
    let bought = std::cell::OnceCell::new();
    let bought = || bought.get_or_init(|| last_bought(profile));
    let mut out = Vec::new();
    for d in &model.campaigns {
        let c = &d.campaign;
        if c.status != Status::Active
            || held_out(c, &profile.customer_id)
            || !reachable(profile, c)
            || c.audience.as_ref().is_some_and(|a| !a.matches(&facts, now))
        {
            continue;
        }
        let today = now.with_timezone(&tz).date_naive();
        // Where a day's send starts: the day's first minute when the policy names a local time,
        // else the day's start; never before now.
        let day_start = |day: NaiveDate| {
            let start = if matches!(c.send_time, SendTime::LocalTime { .. }) { NaiveTime::MIN } else { DAY_STARTS };
            local_instant(day, start, tz).map(|at| at.max(now))
        };
        // Today's start, or tomorrow's once the local evening has begun (a run at 00:00 UTC is
        // the evening west of UTC: never a message into the night).
        let next_day_start = || {
            let evening = now.with_timezone(&tz).time() >= EVENING;
            day_start(if evening { today + Duration::days(1) } else { today })
        };
        let mut queue = |occurrence: String,
                         cause_at: DateTime<Utc>,
                         from: DateTime<Utc>,
                         product: Option<&ProductId>,
                         why: String| {
            let key = format!("{}#{}#{occurrence}", profile.customer_id, c.id);
            let m = moment(&c.send_time, c.first_channel(), from, tz, posterior, &key);
            out.push(DueSend {
                customer_id: profile.customer_id.clone(),
                campaign_id: c.id.clone(),
                due_at: m.at,
                reason: format!("{why}; sent {}", m.reason),
                occurrence,
                created_at: now,
                campaign_version: Some(d.version),
                cause_at: Some(cause_at),
                product: product.cloned(),
                placed: true,
                first_due_at: None,
            });
        };
        match &c.trigger {
            Trigger::Broadcast { at } => {
                let at = at.with_timezone(&Utc);
                // A run that started late picks moments from now on, never in the past.
                let why = format!("broadcast from {}", crate::clock::Minute(at));
                queue("broadcast".into(), at, at.max(now), None, why);
            }
            Trigger::Birthday { days_before } => {
                let Some(birthday) = current(&profile.contact.details.birthday) else { continue };
                // Today and tomorrow in the customer's calendar: a daily run in UTC reaches every
                // zone's day in time.
                for day in [today, today + Duration::days(1)] {
                    let Some(on) = day.checked_add_signed(Duration::days(i64::from(*days_before))) else { continue };
                    if !birthday.falls_on(on) {
                        continue;
                    }
                    let Some(from) = day_start(day) else { continue };
                    let why = match days_before {
                        0 => "the customer's birthday".to_string(),
                        n => format!("{n} days before the customer's birthday"),
                    };
                    // Once per birthday: named by the year it falls in.
                    queue(format!("birthday-{}", on.year()), from, from, None, why);
                }
            }
            Trigger::ReplenishmentDue { days_before } => {
                for (product, last) in bought() {
                    let Some(&every) = model.repurchase_days.get(*product) else { continue };
                    // Not before the day after the purchase (a `days_before` as long as the interval).
                    if *days_before >= every {
                        continue;
                    }
                    let last_day = last.with_timezone(&tz).date_naive();
                    let lead = i64::from(every) - i64::from(*days_before);
                    let Some(day) = last_day.checked_add_signed(Duration::days(lead)) else { continue };
                    // Yesterday's too, should a day's run have been missed.
                    if day < today - Duration::days(1) || day > today + Duration::days(1) {
                        continue;
                    }
                    let Some(from) = day_start(day) else { continue };
                    let why = format!("bought {product} on {last_day}; it lasts about {every} days");
                    // Named by the purchase's UTC day: the same whatever zone the customer is in later.
                    let occurrence = format!("replenish-{product}-{}", last.date_naive());
                    queue(occurrence, *last, from, Some(product), why);
                }
            }
            Trigger::BackInStock { viewed_within_days } | Trigger::PriceDrop { viewed_within_days, .. } => {
                let within = Duration::days(i64::from(*viewed_within_days));
                for view in &profile.browse.views {
                    for change in model.catalogue.get(&view.product_id).into_iter().flatten() {
                        let news = match (&c.trigger, &change.kind) {
                            (Trigger::BackInStock { .. }, ChangeKind::Restocked) => {
                                Some(("restock", "back in stock".into()))
                            }
                            (Trigger::PriceDrop { min_drop_percent, .. }, kind) => kind
                                .drop_percent()
                                .filter(|p| *p >= f64::from(*min_drop_percent))
                                .map(|p| ("price", format!("{p:.0}% cheaper"))),
                            _ => None,
                        };
                        let Some((name, what)) = news else { continue };
                        // Viewed within the window before the change (one who looked since has
                        // seen it), not bought since.
                        let bought_since = bought().get(&change.product).is_some_and(|t| *t >= change.at);
                        if view.at < change.at - within || view.at > change.at || bought_since {
                            continue;
                        }
                        let Some(from) = next_day_start() else { continue };
                        let since = crate::clock::Minute(change.at);
                        let why = format!("viewed {} and it is {what} since {since}", change.product);
                        // One notice per viewing: stock that comes and goes, or a price cut twice,
                        // tells a customer once until they look at the product again.
                        let occurrence = format!("{name}-{}-{}", change.product, view.at.date_naive());
                        queue(occurrence, change.at, from, Some(&change.product), why);
                    }
                }
            }
            Trigger::ChurnRisk { min_risk } => {
                let Some(score) = churn else { continue };
                // A score older than a few nights says little about today.
                if now - score.scored_at > Duration::days(STALE_SCORE_DAYS) {
                    continue;
                }
                // A purchase since the score: they are back, whatever it said.
                if profile.purchases().last_purchase_at.is_some_and(|t| t > score.scored_at) {
                    continue;
                }
                let band = RiskBand::of(score.score.p_alive);
                // The lapse is named by the last purchase's day as the churn job counts days (the
                // shop's offset): the episode the job flagged, or the last purchase.
                let flagged = score.winback.flagged.then_some(score.winback.lapse_after).flatten();
                let lapse = flagged.or_else(|| last_purchase_day(profile));
                let (Some(lapse), true) = (lapse, band >= *min_risk) else { continue };
                let Some(from) = next_day_start() else { continue };
                let why = format!(
                    "churn risk {} (P(alive) {:.2}) since the purchase of {lapse}",
                    band.name(),
                    score.score.p_alive
                );
                // One per lapse, named as the churn job names it: a campaign both queue sends once.
                queue(lapse_occurrence(lapse), score.scored_at, from, None, why);
            }
            _ => {}
        }
    }
    out
}

/// The day of the customer's last purchase, in the shop's offset (as the churn model counts).
fn last_purchase_day(profile: &Profile) -> Option<NaiveDate> {
    profile.order_records().filter(|o| o.counts_as_purchase()).filter_map(|o| o.placed.as_ref()).map(|p| p.day).max()
}

/// A churn score older than this many days does not start a win-back.
const STALE_SCORE_DAYS: i64 = 3;

/// When the customer last bought each product.
fn last_bought(profile: &Profile) -> BTreeMap<&ProductId, DateTime<Utc>> {
    let mut last = BTreeMap::new();
    let placed = profile.order_records().filter(|o| o.counts_as_purchase()).filter_map(|o| o.placed.as_ref());
    for order in placed {
        for line in &order.lines {
            let at = last.entry(&line.product_id).or_insert(order.at);
            *at = (*at).max(order.at);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{Filter, load};
    use crate::ids::CustomerId;

    /// The birthday sample with another trigger, send time and audience.
    fn campaign(trigger: Trigger, send_time: SendTime, audience: Option<Filter>) -> Deployed {
        let (c, problems) = load::read("birthday.yaml", include_str!("../../../campaigns/birthday.yaml"));
        let mut c = c.unwrap_or_else(|| panic!("{problems:?}"));
        c.status = Status::Active;
        c.trigger = trigger;
        c.send_time = send_time;
        c.audience = audience;
        Deployed { version: 3, digest: "d".into(), deployed_at: Utc::now(), campaign: c }
    }

    fn broadcast(at: &str) -> Trigger {
        Trigger::Broadcast { at: DateTime::parse_from_rfc3339(at).unwrap() }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn profile(id: &str, zone: &str, birthday: Option<&str>, consent: bool) -> Profile {
        let mut p = Profile::new(CustomerId::new(id).unwrap());
        let at = "2026-01-01T00:00:00Z";
        let mut details = serde_json::json!({"time_zone": zone, "country": "DE", "email": format!("{id}@example.com")});
        if let Some(b) = birthday {
            details["birthday"] = b.into();
        }
        with(&mut p, "u", at, "customer_updated", details);
        if consent {
            let data = serde_json::json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "signup_form"});
            with(&mut p, "k", at, "consent_changed", data);
        }
        p
    }

    #[test]
    fn a_broadcast_runs_from_shortly_before_its_moment_to_a_day_after() {
        let d = campaign(broadcast("2026-12-10T09:00:00+01:00"), SendTime::Immediate, None);
        let deployed = [d];
        assert!(plan(&deployed, utc("2026-12-10T05:59:00Z")).is_empty());
        let runs = plan(&deployed, utc("2026-12-10T06:00:00Z"));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run, "broadcast-birthday-v3");
        assert_eq!(plan(&deployed, utc("2026-12-11T08:00:00Z")).len(), 1);
        assert!(plan(&deployed, utc("2026-12-11T08:01:00Z")).is_empty());
        let mut paused = deployed[0].clone();
        paused.campaign.status = Status::Paused;
        assert!(plan(&[paused], utc("2026-12-10T07:00:00Z")).is_empty());
    }

    #[test]
    fn a_broadcast_queues_one_send_per_reachable_audience_member_at_their_local_time() {
        let d = campaign(
            broadcast("2026-12-10T06:00:00Z"),
            SendTime::LocalTime { at: "10:00".into() },
            Some(Filter::Country(vec!["DE".into()])),
        );
        let model = RunModel { campaigns: vec![d], ..RunModel::default() };
        let now = utc("2026-12-10T04:00:00Z");
        let berlin = sends(&profile("c-1", "Europe/Berlin", None, true), None, &model, now);
        assert_eq!(berlin.len(), 1);
        assert_eq!(berlin[0].due_at, utc("2026-12-10T09:00:00Z"));
        assert_eq!(berlin[0].occurrence, "broadcast");
        assert_eq!(berlin[0].campaign_version, Some(3));
        // New York's 10:00 comes after the broadcast's moment the same day.
        let ny = sends(&profile("c-2", "America/New_York", None, true), None, &model, now);
        assert_eq!(ny[0].due_at, utc("2026-12-10T15:00:00Z"));
        // No consent to the topic: nothing queued. Outside the audience: nothing.
        assert!(sends(&profile("c-3", "Europe/Berlin", None, false), None, &model, now).is_empty());
        let mut french = profile("c-4", "Europe/Paris", None, true);
        french.contact.details.country = None;
        assert!(sends(&french, None, &model, now).is_empty());
    }

    #[test]
    fn a_send_time_confidence_audience_reaches_customers_whose_own_hours_are_known() {
        let d = campaign(
            broadcast("2026-12-10T06:00:00Z"),
            SendTime::Immediate,
            Some(Filter::SendTimeConfidence { min: 0.5 }),
        );
        let model = RunModel { campaigns: vec![d], ..RunModel::default() };
        let now = utc("2026-12-10T06:00:00Z");
        let new = profile("c-new", "Europe/Berlin", None, true);
        let mut known = profile("c-known", "Europe/Berlin", None, true);
        for day in 1..=40 {
            let at = (utc("2026-10-20T18:10:00Z") + Duration::days(day)).to_rfc3339();
            with(
                &mut known,
                &format!("s{day}"),
                &at,
                "session_started",
                serde_json::json!({"session_id": format!("s-{day}")}),
            );
        }
        let confidence = |p: &Profile| crate::sto::job::posterior_of(p, &model.priors, now).own_weight();
        // The filter reads the posterior the policy would use: none of it is the new customer's.
        assert_eq!(confidence(&new), 0.0);
        assert!(confidence(&known) >= 0.5, "{}", confidence(&known));
        assert!(sends(&new, None, &model, now).is_empty());
        assert_eq!(sends(&known, None, &model, now).len(), 1);
        // `not` the filter: the other way round.
        let mut negated = model.clone();
        negated.campaigns[0].campaign.audience = Some(Filter::Not(Box::new(Filter::SendTimeConfidence { min: 0.5 })));
        assert_eq!(sends(&new, None, &negated, now).len(), 1);
        assert!(sends(&known, None, &negated, now).is_empty());
    }

    #[test]
    fn birthdays_are_found_in_the_customers_calendar_once_per_year_leap_days_included() {
        let d = campaign(Trigger::Birthday { days_before: 0 }, SendTime::Immediate, None);
        let model = RunModel { campaigns: vec![d], ..RunModel::default() };
        // 23:30 UTC on 11 March is already 12 March in Tokyo.
        let now = utc("2026-03-11T23:30:00Z");
        let tokyo = sends(&profile("c-1", "Asia/Tokyo", Some("1990-03-12"), true), None, &model, now);
        assert_eq!(tokyo.len(), 1);
        assert_eq!(tokyo[0].occurrence, "birthday-2026");
        assert_eq!(tokyo[0].due_at, utc("2026-03-12T00:00:00Z"), "09:00 in Tokyo");
        // Tomorrow in London: queued a day ahead, for 09:00 local.
        let london = sends(&profile("c-2", "Europe/London", Some("03-12"), true), None, &model, now);
        assert_eq!(london[0].due_at, utc("2026-03-12T09:00:00Z"));
        assert!(sends(&profile("c-3", "Europe/London", Some("03-20"), true), None, &model, now).is_empty());
        // 29 February in 2026 (not a leap year): on 28 February.
        let leap = profile("c-4", "Europe/London", Some("2000-02-29"), true);
        let on_28th = sends(&leap, None, &model, utc("2026-02-28T06:00:00Z"));
        assert_eq!(on_28th.len(), 1);
        assert!(sends(&leap, None, &model, utc("2026-03-01T06:00:00Z")).is_empty());
        // Two days' runs see the same birthday with the same occurrence: the marker keeps one.
        let a = sends(&profile("c-5", "Europe/London", Some("03-12"), true), None, &model, now);
        let b = sends(&profile("c-5", "Europe/London", Some("03-12"), true), None, &model, now + Duration::days(1));
        let marker = |s: &DueSend| s.writes().unwrap()[0].key().clone();
        assert_eq!(marker(&a[0]), marker(&b[0]));
    }

    /// Applies an event to `p` at `at`.
    fn with(p: &mut Profile, n: &str, at: &str, kind: &str, data: serde_json::Value) {
        let id = p.customer_id.to_string();
        let text = serde_json::json!({"schema_version": 1, "id": format!("{id}-{n}"), "customer_id": id,
            "occurred_at": at, "source": "t", "type": kind, "data": data});
        match crate::event::parse_inbound(&text.to_string(), utc(at)).unwrap() {
            crate::event::Inbound::Customer(e) => p.apply(&e).unwrap(),
            other => panic!("a customer event: {other:?}"),
        }
    }

    fn order(p: &mut Profile, n: &str, at: &str, sku: &str) {
        let data = serde_json::json!({"order_id": format!("o-{n}"), "currency": "EUR",
            "lines": [{"product_id": sku, "unit_price": "12.50", "quantity": 1}]});
        with(p, n, at, "order_placed", data);
    }

    fn sku(s: &str) -> ProductId {
        ProductId::new(s).unwrap()
    }

    #[test]
    fn a_refill_is_offered_days_before_the_product_runs_out_once_per_purchase() {
        let d =
            campaign(Trigger::ReplenishmentDue { days_before: 3 }, SendTime::LocalTime { at: "18:00".into() }, None);
        let repurchase_days = BTreeMap::from([(sku("coffee"), 30)]);
        let model = RunModel { campaigns: vec![d], repurchase_days, ..RunModel::default() };
        let mut p = profile("c-1", "Europe/Berlin", None, true);
        order(&mut p, "1", "2026-11-01T10:00:00Z", "coffee");
        order(&mut p, "2", "2026-11-02T10:00:00Z", "mug");
        // Runs out on 1 December: offered on 28 November at 18:00 Berlin time, queued the day before.
        assert!(sends(&p, None, &model, utc("2026-11-26T00:10:00Z")).is_empty());
        let due = sends(&p, None, &model, utc("2026-11-27T00:10:00Z"));
        assert_eq!(due.len(), 1, "the mug is not known to be bought again: {due:?}");
        assert_eq!(due[0].product, Some(sku("coffee")));
        assert_eq!(due[0].due_at, utc("2026-11-28T17:00:00Z"));
        assert_eq!(due[0].occurrence, "replenish-coffee-2026-11-01");
        // The next day's run names the same send (its once-marker); a later purchase is a new cause.
        let marker = |s: &DueSend| s.writes().unwrap()[0].key().clone();
        assert_eq!(marker(&sends(&p, None, &model, utc("2026-11-28T00:10:00Z"))[0]), marker(&due[0]));
        order(&mut p, "3", "2026-11-27T10:00:00Z", "coffee");
        assert!(sends(&p, None, &model, utc("2026-11-28T00:10:00Z")).is_empty());
    }

    #[test]
    fn back_in_stock_and_price_drops_reach_recent_viewers_who_did_not_buy() {
        let restock = campaign(Trigger::BackInStock { viewed_within_days: 14 }, SendTime::Immediate, None);
        let cheaper =
            campaign(Trigger::PriceDrop { viewed_within_days: 14, min_drop_percent: 10 }, SendTime::Immediate, None);
        let cheaper = Deployed {
            campaign: crate::campaign::Campaign {
                id: crate::ids::CampaignId::new("drop").unwrap(),
                ..cheaper.campaign
            },
            ..cheaper
        };
        let at = utc("2026-12-01T08:00:00Z");
        let amount = |s: &str| crate::money::Amount::parse(s).unwrap();
        let eur = crate::money::Currency::new("EUR").unwrap();
        let catalogue = [
            Change { product: sku("boots"), at, kind: ChangeKind::Restocked },
            Change {
                product: sku("boots"),
                at,
                kind: ChangeKind::Cheaper { from: amount("100"), to: amount("85"), currency: eur },
            },
            Change {
                product: sku("scarf"),
                at,
                kind: ChangeKind::Cheaper { from: amount("20"), to: amount("19"), currency: eur },
            },
        ];
        let mut by_product: BTreeMap<ProductId, Vec<Change>> = BTreeMap::new();
        for c in catalogue {
            by_product.entry(c.product.clone()).or_default().push(c);
        }
        let model = RunModel { campaigns: vec![restock, cheaper], catalogue: by_product, ..RunModel::default() };
        let now = utc("2026-12-02T00:10:00Z");
        let mut viewer = profile("c-1", "Europe/Berlin", None, true);
        with(&mut viewer, "v1", "2026-11-25T10:00:00Z", "product_viewed", serde_json::json!({"product_id": "boots"}));
        with(&mut viewer, "v2", "2026-11-25T10:00:00Z", "product_viewed", serde_json::json!({"product_id": "scarf"}));
        let due = sends(&viewer, None, &model, now);
        let names: Vec<(&str, &str)> = due.iter().map(|s| (s.campaign_id.as_str(), s.occurrence.as_str())).collect();
        // The scarf is only 5% cheaper.
        assert_eq!(names, [("birthday", "restock-boots-2026-11-25"), ("drop", "price-boots-2026-11-25")]);
        // Back in stock again days later, with no new view: the same notice (its marker), not a second.
        let mut again = model.clone();
        for c in again.catalogue.values_mut().flatten() {
            c.at += Duration::days(3);
        }
        let later = sends(&viewer, None, &again, now + Duration::days(3));
        assert_eq!(
            later.iter().map(|s| s.occurrence.as_str()).collect::<Vec<_>>(),
            ["restock-boots-2026-11-25", "price-boots-2026-11-25"]
        );
        // Found after midnight: sent from 09:00 in Berlin, not in the night.
        assert!(due.iter().all(|s| s.due_at == utc("2026-12-02T08:00:00Z") && s.product == Some(sku("boots"))));
        // Viewed too long ago, or bought since: nothing.
        let mut old = profile("c-2", "Europe/Berlin", None, true);
        with(&mut old, "v1", "2026-10-01T10:00:00Z", "product_viewed", serde_json::json!({"product_id": "boots"}));
        assert!(sends(&old, None, &model, now).is_empty());
        order(&mut viewer, "1", "2026-12-01T09:00:00Z", "boots");
        assert!(sends(&viewer, None, &model, now).is_empty());
    }

    #[test]
    fn a_churn_risk_at_the_campaigns_band_starts_one_win_back_per_lapse() {
        let d = campaign(Trigger::ChurnRisk { min_risk: RiskBand::Medium }, SendTime::Immediate, None);
        let model = RunModel { campaigns: vec![d], ..RunModel::default() };
        let now = utc("2026-12-02T00:10:00Z");
        let mut p = profile("c-1", "Europe/Berlin", None, true);
        order(&mut p, "1", "2026-03-01T10:00:00Z", "boots");
        let score = |p_alive: f64, scored_at: &str| -> Scores {
            let churn = serde_json::from_value(
                serde_json::json!({"scored_at": scored_at, "frequency": 4, "recency": 10.0, "T": 40.0,
                "p_alive": p_alive, "expected_purchases": 0.1, "band": "at_risk", "explanation": "x",
                "winback": {"flagged": true, "episode": 1, "lapse_after": "2026-03-01"}}),
            )
            .unwrap();
            Scores { churn: Some(churn), loyalty: None }
        };
        let at_risk = score(0.2, "2026-12-02T00:00:00Z");
        let due = sends(&p, Some(&at_risk), &model, now);
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].occurrence,
            crate::churn::job::lapse_occurrence(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
        );
        assert_eq!(due[0].due_at, utc("2026-12-02T08:00:00Z"), "09:00 in Berlin");
        assert!(due[0].reason.starts_with("churn risk high"), "{}", due[0].reason);
        // In São Paulo it is 21:10: not tonight, tomorrow at 09:00 there.
        let mut west = profile("c-9", "America/Sao_Paulo", None, true);
        order(&mut west, "1", "2026-03-01T10:00:00Z", "boots");
        assert_eq!(sends(&west, Some(&at_risk), &model, now)[0].due_at, utc("2026-12-02T12:00:00Z"));
        // Low risk, a stale score, or no score: nothing.
        assert!(sends(&p, Some(&score(0.9, "2026-12-02T00:00:00Z")), &model, now).is_empty());
        assert!(sends(&p, Some(&score(0.2, "2026-11-20T00:00:00Z")), &model, now).is_empty());
        assert!(sends(&p, None, &model, now).is_empty());
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Any customer of the synthetic shop, in any zone (the date line, half-hour DST), with
        /// any birthday (29 February included), at any moment, against every scheduled trigger
        /// with any parameters and send-time policy: no panic, nothing due before now, nothing
        /// for the holdout, one send per campaign and cause.
        #[test]
        fn scheduled_sends_are_never_in_the_past_and_never_twice(
            seed in any::<u64>(),
            zone in 0usize..6,
            (month, day) in (1u32..=12, 1u32..=29),
            days in 0u32..400,
            offset_days in -4000i64..4000,
            hour in 0i64..24,
            policy in 0usize..3,
        ) {
            let zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Lord_Howe", "Europe/Berlin", "America/St_Johns", "UTC"];
            let now = utc("2026-12-01T00:00:00Z") + Duration::days(offset_days) + Duration::hours(hour);
            let send_time = [SendTime::Immediate, SendTime::LocalTime { at: "23:30".into() }, SendTime::Optimised { within_hours: 48 }][policy].clone();
            let triggers = [
                broadcast("2026-12-10T09:00:00+01:00"),
                Trigger::Broadcast { at: (now - Duration::hours(3)).fixed_offset() },
                Trigger::Birthday { days_before: days % 60 },
                Trigger::ReplenishmentDue { days_before: days },
                Trigger::BackInStock { viewed_within_days: days },
                Trigger::PriceDrop { viewed_within_days: days, min_drop_percent: days % 100 },
                Trigger::ChurnRisk { min_risk: RiskBand::Low },
            ];
            let campaigns: Vec<Deployed> = triggers.into_iter().enumerate().map(|(i, t)| {
                let d = campaign(t, send_time.clone(), None);
                Deployed { campaign: crate::campaign::Campaign { id: crate::ids::CampaignId::new(format!("c{i}")).unwrap(), ..d.campaign }, ..d }
            }).collect();
            let (events, _) = crate::synth::shop_events(seed, 3, 60, now);
            let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
            for e in &events {
                let p = profiles.entry(e.customer_id.to_string()).or_insert_with(|| Profile::new(e.customer_id.clone()));
                let _ = p.apply(e);
            }
            let mut products: Vec<ProductId> = profiles.values().flat_map(|p| p.browse.views.iter().map(|v| v.product_id.clone())).collect();
            products.sort();
            products.dedup();
            let eur = crate::money::Currency::new("EUR").unwrap();
            let amount = |s: &str| crate::money::Amount::parse(s).unwrap();
            let mut catalogue: BTreeMap<ProductId, Vec<Change>> = BTreeMap::new();
            for (i, product) in products.iter().enumerate() {
                let at = now - Duration::hours(i as i64);
                catalogue.entry(product.clone()).or_default().extend([
                    Change { product: product.clone(), at, kind: ChangeKind::Restocked },
                    Change { product: product.clone(), at, kind: ChangeKind::Cheaper { from: amount("10"), to: amount("1"), currency: eur } },
                ]);
            }
            let repurchase_days = products.iter().map(|p| (p.clone(), 1 + days % 90)).collect();
            let model = RunModel { campaigns, catalogue, repurchase_days, ..RunModel::default() };
            let score = Scores { churn: Some(serde_json::from_value(serde_json::json!({"scored_at": now, "frequency": 4, "recency": 10.0,
                "T": 40.0, "p_alive": 0.1, "expected_purchases": 0.1, "band": "at_risk", "explanation": "x",
                "winback": {"flagged": false, "episode": 0}})).unwrap()), loyalty: None };
            for (n, mut p) in profiles.into_values().enumerate() {
                let at = (now - Duration::days(1)).to_rfc3339();
                with(&mut p, "tz", &at, "customer_updated", serde_json::json!({"time_zone": zones[(zone + n) % zones.len()], "birthday": format!("{month:02}-{day:02}")}));
                if n % 2 == 0 {
                    with(&mut p, "feb29", &at, "customer_updated", serde_json::json!({"birthday": "2000-02-29"}));
                }
                with(&mut p, "k", &at, "consent_changed", serde_json::json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "t"}));
                let due = sends(&p, Some(&score), &model, now);
                let mut causes = std::collections::HashSet::new();
                for s in &due {
                    prop_assert!(s.due_at >= now, "{} {}: due {} before now {now}", s.campaign_id, s.occurrence, s.due_at);
                    prop_assert!(causes.insert((s.campaign_id.clone(), s.occurrence.clone())), "{} {} twice", s.campaign_id, s.occurrence);
                    let c = &model.campaigns.iter().find(|d| d.campaign.id == s.campaign_id).unwrap().campaign;
                    prop_assert!(!held_out(c, &p.customer_id));
                }
            }
        }
    }

    #[test]
    fn a_daily_run_names_its_day() {
        let d = campaign(Trigger::Birthday { days_before: 3 }, SendTime::Immediate, None);
        let runs = plan(&[d], utc("2026-05-02T00:15:00Z"));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run, "daily-2026-05-02");
    }
}
