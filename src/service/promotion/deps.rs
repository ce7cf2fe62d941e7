//! The dependency report: the closure with, for every dependency, whether each destination tier
//! already has it (what `orc deps` shows and `list_dependencies` adds as its `closure`).

use std::path::PathBuf;

use serde::Serialize;

use super::Dest;
use super::closure::{Closure, EnsembleDep, ModelDep, ProfileDep, ScriptDep, ScriptHome};
use super::plan::{Action, Plan, PlannedFile};
use crate::load::project::Tier;
use crate::service::Service;

/// Whether a destination tier has a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    Present,
    Missing,
    /// A different file of that name is there.
    Differs,
    /// A library or global script.
    Shared,
    /// A primitive or inline command.
    BuiltIn,
}

impl Presence {
    pub fn label(self) -> &'static str {
        match self {
            Presence::Present => "present",
            Presence::Missing => "missing",
            Presence::Differs => "differs",
            Presence::Shared => "shared",
            Presence::BuiltIn => "built-in",
        }
    }
}

/// A dependency's presence at each destination tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct At {
    pub global: Presence,
    pub library: Presence,
}

impl At {
    fn both(p: Presence) -> At {
        At {
            global: p,
            library: p,
        }
    }
}

/// A dependency with its presence at each destination (its fields, then `at`).
#[derive(Debug, Clone, Serialize)]
pub struct Placed<T> {
    #[serde(flatten)]
    pub dep: T,
    pub at: At,
}

#[derive(Debug, Clone, Serialize)]
pub struct DepsReport {
    pub ensemble: String,
    pub source: PathBuf,
    pub source_tier: Tier,
    pub ensembles: Vec<Placed<EnsembleDep>>,
    pub profiles: Vec<Placed<ProfileDep>>,
    pub scripts: Vec<Placed<ScriptDep>>,
    pub models: Vec<ModelDep>,
    pub unresolved: Vec<String>,
}

impl Service {
    /// The closure with, for every dependency, whether each destination tier has it.
    pub fn deps_report(&self, c: &Closure) -> DepsReport {
        let global = self.plan(c, Dest::Global, None, false).ok();
        let library = self.plan(c, Dest::Library, None, false).ok();
        let at = |pick: &dyn Fn(&PlannedFile) -> bool| At {
            global: presence(global.as_ref(), pick),
            library: presence(library.as_ref(), pick),
        };
        let ensembles = c
            .ensembles
            .iter()
            .map(|e| Placed {
                dep: e.clone(),
                at: at(&|f: &PlannedFile| f.source.as_deref() == Some(e.path.as_path())),
            })
            .collect();
        let profiles = c
            .profiles
            .iter()
            .map(|p| {
                let rel = format!("profiles/{}.yaml", p.name);
                Placed {
                    dep: p.clone(),
                    at: at(&|f: &PlannedFile| f.rel == rel),
                }
            })
            .collect();
        let scripts = c
            .scripts
            .iter()
            .map(|s| Placed {
                dep: s.clone(),
                at: match (&s.path, s.found_in) {
                    (None, _) => At::both(Presence::BuiltIn),
                    (Some(_), Some(home)) if home != ScriptHome::Project => {
                        At::both(Presence::Shared)
                    }
                    (Some(path), _) => {
                        at(&|f: &PlannedFile| f.source.as_deref() == Some(path.as_path()))
                    }
                },
            })
            .collect();
        DepsReport {
            ensemble: c.ensemble.clone(),
            source: c.source.clone(),
            source_tier: c.source_tier,
            ensembles,
            profiles,
            scripts,
            models: c.models.clone(),
            unresolved: c.unresolved.clone(),
        }
    }
}

/// What a destination's plan does with the file `pick` finds: nothing to write is present.
fn presence(plan: Option<&Plan>, pick: &dyn Fn(&PlannedFile) -> bool) -> Presence {
    match plan.and_then(|p| p.files.iter().find(|f| pick(f))) {
        Some(f) if f.action == Action::Skip => Presence::Present,
        Some(f) if f.action == Action::Conflict => Presence::Differs,
        Some(_) => Presence::Missing,
        None => Presence::Present,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placed_dependency_is_its_fields_then_at() {
        let p = Placed {
            dep: ScriptDep {
                reference: "x".into(),
                path: None,
                kind: super::super::closure::ScriptKind::Primitive,
                found_in: None,
                used_by: vec!["a".into()],
            },
            at: At::both(Presence::BuiltIn),
        };
        assert_eq!(
            serde_json::to_string(&p).ok().as_deref(),
            Some(
                r#"{"reference":"x","path":null,"kind":"primitive","found_in":null,"used_by":["a"],"at":{"global":"built-in","library":"built-in"}}"#
            )
        );
    }
}
