//! Ensemble and profile YAML as typed values, read from the located YAML tree.
//!
//! Reading never stops at the first problem: every error and warning in a file is collected with
//! its line and column, and as much of the file as makes sense is kept so that later checks (the
//! graph) can report their problems too. Coercions follow llm-orc (Pydantic's lax mode): `"yes"`
//! and `1` are booleans, `"30"` and `30.0` are integers; names must be real strings.

mod agent;
mod ensemble;
mod names;
mod profile;
mod reader;

use serde::Serialize;
use serde_json::{Map, Value as Json};

pub use ensemble::{parse_ensemble, warn_duplicates};
pub use names::{name_problem, shown};
pub use profile::read_profile;
pub use reader::Reader;

use crate::load::yaml::Pos;

/// A string with where it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located<T> {
    pub value: T,
    #[serde(skip)]
    pub pos: Pos,
}

impl<T> Located<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Located { value, pos }
    }
}

/// A parsed ensemble file.
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    pub name: Located<String>,
    pub description: Option<String>,
    pub default_task: Option<String>,
    pub agents: Vec<AgentSpec>,
    /// Post-run validation block, kept as written (see the validation issue).
    pub validation: Option<Json>,
    pub test_mode: Option<Json>,
    pub raw_output: bool,
    /// Serving metadata llm-orc 0.19+ accepts and orc carries but does not act on.
    pub serving: Map<String, Json>,
}

/// One entry of `agents`.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub name: Located<String>,
    /// Where the agent's mapping starts.
    pub pos: Pos,
    pub depends_on: Vec<Dependency>,
    pub fan_out: bool,
    pub input_key: Option<String>,
    pub input_scope: Option<InputScope>,
    pub when: Option<Located<String>>,
    pub timeout_seconds: Option<f64>,
    /// `on_dependency_failure: run` (llm-orc 0.25): run even when no dependency succeeded.
    pub on_dependency_failure: OnDependencyFailure,
    pub kind: AgentKind,
}

/// What an agent does when none of its dependencies succeeded (llm-orc 0.25's
/// `on_dependency_failure`): `skip` it (the default; `outcome: skipped_by_failure`), or `run` it
/// with the failures shown in its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDependencyFailure {
    #[default]
    Skip,
    Run,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: Located<String>,
    /// The `condition` of the mapping form; llm-orc accepts and ignores it.
    pub condition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputScope {
    Dependencies,
}

#[derive(Debug, Clone)]
pub enum AgentKind {
    Llm(Box<LlmSpec>),
    Script(ScriptSpec),
    Ensemble(Located<String>),
    Loop(LoopSpec),
    Dispatch(Located<String>),
}

impl AgentKind {
    pub fn label(&self) -> &'static str {
        match self {
            AgentKind::Llm(_) => "llm",
            AgentKind::Script(_) => "script",
            AgentKind::Ensemble(_) => "ensemble",
            AgentKind::Loop(_) => "loop",
            AgentKind::Dispatch(_) => "dispatch",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LlmSpec {
    pub model_profile: Option<Located<String>>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub options: Map<String, Json>,
    pub ollama_format: Option<Json>,
    /// llm-orc 0.25's structured output: `"json"` or a JSON schema (sent as `response_format`
    /// to OpenAI-compatible servers, as `format` to Ollama's native API).
    pub response_format: Option<Json>,
    pub output_format: Option<String>,
    pub fallback_model_profile: Option<String>,
    pub cost_per_token: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ScriptSpec {
    pub script: Located<String>,
    pub parameters: Map<String, Json>,
}

#[derive(Debug, Clone)]
pub struct LoopSpec {
    pub body: Located<String>,
    pub until: String,
    pub max_iterations: u64,
    pub carry: Option<String>,
}

/// A model profile, from `config.yaml`'s `model_profiles` or a `profiles/*.yaml` file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub options: Map<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_model_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the profile is defined (file, line).
    #[serde(skip)]
    pub pos: Pos,
}

/// The largest timeout a file may set: one week, in seconds.
pub const MAX_TIMEOUT_SECONDS: f64 = 604_800.0;
