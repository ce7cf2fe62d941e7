//! Demote: removing an ensemble from the global tier or the library, with the profiles only it
//! used there (when asked) and its line in the category README.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Dest, git, io, refuse};
use crate::load::project::{Tier, check_relative_name, load_ensemble_file, stays_inside};
use crate::load::spec::AgentKind;
use crate::service::files::safe_join;
use crate::service::{Service, ServiceError};

/// Said of a demotion from a library that is a git repository.
pub const GIT_LIBRARY_NOTE: &str = "the library is a git repository: the files are removed from its working tree; review and commit the removal there (pushing stays yours)";

/// What a demotion did, or would do.
#[derive(Debug, Clone)]
pub struct Demotion {
    /// The name as asked.
    pub ensemble: String,
    pub tier: Dest,
    /// The ensemble's file.
    pub path: PathBuf,
    /// The files removed (or that would be): the ensemble, then the orphaned profiles when asked.
    pub files: Vec<PathBuf>,
    /// The category README that loses the ensemble's line.
    pub readme: Option<PathBuf>,
    /// The library is a git repository (the removal is the user's to commit).
    pub git_library: bool,
    pub outcome: DemoteOutcome,
}

impl Demotion {
    pub fn note(&self) -> Option<&'static str> {
        self.git_library.then_some(GIT_LIBRARY_NOTE)
    }
}

#[derive(Debug, Clone)]
pub enum DemoteOutcome {
    /// Nothing removed (no consent).
    Preview {
        /// When asked to remove them: the profiles only this ensemble used there.
        orphaned_profiles: Option<Vec<String>>,
    },
    Demoted {
        /// The orphaned profiles removed.
        removed_profiles: Vec<String>,
    },
}

impl Service {
    /// Removes an ensemble from the global tier or the library (and, optionally, profiles only
    /// it used there). Without `confirm`: the files it would remove.
    pub fn demote(
        &self,
        name: &str,
        tier_name: &str,
        remove_orphaned_profiles: bool,
        confirm: bool,
    ) -> Result<Demotion, ServiceError> {
        let dest = Dest::parse(tier_name)?;
        let dir = self.dest_root(dest);
        let ens_dir = dir.join("ensembles");
        let path = find_in_tier(&ens_dir, name, dest)?;
        let orphans = orphaned_profiles(dest.tier(), &dir, &ens_dir, &path);
        let mut files = vec![path.clone()];
        if remove_orphaned_profiles {
            files.extend(orphans.iter().map(|(_, f)| f.clone()));
        }
        // In a library's category folder, the category README lists the ensemble: its line goes.
        let readme = category_readme_without(&ens_dir, &path);
        let git_library = dest == Dest::Library && git::is_repo_root(&dir);
        let mut d = Demotion {
            ensemble: name.to_string(),
            tier: dest,
            path: path.clone(),
            files,
            readme: readme.as_ref().map(|(p, _)| p.clone()),
            git_library,
            outcome: DemoteOutcome::Preview {
                orphaned_profiles: remove_orphaned_profiles
                    .then(|| orphans.iter().map(|(p, _)| p.clone()).collect()),
            },
        };
        if !confirm {
            return Ok(d);
        }
        fs::remove_file(&path).map_err(io(&path))?;
        if let Some((readme, text)) = &readme {
            crate::store::atomic::write_atomic(readme, text.as_bytes())?;
        }
        let mut removed = Vec::new();
        if remove_orphaned_profiles {
            for (p, f) in &orphans {
                if fs::remove_file(f).is_ok() {
                    removed.push(p.clone());
                }
            }
        }
        tracing::info!(ensemble = %name, tier = dest.label(), "demoted");
        d.outcome = DemoteOutcome::Demoted {
            removed_profiles: removed,
        };
        Ok(d)
    }
}

/// The ensemble's file in the tier: `ensembles/NAME.yaml`, else (a library keeps ensembles in
/// category folders) one level down.
fn find_in_tier(ens_dir: &Path, name: &str, dest: Dest) -> Result<PathBuf, ServiceError> {
    let path = safe_join(ens_dir, name, ".yaml")?;
    if path.is_file() {
        return Ok(path);
    }
    let file = format!("{}.yaml", name.trim_end_matches(".yaml"));
    let found = fs::read_dir(ens_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file() && stays_inside(ens_dir, p));
    match found {
        Some(p) if !name.contains('/') => Ok(p),
        _ => Err(refuse(format!(
            "Ensemble '{name}' not found at {} tier",
            dest.label()
        ))),
    }
}

/// The profiles `path` uses that no other ensemble of the tier uses, each with its file in the
/// tier's `profiles/`, sorted.
fn orphaned_profiles(
    tier: Tier,
    dir: &Path,
    ens_dir: &Path,
    path: &Path,
) -> Vec<(String, PathBuf)> {
    let mine = profiles_used(tier, path);
    let mut others = Vec::new();
    let mut stack = vec![ens_dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if stack.len() < 64 {
                    stack.push(p);
                }
            } else if p != path && p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                others.extend(profiles_used(tier, &p));
            }
        }
    }
    // A profile name from the file is untrusted: only a relative name that resolves inside
    // the tier's `profiles/` names a file we may remove (never `/abs/path` or `../x`).
    let profiles_dir = dir.join("profiles");
    let profile_file = |p: &str| -> Option<PathBuf> {
        check_relative_name(p).ok()?;
        let f = profiles_dir.join(format!("{p}.yaml"));
        (f.is_file() && stays_inside(dir, &f) && stays_inside(&profiles_dir, &f)).then_some(f)
    };
    let mut orphans: Vec<(String, PathBuf)> = mine
        .into_iter()
        .filter(|p| !others.contains(p))
        .filter_map(|p| profile_file(&p).map(|f| (p, f)))
        .collect();
    orphans.sort();
    orphans.dedup();
    orphans
}

/// The category README beside `ensemble` (in a category folder below `ens_dir`) and its text
/// without the ensemble's `- \`NAME\`:` line, when it has one.
fn category_readme_without(ens_dir: &Path, ensemble: &Path) -> Option<(PathBuf, String)> {
    let folder = ensemble.parent().filter(|p| *p != ens_dir)?;
    let readme = folder.join("README.md");
    if !fs::symlink_metadata(&readme).is_ok_and(|m| m.is_file()) || !stays_inside(ens_dir, &readme)
    {
        return None;
    }
    let stem = ensemble.file_stem()?.to_string_lossy();
    let marker = format!("- `{stem}`:");
    let text = fs::read_to_string(&readme).ok()?;
    if !text.lines().any(|l| l.starts_with(&marker)) {
        return None;
    }
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(&marker))
        .collect();
    Some((readme, kept))
}

/// The `model_profile` names an ensemble file's LLM agents use (none when it cannot be read).
fn profiles_used(tier: Tier, path: &Path) -> Vec<String> {
    let f = load_ensemble_file(tier, path, String::new());
    f.spec
        .map(|s| {
            s.agents
                .iter()
                .filter_map(|a| match &a.kind {
                    AgentKind::Llm(l) => l.model_profile.as_ref().map(|p| p.value.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}
