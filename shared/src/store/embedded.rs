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

use super::cost::{self, Consistency, Meter, Units};
use super::{
    Body, Condition, Document, Fetched, Item, Key, Page, Query, Segment, Store, StoreError, Wanted, Write,
    check_writes, item_size,
};

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    items: RwLock<BTreeMap<Key, Stored>>,
    meter: Meter,
    /// Lines of a saved table that could not be read (a hand edit gone wrong): reported when
    /// loaded, kept as they are and written back on save, never a reason to lose the rest.
    damaged: Vec<String>,
    /// The table's stream, when kept: every applied write of a key the filter keeps, with its
    /// images before and after, in commit order (as DynamoDB Streams delivers them).
    stream: Option<(fn(&Key) -> bool, std::sync::Mutex<Vec<super::Change>>)>,
}

#[derive(Debug, Clone)]
struct Stored {
    version: u64,
    expires_at: Option<i64>,
    /// The item's attributes as JSON text: about a seventh of a document tree's memory (the
    /// nightly bench's million customers: 1.5 GB against 11.1), and what a decoded read parses
    /// anyway.
    body: Arc<str>,
    /// The item's size as DynamoDB counts it, for the meter.
    size: usize,
    /// The partition key's hash, which picks its scan segment (its remainder by the segment
    /// count, so all items of a partition share a segment, as in DynamoDB): computed once, not
    /// per scan page.
    pk_hash: u64,
}

impl Stored {
    fn of(item: Item) -> (Key, Stored) {
        let size = item_size(&item);
        Self::sized(item, size)
    }

    fn sized(item: Item, size: usize) -> (Key, Stored) {
        let pk_hash = crate::hash::fnv1a64(item.key.pk.as_bytes());
        (item.key, Stored { version: item.version, expires_at: item.expires_at, body: item.body.text(), size, pk_hash })
    }
}

/// One line of a saved table.
#[derive(Serialize, Deserialize)]
struct Line<B> {
    pk: String,
    sk: String,
    v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    body: B,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that keeps a stream of the writes of the keys `keep` accepts (the local stand-in
    /// for the table's stream, which the triggers function consumes in production).
    pub fn with_stream(keep: fn(&Key) -> bool) -> Self {
        EmbeddedStore { stream: Some((keep, Default::default())), ..Self::default() }
    }

    /// The changes recorded since the last call, oldest first.
    pub fn take_changes(&self) -> Vec<super::Change> {
        match &self.stream {
            Some((_, changes)) => std::mem::take(&mut *changes.lock().unwrap_or_else(PoisonError::into_inner)),
            None => Vec::new(),
        }
    }

    /// Loads a table saved with [`EmbeddedStore::save`]; a missing file is an empty table. A line
    /// that cannot be read is logged with its line number and kept aside (see
    /// [`EmbeddedStore::damaged_lines`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::new();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(StoreError::Unavailable(format!("cannot read {}: {e}", path.display()))),
        };
        let mut damaged = Vec::new();
        {
            let mut items = store.items.write().unwrap_or_else(PoisonError::into_inner);
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
                let l: Line<Document> = match serde_json::from_str(&line) {
                    Ok(l) => l,
                    Err(e) => {
                        let error =
                            StoreError::Corrupt { key: format!("{}:{}", path.display(), n + 1), reason: e.to_string() };
                        tracing::error!(%error, "saved item not readable; kept aside");
                        damaged.push(line);
                        continue;
                    }
                };
                let item = Item { key: Key::new(l.pk, l.sk), version: l.v, expires_at: l.ttl, body: l.body.into() };
                let (key, stored) = Stored::of(item);
                items.insert(key, stored);
            }
        }
        store.damaged = damaged;
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
                // The text was written from a document, so it is valid JSON as it stands.
                let body: &serde_json::value::RawValue = serde_json::from_str(&s.body).map_err(|e| fail(e.into()))?;
                let line = Line { pk: k.pk.clone(), sk: k.sk.clone(), v: s.version, ttl: s.expires_at, body };
                serde_json::to_writer(&mut out, &line).map_err(|e| fail(e.into()))?;
                out.write_all(b"\n").map_err(fail)?;
            }
            for line in &self.damaged {
                out.write_all(line.as_bytes()).map_err(fail)?;
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

    /// Lines of the loaded file that could not be read.
    pub fn damaged_lines(&self) -> usize {
        self.damaged.len()
    }

    pub fn len(&self) -> usize {
        self.items.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_item(key: &Key, s: &Stored) -> Item {
        Item {
            key: key.clone(),
            version: s.version,
            expires_at: s.expires_at,
            body: Body::of_text(Arc::clone(&s.body)),
        }
    }
}

/// The first `limit` items (at least one) read and, if more follow, where the next page starts
/// (after the last item read); with the sizes of the items read, as stored (for the meter). The
/// page holds the items `wanted` accepts: the others are read and billed, never copied.
fn page_of<'a>(
    mut matching: impl Iterator<Item = (&'a Key, &'a Stored)>,
    limit: usize,
    wanted: Wanted<'_>,
) -> (Page, Vec<usize>) {
    // Sized for a full page at once: a scan's page grown by doubling cost a job more in fresh
    // memory than in copying.
    let limit = limit.max(1);
    let (mut items, mut sizes) = (Vec::with_capacity(limit.min(1000)), Vec::with_capacity(limit.min(1000)));
    let mut last = None;
    for (k, s) in matching.by_ref().take(limit) {
        if wanted.accepts(&k.sk) {
            items.push(EmbeddedStore::to_item(k, s));
        }
        sizes.push(s.size);
        last = Some(k);
    }
    let next = if matching.next().is_some() { last.cloned() } else { None };
    (Page { items, next, corrupt: Vec::new() }, sizes)
}

/// The items of `segment` from `lower` on, in key order. A long partition of another segment (a
/// due-send shard, a job's run) is passed over with one lookup rather than item by item, which
/// with eight segments would walk it eight times; short ones (a customer's) are cheaper to step
/// through than to look past.
fn in_segment<'a>(
    items: &'a BTreeMap<Key, Stored>,
    lower: Bound<Key>,
    segment: Segment,
) -> impl Iterator<Item = (&'a Key, &'a Stored)> {
    const STEPS_BEFORE_A_JUMP: usize = 16;
    let (total, index) = (u64::from(segment.total), u64::from(segment.index));
    let mut range = items.range((lower, Bound::Unbounded));
    // The partition being passed, known by its key's hash: comparing the keys themselves took 3%
    // of a simulation's time. Two neighbouring partitions with one hash only make the jump come
    // early, past the current item's partition, never past an item of the segment.
    let mut passing: Option<(u64, usize)> = None;
    std::iter::from_fn(move || {
        loop {
            let (k, s) = range.next()?;
            if s.pk_hash % total == index {
                return Some((k, s));
            }
            let steps = match passing {
                Some((hash, n)) if hash == s.pk_hash => n + 1,
                _ => 1,
            };
            passing = Some((s.pk_hash, steps));
            if steps == STEPS_BEFORE_A_JUMP {
                // The first key after every key of this partition: its partition key followed
                // by the smallest character sorts after it and before any other partition's.
                range = items.range((Bound::Included(Key::new(format!("{}\0", k.pk), "")), Bound::Unbounded));
                passing = None;
            }
        }
    })
}

fn holds(condition: Condition, current: Option<&Stored>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current.is_some_and(|s| s.version == v),
    }
}

impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let found = items.get(key);
        self.meter.read(cost::item_reads(
            found.map(|s| s.size).into_iter(),
            usize::from(found.is_none()),
            Consistency::Strong,
        ));
        Ok(found.map(|s| Self::to_item(key, s)))
    }

    async fn get_many(&self, keys: &[Key], consistency: Consistency) -> Result<Vec<Fetched>, StoreError> {
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let found: Vec<usize> = chunk.iter().filter_map(|k| items.get(*k).map(|s| s.size)).collect();
            let missing = chunk.len() - found.len();
            self.meter.read(cost::item_reads(found.into_iter(), missing, consistency));
        }
        Ok(keys.iter().map(|k| Ok(items.get(k).map(|s| Self::to_item(k, s)))).collect())
    }

    async fn query(&self, pk: &str, query: &Query) -> Result<Page, StoreError> {
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let prefix = query.sk_prefix.as_str();
        let (page, sizes) = if query.descending {
            let upper = match &query.after {
                Some(after) => Bound::Excluded(after.clone()),
                None => Bound::Included(Key::new(pk, format!("{prefix}{}", char::MAX))),
            };
            let matching = items
                .range((Bound::Unbounded, upper))
                .rev()
                .take_while(|(k, _)| k.pk == pk && k.sk.as_str() >= prefix)
                .filter(|(k, _)| k.sk.starts_with(prefix));
            page_of(matching, query.limit, Wanted::Every)
        } else {
            let lower = match &query.after {
                Some(after) => Bound::Excluded(after.clone()),
                None => Bound::Included(Key::new(pk, prefix)),
            };
            let matching =
                items.range((lower, Bound::Unbounded)).take_while(|(k, _)| k.pk == pk && k.sk.starts_with(prefix));
            page_of(matching, query.limit, Wanted::Every)
        };
        self.meter.read(cost::page_reads(sizes.into_iter(), query.consistency));
        Ok(page)
    }

    async fn scan(
        &self,
        segment: Segment,
        after: Option<&Key>,
        limit: usize,
        consistency: Consistency,
        wanted: Wanted<'_>,
    ) -> Result<Page, StoreError> {
        let segment = Segment::new(segment.index, segment.total)?;
        let items = self.items.read().unwrap_or_else(PoisonError::into_inner);
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.clone()));
        let (page, sizes) = page_of(in_segment(&items, lower, segment), limit, wanted);
        self.meter.read(cost::page_reads(sizes.into_iter(), consistency));
        Ok(page)
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let sizes = check_writes(&writes)?;
        let mut items = self.items.write().unwrap_or_else(PoisonError::into_inner);
        // Billed whether or not the conditions hold, by the larger of each item before and after.
        let transactional = writes.len() > 1;
        let mut units = Units::default();
        let mut failed = Vec::new();
        for (i, (w, after)) in writes.iter().zip(&sizes).enumerate() {
            let current = items.get(w.key());
            units.writes += cost::write_units(current.map_or(0, |s| s.size), *after, transactional);
            if !holds(w.condition(), current) {
                failed.push(i);
            }
        }
        self.meter.wrote(units);
        if !failed.is_empty() {
            return Err(StoreError::ConditionFailed { failed });
        }
        let mut changes = Vec::new();
        for (w, size) in writes.into_iter().zip(sizes) {
            let streamed = self.stream.as_ref().is_some_and(|(keep, _)| keep(w.key()));
            match w {
                Write::Put { item, .. } => {
                    let new = streamed.then(|| item.clone());
                    let (key, stored) = Stored::sized(item, size);
                    let old = items.insert(key.clone(), stored);
                    if streamed {
                        changes.push(super::Change { old: old.map(|s| Self::to_item(&key, &s)), key, new });
                    }
                }
                Write::Delete { key, .. } => {
                    let old = items.remove(&key);
                    if streamed && old.is_some() {
                        changes.push(super::Change { old: old.map(|s| Self::to_item(&key, &s)), key, new: None });
                    }
                }
                Write::Check { .. } => {}
            }
        }
        if let Some((_, stream)) = &self.stream {
            stream.lock().unwrap_or_else(PoisonError::into_inner).extend(changes);
        }
        Ok(())
    }

    fn meter(&self) -> &Meter {
        &self.meter
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
