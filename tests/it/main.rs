//! Integration tests: one binary, so the AWS SDK links once.

mod broadcast;
mod campaigns;
mod catalogue;
mod churn_cdnow;
mod churn_job;
mod delivery;
mod feedback;
mod ingest;
mod ingest_extremes;
mod loyalty;
mod nightly;
mod recommend_api;
mod recommend_job;
mod schema;
mod send_time;
mod simulate;
mod store_contract;
mod triggers;
mod variants;
