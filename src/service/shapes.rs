//! llm-orc's JSON shapes of the typed service results: serde structs whose field names (and
//! order) are the keys MCP clients read. The MCP tools (and the CLI's `--format json` where it
//! matches llm-orc) map a service result into one of these and serialise it; nothing here
//! decides anything. It lives in service/ so the two front ends share it without using each
//! other.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::backend::pool::HostStatus;
use crate::load::project::Tier;
use crate::run::results::TimelineRow;
use crate::service::artifacts::Analysis;
use crate::service::ensembles::{EnsembleCheck, EnsembleCreated, EnsembleSummary, EnsembleUpdate};
use crate::service::library::{
    LibraryCopy, LibraryEnsemble, LibraryHit, LibraryInfo, LibraryListing, LibraryScript,
    LibrarySearch, Matched,
};
use crate::service::profiles::ProfileSummary;
use crate::service::providers::{ModelStatus, ProviderStatus, RunnableCheck};
use crate::service::scripts::{ScriptCreated, ScriptRun, ScriptSource, ScriptSummary};

/// `analyze_execution`. `status` is success / error (the words of invoke and run_status),
/// `executor_status` the artifact's own status word.
#[derive(Serialize)]
pub struct AnalysisShape {
    artifact_id: String,
    ensemble: Option<String>,
    status: &'static str,
    executor_status: Option<String>,
    analysis: AgentCounts,
    metrics: Metrics,
    slowest_agents: Vec<TimelineRow>,
    deliverable: Option<Value>,
}

#[derive(Serialize)]
struct AgentCounts {
    total_agents: usize,
    successful_agents: usize,
    failed_agents: usize,
    failures: Vec<FailureShape>,
}

#[derive(Serialize)]
struct FailureShape {
    agent: String,
    error: Option<Value>,
}

#[derive(Serialize)]
struct Metrics {
    agent_success_rate: f64,
    cost: f64,
    duration: f64,
    total_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    agents_with_missing_counts: Option<u64>,
}

impl From<Analysis> for AnalysisShape {
    fn from(a: Analysis) -> AnalysisShape {
        let rate = if a.total_agents == 0 {
            0.0
        } else {
            a.successful_agents as f64 / a.total_agents as f64
        };
        AnalysisShape {
            artifact_id: a.artifact_id,
            ensemble: a.ensemble,
            status: if a.failed { "error" } else { "success" },
            executor_status: a.executor_status,
            analysis: AgentCounts {
                total_agents: a.total_agents,
                successful_agents: a.successful_agents,
                failed_agents: a.failures.len(),
                failures: a
                    .failures
                    .into_iter()
                    .map(|f| FailureShape {
                        agent: f.agent,
                        error: f.error,
                    })
                    .collect(),
            },
            metrics: Metrics {
                agent_success_rate: rate,
                cost: a.totals.total_cost_usd.unwrap_or(0.0),
                duration: a.duration_s,
                total_tokens: a.totals.total_tokens,
                input_tokens: a.totals.total_input_tokens,
                output_tokens: a.totals.total_output_tokens,
                agents_with_missing_counts: a.totals.agents_with_missing_counts,
            },
            slowest_agents: a.slowest,
            deliverable: a.deliverable,
        }
    }
}

/// `delete_artifact`.
#[derive(Serialize)]
pub struct DeletedShape {
    pub deleted: bool,
    pub artifact_id: String,
}

/// `cleanup_artifacts`: what would go (`dry_run`) or what went.
#[derive(Serialize)]
#[serde(untagged)]
pub enum CleanupShape {
    DryRun {
        dry_run: bool,
        would_delete: Vec<String>,
        count: usize,
    },
    Done {
        dry_run: bool,
        deleted: Vec<String>,
        count: usize,
    },
}

impl CleanupShape {
    pub fn new(dry_run: bool, ids: Vec<String>) -> CleanupShape {
        let count = ids.len();
        if dry_run {
            CleanupShape::DryRun {
                dry_run,
                would_delete: ids,
                count,
            }
        } else {
            CleanupShape::Done {
                dry_run,
                deleted: ids,
                count,
            }
        }
    }
}

// ---------------------------------------------------------------------- ensembles

/// `list_ensembles`.
#[derive(Serialize)]
pub struct EnsemblesShape {
    result: Vec<EnsembleRowShape>,
}

#[derive(Serialize)]
struct EnsembleRowShape {
    name: String,
    source: Tier,
    relative_path: String,
    agent_count: usize,
    description: String,
    valid: bool,
}

impl From<Vec<EnsembleSummary>> for EnsemblesShape {
    fn from(rows: Vec<EnsembleSummary>) -> EnsemblesShape {
        EnsemblesShape {
            result: rows
                .into_iter()
                .map(|r| EnsembleRowShape {
                    name: r.name,
                    source: r.tier,
                    relative_path: r.relative_path,
                    agent_count: r.agent_count,
                    description: r.description,
                    valid: r.valid,
                })
                .collect(),
        }
    }
}

/// `validate_ensemble`.
#[derive(Serialize)]
pub struct ValidationShape {
    valid: bool,
    details: ValidationDetails,
}

#[derive(Serialize)]
struct ValidationDetails {
    errors: Vec<String>,
    warnings: Vec<String>,
    agent_count: usize,
    pattern: Option<&'static str>,
    path: PathBuf,
}

impl From<EnsembleCheck> for ValidationShape {
    fn from(c: EnsembleCheck) -> ValidationShape {
        ValidationShape {
            valid: c.valid,
            details: ValidationDetails {
                errors: c.errors,
                warnings: c.warnings,
                agent_count: c.agent_count,
                pattern: c.pattern,
                path: c.path,
            },
        }
    }
}

/// `create_ensemble`.
#[derive(Serialize)]
pub struct EnsembleCreatedShape {
    created: bool,
    path: PathBuf,
    agents_copied: usize,
    valid: bool,
    errors: Vec<String>,
}

impl From<EnsembleCreated> for EnsembleCreatedShape {
    fn from(c: EnsembleCreated) -> EnsembleCreatedShape {
        EnsembleCreatedShape {
            created: true,
            path: c.path,
            agents_copied: c.agents_copied,
            valid: c.valid,
            errors: c.errors,
        }
    }
}

/// `update_ensemble`: the preview of a dry run, or what was applied (the changes as asked).
#[derive(Serialize)]
#[serde(untagged)]
pub enum EnsembleUpdateShape {
    Preview {
        preview: Value,
        modified: bool,
        backup_created: bool,
        path: PathBuf,
    },
    Applied {
        modified: bool,
        backup_created: bool,
        changes_applied: Value,
        path: PathBuf,
        valid: bool,
        errors: Vec<String>,
    },
}

impl EnsembleUpdateShape {
    pub fn new(update: EnsembleUpdate, changes: Value) -> EnsembleUpdateShape {
        match update {
            EnsembleUpdate::Preview { document, path } => EnsembleUpdateShape::Preview {
                preview: document,
                modified: false,
                backup_created: false,
                path,
            },
            EnsembleUpdate::Applied {
                backup_created,
                path,
                valid,
                errors,
            } => EnsembleUpdateShape::Applied {
                modified: true,
                backup_created,
                changes_applied: changes,
                path,
                valid,
                errors,
            },
        }
    }
}

/// `delete_ensemble`.
#[derive(Serialize)]
pub struct PathDeletedShape {
    pub deleted: bool,
    pub path: PathBuf,
}

// ---------------------------------------------------------------------- profiles

/// `list_profiles`.
#[derive(Serialize)]
pub struct ProfilesShape {
    profiles: Vec<ProfileShape>,
}

#[derive(Serialize)]
struct ProfileShape {
    name: String,
    provider: Option<String>,
    model: Option<String>,
    path: PathBuf,
    tier: Tier,
    runnable: bool,
    description: Option<String>,
}

impl From<Vec<ProfileSummary>> for ProfilesShape {
    fn from(rows: Vec<ProfileSummary>) -> ProfilesShape {
        ProfilesShape {
            profiles: rows
                .into_iter()
                .map(|p| ProfileShape {
                    name: p.name,
                    provider: p.provider,
                    model: p.model,
                    path: p.path,
                    tier: p.tier,
                    runnable: p.runnable,
                    description: p.description,
                })
                .collect(),
        }
    }
}

/// `create_profile`.
#[derive(Serialize)]
pub struct ProfileCreatedShape {
    pub created: bool,
    pub path: PathBuf,
}

/// `update_profile`.
#[derive(Serialize)]
pub struct ProfileUpdatedShape {
    pub updated: bool,
    pub path: PathBuf,
}

/// `delete_profile`.
#[derive(Serialize)]
pub struct ProfileDeletedShape {
    pub deleted: bool,
    pub name: String,
    pub path: PathBuf,
}

// ---------------------------------------------------------------------- scripts

/// `list_scripts`.
#[derive(Serialize)]
pub struct ScriptsShape {
    scripts: Vec<ScriptRowShape>,
}

#[derive(Serialize)]
struct ScriptRowShape {
    name: Option<String>,
    category: String,
    path: PathBuf,
}

impl From<Vec<ScriptSummary>> for ScriptsShape {
    fn from(rows: Vec<ScriptSummary>) -> ScriptsShape {
        ScriptsShape {
            scripts: rows
                .into_iter()
                .map(|s| ScriptRowShape {
                    name: s.name,
                    category: s.category,
                    path: s.path,
                })
                .collect(),
        }
    }
}

/// `create_script`.
#[derive(Serialize)]
pub struct ScriptCreatedShape {
    created: bool,
    path: PathBuf,
    template: String,
}

impl From<ScriptCreated> for ScriptCreatedShape {
    fn from(c: ScriptCreated) -> ScriptCreatedShape {
        ScriptCreatedShape {
            created: true,
            path: c.path,
            template: c.template,
        }
    }
}

/// `get_script`.
#[derive(Serialize)]
pub struct ScriptSourceShape {
    name: String,
    category: String,
    path: PathBuf,
    description: String,
    source: String,
}

impl From<ScriptSource> for ScriptSourceShape {
    fn from(s: ScriptSource) -> ScriptSourceShape {
        ScriptSourceShape {
            name: s.name,
            category: s.category,
            path: s.path,
            description: s.description,
            source: s.source,
        }
    }
}

/// `test_script`.
#[derive(Serialize)]
pub struct ScriptRunShape {
    success: bool,
    stdout: String,
    stderr: String,
    return_code: Option<i32>,
    output: Value,
    duration_ms: u64,
}

impl From<ScriptRun> for ScriptRunShape {
    fn from(r: ScriptRun) -> ScriptRunShape {
        ScriptRunShape {
            success: r.success,
            stdout: r.stdout,
            stderr: r.stderr,
            return_code: r.return_code,
            output: r.output,
            duration_ms: r.duration_ms,
        }
    }
}

/// `delete_script`.
#[derive(Serialize)]
pub struct ScriptDeletedShape {
    pub deleted: bool,
    pub name: String,
    pub category: String,
}

// ---------------------------------------------------------------------- library

#[derive(Serialize)]
struct LibraryEnsembleShape {
    name: String,
    description: String,
    path: String,
    category: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    matched: Option<Matched>,
}

#[derive(Serialize)]
struct LibraryScriptShape {
    name: Option<String>,
    category: String,
    path: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    matched: Option<Matched>,
}

fn library_ensemble(e: LibraryEnsemble, matched: Option<Matched>) -> LibraryEnsembleShape {
    LibraryEnsembleShape {
        name: e.name,
        description: e.description,
        path: e.path,
        category: e.category,
        matched,
    }
}

fn library_script(s: LibraryScript, matched: Option<Matched>) -> LibraryScriptShape {
    LibraryScriptShape {
        name: s.name,
        category: s.category,
        path: s.path,
        matched,
    }
}

/// `library_browse` (and `orc library browse --format json`).
#[derive(Serialize)]
pub struct LibraryBrowseShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    ensembles: Option<Vec<LibraryEnsembleShape>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scripts: Option<Vec<LibraryScriptShape>>,
}

impl From<LibraryListing> for LibraryBrowseShape {
    fn from(l: LibraryListing) -> LibraryBrowseShape {
        LibraryBrowseShape {
            ensembles: l
                .ensembles
                .map(|v| v.into_iter().map(|e| library_ensemble(e, None)).collect()),
            scripts: l
                .scripts
                .map(|v| v.into_iter().map(|s| library_script(s, None)).collect()),
        }
    }
}

/// `library_search` (and `orc library search --format json`).
#[derive(Serialize)]
pub struct LibrarySearchShape {
    query: String,
    results: LibraryResults,
    total: usize,
}

#[derive(Serialize)]
struct LibraryResults {
    ensembles: Vec<LibraryEnsembleShape>,
    scripts: Vec<LibraryScriptShape>,
}

impl From<LibrarySearch> for LibrarySearchShape {
    fn from(s: LibrarySearch) -> LibrarySearchShape {
        let total = s.total();
        let hit_e = |h: LibraryHit<LibraryEnsemble>| library_ensemble(h.item, Some(h.matched));
        let hit_s = |h: LibraryHit<LibraryScript>| library_script(h.item, Some(h.matched));
        LibrarySearchShape {
            query: s.query,
            results: LibraryResults {
                ensembles: s.ensembles.into_iter().map(hit_e).collect(),
                scripts: s.scripts.into_iter().map(hit_s).collect(),
            },
            total,
        }
    }
}

/// `library_info` (and `orc library info --format json`).
#[derive(Serialize)]
pub struct LibraryInfoShape {
    path: PathBuf,
    exists: bool,
    ensembles_count: usize,
    scripts_count: usize,
    categories: Vec<String>,
}

impl From<LibraryInfo> for LibraryInfoShape {
    fn from(i: LibraryInfo) -> LibraryInfoShape {
        LibraryInfoShape {
            path: i.path,
            exists: i.exists,
            ensembles_count: i.ensembles_count,
            scripts_count: i.scripts_count,
            categories: i.categories,
        }
    }
}

/// `library_copy`.
#[derive(Serialize)]
pub struct LibraryCopyShape {
    copied: bool,
    source: PathBuf,
    destination: PathBuf,
}

impl From<LibraryCopy> for LibraryCopyShape {
    fn from(c: LibraryCopy) -> LibraryCopyShape {
        LibraryCopyShape {
            copied: true,
            source: c.source,
            destination: c.destination,
        }
    }
}

/// `check_ensemble_runnable` (and each entry of `orc validate --runnable --format json`'s
/// `models`; `error` only when the ensemble could not be checked).
#[derive(Serialize)]
pub struct RunnableShape {
    ensemble: String,
    runnable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    agents: Vec<AgentModelShape>,
}

#[derive(Serialize)]
struct AgentModelShape {
    name: String,
    profile: Option<String>,
    provider: String,
    model: String,
    host: Option<String>,
    status: String,
    alternatives: Vec<String>,
    hint: Option<String>,
}

impl From<RunnableCheck> for RunnableShape {
    fn from(c: RunnableCheck) -> Self {
        RunnableShape {
            ensemble: c.ensemble,
            runnable: c.runnable,
            error: None,
            agents: c
                .agents
                .into_iter()
                .map(|a| AgentModelShape {
                    hint: matches!(a.status, ModelStatus::Missing { .. })
                        .then(|| format!("ollama pull {}", a.model)),
                    status: a.status.to_string(),
                    name: a.name,
                    profile: a.profile,
                    provider: a.provider,
                    model: a.model,
                    host: a.host,
                    alternatives: a.alternatives,
                })
                .collect(),
        }
    }
}

impl RunnableShape {
    /// An ensemble that could not be checked (it does not compile).
    pub fn failed(ensemble: String, error: String) -> Self {
        RunnableShape {
            ensemble,
            runnable: false,
            error: Some(error),
            agents: Vec::new(),
        }
    }
}

/// `get_provider_status`: the first Ollama host's answer at the top (llm-orc's shape), every
/// host under `hosts`, the pool when there is one.
#[derive(Serialize)]
pub struct ProviderStatusShape {
    providers: ProvidersShape,
}

#[derive(Serialize)]
struct ProvidersShape {
    ollama: OllamaShape,
    #[serde(rename = "openai-compatible")]
    openai_compatible: EndpointsShape,
    #[serde(rename = "anthropic-api")]
    anthropic_api: CloudShape,
    #[serde(rename = "google-gemini")]
    google_gemini: CloudShape,
}

#[derive(Serialize)]
struct OllamaShape {
    available: Option<bool>,
    host: Option<String>,
    models: Option<Vec<String>>,
    model_count: Option<usize>,
    reason: Option<String>,
    hosts: Vec<OllamaHostShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<Vec<HostStatus>>,
}

#[derive(Serialize, Clone)]
struct OllamaHostShape {
    host: String,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<String>,
}

#[derive(Serialize)]
struct EndpointsShape {
    available: bool,
    endpoints: Vec<BaseUrl>,
}

#[derive(Serialize)]
struct BaseUrl {
    base_url: String,
}

#[derive(Serialize, Clone, Copy)]
struct CloudShape {
    available: bool,
    reason: &'static str,
}

impl From<ProviderStatus> for ProviderStatusShape {
    fn from(s: ProviderStatus) -> Self {
        let hosts: Vec<OllamaHostShape> = s
            .ollama
            .into_iter()
            .map(|h| match h.models {
                Ok(list) => OllamaHostShape {
                    host: h.host,
                    available: true,
                    model_count: Some(list.models.len()),
                    models: Some(list.models),
                    reason: None,
                    profiles: h.profiles,
                    truncated: list.truncated,
                },
                Err(reason) => OllamaHostShape {
                    host: h.host,
                    available: false,
                    models: None,
                    model_count: None,
                    reason: Some(reason),
                    profiles: h.profiles,
                    truncated: None,
                },
            })
            .collect();
        let first = hosts.first().cloned();
        let cloud = CloudShape {
            available: false,
            reason: "cloud providers are not runnable by orc",
        };
        ProviderStatusShape {
            providers: ProvidersShape {
                ollama: OllamaShape {
                    available: first.as_ref().map(|f| f.available),
                    host: first.as_ref().map(|f| f.host.clone()),
                    models: first.as_ref().and_then(|f| f.models.clone()),
                    model_count: first.as_ref().and_then(|f| f.model_count),
                    reason: first.as_ref().and_then(|f| f.reason.clone()),
                    truncated: first.and_then(|f| f.truncated),
                    hosts,
                    pool: s.pool,
                },
                openai_compatible: EndpointsShape {
                    available: !s.endpoints.is_empty(),
                    endpoints: s
                        .endpoints
                        .into_iter()
                        .map(|base_url| BaseUrl { base_url })
                        .collect(),
                },
                anthropic_api: cloud,
                google_gemini: cloud,
            },
        }
    }
}

/// A typed result as a tool's structured answer.
pub fn to_value(shape: &impl Serialize) -> Result<Value, String> {
    serde_json::to_value(shape).map_err(|e| format!("cannot encode the answer: {e}"))
}
