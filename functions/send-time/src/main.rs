//! Lambda entry point: clients once, then one handler call per schedule tick or task batch.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    let deps = kairos_send_time::from_env().await?;
    run(service_fn(|event| kairos_send_time::handle(&deps, event))).await
}
