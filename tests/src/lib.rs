//! The integration-test harness: a real AWS-compatible endpoint on loopback and SDK clients for it.
//!
//! `KAIROS_TEST_ENDPOINT` names an emulator that is already running (the test script starts one
//! for the whole run). Without it, the first test to ask starts one from the repository's
//! `.venv` (`scripts/test.sh` installs it) with `scripts/emulator.py`, which exits when this
//! process does. Missing tools fail the tests loudly; nothing is skipped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use kairos::store::dynamo::DynamoStore;

pub const REGION: &str = "us-east-1";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

static ENDPOINT: OnceLock<String> = OnceLock::new();
/// Kept for the life of the process: dropping it would close the emulator's stdin.
static EMULATOR: Mutex<Option<Child>> = Mutex::new(None);

/// The emulator's endpoint URL, starting one if none is running.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("KAIROS_TEST_ENDPOINT") {
            return url;
        }
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "no emulator: set KAIROS_TEST_ENDPOINT or run scripts/test.sh, which installs moto into .venv"
        );
        let mut child = Command::new(python)
            .arg(repo_root().join("scripts/emulator.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the emulator's endpoint");
        assert!(line.starts_with("http://"), "emulator did not start: {line:?}");
        *EMULATOR.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        line.trim().to_string()
    })
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "kairos-tests")
}

pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config().build())
}

fn dynamodb_config() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint())
        .http_client(kairos::config::http_client())
}

/// A DynamoDB client whose first answer to each named operation is lost on the way back: the
/// server has done the work, the SDK sees a server error and sends the same request again, as
/// after a connection dropped mid-response.
pub fn dynamodb_losing_first_answers(operations: &[&'static str]) -> (aws_sdk_dynamodb::Client, Arc<LoseFirstAnswers>) {
    let interceptor = Arc::new(LoseFirstAnswers { left: Mutex::new(operations.to_vec()), lost: AtomicU32::new(0) });
    let config = dynamodb_config().interceptor(SharedLoser(Arc::clone(&interceptor))).build();
    (aws_sdk_dynamodb::Client::from_conf(config), interceptor)
}

#[derive(Debug)]
pub struct LoseFirstAnswers {
    left: Mutex<Vec<&'static str>>,
    /// Answers lost so far.
    pub lost: AtomicU32,
}

#[derive(Debug)]
struct SharedLoser(Arc<LoseFirstAnswers>);

impl Intercept for SharedLoser {
    fn name(&self) -> &'static str {
        "LoseFirstAnswers"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = cfg.load::<Metadata>().map(|m| m.name().to_string()) else { return Ok(()) };
        let mut left = self.0.left.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = left.iter().position(|o| *o == operation) {
            left.remove(i);
            self.0.lost.fetch_add(1, Ordering::SeqCst);
            let response = context.response_mut();
            *response.status_mut() = StatusCode::try_from(500_u16)?;
            *response.body_mut() =
                SdkBody::from(r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}"#);
        }
        Ok(())
    }
}

pub fn sqs() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint())
        .http_client(kairos::config::http_client())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// The SDK configuration every emulator client is built from.
pub fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(credentials()))
        .endpoint_url(endpoint())
        .http_client(kairos::config::http_client())
        .build()
}

pub fn sesv2() -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&sdk())
}

pub fn sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk())
}

/// What the emulator's SES and SNS were given so far (every test's), one JSON object each.
pub fn sent_messages() -> Vec<serde_json::Value> {
    let port = endpoint().rsplit(':').next().unwrap_or_default().trim_end_matches('/').to_string();
    let path = std::env::temp_dir().join(format!("kairos-emulator-{port}-sent.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// A name no other test in this run uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Shows the code's logs in a failing test's output (`RUST_LOG` sets the level, default warn).
pub fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ =
        tracing_subscriber::fmt().with_test_writer().finish().with(kairos::telemetry::level_filter("warn")).try_init();
}

/// A new, empty table shaped like the production one.
pub async fn fresh_store() -> DynamoStore {
    init_logs();
    let store = DynamoStore::new(dynamodb(), unique_name("kairos"));
    store.create_table().await.expect("create table");
    store
}

/// A Lambda context with fifteen minutes left, as a scheduled job's worker gets.
pub fn lambda_context() -> lambda_runtime::Context {
    lambda_context_with(900)
}

/// A Lambda context with `seconds` left (the ingest function has 30).
pub fn lambda_context_with(seconds: u64) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.deadline = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0) + seconds * 1000;
    ctx.request_id = unique_name("request");
    ctx
}

/// Works a job's task queue as Lambda's SQS event source does with a batch size of one: each
/// message becomes one invocation of `handle` (given the SQS event, returning the handler's
/// response), successes are deleted. The first apply-phase message is handled but not deleted,
/// as if its acknowledgement were lost, so it comes back once. Returns the invocations made.
pub async fn work_queue<F, Fut>(sqs: &aws_sdk_sqs::Client, url: &str, mut handle: F) -> u32
where
    F: FnMut(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let (mut invocations, mut redelivered) = (0, false);
    loop {
        let received = sqs.receive_message().queue_url(url).max_number_of_messages(1).send().await.expect("receive");
        let Some(message) = received.messages.unwrap_or_default().into_iter().next() else { return invocations };
        invocations += 1;
        assert!(invocations < 100, "the task queue never drained");
        let event = serde_json::json!({"Records": [{"messageId": message.message_id, "body": message.body, "eventSource": "aws:sqs"}]});
        let response = handle(event).await;
        assert_eq!(response["batchItemFailures"], serde_json::json!([]), "task failed: {:?}", message.body);
        let task: serde_json::Value = serde_json::from_str(message.body.as_deref().unwrap_or("{}")).unwrap_or_default();
        let receipt = message.receipt_handle.unwrap_or_default();
        if task["phase"] == "apply" && !redelivered {
            redelivered = true;
            sqs.change_message_visibility()
                .queue_url(url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .expect("release");
        } else {
            sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await.expect("delete");
        }
    }
}

/// A new queue for a job's tasks, with a visibility timeout long enough for one task.
pub async fn task_queue(prefix: &str) -> (aws_sdk_sqs::Client, String) {
    let sqs = sqs();
    let created = sqs
        .create_queue()
        .queue_name(unique_name(prefix))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .expect("create queue");
    (sqs, created.queue_url.unwrap_or_default())
}

/// A shop event's JSON.
pub fn shop_event(id: &str, customer: &str, at: &str, kind: &str, data: serde_json::Value) -> String {
    serde_json::json!({"schema_version": 1, "id": id, "customer_id": customer, "occurred_at": at, "source": "shop", "type": kind, "data": data})
        .to_string()
}

/// Bodies with message ids `<prefix>-<n>`.
pub fn named(bodies: &[String], prefix: &str) -> Vec<(String, String)> {
    bodies.iter().enumerate().map(|(i, b)| (format!("{prefix}-{i}"), b.clone())).collect()
}

/// An SQS event as Lambda delivers it, with the ingest function's 30 seconds to answer.
pub fn sqs_batch(
    messages: &[(String, String)],
) -> lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent> {
    let records: Vec<_> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:kairos-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event = serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event");
    lambda_runtime::LambdaEvent::new(event, lambda_context_with(30))
}

/// The message ids a partial batch response hands back.
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

/// A shop the recommendations API can answer for, on the emulator: `customers` synthetic
/// customers ingested through the ingest path, last night's `recommend` run published, and every
/// product it knows in the catalogue (each seventh out of stock). Returns the store, the
/// customers and the out-of-stock products.
pub async fn recommending_shop(
    customers: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> (DynamoStore, Vec<kairos::ids::CustomerId>, Vec<String>) {
    use kairos::ingest::{IngestConfig, Record, ingest_batch};
    use kairos::recommend::job::RecommendJob;
    let store = fresh_store().await;
    let clock = kairos::clock::ManualClock::new(now);
    let (events, expected) = kairos::synth::shop_events(23, customers, customers * 30, now);
    let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).expect("an event encodes")).collect();
    let ingest = |bodies: Vec<String>| {
        let (store, clock) = (&store, &clock);
        async move {
            for chunk in bodies.chunks(50) {
                let records: Vec<Record> = chunk.iter().map(|b| Record { id: "r", body: b }).collect();
                let report = ingest_batch(store, clock, &IngestConfig::default(), &records).await;
                assert!(report.failures.is_empty(), "{:?}", report.failures);
            }
        }
    };
    ingest(bodies).await;
    let queue = kairos::jobs::local::LocalQueue::new();
    let runner = kairos::jobs::runner::Runner { store: &store, queue: &queue, job: &RecommendJob };
    runner.start("night-1", 2, now).await.expect("run starts");
    kairos::jobs::runner::drain(&runner, now).await.expect("run works").1.expect("run finishes");
    let model = kairos::jobs::runner::run_model::<_, RecommendJob>(&store, "night-1")
        .await
        .expect("model reads")
        .expect("model stored");
    let mut out_of_stock = Vec::new();
    let products: Vec<String> = model
        .items
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let in_stock = i % 7 != 3;
            if !in_stock {
                out_of_stock.push(id.clone());
            }
            serde_json::json!({"schema_version": 1, "id": format!("feed-{id}"), "occurred_at": now, "source": "feed",
                "type": "product_updated", "data": {"product_id": id, "title": format!("Product {id}"),
                "url": format!("https://shop.example/p/{id}"), "image_url": format!("https://cdn.shop.example/{id}.jpg"),
                "price": "19.90", "currency": "EUR", "brand": "Acme", "in_stock": in_stock}})
            .to_string()
        })
        .collect();
    ingest(products).await;
    (store, expected.customers.keys().cloned().collect(), out_of_stock)
}

/// An independent validator's verdict on each of `docs` against the published schema at
/// `schema` (a path from the repository root): "valid" or "invalid: <reason>", in order.
pub fn schema_verdicts<'a>(schema: &str, docs: impl IntoIterator<Item = &'a serde_json::Value>) -> Vec<String> {
    use std::io::Write;
    let root = repo_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/check_schema.py"))
        .arg(root.join(schema))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the schema checker from .venv (scripts/test.sh installs it)");
    {
        let mut stdin = child.stdin.take().expect("the checker's stdin");
        for d in docs {
            writeln!(stdin, "{d}").expect("write a document to the checker");
        }
    }
    let output = child.wait_with_output().expect("the checker's output");
    assert!(output.status.success(), "schema checker failed");
    String::from_utf8(output.stdout).expect("UTF-8 verdicts").lines().map(String::from).collect()
}
