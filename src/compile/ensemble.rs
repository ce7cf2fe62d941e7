//! The compiled ensemble: its agents with their effective settings, the DAG, the phases and the
//! structure's name, as execution reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use petgraph::graph::DiGraph;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::model::LlmAgent;
use crate::load::diag::Diagnostic;
use crate::load::project::Tier;
use crate::load::resolve::ScriptTarget;
use crate::load::spec::{EnsembleSpec, InputScope, OnDependencyFailure};

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
