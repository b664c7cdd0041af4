//! What earn rules need of the catalogue (a product's category path and brand), held a while per
//! instance: the catalogue changes far more slowly than orders arrive, and a busy shop's orders
//! name the same products again and again.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::ids::ProductId;
use crate::store::{Store, StoreError};

/// A product as earn rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub categories: Vec<String>,
    pub brand: Option<String>,
}

/// How long facts are held before they are read again.
const HELD_SECONDS: i64 = 300;
/// Products held at most (the cache starts afresh past it).
const HELD_PRODUCTS: usize = 100_000;

/// Catalogue facts by product, read at most once per [`HELD_SECONDS`] per instance. A product
/// the catalogue does not know (or cannot read) earns by its order line alone.
#[derive(Default)]
pub struct ProductFacts {
    held: Mutex<HashMap<ProductId, (DateTime<Utc>, Option<Facts>)>>,
}

impl std::fmt::Debug for ProductFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProductFacts")
    }
}

impl ProductFacts {
    /// The facts of `ids`, in order.
    pub async fn get<S: Store>(
        &self,
        store: &S,
        ids: &[&ProductId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Facts>>, StoreError> {
        let fresh = |at: &DateTime<Utc>| *at <= now && now - *at < Duration::seconds(HELD_SECONDS);
        let missing: Vec<&ProductId> = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let mut m: Vec<&ProductId> =
                ids.iter().copied().filter(|id| !held.get(*id).is_some_and(|(at, _)| fresh(at))).collect();
            m.sort();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let read = crate::catalogue::get_many(store, &missing).await?;
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() + missing.len() > HELD_PRODUCTS {
                held.clear();
            }
            for (id, product) in missing.into_iter().zip(read) {
                let facts = match product {
                    Ok(Some(p)) => Some(Facts { categories: p.category_path, brand: p.brand }),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::error!(error = %e, "a product cannot be read; it earns by its order line alone");
                        None
                    }
                };
                held.insert(id.clone(), (now, facts));
            }
        }
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ids.iter().map(|id| held.get(*id).and_then(|(_, f)| f.clone())).collect())
    }
}
