//! The store port: one table of items addressed by partition and sort key.
//!
//! The port is deliberately small and shaped like DynamoDB's single-table model: get, batch get,
//! query one partition by sort-key prefix, scan a segment of the table (parallel scan), and
//! write one or more items atomically under conditions. Everything richer (profiles, ledgers,
//! due queues) is built on top, once, for every adapter.
//!
//! Two adapters implement it and pass one contract suite ([`contract`]): [`dynamo`] for
//! production and [`embedded`], an in-process store that is the local default.
//!
//! Concurrency is optimistic: every item carries a version; a writer reads, computes, and
//! writes with [`Condition::VersionIs`], retrying on [`StoreError::ConditionFailed`].

pub mod any;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
pub mod dynamo;
pub mod embedded;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An item's attributes other than its key, version and expiry.
pub type Document = serde_json::Map<String, serde_json::Value>;

/// Attribute names the store keeps for itself; documents must not use them.
pub const RESERVED_ATTRIBUTES: [&str; 4] = ["pk", "sk", "v", "ttl"];

/// Most writes one atomic [`Store::write`] may hold (DynamoDB's transaction limit).
pub const MAX_WRITES: usize = 100;

/// Largest item, key and attributes included (DynamoDB's limit, 400 KB).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key { pk: pk.into(), sk: sk.into() }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.pk, self.sk)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Incremented by the writer on every put; conditions compare it.
    pub version: u64,
    /// Unix seconds after which the item may be removed (DynamoDB TTL). Expired items can still
    /// be read until removed, as in DynamoDB.
    pub expires_at: Option<i64>,
    /// Shared, not copied: the embedded store hands out the document it holds.
    pub body: Arc<Document>,
}

impl Item {
    pub fn new(key: Key, version: u64, body: Document) -> Self {
        Item { key, version, expires_at: None, body: Arc::new(body) }
    }

    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// What must hold for a write to happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    NotExists,
    Exists,
    VersionIs(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; the whole write fails unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> Condition {
        match self {
            Write::Put { condition, .. } | Write::Delete { condition, .. } | Write::Check { condition, .. } => {
                *condition
            }
        }
    }
}

/// A page of a query or scan. `next` is where the following page starts, if there is one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Key>,
}

/// Which items of a partition to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub sk_prefix: String,
    /// Resume after this key (a previous page's `next`).
    pub after: Option<Key>,
    pub limit: usize,
    /// Highest sort key first.
    pub descending: bool,
}

impl Query {
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Query { sk_prefix: prefix.into(), after: None, limit: 1000, descending: false }
    }
}

/// One of `total` disjoint parts of the table, for parallel scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub total: u32,
}

impl Segment {
    pub const WHOLE: Segment = Segment { index: 0, total: 1 };

    pub fn new(index: u32, total: u32) -> Result<Self, StoreError> {
        if total == 0 || total > 1_000_000 || index >= total {
            return Err(StoreError::Invalid(format!(
                "segment {index} of {total} is not a valid parallel-scan segment"
            )));
        }
        Ok(Segment { index, total })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The writes at these positions had conditions that did not hold; nothing was written.
    /// Empty when the store could not say which.
    #[error("condition failed on write(s) {failed:?}; nothing was written")]
    ConditionFailed { failed: Vec<usize> },
    /// Another transaction touched the same items at the same time; nothing was written.
    #[error("transaction conflict; nothing was written")]
    Conflict,
    #[error("throttled by the store")]
    Throttled,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A request the store will never accept (a bug, not a passing fault).
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("item {key} could not be decoded: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict | StoreError::Throttled | StoreError::Unavailable(_))
    }
}

/// Requests made, for benchmarks and metrics. A transaction is one write request.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl StoreStats {
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> (u64, u64) {
        (self.reads.load(Ordering::Relaxed), self.writes.load(Ordering::Relaxed))
    }
}

pub trait Store: Send + Sync {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;

    /// Items for `keys`, in the same order, `None` where absent.
    fn get_many(&self, keys: &[Key]) -> impl Future<Output = Result<Vec<Option<Item>>, StoreError>> + Send;

    /// Items of partition `pk` whose sort key starts with the query's prefix, in sort-key order.
    fn query(&self, pk: &str, query: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// A page of one segment of the table. Segments are disjoint and together hold every item.
    fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// All writes happen, or none: a single write is conditional, several are a transaction.
    fn write(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn stats(&self) -> &StoreStats;
}

/// Checks what every adapter must refuse before it talks to its backend.
pub fn check_writes(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid("no writes given".into()));
    }
    if writes.len() > MAX_WRITES {
        return Err(StoreError::Invalid(format!("{} writes in one transaction (at most {MAX_WRITES})", writes.len())));
    }
    let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
    keys.sort();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid(format!("item {} is written twice in one transaction", w[0])));
    }
    for w in writes {
        let key = w.key();
        if key.pk.is_empty() || key.sk.is_empty() {
            return Err(StoreError::Invalid(format!("item {key} has an empty key part")));
        }
        if let Write::Put { item, .. } = w {
            if let Some(name) = RESERVED_ATTRIBUTES.iter().find(|n| item.body.contains_key(**n)) {
                return Err(StoreError::Invalid(format!("item {key} uses the reserved attribute name {name:?}")));
            }
            if let Some((path, n)) = out_of_range_number(&item.body) {
                return Err(StoreError::Invalid(format!(
                    "item {key}: {path} is {n}, outside the numbers DynamoDB stores (magnitudes 1e-130 to 1e125, or 0)"
                )));
            }
            let size = item_size(item);
            if size > MAX_ITEM_BYTES {
                return Err(StoreError::Invalid(format!("item {key} is {size} bytes (at most {MAX_ITEM_BYTES})")));
            }
        }
    }
    Ok(())
}

/// The first number DynamoDB could not store, with its path.
fn out_of_range_number(body: &Document) -> Option<(String, f64)> {
    fn walk(v: &serde_json::Value, path: String) -> Option<(String, f64)> {
        match v {
            serde_json::Value::Number(n) => {
                let x = n.as_f64()?;
                let ok = x == 0.0 || (1e-130..1e126).contains(&x.abs());
                (!ok).then_some((path, x))
            }
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, v)| walk(v, format!("{path}[{i}]")))
            }
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| walk(v, format!("{path}.{k}"))),
            _ => None,
        }
    }
    body.iter().find_map(|(k, v)| walk(v, k.clone()))
}

/// An item's size as DynamoDB counts it: attribute names plus values (strings by their UTF-8
/// bytes, numbers by about one byte per two digits, lists and maps with a few bytes of overhead).
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Null | serde_json::Value::Bool(_) => 1,
            serde_json::Value::Number(n) => 1 + n.to_string().len().div_ceil(2),
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(items) => 3 + items.iter().map(|i| 1 + value_size(i)).sum::<usize>(),
            serde_json::Value::Object(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        }
    }
    let body: usize = item.body.iter().map(|(k, v)| k.len() + value_size(v)).sum();
    // Key, version and expiry attributes.
    body + item.key.pk.len() + item.key.sk.len() + 2 + 1 + 12 + 3 + 12
}

/// Serializes a domain value into a document.
pub fn encode<T: Serialize>(key: &Key, value: &T) -> Result<Document, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::Invalid(format!("item {key}: only structs can be stored"))),
        Err(e) => Err(StoreError::Invalid(format!("item {key} could not be encoded: {e}"))),
    }
}

/// Deserializes a domain value from an item, with the item's key in any error.
pub fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    // The plain path first: tracking the field path costs a fifth of ingest time, and is only
    // needed to explain a failure.
    T::deserialize(&*item.body).or_else(|_| {
        serde_path_to_error::deserialize(&*item.body).map_err(|e| StoreError::Corrupt {
            key: item.key.to_string(),
            reason: crate::redact::scrub(&format!("{}: {}", e.path(), e.inner())),
        })
    })
}

/// Every item of a table, segment by segment, page by page (for reports and exports; jobs over
/// large tables fan segments out instead).
pub async fn scan_all<S: Store>(store: &S, prefix_sk: Option<&str>) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut after: Option<Key> = None;
    loop {
        let page = store.scan(Segment::WHOLE, after.as_ref(), 1000).await?;
        items.extend(page.items.into_iter().filter(|i| prefix_sk.is_none_or(|p| i.key.sk.starts_with(p))));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}
