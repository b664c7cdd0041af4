//! The email adapter: Amazon SES v2 `SendEmail` with a raw MIME message, so every header a
//! marketing email needs is Kairos's to set: `List-Unsubscribe` (HTTPS) with
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), `List-Id` (RFC 2919), and the
//! message id the feedback path finds the message by. The configuration set routes SES's
//! events (bounces, complaints, opens, clicks) to the feedback function.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::channel::{Address, Deliver, DeliveryError, Envelope};
use super::provider::classify;
use crate::campaign::render::Message;

/// The SES adapter.
pub struct Ses {
    pub client: aws_sdk_sesv2::Client,
    /// `From:`, e.g. `Fleet <news@shop.example>` (a verified identity).
    pub from: String,
    pub configuration_set: Option<String>,
}

impl Ses {
    /// `KAIROS_EMAIL_FROM` (required) and `KAIROS_SES_CONFIGURATION_SET`, read through `lookup`.
    pub fn from_lookup(
        client: aws_sdk_sesv2::Client,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Ses, crate::churn::history::SettingError> {
        let from = lookup("KAIROS_EMAIL_FROM").filter(|v| v.contains('@') && !v.contains(['\r', '\n'])).ok_or(
            crate::churn::history::SettingError {
                setting: "KAIROS_EMAIL_FROM",
                problem: "is required: the verified sender, e.g. \"Shop <news@shop.example>\"".into(),
            },
        )?;
        let configuration_set = lookup("KAIROS_SES_CONFIGURATION_SET").filter(|v| !v.trim().is_empty());
        Ok(Ses { client, from, configuration_set })
    }
}

impl Deliver for Ses {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        let (Address::Email(to), Message::Email { subject, preheader, html, text }) = (&e.to, &e.message) else {
            return Err(DeliveryError::Refused("the email adapter sends email only".into()));
        };
        let mime = mime(&self.from, to.as_str(), e, subject, preheader.as_deref(), html, text);
        let raw = aws_sdk_sesv2::types::RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(mime.into_bytes()))
            .build()
            .map_err(|err| DeliveryError::Refused(err.to_string()))?;
        let tags =
            [("campaign", e.campaign_id.as_str()), ("variant", e.variant.as_str()), ("message", e.message_id.as_str())]
                .into_iter()
                .filter_map(|(name, value)| {
                    aws_sdk_sesv2::types::MessageTag::builder().name(name).value(tag_value(value)).build().ok()
                })
                .collect::<Vec<_>>();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses(to.as_str()).build())
            .content(aws_sdk_sesv2::types::EmailContent::builder().raw(raw).build())
            .set_email_tags(Some(tags))
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|err| {
                classify(&err, &["MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"])
            })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// SES tag values allow letters, digits, `_`, `-`, `.`, `@`.
fn tag_value(v: &str) -> String {
    v.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.@".contains(c) { c } else { '_' }).take(256).collect()
}

/// An RFC 2047 encoded word when the text is not plain ASCII (a subject in German or Japanese).
fn header_text(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    if clean.is_ascii() { clean } else { format!("=?UTF-8?B?{}?=", STANDARD.encode(clean.as_bytes())) }
}

/// Base64 in lines of 76 (RFC 2045).
fn body_base64(text: &str) -> String {
    let encoded = STANDARD.encode(text.as_bytes());
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// The whole message: headers, then a text and an HTML alternative.
pub fn mime(
    from: &str,
    to: &str,
    e: &Envelope,
    subject: &str,
    preheader: Option<&str>,
    html: &str,
    text: &str,
) -> String {
    let boundary = format!("kairos-{}", e.message_id);
    let mut m = String::new();
    let mut header = |name: &str, value: &str| {
        m.push_str(name);
        m.push_str(": ");
        m.push_str(value);
        m.push_str("\r\n");
    };
    header("From", from);
    header("To", to);
    header("Subject", &header_text(subject));
    header("Date", &e.sent_at.to_rfc2822());
    header("MIME-Version", "1.0");
    header("X-Kairos-Message-Id", e.message_id.as_str());
    header("X-Kairos-Campaign", e.campaign_id.as_str());
    // SES events carry the headers back: the feedback path finds the customer by this one.
    header("X-Kairos-Customer", e.customer_id.as_str());
    header("X-Kairos-Variant", e.variant.as_str());
    header("List-Id", &e.list_id);
    if let Some(u) = &e.unsubscribe {
        header("List-Unsubscribe", &format!("<{}>", u.one_click));
        header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    }
    if let Some(p) = preheader {
        // Some clients show it beside the subject; carried for them in the HTML too.
        header("X-Preheader", &header_text(p));
    }
    header("Content-Type", &format!("multipart/alternative; boundary=\"{boundary}\""));
    m.push_str("\r\n");
    for (kind, body) in [("text/plain", text), ("text/html", html)] {
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: {kind}; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        m.push_str(&body_base64(body));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Kind;
    use crate::contact::{Channel, Email};
    use crate::delivery::channel::Unsubscribe;
    use crate::ids::{CampaignId, CustomerId, MessageId, VariantId};

    #[test]
    fn the_message_carries_one_click_unsubscribe_and_encodes_what_is_not_ascii() {
        let e = Envelope {
            message_id: MessageId::new("m-1").unwrap(),
            customer_id: CustomerId::new("c-1").unwrap(),
            campaign_id: CampaignId::new("cart").unwrap(),
            variant: VariantId::new("a").unwrap(),
            kind: Kind::Marketing,
            topic: None,
            channel: Channel::Email,
            to: Address::Email(Email::parse("ana@example.com").unwrap()),
            country: None,
            message: Message::Sms { body: String::new() },
            unsubscribe: Some(Unsubscribe {
                one_click: "https://u.example/u/t".into(),
                page: "https://u.example/u/t".into(),
            }),
            list_id: "<cart.shop.example>".into(),
            sent_at: chrono::Utc::now().fixed_offset(),
        };
        let m = mime(
            "Shop <news@shop.example>",
            "ana@example.com",
            &e,
            "Dein Warenkorb wartet – Jürgen\r\nBcc: x",
            None,
            "<p>ö</p>",
            "ö",
        );
        assert!(m.contains("List-Unsubscribe: <https://u.example/u/t>\r\n"));
        assert!(m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(m.contains("List-Id: <cart.shop.example>\r\n"));
        assert!(m.contains("Subject: =?UTF-8?B?"));
        assert!(!m.contains("\r\nBcc:"), "a line break in the subject cannot add a header");
        assert!(m.contains(&STANDARD.encode("<p>ö</p>")));
    }
}
