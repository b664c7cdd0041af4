//! The scheduled send-time refit as a segmented job: gather the prior's moments from every
//! profile, fit the population and segment priors, then write each customer's model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::{Output, SegmentedJob};
use crate::keys;
use crate::profile::Profile;
use crate::profile::engagement::{Engagement, EngagementKind};
use crate::store::Key;
use crate::week::{HOURS_PER_WEEK, HourOfWeek};

use super::posterior::{History, Posterior};
use super::prior::{PriorStats, Priors};

pub struct SendTimeJob;

/// The customer's segment for priors: the shop's `segment` attribute, else their country.
pub fn segment(p: &Profile) -> Option<String> {
    let attribute =
        p.attribute("segment").and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    attribute.or_else(|| crate::profile::tracked::current(&p.contact.details.country).map(|c| c.as_str().to_string()))
}

/// A customer's posterior built now from their profile and `priors` (for one the nightly model
/// has not scored, or a reader that builds its own).
pub fn posterior_of(p: &Profile, priors: &Priors, now: DateTime<Utc>) -> Posterior {
    Posterior::new(&p.attention(now), history(p), segment(p).as_deref(), priors, now)
}

/// Messages delivered and engaged with, as far as the profile knows.
pub fn history(p: &Profile) -> History {
    history_of(&p.engagement)
}

/// Messages delivered and engaged with (opened by a person, or clicked) in an engagement record.
pub fn history_of(e: &Engagement) -> History {
    let engaged = e.person_opens().max(e.total(EngagementKind::Clicked));
    History { delivered: e.total(EngagementKind::Delivered), engaged }
}

/// A customer's stored send-time model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerModel {
    pub refreshed_at: DateTime<Utc>,
    pub posterior: Posterior,
    /// The five best hours of the local week by the posterior mean, best first, with their share.
    pub best_hours: Vec<(HourOfWeek, f64)>,
}

/// The send-time priors the last refit published (flat ones before the first refit).
pub async fn current_priors<S: crate::store::Store>(store: &S) -> Result<Priors, crate::store::StoreError> {
    #[derive(Deserialize)]
    struct Published {
        model: Priors,
    }
    let key = Key::new(keys::SEND_TIME_PRIORS.0, keys::SEND_TIME_PRIORS.1);
    match store.get(&key).await? {
        Some(item) => Ok(crate::store::decode::<Published>(item)?.model),
        None => Ok(Priors::default()),
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl SegmentedJob for SendTimeJob {
    const NAME: &'static str = "sto";
    const OUTPUT_SK: &'static str = keys::SEND_TIME_MODEL;
    // The segment (contact), message engagement, and purchases as attention signals.
    const PARTS: &'static [keys::PartKind] =
        &[keys::PartKind::Contact, keys::PartKind::Engagement, keys::PartKind::Orders];
    type Stats = PriorStats;
    type Joined = ();
    type Model = Priors;
    type Output = CustomerModel;

    fn gather(&self, profile: &Profile, now: DateTime<Utc>, stats: &mut PriorStats) {
        let h = history(profile);
        stats.add(&profile.attention(now).masses_at(now), segment(profile).as_deref(), h.delivered, h.engaged);
    }

    fn merge(&self, into: &mut PriorStats, other: &PriorStats) {
        into.merge(other);
    }

    fn fit(&self, stats: &PriorStats) -> Priors {
        stats.fit()
    }

    fn model_key(&self) -> Key {
        Key::new(keys::SEND_TIME_PRIORS.0, keys::SEND_TIME_PRIORS.1)
    }

    fn public_model(&self, priors: &Priors) -> serde_json::Value {
        serde_json::to_value(priors.published()).unwrap_or_default()
    }

    fn apply(
        &self,
        profile: &Profile,
        priors: &Priors,
        _previous: Option<&CustomerModel>,
        _joined: Option<&()>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<CustomerModel>>, String> {
        // The parameters are stored packed (three bytes each, within 0.017%).
        let posterior =
            Posterior::new(&profile.attention(now), history(profile), segment(profile).as_deref(), priors, now);
        let mean = posterior.mean();
        let mut hours: Vec<(HourOfWeek, f64)> =
            (0..HOURS_PER_WEEK).filter_map(|h| HourOfWeek::new(h).map(|hw| (hw, round4(mean[h])))).collect();
        hours.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hours.truncate(5);
        Ok(Some(Output::of(CustomerModel { refreshed_at: now, posterior, best_hours: hours })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers;
    use crate::ids::CustomerId;
    use crate::jobs::TaskQueue;
    use crate::jobs::local::LocalQueue;
    use crate::jobs::runner::{RunPhase, Runner, drain};
    use crate::profile::Engagement;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::{Condition, Store, Write, decode, scan_all};
    use chrono::TimeZone;

    const MODEL_SK: &str = keys::SEND_TIME_MODEL;

    async fn seed_profiles(store: &EmbeddedStore, n: usize, now: DateTime<Utc>) {
        for i in 0..n {
            let id = CustomerId::new(format!("c{i:04}")).unwrap();
            let mut e = Engagement::default();
            for d in 0..(i % 12) {
                let at = now.timestamp() - (d as i64 + 1) * 86_400 + ((i % 24) as i64) * 3600;
                e.record(at, EngagementKind::Clicked, None);
            }
            let item = customers::part_item(&id, &e, 1).unwrap();
            store.write(vec![Write::Put { item, condition: Condition::NotExists }]).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_local_run_refreshes_every_customer_once_and_resumes_harmlessly() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        let store = EmbeddedStore::new();
        seed_profiles(&store, 120, now).await;
        let queue = LocalQueue::new();
        let runner = Runner { store: &store, queue: &queue, job: &SendTimeJob };
        runner.start("2026-11-24T03:00:00Z", 5, now).await.unwrap();
        // A redelivered task in each phase must change nothing.
        let first = queue.pop().unwrap();
        queue.enqueue(vec![first.clone(), first]).await.unwrap();
        let (handled, report) = drain(&runner, now).await.unwrap();
        let report = report.expect("the run finished");
        assert_eq!((report.customers.read, report.customers.written), (120, 120));
        assert_eq!(report.segments_retried, 0, "a duplicate of a finished task does no work again");
        assert!(handled >= 11, "5 gather + 5 apply + duplicates, got {handled}");

        let models: Vec<_> =
            scan_all(&store, Some(MODEL_SK)).await.unwrap().into_iter().filter(|i| i.key.sk == MODEL_SK).collect();
        assert_eq!(models.len(), 120);
        assert!(models.iter().all(|m| m.version == 1), "each written once");
        let model: CustomerModel = decode(models[0].clone()).unwrap();
        assert_eq!(model.best_hours.len(), 5);

        // Starting the same run again finds it done and sends nothing.
        let state = runner.start("2026-11-24T03:00:00Z", 5, now).await.unwrap();
        assert_eq!(state.phase, RunPhase::Done);
        assert!(queue.is_empty());
        let published =
            store.get(&Key::new(keys::SEND_TIME_PRIORS.0, keys::SEND_TIME_PRIORS.1)).await.unwrap().unwrap();
        assert_eq!(published.body["run"], "2026-11-24T03:00:00Z");

        // The next night's run rewrites every model once more.
        runner.start("2026-11-25T03:00:00Z", 3, now).await.unwrap();
        drain(&runner, now).await.unwrap();
        let models: Vec<_> = scan_all(&store, Some(MODEL_SK)).await.unwrap();
        assert!(models.iter().filter(|i| i.key.sk == MODEL_SK).all(|m| m.version == 2));
    }

    #[tokio::test]
    async fn bad_tasks_are_refused() {
        let store = EmbeddedStore::new();
        let queue = LocalQueue::new();
        let runner = Runner { store: &store, queue: &queue, job: &SendTimeJob };
        let now = Utc::now();
        assert!(runner.start("bad#run", 3, now).await.is_err());
        assert!(runner.start("ok", 0, now).await.is_err());
        let task = crate::jobs::Task {
            job: "churn".into(),
            run: "r".into(),
            phase: crate::jobs::Phase::Gather,
            segment: 0,
            total: 1,
            after: None,
            carry: None,
            hand_over: 0,
        };
        assert!(runner.handle(task, now, crate::jobs::runner::Deadline::NONE).await.is_err());
    }
}
