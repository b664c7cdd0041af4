//! Content similarity: items alike in category path, brand and attributes, for products with
//! little or no history (new arrivals, the long tail), where collaborative filtering has nothing
//! to go on.
//!
//! Each item is a TF-IDF vector over its features: every prefix of its category path
//! (`shoes`, `shoes/running`, so a deeper shared path counts more), its brand and each
//! `name=value` attribute. Similarity is the cosine of those vectors.

use super::data::Vocabulary;
use super::neighbours::{Neighbours, top_k};

/// What the catalogue says about an item, as far as similarity goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Describe {
    /// Category path from the root, e.g. `["Shoes", "Running"]`.
    pub category: Vec<String>,
    pub brand: Option<String>,
    pub attributes: Vec<(String, String)>,
}

impl Describe {
    /// The item's features with their depth (1 for all but category levels, which count more
    /// the deeper they are: sharing "Shoes/Running" says more than sharing "Shoes"), normalised
    /// for matching (case and surrounding space ignored).
    fn features(&self) -> Vec<(String, f32)> {
        let norm = |s: &str| s.trim().to_lowercase();
        let mut out = Vec::new();
        let mut path = String::new();
        for level in &self.category {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(&norm(level));
            out.push((format!("c:{path}"), out.len() as f32 + 1.0));
        }
        if let Some(brand) = &self.brand {
            out.push((format!("b:{}", norm(brand)), 1.0));
        }
        for (name, value) in &self.attributes {
            out.push((format!("a:{}={}", norm(name), norm(value)), 1.0));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

/// How [`similar`] builds its table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContentConfig {
    pub k: usize,
    /// A feature shared by more items than this only links its `max_postings` most popular
    /// ones (a root category with 50,000 products would otherwise make the build quadratic;
    /// its weight is small anyway).
    pub max_postings: usize,
}

impl Default for ContentConfig {
    fn default() -> Self {
        Self { k: 20, max_postings: 2000 }
    }
}

/// Content neighbours for items `0..items`; `describe(i)` gives item i's description (or none).
/// `popularity` orders the items a capped feature keeps.
pub fn similar<'a>(
    items: usize,
    describe: impl Fn(u32) -> Option<&'a Describe>,
    popularity: &[f32],
    config: &ContentConfig,
) -> Neighbours {
    let mut features = Vocabulary::default();
    let raw: Vec<Vec<(u32, f32)>> = (0..items as u32)
        .map(|i| {
            describe(i)
                .map(|d| d.features().iter().map(|(f, depth)| (features.intern(f), *depth)).collect())
                .unwrap_or_default()
        })
        .collect();
    let mut df = vec![0u32; features.len()];
    for (f, _) in raw.iter().flatten() {
        df[*f as usize] += 1;
    }
    let idf: Vec<f32> = df.iter().map(|&d| (items as f32 / d as f32).ln().max(0.0) + 1e-3).collect();
    // Unit vectors: weights divided by the item's norm.
    let vectors: Vec<Vec<(u32, f32)>> = raw
        .iter()
        .map(|fs| {
            let weight = |f: u32, depth: f32| idf[f as usize] * depth;
            let norm = fs.iter().map(|&(f, d)| weight(f, d).powi(2)).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            fs.iter().map(|&(f, d)| (f, weight(f, d) / norm)).collect()
        })
        .collect();
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); features.len()];
    let mut by_popularity: Vec<u32> = (0..items as u32).collect();
    by_popularity.sort_by(|&a, &b| {
        let pa = popularity.get(a as usize).copied().unwrap_or(0.0);
        let pb = popularity.get(b as usize).copied().unwrap_or(0.0);
        pb.total_cmp(&pa).then(a.cmp(&b))
    });
    for i in by_popularity {
        for &(f, w) in &vectors[i as usize] {
            let list = &mut postings[f as usize];
            if list.len() < config.max_postings {
                list.push((i, w));
            }
        }
    }
    let mut scores = vec![0f32; items];
    let mut touched = Vec::new();
    let rows = (0..items)
        .map(|a| {
            for &(f, wa) in &vectors[a] {
                for &(b, wb) in &postings[f as usize] {
                    if b as usize != a {
                        if scores[b as usize] == 0.0 {
                            touched.push(b);
                        }
                        scores[b as usize] += wa * wb;
                    }
                }
            }
            let mut row: Vec<(u32, f32)> = touched.iter().map(|&b| (b, scores[b as usize])).collect();
            for &b in &touched {
                scores[b as usize] = 0.0;
            }
            touched.clear();
            top_k(&mut row, config.k);
            row
        })
        .collect();
    Neighbours::from_rows(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &[&str], brand: &str) -> Describe {
        Describe {
            category: path.iter().map(|s| s.to_string()).collect(),
            brand: Some(brand.into()),
            attributes: vec![("colour".into(), "Red".into())],
        }
    }

    #[test]
    fn a_deeper_shared_path_and_brand_make_items_closer() {
        let catalogue = [
            item(&["Shoes", "Running"], "Fleet"),
            item(&["Shoes", "Running"], "Fleet"),
            item(&["Shoes", "Hiking"], "Fleet"),
            item(&["Shoes", "Running"], "Other"),
            item(&["Books"], "Press"),
        ];
        let n = similar(catalogue.len(), |i| catalogue.get(i as usize), &[0.0; 5], &ContentConfig::default());
        let of0: Vec<u32> = n.of(0).map(|(b, _)| b).collect();
        assert_eq!(of0[0], 1, "same path and brand first: {of0:?}");
        assert!(of0.iter().position(|&b| b == 3) < of0.iter().position(|&b| b == 2), "path beats brand: {of0:?}");
        // The book shares only the colour.
        let w: Vec<(u32, f32)> = n.of(0).collect();
        assert!(w.iter().find(|(b, _)| *b == 4).map_or(0.0, |x| x.1) < w[0].1 / 2.0);
    }

    #[test]
    fn undescribed_items_have_no_content_neighbours_and_are_no_ones() {
        let catalogue = [item(&["A"], "x"), item(&["A"], "x")];
        let n = similar(3, |i| catalogue.get(i as usize), &[0.0; 3], &ContentConfig::default());
        assert!(n.of(2).next().is_none());
        assert!(n.of(0).all(|(b, _)| b == 1));
    }

    #[test]
    fn a_crowded_feature_links_only_its_most_popular_items() {
        let catalogue: Vec<Describe> = (0..10).map(|_| item(&["All"], "same")).collect();
        let popularity: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let config = ContentConfig { k: 20, max_postings: 3 };
        let n = similar(10, |i| catalogue.get(i as usize), &popularity, &config);
        let mut of0: Vec<u32> = n.of(0).map(|(b, _)| b).collect();
        of0.sort();
        assert_eq!(of0, vec![7, 8, 9]);
    }
}
