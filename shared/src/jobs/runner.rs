//! The protocol of a segmented run: start, gather, fit, apply, finish.
//!
//! Items, all under the run's partition `JOB#<job>#<run>` (expiring after 30 days):
//!
//! | sk                     | what                                                        |
//! |------------------------|-------------------------------------------------------------|
//! | `STATE`                | phase, segment count, who holds the fit / fan-out claim     |
//! | `GATHER#<seg>`         | one segment's statistics (chunked when large)               |
//! | `CARRY#<seg>#<n>`      | statistics handed to a segment's n-th continuation          |
//! | `MODEL`                | the model fitted from all of them (chunked when large)      |
//! | `APPLIED#<seg>`        | one segment done: its counts                                |
//! | `LEASE#<phase>#<seg>`  | a segment being worked: until when, how often it was taken  |
//! | `QUEUED#<phase>#<seg>` | a segment's task waiting in the queue, until when it may    |
//!
//! Each customer's output is `C#<id>` / `J::OUTPUT_SK`, carrying the run that wrote it: a
//! redelivered task skips customers this run already wrote, so each is written once per run.
//!
//! Segments are read eventually consistent (half the price): a profile a second stale is fine
//! for a nightly model, and every output write is conditioned on the version read, so a stale
//! previous output fails its condition and is read again, strongly.
//!
//! The fit and the apply fan-out happen once per run: the worker that moves the state on
//! (a conditional write) claims them for a while; everyone else leaves them alone, and only a
//! claim that ran out (its holder died) is taken over. Resuming a run sends tasks only for
//! segments that are neither done, nor leased by a live worker, nor waiting in the queue (for
//! up to 12 hours: the functions' concurrency is capped, so tasks wait their turn).
//!
//! A customer whose items cannot be decoded, or whose output the store refuses, is logged with
//! the key and counted; the segment goes on without them.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Output, Phase, QueueError, SegmentedJob, Task, TaskQueue, blob};
use crate::customers::{self, SegmentScan};
use crate::ids::CustomerId;
use crate::keys;
use crate::profile::Profile;
use crate::store::{
    Condition, Consistency, Item, Key, Query, Segment, Store, StoreError, Wanted, Write, decode, encode,
};

/// Run items are kept this long, for inspection, then expire.
pub const RUN_ITEM_DAYS: i64 = 30;
/// Items read per scan page.
const PAGE: usize = 500;
/// A worker this close to its deadline hands the rest of its segment to a continuation.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
pub const MAX_SEGMENTS: u32 = 1000;
/// How long a fit or fan-out claim, or a segment's lease, holds without its worker: longer
/// than a Lambda invocation can live (15 minutes).
const CLAIM_SECS: i64 = 16 * 60;
/// How long a sent task may wait in the queue for a worker (the functions' concurrency is
/// capped) before a resumed run thinks it lost and sends it again.
const QUEUE_WAIT_SECS: i64 = 12 * 3600;
/// Queue marks a start writes at once.
const MARKS_AT_ONCE: usize = 16;
/// A gather that finishes with less time left than this leaves the fit to a task of its own.
const FIT_TIME: Duration = Duration::from_secs(300);

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
    /// One worker is fitting the model.
    Fitting,
    Applying,
    Done,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub phase: RunPhase,
    pub total: u32,
    pub started_at: DateTime<Utc>,
    /// In `Fitting`, and in `Applying` until the apply tasks are sent: the claim's holder works
    /// until then; after it, anyone may take the work over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub apply_enqueued: bool,
    /// Unique to each write of the state: a writer whose answer was lost, finding its own write
    /// there on a retry, knows it won.
    #[serde(default)]
    pub write_token: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<RunReport>,
}

/// What one segment's apply did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Customers read whole.
    #[serde(default)]
    pub read: u64,
    pub written: u64,
    pub skipped: u64,
    /// Customers left out because an item of theirs could not be decoded.
    #[serde(default)]
    pub unreadable: u64,
    /// Customers whose output the store refused (each logged with its key).
    #[serde(default)]
    pub failed: u64,
    /// Customers the job marked this run (churn: in an at-risk episode).
    #[serde(default)]
    pub flagged: u64,
    /// Due sends queued.
    #[serde(default)]
    pub queued: u64,
}

impl Applied {
    fn add(&mut self, o: &Applied) {
        self.read += o.read;
        self.written += o.written;
        self.skipped += o.skipped;
        self.unreadable += o.unreadable;
        self.failed += o.failed;
        self.flagged += o.flagged;
        self.queued += o.queued;
    }
}

/// A finished run, for metrics: every segment's counts, and how many segments were worked more
/// than once (redelivered or resumed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub segments: u32,
    pub segments_retried: u32,
    pub customers: Applied,
    pub seconds: i64,
}

impl RunReport {
    /// As metric names and values.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        let c = &self.customers;
        vec![
            ("CustomersRead", c.read as f64),
            ("CustomersWritten", c.written as f64),
            ("CustomersSkipped", c.skipped as f64),
            ("CustomersUnreadable", c.unreadable as f64),
            ("CustomersFailed", c.failed as f64),
            ("CustomersFlagged", c.flagged as f64),
            ("SendsQueued", c.queued as f64),
            ("SegmentsRetried", f64::from(self.segments_retried)),
            ("RunSeconds", self.seconds as f64),
        ]
    }
}

/// What a segment's continuation is handed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carry {
    /// Gathered statistics, stored in the run's partition at this sort key (they can be larger
    /// than a message).
    Stats(String),
    /// Apply counts so far (small, so in the message).
    Counts(Applied),
}

/// A segment being worked.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Lease {
    until: Option<DateTime<Utc>>,
    /// Fresh tasks that took the segment (more than one: redelivered or resumed).
    starts: u32,
}

/// A customer's output as stored: the job's value and the run that wrote it. Others who write
/// the same item (loyalty accrual writes the account the loyalty job keeps) keep `run` as read.
#[derive(Serialize, Deserialize)]
pub struct StoredOutput<T> {
    #[serde(default)]
    pub run: String,
    #[serde(flatten)]
    pub value: T,
}

/// One customer read whole from a scan: their profile, and their previous output (with its
/// version) if they have one.
struct Scanned<T, U> {
    profile: Profile,
    /// The other job's output the job joins, if the customer has a readable one.
    joined: Option<U>,
    /// The previous output (none when it cannot be read and the job replaces such outputs) and
    /// its version.
    previous: Option<(Option<StoredOutput<T>>, u64)>,
}

/// A customer as job `J` reads them.
type ScannedFor<J> = Scanned<<J as SegmentedJob>::Output, <J as SegmentedJob>::Joined>;

/// Other jobs' outputs of one customer (their items at the sort keys `sks`), read as one
/// document keyed by sort key, as a job joins them (see [`SegmentedJob::JOINED`]). `None` when
/// the customer has none, or when they cannot be read (logged: the customer is then read
/// without them).
pub fn decode_joined<T: serde::de::DeserializeOwned>(
    customer: &CustomerId,
    sks: &[&str],
    items: Vec<Item>,
) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let document: serde_json::Map<String, serde_json::Value> =
        items.into_iter().map(|item| (item.key.sk.clone(), serde_json::Value::Object((*item.body).clone()))).collect();
    let key = Key::new(keys::customer_pk(customer), sks.join("+"));
    match decode::<T>(Item::new(key, 0, document)) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!(error = %e, "joined items not readable; the customer is read without them");
            None
        }
    }
}

/// The customer's profile and previous output from their items; `None` if they have no profile.
fn scanned<J: SegmentedJob>(customer: &CustomerId, items: Vec<Item>) -> Result<Option<ScannedFor<J>>, StoreError> {
    let (outputs, rest): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| i.key.sk == J::OUTPUT_SK);
    let (joined, parts): (Vec<Item>, Vec<Item>) =
        rest.into_iter().partition(|i| J::JOINED.contains(&i.key.sk.as_str()));
    let Some(profile) = customers::assemble_parts(customer, parts, J::PARTS)? else { return Ok(None) };
    let joined = decode_joined(customer, J::JOINED, joined);
    let replaces_unreadable = J::REPLACES_UNREADABLE_OUTPUT;
    let previous = match outputs.into_iter().next() {
        Some(item) => {
            let version = item.version;
            match decode::<StoredOutput<J::Output>>(item) {
                Ok(p) => Some((Some(p), version)),
                Err(_) if replaces_unreadable => Some((None, version)),
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    Ok(Some(Scanned { profile, joined, previous }))
}

pub struct Runner<'a, S, Q, J> {
    pub store: &'a S,
    pub queue: &'a Q,
    pub job: &'a J,
}

/// When an invocation hands the rest of its segment on: near its deadline, or after a number of
/// scan pages (an operator's bound on the work per invocation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline {
    pub at: Option<Instant>,
    pub max_pages: Option<usize>,
}

impl Deadline {
    pub const NONE: Deadline = Deadline { at: None, max_pages: None };

    /// Time left, if bounded.
    fn left(&self) -> Option<Duration> {
        self.at.map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn near(&self, pages: usize) -> bool {
        self.left().is_some_and(|left| left < DEADLINE_MARGIN) || self.max_pages.is_some_and(|n| pages >= n)
    }
}

/// A number no other write of any worker uses: a per-process random seed (the standard
/// library's hasher keys), a counter, and the clock.
fn unique_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish() | 1
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

    fn claim_end(now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::seconds(CLAIM_SECS)
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
                hand_over: 0,
            })
            .collect()
    }

    /// Sends fresh tasks of `phase` for `segments`, marking each as waiting in the queue (so a
    /// resumed run does not send it again while it waits its turn).
    async fn send(
        &self,
        run: &str,
        phase: Phase,
        total: u32,
        segments: Vec<u32>,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        // Side by side: a start of a thousand segments writes a thousand marks, and one after
        // another they would take seconds of the invocation.
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(segments.iter().map(|&segment| self.mark_queued(run, phase, segment, now)))
            .buffer_unordered(MARKS_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        self.queue.enqueue(self.tasks(run, phase, total, segments.into_iter())).await?;
        Ok(())
    }

    /// Notes that a task of `segment` waits in the queue (a fresh one, or a continuation).
    async fn mark_queued(&self, run: &str, phase: Phase, segment: u32, now: DateTime<Utc>) -> Result<(), JobError> {
        let until = now + chrono::Duration::seconds(QUEUE_WAIT_SECS);
        let key = self.key(run, keys::job_queued_sk(phase.name(), segment));
        let item = Item::new(key.clone(), 1, encode(&key, &json!({ "until": until }))?).expiring(Self::expiry(now));
        self.store.write(vec![Write::Put { item, condition: Condition::Always }]).await?;
        Ok(())
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

    /// Writes the state if it is still at `version` (0: not there); `false` if someone else
    /// moved it first. A failed condition is checked against the stored state: if it is this very
    /// write (its answer was lost and the retry met it), it won.
    async fn put_state(&self, run: &str, state: &RunState, version: u64, now: DateTime<Utc>) -> Result<bool, JobError> {
        let key = self.key(run, keys::JOB_STATE);
        let condition = if version == 0 { Condition::NotExists } else { Condition::VersionIs(version) };
        let state = RunState { write_token: unique_token(), ..state.clone() };
        let item = Item::new(key.clone(), version + 1, encode(&key, &state)?).expiring(Self::expiry(now));
        match self.store.write(vec![Write::Put { item, condition }]).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(self
                .state(run)
                .await?
                .is_some_and(|(stored, v)| v == version + 1 && stored.write_token == state.write_token)),
            Err(e) => Err(e.into()),
        }
    }

    /// Items under the run with this sort-key prefix.
    async fn run_items(&self, run: &str, prefix: &str) -> Result<Vec<Item>, JobError> {
        let mut items = Vec::new();
        let mut query = Query::prefix(prefix);
        loop {
            let page = self.store.query(&self.pk(run), &query).await?;
            if let Some(e) = page.corrupt.into_iter().next() {
                return Err(e.into());
            }
            items.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The run's per-segment items under `prefix` (see [`keys::job_segment_sk`]), by segment.
    async fn by_segment(&self, run: &str, prefix: &str) -> Result<Vec<(u32, Item)>, JobError> {
        let items = self.run_items(run, prefix).await?;
        Ok(items.into_iter().filter_map(|i| Some((i.key.sk[prefix.len()..].parse().ok()?, i))).collect())
    }

    async fn segments_with(&self, run: &str, prefix: &str) -> Result<Vec<u32>, JobError> {
        Ok(self.by_segment(run, prefix).await?.into_iter().map(|(segment, _)| segment).collect())
    }

    async fn leases(&self, run: &str, phase: Phase) -> Result<Vec<(u32, Lease)>, JobError> {
        let mut out = Vec::new();
        for (segment, item) in self.by_segment(run, &keys::job_lease_prefix(phase.name())).await? {
            out.push((segment, decode::<Lease>(item)?));
        }
        Ok(out)
    }

    /// Segments of `phase` that are neither done (`done_prefix`), nor leased by a live worker, nor
    /// waiting in the queue.
    async fn unclaimed(
        &self,
        run: &str,
        phase: Phase,
        total: u32,
        done_prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u32>, JobError> {
        let done = self.segments_with(run, done_prefix).await?;
        let mut live: Vec<u32> = self
            .leases(run, phase)
            .await?
            .into_iter()
            .filter(|(_, l)| l.until.is_some_and(|u| u > now))
            .map(|(s, _)| s)
            .collect();
        #[derive(Deserialize)]
        struct Queued {
            until: DateTime<Utc>,
        }
        for (segment, item) in self.by_segment(run, &keys::job_queued_prefix(phase.name())).await? {
            if decode::<Queued>(item).is_ok_and(|q| q.until > now) {
                live.push(segment);
            }
        }
        Ok((0..total).filter(|s| !done.contains(s) && !live.contains(s)).collect())
    }

    /// Marks a segment as worked until a claim's length from now; a fresh task (not a
    /// continuation) counts as one more start. Best effort: a racing writer wins.
    async fn lease(&self, task: &Task, now: DateTime<Utc>) -> Result<(), JobError> {
        let key = self.key(&task.run, keys::job_lease_sk(task.phase.name(), task.segment));
        let (mut lease, version) = match self.store.get(&key).await? {
            Some(item) => {
                let v = item.version;
                (decode::<Lease>(item).unwrap_or_default(), v)
            }
            None => (Lease::default(), 0),
        };
        lease.until = Some(Self::claim_end(now));
        if task.hand_over == 0 {
            lease.starts += 1;
        }
        let condition = if version == 0 { Condition::NotExists } else { Condition::VersionIs(version) };
        let item = Item::new(key.clone(), version + 1, encode(&key, &lease)?).expiring(Self::expiry(now));
        match self.store.write(vec![Write::Put { item, condition }]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts run `run` over `total` segments, or resumes it: sends the tasks its phase still
    /// needs and nobody is working on. Safe to call again for the same run.
    pub async fn start(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<RunState, JobError> {
        check_run_id(run)?;
        if !(1..=MAX_SEGMENTS).contains(&total) {
            return Err(JobError::Invalid(format!("{total} segments (expected 1 to {MAX_SEGMENTS})")));
        }
        let fresh = RunState {
            phase: RunPhase::Gathering,
            total,
            started_at: now,
            claimed_until: None,
            apply_enqueued: false,
            write_token: 0,
            finished_at: None,
            report: None,
        };
        if self.put_state(run, &fresh, 0, now).await? {
            self.send(run, Phase::Gather, total, (0..total).collect(), now).await?;
            tracing::info!(job = J::NAME, run, total, "run started");
            return Ok(fresh);
        }
        let Some((state, _)) = self.state(run).await? else {
            return Err(JobError::Invalid(format!("run {run} vanished while starting")));
        };
        match state.phase {
            RunPhase::Gathering => {
                let missing = self.unclaimed(run, Phase::Gather, state.total, keys::JOB_GATHERED, now).await?;
                self.send(run, Phase::Gather, state.total, missing, now).await?;
                self.advance(run, state.total, now).await?;
            }
            RunPhase::Fitting => self.advance(run, state.total, now).await?,
            RunPhase::Applying => {
                if state.apply_enqueued {
                    let missing = self.unclaimed(run, Phase::Apply, state.total, keys::JOB_APPLIED, now).await?;
                    self.send(run, Phase::Apply, state.total, missing, now).await?;
                } else {
                    self.advance(run, state.total, now).await?;
                }
                self.finish(run, state.total, now).await?;
            }
            RunPhase::Done => {}
        }
        tracing::info!(job = J::NAME, run, phase = ?state.phase, "run resumed");
        Ok(self.state(run).await?.map_or(state, |(s, _)| s))
    }

    /// Starts run `run` of a job that gathers nothing, with the model its caller made (for
    /// scheduled campaigns: the campaigns the run sends and the send-time priors), or resumes it.
    /// A run keeps the model it started with: starting it again does not replace it.
    pub async fn start_with_model(
        &self,
        run: &str,
        total: u32,
        model: &J::Model,
        now: DateTime<Utc>,
    ) -> Result<RunState, JobError> {
        check_run_id(run)?;
        if !(1..=MAX_SEGMENTS).contains(&total) {
            return Err(JobError::Invalid(format!("{total} segments (expected 1 to {MAX_SEGMENTS})")));
        }
        // The model first: a state that says "applying" always finds it. Only the first is
        // kept (two starts racing: the second's is dropped, and segments read one model).
        let model_key = self.key(run, keys::JOB_MODEL);
        blob::put(self.store, &model_key, model, Condition::NotExists, Self::expiry(now)).await?;
        let fresh = RunState {
            phase: RunPhase::Applying,
            total,
            started_at: now,
            claimed_until: Some(Self::claim_end(now)),
            apply_enqueued: false,
            write_token: 0,
            finished_at: None,
            report: None,
        };
        if self.put_state(run, &fresh, 0, now).await? {
            tracing::info!(job = J::NAME, run, total, "run started");
            self.fan_out_apply(run, fresh.clone(), 1, now).await?;
            return Ok(self.state(run).await?.map_or(fresh, |(s, _)| s));
        }
        self.start(run, total, now).await
    }

    /// The state of run `run`, if it was started.
    pub async fn run_state(&self, run: &str) -> Result<Option<RunState>, JobError> {
        check_run_id(run)?;
        Ok(self.state(run).await?.map(|(s, _)| s))
    }

    /// Does one task. `Ok` means the message can be deleted; `Ok(Some(report))` that this task
    /// finished the run.
    pub async fn handle(
        &self,
        task: Task,
        now: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Option<RunReport>, JobError> {
        if task.job != J::NAME {
            return Err(JobError::Invalid(format!("task for job {:?} sent to {:?}", task.job, J::NAME)));
        }
        check_run_id(&task.run)?;
        if task.total == 0 || task.total > MAX_SEGMENTS || task.segment >= task.total {
            return Err(JobError::Invalid(format!("segment {} of {}", task.segment, task.total)));
        }
        match task.phase {
            Phase::Gather => self.gather(task, now, deadline).await.map(|()| None),
            Phase::Fit => self.advance(&task.run, task.total, now).await.map(|()| None),
            Phase::Apply => self.apply(task, now, deadline).await,
        }
    }

    async fn gather(&self, task: Task, now: DateTime<Utc>, deadline: Deadline) -> Result<(), JobError> {
        let done_key = self.key(&task.run, keys::job_segment_sk(keys::JOB_GATHERED, task.segment));
        if self.store.get(&done_key).await?.is_some() {
            return self.advance(&task.run, task.total, now).await;
        }
        self.lease(&task, now).await?;
        let mut stats: J::Stats = match &task.carry {
            None => J::Stats::default(),
            Some(Carry::Stats(sk)) => blob::get(self.store, &self.key(&task.run, sk.as_str()))
                .await?
                .ok_or_else(|| JobError::Invalid(format!("the statistics carried at {sk} are missing")))?,
            Some(Carry::Counts(_)) => return Err(JobError::Invalid("a gather task carries apply counts".into())),
        };
        let mut scan = SegmentScan::new(
            self.store,
            Segment::new(task.segment, task.total)?,
            task.after_key(),
            Consistency::Eventual,
            customers::PROFILE_ITEMS,
        );
        let mut pages = 0;
        while let Some(customers) = scan.next(PAGE).await? {
            pages += 1;
            for (customer, items) in customers {
                match scanned::<J>(&customer, items) {
                    Ok(Some(s)) => self.job.gather(&s.profile, now, &mut stats),
                    Ok(None) => {}
                    Err(e) => tracing::error!(job = J::NAME, error = %e, "customer not readable; left out of this run"),
                }
            }
            // Near the deadline, hand the rest on, from after the last whole customer.
            if let Some(from) = scan.resume_point().filter(|_| deadline.near(pages)) {
                let hand_over = task.hand_over + 1;
                let sk = keys::job_carry_sk(task.segment, from);
                blob::put(self.store, &self.key(&task.run, sk.as_str()), &stats, Condition::Always, Self::expiry(now))
                    .await?;
                let after = Some((from.pk.clone(), from.sk.clone()));
                let rest = Task { after, carry: Some(Carry::Stats(sk)), hand_over, ..task };
                self.mark_queued(&rest.run, rest.phase, rest.segment, now).await?;
                self.queue.enqueue(vec![rest]).await?;
                return Ok(());
            }
        }
        blob::put(self.store, &done_key, &stats, Condition::NotExists, Self::expiry(now)).await?;
        if deadline.left().is_some_and(|left| left < FIT_TIME) {
            // Too little time left to fit and fan out here: a task of its own does it.
            let fit = Task { phase: Phase::Fit, after: None, carry: None, hand_over: 0, ..task };
            self.queue.enqueue(vec![fit]).await?;
            return Ok(());
        }
        self.advance(&task.run, task.total, now).await
    }

    /// Moves the run on once every segment has gathered: claims the fit (one worker), fits,
    /// publishes, and sends the apply tasks. A claim that ran out is taken over.
    async fn advance(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<(), JobError> {
        // A lost race re-reads the state; three rounds are plenty (each is someone's progress).
        for _ in 0..3 {
            let Some((state, version)) = self.state(run).await? else {
                return Err(JobError::Invalid(format!("run {run} has no state")));
            };
            let claim_lapsed = state.claimed_until.is_none_or(|until| until <= now);
            let claimed = RunState { claimed_until: Some(Self::claim_end(now)), ..state.clone() };
            match state.phase {
                RunPhase::Gathering | RunPhase::Fitting => {
                    if state.phase == RunPhase::Fitting && !claim_lapsed {
                        return Ok(()); // someone is fitting
                    }
                    if self.segments_with(run, keys::JOB_GATHERED).await?.len() < total as usize {
                        return Ok(());
                    }
                    let fitting = RunState { phase: RunPhase::Fitting, ..claimed };
                    if self.put_state(run, &fitting, version, now).await? {
                        return self.fit(run, fitting, version + 1, now).await;
                    }
                }
                RunPhase::Applying if !state.apply_enqueued && claim_lapsed => {
                    if self.put_state(run, &claimed, version, now).await? {
                        return self.fan_out_apply(run, claimed, version + 1, now).await;
                    }
                }
                RunPhase::Applying | RunPhase::Done => return Ok(()),
            }
        }
        Ok(())
    }

    /// The claimed fit: merge, fit, publish, then fan out.
    async fn fit(&self, run: &str, state: RunState, version: u64, now: DateTime<Utc>) -> Result<(), JobError> {
        let mut merged = J::Stats::default();
        for item in self.run_items(run, keys::JOB_GATHERED).await? {
            let part: J::Stats = blob::read(self.store, item).await?;
            self.job.merge(&mut merged, &part);
        }
        let model = self.job.fit(&merged);
        let expiry = Self::expiry(now);
        blob::put(self.store, &self.key(run, keys::JOB_MODEL), &model, Condition::Always, expiry).await?;
        // What other functions read: bounded by the job, in one item.
        let public = self.job.model_key();
        let doc = json!({ "run": run, "fitted_at": now, "model": self.job.public_model(&model) });
        let serde_json::Value::Object(doc) = doc else { unreachable!("a JSON object literal") };
        match self.store.write(vec![Write::Put { item: Item::new(public, 1, doc), condition: Condition::Always }]).await
        {
            Ok(()) => tracing::info!(job = J::NAME, run, "model fitted and published"),
            // The run applies its own copy; readers keep the previous public model.
            Err(StoreError::Invalid(reason)) => {
                tracing::error!(job = J::NAME, run, reason = %crate::redact::scrub(&reason), "model fitted, but the table refused its public copy");
            }
            Err(e) => return Err(e.into()),
        }
        let applying = RunState { phase: RunPhase::Applying, claimed_until: Some(Self::claim_end(now)), ..state };
        if self.put_state(run, &applying, version, now).await? {
            self.fan_out_apply(run, applying, version + 1, now).await?;
        }
        Ok(())
    }

    /// The claimed fan-out: apply tasks for every segment not done or leased, then the state
    /// says they went out.
    async fn fan_out_apply(
        &self,
        run: &str,
        state: RunState,
        version: u64,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let missing = self.unclaimed(run, Phase::Apply, state.total, keys::JOB_APPLIED, now).await?;
        self.send(run, Phase::Apply, state.total, missing, now).await?;
        let sent = RunState { apply_enqueued: true, claimed_until: None, ..state };
        self.put_state(run, &sent, version, now).await?;
        Ok(())
    }

    async fn apply(&self, task: Task, now: DateTime<Utc>, deadline: Deadline) -> Result<Option<RunReport>, JobError> {
        let done_key = self.key(&task.run, keys::job_segment_sk(keys::JOB_APPLIED, task.segment));
        if self.store.get(&done_key).await?.is_some() {
            return self.finish(&task.run, task.total, now).await;
        }
        self.lease(&task, now).await?;
        let model: J::Model = blob::get(self.store, &self.key(&task.run, keys::JOB_MODEL))
            .await?
            .ok_or_else(|| JobError::Invalid(format!("run {} has no model to apply", task.run)))?;
        // Counts carried from the invocations before this one.
        let mut counts = match &task.carry {
            None => Applied::default(),
            Some(Carry::Counts(c)) => *c,
            Some(Carry::Stats(_)) => return Err(JobError::Invalid("an apply task carries gathered statistics".into())),
        };
        // The profile, the previous output and the outputs joined: a partition's decision
        // traces, ledger entries and markers are read (and billed) but never copied.
        let outputs: Vec<&str> = std::iter::once(J::OUTPUT_SK).chain(J::JOINED.iter().copied()).collect();
        let wanted = Wanted::SortKeys { prefixes: &[keys::PROFILE_PREFIX], exact: &outputs };
        let mut scan = SegmentScan::new(
            self.store,
            Segment::new(task.segment, task.total)?,
            task.after_key(),
            Consistency::Eventual,
            wanted,
        );
        let corrupt_before = scan.corrupt;
        let mut pages = 0;
        while let Some(customers) = scan.next(PAGE).await? {
            pages += 1;
            for (customer, items) in customers {
                match scanned::<J>(&customer, items) {
                    Ok(Some(s)) => {
                        counts.read += 1;
                        self.apply_one(&task.run, s, &model, now, &mut counts).await?;
                    }
                    // No profile: an output alone (a continuation starts after the last customer's
                    // profile, before the output this run just wrote), a marker, or nothing.
                    Ok(None) => {}
                    Err(e) => {
                        counts.read += 1;
                        counts.unreadable += 1;
                        tracing::error!(job = J::NAME, error = %e, "customer not readable; left out of this run");
                    }
                }
            }
            if let Some(from) = scan.resume_point().filter(|_| deadline.near(pages)) {
                counts.unreadable += scan.corrupt - corrupt_before;
                let after = Some((from.pk.clone(), from.sk.clone()));
                let hand_over = task.hand_over + 1;
                let rest = Task { after, carry: Some(Carry::Counts(counts)), hand_over, ..task };
                self.mark_queued(&rest.run, rest.phase, rest.segment, now).await?;
                self.queue.enqueue(vec![rest]).await?;
                return Ok(None);
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
            read = counts.read,
            written = counts.written,
            skipped = counts.skipped,
            unreadable = counts.unreadable,
            failed = counts.failed,
            "segment applied"
        );
        self.finish(&task.run, task.total, now).await
    }

    /// Writes one customer's output (and the sends it queues) unless this run already did.
    async fn apply_one(
        &self,
        run: &str,
        customer: ScannedFor<J>,
        model: &J::Model,
        now: DateTime<Utc>,
        counts: &mut Applied,
    ) -> Result<(), JobError> {
        let key = Key::new(keys::customer_pk(&customer.profile.customer_id), J::OUTPUT_SK);
        if !J::KEEPS_OUTPUT {
            return self.queue_only(&key, &customer, model, now, counts).await;
        }
        let mut previous = customer.previous;
        // Sends found queued already (by an earlier night, say): the output is written without them.
        let mut sends_queued_before = false;
        // At most three rounds: a racing duplicate task can only have written this run's output,
        // and a send already queued is dropped once.
        for _ in 0..3 {
            if previous.as_ref().and_then(|(p, _)| p.as_ref()).is_some_and(|p| p.run == run) {
                counts.skipped += 1;
                return Ok(());
            }
            let Output { value, writes: also, due, flagged } = match self.job.apply(
                &customer.profile,
                model,
                previous.as_ref().and_then(|(p, _)| p.as_ref()).map(|p| &p.value),
                customer.joined.as_ref(),
                now,
            ) {
                Ok(Some(output)) => output,
                Ok(None) => {
                    counts.skipped += 1;
                    return Ok(());
                }
                Err(reason) => {
                    counts.failed += 1;
                    tracing::error!(job = J::NAME, key = %key, reason, "no output for this customer");
                    return Ok(());
                }
            };
            let due = if sends_queued_before { Vec::new() } else { due };
            let (version, condition) = match &previous {
                Some((_, v)) => (v + 1, Condition::VersionIs(*v)),
                None => (1, Condition::NotExists),
            };
            let stored = StoredOutput { run: run.to_string(), value };
            let mut writes =
                vec![Write::Put { item: Item::new(key.clone(), version, encode(&key, &stored)?), condition }];
            // Written with the output, all or nothing (a ledger's entries with its balances).
            let with_output = also.len();
            writes.extend(also);
            for send in &due {
                writes.extend(send.writes()?);
            }
            match self.store.write(writes).await {
                Ok(()) => {
                    counts.written += 1;
                    counts.flagged += u64::from(flagged);
                    counts.queued += due.len() as u64;
                    return Ok(());
                }
                Err(StoreError::ConditionFailed { failed })
                    if !failed.is_empty() && failed.iter().all(|&i| i > with_output) =>
                {
                    // Only a send's conditions failed: it was queued before (its marker names its
                    // cause). Write the output without it.
                    tracing::warn!(key = %key, "a send this output queues was queued before; not again");
                    sends_queued_before = true;
                }
                Err(StoreError::ConditionFailed { .. }) => {
                    previous = match self.store.get(&key).await? {
                        Some(item) => {
                            let v = item.version;
                            match decode::<StoredOutput<J::Output>>(item) {
                                Ok(p) => Some((Some(p), v)),
                                Err(_) if J::REPLACES_UNREADABLE_OUTPUT => Some((None, v)),
                                Err(e) => {
                                    counts.unreadable += 1;
                                    tracing::error!(job = J::NAME, error = %e, "previous output not readable");
                                    return Ok(());
                                }
                            }
                        }
                        None => None,
                    };
                }
                Err(StoreError::Invalid(reason)) => {
                    // This customer's output cannot be stored: theirs alone to fix.
                    counts.failed += 1;
                    tracing::error!(job = J::NAME, key = %key, reason = %crate::redact::scrub(&reason), "output refused by the store; customer skipped");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        counts.skipped += 1;
        Ok(())
    }

    /// One customer's sends, for a job that keeps no output: each queued once (its marker), so
    /// a send found queued before (a redelivered task) is counted as skipped.
    async fn queue_only(
        &self,
        key: &Key,
        customer: &ScannedFor<J>,
        model: &J::Model,
        now: DateTime<Utc>,
        counts: &mut Applied,
    ) -> Result<(), JobError> {
        let due = match self.job.apply(&customer.profile, model, None, customer.joined.as_ref(), now) {
            Ok(Some(output)) => output.due,
            Ok(None) => Vec::new(),
            Err(reason) => {
                counts.failed += 1;
                tracing::error!(job = J::NAME, key = %key, reason, "no sends for this customer");
                return Ok(());
            }
        };
        if due.is_empty() {
            counts.skipped += 1;
            return Ok(());
        }
        let mut queued = 0;
        for send in &due {
            match self.store.write(send.writes()?.into()).await {
                Ok(()) => queued += 1,
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(StoreError::Invalid(reason)) => {
                    counts.failed += 1;
                    tracing::error!(job = J::NAME, key = %key, reason = %crate::redact::scrub(&reason), "send refused by the store");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if queued > 0 {
            counts.written += 1;
            counts.queued += queued;
        } else {
            counts.skipped += 1;
        }
        Ok(())
    }

    /// Once every segment is applied: the run is done, with its report (returned to the one
    /// worker that moved it to done).
    async fn finish(&self, run: &str, total: u32, now: DateTime<Utc>) -> Result<Option<RunReport>, JobError> {
        let applied = self.run_items(run, keys::JOB_APPLIED).await?;
        if applied.len() < total as usize {
            return Ok(None);
        }
        let Some((state, version)) = self.state(run).await? else { return Ok(None) };
        if state.phase != RunPhase::Applying {
            return Ok(None);
        }
        let mut report = RunReport { segments: total, ..RunReport::default() };
        for item in applied {
            report.customers.add(&decode::<Applied>(item)?);
        }
        for phase in [Phase::Gather, Phase::Apply] {
            report.segments_retried +=
                self.leases(run, phase).await?.iter().filter(|(_, l)| l.starts > 1).count() as u32;
        }
        report.seconds = (now - state.started_at).num_seconds().max(0);
        let done = RunState { phase: RunPhase::Done, finished_at: Some(now), report: Some(report), ..state };
        if self.put_state(run, &done, version, now).await? {
            tracing::info!(job = J::NAME, run, ?report, "run done");
            return Ok(Some(report));
        }
        Ok(None)
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;

/// What a job last published at its [`SegmentedJob::model_key`]: the run whose model it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub run: String,
    pub fitted_at: DateTime<Utc>,
}

/// The run whose model `job` last published, if any (one small read).
pub async fn published<S: Store, J: SegmentedJob>(store: &S, job: &J) -> Result<Option<Published>, StoreError> {
    store.get(&job.model_key()).await?.map(crate::store::decode).transpose()
}

/// The model `run` of job `J` fitted, while the run's items last ([`RUN_ITEM_DAYS`]).
pub async fn run_model<S: Store, J: SegmentedJob>(store: &S, run: &str) -> Result<Option<J::Model>, StoreError> {
    blob::get(store, &Key::new(keys::job_run_pk(J::NAME, run), keys::JOB_MODEL)).await
}

/// Runs every task a local queue holds (and those they enqueue) to completion; the run's report
/// if one finished.
pub async fn drain<S: Store, J: SegmentedJob>(
    runner: &Runner<'_, S, super::local::LocalQueue, J>,
    now: DateTime<Utc>,
) -> Result<(usize, Option<RunReport>), JobError> {
    let mut handled = 0;
    let mut report = None;
    while let Some(task) = runner.queue.pop() {
        if let Some(r) = runner.handle(task, now, Deadline::NONE).await? {
            report = Some(r);
        }
        handled += 1;
    }
    Ok((handled, report))
}

/// [`drain`] with `workers` threads (each on its own single-threaded runtime), for local runs
/// over large tables: segments are independent, so they are worked side by side.
pub fn drain_parallel<S: Store, J: SegmentedJob>(
    runner: &Runner<'_, S, super::local::LocalQueue, J>,
    now: DateTime<Utc>,
    workers: usize,
) -> Result<(usize, Option<RunReport>), JobError> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    // Counted before a pop, so an idle worker never mistakes another's last task for the end.
    let busy = AtomicUsize::new(0);
    let handled = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let outcome: Mutex<(Option<RunReport>, Option<JobError>)> = Mutex::new((None, None));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    stop.store(true, Ordering::SeqCst);
                    return;
                };
                while !stop.load(Ordering::SeqCst) {
                    busy.fetch_add(1, Ordering::SeqCst);
                    let Some(task) = runner.queue.pop() else {
                        if busy.fetch_sub(1, Ordering::SeqCst) == 1 && runner.queue.is_empty() {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        continue;
                    };
                    let result = rt.block_on(runner.handle(task, now, Deadline::NONE));
                    handled.fetch_add(1, Ordering::SeqCst);
                    let mut out = outcome.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok(Some(report)) => out.0 = Some(report),
                        Ok(None) => {}
                        Err(e) => {
                            out.1 = Some(e);
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    drop(out);
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    let (report, error) = outcome.into_inner().unwrap_or_else(|p| p.into_inner());
    match error {
        Some(e) => Err(e),
        None => Ok((handled.into_inner(), report)),
    }
}
