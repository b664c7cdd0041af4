//! The checks a campaign passes before it is deployed: values that make sense, templates that
//! compile and render for a customer the shop knows well and one it hardly knows, limits of
//! each channel, and the compliance a marketing message owes (unsubscribe, postal address,
//! SMS opt-out wording, a consent topic).

use std::collections::HashSet;

use chrono::NaiveTime;

use super::{Campaign, Exit, Kind, OfferValue, SendTime, Variant};
use crate::contact::Channel;
use crate::content::locale::Style;
use crate::content::push::Push;
use crate::content::sample::Markers;
use crate::content::{ContentError, Context, Template, sample, sms};
use crate::money::Amount;

use crate::findings::Findings;
pub use crate::findings::{Finding, Severity};

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
    if campaign.kind == Kind::Transactional {
        if !campaign.trigger.may_be_transactional() {
            out.error("kind", &format!("is transactional, but a {} message is marketing: transactional is for notices a customer needs (a tier change, points about to expire), which skip marketing consent", campaign.trigger.name()));
        }
        if campaign.offer.is_some() {
            out.error("offer", "is not allowed in a transactional campaign: an offer makes it marketing");
        }
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
    if let Some(q) = &campaign.quiet_hours {
        for (field, value) in [("quiet_hours.send_from", &q.send_from), ("quiet_hours.send_until", &q.send_until)] {
            if NaiveTime::parse_from_str(value, "%H:%M").is_err() {
                out.error(field, &format!("is {value:?} (expected a time of day such as \"09:00\")"));
            }
        }
        if q.send_from == q.send_until {
            out.warning("quiet_hours", "send_from equals send_until: the window is the whole day");
        }
    }
    if let Some(h) = campaign.expire_after_hours
        && !(1..=24 * 30).contains(&h)
    {
        out.error("expire_after_hours", &format!("is {h} (expected 1 to 720 hours)"));
    }
    if campaign.kind == Kind::Transactional && campaign.holdout_percent > 0.0 {
        out.error(
            "holdout_percent",
            "must be 0 for a transactional campaign (a notice the customer needs is never held back)",
        );
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

/// The sample customers for `campaign`, with what its trigger guarantees (the cart, the
/// product) and its own offer as each would see it (the longest code it can make).
fn samples(campaign: &Campaign, markers: &Markers) -> Vec<(&'static str, Context)> {
    let shape = |mut c: Context| {
        if !campaign.trigger.has_cart() {
            c.cart = None;
        }
        if !campaign.trigger.has_product() {
            c.product = None;
        }
        c.offer = campaign.offer.as_ref().map(|offer| {
            let code = format!("{}-{}", offer.code_prefix, "W".repeat(8));
            let sent = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
            super::offer::view(offer, code, sent, chrono_tz::UTC, &Style::of(&c.customer.locale))
        });
        c
    };
    vec![
        ("a customer the shop knows well", shape(sample::full(markers))),
        ("a German customer with one recommendation", shape(sample::german(markers))),
        ("a customer with little data", shape(sample::sparse(markers))),
    ]
}

/// One template part: compiled, rendered for every sample; the renders, one per sample.
fn part(
    text: &str,
    field: &str,
    required: bool,
    samples: &[(&str, liquid::Object)],
    out: &mut Findings,
) -> Option<Vec<String>> {
    let template = match Template::compile(text) {
        Ok(t) => t,
        Err(e) => {
            out.error(field, &e.to_string());
            return None;
        }
    };
    let mut renders = Vec::new();
    for (who, globals) in samples {
        let rendered = if required { template.render_required(globals) } else { template.render(globals) };
        match rendered {
            Ok(text) => renders.push(text),
            Err(ContentError::Empty) => {
                out.error(field, &format!("renders empty for {who}: a message without it is not sent (add `| default:` to what may be missing)"));
                return None;
            }
            // One sample's failure is enough to report: the next would repeat it.
            Err(e) => {
                out.error(field, &format!("cannot render for {who}: {e}"));
                return None;
            }
        }
    }
    Some(renders)
}

/// HTML without its comments: a link in a comment is not a link.
fn without_comments(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("-->").map_or("", |end| &rest[start + end + 3..]);
    }
    out.push_str(rest);
    out
}

/// Whether `html` links to `url` (an `href` of exactly it, outside comments).
fn links_to(html: &str, url: &str) -> bool {
    let html = without_comments(html);
    // Liquid's HTML escaping turns & into &amp; inside attributes written with `| escape`.
    let escaped = url.replace('&', "&amp;");
    [url, escaped.as_str()]
        .iter()
        .any(|u| html.contains(&format!("href=\"{u}\"")) || html.contains(&format!("href='{u}'")))
}

/// Whether an SMS says how to stop: the keyword carriers act on, as a word, in capitals.
fn has_opt_out(body: &str) -> bool {
    body.split(|c: char| !c.is_alphanumeric()).any(|w| w == "STOP")
}

fn check_content(campaign: &Campaign, variant: &Variant, at: &str, out: &mut Findings) {
    let markers = Markers::random();
    let samples: Vec<(&str, liquid::Object)> =
        samples(campaign, &markers).iter().map(|(who, c)| (*who, c.globals())).collect();
    let who = |i: usize| samples[i].0;
    let marketing = campaign.kind == Kind::Marketing;
    if let Some(email) = &variant.email {
        let at = format!("{at}.email");
        part(&email.subject, &format!("{at}.subject"), true, &samples, out);
        if let Some(preheader) = &email.preheader {
            part(preheader, &format!("{at}.preheader"), false, &samples, out);
        }
        let html = part(&email.html, &format!("{at}.html"), true, &samples, out);
        let text = part(&email.text, &format!("{at}.text"), true, &samples, out);
        if marketing && let (Some(html), Some(text)) = (html, text) {
            // Every sample customer's message must carry them: a footer inside a condition
            // some customers do not meet is a message that breaks the law for them.
            let url = &markers.unsubscribe_url;
            if let Some(i) = html.iter().position(|h| !links_to(h, url)) {
                out.error(&format!("{at}.html"), &format!("has no unsubscribe link for {}: a marketing email must link to {{{{ unsubscribe_url }}}} (as an href, unchanged, outside comments) for every customer", who(i)));
            }
            if let Some(i) = text.iter().position(|t| !t.contains(url.as_str())) {
                out.error(&format!("{at}.text"), &format!("has no unsubscribe link for {}: the text part must show {{{{ unsubscribe_url }}}} for every customer", who(i)));
            }
            let address = &markers.postal_address;
            if let Some(i) = html
                .iter()
                .zip(&text)
                .position(|(h, t)| !without_comments(h).contains(address.as_str()) && !t.contains(address.as_str()))
            {
                out.error(&format!("{at}.html"), &format!("has no postal address for {}: a marketing email must show {{{{ shop.postal_address }}}} for every customer", who(i)));
            }
        }
    }
    if let Some(sms_content) = &variant.sms {
        let at = format!("{at}.sms");
        if !(1..=10).contains(&sms_content.max_segments) {
            out.error(&format!("{at}.max_segments"), &format!("is {} (expected 1 to 10)", sms_content.max_segments));
        }
        let bodies = part(&sms_content.body, &format!("{at}.body"), true, &samples, out);
        // Checked as sent: typographic spaces and quotes become their GSM-7 look-alikes.
        if let Some(bodies) = bodies.map(|b| b.iter().map(|b| sms::normalise(b)).collect::<Vec<_>>()) {
            // The worst case decides: the customer whose text costs the most parts.
            let worst = bodies.iter().enumerate().max_by_key(|(_, b)| sms::segments(b).parts);
            if let Some((i, body)) = worst
                && sms::segments(body).parts > sms_content.max_segments as usize
            {
                let why = match sms::first_non_gsm(body) {
                    Some(c) => format!(" ({c:?} makes it UCS-2, 70 characters a part: replace it to fit 160)"),
                    None => String::new(),
                };
                out.error(
                    &format!("{at}.body"),
                    &format!(
                        "renders {} parts for {} (at most {}){why}",
                        sms::segments(body).parts,
                        who(i),
                        sms_content.max_segments
                    ),
                );
            }
            if marketing && let Some(i) = bodies.iter().position(|b| !has_opt_out(b)) {
                out.error(&format!("{at}.body"), &format!("has no opt-out wording for {} (e.g. \"Reply STOP to opt out\", STOP in capitals): every marketing SMS must say how to stop", who(i)));
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
            text.as_ref().and_then(|l| part(l, &format!("{at}.{name}"), false, &samples, out))
        };
        let links = optional(&push.deep_link, "deep_link", out);
        let images = optional(&push.image_url, "image_url", out);
        if let (Some(titles), Some(bodies)) = (title, body) {
            let mut seen = std::collections::HashSet::new();
            for (i, (title, body)) in titles.into_iter().zip(bodies).enumerate() {
                let pick = |v: &Option<Vec<String>>| v.as_ref().map(|v| v[i].clone()).filter(|s| !s.trim().is_empty());
                let rendered = Push { title, body, deep_link: pick(&links), image_url: pick(&images) };
                for (part, problem) in rendered.problems() {
                    if !seen.insert(part) {
                        continue;
                    }
                    let field = format!("{at}.{part}");
                    let problem = format!("{problem} for {}", who(i));
                    if problem.contains("payload") {
                        out.error(&field, &problem)
                    } else {
                        out.warning(&field, &problem)
                    }
                }
            }
        }
    }
}
