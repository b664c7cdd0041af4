//! What a catalogue update changed that the customers who looked at the product care about: it
//! is back in stock, or cheaper. Recorded with the product, in the same transaction (only when
//! such a change happens), one item per product, kind and day (the day's latest), kept a month;
//! the daily scheduled-campaign run reads the last days' changes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Product;
use crate::ids::ProductId;
use crate::keys;
use crate::money::{Amount, Currency};
use crate::store::{Condition, Item, Store, StoreError, Write, encode, query_decoded};

/// Changes are kept this long.
const KEEP_DAYS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub product: ProductId,
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Restocked,
    /// The price fell (in one currency: a currency change is not a price drop).
    Cheaper {
        from: Amount,
        to: Amount,
        currency: Currency,
    },
}

impl ChangeKind {
    pub fn name(&self) -> &'static str {
        match self {
            ChangeKind::Restocked => "restock",
            ChangeKind::Cheaper { .. } => "price",
        }
    }

    /// How much cheaper, in percent of the old price.
    pub fn drop_percent(&self) -> Option<f64> {
        match self {
            ChangeKind::Cheaper { from, to, .. } if from.to_f64() > 0.0 => {
                Some((from.to_f64() - to.to_f64()) / from.to_f64() * 100.0)
            }
            _ => None,
        }
    }
}

/// What changed from `old` to `new` (a newer state of the same product).
pub fn between(old: &Product, new: &Product) -> Vec<Change> {
    let mut out = Vec::new();
    let change = |kind| Change { product: new.product_id.clone(), at: new.updated_at, kind };
    if !old.in_stock && new.in_stock {
        out.push(change(ChangeKind::Restocked));
    }
    if let (Some(from), Some(to), Some(currency)) = (old.price, new.price, new.currency)
        && old.currency == new.currency
        && to < from
    {
        out.push(change(ChangeKind::Cheaper { from, to, currency }));
    }
    out
}

/// The writes recording `changes` (each replaces the same day's earlier one of its kind).
pub fn writes(changes: &[Change]) -> Result<Vec<Write>, StoreError> {
    changes
        .iter()
        .map(|c| {
            let key = keys::catalogue_change(c.at.date_naive(), &c.product, c.kind.name());
            let item = Item::new(key.clone(), 1, encode(&key, c)?).expiring(c.at.timestamp() + KEEP_DAYS * 86_400);
            Ok(Write::Put { item, condition: Condition::Always })
        })
        .collect()
}

/// Every change recorded on the days from `from` to `to` (UTC, both included). One that cannot
/// be read is reported and left out.
pub async fn on_days<S: Store>(
    store: &S,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<Change>, Vec<StoreError>), StoreError> {
    let (mut changes, mut problems) = (Vec::new(), Vec::new());
    let mut day = from;
    while day <= to {
        for shard in 0..keys::CATALOGUE_SHARDS {
            let (found, broken) =
                query_decoded::<S, Change>(store, &keys::catalogue_changes_pk(day, shard), "").await?;
            changes.extend(found);
            problems.extend(broken);
        }
        day += Duration::days(1);
    }
    Ok((changes, problems))
}
