//! The `send-time` Lambda: clients once, then one handler call per schedule tick or task batch.

// The runner's futures nest deeply (segments, customers, store calls): their layout needs more
// than the default query depth.
#![recursion_limit = "256"]

use kairos::sto::job::SendTimeJob;
use lambda_runtime::{Error, run, service_fn};

// Ingest is allocation-bound (serde documents); mimalloc gives it a quarter more throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    let deps = kairos_jobs::from_env(SendTimeJob).await?;
    run(service_fn(|event| kairos_jobs::handle(&deps, event))).await
}
