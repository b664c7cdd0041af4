//! The unsubscribe endpoint (a Lambda function URL), RFC 8058:
//!
//! - `POST /u/<token>` unsubscribes the customer from the token's topic by email at once, with
//!   no further step (mail clients send `List-Unsubscribe=One-Click`; the confirmation page's
//!   button posts here too);
//! - `GET /u/<token>` shows a small page with a button and never unsubscribes by itself: link
//!   scanners and mail security gateways fetch every link;
//! - `GET /p/<token>` lists the customer's topics and what they agreed to, each with its own
//!   button.
//!
//! An unsubscribe is a `consent_changed` event through the normal ingest path (source
//! `one_click_unsubscribe`), so it has the same provenance and idempotence as any other: the
//! event id comes from the token, and a second click changes nothing.

use chrono::{DateTime, Utc};

use super::token::Keys;
use crate::clock::ManualClock;
use crate::event::ConsentStatus;
use crate::ids::Topic;
use crate::ingest::{IngestConfig, Record, ingest_batch};
use crate::store::{Store, StoreError};

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

fn page(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" content=\"noindex\"><title>{t}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>{t}</h1>{inner}</body></html>",
        t = escape(title)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A form posting to the one-click URL (relative: the page is served from the endpoint).
fn button(token: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/u/{token}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">{}</button></form>",
        escape(label)
    )
}

fn invalid() -> Reply {
    Reply {
        status: 400,
        body: page(
            "This link does not work",
            "<p>It may be incomplete or too old. Use the link in a recent message, or contact the shop.</p>",
        ),
    }
}

/// The event a one-click unsubscribe with `token` records: consent to `topic` by email revoked.
/// Its id is the token's: a second click (or a client posting twice) is a duplicate.
pub fn one_click_event(
    customer: &crate::ids::CustomerId,
    topic: &str,
    token: &str,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let id = format!("unsub-{:016x}", crate::hash::mixed64(token.as_bytes()));
    serde_json::json!({"schema_version": 1, "id": id, "customer_id": customer.as_str(),
        "occurred_at": now.to_rfc3339(), "source": "unsubscribe", "type": "consent_changed",
        "data": {"channel": "email", "topic": topic, "status": "revoked", "source": "one_click_unsubscribe"}})
}

/// Answers `method` on `path` (`/u/<token>` or `/p/<token>`).
pub async fn answer<S: Store>(
    store: &S,
    keys: &Keys,
    method: &str,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Reply, StoreError> {
    let path = path.trim_end_matches('/');
    let (kind, token) = match path.rsplit_once('/') {
        Some((k, t)) if !t.is_empty() => (k.trim_start_matches('/'), t),
        _ => return Ok(Reply { status: 404, body: page("Not found", "") }),
    };
    let Ok(claims) = keys.verify(token, now) else { return Ok(invalid()) };
    let topic = claims.topic.as_str();
    match (method, kind) {
        ("POST", "u") => {
            let body = one_click_event(&claims.customer, topic, token, now).to_string();
            let report = ingest_batch(
                store,
                &ManualClock::new(now),
                &IngestConfig::default(),
                &[Record { id: "unsubscribe", body: &body }],
            )
            .await;
            if let Some(f) = report.failures.first().or(report.rejected.first()) {
                return Err(StoreError::Unavailable(format!("the unsubscribe could not be recorded: {}", f.error)));
            }
            Ok(Reply {
                status: 200,
                body: page(
                    "You are unsubscribed",
                    &format!("<p>You will get no more <b>{}</b> emails from us.</p>", escape(topic)),
                ),
            })
        }
        ("GET", "u") => Ok(Reply {
            status: 200,
            body: page(
                "Unsubscribe?",
                &format!("<p>Stop <b>{}</b> emails?</p>{}", escape(topic), button(token, "Unsubscribe")),
            ),
        }),
        ("GET", "p") => {
            let Some(profile) = crate::customers::load(store, &claims.customer).await? else { return Ok(invalid()) };
            let mut rows = String::new();
            let mut topics: Vec<String> =
                profile.contact.consents.keys().filter_map(|k| k.strip_prefix("email/").map(str::to_string)).collect();
            if !topics.iter().any(|t| t == topic) {
                topics.push(topic.to_string());
            }
            topics.sort();
            for t in topics {
                let Ok(t) = Topic::new(&t) else { continue };
                let granted = profile
                    .consent(crate::contact::Channel::Email, &t)
                    .is_some_and(|c| c.value == Some(ConsentStatus::Granted));
                let action = if granted {
                    button(&keys.sign(&claims.customer, &t, now), "Unsubscribe")
                } else {
                    "<i>not subscribed</i>".into()
                };
                rows.push_str(&format!("<li><b>{}</b> {action}</li>", escape(t.as_str())));
            }
            Ok(Reply { status: 200, body: page("Your email preferences", &format!("<ul>{rows}</ul>")) })
        }
        _ => Ok(Reply { status: 405, body: page("Not allowed", "") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn one_click_post_unsubscribes_and_get_does_not() {
        let store = EmbeddedStore::new();
        let now = Utc::now();
        super::super::scenarios::customer(
            &store,
            "c-1",
            "Europe/Paris",
            "FR",
            "+33612345678",
            now - chrono::Duration::hours(1),
        )
        .await;
        let keys = Keys::parse("k1:0123456789abcdef0123456789abcdef").unwrap();
        let c = CustomerId::new("c-1").unwrap();
        let marketing = Topic::new("marketing").unwrap();
        let token = keys.sign(&c, &marketing, now);
        let consent =
            |p: &crate::profile::Profile| p.consent(crate::contact::Channel::Email, &marketing).and_then(|t| t.value);
        let path = format!("/u/{token}");
        // A scanner fetching the link changes nothing.
        let got = answer(&store, &keys, "GET", &path, now).await.unwrap();
        assert_eq!(got.status, 200);
        assert!(got.body.contains("method=\"post\""));
        let p = crate::customers::load(&store, &c).await.unwrap().unwrap();
        assert_eq!(consent(&p), Some(ConsentStatus::Granted));
        let prefs = answer(&store, &keys, "GET", &format!("/p/{token}"), now).await.unwrap();
        assert!(prefs.body.contains("<b>marketing</b>") && prefs.body.contains("Unsubscribe"), "{}", prefs.body);
        // One click, twice: unsubscribed, once, with its provenance.
        for _ in 0..2 {
            let got = answer(&store, &keys, "POST", &path, now).await.unwrap();
            assert_eq!(got.status, 200, "{}", got.body);
        }
        let p = crate::customers::load(&store, &c).await.unwrap().unwrap();
        let t = p.consent(crate::contact::Channel::Email, &marketing).unwrap();
        assert_eq!(t.value, Some(ConsentStatus::Revoked));
        assert_eq!(t.source.as_str(), "one_click_unsubscribe");
        // SMS consent is untouched; a forged or broken token does nothing.
        assert!(
            p.consent(crate::contact::Channel::Sms, &marketing)
                .is_some_and(|t| t.value == Some(ConsentStatus::Granted))
        );
        let forged = answer(&store, &keys, "POST", &format!("/u/{}x", &token[..token.len() - 1]), now).await.unwrap();
        assert_eq!(forged.status, 400);
        assert_eq!(answer(&store, &keys, "DELETE", &path, now).await.unwrap().status, 405);
    }
}
