//! Redemption requests and answers: what the API takes, what it says, and the code a reward
//! gives. Pure: the store side is [`super::accounts::redeem`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ledger::Points;
use super::program::Reward;
use crate::ids::{CustomerId, Ident};
use crate::validate::FieldError;

/// A redemption as asked for.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub customer_id: CustomerId,
    pub reward_id: Ident,
    pub idempotency_key: IdempotencyKey,
}

/// The caller's name for one redemption: the same key asks for the same redemption again.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IdempotencyKey(String);

impl TryFrom<String> for IdempotencyKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.chars().count() > 255 || s.chars().any(char::is_control) {
            return Err("must be 1 to 255 characters without control characters".into());
        }
        Ok(IdempotencyKey(s))
    }
}

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bodies past this are refused before they are read.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// Reads a request body, or the answer that says what is wrong with it (400, with the field).
pub fn parse(body: &[u8]) -> Result<Request, Answer> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Answer::error(413, ".", &format!("is {} bytes (at most {MAX_BODY_BYTES})", body.len())));
    }
    let text = std::str::from_utf8(body).map_err(|_| Answer::error(400, ".", "is not UTF-8 text"))?;
    crate::event::parse::from_str_at::<Request>(text, "").map_err(|e: FieldError| {
        // Text that is not JSON at all is the body's fault, wherever the parser stopped.
        let field = if e.field == "?" { "." } else { e.field.as_str() };
        Answer::error(400, field, &e.problem)
    })
}

/// What the API answers: a status and a JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn error(status: u16, field: &str, message: &str) -> Answer {
        Answer { status, body: json!({"error": {"field": field, "message": crate::redact::scrub(message)}}) }
    }

    pub fn insufficient(active: Points, cost: Points) -> Answer {
        Answer {
            status: 409,
            body: json!({"error": {
                "code": "insufficient_points",
                "message": format!("the active balance is {active} points; the reward costs {cost}"),
                "active": active,
                "cost": cost,
            }}),
        }
    }
}

/// What a redemption gave, kept in its ledger entry: a repeated request gets `answer` again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Redemption {
    pub reward_id: String,
    pub code: String,
    /// A digest of the request (customer and reward): the same key with another request is
    /// refused, not answered with this one.
    pub request: String,
    pub answer: Value,
}

/// A digest of what a request asks for, under its key.
pub fn fingerprint(request: &Request) -> String {
    format!("{:016x}", crate::hash::mixed64(format!("{}\u{0}{}", request.customer_id, request.reward_id).as_bytes()))
}

/// The reward's code for this redemption: the same for the same request (a retry shows the same
/// code), unguessable without the shop's `secret`.
pub fn code(reward: &Reward, secret: &[u8], customer: &CustomerId, key: &IdempotencyKey) -> String {
    crate::codes::code(&reward.code_prefix, secret, &format!("{customer}\u{0}{}", key.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_requests_name_their_field() {
        let bad = |body: &str| parse(body.as_bytes()).unwrap_err();
        assert_eq!(bad("{").status, 400);
        let a = bad(r#"{"customer_id": "c 1", "reward_id": "r", "idempotency_key": "k"}"#);
        assert_eq!(a.body["error"]["field"], "customer_id");
        let a = bad(r#"{"customer_id": "c1", "reward_id": "r", "idempotency_key": ""}"#);
        assert_eq!(a.body["error"]["field"], "idempotency_key");
        let a = bad(r#"{"customer_id": "c1", "reward_id": "r"}"#);
        assert_eq!(a.body["error"]["field"], "idempotency_key");
        let a = bad(r#"{"customer_id": "c1", "reward_id": "r", "idempotency_key": "k", "points": 5}"#);
        assert_eq!(a.body["error"]["field"], "points");
        assert_eq!(parse(&vec![b' '; MAX_BODY_BYTES + 1]).unwrap_err().status, 413);
        assert!(parse(br#"{"customer_id": "c1", "reward_id": "r", "idempotency_key": "k"}"#).is_ok());
    }
}
