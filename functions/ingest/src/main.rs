//! Lambda entry point: clients once, then one handler call per SQS batch.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    let deps = kairos_ingest::from_env().await?;
    run(service_fn(|event| kairos_ingest::handle(&deps, event))).await
}
