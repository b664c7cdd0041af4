//! The variants' counters against DynamoDB on the emulator: clicks and attributed orders from
//! the event stream, and sends (recorded as delivery will), each count once per message,
//! whatever is redelivered or raced, and the bandit reads them.

use futures::future::join_all;
use kairos::campaign::bandit::{Arm, allocation};
use kairos::campaign::stats::{self, Counted, Outcome};
use kairos::ids::{CampaignId, MessageId, VariantId};
use kairos_ingest::{Deps, handle};
use kairos_tests::{failed_ids, named, sqs_batch};
use serde_json::json;

fn click(n: usize, message: usize, variant: &str) -> String {
    let data = json!({"message_id": format!("m-{message}"), "channel": "email", "action": "clicked",
        "campaign_id": "cart-abandoned", "variant": variant});
    kairos_tests::shop_event(
        &format!("click-{n}"),
        &format!("c-{}", message % 7),
        "2026-12-01T10:00:00Z",
        "message_engaged",
        data,
    )
}

#[tokio::test]
async fn clicks_and_sends_count_once_per_message_whatever_is_redelivered_or_raced() {
    let deps = Deps::new(kairos_tests::fresh_store().await);
    let campaign = CampaignId::new("cart-abandoned").unwrap();
    // 30 messages, a third of variant b; each clicked twice (two events).
    let events: Vec<String> = (0..60).map(|n| click(n, n % 30, if (n % 30) % 3 == 0 { "b" } else { "a" })).collect();
    // The same batches delivered twice at once, then once more.
    let batches: Vec<Vec<(String, String)>> = events.chunks(10).map(|c| named(c, "m")).collect();
    let first = join_all(batches.iter().chain(&batches).map(|b| handle(&deps, sqs_batch(b)))).await;
    let again = join_all(batches.iter().map(|b| handle(&deps, sqs_batch(b)))).await;
    for response in first.into_iter().chain(again) {
        assert!(failed_ids(&response.unwrap()).is_empty());
    }
    // Sends recorded by delivery, each three times at once.
    let (a, b) = (VariantId::new("a").unwrap(), VariantId::new("b").unwrap());
    let messages: Vec<MessageId> = (0..30).map(|i| MessageId::new(format!("m-{i}")).unwrap()).collect();
    let sends: Vec<Counted> = messages
        .iter()
        .enumerate()
        .flat_map(|(i, message)| {
            let variant = if i % 3 == 0 { &b } else { &a };
            let c = Counted { campaign: &campaign, variant, message, outcome: Outcome::Sent };
            [c.clone(), c.clone(), c]
        })
        .collect();
    let now = chrono::Utc::now();
    let counted = join_all(sends.iter().map(|c| stats::record(&deps.store, c, now))).await;
    assert_eq!(counted.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 30);

    // Orders attributed to messages: m-0 was clicked already (no second reward), m-30 was not.
    let m30 = MessageId::new("m-30").unwrap();
    let sent = Counted { campaign: &campaign, variant: &b, message: &m30, outcome: Outcome::Sent };
    assert!(stats::record(&deps.store, &sent, now).await.unwrap());
    let orders: Vec<String> = [("o-1", "m-0", "c-0"), ("o-2", "m-30", "c-2"), ("o-2", "m-30", "c-2")]
        .iter()
        .enumerate()
        .map(|(n, (order, message, customer))| {
            let data = json!({"order_id": order, "currency": "EUR", "lines": [{"product_id": "p", "unit_price": "10", "quantity": 1}],
                "attribution": {"message_id": message, "campaign_id": "cart-abandoned", "variant": "b"}});
            kairos_tests::shop_event(&format!("order-{n}"), customer, "2026-12-01T11:00:00Z", "order_placed", data)
        })
        .collect();
    assert!(failed_ids(&handle(&deps, sqs_batch(&named(&orders, "o"))).await.unwrap()).is_empty());

    let (arms, problems) = stats::read(&deps.store, &campaign).await.unwrap();
    assert!(problems.is_empty());
    assert_eq!(arms["a"], Arm { sends: 20, rewards: 20 });
    assert_eq!(arms["b"], Arm { sends: 11, rewards: 11 });
    let share = allocation(&[arms["a"].clone(), arms["b"].clone()], 10_000);
    assert!((share.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{share:?}");
}
