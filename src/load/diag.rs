//! Diagnostics: errors and warnings that point at a file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::yaml::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {level}: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one file.
#[derive(Debug, Clone)]
pub struct Sink {
    file: PathBuf,
    pub items: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: &Path) -> Sink {
        Sink {
            file: file.to_path_buf(),
            items: Vec::new(),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, pos, message.into())
    }

    pub fn warning(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Warning, pos, message.into())
    }

    fn push(&mut self, severity: Severity, pos: Pos, message: String) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message,
            hint: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
}

/// Adds a hint to a diagnostic just pushed.
pub trait WithHint {
    fn hint(&mut self, hint: impl Into<String>);
}

impl WithHint for Diagnostic {
    fn hint(&mut self, hint: impl Into<String>) {
        self.hint = Some(hint.into());
    }
}

/// The known name closest to `name`, if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        let score = strsim::normalized_damerau_levenshtein(name, candidate);
        if score >= 0.6 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_location_and_hint() {
        let mut sink = Sink::new(Path::new("e.yaml"));
        sink.error(Pos { line: 3, column: 7 }, "bad").hint("fix it");
        assert_eq!(
            sink.items[0].to_string(),
            "e.yaml:3:7: error: bad\n  hint: fix it"
        );
    }

    #[test]
    fn closest_finds_typos_only() {
        let known = ["analyst", "synthesizer", "critic"];
        assert_eq!(closest("analist", known), Some("analyst"));
        assert_eq!(closest("zzz", known), None);
    }
}
