//! Campaign files: the published schema is the reader's, an independent validator agrees with it,
//! and the samples in `campaigns/` cover every trigger and pass every check.

use std::collections::BTreeSet;

use kairos::campaign::check::Severity;
use kairos::campaign::load::{read, read_dir};
use serde_json::{Value, json};

#[test]
fn the_committed_campaign_schema_is_the_generated_one() {
    let path = kairos_tests::repo_root().join("schema/campaign.v1.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("JSON");
    assert_eq!(
        committed,
        kairos::campaign::json_schema(),
        "schema/campaign.v1.json is stale: regenerate it with `cargo run -p kairos-cli -- campaigns schema > schema/campaign.v1.json`"
    );
}

#[test]
fn the_samples_cover_every_trigger_and_pass_every_check() {
    let (campaigns, problems) = read_dir(&kairos_tests::repo_root().join("campaigns")).unwrap();
    let errors: Vec<String> =
        problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());
    let used: BTreeSet<&str> = campaigns.iter().map(|c| c.trigger.name()).collect();
    let all: BTreeSet<&str> = kairos::campaign::trigger::NAMES.into_iter().collect();
    assert_eq!(used, all, "a sample campaign for every trigger");
}

/// Breaks a valid campaign in ways a schema can see.
fn mutations(campaign: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let mut with = |what, f: &dyn Fn(&mut Value)| {
        let mut c = campaign.clone();
        f(&mut c);
        out.push((what, c));
    };
    with("no id", &|c| {
        c.as_object_mut().unwrap().remove("id");
    });
    with("an id with a space", &|c| c["id"] = json!("cart reminder"));
    with("unknown status", &|c| c["status"] = json!("live"));
    with("unknown field", &|c| c["colour"] = json!("red"));
    with("unknown trigger", &|c| c["trigger"] = json!({"cart_abandonned": {"after_minutes": 60}}));
    with("two triggers", &|c| c["trigger"] = json!({"birthday": {"days_before": 0}, "welcome": {"after_hours": 1}}));
    with("trigger field of the wrong type", &|c| c["trigger"] = json!({"birthday": {"days_before": "soon"}}));
    with("unknown channel", &|c| c["channels"] = json!(["email", "fax"]));
    with("variant without id", &|c| {
        c["variants"][0].as_object_mut().unwrap().remove("id");
    });
    with("email without text part", &|c| {
        c["variants"][0]["email"].as_object_mut().unwrap().remove("text");
    });
    with("unknown send time", &|c| c["send_time"] = json!("whenever"));
    with("unknown exit", &|c| c["exit_when"] = json!(["order_shipped"]));
    with("negative holdout type", &|c| c["holdout_percent"] = json!("ten"));
    out
}

#[test]
fn an_independent_validator_agrees_with_the_reader_on_the_file_format() {
    let root = kairos_tests::repo_root();
    let mut docs: Vec<(String, Value)> = Vec::new();
    for entry in std::fs::read_dir(root.join("campaigns")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let value = kairos::yaml::read(&text).unwrap().value;
        docs.extend(mutations(&value).into_iter().map(|(what, m)| (what.to_string(), m)));
        docs.push(("valid".into(), value));
    }
    let verdicts = kairos_tests::schema_verdicts("schema/campaign.v1.json", docs.iter().map(|(_, d)| d));
    assert_eq!(verdicts.len(), docs.len());
    for ((what, doc), verdict) in docs.iter().zip(&verdicts) {
        // The reader's file-format verdict: a campaign at all (the checks past the format, such
        // as ranges and templates, are beyond what a schema says).
        let yaml = serde_json::to_string(doc).unwrap();
        let (campaign, problems) = read("doc.yaml", &yaml);
        let reader_ok = campaign.is_some();
        assert_eq!(reader_ok, verdict == "valid", "{what}: reader says {problems:?}, schema says {verdict}");
        assert_eq!(reader_ok, what == "valid", "{what}: {verdict}");
    }
}
