//! SMS and push through Amazon SNS.
//!
//! SMS: `Publish` to the number, promotional or transactional by the campaign's kind, with the
//! sender id or origination number configured for the recipient's country; a number SNS has
//! opted out (`CheckIfPhoneNumberIsOptedOut`) is refused before anything is sent. Push: each
//! live device gets a platform endpoint (created idempotently from its token) and one `Publish`
//! with the APNs and FCM payloads.

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;

use super::channel::{Address, Deliver, DeliveryError, Envelope};
use super::provider::classify;
use crate::campaign::Kind;
use crate::campaign::render::Message;
use crate::contact::PushPlatform;

/// Per-country SMS origination, read from settings like `FR=Fleet,DE=Fleet`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Senders {
    pub sender_ids: BTreeMap<String, String>,
    pub origination_numbers: BTreeMap<String, String>,
}

impl Senders {
    /// Reads `CC=value,CC=value`; the setting's name is in the error.
    pub fn parse_map(
        setting: &'static str,
        text: &str,
    ) -> Result<BTreeMap<String, String>, crate::churn::history::SettingError> {
        let mut out = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (cc, value) = part.split_once('=').ok_or_else(|| crate::churn::history::SettingError {
                setting,
                problem: format!("{part:?}: expected <country code>=<value>"),
            })?;
            out.insert(cc.trim().to_ascii_uppercase(), value.trim().to_string());
        }
        Ok(out)
    }
}

/// The SNS adapter.
pub struct Sns {
    pub client: aws_sdk_sns::Client,
    pub senders: Senders,
    /// Platform application ARNs by platform.
    pub apns_arn: Option<String>,
    pub apns_sandbox_arn: Option<String>,
    pub fcm_arn: Option<String>,
}

impl Sns {
    /// `KAIROS_SMS_SENDER_IDS`, `KAIROS_SMS_ORIGINATION_NUMBERS` (`CC=value,…`) and
    /// `KAIROS_PUSH_APNS_ARN` / `KAIROS_PUSH_APNS_SANDBOX_ARN` / `KAIROS_PUSH_FCM_ARN`.
    pub fn from_lookup(
        client: aws_sdk_sns::Client,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Sns, crate::churn::history::SettingError> {
        let map = |setting: &'static str| Senders::parse_map(setting, &lookup(setting).unwrap_or_default());
        let senders = Senders {
            sender_ids: map("KAIROS_SMS_SENDER_IDS")?,
            origination_numbers: map("KAIROS_SMS_ORIGINATION_NUMBERS")?,
        };
        let arn = |setting: &str| lookup(setting).filter(|v| !v.trim().is_empty());
        Ok(Sns {
            client,
            senders,
            apns_arn: arn("KAIROS_PUSH_APNS_ARN"),
            apns_sandbox_arn: arn("KAIROS_PUSH_APNS_SANDBOX_ARN"),
            fcm_arn: arn("KAIROS_PUSH_FCM_ARN"),
        })
    }
}

fn text(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().ok()
}

impl Sns {
    async fn sms(&self, e: &Envelope, number: &str, body: &str) -> Result<String, DeliveryError> {
        let opted = self
            .client
            .check_if_phone_number_is_opted_out()
            .phone_number(number)
            .send()
            .await
            .map_err(|err| classify(&err, &["InvalidParameter"]))?;
        if opted.is_opted_out() {
            return Err(DeliveryError::Refused("the number has opted out of SMS with the carrier (SNS)".into()));
        }
        let kind = match e.kind {
            Kind::Marketing => "Promotional",
            Kind::Transactional => "Transactional",
        };
        let mut publish = self.client.publish().phone_number(number).message(body);
        publish = publish.set_message_attributes(Some(
            [
                Some(("AWS.SNS.SMS.SMSType", kind.to_string())),
                e.country
                    .as_ref()
                    .and_then(|c| self.senders.sender_ids.get(c))
                    .map(|s| ("AWS.SNS.SMS.SenderID", s.clone())),
                e.country
                    .as_ref()
                    .and_then(|c| self.senders.origination_numbers.get(c))
                    .map(|s| ("AWS.MM.SMS.OriginationNumber", s.clone())),
            ]
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.to_string(), text(&v)?)))
            .collect(),
        ));
        let out = publish.send().await.map_err(|err| classify(&err, &["InvalidParameter", "OptedOut"]))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }

    async fn push(
        &self,
        tokens: &[crate::contact::PushToken],
        push: &crate::content::push::Push,
    ) -> Result<String, DeliveryError> {
        let payload = serde_json::json!({
            "default": push.body,
            "APNS": push.apns().to_string(),
            "APNS_SANDBOX": push.apns().to_string(),
            "GCM": push.fcm().to_string(),
        })
        .to_string();
        let mut ids = Vec::new();
        let mut last_error = None;
        for t in tokens {
            let arn = match t.platform {
                PushPlatform::Apns => &self.apns_arn,
                PushPlatform::ApnsSandbox => &self.apns_sandbox_arn,
                PushPlatform::Fcm => &self.fcm_arn,
            };
            let Some(arn) = arn else {
                last_error =
                    Some(DeliveryError::Refused(format!("no platform application is configured for {:?}", t.platform)));
                continue;
            };
            let endpoint = match self
                .client
                .create_platform_endpoint()
                .platform_application_arn(arn)
                .token(t.token.as_str())
                .send()
                .await
            {
                Ok(o) => o.endpoint_arn().unwrap_or_default().to_string(),
                Err(err) => {
                    last_error = Some(classify(&err, &["InvalidParameter"]));
                    continue;
                }
            };
            match self.client.publish().target_arn(endpoint).message_structure("json").message(&payload).send().await {
                Ok(o) => ids.push(o.message_id().unwrap_or_default().to_string()),
                Err(err) => last_error = Some(classify(&err, &["EndpointDisabled", "InvalidParameter"])),
            }
        }
        match (ids.is_empty(), last_error) {
            // One device reached is a message delivered: the others' errors are the feedback's.
            (false, _) => Ok(ids.join(",")),
            (true, Some(e)) => Err(e),
            (true, None) => Err(DeliveryError::Refused("no device to send to".into())),
        }
    }
}

impl Deliver for Sns {
    async fn deliver(&self, e: &Envelope) -> Result<String, DeliveryError> {
        match (&e.to, &e.message) {
            (Address::Phone(p), Message::Sms { body }) => self.sms(e, p.as_str(), body).await,
            (Address::Push(tokens), Message::Push(push)) => self.push(tokens, push).await,
            _ => Err(DeliveryError::Refused("the SNS adapter sends SMS and push only".into())),
        }
    }
}
