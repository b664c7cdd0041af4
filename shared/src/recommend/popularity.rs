//! Popularity: the fallback when nothing personal is known, and the yardstick for "long tail".

use super::data::Interactions;

/// Each item's popularity with time decay: the sum of its signals' weights, each halved for
/// every `half_life_days` before `now`. Items nobody touched score 0.
pub fn decayed(data: &Interactions, now: i64, half_life_days: f64) -> Vec<f32> {
    let rate = std::f64::consts::LN_2 / (half_life_days.max(1e-3) * 86_400.0);
    let mut score = vec![0f64; data.item_count()];
    for (_, history) in data.by_user() {
        for e in history {
            let age = (now - e.at).max(0) as f64;
            score[e.item as usize] += f64::from(e.signal.weight()) * (-rate * age).exp();
        }
    }
    score.into_iter().map(|s| s as f32).collect()
}

/// How many distinct users touched each item.
pub fn users_per_item(data: &Interactions) -> Vec<u32> {
    let mut count = vec![0u32; data.item_count()];
    for (_, history) in data.by_user() {
        for (item, _) in super::data::distinct_latest(history) {
            count[item as usize] += 1;
        }
    }
    count
}

/// Items by score, best first (ties by index): the order a popularity recommender shows.
pub fn ranking(score: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..score.len() as u32).collect();
    order.sort_by(|&a, &b| score[b as usize].total_cmp(&score[a as usize]).then(a.cmp(&b)));
    order
}

/// Where an item sits on the popularity curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// The most popular fifth of the catalogue.
    Head,
    /// The next 30%.
    Torso,
    /// The least popular half, including items nobody has touched yet.
    Tail,
}

impl Band {
    pub const ALL: [Band; 3] = [Band::Head, Band::Torso, Band::Tail];
}

/// Each item's band by its rank in `score` (20% head, 30% torso, 50% tail of the catalogue).
pub fn bands(score: &[f32]) -> Vec<Band> {
    let n = score.len();
    let mut band = vec![Band::Tail; n];
    for (rank, item) in ranking(score).into_iter().enumerate() {
        band[item as usize] = if rank * 5 < n {
            Band::Head
        } else if rank * 2 < n {
            Band::Torso
        } else {
            Band::Tail
        };
    }
    band
}

/// How far into the tail each item is, 0 for the most popular to 1 for one nobody touched, on a
/// log scale (the boost a blend gives long-tail items).
pub fn tailness(score: &[f32]) -> Vec<f32> {
    let top = score.iter().copied().fold(0f32, f32::max);
    let scale = (1.0 + top).ln().max(f32::MIN_POSITIVE);
    score.iter().map(|&s| 1.0 - (1.0 + s.max(0.0)).ln() / scale).collect()
}

#[cfg(test)]
mod tests {
    use super::super::data::Signal;
    use super::*;

    #[test]
    fn recent_interest_outweighs_old_interest() {
        let day = 86_400;
        let data = Interactions::from_tuples([
            ("a", "old", 0, Signal::Order),
            ("b", "old", 0, Signal::Order),
            ("c", "new", 30 * day, Signal::Order),
        ]);
        let pop = decayed(&data, 30 * day, 7.0);
        let (old, new) = (data.items.get("old").unwrap() as usize, data.items.get("new").unwrap() as usize);
        assert!(pop[new] > pop[old], "{pop:?}");
        assert!((pop[old] - 2.0 * 4.0 * 0.5f32.powf(30.0 / 7.0)).abs() < 1e-4);
        assert_eq!(ranking(&pop)[0], new as u32);
    }

    #[test]
    fn bands_split_the_catalogue_by_rank() {
        let score: Vec<f32> = (0..10).map(|i| 10.0 - i as f32).collect();
        let b = bands(&score);
        assert_eq!(b.iter().filter(|x| **x == Band::Head).count(), 2);
        assert_eq!(b.iter().filter(|x| **x == Band::Torso).count(), 3);
        assert_eq!(b[9], Band::Tail);
        let t = tailness(&score);
        assert!(t[0] < 1e-6 && t[9] > t[1]);
    }
}
