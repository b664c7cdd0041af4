//! Every Kairos Lambda in one binary: `KAIROS_FUNCTION` (set by the template) says which
//! function this instance serves. The functions stay separate (their own roles, memory,
//! triggers); they share the artifact, so `sam build` compiles and links once instead of once
//! per function.

// The runner's futures nest deeply (segments, customers, store calls): their layout needs more
// than the default query depth.
#![recursion_limit = "256"]

use kairos::churn::job::{ChurnConfig, ChurnJob};
use kairos::recommend::job::RecommendJob;
use kairos::sto::job::SendTimeJob;
use lambda_runtime::Error;

// Ingest is allocation-bound (serde documents); mimalloc gives it a quarter more throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    kairos::telemetry::init_json();
    match std::env::var("KAIROS_FUNCTION").as_deref() {
        Ok("ingest") => kairos_ingest::serve().await,
        Ok("send-time") => kairos_jobs::serve(SendTimeJob).await,
        Ok("churn") => {
            let config = ChurnConfig::from_lookup(|name| std::env::var(name).ok())?;
            kairos_jobs::serve(ChurnJob { config }).await
        }
        Ok("recommend") => kairos_jobs::serve(RecommendJob).await,
        Ok("recommendations") => kairos_recommendations::serve().await,
        Ok("triggers") => kairos_triggers::serve().await,
        Ok("scheduled") => kairos_jobs::serve_scheduled().await,
        Ok("dispatch") => kairos_dispatch::serve().await,
        Ok("unsubscribe") => kairos_unsubscribe::serve().await,
        Ok("feedback") => kairos_feedback::serve().await,
        Ok("loyalty") => kairos_jobs::serve_loyalty().await,
        Ok("redeem") => kairos_redeem::serve().await,
        other => Err(format!(
            "KAIROS_FUNCTION={other:?}: expected ingest, send-time, churn, recommend, recommendations, triggers, scheduled, dispatch, unsubscribe, feedback, loyalty or redeem"
        )
        .into()),
    }
}
