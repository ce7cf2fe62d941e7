//! Nested, loop and dispatch references: finding the child ensemble by file name (then by name),
//! refusing self-nesting and over-deep chains, and compiling it.

use std::path::PathBuf;
use std::sync::Arc;

use super::ensemble::CompiledEnsemble;
use super::hints::join_paths;
use super::{Compiler, MAX_ENSEMBLE_DEPTH};
use crate::load::diag::{Diagnostic, Sink, WithHint, closest};
use crate::load::project::{EnsembleFile, Project, Tier, check_relative_name, load_ensemble_file};
use crate::load::resolve::nested_candidates;
use crate::load::spec::{AgentSpec, Located};

impl Compiler<'_> {
    /// A nested reference: the child found, the chain checked (no self-nesting, not too
    /// deep), then the child compiled, its errors reported with the parent.
    pub(super) fn resolve_nested(
        &mut self,
        file: &EnsembleFile,
        a: &AgentSpec,
        reference: &Located<String>,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Option<Arc<CompiledEnsemble>> {
        let r = reference.value.as_str();
        let target = self.find_nested(file, a, reference, sink)?;
        if !self.check_chain(&target, reference, chain, sink) {
            return None;
        }
        let child = self.compile_file(&target, chain);
        match child.ensemble {
            Some(c) => Some(c),
            None => {
                let errors = child.diagnostics.iter().filter(|d| d.is_error()).count();
                // The child's own errors are reported with the child's file; say where they are.
                sink.error(
                    reference.pos,
                    format!(
                        "nested ensemble `{r}` of agent `{}` is invalid",
                        a.name.value
                    ),
                )
                .hint(format!("{errors} error(s) in {}", target.path.display()));
                for d in child.diagnostics.into_iter().filter(Diagnostic::is_error) {
                    if !sink.items.contains(&d) {
                        sink.items.push(d);
                    }
                }
                None
            }
        }
    }

    /// The file a reference names: by file name, else by `name:` (a warning: llm-orc would not
    /// find it); None (reported) when the name is refused or nothing matches.
    fn find_nested(
        &self,
        file: &EnsembleFile,
        a: &AgentSpec,
        reference: &Located<String>,
        sink: &mut Sink,
    ) -> Option<EnsembleFile> {
        let r = reference.value.as_str();
        if let Err(why) = check_relative_name(r) {
            sink.error(
                reference.pos,
                format!("agent `{}` refers to ensemble `{r}`: {why}", a.name.value),
            );
            return None;
        }
        let project = self.project;
        let (by_file, candidates) = nested_file(project, file.tier, r);
        if let Some(f) = by_file {
            return Some(f);
        }
        if let Some(f) = project.catalogue().find(r) {
            sink.warning(reference.pos, format!("ensemble `{r}` was found by its name in {}, not by file name", f.path.display()))
                .hint(format!("llm-orc looks for nested ensembles as `{r}.yaml` in .llm-orc/ensembles/ and would not find it; rename the file to `{r}.yaml`"));
            return Some(f.clone());
        }
        let known: Vec<String> = project
            .catalogue()
            .files
            .iter()
            .map(|f| f.qualified_name())
            .collect();
        let diag = sink.error(
            reference.pos,
            format!(
                "agent `{}` uses ensemble `{r}`, which does not exist",
                a.name.value
            ),
        );
        let near = closest(r, known.iter().map(String::as_str));
        diag.hint(match near {
            Some(n) => {
                format!("did you mean `{n}`? looked for {}", join_paths(&candidates))
            }
            None => format!(
                "looked for {} and for an ensemble named `{r}` in {}",
                join_paths(&candidates),
                join_paths(&project.catalogue().searched)
            ),
        });
        None
    }

    /// Whether `target` may be compiled below `chain`: it does not nest itself, and the chain
    /// is within the depth limit (checked before recursing, so the compiler never goes deeper).
    fn check_chain(
        &self,
        target: &EnsembleFile,
        reference: &Located<String>,
        chain: &[(String, PathBuf)],
        sink: &mut Sink,
    ) -> bool {
        let r = reference.value.as_str();
        if let Some(start) = chain.iter().position(|(_, p)| *p == target.path) {
            let mut names: Vec<&str> = chain[start..].iter().map(|(n, _)| n.as_str()).collect();
            names.push(&chain[start].0);
            sink.error(
                reference.pos,
                format!(
                    "ensemble `{}` nests itself: {}",
                    chain[start].0,
                    names.join(" -> ")
                ),
            )
            .hint("a nested ensemble cannot contain the ensemble that uses it");
            return false;
        }
        let configured = self.project.config.performance.max_ensemble_depth;
        let limit = configured.min(MAX_ENSEMBLE_DEPTH);
        if chain.len() as u64 > limit {
            let mut names: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
            names.push(r);
            if configured > MAX_ENSEMBLE_DEPTH {
                sink.error(reference.pos, format!("ensembles nest {} deep, over orc's maximum of {MAX_ENSEMBLE_DEPTH} (max_ensemble_depth is {configured}): {}", chain.len(), names.join(" -> ")))
                    .hint("orc follows at most 32 levels of nesting; flatten the chain");
            } else {
                sink.error(reference.pos, format!("ensembles nest {} deep, over the limit of {limit}: {}", chain.len(), names.join(" -> ")))
                    .hint("raise performance.execution.max_ensemble_depth in config.yaml, or flatten the chain");
            }
            return false;
        }
        true
    }
}

/// Finds a nested, loop or dispatch reference by file name, as llm-orc does: `<name>.yaml` or
/// `.yml` in the referencing tier's `ensembles/`, then the local one. Returns the file (with the
/// tier it belongs to) and the candidates tried.
fn nested_file(project: &Project, tier: Tier, name: &str) -> (Option<EnsembleFile>, Vec<PathBuf>) {
    let own_dir = project
        .dirs
        .tier_root(tier)
        .map(|root| root.join("ensembles"));
    let candidates = nested_candidates(&project.dirs, own_dir.as_deref(), name);
    let found = candidates.iter().find(|p| p.is_file()).map(|path| {
        let in_local = project
            .dirs
            .local
            .as_ref()
            .is_some_and(|l| path.starts_with(l));
        let rel_dir = std::path::Path::new(name)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        load_ensemble_file(if in_local { Tier::Local } else { tier }, path, rel_dir)
    });
    (found, candidates)
}

/// Compiles the ensemble a `dispatch:` agent of `from` chose at run time. It is found as a
/// nested reference is: by file name in the referencing tier's and the local `ensembles/`
/// directories, then by `name:`. Errors are llm-orc's `Ensemble '<name>' not found`, with where
/// orc looked, or the first problem of an invalid target.
pub fn compile_dispatch_target(
    project: &Project,
    from: &CompiledEnsemble,
    name: &str,
) -> Result<Arc<CompiledEnsemble>, String> {
    check_relative_name(name).map_err(|why| format!("Ensemble '{name}' refused: {why}"))?;
    let (by_file, candidates) = nested_file(project, from.tier.unwrap_or(Tier::Local), name);
    let file = match by_file {
        Some(f) => f,
        None => match project.catalogue().find(name) {
            Some(f) => f.clone(),
            None => {
                return Err(format!(
                    "Ensemble '{name}' not found (looked for {})",
                    join_paths(&candidates)
                ));
            }
        },
    };
    let c = Compiler::new(project).compile(&file);
    match c.ensemble {
        Some(e) => Ok(e),
        None => {
            let first = c
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.to_string())
                .unwrap_or_default();
            Err(format!("Ensemble '{name}' is invalid: {first}"))
        }
    }
}
