//! The feedback and unsubscribe Lambdas against DynamoDB on the emulator: a hard bounce and an
//! SMS STOP (through the feedback function, as SNS delivers them) suppress the next send; a
//! one-click POST to the unsubscribe function unsubscribes and a GET does not.

use chrono::{Duration, Utc};
use kairos::delivery::dispatch::Dispatcher;
use kairos::delivery::scenarios::{Recorder, campaign, customer, queue, settings};
use kairos::delivery::token::Keys;
use kairos::delivery::trace::Outcome;
use kairos::ids::{CustomerId, Topic};
use lambda_runtime::LambdaEvent;
use serde_json::json;

fn sns(messages: &[String]) -> aws_lambda_events::event::sns::SnsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            json!({"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:eu-west-1:1:t:s",
                "Sns": {"Type": "Notification", "MessageId": "n", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Subject": null,
                    "Message": m, "Timestamp": "2026-12-02T10:00:00.000Z", "SignatureVersion": "1", "Signature": "x",
                    "SigningCertUrl": "https://x", "UnsubscribeUrl": "https://x", "MessageAttributes": {}}})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

#[tokio::test]
async fn a_bounce_and_a_stop_suppress_the_next_send() {
    let store = kairos_tests::fresh_store().await;
    let now = "2026-12-02T10:00:00Z".parse::<chrono::DateTime<Utc>>().unwrap();
    customer(&store, "c-1", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(3)).await;
    for c in [campaign("mail", "email", false), campaign("text", "sms", false)] {
        kairos::campaign::stored::deploy(&store, &c, now - Duration::days(1)).await.unwrap();
    }
    let d = Dispatcher::new(store, Recorder::default(), settings("email:5/day sms:5/day all:10/day"));
    let first = [queue(&d.store, "c-1", "mail", "1", now).await, queue(&d.store, "c-1", "text", "1", now).await];
    for s in &first {
        assert!(matches!(d.send(s, now).await.unwrap(), Outcome::Sent { .. }));
    }
    let message_id = kairos::delivery::dispatch::message_id(&first[0]);
    // SES reports a permanent bounce; the customer texts STOP. Each report arrives twice.
    let bounce = json!({"eventType": "Bounce", "mail": {"timestamp": "2026-12-02T10:00:01Z", "messageId": "ses-1",
        "destination": ["c-1@example.com"], "headers": [{"name": "X-Kairos-Customer", "value": "c-1"},
        {"name": "X-Kairos-Message-Id", "value": message_id.as_str()}], "tags": {}},
        "bounce": {"bounceType": "Permanent", "timestamp": "2026-12-02T10:00:02Z", "bouncedRecipients": [{"emailAddress": "c-1@example.com"}]}})
    .to_string();
    let stop =
        json!({"originationNumber": "+33612345678", "destinationNumber": "+33700000000", "messageKeyword": "KEYWORD",
        "messageBody": "Stop", "inboundMessageId": "in-1", "previousPublishedMessageId": "p"})
        .to_string();
    let later = now + Duration::minutes(10);
    for _ in 0..2 {
        let event = LambdaEvent::new(sns(&[bounce.clone(), stop.clone()]), kairos_tests::lambda_context());
        let out = kairos_feedback::handle(&d.store, event, later).await.unwrap();
        assert_eq!(out["ignored"], 0, "{out}");
    }
    let next = [queue(&d.store, "c-1", "mail", "2", later).await, queue(&d.store, "c-1", "text", "2", later).await];
    for s in &next {
        assert_eq!(d.send(s, later).await.unwrap(), Outcome::Suppressed);
    }
    assert_eq!(d.channel.count(), 2, "only the first two went");
    let (decisions, _) = kairos::delivery::trace::of(&d.store, &next[0].customer_id, None).await.unwrap();
    let why = kairos::delivery::trace::answer(&next[0].customer_id, None, &decisions);
    assert!(why.contains("bounced hard") && why.contains("opt-out word"), "{why}");
}

#[tokio::test]
async fn one_click_post_unsubscribes_and_get_does_not() {
    let store = kairos_tests::fresh_store().await;
    let now = Utc::now();
    customer(&store, "c-u", "Europe/Paris", "FR", "+33612345678", now - Duration::hours(1)).await;
    let keys = Keys::parse("k1:0123456789abcdef0123456789abcdef").unwrap();
    let c = CustomerId::new("c-u").unwrap();
    let marketing = Topic::new("marketing").unwrap();
    let token = keys.sign(&c, &marketing, now);
    let request = |method: &str| {
        let r: aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest =
            serde_json::from_value(json!({
            "version": "2.0", "rawPath": format!("/u/{token}"), "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": method, "path": format!("/u/{token}")}, "timeEpoch": 0},
            "body": if method == "POST" { "List-Unsubscribe=One-Click" } else { "" }, "isBase64Encoded": false}))
            .unwrap();
        LambdaEvent::new(r, kairos_tests::lambda_context())
    };
    let consent =
        |p: &kairos::profile::Profile| p.consent(kairos::contact::Channel::Email, &marketing).and_then(|t| t.value);
    let got = kairos_unsubscribe::handle(&store, &keys, request("GET")).await.unwrap();
    assert_eq!(got.status_code, 200);
    let p = kairos::customers::load(&store, &c).await.unwrap().unwrap();
    assert_eq!(consent(&p), Some(kairos::event::ConsentStatus::Granted), "a GET (a link scanner) changes nothing");
    let got = kairos_unsubscribe::handle(&store, &keys, request("POST")).await.unwrap();
    assert_eq!(got.status_code, 200, "{:?}", got.body);
    let p = kairos::customers::load(&store, &c).await.unwrap().unwrap();
    assert_eq!(consent(&p), Some(kairos::event::ConsentStatus::Revoked));
}
