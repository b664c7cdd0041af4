//! Campaigns no profile change starts: a **broadcast** (once, to an audience, from a moment) and
//! **birthdays** (each day, the customers whose birthday is `days_before` days away in their own
//! calendar). A schedule asks often which runs are due ([`plan`]); each run walks every customer
//! on the segmented fan-out with the campaign versions it started with, and queues one send per
//! audience member at the moment the send-time policy picks for them.
//!
//! Every send is queued once per cause (the once-marker): a run started again, a task
//! redelivered, or a second day's run seeing the same birthday queues nothing twice.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::audience::Facts;
use super::send_time::{Moment, local_instant, moment};
use super::stored::{self, Deployed};
use super::{Kind, SendTime, Status, Trigger};
use crate::churn::job::CustomerScore;
use crate::due::DueSend;
use crate::event::ConsentStatus;
use crate::jobs::runner::{JobError, RunState, Runner};
use crate::jobs::{Output, SegmentedJob, TaskQueue};
use crate::keys;
use crate::profile::tracked::current;
use crate::profile::{Profile, consent_key};
use crate::sto::job::{history, segment};
use crate::sto::posterior::Posterior;
use crate::sto::prior::Priors;
use crate::store::{Key, Store};

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

/// The runs due at `now` among the deployed campaigns: one per active broadcast from
/// [`LEAD_HOURS`] before its moment to [`LATE_HOURS`] after it (named by campaign and version),
/// and one a UTC day for every active birthday campaign.
pub fn plan(deployed: &[Deployed], now: DateTime<Utc>) -> Vec<Planned> {
    let active = deployed.iter().filter(|d| d.campaign.status == Status::Active);
    let mut runs = Vec::new();
    let mut birthdays = Vec::new();
    for d in active {
        match &d.campaign.trigger {
            Trigger::Broadcast { at } => {
                let at = at.with_timezone(&Utc);
                if now >= at - Duration::hours(LEAD_HOURS) && now <= at + Duration::hours(LATE_HOURS) {
                    let run = format!("broadcast-{}-v{}", d.campaign.id, d.version);
                    runs.push(Planned { run, campaigns: vec![d.clone()] });
                }
            }
            Trigger::Birthday { .. } => birthdays.push(d.clone()),
            _ => {}
        }
    }
    if !birthdays.is_empty() {
        runs.push(Planned { run: format!("birthday-{}", now.date_naive()), campaigns: birthdays });
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
    let mut started = Vec::new();
    for p in planned {
        let model = RunModel { campaigns: p.campaigns, priors: priors.clone() };
        let state = runner.start_with_model(&p.run, segments, &model, now).await?;
        started.push((p.run, state));
    }
    Ok(started)
}

/// What a run applies: its campaigns, and the send-time priors for optimised moments.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunModel {
    pub campaigns: Vec<Deployed>,
    pub priors: Priors,
}

/// What the last run queued for a customer (their output item: a redelivered task of the same
/// run finds it and does nothing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub at: DateTime<Utc>,
    /// `campaign#occurrence` of each send.
    pub sends: Vec<String>,
}

/// The scheduled-campaigns job. It gathers nothing: each run starts with its model
/// (`Runner::start_with_model`).
pub struct ScheduledJob;

impl SegmentedJob for ScheduledJob {
    const NAME: &'static str = "scheduled";
    const OUTPUT_SK: &'static str = keys::SCHEDULED_SENDS;
    // Audiences filter on churn risk and value.
    const JOINED_SK: Option<&'static str> = Some(keys::CHURN_SCORE);
    type Stats = ();
    type Joined = CustomerScore;
    type Model = RunModel;
    type Output = Queued;

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
        _previous: Option<&Queued>,
        churn: Option<&CustomerScore>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<Queued>>, String> {
        let due = sends(profile, churn, model, now);
        if due.is_empty() {
            return Ok(None);
        }
        let queued =
            Queued { at: now, sends: due.iter().map(|s| format!("{}#{}", s.campaign_id, s.occurrence)).collect() };
        Ok(Some(Output { value: queued, due, flagged: false }))
    }
}

/// Whether a marketing campaign could reach the customer at all: consent to its topic on one of
/// its channels. Delivery checks everything again; this only keeps sends nobody may receive out
/// of the queue.
fn reachable(profile: &Profile, campaign: &super::Campaign) -> bool {
    if campaign.kind == Kind::Transactional {
        return true;
    }
    let Some(topic) = &campaign.topic else { return false };
    campaign.channels.iter().any(|c| {
        profile.contact.consents.get(&consent_key(*c, topic)).and_then(|t| t.value) == Some(ConsentStatus::Granted)
    })
}

/// The sends the run's campaigns queue for one customer as of `now`.
pub fn sends(profile: &Profile, churn: Option<&CustomerScore>, model: &RunModel, now: DateTime<Utc>) -> Vec<DueSend> {
    let facts = Facts::of(profile, churn);
    let tz = profile.time_zone();
    let posterior = || {
        let h = history(profile);
        Posterior::new(&profile.attention(now), h, segment(profile).as_deref(), &model.priors, now)
    };
    let mut out = Vec::new();
    for d in &model.campaigns {
        let c = &d.campaign;
        if c.status != Status::Active
            || !reachable(profile, c)
            || c.audience.as_ref().is_some_and(|a| !a.matches(&facts, now))
        {
            continue;
        }
        let key = |occurrence: &str| format!("{}#{}#{occurrence}", profile.customer_id, c.id);
        let mut queue = |occurrence: String, cause_at: DateTime<Utc>, m: Moment, why: String| {
            out.push(DueSend {
                customer_id: profile.customer_id.clone(),
                campaign_id: c.id.clone(),
                due_at: m.at,
                reason: format!("{why}; sent {}", m.reason),
                occurrence,
                created_at: now,
                campaign_version: Some(d.version),
                cause_at: Some(cause_at),
                product: None,
            });
        };
        match &c.trigger {
            Trigger::Broadcast { at } => {
                let at = at.with_timezone(&Utc);
                let occurrence = "broadcast".to_string();
                let m = moment(&c.send_time, at, tz, posterior, &key(&occurrence));
                queue(occurrence, at, m, format!("broadcast from {}", at.format("%Y-%m-%d %H:%M UTC")));
            }
            Trigger::Birthday { days_before } => {
                let Some(birthday) = current(&profile.contact.details.birthday) else { continue };
                let today = now.with_timezone(&tz).date_naive();
                // Today and tomorrow in the customer's calendar: a daily run in UTC reaches every
                // zone's day in time.
                for day in [today, today + Duration::days(1)] {
                    let Some(on) = day.checked_add_signed(Duration::days(i64::from(*days_before))) else { continue };
                    if !is_birthday(on, birthday.month, birthday.day) {
                        continue;
                    }
                    let start =
                        if matches!(c.send_time, SendTime::LocalTime { .. }) { NaiveTime::MIN } else { DAY_STARTS };
                    let Some(base) = local_instant(day, start, tz) else { continue };
                    // Once per birthday: named by the year it falls in.
                    let occurrence = format!("birthday-{}", on.year());
                    let m = moment(&c.send_time, base, tz, posterior, &key(&occurrence));
                    let why = match days_before {
                        0 => "the customer's birthday".to_string(),
                        n => format!("{n} days before the customer's birthday"),
                    };
                    queue(occurrence, base, m, why);
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `day` is the birthday `month`-`day`; 29 February is kept on 28 February in other years.
fn is_birthday(on: NaiveDate, month: u32, day: u32) -> bool {
    let leap = NaiveDate::from_ymd_opt(on.year(), 2, 29).is_some();
    if month == 2 && day == 29 && !leap {
        return on.month() == 2 && on.day() == 28;
    }
    on.month() == month && on.day() == day
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{Filter, load};
    use crate::event::ShopEvent;
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
        let ev = |n: &str, kind: &str, data: serde_json::Value| -> ShopEvent {
            let text = serde_json::json!({"schema_version": 1, "id": format!("{id}-{n}"), "customer_id": id,
                "occurred_at": "2026-01-01T00:00:00Z", "source": "t", "type": kind, "data": data});
            match crate::event::parse_inbound(&text.to_string(), utc("2026-01-01T00:00:00Z")).unwrap() {
                crate::event::Inbound::Customer(e) => e,
                other => panic!("a customer event: {other:?}"),
            }
        };
        let mut details = serde_json::json!({"time_zone": zone, "country": "DE"});
        if let Some(b) = birthday {
            details["birthday"] = b.into();
        }
        p.apply(&ev("u", "customer_updated", details)).unwrap();
        if consent {
            p.apply(&ev("k", "consent_changed", serde_json::json!({"channel": "email", "topic": "marketing", "status": "granted", "source": "signup_form"})))
                .unwrap();
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
        let model = RunModel { campaigns: vec![d], priors: Priors::default() };
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
    fn birthdays_are_found_in_the_customers_calendar_once_per_year_leap_days_included() {
        let d = campaign(Trigger::Birthday { days_before: 0 }, SendTime::Immediate, None);
        let model = RunModel { campaigns: vec![d], priors: Priors::default() };
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
        assert_eq!(a[0].key(), b[0].key());
    }

    #[test]
    fn a_daily_run_names_its_day() {
        let d = campaign(Trigger::Birthday { days_before: 3 }, SendTime::Immediate, None);
        let runs = plan(&[d], utc("2026-05-02T00:15:00Z"));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run, "birthday-2026-05-02");
    }
}
