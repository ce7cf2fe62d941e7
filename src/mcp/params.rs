//! The MCP tools' parameters: one serde + JSON Schema struct per tool (or shared by a few),
//! with llm-orc's parameter names. The schemas clients see are generated from these.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize, JsonSchema)]
pub struct PathArg {
    /// The project directory (holding .llm-orc/), or its .llm-orc directory.
    pub path: String,
    /// Create .llm-orc/ there (config.yaml, ensembles/, profiles/, scripts/) when it has none.
    /// Refused for system directories and for the home directory itself.
    #[serde(default)]
    pub init: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct EnsembleArg {
    pub ensemble_name: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct InvokeArgs {
    pub ensemble_name: String,
    /// The input text for the ensemble.
    #[serde(default)]
    pub input_data: String,
    /// Files or globs in the project, read by orc after input_data: pass paths, not text.
    #[serde(default)]
    pub input_files: Vec<String>,
    /// deliverable (default), agents (each agent's answer too) or full (llm-orc's document).
    pub detail: Option<String>,
    /// Cap on the answer's characters.
    pub max_chars: Option<usize>,
    /// Answer a run_id at once; poll run_status, fetch run_result.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// The task type, from route_task.
    pub task_type: Option<String>,
    /// A few words on the task, for the routing log.
    pub task_summary: Option<String>,
    /// Start no agent past this many tokens (default performance.budget.tokens_per_run).
    pub token_budget: Option<u64>,
    /// Use the result cache (default: as config.yaml says).
    pub cache: Option<bool>,
    /// The task's instruction apart from the input, for the free checks and judges.
    pub instruction: Option<String>,
    /// What the answer must be, checked for free: {json: bool, schema: a JSON Schema, labels:
    /// [..], grounded: bool, samples: N runs to compare, tests: bool, target_file: path}.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub expect: Option<crate::learn::checks::Expect>,
}

#[derive(Deserialize, JsonSchema)]
pub struct PromoteArgs {
    pub ensemble_name: String,
    /// `global` or `library`.
    pub destination: String,
    #[serde(default = "yes")]
    pub include_profiles: bool,
    /// Only list the files it would write (the default unless confirm is true).
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub overwrite: bool,
    /// The user agreed: write the files (a library that is a git repository gets a commit on
    /// contribute/NAME). Without it nothing is written.
    #[serde(default)]
    pub confirm: bool,
    /// Promote although the ensemble is below the readiness bar (says what it overrode).
    #[serde(default)]
    pub force: bool,
    /// The library category folder (default: the ensemble's sub-folder, else `general`).
    pub category: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ReadinessArgs {
    pub ensemble_name: String,
    /// `global` or `library`.
    pub destination: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct DemoteArgs {
    pub ensemble_name: String,
    /// `global` or `library` (the project's own ensembles are never demoted).
    pub tier: String,
    #[serde(default)]
    pub remove_orphaned_profiles: bool,
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct RunArg {
    pub run_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct RunResultArgs {
    pub run_id: String,
    /// deliverable (default), agents or full, as for invoke.
    pub detail: Option<String>,
    /// One agent's answer alone (from offset, in characters).
    pub agent: Option<String>,
    #[serde(default)]
    pub offset: usize,
    pub max_chars: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
pub struct CreateEnsembleArgs {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Agent objects as in ensemble YAML.
    pub agents: Option<Vec<Value>>,
    /// Copy the agents of this existing ensemble.
    pub from_template: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct UpdateEnsembleArgs {
    pub ensemble_name: String,
    /// Top-level keys to set (null removes a key), e.g. {"agents": [...], "description": "..."}.
    pub changes: Map<String, Value>,
    #[serde(default = "yes")]
    pub dry_run: bool,
    #[serde(default = "yes")]
    pub backup: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, JsonSchema)]
pub struct DeleteEnsembleArgs {
    pub ensemble_name: String,
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct ProviderFilter {
    pub provider: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct CreateProfileArgs {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub system_prompt: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub base_url: Option<String>,
    pub cost_per_token: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
pub struct UpdateProfileArgs {
    pub name: String,
    pub changes: Map<String, Value>,
}

#[derive(Deserialize, JsonSchema)]
pub struct NameConfirm {
    pub name: String,
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct CategoryFilter {
    pub category: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ScriptArgs {
    pub name: String,
    #[serde(default)]
    pub category: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CreateScriptArgs {
    pub name: String,
    #[serde(default)]
    pub category: String,
    /// `basic` or `splitter`.
    #[serde(default)]
    pub template: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct TestScriptArgs {
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

#[derive(Deserialize, JsonSchema)]
pub struct DeleteScriptArgs {
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct ArtifactArg {
    /// `ensemble/timestamp` or `ensemble/latest`.
    pub artifact_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct DeleteArtifactArgs {
    pub artifact_id: String,
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct CleanupArgs {
    pub ensemble_name: Option<String>,
    #[serde(default = "thirty")]
    pub older_than_days: u64,
    #[serde(default = "yes")]
    pub dry_run: bool,
}

fn thirty() -> u64 {
    30
}

#[derive(Deserialize, JsonSchema)]
pub struct BrowseArgs {
    /// `all`, `ensembles` or `scripts`.
    #[serde(default)]
    pub browse_type: String,
    pub category: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct SearchArgs {
    pub query: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CopyArgs {
    /// A path inside the library, e.g. `ensembles/research/summary.yaml`.
    pub source: String,
    pub destination: Option<String>,
    #[serde(default)]
    pub overwrite: bool,
}

// ------------------------------------------------------------------ the learning loop's parameters

#[derive(Deserialize, JsonSchema)]
pub struct TaskArg {
    /// The instruction, a sentence or two (the text it works on goes in input or input_files).
    pub task: String,
    /// Short text the task works on (measured, not classified).
    pub input: Option<String>,
    /// Files or globs in the project the task works on (measured): paths, not pasted text.
    #[serde(default)]
    pub input_files: Vec<String>,
    /// A delegation level 0-5 for this call only (default: routing.delegation).
    pub delegation: Option<u8>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RoutingIdArg {
    pub routing_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ClaudeTaskArgs {
    /// The task Claude did itself.
    pub task: String,
    /// The task type (default: classified from the task).
    pub task_type: Option<String>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Claude's answer, kept for export_training_data (SFT/DPO).
    pub output: Option<String>,
    /// Or a file in the project holding it, read by orc.
    pub output_file: Option<String>,
    /// The routing id of a local run whose work Claude redid.
    pub redoes: Option<String>,
    /// The routing id of a local run Claude answered too (should_evaluate's paired: true).
    pub paired_with: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct EvaluationArgs {
    pub routing_id: String,
    /// good, acceptable or poor.
    pub score: String,
    /// Who judged, e.g. claude-sonnet-4.
    pub judge: String,
    /// The reasoning, written before the verdict.
    pub reasoning: Option<String>,
    /// e.g. hallucination, incomplete, wrong_format (for poor outputs).
    pub failure_mode: Option<String>,
    #[serde(default)]
    pub judge_tokens_used: u64,
    /// local or claude: whose output was judged (default: whoever did the routed work).
    pub subject: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct FeedbackArgs {
    pub routing_id: String,
    /// Did the user accept the output?
    pub accepted: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct ReportArgs {
    /// json (default), text or html.
    pub format: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct VersionArg {
    pub version: u64,
}

#[derive(Deserialize, JsonSchema)]
pub struct ExportArgs {
    /// sft, dpo or judge.
    pub kind: String,
    /// Only rows of this task type.
    pub task_type: Option<String>,
    /// Only rows of runs of this ensemble.
    pub ensemble: Option<String>,
    /// Only rows whose verdict came from this judge.
    pub judge: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct LocalJudgeArgs {
    pub routing_id: String,
    /// The model profile of the local judge.
    pub profile: String,
}

#[derive(Deserialize, JsonSchema, Default)]
pub struct LearnRoutingArgs {
    /// Learn from every evaluation again, lifting the pin a rollback set.
    pub unpin: Option<bool>,
}
