//! How many SMS parts a text costs: GSM-7 fits 160 characters in one part (153 per part when
//! split), and its extension characters (`€ [ ] { } ~ ^ \ |`, form feed) take two; one character
//! outside GSM-7 turns the whole text into UCS-2, 70 UTF-16 units in one part, 67 when split.

/// The GSM 03.38 basic character set.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs an escape and itself.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Code units: GSM-7 septets or UTF-16 units.
    pub units: usize,
    pub parts: usize,
}

pub fn segments(text: &str) -> Segments {
    let mut septets = 0;
    let mut gsm = true;
    for c in text.chars() {
        if BASIC.contains(c) {
            septets += 1;
        } else if EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (encoding, units, single, multi) =
        if gsm { (Encoding::Gsm7, septets, 160, 153) } else { (Encoding::Ucs2, text.encode_utf16().count(), 70, 67) };
    let parts = match units {
        0 => 0,
        u if u <= single => 1,
        u => u.div_ceil(multi),
    };
    Segments { encoding, units, parts }
}

/// The text as sent: typographic spaces, quotes and dashes (which templates and locale
/// formatting produce, "39,80 €" with a no-break space) become their GSM-7 look-alikes, so one
/// of them does not turn the whole text into UCS-2 and double its cost.
pub fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{a0}' | '\u{202f}' | '\u{2009}' | '\u{2007}' => ' ',
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => '"',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            '\u{2026}' => '.',
            other => other,
        })
        .collect()
}

/// The first character that forces UCS-2, to tell a marketer what to replace.
pub fn first_non_gsm(text: &str) -> Option<char> {
    text.chars().find(|&c| !BASIC.contains(c) && !EXTENSION.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_the_encoding_limits() {
        assert_eq!(segments(""), Segments { encoding: Encoding::Gsm7, units: 0, parts: 0 });
        assert_eq!(segments(&"a".repeat(160)).parts, 1);
        assert_eq!(segments(&"a".repeat(161)).parts, 2);
        assert_eq!(segments(&"a".repeat(306)).parts, 2);
        assert_eq!(segments(&"a".repeat(307)).parts, 3);
        // Extension characters count twice.
        assert_eq!(segments(&"€".repeat(80)), Segments { encoding: Encoding::Gsm7, units: 160, parts: 1 });
        assert_eq!(segments(&"€".repeat(81)).parts, 2);
        // One emoji makes it UCS-2 (and an emoji is two UTF-16 units).
        let s = segments(&format!("{}😀", "a".repeat(68)));
        assert_eq!((s.encoding, s.units, s.parts), (Encoding::Ucs2, 70, 1));
        assert_eq!(segments(&format!("{}😀", "a".repeat(69))).parts, 2);
        assert_eq!(segments(&"ä".repeat(160)).encoding, Encoding::Gsm7);
        assert_eq!(first_non_gsm("Hi Zoë ✓"), Some('ë'));
        let german = normalise("10,00\u{a0}€ – bis 3.\u{a0}Dezember, „heute“");
        assert_eq!(german, "10,00 € - bis 3. Dezember, \"heute\"");
        assert_eq!(segments(&german).encoding, Encoding::Gsm7);
    }
}
