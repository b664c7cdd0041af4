//! The delivery port: one message, fully decided and rendered, handed to a provider. Three
//! adapters: SES v2 for email ([`super::ses`]), SNS for SMS and push ([`super::sns`]), and the
//! file outbox here (JSON lines) for local runs and the simulation.
//!
//! A provider's failure says what is known about the message, because that decides whether it
//! may be tried again: refused (it did not go, and will not: the claim is closed), unavailable
//! (it did not go, try later), or unknown (the request may have gone: never repeated).

use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::campaign::Kind;
use crate::campaign::render::Message;
use crate::contact::{Channel, Email, Phone, PushToken};
use crate::ids::{CampaignId, CustomerId, MessageId, Topic, VariantId};

/// Where a message goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Address {
    Email(Email),
    Phone(Phone),
    /// Every live device of the customer.
    Push(Vec<PushToken>),
}

/// The links a marketing email carries for RFC 8058 one-click unsubscribe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unsubscribe {
    /// `List-Unsubscribe` (HTTPS; a POST to it unsubscribes).
    pub one_click: String,
    /// The page the footer links to (a GET shows a confirmation button).
    pub page: String,
}

/// One message ready to go.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub message_id: MessageId,
    pub customer_id: CustomerId,
    pub campaign_id: CampaignId,
    pub variant: VariantId,
    pub kind: Kind,
    pub topic: Option<Topic>,
    pub channel: Channel,
    pub to: Address,
    /// The customer's country (SMS sender ids and origination numbers are chosen by it).
    pub country: Option<String>,
    pub message: Message,
    /// Present for marketing email.
    pub unsubscribe: Option<Unsubscribe>,
    /// `List-Id`: one list per campaign, e.g. `<cart-abandoned.shop.example>`.
    pub list_id: String,
    /// When it goes, in the customer's own offset.
    pub sent_at: DateTime<FixedOffset>,
}

/// What a provider said about a message it did not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Refused for good (an invalid address, an opted-out number): not retried.
    #[error("refused: {0}")]
    Refused(String),
    /// Not accepted now (throttled, unavailable): nothing went; try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request may have reached the provider (a timeout, a lost response).
    #[error("unknown whether it went: {0}")]
    Unknown(String),
}

/// A channel provider.
pub trait Deliver: Send + Sync {
    /// Hands `envelope` over; the provider's message id when it was accepted.
    fn deliver(&self, envelope: &Envelope) -> impl Future<Output = Result<String, DeliveryError>> + Send;
}

/// One outbox line.
#[derive(Serialize)]
struct Line<'a> {
    message_id: &'a MessageId,
    customer_id: &'a CustomerId,
    campaign_id: &'a CampaignId,
    variant: &'a VariantId,
    channel: Channel,
    topic: Option<&'a Topic>,
    kind: Kind,
    sent_at: String,
    /// The rendered content (the address is left out: the outbox is shared and read by people).
    content: &'a Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsubscribe: Option<&'a Unsubscribe>,
    list_id: &'a str,
}

/// Messages written as JSON lines to a file: the local channel.
pub struct Outbox {
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl Outbox {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<Outbox> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Outbox { file: Mutex::new(std::io::BufWriter::new(file)) })
    }

    /// The id the outbox answers for a message it has written.
    pub fn provider_id(e: &Envelope) -> String {
        format!("outbox-{}", e.message_id)
    }

    /// Writes what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        self.file.lock().map_err(|_| std::io::Error::other("the outbox lock is poisoned"))?.flush()
    }
}

impl Deliver for Outbox {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        let line = Line {
            message_id: &e.message_id,
            customer_id: &e.customer_id,
            campaign_id: &e.campaign_id,
            variant: &e.variant,
            channel: e.channel,
            topic: e.topic.as_ref(),
            kind: e.kind,
            sent_at: e.sent_at.to_rfc3339(),
            content: &e.message,
            unsubscribe: e.unsubscribe.as_ref(),
            list_id: &e.list_id,
        };
        let mut text = serde_json::to_string(&line).map_err(|err| DeliveryError::Refused(err.to_string()))?;
        text.push('\n');
        let mut file =
            self.file.lock().map_err(|_| DeliveryError::Unavailable("the outbox lock is poisoned".into()))?;
        // A failed write may have left part of the line: whether it "went" is unknown.
        file.write_all(text.as_bytes()).map_err(|err| DeliveryError::Unknown(err.to_string()))?;
        Ok(Self::provider_id(e))
    }
}

/// Email to one provider, SMS and push to another (SES and SNS, in Lambda).
pub struct ByChannel<E, O> {
    pub email: E,
    pub other: O,
}

impl<E: Deliver, O: Deliver> Deliver for ByChannel<E, O> {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        match e.channel {
            Channel::Email => self.email.deliver(e).await,
            Channel::Sms | Channel::Push => self.other.deliver(e).await,
        }
    }
}
