//! Feedback: what providers report about messages, as shop events for the normal ingest path —
//! so suppression, consent, send-time optimisation and the bandit learn from them like from
//! any other event.
//!
//! - SES events (through the configuration set's SNS destination): a permanent bounce or a
//!   complaint suppresses the address; soft bounces suppress it once they reach
//!   [`SOFT_BOUNCES_TO_SUPPRESS`] in a row (counted per address in the table); deliveries, opens
//!   and clicks become `message_engaged` (the engagement part discounts opens that follow the
//!   delivery within seconds, the privacy proxies' prefetch). Rejects and rendering failures
//!   are logged.
//! - Inbound SMS (two-way SMS through SNS): STOP and the words the FCC's 2025 revocation rule
//!   recognises (stop, quit, end, revoke, opt out, cancel, unsubscribe) suppress the number;
//!   START (or UNSTOP) lifts it. The number is matched to the customer Kairos texted at it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Condition, Item, Store, StoreError, Write, decode, encode};

/// Soft bounces in a row after which an address is treated as dead.
pub const SOFT_BOUNCES_TO_SUPPRESS: u32 = 3;

/// What a report could not be read as, with the part to blame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("feedback {part}: {problem}")]
pub struct FeedbackError {
    pub part: String,
    pub problem: String,
}

fn bad(part: &str, problem: impl Into<String>) -> FeedbackError {
    FeedbackError { part: part.into(), problem: problem.into() }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    #[serde(alias = "notificationType")]
    event_type: String,
    mail: Mail,
    #[serde(default)]
    bounce: Option<Value>,
    #[serde(default)]
    complaint: Option<Value>,
    #[serde(default)]
    open: Option<Value>,
    #[serde(default)]
    click: Option<Value>,
    #[serde(default)]
    delivery: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    timestamp: DateTime<Utc>,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// What one SES event means.
#[derive(Clone, Debug, PartialEq)]
pub enum SesFeedback {
    /// Shop events to ingest.
    Events(Vec<Value>),
    /// A soft bounce of `address` for `customer`: counted, suppressed at the threshold.
    SoftBounce { customer: String, address: String, at: DateTime<Utc>, event_id: String },
    /// Nothing to learn (a send, a reject, a rendering failure: logged by the caller).
    Nothing(String),
}

fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}

fn at_of(part: &Option<Value>, fallback: DateTime<Utc>) -> DateTime<Utc> {
    part.as_ref()
        .and_then(|p| p.get("timestamp"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(fallback, |t| t.with_timezone(&Utc))
}

fn shop_event(id: String, customer: &str, at: DateTime<Utc>, kind: &str, data: Value) -> Value {
    json!({"schema_version": 1, "id": id, "customer_id": customer, "occurred_at": at.to_rfc3339(),
        "source": "feedback", "type": kind, "data": data})
}

/// Reads one SES event (the SNS message's text).
pub fn from_ses(text: &str) -> Result<SesFeedback, FeedbackError> {
    let e: SesEvent = serde_json::from_str(text).map_err(|err| bad("message", format!("not an SES event: {err}")))?;
    let Some(customer) = header(&e.mail, "X-Kairos-Customer") else {
        return Ok(SesFeedback::Nothing(
            "an SES event for a message Kairos did not send (no X-Kairos-Customer header)".into(),
        ));
    };
    let message =
        header(&e.mail, "X-Kairos-Message-Id").ok_or_else(|| bad("mail.headers", "X-Kairos-Message-Id is missing"))?;
    let tag = |name: &str| e.mail.tags.get(name).and_then(|v| v.first()).cloned();
    let campaign = header(&e.mail, "X-Kairos-Campaign").map(str::to_string).or_else(|| tag("campaign"));
    let variant = header(&e.mail, "X-Kairos-Variant").map(str::to_string).or_else(|| tag("variant"));
    let kind = e.event_type.to_ascii_lowercase();
    let engaged = |action: &str, at: DateTime<Utc>| {
        let mut data = json!({"message_id": message, "channel": "email", "action": action});
        if let Some(c) = &campaign {
            data["campaign_id"] = c.clone().into();
        }
        if let Some(v) = &variant {
            data["variant"] = v.clone().into();
        }
        shop_event(format!("fb-{message}-{action}-{}", at.timestamp_millis()), customer, at, "message_engaged", data)
    };
    let suppress = |reason: &str, address: &str, at: DateTime<Utc>| {
        shop_event(
            format!("fb-{message}-{reason}-{:016x}", crate::hash::mixed64(address.as_bytes())),
            customer,
            at,
            "suppression_changed",
            json!({"channel": "email", "status": "suppressed", "reason": reason, "address": address}),
        )
    };
    let recipients = |part: &Option<Value>, field: &str| -> Vec<String> {
        let listed: Vec<String> = part
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter().filter_map(|r| r.get("emailAddress").and_then(Value::as_str)).map(str::to_string).collect()
            })
            .unwrap_or_default();
        if listed.is_empty() { e.mail.destination.clone() } else { listed }
    };
    Ok(match kind.as_str() {
        "delivery" => SesFeedback::Events(vec![engaged("delivered", at_of(&e.delivery, e.mail.timestamp))]),
        "open" => SesFeedback::Events(vec![engaged("opened", at_of(&e.open, e.mail.timestamp))]),
        "click" => SesFeedback::Events(vec![engaged("clicked", at_of(&e.click, e.mail.timestamp))]),
        "complaint" => {
            let at = at_of(&e.complaint, e.mail.timestamp);
            SesFeedback::Events(
                recipients(&e.complaint, "complainedRecipients").iter().map(|a| suppress("complaint", a, at)).collect(),
            )
        }
        "bounce" => {
            let at = at_of(&e.bounce, e.mail.timestamp);
            let permanent =
                e.bounce.as_ref().and_then(|b| b.get("bounceType")).and_then(Value::as_str) == Some("Permanent");
            let addresses = recipients(&e.bounce, "bouncedRecipients");
            if permanent {
                SesFeedback::Events(addresses.iter().map(|a| suppress("hard_bounce", a, at)).collect())
            } else {
                let address = addresses
                    .into_iter()
                    .next()
                    .ok_or_else(|| bad("bounce.bouncedRecipients", "names no recipient"))?;
                SesFeedback::SoftBounce {
                    customer: customer.to_string(),
                    address,
                    at,
                    event_id: format!("fb-{message}-soft"),
                }
            }
        }
        other => SesFeedback::Nothing(format!("SES reported {other} for message {message}")),
    })
}

#[derive(Deserialize, Default, serde::Serialize)]
struct SoftCount {
    count: u32,
    /// The messages counted (a redelivered report counts once).
    #[serde(default)]
    seen: Vec<String>,
}

/// Counts a soft bounce (once per report) and, at the threshold, the suppression event to
/// ingest. A delivery to the address would reset the count; reports are rare, so the count
/// simply expires after 30 days.
pub async fn soft_bounce<S: Store>(
    store: &S,
    customer: &str,
    address: &str,
    at: DateTime<Utc>,
    event_id: &str,
) -> Result<Option<Value>, StoreError> {
    let key = crate::store::Key::new(
        format!("SOFT#{:016x}", crate::hash::mixed64(address.trim().to_lowercase().as_bytes())),
        "N",
    );
    for _ in 0..8 {
        let held = store.get(&key).await?;
        let (mut count, condition, version) = match held {
            Some(item) => {
                let v = item.version;
                (decode::<SoftCount>(item)?, Condition::VersionIs(v), v + 1)
            }
            None => (SoftCount::default(), Condition::NotExists, 1),
        };
        if count.seen.iter().any(|s| s == event_id) {
            return Ok(None);
        }
        count.count += 1;
        count.seen.push(event_id.to_string());
        let keep = count.seen.len().saturating_sub(SOFT_BOUNCES_TO_SUPPRESS as usize * 2);
        count.seen.drain(..keep);
        let item = Item::new(key.clone(), version, encode(&key, &count)?).expiring(at.timestamp() + 30 * 86_400);
        match store.write(vec![Write::Put { item, condition }]).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
        return Ok((count.count >= SOFT_BOUNCES_TO_SUPPRESS).then(|| {
            shop_event(
                format!("{event_id}-suppress"),
                customer,
                at,
                "suppression_changed",
                json!({"channel": "email", "status": "suppressed", "reason": "hard_bounce", "address": address}),
            )
        }));
    }
    Err(StoreError::Unavailable("the soft-bounce count kept changing".into()))
}

/// The opt-out words (FCC 2025 revocation rule, and the carriers' STOPALL / OPTOUT).
const STOP_WORDS: [&str; 10] =
    ["stop", "stopall", "quit", "end", "revoke", "opt out", "optout", "cancel", "unsubscribe", "stop all"];
const START_WORDS: [&str; 3] = ["start", "unstop", "yes"];

/// What an inbound SMS asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
    /// Anything else (left for a person to read).
    Other,
}

/// Reads an inbound SMS body. Generous on purpose: "Stop texting me" and "please unsubscribe"
/// revoke (the rule allows revocation by any reasonable means; a false stop costs a customer,
/// a missed one breaks the law).
pub fn keyword(body: &str) -> Keyword {
    let norm: String = body.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    let words: Vec<&str> = norm.split_whitespace().collect();
    let text = words.join(" ");
    let has = |w: &str| text == w || text.starts_with(&format!("{w} ")) || text.contains(&format!(" {w}"));
    if STOP_WORDS.iter().any(|w| has(w)) {
        Keyword::Stop
    } else if START_WORDS.iter().any(|w| text == *w) {
        Keyword::Start
    } else if text == "help" || text == "info" {
        Keyword::Help
    } else {
        Keyword::Other
    }
}

/// The inbound SMS's sender and body (the two-way SMS message SNS delivers).
pub fn inbound_sms(text: &str) -> Result<(String, String, String), FeedbackError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad("message", format!("not an inbound SMS: {e}")))?;
    let field =
        |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad(name, "is missing"));
    Ok((field("originationNumber")?, field("messageBody")?, field("inboundMessageId")?))
}

/// The event an SMS `keyword` from `phone` (of `customer`) makes, if any.
pub fn sms_event(customer: &str, phone: &str, word: Keyword, message_id: &str, at: DateTime<Utc>) -> Option<Value> {
    let status = match word {
        Keyword::Stop => "suppressed",
        Keyword::Start => "lifted",
        Keyword::Help | Keyword::Other => return None,
    };
    Some(shop_event(
        format!("sms-{message_id}"),
        customer,
        at,
        "suppression_changed",
        json!({"channel": "sms", "status": status, "reason": "sms_stop", "address": phone}),
    ))
}

/// What handling one provider message did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handled {
    pub events: usize,
    /// Why nothing was learnt, when nothing was.
    pub ignored: Option<String>,
}

/// Handles one provider message (an SES event or an inbound SMS, as SNS delivers them): its
/// events go through ingest. An error is worth a retry (the store); a message that cannot be
/// read is answered as ignored with the reason (retrying cannot help).
pub async fn handle<S: Store>(store: &S, text: &str, now: DateTime<Utc>) -> Result<Handled, StoreError> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Ok(Handled { events: 0, ignored: Some(format!("not JSON: {e}")) }),
    };
    let events = if v.get("originationNumber").is_some() {
        let (phone, body, id) = match inbound_sms(text) {
            Ok(x) => x,
            Err(e) => return Ok(Handled { events: 0, ignored: Some(e.to_string()) }),
        };
        let word = keyword(&body);
        let Some(customer) = super::dispatch::phone_owner(store, &phone).await? else {
            return Ok(Handled { events: 0, ignored: Some(format!("{word:?} from a number Kairos never texted")) });
        };
        match sms_event(customer.as_str(), &phone, word, &id, now) {
            Some(e) => vec![e],
            None => {
                return Ok(Handled {
                    events: 0,
                    ignored: Some(format!("an inbound SMS ({word:?}) with nothing to change")),
                });
            }
        }
    } else {
        match from_ses(text) {
            Ok(SesFeedback::Events(e)) => e,
            Ok(SesFeedback::SoftBounce { customer, address, at, event_id }) => {
                match soft_bounce(store, &customer, &address, at, &event_id).await? {
                    Some(e) => vec![e],
                    None => return Ok(Handled { events: 0, ignored: Some("a soft bounce, counted".into()) }),
                }
            }
            Ok(SesFeedback::Nothing(why)) => return Ok(Handled { events: 0, ignored: Some(why) }),
            Err(e) => return Ok(Handled { events: 0, ignored: Some(e.to_string()) }),
        }
    };
    let bodies: Vec<String> = events.iter().map(Value::to_string).collect();
    let records: Vec<crate::ingest::Record> =
        bodies.iter().map(|b| crate::ingest::Record { id: "feedback", body: b }).collect();
    let report = crate::ingest::ingest_batch(
        store,
        &crate::clock::ManualClock::new(now),
        &crate::ingest::IngestConfig::default(),
        &records,
    )
    .await;
    if let Some(f) = report.failures.first() {
        return Err(StoreError::Unavailable(format!("feedback could not be ingested: {}", f.error)));
    }
    for r in &report.rejected {
        tracing::error!(error = %crate::redact::scrub(&r.error.to_string()), "a feedback event was rejected");
    }
    Ok(Handled { events: report.applied + report.duplicates, ignored: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ses(kind: &str, extra: Value) -> String {
        let mut e = json!({"eventType": kind, "mail": {"timestamp": "2026-12-02T10:00:00Z", "messageId": "ses-1",
            "destination": ["ana@example.com"], "headers": [
                {"name": "X-Kairos-Customer", "value": "c-1"}, {"name": "X-Kairos-Message-Id", "value": "m-1"},
                {"name": "X-Kairos-Campaign", "value": "cart"}, {"name": "X-Kairos-Variant", "value": "a"}],
            "tags": {}}});
        if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        e.to_string()
    }

    #[test]
    fn ses_events_become_suppressions_and_engagement() {
        let SesFeedback::Events(ev) = from_ses(&ses(
            "Bounce",
            json!({"bounce": {"bounceType": "Permanent", "timestamp": "2026-12-02T10:01:00Z",
            "bouncedRecipients": [{"emailAddress": "ana@example.com"}]}}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(ev[0]["type"], "suppression_changed");
        assert_eq!(ev[0]["data"]["reason"], "hard_bounce");
        let SesFeedback::Events(ev) =
            from_ses(&ses("Complaint", json!({"complaint": {"timestamp": "2026-12-02T11:00:00Z"}}))).unwrap()
        else {
            panic!()
        };
        assert_eq!(ev[0]["data"]["reason"], "complaint");
        assert_eq!(ev[0]["data"]["address"], "ana@example.com");
        let SesFeedback::Events(ev) =
            from_ses(&ses("Click", json!({"click": {"timestamp": "2026-12-02T12:00:00Z", "link": "https://x"}})))
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            ev[0]["data"],
            json!({"message_id": "m-1", "channel": "email", "action": "clicked", "campaign_id": "cart", "variant": "a"})
        );
        assert!(matches!(
            from_ses(&ses("Bounce", json!({"bounce": {"bounceType": "Transient"}}))).unwrap(),
            SesFeedback::SoftBounce { .. }
        ));
        assert!(matches!(from_ses(&ses("Send", json!({}))).unwrap(), SesFeedback::Nothing(_)));
        assert!(from_ses("{}").is_err());
        // Every event parses as a shop event.
        for e in &ev {
            assert!(crate::event::parse_inbound(&e.to_string(), Utc::now()).is_ok(), "{e}");
        }
    }

    #[test]
    fn opt_out_words_are_read_generously_and_start_exactly() {
        for stop in [
            "STOP",
            "stop.",
            "Stop texting me",
            "please UNSUBSCRIBE",
            "Opt out",
            "OPTOUT",
            "cancel",
            "End",
            "quit",
            "revoke",
            "STOPALL",
        ] {
            assert_eq!(keyword(stop), Keyword::Stop, "{stop}");
        }
        for start in ["START", "unstop", "Yes"] {
            assert_eq!(keyword(start), Keyword::Start, "{start}");
        }
        assert_eq!(keyword("HELP"), Keyword::Help);
        assert_eq!(keyword("when does my order arrive?"), Keyword::Other);
        let e = sms_event("c-1", "+33612345678", Keyword::Stop, "in-1", Utc::now()).unwrap();
        assert!(crate::event::parse_inbound(&e.to_string(), Utc::now()).is_ok(), "{e}");
    }

    #[tokio::test]
    async fn soft_bounces_suppress_at_the_threshold_counting_each_report_once() {
        let store = crate::store::embedded::EmbeddedStore::new();
        let at = Utc::now();
        assert!(soft_bounce(&store, "c-1", "a@example.com", at, "m-1").await.unwrap().is_none());
        assert!(
            soft_bounce(&store, "c-1", "a@example.com", at, "m-1").await.unwrap().is_none(),
            "a redelivered report"
        );
        assert!(soft_bounce(&store, "c-1", "a@example.com", at, "m-2").await.unwrap().is_none());
        let e = soft_bounce(&store, "c-1", "a@example.com", at, "m-3").await.unwrap().unwrap();
        assert_eq!(e["data"]["reason"], "hard_bounce");
    }
}
