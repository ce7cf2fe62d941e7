//! Promote: readiness, the plan, the user's consent and the bar checked in that order, then the
//! plan applied: files for the global tier and a plain library folder, a contribution commit for
//! a git library.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::closure::Closure;
use super::contribution::Contribution;
use super::plan::{Action, FileKind, Plan, PlannedFile};
use super::readiness::Readiness;
use super::{Dest, Evidence, io, refuse};
use crate::load::project::Tier;
use crate::load::spec::AgentKind;
use crate::service::{Service, ServiceError};

/// What `promote` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct PromoteRequest {
    pub dry_run: bool,
    /// The user's consent (`--yes`, `confirm: true`); without it nothing is written.
    pub confirm: bool,
    pub overwrite: bool,
    /// Promote below the bar.
    pub force: bool,
    pub category: Option<String>,
    /// Leave profiles out (MCP `include_profiles: false`).
    pub skip_profiles: bool,
}

/// A promotion's status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromoteStatus {
    DryRun,
    NeedsConfirmation,
    Promoted,
    Contributed,
}

impl PromoteStatus {
    pub fn label(self) -> &'static str {
        match self {
            PromoteStatus::DryRun => "dry_run",
            PromoteStatus::NeedsConfirmation => "needs_confirmation",
            PromoteStatus::Promoted => "promoted",
            PromoteStatus::Contributed => "contributed",
        }
    }
}

/// What a promotion did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nothing written: a dry run, or no consent yet.
    Preview {
        status: PromoteStatus,
        would_write: Vec<PathBuf>,
        /// Below the bar: why (promoting needs `force`).
        needs_force: Option<Vec<String>>,
    },
    /// The files written (the global tier, a plain library folder).
    Promoted {
        /// The bar's shortfalls `force` overrode.
        overridden: Vec<String>,
        written: Vec<PathBuf>,
    },
    /// A commit on a branch of a git library.
    Contributed {
        overridden: Vec<String>,
        contribution: Contribution,
    },
}

impl Outcome {
    pub fn status(&self) -> PromoteStatus {
        match self {
            Outcome::Preview { status, .. } => *status,
            Outcome::Promoted { .. } => PromoteStatus::Promoted,
            Outcome::Contributed { .. } => PromoteStatus::Contributed,
        }
    }
}

/// A promotion: the ensemble, its readiness, the plan and what was done.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub ensemble: String,
    pub source_tier: Tier,
    pub source: PathBuf,
    pub destination: Dest,
    pub readiness: Readiness,
    pub plan: Plan,
    pub outcome: Outcome,
}

impl Promotion {
    /// Profiles the plan writes.
    pub fn profiles_copied(&self) -> Vec<String> {
        profile_names(self.plan.writes())
    }
    /// Profiles the destination already has (or that were left out).
    pub fn profiles_already_present(&self) -> Vec<String> {
        profile_names(self.plan.files.iter().filter(|f| f.action == Action::Skip))
    }
}

fn profile_names<'a>(files: impl Iterator<Item = &'a PlannedFile>) -> Vec<String> {
    files
        .filter(|f| f.kind == FileKind::Profile)
        .map(|f| {
            f.rel
                .trim_start_matches("profiles/")
                .trim_end_matches(".yaml")
                .to_string()
        })
        .collect()
}

impl Service {
    /// Promotes an ensemble with everything it needs. Without `confirm` (or with `dry_run`) it
    /// returns the plan and writes nothing.
    pub async fn promote(
        &self,
        name: &str,
        destination: &str,
        req: &PromoteRequest,
        evidence: &dyn Evidence,
    ) -> Result<Promotion, ServiceError> {
        let dest = Dest::parse(destination)?;
        let (r, closure) = self.readiness(name, dest, evidence).await?;
        let Some(c) = closure else {
            return Err(self.unpromotable(name, &r));
        };
        let mut plan = self.plan(&c, dest, req.category.as_deref(), req.overwrite)?;
        if req.skip_profiles {
            for f in plan
                .files
                .iter_mut()
                .filter(|f| f.kind == FileKind::Profile)
            {
                f.action = Action::Skip;
                f.note = Some("include_profiles is false".into());
            }
        }
        if !req.dry_run {
            refuse_existing(&c, dest, &plan, req.overwrite)?;
        }
        let overridden: Vec<String> = if r.meets_bar {
            Vec::new()
        } else {
            r.below_bar.clone()
        };
        let outcome = if req.dry_run || !req.confirm {
            Outcome::Preview {
                status: if req.dry_run {
                    PromoteStatus::DryRun
                } else {
                    PromoteStatus::NeedsConfirmation
                },
                would_write: plan.writes().map(|f| f.path.clone()).collect(),
                needs_force: (!r.meets_bar).then_some(overridden),
            }
        } else {
            check_bar(&c, dest, &r, &plan, req.force)?;
            let outcome = self.apply(&c, &r, &plan, overridden, req.overwrite)?;
            tracing::info!(ensemble = %c.ensemble, destination = dest.label(), status = %serde_json::Value::from(outcome.status().label()), "promoted");
            outcome
        };
        Ok(Promotion {
            ensemble: c.ensemble.clone(),
            source_tier: c.source_tier,
            source: c.source.clone(),
            destination: dest,
            readiness: r,
            plan,
            outcome,
        })
    }

    /// Why an ensemble that does not compile cannot be promoted: llm-orc's message for profiles
    /// no tier defines, else the compile errors.
    fn unpromotable(&self, name: &str, r: &Readiness) -> ServiceError {
        let file = match self.find(name) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let mut broken: Vec<String> = file
            .spec
            .iter()
            .flat_map(|s| s.agents.iter())
            .filter_map(|a| match &a.kind {
                AgentKind::Llm(l) => l.model_profile.as_ref(),
                _ => None,
            })
            .map(|p| p.value.clone())
            .filter(|p| self.project.profiles.get(p).is_none())
            .collect();
        broken.sort();
        broken.dedup();
        if !broken.is_empty() {
            return refuse(format!(
                "Broken profile references: {}. These profiles do not exist in any tier.",
                broken.join(", ")
            ));
        }
        refuse(format!(
            "ensemble `{name}` cannot be promoted: {}",
            r.errors.join("; ")
        ))
    }

    /// Writes the plan's files, or commits them on the contribution branch of a git library.
    fn apply(
        &self,
        c: &Closure,
        r: &Readiness,
        plan: &Plan,
        overridden: Vec<String>,
        overwrite: bool,
    ) -> Result<Outcome, ServiceError> {
        match &plan.branch {
            Some(branch) => {
                let contribution = self.contribute(c, r, plan, branch, &overridden, overwrite)?;
                Ok(Outcome::Contributed {
                    overridden,
                    contribution,
                })
            }
            None => {
                for f in plan.writes() {
                    write_file(&f.path, &f.bytes, f.executable)?;
                }
                Ok(Outcome::Promoted {
                    overridden,
                    written: plan.writes().map(|f| f.path.clone()).collect(),
                })
            }
        }
    }
}

/// Without `overwrite`, the ensemble already at the destination, or any file there with other
/// content, stops the promotion.
fn refuse_existing(
    c: &Closure,
    dest: Dest,
    plan: &Plan,
    overwrite: bool,
) -> Result<(), ServiceError> {
    let exists = || {
        refuse(format!(
            "Ensemble '{}' already exists at {} tier. Use overwrite=true to replace.",
            c.ensemble,
            dest.label()
        ))
    };
    if plan.files.first().is_some_and(|f| f.action == Action::Skip) && !overwrite {
        return Err(exists());
    }
    let conflicts: Vec<&PlannedFile> = plan
        .files
        .iter()
        .filter(|f| f.action == Action::Conflict)
        .collect();
    let Some(first) = conflicts.first() else {
        return Ok(());
    };
    if first.kind == FileKind::Ensemble && first.path == plan.ensemble_path {
        return Err(exists());
    }
    Err(refuse(format!(
        "{} already exists at the {} tier with different content: {} (overwrite replaces)",
        if conflicts.len() == 1 {
            "a file"
        } else {
            "files"
        },
        dest.label(),
        conflicts
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// With consent: below the bar needs `force`, and there must be something to write.
fn check_bar(
    c: &Closure,
    dest: Dest,
    r: &Readiness,
    plan: &Plan,
    force: bool,
) -> Result<(), ServiceError> {
    if !r.meets_bar && !force {
        return Err(refuse(format!(
            "`{}` is below the bar for the {} tier ({}): {}. Nothing was written; force (CLI --force, MCP force: true) promotes it anyway.",
            c.ensemble,
            dest.label(),
            r.bar,
            r.below_bar.join("; ")
        )));
    }
    if plan.writes().next().is_none() {
        return Err(refuse(format!(
            "nothing to promote: the {} tier already has `{}` and everything it needs",
            dest.label(),
            c.ensemble
        )));
    }
    Ok(())
}

pub(super) fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), ServiceError> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    crate::store::atomic::write_atomic(path, bytes)?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}
