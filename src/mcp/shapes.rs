//! llm-orc's JSON shapes of the typed service results: serde structs whose field names (and
//! order) are the keys MCP clients read. The tools map a service result into one of these and
//! serialise it; nothing here decides anything.

use serde::Serialize;
use serde_json::Value;

use crate::run::results::TimelineRow;
use crate::service::artifacts::Analysis;

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

/// A typed result as a tool's structured answer.
pub fn to_value(shape: &impl Serialize) -> Result<Value, String> {
    serde_json::to_value(shape).map_err(|e| format!("cannot encode the answer: {e}"))
}
