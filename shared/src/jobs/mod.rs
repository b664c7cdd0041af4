//! Jobs over every customer, split into parallel-scan segments and fanned out through a queue.
//!
//! A nightly job over millions of customers does not fit one Lambda invocation. A run is split
//! into `total` parallel-scan segments of the table, one queue message per segment, one worker
//! invocation per message, in two phases:
//!
//! 1. **gather**: each segment's profiles are summed into statistics (for send-time, the prior's
//!    moments), stored per segment;
//! 2. when every segment has gathered, one worker (the one that wins a conditional write) fits
//!    the model from the merged statistics, publishes it, and fans out the **apply** phase:
//!    each segment's customers get their own output item (for send-time, their model).
//!
//! Everything is idempotent and restartable: a redelivered message finds its segment's result
//! already stored, or each customer's output already written for this run, and does nothing
//! twice; a worker close to its deadline hands the rest of its segment to a continuation
//! message (what it gathered so far stored in the run, the message naming it: messages stay
//! small whatever the statistics). Starting the same run again (the scheduler retrying)
//! resumes it.

pub mod blob;
pub mod local;
pub mod runner;
pub mod sqs;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::due::DueSend;
use crate::profile::Profile;
use crate::store::Key;

/// One unit of work: a phase of a run on one segment, possibly resuming inside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub job: String,
    pub run: String,
    pub phase: Phase,
    pub segment: u32,
    pub total: u32,
    /// Where to resume the segment's scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<(String, String)>,
    /// What the invocations before this one did in this segment, when it resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry: Option<runner::Carry>,
    /// How many invocations handed this segment on before (0: a fresh task).
    #[serde(default)]
    pub hand_over: u32,
}

impl Task {
    pub fn after_key(&self) -> Option<Key> {
        self.after.as_ref().map(|(pk, sk)| Key::new(pk, sk))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Gather,
    /// Fit and fan out, when the last gather had too little time left to.
    Fit,
    Apply,
}

impl Phase {
    /// The phase's name in keys and messages (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Gather => "gather",
            Phase::Fit => "fit",
            Phase::Apply => "apply",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("could not enqueue {failed} of {total} tasks: {reason}")]
    Send { failed: usize, total: usize, reason: String },
}

/// Where tasks go: SQS in production, an in-process queue locally.
pub trait TaskQueue: Send + Sync {
    fn enqueue(&self, tasks: Vec<Task>) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// A job the runner can split over segments.
pub trait SegmentedJob: Send + Sync {
    /// Name in keys and messages, e.g. "sto".
    const NAME: &'static str;
    /// Sort key of each customer's output item, e.g. "STO".
    const OUTPUT_SK: &'static str;
    /// The profile parts the job reads. The others are not decoded (a night decodes every
    /// customer twice per job) and look empty to it: list every part the job's code touches.
    const PARTS: &'static [crate::keys::PartKind] = &crate::keys::PartKind::ALL;
    /// Whether a previous output that cannot be decoded is simply replaced. Only for jobs whose
    /// output does not depend on the previous one (recommendations); the others report such a
    /// customer and leave them alone, never reset (a churn episode must not restart).
    const REPLACES_UNREADABLE_OUTPUT: bool = false;
    /// Whether each customer's output is stored. A job whose only effect is the sends it queues
    /// (scheduled campaigns) keeps none: the sends' once-markers already make a redelivered task
    /// harmless, and a send costs two items instead of three.
    const KEEPS_OUTPUT: bool = true;
    /// Other jobs' outputs read with each customer (their sort keys), e.g. the churn score an
    /// audience filters on. They are handed to the job as one document keyed by sort key
    /// ([`Self::Joined`] reads its fields by those names); one that cannot be read is logged
    /// and the customer is read without them.
    const JOINED: &'static [&'static str] = &[];
    type Stats: Default + Serialize + serde::de::DeserializeOwned + Send + Sync;
    /// What the items at `JOINED` hold, read from `{"<sort key>": <item>, …}` (`()` for none).
    type Joined: serde::de::DeserializeOwned + Send + Sync;
    type Model: Serialize + serde::de::DeserializeOwned + Send + Sync;
    /// What is stored per customer.
    type Output: Serialize + serde::de::DeserializeOwned + Send + Sync;

    /// Adds one customer to a segment's statistics.
    fn gather(&self, profile: &Profile, now: chrono::DateTime<chrono::Utc>, stats: &mut Self::Stats);
    fn merge(&self, into: &mut Self::Stats, other: &Self::Stats);
    /// The model from everyone's statistics.
    fn fit(&self, stats: &Self::Stats) -> Self::Model;
    /// Where the fitted model is published for other functions.
    fn model_key(&self) -> Key;
    /// What is published there: bounded, whatever the data (the whole model, which can be
    /// larger, stays with the run).
    fn public_model(&self, model: &Self::Model) -> serde_json::Value;
    /// One customer's output given their previous one (from an earlier run; the runner decodes
    /// it, and a customer whose previous output cannot be read is reported and left alone, never
    /// reset), `Ok(None)` to leave them alone, or an error saying why their output cannot be
    /// made (counted as failed, and logged).
    fn apply(
        &self,
        profile: &Profile,
        model: &Self::Model,
        previous: Option<&Self::Output>,
        joined: Option<&Self::Joined>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Output<Self::Output>>, String>;
}

/// What a job writes for one customer: their output, other items that must be written with it
/// (a ledger's entries), and due sends created with it in the same transaction (each once per
/// cause: see [`DueSend::writes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Output<T> {
    pub value: T,
    /// Written with the output, all or nothing; a failed condition of one is a conflict (the
    /// output is read again and recomputed).
    pub writes: Vec<crate::store::Write>,
    pub due: Vec<DueSend>,
    /// Whether the job marks this customer (churn: in an at-risk episode), for the run's counts.
    pub flagged: bool,
}

impl<T> Output<T> {
    pub fn of(value: T) -> Self {
        Output { value, writes: Vec::new(), due: Vec::new(), flagged: false }
    }
}

/// One joined output, taken from the document the runner hands a job (see
/// [`SegmentedJob::JOINED`]): `None` when the customer has none.
pub fn joined<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    document: &mut serde_json::Map<String, serde_json::Value>,
    sk: &str,
) -> Result<Option<T>, E> {
    document.remove(sk).map(serde_json::from_value).transpose().map_err(|e| E::custom(format!("{sk}: {e}")))
}
