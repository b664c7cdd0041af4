//! The nightly jobs at their edges, against DynamoDB and SQS on the emulator: a thousand
//! segments with hand-overs after every page, the lapsed heavy buyer, a corrupt previous score,
//! win-backs once per lapse across runs, two currencies, a failing start, a lost fit race.

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kairos::churn::job::{ChurnConfig, ChurnJob};
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{Deadline, RunPhase, RunState, Runner};
use kairos::jobs::sqs::SqsQueue;
use kairos::jobs::{Phase, Task, TaskQueue};
use kairos::keys;
use kairos::sto::job::SendTimeJob;
use kairos::store::dynamo::DynamoStore;
use kairos::store::{Condition, Item, Key, MAX_ITEM_BYTES, Store, Write, decode, item_size, scan_all};
use kairos_jobs::{Deps, handle_at};
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::json;

use crate::churn_job::{due_sends, histories, loaded, order, order_in, run_night, scores};

fn night() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()
}

fn churn_job(min_clv: &str) -> ChurnJob {
    let min_clv = min_clv.to_string();
    ChurnJob {
        // The job queues its own win-backs here (a deployment may leave them to campaigns).
        config: ChurnConfig::from_lookup(move |name| match name {
            "KAIROS_WINBACK_MIN_CLV" => Some(min_clv.clone()),
            "KAIROS_WINBACK_CAMPAIGN" => Some("win-back".into()),
            _ => None,
        })
        .unwrap(),
    }
}

async fn run_state(store: &DynamoStore, job: &str, run: &str) -> RunState {
    decode(store.get(&Key::new(keys::job_run_pk(job, run), keys::JOB_STATE)).await.unwrap().unwrap()).unwrap()
}

#[tokio::test]
async fn a_thousand_segments_and_a_hand_over_after_every_page_finish_with_bounded_items() {
    let now = night();
    // 1,000 segment names, two customers each, with enough signals to shape the prior.
    let mut bodies = Vec::new();
    for i in 0..2000 {
        let c = format!("c{i:04}");
        let at = |d: i64| (now - Duration::days(d) + Duration::hours((i % 24) as i64)).to_rfc3339();
        let attributes = json!({"segment": format!("segment-{}", i / 2)});
        bodies.push(kairos_tests::shop_event(
            &format!("{c}-u"),
            &c,
            &at(30),
            "customer_updated",
            json!({"attributes": attributes}),
        ));
        for d in 1..=3 {
            let data =
                json!({"message_id": format!("m{d}"), "channel": "email", "action": "clicked", "campaign_id": "x"});
            bodies.push(kairos_tests::shop_event(&format!("{c}-e{d}"), &c, &at(d), "message_engaged", data));
        }
    }
    let store = loaded(&bodies, now).await;
    let (sqs, url) = kairos_tests::task_queue("sto-many").await;
    let deps =
        Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: SendTimeJob, segments: 2, max_pages: Some(1) };
    let run = "2026-11-24T03:00:00Z";
    handle_at(&deps, LambdaEvent::new(json!({"run": run}), context()), now).await.unwrap();

    let mut invocations = 0;
    let mut largest_message = 0;
    loop {
        let received = sqs.receive_message().queue_url(&url).max_number_of_messages(1).send().await.unwrap();
        let Some(message) = received.messages.unwrap_or_default().into_iter().next() else { break };
        invocations += 1;
        assert!(invocations < 200, "the run never finished");
        let body = message.body.clone().unwrap_or_default();
        largest_message = largest_message.max(body.len());
        let event = json!({"Records": [{"messageId": message.message_id, "body": body, "eventSource": "aws:sqs"}]});
        let response = handle_at(&deps, LambdaEvent::new(event, context()), now).await.unwrap();
        assert_eq!(response["batchItemFailures"], json!([]), "{body}");
        sqs.delete_message().queue_url(&url).receipt_handle(message.receipt_handle.unwrap()).send().await.unwrap();
    }
    // About 4,000 profile items: 8 pages in all, so several hand-overs per segment.
    assert!(invocations > 2 + 2 + 4, "hand-overs happened: {invocations} invocations");
    assert!(largest_message < 2_000, "messages carry references, not statistics: {largest_message} bytes");

    let state = run_state(&deps.store, "sto", run).await;
    assert_eq!(state.phase, RunPhase::Done);
    let report = state.report.unwrap();
    assert_eq!((report.customers.read, report.customers.written), (2000, 2000), "{report:?}");
    let all = scan_all(&deps.store, None).await.unwrap();
    let models: Vec<&Item> = all.iter().filter(|i| i.key.sk == keys::SEND_TIME_MODEL).collect();
    assert_eq!(models.len(), 2000);
    assert!(models.iter().all(|m| m.version == 1 && m.body["run"] == run), "each written once, by this run");
    // The gathered statistics were chunked (500 segments of 168 sums do not fit an item).
    let run_items: Vec<&Item> = all.iter().filter(|i| i.key.pk == keys::job_run_pk("sto", run)).collect();
    assert!(run_items.iter().any(|i| i.key.sk.starts_with("BLOB#GATHER#")), "large statistics are chunked");
    assert!(run_items.iter().any(|i| i.key.sk.starts_with("BLOB#CARRY#")), "and so is what hand-overs carry");
    assert!(all.iter().all(|i| item_size(i) <= MAX_ITEM_BYTES));
    let published =
        deps.store.get(&Key::new(keys::SEND_TIME_PRIORS.0, keys::SEND_TIME_PRIORS.1)).await.unwrap().unwrap();
    assert!(item_size(&published) < 100_000, "the published priors stay small: {}", item_size(&published));
}

#[tokio::test]
async fn the_lapsed_heavy_buyer_is_flagged_and_a_corrupt_score_fails_only_its_customer() {
    let now = night();
    let mut bodies = histories(now);
    // 151 purchase days over 30 weeks, the first 300 weeks ago: P(alive) about 1e-140.
    let first = now - Duration::weeks(300);
    for n in 0..=150 {
        bodies.push(order("heavy", n, first + Duration::minutes((30 * 7 * 24 * 60) * n as i64 / 150), 80));
    }
    let store = loaded(&bodies, now).await;
    // A score no run could have written sits in front of one ordinary customer.
    let damaged =
        Item::new(Key::new("C#base-3", keys::CHURN_SCORE), 1, json!({"winback": "??"}).as_object().unwrap().clone());
    store.write(vec![Write::Put { item: damaged, condition: Condition::NotExists }]).await.unwrap();
    let (sqs, url) = kairos_tests::task_queue("churn-edges").await;
    let deps =
        Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: churn_job("EUR=30"), segments: 3, max_pages: None };
    run_night(&deps, &sqs, &url, "2026-11-24T03:00:00Z", now).await;

    let scored = scores_ok(&deps.store).await;
    let heavy = &scored.iter().find(|(pk, _)| pk == "C#heavy").expect("the heavy buyer is scored").1;
    assert_eq!(heavy.score.p_alive, 0.0, "stored as zero, not a number the table refuses");
    assert!(heavy.winback.flagged, "still worth winning back: {:?}", heavy.score.value_if_active);
    let report = run_state(&deps.store, "churn", "2026-11-24T03:00:00Z").await.report.unwrap();
    assert_eq!(report.customers.unreadable, 1, "the damaged score, and nobody else: {report:?}");
    assert_eq!(report.customers.written as usize, scored.len());
    assert!(report.customers.flagged >= 11 && report.customers.queued == report.customers.flagged);
    // The damaged customer was left alone, not reset.
    let left = deps.store.get(&Key::new("C#base-3", keys::CHURN_SCORE)).await.unwrap().unwrap();
    assert_eq!(left.body["winback"], "??");
}

/// Scores that decode (the damaged one is skipped).
async fn scores_ok(store: &DynamoStore) -> Vec<(String, kairos::churn::job::CustomerScore)> {
    scan_all(store, Some(keys::CHURN_SCORE))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.key.sk == keys::CHURN_SCORE)
        .filter_map(|i| decode(i.clone()).ok().map(|s| (i.key.pk.clone(), s)))
        .collect()
}

#[tokio::test]
async fn one_win_back_per_lapse_whatever_happens_to_the_score_between_runs() {
    let now = night();
    let store = loaded(&histories(now), now).await;
    let (sqs, url) = kairos_tests::task_queue("churn-episode").await;
    let deps =
        Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: churn_job("EUR=30"), segments: 2, max_pages: None };
    run_night(&deps, &sqs, &url, "2026-11-24T03:00:00Z", now).await;
    let queued = due_sends(&deps.store).await;
    assert!(queued.len() >= 10);
    assert!(queued.iter().all(|d| d.key.sk.contains("#churn-lapse-")), "named by the lapse, not the clock");

    // Every score is lost (restored from an old backup, a bug, a hand edit): the next nights see
    // the same lapses afresh, flag them again, and queue nothing new, under any minute.
    for (pk, _) in scores(&deps.store).await {
        deps.store
            .write(vec![Write::Delete { key: Key::new(pk, keys::CHURN_SCORE), condition: Condition::Always }])
            .await
            .unwrap();
    }
    let later = now + Duration::days(1) + Duration::minutes(17);
    run_night(&deps, &sqs, &url, "2026-11-25T03:17:00Z", later).await;
    let again = due_sends(&deps.store).await;
    assert_eq!(again.len(), queued.len(), "no second win-back for the same lapse");
    let rescored = scores(&deps.store).await;
    assert!(rescored.iter().filter(|(pk, _)| pk.contains("lapsed")).all(|(_, s)| s.winback.flagged));
    let report = run_state(&deps.store, "churn", "2026-11-25T03:17:00Z").await.report.unwrap();
    assert_eq!(report.customers.queued, 0, "{report:?}");
}

#[tokio::test]
async fn two_currencies_are_valued_apart_with_a_minimum_each() {
    let now = night();
    // The same shop's customers paying in euros and in yen: spend is never added across them.
    let mut bodies = histories(now);
    for i in 0..80 {
        let c = format!("yen-{i}");
        let first = now - Duration::weeks(30 + (i % 20) as i64);
        for n in 0..(1 + i % 6) {
            // Customers spend at their own level, each order scattered around it.
            let level = 2000 + (i as u32 % 9) * 700;
            let value = level * (6 + (i as u32 * 7 + n as u32 * 13) % 9) / 10;
            bodies.push(order_in(&c, n, first + Duration::weeks(3 * n as i64), value, "JPY"));
        }
    }
    for i in 0..12 {
        let c = format!("lapsed-yen-{i}");
        for n in 0..10 {
            let value = 7000 + (n as u32 * 1700 + i as u32 * 900) % 5000;
            bodies.push(order_in(&c, n, now - Duration::weeks(40) + Duration::weeks(2 * n as i64), value, "JPY"));
        }
    }
    // One customer buys in both: timing counts every day, spend stays in the home currency.
    for n in 0..4 {
        let currency = if n == 1 { "JPY" } else { "EUR" };
        bodies.push(order_in("both", n, now - Duration::weeks(20 - 4 * n as i64), 50, currency));
    }
    let store = loaded(&bodies, now).await;
    let (sqs, url) = kairos_tests::task_queue("churn-currencies").await;
    let deps =
        Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: churn_job("EUR=30"), segments: 2, max_pages: None };
    run_night(&deps, &sqs, &url, "2026-11-24T03:00:00Z", now).await;

    let scored = scores(&deps.store).await;
    let get = |pk: &str| scored.iter().find(|(p, _)| p == pk).map(|(_, s)| s.clone()).unwrap();
    let model = deps.store.get(&Key::new(keys::CHURN_MODEL.0, keys::CHURN_MODEL.1)).await.unwrap().unwrap();
    let problems = model.body["model"]["problems"].to_string();
    let yen = get("C#lapsed-yen-0");
    assert_eq!(yen.currency.unwrap().code(), "JPY");
    assert!(yen.score.value_if_active.is_some_and(|v| v > 1000.0), "valued in yen: {:?}; {problems}", yen.score);
    assert!(!yen.winback.flagged, "no JPY minimum is configured, so yen customers are never flagged");
    assert!(get("C#lapsed-0").winback.flagged);
    let both = get("C#both");
    assert_eq!(both.score.frequency, 3, "every purchase day counts for timing");
    assert_eq!(both.currency.unwrap().code(), "EUR");
    assert_eq!(both.score.monetary_value, Some(50.0), "only euro days in the euro mean");
    let spend = model.body["model"]["spend"].as_object().unwrap();
    assert!(spend.contains_key("EUR") && spend.contains_key("JPY"), "a spend model per currency: {spend:?}");
    assert!(problems.contains("JPY are never flagged"), "{problems}");
}

#[tokio::test]
async fn a_start_that_cannot_reach_the_table_fails_the_invocation() {
    // Lambda retries a failed asynchronous invocation, then hands it to the on-failure queue
    // the template alarms on (scripts/check_template.py): failing loudly is what makes that work.
    let store = DynamoStore::new(kairos_tests::dynamodb(), "no-such-table");
    let (sqs, url) = kairos_tests::task_queue("start-fails").await;
    let deps = Deps { store, queue: SqsQueue::new(sqs.clone(), &url), job: SendTimeJob, segments: 2, max_pages: None };
    let result = handle_at(&deps, LambdaEvent::new(json!({"run": "2026-11-24T03:00:00Z"}), context()), night()).await;
    assert!(result.is_err(), "{result:?}");
    let left = sqs.receive_message().queue_url(&url).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty(), "nothing was fanned out");
}

/// A queue that remembers every task sent.
#[derive(Default)]
struct Recording(Mutex<Vec<Task>>, LocalQueue);

impl TaskQueue for Recording {
    async fn enqueue(&self, tasks: Vec<Task>) -> Result<(), kairos::jobs::QueueError> {
        self.0.lock().unwrap().extend(tasks.iter().cloned());
        self.1.enqueue(tasks).await
    }
}

#[tokio::test]
async fn racing_last_gathers_fit_once_and_resuming_skips_leased_segments() {
    let now = night();
    let store = loaded(&histories(now), now).await;
    let job = churn_job("EUR=30");
    for attempt in 0..3 {
        let queue = Recording::default();
        let runner = Runner { store: &store, queue: &queue, job: &job };
        let run = format!("race-{attempt}");
        runner.start(&run, 2, now).await.unwrap();
        let (a, b) = (queue.1.pop().unwrap(), queue.1.pop().unwrap());
        // Both segments finish at once; both workers see every segment gathered.
        let (ra, rb) = tokio::join!(runner.handle(a, now, Deadline::NONE), runner.handle(b, now, Deadline::NONE));
        ra.unwrap();
        rb.unwrap();
        let applies = queue.0.lock().unwrap().iter().filter(|t| t.phase == Phase::Apply).count();
        assert_eq!(applies, 2, "one apply task per segment, however the fit race went");
        while let Some(task) = queue.1.pop() {
            runner.handle(task, now, Deadline::NONE).await.unwrap();
        }
        assert_eq!(run_state(&store, "churn", &run).await.phase, RunPhase::Done);
    }

    // A resumed run sends only what nobody is working on or waiting for.
    let queue = Recording::default();
    let runner = Runner { store: &store, queue: &queue, job: &job };
    runner.start("resume", 2, now).await.unwrap();
    let first = queue.1.pop().unwrap();
    let _lost = queue.1.pop().unwrap(); // this message is lost
    let one_page = Deadline { at: None, max_pages: Some(1) };
    runner.handle(first.clone(), now, one_page).await.unwrap(); // works a page, hands over
    queue.0.lock().unwrap().clear();
    runner.start("resume", 2, now + Duration::minutes(30)).await.unwrap();
    let sent: Vec<(u32, kairos::jobs::Phase, u32)> =
        queue.0.lock().unwrap().iter().map(|t| (t.segment, t.phase, t.hand_over)).collect();
    assert!(sent.is_empty(), "both segments still wait in the queue: nothing is sent twice: {sent:?}");
    // Half a day later, neither task was taken: they are presumed lost and sent again.
    runner.start("resume", 2, now + Duration::hours(13)).await.unwrap();
    let mut resent: Vec<u32> = queue.0.lock().unwrap().iter().map(|t| t.segment).collect();
    resent.sort_unstable();
    assert_eq!(resent, vec![0, 1]);
}
