//! Deploying what marketers write (campaigns, the loyalty program): each version kept, for what
//! started with it, and a current pointer, moved in one transaction.

use serde::Serialize;

use crate::store::{Condition, Item, Key, Store, StoreError, Write, encode};

/// What deploying one campaign (or program) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    Created,
    Updated { version: u32 },
    Unchanged { version: u32 },
}

/// A digest of a deployable value's content: deploying the same content again changes nothing.
pub fn digest<T: Serialize>(value: &T) -> Result<String, StoreError> {
    let text = serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(format!("{:016x}", crate::hash::mixed64(text.as_bytes())))
}

/// Writes a new deployed version (kept, for what started with it) and the current pointer to
/// it in one transaction, conditional on the pointer's item version read (`None`: absent).
pub async fn put_version<S: Store, D: Serialize>(
    store: &S,
    current_key: Key,
    current_item_version: Option<u64>,
    version_key: Key,
    deployed: &D,
) -> Result<(), StoreError> {
    let condition = current_item_version.map_or(Condition::NotExists, Condition::VersionIs);
    store
        .write(vec![
            Write::Put {
                item: Item::new(version_key.clone(), 1, encode(&version_key, deployed)?),
                condition: Condition::NotExists,
            },
            Write::Put {
                item: Item::new(
                    current_key.clone(),
                    current_item_version.map_or(1, |v| v + 1),
                    encode(&current_key, deployed)?,
                ),
                condition,
            },
        ])
        .await
}
