//! "Bought together": products that share baskets, for a cart's upsell.
//!
//! A basket is one customer's order lines with the same timestamp. Two products are linked by
//! how many baskets hold both, relative to how many hold each (the cosine of basket
//! co-occurrence), so a product in every basket (the carrier bag) does not link to everything.

use super::data::{Interactions, Signal};
use super::neighbours::{Neighbours, sum_by_item, top_k};

/// Baskets larger than this take part with their first lines only: a wholesale order of 500
/// different products says little about what goes together and costs 250,000 pairs.
pub const MAX_BASKET: usize = 50;

/// Each product's companions, up to `k`.
pub fn bought_together(data: &Interactions, k: usize) -> Neighbours {
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut baskets_of = vec![0u32; data.item_count()];
    for (_, history) in data.by_user() {
        let orders: Vec<_> = history.iter().filter(|e| e.signal == Signal::Order).collect();
        for basket in orders.chunk_by(|a, b| a.at == b.at) {
            let mut items: Vec<u32> = basket.iter().map(|e| e.item).collect();
            items.sort_unstable();
            items.dedup();
            items.truncate(MAX_BASKET);
            for (i, &a) in items.iter().enumerate() {
                baskets_of[a as usize] += 1;
                for &b in &items[i + 1..] {
                    pairs.push((a, b));
                    pairs.push((b, a));
                }
            }
        }
    }
    pairs.sort_unstable();
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); data.item_count()];
    for run in pairs.chunk_by(|x, y| x == y) {
        let (a, b) = run[0];
        let together = run.len() as f32;
        let weight = together / (baskets_of[a as usize] as f32 * baskets_of[b as usize] as f32).sqrt();
        rows[a as usize].push((b, weight));
    }
    for row in &mut rows {
        top_k(row, k);
    }
    Neighbours::from_rows(rows)
}

/// The best companions for a whole cart: each candidate scored by the sum of its links to the
/// cart's products, never a product already in the cart or one `available` rejects.
pub fn for_cart(table: &Neighbours, cart: &[u32], k: usize, available: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    let scores = cart.iter().flat_map(|&a| table.of(a)).filter(|(b, _)| !cart.contains(b) && available(*b)).collect();
    let mut merged = sum_by_item(scores);
    top_k(&mut merged, k);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_come_from_shared_baskets_and_exclude_the_cart() {
        let mut t = Vec::new();
        for u in ["a", "b", "c", "d"] {
            t.push((u, "camera", 100, Signal::Order));
            t.push((u, "card", 100, Signal::Order));
            t.push((u, "bag", 100, Signal::Order));
        }
        t.push(("a", "tripod", 100, Signal::Order));
        t.push(("e", "bag", 5, Signal::Order));
        t.push(("e", "book", 5, Signal::Order));
        // Viewed together is not bought together.
        t.push(("f", "camera", 7, Signal::View));
        t.push(("f", "lens", 8, Signal::View));
        let data = Interactions::from_tuples(t);
        let id = |s: &str| data.items.get(s).unwrap();
        let table = bought_together(&data, 10);
        assert_eq!(table.of(id("camera")).next().map(|x| x.0), Some(id("card")));
        assert!(table.of(id("camera")).all(|(b, _)| b != id("lens") && b != id("book")));
        let picks = for_cart(&table, &[id("camera"), id("card")], 3, |_| true);
        assert_eq!(picks[0].0, id("bag"));
        assert!(picks.iter().all(|(b, _)| *b != id("camera") && *b != id("card")));
        assert!(for_cart(&table, &[id("camera")], 3, |b| b != id("card")).iter().all(|(b, _)| *b != id("card")));
    }
}
