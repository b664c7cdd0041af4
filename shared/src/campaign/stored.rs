//! Campaigns in the table: deployed versions (a send keeps the version it started with) and the
//! current one of each, which the triggers and dispatch read.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Campaign;
pub use crate::deploy::Deployment;
use crate::deploy::{digest, put_version};
use crate::ids::CampaignId;
use crate::keys;
use crate::store::{Store, StoreError, decode, query_decoded};

/// A deployed version of a campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployed {
    pub version: u32,
    /// A digest of the campaign's content: deploying the same content again changes nothing.
    pub digest: String,
    pub deployed_at: DateTime<Utc>,
    pub campaign: Campaign,
}

/// Deploys `campaign` (already validated): a new version when its content changed, written with
/// the current pointer in one transaction, conditional on the version it replaces (two deploys
/// racing cannot both win).
pub async fn deploy<S: Store>(store: &S, campaign: &Campaign, now: DateTime<Utc>) -> Result<Deployment, StoreError> {
    let current_key = keys::campaign_current(&campaign.id);
    let digest = digest(campaign)?;
    let current = store.get(&current_key).await?;
    let held = match &current {
        Some(item) => {
            let held: Deployed = decode(item.clone())?;
            if held.digest == digest {
                return Ok(Deployment::Unchanged { version: held.version });
            }
            Some((held.version, item.version))
        }
        None => None,
    };
    let version = held.map_or(1, |(v, _)| v + 1);
    let deployed = Deployed { version, digest, deployed_at: now, campaign: campaign.clone() };
    put_version(
        store,
        current_key,
        held.map(|(_, item)| item),
        keys::campaign_version(&campaign.id, version),
        &deployed,
    )
    .await?;
    Ok(if version == 1 { Deployment::Created } else { Deployment::Updated { version } })
}

/// Every deployed campaign's current version. One that cannot be read is reported and left out:
/// it never hides the others.
pub async fn current<S: Store>(store: &S) -> Result<(Vec<Deployed>, Vec<StoreError>), StoreError> {
    query_decoded(store, keys::CAMPAIGNS_PK, "").await
}

/// The version a send started with.
pub async fn version<S: Store>(store: &S, campaign: &CampaignId, version: u32) -> Result<Option<Deployed>, StoreError> {
    store.get(&keys::campaign_version(campaign, version)).await?.map(decode).transpose()
}

/// How long an instance uses the campaigns it read before reading them again: a deploy or a
/// pause reaches every trigger within this.
pub const REFRESH_SECONDS: i64 = 60;

/// The current campaigns, read at most once per [`REFRESH_SECONDS`] per instance. A failed read
/// keeps the campaigns held (and tries again next time); with none held it is the caller's error.
#[derive(Default)]
pub struct Cache {
    held: tokio::sync::Mutex<Option<Held>>,
}

/// When the campaigns were read, and what they were.
type Held = (DateTime<Utc>, Arc<Vec<Deployed>>);

impl Cache {
    pub async fn get<S: Store>(&self, store: &S, now: DateTime<Utc>) -> Result<Arc<Vec<Deployed>>, StoreError> {
        let mut held = self.held.lock().await;
        if let Some((at, campaigns)) = held.as_ref()
            && now - *at < chrono::Duration::seconds(REFRESH_SECONDS)
        {
            return Ok(campaigns.clone());
        }
        match current(store).await {
            Ok((campaigns, broken)) => {
                for e in broken {
                    tracing::error!(error = %crate::redact::scrub(&e.to_string()), "a deployed campaign cannot be read; it is left out");
                }
                let campaigns = Arc::new(campaigns);
                *held = Some((now, campaigns.clone()));
                Ok(campaigns)
            }
            Err(e) => match held.as_mut() {
                Some((at, campaigns)) => {
                    tracing::warn!(error = %crate::redact::scrub(&e.to_string()), "could not read the campaigns; using those held");
                    *at = now;
                    Ok(campaigns.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    fn sample(name: &str) -> Campaign {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../campaigns/{name}.yaml"));
        crate::campaign::load::read(name, &std::fs::read_to_string(path).unwrap()).0.unwrap()
    }

    #[tokio::test]
    async fn deploys_version_only_what_changed_and_keep_every_version() {
        let store = EmbeddedStore::new();
        let now = Utc::now();
        let mut cart = sample("cart-abandoned");
        assert_eq!(deploy(&store, &cart, now).await.unwrap(), Deployment::Created);
        assert_eq!(deploy(&store, &cart, now).await.unwrap(), Deployment::Unchanged { version: 1 });
        cart.name = "Cart reminder, shorter".into();
        assert_eq!(deploy(&store, &cart, now).await.unwrap(), Deployment::Updated { version: 2 });
        deploy(&store, &sample("welcome-1"), now).await.unwrap();
        let (current, broken) = current(&store).await.unwrap();
        assert!(broken.is_empty());
        let mut ids: Vec<(String, u32)> = current.iter().map(|d| (d.campaign.id.to_string(), d.version)).collect();
        ids.sort();
        assert_eq!(ids, [("cart-abandoned".to_string(), 2), ("welcome-1".to_string(), 1)]);
        let first = version(&store, &cart.id, 1).await.unwrap().unwrap();
        assert_eq!(first.campaign.name, "Cart reminder", "a running send keeps the version it started with");
    }
}
