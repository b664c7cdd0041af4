//! The local main job: a seeded shop replayed on a virtual clock through every function Kairos
//! runs in Lambda — ingest (with loyalty accrual), the triggers on the table's stream, the nightly
//! send-time, churn, recommendation and loyalty runs, scheduled campaigns, dispatch with its
//! policy, SES feedback, one-click unsubscribes and SMS STOPs — with the sample campaigns and
//! loyalty program, on the embedded store (or a DynamoDB table) and the outbox channel.
//!
//! The shop answers the messages it gets ([`shop`]): a message that arrives when its customer
//! is attentive and shows what they like is opened, clicked and bought from more; one in the
//! night or about nothing they care for is not; too many bring unsubscribes. Everything the shop
//! and the feedback path produce is written as events, every message as an outbox line, every
//! delivery decision as a trace; [`report`] turns them into the summary and the HTML report, and
//! [`check`] proves the rules held, from the files alone.

pub mod check;
pub mod import;
pub mod report;
pub mod run;
pub mod shop;

use crate::store::{Change, Store};

/// A store whose writes can be read back as a stream (the triggers function's source).
pub trait Streamed: Store {
    /// The changes since the last call, oldest first.
    fn take_changes(&self) -> Vec<Change>;

    /// Removes the items whose expiry has passed by `now`, as a table's TTL does on its own; a
    /// DynamoDB table needs no help. Without it a simulated month keeps every event's one-day
    /// dedupe marker, and every nightly scan walks them.
    fn sweep_expired(&self, _now: chrono::DateTime<chrono::Utc>) {}
}

impl Streamed for crate::store::embedded::EmbeddedStore {
    fn take_changes(&self) -> Vec<Change> {
        crate::store::embedded::EmbeddedStore::take_changes(self)
    }

    fn sweep_expired(&self, now: chrono::DateTime<chrono::Utc>) {
        self.purge_expired(now.timestamp());
    }
}

pub use run::{Config, Outcome, simulate};

/// A store that records its own writes as a stream (for a table whose real stream the
/// simulation does not read): each write of a key the filter keeps reads the item's image
/// before it first, and records before and after once the write is applied.
pub struct Recording<S> {
    pub inner: S,
    keep: fn(&crate::store::Key) -> bool,
    changes: std::sync::Mutex<Vec<Change>>,
}

impl<S: Store> Recording<S> {
    pub fn new(inner: S, keep: fn(&crate::store::Key) -> bool) -> Self {
        Recording { inner, keep, changes: Default::default() }
    }
}

impl<S: Store> Store for Recording<S> {
    async fn get(&self, key: &crate::store::Key) -> Result<Option<crate::store::Item>, crate::store::StoreError> {
        self.inner.get(key).await
    }

    async fn get_many(
        &self,
        keys: &[crate::store::Key],
        consistency: crate::store::Consistency,
    ) -> Result<Vec<crate::store::Fetched>, crate::store::StoreError> {
        self.inner.get_many(keys, consistency).await
    }

    async fn query(
        &self,
        pk: &str,
        query: &crate::store::Query,
    ) -> Result<crate::store::Page, crate::store::StoreError> {
        self.inner.query(pk, query).await
    }

    async fn scan(
        &self,
        segment: crate::store::Segment,
        after: Option<&crate::store::Key>,
        limit: usize,
        consistency: crate::store::Consistency,
        wanted: crate::store::Wanted<'_>,
    ) -> Result<crate::store::Page, crate::store::StoreError> {
        self.inner.scan(segment, after, limit, consistency, wanted).await
    }

    async fn write(&self, writes: Vec<crate::store::Write>) -> Result<(), crate::store::StoreError> {
        use crate::store::Write;
        let kept: Vec<crate::store::Key> = writes
            .iter()
            .filter(|w| !matches!(w, Write::Check { .. }))
            .map(|w| w.key().clone())
            .filter(|k| (self.keep)(k))
            .collect();
        let before = if kept.is_empty() {
            Vec::new()
        } else {
            self.inner.get_many(&kept, crate::store::Consistency::Strong).await?
        };
        let after: Vec<Option<crate::store::Item>> = writes
            .iter()
            .filter(|w| !matches!(w, Write::Check { .. }) && (self.keep)(w.key()))
            .map(|w| match w {
                Write::Put { item, .. } => Some(item.clone()),
                _ => None,
            })
            .collect();
        self.inner.write(writes).await?;
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        for ((key, old), new) in kept.into_iter().zip(before).zip(after) {
            changes.push(Change { key, old: old.ok().flatten(), new });
        }
        Ok(())
    }

    fn meter(&self) -> &crate::store::Meter {
        self.inner.meter()
    }
}

impl<S: Store> Streamed for Recording<S> {
    fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
