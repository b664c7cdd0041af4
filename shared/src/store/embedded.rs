//! The embedded store: the whole table in process memory, optionally saved to a file.
//!
//! It is the local default (the `kairos` command line, the simulation), not a test double: it
//! honours the same conditions, transactions, pagination and parallel-scan segments as
//! DynamoDB, proved by the same contract suite.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write as _};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use super::{Condition, Document, Item, Key, Page, Query, Segment, Store, StoreError, StoreStats, Write, check_writes};

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    items: RwLock<BTreeMap<Key, Stored>>,
    stats: StoreStats,
}

#[derive(Debug, Clone)]
struct Stored {
    version: u64,
    expires_at: Option<i64>,
    body: Arc<Document>,
}

/// One line of a saved table.
#[derive(Serialize, Deserialize)]
struct Line {
    pk: String,
    sk: String,
    v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    body: Document,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a table saved with [`EmbeddedStore::save`]; a missing file is an empty table.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let store = Self::new();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(StoreError::Unavailable(format!("cannot read {}: {e}", path.display()))),
        };
        {
            let mut items = store.items.write().unwrap_or_else(PoisonError::into_inner);
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
                let l: Line = serde_json::from_str(&line).map_err(|e| StoreError::Corrupt {
                    key: format!("{}:{}", path.display(), n + 1),
                    reason: e.to_string(),
                })?;
                items.insert(Key::new(l.pk, l.sk), Stored { version: l.v, expires_at: l.ttl, body: Arc::new(l.body) });
            }
        }
        Ok(store)
    }

    /// Saves the table atomically (write a sibling file, then rename over).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let fail = |e: std::io::Error| StoreError::Unavailable(format!("cannot write {}: {e}", path.display()));
        let tmp = path.with_extension("tmp");
        {
            let mut out = BufWriter::new(std::fs::File::create(&tmp).map_err(fail)?);
            let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
            for (k, s) in items.iter() {
                let line = Line {
                    pk: k.pk.clone(),
                    sk: k.sk.clone(),
                    v: s.version,
                    ttl: s.expires_at,
                    body: (*s.body).clone(),
                };
                serde_json::to_writer(&mut out, &line).map_err(|e| fail(e.into()))?;
                out.write_all(b"\n").map_err(fail)?;
            }
            out.flush().map_err(fail)?;
        }
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// Removes items whose expiry has passed, as DynamoDB's TTL sweeper does eventually.
    pub fn purge_expired(&self, now_unix: i64) -> usize {
        let mut items = self.items.write().unwrap_or_else(PoisonError::into_inner);
        let before = items.len();
        items.retain(|_, s| s.expires_at.is_none_or(|t| t > now_unix));
        before - items.len()
    }

    pub fn len(&self) -> usize {
        self.items.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_item(key: &Key, s: &Stored) -> Item {
        Item { key: key.clone(), version: s.version, expires_at: s.expires_at, body: Arc::clone(&s.body) }
    }
}

/// The first `limit` items (at least one) and, if more follow, where the next page starts.
fn page_of<'a>(mut matching: impl Iterator<Item = (&'a Key, &'a Stored)>, limit: usize) -> Page {
    let items: Vec<Item> = matching.by_ref().take(limit.max(1)).map(|(k, s)| EmbeddedStore::to_item(k, s)).collect();
    let next = if matching.next().is_some() { items.last().map(|i| i.key.clone()) } else { None };
    Page { items, next }
}

fn holds(condition: Condition, current: Option<&Stored>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current.is_some_and(|s| s.version == v),
    }
}

/// Which of `total` segments a partition belongs to: FNV-1a of the partition key, so all
/// items of a partition share a segment, as in DynamoDB.
pub fn segment_of(pk: &str, total: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pk.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(total)) as u32
}

impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.stats.read();
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        Ok(items.get(key).map(|s| Self::to_item(key, s)))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.stats.read();
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        Ok(keys.iter().map(|k| items.get(k).map(|s| Self::to_item(k, s))).collect())
    }

    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        self.stats.read();
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let prefix = query.sk_prefix.as_str();
        let page = if query.descending {
            let upper = match &query.after {
                Some(after) => Bound::Excluded(after.clone()),
                None => Bound::Included(Key::new(pk, format!("{prefix}{}", char::MAX))),
            };
            let matching = items
                .range((Bound::Unbounded, upper))
                .rev()
                .take_while(|(k, _)| k.pk == pk && k.sk.as_str() >= prefix)
                .filter(|(k, _)| k.sk.starts_with(prefix));
            page_of(matching, query.limit)
        } else {
            let lower = match &query.after {
                Some(after) => Bound::Excluded(after.clone()),
                None => Bound::Included(Key::new(pk, prefix)),
            };
            let matching =
                items.range((lower, Bound::Unbounded)).take_while(|(k, _)| k.pk == pk && k.sk.starts_with(prefix));
            page_of(matching, query.limit)
        };
        Ok(page)
    }

    async fn scan(&self, segment: Segment, after: Option<&Key>, limit: usize) -> Result<Page, StoreError> {
        let segment = Segment::new(segment.index, segment.total)?;
        self.stats.read();
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.clone()));
        let in_segment =
            items.range((lower, Bound::Unbounded)).filter(|(k, _)| segment_of(&k.pk, segment.total) == segment.index);
        Ok(page_of(in_segment, limit))
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_writes(&writes)?;
        self.stats.wrote();
        let mut items = self.items.write().unwrap_or_else(PoisonError::into_inner);
        let failed: Vec<usize> = writes
            .iter()
            .enumerate()
            .filter(|(_, w)| !holds(w.condition(), items.get(w.key())))
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return Err(StoreError::ConditionFailed { failed });
        }
        for w in writes {
            match w {
                Write::Put { item, .. } => {
                    items.insert(
                        item.key,
                        Stored { version: item.version, expires_at: item.expires_at, body: item.body },
                    );
                }
                Write::Delete { key, .. } => {
                    items.remove(&key);
                }
                Write::Check { .. } => {}
            }
        }
        Ok(())
    }

    fn stats(&self) -> &StoreStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod contract {
        use super::EmbeddedStore;
        crate::store_contract_tests!(async { EmbeddedStore::new() });
    }

    #[tokio::test]
    async fn saved_tables_load_back() {
        let dir = std::env::temp_dir().join(format!("kairos-embedded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("table.jsonl");
        let store = EmbeddedStore::new();
        let mut body = Document::new();
        body.insert("n".into(), 7.into());
        store
            .write(vec![Write::Put {
                item: Item::new(Key::new("a", "b"), 3, body).expiring(99),
                condition: Condition::Always,
            }])
            .await
            .unwrap();
        store.save(&path).unwrap();
        let loaded = EmbeddedStore::open(&path).unwrap();
        let item = loaded.get(&Key::new("a", "b")).await.unwrap().unwrap();
        assert_eq!((item.version, item.expires_at, item.body["n"].as_i64()), (3, Some(99), Some(7)));
        assert_eq!(loaded.purge_expired(100), 1);
        assert!(loaded.is_empty());
        assert!(EmbeddedStore::open(&dir.join("missing.jsonl")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
