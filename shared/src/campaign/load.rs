//! Reading campaign files: YAML into a [`Campaign`], every problem with its file, line and field.

use std::collections::HashMap;
use std::path::Path;

use super::Campaign;
use super::check::{Finding, Severity, check};
use crate::findings::read_yaml;
use crate::yaml;

pub use crate::findings::Problem;

/// Campaign files are small; a file past this is not a campaign.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The campaign in `text` (named `file` in problems) and everything wrong with it. The campaign
/// is `None` when the file cannot be read as one at all.
pub fn read(file: &str, text: &str) -> (Option<Campaign>, Vec<Problem>) {
    let (campaign, doc) =
        match read_yaml::<Campaign>(file, text, MAX_FILE_BYTES, "campaign fields (id, name, trigger, …)") {
            Ok(read) => read,
            Err(problem) => return (None, vec![problem]),
        };
    let problems = check(&campaign)
        .into_iter()
        .map(|Finding { severity, field, message }| Problem {
            file: file.to_string(),
            line: template_line(&message).map_or_else(|| doc.line_of(&field), |inner| doc.line_within(&field, inner)),
            field,
            severity,
            message,
        })
        .collect();
    (Some(campaign), problems)
}

/// The line inside a template a Liquid syntax error points at (" --> 3:14"), if it says.
fn template_line(message: &str) -> Option<usize> {
    message.split_once("--> ").and_then(|(_, rest)| rest.split(':').next()).and_then(|n| n.trim().parse().ok())
}

/// Every campaign in `dir` (files ending `.yaml` or `.yml`, in name order) and every problem,
/// ids used twice included. `dir` may also be a single file.
pub fn read_dir(dir: &Path) -> std::io::Result<(Vec<Campaign>, Vec<Problem>)> {
    let mut files: Vec<std::path::PathBuf> = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else {
        // Regular files only (a folder or a pipe named `x.yaml` is not a campaign), any case of
        // the extension; subfolders are not read.
        std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")))
            .collect()
    };
    files.sort();
    let mut campaigns = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                problems.push(Problem {
                    file: name,
                    line: 1,
                    field: ".".into(),
                    severity: Severity::Error,
                    message: "is not UTF-8 text".into(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let (campaign, found) = read(&name, &text);
        problems.extend(found);
        if let Some(c) = campaign {
            if let Some(first) = seen.insert(c.id.to_string(), name.clone()) {
                let line = yaml::read(&text).map_or(1, |d| d.line_of("id"));
                problems.push(Problem {
                    file: name,
                    line,
                    field: "id".into(),
                    severity: Severity::Error,
                    message: format!("{} is already the id of the campaign in {first}", c.id),
                });
            }
            campaigns.push(c);
        }
    }
    Ok((campaigns, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CART: &str = include_str!("../../../campaigns/cart-abandoned.yaml");

    fn problems(text: &str) -> Vec<Problem> {
        read("c.yaml", text).1
    }

    /// The sample with `old` replaced by `new` (which must be there).
    fn edited(old: &str, new: &str) -> String {
        assert!(CART.contains(old), "{old}");
        CART.replacen(old, new, 1)
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    /// Every mistake a marketer makes, each reported with its field, line and a message that says
    /// what is wrong.
    #[test]
    fn mistakes_are_reported_at_their_field_and_line() {
        let subject = line_of(CART, "subject: \"{{ customer.first_name");
        let cases: Vec<(String, &str, usize, &str)> = vec![
            (
                edited("after_minutes: 60", "after_minutes: sixty"),
                "trigger.cart_abandoned.after_minutes",
                line_of(CART, "after_minutes"),
                "expected a whole number",
            ),
            (
                edited("after_minutes: 60", "after_minutes: 2"),
                "trigger.cart_abandoned.after_minutes",
                line_of(CART, "after_minutes"),
                "expected 10 to",
            ),
            (
                edited("cart_abandoned:", "cart_abandonned:"),
                "trigger.cart_abandonned",
                line_of(CART, "cart_abandoned:"),
                "cart_abandoned",
            ),
            (edited("status: active", "status: live"), "status", 4, "draft"),
            (edited("topic: marketing\n", ""), "topic", 1, "consent topic"),
            (
                edited("customer.first_name | default: 'Hi'", "customer.frist_name"),
                "variants[0].email.subject",
                subject,
                "frist_name",
            ),
            (
                edited("customer.first_name | default: 'Hi' }}", "customer.first_name "),
                "variants[0].email.subject",
                subject,
                "Liquid",
            ),
            (
                edited(
                    "\"{{ customer.first_name | default: 'Hi' }}, your cart is waiting\"",
                    "\"{{ customer.first_name }}\"",
                ),
                "variants[0].email.subject",
                subject,
                "renders empty",
            ),
            (
                edited("<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> · <a", "<a"),
                "variants[0].email.html",
                line_of(CART, "html: |"),
                "unsubscribe",
            ),
            (
                edited(
                    "title: \"Still thinking it over?\"",
                    "title: \"Still thinking it over? Your cart misses you and so do we, honestly\"",
                ),
                "variants[0].push.title",
                line_of(CART, "Still thinking"),
                "at most 50",
            ),
            (
                edited("channels: [email, push]", "channels: [email, push, sms]"),
                "variants[0]",
                line_of(CART, "- id: plain"),
                "no sms content",
            ),
            (
                edited("channels: [email, push]", "channels: [email, email]"),
                "channels[1]",
                line_of(CART, "channels:"),
                "twice",
            ),
            (edited("id: urgency", "id: plain"), "variants[1].id", line_of(CART, "id: urgency"), "earlier variant"),
            (
                edited("holdout_percent: 10", "holdout_percent: 80"),
                "holdout_percent",
                line_of(CART, "holdout_percent"),
                "0 to 50",
            ),
            (
                edited("send_time: immediate", "send_time:\n  local_time:\n    at: \"25:00\""),
                "send_time.local_time.at",
                line_of(CART, "send_time") + 2,
                "time of day",
            ),
            (
                edited("exit_when: [order_placed, cart_emptied]", "exit_when: [product_bought]"),
                "exit_when[0]",
                line_of(CART, "exit_when"),
                "needs a product",
            ),
            (
                edited("holdout_percent: 10", "holdout_percent: 10\ncolour: red"),
                "colour",
                line_of(CART, "holdout_percent") + 1,
                "not a field",
            ),
            (edited("name: Cart reminder", "name: Cart reminder\nname: again"), ".", 4, "given twice"),
            (
                edited(
                    "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> · <a",
                    "{% if customer.first_name %}<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>{% endif %} · <a",
                ),
                "variants[0].email.html",
                line_of(CART, "html: |"),
                "for a customer with little data",
            ),
            (
                edited(
                    "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> · <a",
                    "<!-- <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> --> · <a",
                ),
                "variants[0].email.html",
                line_of(CART, "html: |"),
                "outside comments",
            ),
            (
                edited(
                    "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> · <a",
                    "<a href=\"{{ unsubscribe_url | truncate: 30 }}\">Unsubscribe</a> · <a",
                ),
                "variants[0].email.html",
                line_of(CART, "html: |"),
                "unchanged",
            ),
            (edited("status: active", "status: active\nkind: transactional"), "kind", 5, "is marketing"),
            (
                edited("after_minutes: 60", "after_minutes: 60\n  birthday:\n    days_before: 0"),
                "trigger",
                line_of(CART, "trigger:"),
                "exactly one",
            ),
            (
                edited("<p>Total: {{ cart.total }}", "<p>Total: {{ cart.total "),
                "variants[0].email.html",
                line_of(CART, "<p>Total:"),
                "Liquid",
            ),
            (
                edited("<p>Total: {{ cart.total }}", "<p>Total: {{ cart.total | money_format }}"),
                "variants[0].email.html",
                line_of(CART, "html: |"),
                "money_format",
            ),
        ];
        for (text, field, line, says) in cases {
            let found = problems(&text);
            let hit = found.iter().find(|p| p.field == field && p.severity == Severity::Error);
            let Some(hit) = hit.or_else(|| found.iter().find(|p| p.field == field)) else {
                panic!("{field}: nothing reported there: {found:#?}");
            };
            assert_eq!(hit.line, line, "{hit}");
            assert!(hit.message.contains(says), "{field} should say {says:?}: {hit}");
        }
    }

    #[test]
    fn sms_over_its_budget_or_without_opt_out_wording_for_any_customer_fails() {
        let sms = |body: &str, audience: &str| {
            edited("channels: [email, push]", "channels: [sms]")
                .replace(
                    "    push:\n      title: \"Still",
                    &format!("    sms:\n      body: \"{body}\"\n    push:\n      title: \"Still"),
                )
                .replace(
                    "    push:\n      title: \"Your cart won't",
                    &format!("    sms:\n      body: \"{body}\"\n    push:\n      title: \"Your cart won't"),
                )
                .replace("send_time: immediate", &format!("send_time: immediate\n{audience}"))
        };
        let errors = |text: &str| -> Vec<String> {
            problems(text)
                .into_iter()
                .filter(|p| p.severity == Severity::Error)
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect()
        };
        assert_eq!(errors(&sms("Your cart: {{ cart.total }}. Reply STOP to opt out", "")), Vec::<String>::new());
        let no_stop = errors(&sms("Your cart: {{ cart.total }}", ""));
        assert!(no_stop.iter().any(|e| e.starts_with("variants[0].sms.body: has no opt-out")), "{no_stop:?}");
        // Whatever the audience, and a lower-case "stop" in a sentence is not the keyword.
        for (body, audience) in [
            ("Your cart: {{ cart.total }}", "audience:\n  country: [JP]"),
            ("Don't stop shopping: {{ cart.total }}", ""),
        ] {
            let found = errors(&sms(body, audience));
            assert!(found.iter().any(|e| e.contains("has no opt-out")), "{body}: {found:?}");
        }
        // Opt-out wording only for some customers is no opt-out.
        let some = errors(&sms(
            "Your cart: {{ cart.total }}{% if customer.country == 'GB' %} Reply STOP to opt out{% endif %}",
            "",
        ));
        assert!(some.iter().any(|e| e.contains("has no opt-out wording for a German customer")), "{some:?}");
        let long = "Your cart is waiting for you with everything you picked, and it would be a shame to let it go: come back and finish your order today. Reply STOP to opt out ✓";
        let over = errors(&sms(long, ""));
        assert!(over.iter().any(|e| e.contains("renders 3 parts") && e.contains("UCS-2")), "{over:?}");
    }

    #[test]
    fn files_that_are_not_campaigns_say_so() {
        for (text, says) in [("- a\n- b\n", "not a mapping"), ("id: [\n", "not valid YAML"), ("", "not a mapping")] {
            let (c, p) = read("x.yaml", text);
            assert!(c.is_none() && p.len() == 1 && p[0].message.contains(says), "{text:?}: {p:?}");
        }
    }

    #[test]
    fn the_sample_reads_clean() {
        let (campaign, problems) = read("cart-abandoned.yaml", CART);
        assert_eq!(problems, vec![]);
        assert_eq!(campaign.unwrap().variants.len(), 2);
    }
}
