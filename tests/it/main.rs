//! Integration tests: one binary, so the AWS SDK links once.

mod ingest;
mod store_contract;
