//! Field-level validation errors shared by every inbound payload.
//!
//! An error names the field (a JSON path such as `data.lines[1].quantity`), says what was wrong
//! and what was expected. Messages never repeat a submitted value verbatim where that value may
//! be personal data; callers pass serde's own messages through [`crate::redact::scrub`].

use std::fmt;

/// One thing wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, `.` for the document itself.
    pub field: String,
    /// What was wrong and what was expected.
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Joins a path prefix and a field name the way serde_path_to_error prints paths.
pub fn join_path(prefix: &str, field: &str) -> String {
    match (prefix, field) {
        ("" | ".", f) => f.to_string(),
        (p, "" | ".") => p.to_string(),
        (p, f) if f.starts_with('[') => format!("{p}{f}"),
        (p, f) => format!("{p}.{f}"),
    }
}

/// Why a text broke its [`TextRule`]; says what the rule is, never repeats the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty (expected {min} to {max} characters)")]
    Empty { min: usize, max: usize },
    #[error("is {len} characters long (expected at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("contains a control character")]
    Control,
    #[error("has leading or trailing whitespace")]
    OuterSpace,
    #[error("contains whitespace (identifiers are one word)")]
    Whitespace,
}

/// A text rule for identifiers and names: length bounds and which characters are allowed.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub min: usize,
    pub max: usize,
    /// Whitespace allowed inside (names), or not at all (identifiers).
    pub inner_space: bool,
}

impl TextRule {
    pub const IDENTIFIER: TextRule = TextRule { min: 1, max: 128, inner_space: false };
    pub const NAME: TextRule = TextRule { min: 1, max: 128, inner_space: true };

    /// Checks `s` against the rule; the error describes the rule, never echoes `s`.
    pub fn check(&self, s: &str) -> Result<(), TextError> {
        // One pass (over bytes for the usual ASCII text): ids are checked on every event and on
        // every stored item read back.
        let (mut len, mut control, mut space) = (0, false, false);
        if s.is_ascii() {
            len = s.len();
            for b in s.bytes() {
                control |= b < 0x20 || b == 0x7f;
                space |= b == b' ';
            }
        } else {
            for c in s.chars() {
                len += 1;
                control |= c.is_control();
                space |= c.is_whitespace();
            }
        }
        if len < self.min {
            return Err(TextError::Empty { min: self.min, max: self.max });
        }
        if len > self.max {
            return Err(TextError::TooLong { len, max: self.max });
        }
        if control {
            return Err(TextError::Control);
        }
        if self.inner_space {
            if s.trim() != s {
                return Err(TextError::OuterSpace);
            }
        } else if space {
            return Err(TextError::Whitespace);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_serde_path_to_error() {
        assert_eq!(join_path("data", "lines[1].quantity"), "data.lines[1].quantity");
        assert_eq!(join_path("data", "[2]"), "data[2]");
        assert_eq!(join_path(".", "id"), "id");
        assert_eq!(join_path("data", "."), "data");
    }

    #[test]
    fn identifier_rule_rejects_what_would_break_keys_and_logs() {
        let r = TextRule::IDENTIFIER;
        assert!(r.check("cust-42").is_ok());
        assert!(r.check("").unwrap_err().to_string().contains("empty"));
        assert_eq!(r.check("a b").unwrap_err(), TextError::Whitespace);
        assert_eq!(r.check("a\u{0}b").unwrap_err(), TextError::Control);
        assert!(r.check(&"x".repeat(129)).unwrap_err().to_string().contains("129"));
        assert!(TextRule::NAME.check("Home & Garden").is_ok());
        assert!(TextRule::NAME.check(" Garden").is_err());
    }
}
