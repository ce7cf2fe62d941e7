//! `orc mcp serve`: llm-orc's MCP tool surface over stdio, on rmcp. Every tool is a thin adapter
//! over the service layer (`service`, `manage`); nothing here reads project files itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, ProgressNotificationParam, RequestMetaObject,
    ServerCapabilities, ServerConfig,
};
use rmcp::{Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::load::project::Env;

pub mod http;
pub(crate) mod shapes;
mod stdio;
use crate::learn::service::Learning;
use crate::run::{Event, Status};
use crate::service::{ErrorKind, Invocation, InvokeOptions, Service, ServiceError};

type ToolResult = Result<CallToolResult, String>;

fn ok(v: Value) -> ToolResult {
    Ok(CallToolResult::structured(v))
}

fn err(e: ServiceError) -> String {
    match e {
        ServiceError::Invalid { name, diagnostics } => {
            let lines: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string().replace("\n  hint: ", " (hint: ") + ")")
                .collect();
            format!("ensemble `{name}` is invalid:\n{}", lines.join("\n"))
        }
        // A failure to read or write is said to be one, never worded as a refusal.
        other if other.kind() == ErrorKind::Io => format!("I/O error: {other}"),
        other => other.to_string(),
    }
}

/// One run started by `invoke` (async or not).
struct Run {
    ensemble: String,
    started: Instant,
    done: u64,
    failed: u64,
    total: u64,
    result: Option<Value>,
    cancel: tokio::sync::watch::Sender<bool>,
}

struct State {
    cwd: PathBuf,
    env: Env,
    project: Mutex<Option<PathBuf>>,
    service: Mutex<Arc<Service>>,
    runs: Mutex<HashMap<String, Run>>,
}

/// Refuses names a client passed that hold control characters, newlines or bidi marks (one
/// check for every tool that takes a name; see `config::check_name_chars`).
fn names(list: &[(&str, &str)]) -> Result<(), String> {
    for (what, value) in list {
        crate::load::project::check_name_chars(value)
            .map_err(|why| format!("invalid {what} `{}`: {why}", value.escape_debug()))?;
    }
    Ok(())
}

/// Why `dir` (canonical) may not become a new project: a system directory (or inside one,
/// unless under the user's home), or the home directory itself.
fn forbidden_project_dir(dir: &std::path::Path, home: Option<&std::path::Path>) -> Option<String> {
    use std::path::{Component, Path};
    let home = home.map(|h| std::fs::canonicalize(h).unwrap_or_else(|_| h.to_path_buf()));
    if home.as_deref() == Some(dir) {
        return Some(format!(
            "{} is your home directory; create a project in a folder of its own",
            dir.display()
        ));
    }
    if dir.parent().is_none() {
        return Some(format!("{} is the filesystem root", dir.display()));
    }
    if home.as_deref().is_some_and(|h| dir.starts_with(h)) {
        return None;
    }
    let first = match dir.components().nth(1) {
        Some(Component::Normal(c)) => c.to_string_lossy().into_owned(),
        _ => return None,
    };
    let system = [
        "etc", "usr", "bin", "sbin", "proc", "sys", "dev", "boot", "var", "run",
    ]
    .contains(&first.as_str())
        || first.starts_with("lib");
    system.then(|| {
        format!(
            "{} is a system directory ({}); orc creates projects only outside it",
            dir.display(),
            Path::new("/").join(&first).display()
        )
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Clone)]
pub struct OrcMcp {
    state: Arc<State>,
    tool_router: ToolRouter<Self>,
}

// ------------------------------------------------------------------ parameters

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
    /// Return a run id at once and keep running; poll with run_status, fetch with run_result.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// The task type for the routing log (extraction, classification, summarization, ...).
    pub task_type: Option<String>,
    /// A short description of the task for the routing log.
    pub task_summary: Option<String>,
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
    /// `global` or `library` (or `local`).
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
    /// The task, in words.
    pub task: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct RoutingIdArg {
    pub routing_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ClaudeTaskArgs {
    /// The task Claude did itself.
    pub task: String,
    /// extraction, classification, summarization, code-generation, code-review, json,
    /// reasoning, creative, knowledge or instructions (default: classified from the task).
    pub task_type: Option<String>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Claude's answer, kept for export_training_data (SFT/DPO).
    pub output: Option<String>,
    /// The routing id of a local run whose work Claude redid.
    pub redoes: Option<String>,
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
}

#[derive(Deserialize, JsonSchema)]
pub struct LocalJudgeArgs {
    pub routing_id: String,
    /// The model profile of the local judge.
    pub profile: String,
}

// ------------------------------------------------------------------ the server

impl OrcMcp {
    pub fn new(cwd: PathBuf, project: Option<PathBuf>, env: Env) -> Self {
        let service = Service::open(&cwd, project.as_deref(), &env);
        OrcMcp {
            state: Arc::new(State {
                cwd,
                env,
                project: Mutex::new(project),
                service: Mutex::new(Arc::new(service)),
                runs: Mutex::new(HashMap::new()),
            }),
            tool_router: Self::tool_router(),
        }
    }

    /// The project as it is on disk now (files may have changed since the last call).
    fn svc(&self) -> Arc<Service> {
        let project = lock(&self.state.project).clone();
        let fresh = Arc::new(Service::open(
            &self.state.cwd,
            project.as_deref(),
            &self.state.env,
        ));
        *lock(&self.state.service) = fresh.clone();
        fresh
    }

    fn result_json(inv: &Invocation) -> Value {
        let full = &inv.doc;
        json!({
            "results": full["results"],
            "deliverable": inv.result.deliverable,
            "status": if inv.result.has_errors() || inv.result.interrupted { "error" } else { "success" },
            "has_errors": inv.result.has_errors() || inv.result.interrupted,
            "executor_status": inv.result.status(),
            "metadata": full["metadata"],
            "artifact_id": inv.artifact.as_ref().and_then(|a| a.as_ref().ok()).map(|w| w.id.clone()),
            "warnings": inv.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    }
}

#[tool_router]
impl OrcMcp {
    #[tool(
        description = "Point the server at a project: a directory holding .llm-orc/ (or the .llm-orc directory itself; no walking up). With init: true, a directory without one gets a new .llm-orc/ (never a system directory or the home directory itself)."
    )]
    async fn set_project(&self, Parameters(a): Parameters<PathArg>) -> ToolResult {
        let refuse = |error: String| ok(json!({"status": "error", "error": error}));
        if let Err(e) = names(&[("path", &a.path)]) {
            return refuse(e);
        }
        let p = PathBuf::from(&a.path);
        let p = if p.is_absolute() {
            p
        } else {
            self.state.cwd.join(p)
        };
        if !p.is_dir() {
            return refuse(format!("Path does not exist: {}", a.path));
        }
        let p = match std::fs::canonicalize(&p) {
            Ok(p) => p,
            Err(e) => return refuse(format!("{}: {e}", p.display())),
        };
        // The project's .llm-orc directory itself names its parent.
        let root = match p.parent() {
            Some(parent)
                if p.file_name()
                    .is_some_and(|n| n == crate::load::project::LOCAL_DIR) =>
            {
                parent.to_path_buf()
            }
            _ => p,
        };
        let mut out = json!({"status": "ok", "project_path": root});
        if !root.join(crate::load::project::LOCAL_DIR).is_dir() {
            if !a.init {
                return refuse(format!(
                    "{} is not an orc project (it has no .llm-orc/ directory); point at a project, or pass init: true to create .llm-orc/ there",
                    root.display()
                ));
            }
            if let Some(why) = forbidden_project_dir(&root, self.state.env.home.as_deref()) {
                return refuse(why);
            }
            match crate::service::init_project(&root, None) {
                Ok(report) => {
                    out["initialized"] = json!(true);
                    out["created"] = json!(report.created);
                }
                Err(e) => return refuse(e.to_string()),
            }
        }
        *lock(&self.state.project) = Some(root);
        ok(out)
    }

    #[tool(
        description = "List ensembles in every tier (local, library, global) with descriptions and agent counts."
    )]
    async fn list_ensembles(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::EnsemblesShape::from(
            self.svc().ensemble_summaries(),
        ))?)
    }

    #[tool(
        description = "Validate an ensemble: YAML, agents, dependencies, cycles, profiles, scripts, nesting. Errors carry file:line:column."
    )]
    async fn validate_ensemble(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let check = self
            .svc()
            .validate_ensemble(&a.ensemble_name)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ValidationShape::from(check))?)
    }

    #[tool(
        description = "Create a project ensemble from agent objects or by copying another ensemble's agents; it is validated after writing."
    )]
    async fn create_ensemble(&self, Parameters(a): Parameters<CreateEnsembleArgs>) -> ToolResult {
        names(&[
            ("name", &a.name),
            ("from_template", a.from_template.as_deref().unwrap_or("")),
        ])?;
        let created = self
            .svc()
            .create_ensemble(
                &a.name,
                &a.description,
                a.agents.map(Value::Array),
                a.from_template.as_deref(),
            )
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleCreatedShape::from(
            created,
        ))?)
    }

    #[tool(
        description = "Change top-level keys of a project ensemble (dry_run previews; the result must validate; backup keeps a .bak)."
    )]
    async fn update_ensemble(&self, Parameters(a): Parameters<UpdateEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let changes = Value::Object(a.changes);
        let update = self
            .svc()
            .update_ensemble(&a.ensemble_name, &changes, a.dry_run, a.backup)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleUpdateShape::new(
            update, changes,
        ))?)
    }

    #[tool(description = "Delete a project ensemble. Requires confirm: true.")]
    async fn delete_ensemble(&self, Parameters(a): Parameters<DeleteEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let path = self
            .svc()
            .delete_ensemble(&a.ensemble_name, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::PathDeletedShape {
            deleted: true,
            path,
        })?)
    }

    #[tool(
        description = "Check that every model an ensemble needs is installed on its Ollama host; for missing ones, name the installed model of the nearest size."
    )]
    async fn check_ensemble_runnable(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_check_runnable(&a.ensemble_name)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Run an ensemble. Sends a progress notification per finished agent when the request has a progress token. With async: true, returns a run_id at once; poll run_status and fetch run_result."
    )]
    async fn invoke(
        &self,
        Parameters(a): Parameters<InvokeArgs>,
        meta: RequestMetaObject,
        client: Peer<RoleServer>,
    ) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let svc = self.svc();
        crate::learn::classify::check_task_type(a.task_type.as_deref())?;
        let (ens, _) = svc.compile(&a.ensemble_name).map_err(err)?;
        let total = ens.total_agents() as u64;
        let run_id = format!(
            "{}-{:08x}",
            chrono::Local::now().format("%Y%m%d-%H%M%S-%3f"),
            fastrand::u32(..)
        );
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        lock(&self.state.runs).insert(
            run_id.clone(),
            Run {
                ensemble: ens.name.clone(),
                started: Instant::now(),
                done: 0,
                failed: 0,
                total,
                result: None,
                cancel: cancel_tx,
            },
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let mut opts = InvokeOptions::new(cancel_rx);
        opts.events = Some(tx);
        opts.ollama_host = self.state.env.ollama_host.clone();
        let token = meta.get_progress_token();
        let state = self.state.clone();
        let id = run_id.clone();
        // Progress: count finished agents for run_status, and notify the client if it asked.
        let progress = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let Event::Finished { agent, status, .. } = ev {
                    let (done, total) = {
                        let mut runs = lock(&state.runs);
                        let Some(r) = runs.get_mut(&id) else { continue };
                        r.done += 1;
                        if status == Status::Failed {
                            r.failed += 1;
                        }
                        r.total = r.total.max(r.done);
                        (r.done, r.total)
                    };
                    if let Some(t) = &token {
                        let _ = client
                            .notify_progress(
                                ProgressNotificationParam::new(t.clone(), done as f64)
                                    .with_total(total as f64)
                                    .with_message(format!("{agent}: {}", status.outcome())),
                            )
                            .await;
                    }
                }
            }
        });
        let name = a.ensemble_name.clone();
        let input = a.input_data.clone();
        let (task_type, task_summary) = (a.task_type.clone(), a.task_summary.clone());
        let state = self.state.clone();
        let id = run_id.clone();
        let work = async move {
            let out = match svc.invoke(&name, input, opts).await {
                Ok(inv) => {
                    let mut out = OrcMcp::result_json(&inv);
                    let l = crate::learn::service::Learning::open(&svc);
                    match l.log_run(&inv, task_type.as_deref(), task_summary.as_deref()) {
                        Ok(r) => out["routing_id"] = json!(r.id),
                        Err(e) => out["warnings"].as_array_mut().into_iter().for_each(|w| {
                            w.push(json!(format!("the run was not logged for learning: {e}")))
                        }),
                    }
                    out
                }
                Err(e) => {
                    json!({"status": "error", "has_errors": true, "error": err(e), "results": {}})
                }
            };
            let _ = progress.await;
            if let Some(r) = lock(&state.runs).get_mut(&id) {
                r.result = Some(out.clone());
            }
            out
        };
        if a.run_async {
            tokio::spawn(work);
            return ok(
                json!({"run_id": run_id, "status": "running", "ensemble": a.ensemble_name, "total_agents": total}),
            );
        }
        let mut out = work.await;
        out["run_id"] = json!(run_id);
        ok(out)
    }

    #[tool(
        description = "Status of a run started by invoke: running, completed (every agent succeeded), failed (some agent failed) or cancelled; agents done and failed so far."
    )]
    async fn run_status(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let runs = lock(&self.state.runs);
        let r = runs
            .get(&a.run_id)
            .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
        ok(json!({
            "run_id": a.run_id, "ensemble": r.ensemble,
            "status": match &r.result { None => "running", Some(v) => if v["has_errors"] == true { "error" } else { "success" } },
            "executor_status": match &r.result { None => json!("running"), Some(v) => v["executor_status"].clone() },
            "done": r.result.is_some(),
            "agents_finished": r.done, "agents_failed": r.failed, "total_agents": r.total,
            "elapsed_s": r.started.elapsed().as_secs_f64(),
        }))
    }

    #[tool(description = "The result of a finished run (the same document invoke returns).")]
    async fn run_result(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let runs = lock(&self.state.runs);
        let r = runs
            .get(&a.run_id)
            .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
        match &r.result {
            Some(v) => ok(v.clone()),
            None => Err(format!(
                "Run {} is still running ({} of {} agents finished); poll run_status",
                a.run_id, r.done, r.total
            )),
        }
    }

    #[tool(
        description = "Stop a running run: requests in flight are cancelled; finished results are kept and its artifact is marked interrupted."
    )]
    async fn cancel_run(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let runs = lock(&self.state.runs);
        let r = runs
            .get(&a.run_id)
            .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
        if r.result.is_some() {
            return ok(
                json!({"run_id": a.run_id, "cancelled": false, "note": "the run had already finished"}),
            );
        }
        let _ = r.cancel.send(true);
        ok(json!({"run_id": a.run_id, "cancelled": true}))
    }

    #[tool(
        description = "List model profiles (config.yaml and profiles/ of each tier, merged), optionally of one provider."
    )]
    async fn list_profiles(&self, Parameters(a): Parameters<ProviderFilter>) -> ToolResult {
        ok(shapes::to_value(&shapes::ProfilesShape::from(
            self.svc().profile_summaries(a.provider.as_deref()),
        ))?)
    }

    #[tool(description = "Create a model profile file in the project's .llm-orc/profiles/.")]
    async fn create_profile(&self, Parameters(a): Parameters<CreateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let mut extra = Map::new();
        extra.insert("system_prompt".into(), json!(a.system_prompt));
        extra.insert("timeout_seconds".into(), json!(a.timeout_seconds));
        extra.insert("temperature".into(), json!(a.temperature));
        extra.insert("max_tokens".into(), json!(a.max_tokens));
        extra.insert("base_url".into(), json!(a.base_url));
        extra.insert("cost_per_token".into(), json!(a.cost_per_token));
        let path = self
            .svc()
            .create_profile(&a.name, &a.provider, &a.model, extra)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileCreatedShape {
            created: true,
            path,
        })?)
    }

    #[tool(description = "Change keys of a project profile file (null removes a key).")]
    async fn update_profile(&self, Parameters(a): Parameters<UpdateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self
            .svc()
            .update_profile(&a.name, &Value::Object(a.changes))
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileUpdatedShape {
            updated: true,
            path,
        })?)
    }

    #[tool(description = "Delete a project profile file. Requires confirm: true.")]
    async fn delete_profile(&self, Parameters(a): Parameters<NameConfirm>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self.svc().delete_profile(&a.name, a.confirm).map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileDeletedShape {
            deleted: true,
            name: a.name,
            path,
        })?)
    }

    #[tool(description = "List the project's scripts (.llm-orc/scripts/<category>/<name>).")]
    async fn list_scripts(&self, Parameters(a): Parameters<CategoryFilter>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        ok(shapes::to_value(&shapes::ScriptsShape::from(
            self.svc().script_summaries(a.category.as_deref()),
        ))?)
    }

    #[tool(
        description = "Create a script from a template (basic, splitter) in .llm-orc/scripts/<category>/."
    )]
    async fn create_script(&self, Parameters(a): Parameters<CreateScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let created = self
            .svc()
            .create_script(&a.name, &a.category, &a.template)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptCreatedShape::from(
            created,
        ))?)
    }

    #[tool(description = "Show a script's source and description.")]
    async fn get_script(&self, Parameters(a): Parameters<ScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let script = self.svc().get_script(&a.name, &a.category).map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptSourceShape::from(script))?)
    }

    #[tool(
        description = "Run a script with an input as a script agent would, and show what it printed."
    )]
    async fn test_script(&self, Parameters(a): Parameters<TestScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let run = self
            .svc()
            .test_script(&a.name, &a.category, &a.input, a.parameters)
            .await
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptRunShape::from(run))?)
    }

    #[tool(description = "Delete a project script. Requires confirm: true.")]
    async fn delete_script(&self, Parameters(a): Parameters<DeleteScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        self.svc()
            .delete_script(&a.name, &a.category, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptDeletedShape {
            deleted: true,
            name: a.name,
            category: a.category,
        })?)
    }

    #[tool(
        description = "Summarise a run's artifact: agents ok and failed, tokens, cost, duration, slowest agents."
    )]
    async fn analyze_execution(&self, Parameters(a): Parameters<ArtifactArg>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        let analysis = self.svc().analyze(&a.artifact_id).map_err(err)?;
        ok(shapes::to_value(&shapes::AnalysisShape::from(analysis))?)
    }

    #[tool(
        description = "Delete one run's artifact (latest is repointed). Requires confirm: true."
    )]
    async fn delete_artifact(&self, Parameters(a): Parameters<DeleteArtifactArgs>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        self.svc()
            .delete_artifact(&a.artifact_id, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::DeletedShape {
            deleted: true,
            artifact_id: a.artifact_id,
        })?)
    }

    #[tool(
        description = "Delete artifacts older than N days (by their run time), for one ensemble or all. dry_run lists them first."
    )]
    async fn cleanup_artifacts(&self, Parameters(a): Parameters<CleanupArgs>) -> ToolResult {
        names(&[("ensemble_name", a.ensemble_name.as_deref().unwrap_or(""))])?;
        let ids = self
            .svc()
            .cleanup_artifacts(a.ensemble_name.as_deref(), a.older_than_days, a.dry_run)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::CleanupShape::new(
            a.dry_run, ids,
        ))?)
    }

    #[tool(description = "Browse the library's ensembles and scripts, optionally one category.")]
    async fn library_browse(&self, Parameters(a): Parameters<BrowseArgs>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        let listing = self
            .svc()
            .library_browse(&a.browse_type, a.category.as_deref())
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryBrowseShape::from(
            listing,
        ))?)
    }

    #[tool(description = "Search the library by name, description or category.")]
    async fn library_search(&self, Parameters(a): Parameters<SearchArgs>) -> ToolResult {
        let found = self.svc().library_search(&a.query).map_err(err)?;
        ok(shapes::to_value(&shapes::LibrarySearchShape::from(found))?)
    }

    #[tool(description = "Where the library is and what it holds.")]
    async fn library_info(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::LibraryInfoShape::from(
            self.svc().library_info(),
        ))?)
    }

    #[tool(description = "Copy an ensemble or script from the library into the project.")]
    async fn library_copy(&self, Parameters(a): Parameters<CopyArgs>) -> ToolResult {
        names(&[
            ("source", &a.source),
            ("destination", a.destination.as_deref().unwrap_or("")),
        ])?;
        let copied = self
            .svc()
            .library_copy(&a.source, a.destination.as_deref(), a.overwrite)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryCopyShape::from(copied))?)
    }

    #[tool(
        description = "Which Ollama hosts answer and which models they have installed; other providers' status."
    )]
    async fn get_provider_status(&self) -> ToolResult {
        ok(self.svc().mcp_provider_status().await)
    }

    #[tool(
        description = "The profiles, models and providers an ensemble needs, and whether each is available."
    )]
    async fn list_dependencies(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_list_dependencies(&a.ensemble_name)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Is an ensemble ready for the global tier or the library? The bar (3+ good evaluations for global; 5+ and no project-specific signal for the library), with the evidence: the evaluation record, hard-coded paths, project-specific words, non-standard profiles, project-only scripts; plus missing profiles, broken references, unavailable models and every dependency."
    )]
    async fn check_promotion_readiness(
        &self,
        Parameters(a): Parameters<ReadinessArgs>,
    ) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_check_promotion(&a.ensemble_name, &a.destination)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Promote an ensemble with everything it needs (profiles, scripts, nested ensembles) to the global tier or the library. Ask the user first: without confirm: true it only lists the files it would write. Below the readiness bar it needs force: true. A library that is a git repository gets a commit on branch contribute/NAME and a pull-request description; pushing is the user's step."
    )]
    async fn promote_ensemble(&self, Parameters(a): Parameters<PromoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_promote(
                &a.ensemble_name,
                &a.destination,
                a.include_profiles,
                a.dry_run,
                a.overwrite,
                a.confirm,
                a.force,
                a.category.as_deref(),
            )
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Remove an ensemble from the global tier or the library (and, optionally, profiles only it used). Without confirm: true it only lists the files it would remove."
    )]
    async fn demote_ensemble(&self, Parameters(a): Parameters<DemoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        self.svc()
            .mcp_demote(
                &a.ensemble_name,
                &a.tier,
                a.remove_orphaned_profiles,
                a.confirm,
            )
            .map_err(err)
            .and_then(ok)
    }

    #[tool(description = "How orc's tools, files and workflows fit together.")]
    async fn get_help(&self) -> ToolResult {
        ok(help())
    }

    // ---------------------------------------------------------------- the learning loop

    #[tool(
        description = "Classify a task (extraction, classification, summarization, code-generation, code-review, json, reasoning, creative, knowledge, instructions) and recommend local (a named ensemble, with its record), new-ensemble (a shape and tiers) or claude, with the reason and evidence counts."
    )]
    async fn route_task(&self, Parameters(a): Parameters<TaskArg>) -> ToolResult {
        let svc = self.svc();
        let l = Learning::open(&svc);
        learn_out(crate::learn::route::route(&l, &svc, &a.task))
    }

    #[tool(
        description = "Log work Claude did itself (tokens it reports; optionally its answer, and the local run it redid), so savings and PGR count it. Returns the routing record."
    )]
    async fn record_claude_task(&self, Parameters(a): Parameters<ClaudeTaskArgs>) -> ToolResult {
        let l = Learning::open(&self.svc());
        learn_out(l.record_claude_task(&crate::learn::service::ClaudeTask {
            task: a.task,
            task_type: a.task_type,
            input_tokens: a.input_tokens,
            output_tokens: a.output_tokens,
            output: a.output,
            redoes: a.redoes,
        }))
    }

    #[tool(
        description = "Should this run be judged? {evaluate, rule, detail, rubric, judge}: always for an ensemble's first 5 uses and after negative feedback, never for established ensembles (>20 uses, >80% accepted), else a deterministic 10-20% sample. When yes, judge with the rubric returned."
    )]
    async fn should_evaluate(&self, Parameters(a): Parameters<RoutingIdArg>) -> ToolResult {
        learn_out(Learning::open(&self.svc()).should_evaluate(&a.routing_id))
    }

    #[tool(
        description = "Record a judgment of a run's output: score good|acceptable|poor, the judge, reasoning, failure_mode, judge_tokens_used, subject local|claude. Every 20 evaluations routing is re-learned in a batch; if that learn fails the evaluation still stands and learn_error says why (do not record it again)."
    )]
    async fn record_evaluation(&self, Parameters(a): Parameters<EvaluationArgs>) -> ToolResult {
        let l = Learning::open(&self.svc());
        learn_out(l.record_evaluation(
            &crate::learn::service::NewEvaluation {
                routing_id: a.routing_id,
                score: a.score,
                judge: a.judge,
                reasoning: a.reasoning,
                failure_mode: a.failure_mode,
                judge_tokens_used: a.judge_tokens_used,
                subject: a.subject,
            },
            false,
        ))
    }

    #[tool(description = "Record whether the user accepted a run's output (sets user_accepted).")]
    async fn record_feedback(&self, Parameters(a): Parameters<FeedbackArgs>) -> ToolResult {
        learn_out(Learning::open(&self.svc()).record_feedback(&a.routing_id, a.accepted))
    }

    #[tool(
        description = "The learning report per ensemble and task type: runs, local tokens, Claude-equivalent tokens and dollars saved (estimates), quality, acceptance, judge spend, break-even evaluation rate, PGR. format: json (default), text or html."
    )]
    async fn learning_report(&self, Parameters(a): Parameters<ReportArgs>) -> ToolResult {
        let l = Learning::open(&self.svc());
        let r = crate::learn::report::build(&l).map_err(|e| e.to_string())?;
        match a.format.as_deref().unwrap_or("json") {
            "json" => learn_out(Ok::<_, crate::learn::LearnError>(r)),
            "text" => ok(json!({"format": "text", "content": crate::learn::report::text(&r)})),
            "html" => ok(json!({"format": "html", "content": crate::learn::report::html(&r)})),
            other => Err(format!("format `{other}` is not json, text or html")),
        }
    }

    #[tool(
        description = "Learn routing in a batch now: recompute task-profiles.yaml, write routing-config.vN.yaml and make it current, list LoRA candidates."
    )]
    async fn learn_routing(&self) -> ToolResult {
        learn_out(crate::learn::batch::learn(&Learning::open(&self.svc())))
    }

    #[tool(description = "Every routing config version, the current one marked.")]
    async fn routing_history(&self) -> ToolResult {
        let l = Learning::open(&self.svc());
        crate::learn::batch::history(&l.paths)
            .map(|v| json!({"versions": v}))
            .map_err(|e| e.to_string())
            .and_then(ok)
    }

    #[tool(description = "Make an earlier routing config version current again.")]
    async fn rollback_routing(&self, Parameters(a): Parameters<VersionArg>) -> ToolResult {
        let l = Learning::open(&self.svc());
        learn_out(crate::learn::batch::rollback(&l.paths, a.version))
    }

    #[tool(
        description = "Export training data as JSONL into .llm-orc/evaluations/exports/: sft (chat examples of good outputs and Claude's redos), dpo (chosen/rejected pairs), judge (rows for training a local judge). Returns the file and row count."
    )]
    async fn export_training_data(&self, Parameters(a): Parameters<ExportArgs>) -> ToolResult {
        let l = Learning::open(&self.svc());
        let kind = crate::learn::export::Kind::parse(&a.kind).ok_or_else(|| {
            format!(
                "kind `{}` is not sft, dpo or judge",
                a.kind.chars().take(40).collect::<String>()
            )
        })?;
        let mut buf = Vec::new();
        let r = crate::learn::export::export(&l, kind, &mut buf).map_err(|e| e.to_string())?;
        let dir = l.paths.dir.join("exports");
        crate::learn::ensure_dir(&dir).map_err(|e| e.to_string())?;
        let name = match kind {
            crate::learn::export::Kind::Sft => "sft",
            crate::learn::export::Kind::Dpo => "dpo",
            crate::learn::export::Kind::Judge => "judge",
        };
        let file = dir.join(format!(
            "{name}-{}.jsonl",
            chrono::Local::now().format("%Y%m%d-%H%M%S-%3f")
        ));
        crate::store::atomic::write_atomic(&file, &buf).map_err(|e| e.to_string())?;
        ok(
            json!({"kind": kind, "file": file, "rows": r.rows, "missing_artifacts": r.missing_artifacts}),
        )
    }

    #[tool(
        description = "Judge a run with a local model (a profile) and the rubric, and record its verdict (judge: the profile). The report shows its agreement with Claude (Cohen's kappa)."
    )]
    async fn judge_locally(&self, Parameters(a): Parameters<LocalJudgeArgs>) -> ToolResult {
        let svc = self.svc();
        let l = Learning::open(&svc);
        learn_out(l.judge_locally(&svc, &a.routing_id, &a.profile).await)
    }
}

/// A learning result as structured content, or its error as a tool error.
fn learn_out<T: serde::Serialize>(r: Result<T, crate::learn::LearnError>) -> ToolResult {
    let v = r.map_err(|e| e.to_string())?;
    serde_json::to_value(v)
        .map_err(|e| e.to_string())
        .and_then(ok)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OrcMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("orc", env!("CARGO_PKG_VERSION")))
            .with_instructions("orc runs llm-orc ensembles of small local models on Ollama. Start with list_ensembles or get_help.")
    }
}

/// Serves MCP over stdin/stdout until the client goes away. Every frame gets an answer: one
/// that cannot be read is answered with a JSON-RPC parse error (see `stdio`).
pub async fn serve_stdio(cwd: PathBuf, project: Option<PathBuf>, env: Env) -> anyhow::Result<()> {
    let server = OrcMcp::new(cwd, project, env);
    let transport = stdio::FramedStdio::new(tokio::io::stdin(), tokio::io::stdout());
    let running = server.serve(transport).await?;
    running.waiting().await?;
    Ok(())
}

/// Serves MCP over streamable HTTP at `http://ADDR/mcp` until Ctrl-C, behind a bearer token,
/// an `Origin` check and a bound on sessions (see `http`). Binds where asked; the CLI refuses
/// non-loopback addresses unless told otherwise. Prints (stderr) where it listens and how
/// clients authenticate; the token itself only when it was just created.
pub async fn serve_http(
    addr: std::net::SocketAddr,
    cwd: PathBuf,
    project: Option<PathBuf>,
    env: Env,
    opts: http::HttpOptions,
) -> anyhow::Result<()> {
    let (token, created) = http::load_token(&opts.token)?;
    let server = OrcMcp::new(cwd, project, env);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    eprintln!("orc MCP server on {url}");
    let origin = http::token_origin(&opts.token);
    if created {
        eprintln!(
            "orc: created the MCP access token in {origin} (only you can read it); every request must carry it. For Claude Code:\n  {}",
            http::claude_hint(&url, &token)
        );
    } else {
        eprintln!(
            "orc: clients must send `Authorization: Bearer <token>` with the token from {origin}"
        );
    }
    http::serve(listener, server, token, &opts).await?;
    Ok(())
}

/// The `get_help` document: what the tools are for and how they fit together.
pub fn help() -> Value {
    json!({
        "overview": "orc runs llm-orc ensembles (YAML graphs of small local models) on Ollama. Use it to hand extraction, classification and summarisation to a swarm of local models: discover ensembles, create or adapt one, validate it, invoke it, then analyse the artifact.",
        "directory_structure": {
            "local": ".llm-orc/ in the project (ensembles/, profiles/, scripts/, artifacts/); set with set_project",
            "library": "$LLM_ORC_LIBRARY_PATH or ./llm-orchestra-library (ensembles/<category>/, scripts/<category>/)",
            "global": "$XDG_CONFIG_HOME/llm-orc or ~/.config/llm-orc",
            "priority": "local, then library, then global: the first ensemble with the name wins",
        },
        "schemas": {
            "ensemble": {"name": "string", "description": "string", "agents": "list of agents"},
            "agent": {
                "name": "string (unique)",
                "model_profile": "a profile name (or model + provider)",
                "system_prompt": "string",
                "depends_on": "list of agent names; the agent starts when they finish",
                "fan_out": "true: run once per item of the first dependency's JSON array",
                "script": "a script path instead of a model",
                "ensemble": "another ensemble, run as this agent",
                "timeout_seconds": "number",
            },
            "profile": {"name": "string", "provider": "ollama | openai-compatible", "model": "e.g. qwen3:0.6b", "base_url": "optional", "system_prompt": "optional", "temperature": "optional", "max_tokens": "optional"},
        },
        "tools": {
            "set_project": "point the server at a project directory",
            "list_ensembles / validate_ensemble / check_ensemble_runnable": "discover and check",
            "create_ensemble / update_ensemble / delete_ensemble": "edit project ensembles (update applies the changes; dry_run previews)",
            "invoke": "run an ensemble; progress notifications per agent; async: true returns a run_id at once",
            "run_status / run_result": "poll an async run and fetch its result",
            "list_profiles / create_profile / update_profile / delete_profile": "model profiles",
            "list_scripts / get_script / create_script / test_script / delete_script": "script agents",
            "analyze_execution / delete_artifact / cleanup_artifacts": "artifacts (ids are ensemble/timestamp or ensemble/latest)",
            "library_browse / library_search / library_info / library_copy": "the shared library",
            "get_provider_status": "which Ollama hosts answer and what models they have",
            "route_task / record_claude_task": "where a task goes (local ensemble, new ensemble, Claude); log work Claude did itself",
            "should_evaluate / record_evaluation / record_feedback / judge_locally": "judge sampled runs with the rubric (reasoning before verdict); the user's verdict",
            "learning_report / learn_routing / routing_history / rollback_routing / export_training_data": "savings and quality; learn routing in batches; training data",
            "list_dependencies / check_promotion_readiness / promote_ensemble / demote_ensemble": "what an ensemble needs; readiness with evidence; promotion only with confirm: true (force below the bar)",
            "cancel_run": "stop a running run",
        },
        "skill": "The `orc` Claude Code skill (`orc skill install`) teaches the whole loop: route, build in tiers, invoke, judge, record, learn in batches, promote with consent.",
        "workflows": {
            "the_learning_loop": ["route_task", "create_ensemble or library_copy (if route is new-ensemble)", "invoke with task_type (or, if route is claude, do it and record_claude_task with output)", "should_evaluate (judge: claude -> you judge; a profile -> judge_locally)", "judge with the rubric, reasoning first", "record_evaluation (also of Claude's redo, logged with record_claude_task redoes and output)", "record_feedback when the user accepts or rejects", "learn_routing in batches (automatic every 20 evaluations)"],
            "share_an_ensemble": ["check_promotion_readiness", "ask the user", "promote_ensemble with confirm: true (force: true only if the user wants it below the bar)", "for a git library: the user pushes contribute/NAME"],
            "route_a_task": ["list_ensembles", "check_ensemble_runnable", "invoke", "analyze_execution"],
            "build_an_ensemble": ["list_profiles", "create_ensemble", "validate_ensemble", "invoke"],
            "long_runs": ["invoke with async: true", "run_status until done", "run_result"],
            "clean_up": ["cleanup_artifacts (dry_run first)", "delete_artifact with confirm: true"],
        },
    })
}
