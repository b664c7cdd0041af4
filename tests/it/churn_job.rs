//! The scheduled churn scoring against DynamoDB and SQS on the emulator: every customer scored,
//! each valuable customer who becomes at risk queued for exactly one win-back send per episode,
//! however often a task is redelivered or the job runs.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kairos::churn::job::{ChurnConfig, ChurnJob, CustomerScore, SCORE_SK};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::jobs::sqs::SqsQueue;
use kairos::store::dynamo::DynamoStore;
use kairos::store::embedded::EmbeddedStore;
use kairos::store::{Condition, Item, Store, Write, decode, scan_all};
use kairos_jobs::{Deps, handle_at};
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::json;

const BASE: usize = 600;

pub(crate) fn order(customer: &str, n: usize, at: DateTime<Utc>, value: u32) -> String {
    order_in(customer, n, at, value, "EUR")
}

pub(crate) fn order_in(customer: &str, n: usize, at: DateTime<Utc>, value: u32, currency: &str) -> String {
    json!({"schema_version": 1, "id": format!("{customer}-o{n}"), "customer_id": customer, "occurred_at": at.to_rfc3339(),
        "source": "shop", "type": "order_placed",
        "data": {"order_id": format!("{customer}-{n}"), "currency": currency, "lines": [{"product_id": "p", "unit_price": value.to_string(), "quantity": 1}]}})
    .to_string()
}

/// A customer base drawn from the BG/NBD process, plus regulars who stopped: ten orders a
/// fortnight apart, then twenty weeks of silence.
pub(crate) fn histories(now: DateTime<Utc>) -> Vec<String> {
    use kairos::churn::bgnbd::BgNbd;
    let truth = BgNbd { r: 0.8, alpha: 5.0, a: 2.0, b: 4.0 };
    let mut events = Vec::new();
    for (i, s) in kairos::churn::sim::simulate_bgnbd(&truth, BASE, (20.0, 52.0), 7).iter().enumerate() {
        let c = format!("base-{i}");
        let first = now - Duration::minutes((s.age * 7.0 * 24.0 * 60.0) as i64);
        events.push(order(&c, 0, first, 20 + (i as u32 * 7) % 60));
        for n in 1..=s.frequency as usize {
            let at =
                first + Duration::minutes((s.recency * 7.0 * 24.0 * 60.0 * n as f64 / f64::from(s.frequency)) as i64);
            events.push(order(&c, n, at, 20 + ((i + n) as u32 * 13) % 60));
        }
    }
    for i in 0..12 {
        let c = format!("lapsed-{i}");
        for n in 0..10 {
            events.push(order(
                &c,
                n,
                now - Duration::weeks(40) + Duration::weeks(2 * n as i64),
                70 + (n as u32 * 11) % 40,
            ));
        }
    }
    events
}

/// A fresh table holding the profiles these events make. They are ingested in process (the
/// embedded store) and loaded into DynamoDB a hundred per transaction: the ingest path is tested
/// elsewhere, and this keeps the emulator quick.
pub(crate) async fn loaded(bodies: &[String], now: DateTime<Utc>) -> DynamoStore {
    let store = kairos_tests::fresh_store().await;
    let local = EmbeddedStore::new();
    let clock = ManualClock::new(now);
    for chunk in bodies.chunks(100) {
        let records: Vec<Record> = chunk.iter().map(|b| Record { id: "r", body: b }).collect();
        assert!(ingest_batch(&local, &clock, &IngestConfig::default(), &records).await.failures.is_empty());
    }
    let profiles: Vec<Item> = scan_all(&local, Some(kairos::keys::PROFILE_PREFIX)).await.unwrap();
    for chunk in profiles.chunks(100) {
        let writes = chunk.iter().map(|i| Write::Put { item: i.clone(), condition: Condition::NotExists }).collect();
        store.write(writes).await.unwrap();
    }
    store
}

pub(crate) async fn run_night(
    deps: &Deps<DynamoStore, SqsQueue, ChurnJob>,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    run: &str,
    now: DateTime<Utc>,
) -> u32 {
    let started = handle_at(deps, LambdaEvent::new(json!({"run": run, "segments": 3}), context()), now).await.unwrap();
    assert_eq!(started["job"], "churn");
    kairos_tests::work_queue(sqs, url, |event| async move {
        handle_at(deps, LambdaEvent::new(event, context()), now).await.unwrap()
    })
    .await
}

pub(crate) async fn scores(store: &DynamoStore) -> Vec<(String, CustomerScore)> {
    scan_all(store, Some(SCORE_SK))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.key.sk == SCORE_SK)
        .map(|i: Item| (i.key.pk.clone(), decode::<CustomerScore>(i).unwrap()))
        .collect()
}

pub(crate) async fn due_sends(store: &DynamoStore) -> Vec<Item> {
    scan_all(store, None).await.unwrap().into_iter().filter(|i| i.key.pk.starts_with("DUE#")).collect()
}

#[tokio::test]
async fn scoring_flags_each_lapse_once_and_queues_one_win_back_per_episode() {
    let night1 = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
    let store = loaded(&histories(night1), night1).await;
    let (sqs, url) = kairos_tests::task_queue("churn-tasks").await;
    let lookup = |name: &str| match name {
        "KAIROS_WINBACK_MIN_CLV" => Some("EUR=30".to_string()),
        "KAIROS_WINBACK_CAMPAIGN" => Some("winback-q4".to_string()),
        _ => None,
    };
    let job = ChurnJob { config: ChurnConfig::from_lookup(lookup).unwrap() };
    let deps = Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job, segments: 3, max_pages: None };

    // Night one: score everyone, flag the lapsed regulars.
    assert_eq!(run_night(&deps, &sqs, &url, "2026-11-24T03:00:00Z", night1).await, 3 + 3 + 1);
    let first = scores(&deps.store).await;
    assert_eq!(first.len(), BASE + 12, "every customer with a purchase is scored");
    let flagged: Vec<&String> = first.iter().filter(|(_, s)| s.winback.flagged).map(|(pk, _)| pk).collect();
    let lapsed_flagged = flagged.iter().filter(|pk| pk.contains("lapsed")).count();
    assert!(lapsed_flagged >= 10, "the lapsed regulars are flagged: {flagged:?}");
    for (pk, s) in first.iter().filter(|(_, s)| s.winback.flagged) {
        assert!(s.score.p_alive < 0.3 && s.score.value_if_active.unwrap() >= 30.0, "{pk} flagged at {:?}", s.score);
    }
    for (pk, s) in &first {
        assert!(s.score.explanation.contains("days ago"), "{pk}: {}", s.score.explanation);
    }
    let sends = due_sends(&deps.store).await;
    assert_eq!(sends.len(), flagged.len(), "one win-back per flagged customer, despite the redelivery");
    assert!(sends.iter().all(|d| d.key.sk.contains("#winback-q4#churn-lapse-")), "{sends:?}");

    // Night two: still at risk, still one episode: nothing new is queued.
    let night2 = night1 + Duration::days(1);
    run_night(&deps, &sqs, &url, "2026-11-25T03:00:00Z", night2).await;
    assert_eq!(due_sends(&deps.store).await.len(), flagged.len());
    let second = scores(&deps.store).await;
    assert!(second.iter().filter(|(_, s)| s.winback.flagged).all(|(_, s)| s.winback.episode == 1));

    // The scheduler retrying night two changes nothing either.
    let again =
        handle_at(&deps, LambdaEvent::new(json!({"run": "2026-11-25T03:00:00Z"}), context()), night2).await.unwrap();
    assert_eq!(again["state"]["phase"], "done");
    assert_eq!(due_sends(&deps.store).await.len(), flagged.len());
}
