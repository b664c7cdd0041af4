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
    let base = Config { customers: 60, days: 3, history_days: 30, products: 120, workers, out: out.to_path_buf(), ..Config::default() };
    Config { campaigns: adapt(campaigns, base.start, base.days), program: kairos::loyalty::program::read("p", &text).0, ..base }
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
    let (a, b) = (std::env::temp_dir().join(format!("kairos-sim-a-{}", std::process::id())), std::env::temp_dir().join(format!("kairos-sim-b-{}", std::process::id())));
    run(&a, 1);
    run(&b, 1);
    for f in ["events.jsonl", "outbox.jsonl", "summary.json"] {
        let (x, y) = (std::fs::read_to_string(a.join(f)).unwrap(), std::fs::read_to_string(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between two runs of one seed");
    }
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}
