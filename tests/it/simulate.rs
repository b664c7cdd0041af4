//! The local main job: a small simulation through every function, its rules checked from its
//! own files; the checks shown to catch what they look for; the same seed, the same run.

use std::collections::BTreeMap;
use std::sync::Arc;

use kairos::delivery::caps::Caps;
use kairos::sim::run::{Config, adapt};
use kairos::sim::{check, simulate};
use kairos::store::embedded::EmbeddedStore;

fn config(out: &std::path::Path, workers: usize) -> Config {
    let root = kairos_tests::repo_root();
    let (campaigns, _) = kairos::campaign::load::read_dir(&root.join("campaigns")).unwrap();
    let text = std::fs::read_to_string(root.join("loyalty/program.yaml")).unwrap();
    let base = Config {
        customers: 60,
        days: 3,
        history_days: 30,
        products: 120,
        workers,
        out: out.to_path_buf(),
        ..Config::default()
    };
    Config {
        campaigns: adapt(campaigns, base.start, base.days),
        program: kairos::loyalty::program::read("p", &text).0,
        ..base
    }
}

fn run(out: &std::path::Path, workers: usize) -> kairos::sim::Outcome {
    let store = Arc::new(EmbeddedStore::with_stream(kairos::campaign::triggers::relevant));
    simulate(store, config(out, workers), &mut |_| {}).unwrap()
}

#[test]
fn a_small_run_keeps_every_rule_and_the_checks_catch_what_breaks_one() {
    let dir = std::env::temp_dir().join(format!("kairos-sim-{}", std::process::id()));
    let outcome = run(&dir, 2);
    let s = &outcome.summary;
    assert_eq!(s.customers, 60);
    assert!(s.messages.values().sum::<usize>() > 0, "messages went: {:?}", s.decisions);
    assert_eq!(s.events["rejected"] + s.events["failed"], 0, "{:?}", s.events);
    let none = BTreeMap::new();
    let found = check::check(&dir, &Caps::default(), &none).unwrap();
    assert_eq!(found.violations, Vec::<String>::new());
    assert_eq!(found.accounts, 60);
    assert!(found.messages > 0 && found.events > 1000, "{found:?}");
    // Tampered copies: a marketing SMS to someone who never agreed to anything, and a second
    // email the same day to a customer who had one; the checks must see both.
    let outbox = std::fs::read_to_string(dir.join("outbox.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(outbox.lines().next().unwrap()).unwrap();
    let mut night = first.clone();
    night["message_id"] = "m-forged-sms".into();
    night["customer_id"] = "nobody-agreed".into();
    night["kind"] = "marketing".into();
    night["channel"] = "sms".into();
    night["sent_at"] = "2026-10-20T03:00:00-04:00".into();
    let mut twice = first.clone();
    twice["message_id"] = "m-forged-second".into();
    twice["kind"] = "marketing".into();
    std::fs::write(dir.join("outbox.jsonl"), format!("{outbox}{night}\n{twice}\n")).unwrap();
    let found = check::check(&dir, &Caps::default(), &none).unwrap();
    let text = found.violations.join("\n");
    assert!(text.contains("m-forged-sms") && text.contains("no consent to"), "{text}");
    assert!(text.contains("cap 1 a day"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_same_seed_runs_the_same_way() {
    let (a, b) = (
        std::env::temp_dir().join(format!("kairos-sim-a-{}", std::process::id())),
        std::env::temp_dir().join(format!("kairos-sim-b-{}", std::process::id())),
    );
    // One thread and two: dispatch works sends side by side, the nightly runs split their
    // segments over the threads; the files must not show it.
    run(&a, 1);
    run(&b, 2);
    for f in ["events.jsonl", "outbox.jsonl", "decisions.jsonl", "summary.json"] {
        let (x, y) = (std::fs::read_to_string(a.join(f)).unwrap(), std::fs::read_to_string(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between two runs of one seed");
    }
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn a_shops_own_transactions_replay_through_every_function() {
    let dir = std::env::temp_dir().join(format!("kairos-sim-tx-{}", std::process::id()));
    let mut csv = String::from("customer_id,date,amount\n");
    for c in 0..20 {
        for d in 0..(1 + c % 4) {
            csv.push_str(&format!("shop-{c:03},2026-10-{:02},{}.50\n", 19 + d * 3, 20 + c * 3));
        }
    }
    let events = kairos::sim::import::transactions_csv(&csv).unwrap();
    assert_eq!(events.len(), 50);
    assert!(
        kairos::sim::import::transactions_csv("customer_id,date,amount\nc1,19-10-2026,5\n")
            .unwrap_err()
            .contains("line 2: date")
    );
    // From the first order on, and from a window that starts with half of them history.
    for (start, days) in [("2026-10-19T00:00:00Z", 12), ("2026-10-25T00:00:00Z", 6)] {
        let mut config = config(&dir, 1);
        config.start = chrono::DateTime::parse_from_rfc3339(start).unwrap().to_utc();
        config.days = days;
        config.history_days = 0;
        config.imported = Some(events.clone());
        let store = Arc::new(EmbeddedStore::with_stream(kairos::campaign::triggers::relevant));
        let outcome = simulate(store, config, &mut |_| {}).unwrap();
        assert_eq!(outcome.summary.customers, 20);
        assert_eq!(outcome.summary.events["rejected"], 0);
        let found = check::check(&dir, &Caps::default(), &BTreeMap::new()).unwrap();
        assert_eq!(found.violations, Vec::<String>::new());
        let replayed = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        assert_eq!(
            replayed.lines().filter(|l| l.contains("\"order_placed\"") && l.contains("\"tx-")).count(),
            50,
            "window from {start}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_run_works_against_a_dynamodb_table() {
    let dir = std::env::temp_dir().join(format!("kairos-sim-ddb-{}", std::process::id()));
    let store = kairos_tests::fresh_store().await;
    let store = Arc::new(kairos::sim::Recording::new(store, kairos::campaign::triggers::relevant));
    let mut config = config(&dir, 2);
    config.customers = 12;
    config.days = 1;
    config.history_days = 4;
    config.products = 40;
    // The simulation drives its own runtime: it runs on a thread of its own.
    let outcome =
        std::thread::spawn(move || simulate(store, config, &mut |_| {}).map(|o| o.summary)).join().unwrap().unwrap();
    assert_eq!(outcome.customers, 12);
    assert_eq!(outcome.events["rejected"] + outcome.events["failed"], 0, "{:?}", outcome.events);
    let found = check::check(&dir, &Caps::default(), &BTreeMap::new()).unwrap();
    assert_eq!(found.violations, Vec::<String>::new());
    assert_eq!(found.accounts, 12);
    std::fs::remove_dir_all(&dir).ok();
}
