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
pub mod cost;
pub mod dynamo;
pub mod embedded;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

pub use cost::{Consistency, Meter, Reading, Units};

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
    pub body: Body,
}

impl Item {
    pub fn new(key: Key, version: u64, body: Document) -> Self {
        Item { key, version, expires_at: None, body: Body::from(body) }
    }

    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// An item's attributes: a document, or the JSON text of one, which is what the embedded store
/// keeps (a document tree takes four to ten times the memory of its text, and a large table's
/// time went into fresh memory for trees). A value decoded from an item reads the text directly
/// ([`decode`]); reading the body as a document parses the text once for this copy.
#[derive(Clone)]
pub struct Body {
    text: Option<Arc<str>>,
    tree: OnceLock<Arc<Document>>,
}

impl Body {
    /// The body whose document `text` is: only text this module wrote from a document
    /// ([`Body::text`]), so that it always parses back to that document.
    fn of_text(text: Arc<str>) -> Body {
        Body { text: Some(text), tree: OnceLock::new() }
    }

    /// The body as compact JSON text, shared if it already is text.
    pub fn text(&self) -> Arc<str> {
        match (&self.text, self.tree.get()) {
            (Some(text), _) => Arc::clone(text),
            // A map of strings to JSON values always serializes.
            (None, Some(tree)) => serde_json::to_string(&**tree).unwrap_or_default().into(),
            (None, None) => Arc::from("{}"),
        }
    }

    /// The text, when this copy has not parsed it (decoding reads it directly then).
    fn unparsed_text(&self) -> Option<&str> {
        if self.tree.get().is_some() { None } else { self.text.as_deref() }
    }
}

impl From<Document> for Body {
    fn from(document: Document) -> Self {
        Body { text: None, tree: OnceLock::from(Arc::new(document)) }
    }
}

impl Deref for Body {
    type Target = Document;

    fn deref(&self) -> &Document {
        self.tree.get_or_init(|| {
            let text = self.text.as_deref().unwrap_or("{}");
            // The text was written from a document by `Body::text`; it cannot fail to parse.
            Arc::new(serde_json::from_str(text).unwrap_or_else(|e| {
                tracing::error!(error = %e, "an item's stored text did not parse back");
                Document::new()
            }))
        })
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        match (&self.text, &other.text) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => true,
            _ => **self == **other,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
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

/// A change to one item as a table's stream reports it: the key, and the item before and after
/// (absent when it did not exist before, or no longer does).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: Key,
    pub old: Option<Item>,
    pub new: Option<Item>,
}

/// A page of a query or scan. `next` is where the following page starts, if there is one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Key>,
    /// Items on this page that could not be decoded ([`StoreError::Corrupt`], naming each key):
    /// reported, never a reason to lose the rest of the page.
    pub corrupt: Vec<StoreError>,
}

/// One item of a batch read: absent, present, or present but undecodable (which fails only it).
pub type Fetched = Result<Option<Item>, StoreError>;

/// Which items of a partition to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub sk_prefix: String,
    /// Resume after this key (a previous page's `next`).
    pub after: Option<Key>,
    pub limit: usize,
    /// Highest sort key first.
    pub descending: bool,
    /// Strong unless a reader can take a page that may miss the last second's writes (at half
    /// the price).
    pub consistency: Consistency,
}

impl Query {
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Query {
            sk_prefix: prefix.into(),
            after: None,
            limit: 1000,
            descending: false,
            consistency: Consistency::Strong,
        }
    }
}

/// The items a scan hands back, by sort key. A scan reads every item it passes, and DynamoDB
/// bills them all (a filter lowers only what travels); a reader that needs a few kinds of items
/// from each partition (a nightly job: profiles and its own output, not the decision traces,
/// ledger entries and markers beside them) is spared copying and decoding the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted<'a> {
    Every,
    SortKeys {
        /// Sort keys that start with one of these.
        prefixes: &'a [&'a str],
        /// Sort keys equal to one of these.
        exact: &'a [&'a str],
    },
}

impl Wanted<'_> {
    pub fn accepts(&self, sk: &str) -> bool {
        match self {
            Wanted::Every => true,
            Wanted::SortKeys { prefixes, exact } => prefixes.iter().any(|p| sk.starts_with(p)) || exact.contains(&sk),
        }
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

pub trait Store: Send + Sync {
    /// One item, strongly consistent.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;

    /// Items for `keys`, in the same order, `None` where absent, an error where an item cannot
    /// be decoded. The outer error is the request's.
    fn get_many(
        &self,
        keys: &[Key],
        consistency: Consistency,
    ) -> impl Future<Output = Result<Vec<Fetched>, StoreError>> + Send;

    /// Items of partition `pk` whose sort key starts with the query's prefix, in sort-key order.
    fn query(&self, pk: &str, query: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// A page of one segment of the table. Segments are disjoint and together hold every item.
    /// An eventually consistent page costs half, and may miss writes of the last second or so.
    /// `limit` counts the items read, as DynamoDB's does; the page holds those of them `wanted`
    /// accepts (possibly none, with more to come), and is billed for all.
    fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// All writes happen, or none: a single write is conditional, several are a transaction.
    /// Retrying the same writes after a lost answer is safe: a write whose condition names the
    /// version it replaces cannot apply twice, and a transaction carries an idempotency token.
    fn write(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Requests and capacity units used so far, priced by DynamoDB's rules.
    fn meter(&self) -> &Meter;
}

/// Checks what every adapter must refuse before it talks to its backend. Returns each write's
/// item size (0 for deletes and checks), which adapters need anyway.
pub fn check_writes(writes: &[Write]) -> Result<Vec<usize>, StoreError> {
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
    let mut sizes = Vec::with_capacity(writes.len());
    for w in writes {
        let key = w.key();
        if key.pk.is_empty() || key.sk.is_empty() {
            return Err(StoreError::Invalid(format!("item {key} has an empty key part")));
        }
        sizes.push(0);
        if let Write::Put { item, .. } = w {
            if let Some(name) = RESERVED_ATTRIBUTES.iter().find(|n| item.body.contains_key(**n)) {
                return Err(StoreError::Invalid(format!("item {key} uses the reserved attribute name {name:?}")));
            }
            if let Some((path, problem)) = unstorable_value(&item.body) {
                return Err(StoreError::Invalid(format!("item {key}: {path} {problem}")));
            }
            let size = item_size(item);
            if size > MAX_ITEM_BYTES {
                return Err(StoreError::Invalid(format!("item {key} is {size} bytes (at most {MAX_ITEM_BYTES})")));
            }
            if let Some(last) = sizes.last_mut() {
                *last = size;
            }
        }
    }
    Ok(sizes)
}

/// The first value DynamoDB would refuse or could not read back, with its path: a number outside
/// its range (magnitudes 1e-130 to 1e125, at most 38 significant digits), an empty map key, or
/// nesting deeper than 32 levels. Paths are only built for the value at fault (this runs on
/// every write).
fn unstorable_value(body: &Document) -> Option<(String, String)> {
    fn walk(v: &serde_json::Value, depth: usize) -> Option<(Vec<String>, String)> {
        if depth > 32 {
            return Some((Vec::new(), "is nested more than 32 levels deep".into()));
        }
        match v {
            serde_json::Value::Number(n) => {
                storable_number(n).err().map(|problem| (Vec::new(), format!("is {n}, {problem}")))
            }
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
                walk(v, depth + 1).map(|(mut path, problem)| {
                    path.push(format!("[{i}]"));
                    (path, problem)
                })
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.is_empty() {
                    return Some((Vec::new(), "has an empty attribute name".into()));
                }
                walk(v, depth + 1).map(|(mut path, problem)| {
                    path.push(format!(".{k}"));
                    (path, problem)
                })
            }),
            _ => None,
        }
    }
    body.iter().find_map(|(k, v)| {
        walk(v, 1).map(|(path, problem)| {
            let inner: String = path.into_iter().rev().collect();
            (format!("{k}{inner}"), problem)
        })
    })
}

/// Whether DynamoDB can store `n` and give it back: zero, or a magnitude from 1e-130 to below
/// 1e126, with at most 38 significant digits. Integers always can (twenty digits at most).
pub fn storable_number(n: &serde_json::Number) -> Result<(), &'static str> {
    if !n.is_f64() {
        return Ok(());
    }
    let x = n.as_f64().unwrap_or(f64::INFINITY);
    // An f64 never has more than 17 significant digits.
    if x == 0.0 || (1e-130..1e126).contains(&x.abs()) {
        Ok(())
    } else {
        Err("outside the numbers DynamoDB stores (magnitudes 1e-130 to 1e125, at most 38 digits)")
    }
}

/// Significant digits of a number (1234500 has 5; 0.0012 has 2).
fn number_digits(n: &serde_json::Number) -> usize {
    fn integer_digits(mut x: u64) -> usize {
        if x == 0 {
            return 1;
        }
        while x % 10 == 0 {
            x /= 10;
        }
        (x.ilog10() + 1) as usize
    }
    if let Some(u) = n.as_u64() {
        integer_digits(u)
    } else if let Some(i) = n.as_i64() {
        integer_digits(i.unsigned_abs())
    } else {
        // Counted as the number is written, without building its text: the meter sizes every
        // number of every item written, and a string per number was a tenth of a nightly run.
        #[derive(Default)]
        struct Digits {
            counted: usize,
            zeros: usize,
            started: bool,
            exponent: bool,
        }
        impl std::fmt::Write for Digits {
            fn write_str(&mut self, text: &str) -> std::fmt::Result {
                for b in text.bytes() {
                    match b {
                        _ if self.exponent => {}
                        b'e' | b'E' => self.exponent = true,
                        b'0' if self.started => self.zeros += 1,
                        b'1'..=b'9' => {
                            // Zeros between significant digits count; trailing ones do not.
                            self.counted += self.zeros + 1;
                            self.zeros = 0;
                            self.started = true;
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
        }
        let mut digits = Digits::default();
        let _ = std::fmt::write(&mut digits, format_args!("{n}"));
        digits.counted.max(1)
    }
}

/// An item's size as DynamoDB counts it: attribute names plus values (strings by their UTF-8
/// bytes, numbers by about one byte per two significant digits plus one, lists and maps with a
/// few bytes of overhead plus a byte per element).
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Null | serde_json::Value::Bool(_) => 1,
            serde_json::Value::Number(n) => 1 + number_digits(n).div_ceil(2),
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(items) => 3 + items.iter().map(|i| 1 + value_size(i)).sum::<usize>(),
            serde_json::Value::Object(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        }
    }
    let number = |n: i64| 1 + (n.unsigned_abs().max(1).ilog10() as usize + 1).div_ceil(2);
    let body: usize = item.body.iter().map(|(k, v)| k.len() + value_size(v)).sum();
    // Key, version and expiry attributes, as the DynamoDB adapter stores them.
    body + 2
        + item.key.pk.len()
        + 2
        + item.key.sk.len()
        + 1
        + number(item.version as i64)
        + item.expires_at.map_or(0, |t| 3 + number(t))
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
    let corrupt = |path: &serde_path_to_error::Path, reason: String| StoreError::Corrupt {
        key: item.key.to_string(),
        reason: crate::redact::scrub(&format!("{path}: {reason}")),
    };
    let decoded = match item.body.unparsed_text() {
        Some(text) => serde_json::from_str(text).ok(),
        None => T::deserialize(&*item.body).ok(),
    };
    if let Some(value) = decoded {
        return Ok(value);
    }
    // Explaining goes through the document whichever form the body has: one more instance of
    // each stored type's decoder in every binary, not two (a binary decodes some forty types).
    serde_path_to_error::deserialize(&*item.body).map_err(|e| corrupt(e.path(), e.inner().to_string()))
}

/// Every item of a table, page by page (for reports and exports; jobs over large tables fan
/// segments out instead).
/// Undecodable items are logged by key and left out.
/// Every item of partition `pk` whose sort key starts with `prefix`, decoded as `T`. An item
/// that cannot be read or decoded is returned as its error beside the others: it never hides
/// them.
pub async fn query_decoded<S: Store, T: serde::de::DeserializeOwned>(
    store: &S,
    pk: &str,
    prefix: &str,
) -> Result<(Vec<T>, Vec<StoreError>), StoreError> {
    let (mut values, mut problems) = (Vec::new(), Vec::new());
    let mut query = Query::prefix(prefix);
    loop {
        let page = store.query(pk, &query).await?;
        problems.extend(page.corrupt);
        for item in page.items {
            match decode::<T>(item) {
                Ok(v) => values.push(v),
                Err(e) => problems.push(e),
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok((values, problems)),
        }
    }
}

pub async fn scan_all<S: Store>(store: &S, prefix_sk: Option<&str>) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut after: Option<Key> = None;
    loop {
        let prefixes = prefix_sk.as_slice();
        let wanted = if prefix_sk.is_some() { Wanted::SortKeys { prefixes, exact: &[] } } else { Wanted::Every };
        let page = store.scan(Segment::WHOLE, after.as_ref(), 1000, Consistency::Strong, wanted).await?;
        for e in &page.corrupt {
            tracing::error!(error = %e, "item not readable; left out of the listing");
        }
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits_as_dynamodb_counts_them() {
        let float = |v: f64| number_digits(&serde_json::Number::from_f64(v).unwrap());
        for (v, want) in
            [(0.0012, 2), (100.5, 4), (1234.5, 5), (1e-30, 1), (1.05e10, 3), (-2.5e-7, 2), (0.1 + 0.2, 17), (0.0, 1)]
        {
            assert_eq!(float(v), want, "{v}");
        }
        for (v, want) in [(0_i64, 1), (1_234_500, 5), (-70, 1), (i64::MIN, 19)] {
            assert_eq!(number_digits(&serde_json::Number::from(v)), want, "{v}");
        }
        assert_eq!(number_digits(&serde_json::Number::from(u64::MAX)), 20);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        inner: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        count: u32,
    }

    /// Text (the embedded store) and documents (DynamoDB) decode alike, and explain a failure
    /// alike: the item's key and the field's path, no position in a text nobody sees.
    #[test]
    fn both_forms_of_a_body_decode_and_explain_alike() {
        let key = Key::new("C#c-1", "P#X");
        let good = r#"{"inner":[{"count":1},{"count":2}]}"#;
        let bad = r#"{"inner":[{"count":1},{"count":"two"}]}"#;
        let document = |text: &str| serde_json::from_str::<Document>(text).unwrap();
        let as_text =
            |text: &str| Item { key: key.clone(), version: 1, expires_at: None, body: Body::of_text(text.into()) };
        let as_tree = |text: &str| Item::new(key.clone(), 1, document(text));
        assert_eq!(decode::<Outer>(as_text(good)).unwrap().inner.len(), 2);
        assert_eq!(decode::<Outer>(as_tree(good)).unwrap().inner.len(), 2);
        let explain = |item: Item| match decode::<Outer>(item) {
            Err(StoreError::Corrupt { key, reason }) => (key, reason),
            other => panic!("expected a corrupt item, got {other:?}"),
        };
        let (from_text, from_tree) = (explain(as_text(bad)), explain(as_tree(bad)));
        assert_eq!(from_text, from_tree);
        assert_eq!(from_text.0, "C#c-1|P#X");
        assert!(from_text.1.starts_with("inner[1].count: invalid type: string"), "{}", from_text.1);
        assert!(!from_text.1.contains("line"), "{}", from_text.1);
    }
}

/// A shared store is a store (one table, many users: the simulation hands it to every function).
impl<S: Store> Store for Arc<S> {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send {
        (**self).get(key)
    }

    fn get_many(
        &self,
        keys: &[Key],
        consistency: Consistency,
    ) -> impl Future<Output = Result<Vec<Fetched>, StoreError>> + Send {
        (**self).get_many(keys, consistency)
    }

    fn query(&self, pk: &str, query: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send {
        (**self).query(pk, query)
    }

    fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send {
        (**self).scan(segment, after, limit, consistency, wanted)
    }

    fn write(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(writes)
    }

    fn meter(&self) -> &Meter {
        (**self).meter()
    }
}
