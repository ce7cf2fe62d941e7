//! The dependency closure of an ensemble: the nested, loop and dispatch ensembles, profiles,
//! scripts and models it needs, followed through every child, with where each one lives.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::{Dest, push_unique};
use crate::compile::{CompiledEnsemble, Kind, LlmAgent};
use crate::load::project::{Tier, stays_inside};
use crate::load::resolve::ScriptTarget;
use crate::service::providers::{has_model, nearest};
use crate::service::{Service, ServiceError};

/// How an ensemble reaches a child ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// `ensemble:`
    Nested,
    /// `loop.body`
    Loop,
    /// A literal `dispatch:`
    Dispatch,
}

impl Link {
    pub fn label(self) -> &'static str {
        match self {
            Link::Nested => "nested",
            Link::Loop => "loop",
            Link::Dispatch => "dispatch",
        }
    }
}

/// A nested, loop or dispatch ensemble the ensemble needs.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleDep {
    /// The reference as written (`ensemble:`, `loop.body`, a literal `dispatch:`).
    pub reference: String,
    pub name: String,
    pub how: Link,
    pub path: PathBuf,
    pub tier: Option<Tier>,
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileDep {
    pub name: String,
    pub tier: Tier,
    /// Where it is defined (a profile file or a config.yaml).
    pub source: PathBuf,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub used_by: Vec<String>,
}

/// What a script agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    File,
    Primitive,
    Inline,
}

impl ScriptKind {
    pub fn label(self) -> &'static str {
        match self {
            ScriptKind::File => "file",
            ScriptKind::Primitive => "primitive",
            ScriptKind::Inline => "inline",
        }
    }
}

/// Where a script file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptHome {
    /// Only in this project.
    Project,
    Library,
    Global,
}

impl ScriptHome {
    pub fn label(self) -> &'static str {
        match self {
            ScriptHome::Project => "project",
            ScriptHome::Library => "library",
            ScriptHome::Global => "global",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptDep {
    pub reference: String,
    /// The file, for a script file (not for primitives and inline commands).
    pub path: Option<PathBuf>,
    pub kind: ScriptKind,
    /// For a file: where it lives.
    pub found_in: Option<ScriptHome>,
    pub used_by: Vec<String>,
}

/// Whether a model is installed where it will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelStatus {
    Installed,
    Missing,
    /// No Ollama host answered.
    Unchecked,
    NotOllama,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDep {
    pub model: String,
    pub provider: String,
    pub profiles: Vec<String>,
    /// Hosts that have it installed (Ollama only).
    pub installed_on: Vec<String>,
    pub status: ModelStatus,
    /// When missing: the installed models nearest in size, closest first.
    pub nearest: Vec<String>,
}

/// Everything one ensemble needs.
#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub ensemble: String,
    pub qualified_name: String,
    pub description: Option<String>,
    pub source: PathBuf,
    pub source_tier: Tier,
    /// The sub-folder under the tier's `ensembles/` (a library category).
    pub rel_dir: String,
    pub ensembles: Vec<EnsembleDep>,
    pub profiles: Vec<ProfileDep>,
    pub scripts: Vec<ScriptDep>,
    pub models: Vec<ModelDep>,
    /// Dispatch targets chosen at run time: they cannot be followed.
    pub unresolved: Vec<String>,
    #[serde(skip)]
    pub compiled: Vec<Arc<CompiledEnsemble>>,
}

/// The models met on the walk, each with the profiles that chose it.
type ModelUses = BTreeMap<(String, String), Vec<String>>;

/// The ensembles still to visit, each with its agents' name prefix.
type Stack = Vec<(String, Arc<CompiledEnsemble>)>;

impl Service {
    /// The ensemble's dependency closure (it must compile).
    pub async fn closure(&self, name: &str) -> Result<Closure, ServiceError> {
        let file = self.find(name)?;
        let (root, _) = self.compile(name)?;
        let mut c = Closure {
            ensemble: root.name.clone(),
            qualified_name: file.qualified_name(),
            description: root.description.clone(),
            source: file.path.clone(),
            source_tier: file.tier,
            rel_dir: file.rel_dir.clone(),
            ensembles: Vec::new(),
            profiles: Vec::new(),
            scripts: Vec::new(),
            models: Vec::new(),
            unresolved: Vec::new(),
            compiled: Vec::new(),
        };
        let models = self.walk(&mut c, root);
        c.models = self.model_deps(models).await;
        c.profiles.sort_by(|a, b| a.name.cmp(&b.name));
        c.scripts.sort_by(|a, b| a.reference.cmp(&b.reference));
        c.ensembles.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(c)
    }

    /// Visits the ensemble and every child once, recording what their agents use.
    fn walk(&self, c: &mut Closure, root: Arc<CompiledEnsemble>) -> ModelUses {
        let mut models = ModelUses::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut stack: Stack = vec![(String::new(), root)];
        while let Some((prefix, e)) = stack.pop() {
            if !seen.insert(e.file.clone()) {
                continue;
            }
            c.compiled.push(e.clone());
            for a in &e.agents {
                let who = format!("{prefix}{}", a.name);
                match &a.kind {
                    Kind::Llm(l) => self.add_llm(c, &mut models, &who, l),
                    Kind::Script {
                        reference, target, ..
                    } => self.add_script(c, &who, reference, target),
                    Kind::Ensemble { reference, child } => {
                        add_child(c, &mut stack, &who, Link::Nested, reference, child)
                    }
                    Kind::Loop { body, child, .. } => {
                        add_child(c, &mut stack, &who, Link::Loop, body, child)
                    }
                    Kind::Dispatch { target, child } => match child {
                        Some(ch) => add_child(c, &mut stack, &who, Link::Dispatch, target, ch),
                        None => c.unresolved.push(format!(
                            "agent `{who}` dispatches to `{target}`, chosen at run time: its targets cannot be followed"
                        )),
                    },
                }
            }
        }
        models
    }

    /// An LLM agent's profiles (its own and its fallback chain) and its model.
    fn add_llm(&self, c: &mut Closure, models: &mut ModelUses, who: &str, l: &LlmAgent) {
        let mut names: Vec<&String> = l.profile.iter().collect();
        names.extend(l.fallback_chain.iter());
        for p in names {
            let Some(entry) = self.project.profiles.get(p) else {
                continue;
            };
            match c.profiles.iter_mut().find(|d| &d.name == p) {
                Some(d) => push_unique(&mut d.used_by, who.to_string()),
                None => c.profiles.push(ProfileDep {
                    name: p.clone(),
                    tier: entry.tier,
                    source: entry.source.clone(),
                    model: entry.spec.model.clone(),
                    provider: entry.spec.provider.clone(),
                    used_by: vec![who.to_string()],
                }),
            }
        }
        let m = models
            .entry((l.model.clone(), l.provider.name().to_string()))
            .or_default();
        if let Some(p) = &l.profile {
            push_unique(m, p.clone());
        }
    }

    /// A script agent's script: a file (and where it lives), a primitive or an inline command.
    fn add_script(&self, c: &mut Closure, who: &str, reference: &str, target: &ScriptTarget) {
        let (path, kind, found_in) = match target {
            ScriptTarget::File(p) => (Some(p.clone()), ScriptKind::File, Some(self.script_home(p))),
            ScriptTarget::Primitive(_) => (None, ScriptKind::Primitive, None),
            ScriptTarget::Inline(_) => (None, ScriptKind::Inline, None),
        };
        match c
            .scripts
            .iter_mut()
            .find(|d| d.reference == reference && d.path == path)
        {
            Some(d) => push_unique(&mut d.used_by, who.to_string()),
            None => c.scripts.push(ScriptDep {
                reference: reference.to_string(),
                path,
                kind,
                found_in,
                used_by: vec![who.to_string()],
            }),
        }
    }

    /// Models: installed where they will run? If not anywhere, the nearest in size.
    async fn model_deps(&self, models: ModelUses) -> Vec<ModelDep> {
        let installed = self.installed_by_host().await;
        let all_installed: BTreeSet<String> = installed
            .values()
            .filter_map(|r| r.as_ref().ok())
            .flatten()
            .cloned()
            .collect();
        let any_reachable = installed.values().any(Result::is_ok);
        let mut out = Vec::new();
        for ((model, provider), profiles) in models {
            let mut on: Vec<String> = installed
                .iter()
                .filter(|(_, r)| r.as_ref().is_ok_and(|ms| has_model(ms, &model)))
                .map(|(h, _)| h.clone())
                .collect();
            on.sort();
            let (status, near) = if provider != "ollama" {
                (ModelStatus::NotOllama, Vec::new())
            } else if !on.is_empty() {
                (ModelStatus::Installed, Vec::new())
            } else if !any_reachable {
                (ModelStatus::Unchecked, Vec::new())
            } else {
                let all: Vec<String> = all_installed.iter().cloned().collect();
                (ModelStatus::Missing, nearest(&all, &model))
            };
            out.push(ModelDep {
                model,
                provider,
                profiles,
                installed_on: on,
                status,
                nearest: near,
            });
        }
        out
    }

    /// Where a script file lives: only in this project, in the library, or in the global tier.
    fn script_home(&self, path: &Path) -> ScriptHome {
        let d = &self.project.dirs;
        if d.library.is_dir() && stays_inside(&d.library, path) {
            ScriptHome::Library
        } else if d.global.is_dir() && stays_inside(&d.global, path) {
            ScriptHome::Global
        } else {
            ScriptHome::Project
        }
    }

    /// The root of a destination tier.
    pub fn dest_root(&self, dest: Dest) -> PathBuf {
        match dest {
            Dest::Global => self.project.dirs.global.clone(),
            Dest::Library => self.project.dirs.library.clone(),
        }
    }

    /// Whether a profile is defined at the destination (a profile file, or the global config).
    pub fn profile_at_dest(&self, dest: Dest, profile: &str) -> bool {
        let root = self.dest_root(dest);
        root.join("profiles")
            .join(format!("{profile}.yaml"))
            .is_file()
            || self
                .project
                .profiles
                .get(profile)
                .is_some_and(|p| p.tier == dest.tier())
    }
}

fn add_child(
    c: &mut Closure,
    stack: &mut Stack,
    who: &str,
    how: Link,
    target: &str,
    ch: &Arc<CompiledEnsemble>,
) {
    match c.ensembles.iter_mut().find(|d| d.path == ch.file) {
        Some(d) => push_unique(&mut d.used_by, who.to_string()),
        None => c.ensembles.push(EnsembleDep {
            reference: target.to_string(),
            name: ch.name.clone(),
            how,
            path: ch.file.clone(),
            tier: ch.tier,
            used_by: vec![who.to_string()],
        }),
    }
    stack.push((format!("{who}/"), ch.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumerations_serialize_as_before() {
        let words = serde_json::json!([
            Link::Nested,
            Link::Loop,
            Link::Dispatch,
            ScriptKind::File,
            ScriptKind::Primitive,
            ScriptKind::Inline,
            ScriptHome::Project,
            ScriptHome::Library,
            ScriptHome::Global,
            ModelStatus::Installed,
            ModelStatus::Missing,
            ModelStatus::Unchecked,
            ModelStatus::NotOllama,
        ]);
        assert_eq!(
            words.to_string(),
            r#"["nested","loop","dispatch","file","primitive","inline","project","library","global","installed","missing","unchecked","not-ollama"]"#
        );
    }
}
