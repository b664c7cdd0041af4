//! Unsubscribe tokens: stateless HMAC-SHA256 over (customer, topic, issued at), so a link needs
//! no table read to be trusted and cannot be forged or moved to another customer or topic.
//!
//! Keys are named: a token carries its key's id, the first key signs, and every key still held
//! verifies. Rotating is adding a new key first and dropping the old one once the links it
//! signed have aged out ([`MAX_AGE_DAYS`]). Keys come from the deployment's secret store, never
//! from the repository.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::ids::{CustomerId, Topic};

/// How long a link works: long enough for an old newsletter in an archive folder.
pub const MAX_AGE_DAYS: i64 = 400;
/// The shortest key accepted (bytes).
pub const MIN_KEY_BYTES: usize = 32;
/// Bytes of the tag kept in the token (128 bits).
const TAG_BYTES: usize = 16;

/// The signing keys, newest (the one that signs) first.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keys({ids:?})")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("unsubscribe keys: {0}")]
    Keys(String),
    #[error("the link is not a valid unsubscribe link")]
    Malformed,
    #[error("the link was signed with a key no longer held")]
    UnknownKey,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link is older than {MAX_AGE_DAYS} days")]
    Expired,
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub customer: CustomerId,
    pub topic: Topic,
    pub issued_at: DateTime<Utc>,
}

impl Keys {
    /// Keys written as `id:secret,id:secret` (newest first; each secret at least
    /// [`MIN_KEY_BYTES`] bytes).
    pub fn parse(text: &str) -> Result<Keys, TokenError> {
        let mut keys = Vec::new();
        for (i, part) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let (id, secret) = part
                .split_once(':')
                .ok_or_else(|| TokenError::Keys(format!("key {}: expected <id>:<secret>", i + 1)))?;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(TokenError::Keys(format!("key {}: the id must be letters, digits, - or _", i + 1)));
            }
            if secret.len() < MIN_KEY_BYTES {
                return Err(TokenError::Keys(format!("key {id}: shorter than {MIN_KEY_BYTES} bytes")));
            }
            keys.push((id.to_string(), secret.as_bytes().to_vec()));
        }
        if keys.is_empty() {
            return Err(TokenError::Keys("no key given".into()));
        }
        Ok(Keys { keys })
    }

    fn tag(secret: &[u8], payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for `customer` and `topic`, issued at `now`.
    pub fn sign(&self, customer: &CustomerId, topic: &Topic, now: DateTime<Utc>) -> String {
        let (id, secret) = &self.keys[0];
        let payload = URL_SAFE_NO_PAD.encode(format!("{customer}\n{topic}\n{}", now.timestamp()));
        let signed = format!("v1.{id}.{payload}");
        let tag = Self::tag(secret, &signed).finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    /// The claims of `token` if one of the keys signed it and it has not expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut parts = token.trim().split('.');
        let (Some("v1"), Some(id), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let (_, secret) = self.keys.iter().find(|(k, _)| k == id).ok_or(TokenError::UnknownKey)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        // A short tag is easier to guess: only the full length is accepted.
        if tag.len() != TAG_BYTES {
            return Err(TokenError::BadSignature);
        }
        Self::tag(secret, &format!("v1.{id}.{payload}"))
            .verify_truncated_left(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let text = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let text = String::from_utf8(text).map_err(|_| TokenError::Malformed)?;
        let mut fields = text.split('\n');
        let (Some(customer), Some(topic), Some(issued), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(TokenError::Malformed);
        };
        let customer = CustomerId::new(customer).map_err(|_| TokenError::Malformed)?;
        let topic = Topic::new(topic).map_err(|_| TokenError::Malformed)?;
        let issued_at =
            issued.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(TokenError::Malformed)?;
        if now - issued_at > Duration::days(MAX_AGE_DAYS) {
            return Err(TokenError::Expired);
        }
        Ok(Claims { customer, topic, issued_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a:0123456789abcdef0123456789abcdef";
    const B: &str = "b:fedcba9876543210fedcba9876543210";

    #[test]
    fn a_token_verifies_under_rotation_and_nothing_else_does() {
        let now = Utc::now();
        let c = CustomerId::new("c.1#x").unwrap();
        let t = Topic::new("marketing").unwrap();
        let old = Keys::parse(A).unwrap();
        let token = old.sign(&c, &t, now);
        assert_eq!(
            old.verify(&token, now).unwrap(),
            Claims {
                customer: c.clone(),
                topic: t.clone(),
                issued_at: DateTime::from_timestamp(now.timestamp(), 0).unwrap()
            }
        );
        // Rotated: the new key signs, the old still verifies links already sent.
        let rotated = Keys::parse(&format!("{B},{A}")).unwrap();
        assert!(rotated.verify(&token, now).is_ok());
        assert!(rotated.sign(&c, &t, now).starts_with("v1.b."));
        // Dropped: the old links stop working.
        assert_eq!(Keys::parse(B).unwrap().verify(&token, now), Err(TokenError::UnknownKey));
        // Tampering with any part fails.
        let parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(format!("c-2\nmarketing\n{}", now.timestamp()));
        assert_eq!(old.verify(&format!("v1.a.{other}.{}", parts[3]), now), Err(TokenError::BadSignature));
        assert_eq!(old.verify(&token[..token.len() - 2], now), Err(TokenError::BadSignature));
        assert_eq!(old.verify("v1.a.x", now), Err(TokenError::Malformed));
        assert_eq!(old.verify("", now), Err(TokenError::Malformed));
        assert_eq!(old.verify(&token, now + Duration::days(MAX_AGE_DAYS + 1)), Err(TokenError::Expired));
        assert!(Keys::parse("a:short").is_err() && Keys::parse("").is_err() && Keys::parse("nocolon").is_err());
        assert!(!format!("{old:?}").contains("0123"), "keys never print");
    }
}
