//! Delivery against the emulator: the delivery scenarios on DynamoDB, and the dispatch Lambda
//! end to end — a tick hands the due sends to a real SQS queue (delivered three times over),
//! workers send them through SES v2 and SNS, and what arrives carries the content and headers
//! it should, once.

use chrono::{Duration, Utc};
use kairos::delivery::channel::ByChannel;
use kairos::delivery::dispatch::{Dispatcher, SendQueue};
use kairos::delivery::scenarios::{campaign, customer, queue, settings};
use kairos::delivery::ses::Ses;
use kairos::delivery::sns::Sns;
use kairos::delivery::trace;
use kairos::jobs::sqs::SqsQueue;
use kairos_dispatch::{Deps, handle};
use lambda_runtime::LambdaEvent;
use serde_json::json;

kairos::delivery_scenarios!(kairos_tests::fresh_store().await);

#[tokio::test]
async fn messages_arrive_at_ses_and_sns_once_with_their_content_and_headers() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    // Daytime in the customers' zone whenever the test runs: Paris for a morning run, Tokyo or
    // Los Angeles otherwise (SMS has quiet hours).
    let zone = ["Europe/Paris", "Asia/Tokyo", "America/Los_Angeles"]
        .into_iter()
        .find(|z| {
            let tz: chrono_tz::Tz = z.parse().unwrap();
            let h = chrono::Timelike::hour(&now.with_timezone(&tz));
            (10..19).contains(&h)
        })
        .unwrap();
    let (mail, text, opted) =
        (kairos_tests::unique_name("mail"), kairos_tests::unique_name("text"), kairos_tests::unique_name("opted"));
    let before = now - Duration::hours(1);
    customer(&store, &mail, zone, "FR", "+33612345601", before).await;
    customer(&store, &text, zone, "FR", "+33612345602", before).await;
    // SNS reports numbers ending in 99 as opted out.
    customer(&store, &opted, zone, "FR", "+33612345699", before).await;
    for c in [campaign("news", "email", false), campaign("texts", "sms", false)] {
        kairos::campaign::stored::deploy(&store, &c, before).await.unwrap();
    }
    let sends = vec![
        queue(&store, &mail, "news", "1", now - Duration::minutes(5)).await,
        queue(&store, &text, "texts", "1", now - Duration::minutes(5)).await,
        queue(&store, &opted, "texts", "1", now - Duration::minutes(5)).await,
    ];
    kairos_tests::sesv2().create_email_identity().email_identity("news@shop.example").send().await.unwrap();
    let ses = Ses { client: kairos_tests::sesv2(), from: "Fleet <news@shop.example>".into(), configuration_set: None };
    let lookup = |name: &str| (name == "KAIROS_SMS_SENDER_IDS").then(|| "FR=Fleet".to_string());
    let sns = Sns::from_lookup(kairos_tests::sns(), lookup).unwrap();
    let (sqs, url) = kairos_tests::task_queue("dispatch").await;
    let deps = Deps {
        dispatcher: Dispatcher::new(store, ByChannel { email: ses, other: sns }, settings("email:3/day sms:3/day")),
        queue: SqsQueue::new(sqs.clone(), &url),
    };
    let tick = handle(&deps, LambdaEvent::new(json!({"tick": now.to_rfc3339()}), kairos_tests::lambda_context()), now)
        .await
        .unwrap();
    assert_eq!(tick["tick"]["handed_out"], 3, "{tick}");
    // The queue delivers every send twice more (at-least-once).
    deps.queue.enqueue(&sends).await.unwrap();
    deps.queue.enqueue(&sends).await.unwrap();
    let invocations = kairos_tests::work_queue(&sqs, &url, |event| {
        let deps = &deps;
        async move {
            let event = LambdaEvent::new(event, kairos_tests::lambda_context_with(60));
            handle(deps, event, now).await.unwrap()
        }
    })
    .await;
    assert_eq!(invocations, 9);

    let arrived = kairos_tests::sent_messages();
    let mails: Vec<&serde_json::Value> = arrived
        .iter()
        .filter(|m| {
            m["service"] == "ses" && m["raw"].as_str().unwrap_or("").contains(&format!("To: {mail}@example.com"))
        })
        .collect();
    assert_eq!(mails.len(), 1, "one email, whatever the redeliveries");
    let raw = mails[0]["raw"].as_str().unwrap();
    assert!(raw.contains("List-Unsubscribe: <https://u.shop.example/u/v1.k1."), "{raw}");
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
    assert!(raw.contains("List-Id: <news.lists.shop.example>\r\n"));
    assert!(raw.contains("Subject: Hi Ana\r\n"));
    let html_part = raw
        .split("Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
        .nth(1)
        .unwrap();
    let html = base64_decode(html_part.split("--kairos-").next().unwrap());
    assert!(
        html.contains("1 Quay, Lyon") && html.contains("https://u.shop.example/u/v1.k1."),
        "the postal address and unsubscribe link in the footer: {html}"
    );
    let texts: Vec<&serde_json::Value> =
        arrived.iter().filter(|m| m["service"] == "sns" && m["phone_number"] == "+33612345602").collect();
    assert_eq!(texts.len(), 1, "one SMS");
    assert_eq!(texts[0]["message"], "Fleet: your cart is waiting. STOP to opt out");
    assert_eq!(texts[0]["attributes"]["AWS.SNS.SMS.SMSType"], "Promotional");
    assert_eq!(texts[0]["attributes"]["AWS.SNS.SMS.SenderID"], "Fleet");
    assert!(arrived.iter().all(|m| m["phone_number"] != "+33612345699"), "an opted-out number gets nothing");
    let opted_id = kairos::ids::CustomerId::new(&opted).unwrap();
    let (decisions, _) = trace::of(&deps.dispatcher.store, &opted_id, None).await.unwrap();
    let why = trace::answer(&opted_id, None, &decisions);
    assert!(why.contains("refused") && why.contains("opted out"), "{why}");
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
}
