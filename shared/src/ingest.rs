//! Ingesting a batch of shop events into profiles, exactly once per event.
//!
//! A batch (an SQS delivery, or lines of a file) is parsed record by record. Valid events are
//! grouped by customer and by the part of the profile they change ([`crate::profile::home`]):
//! product views and cart changes, sessions and message engagement, orders and refunds, contact
//! details and consents each live in a small item of their own. The parts a batch touches are
//! read in one request (eventually consistent, at half the price), and each part is written back
//! with **one conditional write** that names the version it read and carries the ids of the
//! events it applied ([`crate::dedupe`]): a redelivered event is recognised by the part it would
//! change, a racing writer's update is never lost (the loser reads again and folds again), and
//! nothing is written twice. DynamoDB bills a write by the kilobytes of the item it rewrites, so
//! keeping the items small and writing each once is what keeps ingest cheap.
//!
//! What happens to each record:
//! - applied, or recognised as a duplicate: acknowledged;
//! - not a valid event, or an event whose effect a profile cannot hold (refused with the field
//!   to blame, while the customer's other events apply): acknowledged and **parked**
//!   ([`rejected`]), since retrying would fail the same way;
//! - a failure that may pass (throttling, an unavailable store, a customer so busy that the
//!   retry budget ran out, or a stored part that cannot be read): handed back to the queue, to be
//!   retried and, after the queue's receive limit, dead-lettered.

pub mod rejected;
pub mod source;
mod unit;

use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};

use crate::campaign::stats;
use crate::catalogue;
use crate::clock::Clock;
use crate::event::{EventError, Inbound, ProductEvent, ShopEvent, parse_inbound};
use crate::ids::{CustomerId, EventId};
use crate::keys::{self, PartKind};
use crate::loyalty;
use crate::profile::{Browse, ContactPart, Engagement, OrderBook, also_touches, home};
use crate::redact::scrub;
use crate::store::{Consistency, Fetched, Store, StoreError};
use crate::validate::FieldError;
use rejected::RejectedRecord;
use unit::{Applied, Retry, Unit, UnitResult};

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Attempts per part when it keeps changing underneath (a busy customer) or the store is
    /// busy...
    pub max_attempts: u32,
    /// ...and the time they may take, at most (less if the invocation ends sooner).
    pub retry_budget: Duration,
    /// Parts written concurrently within one batch.
    pub concurrency: usize,
    /// The loyalty program in force, read from the table when a batch holds an order, a refund
    /// or an action (none deployed: nothing accrues).
    pub loyalty: std::sync::Arc<loyalty::Accruer>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_attempts: 200,
            retry_budget: Duration::from_secs(20),
            concurrency: 8,
            loyalty: Default::default(),
        }
    }
}

/// One inbound record: the transport's id for it (the SQS message id) and its body.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub id: &'a str,
    pub body: &'a str,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Malformed(#[from] EventError),
    #[error("{kind} event {event_id} refused: {error}")]
    Refused { kind: &'static str, event_id: EventId, error: FieldError },
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("gave up after {attempts} attempts; last: {last}")]
    Exhausted { attempts: u32, last: String },
    #[error("internal error while applying events (a bug, reported to be fixed): {0}")]
    Panicked(String),
}

impl IngestError {
    /// Whether the same record can succeed later. The others are parked, not retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::Malformed(_) | IngestError::Refused { .. } | IngestError::Panicked(_) => false,
            // A corrupt stored part may be repaired: the record waits in the queue (and then the
            // dead-letter queue, whence it can be redriven).
            IngestError::Store(e) => e.is_retryable() || matches!(e, StoreError::Corrupt { .. }),
            IngestError::Exhausted { .. } => true,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            IngestError::Malformed(e) => e.errors().to_vec(),
            IngestError::Refused { error, .. } => vec![error.clone()],
            _ => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct RecordFailure {
    pub record_id: String,
    pub error: IngestError,
}

#[derive(Debug, Default)]
pub struct BatchReport {
    /// Records to hand back to the queue (SQS partial batch failure).
    pub failures: Vec<RecordFailure>,
    /// Records that can never apply, acknowledged and parked ([`rejected`]).
    pub rejected: Vec<RecordFailure>,
    /// Events folded into profiles by this batch.
    pub applied: usize,
    /// Events seen before (in an earlier batch or earlier in this one): nothing changed.
    pub duplicates: usize,
    /// Customers whose profiles changed.
    pub customers: usize,
}

/// The bandit's reward an event carries: a click on a message of a campaign's variant, or an
/// order attributed to one (the same reward: a message counts once, clicked, bought from, or both).
fn click(e: &ShopEvent) -> Option<stats::Counted<'_>> {
    let (campaign, variant, message) = match &e.payload {
        crate::event::Payload::MessageEngaged(m) if m.action == crate::event::Engagement::Clicked => {
            (m.campaign_id.as_ref()?, m.variant.as_ref()?, &m.message_id)
        }
        crate::event::Payload::OrderPlaced(o) => {
            let a = o.attribution.as_ref()?;
            (&a.campaign_id, &a.variant, &a.message_id)
        }
        _ => return None,
    };
    Some(stats::Counted { campaign, variant, message, outcome: stats::Outcome::Rewarded })
}

/// Ingests one batch. Never fails as a whole: every problem is a record's.
pub async fn ingest_batch<S: Store, C: Clock>(
    store: &S,
    clock: &C,
    config: &IngestConfig,
    records: &[Record<'_>],
) -> BatchReport {
    ingest_batch_until(store, clock, config, records, None).await
}

/// [`ingest_batch`] that stops retrying busy customers in time to answer before `deadline`.
pub async fn ingest_batch_until<S: Store, C: Clock>(
    store: &S,
    clock: &C,
    config: &IngestConfig,
    records: &[Record<'_>],
    deadline: Option<Instant>,
) -> BatchReport {
    let now = clock.now();
    let mut report = BatchReport::default();
    let mut events: Vec<Option<ShopEvent>> = Vec::with_capacity(records.len());
    let mut rejections: Vec<(usize, IngestError)> = Vec::new();
    let mut seen: HashSet<(CustomerId, EventId)> = HashSet::new();
    // Catalogue events: not about a customer, applied to the product's item.
    let mut products: Vec<(usize, ProductEvent)> = Vec::new();
    let mut seen_products: HashSet<(crate::ids::ProductId, EventId, chrono::DateTime<chrono::FixedOffset>)> =
        HashSet::new();

    for (index, record) in records.iter().enumerate() {
        let parsed = catch_unwind(|| parse_inbound(record.body, now).map_err(IngestError::from))
            .unwrap_or_else(|_| Err(IngestError::Panicked("parsing this record".into())));
        let parsed = match parsed {
            Ok(Inbound::Customer(event)) => Ok(event),
            Ok(Inbound::Product(event)) => {
                if seen_products.insert((event.data.product_id.clone(), event.id.clone(), event.occurred_at)) {
                    products.push((index, event));
                } else {
                    report.duplicates += 1;
                }
                events.push(None);
                continue;
            }
            Err(e) => Err(e),
        };
        match parsed {
            Ok(event) if !seen.insert((event.customer_id.clone(), event.id.clone())) => {
                report.duplicates += 1; // the same event twice in one batch
                events.push(None);
            }
            Ok(event) => events.push(Some(event)),
            Err(error) => {
                rejections.push((index, error));
                events.push(None);
            }
        }
    }

    // One unit of work per customer and part.
    let mut units: BTreeMap<(&CustomerId, PartKind), Unit<'_>> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        let Some(e) = event else { continue };
        let part = home(&e.payload);
        units
            .entry((&e.customer_id, part))
            .or_insert_with(|| Unit { customer: &e.customer_id, home: Vec::new(), touch: Vec::new() })
            .home
            .push((i, e));
        if let Some(other) = also_touches(&e.payload) {
            units
                .entry((&e.customer_id, other))
                .or_insert_with(|| Unit { customer: &e.customer_id, home: Vec::new(), touch: Vec::new() })
                .touch
                .push((i, e));
        }
    }
    for unit in units.values_mut() {
        // A stable order makes the fold deterministic whatever order the batch came in.
        unit.home.sort_by(|a, b| (a.1.occurred_at, &a.1.id).cmp(&(b.1.occurred_at, &b.1.id)));
    }

    // Every part the batch touches, in one read.
    let part_keys: Vec<_> = units.keys().map(|(c, kind)| keys::part(c, *kind)).collect();
    let initial: Vec<Fetched> = match store.get_many(&part_keys, Consistency::Eventual).await {
        Ok(items) => items,
        Err(e) => part_keys.iter().map(|_| Err(e.clone())).collect(),
    };

    let retry = Retry { config, started: Instant::now(), deadline };
    let retry = &retry;
    // The futures are built first, in a plain loop: a closure over borrowed items would make the
    // stream's future lifetime-generic, which the compiler cannot prove `Send`.
    let mut work = Vec::with_capacity(units.len());
    for (((_, kind), unit), first) in units.iter().zip(initial) {
        let kind = *kind;
        work.push(async move {
            let result = match kind {
                PartKind::Browse => unit::run::<S, Browse>(store, unit, first, now, retry).await,
                PartKind::Engagement => unit::run::<S, Engagement>(store, unit, first, now, retry).await,
                PartKind::Orders => unit::run::<S, OrderBook>(store, unit, first, now, retry).await,
                PartKind::Contact => unit::run::<S, ContactPart>(store, unit, first, now, retry).await,
            };
            (kind, unit, result)
        });
    }
    let results: Vec<(PartKind, &Unit<'_>, UnitResult)> =
        futures::stream::iter(work).buffer_unordered(config.concurrency.max(1)).collect().await;

    // Per record: its home's outcome, unless a unit it needed failed.
    let mut outcome: Vec<Option<Result<Applied, IngestError>>> = vec![None; events.len()];
    let mut changed: HashSet<&CustomerId> = HashSet::new();
    for (kind, unit, result) in results {
        for (i, a) in result.outcomes {
            if a == Applied::Applied {
                changed.insert(unit.customer);
            }
            outcome[i].get_or_insert(Ok(a));
        }
        if let Some((error, undone)) = result.failed {
            for i in undone {
                tracing::error!(record_id = records[i].id, event_id = events[i].as_ref().map(|e| e.id.as_str()), part = ?kind, error = %scrub(&error.to_string()), "event not applied");
                outcome[i] = Some(Err(error.clone()));
            }
        }
    }
    // Clicks on (and orders from) a campaign's variant, applied now or before (a redelivery
    // whose count was lost): counted for the variant's bandit, once per message.
    let mut clicks = Vec::new();
    // Orders, refunds and actions, applied now or before (a redelivery whose accrual was lost):
    // each is accrued once by the ledger's own keys.
    let mut accruals = Vec::new();
    for (i, o) in outcome.into_iter().enumerate() {
        let Some(e) = &events[i] else { continue };
        if matches!(o, Some(Ok(Applied::Applied | Applied::Duplicate))) {
            clicks.extend(click(e).map(|c| (i, c)));
            if loyalty::accounts::concerns(e) {
                accruals.push((i, e));
            }
        }
        match o {
            Some(Ok(Applied::Applied)) => report.applied += 1,
            Some(Ok(Applied::Duplicate)) => report.duplicates += 1,
            Some(Ok(Applied::Refused(error))) => rejections
                .push((i, IngestError::Refused { kind: e.payload.kind().as_str(), event_id: e.id.clone(), error })),
            Some(Err(error)) if error.is_retryable() => {
                report.failures.push(RecordFailure { record_id: records[i].id.to_string(), error });
            }
            Some(Err(error)) => rejections.push((i, error)),
            None => {}
        }
    }
    report.customers = changed.len();
    // Built in a plain loop, like the units above, so the future stays `Send`.
    let mut counting = Vec::with_capacity(clicks.len());
    for (i, c) in &clicks {
        counting.push(async move { (*i, stats::record(store, c, now).await) });
    }
    let counted: Vec<_> = futures::stream::iter(counting).buffer_unordered(config.concurrency.max(1)).collect().await;
    for (i, result) in counted {
        match result {
            Ok(_) => {}
            // The record comes back; its event is then a duplicate, and the click is counted.
            Err(e) if IngestError::Store(e.clone()).is_retryable() => {
                report
                    .failures
                    .push(RecordFailure { record_id: records[i].id.to_string(), error: IngestError::Store(e) });
            }
            Err(e) => rejections.push((i, IngestError::Store(e))),
        }
    }

    if !accruals.is_empty() {
        match config.loyalty.program.get(store, now).await {
            Ok(None) => {}
            Ok(Some(program)) => {
                let program = &program;
                let products = &config.loyalty.products;
                let mut accruing = Vec::with_capacity(accruals.len());
                for (i, e) in &accruals {
                    accruing.push(async move {
                        let outcome =
                            AssertUnwindSafe(loyalty::accrue(store, program, products, e, now)).catch_unwind().await;
                        (*i, outcome)
                    });
                }
                let accrued: Vec<_> =
                    futures::stream::iter(accruing).buffer_unordered(config.concurrency.max(1)).collect().await;
                for (i, outcome) in accrued {
                    match outcome {
                        Ok(Ok(_)) => {}
                        // The record comes back; its event is then a duplicate, and accrues.
                        Ok(Err(e)) if IngestError::Store(e.clone()).is_retryable() => {
                            tracing::warn!(record_id = records[i].id, error = %scrub(&e.to_string()), "loyalty accrual not done; the record is retried");
                            report.failures.push(RecordFailure {
                                record_id: records[i].id.to_string(),
                                error: IngestError::Store(e),
                            });
                        }
                        Ok(Err(e)) => rejections.push((i, IngestError::Store(e))),
                        Err(_) => rejections.push((i, IngestError::Panicked("accruing loyalty points".into()))),
                    }
                }
            }
            Err(e) => {
                // Without the program nothing can be decided: these records come back.
                for (i, _) in &accruals {
                    report.failures.push(RecordFailure {
                        record_id: records[*i].id.to_string(),
                        error: IngestError::Store(e.clone()),
                    });
                }
            }
        }
    }

    // Built in a plain loop, like the units above, so the future stays `Send`.
    let mut applying = Vec::with_capacity(products.len());
    for (i, event) in &products {
        applying.push(async move {
            let outcome = AssertUnwindSafe(catalogue::apply(store, event)).catch_unwind().await;
            (*i, event, outcome)
        });
    }
    let applied: Vec<_> = futures::stream::iter(applying).buffer_unordered(config.concurrency.max(1)).collect().await;
    for (i, event, outcome) in applied {
        match outcome {
            Ok(Ok(catalogue::Outcome::Applied)) => report.applied += 1,
            Ok(Ok(catalogue::Outcome::Duplicate | catalogue::Outcome::Superseded)) => report.duplicates += 1,
            // The same rule as a profile part's: a corrupt stored product may be repaired, so
            // the record waits in the queue.
            Ok(Err(e)) if IngestError::Store(e.clone()).is_retryable() => {
                tracing::warn!(record_id = records[i].id, event_id = event.id.as_str(), error = %e, "product update not applied");
                report
                    .failures
                    .push(RecordFailure { record_id: records[i].id.to_string(), error: IngestError::Store(e) });
            }
            Ok(Err(e)) => rejections.push((i, IngestError::Store(e))),
            Err(_) => rejections.push((i, IngestError::Panicked("applying this product update".into()))),
        }
    }

    // Park what can never apply; a record that cannot be parked goes back to the queue.
    let mut parking = Vec::with_capacity(rejections.len());
    for (i, error) in rejections {
        let record = rejected_record(&records[i], events[i].as_ref(), &error, now);
        parking.push(async move {
            let stored = rejected::park(store, &record).await;
            (i, error, stored)
        });
    }
    let parked: Vec<(usize, IngestError, Result<(), StoreError>)> =
        futures::stream::iter(parking).buffer_unordered(config.concurrency.max(1)).collect().await;
    for (i, error, stored) in parked {
        let record_id = records[i].id.to_string();
        match stored {
            Ok(()) => {
                tracing::warn!(record_id, error = %scrub(&error.to_string()), "record rejected and parked");
                report.rejected.push(RecordFailure { record_id, error });
            }
            Err(e) => {
                tracing::error!(record_id, error = %scrub(&error.to_string()), park_error = %e, "record rejected but could not be parked; returned to the queue");
                report.failures.push(RecordFailure { record_id, error: IngestError::Store(e) });
            }
        }
    }
    report.failures.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    report.rejected.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    report
}

fn rejected_record(
    record: &Record<'_>,
    event: Option<&ShopEvent>,
    error: &IngestError,
    now: DateTime<Utc>,
) -> RejectedRecord {
    let mut parked = RejectedRecord::new(record.id, record.body, now, scrub(&error.to_string()), &error.field_errors());
    if let Some(e) = event {
        parked.event_id = Some(e.id.to_string());
        parked.customer_id = Some(e.customer_id.to_string());
    } else if let IngestError::Malformed(EventError::Invalid { event_id: Some(id), .. }) = error {
        parked.event_id = Some(id.to_string());
    }
    parked
}

#[cfg(test)]
mod tests;
