//! Promotion with consent: an ensemble's dependency closure (profiles, scripts, nested, loop and
//! dispatch ensembles, models), the generality signals and the evaluation record that decide
//! whether it is ready for the global tier or the library, the exact plan of files, and applying
//! it: files for the global tier and a plain library folder, a commit on `contribute/NAME` for a
//! library that is a git repository (the user's branch and working tree are left alone).
//!
//! This file is the facade: the destinations, the bar's constants and the evidence promotion is
//! given. One idea per file below it: `closure` (what an ensemble needs), `signals` (what ties it
//! to its project), `readiness` (the bar), `plan` (the files), `deps` (what each tier has),
//! `apply` (promote), `demote`, `contribution` (the pull-request text), `git` (the plumbing) and
//! `checks` (the dependency and readiness checks of the MCP tools, typed). Every operation returns
//! a domain type; `shapes` turns them into llm-orc's JSON for the fronts (`mcp::promotion`, the
//! CLI's `--format json`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::project::Tier;
use crate::service::ServiceError;

mod apply;
mod checks;
mod closure;
mod contribution;
mod demote;
mod deps;
pub mod git;
mod plan;
mod readiness;
pub mod shapes;
mod signals;

pub use apply::{Outcome, PromoteRequest, PromoteStatus, Promotion};
pub use checks::{AgentNeeds, Dependencies, Issue, IssueKind, PromotionCheck};
pub use closure::{
    Closure, EnsembleDep, Link, ModelDep, ModelStatus, ProfileDep, ScriptDep, ScriptHome,
    ScriptKind,
};
pub use contribution::Contribution;
pub use demote::{DemoteOutcome, Demotion, GIT_LIBRARY_NOTE};
pub use deps::{At, DepsReport, Placed, Presence};
pub use plan::{Action, FileKind, Plan, PlannedFile};
pub use readiness::Readiness;
pub use signals::{PathKind, Signal, SignalKind, hard_coded_paths};

/// Good evaluations an ensemble needs for the global tier.
pub const GLOBAL_GOOD: u64 = 3;
/// Good evaluations an ensemble needs for the library (and no project-specific signal).
pub const LIBRARY_GOOD: u64 = 5;
/// Profile names orc ships (`profiles/`): an ensemble using only these is portable.
pub const STANDARD_PROFILES: &[&str] = &["micro", "small", "medium", "large"];
/// The library category used when none is given and the ensemble is not in a sub-folder.
pub const DEFAULT_CATEGORY: &str = "general";

fn refuse(msg: impl Into<String>) -> ServiceError {
    ServiceError::Refused(msg.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Where an ensemble can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dest {
    Global,
    Library,
}

impl Dest {
    pub fn parse(s: &str) -> Result<Dest, ServiceError> {
        match s {
            "global" => Ok(Dest::Global),
            "library" => Ok(Dest::Library),
            _ => Err(refuse("destination must be 'global' or 'library'")),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Dest::Global => "global",
            Dest::Library => "library",
        }
    }
    pub fn tier(self) -> Tier {
        match self {
            Dest::Global => Tier::Global,
            Dest::Library => Tier::Library,
        }
    }
    /// Good evaluations needed.
    pub fn good_needed(self) -> u64 {
        match self {
            Dest::Global => GLOBAL_GOOD,
            Dest::Library => LIBRARY_GOOD,
        }
    }
}

/// The learning loop's judgments of the ensemble's own outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvalRecord {
    /// Claude's (or a person's) judgments of the ensemble's outputs.
    pub good: u64,
    pub acceptable: u64,
    pub poor: u64,
    /// Judgments by a local model: shown, not counted toward the bar.
    pub local_judge: u64,
    /// Routing records of runs of the ensemble, and the user's verdicts on them.
    pub runs: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The file read.
    pub source: PathBuf,
}

/// Where promotion's evidence comes from: the learning loop's records, read by the learn layer
/// (`learn::evidence`) and handed in by the fronts. Promotion never reads learning files itself.
pub trait Evidence: Sync {
    /// The evaluation record of one ensemble (by its name).
    fn eval_record(&self, ensemble: &str) -> Result<EvalRecord, ServiceError>;
}
