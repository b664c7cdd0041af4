//! Offline evaluation, leave-last-out: each user's most recent interaction is held out, every
//! recommender ranks the whole catalogue for the user from the rest (items the user already has
//! excluded), and a hit is the held-out item in the top 10.
//!
//! Figures, per recommender, all from one split:
//! - **HR@10**: share of users whose held-out item is in their top 10;
//! - **NDCG@10**: the same, discounted by rank (1 / log2(rank + 1));
//! - **coverage**: share of the catalogue recommended to anyone;
//! - **long-tail share**: share of recommended slots given to tail items;
//! - **exposure** by popularity band (head = the most popular 20% of items in the training
//!   data, torso = the next 30%, tail = the rest), against each band's share of training
//!   interactions, so over- and under-exposure show;
//! - quality for **new** users (at most [`NEW_USER_INTERACTIONS`] training interactions)
//!   against **returning** ones.
//!
//! The held-out item is held out whole: every interaction of the user with it leaves the
//! training side, so a repeat of something seen before cannot count as a hit for free.

use serde::Serialize;

use super::blend::{BlendConfig, Model};
use super::content::Describe;
use super::data::{Event, Interactions, distinct_latest};
use super::neighbours::{self, Neighbours, sum_by_item, top_k};
use super::popularity::{self, Band};

/// Users with at most this many training interactions count as new.
pub const NEW_USER_INTERACTIONS: usize = 5;

/// The cut-off of every figure.
pub const CUTOFF: usize = 10;

/// Neighbours per item of the plain item-kNN baseline.
pub const BASELINE_NEIGHBOURS: usize = 50;

/// The training side and each user's held-out item (none for a user with a single item).
pub struct Split {
    pub train: Interactions,
    pub held_out: Vec<Option<u32>>,
}

pub fn leave_last_out(data: &Interactions) -> Split {
    let mut held_out = vec![None; data.user_count()];
    let train = data.map_histories(|u, history| {
        let Some(last) = history.last() else { return Vec::new() };
        let rest: Vec<Event> = history.iter().copied().filter(|e| e.item != last.item).collect();
        if rest.is_empty() {
            return history.to_vec();
        }
        held_out[u as usize] = Some(last.item);
        rest
    });
    Split { train, held_out }
}

/// Quality on a group of users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quality {
    pub users: usize,
    pub hr_at_10: f64,
    pub ndcg_at_10: f64,
}

/// Share of recommended slots, and of training interactions, per band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Exposure {
    pub head: f64,
    pub torso: f64,
    pub tail: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub users: usize,
    pub hr_at_10: f64,
    pub ndcg_at_10: f64,
    pub coverage: f64,
    pub long_tail_share: f64,
    pub exposure: Exposure,
    pub new_users: Quality,
    pub returning_users: Quality,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    /// Each band's share of training interactions (what exposure is compared with).
    pub interactions_by_band: Exposure,
    pub kairos: Figures,
    pub item_knn: Figures,
    pub popularity: Figures,
    /// Kairos's HR@10 over each baseline's.
    pub hr_ratio_to_item_knn: f64,
    pub hr_ratio_to_popularity: f64,
}

/// Runs the three recommenders on one leave-last-out split of `data`.
pub fn compare<'a>(data: &Interactions, describe: impl Fn(u32) -> Option<&'a Describe>, config: BlendConfig) -> Report {
    let split = leave_last_out(data);
    let train = &split.train;
    let now = train.latest();
    let counts = popularity::users_per_item(train);
    let count_score: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
    let bands = popularity::bands(&count_score);
    let popular = popularity::ranking(&count_score);

    let model = Model::train(train, now, describe, |_| true, config);
    let kairos = figures(&split, &bands, |_, h| model.recommend(h, now, CUTOFF).into_iter().map(|p| p.item).collect());
    let knn = neighbours::cosine(train, BASELINE_NEIGHBOURS);
    let item_knn = figures(&split, &bands, |_, h| knn_rank(&knn, &popular, h));
    let popularity = figures(&split, &bands, |_, h| fill(Vec::new(), &popular, h));

    let mut by_band = [0usize; 3];
    for (_, h) in train.by_user() {
        for e in h {
            by_band[band_index(bands[e.item as usize])] += 1;
        }
    }
    let total = train.len().max(1) as f64;
    Report {
        users: data.user_count(),
        items: data.item_count(),
        interactions: data.len(),
        interactions_by_band: Exposure {
            head: by_band[0] as f64 / total,
            torso: by_band[1] as f64 / total,
            tail: by_band[2] as f64 / total,
        },
        hr_ratio_to_item_knn: ratio(kairos.hr_at_10, item_knn.hr_at_10),
        hr_ratio_to_popularity: ratio(kairos.hr_at_10, popularity.hr_at_10),
        kairos,
        item_knn,
        popularity,
    }
}

/// The figures of any ranking on the same leave-last-out split of `data` as [`compare`]'s:
/// `rank` gets a user and their training history, and popularity tops its list up to the
/// cut-off. For rankings that know more than the data, such as a generator's own state.
pub fn evaluate(data: &Interactions, rank: impl Fn(u32, &[Event]) -> Vec<u32> + Sync) -> Figures {
    let split = leave_last_out(data);
    let counts = popularity::users_per_item(&split.train);
    let count_score: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
    let bands = popularity::bands(&count_score);
    let popular = popularity::ranking(&count_score);
    figures(&split, &bands, |u, h| fill(rank(u, h), &popular, h))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::INFINITY }
}

fn band_index(band: Band) -> usize {
    Band::ALL.iter().position(|b| *b == band).unwrap_or(2)
}

/// Plain item-kNN's ranking: each unseen item scored by the sum of its similarities to every
/// item the user has, popularity filling the rest.
fn knn_rank(knn: &Neighbours, popular: &[u32], history: &[Event]) -> Vec<u32> {
    let owned = distinct_latest(history);
    let mut merged = sum_by_item(owned.iter().flat_map(|&(a, _)| knn.of(a)).collect());
    merged.retain(|(b, _)| owned.binary_search_by_key(b, |o| o.0).is_err());
    top_k(&mut merged, CUTOFF);
    fill(merged.into_iter().map(|m| m.0).collect(), popular, history)
}

/// Tops `ranked` up to the cut-off from `popular`, skipping what the user has or already got.
fn fill(mut ranked: Vec<u32>, popular: &[u32], history: &[Event]) -> Vec<u32> {
    let owned = distinct_latest(history);
    for &b in popular {
        if ranked.len() >= CUTOFF {
            break;
        }
        if owned.binary_search_by_key(&b, |o| o.0).is_err() && !ranked.contains(&b) {
            ranked.push(b);
        }
    }
    ranked
}

/// Scores one recommender over every user with a held-out item, split over the cores.
fn figures(split: &Split, bands: &[Band], rank: impl Fn(u32, &[Event]) -> Vec<u32> + Sync) -> Figures {
    let users: Vec<(u32, u32)> =
        split.held_out.iter().enumerate().filter_map(|(u, h)| h.map(|item| (u as u32, item))).collect();
    let results: Vec<(u32, usize, Vec<u32>)> = super::par_map(&users, |&(u, held)| {
        let history = split.train.history(u);
        (held, history.len(), rank(u, history))
    });
    let items = split.train.item_count();
    let mut recommended = vec![false; items];
    let (mut slots, mut by_band) = (0usize, [0usize; 3]);
    let mut groups = [(0usize, 0f64, 0f64); 2];
    for (held, seen, ranked) in &results {
        let position = ranked.iter().take(CUTOFF).position(|b| b == held);
        let gain = position.map_or(0.0, |r| 1.0 / ((r + 2) as f64).log2());
        let g = &mut groups[usize::from(*seen > NEW_USER_INTERACTIONS)];
        g.0 += 1;
        g.1 += f64::from(u8::from(position.is_some()));
        g.2 += gain;
        for &b in ranked.iter().take(CUTOFF) {
            recommended[b as usize] = true;
            by_band[band_index(bands[b as usize])] += 1;
            slots += 1;
        }
    }
    let quality = |(n, hits, gain): (usize, f64, f64)| {
        let d = n.max(1) as f64;
        Quality { users: n, hr_at_10: hits / d, ndcg_at_10: gain / d }
    };
    let all = quality((groups[0].0 + groups[1].0, groups[0].1 + groups[1].1, groups[0].2 + groups[1].2));
    let s = slots.max(1) as f64;
    Figures {
        users: all.users,
        hr_at_10: all.hr_at_10,
        ndcg_at_10: all.ndcg_at_10,
        coverage: recommended.iter().filter(|r| **r).count() as f64 / items.max(1) as f64,
        long_tail_share: by_band[2] as f64 / s,
        exposure: Exposure { head: by_band[0] as f64 / s, torso: by_band[1] as f64 / s, tail: by_band[2] as f64 / s },
        new_users: quality(groups[0]),
        returning_users: quality(groups[1]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::Signal;
    use super::*;

    #[test]
    fn the_last_item_is_held_out_whole_and_single_item_users_only_train() {
        let data = Interactions::from_tuples([
            ("a", "x", 1, Signal::View),
            ("a", "y", 2, Signal::View),
            ("a", "x", 3, Signal::View),
            ("b", "z", 1, Signal::View),
        ]);
        let split = leave_last_out(&data);
        let (x, y) = (data.items.get("x").unwrap(), data.items.get("y").unwrap());
        assert_eq!(split.held_out, vec![Some(x), None]);
        assert_eq!(split.train.history(0).iter().map(|e| e.item).collect::<Vec<_>>(), vec![y]);
        assert_eq!(split.train.history(1).len(), 1);
    }

    #[test]
    fn figures_match_a_shop_worked_by_hand() {
        // In each of 12 groups, 6 customers go a → b → something nobody else has (a miss for
        // everyone), and 4 go a → b, so their held-out b follows their a in the training data.
        let mut t: Vec<(String, String, i64, Signal)> = Vec::new();
        for g in 0..12 {
            for u in 0..10 {
                let user = format!("g{g}u{u}");
                t.push((user.clone(), format!("a{g}"), 1, Signal::View));
                t.push((user.clone(), format!("b{g}"), 2, Signal::View));
                if u < 6 {
                    t.push((user.clone(), format!("z{g}{u}"), 3, Signal::View));
                }
            }
        }
        let data = Interactions::from_tuples(t.iter().map(|(u, i, at, s)| (u.as_str(), i.as_str(), *at, *s)));
        let report = compare(&data, |_| None, BlendConfig::default());
        assert_eq!(report.kairos.users, 120);
        // The 48 a → b customers get their b first; the 72 others cannot be hit (their last
        // product is in nobody's training data, and there are more popular ones to fill with).
        assert!((report.kairos.hr_at_10 - 0.4).abs() < 1e-9, "{report:?}");
        assert!((report.kairos.ndcg_at_10 - 0.4).abs() < 1e-9);
        assert!((report.item_knn.hr_at_10 - 0.4).abs() < 1e-9);
        assert!((report.item_knn.ndcg_at_10 - 0.4).abs() < 1e-9);
        // Popularity shows the ten most popular: every a but the customer's own, never a b.
        assert_eq!(report.popularity.hr_at_10, 0.0);
        assert_eq!(report.kairos.new_users.users, 120);
        assert_eq!(report.hr_ratio_to_popularity, f64::INFINITY);
        let e = report.kairos.exposure;
        assert!((e.head + e.torso + e.tail - 1.0).abs() < 1e-9);
        assert!(report.popularity.coverage < report.kairos.coverage + 1e-9);
    }
}
