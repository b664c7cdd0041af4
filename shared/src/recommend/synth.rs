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
//!
//! [`Truth`] keeps what generated each customer's last interaction (the session's category and
//! favourite brand, or the consumable being re-bought), so [`ceiling`] can rank as only the
//! generator could: the most any recommender can hope for on this shop.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};

use super::content::Describe;
use super::data::{Event, Interactions, Row, Signal, Vocabulary, distinct_latest};
use super::eval::{CUTOFF, Figures, evaluate};

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

/// The generated interactions and the catalogue, aligned by item index, and the truth behind
/// them.
pub struct Shop {
    pub interactions: Interactions,
    pub catalogue: Vec<Describe>,
    pub truth: Truth,
}

/// What drew a customer's latest interaction.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cause {
    /// A product viewed (or carted, or ordered after viewing it) in a session on `category`,
    /// leaning to `brand`.
    Session { category: usize, brand: Option<usize> },
    /// A consumable re-bought when its cycle came round.
    Replenish { item: u32 },
}

/// The generator's state behind each customer's latest interaction.
pub struct Truth {
    /// Each category's products, most popular first (the order Zipf's law was applied in).
    by_category: Vec<Vec<u32>>,
    brand_of: Vec<usize>,
    /// Per customer, the cause of their latest interaction (by time; the later one generated
    /// on a tie, as the interactions keep generation order within a second).
    latest: Vec<Option<(i64, Cause)>>,
}

/// Zipf's exponent of popularity within a category.
const ZIPF: f64 = 1.1;

impl Truth {
    fn record(&mut self, user: u32, at: i64, cause: Cause) {
        let slot = &mut self.latest[user as usize];
        if slot.is_none_or(|(t, _)| at >= t) {
            *slot = Some((at, cause));
        }
    }

    /// The generator's ranking of what `user` does next: the products of their session's
    /// category by the chance a view there picks them, or the consumable due. Items in
    /// `history` are left out, as every recommender's are.
    pub fn rank(&self, user: u32, history: &[Event]) -> Vec<u32> {
        let owned = distinct_latest(history);
        let unseen = |item: u32| owned.binary_search_by_key(&item, |o| o.0).is_err();
        match self.latest.get(user as usize).copied().flatten().map(|(_, c)| c) {
            None => Vec::new(),
            Some(Cause::Replenish { item }) => [item].into_iter().filter(|&i| unseen(i)).collect(),
            Some(Cause::Session { category, brand }) => {
                let mut chances = self.view_chances(category, brand);
                chances.retain(|&(item, _)| unseen(item));
                chances.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                chances.into_iter().take(CUTOFF).map(|(item, _)| item).collect()
            }
        }
    }

    /// The chance one view in a session on `category` picks each of its products, as
    /// [`generate`] draws it: Zipf over the popularity order, and half the picks of another
    /// brand replaced by one of the three most popular of the favourite `brand`.
    fn view_chances(&self, category: usize, brand: Option<usize>) -> Vec<(u32, f64)> {
        let list = &self.by_category[category];
        let norm: f64 = (1..=list.len()).map(|k| (k as f64).powf(-ZIPF)).sum();
        let weight = |k: usize| ((k + 1) as f64).powf(-ZIPF) / norm;
        let favoured: Vec<usize> = match brand {
            Some(b) => (0..list.len()).filter(|&k| self.brand_of[list[k] as usize] == b).collect(),
            None => Vec::new(),
        };
        let mut chances: Vec<(u32, f64)> = list.iter().enumerate().map(|(k, &item)| (item, weight(k))).collect();
        if favoured.is_empty() {
            return chances;
        }
        let mut moved = 0.0;
        for (k, chance) in chances.iter_mut().enumerate() {
            if favoured.binary_search(&k).is_err() {
                chance.1 *= 0.5;
                moved += chance.1;
            }
        }
        for j in 0..3 {
            let k = favoured.get(j).copied().unwrap_or(favoured[0]);
            chances[k].1 += moved / 3.0;
        }
        chances
    }
}

/// One view in a session on the category whose products, most popular first, are `list`:
/// Zipf over that order, and half the picks of another brand than the favourite `brand` go to
/// one of the favourite's three most popular products there.
fn pick_view(rng: &mut ChaCha8Rng, list: &[u32], zipf: &Zipf<f64>, brand_of: &[usize], brand: Option<usize>) -> u32 {
    let pick = list[zipf.sample(rng) as usize - 1];
    if let Some(b) = brand
        && brand_of[pick as usize] != b
        && rng.random_bool(0.5)
        && let Some(&first) = list.iter().find(|&&p| brand_of[p as usize] == b)
    {
        return list
            .iter()
            .copied()
            .filter(|&p| brand_of[p as usize] == b)
            .nth(rng.random_range(0..3))
            .unwrap_or(first);
    }
    pick
}

/// The generator's own ranking, scored on the same leave-last-out split as
/// [`super::eval::compare`]: the ceiling of HR@10 on this shop.
pub fn ceiling(shop: &Shop) -> Figures {
    evaluate(&shop.interactions, |u, history| shop.truth.rank(u, history))
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
    let mut truth = Truth {
        by_category: by_category.clone(),
        brand_of: items.iter().map(|i| i.brand).collect(),
        latest: vec![None; config.users],
    };
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
                truth.record(user, at, Cause::Replenish { item });
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
            let session = Cause::Session { category: current, brand };
            let zipf = Zipf::new(list.len() as f64, ZIPF).expect("n ≥ 1");
            let views = 1 + (rng.random::<f64>() * 5.0) as usize;
            let mut viewed = Vec::with_capacity(views);
            for _ in 0..views {
                let pick = pick_view(&mut rng, list, &zipf, &truth.brand_of, brand);
                at += rng.random_range(20..300);
                rows.push(Row { user, event: Event { item: pick, at, signal: Signal::View } });
                truth.record(user, at, session);
                viewed.push(pick);
            }
            if rng.random_bool(0.3) {
                let item = viewed[rng.random_range(0..viewed.len())];
                at += rng.random_range(10..120);
                rows.push(Row { user, event: Event { item, at, signal: Signal::Cart } });
                truth.record(user, at, session);
                if rng.random_bool(0.5) {
                    at += rng.random_range(60..600);
                    rows.push(Row { user, event: Event { item, at, signal: Signal::Order } });
                    truth.record(user, at, session);
                    last_order = Some((item, at));
                }
            }
        }
    }
    Shop { interactions: Interactions::new(user_names, item_names, rows), catalogue, truth }
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
mod truth {
    use super::*;

    /// The ceiling's chances are the generator's: drawn views land where they say.
    #[test]
    fn view_chances_are_the_frequencies_of_drawn_views() {
        let shop = generate(&ShopConfig { users: 10, items: 600, categories: 6, ..ShopConfig::default() });
        let truth = &shop.truth;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (category, brand) in [(0, None), (1, Some(0)), (2, Some(3)), (3, Some(4))] {
            let list = &truth.by_category[category];
            let chances = truth.view_chances(category, brand);
            let total: f64 = chances.iter().map(|c| c.1).sum();
            assert!((total - 1.0).abs() < 1e-9, "chances sum to {total}");
            let zipf = Zipf::new(list.len() as f64, ZIPF).unwrap();
            let draws = 200_000;
            let mut seen = std::collections::HashMap::new();
            for _ in 0..draws {
                *seen.entry(pick_view(&mut rng, list, &zipf, &truth.brand_of, brand)).or_insert(0u32) += 1;
            }
            for (item, chance) in chances {
                let share = f64::from(seen.get(&item).copied().unwrap_or(0)) / f64::from(draws);
                // Five standard errors of a share from 200,000 draws.
                let tolerance = 5.0 * (chance * (1.0 - chance) / f64::from(draws)).sqrt() + 1e-4;
                assert!(
                    (share - chance).abs() < tolerance,
                    "{category}/{brand:?}: item {item} drawn {share}, said {chance}"
                );
            }
        }
    }

    #[test]
    fn the_ceiling_ranks_the_due_consumable_first_and_never_what_the_customer_has() {
        let shop = generate(&ShopConfig { users: 300, items: 400, categories: 10, ..ShopConfig::default() });
        let data = &shop.interactions;
        let mut replenished = 0;
        for (u, history) in data.by_user() {
            let ranked = shop.truth.rank(u, &history[..history.len() - 1]);
            let owned = distinct_latest(&history[..history.len() - 1]);
            assert!(ranked.iter().all(|i| owned.binary_search_by_key(i, |o| o.0).is_err()));
            assert!(ranked.len() <= CUTOFF);
            if let Some((_, Cause::Replenish { item })) = shop.truth.latest[u as usize] {
                replenished += 1;
                assert_eq!(history.last().map(|e| e.item), Some(item));
            }
        }
        assert!(replenished > 0, "no customer's last interaction was a re-order");
    }
}

#[cfg(test)]
mod quality {
    use super::super::blend::BlendConfig;
    use super::super::eval::compare;
    use super::*;

    #[test]
    fn no_recommender_beats_the_generators_own_ranking() {
        let shop = generate(&ShopConfig { users: 4000, items: 1500, categories: 30, ..ShopConfig::default() });
        let report = compare(&shop.interactions, |i| shop.catalogue.get(i as usize), BlendConfig::default());
        let best = ceiling(&shop);
        eprintln!("ceiling {best:?}");
        assert_eq!(best.users, report.kairos.users);
        assert!(
            best.hr_at_10 > report.kairos.hr_at_10 && best.hr_at_10 > report.item_knn.hr_at_10,
            "{best:?} {report:?}"
        );
        assert!(best.ndcg_at_10 > report.kairos.ndcg_at_10);
    }

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
