//! Warm latency and cost of the recommendations API against DynamoDB on the emulator.
//!
//! `cargo bench -p kairos-tests --bench recs_api` (with `KAIROS_TEST_ENDPOINT`, or it starts the
//! emulator; without `--bench`, as `cargo test` runs it, a small shop and a few requests only
//! check that it runs).
//!
//! A synthetic shop is ingested, the nightly `recommend` run published and the catalogue filled,
//! then requests go through the Lambda handler exactly as a function URL delivers them: a mix of
//! known customers (60%), known customers with this visit's views (10%), anonymous sessions
//! (20%) and customers Kairos does not know (10%). The first requests load the model (a cold
//! instance); the figures are the warm ones after them. Reported: latency percentiles, read
//! units and dollars per million requests (DynamoDB on demand, Lambda at 512 MB for the measured
//! time). The emulator is slower than DynamoDB (about 1-5 ms a call against DynamoDB's few
//! milliseconds), so these latencies are an upper bound.

use std::time::{Duration, Instant};

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use chrono::Utc;
use kairos::recommend::api::Recommender;
use kairos::store::Store;
use kairos::store::cost::READ_UNIT_PRICE_PER_MILLION;
use lambda_runtime::LambdaEvent;
use serde_json::json;

const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const GB: f64 = 0.5;

fn event(body: &str) -> LambdaEvent<LambdaFunctionUrlRequest> {
    let payload = json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}, "timeEpoch": 0},
        "body": body, "isBase64Encoded": false,
    });
    LambdaEvent::new(serde_json::from_value(payload).expect("an event"), kairos_tests::lambda_context_with(10))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (customers, requests) = if full { (300, 3000) } else { (15, 40) };
    let now = Utc::now();
    let (store, ids, _) = kairos_tests::recommending_shop(customers, now).await;
    let model = kairos::jobs::runner::run_model::<_, kairos::recommend::job::RecommendJob>(&store, "night-1")
        .await
        .expect("model reads")
        .expect("model stored");
    let recommender = Recommender::new(store);
    let body = |i: usize| {
        let customer = ids[(i * 7919) % ids.len()].as_str();
        let viewed: Vec<&str> = (0..3).map(|j| model.items[(i * 31 + j * 17) % model.items.len()].as_str()).collect();
        match i % 10 {
            0..=5 => json!({"customer_id": customer, "k": 5}),
            6 => json!({"customer_id": customer, "session": viewed, "k": 5}),
            7 | 8 => json!({"session": viewed, "k": 5}),
            _ => json!({"customer_id": format!("unknown-{i}"), "k": 5}),
        }
        .to_string()
    };
    let cold = Instant::now();
    let first = kairos_recommendations::handle(&recommender, event(&body(0))).await.expect("answers");
    assert_eq!(first.status_code, 200, "{:?}", first.body);
    let cold = cold.elapsed();
    for i in 1..10 {
        kairos_recommendations::handle(&recommender, event(&body(i))).await.expect("answers");
    }
    let before = recommender.store().meter().reading();
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests {
        let event = event(&body(i));
        let started = Instant::now();
        let response = kairos_recommendations::handle(&recommender, event).await.expect("answers");
        times.push(started.elapsed());
        assert_eq!(response.status_code, 200, "{:?}", response.body);
    }
    let used = recommender.store().meter().reading().since(&before);
    times.sort();
    let n = requests as f64;
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / n;
    let reads = used.units.reads() / n;
    let dynamo = reads * READ_UNIT_PRICE_PER_MILLION;
    let lambda = (mean * GB * LAMBDA_GB_SECOND + LAMBDA_REQUEST) * 1e6;
    println!(
        "recommendations API, {customers} customers, {} products in the model, {requests} warm requests",
        model.items.len()
    );
    println!("  cold (model load + answer): {:.1} ms", cold.as_secs_f64() * 1e3);
    println!(
        "  warm latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        mean * 1e3
    );
    println!(
        "  per request: {:.2} store requests, {reads:.2} read units; per million requests: DynamoDB ${dynamo:.2}, Lambda ${lambda:.2}",
        used.read_requests as f64 / n
    );
}
