//! A shop whose customers' tastes are known, to measure recommenders on.
//!
//! The catalogue has departments of categories, brands, colours and a long tail (popularity
//! within a category follows Zipf's law). Each customer has a few favourite categories, a
//! favourite brand in each, and an activity level from very light to very heavy. They shop in
//! sessions: a session usually continues the previous one's interest, sometimes follows a
//! purchase to its complementary category (shoes → socks), otherwise draws from their tastes.
//! In a session they view a few products of the category, leaning to their brand, add some to
//! the cart and order some. Consumables are re-bought on a per-category cycle.
//!
//! The ground truth is what generated the data: interests that drift from session to session,
//! and favourites that change (one in seven sessions replaces one), which is what a
//! recommender that weighs recent activity can find and one that weighs all history alike
//! cannot.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};

use super::content::Describe;
use super::data::{Event, Interactions, Row, Signal, Vocabulary};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShopConfig {
    pub users: usize,
    pub items: usize,
    pub categories: usize,
    pub days: u32,
    pub seed: u64,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self { users: 20_000, items: 5_000, categories: 60, days: 180, seed: 2026 }
    }
}

/// The generated interactions and the catalogue, aligned by item index.
pub struct Shop {
    pub interactions: Interactions,
    pub catalogue: Vec<Describe>,
}

const DEPARTMENTS: [&str; 6] = ["Outdoor", "Home", "Fashion", "Beauty", "Kitchen", "Sport"];
const COLOURS: [&str; 6] = ["black", "white", "red", "blue", "green", "grey"];
const BRANDS_PER_CATEGORY: usize = 5;
/// Chance per session that one of a customer's favourite categories is replaced.
const DRIFT: f64 = 0.15;
/// Start of the simulated period (2026-01-01T00:00:00Z).
const START: i64 = 1_767_225_600;

struct Item {
    category: usize,
    brand: usize,
}

pub fn generate(config: &ShopConfig) -> Shop {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let categories = config.categories.max(1);
    let items: Vec<Item> = (0..config.items)
        .map(|_| Item { category: rng.random_range(0..categories), brand: rng.random_range(0..BRANDS_PER_CATEGORY) })
        .collect();
    let mut by_category: Vec<Vec<u32>> = vec![Vec::new(); categories];
    for (i, item) in items.iter().enumerate() {
        by_category[item.category].push(i as u32);
    }
    // Each category's order of popularity is its own shuffle; Zipf over the rank.
    for list in &mut by_category {
        for i in (1..list.len()).rev() {
            list.swap(i, rng.random_range(0..=i));
        }
    }
    let complement: Vec<usize> = (0..categories).map(|_| rng.random_range(0..categories)).collect();
    // Every fifth category is consumable, with a cycle of 20 to 60 days.
    let cycle: Vec<Option<i64>> =
        (0..categories).map(|c| (c % 5 == 0).then(|| rng.random_range(20..=60) * 86_400)).collect();
    let catalogue: Vec<Describe> = items
        .iter()
        .enumerate()
        .map(|(i, item)| Describe {
            category: vec![
                DEPARTMENTS[item.category % DEPARTMENTS.len()].to_string(),
                format!("cat-{}", item.category),
            ],
            brand: Some(format!("brand-{}-{}", item.category, item.brand)),
            attributes: vec![("colour".into(), COLOURS[i % COLOURS.len()].into())],
        })
        .collect();

    let mut item_names = Vocabulary::default();
    for i in 0..config.items {
        item_names.intern(&format!("p{i:06}"));
    }
    let mut user_names = Vocabulary::default();
    let activity = LogNormal::new(1.2, 1.0).expect("constant parameters");
    let span = i64::from(config.days.max(1)) * 86_400;
    let mut rows = Vec::new();
    for u in 0..config.users {
        let user = user_names.intern(&format!("c{u:07}"));
        let mut favourites: Vec<(usize, usize)> =
            (0..3).map(|_| (rng.random_range(0..categories), rng.random_range(0..BRANDS_PER_CATEGORY))).collect();
        let sessions = (activity.sample(&mut rng) as usize).clamp(1, 80);
        let mut starts: Vec<i64> = (0..sessions).map(|_| START + rng.random_range(0..span)).collect();
        starts.sort_unstable();
        let mut current = favourites[0].0;
        let mut last_order: Option<(u32, i64)> = None;
        for start in starts {
            let mut at = start;
            // A due consumable is re-ordered first.
            if let Some((item, when)) = last_order
                && let Some(c) = cycle[items[item as usize].category]
                && at - when >= c
                && rng.random_bool(0.6)
            {
                rows.push(Row { user, event: Event { item, at, signal: Signal::Order } });
                last_order = Some((item, at));
                continue;
            }
            // Tastes drift: now and then a favourite gives way to a new interest.
            if rng.random_bool(DRIFT) {
                let slot = rng.random_range(0..favourites.len());
                favourites[slot] = (rng.random_range(0..categories), rng.random_range(0..BRANDS_PER_CATEGORY));
            }
            current = if rng.random_bool(0.55) {
                current
            } else if let (Some((item, _)), true) = (last_order, rng.random_bool(0.35)) {
                complement[items[item as usize].category]
            } else {
                favourites[rng.random_range(0..favourites.len())].0
            };
            let brand = favourites.iter().find(|f| f.0 == current).map(|f| f.1);
            let list = &by_category[current];
            if list.is_empty() {
                continue;
            }
            let zipf = Zipf::new(list.len() as f64, 1.1).expect("n ≥ 1");
            let views = 1 + (rng.random::<f64>() * 5.0) as usize;
            let mut viewed = Vec::with_capacity(views);
            for _ in 0..views {
                let mut pick = list[zipf.sample(&mut rng) as usize - 1];
                if let Some(b) = brand
                    && items[pick as usize].brand != b
                    && rng.random_bool(0.5)
                {
                    // Lean to the favourite brand: the most popular of its products in the category.
                    if let Some(&p) = list.iter().find(|&&p| items[p as usize].brand == b) {
                        pick = list
                            .iter()
                            .copied()
                            .filter(|&p| items[p as usize].brand == b)
                            .nth(rng.random_range(0..3))
                            .unwrap_or(p);
                    }
                }
                at += rng.random_range(20..300);
                rows.push(Row { user, event: Event { item: pick, at, signal: Signal::View } });
                viewed.push(pick);
            }
            if rng.random_bool(0.3) {
                let item = viewed[rng.random_range(0..viewed.len())];
                at += rng.random_range(10..120);
                rows.push(Row { user, event: Event { item, at, signal: Signal::Cart } });
                if rng.random_bool(0.5) {
                    at += rng.random_range(60..600);
                    rows.push(Row { user, event: Event { item, at, signal: Signal::Order } });
                    last_order = Some((item, at));
                }
            }
        }
    }
    Shop { interactions: Interactions::new(user_names, item_names, rows), catalogue }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_is_seeded_and_has_a_long_tail() {
        let config = ShopConfig { users: 2000, items: 800, categories: 20, ..ShopConfig::default() };
        let a = generate(&config);
        let b = generate(&config);
        assert_eq!(a.interactions.len(), b.interactions.len());
        assert_eq!(a.interactions.history(7), b.interactions.history(7));
        assert_eq!(a.catalogue.len(), 800);
        let counts = super::super::popularity::users_per_item(&a.interactions);
        let mut sorted = counts.clone();
        sorted.sort_unstable_by(|x, y| y.cmp(x));
        let top: u32 = sorted[..80].iter().sum();
        let all: u32 = sorted.iter().sum();
        assert!(f64::from(top) > 0.3 * f64::from(all), "top tenth holds {top} of {all}");
        let bottom: u32 = sorted[400..].iter().sum();
        assert!(f64::from(bottom) < 0.15 * f64::from(all), "the bottom half holds {bottom} of {all}");
    }
}

#[cfg(test)]
mod quality {
    use super::super::blend::BlendConfig;
    use super::super::eval::compare;
    use super::*;

    #[test]
    fn on_a_shop_with_drifting_tastes_kairos_beats_item_knn_and_popularity() {
        let shop = generate(&ShopConfig { users: 4000, items: 1500, categories: 30, ..ShopConfig::default() });
        let report = compare(&shop.interactions, |i| shop.catalogue.get(i as usize), BlendConfig::default());
        eprintln!("{report:?}");
        assert!(report.hr_ratio_to_item_knn > 1.05, "{report:?}");
        assert!(report.hr_ratio_to_popularity > 3.0, "{report:?}");
        assert!(report.kairos.coverage > report.item_knn.coverage);
    }
}
