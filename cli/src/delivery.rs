//! `kairos dispatch` (deliver what is due, through the outbox) and `kairos why` (the decision
//! trace in plain sentences).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use kairos::delivery::channel::Outbox;
use kairos::delivery::dispatch::{Dispatcher, Settings};
use kairos::ids::{CampaignId, CustomerId};

use crate::StoreArgs;

/// Settings for a local run: the environment's, with local stand-ins for what a deployment
/// must set (a loopback unsubscribe endpoint; keys made for this run unless given).
pub fn local_settings() -> Result<Settings, String> {
    let run_key = format!("local:{:032x}{:032x}", rand_word(), rand_word());
    let lookup = |name: &str| {
        std::env::var(name).ok().or_else(|| match name {
            "KAIROS_UNSUBSCRIBE_URL" => Some("http://localhost:8787".into()),
            "KAIROS_UNSUBSCRIBE_KEYS" => Some(run_key.clone()),
            "KAIROS_OFFER_SECRET" => Some(run_key.clone()),
            "KAIROS_SHOP_NAME" => Some("Your shop".into()),
            "KAIROS_SHOP_ADDRESS" => Some("Your shop's postal address".into()),
            "KAIROS_SHOP_URL" => Some("https://shop.example".into()),
            "KAIROS_LIST_DOMAIN" => Some("lists.shop.example".into()),
            _ => None,
        })
    };
    Settings::from_lookup(lookup).map_err(|e| e.to_string())
}

fn rand_word() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

pub async fn dispatch(until: Option<DateTime<Utc>>, outbox: PathBuf, store: &StoreArgs) -> Result<ExitCode, String> {
    let settings = local_settings()?;
    let channel = Outbox::open(&outbox).map_err(|e| format!("{}: {e}", outbox.display()))?;
    let dispatcher = std::sync::Arc::new(Dispatcher::new(store.open().await?, channel, settings));
    let counts = dispatcher.run_due(until.unwrap_or_else(Utc::now), 16).await.map_err(|e| e.to_string())?;
    dispatcher.channel.flush().map_err(|e| format!("{}: {e}", outbox.display()))?;
    store.save(&dispatcher.store)?;
    crate::print::out(serde_json::to_string_pretty(&counts).unwrap_or_default());
    Ok(if counts.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub async fn why(customer: &str, campaign: Option<&str>, store: &StoreArgs) -> Result<ExitCode, String> {
    let customer = CustomerId::new(customer).map_err(|e| format!("--customer: {e}"))?;
    let campaign = campaign.map(CampaignId::new).transpose().map_err(|e| format!("--campaign: {e}"))?;
    let store = store.open().await?;
    let (decisions, problems) =
        kairos::delivery::trace::of(&store, &customer, campaign.as_ref()).await.map_err(|e| e.to_string())?;
    for p in &problems {
        eprintln!("kairos: a decision cannot be read and is left out: {p}");
    }
    crate::print::out(kairos::delivery::trace::answer(&customer, campaign.as_ref(), &decisions));
    Ok(ExitCode::SUCCESS)
}
