//! The `churn` Lambda: clients and configuration once, then one handler call per schedule tick or
//! task batch. Configuration: see `kairos::churn::job::ChurnConfig::from_lookup`.

// The runner's futures nest deeply (segments, customers, store calls): their layout needs more
// than the default query depth.
#![recursion_limit = "256"]

use kairos::churn::job::{ChurnConfig, ChurnJob};
use lambda_runtime::{Error, run, service_fn};

// Ingest is allocation-bound (serde documents); mimalloc gives it a quarter more throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    let config = ChurnConfig::from_lookup(|name| std::env::var(name).ok())?;
    let deps = kairos_jobs::from_env(ChurnJob { config }).await?;
    run(service_fn(|event| kairos_jobs::handle(&deps, event))).await
}
