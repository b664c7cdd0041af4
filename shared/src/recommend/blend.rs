//! The recommender messages, the API and the command line share: collaborative neighbours of
//! what the customer did *recently*, content neighbours for items with little history, due
//! replenishments, and time-decayed popularity as the fallback, blended with an optional
//! long-tail boost.
//!
//! Rules every answer keeps: never an item the customer already has (except a replenishable one
//! that is due), never an out-of-stock item, never the same item twice, and the same answer for
//! the same input.

use super::bundle;
use super::content::{self, ContentConfig, Describe};
use super::data::{Event, Interactions, Signal};
use super::neighbours::{self, Neighbours, SequenceConfig, top_k};
use super::popularity;
use super::replenish::{self, ReplenishConfig};

/// How the parts are weighed.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BlendConfig {
    /// How many of the customer's latest distinct items drive the recommendations.
    pub recent: usize,
    /// Each step back in the history multiplies an item's say by this (the latest item counts
    /// most: what someone looked at last says most about what they want next).
    pub recency_decay: f32,
    /// Weight of content neighbours relative to collaborative ones.
    pub content_weight: f32,
    /// Weight of popularity (0–1 scale) added to every candidate, and the order of the fill.
    pub popularity_weight: f32,
    /// Multiplies a candidate's score by `1 + boost × tailness` (0 for the most popular item,
    /// 1 for one nobody touched): more discovery at some cost in hit rate.
    pub long_tail_boost: f32,
    /// A replenishable item is offered from this many days before it is due.
    pub replenish_lead_days: u32,
    /// Popularity halves every this many days.
    pub popularity_half_life_days: f64,
}

impl Default for BlendConfig {
    fn default() -> Self {
        Self {
            recent: 30,
            recency_decay: 0.7,
            content_weight: 0.2,
            popularity_weight: 0.02,
            long_tail_boost: 0.0,
            replenish_lead_days: 7,
            popularity_half_life_days: 30.0,
        }
    }
}

/// Why an item was picked, for the person reading the message or the trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Why {
    /// People who interacted with `item` (which the customer did at `at`) went on to this one.
    Followed { item: u32, at: i64 },
    /// Like `item` (same category, brand or attributes), which the customer interacted with at `at`.
    Resembles { item: u32, at: i64 },
    /// Bought before and due to run out about `due`.
    Replenish { due: i64 },
    /// Popular lately.
    Popular,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    pub item: u32,
    pub score: f32,
    pub why: Why,
}

/// Everything a recommendation reads, built once (the nightly job) and shared by every request.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Model {
    pub collaborative: Neighbours,
    pub content: Neighbours,
    pub bundles: Neighbours,
    /// Time-decayed popularity, scaled so the most popular item is 1.
    pub popularity: Vec<f32>,
    /// The most popular items, best first: the fill when personal candidates run out.
    pub popular: Vec<u32>,
    pub tailness: Vec<f32>,
    /// Typical repurchase interval in days, where known.
    pub repurchase: Vec<Option<u32>>,
    /// Items the catalogue says are out of stock.
    pub out_of_stock: Vec<bool>,
    pub config: BlendConfig,
}

/// The items a fill may draw on: more than any request needs once owned items are skipped.
const POPULAR_FILL: usize = 1000;

/// Score given to a due replenishment: above any blended score, so it leads.
const REPLENISH_SCORE: f32 = 1e3;

impl Model {
    /// Builds every part from `data` as of `now`. `describe` is the catalogue (none for items it
    /// does not know), `in_stock` its stock flag (unknown items count as available).
    pub fn train<'a>(
        data: &Interactions,
        now: i64,
        describe: impl Fn(u32) -> Option<&'a Describe>,
        in_stock: impl Fn(u32) -> bool,
        config: BlendConfig,
    ) -> Model {
        let mut pop = popularity::decayed(data, now, config.popularity_half_life_days);
        let top = pop.iter().copied().fold(0f32, f32::max).max(f32::MIN_POSITIVE);
        pop.iter_mut().for_each(|p| *p /= top);
        let items = data.item_count();
        let collaborative = relative(neighbours::sequential(data, &SequenceConfig::default()));
        let content = content::similar(items, describe, &pop, &ContentConfig::default());
        let mut popular = popularity::ranking(&pop);
        popular.truncate(POPULAR_FILL);
        Model {
            collaborative,
            content,
            bundles: bundle::bought_together(data, 20),
            tailness: popularity::tailness(&pop),
            popular,
            popularity: pop,
            repurchase: replenish::intervals(data, &ReplenishConfig::default()),
            out_of_stock: (0..items as u32).map(|i| !in_stock(i)).collect(),
            config,
        }
    }

    fn available(&self, item: u32) -> bool {
        !self.out_of_stock.get(item as usize).copied().unwrap_or(false)
    }

    fn popularity_of(&self, item: u32) -> f32 {
        self.popularity.get(item as usize).copied().unwrap_or(0.0)
    }

    /// The top `k` for someone whose history (oldest first) is `history`, as of `now`.
    pub fn recommend(&self, history: &[Event], now: i64, k: usize) -> Vec<Pick> {
        let c = &self.config;
        let owned = Owned::of(history);
        let mut recent: Vec<&Owned> = owned.iter().collect();
        recent.sort_unstable_by_key(|o| std::cmp::Reverse(o.latest));
        let has = |item: u32| owned.binary_search_by_key(&item, |o| o.item).is_ok();

        let mut picks = SCRATCH.with_borrow_mut(|scratch| {
            scratch.fit(self.popularity.len());
            let mut say = 1.0f32;
            for o in recent.iter().take(c.recent) {
                let (weight, at) = (say * o.strongest, history[o.latest].at);
                for (b, sim) in self.collaborative.of(o.item) {
                    scratch.add(b, weight * sim, Why::Followed { item: o.item, at });
                }
                for (b, sim) in self.content.of(o.item) {
                    scratch.add(b, c.content_weight * weight * sim, Why::Resembles { item: o.item, at });
                }
                say *= c.recency_decay;
            }
            // Due replenishments of what they ordered.
            for o in &owned {
                let interval = self.repurchase.get(o.item as usize).copied().flatten();
                if let (Some(interval), Some(last_order)) = (interval, o.last_order) {
                    let due = replenish::due_at(last_order, interval);
                    if due - i64::from(c.replenish_lead_days) * 86_400 <= now {
                        scratch.add(o.item, REPLENISH_SCORE, Why::Replenish { due });
                    }
                }
            }
            scratch.drain(|p| {
                let replenish = matches!(p.why, Why::Replenish { .. });
                (replenish || !has(p.item)) && self.available(p.item)
            })
        });
        for p in &mut picks {
            if !matches!(p.why, Why::Replenish { .. }) {
                p.score += c.popularity_weight * self.popularity_of(p.item);
            }
            p.score *= 1.0 + c.long_tail_boost * self.tailness.get(p.item as usize).copied().unwrap_or(1.0);
        }
        sort_top(&mut picks, k);
        if picks.len() < k {
            let taken: Vec<u32> = picks.iter().map(|p| p.item).collect();
            let fill = self
                .popular
                .iter()
                .copied()
                .filter(|&b| !has(b) && self.available(b) && !taken.contains(&b))
                .take(k - picks.len())
                .map(|b| Pick { item: b, score: c.popularity_weight * self.popularity_of(b), why: Why::Popular });
            picks.extend(fill);
        }
        picks
    }

    /// Session-only: recommendations from the products viewed in the current visit (oldest
    /// first) alone, for an anonymous or new visitor. No customer id, nothing stored.
    pub fn for_session(&self, viewed: &[u32], now: i64, k: usize) -> Vec<Pick> {
        let history: Vec<Event> = viewed
            .iter()
            .enumerate()
            .map(|(i, &item)| Event { item, at: now - (viewed.len() - i) as i64, signal: Signal::View })
            .collect();
        self.recommend(&history, now, k)
    }

    /// "Bought together" companions for a cart, in stock and not in it.
    pub fn for_cart(&self, cart: &[u32], k: usize) -> Vec<(u32, f32)> {
        bundle::for_cart(&self.bundles, cart, k, |b| self.available(b))
    }
}

/// One distinct item of a history: where it last occurs, its strongest signal, its last order.
struct Owned {
    item: u32,
    latest: usize,
    strongest: f32,
    last_order: Option<i64>,
}

impl Owned {
    /// Every distinct item of `history`, by item index (one sort, so decades of history stay
    /// cheap).
    fn of(history: &[Event]) -> Vec<Owned> {
        let mut order: Vec<usize> = (0..history.len()).collect();
        order.sort_unstable_by_key(|&p| (history[p].item, p));
        let mut out: Vec<Owned> = Vec::new();
        for p in order {
            let e = &history[p];
            let ordered = (e.signal == Signal::Order).then_some(e.at);
            match out.last_mut() {
                Some(o) if o.item == e.item => {
                    o.latest = p;
                    o.strongest = o.strongest.max(e.signal.weight());
                    o.last_order = ordered.or(o.last_order);
                }
                _ => out.push(Owned { item: e.item, latest: p, strongest: e.signal.weight(), last_order: ordered }),
            }
        }
        out
    }
}

/// Scales each row so its strongest neighbour weighs 1, which puts collaborative and content
/// rows on one footing.
fn relative(table: Neighbours) -> Neighbours {
    let rows = (0..table.item_count() as u32)
        .map(|a| {
            let row: Vec<(u32, f32)> = table.of(a).collect();
            let top = row.first().map_or(1.0, |r| r.1).max(f32::MIN_POSITIVE);
            row.into_iter().map(|(b, w)| (b, w / top)).collect()
        })
        .collect();
    Neighbours::from_rows(rows)
}

/// Where one request adds up its candidates: a score, the strongest single contribution and its
/// reason per item, as arrays over the catalogue (reused by every request on the thread, so a
/// request costs its candidates, not a sort of them).
#[derive(Default)]
struct Scratch {
    /// One slot per item, its fields side by side: a candidate costs one cache line.
    slots: Vec<Slot>,
    touched: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Slot {
    score: f32,
    best: f32,
    why: Why,
}

const EMPTY: Slot = Slot { score: 0.0, best: 0.0, why: Why::Popular };

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl Scratch {
    fn fit(&mut self, items: usize) {
        // Whatever a request that ended early (a panic) left behind is cleared first.
        for &item in &self.touched {
            if let Some(slot) = self.slots.get_mut(item as usize) {
                *slot = EMPTY;
            }
        }
        self.touched.clear();
        if self.slots.len() < items {
            self.slots.resize(items, EMPTY);
        }
    }

    fn add(&mut self, item: u32, score: f32, why: Why) {
        let Some(slot) = self.slots.get_mut(item as usize) else { return };
        // Only positive, finite contributions: a NaN would make an entry that is never marked.
        if !(score > 0.0 && score.is_finite()) {
            return;
        }
        if slot.best == 0.0 {
            self.touched.push(item);
        }
        slot.score += score;
        if score > slot.best {
            slot.best = score;
            slot.why = why;
        }
    }

    /// The candidates `keep` accepts, in item order; leaves the slots clear for the next request.
    fn drain(&mut self, keep: impl Fn(&Pick) -> bool) -> Vec<Pick> {
        let mut out = Vec::with_capacity(self.touched.len());
        self.touched.sort_unstable();
        for &item in &self.touched {
            let slot = std::mem::replace(&mut self.slots[item as usize], EMPTY);
            let pick = Pick { item, score: slot.score, why: slot.why };
            if keep(&pick) {
                out.push(pick);
            }
        }
        self.touched.clear();
        out
    }
}

/// The best `k`, best first; ties by item index so every run agrees.
fn sort_top(picks: &mut Vec<Pick>, k: usize) {
    let mut keyed: Vec<(u32, f32)> = picks.iter().map(|p| (p.item, p.score)).collect();
    top_k(&mut keyed, k);
    let by_item = std::mem::take(picks);
    *picks = keyed
        .into_iter()
        .filter_map(|(item, _)| by_item.binary_search_by_key(&item, |p| p.item).ok().map(|i| by_item[i]))
        .collect();
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn signal(code: u8) -> Signal {
        match code % 3 {
            0 => Signal::View,
            1 => Signal::Cart,
            _ => Signal::Order,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the shop and the customer: never an owned product unless it is a due
        /// replenishment, never an out-of-stock one, never one twice, at most k, the same answer
        /// twice; and a session (no customer at all) keeps the same rules.
        #[test]
        fn answers_keep_every_rule(
            rows in proptest::collection::vec((0u8..30, 0u8..40, 0i64..200, any::<u8>()), 1..400),
            history in proptest::collection::vec((0u8..40, 0i64..200, any::<u8>()), 0..60),
            out in proptest::collection::vec(any::<bool>(), 40),
            boost in 0f32..5.0,
            k in 1usize..15,
        ) {
            let names: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
            let users: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
            let data = Interactions::from_tuples(
                rows.iter().map(|&(u, i, day, s)| (users[u as usize].as_str(), names[i as usize].as_str(), day * 86_400, signal(s))),
            );
            let in_stock = |i: u32| !out.get(i as usize).copied().unwrap_or(false) || i % 7 == 0;
            let config = BlendConfig { long_tail_boost: boost, ..BlendConfig::default() };
            let model = Model::train(&data, data.latest(), |_| None, in_stock, config);
            let items = data.item_count() as u32;
            let history: Vec<Event> = history
                .iter()
                .filter(|h| u32::from(h.0) < items)
                .map(|&(i, day, s)| Event { item: u32::from(i), at: day * 86_400, signal: signal(s) })
                .collect::<Vec<_>>();
            let mut history = history;
            history.sort_by_key(|e| e.at);
            let now = 210 * 86_400;
            let picks = model.recommend(&history, now, k);
            prop_assert!(picks.len() <= k);
            prop_assert_eq!(&picks, &model.recommend(&history, now, k));
            let mut seen = std::collections::HashSet::new();
            for p in &picks {
                prop_assert!(seen.insert(p.item), "twice: {}", p.item);
                prop_assert!(in_stock(p.item), "out of stock: {}", p.item);
                let owned = history.iter().any(|e| e.item == p.item);
                if owned {
                    prop_assert!(matches!(p.why, Why::Replenish { .. }), "owned and not a replenishment: {:?}", p);
                    prop_assert!(model.repurchase[p.item as usize].is_some());
                    prop_assert!(history.iter().any(|e| e.item == p.item && e.signal == Signal::Order));
                }
            }
            let viewed: Vec<u32> = history.iter().map(|e| e.item).collect();
            let session = model.for_session(&viewed, now, k);
            prop_assert!(session.iter().all(|p| !viewed.contains(&p.item) && in_stock(p.item)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::Signal;
    use super::*;

    const DAY: i64 = 86_400;

    fn data() -> Interactions {
        let mut t: Vec<(String, &str, i64, Signal)> = Vec::new();
        for u in 0..30 {
            let user = format!("u{u}");
            t.push((user.clone(), "tent", DAY, Signal::View));
            t.push((user.clone(), "stove", 2 * DAY, Signal::View));
            t.push((user.clone(), "gas", 3 * DAY, Signal::Order));
            if u % 3 == 0 {
                t.push((user.clone(), "gas", 33 * DAY, Signal::Order));
                t.push((user.clone(), "gas", 63 * DAY, Signal::Order));
            }
            t.push((format!("r{u}"), "novel", DAY, Signal::View));
            t.push((format!("r{u}"), "poems", 2 * DAY, Signal::Order));
        }
        Interactions::from_tuples(t.iter().map(|(u, i, at, s)| (u.as_str(), *i, *at, *s)))
    }

    fn model(data: &Interactions, in_stock: impl Fn(u32) -> bool) -> Model {
        Model::train(data, data.latest(), |_| None, in_stock, BlendConfig::default())
    }

    #[test]
    fn recent_views_lead_and_owned_items_are_never_offered() {
        let data = data();
        let m = model(&data, |_| true);
        let id = |s: &str| data.items.get(s).unwrap();
        let history = [Event { item: id("tent"), at: 100, signal: Signal::View }];
        let picks = m.recommend(&history, 200, 3);
        assert_eq!(picks[0].item, id("stove"));
        assert_eq!(picks[0].why, Why::Followed { item: id("tent"), at: 100 });
        assert!(picks.iter().all(|p| p.item != id("tent")));
        assert_eq!(picks.len(), 3, "filled from popularity");
        assert!(picks.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn out_of_stock_items_are_never_offered() {
        let data = data();
        let stove = data.items.get("stove").unwrap();
        let m = model(&data, |i| i != stove);
        let history = [Event { item: data.items.get("tent").unwrap(), at: 100, signal: Signal::View }];
        assert!(m.recommend(&history, 200, 10).iter().all(|p| p.item != stove));
        assert!(m.for_session(&[data.items.get("tent").unwrap()], 200, 10).iter().all(|p| p.item != stove));
    }

    #[test]
    fn a_due_replenishment_comes_back_and_leads() {
        let data = data();
        let m = model(&data, |_| true);
        let gas = data.items.get("gas").unwrap();
        assert_eq!(m.repurchase[gas as usize], Some(30));
        let history = [Event { item: gas, at: 10 * DAY, signal: Signal::Order }];
        let early = m.recommend(&history, 20 * DAY, 5);
        assert!(early.iter().all(|p| p.item != gas), "not due yet");
        let due = m.recommend(&history, 38 * DAY, 5);
        assert_eq!(due[0].item, gas);
        assert_eq!(due[0].why, Why::Replenish { due: 40 * DAY });
    }

    #[test]
    fn a_session_alone_is_enough() {
        let data = data();
        let m = model(&data, |_| true);
        let novel = data.items.get("novel").unwrap();
        let picks = m.for_session(&[novel], 10, 2);
        assert_eq!(picks[0].item, data.items.get("poems").unwrap());
        assert!(picks.iter().all(|p| p.item != novel));
    }

    #[test]
    fn a_cart_gets_companions_not_itself() {
        let mut t = Vec::new();
        for u in ["a", "b", "c"] {
            t.push((u, "phone", 5, Signal::Order));
            t.push((u, "case", 5, Signal::Order));
        }
        let data = Interactions::from_tuples(t);
        let m = model(&data, |_| true);
        let (phone, case) = (data.items.get("phone").unwrap(), data.items.get("case").unwrap());
        assert_eq!(m.for_cart(&[phone], 3), vec![(case, 1.0)]);
    }

    #[test]
    fn the_long_tail_boost_scales_each_score_by_its_tailness() {
        let data = data();
        let mut m = model(&data, |_| true);
        let history = [Event { item: data.items.get("tent").unwrap(), at: 100, signal: Signal::View }];
        let plain = m.recommend(&history, 200, 2);
        m.config.long_tail_boost = 50.0;
        let boosted = m.recommend(&history, 200, 2);
        assert_eq!(plain.len(), 2);
        let mut compared = 0;
        for p in &plain {
            let Some(b) = boosted.iter().find(|b| b.item == p.item) else { continue };
            compared += 1;
            let expected = p.score * (1.0 + 50.0 * m.tailness[p.item as usize]);
            assert!((b.score - expected).abs() <= 1e-4 * expected, "{b:?} vs {p:?}");
        }
        assert!(compared > 0);
        assert!(m.tailness.iter().any(|t| *t > 0.1), "the data has a tail");
    }
}
