//! Ingest against DynamoDB (the emulator): store requests per event, through the real handler.
//!
//! `cargo bench -p kairos-tests --bench dynamo_ingest` prints write and read requests per event
//! for SQS-sized batches (10) and batching-window batches (100), plus wall time (the emulator's
//! speed, not DynamoDB's). Run without `--bench` (as `cargo test` does) it uses a small sample.

use std::time::Instant;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use kairos::ingest::IngestConfig;
use kairos::store::Store;
use kairos_ingest::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

fn sqs_event(batch: &[String], n: usize) -> LambdaEvent<SqsEvent> {
    let records: Vec<_> = batch
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{n}-{i}"), "body": body, "eventSource": "aws:sqs"}))
        .collect();
    LambdaEvent::new(serde_json::from_value(json!({"Records": records})).expect("SQS event"), Context::default())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (customers, events) = if full { (1_000, 10_000) } else { (50, 300) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (generated, _) = kairos::synth::shop_events(11, customers, events, Utc::now());
        let bodies: Vec<String> = generated.iter().map(|e| serde_json::to_string(e).expect("JSON")).collect();
        for batch_size in [10_usize, 100] {
            let deps = Deps { store: kairos_tests::fresh_store().await, config: IngestConfig::default() };
            let started = Instant::now();
            for (n, batch) in bodies.chunks(batch_size).enumerate() {
                let response = handle(&deps, sqs_event(batch, n)).await.expect("handler");
                assert!(response.batch_item_failures.is_empty(), "failures in batch {n}");
            }
            let elapsed = started.elapsed();
            let (reads, writes) = deps.store.stats().snapshot();
            let per = |n: u64| n as f64 / bodies.len() as f64;
            println!(
                "dynamodb ingest, {} events / {customers} customers, batches of {batch_size}: {:.3} write requests/event, {:.3} read requests/event ({:.0} events/s on the emulator)",
                bodies.len(),
                per(writes),
                per(reads),
                bodies.len() as f64 / elapsed.as_secs_f64()
            );
        }
    });
}
