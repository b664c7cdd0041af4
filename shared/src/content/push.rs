//! Push notifications as APNs and FCM take them, and the limits a rendered one must keep.

use serde_json::{Value, json};

/// Most characters of a title shown whole on a lock screen.
pub const TITLE_CHARS: usize = 50;
/// Most characters of a body shown whole on a lock screen (iOS shows about four lines).
pub const BODY_CHARS: usize = 178;
/// The largest payload APNs and FCM accept.
pub const PAYLOAD_BYTES: usize = 4096;

/// A rendered push notification.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Push {
    pub title: String,
    pub body: String,
    pub deep_link: Option<String>,
    pub image_url: Option<String>,
}

impl Push {
    /// The APNs payload (`mutable-content` lets a notification extension fetch the image).
    pub fn apns(&self) -> Value {
        let mut payload = json!({"aps": {"alert": {"title": self.title, "body": self.body}, "sound": "default"}});
        if self.image_url.is_some() {
            payload["aps"]["mutable-content"] = json!(1);
            payload["image_url"] = json!(self.image_url);
        }
        if let Some(link) = &self.deep_link {
            payload["deep_link"] = json!(link);
        }
        payload
    }

    /// The FCM (HTTP v1) message body, without the token delivery adds.
    pub fn fcm(&self) -> Value {
        let mut notification = json!({"title": self.title, "body": self.body});
        if let Some(image) = &self.image_url {
            notification["image"] = json!(image);
        }
        let mut message = json!({"notification": notification});
        if let Some(link) = &self.deep_link {
            message["data"] = json!({"deep_link": link});
        }
        message
    }

    /// What breaks a limit: (part, problem). Payload size is a hard limit; lengths are what a
    /// lock screen shows.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let chars = |s: &str| s.chars().count();
        if chars(&self.title) > TITLE_CHARS {
            out.push(("title", format!("renders {} characters (at most {TITLE_CHARS} show)", chars(&self.title))));
        }
        if chars(&self.body) > BODY_CHARS {
            out.push(("body", format!("renders {} characters (at most {BODY_CHARS} show)", chars(&self.body))));
        }
        for (name, payload) in [("APNs", self.apns()), ("FCM", self.fcm())] {
            let size = payload.to_string().len();
            if size > PAYLOAD_BYTES {
                out.push(("body", format!("makes a {size}-byte {name} payload (at most {PAYLOAD_BYTES})")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_the_link_and_image_and_limits_are_checked() {
        let push = Push {
            title: "Still thinking it over?".into(),
            body: "Your cart is waiting".into(),
            deep_link: Some("shop://cart".into()),
            image_url: Some("https://shop.example/i.jpg".into()),
        };
        assert_eq!(push.apns()["aps"]["alert"]["title"], "Still thinking it over?");
        assert_eq!(push.apns()["aps"]["mutable-content"], 1);
        assert_eq!(push.fcm()["notification"]["image"], "https://shop.example/i.jpg");
        assert_eq!(push.fcm()["data"]["deep_link"], "shop://cart");
        assert!(push.problems().is_empty());
        let long = Push { title: "t".repeat(51), body: "b".repeat(5000), ..push };
        let parts: Vec<_> = long.problems().into_iter().map(|(p, _)| p).collect();
        assert_eq!(parts, ["title", "body", "body", "body"]);
    }
}
