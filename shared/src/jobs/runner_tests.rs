//! The runner at its edges, on the embedded store: duplicate chains of one segment, a lost answer
//! to the state's write, a segment name the table cannot key.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::customers;
use crate::ids::{EventId, Source};
use crate::jobs::local::LocalQueue;
use crate::profile::Engagement;
use crate::profile::contact::ContactPart;
use crate::profile::engagement::EngagementKind;
use crate::profile::tracked::Tracked;
use crate::sto::job::SendTimeJob;
use crate::sto::prior::PriorStats;
use crate::store::embedded::EmbeddedStore;
use crate::store::{Fetched, Page};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()
}

/// `n` customers with a week of clicks, in `segment` if given.
async fn seed(store: &EmbeddedStore, n: usize, segment: Option<&str>) {
    let now = now();
    for i in 0..n {
        let id = CustomerId::new(format!("c{i:04}")).unwrap();
        let mut e = Engagement::default();
        for d in 0..6 {
            e.record(now.timestamp() - (d + 1) * 86_400 + ((i % 24) as i64) * 3600, EngagementKind::Clicked, None);
        }
        let mut writes =
            vec![Write::Put { item: customers::part_item(&id, &e, 1).unwrap(), condition: Condition::NotExists }];
        if let Some(s) = segment {
            let mut c = ContactPart::default();
            let value = Tracked {
                value: Some(json!(s)),
                at: now,
                source: Source::new("x").unwrap(),
                event: EventId::new("e").unwrap(),
            };
            c.attributes.insert("segment".into(), value);
            writes
                .push(Write::Put { item: customers::part_item(&id, &c, 1).unwrap(), condition: Condition::NotExists });
        }
        store.write(writes).await.unwrap();
    }
}

async fn state(store: &EmbeddedStore, run: &str) -> RunState {
    let key = Key::new(keys::job_run_pk("sto", run), keys::JOB_STATE);
    decode(store.get(&key).await.unwrap().unwrap()).unwrap()
}

#[tokio::test]
async fn duplicate_chains_of_a_segment_gather_it_exactly() {
    let store = EmbeddedStore::new();
    seed(&store, 3000, None).await;
    let queue = LocalQueue::new();
    let runner = Runner { store: &store, queue: &queue, job: &SendTimeJob };
    runner.start("r", 1, now()).await.unwrap();
    let fresh = queue.pop().unwrap();
    // Chain A hands over after one page; a duplicate of the same task (redelivered) after three.
    runner.handle(fresh.clone(), now(), Deadline { at: None, max_pages: Some(1) }).await.unwrap();
    let a1 = queue.pop().unwrap();
    runner.handle(fresh, now(), Deadline { at: None, max_pages: Some(3) }).await.unwrap();
    let _b1 = queue.pop().unwrap();
    // A's continuation finishes first, from the state A handed it.
    runner.handle(a1, now(), Deadline::NONE).await.unwrap();
    let key = Key::new(keys::job_run_pk("sto", "r"), keys::job_segment_sk(keys::JOB_GATHERED, 0));
    let gathered: PriorStats = blob::get(&store, &key).await.unwrap().unwrap();
    assert_eq!(gathered.population.customers, 3000);
}

#[tokio::test]
async fn blank_segment_names_are_no_segment() {
    let store = EmbeddedStore::new();
    seed(&store, 60, Some(" ")).await;
    let queue = LocalQueue::new();
    let runner = Runner { store: &store, queue: &queue, job: &SendTimeJob };
    runner.start("r", 2, now()).await.unwrap();
    let (_, report) = drain(&runner, now()).await.unwrap();
    assert_eq!(report.unwrap().customers.written, 60);
}

/// Applies every write, but loses the answer to the first write of a `fitting` state: the
/// caller's retry meets its own write and sees a failed condition.
struct LosesFitClaimAnswer {
    inner: EmbeddedStore,
    lost: AtomicBool,
}

impl Store for LosesFitClaimAnswer {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key], c: Consistency) -> Result<Vec<Fetched>, StoreError> {
        self.inner.get_many(keys, c).await
    }
    async fn query(&self, pk: &str, q: &Query) -> Result<Page, StoreError> {
        self.inner.query(pk, q).await
    }
    async fn scan(
        &self,
        s: Segment,
        a: Option<&Key>,
        l: usize,
        c: Consistency,
        w: crate::store::Wanted<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.scan(s, a, l, c, w).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let fitting = matches!(writes.as_slice(), [Write::Put { item, .. }]
            if item.key.sk == keys::JOB_STATE && item.body.get("phase") == Some(&json!("fitting")));
        self.inner.write(writes).await?;
        if fitting && !self.lost.swap(true, Ordering::SeqCst) {
            return Err(StoreError::ConditionFailed { failed: vec![0] });
        }
        Ok(())
    }
    fn meter(&self) -> &crate::store::Meter {
        self.inner.meter()
    }
}

#[tokio::test]
async fn a_lost_answer_to_the_fit_claim_still_fits_and_finishes() {
    let store = LosesFitClaimAnswer { inner: EmbeddedStore::new(), lost: AtomicBool::new(false) };
    seed(&store.inner, 60, None).await;
    let queue = LocalQueue::new();
    let runner = Runner { store: &store, queue: &queue, job: &SendTimeJob };
    runner.start("r", 2, now()).await.unwrap();
    let (_, report) = drain(&runner, now()).await.unwrap();
    assert!(store.lost.load(Ordering::SeqCst), "the answer was lost");
    assert_eq!(report.expect("the run finished").customers.written, 60);
    assert_eq!(state(&store.inner, "r").await.phase, RunPhase::Done);
}
