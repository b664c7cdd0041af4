//! The protocol of a segmented run: start, gather, fit, apply, finish.
//!
//! Items, all under the run's partition `JOB#<job>#<run>` (expiring after 30 days):
//!
//! | sk              | what                                                        |
//! |-----------------|-------------------------------------------------------------|
//! | `STATE`         | phase, segment count, whether the apply tasks went out      |
//! | `GATHER#<seg>`  | one segment's statistics                                    |
//! | `MODEL`         | the model fitted from all of them                           |
//! | `APPLIED#<seg>` | one segment done: customers written and skipped             |
//!
//! Each customer's output is `C#<id>` / `J::OUTPUT_SK`, carrying the run that wrote it: a
//! redelivered task skips customers this run already wrote, so each is written once per run.
//!
//! A segment is read as whole customers ([`crate::customers::CustomerGroups`]): the profile's
//! parts and the customer's previous output come from the same scan. A customer whose items
//! cannot be decoded is logged with the key and counted, and the run goes on without them.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Phase, QueueError, SegmentedJob, Task, TaskQueue};
use crate::customers::{self, SegmentScan};
use crate::ids::CustomerId;
use crate::keys;
use crate::profile::Profile;
use crate::store::{Condition, Item, Key, Query, Segment, Store, StoreError, Write, decode, encode};

/// Run items are kept this long, for inspection, then expire.
const RUN_ITEM_DAYS: i64 = 30;
/// Items read per scan page.
const PAGE: usize = 500;
/// A worker this close to its deadline hands the rest of its segment to a continuation.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
pub const MAX_SEGMENTS: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("invalid task: {0}")]
    Invalid(String),
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Store(e) => e.is_retryable() || matches!(e, StoreError::ConditionFailed { .. }),
            JobError::Queue(_) => true,
            JobError::Invalid(_) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    Gathering,
    Applying,
    Done,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub phase: RunPhase,
    pub total: u32,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub apply_enqueued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// What one apply task did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub written: u64,
    pub skipped: u64,
    /// Customers left out because an item of theirs could not be decoded.
    #[serde(default)]
    pub unreadable: u64,
}

/// A customer's output as stored: the job's value and the run that wrote it.
#[derive(Serialize, Deserialize)]
struct StoredOutput<T> {
    run: String,
    #[serde(flatten)]
    value: T,
}

/// One customer read whole from a scan: their profile, and their previous output (with its
/// version) if they have one.
struct Scanned<T> {
    profile: Profile,
    previous: Option<(StoredOutput<T>, u64)>,
}

/// The customer's profile and previous output from their items; `None` (logged) if an item
/// cannot be decoded, or if they have no profile.
fn scanned<T: serde::de::DeserializeOwned>(
    customer: &CustomerId,
    items: Vec<Item>,
    output_sk: &str,
) -> Result<Option<Scanned<T>>, StoreError> {
    let (outputs, parts): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| i.key.sk == output_sk);
    let Some(profile) = customers::assemble(customer, parts)? else { return Ok(None) };
    let previous = match outputs.into_iter().next() {
        Some(item) => {
            let version = item.version;
            Some((decode::<StoredOutput<T>>(item)?, version))
        }
        None => None,
    };
    Ok(Some(Scanned { profile, previous }))
}

pub struct Runner<'a, S, Q, J> {
    pub store: &'a S,
    pub queue: &'a Q,
    pub job: &'a J,
}

/// Time left for this invocation, if it is bounded.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Option<Instant>);

impl Deadline {
    pub const NONE: Deadline = Deadline(None);

    fn near(&self) -> bool {
        self.0.is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN)
    }
}

fn check_run_id(run: &str) -> Result<(), JobError> {
    if run.is_empty() || run.len() > 100 || run.chars().any(|c| c == '#' || c.is_whitespace() || c.is_control()) {
        return Err(JobError::Invalid(format!("run id {run:?} must be 1 to 100 characters without '#' or spaces")));
    }
    Ok(())
}

impl<S: Store, Q: TaskQueue, J: SegmentedJob> Runner<'_, S, Q, J> {
    fn pk(&self, run: &str) -> String {
        keys::job_run_pk(J::NAME, run)
    }

    fn key(&self, run: &str, sk: impl Into<String>) -> Key {
        Key::new(self.pk(run), sk)
    }

    fn expiry(now: DateTime<Utc>) -> i64 {
        now.timestamp() + RUN_ITEM_DAYS * 86_400
    }

    fn tasks(&self, run: &str, phase: Phase, total: u32, segments: impl Iterator<Item = u32>) -> Vec<Task> {
        segments
            .map(|segment| Task {
                job: J::NAME.to_string(),
                run: run.to_string(),
                phase,
                segment,
                total,
                after: None,
                carry: None,
            })
            .collect()
    }

    async fn state(&self, run: &str) -> Result<Option<(RunState, u64)>, JobError> {
        match self.store.get(&self.key(run, keys::JOB_STATE)).await? {
            Some(item) => {
                let version = item.version;
                Ok(Some((decode(item)?, version)))
            }
            None => Ok(None),
        }
    }

    async fn put_state(
        &self,
        run: &str,
        state: &RunState,
        condition: Condition,
        version: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, JobError> {
        let key = self.key(run, keys::JOB_STATE);
        let item = Item::new(key.clone(), version, encode(&key, state)?).expiring(Self::expiry(now));
        match self.store.write(vec![Write::Put { item, condition }]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sort keys under the run with this prefix.
    async fn run_items(&self, run: &str, prefix: &str) -> Result<Vec<Item>, JobError> {
        let mut items = Vec::new();
        let mut query = Query::prefix(prefix);
        loop {
            let page = self.store.query(&self.pk(run), &query).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Starts run `run` over `total` segments, or resumes it: sends the tasks its phase still
    /// needs. Safe to call again for the same run.
    pub async fn start(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<RunState, JobError> {
        check_run_id(run)?;
        if !(1..=MAX_SEGMENTS).contains(&total) {
            return Err(JobError::Invalid(format!("{total} segments (expected 1 to {MAX_SEGMENTS})")));
        }
        let fresh =
            RunState { phase: RunPhase::Gathering, total, started_at: now, apply_enqueued: false, finished_at: None };
        if self.put_state(run, &fresh, Condition::NotExists, 1, now).await? {
            self.queue.enqueue(self.tasks(run, Phase::Gather, total, 0..total)).await?;
            tracing::info!(job = J::NAME, run, total, "run started");
            return Ok(fresh);
        }
        let Some((state, _)) = self.state(run).await? else {
            return Err(JobError::Invalid(format!("run {run} vanished while starting")));
        };
        match state.phase {
            RunPhase::Gathering => {
                let done: Vec<u32> = self.segments_with(run, keys::JOB_GATHERED).await?;
                let missing = (0..state.total).filter(|s| !done.contains(s));
                self.queue.enqueue(self.tasks(run, Phase::Gather, state.total, missing)).await?;
                self.advance(run, state.total, now).await?;
            }
            RunPhase::Applying => {
                let done: Vec<u32> = self.segments_with(run, keys::JOB_APPLIED).await?;
                let missing = (0..state.total).filter(|s| !done.contains(s));
                self.queue.enqueue(self.tasks(run, Phase::Apply, state.total, missing)).await?;
                self.finish(run, state.total, now).await?;
            }
            RunPhase::Done => {}
        }
        tracing::info!(job = J::NAME, run, phase = ?state.phase, "run resumed");
        Ok(self.state(run).await?.map_or(state, |(s, _)| s))
    }

    async fn segments_with(&self, run: &str, prefix: &str) -> Result<Vec<u32>, JobError> {
        Ok(self.run_items(run, prefix).await?.iter().filter_map(|i| i.key.sk[prefix.len()..].parse().ok()).collect())
    }

    /// Does one task. `Ok` means the message can be deleted.
    pub async fn handle(&self, task: Task, now: DateTime<Utc>, deadline: Deadline) -> Result<(), JobError> {
        if task.job != J::NAME {
            return Err(JobError::Invalid(format!("task for job {:?} sent to {:?}", task.job, J::NAME)));
        }
        check_run_id(&task.run)?;
        if task.total == 0 || task.total > MAX_SEGMENTS || task.segment >= task.total {
            return Err(JobError::Invalid(format!("segment {} of {}", task.segment, task.total)));
        }
        match task.phase {
            Phase::Gather => self.gather(task, now, deadline).await,
            Phase::Apply => self.apply(task, now, deadline).await,
        }
    }

    async fn gather(&self, task: Task, now: DateTime<Utc>, deadline: Deadline) -> Result<(), JobError> {
        let done_key = self.key(&task.run, keys::job_segment_sk(keys::JOB_GATHERED, task.segment));
        if self.store.get(&done_key).await?.is_some() {
            return self.advance(&task.run, task.total, now).await;
        }
        let mut stats: J::Stats = match &task.carry {
            Some(carry) => serde_json::from_value(carry.clone())
                .map_err(|e| JobError::Invalid(format!("carried statistics: {e}")))?,
            None => J::Stats::default(),
        };
        let mut scan = SegmentScan::new(self.store, Segment::new(task.segment, task.total)?, task.after_key());
        while let Some(customers) = scan.next(PAGE).await? {
            for (customer, items) in customers {
                match scanned::<J::Output>(&customer, items, J::OUTPUT_SK) {
                    Ok(Some(s)) => self.job.gather(&s.profile, now, &mut stats),
                    Ok(None) => {}
                    Err(e) => tracing::error!(job = J::NAME, error = %e, "customer not readable; left out of this run"),
                }
            }
            // Near the deadline, hand the rest on, from after the last whole customer.
            if let Some(from) = scan.resume_point().filter(|_| deadline.near()) {
                let carry = serde_json::to_value(&stats).map_err(|e| JobError::Invalid(e.to_string()))?;
                let rest = Task { after: Some((from.pk.clone(), from.sk.clone())), carry: Some(carry), ..task };
                self.queue.enqueue(vec![rest]).await?;
                return Ok(());
            }
        }
        let item =
            Item::new(done_key.clone(), 1, encode(&done_key, &json!({ "stats": stats }))?).expiring(Self::expiry(now));
        match self.store.write(vec![Write::Put { item, condition: Condition::NotExists }]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.advance(&task.run, task.total, now).await
    }

    /// When every segment has gathered: fit, publish, and send the apply tasks (once).
    async fn advance(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<(), JobError> {
        let Some((state, version)) = self.state(run).await? else {
            return Err(JobError::Invalid(format!("run {run} has no state")));
        };
        if state.phase == RunPhase::Gathering {
            let gathered = self.run_items(run, keys::JOB_GATHERED).await?;
            if gathered.len() < total as usize {
                return Ok(());
            }
            let mut merged = J::Stats::default();
            for item in gathered {
                #[derive(Deserialize)]
                struct Gathered<T> {
                    stats: T,
                }
                let part: Gathered<J::Stats> = decode(item)?;
                self.job.merge(&mut merged, &part.stats);
            }
            let model = self.job.fit(&merged);
            let model_doc = json!({ "run": run, "fitted_at": now, "model": model });
            let run_model = self.key(run, keys::JOB_MODEL);
            let public = self.job.model_key();
            let applying = RunState { phase: RunPhase::Applying, apply_enqueued: false, ..state.clone() };
            let state_key = self.key(run, keys::JOB_STATE);
            let writes = vec![
                Write::Put {
                    item: Item::new(state_key.clone(), version + 1, encode(&state_key, &applying)?)
                        .expiring(Self::expiry(now)),
                    condition: Condition::VersionIs(version),
                },
                Write::Put {
                    item: Item::new(run_model.clone(), 1, encode(&run_model, &model_doc)?).expiring(Self::expiry(now)),
                    condition: Condition::Always,
                },
                Write::Put {
                    item: Item::new(public.clone(), 1, encode(&public, &model_doc)?),
                    condition: Condition::Always,
                },
            ];
            match self.store.write(writes).await {
                Ok(()) => tracing::info!(job = J::NAME, run, "model fitted and published"),
                Err(StoreError::ConditionFailed { .. }) => {} // another worker advanced the run
                Err(e) => return Err(e.into()),
            }
        }
        let Some((state, version)) = self.state(run).await? else { return Ok(()) };
        if state.phase == RunPhase::Applying && !state.apply_enqueued {
            self.queue.enqueue(self.tasks(run, Phase::Apply, state.total, 0..state.total)).await?;
            let enqueued = RunState { apply_enqueued: true, ..state };
            self.put_state(run, &enqueued, Condition::VersionIs(version), version + 1, now).await?;
        }
        Ok(())
    }

    async fn apply(&self, task: Task, now: DateTime<Utc>, deadline: Deadline) -> Result<(), JobError> {
        let done_key = self.key(&task.run, keys::job_segment_sk(keys::JOB_APPLIED, task.segment));
        if self.store.get(&done_key).await?.is_some() {
            return self.finish(&task.run, task.total, now).await;
        }
        #[derive(Deserialize)]
        struct Stored<M> {
            model: M,
        }
        let Some(model_item) = self.store.get(&self.key(&task.run, keys::JOB_MODEL)).await? else {
            return Err(JobError::Invalid(format!("run {} has no model to apply", task.run)));
        };
        let model: J::Model = decode::<Stored<J::Model>>(model_item)?.model;
        // Counts carried from the invocations before this one; unreadable ones are an error, not a
        // silent reset to zero.
        let mut counts: Applied = match &task.carry {
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|e| JobError::Invalid(format!("carried counts of segment {}: {e}", task.segment)))?,
            None => Applied::default(),
        };
        let mut scan = SegmentScan::new(self.store, Segment::new(task.segment, task.total)?, task.after_key());
        let corrupt_before = scan.corrupt;
        while let Some(customers) = scan.next(PAGE).await? {
            for (customer, items) in customers {
                match scanned::<J::Output>(&customer, items, J::OUTPUT_SK) {
                    Ok(Some(s)) => self.apply_one(&task.run, s, &model, now, &mut counts).await?,
                    Ok(None) => {}
                    Err(e) => {
                        counts.unreadable += 1;
                        tracing::error!(job = J::NAME, error = %e, "customer not readable; left out of this run");
                    }
                }
            }
            if let Some(from) = scan.resume_point().filter(|_| deadline.near()) {
                counts.unreadable += scan.corrupt - corrupt_before;
                let carry = serde_json::to_value(counts).map_err(|e| JobError::Invalid(e.to_string()))?;
                let rest = Task { after: Some((from.pk.clone(), from.sk.clone())), carry: Some(carry), ..task };
                self.queue.enqueue(vec![rest]).await?;
                return Ok(());
            }
        }
        counts.unreadable += scan.corrupt - corrupt_before;
        let item = Item::new(done_key.clone(), 1, encode(&done_key, &counts)?).expiring(Self::expiry(now));
        match self.store.write(vec![Write::Put { item, condition: Condition::NotExists }]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            job = J::NAME,
            run = task.run,
            segment = task.segment,
            written = counts.written,
            skipped = counts.skipped,
            unreadable = counts.unreadable,
            "segment applied"
        );
        self.finish(&task.run, task.total, now).await
    }

    /// Writes one customer's output unless this run already did.
    async fn apply_one(
        &self,
        run: &str,
        customer: Scanned<J::Output>,
        model: &J::Model,
        now: DateTime<Utc>,
        counts: &mut Applied,
    ) -> Result<(), JobError> {
        let key = Key::new(keys::customer_pk(&customer.profile.customer_id), J::OUTPUT_SK);
        let mut previous = customer.previous;
        // At most two rounds: a racing duplicate task can only have written this run's output.
        for _ in 0..2 {
            if previous.as_ref().is_some_and(|(p, _)| p.run == run) {
                counts.skipped += 1;
                return Ok(());
            }
            let Some(output) = self.job.apply(&customer.profile, model, previous.as_ref().map(|(p, _)| &p.value), now)
            else {
                counts.skipped += 1;
                return Ok(());
            };
            let (version, condition) = match &previous {
                Some((_, v)) => (v + 1, Condition::VersionIs(*v)),
                None => (1, Condition::NotExists),
            };
            let stored = StoredOutput { run: run.to_string(), value: output.value };
            let mut writes =
                vec![Write::Put { item: Item::new(key.clone(), version, encode(&key, &stored)?), condition }];
            for due in &output.due {
                writes.push(Write::Put { item: due.item()?, condition: Condition::NotExists });
            }
            match self.store.write(writes).await {
                Ok(()) => {
                    counts.written += 1;
                    return Ok(());
                }
                Err(StoreError::ConditionFailed { failed }) => {
                    if failed.iter().any(|i| *i > 0) && !failed.contains(&0) {
                        // A due send this output creates exists already: only an earlier,
                        // identical write could have made it (its key is unique to its cause), so
                        // the output was written then too. Look again.
                        tracing::warn!(key = %key, "a due send created with this output already exists");
                    }
                    previous = match self.store.get(&key).await? {
                        Some(item) => {
                            let v = item.version;
                            Some((decode::<StoredOutput<J::Output>>(item)?, v))
                        }
                        None => None,
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
        counts.skipped += 1;
        Ok(())
    }

    async fn finish(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<(), JobError> {
        if self.run_items(run, keys::JOB_APPLIED).await?.len() < total as usize {
            return Ok(());
        }
        if let Some((state, version)) = self.state(run).await? {
            if state.phase != RunPhase::Done {
                let done = RunState { phase: RunPhase::Done, finished_at: Some(now), ..state };
                if self.put_state(run, &done, Condition::VersionIs(version), version + 1, now).await? {
                    tracing::info!(job = J::NAME, run, "run done");
                }
            }
        }
        Ok(())
    }
}

/// Runs every task a local queue holds (and those they enqueue) to completion.
pub async fn drain<S: Store, J: SegmentedJob>(
    runner: &Runner<'_, S, super::local::LocalQueue, J>,
    now: DateTime<Utc>,
) -> Result<usize, JobError> {
    let mut handled = 0;
    while let Some(task) = runner.queue.pop() {
        runner.handle(task, now, Deadline::NONE).await?;
        handled += 1;
    }
    Ok(handled)
}
