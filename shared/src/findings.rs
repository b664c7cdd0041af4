//! What is wrong with a file a person wrote (a campaign, a loyalty program): each problem with
//! its file, line and field, read the same way for every kind of file.

use serde::de::DeserializeOwned;

use crate::yaml;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Blocks validation and deploy.
    Error,
    /// Worth a look; does not block.
    Warning,
}

/// One problem, at a field of a value read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub field: String,
    pub message: String,
}

/// Collects findings, each at its field.
#[derive(Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn error(&mut self, field: &str, message: &str) {
        self.0.push(Finding { severity: Severity::Error, field: field.into(), message: message.into() });
    }

    pub fn warning(&mut self, field: &str, message: &str) {
        self.0.push(Finding { severity: Severity::Warning, field: field.into(), message: message.into() });
    }
}

/// A problem with a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// The field's path (`variants[0].email.subject`), `.` for the file itself.
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {severity}: {}: {}", self.file, self.line, self.field, self.message)
    }
}

impl Problem {
    pub fn error(file: &str, line: usize, field: &str, message: String) -> Problem {
        Problem { file: file.to_string(), line, field: field.to_string(), severity: Severity::Error, message }
    }
}

/// Whether any of `problems` blocks.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

/// A YAML file read into `T` (its types checked, field by field), with the document that says
/// where each value sits; or the one problem that stops it from being read at all. `what`
/// names the fields a file of this kind holds, for a file that is not a mapping.
pub fn read_yaml<T: DeserializeOwned>(
    file: &str,
    text: &str,
    max_bytes: usize,
    what: &str,
) -> Result<(T, yaml::Document), Problem> {
    if text.len() > max_bytes {
        return Err(Problem::error(file, 1, ".", format!("is {} bytes (at most {max_bytes})", text.len())));
    }
    let doc =
        yaml::read(text).map_err(|e| Problem::error(file, e.line, ".", format!("is not valid YAML: {}", e.problem)))?;
    if !doc.value.is_object() {
        return Err(Problem::error(file, 1, ".", format!("is not a mapping of {what}")));
    }
    match crate::event::parse::from_value_at(doc.value.clone(), "") {
        Ok(value) => Ok((value, doc)),
        Err(e) => {
            // A name that is not one of an enum's is reported at the enum: point at the name.
            let field = match doc.only_key(&e.field) {
                Some(key) if e.problem.contains("allowed values") => key,
                _ => e.field,
            };
            Err(Problem::error(file, doc.line_of(&field), &field, e.problem))
        }
    }
}

/// `findings` as problems of `file`, each on the line of its field in `doc`.
pub fn located(file: &str, doc: &yaml::Document, findings: Vec<Finding>) -> Vec<Problem> {
    findings
        .into_iter()
        .map(|Finding { severity, field, message }| Problem {
            file: file.to_string(),
            line: doc.line_of(&field),
            field,
            severity,
            message,
        })
        .collect()
}
