//! The customer partition of the table: how profiles and their parts become items and back.
//!
//! The one place that encodes and decodes profile items ([`crate::keys`] says where they live).
//! A part that cannot be decoded is an error naming its key, for that customer alone.

use chrono::{DateTime, Utc};

use crate::dedupe::IdHash;
use crate::ids::CustomerId;
use crate::keys::{self, PartKind};
use crate::profile::{ArchivedOrders, Browse, ContactPart, Engagement, OrderBook, Profile, ProfilePart};
use crate::store::{Consistency, Item, Key, Query, Segment, Store, StoreError, Wanted, decode, encode};

/// A sort key after every one Kairos writes (the largest character): a scan resumed after it
/// passes the rest of its partition.
const END_OF_PARTITION: &str = "\u{10FFFF}";

/// A scan's filter for the items profiles are made of (parts and archived-order chunks).
pub const PROFILE_ITEMS: Wanted<'static> = Wanted::SortKeys { prefixes: &[keys::PROFILE_PREFIX], exact: &[] };

/// Applied-event markers (of parts too busy to hold their ids) expire after a day.
const MARKER_TTL_SECS: i64 = 86_400;

/// A stored value and the version it was read at (0: not stored yet).
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub fn decode_part<P: ProfilePart>(item: Item) -> Result<Versioned<P>, StoreError> {
    let version = item.version;
    Ok(Versioned { value: decode(item)?, version })
}

pub fn part_item<P: ProfilePart>(customer: &CustomerId, part: &P, version: u64) -> Result<Item, StoreError> {
    let key = keys::part(customer, P::KIND);
    let body = encode(&key, part)?;
    Ok(Item::new(key, version, body))
}

pub fn decode_archive(item: Item) -> Result<Versioned<ArchivedOrders>, StoreError> {
    let version = item.version;
    Ok(Versioned { value: decode(item)?, version })
}

pub fn archive_item(
    customer: &CustomerId,
    chunk: &str,
    archive: &ArchivedOrders,
    version: u64,
) -> Result<Item, StoreError> {
    let key = keys::archive(customer, chunk);
    let body = encode(&key, archive)?;
    Ok(Item::new(key, version, body))
}

/// The marker that remembers one applied event outside its (too busy) part.
pub fn marker_item(customer: &CustomerId, kind: PartKind, id: IdHash, now: DateTime<Utc>) -> Item {
    Item::new(keys::applied_marker(customer, kind, id), 1, Default::default())
        .expiring(now.timestamp() + MARKER_TTL_SECS)
}

/// A new archive chunk's id: unique to the part version it is split from.
pub fn new_chunk_id(customer: &CustomerId, part_version: u64, oldest: &str) -> String {
    let h = crate::hash::mixed64(format!("{customer}#{part_version}#{oldest}").as_bytes());
    format!("{part_version:x}-{:08x}", h & 0xffff_ffff)
}

/// The profile of `customer` from the items of their partition (any order; items that are not
/// profile parts, and archive chunks the orders part does not list, are ignored). `None` if no
/// part exists.
pub fn assemble(customer: &CustomerId, items: Vec<Item>) -> Result<Option<Profile>, StoreError> {
    assemble_parts(customer, items, &PartKind::ALL)
}

/// [`assemble`] decoding only the parts in `reads` (the others stay empty, and cannot fail it):
/// for a reader that needs a few, such as a nightly job.
pub fn assemble_parts(
    customer: &CustomerId,
    items: Vec<Item>,
    reads: &[PartKind],
) -> Result<Option<Profile>, StoreError> {
    let mut profile = Profile::new(customer.clone());
    let mut any = false;
    let mut archives: Vec<(String, Item)> = Vec::new();
    for item in items {
        if let Some(chunk) = keys::archive_chunk(&item.key.sk) {
            archives.push((chunk.to_string(), item));
            continue;
        }
        let Some(kind) = PartKind::of_sk(&item.key.sk) else { continue };
        any = true;
        if !reads.contains(&kind) {
            continue;
        }
        match kind {
            PartKind::Browse => profile.browse = decode_part::<Browse>(item)?.value,
            PartKind::Engagement => profile.engagement = decode_part::<Engagement>(item)?.value,
            PartKind::Orders => profile.orders = decode_part::<OrderBook>(item)?.value,
            PartKind::Contact => profile.contact = decode_part::<ContactPart>(item)?.value,
        }
    }
    for id in &profile.orders.archives {
        match archives.iter().position(|(chunk, _)| chunk == id) {
            Some(i) => profile.archived_orders.push(decode_archive(archives.swap_remove(i).1)?.value),
            None => {
                return Err(StoreError::Corrupt {
                    key: keys::archive(customer, id).to_string(),
                    reason: "the orders part lists this archive chunk, but it is missing".into(),
                });
            }
        }
    }
    Ok(any.then_some(profile))
}

/// Every item of `customer` whose sort key starts with `prefix`, page by page.
pub async fn query_all<S: Store>(store: &S, customer: &CustomerId, prefix: &str) -> Result<Vec<Item>, StoreError> {
    query_all_with(store, customer, prefix, Consistency::Strong).await
}

pub(crate) async fn query_all_with<S: Store>(
    store: &S,
    customer: &CustomerId,
    prefix: &str,
    consistency: Consistency,
) -> Result<Vec<Item>, StoreError> {
    let pk = keys::customer_pk(customer);
    let mut items = Vec::new();
    let mut query = Query { consistency, ..Query::prefix(prefix) };
    loop {
        let page = store.query(&pk, &query).await?;
        if let Some(e) = page.corrupt.into_iter().next() {
            return Err(e);
        }
        items.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(items),
        }
    }
}

/// A customer's output of a nightly job (`sk` its sort key, e.g. [`keys::RECOMMENDATIONS`]),
/// decoded, if there is one.
pub async fn output<S: Store, T: serde::de::DeserializeOwned>(
    store: &S,
    customer: &CustomerId,
    sk: &str,
) -> Result<Option<T>, StoreError> {
    store.get(&crate::store::Key::new(keys::customer_pk(customer), sk)).await?.map(crate::store::decode).transpose()
}

/// One customer's profile (one query), or `None` if they have none.
pub async fn load<S: Store>(store: &S, customer: &CustomerId) -> Result<Option<Profile>, StoreError> {
    assemble(customer, query_all(store, customer, keys::PROFILE_PREFIX).await?)
}

/// [`load`] for readers that may miss the last second's writes (a page being shown), at half
/// the price.
pub async fn load_eventually<S: Store>(store: &S, customer: &CustomerId) -> Result<Option<Profile>, StoreError> {
    assemble(customer, query_all_with(store, customer, keys::PROFILE_PREFIX, Consistency::Eventual).await?)
}

/// The archive chunks the orders part lists, with their versions, in its order.
pub async fn load_archives<S: Store>(
    store: &S,
    customer: &CustomerId,
    ids: &[String],
) -> Result<Vec<(String, Versioned<ArchivedOrders>)>, StoreError> {
    let mut found = query_all(store, customer, keys::ARCHIVE_PREFIX).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let key = keys::archive(customer, id);
        let i = found.iter().position(|item| item.key == key).ok_or_else(|| StoreError::Corrupt {
            key: key.to_string(),
            reason: "the orders part lists this archive chunk, but it is missing".into(),
        })?;
        out.push((id.clone(), decode_archive(found.swap_remove(i))?));
    }
    Ok(out)
}

/// Splits the items of a scan into customers: consecutive items of one customer partition (a
/// scan returns a partition's items together, in sort-key order). Items of other partitions
/// are passed over. The last customer of a page may continue on the next one, so the caller
/// holds it back until the next page (or the end) says it is complete.
#[derive(Debug, Default)]
pub struct CustomerGroups {
    current: Option<(CustomerId, Vec<Item>)>,
}

impl CustomerGroups {
    /// Adds a page's items; returns the customers completed by them.
    pub fn push(&mut self, items: Vec<Item>) -> Vec<(CustomerId, Vec<Item>)> {
        let mut done = Vec::new();
        for item in items {
            let Some(customer) = keys::customer_of(&item.key.pk) else { continue };
            match &mut self.current {
                Some((c, group)) if *c == customer => group.push(item),
                _ => {
                    if let Some(finished) = self.current.replace((customer, vec![item])) {
                        done.push(finished);
                    }
                }
            }
        }
        done
    }

    /// The customer still held back, at the end of the scan.
    pub fn finish(&mut self) -> Option<(CustomerId, Vec<Item>)> {
        self.current.take()
    }
}

/// One segment of the table read as whole customers, page by page, knowing where a hand-over
/// to another invocation must resume so that no customer is read in halves.
pub struct SegmentScan<'a, S> {
    store: &'a S,
    segment: Segment,
    consistency: Consistency,
    wanted: Wanted<'a>,
    start: Option<Key>,
    after: Option<Key>,
    groups: CustomerGroups,
    /// The last item of the last customer handed out.
    resume: Option<Key>,
    finished: bool,
    /// Items that could not be decoded (each logged with its key), so far.
    pub corrupt: u64,
}

impl<'a, S: Store> SegmentScan<'a, S> {
    /// Scans `segment` from after `after` (a previous hand-over's resume point), handing out the
    /// items of each customer that `wanted` accepts (a customer with none is not handed out).
    pub fn new(
        store: &'a S,
        segment: Segment,
        after: Option<Key>,
        consistency: Consistency,
        wanted: Wanted<'a>,
    ) -> Self {
        SegmentScan {
            store,
            segment,
            consistency,
            wanted,
            start: after.clone(),
            resume: after.clone(),
            after,
            groups: CustomerGroups::default(),
            finished: false,
            corrupt: 0,
        }
    }

    /// The customers the next page completes (possibly none), or `None` once the segment is done.
    pub async fn next(&mut self, page_size: usize) -> Result<Option<Vec<(CustomerId, Vec<Item>)>>, StoreError> {
        if self.finished {
            return Ok(None);
        }
        let page = self.store.scan(self.segment, self.after.as_ref(), page_size, self.consistency, self.wanted).await?;
        for e in &page.corrupt {
            tracing::error!(error = %e, "item not readable; its customer is left out of this scan");
        }
        self.corrupt += page.corrupt.len() as u64;
        let mut complete = self.groups.push(page.items);
        match page.next {
            Some(next) => self.after = Some(next),
            None => {
                complete.extend(self.groups.finish());
                self.finished = true;
            }
        }
        if let Some((customer, _)) = complete.last() {
            // Past everything of theirs, not just past the last item handed out: the items a
            // filtered scan passed over, and a part written since that sorts after the last one
            // handed out, must not make them a customer again (read in half) after a hand-over.
            self.resume = Some(Key::new(keys::customer_pk(customer), END_OF_PARTITION));
        }
        Ok(Some(complete))
    }

    /// Where another invocation resumes this segment (it scans after this key): after the
    /// partition of the last whole customer handed out. `None` when the scan is done or has
    /// handed out nobody yet.
    pub fn resume_point(&self) -> Option<&Key> {
        self.resume.as_ref().filter(|r| !self.finished && Some(*r) != self.start.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::{Condition, Write};

    fn customer(id: &str) -> CustomerId {
        CustomerId::new(id).unwrap()
    }

    #[tokio::test]
    async fn a_profile_is_assembled_from_its_parts_and_listed_archives() {
        let store = EmbeddedStore::new();
        let c = customer("c-1");
        let mut orders = OrderBook::default();
        orders.archives.push("a1".into());
        let mut archive = ArchivedOrders::default();
        archive.orders.insert(crate::ids::OrderId::new("o-1").unwrap(), Default::default());
        let writes = vec![
            Write::Put { item: part_item(&c, &orders, 1).unwrap(), condition: Condition::NotExists },
            Write::Put { item: archive_item(&c, "a1", &archive, 1).unwrap(), condition: Condition::NotExists },
            // An unlisted chunk (left by a failed split) is ignored.
            Write::Put { item: archive_item(&c, "stray", &archive, 1).unwrap(), condition: Condition::NotExists },
        ];
        store.write(writes).await.unwrap();
        let p = load(&store, &c).await.unwrap().unwrap();
        assert_eq!(p.archived_orders, vec![archive]);
        assert!(load(&store, &customer("nobody")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_undecodable_part_is_an_error_naming_its_key() {
        let store = EmbeddedStore::new();
        let c = customer("c-2");
        let mut body = crate::store::Document::new();
        body.insert("m".into(), serde_json::json!({"n": "many"}));
        let item = Item::new(keys::part(&c, PartKind::Browse), 1, body);
        store.write(vec![Write::Put { item, condition: Condition::NotExists }]).await.unwrap();
        match load(&store, &c).await {
            Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "C#c-2|P#B"),
            other => panic!("expected a corrupt-item error, got {other:?}"),
        }
        // A reader of other parts is not stopped by it, and still finds the customer.
        let items = query_all(&store, &c, keys::PROFILE_PREFIX).await.unwrap();
        let p = assemble_parts(&c, items, &[PartKind::Orders]).unwrap().expect("a profile");
        assert_eq!(p.orders, OrderBook::default());
    }

    /// A filtered scan handed over mid-segment resumes past the whole partition of the last
    /// customer it handed out: a part written to them since (sorting after what was handed out)
    /// does not make them a customer again, read in half.
    #[tokio::test]
    async fn a_hand_over_resumes_past_the_last_customers_partition() {
        let store = EmbeddedStore::new();
        let ids: Vec<CustomerId> = (0..6).map(|i| customer(&format!("h-{i}"))).collect();
        for c in &ids {
            let mut writes = vec![Write::Put {
                item: part_item(c, &Browse::default(), 1).unwrap(),
                condition: Condition::NotExists,
            }];
            for sk in ["WHY#1", "WHY#2"] {
                let item = Item::new(Key::new(keys::customer_pk(c), sk), 1, Default::default());
                writes.push(Write::Put { item, condition: Condition::NotExists });
            }
            store.write(writes).await.unwrap();
        }
        let mut first = SegmentScan::new(&store, Segment::WHOLE, None, Consistency::Strong, PROFILE_ITEMS);
        let mut handed: Vec<CustomerId> = Vec::new();
        while handed.is_empty() {
            handed.extend(first.next(4).await.unwrap().unwrap().into_iter().map(|(c, _)| c));
        }
        let resume = first.resume_point().cloned().expect("a resume point");
        let last = handed.last().unwrap().clone();
        // Ingest writes a part of the last customer handed out, sorting after their browse part.
        let orders = part_item(&last, &OrderBook::default(), 1).unwrap();
        store.write(vec![Write::Put { item: orders, condition: Condition::NotExists }]).await.unwrap();
        let mut second = SegmentScan::new(&store, Segment::WHOLE, Some(resume), Consistency::Strong, PROFILE_ITEMS);
        while let Some(page) = second.next(4).await.unwrap() {
            handed.extend(page.into_iter().map(|(c, _)| c));
        }
        let mut sorted = handed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), handed.len(), "nobody handed out twice: {handed:?}");
        assert_eq!(handed.len(), ids.len(), "everybody handed out: {handed:?}");
    }

    #[test]
    fn scans_split_into_whole_customers() {
        let item = |pk: &str, sk: &str| Item::new(Key::new(pk, sk), 1, Default::default());
        let mut groups = CustomerGroups::default();
        let first =
            groups.push(vec![item("C#a", "P#B"), item("C#a", "P#O"), item("JOB#x#1", "STATE"), item("C#b", "P#B")]);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1.len(), 2);
        let second = groups.push(vec![item("C#b", "STO")]);
        assert!(second.is_empty());
        let (c, items) = groups.finish().unwrap();
        assert_eq!((c.as_str(), items.len()), ("b", 2));
    }
}
