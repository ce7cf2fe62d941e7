//! Compiling an ensemble into a validated DAG.
//!
//! Every agent's effective settings are resolved here once (agent keys over profile keys over
//! config defaults), nested ensembles are compiled recursively, and every problem is reported
//! with its file, line and a hint. Execution never re-reads files.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use serde_json::{Map, Value as Json};

pub use model::{LlmAgent, ModelTarget, ProviderKind};

use crate::load::diag::{Diagnostic, Sink, WithHint, closest};
use crate::load::project::{EnsembleFile, Project, Tier, check_relative_name, load_ensemble_file};
use crate::load::resolve::{ScriptProblem, ScriptTarget, nested_candidates, resolve_script};
pub use crate::load::spec::OnDependencyFailure;
use crate::load::spec::{AgentKind, AgentSpec, EnsembleSpec, InputScope, LlmSpec, Located};
use crate::load::yaml::Pos;

pub mod expr;
pub mod model;
pub mod predicate;
pub mod validation;

/// The deepest nesting orc follows, whatever `performance.execution.max_ensemble_depth` says:
/// compiling, running and dropping nested ensembles recurse once per level, and a chain of
/// thousands of levels would exhaust the stack.
pub const MAX_ENSEMBLE_DEPTH: u64 = 32;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    Llm(Box<LlmAgent>),
    Script {
        reference: String,
        target: ScriptTarget,
        parameters: Map<String, Json>,
        /// The interpreter and output cap, from config.yaml and `ORC_PYTHON`.
        #[serde(skip)]
        launcher: crate::load::resolve::Launcher,
    },
    Ensemble {
        reference: String,
        #[serde(skip)]
        child: Arc<CompiledEnsemble>,
    },
    Loop {
        body: String,
        until: String,
        max_iterations: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        carry: Option<String>,
        #[serde(skip)]
        child: Arc<CompiledEnsemble>,
    },
    Dispatch {
        target: String,
        /// The child, when the target is a literal name.
        #[serde(skip)]
        child: Option<Arc<CompiledEnsemble>>,
    },
}

impl Kind {
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Llm(_) => "llm",
            Kind::Script { .. } => "script",
            Kind::Ensemble { .. } => "ensemble",
            Kind::Loop { .. } => "loop",
            Kind::Dispatch { .. } => "dispatch",
        }
    }

    /// What the agent runs on, for grouping: the model, `script`, or `ensemble:<name>`.
    pub fn runs_on(&self) -> String {
        match self {
            Kind::Llm(l) => l.model.clone(),
            Kind::Script { .. } => "(script)".into(),
            Kind::Ensemble { reference, .. } => format!("(ensemble {reference})"),
            Kind::Loop { body, .. } => format!("(loop {body})"),
            Kind::Dispatch { target, .. } => format!("(dispatch {target})"),
        }
    }
}

/// One agent, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fan_out: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_scope: Option<InputScope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// `on_dependency_failure: run`: the agent runs even when no dependency succeeded.
    #[serde(skip_serializing_if = "skips_on_failure")]
    pub on_dependency_failure: OnDependencyFailure,
    /// Effective timeout in seconds: agent, else profile, else config, else 60.
    pub timeout_seconds: f64,
    pub level: usize,
    #[serde(flatten)]
    pub kind: Kind,
}

/// For serde: `on_dependency_failure` is written only when it says `run`.
fn skips_on_failure(v: &OnDependencyFailure) -> bool {
    *v == OnDependencyFailure::Skip
}

/// The structure an ensemble has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// One agent.
    Single,
    /// Independent agents, no dependencies.
    Parallel,
    /// A chain, one agent per level.
    Sequential,
    /// Many agents feeding one.
    FanIn,
    /// An agent mapped over an upstream array.
    FanOut,
    /// Three or more tiers narrowing to one: many micro -> few small -> one synthesiser.
    Swarm,
    /// Ensembles used as agents (nested, loop, dispatch).
    Composable,
    /// Any other DAG.
    Dag,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Single => "single",
            Pattern::Parallel => "parallel",
            Pattern::Sequential => "sequential",
            Pattern::FanIn => "fan-in",
            Pattern::FanOut => "fan-out",
            Pattern::Swarm => "swarm",
            Pattern::Composable => "composable",
            Pattern::Dag => "dag",
        }
    }
}

/// A compiled ensemble: agents in declaration order and the dependency graph between them.
#[derive(Debug, Clone)]
pub struct CompiledEnsemble {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub tier: Option<Tier>,
    pub agents: Vec<Agent>,
    /// Node weights are indexes into `agents`; an edge runs from a dependency to its dependent.
    pub graph: DiGraph<usize, ()>,
    /// Agents by level (longest path from a root), each level in declaration order.
    pub levels: Vec<Vec<usize>>,
    /// For each agent, its dependencies' indexes in `depends_on` order.
    pub deps: Vec<Vec<usize>>,
    /// For each agent, whether nothing depends on it.
    pub terminal: Vec<bool>,
    /// For each agent, the agents on the longest path from it to the end of the ensemble
    /// (itself included): what scheduling starts first and the residency gate admits first.
    pub remaining: Vec<u64>,
    /// For each agent, the agents its `when:` or `dispatch:` references read.
    pub refs: Vec<Vec<usize>>,
    /// For each agent, referenced agents it waits for without depending on them (llm-orc ran
    /// them in an earlier phase; orc has no phases, so it waits explicitly).
    pub after: Vec<Vec<usize>>,
    pub pattern: Pattern,
    pub spec: Arc<EnsembleSpec>,
}

impl CompiledEnsemble {
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name == name)
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Agents per model (or per script / child ensemble), sorted by name.
    pub fn agents_per_model(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for a in &self.agents {
            *m.entry(a.kind.runs_on()).or_insert(0) += 1;
        }
        m
    }

    /// Number of agents including nested children (each nested use counted).
    pub fn total_agents(&self) -> usize {
        self.agents
            .iter()
            .map(|a| match &a.kind {
                Kind::Ensemble { child, .. } => 1 + child.total_agents(),
                _ => 1,
            })
            .sum()
    }
}

/// The result of compiling: the ensemble (when no error prevented it) and everything found.
#[derive(Debug, Clone)]
pub struct Compilation {
    pub ensemble: Option<Arc<CompiledEnsemble>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

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

    fn compile_spec(
        &mut self,
        file: &EnsembleFile,
        spec: Arc<EnsembleSpec>,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Option<CompiledEnsemble> {
        // Names: unique, and every dependency names one of them.
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(spec.agents.len());
        for (i, a) in spec.agents.iter().enumerate() {
            if let Some(&first) = index.get(a.name.value.as_str()) {
                let first_line = spec.agents[first].name.pos.line;
                sink.error(
                    a.name.pos,
                    format!("duplicate agent name `{}`", a.name.value),
                )
                .hint(format!(
                    "`{}` is already defined at line {first_line}; agent names must be unique",
                    a.name.value
                ));
            } else {
                index.insert(a.name.value.as_str(), i);
            }
        }
        let names: Vec<&str> = spec.agents.iter().map(|a| a.name.value.as_str()).collect();
        let mut deps_ok = true;
        for a in &spec.agents {
            for d in &a.depends_on {
                if !index.contains_key(d.name.value.as_str()) {
                    deps_ok = false;
                    let diag = sink.error(
                        d.name.pos,
                        format!(
                            "agent `{}` depends on unknown agent `{}`",
                            a.name.value, d.name.value
                        ),
                    );
                    match closest(&d.name.value, names.iter().copied()) {
                        Some(near) => diag.hint(format!("did you mean `{near}`?")),
                        None => diag.hint(format!("the agents are: {}", list_names(&names))),
                    }
                }
            }
            if a.fan_out && a.depends_on.is_empty() {
                sink.error(a.pos, format!("agent `{}` has `fan_out: true` but no `depends_on`", a.name.value))
                    .hint("fan_out maps an agent over an array from its first dependency; add `depends_on: [the-agent-producing-the-array]`");
            }
        }
        if deps_ok && let Some(cycle) = find_cycle(&spec.agents, &index) {
            let first = &spec.agents[cycle[0]];
            let path: Vec<&str> = cycle
                .iter()
                .map(|&i| spec.agents[i].name.value.as_str())
                .collect();
            sink.error(
                first.name.pos,
                format!("circular dependency: {}", path.join(" -> ")),
            )
            .hint("an ensemble must be a DAG; remove one of these `depends_on` entries");
        }

        // Guards and dispatch references need the phases, so only a sound graph is checked.
        let (refs, after) = if !sink.has_errors() {
            let deps: Vec<Vec<usize>> = spec
                .agents
                .iter()
                .map(|a| {
                    a.depends_on
                        .iter()
                        .filter_map(|d| index.get(d.name.value.as_str()).copied())
                        .collect()
                })
                .collect();
            let level = phases(&deps);
            check_control_flow(&spec, &index, &deps, &level, sink)
        } else {
            (Vec::new(), Vec::new())
        };
        if let Some(block) = &spec.validation {
            match validation::parse(block) {
                Err(e) => {
                    sink.error(spec.name.pos, format!("ensemble `{}` has an invalid `validation:` block: {e}", spec.name.value))
                        .hint("see the validation keys in docs/ensembles.md (structural, schema_validations, behavioral, quantitative, semantic)");
                }
                Ok(cfg) => {
                    for a in &cfg.behavioral {
                        if let Err(why) = crate::compile::expr::check(&a.assertion) {
                            sink.warning(spec.name.pos, format!("behavioral assertion `{}` cannot be evaluated by orc: {why}", a.name))
                                .hint("orc evaluates a safe subset of Python expressions; the assertion will fail with this error");
                        }
                    }
                }
            }
        }
        let agents_ok = !sink.has_errors();
        // Resolve each agent's settings, even when the graph is broken, to report everything.
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
        if !agents_ok || sink.has_errors() {
            return None;
        }

        let mut graph = DiGraph::<usize, ()>::with_capacity(agents.len(), agents.len());
        let nodes: Vec<NodeIndex> = (0..agents.len()).map(|i| graph.add_node(i)).collect();
        for (i, a) in agents.iter().enumerate() {
            for d in &a.depends_on {
                if let Some(&j) = index.get(d.as_str()) {
                    graph.update_edge(nodes[j], nodes[i], ());
                }
            }
        }
        let order = petgraph::algo::toposort(&graph, None).ok()?;
        let mut remaining = vec![1u64; agents.len()];
        for &n in order.iter().rev() {
            let i = graph[n];
            for succ in graph.neighbors(n) {
                remaining[i] = remaining[i].max(remaining[graph[succ]].saturating_add(1));
            }
        }
        let mut level = vec![0usize; agents.len()];
        for n in order {
            let i = graph[n];
            for succ in graph.neighbors(n) {
                let j = graph[succ];
                level[j] = level[j].max(level[i] + 1);
            }
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (i, a) in agents.iter_mut().enumerate() {
            a.level = level[i];
            levels[level[i]].push(i);
        }
        let pattern = classify(&agents, &levels);
        let deps: Vec<Vec<usize>> = agents
            .iter()
            .map(|a| {
                a.depends_on
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect()
            })
            .collect();
        let terminal: Vec<bool> = (0..agents.len())
            .map(|i| {
                graph
                    .neighbors_directed(nodes[i], petgraph::Direction::Outgoing)
                    .next()
                    .is_none()
            })
            .collect();
        Some(CompiledEnsemble {
            name: spec.name.value.clone(),
            description: spec.description.clone(),
            file: file.path.clone(),
            tier: Some(file.tier),
            agents,
            graph,
            levels,
            deps,
            terminal,
            remaining,
            refs,
            after,
            pattern,
            spec,
        })
    }

    fn timeout(&self, a: &AgentSpec) -> f64 {
        let profile_timeout = match &a.kind {
            AgentKind::Llm(l) => l
                .model_profile
                .as_ref()
                .and_then(|p| self.project.profiles.get(&p.value))
                .and_then(|p| p.spec.timeout_seconds),
            _ => None,
        };
        a.timeout_seconds
            .or(profile_timeout)
            .unwrap_or(self.project.config.performance.default_timeout)
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
            AgentKind::Script(s) => {
                let reference = &s.script;
                let dirs = &self.project.dirs;
                let tier_dir = match file.tier {
                    crate::load::project::Tier::Local => None,
                    tier => dirs.tier_root(tier),
                };
                match resolve_script(dirs, &reference.value, tier_dir) {
                    Ok(target) => {
                        let settings = &self.project.config.scripts;
                        let launcher = crate::load::resolve::Launcher::new(settings, &target);
                        match &target {
                            ScriptTarget::Inline(content) => {
                                let shown = inline_preview(content);
                                if !settings.allow_inline {
                                    sink.error(
                                        reference.pos,
                                        format!(
                                            "agent `{}` runs inline shell content (`{shown}`), which this project does not allow",
                                            a.name.value
                                        ),
                                    )
                                    .hint(
                                        "a `script:` that is not a file runs with `bash -c` and can do anything you can; \
                                         put it in a file under .llm-orc/scripts/, or allow inline scripts with \
                                         `scripts: {allow_inline: true}` in .llm-orc/config.yaml",
                                    );
                                    return None;
                                }
                                sink.warning(
                                    reference.pos,
                                    format!(
                                        "agent `{}` runs inline shell content with `bash -c` (`{shown}`; allowed by `scripts.allow_inline`)",
                                        a.name.value
                                    ),
                                );
                            }
                            ScriptTarget::File(path) => {
                                let program = &launcher.interpreter.program;
                                if !crate::load::resolve::program_exists(program) {
                                    let ext = path.extension().and_then(|x| x.to_str());
                                    sink.warning(
                                        reference.pos,
                                        format!(
                                            "interpreter `{}` for script `{}` of agent `{}` was not found ({})",
                                            program.display(),
                                            reference.value,
                                            a.name.value,
                                            launcher.interpreter.describe_origin(ext)
                                        ),
                                    );
                                }
                            }
                            ScriptTarget::Primitive(_) => {}
                        }
                        Some(Kind::Script {
                            reference: reference.value.clone(),
                            target,
                            parameters: s.parameters.clone(),
                            launcher,
                        })
                    }
                    Err(ScriptProblem::Missing { looked_in }) => {
                        sink.error(
                            reference.pos,
                            format!(
                                "script `{}` of agent `{}` not found",
                                reference.value, a.name.value
                            ),
                        )
                        .hint(format!("looked in: {}", join_paths(&looked_in)));
                        None
                    }
                    Err(ScriptProblem::Escapes { resolved, root }) => {
                        sink.error(
                            reference.pos,
                            format!(
                                "script `{}` of agent `{}` is outside the project",
                                reference.value, a.name.value
                            ),
                        )
                        .hint(format!(
                            "it resolves to {}, outside {}; keep scripts in .llm-orc/scripts/",
                            resolved.display(),
                            root.display()
                        ));
                        None
                    }
                }
            }
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

    fn resolve_nested(
        &mut self,
        file: &EnsembleFile,
        a: &AgentSpec,
        reference: &Located<String>,
        sink: &mut Sink,
        chain: &mut Vec<(String, PathBuf)>,
    ) -> Option<Arc<CompiledEnsemble>> {
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
        let target: EnsembleFile = match by_file {
            Some(f) => f,
            None => match project.catalogue().find(r) {
                Some(f) => {
                    sink.warning(reference.pos, format!("ensemble `{r}` was found by its name in {}, not by file name", f.path.display()))
                        .hint(format!("llm-orc looks for nested ensembles as `{r}.yaml` in .llm-orc/ensembles/ and would not find it; rename the file to `{r}.yaml`"));
                    f.clone()
                }
                None => {
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
                    return None;
                }
            },
        };
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
            return None;
        }
        // Checked before recursing, so the compiler never goes deeper than the limit.
        let configured = project.config.performance.max_ensemble_depth;
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

    fn resolve_llm(&self, a: &AgentSpec, l: &LlmSpec, sink: &mut Sink) -> Option<LlmAgent> {
        let profiles = &self.project.profiles;
        let profile = match &l.model_profile {
            Some(p) => match profiles.get(&p.value) {
                Some(entry) => Some(entry),
                None => {
                    let known: Vec<&str> = profiles.by_name.keys().map(String::as_str).collect();
                    let diag = sink.error(
                        p.pos,
                        format!(
                            "agent `{}` uses unknown model profile `{}`",
                            a.name.value, p.value
                        ),
                    );
                    let listed = if known.is_empty() {
                        "none".to_string()
                    } else {
                        list_names(&known)
                    };
                    let near = closest(&p.value, known.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    diag.hint(format!(
                        "{near}known profiles: {listed}; looked in {}",
                        join_paths(&profiles.searched)
                    ));
                    return None;
                }
            },
            None => None,
        };
        let pspec = profile.map(|p| &p.spec);
        let model = l
            .model
            .clone()
            .or_else(|| pspec.and_then(|p| p.model.clone()));
        let provider_name = l
            .provider
            .clone()
            .or_else(|| pspec.and_then(|p| p.provider.clone()));
        let pos = l.model_profile.as_ref().map_or(a.pos, |p| p.pos);
        let source = profile
            .map(|p| p.source.display().to_string())
            .unwrap_or_default();
        let (Some(model), Some(provider_name)) = (model, provider_name) else {
            if let Some(p) = profile {
                sink.error(
                    pos,
                    format!(
                        "model profile `{}` is incomplete: it needs both `model` and `provider`",
                        p.spec.name
                    ),
                )
                .hint(format!("complete the profile in {source}"));
            }
            return None;
        };
        let fallback_chain = self.fallback_chain(pspec, pos, sink);
        let fallbacks: Vec<ModelTarget> = fallback_chain
            .iter()
            .filter_map(|name| {
                let p = &profiles.get(name)?.spec;
                let provider = ProviderKind::parse(p.provider.as_deref()?)?;
                let mut options = p.options.clone();
                options.shift_remove("think");
                // Ollama takes keep_alive beside its options; an OpenAI-compatible server
                // gets it among them, where the profile put it (as llm-orc 0.25.2 sends it).
                if provider == ProviderKind::Ollama {
                    options.shift_remove("keep_alive");
                }
                Some(ModelTarget {
                    profile: Some(name.clone()),
                    model: p.model.clone()?,
                    provider,
                    base_url: p.base_url.clone(),
                    temperature: p.temperature,
                    max_tokens: p.max_tokens,
                    options,
                    cost_per_token: p.cost_per_token,
                })
            })
            .collect();
        let provider = match ProviderKind::parse(&provider_name) {
            Some(p) => p,
            // As llm-orc: an unknown provider falls back at run time when the profile has a
            // fallback orc can run; without one it is an error.
            None => match (profile, fallbacks.first()) {
                (Some(p), Some(f)) => {
                    sink.warning(pos, format!(
                        "model profile `{}` of agent `{}` uses unknown provider `{provider_name}`; the agent will run on its fallback profile `{}`",
                        p.spec.name, a.name.value, f.profile_name()
                    ))
                    .hint("orc runs `ollama` and `openai-compatible`; the result is marked model_substituted");
                    ProviderKind::Unknown(provider_name.clone())
                }
                _ => {
                    sink.error(pos, format!("agent `{}` uses unknown provider `{provider_name}`", a.name.value))
                        .hint("orc runs `ollama` and `openai-compatible`; llm-orc also knows anthropic-api, anthropic-claude-pro-max and google-gemini; or give the profile a `fallback_model_profile` orc can run");
                    return None;
                }
            },
        };
        if let ProviderKind::Cloud(_) = provider {
            let d = sink.warning(
                pos,
                format!(
                    "agent `{}` uses cloud provider `{provider_name}`, which orc cannot run",
                    a.name.value
                ),
            );
            match fallbacks.first() {
                Some(f) => d.hint(format!("invoke runs it on its fallback profile `{}`", f.profile_name())),
                None => d.hint("invoke will fail this agent; point the profile at a local model (provider: ollama) to run it"),
            }
        }
        let base_url = l
            .base_url
            .clone()
            .or_else(|| pspec.and_then(|p| p.base_url.clone()));
        if base_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
        {
            sink.warning(pos, format!("agent `{}` points at an https endpoint; orc speaks plain HTTP to local model servers", a.name.value))
                .hint("use the server's http:// address (or a local proxy); requests to https will fail");
        }
        if provider == ProviderKind::OpenaiCompatible && base_url.is_none() {
            sink.warning(
                pos,
                format!(
                    "agent `{}` is openai-compatible but has no `base_url`",
                    a.name.value
                ),
            )
            .hint("set base_url, e.g. http://localhost:11434/v1 for Ollama");
        }
        let mut options = pspec.map(|p| p.options.clone()).unwrap_or_default();
        for (k, v) in &l.options {
            options.insert(k.clone(), v.clone());
        }
        // shift_remove keeps the other options in the order written (they are sent in it).
        let think = options.shift_remove("think");
        if think.is_some() && provider == ProviderKind::OpenaiCompatible {
            sink.error(
                pos,
                format!(
                    "agent `{}` sets `options.think`, which an openai-compatible server cannot take",
                    a.name.value
                ),
            )
            .hint("`think` works with `provider: ollama` (Ollama's own API) and `provider: llama-server` (as chat_template_kwargs); llm-orc 0.25.2 refuses it here too");
        }
        let keep_alive = if provider == ProviderKind::Ollama {
            options.shift_remove("keep_alive")
        } else {
            None
        };
        if l.response_format.is_some() && l.ollama_format.is_some() {
            sink.warning(
                pos,
                format!(
                    "agent `{}` sets both `response_format` and `ollama_format`; `response_format` is used",
                    a.name.value
                ),
            )
            .hint("keep one: `response_format` is llm-orc 0.25's key, `ollama_format` 0.19's");
        }
        let target = ModelTarget {
            profile: l.model_profile.as_ref().map(|p| p.value.clone()),
            model,
            provider,
            base_url,
            temperature: l.temperature.or_else(|| pspec.and_then(|p| p.temperature)),
            max_tokens: l.max_tokens.or_else(|| pspec.and_then(|p| p.max_tokens)),
            options,
            cost_per_token: l
                .cost_per_token
                .or_else(|| pspec.and_then(|p| p.cost_per_token)),
        };
        Some(LlmAgent {
            size_b: model_size_b(&target.model),
            target,
            system_prompt: l
                .system_prompt
                .clone()
                .or_else(|| pspec.and_then(|p| p.system_prompt.clone()))
                .unwrap_or_else(|| {
                    format!("You are a {}. Provide helpful analysis.", a.name.value)
                }),
            format: l
                .response_format
                .clone()
                .or_else(|| l.ollama_format.clone()),
            think,
            keep_alive,
            fallback_chain,
            fallbacks,
        })
    }

    fn fallback_chain(
        &self,
        start: Option<&crate::load::spec::ProfileSpec>,
        pos: Pos,
        sink: &mut Sink,
    ) -> Vec<String> {
        let mut chain: Vec<String> = Vec::new();
        let mut next = start.and_then(|p| p.fallback_model_profile.clone());
        while let Some(name) = next {
            if chain.contains(&name) || start.is_some_and(|s| s.name == name) {
                let mut path: Vec<&str> = start.map(|s| s.name.as_str()).into_iter().collect();
                path.extend(chain.iter().map(String::as_str));
                path.push(&name);
                sink.warning(
                    pos,
                    format!("fallback profiles form a loop: {}", path.join(" -> ")),
                )
                .hint("the loop is cut where it repeats");
                break;
            }
            match self.project.profiles.get(&name) {
                Some(p) => {
                    next = p.spec.fallback_model_profile.clone();
                    chain.push(name);
                }
                None => {
                    sink.warning(pos, format!("fallback profile `{name}` does not exist"))
                        .hint("define it, or remove `fallback_model_profile`");
                    break;
                }
            }
        }
        chain
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

/// Checks guards, loop predicates and dispatch targets: every `${agent.field}` must name an agent
/// that has finished when the reference is read. Returns each agent's referenced agents and the
/// extra ones it must wait for.
fn check_control_flow(
    spec: &EnsembleSpec,
    index: &HashMap<&str, usize>,
    deps: &[Vec<usize>],
    level: &[usize],
    sink: &mut Sink,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let n = spec.agents.len();
    let mut refs = vec![Vec::new(); n];
    let mut after = vec![Vec::new(); n];
    let names: Vec<&str> = spec.agents.iter().map(|a| a.name.value.as_str()).collect();
    let is_agent_ref = |t: &str| predicate::agent_ref(t).is_some();
    for (i, a) in spec.agents.iter().enumerate() {
        let me = a.name.value.as_str();
        let mut tokens: Vec<(&str, Pos, &str)> = Vec::new();
        if let Some(w) = &a.when {
            if let Some(msg) = predicate::literal_warning(&w.value, is_agent_ref) {
                sink.warning(w.pos, format!("the `when:` guard of agent `{me}`: {msg}"))
                    .hint("a guard reads an upstream agent's JSON: `${agent.field}` or `${agent.field} == value`");
            }
            tokens.push((predicate::resolved_token(&w.value), w.pos, "when"));
        }
        match &a.kind {
            AgentKind::Dispatch(t) if predicate::agent_ref(&t.value).is_some() => {
                tokens.push((t.value.as_str(), t.pos, "dispatch"));
            }
            AgentKind::Loop(l) => {
                let is_out_ref = |t: &str| predicate::output_ref(t).is_some();
                if let Some(msg) = predicate::literal_warning(&l.until, is_out_ref) {
                    sink.warning(a.pos, format!("the `until:` of loop agent `{me}`: {msg}"))
                        .hint(
                            "`until:` reads the body's output: `${field}` or `${field} == value`",
                        );
                }
                if let Some(c) = &l.carry
                    && predicate::output_ref(c).is_none()
                {
                    sink.warning(a.pos, format!("the `carry:` of loop agent `{me}` is `{c}`, not a `${{field}}` reference: every iteration after the first gets that text as its input"))
                        .hint("`carry: ${field}` passes a field of the body's output to the next iteration");
                }
            }
            _ => {}
        }
        for (token, pos, what) in tokens {
            let Some((dep, _)) = predicate::agent_ref(token) else {
                continue;
            };
            let Some(&j) = index.get(dep) else {
                let diag = sink.error(
                    pos,
                    format!("the `{what}:` of agent `{me}` refers to unknown agent `{dep}`"),
                );
                match closest(dep, names.iter().copied()) {
                    Some(near) => diag.hint(format!("did you mean `{near}`?")),
                    None => diag.hint(format!("the agents are: {}", list_names(&names))),
                };
                continue;
            };
            if j == i {
                sink.error(pos, format!("the `{what}:` of agent `{me}` refers to the agent itself"))
                    .hint("a reference reads an upstream agent's result, which must exist before this agent runs");
                continue;
            }
            if !refs[i].contains(&j) {
                refs[i].push(j);
            }
            if is_ancestor(j, i, deps) {
                continue;
            }
            if level[j] < level[i] {
                if !after[i].contains(&j) {
                    after[i].push(j);
                }
            } else {
                sink.error(pos, format!("the `{what}:` of agent `{me}` refers to `{dep}`, which is not upstream of it"))
                    .hint(format!("llm-orc runs `{dep}` in the same phase or later, so the reference would always be empty; add `{dep}` to the `depends_on` of `{me}`"));
            }
        }
        if let AgentKind::Dispatch(t) = &a.kind
            && t.value.contains("${")
            && predicate::agent_ref(&t.value).is_none()
        {
            sink.error(t.pos, format!("the `dispatch:` of agent `{me}` is `{}`, which is neither an ensemble name nor a `${{agent.field}}` reference", t.value))
                .hint("use `dispatch: ${classifier.ensemble}` to pick the ensemble from an upstream agent's JSON");
        }
    }
    (refs, after)
}

/// Each agent's phase (longest dependency path from a root) in an acyclic graph.
fn phases(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut level: Vec<Option<usize>> = vec![None; deps.len()];
    for start in 0..deps.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if level[i].is_some() {
                continue;
            }
            if expanded {
                let l = deps[i]
                    .iter()
                    .filter_map(|&d| level[d])
                    .map(|l| l + 1)
                    .max();
                level[i] = Some(l.unwrap_or(0));
            } else {
                stack.push((i, true));
                stack.extend(
                    deps[i]
                        .iter()
                        .filter(|&&d| level[d].is_none())
                        .map(|&d| (d, false)),
                );
            }
        }
    }
    level.into_iter().map(|l| l.unwrap_or(0)).collect()
}

/// Whether `j` is `i` or one of its (transitive) dependencies.
fn is_ancestor(j: usize, i: usize, deps: &[Vec<usize>]) -> bool {
    let mut seen = vec![false; deps.len()];
    let mut stack = vec![i];
    while let Some(k) = stack.pop() {
        if k == j {
            return true;
        }
        for &d in &deps[k] {
            if !std::mem::replace(&mut seen[d], true) {
                stack.push(d);
            }
        }
    }
    false
}

/// Finds a dependency cycle as llm-orc reports it: depth-first over agents in declaration order,
/// following `depends_on` in list order; the path starts where the cycle was entered and
/// repeats that agent at the end.
fn find_cycle(agents: &[AgentSpec], index: &HashMap<&str, usize>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; agents.len()];
    for root in 0..agents.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency to visit).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = &agents[node].depends_on;
            if *next < deps.len() {
                let d = &deps[*next];
                *next += 1;
                let Some(&j) = index.get(d.name.value.as_str()) else {
                    continue;
                };
                match mark[j] {
                    Mark::New => {
                        mark[j] = Mark::Open;
                        stack.push((j, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(n, _)| n == j).unwrap_or(0);
                        let mut path: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                        path.push(j);
                        return Some(path);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// Names the structure of an ensemble from its agents and levels.
pub fn classify(agents: &[Agent], levels: &[Vec<usize>]) -> Pattern {
    if agents.iter().any(|a| {
        matches!(
            a.kind,
            Kind::Ensemble { .. } | Kind::Loop { .. } | Kind::Dispatch { .. }
        )
    }) {
        return Pattern::Composable;
    }
    if agents.iter().any(|a| a.fan_out) {
        return Pattern::FanOut;
    }
    let widths: Vec<usize> = levels.iter().map(Vec::len).collect();
    match widths.as_slice() {
        [] | [1] => Pattern::Single,
        [_] => Pattern::Parallel,
        w if w.iter().all(|&n| n == 1) => Pattern::Sequential,
        [first, 1] if *first > 1 => Pattern::FanIn,
        w if w.len() >= 3
            && w.last() == Some(&1)
            && w[0] > 1
            && w.windows(2).all(|p| p[0] >= p[1]) =>
        {
            Pattern::Swarm
        }
        _ => Pattern::Dag,
    }
}

/// Reads a parameter count in billions from a model name: `qwen3:0.6b` -> 0.6,
/// `gemma3:12b-it-qat` -> 12, `smollm2:135m` -> 0.135. `None` when the name does not say.
pub fn model_size_b(model: &str) -> Option<f64> {
    let (base, tag) = match model.rsplit_once(':') {
        Some((b, t)) => (b, Some(t)),
        None => (model, None),
    };
    tag.and_then(size_in).or_else(|| size_in(base))
}

fn size_in(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c != b'b' && c != b'm' {
            continue;
        }
        // The unit must end a token.
        if bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()) {
            continue;
        }
        let start = lower[..i]
            .rfind(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .map_or(0, |p| p + 1);
        if start == i {
            continue;
        }
        // `e2b` style (gemma3n:e2b) counts as the number after the letter.
        if let Ok(n) = lower[start..i].parse::<f64>() {
            return Some(if c == b'm' { n / 1000.0 } else { n });
        }
    }
    None
}

fn list_names(names: &[&str]) -> String {
    const MAX: usize = 12;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

fn join_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no directories)".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of inline script content, shortened for a message.
fn inline_preview(content: &str) -> String {
    let line = content.trim().lines().next().unwrap_or("");
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() || content.trim().lines().nth(1).is_some() {
        format!("{short}...")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(model_size_b("qwen3:0.6b"), Some(0.6));
        assert_eq!(model_size_b("gemma3:4b"), Some(4.0));
        assert_eq!(model_size_b("gemma3:12b-it-qat"), Some(12.0));
        assert_eq!(model_size_b("smollm2:135m"), Some(0.135));
        assert_eq!(model_size_b("llama3.2:1b"), Some(1.0));
        assert_eq!(model_size_b("llama3"), None);
        assert_eq!(model_size_b("mistral:latest"), None);
        assert_eq!(model_size_b("qwen2.5-coder:7b"), Some(7.0));
    }
}
