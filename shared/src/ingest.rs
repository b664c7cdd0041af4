//! Ingesting a batch of shop events into profiles, exactly once per event.
//!
//! A batch (an SQS delivery, or lines of a file) is parsed record by record; a record that is
//! not a valid event fails alone. Valid events are grouped by customer, and each customer's
//! events are folded into the profile and written in **one** transaction with a marker item per
//! event (`attribute_not_exists`). The transaction either applies them all or, when a marker
//! already exists, tells us which events were seen before; those are dropped and the rest
//! retried. So a redelivered event changes nothing, and a batch costs one write request per
//! customer, not per event.
//!
//! The profile write is conditioned on the version read, so two invocations racing on one
//! customer cannot lose each other's updates: the loser re-reads and re-folds.

pub mod source;

use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;

use crate::clock::Clock;
use crate::event::{EventError, ShopEvent, parse_event};
use crate::ids::{CustomerId, EventId};
use crate::keys;
use crate::profile::Profile;
use crate::redact::scrub;
use crate::store::{Condition, Item, MAX_WRITES, Store, StoreError, Write, decode, encode};

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// How long an event id is remembered. Longer than any redelivery: SQS keeps messages at
    /// most 14 days, EventBridge retries for 24 hours.
    pub dedupe_window: Duration,
    /// Attempts per customer when the profile keeps changing underneath or the store is busy.
    pub max_attempts: u32,
    /// Customers written concurrently within one batch.
    pub concurrency: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { dedupe_window: Duration::from_secs(30 * 86_400), max_attempts: 6, concurrency: 8 }
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
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("gave up after {attempts} attempts; last: {last}")]
    Exhausted { attempts: u32, last: String },
    #[error("internal error while applying events (a bug, reported to be fixed): {0}")]
    Panicked(String),
}

impl IngestError {
    /// Whether the same record can succeed on redelivery (a malformed one never will).
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::Malformed(_) | IngestError::Panicked(_) => false,
            IngestError::Store(e) => e.is_retryable(),
            IngestError::Exhausted { .. } => true,
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
    /// Events folded into profiles by this batch.
    pub applied: usize,
    /// Events seen before (in an earlier batch or earlier in this one): nothing changed.
    pub duplicates: usize,
    /// Customers whose profiles were written.
    pub customers: usize,
}

/// Ingests one batch. Never fails as a whole: every problem is a record failure.
pub async fn ingest_batch<S: Store, C: Clock>(
    store: &S,
    clock: &C,
    config: &IngestConfig,
    records: &[Record<'_>],
) -> BatchReport {
    let now = clock.now();
    let mut report = BatchReport::default();
    let mut groups: BTreeMap<CustomerId, Vec<(usize, ShopEvent)>> = BTreeMap::new();
    let mut seen: HashSet<(CustomerId, EventId)> = HashSet::new();
    // Kept per record for the logs once the events have moved into their groups.
    let mut event_ids: Vec<Option<EventId>> = vec![None; records.len()];

    for (index, record) in records.iter().enumerate() {
        let result = catch_unwind(|| parse_event(record.body, now).map_err(IngestError::from))
            .unwrap_or_else(|_| Err(IngestError::Panicked("parsing this record".into())));
        match result {
            Ok(event) => {
                if !seen.insert((event.customer_id.clone(), event.id.clone())) {
                    report.duplicates += 1; // the same event twice in one batch
                    continue;
                }
                event_ids[index] = Some(event.id.clone());
                groups.entry(event.customer_id.clone()).or_default().push((index, event));
            }
            Err(error) => {
                tracing::warn!(record_id = record.id, error = %scrub(&error.to_string()), "rejected malformed event");
                report.failures.push(RecordFailure { record_id: record.id.to_string(), error });
            }
        }
    }

    let outcomes: Vec<(Vec<usize>, Result<GroupOutcome, IngestError>)> = futures::stream::iter(groups)
        .map(|(customer, events)| async move {
            let indexes: Vec<usize> = events.iter().map(|(i, _)| *i).collect();
            let outcome =
                apply_customer(store, now, config, &customer, events.into_iter().map(|(_, e)| e).collect()).await;
            (indexes, outcome)
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;

    for (indexes, outcome) in outcomes {
        match outcome {
            Ok(o) => {
                report.applied += o.applied;
                report.duplicates += o.duplicates;
                report.customers += usize::from(o.applied > 0);
            }
            Err(error) => {
                for index in indexes {
                    let record_id = records[index].id.to_string();
                    let event_id = event_ids[index].as_ref().map(EventId::as_str);
                    tracing::error!(record_id, event_id, error = %scrub(&error.to_string()), "event not applied");
                    report.failures.push(RecordFailure { record_id, error: error.clone() });
                }
            }
        }
    }
    report
}

#[derive(Debug, Default)]
struct GroupOutcome {
    applied: usize,
    duplicates: usize,
}

/// Folds one customer's events into their profile and records them as processed, atomically.
async fn apply_customer<S: Store>(
    store: &S,
    now: DateTime<Utc>,
    config: &IngestConfig,
    customer: &CustomerId,
    mut pending: Vec<ShopEvent>,
) -> Result<GroupOutcome, IngestError> {
    // A stable order makes the fold deterministic whatever order the batch came in.
    pending.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let profile_key = keys::profile(customer);
    let expires_at = now.timestamp() + i64::try_from(config.dedupe_window.as_secs()).unwrap_or(i64::MAX / 2);
    let mut outcome = GroupOutcome::default();
    let mut attempts = 0_u32;

    while !pending.is_empty() {
        let current = store.get(&profile_key).await;
        let current = match current {
            Ok(c) => c,
            Err(e) if e.is_retryable() => {
                attempts += 1;
                backoff(attempts, config.max_attempts, e.to_string()).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (mut profile, condition, version) = match current {
            Some(item) => {
                let version = item.version;
                (decode::<Profile>(item)?, Condition::VersionIs(version), version)
            }
            None => {
                let first = pending[0].occurred_at.with_timezone(&Utc);
                (Profile::new(customer.clone(), first), Condition::NotExists, 0)
            }
        };
        // One transaction holds the profile and one marker per event.
        let chunk_len = pending.len().min(MAX_WRITES - 1);
        let chunk = &pending[..chunk_len];
        catch_unwind(AssertUnwindSafe(|| chunk.iter().for_each(|e| profile.apply(e))))
            .map_err(|_| IngestError::Panicked(format!("folding events into the profile of {customer}")))?;

        let mut writes = Vec::with_capacity(chunk_len + 1);
        writes.push(Write::Put {
            item: Item::new(profile_key.clone(), version + 1, encode(&profile_key, &profile)?),
            condition,
        });
        for event in chunk {
            let key = keys::event_marker(customer, &event.id);
            let body = encode(&key, &json!({"type": event.payload.kind().as_str(), "at": now.timestamp()}))?;
            writes.push(Write::Put {
                item: Item::new(key, 1, body).expiring(expires_at),
                condition: Condition::NotExists,
            });
        }

        match store.write(writes).await {
            Ok(()) => {
                outcome.applied += chunk_len;
                pending.drain(..chunk_len);
            }
            Err(StoreError::ConditionFailed { failed }) => {
                let seen_before: Vec<usize> = if failed.is_empty() {
                    // The store could not say which condition failed: ask the markers directly.
                    let marker_keys: Vec<_> = chunk.iter().map(|e| keys::event_marker(customer, &e.id)).collect();
                    let found = store.get_many(&marker_keys).await?;
                    found.iter().enumerate().filter(|(_, m)| m.is_some()).map(|(i, _)| i).collect()
                } else {
                    failed.iter().filter(|&&i| i > 0).map(|i| i - 1).collect()
                };
                outcome.duplicates += seen_before.len();
                for i in seen_before.iter().rev() {
                    pending.remove(*i);
                }
                if seen_before.is_empty() || failed.contains(&0) {
                    // The profile changed since we read it: another writer got there first.
                    attempts += 1;
                    backoff(attempts, config.max_attempts, "the profile kept changing underneath").await?;
                }
            }
            Err(e) if e.is_retryable() => {
                attempts += 1;
                backoff(attempts, config.max_attempts, e.to_string()).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(outcome)
}

/// Waits before another attempt (exponential with full jitter), or gives up.
async fn backoff(attempt: u32, max_attempts: u32, why: impl std::fmt::Display) -> Result<(), IngestError> {
    if attempt >= max_attempts {
        return Err(IngestError::Exhausted { attempts: attempt, last: why.to_string() });
    }
    let cap_ms = (20_u64 << attempt.min(6)).min(1_000);
    // Jitter from the clock's nanoseconds: enough to spread racing writers apart.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    tokio::time::sleep(Duration::from_millis(u64::from(nanos) % (cap_ms + 1))).await;
    Ok(())
}

#[cfg(test)]
mod tests;
