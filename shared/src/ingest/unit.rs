//! Applying one customer's events to one part of their profile: read, drop what the part has
//! seen, fold, and write back with one conditional write.
//!
//! The write names the version it read (or that the part does not exist yet), so a racing
//! writer's update is never lost: the loser reads again (strongly) and folds again. The part's
//! own recently-seen ids make the write idempotent. A transaction is needed only when the part
//! writes other items with it: applied-event markers of a very busy part, or archived orders.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{IngestConfig, IngestError};
use crate::customers::{self, Versioned};
use crate::dedupe::IdHash;
use crate::event::ShopEvent;
use crate::ids::CustomerId;
use crate::keys::{self, PartKind};
use crate::profile::{ArchivedOrders, OrderBook, ProfilePart};
use crate::store::{Condition, Consistency, Fetched, Store, StoreError, Write, check_writes};
use crate::validate::FieldError;

/// What became of one event at its home part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Applied {
    Applied,
    /// Seen before: nothing changed.
    Duplicate,
    /// The part cannot hold its effect.
    Refused(FieldError),
}

/// One part's work in a batch.
pub(crate) struct Unit<'a> {
    pub customer: &'a CustomerId,
    /// Events whose home this part is, with their index in the batch.
    pub home: Vec<(usize, &'a ShopEvent)>,
    /// Events of other parts with an (idempotent) effect here, with their index in the batch.
    pub touch: Vec<(usize, &'a ShopEvent)>,
}

/// How long to keep trying, and how.
pub(crate) struct Retry<'a> {
    pub config: &'a IngestConfig,
    pub started: Instant,
    pub deadline: Option<Instant>,
}

impl Retry<'_> {
    /// Waits before another attempt (exponential with full jitter), or gives up.
    async fn wait(&self, attempt: u32, why: &str) -> Result<(), IngestError> {
        let budget_end = self.started + self.config.retry_budget;
        let end = self.deadline.map_or(budget_end, |d| d.min(budget_end));
        let pause = crate::clock::backoff(attempt);
        if attempt >= self.config.max_attempts || Instant::now() + pause >= end {
            return Err(IngestError::Exhausted { attempts: attempt, last: why.to_string() });
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

/// Events folded into one write at most: with the markers their ids may need and the archive
/// chunks they may change, a write stays inside DynamoDB's 100 items per transaction.
const EVENTS_PER_WRITE: usize = 48;

/// What became of a unit: the outcome of each event that was decided, and, if a write failed,
/// why and which events it leaves undone (the events of earlier writes stay done).
pub(crate) struct UnitResult {
    pub outcomes: Vec<(usize, Applied)>,
    pub failed: Option<(IngestError, Vec<usize>)>,
}

/// Runs a unit against the part as first read (`initial`), to completion or a failure.
pub(crate) async fn run<S: Store, P: ProfilePart>(
    store: &S,
    unit: &Unit<'_>,
    initial: Fetched,
    now: DateTime<Utc>,
    retry: &Retry<'_>,
) -> UnitResult {
    // The touches go with the first write.
    let slices: Vec<Unit<'_>> = if unit.home.is_empty() {
        vec![Unit { customer: unit.customer, home: Vec::new(), touch: unit.touch.clone() }]
    } else {
        unit.home
            .chunks(EVENTS_PER_WRITE)
            .enumerate()
            .map(|(n, home)| Unit {
                customer: unit.customer,
                home: home.to_vec(),
                touch: if n == 0 { unit.touch.clone() } else { Vec::new() },
            })
            .collect()
    };
    let mut outcomes = Vec::with_capacity(unit.home.len());
    let mut done = 0;
    let result = run_slices::<S, P>(store, &slices, initial, now, retry, &mut outcomes, &mut done).await;
    let failed = result.err().map(|e| {
        let undone = slices[done..].iter().flat_map(|s| s.home.iter().chain(&s.touch)).map(|(i, _)| *i).collect();
        (e, undone)
    });
    UnitResult { outcomes, failed }
}

/// Writes the slices in turn; `done` counts those written.
async fn run_slices<S: Store, P: ProfilePart>(
    store: &S,
    slices: &[Unit<'_>],
    initial: Fetched,
    now: DateTime<Utc>,
    retry: &Retry<'_>,
    outcomes: &mut Vec<(usize, Applied)>,
    done: &mut usize,
) -> Result<(), IngestError> {
    let Some(first) = slices.first() else { return Ok(()) };
    let key = keys::part(first.customer, P::KIND);
    let mut attempt = 0_u32;
    // The batch's read may have failed for a passing reason: read this part on its own then.
    let mut read: Versioned<P> = match initial {
        Ok(item) => decode_or_default(item)?,
        Err(e) if e.is_retryable() => loop {
            attempt += 1;
            retry.wait(attempt, &e.to_string()).await?;
            match store.get(&key).await {
                Ok(item) => break decode_or_default(item)?,
                Err(e) if e.is_retryable() => continue,
                Err(e) => return Err(e.into()),
            }
        },
        Err(e) => return Err(e.into()),
    };
    // Whether `read` came from a strongly consistent read (the first is eventually consistent).
    let mut strong = false;
    for slice in slices {
        loop {
            match attempt_once(store, slice, read, strong, now).await {
                Ok(Outcome::Written(decided, written)) => {
                    outcomes.extend(decided);
                    read = written;
                    *done += 1;
                    break;
                }
                Ok(Outcome::Unconfirmed) => {
                    // A refusal decided on a possibly stale read, with nothing written to prove
                    // the read current: decide again on a strong read.
                }
                Ok(Outcome::Conflict) => {
                    attempt += 1;
                    retry.wait(attempt, "the profile kept changing underneath").await?;
                }
                Err(IngestError::Store(e)) if e.is_retryable() => {
                    attempt += 1;
                    retry.wait(attempt, &e.to_string()).await?;
                }
                Err(e) => return Err(e),
            }
            // Read again, strongly this time: the last read was stale, another writer won, or
            // the store did not answer.
            read = loop {
                match store.get(&key).await {
                    Ok(item) => break decode_or_default(item)?,
                    Err(e) if e.is_retryable() => {
                        attempt += 1;
                        retry.wait(attempt, &e.to_string()).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            strong = true;
        }
    }
    Ok(())
}

fn decode_or_default<P: ProfilePart>(item: Option<crate::store::Item>) -> Result<Versioned<P>, IngestError> {
    Ok(match item {
        Some(item) => customers::decode_part(item)?,
        None => Versioned { value: P::default(), version: 0 },
    })
}

enum Outcome<P> {
    /// Done: what became of each event, and the part as it now stands.
    Written(Vec<(usize, Applied)>, Versioned<P>),
    /// Some events were refused and nothing was written: if the read may have been stale, the
    /// refusal must be decided again on a strong read.
    Unconfirmed,
    /// A condition failed: someone else wrote first.
    Conflict,
}

/// One read-fold-write round. Takes the part as read (`strong`: by a strongly consistent read;
/// it is folded in place); after a conflict or an error the caller reads it again.
async fn attempt_once<S: Store, P: ProfilePart>(
    store: &S,
    unit: &Unit<'_>,
    read: Versioned<P>,
    strong: bool,
    now: DateTime<Utc>,
) -> Result<Outcome<P>, IngestError> {
    let Versioned { value: original, version } = read;
    let original = &original;
    let mut duplicates: Vec<(usize, Applied)> = Vec::new();

    // What this part has applied before.
    let mut fresh: Vec<(usize, &ShopEvent, IdHash)> = Vec::with_capacity(unit.home.len());
    for &(i, e) in &unit.home {
        let id = IdHash::of(&e.id);
        if original.meta().seen.contains(id) {
            duplicates.push((i, Applied::Duplicate));
        } else {
            fresh.push((i, e, id));
        }
    }
    if original.meta().seen.check_markers(now) && !fresh.is_empty() {
        let marker_keys: Vec<_> =
            fresh.iter().map(|(_, _, id)| keys::applied_marker(unit.customer, P::KIND, *id)).collect();
        let found = store.get_many(&marker_keys, Consistency::Strong).await?;
        let mut kept = Vec::with_capacity(fresh.len());
        for (f, marker) in fresh.into_iter().zip(found) {
            if marker?.is_some() {
                duplicates.push((f.0, Applied::Duplicate));
            } else {
                kept.push(f);
            }
        }
        fresh = kept;
    }

    // History kept outside the part, when an event may concern it.
    let mut chunks = Vec::new();
    if let Some(book) = as_orders(original) {
        if !book.archives.is_empty() && fresh.iter().any(|(_, e, _)| book.may_need_archives(e)) {
            chunks = customers::load_archives(store, unit.customer, &book.archives).await?;
        }
    }

    // With nothing to write, a refusal rests on the read alone: only a strong one is proof.
    let unconfirmed = |f: &Folded<P>| !strong && f.outcomes.iter().any(|(_, a)| matches!(a, Applied::Refused(_)));
    let mut folded = fold_all(unit, original.clone(), version, &fresh, &chunks, now, false)?;
    if !folded.changed {
        // Nothing to write: only duplicates, refusals, or touches that changed nothing.
        if unconfirmed(&folded) {
            return Ok(Outcome::Unconfirmed);
        }
        let outcomes = duplicates.into_iter().chain(folded.outcomes).collect();
        return Ok(Outcome::Written(outcomes, Versioned { value: folded.part, version }));
    }
    let mut sent = store.write(folded.writes(unit, version, now)?).await;
    if let Err(StoreError::Invalid(problem)) = &sent {
        // The store refuses the folded part (a bug, or a limit the parser does not know): fold
        // again one event at a time, refusing alone each one after which it could not be stored.
        tracing::warn!(customer = %unit.customer, part = ?P::KIND, problem = %crate::redact::scrub(problem), "isolating events a profile part cannot store");
        folded = fold_all(unit, original.clone(), version, &fresh, &chunks, now, true)?;
        if !folded.changed {
            if unconfirmed(&folded) {
                return Ok(Outcome::Unconfirmed);
            }
            let outcomes = duplicates.into_iter().chain(folded.outcomes).collect();
            return Ok(Outcome::Written(outcomes, Versioned { value: folded.part, version }));
        }
        sent = store.write(folded.writes(unit, version, now)?).await;
    }
    match sent {
        Ok(()) => {
            let outcomes = duplicates.into_iter().chain(folded.outcomes).collect();
            Ok(Outcome::Written(outcomes, Versioned { value: folded.part, version: version + 1 }))
        }
        Err(StoreError::ConditionFailed { .. }) => Ok(Outcome::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// A part with a unit's events folded in, and what else must be written with it.
struct Folded<P> {
    part: P,
    /// Whether anything changed (an event applied, or a touch took effect).
    changed: bool,
    outcomes: Vec<(usize, Applied)>,
    /// Archive chunks as read, the changed ones marked.
    chunks: Vec<(String, Versioned<ArchivedOrders>, bool)>,
    new_chunk: Option<(String, ArchivedOrders)>,
    spilled: Vec<IdHash>,
}

/// Folds the fresh events (and the touches) into `part`. With `check_each`, an event after
/// which the part could not be stored is refused and undone.
fn fold_all<P: ProfilePart>(
    unit: &Unit<'_>,
    mut part: P,
    version: u64,
    fresh: &[(usize, &ShopEvent, IdHash)],
    chunks: &[(String, Versioned<ArchivedOrders>)],
    now: DateTime<Utc>,
    check_each: bool,
) -> Result<Folded<P>, IngestError> {
    let mut chunks: Vec<(String, Versioned<ArchivedOrders>, bool)> =
        chunks.iter().map(|(id, c)| (id.clone(), c.clone(), false)).collect();
    let mut outcomes = Vec::with_capacity(fresh.len());
    let mut applied_ids = Vec::with_capacity(fresh.len());
    for (i, e, id) in fresh {
        let before = check_each.then(|| (part.clone(), chunks.clone()));
        match fold_guarded(&mut part, e, &mut chunks)? {
            Ok(()) => {
                if let Some((part_before, chunks_before)) = before {
                    if let Err(err) = storable(unit.customer, &part, version, &chunks) {
                        part = part_before;
                        chunks = chunks_before;
                        let problem = crate::redact::scrub(&err.to_string());
                        let refusal =
                            FieldError::new("data", format!("its effect cannot be stored in the profile: {problem}"));
                        outcomes.push((*i, Applied::Refused(refusal)));
                        continue;
                    }
                }
                applied_ids.push(*id);
                outcomes.push((*i, Applied::Applied));
            }
            Err(refused) => outcomes.push((*i, Applied::Refused(refused))),
        }
    }
    let mut changed = !applied_ids.is_empty();
    for (_, e) in &unit.touch {
        let at = crate::profile::event_instant(e);
        changed |= catch_unwind(AssertUnwindSafe(|| part.touch(e, at)))
            .map_err(|_| IngestError::Panicked(format!("applying {e} to the {:?} part", P::KIND)))?;
    }
    if !changed {
        return Ok(Folded { part, changed, outcomes, chunks, new_chunk: None, spilled: Vec::new() });
    }
    // Old orders move to a new archive chunk when the part has grown too big.
    let mut new_chunk = None;
    if let Some(book) = as_orders_mut(&mut part) {
        if let Some(chunk) = book.split_oldest() {
            let oldest = chunk.orders.keys().next().map(|o| o.to_string()).unwrap_or_default();
            let id = customers::new_chunk_id(unit.customer, version, &oldest);
            book.archives.push(id.clone());
            new_chunk = Some((id, chunk));
        }
    }
    let spilled = part.meta_mut().seen.remember(&applied_ids, now);
    Ok(Folded { part, changed, outcomes, chunks, new_chunk, spilled })
}

impl<P: ProfilePart> Folded<P> {
    /// The part (conditioned on the version read), and with it, atomically: markers of ids the
    /// part cannot hold, changed archive chunks (on their versions), a new archive chunk.
    fn writes(&self, unit: &Unit<'_>, version: u64, now: DateTime<Utc>) -> Result<Vec<Write>, IngestError> {
        let mut writes = vec![Write::Put {
            item: customers::part_item(unit.customer, &self.part, version + 1)?,
            condition: if version == 0 { Condition::NotExists } else { Condition::VersionIs(version) },
        }];
        for id in &self.spilled {
            let item = customers::marker_item(unit.customer, P::KIND, *id, now);
            writes.push(Write::Put { item, condition: Condition::Always });
        }
        for (id, chunk, changed) in &self.chunks {
            if *changed {
                writes.push(Write::Put {
                    item: customers::archive_item(unit.customer, id, &chunk.value, chunk.version + 1)?,
                    condition: Condition::VersionIs(chunk.version),
                });
            }
        }
        if let Some((id, chunk)) = &self.new_chunk {
            writes.push(Write::Put {
                item: customers::archive_item(unit.customer, id, chunk, 1)?,
                condition: Condition::NotExists,
            });
        }
        Ok(writes)
    }
}

/// Whether the part and the archive chunks it changed could be stored as they are.
fn storable<P: ProfilePart>(
    customer: &CustomerId,
    part: &P,
    version: u64,
    chunks: &[(String, Versioned<ArchivedOrders>, bool)],
) -> Result<(), IngestError> {
    let mut writes =
        vec![Write::Put { item: customers::part_item(customer, part, version + 1)?, condition: Condition::Always }];
    for (id, chunk, changed) in chunks {
        if *changed {
            let item = customers::archive_item(customer, id, &chunk.value, chunk.version + 1)?;
            writes.push(Write::Put { item, condition: Condition::Always });
        }
    }
    check_writes(&writes).map(|_| ()).map_err(IngestError::from)
}

/// Folds one event, catching a panic (a bug) as an error for this unit rather than the batch.
fn fold_guarded<P: ProfilePart>(
    part: &mut P,
    event: &ShopEvent,
    chunks: &mut [(String, Versioned<ArchivedOrders>, bool)],
) -> Result<Result<(), FieldError>, IngestError> {
    let at = crate::profile::event_instant(event);
    catch_unwind(AssertUnwindSafe(|| match as_orders_mut(part) {
        Some(book) => {
            // The orders part looks for an event's order in the archive chunks too.
            let mut archives: Vec<ArchivedOrders> =
                chunks.iter_mut().map(|(_, c, _)| std::mem::take(&mut c.value)).collect();
            let changed = book.apply_with(event, at, &mut archives);
            for ((_, c, _), a) in chunks.iter_mut().zip(archives) {
                c.value = a;
            }
            let changed = changed?;
            book.meta.count(at);
            if let Some(i) = changed {
                chunks[i].2 = true;
            }
            Ok(())
        }
        None => part.fold(event, at),
    }))
    .map_err(|_| IngestError::Panicked(format!("folding {event} into the {:?} part", P::KIND)))
}

fn as_orders<P: ProfilePart>(part: &P) -> Option<&OrderBook> {
    (P::KIND == PartKind::Orders).then(|| (part as &dyn std::any::Any).downcast_ref::<OrderBook>()).flatten()
}

fn as_orders_mut<P: ProfilePart>(part: &mut P) -> Option<&mut OrderBook> {
    if P::KIND != PartKind::Orders {
        return None;
    }
    (part as &mut dyn std::any::Any).downcast_mut::<OrderBook>()
}
