//! The published schema is the parser's: the committed file is what the code generates, and an
//! independent validator (Python's jsonschema) agrees with the parser on valid and broken events.

use chrono::Utc;
use kairos::event::parse_inbound;
use serde_json::{Value, json};

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = kairos_tests::repo_root().join("schema/shop-event.v1.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("JSON");
    assert_eq!(
        committed,
        kairos::event::json_schema(),
        "schema/shop-event.v1.json is stale: regenerate it with `cargo run -p kairos-cli -- schema > schema/shop-event.v1.json`"
    );
}

/// Breaks a valid event in ways both a JSON Schema and the parser can see.
fn mutations(event: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let mut with = |what, f: &dyn Fn(&mut Value)| {
        let mut e = event.clone();
        f(&mut e);
        out.push((what, e));
    };
    with("missing id", &|e| {
        e.as_object_mut().unwrap().remove("id");
    });
    with("empty customer id", &|e| e["customer_id"] = json!(""));
    with("unknown top-level field", &|e| e["colour"] = json!("red"));
    with("unknown type", &|e| e["type"] = json!("order_shipped"));
    with("version 2", &|e| e["schema_version"] = json!(2));
    with("unknown data field", &|e| e["data"]["colour"] = json!("red"));
    with("data not an object", &|e| e["data"] = json!([1]));
    with("timestamp without offset", &|e| e["occurred_at"] = json!("2026-11-20T10:00:00"));
    out
}

#[test]
fn an_independent_validator_agrees_with_the_parser() {
    let now = Utc::now();
    let (events, _) = kairos::synth::shop_events(99, 30, 300, now);
    let mut docs: Vec<(String, Value)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let v = serde_json::to_value(e).unwrap();
        if i % 10 == 0 {
            docs.extend(mutations(&v).into_iter().map(|(what, m)| (what.to_string(), m)));
        }
        docs.push(("valid".into(), v));
    }
    docs.push(("line quantity 0".into(), json!({"schema_version": 1, "id": "e", "customer_id": "c", "occurred_at": "2026-11-20T10:00:00Z",
        "source": "s", "type": "order_placed", "data": {"order_id": "o", "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "1", "quantity": 0}]}})));
    docs.push(("lower-case currency".into(), json!({"schema_version": 1, "id": "e", "customer_id": "c", "occurred_at": "2026-11-20T10:00:00Z",
        "source": "s", "type": "order_placed", "data": {"order_id": "o", "currency": "eur", "lines": [{"product_id": "p", "unit_price": "1", "quantity": 1}]}})));

    // Actions a loyalty program rewards.
    let action = |data: Value| {
        json!({"schema_version": 1, "id": "a", "customer_id": "c", "occurred_at": "2026-11-20T10:00:00Z",
            "source": "s", "type": "action_performed", "data": data})
    };
    docs.push(("valid".into(), action(json!({"action": "review", "reference": "rev-1", "product_id": "p"}))));
    docs.push(("valid".into(), action(json!({"action": "referral"}))));
    docs.push(("action missing".into(), action(json!({"reference": "rev-1"}))));
    docs.push(("action with a space".into(), action(json!({"action": "a review"}))));
    docs.push(("unknown action field".into(), action(json!({"action": "review", "stars": 5}))));

    // Catalogue events: valid ones, the same breakages, and their own.
    let product = |i: usize| {
        json!({"schema_version": 1, "id": format!("p-{i}"), "occurred_at": "2026-11-20T10:00:00+01:00", "source": "feed",
            "type": "product_updated", "data": {"product_id": format!("sku-{i}"), "title": "Trail runner", "url": "https://shop.example/p/1",
            "image_url": "https://cdn.example/1.jpg", "price": "89.90", "currency": "EUR", "category_path": ["Shoes", "Running"],
            "brand": "Fleet", "in_stock": i % 2 == 0, "attributes": {"colour": "red", "size": 42}}})
    };
    for i in 0..5 {
        let v = product(i);
        docs.extend(mutations(&v).into_iter().map(|(what, m)| (what.to_string(), m)));
        docs.push(("valid".into(), v));
    }
    let broken = |what: &str, f: &dyn Fn(&mut Value)| {
        let mut v = product(9);
        f(&mut v);
        (what.to_string(), v)
    };
    docs.push(broken("a customer on a product", &|v| v["customer_id"] = json!("c1")));
    docs.push(broken("a relative url", &|v| v["data"]["url"] = json!("/p/1")));
    docs.push(broken("no title", &|v| {
        v["data"].as_object_mut().unwrap().remove("title");
    }));
    docs.push(broken("nine category levels", &|v| {
        v["data"]["category_path"] = json!(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    }));
    docs.push((
        "valid".into(),
        json!({"schema_version": 1, "id": "p-min", "occurred_at": "2026-11-20T10:00:00Z", "source": "feed",
        "type": "product_updated", "data": {"product_id": "sku-min", "title": "Mug"}}),
    ));

    let verdicts = kairos_tests::schema_verdicts("schema/shop-event.v1.json", docs.iter().map(|(_, d)| d));
    assert_eq!(verdicts.len(), docs.len());
    let mut invalid = 0;
    for ((what, doc), verdict) in docs.iter().zip(&verdicts) {
        let rust_ok = parse_inbound(&doc.to_string(), now).is_ok();
        let schema_ok = verdict == "valid";
        assert_eq!(rust_ok, schema_ok, "{what}: parser says {rust_ok}, schema says {verdict}\n{doc}");
        assert_eq!(rust_ok, what == "valid", "{what}: {verdict}");
        invalid += usize::from(!rust_ok);
    }
    assert!(invalid >= 200, "only {invalid} broken events were compared");
}
