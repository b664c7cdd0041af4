//! A campaign's templates compiled once, and the message they make for one customer.

use super::{Campaign, Variant};
use crate::contact::Channel;
use crate::content::push::Push;
use crate::content::{ContentError, Context, Template};
use crate::ids::VariantId;

/// A rendered message, ready for delivery.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    Email { subject: String, preheader: Option<String>, html: String, text: String },
    Sms { body: String },
    Push(Push),
}

/// Why a message could not be made: the part and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {error}")]
pub struct RenderError {
    /// e.g. `variants[1].email.subject`.
    pub part: String,
    pub error: ContentError,
}

struct Part {
    field: String,
    template: Template,
}

impl Part {
    fn new(field: String, text: &str) -> Result<Part, RenderError> {
        Template::compile(text).map(|template| Part { field: field.clone(), template }).map_err(|error| RenderError { part: field, error })
    }
    fn required(&self, globals: &liquid::Object) -> Result<String, RenderError> {
        self.template.render_required(globals).map_err(|error| RenderError { part: self.field.clone(), error })
    }
    /// A part that may be left out: `None` when it renders empty.
    fn optional(&self, globals: &liquid::Object) -> Result<Option<String>, RenderError> {
        let text = self.template.render(globals).map_err(|error| RenderError { part: self.field.clone(), error })?;
        Ok(Some(text).filter(|t| !t.trim().is_empty()))
    }
}

enum Compiled {
    Email { subject: Part, preheader: Option<Part>, html: Part, text: Part },
    Sms { body: Part },
    Push { title: Part, body: Part, deep_link: Option<Part>, image_url: Option<Part> },
}

/// Every variant's templates for every channel, compiled.
pub struct Templates {
    variants: Vec<(VariantId, Vec<(Channel, Compiled)>)>,
}

impl Templates {
    pub fn compile(campaign: &Campaign) -> Result<Templates, RenderError> {
        let variants = campaign
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| Ok((v.id.clone(), compile_variant(v, &format!("variants[{i}]"))?)))
            .collect::<Result<_, RenderError>>()?;
        Ok(Templates { variants })
    }

    /// The message of `variant` on `channel` for the customer `context` describes.
    pub fn render(&self, variant: &VariantId, channel: Channel, context: &Context) -> Result<Message, RenderError> {
        let missing = || RenderError {
            part: format!("{variant}.{}", channel.as_str()),
            error: ContentError::Render(format!("variant {variant} has no {} content", channel.as_str())),
        };
        let (_, channels) = self.variants.iter().find(|(id, _)| id == variant).ok_or_else(missing)?;
        let (_, compiled) = channels.iter().find(|(c, _)| *c == channel).ok_or_else(missing)?;
        let globals = context.globals();
        let optional = |p: &Option<Part>| p.as_ref().map(|p| p.optional(&globals)).transpose().map(Option::flatten);
        Ok(match compiled {
            Compiled::Email { subject, preheader, html, text } => Message::Email {
                subject: subject.required(&globals)?,
                preheader: optional(preheader)?,
                html: html.required(&globals)?,
                text: text.required(&globals)?,
            },
            Compiled::Sms { body } => Message::Sms { body: body.required(&globals)? },
            Compiled::Push { title, body, deep_link, image_url } => Message::Push(Push {
                title: title.required(&globals)?,
                body: body.required(&globals)?,
                deep_link: optional(deep_link)?,
                image_url: optional(image_url)?,
            }),
        })
    }
}

fn compile_variant(v: &Variant, at: &str) -> Result<Vec<(Channel, Compiled)>, RenderError> {
    let part = |channel: &str, name: &str, text: &str| Part::new(format!("{at}.{channel}.{name}"), text);
    let optional = |channel: &str, name: &str, text: &Option<String>| text.as_ref().map(|t| part(channel, name, t)).transpose();
    let mut out = Vec::new();
    if let Some(e) = &v.email {
        out.push((
            Channel::Email,
            Compiled::Email {
                subject: part("email", "subject", &e.subject)?,
                preheader: optional("email", "preheader", &e.preheader)?,
                html: part("email", "html", &e.html)?,
                text: part("email", "text", &e.text)?,
            },
        ));
    }
    if let Some(s) = &v.sms {
        out.push((Channel::Sms, Compiled::Sms { body: part("sms", "body", &s.body)? }));
    }
    if let Some(p) = &v.push {
        out.push((
            Channel::Push,
            Compiled::Push {
                title: part("push", "title", &p.title)?,
                body: part("push", "body", &p.body)?,
                deep_link: optional("push", "deep_link", &p.deep_link)?,
                image_url: optional("push", "image_url", &p.image_url)?,
            },
        ));
    }
    Ok(out)
}
