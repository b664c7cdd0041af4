//! The nightly `recommend` job on the segmented fan-out.
//!
//! - **gather**: each segment keeps a uniform sample of its customers' recent interactions
//!   (the [`SAMPLE`] customers with the smallest hashes of their id, their latest
//!   [`TOUCHES`] views, cart lines and order lines each), so what a segment stores is bounded
//!   whatever the shop's size;
//! - **fit**: the merged sample (again the smallest hashes: the same customers whichever way
//!   the base was split) trains the model: sequential neighbours, bundles, decayed popularity and
//!   repurchase intervals, over product ids;
//! - **apply**: every customer's top 10 from their own recent activity, stored under them
//!   (`RECS`), with the reason for each. Rendering a message reads that one item.
//!
//! This job does not read the catalogue: its picks carry no content similarity and are not
//! filtered by stock (whoever renders them must check stock).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::blend::{BlendConfig, Model, Pick, Why};
use super::data::{Event, Interactions, Row, Signal, Vocabulary};
use crate::ids::ProductId;
use crate::jobs::{Output, SegmentedJob};
use crate::keys::{self, PartKind};
use crate::profile::Profile;
use crate::store::Key;

/// Customers a sample keeps.
pub const SAMPLE: usize = 10_000;
/// Interactions kept per sampled customer (and read per customer when applying).
pub const TOUCHES: usize = 32;
/// Recommendations stored per customer.
pub const PICKS: usize = 10;

pub struct RecommendJob;

/// One customer's latest [`TOUCHES`] interactions, oldest first (what the sample keeps).
pub fn touches(profile: &Profile) -> Vec<(&ProductId, i64, Signal)> {
    let mut out = all_touches(profile);
    let cut = out.len().saturating_sub(TOUCHES);
    out.drain(..cut);
    out
}

/// Every interaction the profile holds, oldest first: views, cart lines and every order line.
/// Recommendations exclude all of them (not only the latest), and replenishment reads the last
/// order of each product from them.
pub fn all_touches(profile: &Profile) -> Vec<(&ProductId, i64, Signal)> {
    let mut out: Vec<(&ProductId, i64, Signal)> = Vec::new();
    out.extend(profile.browse.views.iter().map(|v| (&v.product_id, v.at.timestamp(), Signal::View)));
    out.extend(profile.browse.cart.lines.iter().map(|(p, l)| (p, l.updated_at.timestamp(), Signal::Cart)));
    for record in profile.order_records() {
        if let Some(placed) = &record.placed {
            out.extend(placed.lines.iter().map(|l| (&l.product_id, placed.at.timestamp(), Signal::Order)));
        }
    }
    out.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    out
}

/// One sampled interaction: (item index into `items`, seconds, signal 0/1/2).
pub type Touch = (u32, i64, u8);

/// A bounded, mergeable sample of customers' interactions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Product ids the entries refer to.
    pub items: Vec<String>,
    /// (hash of the customer id, interactions as (item, seconds, signal 0/1/2)), by hash.
    pub customers: Vec<(u64, Vec<Touch>)>,
    /// Customers seen, sampled or not.
    pub seen: u64,
    /// `items` by id, rebuilt when needed (not stored).
    #[serde(skip)]
    index: std::collections::HashMap<String, u32>,
}

fn signal_code(s: Signal) -> u8 {
    match s {
        Signal::View => 0,
        Signal::Cart => 1,
        Signal::Order => 2,
    }
}

fn signal_of(code: u8) -> Signal {
    match code {
        2 => Signal::Order,
        1 => Signal::Cart,
        _ => Signal::View,
    }
}

impl Sample {
    fn intern(&mut self, name: &str) -> u32 {
        if self.index.len() != self.items.len() {
            self.index = self.items.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
        }
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// Adds `other`'s customers, keeping the [`SAMPLE`] smallest hashes.
    pub fn merge(&mut self, other: &Sample) {
        let map: Vec<u32> = other.items.iter().map(|n| self.intern(n)).collect();
        for (hash, touches) in &other.customers {
            let touches = touches.iter().filter_map(|&(i, t, s)| map.get(i as usize).map(|&m| (m, t, s))).collect();
            self.customers.push((*hash, touches));
        }
        self.seen += other.seen;
        self.settle();
    }

    /// Keeps the [`SAMPLE`] smallest hashes and drops product ids nobody kept refers to.
    fn settle(&mut self) {
        self.customers.sort_by_key(|c| c.0);
        self.customers.dedup_by_key(|c| c.0);
        self.customers.truncate(SAMPLE);
        let mut used = vec![u32::MAX; self.items.len()];
        let mut items = Vec::new();
        let known = self.items.len();
        for (_, touches) in &mut self.customers {
            // An entry naming no product (a damaged carry) is dropped, never re-pointed.
            touches.retain(|t| (t.0 as usize) < known);
            for t in touches.iter_mut() {
                let Some(slot) = used.get_mut(t.0 as usize) else { continue };
                if *slot == u32::MAX {
                    *slot = items.len() as u32;
                    items.push(std::mem::take(&mut self.items[t.0 as usize]));
                }
                t.0 = *slot;
            }
        }
        self.items = items;
        self.index.clear();
    }

    /// One customer. Between settlings the sample may hold up to twice [`SAMPLE`] customers,
    /// still bounded; the smallest hashes always survive.
    fn add(&mut self, profile: &Profile) {
        self.seen += 1;
        let hash = crate::hash::mixed64(profile.customer_id.as_str().as_bytes());
        let mut entries = Vec::new();
        for (product, at, signal) in touches(profile) {
            entries.push((self.intern(product.as_str()), at, signal_code(signal)));
        }
        self.customers.push((hash, entries));
        if self.customers.len() >= 2 * SAMPLE {
            self.settle();
        }
    }
}

/// The fitted model over product ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecommendModel {
    pub items: Vec<String>,
    pub model: Model,
    /// Customers the sample held, and the base they were drawn from.
    pub sampled: usize,
    pub seen: u64,
}

/// What is stored for a customer: short field names, picks in rank order, no scores (a night
/// writes one of these per customer, and every nightly scan reads it again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecs {
    #[serde(rename = "t")]
    pub refreshed_at: DateTime<Utc>,
    #[serde(rename = "p")]
    pub picks: Vec<StoredPick>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredPick {
    #[serde(rename = "p")]
    pub product: String,
    #[serde(rename = "w")]
    pub why: StoredWhy,
}

/// [`Why`] over product ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum StoredWhy {
    #[serde(rename = "f")]
    Followed {
        #[serde(rename = "s")]
        product: String,
        #[serde(rename = "t")]
        at: i64,
    },
    #[serde(rename = "r")]
    Resembles {
        #[serde(rename = "s")]
        product: String,
        #[serde(rename = "t")]
        at: i64,
    },
    #[serde(rename = "n")]
    Replenish {
        #[serde(rename = "d")]
        due: i64,
    },
    #[serde(rename = "p")]
    Popular,
}

impl StoredWhy {
    /// The customer's product this reason follows from, if it names one.
    pub fn source(&self) -> Option<&str> {
        match self {
            StoredWhy::Followed { product, .. } | StoredWhy::Resembles { product, .. } => Some(product),
            StoredWhy::Replenish { .. } | StoredWhy::Popular => None,
        }
    }
}

impl RecommendModel {
    fn name(&self, i: u32) -> String {
        self.items.get(i as usize).cloned().unwrap_or_default()
    }

    fn stored(&self, p: &Pick) -> StoredPick {
        let why = match p.why {
            Why::Followed { item, at } => StoredWhy::Followed { product: self.name(item), at },
            Why::Resembles { item, at } => StoredWhy::Resembles { product: self.name(item), at },
            Why::Replenish { due } => StoredWhy::Replenish { due },
            Why::Popular => StoredWhy::Popular,
        };
        StoredPick { product: self.name(p.item), why }
    }

    /// The model's index of product `id`, if it knows the product.
    pub fn index(&self, id: &str) -> Option<u32> {
        self.items.binary_search_by(|n| n.as_str().cmp(id)).ok().map(|i| i as u32)
    }

    /// A profile's whole history (oldest first) as the model's events; products the model does
    /// not know take no part.
    pub fn history(&self, profile: &Profile) -> Vec<Event> {
        all_touches(profile)
            .into_iter()
            .filter_map(|(p, at, signal)| self.index(p.as_str()).map(|item| Event { item, at, signal }))
            .collect()
    }

    /// The top `k` for `history` (oldest first), as product ids with their reasons.
    pub fn picks(&self, history: &[Event], now: DateTime<Utc>, k: usize) -> Vec<StoredPick> {
        self.model.recommend(history, now.timestamp(), k).iter().map(|p| self.stored(p)).collect()
    }

    /// A customer's top [`PICKS`] from their recent interactions.
    pub fn for_profile(&self, profile: &Profile, now: DateTime<Utc>) -> Vec<StoredPick> {
        self.picks(&self.history(profile), now, PICKS)
    }
}

/// Trains on a merged sample: products sorted by id, so a customer's ids are found by search.
pub fn train(sample: &Sample) -> RecommendModel {
    let mut order: Vec<u32> = (0..sample.items.len() as u32).collect();
    order.sort_by(|&a, &b| sample.items[a as usize].cmp(&sample.items[b as usize]));
    let mut rank = vec![0u32; sample.items.len()];
    let mut items = Vocabulary::default();
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
        items.intern(&sample.items[i as usize]);
    }
    let mut users = Vocabulary::default();
    let mut rows = Vec::new();
    for (hash, touches) in &sample.customers {
        let user = users.intern(&format!("{hash:016x}"));
        for &(i, at, s) in touches {
            if let Some(&item) = rank.get(i as usize) {
                rows.push(Row { user, event: Event { item, at, signal: signal_of(s) } });
            }
        }
    }
    let data = Interactions::new(users, items, rows);
    let model = Model::train(&data, data.latest(), |_| None, |_| true, BlendConfig::default());
    let names = order.iter().map(|&i| sample.items[i as usize].clone()).collect();
    RecommendModel { items: names, model, sampled: sample.customers.len(), seen: sample.seen }
}

impl SegmentedJob for RecommendJob {
    const NAME: &'static str = "recommend";
    const OUTPUT_SK: &'static str = keys::RECOMMENDATIONS;
    const PARTS: &'static [PartKind] = &[PartKind::Browse, PartKind::Orders];
    // Tonight's picks do not depend on last night's: one that cannot be read (an older format)
    // is replaced, not a reason to leave the customer without recommendations.
    const REPLACES_UNREADABLE_OUTPUT: bool = true;
    type Stats = Sample;
    type Joined = ();
    type Model = RecommendModel;
    type Output = CustomerRecs;

    fn gather(&self, profile: &Profile, _now: DateTime<Utc>, stats: &mut Sample) {
        stats.add(profile);
    }

    fn merge(&self, into: &mut Sample, other: &Sample) {
        into.merge(other);
    }

    fn fit(&self, stats: &Sample) -> RecommendModel {
        train(stats)
    }

    fn model_key(&self) -> Key {
        Key::new(keys::RECOMMEND_MODEL.0, keys::RECOMMEND_MODEL.1)
    }

    fn public_model(&self, model: &RecommendModel) -> serde_json::Value {
        let popular: Vec<&str> =
            model.model.popular.iter().take(50).map(|&i| model.items[i as usize].as_str()).collect();
        serde_json::json!({ "products": model.items.len(), "sampled": model.sampled, "seen": model.seen, "popular": popular })
    }

    fn apply(
        &self,
        profile: &Profile,
        model: &RecommendModel,
        _previous: Option<&CustomerRecs>,
        _joined: Option<&()>,
        now: DateTime<Utc>,
    ) -> Result<Option<Output<CustomerRecs>>, String> {
        Ok(Some(Output::of(CustomerRecs { refreshed_at: now, picks: model.for_profile(profile, now) })))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;
    use crate::ingest::{IngestConfig, Record, ingest_batch};
    use crate::jobs::local::LocalQueue;
    use crate::jobs::runner::{Runner, drain};
    use crate::store::embedded::EmbeddedStore;
    use crate::store::{Store, decode, scan_all};

    /// An embedded store holding a synthetic shop of 60 customers.
    pub(crate) async fn shop(now: DateTime<Utc>) -> EmbeddedStore {
        let store = EmbeddedStore::new();
        let (events, _) = crate::synth::shop_events(7, 60, 3000, now);
        let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        for chunk in bodies.chunks(100) {
            let records: Vec<Record<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| Record { id: Box::leak(format!("m{i}").into_boxed_str()), body: b })
                .collect();
            ingest_batch(&store, &ManualClock::new(now), &IngestConfig::default(), &records).await;
        }
        store
    }

    #[tokio::test]
    async fn a_run_stores_every_customers_picks_never_what_they_have() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        let store = shop(now).await;
        let queue = LocalQueue::new();
        let runner = Runner { store: &store, queue: &queue, job: &RecommendJob };
        runner.start("r1", 4, now).await.unwrap();
        let (_, report) = drain(&runner, now).await.unwrap();
        let report = report.expect("finished");
        assert_eq!(report.customers.read, 60);
        let outputs: Vec<_> = scan_all(&store, Some(keys::RECOMMENDATIONS)).await.unwrap();
        let outputs: Vec<_> = outputs.into_iter().filter(|i| i.key.sk == keys::RECOMMENDATIONS).collect();
        assert_eq!(outputs.len(), 60);
        let mut with_reasons = 0;
        for item in outputs {
            let customer = keys::customer_of(&item.key.pk).unwrap();
            let profile = crate::customers::load(&store, &customer).await.unwrap().unwrap();
            let recs: CustomerRecs = decode(item).unwrap();
            assert!(!recs.picks.is_empty() && recs.picks.len() <= PICKS);
            let own: Vec<&str> = all_touches(&profile).iter().map(|t| t.0.as_str()).collect();
            for p in &recs.picks {
                let replenish = matches!(p.why, StoredWhy::Replenish { .. });
                assert!(replenish || !own.contains(&p.product.as_str()), "{customer} already has {}", p.product);
            }
            with_reasons += usize::from(recs.picks.iter().any(|p| matches!(p.why, StoredWhy::Followed { .. })));
        }
        assert!(with_reasons > 30, "most customers get picks that follow their own activity: {with_reasons}");
        let published = store.get(&Key::new(keys::RECOMMEND_MODEL.0, keys::RECOMMEND_MODEL.1)).await.unwrap().unwrap();
        assert_eq!(published.body["run"], "r1");

        // An output that cannot be read (an older format, a damaged item) is replaced next night.
        let victim = scan_all(&store, Some(keys::RECOMMENDATIONS)).await.unwrap();
        let victim = victim.into_iter().find(|i| i.key.sk == keys::RECOMMENDATIONS).unwrap();
        let mut body = serde_json::Map::new();
        body.insert("picks".into(), serde_json::json!("not a list"));
        let damaged = crate::store::Item::new(victim.key.clone(), victim.version + 1, body);
        let write = crate::store::Write::Put { item: damaged, condition: crate::store::Condition::Always };
        store.write(vec![write]).await.unwrap();
        runner.start("r2", 4, now).await.unwrap();
        let (_, report) = drain(&runner, now).await.unwrap();
        let report = report.expect("finished");
        assert_eq!((report.customers.unreadable, report.customers.written), (0, 60));
        let repaired = store.get(&victim.key).await.unwrap().unwrap();
        assert_eq!(repaired.body["run"], "r2");
    }

    fn apply(profile: &mut Profile, id: &str, at: &str, kind: &str, data: serde_json::Value) {
        let text = serde_json::json!({"schema_version": 1, "id": id, "customer_id": profile.customer_id.as_str(),
            "occurred_at": at, "source": "t", "type": kind, "data": data});
        let event = crate::event::parse_event(&text.to_string(), Utc::now()).unwrap();
        profile.apply(&event).unwrap();
    }

    fn order(profile: &mut Profile, id: &str, at: &str, product: &str) {
        let data = serde_json::json!({"order_id": id, "currency": "EUR", "lines": [{"product_id": product, "unit_price": "5", "quantity": 1}]});
        apply(profile, id, at, "order_placed", data);
    }

    #[test]
    fn a_product_bought_long_before_the_latest_interactions_is_still_never_offered() {
        // Everyone who views the tent goes on to buy the stove.
        let mut sample = Sample::default();
        for i in 0..50 {
            let mut p = Profile::new(crate::ids::CustomerId::new(format!("c{i}")).unwrap());
            apply(
                &mut p,
                &format!("v{i}"),
                "2026-11-01T10:00:00Z",
                "product_viewed",
                serde_json::json!({"product_id": "tent"}),
            );
            order(&mut p, &format!("o{i}"), "2026-11-01T10:05:00Z", "stove");
            sample.add(&p);
        }
        let model = train(&sample);
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let fresh = {
            let mut p = Profile::new(crate::ids::CustomerId::new("new").unwrap());
            apply(&mut p, "nv", "2026-11-10T10:00:00Z", "product_viewed", serde_json::json!({"product_id": "tent"}));
            p
        };
        assert_eq!(model.for_profile(&fresh, now)[0].product, "stove", "the control: the stove follows the tent");
        // This customer bought the stove a year ago, then ordered 40 other things (more than the
        // latest interactions the sample keeps), then viewed the tent.
        let mut p = Profile::new(crate::ids::CustomerId::new("old").unwrap());
        order(&mut p, "old-stove", "2025-11-01T10:00:00Z", "stove");
        for k in 0..40 {
            order(
                &mut p,
                &format!("old-{k}"),
                &format!("2026-0{}-1{}T10:00:00Z", 1 + k % 9, k % 10),
                &format!("thing-{k}"),
            );
        }
        apply(&mut p, "ov", "2026-11-10T10:00:00Z", "product_viewed", serde_json::json!({"product_id": "tent"}));
        assert!(touches(&p).iter().all(|t| t.0.as_str() != "stove"), "the stove is older than the latest interactions");
        let picks = model.for_profile(&p, now);
        assert!(picks.iter().all(|x| x.product != "stove" && x.product != "tent"), "{picks:?}");
    }

    #[test]
    fn samples_are_bounded_and_the_same_however_the_base_is_split() {
        let profile = |i: usize| {
            let mut p = Profile::new(crate::ids::CustomerId::new(format!("c{i}")).unwrap());
            for v in 0..40 {
                let at = Utc.timestamp_opt(1_700_000_000 + v * 60, 0).unwrap();
                crate::profile::browse::record_view(
                    &mut p.browse.views,
                    &ProductId::new(format!("p{}", (i + v as usize) % 97)).unwrap(),
                    at,
                );
            }
            p
        };
        let (mut whole, mut a, mut b) = (Sample::default(), Sample::default(), Sample::default());
        for i in 0..(SAMPLE + 500) {
            let p = profile(i);
            whole.add(&p);
            if i % 2 == 0 { a.add(&p) } else { b.add(&p) }
        }
        let mut merged = Sample::default();
        merged.merge(&a);
        merged.merge(&b);
        whole.merge(&Sample::default());
        assert_eq!(merged.customers.len(), SAMPLE);
        assert_eq!(merged.seen, (SAMPLE + 500) as u64);
        let hashes = |s: &Sample| s.customers.iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(hashes(&merged), hashes(&whole));
        assert!(merged.customers.iter().all(|c| c.1.len() <= TOUCHES));
        let text = serde_json::to_string(&merged).unwrap();
        let back: Sample = serde_json::from_str(&text).unwrap();
        assert_eq!(back.customers, merged.customers);
        assert_eq!(back.items, merged.items);
    }
}
