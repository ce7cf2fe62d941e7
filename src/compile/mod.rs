//! Compiling an ensemble into a validated DAG.
//!
//! Every agent's effective settings are resolved here once (agent keys over profile keys over
//! config defaults), nested ensembles are compiled recursively, and every problem is reported
//! with its file, line and a hint. Execution never re-reads files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use dag::classify;
pub use ensemble::{Agent, Compilation, CompiledEnsemble, Kind, Pattern};
pub use llm::model_size_b;
pub use model::{LlmAgent, ModelTarget, ProviderKind};
pub use nested::compile_dispatch_target;

use crate::load::diag::Sink;
use crate::load::project::{EnsembleFile, Project};
pub use crate::load::spec::OnDependencyFailure;
use crate::load::spec::{AgentKind, AgentSpec, EnsembleSpec};

mod control_flow;
mod dag;
mod ensemble;
pub mod expr;
mod graph_checks;
mod hints;
mod llm;
pub mod model;
mod nested;
pub mod predicate;
mod script;
pub mod validation;

/// The deepest nesting orc follows, whatever `performance.execution.max_ensemble_depth` says:
/// compiling, running and dropping nested ensembles recurse once per level, and a chain of
/// thousands of levels would exhaust the stack.
pub const MAX_ENSEMBLE_DEPTH: u64 = 32;

/// Compiles ensembles of one project, sharing nested children between parents.
pub struct Compiler<'p> {
    project: &'p Project,
    done: HashMap<PathBuf, Compilation>,
}

impl<'p> Compiler<'p> {
    pub fn new(project: &'p Project) -> Self {
        Compiler {
            project,
            done: HashMap::new(),
        }
    }

    /// Compiles one catalogue file (and, recursively, what it nests).
    pub fn compile(&mut self, file: &EnsembleFile) -> Compilation {
        self.compile_file(file, &mut Vec::new())
    }

    fn compile_file(
        &mut self,
        file: &EnsembleFile,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Compilation {
        if let Some(done) = self.done.get(&file.path) {
            return done.clone();
        }
        let mut sink = Sink::new(&file.path);
        sink.items.extend(file.diagnostics.iter().cloned());
        let Some(spec) = file.spec.clone() else {
            return Compilation {
                ensemble: None,
                diagnostics: sink.items,
            };
        };
        chain.push((spec.name.value.clone(), file.path.clone()));
        let result = self.compile_spec(file, spec, &mut sink, chain);
        chain.pop();
        let compilation = Compilation {
            ensemble: if sink.has_errors() {
                None
            } else {
                result.map(Arc::new)
            },
            diagnostics: sink.items,
        };
        self.done.insert(file.path.clone(), compilation.clone());
        compilation
    }

    /// Checks the graph as written, then the control flow (on a sound graph only) and the
    /// validation block, resolves every agent (even on a broken graph, to report everything),
    /// and builds the DAG when nothing was wrong.
    fn compile_spec(
        &mut self,
        file: &EnsembleFile,
        spec: Arc<EnsembleSpec>,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Option<CompiledEnsemble> {
        let index = graph_checks::check_graph(&spec, sink);
        // Guards and dispatch references need the phases, so only a sound graph is checked.
        let (refs, after) = if !sink.has_errors() {
            control_flow::check(&spec, &index, sink)
        } else {
            (Vec::new(), Vec::new())
        };
        graph_checks::check_validation(&spec, sink);
        let agents_ok = !sink.has_errors();
        let agents = self.resolve_agents(file, &spec, sink, chain);
        if !agents_ok || sink.has_errors() {
            return None;
        }
        let dag = dag::build(agents, &index)?;
        Some(CompiledEnsemble {
            name: spec.name.value.clone(),
            description: spec.description.clone(),
            file: file.path.clone(),
            tier: Some(file.tier),
            agents: dag.agents,
            graph: dag.graph,
            levels: dag.levels,
            deps: dag.deps,
            terminal: dag.terminal,
            remaining: dag.remaining,
            refs,
            after,
            pattern: dag.pattern,
            spec,
        })
    }

    /// Each agent with its effective settings; an agent that cannot be resolved is left out
    /// (its problems are in `sink`).
    fn resolve_agents(
        &mut self,
        file: &EnsembleFile,
        spec: &EnsembleSpec,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Vec<Agent> {
        let mut agents = Vec::with_capacity(spec.agents.len());
        for a in &spec.agents {
            if let Some(kind) = self.resolve_kind(file, a, sink, chain) {
                agents.push(Agent {
                    name: a.name.value.clone(),
                    depends_on: a.depends_on.iter().map(|d| d.name.value.clone()).collect(),
                    fan_out: a.fan_out,
                    input_key: a.input_key.clone(),
                    input_scope: a.input_scope,
                    when: a.when.as_ref().map(|w| w.value.clone()),
                    on_dependency_failure: a.on_dependency_failure,
                    timeout_seconds: self.timeout(a),
                    level: 0,
                    kind,
                });
            }
        }
        agents
    }

    fn resolve_kind(
        &mut self,
        file: &EnsembleFile,
        a: &AgentSpec,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Option<Kind> {
        match &a.kind {
            AgentKind::Llm(l) => self.resolve_llm(a, l, sink).map(|l| Kind::Llm(Box::new(l))),
            AgentKind::Script(s) => self.resolve_script_agent(file, a, s, sink),
            AgentKind::Ensemble(r) => {
                let child = self.resolve_nested(file, a, r, sink, chain)?;
                Some(Kind::Ensemble {
                    reference: r.value.clone(),
                    child,
                })
            }
            AgentKind::Loop(l) => {
                let child = self.resolve_nested(file, a, &l.body, sink, chain)?;
                Some(Kind::Loop {
                    body: l.body.value.clone(),
                    until: l.until.clone(),
                    max_iterations: l.max_iterations,
                    carry: l.carry.clone(),
                    child,
                })
            }
            AgentKind::Dispatch(t) => {
                let child = if t.value.contains("${") {
                    None
                } else {
                    Some(self.resolve_nested(file, a, t, sink, chain)?)
                };
                Some(Kind::Dispatch {
                    target: t.value.clone(),
                    child,
                })
            }
        }
    }
}
