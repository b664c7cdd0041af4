//! Keeping personal data out of logs.
//!
//! Kairos never logs a profile, an address or a message body. What it does log, error messages
//! about rejected input, can still carry a value the sender put in the wrong place (serde echoes
//! `invalid type: string "ana@example.com"`). [`scrub`] removes submitted string literals and
//! masks anything that looks like an email address or a phone number, and every error logged
//! about input goes through it.

/// Returns `text` with quoted string values elided and email- or phone-like runs masked.
pub fn scrub(text: &str) -> String {
    mask_phones(&mask_emails(&elide_string_values(text)))
}

/// serde quotes offending string values as `string "…"`; drop the value, keep the message.
fn elide_string_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("string \"") {
        let open = pos + "string \"".len();
        out.push_str(&rest[..open]);
        // Find the closing quote, skipping escaped characters.
        let tail = &rest[open..];
        let mut escaped = false;
        let mut close = None;
        for (i, c) in tail.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        out.push('…');
        match close {
            Some(i) => {
                out.push('"');
                rest = &tail[i + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'')
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-')
}

fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = out.len();
            let mut local_len = 0;
            for (byte_idx, c) in out.char_indices().rev() {
                if !is_local_char(c) {
                    break;
                }
                start = byte_idx;
                local_len += 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain_char(chars[end]) {
                end += 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            if local_len > 0 && domain.trim_matches('.').contains('.') {
                out.truncate(start);
                out.push_str("[email]");
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Masks runs of seven or more digits (with the separators people write in phone numbers).
fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts =
            chars[i].is_ascii_digit() || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if starts {
            let mut end = i;
            let mut digits = 0;
            let mut last_digit = i;
            while end < chars.len()
                && (chars[end].is_ascii_digit() || matches!(chars[end], ' ' | '-' | '.' | '(' | ')' | '+'))
            {
                if chars[end].is_ascii_digit() {
                    digits += 1;
                    last_digit = end;
                }
                end += 1;
            }
            // A date is not a phone number, even with a time after it ("2026-11-24 10:00"); one
            // that more digits follow may be.
            let head: String = chars[i..(i + 10).min(chars.len())].iter().collect();
            if is_date(&head) && ends_date(&chars[(i + 10).min(chars.len())..]) {
                out.push_str(&head);
                i += 10;
                continue;
            }
            if digits >= 7 {
                out.push_str("[phone]");
                i = last_digit + 1;
                continue;
            }
            out.extend(&chars[i..=last_digit.max(i)]);
            i = last_digit.max(i) + 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// What may follow a date for it to be one: nothing, a `T` or a space and a time (`10:00`), or
/// anything that cannot continue a phone number.
fn ends_date(rest: &[char]) -> bool {
    match rest {
        [] | ['T', ..] => true,
        [' ', a, b, ':', ..] => a.is_ascii_digit() && b.is_ascii_digit(),
        [c, ..] => !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+')),
    }
}

/// A plausible calendar date as RFC 3339 writes it (`2026-11-24`: a year 1900–2199, a month, a
/// day): digits, not a phone number.
fn is_date(run: &str) -> bool {
    let b = run.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |r: std::ops::Range<usize>| run.get(r).and_then(|t| t.parse::<u32>().ok());
    matches!((number(0..4), number(5..7), number(8..10)), (Some(1900..=2199), Some(1..=12), Some(1..=31)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn serde_messages_lose_their_values() {
        let m = r#"invalid type: string "Ana \"the\" Lopez", expected u32 at line 1 column 40"#;
        assert_eq!(scrub(m), r#"invalid type: string "…", expected u32 at line 1 column 40"#);
    }

    #[test]
    fn emails_and_phones_are_masked() {
        assert_eq!(scrub("unknown variant `ana.lopez+x@mail.example.com`"), "unknown variant `[email]`");
        assert_eq!(scrub("call +1 (415) 555-0123 now"), "call [phone] now");
        assert_eq!(scrub("line 1 column 57"), "line 1 column 57");
        assert_eq!(scrub("at @ handle"), "at @ handle");
        assert_eq!(scrub("user@localhost"), "user@localhost");
        // Dates and times in messages are kept.
        let m = "e.g. \"2026-11-24T09:30:00+01:00\", day 2026-11-24 10:00";
        assert_eq!(scrub(m), m);
        assert_eq!(scrub("call 2026-112-4123"), "call [phone]");
        for phone in [
            "0612-34-5678",
            "4155-55-0123",
            "0701-23-45 67",
            "2026-11-2412345",
            "2026-11-24-5678",
            "2012-10-12.345",
            "2001-02-03 4567",
        ] {
            assert!(!scrub(&format!("data.{phone}: unknown")).contains(phone), "{phone} survived");
        }
    }

    proptest! {
        #[test]
        fn no_email_survives(local in "[a-z][a-z0-9._]{0,12}", domain in "[a-z]{1,10}\\.[a-z]{2,4}", before in "[ -~]{0,20}", after in "[ -~]{0,20}") {
            let email = format!("{local}@{domain}");
            let text = format!("{before} {email} {after}");
            prop_assert!(!scrub(&text).contains(&email));
        }

        #[test]
        fn no_phone_survives(digits in "[1-9][0-9]{7,13}", before in "[a-z ]{0,20}") {
            let phone = format!("+{digits}");
            let text = format!("{before} {phone} x");
            prop_assert!(!scrub(&text).contains(&digits));
        }

        #[test]
        fn scrub_never_panics(text in "\\PC{0,200}") {
            let _ = scrub(&text);
        }
    }
}
