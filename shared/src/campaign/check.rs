//! The checks a campaign passes before it is deployed: values that make sense, templates that
//! compile and render for a customer the shop knows well and one it hardly knows, limits of
//! each channel, and the compliance a marketing message owes (unsubscribe, postal address,
//! SMS opt-out wording, a consent topic).

use std::collections::HashSet;

use chrono::NaiveTime;

use super::{Campaign, Exit, Kind, OfferValue, SendTime, Variant};
use crate::contact::Channel;
use crate::content::push::Push;
use crate::content::sample::{POSTAL_ADDRESS, UNSUBSCRIBE_URL};
use crate::content::{ContentError, Context, Template, sample, sms};
use crate::money::Amount;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Blocks validation and deploy.
    Error,
    /// Worth a look; does not block.
    Warning,
}

/// One problem, at a field of the campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub field: String,
    pub message: String,
}

/// Countries whose rules (or carriers' codes) require opt-out wording in marketing SMS.
pub const SMS_OPT_OUT_COUNTRIES: [&str; 12] = ["US", "CA", "GB", "IE", "FR", "BE", "ES", "IT", "DE", "NL", "AU", "NZ"];
/// Most variants a campaign may test at once.
pub const MAX_VARIANTS: usize = 10;
/// Most hours an optimised send may wait for the customer's best moment.
pub const MAX_WINDOW_HOURS: u32 = 7 * 24;

/// Everything wrong with `campaign`.
pub fn check(campaign: &Campaign) -> Vec<Finding> {
    let mut out = Findings(Vec::new());
    if campaign.name.trim().is_empty() {
        out.error("name", "is empty (give the campaign a name people recognise)");
    }
    if campaign.kind == Kind::Marketing && campaign.topic.is_none() {
        out.error(
            "topic",
            "is missing: a marketing campaign needs the consent topic customers agreed to (e.g. marketing)",
        );
    }
    for e in campaign.trigger.problems() {
        out.error(&e.field, &e.problem);
    }
    if let Some(audience) = &campaign.audience {
        for e in audience.problems("audience") {
            out.error(&e.field, &e.problem);
        }
    }
    check_channels(campaign, &mut out);
    check_timing(campaign, &mut out);
    check_offer(campaign, &mut out);
    for (i, variant) in campaign.variants.iter().enumerate() {
        check_content(campaign, variant, &format!("variants[{i}]"), &mut out);
    }
    let mut findings = out.0;
    findings.sort_by_key(|f| f.severity);
    findings
}

struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, field: &str, message: &str) {
        self.0.push(Finding { severity: Severity::Error, field: field.into(), message: message.into() });
    }
    fn warning(&mut self, field: &str, message: &str) {
        self.0.push(Finding { severity: Severity::Warning, field: field.into(), message: message.into() });
    }
}

fn check_channels(campaign: &Campaign, out: &mut Findings) {
    if campaign.channels.is_empty() {
        out.error("channels", "is empty (list the channels in fallback order, e.g. [email, push])");
    }
    let mut seen = HashSet::new();
    for (i, c) in campaign.channels.iter().enumerate() {
        if !seen.insert(*c) {
            out.error(&format!("channels[{i}]"), &format!("{} is listed twice", c.as_str()));
        }
    }
    if campaign.variants.is_empty() {
        out.error("variants", "is empty (give at least one variant with content for each channel)");
    }
    if campaign.variants.len() > MAX_VARIANTS {
        out.error("variants", &format!("has {} variants (at most {MAX_VARIANTS})", campaign.variants.len()));
    }
    let mut ids = HashSet::new();
    for (i, v) in campaign.variants.iter().enumerate() {
        if !ids.insert(v.id.as_str()) {
            out.error(&format!("variants[{i}].id"), &format!("{} is the id of an earlier variant", v.id));
        }
        for c in &campaign.channels {
            if !v.has(*c) {
                out.error(
                    &format!("variants[{i}]"),
                    &format!("has no {} content, but {} is one of the campaign's channels", c.as_str(), c.as_str()),
                );
            }
        }
        for c in Channel::ALL {
            if v.has(c) && !campaign.channels.contains(&c) {
                out.warning(
                    &format!("variants[{i}].{}", c.as_str()),
                    &format!("is never sent: {} is not in channels", c.as_str()),
                );
            }
        }
    }
}

fn check_timing(campaign: &Campaign, out: &mut Findings) {
    match &campaign.send_time {
        SendTime::Immediate => {}
        SendTime::Optimised { within_hours } if !(1..=MAX_WINDOW_HOURS).contains(within_hours) => out.error(
            "send_time.optimised.within_hours",
            &format!("is {within_hours} (expected 1 to {MAX_WINDOW_HOURS} hours)"),
        ),
        SendTime::Optimised { .. } => {}
        SendTime::LocalTime { at } => {
            if NaiveTime::parse_from_str(at, "%H:%M").is_err() {
                out.error("send_time.local_time.at", &format!("is {at:?} (expected a time of day such as \"10:30\")"));
            }
        }
    }
    if !(0.0..=50.0).contains(&campaign.holdout_percent) {
        out.error(
            "holdout_percent",
            &format!(
                "is {} (expected 0 to 50: more than half held out leaves too few to message)",
                campaign.holdout_percent
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, exit) in campaign.exit_when.iter().enumerate() {
        let at = format!("exit_when[{i}]");
        if !seen.insert(*exit) {
            out.error(&at, "is listed twice");
        }
        let needs_product = matches!(exit, Exit::ProductBought | Exit::OutOfStock);
        if needs_product && !campaign.trigger.has_product() {
            out.error(&at, &format!("needs a product, and a {} campaign is not about one", campaign.trigger.name()));
        }
        if *exit == Exit::CartEmptied && !campaign.trigger.has_cart() {
            out.error(&at, &format!("needs a cart, and a {} campaign is not about one", campaign.trigger.name()));
        }
    }
    if campaign.trigger.has_cart() && !campaign.exit_when.contains(&Exit::OrderPlaced) {
        out.warning("exit_when", "has no order_placed: a customer who ordered in the meantime would still be reminded");
    }
}

fn check_offer(campaign: &Campaign, out: &mut Findings) {
    let Some(offer) = &campaign.offer else {
        if matches!(campaign.trigger, super::Trigger::IntentOffer { .. }) {
            out.error("offer", "is missing: an intent_offer campaign makes an offer");
        }
        return;
    };
    match &offer.value {
        OfferValue::PercentOff(p) if !(1..=90).contains(p) => {
            out.error("offer.value.percent_off", &format!("is {p} (expected 1 to 90 percent)"))
        }
        OfferValue::AmountOff { amount, currency } => match Amount::parse(amount) {
            Err(e) => out.error("offer.value.amount_off.amount", &e.to_string()),
            Ok(a) if a == Amount::ZERO => out.error("offer.value.amount_off.amount", "is 0: an offer gives something"),
            Ok(a) if !a.fits(*currency) => out.error(
                "offer.value.amount_off.amount",
                &format!("has more decimals than {currency} has minor units ({})", currency.exponent()),
            ),
            Ok(_) => {}
        },
        _ => {}
    }
    if !(1..=30 * 24).contains(&offer.valid_hours) {
        out.error("offer.valid_hours", &format!("is {} (expected 1 to 720 hours)", offer.valid_hours));
    }
    let prefix = &offer.code_prefix;
    if !(2..=20).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        out.error("offer.code_prefix", &format!("is {prefix:?} (expected 2 to 20 capital letters or digits)"));
    }
}

/// The sample contexts for `campaign`: what its trigger guarantees is set in both; what a
/// customer may lack (name, recommendations, tier) is missing in the sparse one.
fn samples(campaign: &Campaign) -> [(&'static str, Context); 2] {
    let shape = |mut c: Context| {
        if !campaign.trigger.has_cart() {
            c.cart = None;
        } else if c.cart.is_none() {
            c.cart = sample::full().cart;
        }
        if !campaign.trigger.has_product() {
            c.product = None;
        } else if c.product.is_none() {
            c.product = sample::full().product;
        }
        c.offer = campaign.offer.as_ref().and(sample::full().offer);
        c
    };
    [
        ("a customer the shop knows well", shape(sample::full())),
        ("a customer with little data", shape(sample::sparse())),
    ]
}

/// One template part: compiled, rendered for both samples; the full render returned.
fn part(
    text: &str,
    field: &str,
    required: bool,
    samples: &[(&str, liquid::Object)],
    out: &mut Findings,
) -> Option<String> {
    let template = match Template::compile(text) {
        Ok(t) => t,
        Err(e) => {
            out.error(field, &e.to_string());
            return None;
        }
    };
    let mut first = None;
    for (who, globals) in samples {
        let rendered = if required { template.render_required(globals) } else { template.render(globals) };
        match rendered {
            Ok(text) => {
                first.get_or_insert(text);
            }
            Err(ContentError::Empty) => out.error(field, &format!("renders empty for {who}: a message without it is not sent (add `| default:` to what may be missing)")),
            Err(e) => out.error(field, &format!("cannot render for {who}: {e}")),
        }
        // One sample's failure is enough to report: the next would repeat it.
        first.as_ref()?;
    }
    first
}

fn check_content(campaign: &Campaign, variant: &Variant, at: &str, out: &mut Findings) {
    let samples: Vec<(&str, liquid::Object)> = samples(campaign).iter().map(|(who, c)| (*who, c.globals())).collect();
    let marketing = campaign.kind == Kind::Marketing;
    if let Some(email) = &variant.email {
        let at = format!("{at}.email");
        part(&email.subject, &format!("{at}.subject"), true, &samples, out);
        if let Some(preheader) = &email.preheader {
            part(preheader, &format!("{at}.preheader"), false, &samples, out);
        }
        let html = part(&email.html, &format!("{at}.html"), true, &samples, out);
        let text = part(&email.text, &format!("{at}.text"), true, &samples, out);
        if marketing {
            for (name, body) in [("html", &html), ("text", &text)] {
                if body.as_ref().is_some_and(|b| !b.contains(UNSUBSCRIBE_URL)) {
                    out.error(
                        &format!("{at}.{name}"),
                        "has no unsubscribe link: a marketing email must carry {{ unsubscribe_url }}",
                    );
                }
            }
            let has_address = [&html, &text].iter().any(|b| b.as_ref().is_some_and(|b| b.contains(POSTAL_ADDRESS)));
            if html.is_some() && text.is_some() && !has_address {
                out.error(
                    &format!("{at}.html"),
                    "has no postal address: a marketing email must show {{ shop.postal_address }}",
                );
            }
        }
    }
    if let Some(sms_content) = &variant.sms {
        let at = format!("{at}.sms");
        if !(1..=10).contains(&sms_content.max_segments) {
            out.error(&format!("{at}.max_segments"), &format!("is {} (expected 1 to 10)", sms_content.max_segments));
        }
        if let Some(body) = part(&sms_content.body, &format!("{at}.body"), true, &samples, out) {
            let s = sms::segments(&body);
            if s.parts > sms_content.max_segments as usize {
                let why = match sms::first_non_gsm(&body) {
                    Some(c) => format!(" ({c:?} makes it UCS-2, 70 characters a part: replace it to fit 160)"),
                    None => String::new(),
                };
                out.error(
                    &format!("{at}.body"),
                    &format!(
                        "renders {} parts for a customer the shop knows well (at most {}){why}",
                        s.parts, sms_content.max_segments
                    ),
                );
            }
            let countries = campaign.audience.as_ref().and_then(|a| a.countries());
            let needs_opt_out =
                countries.is_none_or(|cs| cs.iter().any(|c| SMS_OPT_OUT_COUNTRIES.contains(&c.as_str())));
            if marketing && needs_opt_out && !body.to_uppercase().contains("STOP") {
                out.error(&format!("{at}.body"), "has no opt-out wording (e.g. \"Reply STOP to opt out\"): marketing SMS to its audience's countries must say how to stop");
            }
        }
    }
    if let Some(push) = &variant.push {
        let at = format!("{at}.push");
        let title = part(&push.title, &format!("{at}.title"), true, &samples, out);
        let body = part(&push.body, &format!("{at}.body"), true, &samples, out);
        // A link or image that renders empty is left out of the notification, not a reason to
        // hold it back.
        let optional = |text: &Option<String>, name: &str, out: &mut Findings| {
            text.as_ref()
                .and_then(|l| part(l, &format!("{at}.{name}"), false, &samples, out))
                .filter(|v| !v.trim().is_empty())
        };
        let link = optional(&push.deep_link, "deep_link", out);
        let image = optional(&push.image_url, "image_url", out);
        if let (Some(title), Some(body)) = (title, body) {
            let rendered = Push { title, body, deep_link: link, image_url: image };
            for (part, problem) in rendered.problems() {
                let field = format!("{at}.{part}");
                if problem.contains("payload") { out.error(&field, &problem) } else { out.warning(&field, &problem) }
            }
        }
    }
}
