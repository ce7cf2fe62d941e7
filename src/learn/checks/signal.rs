//! What a check found: a [`Signal`] with its [`Outcome`] (pass, hard fail, soft doubt).

use serde::{Deserialize, Serialize};

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// A judge should look (a soft signal: partial grounding, samples disagreeing, ...).
    Doubt,
    /// The output is not delivered.
    Fail,
}

/// One free check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `completeness`, `json`, `schema`, `labels`, `grounding`, `length`, `code`, `tests`,
    /// `agreement`.
    pub check: String,
    pub outcome: Outcome,
    /// A pass that is strong evidence by itself (tests passed, a schema validated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strong: bool,
    pub detail: String,
    /// For a failure: the rubric's failure mode it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
}

impl Signal {
    pub(super) fn pass(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            check: check.into(),
            outcome: Outcome::Pass,
            strong: false,
            detail: detail.into(),
            failure_mode: None,
        }
    }
    pub(super) fn strong(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            strong: true,
            ..Signal::pass(check, detail)
        }
    }
    pub(super) fn doubt(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            outcome: Outcome::Doubt,
            ..Signal::pass(check, detail)
        }
    }
    pub(super) fn fail(check: &str, mode: &str, detail: impl Into<String>) -> Signal {
        Signal {
            outcome: Outcome::Fail,
            failure_mode: Some(mode.into()),
            ..Signal::pass(check, detail)
        }
    }
}
