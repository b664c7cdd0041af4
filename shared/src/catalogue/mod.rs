//! The product catalogue: one item per product, written from `product_updated` events (and the
//! CSV import, which makes the same events), read by recommendations and rendering.
//!
//! The newest update wins: an update applies only when its `occurred_at` (then its event id,
//! to break ties the same way everywhere) is later than the stored one's, so redeliveries,
//! retries and feeds that arrive out of order all leave the same product. Orders and views of
//! products the catalogue does not know are stored as ever; they simply have no title or picture
//! until it does.

pub mod changes;
pub mod import;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::ProductEvent;
use crate::ids::{EventId, ProductId};
use crate::keys;
use crate::money::{Amount, Currency};
use crate::recommend::content::Describe;
use crate::store::{Condition, Item, Store, StoreError, Write, decode, encode, query_decoded};

/// A product as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub in_stock: bool,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The update this state comes from.
    pub updated_at: DateTime<Utc>,
    pub event_id: EventId,
}

impl Product {
    pub fn from_event(event: &ProductEvent) -> Product {
        let d = &event.data;
        Product {
            product_id: d.product_id.clone(),
            title: d.title.as_str().to_string(),
            url: d.url.as_ref().map(|u| u.as_str().to_string()),
            image_url: d.image_url.as_ref().map(|u| u.as_str().to_string()),
            price: d.price,
            currency: d.currency,
            category_path: d.category_path.iter().map(|c| c.as_str().to_string()).collect(),
            brand: d.brand.as_ref().map(|b| b.as_str().to_string()),
            in_stock: d.in_stock,
            attributes: d.attributes.clone(),
            updated_at: event.occurred_at.with_timezone(&Utc),
            event_id: event.id.clone(),
        }
    }

    /// Which of two states of a product is newer: later time, then the larger event id.
    fn newer_than(&self, other: &Product) -> bool {
        (self.updated_at, self.event_id.as_str()) > (other.updated_at, other.event_id.as_str())
    }

    /// What content similarity reads.
    pub fn describe(&self) -> Describe {
        Describe {
            category: self.category_path.clone(),
            brand: self.brand.clone(),
            attributes: self
                .attributes
                .iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                    serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
                    serde_json::Value::Bool(b) => Some((k.clone(), b.to_string())),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// What an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// This very update is already stored (a redelivery).
    Duplicate,
    /// A newer update is stored; this one changes nothing.
    Superseded,
}

/// Conditional writes that lost a race are retried this often before the record is handed
/// back to the queue.
const ATTEMPTS: usize = 10;

/// Applies one update. Safe to repeat and to race: each attempt writes only over the version it
/// read.
pub async fn apply<S: Store>(store: &S, event: &ProductEvent) -> Result<Outcome, StoreError> {
    let product = Product::from_event(event);
    let key = keys::product(&product.product_id);
    let body = encode(&key, &product)?;
    for _ in 0..ATTEMPTS {
        let current = store.get(&key).await?;
        // Back in stock, cheaper: recorded with the product, for the campaigns that tell the
        // customers who looked at it.
        let mut changed = Vec::new();
        let (condition, version) = match &current {
            None => (Condition::NotExists, 1),
            Some(item) => {
                // A stored state that cannot be read is replaced by a valid newer one: the
                // update carries the whole product.
                if let Ok(stored) = decode::<Product>(item.clone()) {
                    // A redelivery repeats id and time. (A feed row imported again repeats
                    // its id at a later time: that is a newer statement and applies.)
                    if stored.event_id == product.event_id && stored.updated_at == product.updated_at {
                        return Ok(Outcome::Duplicate);
                    }
                    if !product.newer_than(&stored) {
                        return Ok(Outcome::Superseded);
                    }
                    changed = changes::between(&stored, &product);
                }
                (Condition::VersionIs(item.version), item.version + 1)
            }
        };
        let mut writes = vec![Write::Put { item: Item::new(key.clone(), version, body.clone()), condition }];
        writes.extend(changes::writes(&changed)?);
        match store.write(writes).await {
            Ok(()) => return Ok(Outcome::Applied),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    // Retryable: the record goes back to the queue and tries again later.
    Err(StoreError::Unavailable(format!("product {} kept changing while being updated", product.product_id)))
}

/// One product, if the catalogue knows it.
pub async fn get<S: Store>(store: &S, id: &ProductId) -> Result<Option<Product>, StoreError> {
    store.get(&keys::product(id)).await?.map(decode).transpose()
}

/// Several products at once (eventually consistent: what a page shows), in the order asked,
/// `None` where the catalogue does not know one; a product that cannot be read fails only itself.
pub async fn get_many<S: Store>(
    store: &S,
    ids: &[&ProductId],
) -> Result<Vec<Result<Option<Product>, StoreError>>, StoreError> {
    let keys: Vec<_> = ids.iter().map(|id| keys::product(id)).collect();
    let fetched = store.get_many(&keys, crate::store::Consistency::Eventual).await?;
    Ok(fetched.into_iter().map(|f| f.and_then(|item| item.map(decode).transpose())).collect())
}

/// The whole catalogue, shard by shard. A product that cannot be read is reported by key and
/// left out; the listing goes on.
pub async fn list<S: Store>(store: &S) -> Result<(Vec<Product>, Vec<StoreError>), StoreError> {
    let (mut products, mut problems) = (Vec::new(), Vec::new());
    for shard in 0..keys::CATALOGUE_SHARDS {
        let (found, broken) = query_decoded::<S, Product>(store, &keys::catalogue_pk(shard), "").await?;
        products.extend(found);
        problems.extend(broken);
    }
    products.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    Ok((products, problems))
}
