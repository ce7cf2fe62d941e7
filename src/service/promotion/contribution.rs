//! A contribution to a git library: the commit on `contribute/NAME`, the pull-request
//! description written beside the project, and the shell lines the user may paste to push it.

use std::fs;
use std::path::PathBuf;

use super::closure::Closure;
use super::plan::Plan;
use super::readiness::Readiness;
use super::{git, io};
use crate::service::{Service, ServiceError};

/// A commit on the contribution branch of a git library (pushing stays the user's).
#[derive(Debug, Clone)]
pub struct Contribution {
    pub branch: String,
    pub commit: String,
    /// The commit it sits on (none in an empty repository).
    pub base: Option<String>,
    /// The pull-request description's file.
    pub pr_description: PathBuf,
    /// Shell lines the user may paste: every path and name quoted.
    pub next_steps: Vec<String>,
    /// The files in the commit, relative to the library.
    pub committed: Vec<String>,
}

impl Service {
    /// Commits the plan on `branch` and writes the pull-request description.
    pub(super) fn contribute(
        &self,
        c: &Closure,
        r: &Readiness,
        plan: &Plan,
        branch: &str,
        overridden: &[String],
        overwrite: bool,
    ) -> Result<Contribution, ServiceError> {
        let pr = pr_description(c, r, plan, overridden);
        let msg = format!("Add ensemble {}\n\n{pr}", c.ensemble);
        let files: Vec<git::TreeFile<'_>> = plan
            .writes()
            .map(|f| git::TreeFile {
                rel: &f.rel,
                bytes: &f.bytes,
                executable: f.executable,
            })
            .collect();
        let commit = git::commit_to_branch(&plan.root, branch, &files, &msg, overwrite)?;
        let pr_path = self
            .local_dir()
            .join("contributions")
            .join(format!("{}.md", git::slug(&c.ensemble)));
        if let Some(p) = pr_path.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        crate::store::atomic::write_atomic(&pr_path, pr.as_bytes())?;
        // `gh` runs in the library: it takes the repository from the current folder.
        let q = |s: &str| shlex::try_quote(s).map_or_else(|_| "''".to_string(), |c| c.into_owned());
        let lib = q(&plan.root.to_string_lossy());
        let next_steps = vec![
            format!("git -C {lib} push -u origin {}", q(branch)),
            format!(
                "cd {lib} && gh pr create --head {} --title {} --body-file {}",
                q(branch),
                q(&format!("Add ensemble {}", c.ensemble)),
                q(&pr_path.to_string_lossy())
            ),
        ];
        Ok(Contribution {
            branch: branch.to_string(),
            commit: commit.commit,
            base: commit.base,
            pr_description: pr_path,
            next_steps,
            committed: plan.writes().map(|f| f.rel.clone()).collect(),
        })
    }
}

/// The pull-request description: what it does, its evaluation record, its models.
fn pr_description(c: &Closure, r: &Readiness, plan: &Plan, overridden: &[String]) -> String {
    let mut s = format!("# Add ensemble `{}`\n\n", c.ensemble);
    s.push_str("## What it does\n\n");
    s.push_str(c.description.as_deref().unwrap_or("(no description)"));
    s.push_str("\n\n");
    if let Some(root) = c.compiled.first() {
        s.push_str(&format!(
            "{} agents in {} levels ({}).\n\n",
            root.agents.len(),
            root.levels.len(),
            serde_json::to_value(root.pattern)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "graph".into())
        ));
    }
    s.push_str("## Evaluation record\n\n");
    let e = &r.evaluations;
    s.push_str(&format!(
        "- judged outputs: {} good, {} acceptable, {} poor",
        e.good, e.acceptable, e.poor
    ));
    if e.local_judge > 0 {
        s.push_str(&format!(
            " (and {} by a local judge, not counted)",
            e.local_judge
        ));
    }
    s.push_str(&format!(
        "\n- runs: {}; accepted by the user: {}, rejected: {}\n- bar for the library: {}: {}\n",
        e.runs,
        e.accepted,
        e.rejected,
        r.bar,
        if r.meets_bar { "met" } else { "not met" }
    ));
    for o in overridden {
        s.push_str(&format!("- overridden by the contributor: {o}\n"));
    }
    if !r.signals.is_empty() {
        s.push_str("\nProject-specific signals:\n\n");
        for sig in &r.signals {
            s.push_str(&format!(
                "- {}: {} ({})\n",
                sig.kind.label(),
                sig.detail,
                sig.location
            ));
        }
    }
    s.push_str("\n## Models\n\n");
    for m in &c.models {
        s.push_str(&format!(
            "- `{}` ({}; profiles: {})\n",
            m.model,
            m.provider,
            if m.profiles.is_empty() {
                "-".to_string()
            } else {
                m.profiles.join(", ")
            }
        ));
    }
    s.push_str("\n## Files\n\n");
    for f in plan.writes() {
        s.push_str(&format!("- `{}` ({})\n", f.rel, f.kind.label()));
    }
    s.push_str("\nPrepared by `orc promote`.\n");
    s
}
