//! The service layer: what a user (CLI) or a client (MCP) can ask of a project. Front ends call
//! these functions and render the results; they never read project files themselves.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::compile::{Compilation, CompiledEnsemble, Compiler};
use crate::load::diag::{Diagnostic, closest};
use crate::load::project::{Dirs, EnsembleFile, Env, LOCAL_DIR, Project, Tier};
use crate::run::{self as exec, Engine, Event, RetryPolicy, RunResult};
use crate::store::artifact::{self, ArtifactError, Written};
use crate::store::cache as store_cache;
use crate::store::memo::MemoKind;

pub mod artifacts;
pub mod claude;
pub mod claude_checks;
pub mod claude_error;
pub mod claude_json;
pub mod claude_tools;
pub mod ensembles;
mod files;
pub mod hosts;
pub mod inputs;
pub mod library;
pub mod profiles;
pub mod promotion;
pub mod providers;
pub mod scripts;
pub mod shapes;
pub mod status;

pub use files::safe_join;

/// Errors a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("ensemble `{name}` not found{}; looked in: {}{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), searched_list(searched), unreadable_note(unreadable))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
        suggestion: Option<String>,
        /// The first error of each file that could not be read as an ensemble: the name may be
        /// defined inside one of them.
        unreadable: Vec<Diagnostic>,
    },
    #[error("ensemble `{name}` is invalid ({} error(s))", diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        name: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// Something named that does not exist (an artifact, a profile, a script), with a message
    /// for the client.
    #[error("{0}")]
    Missing(String),
    /// A request refused with a message for the client.
    #[error("{0}")]
    Refused(String),
    /// Reading or writing failed (a full disk, a permission, a file where a folder should be):
    /// not the request's fault, and never worded as a refusal.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What kind of failure a `ServiceError` is: what the fronts map to exit codes and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Refused,
    Io,
}

impl From<crate::store::atomic::ArtifactError> for ServiceError {
    fn from(e: crate::store::atomic::ArtifactError) -> ServiceError {
        use crate::store::atomic::ArtifactError;
        match e {
            ArtifactError::Io { path, source } => ServiceError::Io { path, source },
            other => ServiceError::Refused(other.to_string()),
        }
    }
}

impl From<crate::store::read::ReadError> for ServiceError {
    fn from(e: crate::store::read::ReadError) -> ServiceError {
        use crate::store::read::ReadError;
        match e {
            ReadError::Io { path, source } => ServiceError::Io { path, source },
            other => ServiceError::Refused(other.to_string()),
        }
    }
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::NotFound { .. } | ServiceError::Missing(_) => ErrorKind::NotFound,
            ServiceError::Invalid { .. } => ErrorKind::Invalid,
            ServiceError::Refused(_) => ErrorKind::Refused,
            ServiceError::Io { .. } => ErrorKind::Io,
        }
    }

    /// For a "not found": what it adds when some files could not be read (empty otherwise), for
    /// fronts that word "not found" their own way (MCP keeps llm-orc's text).
    pub fn unreadable_note(&self) -> String {
        match self {
            ServiceError::NotFound { unreadable, .. } => unreadable_note(unreadable),
            _ => String::new(),
        }
    }
}

/// The warning for a file that shares its name with another file of its tier: which files, and
/// which one orc uses.
fn same_name_warning(
    cat: &crate::load::project::Catalogue,
    file: &EnsembleFile,
) -> Option<Diagnostic> {
    let others = cat.same_name_in_tier(file);
    if others.is_empty() || !file.is_valid_yaml() {
        return None;
    }
    let paths: Vec<String> = others
        .iter()
        .map(|o| o.path.display().to_string())
        .collect();
    let name = file.qualified_name();
    let used = if cat.is_active(file) {
        "orc uses this file".to_string()
    } else {
        match others.iter().find(|o| cat.is_active(o)) {
            Some(w) => format!("orc uses {}, never this one", w.path.display()),
            None => "orc uses another file".to_string(),
        }
    };
    let pos = file
        .spec
        .as_ref()
        .map(|s| s.name.pos)
        .unwrap_or(crate::load::yaml::Pos::UNKNOWN);
    let mut sink = crate::load::diag::Sink::new(&file.path);
    crate::load::diag::WithHint::hint(
        sink.warning(
            pos,
            format!(
                "ensemble name `{name}` is also used by {} in the same ({}) tier; {used} ({})",
                paths.join(", "),
                file.tier.label(),
                crate::load::project::SAME_NAME_RULE
            ),
        ),
        "give each file its own `name:` (llm-orc picks whichever file it lists first)",
    );
    sink.items.pop()
}

/// What a "not found" adds when some files could not be read: each file's first error.
fn unreadable_note(unreadable: &[Diagnostic]) -> String {
    if unreadable.is_empty() {
        return String::new();
    }
    let files: Vec<String> = unreadable.iter().map(located_error).collect();
    format!(
        "; {} file(s) could not be read and the ensemble may be defined in one of them: {}",
        unreadable.len(),
        files.join("; ")
    )
}

/// `file:line:col: message`, one line, no hint.
fn located_error(d: &Diagnostic) -> String {
    let mut s = d.file.display().to_string();
    if d.line > 0 {
        s.push_str(&format!(":{}:{}", d.line, d.column));
    }
    s.push_str(": ");
    s.push_str(&d.message);
    s
}

fn searched_list(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no ensemble directories exist (run `orc config init` to create .llm-orc/)".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A project opened for requests.
pub struct Service {
    pub project: Project,
    /// The environment the project was opened with (OLLAMA_HOST and the tier variables).
    pub env: Env,
}

/// One line of `list-ensembles`.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleListing {
    pub name: String,
    pub tier: Tier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub path: PathBuf,
    /// False when the file has errors (run validate to see them).
    pub valid: bool,
    /// True when a file of an earlier tier has the same name.
    pub shadowed: bool,
    /// Other files of the same tier with the same name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub same_name_in_tier: Vec<PathBuf>,
    /// When another file of the same tier has this name and is the one used: that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_instead: Option<PathBuf>,
}

/// The outcome of validating one ensemble file.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub name: String,
    pub tier: Tier,
    pub path: PathBuf,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<usize>,
    pub diagnostics: Vec<Diagnostic>,
}

/// How to run an ensemble.
pub struct InvokeOptions {
    /// Overrides `performance.concurrency.max_concurrent_agents` (0 = unlimited).
    pub max_concurrent: Option<u64>,
    /// `OLLAMA_HOST`, when set.
    pub ollama_host: Option<String>,
    pub events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    /// Set to true to stop the run (its artifact is still written, marked interrupted).
    pub cancel: tokio::sync::watch::Receiver<bool>,
    pub write_artifact: bool,
    pub retry: RetryPolicy,
    /// An earlier run's artifact (execution.json) to reuse unchanged results from.
    pub resume: Option<(String, crate::store::read::Artifact)>,
    /// Asks the user for the interactive primitives (None: no one can answer).
    pub ask: Option<exec::Asker>,
    /// Let read_file/write_file reach outside the project directory.
    pub allow_outside_project: bool,
    /// Answer interactive primitives as the ensemble's `test_mode.llm_simulation` says (a
    /// validation run), through the run's engine; falls back to `ask`.
    pub simulate_users: bool,
    /// Overrides `performance.budget.tokens_per_run` (`--token-budget`).
    pub token_budget: Option<u64>,
    /// Overrides `performance.result_cache`: `Some(true)` caches deterministic answers (or as
    /// configured when that says more), `Some(false)` turns the cache off.
    pub cache: Option<bool>,
}

impl InvokeOptions {
    pub fn new(cancel: tokio::sync::watch::Receiver<bool>) -> Self {
        InvokeOptions {
            max_concurrent: None,
            ollama_host: None,
            events: None,
            cancel,
            write_artifact: true,
            retry: RetryPolicy::default(),
            resume: None,
            ask: None,
            allow_outside_project: false,
            simulate_users: false,
            token_budget: None,
            cache: None,
        }
    }
}

/// A finished run.
pub struct Invocation {
    pub ensemble: Arc<CompiledEnsemble>,
    pub result: RunResult,
    /// The run as llm-orc's JSON document (what execution.json holds).
    pub doc: serde_json::Value,
    /// Warnings from compiling the ensemble.
    pub warnings: Vec<Diagnostic>,
    pub artifact: Option<Result<Written, ArtifactError>>,
}

/// What `config init` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    pub created: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

/// What `config check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub dirs: Vec<DirStatus>,
    pub config_files: Vec<PathBuf>,
    pub profiles: usize,
    pub ensembles: Vec<(Tier, usize)>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirStatus {
    pub tier: Tier,
    pub path: PathBuf,
    pub exists: bool,
}

impl Service {
    /// Opens the project seen from `cwd` (or the explicit project directory).
    pub fn open(cwd: &Path, project: Option<&Path>, env: &Env) -> Service {
        Service {
            project: Project::load(Dirs::discover(cwd, project, env)),
            env: env.clone(),
        }
    }

    /// Every ensemble file, tier by tier, sorted by relative path and name.
    pub fn list_ensembles(&self) -> Vec<EnsembleListing> {
        let cat = self.project.catalogue();
        // Valid means what `validate` says: the file compiles (profiles, scripts, nested
        // ensembles and dependencies included), not only that its YAML reads.
        let mut compiler = Compiler::new(&self.project);
        let mut out: Vec<EnsembleListing> = cat
            .files
            .iter()
            .map(|f| {
                let same = cat.same_name_in_tier(f);
                let used_instead = (!same.is_empty() && !cat.is_active(f))
                    .then(|| {
                        same.iter()
                            .find(|o| cat.is_active(o))
                            .map(|o| o.path.clone())
                    })
                    .flatten();
                EnsembleListing {
                    name: f.qualified_name(),
                    tier: f.tier,
                    description: f.description.clone(),
                    path: f.path.clone(),
                    valid: f.is_valid_yaml()
                        && !f.diagnostics.iter().any(Diagnostic::is_error)
                        && !compiler.compile(f).has_errors(),
                    shadowed: f.is_valid_yaml() && cat.shadowed_by_earlier_tier(f),
                    same_name_in_tier: same.iter().map(|o| o.path.clone()).collect(),
                    used_instead,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
        out
    }

    /// Finds an ensemble file by name.
    pub fn find(&self, name: &str) -> Result<EnsembleFile, ServiceError> {
        self.project.find_ensemble(name).ok_or_else(|| {
            let cat = self.project.catalogue();
            let names: Vec<String> = cat.files.iter().map(EnsembleFile::qualified_name).collect();
            ServiceError::NotFound {
                name: name.to_string(),
                searched: cat.searched.clone(),
                suggestion: closest(name, names.iter().map(String::as_str)).map(str::to_string),
                unreadable: cat
                    .files
                    .iter()
                    .filter(|f| !f.is_valid_yaml())
                    .filter_map(|f| f.diagnostics.iter().find(|d| d.is_error()).cloned())
                    .collect(),
            }
        })
    }

    /// Compiles one ensemble by name; an invalid file is an error with its diagnostics.
    pub fn compile(
        &self,
        name: &str,
    ) -> Result<(Arc<CompiledEnsemble>, Vec<Diagnostic>), ServiceError> {
        self.compile_found(name).map(|(_, e, d)| (e, d))
    }

    /// Like `compile`, also returning the file it came from.
    fn compile_found(
        &self,
        name: &str,
    ) -> Result<(EnsembleFile, Arc<CompiledEnsemble>, Vec<Diagnostic>), ServiceError> {
        let file = self.find(name)?;
        let Compilation {
            ensemble,
            diagnostics,
        } = Compiler::new(&self.project).compile(&file);
        match ensemble {
            Some(e) => Ok((file, e, diagnostics)),
            None => Err(ServiceError::Invalid {
                name: file.qualified_name(),
                diagnostics,
            }),
        }
    }

    /// Validates the named ensembles, or, when `names` is empty, every file of the user's
    /// tiers (local, library, global: the packaged ensembles are orc's own, checked when named).
    pub fn validate(&self, names: &[String]) -> Result<Vec<ValidationReport>, ServiceError> {
        let files: Vec<EnsembleFile> = if names.is_empty() {
            let cat = self.project.catalogue();
            cat.files
                .iter()
                .filter(|f| f.tier != Tier::Packaged)
                .cloned()
                .collect()
        } else {
            names
                .iter()
                .map(|n| self.find(n))
                .collect::<Result<_, _>>()?
        };
        let mut compiler = Compiler::new(&self.project);
        let cat = self.project.catalogue();
        Ok(files
            .into_iter()
            .map(|f| {
                let mut c = compiler.compile(&f);
                c.diagnostics.extend(same_name_warning(cat, &f));
                let valid = !c.has_errors();
                ValidationReport {
                    name: f.qualified_name(),
                    tier: f.tier,
                    path: f.path.clone(),
                    valid,
                    pattern: c.ensemble.as_ref().map(|e| e.pattern.name()),
                    agents: c.ensemble.as_ref().map(|e| e.agents.len()),
                    diagnostics: c.diagnostics,
                }
            })
            .collect())
    }

    /// Where artifacts go: the project's `.llm-orc/artifacts`, else `./.llm-orc/artifacts`.
    pub fn artifacts_root(&self) -> PathBuf {
        let dirs = &self.project.dirs;
        dirs.local
            .clone()
            .unwrap_or_else(|| dirs.cwd.join(LOCAL_DIR))
            .join("artifacts")
    }

    /// Compiles and runs an ensemble, then writes its artifact.
    pub async fn invoke(
        &self,
        name: &str,
        input: String,
        opts: InvokeOptions,
    ) -> Result<Invocation, ServiceError> {
        let found = self.compile_found(name)?;
        Ok(self.run_found(found, input, opts).await)
    }

    /// Runs a compiled ensemble found by name and gathers what the front ends show.
    async fn run_found(
        &self,
        (file, ensemble, warnings): (EnsembleFile, Arc<CompiledEnsemble>, Vec<Diagnostic>),
        input: String,
        opts: InvokeOptions,
    ) -> Invocation {
        let (result, doc, artifact) = self
            .run_compiled(ensemble.clone(), &file.rel_dir, input, opts)
            .await;
        Invocation {
            ensemble,
            result,
            doc,
            warnings,
            artifact,
        }
    }

    /// The ensembles that carry a `validation:` block, optionally only those of one category
    /// (the block's `category:`, or a folder of the ensemble's path), by qualified name.
    pub fn validation_ensembles(&self, category: Option<&str>) -> Vec<EnsembleFile> {
        self.project
            .catalogue()
            .files
            .iter()
            .filter(|f| {
                let Some(spec) = &f.spec else { return false };
                let Some(block) = &spec.validation else {
                    return false;
                };
                match category {
                    None => true,
                    Some(c) => {
                        block.get("category").and_then(|v| v.as_str()) == Some(c)
                            || f.rel_dir.split('/').any(|part| part == c)
                    }
                }
            })
            .cloned()
            .collect()
    }

    /// `validate run`: runs an ensemble that has a `validation:` block on llm-orc's test input
    /// and returns the run with its `validation_result`. With `test_mode.enabled`, interactive
    /// primitives are answered by the block's simulated users instead of the terminal.
    pub async fn validation_run(
        &self,
        name: &str,
        mut opts: InvokeOptions,
    ) -> Result<Invocation, ServiceError> {
        let (file, ensemble, warnings) = self.compile_found(name)?;
        if ensemble.spec.validation.is_none() {
            return Err(ServiceError::Refused(format!(
                "Ensemble '{name}' does not have validation configuration."
            )));
        }
        opts.simulate_users = true;
        Ok(self
            .run_found(
                (file, ensemble, warnings),
                VALIDATION_INPUT.to_string(),
                opts,
            )
            .await)
    }

    /// `test_mode: {enabled: true, llm_simulation: [{agent, model, persona, cached_responses}]}`:
    /// an asker that answers an agent's question from its cached responses (keyed by the
    /// question), else by asking its simulation model in the persona's voice.
    fn simulated_users(
        &self,
        ensemble: &CompiledEnsemble,
        engine: std::sync::Weak<Engine>,
    ) -> Option<exec::Asker> {
        let tm = ensemble.spec.test_mode.as_ref()?;
        if !tm
            .get("enabled")
            .is_some_and(crate::compile::predicate::truthy)
        {
            return None;
        }
        let sims: Vec<serde_json::Value> = tm
            .get("llm_simulation")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let profiles = self.project.profiles.clone();
        let handle = tokio::runtime::Handle::try_current().ok()?;
        Some(Arc::new(move |agent: &str, question: &str| {
            let sim = sims.iter().find(|s| s["agent"] == agent)?;
            if let Some(a) = sim["cached_responses"]
                .get(question)
                .and_then(|v| v.as_str())
            {
                return Some(a.to_string());
            }
            let target = model_target(&profiles, sim["model"].as_str().unwrap_or("qwen3:0.6b"));
            let persona = sim["persona"].as_str().unwrap_or("helpful_user");
            let system = format!(
                "You play a user ({persona}) answering a program's question. Reply with the answer only, in a sentence at most."
            );
            let engine = engine.upgrade()?;
            handle
                .block_on(ask_model(
                    &engine,
                    "simulated_user",
                    Some(agent),
                    &target,
                    &system,
                    question,
                ))
                .ok()
        }))
    }

    /// Evaluates an ensemble's `validation:` block against its finished run (llm-orc's
    /// `validation_result`). The semantic layer asks its validator model through Ollama.
    async fn check_run(
        &self,
        block: &serde_json::Value,
        result: &RunResult,
        engine: &Arc<Engine>,
    ) -> serde_json::Value {
        let cfg = match crate::run::validation::parse(block) {
            Ok(c) => c,
            Err(e) => {
                return serde_json::json!({
                    "ensemble_name": result.ensemble,
                    "passed": false,
                    "error": format!("the validation block is invalid: {e}"),
                });
            }
        };
        let doc = result.to_json(true);
        let empty = serde_json::Map::new();
        let view = crate::run::validation::RunView {
            ensemble: &result.ensemble,
            execution_order: &result.execution_order,
            results: doc["results"].as_object().unwrap_or(&empty),
            execution_time: (result.completed_at - result.started_at).max(0.0),
        };
        let profiles = self.project.profiles.clone();
        let engine = engine.clone();
        let judge = move |model: &str, prompt: &str| {
            let target = model_target(&profiles, model);
            let (engine, prompt) = (engine.clone(), prompt.to_string());
            let fut: futures::future::BoxFuture<'static, Result<String, String>> =
                Box::pin(async move {
                    let purpose = "semantic_validation";
                    ask_model(&engine, purpose, None, &target, JUDGE_SYSTEM, &prompt).await
                });
            fut
        };
        crate::run::validation::evaluate(&cfg, &view, Some(&judge)).await
    }

    /// Compiles dispatch targets picked at run time, remembering each.
    fn resolver(&self) -> exec::Resolver {
        let project = self.project.clone();
        let seen: std::sync::Mutex<
            std::collections::HashMap<(std::path::PathBuf, String), Arc<CompiledEnsemble>>,
        > = std::sync::Mutex::new(std::collections::HashMap::new());
        Arc::new(move |from: &CompiledEnsemble, name: &str| {
            let key = (from.file.clone(), name.to_string());
            if let Some(c) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
                return Ok(c.clone());
            }
            let c = crate::compile::compile_dispatch_target(&project, from, name)?;
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, c.clone());
            Ok(c)
        })
    }

    /// Where the file primitives may read and write: the project directory (the folder holding
    /// `.llm-orc/`, else the working directory).
    pub fn file_scope(&self, unconfined: bool) -> exec::primitives::FileScope {
        let dirs = &self.project.dirs;
        let root = dirs
            .local
            .as_ref()
            .and_then(|l| l.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.cwd.clone());
        exec::primitives::FileScope {
            root,
            cwd: dirs.cwd.clone(),
            unconfined,
        }
    }

    /// The result cache a run uses: `performance.result_cache`, unless the caller said
    /// (`--cache` keeps deterministic answers, `--no-cache` none); only in a project.
    fn result_cache_use(&self, asked: Option<bool>) -> Option<exec::ResultCacheUse> {
        use crate::load::project::CacheMode;
        let rc = &self.project.config.performance.result_cache;
        let mode = match (asked, rc.mode) {
            (Some(false), _) => CacheMode::Off,
            (Some(true), CacheMode::Off) => CacheMode::Deterministic,
            (_, m) => m,
        };
        let local = self.project.dirs.local.as_ref()?;
        (mode != CacheMode::Off).then(|| exec::ResultCacheUse {
            store: Arc::new(store_cache::KindView::new(
                store_cache::results(local, rc),
                MemoKind::Llm,
            )),
            always: mode == CacheMode::Always,
        })
    }

    /// The project's cache store (`.llm-orc/cache`), for `orc cache stats|clear`; None outside
    /// a project.
    pub fn cache_store(&self) -> Option<Arc<crate::store::memo::Memo>> {
        let local = self.project.dirs.local.as_ref()?;
        Some(store_cache::results(
            local,
            &self.project.config.performance.result_cache,
        ))
    }

    /// Runs an already compiled ensemble with this project's settings.
    pub async fn run_compiled(
        &self,
        ensemble: Arc<CompiledEnsemble>,
        rel_dir: &str,
        input: String,
        opts: InvokeOptions,
    ) -> (
        RunResult,
        serde_json::Value,
        Option<Result<Written, ArtifactError>>,
    ) {
        let perf = &self.project.config.performance;
        let max = opts.max_concurrent.unwrap_or(perf.max_concurrent_agents);
        // Token streaming only pays off when someone watches the progress.
        // (and so does the idle deadline of a pool, which needs the answer's messages as they come).
        let stream = perf.streaming_enabled.unwrap_or(
            opts.events.is_some() || (perf.idle_timeout.is_some() && !self.pool_hosts().is_empty()),
        );
        let simulated = opts.simulate_users;
        let http = crate::backend::http_client();
        let pool = self.host_pool(&http);
        if let Some(pool) = &pool {
            pool.refresh().await;
        }
        let refresher = pool.as_ref().map(|p| p.spawn_refresher());
        let mut host_limits: std::collections::BTreeMap<String, usize> = perf
            .hosts
            .iter()
            .map(|(k, v)| (k.clone(), usize::try_from(*v).unwrap_or(usize::MAX)))
            .collect();
        for h in self.pool_hosts() {
            if let Some(n) = h.per_model_limit {
                host_limits.insert(h.url.clone(), usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        let engine = Arc::new_cyclic(|me| Engine {
            http,
            ollama_host: crate::backend::hosts::ollama_host(None, opts.ollama_host.as_deref()),
            llama_server_url: crate::backend::hosts::llama_server_url(
                None,
                self.env.llama_server_url.as_deref(),
            ),
            pool: pool.clone(),
            limits: exec::Limits::new(
                usize::try_from(perf.per_model_limit).unwrap_or(usize::MAX),
                host_limits,
            ),
            max_concurrent: (max > 0).then(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    usize::try_from(max).unwrap_or(usize::MAX),
                ))
            }),
            retry: opts.retry,
            max_depth: perf.max_ensemble_depth,
            max_fan_out: perf.max_fan_out,
            events: opts.events,
            origin: std::time::Instant::now(),
            cancel: opts.cancel,
            stream,
            max_response_bytes: perf.max_response_bytes,
            idle_timeout: perf
                .idle_timeout
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()),
            reuse: opts
                .resume
                .as_ref()
                .map(|(_, a)| a.reusable())
                .unwrap_or_default(),
            resolver: Some(self.resolver()),
            ask: simulated
                .then(|| self.simulated_users(&ensemble, me.clone()))
                .flatten()
                .or_else(|| opts.ask.clone()),
            files: self.file_scope(opts.allow_outside_project),
            script_cache: perf
                .script_cache_enabled
                .then_some(self.project.dirs.local.as_ref())
                .flatten()
                .map(|l| {
                    Arc::new(store_cache::KindView::new(
                        store_cache::scripts(l, &perf.result_cache),
                        MemoKind::Scripts,
                    )) as Arc<dyn exec::ScriptMemo>
                }),
            result_cache: self.result_cache_use(opts.cache),
            budget: exec::Budget::new(
                opts.token_budget.or(perf.budget_tokens),
                perf.budget_cost_usd,
            ),
            user_inputs: std::sync::atomic::AtomicU64::new(0),
            auxiliary: std::sync::Mutex::new(Vec::new()),
        });
        let process_at_start = artifact::ProcessSample::now();
        let mut result = exec::run(engine.clone(), ensemble.clone(), input).await;
        if let Some(r) = refresher {
            r.abort();
        }
        result.user_inputs = engine
            .user_inputs
            .load(std::sync::atomic::Ordering::Relaxed);
        if let Some(block) = &ensemble.spec.validation
            && !result.interrupted
        {
            result.validation = Some(self.check_run(block, &result, &engine).await);
        }
        result.auxiliary_calls = std::mem::take(
            &mut *engine
                .auxiliary
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        result.resumed_from = opts.resume.map(|(id, _)| id);
        result.budget = engine.budget.as_ref().map(exec::Budget::report);
        let mut doc = result.to_json(false);
        artifact::add_resource_metrics(&mut doc, &result, &ensemble, process_at_start);
        if let (Some(pool), Some(orc)) = (&pool, doc.pointer_mut("/metadata/orc"))
            && let Some(orc) = orc.as_object_mut()
        {
            // The pool as the run left it: who served, whose breaker opened.
            orc.insert(
                "hosts".into(),
                serde_json::to_value(pool.status()).unwrap_or_default(),
            );
        }
        let artifact = opts
            .write_artifact
            .then(|| artifact::write(&self.artifacts_root(), rel_dir, &result, &doc));
        (result, doc, artifact)
    }

    /// Reports the trees, config files, profiles and problems in config and profile files.
    pub fn check_config(&self) -> CheckReport {
        let dirs = &self.project.dirs;
        let mut status = Vec::new();
        match &dirs.local {
            Some(l) => status.push(DirStatus {
                tier: Tier::Local,
                path: l.clone(),
                exists: true,
            }),
            None => status.push(DirStatus {
                tier: Tier::Local,
                path: dirs.cwd.join(LOCAL_DIR),
                exists: false,
            }),
        }
        for tier in [Tier::Library, Tier::Global, Tier::Packaged] {
            if let Some(p) = dirs.tier_root(tier) {
                status.push(DirStatus {
                    tier,
                    path: p.to_path_buf(),
                    exists: p.is_dir(),
                });
            }
        }
        let mut per_tier: Vec<(Tier, usize)> = Vec::new();
        for f in &self.project.catalogue().files {
            match per_tier.iter_mut().find(|(t, _)| *t == f.tier) {
                Some((_, n)) => *n += 1,
                None => per_tier.push((f.tier, 1)),
            }
        }
        CheckReport {
            dirs: status,
            config_files: self.project.config_files.clone(),
            profiles: self.project.profiles.by_name.len(),
            ensembles: per_tier,
            diagnostics: self.project.diagnostics.clone(),
        }
    }
}

/// The input `validate run` gives an ensemble, as llm-orc does.
pub const VALIDATION_INPUT: &str = "validation test input";

/// The system prompt of the semantic layer's judge.
const JUDGE_SYSTEM: &str = "You review the outputs of other models strictly. Start your answer with PASS or FAIL, then say why in a sentence or two.";

/// A model named in a `validation:` or `test_mode:` block: a profile's model and host when a
/// profile has that name, else that model on the run's Ollama host. Only the model and host are
/// taken from the profile; the question is sent without its options.
fn model_target(
    profiles: &crate::load::project::Profiles,
    name: &str,
) -> crate::compile::ModelTarget {
    let (profile, model, base_url) = match profiles.get(name) {
        Some(p) => (
            Some(name.to_string()),
            p.spec.model.clone().unwrap_or_else(|| name.to_string()),
            p.spec.base_url.clone(),
        ),
        None => (None, name.to_string(), None),
    };
    crate::compile::ModelTarget {
        profile,
        model,
        provider: crate::compile::ProviderKind::Ollama,
        base_url,
        temperature: None,
        max_tokens: None,
        options: serde_json::Map::new(),
        cost_per_token: None,
    }
}

/// One question to a model outside the ensemble's agents (`purpose`: `semantic_validation`,
/// `simulated_user`), through the run's engine: its slots, retries and provider code; the usage
/// lands in the artifact's `metadata.orc.auxiliary_calls`. The reply's text, or why there is none.
pub async fn ask_model(
    engine: &Engine,
    purpose: &'static str,
    agent: Option<&str>,
    target: &crate::compile::ModelTarget,
    system: &str,
    prompt: &str,
) -> Result<String, String> {
    engine
        .ask_model(exec::Question {
            purpose,
            agent,
            target,
            system,
            user: prompt,
            // As before: the question is not cut short (a week is the longest timeout orc knows).
            timeout: std::time::Duration::from_secs_f64(crate::load::spec::MAX_TIMEOUT_SECONDS),
        })
        .await
}

/// The files `config init` writes, relative to `.llm-orc/`: the packaged tier's files.
pub const SHIPPED: &[(&str, &str)] = crate::load::packaged::FILES;

fn config_template(project_name: &str) -> String {
    const TEMPLATE: &str = r#"# orc / llm-orc project configuration
project:
  name: __NAME__

# Profiles can live here (model_profiles:) or one per file in profiles/.
model_profiles: {}

performance:
  concurrency:
    max_concurrent_agents: 0   # 0 = unlimited
    per_model_limit: 4         # orc: requests in flight per (host, model)
  execution:
    default_timeout: 60
"#;
    let name = serde_json::to_string(project_name).unwrap_or_else(|_| "\"project\"".into());
    TEMPLATE.replace("__NAME__", &name)
}

/// Creates `.llm-orc/` under `root` with config.yaml, ensembles/, profiles/, scripts/ and the
/// shipped examples. Existing files are never overwritten.
pub fn init_project(root: &Path, project_name: Option<&str>) -> Result<InitReport, ServiceError> {
    let base = root.join(LOCAL_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServiceError::Io { path, source }
    };
    let mut report = InitReport {
        root: base.clone(),
        ..InitReport::default()
    };
    for sub in ["ensembles", "profiles", "scripts"] {
        let d = base.join(sub);
        fs::create_dir_all(&d).map_err(io(&d))?;
    }
    let name = project_name.map(str::to_string).unwrap_or_else(|| {
        root.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into())
    });
    let mut files: Vec<(String, String)> = vec![("config.yaml".into(), config_template(&name))];
    files.extend(SHIPPED.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    for (rel, content) in files {
        let path = base.join(&rel);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(content.as_bytes()).map_err(io(&path))?;
                #[cfg(unix)]
                if rel.ends_with(".py") {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
                }
                report.created.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => report.kept.push(path),
            Err(e) => return Err(ServiceError::Io { path, source: e }),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every front gets the files that could not be read with a "not found": the error's text
    /// (what MCP's invoke answers) and MCP's validate.
    #[test]
    fn not_found_names_the_files_that_could_not_be_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ens = dir.path().join(".llm-orc/ensembles");
        fs::create_dir_all(&ens).expect("mkdir");
        fs::write(ens.join("broken.yaml"), "name: wanted\nagents: [\n").expect("write");
        fs::write(ens.join("bad.yaml"), [0xff, 0xfe]).expect("write");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let Err(e) = svc.find("wanted") else {
            panic!("found a broken file")
        };
        let text = e.to_string();
        assert!(
            text.starts_with("ensemble `wanted` not found; looked in: "),
            "{text}"
        );
        assert!(
            text.contains(
                "; 2 file(s) could not be read and the ensemble may be defined in one of them: "
            ),
            "{text}"
        );
        let broken = ens.join("broken.yaml").display().to_string();
        assert!(
            text.contains(&format!("{broken}:2:9: YAML syntax:")),
            "{text}"
        );
        assert!(text.contains("bad.yaml: not UTF-8 text"), "{text}");
        // MCP answers with the same words as the CLI, the unreadable files included.
        let Err(e) = svc.validate_ensemble("wanted") else {
            panic!("validate found it")
        };
        let m = e.to_string();
        assert!(
            m.starts_with("ensemble `wanted` not found; looked in: "),
            "{m}"
        );
        assert!(m.contains("2 file(s) could not be read"), "{m}");
        assert!(m.contains(&broken), "{m}");
    }

    /// MCP create_ensemble and update_ensemble refuse the names validate refuses, and write
    /// nothing.
    #[test]
    fn mcp_create_and_update_refuse_misleading_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(".llm-orc/ensembles")).expect("mkdir");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let agents =
            serde_json::json!([{"name": "ok\u{202e}txt", "model": "m", "provider": "ollama"}]);
        let Err(ServiceError::Refused(m)) = svc.create_ensemble("fine", "d", Some(agents), None)
        else {
            panic!("created")
        };
        assert_eq!(
            m,
            "the agent name `ok\\u{202e}txt` contains a bidirectional mark (U+202E), which makes text display in another order than it is"
        );
        assert!(!dir.path().join(".llm-orc/ensembles/fine.yaml").exists());
        let Err(ServiceError::Refused(m)) = svc.create_ensemble("line\nbreak", "d", None, None)
        else {
            panic!("created")
        };
        assert!(m.contains("contains a line break (U+000A)"), "{m}");

        let agents = serde_json::json!([{"name": "a", "model": "m", "provider": "ollama"}]);
        svc.create_ensemble("good", "d", Some(agents), None)
            .expect("created");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let bad = serde_json::json!({"name": "good\u{7}"});
        let Err(ServiceError::Refused(m)) = svc.update_ensemble("good", &bad, false, false) else {
            panic!("updated")
        };
        assert!(m.contains("contains a control character (U+0007)"), "{m}");
    }
}
