//! Integration tests: one binary, so the AWS SDK links once.

mod ingest;
mod schema;
mod store_contract;
