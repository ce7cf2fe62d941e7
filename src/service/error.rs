//! The errors a request can end in, and how each front tells them apart (`ErrorKind`).

use std::path::PathBuf;

use crate::load::diag::Diagnostic;

/// Errors a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("ensemble `{name}` not found{}; looked in: {}{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), searched_list(searched), unreadable_note(unreadable))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
        suggestion: Option<String>,
        /// The first error of each file that could not be read as an ensemble: the name may be
        /// defined inside one of them.
        unreadable: Vec<Diagnostic>,
    },
    #[error("ensemble `{name}` is invalid ({} error(s))", diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        name: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// Something named that does not exist (an artifact, a profile, a script), with a message
    /// for the client.
    #[error("{0}")]
    Missing(String),
    /// A request refused with a message for the client.
    #[error("{0}")]
    Refused(String),
    /// Reading or writing failed (a full disk, a permission, a file where a folder should be):
    /// not the request's fault, and never worded as a refusal.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What kind of failure a `ServiceError` is: what the fronts map to exit codes and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Refused,
    Io,
}

impl From<crate::store::atomic::ArtifactError> for ServiceError {
    fn from(e: crate::store::atomic::ArtifactError) -> ServiceError {
        use crate::store::atomic::ArtifactError;
        match e {
            ArtifactError::Io { path, source } => ServiceError::Io { path, source },
            other => ServiceError::Refused(other.to_string()),
        }
    }
}

impl From<crate::store::read::ReadError> for ServiceError {
    fn from(e: crate::store::read::ReadError) -> ServiceError {
        use crate::store::read::ReadError;
        match e {
            ReadError::Io { path, source } => ServiceError::Io { path, source },
            other => ServiceError::Refused(other.to_string()),
        }
    }
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::NotFound { .. } | ServiceError::Missing(_) => ErrorKind::NotFound,
            ServiceError::Invalid { .. } => ErrorKind::Invalid,
            ServiceError::Refused(_) => ErrorKind::Refused,
            ServiceError::Io { .. } => ErrorKind::Io,
        }
    }

    /// For a "not found": what it adds when some files could not be read (empty otherwise), for
    /// fronts that word "not found" their own way (MCP keeps llm-orc's text).
    pub fn unreadable_note(&self) -> String {
        match self {
            ServiceError::NotFound { unreadable, .. } => unreadable_note(unreadable),
            _ => String::new(),
        }
    }
}

/// What a "not found" adds when some files could not be read: each file's first error.
fn unreadable_note(unreadable: &[Diagnostic]) -> String {
    if unreadable.is_empty() {
        return String::new();
    }
    let files: Vec<String> = unreadable.iter().map(located_error).collect();
    format!(
        "; {} file(s) could not be read and the ensemble may be defined in one of them: {}",
        unreadable.len(),
        files.join("; ")
    )
}

/// `file:line:col: message`, one line, no hint.
fn located_error(d: &Diagnostic) -> String {
    let mut s = d.file.display().to_string();
    if d.line > 0 {
        s.push_str(&format!(":{}:{}", d.line, d.column));
    }
    s.push_str(": ");
    s.push_str(&d.message);
    s
}

fn searched_list(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no ensemble directories exist (run `orc config init` to create .llm-orc/)".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
