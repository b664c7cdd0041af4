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
    pub fn check(&self, s: &str) -> Result<(), String> {
        let len = s.chars().count();
        if len < self.min {
            return Err(format!("must not be empty (expected {} to {} characters)", self.min, self.max));
        }
        if len > self.max {
            return Err(format!("is {len} characters long (expected at most {})", self.max));
        }
        if s.chars().any(char::is_control) {
            return Err("contains a control character".into());
        }
        if self.inner_space {
            if s.trim() != s {
                return Err("has leading or trailing whitespace".into());
            }
        } else if s.chars().any(char::is_whitespace) {
            return Err("contains whitespace (identifiers are one word)".into());
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
        assert!(r.check("").unwrap_err().contains("empty"));
        assert!(r.check("a b").unwrap_err().contains("whitespace"));
        assert!(r.check("a\u{0}b").unwrap_err().contains("control"));
        assert!(r.check(&"x".repeat(129)).unwrap_err().contains("129"));
        assert!(TextRule::NAME.check("Home & Garden").is_ok());
        assert!(TextRule::NAME.check(" Garden").is_err());
    }
}
