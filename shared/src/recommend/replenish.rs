//! Replenishment: how long a product lasts, learnt from the people who buy it again.
//!
//! For each product, the intervals between one customer's consecutive purchases of it (in whole
//! days, same-day orders counted once), pooled over its repeat buyers; the typical interval is
//! their median (robust to the customer who stocked up once). A product counts as replenishable
//! only when enough different customers show it.

use std::collections::BTreeMap;

use super::data::{Interactions, Signal};

const DAY: i64 = 86_400;

/// What it takes to call a product replenishable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplenishConfig {
    /// Distinct customers who bought it at least twice.
    pub min_buyers: usize,
    /// Repurchase intervals observed in all.
    pub min_intervals: usize,
}

impl Default for ReplenishConfig {
    fn default() -> Self {
        Self { min_buyers: 3, min_intervals: 5 }
    }
}

/// Each item's typical repurchase interval in days, or `None` when it is not (yet) known to be
/// bought again.
pub fn intervals(data: &Interactions, config: &ReplenishConfig) -> Vec<Option<u32>> {
    let mut gaps: Vec<Vec<u32>> = vec![Vec::new(); data.item_count()];
    let mut buyers = vec![0usize; data.item_count()];
    for (_, history) in data.by_user() {
        let mut days: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
        for e in history.iter().filter(|e| e.signal == Signal::Order) {
            days.entry(e.item).or_default().push(e.at.div_euclid(DAY));
        }
        for (item, mut d) in days {
            d.dedup();
            if d.len() >= 2 {
                buyers[item as usize] += 1;
                gaps[item as usize].extend(d.windows(2).map(|w| (w[1] - w[0]) as u32));
            }
        }
    }
    gaps.into_iter()
        .zip(buyers)
        .map(|(mut g, b)| {
            if b < config.min_buyers || g.len() < config.min_intervals {
                return None;
            }
            // The lower median: an actual interval, and the shorter of two (offering a refill a
            // little early beats offering it after they ran out).
            let mid = (g.len() - 1) / 2;
            let (_, median, _) = g.select_nth_unstable(mid);
            Some(*median)
        })
        .collect()
}

/// When a customer who last bought an item at `last_order` is due to run out of it.
pub fn due_at(last_order: i64, interval_days: u32) -> i64 {
    last_order + i64::from(interval_days) * DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_the_median_gap_of_repeat_buyers() {
        let mut t = Vec::new();
        for (u, gaps) in [("a", [30, 30]), ("b", [28, 32]), ("c", [31, 90])] {
            let mut at = 0;
            t.push((u, "coffee", at, Signal::Order));
            for g in gaps {
                at += g * DAY;
                t.push((u, "coffee", at, Signal::Order));
                // A second order the same day is the same purchase.
                t.push((u, "coffee", at + 60, Signal::Order));
            }
            t.push((u, "mug", 0, Signal::Order));
            t.push((u, "coffee", at + 5, Signal::View));
        }
        let data = Interactions::from_tuples(t);
        let got = intervals(&data, &ReplenishConfig::default());
        assert_eq!(got[data.items.get("coffee").unwrap() as usize], Some(30));
        assert_eq!(got[data.items.get("mug").unwrap() as usize], None);
        assert_eq!(due_at(0, 30), 30 * DAY);
    }

    #[test]
    fn one_customer_alone_does_not_make_a_product_replenishable() {
        let t: Vec<_> = (0..10).map(|i| ("a", "tea", i * 7 * DAY, Signal::Order)).collect();
        let data = Interactions::from_tuples(t);
        assert_eq!(intervals(&data, &ReplenishConfig::default()), vec![None]);
    }
}
