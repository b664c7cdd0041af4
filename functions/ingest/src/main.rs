//! Lambda entry point: clients once, then one handler call per SQS batch.

use lambda_runtime::{Error, run, service_fn};

// Ingest is allocation-bound (serde documents); mimalloc gives it a quarter more throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    let deps = kairos_ingest::from_env().await?;
    run(service_fn(|event| kairos_ingest::handle(&deps, event))).await
}
