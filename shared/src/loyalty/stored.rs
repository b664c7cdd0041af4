//! The program in the table: each deployed version kept (a nightly run keeps the one it started
//! with), and the current one, which accrual, redemption and the nightly job read.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::program::Program;
use crate::deploy::{Deployment, digest, put_version};
use crate::keys;
use crate::store::{Store, StoreError, decode};

/// A deployed version of the program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployedProgram {
    pub version: u32,
    pub digest: String,
    pub deployed_at: DateTime<Utc>,
    pub program: Program,
}

/// Deploys `program` (already validated): a new version when its content changed.
pub async fn deploy<S: Store>(store: &S, program: &Program, now: DateTime<Utc>) -> Result<Deployment, StoreError> {
    let current_key = keys::loyalty_program();
    let digest = digest(program)?;
    let held = match store.get(&current_key).await? {
        Some(item) => {
            let version = item.version;
            let held: DeployedProgram = decode(item)?;
            if held.digest == digest {
                return Ok(Deployment::Unchanged { version: held.version });
            }
            Some((held.version, version))
        }
        None => None,
    };
    let version = held.map_or(1, |(v, _)| v + 1);
    let deployed = DeployedProgram { version, digest, deployed_at: now, program: program.clone() };
    put_version(store, current_key, held.map(|(_, item)| item), keys::loyalty_program_version(version), &deployed)
        .await?;
    Ok(if version == 1 { Deployment::Created } else { Deployment::Updated { version } })
}

/// The program in force, if one is deployed.
pub async fn current<S: Store>(store: &S) -> Result<Option<DeployedProgram>, StoreError> {
    store.get(&keys::loyalty_program()).await?.map(decode).transpose()
}

/// How long an instance uses the program it read before reading it again.
pub const REFRESH_SECONDS: i64 = 60;

/// The program in force, read at most once per [`REFRESH_SECONDS`] per instance (none deployed:
/// loyalty is off, and events earn nothing). A failed read keeps what is held.
#[derive(Default)]
pub struct ProgramCache {
    held: tokio::sync::Mutex<Option<(DateTime<Utc>, Option<Arc<DeployedProgram>>)>>,
}

impl ProgramCache {
    pub async fn get<S: Store>(
        &self,
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<DeployedProgram>>, StoreError> {
        let mut held = self.held.lock().await;
        if let Some((at, program)) = held.as_ref()
            && now - *at < chrono::Duration::seconds(REFRESH_SECONDS)
            && *at <= now
        {
            return Ok(program.clone());
        }
        match current(store).await {
            Ok(program) => {
                let program = program.map(Arc::new);
                *held = Some((now, program.clone()));
                Ok(program)
            }
            Err(e) => match held.as_mut() {
                Some((at, program)) => {
                    tracing::warn!(error = %crate::redact::scrub(&e.to_string()), "could not read the loyalty program; using the one held");
                    *at = now;
                    Ok(program.clone())
                }
                None => Err(e),
            },
        }
    }
}

impl std::fmt::Debug for ProgramCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgramCache")
    }
}
