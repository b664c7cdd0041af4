//! Item neighbour tables: for each item, its most similar items with a weight.
//!
//! Two ways to build one from interactions:
//! - [`cosine`]: plain item-kNN, the cosine of the binary user × item matrix, the textbook
//!   baseline the evaluation compares against;
//! - [`sequential`]: Kairos's own. Two items are related when the same people interact with
//!   them *close together in time*, and more so when the signals are strong (an order more than
//!   a view) and when one follows the other. What someone looks at next is best predicted by what
//!   they just looked at, not by everything they ever did.
//!
//! Both accumulate one item's row at a time over an inverted index (item → where it occurs), so
//! the work is the number of co-occurring pairs, split over the machine's cores, and the memory is
//! the table itself plus one score array per core.

use super::data::{Event, Interactions};

/// For each item, up to `k` neighbours, strongest first (ties by index).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Neighbours {
    offsets: Vec<u32>,
    items: Vec<u32>,
    weights: Vec<f32>,
}

impl Neighbours {
    /// From one list per item (each sorted strongest first).
    pub fn from_rows(rows: Vec<Vec<(u32, f32)>>) -> Self {
        let total = rows.iter().map(Vec::len).sum();
        let mut table = Self {
            offsets: Vec::with_capacity(rows.len() + 1),
            items: Vec::with_capacity(total),
            weights: Vec::with_capacity(total),
        };
        table.offsets.push(0);
        for row in rows {
            for (item, weight) in row {
                table.items.push(item);
                table.weights.push(weight);
            }
            table.offsets.push(table.items.len() as u32);
        }
        table
    }

    pub fn item_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The neighbours of `item`, strongest first; none for an item the table does not know.
    pub fn of(&self, item: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let i = item as usize;
        let range =
            if i + 1 < self.offsets.len() { self.offsets[i] as usize..self.offsets[i + 1] as usize } else { 0..0 };
        self.items[range.clone()].iter().copied().zip(self.weights[range].iter().copied())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Where each item occurs: (user, position in the user's history).
struct Postings {
    offsets: Vec<usize>,
    entries: Vec<(u32, u32)>,
}

impl Postings {
    fn new(data: &Interactions, first: impl Fn(&[Event]) -> usize) -> Self {
        let mut counts = vec![0usize; data.item_count() + 1];
        for (_, history) in data.by_user() {
            for e in &history[first(history)..] {
                counts[e.item as usize + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut entries = vec![(0, 0); counts[data.item_count()]];
        for (u, history) in data.by_user() {
            let from = first(history);
            for (p, e) in history.iter().enumerate().skip(from) {
                let slot = &mut fill[e.item as usize];
                entries[*slot] = (u, p as u32);
                *slot += 1;
            }
        }
        Self { offsets: counts, entries }
    }

    fn of(&self, item: usize) -> &[(u32, u32)] {
        &self.entries[self.offsets[item]..self.offsets[item + 1]]
    }
}

/// A dense score row for one item at a time, with the list of entries it touched.
struct Row {
    scores: Vec<f32>,
    touched: Vec<u32>,
}

impl Row {
    fn new(items: usize) -> Self {
        Self { scores: vec![0.0; items], touched: Vec::new() }
    }

    fn add(&mut self, item: u32, weight: f32) {
        let s = &mut self.scores[item as usize];
        if *s == 0.0 {
            self.touched.push(item);
        }
        *s += weight;
    }

    /// The `k` best after `normalize`, strongest first; clears the row for the next item.
    fn take_top(&mut self, k: usize, normalize: impl Fn(u32, f32) -> f32) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> =
            self.touched.iter().map(|&b| (b, normalize(b, self.scores[b as usize]))).collect();
        for &b in &self.touched {
            self.scores[b as usize] = 0.0;
        }
        self.touched.clear();
        top_k(&mut out, k);
        out
    }
}

/// Keeps the `k` largest by weight (ties: lower index first), sorted.
pub fn top_k(candidates: &mut Vec<(u32, f32)>, k: usize) {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if candidates.len() > k && k > 0 {
        candidates.select_nth_unstable_by(k - 1, order);
    }
    candidates.truncate(k);
    candidates.sort_unstable_by(order);
}

/// Adds up the weights of each item's entries: one entry per item, in item order.
pub fn sum_by_item(mut entries: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    entries.sort_unstable_by_key(|e| e.0);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(entries.len());
    for (item, weight) in entries {
        match merged.last_mut() {
            Some(last) if last.0 == item => last.1 += weight,
            _ => merged.push((item, weight)),
        }
    }
    merged
}

/// One item's neighbours.
type Row32 = Vec<(u32, f32)>;

/// Runs `row_of` for every item, split over the cores, and collects the rows in item order.
fn build_rows(items: usize, row_of: impl Fn(usize, &mut Row) -> Vec<(u32, f32)> + Sync) -> Neighbours {
    let threads = crate::parallel::cores().min(items.max(1));
    let mut parts: Vec<Vec<(usize, Row32)>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let row_of = &row_of;
                scope.spawn(move || {
                    let mut row = Row::new(items);
                    // Interleaved, so popular items (low indices, seen first) are shared out.
                    (t..items).step_by(threads).map(|a| (a, row_of(a, &mut row))).collect::<Vec<_>>()
                })
            })
            .collect();
        parts =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect();
    });
    let mut rows = vec![Vec::new(); items];
    for (a, row) in parts.into_iter().flatten() {
        rows[a] = row;
    }
    Neighbours::from_rows(rows)
}

/// Plain item-kNN: cosine similarity of the binary user × item matrix, `k` neighbours each.
pub fn cosine(data: &Interactions, k: usize) -> Neighbours {
    // Binary: each user's distinct items, once.
    let distinct = data.map_histories(|_, history| {
        let mut seen: Vec<Event> = super::data::distinct_latest(history).into_iter().map(|(_, p)| history[p]).collect();
        seen.sort_by_key(|e| e.at);
        seen
    });
    let postings = Postings::new(&distinct, |_| 0);
    let users_of: Vec<f32> = (0..data.item_count()).map(|i| postings.of(i).len() as f32).collect();
    build_rows(data.item_count(), |a, row| {
        for &(u, _) in postings.of(a) {
            for e in distinct.history(u) {
                if e.item as usize != a {
                    row.add(e.item, 1.0);
                }
            }
        }
        let na = users_of[a];
        row.take_top(k, |b, c| c / (na * users_of[b as usize]).sqrt())
    })
}

/// How [`sequential`] relates items.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequenceConfig {
    /// Neighbours kept per item.
    pub k: usize,
    /// Two interactions count as related when at most this many steps apart in a history.
    pub window: usize,
    /// Weight of a pair seen in reverse order (b before a) relative to a forward one.
    pub backward: f32,
    /// Only this many of a user's latest interactions take part (bounds the work a very active
    /// customer costs, and keeps tastes current).
    pub history: usize,
    /// Exponent on the neighbour's own frequency in the normalisation: 0.5 is cosine, higher
    /// damps popular items more. Below cosine by default: the item people actually go on to is
    /// more often a popular one (the long-tail boost of the blend is the lever for discovery).
    pub popularity_damping: f32,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self { k: 50, window: 10, backward: 0.5, history: 200, popularity_damping: 0.3 }
    }
}

/// Kairos's neighbours: co-occurrence within a few steps of a history, weighted by closeness,
/// direction and signal strength, normalised by both items' frequencies.
pub fn sequential(data: &Interactions, config: &SequenceConfig) -> Neighbours {
    let first = |h: &[Event]| h.len().saturating_sub(config.history);
    let postings = Postings::new(data, first);
    let mut mass = vec![0f32; data.item_count()];
    for (_, history) in data.by_user() {
        for e in &history[first(history)..] {
            mass[e.item as usize] += strength(e);
        }
    }
    let window = config.window.max(1);
    build_rows(data.item_count(), |a, row| {
        for &(u, p) in postings.of(a) {
            let history = data.history(u);
            let (lo, p) = (first(history), p as usize);
            let here = strength(&history[p]);
            let from = p.saturating_sub(window).max(lo);
            let to = (p + window).min(history.len() - 1);
            for (q, e) in history.iter().enumerate().take(to + 1).skip(from) {
                if q == p || e.item as usize == a {
                    continue;
                }
                let distance = q.abs_diff(p) as f32;
                let direction = if q > p { 1.0 } else { config.backward };
                row.add(e.item, here * strength(e) * direction / distance);
            }
        }
        let na = mass[a].max(f32::MIN_POSITIVE).sqrt();
        row.take_top(config.k, |b, c| {
            c / (na * mass[b as usize].max(f32::MIN_POSITIVE).powf(config.popularity_damping))
        })
    })
}

/// A signal's contribution to a pair (square root, so one order next to one view counts as two
/// views, not four).
fn strength(e: &Event) -> f32 {
    e.signal.weight().sqrt()
}

#[cfg(test)]
mod tests {
    use super::super::data::Signal;
    use super::*;

    fn shop() -> Interactions {
        // Runners buy shoes then socks; readers buy books; everyone has seen the bag.
        let mut t = Vec::new();
        for u in 0..20 {
            let user: &'static str = Box::leak(format!("r{u}").into_boxed_str());
            t.push((user, "bag", 1, Signal::View));
            t.push((user, "shoe", 2, Signal::View));
            t.push((user, "sock", 3, Signal::Order));
        }
        for u in 0..10 {
            let user: &'static str = Box::leak(format!("b{u}").into_boxed_str());
            t.push((user, "bag", 1, Signal::View));
            t.push((user, "book", 2, Signal::Order));
        }
        Interactions::from_tuples(t)
    }

    #[test]
    fn cosine_matches_the_hand_computed_similarities() {
        let data = shop();
        let n = cosine(&data, 10);
        let [bag, shoe, sock, book] = ["bag", "shoe", "sock", "book"].map(|i| data.items.get(i).unwrap());
        let of_shoe: Vec<_> = n.of(shoe).collect();
        // shoe & sock: 20 common of 20 and 20 → 1; shoe & bag: 20 / sqrt(20·30).
        assert_eq!(of_shoe[0], (sock, 1.0));
        assert!((of_shoe[1].1 - 20.0 / (20.0f32 * 30.0).sqrt()).abs() < 1e-6 && of_shoe[1].0 == bag);
        assert!(n.of(book).all(|(b, _)| b == bag));
    }

    #[test]
    fn sequential_neighbours_prefer_what_comes_next() {
        let data = shop();
        let n = sequential(&data, &SequenceConfig::default());
        let (shoe, sock, book) =
            (data.items.get("shoe").unwrap(), data.items.get("sock").unwrap(), data.items.get("book").unwrap());
        assert_eq!(n.of(shoe).next().map(|(b, _)| b), Some(sock));
        assert!(n.of(shoe).all(|(b, _)| b != book), "never seen together");
        assert!(n.of(shoe).all(|(b, w)| b != shoe && w > 0.0));
    }

    #[test]
    fn tables_are_the_same_on_every_build() {
        let data = shop();
        assert_eq!(sequential(&data, &SequenceConfig::default()), sequential(&data, &SequenceConfig::default()));
        assert_eq!(cosine(&data, 2), cosine(&data, 2));
        assert!(cosine(&data, 2).of(99).next().is_none());
    }
}
